//! A cap on new TCP connections per second, shared by everything that opens them in one
//! scan. MAP could saturate a network; an attempt opens two connections or more (port 135,
//! the dynamic port, a reconnect), so the cap counts connections, not attempts.
//!
//! The schedule is pure ([`next_slot`]: time is an input); [`ConnectRate::wait`] only
//! sleeps until the slot it reserved.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When a connection asked for at `now` may start, given the earliest start of the next
/// one (`next`, `None` before the first), and the earliest start of the one after it:
/// connections are spaced `interval` apart, never earlier than asked.
pub fn next_slot(next: Option<Instant>, now: Instant, interval: Duration) -> (Instant, Instant) {
    let start = next.map_or(now, |n| n.max(now));
    (start, start + interval)
}

/// Connections per second at most, evenly spaced. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct ConnectRate {
    per_second: f64,
    interval: Duration,
    /// This process's part of the cap: 1 alone, n when n scanners share it (the
    /// interval is then n times longer).
    share: AtomicU64,
    next: Mutex<Option<Instant>>,
    first: Mutex<Option<Instant>>,
    opened: AtomicU64,
}

/// What a [`ConnectRate`] held so far.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateHeld {
    /// The cap, per second.
    pub cap: f64,
    /// Connections started.
    pub connections: u64,
    /// Connections per second from the first to now (0 before two connections).
    pub per_second: f64,
}

impl ConnectRate {
    /// At most `n` new connections per second; `None` (no cap) for 0, a negative number,
    /// NaN or infinity.
    pub fn per_second(n: f64) -> Option<ConnectRate> {
        if !n.is_finite() || n <= 0.0 {
            return None;
        }
        // At least one connection an hour: a tiny rate is not a hang.
        let interval = Duration::from_secs_f64((1.0 / n).min(3600.0));
        Some(ConnectRate {
            per_second: n,
            interval,
            share: AtomicU64::new(1),
            next: Mutex::new(None),
            first: Mutex::new(None),
            opened: AtomicU64::new(0),
        })
    }

    /// Shares the cap among `scanners` processes (at least 1) that hold the same one: this
    /// process then opens at most `cap / scanners` connections per second, so that
    /// together they hold the cap.
    pub fn share_among(&self, scanners: u32) {
        self.share.store(u64::from(scanners.max(1)), Ordering::Relaxed);
    }

    /// The spacing of this process's connections: the cap's, times the share.
    fn interval(&self) -> Duration {
        let share = u32::try_from(self.share.load(Ordering::Relaxed)).unwrap_or(u32::MAX);
        self.interval.saturating_mul(share.max(1)).min(Duration::from_secs(3600))
    }

    /// Reserves the next slot and sleeps until it.
    pub async fn wait(&self) {
        // tokio's clock (which tests may pause), as a std instant for the pure schedule.
        let now = tokio::time::Instant::now().into_std();
        let start = {
            let mut next = self.next.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let (start, after) = next_slot(*next, now, self.interval());
            *next = Some(after);
            start
        };
        {
            let mut first = self.first.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            first.get_or_insert(start);
        }
        self.opened.fetch_add(1, Ordering::Relaxed);
        if start > now {
            tokio::time::sleep_until(tokio::time::Instant::from_std(start)).await;
        }
    }

    /// How far ahead the next free slot is: the wait of a connection asked for now.
    pub fn backlog(&self) -> Duration {
        let now = tokio::time::Instant::now().into_std();
        let next = *self.next.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        next.map_or(Duration::ZERO, |n| n.saturating_duration_since(now))
    }

    /// What was held: the cap, the connections and their rate.
    pub fn held(&self) -> RateHeld {
        let connections = self.opened.load(Ordering::Relaxed);
        let first = *self.first.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = tokio::time::Instant::now().into_std();
        let secs = first.map_or(0.0, |f| now.saturating_duration_since(f).as_secs_f64());
        RateHeld {
            cap: self.per_second,
            connections,
            per_second: if connections > 1 && secs > 0.0 {
                connections as f64 / secs
            } else {
                0.0
            },
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_spaced_and_never_before_asked() {
        let t0 = Instant::now();
        let i = Duration::from_millis(200);
        let (a, n) = next_slot(None, t0, i);
        assert_eq!((a, n), (t0, t0 + i));
        // Five asked at once: 0, 200, 400, 600, 800 ms.
        let mut next = Some(n);
        for k in 1..5u32 {
            let (s, after) = next_slot(next, t0, i);
            assert_eq!(s, t0 + i * k);
            next = Some(after);
        }
        // Asked long after: now, not a burst to catch up.
        let late = t0 + Duration::from_secs(10);
        let (s, _) = next_slot(next, late, i);
        assert_eq!(s, late);
    }

    #[test]
    fn no_cap_for_zero_negative_nan_or_infinity() {
        for n in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(ConnectRate::per_second(n).is_none(), "{n}");
        }
        let r = ConnectRate::per_second(0.0001).unwrap();
        assert_eq!(r.interval, Duration::from_secs(3600));
    }

    #[tokio::test(start_paused = true)]
    async fn waits_hold_the_rate() {
        let r = ConnectRate::per_second(4.0).unwrap();
        let t0 = tokio::time::Instant::now();
        for _ in 0..9 {
            r.wait().await;
        }
        // The 9th starts 8 intervals after the first: 2 s at 4 per second.
        assert_eq!(t0.elapsed(), Duration::from_secs(2));
        assert_eq!(r.held().connections, 9);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cap_shared_among_scanners_spaces_this_ones_connections() {
        let r = ConnectRate::per_second(4.0).unwrap();
        r.share_among(2);
        let t0 = tokio::time::Instant::now();
        for _ in 0..5 {
            r.wait().await;
        }
        // Half of 4 per second: the 5th starts 4 × 0.5 s after the first.
        assert_eq!(t0.elapsed(), Duration::from_secs(2));
        // Alone again (0 counts as 1): the full rate.
        r.share_among(0);
        let t1 = tokio::time::Instant::now();
        r.wait().await;
        r.wait().await;
        assert!(t1.elapsed() <= Duration::from_millis(750), "{:?}", t1.elapsed());
    }
}
