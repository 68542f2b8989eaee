//! CIM types and typed values ([MS-WMIO] 2.2.82 CimType, 2.2.71 EncodedValue).

use std::fmt;

/// A CIM base type, with its wire code ([MS-WMIO] 2.2.82 CimBaseType; `CIMTYPE_ENUMERATION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum CimBase {
    Sint16 = 2,
    Sint32 = 3,
    Real32 = 4,
    Real64 = 5,
    String = 8,
    Boolean = 11,
    Object = 13,
    Sint8 = 16,
    Uint8 = 17,
    Uint16 = 18,
    Uint32 = 19,
    Sint64 = 20,
    Uint64 = 21,
    DateTime = 101,
    Reference = 102,
    Char16 = 103,
}

impl CimBase {
    /// Every base type.
    pub const ALL: [CimBase; 16] = [
        CimBase::Sint8,
        CimBase::Uint8,
        CimBase::Sint16,
        CimBase::Uint16,
        CimBase::Sint32,
        CimBase::Uint32,
        CimBase::Sint64,
        CimBase::Uint64,
        CimBase::Real32,
        CimBase::Real64,
        CimBase::Boolean,
        CimBase::String,
        CimBase::DateTime,
        CimBase::Reference,
        CimBase::Char16,
        CimBase::Object,
    ];

    /// The base type with wire code `code`, if any.
    pub fn from_code(code: u16) -> Option<CimBase> {
        CimBase::ALL.iter().copied().find(|b| *b as u16 == code)
    }

    /// The MOF name of the type (`uint32`, `datetime`, `object`, ...).
    pub fn mof_name(self) -> &'static str {
        match self {
            CimBase::Sint8 => "sint8",
            CimBase::Uint8 => "uint8",
            CimBase::Sint16 => "sint16",
            CimBase::Uint16 => "uint16",
            CimBase::Sint32 => "sint32",
            CimBase::Uint32 => "uint32",
            CimBase::Sint64 => "sint64",
            CimBase::Uint64 => "uint64",
            CimBase::Real32 => "real32",
            CimBase::Real64 => "real64",
            CimBase::Boolean => "boolean",
            CimBase::String => "string",
            CimBase::DateTime => "datetime",
            CimBase::Reference => "ref",
            CimBase::Char16 => "char16",
            CimBase::Object => "object",
        }
    }
}

/// A CIM type: a base type, possibly an array of it ([MS-WMIO] 2.2.82; the array flag is
/// 0x2000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CimType {
    pub base: CimBase,
    pub array: bool,
}

/// `CimArrayFlag` ([MS-WMIO] 2.2.82).
pub const CIM_ARRAY_FLAG: u32 = 0x2000;

impl CimType {
    /// A scalar of `base`.
    pub const fn scalar(base: CimBase) -> CimType {
        CimType { base, array: false }
    }

    /// An array of `base`.
    pub const fn array_of(base: CimBase) -> CimType {
        CimType { base, array: true }
    }

    /// Decodes the lower 16 bits of a wire CimType; other bits (such as the inherited flag
    /// of a property's type, [MS-WMIO] 2.2.25) are ignored here and handled by the caller.
    pub fn from_u32(code: u32) -> Option<CimType> {
        let low = (code & 0xffff) as u16;
        let array = u32::from(low) & CIM_ARRAY_FLAG != 0;
        let base = CimBase::from_code(low & !(CIM_ARRAY_FLAG as u16))?;
        Some(CimType { base, array })
    }

    /// The wire code (base code, with 0x2000 for arrays).
    pub fn to_u32(self) -> u32 {
        let base = u32::from(self.base as u16);
        if self.array {
            base | CIM_ARRAY_FLAG
        } else {
            base
        }
    }
}

impl fmt::Display for CimType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.base.mof_name())?;
        if self.array {
            f.write_str("[]")?;
        }
        Ok(())
    }
}

/// A typed CIM value. NULL is not a value: it is `None` (or [`crate::Slot::Null`]) where a
/// value may be absent.
///
/// `DateTime` keeps the DMTF text form (`yyyymmddHHMMSS.mmmmmmsUUU` for a timestamp,
/// `ddddddddHHMMSS.mmmmmm:000` for an interval) exactly as encoded ([MS-WMIO] 2.2.80).
/// `Reference` is an object path. `Char16` is one UTF-16 code unit.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Sint8(i8),
    Uint8(u8),
    Sint16(i16),
    Uint16(u16),
    Sint32(i32),
    Uint32(u32),
    Sint64(i64),
    Uint64(u64),
    Real32(f32),
    Real64(f64),
    Boolean(bool),
    String(String),
    DateTime(String),
    Reference(String),
    Char16(u16),
    /// An embedded object (class or instance).
    Object(Box<crate::Object>),
    /// An array; every item has base type `element` (INVARIANT for encoders: checked, an
    /// item of another type is an encoding error).
    Array(CimBase, Vec<Value>),
}

impl Value {
    /// The CIM type of this value.
    pub fn cim_type(&self) -> CimType {
        match self {
            Value::Sint8(_) => CimType::scalar(CimBase::Sint8),
            Value::Uint8(_) => CimType::scalar(CimBase::Uint8),
            Value::Sint16(_) => CimType::scalar(CimBase::Sint16),
            Value::Uint16(_) => CimType::scalar(CimBase::Uint16),
            Value::Sint32(_) => CimType::scalar(CimBase::Sint32),
            Value::Uint32(_) => CimType::scalar(CimBase::Uint32),
            Value::Sint64(_) => CimType::scalar(CimBase::Sint64),
            Value::Uint64(_) => CimType::scalar(CimBase::Uint64),
            Value::Real32(_) => CimType::scalar(CimBase::Real32),
            Value::Real64(_) => CimType::scalar(CimBase::Real64),
            Value::Boolean(_) => CimType::scalar(CimBase::Boolean),
            Value::String(_) => CimType::scalar(CimBase::String),
            Value::DateTime(_) => CimType::scalar(CimBase::DateTime),
            Value::Reference(_) => CimType::scalar(CimBase::Reference),
            Value::Char16(_) => CimType::scalar(CimBase::Char16),
            Value::Object(_) => CimType::scalar(CimBase::Object),
            Value::Array(base, _) => CimType::array_of(*base),
        }
    }

    /// The text of a string-like value (`String`, `DateTime`, `Reference`).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) | Value::DateTime(s) | Value::Reference(s) => Some(s),
            _ => None,
        }
    }

    /// An integer value widened to i128 (any integer type), for comparisons.
    pub fn as_i128(&self) -> Option<i128> {
        Some(match *self {
            Value::Sint8(v) => v.into(),
            Value::Uint8(v) => v.into(),
            Value::Sint16(v) => v.into(),
            Value::Uint16(v) => v.into(),
            Value::Sint32(v) => v.into(),
            Value::Uint32(v) => v.into(),
            Value::Sint64(v) => v.into(),
            Value::Uint64(v) => v.into(),
            Value::Char16(v) => v.into(),
            _ => return None,
        })
    }
}
