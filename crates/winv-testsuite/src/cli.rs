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

/// What [`watch`] saw of a child process.
#[derive(Debug)]
pub struct Watched {
    /// How it exited.
    pub status: std::process::ExitStatus,
    /// From the call to its exit.
    pub elapsed: std::time::Duration,
    /// Its peak resident memory (VmHWM from `/proc/PID/status`), KiB; 0 if never read.
    pub hwm_kib: u64,
    /// Its user + system CPU (from `/proc/PID/stat`, 100 Hz ticks), seconds.
    pub cpu_s: f64,
}

/// A `/proc/PID/status` field in KiB (`VmHWM:`, `VmRSS:`).
pub fn proc_status_kib(pid: u32, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// User + system CPU of a process so far, seconds.
pub fn proc_cpu_s(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Waits for `child`, sampling its peak resident memory and CPU every 10 ms (the last
/// sample before it is reaped, so a short peak is still seen); kills it and panics after
/// `limit` (a hang is a failure).
pub fn watch(child: &mut Child, limit: std::time::Duration) -> Watched {
    let start = std::time::Instant::now();
    let pid = child.id();
    let mut hwm = 0;
    let mut cpu = 0.0;
    let status = loop {
        if let Some(v) = proc_status_kib(pid, "VmHWM:") {
            hwm = hwm.max(v);
        }
        if let Some(c) = proc_cpu_s(pid) {
            cpu = c;
        }
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => {}
            Err(e) => panic!("wait for {pid}: {e}"),
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {pid} still running after {:?}", start.elapsed());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    Watched {
        status,
        elapsed: start.elapsed(),
        hwm_kib: hwm,
        cpu_s: cpu,
    }
}
