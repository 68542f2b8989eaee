//! GSS-API Kerberos tokens: the initial-context framing ([RFC 2743] 3.1,
//! [RFC 4121] 4.1) and the per-message tokens of [RFC 4121] 4.2 as DCE/RPC
//! uses them ([MS-KILE] 3.4.5.4.1, "Kerberos Binding of GSS_WrapEx"):
//!
//! * a sealed PDU keeps its encrypted stub in place; the `auth_value` holds
//!   the 16-byte token header and the rest of the wrap token;
//! * EC (the filler) is 16 when we send ([MS-KILE]: "the sender should set
//!   EC to one block"), any value is accepted when we receive;
//! * RRC is 28 and the rotation is by RRC + EC (not RRC alone, as [RFC 4121]
//!   would have it);
//! * with header signing ([MS-RPCE] 2.2.2.3) the PDU header, the body before
//!   the stub and the security trailer are "sign only": covered by the
//!   checksum in order, not encrypted;
//! * at `PKT_INTEGRITY` the signature is a MIC token over the whole PDU.

use super::crypto::{self, Key, CONFOUNDER_LEN, HMAC_LEN};
use super::KrbError;

/// OID 1.2.840.113554.1.2.2 (Kerberos V5), DER content.
pub const OID_KRB5: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];
/// OID 1.2.840.48018.1.2.2 (Microsoft's Kerberos V5 OID), DER content.
pub const OID_MS_KRB5: &[u8] = &[0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02];

/// TOK_ID of an AP-REQ inside the framing.
pub const TOK_AP_REQ: [u8; 2] = [0x01, 0x00];
/// TOK_ID of an AP-REP.
pub const TOK_AP_REP: [u8; 2] = [0x02, 0x00];
/// TOK_ID of a KRB-ERROR.
pub const TOK_ERROR: [u8; 2] = [0x03, 0x00];

/// Wrap token flags, [RFC 4121] 4.2.2.
pub mod flags {
    /// SentByAcceptor.
    pub const SENT_BY_ACCEPTOR: u8 = 0x01;
    /// Sealed.
    pub const SEALED: u8 = 0x02;
    /// AcceptorSubkey.
    pub const ACCEPTOR_SUBKEY: u8 = 0x04;
}

/// Length of a token header.
pub const HEADER_LEN: usize = 16;
/// RRC we send at privacy ([MS-KILE] 3.4.5.4.1).
pub const RRC: u16 = 28;
/// EC we send at privacy.
pub const EC: u16 = 16;
/// `auth_value` length of a sealed PDU we send: header, E(filler),
/// E(header copy), checksum, E(confounder).
pub const WRAP_SIG_LEN: usize = HEADER_LEN + EC as usize + HEADER_LEN + HMAC_LEN + CONFOUNDER_LEN;
/// `auth_value` length of a MIC token.
pub const MIC_SIG_LEN: usize = HEADER_LEN + HMAC_LEN;

/// Frames a mechanism token: `[APPLICATION 0] { OID krb5, TOK_ID, token }`.
pub fn frame(tok_id: [u8; 2], token: &[u8]) -> Vec<u8> {
    let mut inner = super::der::tlv(super::der::tag::OID, OID_KRB5);
    inner.extend_from_slice(&tok_id);
    inner.extend_from_slice(token);
    super::der::tlv(0x60, &inner)
}

/// Removes the framing when present: returns the TOK_ID (if framed) and
/// the inner token. An unframed token (DCE style sends AP-REPs bare) is
/// returned as is.
pub fn strip_gss_framing(buf: &[u8]) -> Result<(Option<[u8; 2]>, &[u8]), KrbError> {
    if buf.first() != Some(&0x60) {
        return Ok((None, buf));
    }
    let mut r = super::der::Reader::new(buf);
    let content = r.expect(0x60, "gss framing")?;
    let mut inner = super::der::Reader::new(content);
    let oid = inner.expect(super::der::tag::OID, "gss framing oid")?;
    if oid != OID_KRB5 && oid != OID_MS_KRB5 {
        return Err(KrbError::Malformed("gss framing names another mechanism"));
    }
    let rest = inner.rest();
    if rest.len() < 2 {
        return Err(KrbError::Malformed("gss framing without a token id"));
    }
    Ok((Some([rest[0], rest[1]]), &rest[2..]))
}

/// A parsed per-message token header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WrapHeader {
    /// 0x0504 (wrap) or 0x0404 (MIC).
    pub tok_id: u16,
    /// Flags.
    pub flags: u8,
    /// EC (wrap only).
    pub ec: u16,
    /// RRC (wrap only).
    pub rrc: u16,
    /// The sequence number.
    pub seq: u64,
}

impl WrapHeader {
    /// Encodes the 16 bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..2].copy_from_slice(&self.tok_id.to_be_bytes());
        h[2] = self.flags;
        h[3] = 0xff;
        if self.tok_id == 0x0404 {
            h[4..8].fill(0xff);
        } else {
            h[4..6].copy_from_slice(&self.ec.to_be_bytes());
            h[6..8].copy_from_slice(&self.rrc.to_be_bytes());
        }
        h[8..].copy_from_slice(&self.seq.to_be_bytes());
        h
    }

    /// Decodes the 16 bytes at the start of `buf`.
    pub fn decode(buf: &[u8]) -> Result<WrapHeader, KrbError> {
        let h = buf.get(..HEADER_LEN).ok_or(KrbError::Malformed("gss token shorter than its header"))?;
        let tok_id = u16::from_be_bytes([h[0], h[1]]);
        if h[3] != 0xff {
            return Err(KrbError::Malformed("gss token filler"));
        }
        let (ec, rrc) = match tok_id {
            0x0504 => (
                u16::from_be_bytes([h[4], h[5]]),
                u16::from_be_bytes([h[6], h[7]]),
            ),
            0x0404 => {
                if h[4..8] != [0xff; 4] {
                    return Err(KrbError::Malformed("mic token filler"));
                }
                (0, 0)
            }
            _ => return Err(KrbError::Malformed("not an rfc 4121 token")),
        };
        let mut s = [0u8; 8];
        s.copy_from_slice(&h[8..16]);
        Ok(WrapHeader {
            tok_id,
            flags: h[2],
            ec,
            rrc,
            seq: u64::from_be_bytes(s),
        })
    }
}

/// The regions of one PDU as the DCE/RPC layer hands them over.
#[derive(Clone, Debug)]
pub struct Regions {
    /// The sealed range (stub and auth padding) at privacy.
    pub seal: Option<std::ops::Range<usize>>,
    /// Whether the header and trailer are signed too.
    pub header_signing: bool,
}

/// One direction's per-message state: key, usages, sequence number, flags.
pub struct Direction {
    /// The key (acceptor subkey, initiator subkey or session key).
    pub key: Key,
    /// Seal usage (22 / 24).
    pub seal_usage: u32,
    /// Sign usage (23 / 25).
    pub sign_usage: u32,
    /// The next sequence number.
    pub seq: u64,
    /// Flags we send or expect (SentByAcceptor, AcceptorSubkey).
    pub flags: u8,
}

impl std::fmt::Debug for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direction")
            .field("seal_usage", &self.seal_usage)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

fn sign_only<'a>(message: &'a [u8], seal: &std::ops::Range<usize>, on: bool) -> (&'a [u8], &'a [u8]) {
    if on {
        (&message[..seal.start], &message[seal.end..])
    } else {
        (&[], &[])
    }
}

impl Direction {
    /// A MIC token over `data` (SPNEGO's mechListMIC), consuming a sequence
    /// number.
    pub fn mic(&mut self, data: &[u8]) -> Result<Vec<u8>, KrbError> {
        let hdr = WrapHeader {
            tok_id: 0x0404,
            flags: self.flags & !flags::SEALED,
            ec: 0,
            rrc: 0,
            seq: self.seq,
        }
        .encode();
        self.seq = self.seq.wrapping_add(1);
        let ck = self.key.checksum(self.sign_usage, &[data, &hdr])?;
        let mut out = hdr.to_vec();
        out.extend_from_slice(&ck);
        Ok(out)
    }

    /// Protects an outgoing PDU: at privacy a wrap token (the stub is
    /// encrypted in place), else a MIC token. Returns the `auth_value`.
    pub fn protect(&mut self, message: &mut [u8], r: &Regions) -> Result<Vec<u8>, KrbError> {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let Some(seal) = r.seal.clone() else {
            if !r.header_signing {
                return Err(KrbError::State(
                    "integrity without header signing is not supported with kerberos",
                ));
            }
            let hdr = WrapHeader {
                tok_id: 0x0404,
                flags: self.flags & !flags::SEALED,
                ec: 0,
                rrc: 0,
                seq,
            }
            .encode();
            let ck = self.key.checksum(self.sign_usage, &[message, &hdr])?;
            let mut out = hdr.to_vec();
            out.extend_from_slice(&ck);
            return Ok(out);
        };
        if seal.start > seal.end || seal.end > message.len() {
            return Err(KrbError::State("seal range outside the message"));
        }
        let mut hdr = WrapHeader {
            tok_id: 0x0504,
            flags: self.flags | flags::SEALED,
            ec: EC,
            rrc: 0,
            seq,
        };
        let mut conf = [0u8; CONFOUNDER_LEN];
        getrandom::fill(&mut conf).map_err(|_| KrbError::Random)?;
        let filler = [0u8; EC as usize];
        let hdr0 = hdr.encode();
        let (ke, ki) = self.key.seal_keys(self.seal_usage)?;
        let (pre, post) = sign_only(message, &seal, r.header_signing);
        let mac = crypto::hmac_sha1_96(&ki, &[&conf, pre, &message[seal.clone()], post, &filler, &hdr0]);
        let mut plain = Vec::with_capacity(CONFOUNDER_LEN + seal.len() + filler.len() + HEADER_LEN + HMAC_LEN);
        plain.extend_from_slice(&conf);
        plain.extend_from_slice(&message[seal.clone()]);
        plain.extend_from_slice(&filler);
        plain.extend_from_slice(&hdr0);
        crypto::cts_encrypt(&ke, &mut plain)?;
        plain.extend_from_slice(&mac);
        let rot = usize::from(RRC + EC);
        plain.rotate_right(rot);
        let head = rot + CONFOUNDER_LEN;
        hdr.rrc = RRC;
        let mut out = hdr.encode().to_vec();
        out.extend_from_slice(&plain[..head]);
        message[seal].copy_from_slice(&plain[head..]);
        Ok(out)
    }

    /// Verifies (and at privacy decrypts in place) an incoming PDU.
    pub fn unprotect(
        &mut self,
        message: &mut [u8],
        r: &Regions,
        signature: &[u8],
    ) -> Result<(), KrbError> {
        let hdr = WrapHeader::decode(signature)?;
        if hdr.flags & flags::SENT_BY_ACCEPTOR != self.flags & flags::SENT_BY_ACCEPTOR {
            return Err(KrbError::Malformed("gss token sent in the wrong direction"));
        }
        if hdr.flags & flags::ACCEPTOR_SUBKEY != self.flags & flags::ACCEPTOR_SUBKEY {
            return Err(KrbError::Malformed("gss token acceptor subkey flag"));
        }
        if hdr.seq != self.seq {
            return Err(KrbError::Malformed("gss token out of sequence"));
        }
        match (&r.seal, hdr.tok_id) {
            (None, 0x0404) => {
                if !r.header_signing {
                    return Err(KrbError::State(
                        "integrity without header signing is not supported with kerberos",
                    ));
                }
                if signature.len() != MIC_SIG_LEN {
                    return Err(KrbError::Malformed("mic token length"));
                }
                let ck = self.key.checksum(self.sign_usage, &[message, &signature[..HEADER_LEN]])?;
                if !crypto::ct_eq(&ck, &signature[HEADER_LEN..]) {
                    return Err(KrbError::Integrity);
                }
            }
            (Some(seal), 0x0504) => {
                if hdr.flags & flags::SEALED == 0 {
                    return Err(KrbError::Malformed("wrap token not sealed at privacy"));
                }
                let seal = seal.clone();
                if seal.start > seal.end || seal.end > message.len() {
                    return Err(KrbError::State("seal range outside the message"));
                }
                let ec = usize::from(hdr.ec);
                let tail = &signature[HEADER_LEN..];
                // INVARIANT: the token beyond its header is E(conf) E(filler)
                // E(header) and the checksum, the stub being in the PDU.
                if tail.len() != CONFOUNDER_LEN + ec + HEADER_LEN + HMAC_LEN {
                    return Err(KrbError::Malformed("wrap token length does not match its ec"));
                }
                let mut blob = Vec::with_capacity(tail.len() + seal.len());
                blob.extend_from_slice(tail);
                blob.extend_from_slice(&message[seal.clone()]);
                let rot = (usize::from(hdr.rrc) + ec) % blob.len();
                blob.rotate_left(rot);
                let (ke, ki) = self.key.seal_keys(self.seal_usage)?;
                let mac_at = blob.len() - HMAC_LEN;
                let mac: Vec<u8> = blob[mac_at..].to_vec();
                blob.truncate(mac_at);
                crypto::cts_decrypt(&ke, &mut blob)?;
                let data_end = CONFOUNDER_LEN + seal.len();
                let (conf, rest) = blob.split_at(CONFOUNDER_LEN);
                let (data, rest) = rest.split_at(seal.len());
                let (filler, hdr_copy) = rest.split_at(ec);
                let _ = data_end;
                let (pre, post) = sign_only(message, &seal, r.header_signing);
                let expected = crypto::hmac_sha1_96(&ki, &[conf, pre, data, post, filler, hdr_copy]);
                if !crypto::ct_eq(&expected, &mac) {
                    return Err(KrbError::Integrity);
                }
                let copy = WrapHeader::decode(hdr_copy)?;
                if copy.tok_id != hdr.tok_id
                    || copy.flags != hdr.flags
                    || copy.ec != hdr.ec
                    || copy.seq != hdr.seq
                {
                    return Err(KrbError::Integrity);
                }
                let plain = data.to_vec();
                message[seal].copy_from_slice(&plain);
            }
            _ => return Err(KrbError::Malformed("gss token type does not match the level")),
        }
        self.seq = self.seq.wrapping_add(1);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::kerberos::Etype;

    fn pair() -> (Direction, Direction) {
        let key = Key::random(Etype::Aes256CtsHmacSha196).unwrap();
        let mk = |k: &Key| Direction {
            key: k.clone(),
            seal_usage: 24,
            sign_usage: 25,
            seq: 7,
            flags: flags::ACCEPTOR_SUBKEY,
        };
        (mk(&key), mk(&key))
    }

    #[test]
    fn sealed_round_trip_and_tamper() {
        for header_signing in [true, false] {
            let (mut tx, mut rx) = pair();
            let plain: Vec<u8> = (0..96u8).collect();
            let r = Regions {
                seal: Some(24..72),
                header_signing,
            };
            let mut m = plain.clone();
            let sig = tx.protect(&mut m, &r).unwrap();
            assert_eq!(sig.len(), WRAP_SIG_LEN);
            assert_ne!(m[24..72], plain[24..72]);
            assert_eq!(m[..24], plain[..24]);
            let mut bad = m.clone();
            bad[30] ^= 1;
            let mut rx2 = pair().1;
            rx2.key = rx.key.clone();
            assert_eq!(rx2.unprotect(&mut bad, &r, &sig), Err(KrbError::Integrity));
            if header_signing {
                let mut bad = m.clone();
                bad[2] ^= 1;
                let mut rx3 = pair().1;
                rx3.key = rx.key.clone();
                assert_eq!(rx3.unprotect(&mut bad, &r, &sig), Err(KrbError::Integrity));
            }
            rx.unprotect(&mut m, &r, &sig).unwrap();
            assert_eq!(m, plain);
            assert_eq!(rx.seq, 8);
        }
    }

    #[test]
    fn mic_round_trip_replay_and_tamper() {
        let (mut tx, mut rx) = pair();
        let r = Regions {
            seal: None,
            header_signing: true,
        };
        let mut m = b"some pdu bytes, signed".to_vec();
        let sig = tx.protect(&mut m, &r).unwrap();
        assert_eq!(sig.len(), MIC_SIG_LEN);
        let mut bad = m.clone();
        bad[0] ^= 0x80;
        let before = rx.seq;
        assert_eq!(rx.unprotect(&mut bad, &r, &sig), Err(KrbError::Integrity));
        assert_eq!(rx.seq, before);
        rx.unprotect(&mut m, &r, &sig).unwrap();
        // The same token again is out of sequence.
        assert!(rx.unprotect(&mut m, &r, &sig).is_err());
    }

    #[test]
    fn framing_round_trips() {
        let f = frame(TOK_AP_REQ, b"\x6e\x01\x00");
        let (id, inner) = strip_gss_framing(&f).unwrap();
        assert_eq!(id, Some(TOK_AP_REQ));
        assert_eq!(inner, b"\x6e\x01\x00");
        assert_eq!(strip_gss_framing(b"\x6f\x00").unwrap(), (None, &b"\x6f\x00"[..]));
        assert!(strip_gss_framing(&[0x60, 0x05, 0x06, 0x01, 0x2a, 0x01, 0x00]).is_err());
    }
}
