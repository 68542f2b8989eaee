//! `winventory perf`: performance metrics over time (MAP's Performance Metrics Wizard).
//!
//! Samples every machine once per interval (slot) for a duration from the raw classes
//! (`Win32_PerfRawData_PerfOS_Processor` / `_Memory`, `_PerfDisk_PhysicalDisk`,
//! `_Tcpip_NetworkInterface`) and stores each sample with the rates computed against the
//! machine's previous one (`winv_engine::perf`). One task per machine keeps its
//! connection open between samples and reconnects at the next slot when a sample fails;
//! a semaphore bounds the samples in flight. A sample that cannot start before its slot
//! ends is missed (counted, never taken late). Every sample is committed on its own, so
//! a killed run loses nothing it stored, and `--resume` continues the run at the current
//! slot: `(run, machine, slot)` is the primary key, so no sample is ever stored twice.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::json;
use tokio::sync::{watch, Semaphore};
use tracing::{debug, warn};
use winv_client::{ClientError, Instance, Value, WmiClient, WmiOptions};
use winv_discovery::targets::ParseOptions;
use winv_engine::classify::{classify, NamespaceRole};
use winv_engine::perf::{metrics, summarize, MachineSample, RawSample};
use winv_engine::{now_ms, Credential};
use winv_report::perf::{summaries, MachineSummary};
use winv_store::{
    PerfRunId, PerfRunInfo, PerfSampleRow, PerfTargetState, RunState, Store, StoredMetrics,
};

use crate::connopts::{ConnectionArgs, UserArgs};
use crate::credentials;
use crate::dbargs::DbArgs;

/// The call deadline of `perf` when `--call-timeout` is not given.
const PERF_CALL_TIMEOUT: Duration = Duration::from_secs(30);

const CIMV2: &str = "root\\cimv2";

/// The queries of one sample (projection keeps them small; `_Total` is the machine).
const Q_CPU: &str = "SELECT Name, PercentProcessorTime, Timestamp_PerfTime, Frequency_PerfTime, Timestamp_Sys100NS FROM Win32_PerfRawData_PerfOS_Processor WHERE Name = '_Total'";
const Q_MEMORY: &str = "SELECT AvailableBytes FROM Win32_PerfRawData_PerfOS_Memory";
const Q_DISK: &str = "SELECT Name, DiskTransfersPersec, Timestamp_PerfTime, Frequency_PerfTime, Timestamp_Sys100NS FROM Win32_PerfRawData_PerfDisk_PhysicalDisk WHERE Name = '_Total'";
const Q_NET: &str = "SELECT Name, BytesTotalPersec, Timestamp_PerfTime, Frequency_PerfTime, Timestamp_Sys100NS FROM Win32_PerfRawData_Tcpip_NetworkInterface";
const Q_MEMORY_TOTAL: &str = "SELECT TotalPhysicalMemory FROM Win32_ComputerSystem";
/// Most network interfaces kept per sample (a bound against a host that lists
/// thousands).
const MAX_INTERFACES: usize = 64;

/// Options of `perf`.
#[derive(clap::Args, Debug)]
pub struct PerfArgs {
    /// Targets: host names, addresses, CIDR blocks or ranges.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    #[arg(long = "targets", value_name = "FILE", help = crate::targets::FILE_HELP)]
    pub targets_file: Option<PathBuf>,
    /// A credentials file: `ACCOUNT env:VAR` or `ACCOUNT file:PATH` per line, tried in order.
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,
    #[command(flatten)]
    pub users: UserArgs,
    #[command(flatten)]
    pub conn: ConnectionArgs,
    /// Time between samples: `30s`, `5m` (MAP's interval), `1h`.
    #[arg(long, default_value = "5m", value_parser = parse_duration, value_name = "TIME")]
    pub interval: Duration,
    /// How long to sample: `1h`, `2d`.
    #[arg(long, default_value = "1h", value_parser = parse_duration, value_name = "TIME")]
    pub duration: Duration,
    #[command(flatten)]
    pub db: DbArgs,
    /// Resume the newest unfinished sampling run (or --run ID) at the current slot.
    #[arg(long)]
    pub resume: bool,
    /// The sampling run to resume or summarize.
    #[arg(long, value_name = "ID")]
    pub run: Option<PerfRunId>,
    /// Print the per-machine summary (average and 95th percentile) of the newest run (or
    /// --run) and exit without sampling.
    #[arg(long)]
    pub summary: bool,
    /// Samples in flight at once.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub concurrency: usize,
    /// The summary as JSON on standard output.
    #[arg(long)]
    pub json: bool,
    /// No progress lines.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `30s`, `5m`, `2h`, `1d`, `500ms`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is no duration (examples: 30s, 5m, 1h, 2d)"))?;
    let ms = match unit {
        "ms" => n,
        "s" => n.saturating_mul(1000),
        "m" => n.saturating_mul(60_000),
        "h" => n.saturating_mul(3_600_000),
        "d" => n.saturating_mul(86_400_000),
        _ => return Err(format!("unknown unit {unit:?} in {s:?} (ms, s, m, h, d)")),
    };
    if ms == 0 {
        return Err("a duration must be more than zero".into());
    }
    Ok(Duration::from_millis(ms))
}

/// How the sampler runs.
#[derive(Clone, Debug)]
pub struct SamplerOptions {
    /// Client options of every connection.
    pub client: WmiOptions,
    /// Samples in flight at once.
    pub concurrency: usize,
    /// Progress lines on standard error.
    pub progress: bool,
}

/// What one execution did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Executed {
    /// Samples stored.
    pub stored: u64,
    /// Slots that could not be sampled in time (the previous sample of that machine
    /// still ran).
    pub missed: u64,
    /// Samples that failed.
    pub failed: u64,
    /// Connections opened (one per machine when every sample works: the connection is
    /// kept between samples).
    pub connects: u64,
    /// DCOM pings sent to keep a machine's objects alive between samples.
    pub pings: u64,
    /// Whether the stop signal ended it before the run's end.
    pub stopped: bool,
}

#[derive(Default)]
struct Counters {
    stored: AtomicU64,
    missed: AtomicU64,
    failed: AtomicU64,
    connects: AtomicU64,
    pings: AtomicU64,
}

/// How long a connection may stay idle before a DCOM ping: the server frees objects
/// whose OIDs were not pinged for three periods of 120 s ([MS-DCOM] 3.2.6), so ping at
/// less than one period.
const PING_EVERY: Duration = Duration::from_secs(110);

/// The slot `now_ms` falls in (0 before the start).
fn slot_at(run: &PerfRunInfo, now_ms: i64) -> i64 {
    if now_ms <= run.started_ms {
        0
    } else {
        (now_ms - run.started_ms) / run.interval_ms.max(1)
    }
}

/// Samples `run`'s machines from the current slot to the end (or until `stop` turns
/// true), storing each sample as it comes.
pub async fn execute(
    store: Store,
    run: PerfRunInfo,
    creds: Arc<Vec<Credential>>,
    opts: SamplerOptions,
    mut stop: watch::Receiver<bool>,
) -> Result<Executed> {
    let targets = store.perf_targets(run.id).await?;
    let mut last: HashMap<String, PerfSampleRow> = store
        .last_perf_samples(run.id)
        .await?
        .into_iter()
        .map(|s| (s.target.clone(), s))
        .collect();
    let sem = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let counters = Arc::new(Counters::default());
    let mut tasks = tokio::task::JoinSet::new();
    for t in targets {
        let m = Machine {
            store: store.clone(),
            run: run.clone(),
            target: t.target.clone(),
            creds: creds.clone(),
            opts: opts.clone(),
            sem: sem.clone(),
            counters: counters.clone(),
            previous: last.remove(&t.target),
            total_memory: t.total_memory,
            state: t.state,
            stop: stop.clone(),
        };
        tasks.spawn(m.run());
    }
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r {
            warn!(error = %e, "a sampling task ended abnormally");
        }
    }
    let stopped = *stop.borrow_and_update() && now_ms() < run.ends_ms();
    if !stopped {
        store
            .set_perf_run_state(run.id, RunState::Completed, Some(now_ms()))
            .await?;
    } else {
        store
            .set_perf_run_state(run.id, RunState::Stopped, None)
            .await?;
    }
    Ok(Executed {
        stored: counters.stored.load(Ordering::Relaxed),
        missed: counters.missed.load(Ordering::Relaxed),
        failed: counters.failed.load(Ordering::Relaxed),
        connects: counters.connects.load(Ordering::Relaxed),
        pings: counters.pings.load(Ordering::Relaxed),
        stopped,
    })
}

struct Machine {
    store: Store,
    run: PerfRunInfo,
    target: String,
    creds: Arc<Vec<Credential>>,
    opts: SamplerOptions,
    sem: Arc<Semaphore>,
    counters: Arc<Counters>,
    previous: Option<PerfSampleRow>,
    total_memory: Option<u64>,
    state: PerfTargetState,
    stop: watch::Receiver<bool>,
}

impl Machine {
    async fn run(mut self) {
        let mut conn: Option<WmiClient> = None;
        let mut slot = slot_at(&self.run, now_ms()).max(
            self.previous
                .as_ref()
                .map_or(0, |p| p.slot.saturating_add(1)),
        );
        while slot < self.run.slots {
            let slot_start = self.run.started_ms + slot * self.run.interval_ms;
            let slot_end = slot_start + self.run.interval_ms;
            // Wait for the slot; ping a kept connection while the wait is long.
            loop {
                let wait = slot_start - now_ms();
                if wait <= 0 || *self.stop.borrow() {
                    break;
                }
                let nap = Duration::from_millis(wait.unsigned_abs()).min(PING_EVERY);
                tokio::select! {
                    _ = tokio::time::sleep(nap) => {}
                    _ = self.stop.changed() => {}
                }
                if nap == PING_EVERY && slot_start > now_ms() {
                    if let Some(c) = conn.as_mut() {
                        self.counters.pings.fetch_add(1, Ordering::Relaxed);
                        let ok = matches!(
                            tokio::time::timeout(Duration::from_secs(30), c.ping()).await,
                            Ok(Ok(()))
                        );
                        if !ok {
                            debug!(target = %self.target, "ping failed; reconnecting at the next slot");
                            conn.take();
                        }
                    }
                }
            }
            if *self.stop.borrow() {
                break;
            }
            let now = now_ms();
            if now >= slot_end {
                // The previous sample overran this slot: skip to the current one.
                let current = slot_at(&self.run, now).min(self.run.slots);
                for missed in slot..current {
                    self.counters.missed.fetch_add(1, Ordering::Relaxed);
                    self.not_ok(
                        missed,
                        "missed: the previous sample of this machine was still running",
                    )
                    .await;
                }
                slot = current;
                continue;
            }
            let Ok(permit) = self.sem.clone().acquire_owned().await else {
                break;
            };
            let budget = Duration::from_millis((slot_end - now_ms()).max(1).unsigned_abs());
            let mut stop = self.stop.clone();
            let result = tokio::select! {
                r = tokio::time::timeout(budget, self.sample(&mut conn)) => r,
                _ = stop.changed() => { drop(permit); break; }
            };
            drop(permit);
            match result {
                Ok(Ok((raw, errors))) => self.stored(slot, raw, errors).await,
                Ok(Err(e)) => {
                    // The connection may be out of step: drop it, reconnect next slot.
                    if let Some(c) = conn.take() {
                        drop(c);
                    }
                    let f = classify(&e, NamespaceRole::Cimv2);
                    self.failed(slot, Some(f.status.as_str()), &e.to_string())
                        .await;
                }
                Err(_) => {
                    conn = None;
                    self.failed(slot, None, "the sample did not finish within its interval")
                        .await;
                }
            }
            slot += 1;
        }
        if let Some(c) = conn.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), c.close()).await;
        }
    }

    async fn stored(&mut self, slot: i64, raw: MachineSample, errors: Vec<String>) {
        let m = self
            .previous
            .as_ref()
            .map(|p| StoredMetrics::from(metrics(&p.raw, &raw)))
            .unwrap_or_else(|| StoredMetrics {
                // Memory needs no previous sample.
                memory_percent: metrics(&MachineSample::default(), &raw).memory_percent,
                ..StoredMetrics::default()
            });
        let row = PerfSampleRow {
            target: self.target.clone(),
            slot,
            sampled_ms: now_ms(),
            ok: true,
            raw,
            metrics: m,
            errors: (!errors.is_empty()).then(|| errors.join("; ")),
        };
        match self.store.insert_perf_sample(self.run.id, &row).await {
            Ok(true) => {
                self.counters.stored.fetch_add(1, Ordering::Relaxed);
                if self.opts.progress {
                    eprintln!(
                        "{} slot {slot}: cpu {} mem {} disk {} net {}",
                        crate::perf::safe(&self.target),
                        show(m.cpu_percent, "%"),
                        show(m.memory_percent, "%"),
                        show(m.disk_transfers_per_sec, "/s"),
                        show(m.network_bytes_per_sec, " B/s"),
                    );
                }
                self.previous = Some(row);
            }
            Ok(false) => debug!(target = %self.target, slot, "slot already sampled"),
            Err(e) => warn!(target = %self.target, error = %e, "cannot store a sample"),
        }
        if self.state != PerfTargetState::Sampling {
            self.state = PerfTargetState::Sampling;
            if let Err(e) = self
                .store
                .set_perf_target(self.run.id, &self.target, self.state, None, None, now_ms())
                .await
            {
                warn!(target = %self.target, error = %e, "cannot store the machine's state");
            }
        }
    }

    /// Records a slot without a sample.
    async fn not_ok(&self, slot: i64, why: &str) {
        let row = PerfSampleRow {
            target: self.target.clone(),
            slot,
            sampled_ms: now_ms(),
            ok: false,
            raw: MachineSample::default(),
            metrics: StoredMetrics::default(),
            errors: Some(why.to_string()),
        };
        if let Err(e) = self.store.insert_perf_sample(self.run.id, &row).await {
            warn!(target = %self.target, error = %e, "cannot store a failed slot");
        }
    }

    async fn failed(&mut self, slot: i64, status: Option<&str>, message: &str) {
        self.counters.failed.fetch_add(1, Ordering::Relaxed);
        debug!(target = %self.target, message, "sample failed");
        self.not_ok(slot, message).await;
        self.state = PerfTargetState::NotResponding;
        if let Err(e) = self
            .store
            .set_perf_target(
                self.run.id,
                &self.target,
                self.state,
                Some(status.unwrap_or("inventory-not-completed")),
                Some(message),
                now_ms(),
            )
            .await
        {
            warn!(target = %self.target, error = %e, "cannot store the machine's state");
        }
    }

    /// Connects when needed (each credential in order), then takes one sample. A WMI
    /// error of one class (a provider failure) leaves that metric out and keeps the
    /// connection; a connection failure or timeout is the sample's error.
    async fn sample(
        &mut self,
        conn: &mut Option<WmiClient>,
    ) -> Result<(MachineSample, Vec<String>), ClientError> {
        if conn.is_none() {
            let mut last_err = None;
            for c in self.creds.iter() {
                let r = match &c.mechanism {
                    // Kerberos or negotiate: the one flow with that mechanism.
                    Some(m) => {
                        let config = winv_client::FlowConfig {
                            opts: self.opts.client.clone(),
                            mechanism: m.clone(),
                            resolver: None,
                            rate: None,
                        };
                        Box::pin(winv_client::flow::connect(
                            winv_client::Target::new(&self.target),
                            &config,
                            None,
                        ))
                        .await
                    }
                    None => {
                        WmiClient::connect(&self.target, c.creds.clone(), self.opts.client.clone())
                            .await
                    }
                };
                match r {
                    Ok(client) => {
                        self.counters.connects.fetch_add(1, Ordering::Relaxed);
                        *conn = Some(client);
                        break;
                    }
                    Err(e) if e.is_auth_failure() => last_err = Some(e),
                    Err(e) => return Err(e),
                }
            }
            if conn.is_none() {
                return Err(last_err.unwrap_or_else(|| {
                    ClientError::new(
                        winv_client::Stage::Login,
                        winv_client::Cause::Protocol("no credentials".into()),
                    )
                }));
            }
        }
        let Some(client) = conn.as_mut() else {
            unreachable!("connected above")
        };
        let mut errors = Vec::new();
        let mut s = MachineSample::default();
        if self.total_memory.is_none() {
            if let Some(rows) =
                one(client, Q_MEMORY_TOTAL, &mut errors, "Win32_ComputerSystem").await?
            {
                self.total_memory = rows.first().and_then(|r| num(r.get("TotalPhysicalMemory")));
                if let Some(t) = self.total_memory {
                    let _ = self
                        .store
                        .set_perf_total_memory(self.run.id, &self.target, t)
                        .await;
                }
            }
        }
        s.total_memory = self.total_memory;
        if let Some(rows) = one(
            client,
            Q_CPU,
            &mut errors,
            "Win32_PerfRawData_PerfOS_Processor",
        )
        .await?
        {
            s.cpu = rows.first().and_then(|r| raw(r, "PercentProcessorTime"));
        }
        if let Some(rows) = one(
            client,
            Q_MEMORY,
            &mut errors,
            "Win32_PerfRawData_PerfOS_Memory",
        )
        .await?
        {
            s.available_bytes = rows.first().and_then(|r| num(r.get("AvailableBytes")));
        }
        if let Some(rows) = one(
            client,
            Q_DISK,
            &mut errors,
            "Win32_PerfRawData_PerfDisk_PhysicalDisk",
        )
        .await?
        {
            s.disk_transfers = rows.first().and_then(|r| raw(r, "DiskTransfersPersec"));
        }
        if let Some(rows) = one(
            client,
            Q_NET,
            &mut errors,
            "Win32_PerfRawData_Tcpip_NetworkInterface",
        )
        .await?
        {
            for r in rows.iter().take(MAX_INTERFACES) {
                let name = match r.get("Name") {
                    Some(Value::String(n)) => n.clone(),
                    _ => continue,
                };
                if let Some(v) = raw(r, "BytesTotalPersec") {
                    s.network_bytes.push((name, v));
                }
            }
        }
        Ok((s, errors))
    }
}

/// Runs one query: `Ok(None)` with the error noted for a WMI error of the class
/// (provider failure, invalid class, access denied on it), `Err` for a failure of the
/// connection.
async fn one(
    client: &mut WmiClient,
    wql: &str,
    errors: &mut Vec<String>,
    class: &str,
) -> Result<Option<Vec<Instance>>, ClientError> {
    match client.query_in(CIMV2, wql).await {
        Ok(rows) => Ok(Some(rows)),
        Err(e) if e.is_connection_failure() || e.is_timeout() || e.hresult().is_none() => Err(e),
        Err(e) => {
            errors.push(format!("{class}: {e}"));
            Ok(None)
        }
    }
}

/// A numeric property (uint64 arrive as numbers; some providers send them as strings).
fn num(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Uint8(x) => Some(u64::from(*x)),
        Value::Uint16(x) => Some(u64::from(*x)),
        Value::Uint32(x) => Some(u64::from(*x)),
        Value::Uint64(x) => Some(*x),
        Value::Sint32(x) => u64::try_from(*x).ok(),
        Value::Sint64(x) => u64::try_from(*x).ok(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn raw(r: &Instance, counter: &str) -> Option<RawSample> {
    Some(RawSample {
        value: num(r.get(counter))?,
        perf_time: num(r.get("Timestamp_PerfTime"))?,
        perf_freq: num(r.get("Frequency_PerfTime"))?,
        sys_100ns: num(r.get("Timestamp_Sys100NS"))?,
    })
}

fn show(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.1}{unit}"))
}

/// A host string safe for a terminal (control characters escaped).
pub fn safe(s: &str) -> String {
    s.chars().flat_map(char::escape_default).collect()
}

fn print_summary(rows: &[MachineSummary], json: bool) -> Result<()> {
    if json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                json!({
                    "target": r.target,
                    "state": r.state,
                    "status": r.status,
                    "samples": r.samples,
                    "cpu_percent": r.cpu,
                    "memory_percent": r.memory,
                    "disk_transfers_per_sec": r.disk_transfers,
                    "network_bytes_per_sec": r.network_bytes,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let f = |s: &Option<winv_engine::perf::Summary>| {
        s.map_or_else(
            || "-".to_string(),
            |s| format!("{:.1}/{:.1}", s.average, s.p95),
        )
    };
    println!(
        "{:<28} {:>7} {:<15} {:>13} {:>13} {:>15} {:>19}",
        "machine",
        "samples",
        "state",
        "cpu % avg/p95",
        "mem % avg/p95",
        "disk IO/s avg/p95",
        "net B/s avg/p95"
    );
    for r in rows {
        println!(
            "{:<28} {:>7} {:<15} {:>13} {:>13} {:>15} {:>19}",
            safe(&r.target),
            r.samples,
            r.state,
            f(&r.cpu),
            f(&r.memory),
            f(&r.disk_transfers),
            f(&r.network_bytes)
        );
    }
    let all: Vec<f64> = rows
        .iter()
        .filter_map(|r| r.cpu.map(|c| c.average))
        .collect();
    if let Some(s) = summarize(&all) {
        println!(
            "fleet: {} machines, cpu average {:.1} %, p95 of averages {:.1} %",
            rows.len(),
            s.average,
            s.p95
        );
    }
    Ok(())
}

/// The targets (the one reading of [`crate::targets`]), or the exit code of a refusal.
fn targets_of(args: &PerfArgs) -> Result<std::result::Result<Vec<String>, ExitCode>> {
    let sources = crate::targets::Sources {
        specs: &args.targets,
        file: args.targets_file.as_deref(),
        opts: ParseOptions::default(),
    };
    Ok(
        match crate::targets::gather(&sources, &mut std::io::stderr().lock())? {
            crate::targets::Gathered::Targets { set, .. } => {
                Ok(set.into_targets().iter().map(|t| t.host()).collect())
            }
            crate::targets::Gathered::Refused(code) => Err(code),
        },
    )
}

/// Runs `perf`.
pub fn run(args: PerfArgs) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    rt.block_on(run_async(args))
}

async fn run_async(args: PerfArgs) -> Result<ExitCode> {
    if args.summary {
        let store = args.db.open_existing().await?;
        let run = match args.run {
            Some(id) => store.perf_run(id).await?,
            None => store.latest_perf_run().await?,
        }
        .context("no sampling run in the database")?;
        print_summary(&summaries(&store, run.id).await?, args.json)?;
        store.close().await;
        return Ok(ExitCode::SUCCESS);
    }
    let creds = credentials::gather(args.credentials.as_deref(), &args.users, &args.conn, "")?;
    if creds.is_empty() {
        bail!(
            "no credentials: give --user with --password-env or --password-file, or --credentials"
        );
    }
    // A sample also ends with its slot: a shorter call deadline than a scan's by default.
    let client = WmiOptions {
        auth_level: args.conn.auth_level.auth(),
        epm_port: args.conn.port,
        deadlines: args.conn.deadlines(PERF_CALL_TIMEOUT),
        ..WmiOptions::default()
    };
    let store = args.db.open().await?;
    let run = if args.resume {
        let run = match args.run {
            Some(id) => store.perf_run(id).await?,
            None => store.latest_resumable_perf_run().await?,
        }
        .context("no unfinished sampling run to resume")?;
        if run.state == RunState::Completed {
            bail!("sampling run {} is completed", run.id);
        }
        if now_ms() >= run.ends_ms() {
            store
                .set_perf_run_state(run.id, RunState::Completed, Some(run.ends_ms()))
                .await?;
            bail!("sampling run {} ended while it was stopped", run.id);
        }
        run
    } else {
        let targets = match targets_of(&args)? {
            Ok(t) => t,
            Err(code) => return Ok(code),
        };
        let interval_ms = i64::try_from(args.interval.as_millis()).unwrap_or(i64::MAX);
        let slots = i64::try_from(args.duration.as_millis() / args.interval.as_millis().max(1))
            .unwrap_or(i64::MAX)
            .max(1);
        let options = json!({
            "interval_ms": interval_ms,
            "duration_ms": i64::try_from(args.duration.as_millis()).unwrap_or(i64::MAX),
            "concurrency": args.concurrency,
            "port": args.conn.port,
            "accounts": creds.iter().map(|c| c.account.as_str()).collect::<Vec<_>>(),
        });
        let id = store
            .create_perf_run(&targets, interval_ms, slots, &options, now_ms())
            .await?;
        store
            .perf_run(id)
            .await?
            .context("the new run is missing")?
    };
    if !args.quiet {
        eprintln!(
            "sampling run {}: {} machines every {} ms, {} slots",
            run.id, run.targets, run.interval_ms, run.slots
        );
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = stop_tx.send(true);
        }
    });
    let opts = SamplerOptions {
        client,
        concurrency: args.concurrency,
        progress: !args.quiet,
    };
    let done = execute(store.clone(), run.clone(), Arc::new(creds), opts, stop_rx).await?;
    if !args.quiet {
        eprintln!(
            "stored {} samples, {} failed, {} slots missed{}",
            done.stored,
            done.failed,
            done.missed,
            if done.stopped {
                "; stopped (resume with --resume)"
            } else {
                ""
            }
        );
    }
    print_summary(&summaries(&store, run.id).await?, args.json)?;
    store.close().await;
    Ok(ExitCode::from(if done.stopped {
        crate::exitcode::STOPPED
    } else {
        crate::exitcode::OK
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use winv_client::{Credentials, Deadlines};
    use winv_sim::fleet::Fleet;
    use winv_testsuite::sim::{fleet_of, serve_fleet};

    const PW_ENV: &str = "WINV_PERF_SIM_PASSWORD";
    const PASSWORD: &str = "Perf-Sim-Pw0rd!";
    const SEED: u64 = 11;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5w").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("99999999999999999999s").is_err());
    }

    /// The raw values the simulated host serves for `class` at FILETIME `ft`.
    fn sim_rows(fleet: &Fleet, target: &str, class: &str, ft: u64) -> Vec<Instance> {
        let spec = fleet.host(target.parse().unwrap()).unwrap();
        winv_sim::wql::exec_query_at(
            &spec.data(),
            CIMV2,
            "WQL",
            &format!("SELECT * FROM {class}"),
            Some(ft),
        )
        .unwrap()
    }

    fn by_name<'a>(rows: &'a [Instance], name: &str) -> &'a Instance {
        rows.iter()
            .find(|r| r.get("Name") == Some(&Value::String(name.into())))
            .unwrap()
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() <= 1e-9 * b.abs().max(1.0))
    }

    /// 50 simulated hosts sampled every second for 8 slots; the sampler is killed (its
    /// task aborted, no clean shutdown) after about 3.5 s and resumed 1.5 s later; one
    /// host stops answering halfway (shutting down), one has a failing disk provider.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fifty_hosts_rates_match_the_simulated_counters_across_a_kill_and_resume() {
        let hosts: Vec<(String, String)> = (1..=50)
            .map(|i| {
                let faults = match i {
                    50 => "{ kind = \"shutting_down\", after_ms = 7000 }".to_string(),
                    49 => "{ kind = \"provider_failure\", class = \"Win32_PerfRawData_PerfDisk_PhysicalDisk\" }".to_string(),
                    _ => String::new(),
                };
                (format!("127.0.77.{i}"), faults)
            })
            .collect();
        let sim = serve_fleet(&hosts, PW_ENV, PASSWORD, SEED, 0)
            .await
            .unwrap();
        let fleet = Fleet::parse(&fleet_of(&hosts, PW_ENV, SEED)).unwrap();
        let path = std::env::temp_dir().join(format!("winv-perf-test-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let store = Store::open(&path).await.unwrap();
        let targets: Vec<String> = hosts.iter().map(|h| h.0.clone()).collect();
        let interval = 2500i64;
        let slots = 6i64;
        let run_id = store
            .create_perf_run(&targets, interval, slots, &json!({}), now_ms() + 300)
            .await
            .unwrap();
        let creds = Arc::new(vec![Credential {
            account: "LAB\\admin".into(),
            creds: Credentials::with_password("admin", "LAB", PASSWORD),
            mechanism: None,
        }]);
        let opts = SamplerOptions {
            client: WmiOptions {
                epm_port: sim.epm_port,
                deadlines: Deadlines {
                    connect: Duration::from_secs(1),
                    read: Duration::from_millis(2000),
                    call: Duration::from_millis(2000),
                },
                enum_timeout: Duration::from_millis(500),
                ..WmiOptions::default()
            },
            concurrency: 16,
            progress: false,
        };
        let (_stop_tx, stop_rx) = watch::channel(false);
        let run = store.perf_run(run_id).await.unwrap().unwrap();
        let first = tokio::spawn(execute(
            store.clone(),
            run.clone(),
            creds.clone(),
            opts.clone(),
            stop_rx.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(6600)).await;
        first.abort();
        let _ = first.await;
        let killed_ms = now_ms();
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let resumed = store.latest_resumable_perf_run().await.unwrap().unwrap();
        assert_eq!(resumed.id, run_id);
        let resumed_ms = now_ms();
        let done = execute(store.clone(), resumed, creds, opts, stop_rx)
            .await
            .unwrap();
        assert!(!done.stopped);
        // One connection per machine, kept between samples: the resumed run connects each
        // machine once, plus once more after each failed sample at most.
        assert!(done.connects <= 50 + done.failed, "{done:?}");
        assert!(done.stored > done.connects, "{done:?}");
        assert_eq!(
            store.perf_run(run_id).await.unwrap().unwrap().state,
            RunState::Completed
        );

        let all = store.perf_samples(run_id, None).await.unwrap();
        let states = store.perf_targets(run_id).await.unwrap();
        let mut checked_rates = 0;
        let mut ok_samples = 0;
        for t in &targets {
            let rows: Vec<&PerfSampleRow> = all.iter().filter(|s| s.target == *t).collect();
            // Slots strictly increase: none stored twice.
            assert!(rows.windows(2).all(|w| w[0].slot < w[1].slot), "{t}");
            // Every slot has a row (a sample, or a failed or missed slot) except those
            // that began while the sampler was dead (one interval of slack each side).
            for slot in 0..slots {
                let start = run.started_ms + slot * interval;
                let dead = start >= killed_ms - interval && start <= resumed_ms + interval;
                if !dead {
                    assert!(rows.iter().any(|s| s.slot == slot), "{t}: slot {slot} lost");
                }
            }
            for r in rows.iter().filter(|r| !r.ok) {
                assert!(r.errors.is_some() && r.metrics == StoredMetrics::default());
            }
            let mine: Vec<&PerfSampleRow> = rows.iter().copied().filter(|r| r.ok).collect();
            ok_samples += mine.len();
            for (i, s) in mine.iter().enumerate() {
                // The raw values are what the simulated host serves at their timestamps.
                let cpu = s.raw.cpu.unwrap();
                let rows = sim_rows(
                    &fleet,
                    t,
                    "Win32_PerfRawData_PerfOS_Processor",
                    cpu.sys_100ns,
                );
                let total = by_name(&rows, "_Total");
                assert_eq!(
                    num(total.get("PercentProcessorTime")),
                    Some(cpu.value),
                    "{t}"
                );
                assert_eq!(num(total.get("Timestamp_PerfTime")), Some(cpu.perf_time));
                if t.ends_with(".49") {
                    assert!(s.raw.disk_transfers.is_none());
                    assert!(
                        s.errors.as_deref().unwrap().contains("PhysicalDisk"),
                        "{:?}",
                        s.errors
                    );
                } else {
                    let d = s.raw.disk_transfers.unwrap();
                    let rows = sim_rows(
                        &fleet,
                        t,
                        "Win32_PerfRawData_PerfDisk_PhysicalDisk",
                        d.sys_100ns,
                    );
                    assert_eq!(
                        num(by_name(&rows, "_Total").get("DiskTransfersPersec")),
                        Some(d.value)
                    );
                }
                let (nic, n) = &s.raw.network_bytes[0];
                let rows = sim_rows(
                    &fleet,
                    t,
                    "Win32_PerfRawData_Tcpip_NetworkInterface",
                    n.sys_100ns,
                );
                assert_eq!(
                    num(by_name(&rows, nic).get("BytesTotalPersec")),
                    Some(n.value)
                );
                // Memory: in use of the total.
                let total_mem = s.raw.total_memory.unwrap() as f64;
                let avail = s.raw.available_bytes.unwrap() as f64;
                assert!(close(
                    s.metrics.memory_percent,
                    100.0 * (1.0 - avail / total_mem)
                ));
                // The rates against the previous stored sample, by hand.
                let Some(p) = i.checked_sub(1).map(|j| mine[j]) else {
                    assert_eq!(s.metrics.cpu_percent, None);
                    continue;
                };
                let pc = p.raw.cpu.unwrap();
                let want_cpu = 100.0
                    * (1.0 - (cpu.value - pc.value) as f64 / (cpu.sys_100ns - pc.sys_100ns) as f64);
                assert!(
                    close(s.metrics.cpu_percent, want_cpu),
                    "{t} {:?} {want_cpu}",
                    s.metrics
                );
                if let (Some(d), Some(pd)) = (s.raw.disk_transfers, p.raw.disk_transfers) {
                    let want = f64::from((d.value as u32).wrapping_sub(pd.value as u32))
                        / ((d.perf_time - pd.perf_time) as f64 / d.perf_freq as f64);
                    assert!(close(s.metrics.disk_transfers_per_sec, want));
                }
                let pn = &p.raw.network_bytes[0].1;
                let want_net =
                    (n.value - pn.value) as f64 / ((n.perf_time - pn.perf_time) as f64 / 1e7);
                assert!(close(s.metrics.network_bytes_per_sec, want_net));
                checked_rates += 1;
            }
            let state = states.iter().find(|x| x.target == *t).unwrap();
            if t.ends_with(".50") {
                // Stopped answering halfway: keeps its samples, gets its status.
                assert!(
                    !mine.is_empty() && mine.len() < slots as usize,
                    "{}",
                    mine.len()
                );
                assert_eq!(state.status.as_deref(), Some("computer-shutting-down"));
                assert_eq!(state.state, PerfTargetState::NotResponding);
                assert!(
                    state.status.is_some() && state.message.is_some(),
                    "{state:?}"
                );
                let last = rows.last().unwrap();
                assert!(!last.ok, "{t}: its last slot failed");
            } else {
                assert!(!mine.is_empty(), "{t}: no sample at all");
            }
        }
        // Most slots give a sample even on a loaded test machine; all of them on an idle
        // one (`done` counts the failures of the second half).
        assert!(
            ok_samples >= 49 * (slots as usize) / 2,
            "{ok_samples} {done:?}"
        );
        assert!(checked_rates >= 49, "{checked_rates}");
        let sums = summaries(&store, run_id).await.unwrap();
        let one = sums.iter().find(|s| s.target == "127.0.77.1").unwrap();
        assert!(one.cpu.unwrap().p95 >= one.cpu.unwrap().average - 1e-9 || one.samples < 3);

        // The report's Performance sheet and charts carry the same summaries.
        let mut sink = winv_report::html::TableSink::new(1000);
        let info = store.perf_run(run_id).await.unwrap().unwrap();
        winv_report::perf::write(&store, &info, &mut sink)
            .await
            .unwrap();
        let html = sink.out;
        assert!(
            html.contains(&format!("<p>{} rows.</p>", sums.len())),
            "one row per machine"
        );
        assert_eq!(html.matches("<figure class=\"chart\">").count(), sums.len());
        let cpu = one.cpu.unwrap();
        assert!(
            html.contains(&format!(
                "<td class=\"n\">{:.2}</td>",
                (cpu.average * 100.0).round() / 100.0
            )),
            "the CPU average of 127.0.77.1"
        );
        store.close().await;
        sim.stop().await;
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}
