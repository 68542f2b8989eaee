//! The connection options every command that talks to a host shares (`scan`, `query`,
//! `diagnose`): one set of flag names, units and value names, flattened into each
//! command's arguments, and the one reading of accounts and their passwords.
//!
//! | flag | meaning |
//! |---|---|
//! | `--user ACCOUNT` (repeatable) | `DOMAIN\user`, `user@domain`, `HOST\user`, `.\user` (a local account of each target), or `user` |
//! | `--password-env VAR` / `--password-file FILE` | once per `--user` in order, or once for all; without either, a prompt on a terminal |
//! | `--auth-level connect\|integrity\|privacy` | default privacy |
//! | `--port PORT` | the endpoint mapper port, default 135 |
//! | `--connect-timeout SECS` | each TCP connect and each DNS attempt |
//! | `--call-timeout SECS` | each read, bind and call, and an enumeration without progress |
//! | `--dns-server ADDR[:PORT]` | names through this server instead of the system's resolver |
//! | `--auth ntlm\|kerberos\|kerberos-raw\|negotiate` | the mechanism (default ntlm); kerberos is SPNEGO (auth type 9), kerberos-raw the raw Kerberos service (16); negotiate: Kerberos, NTLM for an address or a principal the KDC does not know |
//! | `--kdc ADDR[:PORT]` (repeatable) | the KDCs; default krb5.conf (`KRB5_CONFIG`, `/etc/krb5.conf`), then DNS SRV `_kerberos._tcp.REALM` |
//! | `--spn SPN` | the service principal instead of the server's, or `host/<fqdn>` |
//! | `--keytab FILE` | the account's keys instead of its password; without a password or keytab, the ccache of `KRB5CCNAME` (after `kinit`) |

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use std::sync::Arc;

use anyhow::Context;
use winv_auth::kerberos::exchange::Password;
use winv_auth::kerberos::Principal;
use winv_client::krb::{self, KdcAddr, KdcLocator, Krb5Conf, KerberosConfig, Source};
use winv_client::{AuthLevel, Credentials, Deadlines, Mechanism, Negotiate, Ntlm};
use winv_discovery::resolve::{DnsServer, ResolveConfig, Resolver};
use winv_engine::Credential;

use crate::password::{read_password, Secret};

/// The security mechanism of the connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Auth {
    /// NTLMv2 with the password's hash.
    Ntlm,
    /// Kerberos (SPNEGO): tickets from a password, a keytab or a ccache.
    Kerberos,
    /// Kerberos without SPNEGO: the raw Kerberos authentication service (auth type 16,
    /// `RPC_C_AUTHN_GSS_KERBEROS`), for servers or middleboxes that expect it.
    KerberosRaw,
    /// Kerberos, and NTLM for an address-only target or a principal the KDC does not
    /// know (the mechanism used is recorded per computer).
    Negotiate,
}

impl Auth {
    /// The prefix of a credentials file entry (`kerberos:LAB\user`).
    pub fn from_prefix(s: &str) -> Option<Auth> {
        match s {
            "ntlm" => Some(Auth::Ntlm),
            "kerberos" => Some(Auth::Kerberos),
            "kerberos-raw" => Some(Auth::KerberosRaw),
            "negotiate" => Some(Auth::Negotiate),
            _ => None,
        }
    }
}

/// One account before its mechanism is built: what a credentials file line or a
/// `--user` says. `Debug` never shows the password.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The account as written (for a ccache: its default principal).
    pub account: String,
    /// Its password (none for a ccache or a keytab).
    pub password: Option<Secret>,
    /// The mechanism the entry names; `None`: `--auth`.
    pub auth: Option<Auth>,
    /// A ccache to take tickets from (`ccache:FILE`).
    pub ccache: Option<PathBuf>,
}

/// Authentication level of every connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Level {
    /// Authenticate at bind only (what old clients use; refused by hardened hosts).
    Connect,
    /// Packet integrity: every PDU signed.
    Integrity,
    /// Packet privacy: every PDU signed and sealed.
    Privacy,
}

impl Level {
    /// The DCE/RPC level.
    pub fn auth(self) -> AuthLevel {
        match self {
            Level::Connect => AuthLevel::Connect,
            Level::Integrity => AuthLevel::PktIntegrity,
            Level::Privacy => AuthLevel::PktPrivacy,
        }
    }
}

/// Seconds above 0 and at most an hour.
pub fn positive_secs(s: &str) -> std::result::Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("not a number of seconds: {s}"))?;
    if v.is_finite() && v > 0.0 && v <= 3600.0 {
        Ok(v)
    } else {
        Err("seconds must be above 0 and at most 3600".into())
    }
}

/// How to reach the hosts.
#[derive(Args, Debug, Clone)]
pub struct ConnectionArgs {
    /// Authentication level of every connection.
    #[arg(long, value_enum, default_value_t = Level::Privacy)]
    pub auth_level: Level,
    /// Endpoint mapper port.
    #[arg(long, default_value_t = 135, value_name = "PORT")]
    pub port: u16,
    /// Deadline in seconds of each TCP connect and each DNS attempt [default: 5].
    #[arg(long, value_name = "SECS", value_parser = positive_secs, alias = "timeout-connect")]
    pub connect_timeout: Option<f64>,
    /// Deadline in seconds of each read, bind and call, and of an enumeration without
    /// progress [default: 60; diagnose: 20].
    #[arg(long, value_name = "SECS", value_parser = positive_secs, alias = "timeout-call", alias = "timeout")]
    pub call_timeout: Option<f64>,
    /// DNS server for host names (ADDR[:PORT]); default the system's resolver.
    #[arg(long, value_name = "ADDR[:PORT]")]
    pub dns_server: Option<String>,
    /// Security mechanism: ntlm, kerberos, or negotiate (Kerberos, else NTLM for an
    /// address or a principal the KDC does not know).
    #[arg(long, value_enum, default_value_t = Auth::Ntlm)]
    pub auth: Auth,
    /// A KDC (ADDR[:PORT], repeatable); default krb5.conf, then the realm's DNS SRV records.
    #[arg(long, value_name = "ADDR[:PORT]")]
    pub kdc: Vec<String>,
    /// The service principal to ask a ticket for, instead of the server's own or
    /// host/<fqdn>.
    #[arg(long, value_name = "SPN")]
    pub spn: Option<String>,
    /// Keytab with the account's keys (Kerberos without a password).
    #[arg(long, value_name = "FILE")]
    pub keytab: Option<PathBuf>,
}

/// The default connect deadline.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The default call deadline.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

impl ConnectionArgs {
    /// The deadlines, with `call_default` when `--call-timeout` is not given.
    pub fn deadlines(&self, call_default: Duration) -> Deadlines {
        let connect = self
            .connect_timeout
            .map_or(CONNECT_TIMEOUT, Duration::from_secs_f64);
        let call = self
            .call_timeout
            .map_or(call_default, Duration::from_secs_f64);
        Deadlines {
            connect,
            read: call,
            call,
        }
    }

    /// The resolver of `--dns-server` (or the system's configuration), each attempt
    /// bounded by the connect deadline.
    pub fn resolver(&self, attempts: u32) -> Result<Resolver> {
        let server = match &self.dns_server {
            Some(s) => DnsServer::parse(s)?,
            None => DnsServer::System,
        };
        Ok(Resolver::new(ResolveConfig {
            server,
            attempt_timeout: self
                .connect_timeout
                .map_or(CONNECT_TIMEOUT, Duration::from_secs_f64),
            attempts,
        })?)
    }
}

impl ConnectionArgs {
    /// Whether an account may come without a password: Kerberos with a keytab or a
    /// ccache (`KRB5CCNAME`).
    pub fn password_optional(&self) -> bool {
        self.auth != Auth::Ntlm
            && (self.keytab.is_some() || std::env::var_os("KRB5CCNAME").is_some())
    }

    fn kerberos_config(&self) -> Result<KerberosConfig> {
        let explicit = self
            .kdc
            .iter()
            .map(|k| KdcAddr::parse(k).map_err(anyhow::Error::msg))
            .collect::<Result<Vec<_>>>()
            .context("--kdc")?;
        let conf_path = std::env::var_os("KRB5_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/etc/krb5.conf"));
        let conf = if conf_path.exists() {
            Krb5Conf::load(&conf_path)?
        } else {
            Krb5Conf::default()
        };
        let mut config = KerberosConfig {
            locator: KdcLocator {
                explicit,
                conf,
                dns: Some(self.resolver(2)?),
            },
            ..KerberosConfig::default()
        };
        if let Some(c) = self.connect_timeout {
            config.kdc_deadline = Duration::from_secs_f64(c);
        }
        Ok(config)
    }

    /// The credential list: each entry with its mechanism (its own, or `--auth`). The
    /// Kerberos tickets of an account are shared by every computer of the run.
    pub fn credentials(&self, entries: Vec<Entry>, workstation: &str) -> Result<Vec<Credential>> {
        self.credentials_as(entries, workstation, None)
    }

    /// The mechanism `diagnose` probes when `--auth` is refused: NTLM for Kerberos,
    /// Kerberos for NTLM; none for negotiate (it already tries both).
    pub fn other_auth(&self) -> Option<Auth> {
        match self.auth {
            Auth::Ntlm => Some(Auth::Kerberos),
            Auth::Kerberos | Auth::KerberosRaw => Some(Auth::Ntlm),
            Auth::Negotiate => None,
        }
    }

    /// [`ConnectionArgs::credentials`] with `auth` instead of each entry's mechanism.
    pub fn credentials_as(
        &self,
        entries: Vec<Entry>,
        workstation: &str,
        auth: Option<Auth>,
    ) -> Result<Vec<Credential>> {
        let mut out = Vec::with_capacity(entries.len());
        let mut config: Option<KerberosConfig> = None;
        for e in entries {
            let auth = auth.or(e.auth).unwrap_or(self.auth);
            let pw = e.password.as_ref().map(Secret::expose);
            let creds = Credentials::for_account(&e.account, pw.unwrap_or(""));
            let ntlm = pw.map(|_| Ntlm::new(creds.clone(), workstation));
            if auth == Auth::Ntlm {
                let Some(n) = ntlm else {
                    bail!("{}: ntlm needs a password", e.account);
                };
                out.push(Credential {
                    account: e.account,
                    creds,
                    mechanism: Some(Arc::new(n)),
                });
                continue;
            }
            if config.is_none() {
                config = Some(self.kerberos_config()?);
            }
            let cfg = config.clone().unwrap_or_default();
            let realm = cfg.locator.conf.default_realm.clone();
            let principal = || {
                Principal::parse_user(&e.account, realm.as_deref())
                    .with_context(|| format!("kerberos account {}", e.account))
            };
            let ccache = e
                .ccache
                .clone()
                .or_else(|| (pw.is_none() && self.keytab.is_none()).then(|| std::env::var_os("KRB5CCNAME").map(PathBuf::from)).flatten());
            let source = if let Some(cc) = ccache {
                let (path, cache) = krb::load_ccache(&cc.to_string_lossy())?;
                Source::Ccache { path, cache }
            } else if let Some(kt) = &self.keytab {
                Source::Keytab {
                    client: principal()?,
                    path: kt.clone(),
                }
            } else if let Some(p) = pw {
                Source::Password {
                    client: principal()?,
                    password: Password::new(p.to_owned()),
                }
            } else {
                bail!(
                    "{}: kerberos needs a password, --keytab, or a ccache (KRB5CCNAME)",
                    e.account
                );
            };
            let tickets = Arc::new(krb::Kerberos::new(source, cfg)?);
            let account = if e.ccache.is_some() {
                tickets.client().to_string()
            } else {
                e.account.clone()
            };
            let k = winv_client::Kerberos::new(tickets, self.spn.clone());
            let mechanism: Arc<dyn Mechanism> = match (auth, ntlm) {
                (Auth::Negotiate, Some(n)) => Arc::new(Negotiate::new(k, n)),
                (Auth::KerberosRaw, _) => Arc::new(k.raw()),
                _ => Arc::new(k),
            };
            out.push(Credential {
                account,
                creds,
                mechanism: Some(mechanism),
            });
        }
        Ok(out)
    }
}

/// The accounts to connect as.
#[derive(Args, Debug, Clone, Default)]
pub struct UserArgs {
    /// Account: DOMAIN\user, user@domain, HOST\user, .\user (a local account of each
    /// target computer) or user. Repeat for several, tried in order.
    #[arg(long, value_name = "ACCOUNT")]
    pub user: Vec<String>,
    /// Environment variable holding the password (once per --user, or once for all).
    #[arg(long, value_name = "VAR")]
    pub password_env: Vec<String>,
    /// File holding the password, mode 600, first line (once per --user, or once for all).
    #[arg(long, value_name = "FILE")]
    pub password_file: Vec<PathBuf>,
}

impl UserArgs {
    /// Each `--user` with its password, in order: the same pairing of sources for every
    /// command, the password never from the command line.
    #[cfg(test)]
    pub fn credentials(&self, prompt: bool) -> Result<Vec<Credential>> {
        Ok(self
            .entries(prompt, false)?
            .into_iter()
            .map(|e| {
                let pw = e.password.as_ref().map_or("", Secret::expose);
                Credential::new(&e.account, pw)
            })
            .collect())
    }

    /// Each `--user` with its password (none when `password_optional` and no source
    /// was given: Kerberos from a keytab or a ccache), in order.
    pub fn entries(&self, prompt: bool, password_optional: bool) -> Result<Vec<Entry>> {
        let n = self.user.len();
        if n == 0 {
            if !self.password_env.is_empty() || !self.password_file.is_empty() {
                bail!("--password-env and --password-file need --user");
            }
            return Ok(Vec::new());
        }
        let (envs, files) = (&self.password_env, &self.password_file);
        let source = |i: usize| -> Result<(Option<&str>, Option<&Path>)> {
            Ok(match (envs.len(), files.len()) {
                (0, 0) => (None, None),
                (e, 0) if e == n => (Some(envs[i].as_str()), None),
                (0, f) if f == n => (None, Some(files[i].as_path())),
                (1, 0) => (Some(envs[0].as_str()), None),
                (0, 1) => (None, Some(files[0].as_path())),
                _ => bail!(
                    "give one --password-env or one --password-file per --user, in the same \
                     order, or one for all of them"
                ),
            })
        };
        let mut out = Vec::with_capacity(n);
        for (i, account) in self.user.iter().enumerate() {
            let (env, file) = source(i)?;
            let password = if password_optional && env.is_none() && file.is_none() {
                None
            } else {
                Some(read_password(account, env, file, prompt)?)
            };
            out.push(Entry {
                account: account.clone(),
                password,
                auth: None,
                ccache: None,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        conn: ConnectionArgs,
        #[command(flatten)]
        users: UserArgs,
    }

    #[test]
    fn seconds_are_checked() {
        assert_eq!(positive_secs("1.5").unwrap(), 1.5);
        assert!(positive_secs("0").is_err());
        assert!(positive_secs("-1").is_err());
        assert!(positive_secs("nan").is_err());
        assert!(positive_secs("x").is_err());
    }

    #[test]
    fn one_set_of_names_and_the_old_spellings_still_parse() {
        let c = Cli::try_parse_from([
            "x",
            "--auth-level",
            "integrity",
            "--connect-timeout",
            "2.5",
            "--call-timeout",
            "9",
        ])
        .unwrap();
        assert_eq!(c.conn.auth_level.auth(), AuthLevel::PktIntegrity);
        let d = c.conn.deadlines(CALL_TIMEOUT);
        assert_eq!(d.connect, Duration::from_millis(2500));
        assert_eq!(d.call, Duration::from_secs(9));
        assert_eq!(d.read, d.call);
        for old in [["--timeout-connect", "3"], ["--timeout-call", "3"], ["--timeout", "3"]] {
            let c = Cli::try_parse_from(["x", old[0], old[1]]).unwrap();
            let d = c.conn.deadlines(CALL_TIMEOUT);
            assert!(
                d.connect == Duration::from_secs(3) || d.call == Duration::from_secs(3),
                "{old:?}"
            );
        }
        // Defaults.
        let c = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(c.conn.auth_level, Level::Privacy);
        assert_eq!(c.conn.port, 135);
        let d = c.conn.deadlines(Duration::from_secs(20));
        assert_eq!((d.connect, d.call), (CONNECT_TIMEOUT, Duration::from_secs(20)));
        assert!(Cli::try_parse_from(["x", "--auth-level", "none"]).is_err());
    }

    #[test]
    fn passwords_pair_with_users_and_local_accounts_are_marked() {
        std::env::set_var("WINV_CONNOPTS_A", "pw-a");
        std::env::set_var("WINV_CONNOPTS_B", "pw-b");
        let c = Cli::try_parse_from([
            "x",
            "--user",
            "LAB\\a",
            "--user",
            ".\\Administrator",
            "--password-env",
            "WINV_CONNOPTS_A",
            "--password-env",
            "WINV_CONNOPTS_B",
        ])
        .unwrap();
        let creds = c.users.credentials(false).unwrap();
        assert_eq!(creds.len(), 2);
        assert_eq!(creds[0].creds.domain, "LAB");
        assert!(!creds[0].creds.local);
        assert_eq!(
            creds[1].creds.secret,
            winv_client::NtlmSecret::from_password("pw-b")
        );
        assert!(creds[1].creds.local, "{:?}", creds[1].creds);
        // Two users, three sources: refused.
        let c = Cli::try_parse_from([
            "x", "--user", "a", "--user", "b", "--password-env", "A", "--password-env", "B",
            "--password-env", "C",
        ])
        .unwrap();
        assert!(c.users.credentials(false).is_err());
        // A source without a user.
        let c = Cli::try_parse_from(["x", "--password-env", "A"]).unwrap();
        assert!(c.users.credentials(false).is_err());
    }

    #[test]
    fn kerberos_raw_is_auth_type_16_and_kerberos_is_spnego() {
        std::env::set_var("WINV_CONNOPTS_K", "pw-k");
        for (auth, service) in [("kerberos", 9), ("kerberos-raw", 16), ("ntlm", 10)] {
            let c = Cli::try_parse_from([
                "x", "--auth", auth, "--kdc", "127.0.0.1", "--user", "k@LAB.EXAMPLE",
                "--password-env", "WINV_CONNOPTS_K",
            ])
            .unwrap();
            let entries = c.users.entries(false, false).unwrap();
            let creds = c.conn.credentials(entries, "WS").unwrap();
            let m = creds[0].mechanism.as_ref().unwrap();
            assert_eq!(m.authn_service(), service, "{auth}");
        }
        assert_eq!(Auth::from_prefix("kerberos-raw"), Some(Auth::KerberosRaw));
    }
}
