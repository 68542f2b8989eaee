//! Every checked-in fuzz input (`fuzz/seeds/<target>/`, the minimised corpus of each
//! `cargo fuzz` target and the regression inputs of its findings) through the same `fuzz_*`
//! entry point the target calls, on every test run: a decoder that panics, or takes
//! unbounded time, on an input the fuzzer once found fails here without libFuzzer.
//!
//! The targets and their entry points must stay in step with `fuzz/fuzz_targets/*.rs`;
//! `every_fuzz_target_has_a_replay` checks that none is missing.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use winv_testsuite::fixtures::repo_root;

/// A fuzz target's entry point.
type Entry = fn(&[u8]);

/// Each target's entry point, as its `fuzz/fuzz_targets/<name>.rs` calls it.
const TARGETS: [(&str, Entry); 10] = [
    ("capture", winv_trace::capture::fuzz_capture),
    ("dcerpc_pdu", winv_dcerpc::fuzz_decode),
    ("dcom", winv_dcom::fuzz_decode),
    ("epm", winv_rpc::epm::wire::fuzz_decode),
    ("kerberos", winv_auth::kerberos::fuzz_messages),
    ("ndr", |d| {
        let _ = winv_ndr::fuzz_decode_all(d);
    }),
    ("ntlm", winv_auth::ntlm::fuzz_messages),
    ("trace", winv_trace::conversation::fuzz_analyze),
    ("wmi", winv_wmi::fuzz_decode),
    ("wmio", winv_wmio::fuzz_decode),
];

/// A debug build runs one input in well under this; an input past it is a finding (the
/// fuzzer's own timeout is about as long).
const PER_INPUT: Duration = Duration::from_secs(10);

fn seeds(target: &str) -> Vec<PathBuf> {
    let dir = repo_root().join("fuzz/seeds").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(target: &str) {
    let entry = TARGETS.iter().find(|(n, _)| *n == target).unwrap().1;
    let files = seeds(target);
    assert!(!files.is_empty(), "fuzz/seeds/{target} is empty");
    let mut failures = Vec::new();
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let start = Instant::now();
        if catch_unwind(AssertUnwindSafe(|| entry(&data))).is_err() {
            failures.push(format!("{}: panicked", f.display()));
        }
        let took = start.elapsed();
        if took > PER_INPUT {
            failures.push(format!("{}: took {took:?}", f.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{target}: {} of {} inputs failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn every_fuzz_target_has_a_replay() {
    let dir = repo_root().join("fuzz/fuzz_targets");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    let ours: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ours, "fuzz/fuzz_targets and TARGETS differ");
    // Every target's file calls the entry point replayed here.
    for (name, _) in TARGETS {
        let src = std::fs::read_to_string(dir.join(format!("{name}.rs"))).unwrap();
        assert!(
            src.contains("fuzz_"),
            "{name}.rs calls no fuzz_ entry point"
        );
    }
}

#[test]
fn replay_capture() {
    replay("capture");
}
#[test]
fn replay_dcerpc_pdu() {
    replay("dcerpc_pdu");
}
#[test]
fn replay_dcom() {
    replay("dcom");
}
#[test]
fn replay_epm() {
    replay("epm");
}
#[test]
fn replay_kerberos() {
    replay("kerberos");
}
#[test]
fn replay_ndr() {
    replay("ndr");
}
#[test]
fn replay_ntlm() {
    replay("ntlm");
}
#[test]
fn replay_trace() {
    replay("trace");
}
#[test]
fn replay_wmi() {
    replay("wmi");
}
#[test]
fn replay_wmio() {
    replay("wmio");
}
