//! Several `winventory scan` processes sharing one run through the database (`--shared`,
//! `--join`): on SQLite and on a real PostgreSQL, with a scanner killed with `kill -9`
//! in the middle, and with sites. Each run is compared with what one scanner alone gives
//! for the same fleet (a fresh simulator each time: a fault that clears after N
//! activations counts from zero again).
//!
//! Addresses: 127.20.0.1-240 (SQLite), 127.21.0.1-127.21.11.184 (PostgreSQL, 3,000
//! hosts), 127.22.0.1-20 and 127.22.1.1-20 (sites), 127.23.0.1-240 (a PostgreSQL
//! restart), 127.24.0.1-120 (`winventory stop`),
//! 127.25.0.1-80 (a rate shared by two scanners).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use winv_engine::Status;
use winv_sim::fleet::Fleet;
use winv_sim::server::ListenOptions;
use winv_store::{DbAuth, RunId, Store};
use winv_testsuite::cli::{temp_dir, Killed};
use winv_testsuite::pg::PgServer;
use winv_testsuite::sim::SimHandle;

const BIN: &str = env!("CARGO_BIN_EXE_winventory");
const PW_VAR: &str = "WINV_SHARED_SIM_PW";
const PW: &str = "Shared-Sim-Pw-5521!";

/// A fleet of `count` hosts from `start` with retry-class faults that clear on the
/// second, third or never, and final ones.
fn fleet(start: &str, count: u32) -> Fleet {
    Fleet::parse(&format!(
        "[defaults]\nuser = \"LAB\\\\inventory\"\npassword_env = \"{PW_VAR}\"\nseed = 11\n\n\
         [mix]\nstart = \"{start}\"\ncount = {count}\nseed = 5\n\
         profiles = [\"server-2019\", \"server-2022\", \"windows-11\"]\nfaults = [\n\
         {{ percent = 6, kind = \"rpc_call_failed\", call = \"ExecQuery\", first_attempts = 1 }},\n\
         {{ percent = 4, kind = \"call_cancelled\", call = \"ExecQuery\", first_attempts = 2 }},\n\
         {{ percent = 2, kind = \"rpc_call_failed\", call = \"ExecQuery\", first_attempts = 4 }},\n\
         {{ percent = 3, kind = \"dcom_access_denied\" }},\n\
         {{ percent = 3, kind = \"invalid_class\", class = \"Win32_Service\" }},\n]\n"
    ))
    .unwrap()
}

fn sim(fleet: Fleet) -> SimHandle {
    std::env::set_var(PW_VAR, PW);
    SimHandle::start(fleet, ListenOptions::default()).unwrap()
}

/// Two classes: enough to requeue and to miss one, cheap enough for 3,000 hosts.
fn profile(dir: &Path) -> PathBuf {
    let p = dir.join("profile.toml");
    std::fs::write(
        &p,
        "name = \"shared-test\"\n[[wmi]]\nclass = \"Win32_OperatingSystem\"\n\
         [[wmi]]\nclass = \"Win32_Service\"\n",
    )
    .unwrap();
    p
}

/// `scan` against `sim` into `db` with the test's options and `extra`.
fn scan(sim: &SimHandle, dir: &Path, db: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("scan")
        .args(extra)
        .args(["--user", "LAB\\inventory", "--password-env", "WINV_SHARED_PW"])
        .args(["--db", db, "--profile"])
        .arg(profile(dir))
        .args(["--port", &sim.epm_port.to_string()])
        .args(["--concurrency", "32", "--retry-delay", "1", "--progress-interval", "2"])
        .args(["--connect-timeout", "2", "--call-timeout", "5", "--watchdog", "20"])
        .env("WINV_SHARED_PW", PW);
    if !extra.contains(&"--rate") {
        c.args(["--rate", "0"]);
    }
    c
}

/// Starts `cmd` with its output in `log`.
fn spawn(mut cmd: Command, log: &Path) -> Killed {
    let f = std::fs::File::create(log).unwrap();
    let child = cmd
        .stdout(Stdio::from(f.try_clone().unwrap()))
        .stderr(Stdio::from(f))
        .spawn()
        .unwrap();
    Killed(child)
}

fn read(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

/// Waits for `k` to exit within `limit`.
async fn exit_of(k: &mut Killed, limit: Duration, log: &Path) -> ExitStatus {
    let end = Instant::now() + limit;
    loop {
        if let Some(s) = k.0.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < end, "no exit within {limit:?}:\n{}", read(log));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `log` holds `needle`.
async fn wait_for(log: &Path, needle: &str, limit: Duration) {
    let end = Instant::now() + limit;
    while !read(log).contains(needle) {
        assert!(Instant::now() < end, "no {needle:?} within {limit:?}:\n{}", read(log));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A scan that finished: 0 (all inventoried) or 7 (some failed).
fn finished(s: ExitStatus, log: &Path) {
    assert!(matches!(s.code(), Some(0 | 7)), "{s}:\n{}", read(log));
}

/// Each computer's final status and attempts in the newest run of `db`.
async fn results(store: &Store) -> (RunId, BTreeMap<String, (Status, u32)>) {
    let run = store.latest_run().await.unwrap().unwrap();
    let rows = store.computers(run.id).await.unwrap();
    let n = rows.len();
    let map: BTreeMap<String, (Status, u32)> = rows
        .into_iter()
        .map(|r| (r.target, (r.status, r.attempts)))
        .collect();
    assert_eq!(map.len(), n, "one row per computer");
    (run.id, map)
}

/// One scanner alone, on SQLite, over a fresh simulator of the same fleet.
async fn alone(fleet_of: &dyn Fn() -> Fleet, range: &str, dir: &Path) -> BTreeMap<String, (Status, u32)> {
    let sim = sim(fleet_of());
    let db = dir.join("alone.db");
    let log = dir.join("alone.log");
    let mut k = spawn(scan(&sim, dir, db.to_str().unwrap(), &[range]), &log);
    finished(exit_of(&mut k, Duration::from_secs(900), &log).await, &log);
    let store = Store::open_existing(&db).await.unwrap();
    let (_, r) = results(&store).await;
    store.close().await;
    r
}

/// Statuses must agree computer by computer (attempts too: the same faults clear on the
/// same attempt whoever makes it), except for the computers in `killed`: a scanner
/// killed during their attempt had already activated on the host (which counts the
/// activation towards its fault clearing) but could not record the attempt.
fn same_as_alone(
    shared: &BTreeMap<String, (Status, u32)>,
    alone: &BTreeMap<String, (Status, u32)>,
    killed: &std::collections::BTreeSet<String>,
) {
    assert_eq!(shared.len(), alone.len());
    let differ: Vec<_> = alone
        .iter()
        .filter(|(t, v)| shared.get(*t) != Some(v) && !killed.contains(*t))
        .map(|(t, v)| (t.clone(), *v, shared.get(t).copied()))
        .take(10)
        .collect();
    assert!(differ.is_empty(), "differ from one scanner alone: {differ:?}");
    assert!(shared.values().all(|(_, a)| (1..=4).contains(a)));
    // The fleet gave every kind of ending.
    for want in [
        Status::Inventoried,
        Status::InventoriedIncomplete,
        Status::AccessDenied,
    ] {
        assert!(shared.values().any(|(s, _)| *s == want), "no {want}");
    }
    assert!(shared.values().any(|(_, a)| *a == 4), "no computer used four attempts");
    assert!(shared.values().any(|(s, a)| *s == Status::Inventoried && *a == 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_scanners_on_sqlite_give_what_one_scanner_gives() {
    let dir = temp_dir("shared-sqlite");
    let range = "127.20.0.1-127.20.0.240";
    let fleet_of = || fleet("127.20.0.1", 240);
    let reference = alone(&fleet_of, range, &dir).await;

    let sim = sim(fleet_of());
    let db = dir.join("shared.db");
    let db_s = db.to_str().unwrap();
    let (log_a, log_b) = (dir.join("a.log"), dir.join("b.log"));
    let mut a = spawn(
        scan(&sim, &dir, db_s, &[range, "--shared", "--scanner-name", "alpha"]),
        &log_a,
    );
    wait_for(&log_a, "shared run 1 created", Duration::from_secs(30)).await;
    let mut b = spawn(
        scan(&sim, &dir, db_s, &["--join", "latest", "--scanner-name", "beta"]),
        &log_b,
    );
    finished(exit_of(&mut a, Duration::from_secs(600), &log_a).await, &log_a);
    finished(exit_of(&mut b, Duration::from_secs(600), &log_b).await, &log_b);
    // Each scanner shows the whole run's progress beside its own.
    assert!(read(&log_b).contains("whole run: "), "{}", read(&log_b));

    let store = Store::open_existing(&db).await.unwrap();
    let (run, shared) = results(&store).await;
    same_as_alone(&shared, &reference, &Default::default());
    let info = store.run(run).await.unwrap().unwrap();
    assert_eq!(info.state, winv_store::RunState::Completed);
    let scanners = store.scanners(run).await.unwrap();
    let names: Vec<&str> = scanners.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["alpha", "beta"]);
    assert!(scanners.iter().all(|s| s.finished > 0 && s.left_ms.is_some()), "{scanners:?}");
    assert_eq!(scanners.iter().map(|s| s.finished).sum::<u64>(), 240);
    // Every attempt names the scanner that made it; some computers were retried by the
    // other scanner than the one that requeued them.
    let mut crossed = 0;
    for (t, (_, n)) in &shared {
        let by = store.attempt_scanners(run, t).await.unwrap();
        assert_eq!(by.len(), *n as usize, "{t}");
        assert!(by.iter().all(|(_, s)| s.is_some()), "{t}: {by:?}");
        if by.windows(2).any(|w| w[0].1 != w[1].1) {
            crossed += 1;
        }
    }
    assert!(crossed > 0, "no retry crossed to the other scanner");
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_scanners_on_postgres_survive_a_kill_9() {
    let Some(server) = PgServer::start().unwrap() else {
        return;
    };
    const HOSTS: u32 = 3000;
    let dir = temp_dir("shared-pg");
    let range = "127.21.0.1-127.21.11.184";
    let fleet_of = || fleet("127.21.0.1", HOSTS);
    let reference = alone(&fleet_of, range, &dir).await;
    assert_eq!(reference.len(), HOSTS as usize);

    let sim = sim(fleet_of());
    let url = server.url("postgres");
    let pwfile = server.password_file().to_str().unwrap().to_string();
    let with_db = |extra: &[&str], name: &str| {
        let mut args: Vec<&str> = extra.to_vec();
        args.extend(["--db-password-file", &pwfile, "--lease", "4", "--scanner-name", name]);
        scan(&sim, &dir, &url, &args)
    };
    let logs: Vec<PathBuf> = ["a", "b", "c"].iter().map(|n| dir.join(format!("{n}.log"))).collect();
    let mut a = spawn(with_db(&[range, "--shared"], "a"), &logs[0]);
    wait_for(&logs[0], "shared run 1 created", Duration::from_secs(60)).await;
    let mut b = spawn(with_db(&["--join", "1"], "b"), &logs[1]);
    let mut c = spawn(with_db(&["--join", "1"], "c"), &logs[2]);

    let auth = DbAuth {
        password_file: Some(server.password_file().to_path_buf()),
    };
    let store = Store::open_with(Path::new(&url), &auth, false).await.unwrap();
    // Kill b once it has finished some computers, while it holds claims.
    let end = Instant::now() + Duration::from_secs(600);
    let held = loop {
        let s = store.scanners(1).await.unwrap();
        if let Some(sb) = s.iter().find(|s| s.name == "b") {
            if sb.finished >= 100 && sb.claimed > 0 {
                break sb.claimed;
            }
        }
        assert!(Instant::now() < end, "b never got going:\n{}", read(&logs[1]));
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    nix_kill_9(&mut b);
    // What b held: its claims have not expired yet, so nobody took them (every claim
    // expires within the hour: the list is every claim with its scanner).
    let killed: std::collections::BTreeSet<String> = store
        .expired_leases(1, winv_engine::now_ms() + 3_600_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|l| l.scanner_name == "b")
        .map(|l| l.target)
        .collect();
    assert!(!killed.is_empty());
    let done_at_kill = store.queue_counts(1, winv_engine::now_ms()).await.unwrap().done;
    assert!(done_at_kill < u64::from(HOSTS), "the run ended before the kill");

    finished(exit_of(&mut a, Duration::from_secs(900), &logs[0]).await, &logs[0]);
    finished(exit_of(&mut c, Duration::from_secs(900), &logs[2]).await, &logs[2]);
    let (run, shared) = results(&store).await;
    assert_eq!(run, 1);
    same_as_alone(&shared, &reference, &killed);
    let q = store.queue_counts(run, winv_engine::now_ms()).await.unwrap();
    assert_eq!((q.done, q.claimed, q.expired, q.ready, q.waiting), (u64::from(HOSTS), 0, 0, 0, 0));
    let info = store.run(run).await.unwrap().unwrap();
    assert_eq!(info.state, winv_store::RunState::Completed);
    let s = store.scanners(run).await.unwrap();
    let sb = s.iter().find(|s| s.name == "b").unwrap();
    // b never left; what it held went to the others.
    assert!(sb.left_ms.is_none() && held > 0);
    assert_eq!(s.iter().map(|s| s.finished).sum::<u64>(), u64::from(HOSTS));
    assert_eq!(sb.claimed, 0, "the killed scanner's claims were taken over");
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `kill -9`: no chance to give anything back.
fn nix_kill_9(k: &mut Killed) {
    let pid = k.0.id().to_string();
    let s = Command::new("kill").args(["-9", &pid]).status().unwrap();
    assert!(s.success());
    let _ = k.0.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scanner_of_a_site_touches_only_that_sites_hosts() {
    let dir = temp_dir("shared-sites");
    let sim = sim(
        Fleet::parse(&format!(
            "[defaults]\nuser = \"LAB\\\\inventory\"\npassword_env = \"{PW_VAR}\"\n\n\
             [[host]]\naddress = \"127.22.0.1-127.22.0.20\"\n\n\
             [[host]]\naddress = \"127.22.1.1-127.22.1.20\"\n"
        ))
        .unwrap(),
    );
    let north = dir.join("north.txt");
    let south = dir.join("south.txt");
    std::fs::write(&north, "127.22.0.1-127.22.0.20\n").unwrap();
    std::fs::write(&south, "# the branch\n127.22.1.1-127.22.1.20\n").unwrap();
    let db = dir.join("sites.db");
    let db_s = db.to_str().unwrap();
    let site_arg = |name: &str, f: &Path| format!("{name}={}", f.display());
    let (n_arg, s_arg) = (site_arg("north", &north), site_arg("south", &south));

    // The north scanner creates the run and works alone: only north's hosts see it.
    let before = sim.accepts.hosts().len();
    let log_n = dir.join("n.log");
    let mut n = spawn(
        scan(
            &sim,
            &dir,
            db_s,
            &["--shared", "--site", "north", "--site-targets", &n_arg, "--site-targets", &s_arg],
        ),
        &log_n,
    );
    finished(exit_of(&mut n, Duration::from_secs(300), &log_n).await, &log_n);
    let hosts = sim.accepts.hosts();
    let touched = &hosts[before..];
    assert!(touched.len() >= 40, "{} connections", touched.len());
    assert!(
        touched.iter().all(|h| h.is_some_and(|h| h.to_string().starts_with("127.22.0."))),
        "the north scanner touched another site: {touched:?}"
    );
    let store = Store::open_existing(&db).await.unwrap();
    let q = store.queue_counts(1, winv_engine::now_ms()).await.unwrap();
    assert_eq!((q.done, q.ready), (20, 20), "south's targets wait for their scanner");
    let info = store.run(1).await.unwrap().unwrap();
    assert_eq!(info.state, winv_store::RunState::Running);

    // The south scanner joins and takes only south's.
    let before = sim.accepts.hosts().len();
    let log_s = dir.join("s.log");
    let mut s = spawn(scan(&sim, &dir, db_s, &["--join", "1", "--site", "south"]), &log_s);
    finished(exit_of(&mut s, Duration::from_secs(300), &log_s).await, &log_s);
    let hosts = sim.accepts.hosts();
    let touched = &hosts[before..];
    assert!(touched.len() >= 40);
    assert!(touched.iter().all(|h| h.is_some_and(|h| h.to_string().starts_with("127.22.1."))));
    let (_, r) = results(&store).await;
    assert_eq!(r.len(), 40);
    assert!(r.values().all(|(s, _)| *s == Status::Inventoried));
    let info = store.run(1).await.unwrap().unwrap();
    assert_eq!(info.state, winv_store::RunState::Completed);
    store.close().await;

    // A site name that is empty, or --site without a shared run, is refused.
    let out = scan(&sim, &dir, db_s, &["127.22.0.1", "--site", "north"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let out = scan(&sim, &dir, db_s, &["--join", "1"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0), "a completed run cannot be joined");
    assert!(String::from_utf8_lossy(&out.stderr).contains("only a running or stopped run can be joined"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_mid_run_is_waited_for_and_loses_nothing() {
    let Some(server) = PgServer::start().unwrap() else {
        return;
    };
    let dir = temp_dir("shared-pg-restart");
    let range = "127.23.0.1-127.23.0.240";
    let fleet_of = || fleet("127.23.0.1", 240);
    let reference = alone(&fleet_of, range, &dir).await;

    let sim = sim(fleet_of());
    let url = server.url("postgres");
    let pwfile = server.password_file().to_str().unwrap().to_string();
    // The default lease (a minute) outlasts the restart: nobody takes anything over.
    let with_db = |extra: &[&str], name: &str| {
        let mut args: Vec<&str> = extra.to_vec();
        args.extend(["--db-password-file", &pwfile, "--scanner-name", name]);
        scan(&sim, &dir, &url, &args)
    };
    let (log_a, log_b) = (dir.join("a.log"), dir.join("b.log"));
    let mut a = spawn(with_db(&[range, "--shared"], "a"), &log_a);
    wait_for(&log_a, "shared run 1 created", Duration::from_secs(60)).await;
    let mut b = spawn(with_db(&["--join", "1"], "b"), &log_b);
    let auth = DbAuth {
        password_file: Some(server.password_file().to_path_buf()),
    };
    {
        let store = Store::open_with(Path::new(&url), &auth, false).await.unwrap();
        let end = Instant::now() + Duration::from_secs(300);
        while store.queue_counts(1, winv_engine::now_ms()).await.unwrap().done < 40 {
            assert!(Instant::now() < end, "no progress:\n{}", read(&log_a));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        store.close().await;
    }
    server.stop().unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.start_again().unwrap();

    finished(exit_of(&mut a, Duration::from_secs(600), &log_a).await, &log_a);
    finished(exit_of(&mut b, Duration::from_secs(600), &log_b).await, &log_b);
    // They said what they were waiting for.
    let said = format!("{}{}", read(&log_a), read(&log_b));
    assert!(said.contains("database unreachable"), "{said}");
    assert!(!said.contains(&server.password().to_string()));
    let store = Store::open_with(Path::new(&url), &auth, false).await.unwrap();
    let (run, shared) = results(&store).await;
    same_as_alone(&shared, &reference, &Default::default());
    let q = store.queue_counts(run, winv_engine::now_ms()).await.unwrap();
    assert_eq!((q.done, q.claimed, q.expired), (240, 0, 0));
    assert_eq!(store.run(run).await.unwrap().unwrap().state, winv_store::RunState::Completed);
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_every_scanner_and_join_continues_the_run() {
    let dir = temp_dir("shared-stop");
    // A slow class keeps the run going long enough to stop it in the middle: each host
    // takes at least 2 s, so the hosts in flight when the stop is seen (within a second
    // of it) have not finished. (At 400 ms, with the registry reads made at once, both
    // scanners once finished all 120 before they saw the stop.)
    let sim = sim(
        Fleet::parse(&format!(
            "[defaults]\nuser = \"LAB\\\\inventory\"\npassword_env = \"{PW_VAR}\"\n\n\
             [[host]]\naddress = \"127.24.0.1-127.24.0.120\"\n\
             faults = [{{ kind = \"provider_slow\", class = \"Win32_Service\", delay_ms = 2000 }}]\n"
        ))
        .unwrap(),
    );
    let db = dir.join("stop.db");
    let db_s = db.to_str().unwrap();
    let range = "127.24.0.1-127.24.0.120";
    let (log_a, log_b) = (dir.join("a.log"), dir.join("b.log"));
    let mut a = spawn(scan(&sim, &dir, db_s, &[range, "--shared", "--lease", "3"]), &log_a);
    wait_for(&log_a, "shared run 1 created", Duration::from_secs(30)).await;
    let mut b = spawn(scan(&sim, &dir, db_s, &["--join", "1", "--lease", "3"]), &log_b);
    let store = Store::open_existing(&db).await.unwrap();
    let end = Instant::now() + Duration::from_secs(120);
    while store.queue_counts(1, winv_engine::now_ms()).await.unwrap().done < 10 {
        assert!(Instant::now() < end, "no progress:\n{}", read(&log_a));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = Command::new(BIN).args(["stop", "--db", db_s, "--run", "1"]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("run 1 stopped: 2 scanner(s)"), "{said}");
    let stopped_at = Instant::now();
    // Both see it at their next heartbeat (every second with a 3 s lease) and end their
    // attempts in flight: well before the 120 computers are done.
    let ea = exit_of(&mut a, Duration::from_secs(30), &log_a).await;
    let eb = exit_of(&mut b, Duration::from_secs(30), &log_b).await;
    assert!(stopped_at.elapsed() < Duration::from_secs(15));
    assert_eq!((ea.code(), eb.code()), (Some(130), Some(130)), "{}\n{}", read(&log_a), read(&log_b));
    let q = store.queue_counts(1, winv_engine::now_ms()).await.unwrap();
    assert!(q.done < 120, "{q:?}");
    assert_eq!(q.claimed + q.expired, 0, "every claim was given back: {q:?}");
    assert_eq!(store.run(1).await.unwrap().unwrap().state, winv_store::RunState::Stopped);
    // Stopping again says so.
    let out = Command::new(BIN).args(["stop", "--db", db_s, "--run", "1"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("already stopped"));

    // Joining continues it to the end: every computer once, all inventoried.
    let log_c = dir.join("c.log");
    let mut c = spawn(scan(&sim, &dir, db_s, &["--join", "1"]), &log_c);
    let ec = exit_of(&mut c, Duration::from_secs(300), &log_c).await;
    assert_eq!(ec.code(), Some(0), "{}", read(&log_c));
    let (_, r) = results(&store).await;
    assert_eq!(r.len(), 120);
    assert!(r.values().all(|(s, _)| *s == Status::Inventoried), "{r:?}");
    assert_eq!(store.run(1).await.unwrap().unwrap().state, winv_store::RunState::Completed);
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_scanners_of_a_site_hold_its_rate_together() {
    let dir = temp_dir("shared-rate");
    let sim = sim(
        Fleet::parse(&format!(
            "[defaults]\nuser = \"LAB\\\\inventory\"\npassword_env = \"{PW_VAR}\"\n\n\
             [[host]]\naddress = \"127.25.0.1-127.25.0.80\"\n"
        ))
        .unwrap(),
    );
    let db = dir.join("rate.db");
    let db_s = db.to_str().unwrap();
    const RATE: &str = "6";
    let (log_a, log_b) = (dir.join("a.log"), dir.join("b.log"));
    let mut a = spawn(
        scan(&sim, &dir, db_s, &["127.25.0.1-127.25.0.80", "--shared", "--rate", RATE]),
        &log_a,
    );
    wait_for(&log_a, "shared run 1 created", Duration::from_secs(30)).await;
    let mut b = spawn(scan(&sim, &dir, db_s, &["--join", "1", "--rate", RATE]), &log_b);
    // b takes its half at once; a within two seconds, and the connections a had already
    // scheduled at the full rate keep their times: count from 8 s after b joined.
    let store = Store::open_existing(&db).await.unwrap();
    let end = Instant::now() + Duration::from_secs(60);
    while store.scanners(1).await.unwrap().len() < 2 {
        assert!(Instant::now() < end, "b never joined:\n{}", read(&log_b));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(8)).await;
    let from = sim.accepts.times().len();
    finished(exit_of(&mut a, Duration::from_secs(300), &log_a).await, &log_a);
    finished(exit_of(&mut b, Duration::from_secs(300), &log_b).await, &log_b);
    let settled = sim.accepts.times()[from..].to_vec();
    assert!(settled.len() >= 30, "{} connections once both knew of each other", settled.len());
    // Together they hold the cap: on average (each alone would open 6 a second, 12
    // together), and in any two seconds with room for a late wake-up's bunching.
    let span = (*settled.last().unwrap() - settled[0]).as_secs_f64();
    let mean = (settled.len() - 1) as f64 / span;
    assert!(mean <= 6.0 * 1.15, "{mean:.1} connections a second with --rate {RATE} on two scanners");
    let most = winv_sim::server::most_in_window(&settled, Duration::from_secs(2));
    assert!(most <= 15, "{most} connections in two seconds with --rate {RATE} on two scanners");
    // Both worked (a scanner alone at the full rate would not show the cap held).
    let s = store.scanners(1).await.unwrap();
    assert!(s.iter().all(|s| s.finished > 5), "{s:?}");
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_writes_into_postgres_when_asked() {
    let Some(server) = PgServer::start().unwrap() else {
        return;
    };
    let url = server.url("postgres");
    let out = Command::new(BIN)
        .args(["demo", "--hosts", "12", "--silent", "1", "--db", &url, "--quiet"])
        .env("PGPASSWORD", server.password())
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 7)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(BIN)
        .args(["status", "--db", &url, "--json", "--db-password-file"])
        .arg(server.password_file())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let j: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(j["targets"], 13, "{j}");
    assert!(!text.contains(server.password()));
}
