//! `BSTR` as MS-WMI passes it: the transmitted BSTR of [MS-OAUT] 2.2.23.

use winv_ndr::{NdrDecode, NdrEncode, NdrError, NdrReader, NdrWriter, Result};

/// `cBytes` of a null transmitted BSTR ([MS-OAUT] 2.2.23.2).
pub const NULL_BSTR_CBYTES: u32 = 0xFFFF_FFFF;

/// A transmitted `BSTR` ([MS-OAUT] 2.2.23.2): `typedef [unique] FLAGGED_WORD_BLOB* BSTR`,
/// where `FLAGGED_WORD_BLOB` ([MS-OAUT] 2.2.23.1) is the conformant structure
/// `{ unsigned long cBytes; unsigned long clSize; [size_is(clSize)] unsigned short asData[]; }`.
///
/// - `Bstr(None)` is the null transmitted BSTR: a non-null pointer to a blob with
///   `cBytes = 0xFFFFFFFF`, `clSize = 0` (what Windows sends for a NULL presented BSTR).
/// - `Bstr(Some(s))` carries the UTF-16 units of `s` exactly: `clSize` units and
///   `cBytes = 2 * clSize`. No terminator is added: the BSTR length prefix does not count
///   one. Clients differ here: impacket and aiowmi append a NUL to every string and count it
///   (`"WQL\0"`, `clSize = 4`, `cBytes = 8`); Windows does not. The value keeps whatever was
///   on the wire so that a decoded request re-encodes byte for byte; [`Bstr::text`] gives
///   the text without a trailing NUL.
///
/// Decoding also accepts a null pointer (no blob at all) as `Bstr(None)`, and any `cBytes`
/// that rounds up to `clSize` ([MS-OAUT] 2.2.23.1); an odd `cBytes` is not preserved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Bstr(pub Option<String>);

impl Bstr {
    /// A BSTR holding exactly `s` (no terminator), as Windows sends it.
    pub fn new(s: &str) -> Self {
        Self(Some(s.to_owned()))
    }

    /// A BSTR holding `s` followed by one NUL unit, as impacket and aiowmi send it.
    pub fn with_nul(s: &str) -> Self {
        let mut v = s.to_owned();
        v.push('\0');
        Self(Some(v))
    }

    /// The null BSTR.
    pub fn null() -> Self {
        Self(None)
    }

    /// The text with one trailing NUL removed, or `None` for the null BSTR.
    pub fn text(&self) -> Option<&str> {
        self.0.as_deref().map(|s| s.strip_suffix('\0').unwrap_or(s))
    }

    /// Writes the `FLAGGED_WORD_BLOB` referent.
    fn write_blob(&self, w: &mut NdrWriter) -> Result<()> {
        match &self.0 {
            None => {
                w.max_count(0)?;
                w.u32(NULL_BSTR_CBYTES);
                w.u32(0);
            }
            Some(s) => {
                let units: Vec<u16> = s.encode_utf16().collect();
                let cbytes = units
                    .len()
                    .checked_mul(2)
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or(NdrError::TooLarge("bstr length"))?;
                // Conformance hoisted to the start of the conformant structure (C706 14.3.7.1).
                w.max_count(units.len())?;
                w.u32(cbytes);
                w.max_count(units.len())?;
                for u in units {
                    w.u16(u);
                }
            }
        }
        Ok(())
    }

    /// Reads the `FLAGGED_WORD_BLOB` referent.
    fn read_blob(r: &mut NdrReader<'_>) -> Result<Self> {
        let max = r.max_count()?;
        let cbytes = r.u32()?;
        let cl_size = r.u32()?;
        if cl_size != max {
            return Err(NdrError::BadString(
                "bstr clSize differs from its conformance",
            ));
        }
        if cbytes == NULL_BSTR_CBYTES {
            if cl_size != 0 {
                return Err(NdrError::BadString("null bstr with data"));
            }
            return Ok(Self(None));
        }
        // clSize is cBytes / 2 rounded up ([MS-OAUT] 2.2.23.1).
        if u64::from(cbytes).div_ceil(2) != u64::from(cl_size) {
            return Err(NdrError::BadString("bstr cBytes disagrees with clSize"));
        }
        let units = r.u16_units(cl_size)?;
        let s = String::from_utf16(&units).map_err(|_| NdrError::BadString("invalid utf-16"))?;
        Ok(Self(Some(s)))
    }
}

impl From<&str> for Bstr {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

/// Flat part: the `[unique]` pointer (never null when encoding; see the type's doc).
impl NdrEncode for Bstr {
    fn encode_flat(&self, w: &mut NdrWriter) -> Result<()> {
        w.pointer(true);
        Ok(())
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> Result<()> {
        self.write_blob(w)
    }
}

impl NdrDecode for Bstr {
    fn decode_flat(r: &mut NdrReader<'_>) -> Result<Self> {
        // A placeholder `Some` marks a pointer whose blob is still to be read.
        Ok(Self(r.pointer()?.map(|_| String::new())))
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> Result<()> {
        if self.0.is_some() {
            *self = Self::read_blob(r)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(b: &Bstr) -> Vec<u8> {
        let mut w = NdrWriter::new();
        w.write(b).expect("encode");
        w.into_bytes()
    }

    fn dec(bytes: &[u8]) -> Result<Bstr> {
        let mut r = NdrReader::new(bytes);
        let b = r.read::<Bstr>()?;
        r.finish()?;
        Ok(b)
    }

    #[test]
    fn windows_style_bstr_has_no_terminator() {
        let bytes = enc(&Bstr::new("WQL"));
        assert_eq!(
            bytes,
            [
                0x00, 0x00, 0x02, 0x00, // referent id
                3, 0, 0, 0, // max_count
                6, 0, 0, 0, // cBytes
                3, 0, 0, 0, // clSize
                b'W', 0, b'Q', 0, b'L', 0,
            ]
        );
    }

    #[test]
    fn impacket_style_bstr_counts_the_nul_and_text_strips_it() {
        let b = Bstr::with_nul("WQL");
        let bytes = enc(&b);
        assert_eq!(&bytes[4..16], &[4, 0, 0, 0, 8, 0, 0, 0, 4, 0, 0, 0]);
        let back = dec(&bytes).expect("decode");
        assert_eq!(back, b);
        assert_eq!(back.text(), Some("WQL"));
    }

    #[test]
    fn null_bstr_is_a_blob_with_all_ones_cbytes() {
        let bytes = enc(&Bstr::null());
        assert_eq!(
            bytes,
            [0, 0, 2, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]
        );
        assert_eq!(dec(&bytes).expect("decode"), Bstr::null());
    }

    #[test]
    fn null_pointer_decodes_as_null_bstr() {
        assert_eq!(dec(&[0, 0, 0, 0]).expect("decode"), Bstr::null());
    }

    #[test]
    fn inconsistent_sizes_are_rejected() {
        // clSize 3 but cBytes 8.
        let bytes = [
            0, 0, 2, 0, 3, 0, 0, 0, 8, 0, 0, 0, 3, 0, 0, 0, b'a', 0, b'b', 0, b'c', 0,
        ];
        assert!(dec(&bytes).is_err());
        // max_count differs from clSize.
        let bytes = [
            0, 0, 2, 0, 2, 0, 0, 0, 6, 0, 0, 0, 3, 0, 0, 0, b'a', 0, b'b', 0, b'c', 0,
        ];
        assert!(dec(&bytes).is_err());
        // Odd cBytes that rounds up to clSize is accepted.
        let bytes = [0, 0, 2, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, b'a', 0];
        assert_eq!(dec(&bytes).expect("decode").text(), Some("a"));
    }

    proptest! {
        #[test]
        fn bstr_round_trips(s in proptest::option::of(".{0,40}")) {
            let b = Bstr(s);
            prop_assert_eq!(dec(&enc(&b)).expect("decode"), b);
        }

        #[test]
        fn bstr_decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = dec(&data);
        }
    }
}
