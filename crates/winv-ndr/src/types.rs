//! Ready-made NDR types reused by the RPC stubs: context handles, strings, varying arrays,
//! `RPC_UNICODE_STRING`.

use crate::error::{NdrError, Result};
use crate::writer::count_u32;
use crate::{NdrDecode, NdrEncode, NdrReader, NdrWriter};
use uuid::Uuid;

/// An RPC context handle on the wire: 20 bytes, `attributes` u32 then a UUID
/// ([MS-RPCE] 2.2.5.3.4.1, C706 14.3.8 `ndr_context_handle`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ContextHandle {
    /// `context_handle_attributes` (0 for handles returned by Windows).
    pub attributes: u32,
    /// `context_handle_uuid`.
    pub uuid: Uuid,
}

impl ContextHandle {
    /// True for the null context handle (all 20 bytes zero).
    pub fn is_null(&self) -> bool {
        self.attributes == 0 && self.uuid.is_nil()
    }
}

impl NdrEncode for ContextHandle {
    fn encode_flat(&self, w: &mut NdrWriter) -> Result<()> {
        w.u32(self.attributes);
        w.uuid(&self.uuid);
        Ok(())
    }
}
impl NdrDecode for ContextHandle {
    fn decode_flat(r: &mut NdrReader<'_>) -> Result<Self> {
        Ok(Self {
            attributes: r.u32()?,
            uuid: r.uuid()?,
        })
    }
}

/// The referent of a `[string] wchar_t*`: a conformant varying array of UTF-16 units whose
/// max_count and actual_count include the terminating NUL (C706 14.3.4,
/// [MS-RPCE] 2.2.5.3.4.2). The Rust value holds the text without the terminator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct WcharString(pub String);

impl From<&str> for WcharString {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl NdrEncode for WcharString {
    fn encode_flat(&self, w: &mut NdrWriter) -> Result<()> {
        w.wstring(&self.0)
    }
}
impl NdrDecode for WcharString {
    fn decode_flat(r: &mut NdrReader<'_>) -> Result<Self> {
        r.wstring().map(Self)
    }
}

/// A `[string, unique] wchar_t*`: a unique pointer to a [`WcharString`] referent
/// (C706 14.3.10 and 14.3.4). `WString(None)` is the null pointer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct WString(pub Option<String>);

impl WString {
    /// The null pointer.
    pub fn null() -> Self {
        Self(None)
    }
    /// The string, if the pointer is not null.
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl From<&str> for WString {
    fn from(s: &str) -> Self {
        Self(Some(s.to_owned()))
    }
}

impl NdrEncode for WString {
    fn encode_flat(&self, w: &mut NdrWriter) -> Result<()> {
        w.pointer(self.0.is_some());
        Ok(())
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> Result<()> {
        match &self.0 {
            Some(s) => w.wstring(s),
            None => Ok(()),
        }
    }
}
impl NdrDecode for WString {
    fn decode_flat(r: &mut NdrReader<'_>) -> Result<Self> {
        Ok(Self(r.pointer()?.map(|_| String::new())))
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> Result<()> {
        if let Some(s) = &mut self.0 {
            *s = r.wstring()?;
        }
        Ok(())
    }
}

/// The referent of a `[string] char*`: a conformant varying array of octets whose counts
/// include the terminating NUL (C706 14.3.4). The value holds the bytes without it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CharString(pub Vec<u8>);

impl NdrEncode for CharString {
    fn encode_flat(&self, w: &mut NdrWriter) -> Result<()> {
        w.cstring(&self.0)
    }
}
impl NdrDecode for CharString {
    fn decode_flat(r: &mut NdrReader<'_>) -> Result<Self> {
        r.cstring().map(Self)
    }
}

/// A varying array `[length_is(n)] T[N]` (C706 14.3.3.3): offset, actual_count, then the
/// `actual_count` elements. The fixed bound `N` is not on the wire; decoding only checks
/// the counts against the input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VaryingArray<T> {
    /// Index of the first transmitted element.
    pub offset: u32,
    /// The transmitted elements.
    pub items: Vec<T>,
}

impl<T: NdrEncode> NdrEncode for VaryingArray<T> {
    fn encode_flat(&self, w: &mut NdrWriter) -> Result<()> {
        w.variance(self.offset, self.items.len())?;
        w.elements(&self.items)
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> Result<()> {
        w.elements_deferred(&self.items)
    }
}
impl<T: NdrDecode> NdrDecode for VaryingArray<T> {
    fn decode_flat(r: &mut NdrReader<'_>) -> Result<Self> {
        let (offset, actual) = r.variance(u32::MAX)?;
        Ok(Self {
            offset,
            items: r.elements(actual)?,
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> Result<()> {
        r.elements_deferred(&mut self.items)
    }
}

/// A conformant varying array `[size_is(m), length_is(n)] T[]` (C706 14.3.3.4):
/// max_count, offset, actual_count, then the elements. Encoding fails unless
/// `offset + items.len() <= max_count`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConformantVaryingArray<T> {
    /// Allocated size (`max_count`).
    pub max_count: u32,
    /// Index of the first transmitted element.
    pub offset: u32,
    /// The transmitted elements.
    pub items: Vec<T>,
}

impl<T> ConformantVaryingArray<T> {
    /// An array with offset 0 and max_count equal to the number of items.
    pub fn new(items: Vec<T>) -> Self {
        Self {
            max_count: u32::try_from(items.len()).unwrap_or(u32::MAX),
            offset: 0,
            items,
        }
    }
}

impl<T: NdrEncode> NdrEncode for ConformantVaryingArray<T> {
    fn encode_flat(&self, w: &mut NdrWriter) -> Result<()> {
        let n = count_u32(self.items.len(), "actual_count")?;
        if self
            .offset
            .checked_add(n)
            .is_none_or(|end| end > self.max_count)
        {
            return Err(NdrError::TooLarge(
                "offset plus actual_count above max_count",
            ));
        }
        w.u32(self.max_count);
        w.variance(self.offset, self.items.len())?;
        w.elements(&self.items)
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> Result<()> {
        w.elements_deferred(&self.items)
    }
}
impl<T: NdrDecode> NdrDecode for ConformantVaryingArray<T> {
    fn decode_flat(r: &mut NdrReader<'_>) -> Result<Self> {
        let max_count = r.max_count()?;
        let (offset, actual) = r.variance(max_count)?;
        Ok(Self {
            max_count,
            offset,
            items: r.elements(actual)?,
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> Result<()> {
        r.elements_deferred(&mut self.items)
    }
}

/// `RPC_UNICODE_STRING` ([MS-DTYP] 2.3.10): `Length` and `MaximumLength` in bytes (u16), then
/// a unique pointer to `[size_is(MaximumLength/2), length_is(Length/2)] WCHAR*`, a conformant
/// varying array *without* a terminator. `Length` is derived from `value` when encoding; when
/// decoding, the text is the referent's actual_count units, which must fit in
/// `MaximumLength` (the wire `Length` is checked against `MaximumLength` only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RpcUnicodeString {
    /// The text (`Buffer`), or `None` for a null `Buffer`.
    pub value: Option<String>,
    /// `MaximumLength` in bytes; must be at least the encoded `Length`.
    pub maximum_length: u16,
}

impl RpcUnicodeString {
    /// A string whose `MaximumLength` equals its `Length`. Fails if it is longer than
    /// 32767 UTF-16 units.
    pub fn new(s: &str) -> Result<Self> {
        let len = Self::byte_length(s)?;
        Ok(Self {
            value: Some(s.to_owned()),
            maximum_length: len,
        })
    }

    /// A string with a null `Buffer` and zero lengths.
    pub fn null() -> Self {
        Self::default()
    }

    fn byte_length(s: &str) -> Result<u16> {
        s.encode_utf16()
            .count()
            .checked_mul(2)
            .and_then(|n| u16::try_from(n).ok())
            .ok_or(NdrError::TooLarge("rpc_unicode_string length"))
    }
}

impl NdrEncode for RpcUnicodeString {
    fn encode_flat(&self, w: &mut NdrWriter) -> Result<()> {
        let len = match &self.value {
            Some(s) => Self::byte_length(s)?,
            None => 0,
        };
        if len > self.maximum_length {
            return Err(NdrError::TooLarge(
                "rpc_unicode_string length above maximum_length",
            ));
        }
        w.u16(len);
        w.u16(self.maximum_length);
        w.pointer(self.value.is_some());
        Ok(())
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> Result<()> {
        if let Some(s) = &self.value {
            let units: Vec<u16> = s.encode_utf16().collect();
            w.max_count(usize::from(self.maximum_length / 2))?;
            w.variance(0, units.len())?;
            for u in units {
                w.u16(u);
            }
        }
        Ok(())
    }
}
impl NdrDecode for RpcUnicodeString {
    fn decode_flat(r: &mut NdrReader<'_>) -> Result<Self> {
        let length = r.u16()?;
        let maximum_length = r.u16()?;
        if length > maximum_length {
            return Err(NdrError::BadString(
                "rpc_unicode_string length above maximum_length",
            ));
        }
        let value = r.pointer()?.map(|_| String::new());
        Ok(Self {
            value,
            maximum_length,
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> Result<()> {
        if self.value.is_none() {
            return Ok(());
        }
        let max = r.max_count()?;
        let (_offset, actual) = r.variance(max)?;
        if u64::from(actual) * 2 > u64::from(self.maximum_length) {
            return Err(NdrError::BadString(
                "rpc_unicode_string buffer above maximum_length",
            ));
        }
        let units = r.u16_units(actual)?;
        self.value =
            Some(String::from_utf16(&units).map_err(|_| NdrError::BadString("invalid utf-16"))?);
        Ok(())
    }
}
