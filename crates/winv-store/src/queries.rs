//! Every query of the store, written once and compiled once per backend: this file is
//! the module `q` of both `backend_sqlite` and `backend_pg`, whose `Db` and `DbRow`
//! name the driver (one source, concrete types, no `sqlx::Any`, whose SQLite side
//! cannot read `BOOLEAN` columns).
//!
//! Portable SQL only: `$1, $2...` placeholders (SQLite reads `$N` as the N-th
//! argument), `INSERT ... RETURNING`, `ON CONFLICT DO NOTHING`, `COALESCE`, no JSON
//! functions. What differs is in the backend module: how a write transaction begins
//! and the row-locking clauses (`FOR UPDATE [SKIP LOCKED]` on PostgreSQL, nothing on
//! SQLite, where a write transaction holds the whole database).
//!
//! Functions take the writer pool `w` and the reader pool `r` (the same pool on
//! PostgreSQL).

use std::collections::BTreeMap;
use std::net::IpAddr;

use sqlx::query_builder::Separated;
use sqlx::{Pool, QueryBuilder, Row, Transaction};
use winv_engine::{
    AttemptRecord, ClassInstances, ClassResult, ComputerResult, Instance, Inventory, SoftwareRow,
    Status,
};

use super::{Db, DbRow, BEGIN_WRITE, LOCK_ROW, LOCK_SKIP_LOCKED, TEXT_REFUSES_NUL};
use crate::codec::{self, to_i64, FailureCols, FAILURE_COLUMNS};
use crate::coord::{
    Claim, ClaimBatch, ExpiredLease, Finished, Heartbeat, Lease, QueueCounts, ScannerId,
    ScannerInfo, SiteTarget, CLAIMED, DONE, QUEUED,
};
use crate::error::StoreError;
use crate::model::{
    ClassCount, ComputerRow, InFlightChange, InFlightRow, MissingItem, RunId, RunInfo, RunState,
    RunSummary, StatusCounts,
};
use crate::report;
use crate::report_scenarios;

type Tx = Transaction<'static, Db>;
/// id, name, site, started, heartbeat, left, claimed, finished, attempts, requeued.
type ScannerRow = (
    i64,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    i64,
    i64,
    i64,
    i64,
);
/// target, state, attempts, class order, retry state, epoch.
type ClaimRow = (String, String, i64, Option<String>, Option<String>, i64);
/// ready, waiting, claimed, expired, done.
type QueueRow = (
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

const RUN_COLUMNS: &str = "id, started_ms, finished_ms, state, options, targets";

/// The site column's value for "no site" (a key column, so never NULL).
fn site_key(site: Option<&str>) -> &str {
    site.unwrap_or("")
}

fn site_from_key(site: String) -> Option<String> {
    (!site.is_empty()).then_some(site)
}

fn count(n: Option<i64>) -> u64 {
    n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0)
}

pub(crate) async fn create_run(
    w: &Pool<Db>,
    _r: &Pool<Db>,
    targets: &[SiteTarget],
    options: &serde_json::Value,
    started_ms: i64,
) -> Result<RunId, StoreError> {
    let mut tx = w.begin_with(BEGIN_WRITE).await?;
    let id: RunId = sqlx::query_scalar(
        "INSERT INTO runs (started_ms, finished_ms, state, options, targets) \
         VALUES ($1, NULL, $2, $3, $4) RETURNING id",
    )
    .bind(started_ms)
    .bind(RunState::Running.as_str())
    .bind(options.to_string())
    .bind(to_i64(targets.len()))
    .fetch_one(&mut *tx)
    .await?;
    for (i, t) in targets.iter().enumerate() {
        sqlx::query("INSERT INTO run_targets (run_id, position, target) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(to_i64(i))
            .bind(&t.target)
            .execute(&mut *tx)
            .await?;
        // A target listed twice is one computer: its first position and site win.
        sqlx::query(
            "INSERT INTO work (run_id, target, position, site, state, not_before_ms, attempts, \
             class_order, retry_state, scanner_id, epoch, lease_until_ms, takeovers) \
             VALUES ($1, $2, $3, $4, $5, 0, 0, NULL, NULL, NULL, 0, NULL, 0) \
             ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(&t.target)
        .bind(to_i64(i))
        .bind(site_key(t.site.as_deref()))
        .bind(QUEUED)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(id)
}

pub(crate) async fn run(
    _w: &Pool<Db>,
    r: &Pool<Db>,
    id: RunId,
) -> Result<Option<RunInfo>, StoreError> {
    let row = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1"))
        .bind(id)
        .fetch_optional(r)
        .await?;
    row.as_ref().map(run_info).transpose()
}

pub(crate) async fn latest_run(_w: &Pool<Db>, r: &Pool<Db>) -> Result<Option<RunInfo>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT 1"
    ))
    .fetch_optional(r)
    .await?;
    row.as_ref().map(run_info).transpose()
}

pub(crate) async fn latest_resumable_run(
    _w: &Pool<Db>,
    r: &Pool<Db>,
) -> Result<Option<RunInfo>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE state <> $1 ORDER BY id DESC LIMIT 1"
    ))
    .bind(RunState::Completed.as_str())
    .fetch_optional(r)
    .await?;
    row.as_ref().map(run_info).transpose()
}

pub(crate) async fn run_targets(
    w: &Pool<Db>,
    r: &Pool<Db>,
    run: RunId,
) -> Result<Vec<String>, StoreError> {
    require_run(w, r, run).await?;
    Ok(
        sqlx::query_scalar("SELECT target FROM run_targets WHERE run_id = $1 ORDER BY position")
            .bind(run)
            .fetch_all(r)
            .await?,
    )
}

pub(crate) async fn pending_targets(
    w: &Pool<Db>,
    r: &Pool<Db>,
    run: RunId,
) -> Result<Vec<String>, StoreError> {
    require_run(w, r, run).await?;
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT t.target FROM run_targets t \
         LEFT JOIN computers c ON c.run_id = t.run_id AND c.target = t.target \
         WHERE t.run_id = $1 AND (c.id IS NULL OR c.status = $2) \
         ORDER BY t.position",
    )
    .bind(run)
    .bind(Status::InventoryNotCompleted.as_str())
    .fetch_all(r)
    .await?;
    let mut seen = std::collections::HashSet::new();
    Ok(rows
        .into_iter()
        .filter(|t| seen.insert(t.clone()))
        .collect())
}

/// Several final results in one transaction (a group commit), each in a savepoint of its
/// own: one that cannot be stored (its target has a final result already, a row the
/// database refuses) is rolled back alone and reported in its place while the others
/// land. A transient error (the connection, the file) fails the whole call, which then
/// stored nothing and can be made again whole; so does a run that does not exist.
pub(crate) async fn save_computers(
    w: &Pool<Db>,
    _r: &Pool<Db>,
    run: RunId,
    results: &[ComputerResult],
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    if results.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = w.begin_with(BEGIN_WRITE).await?;
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM runs WHERE id = $1")
        .bind(run)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_none() {
        return Err(StoreError::NoSuchRun(run));
    }
    let mut each = Vec::with_capacity(results.len());
    for result in results {
        let fixed = storable(result);
        let result = fixed.as_ref().unwrap_or(result);
        let attempts: Vec<(&AttemptRecord, Option<ScannerId>)> =
            result.attempts.iter().map(|a| (a, None)).collect();
        sqlx::query("SAVEPOINT one_computer")
            .execute(&mut *tx)
            .await?;
        let saved = match save_in(&mut tx, run, result, &attempts, None).await {
            Ok(()) => mark_work(&mut tx, run, &result.target, result.status, None).await,
            Err(e) => Err(e),
        };
        let saved = match saved {
            Err(e) if e.is_transient() => return Err(e),
            Err(e) => {
                sqlx::query("ROLLBACK TO SAVEPOINT one_computer")
                    .execute(&mut *tx)
                    .await?;
                Err(e)
            }
            Ok(()) => Ok(()),
        };
        sqlx::query("RELEASE SAVEPOINT one_computer")
            .execute(&mut *tx)
            .await?;
        each.push(saved);
    }
    tx.commit().await?;
    Ok(each)
}

/// The result as this backend can store it: `None` when it can as it is, else a copy
/// with U+0000 replaced (PostgreSQL).
fn storable(r: &ComputerResult) -> Option<ComputerResult> {
    if !TEXT_REFUSES_NUL {
        return None;
    }
    let fixed = codec::without_nul(r)?;
    tracing::warn!(target = %r.target, "NUL characters in the result replaced by U+FFFD (postgresql text cannot hold them)");
    Some(fixed)
}

/// The rows of one final result, in an open transaction: the computer (replacing an
/// `inventory-not-completed` one), its attempts (each with the scanner that made it),
/// class results, inventory and report rows.
async fn save_in(
    tx: &mut Tx,
    run: RunId,
    r: &ComputerResult,
    attempts: &[(&AttemptRecord, Option<ScannerId>)],
    scanner: Option<ScannerId>,
) -> Result<(), StoreError> {
    let old: Option<(i64, String)> = sqlx::query_as(&format!(
        "SELECT id, status FROM computers WHERE run_id = $1 AND target = $2{LOCK_ROW}"
    ))
    .bind(run)
    .bind(&r.target)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some((old_id, old_status)) = old {
        if old_status != Status::InventoryNotCompleted.as_str() {
            return Err(StoreError::AlreadyRecorded {
                target: r.target.clone(),
            });
        }
        delete_computer(tx, old_id).await?;
        tracing::debug!(run, target = %r.target, "replacing inventory-not-completed result");
    }
    let computer_id = insert_computer(tx, run, r, scanner).await?;
    let ids = Ids {
        run,
        computer: computer_id,
        target: &r.target,
    };
    insert_attempts(tx, &ids, attempts).await?;
    insert_class_results(tx, &ids, &r.classes).await?;
    insert_inventory(tx, &ids, &r.inventory).await?;
    // Whatever the status: every instance collected reaches the report tables (a host
    // whose registry failed after its WMI classes, a stopped or requeued attempt...).
    if r.status.is_success() || has_collected(&r.inventory) {
        insert_reports(tx, &ids, &r.inventory, r.finished_ms).await?;
    }
    Ok(())
}

/// A target's queue row after a result: `done`, or back to `queued` for an
/// `inventory-not-completed` one (a resume or another scanner does it again).
async fn mark_work(
    tx: &mut Tx,
    run: RunId,
    target: &str,
    status: Status,
    attempts: Option<i64>,
) -> Result<(), StoreError> {
    let state = if status == Status::InventoryNotCompleted {
        QUEUED
    } else {
        DONE
    };
    sqlx::query(
        "UPDATE work SET state = $1, lease_until_ms = NULL, attempts = COALESCE($2, attempts) \
         WHERE run_id = $3 AND target = $4",
    )
    .bind(state)
    .bind(attempts)
    .bind(run)
    .bind(target)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(crate) async fn set_run_state(
    w: &Pool<Db>,
    _r: &Pool<Db>,
    run: RunId,
    state: RunState,
    finished_ms: Option<i64>,
) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE runs SET state = $1, finished_ms = $2 WHERE id = $3")
        .bind(state.as_str())
        .bind(finished_ms)
        .bind(run)
        .execute(w)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NoSuchRun(run));
    }
    Ok(())
}

pub(crate) async fn status_counts(
    _w: &Pool<Db>,
    r: &Pool<Db>,
    run: RunId,
) -> Result<StatusCounts, StoreError> {
    let counts: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, COUNT(*) FROM computers WHERE run_id = $1 GROUP BY status")
            .bind(run)
            .fetch_all(r)
            .await?;
    let mut by: Vec<(Status, u64)> = Vec::new();
    for (s, n) in counts {
        let st = codec::status(&s, "computers", "status")?;
        by.push((st, u64::try_from(n).unwrap_or(0)));
    }
    let by_status: Vec<(Status, u64)> = Status::ALL
        .into_iter()
        .filter_map(|st| {
            by.iter()
                .find(|(s, _)| *s == st)
                .filter(|(_, n)| *n > 0)
                .map(|&(s, n)| (s, n))
        })
        .collect();
    let finished = by_status
        .iter()
        .filter(|(s, _)| *s != Status::InventoryNotCompleted)
        .map(|(_, n)| *n)
        .sum::<u64>();
    Ok(StatusCounts {
        finished: usize::try_from(finished).unwrap_or(usize::MAX),
        by_status,
    })
}

pub(crate) async fn summary(
    w: &Pool<Db>,
    r: &Pool<Db>,
    run: RunId,
) -> Result<RunSummary, StoreError> {
    let info = self::run(w, r, run)
        .await?
        .ok_or(StoreError::NoSuchRun(run))?;
    let counts = status_counts(w, r, run).await?;
    let class_rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT class, \
                SUM(CASE WHEN outcome IN ('collected', 'not-present') THEN 1 ELSE 0 END), \
                SUM(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END), \
                SUM(CASE WHEN outcome = 'timed-out' THEN 1 ELSE 0 END) \
         FROM class_results WHERE run_id = $1 \
         GROUP BY class ORDER BY MIN(position), class",
    )
    .bind(run)
    .fetch_all(r)
    .await?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(RunSummary {
        run,
        targets: info.targets,
        finished: counts.finished,
        by_status: counts.by_status,
        classes: class_rows
            .into_iter()
            .map(|(class, c, f, t)| ClassCount {
                class,
                collected: n(c),
                failed: n(f),
                timed_out: n(t),
            })
            .collect(),
    })
}

pub(crate) async fn computers(
    w: &Pool<Db>,
    r: &Pool<Db>,
    run: RunId,
) -> Result<Vec<ComputerRow>, StoreError> {
    require_run(w, r, run).await?;
    let missing_rows: Vec<(i64, String, String, Option<String>)> = sqlx::query_as(
        "SELECT computer_id, class, outcome, code_name FROM class_results \
         WHERE run_id = $1 AND outcome <> 'collected' AND outcome <> 'not-present' \
         ORDER BY computer_id, position",
    )
    .bind(run)
    .fetch_all(r)
    .await?;
    let mut missing: BTreeMap<i64, Vec<MissingItem>> = BTreeMap::new();
    for (id, class, outcome, code_name) in missing_rows {
        missing.entry(id).or_default().push(MissingItem {
            class,
            outcome,
            code_name,
        });
    }
    let rows = sqlx::query(
        "SELECT c.*, \
                (SELECT COUNT(*) FROM attempts a WHERE a.computer_id = c.id) AS n_attempts, \
                (SELECT h.name FROM hosts h WHERE h.computer_id = c.id) AS host_name \
         FROM computers c \
         LEFT JOIN (SELECT target, MIN(position) AS pos FROM run_targets \
                    WHERE run_id = $1 GROUP BY target) p ON p.target = c.target \
         WHERE c.run_id = $1 \
         ORDER BY COALESCE(p.pos, 9223372036854775807), c.id",
    )
    .bind(run)
    .fetch_all(r)
    .await?;
    rows.iter()
        .map(|row| -> Result<ComputerRow, StoreError> {
            let f = failure_from_row(row, "computers")?;
            let status: String = row.try_get("status")?;
            Ok(ComputerRow {
                target: row.try_get("target")?,
                address: address(row)?,
                status: codec::status(&status, "computers", "status")?,
                stage: f.as_ref().map(|f| f.stage.as_str().to_string()),
                phase: f.as_ref().map(|f| f.phase),
                category: f.as_ref().map(|f| f.category),
                code: f.as_ref().and_then(|f| f.code),
                code_name: f.as_ref().and_then(|f| f.code_name.clone()),
                denied_by: f.as_ref().and_then(|f| f.denied_by),
                message: f.map(|f| f.message),
                attempts: u32::try_from(row.try_get::<i64, _>("n_attempts")?).unwrap_or(u32::MAX),
                credential: row.try_get("credential")?,
                finished_ms: row.try_get("finished_ms")?,
                name: row.try_get("host_name")?,
                missing: missing
                    .remove(&row.try_get::<i64, _>("id")?)
                    .unwrap_or_default(),
            })
        })
        .collect()
}

pub(crate) async fn computer(
    _w: &Pool<Db>,
    r: &Pool<Db>,
    run: RunId,
    target: &str,
) -> Result<Option<ComputerResult>, StoreError> {
    let mut conn = r.acquire().await?;
    let Some(row) = sqlx::query("SELECT * FROM computers WHERE run_id = $1 AND target = $2")
        .bind(run)
        .bind(target)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let id: i64 = row.try_get("id")?;
    let status: String = row.try_get("status")?;

    let attempts = sqlx::query("SELECT * FROM attempts WHERE computer_id = $1 ORDER BY number")
        .bind(id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(attempt_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let classes =
        sqlx::query("SELECT * FROM class_results WHERE computer_id = $1 ORDER BY position")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(class_result_from_row)
            .collect::<Result<Vec<_>, _>>()?;

    let inv_classes: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT position, class, namespace FROM inventory_classes \
         WHERE computer_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let instances: Vec<(i64, String)> = sqlx::query_as(
        "SELECT class_position, json FROM instances WHERE computer_id = $1 \
         ORDER BY class_position, position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let mut inventory = Inventory::default();
    let mut positions = Vec::with_capacity(inv_classes.len());
    for (pos, class, namespace) in inv_classes {
        positions.push(pos);
        inventory.classes.push(ClassInstances {
            class,
            namespace,
            instances: Vec::new(),
        });
    }
    for (class_pos, json) in instances {
        let v =
            Instance::from_json(json).map_err(|e| StoreError::corrupt("instances", "json", e))?;
        let i = positions
            .iter()
            .position(|&p| p == class_pos)
            .ok_or_else(|| StoreError::corrupt("instances", "class_position", "no such class"))?;
        if let Some(c) = inventory.classes.get_mut(i) {
            c.instances.push(v);
        }
    }
    inventory.software = sqlx::query(
        "SELECT name, version, publisher, install_date, wow64 FROM installed_software \
         WHERE computer_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| -> Result<SoftwareRow, StoreError> {
        Ok(SoftwareRow {
            name: r.try_get("name")?,
            version: r.try_get("version")?,
            publisher: r.try_get("publisher")?,
            install_date: r.try_get("install_date")?,
            wow64: r.try_get("wow64")?,
        })
    })
    .collect::<Result<Vec<_>, _>>()?;
    inventory.registry_values = sqlx::query_as(
        "SELECT item, value FROM registry_values WHERE computer_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;

    Ok(Some(ComputerResult {
        target: row.try_get("target")?,
        address: address(&row)?,
        status: codec::status(&status, "computers", "status")?,
        failure: failure_from_row(&row, "computers")?,
        attempts,
        credential: row.try_get("credential")?,
        mechanism: row.try_get("mechanism")?,
        classes,
        inventory,
        finished_ms: row.try_get("finished_ms")?,
    }))
}

/// The scanner of every attempt of a computer, by attempt number (`None`: not made
/// under a lease).
pub(crate) async fn attempt_scanners(
    _w: &Pool<Db>,
    r: &Pool<Db>,
    run: RunId,
    target: &str,
) -> Result<Vec<(u32, Option<ScannerId>)>, StoreError> {
    let rows: Vec<(i64, Option<i64>)> = sqlx::query_as(
        "SELECT number, scanner_id FROM attempts WHERE run_id = $1 AND target = $2 \
         ORDER BY number",
    )
    .bind(run)
    .bind(target)
    .fetch_all(r)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(n, s)| (u32::try_from(n).unwrap_or(u32::MAX), s))
        .collect())
}

async fn require_run(_w: &Pool<Db>, r: &Pool<Db>, run: RunId) -> Result<(), StoreError> {
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM runs WHERE id = $1")
        .bind(run)
        .fetch_optional(r)
        .await?;
    exists.map(|_| ()).ok_or(StoreError::NoSuchRun(run))
}

// ---------------------------------------------------------------------------------
// A run shared by several scanners.

async fn run_state_in(tx: &mut Tx, run: RunId) -> Result<RunState, StoreError> {
    let state: Option<String> = sqlx::query_scalar("SELECT state FROM runs WHERE id = $1")
        .bind(run)
        .fetch_optional(&mut **tx)
        .await?;
    state
        .ok_or(StoreError::NoSuchRun(run))?
        .parse()
        .map_err(|e| StoreError::corrupt("runs", "state", e))
}

pub(crate) async fn register_scanner(
    w: &Pool<Db>,
    _r: &Pool<Db>,
    run: RunId,
    name: &str,
    site: Option<&str>,
    now_ms: i64,
) -> Result<ScannerId, StoreError> {
    let mut tx = w.begin_with(BEGIN_WRITE).await?;
    let state = run_state_in(&mut tx, run).await?;
    if state != RunState::Running {
        return Err(StoreError::RunNotRunning { run, state });
    }
    let id: ScannerId = sqlx::query_scalar(
        "INSERT INTO scanners (run_id, name, site, started_ms, heartbeat_ms, left_ms) \
         VALUES ($1, $2, $3, $4, $4, NULL) RETURNING id",
    )
    .bind(run)
    .bind(name)
    .bind(site_key(site))
    .bind(now_ms)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// The scanner's run and site key; a scanner that left is refused.
async fn scanner_in(tx: &mut Tx, scanner: ScannerId) -> Result<(RunId, String), StoreError> {
    let row: Option<(i64, String, Option<i64>)> =
        sqlx::query_as("SELECT run_id, site, left_ms FROM scanners WHERE id = $1")
            .bind(scanner)
            .fetch_optional(&mut **tx)
            .await?;
    match row {
        None => Err(StoreError::NoSuchScanner(scanner)),
        Some((_, _, Some(_))) => Err(StoreError::ScannerLeft(scanner)),
        Some((run, site, None)) => Ok((run, site)),
    }
}

pub(crate) async fn heartbeat(
    w: &Pool<Db>,
    _r: &Pool<Db>,
    scanner: ScannerId,
    now_ms: i64,
    lease_ms: i64,
) -> Result<Heartbeat, StoreError> {
    let mut tx = w.begin_with(BEGIN_WRITE).await?;
    let (run, _) = scanner_in(&mut tx, scanner).await?;
    sqlx::query("UPDATE scanners SET heartbeat_ms = $1 WHERE id = $2")
        .bind(now_ms)
        .bind(scanner)
        .execute(&mut *tx)
        .await?;
    let renewed = sqlx::query(
        "UPDATE work SET lease_until_ms = $1 \
         WHERE run_id = $2 AND scanner_id = $3 AND state = $4",
    )
    .bind(now_ms.saturating_add(lease_ms))
    .bind(run)
    .bind(scanner)
    .bind(CLAIMED)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let run_state = run_state_in(&mut tx, run).await?;
    tx.commit().await?;
    Ok(Heartbeat { run_state, renewed })
}

pub(crate) async fn claim(
    w: &Pool<Db>,
    _r: &Pool<Db>,
    scanner: ScannerId,
    max: u32,
    now_ms: i64,
    lease_ms: i64,
) -> Result<ClaimBatch, StoreError> {
    let mut tx = w.begin_with(BEGIN_WRITE).await?;
    let (run, site) = scanner_in(&mut tx, scanner).await?;
    sqlx::query("UPDATE scanners SET heartbeat_ms = $1 WHERE id = $2")
        .bind(now_ms)
        .bind(scanner)
        .execute(&mut *tx)
        .await?;
    let run_state = run_state_in(&mut tx, run).await?;
    let mut claims = Vec::new();
    if run_state == RunState::Running && max > 0 {
        let rows: Vec<ClaimRow> = sqlx::query_as(&format!(
            "SELECT target, state, attempts, class_order, retry_state, epoch FROM work \
             WHERE run_id = $1 AND site = $2 \
               AND ((state = $3 AND not_before_ms <= $4) \
                    OR (state = $5 AND lease_until_ms < $4)) \
             ORDER BY position LIMIT $6{LOCK_SKIP_LOCKED}"
        ))
        .bind(run)
        .bind(&site)
        .bind(QUEUED)
        .bind(now_ms)
        .bind(CLAIMED)
        .bind(i64::from(max))
        .fetch_all(&mut *tx)
        .await?;
        for (target, state, attempts, order, retry_state, epoch) in rows {
            let taken_over = state == CLAIMED;
            let epoch = epoch.saturating_add(1);
            sqlx::query(
                "UPDATE work SET state = $1, scanner_id = $2, epoch = $3, lease_until_ms = $4, \
                 takeovers = takeovers + $5 WHERE run_id = $6 AND target = $7",
            )
            .bind(CLAIMED)
            .bind(scanner)
            .bind(epoch)
            .bind(now_ms.saturating_add(lease_ms))
            .bind(i64::from(taken_over))
            .bind(run)
            .bind(&target)
            .execute(&mut *tx)
            .await?;
            let previous = previous_attempts(&mut tx, run, &target)
                .await?
                .into_values()
                .map(|(_, a)| a)
                .collect();
            let class_order = order
                .map(|o| serde_json::from_str(&o))
                .transpose()
                .map_err(|e| StoreError::corrupt("work", "class_order", e))?;
            let retry_state = retry_state
                .map(|o| serde_json::from_str(&o))
                .transpose()
                .map_err(|e| StoreError::corrupt("work", "retry_state", e))?;
            if taken_over {
                tracing::info!(run, scanner, target = %target, "expired lease taken over");
            }
            claims.push(Claim {
                lease: Lease {
                    run,
                    target,
                    scanner,
                    epoch,
                },
                site: site_from_key(site.clone()),
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                class_order,
                retry_state,
                previous,
                taken_over,
            });
        }
    }
    let (open, next): (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT SUM(CASE WHEN state <> $1 THEN 1 ELSE 0 END), \
                MIN(CASE WHEN state = $2 AND not_before_ms > $3 THEN not_before_ms END) \
         FROM work WHERE run_id = $4 AND site = $5",
    )
    .bind(DONE)
    .bind(QUEUED)
    .bind(now_ms)
    .bind(run)
    .bind(&site)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ClaimBatch {
        run_state,
        claims,
        open: count(open),
        next_ready_ms: next,
    })
}

/// The attempt records requeues left for a target, by number, with their scanner.
async fn previous_attempts(
    tx: &mut Tx,
    run: RunId,
    target: &str,
) -> Result<BTreeMap<u32, (Option<ScannerId>, AttemptRecord)>, StoreError> {
    let rows: Vec<(i64, Option<i64>, String)> = sqlx::query_as(
        "SELECT number, scanner_id, record FROM work_attempts \
         WHERE run_id = $1 AND target = $2 ORDER BY number",
    )
    .bind(run)
    .bind(target)
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter()
        .map(|(n, s, rec)| {
            let a: AttemptRecord = serde_json::from_str(&rec)
                .map_err(|e| StoreError::corrupt("work_attempts", "record", e))?;
            let n =
                u32::try_from(n).map_err(|e| StoreError::corrupt("work_attempts", "number", e))?;
            Ok((n, (s, a)))
        })
        .collect()
}

/// The target's queue row, locked: (state, scanner, epoch).
async fn work_row(
    tx: &mut Tx,
    lease: &Lease,
) -> Result<(String, Option<ScannerId>, i64), StoreError> {
    let row: Option<(String, Option<i64>, i64)> = sqlx::query_as(&format!(
        "SELECT state, scanner_id, epoch FROM work WHERE run_id = $1 AND target = $2{LOCK_ROW}"
    ))
    .bind(lease.run)
    .bind(&lease.target)
    .fetch_optional(&mut **tx)
    .await?;
    row.ok_or_else(|| StoreError::NoSuchTarget {
        run: lease.run,
        target: lease.target.clone(),
    })
}

fn holds(lease: &Lease, scanner: Option<ScannerId>, epoch: i64) -> bool {
    scanner == Some(lease.scanner) && epoch == lease.epoch
}

fn lost(lease: &Lease) -> StoreError {
    StoreError::LeaseLost {
        target: lease.target.clone(),
        scanner: lease.scanner,
    }
}

pub(crate) async fn requeue(
    w: &Pool<Db>,
    _r: &Pool<Db>,
    lease: &Lease,
    attempt: &AttemptRecord,
    class_order: &[String],
    not_before_ms: i64,
    retry_state: &serde_json::Value,
) -> Result<(), StoreError> {
    let mut tx = w.begin_with(BEGIN_WRITE).await?;
    let (state, holder, epoch) = work_row(&mut tx, lease).await?;
    if !holds(lease, holder, epoch) {
        return Err(lost(lease));
    }
    if state == QUEUED {
        // This lease requeued it already (a call retried after a lost answer).
        let have: Option<i64> = sqlx::query_scalar(
            "SELECT number FROM work_attempts WHERE run_id = $1 AND target = $2 AND number = $3",
        )
        .bind(lease.run)
        .bind(&lease.target)
        .bind(i64::from(attempt.number))
        .fetch_optional(&mut *tx)
        .await?;
        return if have.is_some() {
            Ok(())
        } else {
            Err(lost(lease))
        };
    }
    if state != CLAIMED {
        return Err(lost(lease));
    }
    let record = serde_json::to_string(attempt)
        .map_err(|e| StoreError::corrupt("work_attempts", "record", e))?;
    let order = serde_json::to_string(class_order)
        .map_err(|e| StoreError::corrupt("work", "class_order", e))?;
    sqlx::query(
        "INSERT INTO work_attempts (run_id, target, number, scanner_id, record) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(lease.run)
    .bind(&lease.target)
    .bind(i64::from(attempt.number))
    .bind(lease.scanner)
    .bind(record)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE work SET state = $1, lease_until_ms = NULL, not_before_ms = $2, \
         attempts = $3, class_order = $4, retry_state = $7 WHERE run_id = $5 AND target = $6",
    )
    .bind(QUEUED)
    .bind(not_before_ms)
    .bind(i64::from(attempt.number))
    .bind(order)
    .bind(lease.run)
    .bind(&lease.target)
    .bind(retry_state.to_string())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn finish(
    w: &Pool<Db>,
    _r: &Pool<Db>,
    lease: &Lease,
    result: &ComputerResult,
) -> Result<Finished, StoreError> {
    let fixed = storable(result);
    let result = fixed.as_ref().unwrap_or(result);
    if result.target != lease.target {
        return Err(StoreError::NoSuchTarget {
            run: lease.run,
            target: result.target.clone(),
        });
    }
    let mut tx = w.begin_with(BEGIN_WRITE).await?;
    let (state, holder, epoch) = work_row(&mut tx, lease).await?;
    if !holds(lease, holder, epoch) {
        return Err(lost(lease));
    }
    if state == DONE {
        return Ok(Finished::AlreadyRecorded);
    }
    if state != CLAIMED {
        // Requeued by this lease, or an inventory-not-completed result already saved.
        return Err(lost(lease));
    }
    // Earlier attempts (requeued, maybe by other scanners) join the result's own; the
    // result's record of an attempt wins, the requeue's scanner is kept.
    let earlier = previous_attempts(&mut tx, lease.run, &lease.target).await?;
    let mut all: BTreeMap<u32, (&AttemptRecord, Option<ScannerId>)> =
        earlier.iter().map(|(n, (s, a))| (*n, (a, *s))).collect();
    for a in &result.attempts {
        let by = earlier
            .get(&a.number)
            .map_or(Some(lease.scanner), |(s, _)| *s);
        all.insert(a.number, (a, by));
    }
    let attempts: Vec<(&AttemptRecord, Option<ScannerId>)> = all.into_values().collect();
    save_in(&mut tx, lease.run, result, &attempts, Some(lease.scanner)).await?;
    mark_work(
        &mut tx,
        lease.run,
        &lease.target,
        result.status,
        Some(to_i64(attempts.len())),
    )
    .await?;
    if result.status != Status::InventoryNotCompleted {
        sqlx::query("DELETE FROM work_attempts WHERE run_id = $1 AND target = $2")
            .bind(lease.run)
            .bind(&lease.target)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(Finished::Recorded)
}

pub(crate) async fn leave(
    w: &Pool<Db>,
    _r: &Pool<Db>,
    scanner: ScannerId,
    now_ms: i64,
) -> Result<u64, StoreError> {
    let mut tx = w.begin_with(BEGIN_WRITE).await?;
    let (run, _) = scanner_in(&mut tx, scanner).await?;
    let released = sqlx::query(
        "UPDATE work SET state = $1, lease_until_ms = NULL \
         WHERE run_id = $2 AND scanner_id = $3 AND state = $4",
    )
    .bind(QUEUED)
    .bind(run)
    .bind(scanner)
    .bind(CLAIMED)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query("UPDATE scanners SET left_ms = $1, heartbeat_ms = $1 WHERE id = $2")
        .bind(now_ms)
        .bind(scanner)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(released)
}

pub(crate) async fn complete_if_done(
    w: &Pool<Db>,
    _r: &Pool<Db>,
    run: RunId,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE runs SET state = $1, finished_ms = $2 \
         WHERE id = $3 AND state = $4 \
           AND NOT EXISTS (SELECT 1 FROM work WHERE run_id = $3 AND state <> $5)",
    )
    .bind(RunState::Completed.as_str())
    .bind(now_ms)
    .bind(run)
    .bind(RunState::Running.as_str())
    .bind(DONE)
    .execute(w)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn scanners(
    w: &Pool<Db>,
    r: &Pool<Db>,
    run: RunId,
) -> Result<Vec<ScannerInfo>, StoreError> {
    require_run(w, r, run).await?;
    let rows: Vec<ScannerRow> = sqlx::query_as(
        "SELECT s.id, s.name, s.site, s.started_ms, s.heartbeat_ms, s.left_ms, \
               (SELECT COUNT(*) FROM work x WHERE x.scanner_id = s.id AND x.state = $2), \
               (SELECT COUNT(*) FROM work x WHERE x.scanner_id = s.id AND x.state = $3), \
               (SELECT COUNT(*) FROM attempts a WHERE a.run_id = $1 AND a.scanner_id = s.id), \
               (SELECT COUNT(*) FROM work_attempts a WHERE a.run_id = $1 AND a.scanner_id = s.id) \
             FROM scanners s WHERE s.run_id = $1 ORDER BY s.id",
    )
    .bind(run)
    .bind(CLAIMED)
    .bind(DONE)
    .fetch_all(r)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, name, site, started_ms, heartbeat_ms, left_ms, claimed, finished, a, wa)| {
                ScannerInfo {
                    id,
                    name,
                    site: site_from_key(site),
                    started_ms,
                    heartbeat_ms,
                    left_ms,
                    claimed: count(Some(claimed)),
                    finished: count(Some(finished)),
                    attempts: count(Some(a)).saturating_add(count(Some(wa))),
                }
            },
        )
        .collect())
}

pub(crate) async fn queue_counts(
    w: &Pool<Db>,
    r: &Pool<Db>,
    run: RunId,
    now_ms: i64,
) -> Result<QueueCounts, StoreError> {
    require_run(w, r, run).await?;
    let (ready, waiting, claimed, expired, done): QueueRow = sqlx::query_as(
        "SELECT SUM(CASE WHEN state = $2 AND not_before_ms <= $4 THEN 1 ELSE 0 END), \
                SUM(CASE WHEN state = $2 AND not_before_ms > $4 THEN 1 ELSE 0 END), \
                SUM(CASE WHEN state = $3 AND lease_until_ms >= $4 THEN 1 ELSE 0 END), \
                SUM(CASE WHEN state = $3 AND lease_until_ms < $4 THEN 1 ELSE 0 END), \
                SUM(CASE WHEN state = $5 THEN 1 ELSE 0 END) \
         FROM work WHERE run_id = $1",
    )
    .bind(run)
    .bind(QUEUED)
    .bind(CLAIMED)
    .bind(now_ms)
    .bind(DONE)
    .fetch_one(r)
    .await?;
    Ok(QueueCounts {
        ready: count(ready),
        waiting: count(waiting),
        claimed: count(claimed),
        expired: count(expired),
        done: count(done),
    })
}

pub(crate) async fn expired_leases(
    w: &Pool<Db>,
    r: &Pool<Db>,
    run: RunId,
    now_ms: i64,
) -> Result<Vec<ExpiredLease>, StoreError> {
    require_run(w, r, run).await?;
    let rows: Vec<(String, i64, String, i64)> = sqlx::query_as(
        "SELECT x.target, s.id, s.name, x.lease_until_ms FROM work x \
         JOIN scanners s ON s.id = x.scanner_id \
         WHERE x.run_id = $1 AND x.state = $2 AND x.lease_until_ms < $3 \
         ORDER BY x.position",
    )
    .bind(run)
    .bind(CLAIMED)
    .bind(now_ms)
    .fetch_all(r)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(target, scanner, scanner_name, lease_until_ms)| ExpiredLease {
                target,
                scanner,
                scanner_name,
                lease_until_ms,
            },
        )
        .collect())
}

pub(crate) async fn take_connection_slot(
    w: &Pool<Db>,
    _r: &Pool<Db>,
    run: RunId,
    site: Option<&str>,
    per_second: u32,
    now_ms: i64,
) -> Result<Option<i64>, StoreError> {
    let mut tx = w.begin_with(BEGIN_WRITE).await?;
    sqlx::query(
        "INSERT INTO site_rates (run_id, site, window_ms, used) VALUES ($1, $2, 0, 0) \
         ON CONFLICT DO NOTHING",
    )
    .bind(run)
    .bind(site_key(site))
    .execute(&mut *tx)
    .await?;
    let (window, used): (i64, i64) = sqlx::query_as(&format!(
        "SELECT window_ms, used FROM site_rates WHERE run_id = $1 AND site = $2{LOCK_ROW}"
    ))
    .bind(run)
    .bind(site_key(site))
    .fetch_one(&mut *tx)
    .await?;
    let (wait, window, used) = crate::coord::rate_slot(window, used, per_second, now_ms);
    if wait.is_none() {
        sqlx::query(
            "UPDATE site_rates SET window_ms = $1, used = $2 WHERE run_id = $3 AND site = $4",
        )
        .bind(window)
        .bind(used)
        .bind(run)
        .bind(site_key(site))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(wait)
}

// ---------------------------------------------------------------------------------
// What a running scan is doing.

pub(crate) async fn update_in_flight(
    w: &Pool<Db>,
    _r: &Pool<Db>,
    run: RunId,
    changes: &[InFlightChange],
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut tx = w.begin_with(BEGIN_WRITE).await?;
    for c in changes {
        match c {
            InFlightChange::Set(row) => {
                sqlx::query(
                    "INSERT INTO in_flight (run_id, target, attempt, step, since_ms, scanner, \
                     updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (run_id, target) DO UPDATE SET attempt = excluded.attempt, \
                     step = excluded.step, since_ms = excluded.since_ms, \
                     scanner = excluded.scanner, updated_ms = excluded.updated_ms",
                )
                .bind(run)
                .bind(codec::no_nul(&row.target))
                .bind(i64::from(row.attempt))
                .bind(codec::no_nul(&row.step))
                .bind(row.since_ms)
                .bind(codec::no_nul(&row.scanner))
                .bind(row.updated_ms)
                .execute(&mut *tx)
                .await?;
            }
            InFlightChange::Clear(target) => {
                sqlx::query("DELETE FROM in_flight WHERE run_id = $1 AND target = $2")
                    .bind(run)
                    .bind(codec::no_nul(target))
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn touch_in_flight(
    w: &Pool<Db>,
    _r: &Pool<Db>,
    run: RunId,
    scanner: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE in_flight SET updated_ms = $1 WHERE run_id = $2 AND scanner = $3")
        .bind(now_ms)
        .bind(run)
        .bind(codec::no_nul(scanner))
        .execute(w)
        .await?;
    Ok(())
}

pub(crate) async fn clear_in_flight(
    w: &Pool<Db>,
    _r: &Pool<Db>,
    run: RunId,
    scanner: Option<&str>,
) -> Result<u64, StoreError> {
    let done = match scanner {
        Some(s) => {
            sqlx::query("DELETE FROM in_flight WHERE run_id = $1 AND scanner = $2")
                .bind(run)
                .bind(codec::no_nul(s))
                .execute(w)
                .await?
        }
        None => {
            sqlx::query("DELETE FROM in_flight WHERE run_id = $1")
                .bind(run)
                .execute(w)
                .await?
        }
    };
    Ok(done.rows_affected())
}

pub(crate) async fn in_flight(
    _w: &Pool<Db>,
    r: &Pool<Db>,
    run: RunId,
) -> Result<Vec<InFlightRow>, StoreError> {
    let rows: Vec<(String, i64, String, i64, String, i64)> = sqlx::query_as(
        "SELECT target, attempt, step, since_ms, scanner, updated_ms FROM in_flight \
         WHERE run_id = $1 ORDER BY since_ms, target",
    )
    .bind(run)
    .fetch_all(r)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(target, attempt, step, since_ms, scanner, updated_ms)| InFlightRow {
                target,
                attempt: u32::try_from(attempt).unwrap_or(0),
                step,
                since_ms,
                scanner,
                updated_ms,
            },
        )
        .collect())
}

// ---------------------------------------------------------------------------------
// Rows.

fn run_info(row: &DbRow) -> Result<RunInfo, StoreError> {
    let state: String = row.try_get("state")?;
    let options: String = row.try_get("options")?;
    let targets: i64 = row.try_get("targets")?;
    Ok(RunInfo {
        id: row.try_get("id")?,
        started_ms: row.try_get("started_ms")?,
        finished_ms: row.try_get("finished_ms")?,
        state: state
            .parse()
            .map_err(|e| StoreError::corrupt("runs", "state", e))?,
        options: serde_json::from_str(&options)
            .map_err(|e| StoreError::corrupt("runs", "options", e))?,
        targets: usize::try_from(targets).map_err(|e| StoreError::corrupt("runs", "targets", e))?,
    })
}

fn address(row: &DbRow) -> Result<Option<IpAddr>, StoreError> {
    let a: Option<String> = row.try_get("address")?;
    a.map(|a| {
        a.parse::<IpAddr>()
            .map_err(|e| StoreError::corrupt("computers", "address", e))
    })
    .transpose()
}

fn attempt_from_row(row: &DbRow) -> Result<AttemptRecord, StoreError> {
    let order: String = row.try_get("class_order")?;
    let outcome: String = row.try_get("outcome")?;
    let number: i64 = row.try_get("number")?;
    let duration: i64 = row.try_get("duration_ms")?;
    Ok(AttemptRecord {
        number: u32::try_from(number).map_err(|e| StoreError::corrupt("attempts", "number", e))?,
        started_ms: row.try_get("started_ms")?,
        duration_ms: u64::try_from(duration)
            .map_err(|e| StoreError::corrupt("attempts", "duration_ms", e))?,
        credential: row.try_get("credential")?,
        class_order: serde_json::from_str(&order)
            .map_err(|e| StoreError::corrupt("attempts", "class_order", e))?,
        outcome: codec::status(&outcome, "attempts", "outcome")?,
        failing_class: row.try_get("failing_class")?,
        failure: failure_from_row(row, "attempts")?,
    })
}

fn class_result_from_row(row: &DbRow) -> Result<ClassResult, StoreError> {
    let outcome: String = row.try_get("outcome")?;
    let rows: i64 = row.try_get("rows_collected")?;
    let attempt: i64 = row.try_get("attempt")?;
    Ok(ClassResult {
        class: row.try_get("class")?,
        namespace: row.try_get("namespace")?,
        outcome: codec::outcome(&outcome)?,
        rows: usize::try_from(rows)
            .map_err(|e| StoreError::corrupt("class_results", "rows_collected", e))?,
        attempt: u32::try_from(attempt)
            .map_err(|e| StoreError::corrupt("class_results", "attempt", e))?,
        error: failure_from_row(row, "class_results")?,
    })
}

/// Reads the failure columns of a row back; `None` when `stage` is NULL.
fn failure_from_row(
    row: &DbRow,
    table: &'static str,
) -> Result<Option<winv_engine::Failure>, StoreError> {
    let Some(stage) = row.try_get::<Option<String>, _>("stage")? else {
        return Ok(None);
    };
    codec::failure(
        table,
        codec::FailureText {
            stage,
            status: row.try_get("failure_status")?,
            phase: row.try_get("phase")?,
            category: row.try_get("category")?,
            code: row.try_get("code")?,
            code_name: row.try_get("code_name")?,
            retry: row.try_get("retry")?,
            denied_by: row.try_get("denied_by")?,
            message: row.try_get("message")?,
        },
    )
    .map(Some)
}

/// The keys every child row carries.
struct Ids<'a> {
    run: RunId,
    computer: i64,
    target: &'a str,
}

/// Whether anything was collected: a class (even with no instance), a registry value or
/// a program.
fn has_collected(inv: &Inventory) -> bool {
    !inv.classes.is_empty() || !inv.registry_values.is_empty() || !inv.software.is_empty()
}

/// Every table that hangs off `computers`, children first.
const CHILD_TABLES: [&str; 21] = [
    "attempts",
    "class_results",
    "instances",
    "inventory_classes",
    "registry_values",
    "hosts",
    "operating_systems",
    "hardware",
    "installed_software",
    "hotfixes",
    "services",
    "machines",
    "network_adapters",
    "logical_disks",
    "memory_modules",
    "sql_instances",
    "server_features",
    "platforms",
    "vm_guests",
    "licences",
    "core_licences",
];

async fn delete_computer(tx: &mut Tx, id: i64) -> Result<(), StoreError> {
    for table in CHILD_TABLES {
        sqlx::query(&format!("DELETE FROM {table} WHERE computer_id = $1"))
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query("DELETE FROM computers WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn insert_computer(
    tx: &mut Tx,
    run: RunId,
    r: &ComputerResult,
    scanner: Option<ScannerId>,
) -> Result<i64, StoreError> {
    let mut qb = QueryBuilder::<Db>::new(format!(
        "INSERT INTO computers (run_id, target, address, status, credential, finished_ms, \
         scanner_id, mechanism, {FAILURE_COLUMNS}) "
    ));
    qb.push_values(std::iter::once(r), |mut v, r| {
        v.push_bind(run)
            .push_bind(&r.target)
            .push_bind(r.address.map(|a| a.to_string()))
            .push_bind(r.status.as_str())
            .push_bind(&r.credential)
            .push_bind(r.finished_ms)
            .push_bind(scanner)
            .push_bind(&r.mechanism);
        push_failure(&mut v, FailureCols::new(r.failure.as_ref()));
    });
    qb.push(" RETURNING id");
    let row = qb
        .build()
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::AlreadyRecorded {
                target: r.target.clone(),
            },
            _ => StoreError::Sql(e),
        })?;
    Ok(row.try_get(0)?)
}

/// Most bind parameters one statement carries: SQLite takes 32,766 and PostgreSQL 65,535
/// (its protocol counts them in 16 bits); past a few thousand, longer statements save
/// nothing more.
const MAX_BINDS: usize = 4_096;

/// One row's values in a multi-row `INSERT` (see [`insert_rows`]).
type Values<'b, 'q> = Separated<'b, 'q, Db, &'static str>;

/// The statements that write `rows` into a table that hangs off `computers`: multi-row
/// `INSERT`s, as few as [`MAX_BINDS`] allows, instead of one statement per row (each
/// statement is a round trip to SQLite's worker thread, two thread wake-ups, or to the
/// PostgreSQL server, and a server's inventory is several hundred rows); [`execute`]
/// runs them. `columns` are the table's columns after `run_id, computer_id, target`,
/// which every row gets from `ids`; `bind` pushes the rest of one row's values in
/// `columns` order.
// INVARIANT: `bind` pushes exactly one value per column named in `columns` (the width
// that sizes the statements is counted from it); every table's round trip is tested.
///
/// Built apart from their execution on purpose: a closure or an iterator of borrowed
/// rows held across an await makes the caller's future `Send` for one lifetime only,
/// which a spawned task cannot use; the statements hold only the values they bind.
fn insert_rows<'q, T>(
    ids: &Ids<'q>,
    table: &str,
    columns: &str,
    rows: impl IntoIterator<Item = T>,
    mut bind: impl FnMut(&mut Values<'_, 'q>, T),
) -> Vec<QueryBuilder<'q, Db>> {
    let width = 3 + columns.split(',').count();
    let per_statement = (MAX_BINDS / width).max(1);
    let head = format!("INSERT INTO {table} (run_id, computer_id, target, {columns}) ");
    let mut rows = rows.into_iter().peekable();
    let mut statements = Vec::new();
    while rows.peek().is_some() {
        let mut qb = QueryBuilder::<Db>::new(&head);
        qb.push_values(rows.by_ref().take(per_statement), |mut v, row| {
            v.push_bind(ids.run)
                .push_bind(ids.computer)
                .push_bind(ids.target);
            bind(&mut v, row);
        });
        statements.push(qb);
    }
    statements
}

/// Runs the statements of [`insert_rows`], in order.
async fn execute(tx: &mut Tx, statements: Vec<QueryBuilder<'_, Db>>) -> Result<(), StoreError> {
    for mut qb in statements {
        qb.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// Pushes the nine failure columns, in [`FAILURE_COLUMNS`] order.
fn push_failure(v: &mut Values<'_, '_>, f: FailureCols) {
    v.push_bind(f.status)
        .push_bind(f.stage)
        .push_bind(f.phase)
        .push_bind(f.category)
        .push_bind(f.code)
        .push_bind(f.code_name)
        .push_bind(f.retry)
        .push_bind(f.denied_by)
        .push_bind(f.message);
}

async fn insert_attempts(
    tx: &mut Tx,
    ids: &Ids<'_>,
    attempts: &[(&AttemptRecord, Option<ScannerId>)],
) -> Result<(), StoreError> {
    let mut rows = Vec::with_capacity(attempts.len());
    for (a, by) in attempts {
        let order = serde_json::to_string(&a.class_order)
            .map_err(|e| StoreError::corrupt("attempts", "class_order", e))?;
        rows.push((*a, *by, order));
    }
    let statements = insert_rows(
        ids,
        "attempts",
        &format!(
            "number, started_ms, duration_ms, credential, class_order, outcome, \
             failing_class, scanner_id, {FAILURE_COLUMNS}"
        ),
        rows,
        |v, (a, by, order)| {
            v.push_bind(i64::from(a.number))
                .push_bind(a.started_ms)
                .push_bind(to_i64(a.duration_ms))
                .push_bind(&a.credential)
                .push_bind(order)
                .push_bind(a.outcome.as_str())
                .push_bind(&a.failing_class)
                .push_bind(by);
            push_failure(v, FailureCols::new(a.failure.as_ref()));
        },
    );
    execute(tx, statements).await
}

async fn insert_class_results(
    tx: &mut Tx,
    ids: &Ids<'_>,
    classes: &[ClassResult],
) -> Result<(), StoreError> {
    let statements = insert_rows(
        ids,
        "class_results",
        &format!("position, class, namespace, outcome, rows_collected, attempt, {FAILURE_COLUMNS}"),
        classes.iter().enumerate(),
        |v, (i, c)| {
            v.push_bind(to_i64(i))
                .push_bind(&c.class)
                .push_bind(&c.namespace)
                .push_bind(c.outcome.as_str())
                .push_bind(to_i64(c.rows))
                .push_bind(i64::from(c.attempt));
            push_failure(v, FailureCols::new(c.error.as_ref()));
        },
    );
    execute(tx, statements).await
}

async fn insert_inventory(tx: &mut Tx, ids: &Ids<'_>, inv: &Inventory) -> Result<(), StoreError> {
    let statements = insert_rows(
        ids,
        "inventory_classes",
        "position, class, namespace, instances",
        inv.classes.iter().enumerate(),
        |v, (cpos, c)| {
            v.push_bind(to_i64(cpos))
                .push_bind(&c.class)
                .push_bind(&c.namespace)
                .push_bind(to_i64(c.instances.len()));
        },
    );
    execute(tx, statements).await?;
    let instances = inv.classes.iter().enumerate().flat_map(|(cpos, c)| {
        c.instances
            .iter()
            .enumerate()
            .map(move |(ipos, inst)| (cpos, c, ipos, inst))
    });
    let statements = insert_rows(
        ids,
        "instances",
        "class_position, position, class, namespace, json",
        instances,
        |v, (cpos, c, ipos, inst)| {
            v.push_bind(to_i64(cpos))
                .push_bind(to_i64(ipos))
                .push_bind(&c.class)
                .push_bind(&c.namespace)
                .push_bind(inst.json());
        },
    );
    execute(tx, statements).await?;
    let statements = insert_rows(
        ids,
        "installed_software",
        "position, name, version, publisher, install_date, wow64",
        inv.software.iter().enumerate(),
        |v, (i, s)| {
            v.push_bind(to_i64(i))
                .push_bind(&s.name)
                .push_bind(&s.version)
                .push_bind(&s.publisher)
                .push_bind(&s.install_date)
                .push_bind(s.wow64);
        },
    );
    execute(tx, statements).await?;
    let statements = insert_rows(
        ids,
        "registry_values",
        "position, item, value",
        inv.registry_values.iter().enumerate(),
        |v, (i, (item, value))| {
            v.push_bind(to_i64(i)).push_bind(item).push_bind(value);
        },
    );
    execute(tx, statements).await
}

async fn insert_reports(
    tx: &mut Tx,
    ids: &Ids<'_>,
    inv: &Inventory,
    seen_ms: i64,
) -> Result<(), StoreError> {
    let h = report::host(inv);
    sqlx::query(
        "INSERT INTO hosts (run_id, computer_id, target, name, domain, manufacturer, model, \
         total_physical_memory) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(ids.run)
    .bind(ids.computer)
    .bind(ids.target)
    .bind(h.name)
    .bind(h.domain)
    .bind(h.manufacturer)
    .bind(h.model)
    .bind(h.total_physical_memory)
    .execute(&mut **tx)
    .await?;

    let os = report::operating_system(inv);
    sqlx::query(
        "INSERT INTO operating_systems (run_id, computer_id, target, caption, version, \
         build_number, architecture, service_pack, install_date, last_boot, serial_number, \
         edition) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(ids.run)
    .bind(ids.computer)
    .bind(ids.target)
    .bind(os.caption)
    .bind(os.version)
    .bind(os.build_number)
    .bind(os.architecture)
    .bind(os.service_pack)
    .bind(os.install_date)
    .bind(os.last_boot)
    .bind(os.serial_number)
    .bind(os.edition)
    .execute(&mut **tx)
    .await?;

    let hw = report::hardware(inv);
    sqlx::query(
        "INSERT INTO hardware (run_id, computer_id, target, bios_manufacturer, bios_version, \
         bios_serial, processor_name, processors, cores, logical_processors, chassis, \
         chassis_types) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(ids.run)
    .bind(ids.computer)
    .bind(ids.target)
    .bind(hw.bios_manufacturer)
    .bind(hw.bios_version)
    .bind(hw.bios_serial)
    .bind(hw.processor_name)
    .bind(hw.processors)
    .bind(hw.cores)
    .bind(hw.logical_processors)
    .bind(hw.chassis)
    .bind(hw.chassis_types)
    .execute(&mut **tx)
    .await?;

    let statements = insert_rows(
        ids,
        "hotfixes",
        "position, hotfix_id, description, installed_on",
        report::hotfixes(inv).into_iter().enumerate(),
        |v, (i, q)| {
            v.push_bind(to_i64(i))
                .push_bind(q.hotfix_id)
                .push_bind(q.description)
                .push_bind(q.installed_on);
        },
    );
    execute(tx, statements).await?;
    let statements = insert_rows(
        ids,
        "services",
        "position, name, display_name, state, start_mode, start_name",
        report::services(inv).into_iter().enumerate(),
        |v, (i, s)| {
            v.push_bind(to_i64(i))
                .push_bind(s.name)
                .push_bind(s.display_name)
                .push_bind(s.state)
                .push_bind(s.start_mode)
                .push_bind(s.start_name);
        },
    );
    execute(tx, statements).await?;
    insert_hardware_lists(tx, ids, inv).await?;
    insert_scenarios(tx, ids, inv).await?;
    if let Some(m) = report::machine(inv, ids.target) {
        sqlx::query(
            "INSERT INTO machines (run_id, computer_id, target, machine_key, key_kind, uuid, \
             serial, name, addresses, mac_addresses, seen_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(ids.run)
        .bind(ids.computer)
        .bind(ids.target)
        .bind(m.machine_key)
        .bind(m.key_kind)
        .bind(m.uuid)
        .bind(m.serial)
        .bind(m.name)
        .bind(m.addresses)
        .bind(m.mac_addresses)
        .bind(seen_ms)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The scenario tables (`0009_scenarios.sql`): `sql_instances`, `server_features`,
/// `platforms`, `vm_guests`, `licences`, `core_licences`.
async fn insert_scenarios(tx: &mut Tx, ids: &Ids<'_>, inv: &Inventory) -> Result<(), StoreError> {
    let statements = insert_rows(
        ids,
        "sql_instances",
        "position, instance, instance_id, edition, version, product, patch_level, \
         service_pack, clustered, state, start_mode, service_account, source",
        report_scenarios::sql_instances(inv).into_iter().enumerate(),
        |v, (i, r)| {
            v.push_bind(to_i64(i))
                .push_bind(r.instance)
                .push_bind(r.instance_id)
                .push_bind(r.edition)
                .push_bind(r.version)
                .push_bind(r.product)
                .push_bind(r.patch_level)
                .push_bind(r.service_pack)
                .push_bind(r.clustered)
                .push_bind(r.state)
                .push_bind(r.start_mode)
                .push_bind(r.service_account)
                .push_bind(r.source);
        },
    );
    execute(tx, statements).await?;
    let statements = insert_rows(
        ids,
        "server_features",
        "position, feature_id, parent_id, name",
        report_scenarios::server_features(inv)
            .into_iter()
            .enumerate(),
        |v, (i, f)| {
            v.push_bind(to_i64(i))
                .push_bind(f.feature_id)
                .push_bind(f.parent_id)
                .push_bind(f.name);
        },
    );
    execute(tx, statements).await?;
    if let Some(p) = report_scenarios::platform(inv) {
        sqlx::query(
            "INSERT INTO platforms (run_id, computer_id, target, platform, is_virtual, \
             hypervisor_present, physical_host, guests) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(ids.run)
        .bind(ids.computer)
        .bind(ids.target)
        .bind(p.platform)
        .bind(p.is_virtual)
        .bind(p.hypervisor_present)
        .bind(p.physical_host)
        .bind(p.guests)
        .execute(&mut **tx)
        .await?;
    }
    let statements = insert_rows(
        ids,
        "vm_guests",
        "position, vm_id, name, state, uptime_s",
        report_scenarios::vm_guests(inv).into_iter().enumerate(),
        |v, (i, g)| {
            v.push_bind(to_i64(i))
                .push_bind(g.vm_id)
                .push_bind(g.name)
                .push_bind(g.state)
                .push_bind(g.uptime_s);
        },
    );
    execute(tx, statements).await?;
    let statements = insert_rows(
        ids,
        "licences",
        "position, product, application, licence_status, channel, partial_key, kms_host, \
         grace_minutes",
        report_scenarios::licences(inv).into_iter().enumerate(),
        |v, (i, l)| {
            v.push_bind(to_i64(i))
                .push_bind(l.product)
                .push_bind(l.application)
                .push_bind(l.licence_status)
                .push_bind(l.channel)
                .push_bind(l.partial_key)
                .push_bind(l.kms_host)
                .push_bind(l.grace_minutes);
        },
    );
    execute(tx, statements).await?;
    if let Some(c) = report_scenarios::core_licence(inv) {
        sqlx::query(
            "INSERT INTO core_licences (run_id, computer_id, target, processors, \
             physical_cores, core_licences, packs, rule) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(ids.run)
        .bind(ids.computer)
        .bind(ids.target)
        .bind(c.processors)
        .bind(c.physical_cores)
        .bind(c.core_licences)
        .bind(c.packs)
        .bind(c.rule)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// `network_adapters`, `logical_disks`, `memory_modules`.
async fn insert_hardware_lists(
    tx: &mut Tx,
    ids: &Ids<'_>,
    inv: &Inventory,
) -> Result<(), StoreError> {
    let statements = insert_rows(
        ids,
        "network_adapters",
        "position, description, mac_address, ip_addresses, ip_subnets, dhcp_enabled, \
         dhcp_server, default_gateways, dns_servers, dns_domain, interface_index",
        report::network_adapters(inv).into_iter().enumerate(),
        |v, (i, a)| {
            v.push_bind(to_i64(i))
                .push_bind(a.description)
                .push_bind(a.mac_address)
                .push_bind(a.ip_addresses)
                .push_bind(a.ip_subnets)
                .push_bind(a.dhcp_enabled)
                .push_bind(a.dhcp_server)
                .push_bind(a.default_gateways)
                .push_bind(a.dns_servers)
                .push_bind(a.dns_domain)
                .push_bind(a.interface_index);
        },
    );
    execute(tx, statements).await?;
    let statements = insert_rows(
        ids,
        "logical_disks",
        "position, device_id, drive_type, drive_kind, size, free_space, file_system, \
         volume_name",
        report::logical_disks(inv).into_iter().enumerate(),
        |v, (i, d)| {
            v.push_bind(to_i64(i))
                .push_bind(d.device_id)
                .push_bind(d.drive_type)
                .push_bind(d.drive_kind)
                .push_bind(d.size)
                .push_bind(d.free_space)
                .push_bind(d.file_system)
                .push_bind(d.volume_name);
        },
    );
    execute(tx, statements).await?;
    let statements = insert_rows(
        ids,
        "memory_modules",
        "position, bank_label, device_locator, capacity, speed, configured_clock_speed, \
         manufacturer, part_number, serial_number",
        report::memory_modules(inv).into_iter().enumerate(),
        |v, (i, m)| {
            v.push_bind(to_i64(i))
                .push_bind(m.bank_label)
                .push_bind(m.device_locator)
                .push_bind(m.capacity)
                .push_bind(m.speed)
                .push_bind(m.configured_clock_speed)
                .push_bind(m.manufacturer)
                .push_bind(m.part_number)
                .push_bind(m.serial_number);
        },
    );
    execute(tx, statements).await
}

pub(crate) async fn save_accounts(
    w: &Pool<Db>,
    r: &Pool<Db>,
    run: RunId,
    stats: &[winv_engine::AccountStats],
) -> Result<(), StoreError> {
    require_run(w, r, run).await?;
    let mut tx = w.begin_with(BEGIN_WRITE).await?;
    for (position, s) in stats.iter().enumerate() {
        sqlx::query(
            "INSERT INTO run_accounts \
               (run_id, position, account, tried, accepted, refused, retired_after) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (run_id, account) DO UPDATE SET \
               tried = run_accounts.tried + excluded.tried, \
               accepted = run_accounts.accepted + excluded.accepted, \
               refused = run_accounts.refused + excluded.refused, \
               retired_after = COALESCE(run_accounts.retired_after, excluded.retired_after)",
        )
        .bind(run)
        .bind(to_i64(position))
        .bind(&s.account)
        .bind(to_i64(s.tried))
        .bind(to_i64(s.accepted))
        .bind(to_i64(s.refused))
        .bind(s.retired_after.map(i64::from))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn accounts(
    w: &Pool<Db>,
    r: &Pool<Db>,
    run: RunId,
) -> Result<Vec<winv_engine::AccountStats>, StoreError> {
    require_run(w, r, run).await?;
    let rows: Vec<(String, i64, i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT account, tried, accepted, refused, retired_after FROM run_accounts \
         WHERE run_id = $1 ORDER BY position, account",
    )
    .bind(run)
    .fetch_all(r)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(account, tried, accepted, refused, retired)| winv_engine::AccountStats {
                account,
                tried: count(Some(tried)),
                accepted: count(Some(accepted)),
                refused: count(Some(refused)),
                retired_after: retired.and_then(|n| u32::try_from(n).ok()),
            },
        )
        .collect())
}

/// The ledger row of an unproven account, made when first asked for: refusals, proven,
/// retired after.
async fn ledger_row(
    tx: &mut Tx,
    run: RunId,
    account: &str,
) -> Result<(i64, i64, Option<i64>), StoreError> {
    sqlx::query(
        "INSERT INTO account_ledger (run_id, account, refusals, proven, retired_after) \
         VALUES ($1, $2, 0, 0, NULL) ON CONFLICT (run_id, account) DO NOTHING",
    )
    .bind(run)
    .bind(account)
    .execute(&mut **tx)
    .await?;
    Ok(sqlx::query_as(&format!(
        "SELECT refusals, proven, retired_after FROM account_ledger \
         WHERE run_id = $1 AND account = $2{LOCK_ROW}"
    ))
    .bind(run)
    .bind(account)
    .fetch_one(&mut **tx)
    .await?)
}

#[allow(clippy::too_many_arguments)] // one per column of the pass it takes
pub(crate) async fn ledger_admit(
    w: &Pool<Db>,
    _r: &Pool<Db>,
    scanner: ScannerId,
    account: &str,
    target: &str,
    limit: u32,
    now_ms: i64,
    lease_ms: i64,
) -> Result<winv_engine::work::LedgerAnswer, StoreError> {
    use winv_engine::work::LedgerAnswer;
    let mut tx = w.begin_with(BEGIN_WRITE).await?;
    let (run, _) = scanner_in(&mut tx, scanner).await?;
    let (mut refusals, proven, retired) = ledger_row(&mut tx, run, account).await?;
    if proven != 0 {
        tx.commit().await?;
        return Ok(LedgerAnswer::Proven);
    }
    if let Some(n) = retired {
        tx.commit().await?;
        return Ok(LedgerAnswer::Retired {
            refusals: u32::try_from(n).unwrap_or(u32::MAX),
            now: false,
        });
    }
    // Places held by scanners that left or stopped heartbeating: their verdicts never
    // came, and each may have been a refusal that a domain controller counted.
    let stale = sqlx::query(
        "DELETE FROM account_passes WHERE run_id = $1 AND account = $2 AND scanner_id IN \
           (SELECT id FROM scanners WHERE run_id = $1 \
              AND (left_ms IS NOT NULL OR heartbeat_ms < $3))",
    )
    .bind(run)
    .bind(account)
    .bind(now_ms.saturating_sub(lease_ms))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    refusals = refusals.saturating_add(to_i64(stale));
    let limit = i64::from(limit);
    let answer = if refusals >= limit {
        sqlx::query(
            "UPDATE account_ledger SET refusals = $1, retired_after = $1 \
             WHERE run_id = $2 AND account = $3",
        )
        .bind(refusals)
        .bind(run)
        .bind(account)
        .execute(&mut *tx)
        .await?;
        LedgerAnswer::Retired {
            refusals: u32::try_from(refusals).unwrap_or(u32::MAX),
            now: true,
        }
    } else {
        if stale > 0 {
            sqlx::query(
                "UPDATE account_ledger SET refusals = $1 WHERE run_id = $2 AND account = $3",
            )
            .bind(refusals)
            .bind(run)
            .bind(account)
            .execute(&mut *tx)
            .await?;
        }
        let (held,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM account_passes \
             WHERE run_id = $1 AND account = $2 AND target <> $3",
        )
        .bind(run)
        .bind(account)
        .bind(target)
        .fetch_one(&mut *tx)
        .await?;
        if held.saturating_add(refusals) >= limit {
            LedgerAnswer::Wait
        } else {
            // Taken again for the same target (a retry of a call whose answer was
            // lost): the one place is renewed, not doubled.
            sqlx::query(
                "INSERT INTO account_passes (run_id, account, target, scanner_id, taken_ms) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (run_id, account, target) \
                 DO UPDATE SET scanner_id = excluded.scanner_id, taken_ms = excluded.taken_ms",
            )
            .bind(run)
            .bind(account)
            .bind(target)
            .bind(scanner)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            LedgerAnswer::Go
        }
    };
    tx.commit().await?;
    Ok(answer)
}

pub(crate) async fn ledger_report(
    w: &Pool<Db>,
    _r: &Pool<Db>,
    scanner: ScannerId,
    account: &str,
    target: &str,
    verdict: winv_engine::guard::Verdict,
    limit: u32,
) -> Result<Option<u32>, StoreError> {
    use winv_engine::guard::Verdict;
    let mut tx = w.begin_with(BEGIN_WRITE).await?;
    let (run, _) = scanner_in(&mut tx, scanner).await?;
    let (refusals, proven, retired) = ledger_row(&mut tx, run, account).await?;
    // No place of ours to give back: it was counted as a refusal already (our
    // heartbeat came too late), or this is a retry of a report that went through.
    let held = sqlx::query(
        "DELETE FROM account_passes \
         WHERE run_id = $1 AND account = $2 AND target = $3 AND scanner_id = $4",
    )
    .bind(run)
    .bind(account)
    .bind(target)
    .bind(scanner)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0;
    let mut retired_now = None;
    match verdict {
        Verdict::Accepted => {
            sqlx::query("UPDATE account_ledger SET proven = 1 WHERE run_id = $1 AND account = $2")
                .bind(run)
                .bind(account)
                .execute(&mut *tx)
                .await?;
        }
        Verdict::Refused if held && proven == 0 => {
            let refusals = refusals.saturating_add(1);
            let retire = retired.is_none() && refusals >= i64::from(limit);
            sqlx::query(
                "UPDATE account_ledger SET refusals = $1, \
                   retired_after = COALESCE(retired_after, $2) \
                 WHERE run_id = $3 AND account = $4",
            )
            .bind(refusals)
            .bind(retire.then_some(refusals))
            .bind(run)
            .bind(account)
            .execute(&mut *tx)
            .await?;
            if retire {
                retired_now = Some(u32::try_from(refusals).unwrap_or(u32::MAX));
            }
        }
        Verdict::Refused | Verdict::Unknown => {}
    }
    tx.commit().await?;
    Ok(retired_now)
}
