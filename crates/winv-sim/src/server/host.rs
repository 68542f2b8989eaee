//! One simulated Windows host: its NTLM user table, its DCOM object exporter
//! (activation, OXID resolver, IRemUnknown2, pings) and its WMI objects
//! (IWbemLevel1Login, IWbemServices, enumerators), with the faults of its
//! fleet entry applied where a real host would show them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::debug;
use uuid::Uuid;
use winv_auth::kerberos::files::Keytab;
use winv_auth::kerberos::{KerberosMech, KerberosServer, ReplayCache};
use winv_auth::ntlm::{NtlmSecret, NtlmServer, NtlmTarget};
use winv_auth::{AuthError, AuthLevel, AuthType, SecurityContext, Step};
use winv_dcerpc::interfaces as ifs;
use winv_dcerpc::server::Call;
use winv_dcerpc::{ServerConfig, ServerPolicy, SyntaxId};
use winv_dcom::activation::{
    decode_remote_create_instance_request, encode_remote_create_instance_response,
    ActivatedInterface, ActivationReply, OPNUM_REMOTE_CREATE_INSTANCE,
};
use winv_dcom::clsid::CLSID_WBEM_LEVEL1_LOGIN;
use winv_dcom::objref::{
    tower, DualStringArray, ObjRef, SecurityBinding, StdObjRef, StringBinding,
};
use winv_dcom::remunknown::{self as remunk, RemQiResult};
use winv_dcom::{oxid, ComVersion, Hresult, MInterfacePointer, OrpcThat};
use winv_wmi::consts::{WBEM_E_NOT_SUPPORTED, WBEM_S_FALSE, WBEM_S_TIMEDOUT};
use winv_wmi::enumerator::opnums as enum_op;
use winv_wmi::login::opnums as login_op;
use winv_wmi::services::opnums as services_op;
use winv_wmi::enumerator::{
    EnumNextRequest, EnumNextResponse, GetSmartEnumRequest, GetSmartEnumResponse, HresultResponse,
    SmartEnumNextRequest, SmartEnumNextResponse,
};
use winv_wmi::login::{
    EstablishPositionResponse, NtlmLoginRequest, NtlmLoginResponse, SetClientInfoResponse,
};
use winv_wmi::marshal::{class_object_from_pointer, class_object_to_pointer};
use winv_wmi::services::{
    ExecMethodRequest, ExecMethodResponse, ExecQueryRequest, ExecQueryResponse, GetObjectRequest,
    GetObjectResponse,
};
use winv_wmio::object_array::{encode_object_array, SentClasses};
use winv_wmio::{
    decode_encoding_unit, encode_encoding_unit, ClassDef, Decoration, Instance, Object, ObjectKind,
};

use super::conn::{Dispatch, Port, Reply};
use crate::codes;
use crate::data::host::HostData;
use crate::fleet::{Fault, HostSpec, UserSpec};

/// The ports every host of a running simulator shares.
#[derive(Debug, Default)]
pub struct Ports {
    /// The endpoint mapper port.
    pub epm: AtomicU16,
    /// The dynamic endpoint.
    pub dynamic: AtomicU16,
}

/// `RPC_E_INVALID_OXID`-style answer for an unknown IPID: `RPC_E_DISCONNECTED`.
const RPC_E_DISCONNECTED: u32 = 0x8001_0108;
/// What a reply that cannot be encoded becomes.
const CALL_FAILED: Reply = Reply::Fault(codes::RPC_S_CALL_FAILED);
/// The most objects one host keeps exported at once.
const MAX_OBJECTS: usize = 4096;
/// The most objects one `Next` returns.
const MAX_BATCH: u32 = 10_000;

/// What kind of interface an IPID is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Iface {
    Login,
    LoginClientId,
    Services,
    Enum,
    FetchSmartEnum,
    SmartEnum,
}

impl Iface {
    fn iid(self) -> Uuid {
        match self {
            Iface::Login => ifs::IWBEMLEVEL1LOGIN.uuid,
            Iface::LoginClientId => ifs::IWBEMLOGINCLIENTID.uuid,
            Iface::Services => ifs::IWBEMSERVICES.uuid,
            Iface::Enum => ifs::IENUMWBEMCLASSOBJECT.uuid,
            Iface::FetchSmartEnum => ifs::IWBEMFETCHSMARTENUM.uuid,
            Iface::SmartEnum => ifs::IWBEMWCOSMARTENUM.uuid,
        }
    }

    fn from_iid(iid: &Uuid) -> Option<Iface> {
        [
            Iface::Login,
            Iface::LoginClientId,
            Iface::Services,
            Iface::Enum,
            Iface::FetchSmartEnum,
            Iface::SmartEnum,
        ]
        .into_iter()
        .find(|i| i.iid() == *iid)
    }

    /// The interfaces an object of this kind answers QueryInterface for.
    fn siblings(self) -> &'static [Iface] {
        match self {
            Iface::Login | Iface::LoginClientId => &[Iface::Login, Iface::LoginClientId],
            Iface::Services => &[Iface::Services],
            Iface::Enum | Iface::FetchSmartEnum => &[Iface::Enum, Iface::FetchSmartEnum],
            Iface::SmartEnum => &[Iface::SmartEnum],
        }
    }
}

/// The state behind an exported object.
enum ObjState {
    Login,
    Services {
        namespace: String,
        data: Arc<HostData>,
    },
    Enum {
        namespace: String,
        class: String,
        rows: Vec<Instance>,
        pos: usize,
        sent: SentClasses,
    },
}

struct Exported {
    iface: Iface,
    oid: u64,
    object: Arc<Mutex<ObjState>>,
    refs: u32,
}

/// One simulated host.
pub struct SimHost {
    spec: HostSpec,
    secrets: Vec<(String, String, NtlmSecret)>,
    kerberos: Option<HostKerberos>,
    ports: Arc<Ports>,
    started: Instant,
    attempts: AtomicU32,
    next_id: AtomicU64,
    oxid: u64,
    ipid_rem_unknown: Uuid,
    objects: Mutex<HashMap<Uuid, Exported>>,
    /// Set by `fault_then_silence`: the host answers no call any more.
    silenced: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for SimHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHost")
            .field("address", &self.spec.address)
            .field("name", &self.spec.name)
            .field("users", &self.secrets.len())
            .finish()
    }
}

/// The system time as a FILETIME (100 ns since 1601), what `Timestamp_Sys100NS` reports.
fn now_filetime() -> u64 {
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() / 100)
        .unwrap_or(0);
    crate::data::perf::filetime_from_unix_100ns(i128::try_from(unix).unwrap_or(0))
}

/// Lower-case `root\cimv2` from `//./root/cimv2`, `\\HOST\ROOT\CIMV2`, `root/cimv2`.
pub fn normalize_namespace(ns: &str) -> String {
    let s = ns.replace('/', "\\");
    let s = if let Some(rest) = s.strip_prefix("\\\\") {
        // \\server\namespace
        rest.split_once('\\').map(|(_, n)| n).unwrap_or("")
    } else {
        s.trim_start_matches('\\')
    };
    s.trim_end_matches('\\').to_ascii_lowercase()
}

fn ns_matches(fault_ns: &str, ns: &str) -> bool {
    normalize_namespace(fault_ns) == ns
}

fn class_matches(fault_class: &str, class: &str) -> bool {
    fault_class.eq_ignore_ascii_case(class)
}

/// The (user, domain) pairs an NTLM AUTHENTICATE may carry for `u` on a host of the DNS
/// domain `dns_domain`, as Windows accepts them ([MS-NLMP] 3.2.5.1.2 leaves the name
/// lookup to the server; Windows' LSA cracks each form): `LAB\user` as written; for an
/// account of the host's domain, the domain by its DNS name (`lab.local\user`, what a
/// client sends for `user@lab.local` split at the `@`) and the UPN in the user field with
/// an empty domain (`user@lab.local`, ""). A user without a domain matches any domain
/// already; its UPN is added too. Local accounts (`HOST\user`) have no UPN.
pub fn logon_names(u: &UserSpec, dns_domain: &str) -> Vec<(String, String)> {
    let mut names = vec![(u.user.clone(), u.domain.clone())];
    let netbios = dns_domain.split('.').next().unwrap_or("");
    let of_domain = u.domain.is_empty()
        || u.domain.eq_ignore_ascii_case(netbios)
        || u.domain.eq_ignore_ascii_case(dns_domain);
    if !of_domain || dns_domain.is_empty() {
        return names;
    }
    if !u.domain.is_empty() {
        names.push((u.user.clone(), dns_domain.to_string()));
        names.push((u.user.clone(), netbios.to_string()));
    }
    names.push((format!("{}@{}", u.user, dns_domain), String::new()));
    names
}

impl SimHost {
    /// A host for `spec`; passwords are read from the environment variables
    /// the fleet names (a missing variable leaves that user unable to log on).
    pub fn new(spec: HostSpec, ports: Arc<Ports>, index: u32) -> SimHost {
        let mut secrets = Vec::new();
        for u in spec.users.iter() {
            let secret = match (&u.nt_hash, &u.password_env) {
                (Some(h), _) => NtlmSecret::from_nt_hash_hex(h),
                (None, Some(var)) => std::env::var(var)
                    .ok()
                    .filter(|p| !p.is_empty())
                    .map(|p| NtlmSecret::from_password(&p)),
                (None, None) => None,
            };
            match secret {
                Some(s) => {
                    for (user, domain) in logon_names(u, &spec.domain) {
                        secrets.push((user, domain, s.clone()));
                    }
                }
                None => debug!(user = %u.qualified(), "no password for simulated user"),
            }
        }
        let oxid = 0x5a00_0000_0000_0000 | (u64::from(index) << 16);
        let kerberos = spec.kerberos.as_ref().and_then(HostKerberos::load);
        SimHost {
            kerberos,
            ipid_rem_unknown: Uuid::from_u128(
                0x0000_c000_0000_0000_0000_0000_0000_0000 | (u128::from(index) << 32),
            ),
            spec,
            secrets,
            ports,
            started: Instant::now(),
            attempts: AtomicU32::new(0),
            next_id: AtomicU64::new(1),
            oxid,
            objects: Mutex::new(HashMap::new()),
            silenced: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The fleet entry.
    pub fn spec(&self) -> &HostSpec {
        &self.spec
    }

    fn attempt(&self) -> u32 {
        self.attempts.load(Ordering::Relaxed).max(1)
    }

    fn faults(&self) -> impl Iterator<Item = &Fault> {
        self.spec.active_faults(self.attempt())
    }

    fn shutting_down(&self) -> bool {
        self.faults().any(|f| match f {
            Fault::ShuttingDown { after_ms } => {
                self.started.elapsed() >= Duration::from_millis(*after_ms)
            }
            _ => false,
        })
    }

    /// A fault that turns `method` (on `class`) into an RPC-level failure.
    fn call_fault(&self, method: &str, class: Option<&str>) -> Option<Reply> {
        for f in self.faults() {
            match f {
                Fault::RpcCallFailed { call } if call.matches(method, class) => {
                    return Some(Reply::Fault(codes::RPC_S_CALL_FAILED))
                }
                Fault::CallCancelled { call } if call.matches(method, class) => {
                    return Some(Reply::Fault(codes::RPC_S_CALL_CANCELLED))
                }
                Fault::ConnectionReset { call } if call.matches(method, class) => {
                    return Some(Reply::Reset)
                }
                _ => {}
            }
        }
        None
    }

    /// The association group every connection to this host is in (one client machine
    /// per simulated host is all the tests make).
    fn assoc_group_id(&self) -> u32 {
        0x0001_0000 | (self.oxid >> 16) as u32
    }

    fn new_oid(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn export(&self, iface: Iface, oid: u64, object: Arc<Mutex<ObjState>>) -> Option<StdObjRef> {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let ipid = Uuid::from_u128(
            (u128::from(self.oxid) << 64) | (u128::from(n) << 16) | u128::from(iface as u16),
        );
        let mut objects = self.objects.lock().ok()?;
        if objects.len() >= MAX_OBJECTS {
            return None;
        }
        objects.insert(
            ipid,
            Exported {
                iface,
                oid,
                object,
                refs: 5,
            },
        );
        Some(StdObjRef {
            flags: 0,
            public_refs: 5,
            oxid: self.oxid,
            oid,
            ipid,
        })
    }

    fn objref(&self, iface: Iface, std: StdObjRef) -> ObjRef {
        ObjRef::Standard {
            iid: iface.iid(),
            std,
            resolver: self.resolver_bindings(),
        }
    }

    fn bindings(&self, port: u16) -> DualStringArray {
        let addr = match self.spec.address {
            std::net::IpAddr::V4(a) => a.to_string(),
            std::net::IpAddr::V6(a) => a.to_string(),
        };
        let mut string_bindings = vec![
            StringBinding {
                tower_id: tower::NCACN_IP_TCP,
                network_addr: format!("{}[{port}]", self.spec.name),
            },
            StringBinding {
                tower_id: tower::NCACN_IP_TCP,
                network_addr: format!("{addr}[{port}]"),
            },
        ];
        if port == 0 {
            for b in &mut string_bindings {
                b.network_addr
                    .truncate(b.network_addr.find('[').unwrap_or(0));
            }
        }
        DualStringArray {
            string_bindings,
            security_bindings: [0x0a_u16, 0x09, 0x10, 0x0e]
                .into_iter()
                .map(|authn_svc| SecurityBinding {
                    authn_svc,
                    authz_svc: 0xffff,
                    principal_name: String::new(),
                })
                .collect(),
        }
    }

    fn resolver_bindings(&self) -> DualStringArray {
        self.bindings(0)
    }

    fn lookup(&self, ipid: &Uuid) -> Option<(Iface, u64, Arc<Mutex<ObjState>>)> {
        let objects = self.objects.lock().ok()?;
        objects
            .get(ipid)
            .map(|e| (e.iface, e.oid, e.object.clone()))
    }

    fn host_data(&self) -> HostData {
        let mut data = self.spec.data();
        if let Ok(now) = SystemTime::now().duration_since(UNIX_EPOCH) {
            data.set_current_time(i64::try_from(now.as_secs()).unwrap_or(0));
        }
        data
    }

    // ---- port 135 ----------------------------------------------------------

    fn activate(&self, call: &Call) -> Reply {
        let that = OrpcThat::default();
        let fail = |hr: u32| {
            encode_remote_create_instance_response(&that, None, Hresult(hr))
                .map_or(CALL_FAILED, Reply::Stub)
        };
        let req = match decode_remote_create_instance_request(&call.stub) {
            Ok((_, req)) => req,
            Err(e) => {
                debug!(error = %e, "bad activation request");
                return Reply::Fault(winv_dcerpc::server::NCA_S_PROTO_ERROR);
            }
        };
        if let Some(r) = self.call_fault("RemoteCreateInstance", None) {
            return r;
        }
        if self.shutting_down() {
            return fail(codes::HRESULT_SHUTDOWN_IN_PROGRESS);
        }
        let level = call.auth.map_or(AuthLevel::None, |a| a.level);
        for f in self.faults() {
            match f {
                Fault::DcomAccessDenied => return fail(codes::E_ACCESSDENIED),
                Fault::RequireIntegrity if level < AuthLevel::PktIntegrity => {
                    return fail(codes::E_ACCESSDENIED)
                }
                _ => {}
            }
        }
        if req.clsid != CLSID_WBEM_LEVEL1_LOGIN {
            return fail(Hresult::REGDB_E_CLASSNOTREG.0);
        }
        let login = Arc::new(Mutex::new(ObjState::Login));
        let oid = self.new_oid();
        let mut interfaces = Vec::with_capacity(req.iids.len());
        for iid in &req.iids {
            let iface = if *iid == ifs::IUNKNOWN.uuid {
                Some(Iface::Login)
            } else {
                Iface::from_iid(iid).filter(|i| Iface::Login.siblings().contains(i))
            };
            let item = match iface.and_then(|i| self.export(i, oid, login.clone())) {
                Some(std) => ActivatedInterface {
                    iid: *iid,
                    hresult: Hresult(0),
                    objref: Some(ObjRef::Standard {
                        iid: *iid,
                        std,
                        resolver: self.resolver_bindings(),
                    }),
                },
                None => ActivatedInterface {
                    iid: *iid,
                    hresult: Hresult::E_NOINTERFACE,
                    objref: None,
                },
            };
            interfaces.push(item);
        }
        let reply = ActivationReply {
            oxid: self.oxid,
            oxid_bindings: self.bindings(self.ports.dynamic.load(Ordering::Relaxed)),
            ipid_rem_unknown: self.ipid_rem_unknown,
            authn_hint: 4,
            server_version: ComVersion::V5_7,
            interfaces,
            dest_ctx: 2,
        };
        encode_remote_create_instance_response(&that, Some(&reply), Hresult(0))
            .map_or(CALL_FAILED, Reply::Stub)
    }

    fn exporter(&self, call: &Call) -> Reply {
        let dynamic = self.ports.dynamic.load(Ordering::Relaxed);
        let stub = match call.opnum {
            oxid::OPNUM_SIMPLE_PING => Ok(oxid::encode_status_response(0)),
            oxid::OPNUM_COMPLEX_PING => match oxid::decode_complex_ping_request(&call.stub) {
                Ok(r) => Ok(oxid::encode_complex_ping_response(
                    if r.set_id == 0 {
                        self.new_oid()
                    } else {
                        r.set_id
                    },
                    0,
                    0,
                )),
                Err(_) => return Reply::Fault(winv_dcerpc::server::NCA_S_PROTO_ERROR),
            },
            oxid::OPNUM_SERVER_ALIVE => Ok(oxid::encode_status_response(0)),
            oxid::OPNUM_SERVER_ALIVE2 => oxid::encode_server_alive2_response(
                &oxid::ServerAlive2Reply {
                    com_version: ComVersion::V5_7,
                    bindings: Some(self.resolver_bindings()),
                    reserved: 0,
                },
                0,
            ),
            oxid::OPNUM_RESOLVE_OXID2 => oxid::encode_resolve_oxid2_response(
                &oxid::ResolveOxid2Reply {
                    bindings: Some(self.bindings(dynamic)),
                    ipid_rem_unknown: self.ipid_rem_unknown,
                    authn_hint: 4,
                    com_version: ComVersion::V5_7,
                },
                0,
            ),
            _ => return Reply::Fault(winv_dcerpc::server::NCA_S_OP_RNG_ERROR),
        };
        stub.map_or(CALL_FAILED, Reply::Stub)
    }

    // ---- dynamic port --------------------------------------------------------

    fn rem_unknown(&self, call: &Call) -> Reply {
        let that = OrpcThat::default();
        let r = match call.opnum {
            remunk::OPNUM_REM_QUERY_INTERFACE => {
                let Ok((_, req)) = remunk::decode_rem_query_interface_request(&call.stub) else {
                    return Reply::Fault(winv_dcerpc::server::NCA_S_PROTO_ERROR);
                };
                let results: Vec<RemQiResult> = match self.lookup(&req.ipid) {
                    Some((iface, oid, object)) => req
                        .iids
                        .iter()
                        .map(|iid| {
                            let target = if *iid == ifs::IUNKNOWN.uuid {
                                Some(iface)
                            } else {
                                Iface::from_iid(iid).filter(|i| iface.siblings().contains(i))
                            };
                            match target.and_then(|t| self.export(t, oid, object.clone())) {
                                Some(std) => RemQiResult {
                                    hresult: Hresult(0),
                                    std,
                                },
                                None => RemQiResult {
                                    hresult: Hresult::E_NOINTERFACE,
                                    std: StdObjRef::default(),
                                },
                            }
                        })
                        .collect(),
                    None => {
                        return remunk::encode_rem_query_interface_response(
                            &that,
                            &[],
                            Hresult(RPC_E_DISCONNECTED),
                        )
                        .map_or(CALL_FAILED, Reply::Stub)
                    }
                };
                remunk::encode_rem_query_interface_response(&that, &results, Hresult(0))
            }
            remunk::OPNUM_REM_ADD_REF => match remunk::decode_rem_add_ref_request(&call.stub) {
                Ok((_, refs)) => {
                    let hrs: Vec<Hresult> = refs.iter().map(|_| Hresult(0)).collect();
                    remunk::encode_rem_add_ref_response(&that, &hrs, Hresult(0))
                }
                Err(_) => return Reply::Fault(winv_dcerpc::server::NCA_S_PROTO_ERROR),
            },
            remunk::OPNUM_REM_RELEASE => match remunk::decode_rem_release_request(&call.stub) {
                Ok((_, refs)) => {
                    if let Ok(mut objects) = self.objects.lock() {
                        for r in refs {
                            if let Some(e) = objects.get_mut(&r.ipid) {
                                e.refs = e.refs.saturating_sub(r.public_refs);
                                if e.refs == 0 {
                                    objects.remove(&r.ipid);
                                }
                            }
                        }
                    }
                    remunk::encode_rem_release_response(&that, Hresult(0))
                }
                Err(_) => return Reply::Fault(winv_dcerpc::server::NCA_S_PROTO_ERROR),
            },
            _ => return Reply::Fault(winv_dcerpc::server::NCA_S_OP_RNG_ERROR),
        };
        r.map_or(CALL_FAILED, Reply::Stub)
    }

    fn login(&self, call: &Call) -> Reply {
        let that = OrpcThat::default();
        let level = call.auth.map_or(AuthLevel::None, |a| a.level);
        let stub = match call.opnum {
            login_op::ESTABLISH_POSITION => EstablishPositionResponse {
                that,
                locale_version: 1,
                hresult: Hresult(0),
            }
            .encode(),
            login_op::REQUEST_CHALLENGE | login_op::WBEM_LOGIN => HresultResponse {
                that,
                hresult: WBEM_E_NOT_SUPPORTED,
            }
            .encode(),
            login_op::NTLM_LOGIN => {
                let Ok(req) = NtlmLoginRequest::decode(&call.stub) else {
                    return Reply::Fault(winv_dcerpc::server::NCA_S_PROTO_ERROR);
                };
                if let Some(r) = self.call_fault("NTLMLogin", None) {
                    return r;
                }
                let ns = normalize_namespace(req.network_resource.as_deref().unwrap_or(""));
                let data = self.host_data();
                let (hr, services) = match self.login_check(&ns, level, &data) {
                    Err(hr) => (hr, None),
                    Ok(()) => {
                        let object = Arc::new(Mutex::new(ObjState::Services {
                            namespace: ns,
                            data: Arc::new(data),
                        }));
                        match self.export(Iface::Services, self.new_oid(), object) {
                            Some(std) => (
                                0,
                                self.objref(Iface::Services, std)
                                    .to_interface_pointer()
                                    .ok(),
                            ),
                            None => (codes::WBEM_E_FAILED, None),
                        }
                    }
                };
                NtlmLoginResponse {
                    that,
                    namespace: services,
                    hresult: Hresult(hr),
                }
                .encode()
            }
            _ => return Reply::Fault(winv_dcerpc::server::NCA_S_OP_RNG_ERROR),
        };
        stub.map_or(CALL_FAILED, Reply::Stub)
    }

    fn login_check(&self, ns: &str, level: AuthLevel, data: &HostData) -> Result<(), u32> {
        if self.shutting_down() {
            return Err(codes::WBEM_E_SHUTTING_DOWN);
        }
        for f in self.faults() {
            let hr = match f {
                Fault::WmiAccessDenied { namespace } if ns_matches(namespace, ns) => {
                    codes::WBEM_E_ACCESS_DENIED
                }
                Fault::RequirePrivacy { namespace }
                    if ns_matches(namespace, ns) && level < AuthLevel::PktPrivacy =>
                {
                    codes::WBEM_E_ENCRYPTED_CONNECTION_REQUIRED
                }
                Fault::InvalidNamespace { namespace } if ns_matches(namespace, ns) => {
                    codes::WBEM_E_INVALID_NAMESPACE
                }
                Fault::NamespaceNotFound { namespace } if ns_matches(namespace, ns) => {
                    codes::WBEM_E_NOT_FOUND
                }
                Fault::InvalidParameter { namespace } if ns_matches(namespace, ns) => {
                    codes::WBEM_E_INVALID_PARAMETER
                }
                _ => continue,
            };
            return Err(hr);
        }
        if !data.has_namespace(ns) {
            return Err(codes::WBEM_E_INVALID_NAMESPACE);
        }
        Ok(())
    }

    fn decoration(&self, namespace: &str) -> Decoration {
        Decoration {
            server: self.spec.name.clone(),
            namespace: namespace.to_ascii_uppercase(),
        }
    }

    fn services(&self, call: &Call, object: &Arc<Mutex<ObjState>>) -> Reply {
        let that = OrpcThat::default();
        let (namespace, data) = match object.lock().as_deref() {
            Ok(ObjState::Services { namespace, data }) => (namespace.clone(), data.clone()),
            _ => return Reply::Fault(winv_dcerpc::server::NCA_S_PROTO_ERROR),
        };
        let stub = match call.opnum {
            services_op::EXEC_QUERY => {
                let Ok(req) = ExecQueryRequest::decode(&call.stub) else {
                    return Reply::Fault(winv_dcerpc::server::NCA_S_PROTO_ERROR);
                };
                let lang = req.query_language.text().unwrap_or("").to_string();
                let text = req.query.text().unwrap_or("").to_string();
                let class = crate::wql::parse_with_language(&lang, &text)
                    .ok()
                    .map(|q| q.class.clone());
                if let Some(r) = self.call_fault("ExecQuery", class.as_deref()) {
                    return r;
                }
                if let Some(c) = class.as_deref() {
                    if self.enum_fault(c, |f| matches!(f, Fault::FaultThenSilence { .. })) {
                        self.silenced.store(true, Ordering::Relaxed);
                        return Reply::Fault(codes::RPC_S_CALL_FAILED);
                    }
                }
                let result = match class.as_deref().and_then(|c| self.class_fault(c)) {
                    Some(hr) => Err(hr),
                    None if self.shutting_down() => Err(codes::WBEM_E_SHUTTING_DOWN),
                    None => crate::wql::exec_query_at(
                        &data,
                        &namespace,
                        &lang,
                        &text,
                        Some(now_filetime()),
                    )
                    .map_err(|e| e.code()),
                };
                let (hr, enumerator) = match result {
                    Err(hr) => (hr, None),
                    Ok(rows) => {
                        let object = Arc::new(Mutex::new(ObjState::Enum {
                            namespace: namespace.clone(),
                            class: class.unwrap_or_default(),
                            rows,
                            pos: 0,
                            sent: SentClasses::new(),
                        }));
                        match self.export(Iface::Enum, self.new_oid(), object) {
                            Some(std) => {
                                (0, self.objref(Iface::Enum, std).to_interface_pointer().ok())
                            }
                            None => (codes::WBEM_E_FAILED, None),
                        }
                    }
                };
                ExecQueryResponse {
                    that,
                    enumerator,
                    hresult: Hresult(hr),
                }
                .encode()
            }
            services_op::GET_OBJECT => {
                let Ok(req) = decode_lenient(&call.stub, GetObjectRequest::decode) else {
                    return Reply::Fault(winv_dcerpc::server::NCA_S_PROTO_ERROR);
                };
                let class_name = match self.path_call("GetObject", req.object_path.text()) {
                    Ok(c) => c,
                    Err(r) => return r,
                };
                let (hr, object) = match self.class_fault(&class_name) {
                    Some(hr) => (hr, None),
                    None => match data.class(&namespace, &class_name) {
                        None => (codes::WBEM_E_NOT_FOUND, None),
                        Some(class) => {
                            let obj = Object {
                                decoration: Some(self.decoration(&namespace)),
                                kind: ObjectKind::Class {
                                    parent: ClassDef::default(),
                                    current: class.clone(),
                                },
                            };
                            match encode_encoding_unit(&obj)
                                .ok()
                                .and_then(|eu| class_object_to_pointer(&eu).ok())
                            {
                                Some(p) => (0, Some(p)),
                                None => (codes::WBEM_E_FAILED, None),
                            }
                        }
                    },
                };
                GetObjectResponse {
                    that,
                    object: req.object.map(|_| object),
                    call_result: req.call_result.map(|_| None),
                    hresult: Hresult(hr),
                }
                .encode()
            }
            services_op::EXEC_METHOD => {
                let Ok(req) = decode_lenient(&call.stub, ExecMethodRequest::decode) else {
                    return Reply::Fault(winv_dcerpc::server::NCA_S_PROTO_ERROR);
                };
                let method = req.method_name.text().unwrap_or("").to_string();
                let class_name = match self.path_call("ExecMethod", req.object_path.text()) {
                    Ok(c) => c,
                    Err(r) => return r,
                };
                let (hr, out) = self.exec_method(
                    &data,
                    &namespace,
                    &class_name,
                    &method,
                    req.in_params.as_ref(),
                );
                ExecMethodResponse {
                    that,
                    out_params: req.out_params.map(|_| out),
                    call_result: req.call_result.map(|_| None),
                    hresult: Hresult(hr),
                }
                .encode()
            }
            _ => HresultResponse {
                that,
                hresult: WBEM_E_NOT_SUPPORTED,
            }
            .encode(),
        };
        stub.map_or(CALL_FAILED, Reply::Stub)
    }

    /// The class an object path names (`Win32_Service.Name="x"` gives `Win32_Service`),
    /// or the fault `method` gets on it.
    fn path_call(&self, method: &str, path: Option<&str>) -> Result<String, Reply> {
        let class = class_of_path(path.unwrap_or(""));
        match self.call_fault(method, Some(&class)) {
            Some(r) => Err(r),
            None => Ok(class),
        }
    }

    fn exec_method(
        &self,
        data: &HostData,
        namespace: &str,
        class_name: &str,
        method: &str,
        in_params: Option<&MInterfacePointer>,
    ) -> (u32, Option<MInterfacePointer>) {
        if !class_name.eq_ignore_ascii_case("StdRegProv") || namespace != "root\\default" {
            return (codes::WBEM_E_INVALID_CLASS, None);
        }
        let inst = match in_params.map(|p| {
            class_object_from_pointer(p)
                .ok()
                .and_then(|eu| decode_encoding_unit(&eu).ok())
        }) {
            Some(Some(Object {
                kind: ObjectKind::Instance(i),
                ..
            })) => i,
            Some(_) => return (codes::WBEM_E_INVALID_METHOD_PARAMETERS, None),
            None => match crate::data::classes::method_input(method) {
                Some(c) => Instance::new(c.clone()),
                None => return (codes::WBEM_E_INVALID_METHOD, None),
            },
        };
        match crate::stdregprov::call(&data.registry, method, &inst) {
            Err(hr) => (hr, None),
            Ok(out) => {
                let obj = Object {
                    decoration: Some(self.decoration(namespace)),
                    kind: ObjectKind::Instance(out),
                };
                match encode_encoding_unit(&obj)
                    .ok()
                    .and_then(|eu| class_object_to_pointer(&eu).ok())
                {
                    Some(p) => (0, Some(p)),
                    None => (codes::WBEM_E_FAILED, None),
                }
            }
        }
    }

    fn class_fault(&self, class: &str) -> Option<u32> {
        self.faults().find_map(|f| match f {
            Fault::InvalidClass { class: c } if class_matches(c, class) => {
                Some(codes::WBEM_E_INVALID_CLASS)
            }
            Fault::ProviderLoadFailure { class: c } if class_matches(c, class) => {
                Some(codes::WBEM_E_PROVIDER_LOAD_FAILURE)
            }
            _ => None,
        })
    }

    /// Faults of a class that show while its rows are fetched.
    fn fetch_fault(&self, class: &str, timeout_ms: i32) -> Option<Reply> {
        for f in self.faults() {
            match f {
                Fault::ProviderFailure { class: c } if class_matches(c, class) => {
                    return Some(Reply::Stub(Vec::new())); // marker, replaced by the caller
                }
                Fault::ProviderHang { class: c } if class_matches(c, class) => {
                    return Some(if timeout_ms < 0 {
                        Reply::Hang
                    } else {
                        Reply::After(
                            Duration::from_millis(timeout_ms.unsigned_abs().into()),
                            Box::new(Reply::Stub(vec![1])), // marker: timed out
                        )
                    });
                }
                _ => {}
            }
        }
        None
    }

    fn slow(&self, class: &str) -> Option<Duration> {
        self.faults().find_map(|f| match f {
            Fault::ProviderSlow { class: c, delay_ms } if class_matches(c, class) => {
                Some(Duration::from_millis(*delay_ms))
            }
            _ => None,
        })
    }

    /// Whether a fault that `is` names applies to enumerations of `class`.
    fn enum_fault(&self, class: &str, is: impl Fn(&Fault) -> bool) -> bool {
        self.faults().any(|f| {
            is(f)
                && match f {
                    Fault::EndlessEnumeration { class: c }
                    | Fault::EmptyEnumeration { class: c }
                    | Fault::FaultThenSilence { class: c } => class_matches(c, class),
                    _ => false,
                }
        })
    }

    /// Takes up to `count` rows from an enumerator: (objects, end reached).
    fn take_rows(
        &self,
        object: &Arc<Mutex<ObjState>>,
        count: u32,
    ) -> Option<(Vec<Object>, bool, String)> {
        let mut state = object.lock().ok()?;
        let ObjState::Enum {
            namespace,
            rows,
            pos,
            class,
            ..
        } = &mut *state
        else {
            return None;
        };
        if self.enum_fault(class, |f| matches!(f, Fault::EmptyEnumeration { .. })) {
            return Some((Vec::new(), false, class.clone()));
        }
        let endless = self.enum_fault(class, |f| matches!(f, Fault::EndlessEnumeration { .. }));
        if endless && *pos >= rows.len() {
            *pos = 0;
        }
        let n = usize::try_from(count.min(MAX_BATCH)).unwrap_or(0);
        let end = pos.saturating_add(n).min(rows.len());
        let decoration = self.decoration(namespace);
        let objs = rows
            .get(*pos..end)
            .unwrap_or_default()
            .iter()
            .map(|i| Object {
                decoration: Some(decoration.clone()),
                kind: ObjectKind::Instance(i.clone()),
            })
            .collect::<Vec<_>>();
        *pos = end;
        let short = objs.len() < n && !endless;
        Some((objs, short, class.clone()))
    }

    fn enum_class(object: &Arc<Mutex<ObjState>>) -> String {
        match object.lock().as_deref() {
            Ok(ObjState::Enum { class, .. }) => class.clone(),
            _ => String::new(),
        }
    }

    /// The fault-aware prelude of Next / smart Next: a reply to send instead
    /// of rows, or a delay to apply before them.
    fn before_rows(
        &self,
        class: &str,
        timeout: i32,
        timed_out: impl Fn() -> Reply,
        failed: impl Fn() -> Reply,
    ) -> Result<Option<Duration>, Reply> {
        if let Some(r) = self.call_fault("Next", Some(class)) {
            return Err(r);
        }
        match self.fetch_fault(class, timeout) {
            Some(Reply::Hang) => Err(Reply::Hang),
            Some(Reply::After(d, _)) => Err(Reply::After(d, Box::new(timed_out()))),
            Some(_) => Err(failed()),
            None => Ok(self.slow(class)),
        }
    }

    fn enumerator(&self, call: &Call, object: &Arc<Mutex<ObjState>>) -> Reply {
        let that = OrpcThat::default();
        match call.opnum {
            enum_op::RESET => {
                if let Ok(mut s) = object.lock() {
                    if let ObjState::Enum { pos, .. } = &mut *s {
                        *pos = 0;
                    }
                }
                HresultResponse {
                    that,
                    hresult: Hresult(0),
                }
                .encode()
                .map_or(CALL_FAILED, Reply::Stub)
            }
            enum_op::NEXT => {
                let Ok(req) = EnumNextRequest::decode(&call.stub) else {
                    return Reply::Fault(winv_dcerpc::server::NCA_S_PROTO_ERROR);
                };
                let class = Self::enum_class(object);
                let empty = |hr: u32| {
                    EnumNextResponse {
                        that: OrpcThat::default(),
                        capacity: req.count,
                        objects: Vec::new(),
                        hresult: Hresult(hr),
                    }
                    .encode()
                    .map_or(CALL_FAILED, Reply::Stub)
                };
                let delay = match self.before_rows(
                    &class,
                    req.timeout,
                    || empty(WBEM_S_TIMEDOUT.0),
                    || empty(codes::WBEM_E_PROVIDER_FAILURE),
                ) {
                    Ok(d) => d,
                    Err(r) => return r,
                };
                let Some((objs, end, _)) = self.take_rows(object, req.count) else {
                    return Reply::Fault(winv_dcerpc::server::NCA_S_PROTO_ERROR);
                };
                let mut pointers = Vec::with_capacity(objs.len());
                for o in &objs {
                    match encode_encoding_unit(o)
                        .ok()
                        .and_then(|eu| class_object_to_pointer(&eu).ok())
                    {
                        Some(p) => pointers.push(Some(p)),
                        None => return empty(codes::WBEM_E_FAILED),
                    }
                }
                let reply = EnumNextResponse {
                    that,
                    capacity: req.count,
                    objects: pointers,
                    hresult: Hresult(if end { WBEM_S_FALSE.0 } else { 0 }),
                }
                .encode()
                .map_or(CALL_FAILED, Reply::Stub);
                match delay {
                    Some(d) => Reply::After(d, Box::new(reply)),
                    None => reply,
                }
            }
            _ => HresultResponse {
                that,
                hresult: WBEM_E_NOT_SUPPORTED,
            }
            .encode()
            .map_or(CALL_FAILED, Reply::Stub),
        }
    }

    fn fetch_smart_enum(&self, call: &Call, oid: u64, object: &Arc<Mutex<ObjState>>) -> Reply {
        let decodes = decode_lenient(&call.stub, GetSmartEnumRequest::decode).is_ok();
        if call.opnum != enum_op::GET_SMART_ENUM || !decodes {
            return Reply::Fault(winv_dcerpc::server::NCA_S_OP_RNG_ERROR);
        }
        let (hr, smart) = match self.export(Iface::SmartEnum, oid, object.clone()) {
            Some(std) => (
                0,
                self.objref(Iface::SmartEnum, std)
                    .to_interface_pointer()
                    .ok(),
            ),
            None => (codes::WBEM_E_FAILED, None),
        };
        GetSmartEnumResponse {
            that: OrpcThat::default(),
            smart_enum: smart,
            hresult: Hresult(hr),
        }
        .encode()
        .map_or(CALL_FAILED, Reply::Stub)
    }

    fn smart_enum(&self, call: &Call, object: &Arc<Mutex<ObjState>>) -> Reply {
        if call.opnum != enum_op::SMART_NEXT {
            return Reply::Fault(winv_dcerpc::server::NCA_S_OP_RNG_ERROR);
        }
        let Ok(req) = SmartEnumNextRequest::decode(&call.stub) else {
            return Reply::Fault(winv_dcerpc::server::NCA_S_PROTO_ERROR);
        };
        let class = Self::enum_class(object);
        let empty = |hr: u32| {
            SmartEnumNextResponse {
                that: OrpcThat::default(),
                returned: 0,
                buffer: None,
                hresult: Hresult(hr),
            }
            .encode()
            .map_or(CALL_FAILED, Reply::Stub)
        };
        let delay = match self.before_rows(
            &class,
            req.timeout,
            || empty(WBEM_S_TIMEDOUT.0),
            || empty(codes::WBEM_E_PROVIDER_FAILURE),
        ) {
            Ok(d) => d,
            Err(r) => return r,
        };
        let Some((objs, end, _)) = self.take_rows(object, req.count) else {
            return Reply::Fault(winv_dcerpc::server::NCA_S_PROTO_ERROR);
        };
        let buffer = {
            let Ok(mut state) = object.lock() else {
                return empty(codes::WBEM_E_FAILED);
            };
            let ObjState::Enum { sent, .. } = &mut *state else {
                return empty(codes::WBEM_E_FAILED);
            };
            if objs.is_empty() {
                None
            } else {
                // bPacketType 1: the smart enumerator's Next, as Windows sends it
                // (aiowmi, written against Windows, rejects any other value).
                match encode_object_array(&objs, 1, sent) {
                    Ok(b) => Some(b),
                    Err(_) => return empty(codes::WBEM_E_FAILED),
                }
            }
        };
        let reply = SmartEnumNextResponse {
            that: OrpcThat::default(),
            returned: u32::try_from(objs.len()).unwrap_or(u32::MAX),
            buffer,
            hresult: Hresult(if end { WBEM_S_FALSE.0 } else { 0 }),
        }
        .encode()
        .map_or(CALL_FAILED, Reply::Stub);
        match delay {
            Some(d) => Reply::After(d, Box::new(reply)),
            None => reply,
        }
    }
}

/// A host's Kerberos acceptor state: its keys, its realm and the replay cache
/// its contexts share.
#[derive(Clone)]
struct HostKerberos {
    keytab: Arc<Keytab>,
    realm: String,
    replay: Arc<Mutex<ReplayCache>>,
}

impl HostKerberos {
    /// Reads the keytab (64 MiB at most); a host whose keytab cannot be read
    /// serves NTLM only, with the reason at debug level.
    fn load(spec: &crate::fleet::KerberosSpec) -> Option<HostKerberos> {
        use std::io::Read;
        let mut bytes = Vec::new();
        let read = std::fs::File::open(&spec.keytab)
            .and_then(|f| f.take(64 << 20).read_to_end(&mut bytes));
        if let Err(e) = read {
            debug!(keytab = %spec.keytab.display(), error = %e, "keytab unreadable");
            return None;
        }
        match winv_auth::kerberos::files::parse_keytab(&bytes) {
            Ok(kt) => Some(HostKerberos {
                keytab: Arc::new(kt),
                realm: spec.realm.clone(),
                replay: Arc::new(Mutex::new(ReplayCache::default())),
            }),
            Err(e) => {
                debug!(keytab = %spec.keytab.display(), error = %e, "keytab unusable");
                None
            }
        }
    }
}

/// The bind policy of one association to a simulated host.
struct HostPolicy {
    port: Port,
    dcom_disabled: bool,
    /// `reject_alter_context`: the dynamic port accepts only the bind's interface.
    reject_alter: bool,
    target: NtlmTarget,
    users: Vec<(String, String, NtlmSecret)>,
    ntlm: bool,
    kerberos: Option<HostKerberos>,
    /// The host's one association group ([`SimHost::config`]): the only one a bind can
    /// join.
    assoc_group_id: u32,
    /// `clock_skew`: how far the host's clock is off, seconds.
    clock_skew: i64,
    /// `tampered_ap_rep`: the acceptor's AP-REP gets a byte flipped.
    tamper_ap_rep: bool,
}

/// An acceptor whose first answer token (the AP-REP, [MS-KILE] 3.4.5.1) has its last
/// byte flipped: the end of the AP-REP's encrypted part, raw or inside SPNEGO's
/// responseToken (the simulator sends no mechListMIC after it).
struct TamperedApRep {
    inner: Box<dyn SecurityContext>,
    done: bool,
}

impl SecurityContext for TamperedApRep {
    fn auth_type(&self) -> AuthType {
        self.inner.auth_type()
    }
    fn step(&mut self, input: Option<&[u8]>) -> Result<Step, AuthError> {
        let mut step = self.inner.step(input)?;
        if !self.done {
            let token = match &mut step {
                Step::Continue(t) | Step::Done(Some(t)) => Some(t),
                Step::Done(None) => None,
            };
            if let Some(last) = token.and_then(|t| t.last_mut()) {
                *last ^= 0x01;
                self.done = true;
            }
        }
        Ok(step)
    }
    fn is_established(&self) -> bool {
        self.inner.is_established()
    }
    fn signature_len(&self) -> usize {
        self.inner.signature_len()
    }
    fn accepts_signature_len(&self, len: usize) -> bool {
        self.inner.accepts_signature_len(len)
    }
    fn set_header_signing(&mut self, on: bool) {
        self.inner.set_header_signing(on);
    }
    fn set_auth_level(&mut self, level: AuthLevel) {
        self.inner.set_auth_level(level);
    }
    fn protect(&mut self, m: &mut [u8], seal: Option<std::ops::Range<usize>>) -> Result<Vec<u8>, AuthError> {
        self.inner.protect(m, seal)
    }
    fn unprotect(
        &mut self,
        m: &mut [u8],
        seal: Option<std::ops::Range<usize>>,
        sig: &[u8],
    ) -> Result<(), AuthError> {
        self.inner.unprotect(m, seal, sig)
    }
}

impl ServerPolicy for HostPolicy {
    fn joins(&self, assoc_group_id: u32) -> bool {
        assoc_group_id == self.assoc_group_id
    }

    fn accepts(&self, interface: &SyntaxId) -> bool {
        match self.port {
            Port::Epm => {
                (*interface == ifs::ISYSTEMACTIVATOR && !self.dcom_disabled)
                    || *interface == ifs::IOBJECTEXPORTER
                    || *interface == ifs::EPM
            }
            Port::Dynamic if self.reject_alter => *interface == ifs::IWBEMLEVEL1LOGIN,
            Port::Dynamic => [
                ifs::IREMUNKNOWN,
                ifs::IREMUNKNOWN2,
                ifs::IWBEMLEVEL1LOGIN,
                ifs::IWBEMLOGINCLIENTID,
                ifs::IWBEMSERVICES,
                ifs::IENUMWBEMCLASSOBJECT,
                ifs::IWBEMFETCHSMARTENUM,
                ifs::IWBEMWCOSMARTENUM,
                ifs::IWBEMCALLRESULT,
            ]
            .contains(interface),
        }
    }

    fn security(&mut self, auth_type: AuthType) -> Option<Box<dyn SecurityContext>> {
        let mech = match auth_type {
            AuthType::WinNt => {
                let mut server = NtlmServer::new(self.target.clone());
                // A host that refuses NTLM (Network security: Restrict NTLM)
                // lets the exchange run and fails the logon, as Windows does:
                // the first call on the context is refused with access denied.
                if self.ntlm {
                    for (user, domain, secret) in &self.users {
                        server.add_user(user, domain, secret.clone());
                    }
                }
                return Some(Box::new(server));
            }
            AuthType::GssKerberos => KerberosMech::Raw,
            AuthType::GssNegotiate => KerberosMech::Spnego,
            _ => return None,
        };
        let k = self.kerberos.as_ref()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let acceptor = Box::new(KerberosServer::new(
            mech,
            k.keytab.clone(),
            &k.realm,
            k.replay.clone(),
            winv_auth::AuthLevel::PktPrivacy,
            now.saturating_add(self.clock_skew),
        ));
        if self.tamper_ap_rep {
            return Some(Box::new(TamperedApRep {
                inner: acceptor,
                done: false,
            }));
        }
        Some(acceptor)
    }
}

/// How much trailing NDR data [`decode_lenient`] skips at most.
const MAX_TRAILING: usize = 64;

/// Decodes a request stub as Windows does, ignoring NDR data after the last
/// parameter: impacket marshals each `[in, out] IWbemClassObject**` slot of
/// `GetObject` / `ExecMethod` as a pointer to an empty `MInterfacePointer`
/// (12 bytes where Windows reads a NULL interface pointer and stops), and
/// aiowmi sends 16 bytes after ORPCTHIS in `GetSmartEnum`. Tries the whole stub,
/// then ever shorter 4-byte-aligned prefixes, at most [`MAX_TRAILING`] bytes shorter.
fn decode_lenient<T, E>(stub: &[u8], decode: impl Fn(&[u8]) -> Result<T, E>) -> Result<T, E> {
    let full = decode(stub);
    if full.is_ok() {
        return full;
    }
    let shortest = stub.len().saturating_sub(MAX_TRAILING);
    let mut len = stub.len() & !3;
    if len == stub.len() {
        len = len.saturating_sub(4);
    }
    while len >= shortest && len > 0 {
        if let Some(Ok(v)) = stub.get(..len).map(&decode) {
            return Ok(v);
        }
        len -= 4;
    }
    full
}

impl Dispatch for SimHost {
    fn policy(&self, port: Port) -> Box<dyn ServerPolicy> {
        if port == Port::Epm {
            self.attempts.fetch_add(1, Ordering::Relaxed);
        }
        let refuse_logon = self
            .faults()
            .any(|f| matches!(f, Fault::WrongPassword | Fault::UnknownUser));
        let domain = self.spec.domain.clone();
        let nb_domain = domain.split('.').next().unwrap_or("").to_ascii_uppercase();
        Box::new(HostPolicy {
            port,
            dcom_disabled: self.faults().any(|f| matches!(f, Fault::DcomDisabled)),
            reject_alter: self
                .faults()
                .any(|f| matches!(f, Fault::RejectAlterContext)),
            target: NtlmTarget {
                nb_computer_name: self.spec.name.to_ascii_uppercase(),
                nb_domain_name: nb_domain,
                dns_computer_name: format!("{}.{}", self.spec.name.to_ascii_lowercase(), domain),
                dns_domain_name: domain,
            },
            users: if refuse_logon {
                Vec::new()
            } else {
                self.secrets.clone()
            },
            ntlm: self.spec.ntlm,
            kerberos: self.kerberos.clone(),
            assoc_group_id: self.assoc_group_id(),
            clock_skew: self
                .faults()
                .find_map(|f| match f {
                    Fault::ClockSkew { seconds } => Some(*seconds),
                    _ => None,
                })
                .unwrap_or(0),
            tamper_ap_rep: self.faults().any(|f| matches!(f, Fault::TamperedApRep)),
        })
    }

    fn answers(&self, port: Port) -> bool {
        port == Port::Epm || !self.faults().any(|f| matches!(f, Fault::DynamicPortSilent))
    }

    fn config(&self, port: Port) -> ServerConfig {
        let p = match port {
            Port::Epm => self.ports.epm.load(Ordering::Relaxed),
            Port::Dynamic => self.ports.dynamic.load(Ordering::Relaxed),
        };
        ServerConfig {
            secondary_address: p.to_string(),
            assoc_group_id: self.assoc_group_id(),
            ..ServerConfig::default()
        }
    }

    fn call(&self, port: Port, call: &Call) -> Reply {
        if self.silenced.load(Ordering::Relaxed) {
            return Reply::Hang;
        }
        match (port, call.interface) {
            (Port::Epm, i) if i == ifs::ISYSTEMACTIVATOR => {
                if call.opnum == OPNUM_REMOTE_CREATE_INSTANCE {
                    self.activate(call)
                } else {
                    Reply::Fault(winv_dcerpc::server::NCA_S_OP_RNG_ERROR)
                }
            }
            (Port::Epm, i) if i == ifs::IOBJECTEXPORTER => self.exporter(call),
            (Port::Dynamic, i) if i == ifs::IREMUNKNOWN2 || i == ifs::IREMUNKNOWN => {
                self.rem_unknown(call)
            }
            // Windows dispatches an ORPC call by the IPID in the header's object
            // UUID, whatever interface the presentation context names: aiowmi
            // calls IRemUnknown on the context it bound for IWbemLevel1Login.
            (Port::Dynamic, _) if call.object == Some(self.ipid_rem_unknown) => {
                self.rem_unknown(call)
            }
            (Port::Dynamic, _) => {
                let Some((iface, oid, object)) = call.object.and_then(|ipid| self.lookup(&ipid))
                else {
                    return Reply::Fault(RPC_E_DISCONNECTED);
                };
                match iface {
                    Iface::Login => self.login(call),
                    Iface::LoginClientId => SetClientInfoResponse {
                        that: OrpcThat::default(),
                        hresult: Hresult(0),
                    }
                    .encode()
                    .map_or(CALL_FAILED, Reply::Stub),
                    Iface::Services => self.services(call, &object),
                    Iface::Enum => self.enumerator(call, &object),
                    Iface::FetchSmartEnum => self.fetch_smart_enum(call, oid, &object),
                    Iface::SmartEnum => self.smart_enum(call, &object),
                }
            }
            _ => Reply::Fault(winv_dcerpc::server::NCA_S_UNK_IF),
        }
    }
}

/// The class part of a WMI object path ([MS-WMI] 2.2.2 and the WMI object path syntax):
/// everything before the key list (`.`) or a singleton's `=@`.
fn class_of_path(path: &str) -> String {
    path.split(['.', '='])
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

#[cfg(test)]
mod logon_name_tests {
    use super::*;

    fn user(domain: &str) -> UserSpec {
        UserSpec {
            domain: domain.into(),
            user: "inventory".into(),
            password_env: Some("X".into()),
            nt_hash: None,
        }
    }

    fn has(names: &[(String, String)], u: &str, d: &str) -> bool {
        names.iter().any(|(a, b)| a == u && b == d)
    }

    #[test]
    fn a_domain_account_answers_to_its_upn_and_dns_domain() {
        let n = logon_names(&user("LAB"), "lab.local");
        assert!(has(&n, "inventory", "LAB"));
        assert!(has(&n, "inventory", "lab.local"));
        assert!(has(&n, "inventory@lab.local", ""));
        // Written with the DNS name in the fleet: the NetBIOS form works too.
        let n = logon_names(&user("lab.local"), "lab.local");
        assert!(has(&n, "inventory", "lab"));
        assert!(has(&n, "inventory@lab.local", ""));
    }

    #[test]
    fn a_local_or_foreign_account_has_no_upn() {
        let n = logon_names(&user("WS0001"), "lab.local");
        assert_eq!(n, [("inventory".to_string(), "WS0001".to_string())]);
        let n = logon_names(&user("OTHER"), "lab.local");
        assert_eq!(n.len(), 1);
        // No domain: any domain already; the UPN is added.
        let n = logon_names(&user(""), "lab.local");
        assert!(has(&n, "inventory", "") && has(&n, "inventory@lab.local", ""));
    }
}
