//! Name resolution with `hickory-resolver`: from the system configuration or a
//! given DNS server, both A and AAAA, with MAP's retry rule (MAP, `docs/statuses.md`): a name
//! that does not exist (NXDOMAIN) or has no address records is not found at
//! once; a server failure or timeout (`WSATRY_AGAIN`) is retried and counts as
//! not found only after the final attempt, keeping the last error as detail.
//!
//! Every attempt has its own deadline; the whole resolution takes at most
//! `attempts × (timeout + margin)`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfigGroup, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::{ResolveError, TokioResolver};
use serde::Serialize;

/// Default deadline of one attempt.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// Default number of attempts (MAP: one try plus retries on `WSATRY_AGAIN`).
pub const DEFAULT_ATTEMPTS: u32 = 3;
/// Slack over the per-attempt timeout before our own deadline fires.
const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

/// Where to send queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsServer {
    /// `/etc/resolv.conf` (and the hosts file).
    System,
    /// One server, UDP with TCP fallback; the hosts file is not consulted.
    Addr(SocketAddr),
}

impl DnsServer {
    /// Parses `ADDR[:PORT]` (`10.0.0.53`, `10.0.0.53:5353`, `[fd00::53]:53`, `fd00::53`).
    pub fn parse(s: &str) -> Result<DnsServer, ResolveSetupError> {
        let s = s.trim();
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return Ok(DnsServer::Addr(sa));
        }
        let bare = s
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(s);
        bare.parse::<IpAddr>()
            .map(|ip| DnsServer::Addr(SocketAddr::new(ip, 53)))
            .map_err(|_| ResolveSetupError::BadServer(s.to_string()))
    }
}

/// Resolver settings.
#[derive(Debug, Clone)]
pub struct ResolveConfig {
    /// Where to send queries.
    pub server: DnsServer,
    /// Deadline of each attempt.
    pub attempt_timeout: Duration,
    /// Attempts in all (at least 1).
    pub attempts: u32,
}

impl Default for ResolveConfig {
    fn default() -> Self {
        ResolveConfig {
            server: DnsServer::System,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            attempts: DEFAULT_ATTEMPTS,
        }
    }
}

/// The resolver could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ResolveSetupError {
    /// Not `ADDR[:PORT]`.
    #[error("invalid dns server {0:?}, expected ADDR[:PORT]")]
    BadServer(String),
    /// The system configuration could not be read.
    #[error("read system dns configuration: {0}")]
    System(String),
}

/// The outcome of resolving one name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Resolution {
    /// Addresses found (IPv4 first, then IPv6, each in answer order).
    Found {
        /// The addresses.
        addrs: Vec<IpAddr>,
        /// Attempts made.
        attempts: u32,
    },
    /// Machine not found.
    NotFound {
        /// Why.
        reason: NotFoundReason,
        /// Attempts made.
        attempts: u32,
    },
}

/// Why a name counts as not found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum NotFoundReason {
    /// The name does not exist (NXDOMAIN): final at once.
    NxDomain,
    /// The name exists but has no A or AAAA records: final at once.
    NoRecords,
    /// Every attempt failed transiently (server failure, refusal, timeout):
    /// `WSATRY_AGAIN` on the final attempt; the last error.
    TryAgain(String),
}

/// A transient or final failure of one attempt.
enum Attempt {
    Final(NotFoundReason),
    Transient(String),
}

/// A DNS resolver with MAP's retry rule.
#[derive(Clone)]
pub struct Resolver {
    inner: TokioResolver,
    cfg: ResolveConfig,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Resolver {
    /// Builds a resolver; needs a tokio runtime to run lookups in.
    pub fn new(cfg: ResolveConfig) -> Result<Resolver, ResolveSetupError> {
        let cfg = ResolveConfig {
            attempts: cfg.attempts.max(1),
            ..cfg
        };
        let builder = match &cfg.server {
            DnsServer::System => TokioResolver::builder_tokio()
                .map_err(|e| ResolveSetupError::System(e.to_string()))?,
            DnsServer::Addr(sa) => {
                let group = NameServerConfigGroup::from_ips_clear(&[sa.ip()], sa.port(), true);
                let rc = ResolverConfig::from_parts(None, Vec::new(), group);
                TokioResolver::builder_with_config(rc, TokioConnectionProvider::default())
            }
        };
        let mut opts = ResolverOpts::default();
        // Our loop does the retrying, so each attempt is one query per family.
        opts.attempts = 1;
        opts.timeout = cfg.attempt_timeout;
        opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        // No cache: a retry must ask the server again.
        opts.cache_size = 0;
        if matches!(cfg.server, DnsServer::Addr(_)) {
            opts.use_hosts_file = ResolveHosts::Never;
        }
        let mut builder = builder;
        *builder.options_mut() = opts;
        Ok(Resolver {
            inner: builder.build(),
            cfg,
        })
    }

    /// The settings in force.
    pub fn config(&self) -> &ResolveConfig {
        &self.cfg
    }

    /// Resolves `name` (A and AAAA) with the retry rule of the module documentation.
    pub async fn resolve(&self, name: &str) -> Resolution {
        let mut last = String::new();
        for attempt in 1..=self.cfg.attempts {
            match self.attempt(name).await {
                Ok(addrs) => {
                    return Resolution::Found {
                        addrs,
                        attempts: attempt,
                    }
                }
                Err(Attempt::Final(reason)) => {
                    return Resolution::NotFound {
                        reason,
                        attempts: attempt,
                    }
                }
                Err(Attempt::Transient(e)) => {
                    tracing::debug!(name, attempt, error = %e, "dns attempt failed transiently");
                    last = e;
                }
            }
        }
        Resolution::NotFound {
            reason: NotFoundReason::TryAgain(last),
            attempts: self.cfg.attempts,
        }
    }

    async fn attempt(&self, name: &str) -> Result<Vec<IpAddr>, Attempt> {
        let deadline = self.cfg.attempt_timeout + DEADLINE_MARGIN;
        match tokio::time::timeout(deadline, self.inner.lookup_ip(name)).await {
            Err(_) => Err(Attempt::Transient("timed out".to_string())),
            Ok(Err(e)) => Err(classify(&e)),
            Ok(Ok(lookup)) => {
                let mut v4: Vec<IpAddr> = lookup.iter().filter(IpAddr::is_ipv4).collect();
                v4.extend(lookup.iter().filter(IpAddr::is_ipv6));
                let mut seen = std::collections::HashSet::new();
                v4.retain(|a| seen.insert(*a));
                if v4.is_empty() {
                    Err(Attempt::Final(NotFoundReason::NoRecords))
                } else {
                    Ok(v4)
                }
            }
        }
    }

    /// Finds the domain controllers of `domain` from `_ldap._tcp.dc._msdcs.DOMAIN`
    /// SRV records, ordered by priority then weight (highest first), as
    /// `(host, port)`.
    pub async fn find_dcs(&self, domain: &str) -> Result<Vec<(String, u16)>, NotFoundReason> {
        let qname = format!("_ldap._tcp.dc._msdcs.{}.", domain.trim_end_matches('.'));
        self.find_srv(&qname).await
    }

    /// The targets of the SRV records of `qname` (`_kerberos._tcp.REALM.`...),
    /// ordered by priority then weight (highest first), as `(host, port)`;
    /// each attempt has the configured deadline.
    pub async fn find_srv(&self, qname: &str) -> Result<Vec<(String, u16)>, NotFoundReason> {
        let mut last = String::new();
        for _ in 0..self.cfg.attempts {
            let deadline = self.cfg.attempt_timeout + DEADLINE_MARGIN;
            match tokio::time::timeout(deadline, self.inner.srv_lookup(qname)).await {
                Err(_) => last = "timed out".to_string(),
                Ok(Err(e)) => match classify(&e) {
                    Attempt::Final(r) => return Err(r),
                    Attempt::Transient(e) => last = e,
                },
                Ok(Ok(srv)) => {
                    let mut v: Vec<_> = srv
                        .iter()
                        .map(|r| {
                            (
                                r.priority(),
                                std::cmp::Reverse(r.weight()),
                                r.target().to_utf8().trim_end_matches('.').to_string(),
                                r.port(),
                            )
                        })
                        .collect();
                    v.sort();
                    if v.is_empty() {
                        return Err(NotFoundReason::NoRecords);
                    }
                    return Ok(v.into_iter().map(|(_, _, h, p)| (h, p)).collect());
                }
            }
        }
        Err(NotFoundReason::TryAgain(last))
    }
}

fn classify(e: &ResolveError) -> Attempt {
    if let Some(p) = e.proto() {
        if let ProtoErrorKind::NoRecordsFound { response_code, .. } = p.kind() {
            return match *response_code {
                ResponseCode::NXDomain => Attempt::Final(NotFoundReason::NxDomain),
                ResponseCode::NoError => Attempt::Final(NotFoundReason::NoRecords),
                // SERVFAIL, REFUSED, ...: the server could not answer now.
                rc => Attempt::Transient(format!("server answered {rc}")),
            };
        }
    }
    Attempt::Transient(e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn server_forms() {
        assert_eq!(
            DnsServer::parse("10.0.0.53").unwrap(),
            DnsServer::Addr("10.0.0.53:53".parse().unwrap())
        );
        assert_eq!(
            DnsServer::parse("10.0.0.53:5353").unwrap(),
            DnsServer::Addr("10.0.0.53:5353".parse().unwrap())
        );
        assert_eq!(
            DnsServer::parse("[fd00::53]:54").unwrap(),
            DnsServer::Addr("[fd00::53]:54".parse().unwrap())
        );
        assert_eq!(
            DnsServer::parse("fd00::53").unwrap(),
            DnsServer::Addr("[fd00::53]:53".parse().unwrap())
        );
        assert!(DnsServer::parse("dns.example").is_err());
    }

    /// A DNS server on loopback that never answers: every attempt times out,
    /// the result is `TryAgain` after exactly `attempts` attempts, in bounded time.
    #[test]
    fn silent_server_is_try_again_after_all_attempts() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let addr = sock.local_addr().unwrap();
            let r = Resolver::new(ResolveConfig {
                server: DnsServer::Addr(addr),
                attempt_timeout: Duration::from_millis(200),
                attempts: 3,
            })
            .unwrap();
            let t0 = std::time::Instant::now();
            let res = r.resolve("pc1.example.test").await;
            let took = t0.elapsed();
            match res {
                Resolution::NotFound {
                    reason: NotFoundReason::TryAgain(_),
                    attempts: 3,
                } => {}
                other => panic!("unexpected {other:?}"),
            }
            assert!(took < Duration::from_secs(5), "took {took:?}");
            assert!(took >= Duration::from_millis(550), "took {took:?}");
            drop(sock);
        });
    }
}
