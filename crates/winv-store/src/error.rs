//! The store's one error type.

use std::path::PathBuf;

use crate::coord::ScannerId;
use crate::model::{RunId, RunState};

/// Everything that can go wrong in the store. Messages never hold a secret: the store
/// holds none, a database URL with a password is refused before anything else, and a
/// location is always shown as given without one (`path` below is the file or that URL).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// `open_existing` on a path where no file is.
    #[error("no database at {}", path.display())]
    NoDatabase {
        /// The path given.
        path: PathBuf,
    },
    /// The file exists but SQLite cannot read it as a database (not SQLite, or damaged).
    #[error("{} is not a winventory database (not sqlite, or damaged): {detail}", path.display())]
    NotADatabase {
        /// The path given.
        path: PathBuf,
        /// SQLite's message.
        detail: String,
    },
    /// The database was written by a newer winventory: it has a migration this one does
    /// not know.
    #[error(
        "database {} has schema version {found}, newer than this winventory knows ({known}); \
         use a newer winventory",
        path.display()
    )]
    NewerSchema {
        /// The path given.
        path: PathBuf,
        /// The unknown schema version found in the file.
        found: i64,
        /// The newest schema version this build knows.
        known: i64,
    },
    /// The file could not be opened or created (permissions, missing directory...).
    #[error("cannot open database {}: {source}", path.display())]
    Open {
        /// The path given.
        path: PathBuf,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// Bringing the schema up to date failed.
    #[error("cannot migrate database {}: {source}", path.display())]
    Migrate {
        /// The path given.
        path: PathBuf,
        /// The migrator's error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// The `--db` value cannot be used (a URL that is not PostgreSQL's, holds a password,
    /// or names an unknown parameter). Never echoes a password.
    #[error("bad database location: {0}")]
    Location(String),
    /// The `--db-password-file` cannot be used (missing, readable by others, empty).
    #[error("database password file {}: {detail}", path.display())]
    PasswordFile {
        /// The file.
        path: PathBuf,
        /// What is wrong (never its content).
        detail: String,
    },
    /// The database server stayed unreachable through every retry (PostgreSQL
    /// restarting, network down).
    #[error("database unavailable after {tries} tries ({operation}): {source}")]
    Unavailable {
        /// What was being done.
        operation: &'static str,
        /// How many times it was tried.
        tries: u32,
        /// The last error.
        #[source]
        source: Box<StoreError>,
    },
    /// No run with this id.
    #[error("no run {0}")]
    NoSuchRun(RunId),
    /// The computer already has a final result in this run (only a result of status
    /// `inventory-not-completed` is replaced).
    #[error("computer {target} already recorded in this run")]
    AlreadyRecorded {
        /// The target.
        target: String,
    },
    /// The run is not running (stopped or completed): no scanner may join it.
    #[error("run {run} is {state}")]
    RunNotRunning {
        /// The run.
        run: RunId,
        /// Its state.
        state: RunState,
    },
    /// No scanner with this id.
    #[error("no scanner {0}")]
    NoSuchScanner(ScannerId),
    /// The scanner left the run; it must register again.
    #[error("scanner {0} left its run")]
    ScannerLeft(ScannerId),
    /// The target is not in the run.
    #[error("no target {target} in run {run}")]
    NoSuchTarget {
        /// The run.
        run: RunId,
        /// The target.
        target: String,
    },
    /// The lease is no longer this scanner's: it expired and another scanner took the
    /// target over (or finished it). The caller drops the computer; nothing was written.
    #[error("lease on {target} lost by scanner {scanner}")]
    LeaseLost {
        /// The target.
        target: String,
        /// The scanner that held the lease.
        scanner: ScannerId,
    },
    /// A stored value that this build cannot read back (an unknown identifier, bad JSON).
    #[error("corrupt value in {table}.{column}: {detail}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// Any other database error.
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

impl StoreError {
    pub(crate) fn corrupt(
        table: &'static str,
        column: &'static str,
        detail: impl ToString,
    ) -> Self {
        StoreError::Corrupt {
            table,
            column,
            detail: detail.to_string(),
        }
    }
}

impl StoreError {
    /// A failure of the connection to the server rather than of the statement:
    /// retrying after a pause may succeed (PostgreSQL restarting, a dropped
    /// connection, a serialization failure or deadlock that rolled back).
    pub fn is_transient(&self) -> bool {
        let StoreError::Sql(e) = self else {
            return false;
        };
        match e {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Protocol(_) => true,
            sqlx::Error::Database(d) => d.code().is_some_and(|c| {
                // SQLSTATE class 08 (connection exception), 57P01-57P03 (admin or crash
                // shutdown, cannot connect now), 40001 / 40P01 (serialization failure,
                // deadlock), 53300 (too many connections).
                c.starts_with("08")
                    || matches!(
                        &*c,
                        "57P01" | "57P02" | "57P03" | "40001" | "40P01" | "53300"
                    )
            }),
            _ => false,
        }
    }
}

/// SQLite's primary result code of a driver error, if it is a database error.
pub(crate) fn sqlite_code(e: &sqlx::Error) -> Option<i64> {
    match e {
        sqlx::Error::Database(d) => d.code()?.parse::<i64>().ok().map(|c| c & 0xff),
        _ => None,
    }
}

/// `SQLITE_CORRUPT` and `SQLITE_NOTADB`.
pub(crate) fn is_not_a_database(e: &sqlx::Error) -> bool {
    matches!(sqlite_code(e), Some(11) | Some(26))
}
