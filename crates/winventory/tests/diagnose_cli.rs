//! `winventory diagnose` against simulated hosts over loopback (127.0.51.x, a DNS
//! responder on 127.0.52.1), one host per fault kind, and against a real Samba DC in a
//! private network namespace: the failing step, the code, and the first remediation of
//! the knowledge-base entry that explains it.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::net::Ipv4Addr;
use std::process::{Command, Output};

use serde_json::Value;
use winv_sim::server::SimServer;
use winv_testsuite::sim::serve_one_host;

const PW_ENV: &str = "WINV_DIAGNOSE_CLI_PASSWORD";
const PASSWORD: &str = "Diag-Passw0rd!";
const WRONG_ENV: &str = "WINV_DIAGNOSE_CLI_WRONG";
const WRONG: &str = "Not-The-Passw0rd?";

async fn serve(addr: &str, faults: &str) -> SimServer {
    serve_one_host(addr, faults, PW_ENV, PASSWORD, 51)
        .await
        .unwrap()
        .0
}

fn command(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_winventory"))
        .args(args)
        .env(PW_ENV, PASSWORD)
        .env(WRONG_ENV, WRONG)
        .output()
        .unwrap()
}

/// Runs the binary off the runtime's threads, and checks that no password leaks.
async fn run(args: Vec<String>) -> Output {
    let out = tokio::task::spawn_blocking(move || command(&args))
        .await
        .unwrap();
    no_password_in(&out);
    out
}

fn no_password_in(out: &Output) {
    for (what, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        for secret in [PASSWORD, WRONG, winv_testsuite::samba::ADMIN_PASSWORD] {
            assert!(!text.contains(secret), "a password appears in {what}");
        }
    }
}

/// `diagnose ADDR --port PORT --user LAB\admin --password-env PW_ENV --json` with short
/// deadlines, then `extra`.
fn args(addr: &str, port: u16, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "diagnose",
        addr,
        "--port",
        &port.to_string(),
        "--user",
        "LAB\\admin",
        "--password-env",
        PW_ENV,
        "--timeout-connect",
        "1",
        "--timeout-call",
        "1",
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

async fn diagnose_json(addr: &str, port: u16, extra: &[&str]) -> (Option<i32>, Value) {
    let out = run(args(addr, port, extra)).await;
    let j: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(out.status.code().map(|c| c as u64), j["exit_code"].as_u64());
    (out.status.code(), j)
}

/// What a faulty host must give.
struct Want {
    step: &'static str,
    stage: &'static str,
    code: Option<u32>,
    status: &'static str,
    /// The knowledge-base entry whose first remediation comes first.
    entry: &'static str,
    exit: i32,
}

fn check(j: &Value, exit: Option<i32>, want: &Want) {
    let f = &j["failure"];
    assert_eq!(j["ok"], false, "{j:#}");
    assert_eq!(exit, Some(want.exit), "{j:#}");
    // The walk stops at the failing step: it is the last one and the only one failed.
    let steps = j["steps"].as_array().unwrap();
    let last = steps.last().unwrap();
    assert_eq!(last["name"], want.step, "{j:#}");
    assert_eq!(last["ok"], false);
    assert!(steps[..steps.len() - 1].iter().all(|s| s["ok"] == true));
    assert_eq!(f["step"], want.step, "{j:#}");
    assert_eq!(f["stage"], want.stage, "{j:#}");
    assert_eq!(f["status"], want.status, "{j:#}");
    assert_eq!(
        f["code"].as_u64(),
        want.code.map(u64::from),
        "{}",
        f["message"]
    );
    let entry = winv_kb::by_name(want.entry).unwrap();
    // The explanation is the failure's own code's.
    if want.code.is_some() {
        assert_eq!(f["code_name"], entry.name.as_str());
    }
    assert_eq!(f["explained_by"], entry.name.as_str());
    let remediation = f["remediation"].as_array().unwrap();
    if f["denied_by"] == "authentication" {
        // Ranked by the evidence: the logon was refused, so correcting the account
        // comes first, and the password is the first cause.
        let logon = winv_kb::by_name("ERROR_LOGON_FAILURE").unwrap();
        assert_eq!(remediation[0].as_str(), Some(logon.remediation[0].as_str()), "{j:#}");
        assert_eq!(remediation.len(), entry.remediation.len() + logon.remediation.len());
        assert!(f["causes"][0].as_str().unwrap().contains("password"), "{j:#}");
    } else {
        // root\cimv2 and root\default are on every Windows machine: what the entry says
        // of optional namespaces is left out for them.
        let required_ns = want.status.contains("namespace");
        let first = entry
            .remediation
            .iter()
            .find(|l| !(required_ns && l.contains("optional")))
            .map(String::as_str);
        assert_eq!(remediation[0].as_str(), first, "{j:#}");
        if required_ns {
            assert!(
                remediation.iter().all(|l| !l.as_str().unwrap().contains("optional")),
                "{j:#}"
            );
        }
        // An authenticated user refused: the password is proven, and no cause says it
        // is wrong.
        if f["denied_by"].is_string() {
            assert!(
                f["causes"].as_array().unwrap().iter().all(|c| !c.as_str().unwrap().contains("password")),
                "{j:#}"
            );
        }
    }
    assert!(!f["headline"].as_str().unwrap().is_empty());
    assert!(!f["causes"].as_array().unwrap().is_empty());
}

async fn fault_case(addr: &str, faults: &str, extra: &[&str], want: Want) -> Value {
    let sim = serve(addr, faults).await;
    let (code, j) = diagnose_json(addr, sim.epm_port, extra).await;
    sim.stop().await;
    check(&j, code, &want);
    j
}

const STEPS: [&str; 11] = [
    "resolve",
    "tcp-135",
    "bind-135",
    "activation",
    "tcp-dynamic",
    "bind-dynamic",
    "login-cimv2",
    "query",
    "login-default",
    "get-stdregprov",
    "registry-read",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_host_passes_every_step() {
    let addr = "127.0.51.1";
    let sim = serve(addr, "").await;
    let (code, j) = diagnose_json(addr, sim.epm_port, &[]).await;
    assert_eq!(code, Some(0), "{j:#}");
    assert_eq!(j["ok"], true);
    assert!(j["failure"].is_null());
    let steps = j["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, STEPS);
    assert!(steps.iter().all(|s| s["ok"] == true && s["ms"].is_u64()));
    assert_eq!(steps[0]["skipped"], true, "an address is not resolved");
    let activation = steps[3]["detail"].as_str().unwrap();
    assert!(
        activation.contains(&format!("{addr}[{}]", sim.dynamic_port)),
        "the OXID bindings are shown: {activation}"
    );
    assert!(steps[4]["detail"]
        .as_str()
        .unwrap()
        .contains(&format!("{addr}:{}", sim.dynamic_port)));
    assert!(steps[7]["detail"].as_str().unwrap().contains("Caption = "));

    // The same walk as text for people.
    let mut text_args = args(addr, sim.epm_port, &[]);
    text_args.retain(|a| a != "--json");
    let out = run(text_args).await;
    sim.stop().await;
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for s in STEPS {
        assert!(text.contains(s), "{text}");
    }
    assert!(text.contains("Every step succeeded"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_a_refused_logon() {
    let j = fault_case(
        "127.0.51.2",
        "{ kind = \"wrong_password\" }",
        &[],
        Want {
            step: "bind-135",
            stage: "bind-135",
            code: Some(0x8007_0005),
            status: "access-denied",
            entry: "E_ACCESSDENIED",
            exit: 4,
        },
    )
    .await;
    assert_eq!(j["failure"]["denied_by"], "authentication");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_user_is_a_refused_logon() {
    fault_case(
        "127.0.51.3",
        "{ kind = \"unknown_user\" }",
        &[],
        Want {
            step: "bind-135",
            stage: "bind-135",
            code: Some(0x8007_0005),
            status: "access-denied",
            entry: "E_ACCESSDENIED",
            exit: 4,
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dcom_access_denied_is_dcom_and_not_the_auth_level() {
    let j = fault_case(
        "127.0.51.4",
        "{ kind = \"dcom_access_denied\" }",
        &[],
        Want {
            step: "activation",
            stage: "activation",
            code: Some(0x8007_0005),
            status: "access-denied",
            entry: "E_ACCESSDENIED",
            exit: 4,
        },
    )
    .await;
    let f = &j["failure"];
    assert_eq!(f["denied_by"], "dcom");
    // The other level was tried and fails the same way.
    let probes = f["probes"].as_array().unwrap();
    let level = probes.iter().find(|p| p["kind"] == "auth-level").unwrap();
    assert_eq!(level["subject"], "packet integrity");
    assert_eq!(level["ok"], false);
    assert_eq!(level["failed_step"], "activation");
    assert!(f["findings"]
        .to_string()
        .contains("not an authentication-level"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wmi_access_denied_on_cimv2() {
    let j = fault_case(
        "127.0.51.5",
        "{ kind = \"wmi_access_denied\", namespace = \"root\\\\cimv2\" }",
        &[],
        Want {
            step: "login-cimv2",
            stage: "login",
            code: Some(0x8004_1003),
            status: "access-denied",
            entry: "WBEM_E_ACCESS_DENIED",
            exit: 4,
        },
    )
    .await;
    assert_eq!(j["failure"]["denied_by"], "wmi-namespace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_privacy_is_found_by_the_level_probe() {
    let j = fault_case(
        "127.0.51.6",
        "{ kind = \"require_privacy\", namespace = \"root\\\\cimv2\" }",
        &["--auth-level", "integrity"],
        Want {
            step: "login-cimv2",
            stage: "login",
            code: Some(0x8004_1087),
            status: "access-denied",
            entry: "WBEM_E_ENCRYPTED_CONNECTION_REQUIRED",
            exit: 4,
        },
    )
    .await;
    let f = &j["failure"];
    let level = f["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "auth-level")
        .unwrap();
    assert_eq!(level["subject"], "packet privacy");
    assert_eq!(level["ok"], true, "{f:#}");
    let findings = f["findings"].to_string();
    assert!(
        findings.contains("WBEM_E_ENCRYPTED_CONNECTION_REQUIRED"),
        "{findings}"
    );
    assert!(findings.contains("--auth-level privacy"), "{findings}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_integrity_is_found_by_the_level_probe() {
    let j = fault_case(
        "127.0.51.7",
        "{ kind = \"require_integrity\" }",
        &["--auth-level", "connect"],
        Want {
            step: "activation",
            stage: "activation",
            code: Some(0x8007_0005),
            status: "access-denied",
            entry: "E_ACCESSDENIED",
            exit: 4,
        },
    )
    .await;
    let f = &j["failure"];
    let ok_levels: Vec<&str> = f["probes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "auth-level" && p["ok"] == true)
        .map(|p| p["subject"].as_str().unwrap())
        .collect();
    assert_eq!(ok_levels, ["packet integrity", "packet privacy"], "{f:#}");
    let findings = f["findings"].to_string();
    assert!(findings.contains("KB5004442"), "{findings}");
    assert!(findings.contains("--auth-level integrity"), "{findings}");
}

/// The three namespace faults on `ns`, each on its own host from `first`.
async fn namespace_faults(ns: &str, first: u8, step: &'static str, prefix: &str) {
    let cases: [(&str, u32, &'static str, &'static str); 3] = [
        (
            "invalid_namespace",
            0x8004_100e,
            "WBEM_E_INVALID_NAMESPACE",
            "namespace-invalid",
        ),
        (
            "namespace_not_found",
            0x8004_1002,
            "WBEM_E_NOT_FOUND",
            "namespace-not-found",
        ),
        (
            "invalid_parameter",
            0x8004_1008,
            "WBEM_E_INVALID_PARAMETER",
            "namespace-invalid-parameter",
        ),
    ];
    for (i, (kind, code, entry, status)) in cases.into_iter().enumerate() {
        let addr = format!("127.0.51.{}", first + i as u8);
        let status: &'static str = Box::leak(format!("{prefix}-{status}").into_boxed_str());
        fault_case(
            &addr,
            &format!(
                "{{ kind = \"{kind}\", namespace = \"{}\" }}",
                ns.replace('\\', "\\\\")
            ),
            &[],
            Want {
                step,
                stage: "login",
                code: Some(code),
                status,
                entry,
                exit: 5,
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_faults_on_cimv2() {
    namespace_faults(r"root\cimv2", 10, "login-cimv2", "cimv2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_faults_on_root_default() {
    namespace_faults(r"root\default", 13, "login-default", "stdregprov").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_call_failed_on_the_query() {
    fault_case(
        "127.0.51.20",
        "{ kind = \"rpc_call_failed\", call = \"ExecQuery\" }",
        &[],
        Want {
            step: "query",
            stage: "query",
            code: Some(1726),
            status: "rpc-call-failed",
            entry: "RPC_S_CALL_FAILED",
            exit: 5,
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_cancelled_on_the_login() {
    fault_case(
        "127.0.51.21",
        "{ kind = \"call_cancelled\", call = \"NTLMLogin\" }",
        &[],
        Want {
            step: "login-cimv2",
            stage: "login",
            code: Some(1818),
            status: "rpc-call-cancelled",
            entry: "RPC_S_CALL_CANCELLED",
            exit: 5,
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_down_at_the_activation() {
    fault_case(
        "127.0.51.22",
        "{ kind = \"shutting_down\", after_ms = 0 }",
        &[],
        Want {
            step: "activation",
            stage: "activation",
            code: Some(0x8007_045b),
            status: "computer-shutting-down",
            entry: "ERROR_SHUTDOWN_IN_PROGRESS",
            exit: 5,
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_reset_during_the_query() {
    fault_case(
        "127.0.51.23",
        "{ kind = \"connection_reset\", call = \"ExecQuery\" }",
        &[],
        Want {
            step: "query",
            stage: "query",
            code: Some(0x8007_06be),
            status: "rpc-call-failed",
            entry: "RPC_S_CALL_FAILED",
            exit: 5,
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_class_on_the_os_query() {
    fault_case(
        "127.0.51.24",
        "{ kind = \"invalid_class\", class = \"Win32_OperatingSystem\" }",
        &[],
        Want {
            step: "query",
            stage: "query",
            code: Some(0x8004_1010),
            status: "other-reasons",
            entry: "WBEM_E_INVALID_CLASS",
            exit: 5,
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_dynamic_port_is_named_with_the_firewall_remediation() {
    let addr = "127.0.51.25";
    let sim = serve(addr, "{ kind = \"dynamic_port_silent\" }").await;
    let dynamic_port = sim.dynamic_port;
    let (code, j) = diagnose_json(addr, sim.epm_port, &[]).await;
    sim.stop().await;
    check(
        &j,
        code,
        &Want {
            step: "bind-dynamic",
            stage: "bind-dynamic",
            code: Some(0x8007_06ba),
            status: "rpc-server-unavailable",
            entry: "RPC_S_SERVER_UNAVAILABLE",
            exit: 3,
        },
    );
    let f = &j["failure"];
    let headline = f["headline"].as_str().unwrap();
    assert!(
        headline.contains(&format!(
            "the activation works, but the dynamic port {dynamic_port} does not answer"
        )),
        "{headline}"
    );
    assert!(f["remediation"][0]
        .as_str()
        .unwrap()
        .contains("group=\"windows management instrumentation (wmi)\" new enable=yes"));
    assert!(f["remediation"].to_string().contains("dynamic port range"));
    // The bindings were each tried: the dialled address takes TCP but never answers RPC.
    let probes = f["probes"].as_array().unwrap();
    let dialled = probes
        .iter()
        .find(|p| p["kind"] == "binding" && p["subject"].as_str().unwrap().contains("dialled"))
        .unwrap();
    assert_eq!(dialled["ok"], false);
    assert!(dialled["detail"]
        .as_str()
        .unwrap()
        .contains("no RPC answer"));
    assert!(f["findings"]
        .to_string()
        .contains("blocks the RPC dynamic port"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dcom_disabled_answers_rpc_without_dcom() {
    let j = fault_case(
        "127.0.51.26",
        "{ kind = \"dcom_disabled\" }",
        &[],
        Want {
            step: "bind-135",
            stage: "bind-135",
            code: None,
            status: "rpc-server-unavailable",
            entry: "RPC_S_UNKNOWN_IF",
            exit: 3,
        },
    )
    .await;
    let headline = j["failure"]["headline"].as_str().unwrap();
    assert!(
        headline.contains("answers RPC on port")
            && headline.contains("but offers no DCOM activation (not Windows, or DCOM disabled)"),
        "{headline}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_on_135_is_connection_refused() {
    // Nothing listens on port 1 of this address.
    let (code, j) = diagnose_json("127.0.51.27", 1, &[]).await;
    check(
        &j,
        code,
        &Want {
            step: "tcp-135",
            stage: "connect-135",
            code: Some(10061),
            status: "connection-refused",
            entry: "WSAECONNREFUSED",
            exit: 3,
        },
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_credential_is_found_to_work() {
    let addr = "127.0.51.28";
    let sim = serve(addr, "").await;
    // The first account's password is wrong; the second is right.
    let out = run(vec![
        "diagnose".into(),
        addr.into(),
        "--port".into(),
        sim.epm_port.to_string(),
        "--user".into(),
        "LAB\\admin".into(),
        "--password-env".into(),
        WRONG_ENV.into(),
        "--user".into(),
        "LAB\\admin".into(),
        "--password-env".into(),
        PW_ENV.into(),
        "--timeout-connect".into(),
        "1".into(),
        "--timeout-call".into(),
        "2".into(),
        "--json".into(),
    ])
    .await;
    sim.stop().await;
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(4), "{j:#}");
    assert_eq!(j["users"], serde_json::json!(["LAB\\admin", "LAB\\admin"]));
    let f = &j["failure"];
    assert_eq!(f["denied_by"], "authentication");
    let creds: Vec<&Value> = f["probes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "credential")
        .collect();
    assert_eq!(creds.len(), 1, "{f:#}");
    assert_eq!(creds[0]["subject"], "LAB\\admin (#2)");
    assert_eq!(creds[0]["ok"], true, "{f:#}");
    let findings = f["findings"].to_string();
    assert!(
        findings.contains("LAB\\\\admin (#2) works where LAB\\\\admin (#1) fails"),
        "{findings}"
    );
}

#[tokio::test]
async fn password_sources_must_pair_with_users() {
    let out = run(vec![
        "diagnose".into(),
        "127.0.51.29".into(),
        "--user".into(),
        "a".into(),
        "--user".into(),
        "b".into(),
        "--user".into(),
        "c".into(),
        "--password-env".into(),
        PW_ENV.into(),
        "--password-env".into(),
        WRONG_ENV.into(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("per --user"));
    // Never a password on the command line.
    let out = run(vec![
        "diagnose".into(),
        "127.0.51.29".into(),
        "--user".into(),
        "a".into(),
        "--password".into(),
        "x".into(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
}

/// A DNS responder on 127.0.52.1: `win1.diag.test` is 127.0.51.30, any other name does
/// not exist. Answers A queries; AAAA queries get an empty NOERROR answer.
async fn dns_responder() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let sock = tokio::net::UdpSocket::bind("127.0.52.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut buf = [0u8; 512];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                return;
            };
            if let Some(reply) = dns_reply(&buf[..n]) {
                let _ = sock.send_to(&reply, peer).await;
            }
        }
    });
    (addr, task)
}

fn dns_reply(q: &[u8]) -> Option<Vec<u8>> {
    // Header (12 bytes), then one question: labels, type, class.
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(q.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]);
    let question = q.get(12..i + 4)?;
    let name = labels.join(".");
    let known = name == "win1.diag.test";
    let answer = known && qtype == 1;
    let mut r = Vec::new();
    r.extend_from_slice(q.get(..2)?);
    let rcode = if known { 0 } else { 3 };
    r.extend_from_slice(&[0x81, 0x80 | rcode]);
    r.extend_from_slice(&[0, 1, 0, u8::from(answer), 0, 0, 0, 0]);
    r.extend_from_slice(question);
    if answer {
        r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        r.extend_from_slice(&Ipv4Addr::new(127, 0, 51, 30).octets());
    }
    Some(r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_resolved_through_the_given_dns_server() {
    let (dns, responder) = dns_responder().await;
    let sim = serve("127.0.51.30", "").await;
    let dns_arg = dns.to_string();
    let (code, j) =
        diagnose_json("win1.diag.test", sim.epm_port, &["--dns-server", &dns_arg]).await;
    assert_eq!(code, Some(0), "{j:#}");
    let resolve = &j["steps"][0];
    assert_eq!(resolve["skipped"], false);
    assert!(
        resolve["detail"].as_str().unwrap().contains("127.0.51.30"),
        "{resolve}"
    );

    let (code, j) =
        diagnose_json("gone.diag.test", sim.epm_port, &["--dns-server", &dns_arg]).await;
    sim.stop().await;
    responder.abort();
    check(
        &j,
        code,
        &Want {
            step: "resolve",
            stage: "connect-135",
            code: None,
            status: "machine-not-found",
            entry: "machine-not-found",
            exit: 3,
        },
    );
    assert!(j["failure"]["headline"]
        .as_str()
        .unwrap()
        .contains("NXDOMAIN"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_failing_later_is_compared_with_its_address() {
    let (dns, responder) = dns_responder().await;
    let sim = serve("127.0.51.30", "{ kind = \"dcom_access_denied\" }").await;
    let dns_arg = dns.to_string();
    let (_, j) = diagnose_json("win1.diag.test", sim.epm_port, &["--dns-server", &dns_arg]).await;
    sim.stop().await;
    responder.abort();
    let f = &j["failure"];
    assert_eq!(f["step"], "activation", "{j:#}");
    let addr = f["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "address")
        .unwrap();
    assert_eq!(addr["subject"], "127.0.51.30");
    assert_eq!(addr["failed_step"], "activation");
    assert!(f["findings"].to_string().contains("fail alike"), "{f:#}");
}

/// A Samba AD DC answers RPC on 135 (its endpoint mapper) but has no DCOM activation.
#[test]
fn samba_answers_rpc_but_offers_no_dcom() {
    use winv_testsuite::samba::{SambaDc, ADMIN_PASSWORD, DOMAIN};
    let Some(dc) = SambaDc::start().expect("samba starts") else {
        return;
    };
    let addr = dc.addr().to_string();
    let user = format!("{DOMAIN}\\{}", dc.admin_user());
    // From this thread: the child process runs in the DC's network namespace.
    let out = Command::new(env!("CARGO_BIN_EXE_winventory"))
        .args([
            "diagnose",
            &addr,
            "--user",
            &user,
            "--password-env",
            "WINV_DIAGNOSE_SAMBA_PW",
            "--timeout-connect",
            "2",
            "--timeout-call",
            "5",
            "--json",
        ])
        .env("WINV_DIAGNOSE_SAMBA_PW", ADMIN_PASSWORD)
        .output()
        .unwrap();
    no_password_in(&out);
    let j: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    drop(dc);
    assert_eq!(out.status.code(), Some(3), "{j:#}");
    let f = &j["failure"];
    assert_eq!(j["steps"][1]["name"], "tcp-135");
    assert_eq!(j["steps"][1]["ok"], true, "{j:#}");
    assert!(
        f["headline"].as_str().unwrap().contains(
            "answers RPC on port 135 but offers no DCOM activation (not Windows, or DCOM disabled)"
        ),
        "{j:#}"
    );
    assert_eq!(f["explained_by"], "RPC_S_UNKNOWN_IF");
}

/// Inside a network namespace of the test's own: a dropped port 135 (timeout), an ICMP
/// host unreachable, a reset, a dropped dynamic port, and a host behind NAT (port 135
/// reached through a forwarder at another address; the bindings name the host's own
/// address, whose dynamic port is dropped).
#[test]
fn network_faults_name_the_step_code_and_remediation() {
    use winv_testsuite::netlab::{Icmp, NetLab};
    let Some(lab) = NetLab::enter().unwrap() else {
        return;
    };
    // Built on this thread: its workers, the simulator and the forwarder are in the lab.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ip = |n: u8| std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 51, n));
        let sim = winv_testsuite::sim::serve_fleet(
            &[("127.0.51.60", ""), ("127.0.51.61", "")],
            PW_ENV,
            PASSWORD,
            51,
            135,
        )
        .await
        .unwrap();
        let dynamic = sim.dynamic_port;
        lab.drop_tcp(ip(62)).unwrap();
        lab.reject_icmp(ip(63), Icmp::HostUnreachable).unwrap();
        lab.reject_reset(ip(64)).unwrap();
        lab.drop_tcp_port(ip(60), dynamic).unwrap();
        lab.drop_tcp_port(ip(61), dynamic).unwrap();
        // The NAT's outside address: port 135 forwarded to the host.
        let fwd = tokio::net::TcpListener::bind((ip(65), 135)).await.unwrap();
        let forwarder = tokio::spawn(async move {
            while let Ok((mut inside, _)) = fwd.accept().await {
                tokio::spawn(async move {
                    if let Ok(mut host) = tokio::net::TcpStream::connect((ip(61), 135)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inside, &mut host).await;
                    }
                });
            }
        });

        let connect = |step: &'static str, stage: &'static str, code, status, entry| Want {
            step,
            stage,
            code: Some(code),
            status,
            entry,
            exit: 3,
        };
        let (code, j) = diagnose_json("127.0.51.62", 135, &[]).await;
        check(
            &j,
            code,
            &connect(
                "tcp-135",
                "connect-135",
                10060,
                "connection-timeout",
                "WSAETIMEDOUT",
            ),
        );
        let (code, j) = diagnose_json("127.0.51.63", 135, &[]).await;
        check(
            &j,
            code,
            &connect(
                "tcp-135",
                "connect-135",
                10065,
                "host-unreachable",
                "WSAEHOSTUNREACH",
            ),
        );
        let (code, j) = diagnose_json("127.0.51.64", 135, &[]).await;
        check(
            &j,
            code,
            &connect(
                "tcp-135",
                "connect-135",
                10061,
                "connection-refused",
                "WSAECONNREFUSED",
            ),
        );

        // 135 answers, the dynamic port is dropped.
        let (code, j) = diagnose_json("127.0.51.60", 135, &[]).await;
        let dyn_want = connect(
            "tcp-dynamic",
            "connect-dynamic",
            0x8007_06ba,
            "rpc-server-unavailable",
            "RPC_S_SERVER_UNAVAILABLE",
        );
        check(&j, code, &dyn_want);
        let f = &j["failure"];
        assert!(
            f["headline"]
                .as_str()
                .unwrap()
                .contains(&format!("the dynamic port {dynamic} does not answer")),
            "{f:#}"
        );
        assert!(f["remediation"][0]
            .as_str()
            .unwrap()
            .contains("windows management instrumentation (wmi)"));
        let findings = f["findings"].to_string();
        assert!(
            findings.contains("blocks the RPC dynamic port range"),
            "{findings}"
        );
        assert!(!findings.contains("NAT"), "{findings}");

        // Behind NAT: the bindings name 127.0.51.61, not the address dialled.
        let (code, j) = diagnose_json("127.0.51.65", 135, &[]).await;
        check(&j, code, &dyn_want);
        let f = &j["failure"];
        let activation = j["steps"][3]["detail"].as_str().unwrap();
        assert!(
            activation.contains(&format!("127.0.51.61[{dynamic}]")),
            "{activation}"
        );
        let bindings: Vec<&Value> = f["probes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["kind"] == "binding")
            .collect();
        assert!(bindings.iter().all(|p| p["ok"] == false), "{f:#}");
        assert!(bindings
            .iter()
            .any(|p| p["subject"].as_str().unwrap().starts_with("127.0.51.61:")));
        let findings = f["findings"].to_string();
        assert!(
            findings.contains("names 127.0.51.61 while 127.0.51.65 was dialled")
                && findings.contains("NAT"),
            "{findings}"
        );
        forwarder.abort();
        sim.stop().await;
    });
    lab.clear().unwrap();
}
