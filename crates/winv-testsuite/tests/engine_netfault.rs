//! The acceptance fault matrix of the inventory engine (issue 5): inside a network
//! namespace of the test's own, simulated hosts on 127.0.70.x, iptables faults (DROP, RST,
//! ICMP host and network unreachable, a dropped dynamic port), a dnsmasq DNS server (found,
//! NXDOMAIN, server failure), and the engine with a resolver pointed at it. Every status except
//! `inventory-not-completed` comes from at least one computer, and each computer's status,
//! stage, phase, code and attempts are asserted. A real Samba AD DC (RPC answers, no DCOM)
//! is classified with a message that says so; stopping a run gives
//! `inventory-not-completed`.
//!
//! Each test enters its lab on the test thread and builds its tokio runtime there, so the
//! runtime's threads, the simulator's sockets and dnsmasq all live in the lab.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use winv_client::{Credentials, Deadlines, WmiOptions};
use winv_discovery::resolve::{DnsServer, ResolveConfig, Resolver};
use winv_engine::classify::NO_DCOM;
use winv_engine::{
    ClassOutcome, ComputerResult, Credential, DeniedBy, Engine, EngineOptions, Event, Item,
    Profile, Status,
};
use winv_kb::Phase;

use winv_sim::server::SimServer;
use winv_testsuite::fixtures::skip_or_fail;
use winv_testsuite::netlab::{Dns, Icmp, NetLab};
use winv_testsuite::samba::SambaDc;
use winv_testsuite::sim::serve_fleet;

const PW_ENV: &str = "WINV_ENGINE_NETFAULT_PASSWORD";
const PASSWORD: &str = "Netfault-Pw0rd!";
/// The DNS zone dnsmasq answers for (NXDOMAIN for any name it does not list).
const ZONE: &str = "lab.test";
/// Names here get REFUSED, a server failure (`WSATRY_AGAIN`).
const FAIL_ZONE: &str = "broken.test";

/// 127.0.70.`n`: the matrix's addresses (the namespace is private, no other test sees them).
fn addr(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 70, n))
}

fn target(n: u8) -> String {
    addr(n).to_string()
}

async fn serve(hosts: &[(IpAddr, String)]) -> SimServer {
    serve_fleet(hosts, PW_ENV, PASSWORD, 11, 135).await.unwrap()
}

fn cred(password: &str) -> Credential {
    Credential {
        account: "LAB\\admin".into(),
        creds: Credentials::with_password("admin", "LAB", password),
        mechanism: None,
    }
}

fn options() -> EngineOptions {
    EngineOptions {
        concurrency: 32,
        connections_per_second: 0.0,
        max_attempts: 4,
        watchdog: Duration::from_secs(10),
        retry_delay: Duration::ZERO,
        attempt_budget: winv_engine::ATTEMPT_BUDGET,
        result_memory: winv_engine::RESULT_MEMORY,
        lockout_guard: winv_engine::LOCKOUT_GUARD,
        client: WmiOptions {
            epm_port: 135,
            // The client's deadlines end a hung call long before the watchdog does.
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

/// A multi-thread runtime built on this (the lab's) thread: its workers are in the lab too.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs the engine over `targets` to the end; the results by target (exactly one each).
async fn scan(engine: &Engine, targets: &[String]) -> HashMap<String, ComputerResult> {
    let (tx, mut rx) = mpsc::channel(64);
    let (_stop_tx, stop_rx) = watch::channel(false);
    let e = engine.clone();
    let t = targets.to_vec();
    let run = tokio::spawn(async move { e.run(t, tx, stop_rx).await });
    let mut results = HashMap::new();
    while let Some(ev) = rx.recv().await {
        if let Event::Finished(r) = ev {
            let target = r.target.clone();
            assert!(
                results.insert(target.clone(), *r).is_none(),
                "two results for {target}"
            );
        }
    }
    run.await.unwrap();
    assert_eq!(results.len(), targets.len(), "one result per target");
    results
}

/// A profile of the given WMI classes only.
fn wmi_profile(classes: &[&str]) -> Profile {
    let mut text = "name = \"matrix\"\n".to_string();
    for c in classes {
        text.push_str(&format!("[[wmi]]\nclass = \"{c}\"\n"));
    }
    Profile::parse(&text).unwrap()
}

/// What one computer must end with.
struct Want {
    target: String,
    status: Status,
    /// The failure's stage (`None` for a success).
    stage: Option<&'static str>,
    phase: Option<Phase>,
    code: Option<u32>,
    code_name: Option<&'static str>,
    attempts: usize,
    denied_by: Option<DeniedBy>,
}

fn ok(target: String, status: Status) -> Want {
    Want {
        target,
        status,
        stage: None,
        phase: None,
        code: None,
        code_name: None,
        attempts: 1,
        denied_by: None,
    }
}

fn failed(
    target: String,
    status: Status,
    stage: &'static str,
    phase: Phase,
    code: Option<u32>,
    code_name: Option<&'static str>,
    attempts: usize,
) -> Want {
    Want {
        target,
        status,
        stage: Some(stage),
        phase: Some(phase),
        code,
        code_name,
        attempts,
        denied_by: None,
    }
}

fn denied(mut w: Want, by: DeniedBy) -> Want {
    w.denied_by = Some(by);
    w
}

/// One line per computer, printed with every run (nextest shows it on failure).
fn describe(r: &ComputerResult) -> String {
    let f = r.failure.as_ref();
    format!(
        "{:<22} {:<40} attempts={} stage={:?} phase={:?} code={:?} name={:?} denied_by={:?} msg={:?}",
        r.target,
        r.status.as_str(),
        r.attempts.len(),
        f.map(|f| f.stage.as_str()),
        f.map(|f| f.phase),
        f.map(|f| f.code.map(|c| format!("{c:#x}"))),
        f.and_then(|f| f.code_name.as_deref()),
        f.and_then(|f| f.denied_by),
        f.map(|f| f.message.as_str()),
    )
}

/// Compares one computer's result with what it must end with; the differences, each with
/// the computer's line.
fn check(results: &HashMap<String, ComputerResult>, want: &Want) -> Vec<String> {
    let t = &want.target;
    let Some(r) = results.get(t) else {
        return vec![format!("{t}: no result")];
    };
    let line = describe(r);
    let mut bad = Vec::new();
    let mut expect = |ok: bool, what: String| {
        if !ok {
            bad.push(format!("{what}\n    {line}"));
        }
    };
    expect(
        r.status == want.status,
        format!("{t}: status, want {}", want.status),
    );
    expect(
        r.attempts.len() == want.attempts,
        format!("{t}: attempts, want {}", want.attempts),
    );
    // Every attempt but the last ended with a retry-class status, a transient DNS failure
    // or every item failing; the last with the final status.
    for a in r.attempts.iter().take(r.attempts.len().saturating_sub(1)) {
        let transient = a.outcome.is_retry_class()
            || a.failure.as_ref().is_some_and(|f| {
                (f.stage == "resolve" && f.code == Some(WSATRY_AGAIN)) || f.stage == "items"
            });
        expect(
            transient,
            format!(
                "{t}: attempt {} ended {} and was retried",
                a.number, a.outcome
            ),
        );
    }
    expect(
        r.attempts.last().map(|a| a.outcome) == Some(r.status),
        format!("{t}: the last attempt's outcome is not the status"),
    );
    match (want.stage, r.failure.as_ref()) {
        (None, f) => expect(f.is_none(), format!("{t}: a failure on a success")),
        (Some(_), None) => expect(false, format!("{t}: no failure recorded")),
        (Some(stage), Some(f)) => {
            expect(
                f.status == r.status,
                format!("{t}: the failure's status is not the computer's"),
            );
            expect(f.stage == stage, format!("{t}: stage, want {stage}"));
            expect(
                Some(f.phase) == want.phase,
                format!("{t}: phase, want {:?}", want.phase),
            );
            expect(
                f.code == want.code,
                format!("{t}: code, want {:x?}", want.code),
            );
            if want.code_name.is_some() {
                expect(
                    f.code_name.as_deref() == want.code_name,
                    format!("{t}: code name, want {:?}", want.code_name),
                );
            }
            expect(
                f.denied_by == want.denied_by,
                format!("{t}: denied by, want {:?}", want.denied_by),
            );
            expect(
                f.retry == want.status.is_retry_class(),
                format!("{t}: retry flag, want {}", want.status.is_retry_class()),
            );
            expect(!f.message.is_empty(), format!("{t}: empty message"));
            expect(
                !f.message.contains(PASSWORD),
                format!("{t}: the password in the message"),
            );
        }
    }
    bad
}

/// The WMI classes of the standard profile.
fn standard_classes() -> Vec<String> {
    Profile::standard()
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Wmi { class, .. } => Some(class.clone()),
            _ => None,
        })
        .collect()
}

// The matrix's hosts (127.0.70.n).
const HEALTHY: u8 = 1;
const HEALTHY_BY_NAME: u8 = 2;
const MISSING_CLASS: u8 = 3;
const DROPPED: u8 = 4;
const RESET: u8 = 5;
const UNREACHABLE: u8 = 6;
const DCOM_DENIED: u8 = 7;
const WRONG_PASSWORD: u8 = 8;
const DYNAMIC_DROPPED: u8 = 9;
const CALL_FAILED: u8 = 10;
const CALL_CANCELLED: u8 = 11;
const CIMV2_INVALID: u8 = 12;
const CIMV2_NOT_FOUND: u8 = 13;
const CIMV2_INVALID_PARAMETER: u8 = 14;
const STDREGPROV_INVALID: u8 = 15;
const STDREGPROV_NOT_FOUND: u8 = 16;
const STDREGPROV_INVALID_PARAMETER: u8 = 17;
const SHUTTING_DOWN: u8 = 18;
const ALL_HANG: u8 = 19;
const ALL_FAIL: u8 = 20;
const NET_UNREACHABLE: u8 = 21;
const DNS: u8 = 53;

const NAME_FOUND: &str = "healthy.lab.test";
const NAME_MISSING: &str = "missing.lab.test";
const NAME_TRY_AGAIN: &str = "host.broken.test";
const NAME_NO_CREDS: &str = "no-creds.lab.test";

const WSAETIMEDOUT: u32 = 10060;
const WSAECONNREFUSED: u32 = 10061;
const WSAEHOSTUNREACH: u32 = 10065;
const WSAENETUNREACH: u32 = 10051;
const WSAHOST_NOT_FOUND: u32 = 11001;
const WSATRY_AGAIN: u32 = 11002;
const E_ACCESSDENIED: u32 = 0x8007_0005;
const RPC_S_SERVER_UNAVAILABLE_HR: u32 = 0x8007_06BA;
const RPC_S_CALL_FAILED: u32 = 1726;
const RPC_S_CALL_CANCELLED: u32 = 1818;
const WBEM_E_NOT_FOUND: u32 = 0x8004_1002;
const WBEM_E_INVALID_PARAMETER: u32 = 0x8004_1008;
const WBEM_E_INVALID_NAMESPACE: u32 = 0x8004_100E;
const WBEM_E_INVALID_CLASS: u32 = 0x8004_1010;
const WBEM_E_PROVIDER_FAILURE: u32 = 0x8004_1004;
const WBEM_E_PROVIDER_LOAD_FAILURE: u32 = 0x8004_1013;
const ERROR_SHUTDOWN_IN_PROGRESS_HR: u32 = 0x8007_045B;

fn hosts() -> Vec<(IpAddr, String)> {
    let ns =
        |kind: &str, namespace: &str| format!("{{ kind = \"{kind}\", namespace = '{namespace}' }}");
    let hang_all: Vec<String> = standard_classes()
        .iter()
        .map(|c| format!("{{ kind = \"provider_hang\", class = \"{c}\" }}"))
        .collect();
    vec![
        (addr(HEALTHY), String::new()),
        (addr(HEALTHY_BY_NAME), String::new()),
        (
            addr(MISSING_CLASS),
            "{ kind = \"invalid_class\", class = \"Win32_BIOS\" }".into(),
        ),
        // The network faults: a host listens behind each, so only the fault can fail it.
        (addr(DROPPED), String::new()),
        (addr(RESET), String::new()),
        (addr(UNREACHABLE), String::new()),
        (addr(NET_UNREACHABLE), String::new()),
        (
            addr(DCOM_DENIED),
            "{ kind = \"dcom_access_denied\" }".into(),
        ),
        (addr(WRONG_PASSWORD), "{ kind = \"wrong_password\" }".into()),
        (addr(DYNAMIC_DROPPED), String::new()),
        (
            addr(CALL_FAILED),
            "{ kind = \"rpc_call_failed\", call = \"ExecQuery\" }".into(),
        ),
        (
            addr(CALL_CANCELLED),
            "{ kind = \"call_cancelled\", call = \"ExecQuery\" }".into(),
        ),
        (addr(CIMV2_INVALID), ns("invalid_namespace", r"root\cimv2")),
        (
            addr(CIMV2_NOT_FOUND),
            ns("namespace_not_found", r"root\cimv2"),
        ),
        (
            addr(CIMV2_INVALID_PARAMETER),
            ns("invalid_parameter", r"root\cimv2"),
        ),
        (
            addr(STDREGPROV_INVALID),
            ns("invalid_namespace", r"root\default"),
        ),
        (
            addr(STDREGPROV_NOT_FOUND),
            ns("namespace_not_found", r"root\default"),
        ),
        (
            addr(STDREGPROV_INVALID_PARAMETER),
            ns("invalid_parameter", r"root\default"),
        ),
        (
            addr(SHUTTING_DOWN),
            "{ kind = \"shutting_down\", after_ms = 0 }".into(),
        ),
        (addr(ALL_HANG), hang_all.join(", ")),
        (
            addr(ALL_FAIL),
            "{ kind = \"provider_failure\", class = \"Win32_BIOS\" }, \
             { kind = \"provider_load_failure\", class = \"Win32_Service\" }"
                .into(),
        ),
    ]
}

/// Enters a lab and checks dnsmasq; `None` (after a skip message) when the test must skip.
fn lab_with_dns() -> Option<NetLab> {
    let lab = NetLab::enter().unwrap()?;
    if !Dns::available() {
        skip_or_fail("dnsmasq not installed (apt-get install dnsmasq-base)");
        return None;
    }
    Some(lab)
}

fn timed<T>(what: &str, rt: &tokio::runtime::Runtime, f: impl Future<Output = T>) -> T {
    let t0 = Instant::now();
    let r = rt.block_on(f);
    eprintln!("{what}: {:.1?}", t0.elapsed());
    r
}

#[test]
fn every_status_from_network_faults_dns_and_simulated_hosts() {
    let t0 = Instant::now();
    let Some(lab) = lab_with_dns() else { return };
    let rt = runtime();
    let hosts = hosts();
    let sim = rt.block_on(serve(&hosts));
    assert_eq!(sim.epm_port, 135);
    assert_ne!(sim.dynamic_port, 135);

    lab.drop_tcp(addr(DROPPED)).unwrap();
    lab.reject_reset(addr(RESET)).unwrap();
    lab.reject_icmp(addr(UNREACHABLE), Icmp::HostUnreachable)
        .unwrap();
    lab.reject_icmp(addr(NET_UNREACHABLE), Icmp::NetUnreachable)
        .unwrap();
    // Port 135 answers and activates; the OXID's endpoint never does.
    lab.drop_tcp_port(addr(DYNAMIC_DROPPED), sim.dynamic_port)
        .unwrap();
    let dns = Dns::start(
        SocketAddr::new(addr(DNS), 53),
        ZONE,
        &[
            (NAME_FOUND, addr(HEALTHY_BY_NAME)),
            (NAME_NO_CREDS, addr(HEALTHY)),
        ],
        Some(FAIL_ZONE),
    )
    .unwrap();
    let resolver = {
        let _guard = rt.enter();
        Resolver::new(ResolveConfig {
            server: DnsServer::Addr(dns.addr()),
            attempt_timeout: Duration::from_millis(800),
            // One query per engine attempt: the engine's retries are what is tested.
            attempts: 1,
        })
        .unwrap()
    };

    // The main run: the standard profile, one good credential.
    let mut targets: Vec<String> = hosts
        .iter()
        .map(|(a, _)| a.to_string())
        .filter(|a| *a != target(HEALTHY_BY_NAME) && *a != target(ALL_FAIL))
        .collect();
    targets.extend([NAME_FOUND, NAME_MISSING, NAME_TRY_AGAIN].map(String::from));
    let engine = Engine::new(
        options(),
        vec![cred(PASSWORD)],
        Profile::standard(),
        Some(resolver.clone()),
    );
    let mut results = timed("main run", &rt, scan(&engine, &targets));

    // Every WMI item failing with a per-class error on every attempt: a profile of two
    // classes that both fail on that host.
    let engine = Engine::new(
        options(),
        vec![cred(PASSWORD)],
        wmi_profile(&["Win32_BIOS", "Win32_Service"]),
        Some(resolver.clone()),
    );
    results.extend(timed(
        "two-class run",
        &rt,
        scan(&engine, &[target(ALL_FAIL)]),
    ));

    // No credential at all (for a name that resolves to the healthy host).
    let engine = Engine::new(options(), vec![], Profile::standard(), Some(resolver));
    results.extend(timed(
        "no-credential run",
        &rt,
        scan(&engine, &[NAME_NO_CREDS.into()]),
    ));

    let mut lines: Vec<String> = results.values().map(describe).collect();
    lines.sort();
    eprintln!("{}", lines.join("\n"));

    use Phase::{Connecting, Operation};
    use Status::*;
    let t = target;
    let want = vec![
        ok(t(HEALTHY), Inventoried),
        ok(NAME_FOUND.into(), Inventoried),
        ok(t(MISSING_CLASS), InventoriedIncomplete),
        failed(
            NAME_MISSING.into(),
            MachineNotFound,
            "resolve",
            Connecting,
            Some(WSAHOST_NOT_FOUND),
            Some("WSAHOST_NOT_FOUND"),
            1,
        ),
        failed(
            NAME_TRY_AGAIN.into(),
            MachineNotFound,
            "resolve",
            Connecting,
            Some(WSATRY_AGAIN),
            Some("WSATRY_AGAIN"),
            4,
        ),
        failed(
            t(DROPPED),
            ConnectionTimeout,
            "connect-135",
            Connecting,
            Some(WSAETIMEDOUT),
            Some("WSAETIMEDOUT"),
            1,
        ),
        failed(
            t(RESET),
            ConnectionRefused,
            "connect-135",
            Connecting,
            Some(WSAECONNREFUSED),
            Some("WSAECONNREFUSED"),
            1,
        ),
        failed(
            t(UNREACHABLE),
            HostUnreachable,
            "connect-135",
            Connecting,
            Some(WSAEHOSTUNREACH),
            Some("WSAEHOSTUNREACH"),
            1,
        ),
        // Seed 000's "Host Unreachable" is WSAENETUNREACH: no route to the host.
        failed(
            t(NET_UNREACHABLE),
            HostUnreachable,
            "connect-135",
            Connecting,
            Some(WSAENETUNREACH),
            Some("WSAENETUNREACH"),
            1,
        ),
        denied(
            failed(
                t(DCOM_DENIED),
                AccessDenied,
                "activation",
                Connecting,
                Some(E_ACCESSDENIED),
                Some("E_ACCESSDENIED"),
                1,
            ),
            DeniedBy::Dcom,
        ),
        denied(
            failed(
                t(WRONG_PASSWORD),
                AccessDenied,
                "bind-135",
                Connecting,
                Some(E_ACCESSDENIED),
                Some("E_ACCESSDENIED"),
                1,
            ),
            DeniedBy::Authentication,
        ),
        failed(
            t(DYNAMIC_DROPPED),
            RpcServerUnavailable,
            "connect-dynamic",
            Connecting,
            Some(RPC_S_SERVER_UNAVAILABLE_HR),
            None,
            1,
        ),
        failed(
            t(CALL_FAILED),
            RpcCallFailed,
            "query",
            Operation,
            Some(RPC_S_CALL_FAILED),
            Some("RPC_S_CALL_FAILED"),
            4,
        ),
        failed(
            t(CALL_CANCELLED),
            RpcCallCancelled,
            "query",
            Operation,
            Some(RPC_S_CALL_CANCELLED),
            Some("RPC_S_CALL_CANCELLED"),
            4,
        ),
        failed(
            t(CIMV2_INVALID),
            Cimv2NamespaceInvalid,
            "login",
            Connecting,
            Some(WBEM_E_INVALID_NAMESPACE),
            Some("WBEM_E_INVALID_NAMESPACE"),
            1,
        ),
        failed(
            t(CIMV2_NOT_FOUND),
            Cimv2NamespaceNotFound,
            "login",
            Connecting,
            Some(WBEM_E_NOT_FOUND),
            Some("WBEM_E_NOT_FOUND"),
            1,
        ),
        failed(
            t(CIMV2_INVALID_PARAMETER),
            Cimv2NamespaceInvalidParameter,
            "login",
            Connecting,
            Some(WBEM_E_INVALID_PARAMETER),
            Some("WBEM_E_INVALID_PARAMETER"),
            1,
        ),
        failed(
            t(STDREGPROV_INVALID),
            StdRegProvNamespaceInvalid,
            "login",
            Connecting,
            Some(WBEM_E_INVALID_NAMESPACE),
            Some("WBEM_E_INVALID_NAMESPACE"),
            1,
        ),
        failed(
            t(STDREGPROV_NOT_FOUND),
            StdRegProvNamespaceNotFound,
            "login",
            Connecting,
            Some(WBEM_E_NOT_FOUND),
            Some("WBEM_E_NOT_FOUND"),
            1,
        ),
        failed(
            t(STDREGPROV_INVALID_PARAMETER),
            StdRegProvNamespaceInvalidParameter,
            "login",
            Connecting,
            Some(WBEM_E_INVALID_PARAMETER),
            Some("WBEM_E_INVALID_PARAMETER"),
            1,
        ),
        failed(
            t(SHUTTING_DOWN),
            ComputerShuttingDown,
            "activation",
            Connecting,
            Some(ERROR_SHUTDOWN_IN_PROGRESS_HR),
            Some("ERROR_SHUTDOWN_IN_PROGRESS"),
            4,
        ),
        // The enumeration of the first class gets no object within the call deadline, on
        // every attempt, and no query ever succeeded.
        failed(
            t(ALL_HANG),
            WmiQueryTimeout,
            "enumerate",
            Operation,
            None,
            None,
            4,
        ),
        failed(
            t(ALL_FAIL),
            OtherReasons,
            "items",
            Operation,
            Some(WBEM_E_PROVIDER_LOAD_FAILURE),
            Some("WBEM_E_PROVIDER_LOAD_FAILURE"),
            4,
        ),
        failed(
            NAME_NO_CREDS.into(),
            NoCredentials,
            "credentials",
            Connecting,
            None,
            None,
            1,
        ),
    ];
    assert_eq!(
        want.len(),
        results.len(),
        "every computer has an expectation"
    );
    let bad: Vec<String> = want.iter().flat_map(|w| check(&results, w)).collect();
    assert!(
        bad.is_empty(),
        "{} differences:\n{}",
        bad.len(),
        bad.join("\n")
    );

    // By name: resolved through dnsmasq to the host's address; the missing names have none.
    assert_eq!(results[NAME_FOUND].address, Some(addr(HEALTHY_BY_NAME)));
    assert_eq!(results[NAME_MISSING].address, None);
    assert_eq!(results[NAME_TRY_AGAIN].address, None);
    assert_eq!(results[NAME_NO_CREDS].address, Some(addr(HEALTHY)));
    // The engine asked the server again on each of its 4 attempts (no cache), and only once
    // for the name that does not exist.
    let log = dns.log();
    let queries = |name: &str| {
        log.lines()
            .filter(|l| l.contains(&format!("query[A] {name} ")))
            .count()
    };
    assert_eq!(queries(NAME_TRY_AGAIN), 4, "{log}");
    assert_eq!(queries(NAME_MISSING), 1, "{log}");
    assert!(queries(NAME_FOUND) >= 1, "{log}");
    for a in &results[NAME_TRY_AGAIN].attempts[..3] {
        assert_eq!(a.outcome, MachineNotFound);
        assert_eq!(a.failure.as_ref().unwrap().code, Some(WSATRY_AGAIN));
    }

    // The healthy hosts are complete, with data.
    for t in [target(HEALTHY), NAME_FOUND.to_string()] {
        let r = &results[&t];
        assert_eq!(r.classes.len(), Profile::standard().items.len(), "{t}");
        assert!(
            r.classes
                .iter()
                .all(|c| c.outcome == ClassOutcome::Collected),
            "{t}"
        );
        assert_eq!(r.credential.as_deref(), Some("LAB\\admin"), "{t}");
        assert_eq!(
            r.inventory
                .instances("Win32_OperatingSystem")
                .map(<[_]>::len),
            Some(1),
            "{t}"
        );
    }
    // The missing class keeps its own error; the rest was collected.
    let inc = &results[&target(MISSING_CLASS)];
    let bios = inc
        .classes
        .iter()
        .find(|c| c.class == "Win32_BIOS")
        .unwrap();
    assert_eq!(bios.outcome, ClassOutcome::Failed);
    assert_eq!(
        bios.error.as_ref().unwrap().code,
        Some(WBEM_E_INVALID_CLASS)
    );
    assert_eq!(
        inc.classes
            .iter()
            .filter(|c| c.outcome == ClassOutcome::Collected)
            .count(),
        Profile::standard().items.len() - 1
    );
    // The StdRegProv namespace statuses come after root\cimv2 was collected.
    for n in [
        STDREGPROV_INVALID,
        STDREGPROV_NOT_FOUND,
        STDREGPROV_INVALID_PARAMETER,
    ] {
        let r = &results[&target(n)];
        assert!(
            r.classes
                .iter()
                .any(|c| c.outcome == ClassOutcome::Collected),
            "{}",
            describe(r)
        );
    }
    // Seed 000's reordering: each retry tried the class that failed last.
    for n in [CALL_FAILED, CALL_CANCELLED, ALL_HANG] {
        let r = &results[&target(n)];
        for w in r.attempts.windows(2) {
            assert!(w[0].failing_class.is_some(), "{}", describe(r));
            assert_eq!(
                w[1].class_order.last(),
                w[0].failing_class.as_ref(),
                "{}",
                describe(r)
            );
        }
    }
    // Both classes failed with their own errors, on every attempt.
    let all_fail = &results[&target(ALL_FAIL)];
    let class_code = |class: &str| {
        let c = all_fail.classes.iter().find(|c| c.class == class).unwrap();
        assert_eq!(c.outcome, ClassOutcome::Failed, "{class}");
        c.error.as_ref().unwrap().code
    };
    assert_eq!(class_code("Win32_BIOS"), Some(WBEM_E_PROVIDER_FAILURE));
    assert_eq!(
        class_code("Win32_Service"),
        Some(WBEM_E_PROVIDER_LOAD_FAILURE)
    );
    assert!(all_fail.inventory.classes.is_empty());

    // Every status but inventory-not-completed (the stop test's) was produced.
    let seen: BTreeSet<&str> = results.values().map(|r| r.status.as_str()).collect();
    let missing: Vec<&str> = Status::ALL
        .iter()
        .filter(|s| **s != InventoryNotCompleted)
        .map(|s| s.as_str())
        .filter(|s| !seen.contains(s))
        .collect();
    assert!(missing.is_empty(), "statuses never produced: {missing:?}");

    rt.block_on(sim.stop());
    lab.clear().unwrap();
    eprintln!("fault matrix: {:.1?} in all", t0.elapsed());
}

/// A real Samba AD DC answers RPC on 135 with NTLM but has no DCOM activation: to a WMI
/// client it is a non-Windows RPC host, and the failure says so.
#[test]
fn a_samba_dc_answers_rpc_but_offers_no_dcom() {
    let dc = match SambaDc::start() {
        Ok(Some(dc)) => dc,
        Ok(None) => return,
        Err(e) => {
            skip_or_fail(&format!("samba dc did not start: {e:#}"));
            return;
        }
    };
    let rt = runtime();
    let credential = Credential {
        account: format!("{}\\{}", dc.domain(), dc.admin_user()),
        creds: Credentials::with_password(dc.admin_user(), dc.domain(), dc.admin_password()),
        mechanism: None,
    };
    let engine = Engine::new(options(), vec![credential], Profile::standard(), None);
    let t = dc.addr().to_string();
    let r = timed("samba run", &rt, scan(&engine, std::slice::from_ref(&t)));
    let c = &r[&t];
    eprintln!("{}", describe(c));
    assert_eq!(c.status, Status::RpcServerUnavailable, "{}", describe(c));
    assert_eq!(c.attempts.len(), 1);
    let f = c.failure.as_ref().unwrap();
    assert!(f.message.starts_with(NO_DCOM), "{}", describe(c));
    assert_eq!(f.stage, "bind-135", "{}", describe(c));
    assert_eq!(f.phase, Phase::Connecting);
    assert!(!f.retry);
    assert!(!f.message.contains(dc.admin_password()));
}

/// Stopping a run: computers in the middle of a connect, waiting for a retry, or never
/// started all come back `inventory-not-completed`, at once; finished ones keep their
/// status.
#[test]
fn stopping_a_run_leaves_the_rest_not_completed() {
    let Some(lab) = NetLab::enter().unwrap() else {
        return;
    };
    let rt = runtime();
    const RETRYING: u8 = 100;
    let healthy: Vec<u8> = (101..=103).collect();
    let silent: Vec<u8> = (110..=129).collect();
    let mut hosts = vec![(
        addr(RETRYING),
        "{ kind = \"rpc_call_failed\", call = \"ExecQuery\" }".to_string(),
    )];
    hosts.extend(healthy.iter().map(|n| (addr(*n), String::new())));
    let sim = rt.block_on(serve(&hosts));
    for n in &silent {
        lab.drop_tcp(addr(*n)).unwrap();
    }
    let mut o = options();
    o.concurrency = 4;
    // No silent connect may time out on its own around the stop: the stop ends them.
    o.client.deadlines.connect = Duration::from_secs(10);
    // The retrying computer waits in the queue until the stop.
    o.retry_delay = Duration::from_secs(60);
    let engine = Engine::new(o, vec![cred(PASSWORD)], Profile::standard(), None);
    let mut targets = vec![target(RETRYING)];
    targets.extend(healthy.iter().map(|n| target(*n)));
    targets.extend(silent.iter().map(|n| target(*n)));

    let (results, after_stop, before_stop) = rt.block_on(async {
        let (tx, mut rx) = mpsc::channel(8);
        let (stop_tx, stop_rx) = watch::channel(false);
        let e = engine.clone();
        let t = targets.clone();
        let run = tokio::spawn(async move { e.run(t, tx, stop_rx).await });
        let mut results: Vec<ComputerResult> = Vec::new();
        let mut requeued = false;
        let mut healthy_left = healthy.len();
        let mut stopped_at: Option<Instant> = None;
        let mut before_stop: BTreeSet<String> = BTreeSet::new();
        while let Some(ev) = rx.recv().await {
            match ev {
                Event::Requeued { target: t, .. } if t == target(RETRYING) => requeued = true,
                Event::Finished(r) => {
                    if stopped_at.is_none() {
                        before_stop.insert(r.target.clone());
                        if healthy.iter().any(|n| target(*n) == r.target) {
                            healthy_left -= 1;
                        }
                    }
                    results.push(*r);
                }
                _ => {}
            }
            if stopped_at.is_none() && requeued && healthy_left == 0 {
                stop_tx.send(true).unwrap();
                stopped_at = Some(Instant::now());
            }
        }
        tokio::time::timeout(Duration::from_secs(5), run)
            .await
            .unwrap()
            .unwrap();
        (results, stopped_at.map(|t| t.elapsed()), before_stop)
    });
    let after_stop = after_stop.expect("the run was stopped");
    let mut lines: Vec<String> = results.iter().map(describe).collect();
    lines.sort();
    eprintln!(
        "{}\nfinished before the stop: {before_stop:?}\nrun ended {after_stop:.1?} after the stop",
        lines.join("\n")
    );

    assert_eq!(results.len(), targets.len());
    let by: HashMap<&str, &ComputerResult> =
        results.iter().map(|r| (r.target.as_str(), r)).collect();
    assert_eq!(by.len(), targets.len(), "one result per computer");
    for n in &healthy {
        assert_eq!(by[target(*n).as_str()].status, Status::Inventoried);
    }
    // Waiting for its retry: one attempt recorded, ended by the retry-class error.
    let r = by[target(RETRYING).as_str()];
    assert_eq!(r.status, Status::InventoryNotCompleted, "{}", describe(r));
    assert_eq!(r.attempts.len(), 1);
    assert_eq!(r.attempts[0].outcome, Status::RpcCallFailed);
    assert_eq!(r.failure.as_ref().unwrap().stage, "run");
    // The silent ones: those connecting when the stop came were ended at once (a connect
    // takes 1 s here), the others never started. (On a very slow machine one may have
    // timed out before the stop; it keeps its status.)
    let mut connecting = Vec::new();
    for n in &silent {
        let t = target(*n);
        let r = by[t.as_str()];
        if before_stop.contains(&t) {
            assert_eq!(r.status, Status::ConnectionTimeout, "{}", describe(r));
            continue;
        }
        assert_eq!(r.status, Status::InventoryNotCompleted, "{}", describe(r));
        let f = r.failure.as_ref().unwrap();
        assert_eq!(f.stage, "run");
        assert_eq!(f.code, None);
        assert!(r.attempts.len() <= 1, "{}", describe(r));
        if let Some(a) = r.attempts.first() {
            assert_eq!(a.outcome, Status::InventoryNotCompleted, "{}", describe(r));
            connecting.push(format!("{t} ({} ms)", a.duration_ms));
        }
    }
    assert!(
        !connecting.is_empty(),
        "no computer was stopped in the middle of a connect"
    );
    // No attempt is started (and recorded) once the run is stopped: at most the 4 of the
    // concurrency limit were under way.
    assert!(
        connecting.len() <= 4,
        "{} computers have an attempt at a concurrency of 4: {connecting:?}",
        connecting.len()
    );
    assert!(
        after_stop < Duration::from_millis(900),
        "the run took {after_stop:?} to stop"
    );
    rt.block_on(sim.stop());
    lab.clear().unwrap();
}
