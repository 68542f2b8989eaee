//! `winventory perf` end to end against a real PostgreSQL: the shared `--db` and
//! `--db-password-file` options, the samples stored in the server, `--summary` reading
//! them back, and a machine that refuses access keeping its status.
//!
//! Addresses: 127.0.150.1-4.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::process::Command;

use winv_sim::fleet::Fleet;
use winv_sim::server::ListenOptions;
use winv_testsuite::pg::PgServer;
use winv_testsuite::sim::{fleet_of, SimHandle};

const BIN: &str = env!("CARGO_BIN_EXE_winventory");
const PW_VAR: &str = "WINV_PERF_CLI_SIM_PW";
const PW: &str = "Perf-Cli-Sim-Pw-3307!";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn perf_samples_into_postgres_and_summarizes_from_it() {
    let Some(server) = PgServer::start().unwrap() else {
        return;
    };
    let db = server.create_database("perf_cli").unwrap();
    let hosts = [
        ("127.0.150.1", ""),
        ("127.0.150.2", ""),
        ("127.0.150.3", ""),
        ("127.0.150.4", "{ kind = \"dcom_access_denied\" }"),
    ];
    std::env::set_var(PW_VAR, PW);
    let sim = SimHandle::start(
        Fleet::parse(&fleet_of(&hosts, PW_VAR, 7)).unwrap(),
        ListenOptions::default(),
    )
    .unwrap();
    let targets: Vec<&str> = hosts.iter().map(|h| h.0).collect();
    let out = Command::new(BIN)
        .arg("perf")
        .args(&targets)
        .args(["--user", "LAB\\admin", "--password-env", "WINV_PERF_CLI_PW"])
        .args(["--port", &sim.epm_port.to_string()])
        .args(["--interval", "1s", "--duration", "3s", "--json", "--quiet"])
        .args(["--connect-timeout", "2", "--call-timeout", "5"])
        .args(["--db", &db, "--db-password-file"])
        .arg(server.password_file())
        .env("WINV_PERF_CLI_PW", PW)
        .env_remove("PGPASSWORD")
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    for secret in [PW, server.password()] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "a secret in the output"
        );
    }
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(rows.len(), 4, "{stdout}");
    let mut stored = 0;
    for r in &rows {
        let samples = r["samples"].as_u64().unwrap();
        if r["target"] == "127.0.150.4" {
            assert_eq!(samples, 0, "{r}");
            assert!(
                r["status"].as_str().is_some_and(|s| s.contains("denied")),
                "{r}"
            );
        } else {
            // Three slots of one second: every one a sample on an idle machine; at
            // least two (one rate) on a loaded one.
            assert!((2..=3).contains(&samples), "{r}");
            let cpu = &r["cpu_percent"];
            assert!(
                cpu["average"]
                    .as_f64()
                    .is_some_and(|v| (0.0..=100.0).contains(&v)),
                "{r}"
            );
            assert!(r["memory_percent"]["p95"].as_f64().is_some(), "{r}");
        }
        stored += samples;
    }

    // The samples are in the server, under the run the command created.
    let n = server
        .psql("perf_cli", "SELECT count(*) FROM perf_samples WHERE ok")
        .unwrap();
    assert_eq!(n.trim().parse::<u64>().unwrap(), stored, "{n}");

    // `--summary` reads the same run back from PostgreSQL, here with PGPASSWORD.
    let again = Command::new(BIN)
        .args(["perf", "--summary", "--json", "--db", &db])
        .env("PGPASSWORD", server.password())
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", text(&again.stderr));
    let back: Vec<serde_json::Value> = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(back, rows);

    // Without a password the command says so instead of sampling.
    let refused = Command::new(BIN)
        .args(["perf", "--summary", "--db", &db])
        .env_remove("PGPASSWORD")
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(!text(&refused.stderr).contains(server.password()));
}
