//! NTLMv2 client and acceptor, both ours, on the two ends of a DCE/RPC
//! association: bind / bind_ack / auth3, then fragmented requests and
//! responses sealed and signed both ways, and tampering caught on each side.

use winv_auth::ntlm::{NtlmClient, NtlmCredentials, NtlmSecret, NtlmServer, NtlmTarget};
use winv_auth::{AuthError, AuthLevel, AuthType, SecurityContext, Step};
use winv_dcerpc::frag::{fragment_response, Reassembler};
use winv_dcerpc::interfaces::{EPM, NDR};
use winv_dcerpc::pdu::{
    result, AuthVerifier, BindAck, Body, ContextResult, PacketType, Pdu, SyntaxId, PFC_FIRST_FRAG,
    PFC_LAST_FRAG,
};
use winv_dcerpc::secure::{decode_protected, Protection};
use winv_dcerpc::{ClientAssociation, ClientConfig, Error, Event};

struct Acceptor {
    ntlm: NtlmServer,
    level: AuthLevel,
}

impl Acceptor {
    fn new(level: AuthLevel) -> Self {
        let mut ntlm = NtlmServer::new(NtlmTarget {
            nb_computer_name: "WIN2022-01".into(),
            nb_domain_name: "CONTOSO".into(),
            dns_computer_name: "win2022-01.contoso.test".into(),
            dns_domain_name: "contoso.test".into(),
        });
        ntlm.add_user(
            "inventory",
            "CONTOSO",
            NtlmSecret::from_password("S3cret-inventory"),
        );
        Acceptor { ntlm, level }
    }

    fn prot(&mut self) -> Protection<'_> {
        Protection {
            ctx: &mut self.ntlm,
            level: self.level,
            context_id: 0,
        }
    }

    /// Answers the client's bind; returns the bind_ack.
    fn bind_ack(&mut self, bind: &[u8]) -> Vec<u8> {
        let pdu = Pdu::decode(bind).expect("bind decodes");
        let Body::Bind(b) = &pdu.body else {
            panic!("not a bind")
        };
        let token = pdu.auth.as_ref().expect("auth verifier").value.clone();
        let challenge = match self.ntlm.step(Some(&token)).expect("negotiate accepted") {
            Step::Continue(t) => t,
            s => panic!("unexpected {s:?}"),
        };
        let results = b
            .contexts
            .iter()
            .map(|c| {
                if c.transfer_syntaxes.contains(&NDR) {
                    ContextResult {
                        result: result::ACCEPTANCE,
                        reason: 0,
                        transfer_syntax: NDR,
                    }
                } else {
                    ContextResult {
                        result: result::NEGOTIATE_ACK,
                        reason: 0,
                        transfer_syntax: SyntaxId::new(uuid::Uuid::nil(), 0, 0),
                    }
                }
            })
            .collect();
        Pdu {
            flags: PFC_FIRST_FRAG | PFC_LAST_FRAG,
            call_id: pdu.call_id,
            body: Body::BindAck(BindAck {
                max_xmit_frag: 2048,
                max_recv_frag: 2048,
                assoc_group_id: 0x1234,
                sec_addr: b"135\0".to_vec(),
                results,
            }),
            auth: Some(AuthVerifier {
                auth_type: AuthType::WinNt,
                auth_level: self.level as u8,
                pad_length: 0,
                context_id: 0,
                value: challenge,
            }),
        }
        .encode()
        .expect("encode bind_ack")
    }

    fn auth3(&mut self, auth3: &[u8]) -> Result<(), AuthError> {
        let pdu = Pdu::decode(auth3).expect("auth3 decodes");
        assert_eq!(pdu.body, Body::Auth3);
        let token = pdu.auth.expect("auth verifier").value;
        match self.ntlm.step(Some(&token))? {
            Step::Done(None) => Ok(()),
            s => panic!("unexpected {s:?}"),
        }
    }
}

fn client(password: &str, level: AuthLevel) -> ClientAssociation {
    let ntlm = NtlmClient::new(NtlmCredentials::with_password(
        "inventory",
        "CONTOSO",
        "SCANNER",
        password,
    ));
    ClientAssociation::new(
        ClientConfig {
            auth_level: level,
            ..ClientConfig::default()
        },
        Some(Box::new(ntlm)),
    )
    .expect("association")
}

fn bound(level: AuthLevel) -> (ClientAssociation, Acceptor, u16) {
    let mut c = client("S3cret-inventory", level);
    let mut s = Acceptor::new(level);
    let (ctx, bind) = c.bind(EPM).expect("bind");
    let ack = s.bind_ack(&bind);
    let Event::Bound {
        context_id,
        send: Some(auth3),
    } = c.receive(&ack).expect("bind_ack")
    else {
        panic!("no auth3")
    };
    assert_eq!(context_id, ctx);
    s.auth3(&auth3)
        .expect("the acceptor authenticates the client");
    assert_eq!(s.ntlm.authenticated_user(), Some(("inventory", "CONTOSO")));
    (c, s, ctx)
}

fn payload(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn exchange(level: AuthLevel) {
    let (mut c, mut s, ctx) = bound(level);
    for round in 0..3u8 {
        let req = payload(9_000 + usize::from(round) * 777, round);
        let (call_id, frags) = c.request(ctx, 2, None, &req).expect("request");
        assert!(
            frags.len() >= 5,
            "a 9 KB stub at max_xmit 2048 is fragmented"
        );
        let mut re = Reassembler::default();
        let mut got = None;
        for f in &frags {
            if level.seals() {
                // The plaintext does not appear on the wire.
                assert!(!f.windows(16).any(|w| req.windows(16).next() == Some(w)));
            }
            let pdu = decode_protected(f, Some(&mut s.prot())).expect("acceptor verifies");
            let Body::Request(r) = pdu.body else {
                panic!("request")
            };
            got = re.push(call_id, pdu.flags, &r.stub).expect("reassembles");
        }
        assert_eq!(got.as_deref(), Some(&req[..]));

        let resp = payload(12_345, round.wrapping_add(100));
        let frags =
            fragment_response(call_id, ctx, &resp, 4280, Some(&mut s.prot())).expect("response");
        let mut out = None;
        for f in &frags {
            match c.receive(f).expect("client verifies") {
                Event::Fragment { .. } => {}
                Event::Response { call_id: id, stub } => {
                    assert_eq!(id, call_id);
                    out = Some(stub);
                }
                e => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(out.as_deref(), Some(&resp[..]));
    }
}

#[test]
fn sealed_exchange_between_our_client_and_acceptor() {
    exchange(AuthLevel::PktPrivacy);
}

#[test]
fn signed_exchange_between_our_client_and_acceptor() {
    exchange(AuthLevel::PktIntegrity);
}

#[test]
fn tampered_response_is_refused_by_the_client() {
    let (mut c, mut s, ctx) = bound(AuthLevel::PktPrivacy);
    let (call_id, frags) = c.request(ctx, 2, None, b"hello").expect("request");
    for f in &frags {
        decode_protected(f, Some(&mut s.prot())).expect("verifies");
    }
    let mut frags = fragment_response(call_id, ctx, b"world, sealed", 4280, Some(&mut s.prot()))
        .expect("response");
    let last = frags.len() - 1;
    frags[last][26] ^= 0x80; // a stub byte
    let err = c.receive(&frags[last]).expect_err("tampering detected");
    assert_eq!(err, Error::Security(AuthError::BadSignature));
}

#[test]
fn tampered_request_is_refused_by_the_acceptor() {
    let (mut c, mut s, ctx) = bound(AuthLevel::PktIntegrity);
    let (_, mut frags) = c.request(ctx, 2, None, b"integrity only").expect("request");
    frags[0][22] ^= 0x01; // the opnum, in the signed header
    let err = decode_protected(&frags[0], Some(&mut s.prot())).expect_err("tampering detected");
    assert_eq!(err, Error::Security(AuthError::BadSignature));
}

#[test]
fn wrong_password_fails_at_the_acceptor() {
    let mut c = client("wrong", AuthLevel::PktPrivacy);
    let mut s = Acceptor::new(AuthLevel::PktPrivacy);
    let (_, bind) = c.bind(EPM).expect("bind");
    let ack = s.bind_ack(&bind);
    let Event::Bound {
        send: Some(auth3), ..
    } = c.receive(&ack).expect("bind_ack")
    else {
        panic!("no auth3")
    };
    assert_eq!(s.auth3(&auth3), Err(AuthError::LogonFailure));
    assert_eq!(PacketType::Auth3.name(), "auth3");
}
