//! What a script can trust, through the real binary against simulated hosts on loopback:
//! one target parser for `scan` and `discover` (a bad line is reported whole, never split
//! into words), every exit code of `scan` (0, 7, 8, 2, 1, 130), results on standard
//! output and diagnostics on standard error, the plain progress line without a terminal,
//! the exit-code table in every command's help, and `sim` refusing to start without its
//! password variable.
//!
//! Addresses: 127.0.78.x. Names are resolved through `--dns-server 127.0.0.1:9` (nothing
//! listens there): no lookup leaves the machine, even before the parser was fixed.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use winv_store::Store;
use winv_testsuite::cli::{temp_dir, Killed};

const BIN: &str = env!("CARGO_BIN_EXE_winventory");
const PW_ENV: &str = "WINV_OUTPUT_CLI_PW";
const PW: &str = "Output-Cli-Pw-4471!";

/// `winventory sim --fleet` on an ephemeral port: the child and the port.
fn start_sim(dir: &Path, fleet_text: &str) -> (Killed, u16) {
    let fleet = dir.join("fleet.toml");
    std::fs::write(&fleet, fleet_text).unwrap();
    winv_testsuite::cli::start_sim(BIN, &fleet, &[(PW_ENV, PW)], &[])
}

fn fleet(hosts: &[(&str, &str)]) -> String {
    let mut s = format!("[defaults]\nuser = \"LAB\\\\admin\"\npassword_env = \"{PW_ENV}\"\n");
    for (addr, faults) in hosts {
        s.push_str(&format!(
            "\n[[host]]\naddress = \"{addr}\"\nfaults = [{faults}]\n"
        ));
    }
    s
}

/// A small profile: two classes keep each scan short.
fn profile(dir: &Path) -> PathBuf {
    let p = dir.join("profile.toml");
    std::fs::write(
        &p,
        "name = \"small\"\n[[wmi]]\nclass = \"Win32_OperatingSystem\"\n[[wmi]]\nclass = \"Win32_BIOS\"\n",
    )
    .unwrap();
    p
}

/// `winventory scan` with the account, the simulator's port and short deadlines.
fn scan(dir: &Path, port: u16, db: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("scan")
        .args(extra)
        .args(["--user", "LAB\\admin", "--password-env", PW_ENV, "--db"])
        .arg(dir.join(db))
        .arg("--profile")
        .arg(profile(dir))
        .args([
            "--port",
            &port.to_string(),
            "--rate",
            "0",
            "--retry-delay",
            "0",
        ])
        .args(["--connect-timeout", "2", "--call-timeout", "5"])
        .args(["--dns-server", "127.0.0.1:9"])
        .env(PW_ENV, PW)
        .stdin(Stdio::null());
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn show(o: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", text(&o.stdout), text(&o.stderr))
}

/// The targets a run was created with, from the database.
fn run_targets(db: &Path) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::open_existing(db).await.unwrap();
        let run = store.latest_run().await.unwrap().unwrap();
        let mut t: Vec<String> = store
            .computers(run.id)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.target)
            .collect();
        t.extend(store.pending_targets(run.id).await.unwrap());
        store.close().await;
        t
    })
}

/// The target file (CRLF line ends, a comment, a blank line) and a file of bad
/// lines only.
fn target_files(dir: &Path) -> (PathBuf, PathBuf) {
    let file = dir.join("targets.txt");
    std::fs::write(&file, "# lab\r\n127.0.78.1\r\nnot a host name!\r\n\r\n").unwrap();
    let bad = dir.join("bad.txt");
    std::fs::write(&bad, "not a host name!\npc1, pc2\n").unwrap();
    (file, bad)
}

/// How a bad line is reported, by both commands.
fn bad_line_report(file: &Path) -> String {
    format!(
        "winventory: {}: line 3: invalid target \"not a host name!\" (skipped)",
        file.display()
    )
}

/// `scan`: `not a host name!` was split into `not`, `a`, `host` (looked up in DNS and
/// scanned) and `name!` (reported). Now the line is reported whole with the file's name and
/// its number and nothing of it is scanned; a file of bad lines only is exit 2 and
/// creates no database.
#[test]
fn scan_reports_a_bad_target_line_whole_and_skips_it() {
    let dir = temp_dir("out-targets");
    let (_sim, port) = start_sim(&dir, &fleet(&[("127.0.78.1", "")]));
    let (file, bad) = target_files(&dir);
    let out = scan(
        &dir,
        port,
        "a.db",
        &["--json", "--targets", file.to_str().unwrap()],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let err = text(&out.stderr);
    assert!(err.contains(&bad_line_report(&file)), "{err}");
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{}", show(&out));
    assert_eq!(lines[0]["target"], "127.0.78.1");
    assert_eq!(lines[0]["status"], "inventoried");
    assert_eq!(run_targets(&dir.join("a.db")), ["127.0.78.1"]);

    let out = scan(&dir, port, "b.db", &["--targets", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = text(&out.stderr);
    assert!(err.contains("line 1:") && err.contains("line 2:"), "{err}");
    assert!(err.contains("no valid target"), "{err}");
    assert!(
        !dir.join("b.db").exists(),
        "a refused target list creates no database"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `discover` reads the same file the same way (it exited 2 for any bad line before):
/// the bad line reported as `scan` reports it, the valid targets written, exit 0; only
/// bad lines: exit 2. Standard input is named as such.
#[test]
fn discover_reports_a_bad_target_line_as_scan_does() {
    let dir = temp_dir("out-discover");
    let (file, bad) = target_files(&dir);
    let out = Command::new(BIN)
        .args(["discover", "--targets"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        text(&out.stderr).contains(&bad_line_report(&file)),
        "{}",
        show(&out)
    );
    let hosts: Vec<String> = text(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    assert_eq!(hosts, ["127.0.78.1"]);
    let out = Command::new(BIN)
        .args(["discover", "--targets"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(text(&out.stderr).contains("no valid target"));
    let mut child = Command::new(BIN)
        .args(["discover", "--targets", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"pc1\nbad name\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("standard input: line 2: invalid target \"bad name\""),
        "{}",
        show(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every exit code of `scan` but 130 (below): 0 when every computer was inventoried, 7
/// when some failed, 8 when none was inventoried, 2 for a bad target argument, 1 for a
/// database that cannot be opened. Before, the three runs all exited 0.
#[test]
fn scan_exit_codes_say_how_the_run_ended() {
    let dir = temp_dir("out-codes");
    let (_sim, port) = start_sim(
        &dir,
        &fleet(&[
            ("127.0.78.11", ""),
            ("127.0.78.12", "{ kind = \"dcom_access_denied\" }"),
        ]),
    );
    let code = |db: &str, targets: &[&str]| {
        let out = scan(&dir, port, db, targets).output().unwrap();
        (out.status.code(), show(&out))
    };
    let (c, o) = code("ok.db", &["127.0.78.11"]);
    assert_eq!(c, Some(0), "{o}");
    let (c, o) = code("some.db", &["127.0.78.11-127.0.78.12"]);
    assert_eq!(c, Some(7), "{o}");
    let (c, o) = code("none.db", &["127.0.78.12", "127.0.78.19"]);
    assert_eq!(c, Some(8), "{o}");
    let (c, o) = code("usage.db", &["127.0.78.11", "two words"]);
    assert_eq!(c, Some(2), "{o}");
    assert!(o.contains("target argument \"two words\""), "{o}");
    let (c, o) = code("no/such/dir/x.db", &["127.0.78.11"]);
    assert_eq!(c, Some(1), "{o}");
    // `--user LAB\admin` unquoted arrives as `LABadmin`: every logon is refused (exit 8)
    // and the end of the run says what the shell did with the backslash.
    let out = Command::new(BIN)
        .args([
            "scan",
            "127.0.78.11",
            "--user",
            "LABadmin",
            "--password-env",
            PW_ENV,
        ])
        .arg("--db")
        .arg(dir.join("unquoted.db"))
        .args([
            "--port",
            &port.to_string(),
            "--rate",
            "0",
            "--retry-delay",
            "0",
        ])
        .args(["--connect-timeout", "2", "--call-timeout", "5"])
        .env(PW_ENV, PW)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(8), "{}", show(&out));
    let err = text(&out.stderr);
    assert!(err.contains("account \"LABadmin\""), "{err}");
    assert!(err.contains("drops an unquoted backslash"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Ctrl-C (SIGINT) stops the scan: exit 130, the run resumable; without a terminal the
/// stop is said on standard error and a plain progress line (done/total, in flight) is
/// written every --progress-interval seconds while the hosts are slow.
#[test]
fn ctrl_c_exits_130_and_a_plain_progress_line_runs_without_a_terminal() {
    let dir = temp_dir("out-stop");
    let (_sim, port) = start_sim(
        &dir,
        &fleet(&[(
            "127.0.78.21-127.0.78.40",
            "{ kind = \"provider_slow\", class = \"Win32_BIOS\", delay_ms = 1500 }",
        )]),
    );
    let child = scan(
        &dir,
        port,
        "stop.db",
        &[
            "127.0.78.21-127.0.78.40",
            "--concurrency",
            "2",
            "--progress-interval",
            "1",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut child = Killed(child);
    let pid = child.0.id();
    let stderr = child.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let mut seen = Vec::new();
    // Two progress lines, then Ctrl-C.
    while seen
        .iter()
        .filter(|l: &&String| l.starts_with("progress: "))
        .count()
        < 2
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no progress line: {seen:?}"
        );
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(l);
        }
    }
    let progress = seen.iter().find(|l| l.starts_with("progress: ")).unwrap();
    assert!(progress.contains("/20 done"), "{progress}");
    assert!(progress.contains("in flight"), "{progress}");
    assert!(!progress.contains('\x1b'), "{progress}");
    let kill = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.0.wait().unwrap();
    seen.extend(rx.iter());
    assert_eq!(status.code(), Some(130), "{seen:?}");
    assert!(
        seen.iter()
            .any(|l| l.contains("stopping:") && l.contains("--resume")),
        "{seen:?}"
    );
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.0.stdout.take().unwrap(), &mut stdout).unwrap();
    // The summary is on standard output.
    assert!(
        stdout.contains("stopped") || stdout.contains("pending"),
        "{stdout}"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::open_existing(&dir.join("stop.db")).await.unwrap();
        let run = store.latest_resumable_run().await.unwrap();
        assert!(run.is_some(), "the stopped run is resumable");
        store.close().await;
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// The summary goes to standard output (a file of it is not empty), with --json standard
/// output holds only JSON lines, and nothing carries an ANSI code into a file.
#[test]
fn summary_on_stdout_json_alone_with_json_and_no_ansi_in_files() {
    let dir = temp_dir("out-streams");
    let (_sim, port) = start_sim(&dir, &fleet(&[("127.0.78.51-127.0.78.52", "")]));
    let out = scan(&dir, port, "s.db", &["127.0.78.51-127.0.78.52"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("inventoried"), "{}", show(&out));
    assert!(!text(&out.stderr).contains("inventoried"), "{}", show(&out));
    let out = scan(&dir, port, "j.db", &["127.0.78.51-127.0.78.52", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    for l in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert_eq!(v["status"], "inventoried");
    }
    assert!(
        text(&out.stderr).contains("inventoried"),
        "the summary moved to stderr"
    );
    // Warnings through tracing: no colour codes when stderr is a file.
    let out = Command::new(BIN)
        .args(["scan", "127.0.78.59", "--no-credentials", "--db"])
        .arg(dir.join("w.db"))
        .args(["--port", "1", "--connect-timeout", "1"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(
        err.contains("WARN") || err.contains("no credentials"),
        "{err}"
    );
    assert!(
        !err.contains('\x1b') && !text(&out.stdout).contains('\x1b'),
        "{err:?}"
    );
    assert_eq!(out.status.code(), Some(8), "{}", show(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `demo > out`: the file holds the summary and where to look next.
#[test]
fn demo_summary_goes_to_stdout() {
    let dir = temp_dir("out-demo");
    let out = Command::new(BIN)
        .args([
            "demo", "--hosts", "3", "--silent", "1", "--seed", "7", "--db",
        ])
        .arg(dir.join("demo.db"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("inventory database:"), "{}", show(&out));
    assert!(stdout.contains("connection-refused"), "{}", show(&out));
    assert!(!text(&out.stderr).contains("inventory database:"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A demo larger than the open-files limit allows is refused before it starts, with the
/// most hosts that fit (under `prlimit --nofile=1024`: 2 listeners per host, 6 sockets per
/// computer in flight at the default 64, 128 for the rest), instead of "too many open
/// files" half-way; nothing is written.
#[test]
fn a_demo_that_does_not_fit_the_open_files_limit_says_how_many_hosts_do() {
    let dir = temp_dir("out-demo-limit");
    let out = Command::new("prlimit")
        .arg("--nofile=1024:1024")
        .arg(BIN)
        .args(["demo", "--hosts", "600", "--db"])
        .arg(dir.join("demo.db"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = text(&out.stderr);
    assert!(err.contains("--hosts 600 needs about 1712 open files"), "{err}");
    assert!(err.contains("may open 1024 (ulimit -n): give --hosts 256 or fewer"), "{err}");
    assert!(!dir.join("demo.db").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The exit-code table ends every command's help, the same text everywhere.
#[test]
fn every_help_ends_with_the_exit_code_table() {
    let table = |cmd: &[&str]| {
        let out = Command::new(BIN).args(cmd).arg("--help").output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{cmd:?}");
        let t = text(&out.stdout);
        let start = t
            .find("Exit codes (the same for every command):")
            .unwrap_or_else(|| panic!("{cmd:?}: {t}"));
        t[start..].trim_end().to_string()
    };
    let top = table(&[]);
    assert!(
        top.contains("7    scan: the run completed; some computers failed"),
        "{top}"
    );
    assert!(top.contains("130  stopped by Ctrl-C"), "{top}");
    for cmd in [
        "scan", "status", "demo", "diagnose", "trace", "explain", "discover", "sim", "query",
        "decode", "perf", "report", "serve",
    ] {
        assert_eq!(table(&[cmd]), top, "{cmd}");
    }
}

/// Runs `cmd` for at most 20 seconds (killed after that): its output.
fn within(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    child.wait_with_output().unwrap()
}

/// `winventory sim` with its password variable unset would print "ready" and refuse every
/// logon; it refuses to start instead (exit 2), naming the variable.
#[test]
fn sim_refuses_to_start_without_its_password_variable() {
    let dir = temp_dir("out-sim-pw");
    let f = dir.join("fleet.toml");
    std::fs::write(&f, fleet(&[("127.0.78.61", "")])).unwrap();
    // Before, it printed "ready" and served until Ctrl-C: bounded here.
    let out = within(
        Command::new(BIN)
            .args(["sim", "--fleet", f.to_str().unwrap(), "--port", "0"])
            .env_remove(PW_ENV),
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(!text(&out.stdout).contains("ready"), "{}", show(&out));
    let err = text(&out.stderr);
    assert!(err.contains(PW_ENV) && err.contains("not set"), "{err}");
    let out = within(
        Command::new(BIN)
            .args([
                "sim",
                "--address",
                "127.0.78.62",
                "--password-env",
                "WINV_OUTPUT_UNSET",
            ])
            .args(["--port", "0"])
            .env_remove("WINV_OUTPUT_UNSET"),
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(text(&out.stderr).contains("WINV_OUTPUT_UNSET"));
    let _ = std::fs::remove_dir_all(&dir);
}
