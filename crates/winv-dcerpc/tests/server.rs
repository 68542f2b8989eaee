//! Our client association and our server association on the two ends of a
//! connection with our NTLMv2 on both: binds, authentication legs, fragmented
//! requests and responses signed or sealed both ways, tampering caught on each
//! side, failed logons, refused interfaces and security context multiplexing.

use winv_auth::ntlm::{NtlmClient, NtlmCredentials, NtlmSecret, NtlmServer, NtlmTarget};
use winv_auth::{AuthError, AuthLevel, AuthType, SecurityContext};
use winv_dcerpc::interfaces::{EPM, IOBJECTEXPORTER, ISYSTEMACTIVATOR, NDR};
use winv_dcerpc::pdu::{result, Body, Pdu};
use winv_dcerpc::server::{Incoming, ServerPolicy, STATUS_ACCESS_DENIED};
use winv_dcerpc::{
    ClientAssociation, ClientConfig, Error, Event, ServerAssociation, ServerConfig, SyntaxId,
};

struct Policy {
    refuse: Option<SyntaxId>,
}

impl ServerPolicy for Policy {
    fn accepts(&self, interface: &SyntaxId) -> bool {
        Some(*interface) != self.refuse
    }
    fn security(&mut self, auth_type: AuthType) -> Option<Box<dyn SecurityContext>> {
        if auth_type != AuthType::WinNt {
            return None;
        }
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
        Some(Box::new(ntlm))
    }
}

fn server(refuse: Option<SyntaxId>) -> ServerAssociation {
    ServerAssociation::new(
        ServerConfig {
            max_frag: 2048,
            ..ServerConfig::default()
        },
        Box::new(Policy { refuse }),
    )
}

fn client(password: &str, level: AuthLevel) -> ClientAssociation {
    let security: Option<Box<dyn SecurityContext>> = (level >= AuthLevel::Connect).then(|| {
        Box::new(NtlmClient::new(NtlmCredentials::with_password(
            "inventory",
            "CONTOSO",
            "SCANNER",
            password,
        ))) as Box<dyn SecurityContext>
    });
    ClientAssociation::new(
        ClientConfig {
            auth_level: level,
            ..ClientConfig::default()
        },
        security,
    )
    .expect("association")
}

fn sent(i: Incoming) -> Vec<Vec<u8>> {
    match i {
        Incoming::Send(p) => p,
        other => panic!("expected PDUs to send, got {other:?}"),
    }
}

/// Binds `c` to `s` for `iface`; returns the context id.
fn bind(c: &mut ClientAssociation, s: &mut ServerAssociation, iface: SyntaxId) -> u16 {
    let (ctx, bind) = c.bind(iface).expect("bind");
    let ack = sent(s.receive(&bind).expect("server takes the bind"));
    assert_eq!(ack.len(), 1);
    match c.receive(&ack[0]).expect("bind_ack") {
        Event::Bound { context_id, send } => {
            assert_eq!(context_id, ctx);
            if let Some(auth3) = send {
                assert_eq!(s.receive(&auth3).expect("auth3"), Incoming::Nothing);
            }
        }
        e => panic!("unexpected {e:?}"),
    }
    ctx
}

fn payload(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// One call through both associations; returns what the server saw.
fn call(
    c: &mut ClientAssociation,
    s: &mut ServerAssociation,
    ctx: u16,
    req: &[u8],
    resp: &[u8],
) -> winv_dcerpc::server::Call {
    let (call_id, frags) = c.request(ctx, 4, None, req).expect("request");
    let mut seen = None;
    for (i, f) in frags.iter().enumerate() {
        match s.receive(f).expect("server verifies") {
            Incoming::Nothing => assert!(i + 1 < frags.len()),
            Incoming::Call(call) => seen = Some(call),
            other => panic!("unexpected {other:?}"),
        }
    }
    let seen = seen.expect("a whole call");
    assert_eq!(seen.call_id, call_id);
    assert_eq!(seen.stub, req);
    let out = s.respond(call_id, resp).expect("respond");
    let mut got = None;
    for f in &out {
        match c.receive(f).expect("client verifies") {
            Event::Fragment { .. } => {}
            Event::Response { call_id: id, stub } => {
                assert_eq!(id, call_id);
                got = Some(stub);
            }
            e => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(got.as_deref(), Some(resp));
    seen
}

fn exchange(level: AuthLevel) {
    let mut c = client("S3cret-inventory", level);
    let mut s = server(None);
    let ctx = bind(&mut c, &mut s, ISYSTEMACTIVATOR);
    assert_eq!(
        c.max_xmit_frag(),
        2048,
        "the server's smaller fragment size wins"
    );
    for round in 0..3u8 {
        let req = payload(9_000 + usize::from(round) * 777, round);
        let resp = payload(12_345, round.wrapping_add(100));
        let seen = call(&mut c, &mut s, ctx, &req, &resp);
        assert_eq!(seen.interface, ISYSTEMACTIVATOR);
        assert_eq!(seen.opnum, 4);
        let auth = seen.auth.expect("authenticated call");
        assert_eq!(auth.level, level);
        assert_eq!(auth.auth_type, AuthType::WinNt);
    }
    assert_eq!(s.max_auth_level(), level);
}

#[test]
fn sealed_calls_between_our_client_and_server() {
    exchange(AuthLevel::PktPrivacy);
}

#[test]
fn signed_calls_between_our_client_and_server() {
    exchange(AuthLevel::PktIntegrity);
}

#[test]
fn connect_level_and_unauthenticated_calls() {
    for level in [AuthLevel::Connect, AuthLevel::None] {
        let mut c = client("S3cret-inventory", level);
        let mut s = server(None);
        let ctx = bind(&mut c, &mut s, EPM);
        let seen = call(&mut c, &mut s, ctx, b"plain", b"reply");
        assert_eq!(
            seen.auth.map(|a| a.level),
            (level == AuthLevel::Connect).then_some(level)
        );
    }
}

#[test]
fn sealed_request_does_not_show_plaintext_on_the_wire() {
    let mut c = client("S3cret-inventory", AuthLevel::PktPrivacy);
    let mut s = server(None);
    let ctx = bind(&mut c, &mut s, EPM);
    let secret = b"SELECT * FROM Win32_OperatingSystem -- plaintext marker";
    let (_, frags) = c.request(ctx, 2, None, secret).expect("request");
    assert!(!frags[0].windows(16).any(|w| w == &secret[..16]));
    let Incoming::Call(call) = s.receive(&frags[0]).expect("verifies") else {
        panic!("a call")
    };
    assert_eq!(call.stub, secret);
}

#[test]
fn tampered_request_is_refused_by_the_server() {
    let mut c = client("S3cret-inventory", AuthLevel::PktIntegrity);
    let mut s = server(None);
    let ctx = bind(&mut c, &mut s, EPM);
    let (_, mut frags) = c.request(ctx, 2, None, b"integrity only").expect("request");
    frags[0][22] ^= 0x01; // the opnum, in the signed header
    let err = s.receive(&frags[0]).expect_err("tampering detected");
    assert_eq!(err, Error::Security(AuthError::BadSignature));
}

#[test]
fn tampered_response_is_refused_by_the_client() {
    let mut c = client("S3cret-inventory", AuthLevel::PktPrivacy);
    let mut s = server(None);
    let ctx = bind(&mut c, &mut s, EPM);
    let (call_id, frags) = c.request(ctx, 2, None, b"hello").expect("request");
    let Incoming::Call(_) = s.receive(&frags[0]).expect("verifies") else {
        panic!("a call")
    };
    let mut out = s.respond(call_id, b"world, sealed").expect("respond");
    out[0][26] ^= 0x80; // a stub byte
    let err = c.receive(&out[0]).expect_err("tampering detected");
    assert_eq!(err, Error::Security(AuthError::BadSignature));
}

#[test]
fn failed_logon_answers_calls_with_access_denied() {
    let mut c = client("wrong", AuthLevel::PktPrivacy);
    let mut s = server(None);
    let ctx = bind(&mut c, &mut s, ISYSTEMACTIVATOR);
    assert_eq!(s.max_auth_level(), AuthLevel::None);
    let (call_id, frags) = c.request(ctx, 4, None, b"activate").expect("request");
    let out = sent(
        s.receive(&frags[0])
            .expect("a fault, not a broken connection"),
    );
    match c.receive(&out[0]).expect("fault") {
        Event::Fault {
            call_id: id,
            status,
            did_not_execute,
            ..
        } => {
            assert_eq!(id, call_id);
            assert_eq!(status, STATUS_ACCESS_DENIED);
            assert!(did_not_execute);
        }
        e => panic!("unexpected {e:?}"),
    }
}

#[test]
fn refused_interface_is_a_provider_rejection() {
    let mut c = client("S3cret-inventory", AuthLevel::PktIntegrity);
    let mut s = server(Some(ISYSTEMACTIVATOR));
    let (_, bind) = c.bind(ISYSTEMACTIVATOR).expect("bind");
    let ack = sent(s.receive(&bind).expect("bind"));
    let pdu = Pdu::decode(&ack[0]).expect("bind_ack decodes");
    let Body::BindAck(a) = pdu.body else {
        panic!("bind_ack")
    };
    assert_eq!(a.results[0].result, result::PROVIDER_REJECTION);
    assert_eq!(a.results[0].reason, 1, "abstract_syntax_not_supported");
    assert_eq!(a.results[1].result, result::NEGOTIATE_ACK);
    let err = c.receive(&ack[0]).expect_err("client sees the rejection");
    assert!(
        matches!(err, Error::ContextRejected { reason: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn unsupported_auth_type_is_a_bind_nak() {
    let mut s = ServerAssociation::new(ServerConfig::default(), Box::new(NoAuth));
    let mut c = client("S3cret-inventory", AuthLevel::PktIntegrity);
    let (_, bind) = c.bind(EPM).expect("bind");
    let nak = sent(s.receive(&bind).expect("bind"));
    match c.receive(&nak[0]).expect("bind_nak") {
        Event::BindNak { reason, .. } => assert_eq!(reason, 8),
        e => panic!("unexpected {e:?}"),
    }
}

/// A bind that joins an association group: the one the policy admits is joined (the
/// bind_ack names it), any other gets a bind_nak ([MS-RPCE] 3.3.1.5.2); a bind for a new
/// group (0) gets the server's.
#[test]
fn a_bind_joins_only_a_group_the_policy_admits() {
    struct Group(u32);
    impl ServerPolicy for Group {
        fn accepts(&self, _: &SyntaxId) -> bool {
            true
        }
        fn security(&mut self, _: AuthType) -> Option<Box<dyn SecurityContext>> {
            None
        }
        fn joins(&self, id: u32) -> bool {
            id == self.0
        }
    }
    let config = ServerConfig {
        assoc_group_id: 0x0001_2345,
        ..ServerConfig::default()
    };
    for (asked, joined) in [
        (0, Some(0x0001_2345)),
        (0x0001_2345, Some(0x0001_2345)),
        (0x0dea_dbee, None),
    ] {
        let mut s = ServerAssociation::new(config.clone(), Box::new(Group(0x0001_2345)));
        let mut c = ClientAssociation::new(
            ClientConfig {
                assoc_group_id: asked,
                ..ClientConfig::default()
            },
            None,
        )
        .expect("association");
        let (_, bind) = c.bind(EPM).expect("bind");
        let reply = sent(s.receive(&bind).expect("bind"));
        match (c.receive(&reply[0]).expect("answer"), joined) {
            (Event::Bound { .. }, Some(id)) => assert_eq!(c.assoc_group_id(), id, "{asked:#x}"),
            (Event::BindNak { reason, .. }, None) => assert_eq!(reason, 0, "{asked:#x}"),
            (e, _) => panic!("{asked:#x}: unexpected {e:?}"),
        }
    }
}

struct NoAuth;
impl ServerPolicy for NoAuth {
    fn accepts(&self, _: &SyntaxId) -> bool {
        true
    }
    fn security(&mut self, _: AuthType) -> Option<Box<dyn SecurityContext>> {
        None
    }
}

#[test]
fn alter_context_adds_an_interface_on_the_same_security_context() {
    let mut c = client("S3cret-inventory", AuthLevel::PktPrivacy);
    let mut s = server(None);
    let first = bind(&mut c, &mut s, ISYSTEMACTIVATOR);
    let (second, alter) = c.alter_context(IOBJECTEXPORTER).expect("alter_context");
    let resp = sent(s.receive(&alter).expect("alter_context"));
    assert_eq!(
        c.receive(&resp[0]).expect("alter_context_resp"),
        Event::ContextAdded { context_id: second }
    );
    let a = call(&mut c, &mut s, second, b"ping", b"pong");
    assert_eq!(a.interface, IOBJECTEXPORTER);
    let b = call(&mut c, &mut s, first, b"again", b"done");
    assert_eq!(b.interface, ISYSTEMACTIVATOR);
}

#[test]
fn a_second_security_context_on_one_connection_is_kept_apart() {
    // What impacket does with alter_ctx: a new auth_context_id with its own
    // NTLM exchange on the same connection. Two client associations stand in
    // for the two contexts; the server keeps one RC4 state per context.
    let mut c1 = client("S3cret-inventory", AuthLevel::PktPrivacy);
    let mut s = server(None);
    let ctx1 = bind(&mut c1, &mut s, ISYSTEMACTIVATOR);
    let (mut c2, ctx2) = extra_context(&mut s, 79232, 7);
    assert_eq!(ctx2, 0);
    // Calls alternate between the contexts; each verifies with its own keys.
    for i in 0..3u8 {
        call(&mut c1, &mut s, ctx1, &payload(100, i), b"one");
        let (call_id, frags) = c2.request(ctx2, 1, None, &payload(50, i)).expect("request");
        let seen = s
            .receive(&frags[0])
            .expect("verified with the second context");
        let Incoming::Call(seen) = seen else {
            panic!("a call")
        };
        assert_eq!(seen.auth.map(|a| a.context_id), Some(79232));
        let out = s.respond(call_id, b"two").expect("respond");
        assert!(matches!(
            c2.receive(&out[0]).expect("c2 verifies"),
            Event::Response { .. }
        ));
    }
}

/// Opens another security context on `s`'s connection, as impacket's
/// alter_ctx does: an alter_context carrying a fresh NTLM negotiate under a
/// new `auth_context_id`, then auth3. Returns the client side and its context id.
fn extra_context(
    s: &mut ServerAssociation,
    auth_context_id: u32,
    pres_ctx: u16,
) -> (ClientAssociation, u16) {
    let mut c = ClientAssociation::new(
        ClientConfig {
            auth_level: AuthLevel::PktPrivacy,
            auth_context_id,
            ..ClientConfig::default()
        },
        Some(Box::new(NtlmClient::new(NtlmCredentials::with_password(
            "inventory",
            "CONTOSO",
            "SCANNER",
            "S3cret-inventory",
        )))),
    )
    .expect("another context");
    let (ctx, bind) = c.bind(IOBJECTEXPORTER).expect("bind");
    let mut pdu = Pdu::decode(&bind).expect("decodes");
    let Body::Bind(mut b) = pdu.body else {
        panic!("bind")
    };
    b.contexts.truncate(1);
    b.contexts[0].context_id = pres_ctx;
    pdu.body = Body::AlterContext(b);
    let resp = sent(
        s.receive(&pdu.encode().expect("encode"))
            .expect("alter_context"),
    );
    let mut ack = Pdu::decode(&resp[0]).expect("decodes");
    let Body::AlterContextResp(mut a) = ack.body else {
        panic!("alter_context_resp")
    };
    assert_eq!(a.results[0].result, result::ACCEPTANCE);
    assert_eq!(a.results[0].transfer_syntax, NDR);
    // Hand it to the client as the bind_ack it waits for, with the feature
    // negotiation result it asked for.
    a.results.push(winv_dcerpc::pdu::ContextResult {
        result: result::NEGOTIATE_ACK,
        reason: 3,
        transfer_syntax: SyntaxId::new(uuid::Uuid::nil(), 0, 0),
    });
    ack.body = Body::BindAck(a);
    let Event::Bound {
        send: Some(auth3), ..
    } = c.receive(&ack.encode().expect("encode")).expect("bound")
    else {
        panic!("auth3 expected")
    };
    assert_eq!(s.receive(&auth3).expect("auth3"), Incoming::Nothing);
    (c, ctx)
}

#[test]
fn a_long_session_of_new_security_contexts_keeps_the_newest() {
    // impacket opens a security context per interface switch; a long session
    // opens more than the cap, and the newest must keep working.
    let mut c1 = client("S3cret-inventory", AuthLevel::PktPrivacy);
    let mut s = server(None);
    bind(&mut c1, &mut s, ISYSTEMACTIVATOR);
    for i in 0..100u32 {
        let (mut c, ctx) = extra_context(&mut s, 80_000 + i, 7);
        let (call_id, frags) = c.request(ctx, 1, None, b"ping").expect("request");
        let Incoming::Call(seen) = s.receive(&frags[0]).expect("verified") else {
            panic!("a call")
        };
        assert_eq!(seen.auth.map(|a| a.context_id), Some(80_000 + i));
        let out = s.respond(call_id, b"pong").expect("respond");
        assert!(matches!(
            c.receive(&out[0]).expect("verifies"),
            Event::Response { .. }
        ));
    }
}
