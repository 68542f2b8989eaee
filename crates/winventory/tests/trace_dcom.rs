//! `winventory trace` on DCOM and WMI: the activation, RemQueryInterface, NTLMLogin and
//! RemRelease calls of the real Windows capture, checked against the facts of the
//! fixtures README and, value by value, against Wireshark's DCOM dissectors.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use winv_testsuite::fixtures::{require_fixture, skip_or_fail};
use winv_testsuite::tshark::{frame_fields, tshark_available, FrameFields};

const WMI: &str = "pcap/windows-wmi-processcallcreate.pcapng";

fn trace_json(path: &Path, password: Option<&str>) -> Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_winventory"));
    cmd.arg("trace").arg(path).arg("--json");
    if let Some(pw) = password {
        cmd.arg("--nt-password-env")
            .arg("WINV_TEST_TRACE_DCOM_PW")
            .env("WINV_TEST_TRACE_DCOM_PW", pw);
    }
    let out = cmd.output().expect("run winventory");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid json")
}

/// Every call of the trace, in request order.
fn calls(json: &Value) -> Vec<&Value> {
    let mut v: Vec<&Value> = json["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .flat_map(|c| c["calls"].as_array().expect("calls"))
        .collect();
    v.sort_by_key(|c| c["request_frames"][0].as_u64());
    v
}

fn call_at(json: &Value, request_frame: u64) -> &Value {
    calls(json)
        .into_iter()
        .find(|c| c["request_frames"][0].as_u64() == Some(request_frame))
        .unwrap_or_else(|| panic!("no call with request frame {request_frame}"))
}

#[test]
fn trace_decodes_the_activation_and_the_ntlm_login() {
    let Some(path) = require_fixture(WMI) else {
        return;
    };
    let json = trace_json(&path, None);
    assert_eq!(json["summary"]["decode_errors"], 0);

    // Frames 24/25: RemoteCreateInstance of CLSID_WbemLevel1Login.
    let act = call_at(&json, 24);
    assert_eq!(act["response_frames"][0], 25);
    let d = &act["dcom"];
    assert_eq!(d["interface"], "ISystemActivator");
    assert_eq!(d["method"], "RemoteCreateInstance");
    let req = &d["request"];
    assert_eq!(req["kind"], "activation");
    assert_eq!(req["clsid"]["name"], "CLSID_WbemLevel1Login");
    assert_eq!(req["clsid"]["uuid"], "8bc3f05e-d86b-11d0-a075-00c04fb68820");
    assert_eq!(req["iids"][0]["name"], "IWbemLevel1Login");
    assert_eq!(req["server_name"], "172.16.66.36");
    let resp = &d["response"];
    assert_eq!(resp["kind"], "activation");
    assert_eq!(d["hresult"]["code"], 0);
    assert_eq!(d["hresult"]["name"], "S_OK");
    assert_eq!(resp["oxid"], "0x053773507f213667");
    assert_eq!(
        resp["ipid_rem_unknown"],
        "0000c000-0530-0000-7d85-2faeeac5c880"
    );
    let itf = &resp["interfaces"][0];
    assert_eq!(itf["hresult"]["code"], 0);
    assert_eq!(itf["objref"]["oxid"], "0x053773507f213667");
    assert_eq!(
        itf["objref"]["ipid"],
        "00014006-0530-0000-0333-997691ea98ab"
    );
    assert_eq!(itf["objref"]["public_refs"], 5);
    let bindings: Vec<String> = resp["bindings"]["string_bindings"]
        .as_array()
        .expect("string bindings")
        .iter()
        .map(|b| b["network_addr"].as_str().expect("addr").to_string())
        .collect();
    assert_eq!(
        bindings,
        [
            r"\\\\01566S-WIN16-IR[\\PIPE\\atsvc]",
            r"\\\\01566S-WIN16-IR[\\pipe\\SessEnvPublicRpc]",
            "01566s-win16-ir[49670]",
            "172.16.66.36[49670]",
        ]
    );
    // The security bindings of the fixtures README (those of the returned OBJREF).
    let svcs: Vec<u64> = itf["objref"]["resolver"]["security_bindings"]
        .as_array()
        .expect("security bindings")
        .iter()
        .map(|s| s["authn_svc"].as_u64().expect("svc"))
        .collect();
    assert_eq!(svcs, [0x9, 0x1e, 0x10, 0xa, 0x16, 0x1f, 0xe]);

    // Frames 45/46: NTLMLogin, its namespace and the IWbemServices reference returned.
    let login = call_at(&json, 45);
    assert_eq!(login["response_frames"][0], 46);
    let d = &login["dcom"];
    assert_eq!(d["interface"], "IWbemLevel1Login");
    assert_eq!(d["method"], "NTLMLogin");
    assert_eq!(d["ipid"], "00014006-0530-0000-0333-997691ea98ab");
    assert_eq!(d["request"]["namespace"], r"\\172.16.66.36\ROOT\CIMV2");
    assert_eq!(d["hresult"]["name"], "S_OK");
    let services = &d["response"]["objref"];
    assert_eq!(services["iid"]["name"], "IWbemServices");
    assert_eq!(services["oxid"], "0x053773507f213667");
    assert_eq!(services["ipid"], "0001401b-0530-0000-0324-12059210a489");

    // The IWbemServices calls are sealed with an unknown password: encrypted, no notes.
    for (frame, method) in [(52, "GetObject"), (126, "ExecMethod")] {
        let d = &call_at(&json, frame)["dcom"];
        assert_eq!(d["method"], method, "frame {frame}");
        assert_eq!(d["encrypted"], true, "frame {frame}");
        assert_eq!(d["ipid"], "0001401b-0530-0000-0324-12059210a489");
        assert!(d.get("notes").is_none(), "frame {frame}: {d}");
        assert!(d.get("request").is_none(), "frame {frame}: {d}");
    }
    // Every readable DCOM call decodes without a note and has a named HRESULT.
    for c in calls(&json) {
        let d = &c["dcom"];
        assert!(d.is_object(), "not a DCOM call: {c}");
        assert!(d.get("notes").is_none(), "{d}");
        if d.get("encrypted").is_none() {
            assert!(d["hresult"]["name"].is_string(), "{d}");
        }
    }
}

#[test]
fn trace_text_shows_dcom_calls() {
    let Some(path) = require_fixture(WMI) else {
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_winventory"))
        .arg("trace")
        .arg(&path)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "call 4 ISystemActivator.RemoteCreateInstance [#24 -> #25] clsid CLSID_WbemLevel1Login",
        "ipidRemUnknown 0000c000-0530-0000-7d85-2faeeac5c880",
        r"IWbemLevel1Login.NTLMLogin [#45 -> #46] on 00014006-0530-0000-0333-997691ea98ab namespace \\172.16.66.36\ROOT\CIMV2",
        "S_OK standard IWbemServices oxid 0x053773507f213667 ipid 0001401b-0530-0000-0324-12059210a489",
        "IWbemServices.ExecMethod [#126 -> #128]",
        "-> encrypted",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn other_captures_have_no_dcom_notes_and_no_decode_errors() {
    for (rel, pw) in [
        (
            "pcap/scapy-dcerpc-privacy-ntlm.pcapng",
            Some("Password123!"),
        ),
        ("pcap/zeek-dce-rpc-ntlm.pcapng", None),
    ] {
        let Some(path) = require_fixture(rel) else {
            return;
        };
        let json = trace_json(&path, pw);
        assert_eq!(json["summary"]["decode_errors"], 0, "{rel}");
        for c in calls(&json) {
            if let Some(d) = c.get("dcom") {
                assert!(d.get("notes").is_none(), "{rel}: {d}");
            }
        }
    }
}

/// The fields tshark's DCOM dissectors give for one frame, built from our JSON.
#[derive(Debug, Default, PartialEq, Eq)]
struct Expected {
    /// `dcom.hresult`.
    hresults: Vec<u64>,
    /// `dcom.oxid`.
    oxids: Vec<String>,
    /// `dcom.ipid`: the object UUID first, then every STDOBJREF / REMINTERFACEREF IPID.
    ipids: Vec<String>,
    /// `dcom.stdobjref.public_refs`.
    public_refs: Vec<u64>,
    /// `dcom.dualstringarray.network_addr`.
    addrs: Vec<String>,
    /// `dcom.dualstringarray.tower_id`.
    towers: Vec<u64>,
    /// `dcom.dualstringarray.security_authn_svc`.
    authn: Vec<u64>,
}

impl Expected {
    fn bindings(&mut self, b: &Value) {
        for s in b["string_bindings"].as_array().into_iter().flatten() {
            self.addrs
                .push(s["network_addr"].as_str().expect("addr").to_string());
            self.towers.push(s["tower_id"].as_u64().expect("tower"));
        }
        for s in b["security_bindings"].as_array().into_iter().flatten() {
            self.authn.push(s["authn_svc"].as_u64().expect("authn"));
        }
    }
    fn objref(&mut self, o: &Value) {
        if let Some(x) = o["oxid"].as_str() {
            self.oxids.push(x.to_string());
        }
        if let Some(x) = o["ipid"].as_str() {
            self.ipids.push(x.to_string());
        }
        if let Some(x) = o["public_refs"].as_u64() {
            self.public_refs.push(x);
        }
        if o["resolver"].is_object() {
            self.bindings(&o["resolver"]);
        }
    }
    fn of(t: &FrameFields) -> Self {
        let hex = |v: &[String]| -> Vec<u64> {
            v.iter()
                .map(|s| {
                    let s = s.trim_start_matches("0x");
                    u64::from_str_radix(s, 16).unwrap_or_else(|_| panic!("hex {s}"))
                })
                .collect()
        };
        Expected {
            hresults: hex(t.all("dcom.hresult")),
            oxids: t.all("dcom.oxid").to_vec(),
            ipids: t.all("dcom.ipid").to_vec(),
            public_refs: hex(t.all("dcom.stdobjref.public_refs")),
            addrs: t.all("dcom.dualstringarray.network_addr").to_vec(),
            towers: hex(t.all("dcom.dualstringarray.tower_id")),
            authn: hex(t.all("dcom.dualstringarray.security_authn_svc")),
        }
    }
}

/// What tshark shows in the request frame of `call`, from our decoding.
fn expected_request(d: &Value) -> Expected {
    let mut e = Expected::default();
    if let Some(o) = d["ipid"].as_str() {
        e.ipids.push(o.to_string());
    }
    let req = &d["request"];
    match req["kind"].as_str() {
        Some("rem_query_interface") => e.ipids.push(req["ipid"].as_str().expect("ipid").into()),
        Some("rem_refs") => {
            for r in req["refs"].as_array().expect("refs") {
                e.ipids.push(r["ipid"].as_str().expect("ipid").into());
            }
        }
        _ => {}
    }
    e
}

/// What tshark shows in the (last) response frame of `call`, from our decoding.
fn expected_response(d: &Value) -> Expected {
    let mut e = Expected::default();
    if let Some(o) = d["ipid"].as_str() {
        e.ipids.push(o.to_string());
    }
    let resp = &d["response"];
    match resp["kind"].as_str() {
        Some("activation") => {
            // PropsOutInfo comes before ScmReplyInfo in the properties.
            for i in resp["interfaces"].as_array().expect("interfaces") {
                e.objref(&i["objref"]);
            }
            e.bindings(&resp["bindings"]);
        }
        Some("rem_query_interface") => {
            for r in resp["results"].as_array().expect("results") {
                e.hresults
                    .push(r["hresult"]["code"].as_u64().expect("code"));
                e.objref(r);
            }
        }
        _ => {}
    }
    if let Some(h) = d["hresult"]["code"].as_u64() {
        e.hresults.push(h);
    }
    e
}

#[test]
fn trace_dcom_agrees_with_tshark() {
    if !tshark_available() {
        skip_or_fail("tshark is not installed (scripts/test.sh installs it)");
        return;
    }
    let Some(path) = require_fixture(WMI) else {
        return;
    };
    let json = trace_json(&path, None);
    let fields = [
        "_ws.col.Protocol",
        "_ws.col.Info",
        "dcerpc.opnum",
        "dcerpc.obj_id",
        "dcom.hresult",
        "dcom.oxid",
        "dcom.ipid",
        "dcom.stdobjref.public_refs",
        "dcom.dualstringarray.network_addr",
        "dcom.dualstringarray.tower_id",
        "dcom.dualstringarray.security_authn_svc",
        "dcom.iid",
        "isystemactivator.properties.instninfo.clsid",
        "isystemactivator.properties.instninfo.iid",
        "isystemactivator.properties.si.ci.name",
        "isystemactivator.properties.scmresp.oxid",
        "isystemactivator.properties.scmresp.rmtunknid",
        "isystemactivator.properties.scmresp.authhint",
        "isystemactivator.properties.retval",
        "remunk.refs",
        "remunk.public_refs",
        "remunk.private_refs",
    ];
    let theirs = frame_fields(
        &path,
        None,
        "dcerpc.pkt_type == 0 || dcerpc.pkt_type == 2",
        &fields,
    )
    .expect("tshark runs");
    let at = |frame: u64| {
        theirs
            .iter()
            .find(|t| u64::from(t.frame) == frame)
            .unwrap_or_else(|| panic!("tshark shows no request/response in frame {frame}"))
    };
    let mut dissected = 0;
    for c in calls(&json) {
        let d = &c["dcom"];
        let req_frame = c["request_frames"][0].as_u64().expect("frame");
        let t = at(req_frame);
        let w = format!("frame {req_frame}");
        // Opnum and object UUID (IPID) of every request, dissected or not.
        assert_eq!(
            t.first("dcerpc.opnum").map(str::to_owned),
            Some(c["opnum"].to_string()),
            "{w}: opnum"
        );
        assert_eq!(
            t.first("dcerpc.obj_id"),
            d["ipid"].as_str(),
            "{w}: object uuid"
        );
        if t.first("_ws.col.Protocol") == Some("DCERPC") {
            // No DCOM dissector for this interface (IWbemLevel1Login, IWbemServices...).
            continue;
        }
        dissected += 1;
        let method = d["method"].as_str().expect("method");
        let info = t.first("_ws.col.Info").unwrap_or_default();
        assert!(
            info.starts_with(&format!("{method} request")),
            "{w}: {info:?} vs {method}"
        );
        assert_eq!(Expected::of(t), expected_request(d), "{w}");
        let req = &d["request"];
        if req["kind"] == "activation" {
            assert_eq!(
                t.first("isystemactivator.properties.instninfo.clsid"),
                req["clsid"]["uuid"].as_str(),
                "{w}: clsid"
            );
            let iids: Vec<String> = req["iids"]
                .as_array()
                .expect("iids")
                .iter()
                .map(|i| i["uuid"].as_str().expect("uuid").to_string())
                .collect();
            assert_eq!(
                t.all("isystemactivator.properties.instninfo.iid"),
                iids.as_slice(),
                "{w}: iids"
            );
            assert_eq!(
                t.first("isystemactivator.properties.si.ci.name"),
                req["server_name"].as_str(),
                "{w}: server name"
            );
        }
        if req["kind"] == "rem_query_interface" {
            let iids: Vec<String> = req["iids"]
                .as_array()
                .expect("iids")
                .iter()
                .map(|i| i["uuid"].as_str().expect("uuid").to_string())
                .collect();
            assert_eq!(t.all("dcom.iid"), iids.as_slice(), "{w}: iids");
            assert_eq!(
                t.first("remunk.refs").map(str::to_owned),
                Some(req["refs"].to_string()),
                "{w}: refs"
            );
        }
        if req["kind"] == "rem_refs" {
            let refs = req["refs"].as_array().expect("refs");
            let ours = |k: &str| -> Vec<String> { refs.iter().map(|r| r[k].to_string()).collect() };
            assert_eq!(t.all("remunk.public_refs"), ours("public_refs").as_slice());
            assert_eq!(
                t.all("remunk.private_refs"),
                ours("private_refs").as_slice()
            );
        }

        // The response, in the frame of its last fragment.
        let resp_frame = c["response_frames"]
            .as_array()
            .and_then(|f| f.last())
            .and_then(Value::as_u64)
            .expect("response frame");
        let t = at(resp_frame);
        let w = format!("frame {resp_frame}");
        let info = t.first("_ws.col.Info").unwrap_or_default();
        assert!(
            info.starts_with(&format!("{method} response")),
            "{w}: {info:?} vs {method}"
        );
        assert_eq!(Expected::of(t), expected_response(d), "{w}");
        let resp = &d["response"];
        if resp["kind"] == "activation" {
            assert_eq!(
                t.first("isystemactivator.properties.scmresp.oxid"),
                resp["oxid"].as_str(),
                "{w}: scm oxid"
            );
            assert_eq!(
                t.first("isystemactivator.properties.scmresp.rmtunknid"),
                resp["ipid_rem_unknown"].as_str(),
                "{w}: ipidRemUnknown"
            );
            assert_eq!(
                t.first("isystemactivator.properties.scmresp.authhint")
                    .map(str::to_owned),
                Some(resp["authn_hint"].to_string()),
                "{w}: authn hint"
            );
            let ours: Vec<String> = resp["interfaces"]
                .as_array()
                .expect("interfaces")
                .iter()
                .map(|i| i["hresult"]["code"].to_string())
                .collect();
            assert_eq!(
                t.all("isystemactivator.properties.retval"),
                ours.as_slice(),
                "{w}: per-interface hresults"
            );
        }
    }
    // RemoteCreateInstance, RemQueryInterface and the two RemRelease calls.
    assert_eq!(dissected, 4, "calls tshark dissects as DCOM");
    // tshark cannot read the sealed calls either.
    for frame in [52, 126] {
        assert!(at(frame).all("dcom.hresult").is_empty());
    }
}
