//! The report model: a [`Summary`] and flat sheets, read from the store and handed row
//! by row to a [`Sink`] (one per output format), so no sheet sits in memory whole.

use std::collections::HashMap;

use serde::Serialize;
use winv_engine::{DeniedBy, Status};
use winv_store::{DbValue, PerfRunInfo, RowSet, RunId, RunInfo, Store};

use crate::cell::{Cell, Date, DateTime};
use crate::lifecycle::{self, Role, Support};
use crate::perf::PerfSummary;
use crate::scenarios::{self, ScenarioSummary};
use crate::ReportError;

/// How a column's values are typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Text.
    Text,
    /// Whole numbers.
    Int,
    /// Decimal numbers.
    Num,
    /// Days.
    Date,
    /// Days and times.
    DateTime,
    /// Yes / no.
    Bool,
}

/// One column: its title and type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Column {
    /// The header.
    pub title: &'static str,
    /// The type of its cells.
    pub kind: Kind,
}

pub(crate) const fn c(title: &'static str, kind: Kind) -> Column {
    Column { title, kind }
}

/// One sheet: its name (also the CSV file's stem) and columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SheetDef {
    /// The sheet's name.
    pub name: &'static str,
    /// A file-name stem for CSV (`scan-results`).
    pub slug: &'static str,
    /// The columns.
    pub columns: &'static [Column],
}

use Kind::*;

/// `Scan results`: one row per target with a result.
pub const SCAN_RESULTS: SheetDef = SheetDef {
    name: "Scan results",
    slug: "scan-results",
    columns: &[
        c("Target", Text),
        c("Address", Text),
        c("Status", Text),
        c("Status (MAP)", Text),
        c("Stage", Text),
        c("Phase", Text),
        c("Category", Text),
        c("Code", Text),
        c("Code name", Text),
        c("Refused by", Text),
        c("Attempts", Int),
        c("Credential", Text),
        c("Finished (UTC)", DateTime),
        c("Message", Text),
        c("First remediation", Text),
    ],
};

/// `Failures by reason`.
pub const FAILURE_REASONS: SheetDef = SheetDef {
    name: "Failures by reason",
    slug: "failures-by-reason",
    columns: &[
        c("Status", Text),
        c("Status (MAP)", Text),
        c("Stage", Text),
        c("Code", Text),
        c("Code name", Text),
        c("Refused by", Text),
        c("Computers", Int),
        c("Explanation", Text),
        c("Remediation", Text),
    ],
};

/// `Failures`: one row per failed computer.
pub const FAILURES: SheetDef = SheetDef {
    name: "Failures",
    slug: "failures",
    columns: &[
        c("Target", Text),
        c("Address", Text),
        c("Status", Text),
        c("Status (MAP)", Text),
        c("Stage", Text),
        c("Code", Text),
        c("Code name", Text),
        c("Refused by", Text),
        c("Message", Text),
        c("Explanation", Text),
        c("Remediation", Text),
        c("Diagnose with", Text),
    ],
};

const OS_COLUMNS: &[Column] = &[
    c("Target", Text),
    c("Computer name", Text),
    c("Domain", Text),
    c("Caption", Text),
    c("Edition", Text),
    c("Version", Text),
    c("Build", Text),
    c("Architecture", Text),
    c("Service pack", Text),
    c("Install date", DateTime),
    c("Last boot", DateTime),
    c("Role", Text),
    c("End of support", Date),
    c("Support", Text),
    c("Lifecycle source", Text),
];

/// `Operating systems`: every inventoried computer.
pub const OPERATING_SYSTEMS: SheetDef = SheetDef {
    name: "Operating systems",
    slug: "operating-systems",
    columns: OS_COLUMNS,
};
/// `Servers`: the operating systems of Windows Server computers.
pub const SERVERS: SheetDef = SheetDef {
    name: "Servers",
    slug: "servers",
    columns: OS_COLUMNS,
};
/// `Clients`: the operating systems of client computers.
pub const CLIENTS: SheetDef = SheetDef {
    name: "Clients",
    slug: "clients",
    columns: OS_COLUMNS,
};

/// `Hardware`.
pub const HARDWARE: SheetDef = SheetDef {
    name: "Hardware",
    slug: "hardware",
    columns: &[
        c("Target", Text),
        c("Manufacturer", Text),
        c("Model", Text),
        c("Serial number", Text),
        c("BIOS manufacturer", Text),
        c("BIOS version", Text),
        c("Processor", Text),
        c("Sockets", Int),
        c("Cores", Int),
        c("Logical processors", Int),
        c("Memory (GiB)", Num),
        c("Disks", Int),
        c("Disk size (GB)", Num),
        c("Chassis", Text),
        c("Virtual or physical", Text),
    ],
};

/// `Installed software`: one row per program per computer.
pub const INSTALLED_SOFTWARE: SheetDef = SheetDef {
    name: "Installed software",
    slug: "installed-software",
    columns: &[
        c("Target", Text),
        c("Name", Text),
        c("Version", Text),
        c("Publisher", Text),
        c("Install date", Date),
        c("32-bit", Bool),
    ],
};

/// `Software`: programs with their install counts.
pub const SOFTWARE: SheetDef = SheetDef {
    name: "Software",
    slug: "software",
    columns: &[
        c("Name", Text),
        c("Publisher", Text),
        c("Versions", Text),
        c("Version count", Int),
        c("Install count", Int),
    ],
};

/// `Hotfixes`.
pub const HOTFIXES: SheetDef = SheetDef {
    name: "Hotfixes",
    slug: "hotfixes",
    columns: &[
        c("Target", Text),
        c("Hotfix", Text),
        c("Description", Text),
        c("Installed on", Date),
    ],
};

/// `Services`.
pub const SERVICES: SheetDef = SheetDef {
    name: "Services",
    slug: "services",
    columns: &[
        c("Target", Text),
        c("Name", Text),
        c("Display name", Text),
        c("State", Text),
        c("Start mode", Text),
        c("Start account", Text),
    ],
};

/// Every detail sheet, in workbook order (after the Summary).
pub const SHEETS: [SheetDef; 11] = [
    SCAN_RESULTS,
    FAILURE_REASONS,
    FAILURES,
    OPERATING_SYSTEMS,
    SERVERS,
    CLIENTS,
    HARDWARE,
    INSTALLED_SOFTWARE,
    SOFTWARE,
    HOTFIXES,
    SERVICES,
];

/// What every output format implements: the summary first, then each sheet's rows.
pub trait Sink {
    /// The summary (called once, first).
    fn summary(&mut self, s: &Summary) -> Result<(), ReportError>;
    /// Instead of [`Sink::summary`]: the summary of a comparison of two runs (called
    /// once, first; the sheets of `compare::COMPARE_SHEETS` follow).
    fn comparison(&mut self, s: &crate::compare::CompareSummary) -> Result<(), ReportError>;
    /// A sheet starts.
    fn begin(&mut self, sheet: &SheetDef) -> Result<(), ReportError>;
    /// One row of the current sheet, one cell per column.
    fn row(&mut self, cells: &[Cell]) -> Result<(), ReportError>;
    /// The current sheet ends.
    fn end(&mut self) -> Result<(), ReportError>;
    /// Whether this format draws charts ([`Sink::figure`]); those that do not are not
    /// handed any.
    fn draws(&self) -> bool {
        false
    }
    /// A chart (inline SVG, its labels escaped) after the sheet it belongs to.
    fn figure(&mut self, _title: &str, _svg: &str) -> Result<(), ReportError> {
        Ok(())
    }
}

/// How many computers have one status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusCount {
    /// The identifier (`access-denied`).
    pub id: &'static str,
    /// MAP's wording.
    pub text: &'static str,
    /// Computers.
    pub computers: u64,
}

/// One failure reason (status, stage, code) and its explanation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reason {
    /// The status identifier.
    pub status: String,
    /// MAP's wording.
    pub status_text: String,
    /// The stage.
    pub stage: Option<String>,
    /// The code, `0x%08X`.
    pub code: Option<String>,
    /// Its name.
    pub code_name: Option<String>,
    /// Who refused.
    pub denied_by: Option<String>,
    /// Computers.
    pub computers: u64,
    /// The knowledge base's one line.
    pub explanation: Option<String>,
    /// The knowledge base's remediation steps.
    pub remediation: Vec<String>,
}

/// One group of operating systems with its end of support.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OsGroup {
    /// The caption.
    pub caption: Option<String>,
    /// The edition.
    pub edition: Option<String>,
    /// The build.
    pub build: Option<String>,
    /// Computers.
    pub computers: u64,
    /// The end of support, when known.
    pub end_of_support: Option<String>,
    /// Where the computer stands.
    pub support: Support,
    /// The lifecycle row's source.
    pub source: Option<String>,
}

/// The first sheet: the run, its counts and what stands out.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// The run's id.
    pub run: RunId,
    /// Its state.
    pub state: String,
    /// Start (UTC, `YYYY-MM-DD HH:MM:SS`).
    pub started: String,
    /// End, when finished.
    pub finished: Option<String>,
    /// Duration in seconds, when finished.
    pub duration_s: Option<i64>,
    /// The run's options (never a secret).
    pub options: serde_json::Value,
    /// Targets in the run.
    pub targets: u64,
    /// Targets with a result.
    pub results: u64,
    /// Targets without a result yet.
    pub pending: u64,
    /// Every status with at least one computer, in MAP's order.
    pub statuses: Vec<StatusCount>,
    /// Inventoried computers (complete or not).
    pub inventoried: u64,
    /// Inventoried share of the targets, percent.
    pub inventoried_percent: f64,
    /// Operating systems by caption, most first.
    pub os_families: Vec<(String, u64)>,
    /// Groups by caption, edition and build with their end of support.
    pub os_groups: Vec<OsGroup>,
    /// Computers past their end of support.
    pub past_end_of_support: u64,
    /// Computers whose support ends within 12 months.
    pub ending_within_12_months: u64,
    /// Computers whose end of support is unknown.
    pub support_unknown: u64,
    /// Failure reasons, most computers first.
    pub failure_reasons: Vec<Reason>,
    /// The day end of support is judged on.
    pub as_of: String,
    /// The assessment scenarios (in a report; the dashboard's overview leaves it out).
    pub scenarios: Option<ScenarioSummary>,
    /// The performance run reported with it, when there is one.
    pub perf: Option<PerfSummary>,
    /// The sheets that follow the summary, in order.
    pub sheets: Vec<SheetDef>,
}

pub(crate) fn text(v: Option<&DbValue>) -> Option<&str> {
    v.and_then(DbValue::as_str)
}

pub(crate) fn int(v: Option<&DbValue>) -> Option<i64> {
    v.and_then(DbValue::as_i64)
}

pub(crate) fn cell_text(v: Option<&DbValue>) -> Cell {
    Cell::text(text(v))
}

pub(crate) fn cell_int(v: Option<&DbValue>) -> Cell {
    int(v).map_or(Cell::Empty, Cell::Int)
}

/// A code as `0x%08X`.
pub fn code_hex(code: Option<i64>) -> Option<String> {
    code.and_then(|c| u32::try_from(c).ok())
        .map(|c| format!("0x{c:08X}"))
}

fn denied(s: Option<&str>) -> Option<DeniedBy> {
    let s = s?;
    [
        DeniedBy::Authentication,
        DeniedBy::Dcom,
        DeniedBy::WmiNamespace,
        DeniedBy::Registry,
    ]
    .into_iter()
    .find(|d| d.as_str() == s)
}

/// The knowledge base's explanation of a stored failure: `(one line, remediation)`.
pub fn explain(
    status: &str,
    code_name: Option<&str>,
    denied_by: Option<&str>,
    message: Option<&str>,
) -> (Option<String>, Vec<String>) {
    let Ok(st) = status.parse::<Status>() else {
        return (None, Vec::new());
    };
    match winv_engine::classify::explained(
        st,
        code_name,
        denied(denied_by),
        message.unwrap_or(""),
        true,
    ) {
        Some(e) => (Some(e.entry.summary.clone()), e.remediation),
        None => (None, Vec::new()),
    }
}

/// MAP's wording of a status identifier (the identifier itself when unknown).
pub fn status_text(id: &str) -> String {
    id.parse::<Status>()
        .map(|s| s.display_text().to_string())
        .unwrap_or_else(|_| id.to_string())
}

/// A word for a shell, in single quotes when it needs them.
pub fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '/'))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The `winventory diagnose` command line for a target (the password from an
/// environment variable, never on the line).
pub fn diagnose_command(target: &str, account: Option<&str>) -> String {
    format!(
        "winventory diagnose {} --user {} --password-env WINV_PASSWORD",
        shell_word(target),
        shell_word(account.unwrap_or("DOMAIN\\user"))
    )
}

/// "Virtual" or "Physical", by `winv_engine::scenario::platform` of the manufacturer,
/// model and BIOS Windows reports (`None` when none of them is known).
pub fn virtual_or_physical(
    manufacturer: Option<&str>,
    model: Option<&str>,
    bios_serial: Option<&str>,
    bios_version: Option<&str>,
) -> Option<&'static str> {
    if [manufacturer, model, bios_serial, bios_version]
        .iter()
        .all(Option::is_none)
    {
        return None;
    }
    let facts = winv_engine::scenario::MachineFacts {
        manufacturer: manufacturer.unwrap_or("").to_string(),
        model: model.unwrap_or("").to_string(),
        bios_serial: bios_serial.unwrap_or("").to_string(),
        bios_version: bios_version.unwrap_or("").to_string(),
    };
    Some(if winv_engine::scenario::platform(&facts).is_virtual() {
        "Virtual"
    } else {
        "Physical"
    })
}

fn ms_text(ms: i64) -> String {
    DateTime::from_unix_ms(ms).to_string()
}

/// Reads the run's summary.
pub async fn summary(store: &Store, info: &RunInfo, today: Date) -> Result<Summary, ReportError> {
    let run = info.id;
    let s = store.status_counts(run).await?;
    let statuses: Vec<StatusCount> = s
        .by_status
        .iter()
        .map(|(st, n)| StatusCount {
            id: st.as_str(),
            text: st.display_text(),
            computers: *n,
        })
        .collect();
    let results: u64 = statuses.iter().map(|s| s.computers).sum();
    let inventoried: u64 = s
        .by_status
        .iter()
        .filter(|(st, _)| st.is_success())
        .map(|(_, n)| *n)
        .sum();
    let targets = u64::try_from(info.targets).unwrap_or(0);

    let mut os_groups = Vec::new();
    let mut families: HashMap<String, u64> = HashMap::new();
    let (mut past, mut soon, mut unknown) = (0, 0, 0);
    for r in store.rows(run, RowSet::OsGroups).await? {
        let caption = text(r.first());
        let edition = text(r.get(1));
        let build = text(r.get(2));
        let n = u64::try_from(int(r.get(3)).unwrap_or(0)).unwrap_or(0);
        let row = lifecycle::lookup(caption, build, edition);
        let support = lifecycle::support(row, today);
        match support {
            Support::Ended => past += n,
            Support::EndingSoon => soon += n,
            Support::Unknown => unknown += n,
            Support::Supported => {}
        }
        *families
            .entry(caption.unwrap_or("(unknown)").to_string())
            .or_default() += n;
        os_groups.push(OsGroup {
            caption: caption.map(str::to_string),
            edition: edition.map(str::to_string),
            build: build.map(str::to_string),
            computers: n,
            end_of_support: row.map(|r| r.end.clone()),
            support,
            source: row.map(|r| r.source.clone()),
        });
    }
    let mut os_families: Vec<(String, u64)> = families.into_iter().collect();
    os_families.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));

    let failure_reasons = store
        .rows(run, RowSet::FailureReasons)
        .await?
        .iter()
        .map(|r| {
            let status = text(r.first()).unwrap_or("").to_string();
            let (explanation, remediation) =
                explain(&status, text(r.get(3)), text(r.get(4)), text(r.get(5)));
            Reason {
                status_text: status_text(&status),
                status,
                stage: text(r.get(1)).map(str::to_string),
                code: code_hex(int(r.get(2))),
                code_name: text(r.get(3)).map(str::to_string),
                denied_by: text(r.get(4)).map(str::to_string),
                computers: u64::try_from(int(r.get(6)).unwrap_or(0)).unwrap_or(0),
                explanation,
                remediation,
            }
        })
        .collect();

    Ok(Summary {
        run,
        state: info.state.to_string(),
        started: ms_text(info.started_ms),
        finished: info.finished_ms.map(ms_text),
        duration_s: info
            .finished_ms
            .map(|f| (f - info.started_ms).max(0) / 1000),
        options: info.options.clone(),
        targets,
        results,
        pending: targets.saturating_sub(s.finished as u64),
        statuses,
        inventoried,
        inventoried_percent: if targets == 0 {
            0.0
        } else {
            (inventoried as f64) * 100.0 / (targets as f64)
        },
        os_families,
        os_groups,
        past_end_of_support: past,
        ending_within_12_months: soon,
        support_unknown: unknown,
        failure_reasons,
        as_of: today.to_string(),
        scenarios: None,
        perf: None,
        sheets: SHEETS.to_vec(),
    })
}

/// The run to report: `run`, or the newest.
pub async fn pick_run(store: &Store, run: Option<RunId>) -> Result<RunInfo, ReportError> {
    match run {
        Some(id) => store.run(id).await?.ok_or(ReportError::NoSuchRun(id)),
        None => store.latest_run().await?.ok_or(ReportError::NoRuns),
    }
}

fn is_success(status: &str) -> bool {
    status.parse::<Status>().is_ok_and(Status::is_success)
}

/// Writes the whole report of `info`'s run to `sink`: the summary, every sheet of
/// [`SHEETS`] in order, the collection sheet and the sheets of each scenario the run
/// collected, then the Performance sheet of `perf` when given. `today` decides end of
/// support.
pub async fn write(
    store: &Store,
    info: &RunInfo,
    perf: Option<&PerfRunInfo>,
    today: Date,
    sink: &mut dyn Sink,
) -> Result<(), ReportError> {
    let run = info.id;
    let mut sum = summary(store, info, today).await?;
    let scen = scenarios::summary(store, run).await?;
    sum.sheets.extend(scenarios::sheets(&scen));
    sum.scenarios = Some(scen);
    if let Some(p) = perf {
        let machines = crate::perf::summaries(store, p.id).await?;
        sum.perf = Some(crate::perf::fleet(p, &machines));
        sum.sheets.push(crate::perf::PERFORMANCE);
    }
    sink.summary(&sum)?;
    write_base(store, info, today, &sum, sink).await?;
    for sheet in sum.sheets.iter().skip(SHEETS.len()) {
        if sheet.slug == crate::perf::PERFORMANCE.slug {
            if let Some(p) = perf {
                crate::perf::write(store, p, sink).await?;
            }
        } else {
            scenarios::write_sheet(store, run, sheet, sink).await?;
        }
    }
    Ok(())
}

/// The sheets of [`SHEETS`].
async fn write_base(
    store: &Store,
    info: &RunInfo,
    today: Date,
    sum: &Summary,
    sink: &mut dyn Sink,
) -> Result<(), ReportError> {
    let run = info.id;

    // Scan results.
    sink.begin(&SCAN_RESULTS)?;
    store
        .each_row(run, RowSet::Computers, |r| {
            let status = text(r.get(2)).unwrap_or("");
            let (_, remediation) = explain(status, text(r.get(7)), text(r.get(8)), text(r.get(9)));
            let failed = !is_success(status);
            sink.row(&[
                cell_text(r.first()),
                cell_text(r.get(1)),
                Cell::Text(status.to_string()),
                Cell::Text(status_text(status)),
                cell_text(r.get(3)),
                cell_text(r.get(4)),
                cell_text(r.get(5)),
                Cell::text(code_hex(int(r.get(6))).as_deref()),
                cell_text(r.get(7)),
                cell_text(r.get(8)),
                cell_int(r.get(12)),
                cell_text(r.get(10)),
                int(r.get(11)).map_or(Cell::Empty, |ms| Cell::DateTime(DateTime::from_unix_ms(ms))),
                cell_text(r.get(9)),
                if failed {
                    Cell::text(remediation.first().map(String::as_str))
                } else {
                    Cell::Empty
                },
            ])
        })
        .await?;
    sink.end()?;

    // Failures by reason.
    sink.begin(&FAILURE_REASONS)?;
    for r in &sum.failure_reasons {
        sink.row(&[
            Cell::Text(r.status.clone()),
            Cell::Text(r.status_text.clone()),
            Cell::text(r.stage.as_deref()),
            Cell::text(r.code.as_deref()),
            Cell::text(r.code_name.as_deref()),
            Cell::text(r.denied_by.as_deref()),
            Cell::Int(i64::try_from(r.computers).unwrap_or(i64::MAX)),
            Cell::text(r.explanation.as_deref()),
            Cell::Text(r.remediation.join("\n")),
        ])?;
    }
    sink.end()?;

    // Failures.
    let accounts = info
        .options
        .get("accounts")
        .and_then(|a| a.get(0))
        .and_then(|a| a.as_str());
    sink.begin(&FAILURES)?;
    store
        .each_row(run, RowSet::Computers, |r| {
            let status = text(r.get(2)).unwrap_or("");
            if is_success(status) {
                return Ok(());
            }
            let (explanation, remediation) =
                explain(status, text(r.get(7)), text(r.get(8)), text(r.get(9)));
            let target = text(r.first()).unwrap_or("");
            sink.row(&[
                cell_text(r.first()),
                cell_text(r.get(1)),
                Cell::Text(status.to_string()),
                Cell::Text(status_text(status)),
                cell_text(r.get(3)),
                Cell::text(code_hex(int(r.get(6))).as_deref()),
                cell_text(r.get(7)),
                cell_text(r.get(8)),
                cell_text(r.get(9)),
                Cell::text(explanation.as_deref()),
                Cell::Text(remediation.join("\n")),
                Cell::Text(diagnose_command(target, text(r.get(10)).or(accounts))),
            ])
        })
        .await?;
    sink.end()?;

    // Operating systems, then servers and clients.
    for (sheet, only) in [
        (OPERATING_SYSTEMS, None),
        (SERVERS, Some(Role::Server)),
        (CLIENTS, Some(Role::Client)),
    ] {
        sink.begin(&sheet)?;
        store
            .each_row(run, RowSet::OperatingSystems, |r| {
                let caption = text(r.get(3));
                let role = Role::of(caption.unwrap_or(""));
                if only.is_some_and(|o| o != role) {
                    return Ok(());
                }
                let row = lifecycle::lookup(caption, text(r.get(6)), text(r.get(4)));
                let dt = |v: Option<&DbValue>| match text(v) {
                    Some(s) => DateTime::parse_iso(s)
                        .map_or_else(|| Cell::Text(s.to_string()), Cell::DateTime),
                    None => Cell::Empty,
                };
                sink.row(&[
                    cell_text(r.first()),
                    cell_text(r.get(1)),
                    cell_text(r.get(2)),
                    cell_text(r.get(3)),
                    cell_text(r.get(4)),
                    cell_text(r.get(5)),
                    cell_text(r.get(6)),
                    cell_text(r.get(7)),
                    cell_text(r.get(8)),
                    dt(r.get(9)),
                    dt(r.get(10)),
                    Cell::Text(role.as_str().to_string()),
                    row.and_then(|r| Date::parse_iso(&r.end))
                        .map_or(Cell::Empty, Cell::Date),
                    Cell::Text(lifecycle::support(row, today).as_str().to_string()),
                    Cell::text(row.map(|r| r.source.as_str())),
                ])
            })
            .await?;
        sink.end()?;
    }

    // Hardware, with the disks from the raw Win32_DiskDrive instances.
    let mut disks: HashMap<i64, (i64, f64)> = HashMap::new();
    store
        .each_row::<ReportError, _>(run, RowSet::DiskDrives, |r| {
            let Some(id) = int(r.first()) else {
                return Ok(());
            };
            let size = text(r.get(1))
                .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
                .and_then(|v| {
                    let s = v.get("Size")?;
                    s.as_f64()
                        .or_else(|| s.as_str().and_then(|t| t.trim().parse::<f64>().ok()))
                })
                .unwrap_or(0.0);
            let e = disks.entry(id).or_default();
            e.0 += 1;
            e.1 += size;
            Ok(())
        })
        .await?;
    sink.begin(&HARDWARE)?;
    store
        .each_row(run, RowSet::Hardware, |r| {
            let d = int(r.get(12)).and_then(|id| disks.get(&id)).copied();
            sink.row(&[
                cell_text(r.first()),
                cell_text(r.get(1)),
                cell_text(r.get(2)),
                cell_text(r.get(3)),
                cell_text(r.get(4)),
                cell_text(r.get(5)),
                cell_text(r.get(6)),
                cell_int(r.get(7)),
                cell_int(r.get(8)),
                cell_int(r.get(9)),
                int(r.get(10)).map_or(Cell::Empty, |b| {
                    Cell::Num((b as f64 / 1_073_741_824.0 * 100.0).round() / 100.0)
                }),
                d.map_or(Cell::Empty, |d| Cell::Int(d.0)),
                d.map_or(Cell::Empty, |d| {
                    Cell::Num((d.1 / 1e9 * 10.0).round() / 10.0)
                }),
                cell_text(r.get(11)),
                Cell::text(virtual_or_physical(
                    text(r.get(1)),
                    text(r.get(2)),
                    text(r.get(3)),
                    Some(
                        [text(r.get(4)), text(r.get(5))]
                            .into_iter()
                            .flatten()
                            .collect::<Vec<_>>()
                            .join(" "),
                    )
                    .as_deref(),
                )),
            ])
        })
        .await?;
    sink.end()?;

    // Installed software.
    sink.begin(&INSTALLED_SOFTWARE)?;
    store
        .each_row(run, RowSet::Software, |r| {
            sink.row(&[
                cell_text(r.first()),
                cell_text(r.get(1)),
                cell_text(r.get(2)),
                cell_text(r.get(3)),
                match text(r.get(4)) {
                    Some(s) => {
                        Date::parse_any(s).map_or_else(|| Cell::Text(s.to_string()), Cell::Date)
                    }
                    None => Cell::Empty,
                },
                match r.get(5) {
                    Some(DbValue::Bool(b)) => Cell::Bool(*b),
                    Some(DbValue::Int(i)) => Cell::Bool(*i != 0),
                    _ => Cell::Empty,
                },
            ])
        })
        .await?;
    sink.end()?;

    // Software summary: install counts over versions, the versions listed.
    let mut totals: HashMap<(String, Option<String>), i64> = HashMap::new();
    store
        .each_row::<ReportError, _>(run, RowSet::SoftwareTotals, |r| {
            totals.insert(
                (
                    text(r.first()).unwrap_or("").to_string(),
                    text(r.get(1)).map(str::to_string),
                ),
                int(r.get(2)).unwrap_or(0),
            );
            Ok(())
        })
        .await?;
    sink.begin(&SOFTWARE)?;
    type Group = Option<((String, Option<String>), Vec<String>)>;
    let mut current: Group = None;
    let flush = |sink: &mut dyn Sink, cur: Group| -> Result<(), ReportError> {
        let Some((key, versions)) = cur else {
            return Ok(());
        };
        let n = totals.get(&key).copied().unwrap_or(0);
        const SHOWN: usize = 50;
        let mut listed = versions
            .iter()
            .take(SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ");
        if versions.len() > SHOWN {
            listed.push_str(&format!("; ... ({} more)", versions.len() - SHOWN));
        }
        sink.row(&[
            Cell::Text(key.0),
            Cell::text(key.1.as_deref()),
            Cell::Text(listed),
            Cell::Int(i64::try_from(versions.len()).unwrap_or(i64::MAX)),
            Cell::Int(n),
        ])
    };
    store
        .each_row::<ReportError, _>(run, RowSet::SoftwareVersions, |r| {
            let key = (
                text(r.first()).unwrap_or("").to_string(),
                text(r.get(1)).map(str::to_string),
            );
            let version = text(r.get(2)).unwrap_or("(none)").to_string();
            match &mut current {
                Some((k, v)) if *k == key => v.push(version),
                _ => {
                    let prev = current.take();
                    flush(sink, prev)?;
                    current = Some((key, vec![version]));
                }
            }
            Ok(())
        })
        .await?;
    flush(sink, current.take())?;
    sink.end()?;

    // Hotfixes.
    sink.begin(&HOTFIXES)?;
    store
        .each_row(run, RowSet::Hotfixes, |r| {
            sink.row(&[
                cell_text(r.first()),
                cell_text(r.get(1)),
                cell_text(r.get(2)),
                match text(r.get(3)) {
                    Some(s) => {
                        Date::parse_any(s).map_or_else(|| Cell::Text(s.to_string()), Cell::Date)
                    }
                    None => Cell::Empty,
                },
            ])
        })
        .await?;
    sink.end()?;

    // Services.
    sink.begin(&SERVICES)?;
    store
        .each_row(run, RowSet::Services, |r| {
            sink.row(&[
                cell_text(r.first()),
                cell_text(r.get(1)),
                cell_text(r.get(2)),
                cell_text(r.get(3)),
                cell_text(r.get(4)),
                cell_text(r.get(5)),
            ])
        })
        .await?;
    sink.end()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sheet_has_a_unique_name_and_slug_of_excel_length() {
        let mut names = std::collections::HashSet::new();
        for s in SHEETS {
            assert!(s.name.len() <= 31, "{}", s.name);
            assert!(names.insert(s.name));
            assert!(names.insert(s.slug));
        }
    }

    #[test]
    fn virtual_machines_are_told_from_physical_ones() {
        let v = |m: &str, model: &str| virtual_or_physical(Some(m), Some(model), None, None);
        assert_eq!(v("VMware, Inc.", "VMware7,1"), Some("Virtual"));
        assert_eq!(
            v("Microsoft Corporation", "Virtual Machine"),
            Some("Virtual")
        );
        assert_eq!(v("Amazon EC2", "m5.large"), Some("Virtual"));
        assert_eq!(v("Dell Inc.", "PowerEdge R650"), Some("Physical"));
        assert_eq!(
            v("Microsoft Corporation", "Surface Pro 9"),
            Some("Physical")
        );
        assert_eq!(
            virtual_or_physical(None, None, Some("VMware-56 4d 1a"), None),
            Some("Virtual"),
            "the BIOS serial alone"
        );
        assert_eq!(virtual_or_physical(None, None, None, None), None);
    }

    #[test]
    fn diagnose_commands_quote_for_the_shell() {
        assert_eq!(
            diagnose_command("pc1.lab.local", Some("LAB\\inventory")),
            "winventory diagnose pc1.lab.local --user 'LAB\\inventory' --password-env WINV_PASSWORD"
        );
        assert_eq!(shell_word("a'b; rm -rf /"), "'a'\\''b; rm -rf /'");
    }

    #[test]
    fn failures_are_explained_from_the_knowledge_base() {
        let (line, fix) = explain(
            "access-denied",
            Some("E_ACCESSDENIED"),
            Some("dcom"),
            Some("x"),
        );
        assert!(line.is_some());
        assert!(!fix.is_empty());
        let (_, logon) = explain(
            "access-denied",
            Some("E_ACCESSDENIED"),
            Some("authentication"),
            None,
        );
        assert_ne!(fix, logon, "a refused logon has its own remediation");
        assert_eq!(
            explain("no-such-status", None, None, None),
            (None, Vec::new())
        );
    }
}
