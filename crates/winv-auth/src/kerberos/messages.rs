//! Kerberos messages, [RFC 4120] 5 (ASN.1 in its appendix A), encoded and
//! decoded with [`super::der`]. Only the fields a client and an acceptor of
//! DCE/RPC use are modelled; unknown optional fields are skipped.
//!
//! Message tags: Ticket 1, Authenticator 2, EncTicketPart 3, AS-REQ 10,
//! AS-REP 11, TGS-REQ 12, TGS-REP 13, AP-REQ 14, AP-REP 15, EncASRepPart 25,
//! EncTGSRepPart 26, EncAPRepPart 27, KRB-ERROR 30.

use super::der::{self, app, explicit, int, octets, seq, Reader};
use super::KrbError;

/// Most elements a SEQUENCE OF may have in a message we read.
const MAX_ITEMS: usize = 64;

/// Name types, [RFC 4120] 6.2.
pub mod name_type {
    /// NT-PRINCIPAL (users).
    pub const PRINCIPAL: i32 = 1;
    /// NT-SRV-INST (krbtgt/REALM).
    pub const SRV_INST: i32 = 2;
    /// NT-SRV-HST (host/fqdn).
    pub const SRV_HST: i32 = 3;
    /// NT-ENTERPRISE.
    pub const ENTERPRISE: i32 = 10;
}

/// Key usage numbers, [RFC 4120] 7.5.1 and [RFC 4121] 2.
pub mod usage {
    /// PA-ENC-TIMESTAMP.
    pub const PA_ENC_TIMESTAMP: u32 = 1;
    /// Ticket enc-part (service key).
    pub const TICKET: u32 = 2;
    /// AS-REP enc-part (client key).
    pub const AS_REP: u32 = 3;
    /// TGS-REQ authenticator checksum of the req-body.
    pub const TGS_REQ_CKSUM: u32 = 6;
    /// TGS-REQ authenticator.
    pub const TGS_REQ_AUTH: u32 = 7;
    /// TGS-REP enc-part with the TGT session key.
    pub const TGS_REP_SESSION: u32 = 8;
    /// TGS-REP enc-part with the authenticator subkey.
    pub const TGS_REP_SUBKEY: u32 = 9;
    /// AP-REQ authenticator checksum.
    pub const AP_REQ_CKSUM: u32 = 10;
    /// AP-REQ authenticator.
    pub const AP_REQ_AUTH: u32 = 11;
    /// AP-REP enc-part.
    pub const AP_REP: u32 = 12;
    /// GSS: acceptor seal.
    pub const ACCEPTOR_SEAL: u32 = 22;
    /// GSS: acceptor sign.
    pub const ACCEPTOR_SIGN: u32 = 23;
    /// GSS: initiator seal.
    pub const INITIATOR_SEAL: u32 = 24;
    /// GSS: initiator sign.
    pub const INITIATOR_SIGN: u32 = 25;
}

/// PA-DATA types, [RFC 4120] 7.5.2 and [MS-KILE] 2.2.
pub mod pa {
    /// PA-TGS-REQ.
    pub const TGS_REQ: i32 = 1;
    /// PA-ENC-TIMESTAMP.
    pub const ENC_TIMESTAMP: i32 = 2;
    /// PA-ETYPE-INFO2.
    pub const ETYPE_INFO2: i32 = 19;
    /// PA-PAC-REQUEST.
    pub const PAC_REQUEST: i32 = 128;
}

/// A principal name, [RFC 4120] 5.2.2.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PrincipalName {
    /// Its name type.
    pub name_type: i32,
    /// Its components (`host`, `web1.lab.example`).
    pub components: Vec<String>,
}

impl PrincipalName {
    /// `name_type` with `/`-separated components.
    pub fn new(name_type: i32, name: &str) -> PrincipalName {
        PrincipalName {
            name_type,
            components: name.split('/').map(str::to_owned).collect(),
        }
    }

    /// Components joined by `/`.
    pub fn joined(&self) -> String {
        self.components.join("/")
    }

    /// DER.
    pub fn encode(&self) -> Vec<u8> {
        let comps: Vec<Vec<u8>> = self.components.iter().map(|c| der::gstring(c)).collect();
        seq(&[explicit(0, &int(self.name_type.into())), explicit(1, &seq(&comps))])
    }

    /// From DER.
    pub fn decode(buf: &[u8]) -> Result<PrincipalName, KrbError> {
        let mut r = der::sequence(buf, "principal name")?;
        let name_type = der::read_i32(r.field(0, "principal name type")?)?;
        let list = der::read_seq_of(r.field(1, "principal name components")?, MAX_ITEMS)?;
        let components = list
            .into_iter()
            .map(der::read_string)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PrincipalName {
            name_type,
            components,
        })
    }
}

/// EncryptedData, [RFC 4120] 5.2.9.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptedData {
    /// The enctype.
    pub etype: i32,
    /// The key version.
    pub kvno: Option<u32>,
    /// The ciphertext.
    pub cipher: Vec<u8>,
}

impl EncryptedData {
    /// DER.
    pub fn encode(&self) -> Vec<u8> {
        let mut items = vec![explicit(0, &int(self.etype.into()))];
        if let Some(k) = self.kvno {
            items.push(explicit(1, &int(k.into())));
        }
        items.push(explicit(2, &octets(&self.cipher)));
        seq(&items)
    }

    /// From DER.
    pub fn decode(buf: &[u8]) -> Result<EncryptedData, KrbError> {
        let mut r = der::sequence(buf, "encrypted data")?;
        let etype = der::read_i32(r.field(0, "encrypted data etype")?)?;
        let kvno = r.optional(1)?.map(der::read_u32).transpose()?;
        let cipher = der::read_octets(r.field(2, "encrypted data cipher")?)?.to_vec();
        Ok(EncryptedData {
            etype,
            kvno,
            cipher,
        })
    }
}

/// EncryptionKey, [RFC 4120] 5.2.9: (keytype, keyvalue).
pub fn encode_key(etype: i32, value: &[u8]) -> Vec<u8> {
    seq(&[explicit(0, &int(etype.into())), explicit(1, &octets(value))])
}

/// Reads an EncryptionKey into a [`super::Key`] (AES only).
pub fn decode_key(buf: &[u8]) -> Result<super::Key, KrbError> {
    let mut r = der::sequence(buf, "encryption key")?;
    let etype = der::read_i32(r.field(0, "key type")?)?;
    let value = der::read_octets(r.field(1, "key value")?)?;
    let e = super::check_etype(etype)?;
    super::Key::new(e, value)
}

/// A Ticket, [RFC 4120] 5.3, kept with its exact encoding.
#[derive(Clone, PartialEq, Eq)]
pub struct Ticket {
    /// The realm of the service.
    pub realm: String,
    /// The service principal.
    pub sname: PrincipalName,
    /// The enc-part (encrypted with the service's key).
    pub enc_part: EncryptedData,
    /// The whole DER encoding (`[APPLICATION 1]`).
    pub raw: Vec<u8>,
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket")
            .field("realm", &self.realm)
            .field("sname", &self.sname.joined())
            .field("etype", &self.enc_part.etype)
            .finish_non_exhaustive()
    }
}

impl Ticket {
    /// From DER.
    pub fn decode(buf: &[u8]) -> Result<Ticket, KrbError> {
        let mut outer = Reader::new(buf);
        let (_, _, raw) = outer.read_raw()?;
        let mut r = der::application(raw, 1, "ticket")?;
        let vno = der::read_int(r.field(0, "ticket version")?)?;
        if vno != 5 {
            return Err(KrbError::Malformed("ticket version is not 5"));
        }
        let realm = der::read_string(r.field(1, "ticket realm")?)?;
        let sname = PrincipalName::decode(r.field(2, "ticket sname")?)?;
        let enc_part = EncryptedData::decode(r.field(3, "ticket enc-part")?)?;
        Ok(Ticket {
            realm,
            sname,
            enc_part,
            raw: raw.to_vec(),
        })
    }

    /// Builds and encodes a ticket.
    pub fn build(realm: &str, sname: &PrincipalName, enc_part: EncryptedData) -> Ticket {
        let raw = der::tlv(
            app(1),
            &seq(&[
                explicit(0, &int(5)),
                explicit(1, &der::gstring(realm)),
                explicit(2, &sname.encode()),
                explicit(3, &enc_part.encode()),
            ]),
        );
        Ticket {
            realm: realm.to_owned(),
            sname: sname.clone(),
            enc_part,
            raw,
        }
    }
}

/// PA-DATA, [RFC 4120] 5.2.7.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaData {
    /// padata-type.
    pub kind: i32,
    /// padata-value.
    pub value: Vec<u8>,
}

impl PaData {
    fn encode(&self) -> Vec<u8> {
        seq(&[explicit(1, &int(self.kind.into())), explicit(2, &octets(&self.value))])
    }

    fn decode(buf: &[u8]) -> Result<PaData, KrbError> {
        let mut r = der::sequence(buf, "pa-data")?;
        let kind = der::read_i32(r.field(1, "pa-data type")?)?;
        let value = der::read_octets(r.field(2, "pa-data value")?)?.to_vec();
        Ok(PaData { kind, value })
    }

    /// METHOD-DATA (a SEQUENCE OF PA-DATA).
    pub fn decode_list(buf: &[u8]) -> Result<Vec<PaData>, KrbError> {
        der::read_seq_of(buf, MAX_ITEMS)?
            .into_iter()
            .map(PaData::decode)
            .collect()
    }
}

/// KDC options, [RFC 4120] 5.4.1 (bit 0 is the MSB).
pub mod kdc_options {
    /// forwardable (1).
    pub const FORWARDABLE: u32 = 0x4000_0000;
    /// renewable (8).
    pub const RENEWABLE: u32 = 0x0080_0000;
    /// canonicalize (15).
    pub const CANONICALIZE: u32 = 0x0001_0000;
    /// renewable-ok (27).
    pub const RENEWABLE_OK: u32 = 0x0000_0010;
}

/// KDC-REQ-BODY, [RFC 4120] 5.4.1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KdcReqBody {
    /// kdc-options.
    pub options: u32,
    /// cname (AS-REQ only).
    pub cname: Option<PrincipalName>,
    /// realm.
    pub realm: String,
    /// sname.
    pub sname: PrincipalName,
    /// till (Unix seconds).
    pub till: i64,
    /// nonce.
    pub nonce: u32,
    /// etype, in preference order.
    pub etypes: Vec<i32>,
}

impl KdcReqBody {
    /// DER.
    pub fn encode(&self) -> Vec<u8> {
        let mut items = vec![explicit(0, &der::flags32(self.options))];
        if let Some(c) = &self.cname {
            items.push(explicit(1, &c.encode()));
        }
        items.push(explicit(2, &der::gstring(&self.realm)));
        items.push(explicit(3, &self.sname.encode()));
        items.push(explicit(5, &der::time(self.till)));
        items.push(explicit(7, &int(self.nonce.into())));
        let et: Vec<Vec<u8>> = self.etypes.iter().map(|e| int((*e).into())).collect();
        items.push(explicit(8, &seq(&et)));
        seq(&items)
    }
}

/// AS-REQ (10) or TGS-REQ (12), [RFC 4120] 5.4.1: the body already encoded
/// (the TGS authenticator's checksum covers exactly these bytes).
pub fn encode_kdc_req(msg_type: u8, padata: &[PaData], body_der: &[u8]) -> Vec<u8> {
    let mut items = vec![explicit(1, &int(5)), explicit(2, &int(msg_type.into()))];
    if !padata.is_empty() {
        let list: Vec<Vec<u8>> = padata.iter().map(PaData::encode).collect();
        items.push(explicit(3, &seq(&list)));
    }
    items.push(explicit(4, body_der));
    der::tlv(app(msg_type), &seq(&items))
}

/// AS-REP (11) or TGS-REP (13), [RFC 4120] 5.4.2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KdcRep {
    /// 11 or 13.
    pub msg_type: u8,
    /// padata (PA-ETYPE-INFO2 in an AS-REP).
    pub padata: Vec<PaData>,
    /// crealm.
    pub crealm: String,
    /// cname.
    pub cname: PrincipalName,
    /// The ticket.
    pub ticket: Ticket,
    /// The enc-part (client key or TGT session key).
    pub enc_part: EncryptedData,
}

impl KdcRep {
    /// From DER; either reply type.
    pub fn decode(buf: &[u8]) -> Result<KdcRep, KrbError> {
        let msg_type = match Reader::new(buf).peek_tag() {
            Some(t) if t == app(11) => 11,
            Some(t) if t == app(13) => 13,
            _ => return Err(KrbError::Malformed("not a kdc reply")),
        };
        let mut r = der::application(buf, msg_type, "kdc reply")?;
        let _pvno = der::read_int(r.field(0, "kdc reply pvno")?)?;
        let mt = der::read_int(r.field(1, "kdc reply msg-type")?)?;
        if mt != i64::from(msg_type) {
            return Err(KrbError::Malformed("kdc reply msg-type"));
        }
        let padata = r.optional(2)?.map(PaData::decode_list).transpose()?.unwrap_or_default();
        let crealm = der::read_string(r.field(3, "kdc reply crealm")?)?;
        let cname = PrincipalName::decode(r.field(4, "kdc reply cname")?)?;
        let ticket = Ticket::decode(r.field(5, "kdc reply ticket")?)?;
        let enc_part = EncryptedData::decode(r.field(6, "kdc reply enc-part")?)?;
        Ok(KdcRep {
            msg_type,
            padata,
            crealm,
            cname,
            ticket,
            enc_part,
        })
    }
}

/// Ticket flags, [RFC 4120] 5.3.
pub mod ticket_flags {
    /// forwardable.
    pub const FORWARDABLE: u32 = 0x4000_0000;
    /// renewable.
    pub const RENEWABLE: u32 = 0x0080_0000;
    /// initial.
    pub const INITIAL: u32 = 0x0040_0000;
    /// pre-authent.
    pub const PRE_AUTHENT: u32 = 0x0020_0000;
}

/// EncKDCRepPart, [RFC 4120] 5.4.2 (`[APPLICATION 25]` or `26`; Windows and
/// Samba may use either in either reply).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncKdcRepPart {
    /// The session key.
    pub key: super::Key,
    /// nonce.
    pub nonce: u32,
    /// flags.
    pub flags: u32,
    /// authtime.
    pub authtime: i64,
    /// starttime.
    pub starttime: Option<i64>,
    /// endtime.
    pub endtime: i64,
    /// renew-till.
    pub renew_till: Option<i64>,
    /// srealm.
    pub srealm: String,
    /// sname.
    pub sname: PrincipalName,
}

impl EncKdcRepPart {
    /// From DER.
    pub fn decode(buf: &[u8]) -> Result<EncKdcRepPart, KrbError> {
        let n = match Reader::new(buf).peek_tag() {
            Some(t) if t == app(25) => 25,
            Some(t) if t == app(26) => 26,
            _ => return Err(KrbError::Malformed("not an enc kdc rep part")),
        };
        let mut r = der::application(buf, n, "enc kdc rep part")?;
        let key = decode_key(r.field(0, "enc kdc rep part key")?)?;
        let _last_req = r.field(1, "enc kdc rep part last-req")?;
        let nonce = der::read_u32(r.field(2, "enc kdc rep part nonce")?)?;
        let _key_exp = r.optional(3)?;
        let flags = der::read_flags(r.field(4, "enc kdc rep part flags")?)?;
        let authtime = der::read_time(r.field(5, "enc kdc rep part authtime")?)?;
        let starttime = r.optional(6)?.map(der::read_time).transpose()?;
        let endtime = der::read_time(r.field(7, "enc kdc rep part endtime")?)?;
        let renew_till = r.optional(8)?.map(der::read_time).transpose()?;
        let srealm = der::read_string(r.field(9, "enc kdc rep part srealm")?)?;
        let sname = PrincipalName::decode(r.field(10, "enc kdc rep part sname")?)?;
        Ok(EncKdcRepPart {
            key,
            nonce,
            flags,
            authtime,
            starttime,
            endtime,
            renew_till,
            srealm,
            sname,
        })
    }
}

/// KRB-ERROR, [RFC 4120] 5.9.1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KrbErrorMsg {
    /// The server's time (Unix seconds).
    pub stime: i64,
    /// error-code.
    pub code: i32,
    /// e-data (METHOD-DATA for KDC_ERR_PREAUTH_REQUIRED).
    pub e_data: Option<Vec<u8>>,
}

impl KrbErrorMsg {
    /// From DER.
    pub fn decode(buf: &[u8]) -> Result<KrbErrorMsg, KrbError> {
        let mut r = der::application(buf, 30, "krb-error")?;
        let _pvno = r.field(0, "krb-error pvno")?;
        let _mt = r.field(1, "krb-error msg-type")?;
        let _ctime = r.optional(2)?;
        let _cusec = r.optional(3)?;
        let stime = der::read_time(r.field(4, "krb-error stime")?)?;
        let _susec = r.field(5, "krb-error susec")?;
        let code = der::read_i32(r.field(6, "krb-error code")?)?;
        let _crealm = r.optional(7)?;
        let _cname = r.optional(8)?;
        let _realm = r.field(9, "krb-error realm")?;
        let _sname = r.field(10, "krb-error sname")?;
        let _etext = r.optional(11)?;
        let e_data = r.optional(12)?.map(der::read_octets).transpose()?.map(<[u8]>::to_vec);
        Ok(KrbErrorMsg {
            stime,
            code,
            e_data,
        })
    }

    /// Encodes a KRB-ERROR (the simulator's acceptor).
    pub fn encode(code: i32, stime: i64, realm: &str, sname: &PrincipalName) -> Vec<u8> {
        der::tlv(
            app(30),
            &seq(&[
                explicit(0, &int(5)),
                explicit(1, &int(30)),
                explicit(4, &der::time(stime)),
                explicit(5, &int(0)),
                explicit(6, &int(code.into())),
                explicit(9, &der::gstring(realm)),
                explicit(10, &sname.encode()),
            ]),
        )
    }

    /// Whether `buf` looks like a KRB-ERROR.
    pub fn is_krb_error(buf: &[u8]) -> bool {
        Reader::new(buf).peek_tag() == Some(app(30))
    }
}

/// One ETYPE-INFO2 entry: `(etype, salt, s2kparams)`.
pub type EtypeInfo = (i32, Option<String>, Option<Vec<u8>>);

/// ETYPE-INFO2 entries, [RFC 4120] 5.2.7.5.
pub fn etype_info2(buf: &[u8]) -> Result<Vec<EtypeInfo>, KrbError> {
    der::read_seq_of(buf, MAX_ITEMS)?
        .into_iter()
        .map(|e| {
            let mut r = der::sequence(e, "etype-info2 entry")?;
            let etype = der::read_i32(r.field(0, "etype-info2 etype")?)?;
            let salt = r.optional(1)?.map(der::read_string).transpose()?;
            let params = r.optional(2)?.map(der::read_octets).transpose()?.map(<[u8]>::to_vec);
            Ok((etype, salt, params))
        })
        .collect()
}

/// PA-ENC-TS-ENC, [RFC 4120] 5.2.7.2.
pub fn encode_pa_enc_ts(time: i64, usec: u32) -> Vec<u8> {
    seq(&[explicit(0, &der::time(time)), explicit(1, &int(usec.into()))])
}

/// KERB-PA-PAC-REQUEST, [MS-KILE] 2.2.3.
pub fn encode_pac_request(include: bool) -> Vec<u8> {
    seq(&[explicit(0, &der::boolean(include))])
}

/// Checksum, [RFC 4120] 5.2.9.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checksum {
    /// cksumtype.
    pub kind: i32,
    /// checksum.
    pub value: Vec<u8>,
}

impl Checksum {
    fn encode(&self) -> Vec<u8> {
        seq(&[explicit(0, &int(self.kind.into())), explicit(1, &octets(&self.value))])
    }

    fn decode(buf: &[u8]) -> Result<Checksum, KrbError> {
        let mut r = der::sequence(buf, "checksum")?;
        let kind = der::read_i32(r.field(0, "checksum type")?)?;
        let value = der::read_octets(r.field(1, "checksum value")?)?.to_vec();
        Ok(Checksum { kind, value })
    }
}

/// Authenticator, [RFC 4120] 5.5.1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticator {
    /// crealm.
    pub crealm: String,
    /// cname.
    pub cname: PrincipalName,
    /// cksum (the GSS checksum 0x8003 in an AP-REQ, the req-body checksum in
    /// a TGS-REQ).
    pub cksum: Option<Checksum>,
    /// cusec.
    pub cusec: u32,
    /// ctime.
    pub ctime: i64,
    /// subkey.
    pub subkey: Option<super::Key>,
    /// seq-number.
    pub seq_number: Option<u32>,
}

impl Authenticator {
    /// DER (`[APPLICATION 2]`).
    pub fn encode(&self) -> Vec<u8> {
        let mut items = vec![
            explicit(0, &int(5)),
            explicit(1, &der::gstring(&self.crealm)),
            explicit(2, &self.cname.encode()),
        ];
        if let Some(c) = &self.cksum {
            items.push(explicit(3, &c.encode()));
        }
        items.push(explicit(4, &int(self.cusec.into())));
        items.push(explicit(5, &der::time(self.ctime)));
        if let Some(k) = &self.subkey {
            items.push(explicit(6, &encode_key(k.etype().to_i32(), k.bytes())));
        }
        if let Some(s) = self.seq_number {
            items.push(explicit(7, &int(s.into())));
        }
        der::tlv(app(2), &seq(&items))
    }

    /// From DER.
    pub fn decode(buf: &[u8]) -> Result<Authenticator, KrbError> {
        let mut r = der::application(buf, 2, "authenticator")?;
        let _vno = r.field(0, "authenticator vno")?;
        let crealm = der::read_string(r.field(1, "authenticator crealm")?)?;
        let cname = PrincipalName::decode(r.field(2, "authenticator cname")?)?;
        let cksum = r.optional(3)?.map(Checksum::decode).transpose()?;
        let cusec = der::read_u32(r.field(4, "authenticator cusec")?)?;
        let ctime = der::read_time(r.field(5, "authenticator ctime")?)?;
        let subkey = r.optional(6)?.map(decode_key).transpose()?;
        let seq_number = r.optional(7)?.map(der::read_u32).transpose()?;
        Ok(Authenticator {
            crealm,
            cname,
            cksum,
            cusec,
            ctime,
            subkey,
            seq_number,
        })
    }
}

/// AP options, [RFC 4120] 5.5.1.
pub mod ap_options {
    /// use-session-key.
    pub const USE_SESSION_KEY: u32 = 0x4000_0000;
    /// mutual-required.
    pub const MUTUAL_REQUIRED: u32 = 0x2000_0000;
}

/// AP-REQ, [RFC 4120] 5.5.1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApReq {
    /// ap-options.
    pub options: u32,
    /// The ticket.
    pub ticket: Ticket,
    /// The authenticator (ticket session key).
    pub authenticator: EncryptedData,
}

impl ApReq {
    /// DER (`[APPLICATION 14]`).
    pub fn encode(&self) -> Vec<u8> {
        der::tlv(
            app(14),
            &seq(&[
                explicit(0, &int(5)),
                explicit(1, &int(14)),
                explicit(2, &der::flags32(self.options)),
                explicit(3, &self.ticket.raw),
                explicit(4, &self.authenticator.encode()),
            ]),
        )
    }

    /// From DER.
    pub fn decode(buf: &[u8]) -> Result<ApReq, KrbError> {
        let mut r = der::application(buf, 14, "ap-req")?;
        let _pvno = r.field(0, "ap-req pvno")?;
        let mt = der::read_int(r.field(1, "ap-req msg-type")?)?;
        if mt != 14 {
            return Err(KrbError::Malformed("ap-req msg-type"));
        }
        let options = der::read_flags(r.field(2, "ap-req options")?)?;
        let ticket = Ticket::decode(r.field(3, "ap-req ticket")?)?;
        let authenticator = EncryptedData::decode(r.field(4, "ap-req authenticator")?)?;
        Ok(ApReq {
            options,
            ticket,
            authenticator,
        })
    }
}

/// AP-REP, [RFC 4120] 5.5.2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApRep {
    /// The enc-part (ticket session key, usage 12).
    pub enc_part: EncryptedData,
}

impl ApRep {
    /// DER (`[APPLICATION 15]`).
    pub fn encode(&self) -> Vec<u8> {
        der::tlv(
            app(15),
            &seq(&[
                explicit(0, &int(5)),
                explicit(1, &int(15)),
                explicit(2, &self.enc_part.encode()),
            ]),
        )
    }

    /// From DER.
    pub fn decode(buf: &[u8]) -> Result<ApRep, KrbError> {
        let mut r = der::application(buf, 15, "ap-rep")?;
        let _pvno = r.field(0, "ap-rep pvno")?;
        let mt = der::read_int(r.field(1, "ap-rep msg-type")?)?;
        if mt != 15 {
            return Err(KrbError::Malformed("ap-rep msg-type"));
        }
        let enc_part = EncryptedData::decode(r.field(2, "ap-rep enc-part")?)?;
        Ok(ApRep { enc_part })
    }
}

/// EncAPRepPart, [RFC 4120] 5.5.2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncApRepPart {
    /// ctime.
    pub ctime: i64,
    /// cusec.
    pub cusec: u32,
    /// subkey (the acceptor subkey).
    pub subkey: Option<super::Key>,
    /// seq-number.
    pub seq_number: Option<u32>,
}

impl EncApRepPart {
    /// DER (`[APPLICATION 27]`).
    pub fn encode(&self) -> Vec<u8> {
        let mut items = vec![
            explicit(0, &der::time(self.ctime)),
            explicit(1, &int(self.cusec.into())),
        ];
        if let Some(k) = &self.subkey {
            items.push(explicit(2, &encode_key(k.etype().to_i32(), k.bytes())));
        }
        if let Some(s) = self.seq_number {
            items.push(explicit(3, &int(s.into())));
        }
        der::tlv(app(27), &seq(&items))
    }

    /// From DER.
    pub fn decode(buf: &[u8]) -> Result<EncApRepPart, KrbError> {
        let mut r = der::application(buf, 27, "enc-ap-rep-part")?;
        let ctime = der::read_time(r.field(0, "enc-ap-rep-part ctime")?)?;
        let cusec = der::read_u32(r.field(1, "enc-ap-rep-part cusec")?)?;
        let subkey = r.optional(2)?.map(decode_key).transpose()?;
        let seq_number = r.optional(3)?.map(der::read_u32).transpose()?;
        Ok(EncApRepPart {
            ctime,
            cusec,
            subkey,
            seq_number,
        })
    }
}

/// EncTicketPart, [RFC 4120] 5.3: what an acceptor reads from a ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncTicketPart {
    /// flags.
    pub flags: u32,
    /// The session key.
    pub key: super::Key,
    /// crealm.
    pub crealm: String,
    /// cname.
    pub cname: PrincipalName,
    /// authtime.
    pub authtime: i64,
    /// starttime.
    pub starttime: Option<i64>,
    /// endtime.
    pub endtime: i64,
}

impl EncTicketPart {
    /// From DER.
    pub fn decode(buf: &[u8]) -> Result<EncTicketPart, KrbError> {
        let mut r = der::application(buf, 3, "enc-ticket-part")?;
        let flags = der::read_flags(r.field(0, "enc-ticket-part flags")?)?;
        let key = decode_key(r.field(1, "enc-ticket-part key")?)?;
        let crealm = der::read_string(r.field(2, "enc-ticket-part crealm")?)?;
        let cname = PrincipalName::decode(r.field(3, "enc-ticket-part cname")?)?;
        let _transited = r.field(4, "enc-ticket-part transited")?;
        let authtime = der::read_time(r.field(5, "enc-ticket-part authtime")?)?;
        let starttime = r.optional(6)?.map(der::read_time).transpose()?;
        let endtime = der::read_time(r.field(7, "enc-ticket-part endtime")?)?;
        Ok(EncTicketPart {
            flags,
            key,
            crealm,
            cname,
            authtime,
            starttime,
            endtime,
        })
    }

    /// DER (`[APPLICATION 3]`), for tests and a simulated KDC.
    pub fn encode(&self) -> Vec<u8> {
        let mut items = vec![
            explicit(0, &der::flags32(self.flags)),
            explicit(1, &encode_key(self.key.etype().to_i32(), self.key.bytes())),
            explicit(2, &der::gstring(&self.crealm)),
            explicit(3, &self.cname.encode()),
            explicit(4, &seq(&[explicit(0, &int(0)), explicit(1, &octets(&[]))])),
            explicit(5, &der::time(self.authtime)),
        ];
        if let Some(s) = self.starttime {
            items.push(explicit(6, &der::time(s)));
        }
        items.push(explicit(7, &der::time(self.endtime)));
        der::tlv(app(3), &seq(&items))
    }
}
