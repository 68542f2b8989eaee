#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use winv_sim::fleet::{CallSelector, Fault, Fleet, FleetError};

fn doc_example() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/fleet.md");
    let doc = std::fs::read_to_string(path).expect("docs/fleet.md");
    let start = doc.find("```toml").expect("toml block") + "```toml".len();
    let end = start + doc[start..].find("```").expect("block end");
    doc[start..end].to_string()
}

#[test]
fn doc_example_parses_with_every_fault() {
    let fleet = Fleet::parse(&doc_example()).unwrap_or_else(|e| panic!("{e}"));
    let kinds: std::collections::BTreeSet<&str> = fleet
        .hosts
        .iter()
        .flat_map(|h| h.faults.iter().map(|f| f.fault.kind()))
        .collect();
    for k in [
        "wrong_password",
        "unknown_user",
        "dcom_access_denied",
        "wmi_access_denied",
        "require_privacy",
        "invalid_namespace",
        "namespace_not_found",
        "invalid_parameter",
        "invalid_class",
        "provider_failure",
        "provider_load_failure",
        "provider_hang",
        "provider_slow",
        "rpc_call_failed",
        "call_cancelled",
        "shutting_down",
        "connection_reset",
        "dynamic_port_silent",
        "require_integrity",
        "dcom_disabled",
    ] {
        assert!(kinds.contains(k), "doc example lacks {k}");
    }
    let dc = fleet.host("127.0.9.1".parse().unwrap()).unwrap();
    assert_eq!(dc.name, "DC01");
    assert_eq!(dc.profile.id, "server-2019");
    let data = dc.data();
    let cs = &data
        .instances("root\\cimv2", "Win32_ComputerSystem")
        .unwrap()[0];
    assert_eq!(
        cs.get("Manufacturer"),
        Some(&winv_wmio::Value::String("Dell Inc.".into()))
    );
    let multi = fleet.host("127.0.9.3".parse().unwrap()).unwrap();
    assert_eq!(multi.users.len(), 2);
    assert_eq!(multi.users[1].qualified(), "LAB\\helpdesk");
    assert_eq!(fleet.hosts.len(), 1 + 4 + 24 + 3 + 1000);
    // Intermittent fault: attempts 1 and 2 fail, 3 works.
    let flaky = fleet.host("127.0.9.33".parse().unwrap()).unwrap();
    assert_eq!(flaky.active_faults(2).count(), 1);
    assert_eq!(flaky.active_faults(3).count(), 0);
    // The mix is deterministic and near its percentages.
    let again = Fleet::parse(&doc_example()).unwrap();
    let kinds_of = |f: &Fleet| {
        f.hosts
            .iter()
            .map(|h| h.faults.first().map(|x| x.fault.kind()))
            .collect::<Vec<_>>()
    };
    assert_eq!(kinds_of(&fleet), kinds_of(&again));
    let hangs = fleet
        .hosts
        .iter()
        .filter(|h| h.address >= "127.0.10.1".parse::<IpAddr>().unwrap())
        .filter(|h| h.faults.iter().any(|f| f.fault.kind() == "provider_hang"))
        .count();
    assert!((5..=40).contains(&hangs), "{hangs}");
}

#[test]
fn fault_codes() {
    let ns = || "root\\cimv2".to_string();
    assert_eq!(Fault::DcomAccessDenied.code(), Some(0x8007_0005));
    assert_eq!(Fault::RequireIntegrity.code(), Some(0x8007_0005));
    assert_eq!(
        Fault::WmiAccessDenied { namespace: ns() }.code(),
        Some(0x8004_1003)
    );
    assert_eq!(
        Fault::RequirePrivacy { namespace: ns() }.code(),
        Some(0x8004_1087)
    );
    assert_eq!(
        Fault::InvalidNamespace { namespace: ns() }.code(),
        Some(0x8004_100E)
    );
    assert_eq!(
        Fault::NamespaceNotFound { namespace: ns() }.code(),
        Some(0x8004_1002)
    );
    assert_eq!(
        Fault::InvalidParameter { namespace: ns() }.code(),
        Some(0x8004_1008)
    );
    assert_eq!(
        Fault::ShuttingDown { after_ms: 0 }.code(),
        Some(0x8007_045B)
    );
    let call = CallSelector::parse("execquery:Win32_BIOS").unwrap();
    assert!(call.matches("ExecQuery", Some("win32_bios")));
    assert!(!call.matches("ExecQuery", Some("Win32_Service")));
    assert_eq!(
        Fault::RpcCallFailed { call: call.clone() }.code(),
        Some(1726)
    );
    assert_eq!(Fault::CallCancelled { call }.code(), Some(1818));
    assert_eq!(Fault::ProviderHang { class: "X".into() }.code(), None);
}

fn err(text: &str) -> FleetError {
    Fleet::parse(text).expect_err("must fail")
}

const HEAD: &str = "[defaults]\nuser = 'LAB\\admin'\npassword_env = 'P'\n";

#[test]
fn bad_files_have_located_errors() {
    let e = err(&format!(
        "{HEAD}[[host]]\naddress = '127.0.0.1'\nfaults = [{{ kind = 'exploding_host' }}]\n"
    ));
    let text = e.to_string();
    assert!(
        text.contains("exploding_host") && text.contains("line 6"),
        "{text}"
    );

    let e = err(&format!("{HEAD}[[host]]\naddress = '127.0.0.300'\n"));
    assert!(matches!(e, FleetError::Invalid { line: 5, .. }), "{e}");

    let e = err(&format!(
        "{HEAD}[[host]]\naddress = '127.0.0.1'\nprofile = 'windows-95'\n"
    ));
    assert!(
        matches!(&e, FleetError::Invalid { line: 6, message, .. } if message.contains("windows-95")),
        "{e}"
    );

    let e = err(&format!(
        "{HEAD}[[host]]\naddress = '127.0.0.9-127.0.0.1'\n"
    ));
    assert!(e.to_string().contains("below its start"), "{e}");

    let e = err(&format!(
        "{HEAD}[[host]]\naddress = '127.0.0.1'\n[[host]]\naddress = '127.0.0.1'\n"
    ));
    assert!(e.to_string().contains("twice"), "{e}");

    let e = err(&format!("{HEAD}[[host]]\naddress = '127.0.0.1'\nfaults = [{{ kind = 'rpc_call_failed', call = 'Frobnicate' }}]\n"));
    assert!(e.to_string().contains("unknown call"), "{e}");

    let e = err(&format!(
        "{HEAD}[[host]]\naddress = '127.0.0.1'\nfaults = [{{ kind = 'provider_failure' }}]\n"
    ));
    assert!(e.to_string().contains("class"), "{e}");

    let e = err(&format!(
        "{HEAD}[[host]]\naddress = '127.0.0.1'\noverrides = {{ 'Win32_BIOS.Nope' = 'x' }}\n"
    ));
    assert!(e.to_string().contains("unknown property"), "{e}");

    let e = err("[defaults]\nuser = 'LAB\\admin'\npassword = 'hunter2'\n");
    assert!(e.to_string().contains("password"), "{e}");
    assert!(
        !e.to_string().contains("hunter2") || e.to_string().contains("line"),
        "{e}"
    );

    let e =
        err("[defaults]\nuser = 'a'\npassword_env = 'BAD NAME'\n[[host]]\naddress='127.0.0.1'\n");
    assert!(matches!(e, FleetError::Invalid { line: 3, .. }), "{e}");

    let e = err(&format!("{HEAD}[mix]\nstart = '127.0.1.1'\ncount = 10\nfaults = [{{ percent = 80, kind = 'dcom_disabled' }}, {{ percent = 30, kind = 'unknown_user' }}]\n"));
    assert!(e.to_string().contains("more than 100"), "{e}");

    assert!(matches!(err(HEAD), FleetError::Invalid { .. }));
}

#[test]
fn single_host_and_patterns() {
    let a: IpAddr = "127.0.9.1".parse().unwrap();
    let f = Fleet::single(a, "LAB\\admin", "SIM_PASSWORD");
    let h = f.host(a).unwrap();
    assert_eq!(h.users[0].domain, "LAB");
    assert_eq!(h.users[0].password_env.as_deref(), Some("SIM_PASSWORD"));
    assert!(h.faults.is_empty());
    assert_eq!(
        winv_sim::fleet::expand_name("W{n:03}-{a}", 7, a),
        "W007-127-0-9-1"
    );
    let f = Fleet::parse(&format!(
        "{HEAD}[[host]]\naddress = '10.0.0.250'\ncount = 10\n"
    ))
    .unwrap();
    assert_eq!(
        f.hosts.last().unwrap().address,
        "10.0.1.3".parse::<IpAddr>().unwrap()
    );
    let dbg = format!("{:?}", Fleet::parse("[defaults]\nuser='a'\nnt_hash='00112233445566778899aabbccddeeff'\n[[host]]\naddress='::1'\n").unwrap());
    assert!(!dbg.contains("00112233"), "hash in Debug");
}
