#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    winv_auth::kerberos::fuzz_messages(data);
});
