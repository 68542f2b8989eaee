//! DCE/RPC client sessions over TCP, with a deadline on every network wait, and
//! the endpoint-mapper client.
//!
//! - [`transport`]: TCP connect with a deadline and classified failures.
//! - [`RpcConnection`]: a bound association; `call` / `call_on` return the
//!   response stub, verified and decrypted when the level signs or seals.
//! - [`epm`]: towers, the `ept_lookup` / `ept_map` stubs and [`epm::EpmClient`].

mod connection;
pub mod epm;
pub mod transport;

pub use connection::{Deadlines, RpcConnection, RpcError};
