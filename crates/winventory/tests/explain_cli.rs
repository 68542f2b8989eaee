//! `winventory explain` end to end: the built binary on every form of a sample
//! of codes, `--json`, structural decodes and unparseable input.

use std::process::{Command, Output};

use serde_json::Value;

fn explain(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_winventory"))
        .arg("explain")
        .args(args)
        .output()
        .expect("run winventory")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json(args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let o = explain(&a);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{a:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("valid json")
}

/// Every form of each sampled code names the same entry, as text and as JSON.
#[test]
fn every_form_resolves_to_the_same_entry() {
    let sample: &[(&str, &[&str])] = &[
        (
            "E_ACCESSDENIED",
            &[
                "0x80070005",
                "80070005",
                "-2147024891",
                "2147942405",
                "e_accessdenied",
                "E_ACCESS_DENIED",
            ],
        ),
        (
            "WBEM_E_INVALID_NAMESPACE",
            &[
                "0x8004100E",
                "8004100e",
                "-2147217394",
                "2147749902",
                "wbem_e_invalid_namespace",
            ],
        ),
        (
            "RPC_S_SERVER_UNAVAILABLE",
            &[
                "0x800706BA",
                "1722",
                "0x6ba",
                "-2147023174",
                "2147944122",
                "HRESULT_FROM_WIN32(RPC_S_SERVER_UNAVAILABLE)",
            ],
        ),
        ("nca_s_unk_if", &["0x1c010003", "469827587", "NCA_S_UNK_IF"]),
        ("WBEM_S_TIMEDOUT", &["0x40004", "262148", "wbem_s_timedout"]),
        ("WSAETIMEDOUT", &["10060", "0x274c"]),
        ("rpc-server-unavailable", &["RPC-SERVER-UNAVAILABLE"]),
    ];
    for (name, forms) in sample {
        for form in forms.iter().chain(std::iter::once(name)) {
            let o = explain(&[form]);
            assert_eq!(o.status.code(), Some(0), "{form}");
            let text = stdout(&o);
            assert!(text.starts_with(name), "{form}: {text}");
            assert!(text.contains("remediation, in order:"), "{form}");
            let v = json(&[form]);
            assert_eq!(v["result"], "known", "{form}");
            assert_eq!(v["entries"][0]["name"], *name, "{form}");
        }
    }
}

#[test]
fn text_shows_every_field() {
    let t = stdout(&explain(&["0x80070005"]));
    for needle in [
        "E_ACCESSDENIED  0x80070005 (2147942405 / -2147024891)",
        "layer: dcom",
        "category: access",
        "seen: while connecting or during an operation",
        "retry: not retried",
        "computer status: access-denied",
        "likely causes, most likely first:",
        "checks that tell them apart:",
        "Distributed COM Users",
        "LocalAccountTokenFilterPolicy",
        "sources: Scenario guide: Troubleshoot WMI connectivity and access issues; \
         Let's troubleshoot WMI (Part 1: Remoting and Security); WMI Troubleshooting",
    ] {
        assert!(t.contains(needle), "missing {needle:?} in\n{t}");
    }
    // Sources by their titles, never by the project's file numbers.
    assert!(!t.to_lowercase().contains("seed"), "{t}");
    let t = stdout(&explain(&["rpc-call-cancelled"]));
    assert!(t.contains("retry: retry-class"), "{t}");
}

#[test]
fn json_carries_all_fields() {
    let v = json(&["0x80041003"]);
    let e = &v["entries"][0];
    assert_eq!(e["name"], "WBEM_E_ACCESS_DENIED");
    assert_eq!(e["values"][0]["hex"], "0x80041003");
    assert_eq!(e["values"][0]["unsigned"], 2147749891u64);
    assert_eq!(e["values"][0]["signed"], -2147217405i64);
    assert_eq!(e["layer"], "wmi");
    assert_eq!(e["category"], "access");
    assert_eq!(e["phase"], "either");
    assert_eq!(e["retry_class"], "no");
    for field in ["causes", "checks", "remediation", "sources"] {
        assert!(
            e[field].as_array().is_some_and(|a| !a.is_empty()),
            "{field}"
        );
    }
}

#[test]
fn ambiguous_numbers_list_every_reading() {
    let v = json(&["1"]);
    assert_eq!(v["result"], "several");
    let names: Vec<_> = v["entries"]
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["name"].clone())
        .collect();
    assert_eq!(
        names,
        [
            "ERROR_INVALID_FUNCTION",
            "temporary_congestion",
            "WBEM_S_FALSE"
        ]
    );
    let t = stdout(&explain(&["1"]));
    assert!(t.starts_with("3 kinds of code share this number"), "{t}");
}

#[test]
fn unknown_codes_are_decoded_not_refused() {
    let o = explain(&["0x8007274C"]);
    assert_eq!(o.status.code(), Some(0));
    let t = stdout(&o);
    assert!(t.contains("facility: 7 (WIN32)"), "{t}");
    assert!(t.contains("WSAETIMEDOUT"), "{t}");
    let v = json(&["0x80041099"]);
    assert_eq!(v["result"], "decoded");
    assert_eq!(v["decoded"]["facility_name"], "ITF");
    assert_eq!(v["decoded"]["failure"], true);
    assert!(v["note"]
        .as_str()
        .is_some_and(|n| n.contains("not in the knowledge base")));
}

#[test]
fn unparseable_input_exits_2_with_a_clear_error() {
    for bad in ["0xZZZ", "NOT_A_REAL_CODE", "99999999999"] {
        let o = explain(&[bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("cannot explain"), "{bad}: {err}");
        assert!(o.stdout.is_empty());
    }
    let o = explain(&["NOT_A_REAL_CODE", "--json"]);
    assert_eq!(o.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&o.stdout).expect("json error");
    assert_eq!(v["result"], "error");
    assert_eq!(v["error"], "unknown code name: NOT_A_REAL_CODE");
}
