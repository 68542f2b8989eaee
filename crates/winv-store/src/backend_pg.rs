//! The PostgreSQL instance of `q` (`queries.rs`), `rq` (`read_queries.rs`) and `pq`
//! (`perf_queries.rs`): the store's queries with PostgreSQL's types.

/// The driver.
pub(crate) type Db = sqlx::Postgres;
/// A result row.
pub(crate) type DbRow = sqlx::postgres::PgRow;
/// PostgreSQL locks rows, not the database: a plain transaction.
pub(crate) const BEGIN_WRITE: &str = "BEGIN";
/// A claim locks the rows it takes and skips those another scanner's open claim holds,
/// so concurrent claimers never wait for each other nor take the same target.
pub(crate) const LOCK_SKIP_LOCKED: &str = " FOR UPDATE SKIP LOCKED";
/// PostgreSQL `text` cannot hold U+0000.
pub(crate) const TEXT_REFUSES_NUL: bool = true;

/// Locks the row a transaction reads before it updates it (SQLite: the whole
/// database is locked already).
pub(crate) const LOCK_ROW: &str = " FOR UPDATE";

// INVARIANT: the same file is this backend's and the other's module on purpose:
// one source of SQL, compiled with each driver's concrete types.
#[allow(clippy::duplicate_mod)]
#[path = "queries.rs"]
pub(crate) mod q;

// INVARIANT: as `q`: the read side's one source of SQL, compiled with each driver.
#[allow(clippy::duplicate_mod)]
#[path = "read_queries.rs"]
pub(crate) mod rq;

// INVARIANT: as `q`: the performance time series' one source of SQL, compiled with each
// driver.
#[allow(clippy::duplicate_mod)]
#[path = "perf_queries.rs"]
pub(crate) mod pq;
