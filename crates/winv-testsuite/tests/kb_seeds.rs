//! Every code the four seeds name has a knowledge-base entry.
//!
//! Reads `../shared/seeds/*.txt` in place (skip with a message when absent,
//! fail under `CI=true`), extracts the codes they name, prints the list for a
//! reviewer and asserts each resolves in `winv_kb`. Extraction rules:
//! - `0x` followed by exactly 8 hex digits (HRESULT form); shorter hex numbers
//!   in the seeds are packet-trace fields (`Call=0x5`, `Xmit=0x16D0`) and are
//!   listed as skipped;
//! - symbolic names with a known error prefix (`E_`, `RPC_S_`, `RPC_E_`,
//!   `WBEM_E_`, `WSA`, `SEC_E_`, ...), after undoing markdown `\_` escapes;
//! - decimal numbers written as an error ("error 1722", "code 5");
//! - seed 000's statuses ("Failed – Machine not found"), mapped to winventory's
//!   status identifiers; a status the table cannot map fails the test.

use std::collections::BTreeSet;
use std::path::PathBuf;

use winv_testsuite::fixtures::{repo_root, skip_or_fail};

const PREFIXES: [&str; 17] = [
    "E_", "S_", "RPC_S_", "RPC_E_", "RPC_X_", "EPT_S_", "CO_E_", "REGDB_E_", "WBEM_E_", "WBEM_S_",
    "WSA", "SEC_E_", "ERROR_", "STATUS_", "KRB_", "KDC_ERR_", "NCA_S_",
];

/// Seed 000's status phrases and winventory's identifiers.
const STATUS_PHRASES: [(&str, &str); 19] = [
    ("machine not found", "machine-not-found"),
    ("connection timeout", "connection-timeout"),
    ("connection refused", "connection-refused"),
    ("host unreachable", "host-unreachable"),
    ("access denied", "access-denied"),
    ("rpc server unavailable", "rpc-server-unavailable"),
    ("rpc call failed", "rpc-call-failed"),
    ("rpc call cancelled", "rpc-call-cancelled"),
    ("invalid cimv2 wmi namespace", "cimv2-namespace-invalid"),
    ("cimv2 wmi namespace not found", "cimv2-namespace-not-found"),
    (
        "cimv2 wmi namespace invalid parameter",
        "cimv2-namespace-invalid-parameter",
    ),
    (
        "invalid stdregprov wmi namespace",
        "stdregprov-namespace-invalid",
    ),
    (
        "stdregprov wmi namespace not found",
        "stdregprov-namespace-not-found",
    ),
    (
        "stdregprov wmi namespace invalid parameter",
        "stdregprov-namespace-invalid-parameter",
    ),
    ("computer shutting down", "computer-shutting-down"),
    ("wmi query time out", "wmi-query-timeout"),
    ("no credentials provided", "no-credentials"),
    ("inventory not completed", "inventory-not-completed"),
    ("other reasons", "other-reasons"),
];

fn seeds_dir() -> PathBuf {
    repo_root().join("../shared/seeds")
}

#[derive(Default)]
struct Extracted {
    hex: BTreeSet<String>,
    skipped_hex: BTreeSet<String>,
    names: BTreeSet<String>,
    decimals: BTreeSet<String>,
    statuses: BTreeSet<String>,
    unmapped_statuses: BTreeSet<String>,
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn extract(text: &str, out: &mut Extracted) {
    let text = text.replace("\\_", "_");
    // Tokens of word characters.
    let tokens: Vec<&str> = text
        .split(|c: char| !is_word(c))
        .filter(|t| !t.is_empty())
        .collect();
    for t in &tokens {
        if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            if h.bytes().all(|b| b.is_ascii_hexdigit()) {
                if h.len() == 8 {
                    out.hex.insert(format!("0x{}", h.to_ascii_uppercase()));
                } else {
                    out.skipped_hex.insert((*t).to_string());
                }
            }
            continue;
        }
        // Winsock names carry no underscore after the prefix (WSAENETUNREACH).
        let upper_ident = (t.contains('_') || (t.starts_with("WSA") && t.len() > 5))
            && t.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            || t.starts_with("nca_s_");
        let upper = t.to_ascii_uppercase();
        if upper_ident && PREFIXES.iter().any(|p| upper.starts_with(p)) && !t.ends_with('_') {
            out.names.insert((*t).to_string());
        }
    }
    // Decimal numbers written as an error.
    for w in tokens.windows(2) {
        if ["error", "code"].contains(&w[0].to_ascii_lowercase().as_str())
            && w[1].bytes().all(|b| b.is_ascii_digit())
        {
            out.decimals.insert(w[1].to_string());
        }
    }
    // Seed 000 statuses: "Failed – Phrase:" / "Failed - Phrase".
    for line in text.lines() {
        let Some(i) = line.find("Failed") else {
            continue;
        };
        let rest = line[i + "Failed".len()..].trim_start();
        let Some(rest) = rest.strip_prefix('–').or_else(|| rest.strip_prefix('-')) else {
            continue;
        };
        let phrase: String = rest
            .chars()
            .take_while(|&c| c != ':' && c != '”' && c != '"')
            .collect::<String>()
            .trim()
            .to_ascii_lowercase();
        if phrase.is_empty() {
            continue;
        }
        match STATUS_PHRASES.iter().find(|(p, _)| *p == phrase) {
            Some((_, id)) => {
                out.statuses.insert((*id).to_string());
            }
            None => {
                out.unmapped_statuses.insert(phrase);
            }
        }
    }
}

#[test]
fn every_code_named_in_the_seeds_has_an_entry() {
    let dir = seeds_dir();
    let Ok(rd) = std::fs::read_dir(&dir) else {
        skip_or_fail(&format!(
            "{} not found beside the repository",
            dir.display()
        ));
        return;
    };
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 4, "expected the four seeds, found {files:?}");

    let mut ex = Extracted::default();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read seed");
        extract(&text, &mut ex);
    }

    println!("seed codes: hex ({}): {:?}", ex.hex.len(), ex.hex);
    println!("seed codes: names ({}): {:?}", ex.names.len(), ex.names);
    println!(
        "seed codes: decimal ({}): {:?}",
        ex.decimals.len(),
        ex.decimals
    );
    println!(
        "seed codes: statuses ({}): {:?}",
        ex.statuses.len(),
        ex.statuses
    );
    println!(
        "skipped (packet-trace fields, not codes): {:?}",
        ex.skipped_hex
    );

    assert!(
        ex.unmapped_statuses.is_empty(),
        "seed statuses with no identifier: {:?}",
        ex.unmapped_statuses
    );
    // The extraction must find what we know is there, so a broken extractor cannot pass vacuously.
    for must in [
        "0x800706BA",
        "0x80070005",
        "0x80041003",
        "0x8004100E",
        "0x80041013",
    ] {
        assert!(ex.hex.contains(must), "extractor missed {must}");
    }
    for must in [
        "RPC_S_SERVER_UNAVAILABLE",
        "E_ACCESS_DENIED",
        "WBEM_E_PRIVILEGE_NOT_HELD",
        "WSAHOST_NOT_FOUND",
        "WSATRY_AGAIN",
        "WSAENETUNREACH",
    ] {
        assert!(ex.names.contains(must), "extractor missed {must}");
    }
    assert_eq!(ex.statuses.len(), 19, "{:?}", ex.statuses);

    let mut missing = Vec::new();
    for q in ex.hex.iter().chain(&ex.names).chain(&ex.decimals) {
        match winv_kb::lookup(q) {
            Ok(winv_kb::Explanation::Known(_)) | Ok(winv_kb::Explanation::Several(_)) => {}
            other => missing.push(format!("{q}: {other:?}")),
        }
    }
    for s in &ex.statuses {
        if winv_kb::by_status(s).is_none() {
            missing.push(format!("status {s}"));
        }
    }
    assert!(
        missing.is_empty(),
        "seed codes without an entry: {missing:#?}"
    );

    println!("knowledge base: {} entries", winv_kb::entries().len());
    let cited = winv_kb::entries()
        .iter()
        .filter(|e| !e.seeds.is_empty())
        .count();
    println!("entries citing a seed: {cited}");
}
