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
