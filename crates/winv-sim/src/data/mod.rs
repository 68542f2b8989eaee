//! The data a simulated host serves: class definitions ([`classes`]), OS profiles
//! ([`profile`]) and the per-host instances and registry ([`host`]).

pub mod classes;
pub mod host;
pub mod perf;
pub mod profile;
pub mod scenario;
