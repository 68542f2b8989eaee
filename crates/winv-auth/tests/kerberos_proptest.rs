//! Property tests of the Kerberos decoders: arbitrary bytes and mutations of
//! valid messages are errors or values, never panics; wrap and MIC tokens
//! round-trip for any stub and fail on any single flipped bit.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use winv_auth::kerberos::files::{write_ccache, write_keytab, KeytabEntry};
use winv_auth::kerberos::gss::{flags, Direction, Regions};
use winv_auth::kerberos::messages::{ApRep, EncApRepPart, EncryptedData, KrbErrorMsg, PrincipalName};
use winv_auth::kerberos::server::issue_ticket;
use winv_auth::kerberos::{fuzz_messages, Etype, Key, KrbError, Principal};

fn samples() -> Vec<Vec<u8>> {
    let key = Key::new(Etype::Aes256CtsHmacSha196, &[3; 32]).unwrap();
    let me = Principal::user("alice", "LAB.TEST");
    let svc = Principal::service("host/web1.lab.test", "LAB.TEST");
    let cred = issue_ticket(&key, 1, &me, &svc, 1000, 5000).unwrap();
    vec![
        cred.ticket.raw.clone(),
        KrbErrorMsg::encode(24, 1000, "LAB.TEST", &PrincipalName::new(2, "krbtgt/LAB.TEST")),
        ApRep { enc_part: EncryptedData { etype: 18, kvno: None, cipher: vec![1; 40] } }.encode(),
        EncApRepPart { ctime: 5, cusec: 6, subkey: Some(key.clone()), seq_number: Some(7) }.encode(),
        write_ccache(&me, std::slice::from_ref(&cred)),
        write_keytab(&[KeytabEntry { principal: svc, kvno: 2, key }]),
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        fuzz_messages(&data);
    }

    #[test]
    fn mutated_messages_never_panic(which in 0usize..6, at in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
        let mut m = samples().swap_remove(which);
        let i = at % m.len();
        m[i] = byte;
        fuzz_messages(&m);
        let c = cut % (m.len() + 1);
        fuzz_messages(&m[..c]);
    }

    #[test]
    fn wrap_round_trips_and_any_flip_fails(stub_blocks in 1usize..20, hdr in 16usize..40, flip in any::<usize>(), seal in any::<bool>()) {
        let key = Key::new(Etype::Aes128CtsHmacSha196, &[9; 16]).unwrap();
        let dir = |f: u8| Direction { key: key.clone(), seal_usage: 22, sign_usage: 23, seq: 99, flags: f };
        let mut tx = dir(flags::SENT_BY_ACCEPTOR);
        let mut rx = dir(flags::SENT_BY_ACCEPTOR);
        let total = hdr + stub_blocks * 16 + 8;
        let plain: Vec<u8> = (0..total).map(|i| (i * 13) as u8).collect();
        let r = Regions { seal: seal.then_some(hdr..hdr + stub_blocks * 16), header_signing: true };
        let mut m = plain.clone();
        let sig = tx.protect(&mut m, &r).unwrap();
        let mut bad = m.clone();
        let mut badsig = sig.clone();
        let i = flip % (bad.len() + badsig.len());
        if i < bad.len() { bad[i] ^= 1 } else { badsig[i - bad.len()] ^= 1 }
        let mut rx2 = dir(flags::SENT_BY_ACCEPTOR);
        prop_assert!(rx2.unprotect(&mut bad, &r, &badsig).is_err());
        rx.unprotect(&mut m, &r, &sig).unwrap();
        prop_assert_eq!(m, plain);
    }
}

#[test]
fn wrong_key_is_integrity_not_panic() {
    let a = Key::new(Etype::Aes256CtsHmacSha196, &[1; 32]).unwrap();
    let b = Key::new(Etype::Aes256CtsHmacSha196, &[2; 32]).unwrap();
    let c = a.encrypt(7, b"x").unwrap();
    assert_eq!(b.decrypt(7, &c), Err(KrbError::Integrity));
}
