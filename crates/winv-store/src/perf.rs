//! Performance time series (`winventory perf`, `migrations/0003_perf.sql`): sampling runs,
//! their machines with where each stands, and one sample per machine and slot.
//!
//! On SQLite and PostgreSQL alike: the SQL is in `perf_queries.rs`, compiled once per
//! backend like `queries.rs`, and each [`Store`] method sends its call to its backend
//! (`on_db!`, retrying a PostgreSQL call whose connection failed).

use serde::{Deserialize, Serialize};
use winv_engine::perf::{MachineSample, Metrics};

use crate::backend_pg::pq as pg;
use crate::backend_sqlite::pq as lite;
use crate::error::StoreError;
use crate::model::RunState;
use crate::store::{Backend, Store};

/// A sampling run's id (`perf_runs.id`).
pub type PerfRunId = i64;

/// A sampling run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerfRunInfo {
    pub id: PerfRunId,
    /// Slot 0 starts here (milliseconds since the Unix epoch).
    pub started_ms: i64,
    pub interval_ms: i64,
    /// Number of slots (duration / interval).
    pub slots: i64,
    pub finished_ms: Option<i64>,
    pub state: RunState,
    /// JSON text.
    pub options: String,
    pub targets: i64,
}

impl PerfRunInfo {
    /// When the run's last slot ends.
    pub fn ends_ms(&self) -> i64 {
        self.started_ms
            .saturating_add(self.interval_ms.saturating_mul(self.slots))
    }
}

/// Where a machine of a sampling run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PerfTargetState {
    /// Not sampled yet.
    Pending,
    /// Its last sample succeeded.
    Sampling,
    /// Its last sample failed (connection lost, access denied...); it keeps its samples.
    NotResponding,
}

impl PerfTargetState {
    /// The stable identifier.
    pub fn as_str(self) -> &'static str {
        match self {
            PerfTargetState::Pending => "pending",
            PerfTargetState::Sampling => "sampling",
            PerfTargetState::NotResponding => "not-responding",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<PerfTargetState, StoreError> {
        [
            PerfTargetState::Pending,
            PerfTargetState::Sampling,
            PerfTargetState::NotResponding,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
        .ok_or_else(|| StoreError::corrupt("perf_targets", "state", format!("unknown state {s:?}")))
    }
}

/// A machine of a sampling run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerfTargetRow {
    pub target: String,
    pub state: PerfTargetState,
    /// The status identifier of the last failure.
    pub status: Option<String>,
    pub message: Option<String>,
    pub changed_ms: Option<i64>,
    pub total_memory: Option<u64>,
    /// Ok samples stored.
    pub samples: i64,
}

/// One stored slot of a machine: a sample, or a failed or missed slot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerfSampleRow {
    pub target: String,
    pub slot: i64,
    pub sampled_ms: i64,
    /// A sample (`true`), or a slot that failed or was missed (`errors` says why).
    pub ok: bool,
    pub raw: MachineSample,
    pub metrics: StoredMetrics,
    pub errors: Option<String>,
}

/// The metrics as stored (serializable mirror of [`Metrics`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredMetrics {
    pub cpu_percent: Option<f64>,
    pub memory_percent: Option<f64>,
    pub disk_transfers_per_sec: Option<f64>,
    pub network_bytes_per_sec: Option<f64>,
}

impl From<Metrics> for StoredMetrics {
    fn from(m: Metrics) -> StoredMetrics {
        StoredMetrics {
            cpu_percent: m.cpu_percent,
            memory_percent: m.memory_percent,
            disk_transfers_per_sec: m.disk_transfers_per_sec,
            network_bytes_per_sec: m.network_bytes_per_sec,
        }
    }
}

impl Store {
    /// Starts a sampling run of `targets` (stored in order, each `pending`; a target
    /// listed again, in any case, is sampled once).
    pub async fn create_perf_run(
        &self,
        targets: &[String],
        interval_ms: i64,
        slots: i64,
        options: &serde_json::Value,
        started_ms: i64,
    ) -> Result<PerfRunId, StoreError> {
        on_db!(
            self,
            "create perf run",
            create_perf_run(targets, interval_ms, slots, options, started_ms)
        )
    }

    /// One sampling run.
    pub async fn perf_run(&self, id: PerfRunId) -> Result<Option<PerfRunInfo>, StoreError> {
        on_db!(self, "read perf run", perf_run(id))
    }

    /// The newest sampling run that is not `completed`.
    pub async fn latest_resumable_perf_run(&self) -> Result<Option<PerfRunInfo>, StoreError> {
        on_db!(self, "read perf runs", latest_resumable_perf_run())
    }

    /// The newest sampling run.
    pub async fn latest_perf_run(&self) -> Result<Option<PerfRunInfo>, StoreError> {
        on_db!(self, "read perf runs", latest_perf_run())
    }

    /// Sets a sampling run's state (and when it finished).
    pub async fn set_perf_run_state(
        &self,
        id: PerfRunId,
        state: RunState,
        finished_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        on_db!(
            self,
            "set perf run state",
            set_perf_run_state(id, state, finished_ms)
        )
    }

    /// The run's machines in input order, with their sample counts.
    pub async fn perf_targets(&self, id: PerfRunId) -> Result<Vec<PerfTargetRow>, StoreError> {
        on_db!(self, "read perf targets", perf_targets(id))
    }

    /// Records where a machine stands.
    pub async fn set_perf_target(
        &self,
        id: PerfRunId,
        target: &str,
        state: PerfTargetState,
        status: Option<&str>,
        message: Option<&str>,
        changed_ms: i64,
    ) -> Result<(), StoreError> {
        on_db!(
            self,
            "set perf target",
            set_perf_target(id, target, state, status, message, changed_ms)
        )
    }

    /// Records a machine's physical memory (read once per connection).
    pub async fn set_perf_total_memory(
        &self,
        id: PerfRunId,
        target: &str,
        total_memory: u64,
    ) -> Result<(), StoreError> {
        on_db!(
            self,
            "set perf memory",
            set_perf_total_memory(id, target, total_memory)
        )
    }

    /// Stores one sample; `false` when the machine already has another sample for
    /// `slot` (a resumed run never duplicates one). A PostgreSQL call retried after its
    /// first try was stored is `true`.
    pub async fn insert_perf_sample(
        &self,
        id: PerfRunId,
        sample: &PerfSampleRow,
    ) -> Result<bool, StoreError> {
        on_db!(self, "save perf sample", insert_perf_sample(id, sample))
    }

    /// A machine's samples in slot order (every machine's, by target then slot, when
    /// `target` is `None`).
    pub async fn perf_samples(
        &self,
        id: PerfRunId,
        target: Option<&str>,
    ) -> Result<Vec<PerfSampleRow>, StoreError> {
        on_db!(self, "read perf samples", perf_samples(id, target))
    }

    /// Each machine's newest ok sample, by target (what a resumed run computes its next
    /// rates from).
    pub async fn last_perf_samples(&self, id: PerfRunId) -> Result<Vec<PerfSampleRow>, StoreError> {
        on_db!(self, "read perf samples", last_perf_samples(id))
    }
}
