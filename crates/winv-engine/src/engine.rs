//! The scheduler: it drives the per-computer policy of [`crate::policy`] (the pure state
//! machine that holds every retry rule) over the connection flow of
//! [`winv_client::flow`], and keeps the queue:
//!
//! - a requeued computer goes to the back of the queue and waits at least
//!   [`EngineOptions::retry_delay`];
//! - every step runs under the watchdog ([`EngineOptions::watchdog`]), the attempt's
//!   time budget ([`EngineOptions::attempt_budget`]: the step in progress ends at the
//!   attempt's deadline) and the stop signal; the policy decides what each means;
//! - at most [`EngineOptions::concurrency`] computers at once, and at most
//!   [`EngineOptions::connections_per_second`] new TCP connections per second across the
//!   run (every connection of every flow waits for its slot); no new attempt starts
//!   while the connections already waiting would keep it waiting more than
//!   [`RATE_BACKLOG`], so a slot's wait stays short of the watchdog.
//!
//! The engine reports through a channel of [`Event`]s; every computer gets exactly one
//! [`Event::Finished`], also when the run is stopped (`inventory-not-completed`, with
//! whatever was collected kept).

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use winv_client::flow::{
    FlowConfig, NameResolver, ResolveError, ResolveFailure, ResolveFuture, Target,
};
use winv_client::registry::{is_not_found, Hive, RegType};
use winv_client::{
    ClientError, ConnectRate, Credentials, Mechanism, Ntlm, Rows, WmiClient, WmiOptions,
};
use winv_discovery::resolve::{NotFoundReason, Resolution, Resolver};
use winv_wmio::ObjectKind;

use crate::ahead::{
    batch_of, collect_batch, Ahead, Cut, Early, Ended, Slots, QUERIES_PER_CONNECTION,
};
use crate::classify::{classify, NamespaceRole};
use crate::guard::{AccountGuard, AccountStats, Admit, Pass, Retirement, Verdict, LOCKOUT_GUARD};
use crate::policy::{
    Action, AttemptEnd, Collected, Computer, Connected, ItemOutcome, Now, Resolved, Rules, Settled,
    StepOutcome, ATTEMPT_BUDGET, MAX_ATTEMPTS, RETRY_DELAY, WATCHDOG,
};
use crate::profile::{namespace_pattern, newest_namespace, Item, Profile, RegKind, RegistryTable};
use crate::record::{ClassOutcome, ComputerResult, Instance, SoftwareRow};
use crate::status::Status;
use crate::work::{AccountLedger, LedgerAnswer, Requeued, WorkError, WorkSource};

/// One credential of the ordered list. `Debug` never shows the secret.
#[derive(Clone, Debug)]
pub struct Credential {
    /// The account as the user wrote it (`LAB\admin`, `admin@lab.local`): what records show.
    pub account: String,
    /// The credentials the client uses.
    pub creds: Credentials,
    /// The mechanism to use (Kerberos, negotiate); `None`: NTLM with `creds`.
    pub mechanism: Option<Arc<dyn Mechanism>>,
}

impl Credential {
    /// An account as written (`LAB\admin`, `.\Administrator`, `admin@lab.local`) with its
    /// password, interpreted as every command does ([`Credentials::for_account`]).
    pub fn new(account: &str, password: &str) -> Credential {
        Credential {
            account: account.to_string(),
            creds: Credentials::for_account(account, password),
            mechanism: None,
        }
    }

    /// The same account with another mechanism (Kerberos, negotiate).
    pub fn with_mechanism(mut self, mechanism: Arc<dyn Mechanism>) -> Credential {
        self.mechanism = Some(mechanism);
        self
    }
}

/// Engine settings. The defaults are the documented ones.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Computers worked on at once (default 32).
    pub concurrency: usize,
    /// New TCP connections per second at most, across the run (default 20): the bound
    /// MAP lacked. Zero, negative or NaN: no limit.
    pub connections_per_second: f64,
    /// Attempts per computer ([`MAX_ATTEMPTS`]: 4, i.e. 3 retries).
    pub max_attempts: u32,
    /// No progress for this long ends a step ([`WATCHDOG`]: 5 minutes).
    pub watchdog: Duration,
    /// A requeued computer waits at least this long ([`RETRY_DELAY`]: 10 s).
    pub retry_delay: Duration,
    /// The most one attempt at a computer may take, connection and items together
    /// ([`ATTEMPT_BUDGET`]: 15 minutes): a host that keeps answering slowly holds its
    /// slot this long at most, not items x watchdog. What was collected is kept; the
    /// item running then and those not started fail with `WINV_E_ATTEMPT_BUDGET`.
    pub attempt_budget: Duration,
    /// The most octets of query results the engine holds for the computers in flight
    /// ([`RESULT_MEMORY`]: 128 MiB): each computer's attempt gets an equal share
    /// (`result_memory / concurrency`, at least [`MIN_RESULT_SHARE`], at most the client's
    /// own `max_result_bytes`), and a query past what is left of it fails with
    /// `WINV_E_LIMIT_EXCEEDED`. The bound on memory against hosts that never end an
    /// enumeration, whatever the concurrency.
    pub result_memory: usize,
    /// The WMI client's options (auth level, deadlines, port); the call deadline is capped
    /// at the watchdog period.
    pub client: WmiOptions,
    /// Refusals in a row that retire a domain account ([`LOCKOUT_GUARD`]: 3; 0: off).
    pub lockout_guard: u32,
}

impl Default for EngineOptions {
    fn default() -> Self {
        let mut client = WmiOptions::default();
        // A firewall that drops SYNs costs this much per silent address.
        client.deadlines.connect = Duration::from_secs(5);
        EngineOptions {
            concurrency: 32,
            connections_per_second: 20.0,
            max_attempts: MAX_ATTEMPTS,
            watchdog: WATCHDOG,
            retry_delay: RETRY_DELAY,
            attempt_budget: ATTEMPT_BUDGET,
            result_memory: RESULT_MEMORY,
            client,
            lockout_guard: LOCKOUT_GUARD,
        }
    }
}

/// What the engine reports while it runs.
#[derive(Debug)]
pub enum Event {
    /// An attempt at a computer began.
    AttemptStarted {
        /// The target.
        target: String,
        /// 1-based.
        attempt: u32,
    },
    /// An item was finished on a computer (collected, failed or timed out).
    Item {
        /// The target.
        target: String,
        /// The item.
        item: String,
        /// How it went.
        outcome: ClassOutcome,
    },
    /// A computer's attempt moved to a step: `resolving`, `connecting` (TCP, binds,
    /// logon, with one credential) or the name of the item it collects. For live views
    /// of the computers in flight; the step lasts until the next `Step`, `Requeued` or
    /// `Finished` of the computer.
    Step {
        /// The target.
        target: String,
        /// `resolving`, `connecting`, or the item's name (`Win32_Service`,
        /// `registry:software`).
        step: String,
    },
    /// An attempt ended with a retry-class error; the computer is back in the queue.
    Requeued {
        /// The target.
        target: String,
        /// The attempt that failed.
        attempt: u32,
        /// Why.
        status: Status,
    },
    /// A computer is done: its final result (exactly one per target).
    Finished(Box<ComputerResult>),
    /// The lockout guard retired an account: no computer tries it again in this run.
    AccountRetired {
        /// The account as written.
        account: String,
        /// The refusals that retired it.
        refusals: u32,
    },
}

/// Now, in milliseconds since the Unix epoch (the records' time unit).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The inventory engine. Cheap to clone: every part is shared.
#[derive(Clone)]
pub struct Engine {
    opts: Arc<EngineOptions>,
    /// The mechanism of each credential, in the list's order.
    mechanisms: Arc<Vec<Arc<dyn Mechanism>>>,
    accounts: Arc<Vec<String>>,
    profile: Arc<Profile>,
    resolver: Option<Arc<DnsResolver>>,
    guard: Arc<SharedGuard>,
    /// The run-wide count of unproven accounts when other scanners share the run.
    ledger: Option<Arc<dyn AccountLedger>>,
    rate: Option<Arc<ConnectRate>>,
}

/// How long a connect waits before asking the run's ledger again after it said wait
/// (or could not be reached).
pub const LEDGER_POLL: Duration = Duration::from_secs(1);

/// The query results the engine holds at most for the computers in flight, by default:
/// 128 MiB, 4 MiB per computer at the default 32 at once. A computer's whole standard
/// inventory as JSON is about 1-2 MiB on a large server (a Win32_Service row is about
/// 1 KiB of JSON, and a server has a few hundred), so 4 MiB leaves room; the decoded
/// objects were ten times larger, which is why rows are kept as JSON as they arrive.
pub const RESULT_MEMORY: usize = 128 << 20;

/// The least share of [`EngineOptions::result_memory`] a computer gets, however many run
/// at once: 2 MiB.
pub const MIN_RESULT_SHARE: usize = 2 << 20;

/// The most a new attempt's first connection may wait for its slot: no attempt starts
/// while the connections already waiting reach further ahead than this.
pub const RATE_BACKLOG: Duration = Duration::from_secs(1);

/// The run's lockout guard, shared by its attempts; `changed` wakes the attempts waiting
/// for an unproven account's place.
struct SharedGuard {
    guard: std::sync::Mutex<AccountGuard>,
    changed: tokio::sync::Notify,
}

impl SharedGuard {
    fn lock(&self) -> std::sync::MutexGuard<'_, AccountGuard> {
        // The guard is plain data: a panic elsewhere leaves it consistent.
        self.guard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The guard's answer once the wait, if any, is over.
enum Admitted {
    Go(Pass),
    Retired,
    Stopped,
}

/// Waits until the guard lets a connect with credential `index` to `target` start.
/// Bounded: the connects holding the places end within their own deadlines.
async fn admit(
    shared: &SharedGuard,
    index: usize,
    target: &str,
    stop: &mut watch::Receiver<bool>,
) -> Admitted {
    loop {
        let changed = shared.changed.notified();
        tokio::pin!(changed);
        // Registered before asking, so a report between the two is not missed.
        changed.as_mut().enable();
        match shared.lock().admit(index, target) {
            Admit::Go(p) => return Admitted::Go(p),
            Admit::Retired => return Admitted::Retired,
            Admit::Wait => {}
        }
        tokio::select! {
            _ = &mut changed => {}
            _ = stop.wait_for(|s| *s) => return Admitted::Stopped,
        }
    }
}

/// Where one connect stands with the lockout guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gate {
    /// No authenticated bind yet.
    Pending,
    /// Admitted at the first bind; the pass goes back with the verdict (to the run's
    /// ledger too when `ledger` is set: it holds one of the run's places).
    Admitted { pass: Pass, ledger: bool },
    /// The account is retired: the bind was not attempted.
    Retired,
    /// The run's ledger retired the account in this connect's admission (the places of
    /// a dead scanner counted as refusals): the bind was not attempted.
    RetiredNow(u32),
    /// The run stopped while it waited.
    Stopped,
}

/// A credential's mechanism for one connect that waits for the lockout guard's admission
/// before its first authenticated bind ([`Mechanism::prepare`]), so that only connects
/// that reach a logon take one of an unproven account's places.
struct Admitting {
    inner: Arc<dyn Mechanism>,
    guard: Arc<SharedGuard>,
    ledger: Option<Arc<dyn AccountLedger>>,
    index: usize,
    target: String,
    stop: watch::Receiver<bool>,
    state: std::sync::Mutex<Gate>,
    /// Time spent waiting for admission: not the host's, so not under the watchdog.
    admission: std::sync::Mutex<AdmissionClock>,
}

/// When a connect began waiting for the guard (`None`: not waiting now), and how long
/// its earlier waits took.
#[derive(Clone, Copy, Debug, Default)]
struct AdmissionClock {
    since: Option<Instant>,
    total: Duration,
}

impl Admitting {
    fn state(&self) -> Gate {
        *self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set(&self, g: Gate) {
        *self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = g;
    }

    fn clock(&self) -> std::sync::MutexGuard<'_, AdmissionClock> {
        self.admission
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The connect's waits for admission so far, and whether it is waiting now.
    fn waited(&self) -> (Duration, bool) {
        let c = *self.clock();
        match c.since {
            Some(t) => (c.total + t.elapsed(), true),
            None => (c.total, false),
        }
    }
}

impl std::fmt::Debug for Admitting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admitting")
            .field("inner", &self.inner)
            .field("index", &self.index)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl Admitting {
    /// This process's guard first, then the run's ledger for a counted place. While the
    /// ledger says wait, the connect keeps its place here (so this process's other
    /// connects of the account keep waiting on the guard, not on the database) and asks
    /// again every [`LEDGER_POLL`].
    async fn admit_in_run(&self, stop: &mut watch::Receiver<bool>) -> Gate {
        let pass = match admit(&self.guard, self.index, &self.target, stop).await {
            Admitted::Go(p) => p,
            Admitted::Retired => return Gate::Retired,
            Admitted::Stopped => return Gate::Stopped,
        };
        let Some(ledger) = self.ledger.as_ref().filter(|_| pass.counted()) else {
            return Gate::Admitted {
                pass,
                ledger: false,
            };
        };
        let (account, limit) = {
            let g = self.guard.lock();
            (
                g.name(self.index).unwrap_or_default().to_string(),
                g.limit(),
            )
        };
        // Gives the place back without a verdict, with what to do to the guard.
        let release = |then: &dyn Fn(&mut AccountGuard)| {
            let mut g = self.guard.lock();
            let free = g.release(self.index, pass);
            then(&mut g);
            drop(g);
            self.guard.changed.notify_waiters();
            free
        };
        loop {
            let answer = ledger.admit(&account, &self.target, limit).await;
            match answer {
                Ok(LedgerAnswer::Go) => return Gate::Admitted { pass, ledger: true },
                Ok(LedgerAnswer::Proven) => {
                    let pass = release(&|g| g.prove(self.index));
                    return Gate::Admitted {
                        pass,
                        ledger: false,
                    };
                }
                Ok(LedgerAnswer::Retired { refusals, now }) => {
                    let known = self.guard.lock().is_retired(self.index);
                    release(&|g| g.retire(&account, refusals));
                    if now {
                        // Announced by the engine with the connect's verdict.
                        return Gate::RetiredNow(refusals);
                    }
                    if !known {
                        warn!(account = %account, "another scanner's lockout guard retired this account: not tried any more");
                    }
                    return Gate::Retired;
                }
                Ok(LedgerAnswer::Wait) | Err(_) => {
                    if let Err(e) = answer {
                        warn!(%account, error = %e, "the run's lockout ledger is unreachable: the connect waits");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(LEDGER_POLL) => {}
                        _ = stop.wait_for(|s| *s) => {
                            release(&|_| {});
                            return Gate::Stopped;
                        }
                    }
                    if self.guard.lock().is_retired(self.index) {
                        release(&|_| {});
                        return Gate::Retired;
                    }
                }
            }
        }
    }
}

impl Mechanism for Admitting {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn authn_service(&self) -> u16 {
        self.inner.authn_service()
    }

    fn account(&self) -> String {
        self.inner.account()
    }

    fn context(
        &self,
        target: &winv_client::security::BindTarget<'_>,
    ) -> Result<Box<dyn winv_client::SecurityContext>, ClientError> {
        self.inner.context(target)
    }

    fn prepare<'a>(
        &'a self,
        target: winv_client::security::BindTarget<'a>,
    ) -> winv_client::kerberos::Prepare<'a> {
        Box::pin(async move {
            if self.state() == Gate::Pending {
                let mut stop = self.stop.clone();
                let refused = |why: &str| {
                    ClientError::new(target.stage, winv_client::Cause::Protocol(why.into()))
                };
                self.clock().since = Some(Instant::now());
                let gate = self.admit_in_run(&mut stop).await;
                {
                    let mut c = self.clock();
                    if let Some(t) = c.since.take() {
                        c.total += t.elapsed();
                    }
                }
                self.set(gate);
                match gate {
                    Gate::Retired | Gate::RetiredNow(_) => {
                        return Err(refused("the lockout guard retired the account"))
                    }
                    Gate::Stopped => return Err(refused("the run was stopped")),
                    Gate::Pending | Gate::Admitted { .. } => {}
                }
            }
            self.inner.prepare(target).await
        })
    }

    fn used_for(&self, host: &str) -> &'static str {
        self.inner.used_for(host)
    }
}

/// Gives a run-wide place back to the ledger with the verdict; a retirement the ledger
/// decides is made here too (once: `None` when this process had retired it already).
async fn report_to_ledger(
    eng: &Engine,
    ledger: &dyn AccountLedger,
    index: usize,
    target: &str,
    verdict: Verdict,
) -> Option<Retirement> {
    let (account, limit) = {
        let g = eng.guard.lock();
        (g.name(index)?.to_string(), g.limit())
    };
    match ledger.report(&account, target, verdict, limit).await {
        Ok(Some(refusals)) => {
            let mut g = eng.guard.lock();
            if g.is_retired(index) {
                return None;
            }
            g.retire(&account, refusals);
            drop(g);
            eng.guard.changed.notify_waiters();
            Some(Retirement { account, refusals })
        }
        Ok(None) => None,
        Err(e) => {
            warn!(%account, error = %e, "cannot give the lockout ledger this connect's verdict");
            None
        }
    }
}

/// winv-discovery's hickory resolver as the connection flow's [`NameResolver`]: the
/// engine's resolution step and the flow's binding names use the same server.
#[derive(Clone, Debug)]
pub struct DnsResolver(pub Resolver);

impl DnsResolver {
    /// One lookup, with NXDOMAIN and "no record" told apart from a transient failure.
    pub async fn lookup(&self, name: &str) -> Result<Vec<IpAddr>, ResolveError> {
        match self.0.resolve(name).await {
            Resolution::Found { addrs, .. } => Ok(addrs),
            Resolution::NotFound { reason, .. } => Err(match reason {
                NotFoundReason::NxDomain => ResolveError {
                    failure: ResolveFailure::NxDomain,
                    detail: "the name does not exist (NXDOMAIN)".into(),
                },
                NotFoundReason::NoRecords => ResolveError {
                    failure: ResolveFailure::NoRecords,
                    detail: "the name has no address records".into(),
                },
                NotFoundReason::TryAgain(e) => {
                    ResolveError::try_again(format!("no DNS answer after every attempt: {e}"))
                }
            }),
        }
    }
}

impl NameResolver for DnsResolver {
    fn resolve<'a>(&'a self, name: &'a str) -> ResolveFuture<'a> {
        Box::pin(self.lookup(name))
    }
}

/// Everything one attempt needs, shared with its task.
struct Ctx {
    engine: Engine,
    events: mpsc::Sender<Event>,
    stop: watch::Receiver<bool>,
}

impl Engine {
    /// An engine with its options, the ordered credential list, the profile, and the
    /// resolver for targets given as names (`None`: names are resolved by the client with
    /// the system resolver).
    pub fn new(
        mut opts: EngineOptions,
        creds: Vec<Credential>,
        profile: Profile,
        resolver: Option<Resolver>,
    ) -> Engine {
        opts.concurrency = opts.concurrency.max(1);
        opts.max_attempts = opts.max_attempts.max(1);
        // Zero, negative or NaN: no limit.
        if opts.connections_per_second.is_nan() || opts.connections_per_second <= 0.0 {
            opts.connections_per_second = f64::INFINITY;
        }
        opts.client.deadlines.call = opts.client.deadlines.call.min(opts.watchdog);
        opts.client.deadlines.read = opts.client.deadlines.read.min(opts.watchdog);
        let mechanisms = creds
            .iter()
            .map(|c| {
                c.mechanism.clone().unwrap_or_else(|| {
                    Arc::new(Ntlm::new(c.creds.clone(), &opts.client.workstation))
                        as Arc<dyn Mechanism>
                })
            })
            .collect();
        let accounts: Vec<String> = creds.into_iter().map(|c| c.account).collect();
        let opts_rate = opts.connections_per_second;
        let guard = SharedGuard {
            guard: std::sync::Mutex::new(AccountGuard::new(&accounts, opts.lockout_guard)),
            changed: tokio::sync::Notify::new(),
        };
        Engine {
            opts: Arc::new(opts),
            mechanisms: Arc::new(mechanisms),
            accounts: Arc::new(accounts),
            profile: Arc::new(profile),
            resolver: resolver.map(|r| Arc::new(DnsResolver(r))),
            guard: Arc::new(guard),
            ledger: None,
            rate: ConnectRate::per_second(opts_rate).map(Arc::new),
        }
    }

    /// This engine (sharing its guard and rate) counting unproven accounts in `ledger`
    /// as well, for a run other scanners share ([`AccountLedger`]).
    pub fn with_ledger(&self, ledger: Arc<dyn AccountLedger>) -> Engine {
        Engine {
            ledger: Some(ledger),
            ..self.clone()
        }
    }

    /// The connection rate held so far (`None`: no cap).
    pub fn rate_held(&self) -> Option<winv_client::rate::RateHeld> {
        self.rate.as_ref().map(|r| r.held())
    }

    /// Shares the connection cap with `scanners` processes in all (this one included)
    /// that work on the same site of a shared run with the same cap.
    pub fn share_rate(&self, scanners: u32) {
        if let Some(r) = &self.rate {
            r.share_among(scanners);
        }
    }

    /// Retires `account` before the run starts, as an earlier part of it did (`--resume`).
    pub fn retire_account(&self, account: &str, refusals: u32) {
        self.guard.lock().retire(account, refusals);
    }

    /// Each account's counts so far, in the list's order.
    pub fn account_stats(&self) -> Vec<AccountStats> {
        self.guard.lock().stats()
    }

    /// A target of a local run as the computer the policy works on, ready from `start`.
    fn computer(&self, target: String, start: Instant) -> Computer {
        let items = self.profile.collection();
        let resolve = self.resolver.is_some();
        Computer::new(
            target,
            items,
            self.accounts.clone(),
            self.rules(),
            resolve,
            start,
        )
    }

    /// The numbers of the per-computer policy.
    fn rules(&self) -> Rules {
        Rules {
            max_attempts: self.opts.max_attempts,
            retry_delay: self.opts.retry_delay,
            watchdog: self.opts.watchdog,
            attempt_budget: self.opts.attempt_budget,
        }
    }

    /// Each computer's share of [`EngineOptions::result_memory`].
    fn result_share(&self) -> usize {
        (self.opts.result_memory / self.opts.concurrency.max(1))
            .max(MIN_RESULT_SHARE)
            .min(self.opts.client.max_result_bytes)
    }

    /// The options in force.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Inventories `targets` (names or addresses, in order, without duplicates), sending
    /// [`Event`]s to `events`. Setting `stop` to true ends the run: attempts in progress
    /// stop at their next step and every unfinished computer is reported as
    /// `inventory-not-completed`. Returns when every target has had its `Finished` event.
    pub async fn run(
        &self,
        targets: Vec<String>,
        events: mpsc::Sender<Event>,
        stop: watch::Receiver<bool>,
    ) {
        let queue = Queue::Local {
            fresh: targets.into(),
            start: Instant::now(),
            waiting: VecDeque::new(),
        };
        // A local queue cannot fail.
        let _ = self.drive(queue, events, stop).await;
    }

    /// Works on the computers of a queue shared with other scanners ([`crate::work`]):
    /// claims as slots free up, gives requeued computers back to `source` with what they
    /// carry, and records each final result there before its [`Event::Finished`]. The
    /// rules are [`Engine::run`]'s. Returns when the source has nothing left for this
    /// scanner and nothing is in flight, or after `stop` (or a run stopped for every
    /// scanner) once the attempts in flight ended: those end `inventory-not-completed`,
    /// which the source puts back in the queue. A source that fails (its database down
    /// past its retries) starts nothing more; its error is returned once the attempts in
    /// flight ended.
    pub async fn run_shared(
        &self,
        source: &dyn WorkSource,
        events: mpsc::Sender<Event>,
        stop: watch::Receiver<bool>,
    ) -> Result<(), WorkError> {
        let queue = Queue::Shared {
            source,
            exhausted: false,
            next_claim: Instant::now(),
            failed: None,
        };
        match self.drive(queue, events, stop).await {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The scheduling loop of both queues.
    async fn drive(
        &self,
        mut queue: Queue<'_>,
        events: mpsc::Sender<Event>,
        stop: watch::Receiver<bool>,
    ) -> Option<WorkError> {
        let rules = self.rules();
        let resolve = self.resolver.is_some();
        let concurrency = self.opts.concurrency;
        let mut running: JoinSet<(Computer, AttemptEnd)> = JoinSet::new();
        let rate = self.rate.as_deref();
        let mut stop_rx = stop.clone();
        let mut stopped = *stop.borrow();
        // What the attempts watch: the caller's stop, or a shared run stopped for every
        // scanner (a claim says so).
        let (halt, stop) = watch::channel(stopped);
        loop {
            // A stop that an attempt saw first must also stop new starts.
            stopped |= *stop.borrow();
            // Start what the limits allow.
            while !stopped && running.len() < concurrency {
                let now = Instant::now();
                if rate.is_some_and(|r| r.backlog() > RATE_BACKLOG) {
                    break;
                }
                let jobs: Vec<Computer> = match &mut queue {
                    Queue::Local {
                        fresh,
                        start,
                        waiting,
                    } => {
                        // The targets never tried, in order, then the requeued ones whose
                        // retry time has come (behind them in the queue's order).
                        if let Some(t) = fresh.pop_front() {
                            vec![self.computer(t, *start)]
                        } else {
                            let Some(pos) = waiting.iter().position(|j| j.not_before() <= now)
                            else {
                                break;
                            };
                            let Some(job) = waiting.remove(pos) else {
                                break;
                            };
                            vec![job]
                        }
                    }
                    Queue::Shared {
                        source,
                        exhausted,
                        next_claim,
                        failed,
                    } => {
                        let free = concurrency - running.len();
                        if *exhausted || failed.is_some() || now < *next_claim {
                            break;
                        }
                        if free < claim_threshold(concurrency, running.len()) {
                            break;
                        }
                        match source.claim(free).await {
                            Err(e) => {
                                warn!(error = %e, "cannot claim work: starting nothing more");
                                *failed = Some(e);
                                break;
                            }
                            Ok(claimed) => {
                                if claimed.stopped {
                                    info!("the run was stopped for every scanner");
                                    stopped = true;
                                    let _ = halt.send(true);
                                }
                                *exhausted = claimed.handed.is_empty() && claimed.exhausted;
                                if claimed.handed.len() < free {
                                    // What is left is someone else's or waits for its
                                    // retry time: ask again then, or after a poll.
                                    let poll = claimed.next_ready_ms.map_or(SHARED_POLL, |t| {
                                        let ms =
                                            u64::try_from(t.saturating_sub(now_ms())).unwrap_or(0);
                                        Duration::from_millis(ms).min(SHARED_POLL)
                                    });
                                    *next_claim = now + poll;
                                }
                                let start = Instant::now();
                                claimed
                                    .handed
                                    .into_iter()
                                    .map(|h| {
                                        Computer::handed(
                                            h,
                                            self.profile.collection(),
                                            self.accounts.clone(),
                                            rules,
                                            resolve,
                                            start,
                                        )
                                    })
                                    .collect()
                            }
                        }
                    }
                };
                if jobs.is_empty() {
                    break;
                }
                for job in jobs {
                    let ctx = Ctx {
                        engine: self.clone(),
                        events: events.clone(),
                        stop: stop.clone(),
                    };
                    running.spawn(Box::pin(attempt(job, ctx)));
                }
            }
            if running.is_empty() && (stopped || queue.is_done()) {
                break;
            }
            // Wait for a task to end, the next start time, or the stop signal.
            let wake = if stopped || running.len() >= concurrency {
                None
            } else {
                queue
                    .next_start(concurrency, running.len())
                    .map(|t| match rate {
                        Some(r) => t.max(Instant::now() + r.backlog().saturating_sub(RATE_BACKLOG)),
                        None => t,
                    })
            };
            tokio::select! {
                done = running.join_next(), if !running.is_empty() => {
                    match done {
                        Some(Ok((mut c, end))) => match c.settle(end, stopped, now()) {
                            Settled::Requeue { attempt, status, not_before } => {
                                let target = c.target().to_string();
                                queue.requeue(c, not_before).await;
                                let _ = events
                                    .send(Event::Requeued { target, attempt, status })
                                    .await;
                            }
                            Settled::Finished(mut r) => {
                                r.mechanism = c
                                    .remembered()
                                    .and_then(|i| self.mechanisms.get(i))
                                    .map(|m| m.used_for(c.target()).to_string());
                                queue.finish(&r).await;
                                let _ = events.send(Event::Finished(r)).await;
                            }
                        },
                        Some(Err(e)) => warn!(error = %e, "an attempt task ended abnormally"),
                        None => {}
                    }
                }
                _ = sleep_until(wake), if wake.is_some() => {}
                r = stop_rx.changed(), if !stopped => {
                    if r.is_err() || *stop_rx.borrow() {
                        info!(pending = queue.len(), running = running.len(), "run stopped");
                        stopped = true;
                        let _ = halt.send(true);
                    }
                }
            }
        }
        match queue {
            Queue::Local {
                fresh,
                start,
                waiting,
            } => {
                // Stopped: whatever never ran, or was waiting for a retry, is not completed.
                let never = fresh.into_iter().map(|t| self.computer(t, start));
                for mut c in waiting.into_iter().chain(never) {
                    if let Settled::Finished(r) = c.not_completed(now()) {
                        let _ = events.send(Event::Finished(r)).await;
                    }
                }
                None
            }
            Queue::Shared { failed, .. } => failed,
        }
    }
}

/// How long a scanner of a shared queue waits before asking again when nothing was
/// ready for it (other scanners hold the rest, or it waits for a retry time or for a
/// dead scanner's lease to expire).
pub const SHARED_POLL: Duration = Duration::from_secs(1);

/// The free slots worth a claim: with computers in flight, an eighth of the
/// concurrency (one claim per several computers, not one per computer); with none, one.
fn claim_threshold(concurrency: usize, running: usize) -> usize {
    if running == 0 {
        1
    } else {
        (concurrency / 8).max(1)
    }
}

/// The computers the scheduler works on: a local queue, or a shared one.
enum Queue<'a> {
    /// The whole run, in this process: the targets not tried yet (a computer's state is
    /// made when it starts: 10,000 waiting targets would otherwise hold 10,000 copies of
    /// the profile's items), then the computers waiting for a retry.
    Local {
        fresh: VecDeque<String>,
        /// The run's start: when every fresh target became ready.
        start: Instant,
        waiting: VecDeque<Computer>,
    },
    /// Claimed from a source shared with other scanners.
    Shared {
        source: &'a dyn WorkSource,
        /// The source said nothing is left for this scanner.
        exhausted: bool,
        /// No claim before this instant.
        next_claim: Instant,
        /// The source failed: nothing more is claimed.
        failed: Option<WorkError>,
    },
}

impl Queue<'_> {
    /// Nothing more will start.
    fn is_done(&self) -> bool {
        match self {
            Queue::Local { fresh, waiting, .. } => fresh.is_empty() && waiting.is_empty(),
            Queue::Shared {
                exhausted, failed, ..
            } => *exhausted || failed.is_some(),
        }
    }

    /// Computers waiting here (a shared queue holds none).
    fn len(&self) -> usize {
        match self {
            Queue::Local { fresh, waiting, .. } => fresh.len() + waiting.len(),
            Queue::Shared { .. } => 0,
        }
    }

    /// When to try starting again, with `running` of `concurrency` slots taken.
    fn next_start(&self, concurrency: usize, running: usize) -> Option<Instant> {
        match self {
            Queue::Local { fresh, start, .. } if !fresh.is_empty() => Some(*start),
            Queue::Local { waiting, .. } => waiting.iter().map(Computer::not_before).min(),
            Queue::Shared { next_claim, .. } if !self.is_done() => (concurrency - running
                >= claim_threshold(concurrency, running))
            .then_some(*next_claim),
            Queue::Shared { .. } => None,
        }
    }

    /// A retry-class attempt ended: back in the local queue, or given back to the
    /// source with what it carries.
    async fn requeue(&mut self, c: Computer, not_before: Instant) {
        match self {
            Queue::Local { waiting, .. } => waiting.push_back(c),
            Queue::Shared {
                source,
                exhausted,
                failed,
                ..
            } => {
                *exhausted = false;
                let Some(attempt) = c.last_attempt() else {
                    return;
                };
                let wait = not_before.saturating_duration_since(Instant::now());
                let r = Requeued {
                    target: c.target(),
                    attempt,
                    class_order: c.order().iter().map(Item::name).collect(),
                    not_before_ms: now_ms()
                        .saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX)),
                    carry: c.carry(),
                };
                match source.requeue(r).await {
                    Ok(()) => {}
                    Err(e @ WorkError::Lost(_)) => info!(error = %e, "requeued computer dropped"),
                    Err(e) => {
                        warn!(target = c.target(), error = %e, "cannot give a computer back: another scanner takes it over when its claim expires");
                        failed.get_or_insert(e);
                    }
                }
            }
        }
    }

    /// A computer's final result: recorded by a shared source (the local run's caller
    /// records it from the event).
    async fn finish(&mut self, r: &ComputerResult) {
        if let Queue::Shared { source, failed, .. } = self {
            match source.finish(r).await {
                Ok(()) => {}
                Err(e @ WorkError::Lost(_)) => info!(error = %e, "result dropped"),
                Err(e) => {
                    warn!(target = %r.target, error = %e, "cannot record a result: another scanner redoes the computer when its claim expires");
                    failed.get_or_insert(e);
                }
            }
        }
    }
}

/// The current instant, both clocks.
pub(crate) fn now() -> Now {
    Now {
        mono: Instant::now(),
        wall_ms: now_ms(),
    }
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// How a guarded step ended.
enum Guarded<T> {
    Done(T),
    Watchdog,
    /// The attempt's deadline came first.
    OutOfTime,
    Stopped,
}

/// Runs `fut` under the watchdog, the attempt's `deadline` and the stop signal: whichever
/// of the two limits comes first ends it. A deadline already past does not start it.
async fn guarded<T>(
    fut: impl std::future::Future<Output = T>,
    watchdog: Duration,
    deadline: Option<Instant>,
    stop: &mut watch::Receiver<bool>,
) -> Guarded<T> {
    guarded_waiting(fut, watchdog, deadline, &|| (Duration::ZERO, false), stop).await
}

/// Runs a connect under the watchdog, the attempt's `deadline` and the stop signal, where
/// the time it waits for the lockout guard's admission (the places of an unproven
/// account held by other connects, here or on other scanners) does not count toward the
/// watchdog: a computer never times out because another one holds its account's place.
/// The attempt's deadline (its time budget) holds whatever the connect waits for.
async fn guarded_connect<T>(
    fut: impl std::future::Future<Output = T>,
    watchdog: Duration,
    attempt_deadline: Option<Instant>,
    gate: &Admitting,
    stop: &mut watch::Receiver<bool>,
) -> Guarded<T> {
    guarded_waiting(fut, watchdog, attempt_deadline, &|| gate.waited(), stop).await
}

/// [`guarded`] where `waited` says how long the step has waited for something that is
/// not the host's (and whether it waits now): that time does not count toward the
/// watchdog; the attempt's deadline holds whatever it waits for.
async fn guarded_waiting<T>(
    fut: impl std::future::Future<Output = T>,
    watchdog: Duration,
    attempt_deadline: Option<Instant>,
    waited: &(dyn Fn() -> (Duration, bool) + Sync),
    stop: &mut watch::Receiver<bool>,
) -> Guarded<T> {
    if *stop.borrow() {
        return Guarded::Stopped;
    }
    let budget = attempt_deadline.map(tokio::time::Instant::from_std);
    let start = tokio::time::Instant::now();
    tokio::pin!(fut);
    loop {
        let now = tokio::time::Instant::now();
        if budget.is_some_and(|b| b <= now) {
            return Guarded::OutOfTime;
        }
        let (waited, waiting) = waited();
        let deadline = start + watchdog + waited;
        if !waiting && deadline <= now {
            return Guarded::Watchdog;
        }
        // While waiting, look again a watchdog later (the wait itself ends with the
        // connects holding the places, each under its own watchdog, or with the stop).
        let mut next = if waiting { now + watchdog } else { deadline };
        if let Some(b) = budget {
            next = next.min(b);
        }
        tokio::select! {
            r = &mut fut => return Guarded::Done(r),
            _ = tokio::time::sleep_until(next) => {}
            _ = stop.wait_for(|s| *s) => return Guarded::Stopped,
        }
    }
}

/// One attempt at one computer: performs the policy's actions until the attempt ends.
async fn attempt(mut c: Computer, mut ctx: Ctx) -> (Computer, AttemptEnd) {
    let eng = ctx.engine.clone();
    let opts = &eng.opts;
    let _ = ctx
        .events
        .send(Event::AttemptStarted {
            target: c.target().to_string(),
            attempt: c.attempts() + 1,
        })
        .await;
    let mut client: Option<WmiClient> = None;
    let mut action = c.begin(now());
    // The rows this attempt holds for the computer, against its share.
    let share = eng.result_share();
    let mut held = 0usize;
    // Class queries collected at once with an earlier one, waiting for the policy.
    let mut ahead = Ahead::default();
    // Whether the connection has answered a query whole ([`crate::ahead`]).
    let mut proven = false;
    // The policy forgets it when the attempt ends; the release on the way out keeps to it.
    let attempt_deadline = c.deadline();
    loop {
        action = match action {
            Action::Resolve => {
                step(&ctx.events, c.target(), "resolving").await;
                let Some(r) = eng.resolver.as_ref() else {
                    // The policy asks only when the engine has a resolver.
                    let f = StepOutcome::Done(Resolved::NotFound(ResolveFailure::TryAgain(
                        "no resolver".into(),
                    )));
                    action = c.on_resolved(f, now());
                    continue;
                };
                let g = guarded(
                    r.lookup(c.target()),
                    opts.watchdog,
                    c.deadline(),
                    &mut ctx.stop,
                );
                match g.await {
                    Guarded::Stopped => c.on_stop(now()),
                    Guarded::Watchdog => c.on_resolved(StepOutcome::Watchdog, now()),
                    Guarded::OutOfTime => c.on_resolved(StepOutcome::OutOfTime, now()),
                    Guarded::Done(Ok(addrs)) => {
                        c.on_resolved(StepOutcome::Done(Resolved::Found(addrs)), now())
                    }
                    Guarded::Done(Err(e)) => {
                        c.on_resolved(StepOutcome::Done(Resolved::NotFound(e.failure)), now())
                    }
                }
            }
            Action::Connect { credential } | Action::Reconnect { credential } => {
                step(&ctx.events, c.target(), "connecting").await;
                // Outcomes collected ahead on the connection being replaced are asked
                // for again on the new one.
                ahead.discard();
                proven = false;
                // A broken connection is only dropped: the server frees its objects when
                // their pings stop.
                client = None;
                let Some(mech) = eng.mechanisms.get(credential).cloned() else {
                    action = c.on_stop(now());
                    continue;
                };
                // Resolved once per attempt by the policy (or an address): the flow skips
                // its own resolution then.
                let target = match c.address() {
                    Some(a) => Target::resolved(c.target(), vec![a]),
                    None => Target::new(c.target()),
                };
                // The guard admits the connect at its first authenticated bind: a connect
                // that never reaches a logon (a silent address) takes no place.
                let gate = Arc::new(Admitting {
                    inner: mech,
                    guard: eng.guard.clone(),
                    ledger: eng.ledger.clone(),
                    index: credential,
                    target: c.target().to_string(),
                    stop: ctx.stop.clone(),
                    state: std::sync::Mutex::new(Gate::Pending),
                    admission: std::sync::Mutex::new(AdmissionClock::default()),
                });
                let config = FlowConfig {
                    opts: opts.client.clone(),
                    mechanism: gate.clone(),
                    resolver: eng.resolver.clone().map(|r| r as Arc<dyn NameResolver>),
                    rate: eng.rate.clone(),
                };
                // Boxed: the connect future is large, and tasks run on 2 MiB stacks.
                let conn = Box::pin(winv_client::flow::connect(target, &config, None));
                let g = guarded_connect(conn, opts.watchdog, c.deadline(), &gate, &mut ctx.stop);
                let (verdict, next) = match g.await {
                    Guarded::Stopped => (Verdict::Unknown, c.on_stop(now())),
                    Guarded::Watchdog => (
                        Verdict::Unknown,
                        c.on_connected(StepOutcome::Watchdog, now()),
                    ),
                    Guarded::OutOfTime => (
                        Verdict::Unknown,
                        c.on_connected(StepOutcome::OutOfTime, now()),
                    ),
                    Guarded::Done(Ok(cl)) => {
                        client = Some(cl);
                        let next = c.on_connected(StepOutcome::Done(Connected::Ok), now());
                        (Verdict::Accepted, next)
                    }
                    Guarded::Done(Err(_))
                        if matches!(gate.state(), Gate::Retired | Gate::RetiredNow(_)) =>
                    {
                        (
                            Verdict::Unknown,
                            c.on_connected(StepOutcome::Done(Connected::Retired), now()),
                        )
                    }
                    Guarded::Done(Err(_)) if gate.state() == Gate::Stopped => {
                        (Verdict::Unknown, c.on_stop(now()))
                    }
                    Guarded::Done(Err(e)) => {
                        let f = classify(&e, NamespaceRole::of(&opts.client.namespace));
                        let account = eng.accounts.get(credential).map_or("", String::as_str);
                        debug!(target = %c.target(), %account, status = %f.status, error = %e, "connect failed");
                        let verdict = Verdict::of(&f);
                        let next = c.on_connected(StepOutcome::Done(Connected::Failed(f)), now());
                        (verdict, next)
                    }
                };
                let retired = match gate.state() {
                    Gate::Admitted { pass, ledger } => {
                        let mut r = eng
                            .guard
                            .lock()
                            .report(credential, c.target(), pass, verdict);
                        eng.guard.changed.notify_waiters();
                        if let Some(l) = eng.ledger.as_ref().filter(|_| ledger) {
                            r = r.or(report_to_ledger(
                                &eng,
                                l.as_ref(),
                                credential,
                                c.target(),
                                verdict,
                            )
                            .await);
                        }
                        r
                    }
                    Gate::RetiredNow(refusals) => Some(Retirement {
                        account: eng.accounts.get(credential).cloned().unwrap_or_default(),
                        refusals,
                    }),
                    Gate::Pending | Gate::Retired | Gate::Stopped => None,
                };
                if let Some(r) = retired {
                    info!(
                        account = %r.account,
                        refusals = r.refusals,
                        "account retired by the lockout guard: no computer will try it again in this run"
                    );
                    let _ = ctx
                        .events
                        .send(Event::AccountRetired {
                            account: r.account,
                            refusals: r.refusals,
                        })
                        .await;
                }
                next
            }
            Action::Collect { item } => {
                step(&ctx.events, c.target(), &item.name()).await;
                let Some(cl) = client.as_mut() else {
                    action = c.on_stop(now());
                    continue;
                };
                let role = NamespaceRole::of(item.namespace());
                let deadline = c.deadline();
                let early = match ahead.take(&item.name()) {
                    Some(e) => Some(e),
                    None => {
                        // What is left of the computer's share of the result memory.
                        cl.set_max_result_bytes(share.saturating_sub(held));
                        let max = opts.client.connections.max(1) * QUERIES_PER_CONNECTION;
                        // More connections only once this one has answered a query
                        // whole: a host that breaks every query breaks one at a time.
                        let max = if proven { max } else { 1 };
                        let batch = batch_of(&item, c.upcoming(), max);
                        if batch.len() > 1 {
                            let (events, target) = (&ctx.events, c.target());
                            let (watchdog, stop) = (opts.watchdog, &mut ctx.stop);
                            let ended =
                                collect_ahead(cl, &batch, events, target, watchdog, deadline, stop)
                                    .await;
                            let mut ended = ended.into_iter();
                            let first = ended.next();
                            // Their octets count when the policy takes them: nothing else
                            // is collected before.
                            for e in ended {
                                ahead.push(e);
                            }
                            first
                        } else {
                            None
                        }
                    }
                };
                // The policy is fed what ended at the instant it ended.
                let (r, at) = match early {
                    Some(e) => {
                        held += e.octets;
                        let r = match e.ended {
                            Ended::Returned(r) => Guarded::Done(r.map(instances)),
                            Ended::Cut(cut) => cut_as_guarded(cut),
                        };
                        (r, e.at)
                    }
                    None => {
                        let work = Box::pin(collect(cl, &item, &mut held));
                        let r = guarded(work, opts.watchdog, deadline, &mut ctx.stop).await;
                        (r, now())
                    }
                };
                proven |= matches!(r, Guarded::Done(Ok(ItemOutcome::Collected(_))));
                let next = match r {
                    Guarded::Stopped => c.on_stop(at),
                    Guarded::Watchdog => c.on_item(StepOutcome::Watchdog, at),
                    Guarded::OutOfTime => c.on_item(StepOutcome::OutOfTime, at),
                    Guarded::Done(Ok(outcome)) => c.on_item(StepOutcome::Done(outcome), at),
                    Guarded::Done(Err(e)) => {
                        let outcome = ItemOutcome::Failed {
                            failure: classify(&e, role),
                            timeout: e.is_timeout(),
                            answered: server_answered(&e),
                        };
                        c.on_item(StepOutcome::Done(outcome), at)
                    }
                };
                if let Some((item, outcome)) = c.take_item_event() {
                    let _ = ctx
                        .events
                        .send(Event::Item {
                            target: c.target().to_string(),
                            item,
                            outcome,
                        })
                        .await;
                }
                next
            }
            Action::End { release, end } => {
                if let Some(cl) = client.take() {
                    if release {
                        // Bounded: a server that stops answering does not hold the slot,
                        // nor past the attempt's budget (each release call has its own
                        // short deadline, which it always gets).
                        let left = attempt_deadline
                            .map_or(opts.client.deadlines.call, |d| {
                                d.saturating_duration_since(Instant::now())
                            })
                            .max(opts.client.release_deadline)
                            .min(opts.client.deadlines.call);
                        let _ = tokio::time::timeout(left, cl.close()).await;
                    }
                }
                debug!(target = %c.target(), attempt = c.attempts(), ?end, "attempt ended");
                return (c, end);
            }
        };
    }
}

/// A class query's rows as the item's outcome.
fn instances(rows: Vec<Instance>) -> ItemOutcome {
    ItemOutcome::Collected(Collected::Instances(rows))
}

/// Runs `batch` ([`crate::ahead::batch_of`]) at once on `cl` under the watchdog, the
/// attempt's `deadline` and the stop, as [`guarded`] runs one item: the step shown for
/// `target` and the watchdog follow the query the policy waits for (the watchdog times
/// it from when the ones before it ended, as one after another). Returns the outcomes
/// from the first query to the first still running, which gets the cut.
async fn collect_ahead(
    cl: &mut WmiClient,
    batch: &[&Item],
    events: &mpsc::Sender<Event>,
    target: &str,
    watchdog: Duration,
    deadline: Option<Instant>,
    stop: &mut watch::Receiver<bool>,
) -> Vec<Early> {
    let slots = Slots::new(batch.len());
    let start = Instant::now();
    let work = Box::pin(async {
        let run = collect_batch(cl, batch, &slots);
        let show = async {
            let mut shown = 0;
            loop {
                slots.changed().await;
                let at = slots.waiting().at;
                if let Some(i) = batch.get(at).filter(|_| at != shown) {
                    shown = at;
                    step(events, target, &i.name()).await;
                }
            }
        };
        tokio::select! {
            () = run => {}
            () = show => {}
        }
    });
    let progress = || {
        let since = slots.waiting().since;
        let since = since.map_or(Duration::ZERO, |t| t.saturating_duration_since(start));
        (since, false)
    };
    let cut = guarded_as_cut(guarded_waiting(work, watchdog, deadline, &progress, stop).await);
    slots.ended(batch, cut.map(|k| (k, now())))
}

/// How a guarded batch ended: whole (`None`), or cut by the stop, the watchdog or the
/// attempt's deadline; [`cut_as_guarded`] is the way back.
fn guarded_as_cut(g: Guarded<()>) -> Option<Cut> {
    match g {
        Guarded::Done(()) => None,
        Guarded::Stopped => Some(Cut::Stopped),
        Guarded::Watchdog => Some(Cut::Watchdog),
        Guarded::OutOfTime => Some(Cut::OutOfTime),
    }
}

/// What the policy meets for a query of a batch that `cut` ended while it ran: what it
/// would have met running it alone.
fn cut_as_guarded<T>(cut: Cut) -> Guarded<T> {
    match cut {
        Cut::Stopped => Guarded::Stopped,
        Cut::Watchdog => Guarded::Watchdog,
        Cut::OutOfTime => Guarded::OutOfTime,
    }
}

/// Reports the step the attempt at `target` is at ([`Event::Step`]).
async fn step(events: &mpsc::Sender<Event>, target: &str, step: &str) {
    let _ = events
        .send(Event::Step {
            target: target.to_string(),
            step: step.to_string(),
        })
        .await;
}

/// Whether the server answered the failing call (a fault, an HRESULT, a `ReturnValue`):
/// the connection is still in step and its references can be released.
fn server_answered(e: &ClientError) -> bool {
    matches!(
        e.cause(),
        winv_client::Cause::Fault { .. }
            | winv_client::Cause::Hresult(_)
            | winv_client::Cause::Win32 { .. }
    )
}

/// The child namespaces of a parent, as `__NAMESPACE` lists them.
const LIST_NAMESPACES: &str = "SELECT Name FROM __NAMESPACE";

/// The most rows a registry table takes from one host: a server cannot make us hold more.
pub const MAX_TABLE_ROWS: usize = 1024;

/// A decoded object as the engine keeps it: an instance as its JSON text
/// ([`Instance`]) and the octets that holds; a class (which a query of instances does
/// not keep) as nothing.
pub(crate) fn kept(o: &winv_wmio::Object) -> Option<(Instance, usize)> {
    match o.kind {
        ObjectKind::Instance(_) => {
            let i = Instance::new(&winv_wmio::to_json(o));
            let n = i.octets();
            Some((i, n))
        }
        ObjectKind::Class { .. } => None,
    }
}

/// Runs `wql` in `namespace`, keeping each instance as JSON text as its batch arrives (a
/// decoded batch, its values and the classes they share, is several times that text): the
/// query's octet budget counts the text held; `expect` says how many objects to expect.
/// Returns the instances and their octets.
async fn query_json(
    client: &mut WmiClient,
    namespace: &str,
    wql: &str,
    expect: Rows,
) -> Result<(Vec<Instance>, usize), ClientError> {
    let mut rows = Vec::new();
    let mut held = 0;
    let mut keep = |o: winv_wmio::Object| match kept(&o) {
        Some((i, n)) => {
            rows.push(i);
            held += n;
            n
        }
        None => 0,
    };
    client
        .query_each_in(namespace, wql, expect, &mut keep)
        .await?;
    Ok((rows, held))
}

/// Performs one item, adding the octets of the rows it keeps to `held` (the computer's
/// memory, [`EngineOptions::result_memory`]). What a failure means is the policy's
/// decision ([`Computer::on_item`]); this only reports what happened.
async fn collect(
    client: &mut WmiClient,
    item: &Item,
    held: &mut usize,
) -> Result<ItemOutcome, ClientError> {
    let data = match item {
        Item::Wmi { namespace, wql, .. } => match namespace_pattern(namespace) {
            None => {
                let (rows, n) = query_json(client, namespace, wql, item.rows()).await?;
                *held += n;
                Collected::Instances(rows)
            }
            Some((parent, prefix)) => {
                // An absent parent fails at its login: the policy's "namespace" rule.
                let listed = client.query_in(parent, LIST_NAMESPACES).await?;
                let names: Vec<String> = listed
                    .iter()
                    .filter_map(|i| i.get("Name").and_then(|v| v.as_str()).map(str::to_string))
                    .collect();
                let Some(child) = newest_namespace(prefix, &names) else {
                    return Ok(ItemOutcome::NoMatchingNamespace {
                        parent: parent.to_string(),
                    });
                };
                let used = format!("{parent}\\{child}");
                let (rows, n) = query_json(client, &used, wql, item.rows()).await?;
                *held += n;
                Collected::InstancesIn {
                    namespace: used,
                    instances: rows,
                }
            }
        },
        Item::RegistryTable(t) => Collected::Table(registry_table(client, t).await?),
        Item::RegistryValue { key, value, .. } => {
            match client
                .registry()
                .get_string_value(Hive::LocalMachine, key, value)
                .await
            {
                Ok(v) => Collected::Value(Some(v)),
                Err(e) if is_not_found(&e) => Collected::Value(None),
                Err(e) => return Err(e),
            }
        }
        Item::Software => {
            let sw = client.registry().installed_software().await?;
            Collected::Software(
                sw.into_iter()
                    .map(|s| SoftwareRow {
                        name: s.name,
                        version: s.version,
                        publisher: s.publisher,
                        install_date: s.install_date,
                        wow64: s.wow64,
                    })
                    .collect(),
            )
        }
    };
    Ok(ItemOutcome::Collected(data))
}

/// A registry value that may be absent: `None` when the key or value does not exist.
fn optional_value<T>(r: Result<T, ClientError>) -> Result<Option<T>, ClientError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// One registry table: the values of `t.list` (an absent list key is the error the
/// policy judges), then per value its string data and the `values` of its detail key.
/// One JSON object per row: `name`, `data`, and each detail value (null when absent).
async fn registry_table(
    client: &mut WmiClient,
    t: &RegistryTable,
) -> Result<Vec<Instance>, ClientError> {
    let hklm = Hive::LocalMachine;
    let mut reg = client.registry();
    let listed = reg.enum_values(hklm, &t.list).await?;
    if listed.len() > MAX_TABLE_ROWS {
        warn!(list = %t.list, values = listed.len(), kept = MAX_TABLE_ROWS, "registry table truncated");
    }
    let mut rows = Vec::new();
    for (name, ty) in listed.into_iter().take(MAX_TABLE_ROWS) {
        let data = match ty {
            RegType::String | RegType::ExpandString => {
                optional_value(reg.get_string_value(hklm, &t.list, &name).await)?
            }
            _ => None,
        };
        let mut row = serde_json::Map::new();
        row.insert("name".into(), name.clone().into());
        row.insert(
            "data".into(),
            data.clone().map_or(serde_json::Value::Null, Into::into),
        );
        // A detail key made from data that is not there would name another key.
        let key = (!t.detail.contains("{data}") || data.is_some())
            .then(|| t.detail_key(&name, data.as_deref().unwrap_or("")));
        for (value, kind) in &t.values {
            let v: serde_json::Value = match &key {
                None => serde_json::Value::Null,
                Some(key) => match kind {
                    RegKind::String => {
                        optional_value(reg.get_string_value(hklm, key, value).await)?
                            .map_or(serde_json::Value::Null, Into::into)
                    }
                    RegKind::Dword => optional_value(reg.get_dword_value(hklm, key, value).await)?
                        .map_or(serde_json::Value::Null, Into::into),
                },
            };
            row.insert(value.clone(), v);
        }
        rows.push(Instance::new(&serde_json::Value::Object(row)));
    }
    Ok(rows)
}
