//! MIT's credential cache (`FILE:` ccache, versions 3 and 4) and keytab
//! (version 2) formats, as `kinit`, `ktutil` and `samba-tool domain
//! exportkeytab` write them (MIT krb5 documentation, "The ccache file
//! format" and "The keytab file format"). Pure: the caller reads the file
//! (with a size limit) and hands the bytes over.
//!
//! Entries with an enctype we do not implement (RC4, DES) are skipped and
//! counted, never an error: a keytab usually holds every enctype.

use super::exchange::{Credential, Principal};
use super::messages::{PrincipalName, Ticket};
use super::{Etype, Key, KrbError};

/// Most entries read from one file.
const MAX_ENTRIES: usize = 4096;
/// Most components of a principal.
const MAX_COMPONENTS: usize = 16;

struct Cur<'a> {
    b: &'a [u8],
}

fn short(what: &'static str) -> KrbError {
    KrbError::Malformed(what)
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], KrbError> {
        if self.b.len() < n {
            return Err(short(what));
        }
        let (a, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(a)
    }
    fn u8(&mut self, w: &'static str) -> Result<u8, KrbError> {
        Ok(self.take(1, w)?[0])
    }
    fn u16(&mut self, w: &'static str) -> Result<u16, KrbError> {
        let s = self.take(2, w)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self, w: &'static str) -> Result<u32, KrbError> {
        let s = self.take(4, w)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn data32(&mut self, w: &'static str) -> Result<&'a [u8], KrbError> {
        let n = self.u32(w)? as usize;
        self.take(n, w)
    }
    fn data16(&mut self, w: &'static str) -> Result<&'a [u8], KrbError> {
        let n = usize::from(self.u16(w)?);
        self.take(n, w)
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A parsed credential cache.
#[derive(Clone, Debug, Default)]
pub struct Ccache {
    /// The default principal (whose tickets these are).
    pub default: Option<Principal>,
    /// The usable credentials, in file order.
    pub creds: Vec<Credential>,
    /// Entries skipped (configuration entries, unsupported enctypes).
    pub skipped: usize,
}

impl Ccache {
    /// The TGT for the default principal's realm, if any.
    pub fn tgt(&self) -> Option<&Credential> {
        let d = self.default.as_ref()?;
        self.creds
            .iter()
            .find(|c| c.is_tgt() && c.server.same_as(&Principal::krbtgt(&d.realm)))
    }
}

fn ccache_principal(c: &mut Cur<'_>) -> Result<Principal, KrbError> {
    let name_type = c.u32("ccache principal")? as i32;
    let n = c.u32("ccache principal")? as usize;
    if n > MAX_COMPONENTS {
        return Err(short("ccache principal has too many components"));
    }
    let realm = text(c.data32("ccache realm")?);
    let mut components = Vec::with_capacity(n);
    for _ in 0..n {
        components.push(text(c.data32("ccache component")?));
    }
    Ok(Principal {
        realm,
        name: PrincipalName {
            name_type,
            components,
        },
    })
}

/// Parses a ccache file (versions 0x0503 and 0x0504, big-endian).
pub fn parse_ccache(bytes: &[u8]) -> Result<Ccache, KrbError> {
    let mut c = Cur { b: bytes };
    let version = c.u16("ccache version")?;
    if version != 0x0504 && version != 0x0503 {
        return Err(KrbError::Malformed("ccache version is not 3 or 4"));
    }
    if version == 0x0504 {
        let hl = usize::from(c.u16("ccache header")?);
        c.take(hl, "ccache header")?;
    }
    let mut out = Ccache {
        default: Some(ccache_principal(&mut c)?),
        ..Ccache::default()
    };
    while !c.b.is_empty() {
        if out.creds.len() + out.skipped >= MAX_ENTRIES {
            return Err(short("ccache has too many entries"));
        }
        let client = ccache_principal(&mut c)?;
        let server = ccache_principal(&mut c)?;
        let etype = c.u16("ccache key")?;
        if version == 0x0503 {
            c.u16("ccache key")?;
        }
        let keyval = c.data32("ccache key")?;
        let authtime = i64::from(c.u32("ccache times")?);
        let starttime = i64::from(c.u32("ccache times")?);
        let endtime = i64::from(c.u32("ccache times")?);
        let renew = i64::from(c.u32("ccache times")?);
        let _is_skey = c.u8("ccache is_skey")?;
        let flags = c.u32("ccache flags")?;
        for (what, _) in [("ccache addresses", 0), ("ccache authdata", 1)] {
            let n = c.u32(what)? as usize;
            if n > MAX_ENTRIES {
                return Err(short(what));
            }
            for _ in 0..n {
                c.u16(what)?;
                c.data32(what)?;
            }
        }
        let ticket = c.data32("ccache ticket")?;
        let _second = c.data32("ccache second ticket")?;
        let e = Etype::from_i32(i32::from(etype));
        if server.realm == "X-CACHECONF:" || !e.supported() {
            out.skipped += 1;
            continue;
        }
        out.creds.push(Credential {
            client,
            server,
            key: Key::new(e, keyval)?,
            ticket: Ticket::decode(ticket)?,
            flags,
            authtime,
            starttime: (starttime != 0).then_some(starttime),
            endtime,
            renew_till: (renew != 0).then_some(renew),
        });
    }
    Ok(out)
}

fn put_principal(out: &mut Vec<u8>, p: &Principal) {
    out.extend_from_slice(&(p.name.name_type as u32).to_be_bytes());
    out.extend_from_slice(&(p.name.components.len() as u32).to_be_bytes());
    put32(out, p.realm.as_bytes());
    for c in &p.name.components {
        put32(out, c.as_bytes());
    }
}

fn put32(out: &mut Vec<u8>, d: &[u8]) {
    out.extend_from_slice(&(d.len() as u32).to_be_bytes());
    out.extend_from_slice(d);
}

/// Writes a version 4 ccache (tests; and a TGT handed to other tools).
pub fn write_ccache(default: &Principal, creds: &[Credential]) -> Vec<u8> {
    let mut out = vec![0x05, 0x04, 0, 0];
    put_principal(&mut out, default);
    for c in creds {
        put_principal(&mut out, &c.client);
        put_principal(&mut out, &c.server);
        out.extend_from_slice(&(c.key.etype().to_i32() as u16).to_be_bytes());
        put32(&mut out, c.key.bytes());
        for t in [c.authtime, c.starttime.unwrap_or(0), c.endtime, c.renew_till.unwrap_or(0)] {
            out.extend_from_slice(&(t as u32).to_be_bytes());
        }
        out.push(0);
        out.extend_from_slice(&c.flags.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        put32(&mut out, &c.ticket.raw);
        put32(&mut out, &[]);
    }
    out
}

/// One keytab entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeytabEntry {
    /// The principal.
    pub principal: Principal,
    /// The key version number.
    pub kvno: u32,
    /// The key.
    pub key: Key,
}

/// A parsed keytab: the usable entries and how many were skipped.
#[derive(Clone, Debug, Default)]
pub struct Keytab {
    /// Entries with AES keys.
    pub entries: Vec<KeytabEntry>,
    /// Entries skipped (unsupported enctypes, holes).
    pub skipped: usize,
}

impl Keytab {
    /// Keys of `principal` (names compared case-insensitively), highest
    /// kvno first.
    pub fn keys_for(&self, principal: &Principal) -> Vec<Key> {
        let mut v: Vec<&KeytabEntry> = self
            .entries
            .iter()
            .filter(|e| e.principal.same_as(principal))
            .collect();
        v.sort_by_key(|e| std::cmp::Reverse(e.kvno));
        v.into_iter().map(|e| e.key.clone()).collect()
    }
}

impl Keytab {
    /// The keys to try for a ticket to `principal` with enctype `etype`:
    /// the principal's own first, then every other key of that enctype (a
    /// keytab often lists a computer account under its account name,
    /// `DC1$@REALM`, while tickets name one of its SPNs).
    pub fn candidates(&self, principal: &Principal, etype: i32) -> Vec<Key> {
        let mut out: Vec<Key> = self.keys_for(principal).into_iter().filter(|k| k.etype().to_i32() == etype).collect();
        for e in &self.entries {
            if e.key.etype().to_i32() == etype && !out.contains(&e.key) {
                out.push(e.key.clone());
            }
        }
        out
    }
}

/// Parses a keytab (version 0x0502).
pub fn parse_keytab(bytes: &[u8]) -> Result<Keytab, KrbError> {
    let mut c = Cur { b: bytes };
    if c.u8("keytab version")? != 5 || c.u8("keytab version")? != 2 {
        return Err(KrbError::Malformed("keytab version is not 0x0502"));
    }
    let mut out = Keytab::default();
    while !c.b.is_empty() {
        if out.entries.len() + out.skipped >= MAX_ENTRIES {
            return Err(short("keytab has too many entries"));
        }
        let size = c.u32("keytab entry size")? as i32;
        let len = size.unsigned_abs() as usize;
        let body = c.take(len, "keytab entry")?;
        if size <= 0 {
            out.skipped += 1;
            continue;
        }
        let mut e = Cur { b: body };
        let n = usize::from(e.u16("keytab principal")?);
        if n > MAX_COMPONENTS {
            return Err(short("keytab principal has too many components"));
        }
        let realm = text(e.data16("keytab realm")?);
        let mut components = Vec::with_capacity(n);
        for _ in 0..n {
            components.push(text(e.data16("keytab component")?));
        }
        let name_type = e.u32("keytab name type")? as i32;
        let _timestamp = e.u32("keytab timestamp")?;
        let vno8 = e.u8("keytab kvno")?;
        let etype = e.u16("keytab key")?;
        let key = e.data16("keytab key")?;
        let kvno = if e.b.len() >= 4 {
            e.u32("keytab kvno")?
        } else {
            u32::from(vno8)
        };
        let et = Etype::from_i32(i32::from(etype));
        if !et.supported() {
            out.skipped += 1;
            continue;
        }
        out.entries.push(KeytabEntry {
            principal: Principal {
                realm,
                name: PrincipalName {
                    name_type,
                    components,
                },
            },
            kvno,
            key: Key::new(et, key)?,
        });
    }
    Ok(out)
}

/// Writes a keytab (tests, and the simulator's fixtures).
pub fn write_keytab(entries: &[KeytabEntry]) -> Vec<u8> {
    let mut out = vec![5, 2];
    for en in entries {
        let mut b = Vec::new();
        b.extend_from_slice(&(en.principal.name.components.len() as u16).to_be_bytes());
        let put16 = |b: &mut Vec<u8>, d: &[u8]| {
            b.extend_from_slice(&(d.len() as u16).to_be_bytes());
            b.extend_from_slice(d);
        };
        put16(&mut b, en.principal.realm.as_bytes());
        for c in &en.principal.name.components {
            put16(&mut b, c.as_bytes());
        }
        b.extend_from_slice(&(en.principal.name.name_type as u32).to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        b.push(en.kvno as u8);
        b.extend_from_slice(&(en.key.etype().to_i32() as u16).to_be_bytes());
        put16(&mut b, en.key.bytes());
        b.extend_from_slice(&en.kvno.to_be_bytes());
        out.extend_from_slice(&(b.len() as u32).to_be_bytes());
        out.extend_from_slice(&b);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::kerberos::messages::EncryptedData;

    fn cred(server: &str, end: i64) -> Credential {
        Credential {
            client: Principal::user("alice", "LAB.TEST"),
            server: Principal::service(server, "LAB.TEST"),
            key: Key::random(Etype::Aes256CtsHmacSha196).unwrap(),
            ticket: Ticket::build(
                "LAB.TEST",
                &PrincipalName::new(2, server),
                EncryptedData {
                    etype: 18,
                    kvno: Some(3),
                    cipher: vec![1, 2, 3],
                },
            ),
            flags: 0x40e1_0000,
            authtime: 1_700_000_000,
            starttime: Some(1_700_000_000),
            endtime: end,
            renew_till: None,
        }
    }

    #[test]
    fn ccache_round_trip_and_tgt() {
        let me = Principal::user("alice", "LAB.TEST");
        let tgt = cred("krbtgt/LAB.TEST", 1_700_036_000);
        let svc = cred("host/web1.lab.test", 1_700_036_000);
        let bytes = write_ccache(&me, &[tgt.clone(), svc.clone()]);
        let cc = parse_ccache(&bytes).unwrap();
        assert_eq!(cc.default.as_ref(), Some(&me));
        assert_eq!(cc.creds, vec![tgt.clone(), svc]);
        assert_eq!(cc.tgt(), Some(&tgt));
        for cut in 0..bytes.len() {
            // Every truncation is an error or a shorter valid cache, never a panic.
            let _ = parse_ccache(&bytes[..cut]);
        }
        assert!(parse_ccache(&[5, 1, 0, 0]).is_err());
    }

    #[test]
    fn keytab_round_trip_skips_rc4() {
        let p = Principal::service("host/web1.lab.test", "LAB.TEST");
        let k1 = Key::random(Etype::Aes256CtsHmacSha196).unwrap();
        let k2 = Key::random(Etype::Aes128CtsHmacSha196).unwrap();
        let mut bytes = write_keytab(&[
            KeytabEntry { principal: p.clone(), kvno: 2, key: k2.clone() },
            KeytabEntry { principal: p.clone(), kvno: 3, key: k1.clone() },
        ]);
        // An rc4 entry (etype 23) appended by hand.
        let mut b = Vec::new();
        b.extend_from_slice(&1u16.to_be_bytes());
        b.extend_from_slice(&8u16.to_be_bytes());
        b.extend_from_slice(b"LAB.TEST");
        b.extend_from_slice(&5u16.to_be_bytes());
        b.extend_from_slice(b"alice");
        b.extend_from_slice(&1u32.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        b.push(1);
        b.extend_from_slice(&23u16.to_be_bytes());
        b.extend_from_slice(&16u16.to_be_bytes());
        b.extend_from_slice(&[9u8; 16]);
        bytes.extend_from_slice(&(b.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&b);
        let kt = parse_keytab(&bytes).unwrap();
        assert_eq!(kt.entries.len(), 2);
        assert_eq!(kt.skipped, 1);
        assert_eq!(kt.keys_for(&p), vec![k1, k2]);
        assert!(kt.keys_for(&Principal::user("bob", "LAB.TEST")).is_empty());
        for cut in 0..bytes.len() {
            let _ = parse_keytab(&bytes[..cut]);
        }
    }
}
