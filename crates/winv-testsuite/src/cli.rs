//! What the command-line tests share: a scratch directory per test, a child process that
//! is killed when the test ends, and `winventory sim --fleet` in a process of its own.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A child process, killed and reaped when dropped (also when the test panics).
#[derive(Debug)]
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fresh, empty directory `winv-TAG-PID` under the system's temporary directory.
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("winv-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
    d
}

/// The first line a child writes on its standard output (which it must pipe).
pub fn first_line(child: &mut Child) -> String {
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    line
}

/// Starts `BIN sim --fleet FLEET --port 0 EXTRA...` with `env` set and waits for its ready
/// line; returns the process and the endpoint mapper port it names (`port=N`).
pub fn start_sim(bin: &str, fleet: &Path, env: &[(&str, &str)], extra: &[&str]) -> (Killed, u16) {
    let mut cmd = Command::new(bin);
    cmd.arg("sim").arg("--fleet").arg(fleet).args(["--port", "0"]).args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("start {bin} sim: {e}"));
    let mut child = Killed(child);
    let line = first_line(&mut child.0);
    let port = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("port="))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in the simulator's ready line {line:?}"));
    (child, port)
}

/// Starts `BIN serve --db DB EXTRA...` (no token in its environment; `env` added) and
/// waits for its `listening on http://ADDR/` line; returns the process and `ADDR`.
pub fn start_serve(bin: &str, db: &str, extra: &[&str], env: &[(&str, &str)]) -> (Killed, String) {
    let mut cmd = Command::new(bin);
    cmd.args(["serve", "--db", db])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("WINVENTORY_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("start {bin} serve: {e}"));
    let mut child = Killed(child);
    let line = first_line(&mut child.0);
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .and_then(|a| a.strip_suffix('/'))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    (child, addr)
}

/// A plain HTTP/1.1 GET of `path` at `addr` with `headers`: `(status, head, body)`
/// (status 0 when the answer has none).
pub fn http_get(addr: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(30)));
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())
        .unwrap_or_else(|e| panic!("send to {addr}: {e}"));
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, head.to_string(), body.to_string())
}
