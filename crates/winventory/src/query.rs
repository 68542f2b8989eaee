//! `winventory query`: one WQL query against one host, printed as a table, JSON or CSV.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use winv_client::flow::{FlowConfig, NameResolver, Target};
use winv_client::Instance;
use winv_client::{Cause, ClientError, Ntlm, Stage, Value, WmiOptions};
use winv_engine::DnsResolver;

use crate::connopts::{ConnectionArgs, UserArgs, CALL_TIMEOUT};

/// Exit codes of `winventory query`, documented in its `--help`.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// Any other error (password source, output, bad arguments found after parsing).
    pub const OTHER: u8 = 1;
    /// Usage error (clap's own code; listed for the documentation).
    #[allow(dead_code)]
    pub const USAGE: u8 = 2;
    /// The host could not be reached: name resolution, TCP refused / unreachable, the RPC
    /// bind failed, the dynamic endpoint is unreachable.
    pub const CONNECTION: u8 = 3;
    /// Authentication failed or access denied (NTLM logon refused, DCOM or WMI access
    /// denied).
    pub const ACCESS: u8 = 4;
    /// WMI or RPC error: invalid namespace, class or query, provider failure, an RPC fault.
    pub const WMI: u8 = 5;
    /// A deadline passed (the query did not finish in --timeout).
    pub const TIMEOUT: u8 = 6;
}

const AFTER_HELP: &str = "\
The password never goes on the command line: give --password-env VAR (an environment
variable that holds it) or --password-file FILE (mode 600, first line); without either,
it is prompted for when standard input is a terminal.

Exit codes:
  0  success
  1  other error (password source, output)
  2  usage error
  3  connection failure (resolve, refused, unreachable, bind, dynamic endpoint)
  4  authentication failed or access denied (NTLM, DCOM, WMI)
  5  WMI or RPC error (invalid namespace, class or query, provider failure, RPC fault)
  6  timeout";

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// A JSON array of objects (`__CLASS` and every property).
    Json,
    /// CSV with a header line (RFC 4180 quoting).
    Csv,
}

/// Arguments of `winventory query`.
#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct QueryArgs {
    /// Host name or address (IPv4, IPv6).
    pub host: String,
    /// The WQL query, e.g. "SELECT Caption FROM Win32_OperatingSystem".
    pub wql: String,
    /// WMI namespace.
    #[arg(long, default_value = r"root\cimv2")]
    pub namespace: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    #[command(flatten)]
    pub users: UserArgs,
    #[command(flatten)]
    pub conn: ConnectionArgs,
    /// Do not try the smart enumerator (use IEnumWbemClassObject::Next).
    #[arg(long)]
    pub no_smart_enum: bool,
}

/// The exit code for a client error.
pub fn exit_code(e: &ClientError) -> u8 {
    if matches!(e.cause(), Cause::Resolve { .. } | Cause::Connect(_)) {
        return exit::CONNECTION;
    }
    if e.is_auth_failure() || e.is_access_denied() {
        return exit::ACCESS;
    }
    if e.is_timeout() {
        return exit::TIMEOUT;
    }
    if matches!(
        e.stage(),
        Stage::Connect135 | Stage::Bind135 | Stage::ConnectDynamic | Stage::BindDynamic
    ) {
        return exit::CONNECTION;
    }
    // After the binds: every answer the server gave that is not a result (an HRESULT, a
    // fault, a shutdown PDU, a rejected alter_context, a PDU for another call, a reply
    // that does not decode) is a WMI or RPC error.
    match e.cause() {
        Cause::Hresult(_)
        | Cause::Fault { .. }
        | Cause::Win32 { .. }
        | Cause::Decode(_)
        | Cause::Protocol(_)
        | Cause::Rpc(_)
        | Cause::BindRejected(_) => exit::WMI,
        // A Kerberos failure (the KDC refused, no ticket for the SPN): the account's.
        Cause::Kerberos(_) => exit::ACCESS,
        Cause::Resolve { .. }
        | Cause::Connect(_)
        | Cause::Timeout { .. }
        | Cause::AuthenticationFailed(_) => exit::OTHER,
    }
}

/// Runs the command.
pub fn run(args: QueryArgs) -> Result<ExitCode> {
    if args.users.user.len() != 1 {
        bail!("give one --user");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    let entries = args.users.entries(true, args.conn.password_optional())?;
    let cred = {
        let _rt = rt.enter();
        args.conn
            .credentials(entries, "")?
            .pop()
            .context("give one --user")?
    };
    let deadlines = args.conn.deadlines(CALL_TIMEOUT);
    let opts = WmiOptions {
        auth_level: args.conn.auth_level.auth(),
        namespace: args.namespace.clone(),
        epm_port: args.conn.port,
        deadlines,
        enum_timeout: deadlines.call.min(Duration::from_secs(10)),
        smart_enum: !args.no_smart_enum,
        ..WmiOptions::default()
    };
    let resolver: Option<Arc<dyn NameResolver>> = match &args.conn.dns_server {
        Some(_) => Some(Arc::new(DnsResolver(args.conn.resolver(2)?))),
        None => None,
    };
    let config = FlowConfig {
        mechanism: cred
            .mechanism
            .unwrap_or_else(|| Arc::new(Ntlm::new(cred.creds, &opts.workstation))),
        opts,
        resolver,
        rate: None,
    };
    let result = rt.block_on(async {
        let mut c =
            Box::pin(winv_client::flow::connect(Target::new(&args.host), &config, None)).await?;
        let rows = c.query(&args.wql).await;
        let closed = c.close().await;
        if let Err(e) = &closed {
            tracing::debug!(error = %e, "close failed");
        }
        rows
    });
    match result {
        Ok(rows) => {
            let text = render(&rows, args.format)?;
            print!("{text}");
            Ok(ExitCode::from(exit::OK))
        }
        Err(e) => {
            eprintln!("winventory: query failed at {}: {}", e.stage(), e.cause());
            Ok(ExitCode::from(exit_code(&e)))
        }
    }
}

/// The columns: the properties of the first row's class, system properties (`__...`) left
/// out.
fn columns(rows: &[Instance]) -> Vec<String> {
    rows.first()
        .map(|r| {
            r.class
                .properties
                .iter()
                .filter(|p| !p.name.starts_with("__"))
                .map(|p| p.name.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// A value as one line of text.
pub fn value_text(v: Option<&Value>) -> String {
    match v {
        None => String::new(),
        Some(Value::Array(_, items)) => {
            let parts: Vec<String> = items.iter().map(|i| value_text(Some(i))).collect();
            format!("{{{}}}", parts.join(","))
        }
        Some(Value::Object(o)) => winv_wmio::to_json(o).to_string(),
        Some(Value::Boolean(b)) => if *b { "True" } else { "False" }.to_string(),
        Some(Value::Char16(c)) => char::from_u32(u32::from(*c))
            .map(String::from)
            .unwrap_or_else(|| c.to_string()),
        Some(Value::Real32(x)) => x.to_string(),
        Some(Value::Real64(x)) => x.to_string(),
        Some(other) => other
            .as_str()
            .map(str::to_string)
            .or_else(|| other.as_i128().map(|i| i.to_string()))
            .unwrap_or_default(),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Renders the rows.
pub fn render(rows: &[Instance], format: Format) -> Result<String> {
    let cols = columns(rows);
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| cols.iter().map(|c| value_text(r.get(c))).collect())
        .collect();
    let mut out = String::new();
    match format {
        Format::Json => {
            let arr: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| winv_wmio::to_json(&winv_wmio::Object::from_instance(r.clone())))
                .collect();
            out = serde_json::to_string_pretty(&arr)?;
            out.push('\n');
        }
        Format::Csv => {
            out.push_str(
                &cols
                    .iter()
                    .map(|c| csv_field(c))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            out.push('\n');
            for row in &cells {
                out.push_str(
                    &row.iter()
                        .map(|c| csv_field(c))
                        .collect::<Vec<_>>()
                        .join(","),
                );
                out.push('\n');
            }
        }
        Format::Table => {
            let widths: Vec<usize> = cols
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    cells
                        .iter()
                        .map(|r| r.get(i).map_or(0, |s| s.chars().count()))
                        .chain(std::iter::once(c.chars().count()))
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |vals: &[String]| -> String {
                let parts: Vec<String> = vals
                    .iter()
                    .zip(&widths)
                    .map(|(v, w)| format!("{v:<w$}"))
                    .collect();
                format!("{}\n", parts.join("  ").trim_end())
            };
            if !cols.is_empty() {
                out.push_str(&line(&cols));
            }
            for row in &cells {
                out.push_str(&line(row));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use winv_client::error::Cause;
    use winv_wmio::{CimBase, CimType, ClassDef};

    fn rows() -> Vec<Instance> {
        let c = ClassDef::new("Win32_X", &[])
            .with_property("__PATH", CimType::scalar(CimBase::String), vec![])
            .with_property("Name", CimType::scalar(CimBase::String), vec![])
            .with_property("Size", CimType::scalar(CimBase::Uint64), vec![]);
        let mut a = Instance::new(c.clone());
        a.set("Name", Value::String("a, \"b\"".into())).unwrap();
        a.set("Size", Value::Uint64(7)).unwrap();
        let mut b = Instance::new(c);
        b.set("Name", Value::String("c".into())).unwrap();
        b.set_null("Size").unwrap();
        vec![a, b]
    }

    #[test]
    fn csv_quotes_and_nulls() {
        let s = render(&rows(), Format::Csv).unwrap();
        assert_eq!(s, "Name,Size\n\"a, \"\"b\"\"\",7\nc,\n");
    }

    #[test]
    fn table_aligns() {
        let s = render(&rows(), Format::Table).unwrap();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "Name    Size");
        assert_eq!(lines[1], "a, \"b\"  7");
        assert_eq!(lines[2], "c");
    }

    #[test]
    fn json_has_class_and_null() {
        let s = render(&rows(), Format::Json).unwrap();
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v[0]["__CLASS"], "Win32_X");
        assert_eq!(v[0]["Size"], 7);
        assert!(v[1]["Size"].is_null());
    }

    #[test]
    fn exit_codes() {
        let e = ClientError::hresult_at(Stage::Login, 0x8004_100e);
        assert_eq!(exit_code(&e), exit::WMI);
        let e = ClientError::hresult_at(Stage::Activation, 0x8007_0005);
        assert_eq!(exit_code(&e), exit::ACCESS);
        let e = ClientError::new(Stage::Bind135, Cause::AuthenticationFailed("x".into()));
        assert_eq!(exit_code(&e), exit::ACCESS);
        let e = ClientError::new(
            Stage::Enumerate,
            Cause::Timeout {
                what: "query",
                after: Duration::from_secs(1),
            },
        );
        assert_eq!(exit_code(&e), exit::TIMEOUT);
        let e = ClientError::new(
            Stage::Connect135,
            Cause::Resolve {
                host: "x".into(),
                detail: "y".into(),
            },
        );
        assert_eq!(exit_code(&e), exit::CONNECTION);
    }
}
