//! Diagnosis of one host (`winventory diagnose`): walk the connection flow a step at a time
//! ([`walk`]), stop at the first failure, explain it through the engine's classification
//! and the knowledge base, then narrow the cause with extra probes: each other credential,
//! the other authentication level, the address instead of the name, each endpoint of the
//! OXID bindings. The binary only renders the [`Report`].
//!
//! The knowledge of what the probes tell lives in pure functions
//! ([`credential_findings`], [`level_finding`], [`name_finding`], [`binding_findings`],
//! [`headline`]), unit-tested over recorded walks.
//!
//! NTLM's last leg gets no reply, so a refused logon shows on the call after a bind (the
//! activation, or the first login): the failing step is that call, the failure's stage
//! the bind's.

pub mod walk;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use winv_client::binding::Candidate;
use winv_client::flow::{literal, rpc_answers, tcp_answers, Activation};
use winv_client::{AuthLevel, Cause, ClientError, Mechanism, Stage};
use winv_dcerpc::interfaces::IWBEMLEVEL1LOGIN;

use crate::classify::{classify, NO_DCOM};
use crate::record::{DeniedBy, Failure};
use crate::status::Status;
pub use walk::{Ctx, Failed, Step, Walk, STEPS};
use walk::{connect_text, level_flag, level_text, millis};

/// One account to walk with: its name as written and its mechanism.
#[derive(Clone, Debug)]
pub struct Account {
    /// `LAB\admin`.
    pub name: String,
    /// The mechanism with its credentials.
    pub mechanism: Arc<dyn Mechanism>,
    /// The other mechanism with the same account (NTLM for Kerberos, Kerberos for NTLM),
    /// probed when the first one is refused.
    pub alternate: Option<Arc<dyn Mechanism>>,
}

/// What to diagnose.
#[derive(Clone, Debug)]
pub struct Options {
    /// The host as given.
    pub host: String,
    /// The endpoint mapper port.
    pub port: u16,
    /// The authentication level of the walk.
    pub level: AuthLevel,
    /// Run the extra probes after a failure.
    pub probes: bool,
}

/// One extra probe after the failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeResult {
    /// `credential`, `mechanism`, `auth-level`, `address` or `binding`.
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
    /// The classified failure (status, stage, code, phase, category, who refused).
    pub failure: Failure,
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
    pub level: AuthLevel,
    /// The accounts, in order (names only).
    pub users: Vec<String>,
    /// The steps done, up to the first failure.
    pub steps: Vec<Step>,
    /// The failure, explained.
    pub failure: Option<FailureReport>,
}

impl Report {
    /// Every step succeeded.
    pub fn ok(&self) -> bool {
        self.failure.is_none()
    }

    /// The authentication level in words.
    pub fn level_text(&self) -> &'static str {
        level_text(self.level)
    }
}

/// Runs the walk with the first account, then, after a failure, the probes.
pub async fn diagnose(opts: &Options, accounts: &[Account], ctx: &Ctx) -> Report {
    let users = accounts.iter().map(|a| a.name.clone()).collect();
    let Some(first) = accounts.first() else {
        return Report {
            host: opts.host.clone(),
            port: opts.port,
            level: opts.level,
            users,
            steps: Vec::new(),
            failure: None,
        };
    };
    let w = walk::walk(ctx, &opts.host, first.mechanism.clone(), opts.level).await;
    let failure = match &w.failed {
        None => None,
        Some(failed) => {
            let mut rep = explain(opts, &first.name, &w, failed);
            if opts.probes {
                let (probes, findings) = narrow(ctx, opts, accounts, &w, failed).await;
                rep.probes = probes;
                rep.findings = findings;
            }
            Some(rep)
        }
    };
    Report {
        host: opts.host.clone(),
        port: opts.port,
        level: opts.level,
        users,
        steps: w.steps,
        failure,
    }
}

/// Explains the failure of `w` from the knowledge base.
pub fn explain(opts: &Options, user: &str, w: &Walk, failed: &Failed) -> FailureReport {
    let f = classify(&failed.err, failed.role);
    let x = f.explained(false);
    let entry = x.as_ref().map(|x| x.entry);
    FailureReport {
        step: failed.step,
        // A refused logon is the account's, whatever layer its code belongs to.
        layer: if f.denied_by == Some(DeniedBy::Authentication) {
            Some(winv_kb::Layer::Auth)
        } else {
            entry.map(|e| e.layer)
        },
        headline: headline(&opts.host, opts.port, user, failed, &f, w),
        message: failed.err.to_string(),
        explained_by: entry.map(|e| e.name.clone()),
        causes: x.as_ref().map(|x| x.causes.clone()).unwrap_or_default(),
        checks: entry.map(|e| e.checks.clone()).unwrap_or_default(),
        remediation: x.map(|x| x.remediation).unwrap_or_default(),
        probes: Vec::new(),
        findings: Vec::new(),
        failure: f,
    }
}

/// Whether the host rejected the activation interface: it speaks RPC, but no DCOM (as
/// the engine's classification says).
pub fn no_dcom(err: &ClientError) -> bool {
    classify(err, crate::classify::NamespaceRole::Cimv2)
        .message
        .starts_with(NO_DCOM)
}

/// Whether the dynamic endpoint did not answer: its TCP connect failed, or its bind got
/// no answer (or the connection broke) before any reply.
pub fn dynamic_silent(f: &Failed) -> bool {
    match f.step {
        "tcp-dynamic" => matches!(f.err.cause(), Cause::Timeout { .. } | Cause::Connect(_)),
        "bind-dynamic" => matches!(
            f.err.cause(),
            Cause::Timeout { .. } | Cause::Rpc(_) | Cause::Connect(_)
        ),
        _ => false,
    }
}

/// The dynamic ports of the activation's bindings, as text.
pub fn dynamic_ports(act: Option<&Activation>) -> String {
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
pub fn headline(
    host: &str,
    port: u16,
    user: &str,
    failed: &Failed,
    f: &Failure,
    w: &Walk,
) -> String {
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

/// A walk's outcome in one line, for a probe: (ok, failed step, what).
pub fn walk_summary(w: &Walk) -> (bool, Option<&'static str>, String) {
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

async fn probe_walk(
    ctx: &Ctx,
    kind: &'static str,
    subject: String,
    host: &str,
    mechanism: Arc<dyn Mechanism>,
    level: AuthLevel,
) -> (ProbeResult, Walk) {
    let t0 = Instant::now();
    let w = walk::walk(ctx, host, mechanism, level).await;
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

/// What the probe of the other mechanism tells, after `failed` (`ntlm`, `kerberos`) was
/// refused: NTLM refused where Kerberos works is a host that restricts NTLM
/// (Network security: Restrict NTLM), and the remedy is `--auth kerberos`.
pub fn mechanism_finding(failed: &str, probe: &ProbeResult) -> String {
    let other = probe.subject.as_str();
    match (probe.ok, other) {
        (true, "kerberos") => format!(
            "{failed} is refused but kerberos works with the same account: the host restricts ntlm \
             (Network security: Restrict NTLM); scan it with --auth kerberos (or negotiate)"
        ),
        (true, _) => format!(
            "{failed} fails but {other} works with the same account: scan it with --auth {other} \
             (or negotiate), and fix kerberos (setspn -L HOST, w32tm /stripchart, klist)"
        ),
        (false, _) => format!(
            "{other} fails too with the same account (at {}): the account itself is refused",
            probe.failed_step.unwrap_or("?")
        ),
    }
}

/// An account's name, with its position when the same name is given more than once.
pub fn account_label(accounts: &[Account], i: usize) -> String {
    let name = accounts.get(i).map_or("", |a| a.name.as_str());
    if accounts.iter().filter(|a| a.name == name).count() > 1 {
        format!("{name} (#{})", i + 1)
    } else {
        name.to_string()
    }
}

/// What the credential probes tell: `probes` are the walks of the other accounts (labels
/// `labels[1..]`), `failed_step` the main walk's failing step.
pub fn credential_findings(labels: &[String], probes: &[ProbeResult], failed_step: &str) -> Option<String> {
    let first = labels.first().map_or("", String::as_str);
    let works: Vec<&str> = probes
        .iter()
        .filter(|p| p.ok)
        .map(|p| p.subject.as_str())
        .collect();
    if !works.is_empty() {
        return Some(format!(
            "{} works where {first} fails: the host is reachable and WMI is usable; the problem is \
             {first}'s password or rights",
            works.join(", ")
        ));
    }
    let same = !probes.is_empty()
        && probes
            .iter()
            .all(|p| !p.ok && p.failed_step == Some(failed_step));
    same.then(|| {
        format!(
            "every credential fails at {failed_step}: look at the host's configuration rather than \
             one account"
        )
    })
}

/// What the authentication-level probes tell: `better` is the first level whose walk got
/// further than the main one, `same` the levels that fared alike.
pub fn level_finding(
    failed_step: &str,
    walked: AuthLevel,
    better: Option<AuthLevel>,
    same: &[AuthLevel],
) -> Option<String> {
    match better {
        Some(level) => {
            let why = if failed_step == "activation" {
                "the host requires a higher authentication level for DCOM activation \
                 (the KB5004442 hardening: packet integrity at least)"
            } else {
                "the namespace requires an encrypted connection \
                 (WBEM_E_ENCRYPTED_CONNECTION_REQUIRED: packet privacy)"
            };
            Some(format!(
                "at {} the {failed_step} step works where {} fails: {why}; use --auth-level {} \
                 (winventory's default is packet privacy)",
                level_text(level),
                level_text(walked),
                level_flag(level),
            ))
        }
        None if !same.is_empty() => {
            let names: Vec<&str> = same.iter().map(|l| level_text(*l)).collect();
            Some(format!(
                "{} fails the same way: not an authentication-level requirement but the \
                 account's rights",
                names.join(" and ")
            ))
        }
        None => None,
    }
}

/// What walking the address instead of the name tells.
pub fn name_finding(host: &str, ip: IpAddr, address_got_further: bool) -> String {
    if address_got_further {
        format!(
            "the address {ip} gets further than the name {host}: the name is the problem \
             (it points elsewhere, or the host refuses it)"
        )
    } else {
        format!("the name {host} and its address {ip} fail alike: not a name problem")
    }
}

/// Whether the failure at `failed` is one the authentication level may explain: the
/// activation or a login denied, or a namespace asking for an encrypted connection.
pub fn level_may_matter(failed: &Failed) -> bool {
    matches!(failed.step, "activation" | "login-cimv2" | "login-default")
        && (failed.err.is_access_denied()
            || failed.err.hresult()
                == Some(winv_wmi::consts::WBEM_E_ENCRYPTED_CONNECTION_REQUIRED.0))
}

/// The extra probes; returns (probes, findings).
async fn narrow(
    ctx: &Ctx,
    opts: &Options,
    accounts: &[Account],
    main: &Walk,
    failed: &Failed,
) -> (Vec<ProbeResult>, Vec<String>) {
    let f = classify(&failed.err, failed.role);
    let mut probes = Vec::new();
    let mut findings = Vec::new();
    let Some(first) = accounts.first() else {
        return (probes, findings);
    };

    // Each credential.
    if f.status == Status::AccessDenied && accounts.len() > 1 {
        let labels: Vec<String> = (0..accounts.len()).map(|i| account_label(accounts, i)).collect();
        let mut cred_probes = Vec::new();
        for (i, a) in accounts.iter().enumerate().skip(1) {
            let (p, _) = probe_walk(
                ctx,
                "credential",
                labels[i].clone(),
                &opts.host,
                a.mechanism.clone(),
                opts.level,
            )
            .await;
            cred_probes.push(p);
        }
        findings.extend(credential_findings(&labels, &cred_probes, failed.step));
        probes.extend(cred_probes);
    }

    // The other mechanism with the same account.
    if let Some(alt) = first
        .alternate
        .clone()
        .filter(|_| f.status == Status::AccessDenied || failed.err.kerberos().is_some())
    {
        let (p, _) = probe_walk(
            ctx,
            "mechanism",
            alt.name().to_string(),
            &opts.host,
            alt.clone(),
            opts.level,
        )
        .await;
        findings.push(mechanism_finding(first.mechanism.name(), &p));
        probes.push(p);
    }

    // Packet integrity versus privacy.
    if level_may_matter(failed) {
        let mut better = None;
        let mut same = Vec::new();
        for level in [AuthLevel::PktIntegrity, AuthLevel::PktPrivacy] {
            if level == opts.level {
                continue;
            }
            let (p, w) = probe_walk(
                ctx,
                "auth-level",
                level_text(level).to_string(),
                &opts.host,
                first.mechanism.clone(),
                level,
            )
            .await;
            if w.progress() > main.progress() {
                better.get_or_insert(level);
            } else {
                same.push(level);
            }
            probes.push(p);
        }
        findings.extend(level_finding(failed.step, opts.level, better, &same));
    }

    // The name versus its address.
    if literal(&opts.host).is_none() && failed.step != "resolve" {
        if failed.step == "tcp-135" {
            for ip in &main.addrs {
                let t0 = Instant::now();
                let addr = SocketAddr::new(*ip, opts.port);
                let r = tcp_answers(addr, ctx.deadlines.connect, Stage::Connect135).await;
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
                first.mechanism.clone(),
                opts.level,
            )
            .await;
            findings.push(name_finding(&opts.host, *ip, w.progress() > main.progress()));
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

fn candidate_text(c: &Candidate, dialled: IpAddr) -> String {
    match c {
        Candidate::Addr(a) if a.ip() == dialled => format!("{a} (the address dialled)"),
        Candidate::Addr(a) => format!("{a} (from the bindings)"),
        Candidate::Name(n, p) => format!("{n}[{p}] (a name from the bindings)"),
    }
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
            Candidate::Name(n, p) => match ctx.resolver.resolve(n).await {
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
pub fn binding_findings(dialled: IpAddr, ports: &str, answered: &[(SocketAddr, bool)]) -> Vec<String> {
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
    if let Err(e) = tcp_answers(a, ctx.deadlines.connect, Stage::ConnectDynamic).await {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
