//! The simulator's Kerberos acceptor: a host given a keytab accepts AP-REQs
//! for its SPN over real TCP (raw and SPNEGO, sealed calls), refuses a ticket
//! made with another key with KRB_AP_ERR_MODIFIED, and a host with
//! `ntlm = false` refuses NTLM logons the way a hardened Windows host does.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;

use winv_auth::kerberos::codes;
use winv_auth::kerberos::files::{write_keytab, KeytabEntry};
use winv_auth::kerberos::server::issue_ticket;
use winv_auth::kerberos::{Etype, KerberosClient, KerberosMech, Key, KrbError, Principal};
use winv_auth::ntlm::{NtlmClient, NtlmCredentials};
use winv_auth::{AuthError, AuthLevel};
use winv_dcerpc::{interfaces, ClientConfig};
use winv_rpc::{Deadlines, RpcConnection, RpcError};
use winv_sim::fleet::Fleet;
use winv_sim::server::{ListenOptions, SimServer};

const ADDR: &str = "127.0.0.71";
const NOW_SLACK: i64 = 5;

fn now() -> (i64, u32) {
    winv_krb::now()
}

fn privacy() -> ClientConfig {
    ClientConfig { auth_level: AuthLevel::PktPrivacy, ..ClientConfig::default() }
}

fn host_key() -> Key {
    Key::from_password(Etype::Aes256CtsHmacSha196, "web1-machine-password", b"LAB.TESThostweb1.lab.test", 4096).unwrap()
}

async fn serve(dir: &std::path::Path, ntlm: bool) -> SimServer {
    serve_at(dir, ADDR, 0, ntlm).await
}

/// `web1.lab.test` at `addr`, its endpoint mapper on `epm_port` (0: chosen by the system),
/// accepting Kerberos tickets for `host/web1.lab.test` (and NTLM when `ntlm`).
async fn serve_at(dir: &std::path::Path, addr: &str, epm_port: u16, ntlm: bool) -> SimServer {
    let kt = dir.join("web1.keytab");
    let entry = KeytabEntry { principal: Principal::service("host/web1.lab.test", "LAB.TEST"), kvno: 3, key: host_key() };
    std::fs::write(&kt, write_keytab(&[entry])).unwrap();
    std::env::set_var("WINV_SIM_KRB_PW", "Sim-Passw0rd!");
    let text = format!(
        "[defaults]\nuser = \"LAB\\\\admin\"\npassword_env = \"WINV_SIM_KRB_PW\"\n\n[[host]]\naddress = \"{addr}\"\n\
         name = \"web1\"\ndomain = \"lab.test\"\nkeytab = \"{}\"\nntlm = {ntlm}\n",
        kt.display()
    );
    SimServer::start(Fleet::parse(&text).unwrap(), ListenOptions { epm_port, dynamic_port: 0, ..ListenOptions::default() })
        .await
        .unwrap()
}

fn kerberos(mech: KerberosMech, key: &Key) -> Box<KerberosClient> {
    let (t, u) = now();
    let cred = issue_ticket(
        key,
        3,
        &Principal::user("inventory", "LAB.TEST"),
        &Principal::service("host/web1.lab.test", "LAB.TEST"),
        t - NOW_SLACK,
        t + 3600,
    )
    .unwrap();
    Box::new(KerberosClient::new(mech, cred, AuthLevel::PktPrivacy, t, u).unwrap())
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn a_simulated_host_accepts_kerberos_and_refuses_ntlm_when_hardened() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let sim = serve(dir.path(), false).await;
        let addr = SocketAddr::new(ADDR.parse().unwrap(), sim.epm_port);
        for mech in [KerberosMech::Raw, KerberosMech::Spnego] {
            let mut conn = RpcConnection::connect(addr, interfaces::IOBJECTEXPORTER, privacy(), Some(kerberos(mech, &host_key())), Deadlines::default())
                .await
                .unwrap_or_else(|e| panic!("{mech:?}: {e}"));
            let stub = conn.call(winv_dcom::oxid::OPNUM_SERVER_ALIVE2, &[]).await.expect("sealed ServerAlive2");
            let (_, status) = winv_dcom::oxid::decode_server_alive2_response(&stub).unwrap();
            assert_eq!(status, 0);
        }
        // A ticket made with another key: the host cannot decrypt it.
        let other = Key::random(Etype::Aes256CtsHmacSha196).unwrap();
        let e = RpcConnection::connect(addr, interfaces::IOBJECTEXPORTER, privacy(), Some(kerberos(KerberosMech::Raw, &other)), Deadlines::default())
            .await
            .unwrap_err();
        match &e {
            RpcError::Rpc(winv_dcerpc::Error::Security(AuthError::Kerberos(KrbError::Protocol { code, .. }))) => {
                assert_eq!(*code, codes::KRB_AP_ERR_MODIFIED, "{e}")
            }
            other => panic!("expected KRB_AP_ERR_MODIFIED, got {other:?}"),
        }
        assert!(e.to_string().contains("KRB_AP_ERR_MODIFIED"), "{e}");
        // NTLM with the right password is refused: ntlm = false.
        let ntlm = Box::new(NtlmClient::new(NtlmCredentials::with_password("admin", "LAB", "SCANNER", "Sim-Passw0rd!")));
        let r = async {
            let mut c = RpcConnection::connect(addr, interfaces::IOBJECTEXPORTER, privacy(), Some(ntlm), Deadlines::default()).await?;
            c.call(winv_dcom::oxid::OPNUM_SERVER_ALIVE2, &[]).await
        }
        .await;
        let e = r.expect_err("ntlm refused");
        assert!(e.is_auth_failure() || e.fault_status() == Some(5), "{e}");
        sim.stop().await;
    });
}

#[test]
fn ntlm_still_works_beside_kerberos() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let sim = serve(dir.path(), true).await;
        let addr = SocketAddr::new(ADDR.parse().unwrap(), sim.epm_port);
        let ntlm = Box::new(NtlmClient::new(NtlmCredentials::with_password("admin", "LAB", "SCANNER", "Sim-Passw0rd!")));
        let mut c = RpcConnection::connect(addr, interfaces::IOBJECTEXPORTER, privacy(), Some(ntlm), Deadlines::default()).await.unwrap();
        c.call(winv_dcom::oxid::OPNUM_SERVER_ALIVE2, &[]).await.expect("ntlm call");
        let mut k = RpcConnection::connect(addr, interfaces::IOBJECTEXPORTER, privacy(), Some(kerberos(KerberosMech::Spnego, &host_key())), Deadlines::default())
            .await
            .unwrap();
        k.call(winv_dcom::oxid::OPNUM_SERVER_ALIVE2, &[]).await.expect("kerberos call");
        sim.stop().await;
    });
}

#[test]
fn ntlm_false_without_a_keytab_is_a_fleet_error() {
    let e = Fleet::parse("[defaults]\nuser = \"LAB\\\\a\"\npassword_env = \"X\"\n[[host]]\naddress = \"127.0.0.9\"\nntlm = false\n").unwrap_err();
    assert!(e.to_string().contains("needs a keytab"), "{e}");
}

/// A second opinion on the simulator's Kerberos acceptor: impacket's DCOM client, with a
/// service ticket for `host/web1.lab.test` in a ticket cache (KRB5CCNAME, as after
/// `kinit` and a first use; impacket then asks no KDC), activates WMI, logs in and queries a
/// host that refuses NTLM (`ntlm = false`), at packet privacy: the three DCE-style legs,
/// sealed calls and the OXID's dynamic endpoint, all with a third party's Kerberos. The
/// same query with a ticket made with another key is refused. (127.0.46.1, port 135: what
/// impacket dials.)
#[test]
fn impacket_queries_a_host_that_refuses_ntlm_with_a_kerberos_ticket() {
    use std::process::Command;
    use winv_auth::kerberos::files::write_ccache;
    let Some(py) = winv_testsuite::python::python_with("impacket") else {
        return;
    };
    let addr = "127.0.46.1";
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sim = rt.block_on(serve_at(dir.path(), addr, 135, false));
    let client = Principal::user("inventory", "LAB.TEST");
    let run = |key: &Key| {
        let (t, _) = now();
        let spn = Principal::service("host/web1.lab.test", "LAB.TEST");
        let cred = issue_ticket(key, 3, &client, &spn, t - NOW_SLACK, t + 3600).unwrap();
        let cache = dir.path().join("ccache");
        std::fs::write(&cache, write_ccache(&client, &[cred])).unwrap();
        let out = Command::new(&py)
            .arg(winv_testsuite::python::script("impacket_wmi.py"))
            .args(["web1.lab.test", "LAB.TEST", "inventory", "//./root/cimv2"])
            .arg("SELECT Caption, CSName FROM Win32_OperatingSystem")
            .env("WINV_TEST_KERBEROS", "1")
            .env("WINV_TEST_REMOTE_HOST", addr)
            .env("KRB5CCNAME", &cache)
            .env_remove("WINV_TEST_PASSWORD")
            .output()
            .expect("python runs");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let json: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!("impacket printed no JSON ({e}): {stdout}\n{}", String::from_utf8_lossy(&out.stderr))
        });
        json
    };
    let ok = run(&host_key());
    eprintln!("impacket with the host's ticket: {ok}");
    let rows = &ok["results"][0]["rows"];
    assert!(ok["connect_error"].is_null(), "{ok}");
    assert!(ok["results"][0]["error"].is_null(), "{ok}");
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{ok}");
    assert_eq!(rows[0]["CSName"].as_str().map(str::to_ascii_lowercase).as_deref(), Some("web1"), "{ok}");
    assert!(rows[0]["Caption"].as_str().is_some_and(|c| c.contains("Windows")), "{ok}");
    // A ticket the host's key does not open: refused at the first bind.
    let other = Key::random(Etype::Aes256CtsHmacSha196).unwrap();
    let refused = run(&other);
    eprintln!("impacket with a ticket of another key: {refused}");
    assert!(!refused["connect_error"].is_null(), "{refused}");
    rt.block_on(sim.stop());
}
