//! A throwaway PostgreSQL server for tests: `initdb` and `pg_ctl` from Debian's
//! `postgresql` package (`/usr/lib/postgresql/<version>/bin`) in a temporary
//! directory, listening on 127.0.0.1 at a free port (and a Unix socket in that
//! directory), stopped and removed on drop.
//!
//! PostgreSQL refuses to run as root: under root (the test command, CI) the server runs
//! as the `postgres` system user through `runuser`, in a directory handed to it;
//! otherwise as the current user. TCP connections need the superuser `winv`'s password
//! (SCRAM-SHA-256), so the tests exercise real password authentication; the password
//! is random per server and given to tests in an owner-only file.
//!
//! Absent binaries skip the test with a message, and fail it under `CI=true`.

use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::fixtures::in_ci;

/// How long the server may take to start or stop.
const PG_CTL_WAIT_S: &str = "60";

/// The superuser the tests connect as.
pub const USER: &str = "winv";

/// A running throwaway PostgreSQL server.
#[derive(Debug)]
pub struct PgServer {
    dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
    password: String,
    password_file: PathBuf,
    /// `Some(name)`: commands run as this user through `runuser`.
    run_as: Option<String>,
}

/// The newest `/usr/lib/postgresql/<version>/bin` with `initdb`.
fn find_bin() -> Option<PathBuf> {
    let mut best: Option<(u32, PathBuf)> = None;
    for entry in std::fs::read_dir("/usr/lib/postgresql").ok()?.flatten() {
        let version: u32 = entry.file_name().to_str()?.parse().ok()?;
        let bin = entry.path().join("bin");
        if bin.join("initdb").exists()
            && bin.join("pg_ctl").exists()
            && best.as_ref().is_none_or(|(v, _)| version > *v)
        {
            best = Some((version, bin));
        }
    }
    best.map(|(_, b)| b)
}

/// The uid and gid of a user from `/etc/passwd`.
fn user_ids(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&name))
            .then(|| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))?
    })
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("bind a loopback port")?;
    Ok(l.local_addr()?.port())
}

fn random_password() -> String {
    // Not a secret worth a CSPRNG: a throwaway server on loopback for one test. Time,
    // pid and a counter keep two servers apart.
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    format!("pw-{:016x}", h.finish())
}

impl PgServer {
    /// Starts a server, or `Ok(None)` after printing why it is skipped (PostgreSQL not
    /// installed); under `CI=true` a missing PostgreSQL is an error.
    pub fn start() -> Result<Option<PgServer>> {
        let Some(bin) = find_bin() else {
            let why = "PostgreSQL not installed (no /usr/lib/postgresql/*/bin/initdb): \
                       apt-get install postgresql";
            if in_ci() {
                bail!("prerequisite missing under CI: {why}");
            }
            eprintln!("SKIPPED: {why}");
            return Ok(None);
        };
        let me = std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(0);
        let run_as = if me == 0 {
            Some("postgres".to_string())
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix("winv-pg-")
            .tempdir()
            .context("temporary directory")?;
        let data = dir.path().join("data");
        let password = random_password();
        let pwfile_server = dir.path().join("initdb-password");
        std::fs::write(&pwfile_server, format!("{password}\n"))?;
        let password_file = dir.path().join("client-password");
        std::fs::write(&password_file, format!("{password}\n"))?;
        std::fs::set_permissions(&password_file, std::fs::Permissions::from_mode(0o600))?;
        if let Some(user) = &run_as {
            let (uid, gid) =
                user_ids(user).with_context(|| format!("no user {user} in /etc/passwd"))?;
            // The server's user needs the directory (and the initdb password file); the
            // client's password file stays root's.
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))?;
            std::os::unix::fs::chown(&pwfile_server, Some(uid), Some(gid))?;
        }
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
        std::fs::set_permissions(&pwfile_server, std::fs::Permissions::from_mode(0o600))?;
        let mut server = PgServer {
            dir,
            data,
            bin,
            port: 0,
            password,
            password_file,
            run_as,
        };
        server.run(
            "initdb",
            &[
                "-D",
                &server.data.display().to_string(),
                "-U",
                USER,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                &format!("--pwfile={}", pwfile_server.display()),
            ],
        )?;
        std::fs::remove_file(&pwfile_server)?;
        // A port found free may be taken by the time the server binds it: try a few.
        let mut last = None;
        for _ in 0..5 {
            server.port = free_port()?;
            match server.pg_ctl_start() {
                Ok(()) => return Ok(Some(server)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("postgres did not start")))
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.arg("-u").arg(user).arg("--").arg(path);
                c
            }
            None => Command::new(path),
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<()> {
        let out = self
            .command(program)
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("run {program}"))?;
        if !out.status.success() {
            bail!(
                "{program} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    fn server_options(&self) -> String {
        format!(
            "-c port={} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
             -c max_connections=200 -c shared_buffers=32MB",
            self.port,
            self.dir.path().display()
        )
    }

    fn pg_ctl_start(&self) -> Result<()> {
        let log = self.dir.path().join("server.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data.display().to_string(),
                "-l",
                &log.display().to_string(),
                "-o",
                &self.server_options(),
                "-w",
                "-t",
                PG_CTL_WAIT_S,
                "start",
            ],
        )
        .with_context(|| {
            format!(
                "postgres start: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        })
    }

    /// `postgres://winv@127.0.0.1:PORT/DB` (no password: that is in
    /// [`PgServer::password_file`]).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{database}", self.port)
    }

    /// The superuser's password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// An owner-only file holding the password (for `--db-password-file`).
    pub fn password_file(&self) -> &Path {
        &self.password_file
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs SQL through `psql` on the Unix socket (trusted).
    pub fn psql(&self, database: &str, sql: &str) -> Result<String> {
        let out = self
            .command("psql")
            .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.dir.path())
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", USER, "-d", database, "-c", sql])
            .stdin(Stdio::null())
            .output()
            .context("run psql")?;
        if !out.status.success() {
            bail!("psql failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// A new empty database.
    pub fn create_database(&self, name: &str) -> Result<String> {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""))?;
        Ok(self.url(name))
    }

    /// Stops the server (fast: open connections are cut), as a restart or crash does.
    pub fn stop(&self) -> Result<()> {
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data.display().to_string(),
                "-m",
                "fast",
                "-w",
                "-t",
                PG_CTL_WAIT_S,
                "stop",
            ],
        )
    }

    /// Starts it again on the same port after [`PgServer::stop`].
    pub fn start_again(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.pg_ctl_start() {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D"])
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "-t", PG_CTL_WAIT_S, "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // TempDir removes the directory (root can remove the postgres-owned files; a
        // non-root user owns them).
    }
}
