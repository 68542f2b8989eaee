//! The endpoint mapper: towers and the `ept_lookup` / `ept_map` stubs (no I/O),
//! and the client that calls them over an [`crate::RpcConnection`].

pub mod tower;
pub mod wire;
