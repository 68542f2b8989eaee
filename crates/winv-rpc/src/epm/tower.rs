//! Protocol towers: how the endpoint mapper describes an endpoint.
//!
//! A tower is the octet string inside `twr_t` ([C706] appendix L, [MS-RPCE]
//! 2.2.1.2.1 for the `ept_*` methods): a little-endian floor count, then floors,
//! each a length-prefixed left-hand side (a protocol identifier and its data) and
//! a length-prefixed right-hand side (address data). Ports and IPv4 addresses on
//! the right-hand side are big-endian.

use std::net::Ipv4Addr;

use uuid::Uuid;

/// Errors decoding a tower.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TowerError {
    /// The octet string ended inside a floor.
    #[error("tower truncated")]
    Truncated,
    /// More floors than a tower can sensibly hold.
    #[error("tower has too many floors: {0}")]
    TooManyFloors(u16),
}

/// Protocol identifiers of floor left-hand sides ([C706] appendix I).
pub mod protocol {
    /// `0x0d`: an RPC interface or transfer-syntax UUID follows.
    pub const UUID: u8 = 0x0d;
    /// `0x0b`: connection-oriented RPC (ncacn).
    pub const NCACN: u8 = 0x0b;
    /// `0x0a`: connectionless RPC (ncadg).
    pub const NCADG: u8 = 0x0a;
    /// `0x0c`: local RPC (ncalrpc).
    pub const NCALRPC: u8 = 0x0c;
    /// `0x07`: TCP port.
    pub const TCP: u8 = 0x07;
    /// `0x08`: UDP port.
    pub const UDP: u8 = 0x08;
    /// `0x09`: IPv4 address.
    pub const IP: u8 = 0x09;
    /// `0x0f`: SMB named pipe.
    pub const NAMED_PIPE: u8 = 0x0f;
    /// `0x10`: local named pipe / LRPC port name.
    pub const PIPE: u8 = 0x10;
    /// `0x11`: NetBIOS host name.
    pub const NETBIOS: u8 = 0x11;
    /// `0x1f`: HTTP port (ncacn_http).
    pub const HTTP: u8 = 0x1f;
}

/// One floor of a tower.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Floor {
    /// Left-hand side: protocol identifier byte then its data.
    pub lhs: Vec<u8>,
    /// Right-hand side: address data.
    pub rhs: Vec<u8>,
}

/// What a tower says, in the shapes the endpoint mapper uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tower {
    /// The floors in order.
    pub floors: Vec<Floor>,
}

/// Upper bound on floors; real towers have five.
const MAX_FLOORS: u16 = 32;

impl Tower {
    /// The five-floor tower for `ncacn_ip_tcp`: interface, transfer syntax,
    /// connection-oriented RPC, TCP port, IPv4 address.
    pub fn tcp(
        interface: Uuid,
        if_version: (u16, u16),
        transfer: Uuid,
        transfer_version: u16,
        port: u16,
        ip: Ipv4Addr,
    ) -> Self {
        let uuid_floor = |u: Uuid, major: u16, minor: u16| {
            let mut lhs = vec![protocol::UUID];
            lhs.extend_from_slice(&u.to_bytes_le());
            lhs.extend_from_slice(&major.to_le_bytes());
            Floor {
                lhs,
                rhs: minor.to_le_bytes().to_vec(),
            }
        };
        Tower {
            floors: vec![
                uuid_floor(interface, if_version.0, if_version.1),
                uuid_floor(transfer, transfer_version, 0),
                Floor {
                    lhs: vec![protocol::NCACN],
                    rhs: 0u16.to_le_bytes().to_vec(),
                },
                Floor {
                    lhs: vec![protocol::TCP],
                    rhs: port.to_be_bytes().to_vec(),
                },
                Floor {
                    lhs: vec![protocol::IP],
                    rhs: ip.octets().to_vec(),
                },
            ],
        }
    }

    /// Encodes the octet string (without the `twr_t` length).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // INVARIANT: floors and their sides are built by us and short; the
        // conversions below cannot truncate for towers this module creates.
        out.extend_from_slice(&(self.floors.len() as u16).to_le_bytes());
        for f in &self.floors {
            out.extend_from_slice(&(f.lhs.len() as u16).to_le_bytes());
            out.extend_from_slice(&f.lhs);
            out.extend_from_slice(&(f.rhs.len() as u16).to_le_bytes());
            out.extend_from_slice(&f.rhs);
        }
        out
    }

    /// Decodes a tower octet string.
    pub fn decode(data: &[u8]) -> Result<Self, TowerError> {
        let mut r = data;
        let count = take_u16(&mut r)?;
        if count > MAX_FLOORS {
            return Err(TowerError::TooManyFloors(count));
        }
        let mut floors = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let l = usize::from(take_u16(&mut r)?);
            let lhs = take(&mut r, l)?.to_vec();
            let l = usize::from(take_u16(&mut r)?);
            let rhs = take(&mut r, l)?.to_vec();
            floors.push(Floor { lhs, rhs });
        }
        Ok(Tower { floors })
    }

    /// The interface UUID and version of floor 1, if it is a UUID floor.
    pub fn interface(&self) -> Option<(Uuid, u16, u16)> {
        let f = self.floors.first()?;
        uuid_floor(f)
    }

    /// The TCP port, if the tower has a TCP floor.
    pub fn tcp_port(&self) -> Option<u16> {
        self.rhs_of(protocol::TCP)
            .and_then(|r| <[u8; 2]>::try_from(r).ok())
            .map(u16::from_be_bytes)
    }

    /// The IPv4 address, if the tower has an IP floor.
    pub fn ipv4(&self) -> Option<Ipv4Addr> {
        self.rhs_of(protocol::IP)
            .and_then(|r| <[u8; 4]>::try_from(r).ok())
            .map(Ipv4Addr::from)
    }

    /// A string binding in the usual notation, e.g.
    /// `ncacn_ip_tcp:10.0.0.1[49667]` or `ncacn_np:\\HOST[\pipe\lsass]`.
    pub fn string_binding(&self) -> String {
        let text = |p: u8| {
            self.rhs_of(p)
                .map(|r| String::from_utf8_lossy(r.strip_suffix(&[0]).unwrap_or(r)).into_owned())
        };
        let host = self
            .ipv4()
            .map(|a| a.to_string())
            .or_else(|| text(protocol::NETBIOS));
        let host = host.unwrap_or_default();
        if let Some(port) = self.tcp_port() {
            format!("ncacn_ip_tcp:{host}[{port}]")
        } else if let Some(r) = self.rhs_of(protocol::HTTP) {
            let port = <[u8; 2]>::try_from(r).map(u16::from_be_bytes).unwrap_or(0);
            format!("ncacn_http:{host}[{port}]")
        } else if let Some(pipe) = text(protocol::NAMED_PIPE) {
            format!("ncacn_np:{host}[{pipe}]")
        } else if let Some(port) = text(protocol::PIPE) {
            format!("ncalrpc:[{port}]")
        } else {
            "unknown".to_string()
        }
    }

    fn rhs_of(&self, proto: u8) -> Option<&[u8]> {
        self.floors
            .iter()
            .find(|f| f.lhs.first() == Some(&proto))
            .map(|f| f.rhs.as_slice())
    }
}

fn uuid_floor(f: &Floor) -> Option<(Uuid, u16, u16)> {
    let (&p, rest) = f.lhs.split_first()?;
    if p != protocol::UUID || rest.len() != 18 {
        return None;
    }
    let u = Uuid::from_bytes_le(<[u8; 16]>::try_from(&rest[..16]).ok()?);
    let major = u16::from_le_bytes([rest[16], rest[17]]);
    let minor = <[u8; 2]>::try_from(f.rhs.as_slice())
        .map(u16::from_le_bytes)
        .unwrap_or(0);
    Some((u, major, minor))
}

fn take<'a>(r: &mut &'a [u8], n: usize) -> Result<&'a [u8], TowerError> {
    if r.len() < n {
        return Err(TowerError::Truncated);
    }
    let (a, b) = r.split_at(n);
    *r = b;
    Ok(a)
}

fn take_u16(r: &mut &[u8]) -> Result<u16, TowerError> {
    let b = take(r, 2)?;
    Ok(u16::from_le_bytes([b[0], b[1]]))
}
