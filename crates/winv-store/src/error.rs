//! The store's one error type.

use std::path::PathBuf;

use crate::model::RunId;

/// Everything that can go wrong in the store. Messages never hold a secret: the store
/// holds none.
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
