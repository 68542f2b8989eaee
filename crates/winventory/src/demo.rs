//! `winventory demo`: a simulated fleet of a few hundred Windows hosts on loopback, a
//! realistic share of them broken in the ways MAP, `docs/statuses.md` lists, scanned by the real engine
//! into a SQLite file. Nothing leaves 127.0.0.0/8; no root needed (the simulated hosts
//! listen on a port the system chooses instead of 135).

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use winv_client::WmiOptions;
use winv_engine::{now_ms, Engine, EngineOptions, Profile};
use winv_sim::fleet::Fleet;
use winv_sim::server::{ListenOptions, SimServer};
use winv_store::Store;

use crate::exitcode;
use crate::scan::{execute, options_json, Display, PROGRESS_EVERY};

/// What `demo --help` says after the options (the exit-code table follows it).
const AFTER_HELP: &str = "\
The summary and where to look next go to standard output (standard error with --json,
whose standard output holds only JSON lines); progress goes to standard error. The
faults are the demo's point: a completed demo exits 0 whatever its computers' statuses.";

/// Options of `demo`.
#[derive(clap::Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct DemoArgs {
    /// Simulated hosts (from 127.0.100.1 on).
    #[arg(long, default_value_t = 300, value_name = "N")]
    pub hosts: u32,
    /// Addresses after the fleet where nothing listens (connection refused).
    #[arg(long, default_value_t = 6, value_name = "N")]
    pub silent: u32,
    /// The database: a SQLite file (replaced if it exists), or a PostgreSQL URL
    /// `postgres://user@host/dbname` (a new run is added; the password from PGPASSWORD or
    /// ~/.pgpass).
    #[arg(long, default_value = "winventory-demo.db", value_name = "PATH|URL")]
    pub db: PathBuf,
    /// Seed of the fleet's data and faults.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Computers worked on at once.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub concurrency: usize,
    /// Write one JSON object per finished computer on standard output.
    #[arg(long)]
    pub json: bool,
    /// No live display and no summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The environment variable the simulated hosts read their password from.
const PW_ENV: &str = "WINV_DEMO_PASSWORD";
/// The first address of the fleet.
const FIRST: Ipv4Addr = Ipv4Addr::new(127, 0, 100, 1);

/// The demo fleet: most hosts healthy, the rest with the faults administrators meet.
fn fleet_text(hosts: u32, seed: u64) -> String {
    format!(
        r#"[defaults]
user = "LAB\\inventory"
password_env = "{PW_ENV}"
domain = "lab.local"
name_pattern = "WS{{n:04}}"
seed = {seed}

[mix]
start = "{FIRST}"
count = {hosts}
seed = {seed}
profiles = ["server-2016", "server-2019", "server-2022", "server-2025", "windows-10", "windows-11"]
faults = [
  {{ percent = 3, kind = "wrong_password" }},
  {{ percent = 3, kind = "dcom_access_denied" }},
  {{ percent = 2, kind = "wmi_access_denied", namespace = 'root\cimv2' }},
  {{ percent = 4, kind = "invalid_class", class = "Win32_QuickFixEngineering" }},
  {{ percent = 3, kind = "rpc_call_failed", call = "ExecQuery", first_attempts = 1 }},
  {{ percent = 2, kind = "call_cancelled", call = "ExecQuery", first_attempts = 2 }},
  {{ percent = 1, kind = "call_cancelled", call = "ExecQuery" }},
  {{ percent = 1, kind = "shutting_down", after_ms = 0 }},
  {{ percent = 2, kind = "dynamic_port_silent" }},
  {{ percent = 1, kind = "invalid_namespace", namespace = 'root\default' }},
  {{ percent = 1, kind = "dcom_disabled" }},
  {{ percent = 1, kind = "provider_hang", class = "Win32_Service" }},
]
"#
    )
}

/// A password for this run only: the simulated hosts and the engine share it in-process.
fn demo_password() -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("Demo-{:x}-{:x}!", t, std::process::id())
}

/// Where to look next, after the summary.
fn next_steps(db: &str, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "inventory database: {db} (try: winventory status --db {db} --computers)")?;
    writeln!(out, "workbook: winventory report --db {db} --format xlsx -o winventory-demo.xlsx")?;
    writeln!(out, "dashboard: winventory serve --db {db} (then open http://127.0.0.1:8080/)")?;
    out.flush()
}

/// Runs `demo`.
pub fn run(args: DemoArgs) -> Result<ExitCode> {
    if args.hosts == 0 || args.hosts > 20_000 {
        bail!("--hosts must be between 1 and 20000");
    }
    if let Some(limit) = crate::limits::raise_open_files() {
        crate::limits::check_demo(args.hosts, args.concurrency, limit)?;
    }
    let password = demo_password();
    // Set before any thread starts: the simulator reads it when the fleet is parsed.
    std::env::set_var(PW_ENV, &password);
    let fleet = Fleet::parse(&fleet_text(args.hosts, args.seed)).context("demo fleet")?;
    let mut targets: Vec<String> = fleet.hosts.iter().map(|h| h.address.to_string()).collect();
    let first_silent = u32::from(FIRST) + args.hosts;
    for i in 0..args.silent {
        targets.push(IpAddr::V4(Ipv4Addr::from(first_silent + i)).to_string());
    }
    let postgres = winv_store::DbLocation::parse(args.db.as_os_str())?.is_postgres();
    if !postgres && args.db.exists() {
        std::fs::remove_file(&args.db)
            .with_context(|| format!("cannot replace {}", args.db.display()))?;
        for ext in ["-wal", "-shm"] {
            let mut p = args.db.clone().into_os_string();
            p.push(ext);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    rt.block_on(async move {
        let sim = SimServer::start(
            fleet,
            ListenOptions {
                epm_port: 0,
                dynamic_port: 0,
                ..ListenOptions::default()
            },
        )
        .await
        .context("cannot start the simulated fleet on 127.0.100.0/22")?;
        let mut client = WmiOptions {
            epm_port: sim.epm_port,
            enum_timeout: Duration::from_secs(2),
            ..WmiOptions::default()
        };
        client.deadlines.connect = Duration::from_secs(2);
        client.deadlines.read = Duration::from_secs(3);
        client.deadlines.call = Duration::from_secs(3);
        // Demo timings: the same rules as a real scan, with short waits.
        let opts = EngineOptions {
            concurrency: args.concurrency,
            connections_per_second: 0.0,
            watchdog: Duration::from_secs(10),
            retry_delay: Duration::from_millis(500),
            client,
            ..EngineOptions::default()
        };
        let creds = vec![winv_engine::Credential::new("LAB\\inventory", &password)];
        let profile = Profile::standard();
        // A postgres:// URL opens that database (Store::open reads it from the path).
        let store = Store::open(&args.db)
            .await
            .with_context(|| format!("database {}", args.db.display()))?;
        let run = store
            .create_run(&targets, &options_json(&opts, &profile, &creds), now_ms())
            .await?;
        let engine = Engine::new(opts, creds, profile, None);
        if !args.quiet {
            eprintln!(
                "winventory demo: {} simulated hosts on 127.0.100.1+ (port {}), {} silent addresses",
                sim.hosts, sim.epm_port, args.silent
            );
        }
        let display = Display {
            json: args.json,
            quiet: args.quiet,
            progress_every: PROGRESS_EVERY,
        };
        let end = execute(&engine, &store, run, crate::scan::Work::Local(targets), display, true).await?;
        store.close().await;
        sim.stop().await;
        if !args.quiet {
            let mut out: Box<dyn Write> = if args.json {
                Box::new(std::io::stderr().lock())
            } else {
                Box::new(std::io::stdout().lock())
            };
            next_steps(&args.db.display().to_string(), &mut out).context("write the summary")?;
        }
        Ok(ExitCode::from(if end.stopped {
            exitcode::STOPPED
        } else {
            exitcode::OK
        }))
    })
}
