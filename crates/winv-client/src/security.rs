//! The security mechanism of a connection: what the connection flow asks for a fresh
//! security context at each authenticated bind (port 135, the dynamic endpoint, the ping
//! connection). NTLM is the one built in; Kerberos plugs in behind the same trait.

use std::fmt;
use std::net::SocketAddr;

use winv_auth::ntlm::{NtlmClient, NtlmCredentials, NtlmSecret};
use winv_auth::SecurityContext;

use crate::error::{ClientError, Stage};

/// What a bind is for: the mechanism may need the host's name (Kerberos builds the SPN
/// from it) or the principal name the server advertised.
#[derive(Clone, Copy, Debug)]
pub struct BindTarget<'a> {
    /// The host as the user gave it (a name or an address literal).
    pub host: &'a str,
    /// The endpoint being bound.
    pub addr: SocketAddr,
    /// The stage of the bind ([`Stage::Bind135`], [`Stage::BindDynamic`], [`Stage::Ping`]).
    pub stage: Stage,
    /// The principal name of the server's security bindings, when the activation reply
    /// listed one for this mechanism ([MS-DCOM] 2.2.19.4 SECURITYBINDING).
    pub principal: Option<&'a str>,
    /// The authentication level of the association (Kerberos tells its context).
    pub level: winv_auth::AuthLevel,
}

/// A security mechanism: gives a new client security context for every bind.
pub trait Mechanism: Send + Sync + fmt::Debug {
    /// Its stable name (`ntlm`, `kerberos`): what records and reports show.
    fn name(&self) -> &'static str;

    /// The `RPC_C_AUTHN_*` service number of its security bindings ([MS-RPCE] 2.2.1.1.7):
    /// which principal name of the activation reply is meant for it.
    fn authn_service(&self) -> u16;

    /// The account it authenticates as, for messages (never a secret).
    fn account(&self) -> String;

    /// A fresh context for one bind to `target`; an error carries the bind's stage.
    fn context(&self, target: &BindTarget<'_>) -> Result<Box<dyn SecurityContext>, ClientError>;

    /// What must be fetched over the network before [`Mechanism::context`] can answer
    /// for `target` (Kerberos: the service ticket from the KDC); the flow awaits it
    /// before each authenticated bind. NTLM needs nothing.
    fn prepare<'a>(&'a self, target: BindTarget<'a>) -> crate::kerberos::Prepare<'a> {
        let _ = target;
        Box::pin(async { Ok(()) })
    }

    /// The mechanism actually used with `host` (negotiate: the one it chose), for records.
    fn used_for(&self, host: &str) -> &'static str {
        let _ = host;
        self.name()
    }
}

/// Credentials for NTLM. `Debug` never shows the secret.
#[derive(Clone)]
pub struct Credentials {
    /// User name.
    pub user: String,
    /// Domain (or the host name for a local account; may be empty).
    pub domain: String,
    /// A local account of the target computer (`.\user`): the NTLM domain is the
    /// computer's own NetBIOS name, learned from its CHALLENGE.
    pub local: bool,
    /// The NT hash of the password.
    pub secret: NtlmSecret,
}

impl Credentials {
    /// From a clear-text password.
    pub fn with_password(user: &str, domain: &str, password: &str) -> Self {
        Credentials {
            user: user.to_string(),
            domain: domain.to_string(),
            local: false,
            secret: NtlmSecret::from_password(password),
        }
    }

    /// An account as a user writes it, with its password: the one place where
    /// `DOMAIN\user`, `user@domain`, `HOST\user`, `.\user` (a local account of each
    /// target computer) and a bare `user` are told apart. See [`Account::parse`].
    pub fn for_account(account: &str, password: &str) -> Self {
        let a = Account::parse(account);
        Credentials {
            user: a.user,
            domain: a.domain,
            local: a.local,
            secret: NtlmSecret::from_password(password),
        }
    }

    /// Splits `DOMAIN\user`, `user@domain` or `user` (empty domain). `.\user` gives the
    /// domain `.`; [`Credentials::for_account`] reads it as a local account.
    pub fn parse_user(qualified: &str) -> (String, String) {
        let a = Account::parse(qualified);
        if a.local {
            (a.user, ".".into())
        } else {
            (a.user, a.domain)
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("domain", &self.domain)
            .field("local", &self.local)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// An account name as written on a command line or in a credentials file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// The user name.
    pub user: String,
    /// The domain: `LAB` of `LAB\user`, `lab.local` of `user@lab.local`, `HOST` of
    /// `HOST\user`; empty for a bare `user` and for `.\user`.
    pub domain: String,
    /// `.\user`: an account of each target computer's own account database.
    pub local: bool,
}

impl Account {
    /// Parses `DOMAIN\user`, `user@domain`, `.\user` or `user`.
    pub fn parse(qualified: &str) -> Account {
        let (user, domain) = if let Some((d, u)) = qualified.split_once('\\') {
            (u, d)
        } else if let Some((u, d)) = qualified.split_once('@') {
            (u, d)
        } else {
            (qualified, "")
        };
        let local = domain == ".";
        Account {
            user: user.to_string(),
            domain: if local { String::new() } else { domain.to_string() },
            local,
        }
    }

    /// Whether the account belongs to one computer (`.\user`, or `HOST\user` where
    /// `HOST` is the target's own name): a refusal on one computer says nothing about
    /// another.
    pub fn is_local_to(&self, target_host: &str) -> bool {
        if self.local {
            return true;
        }
        let first = target_host.split('.').next().unwrap_or(target_host);
        !self.domain.is_empty()
            && target_host.parse::<std::net::IpAddr>().is_err()
            && self.domain.eq_ignore_ascii_case(first)
    }
}

/// NTLMv2 ([MS-NLMP]) with a password's NT hash.
#[derive(Clone, Debug)]
pub struct Ntlm {
    creds: Credentials,
    workstation: String,
}

impl Ntlm {
    /// NTLM as `creds`, announcing `workstation` (this machine's NetBIOS name; may be empty).
    pub fn new(creds: Credentials, workstation: &str) -> Ntlm {
        Ntlm {
            creds,
            workstation: workstation.to_string(),
        }
    }
}

/// `RPC_C_AUTHN_WINNT` ([MS-RPCE] 2.2.1.1.7).
pub const RPC_C_AUTHN_WINNT: u16 = 10;

impl Mechanism for Ntlm {
    fn name(&self) -> &'static str {
        "ntlm"
    }

    fn authn_service(&self) -> u16 {
        RPC_C_AUTHN_WINNT
    }

    fn account(&self) -> String {
        if self.creds.local {
            format!(".\\{}", self.creds.user)
        } else if self.creds.domain.is_empty() {
            self.creds.user.clone()
        } else {
            format!("{}\\{}", self.creds.domain, self.creds.user)
        }
    }

    fn context(&self, _target: &BindTarget<'_>) -> Result<Box<dyn SecurityContext>, ClientError> {
        let mut c = NtlmCredentials::with_secret(
            &self.creds.user,
            &self.creds.domain,
            &self.workstation,
            self.creds.secret.clone(),
        );
        c.domain_from_challenge = self.creds.local;
        Ok(Box::new(NtlmClient::new(c)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn account_forms() {
        let a = Account::parse(r"LAB\admin");
        assert_eq!((a.user.as_str(), a.domain.as_str(), a.local), ("admin", "LAB", false));
        let a = Account::parse("admin@lab.local");
        assert_eq!((a.user.as_str(), a.domain.as_str()), ("admin", "lab.local"));
        let a = Account::parse(r".\Administrator");
        assert_eq!((a.user.as_str(), a.domain.as_str(), a.local), ("Administrator", "", true));
        let a = Account::parse("admin");
        assert_eq!((a.user.as_str(), a.domain.as_str(), a.local), ("admin", "", false));
    }

    #[test]
    fn local_accounts_belong_to_one_computer() {
        assert!(Account::parse(r".\admin").is_local_to("10.0.0.5"));
        assert!(Account::parse(r"WS01\admin").is_local_to("ws01.lab.local"));
        assert!(Account::parse(r"ws01\admin").is_local_to("WS01"));
        assert!(!Account::parse(r"LAB\admin").is_local_to("ws01.lab.local"));
        assert!(!Account::parse(r"LAB\admin").is_local_to("10.0.0.5"));
        assert!(!Account::parse("admin@lab.local").is_local_to("ws01"));
    }

    #[test]
    fn credentials_debug_redacts() {
        let c = Credentials::with_password("admin", "LAB", "hunter2-secret");
        let d = format!("{c:?}");
        assert!(d.contains("admin"));
        assert!(!d.contains("hunter2"));
        assert!(d.contains("redacted"));
    }

    #[test]
    fn parse_user_forms() {
        assert_eq!(
            Credentials::parse_user("LAB\\admin"),
            ("admin".into(), "LAB".into())
        );
        assert_eq!(
            Credentials::parse_user("admin@lab.local"),
            ("admin".into(), "lab.local".into())
        );
        assert_eq!(
            Credentials::parse_user("admin"),
            ("admin".into(), String::new())
        );
        assert_eq!(
            Credentials::parse_user(".\\admin"),
            ("admin".into(), ".".into())
        );
        let c = Credentials::for_account(".\\admin", "pw");
        assert!(c.local);
        assert_eq!(c.domain, "");
    }
}
