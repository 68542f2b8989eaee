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
