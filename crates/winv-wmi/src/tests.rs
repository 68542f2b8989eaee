//! Round trips of every request and response, fixed vectors from a real Windows capture,
//! and "arbitrary bytes never panic".

use crate::consts::*;
use crate::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use winv_dcom::{ComVersion, OrpcExtent};
use winv_ndr::{ConformantVaryingArray, Uuid, WString};

fn uuid() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

fn extents() -> impl Strategy<Value = Option<Vec<OrpcExtent>>> {
    option::of(vec(
        (uuid(), vec(any::<u8>(), 0..12)).prop_map(|(id, data)| OrpcExtent { id, data }),
        0..3,
    ))
}

prop_compose! {
    fn this()(major in any::<u16>(), minor in any::<u16>(), flags in any::<u32>(),
              reserved1 in any::<u32>(), cid in uuid(), extensions in extents()) -> OrpcThis {
        OrpcThis { version: ComVersion { major, minor }, flags, reserved1, cid, extensions }
    }
}

prop_compose! {
    fn that()(flags in any::<u32>(), extensions in extents()) -> OrpcThat {
        OrpcThat { flags, extensions }
    }
}

fn ip() -> impl Strategy<Value = Option<MInterfacePointer>> {
    option::of(vec(any::<u8>(), 0..48).prop_map(|data| MInterfacePointer { data }))
}

fn slot() -> impl Strategy<Value = Option<Option<MInterfacePointer>>> {
    option::of(ip())
}

fn bstr() -> impl Strategy<Value = Bstr> {
    option::of(".{0,24}").prop_map(Bstr)
}

fn wstring() -> impl Strategy<Value = WString> {
    option::of("[^\u{0}]{0,24}").prop_map(WString)
}

fn hresult() -> impl Strategy<Value = Hresult> {
    any::<u32>().prop_map(Hresult)
}

fn cva() -> impl Strategy<Value = ConformantVaryingArray<u8>> {
    (vec(any::<u8>(), 0..20), 0u32..4, 0u32..4).prop_map(|(items, offset, spare)| {
        let n = u32::try_from(items.len()).expect("small");
        ConformantVaryingArray {
            max_count: n + offset + spare,
            offset,
            items,
        }
    })
}

/// Asserts `decode(encode(v)) == v` and that re-encoding the decoded value gives the same
/// bytes.
macro_rules! round_trip {
    ($v:expr, $t:ty) => {{
        let v: $t = $v;
        let bytes = v.encode().expect("encode");
        let back = <$t>::decode(&bytes).expect("decode");
        prop_assert_eq!(&back, &v);
        prop_assert_eq!(back.encode().expect("re-encode"), bytes);
    }};
}

proptest! {
    #[test]
    fn login_round_trips(t in this(), th in that(), w1 in wstring(), w2 in wstring(),
                         n in any::<u32>(), l in any::<i32>(), c in cva(), oc in option::of(cva()),
                         p in ip(), q in ip(), h in hresult()) {
        round_trip!(EstablishPositionRequest { this: t.clone(), reserved1: w1.clone(), reserved2: n }, EstablishPositionRequest);
        round_trip!(EstablishPositionResponse { that: th.clone(), locale_version: n, hresult: h }, EstablishPositionResponse);
        round_trip!(RequestChallengeRequest { this: t.clone(), reserved1: w1.clone(), reserved2: w2.clone() }, RequestChallengeRequest);
        round_trip!(RequestChallengeResponse { that: th.clone(), reserved3: c, hresult: h }, RequestChallengeResponse);
        round_trip!(WbemLoginRequest { this: t.clone(), reserved1: w1.clone(), reserved2: oc, reserved3: l, reserved4: p.clone() }, WbemLoginRequest);
        round_trip!(WbemLoginResponse { that: th.clone(), reserved5: q.clone(), hresult: h }, WbemLoginResponse);
        round_trip!(NtlmLoginRequest { this: t.clone(), network_resource: w1.clone(), preferred_locale: w2, flags: l, ctx: p }, NtlmLoginRequest);
        round_trip!(NtlmLoginResponse { that: th.clone(), namespace: q, hresult: h }, NtlmLoginResponse);
        round_trip!(SetClientInfoRequest { this: t, client_machine: w1, client_proc_id: l, reserved: l.wrapping_add(1) }, SetClientInfoRequest);
        round_trip!(SetClientInfoResponse { that: th, hresult: h }, SetClientInfoResponse);
    }

    #[test]
    fn services_round_trips(t in this(), th in that(), b1 in bstr(), b2 in bstr(), l in any::<i32>(),
                            p in ip(), q in ip(), s1 in slot(), s2 in slot(), h in hresult()) {
        round_trip!(OpenNamespaceRequest { this: t.clone(), namespace: b1.clone(), flags: l, ctx: p.clone(), working_namespace: s1.clone(), result: s2.clone() }, OpenNamespaceRequest);
        round_trip!(OpenNamespaceResponse { that: th.clone(), working_namespace: s1.clone(), result: s2.clone(), hresult: h }, OpenNamespaceResponse);
        round_trip!(GetObjectRequest { this: t.clone(), object_path: b1.clone(), flags: l, ctx: p.clone(), object: s1.clone(), call_result: s2.clone() }, GetObjectRequest);
        round_trip!(GetObjectResponse { that: th.clone(), object: s1.clone(), call_result: s2.clone(), hresult: h }, GetObjectResponse);
        round_trip!(ExecQueryRequest { this: t.clone(), query_language: b1.clone(), query: b2.clone(), flags: l, ctx: p.clone() }, ExecQueryRequest);
        round_trip!(ExecQueryResponse { that: th.clone(), enumerator: q.clone(), hresult: h }, ExecQueryResponse);
        round_trip!(ExecMethodRequest { this: t, object_path: b1, method_name: b2, flags: l, ctx: p, in_params: q, out_params: s1.clone(), call_result: s2.clone() }, ExecMethodRequest);
        round_trip!(ExecMethodResponse { that: th, out_params: s1, call_result: s2, hresult: h }, ExecMethodResponse);
    }

    #[test]
    fn enumerator_round_trips(t in this(), th in that(), l in any::<i32>(), n in any::<u32>(),
                              objs in vec(ip(), 0..4), spare in 0u32..3, g in uuid(),
                              buf in option::of(vec(any::<u8>(), 0..64)), p in ip(), h in hresult()) {
        round_trip!(EnumResetRequest { this: t.clone() }, EnumResetRequest);
        round_trip!(HresultResponse { that: th.clone(), hresult: h }, HresultResponse);
        round_trip!(EnumNextRequest { this: t.clone(), timeout: l, count: n }, EnumNextRequest);
        let capacity = u32::try_from(objs.len()).expect("small") + spare;
        round_trip!(EnumNextResponse { that: th.clone(), capacity, objects: objs, hresult: h }, EnumNextResponse);
        round_trip!(EnumNextAsyncRequest { this: t.clone(), count: n, sink: p.clone() }, EnumNextAsyncRequest);
        round_trip!(EnumCloneRequest { this: t.clone() }, EnumCloneRequest);
        round_trip!(EnumCloneResponse { that: th.clone(), enumerator: p.clone(), hresult: h }, EnumCloneResponse);
        round_trip!(EnumSkipRequest { this: t.clone(), timeout: l, count: n }, EnumSkipRequest);
        round_trip!(GetSmartEnumRequest { this: t.clone() }, GetSmartEnumRequest);
        round_trip!(GetSmartEnumResponse { that: th.clone(), smart_enum: p, hresult: h }, GetSmartEnumResponse);
        round_trip!(SmartEnumNextRequest { this: t, proxy_guid: g, timeout: l, count: n }, SmartEnumNextRequest);
        round_trip!(SmartEnumNextResponse { that: th, returned: n, buffer: buf, hresult: h }, SmartEnumNextResponse);
    }

    #[test]
    fn call_result_round_trips(t in this(), th in that(), l in any::<i32>(), p in ip(), b in bstr(), h in hresult()) {
        round_trip!(CallResultRequest { this: t, timeout: l }, CallResultRequest);
        round_trip!(GetResultObjectResponse { that: th.clone(), object: p.clone(), hresult: h }, GetResultObjectResponse);
        round_trip!(GetResultStringResponse { that: th.clone(), result: b, hresult: h }, GetResultStringResponse);
        round_trip!(GetResultServicesResponse { that: th.clone(), services: p, hresult: h }, GetResultServicesResponse);
        round_trip!(GetCallStatusResponse { that: th, status: l, hresult: h }, GetCallStatusResponse);
    }

    #[test]
    fn fuzz_decode_never_panics(data in vec(any::<u8>(), 0..300)) {
        fuzz_decode(&data);
    }

    #[test]
    fn truncations_of_valid_stubs_are_errors(cut in 0usize..200) {
        let stub = hex(NTLM_LOGIN_RESPONSE);
        let cut = cut.min(stub.len() - 1);
        prop_assert!(NtlmLoginResponse::decode(&stub[..cut]).is_err());
        fuzz_decode(&stub[..cut]);
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Frame 45 of `windows-wmi-processcallcreate.pcapng` (Windows client): NTLMLogin stub.
const NTLM_LOGIN_REQUEST: &str = "0500070000000000000000001bd27efdc9dad249aadd65b0c706fc4900000000000002001a000000000000001a0000005c005c003100370032002e00310036002e00360036002e00330036005c0052004f004f0054005c00430049004d00560032000000040002001000000000000000100000006d0073005f003400300039002c0065006e002d00550053002c0065006e0000000000000000000000";
/// Frame 46 (Windows server): the NTLMLogin reply.
const NTLM_LOGIN_RESPONSE: &str = "000000000000000000000200b0000000b00000004d454f570100000099dc56958c82cf11a37e00aa003240c700000000050000006736217f507337050a73470f6a8c0f2a1b40010030050000032412059210a4893600200007003000310035003600360073002d00770069006e00310036002d0069007200000007003100370032002e00310036002e00360036002e0033003600000000000900ffff00001e00ffff00001000ffff00000a00ffff00001600ffff00001f00ffff00000e00ffff0000000000000000";

#[test]
fn windows_ntlm_login_request_decodes_and_re_encodes_exactly() {
    let stub = hex(NTLM_LOGIN_REQUEST);
    let req = NtlmLoginRequest::decode(&stub).expect("decode");
    assert_eq!(req.this.version, ComVersion { major: 5, minor: 7 });
    assert_eq!(req.this.extensions, None);
    assert_eq!(
        req.network_resource.as_deref(),
        Some(r"\\172.16.66.36\ROOT\CIMV2")
    );
    assert_eq!(req.preferred_locale.as_deref(), Some("ms_409,en-US,en"));
    assert_eq!(req.flags, 0);
    assert_eq!(req.ctx, None);
    assert_eq!(req.encode().expect("encode"), stub);
}

#[test]
fn windows_ntlm_login_response_holds_an_iwbemservices_reference() {
    let stub = hex(NTLM_LOGIN_RESPONSE);
    let resp = NtlmLoginResponse::decode(&stub).expect("decode");
    assert_eq!(resp.hresult, Hresult::S_OK);
    let ns = resp.namespace.as_ref().expect("ppNamespace");
    assert_eq!(ns.data.len(), 0xb0);
    assert_eq!(
        marshal::interface_iid(ns).expect("objref"),
        winv_dcerpc::interfaces::IWBEMSERVICES.uuid
    );
    assert_eq!(resp.encode().expect("encode"), stub);
}

#[test]
fn windows_establish_position_round_trip() {
    // Frames 43/44 of the same capture.
    let req =
        hex("0500070000000000000000001bd27efdc9dad249aadd65b0c706fc49000000000000000000000000");
    let r = EstablishPositionRequest::decode(&req).expect("decode");
    assert_eq!(r.reserved1, WString::null());
    assert_eq!(r.reserved2, 0);
    assert_eq!(r.encode().expect("encode"), req);
    let resp = hex("00000000000000000100000000000000");
    let r = EstablishPositionResponse::decode(&resp).expect("decode");
    assert_eq!(r.locale_version, 1);
    assert_eq!(r.hresult, Hresult::S_OK);
    assert_eq!(r.encode().expect("encode"), resp);
}

#[test]
fn exec_query_wql_has_the_client_flags_and_layout() {
    let cid = Uuid::from_u128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10);
    let req = ExecQueryRequest::wql(OrpcThis::new(cid), "SELECT Name FROM Win32_BIOS");
    assert_eq!(req.flags, 0x30);
    let stub = req.encode().expect("encode");
    // ORPCTHIS (32 bytes) then the WQL BSTR: referent id, max_count 3, cBytes 6, clSize 3.
    assert_eq!(
        &stub[32..48],
        &[0, 0, 2, 0, 3, 0, 0, 0, 6, 0, 0, 0, 3, 0, 0, 0]
    );
    assert_eq!(
        &stub[48..54],
        "WQL"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect::<Vec<_>>()
            .as_slice()
    );
    // Then aligned to 4: the query BSTR's referent id 0x00020004.
    assert_eq!(&stub[56..60], &[4, 0, 2, 0]);
    // lFlags and the null pCtx close the stub.
    let n = stub.len();
    assert_eq!(&stub[n - 8..], &[0x30, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn impacket_style_exec_query_is_understood() {
    let req = ExecQueryRequest {
        this: OrpcThis::new(Uuid::nil()),
        query_language: Bstr::with_nul("WQL"),
        query: Bstr::with_nul("SELECT * FROM Win32_OperatingSystem"),
        flags: 0,
        ctx: None,
    };
    let back = ExecQueryRequest::decode(&req.encode().expect("encode")).expect("decode");
    assert_eq!(back.query_language.text(), Some("WQL"));
    assert_eq!(
        back.query.text(),
        Some("SELECT * FROM Win32_OperatingSystem")
    );
}

#[test]
fn enum_next_response_layout_and_checks() {
    let obj = MInterfacePointer {
        data: vec![1, 2, 3, 4],
    };
    let resp = EnumNextResponse {
        that: OrpcThat::default(),
        capacity: 10,
        objects: vec![Some(obj)],
        hresult: WBEM_S_FALSE,
    };
    let stub = resp.encode().expect("encode");
    assert_eq!(
        stub,
        [
            0, 0, 0, 0, 0, 0, 0, 0, // ORPCTHAT
            10, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, // max_count, offset, actual_count
            0, 0, 2, 0, // referent id of apObjects[0]
            4, 0, 0, 0, 4, 0, 0, 0, 1, 2, 3, 4, // MInterfacePointer
            1, 0, 0, 0, // puReturned
            1, 0, 0, 0, // WBEM_S_FALSE
        ]
    );
    // puReturned disagreeing with the array is an error.
    let mut bad = stub.clone();
    bad[36] = 2;
    assert!(matches!(
        EnumNextResponse::decode(&bad),
        Err(WmiError::Invalid(_))
    ));
    // A non-zero offset is an error.
    let mut bad = stub;
    bad[12] = 1;
    assert!(EnumNextResponse::decode(&bad).is_err());
    // More objects than capacity cannot be encoded.
    let over = EnumNextResponse {
        capacity: 0,
        objects: vec![None],
        ..EnumNextResponse::default()
    };
    assert!(over.encode().is_err());
}

#[test]
fn smart_enum_next_response_layout() {
    let resp = SmartEnumNextResponse {
        that: OrpcThat::default(),
        returned: 2,
        buffer: Some(b"WBEMDATA".to_vec()),
        hresult: WBEM_S_NO_ERROR,
    };
    let stub = resp.encode().expect("encode");
    // ORPCTHAT, puReturned, pdwBuffSize, referent id, max_count, bytes, HRESULT (as aiowmi reads it).
    let mut want = vec![0u8; 8];
    want.extend_from_slice(&[2, 0, 0, 0, 8, 0, 0, 0, 0, 0, 2, 0, 8, 0, 0, 0]);
    want.extend_from_slice(b"WBEMDATA");
    want.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(stub, want);
    let mut bad = stub;
    bad[12] = 9; // pdwBuffSize
    assert!(SmartEnumNextResponse::decode(&bad).is_err());
}

#[test]
fn get_object_new_asks_for_the_object_like_windows() {
    let req = GetObjectRequest::new(OrpcThis::new(Uuid::nil()), "Win32_Process");
    let stub = req.encode().expect("encode");
    // After the BSTR: lFlags 0, pCtx null, ppObject: a non-null slot pointer then the
    // null interface pointer in it, ppCallResult null.
    let n = stub.len();
    assert_eq!(&stub[n - 20..n - 12], &[0, 0, 0, 0, 0, 0, 0, 0]);
    assert_ne!(&stub[n - 12..n - 8], &[0, 0, 0, 0]);
    assert_eq!(&stub[n - 8..], &[0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(GetObjectRequest::decode(&stub).expect("decode"), req);
}

#[test]
fn opnums_match_the_spec_tables() {
    assert_eq!(EstablishPositionRequest::OPNUM, 3);
    assert_eq!(RequestChallengeRequest::OPNUM, 4);
    assert_eq!(WbemLoginRequest::OPNUM, 5);
    assert_eq!(NtlmLoginRequest::OPNUM, 6);
    assert_eq!(OpenNamespaceRequest::OPNUM, 3);
    assert_eq!(GetObjectRequest::OPNUM, 6);
    assert_eq!(ExecQueryRequest::OPNUM, 20);
    assert_eq!(ExecMethodRequest::OPNUM, 24);
    assert_eq!(EnumResetRequest::OPNUM, 3);
    assert_eq!(EnumNextRequest::OPNUM, 4);
    assert_eq!(EnumNextAsyncRequest::OPNUM, 5);
    assert_eq!(EnumCloneRequest::OPNUM, 6);
    assert_eq!(EnumSkipRequest::OPNUM, 7);
    assert_eq!(GetSmartEnumRequest::OPNUM, 3);
    assert_eq!(SmartEnumNextRequest::OPNUM, 3);
    assert_eq!(SetClientInfoRequest::OPNUM, 3);
    assert_eq!(call_result::opnums::GET_CALL_STATUS, 6);
}

#[test]
fn trailing_bytes_are_rejected() {
    let mut stub = hex(NTLM_LOGIN_RESPONSE);
    stub.extend_from_slice(&[0, 0, 0, 0]);
    assert!(NtlmLoginResponse::decode(&stub).is_err());
}
