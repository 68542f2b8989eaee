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
//! too. Causes and remediation come from the knowledge base entry of the failure's own
//! code, or the status's entry when there is no code, ranked by what the walk showed: a
//! refused NTLM logon (`E_ACCESSDENIED` on the first call after the bind, reported at
//! the bind) puts the account and its password first; a user refused after an accepted
//! logon (DCOM, WMI) drops the password from the causes. A host that rejects the
//! activation interface (no code) is explained as `RPC_S_UNKNOWN_IF`: it answers RPC but
//! offers no DCOM activation.
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
//! Every wait has a deadline: `--connect-timeout` for TCP connects and name resolution,
//! `--call-timeout` for each read, bind and call (the shared connection options of
//! [`crate::connopts`]). The password is read as for `query` (never from the command
//! line) and never printed.
//!
//! The walk, the explanation and the probes are `winv_engine::diagnose`; this file parses
//! the arguments and renders the report.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Value as Json};
use winv_engine::diagnose::{self, Account, Ctx, FailureReport, Options, ProbeResult, Report, Step};
use winv_engine::{DnsResolver, Status};

use crate::connopts::{ConnectionArgs, UserArgs};
use crate::exitcode as exit;

const AFTER_HELP: &str = "\
Steps: resolve, tcp-135, bind-135, activation, tcp-dynamic, bind-dynamic, login-cimv2,
query, login-default, get-stdregprov, registry-read. The walk stops at the first failure,
explains it from the knowledge base and runs extra probes: each other --user, the other
authentication level, the address instead of the name, each endpoint of the OXID bindings.

Passwords never go on the command line. Give --password-env VAR or --password-file FILE
(mode 600) once for every --user, in the same order, or once for all of them; without
either, each is prompted for when standard input is a terminal.

The exit code names the first failure as `query`'s does (0: every step succeeded).";

/// Arguments of `winventory diagnose`.
#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct DiagnoseArgs {
    /// Host name or address (IPv4, IPv6).
    pub host: String,
    #[command(flatten)]
    pub users: UserArgs,
    #[command(flatten)]
    pub conn: ConnectionArgs,
    /// Print JSON for tools instead of text.
    #[arg(long)]
    pub json: bool,
    /// Do not run the extra probes after a failure.
    #[arg(long)]
    pub no_probes: bool,
}

/// The call deadline of a diagnosis when `--call-timeout` is not given: shorter than a
/// scan's, so that a silent endpoint is found out quickly.
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

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

/// The exit code of the report's first failure: as `query`'s, where a deadline during the
/// connection steps (no answer to the bind on 135, to the activation) is a connection
/// failure, not a WMI call that timed out ([`crate::query::connecting`]).
fn exit_code(r: &Report) -> u8 {
    let Some(f) = r.failure.as_ref() else {
        return exit::OK;
    };
    let connecting = matches!(
        f.failure.stage,
        winv_engine::FailureStage::Client(s) if crate::query::connecting(s)
    );
    match exit_for(f.failure.status) {
        exit::TIMEOUT if connecting => exit::CONNECTION,
        code => code,
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
        r.level_text()
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
    let r = f;
    let f = &r.failure;
    let _ = writeln!(out, "  status    {} ({})", f.status, f.status.display_text());
    if let Some(c) = f.code {
        let _ = writeln!(
            out,
            "  code      {c:#010x}{}",
            f.code_name
                .as_deref()
                .map(|n| format!(" {n}"))
                .unwrap_or_default()
        );
    }
    let mut where_ = vec![format!("stage {}", f.stage)];
    if let Some(l) = r.layer {
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
    let _ = writeln!(out, "  error     {}", r.message);
    if let Some(e) = &r.explained_by {
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
    list(&mut out, "Likely causes", &r.causes);
    list(&mut out, "Checks", &r.checks);
    list(&mut out, "Remediation, in this order", &r.remediation);
    if !r.probes.is_empty() {
        let _ = writeln!(out, "\nProbes:");
        for p in &r.probes {
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
    if !r.findings.is_empty() {
        let _ = writeln!(out, "\nFindings:");
        for x in &r.findings {
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

fn step_json(s: &Step) -> Json {
    json!({
        "name": s.name,
        "ok": s.ok,
        "skipped": s.skipped,
        "ms": s.ms,
        "detail": s.detail,
    })
}

fn probe_json(p: &ProbeResult) -> Json {
    json!({
        "kind": p.kind,
        "subject": p.subject,
        "ok": p.ok,
        "ms": p.ms,
        "failed_step": p.failed_step,
        "detail": p.detail,
    })
}

fn failure_json(r: &FailureReport) -> Json {
    let f = &r.failure;
    json!({
        "step": r.step,
        "status": f.status,
        "status_text": f.status.display_text(),
        "stage": f.stage,
        "code": f.code,
        "code_hex": f.code.map(|c| format!("{c:#010x}")),
        "code_name": f.code_name,
        "phase": f.phase,
        "category": f.category,
        "denied_by": f.denied_by,
        "retry": f.retry,
        "layer": r.layer,
        "headline": r.headline,
        "message": r.message,
        "explained_by": r.explained_by,
        "causes": r.causes,
        "checks": r.checks,
        "remediation": r.remediation,
        "probes": r.probes.iter().map(probe_json).collect::<Vec<_>>(),
        "findings": r.findings,
    })
}

/// The report for tools (`--json`).
pub fn report_json(r: &Report) -> Json {
    json!({
        "host": r.host,
        "port": r.port,
        "auth_level": r.level_text(),
        "users": r.users,
        "ok": r.ok(),
        "steps": r.steps.iter().map(step_json).collect::<Vec<_>>(),
        "failure": r.failure.as_ref().map(failure_json),
        "exit_code": exit_code(r),
    })
}

/// Runs the command.
pub fn run(args: DiagnoseArgs) -> Result<ExitCode> {
    if args.users.user.is_empty() {
        bail!("give at least one --user");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    let entries = args.users.entries(true, args.conn.password_optional())?;
    let (creds, alternates) = {
        let _rt = rt.enter();
        // The other mechanism of each account, probed when the first is refused (none
        // when it cannot be built: no password for NTLM, no realm for Kerberos).
        let alternates: Vec<Option<Arc<dyn winv_client::Mechanism>>> = entries
            .iter()
            .map(|e| {
                let other = args.conn.other_auth()?;
                args.conn
                    .credentials_as(vec![e.clone()], "", Some(other))
                    .ok()?
                    .pop()?
                    .mechanism
            })
            .collect();
        (args.conn.credentials(entries, "")?, alternates)
    };
    let deadlines = args.conn.deadlines(CALL_TIMEOUT);
    let opts = Options {
        host: args.host.clone(),
        port: args.conn.port,
        level: args.conn.auth_level.auth(),
        probes: !args.no_probes,
    };
    let accounts: Vec<Account> = creds
        .into_iter()
        .zip(alternates)
        .map(|(c, alternate)| Account {
            alternate,
            mechanism: c
                .mechanism
                .unwrap_or_else(|| Arc::new(winv_client::Ntlm::new(c.creds, ""))),
            name: c.account,
        })
        .collect();
    let report = rt.block_on(async {
        let resolver = DnsResolver(args.conn.resolver(2)?);
        let ctx = Ctx {
            port: args.conn.port,
            deadlines,
            resolver: Arc::new(resolver),
        };
        anyhow::Ok(diagnose::diagnose(&opts, &accounts, &ctx).await)
    })?;
    if args.json {
        let mut s = serde_json::to_string_pretty(&report_json(&report))?;
        s.push('\n');
        print!("{s}");
    } else {
        print!("{}", render_text(&report));
    }
    Ok(ExitCode::from(exit_code(&report)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
}
