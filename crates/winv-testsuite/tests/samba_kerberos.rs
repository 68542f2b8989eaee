//! Kerberos end to end against a real Samba AD DC (provisioned per test in a
//! private network namespace): TGTs from a password and from a ccache made by
//! `kinit`, DCE-style three-leg binds of the endpoint mapper and SAMR at
//! packet privacy with SPNEGO and raw Kerberos, sealed calls, tshark's
//! verdict with the exported keytab, and the named failures.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use winv_auth::kerberos::codes;
use winv_auth::kerberos::exchange::{AsExchange, AsNext, ClientSecret, Password};
use winv_auth::kerberos::{Etype, KerberosMech, KrbError, Principal};
use winv_auth::{AuthError, AuthLevel};
use winv_dcerpc::{interfaces, ClientConfig};
use winv_krb::{Kerberos, KerberosConfig, KdcAddr, KdcLocator, Krb5Conf, KrbClientError, Source};
use winv_ndr::{ContextHandle, NdrReader, NdrWriter};
use winv_rpc::epm::EpmClient;
use winv_rpc::{Deadlines, RpcConnection, RpcError};
use winv_testsuite::samba::{PacketCapture, SambaDc};
use winv_testsuite::tshark;

const OPNUM_SAMR_CONNECT: u16 = 0;
const OPNUM_SAMR_CLOSE_HANDLE: u16 = 1;
const OPNUM_SAMR_ENUMERATE_DOMAINS: u16 = 6;

fn samr_connect_request() -> Vec<u8> {
    let mut w = NdrWriter::new();
    w.write(&Option::<u16>::None).expect("encode");
    w.u32(0x31);
    w.into_bytes()
}

fn handle_and_status(stub: &[u8]) -> (ContextHandle, u32) {
    let mut r = NdrReader::new(stub);
    let h: ContextHandle = r.read().expect("handle");
    let status = r.u32().expect("NTSTATUS");
    (h, status)
}

fn handle_request(h: &ContextHandle, extra: &[u32]) -> Vec<u8> {
    let mut w = NdrWriter::new();
    w.write(h).expect("encode");
    for v in extra {
        w.u32(*v);
    }
    w.into_bytes()
}

/// UTF-16LE bytes of `s`, to look for a name in a decrypted stub.
fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn privacy() -> ClientConfig {
    ClientConfig {
        auth_level: AuthLevel::PktPrivacy,
        ..ClientConfig::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Our own krb5.conf for the test realm (Samba's names no KDC: it relies on
/// DNS), used by our client and by `kinit`.
fn write_krb5_conf(dc: &SambaDc) -> PathBuf {
    let p = dc.data_dir().join("winv-krb5.conf");
    let text = format!(
        "[libdefaults]\n\tdefault_realm = {r}\n\tdns_lookup_kdc = false\n\tdns_lookup_realm = false\n\
         \tdefault_tkt_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96\n\
         [realms]\n\t{r} = {{\n\t\tkdc = {a}:88\n\t}}\n",
        r = dc.realm(),
        a = dc.addr()
    );
    std::fs::write(&p, text).expect("write krb5.conf");
    p
}

fn password_source(user: &str, realm: &str, password: &str) -> Source {
    Source::Password {
        client: Principal::user(user, realm),
        password: Password::new(password.to_owned()),
    }
}

fn config(conf: &Path) -> KerberosConfig {
    KerberosConfig {
        locator: KdcLocator {
            conf: Krb5Conf::load(conf).expect("krb5.conf"),
            ..KdcLocator::default()
        },
        ..KerberosConfig::default()
    }
}

/// A DCE/RPC-aware TCP proxy for one connection: forwards both ways and lets
/// `mutate(index, pdu)` change the server's PDUs (counted from 0).
async fn tamper_proxy(
    target: SocketAddr,
    mutate: impl Fn(usize, &mut Vec<u8>) + Send + 'static,
) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let Ok((client, _)) = l.accept().await else { return };
        let Ok(server) = TcpStream::connect(target).await else { return };
        let (mut cr, mut cw) = client.into_split();
        let (mut sr, mut sw) = server.into_split();
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut cr, &mut sw).await;
        });
        let mut n = 0;
        loop {
            let mut hdr = [0u8; 16];
            if sr.read_exact(&mut hdr).await.is_err() {
                return;
            }
            let len = usize::from(u16::from_le_bytes([hdr[8], hdr[9]]));
            let mut pdu = hdr.to_vec();
            pdu.resize(len.max(16), 0);
            if sr.read_exact(&mut pdu[16..]).await.is_err() {
                return;
            }
            mutate(n, &mut pdu);
            n += 1;
            if cw.write_all(&pdu).await.is_err() {
                return;
            }
        }
    });
    addr
}

/// A buffer that collects everything `tracing` writes at every level.
#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log lock").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn samr_sealed_calls(krb: &Kerberos, dc: &SambaDc, samr_addr: SocketAddr, mech: KerberosMech) -> Vec<u8> {
    let ctx = krb
        .context_for(&dc.fqdn(), None, mech, AuthLevel::PktPrivacy)
        .await
        .expect("kerberos context for samr");
    let mut samr = RpcConnection::connect(samr_addr, interfaces::SAMR, privacy(), Some(ctx), Deadlines::default())
        .await
        .expect("kerberos bind to samr");
    let reply = samr.call(OPNUM_SAMR_CONNECT, &samr_connect_request()).await.expect("sealed SamrConnect");
    let (server, status) = handle_and_status(&reply);
    assert_eq!(status, 0, "SamrConnect NTSTATUS");
    let domains = samr
        .call(OPNUM_SAMR_ENUMERATE_DOMAINS, &handle_request(&server, &[0, 0xffff_ffff]))
        .await
        .expect("sealed SamrEnumerateDomainsInSamServer");
    let reply = samr
        .call(OPNUM_SAMR_CLOSE_HANDLE, &handle_request(&server, &[]))
        .await
        .expect("sealed SamrCloseHandle");
    assert_eq!(handle_and_status(&reply).1, 0);
    domains
}

#[test]
fn kerberos_binds_and_sealed_calls_against_samba() {
    let Some(dc) = SambaDc::start().expect("samba starts") else {
        return;
    };
    let conf = write_krb5_conf(&dc);
    let keytab = dc.data_dir().join("exported.keytab");
    dc.samba_tool(&["domain", "exportkeytab", &keytab.display().to_string()])
        .expect("samba-tool domain exportkeytab");
    let pcap_path = dc.data_dir().join("winv-krb.pcapng");
    let capture = PacketCapture::start("lo", "tcp", &pcap_path).expect("capture starts");
    let epm_addr = SocketAddr::new(dc.addr(), 135);
    let logs = LogBuf::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer({
            let l = logs.clone();
            move || l.clone()
        })
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let session_key_hex = runtime().block_on(async {
        let krb = Kerberos::new(
            password_source(dc.admin_user(), dc.realm(), dc.admin_password()),
            config(&conf),
        )
        .expect("kerberos credentials");
        let tgt = krb.tgt().await.expect("tgt with a password");
        assert!(tgt.is_tgt());
        assert_eq!(tgt.key.etype(), Etype::Aes256CtsHmacSha196, "samba hands out aes256");
        let mut samr_addr = None;
        for mech in [KerberosMech::Spnego, KerberosMech::Raw] {
            let ctx = krb
                .context_for(&dc.fqdn(), None, mech, AuthLevel::PktPrivacy)
                .await
                .expect("kerberos context for the endpoint mapper");
            let conn = RpcConnection::connect(epm_addr, EpmClient::INTERFACE, privacy(), Some(ctx), Deadlines::default())
                .await
                .unwrap_or_else(|e| panic!("{mech:?} bind to the endpoint mapper: {e}"));
            let mut epm = EpmClient::new(conn);
            let entries = epm.lookup_all().await.expect("sealed ept_lookup to the end");
            assert!(entries.len() >= 10, "only {} entries", entries.len());
            let addr = epm.map_to_addr(interfaces::SAMR).await.expect("sealed ept_map samr");
            samr_addr = Some(addr);
            let domains = samr_sealed_calls(&krb, &dc, addr, mech).await;
            assert!(contains(&domains.to_ascii_uppercase(), &utf16("BUILTIN")), "{mech:?}: decrypted SAMR names Builtin");
            assert!(
                contains(&domains.to_ascii_uppercase(), &utf16(&dc.domain().to_uppercase())),
                "{mech:?}: decrypted SAMR names the domain"
            );
        }
        // One TGT (two AS round trips: preauth required, then the timestamp)
        // and one service ticket for host/dc1 reused by all four binds.
        let (stats, requests) = krb.stats();
        assert_eq!(requests, 3, "as (2) + tgs (1): {stats:?}");
        assert!(stats.service_hits >= 3, "{stats:?}");

        // A TGT from a ccache that kinit made.
        let ccache = dc.data_dir().join("krb5cc_test");
        let mut kinit = Command::new("kinit")
            .arg(format!("{}@{}", dc.admin_user(), dc.realm()))
            .env("KRB5_CONFIG", &conf)
            .env("KRB5CCNAME", format!("FILE:{}", ccache.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kinit (krb5-user) runs");
        kinit
            .stdin
            .take()
            .expect("stdin")
            .write_all_sync(format!("{}\n", dc.admin_password()).as_bytes());
        let out = kinit.wait_with_output().expect("kinit finishes");
        assert!(out.status.success(), "kinit: {}", String::from_utf8_lossy(&out.stderr));
        let (path, cc) = winv_krb::load_ccache(&format!("FILE:{}", ccache.display())).expect("read kinit's ccache");
        assert!(cc.tgt().is_some(), "kinit's ccache has a tgt");
        let from_cc = Kerberos::new(Source::Ccache { path, cache: cc }, config(&conf)).expect("ccache credentials");
        let addr = samr_addr.expect("samr port");
        let domains = samr_sealed_calls(&from_cc, &dc, addr, KerberosMech::Raw).await;
        assert!(contains(&domains.to_ascii_uppercase(), &utf16("BUILTIN")));
        let (_, requests) = from_cc.stats();
        assert_eq!(requests, 1, "only a tgs request: the tgt came from the ccache");

        hex::encode(tgt.key.bytes())
    });
    capture.stop().expect("capture stops");

    // Nothing secret in the logs at trace level.
    let text = String::from_utf8_lossy(&logs.0.lock().expect("logs")).into_owned();
    assert!(!text.contains(dc.admin_password()), "password in the logs");
    assert!(!text.contains(&session_key_hex), "session key in the logs");

    // Our own passive reading with the keytab verifies every signature and
    // decrypts every sealed stub of the run, SPNEGO and raw.
    let kt = winv_auth::kerberos::files::parse_keytab(&std::fs::read(&keytab).expect("keytab")).expect("keytab parses");
    let bytes = std::fs::read(&pcap_path).expect("read our capture");
    let cap = winv_trace::capture::read_capture(&bytes).expect("capture parses");
    let trace = winv_trace::conversation::analyze(
        &cap,
        &winv_trace::conversation::Options { secret: None, stub_hex: false, keytab: Some(kt) },
    );
    assert_eq!(trace.summary.decode_errors, 0, "{:?}", trace.summary);
    assert_eq!(trace.summary.verify_failures, 0, "{:?}", trace.summary);
    assert_eq!(trace.summary.not_checked, 0, "{:?}", trace.summary);
    assert!(trace.summary.decrypted >= 18, "{:?}", trace.summary);

    // tshark, given the exported keytab, decrypts the tickets and the sealed
    // PDUs and finds nothing malformed.
    if !tshark::tshark_available() {
        winv_testsuite::fixtures::skip_or_fail("tshark missing: cannot dissect our capture");
        return;
    }
    let prefs = tshark::keytab_prefs(&keytab);
    let malformed = tshark::malformed_frames_prefs(&pcap_path, &prefs).expect("tshark runs");
    assert!(malformed.is_empty(), "tshark flags frames {malformed:?}");
    let pdus = tshark::dcerpc_pdus_prefs(&pcap_path, &prefs).expect("tshark runs");
    let bad: Vec<_> = pdus.iter().filter(|p| p.frame_malformed || p.frame_expert_error).collect();
    assert!(bad.is_empty(), "{bad:#?}");
    let sealed = pdus.iter().filter(|p| p.pkt_type == 0 && p.auth_level == Some(6)).count();
    assert!(sealed >= 9, "sealed requests seen by tshark: {sealed}");
    for t in [9u8, 16] {
        assert!(pdus.iter().any(|p| p.pkt_type == 11 && p.auth_type == Some(t)), "bind with auth type {t}");
    }
    // The third leg travels in an alter_context (14), not an auth3 (16).
    assert!(pdus.iter().any(|p| p.pkt_type == 14 && p.auth_type == Some(16)));
    assert!(!pdus.iter().any(|p| p.pkt_type == 16));
    let verbose = tshark::run_tshark_prefs(&pcap_path, &prefs, &["-Y", "samr", "-V"]).expect("tshark -V");
    let upper = verbose.to_uppercase();
    assert!(upper.contains("BUILTIN"), "tshark decrypted the SAMR reply with the keytab");
    assert!(!upper.contains("MALFORMED"));
}

trait WriteAllSync {
    fn write_all_sync(self, b: &[u8]);
}

impl WriteAllSync for std::process::ChildStdin {
    fn write_all_sync(mut self, b: &[u8]) {
        use std::io::Write;
        self.write_all(b).expect("write to kinit");
    }
}

fn code_of(e: &KrbClientError) -> Option<i32> {
    e.code()
}

#[test]
fn kerberos_failures_have_their_codes() {
    let Some(dc) = SambaDc::start().expect("samba starts") else {
        return;
    };
    let conf = write_krb5_conf(&dc);
    let epm_addr = SocketAddr::new(dc.addr(), 135);
    runtime().block_on(async {
        // Wrong password.
        let k = Kerberos::new(password_source(dc.admin_user(), dc.realm(), "not-the-password"), config(&conf)).unwrap();
        let e = k.tgt().await.expect_err("wrong password");
        assert_eq!(code_of(&e), Some(codes::KDC_ERR_PREAUTH_FAILED), "{e}");
        assert!(e.to_string().contains("KDC_ERR_PREAUTH_FAILED"), "{e}");
        assert!(!e.to_string().contains("not-the-password"));
        // Unknown user.
        let k = Kerberos::new(password_source("nosuchuser", dc.realm(), "x"), config(&conf)).unwrap();
        let e = k.tgt().await.expect_err("unknown user");
        assert_eq!(code_of(&e), Some(codes::KDC_ERR_C_PRINCIPAL_UNKNOWN), "{e}");

        let k = Kerberos::new(
            password_source(dc.admin_user(), dc.realm(), dc.admin_password()),
            config(&conf),
        )
        .unwrap();
        // Unknown SPN.
        let e = k.service_ticket("host/nosuch.winv.test").await.expect_err("unknown spn");
        assert_eq!(code_of(&e), Some(codes::KDC_ERR_S_PRINCIPAL_UNKNOWN), "{e}");
        // An address is no name.
        let e = k
            .context_for(&dc.addr().to_string(), None, KerberosMech::Spnego, AuthLevel::PktPrivacy)
            .await
            .err()
            .expect("address only");
        assert!(matches!(e, KrbClientError::Kerberos(KrbError::AddressOnly(_))), "{e}");
        assert!(e.to_string().contains("host name"), "{e}");

        // Clock skew: our clock an hour ahead of the KDC's.
        let skewed = winv_krb::now().0 + 3600;
        let mut asx = AsExchange::new(
            Principal::user(dc.admin_user(), dc.realm()),
            ClientSecret::Password(Password::new(dc.admin_password().to_owned())),
            12345,
        )
        .unwrap();
        let kdc = SocketAddr::new(dc.addr(), 88);
        let d = std::time::Duration::from_secs(10);
        let r1 = winv_krb::exchange(kdc, &asx.first_request(), d).await.expect("kdc answers");
        let AsNext::Send(req2) = asx.read_reply(&r1, skewed, 0).expect("preauth required") else {
            panic!("samba requires pre-authentication");
        };
        let r2 = winv_krb::exchange(kdc, &req2, d).await.expect("kdc answers");
        let e = asx.read_reply(&r2, skewed, 0).expect_err("skewed timestamp");
        assert_eq!(e.code(), Some(codes::KRB_AP_ERR_SKEW), "{e}");
        assert!(e.to_string().contains("clock"), "{e}");

        // A tampered AP-REP (the last byte of the bind_ack: the AP-REP's
        // checksum) is rejected.
        let proxy = tamper_proxy(epm_addr, |i, pdu| {
            if i == 0 {
                if let Some(b) = pdu.last_mut() {
                    *b ^= 0x01;
                }
            }
        })
        .await;
        let ctx = k.context_for(&dc.fqdn(), None, KerberosMech::Raw, AuthLevel::PktPrivacy).await.unwrap();
        let e = RpcConnection::connect(proxy, EpmClient::INTERFACE, privacy(), Some(ctx), Deadlines::default())
            .await
            .expect_err("tampered ap-rep");
        assert!(e.is_auth_failure(), "{e}");
        assert!(
            matches!(
                &e,
                RpcError::Rpc(winv_dcerpc::Error::Security(AuthError::Kerberos(KrbError::Integrity)))
            ),
            "{e:?}"
        );

        // A tampered sealed response is rejected.
        let proxy = tamper_proxy(epm_addr, |i, pdu| {
            // 0 bind_ack, 1 alter_context_resp, 2 the first response.
            if i == 2 && pdu.len() > 30 {
                pdu[28] ^= 0x01;
            }
        })
        .await;
        let ctx = k.context_for(&dc.fqdn(), None, KerberosMech::Raw, AuthLevel::PktPrivacy).await.unwrap();
        let conn = RpcConnection::connect(proxy, EpmClient::INTERFACE, privacy(), Some(ctx), Deadlines::default())
            .await
            .expect("bind through the proxy");
        let mut epm = EpmClient::new(conn);
        let e = epm.lookup_all().await.expect_err("tampered sealed pdu");
        let dbg = format!("{e:?}");
        assert!(dbg.contains("BadSignature"), "{dbg}");

        // An account whose only enctype is RC4: the KDC cannot give an AES
        // session key for it, and we never accept RC4.
        dc.samba_tool(&["user", "create", "rc4svc", "Rc4-Svc-Passw0rd!"]).expect("create rc4svc");
        dc.samba_tool(&["spn", "add", "host/rc4.winv.test", "rc4svc"]).expect("add spn");
        dc.modify_account(
            "rc4svc",
            "msDS-SupportedEncryptionTypes",
            winv_testsuite::samba::AccountChange::Replace,
            &["4"],
        )
        .expect("set msDS-SupportedEncryptionTypes");
        match k.service_ticket("host/rc4.winv.test").await {
            Err(KrbClientError::Kerberos(KrbError::Rc4Refused)) => {}
            Err(e) if e.code() == Some(codes::KDC_ERR_ETYPE_NOSUPP) => {}
            Err(e) => panic!("rc4-only service: unexpected error {e}"),
            Ok(c) => {
                // Samba may still pick an AES session key (the service key is
                // RC4): then the ticket's own enctype shows RC4 and the
                // session key must be AES.
                assert_ne!(c.key.etype(), Etype::Rc4Hmac);
                assert_eq!(c.ticket.enc_part.etype, 23, "the ticket is rc4: {c:?}");
            }
        }
    });
}


#[allow(dead_code)]
fn _unused(_: KdcAddr) {}
