//! The Kerberos acceptor, DCE style ([MS-KILE] 3.4.5.1), for the simulator:
//! a host given its keys (a keytab) accepts AP-REQs for its SPNs and answers
//! the failures as Windows does, with a KRB-ERROR naming the code:
//!
//! * a ticket for a principal not in the keytab: `KRB_AP_ERR_NOT_US` (35);
//! * a ticket it cannot decrypt (wrong key, stale kvno): `KRB_AP_ERR_MODIFIED` (41);
//! * an authenticator more than five minutes from our clock: `KRB_AP_ERR_SKEW` (37);
//! * an authenticator seen before: `KRB_AP_ERR_REPEAT` (34);
//! * an expired ticket: `KRB_AP_ERR_TKT_EXPIRED` (32), not yet valid: `KRB_AP_ERR_TKT_NYV` (33).
//!
//! The replay cache is shared by every context of a host ([`ReplayCache`]),
//! and the clock is an argument.

use std::collections::{HashSet, VecDeque};
use std::ops::Range;
use std::sync::{Arc, Mutex};

use super::exchange::{Credential, Principal};
use super::files::Keytab;
use super::gss::{self, Direction, Regions};
use super::messages::{
    usage, ApRep, ApReq, Authenticator, EncApRepPart, EncTicketPart, EncryptedData, KrbErrorMsg,
    PrincipalName, Ticket,
};
use super::spnego::{self, neg_state, NegToken};
use super::{codes, Key, KerberosMech, KrbError};
use crate::{AuthError, AuthLevel, AuthType, SecurityContext, Step};

/// Authenticators seen recently, per host: (client, ctime, cusec).
#[derive(Debug, Default)]
pub struct ReplayCache {
    seen: HashSet<(String, i64, u32)>,
    order: VecDeque<(String, i64, u32)>,
}

impl ReplayCache {
    /// Most entries kept.
    const MAX: usize = 65_536;

    /// Records an authenticator; false if it was seen already.
    fn record(&mut self, key: (String, i64, u32)) -> bool {
        if !self.seen.insert(key.clone()) {
            return false;
        }
        self.order.push_back(key);
        while self.order.len() > Self::MAX {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }
}

#[derive(Debug)]
enum State {
    WaitApReq,
    WaitApRep { session: Key, seq: u32 },
    Established,
    Failed,
}

/// What the acceptor learnt about its peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The client principal from the ticket.
    pub client: Principal,
}

/// A DCE-style Kerberos acceptor for one security context.
pub struct KerberosServer {
    mech: KerberosMech,
    keytab: Arc<Keytab>,
    realm: String,
    replay: Arc<Mutex<ReplayCache>>,
    now: i64,
    seal: bool,
    header_signing: bool,
    state: State,
    peer: Option<Peer>,
    send: Option<Direction>,
    recv: Option<Direction>,
    /// The last failure's code, for the host to log or answer.
    pub last_error: Option<i32>,
}

impl std::fmt::Debug for KerberosServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KerberosServer")
            .field("mech", &self.mech)
            .field("realm", &self.realm)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl KerberosServer {
    /// An acceptor with the keys of `keytab` in `realm` at time `now`, for an
    /// association at `level`, sharing `replay` with the host's other contexts.
    pub fn new(
        mech: KerberosMech,
        keytab: Arc<Keytab>,
        realm: &str,
        replay: Arc<Mutex<ReplayCache>>,
        level: AuthLevel,
        now: i64,
    ) -> KerberosServer {
        KerberosServer {
            mech,
            keytab,
            realm: realm.to_owned(),
            replay,
            now,
            seal: level.seals(),
            header_signing: true,
            state: State::WaitApReq,
            peer: None,
            send: None,
            recv: None,
            last_error: None,
        }
    }

    /// The authenticated client, once the AP-REQ verified.
    pub fn peer(&self) -> Option<&Peer> {
        self.peer.as_ref()
    }

    fn error_token(&self, code: i32, sname: &PrincipalName) -> Vec<u8> {
        let e = KrbErrorMsg::encode(code, self.now, &self.realm, sname);
        match self.mech {
            KerberosMech::Raw => e,
            KerberosMech::Spnego => spnego::encode_resp(Some(neg_state::REJECT), Some(&e), None),
        }
    }

    fn on_ap_req(&mut self, input: &[u8]) -> Result<Vec<u8>, (i32, PrincipalName)> {
        let unknown = PrincipalName::new(2, "unknown");
        let bare = match self.mech {
            KerberosMech::Raw => input.to_vec(),
            KerberosMech::Spnego => match NegToken::decode(input) {
                Ok(NegToken::Init { token: Some(t), mech_types }) => {
                    if !mech_types.iter().any(|m| m == gss::OID_MS_KRB5 || m == gss::OID_KRB5) {
                        return Err((codes::KRB_ERR_GENERIC, unknown));
                    }
                    t
                }
                _ => return Err((codes::KRB_ERR_GENERIC, unknown)),
            },
        };
        let bare = match gss::strip_gss_framing(&bare) {
            Ok((_, b)) => b.to_vec(),
            Err(_) => return Err((codes::KRB_ERR_GENERIC, unknown)),
        };
        let req = ApReq::decode(&bare).map_err(|_| (codes::KRB_ERR_GENERIC, unknown.clone()))?;
        let sname = req.ticket.sname.clone();
        let me = Principal { realm: req.ticket.realm.clone(), name: sname.clone() };
        if !me.realm.eq_ignore_ascii_case(&self.realm) {
            return Err((codes::name_code("KRB_AP_ERR_NOT_US"), sname));
        }
        // Our own principal's keys first, then any key of the enctype (an
        // SPN of our account that the keytab lists under the account name).
        let listed = !self.keytab.keys_for(&me).is_empty();
        let keys = self.keytab.candidates(&me, req.ticket.enc_part.etype);
        let part = keys
            .iter()
            .find_map(|k| k.decrypt(usage::TICKET, &req.ticket.enc_part.cipher).ok())
            .and_then(|p| EncTicketPart::decode(&p).ok());
        let part = match part {
            Some(p) => p,
            // Not decryptable: a principal we hold is a wrong key (a
            // password change since the ticket), another one is not us.
            None if listed => return Err((codes::KRB_AP_ERR_MODIFIED, sname)),
            None => return Err((codes::name_code("KRB_AP_ERR_NOT_US"), sname)),
        };
        let plain = part
            .key
            .decrypt(usage::AP_REQ_AUTH, &req.authenticator.cipher)
            .map_err(|_| (codes::KRB_AP_ERR_MODIFIED, sname.clone()))?;
        let auth = Authenticator::decode(&plain).map_err(|_| (codes::KRB_AP_ERR_MODIFIED, sname.clone()))?;
        let client = Principal { realm: part.crealm.clone(), name: part.cname.clone() };
        if !client.same_as(&Principal { realm: auth.crealm.clone(), name: auth.cname.clone() }) {
            return Err((codes::name_code("KRB_AP_ERR_BADMATCH"), sname));
        }
        // The ticket's times first ([RFC 4120] 3.2.3), then the
        // authenticator's: a client whose clock is far off and whose ticket
        // has expired by ours hears "expired", the more useful of the two.
        if part.endtime + super::cache::CLOCK_SKEW < self.now {
            return Err((codes::KRB_AP_ERR_TKT_EXPIRED, sname));
        }
        if part.starttime.unwrap_or(part.authtime) > self.now + super::cache::CLOCK_SKEW {
            return Err((codes::name_code("KRB_AP_ERR_TKT_NYV"), sname));
        }
        if (auth.ctime - self.now).abs() > super::cache::CLOCK_SKEW {
            return Err((codes::KRB_AP_ERR_SKEW, sname));
        }
        let fresh = self
            .replay
            .lock()
            .map(|mut r| r.record((client.to_string().to_ascii_lowercase(), auth.ctime, auth.cusec)))
            .unwrap_or(false);
        if !fresh {
            return Err((codes::KRB_AP_ERR_REPEAT, sname));
        }
        let client_seq = auth.seq_number.unwrap_or(0);
        let etype = part.key.etype();
        let acceptor_subkey = Key::random(etype).map_err(|_| (codes::KRB_ERR_GENERIC, sname.clone()))?;
        let mut sb = [0u8; 4];
        getrandom::fill(&mut sb).map_err(|_| (codes::KRB_ERR_GENERIC, sname.clone()))?;
        let seq = u32::from_be_bytes(sb) & 0x3fff_ffff;
        let rep_part = EncApRepPart {
            ctime: auth.ctime,
            cusec: auth.cusec,
            subkey: Some(acceptor_subkey.clone()),
            seq_number: Some(seq),
        };
        let cipher = part
            .key
            .encrypt(usage::AP_REP, &rep_part.encode())
            .map_err(|_| (codes::KRB_ERR_GENERIC, sname.clone()))?;
        let rep = ApRep { enc_part: EncryptedData { etype: etype.to_i32(), kvno: None, cipher } }.encode();
        let f = gss::flags::ACCEPTOR_SUBKEY;
        self.send = Some(Direction {
            key: acceptor_subkey.clone(),
            seal_usage: usage::ACCEPTOR_SEAL,
            sign_usage: usage::ACCEPTOR_SIGN,
            seq: u64::from(seq),
            flags: f | gss::flags::SENT_BY_ACCEPTOR,
        });
        self.recv = Some(Direction {
            key: acceptor_subkey,
            seal_usage: usage::INITIATOR_SEAL,
            sign_usage: usage::INITIATOR_SIGN,
            seq: u64::from(client_seq),
            flags: f,
        });
        self.peer = Some(Peer { client });
        self.state = State::WaitApRep { session: part.key, seq };
        Ok(match self.mech {
            KerberosMech::Raw => rep,
            KerberosMech::Spnego => {
                let mut init = Vec::new();
                init.extend_from_slice(&super::der::explicit(0, &super::der::tlv(super::der::tag::ENUMERATED, &[neg_state::ACCEPT_INCOMPLETE])));
                init.extend_from_slice(&super::der::explicit(1, &super::der::tlv(super::der::tag::OID, gss::OID_MS_KRB5)));
                init.extend_from_slice(&super::der::explicit(2, &super::der::octets(&rep)));
                super::der::explicit(1, &super::der::tlv(super::der::tag::SEQUENCE, &init))
            }
        })
    }

    fn on_third_leg(&mut self, input: &[u8]) -> Result<Option<Vec<u8>>, KrbError> {
        let State::WaitApRep { session, seq } = std::mem::replace(&mut self.state, State::Failed) else {
            return Err(KrbError::State("third leg out of order"));
        };
        let token = match self.mech {
            KerberosMech::Raw => input.to_vec(),
            KerberosMech::Spnego => match NegToken::decode(input)? {
                NegToken::Resp { token: Some(t), .. } => t,
                _ => return Err(KrbError::Malformed("spnego third leg without a token")),
            },
        };
        let rep = ApRep::decode(&token)?;
        let part = EncApRepPart::decode(&session.decrypt(usage::AP_REP, &rep.enc_part.cipher)?)?;
        if part.seq_number != Some(seq) {
            return Err(KrbError::Mismatch("third leg does not carry our sequence number"));
        }
        self.state = State::Established;
        Ok(match self.mech {
            KerberosMech::Raw => None,
            KerberosMech::Spnego => Some(spnego::encode_resp(Some(neg_state::ACCEPT_COMPLETED), None, None)),
        })
    }
}

impl SecurityContext for KerberosServer {
    fn auth_type(&self) -> AuthType {
        match self.mech {
            KerberosMech::Raw => AuthType::GssKerberos,
            KerberosMech::Spnego => AuthType::GssNegotiate,
        }
    }

    fn step(&mut self, input: Option<&[u8]>) -> Result<Step, AuthError> {
        let input = input.ok_or(AuthError::State("an acceptor needs a token"))?;
        match self.state {
            State::WaitApReq => match self.on_ap_req(input) {
                Ok(t) => Ok(Step::Continue(t)),
                Err((code, sname)) => {
                    self.last_error = Some(code);
                    self.state = State::Failed;
                    // The KRB-ERROR goes back to the client; the context stays
                    // failed (Done without being established).
                    Ok(Step::Done(Some(self.error_token(code, &sname))))
                }
            },
            State::WaitApRep { .. } => match self.on_third_leg(input) {
                Ok(t) => Ok(Step::Done(t)),
                Err(e) => {
                    self.state = State::Failed;
                    Err(e.into())
                }
            },
            _ => Err(AuthError::State("unexpected token")),
        }
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
        let r = Regions { seal, header_signing: self.header_signing };
        let send = self.send.as_mut().filter(|_| matches!(self.state, State::Established));
        let send = send.ok_or(AuthError::State("protect before the context is established"))?;
        Ok(send.protect(message, &r)?)
    }

    fn unprotect(&mut self, message: &mut [u8], seal: Option<Range<usize>>, signature: &[u8]) -> Result<(), AuthError> {
        let r = Regions { seal, header_signing: self.header_signing };
        let established = matches!(self.state, State::Established);
        let recv = self.recv.as_mut().filter(|_| established);
        let recv = recv.ok_or(AuthError::State("unprotect before the context is established"))?;
        match recv.unprotect(message, &r, signature) {
            Ok(()) => Ok(()),
            Err(KrbError::Integrity) => Err(AuthError::BadSignature),
            Err(e) => Err(e.into()),
        }
    }
}

/// Issues a service ticket as a KDC would (tests and the simulator's
/// fixtures): `client` for `server`, encrypted with `service_key`, valid
/// from `start` to `end`.
pub fn issue_ticket(
    service_key: &Key,
    kvno: u32,
    client: &Principal,
    server: &Principal,
    start: i64,
    end: i64,
) -> Result<Credential, KrbError> {
    let session = Key::random(service_key.etype())?;
    let part = EncTicketPart {
        flags: 0x4081_0000,
        key: session.clone(),
        crealm: client.realm.clone(),
        cname: client.name.clone(),
        authtime: start,
        starttime: Some(start),
        endtime: end,
    };
    let enc = EncryptedData {
        etype: service_key.etype().to_i32(),
        kvno: Some(kvno),
        cipher: service_key.encrypt(usage::TICKET, &part.encode())?,
    };
    Ok(Credential {
        client: client.clone(),
        server: server.clone(),
        key: session,
        ticket: Ticket::build(&server.realm, &server.name, enc),
        flags: part.flags,
        authtime: start,
        starttime: Some(start),
        endtime: end,
        renew_till: None,
    })
}
