//! Where the database is: the `--db` value of every command, a SQLite file path or a
//! `postgres://` URL, and where a PostgreSQL password comes from (pure but for reading
//! the password file).
//!
//! A password never travels on the command line: a URL that holds one
//! (`postgres://user:secret@host/db` or `?password=`) is refused, before any
//! connection and without echoing it. The password comes, in this order, from
//! `--db-password-file` (a file readable by its owner only, owned by the user running
//! winventory), `PGPASSWORD`, or `~/.pgpass` (`PGPASSFILE`), which the driver reads and
//! ignores when others can read it, as libpq does. TLS is the URL's `sslmode`
//! (`disable`, `prefer` (the default), `require`, `verify-ca`, `verify-full`, with
//! `sslrootcert=`), against the system's CA store.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::StoreError;

/// Connection parameters a URL may carry (the driver's own names). Anything else is
/// refused: a mistyped parameter would otherwise be ignored, and logged with its value.
const KNOWN_PARAMETERS: [&str; 16] = [
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "application_name",
    "statement-cache-capacity",
];

/// The largest password file read (a password is one line).
const PASSWORD_FILE_MAX: u64 = 4096;

/// A parsed `--db` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DbLocation {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL server: the URL as given (it holds no password).
    Postgres(String),
}

impl DbLocation {
    /// `postgres://` or `postgresql://` is a PostgreSQL URL (checked: no password, known
    /// parameters only); anything else is a SQLite file path.
    pub fn parse(value: &OsStr) -> Result<DbLocation, StoreError> {
        let Some(text) = value.to_str() else {
            return Ok(DbLocation::Sqlite(PathBuf::from(value)));
        };
        let lower = text.get(..13).unwrap_or(text).to_ascii_lowercase();
        if !(lower.starts_with("postgres://") || lower.starts_with("postgresql://")) {
            if lower.contains("://") && !Path::new(text).exists() {
                // sqlite://, mysql://... are not paths a user means.
                let scheme = text.split("://").next().unwrap_or("");
                if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(StoreError::Location(format!(
                        "{scheme}:// is not supported: give a file path or a postgres:// url"
                    )));
                }
            }
            return Ok(DbLocation::Sqlite(PathBuf::from(value)));
        }
        let url = url::Url::parse(text)
            .map_err(|e| StoreError::Location(format!("not a valid postgres url ({e})")))?;
        if url.password().is_some() {
            return Err(password_in_url());
        }
        for (key, _) in url.query_pairs() {
            if key.eq_ignore_ascii_case("password") {
                return Err(password_in_url());
            }
            if !KNOWN_PARAMETERS.contains(&&*key) && !key.starts_with("options") {
                return Err(StoreError::Location(format!(
                    "unknown connection parameter {:?} in the postgres url",
                    key.chars().take(40).collect::<String>()
                )));
            }
        }
        Ok(DbLocation::Postgres(text.to_string()))
    }

    /// How the location is shown in messages (a URL holds no password here).
    pub fn display(&self) -> String {
        match self {
            DbLocation::Sqlite(p) => p.display().to_string(),
            DbLocation::Postgres(u) => u.clone(),
        }
    }

    /// True for a PostgreSQL server.
    pub fn is_postgres(&self) -> bool {
        matches!(self, DbLocation::Postgres(_))
    }
}

fn password_in_url() -> StoreError {
    StoreError::Location(
        "the postgres url holds a password: give it through PGPASSWORD, \
         --db-password-file or ~/.pgpass instead"
            .into(),
    )
}

/// Where a PostgreSQL password comes from besides `PGPASSWORD` and `~/.pgpass`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DbAuth {
    /// `--db-password-file`: the first line of this file is the password.
    pub password_file: Option<PathBuf>,
}

/// A password read from a file; never printed (its `Debug` hides it).
pub(crate) struct Password(pub(crate) String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

/// Reads a password file: a regular file, owned by the user running winventory and
/// readable by nobody else (`chmod 600`), at most 4 KiB; its first line without the
/// line end is the password.
pub(crate) fn read_password_file(path: &Path) -> Result<Password, StoreError> {
    let bad = |detail: String| StoreError::PasswordFile {
        path: path.to_path_buf(),
        detail,
    };
    let file = std::fs::File::open(path).map_err(|e| bad(format!("cannot open ({e})")))?;
    let meta = file
        .metadata()
        .map_err(|e| bad(format!("cannot read ({e})")))?;
    if !meta.is_file() {
        return Err(bad("not a regular file".into()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let mode = meta.mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(bad(format!(
                "readable by others (mode {mode:03o}): chmod 600 it"
            )));
        }
        // The owner of /proc/self is the user this process runs as.
        if let Ok(me) = std::fs::metadata("/proc/self") {
            if me.uid() != meta.uid() {
                return Err(bad(format!(
                    "owned by uid {}, not by the user running winventory (uid {})",
                    meta.uid(),
                    me.uid()
                )));
            }
        }
    }
    let mut text = String::new();
    file.take(PASSWORD_FILE_MAX + 1)
        .read_to_string(&mut text)
        .map_err(|e| bad(format!("cannot read ({e})")))?;
    if text.len() as u64 > PASSWORD_FILE_MAX {
        return Err(bad("larger than 4 KiB: not a password file".into()));
    }
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err(bad("empty first line".into()));
    }
    Ok(Password(line.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<DbLocation, StoreError> {
        DbLocation::parse(OsStr::new(s))
    }

    #[test]
    fn paths_and_urls_are_told_apart() {
        assert_eq!(
            parse("winventory.db").unwrap(),
            DbLocation::Sqlite("winventory.db".into())
        );
        assert_eq!(
            parse("/var/lib/x/inv.db").unwrap(),
            DbLocation::Sqlite("/var/lib/x/inv.db".into())
        );
        for u in [
            "postgres://scan@db.lab.example/winv",
            "postgresql://scan@127.0.0.1:5433/winv?sslmode=verify-full&sslrootcert=/etc/ca.pem",
            "POSTGRES://scan@[::1]/winv?host=/run/postgresql",
        ] {
            assert_eq!(parse(u).unwrap(), DbLocation::Postgres(u.into()), "{u}");
            assert!(parse(u).unwrap().is_postgres());
        }
        let e = parse("mysql://x@y/z").unwrap_err().to_string();
        assert!(e.contains("mysql:// is not supported"), "{e}");
    }

    #[test]
    fn a_password_in_the_url_is_refused_without_echoing_it() {
        for u in [
            "postgres://scan:Sup3rS3cret@db/winv",
            "postgres://scan@db/winv?password=Sup3rS3cret",
            "postgres://scan@db/winv?sslmode=require&PASSWORD=Sup3rS3cret",
        ] {
            let e = parse(u).unwrap_err().to_string();
            assert!(e.contains("holds a password"), "{e}");
            assert!(!e.contains("Sup3rS3cret"), "{e}");
        }
        let e = parse("postgres://scan@db/winv?pasword=Sup3rS3cret")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown connection parameter \"pasword\""),
            "{e}"
        );
        assert!(!e.contains("Sup3rS3cret"), "{e}");
    }

    #[test]
    fn a_password_file_must_be_private_and_is_never_shown() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("winv-pwfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("pw");
        std::fs::write(&f, "Sup3rS3cret\nsecond line\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_password_file(&f).unwrap_err().to_string();
        assert!(e.contains("readable by others (mode 644)"), "{e}");
        assert!(!e.contains("Sup3rS3cret"));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let p = read_password_file(&f).unwrap();
        assert_eq!(p.0, "Sup3rS3cret");
        assert_eq!(format!("{p:?}"), "Password(..)");
        std::fs::write(&f, "\n").unwrap();
        assert!(read_password_file(&f)
            .unwrap_err()
            .to_string()
            .contains("empty first line"));
        std::fs::write(&f, vec![b'x'; 5000]).unwrap();
        assert!(read_password_file(&f)
            .unwrap_err()
            .to_string()
            .contains("larger than 4 KiB"));
        assert!(read_password_file(&dir)
            .unwrap_err()
            .to_string()
            .contains("not a regular file"));
        assert!(read_password_file(&dir.join("none"))
            .unwrap_err()
            .to_string()
            .contains("cannot open"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
