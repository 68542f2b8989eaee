//! A passive Kerberos observer for `trace --keytab`: from the AP-REQ of a
//! bind and the AP-REP of its bind_ack, with the service's keys, it derives
//! both directions' per-message keys and sequence numbers, then verifies (and
//! decrypts) every PDU of the connection as the receiver would.
//!
//! SPNEGO's mechListMIC legs consume a sequence number on each side; the
//! observer accepts a token whose number is at most a few ahead of the one
//! it expects (it verifies the checksum either way).

use std::ops::Range;

use super::files::Keytab;
use super::gss::{self, Direction, Regions};
use super::messages::{usage, ApRep, ApReq, Authenticator, EncApRepPart, EncTicketPart};
use super::spnego::NegToken;
use super::{KrbError, Principal};
use crate::{AuthError, AuthLevel, AuthType, SecurityContext, Step};

/// The mechanism token inside a bind's or bind_ack's auth value (SPNEGO
/// unwrapped, GSS framing removed).
pub fn inner_token(auth_type: AuthType, token: &[u8]) -> Result<Vec<u8>, KrbError> {
    let t = match auth_type {
        AuthType::GssNegotiate => match NegToken::decode(token)? {
            NegToken::Init { token: Some(t), .. } | NegToken::Resp { token: Some(t), .. } => t,
            _ => return Err(KrbError::Malformed("spnego token without a mechanism token")),
        },
        _ => token.to_vec(),
    };
    Ok(gss::strip_gss_framing(&t)?.1.to_vec())
}

/// Whether `token` (inner) is an AP-REQ.
pub fn is_ap_req(token: &[u8]) -> bool {
    token.first() == Some(&0x6e)
}

/// Whether `token` (inner) is an AP-REP.
pub fn is_ap_rep(token: &[u8]) -> bool {
    token.first() == Some(&0x6f)
}

/// One direction of an observed context.
pub struct KerberosObserver {
    dir: Direction,
    auth_type: AuthType,
    seal: bool,
    header_signing: bool,
}

impl std::fmt::Debug for KerberosObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KerberosObserver").field("auth_type", &self.auth_type).finish_non_exhaustive()
    }
}

/// Derives (client-to-server, server-to-client) observers from the inner
/// AP-REQ and AP-REP and the keytab. The error says why not (no key for the
/// ticket's SPN, a key that does not decrypt it...).
pub fn observe(
    auth_type: AuthType,
    ap_req: &[u8],
    ap_rep: &[u8],
    keytab: &Keytab,
) -> Result<(KerberosObserver, KerberosObserver), KrbError> {
    let req = ApReq::decode(ap_req)?;
    let me = Principal { realm: req.ticket.realm.clone(), name: req.ticket.sname.clone() };
    let keys = keytab.candidates(&me, req.ticket.enc_part.etype);
    if keys.is_empty() {
        return Err(KrbError::Mismatch("no key in the keytab of the ticket's enctype"));
    }
    let part = keys
        .iter()
        .find_map(|k| k.decrypt(usage::TICKET, &req.ticket.enc_part.cipher).ok())
        .ok_or(KrbError::Mismatch("no key in the keytab decrypts the ticket"))?;
    let tkt = EncTicketPart::decode(&part)?;
    let auth = Authenticator::decode(&tkt.key.decrypt(usage::AP_REQ_AUTH, &req.authenticator.cipher)?)?;
    let rep = ApRep::decode(ap_rep)?;
    let rp = EncApRepPart::decode(&tkt.key.decrypt(usage::AP_REP, &rep.enc_part.cipher)?)?;
    let (key, sub) = match (rp.subkey, auth.subkey) {
        (Some(k), _) => (k, gss::flags::ACCEPTOR_SUBKEY),
        (None, Some(k)) => (k, 0),
        (None, None) => (tkt.key.clone(), 0),
    };
    let mk = |d: Direction| KerberosObserver { dir: d, auth_type, seal: true, header_signing: true };
    Ok((
        mk(Direction {
            key: key.clone(),
            seal_usage: usage::INITIATOR_SEAL,
            sign_usage: usage::INITIATOR_SIGN,
            seq: u64::from(auth.seq_number.unwrap_or(0)),
            flags: sub,
        }),
        mk(Direction {
            key,
            seal_usage: usage::ACCEPTOR_SEAL,
            sign_usage: usage::ACCEPTOR_SIGN,
            seq: u64::from(rp.seq_number.unwrap_or(0)),
            flags: sub | gss::flags::SENT_BY_ACCEPTOR,
        }),
    ))
}

/// How far ahead of the expected sequence number an observed token may be.
const SEQ_WINDOW: u64 = 4;

impl SecurityContext for KerberosObserver {
    fn auth_type(&self) -> AuthType {
        self.auth_type
    }
    fn step(&mut self, _: Option<&[u8]>) -> Result<Step, AuthError> {
        Err(AuthError::State("an observer takes no tokens"))
    }
    fn is_established(&self) -> bool {
        true
    }
    fn signature_len(&self) -> usize {
        if self.seal {
            gss::WRAP_SIG_LEN
        } else {
            gss::MIC_SIG_LEN
        }
    }
    fn accepts_signature_len(&self, len: usize) -> bool {
        if self.seal {
            len >= gss::WRAP_SIG_LEN - usize::from(gss::EC) && len <= gss::WRAP_SIG_LEN + 64
        } else {
            len == gss::MIC_SIG_LEN
        }
    }
    fn set_header_signing(&mut self, on: bool) {
        self.header_signing = on;
    }
    fn set_auth_level(&mut self, level: AuthLevel) {
        self.seal = level.seals();
    }
    fn protect(&mut self, _: &mut [u8], _: Option<Range<usize>>) -> Result<Vec<u8>, AuthError> {
        Err(AuthError::State("an observer does not send"))
    }
    fn unprotect(&mut self, message: &mut [u8], seal: Option<Range<usize>>, signature: &[u8]) -> Result<(), AuthError> {
        let seq = gss::WrapHeader::decode(signature)?.seq;
        if seq >= self.dir.seq && seq <= self.dir.seq + SEQ_WINDOW {
            self.dir.seq = seq;
        }
        let r = Regions { seal, header_signing: self.header_signing };
        match self.dir.unprotect(message, &r, signature) {
            Ok(()) => Ok(()),
            Err(KrbError::Integrity) => Err(AuthError::BadSignature),
            Err(e) => Err(e.into()),
        }
    }
}
