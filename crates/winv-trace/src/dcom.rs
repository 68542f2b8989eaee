//! DCOM and WMI calls read out of a reassembled DCE/RPC [`Call`]: the method named by
//! its opnum, and the request and response stubs decoded with the project's wire
//! decoders (`winv-dcom` for [MS-DCOM], `winv-wmi` for [MS-WMI]).
//!
//! A stub that does not decode gives a note on that call, never an error of the
//! trace; a stub sealed with keys we do not have is reported as encrypted.
//!
//! No I/O: input is a [`Call`] whose stubs are already plaintext (or marked sealed).

use serde::Serialize;
use winv_dcerpc::interfaces as ifs;
use winv_dcom::activation::{
    decode_remote_create_instance_request, decode_remote_create_instance_response,
    OPNUM_REMOTE_CREATE_INSTANCE, OPNUM_REMOTE_GET_CLASS_OBJECT,
};
use winv_dcom::objref::tower;
use winv_dcom::remunknown::{
    decode_rem_add_ref_request, decode_rem_add_ref_response, decode_rem_query_interface2_request,
    decode_rem_query_interface2_response, decode_rem_query_interface_request,
    decode_rem_query_interface_response, decode_rem_release_request, decode_rem_release_response,
    OPNUM_REM_ADD_REF, OPNUM_REM_QUERY_INTERFACE, OPNUM_REM_QUERY_INTERFACE2, OPNUM_REM_RELEASE,
};
use winv_dcom::{clsid, oxid, DualStringArray, Hresult, MInterfacePointer, ObjRef};
use winv_ndr::Uuid;
use winv_wmi::call_result::opnums as cr_ops;
use winv_wmi::enumerator::opnums as enum_ops;
use winv_wmi::login::opnums as login_ops;
use winv_wmi::services::opnums as svc_ops;
use winv_wmi::{
    Bstr, EnumCloneResponse, EnumNextRequest, EnumNextResponse, EnumSkipRequest,
    EstablishPositionResponse, ExecMethodRequest, ExecMethodResponse, ExecQueryRequest,
    ExecQueryResponse, GetObjectRequest, GetObjectResponse, GetSmartEnumResponse, HresultResponse,
    NtlmLoginRequest, NtlmLoginResponse, OpenNamespaceRequest, OpenNamespaceResponse,
    SetClientInfoRequest, SetClientInfoResponse, SmartEnumNextRequest, SmartEnumNextResponse,
};

use crate::conversation::{Call, StatusRecord};

/// Opnums 0-2 of every ORPC interface: the `IUnknown` methods, never sent on the wire
/// ([MS-DCOM] 3.1.1.5.8).
const IUNKNOWN_METHODS: [(u16, &str); 3] = [(0, "QueryInterface"), (1, "AddRef"), (2, "Release")];

/// `IRemoteSCMActivator` / `ISystemActivator` ([MS-DCOM] 3.1.2.5.2.3).
const ACTIVATOR_METHODS: &[(u16, &str)] = &[
    (0, "Opnum0NotUsedOnWire"),
    (1, "Opnum1NotUsedOnWire"),
    (2, "Opnum2NotUsedOnWire"),
    (OPNUM_REMOTE_GET_CLASS_OBJECT, "RemoteGetClassObject"),
    (OPNUM_REMOTE_CREATE_INSTANCE, "RemoteCreateInstance"),
];

/// `IActivation` ([MS-DCOM] 3.1.2.5.2.3.1).
const IACTIVATION_METHODS: &[(u16, &str)] = &[(0, "RemoteActivation")];

/// `IObjectExporter` ([MS-DCOM] 3.1.2.5.1); not an ORPC interface.
const OXID_METHODS: &[(u16, &str)] = &[
    (0, "ResolveOxid"),
    (oxid::OPNUM_SIMPLE_PING, "SimplePing"),
    (oxid::OPNUM_COMPLEX_PING, "ComplexPing"),
    (oxid::OPNUM_SERVER_ALIVE, "ServerAlive"),
    (oxid::OPNUM_RESOLVE_OXID2, "ResolveOxid2"),
    (oxid::OPNUM_SERVER_ALIVE2, "ServerAlive2"),
];

/// `IRemUnknown` / `IRemUnknown2` ([MS-DCOM] 3.1.1.5.6, 3.1.1.5.7).
const REMUNKNOWN_METHODS: &[(u16, &str)] = &[
    (OPNUM_REM_QUERY_INTERFACE, "RemQueryInterface"),
    (OPNUM_REM_ADD_REF, "RemAddRef"),
    (OPNUM_REM_RELEASE, "RemRelease"),
    (OPNUM_REM_QUERY_INTERFACE2, "RemQueryInterface2"),
];

/// `IWbemLevel1Login` ([MS-WMI] 3.1.4.1).
const LOGIN_METHODS: &[(u16, &str)] = &[
    (login_ops::ESTABLISH_POSITION, "EstablishPosition"),
    (login_ops::REQUEST_CHALLENGE, "RequestChallenge"),
    (login_ops::WBEM_LOGIN, "WBEMLogin"),
    (login_ops::NTLM_LOGIN, "NTLMLogin"),
];

/// `IWbemLoginClientID` ([MS-WMI] 3.1.4.8).
const LOGIN_CLIENT_ID_METHODS: &[(u16, &str)] = &[(login_ops::SET_CLIENT_INFO, "SetClientInfo")];

/// `IWbemServices` ([MS-WMI] 3.1.4.3).
const SERVICES_METHODS: &[(u16, &str)] = &[
    (svc_ops::OPEN_NAMESPACE, "OpenNamespace"),
    (svc_ops::CANCEL_ASYNC_CALL, "CancelAsyncCall"),
    (svc_ops::QUERY_OBJECT_SINK, "QueryObjectSink"),
    (svc_ops::GET_OBJECT, "GetObject"),
    (svc_ops::GET_OBJECT_ASYNC, "GetObjectAsync"),
    (svc_ops::PUT_CLASS, "PutClass"),
    (svc_ops::PUT_CLASS_ASYNC, "PutClassAsync"),
    (svc_ops::DELETE_CLASS, "DeleteClass"),
    (svc_ops::DELETE_CLASS_ASYNC, "DeleteClassAsync"),
    (svc_ops::CREATE_CLASS_ENUM, "CreateClassEnum"),
    (svc_ops::CREATE_CLASS_ENUM_ASYNC, "CreateClassEnumAsync"),
    (svc_ops::PUT_INSTANCE, "PutInstance"),
    (svc_ops::PUT_INSTANCE_ASYNC, "PutInstanceAsync"),
    (svc_ops::DELETE_INSTANCE, "DeleteInstance"),
    (svc_ops::DELETE_INSTANCE_ASYNC, "DeleteInstanceAsync"),
    (svc_ops::CREATE_INSTANCE_ENUM, "CreateInstanceEnum"),
    (
        svc_ops::CREATE_INSTANCE_ENUM_ASYNC,
        "CreateInstanceEnumAsync",
    ),
    (svc_ops::EXEC_QUERY, "ExecQuery"),
    (svc_ops::EXEC_QUERY_ASYNC, "ExecQueryAsync"),
    (svc_ops::EXEC_NOTIFICATION_QUERY, "ExecNotificationQuery"),
    (
        svc_ops::EXEC_NOTIFICATION_QUERY_ASYNC,
        "ExecNotificationQueryAsync",
    ),
    (svc_ops::EXEC_METHOD, "ExecMethod"),
    (svc_ops::EXEC_METHOD_ASYNC, "ExecMethodAsync"),
];

/// `IEnumWbemClassObject` ([MS-WMI] 3.1.4.4).
const ENUM_METHODS: &[(u16, &str)] = &[
    (enum_ops::RESET, "Reset"),
    (enum_ops::NEXT, "Next"),
    (enum_ops::NEXT_ASYNC, "NextAsync"),
    (enum_ops::CLONE, "Clone"),
    (enum_ops::SKIP, "Skip"),
];

/// `IWbemFetchSmartEnum` ([MS-WMI] 3.1.4.6).
const FETCH_SMART_ENUM_METHODS: &[(u16, &str)] = &[(enum_ops::GET_SMART_ENUM, "GetSmartEnum")];

/// `IWbemWCOSmartEnum` ([MS-WMI] 3.1.4.7).
const SMART_ENUM_METHODS: &[(u16, &str)] = &[(enum_ops::SMART_NEXT, "Next")];

/// `IWbemCallResult` ([MS-WMI] 3.1.4.5).
const CALL_RESULT_METHODS: &[(u16, &str)] = &[
    (cr_ops::GET_RESULT_OBJECT, "GetResultObject"),
    (cr_ops::GET_RESULT_STRING, "GetResultString"),
    (cr_ops::GET_RESULT_SERVICES, "GetResultServices"),
    (cr_ops::GET_CALL_STATUS, "GetCallStatus"),
];

/// Which DCOM / WMI interface a presentation context is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Iface {
    Activator,
    Activation,
    ObjectExporter,
    RemUnknown,
    Login,
    LoginClientId,
    Services,
    Enum,
    FetchSmartEnum,
    SmartEnum,
    CallResult,
}

impl Iface {
    fn of(uuid: &Uuid) -> Option<Self> {
        let u = *uuid;
        Some(match () {
            _ if u == ifs::ISYSTEMACTIVATOR.uuid => Iface::Activator,
            _ if u == ifs::IACTIVATION.uuid => Iface::Activation,
            _ if u == ifs::IOBJECTEXPORTER.uuid => Iface::ObjectExporter,
            _ if u == ifs::IREMUNKNOWN.uuid || u == ifs::IREMUNKNOWN2.uuid => Iface::RemUnknown,
            _ if u == ifs::IWBEMLEVEL1LOGIN.uuid => Iface::Login,
            _ if u == ifs::IWBEMLOGINCLIENTID.uuid => Iface::LoginClientId,
            _ if u == ifs::IWBEMSERVICES.uuid => Iface::Services,
            _ if u == ifs::IENUMWBEMCLASSOBJECT.uuid => Iface::Enum,
            _ if u == ifs::IWBEMFETCHSMARTENUM.uuid => Iface::FetchSmartEnum,
            _ if u == ifs::IWBEMWCOSMARTENUM.uuid => Iface::SmartEnum,
            _ if u == ifs::IWBEMCALLRESULT.uuid => Iface::CallResult,
            _ => return None,
        })
    }

    /// Methods after `IUnknown`'s (or all of them, for the non-ORPC interfaces).
    fn methods(self) -> &'static [(u16, &'static str)] {
        match self {
            Iface::Activator => ACTIVATOR_METHODS,
            Iface::Activation => IACTIVATION_METHODS,
            Iface::ObjectExporter => OXID_METHODS,
            Iface::RemUnknown => REMUNKNOWN_METHODS,
            Iface::Login => LOGIN_METHODS,
            Iface::LoginClientId => LOGIN_CLIENT_ID_METHODS,
            Iface::Services => SERVICES_METHODS,
            Iface::Enum => ENUM_METHODS,
            Iface::FetchSmartEnum => FETCH_SMART_ENUM_METHODS,
            Iface::SmartEnum => SMART_ENUM_METHODS,
            Iface::CallResult => CALL_RESULT_METHODS,
        }
    }

    /// Interfaces whose calls carry ORPCTHIS / ORPCTHAT and inherit `IUnknown`.
    fn is_orpc(self) -> bool {
        !matches!(
            self,
            Iface::Activator | Iface::Activation | Iface::ObjectExporter
        )
    }
}

/// The method name of `opnum` on the DCOM or WMI interface `uuid` ([MS-DCOM] 3.1.1.5,
/// 3.1.2.5; [MS-WMI] 3.1.4); `None` for other interfaces and unknown opnums.
pub fn method_name(uuid: &Uuid, opnum: u16) -> Option<&'static str> {
    let iface = Iface::of(uuid)?;
    let orpc_base: &[(u16, &str)] = if iface.is_orpc() {
        &IUNKNOWN_METHODS
    } else {
        &[]
    };
    orpc_base
        .iter()
        .chain(iface.methods())
        .find(|(op, _)| *op == opnum)
        .map(|(_, n)| *n)
}

/// True when `uuid` is one of the DCOM / WMI interfaces this module decodes.
pub fn is_dcom_interface(uuid: &Uuid) -> bool {
    Iface::of(uuid).is_some()
}

/// A GUID (CLSID or IID) with its name when the project knows it.
#[derive(Debug, Serialize, Clone, PartialEq, Eq)]
pub struct GuidName {
    /// The GUID, lowercase and hyphenated.
    pub uuid: String,
    /// Its name: an interface from `winv_dcerpc::interfaces`, or a class / IID of
    /// `winv_dcom::clsid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'static str>,
}

impl GuidName {
    fn new(u: &Uuid) -> Self {
        GuidName {
            uuid: u.to_string(),
            name: ifs::name(u).or_else(|| class_name(u)),
        }
    }
}

/// Names of the CLSIDs and non-RPC IIDs of [MS-DCOM] 1.9 and [MS-WMI] 1.9.
fn class_name(u: &Uuid) -> Option<&'static str> {
    const NAMES: &[(Uuid, &str)] = &[
        (clsid::CLSID_WBEM_LEVEL1_LOGIN, "CLSID_WbemLevel1Login"),
        (clsid::CLSID_WBEM_CLASS_OBJECT, "CLSID_WbemClassObject"),
        (
            clsid::CLSID_ACTIVATION_PROPERTIES_IN,
            "CLSID_ActivationPropertiesIn",
        ),
        (
            clsid::CLSID_ACTIVATION_PROPERTIES_OUT,
            "CLSID_ActivationPropertiesOut",
        ),
        (clsid::CLSID_CONTEXT_MARSHALER, "CLSID_ContextMarshaler"),
        (clsid::CLSID_ERROR_OBJECT, "CLSID_ErrorObject"),
        (
            clsid::IID_IACTIVATION_PROPERTIES_IN,
            "IID_IActivationPropertiesIn",
        ),
        (
            clsid::IID_IACTIVATION_PROPERTIES_OUT,
            "IID_IActivationPropertiesOut",
        ),
        (clsid::IID_ICONTEXT, "IID_IContext"),
    ];
    NAMES.iter().find(|(g, _)| g == u).map(|(_, n)| *n)
}

fn hresult(h: Hresult) -> StatusRecord {
    StatusRecord {
        code: h.0,
        name: winv_kb::name(h.0),
    }
}

fn hex64(v: u64) -> String {
    format!("{v:#018x}")
}

fn protseq_name(tower_id: u16) -> Option<&'static str> {
    Some(match tower_id {
        tower::NCACN_IP_TCP => "ncacn_ip_tcp",
        tower::NCADG_IP_UDP => "ncadg_ip_udp",
        tower::NCACN_SPX => "ncacn_spx",
        tower::NCACN_NP => "ncacn_np",
        tower::NCACN_NB_TCP => "ncacn_nb_tcp",
        tower::NCACN_HTTP => "ncacn_http",
        _ => return None,
    })
}

/// One string binding of a `DUALSTRINGARRAY` ([MS-DCOM] 2.2.19.3).
#[derive(Debug, Serialize, Clone, PartialEq, Eq)]
pub struct StringBindingRecord {
    /// `wTowerId`.
    pub tower_id: u16,
    /// Its protocol sequence name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protseq: Option<&'static str>,
    /// `aNetworkAddr`.
    pub network_addr: String,
}

/// One security binding of a `DUALSTRINGARRAY` ([MS-DCOM] 2.2.19.4).
#[derive(Debug, Serialize, Clone, PartialEq, Eq)]
pub struct SecurityBindingRecord {
    /// `wAuthnSvc`.
    pub authn_svc: u16,
    /// `Reserved` (authorization service).
    pub authz_svc: u16,
    /// `aPrincName`.
    pub principal_name: String,
}

/// A `DUALSTRINGARRAY` ([MS-DCOM] 2.2.19): how to reach an object exporter.
#[derive(Debug, Serialize, Clone, PartialEq, Eq, Default)]
pub struct BindingsRecord {
    /// `STRINGBINDING`s.
    pub string_bindings: Vec<StringBindingRecord>,
    /// `SECURITYBINDING`s.
    pub security_bindings: Vec<SecurityBindingRecord>,
}

impl From<&DualStringArray> for BindingsRecord {
    fn from(d: &DualStringArray) -> Self {
        BindingsRecord {
            string_bindings: d
                .string_bindings
                .iter()
                .map(|s| StringBindingRecord {
                    tower_id: s.tower_id,
                    protseq: protseq_name(s.tower_id),
                    network_addr: s.network_addr.clone(),
                })
                .collect(),
            security_bindings: d
                .security_bindings
                .iter()
                .map(|s| SecurityBindingRecord {
                    authn_svc: s.authn_svc,
                    authz_svc: s.authz_svc,
                    principal_name: s.principal_name.clone(),
                })
                .collect(),
        }
    }
}

/// An `OBJREF` ([MS-DCOM] 2.2.18): a marshaled interface pointer.
#[derive(Debug, Serialize, Clone, PartialEq, Eq)]
pub struct ObjRefRecord {
    /// `standard`, `handler`, `custom` or `extended`.
    pub kind: &'static str,
    /// `iid`: the interface it points to.
    pub iid: GuidName,
    /// `STDOBJREF.oxid` ([MS-DCOM] 2.2.18.2), as `0x` and 16 hex digits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oxid: Option<String>,
    /// `STDOBJREF.oid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
    /// `STDOBJREF.ipid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipid: Option<String>,
    /// `STDOBJREF.cPublicRefs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_refs: Option<u32>,
    /// `STDOBJREF.flags`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub std_flags: Option<u32>,
    /// `saResAddr`: the object resolver's bindings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolver: Option<BindingsRecord>,
    /// `clsid` of a custom or handler OBJREF.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clsid: Option<GuidName>,
    /// Length of a custom OBJREF's object data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_data_len: Option<usize>,
}

impl From<&ObjRef> for ObjRefRecord {
    fn from(o: &ObjRef) -> Self {
        let (kind, resolver, clsid, data_len) = match o {
            ObjRef::Standard { resolver, .. } => ("standard", Some(resolver), None, None),
            ObjRef::Handler {
                resolver, clsid, ..
            } => ("handler", Some(resolver), Some(clsid), None),
            ObjRef::Custom {
                clsid, object_data, ..
            } => ("custom", None, Some(clsid), Some(object_data.len())),
            ObjRef::Extended { resolver, .. } => ("extended", Some(resolver), None, None),
        };
        let std = o.std();
        ObjRefRecord {
            kind,
            iid: GuidName::new(&o.iid()),
            oxid: std.map(|s| hex64(s.oxid)),
            oid: std.map(|s| hex64(s.oid)),
            ipid: std.map(|s| s.ipid.to_string()),
            public_refs: std.map(|s| s.public_refs),
            std_flags: std.map(|s| s.flags),
            resolver: resolver.map(Into::into),
            clsid: clsid.map(GuidName::new),
            object_data_len: data_len,
        }
    }
}

/// One `REMINTERFACEREF` ([MS-DCOM] 2.2.21.2) of RemAddRef / RemRelease.
#[derive(Debug, Serialize, Clone, PartialEq, Eq)]
pub struct RemRefRecord {
    /// `ipid`.
    pub ipid: String,
    /// `cPublicRefs`.
    pub public_refs: u32,
    /// `cPrivateRefs`.
    pub private_refs: u32,
}

/// One interface returned by an activation ([MS-DCOM] 2.2.22.2.6 PropsOutInfo).
#[derive(Debug, Serialize, Clone, PartialEq, Eq)]
pub struct ActivatedRecord {
    /// The requested IID.
    pub iid: GuidName,
    /// Its HRESULT.
    pub hresult: StatusRecord,
    /// The returned interface pointer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objref: Option<ObjRefRecord>,
}

/// One `REMQIRESULT` ([MS-DCOM] 2.2.22.1) of RemQueryInterface, or one result of
/// RemQueryInterface2.
#[derive(Debug, Serialize, Clone, PartialEq, Eq)]
pub struct QiResultRecord {
    /// The IID asked for (from the request, same position).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iid: Option<GuidName>,
    /// `hResult`.
    pub hresult: StatusRecord,
    /// `std.oxid` of a RemQueryInterface result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oxid: Option<String>,
    /// `std.ipid` of a RemQueryInterface result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipid: Option<String>,
    /// `std.cPublicRefs` of a RemQueryInterface result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_refs: Option<u32>,
    /// The interface pointer of a RemQueryInterface2 result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objref: Option<ObjRefRecord>,
}

/// The decoded `[in]` parameters of a DCOM / WMI request.
#[derive(Debug, Serialize, Clone, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DcomRequest {
    /// `IRemoteSCMActivator::RemoteCreateInstance` ([MS-DCOM] 3.1.2.5.2.3.3).
    Activation {
        /// `InstantiationInfoData.classId`.
        clsid: GuidName,
        /// `InstantiationInfoData.pIID`.
        iids: Vec<GuidName>,
        /// `InstantiationInfoData.clientCOMVersion`.
        client_com_version: String,
        /// `SecurityInfoData.pServerInfo.pwszName`: the server as the client named it.
        #[serde(skip_serializing_if = "Option::is_none")]
        server_name: Option<String>,
        /// `LocationInfoData.machineName`.
        #[serde(skip_serializing_if = "Option::is_none")]
        client_machine: Option<String>,
        /// `customREMOTE_REQUEST_SCM_INFO.pRequestedProtseqs`.
        requested_protseqs: Vec<u16>,
    },
    /// `IRemUnknown::RemQueryInterface` ([MS-DCOM] 3.1.1.5.6.1.1) and
    /// `IRemUnknown2::RemQueryInterface2` (3.1.1.5.7.1.1, `refs` absent).
    RemQueryInterface {
        /// `ripid`: the object queried.
        ipid: String,
        /// `cRefs`.
        #[serde(skip_serializing_if = "Option::is_none")]
        refs: Option<u32>,
        /// `iids`.
        iids: Vec<GuidName>,
    },
    /// `IRemUnknown::RemAddRef` / `RemRelease` ([MS-DCOM] 3.1.1.5.6.1.2, 3.1.1.5.6.1.3).
    RemRefs {
        /// `InterfaceRefs`.
        refs: Vec<RemRefRecord>,
    },
    /// `IWbemLevel1Login::NTLMLogin` ([MS-WMI] 3.1.4.1.4).
    NtlmLogin {
        /// `wszNetworkResource`: the namespace.
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        /// `wszPreferredLocale`.
        #[serde(skip_serializing_if = "Option::is_none")]
        locale: Option<String>,
    },
    /// `IWbemLoginClientID::SetClientInfo` ([MS-WMI] 3.1.4.8.1).
    SetClientInfo {
        /// `wszClientMachine`.
        #[serde(skip_serializing_if = "Option::is_none")]
        client_machine: Option<String>,
        /// `lClientProcId`.
        process_id: i32,
    },
    /// `IWbemServices::OpenNamespace` ([MS-WMI] 3.1.4.3.1).
    OpenNamespace {
        /// `strNamespace`.
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
    },
    /// `IWbemServices::GetObject` ([MS-WMI] 3.1.4.3.4).
    GetObject {
        /// `strObjectPath`.
        #[serde(skip_serializing_if = "Option::is_none")]
        path: Option<String>,
        /// `lFlags`.
        flags: i32,
    },
    /// `IWbemServices::ExecQuery` ([MS-WMI] 3.1.4.3.18).
    ExecQuery {
        /// `strQueryLanguage`.
        #[serde(skip_serializing_if = "Option::is_none")]
        language: Option<String>,
        /// `strQuery`.
        #[serde(skip_serializing_if = "Option::is_none")]
        query: Option<String>,
        /// `lFlags`.
        flags: i32,
    },
    /// `IWbemServices::ExecMethod` ([MS-WMI] 3.1.4.3.22).
    ExecMethod {
        /// `strObjectPath`.
        #[serde(skip_serializing_if = "Option::is_none")]
        path: Option<String>,
        /// `strMethodName`.
        #[serde(skip_serializing_if = "Option::is_none")]
        method: Option<String>,
        /// Whether `pInParams` is present.
        in_params: bool,
    },
    /// `IEnumWbemClassObject::Next` / `Skip` ([MS-WMI] 3.1.4.4.2, 3.1.4.4.5) and
    /// `IWbemWCOSmartEnum::Next` (3.1.4.7.1, with `proxy_guid`).
    Next {
        /// `lTimeout` in milliseconds (-1 is `WBEM_INFINITE`).
        timeout: i32,
        /// `uCount`.
        count: u32,
        /// `proxyGUID` of the smart enumerator.
        #[serde(skip_serializing_if = "Option::is_none")]
        proxy_guid: Option<String>,
    },
    /// `IObjectExporter::SimplePing` / `ComplexPing` ([MS-DCOM] 3.1.2.5.1.2, 3.1.2.5.1.3).
    Ping {
        /// `SetId`.
        set_id: String,
        /// `SequenceNum` (ComplexPing).
        #[serde(skip_serializing_if = "Option::is_none")]
        sequence: Option<u16>,
        /// OIDs added to the set (ComplexPing).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        add: Vec<String>,
        /// OIDs removed from the set (ComplexPing).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        del: Vec<String>,
    },
    /// `IObjectExporter::ResolveOxid2` ([MS-DCOM] 3.1.2.5.1.4).
    ResolveOxid {
        /// `pOxid`.
        oxid: String,
        /// `arRequestedProtseqs`.
        requested_protseqs: Vec<u16>,
    },
}

/// The decoded `[out]` parameters of a DCOM / WMI response (the HRESULT is in
/// [`DcomCall::hresult`]).
#[derive(Debug, Serialize, Clone, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DcomResponse {
    /// `RemoteCreateInstance` reply: PropsOutInfo and ScmReplyInfo ([MS-DCOM] 2.2.22.2.6,
    /// 2.2.22.2.8).
    Activation {
        /// `pOxid`.
        oxid: String,
        /// `pdsaOxidBindings`: the OXID resolver's string and security bindings.
        bindings: BindingsRecord,
        /// `ipidRemUnknown`.
        ipid_rem_unknown: String,
        /// `authnHint`.
        authn_hint: u32,
        /// `serverVersion`.
        server_version: String,
        /// One entry per requested interface.
        interfaces: Vec<ActivatedRecord>,
    },
    /// RemQueryInterface / RemQueryInterface2 results.
    RemQueryInterface {
        /// One per requested IID.
        results: Vec<QiResultRecord>,
    },
    /// RemAddRef per-reference results.
    RemRefs {
        /// `pResults`.
        results: Vec<StatusRecord>,
    },
    /// A method that returns one interface pointer: NTLMLogin (`IWbemServices`),
    /// ExecQuery and Clone (`IEnumWbemClassObject`), GetSmartEnum, OpenNamespace.
    Interface {
        /// The returned reference, when the pointer is not null.
        #[serde(skip_serializing_if = "Option::is_none")]
        objref: Option<ObjRefRecord>,
    },
    /// A method that returns class objects: GetObject (`ppObject`), ExecMethod
    /// (`ppOutParams`), `IEnumWbemClassObject::Next` (`apObjects`),
    /// `IWbemWCOSmartEnum::Next` (`puReturned`, `pBuffer`).
    Objects {
        /// Objects returned.
        returned: u32,
        /// Length of a smart enumerator's ObjectArray buffer.
        #[serde(skip_serializing_if = "Option::is_none")]
        buffer_len: Option<usize>,
    },
    /// `IObjectExporter::ResolveOxid2` / `ServerAlive2`.
    Resolver {
        /// `ppdsaOxidBindings`.
        #[serde(skip_serializing_if = "Option::is_none")]
        bindings: Option<BindingsRecord>,
        /// `pipidRemUnknown` (ResolveOxid2).
        #[serde(skip_serializing_if = "Option::is_none")]
        ipid_rem_unknown: Option<String>,
        /// `pComVersion`.
        com_version: String,
    },
}

/// The DCOM / WMI reading of one call ([MS-DCOM] 3.1.1.5, [MS-WMI] 3.1.4).
#[derive(Debug, Serialize, Clone, PartialEq, Eq)]
pub struct DcomCall {
    /// The interface, from `winv_dcerpc::interfaces`.
    pub interface: &'static str,
    /// The method of the opnum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<&'static str>,
    /// The request's object UUID: the IPID the ORPC call is made on ([MS-DCOM] 1.3.5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipid: Option<String>,
    /// A stub was sealed with keys this trace does not have.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub encrypted: bool,
    /// The decoded request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<DcomRequest>,
    /// The decoded response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<DcomResponse>,
    /// The method's return value (HRESULT, or `error_status_t` for IObjectExporter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hresult: Option<StatusRecord>,
    /// Stubs that did not decode, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Reads `call` as a DCOM / WMI call; `None` when its interface is not one of them.
pub fn decode_call(call: &Call) -> Option<DcomCall> {
    let uuid = call
        .interface
        .as_ref()
        .and_then(|i| Uuid::parse_str(&i.uuid).ok())?;
    let iface = Iface::of(&uuid)?;
    let mut out = DcomCall {
        interface: ifs::name(&uuid).unwrap_or("?"),
        method: method_name(&uuid, call.opnum),
        ipid: call.object.map(|o| o.to_string()),
        encrypted: call.request_sealed || call.response_sealed,
        request: None,
        response: None,
        hresult: None,
        notes: Vec::new(),
    };
    if !call.request_sealed {
        match decode_request(iface, call.opnum, &call.request) {
            Ok(r) => out.request = r,
            Err(e) => out.notes.push(format!("request: {e}")),
        }
    }
    if let (Some(stub), false, None) = (&call.response, call.response_sealed, &call.fault) {
        match decode_response(iface, call.opnum, stub) {
            Ok(Some((r, h))) => {
                out.response = r;
                out.hresult = Some(hresult(h));
            }
            Ok(None) => out.hresult = tail_status(stub).map(hresult),
            Err(e) => {
                out.notes.push(format!("response: {e}"));
                out.hresult = tail_status(stub).map(hresult);
            }
        }
    }
    // INVARIANT: RemQueryInterface(2) answers one result per requested IID, in order
    // ([MS-DCOM] 3.1.1.5.6.1.1), so the request names the results.
    if let (
        Some(DcomRequest::RemQueryInterface { iids, .. }),
        Some(DcomResponse::RemQueryInterface { results }),
    ) = (&out.request, &mut out.response)
    {
        for (r, iid) in results.iter_mut().zip(iids) {
            r.iid = Some(iid.clone());
        }
    }
    Some(out)
}

/// The return value of any NDR response stub: its last four bytes (a `u32` is the
/// last out parameter of every DCOM and WMI method, [MS-RPCE] 2.2.5).
fn tail_status(stub: &[u8]) -> Option<Hresult> {
    let start = stub.len().checked_sub(4)?;
    let b: [u8; 4] = stub.get(start..)?.try_into().ok()?;
    Some(Hresult(u32::from_le_bytes(b)))
}

type DecodeResult<T> = Result<T, String>;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn text(s: Option<&str>) -> Option<String> {
    s.map(|s| s.trim_end_matches('\0').to_owned())
}

fn bstr(b: &Bstr) -> Option<String> {
    text(b.text())
}

fn names(v: &[Uuid]) -> Vec<GuidName> {
    v.iter().map(GuidName::new).collect()
}

fn objref(p: &MInterfacePointer) -> DecodeResult<ObjRefRecord> {
    ObjRef::from_interface_pointer(p)
        .map(|o| ObjRefRecord::from(&o))
        .map_err(|e| format!("objref: {e}"))
}

fn objref_opt(p: Option<&MInterfacePointer>) -> DecodeResult<Option<ObjRefRecord>> {
    p.map(objref).transpose()
}

fn decode_request(iface: Iface, opnum: u16, stub: &[u8]) -> DecodeResult<Option<DcomRequest>> {
    let r = match (iface, opnum) {
        (Iface::Activator, OPNUM_REMOTE_CREATE_INSTANCE) => {
            let (_, a) = decode_remote_create_instance_request(stub).map_err(err)?;
            DcomRequest::Activation {
                clsid: GuidName::new(&a.clsid),
                iids: names(&a.iids),
                client_com_version: a.client_com_version.to_string(),
                server_name: a
                    .security
                    .as_ref()
                    .and_then(|s| s.server_info.as_ref())
                    .and_then(|i| text(i.name.as_deref())),
                client_machine: text(a.client_machine_name.as_deref()),
                requested_protseqs: a.requested_protseqs,
            }
        }
        (Iface::RemUnknown, OPNUM_REM_QUERY_INTERFACE) => {
            let (_, q) = decode_rem_query_interface_request(stub).map_err(err)?;
            DcomRequest::RemQueryInterface {
                ipid: q.ipid.to_string(),
                refs: Some(q.refs),
                iids: names(&q.iids),
            }
        }
        (Iface::RemUnknown, OPNUM_REM_QUERY_INTERFACE2) => {
            let (_, ipid, iids) = decode_rem_query_interface2_request(stub).map_err(err)?;
            DcomRequest::RemQueryInterface {
                ipid: ipid.to_string(),
                refs: None,
                iids: names(&iids),
            }
        }
        (Iface::RemUnknown, OPNUM_REM_ADD_REF | OPNUM_REM_RELEASE) => {
            let (_, refs) = if opnum == OPNUM_REM_ADD_REF {
                decode_rem_add_ref_request(stub)
            } else {
                decode_rem_release_request(stub)
            }
            .map_err(err)?;
            DcomRequest::RemRefs {
                refs: refs
                    .iter()
                    .map(|r| RemRefRecord {
                        ipid: r.ipid.to_string(),
                        public_refs: r.public_refs,
                        private_refs: r.private_refs,
                    })
                    .collect(),
            }
        }
        (Iface::Login, login_ops::NTLM_LOGIN) => {
            let q = NtlmLoginRequest::decode(stub).map_err(err)?;
            DcomRequest::NtlmLogin {
                namespace: text(q.network_resource.as_deref()),
                locale: text(q.preferred_locale.as_deref()),
            }
        }
        (Iface::LoginClientId, login_ops::SET_CLIENT_INFO) => {
            let q = SetClientInfoRequest::decode(stub).map_err(err)?;
            DcomRequest::SetClientInfo {
                client_machine: text(q.client_machine.as_deref()),
                process_id: q.client_proc_id,
            }
        }
        (Iface::Services, svc_ops::OPEN_NAMESPACE) => {
            let q = OpenNamespaceRequest::decode(stub).map_err(err)?;
            DcomRequest::OpenNamespace {
                namespace: bstr(&q.namespace),
            }
        }
        (Iface::Services, svc_ops::GET_OBJECT) => {
            let q = GetObjectRequest::decode(stub).map_err(err)?;
            DcomRequest::GetObject {
                path: bstr(&q.object_path),
                flags: q.flags,
            }
        }
        (Iface::Services, svc_ops::EXEC_QUERY) => {
            let q = ExecQueryRequest::decode(stub).map_err(err)?;
            DcomRequest::ExecQuery {
                language: bstr(&q.query_language),
                query: bstr(&q.query),
                flags: q.flags,
            }
        }
        (Iface::Services, svc_ops::EXEC_METHOD) => {
            let q = ExecMethodRequest::decode(stub).map_err(err)?;
            DcomRequest::ExecMethod {
                path: bstr(&q.object_path),
                method: bstr(&q.method_name),
                in_params: q.in_params.is_some(),
            }
        }
        (Iface::Enum, enum_ops::NEXT) => {
            let q = EnumNextRequest::decode(stub).map_err(err)?;
            DcomRequest::Next {
                timeout: q.timeout,
                count: q.count,
                proxy_guid: None,
            }
        }
        (Iface::Enum, enum_ops::SKIP) => {
            let q = EnumSkipRequest::decode(stub).map_err(err)?;
            DcomRequest::Next {
                timeout: q.timeout,
                count: q.count,
                proxy_guid: None,
            }
        }
        (Iface::SmartEnum, enum_ops::SMART_NEXT) => {
            let q = SmartEnumNextRequest::decode(stub).map_err(err)?;
            DcomRequest::Next {
                timeout: q.timeout,
                count: q.count,
                proxy_guid: Some(q.proxy_guid.to_string()),
            }
        }
        (Iface::ObjectExporter, oxid::OPNUM_SIMPLE_PING) => {
            let set_id = oxid::decode_simple_ping_request(stub).map_err(err)?;
            DcomRequest::Ping {
                set_id: hex64(set_id),
                sequence: None,
                add: Vec::new(),
                del: Vec::new(),
            }
        }
        (Iface::ObjectExporter, oxid::OPNUM_COMPLEX_PING) => {
            let q = oxid::decode_complex_ping_request(stub).map_err(err)?;
            let hexes =
                |v: Option<Vec<u64>>| v.unwrap_or_default().into_iter().map(hex64).collect();
            DcomRequest::Ping {
                set_id: hex64(q.set_id),
                sequence: Some(q.sequence),
                add: hexes(q.add),
                del: hexes(q.del),
            }
        }
        (Iface::ObjectExporter, oxid::OPNUM_RESOLVE_OXID2) => {
            let (o, protseqs) = oxid::decode_resolve_oxid2_request(stub).map_err(err)?;
            DcomRequest::ResolveOxid {
                oxid: hex64(o),
                requested_protseqs: protseqs,
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(r))
}

type Reply = Option<(Option<DcomResponse>, Hresult)>;

fn decode_response(iface: Iface, opnum: u16, stub: &[u8]) -> DecodeResult<Reply> {
    let interface = |p: Option<&MInterfacePointer>, h: Hresult| -> DecodeResult<Reply> {
        Ok(Some((
            Some(DcomResponse::Interface {
                objref: objref_opt(p)?,
            }),
            h,
        )))
    };
    let objects = |returned: u32, buffer_len: Option<usize>, h: Hresult| -> DecodeResult<Reply> {
        Ok(Some((
            Some(DcomResponse::Objects {
                returned,
                buffer_len,
            }),
            h,
        )))
    };
    let only = |h: Hresult| -> DecodeResult<Reply> { Ok(Some((None, h))) };
    match (iface, opnum) {
        (Iface::Activator, OPNUM_REMOTE_CREATE_INSTANCE) => {
            let (_, reply) = decode_remote_create_instance_response(stub).map_err(err)?;
            let a = match reply {
                Ok(a) => a,
                Err(h) => return only(h),
            };
            let interfaces = a
                .interfaces
                .iter()
                .map(|i| ActivatedRecord {
                    iid: GuidName::new(&i.iid),
                    hresult: hresult(i.hresult),
                    objref: i.objref.as_ref().map(Into::into),
                })
                .collect();
            Ok(Some((
                Some(DcomResponse::Activation {
                    oxid: hex64(a.oxid),
                    bindings: (&a.oxid_bindings).into(),
                    ipid_rem_unknown: a.ipid_rem_unknown.to_string(),
                    authn_hint: a.authn_hint,
                    server_version: a.server_version.to_string(),
                    interfaces,
                }),
                Hresult::S_OK,
            )))
        }
        (Iface::RemUnknown, OPNUM_REM_QUERY_INTERFACE) => {
            let (_, results, h) = decode_rem_query_interface_response(stub).map_err(err)?;
            let results = results
                .iter()
                .map(|r| QiResultRecord {
                    iid: None,
                    hresult: hresult(r.hresult),
                    oxid: Some(hex64(r.std.oxid)),
                    ipid: Some(r.std.ipid.to_string()),
                    public_refs: Some(r.std.public_refs),
                    objref: None,
                })
                .collect();
            Ok(Some((Some(DcomResponse::RemQueryInterface { results }), h)))
        }
        (Iface::RemUnknown, OPNUM_REM_QUERY_INTERFACE2) => {
            let (_, reply, h) = decode_rem_query_interface2_response(stub).map_err(err)?;
            let mut results = Vec::with_capacity(reply.hresults.len().min(stub.len()));
            for (hr, p) in reply.hresults.iter().zip(&reply.interfaces) {
                results.push(QiResultRecord {
                    iid: None,
                    hresult: hresult(*hr),
                    oxid: None,
                    ipid: None,
                    public_refs: None,
                    objref: objref_opt(p.as_ref())?,
                });
            }
            Ok(Some((Some(DcomResponse::RemQueryInterface { results }), h)))
        }
        (Iface::RemUnknown, OPNUM_REM_ADD_REF) => {
            let (_, results, h) = decode_rem_add_ref_response(stub).map_err(err)?;
            Ok(Some((
                Some(DcomResponse::RemRefs {
                    results: results.into_iter().map(hresult).collect(),
                }),
                h,
            )))
        }
        (Iface::RemUnknown, OPNUM_REM_RELEASE) => {
            let (_, h) = decode_rem_release_response(stub).map_err(err)?;
            only(h)
        }
        (Iface::Login, login_ops::NTLM_LOGIN) => {
            let r = NtlmLoginResponse::decode(stub).map_err(err)?;
            interface(r.namespace.as_ref(), r.hresult)
        }
        (Iface::Login, login_ops::ESTABLISH_POSITION) => {
            let r = EstablishPositionResponse::decode(stub).map_err(err)?;
            only(r.hresult)
        }
        (Iface::LoginClientId, login_ops::SET_CLIENT_INFO) => {
            let r = SetClientInfoResponse::decode(stub).map_err(err)?;
            only(r.hresult)
        }
        (Iface::Services, svc_ops::OPEN_NAMESPACE) => {
            let r = OpenNamespaceResponse::decode(stub).map_err(err)?;
            interface(
                r.working_namespace.as_ref().and_then(Option::as_ref),
                r.hresult,
            )
        }
        (Iface::Services, svc_ops::GET_OBJECT) => {
            let r = GetObjectResponse::decode(stub).map_err(err)?;
            let n = u32::from(matches!(r.object, Some(Some(_))));
            objects(n, None, r.hresult)
        }
        (Iface::Services, svc_ops::EXEC_QUERY) => {
            let r = ExecQueryResponse::decode(stub).map_err(err)?;
            interface(r.enumerator.as_ref(), r.hresult)
        }
        (Iface::Services, svc_ops::EXEC_METHOD) => {
            let r = ExecMethodResponse::decode(stub).map_err(err)?;
            let n = u32::from(matches!(r.out_params, Some(Some(_))));
            objects(n, None, r.hresult)
        }
        (Iface::Enum, enum_ops::NEXT) => {
            let r = EnumNextResponse::decode(stub).map_err(err)?;
            let n = u32::try_from(r.objects.len()).unwrap_or(u32::MAX);
            objects(n, None, r.hresult)
        }
        (Iface::Enum, enum_ops::RESET | enum_ops::NEXT_ASYNC | enum_ops::SKIP) => {
            let r = HresultResponse::decode(stub).map_err(err)?;
            only(r.hresult)
        }
        (Iface::Enum, enum_ops::CLONE) => {
            let r = EnumCloneResponse::decode(stub).map_err(err)?;
            interface(r.enumerator.as_ref(), r.hresult)
        }
        (Iface::FetchSmartEnum, enum_ops::GET_SMART_ENUM) => {
            let r = GetSmartEnumResponse::decode(stub).map_err(err)?;
            interface(r.smart_enum.as_ref(), r.hresult)
        }
        (Iface::SmartEnum, enum_ops::SMART_NEXT) => {
            let r = SmartEnumNextResponse::decode(stub).map_err(err)?;
            objects(r.returned, Some(r.buffer.map_or(0, |b| b.len())), r.hresult)
        }
        (Iface::ObjectExporter, oxid::OPNUM_SERVER_ALIVE2) => {
            let (r, status) = oxid::decode_server_alive2_response(stub).map_err(err)?;
            Ok(Some((
                Some(DcomResponse::Resolver {
                    bindings: r.bindings.as_ref().map(Into::into),
                    ipid_rem_unknown: None,
                    com_version: r.com_version.to_string(),
                }),
                Hresult(status),
            )))
        }
        (Iface::ObjectExporter, oxid::OPNUM_RESOLVE_OXID2) => {
            let (r, status) = oxid::decode_resolve_oxid2_response(stub).map_err(err)?;
            Ok(Some((
                Some(DcomResponse::Resolver {
                    bindings: r.bindings.as_ref().map(Into::into),
                    ipid_rem_unknown: Some(r.ipid_rem_unknown.to_string()),
                    com_version: r.com_version.to_string(),
                }),
                Hresult(status),
            )))
        }
        (Iface::ObjectExporter, oxid::OPNUM_SIMPLE_PING | oxid::OPNUM_SERVER_ALIVE) => {
            let status = oxid::decode_status_response(stub).map_err(err)?;
            only(Hresult(status))
        }
        (Iface::ObjectExporter, oxid::OPNUM_COMPLEX_PING) => {
            let (_, _, status) = oxid::decode_complex_ping_response(stub).map_err(err)?;
            only(Hresult(status))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::InterfaceRef;
    use proptest::prelude::*;
    use winv_dcerpc::SyntaxId;
    use winv_dcom::{OrpcThat, OrpcThis, StdObjRef, StringBinding};

    fn call(syntax: &SyntaxId, opnum: u16, request: Vec<u8>, response: Option<Vec<u8>>) -> Call {
        Call {
            call_id: 1,
            context_id: 0,
            opnum,
            interface: Some(InterfaceRef::from(syntax)),
            request_frames: vec![1],
            response_frames: vec![2],
            request_len: request.len(),
            response_len: response.as_ref().map(Vec::len),
            fault: None,
            request_hex: None,
            response_hex: None,
            dcom: None,
            object: Some(Uuid::from_u128(0xabc)),
            request_sealed: false,
            response_sealed: false,
            request,
            response,
        }
    }

    fn std_objref(iid: Uuid, ipid: Uuid) -> MInterfacePointer {
        ObjRef::Standard {
            iid,
            std: StdObjRef {
                flags: 0,
                public_refs: 5,
                oxid: 0x0537_7350_7f21_3667,
                oid: 7,
                ipid,
            },
            resolver: DualStringArray {
                string_bindings: vec![StringBinding {
                    tower_id: tower::NCACN_IP_TCP,
                    network_addr: "10.0.0.5".into(),
                }],
                security_bindings: Vec::new(),
            },
        }
        .to_interface_pointer()
        .expect("objref")
    }

    #[test]
    fn methods_are_named_by_interface_and_opnum() {
        let n = |s: &SyntaxId, op| method_name(&s.uuid, op);
        assert_eq!(n(&ifs::ISYSTEMACTIVATOR, 4), Some("RemoteCreateInstance"));
        assert_eq!(n(&ifs::IREMUNKNOWN2, 3), Some("RemQueryInterface"));
        assert_eq!(n(&ifs::IREMUNKNOWN2, 5), Some("RemRelease"));
        assert_eq!(n(&ifs::IREMUNKNOWN, 0), Some("QueryInterface"));
        assert_eq!(n(&ifs::IWBEMLEVEL1LOGIN, 6), Some("NTLMLogin"));
        assert_eq!(n(&ifs::IWBEMSERVICES, 6), Some("GetObject"));
        assert_eq!(n(&ifs::IWBEMSERVICES, 20), Some("ExecQuery"));
        assert_eq!(n(&ifs::IWBEMSERVICES, 24), Some("ExecMethod"));
        assert_eq!(n(&ifs::IENUMWBEMCLASSOBJECT, 4), Some("Next"));
        assert_eq!(n(&ifs::IWBEMWCOSMARTENUM, 3), Some("Next"));
        assert_eq!(n(&ifs::IWBEMFETCHSMARTENUM, 3), Some("GetSmartEnum"));
        assert_eq!(n(&ifs::IOBJECTEXPORTER, 5), Some("ServerAlive2"));
        // IObjectExporter is not ORPC: opnum 0 is ResolveOxid, not QueryInterface.
        assert_eq!(n(&ifs::IOBJECTEXPORTER, 0), Some("ResolveOxid"));
        assert_eq!(n(&ifs::IWBEMSERVICES, 26), None);
        assert_eq!(n(&ifs::SVCCTL, 0), None);
        assert!(!is_dcom_interface(&ifs::EPM.uuid));
    }

    #[test]
    fn exec_query_request_and_reply_are_decoded() {
        let req = ExecQueryRequest::wql(OrpcThis::new(Uuid::nil()), "SELECT * FROM Win32_BIOS")
            .encode()
            .expect("encode");
        let ipid = Uuid::from_u128(0x1234);
        let resp = ExecQueryResponse {
            that: OrpcThat::default(),
            enumerator: Some(std_objref(ifs::IENUMWBEMCLASSOBJECT.uuid, ipid)),
            hresult: Hresult::S_OK,
        }
        .encode()
        .expect("encode");
        let d = decode_call(&call(&ifs::IWBEMSERVICES, 20, req, Some(resp))).expect("dcom");
        assert_eq!(d.interface, "IWbemServices");
        assert_eq!(d.method, Some("ExecQuery"));
        assert_eq!(
            d.ipid.as_deref(),
            Some("00000000-0000-0000-0000-000000000abc")
        );
        assert!(d.notes.is_empty(), "{:?}", d.notes);
        assert_eq!(
            d.request,
            Some(DcomRequest::ExecQuery {
                language: Some("WQL".into()),
                query: Some("SELECT * FROM Win32_BIOS".into()),
                flags: winv_wmi::consts::EXEC_QUERY_DEFAULT_FLAGS,
            })
        );
        let Some(DcomResponse::Interface { objref: Some(o) }) = &d.response else {
            panic!("{:?}", d.response);
        };
        assert_eq!(o.iid.name, Some("IEnumWbemClassObject"));
        assert_eq!(o.ipid.as_deref(), Some(ipid.to_string().as_str()));
        assert_eq!(o.oxid.as_deref(), Some("0x053773507f213667"));
        assert_eq!(d.hresult.as_ref().map(|h| h.code), Some(0));
    }

    #[test]
    fn next_counts_and_failing_hresults_are_named() {
        let req = EnumNextRequest {
            this: OrpcThis::new(Uuid::nil()),
            timeout: 5000,
            count: 10,
        }
        .encode()
        .expect("encode");
        let resp = EnumNextResponse {
            that: OrpcThat::default(),
            capacity: 10,
            objects: vec![None, None, None],
            hresult: Hresult(1),
        }
        .encode()
        .expect("encode");
        let d = decode_call(&call(&ifs::IENUMWBEMCLASSOBJECT, 4, req, Some(resp))).expect("dcom");
        assert_eq!(
            d.request,
            Some(DcomRequest::Next {
                timeout: 5000,
                count: 10,
                proxy_guid: None
            })
        );
        assert_eq!(
            d.response,
            Some(DcomResponse::Objects {
                returned: 3,
                buffer_len: None
            })
        );
        assert_eq!(d.hresult.as_ref().map(|h| h.code), Some(1));

        let resp = NtlmLoginResponse {
            that: OrpcThat::default(),
            namespace: None,
            hresult: Hresult(0x8004_1003),
        }
        .encode()
        .expect("encode");
        let req = NtlmLoginRequest::new(OrpcThis::new(Uuid::nil()), r"\\h\root\cimv2")
            .encode()
            .expect("encode");
        let d = decode_call(&call(&ifs::IWBEMLEVEL1LOGIN, 6, req, Some(resp))).expect("dcom");
        assert_eq!(
            d.request,
            Some(DcomRequest::NtlmLogin {
                namespace: Some(r"\\h\root\cimv2".into()),
                locale: None
            })
        );
        assert_eq!(d.response, Some(DcomResponse::Interface { objref: None }));
        let h = d.hresult.expect("hresult");
        assert_eq!(h.code, 0x8004_1003);
        assert_eq!(h.name, Some("WBEM_E_ACCESS_DENIED"));
    }

    #[test]
    fn bad_stubs_give_notes_and_the_tail_hresult() {
        let resp = vec![0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 7, 0x80];
        let d =
            decode_call(&call(&ifs::IWBEMSERVICES, 20, vec![1, 2, 3], Some(resp))).expect("dcom");
        assert_eq!(d.notes.len(), 2, "{:?}", d.notes);
        assert!(d.notes[0].starts_with("request: "), "{:?}", d.notes);
        assert_eq!(d.hresult.map(|h| h.code), Some(0x8007_0005));
        assert_eq!(d.request, None);
    }

    #[test]
    fn sealed_stubs_are_encrypted_not_errors() {
        let mut c = call(
            &ifs::IWBEMSERVICES,
            24,
            vec![0xde; 40],
            Some(vec![0xad; 40]),
        );
        c.request_sealed = true;
        c.response_sealed = true;
        let d = decode_call(&c).expect("dcom");
        assert!(d.encrypted);
        assert!(d.notes.is_empty());
        assert_eq!(d.method, Some("ExecMethod"));
        assert_eq!((d.request, d.response, d.hresult), (None, None, None));
    }

    #[test]
    fn other_interfaces_are_not_dcom() {
        assert!(decode_call(&call(&ifs::SVCCTL, 15, vec![], None)).is_none());
    }

    proptest! {
        #[test]
        fn arbitrary_stubs_never_panic(
            which in 0usize..12,
            opnum in 0u16..30,
            req in proptest::collection::vec(any::<u8>(), 0..300),
            resp in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
        ) {
            let all = [
                ifs::ISYSTEMACTIVATOR, ifs::IACTIVATION, ifs::IOBJECTEXPORTER, ifs::IREMUNKNOWN,
                ifs::IREMUNKNOWN2, ifs::IWBEMLEVEL1LOGIN, ifs::IWBEMLOGINCLIENTID,
                ifs::IWBEMSERVICES, ifs::IENUMWBEMCLASSOBJECT, ifs::IWBEMFETCHSMARTENUM,
                ifs::IWBEMWCOSMARTENUM, ifs::IWBEMCALLRESULT,
            ];
            let s = all[which];
            let d = decode_call(&call(&s, opnum, req, resp)).expect("dcom interface");
            prop_assert!(!d.encrypted);
        }
    }
}
