//! Security providers for connection-oriented DCE/RPC, with no I/O.
//!
//! One trait, [`SecurityContext`], stands for an authenticated security context
//! as [MS-RPCE] 3.3.1.5.2 uses it: a token exchange carried in the `auth_value` of
//! bind / bind_ack / alter_context / auth3 PDUs, then per-PDU integrity
//! ([`SecurityContext::protect`] / [`SecurityContext::unprotect`]) at
//! `RPC_C_AUTHN_LEVEL_PKT_INTEGRITY` and confidentiality as well at
//! `RPC_C_AUTHN_LEVEL_PKT_PRIVACY`.
//!
//! The DCE/RPC layer decides which bytes are signed and which are sealed; the
//! provider only transforms the buffers it is handed. That keeps Kerberos (later,
//! through the `sspi` crate) behind the same trait as our own NTLMv2.

use std::ops::Range;

/// Authentication service identifiers, [MS-RPCE] 2.2.1.1.7 (`auth_type` in the
/// security trailer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// `RPC_C_AUTHN_NONE` (0).
    None,
    /// `RPC_C_AUTHN_GSS_NEGOTIATE` (9): SPNEGO.
    GssNegotiate,
    /// `RPC_C_AUTHN_WINNT` (10): NTLM.
    WinNt,
    /// `RPC_C_AUTHN_GSS_SCHANNEL` (14).
    GssSchannel,
    /// `RPC_C_AUTHN_GSS_KERBEROS` (16).
    GssKerberos,
    /// `RPC_C_AUTHN_NETLOGON` (68).
    Netlogon,
    /// `RPC_C_AUTHN_DEFAULT` (0xff).
    Default,
    /// Any other value seen on the wire.
    Other(u8),
}

impl AuthType {
    /// The wire value.
    pub fn to_u8(self) -> u8 {
        match self {
            AuthType::None => 0,
            AuthType::GssNegotiate => 9,
            AuthType::WinNt => 10,
            AuthType::GssSchannel => 14,
            AuthType::GssKerberos => 16,
            AuthType::Netlogon => 68,
            AuthType::Default => 0xff,
            AuthType::Other(v) => v,
        }
    }

    /// From the wire value; never fails.
    pub fn from_u8(v: u8) -> Self {
        match v {
            0 => AuthType::None,
            9 => AuthType::GssNegotiate,
            10 => AuthType::WinNt,
            14 => AuthType::GssSchannel,
            16 => AuthType::GssKerberos,
            68 => AuthType::Netlogon,
            0xff => AuthType::Default,
            v => AuthType::Other(v),
        }
    }

    /// The name Microsoft's documentation uses.
    pub fn name(self) -> &'static str {
        match self {
            AuthType::None => "RPC_C_AUTHN_NONE",
            AuthType::GssNegotiate => "RPC_C_AUTHN_GSS_NEGOTIATE",
            AuthType::WinNt => "RPC_C_AUTHN_WINNT",
            AuthType::GssSchannel => "RPC_C_AUTHN_GSS_SCHANNEL",
            AuthType::GssKerberos => "RPC_C_AUTHN_GSS_KERBEROS",
            AuthType::Netlogon => "RPC_C_AUTHN_NETLOGON",
            AuthType::Default => "RPC_C_AUTHN_DEFAULT",
            AuthType::Other(_) => "unknown",
        }
    }
}

/// Authentication levels, [MS-RPCE] 2.2.1.1.8 (`auth_level` in the security
/// trailer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AuthLevel {
    /// `RPC_C_AUTHN_LEVEL_DEFAULT` (0).
    Default = 0,
    /// `RPC_C_AUTHN_LEVEL_NONE` (1).
    None = 1,
    /// `RPC_C_AUTHN_LEVEL_CONNECT` (2): authenticate at bind only.
    Connect = 2,
    /// `RPC_C_AUTHN_LEVEL_CALL` (3): treated as PKT by connection-oriented RPC.
    Call = 3,
    /// `RPC_C_AUTHN_LEVEL_PKT` (4).
    Pkt = 4,
    /// `RPC_C_AUTHN_LEVEL_PKT_INTEGRITY` (5): every PDU signed.
    PktIntegrity = 5,
    /// `RPC_C_AUTHN_LEVEL_PKT_PRIVACY` (6): every PDU signed and its stub sealed.
    PktPrivacy = 6,
}

impl AuthLevel {
    /// From the wire value; `None` for values outside 0..=6.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => AuthLevel::Default,
            1 => AuthLevel::None,
            2 => AuthLevel::Connect,
            3 => AuthLevel::Call,
            4 => AuthLevel::Pkt,
            5 => AuthLevel::PktIntegrity,
            6 => AuthLevel::PktPrivacy,
            _ => return None,
        })
    }

    /// The name Microsoft's documentation uses.
    pub fn name(self) -> &'static str {
        match self {
            AuthLevel::Default => "RPC_C_AUTHN_LEVEL_DEFAULT",
            AuthLevel::None => "RPC_C_AUTHN_LEVEL_NONE",
            AuthLevel::Connect => "RPC_C_AUTHN_LEVEL_CONNECT",
            AuthLevel::Call => "RPC_C_AUTHN_LEVEL_CALL",
            AuthLevel::Pkt => "RPC_C_AUTHN_LEVEL_PKT",
            AuthLevel::PktIntegrity => "RPC_C_AUTHN_LEVEL_PKT_INTEGRITY",
            AuthLevel::PktPrivacy => "RPC_C_AUTHN_LEVEL_PKT_PRIVACY",
        }
    }

    /// Whether PDUs after the bind carry a signature.
    pub fn signs(self) -> bool {
        self >= AuthLevel::Pkt
    }

    /// Whether PDU stubs are encrypted.
    pub fn seals(self) -> bool {
        self == AuthLevel::PktPrivacy
    }
}

/// What one step of the token exchange produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this token and wait for the peer's next one.
    Continue(Vec<u8>),
    /// The context is established; send this token if there is one
    /// (the NTLM AUTHENTICATE message travels in an `auth3` PDU).
    Done(Option<Vec<u8>>),
}

/// Errors from a security provider.
///
/// INVARIANT: no variant ever carries a password, a hash or a key.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// The peer's token could not be parsed.
    #[error("malformed {message} message: {reason}")]
    Malformed {
        /// Which message.
        message: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
    /// The credentials were refused (acceptor) or the peer proved it does not
    /// know them (initiator).
    #[error("logon failure: unknown user name or bad password")]
    LogonFailure,
    /// The peer asked for something we never allow (LM, NTLMv1, no key exchange...).
    #[error("peer requires unsupported security: {0}")]
    Unsupported(&'static str),
    /// A received signature did not verify.
    #[error("signature verification failed")]
    BadSignature,
    /// The message integrity code of the AUTHENTICATE message did not verify.
    #[error("mic verification failed")]
    BadMic,
    /// A call came in the wrong state (sign before the context is established...).
    #[error("security context used out of order: {0}")]
    State(&'static str),
    /// A Kerberos failure: a KRB-ERROR by its code, a token that failed its
    /// integrity check, a refused enctype...
    #[error(transparent)]
    Kerberos(#[from] kerberos::KrbError),
}

/// An authenticated security context: one per DCE/RPC connection and
/// auth_context_id, in one role (initiator, acceptor or passive observer).
pub trait SecurityContext: Send {
    /// The authentication service this context speaks on the wire.
    fn auth_type(&self) -> AuthType;

    /// Feeds the peer's latest token (`None` for an initiator's first step) and
    /// returns what to send next.
    ///
    /// An initiator's legs map onto PDUs this way: the first token goes in
    /// the bind; `Continue(t)` after the bind_ack (or an
    /// alter_context_resp) goes in an alter_context; `Done(Some(t))` goes in
    /// an auth3 (NTLM). A `Continue(t)` after which
    /// [`SecurityContext::is_established`] is already true is a last leg
    /// that expects no answer token: Kerberos' DCE-style third leg, the
    /// client's AP-REP, [MS-KILE] 3.4.5.1, whose alter_context_resp carries
    /// none.
    fn step(&mut self, input: Option<&[u8]>) -> Result<Step, AuthError>;

    /// Whether the token exchange has completed.
    fn is_established(&self) -> bool;

    /// Length in bytes of the `auth_value` that [`SecurityContext::protect`]
    /// returns (16 for NTLM).
    fn signature_len(&self) -> usize;

    /// Whether a received `auth_value` of `len` bytes may be valid (Kerberos
    /// wrap tokens vary with the sender's EC); by default exactly
    /// [`SecurityContext::signature_len`].
    fn accepts_signature_len(&self, len: usize) -> bool {
        len == self.signature_len()
    }

    /// Told by the DCE/RPC layer after the bind_ack whether both sides
    /// negotiated header signing (`PFC_SUPPORT_HEADER_SIGN`, [MS-RPCE]
    /// 2.2.2.3). NTLM always signs the whole PDU and ignores it; Kerberos
    /// signs the header and trailer only then.
    fn set_header_signing(&mut self, _on: bool) {}

    /// Told by the DCE/RPC layer the association's authentication level
    /// (Kerberos' signature length depends on it: a wrap token at
    /// `PKT_PRIVACY`, a MIC token below). NTLM ignores it.
    fn set_auth_level(&mut self, _level: AuthLevel) {}

    /// Protects an outgoing PDU.
    ///
    /// `message` is the whole PDU as it will be sent minus the `auth_value`
    /// (header, body, auth padding and security trailer), in plaintext.
    /// When `seal` is given, `message[seal]` is encrypted in place.
    /// Returns the signature to place in `auth_value`.
    fn protect(
        &mut self,
        message: &mut [u8],
        seal: Option<Range<usize>>,
    ) -> Result<Vec<u8>, AuthError>;

    /// Checks an incoming PDU: decrypts `message[seal]` in place when `seal` is
    /// given, then verifies `signature` over the whole `message`.
    ///
    /// A signature that does not verify is [`AuthError::BadSignature`]; the
    /// caller must then discard the PDU.
    fn unprotect(
        &mut self,
        message: &mut [u8],
        seal: Option<Range<usize>>,
        signature: &[u8],
    ) -> Result<(), AuthError>;
}

pub mod kerberos;
pub mod ntlm;
