//! `winventory explain CODE`: what a code means, where it comes from and what
//! to change, from the knowledge base (`winv-kb`).

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;
use serde_json::{json, Value};
use winv_kb::{Entry, Explanation, HresultParts, Phase, RetryClass};

/// Arguments of `winventory explain`.
#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The code: hex (0x80070005, 80070005), signed or unsigned decimal
    /// (-2147024891, 2147942405), a symbolic name (E_ACCESSDENIED,
    /// nca_s_unk_if) or a winventory status (rpc-server-unavailable).
    #[arg(allow_hyphen_values = true)]
    code: String,

    /// Print JSON for tools instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `explain`: exit 0 for a known or structurally decoded code, 2 (usage) for input
/// that is neither a number nor a known name.
pub fn run(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let explanation = match winv_kb::lookup(&args.code) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("winventory: cannot explain {:?}: {e}", args.code);
            if args.json {
                println!(
                    "{}",
                    json!({ "query": args.code, "result": "error", "error": e.to_string() })
                );
            }
            return Ok(ExitCode::from(crate::exitcode::USAGE));
        }
    };
    let out = if args.json {
        let mut s = serde_json::to_string_pretty(&to_json(&args.code, &explanation))?;
        s.push('\n');
        s
    } else {
        to_text(&explanation)
    };
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn value_forms(v: u32) -> Value {
    json!({ "hex": format!("0x{v:08X}"), "unsigned": v, "signed": v as i32 })
}

fn entry_json(e: &Entry) -> Value {
    json!({
        "name": e.name,
        "aliases": e.aliases,
        "values": e.values.iter().map(|&v| value_forms(v)).collect::<Vec<_>>(),
        "kind": e.kind,
        "layer": e.layer,
        "category": e.category,
        "phase": e.phase,
        "retry_class": e.retry_class,
        "statuses": e.statuses,
        "summary": e.summary,
        "causes": e.causes,
        "checks": e.checks,
        "remediation": e.remediation,
        "sources": e.source_titles(),
    })
}

fn to_json(query: &str, x: &Explanation) -> Value {
    match x {
        Explanation::Known(e) => {
            json!({ "query": query, "result": "known", "entries": [entry_json(e)] })
        }
        Explanation::Several(es) => json!({
            "query": query,
            "result": "several",
            "note": "several kinds of code share this number; each reading is listed",
            "entries": es.iter().map(|e| entry_json(e)).collect::<Vec<_>>(),
        }),
        Explanation::Decoded(p) => json!({
            "query": query,
            "result": "decoded",
            "note": p.note,
            "decoded": {
                "value": value_forms(p.value),
                "failure": p.failure,
                "customer": p.customer,
                "ntstatus_mapped": p.ntstatus_mapped,
                "facility": p.facility,
                "facility_name": p.facility_name,
                "code": p.code,
            },
            "entries": p.win32_inner.iter().map(|e| entry_json(e)).collect::<Vec<_>>(),
        }),
    }
}

fn phase_text(p: Phase) -> &'static str {
    match p {
        Phase::Connecting => "while connecting",
        Phase::Operation => "during an operation",
        Phase::Either => "while connecting or during an operation",
        Phase::None => "n/a",
    }
}

fn retry_text(r: RetryClass) -> &'static str {
    match r {
        RetryClass::Retry => "retry-class (the computer is requeued later in the run)",
        RetryClass::PerClass => "per-class (recorded on the class; the computer goes on)",
        RetryClass::No => "not retried",
    }
}

fn kebab(v: Value) -> String {
    match v {
        Value::String(s) => s,
        _ => String::from("?"),
    }
}

fn entry_text(out: &mut String, e: &Entry) {
    let _ = write!(out, "{}", e.name);
    for v in &e.values {
        let _ = write!(out, "  0x{v:08X} ({v}");
        if (*v as i32) < 0 {
            let _ = write!(out, " / {}", *v as i32);
        }
        out.push(')');
    }
    out.push('\n');
    if !e.aliases.is_empty() {
        let _ = writeln!(out, "  also: {}", e.aliases.join(", "));
    }
    let _ = writeln!(out, "  {}", e.summary);
    let _ = writeln!(
        out,
        "  kind: {}   layer: {}   category: {}",
        kebab(json!(e.kind)),
        kebab(json!(e.layer)),
        kebab(json!(e.category))
    );
    let _ = writeln!(out, "  seen: {}", phase_text(e.phase));
    let _ = writeln!(out, "  retry: {}", retry_text(e.retry_class));
    if !e.statuses.is_empty() {
        let _ = writeln!(out, "  computer status: {}", e.statuses.join(", "));
    }
    let _ = writeln!(out, "  likely causes, most likely first:");
    for (i, c) in e.causes.iter().enumerate() {
        let _ = writeln!(out, "    {}. {c}", i + 1);
    }
    let _ = writeln!(out, "  checks that tell them apart:");
    for c in &e.checks {
        let _ = writeln!(out, "    - {c}");
    }
    let _ = writeln!(out, "  remediation, in order:");
    for (i, r) in e.remediation.iter().enumerate() {
        let _ = writeln!(out, "    {}. {r}", i + 1);
    }
    let sources = e.source_titles();
    if !sources.is_empty() {
        let _ = writeln!(out, "  sources: {}", sources.join("; "));
    }
}

fn decoded_text(out: &mut String, p: &HresultParts) {
    let _ = writeln!(
        out,
        "0x{:08X} ({} / {})  not in the knowledge base: decoded as an HRESULT",
        p.value, p.value, p.value as i32
    );
    let _ = writeln!(
        out,
        "  severity: {}   customer: {}   ntstatus-mapped: {}",
        if p.failure { "failure" } else { "success" },
        p.customer,
        p.ntstatus_mapped
    );
    let _ = writeln!(
        out,
        "  facility: {} ({})   code: {} (0x{:04X})",
        p.facility,
        p.facility_name.unwrap_or("unknown"),
        p.code,
        p.code
    );
    let _ = writeln!(out, "  note: {}", p.note);
    if let Some(inner) = p.win32_inner {
        out.push('\n');
        entry_text(out, inner);
    }
}

fn to_text(x: &Explanation) -> String {
    let mut out = String::new();
    match x {
        Explanation::Known(e) => entry_text(&mut out, e),
        Explanation::Several(es) => {
            let _ = writeln!(
                out,
                "{} kinds of code share this number; each reading follows.\n",
                es.len()
            );
            for (i, e) in es.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                entry_text(&mut out, e);
            }
        }
        Explanation::Decoded(p) => decoded_text(&mut out, p),
    }
    out
}
