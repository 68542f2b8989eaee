//! `winventory status`: a run read back from the database: its state, the computers by
//! status (MAP's wording and the identifier), per-class counts, for a running run the
//! computers in flight (their step and for how long), and with `--computers` (or any
//! filter, or `--format csv`) the work list: the failed computers grouped by their fix,
//! each with its name and address, and the inventoried-incomplete ones with the items
//! they lack. For a run shared by several scanners: each scanner (last heartbeat,
//! claimed, finished, attempts), the queue and the leases that expired.
//!
//! Output as text (host strings escaped: no control character reaches the terminal),
//! CSV (cells a spreadsheet would run as formulas neutralised) or JSON.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde_json::{json, Value};
use winv_engine::{FailureStage, Status};
use crate::dbargs::DbArgs;
use winv_store::{
    ComputerRow, ExpiredLease, InFlightRow, QueueCounts, RunInfo, RunState, RunSummary,
    ScannerInfo, Store,
};

/// Arguments of `winventory status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub db: DbArgs,

    /// The run to show (default: the newest).
    #[arg(long, value_name = "ID")]
    pub run: Option<i64>,

    /// Output format (text for people, csv for spreadsheets: the work list only, json
    /// for tools).
    #[arg(long, value_enum, value_name = "FORMAT", conflicts_with = "json")]
    pub format: Option<Format>,

    /// The same as --format json.
    #[arg(long)]
    pub json: bool,

    /// Also list the computers to work on: the failed ones grouped by their fix (name,
    /// address, status, stage, code), and the inventoried-incomplete ones with the items
    /// they lack.
    #[arg(long)]
    pub computers: bool,

    /// Only computers with these statuses (identifiers, repeatable or comma-separated;
    /// `inventoried` lists the complete ones too). Implies --computers.
    #[arg(long, value_name = "STATUS", value_delimiter = ',')]
    pub status: Vec<String>,

    /// Only computers whose failure is at these stages (`connect-135`, `login`...).
    /// Implies --computers.
    #[arg(long, value_name = "STAGE", value_delimiter = ',')]
    pub stage: Vec<String>,

    /// Only computers whose failure (or a missing item's error) has these codes: names
    /// (`E_ACCESSDENIED`) or numbers (`0x80070005`, `10060`). Implies --computers.
    #[arg(long, value_name = "CODE", value_delimiter = ',')]
    pub code: Vec<String>,

    /// Only computers inventoried with these accounts (as written in the credentials).
    /// Implies --computers.
    #[arg(long, value_name = "ACCOUNT", value_delimiter = ',')]
    pub account: Vec<String>,
}

/// How `status` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned text, host strings escaped.
    Text,
    /// The work list as CSV, one computer per row.
    Csv,
    /// One JSON object.
    Json,
}

impl StatusArgs {
    fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else {
            self.format.unwrap_or(Format::Text)
        }
    }

    /// Whether the work list is wanted.
    fn list(&self) -> bool {
        self.computers
            || self.format() == Format::Csv
            || !(self.status.is_empty()
                && self.stage.is_empty()
                && self.code.is_empty()
                && self.account.is_empty())
    }
}

/// A filter value that is not valid: a usage error (exit 2), saying what is.
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Exit code of a refused command line (clap's own code for usage errors).
const EXIT_USAGE: u8 = 2;

/// Runs `status`: exit 0 when the run was read, 2 for a filter value that is not valid.
pub fn run(args: StatusArgs) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let out = match rt.block_on(report(&args)) {
        Ok(out) => out,
        Err(e) => match e.downcast_ref::<UsageError>() {
            Some(u) => {
                eprintln!("winventory: {u}");
                return Ok(ExitCode::from(EXIT_USAGE));
            }
            None => return Err(e),
        },
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The whole output of `status`, as text, CSV or JSON.
async fn report(args: &StatusArgs) -> Result<String> {
    let store = args.db.open_existing().await?;
    let result = read_run(&store, args).await;
    let accounts = match &result {
        Ok(data) => store.accounts(data.info.id).await?,
        Err(_) => Vec::new(),
    };
    store.close().await;
    let data = result?;
    let list = data.list.as_ref().map(|rows| WorkList::of(rows));
    match args.format() {
        Format::Json => {
            let mut v = to_json(&args.db.db, &data.info, &data.summary);
            if let Some(obj) = v.as_object_mut() {
                if let Some(sh) = &data.shared {
                    obj.insert("scanners".into(), shared_json(sh));
                    obj.insert("queue".into(), json!(sh.queue));
                    obj.insert("expired_leases".into(), json!(sh.expired));
                }
                obj.insert("accounts".into(), json!(accounts));
                obj.insert(
                    "in_flight".into(),
                    in_flight_json(&data.in_flight, data.now_ms),
                );
                if let Some(l) = &list {
                    l.insert_json(obj);
                }
            }
            let mut s = serde_json::to_string_pretty(&v)?;
            s.push('\n');
            Ok(s)
        }
        Format::Csv => Ok(list.map(|l| l.csv()).unwrap_or_default()),
        Format::Text => {
            let mut out = Vec::new();
            write_header(&data.info, &mut out)?;
            print_summary(&data.summary, &args.db.db, &mut out)?;
            if let Some(sh) = &data.shared {
                write_shared(sh, &mut out)?;
            }
            crate::accounts::write(&accounts, &mut out)?;
            write_in_flight(&data.in_flight, data.now_ms, &mut out)?;
            if let Some(l) = &list {
                l.write_text(&mut out)?;
            }
            Ok(String::from_utf8_lossy(&out).into_owned())
        }
    }
}

/// Everything `status` shows of a run.
struct RunData {
    info: RunInfo,
    summary: RunSummary,
    /// The work list (filtered), when asked for.
    list: Option<Vec<ComputerRow>>,
    shared: Option<Shared>,
    /// The computers in flight, for a running run.
    in_flight: Vec<InFlightRow>,
    now_ms: i64,
}

/// One `--code` value: a number or a symbolic name.
#[derive(Debug, PartialEq, Eq)]
enum CodeFilter {
    Number(u32),
    Name(String),
}

impl CodeFilter {
    /// `0x80070005`, `2147942405`, `-2147024891` (a signed HRESULT), `10060`, or a name.
    fn parse(s: &str) -> CodeFilter {
        let t = s.trim();
        let hex = t
            .strip_prefix("0x")
            .or_else(|| t.strip_prefix("0X"))
            .and_then(|h| u32::from_str_radix(h, 16).ok());
        let dec = t
            .parse::<u32>()
            .ok()
            .or_else(|| t.parse::<i32>().ok().map(|i| i as u32));
        match hex.or(dec) {
            Some(n) => CodeFilter::Number(n),
            None => CodeFilter::Name(t.to_string()),
        }
    }

    fn matches(&self, r: &ComputerRow) -> bool {
        match self {
            CodeFilter::Number(n) => r.code == Some(*n),
            // The computer's failure, or one of the items it lacks.
            CodeFilter::Name(name) => code_names(r).any(|c| c.eq_ignore_ascii_case(name)),
        }
    }
}

/// The work list's filters, validated against what exists.
#[derive(Debug, Default)]
struct Filter {
    statuses: Vec<Status>,
    stages: Vec<String>,
    codes: Vec<CodeFilter>,
    accounts: Vec<String>,
}

/// The values a user gave, split at commas (clap does it too), trimmed, without empty
/// ones (`--status a,,b`).
fn values(v: &[String]) -> impl Iterator<Item = &str> {
    v.iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

impl Filter {
    /// The filters of `args`; a value that names nothing is a [`UsageError`] listing
    /// the valid ones (for codes and accounts: those of this run).
    fn new(args: &StatusArgs, info: &RunInfo, rows: &[ComputerRow]) -> Result<Filter> {
        let mut f = Filter::default();
        for v in values(&args.status) {
            let Some(st) = Status::ALL
                .into_iter()
                .find(|s| s.as_str().eq_ignore_ascii_case(v))
            else {
                let all: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
                return Err(usage(format!(
                    "unknown status {:?}: the statuses are {}",
                    printable(v),
                    all.join(", ")
                )));
            };
            f.statuses.push(st);
        }
        for v in values(&args.stage) {
            match FailureStage::parse(&v.to_ascii_lowercase()) {
                Some(st) => f.stages.push(st.as_str().to_string()),
                None => {
                    let all: Vec<&str> = winv_client::Stage::ALL
                        .iter()
                        .map(|s| s.as_str())
                        .chain(FailureStage::ENGINE.iter().map(|s| s.as_str()))
                        .collect();
                    return Err(usage(format!(
                        "unknown stage {:?}: the stages are {}",
                        printable(v),
                        all.join(", ")
                    )));
                }
            }
        }
        for v in values(&args.code) {
            let c = CodeFilter::parse(v);
            if let CodeFilter::Name(name) = &c {
                let known = winv_kb::by_name(name).is_some()
                    || rows
                        .iter()
                        .flat_map(code_names)
                        .any(|n| n.eq_ignore_ascii_case(name));
                if !known {
                    let here: BTreeSet<&str> = rows.iter().flat_map(code_names).collect();
                    return Err(usage(format!(
                        "unknown code {:?}: give a code name or a number (0x80070005, 10060); \
                         the codes of run {} are {}",
                        printable(v),
                        info.id,
                        list_or_none(here.into_iter().map(printable))
                    )));
                }
            }
            f.codes.push(c);
        }
        if !args.account.is_empty() {
            let mut known: BTreeSet<String> = info.options["accounts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect();
            known.extend(rows.iter().filter_map(|r| r.credential.clone()));
            for v in values(&args.account) {
                let Some(a) = known.iter().find(|k| k.eq_ignore_ascii_case(v)) else {
                    return Err(usage(format!(
                        "unknown account {:?}: the accounts of run {} are {}",
                        printable(v),
                        info.id,
                        list_or_none(known.iter().map(|k| printable(k)))
                    )));
                };
                f.accounts.push(a.clone());
            }
        }
        Ok(f)
    }

    /// Whether `r` is listed: of a chosen status (by default every status but
    /// `inventoried`: the work to do), stage, code and account.
    fn keeps(&self, r: &ComputerRow) -> bool {
        let status = if self.statuses.is_empty() {
            r.status != Status::Inventoried
        } else {
            self.statuses.contains(&r.status)
        };
        status
            && (self.stages.is_empty() || r.stage.as_ref().is_some_and(|s| self.stages.contains(s)))
            && (self.codes.is_empty() || self.codes.iter().any(|c| c.matches(r)))
            && (self.accounts.is_empty()
                || r.credential
                    .as_deref()
                    .is_some_and(|c| self.accounts.iter().any(|a| a.eq_ignore_ascii_case(c))))
    }
}

/// The code names of a computer: its failure's, then those of the items it lacks.
fn code_names(r: &ComputerRow) -> impl Iterator<Item = &str> {
    r.code_name
        .as_deref()
        .into_iter()
        .chain(r.missing.iter().filter_map(|m| m.code_name.as_deref()))
}

fn usage(msg: String) -> anyhow::Error {
    anyhow::Error::new(UsageError(msg))
}

fn list_or_none(items: impl Iterator<Item = String>) -> String {
    let v: Vec<String> = items.collect();
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}

/// The scanners of a run shared by several (none for a run of one `scan` process).
struct Shared {
    now_ms: i64,
    scanners: Vec<ScannerInfo>,
    queue: QueueCounts,
    expired: Vec<ExpiredLease>,
}

/// A scanner whose last heartbeat is older than this is shown as silent.
const SILENT_MS: i64 = 60_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Control characters of names (scanner names, sites, targets, accounts) shown escaped,
/// so no name can move the cursor or recolour a terminal.
pub fn printable(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

fn scanner_state(s: &ScannerInfo, now: i64) -> &'static str {
    if s.left_ms.is_some() {
        "left"
    } else if now.saturating_sub(s.heartbeat_ms) > SILENT_MS {
        "silent"
    } else {
        "active"
    }
}

fn write_shared(sh: &Shared, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out)?;
    let q = &sh.queue;
    writeln!(
        out,
        "queue: {} ready, {} waiting for a retry, {} claimed, {} expired leases, {} done",
        q.ready, q.waiting, q.claimed, q.expired, q.done
    )?;
    let name_w = sh
        .scanners
        .iter()
        .map(|s| printable(&s.name).len())
        .chain(["scanner".len()])
        .max()
        .unwrap_or(7);
    let site_w = sh
        .scanners
        .iter()
        .map(|s| s.site.as_deref().map_or(1, |x| printable(x).len()))
        .chain(["site".len()])
        .max()
        .unwrap_or(4);
    writeln!(
        out,
        "{:>4}  {:<name_w$}  {:<site_w$}  {:<6}  {:>14}  {:>7}  {:>8}  {:>8}",
        "id", "scanner", "site", "state", "last heartbeat", "claimed", "finished", "attempts"
    )?;
    for s in &sh.scanners {
        writeln!(
            out,
            "{:>4}  {:<name_w$}  {:<site_w$}  {:<6}  {:>14}  {:>7}  {:>8}  {:>8}",
            s.id,
            printable(&s.name),
            s.site.as_deref().map_or("-".to_string(), printable),
            scanner_state(s, sh.now_ms),
            format!("{} ago", format_duration(sh.now_ms - s.heartbeat_ms)),
            s.claimed,
            s.finished,
            s.attempts
        )?;
    }
    if !sh.expired.is_empty() {
        writeln!(out, "expired leases ({}):", sh.expired.len())?;
        for l in &sh.expired {
            writeln!(
                out,
                "  {}  held by {} (scanner {}), expired {} ago",
                printable(&l.target),
                printable(&l.scanner_name),
                l.scanner,
                format_duration(sh.now_ms - l.lease_until_ms)
            )?;
        }
    }
    Ok(())
}

fn shared_json(sh: &Shared) -> Value {
    Value::Array(
        sh.scanners
            .iter()
            .map(|s| {
                let mut v = json!(s);
                if let Some(o) = v.as_object_mut() {
                    o.insert("state".into(), json!(scanner_state(s, sh.now_ms)));
                }
                v
            })
            .collect(),
    )
}

async fn read_run(store: &Store, args: &StatusArgs) -> Result<RunData> {
    let info = match args.run {
        Some(id) => store.run(id).await?,
        None => store.latest_run().await?,
    };
    let Some(info) = info else {
        match args.run {
            Some(id) => bail!("no run {id} in {}", args.db.shown()),
            None => bail!("no run in {}", args.db.shown()),
        }
    };
    let summary = store.summary(info.id).await?;
    let list = if args.list() {
        let rows = store.computers(info.id).await?;
        let filter = Filter::new(args, &info, &rows)?;
        Some(rows.into_iter().filter(|r| filter.keeps(r)).collect())
    } else {
        None
    };
    let now = now_ms();
    let scanners = store.scanners(info.id).await?;
    let shared = if scanners.is_empty() {
        None
    } else {
        Some(Shared {
            now_ms: now,
            queue: store.queue_counts(info.id, now).await?,
            expired: store.expired_leases(info.id, now).await?,
            scanners,
        })
    };
    // Rows a scan that died left behind mean nothing once the run is not running.
    let in_flight = if info.state == RunState::Running {
        store.in_flight(info.id).await?
    } else {
        Vec::new()
    };
    Ok(RunData {
        info,
        summary,
        list,
        shared,
        in_flight,
        now_ms: now,
    })
}

/// Milliseconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC` (proleptic Gregorian
/// calendar, from the day count).
fn format_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    // Days since 1970-01-01 to a civil date, counting in 400-year eras from 0000-03-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        tod / 3600,
        tod % 3600 / 60,
        tod % 60
    )
}

/// A duration in milliseconds as `1h 02m 03s`, `5m 12s` or `42s`.
fn format_duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m {sec:02}s"),
        (h, m, sec) => format!("{h}h {m:02}m {sec:02}s"),
    }
}

/// A raw code: hexadecimal for HRESULT-like values, decimal for small ones (errno,
/// Win32), with its symbolic name.
fn format_code(code: Option<u32>, name: Option<&str>) -> String {
    match (code, name) {
        (Some(c), Some(n)) if c > 0xFFFF => format!("0x{c:08X} {n}"),
        (Some(c), Some(n)) => format!("{c} {n}"),
        (Some(c), None) if c > 0xFFFF => format!("0x{c:08X}"),
        (Some(c), None) => c.to_string(),
        (None, Some(n)) => n.to_string(),
        (None, None) => "-".to_string(),
    }
}

fn write_header(info: &RunInfo, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "run       {}", info.id)?;
    writeln!(out, "state     {}", info.state)?;
    writeln!(out, "started   {}", format_ms(info.started_ms))?;
    match info.finished_ms {
        Some(f) => writeln!(
            out,
            "finished  {} ({})",
            format_ms(f),
            format_duration(f - info.started_ms)
        )?,
        None => writeln!(out, "finished  -")?,
    }
    Ok(())
}

/// Prints a run's summary as text: targets, finished and pending, a table of computers
/// by status (MAP's wording, the identifier, the count) and per-class counts. Used by
/// `status` and at the end of `scan`.
pub fn print_summary(summary: &RunSummary, db: &Path, out: &mut dyn Write) -> std::io::Result<()> {
    let pending = summary.targets.saturating_sub(summary.finished);
    writeln!(
        out,
        "run {} in {}: {} targets, {} finished, {} pending",
        summary.run,
        db.display(),
        summary.targets,
        summary.finished,
        pending
    )?;
    writeln!(out)?;
    let text_w = summary
        .by_status
        .iter()
        .map(|(s, _)| s.display_text().len())
        .chain(["status".len()])
        .max()
        .unwrap_or(6);
    let id_w = summary
        .by_status
        .iter()
        .map(|(s, _)| s.as_str().len())
        .chain(["identifier".len()])
        .max()
        .unwrap_or(10);
    writeln!(
        out,
        "{:<text_w$}  {:<id_w$}  {:>9}",
        "status", "identifier", "computers"
    )?;
    for (status, n) in &summary.by_status {
        writeln!(
            out,
            "{:<text_w$}  {:<id_w$}  {:>9}",
            status.display_text(),
            status.as_str(),
            n
        )?;
    }
    if summary.by_status.is_empty() {
        writeln!(out, "(no computer finished yet)")?;
    }
    if !summary.classes.is_empty() {
        writeln!(out)?;
        let class_w = summary
            .classes
            .iter()
            .map(|c| c.class.len())
            .chain(["class".len()])
            .max()
            .unwrap_or(5);
        writeln!(
            out,
            "{:<class_w$}  {:>9}  {:>6}  {:>9}",
            "class", "collected", "failed", "timed out"
        )?;
        for c in &summary.classes {
            writeln!(
                out,
                "{:<class_w$}  {:>9}  {:>6}  {:>9}",
                c.class, c.collected, c.failed, c.timed_out
            )?;
        }
    }
    Ok(())
}

/// The computers to work on, as `status --computers` shows them: failures grouped by
/// their fix, incomplete inventories with the items they lack, and (when asked for by
/// `--status inventoried`) the complete ones.
struct WorkList<'a> {
    /// Failed computers by fix, largest group first (then in order of appearance).
    groups: Vec<FixGroup<'a>>,
    incomplete: Vec<&'a ComputerRow>,
    complete: Vec<&'a ComputerRow>,
}

/// Failed computers that share one fix.
struct FixGroup<'a> {
    /// The first remediation step of the knowledge base (`None`: it has none).
    fix: Option<String>,
    computers: Vec<&'a ComputerRow>,
}

impl FixGroup<'_> {
    /// The statuses of the group, in `Status::ALL` order.
    fn statuses(&self) -> Vec<Status> {
        let set: BTreeSet<Status> = self.computers.iter().map(|r| r.status).collect();
        set.into_iter().collect()
    }
}

impl<'a> WorkList<'a> {
    fn of(rows: &'a [ComputerRow]) -> WorkList<'a> {
        let mut groups: Vec<FixGroup<'a>> = Vec::new();
        let (mut incomplete, mut complete) = (Vec::new(), Vec::new());
        for r in rows {
            match r.status {
                Status::Inventoried => complete.push(r),
                Status::InventoriedIncomplete => incomplete.push(r),
                _ => {
                    let fix = first_remediation(r);
                    // Without a fix, one group per status.
                    let same = |g: &FixGroup<'_>| match (&fix, &g.fix) {
                        (Some(a), Some(b)) => a == b,
                        (None, None) => g.computers[0].status == r.status,
                        _ => false,
                    };
                    match groups.iter_mut().find(|g| same(g)) {
                        Some(g) => g.computers.push(r),
                        None => groups.push(FixGroup {
                            fix,
                            computers: vec![r],
                        }),
                    }
                }
            }
        }
        // Stable: equal sizes keep their order of appearance.
        groups.sort_by_key(|g| std::cmp::Reverse(g.computers.len()));
        WorkList {
            groups,
            incomplete,
            complete,
        }
    }

    fn failed(&self) -> usize {
        self.groups.iter().map(|g| g.computers.len()).sum()
    }

    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out)?;
        if self.groups.is_empty() && self.incomplete.is_empty() && self.complete.is_empty() {
            writeln!(out, "no computer to list")?;
            return Ok(());
        }
        if !self.groups.is_empty() {
            writeln!(
                out,
                "failed computers ({}), by fix ({} fixes):",
                self.failed(),
                self.groups.len()
            )?;
            for g in &self.groups {
                let statuses: Vec<&str> = g.statuses().iter().map(|s| s.as_str()).collect();
                writeln!(out)?;
                writeln!(
                    out,
                    "  {} computer{}  {}",
                    g.computers.len(),
                    if g.computers.len() == 1 { "" } else { "s" },
                    statuses.join(", ")
                )?;
                match &g.fix {
                    Some(fix) => writeln!(out, "  fix: {fix}")?,
                    None => writeln!(out, "  fix: (none in the knowledge base)")?,
                }
                write_hosts(&g.computers, out, |r, line| {
                    let _ = write!(
                        line,
                        "  {}  stage {}  code {}  attempts {}",
                        r.status.as_str(),
                        r.stage.as_deref().map_or("-".to_string(), printable),
                        printable(&format_code(r.code, r.code_name.as_deref())),
                        r.attempts
                    );
                    if let Some(m) = r.message.as_deref().filter(|m| !m.is_empty()) {
                        let _ = write!(line, "  {}", printable(m));
                    }
                })?;
            }
        }
        if !self.incomplete.is_empty() {
            writeln!(out)?;
            writeln!(
                out,
                "inventoried-incomplete computers ({}), with the items they lack:",
                self.incomplete.len()
            )?;
            write_hosts(&self.incomplete, out, |r, line| {
                let _ = write!(line, "  missing {}", missing_text(r));
            })?;
        }
        if !self.complete.is_empty() {
            writeln!(out)?;
            writeln!(out, "inventoried computers ({}):", self.complete.len())?;
            write_hosts(&self.complete, out, |r, line| {
                if let Some(c) = &r.credential {
                    let _ = write!(line, "  account {}", printable(c));
                }
            })?;
        }
        Ok(())
    }

    fn csv(&self) -> String {
        let mut s = String::from(
            "target,name,address,status,stage,code,code_name,account,attempts,missing,fix,message\n",
        );
        let rows = self
            .groups
            .iter()
            .flat_map(|g| g.computers.iter())
            .chain(&self.incomplete)
            .chain(&self.complete);
        for r in rows {
            let cells = [
                r.target.clone(),
                r.name.clone().unwrap_or_default(),
                r.address.map(|a| a.to_string()).unwrap_or_default(),
                r.status.as_str().to_string(),
                r.stage.clone().unwrap_or_default(),
                r.code.map(|c| format!("0x{c:08X}")).unwrap_or_default(),
                r.code_name.clone().unwrap_or_default(),
                r.credential.clone().unwrap_or_default(),
                r.attempts.to_string(),
                r.missing
                    .iter()
                    .map(|m| m.class.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                first_remediation(r).unwrap_or_default().to_string(),
                r.message.clone().unwrap_or_default(),
            ];
            let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
            s.push_str(&line.join(","));
            s.push('\n');
        }
        s
    }

    fn insert_json(&self, obj: &mut serde_json::Map<String, Value>) {
        let failed: Vec<Value> = self
            .groups
            .iter()
            .flat_map(|g| g.computers.iter())
            .map(|r| computer_json(r))
            .collect();
        obj.insert("failed_computers".into(), Value::Array(failed));
        obj.insert(
            "failure_groups".into(),
            Value::Array(
                self.groups
                    .iter()
                    .map(|g| {
                        json!({
                            "fix": g.fix,
                            "statuses": g.statuses().iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                            "count": g.computers.len(),
                            "targets": g.computers.iter().map(|r| r.target.as_str()).collect::<Vec<_>>(),
                        })
                    })
                    .collect(),
            ),
        );
        obj.insert(
            "incomplete_computers".into(),
            Value::Array(self.incomplete.iter().map(|r| computer_json(r)).collect()),
        );
        if !self.complete.is_empty() {
            obj.insert(
                "inventoried_computers".into(),
                Value::Array(self.complete.iter().map(|r| computer_json(r)).collect()),
            );
        }
    }
}

/// A CSV cell: control characters dropped (a host may report anything), a value a
/// spreadsheet would run as a formula neutralised, quoted as RFC 4180 says
/// (`winv_report`'s rule, the same as the reports').
fn csv_cell(s: &str) -> String {
    winv_report::cell::csv_text(&winv_report::cell::clean(s))
}

/// The items a computer lacks: `Win32_Service (failed WBEM_E_PROVIDER_LOAD_FAILURE)`.
fn missing_text(r: &ComputerRow) -> String {
    if r.missing.is_empty() {
        return "-".to_string();
    }
    r.missing
        .iter()
        .map(|m| match &m.code_name {
            Some(c) => format!("{} ({} {})", printable(&m.class), m.outcome, printable(c)),
            None => format!("{} ({})", printable(&m.class), m.outcome),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line per computer: name (as Windows reported it, `-` when unknown), address,
/// the target as given when it is neither, then `rest`. Columns aligned; every host
/// string escaped.
fn write_hosts(
    rows: &[&ComputerRow],
    out: &mut dyn Write,
    rest: impl Fn(&ComputerRow, &mut String),
) -> std::io::Result<()> {
    let name = |r: &ComputerRow| r.name.as_deref().map_or("-".to_string(), printable);
    let addr = |r: &ComputerRow| r.address.map_or("-".to_string(), |a| a.to_string());
    let name_w = rows
        .iter()
        .map(|r| name(r).chars().count())
        .max()
        .unwrap_or(1);
    let addr_w = rows.iter().map(|r| addr(r).len()).max().unwrap_or(1);
    for r in rows {
        let mut line = format!("    {:<name_w$}  {:<addr_w$}", name(r), addr(r));
        let shown_as_name = r
            .name
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(&r.target));
        let shown_as_addr = r.address.is_some_and(|a| a.to_string() == r.target);
        if !shown_as_name && !shown_as_addr {
            let _ = write!(line, "  {}", printable(&r.target));
        }
        rest(r, &mut line);
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// An in-flight row whose scanner has not written for this long is a dead scanner's (a
/// live one renews its rows every 10 s, `scan`'s `IN_FLIGHT_ALIVE`).
const IN_FLIGHT_STALE_MS: i64 = 30_000;

fn stale(r: &InFlightRow, now: i64) -> bool {
    now.saturating_sub(r.updated_ms) > IN_FLIGHT_STALE_MS
}

/// The computers in flight: target, attempt, step and for how long.
fn write_in_flight(rows: &[InFlightRow], now: i64, out: &mut dyn Write) -> std::io::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "in flight ({}), longest on its step first:",
        rows.len()
    )?;
    let target_w = rows
        .iter()
        .map(|r| printable(&r.target).chars().count())
        .max()
        .unwrap_or(1);
    let step_w = rows
        .iter()
        .map(|r| printable(&r.step).chars().count())
        .max()
        .unwrap_or(1);
    for r in rows {
        let mut line = format!(
            "  {:<target_w$}  attempt {}  {:<step_w$}  for {}",
            printable(&r.target),
            r.attempt,
            printable(&r.step),
            format_duration(now - r.since_ms)
        );
        if stale(r, now) {
            let _ = write!(
                line,
                "  (no word from its scanner {} for {}: it may have died; --resume the run)",
                printable(&r.scanner),
                format_duration(now - r.updated_ms)
            );
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

fn in_flight_json(rows: &[InFlightRow], now: i64) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| {
                json!({
                    "target": r.target,
                    "attempt": r.attempt,
                    "step": r.step,
                    "since_ms": r.since_ms,
                    "seconds": (now - r.since_ms).max(0) / 1000,
                    "scanner": r.scanner,
                    "updated_ms": r.updated_ms,
                    "stale": stale(r, now),
                })
            })
            .collect(),
    )
}

/// The first remediation step for a failed computer: the same explanation as `scan
/// --json` and `diagnose` (`winv_engine::classify::explanation`).
fn first_remediation(r: &ComputerRow) -> Option<String> {
    if r.status.is_success() {
        return None;
    }
    winv_engine::classify::explained(
        r.status,
        r.code_name.as_deref(),
        r.denied_by,
        r.message.as_deref().unwrap_or(""),
        true,
    )?
    .remediation
    .into_iter()
    .next()
}

fn computer_json(r: &ComputerRow) -> Value {
    json!({
        "target": r.target,
        "name": r.name,
        "address": r.address.map(|a| a.to_string()),
        "status": r.status.as_str(),
        "status_text": r.status.display_text(),
        "stage": r.stage,
        "phase": r.phase,
        "category": r.category,
        "code": r.code,
        "code_hex": r.code.map(|c| format!("0x{c:08X}")),
        "code_name": r.code_name,
        "denied_by": r.denied_by,
        "message": r.message,
        "attempts": r.attempts,
        "credential": r.credential,
        "finished_ms": r.finished_ms,
        "missing": r.missing,
        "remediation": first_remediation(r),
    })
}

fn to_json(db: &Path, info: &RunInfo, summary: &RunSummary) -> Value {
    json!({
        "database": db.display().to_string(),
        "run": {
            "id": info.id,
            "state": info.state.as_str(),
            "started_ms": info.started_ms,
            "finished_ms": info.finished_ms,
            "started": format_ms(info.started_ms),
            "finished": info.finished_ms.map(format_ms),
            "options": info.options,
        },
        "targets": summary.targets,
        "finished": summary.finished,
        "pending": summary.targets.saturating_sub(summary.finished),
        "by_status": summary.by_status.iter().map(|(s, n)| json!({
            "status": s.as_str(),
            "text": s.display_text(),
            "count": n,
        })).collect::<Vec<_>>(),
        "classes": summary.classes,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use winv_engine::{ComputerResult, Failure, Inventory, Status};

    #[test]
    fn times_are_printed_in_utc() {
        assert_eq!(format_ms(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_ms(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_ms(1_709_288_100_999), "2024-03-01 10:15:00 UTC");
        assert_eq!(format_ms(-1000), "1969-12-31 23:59:59 UTC");
        assert_eq!(format_ms(4_102_444_800_000), "2100-01-01 00:00:00 UTC");
        assert_eq!(format_duration(42_000), "42s");
        assert_eq!(format_duration(312_000), "5m 12s");
        assert_eq!(format_duration(3_723_000), "1h 02m 03s");
        assert_eq!(
            format_code(Some(0x800706BA), Some("RPC_S_SERVER_UNAVAILABLE")),
            "0x800706BA RPC_S_SERVER_UNAVAILABLE"
        );
        assert_eq!(
            format_code(Some(10060), Some("WSAETIMEDOUT")),
            "10060 WSAETIMEDOUT"
        );
        assert_eq!(format_code(None, None), "-");
    }

    fn result(target: &str, status: Status) -> ComputerResult {
        ComputerResult {
            target: target.into(),
            address: None,
            status,
            failure: (!status.is_success()).then(|| Failure {
                status,
                stage: winv_engine::FailureStage::Client(winv_client::Stage::Activation),
                phase: winv_kb::Phase::Connecting,
                category: winv_kb::Category::Connectivity,
                code: Some(0x800706BA),
                code_name: Some("RPC_S_SERVER_UNAVAILABLE".into()),
                retry: false,
                denied_by: None,
                message: "the rpc server is unavailable".into(),
            }),
            attempts: Vec::new(),
            credential: None,
            mechanism: None,
            classes: Vec::new(),
            inventory: Inventory::default(),
            finished_ms: 1_709_288_160_000,
        }
    }

    fn temp_db(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "winventory-status-{name}-{}-{:?}.db",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ))
    }

    fn remove_db(p: &Path) {
        for suffix in ["", "-wal", "-shm"] {
            let mut s = p.as_os_str().to_owned();
            s.push(suffix);
            let _ = std::fs::remove_file(s);
        }
    }

    fn args(db: &Path, json: bool, computers: bool, run: Option<i64>) -> StatusArgs {
        StatusArgs {
            db: DbArgs {
                db: db.to_path_buf(),
                db_password_file: None,
            },
            run,
            format: None,
            json,
            computers,
            status: Vec::new(),
            stage: Vec::new(),
            code: Vec::new(),
            account: Vec::new(),
        }
    }

    /// A computer result: `status` with a failure at `stage` (code, name), or an
    /// inventory naming the computer `name` whose `missing` items failed.
    fn computer(
        target: &str,
        status: Status,
        failure: Option<(&str, u32, &str)>,
        name: Option<&str>,
        account: Option<&str>,
        missing: &[(&str, &str)],
    ) -> ComputerResult {
        let mut r = result(target, status);
        r.address = target.parse().ok().or(Some("10.9.9.9".parse().unwrap()));
        r.credential = account.map(str::to_string);
        if let (Some((stage, code, code_name)), Some(f)) = (failure, r.failure.as_mut()) {
            f.stage = winv_engine::FailureStage::parse(stage).unwrap();
            f.code = Some(code);
            f.code_name = Some(code_name.into());
            f.message = format!("{stage} failed: {code_name}");
        }
        if let Some(n) = name {
            r.inventory.classes.push(winv_engine::ClassInstances {
                class: "Win32_ComputerSystem".into(),
                namespace: "root\\cimv2".into(),
                instances: vec![json!({"__CLASS": "Win32_ComputerSystem", "Name": n}).into()],
            });
        }
        for (class, code_name) in missing {
            r.classes.push(winv_engine::ClassResult {
                class: (*class).into(),
                namespace: "root\\cimv2".into(),
                outcome: winv_engine::ClassOutcome::Failed,
                rows: 0,
                attempt: 1,
                error: Some(Failure {
                    code_name: Some((*code_name).into()),
                    ..result("x", Status::OtherReasons).failure.unwrap()
                }),
            });
        }
        r
    }

    const HOSTILE: &str = "=cmd|' /C calc'!A0\x1b[31m";

    /// A run of eight computers: three with one fix, two with another, one incomplete,
    /// one inventoried with a hostile name, one not finished.
    async fn work_db(name: &str) -> (PathBuf, i64) {
        let db = temp_db(name);
        let store = Store::open(&db).await.unwrap();
        let targets: Vec<String> = [
            "srv1.lab", "srv2.lab", "10.0.0.3", "pc4.lab", "pc5.lab", "pc6.lab", "pc7.lab",
            "pc8.lab",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let run = store
            .create_run(
                &targets,
                &json!({"accounts": ["LAB\\admin", "LAB\\helpdesk"]}),
                1_709_288_100_000,
            )
            .await
            .unwrap();
        let rpc = Some(("activation", 0x800706BA, "RPC_S_SERVER_UNAVAILABLE"));
        let timeout = Some(("connect-135", 10060, "WSAETIMEDOUT"));
        for r in [
            computer(
                "srv1.lab",
                Status::RpcServerUnavailable,
                rpc,
                Some("SRV1"),
                None,
                &[],
            ),
            computer(
                "srv2.lab",
                Status::RpcServerUnavailable,
                rpc,
                None,
                None,
                &[],
            ),
            computer(
                "10.0.0.3",
                Status::RpcServerUnavailable,
                rpc,
                None,
                None,
                &[],
            ),
            computer(
                "pc4.lab",
                Status::ConnectionTimeout,
                timeout,
                None,
                None,
                &[],
            ),
            computer(
                "pc7.lab",
                Status::ConnectionTimeout,
                timeout,
                None,
                None,
                &[],
            ),
            computer(
                "pc5.lab",
                Status::InventoriedIncomplete,
                None,
                Some("PC5"),
                Some("LAB\\helpdesk"),
                &[
                    ("Win32_Service", "WBEM_E_PROVIDER_LOAD_FAILURE"),
                    ("Win32_BIOS", "WBEM_E_INVALID_CLASS"),
                ],
            ),
            computer(
                "pc6.lab",
                Status::Inventoried,
                None,
                Some(HOSTILE),
                Some("LAB\\admin"),
                &[],
            ),
        ] {
            store.save_computer(run, &r).await.unwrap();
        }
        store.close().await;
        (db, run)
    }

    fn filtered(db: &Path, f: impl FnOnce(&mut StatusArgs)) -> StatusArgs {
        let mut a = args(db, false, true, None);
        f(&mut a);
        a
    }

    #[tokio::test]
    async fn failures_are_grouped_by_fix_with_names_and_addresses_under_each() {
        let (db, _) = work_db("groups").await;
        let text = report(&args(&db, false, true, None)).await.unwrap();
        let rpc_fix = winv_kb::by_name("RPC_S_SERVER_UNAVAILABLE")
            .unwrap()
            .remediation[0]
            .clone();
        assert_eq!(
            text.matches(rpc_fix.as_str()).count(),
            1,
            "one fix line: {text}"
        );
        assert!(
            text.contains("failed computers (5), by fix (2 fixes):"),
            "{text}"
        );
        let at = text.find("  3 computers  rpc-server-unavailable").unwrap();
        let group = &text[at..text[at..].find("\n\n").map_or(text.len(), |e| at + e)];
        assert!(group.contains(&format!("fix: {rpc_fix}")), "{group}");
        // Name and address; the target too when it is neither.
        assert!(
            group.contains("SRV1  10.9.9.9  srv1.lab  rpc-server-unavailable"),
            "{group}"
        );
        assert!(
            group.contains("-     10.0.0.3  rpc-server-unavailable"),
            "{group}"
        );
        assert!(text.contains("  2 computers  connection-timeout"), "{text}");
        // The largest group first.
        assert!(at < text.find("  2 computers  connection-timeout").unwrap());
        // The incomplete computer with the items it lacks.
        assert!(
            text.contains("inventoried-incomplete computers (1), with the items they lack:"),
            "{text}"
        );
        assert!(
            text.contains("PC5  10.9.9.9  pc5.lab  missing Win32_Service (failed WBEM_E_PROVIDER_LOAD_FAILURE), Win32_BIOS (failed WBEM_E_INVALID_CLASS)"),
            "{text}"
        );
        // Complete ones are no work.
        assert!(!text.contains("pc6.lab"), "{text}");
        remove_db(&db);
    }

    #[tokio::test]
    async fn each_filter_narrows_the_list_and_takes_lists() {
        let (db, _) = work_db("filters").await;
        let targets = |a: StatusArgs| async move {
            let j: Value = serde_json::from_str(&report(&a).await.unwrap()).unwrap();
            let mut t: Vec<String> = [
                "failed_computers",
                "incomplete_computers",
                "inventoried_computers",
            ]
            .iter()
            .flat_map(|k| j[k].as_array().cloned().unwrap_or_default())
            .map(|c| c["target"].as_str().unwrap().to_string())
            .collect();
            t.sort();
            t
        };
        let t = targets(filtered(&db, |a| {
            a.json = true;
            a.status = vec!["connection-timeout,inventoried".into()];
        }))
        .await;
        assert_eq!(t, ["pc4.lab", "pc6.lab", "pc7.lab"]);
        let t = targets(filtered(&db, |a| {
            a.json = true;
            a.status = vec![
                "inventoried-incomplete".into(),
                "rpc-server-unavailable".into(),
            ];
        }))
        .await;
        assert_eq!(t, ["10.0.0.3", "pc5.lab", "srv1.lab", "srv2.lab"]);
        let t = targets(filtered(&db, |a| {
            a.json = true;
            a.stage = vec!["connect-135".into()];
        }))
        .await;
        assert_eq!(t, ["pc4.lab", "pc7.lab"]);
        for code in ["wsaetimedout", "10060", "0x274C"] {
            let t = targets(filtered(&db, |a| {
                a.json = true;
                a.code = vec![code.into()];
            }))
            .await;
            assert_eq!(t, ["pc4.lab", "pc7.lab"], "{code}");
        }
        let t = targets(filtered(&db, |a| {
            a.json = true;
            a.code = vec!["0x800706BA".into()];
            a.stage = vec!["activation".into()];
        }))
        .await;
        assert_eq!(t, ["10.0.0.3", "srv1.lab", "srv2.lab"]);
        let t = targets(filtered(&db, |a| {
            a.json = true;
            a.account = vec!["lab\\HELPDESK".into()];
        }))
        .await;
        assert_eq!(t, ["pc5.lab"]);
        let t = targets(filtered(&db, |a| {
            a.json = true;
            a.account = vec!["LAB\\admin".into()];
            a.status = vec!["inventoried".into()];
        }))
        .await;
        assert_eq!(t, ["pc6.lab"]);
        remove_db(&db);
    }

    #[tokio::test]
    async fn a_filter_value_that_names_nothing_is_a_usage_error_listing_the_valid_ones() {
        let (db, run) = work_db("bad-filters").await;
        let err = |f: fn(&mut StatusArgs)| {
            let a = filtered(&db, f);
            async move {
                let e = report(&a).await.unwrap_err();
                assert!(e.downcast_ref::<UsageError>().is_some(), "{e:#}");
                e.to_string()
            }
        };
        let e = err(|a| a.status = vec!["inventoried".into(), "broken".into()]).await;
        assert!(e.starts_with("unknown status \"broken\": the statuses are inventoried, inventoried-incomplete, machine-not-found"), "{e}");
        assert!(e.contains("other-reasons"), "{e}");
        let e = err(|a| a.stage = vec!["tcp-999".into()]).await;
        assert!(
            e.starts_with("unknown stage \"tcp-999\": the stages are connect-135"),
            "{e}"
        );
        assert!(e.contains("watchdog"), "{e}");
        let e = err(|a| a.code = vec!["E_NOPE".into()]).await;
        assert_eq!(
            e,
            format!("unknown code \"E_NOPE\": give a code name or a number (0x80070005, 10060); the codes of run {run} are RPC_S_SERVER_UNAVAILABLE, WBEM_E_INVALID_CLASS, WBEM_E_PROVIDER_LOAD_FAILURE, WSAETIMEDOUT")
        );
        let e = err(|a| a.account = vec!["LAB\\nobody".into()]).await;
        assert_eq!(
            e,
            format!("unknown account \"LAB\\\\nobody\": the accounts of run {run} are LAB\\admin, LAB\\helpdesk")
        );
        // A code name of the knowledge base that this run does not have is no error.
        let a = filtered(&db, |a| a.code = vec!["E_ACCESSDENIED".into()]);
        assert!(report(&a).await.unwrap().contains("no computer to list"));
        remove_db(&db);
    }

    #[tokio::test]
    async fn csv_and_json_carry_the_work_list_and_host_strings_stay_data() {
        let (db, _) = work_db("csv").await;
        let a = filtered(&db, |a| {
            a.format = Some(Format::Csv);
            a.status = vec![
                "inventoried".into(),
                "inventoried-incomplete".into(),
                "connection-timeout".into(),
            ];
        });
        let csv = report(&a).await.unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "target,name,address,status,stage,code,code_name,account,attempts,missing,fix,message"
        );
        assert_eq!(lines.len(), 5, "{csv}");
        assert!(
            lines[1].starts_with(
                "pc4.lab,,10.9.9.9,connection-timeout,connect-135,0x0000274C,WSAETIMEDOUT,,0,,"
            ),
            "{csv}"
        );
        let pc5 = lines.iter().find(|l| l.starts_with("pc5.lab")).unwrap();
        assert!(pc5.contains(",Win32_Service Win32_BIOS,"), "{pc5}");
        // The hostile name: neutralised, quoted (it has a quote... no: a `'` only), no
        // escape character.
        let pc6 = lines.iter().find(|l| l.starts_with("pc6.lab")).unwrap();
        assert!(pc6.starts_with("pc6.lab,'=cmd|' /C calc'!A0[31m,"), "{pc6}");
        assert!(!csv.contains('\x1b'));
        // Text: the escape sequence shown, not sent.
        let a = filtered(&db, |a| a.status = vec!["inventoried".into()]);
        let text = report(&a).await.unwrap();
        assert!(!text.contains('\x1b'), "{text}");
        assert!(
            text.contains("=cmd|' /C calc'!A0\\u{1b}[31m  10.9.9.9  pc6.lab  account LAB\\admin"),
            "{text}"
        );
        // JSON: groups with their targets, the missing items.
        let a = filtered(&db, |a| a.json = true);
        let j: Value = serde_json::from_str(&report(&a).await.unwrap()).unwrap();
        assert_eq!(j["failure_groups"][0]["count"], 3);
        assert_eq!(
            j["failure_groups"][0]["statuses"],
            json!(["rpc-server-unavailable"])
        );
        assert_eq!(
            j["failure_groups"][0]["targets"],
            json!(["srv1.lab", "srv2.lab", "10.0.0.3"])
        );
        assert_eq!(
            j["failure_groups"][1]["targets"],
            json!(["pc4.lab", "pc7.lab"])
        );
        assert_eq!(j["incomplete_computers"][0]["name"], "PC5");
        assert_eq!(
            j["incomplete_computers"][0]["missing"][0]["class"],
            "Win32_Service"
        );
        assert_eq!(j["failed_computers"][0]["name"], "SRV1");
        assert_eq!(j["in_flight"], json!([]));
        remove_db(&db);
    }

    #[tokio::test]
    async fn a_running_run_shows_its_computers_in_flight_and_a_finished_one_does_not() {
        let (db, run) = work_db("flight").await;
        let store = Store::open(&db).await.unwrap();
        let now = now_ms();
        let row = |target: &str, step: &str, ago: i64| {
            winv_store::InFlightChange::Set(InFlightRow {
                target: target.into(),
                attempt: 2,
                step: step.into(),
                since_ms: now - ago,
                scanner: "scan:1".into(),
                updated_ms: now - ago.min(1000),
            })
        };
        store
            .update_in_flight(
                run,
                &[
                    row("pc8.lab", "Win32_Service", 312_000),
                    row("pc7\x1b[2J.lab", "connecting", 4_000),
                    winv_store::InFlightChange::Set(InFlightRow {
                        target: "pc9.lab".into(),
                        attempt: 1,
                        step: "Win32_BIOS".into(),
                        since_ms: now - 3_600_000,
                        scanner: "dead:77".into(),
                        updated_ms: now - 3_590_000,
                    }),
                ],
            )
            .await
            .unwrap();
        store.close().await;
        let text = report(&args(&db, false, false, None)).await.unwrap();
        assert!(
            text.contains("in flight (3), longest on its step first:"),
            "{text}"
        );
        // A live scanner's rows are plain; a silent one's say so.
        assert!(
            text.contains("  pc9.lab           attempt 1  Win32_BIOS     for 1h 00m 00s  (no word from its scanner dead:77 for 59m 50s: it may have died; --resume the run)"),
            "{text}"
        );
        assert!(
            !text
                .lines()
                .any(|l| l.contains("pc8.lab") && l.contains("no word")),
            "{text}"
        );
        assert!(
            text.contains("  pc8.lab           attempt 2  Win32_Service  for 5m 12s"),
            "{text}"
        );
        assert!(
            text.contains("pc7\\u{1b}[2J.lab  attempt 2  connecting     for 4s"),
            "{text}"
        );
        let j: Value =
            serde_json::from_str(&report(&args(&db, true, false, None)).await.unwrap()).unwrap();
        assert_eq!(j["in_flight"][0]["target"], "pc9.lab");
        assert_eq!(j["in_flight"][0]["stale"], true);
        assert_eq!(j["in_flight"][1]["target"], "pc8.lab");
        assert_eq!(j["in_flight"][1]["step"], "Win32_Service");
        assert_eq!(j["in_flight"][1]["stale"], false);
        assert!(j["in_flight"][1]["seconds"].as_i64().unwrap() >= 312);
        // Once the run is not running, rows left behind are not shown.
        let store = Store::open(&db).await.unwrap();
        store
            .set_run_state(run, RunState::Stopped, Some(now))
            .await
            .unwrap();
        store.close().await;
        let text = report(&args(&db, false, false, None)).await.unwrap();
        assert!(!text.contains("in flight"), "{text}");
        remove_db(&db);
    }

    #[tokio::test]
    async fn a_run_is_shown_as_text_and_json() {
        let db = temp_db("show");
        let store = Store::open(&db).await.unwrap();
        let targets: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let run = store
            .create_run(&targets, &json!({"profile": "default"}), 1_709_288_100_000)
            .await
            .unwrap();
        store
            .save_computer(run, &result("a", Status::Inventoried))
            .await
            .unwrap();
        store
            .save_computer(run, &result("b", Status::RpcServerUnavailable))
            .await
            .unwrap();
        store
            .set_run_state(run, RunState::Stopped, Some(1_709_288_412_000))
            .await
            .unwrap();
        store.close().await;

        let text = report(&args(&db, false, true, None)).await.unwrap();
        assert!(text.contains("state     stopped"), "{text}");
        assert!(text.contains("started   2024-03-01 10:15:00 UTC"), "{text}");
        assert!(text.contains("(5m 12s)"), "{text}");
        assert!(text.contains("3 targets, 2 finished, 1 pending"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("Failed - RPC Server Unavailable")
                    && l.contains("rpc-server-unavailable")
                    && l.trim_end().ends_with(" 1")),
            "{text}"
        );
        assert!(
            text.contains("    -  -  b  rpc-server-unavailable  stage activation  code 0x800706BA RPC_S_SERVER_UNAVAILABLE  attempts 0  the rpc server is unavailable"),
            "{text}"
        );
        assert!(
            !text.contains("  a  "),
            "an inventoried computer is not listed: {text}"
        );

        let j: Value =
            serde_json::from_str(&report(&args(&db, true, true, Some(run))).await.unwrap())
                .unwrap();
        assert_eq!(j["run"]["id"], run);
        assert_eq!(j["run"]["state"], "stopped");
        assert_eq!(j["pending"], 1);
        assert_eq!(j["by_status"][0]["status"], "inventoried");
        assert_eq!(j["by_status"][1]["text"], "Failed - RPC Server Unavailable");
        assert_eq!(j["failed_computers"].as_array().unwrap().len(), 1);
        assert_eq!(j["failed_computers"][0]["code_hex"], "0x800706BA");
        let fix = j["failed_computers"][0]["remediation"].as_str().unwrap();
        let kb = winv_kb::by_name("RPC_S_SERVER_UNAVAILABLE").unwrap();
        assert_eq!(fix, kb.remediation[0]);
        // Without --computers there is no list.
        let j: Value =
            serde_json::from_str(&report(&args(&db, true, false, None)).await.unwrap()).unwrap();
        assert!(j.get("failed_computers").is_none());

        let e = report(&args(&db, false, false, Some(run + 5)))
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("no run {} in {}", run + 5, db.display())
        );
        remove_db(&db);
    }

    /// A run shared by scanners on PostgreSQL: `status --db postgres://...` shows each
    /// scanner, the queue and the expired leases; names are escaped.
    #[tokio::test]
    async fn a_shared_run_on_postgres_shows_its_scanners_and_expired_leases() {
        let Some(server) = winv_testsuite::pg::PgServer::start().unwrap() else {
            return;
        };
        let url = PathBuf::from(server.url("postgres"));
        let auth = winv_store::DbAuth {
            password_file: Some(server.password_file().to_path_buf()),
        };
        let store = Store::open_with(&url, &auth, true).await.unwrap();
        let targets: Vec<String> = (0..4).map(|i| format!("pc{i}")).collect();
        let run = store.create_run(&targets, &json!({}), 1).await.unwrap();
        let now = now_ms();
        let alive = store
            .register_scanner(run, "scan-a:101", None, now)
            .await
            .unwrap();
        let dead = store
            .register_scanner(run, "scan-b\x1b[31m:102", None, now - 600_000)
            .await
            .unwrap();
        let mine = store.claim(alive, 1, now, 60_000).await.unwrap();
        assert_eq!(mine.claims[0].lease.target, "pc0");
        // The dead one claimed two ten minutes ago with a one-minute lease.
        let held = store.claim(dead, 2, now - 600_000, 60_000).await.unwrap();
        assert_eq!(held.claims.len(), 2);
        store
            .finish(&mine.claims[0].lease, &result("pc0", Status::Inventoried))
            .await
            .unwrap();
        store.close().await;

        let mut a = args(&url, false, false, None);
        a.db.db_password_file = auth.password_file.clone();
        let text = report(&a).await.unwrap();
        assert!(
            text.contains(
                "queue: 1 ready, 0 waiting for a retry, 0 claimed, 2 expired leases, 1 done"
            ),
            "{text}"
        );
        let line_a = text.lines().find(|l| l.contains("scan-a:101")).unwrap();
        assert!(line_a.contains("active"), "{line_a}");
        let line_b = text.lines().find(|l| l.contains("scan-b")).unwrap();
        assert!(
            // Ten minutes and however long the test took so far.
            line_b.contains("silent") && line_b.contains(" 10m "),
            "{line_b}"
        );
        assert!(!text.contains('\x1b'), "escaped: {text}");
        assert!(text.contains("scan-b\\u{1b}[31m:102"), "{text}");
        assert!(text.contains("expired leases (2):"), "{text}");
        assert!(text.contains("  pc1  held by scan-b"), "{text}");

        a.json = true;
        let j: Value = serde_json::from_str(&report(&a).await.unwrap()).unwrap();
        assert_eq!(j["scanners"].as_array().unwrap().len(), 2);
        assert_eq!(j["scanners"][0]["finished"], 1);
        assert_eq!(j["scanners"][1]["claimed"], 2);
        assert_eq!(j["scanners"][1]["state"], "silent");
        assert_eq!(j["queue"]["expired"], 2);
        assert_eq!(j["expired_leases"][1]["target"], "pc2");
        assert_eq!(j["database"], server.url("postgres"));
        // Without the password the server refuses, and says so.
        let mut no_pw = args(&url, false, false, None);
        no_pw.db.db_password_file = None;
        if std::env::var_os("PGPASSWORD").is_none() {
            let e = report(&no_pw).await.unwrap_err();
            assert!(
                format!("{e:#}").contains("cannot read the database"),
                "{e:#}"
            );
        }
    }

    #[tokio::test]
    async fn a_missing_database_is_an_error_and_is_not_created() {
        let db = temp_db("missing");
        let e = report(&args(&db, false, false, None)).await.unwrap_err();
        assert_eq!(format!("{e:#}"), format!("no database at {}", db.display()));
        assert!(!db.exists());
    }
}
