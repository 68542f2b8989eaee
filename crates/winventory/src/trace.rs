//! `winventory trace`: the network-level view of a capture.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use winv_auth::ntlm::NtlmSecret;
use winv_trace::capture::read_capture;
use winv_trace::conversation::{analyze, Call, Options, PduRecord, StatusRecord, Trace};
use winv_trace::dcom::{BindingsRecord, DcomRequest, DcomResponse, ObjRefRecord};

/// Arguments of `winventory trace`.
#[derive(Args, Debug)]
pub struct TraceArgs {
    /// A packet capture (pcap or pcapng).
    file: PathBuf,
    /// Name of an environment variable holding the NT password of the captured
    /// NTLM logon; sealed PDUs are then decrypted and every signature verified.
    #[arg(long, value_name = "VAR")]
    nt_password_env: Option<String>,
    /// A keytab with the services' keys (`samba-tool domain exportkeytab`,
    /// `ktutil`): Kerberos-protected connections (SPNEGO and raw) are then
    /// decrypted and every signature verified.
    #[arg(long, value_name = "FILE")]
    keytab: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Include every call's plaintext stubs as hex (JSON only).
    #[arg(long)]
    stubs: bool,
}

/// Runs `trace`. Exit code 0 when every PDU decoded (and verified, when a
/// password or a keytab was given), [`crate::exitcode::TRACE_ERRORS`] otherwise.
pub fn run(args: TraceArgs) -> anyhow::Result<ExitCode> {
    let secret = match &args.nt_password_env {
        None => None,
        Some(var) => {
            let pw = std::env::var(var)
                .with_context(|| format!("environment variable {var} is not set"))?;
            Some(NtlmSecret::from_password(&pw))
        }
    };
    let keytab = match &args.keytab {
        None => None,
        Some(path) => {
            let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let kt = winv_auth::kerberos::files::parse_keytab(&bytes)
                .with_context(|| format!("{} is not a keytab", path.display()))?;
            if kt.entries.is_empty() {
                anyhow::bail!("{} holds no aes key", path.display());
            }
            Some(kt)
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
            keytab,
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
        ExitCode::from(crate::exitcode::TRACE_ERRORS)
    })
}

fn render_text(trace: &Trace) -> String {
    let mut out = String::new();
    for c in &trace.connections {
        let _ = writeln!(out, "connection {}: {} -> {}", c.stream, c.client, c.server);
        for p in &c.pdus {
            let _ = writeln!(out, "  {}", pdu_line(p));
        }
        for call in &c.calls {
            if let Some(lines) = dcom_lines(call) {
                for l in lines {
                    let _ = writeln!(out, "  {l}");
                }
            }
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

fn status(s: &StatusRecord) -> String {
    match s.name {
        Some(n) => format!("0x{:08x} {n}", s.code),
        None => format!("0x{:08x}", s.code),
    }
}

fn objref_text(o: &ObjRefRecord) -> String {
    let mut t = o.kind.to_string();
    if let Some(n) = o.iid.name {
        let _ = write!(t, " {n}");
    } else if !o.iid.uuid.is_empty() {
        let _ = write!(t, " {}", o.iid.uuid);
    }
    if let Some(x) = &o.oxid {
        let _ = write!(t, " oxid {x}");
    }
    if let Some(x) = &o.ipid {
        let _ = write!(t, " ipid {x}");
    }
    if let Some(x) = o.public_refs {
        let _ = write!(t, " refs {x}");
    }
    if let Some(c) = &o.clsid {
        let _ = write!(t, " clsid {}", c.name.unwrap_or(&c.uuid));
    }
    t
}

fn bindings_text(b: &BindingsRecord) -> String {
    let strings: Vec<&str> = b
        .string_bindings
        .iter()
        .map(|s| s.network_addr.as_str())
        .collect();
    let svcs: Vec<String> = b
        .security_bindings
        .iter()
        .map(|s| format!("0x{:x}", s.authn_svc))
        .collect();
    format!(
        "bindings [{}] authn [{}]",
        strings.join(", "),
        svcs.join(",")
    )
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("(null)")
}

/// One or two lines describing a DCOM / WMI call, `None` for other calls.
fn dcom_lines(call: &Call) -> Option<Vec<String>> {
    let d = call.dcom.as_ref()?;
    let frames = |f: &[u32]| {
        f.iter()
            .map(|n| format!("#{n}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut first = format!(
        "call {} {}.{}",
        call.call_id,
        d.interface,
        d.method
            .map_or_else(|| format!("opnum{}", call.opnum), str::to_owned)
    );
    let _ = write!(first, " [{}", frames(&call.request_frames));
    if !call.response_frames.is_empty() {
        let _ = write!(first, " -> {}", frames(&call.response_frames));
    }
    first.push(']');
    if let Some(ipid) = &d.ipid {
        let _ = write!(first, " on {ipid}");
    }
    match &d.request {
        Some(DcomRequest::Activation {
            clsid,
            iids,
            server_name,
            ..
        }) => {
            let iids: Vec<&str> = iids.iter().map(|i| i.name.unwrap_or(&i.uuid)).collect();
            let _ = write!(
                first,
                " clsid {} iids [{}] server {}",
                clsid.name.unwrap_or(&clsid.uuid),
                iids.join(", "),
                opt(server_name)
            );
        }
        Some(DcomRequest::RemQueryInterface { ipid, refs, iids }) => {
            let iids: Vec<&str> = iids.iter().map(|i| i.name.unwrap_or(&i.uuid)).collect();
            let _ = write!(first, " ipid {ipid} iids [{}]", iids.join(", "));
            if let Some(r) = refs {
                let _ = write!(first, " refs {r}");
            }
        }
        Some(DcomRequest::RemRefs { refs }) => {
            let r: Vec<String> = refs
                .iter()
                .map(|r| format!("{}:{}/{}", r.ipid, r.public_refs, r.private_refs))
                .collect();
            let _ = write!(first, " refs [{}]", r.join(", "));
        }
        Some(DcomRequest::NtlmLogin { namespace, .. }) => {
            let _ = write!(first, " namespace {}", opt(namespace));
        }
        Some(DcomRequest::SetClientInfo {
            client_machine,
            process_id,
        }) => {
            let _ = write!(first, " client {} pid {process_id}", opt(client_machine));
        }
        Some(DcomRequest::OpenNamespace { namespace }) => {
            let _ = write!(first, " namespace {}", opt(namespace));
        }
        Some(DcomRequest::GetObject { path, .. }) => {
            let _ = write!(first, " path {}", opt(path));
        }
        Some(DcomRequest::ExecQuery {
            language, query, ..
        }) => {
            let _ = write!(first, " {} \"{}\"", opt(language), opt(query));
        }
        Some(DcomRequest::ExecMethod { path, method, .. }) => {
            let _ = write!(first, " path {} method {}", opt(path), opt(method));
        }
        Some(DcomRequest::Next { timeout, count, .. }) => {
            let _ = write!(first, " count {count} timeout {timeout}");
        }
        Some(DcomRequest::Ping { set_id, .. }) => {
            let _ = write!(first, " set {set_id}");
        }
        Some(DcomRequest::ResolveOxid { oxid, .. }) => {
            let _ = write!(first, " oxid {oxid}");
        }
        None => {}
    }
    let mut second = String::from("  ->");
    if d.encrypted {
        second.push_str(" encrypted");
    }
    if let Some(f) = &call.fault {
        let _ = write!(second, " fault {}", status(f));
    }
    if let Some(h) = &d.hresult {
        let _ = write!(second, " {}", status(h));
    }
    match &d.response {
        Some(DcomResponse::Activation {
            oxid,
            bindings,
            ipid_rem_unknown,
            authn_hint,
            server_version,
            interfaces,
        }) => {
            for i in interfaces {
                let _ = write!(
                    second,
                    " {} {}",
                    i.iid.name.unwrap_or(&i.iid.uuid),
                    status(&i.hresult)
                );
                if let Some(o) = &i.objref {
                    let _ = write!(second, " ({})", objref_text(o));
                }
            }
            let _ = write!(
                second,
                "; oxid {oxid} {} ipidRemUnknown {ipid_rem_unknown} authn hint {authn_hint} com {server_version}",
                bindings_text(bindings)
            );
        }
        Some(DcomResponse::RemQueryInterface { results }) => {
            for r in results {
                let _ = write!(second, " [{}", status(&r.hresult));
                if let Some(x) = &r.oxid {
                    let _ = write!(second, " oxid {x}");
                }
                if let Some(x) = &r.ipid {
                    let _ = write!(second, " ipid {x}");
                }
                if let Some(o) = &r.objref {
                    let _ = write!(second, " {}", objref_text(o));
                }
                second.push(']');
            }
        }
        Some(DcomResponse::RemRefs { results }) => {
            let r: Vec<String> = results.iter().map(status).collect();
            let _ = write!(second, " results [{}]", r.join(", "));
        }
        Some(DcomResponse::Interface { objref }) => match objref {
            Some(o) => {
                let _ = write!(second, " {}", objref_text(o));
            }
            None => second.push_str(" null interface"),
        },
        Some(DcomResponse::Objects {
            returned,
            buffer_len,
        }) => {
            let _ = write!(second, " {returned} objects");
            if let Some(b) = buffer_len {
                let _ = write!(second, " ({b} bytes)");
            }
        }
        Some(DcomResponse::Resolver {
            bindings,
            ipid_rem_unknown,
            com_version,
        }) => {
            if let Some(b) = bindings {
                let _ = write!(second, " {}", bindings_text(b));
            }
            if let Some(i) = ipid_rem_unknown {
                let _ = write!(second, " ipidRemUnknown {i}");
            }
            let _ = write!(second, " com {com_version}");
        }
        None => {}
    }
    for n in &d.notes {
        let _ = write!(second, " note: {n}");
    }
    let mut lines = vec![first];
    if second != "  ->" {
        lines.push(second);
    }
    Some(lines)
}
