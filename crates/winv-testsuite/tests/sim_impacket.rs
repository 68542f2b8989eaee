//! impacket, used against real Windows every day, judges the simulator: its
//! DCOMConnection / IWbemLevel1Login / IWbemServices client connects to a
//! simulated host, runs queries and StdRegProv calls, and must get exactly the
//! simulated data; against faulty hosts it must see the simulated codes.

use std::net::IpAddr;
use std::process::Command;

use serde_json::Value as Json;
use winv_sim::fleet::Fleet;
use winv_sim::registry::RegValue;
use winv_sim::server::ListenOptions;
use winv_testsuite::python::{python_with, script};
use winv_testsuite::sim::SimHandle;
use winv_wmio::Value;

const PASSWORD_VAR: &str = "WINV_TEST_PASSWORD";
const PASSWORD: &str = "Sim-Passw0rd!";

fn impacket(
    addr: IpAddr,
    user: &str,
    level: &str,
    namespace: &str,
    queries: &[&str],
) -> Option<Json> {
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
        Some(Value::Array(_, items)) => {
            Json::Array(items.iter().map(|i| json_of(Some(i))).collect())
        }
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

/// The password variable and user every fleet below uses.
fn fleet_file(hosts: &str) -> Fleet {
    std::env::set_var(PASSWORD_VAR, PASSWORD);
    let text = format!(
        "[defaults]\nuser = \"LAB\\\\admin\"\npassword_env = \"{PASSWORD_VAR}\"\nseed = 4\n\n{hosts}"
    );
    Fleet::parse(&text).unwrap_or_else(|e| panic!("fleet: {e}"))
}

/// One `[[host]]` entry with one fault.
fn faulty(addr: &str, fault: &str) -> String {
    format!("[[host]]\naddress = \"{addr}\"\nfaults = [{{ {fault} }}]\n\n")
}

/// The code impacket reports for the first query, or for the connection.
fn first_error(out: &Json) -> String {
    if let Some(e) = out.get("connect_error") {
        return e.as_str().unwrap_or_default().to_owned();
    }
    out["results"][0]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error: {out}"))
        .to_owned()
}

#[test]
fn impacket_reads_stdregprov_string_values() {
    let addr: IpAddr = "127.0.42.1".parse().expect("address");
    let fleet = Fleet::single(addr, "LAB\\admin", PASSWORD_VAR);
    let data = fleet.host(addr).expect("host").data();
    let _sim = start(fleet);
    let nt = "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion";
    let names = ["ProductName", "CurrentBuild", "SystemRoot"];
    let queries: Vec<String> = names
        .iter()
        .map(|n| format!("REG:GetStringValue:{nt}:{n}"))
        .chain(std::iter::once(format!(
            "REG:GetStringValue:{nt}:NoSuchValue"
        )))
        .chain(std::iter::once(format!(
            "REG:GetStringValue:{nt}\\NoSuchKey:ProductName"
        )))
        .collect();
    let qs: Vec<&str> = queries.iter().map(String::as_str).collect();
    let Some(out) = impacket(addr, "admin", "privacy", "//./root/cimv2", &qs) else {
        return;
    };
    for (i, name) in names.iter().enumerate() {
        let r = &out["results"][i];
        assert_eq!(r["error"], Json::Null, "{out}");
        let want = match data.registry.value(HKLM, nt, name) {
            Some(RegValue::Sz(s)) => s.clone(),
            other => panic!("simulated {name}: {other:?}"),
        };
        assert_eq!(r["rows"][0]["ReturnValue"], Json::from(0), "{name}: {out}");
        assert_eq!(r["rows"][0]["sValue"], Json::from(want), "{name}: {out}");
    }
    // A missing value reads 1 and a missing key 2 (ERROR_FILE_NOT_FOUND) in
    // ReturnValue, as StdRegProv answers, with no sValue.
    assert_eq!(
        out["results"][3]["rows"][0]["ReturnValue"],
        Json::from(1),
        "{out}"
    );
    assert_eq!(
        out["results"][4]["rows"][0]["ReturnValue"],
        Json::from(2),
        "{out}"
    );
    assert_eq!(out["results"][4]["rows"][0]["sValue"], Json::Null, "{out}");
}

const HKLM: u32 = 0x8000_0002;

#[test]
fn impacket_sees_logon_and_activation_faults() {
    let fleet = fleet_file(
        &[
            faulty("127.0.42.10", "kind = \"wrong_password\""),
            faulty("127.0.42.11", "kind = \"unknown_user\""),
            faulty("127.0.42.12", "kind = \"dcom_access_denied\""),
            faulty("127.0.42.13", "kind = \"dcom_disabled\""),
            faulty("127.0.42.14", "kind = \"require_integrity\""),
        ]
        .concat(),
    );
    let _sim = start(fleet);
    let cases = [
        ("127.0.42.10", "privacy", "0x00000005"),
        ("127.0.42.11", "privacy", "0x00000005"),
        ("127.0.42.12", "privacy", "0x80070005"),
        (
            "127.0.42.13",
            "privacy",
            "Bind context 1 rejected: provider_rejection; abstract_syntax_not_supported \
             (this usually means the interface isn't listening on the given endpoint)",
        ),
        ("127.0.42.14", "connect", "0x80070005"),
    ];
    for (addr, level, want) in cases {
        let Some(out) = impacket(
            addr.parse().expect("address"),
            "admin",
            level,
            "//./root/cimv2",
            &["SELECT Name FROM Win32_BIOS"],
        ) else {
            return;
        };
        assert_eq!(first_error(&out), want, "{addr}: {out}");
    }
}

#[test]
fn impacket_sees_namespace_faults() {
    let fleet = fleet_file(
        &[
            faulty(
                "127.0.42.20",
                "kind = \"wmi_access_denied\", namespace = \"root\\\\cimv2\"",
            ),
            faulty(
                "127.0.42.21",
                "kind = \"require_privacy\", namespace = \"root\\\\cimv2\"",
            ),
            faulty(
                "127.0.42.22",
                "kind = \"invalid_namespace\", namespace = \"root\\\\cimv2\"",
            ),
            faulty(
                "127.0.42.23",
                "kind = \"namespace_not_found\", namespace = \"root\\\\cimv2\"",
            ),
            faulty(
                "127.0.42.24",
                "kind = \"invalid_parameter\", namespace = \"root\\\\cimv2\"",
            ),
            faulty(
                "127.0.42.25",
                "kind = \"invalid_namespace\", namespace = \"root\\\\default\"",
            ),
        ]
        .concat(),
    );
    let _sim = start(fleet);
    let q = "SELECT Name FROM Win32_BIOS";
    let reg = "REG:GetStringValue:SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion:ProductName";
    let cases = [
        ("127.0.42.20", "privacy", q, "0x80041003"),
        ("127.0.42.21", "integrity", q, "0x80041087"),
        ("127.0.42.22", "privacy", q, "0x8004100e"),
        ("127.0.42.23", "privacy", q, "0x80041002"),
        ("127.0.42.24", "privacy", q, "0x80041008"),
        ("127.0.42.25", "privacy", reg, "0x8004100e"),
    ];
    for (addr, level, query, want) in cases {
        let Some(out) = impacket(
            addr.parse().expect("address"),
            "admin",
            level,
            "//./root/cimv2",
            &[query],
        ) else {
            return;
        };
        assert_eq!(first_error(&out), want, "{addr}: {out}");
    }
    // The namespace that requires privacy answers at privacy.
    let Some(out) = impacket(
        "127.0.42.21".parse().expect("address"),
        "admin",
        "privacy",
        "//./root/cimv2",
        &[q],
    ) else {
        return;
    };
    assert_eq!(out["results"][0]["error"], Json::Null, "{out}");
    assert_eq!(
        out["results"][0]["rows"].as_array().map(Vec::len),
        Some(1),
        "{out}"
    );
}

#[test]
fn impacket_sees_class_and_call_faults() {
    let fleet = fleet_file(
        &[
            faulty(
                "127.0.42.30",
                "kind = \"invalid_class\", class = \"Win32_QuickFixEngineering\"",
            ),
            faulty(
                "127.0.42.31",
                "kind = \"provider_failure\", class = \"Win32_Service\"",
            ),
            faulty(
                "127.0.42.32",
                "kind = \"provider_load_failure\", class = \"Win32_DiskDrive\"",
            ),
            faulty(
                "127.0.42.33",
                "kind = \"rpc_call_failed\", call = \"ExecQuery:Win32_BIOS\"",
            ),
            faulty(
                "127.0.42.34",
                "kind = \"call_cancelled\", call = \"NTLMLogin\"",
            ),
        ]
        .concat(),
    );
    let _sim = start(fleet);
    let cases = [
        (
            "127.0.42.30",
            "SELECT HotFixID FROM Win32_QuickFixEngineering",
            "0x80041010",
        ),
        (
            "127.0.42.31",
            "SELECT Name FROM Win32_Service",
            "0x80041004",
        ),
        (
            "127.0.42.32",
            "SELECT Model FROM Win32_DiskDrive",
            "0x80041013",
        ),
        ("127.0.42.33", "SELECT Name FROM Win32_BIOS", "0x000006be"),
        ("127.0.42.34", "SELECT Name FROM Win32_BIOS", "0x0000071a"),
    ];
    for (addr, query, want) in cases {
        let Some(out) = impacket(
            addr.parse().expect("address"),
            "admin",
            "privacy",
            "//./root/cimv2",
            &[query, "SELECT Caption FROM Win32_OperatingSystem"],
        ) else {
            return;
        };
        assert_eq!(first_error(&out), want, "{addr}: {out}");
        if addr != "127.0.42.34" {
            // The fault is the class's (or the call's) alone: the next query works.
            assert_eq!(out["results"][1]["error"], Json::Null, "{addr}: {out}");
            assert_eq!(
                out["results"][1]["rows"].as_array().map(Vec::len),
                Some(1),
                "{addr}: {out}"
            );
        }
    }
}
