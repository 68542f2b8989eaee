//! The endpoint-mapper client: `ept_lookup` and `ept_map` over an
//! [`RpcConnection`] bound to the endpoint mapper on TCP/135.

use std::net::{Ipv4Addr, SocketAddr};

use winv_dcerpc::interfaces::{self, NDR};
use winv_dcerpc::SyntaxId;
use winv_ndr::ContextHandle;

use super::tower::Tower;
use super::wire::{self, EptEntry, EPT_S_NOT_REGISTERED, OPNUM_EPT_LOOKUP, OPNUM_EPT_MAP};
use crate::{RpcConnection, RpcError};

/// Errors of the endpoint-mapper client.
#[derive(Debug, thiserror::Error)]
pub enum EpmError {
    /// The RPC layer failed.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The request could not be encoded.
    #[error("endpoint mapper request: {0}")]
    Encode(#[from] winv_ndr::NdrError),
    /// The reply could not be decoded.
    #[error(transparent)]
    Decode(#[from] wire::EpmWireError),
    /// The endpoint mapper answered with an error status.
    #[error("endpoint mapper status 0x{status:08x} ({})", epm_status_name(*.status))]
    Status {
        /// The `error_status_t`.
        status: u32,
    },
    /// The interface is not registered over TCP.
    #[error("interface {0} is not registered with the endpoint mapper")]
    NotRegistered(uuid::Uuid),
    /// More entries than the safety cap; the mapper is looping or hostile.
    #[error("endpoint mapper returned more than {0} entries")]
    TooManyEntries(usize),
}

/// Name of an endpoint-mapper status code.
pub fn epm_status_name(status: u32) -> &'static str {
    match status {
        0 => "RPC_S_OK",
        EPT_S_NOT_REGISTERED => "EPT_S_NOT_REGISTERED",
        wire::EPT_S_CANT_PERFORM_OP => "EPT_S_CANT_PERFORM_OP",
        0x16c9_a0d5 => "EPT_S_INVALID_ENTRY",
        _ => "unknown",
    }
}

/// Entries per `ept_lookup` call.
const BATCH: u32 = 64;
/// Upper bound on a whole listing.
const MAX_ENTRIES: usize = 10_000;

/// A client of the endpoint mapper.
#[derive(Debug)]
pub struct EpmClient {
    conn: RpcConnection,
}

impl EpmClient {
    /// The endpoint mapper interface, for binding.
    pub const INTERFACE: SyntaxId = interfaces::EPM;

    /// Wraps a connection bound to [`EpmClient::INTERFACE`].
    pub fn new(conn: RpcConnection) -> Self {
        EpmClient { conn }
    }

    /// The underlying connection.
    pub fn connection(&mut self) -> &mut RpcConnection {
        &mut self.conn
    }

    /// Lists every registered endpoint. The listing ends at a null handle
    /// (Windows) or at `EPT_S_NOT_REGISTERED` (Samba, and Windows at the end).
    pub async fn lookup_all(&mut self) -> Result<Vec<EptEntry>, EpmError> {
        let mut handle = ContextHandle::default();
        let mut all = Vec::new();
        loop {
            let stub = wire::encode_lookup(&handle, BATCH)?;
            let reply = wire::decode_lookup(&self.conn.call(OPNUM_EPT_LOOKUP, &stub).await?)?;
            all.extend(reply.entries);
            if all.len() > MAX_ENTRIES {
                return Err(EpmError::TooManyEntries(MAX_ENTRIES));
            }
            match reply.status {
                0 if !reply.handle.is_null() => handle = reply.handle,
                0 | EPT_S_NOT_REGISTERED => return Ok(all),
                status => return Err(EpmError::Status { status }),
            }
        }
    }

    /// Asks which TCP endpoints serve `interface` and returns their towers.
    pub async fn map_tcp(&mut self, interface: SyntaxId) -> Result<Vec<Tower>, EpmError> {
        let query = Tower::tcp(
            interface.uuid,
            (interface.major, interface.minor),
            NDR.uuid,
            NDR.major,
            0,
            Ipv4Addr::UNSPECIFIED,
        );
        let stub = wire::encode_map(&query, &ContextHandle::default(), 4)?;
        let reply = wire::decode_map(&self.conn.call(OPNUM_EPT_MAP, &stub).await?)?;
        match reply.status {
            0 => Ok(reply.towers),
            EPT_S_NOT_REGISTERED => Err(EpmError::NotRegistered(interface.uuid)),
            status => Err(EpmError::Status { status }),
        }
    }

    /// Maps `interface` to a TCP port and returns the address to connect to:
    /// the endpoint mapper's own address with the mapped port (the tower's
    /// address may be a wildcard or unreachable from here).
    pub async fn map_to_addr(&mut self, interface: SyntaxId) -> Result<SocketAddr, EpmError> {
        let towers = self.map_tcp(interface).await?;
        let port = towers
            .iter()
            .find_map(Tower::tcp_port)
            .ok_or(EpmError::NotRegistered(interface.uuid))?;
        Ok(SocketAddr::new(self.conn.peer().ip(), port))
    }
}
