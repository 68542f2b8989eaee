//! Our client association with our Kerberos initiator against our server
//! association with our Kerberos acceptor, in memory: the DCE-style three
//! legs (AP-REQ in the bind, AP-REP in the bind_ack, the client's AP-REP in an
//! alter_context, never an auth3), raw and SPNEGO, at integrity and privacy
//! with and without header signing, tampering caught both ways, and the
//! acceptor's named refusals (wrong key, skew, replay, expired ticket, wrong
//! principal) reaching the client as Kerberos codes.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use winv_auth::kerberos::codes;
use winv_auth::kerberos::files::{Keytab, KeytabEntry};
use winv_auth::kerberos::server::issue_ticket;
use winv_auth::kerberos::{Etype, KerberosClient, KerberosMech, KerberosServer, Key, KrbError, Principal, ReplayCache};
use winv_auth::{AuthError, AuthLevel, AuthType, SecurityContext};
use winv_dcerpc::interfaces::EPM;
use winv_dcerpc::pdu::{Body, PacketType, Pdu};
use winv_dcerpc::server::{Incoming, ServerPolicy};
use winv_dcerpc::{ClientAssociation, ClientConfig, Error, Event, ServerAssociation, ServerConfig, SyntaxId};

const NOW: i64 = 1_800_000_000;
const REALM: &str = "LAB.TEST";

struct Policy {
    keytab: Arc<Keytab>,
    replay: Arc<Mutex<ReplayCache>>,
    now: i64,
}

impl ServerPolicy for Policy {
    fn accepts(&self, _: &SyntaxId) -> bool {
        true
    }
    fn security(&mut self, t: AuthType) -> Option<Box<dyn SecurityContext>> {
        let mech = match t {
            AuthType::GssKerberos => KerberosMech::Raw,
            AuthType::GssNegotiate => KerberosMech::Spnego,
            _ => return None,
        };
        Some(Box::new(KerberosServer::new(
            mech,
            self.keytab.clone(),
            REALM,
            self.replay.clone(),
            AuthLevel::PktPrivacy,
            self.now,
        )))
    }
}

fn host_key() -> Key {
    Key::from_password(Etype::Aes256CtsHmacSha196, "host-secret", b"LAB.TESThostweb1.lab.test", 4096).unwrap()
}

fn spn() -> Principal {
    Principal::service("host/web1.lab.test", REALM)
}

fn keytab(key: &Key) -> Arc<Keytab> {
    Arc::new(Keytab {
        entries: vec![KeytabEntry { principal: spn(), kvno: 2, key: key.clone() }],
        skipped: 0,
    })
}

fn server(keytab: Arc<Keytab>, now: i64, replay: Arc<Mutex<ReplayCache>>, header_signing: bool) -> ServerAssociation {
    ServerAssociation::new(
        ServerConfig { header_signing, ..ServerConfig::default() },
        Box::new(Policy { keytab, replay, now }),
    )
}

fn client(mech: KerberosMech, level: AuthLevel, cred: winv_auth::kerberos::Credential, now: i64) -> ClientAssociation {
    let ctx = KerberosClient::new(mech, cred, level, now, 4242).unwrap();
    ClientAssociation::new(ClientConfig { auth_level: level, ..ClientConfig::default() }, Some(Box::new(ctx))).unwrap()
}

fn sent(i: Incoming) -> Vec<u8> {
    match i {
        Incoming::Send(mut p) => {
            assert_eq!(p.len(), 1);
            p.remove(0)
        }
        other => panic!("expected a pdu, got {other:?}"),
    }
}

/// Runs the legs; returns the PDU types the client sent.
fn bind(c: &mut ClientAssociation, s: &mut ServerAssociation) -> Result<(u16, Vec<PacketType>), Error> {
    let (ctx, pdu) = c.bind(EPM)?;
    let mut types = vec![Pdu::decode(&pdu).unwrap().packet_type()];
    let mut reply = sent(s.receive(&pdu).unwrap());
    loop {
        match c.receive(&reply)? {
            Event::Bound { context_id, send } => {
                assert_eq!(context_id, ctx);
                assert!(send.is_none(), "kerberos never sends an auth3");
                return Ok((ctx, types));
            }
            Event::AuthContinue { send } => {
                types.push(Pdu::decode(&send).unwrap().packet_type());
                reply = sent(s.receive(&send).unwrap());
            }
            e => panic!("unexpected {e:?}"),
        }
    }
}

fn call(c: &mut ClientAssociation, s: &mut ServerAssociation, ctx: u16, req: &[u8], resp: &[u8]) -> Vec<u8> {
    let (id, frags) = c.request(ctx, 3, None, req).unwrap();
    let mut got = None;
    for f in &frags {
        if let Incoming::Call(call) = s.receive(f).unwrap() {
            got = Some(call);
        }
    }
    let call = got.expect("whole call");
    assert_eq!(call.stub, req);
    let mut out = None;
    for f in s.respond(call.call_id, resp).unwrap() {
        if let Event::Response { call_id, stub } = c.receive(&f).unwrap() {
            assert_eq!(call_id, id);
            out = Some(stub);
        }
    }
    out.unwrap()
}

fn ticket(key: &Key, start: i64, end: i64) -> winv_auth::kerberos::Credential {
    issue_ticket(key, 2, &Principal::user("inventory", REALM), &spn(), start, end).unwrap()
}

#[test]
fn three_legs_then_sealed_and_signed_calls() {
    let key = host_key();
    for mech in [KerberosMech::Raw, KerberosMech::Spnego] {
        for level in [AuthLevel::PktIntegrity, AuthLevel::PktPrivacy] {
            let replay = Arc::new(Mutex::new(ReplayCache::default()));
            let mut s = server(keytab(&key), NOW, replay, true);
            let mut c = client(mech, level, ticket(&key, NOW - 10, NOW + 36_000), NOW);
            let (ctx, types) = bind(&mut c, &mut s).unwrap();
            assert_eq!(
                types,
                vec![PacketType::Bind, PacketType::AlterContext],
                "{mech:?}: ap-req in the bind, the client's ap-rep in an alter_context"
            );
            let big: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
            assert_eq!(call(&mut c, &mut s, ctx, b"hello", b"world"), b"world");
            assert_eq!(call(&mut c, &mut s, ctx, &big, &big[..9000]), &big[..9000]);
        }
    }
}

#[test]
fn without_header_signing_privacy_still_works() {
    let key = host_key();
    let mut s = server(keytab(&key), NOW, Arc::default(), false);
    let mut c = client(KerberosMech::Raw, AuthLevel::PktPrivacy, ticket(&key, NOW, NOW + 3600), NOW);
    let (ctx, _) = bind(&mut c, &mut s).unwrap();
    assert_eq!(call(&mut c, &mut s, ctx, b"abc", b"defg"), b"defg");
}

#[test]
fn tampered_sealed_pdus_are_rejected_both_ways() {
    let key = host_key();
    let mut s = server(keytab(&key), NOW, Arc::default(), true);
    let mut c = client(KerberosMech::Spnego, AuthLevel::PktPrivacy, ticket(&key, NOW, NOW + 3600), NOW);
    let (ctx, _) = bind(&mut c, &mut s).unwrap();
    // Client to server: a flipped stub byte.
    let (_, mut frags) = c.request(ctx, 3, None, &[7u8; 64]).unwrap();
    frags[0][30] ^= 1;
    assert_eq!(s.receive(&frags[0]).unwrap_err(), Error::Security(AuthError::BadSignature));
    // Server to client: a flipped header byte (header signing covers it).
    let mut c = client(KerberosMech::Raw, AuthLevel::PktPrivacy, ticket(&key, NOW, NOW + 3600), NOW + 1);
    let mut s = server(keytab(&key), NOW + 1, Arc::default(), true);
    let (ctx, _) = bind(&mut c, &mut s).unwrap();
    let (_, frags) = c.request(ctx, 3, None, b"req").unwrap();
    let Incoming::Call(call) = s.receive(&frags[0]).unwrap() else { panic!() };
    let mut resp = s.respond(call.call_id, b"response stub").unwrap();
    resp[0][20] ^= 0x10; // alloc_hint
    assert_eq!(c.receive(&resp[0]).unwrap_err(), Error::Security(AuthError::BadSignature));
}

fn refusal(c: &mut ClientAssociation, s: &mut ServerAssociation) -> i32 {
    match bind(c, s) {
        Err(Error::Security(AuthError::Kerberos(KrbError::Protocol { code, .. }))) => code,
        other => panic!("expected a kerberos refusal, got {other:?}"),
    }
}

#[test]
fn the_acceptor_refuses_as_windows_does() {
    let key = host_key();
    for mech in [KerberosMech::Raw, KerberosMech::Spnego] {
        // Wrong key (the host's password changed since the ticket).
        let other = Key::random(Etype::Aes256CtsHmacSha196).unwrap();
        let mut s = server(keytab(&other), NOW, Arc::default(), true);
        let mut c = client(mech, AuthLevel::PktPrivacy, ticket(&key, NOW, NOW + 3600), NOW);
        assert_eq!(refusal(&mut c, &mut s), codes::KRB_AP_ERR_MODIFIED, "{mech:?}");
        // Wrong principal: a ticket for another host's SPN (with that host's key).
        let db1 = Key::random(Etype::Aes256CtsHmacSha196).unwrap();
        let stranger = issue_ticket(&db1, 2, &Principal::user("inventory", REALM), &Principal::service("host/db1.lab.test", REALM), NOW, NOW + 3600).unwrap();
        let mut s = server(keytab(&key), NOW, Arc::default(), true);
        let mut c = client(mech, AuthLevel::PktPrivacy, stranger, NOW);
        assert_eq!(refusal(&mut c, &mut s), codes::name_code("KRB_AP_ERR_NOT_US"));
        // Skew: the host's clock ten minutes ahead.
        let mut s = server(keytab(&key), NOW + 600, Arc::default(), true);
        let mut c = client(mech, AuthLevel::PktPrivacy, ticket(&key, NOW, NOW + 3600), NOW);
        assert_eq!(refusal(&mut c, &mut s), codes::KRB_AP_ERR_SKEW);
        // Expired: the ticket ended an hour ago by the host's clock (the
        // client's clock, far behind, still thinks it valid).
        let mut s = server(keytab(&key), NOW + 7200, Arc::default(), true);
        let mut c = client(mech, AuthLevel::PktPrivacy, ticket(&key, NOW, NOW + 3600), NOW + 3000);
        let code = match bind(&mut c, &mut s) {
            Err(Error::Security(AuthError::Kerberos(KrbError::Protocol { code, .. }))) => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(code, codes::KRB_AP_ERR_TKT_EXPIRED);
    }
    // Replay: the same AP-REQ twice to one host.
    let replay = Arc::new(Mutex::new(ReplayCache::default()));
    let mut c = client(KerberosMech::Raw, AuthLevel::PktPrivacy, ticket(&key, NOW, NOW + 3600), NOW);
    let (_, bind_pdu) = c.bind(EPM).unwrap();
    let mut s1 = server(keytab(&key), NOW, replay.clone(), true);
    let first = sent(s1.receive(&bind_pdu).unwrap());
    let mut s2 = server(keytab(&key), NOW, replay, true);
    let second = sent(s2.receive(&bind_pdu).unwrap());
    let ack = Pdu::decode(&second).unwrap();
    assert!(matches!(ack.body, Body::BindAck(_)));
    let token = ack.auth.unwrap().value;
    let err = winv_auth::kerberos::messages::KrbErrorMsg::decode(&token).unwrap();
    assert_eq!(err.code, codes::KRB_AP_ERR_REPEAT);
    assert!(matches!(c.receive(&first).unwrap(), Event::AuthContinue { .. }));
}

#[test]
fn a_tampered_ap_rep_is_rejected() {
    let key = host_key();
    let mut s = server(keytab(&key), NOW, Arc::default(), true);
    let mut c = client(KerberosMech::Raw, AuthLevel::PktPrivacy, ticket(&key, NOW, NOW + 3600), NOW);
    let (_, pdu) = c.bind(EPM).unwrap();
    let mut ack = sent(s.receive(&pdu).unwrap());
    let n = ack.len();
    ack[n - 3] ^= 0x40;
    assert_eq!(
        c.receive(&ack).unwrap_err(),
        Error::Security(AuthError::Kerberos(KrbError::Integrity))
    );
}

#[test]
fn an_expired_ticket_is_refused_before_the_bind() {
    let key = host_key();
    let cred = ticket(&key, NOW - 7200, NOW - 3600);
    assert_eq!(
        KerberosClient::new(KerberosMech::Raw, cred, AuthLevel::PktPrivacy, NOW, 0).unwrap_err(),
        KrbError::TicketTime("expired")
    );
}
