//! `winv-wmi` on real Windows bytes: the NTLMLogin of `windows-wmi-processcallcreate.pcapng`
//! (frames 45/46, signed, not sealed) and impacket's marshaled `Win32_CurrentTime`.

use winv_dcerpc::interfaces::{IWBEMLEVEL1LOGIN, IWBEMSERVICES};
use winv_testsuite::fixtures::require_fixture;
use winv_trace::capture::read_capture;
use winv_trace::conversation::{analyze, Call, Options};
use winv_wmi::login::opnums;
use winv_wmi::{marshal, EstablishPositionRequest, EstablishPositionResponse, Hresult};
use winv_wmi::{MInterfacePointer, NtlmLoginRequest, NtlmLoginResponse};

const WMI_PCAP: &str = "pcap/windows-wmi-processcallcreate.pcapng";
const CURRENT_TIME: &str = "wmio/impacket_win32_currenttime.objref.bin";

/// The calls on `IWbemLevel1Login` in the capture.
fn login_calls() -> Option<Vec<Call>> {
    let path = require_fixture(WMI_PCAP)?;
    let bytes = std::fs::read(path).expect("read fixture");
    let capture = read_capture(&bytes).expect("capture reads");
    let trace = analyze(&capture, &Options::default());
    let want = IWBEMLEVEL1LOGIN.uuid.to_string();
    Some(
        trace
            .connections
            .iter()
            .flat_map(|c| c.calls.iter())
            .filter(|c| c.interface.as_ref().is_some_and(|i| i.uuid == want))
            .cloned()
            .collect(),
    )
}

#[test]
fn ntlm_login_of_frames_45_46_decodes_and_re_encodes_exactly() {
    let Some(calls) = login_calls() else {
        return;
    };
    let call = calls
        .iter()
        .find(|c| c.opnum == opnums::NTLM_LOGIN)
        .expect("an NTLMLogin call");
    assert_eq!(call.request_frames, vec![45]);
    assert_eq!(call.response_frames, vec![46]);

    let req = NtlmLoginRequest::decode(&call.request).expect("request decodes");
    assert_eq!(
        req.network_resource.as_deref(),
        Some(r"\\172.16.66.36\ROOT\CIMV2"),
        "the namespace the Windows client asked for"
    );
    assert_eq!(req.preferred_locale.as_deref(), Some("ms_409,en-US,en"));
    assert_eq!(req.flags, 0);
    assert!(req.ctx.is_none());
    assert_eq!((req.this.version.major, req.this.version.minor), (5, 7));
    assert_eq!(
        req.encode().expect("request encodes"),
        call.request,
        "byte-exact re-encoding of the request"
    );

    let stub = call.response.as_ref().expect("a reply");
    let resp = NtlmLoginResponse::decode(stub).expect("response decodes");
    assert_eq!(resp.hresult, Hresult::S_OK);
    let ns = resp.namespace.as_ref().expect("ppNamespace is not null");
    assert_eq!(
        marshal::interface_iid(ns).expect("an OBJREF"),
        IWBEMSERVICES.uuid,
        "ppNamespace is an IWbemServices reference"
    );
    assert_eq!(&ns.data[..4], b"MEOW");
    assert_eq!(&ns.data[4..8], &1u32.to_le_bytes(), "OBJREF_STANDARD");
    assert_eq!(&resp.encode().expect("response encodes"), stub);
}

#[test]
fn establish_position_of_frames_43_44_round_trips() {
    let Some(calls) = login_calls() else {
        return;
    };
    let call = calls
        .iter()
        .find(|c| c.opnum == opnums::ESTABLISH_POSITION)
        .expect("an EstablishPosition call");
    let req = EstablishPositionRequest::decode(&call.request).expect("request decodes");
    assert!(req.reserved1.as_deref().is_none());
    assert_eq!(req.encode().expect("encode"), call.request);
    let stub = call.response.as_ref().expect("a reply");
    let resp = EstablishPositionResponse::decode(stub).expect("response decodes");
    assert_eq!(resp.hresult, Hresult::S_OK);
    assert_eq!(resp.locale_version, 1);
    assert_eq!(&resp.encode().expect("encode"), stub);
}

#[test]
fn impacket_current_time_objref_unmarshals_to_its_encoding_unit() {
    let Some(path) = require_fixture(CURRENT_TIME) else {
        return;
    };
    let objref = std::fs::read(path).expect("read fixture");
    assert_eq!(objref.len(), 1030);
    let p = MInterfacePointer {
        data: objref.clone(),
    };
    let unit = marshal::class_object_from_pointer(&p).expect("an IWbemClassObject");
    // The EncodingUnit is everything after the 48-byte OBJREF_CUSTOM header.
    assert_eq!(unit.len(), 982);
    assert_eq!(&unit[..4], &0x1234_5678u32.to_le_bytes());
    assert_eq!(&unit[4..8], &974u32.to_le_bytes(), "ObjectEncodingLength");
    assert_eq!(unit[..], objref[48..]);
    // Marshaling it again reproduces Windows' OBJREF byte for byte (reserved = 982).
    let again = marshal::class_object_to_pointer(&unit).expect("marshal");
    assert_eq!(again.data, objref);
}
