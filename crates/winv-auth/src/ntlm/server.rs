//! The NTLMv2 acceptor, [MS-NLMP] 3.2.5.1.

use std::collections::HashMap;
use std::ops::Range;

use super::crypto::{self, Direction, NtlmSecret, Session};
use super::messages::{
    av_id, AuthenticateMessage, AvPair, ChallengeMessage, NegotiateMessage, Version,
};
use super::{find_ntlmssp, flags, verify_authenticate};
use crate::{AuthError, AuthType, SecurityContext, Step};

/// The names a server announces in its CHALLENGE_MESSAGE TargetInfo,
/// [MS-NLMP] 2.2.1.2 and 2.2.2.1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NtlmTarget {
    /// `MsvAvNbComputerName` (also the TargetName).
    pub nb_computer_name: String,
    /// `MsvAvNbDomainName`.
    pub nb_domain_name: String,
    /// `MsvAvDnsComputerName`.
    pub dns_computer_name: String,
    /// `MsvAvDnsDomainName`.
    pub dns_domain_name: String,
}

enum ServerState {
    Initial,
    SentChallenge {
        negotiate: Vec<u8>,
        challenge_bytes: Vec<u8>,
        challenge: ChallengeMessage,
    },
    Established(Box<Session>),
    Failed,
}

/// The NTLMv2 acceptor, [MS-NLMP] 3.2.5.1 (connection-oriented), with its
/// own user table: `step(Some(NEGOTIATE))` gives a CHALLENGE,
/// `step(Some(AUTHENTICATE))` verifies it and establishes the context.
///
/// User and domain are matched case-insensitively; a user entered with an
/// empty domain matches any domain (a local account).
pub struct NtlmServer {
    target: NtlmTarget,
    users: HashMap<(String, String), NtlmSecret>,
    state: ServerState,
    authenticated: Option<(String, String)>,
}

impl std::fmt::Debug for NtlmServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NtlmServer")
            .field("target", &self.target)
            .field("users", &self.users.len())
            .field("authenticated", &self.authenticated)
            .finish_non_exhaustive()
    }
}

fn key(user: &str, domain: &str) -> (String, String) {
    (user.to_uppercase(), domain.to_uppercase())
}

impl NtlmServer {
    /// A server announcing `target`, with an empty user table.
    pub fn new(target: NtlmTarget) -> Self {
        NtlmServer {
            target,
            users: HashMap::new(),
            state: ServerState::Initial,
            authenticated: None,
        }
    }

    /// Adds (or replaces) a user. An empty `domain` matches any domain.
    pub fn add_user(&mut self, user: &str, domain: &str, secret: NtlmSecret) -> &mut Self {
        self.users.insert(key(user, domain), secret);
        self
    }

    /// The user and domain that authenticated, once established.
    pub fn authenticated_user(&self) -> Option<(&str, &str)> {
        self.authenticated
            .as_ref()
            .map(|(u, d)| (u.as_str(), d.as_str()))
    }

    /// The next send / receive sequence numbers, once established.
    pub fn sequence_numbers(&self) -> Option<(u32, u32)> {
        match &self.state {
            ServerState::Established(session) => Some(session.sequence_numbers()),
            _ => None,
        }
    }

    fn lookup(&self, user: &str, domain: &str) -> Option<&NtlmSecret> {
        self.users
            .get(&key(user, domain))
            .or_else(|| self.users.get(&key(user, "")))
    }

    /// [MS-NLMP] 3.2.5.1.1: answer a NEGOTIATE_MESSAGE.
    fn challenge(&mut self, token: &[u8]) -> Result<Step, AuthError> {
        let negotiate_bytes = find_ntlmssp(token).unwrap_or(token);
        let negotiate = NegotiateMessage::decode(negotiate_bytes)?;
        if negotiate.flags & flags::NEGOTIATE_EXTENDED_SESSIONSECURITY == 0 {
            return Err(AuthError::Unsupported(
                "client lacks extended session security",
            ));
        }
        if negotiate.flags & flags::NEGOTIATE_UNICODE == 0 {
            return Err(AuthError::Unsupported("client does not speak unicode"));
        }
        let supported = flags::CLIENT_OFFER & !flags::NEGOTIATE_TARGET_INFO;
        let out_flags = (negotiate.flags & supported)
            | flags::NEGOTIATE_UNICODE
            | flags::NEGOTIATE_NTLM
            | flags::NEGOTIATE_EXTENDED_SESSIONSECURITY
            | flags::NEGOTIATE_TARGET_INFO
            | flags::NEGOTIATE_VERSION
            | flags::TARGET_TYPE_SERVER;
        let t = &self.target;
        let challenge = ChallengeMessage {
            flags: out_flags,
            target_name: super::messages::utf16le(&t.nb_computer_name),
            server_challenge: crypto::random()?,
            target_info: vec![
                AvPair::utf16(av_id::NB_DOMAIN_NAME, &t.nb_domain_name),
                AvPair::utf16(av_id::NB_COMPUTER_NAME, &t.nb_computer_name),
                AvPair::utf16(av_id::DNS_DOMAIN_NAME, &t.dns_domain_name),
                AvPair::utf16(av_id::DNS_COMPUTER_NAME, &t.dns_computer_name),
                AvPair {
                    id: av_id::TIMESTAMP,
                    value: crypto::filetime_now().to_le_bytes().to_vec(),
                },
            ],
            version: Some(Version::DEFAULT),
        };
        let challenge_bytes = challenge.encode()?;
        self.state = ServerState::SentChallenge {
            negotiate: negotiate_bytes.to_vec(),
            challenge_bytes: challenge_bytes.clone(),
            challenge,
        };
        Ok(Step::Continue(challenge_bytes))
    }

    /// [MS-NLMP] 3.2.5.1.2: verify an AUTHENTICATE_MESSAGE.
    fn accept(
        &mut self,
        negotiate: &[u8],
        challenge_bytes: &[u8],
        challenge: &ChallengeMessage,
        token: &[u8],
    ) -> Result<Step, AuthError> {
        let auth_bytes = find_ntlmssp(token).unwrap_or(token);
        let auth = AuthenticateMessage::decode(auth_bytes)?;
        let (user, domain) = (auth.user_name(), auth.domain_name());
        super::check_ntlmv2_response(&auth)?;
        let secret = self.lookup(&user, &domain).ok_or(AuthError::LogonFailure)?;
        let v = verify_authenticate(
            negotiate,
            challenge_bytes,
            challenge,
            auth_bytes,
            &auth,
            secret.nt_hash(),
        )?;
        self.authenticated = Some((user, domain));
        self.state = ServerState::Established(Box::new(Session::new(
            &v.exported_session_key,
            v.flags,
            Direction::ServerToClient,
        )));
        Ok(Step::Done(None))
    }
}

impl SecurityContext for NtlmServer {
    fn auth_type(&self) -> AuthType {
        AuthType::WinNt
    }

    fn step(&mut self, input: Option<&[u8]>) -> Result<Step, AuthError> {
        match (
            std::mem::replace(&mut self.state, ServerState::Failed),
            input,
        ) {
            (_, None) => Err(AuthError::State("server expects a token")),
            (ServerState::Initial, Some(t)) => self.challenge(t),
            (
                ServerState::SentChallenge {
                    negotiate,
                    challenge_bytes,
                    challenge,
                },
                Some(t),
            ) => self.accept(&negotiate, &challenge_bytes, &challenge, t),
            (s @ ServerState::Established(_), Some(_)) => {
                self.state = s;
                Err(AuthError::State("context already established"))
            }
            (ServerState::Failed, Some(_)) => Err(AuthError::State("context failed earlier")),
        }
    }

    established_session_methods!();
}

impl NtlmServer {
    fn session(&mut self) -> Option<&mut Session> {
        match &mut self.state {
            ServerState::Established(session) => Some(session),
            _ => None,
        }
    }

    fn has_session(&self) -> bool {
        matches!(self.state, ServerState::Established(_))
    }
}
