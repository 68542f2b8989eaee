//! Secured PDUs, fragmentation / reassembly and a full client association
//! against a hand-written server side.

#![allow(clippy::unwrap_used)]

mod common;

use common::TestCtx;
use winv_auth::{AuthError, AuthLevel, AuthType};
use winv_dcerpc::frag::{fragment_request, fragment_response, Reassembler};
use winv_dcerpc::interfaces::{IWBEMLEVEL1LOGIN, IWBEMSERVICES, NDR};
use winv_dcerpc::pdu::*;
use winv_dcerpc::secure::{decode_protected, encode_protected, Protection};
use winv_dcerpc::{ClientAssociation, ClientConfig, Error, ErrorKind, Event};

fn stub_of(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn fragmentation_at(level: AuthLevel) {
    let stub = stub_of(100 * 1024);
    let mut client = TestCtx::server(0x5a);
    let mut server = TestCtx::server(0x5a);
    let mut prot = Protection {
        ctx: &mut client,
        level,
        context_id: 7,
    };
    let frags = fragment_request(9, 1, 24, None, &stub, 4280, Some(&mut prot)).unwrap();
    assert!(frags.len() > 20);
    let mut sprot = Protection {
        ctx: &mut server,
        level,
        context_id: 7,
    };
    let mut re = Reassembler::default();
    let mut whole = None;
    for (i, f) in frags.iter().enumerate() {
        assert!(f.len() <= 4280, "fragment {i} is {} bytes", f.len());
        let h = Header::decode(f).unwrap();
        assert_eq!(h.flags & PFC_FIRST_FRAG != 0, i == 0);
        assert_eq!(h.flags & PFC_LAST_FRAG != 0, i == frags.len() - 1);
        assert_eq!(h.auth_length, 16);
        if level.seals() {
            // The stub is not in clear on the wire.
            assert_ne!(&f[24..40], &stub[i * (f.len() - 24 - 8 - 16)..][..16]);
        }
        let pdu = decode_protected(f, Some(&mut sprot)).unwrap();
        let Body::Request(r) = pdu.body else {
            panic!("request")
        };
        assert_eq!(
            r.alloc_hint as usize,
            stub.len() - i * frags[0].len().saturating_sub(24 + 8 + 16)
        );
        assert_eq!(r.opnum, 24);
        whole = re.push(9, pdu.flags, &r.stub).unwrap();
    }
    assert_eq!(whole.as_deref(), Some(&stub[..]));

    // A flipped byte in the middle fragment is detected.
    let mut server = TestCtx::server(0x5a);
    let mut sprot = Protection {
        ctx: &mut server,
        level,
        context_id: 7,
    };
    let mid = frags.len() / 2;
    for (i, f) in frags.iter().enumerate() {
        let mut f = f.clone();
        if i == mid {
            f[100] ^= 1;
            let err = decode_protected(&f, Some(&mut sprot)).unwrap_err();
            assert_eq!(err, Error::Security(AuthError::BadSignature));
            assert_eq!(err.kind(), ErrorKind::Security);
            break;
        }
        decode_protected(&f, Some(&mut sprot)).unwrap();
    }
}

#[test]
fn fragment_100k_at_4280_privacy() {
    fragmentation_at(AuthLevel::PktPrivacy);
}

#[test]
fn fragment_100k_at_4280_integrity() {
    fragmentation_at(AuthLevel::PktIntegrity);
}

#[test]
fn unsigned_fragments_and_reassembly_errors() {
    let stub = stub_of(10_000);
    let frags =
        fragment_request(3, 0, 1, Some(uuid::Uuid::from_u128(5)), &stub, 1024, None).unwrap();
    assert!(frags.iter().all(|f| f.len() <= 1024));
    assert_eq!(frags.len(), 10_000usize.div_ceil((1024 - 40) & !7));
    let mut re = Reassembler::new(100_000);
    let mut out = None;
    for f in &frags {
        let p = Pdu::decode(f).unwrap();
        let Body::Request(r) = p.body else { panic!() };
        assert!(r.object.is_some());
        out = re.push(3, p.flags, &r.stub).unwrap();
    }
    assert_eq!(out, Some(stub.clone()));
    // Missing first fragment, interleaved call, cap.
    let mut re = Reassembler::new(1000);
    assert_eq!(
        re.push(4, PFC_LAST_FRAG, b"x"),
        Err(Error::MissingFirstFragment(4))
    );
    assert_eq!(re.push(4, PFC_FIRST_FRAG, b"x"), Ok(None));
    assert_eq!(
        re.push(5, PFC_LAST_FRAG, b"x"),
        Err(Error::InterleavedCall {
            expected: 4,
            got: 5
        })
    );
    assert_eq!(
        re.push(4, PFC_FIRST_FRAG, b"x"),
        Err(Error::DuplicateFirstFragment(4))
    );
    assert_eq!(re.push(6, PFC_FIRST_FRAG, &[0; 600]), Ok(None));
    assert!(matches!(
        re.push(6, 0, &[0; 600]),
        Err(Error::TooLarge { .. })
    ));
    // A too small max_xmit_frag is refused.
    assert!(fragment_request(1, 0, 0, None, b"abc", 30, None).is_err());
}

#[test]
fn trailer_is_16_aligned_from_stub_and_checked() {
    let mut c = TestCtx::server(1);
    let mut s = TestCtx::server(1);
    let pdu = Pdu::new(
        1,
        Body::Response(Response {
            alloc_hint: 5,
            context_id: 0,
            cancel_count: 0,
            stub: b"hello".to_vec(),
        }),
    );
    let bytes = encode_protected(
        &pdu,
        Some(&mut Protection {
            ctx: &mut c,
            level: AuthLevel::PktIntegrity,
            context_id: 0,
        }),
    )
    .unwrap();
    // 24 + 5 stub + 11 pad = 40, trailer, 16 signature.
    assert_eq!(bytes.len(), 24 + 16 + 8 + 16);
    assert_eq!(&bytes[40..48], &[10, 5, 11, 0, 0, 0, 0, 0]);
    assert_eq!(&bytes[24..29], b"hello"); // integrity does not seal
                                          // Wrong level in the receiver's view.
    let err = decode_protected(
        &bytes,
        Some(&mut Protection {
            ctx: &mut s,
            level: AuthLevel::PktPrivacy,
            context_id: 0,
        }),
    )
    .unwrap_err();
    assert_eq!(err, Error::TrailerMismatch("auth_level"));
    let back = decode_protected(
        &bytes,
        Some(&mut Protection {
            ctx: &mut s,
            level: AuthLevel::PktIntegrity,
            context_id: 0,
        }),
    )
    .unwrap();
    let Body::Response(r) = back.body else {
        panic!()
    };
    assert_eq!(r.stub, b"hello");
    // Unsigned PDU at a signing level.
    let plain = pdu.encode().unwrap();
    let err = decode_protected(
        &plain,
        Some(&mut Protection {
            ctx: &mut s,
            level: AuthLevel::PktIntegrity,
            context_id: 0,
        }),
    )
    .unwrap_err();
    assert_eq!(err, Error::MissingSignature);
}

/// The hand-written server side of the full association test.
struct Server {
    ctx: TestCtx,
    level: AuthLevel,
}

impl Server {
    fn prot(&mut self) -> Protection<'_> {
        Protection {
            ctx: &mut self.ctx,
            level: self.level,
            context_id: 0,
        }
    }

    fn bind_ack(
        &self,
        call_id: u32,
        ptype: PacketType,
        results: Vec<ContextResult>,
        token: &[u8],
    ) -> Vec<u8> {
        let ack = BindAck {
            max_xmit_frag: 5840,
            max_recv_frag: 2048,
            assoc_group_id: 0x4242,
            sec_addr: b"49667\0".to_vec(),
            results,
        };
        let body = if ptype == PacketType::BindAck {
            Body::BindAck(ack)
        } else {
            Body::AlterContextResp(ack)
        };
        Pdu {
            flags: PFC_FIRST_FRAG | PFC_LAST_FRAG,
            call_id,
            body,
            auth: (!token.is_empty()).then(|| AuthVerifier {
                auth_type: AuthType::WinNt,
                auth_level: self.level as u8,
                pad_length: 0,
                context_id: 0,
                value: token.to_vec(),
            }),
        }
        .encode()
        .unwrap()
    }
}

fn accept() -> ContextResult {
    ContextResult {
        result: result::ACCEPTANCE,
        reason: 0,
        transfer_syntax: NDR,
    }
}

fn bound(level: AuthLevel, legs: u8) -> (ClientAssociation, Server, u16) {
    let config = ClientConfig {
        auth_level: level,
        ..ClientConfig::default()
    };
    let mut client =
        ClientAssociation::new(config, Some(Box::new(TestCtx::client(0x33, legs)))).unwrap();
    let server = Server {
        ctx: TestCtx::server(0x33),
        level,
    };
    let (ctx_id, bind) = client.bind(IWBEMLEVEL1LOGIN).unwrap();
    let pdu = Pdu::decode(&bind).unwrap();
    assert_eq!(
        pdu.flags,
        PFC_FIRST_FRAG | PFC_LAST_FRAG | PFC_SUPPORT_HEADER_SIGN
    );
    let Body::Bind(b) = &pdu.body else {
        panic!("bind")
    };
    assert_eq!(b.contexts.len(), 2);
    assert_eq!(b.contexts[0].abstract_syntax, IWBEMLEVEL1LOGIN);
    assert_eq!(b.contexts[0].transfer_syntaxes, vec![NDR]);
    assert_eq!(
        features::offered(&b.contexts[1].transfer_syntaxes[0]),
        Some(3)
    );
    let auth = pdu.auth.as_ref().unwrap();
    assert_eq!(
        (auth.value.as_slice(), auth.auth_level),
        (&b"NEGOTIATE"[..], level as u8)
    );
    let ack = server.bind_ack(
        pdu.call_id,
        PacketType::BindAck,
        vec![
            accept(),
            ContextResult {
                result: result::NEGOTIATE_ACK,
                reason: 2,
                transfer_syntax: SyntaxId::new(uuid::Uuid::nil(), 0, 0),
            },
        ],
        b"CHALLENGE",
    );
    match client.receive(&ack).unwrap() {
        Event::Bound {
            context_id,
            send: Some(auth3),
        } => {
            assert_eq!(context_id, ctx_id);
            let a = Pdu::decode(&auth3).unwrap();
            assert_eq!(a.body, Body::Auth3);
            assert_eq!(a.call_id, pdu.call_id);
            assert_eq!(a.auth.unwrap().value, b"AUTHENTICATE");
        }
        Event::AuthContinue { send } => {
            let alter = Pdu::decode(&send).unwrap();
            assert_eq!(alter.auth.as_ref().unwrap().value, b"LEG2");
            let Body::AlterContext(b) = &alter.body else {
                panic!("alter_context")
            };
            assert_eq!(b.contexts[0].context_id, ctx_id);
            let resp = server.bind_ack(
                alter.call_id,
                PacketType::AlterContextResp,
                vec![accept()],
                b"FINAL",
            );
            assert_eq!(
                client.receive(&resp).unwrap(),
                Event::Bound {
                    context_id: ctx_id,
                    send: None
                }
            );
        }
        e => panic!("unexpected {e:?}"),
    }
    assert!(client.is_bound());
    assert_eq!(client.max_xmit_frag(), 2048);
    assert_eq!(client.max_recv_frag(), 4280);
    assert_eq!(client.features(), Some(2));
    assert_eq!(client.secondary_address(), Some("49667"));
    assert_eq!(client.assoc_group_id(), 0x4242);
    (client, server, ctx_id)
}

#[test]
fn full_association_at_privacy() {
    let (mut client, mut server, ctx_id) = bound(AuthLevel::PktPrivacy, 1);
    // A 10 000-byte request, fragmented to the server's 2048.
    let req_stub = stub_of(10_000);
    let (call_id, frags) = client.request(ctx_id, 6, None, &req_stub).unwrap();
    assert!(frags.len() >= 5 && frags.iter().all(|f| f.len() <= 2048));
    let mut re = Reassembler::default();
    let mut got = None;
    for f in &frags {
        let p = decode_protected(f, Some(&mut server.prot())).unwrap();
        assert_eq!(p.call_id, call_id);
        let Body::Request(r) = p.body else { panic!() };
        got = re.push(call_id, p.flags, &r.stub).unwrap();
    }
    assert_eq!(got, Some(req_stub));
    // A 9 000-byte response in fragments of 4280.
    let resp_stub = stub_of(9000);
    let rfrags =
        fragment_response(call_id, ctx_id, &resp_stub, 4280, Some(&mut server.prot())).unwrap();
    assert_eq!(rfrags.len(), 3);
    assert_eq!(
        client.receive(&rfrags[0]).unwrap(),
        Event::Fragment { call_id }
    );
    assert_eq!(
        client.receive(&rfrags[1]).unwrap(),
        Event::Fragment { call_id }
    );
    assert_eq!(
        client.receive(&rfrags[2]).unwrap(),
        Event::Response {
            call_id,
            stub: resp_stub
        }
    );
    // The call is done: another response for it is an unknown call.
    assert_eq!(client.receive(&rfrags[2]), Err(Error::UnknownCall(call_id)));

    // A fault.
    let (call2, f2) = client
        .request(ctx_id, 3, Some(uuid::Uuid::from_u128(9)), b"abcd")
        .unwrap();
    assert_eq!(f2.len(), 1);
    decode_protected(&f2[0], Some(&mut server.prot())).unwrap();
    let fault = Pdu::new(
        call2,
        Body::Fault(Fault {
            alloc_hint: 0,
            context_id: ctx_id,
            cancel_count: 0,
            flags: 0,
            status: 0x6f7,
            stub: vec![],
        }),
    );
    let fault = encode_protected(&fault, Some(&mut server.prot())).unwrap();
    let ev = client.receive(&fault).unwrap();
    assert_eq!(
        ev,
        Event::Fault {
            call_id: call2,
            status: 0x6f7,
            name: Some("RPC_X_BAD_STUB_DATA"),
            did_not_execute: false
        }
    );
    let err = ev.check().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Fault);

    // alter_context adds IWbemServices.
    let (ctx2, alter) = client.alter_context(IWBEMSERVICES).unwrap();
    let a = Pdu::decode(&alter).unwrap();
    assert!(a.auth.is_none());
    let resp = server.bind_ack(a.call_id, PacketType::AlterContextResp, vec![accept()], b"");
    assert_eq!(
        client.receive(&resp).unwrap(),
        Event::ContextAdded { context_id: ctx2 }
    );
    // Unknown context ids are refused.
    assert_eq!(
        client.request(77, 0, None, b"").unwrap_err(),
        Error::UnknownContext(77)
    );

    // A tampered response is a security error.
    let (call3, f3) = client.request(ctx2, 1, None, b"q").unwrap();
    decode_protected(&f3[0], Some(&mut server.prot())).unwrap();
    let mut r3 = fragment_response(call3, ctx2, b"answer", 4280, Some(&mut server.prot()))
        .unwrap()
        .remove(0);
    r3[26] ^= 0x80;
    let err = client.receive(&r3).unwrap_err();
    assert_eq!(err, Error::Security(AuthError::BadSignature));
    // It fails the association: the receiving sequence number has moved past the
    // server's, so no later call could verify; none is made.
    assert_eq!(
        client.request(ctx2, 1, None, b"q").unwrap_err(),
        Error::State("request on a failed association")
    );
    // Shutdown.
    let sd = Pdu::new(0, Body::Shutdown).encode().unwrap();
    assert_eq!(client.receive(&sd).unwrap(), Event::Shutdown);
}

#[test]
fn two_leg_authentication_uses_alter_context() {
    let (mut client, mut server, ctx_id) = bound(AuthLevel::PktIntegrity, 2);
    let (call_id, frags) = client.request(ctx_id, 0, None, b"x").unwrap();
    decode_protected(&frags[0], Some(&mut server.prot())).unwrap();
    let resp = fragment_response(call_id, ctx_id, b"ok", 4280, Some(&mut server.prot())).unwrap();
    assert_eq!(
        client.receive(&resp[0]).unwrap(),
        Event::Response {
            call_id,
            stub: b"ok".to_vec()
        }
    );
}

#[test]
fn connect_level_sends_no_trailer_after_bind() {
    let (mut client, _server, ctx_id) = bound(AuthLevel::Connect, 1);
    let (call_id, frags) = client.request(ctx_id, 0, None, b"plain").unwrap();
    let p = Pdu::decode(&frags[0]).unwrap();
    assert!(p.auth.is_none());
    let resp = fragment_response(call_id, ctx_id, b"ok", 4280, None).unwrap();
    assert_eq!(
        client.receive(&resp[0]).unwrap(),
        Event::Response {
            call_id,
            stub: b"ok".to_vec()
        }
    );
}

#[test]
fn bind_nak_and_rejected_context_and_unsigned_response() {
    let mut client = ClientAssociation::new(ClientConfig::default(), None).unwrap();
    let (_, bind) = client.bind(IWBEMLEVEL1LOGIN).unwrap();
    let b = Pdu::decode(&bind).unwrap();
    assert!(b.auth.is_none() && b.flags & PFC_SUPPORT_HEADER_SIGN == 0);
    let nak = Pdu::new(
        b.call_id,
        Body::BindNak(BindNak {
            reason: 8,
            versions: vec![(5, 0)],
        }),
    )
    .encode()
    .unwrap();
    let ev = client.receive(&nak).unwrap();
    assert_eq!(
        ev,
        Event::BindNak {
            reason: 8,
            name: Some("authentication_type_not_recognized")
        }
    );
    assert_eq!(ev.check().unwrap_err().kind(), ErrorKind::Rejected);
    assert!(client.request(0, 0, None, b"").is_err());

    let mut client = ClientAssociation::new(
        ClientConfig {
            feature_negotiation: false,
            ..ClientConfig::default()
        },
        None,
    )
    .unwrap();
    let (_, bind) = client.bind(IWBEMLEVEL1LOGIN).unwrap();
    let b = Pdu::decode(&bind).unwrap();
    let server = Server {
        ctx: TestCtx::server(0),
        level: AuthLevel::None,
    };
    let ack = server.bind_ack(
        b.call_id,
        PacketType::BindAck,
        vec![ContextResult {
            result: result::PROVIDER_REJECTION,
            reason: 1,
            transfer_syntax: SyntaxId::new(uuid::Uuid::nil(), 0, 0),
        }],
        b"",
    );
    let err = client.receive(&ack).unwrap_err();
    assert_eq!(
        err,
        Error::ContextRejected {
            context_id: 0,
            result: 2,
            reason: 1
        }
    );
    assert_eq!(err.kind(), ErrorKind::Rejected);

    // A signing level refuses an unsigned response.
    let (mut client, _server, ctx_id) = bound(AuthLevel::PktIntegrity, 1);
    let (call_id, _) = client.request(ctx_id, 0, None, b"x").unwrap();
    let resp = fragment_response(call_id, ctx_id, b"ok", 4280, None).unwrap();
    assert_eq!(
        client.receive(&resp[0]).unwrap_err(),
        Error::MissingSignature
    );
    // Level needs a context.
    let cfg = ClientConfig {
        auth_level: AuthLevel::PktPrivacy,
        ..ClientConfig::default()
    };
    assert!(matches!(
        ClientAssociation::new(cfg, None),
        Err(Error::NoSecurityContext(_))
    ));
}

/// One alter_context offering several interfaces ([C706] 12.6.3.1): one element each, the
/// answer read element by element. A rejected later element stays unusable without
/// failing the others; a rejected first one is the alter_context's error, as alone.
#[test]
fn one_alter_context_offers_several_interfaces() {
    use winv_dcerpc::interfaces::{IREMUNKNOWN2, IWBEMFETCHSMARTENUM};
    let (mut client, server, _) = bound(AuthLevel::PktPrivacy, 1);
    let (ids, alter) = client
        .alter_contexts(&[IWBEMSERVICES, IREMUNKNOWN2, IWBEMFETCHSMARTENUM])
        .unwrap();
    assert_eq!(ids.len(), 3);
    let a = Pdu::decode(&alter).unwrap();
    let Body::AlterContext(b) = &a.body else {
        panic!("alter_context")
    };
    let offered: Vec<_> = b
        .contexts
        .iter()
        .map(|c| (c.context_id, c.abstract_syntax))
        .collect();
    assert_eq!(
        offered,
        [
            (ids[0], IWBEMSERVICES),
            (ids[1], IREMUNKNOWN2),
            (ids[2], IWBEMFETCHSMARTENUM)
        ]
    );
    let rejected = ContextResult {
        result: result::PROVIDER_REJECTION,
        reason: 1,
        transfer_syntax: SyntaxId::new(uuid::Uuid::nil(), 0, 0),
    };
    // A short p_result_list is malformed.
    let mut c2 = bound(AuthLevel::PktPrivacy, 1).0;
    let (_, alter2) = c2.alter_contexts(&[IWBEMSERVICES, IREMUNKNOWN2]).unwrap();
    let a2 = Pdu::decode(&alter2).unwrap();
    let short = server.bind_ack(
        a2.call_id,
        PacketType::AlterContextResp,
        vec![accept()],
        b"",
    );
    assert_eq!(
        c2.receive(&short).unwrap_err(),
        Error::Malformed("p_result_list count")
    );

    let resp = server.bind_ack(
        a.call_id,
        PacketType::AlterContextResp,
        vec![accept(), rejected, accept()],
        b"",
    );
    assert_eq!(
        client.receive(&resp).unwrap(),
        Event::ContextAdded { context_id: ids[0] }
    );
    assert!(client.is_accepted(ids[0]) && client.is_accepted(ids[2]));
    assert!(!client.is_accepted(ids[1]));
    assert_eq!(
        client.request(ids[1], 3, None, b"").unwrap_err(),
        Error::UnknownContext(ids[1])
    );
    assert!(client.request(ids[2], 3, None, b"x").is_ok());

    // The first rejected: the alter_context's error; the association stays bound.
    let (mut client, server, _) = bound(AuthLevel::PktPrivacy, 1);
    let (ids, alter) = client
        .alter_contexts(&[IREMUNKNOWN2, IWBEMSERVICES])
        .unwrap();
    let a = Pdu::decode(&alter).unwrap();
    let resp = server.bind_ack(
        a.call_id,
        PacketType::AlterContextResp,
        vec![rejected, accept()],
        b"",
    );
    assert_eq!(
        client.receive(&resp).unwrap_err(),
        Error::ContextRejected {
            context_id: ids[0],
            result: 2,
            reason: 1
        }
    );
    assert!(client.is_bound());
    assert!(client.alter_contexts(&[]).is_err());
}
