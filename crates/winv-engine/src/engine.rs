//! The scheduler and the per-computer state machine over the connection flow of
//! `../shared/DESIGN.md`, with seed 000's retry rules:
//!
//! - a retry-class error abandons the computer's attempt at once and requeues it at the
//!   back of the queue (not before [`EngineOptions::retry_delay`]); at most
//!   [`EngineOptions::max_attempts`] (4) attempts; on each retry the item that was being
//!   collected moves to the end of the list, and items already collected are not asked
//!   for again;
//! - a watchdog ends any step that makes no progress for [`EngineOptions::watchdog`]
//!   (5 minutes): `wmi-query-timeout` (retry class) unless a query on the computer has
//!   already succeeded, in which case the item is recorded as timed out and the computer
//!   goes on;
//! - when every item fails on every attempt the computer ends as `other-reasons`;
//! - credentials are tried in order until one gets past the logon; the one that worked
//!   is remembered for the computer and tried first on its later attempts;
//! - at most [`EngineOptions::concurrency`] computers at once, and at most
//!   [`EngineOptions::connections_per_second`] new attempts per second.
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

use winv_client::registry::{is_not_found, Hive};
use winv_client::{ClientError, Credentials, WmiClient, WmiOptions};
use winv_discovery::resolve::{NotFoundReason, Resolution, Resolver};
use winv_wmio::ObjectKind;

use crate::classify::{
    classify, engine_failure, NamespaceRole, WSAHOST_NOT_FOUND, WSANO_DATA, WSATRY_AGAIN,
};
use crate::profile::{Item, Profile};
use crate::record::{
    AttemptRecord, ClassInstances, ClassOutcome, ClassResult, ComputerResult, Failure, Inventory,
    SoftwareRow,
};
use crate::status::Status;

/// One credential of the ordered list. `Debug` never shows the secret.
#[derive(Clone, Debug)]
pub struct Credential {
    /// The account as the user wrote it (`LAB\admin`, `admin@lab.local`): what records show.
    pub account: String,
    /// The credentials the client uses.
    pub creds: Credentials,
}

/// Engine settings. The defaults are the documented ones.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Computers worked on at once (default 32).
    pub concurrency: usize,
    /// New attempts started per second at most (default 20): the bound MAP lacked.
    pub connections_per_second: f64,
    /// Attempts per computer (seed 000: 4, i.e. 3 retries).
    pub max_attempts: u32,
    /// No progress for this long ends a step (seed 000: 5 minutes).
    pub watchdog: Duration,
    /// A requeued computer waits at least this long (default 10 s).
    pub retry_delay: Duration,
    /// The WMI client's options (auth level, deadlines, port); the call deadline is capped
    /// at the watchdog period.
    pub client: WmiOptions,
}

impl Default for EngineOptions {
    fn default() -> Self {
        let mut client = WmiOptions::default();
        // A firewall that drops SYNs costs this much per silent address.
        client.deadlines.connect = Duration::from_secs(5);
        EngineOptions {
            concurrency: 32,
            connections_per_second: 20.0,
            max_attempts: 4,
            watchdog: Duration::from_secs(300),
            retry_delay: Duration::from_secs(10),
            client,
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
}

/// A computer in the queue, with everything learned on earlier attempts.
struct Job {
    target: String,
    order: Vec<Item>,
    attempts: Vec<AttemptRecord>,
    classes: Vec<ClassResult>,
    inventory: Inventory,
    /// Index into the credential list of the one that worked.
    remembered: Option<usize>,
    any_success: bool,
    address: Option<IpAddr>,
    not_before: Instant,
}

impl Job {
    fn new(target: String, profile: &Profile) -> Job {
        Job {
            target,
            order: profile.items.clone(),
            attempts: Vec::new(),
            classes: Vec::new(),
            inventory: Inventory::default(),
            remembered: None,
            any_success: false,
            address: None,
            not_before: Instant::now(),
        }
    }

    fn record_class(&mut self, r: ClassResult) {
        match self.classes.iter_mut().find(|c| c.class == r.class) {
            Some(c) => *c = r,
            None => self.classes.push(r),
        }
    }

    fn finish(
        self,
        status: Status,
        failure: Option<Failure>,
        creds: &[Credential],
    ) -> ComputerResult {
        ComputerResult {
            target: self.target,
            address: self.address,
            status,
            failure,
            attempts: self.attempts,
            credential: self
                .remembered
                .and_then(|i| creds.get(i))
                .map(|c| c.account.clone()),
            classes: self.classes,
            inventory: self.inventory,
            finished_ms: now_ms(),
        }
    }
}

/// How an attempt ended.
enum Outcome {
    /// The computer is done.
    Final(Status, Option<Failure>),
    /// Requeue it (retry class), the failing item moved to the end.
    Retry(Failure, Option<String>),
    /// The run was stopped during the attempt.
    Stopped,
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
    creds: Arc<Vec<Credential>>,
    profile: Arc<Profile>,
    resolver: Option<Resolver>,
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
        Engine {
            opts: Arc::new(opts),
            creds: Arc::new(creds),
            profile: Arc::new(profile),
            resolver,
        }
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
        let mut queue: VecDeque<Job> = targets
            .into_iter()
            .map(|t| Job::new(t, &self.profile))
            .collect();
        let mut running: JoinSet<(Job, Outcome)> = JoinSet::new();
        let interval =
            Duration::from_secs_f64((1.0 / self.opts.connections_per_second).min(3600.0));
        let mut next_start = Instant::now();
        let mut stop_rx = stop.clone();
        let mut stopped = *stop.borrow();
        loop {
            // A stop that an attempt saw first must also stop new starts.
            stopped |= *stop.borrow();
            // Start what the limits allow.
            while !stopped && running.len() < self.opts.concurrency {
                let now = Instant::now();
                if now < next_start {
                    break;
                }
                let Some(pos) = queue.iter().position(|j| j.not_before <= now) else {
                    break;
                };
                let Some(job) = queue.remove(pos) else { break };
                next_start = now.max(next_start) + interval;
                let ctx = Ctx {
                    engine: self.clone(),
                    events: events.clone(),
                    stop: stop.clone(),
                };
                running.spawn(Box::pin(attempt(job, ctx)));
            }
            if running.is_empty() && (queue.is_empty() || stopped) {
                break;
            }
            // Wait for a task to end, the next start time, or the stop signal.
            let wake = if stopped || running.len() >= self.opts.concurrency {
                None
            } else {
                queue
                    .iter()
                    .map(|j| j.not_before)
                    .min()
                    .map(|t| t.max(next_start))
            };
            tokio::select! {
                done = running.join_next(), if !running.is_empty() => {
                    match done {
                        Some(Ok((job, outcome))) => {
                            self.settle(job, outcome, &mut queue, &events, stopped).await;
                        }
                        Some(Err(e)) => warn!(error = %e, "an attempt task ended abnormally"),
                        None => {}
                    }
                }
                _ = sleep_until(wake), if wake.is_some() => {}
                r = stop_rx.changed(), if !stopped => {
                    if r.is_err() || *stop_rx.borrow() {
                        info!(pending = queue.len(), running = running.len(), "run stopped");
                        stopped = true;
                    }
                }
            }
        }
        // Stopped: whatever never ran, or was waiting for a retry, is not completed.
        for job in queue.drain(..) {
            let f = not_completed();
            let r = job.finish(Status::InventoryNotCompleted, Some(f), &self.creds);
            let _ = events.send(Event::Finished(Box::new(r))).await;
        }
    }

    /// Decides what happens to a computer after an attempt.
    async fn settle(
        &self,
        mut job: Job,
        outcome: Outcome,
        queue: &mut VecDeque<Job>,
        events: &mpsc::Sender<Event>,
        stopped: bool,
    ) {
        let attempts = u32::try_from(job.attempts.len()).unwrap_or(u32::MAX);
        let result = match outcome {
            Outcome::Final(status, failure) => job.finish(status, failure, &self.creds),
            Outcome::Stopped => job.finish(
                Status::InventoryNotCompleted,
                Some(not_completed()),
                &self.creds,
            ),
            Outcome::Retry(failure, failing) if attempts < self.opts.max_attempts && !stopped => {
                if let Some(name) = failing {
                    if let Some(pos) = job.order.iter().position(|i| i.name() == name) {
                        let item = job.order.remove(pos);
                        job.order.push(item);
                    }
                }
                job.not_before = Instant::now() + self.opts.retry_delay;
                let _ = events
                    .send(Event::Requeued {
                        target: job.target.clone(),
                        attempt: attempts,
                        status: failure.status,
                    })
                    .await;
                queue.push_back(job);
                return;
            }
            Outcome::Retry(failure, _) if stopped => {
                let _ = failure;
                job.finish(
                    Status::InventoryNotCompleted,
                    Some(not_completed()),
                    &self.creds,
                )
            }
            Outcome::Retry(failure, _) => final_after_retries(job, failure, &self.creds),
        };
        let _ = events.send(Event::Finished(Box::new(result))).await;
    }
}

/// The last attempt failed with a retry-class error.
fn final_after_retries(job: Job, failure: Failure, creds: &[Credential]) -> ComputerResult {
    // Only per-class errors, on every attempt, and nothing ever collected: seed 000's
    // "other reasons". A query that succeeded earlier makes it an incomplete inventory.
    if failure.stage == "items" {
        let status = if job.any_success {
            Status::InventoriedIncomplete
        } else {
            Status::OtherReasons
        };
        let f = (status == Status::OtherReasons).then_some(failure);
        return job.finish(status, f, creds);
    }
    let mut failure = failure;
    failure.retry = true;
    job.finish(failure.status, Some(failure), creds)
}

/// The watchdog ended `what` after `period` without progress.
fn watchdog_failure(what: &str, period: Duration) -> Failure {
    engine_failure(
        Status::WmiQueryTimeout,
        "watchdog",
        None,
        format!("{what} made no progress for {} s", period.as_secs_f64()),
    )
}

fn not_completed() -> Failure {
    engine_failure(
        Status::InventoryNotCompleted,
        "run",
        None,
        "the run was stopped before the computer was finished".into(),
    )
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// Runs `fut` under the watchdog and the stop signal: `Err(None)` when stopped,
/// `Err(Some(()))` when the watchdog fired.
async fn guarded<T>(
    fut: impl std::future::Future<Output = T>,
    watchdog: Duration,
    stop: &mut watch::Receiver<bool>,
) -> Result<T, Option<()>> {
    if *stop.borrow() {
        return Err(None);
    }
    tokio::select! {
        r = tokio::time::timeout(watchdog, fut) => r.map_err(|_| Some(())),
        _ = stop.wait_for(|s| *s) => Err(None),
    }
}

/// One attempt at one computer.
async fn attempt(mut job: Job, mut ctx: Ctx) -> (Job, Outcome) {
    let number = u32::try_from(job.attempts.len() + 1).unwrap_or(u32::MAX);
    let started = Instant::now();
    let started_ms = now_ms();
    let _ = ctx
        .events
        .send(Event::AttemptStarted {
            target: job.target.clone(),
            attempt: number,
        })
        .await;
    let order: Vec<String> = job.order.iter().map(Item::name).collect();
    let (outcome, credential, failing) = Box::pin(attempt_inner(&mut job, &mut ctx, number)).await;
    let (status, failure) = match &outcome {
        Outcome::Final(s, f) => (*s, f.clone()),
        Outcome::Retry(f, _) => (f.status, Some(f.clone())),
        Outcome::Stopped => (Status::InventoryNotCompleted, None),
    };
    job.attempts.push(AttemptRecord {
        number,
        started_ms,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        credential,
        class_order: order,
        outcome: status,
        failing_class: failing,
        failure,
    });
    debug!(target = %job.target, attempt = number, status = %status, "attempt ended");
    (job, outcome)
}

/// The attempt's steps: resolve, connect with each credential, collect each item.
/// Returns the outcome, the account used, and the failing item of a retry.
async fn attempt_inner(
    job: &mut Job,
    ctx: &mut Ctx,
    number: u32,
) -> (Outcome, Option<String>, Option<String>) {
    let opts = ctx.engine.opts.clone();
    let last = number >= opts.max_attempts;
    // Resolve.
    let host = match job.target.parse::<IpAddr>() {
        Ok(a) => {
            job.address = Some(a);
            a.to_string()
        }
        Err(_) => match &ctx.engine.resolver {
            None => job.target.clone(),
            Some(r) => match guarded(r.resolve(&job.target), opts.watchdog, &mut ctx.stop).await {
                Err(None) => return (Outcome::Stopped, None, None),
                Err(Some(())) => {
                    let f = engine_failure(
                        Status::MachineNotFound,
                        "resolve",
                        Some(WSATRY_AGAIN),
                        "name resolution made no progress".into(),
                    );
                    return (resolve_retry(f, last), None, None);
                }
                Ok(Resolution::Found { addrs, .. }) => match addrs.first() {
                    Some(a) => {
                        job.address = Some(*a);
                        a.to_string()
                    }
                    None => {
                        let f = engine_failure(
                            Status::MachineNotFound,
                            "resolve",
                            Some(WSANO_DATA),
                            format!("{} has no address", job.target),
                        );
                        return (Outcome::Final(Status::MachineNotFound, Some(f)), None, None);
                    }
                },
                Ok(Resolution::NotFound { reason, .. }) => {
                    let (code, msg, transient) = match &reason {
                        NotFoundReason::NxDomain => (
                            WSAHOST_NOT_FOUND,
                            format!("{} does not exist in dns", job.target),
                            false,
                        ),
                        NotFoundReason::NoRecords => (
                            WSANO_DATA,
                            format!("{} has no address record", job.target),
                            false,
                        ),
                        NotFoundReason::TryAgain(d) => (
                            WSATRY_AGAIN,
                            format!("dns lookup of {} failed: {d}", job.target),
                            true,
                        ),
                    };
                    let f = engine_failure(Status::MachineNotFound, "resolve", Some(code), msg);
                    if transient {
                        return (resolve_retry(f, last), None, None);
                    }
                    return (Outcome::Final(Status::MachineNotFound, Some(f)), None, None);
                }
            },
        },
    };
    // Connect, trying the credentials in order (the remembered one first).
    let creds = ctx.engine.creds.clone();
    if creds.is_empty() {
        let f = engine_failure(
            Status::NoCredentials,
            "credentials",
            None,
            "no credentials were provided".into(),
        );
        return (Outcome::Final(Status::NoCredentials, Some(f)), None, None);
    }
    let mut order: Vec<usize> = (0..creds.len()).collect();
    if let Some(r) = job.remembered {
        order.retain(|&i| i != r);
        order.insert(0, r);
    }
    let mut denied: Option<Failure> = None;
    let mut connected: Option<(WmiClient, usize)> = None;
    for i in order {
        let c = &creds[i];
        // Boxed: the connect future is large, and tasks run on 2 MiB stacks.
        let conn = Box::pin(WmiClient::connect(
            &host,
            c.creds.clone(),
            opts.client.clone(),
        ));
        match guarded(conn, opts.watchdog, &mut ctx.stop).await {
            Err(None) => return (Outcome::Stopped, None, None),
            Err(Some(())) => {
                let f = watchdog_failure("connecting", opts.watchdog);
                return (Outcome::Retry(f, None), Some(c.account.clone()), None);
            }
            Ok(Ok(client)) => {
                connected = Some((client, i));
                break;
            }
            Ok(Err(e)) => {
                let f = classify(&e, NamespaceRole::of(&opts.client.namespace));
                debug!(target = %job.target, account = %c.account, status = %f.status, error = %e, "connect failed");
                if f.status == Status::AccessDenied {
                    // Keep the most telling refusal: a credential that got past the logon
                    // and was refused by DCOM or WMI says more than a wrong password.
                    let better = denied.as_ref().is_none_or(|d| {
                        d.denied_by == Some(crate::record::DeniedBy::Authentication)
                    });
                    if better {
                        denied = Some(f);
                    }
                    continue;
                }
                let account = Some(c.account.clone());
                if f.retry {
                    return (Outcome::Retry(f, None), account, None);
                }
                return (Outcome::Final(f.status, Some(f)), account, None);
            }
        }
    }
    let Some((mut client, cred_index)) = connected else {
        let f = denied.unwrap_or_else(|| {
            engine_failure(
                Status::AccessDenied,
                "credentials",
                None,
                "no credential worked".into(),
            )
        });
        return (Outcome::Final(Status::AccessDenied, Some(f)), None, None);
    };
    job.remembered = Some(cred_index);
    let account = Some(creds[cred_index].account.clone());
    // Collect every item not collected on an earlier attempt, in this attempt's order.
    let todo: Vec<Item> = job
        .order
        .iter()
        .filter(|i| {
            !job.classes
                .iter()
                .any(|c| c.class == i.name() && c.outcome == ClassOutcome::Collected)
        })
        .cloned()
        .collect();
    let mut last_item_failure: Option<Failure> = None;
    let mut client_ok = true;
    for item in todo {
        let name = item.name();
        if !client_ok {
            // The previous item left the connection unusable: a fresh one for the rest.
            let c = &creds[cred_index];
            match guarded(
                Box::pin(WmiClient::connect(
                    &host,
                    c.creds.clone(),
                    opts.client.clone(),
                )),
                opts.watchdog,
                &mut ctx.stop,
            )
            .await
            {
                Err(None) => return (Outcome::Stopped, account, None),
                Err(Some(())) => {
                    let f = watchdog_failure("reconnecting", opts.watchdog);
                    return (Outcome::Retry(f, Some(name.clone())), account, Some(name));
                }
                Ok(Err(e)) => {
                    let f = classify(&e, NamespaceRole::of(&opts.client.namespace));
                    let failing = Some(name.clone());
                    if f.retry {
                        return (Outcome::Retry(f, failing.clone()), account, failing);
                    }
                    return (Outcome::Final(f.status, Some(f)), account, None);
                }
                Ok(Ok(c)) => {
                    client = c;
                    client_ok = true;
                }
            }
        }
        let role = NamespaceRole::of(item.namespace());
        let result = guarded(
            Box::pin(collect(&mut client, &item)),
            opts.watchdog,
            &mut ctx.stop,
        )
        .await;
        let (outcome, rows, error) = match result {
            Err(None) => return (Outcome::Stopped, account, None),
            Err(Some(())) => {
                let f = watchdog_failure(&name, opts.watchdog);
                client_ok = false;
                if !job.any_success {
                    return (Outcome::Retry(f, Some(name.clone())), account, Some(name));
                }
                (ClassOutcome::TimedOut, 0, Some(f))
            }
            Ok(Ok(data)) => {
                job.any_success = true;
                let rows = data.rows();
                data.store(&mut job.inventory, &item);
                (ClassOutcome::Collected, rows, None)
            }
            Ok(Err(e)) => {
                let f = classify(&e, role);
                if e.is_timeout() && job.any_success {
                    client_ok = false;
                    (ClassOutcome::TimedOut, 0, Some(f))
                } else if f.retry {
                    release(client, server_answered(&e), opts.client.deadlines.call).await;
                    return (Outcome::Retry(f, Some(name.clone())), account, Some(name));
                } else if f.phase == winv_kb::Phase::Connecting {
                    // The login to the item's namespace failed (root\default for
                    // StdRegProv): seed 000 makes that the computer's status.
                    release(client, server_answered(&e), opts.client.deadlines.call).await;
                    return (Outcome::Final(f.status, Some(f)), account, None);
                } else {
                    client_ok = server_answered(&e);
                    (ClassOutcome::Failed, 0, Some(f))
                }
            }
        };
        if let Some(f) = &error {
            last_item_failure = Some(f.clone());
        }
        job.record_class(ClassResult {
            class: name.clone(),
            namespace: item.namespace().to_string(),
            outcome,
            rows,
            attempt: number,
            error,
        });
        let _ = ctx
            .events
            .send(Event::Item {
                target: job.target.clone(),
                item: name,
                outcome,
            })
            .await;
    }
    release(client, client_ok, opts.client.deadlines.call).await;
    let complete = job.order.iter().all(|i| {
        job.classes
            .iter()
            .any(|c| c.class == i.name() && c.outcome == ClassOutcome::Collected)
    });
    if complete {
        return (Outcome::Final(Status::Inventoried, None), account, None);
    }
    if job.any_success {
        return (
            Outcome::Final(Status::InventoriedIncomplete, None),
            account,
            None,
        );
    }
    // Every item failed and nothing was ever collected: try again later; after the
    // last attempt this is "other reasons".
    let mut f = last_item_failure.unwrap_or_else(|| {
        engine_failure(
            Status::OtherReasons,
            "items",
            None,
            "no item was collected".into(),
        )
    });
    f.stage = "items".to_string();
    f.status = Status::OtherReasons;
    f.message = format!("every item failed; last: {}", f.message);
    (Outcome::Retry(f, None), account, None)
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

/// Releases the server's references when the connection still works (bounded by
/// `deadline`); a broken one is only dropped (the server frees them when its pings stop).
async fn release(client: WmiClient, usable: bool, deadline: Duration) {
    if usable {
        let _ = tokio::time::timeout(deadline, client.close()).await;
    }
}

/// A transient DNS failure: retried, "machine not found" only on the final attempt.
fn resolve_retry(f: Failure, last: bool) -> Outcome {
    if last {
        Outcome::Final(Status::MachineNotFound, Some(f))
    } else {
        Outcome::Retry(f, None)
    }
}

/// What one item gave.
enum Collected {
    Instances(Vec<serde_json::Value>),
    Value(Option<String>),
    Software(Vec<SoftwareRow>),
}

impl Collected {
    fn rows(&self) -> usize {
        match self {
            Collected::Instances(v) => v.len(),
            Collected::Value(v) => usize::from(v.is_some()),
            Collected::Software(v) => v.len(),
        }
    }

    fn store(self, inv: &mut Inventory, item: &Item) {
        match (self, item) {
            (
                Collected::Instances(instances),
                Item::Wmi {
                    class, namespace, ..
                },
            ) => {
                inv.classes.retain(|c| c.class != *class);
                inv.classes.push(ClassInstances {
                    class: class.clone(),
                    namespace: namespace.clone(),
                    instances,
                });
            }
            (Collected::Value(v), Item::RegistryValue { name, .. }) => {
                inv.registry_values.retain(|(n, _)| n != name);
                inv.registry_values.push((name.clone(), v));
            }
            (Collected::Software(s), _) => inv.software = s,
            _ => {}
        }
    }
}

async fn collect(client: &mut WmiClient, item: &Item) -> Result<Collected, ClientError> {
    match item {
        Item::Wmi { namespace, wql, .. } => {
            let objs = client.query_objects_in(namespace, wql).await?;
            Ok(Collected::Instances(
                objs.iter()
                    .filter(|o| matches!(o.kind, ObjectKind::Instance(_)))
                    .map(winv_wmio::to_json)
                    .collect(),
            ))
        }
        Item::RegistryValue { key, value, .. } => {
            match client
                .registry()
                .get_string_value(Hive::LocalMachine, key, value)
                .await
            {
                Ok(v) => Ok(Collected::Value(Some(v))),
                Err(e) if is_not_found(&e) => Ok(Collected::Value(None)),
                Err(e) => Err(e),
            }
        }
        Item::Software => {
            let sw = client.registry().installed_software().await?;
            Ok(Collected::Software(
                sw.into_iter()
                    .map(|s| SoftwareRow {
                        name: s.name,
                        version: s.version,
                        publisher: s.publisher,
                        install_date: s.install_date,
                        wow64: s.wow64,
                    })
                    .collect(),
            ))
        }
    }
}
