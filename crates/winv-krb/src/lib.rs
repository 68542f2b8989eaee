//! Kerberos credentials for a scan (I/O tier): the network and file half of
//! `winv_auth::kerberos`.
//!
//! * [`KdcLocator`]: where a realm's KDCs are: explicit addresses (`--kdc`),
//!   `krb5.conf` (`[realms] REALM = { kdc = host[:port] }`), or the realm's
//!   DNS SRV records (`_kerberos._tcp.REALM`).
//! * [`exchange`]: one KDC request over TCP ([RFC 4120] 7.2.2: a 4-byte
//!   length prefix), every wait under one deadline, the reply's size capped.
//! * [`Kerberos`]: the credentials of one account (a password, a ccache as
//!   `kinit` leaves it in `KRB5CCNAME`, or a keytab) and the
//!   [`TicketCache`] shared by every connection of a scan: the TGT is
//!   obtained once per realm and account, service tickets once per SPN for
//!   their lifetime; concurrent connections wanting the same ticket wait for
//!   one request instead of each sending their own.
//! * [`Kerberos::context_for`]: the `SecurityContext` for one connection to
//!   one host, which is what the connection flow calls.
//!
//! Secrets (the password, keys, tickets) stay inside `winv_auth` types whose
//! `Debug` is redacted; no error here carries one.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tracing::debug;
use winv_auth::kerberos::exchange::{self as ex, AsExchange, AsNext, ClientSecret, Password, TgsExchange};
use winv_auth::kerberos::files::{self, Ccache};
use winv_auth::kerberos::{Credential, KerberosClient, KerberosMech, Principal, TicketCache};
use winv_auth::{AuthLevel, SecurityContext};

pub use winv_auth::kerberos::cache::CacheStats;
pub use winv_auth::kerberos::{codes, KrbError};

/// The Kerberos port.
pub const KDC_PORT: u16 = 88;
/// Largest KDC reply accepted (tickets with a PAC are a few KiB).
pub const MAX_REPLY: usize = 256 * 1024;
/// Largest ccache or keytab file read.
pub const MAX_FILE: u64 = 4 * 1024 * 1024;
/// Default deadline of one KDC exchange.
pub const DEFAULT_KDC_DEADLINE: Duration = Duration::from_secs(10);

/// Errors of the credential half.
///
/// INVARIANT: no variant carries a password, key or ticket.
#[derive(Debug, thiserror::Error)]
pub enum KrbClientError {
    /// The KDC or the ticket said no (with its code), or a message failed.
    #[error(transparent)]
    Kerberos(#[from] KrbError),
    /// No KDC could be reached.
    #[error("kdc unreachable for realm {realm}: {detail}")]
    KdcUnreachable {
        /// The realm.
        realm: String,
        /// What happened at the last KDC tried.
        detail: String,
    },
    /// No KDC is known for the realm.
    #[error("no kdc known for realm {0}: give --kdc, a krb5.conf with the realm, or dns srv records _kerberos._tcp.{0}")]
    NoKdc(String),
    /// A ccache, keytab or krb5.conf could not be used.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The ccache holds no usable TGT.
    #[error("{path}: no valid tgt for {principal} (expired or absent); run kinit again")]
    NoTgt {
        /// The ccache.
        path: PathBuf,
        /// Its default principal.
        principal: String,
    },
    /// The keytab has no AES key for the principal.
    #[error("{path}: no aes key for {principal}")]
    NoKey {
        /// The keytab.
        path: PathBuf,
        /// The principal.
        principal: String,
    },
}

impl KrbClientError {
    /// The Kerberos error code, when the KDC or the acceptor sent one.
    pub fn code(&self) -> Option<i32> {
        match self {
            KrbClientError::Kerberos(e) => e.code(),
            _ => None,
        }
    }
}

/// A KDC address: a host name or an address, and a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KdcAddr {
    /// Host name or address.
    pub host: String,
    /// Port (88).
    pub port: u16,
}

impl KdcAddr {
    /// Parses `host`, `host:port`, `addr`, `[v6]:port`.
    pub fn parse(s: &str) -> Result<KdcAddr, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty kdc address".into());
        }
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return Ok(KdcAddr { host: sa.ip().to_string(), port: sa.port() });
        }
        if let Ok(ip) = s.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            return Ok(KdcAddr { host: ip.to_string(), port: KDC_PORT });
        }
        match s.rsplit_once(':') {
            Some((h, p)) => {
                let port = p.parse::<u16>().map_err(|_| format!("bad kdc port in {s}"))?;
                Ok(KdcAddr { host: h.to_owned(), port })
            }
            None => Ok(KdcAddr { host: s.to_owned(), port: KDC_PORT }),
        }
    }
}

/// What `krb5.conf` says (the parts we use).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Krb5Conf {
    /// `[libdefaults] default_realm`.
    pub default_realm: Option<String>,
    /// `[realms] REALM = { kdc = ... }`, realm upper-cased.
    pub kdcs: HashMap<String, Vec<KdcAddr>>,
}

impl Krb5Conf {
    /// Parses the profile format of krb5.conf(5): sections, `name = value`
    /// and `name = { ... }` groups. Unknown relations are ignored.
    pub fn parse(text: &str) -> Krb5Conf {
        let mut out = Krb5Conf::default();
        let mut section = String::new();
        let mut realm: Option<String> = None;
        let mut depth = 0usize;
        for line in text.lines() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
                continue;
            }
            if l.starts_with('[') && depth == 0 {
                section = l.trim_matches(|c| c == '[' || c == ']').trim().to_ascii_lowercase();
                continue;
            }
            if l == "}" {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    realm = None;
                }
                continue;
            }
            let Some((k, v)) = l.split_once('=') else { continue };
            let (k, v) = (k.trim(), v.trim());
            if v == "{" {
                depth += 1;
                if depth == 1 && section == "realms" {
                    realm = Some(k.to_ascii_uppercase());
                }
                continue;
            }
            match (section.as_str(), depth, &realm) {
                ("libdefaults", 0, _) if k == "default_realm" => {
                    out.default_realm = Some(v.to_ascii_uppercase());
                }
                ("realms", 1, Some(r)) if k == "kdc" => {
                    if let Ok(a) = KdcAddr::parse(v) {
                        out.kdcs.entry(r.clone()).or_default().push(a);
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Krb5Conf, KrbClientError> {
        let bytes = read_limited(path)?;
        Ok(Krb5Conf::parse(&String::from_utf8_lossy(&bytes)))
    }
}

/// Where to find a realm's KDCs, tried in this order.
#[derive(Clone, Debug, Default)]
pub struct KdcLocator {
    /// Explicit KDCs (`--kdc`), for every realm.
    pub explicit: Vec<KdcAddr>,
    /// krb5.conf contents.
    pub conf: Krb5Conf,
    /// DNS for names and SRV records, when allowed.
    pub dns: Option<winv_discovery::resolve::Resolver>,
}

impl KdcLocator {
    /// The KDC addresses of `realm`, in order.
    pub async fn locate(&self, realm: &str) -> Result<Vec<SocketAddr>, KrbClientError> {
        let mut names: Vec<KdcAddr> = self.explicit.clone();
        if names.is_empty() {
            names = self.conf.kdcs.get(&realm.to_ascii_uppercase()).cloned().unwrap_or_default();
        }
        if names.is_empty() {
            if let Some(dns) = &self.dns {
                let q = format!("_kerberos._tcp.{}.", realm.to_ascii_lowercase());
                if let Ok(v) = dns.find_srv(&q).await {
                    names = v.into_iter().map(|(host, port)| KdcAddr { host, port }).collect();
                }
            }
        }
        if names.is_empty() {
            return Err(KrbClientError::NoKdc(realm.to_owned()));
        }
        let mut out = Vec::new();
        for n in names {
            if let Ok(ip) = n.host.parse::<IpAddr>() {
                out.push(SocketAddr::new(ip, n.port));
                continue;
            }
            if let Some(dns) = &self.dns {
                if let winv_discovery::resolve::Resolution::Found { addrs, .. } = dns.resolve(&n.host).await {
                    out.extend(addrs.into_iter().map(|a| SocketAddr::new(a, n.port)));
                }
            }
        }
        if out.is_empty() {
            return Err(KrbClientError::KdcUnreachable {
                realm: realm.to_owned(),
                detail: "no kdc name resolved".into(),
            });
        }
        Ok(out)
    }
}

/// One request to one KDC over TCP: connect, send, read the reply, all
/// within `deadline`.
pub async fn exchange(kdc: SocketAddr, request: &[u8], deadline: Duration) -> Result<Vec<u8>, String> {
    let fut = async {
        let mut s = TcpStream::connect(kdc).await.map_err(|e| format!("connect {kdc}: {e}"))?;
        let mut msg = Vec::with_capacity(request.len() + 4);
        msg.extend_from_slice(&(request.len() as u32).to_be_bytes());
        msg.extend_from_slice(request);
        s.write_all(&msg).await.map_err(|e| format!("send to {kdc}: {e}"))?;
        let mut len = [0u8; 4];
        s.read_exact(&mut len).await.map_err(|e| format!("read from {kdc}: {e}"))?;
        let n = u32::from_be_bytes(len);
        if n & 0x8000_0000 != 0 || n as usize > MAX_REPLY {
            return Err(format!("reply from {kdc} too large ({n} bytes)"));
        }
        let mut buf = vec![0u8; n as usize];
        s.read_exact(&mut buf).await.map_err(|e| format!("read from {kdc}: {e}"))?;
        Ok(buf)
    };
    tokio::time::timeout(deadline, fut)
        .await
        .map_err(|_| format!("kdc {kdc} did not answer within {:.1} s", deadline.as_secs_f64()))?
}

fn read_limited(path: &Path) -> Result<Vec<u8>, KrbClientError> {
    use std::io::Read;
    let err = |reason: String| KrbClientError::File { path: path.to_owned(), reason };
    let f = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let mut buf = Vec::new();
    f.take(MAX_FILE + 1).read_to_end(&mut buf).map_err(|e| err(e.to_string()))?;
    if buf.len() as u64 > MAX_FILE {
        return Err(err("file too large".into()));
    }
    Ok(buf)
}

/// Reads a ccache: a path, or `FILE:path` as `KRB5CCNAME` holds it.
pub fn load_ccache(name: &str) -> Result<(PathBuf, Ccache), KrbClientError> {
    let path = PathBuf::from(name.strip_prefix("FILE:").unwrap_or(name));
    if name.contains(':') && !name.starts_with("FILE:") && !name.starts_with('/') {
        return Err(KrbClientError::File {
            path,
            reason: "only FILE: credential caches are supported".into(),
        });
    }
    let bytes = read_limited(&path)?;
    let cc = files::parse_ccache(&bytes).map_err(|e| KrbClientError::File { path: path.clone(), reason: e.to_string() })?;
    Ok((path, cc))
}

/// Where the account's tickets come from.
pub enum Source {
    /// A password: AS exchange with pre-authentication.
    Password {
        /// The account.
        client: Principal,
        /// Its password.
        password: Password,
    },
    /// A ccache (as `kinit` leaves it); its default principal is the client.
    Ccache {
        /// The file.
        path: PathBuf,
        /// What it held when loaded.
        cache: Ccache,
    },
    /// A keytab: AS exchange with the principal's long-term key.
    Keytab {
        /// The account.
        client: Principal,
        /// The file.
        path: PathBuf,
    },
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Password { client, .. } => write!(f, "Password({client})"),
            Source::Ccache { path, .. } => write!(f, "Ccache({})", path.display()),
            Source::Keytab { client, path } => write!(f, "Keytab({client}, {})", path.display()),
        }
    }
}

/// Current time as (Unix seconds, microseconds).
pub fn now() -> (i64, u32) {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    (d.as_secs() as i64, d.subsec_micros())
}

/// Settings of [`Kerberos`].
#[derive(Clone, Debug)]
pub struct KerberosConfig {
    /// Where the KDCs are.
    pub locator: KdcLocator,
    /// Deadline of one KDC exchange.
    pub kdc_deadline: Duration,
    /// Cap on cached tickets.
    pub max_tickets: usize,
}

impl Default for KerberosConfig {
    fn default() -> Self {
        KerberosConfig {
            locator: KdcLocator::default(),
            kdc_deadline: DEFAULT_KDC_DEADLINE,
            max_tickets: 100_000,
        }
    }
}

/// One account's Kerberos credentials and the ticket cache of a scan.
/// Cheap to share: wrap it in an `Arc` and call from every connection.
pub struct Kerberos {
    source: Source,
    client: Principal,
    config: KerberosConfig,
    cache: std::sync::Mutex<TicketCache>,
    inflight: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// KDC requests sent (AS and TGS), for the benchmark.
    requests: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Kerberos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kerberos")
            .field("source", &self.source)
            .field("client", &self.client.to_string())
            .finish_non_exhaustive()
    }
}

impl Kerberos {
    /// Credentials from `source`.
    pub fn new(source: Source, config: KerberosConfig) -> Result<Kerberos, KrbClientError> {
        let client = match &source {
            Source::Password { client, .. } | Source::Keytab { client, .. } => client.clone(),
            Source::Ccache { path, cache } => cache.default.clone().ok_or_else(|| KrbClientError::File {
                path: path.clone(),
                reason: "ccache has no default principal".into(),
            })?,
        };
        let mut tc = TicketCache::new(config.max_tickets);
        if let Source::Ccache { cache, .. } = &source {
            let (n, _) = now();
            for c in &cache.creds {
                tc.insert(None, c.clone(), n);
            }
        }
        Ok(Kerberos {
            source,
            client,
            config,
            cache: std::sync::Mutex::new(tc),
            inflight: Mutex::new(HashMap::new()),
            requests: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The client principal.
    pub fn client(&self) -> &Principal {
        &self.client
    }

    /// Cache counters and KDC requests sent.
    pub fn stats(&self) -> (CacheStats, u64) {
        let s = self.cache.lock().map(|c| c.stats()).unwrap_or_default();
        (s, self.requests.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn cached(&self, server: &Principal, now: i64) -> Option<Credential> {
        self.cache.lock().ok()?.get(&self.client, server, now)
    }

    fn store(&self, asked: &Principal, cred: Credential, now: i64) {
        if let Ok(mut c) = self.cache.lock() {
            c.insert(Some((&self.client, asked)), cred, now);
        }
    }

    async fn lock_for(&self, key: String) -> Arc<Mutex<()>> {
        let mut m = self.inflight.lock().await;
        m.entry(key).or_insert_with(|| Arc::new(Mutex::new(()))).clone()
    }

    async fn send(&self, realm: &str, req: &[u8]) -> Result<Vec<u8>, KrbClientError> {
        let kdcs = self.config.locator.locate(realm).await?;
        let mut last = String::new();
        for kdc in kdcs {
            self.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match exchange(kdc, req, self.config.kdc_deadline).await {
                Ok(r) => return Ok(r),
                Err(e) => {
                    debug!(%kdc, error = %e, "kdc exchange failed");
                    last = e;
                }
            }
        }
        Err(KrbClientError::KdcUnreachable { realm: realm.to_owned(), detail: last })
    }

    /// The TGT: from the cache, else the ccache, else an AS exchange.
    pub async fn tgt(&self) -> Result<Credential, KrbClientError> {
        let realm = self.client.realm.clone();
        let tgs = Principal::krbtgt(&realm);
        let (t, _) = now();
        if let Some(c) = self.cached(&tgs, t) {
            return Ok(c);
        }
        let lock = self.lock_for(format!("tgt {}", self.client)).await;
        let _g = lock.lock().await;
        let (t, usec) = now();
        if let Some(c) = self.cached(&tgs, t) {
            return Ok(c);
        }
        let secret = match &self.source {
            Source::Ccache { path, .. } => {
                return Err(KrbClientError::NoTgt { path: path.clone(), principal: self.client.to_string() })
            }
            Source::Password { password, .. } => ClientSecret::Password(password.clone_secret()),
            Source::Keytab { path, client } => {
                let bytes = read_limited(path)?;
                let kt = files::parse_keytab(&bytes)
                    .map_err(|e| KrbClientError::File { path: path.clone(), reason: e.to_string() })?;
                let keys = kt.keys_for(client);
                if keys.is_empty() {
                    return Err(KrbClientError::NoKey { path: path.clone(), principal: client.to_string() });
                }
                ClientSecret::Keys(keys)
            }
        };
        let mut asx = AsExchange::new(self.client.clone(), secret, ex::nonce()?)?;
        let mut req = asx.first_request();
        for _ in 0..2 {
            let reply = self.send(&realm, &req).await?;
            let (t, u) = now();
            match asx.read_reply(&reply, t, u)? {
                AsNext::Send(r) => req = r,
                AsNext::Done(cred) => {
                    debug!(client = %self.client, "tgt obtained");
                    self.store(&tgs, (*cred).clone(), t);
                    return Ok(*cred);
                }
            }
        }
        let _ = usec;
        Err(KrbError::Mismatch("as exchange did not finish in two rounds").into())
    }

    /// A service ticket for `spn` (`host/web1.lab.example`).
    pub async fn service_ticket(&self, spn: &str) -> Result<Credential, KrbClientError> {
        let service = Principal::service(spn, &self.client.realm);
        let (t, _) = now();
        if let Some(c) = self.cached(&service, t) {
            return Ok(c);
        }
        let lock = self.lock_for(format!("svc {spn}")).await;
        let _g = lock.lock().await;
        let (t, _) = now();
        if let Some(c) = self.cached(&service, t) {
            return Ok(c);
        }
        let tgt = self.tgt().await?;
        let (t, usec) = now();
        let (tgs, req) = TgsExchange::new(&tgt, &service, t, usec, ex::nonce()?)?;
        let reply = self.send(&service.realm, &req).await?;
        let (t, _) = now();
        let cred = tgs.read_reply(&reply, t)?;
        debug!(client = %self.client, %spn, "service ticket obtained");
        self.store(&service, cred.clone(), t);
        Ok(cred)
    }

    /// The cached service ticket for `spn`, if one is valid now (no network): what a
    /// synchronous caller uses after [`Kerberos::service_ticket`] got it.
    pub fn cached_service_ticket(&self, spn: &str) -> Option<Credential> {
        let service = Principal::service(spn, &self.client.realm);
        let (t, _) = now();
        self.cached(&service, t)
    }

    /// The security context for one connection to `host` (the name the
    /// user gave, or the one the OXID bindings name): SPN `host/<fqdn>`
    /// unless `spn` overrides it; an address-only host is refused with a
    /// clear error. `mech` is SPNEGO (auth type 9) or raw Kerberos (16);
    /// `level` must be the association's level.
    pub async fn context_for(
        &self,
        host: &str,
        spn: Option<&str>,
        mech: KerberosMech,
        level: AuthLevel,
    ) -> Result<Box<dyn SecurityContext>, KrbClientError> {
        let spn = ex::spn_for(host, spn)?;
        let cred = self.service_ticket(&spn).await?;
        let (t, usec) = now();
        Ok(Box::new(KerberosClient::new(mech, cred, level, t, usec)?))
    }
}
