//! The crate's error type.

use winv_auth::AuthError;

/// Everything that can go wrong decoding, securing, fragmenting or running a
/// connection-oriented DCE/RPC association ([C706] chapter 12, [MS-RPCE] 2.2.2).
///
/// The variants fall in four groups: protocol errors (malformed or unexpected
/// PDUs), security errors ([`Error::Security`], [`Error::MissingSignature`]...),
/// faults ([`Error::Fault`]) and rejections ([`Error::BindRejected`],
/// [`Error::ContextRejected`]); [`Error::kind`] tells which.
///
/// INVARIANT: no variant carries key material or tokens.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// The input ended before a field.
    #[error("truncated pdu: {0}")]
    Truncated(&'static str),
    /// `rpc_vers` / `rpc_vers_minor` is not 5.0.
    #[error("unsupported rpc version {major}.{minor}")]
    BadVersion {
        /// `rpc_vers`.
        major: u8,
        /// `rpc_vers_minor`.
        minor: u8,
    },
    /// The data representation says big-endian integers, which this crate refuses.
    #[error("big-endian data representation is not supported")]
    BigEndian,
    /// `ptype` is not a connection-oriented PDU type.
    #[error("unknown or connectionless packet type {0}")]
    UnknownPacketType(u8),
    /// `frag_length` disagrees with the buffer or is out of range.
    #[error("bad frag_length {frag_length} for {available} bytes")]
    FragLength {
        /// The header's `frag_length`.
        frag_length: usize,
        /// Bytes available.
        available: usize,
    },
    /// `auth_length` does not fit in the PDU.
    #[error("bad auth_length {0}")]
    AuthLength(u16),
    /// `auth_pad_length` is larger than the body it pads.
    #[error("bad auth_pad_length {0}")]
    AuthPad(u8),
    /// `auth_level` outside 0..=6.
    #[error("bad auth_level {0}")]
    AuthLevel(u8),
    /// A field is malformed.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// Something does not fit a 16-bit length field or a configured cap.
    #[error("{what} too large: {len} bytes")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        len: usize,
    },
    /// A PDU arrived that this state does not expect.
    #[error("unexpected {ptype} pdu while {state}")]
    UnexpectedPdu {
        /// The PDU type's name.
        ptype: &'static str,
        /// The association state's name.
        state: &'static str,
    },
    /// A response or fault for a call that is not outstanding.
    #[error("pdu for unknown call_id {0}")]
    UnknownCall(u32),
    /// A fragment without `PFC_FIRST_FRAG` arrived with no call in progress.
    #[error("missing first fragment of call_id {0}")]
    MissingFirstFragment(u32),
    /// A first fragment arrived while a call was being reassembled.
    #[error("second first fragment for call_id {0}")]
    DuplicateFirstFragment(u32),
    /// A fragment of another call arrived in the middle of a call.
    #[error("fragment of call_id {got} in the middle of call_id {expected}")]
    InterleavedCall {
        /// The call being reassembled.
        expected: u32,
        /// The call the fragment belongs to.
        got: u32,
    },
    /// The API was used out of order.
    #[error("invalid state: {0}")]
    State(&'static str),
    /// The presentation context id is not one the server accepted.
    #[error("presentation context {0} is not accepted")]
    UnknownContext(u16),
    /// The authentication level needs a security context and none was given.
    #[error("auth level {0} needs a security context")]
    NoSecurityContext(&'static str),
    /// A PDU that must be signed at this level has no security trailer.
    #[error("pdu has no security trailer at a signing level")]
    MissingSignature,
    /// A security trailer does not match the association's context.
    #[error("security trailer mismatch: {0}")]
    TrailerMismatch(&'static str),
    /// The security provider returned a signature of the wrong length.
    #[error("signature length {got}, expected {expected}")]
    SignatureLength {
        /// From [`winv_auth::SecurityContext::signature_len`].
        expected: usize,
        /// What was produced or received.
        got: usize,
    },
    /// The security provider failed (bad signature, bad token...).
    #[error("security: {0}")]
    Security(#[from] AuthError),
    /// The server answered a call with a fault PDU.
    #[error("rpc fault 0x{status:08x} ({name}) on call_id {call_id}")]
    Fault {
        /// The call.
        call_id: u32,
        /// The fault status.
        status: u32,
        /// Its symbolic name, or `"unknown"`.
        name: &'static str,
    },
    /// The server refused the bind with a bind_nak.
    #[error("bind rejected: {name} ({reason})")]
    BindRejected {
        /// `provider_reject_reason`.
        reason: u16,
        /// Its name.
        name: &'static str,
    },
    /// The server refused a presentation context.
    #[error("presentation context {context_id} rejected: result {result}, reason {reason}")]
    ContextRejected {
        /// The context.
        context_id: u16,
        /// `p_cont_def_result_t`.
        result: u16,
        /// `p_provider_reason_t`.
        reason: u16,
    },
}

/// Which of the four groups an [`Error`] belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed or unexpected PDUs, API misuse.
    Protocol,
    /// Signatures, tokens, security trailers.
    Security,
    /// A fault PDU.
    Fault,
    /// A bind_nak or a rejected presentation context.
    Rejected,
}

impl Error {
    /// The group this error belongs to.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Security(_)
            | Error::MissingSignature
            | Error::TrailerMismatch(_)
            | Error::SignatureLength { .. }
            | Error::NoSecurityContext(_) => ErrorKind::Security,
            Error::Fault { .. } => ErrorKind::Fault,
            Error::BindRejected { .. } | Error::ContextRejected { .. } => ErrorKind::Rejected,
            _ => ErrorKind::Protocol,
        }
    }
}

/// Result alias.
pub type Result<T> = std::result::Result<T, Error>;
