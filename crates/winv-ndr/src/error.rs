//! Typed errors for NDR encoding and decoding.

/// An error while encoding or decoding NDR data ([MS-RPCE] 2.2.5, C706 chapter 14).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NdrError {
    /// The input ended before a value (or alignment padding) could be read.
    #[error("unexpected end of input: needed {needed} bytes at offset {at}")]
    UnexpectedEnd {
        /// Bytes that were needed.
        needed: usize,
        /// Offset in the NDR stream where they were needed.
        at: usize,
    },
    /// A count read from the wire cannot fit in the remaining input.
    #[error("count {count} too large for {remaining} remaining bytes at offset {at}")]
    CountTooLarge {
        /// The count read from the wire.
        count: u64,
        /// Bytes left in the input.
        remaining: usize,
        /// Offset in the NDR stream of the data the count describes.
        at: usize,
    },
    /// Conformance and variance disagree (offset + actual_count > max_count, C706 14.3.3.4).
    #[error("inconsistent array bounds: offset {offset} actual_count {actual_count} max_count {max_count}")]
    BadBounds {
        /// Variance offset.
        offset: u32,
        /// Variance actual_count.
        actual_count: u32,
        /// Conformance max_count.
        max_count: u32,
    },
    /// A pointer's referent id is not allowed here (a null `[ref]` pointer).
    #[error("invalid pointer {referent_id:#x} at offset {at}")]
    InvalidPointer {
        /// Referent id read from the wire.
        referent_id: u32,
        /// Offset in the NDR stream of the pointer.
        at: usize,
    },
    /// A string is malformed (missing terminator, invalid UTF-16, bad lengths).
    #[error("bad string: {0}")]
    BadString(&'static str),
    /// A value does not fit its wire field when encoding (e.g. a string longer than u16 bytes).
    #[error("value too large to encode: {0}")]
    TooLarge(&'static str),
    /// A value read from the wire is not valid for its type.
    #[error("invalid value: {0}")]
    InvalidValue(&'static str),
    /// A type serialization header ([MS-RPCE] 2.2.6) is malformed or unsupported.
    #[error("bad type serialization header: {0}")]
    BadHeader(&'static str),
    /// Input was left over after a complete value was decoded.
    #[error("{0} trailing bytes after value")]
    TrailingBytes(usize),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, NdrError>;
