//! tshark judges the simulator's wire format: a capture of impacket talking to
//! a simulated host, dissected with the password, has no malformed frame, its
//! sealed PDUs decrypt, and tshark reads the activation reply (OXID, string
//! bindings with the host name and the address with the dynamic port,
//! ipidRemUnknown) and the IRemUnknown2 calls as it reads the real Windows
//! capture in the fixtures. Our own `winv_trace` reads it too, with every
//! signature verified and nothing left undecoded.

use std::net::IpAddr;
use std::process::Command;

use serde_json::Value as Json;
use winv_sim::fleet::Fleet;
use winv_sim::server::ListenOptions;
use winv_testsuite::fixtures::skip_or_fail;
use winv_testsuite::python::{python_with, script};
use winv_testsuite::samba::PacketCapture;
use winv_testsuite::sim::SimHandle;
use winv_testsuite::tshark::{dcerpc_pdus, frame_fields, malformed_frames, tshark_available};

const PASSWORD_VAR: &str = "WINV_TEST_PASSWORD";
const PASSWORD: &str = "Sim-Passw0rd!";

#[test]
fn tshark_dissects_impacket_talking_to_the_simulator() {
    if !tshark_available() || !PacketCapture::available() {
        skip_or_fail("tshark is not installed (scripts/test.sh installs it)");
        return;
    }
    let Some(py) = python_with("impacket") else {
        return;
    };
    let addr: IpAddr = "127.0.44.1".parse().expect("address");
    std::env::set_var(PASSWORD_VAR, PASSWORD);
    let fleet = Fleet::single(addr, "LAB\\admin", PASSWORD_VAR);
    let host_name = fleet.host(addr).expect("host").name.clone();
    let sim = SimHandle::start(fleet, ListenOptions::default()).expect("simulator starts");

    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("impacket-sim.pcapng");
    let cap = match PacketCapture::start("lo", &format!("host {addr}"), &pcap) {
        Ok(c) => c,
        Err(e) => {
            skip_or_fail(&format!("cannot capture on lo: {e:#}"));
            return;
        }
    };
    let out = Command::new(py)
        .arg(script("impacket_wmi.py"))
        .arg(addr.to_string())
        .args(["LAB", "admin", "//./root/cimv2"])
        .arg("SELECT Caption, Version FROM Win32_OperatingSystem")
        .arg("REG:GetStringValue:SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion:ProductName")
        .env(PASSWORD_VAR, PASSWORD)
        .env("WINV_TEST_LEVEL", "privacy")
        .output()
        .expect("python runs");
    let pcap = cap.stop().expect("capture stops");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: Json = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "impacket printed no JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(json["results"][0]["error"], Json::Null, "{json}");
    assert_eq!(json["results"][1]["error"], Json::Null, "{json}");

    let pw = Some(PASSWORD);
    // No malformed frame, no expert error, with or without the password.
    assert_eq!(
        malformed_frames(&pcap, None).expect("tshark"),
        Vec::<u32>::new()
    );
    assert_eq!(
        malformed_frames(&pcap, pw).expect("tshark"),
        Vec::<u32>::new()
    );
    let pdus = dcerpc_pdus(&pcap, pw).expect("tshark");
    let bad: Vec<_> = pdus
        .iter()
        .filter(|p| p.frame_malformed || p.frame_expert_error)
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
    // Sealed (privacy) requests on the dynamic port, and tshark decrypts them:
    // it dissects the WMI strings of the query in the plaintext.
    let sealed = pdus
        .iter()
        .filter(|p| p.pkt_type == 0 && p.auth_level == Some(6))
        .count();
    assert!(sealed >= 4, "sealed requests: {sealed}");
    let plain = frame_fields(
        &pcap,
        pw,
        "dcerpc.pkt_type == 0",
        &["dcerpc.decrypted_stub_data"],
    )
    .expect("tshark");
    let decrypted = plain
        .iter()
        .filter(|f| f.first("dcerpc.decrypted_stub_data").is_some())
        .count();
    assert!(decrypted >= 4, "tshark decrypted {decrypted} requests");
    let undecrypted = frame_fields(
        &pcap,
        None,
        "dcerpc.pkt_type == 0",
        &["dcerpc.decrypted_stub_data"],
    )
    .expect("tshark")
    .iter()
    .filter(|f| f.first("dcerpc.decrypted_stub_data").is_some())
    .count();
    assert_eq!(undecrypted, 0, "without the password nothing decrypts");

    // The activation reply, as tshark reads frame 25 of the real capture.
    let fields = [
        "_ws.col.Protocol",
        "_ws.col.Info",
        "isystemactivator.properties.scmresp.oxid",
        "isystemactivator.properties.scmresp.rmtunknid",
        "isystemactivator.properties.retval",
        "dcom.dualstringarray.network_addr",
        "dcom.dualstringarray.tower_id",
        "dcom.oxid",
        "dcom.ipid",
    ];
    let frames = frame_fields(
        &pcap,
        pw,
        "dcerpc.pkt_type == 0 || dcerpc.pkt_type == 2",
        &fields,
    )
    .expect("tshark");
    let info =
        |f: &winv_testsuite::tshark::FrameFields| f.first("_ws.col.Info").unwrap_or("").to_owned();
    let reply = frames
        .iter()
        .find(|f| info(f).starts_with("RemoteCreateInstance response"))
        .unwrap_or_else(|| panic!("no activation reply: {frames:#?}"));
    assert_eq!(reply.first("_ws.col.Protocol"), Some("ISystemActivator"));
    let oxid = reply
        .first("isystemactivator.properties.scmresp.oxid")
        .expect("OXID");
    assert!(
        oxid.starts_with("0x") && oxid != "0x0000000000000000",
        "{oxid}"
    );
    // The OBJREF of IWbemLevel1Login names the same OXID.
    assert!(
        reply.all("dcom.oxid").iter().any(|o| o == oxid),
        "{reply:#?}"
    );
    let rem_unknown = reply
        .first("isystemactivator.properties.scmresp.rmtunknid")
        .expect("ipidRemUnknown")
        .to_owned();
    assert_ne!(rem_unknown, "00000000-0000-0000-0000-000000000000");
    let addrs = reply.all("dcom.dualstringarray.network_addr");
    let port = sim.dynamic_port;
    let want_name = format!("{}[{port}]", host_name.to_ascii_lowercase());
    let want_addr = format!("{addr}[{port}]");
    assert!(
        addrs.iter().any(|a| a.eq_ignore_ascii_case(&want_name)),
        "{want_name} not in {addrs:?}"
    );
    assert!(
        addrs.iter().any(|a| a == &want_addr),
        "{want_addr} not in {addrs:?}"
    );
    // Tower 7 (ncacn_ip_tcp) for the TCP bindings, as in the real reply.
    assert!(
        reply
            .all("dcom.dualstringarray.tower_id")
            .iter()
            .any(|t| t == "0x0007"),
        "{reply:#?}"
    );

    // IRemUnknown(2) calls on ipidRemUnknown, dissected by name (impacket
    // makes RemRelease calls and no RemQueryInterface).
    let rem: Vec<String> = frames
        .iter()
        .filter(|f| {
            matches!(
                f.first("_ws.col.Protocol"),
                Some("IRemUnknown2" | "IRemUnknown")
            )
        })
        .map(info)
        .collect();
    assert!(
        rem.iter().any(|i| i.starts_with("RemRelease request")),
        "no RemRelease request: {rem:?} in {:#?}",
        frames.iter().map(info).collect::<Vec<_>>()
    );
    assert!(
        rem.iter()
            .any(|i| i.starts_with("RemRelease response") && i.contains("S_OK")),
        "no RemRelease response: {rem:?}"
    );
    let obj = frame_fields(&pcap, pw, "remunk", &["dcerpc.obj_id"]).expect("tshark");
    assert!(
        obj.iter()
            .filter_map(|f| f.first("dcerpc.obj_id"))
            .all(|o| o == rem_unknown),
        "IRemUnknown2 calls go to ipidRemUnknown {rem_unknown}: {obj:#?}"
    );

    // Our own reading of the capture: every signature verifies, every sealed
    // stub decrypts, nothing fails to decode.
    let bytes = std::fs::read(&pcap).expect("read capture");
    let capture = winv_trace::capture::read_capture(&bytes).expect("capture parses");
    let trace = winv_trace::conversation::analyze(
        &capture,
        &winv_trace::conversation::Options {
            secret: Some(winv_auth::ntlm::NtlmSecret::from_password(PASSWORD)),
            stub_hex: false,
            keytab: None,
        },
    );
    let s = &trace.summary;
    assert_eq!(s.decode_errors, 0, "{s:?}");
    assert_eq!(s.verify_failures, 0, "{s:?}");
    assert_eq!(s.not_checked, 0, "{s:?}");
    assert!(s.decrypted >= 8, "{s:?}");
    drop(sim);
}
