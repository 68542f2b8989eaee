//! The pure halves of the KDC exchanges, [RFC 4120] 3.1 (AS) and 3.3 (TGS):
//! build a request, read the reply into a [`Credential`], turn a KRB-ERROR
//! into a named [`KrbError`]. The caller moves the bytes (over TCP, with a
//! deadline) and supplies the clock and the nonce.

use super::der;
use super::messages::{
    self, kdc_options, name_type, pa, usage, ApReq, Authenticator, Checksum, EncKdcRepPart,
    EncryptedData, KdcRep, KdcReqBody, KrbErrorMsg, PaData, PrincipalName, Ticket,
};
use super::{check_etype, codes, Etype, Key, KrbError, OFFERED_ETYPES};

/// Windows' "no end": KDCs cap the lifetime at their policy.
const TILL: i64 = 2_136_422_885; // 2037-09-13 02:48:05 UTC

/// A principal: a name in a realm.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Principal {
    /// The realm (upper case by convention).
    pub realm: String,
    /// The name.
    pub name: PrincipalName,
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.name.joined(), self.realm)
    }
}

impl Principal {
    /// A user (`NT-PRINCIPAL`).
    pub fn user(name: &str, realm: &str) -> Principal {
        Principal {
            realm: realm.to_owned(),
            name: PrincipalName::new(name_type::PRINCIPAL, name),
        }
    }

    /// A service (`NT-SRV-INST`, as Windows sends SPNs): `host/web1.lab.example`.
    pub fn service(spn: &str, realm: &str) -> Principal {
        Principal {
            realm: realm.to_owned(),
            name: PrincipalName::new(name_type::SRV_INST, spn),
        }
    }

    /// `krbtgt/REALM@REALM`.
    pub fn krbtgt(realm: &str) -> Principal {
        Principal::service(&format!("krbtgt/{realm}"), realm)
    }

    /// Parses `user@REALM`, `DOMAIN\user` (with `default_realm`) or `user`.
    pub fn parse_user(s: &str, default_realm: Option<&str>) -> Result<Principal, KrbError> {
        let s = s.trim();
        if let Some((name, realm)) = s.rsplit_once('@') {
            if name.is_empty() || realm.is_empty() {
                return Err(KrbError::Malformed("principal name"));
            }
            return Ok(Principal::user(name, &realm.to_uppercase()));
        }
        let (dom, name) = match s.split_once('\\') {
            Some((d, n)) => (Some(d), n),
            None => (None, s),
        };
        let realm = default_realm
            .map(str::to_owned)
            .or_else(|| dom.filter(|d| d.contains('.')).map(str::to_uppercase))
            .ok_or(KrbError::Malformed("principal has no realm; write user@REALM"))?;
        if name.is_empty() {
            return Err(KrbError::Malformed("principal name"));
        }
        Ok(Principal::user(name, &realm.to_uppercase()))
    }

    /// The default salt, [RFC 4120] 4: the realm then each component.
    pub fn default_salt(&self) -> Vec<u8> {
        let mut s = self.realm.as_bytes().to_vec();
        for c in &self.name.components {
            s.extend_from_slice(c.as_bytes());
        }
        s
    }

    /// Same principal, realm and names compared case-insensitively (KDCs
    /// canonicalize case).
    pub fn same_as(&self, other: &Principal) -> bool {
        self.realm.eq_ignore_ascii_case(&other.realm)
            && self.name.components.len() == other.name.components.len()
            && self
                .name
                .components
                .iter()
                .zip(&other.name.components)
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
    }
}

/// A ticket with its session key and times: what a ccache entry holds.
///
/// INVARIANT: `Debug` prints names and times only (the key's and the
/// ticket's `Debug` are redacted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    /// The client.
    pub client: Principal,
    /// The service (krbtgt/REALM for a TGT).
    pub server: Principal,
    /// The session key.
    pub key: Key,
    /// The ticket.
    pub ticket: Ticket,
    /// Ticket flags.
    pub flags: u32,
    /// authtime (Unix seconds).
    pub authtime: i64,
    /// starttime.
    pub starttime: Option<i64>,
    /// endtime.
    pub endtime: i64,
    /// renew-till.
    pub renew_till: Option<i64>,
}

impl Credential {
    /// Whether it is a TGT.
    pub fn is_tgt(&self) -> bool {
        self.server.name.components.first().is_some_and(|c| c == "krbtgt")
    }
}

/// What the client proves itself with in an AS exchange.
pub enum ClientSecret {
    /// A password (keys are derived per enctype and salt).
    Password(Password),
    /// Long-term keys (a keytab).
    Keys(Vec<Key>),
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientSecret::Password(_) => f.write_str("Password(<redacted>)"),
            ClientSecret::Keys(k) => write!(f, "Keys({k:?})"),
        }
    }
}

/// A password; wiped on drop, never printed.
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(p: String) -> Password {
        Password(p)
    }

    /// A second copy (for one AS exchange), wiped on drop like the first.
    pub fn clone_secret(&self) -> Password {
        Password(self.0.clone())
    }
}

impl Drop for Password {
    fn drop(&mut self) {
        let mut v = std::mem::take(&mut self.0).into_bytes();
        v.iter_mut().for_each(|b| *b = 0);
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl ClientSecret {
    /// The long-term key for `etype` with `salt` and s2kparams.
    fn key_for(&self, etype: Etype, salt: &[u8], params: Option<&[u8]>) -> Result<Key, KrbError> {
        match self {
            ClientSecret::Password(p) => {
                let iterations = match params {
                    Some([a, b, c, d]) => u32::from_be_bytes([*a, *b, *c, *d]),
                    Some(_) => return Err(KrbError::Malformed("s2kparams")),
                    None => super::crypto::DEFAULT_ITERATIONS,
                };
                Key::from_password(etype, &p.0, salt, iterations)
            }
            ClientSecret::Keys(keys) => keys
                .iter()
                .find(|k| k.etype() == etype)
                .cloned()
                .ok_or(KrbError::UnsupportedEtype(etype.to_i32())),
        }
    }

    fn etypes(&self) -> Vec<Etype> {
        match self {
            ClientSecret::Password(_) => OFFERED_ETYPES.to_vec(),
            ClientSecret::Keys(k) => OFFERED_ETYPES
                .iter()
                .copied()
                .filter(|e| k.iter().any(|x| x.etype() == *e))
                .collect(),
        }
    }
}

/// A KRB-ERROR reply as an error (with the skew against `now`).
pub fn error_from_reply(reply: &[u8], now: i64) -> Option<KrbError> {
    if !KrbErrorMsg::is_krb_error(reply) {
        return None;
    }
    Some(match KrbErrorMsg::decode(reply) {
        Ok(e) => KrbError::protocol(e.code, Some(e.stime - now)),
        Err(e) => e,
    })
}

/// One AS exchange (one or two round trips: the first without
/// pre-authentication learns the salt from KDC_ERR_PREAUTH_REQUIRED).
#[derive(Debug)]
pub struct AsExchange {
    client: Principal,
    secret: ClientSecret,
    nonce: u32,
    /// The key used for PA-ENC-TIMESTAMP, kept to decrypt the reply.
    key: Option<Key>,
    /// Salt / params learnt from the KDC, per enctype.
    info: Vec<messages::EtypeInfo>,
    round: u8,
}

/// What to do after reading an AS reply.
#[derive(Debug)]
pub enum AsNext {
    /// Send this request (pre-authenticated) and read its reply.
    Send(Vec<u8>),
    /// The TGT.
    Done(Box<Credential>),
}

impl AsExchange {
    /// Starts an AS exchange for `client`. `nonce` is fresh randomness.
    pub fn new(client: Principal, secret: ClientSecret, nonce: u32) -> Result<AsExchange, KrbError> {
        if secret.etypes().is_empty() {
            return Err(KrbError::Rc4Refused);
        }
        Ok(AsExchange {
            client,
            secret,
            nonce: nonce & 0x7fff_ffff,
            key: None,
            info: Vec::new(),
            round: 0,
        })
    }

    fn body(&self) -> Vec<u8> {
        KdcReqBody {
            options: kdc_options::FORWARDABLE | kdc_options::RENEWABLE | kdc_options::CANONICALIZE,
            cname: Some(self.client.name.clone()),
            realm: self.client.realm.clone(),
            sname: Principal::krbtgt(&self.client.realm).name,
            till: TILL,
            nonce: self.nonce,
            etypes: self.secret.etypes().iter().map(|e| e.to_i32()).collect(),
        }
        .encode()
    }

    /// The first request (no pre-authentication, so the KDC tells the salt).
    pub fn first_request(&mut self) -> Vec<u8> {
        self.round = 1;
        let pac = PaData {
            kind: pa::PAC_REQUEST,
            value: messages::encode_pac_request(true),
        };
        messages::encode_kdc_req(10, &[pac], &self.body())
    }

    fn choose(&self) -> Result<(Etype, Vec<u8>, Option<Vec<u8>>), KrbError> {
        #![allow(clippy::type_complexity)]
        let mut saw_rc4 = false;
        for want in self.secret.etypes() {
            for (e, salt, params) in &self.info {
                if *e == want.to_i32() {
                    let salt = salt
                        .as_ref()
                        .map(|s| s.as_bytes().to_vec())
                        .unwrap_or_else(|| self.client.default_salt());
                    return Ok((want, salt, params.clone()));
                }
            }
        }
        for (e, _, _) in &self.info {
            saw_rc4 |= *e == Etype::Rc4Hmac.to_i32();
        }
        if saw_rc4 || self.info.is_empty() {
            if saw_rc4 {
                return Err(KrbError::Rc4Refused);
            }
            let first = self.secret.etypes()[0];
            return Ok((first, self.client.default_salt(), None));
        }
        Err(KrbError::protocol(codes::KDC_ERR_ETYPE_NOSUPP, None))
    }

    fn learn(&mut self, padata: &[PaData]) -> Result<(), KrbError> {
        for p in padata {
            if p.kind == pa::ETYPE_INFO2 {
                self.info = messages::etype_info2(&p.value)?;
            }
        }
        Ok(())
    }

    /// Reads a reply at time `now` (Unix seconds, `usec` microseconds).
    pub fn read_reply(&mut self, reply: &[u8], now: i64, usec: u32) -> Result<AsNext, KrbError> {
        if KrbErrorMsg::is_krb_error(reply) {
            let e = KrbErrorMsg::decode(reply)?;
            if e.code == codes::KDC_ERR_PREAUTH_REQUIRED && self.round == 1 {
                if let Some(d) = &e.e_data {
                    self.learn(&PaData::decode_list(d)?)?;
                }
                let (etype, salt, params) = self.choose()?;
                let key = self.secret.key_for(etype, &salt, params.as_deref())?;
                let ts = messages::encode_pa_enc_ts(now, usec.min(999_999));
                let enc = EncryptedData {
                    etype: etype.to_i32(),
                    kvno: None,
                    cipher: key.encrypt(usage::PA_ENC_TIMESTAMP, &ts)?,
                };
                self.key = Some(key);
                self.round = 2;
                let pads = [
                    PaData {
                        kind: pa::ENC_TIMESTAMP,
                        value: enc.encode(),
                    },
                    PaData {
                        kind: pa::PAC_REQUEST,
                        value: messages::encode_pac_request(true),
                    },
                ];
                return Ok(AsNext::Send(messages::encode_kdc_req(10, &pads, &self.body())));
            }
            return Err(KrbError::protocol(e.code, Some(e.stime - now)));
        }
        let rep = KdcRep::decode(reply)?;
        if rep.msg_type != 11 {
            return Err(KrbError::Mismatch("expected an as-rep"));
        }
        self.learn(&rep.padata)?;
        let etype = check_etype(rep.enc_part.etype)?;
        let key = match &self.key {
            Some(k) if k.etype() == etype => k.clone(),
            _ => {
                let (salt, params) = self
                    .info
                    .iter()
                    .find(|(e, _, _)| *e == etype.to_i32())
                    .map(|(_, s, p)| {
                        (
                            s.as_ref()
                                .map(|s| s.as_bytes().to_vec())
                                .unwrap_or_else(|| self.client.default_salt()),
                            p.clone(),
                        )
                    })
                    .unwrap_or_else(|| (self.client.default_salt(), None));
                self.secret.key_for(etype, &salt, params.as_deref())?
            }
        };
        let plain = key.decrypt(usage::AS_REP, &rep.enc_part.cipher).map_err(|e| match e {
            // A password that derives the wrong key without preauth.
            KrbError::Integrity => KrbError::protocol(codes::KDC_ERR_PREAUTH_FAILED, None),
            e => e,
        })?;
        let part = EncKdcRepPart::decode(&plain)?;
        if part.nonce != self.nonce {
            return Err(KrbError::Mismatch("as-rep nonce"));
        }
        let server = Principal {
            realm: part.srealm.clone(),
            name: part.sname.clone(),
        };
        if !server.same_as(&Principal::krbtgt(&self.client.realm)) {
            return Err(KrbError::Mismatch("as-rep is not for krbtgt of our realm"));
        }
        let client = Principal {
            realm: rep.crealm.clone(),
            name: rep.cname.clone(),
        };
        Ok(AsNext::Done(Box::new(credential(client, server, rep.ticket, part))))
    }
}

fn credential(client: Principal, server: Principal, ticket: Ticket, part: EncKdcRepPart) -> Credential {
    Credential {
        client,
        server,
        key: part.key,
        ticket,
        flags: part.flags,
        authtime: part.authtime,
        starttime: part.starttime,
        endtime: part.endtime,
        renew_till: part.renew_till,
    }
}

/// One TGS exchange for `service` with `tgt`.
#[derive(Debug)]
pub struct TgsExchange {
    service: Principal,
    tgt_key: Key,
    client: Principal,
    nonce: u32,
}

impl TgsExchange {
    /// Builds the TGS-REQ at time `now`; returns the exchange and the bytes.
    pub fn new(
        tgt: &Credential,
        service: &Principal,
        now: i64,
        usec: u32,
        nonce: u32,
    ) -> Result<(TgsExchange, Vec<u8>), KrbError> {
        if !tgt.is_tgt() {
            return Err(KrbError::State("tgs exchange without a tgt"));
        }
        if tgt.endtime <= now {
            return Err(KrbError::TicketTime("expired (the tgt)"));
        }
        check_etype(tgt.key.etype().to_i32())?;
        let nonce = nonce & 0x7fff_ffff;
        // Ask only for what the TGT allows: a KDC answers KDC_ERR_BADOPTION
        // to "renewable" with a TGT that is not ([RFC 4120] 3.3.3).
        let mut options = kdc_options::CANONICALIZE;
        if tgt.flags & messages::ticket_flags::FORWARDABLE != 0 {
            options |= kdc_options::FORWARDABLE;
        }
        if tgt.flags & messages::ticket_flags::RENEWABLE != 0 {
            options |= kdc_options::RENEWABLE;
        }
        let body = KdcReqBody {
            options,
            cname: None,
            realm: service.realm.clone(),
            sname: service.name.clone(),
            till: TILL,
            nonce,
            etypes: OFFERED_ETYPES.iter().map(|e| e.to_i32()).collect(),
        }
        .encode();
        let ck = tgt.key.checksum(usage::TGS_REQ_CKSUM, &[&body])?;
        let auth = Authenticator {
            crealm: tgt.client.realm.clone(),
            cname: tgt.client.name.clone(),
            cksum: Some(Checksum {
                kind: tgt.key.checksum_type(),
                value: ck.to_vec(),
            }),
            cusec: usec.min(999_999),
            ctime: now,
            subkey: None,
            seq_number: None,
        };
        let ap = ApReq {
            options: 0,
            ticket: tgt.ticket.clone(),
            authenticator: EncryptedData {
                etype: tgt.key.etype().to_i32(),
                kvno: None,
                cipher: tgt.key.encrypt(usage::TGS_REQ_AUTH, &auth.encode())?,
            },
        };
        let pads = [PaData {
            kind: pa::TGS_REQ,
            value: ap.encode(),
        }];
        let req = messages::encode_kdc_req(12, &pads, &body);
        Ok((
            TgsExchange {
                service: service.clone(),
                tgt_key: tgt.key.clone(),
                client: tgt.client.clone(),
                nonce,
            },
            req,
        ))
    }

    /// Reads the reply at `now`.
    pub fn read_reply(&self, reply: &[u8], now: i64) -> Result<Credential, KrbError> {
        if let Some(e) = error_from_reply(reply, now) {
            return Err(e);
        }
        let rep = KdcRep::decode(reply)?;
        if rep.msg_type != 13 {
            return Err(KrbError::Mismatch("expected a tgs-rep"));
        }
        if rep.enc_part.etype != self.tgt_key.etype().to_i32() {
            return Err(KrbError::Mismatch("tgs-rep enctype differs from the tgt session key"));
        }
        let plain = self.tgt_key.decrypt(usage::TGS_REP_SESSION, &rep.enc_part.cipher)?;
        let part = EncKdcRepPart::decode(&plain)?;
        if part.nonce != self.nonce {
            return Err(KrbError::Mismatch("tgs-rep nonce"));
        }
        let server = Principal {
            realm: part.srealm.clone(),
            name: part.sname.clone(),
        };
        if server.name.components.first().is_some_and(|c| c == "krbtgt")
            && self.service.name.components.first().is_none_or(|c| c != "krbtgt")
        {
            return Err(KrbError::Mismatch("the kdc sent a referral; cross-realm is not supported"));
        }
        let client = Principal {
            realm: rep.crealm.clone(),
            name: rep.cname.clone(),
        };
        if !client.same_as(&self.client) {
            return Err(KrbError::Mismatch("tgs-rep names another client"));
        }
        Ok(credential(client, server, rep.ticket, part))
    }
}

/// The SPN of a target: `host/<fqdn>`, or the override. An address (or a
/// single-label name with no realm to qualify it) is refused: Kerberos
/// needs the name the computer account is registered under.
pub fn spn_for(target: &str, spn_override: Option<&str>) -> Result<String, KrbError> {
    if let Some(s) = spn_override {
        if s.is_empty() || !s.contains('/') {
            return Err(KrbError::Malformed("spn must look like service/host"));
        }
        return Ok(s.to_owned());
    }
    let t = target.trim().trim_end_matches('.');
    let bare = t.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::IpAddr>().is_ok() {
        return Err(KrbError::AddressOnly(bare.to_owned()));
    }
    if t.is_empty() {
        return Err(KrbError::Malformed("empty host name"));
    }
    Ok(format!("host/{}", t.to_ascii_lowercase()))
}

/// A fresh 31-bit nonce.
pub fn nonce() -> Result<u32, KrbError> {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).map_err(|_| KrbError::Random)?;
    Ok(u32::from_be_bytes(b) & 0x7fff_ffff)
}

/// For tests: the DER time encoder.
#[doc(hidden)]
pub fn encode_time(t: i64) -> Vec<u8> {
    der::time(t)
}
