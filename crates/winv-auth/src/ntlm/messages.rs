//! NTLM message encoding and decoding, [MS-NLMP] 2.2.1 and 2.2.2.
//!
//! Decoders are total: every length and offset is checked against the input,
//! nothing panics and nothing is allocated beyond what the input holds.

use crate::AuthError;

/// The 8-byte signature that starts every NTLM message, [MS-NLMP] 2.2.1.
pub const NTLMSSP_SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

/// `MessageType` of a NEGOTIATE_MESSAGE, [MS-NLMP] 2.2.1.1.
pub const MESSAGE_NEGOTIATE: u32 = 1;
/// `MessageType` of a CHALLENGE_MESSAGE, [MS-NLMP] 2.2.1.2.
pub const MESSAGE_CHALLENGE: u32 = 2;
/// `MessageType` of an AUTHENTICATE_MESSAGE, [MS-NLMP] 2.2.1.3.
pub const MESSAGE_AUTHENTICATE: u32 = 3;

/// Byte offset of the MIC in an AUTHENTICATE_MESSAGE that carries a VERSION,
/// [MS-NLMP] 2.2.1.3.
pub const AUTHENTICATE_MIC_OFFSET: usize = 72;

/// AvId values, [MS-NLMP] 2.2.2.1.
pub mod av_id {
    /// `MsvAvEOL`: end of the list.
    pub const EOL: u16 = 0x0000;
    /// `MsvAvNbComputerName`.
    pub const NB_COMPUTER_NAME: u16 = 0x0001;
    /// `MsvAvNbDomainName`.
    pub const NB_DOMAIN_NAME: u16 = 0x0002;
    /// `MsvAvDnsComputerName`.
    pub const DNS_COMPUTER_NAME: u16 = 0x0003;
    /// `MsvAvDnsDomainName`.
    pub const DNS_DOMAIN_NAME: u16 = 0x0004;
    /// `MsvAvDnsTreeName`.
    pub const DNS_TREE_NAME: u16 = 0x0005;
    /// `MsvAvFlags`.
    pub const FLAGS: u16 = 0x0006;
    /// `MsvAvTimestamp` (FILETIME).
    pub const TIMESTAMP: u16 = 0x0007;
    /// `MsvAvSingleHost`.
    pub const SINGLE_HOST: u16 = 0x0008;
    /// `MsvAvTargetName`.
    pub const TARGET_NAME: u16 = 0x0009;
    /// `MsvAvChannelBindings`.
    pub const CHANNEL_BINDINGS: u16 = 0x000a;
}

/// `MsvAvFlags` bit: the AUTHENTICATE_MESSAGE carries a MIC, [MS-NLMP] 2.2.2.1.
pub const AV_FLAG_MIC_PRESENT: u32 = 0x0000_0002;

/// One attribute/value pair, [MS-NLMP] 2.2.2.1 (`AV_PAIR`). The terminating
/// `MsvAvEOL` is implicit: decoders stop at it and encoders append it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvPair {
    /// `AvId`.
    pub id: u16,
    /// The value bytes (`AvLen` of them).
    pub value: Vec<u8>,
}

impl AvPair {
    /// A pair whose value is a UTF-16LE string (the names).
    pub fn utf16(id: u16, s: &str) -> Self {
        AvPair {
            id,
            value: utf16le(s),
        }
    }

    /// The value as a little-endian `u32`, for `MsvAvFlags`.
    pub fn as_u32(&self) -> Option<u32> {
        let b: [u8; 4] = self.value.get(..4)?.try_into().ok()?;
        Some(u32::from_le_bytes(b))
    }

    /// The value as a little-endian `u64`, for `MsvAvTimestamp`.
    pub fn as_u64(&self) -> Option<u64> {
        let b: [u8; 8] = self.value.get(..8)?.try_into().ok()?;
        Some(u64::from_le_bytes(b))
    }

    /// The value as a UTF-16LE string (the names), `None` when it is not one.
    pub fn as_utf16(&self) -> Option<String> {
        if !self.value.len().is_multiple_of(2) {
            return None;
        }
        let units: Vec<u16> = self
            .value
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16(&units).ok()
    }
}

/// Finds the first pair with `id`.
pub fn find_av(pairs: &[AvPair], id: u16) -> Option<&AvPair> {
    pairs.iter().find(|p| p.id == id)
}

/// Decodes an AV_PAIR list ([MS-NLMP] 2.2.2.1) up to `MsvAvEOL`. A list that
/// runs to the end of `bytes` without an EOL is accepted; a pair that runs
/// past the end is not.
pub fn decode_av_pairs(bytes: &[u8]) -> Result<Vec<AvPair>, AuthError> {
    let bad = |reason| AuthError::Malformed {
        message: "av_pair",
        reason,
    };
    let mut pairs = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let id = le16(rest, 0).ok_or(bad("truncated pair header"))?;
        let len = usize::from(le16(rest, 2).ok_or(bad("truncated pair header"))?);
        if id == av_id::EOL {
            break;
        }
        let value = rest
            .get(4..4 + len)
            .ok_or(bad("pair value past end of list"))?;
        pairs.push(AvPair {
            id,
            value: value.to_vec(),
        });
        rest = rest.get(4 + len..).unwrap_or(&[]);
    }
    Ok(pairs)
}

/// Encodes an AV_PAIR list ([MS-NLMP] 2.2.2.1), appending `MsvAvEOL`. Pairs
/// with id `MsvAvEOL` are skipped.
pub fn encode_av_pairs(pairs: &[AvPair]) -> Result<Vec<u8>, AuthError> {
    let mut out = Vec::new();
    for p in pairs.iter().filter(|p| p.id != av_id::EOL) {
        let len = u16::try_from(p.value.len()).map_err(|_| AuthError::Malformed {
            message: "av_pair",
            reason: "value longer than 65535 bytes",
        })?;
        out.extend_from_slice(&p.id.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&p.value);
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    Ok(out)
}

/// The VERSION structure, [MS-NLMP] 2.2.2.10 (the 3 reserved bytes are
/// written as zero and ignored on receipt).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Version {
    /// `ProductMajorVersion`.
    pub major: u8,
    /// `ProductMinorVersion`.
    pub minor: u8,
    /// `ProductBuild`.
    pub build: u16,
    /// `NTLMRevisionCurrent` (0x0F for NTLMSSP_REVISION_W2K3).
    pub revision: u8,
}

impl Version {
    /// The version this crate announces (Windows 10.0.20348, revision 15).
    pub const DEFAULT: Version = Version {
        major: 10,
        minor: 0,
        build: 20348,
        revision: 0x0f,
    };

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.major);
        out.push(self.minor);
        out.extend_from_slice(&self.build.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0]);
        out.push(self.revision);
    }

    fn decode(b: &[u8], at: usize) -> Option<Version> {
        let v = b.get(at..at + 8)?;
        Some(Version {
            major: v[0],
            minor: v[1],
            build: u16::from_le_bytes([v[2], v[3]]),
            revision: v[7],
        })
    }
}

/// NEGOTIATE_MESSAGE, [MS-NLMP] 2.2.1.1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NegotiateMessage {
    /// `NegotiateFlags` ([MS-NLMP] 2.2.2.5).
    pub flags: u32,
    /// `DomainName` payload (OEM bytes, usually empty).
    pub domain: Vec<u8>,
    /// `Workstation` payload (OEM bytes, usually empty).
    pub workstation: Vec<u8>,
    /// `Version`, present when NTLMSSP_NEGOTIATE_VERSION is set.
    pub version: Option<Version>,
}

/// CHALLENGE_MESSAGE, [MS-NLMP] 2.2.1.2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChallengeMessage {
    /// `NegotiateFlags` ([MS-NLMP] 2.2.2.5).
    pub flags: u32,
    /// `TargetName` payload (UTF-16LE when NTLMSSP_NEGOTIATE_UNICODE).
    pub target_name: Vec<u8>,
    /// `ServerChallenge`.
    pub server_challenge: [u8; 8],
    /// `TargetInfo` AV pairs without the terminating EOL.
    pub target_info: Vec<AvPair>,
    /// `Version`, present when NTLMSSP_NEGOTIATE_VERSION is set.
    pub version: Option<Version>,
}

/// AUTHENTICATE_MESSAGE, [MS-NLMP] 2.2.1.3.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthenticateMessage {
    /// `NegotiateFlags` ([MS-NLMP] 2.2.2.5).
    pub flags: u32,
    /// `LmChallengeResponse` payload.
    pub lm_response: Vec<u8>,
    /// `NtChallengeResponse` payload (NTLMv2_RESPONSE, [MS-NLMP] 2.2.2.8).
    pub nt_response: Vec<u8>,
    /// `DomainName` payload (UTF-16LE).
    pub domain: Vec<u8>,
    /// `UserName` payload (UTF-16LE).
    pub user: Vec<u8>,
    /// `Workstation` payload (UTF-16LE).
    pub workstation: Vec<u8>,
    /// `EncryptedRandomSessionKey` payload.
    pub encrypted_session_key: Vec<u8>,
    /// `Version`, present when NTLMSSP_NEGOTIATE_VERSION is set and the
    /// payload leaves room for it.
    pub version: Option<Version>,
    /// `MIC`, present when a VERSION is and the payload leaves room for it.
    pub mic: Option<[u8; 16]>,
}

impl std::fmt::Debug for AuthenticateMessage {
    // The responses are password-derived: show only their lengths.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthenticateMessage")
            .field("flags", &format_args!("{:#010x}", self.flags))
            .field("user", &from_utf16le(&self.user))
            .field("domain", &from_utf16le(&self.domain))
            .field("workstation", &from_utf16le(&self.workstation))
            .field("lm_response_len", &self.lm_response.len())
            .field("nt_response_len", &self.nt_response.len())
            .field("session_key_len", &self.encrypted_session_key.len())
            .field("version", &self.version)
            .field("mic", &self.mic.is_some())
            .finish()
    }
}

const NEGOTIATE_VERSION_FLAG: u32 = super::flags::NEGOTIATE_VERSION;

fn le16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// A payload field descriptor (`Len`, `MaxLen`, `BufferOffset`), validated.
#[derive(Clone, Copy)]
struct Field {
    offset: usize,
    len: usize,
}

fn read_field(
    b: &[u8],
    at: usize,
    fixed: usize,
    message: &'static str,
) -> Result<Field, AuthError> {
    let bad = |reason| AuthError::Malformed { message, reason };
    let len = usize::from(le16(b, at).ok_or(bad("truncated header"))?);
    let offset = usize::try_from(le32(b, at + 4).ok_or(bad("truncated header"))?)
        .map_err(|_| bad("offset too large"))?;
    if len == 0 {
        return Ok(Field { offset, len });
    }
    // INVARIANT: a non-empty field lies entirely inside the buffer and after
    // the fixed header.
    if offset < fixed {
        return Err(bad("payload overlaps header"));
    }
    match offset.checked_add(len) {
        Some(end) if end <= b.len() => Ok(Field { offset, len }),
        _ => Err(bad("payload past end of message")),
    }
}

fn field_bytes(b: &[u8], f: Field) -> Vec<u8> {
    if f.len == 0 {
        return Vec::new();
    }
    b.get(f.offset..f.offset + f.len).unwrap_or(&[]).to_vec()
}

/// Smallest offset of a non-empty field, or the message length: where the
/// payload starts, which tells whether VERSION / MIC are present.
fn payload_start(b: &[u8], fields: &[Field]) -> usize {
    fields
        .iter()
        .filter(|f| f.len > 0)
        .map(|f| f.offset)
        .min()
        .unwrap_or(b.len())
}

fn check_header(b: &[u8], ty: u32, message: &'static str, min: usize) -> Result<(), AuthError> {
    if b.len() < min {
        return Err(AuthError::Malformed {
            message,
            reason: "too short",
        });
    }
    if b.get(..8) != Some(&NTLMSSP_SIGNATURE[..]) {
        return Err(AuthError::Malformed {
            message,
            reason: "bad signature",
        });
    }
    if le32(b, 8) != Some(ty) {
        return Err(AuthError::Malformed {
            message,
            reason: "wrong message type",
        });
    }
    Ok(())
}

/// Writes the fixed header's field descriptors and the payload.
struct Writer {
    out: Vec<u8>,
    payload: Vec<u8>,
    fixed: usize,
    message: &'static str,
}

impl Writer {
    fn new(fixed: usize, message: &'static str) -> Self {
        Writer {
            out: vec![0; fixed],
            payload: Vec::new(),
            fixed,
            message,
        }
    }

    fn field(&mut self, at: usize, data: &[u8]) -> Result<(), AuthError> {
        let too_long = AuthError::Malformed {
            message: self.message,
            reason: "field longer than 65535 bytes",
        };
        let len = u16::try_from(data.len()).map_err(|_| too_long.clone())?;
        let offset = u32::try_from(self.fixed + self.payload.len()).map_err(|_| too_long)?;
        self.out[at..at + 2].copy_from_slice(&len.to_le_bytes());
        self.out[at + 2..at + 4].copy_from_slice(&len.to_le_bytes());
        self.out[at + 4..at + 8].copy_from_slice(&offset.to_le_bytes());
        self.payload.extend_from_slice(data);
        Ok(())
    }

    fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(&self.payload);
        self.out
    }
}

fn header(ty: u32, fixed_prefix: &mut [u8]) {
    fixed_prefix[..8].copy_from_slice(NTLMSSP_SIGNATURE);
    fixed_prefix[8..12].copy_from_slice(&ty.to_le_bytes());
}

impl NegotiateMessage {
    /// Decodes a NEGOTIATE_MESSAGE ([MS-NLMP] 2.2.1.1).
    pub fn decode(b: &[u8]) -> Result<Self, AuthError> {
        const M: &str = "negotiate";
        check_header(b, MESSAGE_NEGOTIATE, M, 32)?;
        let flags = le32(b, 12).unwrap_or(0);
        let domain = read_field(b, 16, 32, M)?;
        let ws = read_field(b, 24, 32, M)?;
        let start = payload_start(b, &[domain, ws]);
        let version = if flags & NEGOTIATE_VERSION_FLAG != 0 && start >= 40 {
            Version::decode(b, 32)
        } else {
            None
        };
        Ok(NegotiateMessage {
            flags,
            domain: field_bytes(b, domain),
            workstation: field_bytes(b, ws),
            version,
        })
    }

    /// Encodes the message ([MS-NLMP] 2.2.1.1).
    pub fn encode(&self) -> Result<Vec<u8>, AuthError> {
        let fixed = if self.version.is_some() { 40 } else { 32 };
        let mut w = Writer::new(fixed, "negotiate");
        header(MESSAGE_NEGOTIATE, &mut w.out);
        w.out[12..16].copy_from_slice(&self.flags.to_le_bytes());
        w.field(16, &self.domain)?;
        w.field(24, &self.workstation)?;
        if let Some(v) = &self.version {
            let mut vb = Vec::with_capacity(8);
            v.encode(&mut vb);
            w.out[32..40].copy_from_slice(&vb);
        }
        Ok(w.finish())
    }
}

impl ChallengeMessage {
    /// Decodes a CHALLENGE_MESSAGE ([MS-NLMP] 2.2.1.2).
    pub fn decode(b: &[u8]) -> Result<Self, AuthError> {
        const M: &str = "challenge";
        check_header(b, MESSAGE_CHALLENGE, M, 48)?;
        let target_name = read_field(b, 12, 48, M)?;
        let flags = le32(b, 20).unwrap_or(0);
        let mut server_challenge = [0u8; 8];
        server_challenge.copy_from_slice(b.get(24..32).unwrap_or(&[0; 8]));
        let target_info = read_field(b, 40, 48, M)?;
        let start = payload_start(b, &[target_name, target_info]);
        let version = if flags & NEGOTIATE_VERSION_FLAG != 0 && start >= 56 {
            Version::decode(b, 48)
        } else {
            None
        };
        let ti = field_bytes(b, target_info);
        Ok(ChallengeMessage {
            flags,
            target_name: field_bytes(b, target_name),
            server_challenge,
            target_info: decode_av_pairs(&ti)?,
            version,
        })
    }

    /// Encodes the message ([MS-NLMP] 2.2.1.2).
    pub fn encode(&self) -> Result<Vec<u8>, AuthError> {
        let fixed = if self.version.is_some() { 56 } else { 48 };
        let mut w = Writer::new(fixed, "challenge");
        header(MESSAGE_CHALLENGE, &mut w.out);
        w.field(12, &self.target_name)?;
        w.out[20..24].copy_from_slice(&self.flags.to_le_bytes());
        w.out[24..32].copy_from_slice(&self.server_challenge);
        let ti = encode_av_pairs(&self.target_info)?;
        w.field(40, &ti)?;
        if let Some(v) = &self.version {
            let mut vb = Vec::with_capacity(8);
            v.encode(&mut vb);
            w.out[48..56].copy_from_slice(&vb);
        }
        Ok(w.finish())
    }
}

impl AuthenticateMessage {
    /// Decodes an AUTHENTICATE_MESSAGE ([MS-NLMP] 2.2.1.3).
    ///
    /// VERSION is read when the flag says so and the payload starts at or
    /// after byte 72; the MIC when, in addition, the payload starts at or
    /// after byte 88 (where Windows puts it).
    pub fn decode(b: &[u8]) -> Result<Self, AuthError> {
        const M: &str = "authenticate";
        check_header(b, MESSAGE_AUTHENTICATE, M, 64)?;
        let lm = read_field(b, 12, 64, M)?;
        let nt = read_field(b, 20, 64, M)?;
        let domain = read_field(b, 28, 64, M)?;
        let user = read_field(b, 36, 64, M)?;
        let ws = read_field(b, 44, 64, M)?;
        let key = read_field(b, 52, 64, M)?;
        let flags = le32(b, 60).unwrap_or(0);
        let start = payload_start(b, &[lm, nt, domain, user, ws, key]);
        let version = if flags & NEGOTIATE_VERSION_FLAG != 0 && start >= 72 {
            Version::decode(b, 64)
        } else {
            None
        };
        let mic = if version.is_some() && start >= 88 {
            b.get(AUTHENTICATE_MIC_OFFSET..AUTHENTICATE_MIC_OFFSET + 16)
                .and_then(|m| m.try_into().ok())
        } else {
            None
        };
        Ok(AuthenticateMessage {
            flags,
            lm_response: field_bytes(b, lm),
            nt_response: field_bytes(b, nt),
            domain: field_bytes(b, domain),
            user: field_bytes(b, user),
            workstation: field_bytes(b, ws),
            encrypted_session_key: field_bytes(b, key),
            version,
            mic,
        })
    }

    /// Encodes the message ([MS-NLMP] 2.2.1.3). A MIC is only written when a
    /// VERSION is (it lives at bytes 72..88).
    pub fn encode(&self) -> Result<Vec<u8>, AuthError> {
        let mic = self.mic.filter(|_| self.version.is_some());
        let fixed = match (self.version, mic) {
            (Some(_), Some(_)) => 88,
            (Some(_), None) => 72,
            _ => 64,
        };
        let mut w = Writer::new(fixed, "authenticate");
        header(MESSAGE_AUTHENTICATE, &mut w.out);
        w.field(28, &self.domain)?;
        w.field(36, &self.user)?;
        w.field(44, &self.workstation)?;
        w.field(12, &self.lm_response)?;
        w.field(20, &self.nt_response)?;
        w.field(52, &self.encrypted_session_key)?;
        w.out[60..64].copy_from_slice(&self.flags.to_le_bytes());
        if let Some(v) = &self.version {
            let mut vb = Vec::with_capacity(8);
            v.encode(&mut vb);
            w.out[64..72].copy_from_slice(&vb);
        }
        if let Some(m) = mic {
            w.out[AUTHENTICATE_MIC_OFFSET..AUTHENTICATE_MIC_OFFSET + 16].copy_from_slice(&m);
        }
        Ok(w.finish())
    }

    /// The user name, decoded from UTF-16LE.
    pub fn user_name(&self) -> String {
        from_utf16le(&self.user)
    }

    /// The domain name, decoded from UTF-16LE.
    pub fn domain_name(&self) -> String {
        from_utf16le(&self.domain)
    }
}

/// UTF-16LE encoding (RPC_UNICODE_STRING contents, [MS-DTYP] 2.3.10).
pub fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

/// Lossy UTF-16LE decoding; a trailing odd byte is ignored.
pub fn from_utf16le(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

/// The `MessageType` of an NTLM message, [MS-NLMP] 2.2.1, or `None` when `msg`
/// does not start with the NTLMSSP signature.
pub fn message_type(msg: &[u8]) -> Option<u32> {
    if msg.get(..8)? != NTLMSSP_SIGNATURE {
        return None;
    }
    le32(msg, 8)
}
