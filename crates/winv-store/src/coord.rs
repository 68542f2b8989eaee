//! The types of a run shared by several scanners: scanners, leases, claims and the
//! queue's counts (the queries are in `queries.rs`).
//!
//! # The work source
//!
//! A run's queue is the `work` table: one row per (run, target), `queued`, `claimed`
//! (under a lease: a scanner id, a claim counter `epoch` and an expiry time) or `done`.
//! A scheduler drives it like this:
//!
//! 1. [`Store::register_scanner`](crate::Store::register_scanner) once (a run that is
//!    not `running` refuses);
//! 2. [`Store::claim`](crate::Store::claim) a batch (targets whose retry time has come,
//!    or whose lease expired: taken over), in input order, for this scanner's site only;
//! 3. [`Store::heartbeat`](crate::Store::heartbeat) every third of the lease or so: it
//!    renews every lease the scanner holds and returns the run's state (`stopped` means
//!    stop for every scanner);
//! 4. per computer, either [`Store::requeue`](crate::Store::requeue) (a retry-class
//!    attempt: the attempt record, the next class order and the time before which nobody
//!    may retry it) or [`Store::finish`](crate::Store::finish) (the final result: exactly
//!    one final row per computer, whichever scanner finishes it);
//! 5. [`Store::leave`](crate::Store::leave) at the end (gives back what it still holds).
//!
//! Every call that acts on a claim carries its [`Lease`]; a lease that another scanner
//! took over (after it expired) is [`StoreError::LeaseLost`](crate::StoreError::LeaseLost)
//! and the caller drops that computer. `finish` and `requeue` are idempotent for the
//! same lease, so a call retried after a lost connection (the commit went through, the
//! answer did not) neither fails nor writes twice.
//!
//! Times are the caller's milliseconds since the Unix epoch: scanners of one run need
//! clocks that agree to well within a lease (NTP).

use serde::Serialize;
use winv_engine::AttemptRecord;

use crate::model::{RunId, RunState};

/// A scanner's id (the `scanners.id` column).
pub type ScannerId = i64;

/// A target and the site it belongs to (`None`: no site).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SiteTarget {
    /// The target as given.
    pub target: String,
    /// The site whose scanners may take it.
    pub site: Option<String>,
}

impl SiteTarget {
    /// A target without a site.
    pub fn new(target: impl Into<String>) -> SiteTarget {
        SiteTarget {
            target: target.into(),
            site: None,
        }
    }

    /// A target of `site`.
    pub fn at(target: impl Into<String>, site: impl Into<String>) -> SiteTarget {
        SiteTarget {
            target: target.into(),
            site: Some(site.into()),
        }
    }
}

/// The right to work on one target: held by one scanner until it expires or another
/// scanner takes it over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lease {
    /// The run.
    pub run: RunId,
    /// The target.
    pub target: String,
    /// The scanner holding it.
    pub scanner: ScannerId,
    /// The claim counter of the target when it was claimed (a later claim by anyone
    /// makes this lease stale).
    pub epoch: i64,
}

/// One claimed target with what earlier attempts left for the next one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Claim {
    /// The lease to pass back to `requeue` / `finish`.
    pub lease: Lease,
    /// The target's site.
    pub site: Option<String>,
    /// Attempts made so far (by any scanner): the next one is `attempts + 1`.
    pub attempts: u32,
    /// The class order the next attempt uses (seed 000: a retry moves the failing class
    /// last), `None` before the first attempt.
    pub class_order: Option<Vec<String>>,
    /// The scheduler's retry state left by the last requeue (opaque JSON), `None`
    /// before the first.
    pub retry_state: Option<serde_json::Value>,
    /// The records of the earlier attempts, in order.
    pub previous: Vec<AttemptRecord>,
    /// The target was claimed before and its lease expired (its scanner died or hung).
    pub taken_over: bool,
}

/// What a claim returned.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClaimBatch {
    /// The run's state: a run that is not `running` hands out nothing.
    pub run_state: RunState,
    /// The claimed targets, in input order (at most the number asked for).
    pub claims: Vec<Claim>,
    /// Targets of this scanner's site not done yet (queued, waiting or claimed by
    /// anyone, the ones just claimed included): 0 means this scanner has nothing left.
    pub open: u64,
    /// When the earliest target of this site waiting for its retry time becomes ready.
    pub next_ready_ms: Option<i64>,
}

/// What a heartbeat returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Heartbeat {
    /// The run's state: `stopped` tells every scanner to stop.
    pub run_state: RunState,
    /// Leases renewed (those still held by this scanner).
    pub renewed: u64,
}

/// How a `finish` went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Finished {
    /// The final result was recorded.
    Recorded,
    /// This lease had already recorded it (a retried call): nothing was written.
    AlreadyRecorded,
}

/// One scanner of a run, for `winventory status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScannerInfo {
    /// The id.
    pub id: ScannerId,
    /// The name it registered with (host and process id by default).
    pub name: String,
    /// Its site.
    pub site: Option<String>,
    /// When it joined.
    pub started_ms: i64,
    /// Its last heartbeat (or claim).
    pub heartbeat_ms: i64,
    /// When it left cleanly, if it did.
    pub left_ms: Option<i64>,
    /// Targets it holds a lease on now (expired ones included until taken over).
    pub claimed: u64,
    /// Targets it finished.
    pub finished: u64,
    /// Attempts it made (finished and requeued).
    pub attempts: u64,
}

/// The state of a run's queue at a time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounts {
    /// Queued and ready now.
    pub ready: u64,
    /// Queued, waiting for their retry time.
    pub waiting: u64,
    /// Claimed under a lease that has not expired.
    pub claimed: u64,
    /// Claimed under a lease that expired (their scanner died or hangs): the next claim
    /// takes them over.
    pub expired: u64,
    /// With a final result.
    pub done: u64,
}

/// A lease that expired and was not taken over yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExpiredLease {
    /// The target.
    pub target: String,
    /// The scanner that held it.
    pub scanner: ScannerId,
    /// Its name.
    pub scanner_name: String,
    /// When the lease ran out.
    pub lease_until_ms: i64,
}

/// Work states, as in the `work.state` column.
pub(crate) const QUEUED: &str = "queued";
pub(crate) const CLAIMED: &str = "claimed";
pub(crate) const DONE: &str = "done";

/// One connection slot of a site's per-second budget (pure: the query stores the
/// result). `window` is the start of the stored one-second window, `used` the slots
/// taken in it. Returns `(None, window, used)` to store when a slot is granted, or
/// `(Some(t), ..)` when the budget of the current second is spent: retry at `t`.
/// A budget of 0 means no cap.
pub(crate) fn rate_slot(
    window: i64,
    used: i64,
    per_second: u32,
    now_ms: i64,
) -> (Option<i64>, i64, i64) {
    let current = now_ms - now_ms.rem_euclid(1000);
    let used = if current == window { used } else { 0 };
    if per_second == 0 || used < i64::from(per_second) {
        (None, current, used.saturating_add(1))
    } else {
        (Some(current.saturating_add(1000)), current, used)
    }
}

#[cfg(test)]
mod tests {
    use super::rate_slot;

    #[test]
    fn a_site_budget_holds_per_second_and_refills() {
        // 3 per second: three slots in the second that starts at 5000, then a wait
        // until 6000; a new second starts from zero.
        let (mut w, mut u) = (0, 0);
        for t in [5000, 5001, 5999] {
            let (wait, nw, nu) = rate_slot(w, u, 3, t);
            assert_eq!(wait, None, "at {t}");
            (w, u) = (nw, nu);
        }
        assert_eq!((w, u), (5000, 3));
        assert_eq!(rate_slot(w, u, 3, 5999).0, Some(6000));
        assert_eq!(rate_slot(w, u, 3, 6000), (None, 6000, 1));
        // No cap.
        assert_eq!(rate_slot(5000, 1_000_000, 0, 5500).0, None);
        // A clock before the epoch is no panic.
        assert_eq!(rate_slot(0, 0, 1, -1), (None, -1000, 1));
    }
}
