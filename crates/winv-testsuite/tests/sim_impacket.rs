//! impacket, used against real Windows every day, judges the simulator: its
//! DCOMConnection / IWbemLevel1Login / IWbemServices client connects to a
//! simulated host, runs queries and StdRegProv calls, and must get exactly the
//! simulated data; against faulty hosts it must see the simulated codes.

use std::net::IpAddr;
use std::process::Command;

use serde_json::Value as Json;
use winv_sim::fleet::Fleet;
use winv_sim::server::ListenOptions;
use winv_testsuite::python::{python_with, script};
use winv_testsuite::sim::SimHandle;
use winv_wmio::Value;

const PASSWORD_VAR: &str = "WINV_TEST_PASSWORD";
const PASSWORD: &str = "Sim-Passw0rd!";

fn impacket(addr: IpAddr, user: &str, level: &str, namespace: &str, queries: &[&str]) -> Option<Json> {
    let py = python_with("impacket")?;
    let out = Command::new(py)
        .arg(script("impacket_wmi.py"))
        .arg(addr.to_string())
        .args(["LAB", user, namespace])
        .args(queries)
        .env(PASSWORD_VAR, PASSWORD)
        .env("WINV_TEST_LEVEL", level)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let json: Json = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("impacket printed no JSON ({e}); stdout: {stdout}\nstderr: {stderr}")
    });
    Some(json)
}

fn start(fleet: Fleet) -> SimHandle {
    // SAFETY of the environment: the variable is this test's own and is set
    // before the simulator reads it.
    std::env::set_var(PASSWORD_VAR, PASSWORD);
    SimHandle::start(fleet, ListenOptions::default()).expect("simulator starts")
}

/// The JSON form impacket gives a CIM value.
fn json_of(v: Option<&Value>) -> Json {
    match v {
        None => Json::Null,
        Some(Value::String(s) | Value::DateTime(s) | Value::Reference(s)) => Json::from(s.clone()),
        // impacket renders booleans as the strings "True" / "False".
        Some(Value::Boolean(b)) => Json::from(if *b { "True" } else { "False" }),
        // impacket's ENCODED_VALUE.getValue takes a 32-bit entry of 0xFFFFFFFF
        // for "no value", so such a number reads as None (a bug of impacket's
        // that real Windows hosts show too, e.g. MaxNumberOfProcesses).
        Some(Value::Uint32(u32::MAX) | Value::Sint32(-1)) => Json::Null,
        Some(Value::Array(_, items)) => Json::Array(items.iter().map(|i| json_of(Some(i))).collect()),
        Some(other) => match other.as_i128() {
            Some(n) => serde_json::from_str(&n.to_string()).unwrap_or(Json::Null),
            None => Json::from(format!("{other:?}")),
        },
    }
}

#[test]
fn impacket_queries_a_simulated_host_at_privacy_and_integrity() {
    let addr: IpAddr = "127.0.41.1".parse().expect("address");
    let fleet = Fleet::single(addr, "LAB\\admin", PASSWORD_VAR);
    let expected = fleet.host(addr).expect("host").data();
    let _sim = start(fleet);
    for level in ["privacy", "integrity"] {
        let Some(out) = impacket(
            addr,
            "admin",
            level,
            "//./root/cimv2",
            &[
                "SELECT * FROM Win32_OperatingSystem",
                "SELECT Name, StartMode FROM Win32_Service WHERE StartMode = 'Auto' AND NOT Name LIKE 'W%'",
            ],
        ) else {
            return;
        };
        let results = out["results"].as_array().unwrap_or_else(|| panic!("{out}"));
        assert_eq!(results[0]["error"], Json::Null, "{out}");
        let rows = results[0]["rows"].as_array().expect("rows");
        let want = expected
            .instances("root\\cimv2", "Win32_OperatingSystem")
            .expect("simulated OS");
        assert_eq!(rows.len(), want.len());
        for p in &want[0].class.properties {
            assert_eq!(
                rows[0][&p.name],
                json_of(want[0].get(&p.name)),
                "property {} at {level}",
                p.name
            );
        }
        let services = results[1]["rows"].as_array().expect("rows");
        let want: Vec<String> = expected
            .instances("root\\cimv2", "Win32_Service")
            .expect("services")
            .iter()
            .filter(|i| i.get("StartMode").and_then(Value::as_str) == Some("Auto"))
            .filter_map(|i| i.get("Name").and_then(Value::as_str).map(str::to_owned))
            .filter(|n| !n.to_ascii_uppercase().starts_with('W'))
            .collect();
        let got: Vec<String> = services
            .iter()
            .map(|r| r["Name"].as_str().expect("Name").to_owned())
            .collect();
        assert!(!want.is_empty());
        assert_eq!(got, want, "WHERE query at {level}");
    }
}
