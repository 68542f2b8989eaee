//! `winventory scan` and `status` end to end: the binary against simulated fleets over
//! loopback. Credentials from a file (the first wrong), no secret in the database, the
//! logs at trace level or the output; `kill -9` in the middle of a 2,000-host run and
//! `--resume` giving every host exactly one final status.
//!
//! Addresses: 127.0.70.x (credentials), 127.1.0.0/21 (the 2,000 hosts of the kill test,
//! served by `winventory sim` in its own process).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::HashSet;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use winv_engine::Status;
use winv_store::Store;
use winv_testsuite::cli::{start_sim, temp_dir};

const BIN: &str = env!("CARGO_BIN_EXE_winventory");

fn file_text(p: &Path) -> String {
    let mut s = Vec::new();
    if let Ok(mut f) = std::fs::File::open(p) {
        f.read_to_end(&mut s).unwrap();
    }
    String::from_utf8_lossy(&s).into_owned()
}

#[test]
fn credentials_file_first_wrong_second_right_and_no_secret_anywhere() {
    const RIGHT: &str = "Right-Scan-Pw-5521!";
    const WRONG: &str = "Wrong-Scan-Pw-7730!";
    let dir = temp_dir("scan-creds");
    let fleet = dir.join("fleet.toml");
    std::fs::write(
        &fleet,
        "[defaults]\nuser = \"LAB\\\\admin\"\npassword_env = \"WINV_SCAN_SIM_PW\"\n\n\
         [[host]]\naddress = \"127.0.70.1-127.0.70.3\"\n\n\
         [[host]]\naddress = \"127.0.70.4\"\nfaults = [{ kind = \"dcom_access_denied\" }]\n",
    )
    .unwrap();
    let (_sim, port) = start_sim(BIN, &fleet, &[("WINV_SCAN_SIM_PW", RIGHT)], &[]);
    // The wrong password in a private file, the right one in a variable.
    let wrong_file = dir.join("helpdesk.pw");
    std::fs::write(&wrong_file, format!("{WRONG}\n")).unwrap();
    std::fs::set_permissions(&wrong_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let creds = dir.join("creds");
    std::fs::write(
        &creds,
        format!(
            "# tried in order\nLAB\\helpdesk file:{}\nLAB\\admin env:WINV_SCAN_RIGHT\n",
            wrong_file.display()
        ),
    )
    .unwrap();
    let db = dir.join("inv.db");
    let out = Command::new(BIN)
        .args([
            "scan",
            "127.0.70.1-127.0.70.4",
            "127.0.70.9",
            "--credentials",
        ])
        .arg(&creds)
        .arg("--db")
        .arg(&db)
        .args([
            "--port",
            &port.to_string(),
            "--json",
            "--rate",
            "0",
            "--log",
            "trace",
        ])
        .args([
            "--connect-timeout",
            "2",
            "--call-timeout",
            "5",
            "--retry-delay",
            "0",
        ])
        .env("WINV_SCAN_RIGHT", RIGHT)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    // The run completed with failures (one access denied, one refused): exit 7.
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    let by = |t: &str| lines.iter().find(|l| l["target"] == t).unwrap().clone();
    for t in ["127.0.70.1", "127.0.70.2", "127.0.70.3"] {
        let l = by(t);
        assert_eq!(l["status"], "inventoried", "{l}");
        assert_eq!(l["credential"], "LAB\\admin", "{l}");
        assert_eq!(l["attempts"], 1);
    }
    let denied = by("127.0.70.4");
    assert_eq!(denied["status"], "access-denied");
    assert_eq!(denied["denied_by"], "dcom");
    assert_eq!(denied["phase"], "connecting");
    assert_eq!(denied["code_name"], "E_ACCESSDENIED");
    assert!(denied["remediation"]
        .as_str()
        .is_some_and(|r| !r.is_empty()));
    let refused = by("127.0.70.9");
    assert_eq!(refused["status"], "connection-refused");
    assert_eq!(refused["code"], 10061);
    // The trace log did run (it names the credentials' accounts and the stages)...
    assert!(
        stderr.contains("TRACE") || stderr.contains("DEBUG"),
        "no trace log"
    );
    // ...and no password is anywhere: output, log, database, its journal.
    let mut haystacks = vec![("stdout", stdout.clone()), ("stderr", stderr.clone())];
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("inv.db") {
            haystacks.push((Box::leak(name.into_boxed_str()), file_text(&p)));
        }
    }
    assert!(haystacks.len() >= 3, "no database files");
    for (what, text) in haystacks {
        assert!(!text.contains(RIGHT), "the right password is in {what}");
        assert!(!text.contains(WRONG), "the wrong password is in {what}");
    }
    // `status` reads the run back.
    let st = Command::new(BIN)
        .args(["status", "--json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(
        st.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let st = String::from_utf8_lossy(&st.stdout);
    assert!(
        st.contains("inventoried") && st.contains("access-denied"),
        "{st}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Counts the JSON lines `scan` has written so far, from a file it writes to.
fn count_lines(p: &Path) -> usize {
    file_text(p).lines().filter(|l| l.starts_with('{')).count()
}

#[test]
fn kill_9_in_the_middle_then_resume_gives_every_host_one_status() {
    const PW: &str = "Kill-Test-Pw-1!";
    const HOSTS: usize = 2000;
    let dir = temp_dir("scan-kill");
    let fleet = dir.join("fleet.toml");
    // 2,000 hosts, a few of them failing (a status other than inventoried must survive
    // the resume as well).
    std::fs::write(
        &fleet,
        format!(
            "[defaults]\nuser = \"LAB\\\\admin\"\npassword_env = \"WINV_KILL_PW\"\n\n\
             [mix]\nstart = \"127.1.0.1\"\ncount = {HOSTS}\nseed = 5\n\
             faults = [{{ percent = 5, kind = \"dcom_access_denied\" }}]\n"
        ),
    )
    .unwrap();
    let (_sim, port) = start_sim(BIN, &fleet, &[("WINV_KILL_PW", PW)], &[]);
    // A small profile keeps the test short; the engine's path is the same.
    let profile = dir.join("profile.toml");
    std::fs::write(
        &profile,
        "name = \"small\"\n[[wmi]]\nclass = \"Win32_OperatingSystem\"\n[[wmi]]\nclass = \"Win32_BIOS\"\n",
    )
    .unwrap();
    let db = dir.join("kill.db");
    let scan = |extra: &[&str], out: &Path| {
        Command::new(BIN)
            .arg("scan")
            .args(extra)
            .args([
                "--user",
                "LAB\\admin",
                "--password-env",
                "WINV_KILL_PW",
                "--db",
            ])
            .arg(&db)
            .arg("--profile")
            .arg(&profile)
            .args([
                "--port",
                &port.to_string(),
                "--json",
                "--quiet",
                "--rate",
                "0",
            ])
            .args([
                "--concurrency",
                "64",
                "--connect-timeout",
                "2",
                "--call-timeout",
                "5",
            ])
            .env("WINV_KILL_PW", PW)
            .stdout(std::fs::File::create(out).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap()
    };
    let first_out = dir.join("first.jsonl");
    let mut first = scan(&["127.1.0.1-127.1.7.208"], &first_out);
    // Kill it once a few hundred hosts are stored.
    let started = Instant::now();
    while count_lines(&first_out) < 300 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the scan makes no progress"
        );
        assert!(
            first.try_wait().unwrap().is_none(),
            "the scan ended before the kill"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let done_before = count_lines(&first_out);
    assert!(done_before < HOSTS, "the scan finished before the kill");
    // What the kill left: results are stored several to a transaction, and a JSON line is
    // printed only once its computer is committed. So every printed computer is stored,
    // whole (all its rows, never a part), and at most one transaction's results (32)
    // were committed without their lines being written yet.
    let printed: HashSet<String> = file_text(&first_out)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["target"].as_str().unwrap().to_string())
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let committed: HashSet<String> = rt.block_on(async {
        let store = Store::open_existing(&db).await.unwrap();
        let run = store.latest_run().await.unwrap().unwrap();
        let rows = store.computers(run.id).await.unwrap();
        let mut committed = HashSet::new();
        for row in rows {
            let r = store.computer(run.id, &row.target).await.unwrap().unwrap();
            assert!(!r.attempts.is_empty(), "{}: no attempt stored", r.target);
            match r.status {
                Status::Inventoried => {
                    assert_eq!(r.classes.len(), 2, "{}: class results", r.target);
                    assert_eq!(r.inventory.classes.len(), 2, "{}: instances", r.target);
                }
                Status::AccessDenied => assert!(r.failure.is_some(), "{}", r.target),
                other => panic!("{}: {other} before the kill", r.target),
            }
            committed.insert(r.target);
        }
        store.close().await;
        committed
    });
    let unprinted = committed.difference(&printed).count();
    assert!(
        printed.is_subset(&committed),
        "a computer printed before the kill is not stored"
    );
    assert!(
        unprinted <= 32,
        "{unprinted} computers stored but not printed: more than one transaction's"
    );

    let second_out = dir.join("second.jsonl");
    let status = scan(&["--resume"], &second_out).wait().unwrap();
    // Completed, with the access-denied hosts of the whole run: exit 7.
    assert_eq!(status.code(), Some(7), "resume failed");

    rt.block_on(async {
        let store = Store::open_existing(&db).await.unwrap();
        let run = store.latest_run().await.unwrap().unwrap();
        let rows = store.computers(run.id).await.unwrap();
        let targets: HashSet<&str> = rows.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(rows.len(), HOSTS, "one row per host");
        assert_eq!(targets.len(), HOSTS, "no duplicate rows");
        assert!(rows
            .iter()
            .all(|r| r.status != Status::InventoryNotCompleted));
        let denied = rows
            .iter()
            .filter(|r| r.status == Status::AccessDenied)
            .count();
        let ok = rows
            .iter()
            .filter(|r| r.status == Status::Inventoried)
            .count();
        assert_eq!(denied + ok, HOSTS);
        assert!(denied > 0);
        assert!(store.pending_targets(run.id).await.unwrap().is_empty());
        let summary = store.summary(run.id).await.unwrap();
        assert_eq!(summary.finished, HOSTS);
        store.close().await;
    });
    // Nothing stored before the kill, printed or not, was scanned again after it.
    let after: Vec<String> = file_text(&second_out)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["target"].as_str().unwrap().to_string())
        .collect();
    assert!(
        after.iter().all(|t| !committed.contains(t)),
        "a stored host was scanned again"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// MAP's four attempts, through the real `scan` command and its own defaults: a
/// retry-class fault that clears on the fourth attempt ends inventoried after exactly four,
/// one that never clears ends with its status after exactly four, and one that clears on
/// the second attempt needs two. Changing the number of attempts anywhere turns this red.
#[test]
fn scan_makes_maps_four_attempts() {
    const PW: &str = "Attempts-Pw-3318!";
    let dir = temp_dir("scan-attempts");
    let fleet = dir.join("fleet.toml");
    std::fs::write(
        &fleet,
        "[defaults]\nuser = \"LAB\\\\admin\"\npassword_env = \"WINV_SCAN_ATT_PW\"\n\n\
         [[host]]\naddress = \"127.0.71.1\"\n\
         faults = [{ kind = \"rpc_call_failed\", call = \"ExecQuery:Win32_BIOS\", first_attempts = 3 }]\n\n\
         [[host]]\naddress = \"127.0.71.2\"\n\
         faults = [{ kind = \"rpc_call_failed\", call = \"NTLMLogin\" }]\n\n\
         [[host]]\naddress = \"127.0.71.3\"\n\
         faults = [{ kind = \"rpc_call_failed\", call = \"RemoteCreateInstance\", first_attempts = 1 }]\n",
    )
    .unwrap();
    let (_sim, port) = start_sim(BIN, &fleet, &[("WINV_SCAN_ATT_PW", PW)], &[]);
    let db = dir.join("inv.db");
    let out = Command::new(BIN)
        .args(["scan", "127.0.71.1-127.0.71.3", "--user", "LAB\\admin"])
        .args(["--password-env", "WINV_SCAN_ATT_PW", "--db"])
        .arg(&db)
        .args(["--port", &port.to_string(), "--json", "--quiet", "--rate", "0"])
        .args(["--retry-delay", "0", "--connect-timeout", "2", "--call-timeout", "5"])
        .env("WINV_SCAN_ATT_PW", PW)
        .output()
        .unwrap();
    // One host never clears: the run completed with a failure.
    assert_eq!(out.status.code(), Some(7), "{}", String::from_utf8_lossy(&out.stderr));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = rt.block_on(async {
        let store = Store::open(&db).await.unwrap();
        let run = store.latest_run().await.unwrap().unwrap();
        let r = store.computers(run.id).await.unwrap();
        store.close().await;
        r
    });
    let by = |t: &str| {
        results
            .iter()
            .find(|c| c.target == t)
            .unwrap_or_else(|| panic!("{t} missing"))
    };
    let clears_on_4 = by("127.0.71.1");
    assert_eq!(clears_on_4.status, Status::Inventoried, "{clears_on_4:?}");
    assert_eq!(clears_on_4.attempts, 4);
    let never = by("127.0.71.2");
    assert_eq!(never.status, Status::RpcCallFailed, "{never:?}");
    assert_eq!(never.attempts, 4);
    let clears_on_2 = by("127.0.71.3");
    assert_eq!(clears_on_2.status, Status::Inventoried);
    assert_eq!(clears_on_2.attempts, 2);
    assert_eq!(winv_engine::MAX_ATTEMPTS, 4);
    // The fix for a computer whose four attempts all failed does not promise a retry.
    let status = Command::new(BIN)
        .args(["status", "--computers", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("Every attempt of the run failed this way"), "{text}");
    assert!(!text.contains("Let the retry run"), "{text}");
}

/// A scan without any account refuses to start (exit 2) instead of ending every computer as
/// no-credentials; `--no-credentials` asks for exactly that.
#[test]
fn a_scan_without_credentials_refuses_to_start() {
    let dir = temp_dir("scan-nocreds");
    let db = dir.join("inv.db");
    let out = Command::new(BIN)
        .args(["scan", "127.0.72.1", "--db"])
        .arg(&db)
        .args(["--port", "1", "--quiet", "--connect-timeout", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no credentials") && err.contains("--user"), "{err}");
    assert!(!db.exists(), "no run is created");
    let out = Command::new(BIN)
        .args(["scan", "127.0.72.1", "--no-credentials", "--db"])
        .arg(&db)
        .args(["--port", "1", "--quiet", "--connect-timeout", "1", "--json"])
        .output()
        .unwrap();
    // It ran; no computer was inventoried: exit 8.
    assert_eq!(out.status.code(), Some(8), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no-credentials"));
}

/// Resuming a stopped run without its accounts is refused and leaves the run resumable;
/// with them, every pending computer is finished exactly once.
#[test]
fn resume_without_the_runs_accounts_is_refused_and_the_run_stays_resumable() {
    const PW: &str = "Resume-Pw-7719!";
    let dir = temp_dir("scan-resume-nocreds");
    let fleet = dir.join("fleet.toml");
    std::fs::write(
        &fleet,
        "[defaults]\nuser = \"LAB\\\\admin\"\npassword_env = \"WINV_RESUME_PW\"\n\n\
         [[host]]\naddress = \"127.0.73.1-127.0.73.40\"\n\
         faults = [{ kind = \"provider_slow\", class = \"Win32_Processor\", delay_ms = 400 }]\n",
    )
    .unwrap();
    let (_sim, port) = start_sim(BIN, &fleet, &[("WINV_RESUME_PW", PW)], &[]);
    let db = dir.join("inv.db");
    let scan = |extra: &[&str], with_user: bool| {
        let mut c = Command::new(BIN);
        c.arg("scan").args(extra);
        if with_user {
            c.args(["--user", "LAB\\admin", "--password-env", "WINV_RESUME_PW"]);
        }
        c.arg("--db")
            .arg(&db)
            .args(["--port", &port.to_string(), "--quiet", "--rate", "0"])
            .args(["--concurrency", "4", "--connect-timeout", "2", "--call-timeout", "5"])
            .env("WINV_RESUME_PW", PW)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    };
    let mut first = scan(&["127.0.73.1-127.0.73.40"], true).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    first.kill().unwrap(); // SIGKILL: the run stays "running"
    first.wait().unwrap();
    let out = scan(&["--resume"], false).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("LAB\\admin") && err.contains("still resumable"), "{err}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pending_before = rt.block_on(async {
        let store = Store::open_existing(&db).await.unwrap();
        let run = store.latest_resumable_run().await.unwrap().expect("resumable");
        let p = store.pending_targets(run.id).await.unwrap().len();
        store.close().await;
        p
    });
    assert!(pending_before > 0, "the kill left pending computers");
    let out = scan(&["--resume"], true).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    rt.block_on(async {
        let store = Store::open_existing(&db).await.unwrap();
        let run = store.latest_run().await.unwrap().unwrap();
        let rows = store.computers(run.id).await.unwrap();
        assert_eq!(rows.len(), 40, "every computer once");
        let distinct: HashSet<&str> = rows.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(distinct.len(), 40);
        assert!(rows.iter().all(|r| r.status == Status::Inventoried), "{rows:?}");
        store.close().await;
    });
}
