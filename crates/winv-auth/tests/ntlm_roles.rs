//! Client, server and passive roles of the NTLMv2 provider talking to each
//! other.

use winv_auth::ntlm::messages::{AuthenticateMessage, ChallengeMessage, AUTHENTICATE_MIC_OFFSET};
use winv_auth::ntlm::{
    flags, NtlmClient, NtlmCredentials, NtlmPassive, NtlmSecret, NtlmServer, NtlmTarget,
};
use winv_auth::{AuthError, AuthType, SecurityContext, Step};

fn target() -> NtlmTarget {
    NtlmTarget {
        nb_computer_name: "WINHOST".into(),
        nb_domain_name: "CORP".into(),
        dns_computer_name: "winhost.corp.example".into(),
        dns_domain_name: "corp.example".into(),
    }
}

fn server() -> NtlmServer {
    let mut s = NtlmServer::new(target());
    s.add_user(
        "Administrator",
        "CORP",
        NtlmSecret::from_password("S3cret!"),
    );
    s.add_user("local", "", NtlmSecret::from_password("pw"));
    s
}

fn client(user: &str, domain: &str, password: &str) -> NtlmClient {
    NtlmClient::new(NtlmCredentials::with_password(
        user, domain, "LINUXBOX", password,
    ))
}

struct Run {
    negotiate: Vec<u8>,
    challenge: Vec<u8>,
    authenticate: Vec<u8>,
}

/// Runs the three legs; returns the messages and the server's final result.
fn handshake(c: &mut NtlmClient, s: &mut NtlmServer) -> (Run, Result<Step, AuthError>) {
    let negotiate = match c.step(None).expect("negotiate") {
        Step::Continue(t) => t,
        other => panic!("unexpected {other:?}"),
    };
    let challenge = match s.step(Some(&negotiate)).expect("challenge") {
        Step::Continue(t) => t,
        other => panic!("unexpected {other:?}"),
    };
    let authenticate = match c.step(Some(&challenge)).expect("authenticate") {
        Step::Done(Some(t)) => t,
        other => panic!("unexpected {other:?}"),
    };
    let r = s.step(Some(&authenticate));
    (
        Run {
            negotiate,
            challenge,
            authenticate,
        },
        r,
    )
}

fn pdu(i: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|j| (j as u8).wrapping_mul(31).wrapping_add(i))
        .collect()
}

#[test]
fn client_and_server_authenticate_and_exchange_traffic() {
    let mut c = client("administrator", "corp", "S3cret!");
    let mut s = server();
    assert_eq!(c.auth_type(), AuthType::WinNt);
    assert!(!c.is_established());
    let (run, r) = handshake(&mut c, &mut s);
    assert_eq!(r.expect("server accepts"), Step::Done(None));
    assert!(c.is_established() && s.is_established());
    assert_eq!(s.authenticated_user(), Some(("administrator", "corp")));
    assert_eq!(c.signature_len(), 16);

    // The client offered exactly what it should, and never LM_KEY.
    let neg = winv_auth::ntlm::NegotiateMessage::decode(&run.negotiate).expect("negotiate");
    assert_eq!(neg.flags, flags::CLIENT_OFFER);
    assert_eq!(neg.flags & flags::NEGOTIATE_LM_KEY, 0);
    // The challenge carries the names and a timestamp; so the LM response is Z(24).
    let ch = ChallengeMessage::decode(&run.challenge).expect("challenge");
    assert!(ch.target_info.iter().any(|p| p.id == 7));
    assert!(ch.target_info.iter().any(|p| p.id == 1));
    let au = AuthenticateMessage::decode(&run.authenticate).expect("authenticate");
    assert_eq!(au.lm_response, vec![0u8; 24]);
    assert!(au.mic.is_some());
    assert_eq!(au.encrypted_session_key.len(), 16);
    assert_ne!(au.flags & flags::NEGOTIATE_KEY_EXCH, 0);

    // Several sealed and signed messages both ways.
    for i in 0..5u8 {
        let plain = pdu(i, 40 + usize::from(i));
        let seal = 16..plain.len() - 8;
        let mut m = plain.clone();
        let sig = c.protect(&mut m, Some(seal.clone())).expect("protect");
        assert_eq!(sig.len(), 16);
        assert_eq!(&sig[..4], &[1, 0, 0, 0]);
        assert_eq!(
            u32::from_le_bytes(sig[12..16].try_into().expect("4 bytes")),
            u32::from(i)
        );
        assert_ne!(m[seal.clone()], plain[seal.clone()], "sealed bytes changed");
        assert_eq!(
            m[..16],
            plain[..16],
            "bytes outside the seal range untouched"
        );
        s.unprotect(&mut m, Some(seal.clone()), &sig)
            .expect("server verifies");
        assert_eq!(m, plain);

        // Server to client, signed only.
        let plain = pdu(100 + i, 33);
        let mut m = plain.clone();
        let sig = s.protect(&mut m, None).expect("protect");
        assert_eq!(m, plain);
        c.unprotect(&mut m, None, &sig).expect("client verifies");
    }
    assert_eq!(c.sequence_numbers(), Some((5, 5)));
    assert_eq!(s.sequence_numbers(), Some((5, 5)));
}

#[test]
fn tampering_is_bad_signature() {
    // Any flipped byte of the sealed message or of its signature fails.
    let plain = pdu(7, 24);
    let total = plain.len() + 16;
    for pos in 0..total {
        let mut c = client("Administrator", "CORP", "S3cret!");
        let mut s = server();
        let (_, r) = handshake(&mut c, &mut s);
        r.expect("accepts");
        let mut m = plain.clone();
        let mut sig = c.protect(&mut m, Some(8..24)).expect("protect");
        if pos < m.len() {
            m[pos] ^= 0x01;
        } else {
            sig[pos - m.len()] ^= 0x01;
        }
        assert_eq!(
            s.unprotect(&mut m, Some(8..24), &sig),
            Err(AuthError::BadSignature),
            "flip at {pos}"
        );
    }
}

#[test]
fn replayed_or_reordered_messages_fail() {
    let mut c = client("Administrator", "CORP", "S3cret!");
    let mut s = server();
    handshake(&mut c, &mut s).1.expect("accepts");
    let mut m1 = pdu(1, 20);
    let sig1 = c.protect(&mut m1, None).expect("protect");
    let mut m2 = pdu(2, 20);
    let sig2 = c.protect(&mut m2, None).expect("protect");
    // Second message first: wrong sequence number.
    assert_eq!(
        s.unprotect(&mut m2, None, &sig2),
        Err(AuthError::BadSignature)
    );
    // A signature from the other direction never verifies either.
    let mut c2 = client("Administrator", "CORP", "S3cret!");
    let mut s2 = server();
    handshake(&mut c2, &mut s2).1.expect("accepts");
    let mut m = pdu(3, 20);
    let sig = c2.protect(&mut m.clone(), None).expect("protect");
    assert_eq!(
        c2.unprotect(&mut m, None, &sig),
        Err(AuthError::BadSignature)
    );
    let _ = sig1;
}

#[test]
fn wrong_password_and_unknown_user_are_logon_failure() {
    let mut s = server();
    let (_, r) = handshake(&mut client("Administrator", "CORP", "wrong"), &mut s);
    assert_eq!(r, Err(AuthError::LogonFailure));
    assert!(!s.is_established());
    assert_eq!(s.authenticated_user(), None);

    let mut s = server();
    let (_, r) = handshake(&mut client("nobody", "CORP", "S3cret!"), &mut s);
    assert_eq!(r, Err(AuthError::LogonFailure));

    // A user entered with an empty domain matches any domain.
    let mut s = server();
    let (_, r) = handshake(&mut client("LOCAL", "WINHOST", "pw"), &mut s);
    assert_eq!(r, Ok(Step::Done(None)));
    // But the same user with a wrong password still fails.
    let mut s = server();
    let (_, r) = handshake(&mut client("local", "WINHOST", "px"), &mut s);
    assert_eq!(r, Err(AuthError::LogonFailure));
}

/// Runs NEGOTIATE/CHALLENGE/AUTHENTICATE, lets `edit` change the AUTHENTICATE
/// bytes and returns the server's verdict.
fn with_edited_authenticate(edit: impl FnOnce(&mut Vec<u8>)) -> Result<Step, AuthError> {
    let mut c = client("Administrator", "CORP", "S3cret!");
    let mut s = server();
    let Step::Continue(n) = c.step(None).expect("negotiate") else {
        panic!()
    };
    let Step::Continue(ch) = s.step(Some(&n)).expect("challenge") else {
        panic!()
    };
    let Step::Done(Some(mut a)) = c.step(Some(&ch)).expect("authenticate") else {
        panic!()
    };
    edit(&mut a);
    s.step(Some(&a))
}

#[test]
fn tampered_mic_is_bad_mic() {
    let r = with_edited_authenticate(|a| a[AUTHENTICATE_MIC_OFFSET + 3] ^= 0x80);
    assert_eq!(r, Err(AuthError::BadMic));
    // Changing the flags (covered by the MIC, not by NTProofStr) is caught too.
    let r = with_edited_authenticate(|a| a[60] ^= 0x10);
    assert_eq!(r, Err(AuthError::BadMic));
    // Changing the workstation name (covered by the MIC only) is caught.
    let r = with_edited_authenticate(|a| {
        let mut m = AuthenticateMessage::decode(a).expect("decode");
        m.workstation = "EVILBOX"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        *a = m.encode().expect("encode");
    });
    assert_eq!(r, Err(AuthError::BadMic));
    // Flipping the encrypted session key changes the exported key: the MIC fails.
    let r = with_edited_authenticate(|a| {
        let m = AuthenticateMessage::decode(a).expect("decode");
        let mut m2 = m.clone();
        m2.encrypted_session_key[0] ^= 1;
        *a = m2.encode().expect("encode");
    });
    assert_eq!(r, Err(AuthError::BadMic));
    // Removing the MIC while MsvAvFlags announces it is refused too.
    let r = with_edited_authenticate(|a| {
        let mut m = AuthenticateMessage::decode(a).expect("decode");
        m.mic = None;
        *a = m.encode().expect("encode");
    });
    assert_eq!(r, Err(AuthError::BadMic));
    // Sanity: the unedited message is accepted.
    assert_eq!(with_edited_authenticate(|_| {}), Ok(Step::Done(None)));
}

#[test]
fn ntlmv1_and_anonymous_are_refused() {
    let r = with_edited_authenticate(|a| {
        let mut m = AuthenticateMessage::decode(a).expect("decode");
        m.nt_response.truncate(24);
        *a = m.encode().expect("encode");
    });
    assert_eq!(r, Err(AuthError::Unsupported("ntlmv1 response")));
    let r = with_edited_authenticate(|a| {
        let mut m = AuthenticateMessage::decode(a).expect("decode");
        m.nt_response.clear();
        m.user.clear();
        m.lm_response = vec![0];
        *a = m.encode().expect("encode");
    });
    assert_eq!(r, Err(AuthError::Unsupported("anonymous authentication")));
}

#[test]
fn client_refuses_weak_challenges() {
    let mut s = server();
    let mut c = client("Administrator", "CORP", "S3cret!");
    let Step::Continue(n) = c.step(None).expect("negotiate") else {
        panic!()
    };
    let Step::Continue(ch) = s.step(Some(&n)).expect("challenge") else {
        panic!()
    };
    for (drop, what) in [
        (
            flags::NEGOTIATE_EXTENDED_SESSIONSECURITY,
            "server lacks extended session security",
        ),
        (flags::NEGOTIATE_TARGET_INFO, "server sent no target info"),
    ] {
        let mut m = ChallengeMessage::decode(&ch).expect("decode");
        m.flags &= !drop;
        let mut c = client("Administrator", "CORP", "S3cret!");
        c.step(None).expect("negotiate");
        assert_eq!(
            c.step(Some(&m.encode().expect("encode"))),
            Err(AuthError::Unsupported(what))
        );
    }
}

#[test]
fn out_of_order_use_is_a_state_error() {
    let mut c = client("a", "b", "c");
    let mut m = vec![0u8; 8];
    assert!(matches!(c.protect(&mut m, None), Err(AuthError::State(_))));
    assert!(matches!(c.step(Some(b"x")), Err(AuthError::State(_))));
    let mut s = server();
    assert!(matches!(s.step(None), Err(AuthError::State(_))));
    assert!(matches!(
        s.unprotect(&mut m, None, &[0; 16]),
        Err(AuthError::State(_))
    ));
}

#[test]
fn seal_range_outside_message_is_refused() {
    let mut c = client("Administrator", "CORP", "S3cret!");
    let mut s = server();
    handshake(&mut c, &mut s).1.expect("accepts");
    let mut m = vec![0u8; 8];
    assert!(matches!(
        c.protect(&mut m, Some(4..9)),
        Err(AuthError::State(_))
    ));
}

#[test]
fn debug_output_has_no_secrets() {
    let creds = NtlmCredentials::with_password("u", "d", "w", "hunter2");
    let dbg = format!("{creds:?}");
    assert!(!dbg.contains("hunter2"));
    let hash = hex::encode(winv_auth::ntlm::crypto::nt_hash("hunter2"));
    assert!(!dbg.contains(&hash));
    assert!(dbg.contains("<redacted>"));
}

#[test]
fn passive_decrypts_both_directions() {
    let mut c = client("Administrator", "CORP", "S3cret!");
    let mut s = server();
    let (run, r) = handshake(&mut c, &mut s);
    r.expect("accepts");

    // Capture traffic both ways.
    let mut captured = Vec::new();
    for i in 0..4u8 {
        let plain = pdu(i, 48);
        let mut m = plain.clone();
        let sig = c.protect(&mut m, Some(24..48)).expect("protect");
        s.unprotect(&mut m.clone(), Some(24..48), &sig)
            .expect("server");
        captured.push((true, plain, m, sig));
        let plain = pdu(50 + i, 36);
        let mut m = plain.clone();
        let sig = s.protect(&mut m, Some(0..36)).expect("protect");
        c.unprotect(&mut m.clone(), Some(0..36), &sig)
            .expect("client");
        captured.push((false, plain, m, sig));
    }

    let (mut c2s, mut s2c) = NtlmPassive::from_messages(
        &run.negotiate,
        &run.challenge,
        &run.authenticate,
        &NtlmSecret::from_password("S3cret!"),
    )
    .expect("passive keys");
    assert_eq!(c2s.user(), ("Administrator", "CORP"));
    assert!(c2s.is_established());
    for (from_client, plain, mut wire, sig) in captured.clone() {
        if from_client {
            c2s.unprotect(&mut wire, Some(24..48), &sig).expect("c2s");
        } else {
            s2c.unprotect(&mut wire, Some(0..36), &sig).expect("s2c");
        }
        assert_eq!(wire, plain);
    }
    assert_eq!((c2s.next_seq(), s2c.next_seq()), (4, 4));

    // Wrong password: the NTProofStr check fails.
    let r = NtlmPassive::from_messages(
        &run.negotiate,
        &run.challenge,
        &run.authenticate,
        &NtlmSecret::from_password("S3cret?"),
    );
    assert_eq!(r.err(), Some(AuthError::LogonFailure));

    // Keys from a NT hash work the same.
    let hash = winv_auth::ntlm::crypto::nt_hash("S3cret!");
    let (mut c2s, _) = NtlmPassive::from_messages(
        &run.negotiate,
        &run.challenge,
        &run.authenticate,
        &NtlmSecret::from_nt_hash(hash),
    )
    .expect("passive keys");
    let (_, plain, mut wire, sig) = captured[0].clone();
    c2s.unprotect(&mut wire, Some(24..48), &sig).expect("c2s");
    assert_eq!(wire, plain);
}

/// A man in the middle who knows the password reads the server's stream with one passive
/// context and writes the client's with a second of the same direction: the real client
/// accepts what it re-sealed, altered or not, and a byte flipped after sealing still fails.
#[test]
fn a_second_passive_context_re_seals_what_the_client_accepts() {
    let mut c = client("Administrator", "CORP", "S3cret!");
    let mut s = server();
    let (run, r) = handshake(&mut c, &mut s);
    r.expect("accepts");
    let secret = NtlmSecret::from_password("S3cret!");
    let (_, mut read_server) =
        NtlmPassive::from_messages(&run.negotiate, &run.challenge, &run.authenticate, &secret)
            .expect("passive keys");
    let (_, mut write_client) =
        NtlmPassive::from_messages(&run.negotiate, &run.challenge, &run.authenticate, &secret)
            .expect("passive keys");
    for i in 0..3u8 {
        let plain = pdu(70 + i, 40);
        let mut wire = plain.clone();
        let sig = s.protect(&mut wire, Some(8..40)).expect("server protects");
        read_server
            .unprotect(&mut wire, Some(8..40), &sig)
            .expect("the proxy reads the server");
        assert_eq!(wire, plain);
        // Altered (the proxy's behaviour), then sealed for the client.
        wire[20] ^= 0x5a;
        let altered = wire.clone();
        let sig = write_client
            .protect(&mut wire, Some(8..40))
            .expect("the proxy re-seals");
        assert_ne!(wire[8..40], altered[8..40], "sealed");
        c.unprotect(&mut wire, Some(8..40), &sig)
            .expect("the client accepts the re-sealed message");
        assert_eq!(wire, altered);
    }
    // Tampering after sealing is still caught.
    let mut wire = pdu(90, 40);
    let sig = write_client
        .protect(&mut wire, Some(8..40))
        .expect("re-seal");
    wire[30] ^= 1;
    assert_eq!(
        c.unprotect(&mut wire, Some(8..40), &sig).err(),
        Some(AuthError::BadSignature)
    );
}

#[test]
fn passive_finds_messages_inside_spnego() {
    let mut c = client("Administrator", "CORP", "S3cret!");
    let mut s = server();
    let (run, r) = handshake(&mut c, &mut s);
    r.expect("accepts");
    let wrapped = spnego_resp(&run.authenticate);
    assert_eq!(
        winv_auth::ntlm::find_ntlmssp(&wrapped),
        Some(&run.authenticate[..])
    );
    NtlmPassive::from_messages(
        &run.negotiate,
        &run.challenge,
        &wrapped,
        &NtlmSecret::from_password("S3cret!"),
    )
    .expect("passive through spnego");
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = content.len();
    if n < 0x80 {
        v.push(n as u8);
    } else if n < 0x100 {
        v.extend_from_slice(&[0x81, n as u8]);
    } else {
        v.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    }
    v.extend_from_slice(content);
    v
}

/// NegTokenResp { negState accept-incomplete, responseToken }.
fn spnego_resp(token: &[u8]) -> Vec<u8> {
    let mut seq = der(0xa0, &der(0x0a, &[1]));
    seq.extend(der(0xa2, &der(0x04, token)));
    der(0xa1, &der(0x30, &seq))
}

/// A local account (`.\user`): the AUTHENTICATE message carries the server's own NetBIOS
/// computer name as the domain, taken from its CHALLENGE, and a server whose account
/// database holds the user under its computer name accepts it.
#[test]
fn a_local_account_sends_the_servers_computer_name_as_domain() {
    let mut creds = NtlmCredentials::with_password("helpdesk", "", "LINUXBOX", "Local-Pw1");
    creds.domain_from_challenge = true;
    let mut c = NtlmClient::new(creds);
    let mut s = NtlmServer::new(target());
    s.add_user(
        "helpdesk",
        "WINHOST",
        NtlmSecret::from_password("Local-Pw1"),
    );
    let (run, r) = handshake(&mut c, &mut s);
    assert!(r.is_ok(), "{r:?}");
    let auth = AuthenticateMessage::decode(&run.authenticate).expect("authenticate decodes");
    let domain = String::from_utf16(
        &auth
            .domain
            .chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .collect::<Vec<_>>(),
    )
    .expect("utf-16");
    assert_eq!(domain, "WINHOST");
    assert_eq!(s.authenticated_user(), Some(("helpdesk", "WINHOST")));
    // Without the flag the (empty) domain given is sent.
    let mut c = client("helpdesk", "", "Local-Pw1");
    let mut s = NtlmServer::new(target());
    let (run, _) = handshake(&mut c, &mut s);
    let auth = AuthenticateMessage::decode(&run.authenticate).expect("authenticate decodes");
    assert!(auth.domain.is_empty());
}
