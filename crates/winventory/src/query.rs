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

use crate::exitcode as exit;

const AFTER_HELP: &str = "\
The password never goes on the command line: give --password-env VAR (an environment
variable that holds it) or --password-file FILE (mode 600, first line); without either,
it is prompted for when standard input is a terminal. Quote a DOMAIN\\user account
('LAB\\inventory'): a shell drops an unquoted backslash.

The columns follow the SELECT list (SELECT *: the class's order); a property asked for
that the class lacks prints empty. Rows go to standard output, errors to standard error;
a WMI error names its code and how to read it (winventory explain CODE).";

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

/// Whether `stage` is one of the connection steps (TCP and bind on 135, the activation,
/// TCP and bind on the dynamic port): no WMI call has been made yet.
pub(crate) fn connecting(stage: Stage) -> bool {
    matches!(
        stage,
        Stage::Connect135
            | Stage::Bind135
            | Stage::Activation
            | Stage::ConnectDynamic
            | Stage::BindDynamic
    )
}

/// The exit code for a client error ([`crate::exitcode`]). A deadline during the
/// connection steps (a silent dynamic port, an activation never answered) is a connection
/// failure; [`exit::TIMEOUT`] is a WMI call that passed its deadline once connected.
pub fn exit_code(e: &ClientError) -> u8 {
    if matches!(e.cause(), Cause::Resolve { .. } | Cause::Connect(_)) {
        return exit::CONNECTION;
    }
    if e.is_auth_failure() || e.is_access_denied() {
        return exit::ACCESS;
    }
    if e.is_timeout() {
        return if connecting(e.stage()) {
            exit::CONNECTION
        } else {
            exit::TIMEOUT
        };
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
        // A Kerberos failure (the KDC refused, no ticket for the SPN): the account's;
        // the host's acceptor refusing the ticket: its security layer's.
        Cause::Kerberos(_) | Cause::KerberosRefused { .. } => exit::ACCESS,
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
            let select = select_list(&args.wql);
            let text = render_selected(&rows, select.as_deref(), args.format)?;
            let mut out = std::io::stdout().lock();
            std::io::Write::write_all(&mut out, text.as_bytes())
                .and_then(|()| std::io::Write::flush(&mut out))
                .context("write the rows")?;
            Ok(ExitCode::from(exit::OK))
        }
        Err(e) => {
            eprintln!("{}", failure_text(&e, &args.users.user[0]));
            Ok(ExitCode::from(exit_code(&e)))
        }
    }
}

/// What a failed query prints on standard error: the stage and cause, the code with its
/// name and a pointer to `winventory explain`, and for a refused logon the account as it
/// arrived (a shell turns an unquoted `LAB\inventory` into `LABinventory`).
pub fn failure_text(e: &ClientError, account: &str) -> String {
    let mut text = format!("winventory: query failed at {}: {}", e.stage(), e.cause());
    if let Some(code) = e.hresult().or_else(|| e.rpc_status()) {
        text.push_str(&format!(
            "\nwinventory: causes and fixes: winventory explain {code:#010x}"
        ));
    }
    if e.is_logon_refusal() {
        text.push_str(&format!(
            "\nwinventory: the logon was refused for account {account:?}"
        ));
        if let Some(hint) = crate::scan::unqualified_account_hint(account) {
            text.push_str(&format!("\nwinventory: {hint}"));
        }
    }
    text
}

/// The property names of `SELECT a, b FROM ...`, in the order asked; `None` for
/// `SELECT *`, for a list that is not plain property names, and for other queries
/// (`ASSOCIATORS OF`, `REFERENCES OF`): the class's order then.
pub fn select_list(wql: &str) -> Option<Vec<String>> {
    let t = wql.trim_start();
    let head = t.get(..6)?;
    if !head.eq_ignore_ascii_case("select") {
        return None;
    }
    let rest = &t[6..];
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    // INVARIANT: ASCII upper-casing keeps every byte offset.
    let upper = rest.to_ascii_uppercase();
    let bytes = upper.as_bytes();
    let from = upper.match_indices("FROM").map(|(i, _)| i).find(|&i| {
        let before = i.checked_sub(1).and_then(|j| bytes.get(j)).copied();
        let after = bytes.get(i + 4).copied();
        before.is_some_and(|b| b.is_ascii_whitespace() || b == b',')
            && after.is_some_and(|b| b.is_ascii_whitespace())
    })?;
    let names: Vec<String> = rest[..from]
        .split(',')
        .map(|n| n.trim().to_string())
        .collect();
    let valid = |n: &String| {
        !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if !names.iter().all(valid) {
        return None;
    }
    let mut unique: Vec<String> = Vec::new();
    for n in names {
        if !unique.iter().any(|u| u.eq_ignore_ascii_case(&n)) {
            unique.push(n);
        }
    }
    Some(unique)
}

/// The columns: the SELECT list in its order, each spelled as the class spells it when
/// the class has it (WQL names are case-insensitive) and as asked otherwise; without a
/// list, the properties of the first row's class in their order, system properties
/// (`__...`) left out.
fn columns(rows: &[Instance], select: Option<&[String]>) -> Vec<String> {
    let first = rows.first();
    match select {
        Some(list) => list
            .iter()
            .map(|asked| {
                first
                    .and_then(|r| {
                        r.class
                            .properties
                            .iter()
                            .find(|p| p.name.eq_ignore_ascii_case(asked))
                    })
                    .map_or_else(|| asked.clone(), |p| p.name.clone())
            })
            .collect(),
        None => first
            .map(|r| {
                r.class
                    .properties
                    .iter()
                    .filter(|p| !p.name.starts_with("__"))
                    .map(|p| p.name.clone())
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// One row as a JSON object with its keys in `keys` order (`__CLASS` first), written by
/// hand: a JSON map would sort them.
fn json_object(r: &Instance, keys: &[String], indent: &str) -> Result<String> {
    let mut parts = vec![format!(
        "{indent}  \"__CLASS\": {}",
        serde_json::to_string(&r.class.name)?
    )];
    for k in keys {
        let v = r.get(k).map_or(serde_json::Value::Null, winv_wmio::value_to_json);
        parts.push(format!(
            "{indent}  {}: {}",
            serde_json::to_string(k)?,
            serde_json::to_string(&v)?
        ));
    }
    Ok(format!("{indent}{{\n{}\n{indent}}}", parts.join(",\n")))
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

/// A CSV field as the reports write one: text from the host loses its control
/// characters (tab and line breaks kept) and is neutralised against formula injection
/// (`=cmd|...` gets a leading `'`); numbers and the like are only quoted.
fn csv_field(s: &str, text: bool) -> String {
    if text {
        winv_report::cell::csv_text(&winv_report::cell::clean(s))
    } else {
        winv_report::cell::csv_quote(s)
    }
}

/// A cell for the terminal: control characters (an escape sequence, a line break) from
/// the host are shown escaped, never sent to the terminal.
fn terminal_safe(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .flat_map(|c| {
            let esc: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            esc
        })
        .collect()
}

/// Renders the rows in the class's order (as `SELECT *`).
#[cfg(test)]
pub fn render(rows: &[Instance], format: Format) -> Result<String> {
    render_selected(rows, None, format)
}

/// Renders the rows, the columns in the SELECT list's order when there is one.
pub fn render_selected(
    rows: &[Instance],
    select: Option<&[String]>,
    format: Format,
) -> Result<String> {
    let cols = columns(rows, select);
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| cols.iter().map(|c| value_text(r.get(c))).collect())
        .collect();
    // Which cells are text from the host (a formula risk in CSV).
    let is_text: Vec<Vec<bool>> = rows
        .iter()
        .map(|r| {
            cols.iter()
                .map(|c| matches!(r.get(c), Some(Value::String(_))))
                .collect()
        })
        .collect();
    let mut out = String::new();
    match format {
        Format::Json => {
            let objects = rows
                .iter()
                .map(|r| {
                    let keys: Vec<String> = match select {
                        Some(_) => cols.clone(),
                        None => r.class.properties.iter().map(|p| p.name.clone()).collect(),
                    };
                    json_object(r, &keys, "  ")
                })
                .collect::<Result<Vec<String>>>()?;
            out = if objects.is_empty() {
                "[]\n".to_string()
            } else {
                format!("[\n{}\n]\n", objects.join(",\n"))
            };
        }
        Format::Csv => {
            out.push_str(
                &cols
                    .iter()
                    .map(|c| csv_field(c, true))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            out.push('\n');
            for (row, text) in cells.iter().zip(&is_text) {
                out.push_str(
                    &row.iter()
                        .zip(text)
                        .map(|(c, t)| csv_field(c, *t))
                        .collect::<Vec<_>>()
                        .join(","),
                );
                out.push('\n');
            }
        }
        Format::Table => {
            let cols: Vec<String> = cols.iter().map(|c| terminal_safe(c)).collect();
            let cells: Vec<Vec<String>> = cells
                .iter()
                .map(|r| r.iter().map(|c| terminal_safe(c)).collect())
                .collect();
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
    fn host_strings_are_data_in_csv_and_on_the_terminal() {
        let c = ClassDef::new("Win32_X", &[])
            .with_property("Name", CimType::scalar(CimBase::String), vec![])
            .with_property("Delta", CimType::scalar(CimBase::Sint32), vec![]);
        let mut a = Instance::new(c);
        a.set("Name", Value::String("=cmd|'/c calc'!A1\x1b[31m".into()))
            .unwrap();
        a.set("Delta", Value::Sint32(-5)).unwrap();
        let csv = render(std::slice::from_ref(&a), Format::Csv).unwrap();
        // The formula is neutralised, the negative number left as it is.
        assert_eq!(csv, "Name,Delta\n'=cmd|'/c calc'!A1[31m,-5\n");
        let table = render(&[a], Format::Table).unwrap();
        assert!(!table.contains('\x1b'), "{table:?}");
        assert!(table.contains("\\u{1b}[31m"), "{table}");
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
    fn select_list_order_case_and_forms() {
        let l = |q: &str| select_list(q);
        assert_eq!(
            l("SELECT Size, Name FROM Win32_X").unwrap(),
            ["Size", "Name"]
        );
        assert_eq!(
            l("  select\tsize ,name,  SIZE\nfrom Win32_X where Name = 'a'").unwrap(),
            ["size", "name"]
        );
        assert_eq!(l("SELECT Name,Size FROM\tWin32_X").unwrap(), ["Name", "Size"]);
        assert_eq!(l("SELECT FromDate FROM X").unwrap(), ["FromDate"]);
        assert_eq!(l("SELECT * FROM Win32_X"), None);
        assert_eq!(l("SELECT Name, * FROM Win32_X"), None);
        assert_eq!(l("ASSOCIATORS OF {Win32_X.Name='a'}"), None);
        assert_eq!(l("SELECT FROM X"), None);
        assert_eq!(l("SELECTName FROM X"), None);
        assert_eq!(l("SELECT Name"), None);
        assert_eq!(l("SÉLECT Name FROM X"), None);
    }

    #[test]
    fn columns_follow_the_select_list_in_every_format() {
        let sel: Vec<String> = ["size", "Missing", "NAME"].iter().map(|s| s.to_string()).collect();
        let csv = render_selected(&rows(), Some(&sel), Format::Csv).unwrap();
        // The class's spelling for the names it has, the asked one for the others; an
        // absent property prints empty.
        assert_eq!(csv, "Size,Missing,Name\n7,,\"a, \"\"b\"\"\"\n,,c\n");
        let table = render_selected(&rows(), Some(&sel), Format::Table).unwrap();
        assert_eq!(table.lines().next().unwrap(), "Size  Missing  Name");
        let json = render_selected(&rows(), Some(&sel), Format::Json).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v[0]["Size"], 7);
        assert!(v[0]["Missing"].is_null());
        let keys: Vec<usize> = ["__CLASS", "Size", "Missing", "Name"]
            .iter()
            .map(|k| json.find(&format!("\"{k}\"")).unwrap())
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "key order: {json}");
        // SELECT *: the class's order, Name then Size.
        let all = render(&rows(), Format::Json).unwrap();
        assert!(all.find("\"Name\"").unwrap() < all.find("\"Size\"").unwrap());
        let sel: Vec<String> = ["Size", "Name"].iter().map(|s| s.to_string()).collect();
        let json = render_selected(&rows(), Some(&sel), Format::Json).unwrap();
        assert!(json.find("\"Size\"").unwrap() < json.find("\"Name\"").unwrap(), "{json}");
        // No rows: the header of the asked columns only.
        assert_eq!(render_selected(&[], Some(&sel), Format::Csv).unwrap(), "Size,Name\n");
        assert_eq!(render_selected(&[], Some(&sel), Format::Json).unwrap(), "[]\n");
    }

    #[test]
    fn failure_text_points_to_explain_and_echoes_the_account() {
        let e = ClientError::hresult_at(Stage::Query, 0x8004_1017);
        let t = failure_text(&e, "LAB\\admin");
        assert!(t.contains("query failed at query: 0x80041017 WBEM_E_INVALID_QUERY"), "{t}");
        assert!(t.contains("winventory explain 0x80041017"), "{t}");
        let e = ClientError::new(Stage::Bind135, Cause::AuthenticationFailed("refused".into()));
        let t = failure_text(&e, "LABinventory");
        assert!(t.contains("account \"LABinventory\""), "{t}");
        assert!(t.contains("drops an unquoted backslash"), "{t}");
        let t = failure_text(&e, "inventory@lab.local");
        assert!(t.contains("account \"inventory@lab.local\""), "{t}");
        assert!(!t.contains("backslash"), "{t}");
    }

    #[test]
    fn a_deadline_while_connecting_is_a_connection_failure() {
        let timeout = |stage| {
            ClientError::new(
                stage,
                Cause::Timeout {
                    what: "bind",
                    after: Duration::from_secs(1),
                },
            )
        };
        for stage in [Stage::Bind135, Stage::Activation, Stage::BindDynamic] {
            assert_eq!(exit_code(&timeout(stage)), exit::CONNECTION, "{stage}");
        }
        for stage in [Stage::Login, Stage::Query, Stage::Enumerate] {
            assert_eq!(exit_code(&timeout(stage)), exit::TIMEOUT, "{stage}");
        }
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
