//! The inventory engine against simulated hosts over loopback (127.0.61.x-127.0.64.x):
//! statuses, phases and codes per fault, seed 000's retries and class reordering, the
//! credential list, and stopping a run.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use winv_client::{Credentials, Deadlines, WmiOptions};
use winv_engine::{
    ClassOutcome, ComputerResult, Credential, DeniedBy, Engine, EngineOptions, Event, Profile,
    Status,
};

use winv_sim::server::SimServer;
use winv_testsuite::sim::serve_fleet;

const PW_ENV: &str = "WINV_ENGINE_SIM_PASSWORD";
const PASSWORD: &str = "Engine-Sim-Pw0rd!";

async fn serve(hosts: &[(&str, &str)]) -> SimServer {
    serve_fleet(hosts, PW_ENV, PASSWORD, 7, 0).await.unwrap()
}

fn cred(password: &str) -> Credential {
    Credential {
        account: "LAB\\admin".into(),
        creds: Credentials::with_password("admin", "LAB", password),
        mechanism: None,
    }
}

fn options(sim: &SimServer) -> EngineOptions {
    EngineOptions {
        concurrency: 16,
        connections_per_second: 0.0,
        max_attempts: 4,
        watchdog: Duration::from_secs(10),
        retry_delay: Duration::ZERO,
        attempt_budget: winv_engine::ATTEMPT_BUDGET,
        result_memory: winv_engine::RESULT_MEMORY,
        lockout_guard: winv_engine::LOCKOUT_GUARD,
        client: WmiOptions {
            epm_port: sim.epm_port,
            // The client's deadlines end a hung call before the watchdog does.
            deadlines: Deadlines {
                connect: Duration::from_secs(1),
                read: Duration::from_millis(1500),
                call: Duration::from_millis(1500),
            },
            enum_timeout: Duration::from_millis(500),
            ..WmiOptions::default()
        },
    }
}

/// Runs the engine over `targets`; returns the results by target and the events.
async fn scan(engine: &Engine, targets: &[&str]) -> (HashMap<String, ComputerResult>, Vec<String>) {
    let (tx, mut rx) = mpsc::channel(64);
    let (_stop_tx, stop_rx) = watch::channel(false);
    let targets: Vec<String> = targets.iter().map(|s| s.to_string()).collect();
    let e = engine.clone();
    let run = tokio::spawn(async move { e.run(targets, tx, stop_rx).await });
    let mut results = HashMap::new();
    let mut log = Vec::new();
    while let Some(ev) = rx.recv().await {
        match ev {
            Event::Finished(r) => {
                assert!(
                    results.insert(r.target.clone(), *r).is_none(),
                    "two results for one target"
                );
            }
            Event::Requeued {
                target,
                attempt,
                status,
            } => log.push(format!("requeued {target} {attempt} {status}")),
            _ => {}
        }
    }
    run.await.unwrap();
    (results, log)
}

fn one_class_profile(class: &str) -> Profile {
    Profile::parse(&format!("name = \"one\"\n[[wmi]]\nclass = \"{class}\"\n")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_fault_gets_its_status_phase_and_code() {
    let hosts = [
        ("127.0.61.1", ""),
        ("127.0.61.2", "{ kind = \"dcom_access_denied\" }"),
        (
            "127.0.61.3",
            "{ kind = \"wmi_access_denied\", namespace = 'root\\cimv2' }",
        ),
        (
            "127.0.61.4",
            "{ kind = \"invalid_namespace\", namespace = 'root\\cimv2' }",
        ),
        (
            "127.0.61.5",
            "{ kind = \"namespace_not_found\", namespace = 'root\\cimv2' }",
        ),
        (
            "127.0.61.6",
            "{ kind = \"invalid_parameter\", namespace = 'root\\cimv2' }",
        ),
        (
            "127.0.61.7",
            "{ kind = \"invalid_namespace\", namespace = 'root\\default' }",
        ),
        (
            "127.0.61.8",
            "{ kind = \"namespace_not_found\", namespace = 'root\\default' }",
        ),
        (
            "127.0.61.9",
            "{ kind = \"invalid_parameter\", namespace = 'root\\default' }",
        ),
        (
            "127.0.61.10",
            "{ kind = \"rpc_call_failed\", call = \"ExecQuery\" }",
        ),
        (
            "127.0.61.11",
            "{ kind = \"call_cancelled\", call = \"ExecQuery\" }",
        ),
        ("127.0.61.12", "{ kind = \"shutting_down\", after_ms = 0 }"),
        (
            "127.0.61.13",
            "{ kind = \"invalid_class\", class = \"Win32_BIOS\" }",
        ),
        ("127.0.61.14", "{ kind = \"dynamic_port_silent\" }"),
        ("127.0.61.15", "{ kind = \"dcom_disabled\" }"),
        ("127.0.61.16", "{ kind = \"wrong_password\" }"),
        (
            "127.0.61.17",
            "{ kind = \"provider_hang\", class = \"Win32_BIOS\" }",
        ),
    ];
    let sim = serve(&hosts).await;
    let engine = Engine::new(
        options(&sim),
        vec![cred(PASSWORD)],
        Profile::standard(),
        None,
    );
    let targets: Vec<&str> = hosts.iter().map(|(a, _)| *a).collect();
    let (r, _) = scan(&engine, &targets).await;
    assert_eq!(r.len(), hosts.len());

    // (address, status, stage, code, attempts)
    let want: [(&str, Status, &str, Option<u32>, usize); 16] = [
        ("127.0.61.1", Status::Inventoried, "", None, 1),
        (
            "127.0.61.2",
            Status::AccessDenied,
            "activation",
            Some(0x8007_0005),
            1,
        ),
        (
            "127.0.61.3",
            Status::AccessDenied,
            "login",
            Some(0x8004_1003),
            1,
        ),
        (
            "127.0.61.4",
            Status::Cimv2NamespaceInvalid,
            "login",
            Some(0x8004_100e),
            1,
        ),
        (
            "127.0.61.5",
            Status::Cimv2NamespaceNotFound,
            "login",
            Some(0x8004_1002),
            1,
        ),
        (
            "127.0.61.6",
            Status::Cimv2NamespaceInvalidParameter,
            "login",
            Some(0x8004_1008),
            1,
        ),
        (
            "127.0.61.7",
            Status::StdRegProvNamespaceInvalid,
            "login",
            Some(0x8004_100e),
            1,
        ),
        (
            "127.0.61.8",
            Status::StdRegProvNamespaceNotFound,
            "login",
            Some(0x8004_1002),
            1,
        ),
        (
            "127.0.61.9",
            Status::StdRegProvNamespaceInvalidParameter,
            "login",
            Some(0x8004_1008),
            1,
        ),
        ("127.0.61.10", Status::RpcCallFailed, "query", Some(1726), 4),
        (
            "127.0.61.11",
            Status::RpcCallCancelled,
            "query",
            Some(1818),
            4,
        ),
        (
            "127.0.61.12",
            Status::ComputerShuttingDown,
            "",
            Some(0x8007_045b),
            4,
        ),
        ("127.0.61.13", Status::InventoriedIncomplete, "", None, 1),
        // The simulator accepts on the dynamic port and stays silent (a DROP rule in the
        // network-fault test gives connect-dynamic instead).
        (
            "127.0.61.14",
            Status::RpcServerUnavailable,
            "bind-dynamic",
            Some(0x8007_06ba),
            1,
        ),
        (
            "127.0.61.15",
            Status::RpcServerUnavailable,
            "bind-135",
            None,
            1,
        ),
        (
            "127.0.61.16",
            Status::AccessDenied,
            "bind-135",
            Some(0x8007_0005),
            1,
        ),
    ];
    for (addr, status, stage, code, attempts) in want {
        let c = &r[addr];
        assert_eq!(c.status, status, "{addr}: {:?}", c.failure);
        assert_eq!(c.attempts.len(), attempts, "{addr}: {:?}", c.attempts);
        if status.is_success() {
            assert!(c.failure.is_none(), "{addr}");
            continue;
        }
        let f = c.failure.as_ref().unwrap();
        if !stage.is_empty() {
            assert_eq!(f.stage, stage, "{addr}: {f:?}");
        }
        assert_eq!(f.code, code, "{addr}: {f:?}");
        assert!(f.code_name.is_some() || code.is_none(), "{addr}: {f:?}");
        assert_eq!(f.retry, status.is_retry_class(), "{addr}");
        let phase = if f.stage == "query" || f.stage == "enumerate" {
            winv_kb::Phase::Operation
        } else {
            winv_kb::Phase::Connecting
        };
        if status != Status::ComputerShuttingDown {
            assert_eq!(f.phase, phase, "{addr}: {f:?}");
        }
    }
    // Who refused access.
    let denied = |a: &str| r[a].failure.as_ref().unwrap().denied_by;
    assert_eq!(denied("127.0.61.2"), Some(DeniedBy::Dcom));
    assert_eq!(denied("127.0.61.3"), Some(DeniedBy::WmiNamespace));
    assert_eq!(denied("127.0.61.16"), Some(DeniedBy::Authentication));

    // The healthy host: every item collected, with data.
    let ok = &r["127.0.61.1"];
    assert_eq!(ok.classes.len(), Profile::standard().items.len());
    assert!(ok
        .classes
        .iter()
        .all(|c| c.outcome == ClassOutcome::Collected));
    assert_eq!(ok.credential.as_deref(), Some("LAB\\admin"));
    let os = ok.inventory.class("Win32_OperatingSystem").unwrap();
    assert_eq!(os.len(), 1);
    assert!(os[0]["Caption"].as_str().unwrap().contains("Windows"));
    assert!(!ok.inventory.software.is_empty());
    let edition = ok
        .inventory
        .registry_values
        .iter()
        .find(|(n, _)| n == "os-edition");
    assert!(
        matches!(edition, Some((_, Some(e))) if !e.is_empty()),
        "{edition:?}"
    );

    // A missing class keeps its own error, the computer is otherwise inventoried.
    let inc = &r["127.0.61.13"];
    let bios = inc
        .classes
        .iter()
        .find(|c| c.class == "Win32_BIOS")
        .unwrap();
    assert_eq!(bios.outcome, ClassOutcome::Failed);
    assert_eq!(bios.error.as_ref().unwrap().code, Some(0x8004_1010));
    assert_eq!(
        inc.classes
            .iter()
            .filter(|c| c.outcome == ClassOutcome::Collected)
            .count(),
        inc.classes.len() - 1
    );

    // A hung provider after a successful query: the class times out, the computer goes on.
    let hang = &r["127.0.61.17"];
    assert_eq!(
        hang.status,
        Status::InventoriedIncomplete,
        "{:?}",
        hang.failure
    );
    let bios = hang
        .classes
        .iter()
        .find(|c| c.class == "Win32_BIOS")
        .unwrap();
    assert_eq!(bios.outcome, ClassOutcome::TimedOut);
    assert_eq!(hang.attempts.len(), 1);
    assert!(
        hang.classes
            .iter()
            .filter(|c| c.outcome == ClassOutcome::Collected)
            .count()
            > 5
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn intermittent_faults_clear_on_the_attempt_after() {
    let hosts = [
        (
            "127.0.62.1",
            "{ kind = \"rpc_call_failed\", call = \"ExecQuery\", first_attempts = 1 }",
        ),
        (
            "127.0.62.2",
            "{ kind = \"call_cancelled\", call = \"ExecQuery\", first_attempts = 2 }",
        ),
        (
            "127.0.62.3",
            "{ kind = \"rpc_call_failed\", call = \"ExecQuery\", first_attempts = 3 }",
        ),
        (
            "127.0.62.4",
            "{ kind = \"rpc_call_failed\", call = \"ExecQuery\", first_attempts = 4 }",
        ),
    ];
    let sim = serve(&hosts).await;
    let engine = Engine::new(
        options(&sim),
        vec![cred(PASSWORD)],
        Profile::standard(),
        None,
    );
    let (r, log) = scan(
        &engine,
        &["127.0.62.1", "127.0.62.2", "127.0.62.3", "127.0.62.4"],
    )
    .await;
    for (addr, attempts) in [("127.0.62.1", 2), ("127.0.62.2", 3), ("127.0.62.3", 4)] {
        let c = &r[addr];
        assert_eq!(c.status, Status::Inventoried, "{addr}: {:?}", c.failure);
        assert_eq!(c.attempts.len(), attempts, "{addr}");
        // Every attempt but the last ended with the retry-class status, failing on its
        // first item, which the next attempt tries last.
        for w in c.attempts.windows(2) {
            let (a, next) = (&w[0], &w[1]);
            assert!(a.outcome.is_retry_class(), "{addr}: {a:?}");
            assert_eq!(a.failing_class.as_ref(), a.class_order.first(), "{addr}");
            assert_eq!(next.class_order.last(), a.failing_class.as_ref(), "{addr}");
        }
        assert_eq!(c.attempts[attempts - 1].outcome, Status::Inventoried);
    }
    // Never clears within 4 attempts: the status after exactly 4.
    let c = &r["127.0.62.4"];
    assert_eq!(c.status, Status::RpcCallFailed);
    assert_eq!(c.attempts.len(), 4);
    assert_eq!(
        log.iter().filter(|l| l.contains("127.0.62.4")).count(),
        3,
        "{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_failing_class_moves_to_the_end_on_a_retry() {
    // The first class hangs on the first attempt only: no query has succeeded yet, so it
    // is wmi-query-timeout (retry class); attempt 2 tries it last and everything works.
    let hosts = [(
        "127.0.63.1",
        "{ kind = \"provider_hang\", class = \"Win32_ComputerSystem\", first_attempts = 1 }",
    )];
    let sim = serve(&hosts).await;
    let engine = Engine::new(
        options(&sim),
        vec![cred(PASSWORD)],
        Profile::standard(),
        None,
    );
    let (r, _) = scan(&engine, &["127.0.63.1"]).await;
    let c = &r["127.0.63.1"];
    assert_eq!(c.status, Status::Inventoried, "{:?}", c.attempts);
    assert_eq!(c.attempts.len(), 2);
    let a1 = &c.attempts[0];
    assert_eq!(a1.outcome, Status::WmiQueryTimeout);
    assert_eq!(a1.failing_class.as_deref(), Some("Win32_ComputerSystem"));
    assert_eq!(
        a1.class_order.first().map(String::as_str),
        Some("Win32_ComputerSystem")
    );
    let a2 = &c.attempts[1];
    assert_eq!(
        a2.class_order.last().map(String::as_str),
        Some("Win32_ComputerSystem")
    );
    assert_eq!(a2.class_order.len(), a1.class_order.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_class_that_never_answers_ends_as_wmi_query_timeout() {
    let hosts = [(
        "127.0.63.2",
        "{ kind = \"provider_hang\", class = \"Win32_BIOS\" }",
    )];
    let sim = serve(&hosts).await;
    let mut o = options(&sim);
    o.watchdog = Duration::from_millis(600);
    let engine = Engine::new(
        o,
        vec![cred(PASSWORD)],
        one_class_profile("Win32_BIOS"),
        None,
    );
    let (r, _) = scan(&engine, &["127.0.63.2"]).await;
    let c = &r["127.0.63.2"];
    assert_eq!(c.status, Status::WmiQueryTimeout, "{:?}", c.failure);
    assert_eq!(c.attempts.len(), 4);
    assert!(c.failure.as_ref().unwrap().retry);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_class_failing_on_every_attempt_is_other_reasons() {
    let hosts = [(
        "127.0.63.3",
        "{ kind = \"provider_failure\", class = \"Win32_BIOS\" }",
    )];
    let sim = serve(&hosts).await;
    let engine = Engine::new(
        options(&sim),
        vec![cred(PASSWORD)],
        one_class_profile("Win32_BIOS"),
        None,
    );
    let (r, _) = scan(&engine, &["127.0.63.3"]).await;
    let c = &r["127.0.63.3"];
    assert_eq!(c.status, Status::OtherReasons, "{:?}", c.failure);
    assert_eq!(c.attempts.len(), 4);
    assert_eq!(c.failure.as_ref().unwrap().code, Some(0x8004_1004));
    assert_eq!(c.classes[0].outcome, ClassOutcome::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn credentials_are_tried_in_order_and_the_working_one_remembered() {
    let hosts = [
        // The simulator counts activations: the wrong credential's is the first, the
        // right one's the second; the third (engine attempt 2) fails too unless the
        // engine tries the wrong credential again first.
        (
            "127.0.64.1",
            "{ kind = \"rpc_call_failed\", call = \"ExecQuery\", first_attempts = 3 }",
        ),
        ("127.0.64.2", ""),
    ];
    let sim = serve(&hosts).await;
    let wrong = Credential {
        account: "LAB\\helpdesk".into(),
        creds: Credentials::with_password("helpdesk", "LAB", "not-it"),
        mechanism: None,
    };
    let engine = Engine::new(
        options(&sim),
        vec![wrong.clone(), cred(PASSWORD)],
        Profile::standard(),
        None,
    );
    let (r, _) = scan(&engine, &["127.0.64.1", "127.0.64.2"]).await;
    for addr in ["127.0.64.1", "127.0.64.2"] {
        let c = &r[addr];
        assert_eq!(c.status, Status::Inventoried, "{addr}: {:?}", c.failure);
        assert_eq!(c.credential.as_deref(), Some("LAB\\admin"));
    }
    // The retries start with the remembered credential: three engine attempts (two
    // activations, then one each). Retrying the list in order would have taken two.
    let c = &r["127.0.64.1"];
    assert_eq!(c.attempts.len(), 3, "{:?}", c.attempts);
    assert!(c
        .attempts
        .iter()
        .all(|a| a.credential.as_deref() == Some("LAB\\admin")));

    // None right: access denied by the logon.
    let engine = Engine::new(
        options(&sim),
        vec![wrong.clone(), wrong],
        Profile::standard(),
        None,
    );
    let (r, _) = scan(&engine, &["127.0.64.2"]).await;
    let c = &r["127.0.64.2"];
    assert_eq!(c.status, Status::AccessDenied);
    assert_eq!(
        c.failure.as_ref().unwrap().denied_by,
        Some(DeniedBy::Authentication)
    );
    assert_eq!(c.credential, None);
    // No secret in what is recorded.
    let text = serde_json::to_string(&r.values().collect::<Vec<_>>()).unwrap();
    assert!(!text.contains(PASSWORD) && !text.contains("not-it"));

    // An empty list.
    let engine = Engine::new(options(&sim), vec![], Profile::standard(), None);
    let (r, _) = scan(&engine, &["127.0.64.2"]).await;
    assert_eq!(r["127.0.64.2"].status, Status::NoCredentials);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopping_a_run_gives_every_computer_one_status() {
    let addrs: Vec<String> = (1..=60).map(|i| format!("127.0.65.{i}")).collect();
    let hosts: Vec<(&str, &str)> = addrs.iter().map(|a| (a.as_str(), "")).collect();
    let sim = serve(&hosts).await;
    let mut o = options(&sim);
    o.concurrency = 4;
    let engine = Engine::new(o, vec![cred(PASSWORD)], Profile::standard(), None);
    let (tx, mut rx) = mpsc::channel(8);
    let (stop_tx, stop_rx) = watch::channel(false);
    let targets = addrs.clone();
    let e = engine.clone();
    let run = tokio::spawn(async move { e.run(targets, tx, stop_rx).await });
    let mut results: Vec<ComputerResult> = Vec::new();
    while let Some(ev) = rx.recv().await {
        if let Event::Finished(r) = ev {
            results.push(*r);
            if results.len() == 5 {
                stop_tx.send(true).unwrap();
            }
        }
    }
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(results.len(), addrs.len());
    let mut seen: Vec<&str> = results.iter().map(|r| r.target.as_str()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), addrs.len());
    let done = results
        .iter()
        .filter(|r| r.status == Status::Inventoried)
        .count();
    let stopped = results
        .iter()
        .filter(|r| r.status == Status::InventoryNotCompleted)
        .count();
    assert!(done >= 5, "{done}");
    assert!(stopped >= 40, "{stopped}");
    assert_eq!(done + stopped, addrs.len());
}

/// A ledger that makes every unproven connect wait until `open_at`, then admits it, and
/// counts what it is told.
struct SlowLedger {
    open_at: std::time::Instant,
    asked: std::sync::atomic::AtomicU32,
    reports: std::sync::Mutex<Vec<winv_engine::guard::Verdict>>,
}

impl winv_engine::work::AccountLedger for SlowLedger {
    fn admit<'a>(
        &'a self,
        _account: &'a str,
        _target: &'a str,
        _limit: u32,
    ) -> winv_engine::work::WorkFuture<'a, winv_engine::work::LedgerAnswer> {
        Box::pin(async move {
            self.asked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(if std::time::Instant::now() < self.open_at {
                winv_engine::work::LedgerAnswer::Wait
            } else {
                winv_engine::work::LedgerAnswer::Go
            })
        })
    }

    fn report<'a>(
        &'a self,
        _account: &'a str,
        _target: &'a str,
        verdict: winv_engine::guard::Verdict,
        _limit: u32,
    ) -> winv_engine::work::WorkFuture<'a, Option<u32>> {
        Box::pin(async move {
            self.reports.lock().unwrap().push(verdict);
            Ok(None)
        })
    }
}

/// A connect that waits for the run's ledger (other scanners hold the account's places)
/// longer than the watchdog is not timed out for it: the wait is not the host's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wait_for_the_ledger_is_not_under_the_watchdog() {
    let sim = serve(&[("127.0.64.20", "")]).await;
    let mut opts = options(&sim);
    opts.watchdog = Duration::from_secs(2);
    let ledger = std::sync::Arc::new(SlowLedger {
        open_at: std::time::Instant::now() + Duration::from_millis(3500),
        asked: Default::default(),
        reports: Default::default(),
    });
    let engine = Engine::new(
        opts,
        vec![cred(PASSWORD)],
        one_class_profile("Win32_BIOS"),
        None,
    )
    .with_ledger(ledger.clone());
    let started = std::time::Instant::now();
    let (results, log) = scan(&engine, &["127.0.64.20"]).await;
    let r = &results["127.0.64.20"];
    assert_eq!(r.status, Status::Inventoried, "{r:?} {log:?}");
    assert_eq!(r.attempts.len(), 1, "no retry for the wait: {log:?}");
    assert!(started.elapsed() >= Duration::from_millis(3500));
    // Asked about once a second while it waited, and told the verdict once.
    let asked = ledger.asked.load(std::sync::atomic::Ordering::Relaxed);
    assert!((3..=6).contains(&asked), "asked {asked} times");
    assert_eq!(
        *ledger.reports.lock().unwrap(),
        [winv_engine::guard::Verdict::Accepted]
    );
    // Proven now: the next computer's connect does not ask the ledger.
    let (results, _) = scan(&engine, &["127.0.64.20"]).await;
    assert_eq!(results["127.0.64.20"].status, Status::Inventoried);
    assert_eq!(ledger.asked.load(std::sync::atomic::Ordering::Relaxed), asked);
}

/// A host that keeps answering, slowly, and never ends an enumeration (one batch every
/// 300 ms: progress, so neither the call deadline nor the watchdog fires, and the query's
/// own 10-minute budget is far away) holds its slot only for the attempt's time budget:
/// the class running then fails with WINV_E_ATTEMPT_BUDGET, the class not started is
/// recorded as not collected for that reason, and what was collected is kept. A healthy
/// host of the same run is unaffected. (127.0.120.x, issue 17's helper range.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_host_that_keeps_the_scan_busy_ends_at_the_attempt_budget() {
    let slow = "127.0.120.1";
    let healthy = "127.0.120.2";
    let sim = serve(&[
        (
            slow,
            r#"{ kind = "endless_enumeration", class = "Win32_Service" },
               { kind = "provider_slow", class = "Win32_Service", delay_ms = 300 }"#,
        ),
        (healthy, ""),
    ])
    .await;
    let budget = Duration::from_secs(4);
    let mut o = options(&sim);
    o.attempt_budget = budget;
    let profile = Profile::parse(
        "name = \"three\"\n[[wmi]]\nclass = \"Win32_OperatingSystem\"\n\
         [[wmi]]\nclass = \"Win32_Service\"\n[[wmi]]\nclass = \"Win32_BIOS\"\n",
    )
    .unwrap();
    let engine = Engine::new(o, vec![cred(PASSWORD)], profile, None);
    let start = std::time::Instant::now();
    let (results, log) = scan(&engine, &[slow, healthy]).await;
    let took = start.elapsed();
    // The deadline counts from the attempt's start, the connect included; no retry.
    assert!(took < budget + Duration::from_secs(2), "{took:?}");
    assert!(log.is_empty(), "{log:?}");
    let r = &results[slow];
    assert_eq!(r.status, Status::InventoriedIncomplete, "{r:?}");
    assert_eq!(r.attempts.len(), 1);
    let class = |name: &str| r.classes.iter().find(|c| c.class == name).unwrap();
    assert_eq!(
        class("Win32_OperatingSystem").outcome,
        ClassOutcome::Collected
    );
    assert!(r
        .inventory
        .classes
        .iter()
        .any(|c| c.class == "Win32_OperatingSystem" && !c.instances.is_empty()));
    for (name, says) in [
        ("Win32_Service", "still running"),
        ("Win32_BIOS", "not started"),
    ] {
        let c = class(name);
        assert_eq!(c.outcome, ClassOutcome::Failed, "{name}");
        let f = c.error.as_ref().unwrap();
        assert_eq!(
            f.code,
            Some(winv_kb::WINV_E_ATTEMPT_BUDGET),
            "{name}: {f:?}"
        );
        assert_eq!(f.stage.as_str(), "budget");
        assert!(f.message.contains(says), "{name}: {}", f.message);
    }
    assert_eq!(results[healthy].status, Status::Inventoried);
}

/// While the ledger says wait, each connect keeps its place in this process: the other
/// connects of the account wait on the guard, and the ledger is asked about once a second
/// per place, not in a loop by every waiting connect.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connects_waiting_for_the_ledger_poll_it_once_a_second_per_place() {
    let hosts: Vec<String> = (30..38).map(|i| format!("127.0.64.{i}")).collect();
    let spec: Vec<(&str, &str)> = hosts.iter().map(|h| (h.as_str(), "")).collect();
    let sim = serve(&spec).await;
    let ledger = std::sync::Arc::new(SlowLedger {
        open_at: std::time::Instant::now() + Duration::from_millis(3500),
        asked: Default::default(),
        reports: Default::default(),
    });
    let engine = Engine::new(
        options(&sim),
        vec![cred(PASSWORD)],
        one_class_profile("Win32_BIOS"),
        None,
    )
    .with_ledger(ledger.clone());
    let targets: Vec<&str> = hosts.iter().map(String::as_str).collect();
    let (results, log) = scan(&engine, &targets).await;
    assert!(results.values().all(|r| r.status == Status::Inventoried), "{results:?} {log:?}");
    // Three places (the guard's limit), each asking about once a second for 3.5 s, then
    // the first acceptance proves the account: the others do not ask at all.
    let asked = ledger.asked.load(std::sync::atomic::Ordering::Relaxed);
    assert!((3..=18).contains(&asked), "asked {asked} times");
}
