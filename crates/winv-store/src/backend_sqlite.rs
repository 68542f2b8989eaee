//! The SQLite instance of `q` (`queries.rs`), `rq` (`read_queries.rs`) and `pq`
//! (`perf_queries.rs`): the store's queries with SQLite's types.

/// The driver.
pub(crate) type Db = sqlx::Sqlite;
/// A result row.
pub(crate) type DbRow = sqlx::sqlite::SqliteRow;
/// Write transactions take the write lock at once: a deferred transaction that reads
/// first and then writes gets `SQLITE_BUSY` without waiting when another process wrote
/// in between; an immediate one waits for the busy timeout instead.
pub(crate) const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
/// SQLite has no row locks: `BEGIN IMMEDIATE` already serialises every writer, so a
/// claim's `SELECT` needs no locking clause.
pub(crate) const LOCK_SKIP_LOCKED: &str = "";
/// SQLite text holds any character.
pub(crate) const TEXT_REFUSES_NUL: bool = false;

/// Locks the row a transaction reads before it updates it (SQLite: the whole
/// database is locked already).
pub(crate) const LOCK_ROW: &str = "";

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
