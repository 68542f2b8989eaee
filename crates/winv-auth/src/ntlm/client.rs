//! The NTLMv2 initiator, [MS-NLMP] 3.1.5.1.

use std::ops::Range;

use super::crypto::{self, Direction, NtlmSecret, Session};
use super::messages::{
    self, av_id, AuthenticateMessage, AvPair, ChallengeMessage, NegotiateMessage, Version,
    AUTHENTICATE_MIC_OFFSET, AV_FLAG_MIC_PRESENT,
};
use super::{find_ntlmssp, flags};
use crate::{AuthError, AuthType, SecurityContext, Step};

/// Who the client authenticates as, [MS-NLMP] 3.1.1 (`User`, `UserDom`,
/// workstation, and the password's NT hash).
///
/// INVARIANT: `Debug` never prints the secret.
#[derive(Clone, Debug)]
pub struct NtlmCredentials {
    /// User name.
    pub user: String,
    /// The user's domain (or the machine name for a local account).
    pub domain: String,
    /// This machine's NetBIOS name (may be empty).
    pub workstation: String,
    /// The password's NT hash.
    pub secret: NtlmSecret,
    /// A local account of the server (`.\user`): the domain is the server's own NetBIOS
    /// computer name, taken from the CHALLENGE's `MsvAvNbComputerName` ([MS-NLMP]
    /// 2.2.2.1), so that the server's account database answers. `domain` is then unused.
    pub domain_from_challenge: bool,
}

impl NtlmCredentials {
    /// Credentials from a clear-text password.
    pub fn with_password(user: &str, domain: &str, workstation: &str, password: &str) -> Self {
        Self::with_secret(
            user,
            domain,
            workstation,
            NtlmSecret::from_password(password),
        )
    }

    /// Credentials from an NT hash or any [`NtlmSecret`].
    pub fn with_secret(user: &str, domain: &str, workstation: &str, secret: NtlmSecret) -> Self {
        NtlmCredentials {
            user: user.to_owned(),
            domain: domain.to_owned(),
            workstation: workstation.to_owned(),
            secret,
            domain_from_challenge: false,
        }
    }
}

enum ClientState {
    Initial,
    SentNegotiate { negotiate: Vec<u8> },
    Established(Box<Session>),
    Failed,
}

/// The NTLMv2 initiator, [MS-NLMP] 3.1.5.1 (connection-oriented):
/// `step(None)` gives NEGOTIATE, `step(Some(CHALLENGE))` gives AUTHENTICATE
/// and establishes the context.
pub struct NtlmClient {
    creds: NtlmCredentials,
    state: ClientState,
    negotiated_flags: u32,
}

impl std::fmt::Debug for NtlmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NtlmClient")
            .field("user", &self.creds.user)
            .field("domain", &self.creds.domain)
            .field("established", &self.is_established())
            .finish_non_exhaustive()
    }
}

impl NtlmClient {
    /// A client that will authenticate with `creds`.
    pub fn new(creds: NtlmCredentials) -> Self {
        NtlmClient {
            creds,
            state: ClientState::Initial,
            negotiated_flags: 0,
        }
    }

    /// The flags agreed with the server (0 before the CHALLENGE).
    pub fn negotiated_flags(&self) -> u32 {
        self.negotiated_flags
    }

    /// The next send / receive sequence numbers, once established.
    pub fn sequence_numbers(&self) -> Option<(u32, u32)> {
        match &self.state {
            ClientState::Established(session) => Some(session.sequence_numbers()),
            _ => None,
        }
    }

    fn negotiate(&mut self) -> Result<Step, AuthError> {
        let msg = NegotiateMessage {
            flags: flags::CLIENT_OFFER,
            domain: Vec::new(),
            workstation: Vec::new(),
            version: Some(Version::DEFAULT),
        };
        let bytes = msg.encode()?;
        self.state = ClientState::SentNegotiate {
            negotiate: bytes.clone(),
        };
        Ok(Step::Continue(bytes))
    }

    fn authenticate(&mut self, negotiate: &[u8], token: &[u8]) -> Result<Step, AuthError> {
        let challenge_bytes = find_ntlmssp(token).unwrap_or(token);
        let challenge = ChallengeMessage::decode(challenge_bytes)?;
        if challenge.flags & flags::NEGOTIATE_EXTENDED_SESSIONSECURITY == 0 {
            return Err(AuthError::Unsupported(
                "server lacks extended session security",
            ));
        }
        if challenge.flags & flags::NEGOTIATE_TARGET_INFO == 0 {
            return Err(AuthError::Unsupported("server sent no target info"));
        }
        if challenge.flags & flags::NEGOTIATE_UNICODE == 0 {
            return Err(AuthError::Unsupported("server does not speak unicode"));
        }
        let negotiated = challenge.flags & flags::CLIENT_OFFER;

        // [MS-NLMP] 3.1.5.1.2: the server's timestamp if any, else ours;
        // MsvAvFlags gets the MIC bit.
        let server_time =
            messages::find_av(&challenge.target_info, av_id::TIMESTAMP).and_then(AvPair::as_u64);
        let time = server_time.unwrap_or_else(crypto::filetime_now);
        let mut pairs: Vec<AvPair> = Vec::with_capacity(challenge.target_info.len() + 1);
        let mut had_flags = false;
        for p in &challenge.target_info {
            if p.id == av_id::FLAGS {
                let f = p.as_u32().unwrap_or(0) | AV_FLAG_MIC_PRESENT;
                pairs.push(AvPair {
                    id: av_id::FLAGS,
                    value: f.to_le_bytes().to_vec(),
                });
                had_flags = true;
            } else {
                pairs.push(p.clone());
            }
        }
        if !had_flags {
            pairs.push(AvPair {
                id: av_id::FLAGS,
                value: AV_FLAG_MIC_PRESENT.to_le_bytes().to_vec(),
            });
        }
        let server_name = messages::encode_av_pairs(&pairs)?;

        let domain = if self.creds.domain_from_challenge {
            messages::find_av(&challenge.target_info, av_id::NB_COMPUTER_NAME)
                .and_then(AvPair::as_utf16)
                .ok_or(AuthError::Unsupported(
                    "server names no computer for a local account",
                ))?
        } else {
            self.creds.domain.clone()
        };
        let client_challenge: [u8; 8] = crypto::random()?;
        let key = crypto::ntowfv2(self.creds.secret.nt_hash(), &self.creds.user, &domain);
        let temp = crypto::ntlmv2_temp(time, &client_challenge, &server_name);
        let proof = crypto::nt_proof_str(&key, &challenge.server_challenge, &temp);
        let mut nt_response = proof.to_vec();
        nt_response.extend_from_slice(&temp);
        // [MS-NLMP] 3.3.2: with a server timestamp the LM response is Z(24).
        let lm_response = if server_time.is_some() {
            vec![0u8; 24]
        } else {
            crypto::lmv2_response(&key, &challenge.server_challenge, &client_challenge)
        };
        let base = crypto::session_base_key(&key, &proof);
        let (exported, encrypted) = if negotiated & flags::NEGOTIATE_KEY_EXCH != 0 {
            let exported: [u8; 16] = crypto::random()?;
            let enc = crypto::rc4k(&base, &exported);
            (exported, enc)
        } else {
            (base, Vec::new())
        };

        let msg = AuthenticateMessage {
            flags: negotiated,
            lm_response,
            nt_response,
            domain: messages::utf16le(&domain),
            user: messages::utf16le(&self.creds.user),
            workstation: messages::utf16le(&self.creds.workstation),
            encrypted_session_key: encrypted,
            version: Some(Version::DEFAULT),
            mic: Some([0; 16]),
        };
        let mut bytes = msg.encode()?;
        let mic = crypto::hmac_md5(&exported, &[negotiate, challenge_bytes, &bytes]);
        // INVARIANT: encode() puts the MIC at 72..88 when version and mic are set.
        if let Some(m) = bytes.get_mut(AUTHENTICATE_MIC_OFFSET..AUTHENTICATE_MIC_OFFSET + 16) {
            m.copy_from_slice(&mic);
        }
        self.negotiated_flags = negotiated;
        self.state = ClientState::Established(Box::new(Session::new(
            &exported,
            negotiated,
            Direction::ClientToServer,
        )));
        Ok(Step::Done(Some(bytes)))
    }
}

impl SecurityContext for NtlmClient {
    fn auth_type(&self) -> AuthType {
        AuthType::WinNt
    }

    fn step(&mut self, input: Option<&[u8]>) -> Result<Step, AuthError> {
        match (
            std::mem::replace(&mut self.state, ClientState::Failed),
            input,
        ) {
            (ClientState::Initial, None) => self.negotiate(),
            (ClientState::SentNegotiate { negotiate }, Some(token)) => {
                self.authenticate(&negotiate, token)
            }
            (ClientState::Initial, Some(_)) => Err(AuthError::State(
                "client expects no input on its first step",
            )),
            (ClientState::SentNegotiate { .. }, None) => {
                Err(AuthError::State("client expects a challenge"))
            }
            (s @ ClientState::Established(_), _) => {
                self.state = s;
                Err(AuthError::State("context already established"))
            }
            (ClientState::Failed, _) => Err(AuthError::State("context failed earlier")),
        }
    }

    established_session_methods!();
}

impl NtlmClient {
    fn session(&mut self) -> Option<&mut Session> {
        match &mut self.state {
            ClientState::Established(session) => Some(session),
            _ => None,
        }
    }

    fn has_session(&self) -> bool {
        matches!(self.state, ClientState::Established(_))
    }
}
