//! The passive role: deriving session keys from a captured exchange (and, for the test
//! suite's re-sealing proxy, protecting as one side would).

use std::ops::Range;

use super::crypto::{self, Direction, DirectionKeys, NtlmSecret};
use super::messages::{AuthenticateMessage, ChallengeMessage};
use super::{find_ntlmssp, verify_authenticate};
use crate::{AuthError, AuthType, SecurityContext, Step};

/// An observer that knows the user's password: from the three captured
/// messages it verifies the NTLMv2 response exactly as the server does
/// ([MS-NLMP] 3.2.5.1.2) and derives both directions' session security
/// ([MS-NLMP] 3.4.5).
#[derive(Debug)]
pub struct NtlmPassive;

impl NtlmPassive {
    /// Derives the keys of a captured exchange. Returns
    /// `(client_to_server, server_to_client)`: the first unprotects what the
    /// client sent, the second what the server sent.
    ///
    /// A wrong password fails the NTProofStr check: [`AuthError::LogonFailure`].
    pub fn from_messages(
        negotiate: &[u8],
        challenge: &[u8],
        authenticate: &[u8],
        secret: &NtlmSecret,
    ) -> Result<(NtlmPassiveContext, NtlmPassiveContext), AuthError> {
        let negotiate = find_ntlmssp(negotiate).unwrap_or(negotiate);
        let challenge_bytes = find_ntlmssp(challenge).unwrap_or(challenge);
        let auth_bytes = find_ntlmssp(authenticate).unwrap_or(authenticate);
        // The negotiate message is only needed as bytes (for the MIC), but it
        // must at least be one.
        super::messages::NegotiateMessage::decode(negotiate)?;
        let challenge = ChallengeMessage::decode(challenge_bytes)?;
        let auth = AuthenticateMessage::decode(auth_bytes)?;
        let v = verify_authenticate(
            negotiate,
            challenge_bytes,
            &challenge,
            auth_bytes,
            &auth,
            secret.nt_hash(),
        )?;
        let user = (auth.user_name(), auth.domain_name());
        Ok((
            NtlmPassiveContext {
                keys: DirectionKeys::new(
                    &v.exported_session_key,
                    v.flags,
                    Direction::ClientToServer,
                ),
                direction: Direction::ClientToServer,
                user: user.clone(),
            },
            NtlmPassiveContext {
                keys: DirectionKeys::new(
                    &v.exported_session_key,
                    v.flags,
                    Direction::ServerToClient,
                ),
                direction: Direction::ServerToClient,
                user,
            },
        ))
    }
}

/// One direction of a captured NTLMv2 session ([MS-NLMP] 3.4), from its first message:
/// [`SecurityContext::unprotect`] reads what that side sent, and
/// [`SecurityContext::protect`] writes as that side would (a man in the middle who knows
/// the password re-seals with a second context of the same direction: one to read the
/// sender's stream, one to write the receiver's). Both advance the one sequence number and
/// RC4 handle. `step` returns [`AuthError::State`].
pub struct NtlmPassiveContext {
    keys: DirectionKeys,
    direction: Direction,
    user: (String, String),
}

impl std::fmt::Debug for NtlmPassiveContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NtlmPassiveContext")
            .field("direction", &self.direction)
            .field("user", &self.user)
            .field("seq", &self.keys.seq())
            .finish_non_exhaustive()
    }
}

impl NtlmPassiveContext {
    /// Which traffic this context reads.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The user and domain from the AUTHENTICATE_MESSAGE.
    pub fn user(&self) -> (&str, &str) {
        (&self.user.0, &self.user.1)
    }

    /// The sequence number the next message is expected to carry.
    pub fn next_seq(&self) -> u32 {
        self.keys.seq()
    }
}

impl SecurityContext for NtlmPassiveContext {
    fn auth_type(&self) -> AuthType {
        AuthType::WinNt
    }

    fn step(&mut self, _input: Option<&[u8]>) -> Result<Step, AuthError> {
        Err(AuthError::State("passive context takes no tokens"))
    }

    fn is_established(&self) -> bool {
        true
    }

    fn signature_len(&self) -> usize {
        crypto::SIGNATURE_LEN
    }

    fn protect(
        &mut self,
        message: &mut [u8],
        seal: Option<Range<usize>>,
    ) -> Result<Vec<u8>, AuthError> {
        Ok(self.keys.protect(message, seal)?.to_vec())
    }

    fn unprotect(
        &mut self,
        message: &mut [u8],
        seal: Option<Range<usize>>,
        signature: &[u8],
    ) -> Result<(), AuthError> {
        self.keys.unprotect(message, seal, signature)
    }
}
