//! Marshaled object references: `OBJREF` ([MS-DCOM] 2.2.18), `STDOBJREF` (2.2.18.2) and
//! `DUALSTRINGARRAY` (2.2.19), in their packet form (inside `MInterfacePointer.abData`) and,
//! for `STDOBJREF` and `DUALSTRINGARRAY`, their NDR form.

use crate::error::{DcomError, Result};
use crate::orpc::MInterfacePointer;
use uuid::Uuid;
use winv_ndr::{NdrDecode, NdrEncode, NdrError, NdrReader, NdrWriter};

/// `OBJREF.signature`: "MEOW" read as a little-endian u32 ([MS-DCOM] 2.2.18).
pub const OBJREF_SIGNATURE: u32 = 0x574f_454d;
/// `OBJREF_STANDARD` flag ([MS-DCOM] 2.2.18).
pub const FLAGS_OBJREF_STANDARD: u32 = 0x1;
/// `OBJREF_HANDLER` flag ([MS-DCOM] 2.2.18).
pub const FLAGS_OBJREF_HANDLER: u32 = 0x2;
/// `OBJREF_CUSTOM` flag ([MS-DCOM] 2.2.18).
pub const FLAGS_OBJREF_CUSTOM: u32 = 0x4;
/// `OBJREF_EXTENDED` flag ([MS-DCOM] 2.2.18).
pub const FLAGS_OBJREF_EXTENDED: u32 = 0x8;
/// `OBJREF_EXTENDED.Signature1` / `Signature2` ([MS-DCOM] 2.2.18.7).
pub const EXTENDED_SIGNATURE: u32 = 0x4e53_5956;
/// `STDOBJREF.flags`: SORF_NOPING, the object needs no pinging ([MS-DCOM] 2.2.18.2).
pub const SORF_NOPING: u32 = 0x1000;

/// Tower ids of string bindings ([MS-DCOM] 2.2.19.3, [C706] appendix I / [MS-RPCE] 2.2.4.1).
pub mod tower {
    /// `ncacn_ip_tcp`.
    pub const NCACN_IP_TCP: u16 = 0x07;
    /// `ncadg_ip_udp`.
    pub const NCADG_IP_UDP: u16 = 0x08;
    /// `ncacn_spx`.
    pub const NCACN_SPX: u16 = 0x0c;
    /// `ncacn_np` (named pipes over SMB).
    pub const NCACN_NP: u16 = 0x0f;
    /// `ncacn_nb_tcp`.
    pub const NCACN_NB_TCP: u16 = 0x12;
    /// `ncacn_http`.
    pub const NCACN_HTTP: u16 = 0x1f;
}

/// `STDOBJREF` ([MS-DCOM] 2.2.18.2): the identity of a marshaled interface. 40 bytes;
/// in NDR aligned to 8 (it holds hypers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct StdObjRef {
    /// `flags` (SORF_NOPING, ...).
    pub flags: u32,
    /// `cPublicRefs`.
    pub public_refs: u32,
    /// `oxid`: the object exporter.
    pub oxid: u64,
    /// `oid`: the object.
    pub oid: u64,
    /// `ipid`: the interface pointer.
    pub ipid: Uuid,
}

impl NdrEncode for StdObjRef {
    fn encode_flat(&self, w: &mut NdrWriter) -> winv_ndr::Result<()> {
        w.align(8);
        w.u32(self.flags);
        w.u32(self.public_refs);
        w.u64(self.oxid);
        w.u64(self.oid);
        w.uuid(&self.ipid);
        Ok(())
    }
}
impl NdrDecode for StdObjRef {
    fn decode_flat(r: &mut NdrReader<'_>) -> winv_ndr::Result<Self> {
        r.align(8)?;
        Ok(Self {
            flags: r.u32()?,
            public_refs: r.u32()?,
            oxid: r.u64()?,
            oid: r.u64()?,
            ipid: r.uuid()?,
        })
    }
}

/// `STRINGBINDING` ([MS-DCOM] 2.2.19.3): a protocol sequence (tower id) and a network
/// address such as `host[49670]` or `\\HOST[\PIPE\atsvc]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct StringBinding {
    /// `wTowerId` (see [`tower`]); never 0 (0 ends the list).
    pub tower_id: u16,
    /// `aNetworkAddr`, without its NUL.
    pub network_addr: String,
}

/// `SECURITYBINDING` ([MS-DCOM] 2.2.19.4): an authentication service the exporter accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SecurityBinding {
    /// `wAuthnSvc` (RPC_C_AUTHN_*: 0x9 negotiate, 0xa NTLM, 0x10 Kerberos ...); never 0.
    pub authn_svc: u16,
    /// `Reserved` (wAuthzSvc), 0xffff from Windows.
    pub authz_svc: u16,
    /// `aPrincName`, without its NUL (often empty).
    pub principal_name: String,
}

/// `DUALSTRINGARRAY` ([MS-DCOM] 2.2.19, 2.2.19.1 packet version, 2.2.19.2 NDR version):
/// string bindings then security bindings, each list ended by a NUL; an empty list is two
/// NULs. `wNumEntries` counts the u16 units of both, `wSecurityOffset` where the second begins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DualStringArray {
    /// The string bindings (STRINGBINDING entries).
    pub string_bindings: Vec<StringBinding>,
    /// The security bindings (SECURITYBINDING entries).
    pub security_bindings: Vec<SecurityBinding>,
}

fn push_wstr(out: &mut Vec<u16>, s: &str) -> Result<()> {
    if s.encode_utf16().any(|u| u == 0) {
        return Err(DcomError::Invalid("nul inside a binding string"));
    }
    out.extend(s.encode_utf16());
    out.push(0);
    Ok(())
}

/// Reads a NUL-terminated UTF-16 string starting at `*i`, leaving `*i` after the NUL.
fn take_wstr(units: &[u16], i: &mut usize) -> Result<String> {
    let rest = units.get(*i..).unwrap_or(&[]);
    let end = rest
        .iter()
        .position(|&u| u == 0)
        .ok_or(DcomError::Invalid("unterminated binding string"))?;
    let s = String::from_utf16(rest.get(..end).unwrap_or(&[]))
        .map_err(|_| DcomError::Invalid("binding string utf-16"))?;
    *i = i.saturating_add(end).saturating_add(1);
    Ok(s)
}

impl DualStringArray {
    /// The `aStringArray` units and `wSecurityOffset` ([MS-DCOM] 2.2.19.1).
    pub fn to_units(&self) -> Result<(Vec<u16>, u16)> {
        let mut u = Vec::new();
        for b in &self.string_bindings {
            if b.tower_id == 0 {
                return Err(DcomError::Invalid("tower id 0"));
            }
            u.push(b.tower_id);
            push_wstr(&mut u, &b.network_addr)?;
        }
        if self.string_bindings.is_empty() {
            u.push(0);
        }
        u.push(0);
        let sec = u16::try_from(u.len()).map_err(|_| DcomError::TooLarge("dualstringarray"))?;
        for b in &self.security_bindings {
            if b.authn_svc == 0 {
                return Err(DcomError::Invalid("authentication service 0"));
            }
            u.push(b.authn_svc);
            u.push(b.authz_svc);
            push_wstr(&mut u, &b.principal_name)?;
        }
        if self.security_bindings.is_empty() {
            u.push(0);
        }
        u.push(0);
        u16::try_from(u.len()).map_err(|_| DcomError::TooLarge("dualstringarray"))?;
        Ok((u, sec))
    }

    /// Parses `aStringArray` given `wSecurityOffset` ([MS-DCOM] 2.2.19.1). Each list stops at
    /// its NUL entry; anything after it up to the section end is ignored.
    pub fn from_units(units: &[u16], security_offset: u16) -> Result<Self> {
        let sec = usize::from(security_offset);
        let strings = units
            .get(..sec)
            .ok_or(DcomError::Invalid("security offset beyond the array"))?;
        let security = units.get(sec..).unwrap_or(&[]);
        let mut string_bindings = Vec::new();
        let mut i = 0;
        while let Some(&tower_id) = strings.get(i) {
            if tower_id == 0 {
                break;
            }
            i += 1;
            let network_addr = take_wstr(strings, &mut i)?;
            string_bindings.push(StringBinding {
                tower_id,
                network_addr,
            });
        }
        let mut security_bindings = Vec::new();
        let mut i = 0;
        while let Some(&authn_svc) = security.get(i) {
            if authn_svc == 0 {
                break;
            }
            let authz_svc = *security
                .get(i + 1)
                .ok_or(DcomError::Invalid("truncated security binding"))?;
            i += 2;
            let principal_name = take_wstr(security, &mut i)?;
            security_bindings.push(SecurityBinding {
                authn_svc,
                authz_svc,
                principal_name,
            });
        }
        Ok(Self {
            string_bindings,
            security_bindings,
        })
    }

    /// Appends the packet form (wNumEntries, wSecurityOffset, aStringArray; [MS-DCOM] 2.2.19.1).
    pub fn encode_packet(&self, out: &mut Vec<u8>) -> Result<()> {
        let (units, sec) = self.to_units()?;
        // INVARIANT: to_units checked that units.len() fits u16.
        let n = u16::try_from(units.len()).map_err(|_| DcomError::TooLarge("dualstringarray"))?;
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&sec.to_le_bytes());
        for u in units {
            out.extend_from_slice(&u.to_le_bytes());
        }
        Ok(())
    }

    /// Decodes the packet form from `c`.
    fn decode_packet(c: &mut Cursor<'_>) -> Result<Self> {
        let n = c.u16()?;
        let sec = c.u16()?;
        let raw = c.bytes(usize::from(n) * 2)?;
        let units: Vec<u16> = raw
            .chunks_exact(2)
            .map(|p| u16::from_le_bytes([p[0], p[1]]))
            .collect();
        Self::from_units(&units, sec)
    }
}

/// NDR form ([MS-DCOM] 2.2.19.2): a conformant structure, max_count hoisted, then
/// wNumEntries, wSecurityOffset and `[size_is(wNumEntries)] unsigned short aStringArray[]`.
impl NdrEncode for DualStringArray {
    fn encode_flat(&self, w: &mut NdrWriter) -> winv_ndr::Result<()> {
        let (units, sec) = self
            .to_units()
            .map_err(|_| NdrError::TooLarge("dualstringarray"))?;
        w.max_count(units.len())?;
        w.u16(u16::try_from(units.len()).map_err(|_| NdrError::TooLarge("dualstringarray"))?);
        w.u16(sec);
        for u in units {
            w.u16(u);
        }
        Ok(())
    }
}
impl NdrDecode for DualStringArray {
    fn decode_flat(r: &mut NdrReader<'_>) -> winv_ndr::Result<Self> {
        let max = r.max_count()?;
        let n = r.u16()?;
        let sec = r.u16()?;
        if u32::from(n) != max {
            return Err(NdrError::InvalidValue(
                "wNumEntries differs from its conformance",
            ));
        }
        let units = r.u16_units(u32::from(n))?;
        Self::from_units(&units, sec).map_err(|_| NdrError::InvalidValue("dualstringarray"))
    }
}

/// An `OBJREF` ([MS-DCOM] 2.2.18): a marshaled interface pointer, by its `flags`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjRef {
    /// `OBJREF_STANDARD` ([MS-DCOM] 2.2.18.4).
    Standard {
        /// `iid` of the marshaled interface.
        iid: Uuid,
        /// `std`.
        std: StdObjRef,
        /// `saResAddr`: the object resolver's bindings.
        resolver: DualStringArray,
    },
    /// `OBJREF_HANDLER` ([MS-DCOM] 2.2.18.5).
    Handler {
        /// `iid`.
        iid: Uuid,
        /// `std`.
        std: StdObjRef,
        /// `clsid` of the client-side handler.
        clsid: Uuid,
        /// `saResAddr`.
        resolver: DualStringArray,
    },
    /// `OBJREF_CUSTOM` ([MS-DCOM] 2.2.18.6): data for an unmarshaler class (activation
    /// properties, [MS-WMIO] objects).
    Custom {
        /// `iid`.
        iid: Uuid,
        /// `clsid` of the unmarshaler.
        clsid: Uuid,
        /// `cbExtension` (zero).
        extension: u32,
        /// `reserved` (ignored on receipt; Windows writes the object data length + 8).
        reserved: u32,
        /// `pObjectData`: the rest of the OBJREF.
        object_data: Vec<u8>,
    },
    /// `OBJREF_EXTENDED` ([MS-DCOM] 2.2.18.7); the element array is kept raw.
    Extended {
        /// `iid`.
        iid: Uuid,
        /// `std`.
        std: StdObjRef,
        /// `saResAddr`.
        resolver: DualStringArray,
        /// `nElms`, `Signature2` and `ElmArray`, as on the wire.
        elements: Vec<u8>,
    },
}

/// A little-endian cursor for the packet (non-NDR) forms; every read is bounds-checked.
pub(crate) struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(DcomError::Invalid("length"))?;
        let s = self
            .data
            .get(self.pos..end)
            .ok_or(NdrError::UnexpectedEnd {
                needed: n,
                at: self.pos,
            })?;
        self.pos = end;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }
    pub(crate) fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.arr()?))
    }
    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    pub(crate) fn uuid(&mut self) -> Result<Uuid> {
        Ok(Uuid::from_bytes_le(self.arr()?))
    }
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let r = self.data.get(self.pos..).unwrap_or(&[]);
        self.pos = self.data.len();
        r
    }
}

fn std_packet(c: &mut Cursor<'_>) -> Result<StdObjRef> {
    Ok(StdObjRef {
        flags: c.u32()?,
        public_refs: c.u32()?,
        oxid: c.u64()?,
        oid: c.u64()?,
        ipid: c.uuid()?,
    })
}

fn put_std(out: &mut Vec<u8>, s: &StdObjRef) {
    out.extend_from_slice(&s.flags.to_le_bytes());
    out.extend_from_slice(&s.public_refs.to_le_bytes());
    out.extend_from_slice(&s.oxid.to_le_bytes());
    out.extend_from_slice(&s.oid.to_le_bytes());
    out.extend_from_slice(&s.ipid.to_bytes_le());
}

impl ObjRef {
    /// An `OBJREF_CUSTOM` with `cbExtension` 0 and `reserved` set as Windows does
    /// (object data length + 8).
    pub fn custom(iid: Uuid, clsid: Uuid, object_data: Vec<u8>) -> Self {
        let reserved = u32::try_from(object_data.len())
            .unwrap_or(u32::MAX)
            .saturating_add(8);
        ObjRef::Custom {
            iid,
            clsid,
            extension: 0,
            reserved,
            object_data,
        }
    }

    /// The `iid` field.
    pub fn iid(&self) -> Uuid {
        match self {
            ObjRef::Standard { iid, .. }
            | ObjRef::Handler { iid, .. }
            | ObjRef::Custom { iid, .. }
            | ObjRef::Extended { iid, .. } => *iid,
        }
    }

    /// The `STDOBJREF`, for the variants that have one.
    pub fn std(&self) -> Option<&StdObjRef> {
        match self {
            ObjRef::Standard { std, .. }
            | ObjRef::Handler { std, .. }
            | ObjRef::Extended { std, .. } => Some(std),
            ObjRef::Custom { .. } => None,
        }
    }

    /// The `flags` value of this variant.
    pub fn flags(&self) -> u32 {
        match self {
            ObjRef::Standard { .. } => FLAGS_OBJREF_STANDARD,
            ObjRef::Handler { .. } => FLAGS_OBJREF_HANDLER,
            ObjRef::Custom { .. } => FLAGS_OBJREF_CUSTOM,
            ObjRef::Extended { .. } => FLAGS_OBJREF_EXTENDED,
        }
    }

    /// Decodes an OBJREF ([MS-DCOM] 2.2.18). Bytes after a standard, handler or extended
    /// OBJREF's resolver bindings are ignored (a custom one keeps everything as object data).
    pub fn decode(data: &[u8]) -> Result<Self> {
        let mut c = Cursor::new(data);
        let sig = c.u32()?;
        if sig != OBJREF_SIGNATURE {
            return Err(DcomError::BadSignature(sig));
        }
        let flags = c.u32()?;
        let iid = c.uuid()?;
        match flags {
            FLAGS_OBJREF_STANDARD => {
                let std = std_packet(&mut c)?;
                let resolver = DualStringArray::decode_packet(&mut c)?;
                Ok(ObjRef::Standard { iid, std, resolver })
            }
            FLAGS_OBJREF_HANDLER => {
                let std = std_packet(&mut c)?;
                let clsid = c.uuid()?;
                let resolver = DualStringArray::decode_packet(&mut c)?;
                Ok(ObjRef::Handler {
                    iid,
                    std,
                    clsid,
                    resolver,
                })
            }
            FLAGS_OBJREF_CUSTOM => {
                let clsid = c.uuid()?;
                let extension = c.u32()?;
                let reserved = c.u32()?;
                Ok(ObjRef::Custom {
                    iid,
                    clsid,
                    extension,
                    reserved,
                    object_data: c.rest().to_vec(),
                })
            }
            FLAGS_OBJREF_EXTENDED => {
                let std = std_packet(&mut c)?;
                let sig1 = c.u32()?;
                if sig1 != EXTENDED_SIGNATURE {
                    return Err(DcomError::Invalid("objref_extended signature1"));
                }
                let resolver = DualStringArray::decode_packet(&mut c)?;
                Ok(ObjRef::Extended {
                    iid,
                    std,
                    resolver,
                    elements: c.rest().to_vec(),
                })
            }
            other => Err(DcomError::UnknownObjRefFlags(other)),
        }
    }

    /// Encodes the OBJREF ([MS-DCOM] 2.2.18).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&OBJREF_SIGNATURE.to_le_bytes());
        out.extend_from_slice(&self.flags().to_le_bytes());
        out.extend_from_slice(&self.iid().to_bytes_le());
        match self {
            ObjRef::Standard { std, resolver, .. } => {
                put_std(&mut out, std);
                resolver.encode_packet(&mut out)?;
            }
            ObjRef::Handler {
                std,
                clsid,
                resolver,
                ..
            } => {
                put_std(&mut out, std);
                out.extend_from_slice(&clsid.to_bytes_le());
                resolver.encode_packet(&mut out)?;
            }
            ObjRef::Custom {
                clsid,
                extension,
                reserved,
                object_data,
                ..
            } => {
                out.extend_from_slice(&clsid.to_bytes_le());
                out.extend_from_slice(&extension.to_le_bytes());
                out.extend_from_slice(&reserved.to_le_bytes());
                out.extend_from_slice(object_data);
            }
            ObjRef::Extended {
                std,
                resolver,
                elements,
                ..
            } => {
                put_std(&mut out, std);
                out.extend_from_slice(&EXTENDED_SIGNATURE.to_le_bytes());
                resolver.encode_packet(&mut out)?;
                out.extend_from_slice(elements);
            }
        }
        Ok(out)
    }

    /// Decodes the OBJREF carried by an `MInterfacePointer` ([MS-DCOM] 2.2.14).
    pub fn from_interface_pointer(p: &MInterfacePointer) -> Result<Self> {
        Self::decode(&p.data)
    }

    /// Wraps the encoded OBJREF in an `MInterfacePointer` ([MS-DCOM] 2.2.14).
    pub fn to_interface_pointer(&self) -> Result<MInterfacePointer> {
        Ok(MInterfacePointer {
            data: self.encode()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn sample_dsa() -> DualStringArray {
        DualStringArray {
            string_bindings: vec![
                StringBinding {
                    tower_id: tower::NCACN_IP_TCP,
                    network_addr: "host".into(),
                },
                StringBinding {
                    tower_id: tower::NCACN_IP_TCP,
                    network_addr: "10.0.0.1".into(),
                },
            ],
            security_bindings: vec![SecurityBinding {
                authn_svc: 0x0a,
                authz_svc: 0xffff,
                principal_name: String::new(),
            }],
        }
    }

    #[test]
    fn smallest_dualstringarray_is_four_nuls() {
        let d = DualStringArray::default();
        let (u, sec) = d.to_units().expect("units");
        assert_eq!((u, sec), (vec![0, 0, 0, 0], 2));
        let mut b = Vec::new();
        d.encode_packet(&mut b).expect("encode");
        assert_eq!(b, [4, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            DualStringArray::from_units(&[0, 0, 0, 0], 2).expect("decode"),
            d
        );
    }

    #[test]
    fn dualstringarray_units_layout() {
        let (u, sec) = sample_dsa().to_units().expect("units");
        // 7 "host" 0, 7 "10.0.0.1" 0, 0 | 0a ffff 0, 0
        assert_eq!(sec, 1 + 5 + 1 + 9 + 1);
        assert_eq!(u.len(), usize::from(sec) + 3 + 1);
        assert_eq!(u[0], 7);
        assert_eq!(&u[usize::from(sec)..], &[0x0a, 0xffff, 0, 0]);
        assert_eq!(
            DualStringArray::from_units(&u, sec).expect("decode"),
            sample_dsa()
        );
    }

    #[test]
    fn dualstringarray_rejects_bad_offsets_and_unterminated() {
        assert!(DualStringArray::from_units(&[0, 0], 3).is_err());
        assert!(DualStringArray::from_units(&[7, 0x41, 0x42], 3).is_err());
        assert!(DualStringArray::from_units(&[0, 0, 9], 2).is_err());
        let bad = DualStringArray {
            string_bindings: vec![StringBinding {
                tower_id: 0,
                network_addr: "x".into(),
            }],
            security_bindings: vec![],
        };
        assert!(bad.to_units().is_err());
    }

    #[test]
    fn standard_objref_layout() {
        let o = ObjRef::Standard {
            iid: Uuid::from_u128(1),
            std: StdObjRef {
                flags: 0,
                public_refs: 5,
                oxid: 0x0102_0304_0506_0708,
                oid: 9,
                ipid: Uuid::from_u128(2),
            },
            resolver: DualStringArray::default(),
        };
        let b = o.encode().expect("encode");
        assert_eq!(&b[..4], b"MEOW");
        assert_eq!(&b[4..8], &[1, 0, 0, 0]);
        assert_eq!(&b[28..32], &[5, 0, 0, 0]);
        assert_eq!(&b[32..40], &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(b.len(), 24 + 40 + 4 + 8);
        assert_eq!(ObjRef::decode(&b).expect("decode"), o);
        let p = o.to_interface_pointer().expect("pointer");
        assert_eq!(ObjRef::from_interface_pointer(&p).expect("decode"), o);
    }

    #[test]
    fn objref_rejects_bad_signature_and_flags() {
        let mut b = ObjRef::custom(Uuid::nil(), Uuid::nil(), vec![1, 2])
            .encode()
            .expect("encode");
        assert_eq!(&b[44..48], &10u32.to_le_bytes());
        b[0] = b'X';
        assert!(matches!(
            ObjRef::decode(&b),
            Err(DcomError::BadSignature(_))
        ));
        b[0] = b'M';
        b[4] = 3;
        assert_eq!(ObjRef::decode(&b), Err(DcomError::UnknownObjRefFlags(3)));
        assert!(ObjRef::decode(&b[..10]).is_err());
    }

    #[test]
    fn stdobjref_ndr_aligns_to_8() {
        let mut w = NdrWriter::new();
        w.u32(7);
        w.write(&StdObjRef::default()).expect("encode");
        assert_eq!(w.len(), 8 + 40);
        let b = w.into_bytes();
        let mut r = NdrReader::new(&b);
        assert_eq!(r.u32().expect("u32"), 7);
        assert_eq!(r.read::<StdObjRef>().expect("std"), StdObjRef::default());
    }

    fn arb_dsa() -> impl Strategy<Value = DualStringArray> {
        let sb = (1u16.., "[a-zA-Z0-9.\\[\\]]{0,12}").prop_map(|(tower_id, network_addr)| {
            StringBinding {
                tower_id,
                network_addr,
            }
        });
        let secb = (1u16.., any::<u16>(), "[a-zA-Z/]{0,8}").prop_map(|(a, z, p)| SecurityBinding {
            authn_svc: a,
            authz_svc: z,
            principal_name: p,
        });
        (
            proptest::collection::vec(sb, 0..4),
            proptest::collection::vec(secb, 0..4),
        )
            .prop_map(|(string_bindings, security_bindings)| DualStringArray {
                string_bindings,
                security_bindings,
            })
    }

    proptest! {
        #[test]
        fn objref_round_trip(dsa in arb_dsa(), iid in any::<u128>(), oxid in any::<u64>(),
            oid in any::<u64>(), refs in any::<u32>(), kind in 0u8..4,
            data in proptest::collection::vec(any::<u8>(), 0..40)) {
            let std = StdObjRef { flags: 0, public_refs: refs, oxid, oid, ipid: Uuid::from_u128(iid ^ 1) };
            let iid = Uuid::from_u128(iid);
            let o = match kind {
                0 => ObjRef::Standard { iid, std, resolver: dsa },
                1 => ObjRef::Handler { iid, std, clsid: Uuid::from_u128(3), resolver: dsa },
                2 => ObjRef::custom(iid, Uuid::from_u128(4), data),
                _ => ObjRef::Extended { iid, std, resolver: dsa, elements: data },
            };
            let b = o.encode().expect("encode");
            prop_assert_eq!(ObjRef::decode(&b).expect("decode"), o);
        }

        #[test]
        fn dsa_ndr_round_trip(dsa in arb_dsa()) {
            let mut w = NdrWriter::new();
            w.write(&dsa).expect("encode");
            let b = w.into_bytes();
            let mut r = NdrReader::new(&b);
            prop_assert_eq!(r.read::<DualStringArray>().expect("decode"), dsa);
            prop_assert!(r.finish().is_ok());
        }

        #[test]
        fn objref_decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut d = data.clone();
            if d.len() >= 8 { d[..4].copy_from_slice(b"MEOW"); }
            let _ = ObjRef::decode(&data);
            let _ = ObjRef::decode(&d);
        }
    }
}
