//! `winventory report`: a run of the database as the assessment a consultant hands
//! over: an xlsx workbook (Summary first, then flat sheets with filters), CSV files (one
//! per sheet), JSON, or one self-contained HTML file. The model and writers live in
//! `winv-report`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use winv_report::{Date, Format};
use winv_store::{Store, StoreError};

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
    /// The database file written by `winventory scan`.
    #[arg(long, value_name = "PATH", default_value = "winventory.db")]
    pub db: PathBuf,

    /// The run to report (default: the newest).
    #[arg(long, value_name = "ID")]
    pub run: Option<i64>,

    /// The output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Xlsx)]
    pub format: ReportFormat,

    /// The output file (a directory for csv).
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    pub output: PathBuf,

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
        let store = match Store::open_existing(&args.db).await {
            Ok(s) => s,
            Err(e @ StoreError::NoDatabase { .. }) => return Err(e.into()),
            Err(e) => return Err(anyhow::Error::new(e).context("cannot read the database")),
        };
        let result =
            winv_report::write_report(&store, args.run, format, &args.output, today).await;
        store.close().await;
        let summary = result?;
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
