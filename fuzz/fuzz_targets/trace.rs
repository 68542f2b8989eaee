#![no_main]
use libfuzzer_sys::fuzz_target;

// A whole capture through TCP reassembly and the DCE/RPC conversation analysis.
fuzz_target!(|data: &[u8]| {
    winv_trace::conversation::fuzz_analyze(data);
});
