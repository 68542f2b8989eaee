#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use proptest::prelude::*;
use winv_sim::data::host::HostData;
use winv_sim::data::profile::profile;
use winv_sim::wql::{exec_query, like, parse, Prepared, WqlError};
use winv_wmio::{CimBase, CimType, ClassDef, Property, Slot, Value};

fn host() -> HostData {
    let a: IpAddr = "127.0.9.1".parse().unwrap();
    HostData::generate(9, profile("server-2022").unwrap(), "SRV01", a, "lab.local")
}

fn q(h: &HostData, text: &str) -> Result<Vec<winv_wmio::Instance>, u32> {
    exec_query(h, "root\\cimv2", "WQL", text).map_err(|e| e.code())
}

fn count(h: &HostData, text: &str) -> usize {
    q(h, text)
        .unwrap_or_else(|c| panic!("{text}: {c:#x}"))
        .len()
}

#[test]
fn operators() {
    let h = host();
    let all = count(&h, "SELECT * FROM Win32_Service");
    let running = count(&h, "select Name from win32_service where State = 'Running'");
    let stopped = count(
        &h,
        "SELECT Name FROM Win32_Service WHERE State <> \"Running\"",
    );
    assert!(running > 0 && stopped > 0);
    assert_eq!(running + stopped, all);
    assert_eq!(
        count(
            &h,
            "SELECT Name FROM Win32_Service WHERE State != 'running'"
        ),
        stopped
    );
    assert_eq!(
        count(&h, "SELECT * FROM Win32_Service WHERE ProcessId > 0"),
        running
    );
    assert_eq!(
        count(&h, "SELECT * FROM Win32_Service WHERE ProcessId >= 1"),
        running
    );
    assert_eq!(
        count(&h, "SELECT * FROM Win32_Service WHERE ProcessId <= 0"),
        stopped
    );
    assert_eq!(
        count(&h, "SELECT * FROM Win32_Service WHERE ProcessId < 1"),
        stopped
    );
    assert_eq!(
        count(&h, "SELECT * FROM Win32_Service WHERE 0 < ProcessId"),
        running
    );
    assert_eq!(
        count(&h, "SELECT * FROM Win32_Service WHERE Started = TRUE"),
        running
    );
    assert_eq!(
        count(&h, "SELECT * FROM Win32_Service WHERE NOT Started = TRUE"),
        stopped
    );
    assert_eq!(
        count(
            &h,
            "SELECT * FROM Win32_Service WHERE Started = FALSE OR Started = TRUE"
        ),
        all
    );
    assert_eq!(
        count(
            &h,
            "SELECT * FROM Win32_Service WHERE (Started = TRUE AND State = 'Stopped')"
        ),
        0
    );
    assert_eq!(
        count(&h, "SELECT * FROM Win32_Service WHERE Name = 'winmgmt'"),
        1
    );
    assert_eq!(
        count(&h, "SELECT * FROM Win32_Service WHERE ProcessId = '0'"),
        stopped,
        "number vs string literal"
    );
    assert_eq!(
        count(&h, "SELECT * FROM Win32_Service WHERE ExitCode = 0x435"),
        stopped
    );
    assert_eq!(
        count(
            &h,
            "SELECT * FROM Win32_OperatingSystem WHERE CurrentTimeZone > -1000"
        ),
        1
    );
}

#[test]
fn like_patterns() {
    let h = host();
    assert_eq!(
        count(&h, "SELECT * FROM Win32_Service WHERE Name LIKE 'win%'"),
        count(&h, "SELECT * FROM Win32_Service WHERE Name LIKE 'WIN%'")
    );
    assert_eq!(
        count(&h, "SELECT * FROM Win32_Service WHERE Name LIKE 'Winmgm_'"),
        1
    );
    assert_eq!(
        count(
            &h,
            "SELECT * FROM Win32_Service WHERE Name LIKE '[w]inmgmt'"
        ),
        1
    );
    assert_eq!(
        count(
            &h,
            "SELECT * FROM Win32_Service WHERE Name LIKE '[^w]inmgmt'"
        ),
        0
    );
    assert_eq!(
        count(
            &h,
            "SELECT * FROM Win32_LogicalDisk WHERE DeviceID LIKE '[a-c]:'"
        ),
        1
    );
    let all = count(&h, "SELECT * FROM Win32_Service");
    assert_eq!(
        count(&h, "SELECT * FROM Win32_Service WHERE Name NOT LIKE '%'"),
        0
    );
    assert_eq!(
        count(&h, "SELECT * FROM Win32_Service WHERE Name LIKE '%'"),
        all
    );
    let c = |t: &str, p: &str| {
        like(
            &t.chars().collect::<Vec<_>>(),
            &p.chars().collect::<Vec<_>>(),
        )
    };
    assert!(
        c("abc", "a%c") && c("ac", "a%c") && !c("ab", "a%c") && c("a[b", "a[b") && c("x", "[w-z]")
    );
}

#[test]
fn null_semantics() {
    let h = host();
    let disks = count(&h, "SELECT * FROM Win32_LogicalDisk");
    let nulls = count(&h, "SELECT * FROM Win32_LogicalDisk WHERE Size IS NULL");
    assert_eq!(nulls, 1);
    assert_eq!(
        count(&h, "SELECT * FROM Win32_LogicalDisk WHERE Size IS NOT NULL"),
        disks - 1
    );
    assert_eq!(
        count(&h, "SELECT * FROM Win32_LogicalDisk WHERE Size = NULL"),
        1
    );
    assert_eq!(
        count(&h, "SELECT * FROM Win32_LogicalDisk WHERE Size <> NULL"),
        disks - 1
    );
    // Comparisons with NULL are unknown: neither the test nor its negation matches.
    let gt = count(&h, "SELECT * FROM Win32_LogicalDisk WHERE Size > 0");
    let not_gt = count(&h, "SELECT * FROM Win32_LogicalDisk WHERE NOT Size > 0");
    assert_eq!(gt + not_gt, disks - 1);
    assert_eq!(
        count(
            &h,
            "SELECT * FROM Win32_LogicalDisk WHERE Size > 0 OR Size IS NULL"
        ),
        disks
    );
}

#[test]
fn projection_keeps_selection_and_keys() {
    let h = host();
    let rows = q(&h, "SELECT State FROM Win32_Service").unwrap();
    let names: Vec<_> = rows[0]
        .class
        .properties
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["Name", "State"]);
    assert_eq!(rows[0].values.len(), 2);
    assert!(rows[0].get("State").is_some());
    let full = q(&h, "SELECT * FROM Win32_Service").unwrap();
    assert!(full[0].class.properties.len() > 20);
}

#[test]
fn errors_and_codes() {
    let h = host();
    assert_eq!(q(&h, "SELECT * FROM Win32_Nope").unwrap_err(), 0x8004_1010);
    assert_eq!(
        q(&h, "SELECT Nope FROM Win32_BIOS").unwrap_err(),
        0x8004_1017
    );
    assert_eq!(
        q(&h, "SELECT * FROM Win32_BIOS WHERE Nope = 1").unwrap_err(),
        0x8004_1017
    );
    assert_eq!(q(&h, "SELECT * FROM").unwrap_err(), 0x8004_1017);
    assert_eq!(
        q(&h, "SELECT * FROM Win32_BIOS WHERE").unwrap_err(),
        0x8004_1017
    );
    assert_eq!(
        q(&h, "SELECT * FROM Win32_BIOS WHERE Name = 'x").unwrap_err(),
        0x8004_1017
    );
    assert_eq!(
        q(&h, "SELECT * FROM Win32_Service WHERE ProcessId = 'abc'").unwrap_err(),
        0x8004_1017
    );
    assert_eq!(
        q(&h, "SELECT * FROM Win32_BIOS WHERE 1 = 1").unwrap_err(),
        0x8004_1017
    );
    assert_eq!(
        q(&h, "SELECT * FROM Win32_BIOS WHERE BIOSVersion = 'x'").unwrap_err(),
        0x8004_1017
    );
    let e = exec_query(&h, "root\\cimv2", "SQL", "SELECT * FROM Win32_BIOS").unwrap_err();
    assert_eq!(e.code(), 0x8004_1018);
    assert!(matches!(
        parse("SELECT a FROM b WHERE ((a = 1)"),
        Err(WqlError::Syntax(_))
    ));
    // StdRegProv exists in root\default and has no instances.
    assert_eq!(
        exec_query(&h, "root\\default", "WQL", "SELECT * FROM StdRegProv")
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        exec_query(&h, "root\\default", "WQL", "SELECT * FROM Win32_BIOS")
            .unwrap_err()
            .code(),
        0x8004_1010
    );
    let deep = format!(
        "SELECT * FROM X WHERE {}a = 1{}",
        "(".repeat(500),
        ")".repeat(500)
    );
    assert!(parse(&deep).is_err());
}

fn test_class() -> ClassDef {
    let prop = |name: &str, base: CimBase, order: u16| Property {
        name: name.into(),
        cim_type: CimType::scalar(base),
        order,
        origin: 0,
        inherited: false,
        qualifiers: vec![],
        default: Slot::Null,
    };
    ClassDef {
        name: "T".into(),
        derivation: vec![],
        qualifiers: vec![],
        properties: vec![prop("N", CimBase::Uint32, 0), prop("S", CimBase::String, 1)],
        methods: vec![],
    }
}

proptest! {
    #[test]
    fn parser_never_panics(text in ".{0,200}") {
        let _ = parse(&text);
    }

    #[test]
    fn parser_never_panics_on_wql_like_text(parts in proptest::collection::vec(prop_oneof![
        Just("SELECT"), Just("*"), Just("FROM"), Just("WHERE"), Just("X"), Just("("), Just(")"), Just("'a"),
        Just("AND"), Just("NOT"), Just("LIKE"), Just("IS"), Just("NULL"), Just("="), Just("<>"), Just("-"), Just("0x"), Just("[")
    ], 0..30)) {
        let _ = parse(&parts.join(" "));
    }

    /// Evaluation agrees with a direct Rust evaluation on generated rows.
    #[test]
    fn evaluation_matches_reference(
        rows in proptest::collection::vec((proptest::option::of(0u32..20), proptest::option::of("[ab]{0,3}")), 0..20),
        k in 0u32..20,
        op in 0usize..6,
        s in "[ab]{0,3}",
        conj in any::<bool>(),
    ) {
        let class = test_class();
        let ops = ["=", "<>", "<", ">", "<=", ">="];
        let text = format!("SELECT * FROM T WHERE N {} {k} {} S = '{s}'", ops[op], if conj { "AND" } else { "OR" });
        let query = parse(&text).unwrap();
        let prepared = Prepared::new(&query, &class).unwrap();
        let slots: Vec<Vec<Slot>> = rows.iter().map(|(n, st)| vec![
            n.map_or(Slot::Null, |v| Slot::Set(Value::Uint32(v))),
            st.clone().map_or(Slot::Null, |v| Slot::Set(Value::String(v))),
        ]).collect();
        let got = prepared.run(&class, slots.iter().map(Vec::as_slice)).len();
        let want = rows.iter().filter(|(n, st)| {
            let a = n.map(|v| match op { 0 => v == k, 1 => v != k, 2 => v < k, 3 => v > k, 4 => v <= k, _ => v >= k });
            let b = st.as_ref().map(|v| *v == s);
            let r = if conj {
                match (a, b) { (Some(false), _) | (_, Some(false)) => Some(false), (Some(true), Some(true)) => Some(true), _ => None }
            } else {
                match (a, b) { (Some(true), _) | (_, Some(true)) => Some(true), (Some(false), Some(false)) => Some(false), _ => None }
            };
            r == Some(true)
        }).count();
        prop_assert_eq!(got, want);
    }
}
