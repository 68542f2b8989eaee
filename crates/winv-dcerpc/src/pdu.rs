//! Connection-oriented PDUs: [C706] 12.6 and [MS-RPCE] 2.2.2.
//!
//! Everything is little-endian ("NDR little-endian, ASCII, IEEE float"), the
//! only data representation this crate emits; a big-endian peer is refused at
//! decode time with [`Error::BigEndian`].

use uuid::Uuid;
use winv_auth::AuthType;

use crate::error::{Error, Result};

/// `rpc_vers` of every connection-oriented PDU ([C706] 12.6.3.1).
pub const RPC_VERS: u8 = 5;
/// `rpc_vers_minor` we emit ([C706] 12.6.3.1).
pub const RPC_VERS_MINOR: u8 = 0;
/// Length of the common header ([C706] 12.6.3.1).
pub const HEADER_LEN: usize = 16;
/// Length of the security trailer `sec_trailer` ([MS-RPCE] 2.2.2.11).
pub const SEC_TRAILER_LEN: usize = 8;
/// The packed data representation we emit: little-endian integers, ASCII,
/// IEEE floats ([C706] 14.1, 12.6.3.1 `packed_drep`).
pub const DREP_LE: [u8; 4] = [0x10, 0, 0, 0];

/// `pfc_flags` bit: first fragment ([C706] 12.6.3.1).
pub const PFC_FIRST_FRAG: u8 = 0x01;
/// `pfc_flags` bit: last fragment.
pub const PFC_LAST_FRAG: u8 = 0x02;
/// `pfc_flags` bit: cancel pending (request/response).
pub const PFC_PENDING_CANCEL: u8 = 0x04;
/// `pfc_flags` bit in bind/alter_context: header signing supported ([MS-RPCE] 2.2.2.3).
pub const PFC_SUPPORT_HEADER_SIGN: u8 = 0x04;
/// `pfc_flags` bit: concurrent multiplexing.
pub const PFC_CONC_MPX: u8 = 0x10;
/// `pfc_flags` bit on faults: the call did not execute.
pub const PFC_DID_NOT_EXECUTE: u8 = 0x20;
/// `pfc_flags` bit: maybe semantics.
pub const PFC_MAYBE: u8 = 0x40;
/// `pfc_flags` bit on requests: an object UUID follows the opnum.
pub const PFC_OBJECT_UUID: u8 = 0x80;

/// PDU types, [C706] 12.6.4 and [MS-RPCE] 2.2.2.1 (the connectionless ones are
/// listed only to be named; this crate decodes connection-oriented PDUs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// `request` (0).
    Request = 0,
    /// `response` (2).
    Response = 2,
    /// `fault` (3).
    Fault = 3,
    /// `bind` (11).
    Bind = 11,
    /// `bind_ack` (12).
    BindAck = 12,
    /// `bind_nak` (13).
    BindNak = 13,
    /// `alter_context` (14).
    AlterContext = 14,
    /// `alter_context_resp` (15).
    AlterContextResp = 15,
    /// `rpc_auth_3` (16), [MS-RPCE] 2.2.2.10.
    Auth3 = 16,
    /// `shutdown` (17).
    Shutdown = 17,
    /// `co_cancel` (18).
    CoCancel = 18,
    /// `orphaned` (19).
    Orphaned = 19,
}

impl PacketType {
    /// From the wire value; connectionless and unknown types are refused.
    pub fn from_u8(v: u8) -> Result<Self> {
        Ok(match v {
            0 => Self::Request,
            2 => Self::Response,
            3 => Self::Fault,
            11 => Self::Bind,
            12 => Self::BindAck,
            13 => Self::BindNak,
            14 => Self::AlterContext,
            15 => Self::AlterContextResp,
            16 => Self::Auth3,
            17 => Self::Shutdown,
            18 => Self::CoCancel,
            19 => Self::Orphaned,
            v => return Err(Error::UnknownPacketType(v)),
        })
    }

    /// The name [C706] uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Response => "response",
            Self::Fault => "fault",
            Self::Bind => "bind",
            Self::BindAck => "bind_ack",
            Self::BindNak => "bind_nak",
            Self::AlterContext => "alter_context",
            Self::AlterContextResp => "alter_context_resp",
            Self::Auth3 => "auth3",
            Self::Shutdown => "shutdown",
            Self::CoCancel => "co_cancel",
            Self::Orphaned => "orphaned",
        }
    }
}

/// The common header of every connection-oriented PDU, [C706] 12.6.3.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// `PTYPE`.
    pub ptype: PacketType,
    /// `pfc_flags`.
    pub flags: u8,
    /// `packed_drep` as received (always little-endian integers here).
    pub drep: [u8; 4],
    /// `frag_length`: the whole PDU, header included.
    pub frag_length: u16,
    /// `auth_length`: length of `auth_value` only.
    pub auth_length: u16,
    /// `call_id`.
    pub call_id: u32,
}

impl Header {
    /// Decodes the 16-byte header at the start of `buf` without looking at the
    /// rest. Refuses a version other than 5.0 and big-endian integers.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        let mut r = Reader::new(buf);
        let major = r.u8("rpc_vers")?;
        let minor = r.u8("rpc_vers_minor")?;
        if major != RPC_VERS || minor != RPC_VERS_MINOR {
            return Err(Error::BadVersion { major, minor });
        }
        let ptype = r.u8("ptype")?;
        let flags = r.u8("pfc_flags")?;
        let drep: [u8; 4] = r.array("packed_drep")?;
        // [C706] 14.2.1: high nibble of drep[0] is the integer representation,
        // 0 = big-endian, 1 = little-endian.
        if drep[0] >> 4 != 1 {
            return Err(Error::BigEndian);
        }
        let ptype = PacketType::from_u8(ptype)?;
        let frag_length = r.u16("frag_length")?;
        let auth_length = r.u16("auth_length")?;
        let call_id = r.u32("call_id")?;
        Ok(Header {
            ptype,
            flags,
            drep,
            frag_length,
            auth_length,
            call_id,
        })
    }

    /// Encodes the header (16 bytes).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[RPC_VERS, RPC_VERS_MINOR, self.ptype as u8, self.flags]);
        out.extend_from_slice(&self.drep);
        out.extend_from_slice(&self.frag_length.to_le_bytes());
        out.extend_from_slice(&self.auth_length.to_le_bytes());
        out.extend_from_slice(&self.call_id.to_le_bytes());
    }
}

/// An interface or transfer syntax identifier `p_syntax_id_t`, [C706] 12.6.3.1:
/// a UUID and a version (major in the low 16 bits of `if_version`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SyntaxId {
    /// `if_uuid`.
    pub uuid: Uuid,
    /// Major version.
    pub major: u16,
    /// Minor version.
    pub minor: u16,
}

impl SyntaxId {
    /// Wire length.
    pub const LEN: usize = 20;

    /// A syntax id from its parts.
    pub const fn new(uuid: Uuid, major: u16, minor: u16) -> Self {
        SyntaxId { uuid, major, minor }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let uuid = r.uuid("syntax uuid")?;
        let major = r.u16("syntax major version")?;
        let minor = r.u16("syntax minor version")?;
        Ok(SyntaxId { uuid, major, minor })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.uuid.to_bytes_le());
        out.extend_from_slice(&self.major.to_le_bytes());
        out.extend_from_slice(&self.minor.to_le_bytes());
    }
}

/// One presentation context `p_cont_elem_t`, [C706] 12.6.3.1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextElement {
    /// `p_cont_id`.
    pub context_id: u16,
    /// `abstract_syntax`: the interface.
    pub abstract_syntax: SyntaxId,
    /// `transfer_syntaxes` (at most 255).
    pub transfer_syntaxes: Vec<SyntaxId>,
}

/// `p_cont_def_result_t` values, [C706] 12.6.3.1 plus `negotiate_ack` from
/// [MS-RPCE] 2.2.2.4.
pub mod result {
    /// `acceptance`.
    pub const ACCEPTANCE: u16 = 0;
    /// `user_rejection`.
    pub const USER_REJECTION: u16 = 1;
    /// `provider_rejection`.
    pub const PROVIDER_REJECTION: u16 = 2;
    /// `negotiate_ack` ([MS-RPCE] 3.3.1.5.3): `reason` carries the bind time
    /// feature bitmask the server supports.
    pub const NEGOTIATE_ACK: u16 = 3;

    /// The name of a result value.
    pub fn name(v: u16) -> Option<&'static str> {
        Some(match v {
            ACCEPTANCE => "acceptance",
            USER_REJECTION => "user_rejection",
            PROVIDER_REJECTION => "provider_rejection",
            NEGOTIATE_ACK => "negotiate_ack",
            _ => return None,
        })
    }

    /// The name of a `p_provider_reason_t` value.
    pub fn reason_name(v: u16) -> Option<&'static str> {
        Some(match v {
            0 => "reason_not_specified",
            1 => "abstract_syntax_not_supported",
            2 => "proposed_transfer_syntaxes_not_supported",
            3 => "local_limit_exceeded",
            _ => return None,
        })
    }
}

/// One result `p_result_t`, [C706] 12.6.3.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextResult {
    /// `result`, see [`result`].
    pub result: u16,
    /// `reason` (`p_provider_reason_t`, or the feature bitmask for `negotiate_ack`).
    pub reason: u16,
    /// `transfer_syntax` the server chose (all zero when not accepted).
    pub transfer_syntax: SyntaxId,
}

/// The bind time feature negotiation syntax, [MS-RPCE] 3.3.1.5.3 and
/// 2.2.2.14: UUID prefix `6cb71c2c-9812-4540`, then the 8-byte bitmask, version 1.0.
pub mod features {
    use super::SyntaxId;
    use uuid::Uuid;

    /// `SecurityContextMultiplexingSupported`.
    pub const SECURITY_CONTEXT_MULTIPLEXING: u8 = 0x01;
    /// `KeepConnectionOnOrphanSupported`.
    pub const KEEP_CONNECTION_ON_ORPHAN: u8 = 0x02;

    /// The transfer syntax that offers `bitmask` (first bitmask octet).
    pub fn syntax(bitmask: u8) -> SyntaxId {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&[0x2c, 0x1c, 0xb7, 0x6c, 0x12, 0x98, 0x40, 0x45]);
        b[8] = bitmask;
        SyntaxId::new(Uuid::from_bytes_le(b), 1, 0)
    }

    /// The offered bitmask when `s` is a feature negotiation syntax.
    pub fn offered(s: &SyntaxId) -> Option<u8> {
        let b = s.uuid.to_bytes_le();
        (b[..8] == [0x2c, 0x1c, 0xb7, 0x6c, 0x12, 0x98, 0x40, 0x45]).then_some(b[8])
    }
}

/// `rpcconn_request_hdr_t` body, [C706] 12.6.4.9.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// `alloc_hint`: the remaining stub length of the call, or 0.
    pub alloc_hint: u32,
    /// `p_cont_id`.
    pub context_id: u16,
    /// `opnum`.
    pub opnum: u16,
    /// The object UUID, present iff `PFC_OBJECT_UUID`.
    pub object: Option<Uuid>,
    /// Stub data (without auth padding).
    pub stub: Vec<u8>,
}

/// `rpcconn_response_hdr_t` body, [C706] 12.6.4.10.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// `alloc_hint`.
    pub alloc_hint: u32,
    /// `p_cont_id`.
    pub context_id: u16,
    /// `cancel_count`.
    pub cancel_count: u8,
    /// Stub data (without auth padding).
    pub stub: Vec<u8>,
}

/// `rpcconn_fault_hdr_t` body, [C706] 12.6.4.7 and [MS-RPCE] 2.2.2.9 (the
/// reserved octet carries `extended_error_present` 0x01).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// `alloc_hint`.
    pub alloc_hint: u32,
    /// `p_cont_id`.
    pub context_id: u16,
    /// `cancel_count`.
    pub cancel_count: u8,
    /// The reserved octet ([MS-RPCE] fault flags).
    pub flags: u8,
    /// `status`: see [`crate::status::status_name`].
    pub status: u32,
    /// Stub data after the 4 reserved octets (extended error info), if any.
    pub stub: Vec<u8>,
}

/// `rpcconn_bind_hdr_t` / `rpcconn_alter_context_hdr_t` body, [C706] 12.6.4.3 and 12.6.4.1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bind {
    /// `max_xmit_frag`.
    pub max_xmit_frag: u16,
    /// `max_recv_frag`.
    pub max_recv_frag: u16,
    /// `assoc_group_id`.
    pub assoc_group_id: u32,
    /// `p_context_elem` (at most 255).
    pub contexts: Vec<ContextElement>,
}

/// `rpcconn_bind_ack_hdr_t` / `rpcconn_alter_context_response_hdr_t` body,
/// [C706] 12.6.4.4 and 12.6.4.2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindAck {
    /// `max_xmit_frag`: the largest fragment the server sends.
    pub max_xmit_frag: u16,
    /// `max_recv_frag`: the largest fragment the server accepts.
    pub max_recv_frag: u16,
    /// `assoc_group_id`.
    pub assoc_group_id: u32,
    /// `sec_addr.port_spec` as sent, with its NUL terminator (empty in most
    /// alter_context_resp PDUs).
    pub sec_addr: Vec<u8>,
    /// `p_result_list` (at most 255).
    pub results: Vec<ContextResult>,
}

impl BindAck {
    /// The secondary address (port string) without its terminator, when it is
    /// valid ASCII/UTF-8.
    pub fn secondary_address(&self) -> Option<&str> {
        let s = self.sec_addr.strip_suffix(&[0]).unwrap_or(&self.sec_addr);
        std::str::from_utf8(s).ok()
    }
}

/// `rpcconn_bind_nak_hdr_t` body, [C706] 12.6.4.5 and [MS-RPCE] 2.2.2.5.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindNak {
    /// `provider_reject_reason`: see [`crate::status::reject_reason_name`].
    pub reason: u16,
    /// `versions`: protocol versions the server supports (major, minor).
    pub versions: Vec<(u8, u8)>,
}

/// The body of a PDU, by type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// request.
    Request(Request),
    /// response.
    Response(Response),
    /// fault.
    Fault(Fault),
    /// bind.
    Bind(Bind),
    /// bind_ack.
    BindAck(BindAck),
    /// bind_nak.
    BindNak(BindNak),
    /// alter_context (same layout as bind).
    AlterContext(Bind),
    /// alter_context_resp (same layout as bind_ack).
    AlterContextResp(BindAck),
    /// rpc_auth_3 ([MS-RPCE] 2.2.2.10): 4 pad octets then the auth verifier.
    Auth3,
    /// shutdown ([C706] 12.6.4.11).
    Shutdown,
    /// co_cancel ([C706] 12.6.4.6).
    CoCancel,
    /// orphaned ([C706] 12.6.4.8).
    Orphaned,
}

impl Body {
    /// The packet type of this body.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Body::Request(_) => PacketType::Request,
            Body::Response(_) => PacketType::Response,
            Body::Fault(_) => PacketType::Fault,
            Body::Bind(_) => PacketType::Bind,
            Body::BindAck(_) => PacketType::BindAck,
            Body::BindNak(_) => PacketType::BindNak,
            Body::AlterContext(_) => PacketType::AlterContext,
            Body::AlterContextResp(_) => PacketType::AlterContextResp,
            Body::Auth3 => PacketType::Auth3,
            Body::Shutdown => PacketType::Shutdown,
            Body::CoCancel => PacketType::CoCancel,
            Body::Orphaned => PacketType::Orphaned,
        }
    }
}

/// The security trailer `sec_trailer` plus `auth_value`, [MS-RPCE] 2.2.2.11
/// ([C706] 12.6.3.1 `auth_verifier_co_t`).
#[derive(Clone, PartialEq, Eq)]
pub struct AuthVerifier {
    /// `auth_type`.
    pub auth_type: AuthType,
    /// `auth_level` (raw, 0..=6 after decoding).
    pub auth_level: u8,
    /// `auth_pad_length`: padding octets between the body and the trailer.
    pub pad_length: u8,
    /// `auth_context_id`.
    pub context_id: u32,
    /// `auth_value`: a token or a signature.
    pub value: Vec<u8>,
}

impl std::fmt::Debug for AuthVerifier {
    // Tokens are not secrets, but keep Debug short and free of them anyway.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthVerifier")
            .field("auth_type", &self.auth_type)
            .field("auth_level", &self.auth_level)
            .field("pad_length", &self.pad_length)
            .field("context_id", &self.context_id)
            .field("value_len", &self.value.len())
            .finish()
    }
}

/// One connection-oriented PDU, [C706] 12.6.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pdu {
    /// `pfc_flags` (for requests `PFC_OBJECT_UUID` is derived from `object`).
    pub flags: u8,
    /// `call_id`.
    pub call_id: u32,
    /// The type-specific body.
    pub body: Body,
    /// The security trailer and `auth_value`, when `auth_length` is nonzero.
    pub auth: Option<AuthVerifier>,
}

/// Offset of the stub in a request/response/fault PDU (header + fixed body),
/// [C706] 12.6.4.
pub(crate) fn stub_offset(body: &Body) -> usize {
    match body {
        Body::Request(r) if r.object.is_some() => 40,
        Body::Request(_) | Body::Response(_) => 24,
        Body::Fault(_) => 32,
        _ => HEADER_LEN,
    }
}

impl Pdu {
    /// A PDU with `PFC_FIRST_FRAG | PFC_LAST_FRAG` and no security trailer.
    /// For a request with an object UUID, `PFC_OBJECT_UUID` is set too.
    pub fn new(call_id: u32, body: Body) -> Self {
        let object = matches!(&body, Body::Request(r) if r.object.is_some());
        Pdu {
            flags: PFC_FIRST_FRAG | PFC_LAST_FRAG | if object { PFC_OBJECT_UUID } else { 0 },
            call_id,
            body,
            auth: None,
        }
    }

    /// The packet type.
    pub fn packet_type(&self) -> PacketType {
        self.body.packet_type()
    }

    /// Encodes the PDU: header with final `frag_length` / `auth_length`, body,
    /// `pad_length` zero octets, trailer, `auth_value`.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut body = Vec::new();
        self.encode_body(&mut body)?;
        let mut flags = self.flags;
        if let Body::Request(r) = &self.body {
            flags &= !PFC_OBJECT_UUID;
            if r.object.is_some() {
                flags |= PFC_OBJECT_UUID;
            }
        }
        let (auth_len, trailer_len) = match &self.auth {
            Some(a) => (a.value.len(), SEC_TRAILER_LEN + usize::from(a.pad_length)),
            None => (0, 0),
        };
        let total = HEADER_LEN + body.len() + trailer_len + auth_len;
        let frag_length = u16::try_from(total).map_err(|_| Error::TooLarge {
            what: "pdu",
            len: total,
        })?;
        let auth_length = u16::try_from(auth_len).map_err(|_| Error::TooLarge {
            what: "auth_value",
            len: auth_len,
        })?;
        let mut out = Vec::with_capacity(total);
        Header {
            ptype: self.packet_type(),
            flags,
            drep: DREP_LE,
            frag_length,
            auth_length,
            call_id: self.call_id,
        }
        .encode(&mut out);
        out.extend_from_slice(&body);
        if let Some(a) = &self.auth {
            out.resize(out.len() + usize::from(a.pad_length), 0);
            encode_sec_trailer(a, &mut out);
            out.extend_from_slice(&a.value);
        }
        Ok(out)
    }

    fn encode_body(&self, out: &mut Vec<u8>) -> Result<()> {
        match &self.body {
            Body::Request(r) => {
                out.extend_from_slice(&r.alloc_hint.to_le_bytes());
                out.extend_from_slice(&r.context_id.to_le_bytes());
                out.extend_from_slice(&r.opnum.to_le_bytes());
                if let Some(o) = r.object {
                    out.extend_from_slice(&o.to_bytes_le());
                }
                out.extend_from_slice(&r.stub);
            }
            Body::Response(r) => {
                out.extend_from_slice(&r.alloc_hint.to_le_bytes());
                out.extend_from_slice(&r.context_id.to_le_bytes());
                out.extend_from_slice(&[r.cancel_count, 0]);
                out.extend_from_slice(&r.stub);
            }
            Body::Fault(f) => {
                out.extend_from_slice(&f.alloc_hint.to_le_bytes());
                out.extend_from_slice(&f.context_id.to_le_bytes());
                out.extend_from_slice(&[f.cancel_count, f.flags]);
                out.extend_from_slice(&f.status.to_le_bytes());
                out.extend_from_slice(&[0; 4]);
                out.extend_from_slice(&f.stub);
            }
            Body::Bind(b) | Body::AlterContext(b) => encode_bind(b, out)?,
            Body::BindAck(b) | Body::AlterContextResp(b) => encode_bind_ack(b, out)?,
            Body::BindNak(n) => {
                out.extend_from_slice(&n.reason.to_le_bytes());
                let n_versions = u8::try_from(n.versions.len()).map_err(|_| Error::TooLarge {
                    what: "bind_nak versions",
                    len: n.versions.len(),
                })?;
                out.push(n_versions);
                for (maj, min) in &n.versions {
                    out.extend_from_slice(&[*maj, *min]);
                }
            }
            Body::Auth3 => out.extend_from_slice(&[0; 4]),
            Body::Shutdown | Body::CoCancel | Body::Orphaned => {}
        }
        Ok(())
    }

    /// Decodes exactly one PDU: `buf.len()` must equal `frag_length`.
    ///
    /// Total: malformed input is an error, never a panic, and allocation is
    /// bounded by `buf.len()`.
    pub fn decode(buf: &[u8]) -> Result<Pdu> {
        let h = Header::decode(buf)?;
        let frag = usize::from(h.frag_length);
        if frag < HEADER_LEN || frag != buf.len() {
            return Err(Error::FragLength {
                frag_length: frag,
                available: buf.len(),
            });
        }
        let (region, auth) = split_auth(buf, &h)?;
        let mut r = Reader::new(region.get(HEADER_LEN..).ok_or(Error::Truncated("body"))?);
        let body = match h.ptype {
            PacketType::Request => {
                let alloc_hint = r.u32("alloc_hint")?;
                let context_id = r.u16("p_cont_id")?;
                let opnum = r.u16("opnum")?;
                let object = if h.flags & PFC_OBJECT_UUID != 0 {
                    Some(r.uuid("object")?)
                } else {
                    None
                };
                Body::Request(Request {
                    alloc_hint,
                    context_id,
                    opnum,
                    object,
                    stub: r.rest().to_vec(),
                })
            }
            PacketType::Response => {
                let alloc_hint = r.u32("alloc_hint")?;
                let context_id = r.u16("p_cont_id")?;
                let cancel_count = r.u8("cancel_count")?;
                r.u8("reserved")?;
                Body::Response(Response {
                    alloc_hint,
                    context_id,
                    cancel_count,
                    stub: r.rest().to_vec(),
                })
            }
            PacketType::Fault => {
                let alloc_hint = r.u32("alloc_hint")?;
                let context_id = r.u16("p_cont_id")?;
                let cancel_count = r.u8("cancel_count")?;
                let flags = r.u8("reserved")?;
                let status = r.u32("status")?;
                r.take(4, "reserved2")?;
                Body::Fault(Fault {
                    alloc_hint,
                    context_id,
                    cancel_count,
                    flags,
                    status,
                    stub: r.rest().to_vec(),
                })
            }
            PacketType::Bind => Body::Bind(decode_bind(&mut r)?),
            PacketType::AlterContext => Body::AlterContext(decode_bind(&mut r)?),
            PacketType::BindAck => Body::BindAck(decode_bind_ack(&mut r)?),
            PacketType::AlterContextResp => Body::AlterContextResp(decode_bind_ack(&mut r)?),
            PacketType::BindNak => {
                let reason = r.u16("provider_reject_reason")?;
                // Windows may send only the reason; versions are optional here.
                let mut versions = Vec::new();
                if let Ok(n) = r.u8("n_protocols") {
                    let n = usize::from(n);
                    versions.reserve(n.min(r.remaining() / 2));
                    for _ in 0..n {
                        let maj = r.u8("protocol major")?;
                        let min = r.u8("protocol minor")?;
                        versions.push((maj, min));
                    }
                }
                Body::BindNak(BindNak { reason, versions })
            }
            PacketType::Auth3 => Body::Auth3,
            PacketType::Shutdown => Body::Shutdown,
            PacketType::CoCancel => Body::CoCancel,
            PacketType::Orphaned => Body::Orphaned,
        };
        Ok(Pdu {
            flags: h.flags,
            call_id: h.call_id,
            body,
            auth,
        })
    }
}

/// Splits a whole PDU into (header + body without auth padding, verifier).
///
/// INVARIANT: `buf.len() == h.frag_length >= HEADER_LEN` (checked by callers).
pub(crate) fn split_auth<'a>(
    buf: &'a [u8],
    h: &Header,
) -> Result<(&'a [u8], Option<AuthVerifier>)> {
    if h.auth_length == 0 {
        return Ok((buf, None));
    }
    let auth_len = usize::from(h.auth_length);
    let trailer_start = buf
        .len()
        .checked_sub(auth_len + SEC_TRAILER_LEN)
        .filter(|s| *s >= HEADER_LEN)
        .ok_or(Error::AuthLength(h.auth_length))?;
    let trailer = buf
        .get(trailer_start..trailer_start + SEC_TRAILER_LEN)
        .ok_or(Error::AuthLength(h.auth_length))?;
    let v = decode_sec_trailer(
        trailer,
        buf.get(trailer_start + SEC_TRAILER_LEN..).unwrap_or(&[]),
    )?;
    let body_end = trailer_start
        .checked_sub(usize::from(v.pad_length))
        .filter(|e| *e >= HEADER_LEN)
        .ok_or(Error::AuthPad(v.pad_length))?;
    let region = buf.get(..body_end).ok_or(Error::AuthPad(v.pad_length))?;
    Ok((region, Some(v)))
}

/// Decodes an 8-byte `sec_trailer` and attaches `value`.
pub(crate) fn decode_sec_trailer(trailer: &[u8], value: &[u8]) -> Result<AuthVerifier> {
    let mut r = Reader::new(trailer);
    let auth_type = AuthType::from_u8(r.u8("auth_type")?);
    let auth_level = r.u8("auth_level")?;
    if winv_auth::AuthLevel::from_u8(auth_level).is_none() {
        return Err(Error::AuthLevel(auth_level));
    }
    let pad_length = r.u8("auth_pad_length")?;
    r.u8("auth_reserved")?;
    let context_id = r.u32("auth_context_id")?;
    Ok(AuthVerifier {
        auth_type,
        auth_level,
        pad_length,
        context_id,
        value: value.to_vec(),
    })
}

pub(crate) fn encode_sec_trailer(a: &AuthVerifier, out: &mut Vec<u8>) {
    out.extend_from_slice(&[a.auth_type.to_u8(), a.auth_level, a.pad_length, 0]);
    out.extend_from_slice(&a.context_id.to_le_bytes());
}

fn encode_bind(b: &Bind, out: &mut Vec<u8>) -> Result<()> {
    out.extend_from_slice(&b.max_xmit_frag.to_le_bytes());
    out.extend_from_slice(&b.max_recv_frag.to_le_bytes());
    out.extend_from_slice(&b.assoc_group_id.to_le_bytes());
    let n = u8::try_from(b.contexts.len()).map_err(|_| Error::TooLarge {
        what: "p_cont_list",
        len: b.contexts.len(),
    })?;
    out.extend_from_slice(&[n, 0, 0, 0]);
    for c in &b.contexts {
        let nt = u8::try_from(c.transfer_syntaxes.len()).map_err(|_| Error::TooLarge {
            what: "transfer_syntaxes",
            len: c.transfer_syntaxes.len(),
        })?;
        out.extend_from_slice(&c.context_id.to_le_bytes());
        out.extend_from_slice(&[nt, 0]);
        c.abstract_syntax.encode(out);
        for t in &c.transfer_syntaxes {
            t.encode(out);
        }
    }
    Ok(())
}

fn decode_bind(r: &mut Reader<'_>) -> Result<Bind> {
    let max_xmit_frag = r.u16("max_xmit_frag")?;
    let max_recv_frag = r.u16("max_recv_frag")?;
    let assoc_group_id = r.u32("assoc_group_id")?;
    let n = usize::from(r.u8("n_context_elem")?);
    r.take(3, "p_cont_list reserved")?;
    // Each element takes at least 24 bytes.
    let mut contexts = Vec::with_capacity(n.min(r.remaining() / 24));
    for _ in 0..n {
        let context_id = r.u16("p_cont_id")?;
        let nt = usize::from(r.u8("n_transfer_syn")?);
        r.u8("p_cont_elem reserved")?;
        let abstract_syntax = SyntaxId::decode(r)?;
        let mut transfer_syntaxes = Vec::with_capacity(nt.min(r.remaining() / SyntaxId::LEN));
        for _ in 0..nt {
            transfer_syntaxes.push(SyntaxId::decode(r)?);
        }
        contexts.push(ContextElement {
            context_id,
            abstract_syntax,
            transfer_syntaxes,
        });
    }
    Ok(Bind {
        max_xmit_frag,
        max_recv_frag,
        assoc_group_id,
        contexts,
    })
}

fn encode_bind_ack(b: &BindAck, out: &mut Vec<u8>) -> Result<()> {
    // INVARIANT: `out` holds the body only; the body starts at PDU offset 16,
    // which is 4-aligned, so aligning `out` aligns relative to the PDU.
    out.extend_from_slice(&b.max_xmit_frag.to_le_bytes());
    out.extend_from_slice(&b.max_recv_frag.to_le_bytes());
    out.extend_from_slice(&b.assoc_group_id.to_le_bytes());
    let len = u16::try_from(b.sec_addr.len()).map_err(|_| Error::TooLarge {
        what: "sec_addr",
        len: b.sec_addr.len(),
    })?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&b.sec_addr);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
    let n = u8::try_from(b.results.len()).map_err(|_| Error::TooLarge {
        what: "p_result_list",
        len: b.results.len(),
    })?;
    out.extend_from_slice(&[n, 0, 0, 0]);
    for res in &b.results {
        out.extend_from_slice(&res.result.to_le_bytes());
        out.extend_from_slice(&res.reason.to_le_bytes());
        res.transfer_syntax.encode(out);
    }
    Ok(())
}

fn decode_bind_ack(r: &mut Reader<'_>) -> Result<BindAck> {
    let max_xmit_frag = r.u16("max_xmit_frag")?;
    let max_recv_frag = r.u16("max_recv_frag")?;
    let assoc_group_id = r.u32("assoc_group_id")?;
    let len = usize::from(r.u16("sec_addr length")?);
    let sec_addr = r.take(len, "sec_addr port_spec")?.to_vec();
    // Align to 4 relative to the PDU start (the reader starts at offset 16).
    let pad = (4 - r.pos % 4) % 4;
    r.take(pad, "sec_addr padding")?;
    let n = usize::from(r.u8("n_results")?);
    r.take(3, "p_result_list reserved")?;
    let mut results = Vec::with_capacity(n.min(r.remaining() / 24));
    for _ in 0..n {
        let result = r.u16("result")?;
        let reason = r.u16("reason")?;
        let transfer_syntax = SyntaxId::decode(r)?;
        results.push(ContextResult {
            result,
            reason,
            transfer_syntax,
        });
    }
    Ok(BindAck {
        max_xmit_frag,
        max_recv_frag,
        assoc_group_id,
        sec_addr,
        results,
    })
}

/// A bounds-checked little-endian reader.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(Error::Truncated(what))?;
        let s = self.buf.get(self.pos..end).ok_or(Error::Truncated(what))?;
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn uuid(&mut self, what: &'static str) -> Result<Uuid> {
        Ok(Uuid::from_bytes_le(self.array(what)?))
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let s = self.buf.get(self.pos..).unwrap_or(&[]);
        self.pos = self.buf.len();
        s
    }
}
