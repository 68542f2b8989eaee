use std::collections::HashSet;

use super::*;

const STATUSES: [&str; 21] = [
    "inventoried",
    "inventoried-incomplete",
    "machine-not-found",
    "connection-timeout",
    "connection-refused",
    "host-unreachable",
    "access-denied",
    "rpc-server-unavailable",
    "rpc-call-failed",
    "rpc-call-cancelled",
    "cimv2-namespace-invalid",
    "cimv2-namespace-not-found",
    "cimv2-namespace-invalid-parameter",
    "stdregprov-namespace-invalid",
    "stdregprov-namespace-not-found",
    "stdregprov-namespace-invalid-parameter",
    "computer-shutting-down",
    "wmi-query-timeout",
    "no-credentials",
    "inventory-not-completed",
    "other-reasons",
];

#[test]
fn kb_parses_and_is_consistent() {
    let es = parse(KB_TOML).expect("kb.toml parses");
    assert!(es.len() > 100, "only {} entries", es.len());
    let mut names = HashSet::new();
    let mut kind_values = HashSet::new();
    for e in &es {
        for n in std::iter::once(&e.name).chain(&e.aliases) {
            assert!(
                names.insert(n.to_ascii_lowercase()),
                "duplicate name or alias {n}"
            );
        }
        assert!(!e.summary.trim().is_empty(), "{}: no summary", e.name);
        for (what, list) in [
            ("causes", &e.causes),
            ("checks", &e.checks),
            ("remediation", &e.remediation),
        ] {
            assert!(!list.is_empty(), "{}: no {what}", e.name);
            assert!(
                list.iter().all(|s| !s.trim().is_empty()),
                "{}: empty {what}",
                e.name
            );
        }
        for s in &e.seeds {
            assert!(
                ["000", "001", "002", "003"].contains(&s.as_str()),
                "{}: seed {s}",
                e.name
            );
        }
        for s in &e.statuses {
            assert!(
                STATUSES.contains(&s.as_str()),
                "{}: unknown status {s}",
                e.name
            );
        }
        if e.kind == Kind::Status {
            assert!(e.values.is_empty(), "{}: a status has no value", e.name);
            assert!(
                STATUSES.contains(&e.name.as_str()),
                "{}: not a status",
                e.name
            );
        } else {
            assert!(!e.values.is_empty(), "{}: no value", e.name);
            // A name is unique; so is a value within one kind.
            for v in &e.values {
                assert!(
                    kind_values.insert((e.kind, *v)),
                    "{}: value {v:#x} twice in {:?}",
                    e.name,
                    e.kind
                );
            }
        }
        // Retry-class agrees with the status it ends in (seed 000).
        for s in &e.statuses {
            if [
                "rpc-call-failed",
                "rpc-call-cancelled",
                "computer-shutting-down",
                "wmi-query-timeout",
            ]
            .contains(&s.as_str())
            {
                assert_eq!(
                    e.retry_class,
                    RetryClass::Retry,
                    "{}: ends as {s} but is not retry-class",
                    e.name
                );
            }
        }
    }
    // The one-time parse is what entries() hands out.
    assert_eq!(entries(), es.as_slice());
}

#[test]
fn every_status_has_an_entry() {
    for s in STATUSES {
        let e = by_status(s).unwrap_or_else(|| panic!("no entry for status {s}"));
        assert_eq!(e.kind, Kind::Status);
        assert_eq!(lookup(s), Ok(Explanation::Known(e)));
    }
    assert!(by_status("E_ACCESSDENIED").is_none());
    let retry: Vec<_> = entries()
        .iter()
        .filter(|e| e.kind == Kind::Status && e.retry_class == RetryClass::Retry)
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(
        retry,
        [
            "rpc-call-failed",
            "rpc-call-cancelled",
            "computer-shutting-down",
            "wmi-query-timeout"
        ]
    );
}

fn resolves_to(q: &str, e: &'static Entry) -> bool {
    match lookup(q) {
        Ok(Explanation::Known(k)) => std::ptr::eq(k, e),
        Ok(Explanation::Several(v)) => v.iter().any(|k| std::ptr::eq(*k, e)),
        _ => false,
    }
}

/// Every form of every code resolves to the same entry: hex (with and without
/// 0x, both cases), signed decimal, unsigned decimal, name and aliases.
#[test]
fn every_form_of_every_code_round_trips() {
    let mut forms = 0;
    for e in entries() {
        for q in std::iter::once(&e.name).chain(&e.aliases) {
            assert_eq!(lookup(q), Ok(Explanation::Known(e)), "name {q}");
            assert_eq!(lookup(&q.to_ascii_lowercase()), Ok(Explanation::Known(e)));
            assert_eq!(lookup(&q.to_ascii_uppercase()), Ok(Explanation::Known(e)));
            forms += 3;
        }
        for &v in &e.values {
            let qs = [
                format!("0x{v:08X}"),
                format!("0x{v:x}"),
                format!("{v}"),
                format!("{}", v as i32),
                format!(" {v:#010x} "),
            ];
            for q in qs
                .iter()
                .chain((v > 0xffff).then(|| format!("{v:08X}")).iter())
            {
                assert!(resolves_to(q, e), "{} does not resolve {q}", e.name);
                forms += 1;
            }
            // A value one entry alone carries is Known, never Several.
            if by_value(v).len() == 1 {
                assert_eq!(lookup(&format!("{v:#x}")), Ok(Explanation::Known(e)));
            }
        }
    }
    assert!(forms > 600, "{forms}");
}

#[test]
fn brief_examples() {
    let ad = by_name("E_ACCESSDENIED").expect("E_ACCESSDENIED");
    for q in [
        "0x80070005",
        "80070005",
        "-2147024891",
        "2147942405",
        "e_accessdenied",
        "E_ACCESS_DENIED",
    ] {
        assert_eq!(lookup(q), Ok(Explanation::Known(ad)), "{q}");
    }
    let inv = by_name("WBEM_E_INVALID_NAMESPACE").expect("invalid namespace");
    assert_eq!(inv.values, [0x8004_100E]);
    assert_eq!(lookup("8004100e"), Ok(Explanation::Known(inv)));
    let rsu = by_name("RPC_S_SERVER_UNAVAILABLE").expect("rpc_s");
    assert_eq!(lookup("0x800706BA"), Ok(Explanation::Known(rsu)));
    assert_eq!(lookup("1722"), Ok(Explanation::Known(rsu)));
    assert_eq!(
        lookup("HRESULT_FROM_WIN32(RPC_S_SERVER_UNAVAILABLE)"),
        Ok(Explanation::Known(rsu))
    );
    assert_eq!(
        lookup("nca_s_unk_if")
            .map(|x| matches!(x, Explanation::Known(e) if e.values == [0x1c01_0003])),
        Ok(true)
    );
    assert_eq!(lookup("RPC_S_ACCESS_DENIED"), lookup("ERROR_ACCESS_DENIED"));
    // A bare 8-digit string is hex, as Windows prints HRESULTs.
    assert_eq!(lookup("10000000"), lookup("0x10000000"));
    assert_eq!(
        lookup("0x40004"),
        Ok(Explanation::Known(by_name("WBEM_S_TIMEDOUT").expect("ts")))
    );
}

#[test]
fn ambiguous_numbers_return_every_match_in_file_order() {
    // 1: ERROR_INVALID_FUNCTION (win32), temporary_congestion (bind_nak), WBEM_S_FALSE.
    let Ok(Explanation::Several(v)) = lookup("1") else {
        panic!("1 is ambiguous")
    };
    let names: Vec<_> = v.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "ERROR_INVALID_FUNCTION",
            "temporary_congestion",
            "WBEM_S_FALSE"
        ]
    );
    // 6: ERROR_INVALID_HANDLE (win32) and KDC_ERR_C_PRINCIPAL_UNKNOWN (Kerberos).
    let Ok(Explanation::Several(v)) = lookup("0x6") else {
        panic!("6 is ambiguous")
    };
    let kinds: Vec<_> = v.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [Kind::Win32, Kind::Kerberos]);
    // 5 has one entry (RPC faults carry the Win32 value itself).
    assert!(matches!(lookup("5"), Ok(Explanation::Known(e)) if e.name == "ERROR_ACCESS_DENIED"));
    // name() picks by kind preference, and never a bind_nak reason or Kerberos number.
    assert_eq!(name(1), Some("WBEM_S_FALSE"));
    assert_eq!(name(6), Some("ERROR_INVALID_HANDLE"));
    assert_eq!(name(24), None);
    assert_eq!(name_in(Kind::Kerberos, 24), Some("KDC_ERR_PREAUTH_FAILED"));
    assert_eq!(name_in(Kind::BindReject, 1), Some("temporary_congestion"));
}

#[test]
fn name_table() {
    assert_eq!(name(0x8004_1003), Some("WBEM_E_ACCESS_DENIED"));
    assert_eq!(name(0x8007_0005), Some("E_ACCESSDENIED"));
    assert_eq!(name(0x8007_06BA), Some("RPC_S_SERVER_UNAVAILABLE"));
    assert_eq!(name(1722), Some("RPC_S_SERVER_UNAVAILABLE"));
    assert_eq!(name(10060), Some("WSAETIMEDOUT"));
    assert_eq!(name(0), Some("S_OK"));
    // Falls back to winv-dcerpc's table for faults the KB does not explain.
    assert_eq!(name(0x1c00_0014), Some("nca_s_fault_pipe_empty"));
    assert_eq!(name(0x1234_5678), None);
}

/// The KB's DCE/RPC names agree with winv-dcerpc's tables (one spelling in the project).
#[test]
fn names_agree_with_winv_dcerpc() {
    use winv_dcerpc::status::{reject_reason_name, status_name};
    let mut checked = 0;
    for e in entries() {
        for &v in &e.values {
            match e.kind {
                Kind::Nca => assert_eq!(status_name(v), Some(e.name.as_str()), "{v:#x}"),
                Kind::BindReject => {
                    let r = u16::try_from(v).expect("reason fits u16");
                    assert_eq!(reject_reason_name(r), Some(e.name.as_str()), "{v}");
                }
                _ => {}
            }
            if let Some(n) = status_name(v) {
                if !matches!(e.kind, Kind::BindReject | Kind::Kerberos | Kind::Status) {
                    assert!(
                        by_value(v).iter().any(|x| x.is_named(n)),
                        "winv-dcerpc calls {v:#x} {n}; the KB entry is {}",
                        e.name
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 30, "{checked}");
}

#[test]
fn no_remediation_starts_by_deleting_or_rebuilding_the_repository() {
    const DESTRUCTIVE: [&str; 6] = [
        "resetrepository",
        "salvagerepository",
        "delete",
        "rebuild the repository",
        "rename the repository",
        "repository folder",
    ];
    for e in entries() {
        let first = e.remediation[0].to_ascii_lowercase();
        for d in DESTRUCTIVE {
            assert!(
                !first.contains(d),
                "{}: first step mentions {d}: {first}",
                e.name
            );
        }
        // Whatever mentions a reset comes after a verify step.
        if let Some(i) = e.remediation.iter().position(|s| {
            let s = s.to_ascii_lowercase();
            s.contains("resetrepository") || s.contains("salvagerepository")
        }) {
            assert!(
                e.remediation[..i]
                    .iter()
                    .any(|s| s.contains("/verifyrepository")),
                "{}: reset without verify first",
                e.name
            );
        }
    }
}

#[test]
fn remediation_names_the_seed_commands() {
    let all: String = entries()
        .iter()
        .flat_map(|e| e.remediation.iter())
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    for needle in [
        "netsh advfirewall firewall set rule group=\"windows management instrumentation (wmi)\" new enable=yes",
        "Remote Launch",
        "Remote Activation",
        "Distributed COM Users",
        "Remote Enable",
        "wmimgmt.msc",
        "LocalAccountTokenFilterPolicy",
        "Restrict Unauthenticated RPC clients",
        "winmgmt /verifyrepository",
        "regsvr32 /s",
        "mofcomp",
        "setspn",
        "w32tm",
        "KB5004442",
    ] {
        assert!(all.contains(needle), "no remediation names {needle}");
    }
    let checks: String = entries()
        .iter()
        .flat_map(|e| e.checks.iter())
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    assert!(checks.contains("netsh int ipv4 show dynamicport tcp"));
}

#[test]
fn phases_follow_seed_002() {
    // RPC server unavailable and both access denied are seen connecting and during operations.
    for n in [
        "E_ACCESSDENIED",
        "RPC_S_SERVER_UNAVAILABLE",
        "WBEM_E_ACCESS_DENIED",
    ] {
        assert_eq!(by_name(n).map(|e| e.phase), Some(Phase::Either), "{n}");
    }
    let e = by_name("E_ACCESSDENIED").expect("e");
    assert_eq!((e.layer, e.category), (Layer::Dcom, Category::Access));
    let w = by_name("WBEM_E_ACCESS_DENIED").expect("w");
    assert_eq!((w.layer, w.category), (Layer::Wmi, Category::Access));
    let r = by_name("RPC_S_SERVER_UNAVAILABLE").expect("r");
    assert_eq!(r.category, Category::Connectivity);
    assert_eq!(
        by_name("WBEM_E_PROVIDER_LOAD_FAILURE").map(|e| e.category),
        Some(Category::CoreWmi)
    );
}

#[test]
fn unknown_codes_are_decoded_structurally() {
    // HRESULT_FROM_WIN32(WSAETIMEDOUT) is not an entry; its inner Win32 code is.
    let Ok(Explanation::Decoded(p)) = lookup("0x8007274C") else {
        panic!("decoded")
    };
    assert!(p.failure);
    assert_eq!(
        (p.facility, p.facility_name, p.code),
        (7, Some("WIN32"), 10060)
    );
    assert_eq!(p.win32_inner.map(|e| e.name.as_str()), Some("WSAETIMEDOUT"));
    // An unknown WBEM code: facility ITF, no inner entry.
    let Ok(Explanation::Decoded(p)) = lookup("0x80041099") else {
        panic!("decoded")
    };
    assert_eq!(
        (p.facility, p.facility_name, p.win32_inner),
        (4, Some("ITF"), None)
    );
    // An NTSTATUS-looking value.
    let Ok(Explanation::Decoded(p)) = lookup("0xC0000001") else {
        panic!("decoded")
    };
    assert!(p.note.contains("NTSTATUS"));
    // A small unknown number: probably Win32.
    let Ok(Explanation::Decoded(p)) = lookup("1234") else {
        panic!("decoded")
    };
    assert!(!p.failure && p.note.contains("0x800704D2"), "{}", p.note);
    // RPC facility.
    assert_eq!(decode(0x8001_0999).facility_name, Some("RPC"));
}

#[test]
fn unparseable_input_is_an_error() {
    assert_eq!(lookup("  "), Err(KbError::Empty));
    for q in [
        "0x",
        "0x123456789",
        "0xZZ",
        "-",
        "-12x",
        "4294967296",
        "-2147483649",
    ] {
        assert!(matches!(lookup(q), Err(KbError::BadNumber(_))), "{q}");
    }
    assert!(matches!(lookup("NOT_A_CODE"), Err(KbError::UnknownName(_))));
    assert!(matches!(
        lookup("HRESULT_FROM_WIN32(NOPE)"),
        Err(KbError::UnknownName(_))
    ));
    assert_eq!(
        KbError::UnknownName("x".into()).to_string(),
        "unknown code name: x"
    );
}

proptest::proptest! {
    #[test]
    fn lookup_never_panics(s in "\\PC{0,40}") {
        let _ = lookup(&s);
    }

    #[test]
    fn every_u32_resolves_by_hex_and_signed_decimal(v in proptest::num::u32::ANY) {
        let a = lookup(&format!("{v:#x}"));
        proptest::prop_assert!(a.is_ok());
        // An 8-digit string reads as hex (how Windows prints HRESULTs); other
        // decimal renderings read as decimal.
        let dec = format!("{v}");
        if dec.len() != 8 {
            proptest::prop_assert_eq!(&a, &lookup(&dec));
        }
        let signed = format!("{}", v as i32);
        if signed.len() != 8 {
            proptest::prop_assert_eq!(&a, &lookup(&signed));
        }
    }
}

#[test]
fn kerberos_names_agree_with_winv_auth() {
    // One owner for each code's name: every Kerberos entry of the knowledge
    // base names its code as winv_auth::kerberos::codes does.
    let mut n = 0;
    for e in entries().iter().filter(|e| e.kind == Kind::Kerberos) {
        for v in &e.values {
            let code = i32::try_from(*v).expect("kerberos codes are small");
            assert_eq!(
                winv_auth::kerberos::codes::name(code),
                Some(e.name.as_str()),
                "kb entry {} (code {code})",
                e.name
            );
            n += 1;
        }
    }
    assert!(n >= 12, "only {n} kerberos entries");
}

#[test]
fn limit_exceeded_is_ours_and_explained() {
    let e = by_name("WINV_E_LIMIT_EXCEEDED").expect("entry");
    assert_eq!(e.values.first(), Some(&crate::WINV_E_LIMIT_EXCEEDED));
    assert_eq!(
        name(crate::WINV_E_LIMIT_EXCEEDED),
        Some("WINV_E_LIMIT_EXCEEDED")
    );
    assert!(e.summary.contains("kept sending data past the limit"));
    // The customer bit: no Microsoft code can collide with it.
    assert_ne!(crate::WINV_E_LIMIT_EXCEEDED & 0x2000_0000, 0);
    assert_eq!(by_value(crate::WINV_E_LIMIT_EXCEEDED).len(), 1);
}

#[test]
fn attempt_budget_is_ours_and_explained() {
    let e = by_name("WINV_E_ATTEMPT_BUDGET").expect("entry");
    assert_eq!(e.values.first(), Some(&crate::WINV_E_ATTEMPT_BUDGET));
    assert_eq!(
        name(crate::WINV_E_ATTEMPT_BUDGET),
        Some("WINV_E_ATTEMPT_BUDGET")
    );
    assert!(e
        .summary
        .contains("kept the scan busy past its time budget"));
    assert_ne!(crate::WINV_E_ATTEMPT_BUDGET & 0x2000_0000, 0);
    assert_eq!(by_value(crate::WINV_E_ATTEMPT_BUDGET).len(), 1);
    assert_ne!(crate::WINV_E_ATTEMPT_BUDGET, crate::WINV_E_LIMIT_EXCEEDED);
}
