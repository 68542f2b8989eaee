//! A queue of computers shared with other scanners, as the engine sees it: the engine
//! asks a [`WorkSource`] for computers when it has free slots, gives back a computer a
//! retry-class error requeued (with what its attempts left, [`Carry`]) and hands over
//! each final result. The source decides who else may work on them (the store's
//! claims under leases, `winv_store::SharedQueue`); the engine keeps every rule of
//! [`crate::policy`] unchanged.
//!
//! What crosses from one scanner to another with a requeued computer is [`Carry`]: the
//! attempts made, the account that got past the logon (its name: the next scanner
//! holds its own list), the address, and the items already collected, so the next
//! attempt, whoever makes it, asks only for the rest (seed 000: items already
//! collected are not asked for again; the failing item moves last).

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use crate::record::{AttemptRecord, ClassResult, ComputerResult, Inventory};

/// What a requeued computer carries to its next attempt, whoever makes it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Carry {
    /// The account (as written) that got past the logon, tried first next time.
    pub credential: Option<String>,
    /// The address connected to or resolved.
    pub address: Option<IpAddr>,
    /// Whether a query on the computer already succeeded (the watchdog then times an
    /// item out instead of requeueing the computer).
    pub any_success: bool,
    /// The items' outcomes so far (those done are not asked for again).
    pub classes: Vec<ClassResult>,
    /// What was collected so far.
    pub inventory: Inventory,
}

/// A computer handed to the engine by a [`WorkSource`].
#[derive(Clone, Debug, PartialEq)]
pub struct Handed {
    /// The target as given.
    pub target: String,
    /// The attempts made so far, by any scanner, in order.
    pub previous: Vec<AttemptRecord>,
    /// The item order of the next attempt (`None`: the profile's).
    pub class_order: Option<Vec<String>>,
    /// What the last requeue left (`None` before the first, or when it was unreadable).
    pub carry: Option<Carry>,
}

/// The answer to [`WorkSource::claim`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Claimed {
    /// The computers to start now (at most the number asked for).
    pub handed: Vec<Handed>,
    /// Nothing is left for this scanner: every computer it may take is done.
    pub exhausted: bool,
    /// When a computer waiting for its retry time becomes ready (ms since the epoch).
    pub next_ready_ms: Option<i64>,
    /// The run was stopped for every scanner: start nothing more.
    pub stopped: bool,
}

/// A requeued computer, given back.
#[derive(Clone, Debug, PartialEq)]
pub struct Requeued<'a> {
    /// The target.
    pub target: &'a str,
    /// The attempt that failed with a retry-class error.
    pub attempt: &'a AttemptRecord,
    /// The item order of the next attempt.
    pub class_order: Vec<String>,
    /// No attempt before this time (ms since the epoch).
    pub not_before_ms: i64,
    /// What the next attempt starts from.
    pub carry: Carry,
}

/// Why a source call failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    /// The computer is no longer ours (another scanner took it over after our lease
    /// expired): drop it, its result is someone else's now.
    #[error("the claim on {0} was lost to another scanner")]
    Lost(String),
    /// The source cannot be used (the database is down after its retries).
    #[error("{0}")]
    Failed(String),
}

/// A boxed future of a source call.
pub type WorkFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, WorkError>> + Send + 'a>>;

/// Where a shared run's computers come from and where their results go.
pub trait WorkSource: Send + Sync {
    /// Up to `max` computers to start now.
    fn claim(&self, max: usize) -> WorkFuture<'_, Claimed>;
    /// Gives a computer back after a retry-class attempt.
    fn requeue<'a>(&'a self, r: Requeued<'a>) -> WorkFuture<'a, ()>;
    /// Records a computer's final result (an `inventory-not-completed` one goes back
    /// to the queue for another scanner).
    fn finish<'a>(&'a self, r: &'a ComputerResult) -> WorkFuture<'a, ()>;
}

/// The run-wide answer of an [`AccountLedger`] for an unproven account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LedgerAnswer {
    /// The connect may start: it holds one of the run's places for the account until
    /// its verdict is reported.
    Go,
    /// The account's places are all held (by this or another scanner) or spent: ask
    /// again later.
    Wait,
    /// A computer of another scanner accepted the account: it has a right password.
    Proven,
    /// The account is retired for the run after `refusals`; `now`: by this very call
    /// (places of a dead scanner counted as refusals), so the caller announces it.
    Retired {
        /// The refusals that retired it.
        refusals: u32,
        /// Retired by this call rather than earlier.
        now: bool,
    },
}

/// The lockout guard's count for a run shared by several scanners ([`crate::guard`]):
/// the refusals and the connects in flight of every account not yet accepted by any
/// computer of the run, whichever scanner made them, so that `limit` holds across the
/// scanners as it holds within one.
pub trait AccountLedger: Send + Sync {
    /// Asks for a place for a connect to `target` with the unproven `account`.
    fn admit<'a>(
        &'a self,
        account: &'a str,
        target: &'a str,
        limit: u32,
    ) -> WorkFuture<'a, LedgerAnswer>;
    /// Gives the place back with the connect's verdict. Returns the refusals that
    /// retired the account when this verdict did.
    fn report<'a>(
        &'a self,
        account: &'a str,
        target: &'a str,
        verdict: crate::guard::Verdict,
        limit: u32,
    ) -> WorkFuture<'a, Option<u32>>;
}
