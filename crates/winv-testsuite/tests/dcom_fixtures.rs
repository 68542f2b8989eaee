//! `winv-dcom` on a real Windows capture: the activation and IRemUnknown2 calls of
//! `windows-wmi-processcallcreate.pcapng`, with the facts of `../shared/fixtures/README.md`.

use uuid::Uuid;
use winv_dcom::activation::{ActivatedInterface, ActivationReply};
use winv_dcom::clsid::CLSID_WBEM_LEVEL1_LOGIN;
use winv_dcom::objref::tower;
use winv_dcom::remunknown::{
    decode_rem_query_interface_request, decode_rem_query_interface_response,
    decode_rem_release_request, decode_rem_release_response, encode_rem_query_interface_request,
    encode_rem_query_interface_response, encode_rem_release_request,
};
use winv_dcom::{
    decode_remote_create_instance_request, decode_remote_create_instance_response,
    encode_remote_create_instance_request, encode_remote_create_instance_response, ComVersion,
    DualStringArray, Hresult, ObjRef, OrpcThat, SecurityBinding, StdObjRef, StringBinding,
};
use winv_testsuite::fixtures::require_fixture;
use winv_trace::capture::read_capture;
use winv_trace::conversation::{analyze, Call, Options, Trace};

const WMI: &str = "pcap/windows-wmi-processcallcreate.pcapng";

const IID_IWBEMLEVEL1LOGIN: Uuid = Uuid::from_u128(0xf309ad18_d86a_11d0_a075_00c04fb68820);
const IID_IWBEMLOGINCLIENTID: Uuid = Uuid::from_u128(0xd4781cd6_e5d3_44df_ad94_930efe48a887);
const OXID: u64 = 0x0537_7350_7f21_3667;
const IPID: Uuid = Uuid::from_u128(0x00014006_0530_0000_0333_997691ea98ab);
const IPID_REM_UNKNOWN: Uuid = Uuid::from_u128(0x0000c000_0530_0000_7d85_2faeeac5c880);

fn load() -> Option<Trace> {
    let path = require_fixture(WMI)?;
    let bytes = std::fs::read(path).expect("read fixture");
    let capture = read_capture(&bytes).expect("capture reads");
    Some(analyze(&capture, &Options::default()))
}

fn call(t: &Trace, request_frame: u32) -> &Call {
    t.connections
        .iter()
        .flat_map(|c| c.calls.iter())
        .find(|c| c.request_frames.first() == Some(&request_frame))
        .expect("call in capture")
}

fn addrs(d: &DualStringArray) -> Vec<(u16, &str)> {
    d.string_bindings
        .iter()
        .map(|b| (b.tower_id, b.network_addr.as_str()))
        .collect()
}

#[test]
fn windows_activation_request_decodes_and_reencodes_byte_exact() {
    let Some(t) = load() else { return };
    let c = call(&t, 24);
    assert_eq!(c.opnum, 4, "RemoteCreateInstance");
    let (orpc, req) = decode_remote_create_instance_request(&c.request).expect("decode");
    assert_eq!(orpc.version, ComVersion::new(5, 7));
    assert_eq!(req.clsid, CLSID_WBEM_LEVEL1_LOGIN);
    assert_eq!(req.iids, vec![IID_IWBEMLEVEL1LOGIN]);
    assert_eq!(req.client_com_version, ComVersion::new(5, 7));
    assert_eq!(req.class_ctx, 0x14);
    assert_eq!(req.requested_protseqs, vec![tower::NCACN_IP_TCP]);
    assert_eq!(req.client_imp_level, 2);
    let server = req
        .security
        .as_ref()
        .and_then(|s| s.server_info.as_ref())
        .and_then(|i| i.name.as_deref());
    assert_eq!(server, Some("172.16.66.36"));
    assert_eq!(
        req.special.as_ref().map(|s| s.session_id),
        Some(0xffff_ffff)
    );
    assert!(req.client_context.is_some());
    let again = encode_remote_create_instance_request(&orpc, &req).expect("encode");
    assert_eq!(again.len(), c.request.len());
    assert_eq!(hex(&again), hex(&c.request), "byte-exact re-encoding");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn windows_reply(t: &Trace) -> (OrpcThat, ActivationReply) {
    let c = call(t, 24);
    let resp = c.response.as_ref().expect("response");
    let (that, r) = decode_remote_create_instance_response(resp).expect("decode");
    (that, r.expect("S_OK"))
}

#[test]
fn windows_activation_reply_has_the_documented_facts() {
    let Some(t) = load() else { return };
    let (_, reply) = windows_reply(&t);
    assert_eq!(reply.oxid, OXID);
    assert_eq!(reply.ipid_rem_unknown, IPID_REM_UNKNOWN);
    assert_eq!(reply.server_version, ComVersion::new(5, 7));
    assert_eq!(reply.authn_hint, 4);
    assert_eq!(
        addrs(&reply.oxid_bindings),
        vec![
            // On the wire the backslashes are doubled, as Windows escapes them.
            (tower::NCACN_NP, r"\\\\01566S-WIN16-IR[\\PIPE\\atsvc]"),
            (
                tower::NCACN_NP,
                r"\\\\01566S-WIN16-IR[\\pipe\\SessEnvPublicRpc]"
            ),
            (tower::NCACN_IP_TCP, "01566s-win16-ir[49670]"),
            (tower::NCACN_IP_TCP, "172.16.66.36[49670]"),
        ]
    );
    assert_eq!(reply.interfaces.len(), 1);
    let i = &reply.interfaces[0];
    assert_eq!(i.iid, IID_IWBEMLEVEL1LOGIN);
    assert_eq!(i.hresult, Hresult::S_OK);
    let Some(ObjRef::Standard { iid, std, resolver }) = &i.objref else {
        panic!("standard objref expected, got {:?}", i.objref);
    };
    assert_eq!(*iid, IID_IWBEMLEVEL1LOGIN);
    assert_eq!(std.public_refs, 5);
    assert_eq!(std.oxid, OXID);
    assert_eq!(std.ipid, IPID);
    assert_eq!(
        addrs(resolver),
        vec![
            (tower::NCACN_IP_TCP, "01566s-win16-ir"),
            (tower::NCACN_IP_TCP, "172.16.66.36"),
        ]
    );
    let authn: Vec<u16> = resolver
        .security_bindings
        .iter()
        .map(|s| s.authn_svc)
        .collect();
    assert_eq!(authn, vec![0x9, 0x1e, 0x10, 0xa, 0x16, 0x1f, 0xe]);
}

#[test]
fn windows_activation_reply_reencodes_byte_exact() {
    let Some(t) = load() else { return };
    let c = call(&t, 24);
    let (that, reply) = windows_reply(&t);
    let again =
        encode_remote_create_instance_response(&that, Some(&reply), Hresult::S_OK).expect("enc");
    assert_eq!(hex(&again), hex(c.response.as_ref().expect("response")));
}

#[test]
fn simulated_reply_has_the_structure_of_windows() {
    let Some(t) = load() else { return };
    let (_, win) = windows_reply(&t);
    let sim = ActivationReply {
        oxid: 0x1111_2222_3333_4444,
        oxid_bindings: DualStringArray {
            string_bindings: vec![
                StringBinding {
                    tower_id: tower::NCACN_IP_TCP,
                    network_addr: "simhost[49670]".into(),
                },
                StringBinding {
                    tower_id: tower::NCACN_IP_TCP,
                    network_addr: "10.9.8.7[49670]".into(),
                },
            ],
            security_bindings: vec![SecurityBinding {
                authn_svc: 0x0a,
                authz_svc: 0xffff,
                principal_name: "NT AUTHORITY\\SYSTEM".into(),
            }],
        },
        ipid_rem_unknown: Uuid::from_u128(0x0000c000_0001_0000_0000_000000000001),
        authn_hint: 4,
        server_version: ComVersion::V5_7,
        interfaces: vec![ActivatedInterface {
            iid: IID_IWBEMLEVEL1LOGIN,
            hresult: Hresult::S_OK,
            objref: Some(ObjRef::Standard {
                iid: IID_IWBEMLEVEL1LOGIN,
                std: StdObjRef {
                    flags: 0,
                    public_refs: 5,
                    oxid: 0x1111_2222_3333_4444,
                    oid: 77,
                    ipid: Uuid::from_u128(0x00010001_0001_0000_0000_000000000002),
                },
                resolver: DualStringArray {
                    string_bindings: vec![StringBinding {
                        tower_id: tower::NCACN_IP_TCP,
                        network_addr: "10.9.8.7".into(),
                    }],
                    security_bindings: vec![SecurityBinding {
                        authn_svc: 0x0a,
                        authz_svc: 0xffff,
                        principal_name: String::new(),
                    }],
                },
            }),
        }],
        dest_ctx: 2,
    };
    let that = OrpcThat {
        flags: 1,
        extensions: None,
    };
    let b = encode_remote_create_instance_response(&that, Some(&sim), Hresult::S_OK).expect("enc");
    let (t2, back) = decode_remote_create_instance_response(&b).expect("decode");
    assert_eq!(t2, that);
    let back = back.expect("S_OK");
    assert_eq!(back, sim);
    // Same structure as Windows' reply, field by field.
    assert_eq!(back.dest_ctx, win.dest_ctx);
    assert_eq!(back.server_version, win.server_version);
    assert_eq!(back.authn_hint, win.authn_hint);
    assert_eq!(back.interfaces.len(), win.interfaces.len());
    let (a, w) = (&back.interfaces[0], &win.interfaces[0]);
    assert_eq!(a.iid, w.iid);
    assert_eq!(a.hresult, w.hresult);
    assert_eq!(
        a.objref.as_ref().map(ObjRef::flags),
        w.objref.as_ref().map(ObjRef::flags)
    );
    assert_eq!(
        a.objref
            .as_ref()
            .and_then(|o| o.std())
            .map(|s| s.public_refs),
        w.objref
            .as_ref()
            .and_then(|o| o.std())
            .map(|s| s.public_refs)
    );
    // The activation properties blob: same property-set CLSIDs in the same order, and the
    // stub prefix (ORPCTHAT, referent id) and OBJREF header (MEOW, custom, IID, CLSID) equal.
    let wstub = call(&t, 24).response.clone().expect("response");
    assert_eq!(&b[..8], &wstub[..8]);
    assert_eq!(&b[8..12], &wstub[8..12]);
    assert_eq!(&b[20..60], &wstub[20..60]);
    let blob_of = |s: &[u8]| {
        let (_, r) = decode_remote_create_instance_response(s).expect("decode");
        r.expect("ok").to_blob().expect("blob")
    };
    let ids = |bl: winv_dcom::ActivationBlob| -> Vec<Uuid> {
        bl.properties.iter().map(|p| p.0).collect()
    };
    assert_eq!(ids(blob_of(&b)), ids(blob_of(&wstub)));
}

#[test]
fn windows_rem_query_interface_and_release() {
    let Some(t) = load() else { return };
    // Frame 35/36: IRemUnknown2::RemQueryInterface for IWbemLoginClientID.
    let c = call(&t, 35);
    assert_eq!(c.opnum, 3);
    let (orpc, req) = decode_rem_query_interface_request(&c.request).expect("decode");
    assert_eq!(orpc.version, ComVersion::new(5, 7));
    assert_eq!(req.ipid, IPID);
    assert_eq!(req.refs, 5);
    assert_eq!(req.iids, vec![IID_IWBEMLOGINCLIENTID]);
    assert_eq!(
        encode_rem_query_interface_request(&orpc, &req).expect("encode"),
        c.request
    );
    let resp = c.response.as_ref().expect("response");
    let (that, results, hr) = decode_rem_query_interface_response(resp).expect("decode");
    assert_eq!(hr, Hresult::S_OK);
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].hresult, Hresult::S_OK);
    assert_eq!(results[0].std.oxid, OXID);
    assert_eq!(results[0].std.public_refs, 5);
    assert_eq!(
        results[0].std.ipid,
        Uuid::from_u128(0x00013416_0530_0000_d756_78286df5d5d9)
    );
    assert_eq!(
        &encode_rem_query_interface_response(&that, &results, hr).expect("encode"),
        resp
    );

    // Frame 47/48: RemRelease of two interface references, 5 public references each.
    let c = call(&t, 47);
    assert_eq!(c.opnum, 5);
    let (orpc, refs) = decode_rem_release_request(&c.request).expect("decode");
    assert_eq!(refs.len(), 2);
    assert_eq!(refs[1].ipid, IPID);
    assert!(refs
        .iter()
        .all(|r| r.public_refs == 5 && r.private_refs == 0));
    assert_eq!(
        encode_rem_release_request(&orpc, &refs).expect("encode"),
        c.request
    );
    let (_, hr) =
        decode_rem_release_response(c.response.as_ref().expect("response")).expect("decode");
    assert_eq!(hr, Hresult::S_OK);
}
