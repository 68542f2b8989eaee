//! ORPC call headers and the small types every DCOM call uses ([MS-DCOM] 2.2.11-2.2.14,
//! 2.2.21): `COMVERSION`, `ORPC_EXTENT`, `ORPCTHIS`, `ORPCTHAT`, `MInterfacePointer`,
//! and the `HRESULT` newtype.

use std::fmt;
use uuid::Uuid;
use winv_ndr::{NdrDecode, NdrEncode, NdrError, NdrReader, NdrWriter};

type NdrResult<T> = std::result::Result<T, NdrError>;

/// `COMVERSION` ([MS-DCOM] 2.2.11): the DCOM protocol version, major then minor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComVersion {
    /// `MajorVersion` (always 5, [MS-DCOM] 1.7).
    pub major: u16,
    /// `MinorVersion`.
    pub minor: u16,
}

impl ComVersion {
    /// COM version 5.7, the newest ([MS-DCOM] 1.7). Windows 10 2004+ and Server 2022 refuse
    /// clients announcing 5.1 with 0x80010111, so 5.7 is the default.
    pub const V5_7: ComVersion = ComVersion { major: 5, minor: 7 };
    /// COM version 5.6 ([MS-DCOM] 1.7).
    pub const V5_6: ComVersion = ComVersion { major: 5, minor: 6 };
    /// COM version 5.1 ([MS-DCOM] 1.7), what old clients still announce.
    pub const V5_1: ComVersion = ComVersion { major: 5, minor: 1 };

    /// A version from its parts.
    pub const fn new(major: u16, minor: u16) -> Self {
        Self { major, minor }
    }
}

impl Default for ComVersion {
    fn default() -> Self {
        Self::V5_7
    }
}

impl fmt::Display for ComVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl NdrEncode for ComVersion {
    fn encode_flat(&self, w: &mut NdrWriter) -> NdrResult<()> {
        w.u16(self.major);
        w.u16(self.minor);
        Ok(())
    }
}
impl NdrDecode for ComVersion {
    fn decode_flat(r: &mut NdrReader<'_>) -> NdrResult<Self> {
        Ok(Self {
            major: r.u16()?,
            minor: r.u16()?,
        })
    }
}

/// `ORPC_EXTENT` ([MS-DCOM] 2.2.21.4): an extension identified by a GUID, a conformant
/// structure `{ GUID id; unsigned long size; [size_is((size+7)&~7)] byte data[]; }`.
/// `data` holds the `size` meaningful bytes; the encoder pads them with zeros to a multiple
/// of 8 and the decoder drops the padding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrpcExtent {
    /// `id`: which extension this is.
    pub id: Uuid,
    /// The first `size` bytes of `data`.
    pub data: Vec<u8>,
}

impl NdrEncode for OrpcExtent {
    fn encode_flat(&self, w: &mut NdrWriter) -> NdrResult<()> {
        let size = u32::try_from(self.data.len()).map_err(|_| NdrError::TooLarge("orpc extent"))?;
        let padded = size
            .checked_add(7)
            .ok_or(NdrError::TooLarge("orpc extent"))?
            & !7;
        // Conformance hoisted to the start of the conformant structure (C706 14.3.7.1).
        w.u32(padded);
        w.uuid(&self.id);
        w.u32(size);
        w.bytes(&self.data);
        // INVARIANT: padded >= size and padded - size < 8.
        w.bytes(&[0u8; 8][..(padded - size) as usize]);
        Ok(())
    }
}
impl NdrDecode for OrpcExtent {
    fn decode_flat(r: &mut NdrReader<'_>) -> NdrResult<Self> {
        let max = r.max_count()?;
        let id = r.uuid()?;
        let size = r.u32()?;
        if size > max {
            return Err(NdrError::InvalidValue(
                "orpc extent size above its conformance",
            ));
        }
        r.check_count(u64::from(max), 1)?;
        let raw = r.bytes(max as usize)?;
        let data = raw.get(..size as usize).unwrap_or(raw).to_vec();
        Ok(Self { id, data })
    }
}

/// Encodes the referent of a `[unique] ORPC_EXTENT_ARRAY*` ([MS-DCOM] 2.2.21.5):
/// `{ unsigned long size; unsigned long reserved; [size_is((size+1)&~1), unique] ORPC_EXTENT** extent; }`.
/// The array of extent pointers has an even number of slots; the spare one is null.
fn encode_extent_array(w: &mut NdrWriter, extents: &[OrpcExtent]) -> NdrResult<()> {
    let size = u32::try_from(extents.len()).map_err(|_| NdrError::TooLarge("orpc extents"))?;
    w.u32(size);
    w.u32(0);
    if w.pointer(!extents.is_empty()) {
        let slots = size
            .checked_add(1)
            .ok_or(NdrError::TooLarge("orpc extents"))?
            & !1;
        w.u32(slots);
        for i in 0..slots as usize {
            w.pointer(i < extents.len());
        }
        for e in extents {
            w.write(e)?;
        }
    }
    Ok(())
}

/// Decodes the referent of a `[unique] ORPC_EXTENT_ARRAY*` ([MS-DCOM] 2.2.21.5), keeping the
/// non-null extents in order.
fn decode_extent_array(r: &mut NdrReader<'_>) -> NdrResult<Vec<OrpcExtent>> {
    let _size = r.u32()?;
    let _reserved = r.u32()?;
    match r.pointer()? {
        None => Ok(Vec::new()),
        Some(_) => {
            let mut slots: Vec<Option<OrpcExtent>> = r.read()?;
            Ok(slots.drain(..).flatten().collect())
        }
    }
}

/// `ORPCTHIS` ([MS-DCOM] 2.2.13.1): the first parameter of every ORPC request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrpcThis {
    /// `version`: the client's COM version.
    pub version: ComVersion,
    /// `flags`: ORPCF_NULL (0), ORPCF_LOCAL (1), ... ([MS-DCOM] 2.2.13.1).
    pub flags: u32,
    /// `reserved1`: zero.
    pub reserved1: u32,
    /// `cid`: the causality id of the call chain.
    pub cid: Uuid,
    /// `extensions`: `None` is the null `ORPC_EXTENT_ARRAY` pointer.
    pub extensions: Option<Vec<OrpcExtent>>,
}

impl OrpcThis {
    /// An ORPCTHIS with COM version 5.7, flags ORPCF_NULL and no extensions.
    pub fn new(cid: Uuid) -> Self {
        Self {
            version: ComVersion::V5_7,
            flags: ORPCF_NULL,
            reserved1: 0,
            cid,
            extensions: None,
        }
    }
}

impl Default for OrpcThis {
    fn default() -> Self {
        Self::new(Uuid::nil())
    }
}

/// `ORPCF_NULL` ([MS-DCOM] 2.2.13.1): no flags.
pub const ORPCF_NULL: u32 = 0;
/// `ORPCF_LOCAL` ([MS-DCOM] 2.2.13.1): a local call.
pub const ORPCF_LOCAL: u32 = 1;

impl NdrEncode for OrpcThis {
    fn encode_flat(&self, w: &mut NdrWriter) -> NdrResult<()> {
        self.version.encode_flat(w)?;
        w.u32(self.flags);
        w.u32(self.reserved1);
        w.uuid(&self.cid);
        w.pointer(self.extensions.is_some());
        Ok(())
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> NdrResult<()> {
        match &self.extensions {
            Some(e) => encode_extent_array(w, e),
            None => Ok(()),
        }
    }
}
impl NdrDecode for OrpcThis {
    fn decode_flat(r: &mut NdrReader<'_>) -> NdrResult<Self> {
        Ok(Self {
            version: ComVersion::decode_flat(r)?,
            flags: r.u32()?,
            reserved1: r.u32()?,
            cid: r.uuid()?,
            extensions: r.pointer()?.map(|_| Vec::new()),
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> NdrResult<()> {
        if self.extensions.is_some() {
            self.extensions = Some(decode_extent_array(r)?);
        }
        Ok(())
    }
}

/// `ORPCTHAT` ([MS-DCOM] 2.2.13.2): the first out parameter of every ORPC response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrpcThat {
    /// `flags`: zero.
    pub flags: u32,
    /// `extensions`: `None` is the null `ORPC_EXTENT_ARRAY` pointer.
    pub extensions: Option<Vec<OrpcExtent>>,
}

impl NdrEncode for OrpcThat {
    fn encode_flat(&self, w: &mut NdrWriter) -> NdrResult<()> {
        w.u32(self.flags);
        w.pointer(self.extensions.is_some());
        Ok(())
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> NdrResult<()> {
        match &self.extensions {
            Some(e) => encode_extent_array(w, e),
            None => Ok(()),
        }
    }
}
impl NdrDecode for OrpcThat {
    fn decode_flat(r: &mut NdrReader<'_>) -> NdrResult<Self> {
        Ok(Self {
            flags: r.u32()?,
            extensions: r.pointer()?.map(|_| Vec::new()),
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> NdrResult<()> {
        if self.extensions.is_some() {
            self.extensions = Some(decode_extent_array(r)?);
        }
        Ok(())
    }
}

/// `MInterfacePointer` ([MS-DCOM] 2.2.14): a marshaled interface, the conformant structure
/// `{ unsigned long ulCntData; [size_is(ulCntData)] byte abData[]; }`; `abData` is an OBJREF
/// ([MS-DCOM] 2.2.18, see [`crate::ObjRef::from_interface_pointer`]). Usually passed as a
/// `[unique]` pointer (`Option<MInterfacePointer>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MInterfacePointer {
    /// `abData`, `ulCntData` bytes.
    pub data: Vec<u8>,
}

impl NdrEncode for MInterfacePointer {
    fn encode_flat(&self, w: &mut NdrWriter) -> NdrResult<()> {
        // Conformance hoisted to the start of the conformant structure (C706 14.3.7.1).
        w.max_count(self.data.len())?;
        w.max_count(self.data.len())?;
        w.bytes(&self.data);
        Ok(())
    }
}
impl NdrDecode for MInterfacePointer {
    fn decode_flat(r: &mut NdrReader<'_>) -> NdrResult<Self> {
        let max = r.max_count()?;
        let cnt = r.u32()?;
        if cnt != max {
            return Err(NdrError::InvalidValue(
                "ulCntData differs from its conformance",
            ));
        }
        r.check_count(u64::from(cnt), 1)?;
        Ok(Self {
            data: r.bytes(cnt as usize)?.to_vec(),
        })
    }
}

/// An `HRESULT` ([MS-ERREF] 2.1), kept as the raw 32-bit value. Names of codes belong to
/// the knowledge base; only the few codes this crate's code uses are constants here.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Hresult(pub u32);

impl Hresult {
    /// `S_OK`.
    pub const S_OK: Hresult = Hresult(0);
    /// `S_FALSE`.
    pub const S_FALSE: Hresult = Hresult(1);
    /// `E_NOINTERFACE`.
    pub const E_NOINTERFACE: Hresult = Hresult(0x8000_4002);
    /// `E_FAIL`.
    pub const E_FAIL: Hresult = Hresult(0x8000_4005);
    /// `E_ACCESSDENIED`.
    pub const E_ACCESSDENIED: Hresult = Hresult(0x8007_0005);
    /// `E_OUTOFMEMORY`.
    pub const E_OUTOFMEMORY: Hresult = Hresult(0x8007_000e);
    /// `E_INVALIDARG`.
    pub const E_INVALIDARG: Hresult = Hresult(0x8007_0057);
    /// `REGDB_E_CLASSNOTREG`: the class is not registered.
    pub const REGDB_E_CLASSNOTREG: Hresult = Hresult(0x8004_0154);
    /// 0x80010111, what Windows 10 2004+ and Server 2022 answer to a client announcing
    /// COM version 5.1.
    pub const COM_VERSION_REFUSED: Hresult = Hresult(0x8001_0111);

    /// `HRESULT_FROM_WIN32(code)` ([MS-ERREF] 2.1.2): how a Win32 or RPC status reaches a
    /// COM caller (`RPC_S_SERVER_UNAVAILABLE` 1722 as `0x800706BA`). 0 stays `S_OK`; a value
    /// that is already an HRESULT is kept.
    pub const fn from_win32(code: u32) -> Hresult {
        if code == 0 || code & 0x8000_0000 != 0 {
            Hresult(code)
        } else {
            Hresult((code & 0xffff) | 0x8007_0000)
        }
    }

    /// True when the severity bit is clear.
    pub fn is_success(self) -> bool {
        self.0 & 0x8000_0000 == 0
    }
    /// True when the severity bit is set.
    pub fn is_failure(self) -> bool {
        !self.is_success()
    }
    /// The facility field (bits 16-26).
    pub fn facility(self) -> u16 {
        ((self.0 >> 16) & 0x7ff) as u16
    }
    /// The code field (low 16 bits).
    pub fn code(self) -> u16 {
        (self.0 & 0xffff) as u16
    }
}

impl From<u32> for Hresult {
    fn from(v: u32) -> Self {
        Self(v)
    }
}
impl From<Hresult> for u32 {
    fn from(h: Hresult) -> Self {
        h.0
    }
}

impl fmt::Display for Hresult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}
impl fmt::Debug for Hresult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hresult({:#010x})", self.0)
    }
}

impl NdrEncode for Hresult {
    fn encode_flat(&self, w: &mut NdrWriter) -> NdrResult<()> {
        w.u32(self.0);
        Ok(())
    }
}
impl NdrDecode for Hresult {
    fn decode_flat(r: &mut NdrReader<'_>) -> NdrResult<Self> {
        Ok(Self(r.u32()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc<T: NdrEncode>(v: &T) -> Vec<u8> {
        let mut w = NdrWriter::new();
        w.write(v).expect("encode");
        w.into_bytes()
    }
    fn dec<T: NdrDecode>(b: &[u8]) -> NdrResult<T> {
        let mut r = NdrReader::new(b);
        let v = r.read()?;
        r.finish()?;
        Ok(v)
    }

    const CID: Uuid = Uuid::from_u128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10);

    #[test]
    fn orpcthis_default_is_5_7_and_exact_bytes() {
        let t = OrpcThis::new(CID);
        assert_eq!(t.version, ComVersion::new(5, 7));
        let b = enc(&t);
        let mut want = vec![5, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        want.extend_from_slice(&CID.to_bytes_le());
        want.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(b, want);
        assert_eq!(b.len(), 32);
        assert_eq!(dec::<OrpcThis>(&b).expect("decode"), t);
    }

    #[test]
    fn orpcthis_with_extension_exact_layout() {
        let mut t = OrpcThis::new(CID);
        let id = Uuid::from_u128(0xf1f1);
        t.extensions = Some(vec![OrpcExtent {
            id,
            data: vec![1, 2, 3],
        }]);
        let b = enc(&t);
        // 32 bytes fixed part with a referent id at 28.
        assert_eq!(&b[28..32], &[0, 0, 2, 0]);
        // ORPC_EXTENT_ARRAY: size 1, reserved 0, extent pointer.
        assert_eq!(&b[32..44], &[1, 0, 0, 0, 0, 0, 0, 0, 4, 0, 2, 0]);
        // conformant array of 2 pointer slots, second null.
        assert_eq!(&b[44..56], &[2, 0, 0, 0, 8, 0, 2, 0, 0, 0, 0, 0]);
        // the extent: conformance 8, id, size 3, 8 data bytes.
        assert_eq!(&b[56..60], &[8, 0, 0, 0]);
        assert_eq!(&b[60..76], &id.to_bytes_le());
        assert_eq!(&b[76..80], &[3, 0, 0, 0]);
        assert_eq!(&b[80..88], &[1, 2, 3, 0, 0, 0, 0, 0]);
        assert_eq!(b.len(), 88);
        assert_eq!(dec::<OrpcThis>(&b).expect("decode"), t);
    }

    #[test]
    fn orpcthat_null_is_eight_bytes() {
        let t = OrpcThat::default();
        assert_eq!(enc(&t), vec![0; 8]);
        assert_eq!(dec::<OrpcThat>(&[0; 8]).expect("decode"), t);
        assert!(dec::<OrpcThat>(&[0; 7]).is_err());
    }

    #[test]
    fn interface_pointer_layout_and_mismatch() {
        let p = MInterfacePointer {
            data: vec![0xaa, 0xbb],
        };
        let b = enc(&p);
        assert_eq!(b, vec![2, 0, 0, 0, 2, 0, 0, 0, 0xaa, 0xbb]);
        assert_eq!(dec::<MInterfacePointer>(&b).expect("decode"), p);
        assert!(dec::<MInterfacePointer>(&[2, 0, 0, 0, 3, 0, 0, 0, 1, 2, 3]).is_err());
        assert!(
            dec::<MInterfacePointer>(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err()
        );
    }

    #[test]
    fn hresult_display_and_severity() {
        assert_eq!(Hresult(0x8004_1003).to_string(), "0x80041003");
        assert_eq!(Hresult::S_OK.to_string(), "0x00000000");
        assert!(Hresult::S_OK.is_success());
        assert!(Hresult::S_FALSE.is_success());
        assert!(Hresult::E_ACCESSDENIED.is_failure());
        assert_eq!(Hresult::E_ACCESSDENIED.facility(), 7);
        assert_eq!(Hresult::E_ACCESSDENIED.code(), 5);
        assert_eq!(format!("{:?}", Hresult(5)), "Hresult(0x00000005)");
    }

    #[test]
    fn extent_size_above_conformance_rejected() {
        let mut b = vec![0u8; 0];
        b.extend_from_slice(&8u32.to_le_bytes());
        b.extend_from_slice(&[0; 16]);
        b.extend_from_slice(&9u32.to_le_bytes());
        b.extend_from_slice(&[0; 8]);
        assert!(dec::<OrpcExtent>(&b).is_err());
    }

    fn arb_extent() -> impl Strategy<Value = OrpcExtent> {
        (any::<u128>(), proptest::collection::vec(any::<u8>(), 0..20)).prop_map(|(id, data)| {
            OrpcExtent {
                id: Uuid::from_u128(id),
                data,
            }
        })
    }

    proptest! {
        #[test]
        fn orpcthis_round_trip(
            major in any::<u16>(), minor in any::<u16>(), flags in any::<u32>(),
            res in any::<u32>(), cid in any::<u128>(),
            ext in proptest::option::of(proptest::collection::vec(arb_extent(), 1..4)),
        ) {
            let t = OrpcThis { version: ComVersion::new(major, minor), flags, reserved1: res,
                cid: Uuid::from_u128(cid), extensions: ext };
            prop_assert_eq!(dec::<OrpcThis>(&enc(&t)).expect("decode"), t);
        }

        #[test]
        fn orpcthat_round_trip(flags in any::<u32>(),
            ext in proptest::option::of(proptest::collection::vec(arb_extent(), 1..4))) {
            let t = OrpcThat { flags, extensions: ext };
            prop_assert_eq!(dec::<OrpcThat>(&enc(&t)).expect("decode"), t);
        }

        #[test]
        fn orpc_decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = dec::<OrpcThis>(&data);
            let _ = dec::<OrpcThat>(&data);
            let _ = dec::<MInterfacePointer>(&data);
            let _ = dec::<Option<MInterfacePointer>>(&data);
        }
    }
}
