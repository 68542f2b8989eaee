//! `winventory trace`: the network-level view of a capture.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use winv_auth::ntlm::NtlmSecret;
use winv_trace::capture::read_capture;
use winv_trace::conversation::{analyze, Options, PduRecord, Trace};

/// Arguments of `winventory trace`.
#[derive(Args, Debug)]
pub struct TraceArgs {
    /// A packet capture (pcap or pcapng).
    file: PathBuf,
    /// Name of an environment variable holding the NT password of the captured
    /// NTLM logon; sealed PDUs are then decrypted and every signature verified.
    #[arg(long, value_name = "VAR")]
    nt_password_env: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Include every call's plaintext stubs as hex (JSON only).
    #[arg(long)]
    stubs: bool,
}

/// Runs `trace`. Exit code 0 when every PDU decoded (and verified, when a
/// password was given), 2 otherwise.
pub fn run(args: TraceArgs) -> anyhow::Result<ExitCode> {
    let secret = match &args.nt_password_env {
        None => None,
        Some(var) => {
            let pw = std::env::var(var)
                .with_context(|| format!("environment variable {var} is not set"))?;
            Some(NtlmSecret::from_password(&pw))
        }
    };
    let data = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let capture =
        read_capture(&data).with_context(|| format!("cannot read {}", args.file.display()))?;
    let trace = analyze(
        &capture,
        &Options {
            secret,
            stub_hex: args.stubs,
        },
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&trace)?);
    } else {
        print!("{}", render_text(&trace));
    }
    let clean = trace.summary.decode_errors == 0 && trace.summary.verify_failures == 0;
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn render_text(trace: &Trace) -> String {
    let mut out = String::new();
    for c in &trace.connections {
        let _ = writeln!(out, "connection {}: {} -> {}", c.stream, c.client, c.server);
        for p in &c.pdus {
            let _ = writeln!(out, "  {}", pdu_line(p));
        }
        for n in &c.notes {
            let _ = writeln!(out, "  note: {n}");
        }
    }
    let s = &trace.summary;
    let _ = writeln!(
        out,
        "{} frames, {} connections, {} pdus, {} decode errors, {} verified, {} decrypted, {} failed verification, {} not checked",
        trace.frames,
        trace.connections.len(),
        s.pdus,
        s.decode_errors,
        s.verified,
        s.decrypted,
        s.verify_failures,
        s.not_checked
    );
    out
}

fn pdu_line(p: &PduRecord) -> String {
    let arrow = if p.direction == "client-to-server" {
        ">"
    } else {
        "<"
    };
    let mut line = format!(
        "#{:<5} {arrow} {:<18} call {:<3}",
        p.frame, p.ptype_name, p.call_id
    );
    for c in &p.contexts {
        let name = c.interface.name.unwrap_or("?");
        let _ = write!(line, " ctx {}={} v{}", c.id, name, c.interface.version);
    }
    for r in &p.results {
        let _ = write!(line, " [{}]", r.result_name);
    }
    if let Some(a) = p.secondary_address.as_deref().filter(|a| !a.is_empty()) {
        let _ = write!(line, " port {a}");
    }
    if let Some(ctx) = p.context_id {
        let _ = write!(line, " ctx {ctx}");
    }
    if let Some(i) = &p.interface {
        let _ = write!(line, " {}", i.name.unwrap_or(&i.uuid));
    }
    if let Some(op) = p.opnum {
        let _ = write!(line, " opnum {op}");
    }
    if let Some(s) = &p.status {
        let _ = write!(
            line,
            " status 0x{:08x} {}",
            s.code,
            s.name.unwrap_or("unknown")
        );
    }
    if let Some(a) = &p.auth {
        let level = a
            .auth_level_name
            .unwrap_or("?")
            .trim_start_matches("RPC_C_AUTHN_LEVEL_");
        let kind = a.auth_type_name.trim_start_matches("RPC_C_AUTHN_");
        let _ = write!(line, " auth {kind}/{level}");
        if let Some(m) = a.ntlm {
            let _ = write!(line, " ntlm {m}");
        }
    }
    if let Some(n) = p.stub_len {
        let _ = write!(line, " stub {n}");
    }
    if let Some(s) = p.security {
        let _ = write!(line, " [{s}]");
    }
    if let Some(e) = &p.error {
        let _ = write!(line, " error: {e}");
    }
    line
}
