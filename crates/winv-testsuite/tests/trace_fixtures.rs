//! `winv-trace` on real Windows captures: the facts of `../shared/fixtures/README.md`.

use sha2::{Digest, Sha256};
use winv_auth::ntlm::NtlmSecret;
use winv_testsuite::fixtures::require_fixture;
use winv_trace::capture::{read_capture, Direction};
use winv_trace::conversation::{analyze, Options, Trace};

const SCAPY: &str = "pcap/scapy-dcerpc-privacy-ntlm.pcapng";
const PASSWORD: &str = "Password123!";

fn trace(bytes: &[u8], password: Option<&str>) -> Trace {
    let capture = read_capture(bytes).expect("capture reads");
    let secret = password.map(NtlmSecret::from_password);
    analyze(
        &capture,
        &Options {
            secret,
            stub_hex: false,
            keytab: None,
        },
    )
}

#[test]
fn scapy_privacy_capture_decrypts_to_the_documented_stubs() {
    let Some(path) = require_fixture(SCAPY) else {
        return;
    };
    let bytes = std::fs::read(path).expect("read fixture");
    let t = trace(&bytes, Some(PASSWORD));

    assert_eq!(t.summary.decode_errors, 0);
    assert_eq!(t.summary.verify_failures, 0, "every signature verifies");
    // 5 requests + 7 sealed responses on the SVCCTL connection (the fault is unsigned).
    assert_eq!(t.summary.verified, 12);
    assert_eq!(t.summary.decrypted, 12);

    let svcctl = &t.connections[1];
    let open = svcctl
        .pdus
        .iter()
        .find(|p| p.frame == 17)
        .expect("frame 17");
    assert_eq!(open.opnum, Some(15), "OpenSCManagerW");
    assert_eq!(open.security, Some("decrypted"));
    let want = "000002000e000000000000000e0000003100390032002e003100360038002e0030002e0031003000300000000000000004000000";
    assert!(
        hex::encode(&open.stub).starts_with(want),
        "stub was {}",
        hex::encode(&open.stub)
    );

    let call5 = svcctl
        .calls
        .iter()
        .find(|c| c.call_id == 5)
        .expect("call 5");
    let resp = call5.response.as_ref().expect("response reassembled");
    assert_eq!(resp.len(), 33_592);
    assert_eq!(call5.response_frames, vec![25, 26, 29, 31, 33, 34]);
    assert_eq!(
        hex::encode(Sha256::digest(resp)),
        "c0b5de1c305c02041c7f05ccded701a57b9137b4ffc7a4d189cd1c51a1273321"
    );
}

#[test]
fn scapy_capture_without_password_is_not_checked_and_with_wrong_one_is_refused() {
    let Some(path) = require_fixture(SCAPY) else {
        return;
    };
    let bytes = std::fs::read(path).expect("read fixture");
    let t = trace(&bytes, None);
    assert_eq!(t.summary.pdus, 20);
    assert_eq!(t.summary.verified, 0);
    assert_eq!(t.summary.not_checked, 12);

    let t = trace(&bytes, Some("Password124!"));
    assert_eq!(t.summary.verified, 0);
    let auth3 = t.connections[1]
        .pdus
        .iter()
        .find(|p| p.ptype_name == "auth3")
        .expect("auth3");
    assert!(
        auth3
            .error
            .as_deref()
            .is_some_and(|e| e.contains("password")),
        "{auth3:?}"
    );
}

/// Flipping any single byte of a sealed PDU (header, stub, trailer or
/// signature) must make its verification fail.
#[test]
fn tampered_sealed_pdu_fails_verification() {
    let Some(path) = require_fixture(SCAPY) else {
        return;
    };
    let bytes = std::fs::read(path).expect("read fixture");
    let capture = read_capture(&bytes).expect("capture");
    let conn = &capture.connections[1];
    let chunk = conn
        .segments
        .iter()
        .find(|c| c.frame == 17 && c.direction == Direction::ClientToServer)
        .expect("frame 17 data");
    let pdu = &chunk.data;
    let at = bytes
        .windows(pdu.len())
        .position(|w| w == pdu.as_slice())
        .expect("pdu in file");
    // Offsets: a header byte (call_id), stub bytes, the sec trailer, the signature.
    let len = pdu.len();
    for off in [12, 24, 40, len - 30, len - 20, len - 9, len - 1] {
        let mut evil = bytes.clone();
        evil[at + off] ^= 0x01;
        let t = trace(&evil, Some(PASSWORD));
        let rec = t.connections[1].pdus.iter().find(|p| p.frame == 17);
        let failed = rec.is_some_and(|r| r.security == Some("failed") || r.error.is_some());
        assert!(failed, "flip at pdu offset {off} went unnoticed: {rec:?}");
        assert!(t.summary.verify_failures + t.summary.decode_errors >= 1);
    }
}

#[test]
fn windows_wmi_capture_decodes_every_pdu() {
    let Some(path) = require_fixture("pcap/windows-wmi-processcallcreate.pcapng") else {
        return;
    };
    let bytes = std::fs::read(path).expect("read fixture");
    let t = trace(&bytes, None);
    assert_eq!(t.summary.decode_errors, 0);
    assert_eq!(t.summary.pdus, 46);
    let activation = t.connections[0]
        .pdus
        .iter()
        .find(|p| p.frame == 24)
        .expect("frame 24");
    assert_eq!(activation.opnum, Some(4), "RemoteCreateInstance");
    assert_eq!(
        activation.interface.as_ref().and_then(|i| i.name),
        Some("ISystemActivator")
    );
    // The sealed IWbemServices calls are reassembled though not decrypted.
    let call7 = t.connections[1]
        .calls
        .iter()
        .find(|c| c.call_id == 7)
        .expect("call 7");
    assert_eq!(call7.response_frames.len(), 14);
}

#[test]
fn zeek_capture_finds_ntlm_inside_spnego() {
    let Some(path) = require_fixture("pcap/zeek-dce-rpc-ntlm.pcapng") else {
        return;
    };
    let bytes = std::fs::read(path).expect("read fixture");
    let t = trace(&bytes, None);
    assert_eq!(t.summary.decode_errors, 0);
    let kinds: Vec<_> = t.connections[0]
        .pdus
        .iter()
        .filter_map(|p| p.auth.as_ref().and_then(|a| a.ntlm))
        .collect();
    assert_eq!(kinds, vec!["NEGOTIATE", "CHALLENGE", "AUTHENTICATE"]);
}
