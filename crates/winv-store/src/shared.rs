//! [`SharedQueue`]: one scanner's side of a run shared by several, the engine's
//! [`WorkSource`] over the store's claims (see [`crate::coord`]).
//!
//! The queue keeps the lease of every computer it handed to the engine and passes it
//! back with the requeue or the final result; [`SharedQueue::heartbeat`] renews them all
//! (call it every third of the lease: [`SharedQueue::heartbeat_every`]). What a requeued
//! computer carries ([`Carry`]) is stored as the claim's opaque retry state, so the
//! next attempt, by whichever scanner, starts from it.
//!
//! The queue is also the run's lockout ledger ([`AccountLedger`]): the guard's limit on
//! an unproven account's refusals holds across every scanner of the run.
//!
//! What a `kill -9` of a scanner loses: the attempts it had in flight (not recorded;
//! another scanner makes them again once the leases expire, so no computer gets more
//! than its four recorded attempts) and nothing already finished or requeued (each is
//! its own committed transaction).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use winv_engine::guard::Verdict;
use winv_engine::work::{
    AccountLedger, Carry, Claimed, Handed, LedgerAnswer, Requeued, WorkError, WorkFuture,
    WorkSource,
};
use winv_engine::{now_ms, ComputerResult};

use crate::coord::{Heartbeat, Lease, ScannerId};
use crate::error::StoreError;
use crate::model::RunId;
use crate::store::Store;

/// How long a claim lasts without a heartbeat: a dead scanner's computers go to the
/// others after this.
pub const LEASE: Duration = Duration::from_secs(60);

/// One scanner of a shared run.
pub struct SharedQueue {
    store: Store,
    run: RunId,
    scanner: ScannerId,
    name: String,
    lease_ms: i64,
    leases: Mutex<HashMap<String, Lease>>,
}

impl std::fmt::Debug for SharedQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedQueue")
            .field("run", &self.run)
            .field("scanner", &self.scanner)
            .finish_non_exhaustive()
    }
}

impl SharedQueue {
    /// Registers this process as a scanner of `run` named `name` (shown by `status`),
    /// taking only the targets of `site` (`None`: those without a site), with claims
    /// that last `lease` without a heartbeat.
    pub async fn join(
        store: &Store,
        run: RunId,
        name: &str,
        site: Option<&str>,
        lease: Duration,
    ) -> Result<SharedQueue, StoreError> {
        let scanner = store.register_scanner(run, name, site, now_ms()).await?;
        Ok(SharedQueue {
            store: store.clone(),
            run,
            scanner,
            name: name.to_string(),
            lease_ms: i64::try_from(lease.as_millis()).unwrap_or(i64::MAX).max(1000),
            leases: Mutex::new(HashMap::new()),
        })
    }

    /// The scanner's id.
    pub fn scanner(&self) -> ScannerId {
        self.scanner
    }

    /// The name it registered with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The run.
    pub fn run(&self) -> RunId {
        self.run
    }

    /// How long a claim lasts without a heartbeat, in milliseconds.
    pub fn lease_ms(&self) -> i64 {
        self.lease_ms
    }

    /// How often to call [`SharedQueue::heartbeat`]: a third of the lease.
    pub fn heartbeat_every(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.lease_ms / 3).unwrap_or(1000).max(100))
    }

    /// Renews every claim this scanner holds; the run's state says whether to go on.
    pub async fn heartbeat(&self) -> Result<Heartbeat, StoreError> {
        self.store
            .heartbeat(self.scanner, now_ms(), self.lease_ms)
            .await
    }

    /// Leaves the run: what this scanner still holds goes back to the queue at once,
    /// and a run whose every computer is done is marked completed. Returns how many
    /// computers were given back.
    pub async fn leave(&self) -> Result<u64, StoreError> {
        let given_back = self.store.leave(self.scanner, now_ms()).await?;
        self.lock().clear();
        self.store.complete_if_done(self.run, now_ms()).await?;
        Ok(given_back)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Lease>> {
        // A panic while holding the map leaves it usable: it is only a map.
        self.leases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lease_of(&self, target: &str) -> Result<Lease, WorkError> {
        self.lock()
            .get(target)
            .cloned()
            .ok_or_else(|| WorkError::Lost(target.to_string()))
    }
}

/// A store error as the engine sees it.
fn work_error(target: &str, e: StoreError) -> WorkError {
    match e {
        StoreError::LeaseLost { .. } => WorkError::Lost(target.to_string()),
        e => WorkError::Failed(e.to_string()),
    }
}

impl WorkSource for SharedQueue {
    fn claim(&self, max: usize) -> WorkFuture<'_, Claimed> {
        Box::pin(async move {
            let max = u32::try_from(max).unwrap_or(u32::MAX);
            let batch = self
                .store
                .claim(self.scanner, max, now_ms(), self.lease_ms)
                .await
                .map_err(|e| WorkError::Failed(e.to_string()))?;
            let mut handed = Vec::with_capacity(batch.claims.len());
            let mut leases = self.lock();
            for c in batch.claims {
                let carry = c.retry_state.and_then(|v| {
                    serde_json::from_value::<Carry>(v)
                        .map_err(|e| {
                            tracing::warn!(target = %c.lease.target, error = %e, "unreadable retry state: the attempt starts afresh");
                        })
                        .ok()
                });
                if c.taken_over {
                    tracing::info!(target = %c.lease.target, "taken over from a scanner whose claim expired");
                }
                handed.push(Handed {
                    target: c.lease.target.clone(),
                    previous: c.previous,
                    class_order: c.class_order,
                    carry,
                });
                leases.insert(c.lease.target.clone(), c.lease);
            }
            Ok(Claimed {
                handed,
                exhausted: batch.open == 0,
                next_ready_ms: batch.next_ready_ms,
                stopped: batch.run_state != crate::model::RunState::Running,
            })
        })
    }

    fn requeue<'a>(&'a self, r: Requeued<'a>) -> WorkFuture<'a, ()> {
        Box::pin(async move {
            let lease = self.lease_of(r.target)?;
            let state = serde_json::to_value(&r.carry)
                .map_err(|e| WorkError::Failed(format!("cannot encode the retry state: {e}")))?;
            let done = self
                .store
                .requeue(&lease, r.attempt, &r.class_order, r.not_before_ms, &state)
                .await;
            self.lock().remove(r.target);
            done.map_err(|e| work_error(r.target, e))
        })
    }

    fn finish<'a>(&'a self, r: &'a ComputerResult) -> WorkFuture<'a, ()> {
        Box::pin(async move {
            let lease = self.lease_of(&r.target)?;
            let done = self.store.finish(&lease, r).await;
            self.lock().remove(&r.target);
            done.map(|_| ()).map_err(|e| work_error(&r.target, e))
        })
    }
}

/// The run's lockout ledger, kept with the queue: this scanner's places are those of its
/// heartbeat, so a killed scanner's places count as refusals once its lease would expire.
impl AccountLedger for SharedQueue {
    fn admit<'a>(
        &'a self,
        account: &'a str,
        target: &'a str,
        limit: u32,
    ) -> WorkFuture<'a, LedgerAnswer> {
        Box::pin(async move {
            self.store
                .ledger_admit(self.scanner, account, target, limit, now_ms(), self.lease_ms)
                .await
                .map_err(|e| WorkError::Failed(e.to_string()))
        })
    }

    fn report<'a>(
        &'a self,
        account: &'a str,
        target: &'a str,
        verdict: Verdict,
        limit: u32,
    ) -> WorkFuture<'a, Option<u32>> {
        Box::pin(async move {
            self.store
                .ledger_report(self.scanner, account, target, verdict, limit)
                .await
                .map_err(|e| WorkError::Failed(e.to_string()))
        })
    }
}
