//! The conversation analysis never panics on arbitrary or mutated captures.

use proptest::prelude::*;
use winv_trace::conversation::fuzz_analyze;

fn fixture(rel: &str) -> Option<Vec<u8>> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures")
        .join(rel);
    match std::fs::read(&p) {
        Ok(b) => Some(b),
        Err(_) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("fixture {rel} missing under CI")
        }
        Err(_) => {
            eprintln!("SKIPPED: {} not found", p.display());
            None
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        fuzz_analyze(&data);
    }

    #[test]
    fn mutated_real_capture_never_panics(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16)) {
        let Some(mut bytes) = fixture("pcap/scapy-dcerpc-privacy-ntlm.pcapng") else { return Ok(()) };
        for (i, v) in flips {
            let at = i.index(bytes.len());
            bytes[at] ^= v | 1;
        }
        fuzz_analyze(&bytes);
    }
}

/// Found by the `trace` fuzz target: a pcapng block whose total length is
/// below 12 made pcap-parser 0.17 subtract past zero (a panic in debug builds).
#[test]
fn short_pcapng_block_length_is_an_error_not_a_panic() {
    let crash = hex_bytes(
        "0a0d0d0a0000001e1a2b3c4d010000000000000 41e1e1e00007beaa28660800000010000000a0d0a250a",
    );
    fuzz_analyze(&crash);
    let err = winv_trace::capture::read_capture(&crash).expect_err("corrupt");
    assert!(
        err.to_string().starts_with("corrupt capture record"),
        "{err}"
    );
}

fn hex_bytes(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}
