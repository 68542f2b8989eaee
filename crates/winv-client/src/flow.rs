//! The WMI connection flow, written once: the only implementation of
//!
//! ```text
//! resolve ─► tcp-135 ─► bind-135 ─► activation ─► (binding choice) ─► tcp-dynamic ─► bind-dynamic ─► login
//! ```
//!
//! In the shape of IronRDP's `ironrdp-connector`: [`Connector`] is a pure state machine
//! (no sockets, no clock, no tokio) that says what to do next ([`Request`]) and takes what
//! happened ([`Response`], with the instant it happened: time is an input). It owns every
//! rule of the flow: the order of the addresses and of the OXID binding candidates
//! ([`crate::binding`]), which failure is reported when several endpoints fail, and the
//! stage a refused logon is reported at (NTLM's last leg gets no reply, so a refusal shows
//! on the first call after a bind: the activation for port 135, the first login for the
//! dynamic endpoint). [`connect`] is the small async loop that performs each request
//! over TCP and DCE/RPC and hands each finished step to an optional [`FlowObserver`]
//! (`winventory diagnose` renders them; the engine and `WmiClient::connect` pass none).
//!
//! The security mechanism is a parameter ([`crate::security::Mechanism`]): every
//! authenticated bind asks it for a fresh context. Name resolution is a parameter too
//! ([`NameResolver`]): the system's resolver by default, hickory with `--dns-server` in
//! the engine and `diagnose`.

use std::collections::VecDeque;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tracing::debug;
use uuid::Uuid;
use winv_auth::AuthLevel;
use winv_dcerpc::interfaces::{ISYSTEMACTIVATOR, IWBEMLEVEL1LOGIN};
use winv_dcerpc::{ClientConfig, SyntaxId};
use winv_dcom::activation::OPNUM_REMOTE_CREATE_INSTANCE;
use winv_dcom::clsid::CLSID_WBEM_LEVEL1_LOGIN;
use winv_dcom::objref::SecurityBinding;
use winv_dcom::{
    decode_remote_create_instance_response, encode_remote_create_instance_request,
    ActivationRequest, StringBinding,
};
use winv_rpc::transport::{connect_tcp, ConnectError, ConnectFailure};
use winv_rpc::{Deadlines, RpcConnection, RpcError};

use crate::binding::{candidates, tcp_bindings, Candidate, TcpBinding};
use crate::client::{check_hresult, held_of, orpc_this, Held, WmiOptions};
use crate::error::{Cause, ClientError, Stage};
use crate::security::{BindTarget, Mechanism};
use crate::WmiClient;

/// A step of the connection flow, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowStep {
    /// The host name to addresses (skipped for an address, or addresses given).
    Resolve,
    /// The TCP handshake with the endpoint mapper port (135).
    Tcp135,
    /// The authenticated bind of `ISystemActivator` on port 135.
    Bind135,
    /// `RemoteCreateInstance` of `CLSID_WbemLevel1Login`: the OXID and its bindings.
    Activation,
    /// The TCP handshake with the OXID's dynamic endpoint (the first candidate that accepts).
    TcpDynamic,
    /// The authenticated bind of `IWbemLevel1Login` there.
    BindDynamic,
    /// `NTLMLogin` to the options' namespace.
    Login,
}

impl FlowStep {
    /// Every step, in order.
    pub const ALL: [FlowStep; 7] = [
        FlowStep::Resolve,
        FlowStep::Tcp135,
        FlowStep::Bind135,
        FlowStep::Activation,
        FlowStep::TcpDynamic,
        FlowStep::BindDynamic,
        FlowStep::Login,
    ];

    /// Stable identifier.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowStep::Resolve => "resolve",
            FlowStep::Tcp135 => "tcp-135",
            FlowStep::Bind135 => "bind-135",
            FlowStep::Activation => "activation",
            FlowStep::TcpDynamic => "tcp-dynamic",
            FlowStep::BindDynamic => "bind-dynamic",
            FlowStep::Login => "login",
        }
    }

    /// The stage a failure of this step is reported at (before the logon rule).
    pub fn stage(self) -> Stage {
        match self {
            FlowStep::Resolve | FlowStep::Tcp135 => Stage::Connect135,
            FlowStep::Bind135 => Stage::Bind135,
            FlowStep::Activation => Stage::Activation,
            FlowStep::TcpDynamic => Stage::ConnectDynamic,
            FlowStep::BindDynamic => Stage::BindDynamic,
            FlowStep::Login => Stage::Login,
        }
    }
}

impl std::fmt::Display for FlowStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who to connect to: the host as the user gave it (it goes into `NTLMLogin`'s
/// `\\HOST\namespace` and names the Kerberos service), and its addresses when they are
/// already known (the engine resolves once per attempt, then tries each credential).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// A name, an address, or a bracketed IPv6 literal.
    pub host: String,
    /// Addresses to use instead of resolving `host`.
    pub addrs: Option<Vec<IpAddr>>,
}

impl Target {
    /// `host`, resolved by the flow when it is a name.
    pub fn new(host: &str) -> Target {
        Target {
            host: host.to_string(),
            addrs: None,
        }
    }

    /// `host` at `addrs`, already resolved.
    pub fn resolved(host: &str, addrs: Vec<IpAddr>) -> Target {
        Target {
            host: host.to_string(),
            addrs: Some(addrs),
        }
    }

    /// The host as an address, when it is one (brackets allowed around IPv6).
    pub fn literal(&self) -> Option<IpAddr> {
        literal(&self.host)
    }
}

/// `host` as an address, when it is one (brackets allowed around IPv6).
pub fn literal(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

/// Why a name did not resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResolveFailure {
    /// The name does not exist (NXDOMAIN): final.
    NxDomain,
    /// The name exists without an address record: final.
    NoRecords,
    /// No usable answer (server failure, refused, timeout): transient.
    TryAgain(String),
}

/// A failed resolution.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct ResolveError {
    /// Final or transient.
    pub failure: ResolveFailure,
    /// What the resolver said.
    pub detail: String,
}

impl ResolveError {
    /// A transient failure with `detail`.
    pub fn try_again(detail: impl Into<String>) -> ResolveError {
        let detail = detail.into();
        ResolveError {
            failure: ResolveFailure::TryAgain(detail.clone()),
            detail,
        }
    }
}

/// The future of one resolution.
pub type ResolveFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<IpAddr>, ResolveError>> + Send + 'a>>;

/// Resolves host names for the flow (the target, and the names in OXID bindings).
pub trait NameResolver: Send + Sync {
    /// The addresses of `name`, within the resolver's own deadline.
    fn resolve<'a>(&'a self, name: &'a str) -> ResolveFuture<'a>;
}

/// The system's resolver (`getaddrinfo` through tokio), bounded by a deadline.
#[derive(Clone, Copy, Debug)]
pub struct SystemResolver {
    /// How long one lookup may take.
    pub deadline: Duration,
}

impl NameResolver for SystemResolver {
    fn resolve<'a>(&'a self, name: &'a str) -> ResolveFuture<'a> {
        Box::pin(async move {
            let found = tokio::time::timeout(self.deadline, tokio::net::lookup_host((name, 0)))
                .await
                .map_err(|_| ResolveError::try_again("timed out"))?
                .map_err(|e| {
                    let text = e.to_string();
                    // getaddrinfo's EAI_NONAME: the name does not exist.
                    let failure = if text.contains("not known") || text.contains("No address") {
                        ResolveFailure::NxDomain
                    } else {
                        ResolveFailure::TryAgain(text.clone())
                    };
                    ResolveError {
                        failure,
                        detail: text,
                    }
                })?;
            let mut v: Vec<IpAddr> = Vec::new();
            for a in found {
                if !v.contains(&a.ip()) {
                    v.push(a.ip());
                }
            }
            if v.is_empty() {
                return Err(ResolveError {
                    failure: ResolveFailure::NoRecords,
                    detail: "no addresses".into(),
                });
            }
            Ok(v)
        })
    }
}

/// Where a dynamic endpoint came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The address port 135 was reached at.
    Dialled,
    /// A binding's own address literal.
    Binding,
    /// A binding's host name, resolved here.
    BindingName(String),
}

/// An endpoint a step tried before it succeeded or gave up, and why it did not do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tried {
    /// The TCP connect failed.
    Connect {
        /// The endpoint.
        addr: SocketAddr,
        /// Where it came from.
        origin: Origin,
        /// Refused, timed out, unreachable.
        failure: ConnectFailure,
    },
    /// A binding's name did not resolve.
    Resolve {
        /// The name.
        name: String,
        /// The binding's port.
        port: u16,
        /// What the resolver said.
        detail: String,
    },
}

/// What `RemoteCreateInstance` of `CLSID_WbemLevel1Login` returned ([MS-DCOM] 3.1.2.5.2.3.3).
#[derive(Clone, Debug)]
pub struct Activation {
    /// The endpoint mapper address the activation went to.
    pub epm_addr: SocketAddr,
    /// The OXID of the WMI server process.
    pub oxid: u64,
    /// `authnHint`: the authentication level the server suggests.
    pub authn_hint: u32,
    /// Every string binding of the OXID, as the server listed them.
    pub string_bindings: Vec<StringBinding>,
    /// Its security bindings (authentication services and principal names).
    pub security_bindings: Vec<SecurityBinding>,
    /// Its `ncacn_ip_tcp` bindings, parsed (`NAME[49670]`, `10.0.0.5[49670]`).
    pub tcp_bindings: Vec<TcpBinding>,
    pub(crate) ipid_rem_unknown: Uuid,
    pub(crate) login: Held,
}

impl Activation {
    /// The endpoints to try for the OXID, in the flow's order: the address port 135 was
    /// reached at with each binding's port, then each binding's own address or name.
    pub fn candidates(&self) -> Vec<Candidate> {
        candidates(self.epm_addr.ip(), &self.tcp_bindings)
    }

    /// The principal name the server lists for authentication service `svc`.
    pub fn principal(&self, svc: u16) -> Option<&str> {
        self.security_bindings
            .iter()
            .find(|b| b.authn_svc == svc && !b.principal_name.is_empty())
            .map(|b| b.principal_name.as_str())
    }
}

/// What a step saw when it succeeded.
#[derive(Clone, Debug)]
pub enum Seen {
    /// The name's addresses; `skipped` when there was nothing to resolve (an address
    /// literal, or addresses given).
    Resolved {
        /// The addresses, in the resolver's order.
        addrs: Vec<IpAddr>,
        /// Nothing was looked up.
        skipped: bool,
    },
    /// A TCP connection was accepted.
    Accepted {
        /// The endpoint.
        addr: SocketAddr,
        /// Where it came from (port 135: always [`Origin::Dialled`]).
        origin: Origin,
    },
    /// An authenticated bind was answered with a bind_ack (the logon itself is confirmed
    /// by the next call; see the module documentation).
    Bound {
        /// The endpoint.
        addr: SocketAddr,
        /// The security mechanism's name.
        mechanism: &'static str,
        /// The authentication level.
        level: AuthLevel,
    },
    /// The activation's OXID and bindings.
    Activated(Box<Activation>),
    /// `NTLMLogin` returned an `IWbemServices`.
    LoggedIn {
        /// The namespace.
        namespace: String,
    },
}

/// One finished step, as the observer sees it.
#[derive(Debug)]
pub struct StepReport<'a> {
    /// The step.
    pub step: FlowStep,
    /// How long it took.
    pub elapsed: Duration,
    /// The endpoints that failed within the step before it succeeded or gave up.
    pub tried: &'a [Tried],
    /// What it saw, or how it failed.
    pub outcome: Result<&'a Seen, &'a ClientError>,
}

/// Watches the flow step by step (for `diagnose`).
pub trait FlowObserver: Send {
    /// A step finished.
    fn on_step(&mut self, report: &StepReport<'_>);
}

/// What the driver must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Resolve the target's name.
    Resolve {
        /// The name.
        name: String,
    },
    /// Resolve a binding's host name (within [`FlowStep::TcpDynamic`]).
    ResolveBinding {
        /// The name.
        name: String,
    },
    /// Open a TCP connection to `addr` (for [`FlowStep::Tcp135`] or
    /// [`FlowStep::TcpDynamic`]) and keep it for the bind that follows.
    Connect {
        /// The endpoint.
        addr: SocketAddr,
    },
    /// Bind `interface` with the mechanism on the connection just opened.
    Bind {
        /// The endpoint (for the mechanism).
        addr: SocketAddr,
        /// The interface.
        interface: SyntaxId,
        /// The stage of the bind.
        stage: Stage,
    },
    /// `RemoteCreateInstance` on the bound activator connection, then close it.
    Activate,
    /// `NTLMLogin` to `namespace` on the dynamic connection.
    Login {
        /// The namespace.
        namespace: String,
    },
    /// The flow is complete.
    Done,
}

/// What happened, for the request the connector made last.
#[derive(Debug)]
pub enum Response {
    /// For [`Request::Resolve`] and [`Request::ResolveBinding`].
    Resolved(Result<Vec<IpAddr>, ResolveError>),
    /// For [`Request::Connect`].
    Connected(Result<(), ConnectError>),
    /// For [`Request::Bind`] (an error at the bind's stage).
    Bound(Result<(), ClientError>),
    /// For [`Request::Activate`].
    Activated(Result<Box<Activation>, ClientError>),
    /// For [`Request::Login`].
    LoggedIn(Result<(), ClientError>),
}

/// What a response did to the flow.
#[derive(Debug)]
pub enum Progress {
    /// The step goes on (another endpoint to try).
    Continue,
    /// A step finished: `seen` is what it saw.
    StepDone {
        /// The step.
        step: FlowStep,
        /// How long it took.
        elapsed: Duration,
        /// Endpoints that failed within it first.
        tried: Vec<Tried>,
        /// What it saw.
        seen: Seen,
    },
    /// The flow failed at `step` with `error`.
    Failed {
        /// The step.
        step: FlowStep,
        /// How long it took.
        elapsed: Duration,
        /// Endpoints that failed within it.
        tried: Vec<Tried>,
        /// The failure, at the stage the flow reports it.
        error: ClientError,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// On a step of the flow.
    At(FlowStep),
    Done,
    Failed,
}

/// The connection flow as a pure state machine: see the module documentation.
#[derive(Debug)]
pub struct Connector {
    target: Target,
    port: u16,
    namespace: String,
    state: State,
    step_started: Instant,
    tried: Vec<Tried>,
    /// Port 135's addresses and the next to try.
    epm: Vec<SocketAddr>,
    next_epm: usize,
    last_epm_failure: Option<ConnectError>,
    epm_addr: Option<SocketAddr>,
    /// The OXID's candidates and the next to try; a resolved name's addresses queue up.
    cands: Vec<Candidate>,
    next_cand: usize,
    queued: VecDeque<(SocketAddr, Origin)>,
    pending_name: Option<(String, u16)>,
    connect_failure: Option<ClientError>,
    resolve_failure: Option<ClientError>,
    dynamic: Option<(SocketAddr, Origin)>,
}

impl Connector {
    /// The flow to `target` on endpoint mapper port `port`, logging in to `namespace`,
    /// starting at `now`.
    pub fn new(target: Target, port: u16, namespace: &str, now: Instant) -> Connector {
        Connector {
            target,
            port,
            namespace: namespace.to_string(),
            state: State::At(FlowStep::Resolve),
            step_started: now,
            tried: Vec::new(),
            epm: Vec::new(),
            next_epm: 0,
            last_epm_failure: None,
            epm_addr: None,
            cands: Vec::new(),
            next_cand: 0,
            queued: VecDeque::new(),
            pending_name: None,
            connect_failure: None,
            resolve_failure: None,
            dynamic: None,
        }
    }

    /// The step in progress (`None` once done or failed).
    pub fn step(&self) -> Option<FlowStep> {
        match self.state {
            State::At(step) => Some(step),
            State::Done | State::Failed => None,
        }
    }

    /// What to do next. Pure: asking twice gives the same request.
    pub fn request(&self) -> Request {
        match self.state {
            State::At(FlowStep::Resolve) => Request::Resolve {
                name: self.target.host.clone(),
            },
            State::At(FlowStep::Tcp135) => match self.epm.get(self.next_epm) {
                Some(a) => Request::Connect { addr: *a },
                None => Request::Done,
            },
            State::At(FlowStep::Bind135) => Request::Bind {
                addr: self.epm_addr.unwrap_or_else(|| unspecified(self.port)),
                interface: ISYSTEMACTIVATOR,
                stage: Stage::Bind135,
            },
            State::At(FlowStep::Activation) => Request::Activate,
            State::At(FlowStep::TcpDynamic) => {
                if let Some((name, _)) = &self.pending_name {
                    return Request::ResolveBinding { name: name.clone() };
                }
                match self.queued.front() {
                    Some((a, _)) => Request::Connect { addr: *a },
                    None => Request::Done,
                }
            }
            State::At(FlowStep::BindDynamic) => Request::Bind {
                addr: self
                    .dynamic
                    .as_ref()
                    .map_or_else(|| unspecified(0), |d| d.0),
                interface: IWBEMLEVEL1LOGIN,
                stage: Stage::BindDynamic,
            },
            State::At(FlowStep::Login) => Request::Login {
                namespace: self.namespace.clone(),
            },
            State::Done | State::Failed => Request::Done,
        }
    }

    /// Starts the flow: the resolve step either asks for a lookup or is skipped (an
    /// address literal, or addresses given), in which case its report comes back here.
    pub fn start(&mut self, now: Instant) -> Progress {
        self.step_started = now;
        let given = self
            .target
            .addrs
            .clone()
            .or_else(|| self.target.literal().map(|ip| vec![ip]));
        match given {
            Some(addrs) => self.resolved(addrs, true, now),
            None => Progress::Continue,
        }
    }

    fn resolved(&mut self, addrs: Vec<IpAddr>, skipped: bool, now: Instant) -> Progress {
        if addrs.is_empty() {
            let e = ClientError::new(
                Stage::Connect135,
                Cause::Resolve {
                    host: self.target.host.clone(),
                    detail: "no addresses".into(),
                },
            );
            return self.fail(FlowStep::Resolve, e, now);
        }
        self.epm = addrs
            .iter()
            .map(|ip| SocketAddr::new(*ip, self.port))
            .collect();
        self.finish(
            FlowStep::Resolve,
            State::At(FlowStep::Tcp135),
            Seen::Resolved { addrs, skipped },
            now,
        )
    }

    fn elapsed(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.step_started)
    }

    fn finish(&mut self, step: FlowStep, next: State, seen: Seen, now: Instant) -> Progress {
        let elapsed = self.elapsed(now);
        self.state = next;
        self.step_started = now;
        Progress::StepDone {
            step,
            elapsed,
            tried: std::mem::take(&mut self.tried),
            seen,
        }
    }

    fn fail(&mut self, step: FlowStep, error: ClientError, now: Instant) -> Progress {
        let elapsed = self.elapsed(now);
        self.state = State::Failed;
        Progress::Failed {
            step,
            elapsed,
            tried: std::mem::take(&mut self.tried),
            error,
        }
    }

    fn protocol(&mut self, step: FlowStep, msg: &str, now: Instant) -> Progress {
        let e = ClientError::new(step.stage(), Cause::Protocol(msg.into()));
        self.fail(step, e, now)
    }

    /// Takes what happened for the last [`Connector::request`], at `now`.
    pub fn feed(&mut self, response: Response, now: Instant) -> Progress {
        match (self.state, response) {
            (State::At(FlowStep::Resolve), Response::Resolved(Ok(addrs))) => self.resolved(addrs, false, now),
            (State::At(FlowStep::Resolve), Response::Resolved(Err(e))) => {
                let err = ClientError::new(
                    Stage::Connect135,
                    Cause::Resolve {
                        host: self.target.host.clone(),
                        detail: e.detail,
                    },
                );
                self.fail(FlowStep::Resolve, err, now)
            }
            (State::At(FlowStep::Tcp135), Response::Connected(r)) => {
                let Some(addr) = self.epm.get(self.next_epm).copied() else {
                    return self.protocol(FlowStep::Tcp135, "no address to connect to", now);
                };
                match r {
                    Ok(()) => {
                        self.epm_addr = Some(addr);
                        self.finish(
                            FlowStep::Tcp135,
                            State::At(FlowStep::Bind135),
                            Seen::Accepted {
                                addr,
                                origin: Origin::Dialled,
                            },
                            now,
                        )
                    }
                    Err(c) => {
                        self.tried.push(Tried::Connect {
                            addr,
                            origin: Origin::Dialled,
                            failure: c.failure,
                        });
                        self.last_epm_failure = Some(c);
                        self.next_epm += 1;
                        if self.next_epm < self.epm.len() {
                            return Progress::Continue;
                        }
                        match self.last_epm_failure.take() {
                            Some(c) => {
                                let e = ClientError::new(Stage::Connect135, Cause::Connect(c));
                                self.fail(FlowStep::Tcp135, e, now)
                            }
                            None => {
                                self.protocol(FlowStep::Tcp135, "no address to connect to", now)
                            }
                        }
                    }
                }
            }
            (State::At(FlowStep::Bind135), Response::Bound(r)) => match r {
                Ok(()) => self.bound(FlowStep::Bind135, State::At(FlowStep::Activation), now),
                Err(e) => self.fail(FlowStep::Bind135, e, now),
            },
            (State::At(FlowStep::Activation), Response::Activated(r)) => match r {
                Ok(act) => {
                    self.cands = act.candidates();
                    self.next_cand = 0;
                    self.advance_candidate();
                    // With no candidate at all, the driver ends the next step at once
                    // (`no_candidates`).
                    self.finish(
                        FlowStep::Activation,
                        State::At(FlowStep::TcpDynamic),
                        Seen::Activated(act),
                        now,
                    )
                }
                Err(e) => {
                    let e = logon_stage(e, Stage::Bind135);
                    self.fail(FlowStep::Activation, e, now)
                }
            },
            (State::At(FlowStep::TcpDynamic), Response::Resolved(r)) => {
                let Some((name, port)) = self.pending_name.take() else {
                    return self.protocol(FlowStep::TcpDynamic, "unexpected resolution", now);
                };
                match r {
                    Ok(ips) => {
                        for ip in ips {
                            self.queued.push_back((
                                SocketAddr::new(ip, port),
                                Origin::BindingName(name.clone()),
                            ));
                        }
                    }
                    Err(e) => {
                        debug!(%name, error = %e, "binding name does not resolve");
                        self.tried.push(Tried::Resolve {
                            name: name.clone(),
                            port,
                            detail: e.detail.clone(),
                        });
                        self.resolve_failure.get_or_insert_with(|| {
                            ClientError::new(
                                Stage::ConnectDynamic,
                                Cause::Resolve {
                                    host: name,
                                    detail: e.detail,
                                },
                            )
                        });
                    }
                }
                self.dynamic_next(now)
            }
            (State::At(FlowStep::TcpDynamic), Response::Connected(r)) => {
                let Some((addr, origin)) = self.queued.pop_front() else {
                    return self.protocol(FlowStep::TcpDynamic, "no binding reachable", now);
                };
                match r {
                    Ok(()) => {
                        self.dynamic = Some((addr, origin.clone()));
                        self.finish(
                            FlowStep::TcpDynamic,
                            State::At(FlowStep::BindDynamic),
                            Seen::Accepted { addr, origin },
                            now,
                        )
                    }
                    Err(c) => {
                        debug!(%addr, error = %c, "binding unreachable");
                        self.tried.push(Tried::Connect {
                            addr,
                            origin,
                            failure: c.failure,
                        });
                        // The first connect failure (the address dialled comes first) says
                        // most about the network.
                        self.connect_failure
                            .get_or_insert(ClientError::new(Stage::ConnectDynamic, Cause::Connect(c)));
                        self.dynamic_next(now)
                    }
                }
            }
            (State::At(FlowStep::BindDynamic), Response::Bound(r)) => match r {
                Ok(()) => self.bound(FlowStep::BindDynamic, State::At(FlowStep::Login), now),
                Err(e) => self.fail(FlowStep::BindDynamic, e, now),
            },
            (State::At(FlowStep::Login), Response::LoggedIn(r)) => match r {
                Ok(()) => {
                    let namespace = self.namespace.clone();
                    self.finish(FlowStep::Login, State::Done, Seen::LoggedIn { namespace }, now)
                }
                // The first call on the dynamic connection also confirms its logon.
                Err(e) => {
                    let e = logon_stage(e, Stage::BindDynamic);
                    self.fail(FlowStep::Login, e, now)
                }
            },
            (state, response) => {
                let step = self.step().unwrap_or(FlowStep::Login);
                debug!(?state, ?response, "response out of order");
                self.protocol(step, "connection flow response out of order", now)
            }
        }
    }

    fn bound(&mut self, step: FlowStep, next: State, now: Instant) -> Progress {
        let addr = match step {
            FlowStep::Bind135 => self.epm_addr,
            _ => self.dynamic.as_ref().map(|d| d.0),
        }
        .unwrap_or_else(|| unspecified(0));
        // The mechanism and level are filled in by the driver, which knows them.
        self.finish(
            step,
            next,
            Seen::Bound {
                addr,
                mechanism: "",
                level: AuthLevel::None,
            },
            now,
        )
    }

    /// Moves to the next candidate: an address to connect to, or a name to resolve.
    fn advance_candidate(&mut self) {
        while self.queued.is_empty() && self.pending_name.is_none() {
            let Some(c) = self.cands.get(self.next_cand).cloned() else {
                return;
            };
            self.next_cand += 1;
            match c {
                Candidate::Addr(a) => {
                    let origin = if Some(a.ip()) == self.epm_addr.map(|e| e.ip()) {
                        Origin::Dialled
                    } else {
                        Origin::Binding
                    };
                    self.queued.push_back((a, origin));
                }
                Candidate::Name(n, p) => self.pending_name = Some((n, p)),
            }
        }
    }

    fn dynamic_next(&mut self, now: Instant) -> Progress {
        self.advance_candidate();
        if !self.queued.is_empty() || self.pending_name.is_some() {
            return Progress::Continue;
        }
        // Every candidate failed: a connect failure says more than a binding name that
        // does not resolve here.
        let e = self
            .connect_failure
            .take()
            .or(self.resolve_failure.take())
            .unwrap_or_else(|| {
                ClientError::new(
                    Stage::ConnectDynamic,
                    Cause::Protocol(if self.cands.is_empty() {
                        "the oxid has no ncacn_ip_tcp binding".into()
                    } else {
                        "no binding reachable".into()
                    }),
                )
            });
        self.fail(FlowStep::TcpDynamic, e, now)
    }

    /// After the activation: whether there is nothing at all to try (no candidate); the
    /// driver then feeds nothing and calls [`Connector::no_candidates`].
    pub fn has_no_candidates(&self) -> bool {
        self.state == State::At(FlowStep::TcpDynamic) && self.queued.is_empty() && self.pending_name.is_none()
    }

    /// Ends the dynamic step when the activation listed no usable binding.
    pub fn no_candidates(&mut self, now: Instant) -> Progress {
        self.dynamic_next(now)
    }
}

fn unspecified(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), port)
}

/// The failure of the first call on a new connection. NTLM's last leg gets no reply, so
/// a refused logon shows here: as a refusal winv-rpc recognises, or, as Windows answers it,
/// an RPC fault `rpc_s_access_denied` (5). Either is the bind's failure. (A DCOM or WMI
/// permission refusal is an HRESULT in the reply, not a fault.)
pub(crate) fn logon_stage(e: ClientError, bind_stage: Stage) -> ClientError {
    if e.rpc_status() == Some(winv_dcerpc::status::ERROR_ACCESS_DENIED) {
        return ClientError::new(
            bind_stage,
            Cause::AuthenticationFailed(
                "the first call after the logon was refused with rpc_s_access_denied".into(),
            ),
        );
    }
    if e.is_auth_failure() {
        e.restage(bind_stage)
    } else {
        e
    }
}

/// Everything [`connect`] needs besides the target.
#[derive(Clone)]
pub struct FlowConfig {
    /// The client's options (port, level, deadlines, namespace...).
    pub opts: WmiOptions,
    /// The security mechanism.
    pub mechanism: Arc<dyn Mechanism>,
    /// The name resolver (default: the system's, with the connect deadline).
    pub resolver: Option<Arc<dyn NameResolver>>,
    /// A cap on new TCP connections per second shared with other flows (a scan's
    /// `--rate`); every connection of the flow waits for its slot.
    pub rate: Option<Arc<crate::rate::ConnectRate>>,
}

impl std::fmt::Debug for FlowConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowConfig")
            .field("mechanism", &self.mechanism)
            .field("auth_level", &self.opts.auth_level)
            .finish_non_exhaustive()
    }
}

pub(crate) fn rpc_config(opts: &WmiOptions) -> ClientConfig {
    ClientConfig {
        auth_level: opts.auth_level,
        ..ClientConfig::default()
    }
}

/// A fresh security context of `mechanism` for a bind, or none at level none: what the
/// mechanism needs from the network first ([`Mechanism::prepare`], a Kerberos service
/// ticket) is awaited here, under the connect deadline.
pub(crate) async fn security(
    mechanism: &dyn Mechanism,
    opts: &WmiOptions,
    target: BindTarget<'_>,
) -> Result<Option<Box<dyn winv_auth::SecurityContext>>, ClientError> {
    if opts.auth_level <= AuthLevel::None {
        return Ok(None);
    }
    mechanism.prepare(target).await?;
    mechanism.context(&target).map(Some)
}

/// `RemoteCreateInstance` of `CLSID_WbemLevel1Login` for `IWbemLevel1Login` on a bound
/// `ISystemActivator` connection.
async fn remote_create_instance(conn: &mut RpcConnection) -> Result<Activation, ClientError> {
    let st = Stage::Activation;
    let req = ActivationRequest::new(CLSID_WBEM_LEVEL1_LOGIN, vec![IWBEMLEVEL1LOGIN.uuid]);
    let stub = encode_remote_create_instance_request(&orpc_this(), &req)
        .map_err(|e| ClientError::decode_at(st, e))?;
    let resp = conn
        .call(OPNUM_REMOTE_CREATE_INSTANCE, &stub)
        .await
        .map_err(|e| ClientError::rpc_at(st, e))?;
    let (_, reply) =
        decode_remote_create_instance_response(&resp).map_err(|e| ClientError::decode_at(st, e))?;
    let reply = reply.map_err(|hr| ClientError::hresult_at(st, hr.0))?;
    let iface = reply
        .interfaces
        .iter()
        .find(|i| i.iid == IWBEMLEVEL1LOGIN.uuid)
        .ok_or_else(|| {
            ClientError::new(
                st,
                Cause::Protocol("activation reply lacks IWbemLevel1Login".into()),
            )
        })?;
    check_hresult(st, iface.hresult)?;
    let login = iface
        .objref
        .as_ref()
        .and_then(|o| o.std())
        .map(held_of)
        .ok_or_else(|| {
            ClientError::new(
                st,
                Cause::Protocol("activation reply lacks the IWbemLevel1Login reference".into()),
            )
        })?;
    Ok(Activation {
        epm_addr: conn.peer(),
        oxid: reply.oxid,
        authn_hint: reply.authn_hint,
        tcp_bindings: tcp_bindings(&reply.oxid_bindings.string_bindings),
        string_bindings: reply.oxid_bindings.string_bindings,
        security_bindings: reply.oxid_bindings.security_bindings,
        ipid_rem_unknown: reply.ipid_rem_unknown,
        login,
    })
}

/// Resolves `name` with `resolver` (the system's when `None`, bounded by `deadline`).
pub async fn resolve(
    resolver: Option<&dyn NameResolver>,
    name: &str,
    deadline: Duration,
) -> Result<Vec<IpAddr>, ResolveError> {
    match resolver {
        Some(r) => r.resolve(name).await,
        None => SystemResolver { deadline }.resolve(name).await,
    }
}

/// Runs the connection flow to `target` with `config`, reporting each finished step to
/// `observer`: the async loop over [`Connector`]. Every wait has a deadline of
/// `config.opts.deadlines` (resolution: the resolver's own, or the connect deadline).
pub async fn connect(
    target: Target,
    config: &FlowConfig,
    mut observer: Option<&mut dyn FlowObserver>,
) -> Result<WmiClient, ClientError> {
    let opts = &config.opts;
    let mech = config.mechanism.as_ref();
    let resolver = config.resolver.as_deref();
    let host = target.host.clone();
    let mut c = Connector::new(target, opts.epm_port, &opts.namespace, Instant::now());
    let mut stream: Option<TcpStream> = None;
    let mut activator: Option<RpcConnection> = None;
    let mut activation: Option<Box<Activation>> = None;
    let mut client: Option<WmiClient> = None;
    let mut progress = c.start(Instant::now());
    loop {
        match progress {
            Progress::Continue => {}
            Progress::StepDone {
                step,
                elapsed,
                tried,
                mut seen,
            } => {
                if let Seen::Bound {
                    mechanism, level, ..
                } = &mut seen
                {
                    *mechanism = mech.name();
                    *level = opts.auth_level;
                }
                if let Some(o) = observer.as_deref_mut() {
                    o.on_step(&StepReport {
                        step,
                        elapsed,
                        tried: &tried,
                        outcome: Ok(&seen),
                    });
                }
                if let Seen::Activated(act) = seen {
                    debug!(oxid = act.oxid, bindings = ?act.string_bindings, "activated");
                    activation = Some(act);
                }
                if c.has_no_candidates() {
                    progress = c.no_candidates(Instant::now());
                    continue;
                }
            }
            Progress::Failed {
                step,
                elapsed,
                tried,
                error,
            } => {
                if let Some(o) = observer.as_deref_mut() {
                    o.on_step(&StepReport {
                        step,
                        elapsed,
                        tried: &tried,
                        outcome: Err(&error),
                    });
                }
                if let Some(cl) = client.take() {
                    // Cleanup after a failed login: quiet, and bounded.
                    let _ = tokio::time::timeout(opts.deadlines.call, cl.close()).await;
                }
                return Err(error);
            }
        }
        let response = match c.request() {
            Request::Resolve { name } | Request::ResolveBinding { name } => {
                Response::Resolved(resolve(resolver, &name, opts.deadlines.connect).await)
            }
            Request::Connect { addr } => {
                if let Some(r) = &config.rate {
                    r.wait().await;
                }
                match connect_tcp(addr, opts.deadlines.connect).await {
                    Ok(s) => {
                        stream = Some(s);
                        Response::Connected(Ok(()))
                    }
                    Err(e) => Response::Connected(Err(e)),
                }
            }
            Request::Bind {
                addr,
                interface,
                stage,
            } => {
                let Some(s) = stream.take() else {
                    return Err(ClientError::new(
                        stage,
                        Cause::Protocol("no connection to bind".into()),
                    ));
                };
                let principal = activation
                    .as_ref()
                    .and_then(|a| a.principal(mech.authn_service()));
                let bt = BindTarget {
                    host: &host,
                    addr,
                    stage,
                    principal: if stage == Stage::BindDynamic {
                        principal
                    } else {
                        None
                    },
                    level: opts.auth_level,
                };
                let result = match security(mech, opts, bt).await {
                    Err(e) => Err(e),
                    Ok(sec) => RpcConnection::bind_stream(
                        s,
                        addr,
                        interface,
                        rpc_config(opts),
                        sec,
                        opts.deadlines,
                    )
                    .await
                    .map_err(|e| bind_error(stage, e)),
                };
                Response::Bound(match result {
                    Ok(conn) if stage == Stage::Bind135 => {
                        activator = Some(conn);
                        Ok(())
                    }
                    Ok(conn) => match activation.as_deref() {
                        Some(act) => {
                            client = Some(WmiClient::new(
                                &host,
                                act,
                                conn,
                                config.mechanism.clone(),
                                opts.clone(),
                                config.rate.clone(),
                            ));
                            Ok(())
                        }
                        None => Err(ClientError::new(
                            stage,
                            Cause::Protocol("bound before the activation".into()),
                        )),
                    },
                    Err(e) => Err(e),
                })
            }
            Request::Activate => {
                let r = match activator.as_mut() {
                    Some(conn) => remote_create_instance(conn).await.map(Box::new),
                    None => Err(ClientError::new(
                        Stage::Activation,
                        Cause::Protocol("no activator connection".into()),
                    )),
                };
                // The connection to port 135 is closed after the activation.
                activator = None;
                Response::Activated(r)
            }
            Request::Login { namespace } => match client.as_mut() {
                Some(cl) => Response::LoggedIn(cl.open_namespace(&namespace).await),
                None => Response::LoggedIn(Err(ClientError::new(
                    Stage::Login,
                    Cause::Protocol("no dynamic connection".into()),
                ))),
            },
            Request::Done => {
                return client.ok_or_else(|| {
                    ClientError::new(Stage::Login, Cause::Protocol("flow ended early".into()))
                });
            }
        };
        progress = c.feed(response, Instant::now());
    }
}

/// A bind's failure at `stage` (the TCP connection is already open: a connect error
/// cannot happen here, but is kept at the connect stage if it does).
fn bind_error(stage: Stage, e: RpcError) -> ClientError {
    match e {
        RpcError::Connect(c) => {
            let st = if stage == Stage::Bind135 {
                Stage::Connect135
            } else {
                Stage::ConnectDynamic
            };
            ClientError::new(st, Cause::Connect(c))
        }
        e => ClientError::rpc_at(stage, e),
    }
}

/// Opens a TCP connection to `addr` within `deadline` and closes it: whether anything
/// listens there. A failure is a [`Cause::Connect`] at `stage`. (A probe of `diagnose`,
/// not a step of the flow.)
pub async fn tcp_answers(
    addr: SocketAddr,
    deadline: Duration,
    stage: Stage,
) -> Result<(), ClientError> {
    connect_tcp(addr, deadline)
        .await
        .map(drop)
        .map_err(|c| ClientError::new(stage, Cause::Connect(c)))
}

/// Whether an RPC server answers at `addr`: an unauthenticated bind of `interface`
/// within the deadlines. `Ok` for a bind_ack; a rejection (bind_nak, rejected context) is
/// a [`Cause::BindRejected`], which also means that an RPC server answered; silence is a
/// [`Cause::Timeout`]. No credentials are sent. (A probe of `diagnose`.)
pub async fn rpc_answers(
    addr: SocketAddr,
    interface: SyntaxId,
    deadlines: Deadlines,
    stage: Stage,
) -> Result<(), ClientError> {
    match RpcConnection::connect(addr, interface, ClientConfig::default(), None, deadlines).await {
        Ok(_) => Ok(()),
        Err(RpcError::Connect(c)) => Err(ClientError::new(stage, Cause::Connect(c))),
        Err(e) => Err(ClientError::rpc_at(stage, e)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
