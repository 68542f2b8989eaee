//! [MS-NLMP] 4.2.4 NTLMv2 test vectors (User / Domain / Password, server
//! challenge 0123456789abcdef, client challenge aa*8, time 0, random session
//! key 55*16).

use winv_auth::ntlm::crypto::{self, Direction, DirectionKeys, NtlmSecret};
use winv_auth::ntlm::messages::{AuthenticateMessage, ChallengeMessage};
use winv_auth::ntlm::{flags, NegotiateMessage, NtlmPassive};
use winv_auth::{AuthError, SecurityContext};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).expect("test hex")
}

fn h16(s: &str) -> [u8; 16] {
    h(s).try_into().expect("16 bytes")
}

const SERVER_CHALLENGE: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
const CLIENT_CHALLENGE: [u8; 8] = [0xaa; 8];
const RANDOM_SESSION_KEY: [u8; 16] = [0x55; 16];
/// 4.2.4: AV pairs MsvAvNbDomainName "Domain", MsvAvNbComputerName "Server", EOL.
const SERVER_NAME: &str =
    "02000c0044006f006d00610069006e0001000c0053006500720076006500720000000000";
/// The 4.2.4 challenge flags (0xe28a8233).
const CHALLENGE_FLAGS: u32 = 0xe28a_8233;

#[test]
fn nt_hash_and_ntowfv2() {
    // NTOWFv1("Password"), 4.2.2.1.2; NTOWFv2, 4.2.4.1.1.
    let nt = crypto::nt_hash("Password");
    assert_eq!(nt, h16("a4f49c406510bdcab6824ee7c30fd852"));
    assert_eq!(
        crypto::ntowfv2(&nt, "User", "Domain"),
        h16("0c868a403bfd7a93a3001ef22ef02e3f")
    );
    // User is upper-cased, the domain is not.
    assert_eq!(
        crypto::ntowfv2(&nt, "user", "Domain"),
        h16("0c868a403bfd7a93a3001ef22ef02e3f")
    );
    assert_ne!(
        crypto::ntowfv2(&nt, "User", "DOMAIN"),
        h16("0c868a403bfd7a93a3001ef22ef02e3f")
    );
    // The hex form of the secret gives the same hash.
    let s = NtlmSecret::from_nt_hash_hex("a4f49c406510bdcab6824ee7c30fd852").expect("hex");
    assert_eq!(s, NtlmSecret::from_password("Password"));
    assert_eq!(format!("{s:?}"), "NtlmSecret(<redacted>)");
}

#[test]
fn lmv2_response() {
    let key = crypto::ntowfv2(&crypto::nt_hash("Password"), "User", "Domain");
    assert_eq!(
        crypto::lmv2_response(&key, &SERVER_CHALLENGE, &CLIENT_CHALLENGE),
        h("86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa")
    );
}

#[test]
fn ntlmv2_response_and_session_base_key() {
    let key = crypto::ntowfv2(&crypto::nt_hash("Password"), "User", "Domain");
    let temp = crypto::ntlmv2_temp(0, &CLIENT_CHALLENGE, &h(SERVER_NAME));
    let proof = crypto::nt_proof_str(&key, &SERVER_CHALLENGE, &temp);
    assert_eq!(proof, h16("68cd0ab851e51c96aabc927bebef6a1c"));
    let mut response = proof.to_vec();
    response.extend_from_slice(&temp);
    assert_eq!(
        response,
        h(&format!(
            "68cd0ab851e51c96aabc927bebef6a1c 01010000000000000000000000000000aaaaaaaaaaaaaaaa00000000 {SERVER_NAME} 00000000"
        ))
    );
    let base = crypto::session_base_key(&key, &proof);
    assert_eq!(base, h16("8de40ccadbc14a82f15cb0ad0de95ca3"));
    // 4.2.4.2.3: RC4(KXKEY = SessionBaseKey, RandomSessionKey).
    assert_eq!(
        crypto::rc4k(&base, &RANDOM_SESSION_KEY),
        h("c5dad2544fc9799094ce1ce90bc9d03e")
    );
}

#[test]
fn gss_wrapex_keys_seal_and_signature() {
    // 4.2.4.4.
    assert_eq!(
        crypto::seal_key(
            &RANDOM_SESSION_KEY,
            CHALLENGE_FLAGS,
            Direction::ClientToServer
        ),
        h16("59f600973cc4960a25480a7c196e4c58")
    );
    assert_eq!(
        crypto::sign_key(&RANDOM_SESSION_KEY, Direction::ClientToServer),
        h16("4788dc861b4782f35d43fd98fe1a2d39")
    );
    let mut msg = h("50006c00610069006e007400650078007400");
    assert_eq!(
        msg,
        "Plaintext"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect::<Vec<_>>()
    );
    let mut sender = DirectionKeys::new(
        &RANDOM_SESSION_KEY,
        CHALLENGE_FLAGS,
        Direction::ClientToServer,
    );
    let len = msg.len();
    let sig = sender.protect(&mut msg, Some(0..len)).expect("protect");
    assert_eq!(msg, h("54e50165bf1936dc996020c1811b0f06fb5f"));
    assert_eq!(sig.to_vec(), h("010000007fb38ec5c55d497600000000"));
    assert_eq!(sender.seq(), 1);

    // The receiving side decrypts and verifies the same bytes.
    let mut receiver = DirectionKeys::new(
        &RANDOM_SESSION_KEY,
        CHALLENGE_FLAGS,
        Direction::ClientToServer,
    );
    receiver
        .unprotect(&mut msg, Some(0..len), &sig)
        .expect("unprotect");
    assert_eq!(msg, h("50006c00610069006e007400650078007400"));
}

/// The 4.2.4.3 CHALLENGE_MESSAGE and AUTHENTICATE_MESSAGE (as reproduced in
/// public NTLM test suites; the docs corpus lacks the 4.2.4.3 page).
const SPEC_CHALLENGE: &str = "4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef00000000000000002400240044000000060070170000000f53006500720076006500720002000c0044006f006d00610069006e0001000c0053006500720076006500720000000000";
const SPEC_AUTHENTICATE: &str = "4e544c4d535350000300000018001800 6c00000054005400840000000c000c00 48000000080008005400000010001000 5c00000010001000d8000000358288e2 0501280a0000000f44006f006d006100 69006e00550073006500720043004f00 4d005000550054004500520086c35097 ac9cec102554764a57cccc19aaaaaaaa aaaaaaaa68cd0ab851e51c96aabc927b ebef6a1c010100000000000000000000 00000000aaaaaaaaaaaaaaaa00000000 02000c0044006f006d00610069006e00 01000c00530065007200760065007200 0000000000000000c5dad2544fc97990 94ce1ce90bc9d03e";

#[test]
fn spec_messages_decode() {
    let c = ChallengeMessage::decode(&h(SPEC_CHALLENGE)).expect("challenge");
    assert_eq!(c.flags, CHALLENGE_FLAGS);
    assert_eq!(c.server_challenge, SERVER_CHALLENGE);
    assert_eq!(c.target_info.len(), 2);
    assert_eq!(
        c.version.map(|v| (v.major, v.minor, v.build, v.revision)),
        Some((6, 0, 6000, 15))
    );
    let a = AuthenticateMessage::decode(&h(SPEC_AUTHENTICATE)).expect("authenticate");
    assert_eq!(a.user_name(), "User");
    assert_eq!(a.domain_name(), "Domain");
    assert_eq!(
        a.encrypted_session_key,
        h("c5dad2544fc9799094ce1ce90bc9d03e")
    );
    assert_eq!(a.mic, None);
    assert!(a.version.is_some());
    assert!(format!("{a:?}").contains("nt_response_len"));
    // Re-encoding and decoding gives the same value.
    assert_eq!(
        AuthenticateMessage::decode(&a.encode().expect("encode")).expect("decode"),
        a
    );
}

fn spec_negotiate() -> Vec<u8> {
    NegotiateMessage {
        flags: flags::CLIENT_OFFER,
        domain: vec![],
        workstation: vec![],
        version: None,
    }
    .encode()
    .expect("encode")
}

#[test]
fn passive_recovers_spec_session_and_unseals_4_2_4_4() {
    let (mut c2s, _s2c) = NtlmPassive::from_messages(
        &spec_negotiate(),
        &h(SPEC_CHALLENGE),
        &h(SPEC_AUTHENTICATE),
        &NtlmSecret::from_password("Password"),
    )
    .expect("passive");
    assert_eq!(c2s.user(), ("User", "Domain"));
    let mut data = h("54e50165bf1936dc996020c1811b0f06fb5f");
    let len = data.len();
    c2s.unprotect(
        &mut data,
        Some(0..len),
        &h("010000007fb38ec5c55d497600000000"),
    )
    .expect("unprotect");
    assert_eq!(data, h("50006c00610069006e007400650078007400"));
    assert_eq!(c2s.next_seq(), 1);
}

#[test]
fn passive_with_wrong_password_is_logon_failure() {
    let r = NtlmPassive::from_messages(
        &spec_negotiate(),
        &h(SPEC_CHALLENGE),
        &h(SPEC_AUTHENTICATE),
        &NtlmSecret::from_password("password"),
    );
    assert_eq!(r.err(), Some(AuthError::LogonFailure));
}
