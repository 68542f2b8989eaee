//! The RPC layer against a real Samba AD DC, provisioned per test in a network
//! namespace the test creates for itself: the endpoint mapper on 135 with NTLM
//! at packet privacy, `ept_lookup` to the end of the list, `ept_map` of SAMR to
//! its dynamic port, sealed SAMR calls there, and tshark's verdict on all of it.

use std::net::SocketAddr;

use winv_auth::ntlm::{NtlmClient, NtlmCredentials};
use winv_auth::AuthLevel;
use winv_dcerpc::{interfaces, ClientConfig};
use winv_ndr::{ContextHandle, NdrDecode, NdrReader, NdrWriter, RpcUnicodeString};
use winv_rpc::epm::EpmClient;
use winv_rpc::{Deadlines, RpcConnection, RpcError};
use winv_testsuite::samba::{PacketCapture, SambaDc};
use winv_testsuite::tshark;

/// SAMR opnums, [MS-SAMR] 3.1.5: `SamrConnect`, `SamrCloseHandle`,
/// `SamrEnumerateDomainsInSamServer`. (Samba answers LSA calls other than
/// LookupSids3/LookupNames4 over TCP with access denied, so SAMR it is.)
const OPNUM_SAMR_CONNECT: u16 = 0;
const OPNUM_SAMR_CLOSE_HANDLE: u16 = 1;
const OPNUM_SAMR_ENUMERATE_DOMAINS: u16 = 6;

fn samr_connect_request() -> Vec<u8> {
    let mut w = NdrWriter::new();
    // [in, unique] PSAMPR_SERVER_NAME ServerName: null.
    w.write(&Option::<u16>::None).expect("encode");
    // SAM_SERVER_CONNECT | SAM_SERVER_ENUMERATE_DOMAINS | SAM_SERVER_LOOKUP_DOMAIN
    w.u32(0x31);
    w.into_bytes()
}

fn handle_and_status(stub: &[u8]) -> (ContextHandle, u32) {
    let mut r = NdrReader::new(stub);
    let h: ContextHandle = r.read().expect("handle");
    let status = r.u32().expect("NTSTATUS");
    r.finish().expect("whole stub consumed");
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

/// `SAMPR_RID_ENUMERATION`: RelativeId and Name.
#[derive(Default)]
struct RidEnumeration {
    name: RpcUnicodeString,
}

impl NdrDecode for RidEnumeration {
    fn decode_flat(r: &mut NdrReader<'_>) -> winv_ndr::Result<Self> {
        let _rid = r.u32()?;
        Ok(RidEnumeration {
            name: RpcUnicodeString::decode_flat(r)?,
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> winv_ndr::Result<()> {
        self.name.decode_deferred(r)
    }
}

/// `SAMPR_ENUMERATION_BUFFER`: EntriesRead and a unique pointer to the array.
#[derive(Default)]
struct EnumerationBuffer {
    entries: Option<Vec<RidEnumeration>>,
}

impl NdrDecode for EnumerationBuffer {
    fn decode_flat(r: &mut NdrReader<'_>) -> winv_ndr::Result<Self> {
        let _entries_read = r.u32()?;
        Ok(EnumerationBuffer {
            entries: Option::decode_flat(r)?,
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> winv_ndr::Result<()> {
        self.entries.decode_deferred(r)
    }
}

/// Domain names and NTSTATUS from a `SamrEnumerateDomainsInSamServer` reply.
fn parse_enumerate_domains(stub: &[u8]) -> (Vec<String>, u32) {
    let mut r = NdrReader::new(stub);
    let _context = r.u32().expect("EnumerationContext");
    let buffer: Option<EnumerationBuffer> = r.read().expect("Buffer");
    let count = r.u32().expect("CountReturned");
    let status = r.u32().expect("NTSTATUS");
    r.finish().expect("whole stub consumed");
    let names: Vec<String> = buffer
        .and_then(|b| b.entries)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| e.name.value)
        .collect();
    assert_eq!(names.len(), count as usize);
    (names, status)
}

fn privacy() -> ClientConfig {
    ClientConfig {
        auth_level: AuthLevel::PktPrivacy,
        ..ClientConfig::default()
    }
}

fn ntlm(dc: &SambaDc, password: &str) -> Box<NtlmClient> {
    Box::new(NtlmClient::new(NtlmCredentials::with_password(
        dc.admin_user(),
        dc.domain(),
        "WINVTEST",
        password,
    )))
}

fn runtime() -> tokio::runtime::Runtime {
    // Current-thread: the namespace is this thread's, so every socket must be
    // opened from it.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn epm_lookup_map_and_sealed_samr_calls_against_samba() {
    let Some(dc) = SambaDc::start().expect("samba starts") else {
        return;
    };
    let pcap_path = dc.data_dir().join("winv.pcapng");
    let capture = PacketCapture::start("lo", "tcp", &pcap_path).expect("capture starts");
    let epm_addr = SocketAddr::new(dc.addr(), 135);

    let (entries, samr_addr, domains, status) = runtime().block_on(async {
        let conn = RpcConnection::connect(
            epm_addr,
            EpmClient::INTERFACE,
            privacy(),
            Some(ntlm(&dc, dc.admin_password())),
            Deadlines::default(),
        )
        .await
        .expect("authenticated bind to the endpoint mapper");
        let mut epm = EpmClient::new(conn);
        let entries = epm.lookup_all().await.expect("ept_lookup to the end");
        let samr_addr = epm
            .map_to_addr(interfaces::SAMR)
            .await
            .expect("ept_map samr");

        let mut samr = RpcConnection::connect(
            samr_addr,
            interfaces::SAMR,
            privacy(),
            Some(ntlm(&dc, dc.admin_password())),
            Deadlines::default(),
        )
        .await
        .expect("authenticated bind to samr");
        let reply = samr
            .call(OPNUM_SAMR_CONNECT, &samr_connect_request())
            .await
            .expect("sealed SamrConnect");
        let (server, status) = handle_and_status(&reply);
        assert_eq!(status, 0, "SamrConnect NTSTATUS");
        assert!(!server.is_null());
        let reply = samr
            .call(
                OPNUM_SAMR_ENUMERATE_DOMAINS,
                &handle_request(&server, &[0, 0xffff_ffff]),
            )
            .await
            .expect("sealed SamrEnumerateDomainsInSamServer");
        let (domains, status) = parse_enumerate_domains(&reply);
        let reply = samr
            .call(OPNUM_SAMR_CLOSE_HANDLE, &handle_request(&server, &[]))
            .await
            .expect("sealed SamrCloseHandle");
        let (closed, close_status) = handle_and_status(&reply);
        assert_eq!(close_status, 0);
        assert!(closed.is_null(), "a closed handle comes back zeroed");
        (entries, samr_addr, domains, status)
    });
    capture.stop().expect("capture stops");

    // The listing is Samba's real one: many entries, SAMR among them over TCP.
    assert!(entries.len() >= 10, "only {} entries", entries.len());
    let samr_tcp = entries.iter().any(|e| {
        e.tower.as_ref().is_some_and(|t| {
            t.interface().map(|i| i.0) == Some(interfaces::SAMR.uuid) && t.tcp_port().is_some()
        })
    });
    assert!(samr_tcp, "samr over tcp is registered");
    assert_ne!(samr_addr.port(), 135, "samr lives on a dynamic port");
    assert_eq!(status, 0, "NTSTATUS");
    let upper: Vec<String> = domains.iter().map(|d| d.to_uppercase()).collect();
    assert!(
        upper.contains(&dc.domain().to_uppercase()),
        "domains {domains:?}"
    );
    assert!(
        upper.contains(&"BUILTIN".to_string()),
        "domains {domains:?}"
    );

    // Our own passive reading of the capture verifies every signature Samba
    // and our client made, and decrypts every sealed stub.
    let bytes = std::fs::read(&pcap_path).expect("read our capture");
    let cap = winv_trace::capture::read_capture(&bytes).expect("capture parses");
    let secret = winv_auth::ntlm::NtlmSecret::from_password(dc.admin_password());
    let trace = winv_trace::conversation::analyze(
        &cap,
        &winv_trace::conversation::Options {
            secret: Some(secret),
            stub_hex: false,
            keytab: None,
        },
    );
    assert_eq!(trace.summary.decode_errors, 0, "{:?}", trace.summary);
    assert_eq!(trace.summary.verify_failures, 0, "{:?}", trace.summary);
    assert_eq!(trace.summary.not_checked, 0, "{:?}", trace.summary);
    assert!(trace.summary.decrypted >= 8, "{:?}", trace.summary);

    // tshark, given the password, decrypts our traffic and finds nothing wrong.
    if !tshark::tshark_available() {
        winv_testsuite::fixtures::skip_or_fail("tshark missing: cannot dissect our capture");
        return;
    }
    let pw = Some(dc.admin_password());
    let malformed = tshark::malformed_frames(&pcap_path, pw).expect("tshark runs");
    assert!(malformed.is_empty(), "tshark flags frames {malformed:?}");
    let pdus = tshark::dcerpc_pdus(&pcap_path, pw).expect("tshark runs");
    assert!(
        pdus.iter()
            .all(|p| !p.frame_malformed && !p.frame_expert_error),
        "{pdus:#?}"
    );
    let sealed_requests = pdus
        .iter()
        .filter(|p| p.pkt_type == 0 && p.auth_level == Some(6))
        .count();
    assert!(
        sealed_requests >= 3,
        "sealed requests seen by tshark: {sealed_requests}"
    );
    let enumerate = pdus
        .iter()
        .any(|p| p.pkt_type == 0 && p.opnum == Some(OPNUM_SAMR_ENUMERATE_DOMAINS));
    assert!(enumerate, "tshark sees SamrEnumerateDomainsInSamServer");
    // And it decrypted our sealed stubs: the domain names are in its dissection.
    let verbose = std::process::Command::new("tshark")
        .arg("-n")
        .arg("-r")
        .arg(&pcap_path)
        .arg("-o")
        .arg(format!("ntlmssp.nt_password:{}", dc.admin_password()))
        .args(["-Y", "samr", "-V"])
        .output()
        .expect("tshark -V");
    let text = String::from_utf8_lossy(&verbose.stdout).to_uppercase();
    assert!(
        text.contains("BUILTIN"),
        "tshark did not decrypt the SAMR reply"
    );
    assert!(
        !text.contains("MALFORMED"),
        "tshark reports a malformed packet"
    );
}

#[test]
fn wrong_password_is_an_authentication_error_not_a_hang() {
    let Some(dc) = SambaDc::start().expect("samba starts") else {
        return;
    };
    let epm_addr = SocketAddr::new(dc.addr(), 135);
    let started = std::time::Instant::now();
    let err = runtime().block_on(async {
        let conn = RpcConnection::connect(
            epm_addr,
            EpmClient::INTERFACE,
            privacy(),
            Some(ntlm(&dc, "not-the-password")),
            Deadlines::default(),
        )
        .await?;
        EpmClient::new(conn)
            .lookup_all()
            .await
            .map_err(|e| match e {
                winv_rpc::epm::EpmError::Rpc(e) => e,
                other => panic!("unexpected {other}"),
            })
    });
    let err: RpcError = err.expect_err("a wrong password must fail");
    assert!(
        err.is_auth_failure(),
        "not classified as an authentication failure: {err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert!(!err.to_string().contains("not-the-password"));
}
