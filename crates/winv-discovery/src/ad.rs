//! Active Directory discovery over LDAP with TLS, through the `ldap3` crate.
//!
//! - Transport: `ldaps://HOST[:PORT]` (TLS from the first byte) or
//!   `ldap://HOST[:PORT]`, which always upgrades with StartTLS (RFC 4511 4.14);
//!   plain LDAP is never used. Given only a domain, the DC is found from the
//!   DNS SRV records `_ldap._tcp.dc._msdcs.DOMAIN` and reached with StartTLS on
//!   the port they name.
//! - Certificates are checked by default against the system roots, or against
//!   the CA certificates of a given PEM file; skipping the check is a separate,
//!   explicit setting.
//! - Simple bind (RFC 4513 5.1.3) as `user@realm`, `DOMAIN\user` or a DN.
//! - Search of `(&(objectCategory=computer)EXTRA)` under the base (default: the
//!   RootDSE's `defaultNamingContext`), subtree or one level, with the simple
//!   paged results control (RFC 2696, OID 1.2.840.113556.1.4.319).
//! - Every network wait has a deadline: the TCP connect, TLS and StartTLS, the
//!   bind, and each page of the search.
//!
//! Skip rules, per computer object:
//! - `userAccountControl` has ACCOUNTDISABLE (0x2, [MS-ADTS] 2.2.16): skipped as
//!   `disabled` unless included.
//! - `lastLogonTimestamp` ([MS-ADA1] 2.351, a FILETIME) older than the stale
//!   age (default 90 days, as MAP): skipped as `stale` unless included. An
//!   absent `lastLogonTimestamp` means the account has never logged on (or the
//!   attribute has not been written yet: it is updated with up to 14 days of
//!   lag); such computers are KEPT, since there is no evidence that they are
//!   stale, and reported with `last_logon_unix: null`. A disabled account that
//!   is also stale counts as disabled only.
//! - Objects without `dNSHostName` are kept with the host name `name.DOMAIN`
//!   (the DNS domain from the object's `DC=` components) and marked
//!   `host_from_name`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ldap3::controls::{Control, ControlType, PagedResults, RawControl};
use ldap3::{LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry, StdStream};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Serialize;

use crate::resolve::{Resolution, Resolver};

/// `userAccountControl` ACCOUNTDISABLE, [MS-ADTS] 2.2.16.
pub const UF_ACCOUNTDISABLE: u32 = 0x2;
/// Default stale age in days (MAP's default).
pub const DEFAULT_STALE_DAYS: u32 = 90;
/// Default page size of the paged search.
pub const DEFAULT_PAGE_SIZE: u32 = 500;
/// Default deadline of the TCP connect plus TLS / StartTLS.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default deadline of the bind and of each search page.
pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_secs(30);
/// LDAP result code invalidCredentials, RFC 4511 A.1.
const LDAP_INVALID_CREDENTIALS: u32 = 49;
/// Seconds between 1601-01-01 and 1970-01-01 (FILETIME epoch to Unix epoch).
const FILETIME_UNIX_OFFSET_SECS: i64 = 11_644_473_600;

/// Simple-bind credentials; `Debug` never shows the password.
#[derive(Clone)]
pub struct BindCredentials {
    /// `user@realm`, `DOMAIN\user` or a DN.
    pub user: String,
    password: String,
}

impl BindCredentials {
    /// Credentials for a simple bind. An empty password is refused by
    /// [`discover`] (it would be an unauthenticated bind, RFC 4513 5.1.2).
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        BindCredentials {
            user: user.into(),
            password: password.into(),
        }
    }
}

impl std::fmt::Debug for BindCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BindCredentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// How the server certificate is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TlsVerify {
    /// Against the system's trusted roots (default).
    #[default]
    SystemRoots,
    /// Against the CA certificates in a PEM file (only those).
    CaFile(PathBuf),
    /// Not at all: anyone in the path can read the bind password.
    InsecureSkip,
}

/// Search scope below the base.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SearchScope {
    /// The whole subtree (default).
    #[default]
    Sub,
    /// Direct children of the base only.
    One,
}

/// Settings of one discovery.
#[derive(Debug, Clone)]
pub struct AdConfig {
    /// `ldaps://HOST[:PORT]`, `ldap://HOST[:PORT]` (StartTLS) or a DNS domain.
    pub target: String,
    /// Search base; default the RootDSE's `defaultNamingContext`.
    pub base: Option<String>,
    /// Scope below the base.
    pub scope: SearchScope,
    /// An LDAP filter ANDed with `(objectCategory=computer)`.
    pub filter: Option<String>,
    /// Bind credentials; `None` searches anonymously (AD usually refuses).
    pub credentials: Option<BindCredentials>,
    /// Certificate checking.
    pub tls: TlsVerify,
    /// Entries per page (1..=1000 is sensible for AD's MaxPageSize).
    pub page_size: u32,
    /// Computers whose last logon is older than this many days are stale.
    pub stale_days: u32,
    /// Keep disabled accounts.
    pub include_disabled: bool,
    /// Keep stale accounts.
    pub include_stale: bool,
    /// Deadline of connect + TLS.
    pub connect_timeout: Duration,
    /// Deadline of the bind and of each search page.
    pub op_timeout: Duration,
}

impl AdConfig {
    /// Defaults for `target`.
    pub fn new(target: impl Into<String>) -> Self {
        AdConfig {
            target: target.into(),
            base: None,
            scope: SearchScope::Sub,
            filter: None,
            credentials: None,
            tls: TlsVerify::SystemRoots,
            page_size: DEFAULT_PAGE_SIZE,
            stale_days: DEFAULT_STALE_DAYS,
            include_disabled: false,
            include_stale: false,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            op_timeout: DEFAULT_OP_TIMEOUT,
        }
    }
}

/// Why a TCP connection could not be made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectFailure {
    /// Nothing listening (RST).
    Refused,
    /// No answer within the deadline.
    TimedOut,
    /// Host or network unreachable.
    Unreachable,
    /// The host name did not resolve.
    NotResolved(String),
    /// Anything else.
    Other(String),
}

impl std::fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectFailure::Refused => f.write_str("connection refused"),
            ConnectFailure::TimedOut => f.write_str("connection timed out"),
            ConnectFailure::Unreachable => f.write_str("host or network unreachable"),
            ConnectFailure::NotResolved(e) => write!(f, "name not resolved: {e}"),
            ConnectFailure::Other(e) => f.write_str(e),
        }
    }
}

/// A discovery failure, naming its cause.
#[derive(Debug, thiserror::Error)]
pub enum AdError {
    /// The target is neither an LDAP URL nor a domain name.
    #[error("invalid directory {0:?}: expected ldaps://HOST, ldap://HOST or a DNS domain")]
    BadTarget(String),
    /// No domain controller found in DNS.
    #[error("no domain controller found for {domain}: {detail}")]
    NoDomainController {
        /// The domain.
        domain: String,
        /// What DNS said.
        detail: String,
    },
    /// The directory could not be reached.
    #[error("directory {host}:{port} unreachable: {cause}")]
    Unreachable {
        /// Host as given.
        host: String,
        /// Port.
        port: u16,
        /// Why.
        cause: ConnectFailure,
    },
    /// The server's certificate was refused.
    #[error("certificate of {host} refused: {detail}")]
    Certificate {
        /// Host as given (the name checked against the certificate).
        host: String,
        /// Why (untrusted issuer, name mismatch, expired...).
        detail: String,
    },
    /// The CA file could not be read or holds no certificate.
    #[error("ca file {path}: {detail}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// TLS or StartTLS failed for another reason.
    #[error("tls with {host} failed: {detail}")]
    Tls {
        /// Host.
        host: String,
        /// Why.
        detail: String,
    },
    /// LDAP result 49: wrong user name or password.
    #[error("bind as {user} refused: invalid credentials (ldap result 49)")]
    InvalidCredentials {
        /// The bind name.
        user: String,
    },
    /// An empty password was given (it would bind anonymously).
    #[error("empty bind password for {user}")]
    EmptyPassword {
        /// The bind name.
        user: String,
    },
    /// The bind failed for another reason.
    #[error("bind as {user} failed: ldap result {rc}: {text}")]
    Bind {
        /// The bind name.
        user: String,
        /// LDAP result code.
        rc: u32,
        /// Diagnostic text.
        text: String,
    },
    /// A step did not finish within its deadline.
    #[error("{step} timed out after {after:?}")]
    Timeout {
        /// Which step.
        step: &'static str,
        /// The deadline.
        after: Duration,
    },
    /// The extra filter is not a valid LDAP filter.
    #[error("invalid ldap filter {0:?}")]
    BadFilter(String),
    /// The search failed.
    #[error("search of {base} failed: {detail}")]
    Search {
        /// Base DN.
        base: String,
        /// Why.
        detail: String,
    },
    /// The RootDSE had no `defaultNamingContext`.
    #[error("rootdse of {0} has no defaultNamingContext; give a search base")]
    NoNamingContext(String),
}

/// Why a computer object was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// ACCOUNTDISABLE set.
    Disabled,
    /// Last logon older than the stale age.
    Stale,
}

/// One computer object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Computer {
    /// `name` (or `cn`).
    pub name: String,
    /// `dNSHostName`, if the object has one.
    pub dns_host_name: Option<String>,
    /// The host name to use: `dNSHostName`, or `name.DOMAIN`.
    pub host: String,
    /// Whether `host` was made from `name` and the domain (no `dNSHostName`).
    pub host_from_name: bool,
    /// The object's distinguished name.
    pub distinguished_name: String,
    /// `operatingSystem`.
    pub operating_system: Option<String>,
    /// `operatingSystemVersion`.
    pub operating_system_version: Option<String>,
    /// `userAccountControl`.
    pub user_account_control: Option<u32>,
    /// `lastLogonTimestamp` as Unix seconds; `None` = never logged on.
    pub last_logon_unix: Option<i64>,
    /// Whether skipped.
    pub skipped: bool,
    /// Why skipped.
    pub skip_reason: Option<SkipReason>,
}

/// Counts of one discovery.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Computer objects found.
    pub found: usize,
    /// Kept as targets.
    pub kept: usize,
    /// Skipped because disabled.
    pub skipped_disabled: usize,
    /// Skipped because stale.
    pub skipped_stale: usize,
    /// Objects without `dNSHostName` (kept or not).
    pub without_dns_host_name: usize,
}

/// The result of a discovery.
#[derive(Debug, Clone, Serialize)]
pub struct Discovery {
    /// `host:port` of the directory used.
    pub server: String,
    /// The search base.
    pub base: String,
    /// Pages fetched.
    pub pages: u32,
    /// Every computer object, skipped ones included, in directory order.
    pub computers: Vec<Computer>,
    /// Counts.
    pub counts: Counts,
}

/// A parsed directory target.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DirTarget {
    Url { tls: bool, host: String, port: u16 },
    Domain(String),
}

fn parse_target(t: &str) -> Result<DirTarget, AdError> {
    let bad = || AdError::BadTarget(t.to_string());
    let (tls, rest) = if let Some(r) = t.strip_prefix("ldaps://") {
        (true, r)
    } else if let Some(r) = t.strip_prefix("ldap://") {
        (false, r)
    } else {
        let d = t.trim().trim_end_matches('.');
        if d.contains('.') && crate::targets::is_host_name(d) {
            return Ok(DirTarget::Domain(d.to_ascii_lowercase()));
        }
        return Err(bad());
    };
    let authority = rest.split('/').next().unwrap_or("");
    let default_port = if tls { 636 } else { 389 };
    let (host, port) = if let Some(r) = authority.strip_prefix('[') {
        let (h, after) = r.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if after.is_empty() => default_port,
            None => return Err(bad()),
        };
        (h.to_string(), port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().map_err(|_| bad())?),
            None => (authority.to_string(), default_port),
        }
    };
    if host.is_empty() || (host.parse::<IpAddr>().is_err() && !crate::targets::is_host_name(&host))
    {
        return Err(bad());
    }
    Ok(DirTarget::Url { tls, host, port })
}

/// Builds `(&(objectCategory=computer)EXTRA)`.
pub fn computer_filter(extra: Option<&str>) -> String {
    match extra.map(str::trim).filter(|s| !s.is_empty()) {
        None => "(objectCategory=computer)".to_string(),
        Some(f) if f.starts_with('(') => format!("(&(objectCategory=computer){f})"),
        Some(f) => format!("(&(objectCategory=computer)({f}))"),
    }
}

/// Converts a `lastLogonTimestamp` FILETIME (100 ns since 1601) to Unix seconds.
pub fn filetime_to_unix(ft: i64) -> Option<i64> {
    if ft <= 0 || ft == i64::MAX {
        return None;
    }
    Some(ft / 10_000_000 - FILETIME_UNIX_OFFSET_SECS)
}

/// The DNS domain from a DN's `DC=` components (`CN=x,DC=winv,DC=test` → `winv.test`).
pub fn dn_domain(dn: &str) -> Option<String> {
    let parts: Vec<&str> = dn
        .split(',')
        .filter_map(|rdn| {
            let (k, v) = rdn.trim().split_once('=')?;
            k.trim().eq_ignore_ascii_case("dc").then(|| v.trim())
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(".").to_ascii_lowercase())
}

fn first(e: &SearchEntry, attr: &str) -> Option<String> {
    e.attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attr))
        .and_then(|(_, v)| v.first().cloned())
        .filter(|s| !s.is_empty())
}

/// Classifies one entry (pure; `now` is Unix seconds).
pub fn classify_entry(
    dn: &str,
    get: impl Fn(&str) -> Option<String>,
    cfg: &AdConfig,
    now: i64,
) -> Computer {
    let name = get("name").or_else(|| get("cn")).unwrap_or_else(|| {
        dn.split(',')
            .next()
            .unwrap_or(dn)
            .trim_start_matches("CN=")
            .to_string()
    });
    let dns_host_name = get("dNSHostName").map(|s| s.trim_end_matches('.').to_ascii_lowercase());
    let (host, host_from_name) = match &dns_host_name {
        Some(h) => (h.clone(), false),
        None => match dn_domain(dn) {
            Some(d) => (format!("{}.{d}", name.to_ascii_lowercase()), true),
            None => (name.to_ascii_lowercase(), true),
        },
    };
    let uac = get("userAccountControl")
        .and_then(|s| s.parse::<i64>().ok())
        .map(|v| v as u32);
    let last_logon_unix = get("lastLogonTimestamp")
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(filetime_to_unix);
    let disabled = uac.is_some_and(|u| u & UF_ACCOUNTDISABLE != 0);
    let stale_secs = i64::from(cfg.stale_days).saturating_mul(86_400);
    let stale = last_logon_unix.is_some_and(|t| now.saturating_sub(t) > stale_secs);
    let skip_reason = if disabled && !cfg.include_disabled {
        Some(SkipReason::Disabled)
    } else if stale && !cfg.include_stale {
        Some(SkipReason::Stale)
    } else {
        None
    };
    Computer {
        name,
        dns_host_name,
        host,
        host_from_name,
        distinguished_name: dn.to_string(),
        operating_system: get("operatingSystem"),
        operating_system_version: get("operatingSystemVersion"),
        user_account_control: uac,
        last_logon_unix,
        skipped: skip_reason.is_some(),
        skip_reason,
    }
}

/// Certificate verifier that accepts any certificate but still checks the
/// handshake signatures (so the peer holds the key of what it sent).
#[derive(Debug)]
struct SkipVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for SkipVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn tls_config(verify: &TlsVerify) -> Result<Arc<ClientConfig>, AdError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| AdError::Tls {
            host: String::new(),
            detail: e.to_string(),
        })?;
    let config = match verify {
        TlsVerify::InsecureSkip => {
            tracing::warn!("tls certificate checking is disabled for the directory connection");
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(SkipVerify(provider)))
                .with_no_client_auth()
        }
        TlsVerify::CaFile(path) => {
            let ca_err = |detail: String| AdError::CaFile {
                path: path.clone(),
                detail,
            };
            let pem = std::fs::read(path).map_err(|e| ca_err(e.to_string()))?;
            let mut roots = RootCertStore::empty();
            use rustls::pki_types::pem::PemObject;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| ca_err(format!("bad pem: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| ca_err(format!("bad certificate: {e}")))?;
            }
            if roots.is_empty() {
                return Err(ca_err("no certificate in file".to_string()));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        TlsVerify::SystemRoots => {
            let mut roots = RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(Arc::new(config))
}

/// Finds the rustls error inside an ldap3 error, if any.
fn rustls_error(e: &LdapError) -> Option<&rustls::Error> {
    match e {
        LdapError::Rustls { source } => Some(source),
        LdapError::Io { source } => source
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        _ => None,
    }
}

fn classify_io(e: &std::io::Error) -> ConnectFailure {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => ConnectFailure::Refused,
        K::TimedOut => ConnectFailure::TimedOut,
        K::HostUnreachable | K::NetworkUnreachable => ConnectFailure::Unreachable,
        _ => ConnectFailure::Other(e.to_string()),
    }
}

async fn tcp_connect(
    host: &str,
    port: u16,
    resolver: &Resolver,
    deadline: Duration,
) -> Result<std::net::TcpStream, AdError> {
    let unreachable = |cause| AdError::Unreachable {
        host: host.to_string(),
        port,
        cause,
    };
    let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(a) => vec![a],
        Err(_) => match resolver.resolve(host).await {
            Resolution::Found { addrs, .. } => addrs,
            Resolution::NotFound { reason, .. } => {
                return Err(unreachable(ConnectFailure::NotResolved(format!(
                    "{reason:?}"
                ))))
            }
        },
    };
    let mut last = ConnectFailure::Other("no address".to_string());
    let end = tokio::time::Instant::now() + deadline;
    for a in addrs {
        let sa = SocketAddr::new(a, port);
        match tokio::time::timeout_at(end, tokio::net::TcpStream::connect(sa)).await {
            Err(_) => {
                last = ConnectFailure::TimedOut;
                break;
            }
            Ok(Err(e)) => last = classify_io(&e),
            Ok(Ok(s)) => {
                return s
                    .into_std()
                    .map_err(|e| unreachable(ConnectFailure::Other(e.to_string())))
            }
        }
    }
    Err(unreachable(last))
}

/// Runs a discovery: see the module documentation.
///
/// `resolver` resolves the directory's host name and, for a domain target, its
/// SRV records. Needs a tokio runtime (a current-thread one is enough).
pub async fn discover(cfg: &AdConfig, resolver: &Resolver) -> Result<Discovery, AdError> {
    if let Some(c) = &cfg.credentials {
        if c.password.is_empty() {
            return Err(AdError::EmptyPassword {
                user: c.user.clone(),
            });
        }
    }
    let filter = computer_filter(cfg.filter.as_deref());
    if ldap3::parse_filter(&filter).is_err() {
        return Err(AdError::BadFilter(cfg.filter.clone().unwrap_or_default()));
    }
    let (tls, host, port) = match parse_target(&cfg.target)? {
        DirTarget::Url { tls, host, port } => (tls, host, port),
        DirTarget::Domain(d) => {
            let dcs = resolver
                .find_dcs(&d)
                .await
                .map_err(|r| AdError::NoDomainController {
                    domain: d.clone(),
                    detail: format!("{r:?}"),
                })?;
            let (h, p) = dcs
                .into_iter()
                .next()
                .ok_or_else(|| AdError::NoDomainController {
                    domain: d.clone(),
                    detail: "no srv record".to_string(),
                })?;
            (false, h, p)
        }
    };
    let server = format!("{host}:{port}");
    let config = tls_config(&cfg.tls)?;

    // Connect, then TLS / StartTLS, under one deadline.
    let stream = tcp_connect(&host, port, resolver, cfg.connect_timeout).await?;
    let url_host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    let url = format!("{}://{url_host}:{port}", if tls { "ldaps" } else { "ldap" });
    let settings = LdapConnSettings::new()
        .set_conn_timeout(cfg.connect_timeout)
        .set_starttls(!tls)
        .set_config(config)
        .set_std_stream(StdStream::Tcp(stream));
    let (conn, mut ldap) = match tokio::time::timeout(
        cfg.connect_timeout,
        LdapConnAsync::with_settings(settings, &url),
    )
    .await
    {
        Err(_) => {
            return Err(AdError::Timeout {
                step: if tls { "tls handshake" } else { "starttls" },
                after: cfg.connect_timeout,
            })
        }
        Ok(Err(LdapError::Timeout { .. })) => {
            // ldap3's own deadline (the same length) fired first.
            return Err(AdError::Timeout {
                step: if tls { "tls handshake" } else { "starttls" },
                after: cfg.connect_timeout,
            });
        }
        Ok(Err(e)) => {
            if let Some(re) = rustls_error(&e) {
                if matches!(re, rustls::Error::InvalidCertificate(_)) {
                    return Err(AdError::Certificate {
                        host: host.clone(),
                        detail: re.to_string(),
                    });
                }
            }
            return Err(AdError::Tls {
                host: host.clone(),
                detail: e.to_string(),
            });
        }
        Ok(Ok(pair)) => pair,
    };
    ldap3::drive!(conn);

    let op = cfg.op_timeout;
    let timeout = |step| AdError::Timeout { step, after: op };
    if let Some(c) = &cfg.credentials {
        let res = tokio::time::timeout(op, ldap.with_timeout(op).simple_bind(&c.user, &c.password))
            .await
            .map_err(|_| timeout("bind"))?
            .map_err(|e| match e {
                LdapError::Timeout { .. } => timeout("bind"),
                e => AdError::Bind {
                    user: c.user.clone(),
                    rc: 0,
                    text: e.to_string(),
                },
            })?;
        match res.rc {
            0 => {}
            LDAP_INVALID_CREDENTIALS => {
                return Err(AdError::InvalidCredentials {
                    user: c.user.clone(),
                })
            }
            // e.g. 8 strongerAuthRequired: simple bind refused without TLS.
            _ => {
                return Err(AdError::Bind {
                    user: c.user.clone(),
                    rc: res.rc,
                    text: res.text,
                })
            }
        }
    }

    let base = match &cfg.base {
        Some(b) => b.clone(),
        None => {
            let (entries, _) = tokio::time::timeout(
                op,
                ldap.with_timeout(op).search(
                    "",
                    Scope::Base,
                    "(objectClass=*)",
                    vec!["defaultNamingContext"],
                ),
            )
            .await
            .map_err(|_| timeout("rootdse search"))?
            .and_then(|r| r.success())
            .map_err(|e| AdError::Search {
                base: String::new(),
                detail: e.to_string(),
            })?;
            entries
                .into_iter()
                .next()
                .and_then(|e| first(&SearchEntry::construct(e), "defaultNamingContext"))
                .ok_or_else(|| AdError::NoNamingContext(server.clone()))?
        }
    };

    let scope = match cfg.scope {
        SearchScope::Sub => Scope::Subtree,
        SearchScope::One => Scope::OneLevel,
    };
    let attrs = vec![
        "cn",
        "name",
        "dNSHostName",
        "operatingSystem",
        "operatingSystemVersion",
        "userAccountControl",
        "lastLogonTimestamp",
    ];
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let search_err = |detail: String| AdError::Search {
        base: base.clone(),
        detail,
    };
    let page_size = i32::try_from(cfg.page_size.clamp(1, 100_000)).unwrap_or(1000);
    let mut cookie: Vec<u8> = Vec::new();
    let mut computers = Vec::new();
    let mut pages = 0u32;
    loop {
        let ctrl = RawControl::from(PagedResults {
            size: page_size,
            cookie: std::mem::take(&mut cookie),
        });
        let (entries, res) = tokio::time::timeout(
            op,
            ldap.with_timeout(op)
                .with_controls(vec![ctrl])
                .search(&base, scope, &filter, &attrs),
        )
        .await
        .map_err(|_| timeout("search page"))?
        .map_err(|e| match e {
            LdapError::Timeout { .. } => timeout("search page"),
            e => search_err(e.to_string()),
        })?
        .success()
        .map_err(|e| search_err(e.to_string()))?;
        pages += 1;
        for e in entries {
            let e = SearchEntry::construct(e);
            computers.push(classify_entry(&e.dn, |a| first(&e, a), cfg, now));
        }
        // INVARIANT: ldap3's `RawControl::parse` expects a value; only parse
        // a paged-results control that carries one.
        let next = res.ctrls.iter().find_map(|Control(t, raw)| {
            (matches!(t, Some(ControlType::PagedResults)) && raw.val.is_some())
                .then(|| raw.parse::<PagedResults>().cookie)
        });
        match next {
            Some(c) if !c.is_empty() => cookie = c,
            _ => break,
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), ldap.unbind()).await;

    let mut counts = Counts {
        found: computers.len(),
        ..Counts::default()
    };
    for c in &computers {
        match c.skip_reason {
            Some(SkipReason::Disabled) => counts.skipped_disabled += 1,
            Some(SkipReason::Stale) => counts.skipped_stale += 1,
            None => counts.kept += 1,
        }
        if c.dns_host_name.is_none() {
            counts.without_dns_host_name += 1;
        }
    }
    Ok(Discovery {
        server,
        base,
        pages,
        computers,
        counts,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn targets() {
        assert_eq!(
            parse_target("ldaps://dc1.winv.test").unwrap(),
            DirTarget::Url {
                tls: true,
                host: "dc1.winv.test".into(),
                port: 636
            }
        );
        assert_eq!(
            parse_target("ldap://10.0.0.1:3268/").unwrap(),
            DirTarget::Url {
                tls: false,
                host: "10.0.0.1".into(),
                port: 3268
            }
        );
        assert_eq!(
            parse_target("ldaps://[fd00::1]:6360").unwrap(),
            DirTarget::Url {
                tls: true,
                host: "fd00::1".into(),
                port: 6360
            }
        );
        assert_eq!(
            parse_target("WINV.TEST").unwrap(),
            DirTarget::Domain("winv.test".into())
        );
        assert!(parse_target("winv").is_err());
        assert!(parse_target("ldaps://").is_err());
        assert!(parse_target("ldaps://h:notaport").is_err());
        assert!(parse_target("http://h").is_err());
    }

    #[test]
    fn filters() {
        assert_eq!(computer_filter(None), "(objectCategory=computer)");
        assert_eq!(
            computer_filter(Some("(operatingSystem=Windows*)")),
            "(&(objectCategory=computer)(operatingSystem=Windows*))"
        );
        assert_eq!(
            computer_filter(Some("name=PC*")),
            "(&(objectCategory=computer)(name=PC*))"
        );
    }

    #[test]
    fn time_and_domain() {
        // 2020-01-01T00:00:00Z
        assert_eq!(
            filetime_to_unix(132_223_104_000_000_000),
            Some(1_577_836_800)
        );
        assert_eq!(filetime_to_unix(0), None);
        assert_eq!(filetime_to_unix(i64::MAX), None);
        assert_eq!(
            dn_domain("CN=PC1,OU=Sales,DC=winv,DC=test").as_deref(),
            Some("winv.test")
        );
        assert_eq!(dn_domain("CN=PC1"), None);
    }

    fn entry(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn skip_rules() {
        let now = 1_700_000_000i64;
        let ft = |unix: i64| ((unix + FILETIME_UNIX_OFFSET_SECS) * 10_000_000).to_string();
        let cfg = AdConfig::new("winv.test");
        let dn = "CN=PC1,OU=A,DC=winv,DC=test";
        let run = |m: HashMap<String, String>, cfg: &AdConfig| {
            classify_entry(dn, |a| m.get(a).cloned(), cfg, now)
        };
        let ok = run(
            entry(&[
                ("name", "PC1"),
                ("dNSHostName", "PC1.winv.test"),
                ("userAccountControl", "4096"),
                ("lastLogonTimestamp", &ft(now - 86_400)),
            ]),
            &cfg,
        );
        assert!(!ok.skipped);
        assert_eq!(ok.host, "pc1.winv.test");
        let disabled = run(
            entry(&[("name", "PC1"), ("userAccountControl", "4098")]),
            &cfg,
        );
        assert_eq!(disabled.skip_reason, Some(SkipReason::Disabled));
        assert!(disabled.host_from_name);
        assert_eq!(disabled.host, "pc1.winv.test");
        let stale = run(
            entry(&[
                ("name", "PC1"),
                ("userAccountControl", "4096"),
                ("lastLogonTimestamp", &ft(now - 91 * 86_400)),
            ]),
            &cfg,
        );
        assert_eq!(stale.skip_reason, Some(SkipReason::Stale));
        let recentish = run(
            entry(&[
                ("name", "PC1"),
                ("lastLogonTimestamp", &ft(now - 89 * 86_400)),
            ]),
            &cfg,
        );
        assert!(!recentish.skipped);
        let never = run(
            entry(&[("name", "PC1"), ("userAccountControl", "4096")]),
            &cfg,
        );
        assert!(!never.skipped);
        assert_eq!(never.last_logon_unix, None);
        let mut incl = cfg.clone();
        incl.include_stale = true;
        incl.include_disabled = true;
        assert!(
            !run(
                entry(&[
                    ("name", "PC1"),
                    ("userAccountControl", "2"),
                    ("lastLogonTimestamp", &ft(0))
                ]),
                &incl
            )
            .skipped
        );
        incl.include_disabled = false;
        // Disabled and stale: counted as disabled.
        assert_eq!(
            run(
                entry(&[
                    ("name", "PC1"),
                    ("userAccountControl", "2"),
                    ("lastLogonTimestamp", &ft(0))
                ]),
                &cfg
            )
            .skip_reason,
            Some(SkipReason::Disabled)
        );
    }

    #[test]
    fn credentials_debug_redacts() {
        let c = BindCredentials::new("admin@winv.test", "hunter2-secret");
        let d = format!("{c:?}");
        assert!(!d.contains("hunter2"));
        assert!(d.contains("admin@winv.test"));
    }
}
