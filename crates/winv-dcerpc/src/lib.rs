//! Connection-oriented DCE/RPC, with no I/O: PDUs ([C706] chapter 12,
//! [MS-RPCE] 2.2.2), the security trailer, fragmentation and reassembly, a
//! stream framer and a sans-I/O client association.
//!
//! Modules:
//! - [`pdu`], every connection-oriented PDU type, encode and total decode;
//! - [`secure`], auth padding, `sec_trailer`, protect / unprotect of whole PDUs;
//! - [`frag`], request/response fragmentation and reassembly;
//! - [`framer`], PDU boundaries in a byte stream;
//! - [`assoc`], [`ClientAssociation`];
//! - [`server`], [`ServerAssociation`], its mirror for the simulator;
//! - [`status`], fault / reject status names;
//! - [`interfaces`], well-known interface UUIDs and names (the project's one table).

pub mod assoc;
pub mod error;
pub mod frag;
pub mod framer;
pub mod interfaces;
pub mod pdu;
pub mod secure;
pub mod server;
pub mod status;

pub use assoc::{ClientAssociation, ClientConfig, Event};
pub use error::{Error, ErrorKind, Result};
pub use server::{ServerAssociation, ServerConfig, ServerPolicy};
pub use pdu::{Body, Header, PacketType, Pdu, SyntaxId};
pub use status::status_name;

/// Runs every decoder of this crate on arbitrary bytes, for the fuzz target
/// and the "never panics" property test. Results are discarded.
pub fn fuzz_decode(data: &[u8]) {
    let _ = pdu::Header::decode(data);
    if let Ok(p) = pdu::Pdu::decode(data) {
        // A decoded PDU re-encodes and decodes to itself.
        if let Ok(bytes) = p.encode() {
            let again = pdu::Pdu::decode(&bytes);
            debug_assert!(again.as_ref().is_ok_and(|q| *q == p), "re-decode differs");
        }
    }
    let _ = framer::next_pdu_len(data, framer::DEFAULT_MAX_PDU);
    let mut buf = framer::PduBuffer::new(framer::DEFAULT_MAX_PDU);
    buf.extend(data);
    while let Ok(Some(p)) = buf.next_pdu() {
        let _ = pdu::Pdu::decode(&p);
    }
    // A client association fed the bytes as one server PDU.
    if let Ok(mut assoc) = ClientAssociation::new(ClientConfig::default(), None) {
        let _ = assoc.bind(interfaces::EPM);
        let _ = assoc.receive(data);
    }
}
