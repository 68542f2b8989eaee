//! Errors of the MS-WMIO codec.

use crate::value::CimType;

/// What went wrong decoding or encoding an MS-WMIO object ([MS-WMIO] 2.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WmioError {
    /// The input ends before a field that must be there.
    #[error("truncated input reading {0}")]
    Truncated(&'static str),
    /// `Signature` is not 0x12345678 ([MS-WMIO] 2.2.77).
    #[error("bad encoding unit signature {0:#010x}")]
    BadSignature(u32),
    /// A field holds a value the specification does not allow.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// A `HeapRef` points outside its heap ([MS-WMIO] 2.2.69).
    #[error("heap reference {0:#x} out of range")]
    BadHeapRef(u32),
    /// A dictionary reference beyond the known dictionary ([MS-WMIO] 2.2.77).
    #[error("unknown dictionary string {0}")]
    BadDictionaryRef(u32),
    /// A `CimType` code that is not a CIM type ([MS-WMIO] 2.2.82).
    #[error("unknown cim type {0:#x}")]
    UnknownCimType(u32),
    /// Embedded objects nest deeper than [`crate::MAX_DEPTH`].
    #[error("objects nested too deeply")]
    TooDeep,
    /// No property of that name.
    #[error("unknown property {0}")]
    UnknownProperty(String),
    /// A value whose type is not the property's (or the array's element) type.
    #[error("type mismatch for {name}: expected {expected}")]
    TypeMismatch { name: String, expected: CimType },
    /// The object does not fit the 31-bit and 32-bit lengths of the encoding.
    #[error("object too large to encode")]
    TooLarge,
    /// A class cache miss or overflow in an object array ([MS-WMI] 2.2.14).
    #[error("class cache: {0}")]
    ClassCache(&'static str),
}
