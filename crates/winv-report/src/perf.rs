//! Performance over time in the report: per machine, the average and 95th percentile of
//! CPU, memory in use, disk transfers per second and network bytes per second over a
//! `winventory perf` run, and (in HTML) a chart of each machine's CPU and memory.

use serde::Serialize;
use winv_engine::perf::{summarize, Summary};
use winv_store::{PerfRunId, PerfRunInfo, PerfSampleRow, Store, StoredMetrics};

use crate::cell::Cell;
use crate::model::{c, Kind::*, SheetDef, Sink};
use crate::ReportError;

/// `Performance`: one row per machine of the perf run.
pub const PERFORMANCE: SheetDef = SheetDef {
    name: "Performance",
    slug: "performance",
    columns: &[
        c("Machine", Text),
        c("State", Text),
        c("Status", Text),
        c("Samples", Int),
        c("CPU % avg", Num),
        c("CPU % p95", Num),
        c("Memory % avg", Num),
        c("Memory % p95", Num),
        c("Disk IO/s avg", Num),
        c("Disk IO/s p95", Num),
        c("Network B/s avg", Num),
        c("Network B/s p95", Num),
    ],
};

/// One machine's summary over a perf run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MachineSummary {
    /// The machine as given.
    pub target: String,
    /// `pending`, `sampling` or `not-responding`.
    pub state: String,
    /// The status of its last failure, if any.
    pub status: Option<String>,
    /// Samples with metrics (ok slots).
    pub samples: usize,
    pub cpu: Option<Summary>,
    pub memory: Option<Summary>,
    pub disk_transfers: Option<Summary>,
    pub network_bytes: Option<Summary>,
}

/// The fleet over a perf run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PerfSummary {
    /// The run.
    pub run: PerfRunId,
    /// Its start (unix ms), interval (ms) and slots.
    pub started_ms: i64,
    pub interval_ms: i64,
    pub slots: i64,
    /// Its state (`running`, `completed`, `stopped`).
    pub state: String,
    /// Machines in the run, and those not answering at the end.
    pub machines: usize,
    pub not_responding: usize,
    /// The machines' CPU averages summarised (average and p95 of the averages).
    pub cpu_of_averages: Option<Summary>,
}

fn series(samples: &[PerfSampleRow], f: fn(&StoredMetrics) -> Option<f64>) -> Vec<f64> {
    samples
        .iter()
        .filter(|s| s.ok)
        .filter_map(|s| f(&s.metrics))
        .collect()
}

/// The perf run to report: `run`, or the newest; `None` when the database has none.
pub async fn pick_run(
    store: &Store,
    run: Option<PerfRunId>,
) -> Result<Option<PerfRunInfo>, ReportError> {
    Ok(match run {
        Some(id) => Some(
            store
                .perf_run(id)
                .await?
                .ok_or(ReportError::NoSuchPerfRun(id))?,
        ),
        None => store.latest_perf_run().await?,
    })
}

/// Calls `each` with every machine of `run` (in the run's order), its summary and its
/// samples; one machine's samples are held at a time.
pub async fn each_machine<F>(store: &Store, run: PerfRunId, mut each: F) -> Result<(), ReportError>
where
    F: FnMut(&MachineSummary, &[PerfSampleRow]) -> Result<(), ReportError>,
{
    for t in store.perf_targets(run).await? {
        let samples = store.perf_samples(run, Some(&t.target)).await?;
        let s = MachineSummary {
            target: t.target.clone(),
            state: t.state.as_str().to_string(),
            status: t.status.clone(),
            samples: samples.iter().filter(|s| s.ok).count(),
            cpu: summarize(&series(&samples, |m| m.cpu_percent)),
            memory: summarize(&series(&samples, |m| m.memory_percent)),
            disk_transfers: summarize(&series(&samples, |m| m.disk_transfers_per_sec)),
            network_bytes: summarize(&series(&samples, |m| m.network_bytes_per_sec)),
        };
        each(&s, &samples)?;
    }
    Ok(())
}

/// Per machine average and 95th percentile of each metric over the run.
pub async fn summaries(store: &Store, run: PerfRunId) -> Result<Vec<MachineSummary>, ReportError> {
    let mut out = Vec::new();
    each_machine(store, run, |s, _| {
        out.push(s.clone());
        Ok(())
    })
    .await?;
    Ok(out)
}

/// The fleet summary of `info`'s run from its machines' summaries.
pub fn fleet(info: &PerfRunInfo, machines: &[MachineSummary]) -> PerfSummary {
    let averages: Vec<f64> = machines
        .iter()
        .filter_map(|m| m.cpu.map(|c| c.average))
        .collect();
    PerfSummary {
        run: info.id,
        started_ms: info.started_ms,
        interval_ms: info.interval_ms,
        slots: info.slots,
        state: info.state.to_string(),
        machines: machines.len(),
        not_responding: machines
            .iter()
            .filter(|m| m.state == "not-responding")
            .count(),
        cpu_of_averages: summarize(&averages),
    }
}

fn num(v: Option<f64>) -> Cell {
    v.map_or(Cell::Empty, |x| Cell::Num((x * 100.0).round() / 100.0))
}

/// The sheet's row of one machine.
pub fn row(m: &MachineSummary) -> Vec<Cell> {
    vec![
        Cell::Text(m.target.clone()),
        Cell::Text(m.state.clone()),
        Cell::text(m.status.as_deref()),
        Cell::Int(i64::try_from(m.samples).unwrap_or(i64::MAX)),
        num(m.cpu.map(|s| s.average)),
        num(m.cpu.map(|s| s.p95)),
        num(m.memory.map(|s| s.average)),
        num(m.memory.map(|s| s.p95)),
        num(m.disk_transfers.map(|s| s.average)),
        num(m.disk_transfers.map(|s| s.p95)),
        num(m.network_bytes.map(|s| s.average)),
        num(m.network_bytes.map(|s| s.p95)),
    ]
}

/// A machine's CPU and memory over the run as `(minutes since the run's start, value)`.
pub fn chart_series(info: &PerfRunInfo, samples: &[PerfSampleRow]) -> [Vec<(f64, f64)>; 2] {
    let at = |s: &PerfSampleRow| (s.sampled_ms - info.started_ms) as f64 / 60_000.0;
    let pick = |f: fn(&StoredMetrics) -> Option<f64>| -> Vec<(f64, f64)> {
        samples
            .iter()
            .filter(|s| s.ok)
            .filter_map(|s| f(&s.metrics).map(|v| (at(s), v)))
            .collect()
    };
    [pick(|m| m.cpu_percent), pick(|m| m.memory_percent)]
}

/// Writes the Performance sheet of `info`'s run, then each machine's chart (HTML sinks
/// draw it; the others ignore it).
pub async fn write(
    store: &Store,
    info: &PerfRunInfo,
    sink: &mut dyn Sink,
) -> Result<(), ReportError> {
    sink.begin(&PERFORMANCE)?;
    each_machine(store, info.id, |m, _| sink.row(&row(m))).await?;
    sink.end()?;
    if !sink.draws() {
        return Ok(());
    }
    each_machine(store, info.id, |m, samples| {
        let [cpu, mem] = chart_series(info, samples);
        let svg = crate::html::line_chart(
            &m.target,
            &[("CPU %", &cpu), ("Memory %", &mem)],
            100.0,
            "minutes",
        );
        sink.figure(&m.target, &svg)
    })
    .await
}
