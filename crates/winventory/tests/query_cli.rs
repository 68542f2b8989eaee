//! `winventory query` against the simulator over loopback (127.0.32.x), and
//! `winventory decode` on the MS-WMIO fixtures.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::process::{Command, Output};

use winv_sim::fleet::Fleet;
use winv_sim::server::SimServer;
use winv_testsuite::fixtures::require_fixture;
use winv_testsuite::sim::serve_one_host;

const PW_ENV: &str = "WINV_QUERY_CLI_PASSWORD";
const PASSWORD: &str = "Cli-Passw0rd!";

async fn serve(addr: &str, faults: &str) -> (SimServer, Fleet) {
    serve_one_host(addr, faults, PW_ENV, PASSWORD, 32)
        .await
        .unwrap()
}

async fn run(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_winventory"))
            .args(&args)
            .env(PW_ENV, PASSWORD)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn query_args(addr: &str, port: u16, wql: &str, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "query",
        addr,
        wql,
        "--user",
        "LAB\\admin",
        "--password-env",
        PW_ENV,
        "--port",
        &port.to_string(),
        "--timeout",
        "3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_prints_the_simulated_rows_as_json_and_csv() {
    let addr = "127.0.32.1";
    let (sim, fleet) = serve(addr, "").await;
    let data = fleet.host(addr.parse().unwrap()).unwrap().data();
    let want = data.instances(r"root\cimv2", "Win32_Service").unwrap();
    let out = run(query_args(
        addr,
        sim.epm_port,
        "SELECT Name, State FROM Win32_Service",
        &["--format", "json", "--auth-level", "integrity"],
    ))
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), want.len());
    let mut got: Vec<&str> = rows.iter().map(|r| r["Name"].as_str().unwrap()).collect();
    let mut exp: Vec<&str> = want
        .iter()
        .map(|w| w.get("Name").and_then(|v| v.as_str()).unwrap())
        .collect();
    got.sort();
    exp.sort();
    assert_eq!(got, exp);

    let out = run(query_args(
        addr,
        sim.epm_port,
        "SELECT Name, State FROM Win32_Service",
        &["--format", "csv"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), want.len() + 1);
    assert!(text.lines().next().unwrap().contains("Name"));
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_name_the_failure() {
    let addr = "127.0.32.2";
    let (sim, _f) = serve(
        addr,
        "{ kind = \"invalid_namespace\", namespace = \"root\\\\cimv2\" }",
    )
    .await;
    let out = run(query_args(
        addr,
        sim.epm_port,
        "SELECT * FROM Win32_BIOS",
        &[],
    ))
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(
        err.contains("query failed at login: 0x8004100e WBEM_E_INVALID_NAMESPACE"),
        "{err}"
    );
    assert!(!err.contains(PASSWORD));
    sim.stop().await;

    let addr = "127.0.32.3";
    let (sim, _f) = serve(addr, "{ kind = \"wrong_password\" }").await;
    let out = run(query_args(
        addr,
        sim.epm_port,
        "SELECT * FROM Win32_BIOS",
        &[],
    ))
    .await;
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    sim.stop().await;

    // Nothing listens on port 1: connection failure.
    let out = run(query_args("127.0.32.4", 1, "SELECT * FROM Win32_BIOS", &[])).await;
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("connect-135"), "{err}");
}

#[tokio::test]
async fn password_is_never_taken_from_the_command_line() {
    let out = run(vec![
        "query".into(),
        "127.0.32.5".into(),
        "SELECT * FROM Win32_BIOS".into(),
        "--user".into(),
        "admin".into(),
        "--password".into(),
        "x".into(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn decode_prints_the_fixtures() {
    let Some(objref) = require_fixture("wmio/impacket_win32_currenttime.objref.bin") else {
        return;
    };
    let out = run(vec![
        "decode".into(),
        "objref".into(),
        objref.display().to_string(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("IWbemClassObject"), "{text}");
    assert!(text.contains("Milliseconds = NULL"), "{text}");
    assert!(text.contains("Hour = 0"), "{text}");

    let out = run(vec![
        "decode".into(),
        "objref".into(),
        objref.display().to_string(),
        "--json".into(),
    ])
    .await;
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["type"], "custom");
    assert!(j["object"]["Milliseconds"].is_null());
    assert_eq!(j["object"]["Year"], 2021);

    for name in [
        "structure_example.bin",
        "instance_encoding.bin",
        "class_encoding_with_methods.bin",
        "win32_process.bin",
    ] {
        let Some(f) = require_fixture(&format!("wmio/{name}")) else {
            continue;
        };
        let out = run(vec![
            "decode".into(),
            "wmio".into(),
            f.display().to_string(),
            "--json".into(),
        ])
        .await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let _: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    }
    let Some(inst) = require_fixture("wmio/instance_encoding.bin") else {
        return;
    };
    let out = run(vec![
        "decode".into(),
        "wmio".into(),
        inst.display().to_string(),
    ])
    .await;
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("instance of MyClass"), "{text}");
    assert!(text.contains("Id = 123"), "{text}");
    assert!(text.contains("Array = {1,2,3}"), "{text}");
}

/// A dynamic port that accepts and never answers: the help says 3 (connection failure)
/// for a deadline during the connection steps; it exited 6 (timeout) before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_dynamic_port_is_a_connection_failure() {
    let addr = "127.0.32.6";
    let (sim, _f) = serve(addr, "{ kind = \"dynamic_port_silent\" }").await;
    let out = run(query_args(
        addr,
        sim.epm_port,
        "SELECT * FROM Win32_BIOS",
        &["--connect-timeout", "2"],
    ))
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("dynamic"), "{err}");
    sim.stop().await;
}

/// The columns follow the SELECT list (names case-insensitive, an absent property
/// empty); `SELECT *` keeps the class's order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columns_follow_the_select_list() {
    let addr = "127.0.32.7";
    let (sim, _f) = serve(addr, "").await;
    let out = run(query_args(
        addr,
        sim.epm_port,
        "SELECT state, Name FROM Win32_Service",
        &["--format", "csv"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().next().unwrap(), "State,Name", "{text}");
    let out = run(query_args(
        addr,
        sim.epm_port,
        "SELECT Version, Manufacturer FROM Win32_BIOS",
        &["--format", "json"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let json = String::from_utf8(out.stdout).unwrap();
    let v = json.find("\"Version\"").unwrap();
    let m = json.find("\"Manufacturer\"").unwrap();
    assert!(v < m, "{json}");
    let out = run(query_args(
        addr,
        sim.epm_port,
        "SELECT Name FROM Win32_BIOS",
        &["--format", "table"],
    ))
    .await;
    let table = String::from_utf8(out.stdout).unwrap();
    assert_eq!(table.lines().next().unwrap().trim(), "Name", "{table}");
    sim.stop().await;
}

/// A WQL error names its code and points to `winventory explain`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wql_error_points_to_explain() {
    let addr = "127.0.32.8";
    let (sim, _f) = serve(addr, "").await;
    let out = run(query_args(addr, sim.epm_port, "SELECT * FROM Win32_NoSuchClass", &[])).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("0x80041010 WBEM_E_INVALID_CLASS"), "{err}");
    assert!(err.contains("winventory explain 0x80041010"), "{err}");
    let out = run(query_args(addr, sim.epm_port, "SELECT Name FROM", &[])).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("WBEM_E_INVALID_QUERY") && err.contains("winventory explain 0x80041017"), "{err}");
    sim.stop().await;
}

/// `--user LAB\admin` unquoted reaches the program as `LABadmin`: the refusal echoes the
/// account as received and says the shell dropped the backslash. `admin@lab.local` (the
/// UPN, as Windows accepts it) logs on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_logon_echoes_the_account_and_a_upn_logs_on() {
    let addr = "127.0.32.9";
    let (sim, _f) = serve(addr, "").await;
    let mut args = query_args(addr, sim.epm_port, "SELECT Name FROM Win32_BIOS", &[]);
    let at = args.iter().position(|a| a == "LAB\\admin").unwrap();
    args[at] = "LABadmin".into();
    let out = run(args.clone()).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("account \"LABadmin\""), "{err}");
    assert!(err.contains("drops an unquoted backslash"), "{err}");
    args[at] = "admin@lab.local".into();
    let out = run(args).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    sim.stop().await;
}

/// The simulator accepts the UPN in the NTLM user field with an empty domain, as Windows
/// does (what impacket and Windows clients send for `user@domain`), and still refuses a
/// wrong password under that name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_accepts_a_upn_in_the_user_field() {
    use std::sync::Arc;
    use winv_client::flow::{FlowConfig, Target};
    use winv_client::{Credentials, Ntlm, NtlmSecret, WmiOptions};
    let addr = "127.0.32.10";
    let (sim, _f) = serve(addr, "").await;
    let try_logon = |password: &str| {
        let creds = Credentials {
            user: "admin@lab.local".into(),
            domain: String::new(),
            local: false,
            secret: NtlmSecret::from_password(password),
        };
        let mut opts = WmiOptions {
            epm_port: sim.epm_port,
            ..WmiOptions::default()
        };
        opts.deadlines.connect = std::time::Duration::from_secs(2);
        opts.deadlines.call = std::time::Duration::from_secs(5);
        FlowConfig {
            mechanism: Arc::new(Ntlm::new(creds, "TESTWS")),
            opts,
            resolver: None,
            rate: None,
        }
    };
    let ok = try_logon(PASSWORD);
    let mut c = Box::pin(winv_client::flow::connect(Target::new(addr), &ok, None))
        .await
        .unwrap();
    let rows = c.query("SELECT Name FROM Win32_BIOS").await.unwrap();
    assert_eq!(rows.len(), 1);
    let _ = c.close().await;
    let wrong = try_logon("not-the-password");
    let Err(e) = Box::pin(winv_client::flow::connect(Target::new(addr), &wrong, None)).await
    else {
        panic!("a wrong password is accepted");
    };
    assert!(e.is_auth_failure(), "{e}");
    sim.stop().await;
}
