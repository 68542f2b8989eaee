//! impacket judges the simulator's assessment-scenario data: SQL Server's
//! `ComputerManagementNN` classes and the licensing classes read through impacket's
//! own WMI client must equal the simulated values, and a host without SQL Server or a
//! client without `Win32_ServerFeature` answers with Windows' codes.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::net::IpAddr;
use std::process::Command;

use serde_json::Value as Json;
use winv_sim::data::host::HostData;
use winv_sim::fleet::Fleet;
use winv_sim::server::ListenOptions;
use winv_testsuite::python::{python_with, script};
use winv_testsuite::sim::SimHandle;
use winv_wmio::{Instance, Value};

const PASSWORD_VAR: &str = "WINV_TEST_SCENARIO_PASSWORD";
const PASSWORD: &str = "Scen-Passw0rd!";
const SEED: u64 = 4;

fn impacket(addr: IpAddr, namespace: &str, queries: &[&str]) -> Option<Json> {
    let py = python_with("impacket")?;
    let out = Command::new(py)
        .arg(script("impacket_wmi.py"))
        .arg(addr.to_string())
        .args(["LAB", "admin", namespace])
        .args(queries)
        .env("WINV_TEST_PASSWORD", PASSWORD)
        .env("WINV_TEST_LEVEL", "privacy")
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    Some(serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("impacket printed no JSON ({e}); stdout: {stdout}\nstderr: {stderr}")
    }))
}

/// The JSON form impacket gives a CIM value (as in `sim_impacket.rs`).
fn json_of(v: Option<&Value>) -> Json {
    match v {
        None => Json::Null,
        Some(Value::String(s) | Value::DateTime(s) | Value::Reference(s)) => Json::from(s.clone()),
        Some(Value::Boolean(b)) => Json::from(if *b { "True" } else { "False" }),
        // impacket reads a 32-bit 0xFFFFFFFF as "no value".
        Some(Value::Uint32(u32::MAX) | Value::Sint32(-1)) => Json::Null,
        Some(Value::Array(_, items)) => {
            Json::Array(items.iter().map(|i| json_of(Some(i))).collect())
        }
        Some(other) => match other.as_i128() {
            Some(n) => serde_json::from_str(&n.to_string()).unwrap_or(Json::Null),
            None => Json::from(format!("{other:?}")),
        },
    }
}

/// Every property of every simulated row equals impacket's row, in order.
fn assert_rows(what: &str, got: &Json, want: &[Instance]) {
    let rows = got["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: {got}"));
    assert_eq!(got["error"], Json::Null, "{what}: {got}");
    assert_eq!(rows.len(), want.len(), "{what}");
    assert!(!want.is_empty(), "{what}: nothing to compare");
    for (r, w) in rows.iter().zip(want) {
        for p in &w.class.properties {
            assert_eq!(r[&p.name], json_of(w.get(&p.name)), "{what}: {}", p.name);
        }
    }
}

fn fleet(hosts: &[(IpAddr, &str)]) -> Fleet {
    fleet_with_faults(&hosts.iter().map(|(a, p)| (*a, *p, "")).collect::<Vec<_>>())
}

/// Hosts with a profile and faults (the inside of a TOML array).
fn fleet_with_faults(hosts: &[(IpAddr, &str, &str)]) -> Fleet {
    let mut text = format!(
        "[defaults]\nuser = \"LAB\\\\admin\"\npassword_env = \"{PASSWORD_VAR}\"\nseed = {SEED}\n"
    );
    for (a, profile, faults) in hosts {
        text.push_str(&format!(
            "\n[[host]]\naddress = \"{a}\"\nprofile = \"{profile}\"\nfaults = [{faults}]\n"
        ));
    }
    Fleet::parse(&text).unwrap()
}

#[test]
fn impacket_reads_sql_server_and_licensing_classes_as_simulated() {
    // Find a SQL Server host and one without among deterministic candidates.
    let candidates: Vec<IpAddr> = (1..=60).map(|i| IpAddr::from([127, 0, 43, i])).collect();
    let f = fleet(
        &candidates
            .iter()
            .map(|a| (*a, "server-2022"))
            .collect::<Vec<_>>(),
    );
    let datas: Vec<(IpAddr, HostData)> = candidates
        .iter()
        .map(|a| (*a, f.host(*a).unwrap().data()))
        .collect();
    let (sql_addr, sql) = datas
        .iter()
        .find(|(_, d)| !d.scenario.sql.is_empty())
        .unwrap();
    let (plain_addr, _) = datas
        .iter()
        .find(|(_, d)| d.scenario.sql.is_empty())
        .unwrap();
    let client_addr: IpAddr = "127.0.43.200".parse().unwrap();
    // A Hyper-V host whose virtualization namespace refuses us (root\cimv2 still works).
    let (hv_addr, _) = datas
        .iter()
        .find(|(a, d)| !d.scenario.guests.is_empty() && a != sql_addr && a != plain_addr)
        .unwrap();
    let denied = "{ kind = \"wmi_access_denied\", namespace = 'root\\virtualization\\v2' }";
    let hosts = vec![
        (*sql_addr, "server-2022", ""),
        (*plain_addr, "server-2022", ""),
        (client_addr, "windows-11", ""),
        (*hv_addr, "server-2022", denied),
    ];
    let fl = fleet_with_faults(&hosts);
    std::env::set_var(PASSWORD_VAR, PASSWORD);
    let _sim = SimHandle::start(fl.clone(), ListenOptions::default()).expect("simulator starts");

    let newest = sql.scenario.sql.iter().map(|i| i.version.1).max().unwrap();
    let ns = format!("root\\Microsoft\\SqlServer\\ComputerManagement{newest}");
    let Some(out) = impacket(
        *sql_addr,
        &format!("//./root/Microsoft/SqlServer/ComputerManagement{newest}"),
        &[
            "SELECT * FROM SqlService",
            "SELECT * FROM SqlServiceAdvancedProperty",
        ],
    ) else {
        return;
    };
    let r = out["results"].as_array().unwrap_or_else(|| panic!("{out}"));
    assert_rows(
        "SqlService",
        &r[0],
        sql.instances(&ns, "SqlService").unwrap(),
    );
    assert_rows(
        "SqlServiceAdvancedProperty",
        &r[1],
        sql.instances(&ns, "SqlServiceAdvancedProperty").unwrap(),
    );
    // The edition and version impacket saw are the instance's.
    let inst = &sql.scenario.sql[0];
    let skuname = r[1]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["PropertyName"] == "SKUNAME"
                && p["ServiceName"].as_str().unwrap().ends_with(&inst.name)
        })
        .unwrap();
    assert_eq!(skuname["PropertyStrValue"], Json::from(inst.edition.0));

    let Some(out) = impacket(
        *sql_addr,
        "//./root/cimv2",
        &[
            "SELECT * FROM SoftwareLicensingProduct WHERE PartialProductKey IS NOT NULL",
            "SELECT * FROM SoftwareLicensingService",
        ],
    ) else {
        return;
    };
    let r = out["results"].as_array().unwrap();
    let keyed: Vec<Instance> = sql
        .instances("root\\cimv2", "SoftwareLicensingProduct")
        .unwrap()
        .iter()
        .filter(|i| i.get("PartialProductKey").is_some())
        .cloned()
        .collect();
    assert_rows("SoftwareLicensingProduct", &r[0], &keyed);
    assert_rows(
        "SoftwareLicensingService",
        &r[1],
        sql.instances("root\\cimv2", "SoftwareLicensingService")
            .unwrap(),
    );

    // No SQL Server: the namespace does not exist (WBEM_E_INVALID_NAMESPACE).
    let Some(out) = impacket(
        *plain_addr,
        "//./root/Microsoft/SqlServer/ComputerManagement16",
        &["SELECT * FROM SqlService"],
    ) else {
        return;
    };
    assert_eq!(
        out["results"][0]["error"],
        Json::from("0x8004100e"),
        "{out}"
    );
    // A client has no Win32_ServerFeature (WBEM_E_INVALID_CLASS).
    let Some(out) = impacket(
        client_addr,
        "//./root/cimv2",
        &["SELECT * FROM Win32_ServerFeature"],
    ) else {
        return;
    };
    assert_eq!(
        out["results"][0]["error"],
        Json::from("0x80041010"),
        "{out}"
    );
    // Access denied on one namespace only.
    let Some(out) = impacket(
        *hv_addr,
        "//./root/virtualization/v2",
        &["SELECT * FROM Msvm_ComputerSystem"],
    ) else {
        return;
    };
    assert_eq!(
        out["results"][0]["error"],
        Json::from("0x80041003"),
        "{out}"
    );
    let Some(out) = impacket(
        *hv_addr,
        "//./root/cimv2",
        &["SELECT Name FROM Win32_ComputerSystem"],
    ) else {
        return;
    };
    assert_eq!(out["results"][0]["error"], Json::Null, "{out}");
}
