//! Secured PDUs: security trailer placement, auth padding and the calls into
//! [`SecurityContext::protect`] / [`SecurityContext::unprotect`], [MS-RPCE]
//! 2.2.2.11 and 3.3.1.5.2.
//!
//! At `PKT` / `PKT_INTEGRITY` / `PKT_PRIVACY` every PDU after the bind carries
//! a `sec_trailer` and a signature over the whole PDU (header, body, padding,
//! trailer). At `PKT_PRIVACY` the stub and the auth padding are sealed too. At
//! `CONNECT` PDUs after the bind carry no trailer.

use std::ops::Range;

use winv_auth::{AuthLevel, SecurityContext};

use crate::error::{Error, Result};
use crate::pdu::{split_auth, stub_offset, AuthVerifier, Body, Header, PacketType, Pdu};
use crate::pdu::{HEADER_LEN, PFC_OBJECT_UUID, SEC_TRAILER_LEN};

/// What secures the PDUs of one association: the security context, the level
/// and the `auth_context_id`, [MS-RPCE] 2.2.2.11.
pub struct Protection<'a> {
    /// The established security context.
    pub ctx: &'a mut dyn SecurityContext,
    /// The association's authentication level.
    pub level: AuthLevel,
    /// `auth_context_id` in every trailer.
    pub context_id: u32,
}

impl std::fmt::Debug for Protection<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Protection")
            .field("auth_type", &self.ctx.auth_type())
            .field("level", &self.level)
            .field("context_id", &self.context_id)
            .finish()
    }
}

/// Auth padding for a stub of `stub_len` octets: the security trailer must be
/// 16-byte aligned relative to the start of the stub, [MS-RPCE] 2.2.2.11.
pub fn auth_pad_len(stub_len: usize) -> usize {
    (16 - stub_len % 16) % 16
}

fn stub_len(body: &Body) -> usize {
    match body {
        Body::Request(r) => r.stub.len(),
        Body::Response(r) => r.stub.len(),
        Body::Fault(f) => f.stub.len(),
        _ => 0,
    }
}

fn has_stub(ptype: PacketType) -> bool {
    matches!(
        ptype,
        PacketType::Request | PacketType::Response | PacketType::Fault
    )
}

/// Encodes `pdu` (whose `auth` is ignored) and, when `prot` signs, adds auth
/// padding and a security trailer, then calls
/// [`SecurityContext::protect`] over the whole PDU with `frag_length` and
/// `auth_length` already final; at `PKT_PRIVACY` the seal range is the stub
/// and its padding. Without `prot`, or at a level that does not sign, the PDU
/// is encoded with no trailer.
pub fn encode_protected(pdu: &Pdu, prot: Option<&mut Protection<'_>>) -> Result<Vec<u8>> {
    let Some(prot) = prot.filter(|p| p.level.signs()) else {
        let mut plain = pdu.clone();
        plain.auth = None;
        return plain.encode();
    };
    let sig_len = prot.ctx.signature_len();
    let pad = auth_pad_len(stub_len(&pdu.body));
    let mut signed = pdu.clone();
    signed.auth = Some(AuthVerifier {
        auth_type: prot.ctx.auth_type(),
        auth_level: prot.level as u8,
        // INVARIANT: pad < 16, fits a u8.
        pad_length: pad as u8,
        context_id: prot.context_id,
        value: vec![0; sig_len],
    });
    let mut bytes = signed.encode()?;
    let msg_len = bytes.len() - sig_len;
    let trailer_start = msg_len - SEC_TRAILER_LEN;
    let seal = (prot.level.seals() && has_stub(pdu.packet_type()))
        .then(|| stub_offset(&pdu.body)..trailer_start);
    let sig = prot.ctx.protect(&mut bytes[..msg_len], seal)?;
    if sig.len() != sig_len {
        return Err(Error::SignatureLength {
            expected: sig_len,
            got: sig.len(),
        });
    }
    bytes[msg_len..].copy_from_slice(&sig);
    Ok(bytes)
}

/// Stub offset from a header alone, for the PDU types that carry a stub.
fn stub_offset_of(h: &Header) -> usize {
    match h.ptype {
        PacketType::Request if h.flags & PFC_OBJECT_UUID != 0 => 40,
        PacketType::Fault => 32,
        PacketType::Request | PacketType::Response => 24,
        _ => HEADER_LEN,
    }
}

/// Verifies (and at `PKT_PRIVACY` decrypts) one incoming PDU with
/// [`SecurityContext::unprotect`], then decodes it: the returned PDU's stub is
/// plaintext without padding. At a level that does not sign the PDU is only
/// decoded. A signing level with no trailer is [`Error::MissingSignature`];
/// a trailer with another level, auth type or context id is
/// [`Error::TrailerMismatch`].
pub fn decode_protected(buf: &[u8], prot: Option<&mut Protection<'_>>) -> Result<Pdu> {
    let Some(prot) = prot.filter(|p| p.level.signs()) else {
        return Pdu::decode(buf);
    };
    let h = Header::decode(buf)?;
    if usize::from(h.frag_length) != buf.len() {
        return Err(Error::FragLength {
            frag_length: usize::from(h.frag_length),
            available: buf.len(),
        });
    }
    if h.auth_length == 0 {
        return Err(Error::MissingSignature);
    }
    let (region, verifier) = split_auth(buf, &h)?;
    let v = verifier.ok_or(Error::MissingSignature)?;
    if v.auth_level != prot.level as u8 {
        return Err(Error::TrailerMismatch("auth_level"));
    }
    if v.auth_type != prot.ctx.auth_type() {
        return Err(Error::TrailerMismatch("auth_type"));
    }
    if v.context_id != prot.context_id {
        return Err(Error::TrailerMismatch("auth_context_id"));
    }
    if !prot.ctx.accepts_signature_len(v.value.len()) {
        return Err(Error::SignatureLength {
            expected: prot.ctx.signature_len(),
            got: v.value.len(),
        });
    }
    // INVARIANT: split_auth checked auth_length + 8 <= frag_length - 16.
    let msg_len = buf.len() - v.value.len();
    let trailer_start = msg_len - SEC_TRAILER_LEN;
    let seal: Option<Range<usize>> = if prot.level.seals() && has_stub(h.ptype) {
        let start = stub_offset_of(&h);
        if start > region.len() {
            return Err(Error::Truncated("stub"));
        }
        Some(start..trailer_start)
    } else {
        None
    };
    let mut plain = buf.to_vec();
    prot.ctx.unprotect(&mut plain[..msg_len], seal, &v.value)?;
    Pdu::decode(&plain)
}
