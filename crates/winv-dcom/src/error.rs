//! Typed errors of the DCOM wire layer.

use winv_ndr::NdrError;

/// An error while encoding or decoding DCOM structures ([MS-DCOM] 2.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DcomError {
    /// The NDR layer failed (truncated input, bad counts, bad strings).
    #[error("ndr: {0}")]
    Ndr(#[from] NdrError),
    /// An OBJREF does not start with the "MEOW" signature ([MS-DCOM] 2.2.18).
    #[error("bad objref signature {0:#010x}")]
    BadSignature(u32),
    /// An OBJREF flags value that names no known variant ([MS-DCOM] 2.2.18).
    #[error("unknown objref flags {0:#x}")]
    UnknownObjRefFlags(u32),
    /// A value read from the wire is not valid here.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// A required part is absent (a null pointer or a missing property).
    #[error("missing {0}")]
    Missing(&'static str),
    /// A value does not fit its wire field when encoding.
    #[error("too large to encode: {0}")]
    TooLarge(&'static str),
    /// Bytes were left over after a complete value.
    #[error("{0} trailing bytes")]
    TrailingBytes(usize),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, DcomError>;
