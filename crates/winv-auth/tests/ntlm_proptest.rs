//! Property tests: decoders never panic on arbitrary bytes, and messages
//! round-trip through encode / decode.

use proptest::prelude::*;
use winv_auth::ntlm::messages::{
    AuthenticateMessage, AvPair, ChallengeMessage, NegotiateMessage, Version,
};
use winv_auth::ntlm::{
    decode_av_pairs, encode_av_pairs, find_ntlmssp, flags, fuzz_messages, message_type,
};

fn version() -> impl Strategy<Value = Version> {
    (any::<u8>(), any::<u8>(), any::<u16>(), any::<u8>()).prop_map(
        |(major, minor, build, revision)| Version {
            major,
            minor,
            build,
            revision,
        },
    )
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

fn av_pairs() -> impl Strategy<Value = Vec<AvPair>> {
    proptest::collection::vec(
        (1u16..=u16::MAX, bytes(40)).prop_map(|(id, value)| AvPair { id, value }),
        0..6,
    )
}

/// Flags with the VERSION bit set exactly when a version is present.
fn flags_for(f: u32, has_version: bool) -> u32 {
    if has_version {
        f | flags::NEGOTIATE_VERSION
    } else {
        f & !flags::NEGOTIATE_VERSION
    }
}

prop_compose! {
    fn negotiate()(f in any::<u32>(), domain in bytes(20), workstation in bytes(20), version in proptest::option::of(version())) -> NegotiateMessage {
        NegotiateMessage { flags: flags_for(f, version.is_some()), domain, workstation, version }
    }
}

prop_compose! {
    fn challenge()(f in any::<u32>(), target_name in bytes(30), server_challenge in any::<[u8; 8]>(), target_info in av_pairs(), version in proptest::option::of(version())) -> ChallengeMessage {
        ChallengeMessage { flags: flags_for(f, version.is_some()), target_name, server_challenge, target_info, version }
    }
}

prop_compose! {
    fn authenticate()(
        f in any::<u32>(),
        lm_response in bytes(30),
        nt_response in bytes(120),
        domain in bytes(20),
        user in bytes(20),
        workstation in bytes(20),
        encrypted_session_key in bytes(17),
        version in proptest::option::of(version()),
        mic in proptest::option::of(any::<[u8; 16]>()),
    ) -> AuthenticateMessage {
        let mic = if version.is_some() { mic } else { None };
        AuthenticateMessage {
            flags: flags_for(f, version.is_some()),
            lm_response, nt_response, domain, user, workstation, encrypted_session_key, version, mic,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(data in bytes(300)) {
        fuzz_messages(&data);
        let _ = NegotiateMessage::decode(&data);
        let _ = ChallengeMessage::decode(&data);
        let _ = AuthenticateMessage::decode(&data);
        let _ = decode_av_pairs(&data);
        let _ = find_ntlmssp(&data);
    }

    #[test]
    fn arbitrary_bytes_after_signature_never_panic(ty in 1u32..=3, data in bytes(300)) {
        let mut m = b"NTLMSSP\0".to_vec();
        m.extend_from_slice(&ty.to_le_bytes());
        m.extend_from_slice(&data);
        prop_assert_eq!(message_type(&m), Some(ty));
        fuzz_messages(&m);
        prop_assert_eq!(find_ntlmssp(&m), Some(&m[..]));
    }

    #[test]
    fn negotiate_round_trips(m in negotiate()) {
        let b = m.encode().expect("encode");
        prop_assert_eq!(message_type(&b), Some(1));
        prop_assert_eq!(NegotiateMessage::decode(&b).expect("decode"), m);
        fuzz_messages(&b);
    }

    #[test]
    fn challenge_round_trips(m in challenge()) {
        let b = m.encode().expect("encode");
        prop_assert_eq!(ChallengeMessage::decode(&b).expect("decode"), m);
        fuzz_messages(&b);
    }

    #[test]
    fn authenticate_round_trips(m in authenticate()) {
        let b = m.encode().expect("encode");
        prop_assert_eq!(AuthenticateMessage::decode(&b).expect("decode"), m);
        fuzz_messages(&b);
    }

    #[test]
    fn truncated_messages_are_errors_not_panics(m in authenticate(), cut in 0usize..400) {
        let b = m.encode().expect("encode");
        let cut = cut.min(b.len());
        let r = AuthenticateMessage::decode(&b[..cut]);
        let payload = m.nt_response.len() + m.lm_response.len() + m.user.len() + m.domain.len()
            + m.workstation.len() + m.encrypted_session_key.len();
        // The payload is packed up to the end, so cutting anything off a
        // message with a payload leaves a field running past the end.
        if payload > 0 && cut < b.len() {
            prop_assert!(r.is_err());
        }
        if cut < 64 {
            prop_assert!(r.is_err());
        }
    }

    #[test]
    fn av_pairs_round_trip(pairs in av_pairs()) {
        let b = encode_av_pairs(&pairs).expect("encode");
        prop_assert_eq!(decode_av_pairs(&b).expect("decode"), pairs);
    }
}

#[test]
fn decoders_reject_out_of_bounds_fields() {
    let m = AuthenticateMessage {
        flags: 0,
        lm_response: vec![1; 4],
        nt_response: vec![2; 50],
        domain: vec![],
        user: vec![3; 4],
        workstation: vec![],
        encrypted_session_key: vec![],
        version: None,
        mic: None,
    };
    let mut b = m.encode().expect("encode");
    // NtChallengeResponse length past the end.
    b[20] = 0xff;
    assert!(AuthenticateMessage::decode(&b).is_err());
    let mut b = m.encode().expect("encode");
    // Offset pointing into the fixed header.
    b[24] = 8;
    assert!(AuthenticateMessage::decode(&b).is_err());
    let mut b = m.encode().expect("encode");
    // Offset near u32::MAX must not overflow.
    b[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(AuthenticateMessage::decode(&b).is_err());
    // Truncated AV pair.
    assert!(decode_av_pairs(&[1, 0, 10, 0, 1, 2]).is_err());
    // Wrong type / signature.
    let b = m.encode().expect("encode");
    assert!(ChallengeMessage::decode(&b).is_err());
    assert!(NegotiateMessage::decode(&b[1..]).is_err());
}
