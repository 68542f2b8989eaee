//! `--db` and `--db-password-file`: the one way every command names its database (a
//! SQLite file or a PostgreSQL URL) and the PostgreSQL password's file.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use winv_store::{DbAuth, Store, StoreError};

/// What `--db` says in every command's help.
pub const DB_HELP: &str = "The database: a SQLite file, or a PostgreSQL URL \
postgres://user@host:port/dbname?sslmode=verify-full (no password in it: the password \
comes from --db-password-file, PGPASSWORD or ~/.pgpass)";

/// The database options shared by `scan`, `status`, `report`, `serve` and `perf`.
#[derive(Args, Debug, Clone)]
pub struct DbArgs {
    #[arg(long, value_name = "PATH|URL", default_value = "winventory.db", help = DB_HELP)]
    pub db: PathBuf,

    /// A file (owner-only: chmod 600) whose first line is the PostgreSQL password.
    #[arg(long, value_name = "PATH")]
    pub db_password_file: Option<PathBuf>,
}

impl DbArgs {
    /// The password's sources besides the environment and `~/.pgpass`.
    pub fn auth(&self) -> DbAuth {
        DbAuth {
            password_file: self.db_password_file.clone(),
        }
    }

    /// Opens the database, creating a missing SQLite file (for commands that write).
    pub async fn open(&self) -> Result<Store> {
        Store::open_with(&self.db, &self.auth(), true)
            .await
            .map_err(|e| anyhow::Error::new(e).context(format!("database {}", self.shown())))
    }

    /// Opens an existing database (a missing SQLite file is "no database at PATH").
    pub async fn open_existing(&self) -> Result<Store> {
        match Store::open_with(&self.db, &self.auth(), false).await {
            Ok(s) => Ok(s),
            Err(e @ StoreError::NoDatabase { .. }) => Err(e.into()),
            Err(e) => Err(anyhow::Error::new(e).context("cannot read the database")),
        }
    }

    /// The database as shown to the user (a URL never holds a password: the store
    /// refuses one).
    pub fn shown(&self) -> String {
        self.db.display().to_string()
    }
}
