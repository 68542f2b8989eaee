//! Link layer, IPv4/IPv6 and TCP header decoding of one captured frame (via `etherparse`).

use std::net::{IpAddr, SocketAddr};

use etherparse::{EtherType, NetSlice, SlicedPacket, TransportSlice};

/// LINKTYPE_* values (tcpdump.org link-layer header types) this module decodes.
mod link {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    pub const RAW_OLD_12: u32 = 12;
    pub const RAW_OLD_14: u32 = 14;
    pub const RAW: u32 = 101;
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const LINUX_SLL2: u32 = 276;
}

/// One TCP segment's header fields and payload (RFC 9293 section 3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TcpSegment<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
    pub payload: &'a [u8],
}

/// What a frame turned out to be.
#[derive(Debug)]
pub(crate) enum Decoded<'a> {
    Tcp(TcpSegment<'a>),
    /// Valid, but not TCP over IP (ARP, UDP, ICMP, ...).
    Other,
}

/// Why a frame could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Undecodable {
    LinkType(u32),
    Malformed,
    Fragment,
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
    let b = d.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
}

/// Address family of a BSD loopback header (LINKTYPE_NULL / LINKTYPE_LOOP).
fn null_family(d: &[u8], big_endian_only: bool) -> Option<EtherType> {
    let b: [u8; 4] = d.get(..4)?.try_into().ok()?;
    let candidates = if big_endian_only {
        vec![u32::from_be_bytes(b)]
    } else {
        // LINKTYPE_NULL is in the capturing host's byte order: try both.
        vec![u32::from_le_bytes(b), u32::from_be_bytes(b)]
    };
    candidates.into_iter().find_map(|af| match af {
        2 => Some(EtherType::IPV4),
        10 | 24 | 28 | 30 => Some(EtherType::IPV6),
        _ => None,
    })
}

fn slice(link_type: u32, d: &[u8]) -> Result<Option<SlicedPacket<'_>>, Undecodable> {
    let r = match link_type {
        link::ETHERNET => SlicedPacket::from_ethernet(d),
        link::RAW | link::RAW_OLD_12 | link::RAW_OLD_14 | link::IPV4 | link::IPV6 => {
            SlicedPacket::from_ip(d)
        }
        link::NULL | link::LOOP => {
            let Some(et) = null_family(d, link_type == link::LOOP) else {
                return Ok(None);
            };
            SlicedPacket::from_ether_type(et, d.get(4..).ok_or(Undecodable::Malformed)?)
        }
        link::LINUX_SLL => {
            // 16-byte header, protocol type at offset 14.
            let proto = be16(d, 14).ok_or(Undecodable::Malformed)?;
            SlicedPacket::from_ether_type(
                EtherType(proto),
                d.get(16..).ok_or(Undecodable::Malformed)?,
            )
        }
        link::LINUX_SLL2 => {
            // 20-byte header, protocol type at offset 0.
            let proto = be16(d, 0).ok_or(Undecodable::Malformed)?;
            SlicedPacket::from_ether_type(
                EtherType(proto),
                d.get(20..).ok_or(Undecodable::Malformed)?,
            )
        }
        other => return Err(Undecodable::LinkType(other)),
    };
    r.map(Some).map_err(|_| Undecodable::Malformed)
}

/// Decodes one frame down to its TCP segment, if it carries one.
pub(crate) fn decode(link_type: u32, data: &[u8]) -> Result<Decoded<'_>, Undecodable> {
    let Some(p) = slice(link_type, data)? else {
        return Ok(Decoded::Other);
    };
    let (src_ip, dst_ip): (IpAddr, IpAddr) = match &p.net {
        Some(NetSlice::Ipv4(v4)) => {
            if v4.is_payload_fragmented() {
                return Err(Undecodable::Fragment);
            }
            (
                v4.header().source_addr().into(),
                v4.header().destination_addr().into(),
            )
        }
        Some(NetSlice::Ipv6(v6)) => {
            if v6.is_payload_fragmented() {
                return Err(Undecodable::Fragment);
            }
            (
                v6.header().source_addr().into(),
                v6.header().destination_addr().into(),
            )
        }
        _ => return Ok(Decoded::Other),
    };
    let Some(TransportSlice::Tcp(tcp)) = &p.transport else {
        return Ok(Decoded::Other);
    };
    Ok(Decoded::Tcp(TcpSegment {
        src: SocketAddr::new(src_ip, tcp.source_port()),
        dst: SocketAddr::new(dst_ip, tcp.destination_port()),
        seq: tcp.sequence_number(),
        syn: tcp.syn(),
        ack: tcp.ack(),
        fin: tcp.fin(),
        rst: tcp.rst(),
        payload: tcp.payload(),
    }))
}
