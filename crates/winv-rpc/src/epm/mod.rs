//! The endpoint mapper: towers and the `ept_lookup` / `ept_map` stubs (no I/O),
//! and [`EpmClient`], which calls them over an [`crate::RpcConnection`].

mod client;
pub mod tower;
pub mod wire;

pub use client::{epm_status_name, EpmClient, EpmError};
