//! [`Store`]: the database handle. Every query is in `queries.rs`, compiled once per
//! backend; this file opens the pools and sends each call to its backend, retrying a
//! PostgreSQL call whose connection failed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::ConnectOptions;
use winv_engine::{AttemptRecord, ComputerResult};

use crate::backend_pg::q as pg;
use crate::backend_sqlite::q as lite;
use crate::coord::{
    ClaimBatch, ExpiredLease, Finished, Heartbeat, Lease, QueueCounts, ScannerId, ScannerInfo,
    SiteTarget,
};
use crate::error::{is_not_a_database, StoreError};
use crate::location::{read_password_file, DbAuth, DbLocation};
use crate::model::{
    ComputerRow, InFlightChange, InFlightRow, RunId, RunInfo, RunState, RunSummary, StatusCounts,
};

/// The embedded SQLite migrations (`migrations/` of this crate).
static MIGRATOR_SQLITE: Migrator = sqlx::migrate!("./migrations");
/// The embedded PostgreSQL migrations (`migrations-postgres/`): the same versions,
/// tables and columns (a test checks it), PostgreSQL's types.
static MIGRATOR_PG: Migrator = sqlx::migrate!("./migrations-postgres");

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
/// Connections to a PostgreSQL server per process (one scanner saves and claims from
/// many tasks; the server's default limit is 100 for every scanner together).
const PG_CONNECTIONS: u32 = 8;
/// How long a PostgreSQL call waits for a connection (a new one included) before it
/// counts as one failed try.
const PG_ACQUIRE: Duration = Duration::from_secs(10);

/// How often, and how patiently, a PostgreSQL call whose connection failed is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all (1: no retry).
    pub tries: u32,
    /// The pause after the first failure; it doubles up to `max_pause`.
    pub first_pause: Duration,
    /// The longest pause.
    pub max_pause: Duration,
}

impl Default for RetryPolicy {
    /// 10 tries, pauses of 0.5 s doubling to 8 s: about a minute (plus the connection
    /// waits), enough for a server restart or a fail-over, short enough to tell the
    /// user.
    fn default() -> RetryPolicy {
        RetryPolicy {
            tries: 10,
            first_pause: Duration::from_millis(500),
            max_pause: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    pub(crate) fn pause(&self, failed: u32) -> Duration {
        let factor = 1u32 << failed.saturating_sub(1).min(16);
        self.first_pause.saturating_mul(factor).min(self.max_pause)
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Backend {
    Sqlite {
        writer: SqlitePool,
        reader: SqlitePool,
    },
    Postgres(PgPool),
}

/// A handle on one database: a SQLite file or a PostgreSQL database. Cheap to clone;
/// clones share the connections, so one `Store` serves every tokio task of a scan.
///
/// On SQLite, writes go through a single writer connection (SQLite allows one writer
/// at a time; queueing in the pool instead of in SQLite means concurrent saves never
/// fail with `SQLITE_BUSY`), reads through a small pool of reader connections. On
/// PostgreSQL, one pool of 8 connections; a call whose connection fails (server
/// restarting) is retried under the [`RetryPolicy`], then is
/// [`StoreError::Unavailable`].
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) db: Backend,
    location: Arc<DbLocation>,
    shown: Arc<PathBuf>,
    pub(crate) retry: RetryPolicy,
}

/// Sends a call to the backend's query function; on PostgreSQL, retries it while the
/// error is a connection failure.
macro_rules! on_db {
    ($self:ident, $what:literal, $f:ident($($arg:expr),* $(,)?)) => {
        match &$self.db {
            Backend::Sqlite { writer, reader } => lite::$f(writer, reader $(, $arg)*).await,
            Backend::Postgres(pool) => {
                let mut failed = 0u32;
                loop {
                    match pg::$f(pool, pool $(, $arg)*).await {
                        Err(e) if e.is_transient() => {
                            failed += 1;
                            if failed >= $self.retry.tries {
                                break Err(StoreError::Unavailable {
                                    operation: $what,
                                    tries: failed,
                                    source: Box::new(e),
                                });
                            }
                            let pause = $self.retry.pause(failed);
                            tracing::warn!(
                                operation = $what,
                                try_ = failed,
                                of = $self.retry.tries,
                                "database unreachable ({e}); retrying in {pause:?}"
                            );
                            tokio::time::sleep(pause).await;
                        }
                        other => break other,
                    }
                }
            }
        }
    };
}

impl Store {
    /// Opens the database at `path`, creating it when missing, and brings its schema up
    /// to date. A `postgres://` URL (as text in `path`) opens that server's database
    /// instead (see [`Store::open_with`]). SQLite: WAL journal, `synchronous = NORMAL`,
    /// foreign keys on, a busy timeout.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, &DbAuth::default(), true).await
    }

    /// Like [`Store::open`], but a missing SQLite file is [`StoreError::NoDatabase`]
    /// instead of a new empty database (for commands that only read).
    pub async fn open_existing(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, &DbAuth::default(), false).await
    }

    /// Opens the `--db` value `db`: a SQLite file (created when `create`), or a
    /// PostgreSQL database (`postgres://user@host:port/dbname?sslmode=...`, the
    /// password from `auth`, `PGPASSWORD` or `~/.pgpass`, never from the URL). Either
    /// way the schema is brought up to date (on PostgreSQL under the migrator's
    /// advisory lock, so scanners starting together migrate once).
    pub async fn open_with(db: &Path, auth: &DbAuth, create: bool) -> Result<Store, StoreError> {
        match DbLocation::parse(db.as_os_str())? {
            DbLocation::Sqlite(path) => {
                if !create && !path.exists() {
                    return Err(StoreError::NoDatabase { path });
                }
                Store::open_sqlite(&path, create).await
            }
            DbLocation::Postgres(url) => Store::open_pg(url, auth).await,
        }
    }

    async fn open_sqlite(path: &Path, create: bool) -> Result<Store, StoreError> {
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
        if let Err(e) = MIGRATOR_SQLITE.run(&writer).await {
            writer.close().await;
            return Err(match e {
                MigrateError::Execute(e) if is_not_a_database(&e) => open_err(e),
                e => migrate_error(path, &MIGRATOR_SQLITE, e),
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
            db: Backend::Sqlite { writer, reader },
            location: Arc::new(DbLocation::Sqlite(path.to_path_buf())),
            shown: Arc::new(path.to_path_buf()),
            retry: RetryPolicy::default(),
        })
    }

    async fn open_pg(url: String, auth: &DbAuth) -> Result<Store, StoreError> {
        let shown = PathBuf::from(&url);
        // The URL holds no password (DbLocation refused it); PGPASSWORD and ~/.pgpass
        // are read by the driver, a password file wins over both.
        let mut opts: PgConnectOptions = url.parse().map_err(|e: sqlx::Error| {
            StoreError::Location(format!("not a usable postgres url ({e})"))
        })?;
        if let Some(file) = &auth.password_file {
            opts = opts.password(&read_password_file(file)?.0);
        }
        let opts = opts
            .application_name("winventory")
            .disable_statement_logging();
        let pool = PgPoolOptions::new()
            .max_connections(PG_CONNECTIONS)
            .acquire_timeout(PG_ACQUIRE)
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Open {
                path: shown.clone(),
                source: e,
            })?;
        if let Err(e) = MIGRATOR_PG.run(&pool).await {
            pool.close().await;
            return Err(migrate_error(&shown, &MIGRATOR_PG, e));
        }
        tracing::debug!(db = %url, "store opened");
        Ok(Store {
            db: Backend::Postgres(pool),
            location: Arc::new(DbLocation::Postgres(url)),
            shown: Arc::new(shown),
            retry: RetryPolicy::default(),
        })
    }

    /// The same store with another retry policy for PostgreSQL calls.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Store {
        self.retry = retry;
        self
    }

    /// The file this store is on, or the PostgreSQL URL (without a password) as a path,
    /// for messages.
    pub fn path(&self) -> &Path {
        &self.shown
    }

    /// Where this store is.
    pub fn location(&self) -> &DbLocation {
        &self.location
    }

    /// Closes every connection (on SQLite, checkpointing the WAL into the main file).
    /// Other clones of this store can no longer be used afterwards.
    pub async fn close(&self) {
        match &self.db {
            Backend::Sqlite { writer, reader } => {
                reader.close().await;
                writer.close().await;
            }
            Backend::Postgres(pool) => pool.close().await,
        }
    }

    /// Starts a run: stores its options and its target list in order (so a resume never
    /// needs the input file) and queues every target without a site. The run starts
    /// `running`.
    pub async fn create_run(
        &self,
        targets: &[String],
        options: &serde_json::Value,
        started_ms: i64,
    ) -> Result<RunId, StoreError> {
        let targets: Vec<SiteTarget> = targets.iter().map(SiteTarget::new).collect();
        self.create_run_with_sites(&targets, options, started_ms)
            .await
    }

    /// Starts a run whose targets may belong to sites: a scanner of a site claims only
    /// that site's targets. A target listed twice is one computer (its first position
    /// and site).
    pub async fn create_run_with_sites(
        &self,
        targets: &[SiteTarget],
        options: &serde_json::Value,
        started_ms: i64,
    ) -> Result<RunId, StoreError> {
        if let Some(t) = targets
            .iter()
            .find(|t| t.site.as_deref().is_some_and(str::is_empty))
        {
            return Err(StoreError::Location(format!(
                "target {} has an empty site name",
                t.target
            )));
        }
        let id = on_db!(self, "create run", create_run(targets, options, started_ms))?;
        tracing::info!(run = id, targets = targets.len(), "run created");
        Ok(id)
    }

    /// One run.
    pub async fn run(&self, id: RunId) -> Result<Option<RunInfo>, StoreError> {
        on_db!(self, "read run", run(id))
    }

    /// The newest run.
    pub async fn latest_run(&self) -> Result<Option<RunInfo>, StoreError> {
        on_db!(self, "read runs", latest_run())
    }

    /// The newest run that is not `completed` (`running` after a crash, or `stopped`).
    pub async fn latest_resumable_run(&self) -> Result<Option<RunInfo>, StoreError> {
        on_db!(self, "read runs", latest_resumable_run())
    }

    /// The run's targets, in input order.
    pub async fn run_targets(&self, run: RunId) -> Result<Vec<String>, StoreError> {
        on_db!(self, "read targets", run_targets(run))
    }

    /// The targets still to do, in input order: those without a result, and those whose
    /// result is `inventory-not-completed`. A target listed twice appears once.
    pub async fn pending_targets(&self, run: RunId) -> Result<Vec<String>, StoreError> {
        on_db!(self, "read targets", pending_targets(run))
    }

    /// Records a computer's final result in one transaction: the computer, its attempts,
    /// class results, raw instances, registry values, installed software and (for an
    /// inventoried computer) the report tables; the target's queue row becomes `done`. A
    /// stored result of status `inventory-not-completed` for the same target is
    /// replaced, with all its rows; any other stored result is
    /// [`StoreError::AlreadyRecorded`]. (A scanner of a shared run uses
    /// [`Store::finish`] instead.)
    pub async fn save_computer(&self, run: RunId, r: &ComputerResult) -> Result<(), StoreError> {
        let mut each = on_db!(
            self,
            "save computer",
            save_computers(run, std::slice::from_ref(r))
        )?;
        each.pop().unwrap_or(Ok(()))?;
        tracing::debug!(run, target = %r.target, status = %r.status, "computer saved");
        Ok(())
    }

    /// Records several computers' final results in one transaction, each as
    /// [`Store::save_computer`] would, and says for each whether it was stored: one that
    /// cannot be (already recorded, refused by the database) is left out alone, and the
    /// others land. `Err` when the transaction itself failed or the run does not exist:
    /// then none of them was stored. Nothing is held back: the call commits before it
    /// returns, so a scan that batches only the results already waiting loses no
    /// durability per computer, only the commits in between.
    pub async fn save_computers(
        &self,
        run: RunId,
        results: &[ComputerResult],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let each = on_db!(self, "save computers", save_computers(run, results))?;
        for (r, saved) in results.iter().zip(&each) {
            if saved.is_ok() {
                tracing::debug!(run, target = %r.target, status = %r.status, "computer saved");
            }
        }
        Ok(each)
    }

    /// Sets a run's state and end time.
    pub async fn set_run_state(
        &self,
        run: RunId,
        state: RunState,
        finished_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        on_db!(
            self,
            "set run state",
            set_run_state(run, state, finished_ms)
        )?;
        tracing::info!(run, state = %state, "run state set");
        Ok(())
    }

    /// Counts per status and per profile item.
    pub async fn summary(&self, run: RunId) -> Result<RunSummary, StoreError> {
        on_db!(self, "read summary", summary(run))
    }

    /// Counts per status only (the dashboard and the reports): one indexed count over
    /// the run's computers, without [`Store::summary`]'s pass over every class result.
    pub async fn status_counts(&self, run: RunId) -> Result<StatusCounts, StoreError> {
        on_db!(self, "read summary", status_counts(run))
    }

    /// Every computer of a run with a result, in input order.
    pub async fn computers(&self, run: RunId) -> Result<Vec<ComputerRow>, StoreError> {
        on_db!(self, "read computers", computers(run))
    }

    /// One computer's full result, read back (attempts, classes, inventory).
    pub async fn computer(
        &self,
        run: RunId,
        target: &str,
    ) -> Result<Option<ComputerResult>, StoreError> {
        on_db!(self, "read computer", computer(run, target))
    }

    /// Applies a batch of in-flight changes of `run` in one transaction (a scan writes
    /// its computers' current steps at most once a second).
    pub async fn update_in_flight(
        &self,
        run: RunId,
        changes: &[InFlightChange],
    ) -> Result<(), StoreError> {
        on_db!(self, "write in-flight", update_in_flight(run, changes))
    }

    /// Renews `updated_ms` of every in-flight row of `scanner` in `run`: the scanner
    /// lives, its computers are still on their steps.
    pub async fn touch_in_flight(
        &self,
        run: RunId,
        scanner: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        on_db!(
            self,
            "touch in-flight",
            touch_in_flight(run, scanner, now_ms)
        )
    }

    /// Removes the in-flight rows of `run`: those of `scanner`, or every one (`None`).
    /// Returns how many.
    pub async fn clear_in_flight(
        &self,
        run: RunId,
        scanner: Option<&str>,
    ) -> Result<u64, StoreError> {
        on_db!(self, "clear in-flight", clear_in_flight(run, scanner))
    }

    /// The computers a running scan of `run` is working on, longest on its step first.
    pub async fn in_flight(&self, run: RunId) -> Result<Vec<InFlightRow>, StoreError> {
        on_db!(self, "read in-flight", in_flight(run))
    }

    /// The scanner that made each recorded attempt at a computer, by attempt number
    /// (`None` for attempts saved without a lease).
    pub async fn attempt_scanners(
        &self,
        run: RunId,
        target: &str,
    ) -> Result<Vec<(u32, Option<ScannerId>)>, StoreError> {
        on_db!(self, "read attempts", attempt_scanners(run, target))
    }

    // -- a run shared by several scanners (see `coord`) ---------------------------

    /// Makes this process a scanner of `run` (which must be `running`), taking only
    /// targets of `site` (`None`: only targets without a site).
    pub async fn register_scanner(
        &self,
        run: RunId,
        name: &str,
        site: Option<&str>,
        now_ms: i64,
    ) -> Result<ScannerId, StoreError> {
        let id = on_db!(
            self,
            "register scanner",
            register_scanner(run, name, site, now_ms)
        )?;
        tracing::info!(run, scanner = id, name, site, "scanner registered");
        Ok(id)
    }

    /// Records that the scanner is alive and renews every lease it holds until
    /// `now_ms + lease_ms`. The run's state tells whether to go on.
    pub async fn heartbeat(
        &self,
        scanner: ScannerId,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Heartbeat, StoreError> {
        on_db!(self, "heartbeat", heartbeat(scanner, now_ms, lease_ms))
    }

    /// Asks the run's lockout ledger for a place for a connect to `target` with the
    /// unproven `account` (see `account_ledger` in the migrations): places of scanners
    /// whose heartbeat is older than `lease_ms` (or that left) count as refusals first.
    #[allow(clippy::too_many_arguments)] // the pass's columns
    pub async fn ledger_admit(
        &self,
        scanner: ScannerId,
        account: &str,
        target: &str,
        limit: u32,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<winv_engine::work::LedgerAnswer, StoreError> {
        on_db!(
            self,
            "admit an unproven account",
            ledger_admit(scanner, account, target, limit, now_ms, lease_ms)
        )
    }

    /// Gives the place back with the connect's verdict; returns the refusals that
    /// retired the account for the whole run when this verdict did. Idempotent: a
    /// retried report counts nothing twice.
    pub async fn ledger_report(
        &self,
        scanner: ScannerId,
        account: &str,
        target: &str,
        verdict: winv_engine::guard::Verdict,
        limit: u32,
    ) -> Result<Option<u32>, StoreError> {
        on_db!(
            self,
            "report an unproven account",
            ledger_report(scanner, account, target, verdict, limit)
        )
    }

    /// Claims up to `max` targets of the scanner's site, in input order: queued ones
    /// whose retry time has come, and claimed ones whose lease expired (taken over).
    /// Each comes with a lease until `now_ms + lease_ms`. On PostgreSQL concurrent
    /// claims skip each other's rows (`FOR UPDATE SKIP LOCKED`); on SQLite they are
    /// serialised. A run that is not `running` hands out nothing.
    pub async fn claim(
        &self,
        scanner: ScannerId,
        max: u32,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<ClaimBatch, StoreError> {
        on_db!(self, "claim", claim(scanner, max, now_ms, lease_ms))
    }

    /// Gives a claimed target back to the run's queue after a retry-class attempt: the
    /// attempt's record (with this scanner), the class order of the next attempt, the
    /// time before which no scanner may retry it, and the scheduler's own retry state
    /// (JSON, opaque to the store: a remembered credential, items already collected...),
    /// handed to whichever scanner claims it next. Idempotent for the same lease.
    pub async fn requeue(
        &self,
        lease: &Lease,
        attempt: &AttemptRecord,
        class_order: &[String],
        not_before_ms: i64,
        retry_state: &serde_json::Value,
    ) -> Result<(), StoreError> {
        on_db!(
            self,
            "requeue",
            requeue(lease, attempt, class_order, not_before_ms, retry_state)
        )
    }

    /// Records a claimed target's final result (as [`Store::save_computer`]): the
    /// attempts requeued before (by any scanner) join the result's, each with its
    /// scanner. Exactly one final row per computer: a lease that lost its target is
    /// [`StoreError::LeaseLost`] and writes nothing; the same lease finishing twice (a
    /// retried call) is [`Finished::AlreadyRecorded`]. An `inventory-not-completed`
    /// result goes back to the queue.
    pub async fn finish(&self, lease: &Lease, r: &ComputerResult) -> Result<Finished, StoreError> {
        let done = on_db!(self, "finish computer", finish(lease, r))?;
        tracing::debug!(run = lease.run, target = %r.target, status = %r.status, ?done, "computer finished");
        Ok(done)
    }

    /// The scanner leaves the run: its claimed targets go back to the queue at once
    /// (instead of when their leases expire). Returns how many.
    pub async fn leave(&self, scanner: ScannerId, now_ms: i64) -> Result<u64, StoreError> {
        on_db!(self, "leave", leave(scanner, now_ms))
    }

    /// Stops a run for every scanner: their next heartbeat or claim sees `stopped`.
    pub async fn stop_run(&self, run: RunId, now_ms: i64) -> Result<(), StoreError> {
        self.set_run_state(run, RunState::Stopped, Some(now_ms))
            .await
    }

    /// Marks a running run `completed` when every target is done; true if it did (the
    /// last scanner to finish does, whichever it is).
    pub async fn complete_if_done(&self, run: RunId, now_ms: i64) -> Result<bool, StoreError> {
        on_db!(self, "complete run", complete_if_done(run, now_ms))
    }

    /// Adds the lockout guard's counts of this process to the run's accounts (names only)
    /// and keeps any retirement ([`winv_engine::guard`]).
    pub async fn save_accounts(
        &self,
        run: RunId,
        stats: &[winv_engine::AccountStats],
    ) -> Result<(), StoreError> {
        on_db!(self, "save accounts", save_accounts(run, stats))
    }

    /// The run's accounts as the lockout guard counted them, in the list's order.
    pub async fn accounts(&self, run: RunId) -> Result<Vec<winv_engine::AccountStats>, StoreError> {
        on_db!(self, "read accounts", accounts(run))
    }

    /// The run's scanners, in the order they joined.
    pub async fn scanners(&self, run: RunId) -> Result<Vec<ScannerInfo>, StoreError> {
        on_db!(self, "read scanners", scanners(run))
    }

    /// The run's queue at `now_ms`.
    pub async fn queue_counts(&self, run: RunId, now_ms: i64) -> Result<QueueCounts, StoreError> {
        on_db!(self, "read queue", queue_counts(run, now_ms))
    }

    /// Leases that expired before `now_ms` and were not taken over yet.
    pub async fn expired_leases(
        &self,
        run: RunId,
        now_ms: i64,
    ) -> Result<Vec<ExpiredLease>, StoreError> {
        on_db!(self, "read leases", expired_leases(run, now_ms))
    }

    /// Takes one connection slot of the site's budget of `per_second` connections,
    /// shared by every scanner of the site: `None` when granted, `Some(t)` when the
    /// budget of this second is spent (ask again at `t`). 0 is no cap.
    pub async fn take_connection_slot(
        &self,
        run: RunId,
        site: Option<&str>,
        per_second: u32,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        on_db!(
            self,
            "connection slot",
            take_connection_slot(run, site, per_second, now_ms)
        )
    }

    /// The database's size on disk in bytes: the SQLite file with its WAL, or
    /// PostgreSQL's `pg_database_size` (for benchmarks and `status`).
    pub async fn size_bytes(&self) -> Result<u64, StoreError> {
        match &self.db {
            Backend::Sqlite { .. } => {
                let mut n = 0;
                for suffix in ["", "-wal"] {
                    let mut p = self.shown.as_os_str().to_owned();
                    p.push(suffix);
                    n += std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                }
                Ok(n)
            }
            Backend::Postgres(pool) => {
                let n: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
                    .fetch_one(pool)
                    .await?;
                Ok(u64::try_from(n).unwrap_or(0))
            }
        }
    }

    /// Test access to the database: one `i64` from `sql` with `$1` bound to `run`.
    #[cfg(test)]
    pub(crate) async fn test_scalar(&self, sql: &str, run: i64) -> i64 {
        match &self.db {
            Backend::Sqlite { reader, .. } => {
                sqlx::query_scalar(sql).bind(run).fetch_one(reader).await
            }
            Backend::Postgres(pool) => sqlx::query_scalar(sql).bind(run).fetch_one(pool).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Test access to the database: runs a statement.
    #[cfg(test)]
    pub(crate) async fn test_execute(&self, sql: &str) {
        match &self.db {
            Backend::Sqlite { writer, .. } => sqlx::query(sql).execute(writer).await.map(|_| ()),
            Backend::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Test access to the database: every row of `sql` (with `$1` = `run` and `$2` =
    /// `target` when given), each column as text (NULL as `None`; booleans as
    /// `true`/`false`, numbers in decimal).
    #[cfg(test)]
    #[allow(clippy::unwrap_used)]
    pub(crate) async fn test_rows(
        &self,
        sql: &str,
        run: i64,
        target: Option<&str>,
    ) -> Vec<std::collections::BTreeMap<String, Option<String>>> {
        use sqlx::{Column, Row, TypeInfo, ValueRef};
        macro_rules! cells {
            ($rows:expr) => {
                $rows
                    .iter()
                    .map(|row| {
                        row.columns()
                            .iter()
                            .map(|c| {
                                let i = c.ordinal();
                                let raw = row.try_get_raw(i).unwrap();
                                let v = if raw.is_null() {
                                    None
                                } else {
                                    let declared = c.type_info().name().to_ascii_uppercase();
                                    let t = if declared.contains("BOOL") {
                                        declared
                                    } else {
                                        raw.type_info().name().to_ascii_uppercase()
                                    };
                                    Some(if t.contains("BOOL") {
                                        row.try_get::<bool, _>(i).unwrap().to_string()
                                    } else if t == "INT4" || t == "INT2" {
                                        row.try_get::<i32, _>(i).unwrap().to_string()
                                    } else if t.contains("INT") {
                                        row.try_get::<i64, _>(i).unwrap().to_string()
                                    } else {
                                        row.try_get::<String, _>(i).unwrap()
                                    })
                                };
                                (c.name().to_string(), v)
                            })
                            .collect()
                    })
                    .collect()
            };
        }
        match &self.db {
            Backend::Sqlite { reader, .. } => {
                let mut q = sqlx::query(sql).bind(run);
                if let Some(t) = target {
                    q = q.bind(t);
                }
                let rows = q.fetch_all(reader).await.unwrap();
                cells!(rows)
            }
            Backend::Postgres(pool) => {
                let mut q = sqlx::query(sql).bind(run);
                if let Some(t) = target {
                    q = q.bind(t);
                }
                let rows = q.fetch_all(pool).await.unwrap();
                cells!(rows)
            }
        }
    }
}

fn migrate_error(shown: &Path, migrator: &Migrator, e: MigrateError) -> StoreError {
    let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    match e {
        MigrateError::VersionMissing(found) => StoreError::NewerSchema {
            path: shown.to_path_buf(),
            found,
            known,
        },
        e => StoreError::Migrate {
            path: shown.to_path_buf(),
            source: e,
        },
    }
}

/// The migrations of both backends, for the test that they match.
#[cfg(test)]
pub(crate) fn migrators() -> [&'static Migrator; 2] {
    [&MIGRATOR_SQLITE, &MIGRATOR_PG]
}
