//! The ticket cache of a scan: one TGT per client principal (realm and
//! account), service tickets per (client, SPN), each kept for its lifetime.
//! Pure: `now` (Unix seconds) is an argument, so the policy is tested without
//! a clock.

use std::collections::HashMap;

use super::exchange::{Credential, Principal};

/// The clock skew Kerberos tolerates ([MS-KILE] 3.1.1: five minutes).
pub const CLOCK_SKEW: i64 = 300;
/// A ticket is handed out only while it stays valid at least this long, so a
/// connection does not start with a ticket that expires during the bind.
pub const MIN_REMAINING: i64 = 120;

/// The key of a cached ticket: client and server, case-folded.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TicketKey {
    client: String,
    server: String,
}

impl TicketKey {
    /// The key for `client` asking for `server`.
    pub fn new(client: &Principal, server: &Principal) -> TicketKey {
        TicketKey {
            client: client.to_string().to_ascii_lowercase(),
            server: server.to_string().to_ascii_lowercase(),
        }
    }
}

/// Counters of cache use (what the benchmark reports).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// TGTs found in the cache.
    pub tgt_hits: u64,
    /// TGTs that had to be requested.
    pub tgt_misses: u64,
    /// Service tickets found.
    pub service_hits: u64,
    /// Service tickets that had to be requested.
    pub service_misses: u64,
}

/// TGTs and service tickets with their lifetimes.
#[derive(Debug)]
pub struct TicketCache {
    tickets: HashMap<TicketKey, Credential>,
    max_entries: usize,
    stats: CacheStats,
}

impl TicketCache {
    /// A cache holding at most `max_entries` tickets (expired ones are
    /// dropped first, then those that expire soonest).
    pub fn new(max_entries: usize) -> TicketCache {
        TicketCache {
            tickets: HashMap::new(),
            max_entries: max_entries.max(1),
            stats: CacheStats::default(),
        }
    }

    fn usable(c: &Credential, now: i64) -> bool {
        Self::alive(c, now) && c.starttime.unwrap_or(c.authtime) <= now + CLOCK_SKEW
    }

    fn alive(c: &Credential, now: i64) -> bool {
        c.endtime - now >= MIN_REMAINING
    }

    /// The ticket of `client` for `server` if it is usable at `now`
    /// (counted as a hit or a miss).
    pub fn get(&mut self, client: &Principal, server: &Principal, now: i64) -> Option<Credential> {
        let key = TicketKey::new(client, server);
        let found = self.tickets.get(&key).filter(|c| Self::usable(c, now)).cloned();
        let tgt = server.name.components.first().is_some_and(|c| c == "krbtgt");
        match (&found, tgt) {
            (Some(_), true) => self.stats.tgt_hits += 1,
            (None, true) => self.stats.tgt_misses += 1,
            (Some(_), false) => self.stats.service_hits += 1,
            (None, false) => self.stats.service_misses += 1,
        }
        found
    }

    /// Stores a ticket under its own client and server names and, when the
    /// KDC canonicalized them, under the names it was asked for too.
    pub fn insert(&mut self, asked: Option<(&Principal, &Principal)>, cred: Credential, now: i64) {
        if !Self::alive(&cred, now) {
            return;
        }
        self.purge(now);
        let mut keys = vec![TicketKey::new(&cred.client, &cred.server)];
        if let Some((c, s)) = asked {
            let k = TicketKey::new(c, s);
            if k != keys[0] {
                keys.push(k);
            }
        }
        for k in keys {
            while self.tickets.len() >= self.max_entries && !self.tickets.contains_key(&k) {
                let soonest = self
                    .tickets
                    .iter()
                    .min_by_key(|(_, c)| c.endtime)
                    .map(|(k, _)| k.clone());
                match soonest {
                    Some(s) => {
                        self.tickets.remove(&s);
                    }
                    None => break,
                }
            }
            self.tickets.insert(k, cred.clone());
        }
    }

    /// Drops tickets no longer usable at `now`.
    pub fn purge(&mut self, now: i64) {
        self.tickets.retain(|_, c| Self::alive(c, now));
    }

    /// Tickets held.
    pub fn len(&self) -> usize {
        self.tickets.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.tickets.is_empty()
    }

    /// The counters.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::kerberos::messages::{EncryptedData, PrincipalName, Ticket};
    use crate::kerberos::{Etype, Key};

    fn cred(client: &str, server: &str, start: i64, end: i64) -> Credential {
        Credential {
            client: Principal::user(client, "LAB.TEST"),
            server: Principal::service(server, "LAB.TEST"),
            key: Key::random(Etype::Aes256CtsHmacSha196).unwrap(),
            ticket: Ticket::build(
                "LAB.TEST",
                &PrincipalName::new(2, server),
                EncryptedData { etype: 18, kvno: None, cipher: vec![0] },
            ),
            flags: 0,
            authtime: start,
            starttime: Some(start),
            endtime: end,
            renew_till: None,
        }
    }

    #[test]
    fn hit_until_shortly_before_expiry() {
        let mut c = TicketCache::new(10);
        let alice = Principal::user("alice", "LAB.TEST");
        let web = Principal::service("host/web1.lab.test", "LAB.TEST");
        c.insert(None, cred("alice", "host/web1.lab.test", 1000, 1000 + 36_000), 1000);
        assert!(c.get(&alice, &web, 1000).is_some());
        // Names are case-insensitive.
        let web_upper = Principal::service("HOST/WEB1.LAB.TEST", "lab.test");
        assert!(c.get(&alice, &web_upper, 1000).is_some());
        assert!(c.get(&alice, &web, 1000 + 36_000 - MIN_REMAINING).is_some());
        assert!(c.get(&alice, &web, 1000 + 36_000 - MIN_REMAINING + 1).is_none());
        let bob = Principal::user("bob", "LAB.TEST");
        assert!(c.get(&bob, &web, 1000).is_none());
        let s = c.stats();
        assert_eq!((s.service_hits, s.service_misses), (3, 2));
    }

    #[test]
    fn tgt_per_client_and_future_tickets() {
        let mut c = TicketCache::new(10);
        let alice = Principal::user("alice", "LAB.TEST");
        let tgs = Principal::krbtgt("LAB.TEST");
        assert!(c.get(&alice, &tgs, 0).is_none());
        c.insert(None, cred("alice", "krbtgt/LAB.TEST", 5000, 9000), 0);
        // Valid only from 5000: unusable long before (beyond the skew).
        assert!(c.get(&alice, &tgs, 1000).is_none());
        assert!(c.get(&alice, &tgs, 5000 - CLOCK_SKEW).is_some());
        assert_eq!(c.stats().tgt_misses, 2);
        assert_eq!(c.stats().tgt_hits, 1);
    }

    #[test]
    fn bounded_and_expired_dropped_first() {
        let mut c = TicketCache::new(2);
        c.insert(None, cred("a", "host/1", 0, 500), 0);
        c.insert(None, cred("a", "host/2", 0, 10_000), 0);
        c.insert(None, cred("a", "host/3", 0, 20_000), 0);
        assert_eq!(c.len(), 2);
        let a = Principal::user("a", "LAB.TEST");
        assert!(c.get(&a, &Principal::service("host/1", "LAB.TEST"), 0).is_none());
        assert!(c.get(&a, &Principal::service("host/3", "LAB.TEST"), 0).is_some());
        // Expired tickets are not stored at all.
        c.insert(None, cred("a", "host/4", 0, 100), 1000);
        assert!(c.get(&a, &Principal::service("host/4", "LAB.TEST"), 1000).is_none());
        c.purge(15_000);
        assert_eq!(c.len(), 1);
    }
}
