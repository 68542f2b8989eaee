//! `winventory diagnose HOST`: walks the WMI connection flow against one host a step at a
//! time, prints each step with its timing and result, stops at the first failure and
//! explains it from the knowledge base, then narrows the cause with extra probes.
//!
//! # The steps
//!
//! | step             | what is done                                                        |
//! |------------------|---------------------------------------------------------------------|
//! | `resolve`        | the name, through the system resolver or `--dns-server` (skipped for an address) |
//! | `tcp-135`        | a TCP connection to port 135 (`--port`) of each address until one accepts |
//! | `bind-135`       | bind `ISystemActivator` with NTLM at `--auth-level`                 |
//! | `activation`     | `RemoteCreateInstance` of `WbemLevel1Login`; prints the OXID bindings it returned |
//! | `tcp-dynamic`    | a TCP connection to the OXID's dynamic endpoint (the dialled address with the binding's port first, then the bindings' own addresses) |
//! | `bind-dynamic`   | bind `IWbemLevel1Login` there with NTLM                             |
//! | `login-cimv2`    | `NTLMLogin` to `root\cimv2`                                         |
//! | `query`          | `SELECT Caption FROM Win32_OperatingSystem`                         |
//! | `login-default`  | `NTLMLogin` to `root\default`                                       |
//! | `get-stdregprov` | `GetObject StdRegProv`                                              |
//! | `registry-read`  | `GetStringValue` of `HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProductName` |
//!
//! NTLM's last leg gets no reply, so a refused logon shows on the call after a bind (the
//! activation, or the first login): the failing step is that call, the failure's stage
//! the bind's.
//!
//! # The explanation
//!
//! The failure is classified by `winv_engine::classify::classify`, the one mapping of a
//! client error to a status, code, phase, category and "denied by" that the engine uses
//! too. Causes and remediation come from the knowledge base entry of the code (first
//! remediation first), or the status's entry when there is no code; two conditions are
//! explained by the entry of what they really are: a refused NTLM logon (reported as
//! `E_ACCESSDENIED`, explained as `ERROR_LOGON_FAILURE`) and a host that rejects the
//! activation interface (no code; explained as `RPC_S_UNKNOWN_IF`: it answers RPC but
//! offers no DCOM activation).
//!
//! # The probes
//!
//! After a failure, extra walks tell causes apart where they can:
//! - each other credential given (`--user` repeated), when access was denied: which one
//!   fails where, and which works;
//! - the other authentication levels (packet integrity / privacy), when the activation or
//!   a login was denied: whether the level changes it (KB5004442 hardening,
//!   `WBEM_E_ENCRYPTED_CONNECTION_REQUIRED`);
//! - the host's address instead of its name, when a name was given;
//! - each endpoint of the activation reply's bindings, when the dynamic endpoint failed:
//!   which answer TCP and RPC, and whether the bindings name addresses other than the one
//!   dialled that are not reachable from here (NAT).
//!
//! Every wait has a deadline: `--timeout-connect` for TCP connects and name resolution,
//! `--timeout-call` for each read, bind and call. The password is read as for `query`
//! (never from the command line) and never printed.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde_json::{json, Value as Json};
use winv_client::binding::Candidate;
use winv_client::probe::{rpc_answers, tcp_connect, Activation, Probe};
use winv_client::registry::{is_not_found, Hive};
use winv_client::{AuthLevel, Cause, ClientError, Credentials, Deadlines, Stage, WmiOptions};
use winv_dcerpc::interfaces::IWBEMLEVEL1LOGIN;
use winv_discovery::resolve::{DnsServer, NotFoundReason, Resolution, ResolveConfig, Resolver};
use winv_engine::classify::{classify, NamespaceRole};
use winv_engine::{DeniedBy, Failure, Status};

use crate::password::read_password;
use crate::query::exit;

const AFTER_HELP: &str = "\
Steps: resolve, tcp-135, bind-135, activation, tcp-dynamic, bind-dynamic, login-cimv2,
query, login-default, get-stdregprov, registry-read. The walk stops at the first failure,
explains it from the knowledge base and runs extra probes: each other --user, the other
authentication level, the address instead of the name, each endpoint of the OXID bindings.

Passwords never go on the command line. Give --password-env VAR or --password-file FILE
(mode 600) once for every --user, in the same order, or once for all of them; without
either, each is prompted for when standard input is a terminal.

Exit codes:
  0  every step succeeded
  1  other error (password source, bad arguments)
  2  usage error
  3  connection failure (resolve, refused, unreachable, timeout, no RPC / DCOM answer)
  4  authentication failed or access denied (NTLM, DCOM, WMI)
  5  WMI or RPC error (namespace, class, provider, RPC fault, shutting down)
  6  timeout of a WMI call";

/// The namespace of the inventory classes.
const CIMV2: &str = r"root\cimv2";
/// The namespace of `StdRegProv`.
const DEFAULT_NS: &str = r"root\default";
/// The query of the `query` step.
const OS_QUERY: &str = "SELECT Caption FROM Win32_OperatingSystem";
/// The registry value of the `registry-read` step.
const REG_KEY: &str = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion";
const REG_VALUE: &str = "ProductName";

/// Authentication level of the walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Level {
    /// Authenticate at bind only (what old clients use; refused by hardened hosts).
    Connect,
    /// Packet integrity: every PDU signed.
    Integrity,
    /// Packet privacy: every PDU signed and sealed.
    Privacy,
}

impl Level {
    fn auth(self) -> AuthLevel {
        match self {
            Level::Connect => AuthLevel::Connect,
            Level::Integrity => AuthLevel::PktIntegrity,
            Level::Privacy => AuthLevel::PktPrivacy,
        }
    }

    fn text(self) -> &'static str {
        match self {
            Level::Connect => "connect",
            Level::Integrity => "packet integrity",
            Level::Privacy => "packet privacy",
        }
    }
}

/// Arguments of `winventory diagnose`.
#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct DiagnoseArgs {
    /// Host name or address (IPv4, IPv6).
    pub host: String,
    /// User: DOMAIN\user, user@domain or user. Repeat to probe several credentials in
    /// order; the walk uses the first.
    #[arg(long, required = true)]
    pub user: Vec<String>,
    /// Environment variable holding the password (once per --user, or once for all).
    #[arg(long, value_name = "VAR")]
    pub password_env: Vec<String>,
    /// File holding the password, mode 600 (once per --user, or once for all).
    #[arg(long, value_name = "FILE")]
    pub password_file: Vec<PathBuf>,
    /// Authentication level of the walk.
    #[arg(long, value_enum, default_value_t = Level::Privacy)]
    pub auth_level: Level,
    /// Endpoint mapper port.
    #[arg(long, default_value_t = 135)]
    pub port: u16,
    /// DNS server for the name (ADDR[:PORT]); default the system's resolver.
    #[arg(long, value_name = "ADDR[:PORT]")]
    pub dns_server: Option<String>,
    /// Deadline in seconds of each TCP connect and each DNS attempt.
    #[arg(long, default_value_t = 5.0, value_name = "SECS", value_parser = positive_secs)]
    pub timeout_connect: f64,
    /// Deadline in seconds of each read, bind and call.
    #[arg(long, default_value_t = 20.0, value_name = "SECS", value_parser = positive_secs)]
    pub timeout_call: f64,
    /// Print JSON for tools instead of text.
    #[arg(long)]
    pub json: bool,
    /// Do not run the extra probes after a failure.
    #[arg(long)]
    pub no_probes: bool,
}

fn positive_secs(s: &str) -> std::result::Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("not a number of seconds: {s}"))?;
    if v.is_finite() && v > 0.0 && v <= 3600.0 {
        Ok(v)
    } else {
        Err("seconds must be above 0 and at most 3600".into())
    }
}

/// One step of the walk.
#[derive(Clone, Debug)]
pub struct Step {
    /// `resolve`, `tcp-135`, ... (see the module documentation).
    pub name: &'static str,
    /// Whether it succeeded (a skipped step counts as succeeded).
    pub ok: bool,
    /// Skipped (the resolve step for an address).
    pub skipped: bool,
    /// How long it took.
    pub ms: u64,
    /// What it did or returned, or why it failed.
    pub detail: String,
}

/// One extra probe after the failure.
#[derive(Clone, Debug)]
pub struct ProbeResult {
    /// `credential`, `auth-level`, `address` or `binding`.
    pub kind: &'static str,
    /// What was varied: the account, the level, the address, the endpoint.
    pub subject: String,
    /// Whether it got through (the whole walk, or for a binding: TCP and an RPC answer).
    pub ok: bool,
    /// How long it took.
    pub ms: u64,
    /// The step it failed at, when a walk failed.
    pub failed_step: Option<&'static str>,
    /// What happened.
    pub detail: String,
}

/// The explained failure.
#[derive(Clone, Debug)]
pub struct FailureReport {
    /// The step that failed.
    pub step: &'static str,
    /// The status the engine gives this failure.
    pub status: Status,
    /// The status as MAP words it.
    pub status_text: &'static str,
    /// The client's stage.
    pub stage: String,
    /// The raw code, when there is one.
    pub code: Option<u32>,
    /// The code as 0x%08x.
    pub code_hex: Option<String>,
    /// Its symbolic name.
    pub code_name: Option<String>,
    /// Connecting or operation.
    pub phase: winv_kb::Phase,
    /// Connectivity, access or core WMI.
    pub category: winv_kb::Category,
    /// Who refused, for access denied.
    pub denied_by: Option<DeniedBy>,
    /// Retry-class.
    pub retry: bool,
    /// The layer of the explaining entry.
    pub layer: Option<winv_kb::Layer>,
    /// One sentence: what happened.
    pub headline: String,
    /// The client's error text.
    pub message: String,
    /// The knowledge-base entry the causes and remediation come from.
    pub explained_by: Option<String>,
    /// Likely causes, most likely first.
    pub causes: Vec<String>,
    /// Checks that tell the causes apart.
    pub checks: Vec<String>,
    /// Remediation, in the order to try.
    pub remediation: Vec<String>,
    /// The extra probes.
    pub probes: Vec<ProbeResult>,
    /// What the probes tell.
    pub findings: Vec<String>,
}

/// The whole report.
#[derive(Clone, Debug)]
pub struct Report {
    /// The host as given.
    pub host: String,
    /// The endpoint mapper port.
    pub port: u16,
    /// The authentication level of the walk.
    pub auth_level: &'static str,
    /// The accounts, in order (names only).
    pub users: Vec<String>,
    /// Every step succeeded.
    pub ok: bool,
    /// The steps done, up to the first failure.
    pub steps: Vec<Step>,
    /// The failure, explained.
    pub failure: Option<FailureReport>,
    /// The exit code.
    pub exit_code: u8,
}

/// An account and its credentials (the secret only as an NT hash).
struct Account {
    name: String,
    creds: Credentials,
}

/// Reads every account's password as `query` does, pairing sources with users.
fn accounts(args: &DiagnoseArgs) -> Result<Vec<Account>> {
    let n = args.user.len();
    let (envs, files) = (&args.password_env, &args.password_file);
    let source = |i: usize| -> Result<(Option<&str>, Option<&std::path::Path>)> {
        Ok(match (envs.len(), files.len()) {
            (0, 0) => (None, None),
            (e, 0) if e == n => (Some(envs[i].as_str()), None),
            (0, f) if f == n => (None, Some(files[i].as_path())),
            (1, 0) => (Some(envs[0].as_str()), None),
            (0, 1) => (None, Some(files[0].as_path())),
            _ => bail!(
                "give one --password-env or one --password-file per --user, in the same order, \
                 or one for all of them"
            ),
        })
    };
    let mut out = Vec::with_capacity(n);
    for (i, qualified) in args.user.iter().enumerate() {
        let (env, file) = source(i)?;
        let secret = read_password(qualified, env, file, true)?;
        let (user, domain) = Credentials::parse_user(qualified);
        out.push(Account {
            name: qualified.clone(),
            creds: Credentials::with_password(&user, &domain, secret.expose()),
        });
    }
    Ok(out)
}

/// What stays the same across the walk and its probes.
struct Ctx {
    port: u16,
    deadlines: Deadlines,
    resolver: Resolver,
}

/// The failure of a walk: the step, the client error, the namespace being used.
struct Failed {
    step: &'static str,
    err: ClientError,
    role: NamespaceRole,
}

/// The result of one walk.
struct Walk {
    steps: Vec<Step>,
    failed: Option<Failed>,
    /// The name's addresses (or the address given).
    addrs: Vec<IpAddr>,
    /// The activation's result, when it got that far.
    activation: Option<Activation>,
}

impl Walk {
    fn push(&mut self, name: &'static str, t0: Instant, r: std::result::Result<String, String>) {
        let ms = millis(t0.elapsed());
        let (ok, detail) = match r {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        self.steps.push(Step {
            name,
            ok,
            skipped: false,
            ms,
            detail,
        });
    }

    fn fail(&mut self, name: &'static str, t0: Instant, err: ClientError, role: NamespaceRole) {
        self.push(name, t0, Err(err.cause().to_string()));
        self.failed = Some(Failed {
            step: name,
            err,
            role,
        });
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The host as an address, when it is one (brackets allowed around IPv6).
fn literal(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

fn not_found_text(reason: &NotFoundReason) -> String {
    match reason {
        NotFoundReason::NxDomain => "the name does not exist (NXDOMAIN)".into(),
        NotFoundReason::NoRecords => "the name has no address records".into(),
        NotFoundReason::TryAgain(e) => format!("no DNS answer after every attempt: {e}"),
    }
}

/// Resolves a name to addresses through the resolver; an error text when it cannot.
async fn resolve_name(resolver: &Resolver, name: &str) -> std::result::Result<Vec<IpAddr>, String> {
    match resolver.resolve(name).await {
        Resolution::Found { addrs, .. } => Ok(addrs),
        Resolution::NotFound { reason, .. } => Err(not_found_text(&reason)),
    }
}

fn bindings_text(act: &Activation) -> String {
    let list: Vec<String> = act
        .string_bindings
        .iter()
        .map(|b| {
            if b.tower_id == winv_dcom::objref::tower::NCACN_IP_TCP {
                format!("ncacn_ip_tcp:{}", b.network_addr)
            } else {
                format!("tower {:#04x}:{}", b.tower_id, b.network_addr)
            }
        })
        .collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

fn candidate_text(c: &Candidate, dialled: IpAddr) -> String {
    match c {
        Candidate::Addr(a) if a.ip() == dialled => format!("{a} (the address dialled)"),
        Candidate::Addr(a) => format!("{a} (from the bindings)"),
        Candidate::Name(n, p) => format!("{n}[{p}] (a name from the bindings)"),
    }
}

/// Walks the flow with `creds` at `level`; stops at the first failure.
async fn walk(ctx: &Ctx, host: &str, creds: &Credentials, level: Level) -> Walk {
    let mut w = Walk {
        steps: Vec::new(),
        failed: None,
        addrs: Vec::new(),
        activation: None,
    };
    let role = NamespaceRole::Cimv2;

    // resolve
    let t0 = Instant::now();
    if let Some(ip) = literal(host) {
        w.addrs = vec![ip];
        w.steps.push(Step {
            name: "resolve",
            ok: true,
            skipped: true,
            ms: 0,
            detail: format!("skipped: {ip} is an address"),
        });
    } else {
        match resolve_name(&ctx.resolver, host).await {
            Ok(addrs) => {
                let list: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
                w.push("resolve", t0, Ok(format!("{host} is {}", list.join(", "))));
                w.addrs = addrs;
            }
            Err(detail) => {
                let err = ClientError::new(
                    Stage::Connect135,
                    Cause::Resolve {
                        host: host.to_string(),
                        detail,
                    },
                );
                w.fail("resolve", t0, err, role);
                return w;
            }
        }
    }

    // tcp-135
    let t0 = Instant::now();
    let mut tried = Vec::new();
    let mut reached = None;
    let mut last = None;
    for ip in &w.addrs {
        let addr = SocketAddr::new(*ip, ctx.port);
        match tcp_connect(addr, ctx.deadlines.connect, Stage::Connect135).await {
            Ok(()) => {
                reached = Some(addr);
                break;
            }
            Err(e) => {
                tried.push(format!("{addr}: {}", connect_text(&e)));
                last = Some(e);
            }
        }
    }
    let epm = match (reached, last) {
        (Some(a), _) => {
            let mut d = format!("{a} accepted");
            if !tried.is_empty() {
                let _ = write!(d, " (before it: {})", tried.join("; "));
            }
            w.push("tcp-135", t0, Ok(d));
            a
        }
        (None, Some(e)) => {
            w.fail("tcp-135", t0, e, role);
            if tried.len() > 1 {
                if let Some(s) = w.steps.last_mut() {
                    s.detail = tried.join("; ");
                }
            }
            return w;
        }
        (None, None) => {
            let e = ClientError::new(
                Stage::Connect135,
                Cause::Protocol("no address to connect to".into()),
            );
            w.fail("tcp-135", t0, e, role);
            return w;
        }
    };

    let opts = WmiOptions {
        auth_level: level.auth(),
        epm_port: ctx.port,
        deadlines: ctx.deadlines,
        enum_timeout: ctx.deadlines.call.min(Duration::from_secs(10)),
        ..WmiOptions::default()
    };
    let mut probe = Probe::new(host, creds.clone(), opts);
    walk_rpc(ctx, &mut w, &mut probe, epm, level).await;
    w.activation = probe.activation().cloned();
    probe.close().await;
    w
}

/// The steps from the bind on port 135 on.
async fn walk_rpc(ctx: &Ctx, w: &mut Walk, probe: &mut Probe, epm: SocketAddr, level: Level) {
    let role = NamespaceRole::Cimv2;
    // bind-135
    let t0 = Instant::now();
    if let Err(e) = probe.bind_activator(epm).await {
        return w.fail("bind-135", t0, e, role);
    }
    w.push(
        "bind-135",
        t0,
        Ok(format!(
            "ISystemActivator bound with NTLM at {} (the logon is confirmed by the next call)",
            level.text()
        )),
    );

    // activation
    let t0 = Instant::now();
    let act = match probe.activate().await {
        Ok(a) => a.clone(),
        Err(e) => return w.fail("activation", t0, e, role),
    };
    w.push(
        "activation",
        t0,
        Ok(format!(
            "OXID {:#018x}; bindings: {}",
            act.oxid,
            bindings_text(&act)
        )),
    );

    // tcp-dynamic
    let t0 = Instant::now();
    let dialled = act.epm_addr.ip();
    let cands = act.candidates();
    let mut tried = Vec::new();
    let mut reached = None;
    // As the client: the first connect failure (the dialled address comes first) says
    // most about the network; a binding name that does not resolve counts only when no
    // address was tried.
    let mut connect_failure = None;
    let mut resolve_failure = None;
    for c in &cands {
        let addrs = match c {
            Candidate::Addr(a) => vec![*a],
            Candidate::Name(n, p) => match resolve_name(&ctx.resolver, n).await {
                Ok(ips) => ips.into_iter().map(|ip| SocketAddr::new(ip, *p)).collect(),
                Err(why) => {
                    tried.push(format!("{}: {why}", candidate_text(c, dialled)));
                    resolve_failure.get_or_insert_with(|| {
                        ClientError::new(
                            Stage::ConnectDynamic,
                            Cause::Resolve {
                                host: n.clone(),
                                detail: why,
                            },
                        )
                    });
                    continue;
                }
            },
        };
        for a in addrs {
            match tcp_connect(a, ctx.deadlines.connect, Stage::ConnectDynamic).await {
                Ok(()) => {
                    reached = Some((a, candidate_text(c, dialled)));
                    break;
                }
                Err(e) => {
                    tried.push(format!("{a}: {}", connect_text(&e)));
                    connect_failure.get_or_insert(e);
                }
            }
        }
        if reached.is_some() {
            break;
        }
    }
    let dynamic = match reached {
        Some((a, what)) => {
            w.push("tcp-dynamic", t0, Ok(format!("{what} accepted")));
            a
        }
        None => {
            let e = connect_failure.or(resolve_failure).unwrap_or_else(|| {
                ClientError::new(
                    Stage::ConnectDynamic,
                    Cause::Protocol(if cands.is_empty() {
                        "the oxid has no ncacn_ip_tcp binding".into()
                    } else {
                        "no binding reachable".into()
                    }),
                )
            });
            w.fail("tcp-dynamic", t0, e, role);
            if let Some(s) = w.steps.last_mut() {
                if !tried.is_empty() {
                    s.detail = tried.join("; ");
                }
            }
            return;
        }
    };

    // bind-dynamic
    let t0 = Instant::now();
    if let Err(e) = probe.bind_dynamic(dynamic).await {
        return w.fail("bind-dynamic", t0, e, role);
    }
    w.push(
        "bind-dynamic",
        t0,
        Ok(format!(
            "IWbemLevel1Login bound on {dynamic} with NTLM at {}",
            level.text()
        )),
    );

    // login-cimv2
    let t0 = Instant::now();
    if let Err(e) = probe.login(CIMV2).await {
        return w.fail("login-cimv2", t0, e, NamespaceRole::Cimv2);
    }
    w.push("login-cimv2", t0, Ok(format!("NTLMLogin {CIMV2}")));

    let Some(client) = probe.client() else {
        return;
    };
    // query
    let t0 = Instant::now();
    match client.query_in(CIMV2, OS_QUERY).await {
        Ok(rows) => {
            let captions: Vec<String> = rows
                .iter()
                .filter_map(|r| {
                    r.get("Caption")
                        .and_then(|v| v.as_str())
                        .map(str::to_string)
                })
                .collect();
            w.push(
                "query",
                t0,
                Ok(format!(
                    "{OS_QUERY}: {} row(s){}",
                    rows.len(),
                    if captions.is_empty() {
                        String::new()
                    } else {
                        format!(", Caption = {}", captions.join(" / "))
                    }
                )),
            );
        }
        Err(e) => return w.fail("query", t0, e, NamespaceRole::Cimv2),
    }

    // login-default
    let t0 = Instant::now();
    if let Err(e) = probe.login(DEFAULT_NS).await {
        return w.fail("login-default", t0, e, NamespaceRole::StdRegProv);
    }
    w.push("login-default", t0, Ok(format!("NTLMLogin {DEFAULT_NS}")));
    let Some(client) = probe.client() else {
        return;
    };

    // get-stdregprov
    let t0 = Instant::now();
    match client.get_object_in(DEFAULT_NS, "StdRegProv").await {
        Ok(obj) => {
            let methods = obj.class_def().map_or(0, |c| c.methods.len());
            w.push(
                "get-stdregprov",
                t0,
                Ok(format!("class {} with {methods} methods", obj.class_name())),
            );
        }
        Err(e) => return w.fail("get-stdregprov", t0, e, NamespaceRole::StdRegProv),
    }

    // registry-read
    let t0 = Instant::now();
    let path = format!(r"HKLM\{REG_KEY}\{REG_VALUE}");
    match client
        .registry()
        .get_string_value(Hive::LocalMachine, REG_KEY, REG_VALUE)
        .await
    {
        Ok(v) => w.push("registry-read", t0, Ok(format!("{path} = {v}"))),
        Err(e) if is_not_found(&e) => w.push(
            "registry-read",
            t0,
            Ok(format!("{path}: {} (StdRegProv answers)", e.cause())),
        ),
        Err(e) => w.fail("registry-read", t0, e, NamespaceRole::StdRegProv),
    }
}

fn connect_text(e: &ClientError) -> String {
    match e.cause() {
        Cause::Connect(c) => c.failure.as_str().to_string(),
        other => other.to_string(),
    }
}

/// Whether the host rejected the activation interface: it speaks RPC, but no DCOM (as
/// the engine's classification says).
fn no_dcom(err: &ClientError) -> bool {
    classify(err, NamespaceRole::Cimv2)
        .message
        .starts_with(winv_engine::classify::NO_DCOM)
}

/// Whether the dynamic endpoint did not answer: its TCP connect failed, or its bind got
/// no answer (or the connection broke) before any reply.
fn dynamic_silent(f: &Failed) -> bool {
    match f.step {
        "tcp-dynamic" => matches!(f.err.cause(), Cause::Timeout { .. } | Cause::Connect(_)),
        "bind-dynamic" => matches!(
            f.err.cause(),
            Cause::Timeout { .. } | Cause::Rpc(_) | Cause::Connect(_)
        ),
        _ => false,
    }
}

/// The exit code of a status: as `query`'s for the same failure.
fn exit_for(status: Status) -> u8 {
    match status {
        Status::Inventoried | Status::InventoriedIncomplete => exit::OK,
        Status::MachineNotFound
        | Status::ConnectionTimeout
        | Status::ConnectionRefused
        | Status::HostUnreachable
        | Status::RpcServerUnavailable => exit::CONNECTION,
        Status::AccessDenied => exit::ACCESS,
        Status::WmiQueryTimeout => exit::TIMEOUT,
        _ => exit::WMI,
    }
}

fn dynamic_ports(act: Option<&Activation>) -> String {
    let mut ports: Vec<u16> = act
        .map(|a| a.tcp_bindings.iter().map(|b| b.port).collect())
        .unwrap_or_default();
    ports.dedup();
    let v: Vec<String> = ports.iter().map(u16::to_string).collect();
    if v.is_empty() {
        "?".into()
    } else {
        v.join(", ")
    }
}

/// One sentence in words: what happened at which step.
fn headline(host: &str, port: u16, user: &str, failed: &Failed, f: &Failure, w: &Walk) -> String {
    let err = &failed.err;
    if no_dcom(err) {
        return format!(
            "{host} answers RPC on port {port} but offers no DCOM activation \
             (not Windows, or DCOM disabled)"
        );
    }
    if dynamic_silent(failed) {
        return format!(
            "port {port} answers and the activation works, but the dynamic port {} \
             does not answer",
            dynamic_ports(w.activation.as_ref())
        );
    }
    if f.denied_by == Some(DeniedBy::Authentication) {
        return format!(
            "the NTLM logon of {user} was refused (wrong password, unknown account or wrong \
             domain); it shows on the first call after the bind"
        );
    }
    match (failed.step, err.cause()) {
        ("resolve", Cause::Resolve { detail, .. }) => format!("{host} does not resolve: {detail}"),
        ("tcp-135", Cause::Connect(c)) => format!(
            "nothing answers TCP on port {port} of {host}: {}",
            c.failure.as_str()
        ),
        ("activation", _) if f.denied_by == Some(DeniedBy::Dcom) => {
            format!("DCOM refused to activate WMI for {user}")
        }
        (s, _) if s.starts_with("login-") && f.status == Status::AccessDenied => {
            format!("the WMI namespace refused the login of {user}")
        }
        (s, _) => format!("{s} failed: {err}"),
    }
}

/// A walk's outcome in one line, for a probe.
fn walk_summary(w: &Walk) -> (bool, Option<&'static str>, String) {
    match &w.failed {
        None => (true, None, "works: every step succeeded".into()),
        Some(f) => {
            let c = classify(&f.err, f.role);
            let what = match c.code {
                Some(v) => format!(
                    "{v:#010x}{}",
                    c.code_name
                        .as_deref()
                        .map(|n| format!(" {n}"))
                        .unwrap_or_default()
                ),
                None => f.err.cause().to_string(),
            };
            (
                false,
                Some(f.step),
                format!("fails at {} ({}): {what}", f.step, c.status),
            )
        }
    }
}

/// How far a walk got: the number of steps that succeeded.
fn progress(w: &Walk) -> usize {
    w.steps.iter().filter(|s| s.ok).count()
}

async fn probe_walk(
    ctx: &Ctx,
    kind: &'static str,
    subject: String,
    host: &str,
    creds: &Credentials,
    level: Level,
) -> (ProbeResult, Walk) {
    let t0 = Instant::now();
    let w = walk(ctx, host, creds, level).await;
    let (ok, failed_step, detail) = walk_summary(&w);
    (
        ProbeResult {
            kind,
            subject,
            ok,
            ms: millis(t0.elapsed()),
            failed_step,
            detail,
        },
        w,
    )
}

/// An account's name, with its position when the same name is given more than once.
fn account_label(accounts: &[Account], i: usize) -> String {
    let name = accounts.get(i).map_or("", |a| a.name.as_str());
    if accounts.iter().filter(|a| a.name == name).count() > 1 {
        format!("{name} (#{})", i + 1)
    } else {
        name.to_string()
    }
}

/// The extra probes; returns (probes, findings).
async fn narrow(
    ctx: &Ctx,
    args: &DiagnoseArgs,
    accounts: &[Account],
    main: &Walk,
    failed: &Failed,
    f: &Failure,
) -> (Vec<ProbeResult>, Vec<String>) {
    let mut probes = Vec::new();
    let mut findings = Vec::new();
    let first = &accounts[0];
    let access = f.status == Status::AccessDenied;

    // Each credential.
    if access && accounts.len() > 1 {
        let mut works = Vec::new();
        let mut same = true;
        for (i, a) in accounts.iter().enumerate().skip(1) {
            let (p, w) = probe_walk(
                ctx,
                "credential",
                account_label(accounts, i),
                &args.host,
                &a.creds,
                args.auth_level,
            )
            .await;
            if p.ok {
                works.push(account_label(accounts, i));
            }
            same &= p.failed_step == Some(failed.step) && !p.ok;
            probes.push(p);
            drop(w);
        }
        if !works.is_empty() {
            findings.push(format!(
                "{} works where {} fails: the host is reachable and WMI is usable; the problem is \
                 {}'s password or rights",
                works.join(", "),
                account_label(accounts, 0),
                account_label(accounts, 0)
            ));
        } else if same {
            findings.push(format!(
                "every credential fails at {}: look at the host's configuration rather than \
                 one account",
                failed.step
            ));
        }
    }

    // Packet integrity versus privacy.
    let denied_here = matches!(failed.step, "activation" | "login-cimv2" | "login-default")
        && (failed.err.is_access_denied() || failed.err.hresult() == Some(0x8004_1087));
    if denied_here {
        let mut better = None;
        let mut same = Vec::new();
        for level in [Level::Integrity, Level::Privacy] {
            if level == args.auth_level {
                continue;
            }
            let (p, w) = probe_walk(
                ctx,
                "auth-level",
                level.text().to_string(),
                &args.host,
                &first.creds,
                level,
            )
            .await;
            if progress(&w) > progress(main) {
                better.get_or_insert(level);
            } else {
                same.push(level.text());
            }
            probes.push(p);
        }
        match better {
            Some(level) => {
                let why = if failed.step == "activation" {
                    "the host requires a higher authentication level for DCOM activation \
                     (the KB5004442 hardening: packet integrity at least)"
                } else {
                    "the namespace requires an encrypted connection \
                     (WBEM_E_ENCRYPTED_CONNECTION_REQUIRED: packet privacy)"
                };
                findings.push(format!(
                    "at {} the {} step works where {} fails: {why}; use --auth-level {} \
                     (winventory's default is packet privacy)",
                    level.text(),
                    failed.step,
                    args.auth_level.text(),
                    match level {
                        Level::Connect => "connect",
                        Level::Integrity => "integrity",
                        Level::Privacy => "privacy",
                    }
                ));
            }
            None if !same.is_empty() => findings.push(format!(
                "{} fails the same way: not an authentication-level requirement but the \
                 account's rights",
                same.join(" and ")
            )),
            None => {}
        }
    }

    // The name versus its address.
    if literal(&args.host).is_none() && failed.step != "resolve" {
        if failed.step == "tcp-135" {
            for ip in &main.addrs {
                let t0 = Instant::now();
                let addr = SocketAddr::new(*ip, ctx.port);
                let r = tcp_connect(addr, ctx.deadlines.connect, Stage::Connect135).await;
                probes.push(ProbeResult {
                    kind: "address",
                    subject: addr.to_string(),
                    ok: r.is_ok(),
                    ms: millis(t0.elapsed()),
                    failed_step: r.is_err().then_some("tcp-135"),
                    detail: match r {
                        Ok(()) => "accepted".into(),
                        Err(e) => connect_text(&e),
                    },
                });
            }
        } else if let Some(ip) = main.addrs.first() {
            let (p, w) = probe_walk(
                ctx,
                "address",
                ip.to_string(),
                &ip.to_string(),
                &first.creds,
                args.auth_level,
            )
            .await;
            if progress(&w) > progress(main) {
                findings.push(format!(
                    "the address {ip} gets further than the name {}: the name is the problem \
                     (it points elsewhere, or the host refuses it)",
                    args.host
                ));
            } else {
                findings.push(format!(
                    "the name {} and its address {ip} fail alike: not a name problem",
                    args.host
                ));
            }
            probes.push(p);
        }
    }

    // The activation reply's bindings versus what is reachable.
    if dynamic_silent(failed) {
        if let Some(act) = &main.activation {
            let (mut p, f) = probe_bindings(ctx, act).await;
            probes.append(&mut p);
            findings.extend(f);
        }
    }
    (probes, findings)
}

/// Tries every endpoint of the OXID bindings: TCP, then an unauthenticated RPC bind.
async fn probe_bindings(ctx: &Ctx, act: &Activation) -> (Vec<ProbeResult>, Vec<String>) {
    let dialled = act.epm_addr.ip();
    let mut probes = Vec::new();
    let mut answered: Vec<(SocketAddr, bool)> = Vec::new();
    for c in act.candidates() {
        let t0 = Instant::now();
        let subject = candidate_text(&c, dialled);
        let addrs = match &c {
            Candidate::Addr(a) => vec![*a],
            Candidate::Name(n, p) => match resolve_name(&ctx.resolver, n).await {
                Ok(ips) => ips.into_iter().map(|ip| SocketAddr::new(ip, *p)).collect(),
                Err(why) => {
                    probes.push(ProbeResult {
                        kind: "binding",
                        subject,
                        ok: false,
                        ms: millis(t0.elapsed()),
                        failed_step: None,
                        detail: format!("does not resolve here: {why}"),
                    });
                    continue;
                }
            },
        };
        for a in addrs {
            let t0 = Instant::now();
            let (ok, detail) = endpoint_answers(ctx, a).await;
            answered.push((a, ok));
            let subject = match &c {
                Candidate::Name(..) => format!("{subject} = {a}"),
                Candidate::Addr(_) => subject.clone(),
            };
            probes.push(ProbeResult {
                kind: "binding",
                subject,
                ok,
                ms: millis(t0.elapsed()),
                failed_step: None,
                detail,
            });
        }
    }
    let findings = binding_findings(dialled, &dynamic_ports(Some(act)), &answered);
    (probes, findings)
}

/// What the binding probes tell: `answered` holds each endpoint tried and whether it
/// answered RPC; `dialled` is the address port 135 was reached at.
fn binding_findings(dialled: IpAddr, ports: &str, answered: &[(SocketAddr, bool)]) -> Vec<String> {
    let mut others: Vec<IpAddr> = Vec::new();
    for (a, _) in answered {
        if a.ip() != dialled && !others.contains(&a.ip()) {
            others.push(a.ip());
        }
    }
    let dialled_answers = answered.iter().any(|(a, ok)| a.ip() == dialled && *ok);
    let other_answers = answered.iter().any(|(a, ok)| a.ip() != dialled && *ok);
    let mut findings = Vec::new();
    if !others.is_empty() && !other_answers && !dialled_answers {
        let list: Vec<String> = others.iter().map(IpAddr::to_string).collect();
        findings.push(format!(
            "the activation reply names {} while {dialled} was dialled, and none of them \
             answers from here: the host is behind NAT or multi-homed; open the dynamic port \
             at the address dialled (winventory tries it first with the binding's port)",
            list.join(", ")
        ));
    } else if other_answers && !dialled_answers {
        findings.push(format!(
            "the bindings' own address answers where {dialled} does not: the host is \
             multi-homed or behind NAT, and the address in the bindings is the one to use"
        ));
    }
    if !dialled_answers {
        findings.push(format!(
            "the dynamic port {ports} does not answer at {dialled} although port 135 does: a \
             firewall lets 135 through but blocks the RPC dynamic port range"
        ));
    }
    findings
}

/// TCP, then an unauthenticated bind: (answers RPC, what happened).
async fn endpoint_answers(ctx: &Ctx, a: SocketAddr) -> (bool, String) {
    if let Err(e) = tcp_connect(a, ctx.deadlines.connect, Stage::ConnectDynamic).await {
        return (false, format!("TCP {}", connect_text(&e)));
    }
    match rpc_answers(a, IWBEMLEVEL1LOGIN, ctx.deadlines, Stage::BindDynamic).await {
        Ok(()) => (true, "TCP accepted; RPC bind answered".into()),
        Err(e) if matches!(e.cause(), Cause::BindRejected(_)) => (
            true,
            format!(
                "TCP accepted; RPC answered with a rejection ({})",
                e.cause()
            ),
        ),
        Err(e) if e.is_timeout() => (
            false,
            format!(
                "TCP accepted; no RPC answer within {:.1} s",
                ctx.deadlines.call.as_secs_f64()
            ),
        ),
        Err(e) => (false, format!("TCP accepted; then {}", e.cause())),
    }
}

fn explain(args: &DiagnoseArgs, accounts: &[Account], w: &Walk, failed: &Failed) -> FailureReport {
    let f = classify(&failed.err, failed.role);
    let entry = f.explanation();
    FailureReport {
        step: failed.step,
        status: f.status,
        status_text: f.status.display_text(),
        stage: f.stage.clone(),
        code: f.code,
        code_hex: f.code.map(|c| format!("{c:#010x}")),
        code_name: f.code_name.clone(),
        phase: f.phase,
        category: f.category,
        denied_by: f.denied_by,
        retry: f.retry,
        layer: entry.map(|e| e.layer),
        headline: headline(&args.host, args.port, &accounts[0].name, failed, &f, w),
        message: failed.err.to_string(),
        explained_by: entry.map(|e| e.name.clone()),
        causes: entry.map(|e| e.causes.clone()).unwrap_or_default(),
        checks: entry.map(|e| e.checks.clone()).unwrap_or_default(),
        remediation: entry.map(|e| e.remediation.clone()).unwrap_or_default(),
        probes: Vec::new(),
        findings: Vec::new(),
    }
}

/// Runs the walk and the probes.
async fn diagnose(args: &DiagnoseArgs, accounts: &[Account], ctx: &Ctx) -> Report {
    let first = &accounts[0];
    let w = walk(ctx, &args.host, &first.creds, args.auth_level).await;
    let failure = match &w.failed {
        None => None,
        Some(failed) => {
            let mut rep = explain(args, accounts, &w, failed);
            if !args.no_probes {
                let f = classify(&failed.err, failed.role);
                let (probes, findings) = narrow(ctx, args, accounts, &w, failed, &f).await;
                rep.probes = probes;
                rep.findings = findings;
            }
            Some(rep)
        }
    };
    let exit_code = failure.as_ref().map_or(exit::OK, |f| exit_for(f.status));
    Report {
        host: args.host.clone(),
        port: args.port,
        auth_level: args.auth_level.text(),
        users: accounts.iter().map(|a| a.name.clone()).collect(),
        ok: failure.is_none(),
        steps: w.steps,
        failure,
        exit_code,
    }
}

/// The report as text for people.
pub fn render_text(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "winventory diagnose {} (port {}, {}, {})\n",
        r.host,
        r.port,
        r.users.first().map_or("", String::as_str),
        r.auth_level
    );
    let width = r.steps.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for s in &r.steps {
        let mark = if s.skipped {
            "skip"
        } else if s.ok {
            "ok"
        } else {
            "FAIL"
        };
        let _ = writeln!(
            out,
            "  {mark:<4}  {:<width$}  {:>6} ms  {}",
            s.name, s.ms, s.detail
        );
    }
    let Some(f) = &r.failure else {
        let _ = writeln!(
            out,
            "\nEvery step succeeded: {} can be inventoried.",
            r.host
        );
        return out;
    };
    let _ = writeln!(out, "\nFailed at {}: {}.", f.step, f.headline);
    let _ = writeln!(out, "  status    {} ({})", f.status, f.status_text);
    if let Some(c) = &f.code_hex {
        let _ = writeln!(
            out,
            "  code      {c}{}",
            f.code_name
                .as_deref()
                .map(|n| format!(" {n}"))
                .unwrap_or_default()
        );
    }
    let mut where_ = vec![format!("stage {}", f.stage)];
    if let Some(l) = f.layer {
        where_.push(format!("layer {}", kebab(json!(l))));
    }
    where_.push(format!("category {}", kebab(json!(f.category))));
    where_.push(format!("phase {}", kebab(json!(f.phase))));
    if let Some(d) = f.denied_by {
        where_.push(format!("denied by {}", d.as_str()));
    }
    if f.retry {
        where_.push("retry-class".into());
    }
    let _ = writeln!(out, "  where     {}", where_.join(", "));
    let _ = writeln!(out, "  error     {}", f.message);
    if let Some(e) = &f.explained_by {
        let _ = writeln!(out, "  explained by the knowledge base entry {e}");
    }
    let list = |out: &mut String, title: &str, items: &[String]| {
        if items.is_empty() {
            return;
        }
        let _ = writeln!(out, "\n{title}:");
        for (i, it) in items.iter().enumerate() {
            let _ = writeln!(out, "  {}. {it}", i + 1);
        }
    };
    list(&mut out, "Likely causes", &f.causes);
    list(&mut out, "Checks", &f.checks);
    list(&mut out, "Remediation, in this order", &f.remediation);
    if !f.probes.is_empty() {
        let _ = writeln!(out, "\nProbes:");
        for p in &f.probes {
            let _ = writeln!(
                out,
                "  {:<4}  {:<10}  {}  ({} ms): {}",
                if p.ok { "ok" } else { "FAIL" },
                p.kind,
                p.subject,
                p.ms,
                p.detail
            );
        }
    }
    if !f.findings.is_empty() {
        let _ = writeln!(out, "\nFindings:");
        for x in &f.findings {
            let _ = writeln!(out, "  - {x}");
        }
    }
    out
}

/// A serialized enum's identifier (`core-wmi`, `connecting`).
fn kebab(v: Json) -> String {
    match v {
        Json::String(s) => s,
        _ => String::new(),
    }
}

impl Step {
    fn to_json(&self) -> Json {
        json!({
            "name": self.name,
            "ok": self.ok,
            "skipped": self.skipped,
            "ms": self.ms,
            "detail": self.detail,
        })
    }
}

impl ProbeResult {
    fn to_json(&self) -> Json {
        json!({
            "kind": self.kind,
            "subject": self.subject,
            "ok": self.ok,
            "ms": self.ms,
            "failed_step": self.failed_step,
            "detail": self.detail,
        })
    }
}

impl FailureReport {
    fn to_json(&self) -> Json {
        json!({
            "step": self.step,
            "status": self.status,
            "status_text": self.status_text,
            "stage": self.stage,
            "code": self.code,
            "code_hex": self.code_hex,
            "code_name": self.code_name,
            "phase": self.phase,
            "category": self.category,
            "denied_by": self.denied_by,
            "retry": self.retry,
            "layer": self.layer,
            "headline": self.headline,
            "message": self.message,
            "explained_by": self.explained_by,
            "causes": self.causes,
            "checks": self.checks,
            "remediation": self.remediation,
            "probes": self.probes.iter().map(ProbeResult::to_json).collect::<Vec<_>>(),
            "findings": self.findings,
        })
    }
}

impl Report {
    /// The report for tools (`--json`).
    pub fn to_json(&self) -> Json {
        json!({
            "host": self.host,
            "port": self.port,
            "auth_level": self.auth_level,
            "users": self.users,
            "ok": self.ok,
            "steps": self.steps.iter().map(Step::to_json).collect::<Vec<_>>(),
            "failure": self.failure.as_ref().map(FailureReport::to_json),
            "exit_code": self.exit_code,
        })
    }
}

/// Runs the command.
pub fn run(args: DiagnoseArgs) -> Result<ExitCode> {
    let accounts = accounts(&args)?;
    let connect = Duration::from_secs_f64(args.timeout_connect);
    let call = Duration::from_secs_f64(args.timeout_call);
    let server = match &args.dns_server {
        Some(s) => DnsServer::parse(s)?,
        None => DnsServer::System,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    let report = rt.block_on(async {
        let resolver = Resolver::new(ResolveConfig {
            server,
            attempt_timeout: connect,
            attempts: 2,
        })?;
        let ctx = Ctx {
            port: args.port,
            deadlines: Deadlines {
                connect,
                read: call,
                call,
            },
            resolver,
        };
        anyhow::Ok(diagnose(&args, &accounts, &ctx).await)
    })?;
    if args.json {
        let mut s = serde_json::to_string_pretty(&report.to_json())?;
        s.push('\n');
        print!("{s}");
    } else {
        print!("{}", render_text(&report));
    }
    Ok(ExitCode::from(report.exit_code))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn failed(step: &'static str, err: ClientError) -> Failed {
        Failed {
            step,
            err,
            role: NamespaceRole::Cimv2,
        }
    }

    #[test]
    fn silent_dynamic_bind_is_rpc_server_unavailable_not_a_query_timeout() {
        let f = failed(
            "bind-dynamic",
            ClientError::new(
                Stage::BindDynamic,
                Cause::Timeout {
                    what: "bind",
                    after: Duration::from_secs(1),
                },
            ),
        );
        let c = classify(&f.err, f.role);
        assert_eq!(c.status, Status::RpcServerUnavailable);
        assert_eq!(c.code, Some(0x8007_06ba));
        assert_eq!(c.stage, "bind-dynamic");
        assert!(dynamic_silent(&f));
        assert_eq!(exit_for(c.status), exit::CONNECTION);
        // The remediation is the firewall's: the WMI rule group first.
        let e = c.explanation().unwrap();
        assert_eq!(e.name, "RPC_S_SERVER_UNAVAILABLE");
        assert!(e.remediation[0].contains("windows management instrumentation (wmi)"));
    }

    #[test]
    fn bind_rejection_is_explained_as_no_dcom() {
        let err = ClientError::new(Stage::Bind135, Cause::BindRejected("x".into()));
        assert!(no_dcom(&err));
        let f = failed("bind-135", err);
        let c = classify(&f.err, f.role);
        assert_eq!(c.status, Status::RpcServerUnavailable);
        assert_eq!(
            c.explanation().map(|e| e.name.as_str()),
            Some("RPC_S_UNKNOWN_IF")
        );
        let w = Walk {
            steps: Vec::new(),
            failed: None,
            addrs: Vec::new(),
            activation: None,
        };
        let h = headline("h", 135, "u", &f, &c, &w);
        assert!(
            h.contains("offers no DCOM activation (not Windows, or DCOM disabled)"),
            "{h}"
        );
        let fault = ClientError::new(
            Stage::Activation,
            Cause::Fault {
                status: 0x1c01_0003,
            },
        );
        assert!(no_dcom(&fault));
        let other = ClientError::new(Stage::Activation, Cause::Fault { status: 1726 });
        assert!(!no_dcom(&other));
    }

    #[test]
    fn logon_refusal_is_explained_as_a_logon_failure() {
        let f = failed(
            "activation",
            ClientError::new(Stage::Bind135, Cause::AuthenticationFailed("x".into())),
        );
        let c = classify(&f.err, f.role);
        assert_eq!(c.status, Status::AccessDenied);
        assert_eq!(
            c.explanation().map(|e| e.name.as_str()),
            Some("ERROR_LOGON_FAILURE")
        );
        assert_eq!(exit_for(c.status), exit::ACCESS);
    }

    #[test]
    fn exit_codes_follow_the_status() {
        assert_eq!(exit_for(Status::Inventoried), 0);
        assert_eq!(exit_for(Status::ConnectionRefused), 3);
        assert_eq!(exit_for(Status::MachineNotFound), 3);
        assert_eq!(exit_for(Status::AccessDenied), 4);
        assert_eq!(exit_for(Status::Cimv2NamespaceInvalid), 5);
        assert_eq!(exit_for(Status::RpcCallFailed), 5);
        assert_eq!(exit_for(Status::WmiQueryTimeout), 6);
    }

    #[test]
    fn seconds_are_checked() {
        assert_eq!(positive_secs("1.5").unwrap(), 1.5);
        assert!(positive_secs("0").is_err());
        assert!(positive_secs("-1").is_err());
        assert!(positive_secs("nan").is_err());
        assert!(positive_secs("x").is_err());
    }

    #[test]
    fn nat_is_told_from_a_blocked_dynamic_port() {
        let dialled: IpAddr = "192.0.2.7".parse().unwrap();
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        // Behind NAT: the bindings name a private address that is not reachable.
        let f = binding_findings(
            dialled,
            "49670",
            &[
                (at("192.0.2.7:49670"), false),
                (at("10.0.0.5:49670"), false),
            ],
        );
        assert!(
            f[0].contains("names 10.0.0.5 while 192.0.2.7 was dialled"),
            "{f:?}"
        );
        assert!(f[0].contains("NAT"), "{f:?}");
        assert!(f[1].contains("dynamic port 49670 does not answer at 192.0.2.7"));
        // The same address in the bindings: only the firewall finding.
        let f = binding_findings(dialled, "49670", &[(at("192.0.2.7:49670"), false)]);
        assert_eq!(f.len(), 1);
        assert!(f[0].contains("blocks the RPC dynamic port range"));
        // The bindings' own address answers: multi-homed or NAT, that address works.
        let f = binding_findings(
            dialled,
            "49670",
            &[(at("192.0.2.7:49670"), false), (at("10.0.0.5:49670"), true)],
        );
        assert!(f[0].contains("the bindings' own address answers"), "{f:?}");
        // The dialled address answers: nothing to say about NAT or the firewall.
        let f = binding_findings(dialled, "49670", &[(at("192.0.2.7:49670"), true)]);
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn literal_addresses() {
        assert!(literal("10.0.0.1").is_some());
        assert!(literal("[::1]").is_some());
        assert!(literal("host.example").is_none());
    }
}
