//! `winventory trace --json` on the fixture captures, compared field by field
//! with Wireshark's dissection (tshark as a second opinion).

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use winv_testsuite::fixtures::{require_fixture, skip_or_fail};
use winv_testsuite::tshark::{dcerpc_pdus, tshark_available, TsharkPdu};

const CAPTURES: [(&str, Option<&str>); 3] = [
    (
        "pcap/scapy-dcerpc-privacy-ntlm.pcapng",
        Some("Password123!"),
    ),
    ("pcap/windows-wmi-processcallcreate.pcapng", None),
    ("pcap/zeek-dce-rpc-ntlm.pcapng", None),
];

fn run_trace(path: &Path, password: Option<&str>, json: bool) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_winventory"));
    cmd.arg("trace").arg(path);
    if json {
        cmd.arg("--json");
    }
    if let Some(pw) = password {
        cmd.arg("--nt-password-env")
            .arg("WINV_TEST_TRACE_PW")
            .env("WINV_TEST_TRACE_PW", pw);
    }
    let out = cmd.output().expect("run winventory");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Our PDUs in capture order, flattened with their stream index.
fn our_pdus(json: &Value) -> Vec<(u64, &Value)> {
    let mut v = Vec::new();
    for c in json["connections"].as_array().expect("connections") {
        let stream = c["stream"].as_u64().expect("stream");
        for p in c["pdus"].as_array().expect("pdus") {
            v.push((stream, p));
        }
    }
    v.sort_by_key(|(_, p)| p["frame"].as_u64());
    v
}

fn compare(ours: &[(u64, &Value)], theirs: &[TsharkPdu], name: &str) {
    assert_eq!(ours.len(), theirs.len(), "{name}: number of PDUs");
    for ((stream, p), t) in ours.iter().zip(theirs) {
        let at = format!("{name} frame {}", t.frame);
        assert_eq!(p["frame"].as_u64(), Some(u64::from(t.frame)), "{at}: frame");
        assert_eq!(
            Some(*stream),
            t.tcp_stream.map(u64::from),
            "{at}: tcp stream"
        );
        assert_eq!(
            p["ptype"].as_u64(),
            Some(u64::from(t.pkt_type)),
            "{at}: pkt type"
        );
        assert_eq!(
            p["call_id"].as_u64(),
            Some(u64::from(t.call_id)),
            "{at}: call id"
        );
        assert_eq!(
            p["frag_length"].as_u64(),
            Some(u64::from(t.frag_len)),
            "{at}: frag length"
        );
        // Context ids: of the PDU, or of the bind's context items.
        let ours_ctx: Vec<(u64, String)> = p["contexts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| {
                        let id = c["id"].as_u64().expect("id");
                        (
                            id,
                            c["interface"]["uuid"].as_str().expect("uuid").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let theirs_ctx: Vec<(u64, String)> = t
            .contexts
            .iter()
            .map(|(id, u)| (u64::from(*id), u.to_lowercase()))
            .collect();
        assert_eq!(ours_ctx, theirs_ctx, "{at}: bind context items");
        if ours_ctx.is_empty() {
            assert_eq!(
                p["context_id"].as_u64(),
                t.ctx_id.map(u64::from),
                "{at}: context id"
            );
        }
        if let Some(iface) = &t.interface {
            if ours_ctx.is_empty() {
                assert_eq!(
                    p["interface"]["uuid"].as_str(),
                    Some(iface.to_lowercase().as_str()),
                    "{at}: interface"
                );
            }
        }
        if t.pkt_type == 0 {
            assert_eq!(p["opnum"].as_u64(), t.opnum.map(u64::from), "{at}: opnum");
        }
        assert_eq!(
            p["auth"]["auth_level"].as_u64(),
            t.auth_level.map(u64::from),
            "{at}: auth level"
        );
        assert_eq!(
            p["auth"]["auth_type"].as_u64(),
            t.auth_type.map(u64::from),
            "{at}: auth type"
        );
        let status = if t.pkt_type == 3 {
            p["status"]["code"].as_u64()
        } else {
            None
        };
        assert_eq!(status, t.status.map(u64::from), "{at}: fault status");
    }
}

#[test]
fn trace_json_agrees_with_tshark_on_every_pdu() {
    if !tshark_available() {
        skip_or_fail("tshark is not installed (scripts/test.sh installs it)");
        return;
    }
    for (rel, pw) in CAPTURES {
        let Some(path) = require_fixture(rel) else {
            return;
        };
        let (code, out) = run_trace(&path, pw, true);
        assert_eq!(
            code, 0,
            "{rel}: trace reports decode or verification errors"
        );
        let json: Value = serde_json::from_str(&out).expect("valid json");
        assert_eq!(json["summary"]["decode_errors"], 0, "{rel}");
        let theirs = dcerpc_pdus(&path, pw).expect("tshark runs");
        compare(&our_pdus(&json), &theirs, rel);
    }
}

#[test]
fn trace_text_lists_every_pdu_and_the_summary() {
    let Some(path) = require_fixture(CAPTURES[0].0) else {
        return;
    };
    let (code, out) = run_trace(&path, CAPTURES[0].1, false);
    assert_eq!(code, 0);
    let pdu_lines = out
        .lines()
        .filter(|l| l.trim_start().starts_with('#'))
        .count();
    assert_eq!(pdu_lines, 20, "{out}");
    assert!(
        out.contains("status 0x1c010002 nca_s_op_rng_error"),
        "{out}"
    );
    assert!(
        out.contains("20 pdus, 0 decode errors, 12 verified, 12 decrypted, 0 failed verification"),
        "{out}"
    );
}

#[test]
fn trace_with_a_missing_password_variable_fails_cleanly() {
    let Some(path) = require_fixture(CAPTURES[0].0) else {
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_winventory"))
        .args(["trace", "--nt-password-env", "WINV_TEST_SURELY_UNSET"])
        .arg(&path)
        .env_remove("WINV_TEST_SURELY_UNSET")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("WINV_TEST_SURELY_UNSET is not set"), "{err}");
}

#[test]
fn trace_of_garbage_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("winv-trace-garbage-{}", std::process::id()));
    std::fs::write(&dir, b"this is not a capture").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_winventory"))
        .arg("trace")
        .arg(&dir)
        .output()
        .expect("run");
    let _ = std::fs::remove_file(&dir);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a pcap or pcapng file"), "{err}");
}
