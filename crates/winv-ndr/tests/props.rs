//! Property tests: every shape round-trips (and consumes all its bytes), and decoding
//! arbitrary bytes never panics.

mod common;

use common::{decode, encode, ConfStruct, Nested, TwoStrings};
use proptest::prelude::*;
use std::fmt::Debug;
use std::sync::Arc;
use winv_ndr::*;

fn roundtrip<T: NdrEncode + NdrDecode + PartialEq + Debug>(
    v: &T,
) -> std::result::Result<(), TestCaseError> {
    let b = encode(v);
    let mut r = NdrReader::new(&b);
    let d = r
        .read::<T>()
        .map_err(|e| TestCaseError::fail(format!("decode: {e}")))?;
    prop_assert_eq!(&d, v);
    prop_assert_eq!(r.remaining(), 0, "all bytes consumed");
    // type serialization v1 round-trips the same value
    let t = encode_type1(v).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(t.len() % 8, 0);
    let (d, used) = decode_type1::<T>(&t).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&d, v);
    prop_assert_eq!(used, t.len());
    // every strict prefix fails cleanly (no panic)
    for cut in [0, b.len() / 2, b.len().saturating_sub(1)] {
        if cut < b.len() {
            let _ = decode::<T>(&b[..cut]);
        }
    }
    Ok(())
}

fn text() -> impl Strategy<Value = String> {
    // no NUL: the terminator would end a [string] early
    "[^\u{0}]{0,40}"
}

fn wstring() -> impl Strategy<Value = WString> {
    proptest::option::of(text()).prop_map(WString)
}

fn two_strings() -> impl Strategy<Value = TwoStrings> {
    (
        any::<u32>(),
        wstring(),
        proptest::option::of(text().prop_map(WcharString)),
        any::<u64>(),
    )
        .prop_map(|(a, s1, s2, h)| TwoStrings { a, s1, s2, h })
}

fn rpc_unicode() -> impl Strategy<Value = RpcUnicodeString> {
    (proptest::option::of(text()), 0u16..64).prop_map(|(value, extra)| {
        let len = value.as_deref().map_or(0, |s| s.encode_utf16().count() * 2) as u16;
        RpcUnicodeString {
            value,
            maximum_length: len + extra * 2,
        }
    })
}

proptest! {
    #[test]
    fn primitives_roundtrip(a in any::<u8>(), b in any::<i16>(), c in any::<u32>(), d in any::<i64>(),
                            e in any::<bool>(), f in any::<f64>().prop_filter("not nan", |f| !f.is_nan())) {
        roundtrip(&a)?;
        roundtrip(&b)?;
        roundtrip(&c)?;
        roundtrip(&d)?;
        roundtrip(&e)?;
        roundtrip(&f)?;
    }

    #[test]
    fn guid_and_context_handle_roundtrip(g in any::<[u8; 16]>(), attr in any::<u32>()) {
        let u = Uuid::from_bytes(g);
        roundtrip(&u)?;
        roundtrip(&ContextHandle { attributes: attr, uuid: u })?;
    }

    #[test]
    fn strings_roundtrip(s in text(), bytes in proptest::collection::vec(1u8.., 0..40), w in wstring()) {
        roundtrip(&WcharString(s))?;
        roundtrip(&CharString(bytes))?;
        roundtrip(&w)?;
    }

    #[test]
    fn rpc_unicode_string_roundtrips(s in rpc_unicode(), v in proptest::collection::vec(rpc_unicode(), 0..5)) {
        roundtrip(&s)?;
        roundtrip(&v)?;
    }

    #[test]
    fn arrays_roundtrip(v in proptest::collection::vec(any::<u64>(), 0..20),
                        ws in proptest::collection::vec(wstring(), 0..6),
                        nested in proptest::collection::vec(proptest::collection::vec(any::<u16>(), 0..5), 0..5),
                        fixed in any::<[u32; 3]>(),
                        off in 0u32..10, extra in 0u32..10,
                        va in proptest::collection::vec(any::<u16>(), 0..10)) {
        roundtrip(&v)?;
        roundtrip(&ws)?;
        roundtrip(&nested)?;
        roundtrip(&fixed)?;
        roundtrip(&VaryingArray { offset: off, items: va.clone() })?;
        let cva = ConformantVaryingArray { max_count: off + extra + va.len() as u32, offset: off, items: va };
        roundtrip(&cva)?;
        let cvs = ConformantVaryingArray::new(ws);
        roundtrip(&cvs)?;
    }

    #[test]
    fn structs_with_pointers_roundtrip(t in two_strings(), inner in proptest::option::of(two_strings()),
                                       tail in wstring(), list in proptest::collection::vec(two_strings(), 0..4)) {
        roundtrip(&t)?;
        roundtrip(&Nested { inner, tail })?;
        roundtrip(&list)?;
        roundtrip(&Some(list))?;
    }

    #[test]
    fn conformant_struct_roundtrips(tag in any::<u32>(), v in proptest::collection::vec(any::<u16>(), 0..20)) {
        roundtrip(&ConfStruct { tag, v })?;
    }

    #[test]
    fn pointers_roundtrip(x in any::<u32>(), s in text(), alias in any::<bool>()) {
        roundtrip(&Ref(x))?;
        roundtrip(&vec![Ref(WcharString(s.clone())), Ref(WcharString::default())])?;
        let shared = Arc::new(WcharString(s));
        let second = if alias { Full::from_arc(shared.clone()) } else { Full::new(WcharString::from("z")) };
        roundtrip(&vec![Full::from_arc(shared), Full::null(), second])?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = fuzz_decode_all(&data);
    }

    #[test]
    fn plausible_words_never_panic(words in proptest::collection::vec(
        prop_oneof![Just(0u32), Just(1), Just(2), Just(3), Just(8), Just(0x0002_0000),
                    Just(0x0002_0004), Just(0xffff_ffff), Just(0x0008_1001), Just(0xcccc_cccc), any::<u32>()],
        0..48)) {
        let data: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let _ = fuzz_decode_all(&data);
    }

    #[test]
    fn arbitrary_bytes_after_valid_prefix_never_panic(t in two_strings(),
                                                     noise in proptest::collection::vec(any::<u8>(), 0..64),
                                                     at in any::<prop::sample::Index>()) {
        // corrupt a valid encoding at one place
        let mut b = encode(&t);
        let i = at.index(b.len());
        b.truncate(i);
        b.extend_from_slice(&noise);
        let _ = fuzz_decode_all(&b);
        let _ = decode::<TwoStrings>(&b);
        let mut t1 = encode_type1(&t).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let j = at.index(t1.len());
        t1[j] ^= 0x5a;
        let _ = fuzz_decode_all(&t1);
        let _ = decode_type1::<TwoStrings>(&t1);
    }
}
