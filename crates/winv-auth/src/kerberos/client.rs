//! The Kerberos initiator as a [`SecurityContext`], DCE style ([MS-KILE]
//! 3.4.5.1): three legs carried by bind, bind_ack and alter_context.
//!
//! 1. `step(None)`: the AP-REQ (no GSS framing in DCE style), with a fresh
//!    subkey, a sequence number and the GSS checksum 0x8003 asking for
//!    mutual authentication, replay and sequence detection, integrity,
//!    confidentiality and GSS_C_DCE_STYLE ([RFC 4121] 4.1.1).
//! 2. `step(AP-REP)`: the server's AP-REP is decrypted with the ticket's
//!    session key, its ctime/cusec checked against our authenticator (mutual
//!    authentication), its subkey and sequence number kept; the answer is our
//!    own AP-REP (ctime now, no subkey, the server's sequence number).
//!    Raw Kerberos is established here: the alter_context that carries the
//!    answer gets a response with no token.
//! 3. SPNEGO only: `step(NegTokenResp)` checks accept-completed and, when the
//!    server sent one, its mechListMIC.
//!
//! The per-message key is the acceptor's subkey when the AP-REP carries one,
//! else our subkey ([RFC 4121] 2).

use std::ops::Range;

use super::exchange::Credential;
use super::gss::{self, Direction, Regions};
use super::messages::{self, ap_options, usage, ApRep, ApReq, Authenticator, Checksum, EncApRepPart, EncryptedData};
use super::spnego::{self, neg_state, NegToken};
use super::{Key, KrbError};
use crate::{AuthError, AuthLevel, AuthType, SecurityContext, Step};

/// GSS context flags, [RFC 4121] 4.1.1.1 and [RFC 4757] 7.1.
mod gss_flags {
    pub const MUTUAL: u32 = 2;
    pub const REPLAY: u32 = 4;
    pub const SEQUENCE: u32 = 8;
    pub const CONF: u32 = 16;
    pub const INTEG: u32 = 32;
    pub const DCE_STYLE: u32 = 0x1000;
}

/// How the Kerberos tokens travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KerberosMech {
    /// `RPC_C_AUTHN_GSS_KERBEROS` (16): bare Kerberos messages.
    Raw,
    /// `RPC_C_AUTHN_GSS_NEGOTIATE` (9): inside SPNEGO, Kerberos chosen.
    Spnego,
}

#[derive(Debug)]
enum State {
    Initial,
    WaitApRep { ctime: i64, cusec: u32, subkey: Key, seq: u32 },
    WaitFinal,
    WaitMicAck,
    Established,
    Failed,
}

/// A DCE-style Kerberos initiator for one connection.
///
/// INVARIANT: `Debug` shows the state and the names, never a key or a ticket.
pub struct KerberosClient {
    mech: KerberosMech,
    cred: Credential,
    seal: bool,
    now: i64,
    usec: u32,
    header_signing: bool,
    state: State,
    mech_types: Vec<u8>,
    send: Option<Direction>,
    recv: Option<Direction>,
}

impl std::fmt::Debug for KerberosClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KerberosClient")
            .field("mech", &self.mech)
            .field("client", &self.cred.client.to_string())
            .field("server", &self.cred.server.to_string())
            .field("state", &self.state_name())
            .finish_non_exhaustive()
    }
}

impl KerberosClient {
    /// A context that will present the service ticket `cred` at `level`
    /// (which decides the signature length: a wrap token at
    /// `PKT_PRIVACY`, a MIC token below). `now` / `usec` are the current
    /// time (the authenticator's ctime); a ticket that is expired or not yet
    /// valid at `now` is refused here.
    pub fn new(
        mech: KerberosMech,
        cred: Credential,
        level: AuthLevel,
        now: i64,
        usec: u32,
    ) -> Result<KerberosClient, KrbError> {
        if cred.endtime <= now {
            return Err(KrbError::TicketTime("expired"));
        }
        if cred.starttime.unwrap_or(cred.authtime) > now + super::cache::CLOCK_SKEW {
            return Err(KrbError::TicketTime("not yet valid"));
        }
        super::check_etype(cred.key.etype().to_i32())?;
        Ok(KerberosClient {
            mech,
            cred,
            seal: level.seals(),
            now,
            usec: usec.min(999_999),
            header_signing: true,
            state: State::Initial,
            mech_types: spnego::mech_type_list(&[gss::OID_MS_KRB5, gss::OID_KRB5]),
            send: None,
            recv: None,
        })
    }

    fn state_name(&self) -> &'static str {
        match self.state {
            State::Initial => "initial",
            State::WaitApRep { .. } => "waiting for ap-rep",
            State::WaitFinal => "waiting for spnego completion",
            State::WaitMicAck => "waiting for the spnego mic to be accepted",
            State::Established => "established",
            State::Failed => "failed",
        }
    }

    /// The service principal the ticket is for.
    pub fn server(&self) -> &super::Principal {
        &self.cred.server
    }

    fn ap_req(&mut self) -> Result<Vec<u8>, KrbError> {
        let etype = self.cred.key.etype();
        let subkey = Key::random(etype)?;
        let mut seqb = [0u8; 4];
        getrandom::fill(&mut seqb).map_err(|_| KrbError::Random)?;
        let seq = u32::from_be_bytes(seqb) & 0x3fff_ffff;
        // [RFC 4121] 4.1.1: Lgth, Bnd (no channel bindings), Flags.
        let mut ck = Vec::with_capacity(24);
        ck.extend_from_slice(&16u32.to_le_bytes());
        ck.extend_from_slice(&[0u8; 16]);
        let f = gss_flags::MUTUAL
            | gss_flags::REPLAY
            | gss_flags::SEQUENCE
            | gss_flags::CONF
            | gss_flags::INTEG
            | gss_flags::DCE_STYLE;
        ck.extend_from_slice(&f.to_le_bytes());
        let auth = Authenticator {
            crealm: self.cred.client.realm.clone(),
            cname: self.cred.client.name.clone(),
            cksum: Some(Checksum {
                kind: 0x8003,
                value: ck,
            }),
            cusec: self.usec,
            ctime: self.now,
            subkey: Some(subkey.clone()),
            seq_number: Some(seq),
        };
        let enc = self.cred.key.encrypt(usage::AP_REQ_AUTH, &auth.encode())?;
        let req = ApReq {
            options: ap_options::MUTUAL_REQUIRED,
            ticket: self.cred.ticket.clone(),
            authenticator: EncryptedData {
                etype: etype.to_i32(),
                kvno: None,
                cipher: enc,
            },
        };
        self.state = State::WaitApRep {
            ctime: self.now,
            cusec: self.usec,
            subkey,
            seq,
        };
        let token = req.encode();
        Ok(match self.mech {
            KerberosMech::Raw => token,
            KerberosMech::Spnego => spnego::encode_init(&self.mech_types, &token),
        })
    }

    fn on_ap_rep(&mut self, input: &[u8]) -> Result<Vec<u8>, KrbError> {
        let State::WaitApRep {
            ctime,
            cusec,
            subkey,
            seq,
        } = std::mem::replace(&mut self.state, State::Failed)
        else {
            return Err(KrbError::State("ap-rep before the ap-req"));
        };
        let inner = match self.mech {
            KerberosMech::Raw => input.to_vec(),
            KerberosMech::Spnego => match NegToken::decode(input)? {
                NegToken::Resp {
                    state, mech, token, ..
                } => {
                    if state == Some(neg_state::REJECT) {
                        return match token.as_deref().map(|t| krb_error_in(t, self.now)) {
                            Some(Some(e)) => Err(e),
                            _ => Err(KrbError::Mismatch("spnego: the server rejected kerberos")),
                        };
                    }
                    if let Some(m) = mech {
                        if m != gss::OID_MS_KRB5 && m != gss::OID_KRB5 {
                            return Err(KrbError::Mismatch("spnego: the server chose another mechanism"));
                        }
                    }
                    token.ok_or(KrbError::Malformed("spnego response without a token"))?
                }
                NegToken::Init { .. } => return Err(KrbError::Malformed("spnego init from the server")),
            },
        };
        if let Some(e) = krb_error_in(&inner, self.now) {
            return Err(e);
        }
        let (_, bare) = gss::strip_gss_framing(&inner)?;
        let rep = ApRep::decode(bare)?;
        if rep.enc_part.etype != self.cred.key.etype().to_i32() {
            return Err(KrbError::Mismatch("ap-rep enctype differs from the session key"));
        }
        let plain = self.cred.key.decrypt(usage::AP_REP, &rep.enc_part.cipher)?;
        let part = EncApRepPart::decode(&plain)?;
        if part.ctime != ctime || part.cusec != cusec {
            return Err(KrbError::Mismatch("ap-rep does not answer our authenticator"));
        }
        let server_seq = part
            .seq_number
            .ok_or(KrbError::Malformed("ap-rep without a sequence number"))?;
        let (key, acceptor_subkey) = match part.subkey {
            Some(k) => {
                super::check_etype(k.etype().to_i32())?;
                (k, true)
            }
            None => (subkey, false),
        };
        let sub_flag = if acceptor_subkey { gss::flags::ACCEPTOR_SUBKEY } else { 0 };
        self.send = Some(Direction {
            key: key.clone(),
            seal_usage: usage::INITIATOR_SEAL,
            sign_usage: usage::INITIATOR_SIGN,
            seq: u64::from(seq),
            flags: sub_flag,
        });
        self.recv = Some(Direction {
            key,
            seal_usage: usage::ACCEPTOR_SEAL,
            sign_usage: usage::ACCEPTOR_SIGN,
            seq: u64::from(server_seq),
            flags: sub_flag | gss::flags::SENT_BY_ACCEPTOR,
        });
        // The third leg: an AP-REP as the server would make it, with the
        // server's sequence number and no subkey ([MS-KILE] 3.4.5.1).
        let ours = EncApRepPart {
            ctime: self.now,
            cusec: self.usec,
            subkey: None,
            seq_number: Some(server_seq),
        };
        let enc = self.cred.key.encrypt(usage::AP_REP, &ours.encode())?;
        let token = ApRep {
            enc_part: EncryptedData {
                etype: self.cred.key.etype().to_i32(),
                kvno: None,
                cipher: enc,
            },
        }
        .encode();
        Ok(match self.mech {
            KerberosMech::Raw => {
                self.state = State::Established;
                token
            }
            KerberosMech::Spnego => {
                self.state = State::WaitFinal;
                spnego::encode_resp(None, Some(&token), None)
            }
        })
    }

    /// The server's answer to our AP-REP. Windows completes at once
    /// (accept-completed, with or without its mechListMIC); Samba answers
    /// accept-incomplete with its mechListMIC and waits for ours ([RFC 4178]
    /// 5: both MICs when the acceptor sends one), which goes in one more
    /// alter_context; `Some(token)` is that leg.
    fn on_final(&mut self, input: &[u8], mic_sent: bool) -> Result<Option<Vec<u8>>, KrbError> {
        self.state = State::Failed;
        match NegToken::decode(input)? {
            NegToken::Resp { state, mic, token, .. } => {
                if let Some(e) = token.as_deref().and_then(|t| krb_error_in(t, self.now)) {
                    return Err(e);
                }
                match state {
                    Some(neg_state::ACCEPT_COMPLETED) => {
                        if let Some(mic) = mic {
                            self.verify_mech_list_mic(&mic)?;
                        }
                        self.state = State::Established;
                        Ok(None)
                    }
                    Some(neg_state::ACCEPT_INCOMPLETE) | Some(neg_state::REQUEST_MIC) if !mic_sent => {
                        if let Some(mic) = mic {
                            self.verify_mech_list_mic(&mic)?;
                        }
                        let send = self.send.as_mut().ok_or(KrbError::State("no keys"))?;
                        let ours = send.mic(&self.mech_types)?;
                        self.state = State::WaitMicAck;
                        Ok(Some(spnego::encode_resp(None, None, Some(&ours))))
                    }
                    Some(neg_state::REJECT) => Err(KrbError::Mismatch("spnego: the server rejected the exchange")),
                    _ => Err(KrbError::Mismatch("spnego: the server did not complete the exchange")),
                }
            }
            NegToken::Init { .. } => Err(KrbError::Malformed("spnego init from the server")),
        }
    }

    /// The acceptor's mechListMIC is a MIC token over the MechTypeList we sent.
    fn verify_mech_list_mic(&mut self, mic: &[u8]) -> Result<(), KrbError> {
        let recv = self.recv.as_mut().ok_or(KrbError::State("no keys"))?;
        let hdr = gss::WrapHeader::decode(mic)?;
        if hdr.tok_id != 0x0404 || mic.len() != gss::MIC_SIG_LEN {
            return Err(KrbError::Malformed("mech list mic"));
        }
        let ck = recv.key.checksum(recv.sign_usage, &[&self.mech_types, &mic[..gss::HEADER_LEN]])?;
        if !super::crypto::ct_eq(&ck, &mic[gss::HEADER_LEN..]) {
            return Err(KrbError::Integrity);
        }
        if hdr.seq == recv.seq {
            recv.seq = recv.seq.wrapping_add(1);
        }
        Ok(())
    }

    fn regions(&self, seal: Option<Range<usize>>) -> Regions {
        Regions {
            seal,
            header_signing: self.header_signing,
        }
    }
}

/// A KRB-ERROR inside a token (framed or bare), as an error, with the server's clock
/// against `now` (the time of our AP-REQ).
fn krb_error_in(token: &[u8], now: i64) -> Option<KrbError> {
    let bare = match gss::strip_gss_framing(token) {
        Ok((_, b)) => b,
        Err(_) => token,
    };
    if !messages::KrbErrorMsg::is_krb_error(bare) {
        return None;
    }
    Some(match messages::KrbErrorMsg::decode(bare) {
        Ok(e) => KrbError::protocol(e.code, Some(e.stime - now)),
        Err(e) => e,
    })
}

impl SecurityContext for KerberosClient {
    fn auth_type(&self) -> AuthType {
        match self.mech {
            KerberosMech::Raw => AuthType::GssKerberos,
            KerberosMech::Spnego => AuthType::GssNegotiate,
        }
    }

    fn step(&mut self, input: Option<&[u8]>) -> Result<Step, AuthError> {
        let r = match (&self.state, input) {
            (State::Initial, None) => self.ap_req().map(Step::Continue),
            (State::WaitApRep { .. }, Some(t)) => self.on_ap_rep(t).map(Step::Continue),
            (State::WaitFinal, Some(t)) => self.on_final(t, false).map(|next| match next {
                Some(leg) => Step::Continue(leg),
                None => Step::Done(None),
            }),
            (State::WaitMicAck, Some(t)) => self.on_final(t, true).map(|_| Step::Done(None)),
            _ => Err(KrbError::State("unexpected token")),
        };
        if r.is_err() {
            self.state = State::Failed;
        }
        Ok(r?)
    }

    fn is_established(&self) -> bool {
        matches!(self.state, State::Established)
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

    fn protect(&mut self, message: &mut [u8], seal: Option<Range<usize>>) -> Result<Vec<u8>, AuthError> {
        if !self.is_established() {
            return Err(AuthError::State("protect before the context is established"));
        }
        let r = self.regions(seal);
        let send = self.send.as_mut().ok_or(AuthError::State("no keys"))?;
        Ok(send.protect(message, &r)?)
    }

    fn unprotect(
        &mut self,
        message: &mut [u8],
        seal: Option<Range<usize>>,
        signature: &[u8],
    ) -> Result<(), AuthError> {
        if !self.is_established() {
            return Err(AuthError::State("unprotect before the context is established"));
        }
        let r = self.regions(seal);
        let recv = self.recv.as_mut().ok_or(AuthError::State("no keys"))?;
        match recv.unprotect(message, &r, signature) {
            Ok(()) => Ok(()),
            Err(KrbError::Integrity) => Err(AuthError::BadSignature),
            Err(e) => Err(e.into()),
        }
    }
}
