//! Entry point running every decoder of this crate on arbitrary input (for the `dcom` fuzz
//! target and the "never panics" property test).

use crate::{activation, objref::ObjRef, oxid, remunknown};

/// Runs every decoder of this crate on `data`, ignoring the results. Must never panic.
pub fn fuzz_decode(data: &[u8]) {
    let _ = ObjRef::decode(data);
    let _ = activation::ActivationBlob::decode(data);
    let _ = activation::decode_remote_create_instance_request(data);
    let _ = activation::decode_remote_create_instance_response(data);
    let _ = remunknown::decode_rem_query_interface_request(data);
    let _ = remunknown::decode_rem_query_interface_response(data);
    let _ = remunknown::decode_rem_add_ref_request(data);
    let _ = remunknown::decode_rem_add_ref_response(data);
    let _ = remunknown::decode_rem_release_request(data);
    let _ = remunknown::decode_rem_release_response(data);
    let _ = remunknown::decode_rem_query_interface2_request(data);
    let _ = remunknown::decode_rem_query_interface2_response(data);
    let _ = oxid::decode_server_alive2_response(data);
    let _ = oxid::decode_complex_ping_request(data);
    let _ = oxid::decode_resolve_oxid2_response(data);
    // An OBJREF_CUSTOM around the input reaches the activation BLOB parser through the
    // OBJREF path as well.
    let mut objref = Vec::with_capacity(48 + data.len());
    objref.extend_from_slice(b"MEOW");
    objref.extend_from_slice(&4u32.to_le_bytes());
    objref.extend_from_slice(&[0u8; 40]);
    objref.extend_from_slice(data);
    if let Ok(ObjRef::Custom { object_data, .. }) = ObjRef::decode(&objref) {
        let _ = activation::ActivationBlob::decode(&object_data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn fuzz_decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            fuzz_decode(&data);
        }

        /// Corrupting valid stubs reaches the deep decoders that random bytes rarely do.
        #[test]
        fn corrupted_valid_stubs_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
            cut in any::<usize>()) {
            let req = crate::ActivationRequest::new(crate::clsid::CLSID_WBEM_LEVEL1_LOGIN,
                vec![crate::clsid::IID_IUNKNOWN]);
            let mut b = crate::encode_remote_create_instance_request(&crate::OrpcThis::default(), &req)
                .expect("encode");
            for (i, v) in flips {
                let n = b.len();
                b[i % n] ^= v;
            }
            fuzz_decode(&b);
            b.truncate(cut % (b.len() + 1));
            fuzz_decode(&b);
        }
    }
}
