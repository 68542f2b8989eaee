//! [`Store`]: the database handle and every query.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Row, Sqlite, Transaction};
use winv_engine::{
    AttemptRecord, ClassInstances, ClassResult, ComputerResult, Inventory, SoftwareRow, Status,
};

use crate::codec::{self, to_i64, FailureCols, FAILURE_COLUMNS};
use crate::error::{is_not_a_database, StoreError};
use crate::model::{ClassCount, ComputerRow, RunId, RunInfo, RunState, RunSummary};
use crate::report;

/// The embedded migrations (`migrations/` of this crate).
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How long SQLite waits for another connection's lock (another process on the same
/// file) before `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a write waits for the one writer connection. Writes are short transactions,
/// so this is only reached when thousands of saves queue at once.
const WRITE_WAIT: Duration = Duration::from_secs(300);
/// How long a read waits for a reader connection.
const READ_WAIT: Duration = Duration::from_secs(60);
/// Reader connections (WAL lets them read while the writer writes).
const READERS: u32 = 4;
/// Write transactions take the write lock at once: a deferred transaction that reads
/// first and then writes gets `SQLITE_BUSY` without waiting when another process wrote
/// in between; an immediate one waits for the busy timeout instead.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// A handle on one database file. Cheap to clone; clones share the connections, so one
/// `Store` serves every tokio task of a scan.
///
/// Writes go through a single writer connection (SQLite allows one writer at a time;
/// queueing in the pool instead of in SQLite means concurrent saves never fail with
/// `SQLITE_BUSY`), reads through a small pool of reader connections.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) writer: SqlitePool,
    pub(crate) reader: SqlitePool,
    path: Arc<PathBuf>,
}

impl Store {
    /// Opens the database at `path`, creating it when missing, and brings its schema up
    /// to date. WAL journal, `synchronous = NORMAL`, foreign keys on, a busy timeout.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_inner(path, true).await
    }

    /// Like [`Store::open`], but a missing file is [`StoreError::NoDatabase`] instead of
    /// a new empty database (for commands that only read).
    pub async fn open_existing(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::NoDatabase {
                path: path.to_path_buf(),
            });
        }
        Store::open_inner(path, false).await
    }

    async fn open_inner(path: &Path, create: bool) -> Result<Store, StoreError> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .disable_statement_logging();
        let open_err = |e: sqlx::Error| {
            if is_not_a_database(&e) {
                StoreError::NotADatabase {
                    path: path.to_path_buf(),
                    detail: e.to_string(),
                }
            } else {
                StoreError::Open {
                    path: path.to_path_buf(),
                    source: e,
                }
            }
        };
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(WRITE_WAIT)
            .connect_with(opts.clone())
            .await
            .map_err(open_err)?;
        if let Err(e) = MIGRATOR.run(&writer).await {
            writer.close().await;
            let known = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
            return Err(match e {
                MigrateError::VersionMissing(found) => StoreError::NewerSchema {
                    path: path.to_path_buf(),
                    found,
                    known,
                },
                MigrateError::Execute(e) if is_not_a_database(&e) => open_err(e),
                e => StoreError::Migrate {
                    path: path.to_path_buf(),
                    source: e,
                },
            });
        }
        let reader = match SqlitePoolOptions::new()
            .max_connections(READERS)
            .acquire_timeout(READ_WAIT)
            .connect_with(opts)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                writer.close().await;
                return Err(open_err(e));
            }
        };
        tracing::debug!(path = %path.display(), "store opened");
        Ok(Store {
            writer,
            reader,
            path: Arc::new(path.to_path_buf()),
        })
    }

    /// The reader pool (for the read-side queries of `read`).
    pub(crate) fn reader_pool(&self) -> &SqlitePool {
        &self.reader
    }

    /// The file this store is on.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes every connection (checkpointing the WAL into the main file). Other clones
    /// of this store can no longer be used afterwards.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    /// Starts a run: stores its options and its target list in order (so a resume never
    /// needs the input file). The run starts `running`.
    pub async fn create_run(
        &self,
        targets: &[String],
        options: &serde_json::Value,
        started_ms: i64,
    ) -> Result<RunId, StoreError> {
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        let id: RunId = sqlx::query_scalar(
            "INSERT INTO runs (started_ms, finished_ms, state, options, targets) \
             VALUES (?, NULL, ?, ?, ?) RETURNING id",
        )
        .bind(started_ms)
        .bind(RunState::Running.as_str())
        .bind(options.to_string())
        .bind(to_i64(targets.len()))
        .fetch_one(&mut *tx)
        .await?;
        for (i, t) in targets.iter().enumerate() {
            sqlx::query("INSERT INTO run_targets (run_id, position, target) VALUES (?, ?, ?)")
                .bind(id)
                .bind(to_i64(i))
                .bind(t)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        tracing::info!(run = id, targets = targets.len(), "run created");
        Ok(id)
    }

    /// One run.
    pub async fn run(&self, id: RunId) -> Result<Option<RunInfo>, StoreError> {
        let row = sqlx::query(
            "SELECT id, started_ms, finished_ms, state, options, targets FROM runs WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(run_info).transpose()
    }

    /// The newest run.
    pub async fn latest_run(&self) -> Result<Option<RunInfo>, StoreError> {
        let row = sqlx::query(
            "SELECT id, started_ms, finished_ms, state, options, targets FROM runs \
             ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(run_info).transpose()
    }

    /// The newest run that is not `completed` (`running` after a crash, or `stopped`).
    pub async fn latest_resumable_run(&self) -> Result<Option<RunInfo>, StoreError> {
        let row = sqlx::query(
            "SELECT id, started_ms, finished_ms, state, options, targets FROM runs \
             WHERE state <> ? ORDER BY id DESC LIMIT 1",
        )
        .bind(RunState::Completed.as_str())
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(run_info).transpose()
    }

    /// The run's targets, in input order.
    pub async fn run_targets(&self, run: RunId) -> Result<Vec<String>, StoreError> {
        self.require_run(run).await?;
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT target FROM run_targets WHERE run_id = ? ORDER BY position")
                .bind(run)
                .fetch_all(&self.reader)
                .await?;
        Ok(rows)
    }

    /// The targets still to do, in input order: those without a result, and those whose
    /// result is `inventory-not-completed`. A target listed twice appears once.
    pub async fn pending_targets(&self, run: RunId) -> Result<Vec<String>, StoreError> {
        self.require_run(run).await?;
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT t.target FROM run_targets t \
             LEFT JOIN computers c ON c.run_id = t.run_id AND c.target = t.target \
             WHERE t.run_id = ? AND (c.id IS NULL OR c.status = ?) \
             ORDER BY t.position",
        )
        .bind(run)
        .bind(Status::InventoryNotCompleted.as_str())
        .fetch_all(&self.reader)
        .await?;
        let mut seen = std::collections::HashSet::new();
        Ok(rows
            .into_iter()
            .filter(|t| seen.insert(t.clone()))
            .collect())
    }

    /// Records a computer's final result in one transaction: the computer, its attempts,
    /// class results, raw instances, registry values, installed software and (for an
    /// inventoried computer) the report tables. A stored result of status
    /// `inventory-not-completed` for the same target is replaced, with all its rows; any
    /// other stored result is [`StoreError::AlreadyRecorded`].
    pub async fn save_computer(&self, run: RunId, r: &ComputerResult) -> Result<(), StoreError> {
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM runs WHERE id = ?")
            .bind(run)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NoSuchRun(run));
        }
        let old: Option<(i64, String)> =
            sqlx::query_as("SELECT id, status FROM computers WHERE run_id = ? AND target = ?")
                .bind(run)
                .bind(&r.target)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some((old_id, old_status)) = old {
            if old_status != Status::InventoryNotCompleted.as_str() {
                return Err(StoreError::AlreadyRecorded {
                    target: r.target.clone(),
                });
            }
            delete_computer(&mut tx, old_id).await?;
            tracing::debug!(run, target = %r.target, "replacing inventory-not-completed result");
        }
        let computer_id = insert_computer(&mut tx, run, r).await?;
        let ids = Ids {
            run,
            computer: computer_id,
            target: &r.target,
        };
        for a in &r.attempts {
            insert_attempt(&mut tx, &ids, a).await?;
        }
        for (i, c) in r.classes.iter().enumerate() {
            insert_class_result(&mut tx, &ids, i, c).await?;
        }
        insert_inventory(&mut tx, &ids, &r.inventory).await?;
        if r.status.is_success() {
            insert_reports(&mut tx, &ids, &r.inventory).await?;
        }
        tx.commit().await?;
        tracing::debug!(run, target = %r.target, status = %r.status, "computer saved");
        Ok(())
    }

    /// Sets a run's state and end time.
    pub async fn set_run_state(
        &self,
        run: RunId,
        state: RunState,
        finished_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE runs SET state = ?, finished_ms = ? WHERE id = ?")
            .bind(state.as_str())
            .bind(finished_ms)
            .bind(run)
            .execute(&self.writer)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NoSuchRun(run));
        }
        tracing::info!(run, state = %state, "run state set");
        Ok(())
    }

    /// Counts per status and per profile item.
    pub async fn summary(&self, run: RunId) -> Result<RunSummary, StoreError> {
        let info = self.run(run).await?.ok_or(StoreError::NoSuchRun(run))?;
        let counts: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, COUNT(*) FROM computers WHERE run_id = ? GROUP BY status",
        )
        .bind(run)
        .fetch_all(&self.reader)
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
        let class_rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
            "SELECT class, \
                    SUM(CASE WHEN outcome IN ('collected', 'not-present') THEN 1 ELSE 0 END), \
                    SUM(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END), \
                    SUM(CASE WHEN outcome = 'timed-out' THEN 1 ELSE 0 END) \
             FROM class_results WHERE run_id = ? \
             GROUP BY class ORDER BY MIN(position), class",
        )
        .bind(run)
        .fetch_all(&self.reader)
        .await?;
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(RunSummary {
            run,
            targets: info.targets,
            finished: usize::try_from(finished).unwrap_or(usize::MAX),
            by_status,
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

    /// Every computer of a run with a result, in input order.
    pub async fn computers(&self, run: RunId) -> Result<Vec<ComputerRow>, StoreError> {
        self.require_run(run).await?;
        let rows = sqlx::query(
            "SELECT c.*, \
                    (SELECT COUNT(*) FROM attempts a WHERE a.computer_id = c.id) AS n_attempts \
             FROM computers c \
             LEFT JOIN (SELECT target, MIN(position) AS pos FROM run_targets \
                        WHERE run_id = ? GROUP BY target) p ON p.target = c.target \
             WHERE c.run_id = ? \
             ORDER BY COALESCE(p.pos, 9223372036854775807), c.id",
        )
        .bind(run)
        .bind(run)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let f = codec::failure_from_row(row, "computers")?;
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
                    attempts: u32::try_from(row.try_get::<i64, _>("n_attempts")?)
                        .unwrap_or(u32::MAX),
                    credential: row.try_get("credential")?,
                    finished_ms: row.try_get("finished_ms")?,
                })
            })
            .collect()
    }

    /// One computer's full result, read back (attempts, classes, inventory).
    pub async fn computer(
        &self,
        run: RunId,
        target: &str,
    ) -> Result<Option<ComputerResult>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        let Some(row) = sqlx::query("SELECT * FROM computers WHERE run_id = ? AND target = ?")
            .bind(run)
            .bind(target)
            .fetch_optional(&mut *conn)
            .await?
        else {
            return Ok(None);
        };
        let id: i64 = row.try_get("id")?;
        let status: String = row.try_get("status")?;

        let attempts = sqlx::query("SELECT * FROM attempts WHERE computer_id = ? ORDER BY number")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(attempt_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let classes =
            sqlx::query("SELECT * FROM class_results WHERE computer_id = ? ORDER BY position")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(class_result_from_row)
                .collect::<Result<Vec<_>, _>>()?;

        let inv_classes: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT position, class, namespace FROM inventory_classes \
             WHERE computer_id = ? ORDER BY position",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        let instances: Vec<(i64, String)> = sqlx::query_as(
            "SELECT class_position, json FROM instances WHERE computer_id = ? \
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
            let v: serde_json::Value = serde_json::from_str(&json)
                .map_err(|e| StoreError::corrupt("instances", "json", e))?;
            let i = positions
                .iter()
                .position(|&p| p == class_pos)
                .ok_or_else(|| {
                    StoreError::corrupt("instances", "class_position", "no such class")
                })?;
            if let Some(c) = inventory.classes.get_mut(i) {
                c.instances.push(v);
            }
        }
        inventory.software = sqlx::query(
            "SELECT name, version, publisher, install_date, wow64 FROM installed_software \
             WHERE computer_id = ? ORDER BY position",
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
            "SELECT item, value FROM registry_values WHERE computer_id = ? ORDER BY position",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;

        Ok(Some(ComputerResult {
            target: row.try_get("target")?,
            address: address(&row)?,
            status: codec::status(&status, "computers", "status")?,
            failure: codec::failure_from_row(&row, "computers")?,
            attempts,
            credential: row.try_get("credential")?,
            classes,
            inventory,
            finished_ms: row.try_get("finished_ms")?,
        }))
    }

    async fn require_run(&self, run: RunId) -> Result<(), StoreError> {
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM runs WHERE id = ?")
            .bind(run)
            .fetch_optional(&self.reader)
            .await?;
        exists.map(|_| ()).ok_or(StoreError::NoSuchRun(run))
    }
}

fn run_info(row: &SqliteRow) -> Result<RunInfo, StoreError> {
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

fn address(row: &SqliteRow) -> Result<Option<IpAddr>, StoreError> {
    let a: Option<String> = row.try_get("address")?;
    a.map(|a| {
        a.parse::<IpAddr>()
            .map_err(|e| StoreError::corrupt("computers", "address", e))
    })
    .transpose()
}

fn attempt_from_row(row: &SqliteRow) -> Result<AttemptRecord, StoreError> {
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
        failure: codec::failure_from_row(row, "attempts")?,
    })
}

fn class_result_from_row(row: &SqliteRow) -> Result<ClassResult, StoreError> {
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
        error: codec::failure_from_row(row, "class_results")?,
    })
}

/// The keys every child row carries.
struct Ids<'a> {
    run: RunId,
    computer: i64,
    target: &'a str,
}

/// Every table that hangs off `computers`, children first.
const CHILD_TABLES: [&str; 11] = [
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
];

async fn delete_computer(tx: &mut Transaction<'_, Sqlite>, id: i64) -> Result<(), StoreError> {
    for table in CHILD_TABLES {
        sqlx::query(&format!("DELETE FROM {table} WHERE computer_id = ?"))
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query("DELETE FROM computers WHERE id = ?")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn insert_computer(
    tx: &mut Transaction<'_, Sqlite>,
    run: RunId,
    r: &ComputerResult,
) -> Result<i64, StoreError> {
    let sql = format!(
        "INSERT INTO computers (run_id, target, address, status, credential, finished_ms, \
         {FAILURE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
    );
    let q = sqlx::query(&sql)
        .bind(run)
        .bind(&r.target)
        .bind(r.address.map(|a| a.to_string()))
        .bind(r.status.as_str())
        .bind(&r.credential)
        .bind(r.finished_ms);
    let row = FailureCols::new(r.failure.as_ref())
        .bind(q)
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

async fn insert_attempt(
    tx: &mut Transaction<'_, Sqlite>,
    ids: &Ids<'_>,
    a: &AttemptRecord,
) -> Result<(), StoreError> {
    let order = serde_json::to_string(&a.class_order)
        .map_err(|e| StoreError::corrupt("attempts", "class_order", e))?;
    let sql = format!(
        "INSERT INTO attempts (run_id, computer_id, target, number, started_ms, duration_ms, \
         credential, class_order, outcome, failing_class, {FAILURE_COLUMNS}) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    );
    let q = sqlx::query(&sql)
        .bind(ids.run)
        .bind(ids.computer)
        .bind(ids.target)
        .bind(i64::from(a.number))
        .bind(a.started_ms)
        .bind(to_i64(a.duration_ms))
        .bind(&a.credential)
        .bind(order)
        .bind(a.outcome.as_str())
        .bind(&a.failing_class);
    FailureCols::new(a.failure.as_ref())
        .bind(q)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn insert_class_result(
    tx: &mut Transaction<'_, Sqlite>,
    ids: &Ids<'_>,
    position: usize,
    c: &ClassResult,
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO class_results (run_id, computer_id, target, position, class, namespace, \
         outcome, rows_collected, attempt, {FAILURE_COLUMNS}) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    );
    let q = sqlx::query(&sql)
        .bind(ids.run)
        .bind(ids.computer)
        .bind(ids.target)
        .bind(to_i64(position))
        .bind(&c.class)
        .bind(&c.namespace)
        .bind(c.outcome.as_str())
        .bind(to_i64(c.rows))
        .bind(i64::from(c.attempt));
    FailureCols::new(c.error.as_ref())
        .bind(q)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn insert_inventory(
    tx: &mut Transaction<'_, Sqlite>,
    ids: &Ids<'_>,
    inv: &Inventory,
) -> Result<(), StoreError> {
    for (cpos, c) in inv.classes.iter().enumerate() {
        sqlx::query(
            "INSERT INTO inventory_classes (run_id, computer_id, target, position, class, \
             namespace, instances) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(ids.run)
        .bind(ids.computer)
        .bind(ids.target)
        .bind(to_i64(cpos))
        .bind(&c.class)
        .bind(&c.namespace)
        .bind(to_i64(c.instances.len()))
        .execute(&mut **tx)
        .await?;
        for (ipos, inst) in c.instances.iter().enumerate() {
            sqlx::query(
                "INSERT INTO instances (run_id, computer_id, target, class_position, position, \
                 class, namespace, json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(ids.run)
            .bind(ids.computer)
            .bind(ids.target)
            .bind(to_i64(cpos))
            .bind(to_i64(ipos))
            .bind(&c.class)
            .bind(&c.namespace)
            .bind(inst.to_string())
            .execute(&mut **tx)
            .await?;
        }
    }
    for (i, s) in inv.software.iter().enumerate() {
        sqlx::query(
            "INSERT INTO installed_software (run_id, computer_id, target, position, name, \
             version, publisher, install_date, wow64) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(ids.run)
        .bind(ids.computer)
        .bind(ids.target)
        .bind(to_i64(i))
        .bind(&s.name)
        .bind(&s.version)
        .bind(&s.publisher)
        .bind(&s.install_date)
        .bind(s.wow64)
        .execute(&mut **tx)
        .await?;
    }
    for (i, (item, value)) in inv.registry_values.iter().enumerate() {
        sqlx::query(
            "INSERT INTO registry_values (run_id, computer_id, target, position, item, value) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(ids.run)
        .bind(ids.computer)
        .bind(ids.target)
        .bind(to_i64(i))
        .bind(item)
        .bind(value)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

async fn insert_reports(
    tx: &mut Transaction<'_, Sqlite>,
    ids: &Ids<'_>,
    inv: &Inventory,
) -> Result<(), StoreError> {
    let h = report::host(inv);
    sqlx::query(
        "INSERT INTO hosts (run_id, computer_id, target, name, domain, manufacturer, model, \
         total_physical_memory) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
         edition) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
         chassis_types) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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

    for (i, q) in report::hotfixes(inv).into_iter().enumerate() {
        sqlx::query(
            "INSERT INTO hotfixes (run_id, computer_id, target, position, hotfix_id, \
             description, installed_on) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(ids.run)
        .bind(ids.computer)
        .bind(ids.target)
        .bind(to_i64(i))
        .bind(q.hotfix_id)
        .bind(q.description)
        .bind(q.installed_on)
        .execute(&mut **tx)
        .await?;
    }
    for (i, s) in report::services(inv).into_iter().enumerate() {
        sqlx::query(
            "INSERT INTO services (run_id, computer_id, target, position, name, display_name, \
             state, start_mode, start_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(ids.run)
        .bind(ids.computer)
        .bind(ids.target)
        .bind(to_i64(i))
        .bind(s.name)
        .bind(s.display_name)
        .bind(s.state)
        .bind(s.start_mode)
        .bind(s.start_name)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
