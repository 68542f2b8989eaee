//! NTLMv2, [MS-NLMP], in three roles sharing one core: [`NtlmClient`]
//! (initiator), [`NtlmServer`] (acceptor) and [`NtlmPassive`] (an observer that
//! knows the password and reads captures).
//!
//! Only NTLMv2 with extended session security is spoken; LM, NTLMv1 and
//! anonymous logons are refused. Session security is connection-oriented:
//! each direction has its own signing key, persistent RC4 handle and
//! sequence number ([MS-NLMP] 3.4).

/// The [`crate::SecurityContext`] methods that the client and the server answer alike once
/// their session is established: the signature size, and `protect` / `unprotect` through
/// the session ([MS-NLMP] 3.4). The type provides `fn session(&mut self) ->
/// Option<&mut Session>` and `fn has_session(&self) -> bool`.
macro_rules! established_session_methods {
    () => {
        fn is_established(&self) -> bool {
            self.has_session()
        }

        fn signature_len(&self) -> usize {
            crypto::SIGNATURE_LEN
        }

        fn protect(
            &mut self,
            message: &mut [u8],
            seal: Option<Range<usize>>,
        ) -> Result<Vec<u8>, AuthError> {
            self.session()
                .ok_or(AuthError::State("protect before the context is established"))?
                .protect(message, seal)
        }

        fn unprotect(
            &mut self,
            message: &mut [u8],
            seal: Option<Range<usize>>,
            signature: &[u8],
        ) -> Result<(), AuthError> {
            self.session()
                .ok_or(AuthError::State("unprotect before the context is established"))?
                .unprotect(message, seal, signature)
        }
    };
}

mod client;
pub mod crypto;
pub mod messages;
mod passive;
mod server;
mod spnego;

pub use client::{NtlmClient, NtlmCredentials};
pub use crypto::{Direction, DirectionKeys, NtlmSecret};
pub use messages::{
    decode_av_pairs, encode_av_pairs, message_type, AuthenticateMessage, AvPair, ChallengeMessage,
    NegotiateMessage, Version,
};
pub use passive::{NtlmPassive, NtlmPassiveContext};
pub use server::{NtlmServer, NtlmTarget};
pub use spnego::find_ntlmssp;

use crate::AuthError;
use messages::{av_id, AUTHENTICATE_MIC_OFFSET, AV_FLAG_MIC_PRESENT};

/// NegotiateFlags bits, [MS-NLMP] 2.2.2.5.
pub mod flags {
    /// NTLMSSP_NEGOTIATE_UNICODE (A).
    pub const NEGOTIATE_UNICODE: u32 = 0x0000_0001;
    /// NTLM_NEGOTIATE_OEM (B).
    pub const NEGOTIATE_OEM: u32 = 0x0000_0002;
    /// NTLMSSP_REQUEST_TARGET (C).
    pub const REQUEST_TARGET: u32 = 0x0000_0004;
    /// NTLMSSP_NEGOTIATE_SIGN (D).
    pub const NEGOTIATE_SIGN: u32 = 0x0000_0010;
    /// NTLMSSP_NEGOTIATE_SEAL (E).
    pub const NEGOTIATE_SEAL: u32 = 0x0000_0020;
    /// NTLMSSP_NEGOTIATE_DATAGRAM (F).
    pub const NEGOTIATE_DATAGRAM: u32 = 0x0000_0040;
    /// NTLMSSP_NEGOTIATE_LM_KEY (G).
    pub const NEGOTIATE_LM_KEY: u32 = 0x0000_0080;
    /// NTLMSSP_NEGOTIATE_NTLM (H).
    pub const NEGOTIATE_NTLM: u32 = 0x0000_0200;
    /// Anonymous connection (J).
    pub const ANONYMOUS: u32 = 0x0000_0800;
    /// NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED (K).
    pub const NEGOTIATE_OEM_DOMAIN_SUPPLIED: u32 = 0x0000_1000;
    /// NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED (L).
    pub const NEGOTIATE_OEM_WORKSTATION_SUPPLIED: u32 = 0x0000_2000;
    /// NTLMSSP_NEGOTIATE_ALWAYS_SIGN (M).
    pub const NEGOTIATE_ALWAYS_SIGN: u32 = 0x0000_8000;
    /// NTLMSSP_TARGET_TYPE_DOMAIN (N).
    pub const TARGET_TYPE_DOMAIN: u32 = 0x0001_0000;
    /// NTLMSSP_TARGET_TYPE_SERVER (O).
    pub const TARGET_TYPE_SERVER: u32 = 0x0002_0000;
    /// NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY (P).
    pub const NEGOTIATE_EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
    /// NTLMSSP_NEGOTIATE_IDENTIFY (Q).
    pub const NEGOTIATE_IDENTIFY: u32 = 0x0010_0000;
    /// NTLMSSP_REQUEST_NON_NT_SESSION_KEY (R).
    pub const REQUEST_NON_NT_SESSION_KEY: u32 = 0x0040_0000;
    /// NTLMSSP_NEGOTIATE_TARGET_INFO (S).
    pub const NEGOTIATE_TARGET_INFO: u32 = 0x0080_0000;
    /// NTLMSSP_NEGOTIATE_VERSION (T).
    pub const NEGOTIATE_VERSION: u32 = 0x0200_0000;
    /// NTLMSSP_NEGOTIATE_128 (U).
    pub const NEGOTIATE_128: u32 = 0x2000_0000;
    /// NTLMSSP_NEGOTIATE_KEY_EXCH (V).
    pub const NEGOTIATE_KEY_EXCH: u32 = 0x4000_0000;
    /// NTLMSSP_NEGOTIATE_56 (W).
    pub const NEGOTIATE_56: u32 = 0x8000_0000;

    /// What [`super::NtlmClient`] offers: UNICODE, REQUEST_TARGET, SIGN, SEAL,
    /// NTLM, ALWAYS_SIGN, EXTENDED_SESSIONSECURITY, TARGET_INFO, VERSION, 128,
    /// KEY_EXCH, 56 (never LM_KEY).
    pub const CLIENT_OFFER: u32 = NEGOTIATE_UNICODE
        | REQUEST_TARGET
        | NEGOTIATE_SIGN
        | NEGOTIATE_SEAL
        | NEGOTIATE_NTLM
        | NEGOTIATE_ALWAYS_SIGN
        | NEGOTIATE_EXTENDED_SESSIONSECURITY
        | NEGOTIATE_TARGET_INFO
        | NEGOTIATE_VERSION
        | NEGOTIATE_128
        | NEGOTIATE_KEY_EXCH
        | NEGOTIATE_56;
}

/// What a successful verification of an AUTHENTICATE_MESSAGE yields
/// ([MS-NLMP] 3.2.5.1.2): the negotiated flags and the exported session key.
///
/// INVARIANT: `Debug` never prints the key.
pub(crate) struct Verified {
    pub flags: u32,
    pub exported_session_key: [u8; 16],
}

/// Shared acceptor / observer core, [MS-NLMP] 3.2.5.1.2 and 3.3.2: checks the
/// response is NTLMv2, recomputes NTProofStr from `nt_hash`, recovers the
/// exported session key and checks the MIC when MsvAvFlags announces one.
///
/// `negotiate`, `challenge` and `authenticate` are the exact message bytes
/// (the MIC covers them).
pub(crate) fn verify_authenticate(
    negotiate: &[u8],
    challenge_bytes: &[u8],
    challenge: &ChallengeMessage,
    authenticate_bytes: &[u8],
    auth: &AuthenticateMessage,
    nt_hash: &[u8; 16],
) -> Result<Verified, AuthError> {
    let negotiated = auth.flags & challenge.flags;
    if negotiated & flags::NEGOTIATE_EXTENDED_SESSIONSECURITY == 0 {
        return Err(AuthError::Unsupported(
            "extended session security not negotiated",
        ));
    }
    check_ntlmv2_response(auth)?;
    // INVARIANT: check_ntlmv2_response guarantees nt_response.len() >= 44.
    let (proof, temp) = auth.nt_response.split_at(16);
    let key = crypto::ntowfv2(nt_hash, &auth.user_name(), &auth.domain_name());
    let expected = crypto::nt_proof_str(&key, &challenge.server_challenge, temp);
    if !crypto::ct_eq(&expected, proof) {
        return Err(AuthError::LogonFailure);
    }
    let base = crypto::session_base_key(&key, &expected);
    // KXKEY with NTLMv2 is the SessionBaseKey, [MS-NLMP] 3.4.5.1.
    let exported_session_key = if negotiated & flags::NEGOTIATE_KEY_EXCH != 0 {
        let enc: [u8; 16] = auth
            .encrypted_session_key
            .as_slice()
            .try_into()
            .map_err(|_| AuthError::Malformed {
                message: "authenticate",
                reason: "encrypted session key is not 16 bytes",
            })?;
        let dec = crypto::rc4k(&base, &enc);
        let mut k = [0u8; 16];
        k.copy_from_slice(&dec);
        k
    } else {
        base
    };
    // temp = 01 01 Z(6) Time(8) ClientChallenge(8) Z(4) AvPairs... Z(4)
    let pairs = temp
        .get(28..)
        .map(decode_av_pairs)
        .transpose()?
        .unwrap_or_default();
    let mic_announced = messages::find_av(&pairs, av_id::FLAGS)
        .and_then(AvPair::as_u32)
        .is_some_and(|f| f & AV_FLAG_MIC_PRESENT != 0);
    if mic_announced {
        let mic = auth.mic.ok_or(AuthError::BadMic)?;
        let mut zeroed = authenticate_bytes.to_vec();
        match zeroed.get_mut(AUTHENTICATE_MIC_OFFSET..AUTHENTICATE_MIC_OFFSET + 16) {
            Some(m) => m.fill(0),
            None => return Err(AuthError::BadMic),
        }
        let expected_mic = crypto::hmac_md5(
            &exported_session_key,
            &[negotiate, challenge_bytes, &zeroed],
        );
        if !crypto::ct_eq(&expected_mic, &mic) {
            return Err(AuthError::BadMic);
        }
    }
    Ok(Verified {
        flags: negotiated,
        exported_session_key,
    })
}

/// Refuses anonymous, LM and NTLMv1 responses ([MS-NLMP] 3.2.5.1.2) and
/// checks the NTLMv2 response is long enough to hold NTProofStr and the
/// fixed part of NTLMv2_CLIENT_CHALLENGE ([MS-NLMP] 2.2.2.7, 2.2.2.8).
pub(crate) fn check_ntlmv2_response(auth: &AuthenticateMessage) -> Result<(), AuthError> {
    if auth.nt_response.is_empty() || auth.user.is_empty() {
        return Err(AuthError::Unsupported("anonymous authentication"));
    }
    if auth.nt_response.len() == 24 {
        return Err(AuthError::Unsupported("ntlmv1 response"));
    }
    if auth.nt_response.len() < 16 + 28 {
        return Err(AuthError::Malformed {
            message: "authenticate",
            reason: "ntlmv2 response too short",
        });
    }
    if auth.nt_response.get(16..18) != Some(&[1, 1][..]) {
        return Err(AuthError::Unsupported("unknown ntlmv2 response version"));
    }
    Ok(())
}

/// Exercises every decoder on arbitrary bytes, and checks that whatever
/// decodes re-encodes to something that decodes to the same value. Used by
/// the `ntlm` fuzz target and a proptest.
pub fn fuzz_messages(data: &[u8]) {
    let _ = message_type(data);
    let _ = decode_av_pairs(data);
    let inner = find_ntlmssp(data);
    for msg in [Some(data), inner].into_iter().flatten() {
        if let Ok(m) = NegotiateMessage::decode(msg) {
            if let Ok(b) = m.encode() {
                assert_eq!(NegotiateMessage::decode(&b).ok(), Some(m));
            }
        }
        if let Ok(m) = ChallengeMessage::decode(msg) {
            if let Ok(b) = m.encode() {
                assert_eq!(ChallengeMessage::decode(&b).ok(), Some(m));
            }
        }
        if let Ok(m) = AuthenticateMessage::decode(msg) {
            if let Ok(b) = m.encode() {
                assert_eq!(AuthenticateMessage::decode(&b).ok(), Some(m));
            }
        }
    }
    // The passive path on three slices of the input.
    let third = data.len() / 3;
    let (a, rest) = data.split_at(third);
    let (b, c) = rest.split_at(third);
    let _ = NtlmPassive::from_messages(a, b, c, &NtlmSecret::from_password("fuzz"));
}
