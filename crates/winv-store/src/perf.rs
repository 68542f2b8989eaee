//! Performance time series (`winventory perf`, `migrations/0003_perf.sql`): sampling runs,
//! their machines with where each stands, and one sample per machine and slot.
//!
//! Portable SQL only (the queries run unchanged on PostgreSQL once the placeholders are
//! numbered): `INSERT ... RETURNING`, `INSERT ... ON CONFLICT (...) DO NOTHING`.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use winv_engine::perf::{MachineSample, Metrics};

use crate::codec::to_i64;
use crate::error::StoreError;
use crate::model::RunState;
use crate::store::Store;

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

    fn parse(s: &str) -> Result<PerfTargetState, StoreError> {
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

fn perf_run_info(r: &sqlx::sqlite::SqliteRow) -> Result<PerfRunInfo, StoreError> {
    let state: String = r.try_get("state")?;
    Ok(PerfRunInfo {
        id: r.try_get("id")?,
        started_ms: r.try_get("started_ms")?,
        interval_ms: r.try_get("interval_ms")?,
        slots: r.try_get("slots")?,
        finished_ms: r.try_get("finished_ms")?,
        state: state
            .parse()
            .map_err(|e| StoreError::corrupt("perf_runs", "state", e))?,
        options: r.try_get("options")?,
        targets: r.try_get("targets")?,
    })
}

const RUN_COLUMNS: &str =
    "id, started_ms, interval_ms, slots, finished_ms, state, options, targets";

impl Store {
    /// Starts a sampling run of `targets` (stored in order, each `pending`).
    pub async fn create_perf_run(
        &self,
        targets: &[String],
        interval_ms: i64,
        slots: i64,
        options: &serde_json::Value,
        started_ms: i64,
    ) -> Result<PerfRunId, StoreError> {
        let mut tx = self
            .sqlite_pools("perf")?
            .0
            .begin_with("BEGIN IMMEDIATE")
            .await?;
        let id: PerfRunId = sqlx::query_scalar(
            "INSERT INTO perf_runs (started_ms, interval_ms, slots, finished_ms, state, options, targets) \
             VALUES (?, ?, ?, NULL, ?, ?, ?) RETURNING id",
        )
        .bind(started_ms)
        .bind(interval_ms)
        .bind(slots)
        .bind(RunState::Running.as_str())
        .bind(options.to_string())
        .bind(to_i64(targets.len()))
        .fetch_one(&mut *tx)
        .await?;
        let mut seen = std::collections::HashSet::new();
        for t in targets {
            if !seen.insert(t.to_ascii_lowercase()) {
                continue;
            }
            sqlx::query(
                "INSERT INTO perf_targets (perf_run_id, position, target, state) VALUES (?, ?, ?, ?)",
            )
            .bind(id)
            .bind(to_i64(seen.len() - 1))
            .bind(t)
            .bind(PerfTargetState::Pending.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// One sampling run.
    pub async fn perf_run(&self, id: PerfRunId) -> Result<Option<PerfRunInfo>, StoreError> {
        let row = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM perf_runs WHERE id = ?"))
            .bind(id)
            .fetch_optional(self.sqlite_pools("perf")?.1)
            .await?;
        row.as_ref().map(perf_run_info).transpose()
    }

    /// The newest sampling run that is not `completed`.
    pub async fn latest_resumable_perf_run(&self) -> Result<Option<PerfRunInfo>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM perf_runs WHERE state <> ? ORDER BY id DESC LIMIT 1"
        ))
        .bind(RunState::Completed.as_str())
        .fetch_optional(self.sqlite_pools("perf")?.1)
        .await?;
        row.as_ref().map(perf_run_info).transpose()
    }

    /// The newest sampling run.
    pub async fn latest_perf_run(&self) -> Result<Option<PerfRunInfo>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM perf_runs ORDER BY id DESC LIMIT 1"
        ))
        .fetch_optional(self.sqlite_pools("perf")?.1)
        .await?;
        row.as_ref().map(perf_run_info).transpose()
    }

    /// Sets a sampling run's state (and when it finished).
    pub async fn set_perf_run_state(
        &self,
        id: PerfRunId,
        state: RunState,
        finished_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE perf_runs SET state = ?, finished_ms = ? WHERE id = ?")
            .bind(state.as_str())
            .bind(finished_ms)
            .bind(id)
            .execute(self.sqlite_pools("perf")?.0)
            .await?;
        Ok(())
    }

    /// The run's machines in input order, with their sample counts.
    pub async fn perf_targets(&self, id: PerfRunId) -> Result<Vec<PerfTargetRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.target, t.state, t.status, t.message, t.changed_ms, t.total_memory, \
             (SELECT COUNT(*) FROM perf_samples s WHERE s.perf_run_id = t.perf_run_id AND s.target = t.target AND s.ok) AS samples \
             FROM perf_targets t WHERE t.perf_run_id = ? ORDER BY t.position",
        )
        .bind(id)
        .fetch_all(self.sqlite_pools("perf")?.1)
        .await?;
        rows.iter()
            .map(|r| {
                let state: String = r.try_get("state")?;
                let mem: Option<i64> = r.try_get("total_memory")?;
                Ok(PerfTargetRow {
                    target: r.try_get("target")?,
                    state: PerfTargetState::parse(&state)?,
                    status: r.try_get("status")?,
                    message: r.try_get("message")?,
                    changed_ms: r.try_get("changed_ms")?,
                    total_memory: mem.and_then(|m| u64::try_from(m).ok()),
                    samples: r.try_get("samples")?,
                })
            })
            .collect()
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
        sqlx::query(
            "UPDATE perf_targets SET state = ?, status = ?, message = ?, changed_ms = ? \
             WHERE perf_run_id = ? AND target = ?",
        )
        .bind(state.as_str())
        .bind(status)
        .bind(message)
        .bind(changed_ms)
        .bind(id)
        .bind(target)
        .execute(self.sqlite_pools("perf")?.0)
        .await?;
        Ok(())
    }

    /// Records a machine's physical memory (read once per connection).
    pub async fn set_perf_total_memory(
        &self,
        id: PerfRunId,
        target: &str,
        total_memory: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE perf_targets SET total_memory = ? WHERE perf_run_id = ? AND target = ?",
        )
        .bind(i64::try_from(total_memory).unwrap_or(i64::MAX))
        .bind(id)
        .bind(target)
        .execute(self.sqlite_pools("perf")?.0)
        .await?;
        Ok(())
    }

    /// Stores one sample; `false` when the machine already has a sample for `slot` (a
    /// resumed run never duplicates one).
    pub async fn insert_perf_sample(
        &self,
        id: PerfRunId,
        sample: &PerfSampleRow,
    ) -> Result<bool, StoreError> {
        let raw = serde_json::to_string(&sample.raw)
            .map_err(|e| StoreError::corrupt("perf_samples", "raw", e))?;
        let m = &sample.metrics;
        let done = sqlx::query(
            "INSERT INTO perf_samples (perf_run_id, target, slot, sampled_ms, ok, raw, cpu_percent, \
             memory_percent, disk_transfers_per_sec, network_bytes_per_sec, errors) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (perf_run_id, target, slot) DO NOTHING",
        )
        .bind(id)
        .bind(&sample.target)
        .bind(sample.slot)
        .bind(sample.sampled_ms)
        .bind(sample.ok)
        .bind(raw)
        .bind(m.cpu_percent)
        .bind(m.memory_percent)
        .bind(m.disk_transfers_per_sec)
        .bind(m.network_bytes_per_sec)
        .bind(sample.errors.as_deref())
        .execute(self.sqlite_pools("perf")?.0)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A machine's samples in slot order (every machine's when `target` is `None`).
    pub async fn perf_samples(
        &self,
        id: PerfRunId,
        target: Option<&str>,
    ) -> Result<Vec<PerfSampleRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT target, slot, sampled_ms, ok, raw, cpu_percent, memory_percent, \
             disk_transfers_per_sec, network_bytes_per_sec, errors FROM perf_samples \
             WHERE perf_run_id = ? AND (? IS NULL OR target = ?) ORDER BY target, slot",
        )
        .bind(id)
        .bind(target)
        .bind(target)
        .fetch_all(self.sqlite_pools("perf")?.1)
        .await?;
        rows.iter().map(sample_row).collect()
    }

    /// Each machine's newest ok sample (what a resumed run computes its next rates from).
    pub async fn last_perf_samples(&self, id: PerfRunId) -> Result<Vec<PerfSampleRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.target, s.slot, s.sampled_ms, s.ok, s.raw, s.cpu_percent, s.memory_percent, \
             s.disk_transfers_per_sec, s.network_bytes_per_sec, s.errors FROM perf_samples s \
             WHERE s.perf_run_id = ? AND s.ok AND s.slot = (SELECT MAX(x.slot) FROM perf_samples x \
             WHERE x.perf_run_id = s.perf_run_id AND x.target = s.target AND x.ok)",
        )
        .bind(id)
        .fetch_all(self.sqlite_pools("perf")?.1)
        .await?;
        rows.iter().map(sample_row).collect()
    }
}

fn sample_row(r: &sqlx::sqlite::SqliteRow) -> Result<PerfSampleRow, StoreError> {
    let raw: String = r.try_get("raw")?;
    Ok(PerfSampleRow {
        target: r.try_get("target")?,
        slot: r.try_get("slot")?,
        sampled_ms: r.try_get("sampled_ms")?,
        ok: r.try_get("ok")?,
        raw: serde_json::from_str(&raw)
            .map_err(|e| StoreError::corrupt("perf_samples", "raw", e))?,
        metrics: StoredMetrics {
            cpu_percent: r.try_get("cpu_percent")?,
            memory_percent: r.try_get("memory_percent")?,
            disk_transfers_per_sec: r.try_get("disk_transfers_per_sec")?,
            network_bytes_per_sec: r.try_get("network_bytes_per_sec")?,
        },
        errors: r.try_get("errors")?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use winv_engine::perf::RawSample;

    fn sample(target: &str, slot: i64, v: u64) -> PerfSampleRow {
        PerfSampleRow {
            target: target.into(),
            slot,
            sampled_ms: 1000 + slot,
            ok: true,
            raw: MachineSample {
                cpu: Some(RawSample {
                    value: v,
                    perf_time: u64::MAX - 1, // u64 beyond i64 survives the JSON
                    perf_freq: 10_000_000,
                    sys_100ns: 133_000_000_000_000_000,
                }),
                ..MachineSample::default()
            },
            metrics: StoredMetrics {
                cpu_percent: Some(12.5),
                ..StoredMetrics::default()
            },
            errors: None,
        }
    }

    #[tokio::test]
    async fn samples_are_stored_once_per_slot_and_read_back() {
        let path = std::env::temp_dir().join(format!(
            "winv-store-perf-{}-{}.db",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let store = Store::open(&path).await.unwrap();
        let targets = vec!["a".to_string(), "b".to_string(), "A".to_string()];
        let id = store
            .create_perf_run(&targets, 60_000, 30, &serde_json::json!({}), 5)
            .await
            .unwrap();
        let run = store.latest_resumable_perf_run().await.unwrap().unwrap();
        assert_eq!((run.id, run.ends_ms()), (id, 5 + 60_000 * 30));
        assert!(store
            .insert_perf_sample(id, &sample("a", 0, 1))
            .await
            .unwrap());
        assert!(store
            .insert_perf_sample(id, &sample("a", 1, 2))
            .await
            .unwrap());
        // The same slot again (a resume): not stored twice, the first value kept.
        assert!(!store
            .insert_perf_sample(id, &sample("a", 1, 99))
            .await
            .unwrap());
        let rows = store.perf_samples(id, Some("a")).await.unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1], sample("a", 1, 2));
        // A failed slot after it: stored, but not what rates continue from.
        let failed = PerfSampleRow {
            ok: false,
            raw: MachineSample::default(),
            errors: Some("timed out".into()),
            ..sample("a", 2, 0)
        };
        assert!(store.insert_perf_sample(id, &failed).await.unwrap());
        let last = store.last_perf_samples(id).await.unwrap();
        assert_eq!(last, vec![sample("a", 1, 2)]);
        assert_eq!(store.perf_samples(id, Some("a")).await.unwrap().len(), 3);
        store
            .set_perf_target(
                id,
                "b",
                PerfTargetState::NotResponding,
                Some("rpc-server-unavailable"),
                Some("x"),
                7,
            )
            .await
            .unwrap();
        let t = store.perf_targets(id).await.unwrap();
        assert_eq!(t.len(), 2, "a target listed twice is sampled once");
        assert_eq!((t[0].samples, t[0].state), (2, PerfTargetState::Pending));
        assert_eq!(t[1].state, PerfTargetState::NotResponding);
        store
            .set_perf_run_state(id, RunState::Completed, Some(9))
            .await
            .unwrap();
        assert!(store.latest_resumable_perf_run().await.unwrap().is_none());
        store.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}
