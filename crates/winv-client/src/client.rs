//! The WMI client: activation on port 135, the OXID binding, `NTLMLogin`, and the
//! `IWbemServices` calls over one authenticated connection to the dynamic endpoint.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tracing::debug;
use uuid::Uuid;
use winv_auth::AuthLevel;
use winv_dcerpc::interfaces::{IOBJECTEXPORTER, IREMUNKNOWN2, IWBEMLEVEL1LOGIN, IWBEMSERVICES};
use winv_dcom::objref::SORF_NOPING;
use winv_dcom::remunknown::{
    decode_rem_release_response, encode_rem_release_request, RemInterfaceRef, OPNUM_REM_RELEASE,
};
use winv_dcom::{Hresult, MInterfacePointer, ObjRef, OrpcThis};
use winv_rpc::{Deadlines, RpcConnection};
use winv_wmi::{
    EnumNextResponse, ExecMethodRequest, ExecMethodResponse, ExecQueryResponse, GetObjectRequest,
    GetObjectResponse, GetSmartEnumResponse, NtlmLoginRequest, NtlmLoginResponse,
    SmartEnumNextResponse,
};
use winv_wmio::object_array::ClassMemo;
use winv_wmio::{ClassDef, Instance, Object, ObjectKind};

use crate::error::{Cause, ClientError, Stage};
use crate::flow::{rpc_config, security, Activation, FlowConfig, Target};
use crate::line::Line;
use crate::security::{BindTarget, Credentials, Mechanism, Ntlm};

/// Options of a [`WmiClient`].
#[derive(Clone, Debug)]
pub struct WmiOptions {
    /// Authentication level of both connections. Default packet privacy; packet
    /// integrity works too. Lower levels are refused by Windows hosts with the KB5004442
    /// hardening (Server 2022, updated 2019) but are allowed here for testing.
    pub auth_level: AuthLevel,
    /// The namespace [`WmiClient::query`] and friends use. Default `root\cimv2`.
    pub namespace: String,
    /// The endpoint mapper / activation port. Default 135.
    pub epm_port: u16,
    /// Deadlines of every connection: TCP connect (default 10 s), each read (30 s), each
    /// call (60 s). The call deadline also bounds how long an enumeration may go without
    /// receiving an object.
    pub deadlines: Deadlines,
    /// `lTimeout` passed to `IEnumWbemClassObject::Next` and the smart enumerator's `Next`
    /// (default 10 s). Always finite: never `WBEM_INFINITE`.
    pub enum_timeout: Duration,
    /// Objects asked for per `Next` (default 64).
    pub batch_size: u32,
    /// Use the smart enumerator (`IWbemFetchSmartEnum`, [MS-WMI] 3.1.4.6), falling back to
    /// `IEnumWbemClassObject::Next` when the server refuses it. Default true.
    pub smart_enum: bool,
    /// Most objects one query may return before it fails (default 250 000): a bound on
    /// memory against a server that never ends an enumeration. The largest inventory
    /// results are a few thousand rows (installed products, hotfixes, services).
    pub max_results: usize,
    /// Most octets the decoded objects of one query may hold in memory before it fails
    /// (default 32 MiB), as estimated from each object (`held_estimate`: the object, its
    /// values with their heap blocks, and its class, counted for each instance although
    /// the instances of a batch share one: the margin for what the values take beyond
    /// their bytes). The bound on memory that counts, whatever the rows' size; the largest
    /// inventory results on big servers are a few thousand rows (installed products,
    /// hotfixes, services).
    pub max_result_bytes: usize,
    /// Longest one enumeration may run, from its first `Next` (default 10 minutes:
    /// `Win32_Product`, the slowest class, takes minutes on a large server). Ends a server
    /// that keeps sending objects slowly and never finishes, which the call deadline
    /// (no object for that long) does not see.
    pub max_query_time: Duration,
    /// Deadline of each call that releases references on the way out (`RemRelease`
    /// after a query, in [`WmiClient::close`]); default 3 s. Releasing is a courtesy to
    /// the server: after a failure, a silent server must not hold the user for a whole
    /// call deadline.
    pub release_deadline: Duration,
    /// Connections to the OXID's endpoint for calls that do not depend on each other (the
    /// registry reads of installed software, class queries made at once), made at once in
    /// one association group
    /// ([`crate::lanes`]); default 4, 1 for one connection, at most
    /// [`crate::lanes::MAX_CONNECTIONS`].
    pub connections: usize,
    /// This machine's NetBIOS name for NTLM (default empty).
    pub workstation: String,
    /// Class parts already decoded, shared by every session made with clones of these
    /// options (a scan's hosts, a monitor's repeated queries): a class a host sends again,
    /// or another host of the same build sends, is not decoded again. Default: a new memo of
    /// [`CLASS_MEMO_ENTRIES`] classes and [`CLASS_MEMO_OCTETS`] octets.
    pub class_memo: Arc<ClassMemo>,
}

/// The classes a default [`WmiOptions::class_memo`] holds: the standard profile queries 12
/// classes in `root\cimv2`; room for several builds' versions of them.
pub const CLASS_MEMO_ENTRIES: usize = 64;
/// The octets of class parts a default [`WmiOptions::class_memo`] holds (the standard
/// classes' parts are 2 to 12 KiB; decoded, each is a few times that).
pub const CLASS_MEMO_OCTETS: usize = 1 << 20;

impl Default for WmiOptions {
    fn default() -> Self {
        WmiOptions {
            auth_level: AuthLevel::PktPrivacy,
            namespace: r"root\cimv2".to_string(),
            epm_port: 135,
            deadlines: Deadlines::default(),
            enum_timeout: Duration::from_secs(10),
            batch_size: 64,
            smart_enum: true,
            max_results: 250_000,
            max_result_bytes: 32 << 20,
            max_query_time: Duration::from_secs(600),
            release_deadline: Duration::from_secs(3),
            connections: 4,
            workstation: String::new(),
            class_memo: Arc::new(ClassMemo::new(CLASS_MEMO_ENTRIES, CLASS_MEMO_OCTETS)),
        }
    }
}

/// How many objects a query is expected to return, which decides how they are fetched
/// (both ways fetch every object the query returns).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Rows {
    /// Any number: through the smart enumerator when enabled and offered
    /// ([`WmiOptions::smart_enum`]), which sends a batch's class once: four calls
    /// (`ExecQuery`, `RemQueryInterface`, `GetSmartEnum`, its `Next`) and a `Next` per
    /// further batch.
    #[default]
    Many,
    /// One or a few (a computer's `Win32_OperatingSystem`): `IEnumWbemClassObject::Next`
    /// ([MS-WMI] 3.1.4.4.2) on the enumerator `ExecQuery` returns, two calls instead of
    /// four. Every object carries its whole class, which costs nothing more for one object
    /// than the smart enumerator's first batch; the class is decoded once per scan
    /// ([`WmiOptions::class_memo`]).
    Few,
}

/// A reference granted by the server ([MS-DCOM] 2.2.18.2 STDOBJREF), to release at close.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Held {
    pub(crate) ipid: Uuid,
    public_refs: u32,
    oid: u64,
    ping: bool,
}

/// The `IObjectExporter` ping state ([MS-DCOM] 3.2.6).
pub(crate) struct Pinger {
    conn: RpcConnection,
    set_id: u64,
    sequence: u16,
}

/// References of finished enumerators (three per query with the smart enumerator:
/// the enumerator, its `IWbemFetchSmartEnum` and the smart enumerator) given back in one
/// `RemRelease` ([MS-DCOM] 3.1.1.5.6.1.3 takes an array of `REMINTERFACEREF`, and the
/// exporter skips an IPID it no longer has, so one stale entry does not fail the rest):
/// one round trip for the standard profile's 12 classes instead of one per class.
/// Bounded, and flushed before each ping, so a long session (`perf`) keeps no spent
/// object alive.
pub const RELEASE_BATCH: usize = 64;

/// A WMI session with one host: the activation's OXID, one authenticated connection to
/// its dynamic endpoint, and an `IWbemServices` per namespace logged in to.
///
/// Call [`WmiClient::close`] when done: it releases every reference the server granted.
/// Dropping the client without it closes the connection (async code cannot run on drop)
/// and the server frees the objects only when their ping period runs out.
pub struct WmiClient {
    pub(crate) host: String,
    pub(crate) epm_addr: SocketAddr,
    pub(crate) mechanism: Arc<dyn Mechanism>,
    pub(crate) opts: WmiOptions,
    pub(crate) conn: RpcConnection,
    pub(crate) contexts: Vec<(Uuid, u16)>,
    pub(crate) oxid: u64,
    pub(crate) ipid_rem_unknown: Uuid,
    pub(crate) login_ipid: Uuid,
    pub(crate) binding_used: SocketAddr,
    pub(crate) namespaces: Vec<(String, Uuid)>,
    pub(crate) held: Vec<Held>,
    /// References of finished enumerators not released yet: given back together, in
    /// one `RemRelease` once [`RELEASE_BATCH`] are spent, before a ping and at close.
    pub(crate) spent: Vec<Held>,
    pub(crate) pinger: Option<Pinger>,
    /// `StdRegProv`'s class, fetched once; shared, not cloned, by every registry call.
    pub(crate) stdregprov: Option<std::sync::Arc<ClassDef>>,
    /// More connections to the endpoint, in the first one's association group, for calls
    /// made at once ([`crate::lanes`]).
    pub(crate) lanes: Vec<crate::lanes::Lane>,
    /// A lane did not open: no more are tried for this session.
    pub(crate) lanes_failed: bool,
    /// The server's principal for the session's mechanism, from the activation (a lane's
    /// Kerberos ticket names it).
    pub(crate) principal: Option<String>,
    /// The cap on new TCP connections the session's flow had (a lane waits for it too).
    pub(crate) rate: Option<Arc<crate::rate::ConnectRate>>,
}

impl fmt::Debug for WmiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WmiClient")
            .field("host", &self.host)
            .field("binding_used", &self.binding_used)
            .field("oxid", &format_args!("{:#018x}", self.oxid))
            .finish_non_exhaustive()
    }
}

/// A GUID no other call or enumerator of this process uses: a call's causality id
/// ([MS-DCOM] 2.2.13.1 `ORPCTHIS.cid`) or a smart enumerator's proxy GUID ([MS-WMI]
/// 3.1.4.7.1). Both must be unique, neither is a secret: one random base drawn once per
/// process, its last 48 bits XORed with a counter, costs no system call per call (a
/// `getrandom` each was 5 system calls a query). The version 4 and variant bits stay set.
pub(crate) fn fresh_uuid() -> Uuid {
    static BASE: OnceLock<[u8; 16]> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let base = BASE.get_or_init(|| {
        let mut b = [0u8; 16];
        // A failing system RNG leaves a constant base; the counter still tells calls apart.
        let _ = getrandom::fill(&mut b);
        b
    });
    let n = NEXT.fetch_add(1, Ordering::Relaxed).to_be_bytes();
    let mut b = *base;
    for (x, c) in b[10..].iter_mut().zip(&n[2..]) {
        *x ^= c;
    }
    uuid::Builder::from_random_bytes(b).into_uuid()
}

pub(crate) fn orpc_this() -> OrpcThis {
    OrpcThis::new(fresh_uuid())
}

/// The standard reference in an interface pointer.
pub(crate) fn std_ref(p: &MInterfacePointer, stage: Stage) -> Result<Held, ClientError> {
    let objref = ObjRef::from_interface_pointer(p).map_err(|e| ClientError::decode_at(stage, e))?;
    let std = objref.std().ok_or_else(|| {
        ClientError::new(
            stage,
            Cause::Protocol("interface reference is not a standard objref".into()),
        )
    })?;
    Ok(held_of(std))
}

pub(crate) fn held_of(std: &winv_dcom::StdObjRef) -> Held {
    Held {
        ipid: std.ipid,
        public_refs: std.public_refs,
        oid: std.oid,
        ping: std.flags & SORF_NOPING == 0,
    }
}

pub(crate) fn check_hresult(stage: Stage, hr: Hresult) -> Result<(), ClientError> {
    if hr.is_failure() {
        Err(ClientError::hresult_at(stage, hr.0))
    } else {
        Ok(())
    }
}

/// A part of an answer the method must return (an interface pointer or an object that a
/// success promises, [MS-WMI] 3.1.4.3); its absence is a protocol error at `stage`.
pub(crate) fn required<T>(v: Option<T>, stage: Stage, missing: &str) -> Result<T, ClientError> {
    v.ok_or_else(|| ClientError::new(stage, Cause::Protocol(missing.into())))
}

/// The out-parameters of one `IWbem*` method, with the HRESULT it returned.
pub(crate) trait WmiAnswer: Sized {
    fn decode(stub: &[u8]) -> winv_wmi::Result<Self>;
    fn hresult(&self) -> Hresult;
}

macro_rules! wmi_answer {
    ($($t:ty),* $(,)?) => {$(
        impl WmiAnswer for $t {
            fn decode(stub: &[u8]) -> winv_wmi::Result<Self> {
                <$t>::decode(stub)
            }
            fn hresult(&self) -> Hresult {
                self.hresult
            }
        }
    )*};
}

wmi_answer!(
    NtlmLoginResponse,
    ExecQueryResponse,
    GetSmartEnumResponse,
    SmartEnumNextResponse,
    EnumNextResponse,
    GetObjectResponse,
    ExecMethodResponse,
);

impl WmiClient {
    /// Activates `CLSID_WbemLevel1Login` on `host` (a name or an address) port
    /// `opts.epm_port` with NTLM as `creds`, connects to the OXID's endpoint (the address
    /// given first, with the binding's port, then the bindings' own addresses) and logs in
    /// to `opts.namespace`: the connection flow of [`crate::flow`], with the system's
    /// resolver and no observer.
    pub async fn connect(
        host: &str,
        creds: Credentials,
        opts: WmiOptions,
    ) -> Result<WmiClient, ClientError> {
        let mechanism: Arc<dyn Mechanism> = Arc::new(Ntlm::new(creds, &opts.workstation));
        let config = FlowConfig {
            opts,
            mechanism,
            resolver: None,
            rate: None,
        };
        // Boxed: the flow's future is large, and callers often run on 2 MiB task stacks.
        Box::pin(crate::flow::connect(Target::new(host), &config, None)).await
    }

    /// A session over `conn`, bound to the OXID endpoint of `act`.
    pub(crate) fn new(
        host: &str,
        act: &Activation,
        conn: RpcConnection,
        mechanism: Arc<dyn Mechanism>,
        opts: WmiOptions,
        rate: Option<Arc<crate::rate::ConnectRate>>,
    ) -> WmiClient {
        let binding_used = conn.peer();
        debug!(%binding_used, "connected to the oxid");
        let login_ctx = conn.context_id();
        WmiClient {
            host: host.to_string(),
            epm_addr: act.epm_addr,
            conn,
            contexts: vec![(IWBEMLEVEL1LOGIN.uuid, login_ctx)],
            oxid: act.oxid,
            ipid_rem_unknown: act.ipid_rem_unknown,
            login_ipid: act.login.ipid,
            binding_used,
            namespaces: Vec::new(),
            held: vec![act.login],
            spent: Vec::new(),
            pinger: None,
            stdregprov: None,
            lanes: Vec::new(),
            lanes_failed: false,
            principal: act.principal(mechanism.authn_service()).map(str::to_string),
            rate,
            mechanism,
            opts,
        }
    }

    /// The security mechanism's name (`ntlm`, `kerberos`).
    pub fn mechanism(&self) -> &'static str {
        self.mechanism.name()
    }

    /// The endpoint of the connection to the OXID (which binding was used).
    pub fn binding_used(&self) -> SocketAddr {
        self.binding_used
    }

    /// The endpoint mapper address the activation went to.
    pub fn epm_addr(&self) -> SocketAddr {
        self.epm_addr
    }

    /// The OXID of the WMI server process.
    pub fn oxid(&self) -> u64 {
        self.oxid
    }

    /// The options in use.
    pub fn options(&self) -> &WmiOptions {
        &self.opts
    }

    /// Sets the octet budget of the queries that follow
    /// ([`WmiOptions::max_result_bytes`]): the engine gives each query what is left of
    /// its computer's share.
    pub fn set_max_result_bytes(&mut self, octets: usize) {
        self.opts.max_result_bytes = octets;
    }

    /// The session's first connection as a [`Line`], for calls on it.
    pub(crate) fn line(&mut self) -> Line<'_> {
        Line {
            conn: &mut self.conn,
            contexts: &mut self.contexts,
            opts: &self.opts,
            rem_unknown: self.ipid_rem_unknown,
            shared_octets: None,
        }
    }

    /// `\\HOST\namespace` as Windows clients send it, unless `ns` already names a server.
    fn network_resource(&self, ns: &str) -> String {
        if ns.starts_with("\\\\") || ns.starts_with("//") {
            ns.to_string()
        } else {
            format!("\\\\{}\\{}", self.host, ns)
        }
    }

    /// The `IWbemServices` of `namespace`, logging in on first use.
    pub(crate) async fn services(&mut self, namespace: &str) -> Result<Uuid, ClientError> {
        let key = namespace.to_ascii_lowercase();
        if let Some((_, ipid)) = self.namespaces.iter().find(|(n, _)| *n == key) {
            return Ok(*ipid);
        }
        let st = Stage::Login;
        let resource = self.network_resource(namespace);
        let request = NtlmLoginRequest::new(orpc_this(), &resource).encode();
        let (iface, ipid) = (IWBEMLEVEL1LOGIN, self.login_ipid);
        let resp: NtlmLoginResponse = self
            .line()
            .wmi_call(st, iface, NtlmLoginRequest::OPNUM, ipid, request)
            .await?;
        let p = required(resp.namespace, st, "NTLMLogin returned no IWbemServices")?;
        let held = std_ref(&p, st)?;
        self.held.push(held);
        self.namespaces.push((key, held.ipid));
        Ok(held.ipid)
    }

    /// Logs in to another namespace (e.g. `root\default` for `StdRegProv`) on the same
    /// activation and connection. The `_in` methods do it on first use; calling this
    /// first surfaces a login failure early.
    pub async fn open_namespace(&mut self, namespace: &str) -> Result<(), ClientError> {
        self.services(namespace).await.map(|_| ())
    }

    /// Runs a WQL query in the default namespace; see [`WmiClient::query_in`].
    pub async fn query(&mut self, wql: &str) -> Result<Vec<Instance>, ClientError> {
        let ns = self.opts.namespace.clone();
        self.query_in(&ns, wql).await
    }

    /// Runs a WQL query in `namespace` and returns its instances (class objects, which
    /// only meta-queries return, are left out; see [`WmiClient::query_objects_in`]).
    pub async fn query_in(
        &mut self,
        namespace: &str,
        wql: &str,
    ) -> Result<Vec<Instance>, ClientError> {
        Ok(self
            .query_objects_in(namespace, wql)
            .await?
            .into_iter()
            .filter_map(|o| match o.kind {
                ObjectKind::Instance(i) => Some(i),
                ObjectKind::Class { .. } => None,
            })
            .collect())
    }

    /// Runs a WQL query in `namespace` (`ExecQuery` with
    /// `WBEM_FLAG_RETURN_IMMEDIATELY | WBEM_FLAG_FORWARD_ONLY`) and fetches every object,
    /// through the smart enumerator when enabled and offered, else `Next`. The enumerator's
    /// references are released with others later ([`RELEASE_BATCH`]; at the latest by
    /// [`WmiClient::close`]).
    pub async fn query_objects_in(
        &mut self,
        namespace: &str,
        wql: &str,
    ) -> Result<Vec<Object>, ClientError> {
        let mut out = Vec::new();
        let mut last = None;
        let mut keep = |o: Object| {
            let held = held_estimate_in(&o, &mut last);
            out.push(o);
            held
        };
        self.query_each_in(namespace, wql, Rows::Many, &mut keep)
            .await?;
        Ok(out)
    }

    /// Runs a WQL query in `namespace` as [`WmiClient::query_objects_in`] does, handing
    /// each object to `keep` as its batch arrives instead of collecting them: `keep`
    /// returns the octets it holds on to for it (0 when it drops it), which the octet
    /// budget (`WmiOptions::max_result_bytes`) counts. A caller that keeps a smaller form
    /// (JSON, a few fields) holds that, not every decoded object with its class. `rows`
    /// says how many objects to expect, which decides how they are fetched ([`Rows`]).
    pub async fn query_each_in(
        &mut self,
        namespace: &str,
        wql: &str,
        rows: Rows,
        keep: &mut (dyn FnMut(Object) -> usize + Send),
    ) -> Result<(), ClientError> {
        let services = self.services(namespace).await?;
        let mut granted = Vec::new();
        let result = self
            .line()
            .query(services, wql, rows, &mut granted, keep)
            .await;
        self.spend(granted, &result).await;
        result
    }

    /// Keeps the references of a finished query to release them with others, when its
    /// connection is still in step (else the server frees them when their pings stop).
    pub(crate) async fn spend<T>(&mut self, granted: Vec<Held>, result: &Result<T, ClientError>) {
        if result.as_ref().map_or_else(answered, |_| true) {
            self.add_spent(granted).await;
        }
    }

    /// Adds references of finished enumerators to those released together, releasing
    /// them once there are [`RELEASE_BATCH`].
    pub(crate) async fn add_spent(&mut self, granted: Vec<Held>) {
        self.spent.extend(granted);
        if self.spent.len() >= RELEASE_BATCH {
            self.release_spent().await;
        }
    }

    /// `IWbemServices::GetObject` of `path` (a class name or an instance path) in the
    /// default namespace.
    pub async fn get_object(&mut self, path: &str) -> Result<Object, ClientError> {
        let ns = self.opts.namespace.clone();
        self.get_object_in(&ns, path).await
    }

    /// `IWbemServices::GetObject` of `path` in `namespace`.
    pub async fn get_object_in(
        &mut self,
        namespace: &str,
        path: &str,
    ) -> Result<Object, ClientError> {
        let st = Stage::GetObject;
        let services = self.services(namespace).await?;
        let request = GetObjectRequest::new(orpc_this(), path).encode();
        let resp: GetObjectResponse = self
            .line()
            .wmi_call(
                st,
                IWBEMSERVICES,
                GetObjectRequest::OPNUM,
                services,
                request,
            )
            .await?;
        let p = required(resp.object.flatten(), st, "GetObject returned no object")?;
        decode_class_object(&p, st, Some(&self.opts.class_memo))
    }

    /// `IWbemServices::ExecMethod` in the default namespace.
    pub async fn exec_method(
        &mut self,
        path: &str,
        method: &str,
        in_params: Option<Instance>,
    ) -> Result<Option<Instance>, ClientError> {
        let ns = self.opts.namespace.clone();
        self.exec_method_in(&ns, path, method, in_params).await
    }

    /// `IWbemServices::ExecMethod` of `method` on `path` (a class for static methods, or
    /// an instance path) in `namespace`, with `in_params` an instance of the method's input
    /// `__PARAMETERS` class; returns the output parameters.
    pub async fn exec_method_in(
        &mut self,
        namespace: &str,
        path: &str,
        method: &str,
        in_params: Option<Instance>,
    ) -> Result<Option<Instance>, ClientError> {
        let st = Stage::ExecMethod;
        let services = self.services(namespace).await?;
        let in_ptr = match in_params {
            Some(i) => {
                let unit = winv_wmio::encode_encoding_unit(&Object::from_instance(i))
                    .map_err(|e| ClientError::decode_at(st, e))?;
                Some(
                    winv_wmi::marshal::class_object_to_pointer(&unit)
                        .map_err(|e| ClientError::decode_at(st, e))?,
                )
            }
            None => None,
        };
        let request = ExecMethodRequest::new(orpc_this(), path, method, in_ptr).encode();
        let resp: ExecMethodResponse = self
            .line()
            .wmi_call(
                st,
                IWBEMSERVICES,
                ExecMethodRequest::OPNUM,
                services,
                request,
            )
            .await?;
        method_out(resp, st, &self.opts.class_memo)
    }

    /// [`Self::exec_method_in`] of `path` for calls `0..n`, made at once over the session's
    /// connections ([`crate::lanes`]): call `i`'s method and in-parameters come from
    /// `input(i)` when a connection takes it, and its result (what [`Self::exec_method_in`]
    /// would have returned) goes to `keep(i, result)` as soon as it is decoded; returns
    /// what `keep` made of each, in order. A batch of registry reads holds neither every
    /// request nor every decoded answer at once: only those on the wire, and what `keep`
    /// takes of the rest.
    pub async fn exec_methods_in<'m, T, I, K>(
        &mut self,
        namespace: &str,
        path: &str,
        n: usize,
        input: I,
        keep: K,
    ) -> Vec<T>
    where
        T: Send,
        I: Fn(usize) -> Result<(&'m str, Instance), ClientError> + Sync,
        K: Fn(usize, Result<Option<Instance>, ClientError>) -> T + Sync,
    {
        let st = Stage::ExecMethod;
        let services = match self.services(namespace).await {
            Ok(s) => s,
            Err(e) => {
                let first = crate::lanes::first_error(e, n, st).into_iter();
                return first.enumerate().map(|(i, r)| keep(i, r)).collect();
            }
        };
        let stub = |i: usize| {
            let (method, inp) = input(i)?;
            let unit = winv_wmio::encode_encoding_unit(&Object::from_instance(inp))
                .map_err(|e| ClientError::decode_at(st, e))?;
            let ptr = winv_wmi::marshal::class_object_to_pointer(&unit)
                .map_err(|e| ClientError::decode_at(st, e))?;
            ExecMethodRequest::new(orpc_this(), path, method, Some(ptr))
                .encode()
                .map_err(|e| ClientError::decode_at(st, e))
        };
        // The session's calls borrow it mutably; the closure holds the memo's own handle.
        let memo = self.opts.class_memo.clone();
        let memo = &*memo;
        let answer = |i: usize, resp: Result<Vec<u8>, ClientError>| {
            let out = resp.and_then(|resp| {
                let answer =
                    ExecMethodResponse::decode(&resp).map_err(|e| ClientError::decode_at(st, e))?;
                check_hresult(st, answer.hresult)?;
                method_out(answer, st, memo)
            });
            keep(i, out)
        };
        self.services_calls(st, ExecMethodRequest::OPNUM, services, n, &stub, &answer)
            .await
    }

    /// Gives back the finished enumerators' references (quietly: a failure only means the
    /// server frees them when their pings stop).
    pub(crate) async fn release_spent(&mut self) {
        let spent = std::mem::take(&mut self.spent);
        if let Err(e) = self.release(&spent).await {
            debug!(error = %e, "releasing finished enumerators failed");
        }
    }

    /// `IRemUnknown::RemRelease` of `refs` (their public references).
    async fn release(&mut self, refs: &[Held]) -> Result<(), ClientError> {
        let list: Vec<RemInterfaceRef> = refs
            .iter()
            .filter(|h| h.public_refs > 0)
            .map(|h| RemInterfaceRef {
                ipid: h.ipid,
                public_refs: h.public_refs,
                private_refs: 0,
            })
            .collect();
        if list.is_empty() {
            return Ok(());
        }
        let st = Stage::Release;
        let stub = encode_rem_release_request(&orpc_this(), &list)
            .map_err(|e| ClientError::decode_at(st, e))?;
        let rem = self.ipid_rem_unknown;
        // A short deadline of its own: a server that failed the call before and went
        // silent must not hold the user for a whole call deadline.
        let short = self.opts.release_deadline.min(self.opts.deadlines.call);
        let session = self.conn.set_deadlines(Deadlines {
            read: short,
            call: short,
            ..self.opts.deadlines
        });
        let resp = self
            .line()
            .orpc(st, IREMUNKNOWN2, OPNUM_REM_RELEASE, rem, &stub)
            .await;
        self.conn.set_deadlines(session);
        let resp = resp?;
        let (_, hr) =
            decode_rem_release_response(&resp).map_err(|e| ClientError::decode_at(st, e))?;
        check_hresult(st, hr)
    }

    /// Keeps the server's objects alive ([MS-DCOM] 3.2.6): the server frees objects whose
    /// OIDs have not been pinged for three ping periods (3 × 120 s), so a session idle or
    /// busy elsewhere for more than about 6 minutes must call this every 2 minutes. The
    /// first call adds every held OID to a ping set with `ComplexPing` over a new
    /// authenticated connection to port 135; later calls send `SimplePing` of the set.
    pub async fn ping(&mut self) -> Result<(), ClientError> {
        use winv_dcom::oxid::{
            decode_complex_ping_response, decode_status_response, encode_complex_ping_request,
            encode_simple_ping_request, ComplexPingRequest, OPNUM_COMPLEX_PING, OPNUM_SIMPLE_PING,
        };
        let st = Stage::Ping;
        // Objects kept alive are only those still in use.
        if !self.spent.is_empty() {
            self.release_spent().await;
        }
        if let Some(p) = self.pinger.as_mut() {
            let resp = p
                .conn
                .call(OPNUM_SIMPLE_PING, &encode_simple_ping_request(p.set_id))
                .await
                .map_err(|e| ClientError::rpc_at(st, e))?;
            let status =
                decode_status_response(&resp).map_err(|e| ClientError::decode_at(st, e))?;
            return if status == 0 {
                Ok(())
            } else {
                Err(ClientError::new(st, Cause::Hresult(status)))
            };
        }
        let target = BindTarget {
            host: &self.host,
            addr: self.epm_addr,
            stage: st,
            principal: None,
            level: self.opts.auth_level,
        };
        let sec = security(self.mechanism.as_ref(), &self.opts, target).await?;
        let mut conn = RpcConnection::connect(
            self.epm_addr,
            IOBJECTEXPORTER,
            rpc_config(&self.opts),
            sec,
            self.opts.deadlines,
        )
        .await
        .map_err(|e| ClientError::rpc_at(st, e))?;
        let mut oids: Vec<u64> = self.held.iter().filter(|h| h.ping).map(|h| h.oid).collect();
        oids.sort_unstable();
        oids.dedup();
        let req = ComplexPingRequest {
            set_id: 0,
            sequence: 1,
            add: Some(oids),
            del: None,
        };
        let stub = encode_complex_ping_request(&req).map_err(|e| ClientError::decode_at(st, e))?;
        let resp = conn
            .call(OPNUM_COMPLEX_PING, &stub)
            .await
            .map_err(|e| ClientError::rpc_at(st, e))?;
        let (set_id, _backoff, status) =
            decode_complex_ping_response(&resp).map_err(|e| ClientError::decode_at(st, e))?;
        if status != 0 {
            return Err(ClientError::new(st, Cause::Hresult(status)));
        }
        self.pinger = Some(Pinger {
            conn,
            set_id,
            sequence: 1,
        });
        Ok(())
    }

    /// Releases every reference the server granted (`RemRelease` with each objref's public
    /// reference count) and closes the connections. Call it when done; see the type's docs.
    pub async fn close(mut self) -> Result<(), ClientError> {
        let mut held = std::mem::take(&mut self.spent);
        held.append(&mut self.held);
        let r = self.release(&held).await;
        if let Err(e) = &r {
            // The caller has the error; the user has the failure that came before it.
            debug!(error = %e, "releasing references failed");
        }
        if let Some(p) = self.pinger.take() {
            debug!(set_id = p.set_id, sequence = p.sequence, "ping set dropped");
        }
        r
    }
}

/// The out-parameters instance of an `ExecMethod` answer ([MS-WMI] 3.1.4.3.20), its class
/// (one per method: a batch of registry reads sends the same few) through `memo`.
fn method_out(
    resp: ExecMethodResponse,
    st: Stage,
    memo: &ClassMemo,
) -> Result<Option<Instance>, ClientError> {
    match resp.out_params.flatten() {
        None => Ok(None),
        Some(p) => match decode_class_object(&p, st, Some(memo))?.kind {
            ObjectKind::Instance(i) => Ok(Some(i)),
            ObjectKind::Class { .. } => Err(ClientError::new(
                st,
                Cause::Protocol("out-parameters are a class, not an instance".into()),
            )),
        },
    }
}

/// What the allocator spends on one heap block beyond its bytes, counted for each string
/// and vector of a decoded object (glibc's header and rounding: 8 to 16 octets; mimalloc's
/// size classes round up as much).
const BLOCK_OVERHEAD: usize = 16;

/// Octets a decoded object holds in memory, estimated: the object itself (and its room in
/// the vector of results), its values (each string and array a heap block,
/// [`BLOCK_OVERHEAD`] each), its decoration, and its class definitions, counted for every
/// instance although the instances of one class part share one (`Arc<ClassDef>`): their
/// values take more than this counts of them, and the class is the margin. Measured: with
/// a shared class counted once, the default 32 MiB let an endless enumeration of
/// `Win32_Service` grow `winventory query` to 78 MiB resident (tests/hostile.rs allows 64).
fn held_estimate(o: &Object) -> usize {
    held_estimate_in(o, &mut None)
}

/// [`held_estimate`] with the last class counted and its count: the instances of a batch
/// share their class, which is walked once for them instead of once each (the same count).
fn held_estimate_in(o: &Object, last: &mut Option<(Arc<ClassDef>, usize)>) -> usize {
    use std::mem::size_of;
    fn value(v: &winv_wmio::Value) -> usize {
        size_of::<winv_wmio::Value>()
            + match v {
                winv_wmio::Value::String(s)
                | winv_wmio::Value::DateTime(s)
                | winv_wmio::Value::Reference(s) => s.len() + BLOCK_OVERHEAD,
                winv_wmio::Value::Array(_, items) => {
                    BLOCK_OVERHEAD + items.iter().map(value).sum::<usize>()
                }
                winv_wmio::Value::Object(o) => held_estimate(o),
                _ => 0,
            }
    }
    fn slot(s: &winv_wmio::Slot) -> usize {
        match s {
            winv_wmio::Slot::Set(v) => value(v),
            _ => size_of::<winv_wmio::Slot>(),
        }
    }
    fn quals(q: &[winv_wmio::Qualifier]) -> usize {
        q.iter()
            .map(|q| size_of::<winv_wmio::Qualifier>() + q.name.len() + value(&q.value))
            .sum()
    }
    fn class(c: &ClassDef) -> usize {
        size_of::<ClassDef>()
            + c.name.len()
            + c.derivation.iter().map(|d| d.len() + 24).sum::<usize>()
            + quals(&c.qualifiers)
            + c.properties
                .iter()
                .map(|p| {
                    size_of::<winv_wmio::Property>()
                        + p.name.len()
                        + quals(&p.qualifiers)
                        + slot(&p.default)
                })
                .sum::<usize>()
            + c.methods.len() * size_of::<winv_wmio::Method>()
    }
    // Three times the object: the vector of results it lands in grows by doubling, and
    // while it moves the old and the new vectors are both held.
    let object = 3 * size_of::<Object>()
        + o.decoration.as_ref().map_or(0, |d| {
            d.server.len() + d.namespace.len() + 2 * BLOCK_OVERHEAD
        });
    object
        + match &o.kind {
            ObjectKind::Instance(i) => {
                let class = match last {
                    Some((c, n)) if Arc::ptr_eq(c, &i.class) => *n,
                    _ => {
                        let n = class(&i.class);
                        *last = Some((i.class.clone(), n));
                        n
                    }
                };
                class
                    + BLOCK_OVERHEAD
                    + i.values.iter().map(slot).sum::<usize>()
                    + quals(&i.qualifiers)
                    + i.property_qualifiers
                        .iter()
                        .map(|(n, q)| n.len() + quals(q))
                        .sum::<usize>()
            }
            ObjectKind::Class { parent, current } => class(parent) + class(current),
        }
}

/// Whether the server answered (an HRESULT, a fault): the connection stays in step.
pub(crate) fn answered(e: &ClientError) -> bool {
    matches!(
        e.cause(),
        Cause::Hresult(_) | Cause::Fault { .. } | Cause::Win32 { .. }
    )
}

/// The marshaled `IWbemClassObject` of `p` ([MS-WMI] 2.2.4.1), its class part looked up
/// in and kept by `memo` when given.
pub(crate) fn decode_class_object(
    p: &MInterfacePointer,
    stage: Stage,
    memo: Option<&ClassMemo>,
) -> Result<Object, ClientError> {
    let unit = winv_wmi::marshal::class_object_from_pointer(p)
        .map_err(|e| ClientError::decode_at(stage, e))?;
    winv_wmio::decode_encoding_unit_with(&unit, memo).map_err(|e| ClientError::decode_at(stage, e))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fresh_guids_are_distinct_version_4_guids() {
        let ids: Vec<Uuid> = (0..10_000).map(|_| fresh_uuid()).collect();
        let distinct: std::collections::HashSet<&Uuid> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        for id in &ids {
            assert_eq!(id.get_version_num(), 4);
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
        }
        // One process-wide base: two ids differ only in the counter's last 48 bits.
        assert_eq!(ids[0].as_bytes()[..10], ids[9_999].as_bytes()[..10]);
    }

    #[test]
    fn defaults_are_finite_and_private() {
        let o = WmiOptions::default();
        assert_eq!(o.auth_level, AuthLevel::PktPrivacy);
        assert_eq!(o.namespace, r"root\cimv2");
        assert_eq!(o.epm_port, 135);
        assert!(o.enum_timeout > Duration::ZERO && o.enum_timeout < Duration::from_secs(60));
        assert!(o.batch_size > 0);
    }

    #[tokio::test]
    async fn connect_refused_is_connect135() {
        // Port 1 on loopback: nothing listens.
        let opts = WmiOptions {
            epm_port: 1,
            ..WmiOptions::default()
        };
        let e = WmiClient::connect("127.0.0.1", Credentials::with_password("u", "d", "p"), opts)
            .await
            .unwrap_err();
        assert_eq!(e.stage(), Stage::Connect135);
        assert_eq!(
            e.connect_failure(),
            Some(winv_rpc::transport::ConnectFailure::Refused)
        );
    }

    #[tokio::test]
    async fn unresolvable_name_is_connect135() {
        let e = WmiClient::connect(
            "no-such-host.invalid",
            Credentials::with_password("u", "d", "p"),
            WmiOptions::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(e.stage(), Stage::Connect135);
        assert!(matches!(e.cause(), Cause::Resolve { .. }), "{e}");
    }

    /// The octet budget counts each instance with its class (shared or not: the margin
    /// for what its values take beyond their bytes) and each string with its block.
    #[test]
    fn an_instance_is_counted_with_its_class_and_its_strings() {
        use winv_wmio::{CimBase, CimType, Qualifier, Value};
        let class = ClassDef::new("Win32_Service", &["CIM_Service"])
            .with_qualifier(Qualifier::new(
                "Description",
                Value::String("x".repeat(2000)),
            ))
            .with_property("Name", CimType::scalar(CimBase::String), Vec::new());
        let first = Instance::new(class);
        let mut second = first.clone();
        second.set("Name", Value::String("s".repeat(500))).unwrap();
        let object = |i: &Instance| Object {
            decoration: None,
            kind: ObjectKind::Instance(i.clone()),
        };
        let (a, b) = (
            held_estimate(&object(&first)),
            held_estimate(&object(&second)),
        );
        assert!(a > 2000, "the class's qualifier is held: {a}");
        assert!(b >= a + 500 + BLOCK_OVERHEAD, "the name: {a} -> {b}");
        // Counted along a batch, the class walked once gives the same counts, and another
        // class (another Arc, even an equal one) is walked again.
        let other = Instance::new(ClassDef::new("Win32_Process", &[]));
        let copy = Instance {
            class: Arc::new((*first.class).clone()),
            ..second.clone()
        };
        let mut last = None;
        for (i, want) in [
            (&first, a),
            (&second, b),
            (&other, held_estimate(&object(&other))),
            (&copy, b),
            (&first, a),
        ] {
            assert_eq!(held_estimate_in(&object(i), &mut last), want);
        }
    }
}
