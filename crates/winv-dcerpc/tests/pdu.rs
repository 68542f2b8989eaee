//! Byte-exact PDU tests (expected bytes written by hand from [C706] 12.6 and
//! [MS-RPCE] 2.2.2), proptest round trips and "never panics".

#![allow(clippy::unwrap_used)]

mod common;

use common::hex;
use proptest::prelude::*;
use uuid::Uuid;
use winv_auth::AuthType;
use winv_dcerpc::interfaces::{EPM, NDR, NDR64};
use winv_dcerpc::pdu::*;
use winv_dcerpc::{framer, Error};

#[test]
fn bind_bytes_exact() {
    let pdu = Pdu::new(
        1,
        Body::Bind(Bind {
            max_xmit_frag: 4280,
            max_recv_frag: 4280,
            assoc_group_id: 0,
            contexts: vec![ContextElement {
                context_id: 0,
                abstract_syntax: EPM,
                transfer_syntaxes: vec![NDR],
            }],
        }),
    );
    let expected = hex("05000b03 10000000 4800 0000 01000000
         b810 b810 00000000
         01 00 0000
         0000 01 00
         0883afe1 1f5d c911 91a4 08002b14a0fa 0300 0000
         045d888a eb1c c911 9fe8 08002b104860 0200 0000");
    assert_eq!(pdu.encode().unwrap(), expected);
    assert_eq!(Pdu::decode(&expected).unwrap(), pdu);
}

#[test]
fn bind_ack_with_secondary_address_bytes_exact() {
    let pdu = Pdu::new(
        1,
        Body::BindAck(BindAck {
            max_xmit_frag: 4280,
            max_recv_frag: 4280,
            assoc_group_id: 0x1234_5678,
            sec_addr: b"135\0".to_vec(),
            results: vec![ContextResult {
                result: result::ACCEPTANCE,
                reason: 0,
                transfer_syntax: NDR,
            }],
        }),
    );
    // 16 header + 8 + 2 length + 4 "135\0" = 30, padded to 32, then the result list.
    let expected = hex("05000c03 10000000 3c00 0000 01000000
         b810 b810 78563412
         0400 31333500 0000
         01 00 0000
         0000 0000 045d888aeb1cc9119fe808002b104860 02000000");
    assert_eq!(pdu.encode().unwrap(), expected);
    let back = Pdu::decode(&expected).unwrap();
    assert_eq!(back, pdu);
    let Body::BindAck(ack) = back.body else {
        panic!("not a bind_ack")
    };
    assert_eq!(ack.secondary_address(), Some("135"));
}

#[test]
fn request_with_object_uuid_bytes_exact() {
    let object = Uuid::parse_str("01234567-89ab-cdef-0123-456789abcdef").unwrap();
    let pdu = Pdu::new(
        2,
        Body::Request(Request {
            alloc_hint: 4,
            context_id: 0,
            opnum: 3,
            object: Some(object),
            stub: vec![0xde, 0xad, 0xbe, 0xef],
        }),
    );
    let expected = hex("05000083 10000000 2c00 0000 02000000
         04000000 0000 0300
         67452301 ab89 efcd 0123 456789abcdef
         deadbeef");
    assert_eq!(pdu.encode().unwrap(), expected);
    assert_eq!(Pdu::decode(&expected).unwrap(), pdu);
    // Without PFC_OBJECT_UUID the same bytes mean a stub of 20 bytes.
    let mut no_obj = expected.clone();
    no_obj[3] = 0x03;
    let Body::Request(r) = Pdu::decode(&no_obj).unwrap().body else {
        panic!()
    };
    assert_eq!(r.object, None);
    assert_eq!(r.stub.len(), 20);
}

#[test]
fn fault_bytes_exact() {
    let mut pdu = Pdu::new(
        2,
        Body::Fault(Fault {
            alloc_hint: 0,
            context_id: 0,
            cancel_count: 0,
            flags: 0,
            status: 0x1c01_0002,
            stub: vec![],
        }),
    );
    pdu.flags |= PFC_DID_NOT_EXECUTE;
    let expected = hex("05000323 10000000 2000 0000 02000000
         00000000 0000 00 00 0200011c 00000000");
    assert_eq!(pdu.encode().unwrap(), expected);
    assert_eq!(Pdu::decode(&expected).unwrap(), pdu);
    assert_eq!(
        winv_dcerpc::status_name(0x1c01_0002),
        Some("nca_s_op_rng_error")
    );
}

#[test]
fn auth3_and_trailer_bytes_exact() {
    let pdu = Pdu {
        flags: PFC_FIRST_FRAG | PFC_LAST_FRAG,
        call_id: 1,
        body: Body::Auth3,
        auth: Some(AuthVerifier {
            auth_type: AuthType::WinNt,
            auth_level: 6,
            pad_length: 0,
            context_id: 0,
            value: vec![0xaa, 0xbb],
        }),
    };
    let expected = hex("05001003 10000000 1e00 0200 01000000 00000000 0a060000 00000000 aabb");
    assert_eq!(pdu.encode().unwrap(), expected);
    assert_eq!(Pdu::decode(&expected).unwrap(), pdu);
}

#[test]
fn header_checks() {
    let good = hex("05001103 10000000 1000 0000 07000000");
    assert_eq!(Pdu::decode(&good).unwrap().body, Body::Shutdown);
    let mut be = good.clone();
    be[4] = 0x00;
    assert_eq!(Pdu::decode(&be), Err(Error::BigEndian));
    let mut v4 = good.clone();
    v4[0] = 4;
    assert!(matches!(
        Pdu::decode(&v4),
        Err(Error::BadVersion { major: 4, .. })
    ));
    let mut cl = good.clone();
    cl[2] = 1; // ping: connectionless
    assert_eq!(Pdu::decode(&cl), Err(Error::UnknownPacketType(1)));
    let mut long = good.clone();
    long.push(0);
    assert!(matches!(Pdu::decode(&long), Err(Error::FragLength { .. })));
    let mut auth = good.clone();
    auth[10] = 1; // auth_length 1 with no room for a trailer
    assert_eq!(Pdu::decode(&auth), Err(Error::AuthLength(1)));
}

#[test]
fn framer_finds_boundaries() {
    let a = hex("05001103 10000000 1000 0000 07000000");
    let mut stream = a.clone();
    stream.extend_from_slice(&a[..10]);
    assert_eq!(framer::next_pdu_len(&stream, 65535), Ok(Some(16)));
    assert_eq!(framer::next_pdu_len(&stream[16..], 65535), Ok(None));
    assert_eq!(framer::next_pdu_len(&stream[..3], 65535), Ok(None));
    assert!(framer::next_pdu_len(b"\x04", 65535).is_err());
    let mut short = a.clone();
    short[8] = 15;
    assert!(matches!(
        framer::next_pdu_len(&short, 65535),
        Err(Error::FragLength {
            frag_length: 15,
            ..
        })
    ));
    assert!(matches!(
        framer::next_pdu_len(&a, 15),
        Err(Error::FragLength { .. })
    ));
    let mut buf = framer::PduBuffer::new(65535);
    buf.extend(&stream);
    assert_eq!(buf.next_pdu().unwrap(), Some(a.clone()));
    assert_eq!(buf.next_pdu().unwrap(), None);
    buf.extend(&a[10..]);
    assert_eq!(buf.next_pdu().unwrap(), Some(a));
    assert!(buf.is_empty());
}

#[test]
fn feature_negotiation_syntax() {
    let s = features::syntax(3);
    assert_eq!(s.uuid.to_string(), "6cb71c2c-9812-4540-0300-000000000000");
    assert_eq!((s.major, s.minor), (1, 0));
    assert_eq!(features::offered(&s), Some(3));
    assert_eq!(features::offered(&NDR64), None);
}

/// Real PDUs from a capture of a Windows server (see shared/fixtures/README.md):
/// found by scanning the pcapng for the PDU headers.
#[test]
fn real_bind_and_bind_ack_from_capture() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/pcap/scapy-dcerpc-privacy-ntlm.pcapng"
    );
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "fixture missing in CI: {e}"
            );
            eprintln!("skipping: fixture {path} not found");
            return;
        }
    };
    let find = |prefix: &[u8]| -> Vec<u8> {
        let at = data
            .windows(prefix.len())
            .position(|w| w == prefix)
            .expect("pdu in capture");
        let len = usize::from(u16::from_le_bytes([data[at + 8], data[at + 9]]));
        data[at..at + len].to_vec()
    };
    // First bind (frame 4 per tshark): EPM over NDR, NDR64 and feature negotiation 0x03.
    let bind_bytes = find(&hex("05000b0310000000a000"));
    let bind = Pdu::decode(&bind_bytes).unwrap();
    assert_eq!(bind.call_id, 2);
    let Body::Bind(b) = &bind.body else {
        panic!("bind")
    };
    assert_eq!((b.max_xmit_frag, b.max_recv_frag), (5840, 5840));
    assert_eq!(b.contexts.len(), 3);
    assert!(b.contexts.iter().all(|c| c.abstract_syntax == EPM));
    assert_eq!(b.contexts[0].transfer_syntaxes, vec![NDR]);
    assert_eq!(b.contexts[1].transfer_syntaxes, vec![NDR64]);
    assert_eq!(
        features::offered(&b.contexts[2].transfer_syntaxes[0]),
        Some(3)
    );
    assert_eq!(bind.encode().unwrap(), bind_bytes);
    // Its bind_ack (frame 5): secondary address "135", assoc group 0x17a7,
    // provider_rejection(2)/reason 2, acceptance of NDR64, negotiate_ack 0x0003.
    let ack_bytes = find(&hex("05000c03100000006c00"));
    let ack = Pdu::decode(&ack_bytes).unwrap();
    let Body::BindAck(a) = &ack.body else {
        panic!("bind_ack")
    };
    assert_eq!(a.assoc_group_id, 0x17a7);
    assert_eq!(a.secondary_address(), Some("135"));
    assert_eq!(a.results.len(), 3);
    assert_eq!(
        (a.results[0].result, a.results[0].reason),
        (result::PROVIDER_REJECTION, 2)
    );
    assert_eq!(
        (a.results[1].result, a.results[1].transfer_syntax),
        (result::ACCEPTANCE, NDR64)
    );
    assert_eq!(
        (a.results[2].result, a.results[2].reason),
        (result::NEGOTIATE_ACK, 3)
    );
    assert_eq!(ack.encode().unwrap(), ack_bytes);
}

fn syntax() -> impl Strategy<Value = SyntaxId> {
    (any::<u128>(), any::<u16>(), any::<u16>())
        .prop_map(|(u, a, b)| SyntaxId::new(Uuid::from_u128(u), a, b))
}

fn bind_body() -> impl Strategy<Value = Bind> {
    let elem = (
        any::<u16>(),
        syntax(),
        prop::collection::vec(syntax(), 0..3),
    )
        .prop_map(
            |(context_id, abstract_syntax, transfer_syntaxes)| ContextElement {
                context_id,
                abstract_syntax,
                transfer_syntaxes,
            },
        );
    (
        any::<u16>(),
        any::<u16>(),
        any::<u32>(),
        prop::collection::vec(elem, 0..4),
    )
        .prop_map(|(a, b, c, contexts)| Bind {
            max_xmit_frag: a,
            max_recv_frag: b,
            assoc_group_id: c,
            contexts,
        })
}

fn bind_ack_body() -> impl Strategy<Value = BindAck> {
    let res =
        (any::<u16>(), any::<u16>(), syntax()).prop_map(|(result, reason, transfer_syntax)| {
            ContextResult {
                result,
                reason,
                transfer_syntax,
            }
        });
    (
        any::<u16>(),
        any::<u16>(),
        any::<u32>(),
        prop::collection::vec(any::<u8>(), 0..12),
        prop::collection::vec(res, 0..4),
    )
        .prop_map(|(a, b, c, sec_addr, results)| BindAck {
            max_xmit_frag: a,
            max_recv_frag: b,
            assoc_group_id: c,
            sec_addr,
            results,
        })
}

fn stub() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..64)
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        (
            any::<u32>(),
            any::<u16>(),
            any::<u16>(),
            prop::option::of(any::<u128>()),
            stub()
        )
            .prop_map(|(h, c, o, obj, stub)| Body::Request(Request {
                alloc_hint: h,
                context_id: c,
                opnum: o,
                object: obj.map(Uuid::from_u128),
                stub
            })),
        (any::<u32>(), any::<u16>(), any::<u8>(), stub()).prop_map(|(h, c, cc, stub)| {
            Body::Response(Response {
                alloc_hint: h,
                context_id: c,
                cancel_count: cc,
                stub,
            })
        }),
        (
            any::<u32>(),
            any::<u16>(),
            any::<u8>(),
            any::<u8>(),
            any::<u32>(),
            stub()
        )
            .prop_map(|(h, c, cc, f, s, stub)| Body::Fault(Fault {
                alloc_hint: h,
                context_id: c,
                cancel_count: cc,
                flags: f,
                status: s,
                stub
            })),
        bind_body().prop_map(Body::Bind),
        bind_body().prop_map(Body::AlterContext),
        bind_ack_body().prop_map(Body::BindAck),
        bind_ack_body().prop_map(Body::AlterContextResp),
        (any::<u16>(), prop::collection::vec(any::<(u8, u8)>(), 0..4))
            .prop_map(|(reason, versions)| Body::BindNak(BindNak { reason, versions })),
        Just(Body::Auth3),
        Just(Body::Shutdown),
        Just(Body::CoCancel),
        Just(Body::Orphaned),
    ]
}

fn verifier() -> impl Strategy<Value = AuthVerifier> {
    (
        any::<u8>(),
        0u8..=6,
        0u8..16,
        any::<u32>(),
        prop::collection::vec(any::<u8>(), 1..40),
    )
        .prop_map(|(t, l, p, c, value)| AuthVerifier {
            auth_type: AuthType::from_u8(t),
            auth_level: l,
            pad_length: p,
            context_id: c,
            value,
        })
}

fn pdu() -> impl Strategy<Value = Pdu> {
    (
        any::<u8>(),
        any::<u32>(),
        body(),
        prop::option::of(verifier()),
    )
        .prop_map(|(mut flags, call_id, body, auth)| {
            if let Body::Request(r) = &body {
                flags = (flags & !PFC_OBJECT_UUID)
                    | if r.object.is_some() {
                        PFC_OBJECT_UUID
                    } else {
                        0
                    };
            }
            Pdu {
                flags,
                call_id,
                body,
                auth,
            }
        })
}

proptest! {
    #[test]
    fn every_pdu_type_round_trips(p in pdu()) {
        let bytes = p.encode().unwrap();
        prop_assert_eq!(framer::next_pdu_len(&bytes, 65535).unwrap(), Some(bytes.len()));
        prop_assert_eq!(Pdu::decode(&bytes).unwrap(), p);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..300)) {
        winv_dcerpc::fuzz_decode(&data);
    }

    #[test]
    fn mutated_valid_pdus_never_panic(p in pdu(), idx in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut bytes = p.encode().unwrap();
        let i = idx.index(bytes.len());
        bytes[i] = byte;
        winv_dcerpc::fuzz_decode(&bytes);
        let n = cut.index(bytes.len() + 1);
        winv_dcerpc::fuzz_decode(&bytes[..n]);
    }
}
