//! `winventory report`: a run of the database as the assessment a consultant hands
//! over: an xlsx workbook (Summary first, then flat sheets with filters), CSV files (one
//! per sheet), JSON, or one self-contained HTML file. The model and writers live in
//! `winv-report`. The scenario sheets follow for the scenarios the run collected, and
//! the newest `winventory perf` run's Performance sheet (`--perf-run`, `--no-perf`).
//! `--compare RUN_A RUN_B` writes the comparison of two runs instead
//! (`winv_report::compare`). An unknown run is a usage error (exit 2).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use winv_report::{Date, Format, PerfChoice, ReportError};

use crate::dbargs::DbArgs;
use crate::exitcode;

/// The formats of `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// One workbook (Excel, LibreOffice).
    Xlsx,
    /// A directory with one CSV file per sheet.
    Csv,
    /// One JSON document.
    Json,
    /// One self-contained HTML file (no network access when opened).
    Html,
}

/// Arguments of `winventory report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    #[command(flatten)]
    pub db: DbArgs,

    /// The run to report (default: the newest).
    #[arg(long, value_name = "ID", conflicts_with = "compare")]
    pub run: Option<i64>,

    /// Compare two runs instead: machines new and gone, status changes, software
    /// installed, removed and upgraded, OS changes from RUN_A (before) to RUN_B (after).
    #[arg(long, num_args = 2, value_names = ["RUN_A", "RUN_B"])]
    pub compare: Option<Vec<i64>>,

    /// The output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Xlsx)]
    pub format: ReportFormat,

    /// The output file (a directory for csv).
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    pub output: PathBuf,

    /// The `winventory perf` run whose Performance sheet the report carries (default:
    /// the newest, when the database has one).
    #[arg(long, value_name = "ID", conflicts_with_all = ["compare", "no_perf"])]
    pub perf_run: Option<i64>,

    /// Leave performance out of the report.
    #[arg(long, conflicts_with = "compare")]
    pub no_perf: bool,

    /// Judge end of support on this day (YYYY-MM-DD) instead of today.
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
}

/// Runs `report`.
pub fn run(args: ReportArgs) -> Result<ExitCode> {
    let today = match &args.as_of {
        Some(d) => match Date::parse_iso(d) {
            Some(d) => d,
            None => bail!("--as-of must be a date YYYY-MM-DD, not {d:?}"),
        },
        None => Date::today(),
    };
    let format = match args.format {
        ReportFormat::Xlsx => Format::Xlsx,
        ReportFormat::Csv => Format::Csv,
        ReportFormat::Json => Format::Json,
        ReportFormat::Html => Format::Html,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    rt.block_on(async move {
        let store = args.db.open_existing().await?;
        if let Some([a, b]) = args.compare.as_deref() {
            let result =
                winv_report::write_comparison(&store, *a, *b, format, &args.output).await;
            store.close().await;
            let s = match result {
                Err(ReportError::NoSuchRun(id)) => return Ok(no_such_run(id, &args.db)),
                other => other?,
            };
            let c = &s.counts;
            eprintln!(
                "winventory report: run {} compared with run {} ({} new, {} gone, {} status \
                 changes, {} programs installed, {} removed, {} upgraded, {} OS changes) \
                 written to {}",
                s.a.id,
                s.b.id,
                c.new,
                c.gone,
                c.status_changed,
                c.software_installed,
                c.software_removed,
                c.software_upgraded,
                c.os_changed,
                args.output.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        let perf = match (args.perf_run, args.no_perf) {
            (Some(id), _) => PerfChoice::Run(id),
            (None, true) => PerfChoice::Without,
            (None, false) => PerfChoice::Newest,
        };
        let result =
            winv_report::write_report(&store, args.run, perf, format, &args.output, today).await;
        store.close().await;
        let summary = match result {
            Err(ReportError::NoSuchRun(id)) => return Ok(no_such_run(id, &args.db)),
            Err(ReportError::NoSuchPerfRun(id)) => {
                eprintln!("winventory: no perf run {id} in {}", args.db.shown());
                return Ok(ExitCode::from(exitcode::USAGE));
            }
            other => other?,
        };
        eprintln!(
            "winventory report: run {} ({} targets, {} inventoried, {} past end of support) written to {}",
            summary.run,
            summary.targets,
            summary.inventoried,
            summary.past_end_of_support,
            args.output.display()
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// An unknown run id: a usage error (exit 2) that names the database.
fn no_such_run(id: i64, db: &DbArgs) -> ExitCode {
    eprintln!("winventory: no run {id} in {}", db.shown());
    ExitCode::from(exitcode::USAGE)
}
