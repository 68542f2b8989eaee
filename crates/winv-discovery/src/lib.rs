//! Discovery of inventory targets (I/O tier): target specifications from the
//! command line, files and standard input ([`targets`], pure); DNS resolution
//! with MAP's retry rule ([`resolve`]); Active Directory computers over LDAP
//! with TLS ([`ad`]); and the target-file and JSON output ([`output`]).

pub mod ad;
pub mod output;
pub mod resolve;
pub mod targets;
