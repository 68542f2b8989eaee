//! DCE/RPC client sessions over TCP, with a deadline on every network wait, and
//! the endpoint-mapper client.

pub mod transport;
pub mod epm;
