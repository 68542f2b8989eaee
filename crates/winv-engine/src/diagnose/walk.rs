//! One walk through the connection flow and the inventory's first calls, recorded step by
//! step: the flow's own steps come from [`winv_client::flow`] through an observer; the
//! steps after the login (a query, `root\default`, `StdRegProv`, a registry read) are
//! done here on the session the flow returned.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use winv_client::binding::NCACN_IP_TCP;
use winv_client::flow::{
    Activation, FlowConfig, FlowObserver, FlowStep, NameResolver, Origin, Seen, StepReport,
    Target, Tried,
};
use winv_client::registry::{is_not_found, Hive};
use winv_client::{AuthLevel, Cause, ClientError, Deadlines, Mechanism, WmiOptions};

use crate::classify::NamespaceRole;

/// The namespace of the inventory classes.
pub const CIMV2: &str = r"root\cimv2";
/// The namespace of `StdRegProv`.
pub const DEFAULT_NS: &str = r"root\default";
/// The query of the `query` step.
pub const OS_QUERY: &str = "SELECT Caption FROM Win32_OperatingSystem";
/// The registry value of the `registry-read` step.
pub const REG_KEY: &str = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion";
/// Its value name.
pub const REG_VALUE: &str = "ProductName";

/// The steps of a walk, in order: the connection flow's (its login named after the
/// namespace), then the inventory's first calls.
pub const STEPS: [&str; 11] = [
    "resolve",
    "tcp-135",
    "bind-135",
    "activation",
    "tcp-dynamic",
    "bind-dynamic",
    "login-cimv2",
    "query",
    "login-default",
    "get-stdregprov",
    "registry-read",
];

/// A flow step's name in a walk.
pub fn step_name(s: FlowStep) -> &'static str {
    match s {
        FlowStep::Login => "login-cimv2",
        other => other.as_str(),
    }
}

/// One step of the walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// `resolve`, `tcp-135`, ... ([`STEPS`]).
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

/// The failure of a walk: the step, the client error, the namespace being used.
#[derive(Debug)]
pub struct Failed {
    /// The step that failed.
    pub step: &'static str,
    /// The error.
    pub err: ClientError,
    /// The namespace being opened or used.
    pub role: NamespaceRole,
}

/// The result of one walk.
#[derive(Debug, Default)]
pub struct Walk {
    /// The steps done, up to the first failure.
    pub steps: Vec<Step>,
    /// The failure, when one step failed.
    pub failed: Option<Failed>,
    /// The name's addresses (or the address given).
    pub addrs: Vec<IpAddr>,
    /// The activation's result, when it got that far.
    pub activation: Option<Activation>,
}

impl Walk {
    /// How far it got: the number of steps that succeeded.
    pub fn progress(&self) -> usize {
        self.steps.iter().filter(|s| s.ok).count()
    }

    fn push(&mut self, name: &'static str, t0: Instant, r: Result<String, String>) {
        let (ok, detail) = match r {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        self.steps.push(Step {
            name,
            ok,
            skipped: false,
            ms: millis(t0.elapsed()),
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

/// Milliseconds, saturating.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// An authentication level in words.
pub fn level_text(level: AuthLevel) -> &'static str {
    match level {
        AuthLevel::PktPrivacy => "packet privacy",
        AuthLevel::PktIntegrity => "packet integrity",
        _ => "connect",
    }
}

/// The `--auth-level` value of a level.
pub fn level_flag(level: AuthLevel) -> &'static str {
    match level {
        AuthLevel::PktPrivacy => "privacy",
        AuthLevel::PktIntegrity => "integrity",
        _ => "connect",
    }
}

/// The OXID bindings as text.
pub fn bindings_text(act: &Activation) -> String {
    let list: Vec<String> = act
        .string_bindings
        .iter()
        .map(|b| {
            if b.tower_id == NCACN_IP_TCP {
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

/// An endpoint of the dynamic step in words.
pub fn origin_text(addr: SocketAddr, origin: &Origin) -> String {
    match origin {
        Origin::Dialled => format!("{addr} (the address dialled)"),
        Origin::Binding => format!("{addr} (from the bindings)"),
        Origin::BindingName(n) => format!("{n}[{}] (a name from the bindings) = {addr}", addr.port()),
    }
}

fn tried_text(t: &Tried) -> String {
    match t {
        Tried::Connect {
            addr,
            origin,
            failure,
        } => match origin {
            Origin::BindingName(_) => format!("{}: {}", origin_text(*addr, origin), failure.as_str()),
            _ => format!("{addr}: {}", failure.as_str()),
        },
        Tried::Resolve { name, port, detail } => {
            format!("{name}[{port}] (a name from the bindings): {detail}")
        }
    }
}

/// Turns the flow's reports into the walk's steps.
struct Recorder<'a> {
    walk: &'a mut Walk,
    host: &'a str,
    failed_step: Option<&'static str>,
}

impl FlowObserver for Recorder<'_> {
    fn on_step(&mut self, r: &StepReport<'_>) {
        let name = step_name(r.step);
        let ms = millis(r.elapsed);
        let tried: Vec<String> = r.tried.iter().map(tried_text).collect();
        let (ok, skipped, detail) = match r.outcome {
            Ok(seen) => {
                let (skipped, detail) = self.seen(r.step, seen, &tried);
                (true, skipped, detail)
            }
            Err(e) => {
                self.failed_step = Some(name);
                let d = match r.step {
                    FlowStep::Tcp135 if tried.len() > 1 => tried.join("; "),
                    FlowStep::TcpDynamic if !tried.is_empty() => tried.join("; "),
                    _ => e.cause().to_string(),
                };
                (false, false, d)
            }
        };
        self.walk.steps.push(Step {
            name,
            ok,
            skipped,
            ms,
            detail,
        });
    }
}

impl Recorder<'_> {
    fn seen(&mut self, step: FlowStep, seen: &Seen, tried: &[String]) -> (bool, String) {
        let mech = |m: &str| m.to_ascii_uppercase();
        match seen {
            Seen::Resolved { addrs, skipped } => {
                self.walk.addrs.clone_from(addrs);
                if *skipped {
                    let list: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
                    (true, format!("skipped: {} is an address", list.join(", ")))
                } else {
                    let list: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
                    (false, format!("{} is {}", self.host, list.join(", ")))
                }
            }
            Seen::Accepted { addr, origin } => {
                let mut d = if step == FlowStep::TcpDynamic {
                    format!("{} accepted", origin_text(*addr, origin))
                } else {
                    format!("{addr} accepted")
                };
                if !tried.is_empty() {
                    let _ = write!(d, " (before it: {})", tried.join("; "));
                }
                (false, d)
            }
            Seen::Bound {
                addr,
                mechanism,
                level,
            } => {
                let d = if step == FlowStep::Bind135 {
                    format!(
                        "ISystemActivator bound with {} at {} (the logon is confirmed by the next call)",
                        mech(mechanism),
                        level_text(*level)
                    )
                } else {
                    format!(
                        "IWbemLevel1Login bound on {addr} with {} at {}",
                        mech(mechanism),
                        level_text(*level)
                    )
                };
                (false, d)
            }
            Seen::Activated(act) => {
                self.walk.activation = Some((**act).clone());
                (
                    false,
                    format!("OXID {:#018x}; bindings: {}", act.oxid, bindings_text(act)),
                )
            }
            Seen::LoggedIn { namespace } => (false, format!("NTLMLogin {namespace}")),
        }
    }
}

/// What stays the same across a walk and its probes.
#[derive(Clone)]
pub struct Ctx {
    /// The endpoint mapper port.
    pub port: u16,
    /// The deadlines of every connection.
    pub deadlines: Deadlines,
    /// The resolver of names (the target's and the bindings').
    pub resolver: Arc<dyn NameResolver>,
}

/// Most objects one query of a diagnosis may return: it reads one row of
/// `Win32_OperatingSystem` (and `__NAMESPACE` has a few dozen); more is a host that never
/// ends the enumeration.
pub const DIAGNOSE_MAX_RESULTS: usize = 1024;

/// Most octets the decoded objects of one query of a diagnosis may hold (1 MiB: the one
/// row it reads, with its class, is a few KiB), so that a host that never ends an
/// enumeration costs a diagnosis little memory and little time.
pub const DIAGNOSE_RESULT_BYTES: usize = 1 << 20;

/// Walks the flow to `host` with `mechanism` at `level`; stops at the first failure.
pub async fn walk(ctx: &Ctx, host: &str, mechanism: Arc<dyn Mechanism>, level: AuthLevel) -> Walk {
    let mut w = Walk::default();
    let opts = WmiOptions {
        auth_level: level,
        epm_port: ctx.port,
        deadlines: ctx.deadlines,
        enum_timeout: ctx.deadlines.call.min(Duration::from_secs(10)),
        max_results: DIAGNOSE_MAX_RESULTS,
        max_result_bytes: DIAGNOSE_RESULT_BYTES,
        // An enumeration may run two call deadlines: a diagnosis reads one row, and one
        // without any object for a call deadline is a timeout of its own.
        max_query_time: ctx.deadlines.call.saturating_mul(2),
        ..WmiOptions::default()
    };
    let config = FlowConfig {
        opts,
        mechanism,
        resolver: Some(ctx.resolver.clone()),
        rate: None,
    };
    let mut rec = Recorder {
        walk: &mut w,
        host,
        failed_step: None,
    };
    // Boxed: the flow's future is large.
    let r = Box::pin(winv_client::flow::connect(Target::new(host), &config, Some(&mut rec))).await;
    let failed_step = rec.failed_step;
    let mut client = match r {
        Ok(c) => c,
        Err(err) => {
            let step = restage(&mut w.steps, failed_step.unwrap_or("tcp-135"), &err);
            w.failed = Some(Failed {
                step,
                err,
                role: NamespaceRole::Cimv2,
            });
            return w;
        }
    };
    after_login(&mut w, &mut client).await;
    // Quiet, and bounded: the walk's result does not depend on the release.
    let _ = tokio::time::timeout(ctx.deadlines.call, client.close()).await;
    w
}

/// The step a failure is reported at, as the flow reports it: a logon refused at a bind
/// shows on the call after it (NTLM's last leg gets no reply), and the flow gives the
/// bind's stage; the step table then says the same: the bind failed, and the call that
/// showed it is not a step of its own.
fn restage(steps: &mut Vec<Step>, observed: &'static str, err: &ClientError) -> &'static str {
    let Some(bind) = FlowStep::ALL
        .into_iter()
        .filter(|s| matches!(s, FlowStep::Bind135 | FlowStep::BindDynamic))
        .find(|s| s.stage() == err.stage())
    else {
        return observed;
    };
    let name = step_name(bind);
    let Some(at) = steps.iter().position(|s| s.name == name) else {
        return observed;
    };
    if name == observed {
        return observed;
    }
    let shown = steps
        .iter()
        .rev()
        .find(|s| s.name == observed)
        .map(|s| s.detail.clone())
        .unwrap_or_else(|| err.cause().to_string());
    steps.truncate(at + 1);
    if let Some(s) = steps.get_mut(at) {
        s.ok = false;
        s.detail = format!("the logon was refused (seen on the call after the bind, {observed}): {shown}");
    }
    name
}

/// The steps after the login: a query, `root\default`, `StdRegProv`, a registry read.
async fn after_login(w: &mut Walk, client: &mut winv_client::WmiClient) {
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
            let shown = if captions.is_empty() {
                String::new()
            } else {
                format!(", Caption = {}", captions.join(" / "))
            };
            w.push("query", t0, Ok(format!("{OS_QUERY}: {} row(s){shown}", rows.len())));
        }
        Err(e) => return w.fail("query", t0, e, NamespaceRole::Cimv2),
    }

    // login-default
    let t0 = Instant::now();
    if let Err(e) = client.open_namespace(DEFAULT_NS).await {
        return w.fail("login-default", t0, e, NamespaceRole::StdRegProv);
    }
    w.push("login-default", t0, Ok(format!("NTLMLogin {DEFAULT_NS}")));

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

/// A connect failure in a few words.
pub fn connect_text(e: &ClientError) -> String {
    match e.cause() {
        Cause::Connect(c) => c.failure.as_str().to_string(),
        other => other.to_string(),
    }
}
