//! Kerberos V5 for DCE/RPC, [RFC 4120] / [RFC 4121] / [MS-KILE], with no I/O.
//!
//! * [`crypto`]: the AES enctypes ([RFC 3961], [RFC 3962]).
//! * [`der`] and [`messages`]: the ASN.1 messages a client and an acceptor
//!   exchange (AS, TGS, AP, KRB-ERROR), total decoders.
//! * [`exchange`]: the pure halves of the KDC exchanges: build an AS-REQ or a
//!   TGS-REQ, read the reply into [`Credential`]s, name the KDC's errors.
//! * [`files`]: the MIT credential cache (ccache) and keytab file formats.
//! * [`cache`]: the TGT and service ticket cache, with time as an input.
//! * [`gss`]: the per-message tokens of [RFC 4121] 4.2 with the DCE/RPC rules
//!   of [MS-KILE] 3.4.5.4.1 (header signing, RRC 28, rotation by RRC + EC).
//! * [`KerberosClient`]: the [`crate::SecurityContext`] an initiator uses,
//!   DCE style with three legs ([MS-KILE] 3.4.5.1), raw (auth type 16) or in
//!   SPNEGO (auth type 9).
//!
//! Getting tickets needs the network (a KDC) and files (ccache, keytab): that
//! is the `winv-krb` crate, which drives [`exchange`] over TCP with deadlines.
//! Clocks come in as arguments (`now`, Unix seconds); randomness (nonces,
//! confounders, subkeys) comes from `getrandom`, as NTLM's does.

pub mod cache;
mod client;
pub mod codes;
pub mod crypto;
pub mod der;
pub mod exchange;
pub mod files;
pub mod gss;
pub mod messages;
pub mod passive;
pub mod server;
pub mod spnego;

pub use cache::{TicketCache, TicketKey};
pub use client::{KerberosClient, KerberosMech};
pub use crypto::Key;
pub use exchange::{Credential, Principal};
pub use server::{KerberosServer, ReplayCache};

/// Encryption types, [RFC 3961] 8 / [RFC 3962] 7 / [RFC 4757].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Etype {
    /// aes256-cts-hmac-sha1-96 (18).
    Aes256CtsHmacSha196,
    /// aes128-cts-hmac-sha1-96 (17).
    Aes128CtsHmacSha196,
    /// rc4-hmac (23): recognised only to be refused.
    Rc4Hmac,
    /// Anything else (DES, the SHA-2 AES enctypes...).
    Other(i32),
}

impl Etype {
    /// From the wire value.
    pub fn from_i32(v: i32) -> Etype {
        match v {
            18 => Etype::Aes256CtsHmacSha196,
            17 => Etype::Aes128CtsHmacSha196,
            23 => Etype::Rc4Hmac,
            v => Etype::Other(v),
        }
    }

    /// The wire value.
    pub fn to_i32(self) -> i32 {
        match self {
            Etype::Aes256CtsHmacSha196 => 18,
            Etype::Aes128CtsHmacSha196 => 17,
            Etype::Rc4Hmac => 23,
            Etype::Other(v) => v,
        }
    }

    /// The name MIT's krb5.conf uses.
    pub fn name(self) -> &'static str {
        match self {
            Etype::Aes256CtsHmacSha196 => "aes256-cts-hmac-sha1-96",
            Etype::Aes128CtsHmacSha196 => "aes128-cts-hmac-sha1-96",
            Etype::Rc4Hmac => "rc4-hmac",
            Etype::Other(_) => "unsupported enctype",
        }
    }

    /// Key length in bytes, for the enctypes we implement.
    pub fn key_len(self) -> Option<usize> {
        match self {
            Etype::Aes256CtsHmacSha196 => Some(32),
            Etype::Aes128CtsHmacSha196 => Some(16),
            _ => None,
        }
    }

    /// Whether we can encrypt with it.
    pub fn supported(self) -> bool {
        self.key_len().is_some()
    }
}

/// What we offer the KDC, strongest first ([MS-KILE] 3.1.5.2: AES only
/// unless the caller allows RC4, which we then refuse at use with
/// [`KrbError::Rc4Refused`] because we do not implement it).
pub const OFFERED_ETYPES: [Etype; 2] = [Etype::Aes256CtsHmacSha196, Etype::Aes128CtsHmacSha196];

/// Checks an enctype the peer chose: AES passes, RC4 is refused with its own
/// message, anything else is unsupported.
pub fn check_etype(etype: i32) -> Result<Etype, KrbError> {
    match Etype::from_i32(etype) {
        Etype::Rc4Hmac => Err(KrbError::Rc4Refused),
        e if e.supported() => Ok(e),
        _ => Err(KrbError::UnsupportedEtype(etype)),
    }
}

/// Kerberos errors: malformed input, failed integrity, a KDC's or an
/// acceptor's KRB-ERROR by its code, and policy refusals.
///
/// INVARIANT: no variant carries a password, a key, a ticket or a session
/// key; strings from a KDC are not carried at all (the code says it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KrbError {
    /// A message could not be decoded.
    #[error("malformed kerberos message: {0}")]
    Malformed(&'static str),
    /// A ciphertext or a checksum did not verify: wrong key, or tampered.
    #[error("kerberos integrity check failed (wrong key or tampered message)")]
    Integrity,
    /// An enctype we do not implement.
    #[error("unsupported kerberos encryption type {0}")]
    UnsupportedEtype(i32),
    /// RC4-HMAC was the only choice and it is not allowed.
    #[error("rc4-hmac (etype 23) refused: only aes128/aes256 are allowed; enable aes for the account (msDS-SupportedEncryptionTypes)")]
    Rc4Refused,
    /// A KRB-ERROR from the KDC or the acceptor.
    #[error("{name} ({code}){}", skew_note(*.skew))]
    Protocol {
        /// The error code, [RFC 4120] 7.5.9.
        code: i32,
        /// Its name, from [`codes::name`].
        name: &'static str,
        /// The server's clock minus ours, when the server said (seconds).
        skew: Option<i64>,
    },
    /// A reply that does not answer our request (nonce, names, enctype).
    #[error("kerberos reply does not match the request: {0}")]
    Mismatch(&'static str),
    /// Kerberos needs a host name for the service principal.
    #[error("kerberos needs a host name, not an address ({0}); give the computer's dns name or --spn")]
    AddressOnly(String),
    /// A ticket has expired or is not yet valid.
    #[error("kerberos ticket {0}")]
    TicketTime(&'static str),
    /// No random bytes from the operating system.
    #[error("no random bytes from the operating system")]
    Random,
    /// Called in the wrong state.
    #[error("kerberos context used out of order: {0}")]
    State(&'static str),
}

fn skew_note(skew: Option<i64>) -> String {
    match skew {
        Some(s) if s.abs() > 60 => format!(", the server's clock is {s} s from ours"),
        _ => String::new(),
    }
}

impl KrbError {
    /// A KRB-ERROR by code.
    pub fn protocol(code: i32, skew: Option<i64>) -> KrbError {
        KrbError::Protocol {
            code,
            name: codes::name(code).unwrap_or("KRB_ERR_UNKNOWN"),
            skew,
        }
    }

    /// The Kerberos error code, when this is one.
    pub fn code(&self) -> Option<i32> {
        match self {
            KrbError::Protocol { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Exercises every decoder on arbitrary bytes (the `kerberos` fuzz target and
/// a proptest).
pub fn fuzz_messages(data: &[u8]) {
    let _ = messages::KrbErrorMsg::decode(data);
    let _ = messages::KdcRep::decode(data);
    let _ = messages::ApRep::decode(data);
    let _ = messages::ApReq::decode(data);
    let _ = messages::EncKdcRepPart::decode(data);
    let _ = messages::EncApRepPart::decode(data);
    let _ = messages::Authenticator::decode(data);
    let _ = messages::EncTicketPart::decode(data);
    let _ = messages::etype_info2(data);
    let _ = spnego::NegToken::decode(data);
    let _ = gss::strip_gss_framing(data);
    let _ = files::parse_ccache(data);
    let _ = files::parse_keytab(data);
    let _ = gss::WrapHeader::decode(data);
}
