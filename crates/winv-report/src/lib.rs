//! winventory's reports and dashboard, read from the store (`winv-store`'s report tables):
//!
//! - [`model`]: the report model: a [`Summary`] first (the run, counts by status with
//!   MAP's wording, inventoried share, OS families, end of support, failure reasons),
//!   then flat sheets ([`model::SHEETS`]) streamed row by row to a [`Sink`].
//! - [`scenarios`]: MAP's assessment scenarios (SQL Server, roles, virtualization,
//!   licensing and core licences) as sheets, written for the scenarios a run collected,
//!   and [`perf`]: a `winventory perf` run's per-machine averages and 95th percentiles.
//! - [`lifecycle`]: end of support from `data/lifecycle.toml` (data, each row with its
//!   source), by build, role and edition.
//! - Writers, one per format: [`xlsx`] (rust_xlsxwriter in constant-memory mode),
//!   [`csv`] (one file per sheet, formula injection neutralised), [`json`], [`html`]
//!   (one self-contained file, inline SVG charts, no script, a CSP that forbids any).
//! - [`web`]: the read-only dashboard (axum) behind `winventory serve`, and
//!   [`policy`], the pure rule of who may reach it.
//!
//! Every string that came from a scanned host is data: HTML-escaped in HTML, neutralised
//! for spreadsheets in CSV, written as a string cell (never a formula) in xlsx.

pub mod cell;
pub mod compare;
pub mod csv;
pub mod html;
pub mod json;
pub mod lifecycle;
pub mod model;
pub mod perf;
pub mod policy;
pub mod scenarios;
pub mod web;
pub mod xlsx;

use std::path::PathBuf;

pub use cell::{Cell, Date, DateTime};
pub use model::{Sink, Summary};
use winv_store::{RunId, StoreError};

/// Everything that can go wrong making a report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No run with this id.
    #[error("no run {0}")]
    NoSuchRun(RunId),
    /// The database has no run.
    #[error("the database has no run")]
    NoRuns,
    /// No performance run with this id.
    #[error("no perf run {0}")]
    NoSuchPerfRun(winv_store::PerfRunId),
    /// Writing the workbook failed.
    #[error("cannot write the workbook: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    /// Writing a file failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// JSON encoding failed.
    #[error("cannot encode json: {0}")]
    Json(#[from] serde_json::Error),
}

/// The report formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One workbook.
    Xlsx,
    /// A directory with one CSV file per sheet.
    Csv,
    /// One JSON document.
    Json,
    /// One self-contained HTML file.
    Html,
}

/// Which performance run a report carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PerfChoice {
    /// The newest, when the database has one.
    #[default]
    Newest,
    /// This one.
    Run(winv_store::PerfRunId),
    /// None.
    Without,
}

/// Writes the report of `run` (the newest when `None`) in `format` to `out` (a
/// directory for CSV, a file otherwise), with the performance run `perf` picks, judging
/// end of support on `today`. Returns the summary.
pub async fn write_report(
    store: &winv_store::Store,
    run: Option<RunId>,
    perf: PerfChoice,
    format: Format,
    out: &std::path::Path,
    today: Date,
) -> Result<Summary, ReportError> {
    let info = model::pick_run(store, run).await?;
    let perf = match perf {
        PerfChoice::Newest => crate::perf::pick_run(store, None).await?,
        PerfChoice::Run(id) => crate::perf::pick_run(store, Some(id)).await?,
        PerfChoice::Without => None,
    };
    let perf = perf.as_ref();
    let summary = match format {
        Format::Xlsx => {
            let mut sink = xlsx::XlsxSink::new(out)?;
            model::write(store, &info, perf, today, &mut sink).await?;
            sink.finish()?
        }
        Format::Csv => {
            let mut sink = csv::CsvSink::new(out)?;
            model::write(store, &info, perf, today, &mut sink).await?;
            sink.finish()?
        }
        Format::Json => {
            let mut sink = json::JsonSink::new(out)?;
            model::write(store, &info, perf, today, &mut sink).await?;
            sink.finish()?
        }
        Format::Html => {
            let mut sink = html::HtmlSink::new(out)?;
            model::write(store, &info, perf, today, &mut sink).await?;
            sink.finish()?
        }
    };
    Ok(summary)
}

/// Compares run `a` (before) with run `b` (after) and writes the comparison in `format`
/// to `out` (a directory for CSV). Returns its summary; an unknown run is
/// [`ReportError::NoSuchRun`].
pub async fn write_comparison(
    store: &winv_store::Store,
    a: RunId,
    b: RunId,
    format: Format,
    out: &std::path::Path,
) -> Result<compare::CompareSummary, ReportError> {
    let (summary, cmp) = compare::read(store, a, b).await?;
    match format {
        Format::Xlsx => {
            let mut sink = xlsx::XlsxSink::new(out)?;
            compare::write(&summary, &cmp, &mut sink)?;
            sink.close()?;
        }
        Format::Csv => {
            let mut sink = csv::CsvSink::new(out)?;
            compare::write(&summary, &cmp, &mut sink)?;
            sink.finish_any()?;
        }
        Format::Json => {
            let mut sink = json::JsonSink::new(out)?;
            compare::write(&summary, &cmp, &mut sink)?;
            sink.close()?;
        }
        Format::Html => {
            let mut sink = html::HtmlSink::new(out)?;
            compare::write(&summary, &cmp, &mut sink)?;
            sink.close()?;
        }
    }
    Ok(summary)
}

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    }
}
