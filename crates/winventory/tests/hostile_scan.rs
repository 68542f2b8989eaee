//! A hostile fleet: one `winventory scan` of 200 hostile simulated hosts of mixed kinds
//! beside 200 healthy ones, into a SQLite file (issue 17's acceptance). Asserted: the scan
//! ends within a bound derived from its budgets, every attempt keeps to the attempt
//! budget, every healthy host is inventoried, every hostile one has a status and the error
//! its behaviour gives (on the item, or on the attempt that met it), and the scan's peak
//! resident memory (VmHWM of the child, from /proc) stays under 300 MiB.
//!
//! The simulator runs in a process of its own (`winventory sim --fleet`), so its memory
//! is not the scan's. Addresses: 127.30.0.0/16 (healthy 127.30.0.1-200, hostile
//! 127.30.1.1-200).
//!
//! A second scan goes through the re-sealing proxy (`winv_testsuite::reseal`): healthy
//! hosts whose answers the proxy alters above a valid seal (127.31.0.x in front of
//! 127.31.1.x), each behaviour with the status and error it must give.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use winv_engine::{ClassOutcome, ComputerResult, Status, MAX_ATTEMPTS};
use winv_store::Store;
use winv_testsuite::cli::{start_sim, temp_dir, watch};
use winv_testsuite::reseal::{self, ResealProxy, Route};
use winv_testsuite::sim::serve_fleet;

const BIN: &str = env!("CARGO_BIN_EXE_winventory");
const PW_ENV: &str = "WINV_HOSTILE_SCAN_PW";
const PASSWORD: &str = "Hostile-Scan-Pw-9031!";

/// Peak resident memory allowed for the scan (issue 17: "stays under 300 MiB").
const MAX_HWM_KIB: u64 = 300 * 1024;

/// The scan's budgets, given on its command line.
const CONCURRENCY: u64 = 32;
/// Long enough for a healthy host's whole inventory on a loaded two-core machine (the
/// simulator and the scan share it, debug builds), short enough for a test.
const ATTEMPT_BUDGET_S: u64 = 40;
const CALL_TIMEOUT_S: u64 = 5;
const CONNECT_TIMEOUT_S: u64 = 2;
const RETRY_DELAY_S: u64 = 1;
/// The scan's memory for query results, MiB: at 32 computers the least share there is
/// (2 MiB each, `winv_engine::MIN_RESULT_SHARE`), so an endless enumeration of rows of
/// about 300 octets of JSON text reaches it in about 110 batches, well within the
/// attempt's budget.
const RESULT_MEMORY_MIB: u64 = 64;
/// What an attempt may take past its budget: the release of references on the way out
/// (`WmiOptions::release_deadline`, 3 s, which it always gets) and a second of slack.
const PAST_BUDGET: Duration = Duration::from_secs(3 + 1);

/// The class every class-level fault is on.
const CLASS: &str = "Win32_Service";

/// The hostile kinds, 25 hosts each, and the faults that make them.
const KINDS: [(&str, &str); 8] = [
    (
        "endless",
        r#"{ kind = "endless_enumeration", class = "Win32_Service" }"#,
    ),
    // One full batch every 3 s: progress (the call deadline is 5 s), so neither the call
    // deadline nor the watchdog fires, and the query's own budgets are far away (13
    // batches of 64 rows in the attempt's 40 s: about 250 KB of the 2 MiB share).
    (
        "slow-endless",
        r#"{ kind = "endless_enumeration", class = "Win32_Service" },
           { kind = "provider_slow", class = "Win32_Service", delay_ms = 3000 }"#,
    ),
    (
        "empty",
        r#"{ kind = "empty_enumeration", class = "Win32_Service" }"#,
    ),
    (
        "fault-then-silence",
        r#"{ kind = "fault_then_silence", class = "Win32_Service" }"#,
    ),
    (
        "hang",
        r#"{ kind = "provider_hang", class = "Win32_Service" }"#,
    ),
    (
        "reset",
        r#"{ kind = "connection_reset", call = "Next:Win32_Service" }"#,
    ),
    (
        "reject-alter-context",
        r#"{ kind = "reject_alter_context" }"#,
    ),
    ("dynamic-port-silent", r#"{ kind = "dynamic_port_silent" }"#),
];
const PER_KIND: usize = 25;
const HEALTHY: usize = 200;

fn healthy_addr(i: usize) -> String {
    format!("127.30.0.{}", i + 1)
}

fn hostile_addr(kind: usize, i: usize) -> String {
    format!("127.30.1.{}", kind * PER_KIND + i + 1)
}

fn fleet() -> String {
    let mut s = format!(
        "[defaults]\nuser = \"LAB\\\\admin\"\npassword_env = \"{PW_ENV}\"\nseed = 17\n\n\
         [[host]]\naddress = \"{}-{}\"\n",
        healthy_addr(0),
        healthy_addr(HEALTHY - 1)
    );
    for (k, (_, faults)) in KINDS.iter().enumerate() {
        s.push_str(&format!(
            "\n[[host]]\naddress = \"{}-{}\"\nfaults = [{faults}]\n",
            hostile_addr(k, 0),
            hostile_addr(k, PER_KIND - 1)
        ));
    }
    s
}

/// `r` in a line: its status, attempts and each item's outcome and code.
fn brief(r: &ComputerResult) -> String {
    let items: Vec<String> = r
        .classes
        .iter()
        .map(|c| {
            let code = c.error.as_ref().and_then(|f| f.code_name.clone());
            format!(
                "{}={}{}",
                c.class,
                c.outcome.as_str(),
                code.map(|n| format!("({n})")).unwrap_or_default()
            )
        })
        .collect();
    let attempts: Vec<String> = r
        .attempts
        .iter()
        .map(|a| format!("{}:{}ms:{}", a.number, a.duration_ms, a.outcome.as_str()))
        .collect();
    format!(
        "{} {} failure={:?} attempts={attempts:?} items={items:?}",
        r.target,
        r.status.as_str(),
        r.failure
            .as_ref()
            .map(|f| (f.stage.as_str(), f.code_name.clone(), f.message.clone()))
    )
}

/// The item `name` of `r`.
fn class<'a>(r: &'a ComputerResult, name: &str) -> &'a winv_engine::ClassResult {
    r.classes
        .iter()
        .find(|c| c.class == name)
        .unwrap_or_else(|| panic!("no result for {name}: {}", brief(r)))
}

/// The code of the failure `r` ended with, or of its first attempt's.
fn first_attempt_code(r: &ComputerResult) -> Option<u32> {
    r.attempts
        .first()
        .and_then(|a| a.failure.as_ref())
        .and_then(|f| f.code)
}

/// What the kind `kind` must have given host `r`.
fn check_hostile(kind: &str, r: &ComputerResult) {
    let t = &r.target;
    let collected = |r: &ComputerResult| {
        r.classes
            .iter()
            .any(|c| c.outcome == ClassOutcome::Collected)
    };
    match kind {
        // The query's own budget (rows, octets) ends it; the rest is collected.
        "endless" => {
            assert_eq!(r.status, Status::InventoriedIncomplete, "{}", brief(r));
            let c = class(r, CLASS);
            assert_eq!(c.outcome, ClassOutcome::Failed, "{t}");
            let f = c.error.as_ref().unwrap();
            assert_eq!(f.code, Some(winv_kb::WINV_E_LIMIT_EXCEEDED), "{t}: {f:?}");
            assert_eq!(f.stage.as_str(), "enumerate", "{t}");
            assert_eq!(
                class(r, "Win32_SystemEnclosure").outcome,
                ClassOutcome::Collected
            );
        }
        // The attempt's budget ends it: the item then, and those not started, fail
        // with WINV_E_ATTEMPT_BUDGET; what came before is kept.
        "slow-endless" => {
            assert_eq!(r.status, Status::InventoriedIncomplete, "{}", brief(r));
            assert_eq!(r.attempts.len(), 1, "{t}");
            let f = class(r, CLASS).error.clone().unwrap();
            assert_eq!(f.code, Some(winv_kb::WINV_E_ATTEMPT_BUDGET), "{t}: {f:?}");
            assert!(f.message.contains("still running"), "{t}: {}", f.message);
            let after = class(r, "Win32_SystemEnclosure").error.clone().unwrap();
            assert_eq!(after.code, Some(winv_kb::WINV_E_ATTEMPT_BUDGET), "{t}");
            assert!(after.message.starts_with("not started"), "{t}");
            assert_eq!(
                class(r, "Win32_ComputerSystem").outcome,
                ClassOutcome::Collected
            );
        }
        // No object for the call deadline (polled with a back-off, not a busy loop), or
        // no answer at all: the item timed out and the computer went on.
        "empty" | "hang" => {
            assert_eq!(r.status, Status::InventoriedIncomplete, "{}", brief(r));
            let c = class(r, CLASS);
            assert_eq!(c.outcome, ClassOutcome::TimedOut, "{t}: {c:?}");
            assert_eq!(
                c.error.as_ref().unwrap().status,
                Status::WmiQueryTimeout,
                "{t}"
            );
            assert_eq!(
                class(r, "Win32_SystemEnclosure").outcome,
                ClassOutcome::Collected
            );
        }
        // RPC_S_CALL_FAILED on the class (retry class): retried, and the silent host
        // then times out every attempt; the classes collected first are kept.
        "fault-then-silence" => {
            assert_eq!(r.attempts.len() as u32, MAX_ATTEMPTS, "{}", brief(r));
            let first = &r.attempts[0];
            // The fault; or, when a class before it was still in flight on another
            // connection of the session as the host fell silent (queries made at once,
            // `winv_engine::ahead`), that class's timeout, and the attempt ended on the
            // silence at that class or on the way to the faulting one.
            let at = |n: &str| first.class_order.iter().position(|o| o == n);
            let failing = first.failing_class.as_deref().and_then(at);
            if first_attempt_code(r) != Some(1726) {
                assert_eq!(
                    first.failure.as_ref().map(|f| f.status),
                    Some(Status::WmiQueryTimeout),
                    "{t}: {first:?}"
                );
                assert!(failing.is_some() && failing <= at(CLASS), "{t}: {first:?}");
            } else {
                assert_eq!(failing, at(CLASS), "{t}: {first:?}");
            }
            assert_eq!(r.status, Status::WmiQueryTimeout, "{}", brief(r));
            assert!(collected(r), "{t}: what came before the fault is kept");
        }
        // The connection reset in the class's enumeration: retry class on every attempt,
        // the other classes collected on the way; the retry-class status after the last.
        "reset" => {
            assert_eq!(r.attempts.len() as u32, MAX_ATTEMPTS, "{}", brief(r));
            assert_eq!(r.status, Status::RpcCallFailed, "{}", brief(r));
            assert!(r
                .attempts
                .iter()
                .all(|a| a.failing_class.as_deref() == Some(CLASS)));
            assert!(collected(r), "{t}");
            assert_eq!(
                class(r, "Win32_SystemEnclosure").outcome,
                ClassOutcome::Collected
            );
        }
        // Every interface after the login refused (an alter_context rejected): each item
        // fails with RPC_S_UNKNOWN_IF, nothing is ever collected, so every attempt is
        // made and the computer is other-reasons.
        "reject-alter-context" => {
            assert_eq!(r.status, Status::OtherReasons, "{}", brief(r));
            assert_eq!(r.attempts.len() as u32, MAX_ATTEMPTS, "{}", brief(r));
            let f = r.failure.as_ref().unwrap();
            assert_eq!(f.code, Some(0x8007_06b5), "{}", brief(r));
            assert!(f.message.contains("after the login"), "{t}: {}", f.message);
            assert!(r.classes.iter().all(|c| c.outcome == ClassOutcome::Failed
                && c.error
                    .as_ref()
                    .is_some_and(|f| f.code == Some(0x8007_06b5))));
        }
        // Port 135 answers; the dynamic endpoint accepts the connection and never answers
        // the bind.
        "dynamic-port-silent" => {
            assert_eq!(r.status, Status::RpcServerUnavailable, "{}", brief(r));
            let f = r.failure.as_ref().unwrap();
            assert_eq!(f.stage.as_str(), "bind-dynamic", "{}", brief(r));
            assert_eq!(f.code, Some(0x8007_06ba), "{}", brief(r));
        }
        other => unreachable!("{other}"),
    }
}

/// `winventory scan` of the targets in `targets` into `db` with the scan's budgets, port
/// `port`, `concurrency` slots, JSON lines to `dir/stdout` and its log to `dir/stderr`.
fn scan(dir: &Path, targets: &Path, db: &Path, port: u16, concurrency: u64) -> Child {
    Command::new(BIN)
        .args(["scan", "--targets"])
        .arg(targets)
        .arg("--db")
        .arg(db)
        .args(["--user", "LAB\\admin", "--password-env", PW_ENV])
        .args(["--port", &port.to_string(), "--json", "--rate", "0"])
        .args(["--concurrency", &concurrency.to_string()])
        .args(["--attempt-budget", &ATTEMPT_BUDGET_S.to_string()])
        .args(["--result-memory", &RESULT_MEMORY_MIB.to_string()])
        .args(["--connect-timeout", &CONNECT_TIMEOUT_S.to_string()])
        .args(["--call-timeout", &CALL_TIMEOUT_S.to_string()])
        .args(["--retry-delay", &RETRY_DELAY_S.to_string()])
        .env(PW_ENV, PASSWORD)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(File::create(dir.join("stdout")).unwrap())
        .stderr(File::create(dir.join("stderr")).unwrap())
        .spawn()
        .unwrap()
}

/// The stored result of each target of `list`, in order, from the newest run of `db`.
async fn results_of(db: &Path, list: &[String]) -> Vec<ComputerResult> {
    let store = Store::open_existing(db).await.unwrap();
    let run = store.latest_run().await.unwrap().unwrap().id;
    let mut v = Vec::new();
    for t in list {
        v.push(store.computer(run, t).await.unwrap().unwrap());
    }
    store.close().await;
    v
}

/// Asserts that no attempt held its slot past `per_attempt`; returns the attempts and the
/// bound on the scan they give: the attempts on `concurrency` slots, each within its
/// budget, and the retry delays.
fn within_budgets(
    results: &[ComputerResult],
    per_attempt: Duration,
    concurrency: u64,
) -> (u64, Duration) {
    let mut attempts = 0u64;
    for r in results {
        for a in &r.attempts {
            attempts += 1;
            assert!(
                Duration::from_millis(a.duration_ms) <= per_attempt,
                "{} attempt {}: {} ms",
                r.target,
                a.number,
                a.duration_ms
            );
        }
    }
    let bound = per_attempt * attempts.div_ceil(concurrency) as u32
        + Duration::from_secs(RETRY_DELAY_S * u64::from(MAX_ATTEMPTS - 1))
        + Duration::from_secs(2);
    (attempts, bound)
}

#[test]
fn a_scan_of_200_hostile_hosts_beside_200_healthy_ones() {
    let dir = temp_dir("hostile-scan");
    let fleet_file = dir.join("fleet.toml");
    std::fs::write(&fleet_file, fleet()).unwrap();
    let (_sim, port) = start_sim(BIN, &fleet_file, &[(PW_ENV, PASSWORD)], &[]);
    let targets = dir.join("targets.txt");
    let mut list: Vec<String> = (0..HEALTHY).map(healthy_addr).collect();
    for k in 0..KINDS.len() {
        list.extend((0..PER_KIND).map(|i| hostile_addr(k, i)));
    }
    std::fs::write(&targets, list.join("\n")).unwrap();
    let db = dir.join("hostile.db");
    let budget = Duration::from_secs(ATTEMPT_BUDGET_S);
    let per_attempt = budget + PAST_BUDGET;
    let hosts = list.len() as u64;
    // A priori: every host making every attempt, each its whole budget, on the slots.
    let a_priori = per_attempt * (hosts * u64::from(MAX_ATTEMPTS)).div_ceil(CONCURRENCY) as u32
        + Duration::from_secs(RETRY_DELAY_S * u64::from(MAX_ATTEMPTS));
    let mut child = scan(&dir, &targets, &db, port, CONCURRENCY);
    let w = watch(&mut child, a_priori);
    let stderr = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
    eprintln!(
        "hostile scan: {:?} in {:?}, VmHWM {} KiB, CPU {:.1} s (a priori bound {a_priori:?})",
        w.status, w.elapsed, w.hwm_kib, w.cpu_s
    );
    // Completed with failures: exit 7.
    assert_eq!(w.status.code(), Some(7), "{stderr}");
    assert!(w.hwm_kib > 0, "VmHWM never read");
    assert!(
        w.hwm_kib < MAX_HWM_KIB,
        "peak resident memory {} KiB",
        w.hwm_kib
    );
    let lines = std::fs::read_to_string(dir.join("stdout")).unwrap();
    assert_eq!(lines.lines().count(), list.len(), "one JSON line per host");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = rt.block_on(results_of(&db, &list));

    let (attempts, bound) = within_budgets(&results, per_attempt, CONCURRENCY);
    eprintln!("{attempts} attempts; bound from the budgets {bound:?}");
    assert!(w.elapsed <= bound, "took {:?}, bound {bound:?}", w.elapsed);

    let slowest_healthy = results[..HEALTHY]
        .iter()
        .flat_map(|r| r.attempts.iter().map(|a| a.duration_ms))
        .max()
        .unwrap_or(0);
    eprintln!("slowest healthy attempt: {slowest_healthy} ms");
    for r in &results[..HEALTHY] {
        assert_eq!(r.status, Status::Inventoried, "{}", brief(r));
    }
    for (k, (kind, _)) in KINDS.iter().enumerate() {
        let mut statuses = std::collections::BTreeMap::new();
        for i in 0..PER_KIND {
            let r = &results[HEALTHY + k * PER_KIND + i];
            assert_eq!(r.target, hostile_addr(k, i));
            check_hostile(kind, r);
            *statuses.entry(r.status.as_str()).or_insert(0) += 1;
        }
        eprintln!("{kind}: {statuses:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The re-sealing proxy's behaviours (`winv_testsuite::reseal`), a route per host, in
/// front of healthy simulated hosts, and how many hosts get each.
const PROXIED: [(reseal::Behaviour, usize); 9] = [
    (reseal::Behaviour::Passthrough, 4),
    (reseal::Behaviour::HugeAllocHint, 2),
    (reseal::Behaviour::EndlessFragments, 4),
    (reseal::Behaviour::TruncatedEnumeration, 2),
    (reseal::Behaviour::DuplicateQueryAnswer, 2),
    (reseal::Behaviour::WrongCallId, 2),
    (reseal::Behaviour::Replay, 2),
    (reseal::Behaviour::FaultInstead(0xdead_beef), 2),
    (reseal::Behaviour::FaultInstead(5), 2),
];
/// Hosts whose answers the proxy damages at random (a seed each).
const MUTATED: usize = 30;

/// A scan through the re-sealing proxy: answers altered above a valid seal (endless sealed
/// fragments, a 4 GiB alloc_hint, cut, duplicated, misaddressed and replayed answers,
/// sealed faults, random damage). The scan completes within the bound its budgets give,
/// no attempt holds its slot past the budget, the hosts the proxy leaves alone (or only
/// lies to about sizes) are inventoried, every other one ends with a status and a
/// classified error, and peak memory stays under 300 MiB. The simulator and the proxy run
/// in this process; the scan in its own. Addresses: 127.31.0.x (the proxy) in front of
/// 127.31.1.x (the hosts).
#[test]
fn a_scan_through_the_re_sealing_proxy() {
    let dir = temp_dir("hostile-reseal");
    let mut routes = Vec::new();
    for (b, n) in PROXIED {
        routes.extend(std::iter::repeat_n(b, n));
    }
    routes.extend((0..MUTATED as u64).map(reseal::Behaviour::Mutate));
    let upstream = |i: usize| format!("127.31.1.{}", i + 1);
    let listen = |i: usize| format!("127.31.0.{}", i + 1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let hosts: Vec<(String, &str)> = (0..routes.len()).map(|i| (upstream(i), "")).collect();
    let sim = rt
        .block_on(serve_fleet(&hosts, PW_ENV, PASSWORD, 31, 0))
        .unwrap();
    let table: Vec<Route> = routes
        .iter()
        .enumerate()
        .map(|(i, b)| Route {
            listen: listen(i).parse().unwrap(),
            upstream: upstream(i).parse().unwrap(),
            behaviour: *b,
        })
        .collect();
    let proxy = rt
        .block_on(ResealProxy::start(
            &table,
            sim.epm_port,
            sim.dynamic_port,
            PASSWORD,
        ))
        .unwrap();
    let list: Vec<String> = (0..routes.len()).map(listen).collect();
    let targets = dir.join("targets.txt");
    std::fs::write(&targets, list.join("\n")).unwrap();
    let db = dir.join("reseal.db");
    let concurrency = 16u64;
    let per_attempt = Duration::from_secs(ATTEMPT_BUDGET_S) + PAST_BUDGET;
    let a_priori = per_attempt
        * (list.len() as u64 * u64::from(MAX_ATTEMPTS)).div_ceil(concurrency) as u32
        + Duration::from_secs(RETRY_DELAY_S * u64::from(MAX_ATTEMPTS));
    let mut child = scan(&dir, &targets, &db, proxy.epm_port, concurrency);
    let w = watch(&mut child, a_priori);
    let stderr = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
    eprintln!(
        "scan through the proxy: {:?} in {:?}, VmHWM {} KiB, CPU {:.1} s",
        w.status, w.elapsed, w.hwm_kib, w.cpu_s
    );
    assert_eq!(w.status.code(), Some(7), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        w.hwm_kib > 0 && w.hwm_kib < MAX_HWM_KIB,
        "VmHWM {} KiB",
        w.hwm_kib
    );
    let lines = std::fs::read_to_string(dir.join("stdout")).unwrap();
    assert_eq!(lines.lines().count(), list.len(), "one JSON line per host");
    let results = rt.block_on(results_of(&db, &list));
    let (_, bound) = within_budgets(&results, per_attempt, concurrency);
    assert!(w.elapsed <= bound, "took {:?}, bound {bound:?}", w.elapsed);
    let mut mutated = std::collections::BTreeMap::new();
    for (r, b) in results.iter().zip(&routes) {
        check_proxied(*b, r);
        if let reseal::Behaviour::Mutate(_) = b {
            *mutated.entry(r.status.as_str()).or_insert(0) += 1;
        }
    }
    eprintln!("randomly damaged hosts: {mutated:?}");
    // The damage reached the decoders: not every damaged host was inventoried.
    assert!(
        mutated.iter().any(|(s, n)| *s != "inventoried" && *n > 0),
        "{mutated:?}"
    );
    drop(proxy);
    rt.shutdown_background();
    let _ = std::fs::remove_dir_all(&dir);
}

/// What the proxy's behaviour `b` must have given host `r`.
fn check_proxied(b: reseal::Behaviour, r: &ComputerResult) {
    use reseal::Behaviour as B;
    let failure = |r: &ComputerResult| {
        r.failure.as_ref().map(|f| {
            (
                f.stage.as_str().to_string(),
                f.code_name.clone(),
                f.message.clone(),
            )
        })
    };
    let what = brief(r);
    match b {
        // Unchanged, or lied to about sizes only: inventoried, first time.
        B::Passthrough | B::HugeAllocHint => {
            assert_eq!(r.status, Status::Inventoried, "{what}");
            assert_eq!(r.attempts.len(), 1, "{what}");
        }
        // The connection is unusable once the reassembly passes its limit, or once a PDU
        // answers a call that is not outstanding: RPC_S_CALL_FAILED at the enumeration,
        // retried as seed 000 says, every attempt.
        B::EndlessFragments | B::DuplicateQueryAnswer | B::WrongCallId => {
            let says = if b == B::EndlessFragments {
                "too large"
            } else {
                "unknown call_id"
            };
            assert_eq!(r.status, Status::RpcCallFailed, "{what}");
            assert_eq!(r.attempts.len(), MAX_ATTEMPTS as usize, "{what}");
            let (stage, code, message) = failure(r).unwrap();
            assert_eq!(stage, "enumerate", "{what}");
            assert_eq!(code.as_deref(), Some("RPC_S_CALL_FAILED"), "{what}");
            assert!(message.contains(says), "{what}");
        }
        // Every enumeration answer cut: each WMI class fails as malformed; the registry
        // items still come: an incomplete inventory.
        B::TruncatedEnumeration => {
            assert_eq!(r.status, Status::InventoriedIncomplete, "{what}");
            let os = class(r, "Win32_OperatingSystem");
            assert_eq!(os.outcome, ClassOutcome::Failed, "{what}");
            let e = os.error.as_ref().unwrap();
            assert!(
                e.message.contains("malformed reply"),
                "{what}: {}",
                e.message
            );
        }
        // A replayed answer fails verification: the attempt ends for good, with the
        // security layer's code, at once.
        B::Replay => {
            assert_eq!(r.status, Status::AccessDenied, "{what}");
            assert_eq!(r.attempts.len(), 1, "{what}");
            let (stage, code, _) = failure(r).unwrap();
            assert_eq!(stage, "enumerate", "{what}");
            assert_eq!(code.as_deref(), Some("SEC_E_MESSAGE_ALTERED"), "{what}");
        }
        // A sealed fault in place of the first class's answer is that item's failure, by
        // its code; the computer goes on.
        B::FaultInstead(status) => {
            assert_eq!(r.status, Status::InventoriedIncomplete, "{what}");
            let first = &r.classes[0];
            assert_eq!(first.outcome, ClassOutcome::Failed, "{what}");
            let e = first.error.as_ref().unwrap();
            assert_eq!(e.code, Some(status), "{what}");
            assert_eq!(
                class(r, "Win32_OperatingSystem").outcome,
                ClassOutcome::Collected
            );
        }
        // Random damage: any status, but one, with its record (checked above: bounded
        // attempts, no panic, one JSON line per host).
        B::Mutate(_) => {
            if r.status != Status::Inventoried {
                assert!(
                    r.failure.is_some() || r.classes.iter().any(|c| c.error.is_some()),
                    "{what}"
                );
            }
        }
    }
}
