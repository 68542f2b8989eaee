//! `winventory scan`: inventory a list of computers into the database, with a live status
//! display like MAP's, `--json` lines for tools, and `--resume` after Ctrl-C or a kill.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use winv_client::WmiOptions;
use winv_discovery::resolve::ResolveConfig;
use winv_discovery::targets::ParseOptions;
use winv_engine::{
    now_ms, AccountStats, ClassOutcome, ComputerResult, Credential, DeniedBy, Engine,
    EngineOptions, Event, Profile, Status, ATTEMPT_BUDGET, LOCKOUT_GUARD, RESULT_MEMORY,
    RETRY_DELAY, WATCHDOG,
};
use std::sync::Arc;

use winv_store::{QueueCounts, RunId, RunState, SharedQueue, SiteTarget, Store, LEASE};

use crate::connopts::{ConnectionArgs, UserArgs, CALL_TIMEOUT};
use crate::credentials;
use crate::dbargs::DbArgs;
use crate::exitcode;
use crate::targets::{self, Gathered, Sources};

/// What `scan --help` says after the options (the exit-code table follows it).
const AFTER_HELP: &str = "\
Output: with --json, standard output holds one JSON object per finished computer and
nothing else; otherwise the summary goes to standard output. Progress, warnings and
errors go to standard error: a live display on a terminal, else a plain progress line
every --progress-interval seconds. A bad TARGET argument refuses the command line; a bad
line of the --targets file is reported with its number and skipped.";

/// Options of `scan`.
#[derive(clap::Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct ScanArgs {
    /// Targets: host names, IPv4/IPv6 addresses, CIDR blocks (10.0.0.0/24) or ranges
    /// (10.0.0.1-10.0.0.50); one that is none of these refuses the command line (exit 2).
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    #[arg(long = "targets", value_name = "FILE", help = targets::FILE_HELP)]
    pub targets_file: Option<PathBuf>,
    /// A credentials file: `ACCOUNT env:VAR` or `ACCOUNT file:PATH` per line, tried in
    /// order before the `--user` accounts.
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,
    #[command(flatten)]
    pub users: UserArgs,
    #[command(flatten)]
    pub conn: ConnectionArgs,
    /// Inventory profile: `standard` or a TOML file.
    #[arg(long, default_value = "standard", value_name = "NAME|FILE")]
    pub profile: String,
    #[command(flatten)]
    pub db: DbArgs,
    /// Resume the newest unfinished run of the database (or --run ID): its remaining
    /// computers, with the credentials and options given now.
    #[arg(long)]
    pub resume: bool,
    /// The run to resume.
    #[arg(long, value_name = "ID", requires = "resume")]
    pub run: Option<RunId>,
    /// Computers worked on at once.
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub concurrency: usize,
    /// New TCP connections per second at most, across the whole scan (an attempt opens
    /// two or more: port 135, the dynamic port, a reconnect); 0: no limit. In a shared
    /// run it is the site's cap, shared by the site's live scanners (give them the same).
    #[arg(long, default_value_t = 20.0, value_name = "N")]
    pub rate: f64,
    /// Connections to each host's WMI endpoint, in one association group, for calls that
    /// do not depend on each other (class queries once the first connection has answered
    /// one, the registry reads of installed software: each connection spares their round
    /// trips); 1: one connection. Each counts toward --rate.
    #[arg(long, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=winv_client::lanes::MAX_CONNECTIONS as u64))]
    pub connections_per_host: u64,
    /// Seconds without progress before the watchdog ends a step (MAP: 300).
    #[arg(long, default_value_t = WATCHDOG.as_secs(), value_name = "SECS")]
    pub watchdog: u64,
    /// Seconds one attempt at a computer may take, connection and every item together: a
    /// host that keeps answering slowly holds its slot this long at most. What was
    /// collected is kept; the item running then and those not started fail with
    /// WINV_E_ATTEMPT_BUDGET (an incomplete inventory when something was collected).
    #[arg(long, default_value_t = ATTEMPT_BUDGET.as_secs(), value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub attempt_budget: u64,
    /// MiB of query results held at most for the computers in flight, shared equally
    /// (128: 4 MiB each at --concurrency 32, at least 2 MiB each); a query past its
    /// computer's share fails with WINV_E_LIMIT_EXCEEDED (a host that never ends an
    /// enumeration), the other classes are still collected.
    #[arg(long, default_value_t = (RESULT_MEMORY >> 20) as u64, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    pub result_memory: u64,
    /// Seconds a computer requeued by a retry-class error waits at least.
    #[arg(long, default_value_t = RETRY_DELAY.as_secs(), value_name = "SECS")]
    pub retry_delay: u64,
    /// Write one JSON object per finished computer on standard output.
    #[arg(long)]
    pub json: bool,
    /// No live display and no summary.
    #[arg(long, short)]
    pub quiet: bool,
    /// Seconds between the plain progress lines written when standard error is not a
    /// terminal (done/total, inventoried, failed, in flight, rate).
    #[arg(long, default_value_t = PROGRESS_EVERY.as_secs(), value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub progress_interval: u64,
    /// Scan without any account (every computer ends as no-credentials): only to see which
    /// computers answer. Without it, a scan with no credential refuses to start.
    #[arg(long)]
    pub no_credentials: bool,
    /// The lockout guard: a domain account refused (wrong password, unknown account) on
    /// this many connects before any computer accepted it is retired for the rest of the
    /// run, and an account not yet accepted is tried on at most this many computers at once. Local accounts
    /// (.\user, HOST\user) are not limited. 0 turns the guard off (not advised).
    #[arg(long, default_value_t = LOCKOUT_GUARD, value_name = "N")]
    pub lockout_guard: u32,
    /// Make the new run shared: its computers are claimed from the database by this
    /// scanner and by every other one started with --join RUN (on PostgreSQL: on other
    /// machines, one per site); a scanner that dies loses its claims after a minute and
    /// the others take them over.
    #[arg(long, conflicts_with_all = ["resume", "join"])]
    pub shared: bool,
    /// Join the shared run RUN (its id, or `latest`: the newest running shared run) as
    /// one more scanner; its targets come from the database.
    #[arg(long, value_name = "RUN", conflicts_with = "resume")]
    pub join: Option<String>,
    /// This scanner's site: it takes only that site's targets (without it, only the
    /// targets without a site). With --shared or --join.
    #[arg(long, value_name = "NAME")]
    pub site: Option<String>,
    /// The targets of a site in a --shared run: SITE=FILE (a targets file as for
    /// --targets), repeatable; the other targets belong to no site.
    #[arg(long = "site-targets", value_name = "SITE=FILE", requires = "shared")]
    pub site_targets: Vec<String>,
    /// The name this scanner shows in `status` (default: host:pid).
    #[arg(long, value_name = "NAME")]
    pub scanner_name: Option<String>,
    /// Seconds a claim lasts without a heartbeat (one every third of it): a scanner that
    /// dies loses its computers to the others after this long.
    #[arg(long, default_value_t = LEASE.as_secs(), value_name = "SECS", value_parser = clap::value_parser!(u64).range(3..=3600))]
    pub lease: u64,
}

/// How often a plain progress line is written when standard error is not a terminal.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Says why the command line is refused, and gives the usage exit code.
fn usage(msg: &str) -> ExitCode {
    eprintln!("winventory: {msg}");
    ExitCode::from(exitcode::USAGE)
}

/// The accounts (names only) a run was started with, from its options.
fn run_accounts(options: &serde_json::Value) -> Vec<String> {
    options["accounts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// How a scan shows itself.
#[derive(Clone, Copy, Debug)]
pub struct Display {
    /// JSON lines on standard output.
    pub json: bool,
    /// No progress display, no summary.
    pub quiet: bool,
    /// Between two plain progress lines (standard error not a terminal).
    pub progress_every: Duration,
}

/// How a run ended, for the exit code and the hints after the summary.
#[derive(Debug)]
pub struct RunEnd {
    /// Stopped by Ctrl-C.
    pub stopped: bool,
    /// The run's summary from the database (every session of a resumed run).
    pub summary: winv_store::RunSummary,
    /// Computers of this session whose logon was refused.
    pub logons_refused: usize,
}

/// The profile named or in a file.
pub fn load_profile(spec: &str) -> Result<Profile> {
    if let Some(p) = Profile::builtin(spec) {
        return Ok(p);
    }
    let text = std::fs::read_to_string(spec)
        .with_context(|| format!("{spec:?} is no built-in profile and no readable file"))?;
    Profile::parse(&text).with_context(|| format!("profile file {spec}"))
}

/// What to say after a run where logons were refused and an account has neither a
/// domain nor `@`: the shell may have eaten its backslash (`--user LAB\inventory`
/// unquoted arrives as `LABinventory`). `None` when the account looks qualified.
pub fn unqualified_account_hint(account: &str) -> Option<String> {
    if account.contains(['\\', '@']) {
        return None;
    }
    Some(format!(
        "the account {account:?} has no domain (no \\ or @): if you meant DOMAIN\\user, \
         quote it ('LAB\\inventory'); a shell drops an unquoted backslash"
    ))
}

/// The engine options from the command line: the documented defaults
/// ([`EngineOptions::default`], MAP's four attempts among them) with what was given.
fn engine_options(args: &ScanArgs) -> EngineOptions {
    let defaults = EngineOptions::default();
    let deadlines = args.conn.deadlines(CALL_TIMEOUT);
    let client = WmiOptions {
        auth_level: args.conn.auth_level.auth(),
        epm_port: args.conn.port,
        deadlines,
        // INVARIANT: clap bounds it to 1..=MAX_CONNECTIONS.
        connections: args.connections_per_host as usize,
        ..defaults.client.clone()
    };
    EngineOptions {
        concurrency: args.concurrency,
        connections_per_second: args.rate,
        watchdog: Duration::from_secs(args.watchdog.max(1)),
        retry_delay: Duration::from_secs(args.retry_delay),
        attempt_budget: Duration::from_secs(args.attempt_budget),
        result_memory: usize::try_from(args.result_memory << 20).unwrap_or(usize::MAX),
        client,
        lockout_guard: args.lockout_guard,
        ..defaults
    }
}

/// What the run was started with, for the database (never a secret).
pub fn options_json(
    o: &EngineOptions,
    profile: &Profile,
    accounts: &[Credential],
) -> serde_json::Value {
    json!({
        "profile": profile.name,
        "concurrency": o.concurrency,
        "connections_per_second": o.connections_per_second,
        "connections_per_host": o.client.connections,
        "max_attempts": o.max_attempts,
        "watchdog_s": o.watchdog.as_secs(),
        "attempt_budget_s": o.attempt_budget.as_secs(),
        "result_memory": o.result_memory,
        "retry_delay_s": o.retry_delay.as_secs(),
        "connect_timeout_s": o.client.deadlines.connect.as_secs(),
        "call_timeout_s": o.client.deadlines.call.as_secs(),
        "auth_level": format!("{:?}", o.client.auth_level),
        "port": o.client.epm_port,
        "lockout_guard": o.lockout_guard,
        "accounts": accounts.iter().map(|c| c.account.as_str()).collect::<Vec<_>>(),
    })
}

/// Runs `scan`.
pub fn run(args: ScanArgs) -> Result<ExitCode> {
    let profile = load_profile(&args.profile)?;
    let opts = engine_options(&args);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let creds = {
        let _rt = rt.enter();
        credentials::gather(
            args.credentials.as_deref(),
            &args.users,
            &args.conn,
            &opts.client.workstation,
        )?
    };
    let account_names: Vec<String> = creds.iter().map(|c| c.account.clone()).collect();
    if creds.is_empty() && !args.no_credentials && !args.resume {
        return Ok(usage(
            "no credentials: give --credentials FILE or --user ACCOUNT (its password from \
             --password-env VAR or --password-file FILE, or with --auth kerberos a keytab or \
             KRB5CCNAME); --no-credentials scans without any",
        ));
    }
    if creds.is_empty() && args.no_credentials {
        warn!("no credentials given: every computer will end as no-credentials");
    }
    if args.site.is_some() && !args.shared && args.join.is_none() {
        return Ok(usage("--site is for a shared run: give --shared or --join RUN"));
    }
    if let Some(site) = &args.site {
        if site.is_empty() || site.chars().any(char::is_control) {
            return Ok(usage("--site needs a name without control characters"));
        }
    }
    // The targets are read before the database is opened: a refused list creates nothing.
    let fresh_targets: Option<Vec<SiteTarget>> = if args.resume || args.join.is_some() {
        if !args.targets.is_empty() || args.targets_file.is_some() {
            return Ok(usage(if args.resume {
                "--resume takes the targets from the database; give no targets"
            } else {
                "--join takes the targets from the shared run; give no targets"
            }));
        }
        None
    } else {
        // The targets of one source, each tied to `site`.
        let read = |specs: &[String], file: Option<&std::path::Path>, site: Option<&str>| {
            let sources = Sources {
                specs,
                file,
                opts: ParseOptions::default(),
            };
            targets::gather(&sources, &mut std::io::stderr().lock()).map(|g| match g {
                Gathered::Targets { set, .. } => Ok(set
                    .targets()
                    .iter()
                    .map(|t| SiteTarget {
                        target: t.host(),
                        site: site.map(str::to_string),
                    })
                    .collect::<Vec<_>>()),
                Gathered::Refused(code) => Err(code),
            })
        };
        let mut all: Vec<SiteTarget> = Vec::new();
        if !(args.targets.is_empty() && args.targets_file.is_none() && !args.site_targets.is_empty()) {
            match read(&args.targets, args.targets_file.as_deref(), None)? {
                Ok(t) => all.extend(t),
                Err(code) => return Ok(code),
            }
        }
        for spec in &args.site_targets {
            let Some((site, file)) = spec.split_once('=').filter(|(s, f)| !s.is_empty() && !f.is_empty()) else {
                return Ok(usage(&format!("--site-targets {spec:?}: give SITE=FILE")));
            };
            match read(&[], Some(std::path::Path::new(file)), Some(site))? {
                Ok(t) => all.extend(t),
                Err(code) => return Ok(code),
            }
        }
        Some(all)
    };
    rt.block_on(async move {
        let store = args.db.open().await?;
        let mut retired: Vec<AccountStats> = Vec::new();
        let mut options = options_json(&opts, &profile, &creds);
        options["shared"] = json!(args.shared);
        let (run_id, work) = if let Some(targets) = fresh_targets {
            let id = store.create_run_with_sites(&targets, &options, now_ms()).await?;
            if args.shared {
                let q = join(&store, id, &args).await?;
                eprintln!(
                    "winventory: shared run {id} created; more scanners join it with: \
                     winventory scan --db {} --join {id}",
                    crate::status::printable(&args.db.shown())
                );
                (id, Work::Shared(q))
            } else {
                (id, Work::Local(targets.into_iter().map(|t| t.target).collect()))
            }
        } else if let Some(which) = &args.join {
            let run = match which.as_str() {
                "latest" => store.latest_run().await?,
                id => match id.parse::<RunId>() {
                    Ok(id) => store.run(id).await?,
                    Err(_) => return Ok(usage(&format!("--join {id:?}: give a run id or latest"))),
                },
            };
            let Some(run) = run else {
                bail!("no run {which} to join in {}", args.db.shown());
            };
            if run.options["shared"] != json!(true) {
                bail!("run {} is not shared: start a run with scan --shared to share it", run.id);
            }
            match run.state {
                RunState::Running => {}
                // `winventory stop` stopped it: joining continues it.
                RunState::Stopped => {
                    info!(run = run.id, "continuing the stopped run");
                    store.set_run_state(run.id, RunState::Running, None).await?;
                }
                _ => bail!("run {} is {}: only a running or stopped run can be joined", run.id, run.state),
            }
            if run.options["profile"] != json!(profile.name) {
                warn!(run = run.id, run_profile = %run.options["profile"], profile = %profile.name, "this scanner's profile differs from the run's");
            }
            retired = store.accounts(run.id).await?;
            retired.retain(|a| a.retired_after.is_some());
            let q = join(&store, run.id, &args).await?;
            (run.id, Work::Shared(q))
        } else {
            let run = match args.run {
                Some(id) => store.run(id).await?,
                None => store.latest_resumable_run().await?,
            };
            let Some(run) = run else {
                bail!("no unfinished run to resume in {}", args.db.shown());
            };
            if run.state == RunState::Completed {
                bail!("run {} is already completed", run.id);
            }
            if run.options["shared"] == json!(true) {
                bail!("run {} is shared: continue it with --join {}", run.id, run.id);
            }
            // The run keeps the names of its accounts (never a secret): ask for them again
            // rather than finishing every pending computer as no-credentials.
            let used = run_accounts(&run.options);
            if creds.is_empty() && !used.is_empty() && !args.no_credentials {
                return Ok(usage(&format!(
                    "run {} used the accounts {}: give them again (--credentials FILE or --user \
                     with --password-env / --password-file) to resume; the run is still resumable",
                    run.id,
                    used.join(", ")
                )));
            }
            let missing: Vec<&String> = used
                .iter()
                .filter(|a| !creds.iter().any(|c| &c.account == *a))
                .collect();
            if !missing.is_empty() && !creds.is_empty() {
                warn!(run = run.id, missing = ?missing, "resuming without some of the run's accounts");
            }
            // An account the guard retired earlier in the run stays retired.
            retired = store.accounts(run.id).await?;
            retired.retain(|a| a.retired_after.is_some());
            let pending = store.pending_targets(run.id).await?;
            info!(run = run.id, pending = pending.len(), "resuming");
            store.set_run_state(run.id, RunState::Running, None).await?;
            (run.id, Work::Local(pending))
        };
        let targets = match &work {
            Work::Local(t) => t.clone(),
            Work::Shared(_) => store.run_targets(run_id).await?,
        };
        let resolver = if targets
            .iter()
            .any(|t| t.parse::<std::net::IpAddr>().is_err())
        {
            Some(args.conn.resolver(ResolveConfig::default().attempts)?)
        } else {
            None
        };
        let engine = Engine::new(opts, creds, profile, resolver);
        for a in &retired {
            let n = a.retired_after.unwrap_or(0);
            warn!(account = %a.account, "the lockout guard retired this account earlier in the run: not tried");
            engine.retire_account(&a.account, n);
        }
        let display = Display {
            json: args.json,
            quiet: args.quiet,
            progress_every: Duration::from_secs(args.progress_interval),
        };
        let end = execute(&engine, &store, run_id, work, display, true).await?;
        store.close().await;
        if end.logons_refused > 0 {
            for hint in account_names
                .iter()
                .filter_map(|a| unqualified_account_hint(a))
            {
                eprintln!("winventory: {hint}");
            }
        }
        Ok(ExitCode::from(exitcode::of_run(&end.summary, end.stopped)))
    })
}

/// Where a scan's computers come from.
pub enum Work {
    /// The run's targets (or those a resume left), all worked on in this process.
    Local(Vec<String>),
    /// A run shared with other scanners: claimed from the database as slots free up.
    Shared(Arc<SharedQueue>),
}

/// This process's name among a run's scanners: `--scanner-name`, else host:pid.
fn scanner_name(given: Option<&str>) -> String {
    if let Some(n) = given {
        return n.to_string();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    format!(
        "{}:{}",
        if host.is_empty() { "localhost" } else { &host },
        std::process::id()
    )
}

/// Registers this process as a scanner of the shared run `run`.
async fn join(store: &Store, run: RunId, args: &ScanArgs) -> Result<Arc<SharedQueue>> {
    let name = scanner_name(args.scanner_name.as_deref());
    let q = SharedQueue::join(
        store,
        run,
        &name,
        args.site.as_deref(),
        Duration::from_secs(args.lease),
    )
        .await
        .with_context(|| format!("cannot join run {run}"))?;
    info!(run, scanner = q.scanner(), name, site = ?args.site, "joined the shared run");
    Ok(Arc::new(q))
}

/// Live counters for the display.
#[derive(Default)]
struct Counters {
    total: usize,
    finished: usize,
    inventoried: usize,
    failed: Vec<(Status, usize)>,
    requeued: usize,
    collected: u64,
    class_failed: u64,
    class_timed_out: u64,
    /// The computers with an attempt under way.
    in_flight: std::collections::HashSet<String>,
    logons_refused: usize,
    /// A scanner of a shared run: `finished` and the rest count this scanner's work.
    shared: bool,
    /// The whole shared run's queue, as last read.
    whole: SharedCounts,
}

/// The whole shared run's queue as last read, shared with the task that reads it.
type SharedCounts = Arc<std::sync::Mutex<Option<QueueCounts>>>;

fn lock_counts(c: &SharedCounts) -> std::sync::MutexGuard<'_, Option<QueueCounts>> {
    c.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How often a scanner of a shared run reads the whole run's progress.
const WHOLE_RUN_EVERY: Duration = Duration::from_secs(2);

/// The task of a scanner of a shared run: renews its claims every third of the lease
/// (a run stopped for every scanner sets `stop`), retires here the accounts another
/// scanner's lockout guard retired, reads the whole run's progress for the display, and
/// shares `--rate` with the site's other live scanners (each opens at most rate / n
/// connections per second). A scanner that joins takes its part at once; the others
/// take theirs within two seconds, and the connections they had already scheduled
/// (a second or so of them) keep their times: for a few seconds after a join the site
/// may see up to twice the cap.
/// A heartbeat that fails is logged: after a lease without one, the other scanners take
/// this one's computers over and its results for them are dropped.
fn keep_shared(
    q: Arc<SharedQueue>,
    store: Store,
    engine: Engine,
    stop: Arc<watch::Sender<bool>>,
    whole: SharedCounts,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let run = q.run();
        let mut beat = tokio::time::interval(q.heartbeat_every());
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut read = tokio::time::interval(WHOLE_RUN_EVERY);
        read.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut shared_with = 1;
        loop {
            tokio::select! {
                _ = beat.tick() => {
                    match q.heartbeat().await {
                        Ok(h) if h.run_state != RunState::Running => {
                            info!(run, state = %h.run_state, "the run is no longer running: stopping");
                            let _ = stop.send(true);
                        }
                        Ok(_) => {}
                        Err(e) => warn!(error = %e, "heartbeat failed: this scanner's claims expire without one"),
                    }
                    if let Ok(accounts) = store.accounts(run).await {
                        let mine = engine.account_stats();
                        for a in accounts {
                            let Some(n) = a.retired_after else { continue };
                            let known = mine.iter().any(|m| m.account == a.account && m.retired_after.is_some());
                            if !known && mine.iter().any(|m| m.account == a.account) {
                                warn!(account = %crate::status::printable(&a.account), "another scanner's lockout guard retired this account: not tried any more");
                                engine.retire_account(&a.account, n);
                            }
                        }
                    }
                }
                _ = read.tick() => {
                    if let Ok(c) = store.queue_counts(run, now_ms()).await {
                        *lock_counts(&whole) = Some(c);
                    }
                    // --rate is the site's: shared with its other live scanners.
                    if let Some(live) = site_scanners(&store, &q).await {
                        if live != shared_with {
                            info!(scanners = live, "sharing --rate with the site's live scanners");
                            shared_with = live;
                        }
                        engine.share_rate(live);
                    }
                }
            }
        }
    })
}

/// The live scanners of this scanner's site (itself included), `None` when the
/// database cannot say: a scanner that left, or whose last heartbeat is older than a
/// lease, does not count.
async fn site_scanners(store: &Store, q: &SharedQueue) -> Option<u32> {
    let all = store.scanners(q.run()).await.ok()?;
    let now = now_ms();
    let site = all.iter().find(|s| s.id == q.scanner()).map(|s| s.site.clone())?;
    let live = all
        .iter()
        .filter(|s| s.site == site && s.left_ms.is_none())
        .filter(|s| s.id == q.scanner() || now - s.heartbeat_ms < q.lease_ms())
        .count();
    Some(u32::try_from(live).unwrap_or(u32::MAX))
}

impl Counters {
    /// The whole shared run's finished computers, as last read.
    fn whole_done(&self) -> Option<u64> {
        if !self.shared {
            return None;
        }
        lock_counts(&self.whole).map(|c| c.done)
    }

    /// The whole run's part of a scanner's line (empty for a run of one scanner).
    fn whole_line(&self) -> String {
        if !self.shared {
            return String::new();
        }
        match *lock_counts(&self.whole) {
            Some(c) => format!(
                " · whole run: {}/{} done, {} claimed, {} ready, {} waiting for a retry, {} expired claims",
                c.done, self.total, c.claimed, c.ready, c.waiting, c.expired
            ),
            None => String::new(),
        }
    }

    /// The plain progress line written when standard error is not a terminal.
    fn progress_line(&self, elapsed: Duration) -> String {
        let failed: usize = self.failed.iter().map(|(_, n)| n).sum();
        let secs = elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            self.finished as f64 / secs
        } else {
            0.0
        };
        let done = if self.shared {
            format!("this scanner {} done", self.finished)
        } else {
            format!("{}/{} done", self.finished, self.total)
        };
        format!(
            "progress: {done}, {} inventoried, {} failed, {} in flight, {:.1} computers/s, {}s elapsed{}",
            self.inventoried,
            failed,
            self.in_flight.len(),
            rate,
            elapsed.as_secs(),
            self.whole_line()
        )
    }

    fn line(&self) -> String {
        let mut failed: Vec<&(Status, usize)> = self.failed.iter().collect();
        failed.sort_by_key(|f| std::cmp::Reverse(f.1));
        let nfailed: usize = failed.iter().map(|(_, n)| n).sum();
        let top: Vec<String> = failed
            .iter()
            .take(3)
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        format!(
            "discovered {} · inventoried {} · failed {}{} · remaining {} · retries {} · classes ok {} failed {} timed out {}",
            self.total,
            self.inventoried,
            nfailed,
            if top.is_empty() { String::new() } else { format!(" ({})", top.join(", ")) },
            self.total.saturating_sub(self.finished),
            self.requeued,
            self.collected,
            self.class_failed,
            self.class_timed_out
        ) + &self.whole_line()
    }

    fn finish(&mut self, r: &ComputerResult) {
        self.finished += 1;
        self.in_flight.remove(&r.target);
        if r
            .failure
            .as_ref()
            .is_some_and(|f| f.denied_by == Some(DeniedBy::Authentication))
        {
            self.logons_refused += 1;
        }
        if r.status.is_success() {
            self.inventoried += 1;
        } else {
            match self.failed.iter_mut().find(|(s, _)| *s == r.status) {
                Some((_, n)) => *n += 1,
                None => self.failed.push((r.status, 1)),
            }
        }
    }
}

/// The `--json` line of a finished computer.
pub fn json_line(r: &ComputerResult) -> serde_json::Value {
    let f = r.failure.as_ref();
    let missing: Vec<&str> = r
        .classes
        .iter()
        .filter(|c| !c.outcome.is_done())
        .map(|c| c.class.as_str())
        .collect();
    json!({
        "target": r.target,
        "address": r.address,
        "status": r.status,
        "phase": f.map(|f| f.phase),
        "stage": f.map(|f| f.stage.as_str()),
        "category": f.map(|f| f.category),
        "code": f.and_then(|f| f.code),
        "code_hex": f.and_then(|f| f.code).map(|c| format!("{c:#010x}")),
        "code_name": f.and_then(|f| f.code_name.as_deref()),
        "denied_by": f.and_then(|f| f.denied_by),
        "message": f.map(|f| f.message.as_str()),
        "attempts": r.attempts.len(),
        "credential": r.credential,
        "missing_classes": missing,
        "remediation": r.first_remediation(),
    })
}

/// The connection rate held, for the summary.
fn rate_line(h: winv_client::rate::RateHeld) -> String {
    format!(
        "connections: {} opened, {:.1} per second held (--rate {})",
        h.connections, h.per_second, h.cap
    )
}

/// The live line with the connection rate held so far.
fn with_rate(line: String, held: Option<winv_client::rate::RateHeld>) -> String {
    match held {
        Some(h) => format!("{line} · connections {:.1}/s (cap {})", h.per_second, h.cap),
        None => line,
    }
}

/// A line for the user above the live display, or on standard error without one.
fn say(bar: &ProgressBar, line: &str) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

/// Most results stored in one transaction: a scan that finishes computers faster than one
/// commit each stores those that waited together (bounded, so one transaction stays short).
const SAVE_TOGETHER: usize = 32;

/// Most events taken from the channel at once before the loop looks at Ctrl-C and the
/// progress line again.
const DRAIN_AT_ONCE: usize = 256;

/// Stores finished computers in one transaction ([`Store::save_computers`]). One that
/// cannot be stored is logged and kept in `save_error` (the run stays resumable for it)
/// while the others land; a failed transaction stored none of them, each logged.
async fn store_together(
    store: &Store,
    run_id: RunId,
    finished: &[ComputerResult],
    save_error: &mut Option<anyhow::Error>,
) {
    match store.save_computers(run_id, finished).await {
        Ok(each) => {
            for (r, saved) in finished.iter().zip(each) {
                if let Err(e) = saved {
                    warn!(target = %r.target, error = %e, "cannot store a result");
                    save_error.get_or_insert(anyhow::Error::new(e));
                }
            }
        }
        Err(e) => {
            for r in finished {
                warn!(target = %r.target, error = %e, "cannot store a result");
            }
            save_error.get_or_insert(anyhow::Error::new(e));
        }
    }
}

/// Runs the engine over `work` for run `run_id`: stores each computer as it finishes (a
/// shared queue records it itself), shows progress on standard error (a live display on
/// a terminal, else a plain line every `display.progress_every`; a scanner of a shared
/// run shows the whole run's progress too), handles Ctrl-C (when `ctrl_c`), marks the
/// run completed or stopped (a scanner of a shared run leaves it instead: the last one
/// marks it completed) and prints the summary (on standard output; on standard error
/// with `--json`, whose standard output holds only JSON lines).
pub async fn execute(
    engine: &Engine,
    store: &Store,
    run_id: RunId,
    work: Work,
    display: Display,
    ctrl_c: bool,
) -> Result<RunEnd> {
    let started = std::time::Instant::now();
    let plain_progress = !display.quiet && !std::io::stderr().is_terminal();
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::now() + display.progress_every,
        display.progress_every,
    );
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (tx, mut rx) = mpsc::channel(256);
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let shared = match &work {
        Work::Shared(q) => Some(q.clone()),
        Work::Local(_) => None,
    };
    let whole = std::sync::Arc::new(std::sync::Mutex::new(None::<QueueCounts>));
    let total = match &work {
        Work::Local(t) => t.len(),
        Work::Shared(_) => {
            let c = store.queue_counts(run_id, now_ms()).await?;
            *lock_counts(&whole) = Some(c);
            usize::try_from(c.ready + c.waiting + c.claimed + c.expired + c.done).unwrap_or(0)
        }
    };
    let mut counters = Counters {
        total,
        shared: shared.is_some(),
        whole: whole.clone(),
        ..Counters::default()
    };
    let bar = if display.quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::with_draw_target(
            Some(total as u64),
            ProgressDrawTarget::stderr_with_hz(4),
        );
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len}\n{msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b.enable_steady_tick(Duration::from_millis(250));
        b
    };
    let in_flight = InFlight::start(store, run_id, shared.as_deref().map(SharedQueue::name)).await;
    // A scanner that joins takes its part of the site's rate before its first connection.
    if let Some(q) = &shared {
        if let Some(live) = site_scanners(store, q).await {
            engine.share_rate(live);
        }
    }
    let keeper = shared
        .clone()
        .map(|q| keep_shared(q, store.clone(), engine.clone(), stop_tx.clone(), whole.clone()));
    let runner = {
        let engine = engine.clone();
        tokio::spawn(async move {
            match work {
                Work::Local(targets) => {
                    engine.run(targets, tx, stop_rx).await;
                    Ok(())
                }
                // The queue is also the run's lockout ledger: the guard's limit holds
                // across the scanners.
                Work::Shared(q) => {
                    let ledger: Arc<dyn winv_engine::work::AccountLedger> = q.clone();
                    engine.with_ledger(ledger).run_shared(&*q, tx, stop_rx).await
                }
            }
        })
    };
    let mut stopped = false;
    let mut stdout = std::io::stdout().lock();
    let ctrl = async {
        if ctrl_c {
            let _ = tokio::signal::ctrl_c().await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::pin!(ctrl);
    let mut save_error: Option<anyhow::Error> = None;
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { break };
                // A group commit: the results already waiting in the channel are stored
                // with this one, in one transaction; none is held back to wait for more.
                let mut finished = Vec::new();
                let mut next = Some(ev);
                let mut taken = 0;
                while let Some(ev) = next.take() {
                    taken += 1;
                    in_flight.observe(&ev);
                    match ev {
                        Event::Finished(r) => finished.push(*r),
                        Event::Requeued { target, .. } => {
                            counters.requeued += 1;
                            counters.in_flight.remove(&target);
                        }
                        Event::Item { outcome, .. } => match outcome {
                            // Not present on the host counts as collected (nothing missing).
                            ClassOutcome::Collected | ClassOutcome::NotPresent => {
                                counters.collected += 1
                            }
                            ClassOutcome::Failed => counters.class_failed += 1,
                            ClassOutcome::TimedOut => counters.class_timed_out += 1,
                        },
                        Event::AttemptStarted { target, .. } => {
                            counters.in_flight.insert(target);
                        }
                        Event::Step { .. } => {}
                        Event::AccountRetired { account, refusals } => {
                            let account = crate::status::printable(&account);
                            say(&bar, &format!(
                                "warning: account {account} retired by the lockout guard after \
                                 {refusals} refusals; no computer will try it again in this run"
                            ));
                            // Recorded at once: a killed scan keeps the retirement on resume.
                            let mark: Vec<AccountStats> = engine
                                .account_stats()
                                .into_iter()
                                .map(|a| AccountStats { tried: 0, accepted: 0, refused: 0, ..a })
                                .collect();
                            if let Err(e) = store.save_accounts(run_id, &mark).await {
                                warn!(error = %e, "cannot record the retired account");
                            }
                        }
                    }
                    if finished.len() < SAVE_TOGETHER && taken < DRAIN_AT_ONCE {
                        next = rx.try_recv().ok();
                    }
                }
                if !finished.is_empty() {
                    // A shared queue recorded each before its event.
                    if shared.is_none() {
                        store_together(store, run_id, &finished, &mut save_error).await;
                    }
                    for r in &finished {
                        counters.finish(r);
                        match counters.whole_done() {
                            Some(done) => bar.set_position(done),
                            None => bar.inc(1),
                        }
                        // Printed after the transaction that stores it: a line read before
                        // a `kill -9` is a stored computer, which `--resume` does not scan
                        // again (unless its save failed, which is logged above).
                        if display.json {
                            let _ = writeln!(stdout, "{}", json_line(r));
                        }
                    }
                }
                bar.set_message(with_rate(counters.line(), engine.rate_held()));
            }
            _ = ticker.tick(), if plain_progress => {
                eprintln!("{}", counters.progress_line(started.elapsed()));
            }
            _ = &mut ctrl, if !stopped => {
                stopped = true;
                let msg = if shared.is_some() {
                    "stopping this scanner: its unfinished computers go back to the run's queue for the other scanners"
                } else {
                    "stopping: unfinished computers are recorded as inventory-not-completed; resume with --resume"
                };
                if bar.is_hidden() {
                    if !display.quiet {
                        eprintln!("winventory: {msg}");
                    }
                } else {
                    bar.println(msg);
                }
                let _ = stop_tx.send(true);
            }
        }
    }
    let source = match runner.await {
        Ok(r) => r,
        Err(e) => Err(winv_engine::work::WorkError::Failed(format!("the scheduler ended abnormally: {e}"))),
    };
    in_flight.finish().await;
    if let Some(k) = keeper {
        k.abort();
    }
    // A run stopped for every scanner (`winventory stop`) stops this one too.
    stopped |= *stop_tx.borrow();
    if shared.is_some() && !stopped {
        stopped = matches!(store.run(run_id).await, Ok(Some(r)) if r.state == RunState::Stopped);
    }
    bar.finish_and_clear();
    let accounts = engine.account_stats();
    if let Err(e) = store.save_accounts(run_id, &accounts).await {
        warn!(error = %e, "cannot record the accounts' counts");
    }
    let _ = stdout.flush();
    drop(stdout);
    match &shared {
        Some(q) => {
            // What this scanner still holds goes back to the queue; the last scanner to
            // finish marks the run completed.
            if let Err(e) = q.leave().await {
                warn!(error = %e, "cannot leave the run: its claims expire in a minute");
            }
        }
        None => {
            let state = if stopped {
                RunState::Stopped
            } else {
                RunState::Completed
            };
            store.set_run_state(run_id, state, Some(now_ms())).await?;
        }
    }
    if let Err(e) = source {
        return Err(anyhow::Error::new(e).context("the shared run's database failed: this scanner stopped; the others go on"));
    }
    if let Some(e) = save_error {
        return Err(e.context("some results could not be stored"));
    }
    let summary = store.summary(run_id).await?;
    if !display.quiet {
        let rate = engine.rate_held().map(rate_line);
        let write_all = |out: &mut dyn Write| -> Result<()> {
            crate::status::print_summary(&summary, store.path(), out)?;
            crate::accounts::write(&accounts, out)?;
            if let Some(line) = &rate {
                writeln!(out, "{line}")?;
            }
            out.flush().context("write the summary")
        };
        if display.json {
            write_all(&mut std::io::stderr())?;
        } else {
            write_all(&mut std::io::stdout().lock())?;
        }
    }
    Ok(RunEnd {
        stopped,
        summary,
        logons_refused: counters.logons_refused,
    })
}

/// The computers in flight and their current step, written where `status` (another
/// process) reads them: the `in_flight` table. Every event updates a map in memory (the
/// last change of each computer wins); a task of its own writes the changes in one
/// transaction at most once a second ([`IN_FLIGHT_EVERY`]), never once per event. A
/// computer's row goes when it finishes or is requeued; the scanner's rows go when the
/// scan ends. A write that fails is logged and retried with the next batch: the scan
/// never waits for it.
struct InFlight {
    pending: std::sync::Arc<std::sync::Mutex<InFlightPending>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    store: Store,
    run: RunId,
    scanner: String,
    /// Batches written so far.
    writes: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// At most one write of the in-flight rows per this period.
const IN_FLIGHT_EVERY: Duration = Duration::from_secs(1);
/// Without a change for this long, the rows' `updated_ms` is renewed (one small write):
/// `status` tells a scanner that died from a computer stuck on a slow class.
const IN_FLIGHT_ALIVE: Duration = Duration::from_secs(10);

#[derive(Default)]
struct InFlightPending {
    /// The attempt each computer in flight is at.
    attempts: std::collections::HashMap<String, u32>,
    /// The changes since the last write, by target.
    changes: std::collections::HashMap<String, winv_store::InFlightChange>,
}

impl InFlight {
    /// Clears the run's rows a scan that died left behind (a scanner of a shared run,
    /// named `shared`, clears only its own), and starts the writer.
    async fn start(store: &Store, run: RunId, shared: Option<&str>) -> InFlight {
        let scanner = shared.map_or_else(|| scanner_name(None), str::to_string);
        if let Err(e) = store.clear_in_flight(run, shared).await {
            warn!(error = %e, "cannot clear the in-flight rows of the run");
        }
        let pending = std::sync::Arc::new(std::sync::Mutex::new(InFlightPending::default()));
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let writes = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let task = {
            let (store, pending, writes) = (store.clone(), pending.clone(), writes.clone());
            let scanner = scanner.clone();
            tokio::spawn(async move {
                let mut last_write = std::time::Instant::now();
                let mut tick = tokio::time::interval(IN_FLIGHT_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = &mut stopped => return,
                    }
                    let batch: Vec<winv_store::InFlightChange> = match pending.lock() {
                        Ok(mut p) => p.changes.drain().map(|(_, c)| c).collect(),
                        Err(_) => return,
                    };
                    if batch.is_empty() {
                        // Nothing changed: say now and then that the scanner lives.
                        if last_write.elapsed() >= IN_FLIGHT_ALIVE {
                            last_write = std::time::Instant::now();
                            writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            if let Err(e) = store.touch_in_flight(run, &scanner, now_ms()).await {
                                warn!(error = %e, "cannot renew the computers in flight");
                            }
                        }
                        continue;
                    }
                    let now = now_ms();
                    let batch: Vec<winv_store::InFlightChange> = batch
                        .into_iter()
                        .map(|c| match c {
                            winv_store::InFlightChange::Set(mut r) => {
                                r.updated_ms = now;
                                winv_store::InFlightChange::Set(r)
                            }
                            clear => clear,
                        })
                        .collect();
                    last_write = std::time::Instant::now();
                    writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if let Err(e) = store.update_in_flight(run, &batch).await {
                        warn!(error = %e, "cannot write the computers in flight");
                        // Kept for the next batch, unless a newer change replaced it.
                        if let Ok(mut p) = pending.lock() {
                            for c in batch {
                                let t = match &c {
                                    winv_store::InFlightChange::Set(r) => r.target.clone(),
                                    winv_store::InFlightChange::Clear(t) => t.clone(),
                                };
                                p.changes.entry(t).or_insert(c);
                            }
                        }
                    }
                }
            })
        };
        InFlight {
            pending,
            stop: Some(stop),
            task: Some(task),
            store: store.clone(),
            run,
            scanner,
            writes,
        }
    }

    /// Notes what an event says about the computers in flight.
    fn observe(&self, ev: &Event) {
        let Ok(mut p) = self.pending.lock() else {
            return;
        };
        let set = |p: &mut InFlightPending, target: &str, step: &str| {
            let attempt = p.attempts.get(target).copied().unwrap_or(1);
            p.changes.insert(
                target.to_string(),
                winv_store::InFlightChange::Set(winv_store::InFlightRow {
                    target: target.to_string(),
                    attempt,
                    step: step.to_string(),
                    since_ms: now_ms(),
                    scanner: self.scanner.clone(),
                    updated_ms: now_ms(),
                }),
            );
        };
        match ev {
            Event::AttemptStarted { target, attempt } => {
                p.attempts.insert(target.clone(), *attempt);
                set(&mut p, target, "starting");
            }
            Event::Step { target, step } => set(&mut p, target, step),
            Event::Requeued { target, .. } => {
                p.changes.insert(
                    target.clone(),
                    winv_store::InFlightChange::Clear(target.clone()),
                );
            }
            Event::Finished(r) => {
                p.attempts.remove(&r.target);
                p.changes.insert(
                    r.target.clone(),
                    winv_store::InFlightChange::Clear(r.target.clone()),
                );
            }
            Event::Item { .. } | Event::AccountRetired { .. } => {}
        }
    }

    /// Stops the writer and removes this scanner's rows.
    async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        tracing::debug!(
            writes = self.writes.load(std::sync::atomic::Ordering::Relaxed),
            "in-flight rows written"
        );
        if let Err(e) = self.store.clear_in_flight(self.run, Some(&self.scanner)).await {
            warn!(error = %e, "cannot clear the computers in flight");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod in_flight_tests {
    use super::*;

    /// Hundreds of events in a burst are one write, not one per event; the rows hold
    /// the last step of each computer; a finished computer's row goes; the end of the
    /// scan removes the rest.
    #[tokio::test]
    async fn events_are_written_in_batches_of_at_most_one_a_second() {
        let db = std::env::temp_dir().join(format!(
            "winv-inflight-{}-{}.db",
            std::process::id(),
            now_ms()
        ));
        let store = Store::open(&db).await.unwrap();
        let targets: Vec<String> = (0..3).map(|i| format!("pc{i}")).collect();
        let run = store
            .create_run(&targets, &serde_json::json!({}), 1)
            .await
            .unwrap();
        let w = InFlight::start(&store, run, None).await;
        for t in &targets {
            w.observe(&Event::AttemptStarted {
                target: t.clone(),
                attempt: 2,
            });
            for i in 0..100 {
                w.observe(&Event::Step {
                    target: t.clone(),
                    step: format!("class{i}"),
                });
            }
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let writes = w.writes.load(std::sync::atomic::Ordering::Relaxed);
        assert!((1..=2).contains(&writes), "{writes} writes for 303 events");
        let rows = store.in_flight(run).await.unwrap();
        assert_eq!(rows.len(), 3);
        assert!(rows.iter().all(|r| r.step == "class99" && r.attempt == 2), "{rows:?}");
        w.observe(&Event::Requeued {
            target: "pc1".into(),
            attempt: 2,
            status: Status::RpcCallFailed,
        });
        tokio::time::sleep(Duration::from_millis(1300)).await;
        let left: Vec<String> = store
            .in_flight(run)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.target)
            .collect();
        assert_eq!(left, ["pc0", "pc2"]);
        // Quiet for longer than IN_FLIGHT_ALIVE: the rows are renewed, their steps kept.
        let before = store.in_flight(run).await.unwrap()[0].clone();
        tokio::time::sleep(IN_FLIGHT_ALIVE + Duration::from_millis(1500)).await;
        let after = store.in_flight(run).await.unwrap()[0].clone();
        assert!(after.updated_ms > before.updated_ms, "{before:?} {after:?}");
        assert_eq!(
            (after.since_ms, after.step.as_str()),
            (before.since_ms, before.step.as_str())
        );
        w.finish().await;
        assert!(store.in_flight(run).await.unwrap().is_empty());
        store.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let mut p = db.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}
