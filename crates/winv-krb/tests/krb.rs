//! winv-krb without a KDC: configuration parsing, the deadline and size
//! budget of a KDC exchange against loopback listeners, SPN rules, and that
//! no secret reaches `Debug` or an error message.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use winv_auth::kerberos::exchange::Password;
use winv_auth::kerberos::{files, Etype, Key, KerberosMech, KrbError, Principal};
use winv_auth::AuthLevel;
use winv_krb::{exchange, Kerberos, KerberosConfig, KdcAddr, KdcLocator, Krb5Conf, KrbClientError, Source};

#[test]
fn krb5_conf_realms_and_default_realm() {
    let c = Krb5Conf::parse(
        "# comment\n[libdefaults]\n default_realm = lab.test\n dns_lookup_kdc = true\n\
         [realms]\n LAB.TEST = {\n  kdc = dc1.lab.test\n  kdc = 10.0.0.2:8888\n  admin_server = dc1\n }\n\
         OTHER.TEST = {\n kdc = [fd00::1]:88\n }\n[domain_realm]\n .lab.test = LAB.TEST\n",
    );
    assert_eq!(c.default_realm.as_deref(), Some("LAB.TEST"));
    assert_eq!(
        c.kdcs["LAB.TEST"],
        vec![
            KdcAddr { host: "dc1.lab.test".into(), port: 88 },
            KdcAddr { host: "10.0.0.2".into(), port: 8888 }
        ]
    );
    assert_eq!(c.kdcs["OTHER.TEST"], vec![KdcAddr { host: "fd00::1".into(), port: 88 }]);
    assert!(KdcAddr::parse("").is_err());
    assert!(KdcAddr::parse("host:notaport").is_err());
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn a_silent_kdc_meets_the_deadline() {
    rt().block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            // Accepts and never answers.
            let (_s, _) = l.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        let t = Instant::now();
        let e = exchange(addr, b"req", Duration::from_millis(300)).await.unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        assert!(e.contains("did not answer"), "{e}");
    });
}

#[test]
fn an_oversized_reply_is_refused_before_allocation() {
    rt().block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut b = [0u8; 7];
            let _ = s.read_exact(&mut b).await;
            let _ = s.write_all(&0x7fff_fff0u32.to_be_bytes()).await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let e = exchange(addr, b"req", Duration::from_secs(3)).await.unwrap_err();
        assert!(e.contains("too large"), "{e}");
    });
}

#[test]
fn kdc_unreachable_and_no_kdc_are_named() {
    rt().block_on(async {
        // A port nothing listens on (bound then dropped).
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cfg = KerberosConfig {
            locator: KdcLocator {
                explicit: vec![KdcAddr { host: "127.0.0.1".into(), port }],
                ..KdcLocator::default()
            },
            kdc_deadline: Duration::from_secs(2),
            ..KerberosConfig::default()
        };
        let secret = "S3cret-Pass!";
        let k = Kerberos::new(
            Source::Password { client: Principal::user("alice", "LAB.TEST"), password: Password::new(secret.into()) },
            cfg,
        )
        .unwrap();
        let e = k.tgt().await.unwrap_err();
        assert!(matches!(e, KrbClientError::KdcUnreachable { .. }), "{e}");
        assert!(!e.to_string().contains(secret));
        assert!(!format!("{e:?}").contains(secret));
        assert!(!format!("{k:?}").contains(secret), "{k:?}");
        let k2 = Kerberos::new(
            Source::Password { client: Principal::user("alice", "NOWHERE.TEST"), password: Password::new(secret.into()) },
            KerberosConfig::default(),
        )
        .unwrap();
        let e = k2.tgt().await.unwrap_err();
        assert!(matches!(e, KrbClientError::NoKdc(_)), "{e}");
        // An address-only target never reaches the KDC.
        let e = k.context_for("192.0.2.7", None, KerberosMech::Raw, AuthLevel::PktPrivacy).await.err().unwrap();
        assert!(matches!(e, KrbClientError::Kerberos(KrbError::AddressOnly(_))), "{e}");
    });
}

#[test]
fn an_expired_ccache_says_run_kinit() {
    let dir = std::env::temp_dir().join(format!("winv-krb-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let me = Principal::user("alice", "LAB.TEST");
    let key = Key::random(Etype::Aes256CtsHmacSha196).unwrap();
    let tgt = winv_auth::kerberos::Credential {
        client: me.clone(),
        server: Principal::krbtgt("LAB.TEST"),
        key: key.clone(),
        ticket: winv_auth::kerberos::messages::Ticket::build(
            "LAB.TEST",
            &Principal::krbtgt("LAB.TEST").name,
            winv_auth::kerberos::messages::EncryptedData { etype: 18, kvno: Some(2), cipher: vec![7; 40] },
        ),
        flags: 0,
        authtime: 1_000,
        starttime: None,
        endtime: 2_000,
        renew_till: None,
    };
    let path = dir.join("cc");
    std::fs::write(&path, files::write_ccache(&me, &[tgt])).unwrap();
    let (p, cc) = winv_krb::load_ccache(&format!("FILE:{}", path.display())).unwrap();
    let k = Kerberos::new(Source::Ccache { path: p, cache: cc }, KerberosConfig::default()).unwrap();
    let e = rt().block_on(k.tgt()).unwrap_err();
    assert!(matches!(e, KrbClientError::NoTgt { .. }), "{e}");
    assert!(e.to_string().contains("kinit"), "{e}");
    // The key never shows in Debug output.
    let dbg = format!("{k:?} {key:?}");
    assert!(!dbg.contains(&format!("{:?}", key.bytes())), "{dbg}");
    assert!(winv_krb::load_ccache("KEYRING:persistent:0").is_err());
    std::fs::remove_dir_all(&dir).ok();
}
