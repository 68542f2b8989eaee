//! The performance time series' queries (`perf.rs` holds the types and the [`Store`]
//! methods), compiled once per backend: this file is the module `pq` of both
//! `backend_sqlite` and `backend_pg`, whose `Db` and `DbRow` name the driver, as
//! `queries.rs` is `q`. Functions take the writer pool `w` and the reader pool `r` (the
//! same pool on PostgreSQL).
//!
//! Portable SQL only, as in `queries.rs`: `$N` placeholders, `INSERT ... RETURNING`,
//! `INSERT ... ON CONFLICT (...) DO NOTHING`; `ok` is a `BOOLEAN` on both (an integer
//! on SQLite, which sqlx reads back as `bool`). PostgreSQL `text` cannot hold U+0000:
//! there, the strings a host or the input supplies (targets, statuses, messages, errors)
//! are stored with U+0000 replaced by U+FFFD, and looked up the same way.
//!
//! [`Store`]: crate::Store

use std::borrow::Cow;

use sqlx::{Pool, Row};

use super::{Db, DbRow, BEGIN_WRITE, TEXT_REFUSES_NUL};
use crate::codec::{self, to_i64};
use crate::error::StoreError;
use crate::model::RunState;
use crate::perf::{
    PerfRunId, PerfRunInfo, PerfSampleRow, PerfTargetRow, PerfTargetState, StoredMetrics,
};

const RUN_COLUMNS: &str =
    "id, started_ms, interval_ms, slots, finished_ms, state, options, targets";

const SAMPLE_COLUMNS: &str = "target, slot, sampled_ms, ok, raw, cpu_percent, memory_percent, \
     disk_transfers_per_sec, network_bytes_per_sec, errors";

/// `s` as this backend can store it (U+0000 replaced on PostgreSQL).
fn text(s: &str) -> Cow<'_, str> {
    if TEXT_REFUSES_NUL && s.contains('\0') {
        Cow::Owned(codec::no_nul(s))
    } else {
        Cow::Borrowed(s)
    }
}

fn perf_run_info(r: &DbRow) -> Result<PerfRunInfo, StoreError> {
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

fn sample_row(r: &DbRow) -> Result<PerfSampleRow, StoreError> {
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

pub(crate) async fn create_perf_run(
    w: &Pool<Db>,
    _r: &Pool<Db>,
    targets: &[String],
    interval_ms: i64,
    slots: i64,
    options: &serde_json::Value,
    started_ms: i64,
) -> Result<PerfRunId, StoreError> {
    let mut tx = w.begin_with(BEGIN_WRITE).await?;
    let id: PerfRunId = sqlx::query_scalar(
        "INSERT INTO perf_runs (started_ms, interval_ms, slots, finished_ms, state, options, \
         targets) VALUES ($1, $2, $3, NULL, $4, $5, $6) RETURNING id",
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
        let t = text(t);
        if !seen.insert(t.to_ascii_lowercase()) {
            continue;
        }
        sqlx::query(
            "INSERT INTO perf_targets (perf_run_id, position, target, state) \
             VALUES ($1, $2, $3, $4)",
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

pub(crate) async fn perf_run(
    _w: &Pool<Db>,
    r: &Pool<Db>,
    id: PerfRunId,
) -> Result<Option<PerfRunInfo>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM perf_runs WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(r)
    .await?;
    row.as_ref().map(perf_run_info).transpose()
}

pub(crate) async fn latest_resumable_perf_run(
    _w: &Pool<Db>,
    r: &Pool<Db>,
) -> Result<Option<PerfRunInfo>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM perf_runs WHERE state <> $1 ORDER BY id DESC LIMIT 1"
    ))
    .bind(RunState::Completed.as_str())
    .fetch_optional(r)
    .await?;
    row.as_ref().map(perf_run_info).transpose()
}

pub(crate) async fn latest_perf_run(
    _w: &Pool<Db>,
    r: &Pool<Db>,
) -> Result<Option<PerfRunInfo>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM perf_runs ORDER BY id DESC LIMIT 1"
    ))
    .fetch_optional(r)
    .await?;
    row.as_ref().map(perf_run_info).transpose()
}

pub(crate) async fn set_perf_run_state(
    w: &Pool<Db>,
    _r: &Pool<Db>,
    id: PerfRunId,
    state: RunState,
    finished_ms: Option<i64>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE perf_runs SET state = $1, finished_ms = $2 WHERE id = $3")
        .bind(state.as_str())
        .bind(finished_ms)
        .bind(id)
        .execute(w)
        .await?;
    Ok(())
}

pub(crate) async fn perf_targets(
    _w: &Pool<Db>,
    r: &Pool<Db>,
    id: PerfRunId,
) -> Result<Vec<PerfTargetRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT t.target, t.state, t.status, t.message, t.changed_ms, t.total_memory, \
         (SELECT COUNT(*) FROM perf_samples s WHERE s.perf_run_id = t.perf_run_id \
         AND s.target = t.target AND s.ok) AS samples \
         FROM perf_targets t WHERE t.perf_run_id = $1 ORDER BY t.position",
    )
    .bind(id)
    .fetch_all(r)
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

#[allow(clippy::too_many_arguments)] // the two pools, then `Store::set_perf_target`'s own
pub(crate) async fn set_perf_target(
    w: &Pool<Db>,
    _r: &Pool<Db>,
    id: PerfRunId,
    target: &str,
    state: PerfTargetState,
    status: Option<&str>,
    message: Option<&str>,
    changed_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE perf_targets SET state = $1, status = $2, message = $3, changed_ms = $4 \
         WHERE perf_run_id = $5 AND target = $6",
    )
    .bind(state.as_str())
    .bind(status.map(text))
    .bind(message.map(text))
    .bind(changed_ms)
    .bind(id)
    .bind(text(target))
    .execute(w)
    .await?;
    Ok(())
}

pub(crate) async fn set_perf_total_memory(
    w: &Pool<Db>,
    _r: &Pool<Db>,
    id: PerfRunId,
    target: &str,
    total_memory: u64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE perf_targets SET total_memory = $1 WHERE perf_run_id = $2 AND target = $3")
        .bind(i64::try_from(total_memory).unwrap_or(i64::MAX))
        .bind(id)
        .bind(text(target))
        .execute(w)
        .await?;
    Ok(())
}

/// `true` when the sample is stored: inserted now, or already there exactly as given
/// (a PostgreSQL call retried after its first try was committed, so the caller never
/// takes its own sample for another's); `false` when the slot holds another sample.
pub(crate) async fn insert_perf_sample(
    w: &Pool<Db>,
    _r: &Pool<Db>,
    id: PerfRunId,
    sample: &PerfSampleRow,
) -> Result<bool, StoreError> {
    let raw = serde_json::to_string(&sample.raw)
        .map_err(|e| StoreError::corrupt("perf_samples", "raw", e))?;
    let target = text(&sample.target);
    let m = &sample.metrics;
    let done = sqlx::query(
        "INSERT INTO perf_samples (perf_run_id, target, slot, sampled_ms, ok, raw, cpu_percent, \
         memory_percent, disk_transfers_per_sec, network_bytes_per_sec, errors) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (perf_run_id, target, slot) DO NOTHING",
    )
    .bind(id)
    .bind(&*target)
    .bind(sample.slot)
    .bind(sample.sampled_ms)
    .bind(sample.ok)
    .bind(&raw)
    .bind(m.cpu_percent)
    .bind(m.memory_percent)
    .bind(m.disk_transfers_per_sec)
    .bind(m.network_bytes_per_sec)
    .bind(sample.errors.as_deref().map(text))
    .execute(w)
    .await?;
    if done.rows_affected() == 1 {
        return Ok(true);
    }
    let there: Option<(i64, bool, String)> = sqlx::query_as(
        "SELECT sampled_ms, ok, raw FROM perf_samples \
         WHERE perf_run_id = $1 AND target = $2 AND slot = $3",
    )
    .bind(id)
    .bind(&*target)
    .bind(sample.slot)
    .fetch_optional(w)
    .await?;
    Ok(there == Some((sample.sampled_ms, sample.ok, raw)))
}

pub(crate) async fn perf_samples(
    _w: &Pool<Db>,
    r: &Pool<Db>,
    id: PerfRunId,
    target: Option<&str>,
) -> Result<Vec<PerfSampleRow>, StoreError> {
    let sql = format!(
        "SELECT {SAMPLE_COLUMNS} FROM perf_samples WHERE perf_run_id = $1{} \
         ORDER BY target, slot",
        if target.is_some() {
            " AND target = $2"
        } else {
            ""
        }
    );
    let mut q = sqlx::query(&sql).bind(id);
    if let Some(t) = target {
        q = q.bind(text(t));
    }
    let rows = q.fetch_all(r).await?;
    rows.iter().map(sample_row).collect()
}

pub(crate) async fn last_perf_samples(
    _w: &Pool<Db>,
    r: &Pool<Db>,
    id: PerfRunId,
) -> Result<Vec<PerfSampleRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT s.target, s.slot, s.sampled_ms, s.ok, s.raw, s.cpu_percent, s.memory_percent, \
         s.disk_transfers_per_sec, s.network_bytes_per_sec, s.errors FROM perf_samples s \
         WHERE s.perf_run_id = $1 AND s.ok AND s.slot = (SELECT MAX(x.slot) FROM perf_samples x \
         WHERE x.perf_run_id = s.perf_run_id AND x.target = s.target AND x.ok) \
         ORDER BY s.target",
    )
    .bind(id)
    .fetch_all(r)
    .await?;
    rows.iter().map(sample_row).collect()
}
