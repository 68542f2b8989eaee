//! Hand-checked byte vectors for each NDR shape (C706 chapter 14, [MS-RPCE] 2.2.5 and 2.2.6).
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use common::{decode, encode, ConfStruct, Nested, TwoStrings};
use std::sync::Arc;
use std::time::{Duration, Instant};
use winv_ndr::*;

const G: &str = "00112233-4455-6677-8899-aabbccddeeff";
const G_BYTES: [u8; 16] = [
    0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
];

fn guid() -> Uuid {
    Uuid::parse_str(G).expect("guid")
}

#[test]
fn primitives_are_aligned_with_zero_padding() {
    let mut w = NdrWriter::new();
    w.u8(1);
    w.u16(2);
    w.u8(3);
    w.u32(4);
    w.u64(5);
    w.i16(-1);
    w.f32(1.0);
    let b = w.into_bytes();
    let expect = [
        1, 0, 2, 0, // u8, pad, u16
        3, 0, 0, 0, // u8, pad to 4
        4, 0, 0, 0, // u32
        0, 0, 0, 0, // pad to 8
        5, 0, 0, 0, 0, 0, 0, 0, // u64
        0xff, 0xff, 0, 0, // i16, pad to 4
        0x00, 0x00, 0x80, 0x3f, // f32 1.0
    ];
    assert_eq!(b, expect);
    let mut r = NdrReader::new(&b);
    assert_eq!(r.u8().unwrap(), 1);
    assert_eq!(r.u16().unwrap(), 2);
    assert_eq!(r.u8().unwrap(), 3);
    assert_eq!(r.u32().unwrap(), 4);
    assert_eq!(r.u64().unwrap(), 5);
    assert_eq!(r.i16().unwrap(), -1);
    assert_eq!(r.f32().unwrap(), 1.0);
    r.finish().unwrap();
}

#[test]
fn padding_bytes_are_accepted_whatever_their_value() {
    let b = [7u8, 0xaa, 0xbb, 0xcc, 9, 0, 0, 0];
    let mut r = NdrReader::new(&b);
    assert_eq!(r.u8().unwrap(), 7);
    assert_eq!(r.u32().unwrap(), 9);
    r.finish().unwrap();
}

#[test]
fn guid_uses_little_endian_fields() {
    let b = encode(&guid());
    assert_eq!(b, G_BYTES);
    assert_eq!(decode::<Uuid>(&b).unwrap(), guid());
}

#[test]
fn context_handle_is_20_bytes() {
    let h = ContextHandle {
        attributes: 0x01020304,
        uuid: guid(),
    };
    let b = encode(&h);
    let mut expect = vec![4, 3, 2, 1];
    expect.extend_from_slice(&G_BYTES);
    assert_eq!(b, expect);
    assert_eq!(decode::<ContextHandle>(&b).unwrap(), h);
    assert!(ContextHandle::default().is_null());
    assert!(!h.is_null());
}

#[test]
fn conformant_array_has_max_count_then_elements() {
    let b = encode(&vec![1u16, 2, 3]);
    assert_eq!(b, [3, 0, 0, 0, 1, 0, 2, 0, 3, 0]);
    assert_eq!(decode::<Vec<u16>>(&b).unwrap(), vec![1, 2, 3]);
}

#[test]
fn fixed_array_has_elements_only() {
    let b = encode(&[1u16, 2]);
    assert_eq!(b, [1, 0, 2, 0]);
    assert_eq!(decode::<[u16; 2]>(&b).unwrap(), [1, 2]);
}

#[test]
fn varying_array_has_offset_and_actual_count() {
    let v = VaryingArray {
        offset: 1,
        items: vec![7u8],
    };
    let b = encode(&v);
    assert_eq!(b, [1, 0, 0, 0, 1, 0, 0, 0, 7]);
    assert_eq!(decode::<VaryingArray<u8>>(&b).unwrap(), v);
}

#[test]
fn conformant_varying_array_layout_and_bounds() {
    let v = ConformantVaryingArray {
        max_count: 5,
        offset: 0,
        items: vec![1u16, 2],
    };
    let b = encode(&v);
    assert_eq!(b, [5, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0, 2, 0]);
    assert_eq!(decode::<ConformantVaryingArray<u16>>(&b).unwrap(), v);

    // offset 2 + actual 2 > max 3
    let bad = [3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 2, 0];
    assert_eq!(
        decode::<ConformantVaryingArray<u16>>(&bad),
        Err(NdrError::BadBounds {
            offset: 2,
            actual_count: 2,
            max_count: 3
        })
    );
    // offset + actual overflows u32
    let bad = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0];
    assert!(matches!(
        decode::<ConformantVaryingArray<u16>>(&bad),
        Err(NdrError::BadBounds { .. })
    ));
    // encoding refuses inconsistent bounds
    let mut w = NdrWriter::new();
    let over = ConformantVaryingArray {
        max_count: 1,
        offset: 0,
        items: vec![1u8, 2],
    };
    assert!(matches!(w.write(&over), Err(NdrError::TooLarge(_))));
}

#[test]
fn wide_string_counts_the_terminator() {
    let b = encode(&WcharString::from("ab"));
    assert_eq!(
        b,
        [3, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, b'a', 0, b'b', 0, 0, 0]
    );
    assert_eq!(decode::<WcharString>(&b).unwrap().0, "ab");
}

#[test]
fn wide_string_errors() {
    // actual_count 2, last unit not NUL
    let b = [2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, b'a', 0, b'b', 0];
    assert_eq!(
        decode::<WcharString>(&b),
        Err(NdrError::BadString("missing terminator"))
    );
    // actual_count 0
    let b = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        decode::<WcharString>(&b),
        Err(NdrError::BadString("missing terminator"))
    );
    // lone surrogate
    let b = [2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0x00, 0xd8, 0, 0];
    assert_eq!(
        decode::<WcharString>(&b),
        Err(NdrError::BadString("invalid utf-16"))
    );
}

#[test]
fn char_string_counts_the_terminator() {
    let b = encode(&CharString(b"hi".to_vec()));
    assert_eq!(b, [3, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, b'h', b'i', 0]);
    assert_eq!(decode::<CharString>(&b).unwrap().0, b"hi");
    let unterminated = [2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, b'h', b'i'];
    assert!(matches!(
        decode::<CharString>(&unterminated),
        Err(NdrError::BadString(_))
    ));
}

#[test]
fn top_level_unique_pointer_referent_follows_immediately() {
    let b = encode(&WString::from("a"));
    assert_eq!(
        b,
        [0, 0, 2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, b'a', 0, 0, 0]
    );
    assert_eq!(decode::<WString>(&b).unwrap(), WString::from("a"));
    assert_eq!(encode(&WString::null()), [0, 0, 0, 0]);
    assert_eq!(decode::<WString>(&[0, 0, 0, 0]).unwrap(), WString::null());
}

#[test]
fn struct_with_two_embedded_string_pointers_defers_referents_in_order() {
    let v = TwoStrings {
        a: 1,
        s1: WString::from("ab"),
        s2: Some(WcharString::from("c")),
        h: 0x1122334455667788,
    };
    let b = encode(&v);
    let expect: Vec<u8> = [
        &[1, 0, 0, 0][..],                                 // a
        &[0x00, 0x00, 0x02, 0x00],                         // s1 referent id 0x00020000
        &[0x04, 0x00, 0x02, 0x00],                         // s2 referent id 0x00020004
        &[0, 0, 0, 0],                                     // pad to 8 for h
        &[0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11], // h
        &[3, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0],             // s1: max 3, offset 0, actual 3
        &[b'a', 0, b'b', 0, 0, 0],                         // "ab\0"
        &[0, 0],                                           // pad to 4
        &[2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0],             // s2: max 2, offset 0, actual 2
        &[b'c', 0, 0, 0],                                  // "c\0"
    ]
    .concat();
    assert_eq!(b, expect);
    assert_eq!(decode::<TwoStrings>(&b).unwrap(), v);

    // a null first pointer: id 0, the second gets the first referent id
    let v2 = TwoStrings {
        a: 1,
        s1: WString::null(),
        s2: Some(WcharString::from("c")),
        h: 0,
    };
    let b2 = encode(&v2);
    assert_eq!(&b2[4..12], &[0, 0, 0, 0, 0, 0, 2, 0]);
    assert_eq!(b2.len(), 24 + 16);
    assert_eq!(decode::<TwoStrings>(&b2).unwrap(), v2);
}

#[test]
fn nested_pointer_referents_are_depth_first() {
    let v = Nested {
        inner: Some(TwoStrings {
            a: 9,
            s1: WString::from("x"),
            s2: None,
            h: 0,
        }),
        tail: WString::from("y"),
    };
    let b = encode(&v);
    let expect: Vec<u8> = [
        &[0x00, 0x00, 0x02, 0x00][..], // inner id
        &[0x04, 0x00, 0x02, 0x00],     // tail id
        // inner referent: TwoStrings flat
        &[9, 0, 0, 0],             // a
        &[0x08, 0x00, 0x02, 0x00], // s1 id (allocated when the inner flat part is written)
        &[0, 0, 0, 0],             // s2 null
        &[0, 0, 0, 0],             // pad to 8
        &[0; 8],                   // h
        // inner's deferred: s1
        &[2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, b'x', 0, 0, 0],
        // then tail
        &[2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, b'y', 0, 0, 0],
    ]
    .concat();
    assert_eq!(b, expect);
    assert_eq!(decode::<Nested>(&b).unwrap(), v);
}

#[test]
fn conformant_structure_hoists_max_count() {
    let v = ConfStruct {
        tag: 0xaabbccdd,
        v: vec![5, 6],
    };
    let b = encode(&v);
    assert_eq!(b, [2, 0, 0, 0, 0xdd, 0xcc, 0xbb, 0xaa, 5, 0, 6, 0]);
    assert_eq!(decode::<ConfStruct>(&b).unwrap(), v);
}

#[test]
fn embedded_ref_pointers_have_referent_ids() {
    let v = vec![Ref(1u32), Ref(2u32)];
    let b = encode(&v);
    assert_eq!(
        b,
        [2, 0, 0, 0, 0, 0, 2, 0, 4, 0, 2, 0, 1, 0, 0, 0, 2, 0, 0, 0]
    );
    assert_eq!(decode::<Vec<Ref<u32>>>(&b).unwrap(), v);
    // a null embedded ref pointer is invalid
    let bad = [1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0];
    assert_eq!(
        decode::<Vec<Ref<u32>>>(&bad),
        Err(NdrError::InvalidPointer {
            referent_id: 0,
            at: 4
        })
    );
}

#[test]
fn full_pointers_alias_the_same_referent() {
    let shared = Arc::new(42u32);
    let v = vec![
        Full::from_arc(shared.clone()),
        Full::from_arc(shared),
        Full::null(),
        Full::new(7u32),
    ];
    let b = encode(&v);
    assert_eq!(
        b,
        [
            4, 0, 0, 0, // max_count
            0, 0, 2, 0, // first pointer
            0, 0, 2, 0, // same referent, same id
            0, 0, 0, 0, // null
            4, 0, 2, 0, // another referent
            42, 0, 0, 0, // shared referent, sent once
            7, 0, 0, 0,
        ]
    );
    let d = decode::<Vec<Full<u32>>>(&b).unwrap();
    assert_eq!(d, v);
    let (a, b2) = (d[0].value.as_ref().unwrap(), d[1].value.as_ref().unwrap());
    assert!(
        Arc::ptr_eq(a, b2),
        "aliased full pointers decode to one Arc"
    );
}

#[test]
fn rpc_unicode_string_has_no_terminator() {
    let s = RpcUnicodeString::new("ab").unwrap();
    let b = encode(&s);
    assert_eq!(
        b,
        [
            4, 0, 4, 0, // Length, MaximumLength
            0, 0, 2, 0, // Buffer referent id
            2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, // max 2, offset 0, actual 2
            b'a', 0, b'b', 0,
        ]
    );
    assert_eq!(decode::<RpcUnicodeString>(&b).unwrap(), s);

    let roomy = RpcUnicodeString {
        maximum_length: 6,
        ..s.clone()
    };
    let b = encode(&roomy);
    assert_eq!(&b[..4], &[4, 0, 6, 0]);
    assert_eq!(&b[8..12], &[3, 0, 0, 0]);
    assert_eq!(decode::<RpcUnicodeString>(&b).unwrap(), roomy);

    assert_eq!(encode(&RpcUnicodeString::null()), [0; 8]);

    // MaximumLength is 2 units but actual_count is 3
    let bad = [
        4, 0, 4, 0, 0, 0, 2, 0, 3, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, b'a', 0, b'b', 0, b'c', 0,
    ];
    assert!(matches!(
        decode::<RpcUnicodeString>(&bad),
        Err(NdrError::BadString(_))
    ));
    // Length > MaximumLength
    let bad = [6, 0, 4, 0, 0, 0, 0, 0];
    assert!(matches!(
        decode::<RpcUnicodeString>(&bad),
        Err(NdrError::BadString(_))
    ));
    // encoding refuses MaximumLength below Length
    let mut w = NdrWriter::new();
    let short = RpcUnicodeString {
        maximum_length: 2,
        ..s
    };
    assert!(matches!(w.write(&short), Err(NdrError::TooLarge(_))));
}

#[test]
fn type_serialization_v1_headers_and_padding() {
    let b = encode_type1(&5u32).unwrap();
    assert_eq!(
        b,
        [
            0x01, 0x10, 0x08, 0x00, 0xcc, 0xcc, 0xcc, 0xcc, // common header
            0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // private header: length 8
            5, 0, 0, 0, 0, 0, 0, 0, // body padded to 8
        ]
    );
    assert_eq!(decode_type1::<u32>(&b).unwrap(), (5, 24));

    // a struct with pointers: referent ids start at 0x00020000 inside the body
    let v = TwoStrings {
        a: 1,
        s1: WString::from("ab"),
        s2: Some(WcharString::from("c")),
        h: 2,
    };
    let t = encode_type1(&v).unwrap();
    let body = encode(&v);
    assert_eq!(body.len(), 60);
    assert_eq!(&t[8..12], &64u32.to_le_bytes());
    assert_eq!(&t[16..76], &body[..]);
    assert_eq!(&t[76..], &[0, 0, 0, 0]);
    // a following serialized type is not consumed
    let mut two = t.clone();
    two.extend_from_slice(&b);
    let (d, used) = decode_type1::<TwoStrings>(&two).unwrap();
    assert_eq!((d, used), (v, t.len()));
    assert_eq!(decode_type1::<u32>(&two[used..]).unwrap().0, 5);

    // fillers and padding are ignored whatever their value
    let mut odd = b.clone();
    odd[4..8].copy_from_slice(&[1, 2, 3, 4]);
    odd[12..16].copy_from_slice(&[9, 9, 9, 9]);
    odd[20..24].copy_from_slice(&[0xee; 4]);
    assert_eq!(decode_type1::<u32>(&odd).unwrap(), (5, 24));
}

#[test]
fn type_serialization_v1_rejects_bad_headers() {
    let good = encode_type1(&5u32).unwrap();
    let mut v2 = good.clone();
    v2[0] = 2;
    assert!(matches!(
        decode_type1::<u32>(&v2),
        Err(NdrError::BadHeader(_))
    ));
    let mut be = good.clone();
    be[1] = 0x00;
    assert!(matches!(
        decode_type1::<u32>(&be),
        Err(NdrError::BadHeader(_))
    ));
    let mut hl = good.clone();
    hl[2] = 16;
    assert!(matches!(
        decode_type1::<u32>(&hl),
        Err(NdrError::BadHeader(_))
    ));
    // An unpadded object buffer length (what impacket sends, and Windows
    // accepts) is read as given: here it covers the u32 and one more byte.
    let mut odd_len = good.clone();
    odd_len[8] = 5;
    assert!(matches!(decode_type1::<u32>(&odd_len), Ok((_, 21))));
    odd_len[8] = 3;
    assert!(decode_type1::<u32>(&odd_len).is_err(), "shorter than the value");
    let mut long = good.clone();
    long[8] = 16;
    assert!(matches!(
        decode_type1::<u32>(&long),
        Err(NdrError::CountTooLarge { .. })
    ));
    // 8 or more unused bytes in the object buffer are not padding
    let mut extra = good.clone();
    extra[8] = 16;
    extra.extend_from_slice(&[0; 8]);
    assert_eq!(
        decode_type1::<u32>(&extra),
        Err(NdrError::TrailingBytes(12))
    );
    assert!(matches!(
        decode_type1::<u32>(&good[..10]),
        Err(NdrError::UnexpectedEnd { .. })
    ));
}

#[test]
fn truncated_input_reports_needed_and_offset() {
    let b = [1, 0, 0, 0, 2, 0];
    let mut r = NdrReader::new(&b);
    assert_eq!(r.u32().unwrap(), 1);
    assert_eq!(r.u32(), Err(NdrError::UnexpectedEnd { needed: 4, at: 4 }));
    assert_eq!(NdrReader::new(&[1, 2, 3]).u8().and(Ok(())), Ok(()),);
    assert_eq!(
        decode::<u32>(&[1, 0, 0, 0, 0]),
        Err(NdrError::TrailingBytes(1))
    );
}

#[test]
fn huge_counts_with_short_input_fail_fast() {
    let start = Instant::now();
    let huge = [0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4];
    assert!(matches!(
        decode::<Vec<u32>>(&huge),
        Err(NdrError::CountTooLarge {
            count: 0xffff_ffff,
            remaining: 4,
            at: 4
        })
    ));
    assert!(matches!(
        decode::<Vec<Vec<u8>>>(&huge),
        Err(NdrError::CountTooLarge { .. })
    ));
    assert!(matches!(
        decode::<Vec<WString>>(&huge),
        Err(NdrError::CountTooLarge { .. })
    ));
    let huge_str = [
        0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, b'a', 0,
    ];
    assert!(matches!(
        decode::<WcharString>(&huge_str),
        Err(NdrError::CountTooLarge { .. })
    ));
    assert!(matches!(
        decode::<CharString>(&huge_str),
        Err(NdrError::CountTooLarge { .. })
    ));
    assert!(matches!(
        decode::<ConformantVaryingArray<u64>>(&huge_str),
        Err(NdrError::CountTooLarge { .. })
    ));
    let mut t1 = TYPE1_COMMON_HEADER.to_vec();
    t1.extend_from_slice(&[0xf8, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    assert!(matches!(
        decode_type1::<u32>(&t1),
        Err(NdrError::CountTooLarge { .. })
    ));
    assert!(start.elapsed() < Duration::from_millis(500));
}

#[test]
fn error_messages_are_lowercase_without_trailing_punctuation() {
    let errs = [
        NdrError::UnexpectedEnd { needed: 4, at: 2 },
        NdrError::CountTooLarge {
            count: 9,
            remaining: 1,
            at: 0,
        },
        NdrError::BadBounds {
            offset: 1,
            actual_count: 2,
            max_count: 2,
        },
        NdrError::InvalidPointer {
            referent_id: 0,
            at: 0,
        },
        NdrError::BadString("missing terminator"),
        NdrError::TooLarge("x"),
        NdrError::InvalidValue("x"),
        NdrError::BadHeader("x"),
        NdrError::TrailingBytes(3),
    ];
    for e in errs {
        let m = e.to_string();
        assert_eq!(m, m.to_lowercase(), "{m}");
        assert!(!m.ends_with('.'), "{m}");
    }
}

#[test]
fn fuzz_entry_point_decodes_valid_inputs() {
    // every shape fails on empty input except none: nothing decodes from zero bytes
    assert_eq!(fuzz_decode_all(&[]), 0);
    // four zero bytes decode as several shapes (u32 0, null pointers, empty array, ...)
    assert!(fuzz_decode_all(&[0, 0, 0, 0]) >= 5);
}

#[test]
fn open_sc_manager_request_matches_capture() {
    // Stub of OpenSCManagerW(L"192.168.0.100", NULL, 4) from the scapy capture (see
    // shared/fixtures/README.md, frame 17): two top-level unique string pointers and a DWORD.
    let expect = "000002000e000000000000000e0000003100390032002e003100360038002e0030002e0031003000300000000000000004000000";
    let mut w = NdrWriter::new();
    w.write(&WString::from("192.168.0.100")).unwrap();
    w.write(&WString::null()).unwrap();
    w.u32(4);
    let hex: String = w.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, expect);
    let b = w.into_bytes();
    let mut r = NdrReader::new(&b);
    assert_eq!(
        r.read::<WString>().unwrap().as_deref(),
        Some("192.168.0.100")
    );
    assert_eq!(r.read::<WString>().unwrap(), WString::null());
    assert_eq!(r.u32().unwrap(), 4);
    r.finish().unwrap();
}
