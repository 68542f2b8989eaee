//! The per-computer policy as a pure state machine, in the manner of quinn-proto: no
//! sockets, no clock reads, no tokio. Fed the outcome of each step (resolution, a connect
//! with one credential, one item) and the current instant, [`Computer`] says what to do
//! next ([`Action`]); at the end of an attempt, [`Computer::settle`] says whether the
//! computer goes back to the queue or is finished, with its record. The scheduler in
//! [`crate::engine`] performs the actions and keeps the queue.
//!
//! Every rule of the MAP inventory engine's retry model (`docs/statuses.md`) lives here:
//!
//! - a retry-class error abandons the attempt at once and requeues the computer, not before
//!   [`Rules::retry_delay`]; at most [`Rules::max_attempts`] ([`MAX_ATTEMPTS`]) attempts;
//!   on a retry the item being collected moves to the end of the list, and items already
//!   collected are not asked for again;
//! - the watchdog ([`WATCHDOG`]) ends a step that makes no progress: `wmi-query-timeout`
//!   (retry class) unless a query on the computer already succeeded, in which case the
//!   item is recorded as timed out and the computer goes on;
//! - when every item fails on every attempt the computer ends as `other-reasons`;
//! - an attempt has a time budget ([`ATTEMPT_BUDGET`]): once it has run that long, the
//!   step in progress ends (the driver stops it at [`Computer::deadline`] and answers
//!   [`StepOutcome::OutOfTime`]), the item that was running and every item not started
//!   are recorded as not collected with `WINV_E_ATTEMPT_BUDGET`, and the computer ends by
//!   the rules above: an incomplete inventory when anything was collected, otherwise a
//!   retry (`other-reasons` after the last attempt), the running item moving to the end;
//! - credentials are tried in order until one gets past the logon, keeping the most telling
//!   refusal (DCOM or WMI over a wrong password); the one that worked is remembered and
//!   tried first on the later attempts; an empty list is `no-credentials`; a credential
//!   the lockout guard retired ([`crate::guard`]) is passed over, and when every one was,
//!   the computer is `access-denied` with nothing sent;
//! - a reply that failed verification ([`SEC_E_MESSAGE_ALTERED`]) ends the attempt with
//!   that failure, not retried: the connection's keys no longer agree, so no later call on
//!   it could verify, and a host (or a path) that alters replies would alter them again;
//! - a stop gives `inventory-not-completed`, keeping whatever was collected;
//! - an optional scenario item whose namespace, class or registry key the host does not
//!   have ([`is_not_present`]) is recorded as [`ClassOutcome::NotPresent`]: no error, no
//!   retry, and it counts as collected; any other failure of an optional item (access
//!   denied at its namespace's login included) is that item's failure, never the
//!   computer's status.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use winv_client::flow::ResolveFailure;

use crate::classify::{
    engine_failure, SEC_E_MESSAGE_ALTERED, WSAHOST_NOT_FOUND, WSANO_DATA, WSATRY_AGAIN,
};
use crate::profile::Item;
use crate::record::{
    AttemptRecord, ClassInstances, ClassOutcome, ClassResult, ComputerResult, DeniedBy, Failure,
    FailureStage, Instance, Inventory, SoftwareRow,
};
use crate::scenario::{is_not_present, NotPresentRule};
use crate::status::Status;
use crate::work::{Carry, Handed};

/// Attempts per computer: MAP's rule of at most 3 retries (`docs/statuses.md`).
pub const MAX_ATTEMPTS: u32 = 4;
/// No progress for this long ends a step: MAP's 5-minute watchdog.
pub const WATCHDOG: Duration = Duration::from_secs(300);
/// The least time a requeued computer waits (ours; MAP retried "later in the run").
pub const RETRY_DELAY: Duration = Duration::from_secs(10);
/// The most one attempt at a computer may take, connection and every item together
/// (ours; MAP had none, so a host that kept answering slowly held its slot for up to
/// items x watchdog). 15 minutes: longer than one query's own time budget
/// (`WmiOptions::max_query_time`, 10 minutes, for the slowest legitimate class) plus the
/// connection's deadlines, so a genuine slow class still finishes; a healthy computer's
/// whole inventory takes seconds.
pub const ATTEMPT_BUDGET: Duration = Duration::from_secs(900);

/// The numbers the machine follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// Attempts per computer ([`MAX_ATTEMPTS`]).
    pub max_attempts: u32,
    /// The least wait before a retry ([`RETRY_DELAY`]).
    pub retry_delay: Duration,
    /// The watchdog's period ([`WATCHDOG`]): the driver applies it to every step; the
    /// machine names it in its failures.
    pub watchdog: Duration,
    /// The most one attempt may take ([`ATTEMPT_BUDGET`]): the driver ends the step in
    /// progress at [`Computer::deadline`]; the machine decides what follows.
    pub attempt_budget: Duration,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            max_attempts: MAX_ATTEMPTS,
            retry_delay: RETRY_DELAY,
            watchdog: WATCHDOG,
            attempt_budget: ATTEMPT_BUDGET,
        }
    }
}

/// An instant, both monotonic (for durations and deadlines) and wall-clock (for records).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// Monotonic.
    pub mono: Instant,
    /// Milliseconds since the Unix epoch.
    pub wall_ms: i64,
}

/// What to do next for the computer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Resolve the target's name; answer with [`Computer::on_resolved`].
    Resolve,
    /// Connect with credential `credential` (an index of the list); answer with
    /// [`Computer::on_connected`].
    Connect {
        /// The index.
        credential: usize,
    },
    /// The last item left the connection unusable: drop it and connect again with the same
    /// credential; answer with [`Computer::on_connected`].
    Reconnect {
        /// The index.
        credential: usize,
    },
    /// Collect `item`; answer with [`Computer::on_item`].
    Collect {
        /// The item.
        item: Item,
    },
    /// The attempt is over: release the server's references when `release` (the
    /// connection is still in step), else just drop the connection; then hand `end` to
    /// [`Computer::settle`].
    End {
        /// Release the references first.
        release: bool,
        /// How the attempt ended.
        end: AttemptEnd,
    },
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptEnd {
    /// The computer is done with this status.
    Final(Status, Option<Failure>),
    /// A retry-class error: requeue (the failing item, if any, moves to the end).
    Retry(Failure),
    /// The run was stopped during the attempt.
    Stopped,
}

/// The outcome of one step, as the driver saw it.
#[derive(Clone, Debug, PartialEq)]
pub enum StepOutcome<T> {
    /// The step finished.
    Done(T),
    /// The watchdog ended it (no progress for its period).
    Watchdog,
    /// The driver ended it at the attempt's deadline ([`Computer::deadline`]): the
    /// attempt's time budget ran out.
    OutOfTime,
}

/// How a name resolution went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// The addresses.
    Found(Vec<IpAddr>),
    /// Not found, or no answer.
    NotFound(ResolveFailure),
}

/// How a connect went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Connected {
    /// Logged in.
    Ok,
    /// Failed, classified.
    Failed(Failure),
    /// Not tried: the lockout guard retired the credential for this run
    /// ([`crate::guard`]).
    Retired,
}

/// What one item gave.
#[derive(Clone, Debug, PartialEq)]
pub enum Collected {
    /// Instances of a class, as JSON.
    Instances(Vec<Instance>),
    /// Instances of a class from the namespace a pattern (`...\ComputerManagement*`)
    /// chose.
    InstancesIn {
        /// The namespace actually queried.
        namespace: String,
        /// The instances.
        instances: Vec<Instance>,
    },
    /// The rows of a registry table (one JSON object per value of its list key).
    Table(Vec<Instance>),
    /// A registry value (none when it does not exist).
    Value(Option<String>),
    /// Installed programs.
    Software(Vec<SoftwareRow>),
}

impl Collected {
    /// Rows it holds.
    pub fn rows(&self) -> usize {
        match self {
            Collected::Instances(v) | Collected::Table(v) => v.len(),
            Collected::InstancesIn { instances, .. } => instances.len(),
            Collected::Value(v) => usize::from(v.is_some()),
            Collected::Software(v) => v.len(),
        }
    }

    /// The namespace the data came from, when a pattern chose it.
    fn namespace(&self) -> Option<&str> {
        match self {
            Collected::InstancesIn { namespace, .. } => Some(namespace),
            _ => None,
        }
    }

    fn store(self, inv: &mut Inventory, item: &Item) {
        let mut put = |class: String, namespace: String, instances| {
            inv.classes.retain(|c| c.class != class);
            inv.classes.push(ClassInstances {
                class,
                namespace,
                instances,
            });
        };
        match (self, item) {
            (
                Collected::Instances(instances),
                Item::Wmi {
                    class, namespace, ..
                },
            ) => put(class.clone(), namespace.clone(), instances),
            (
                Collected::InstancesIn {
                    namespace,
                    instances,
                },
                Item::Wmi { class, .. },
            ) => {
                put(class.clone(), namespace, instances);
            }
            (Collected::Table(rows), Item::RegistryTable(_)) => {
                put(item.name(), item.namespace().to_string(), rows);
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

/// How an item went.
#[derive(Clone, Debug, PartialEq)]
pub enum ItemOutcome {
    /// Collected.
    Collected(Collected),
    /// The item's namespace is a pattern (`root\A\B*`) and its parent has no child
    /// namespace that matches it.
    NoMatchingNamespace {
        /// The pattern's parent namespace.
        parent: String,
    },
    /// Failed, classified.
    Failed {
        /// The classified failure.
        failure: Failure,
        /// A deadline passed (the call, the enumeration).
        timeout: bool,
        /// The server answered (a fault, an HRESULT, a `ReturnValue`): the connection is
        /// still in step.
        answered: bool,
    },
}

/// After [`Computer::settle`].
#[derive(Clone, Debug, PartialEq)]
pub enum Settled {
    /// Back in the queue, not before `not_before`.
    Requeue {
        /// Earliest start of the next attempt.
        not_before: Instant,
        /// The attempt that failed (1-based).
        attempt: u32,
        /// Its retry-class status.
        status: Status,
    },
    /// Done: the computer's one final result.
    Finished(Box<ComputerResult>),
}

#[derive(Clone, Debug, PartialEq)]
enum Phase {
    Idle,
    Resolving,
    Connecting,
    Reconnecting(Item),
    Collecting(Item),
}

/// The current attempt.
#[derive(Clone, Debug)]
struct Attempt {
    number: u32,
    started: Now,
    order: Vec<String>,
    creds: Vec<usize>,
    next_cred: usize,
    denied: Option<Failure>,
    account: Option<String>,
    todo: VecDeque<Item>,
    client_ok: bool,
    last_item_failure: Option<Failure>,
    failing: Option<String>,
}

/// One computer across its attempts: see the module documentation.
#[derive(Clone, Debug)]
pub struct Computer {
    target: String,
    rules: Rules,
    accounts: Arc<Vec<String>>,
    resolve: bool,
    order: Vec<Item>,
    attempts: Vec<AttemptRecord>,
    classes: Vec<ClassResult>,
    inventory: Inventory,
    remembered: Option<usize>,
    any_success: bool,
    address: Option<IpAddr>,
    not_before: Instant,
    phase: Phase,
    attempt: Option<Attempt>,
    item_event: Option<(String, ClassOutcome)>,
}

impl Computer {
    /// `target` (a name or an address) with the profile's `items`, the credential list's
    /// `accounts` (names only) and `rules`. `resolve`: whether the engine resolves names
    /// itself ([`Action::Resolve`]) or leaves them to the connection flow.
    pub fn new(
        target: String,
        items: Vec<Item>,
        accounts: Arc<Vec<String>>,
        rules: Rules,
        resolve: bool,
        now: Instant,
    ) -> Computer {
        Computer {
            target,
            rules: Rules {
                max_attempts: rules.max_attempts.max(1),
                ..rules
            },
            accounts,
            resolve,
            order: items,
            attempts: Vec::new(),
            classes: Vec::new(),
            inventory: Inventory::default(),
            remembered: None,
            any_success: false,
            address: None,
            not_before: now,
            phase: Phase::Idle,
            attempt: None,
            item_event: None,
        }
    }

    /// A computer handed by a shared queue ([`crate::work`]): `new`'s arguments with the
    /// attempts another scanner (or this one) made before, the next attempt's item order
    /// (names; items it does not name keep the profile's order after those it does) and
    /// what the last requeue carried. A carried account this scanner does not hold is
    /// not remembered: the list is tried in order.
    pub fn handed(
        handed: Handed,
        items: Vec<Item>,
        accounts: Arc<Vec<String>>,
        rules: Rules,
        resolve: bool,
        now: Instant,
    ) -> Computer {
        let mut c = Computer::new(handed.target, items, accounts, rules, resolve, now);
        c.attempts = handed.previous;
        if let Some(order) = handed.class_order {
            let mut rest = std::mem::take(&mut c.order);
            let mut ordered = Vec::with_capacity(rest.len());
            for name in &order {
                if let Some(pos) = rest.iter().position(|i| &i.name() == name) {
                    ordered.push(rest.remove(pos));
                }
            }
            ordered.append(&mut rest);
            c.order = ordered;
        }
        if let Some(carry) = handed.carry {
            c.remembered = carry
                .credential
                .as_ref()
                .and_then(|a| c.accounts.iter().position(|x| x == a));
            c.address = carry.address;
            c.any_success = carry.any_success;
            c.classes = carry.classes;
            c.inventory = carry.inventory;
        }
        c
    }

    /// What the next attempt starts from, for a shared queue (after a requeue).
    pub fn carry(&self) -> Carry {
        Carry {
            credential: self.remembered.and_then(|i| self.accounts.get(i)).cloned(),
            address: self.address,
            any_success: self.any_success,
            classes: self.classes.clone(),
            inventory: self.inventory.clone(),
        }
    }

    /// The record of the last attempt, once one ended.
    pub fn last_attempt(&self) -> Option<&AttemptRecord> {
        self.attempts.last()
    }

    /// The index of the credential that got past the logon, once one has.
    pub fn remembered(&self) -> Option<usize> {
        self.remembered
    }

    /// The target as given.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The address connected to or resolved, when known.
    pub fn address(&self) -> Option<IpAddr> {
        self.address
    }

    /// When the next attempt may start.
    pub fn not_before(&self) -> Instant {
        self.not_before
    }

    /// When the current attempt's time budget runs out ([`Rules::attempt_budget`] from its
    /// start); `None` between attempts. The driver ends the step in progress then and
    /// answers [`StepOutcome::OutOfTime`].
    pub fn deadline(&self) -> Option<Instant> {
        let a = self.attempt.as_ref()?;
        // A budget too large for the clock is no bound.
        a.started.mono.checked_add(self.rules.attempt_budget)
    }

    fn past_deadline(&self, now: Now) -> bool {
        self.deadline().is_some_and(|d| now.mono >= d)
    }

    /// Attempts made so far.
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.attempts.len()).unwrap_or(u32::MAX)
    }

    /// The item order of the next (or current) attempt.
    pub fn order(&self) -> &[Item] {
        &self.order
    }

    /// The items the current attempt asks for after the one being collected, in order,
    /// while each goes on (the engine may run some of them at once with it,
    /// [`crate::ahead`]); none outside an attempt.
    pub fn upcoming(&self) -> impl Iterator<Item = &Item> {
        self.attempt.iter().flat_map(|a| a.todo.iter())
    }

    /// The item just finished by [`Computer::on_item`] and how it went (for the live
    /// display), once.
    pub fn take_item_event(&mut self) -> Option<(String, ClassOutcome)> {
        self.item_event.take()
    }

    /// Starts an attempt.
    pub fn begin(&mut self, now: Now) -> Action {
        let number = self.attempts().saturating_add(1);
        let mut creds: Vec<usize> = (0..self.accounts.len()).collect();
        if let Some(r) = self.remembered {
            creds.retain(|&i| i != r);
            creds.insert(0, r);
        }
        self.attempt = Some(Attempt {
            number,
            started: now,
            order: self.order.iter().map(Item::name).collect(),
            creds,
            next_cred: 0,
            denied: None,
            account: None,
            todo: VecDeque::new(),
            client_ok: true,
            last_item_failure: None,
            failing: None,
        });
        match self.target.parse::<IpAddr>() {
            Ok(a) => {
                self.address = Some(a);
                self.after_resolve(now)
            }
            Err(_) if self.resolve => {
                self.phase = Phase::Resolving;
                Action::Resolve
            }
            Err(_) => self.after_resolve(now),
        }
    }

    fn is_last(&self) -> bool {
        self.attempt
            .as_ref()
            .is_some_and(|a| a.number >= self.rules.max_attempts)
    }

    fn end(&mut self, end: AttemptEnd, release: bool, now: Now) -> Action {
        self.phase = Phase::Idle;
        if let Some(a) = self.attempt.take() {
            let (status, failure) = match &end {
                AttemptEnd::Final(s, f) => (*s, f.clone()),
                AttemptEnd::Retry(f) => (f.status, Some(f.clone())),
                AttemptEnd::Stopped => (Status::InventoryNotCompleted, None),
            };
            let failing = match &end {
                AttemptEnd::Retry(_) => a.failing,
                _ => None,
            };
            self.attempts.push(AttemptRecord {
                number: a.number,
                started_ms: a.started.wall_ms,
                duration_ms: u64::try_from(
                    now.mono
                        .saturating_duration_since(a.started.mono)
                        .as_millis(),
                )
                .unwrap_or(u64::MAX),
                credential: a.account,
                class_order: a.order,
                outcome: status,
                failing_class: failing.clone(),
                failure,
            });
            // The failing item of a retry moves to the end of the next attempt's list.
            if let Some(name) = failing {
                if let Some(pos) = self.order.iter().position(|i| i.name() == name) {
                    let item = self.order.remove(pos);
                    self.order.push(item);
                }
            }
        }
        Action::End { release, end }
    }

    fn resolve_retry(&mut self, f: Failure, now: Now) -> Action {
        // A transient DNS failure: retried; "machine not found" only on the last attempt.
        if self.is_last() {
            self.end(
                AttemptEnd::Final(Status::MachineNotFound, Some(f)),
                false,
                now,
            )
        } else {
            self.end(AttemptEnd::Retry(f), false, now)
        }
    }

    /// The resolution finished (or the watchdog ended it).
    pub fn on_resolved(&mut self, outcome: StepOutcome<Resolved>, now: Now) -> Action {
        if self.phase != Phase::Resolving {
            return self.out_of_order(now);
        }
        let t = self.target.clone();
        let mnf = |code, msg| {
            engine_failure(
                Status::MachineNotFound,
                FailureStage::Resolve,
                Some(code),
                msg,
            )
        };
        match outcome {
            StepOutcome::OutOfTime => {
                if let Some(a) = self.attempt.as_mut() {
                    a.client_ok = false;
                }
                self.out_of_time(None, now)
            }
            StepOutcome::Watchdog => {
                let f = mnf(WSATRY_AGAIN, "name resolution made no progress".into());
                self.resolve_retry(f, now)
            }
            StepOutcome::Done(Resolved::Found(addrs)) => match addrs.first() {
                Some(a) => {
                    self.address = Some(*a);
                    self.after_resolve(now)
                }
                None => {
                    let f = mnf(WSANO_DATA, format!("{t} has no address"));
                    self.end(
                        AttemptEnd::Final(Status::MachineNotFound, Some(f)),
                        false,
                        now,
                    )
                }
            },
            StepOutcome::Done(Resolved::NotFound(reason)) => match reason {
                ResolveFailure::NxDomain => {
                    let f = mnf(WSAHOST_NOT_FOUND, format!("{t} does not exist in dns"));
                    self.end(
                        AttemptEnd::Final(Status::MachineNotFound, Some(f)),
                        false,
                        now,
                    )
                }
                ResolveFailure::NoRecords => {
                    let f = mnf(WSANO_DATA, format!("{t} has no address record"));
                    self.end(
                        AttemptEnd::Final(Status::MachineNotFound, Some(f)),
                        false,
                        now,
                    )
                }
                ResolveFailure::TryAgain(d) => {
                    let f = mnf(WSATRY_AGAIN, format!("dns lookup of {t} failed: {d}"));
                    self.resolve_retry(f, now)
                }
            },
        }
    }

    fn after_resolve(&mut self, now: Now) -> Action {
        let first = self.attempt.as_ref().and_then(|a| a.creds.first().copied());
        match first {
            None => {
                let f = engine_failure(
                    Status::NoCredentials,
                    FailureStage::Credentials,
                    None,
                    "no credentials were provided".into(),
                );
                self.end(
                    AttemptEnd::Final(Status::NoCredentials, Some(f)),
                    false,
                    now,
                )
            }
            Some(credential) => {
                self.phase = Phase::Connecting;
                Action::Connect { credential }
            }
        }
    }

    /// The connect (or reconnect) finished (or the watchdog ended it).
    pub fn on_connected(&mut self, outcome: StepOutcome<Connected>, now: Now) -> Action {
        match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Connecting => self.connected(outcome, now),
            Phase::Reconnecting(item) => self.reconnected(item, outcome, now),
            other => {
                self.phase = other;
                self.out_of_order(now)
            }
        }
    }

    fn connected(&mut self, outcome: StepOutcome<Connected>, now: Now) -> Action {
        let Some(a) = self.attempt.as_mut() else {
            return self.out_of_order(now);
        };
        let Some(cred) = a.creds.get(a.next_cred).copied() else {
            return self.out_of_order(now);
        };
        let account = self.accounts.get(cred).cloned();
        match outcome {
            StepOutcome::OutOfTime => {
                // Cut before the login: there is nothing to release.
                a.account = account;
                a.client_ok = false;
                self.out_of_time(None, now)
            }
            StepOutcome::Watchdog => {
                a.account = account;
                let f = watchdog_failure("connecting", self.rules.watchdog);
                self.end(AttemptEnd::Retry(f), false, now)
            }
            StepOutcome::Done(Connected::Ok) => {
                a.account = account;
                self.remembered = Some(cred);
                let collected = |i: &Item| {
                    self.classes
                        .iter()
                        .any(|c| c.class == i.name() && c.outcome.is_done())
                };
                a.todo = self
                    .order
                    .iter()
                    .filter(|i| !collected(i))
                    .cloned()
                    .collect();
                self.next_item(now)
            }
            StepOutcome::Done(Connected::Retired) => {
                // Any refusal a host gave says more than a credential not tried.
                if a.denied.is_none() {
                    let name = account.unwrap_or_default();
                    a.denied = Some(engine_failure(
                        Status::AccessDenied,
                        FailureStage::Credentials,
                        None,
                        format!("not tried: the lockout guard retired {name} for this run"),
                    ));
                }
                self.next_credential(now)
            }
            StepOutcome::Done(Connected::Failed(f)) if f.status == Status::AccessDenied => {
                // Keep the most telling refusal: a credential that got past the logon and
                // was refused by DCOM or WMI says more than a wrong password, and either
                // says more than a credential the guard kept back.
                let better = a
                    .denied
                    .as_ref()
                    .is_none_or(|d| matches!(d.denied_by, None | Some(DeniedBy::Authentication)));
                if better {
                    a.denied = Some(f);
                }
                self.next_credential(now)
            }
            StepOutcome::Done(Connected::Failed(f)) => {
                a.account = account;
                if f.retry {
                    self.end(AttemptEnd::Retry(f), false, now)
                } else {
                    self.end(AttemptEnd::Final(f.status, Some(f)), false, now)
                }
            }
        }
    }

    /// The credential refused (or passed over): the next one, or the most telling refusal.
    fn next_credential(&mut self, now: Now) -> Action {
        let Some(a) = self.attempt.as_mut() else {
            return self.out_of_order(now);
        };
        a.next_cred += 1;
        match a.creds.get(a.next_cred).copied() {
            Some(credential) => {
                self.phase = Phase::Connecting;
                Action::Connect { credential }
            }
            None => {
                let f = a.denied.take().unwrap_or_else(|| {
                    engine_failure(
                        Status::AccessDenied,
                        FailureStage::Credentials,
                        None,
                        "no credential worked".into(),
                    )
                });
                self.end(AttemptEnd::Final(Status::AccessDenied, Some(f)), false, now)
            }
        }
    }

    fn reconnected(&mut self, item: Item, outcome: StepOutcome<Connected>, now: Now) -> Action {
        let name = item.name();
        match outcome {
            StepOutcome::OutOfTime => {
                // The item had not started: it is one of those not started.
                if let Some(a) = self.attempt.as_mut() {
                    a.todo.push_front(item);
                    a.client_ok = false;
                }
                self.out_of_time(None, now)
            }
            StepOutcome::Watchdog => {
                self.set_failing(Some(name));
                let f = watchdog_failure("reconnecting", self.rules.watchdog);
                self.end(AttemptEnd::Retry(f), false, now)
            }
            StepOutcome::Done(Connected::Failed(f)) if f.retry => {
                self.set_failing(Some(name));
                self.end(AttemptEnd::Retry(f), false, now)
            }
            StepOutcome::Done(Connected::Failed(f)) => {
                self.end(AttemptEnd::Final(f.status, Some(f)), false, now)
            }
            StepOutcome::Done(Connected::Retired) => {
                let f = engine_failure(
                    Status::AccessDenied,
                    FailureStage::Credentials,
                    None,
                    "not reconnected: the lockout guard retired the account for this run".into(),
                );
                self.end(AttemptEnd::Final(Status::AccessDenied, Some(f)), false, now)
            }
            StepOutcome::Done(Connected::Ok) => {
                if let Some(a) = self.attempt.as_mut() {
                    a.client_ok = true;
                }
                self.phase = Phase::Collecting(item.clone());
                Action::Collect { item }
            }
        }
    }

    fn set_failing(&mut self, name: Option<String>) {
        if let Some(a) = self.attempt.as_mut() {
            a.failing = name;
        }
    }

    fn next_item(&mut self, now: Now) -> Action {
        let Some(a) = self.attempt.as_mut() else {
            return self.out_of_order(now);
        };
        if a.todo.is_empty() {
            return self.items_done(now);
        }
        if self.past_deadline(now) {
            // The budget ran out between two items (the last one finished just in time).
            return self.out_of_time(None, now);
        }
        let Some(a) = self.attempt.as_mut() else {
            return self.out_of_order(now);
        };
        let Some(item) = a.todo.pop_front() else {
            return self.items_done(now);
        };
        if a.client_ok {
            self.phase = Phase::Collecting(item.clone());
            Action::Collect { item }
        } else {
            let credential = self.remembered.unwrap_or(0);
            self.phase = Phase::Reconnecting(item);
            Action::Reconnect { credential }
        }
    }

    /// The item finished (or the watchdog ended it).
    pub fn on_item(&mut self, outcome: StepOutcome<ItemOutcome>, now: Now) -> Action {
        let item = match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Collecting(item) => item,
            other => {
                self.phase = other;
                return self.out_of_order(now);
            }
        };
        let name = item.name();
        let number = self.attempt.as_ref().map_or(0, |a| a.number);
        let mut namespace = item.namespace().to_string();
        let (outcome, rows, error) = match outcome {
            StepOutcome::OutOfTime => return self.out_of_time(Some(item), now),
            StepOutcome::Watchdog => {
                let f = watchdog_failure(&name, self.rules.watchdog);
                if let Some(a) = self.attempt.as_mut() {
                    a.client_ok = false;
                }
                if !self.any_success {
                    // Nothing collected yet: the computer is not answering queries.
                    self.set_failing(Some(name));
                    return self.end(AttemptEnd::Retry(f), false, now);
                }
                (ClassOutcome::TimedOut, 0, Some(f))
            }
            StepOutcome::Done(ItemOutcome::Collected(data)) => {
                self.any_success = true;
                let rows = data.rows();
                if let Some(ns) = data.namespace() {
                    namespace = ns.to_string();
                }
                data.store(&mut self.inventory, &item);
                (ClassOutcome::Collected, rows, None)
            }
            StepOutcome::Done(ItemOutcome::NoMatchingNamespace { parent }) => {
                // The parent answered the listing: the host answers queries.
                self.any_success = true;
                if item.optional() {
                    (ClassOutcome::NotPresent, 0, None)
                } else {
                    let f = engine_failure(
                        Status::OtherReasons,
                        FailureStage::Items,
                        None,
                        format!("no namespace under {parent} matches {}", item.namespace()),
                    );
                    (ClassOutcome::Failed, 0, Some(f))
                }
            }
            StepOutcome::Done(ItemOutcome::Failed { failure: f, .. }) if not_present(&item, &f) => {
                // The host answered that it does not have it.
                self.any_success = true;
                (ClassOutcome::NotPresent, 0, None)
            }
            StepOutcome::Done(ItemOutcome::Failed {
                failure: f,
                timeout,
                answered,
            }) => {
                if timeout && self.any_success {
                    if let Some(a) = self.attempt.as_mut() {
                        a.client_ok = false;
                    }
                    (ClassOutcome::TimedOut, 0, Some(f))
                } else if f.retry {
                    self.set_failing(Some(name));
                    return self.end(AttemptEnd::Retry(f), answered, now);
                } else if f.code == Some(SEC_E_MESSAGE_ALTERED) {
                    return self.end(AttemptEnd::Final(f.status, Some(f)), answered, now);
                } else if f.phase == winv_kb::Phase::Connecting && !item.optional() {
                    // The login to the item's namespace failed (root\default for
                    // StdRegProv): that is the computer's status. For an optional
                    // scenario item (access denied on root\virtualization\v2 only) it is
                    // the item's failure.
                    return self.end(AttemptEnd::Final(f.status, Some(f)), answered, now);
                } else {
                    if let Some(a) = self.attempt.as_mut() {
                        a.client_ok = answered;
                    }
                    (ClassOutcome::Failed, 0, Some(f))
                }
            }
        };
        if let (Some(f), Some(a)) = (&error, self.attempt.as_mut()) {
            a.last_item_failure = Some(f.clone());
        }
        let r = ClassResult {
            class: name.clone(),
            namespace,
            outcome,
            rows,
            attempt: number,
            error,
        };
        match self.classes.iter_mut().find(|c| c.class == r.class) {
            Some(c) => *c = r,
            None => self.classes.push(r),
        }
        self.item_event = Some((name, outcome));
        self.next_item(now)
    }

    /// The attempt's end when every item is done (inventoried) or anything was ever
    /// collected (an incomplete inventory); `None`: nothing was, the caller decides.
    fn final_if_collected(&mut self, release: bool, now: Now) -> Option<Action> {
        let complete = self.order.iter().all(|i| {
            self.classes
                .iter()
                .any(|c| c.class == i.name() && c.outcome.is_done())
        });
        if complete {
            return Some(self.end(AttemptEnd::Final(Status::Inventoried, None), release, now));
        }
        if self.any_success {
            let end = AttemptEnd::Final(Status::InventoriedIncomplete, None);
            return Some(self.end(end, release, now));
        }
        None
    }

    fn items_done(&mut self, now: Now) -> Action {
        let release = self.attempt.as_ref().is_some_and(|a| a.client_ok);
        if let Some(done) = self.final_if_collected(release, now) {
            return done;
        }
        // Every item failed and nothing was ever collected: try again later; after the
        // last attempt this is "other reasons".
        let last = self
            .attempt
            .as_mut()
            .and_then(|a| a.last_item_failure.take());
        let mut f = last.unwrap_or_else(|| {
            engine_failure(
                Status::OtherReasons,
                FailureStage::Items,
                None,
                "no item was collected".into(),
            )
        });
        f.stage = FailureStage::Items;
        f.status = Status::OtherReasons;
        f.message = format!("every item failed; last: {}", f.message);
        self.end(AttemptEnd::Retry(f), release, now)
    }

    /// The attempt's time budget ran out: `running` (the item cut short, if any) and every
    /// item without a result yet are recorded as not collected for that reason, keeping
    /// everything collected; then the computer ends as [`Computer::items_done`] would
    /// decide: an incomplete inventory when anything was collected, else a retry (the
    /// running item moving to the end; `other-reasons` after the last attempt).
    fn out_of_time(&mut self, running: Option<Item>, now: Now) -> Action {
        let number = self.attempt.as_ref().map_or(0, |a| a.number);
        let secs = self.rules.attempt_budget.as_secs_f64();
        let mut last = None;
        if let Some(item) = &running {
            let name = item.name();
            let f = budget_failure(format!(
                "{name} was still running when the attempt's {secs} s time budget ran out"
            ));
            if let Some(a) = self.attempt.as_mut() {
                // Cut in the middle of a call: the connection is out of step.
                a.client_ok = false;
                a.failing = Some(name.clone());
            }
            self.put_result(item, ClassOutcome::Failed, number, Some(f.clone()));
            self.item_event = Some((name, ClassOutcome::Failed));
            last = Some(f);
        }
        let not_started: Vec<Item> = self
            .order
            .iter()
            .filter(|i| !self.classes.iter().any(|c| c.class == i.name()))
            .cloned()
            .collect();
        for item in &not_started {
            let f = budget_failure(format!(
                "not started: the attempt's {secs} s time budget ran out"
            ));
            self.put_result(item, ClassOutcome::Failed, number, Some(f.clone()));
            last.get_or_insert(f);
        }
        if let Some(a) = self.attempt.as_mut() {
            a.todo.clear();
        }
        let release = self.attempt.as_ref().is_some_and(|a| a.client_ok);
        if let Some(done) = self.final_if_collected(release, now) {
            return done;
        }
        let f = last.unwrap_or_else(|| {
            budget_failure(format!("the attempt's {secs} s time budget ran out"))
        });
        self.end(AttemptEnd::Retry(f), release, now)
    }

    fn put_result(
        &mut self,
        item: &Item,
        outcome: ClassOutcome,
        attempt: u32,
        error: Option<Failure>,
    ) {
        let r = ClassResult {
            class: item.name(),
            namespace: item.namespace().to_string(),
            outcome,
            rows: 0,
            attempt,
            error,
        };
        match self.classes.iter_mut().find(|c| c.class == r.class) {
            Some(c) => *c = r,
            None => self.classes.push(r),
        }
    }

    /// The run was stopped during the attempt: it ends at once, keeping what was collected.
    pub fn on_stop(&mut self, now: Now) -> Action {
        self.end(AttemptEnd::Stopped, false, now)
    }

    fn out_of_order(&mut self, now: Now) -> Action {
        let f = engine_failure(
            Status::OtherReasons,
            FailureStage::Run,
            None,
            "the engine fed a step out of order".into(),
        );
        self.end(AttemptEnd::Final(Status::OtherReasons, Some(f)), false, now)
    }

    /// Decides what follows an attempt: back to the queue, or finished. `stopped`: the run
    /// is being stopped (nothing is requeued).
    pub fn settle(&mut self, end: AttemptEnd, stopped: bool, now: Now) -> Settled {
        let attempts = self.attempts();
        match end {
            AttemptEnd::Final(status, failure) => self.finished(status, failure, now),
            AttemptEnd::Stopped => self.not_completed(now),
            AttemptEnd::Retry(_) if stopped => self.not_completed(now),
            AttemptEnd::Retry(f) if attempts < self.rules.max_attempts => {
                self.not_before = now.mono + self.rules.retry_delay;
                Settled::Requeue {
                    not_before: self.not_before,
                    attempt: attempts,
                    status: f.status,
                }
            }
            AttemptEnd::Retry(mut f) => {
                // Only per-item errors, on every attempt, and nothing ever collected: "other
                // reasons". A query that succeeded earlier makes it an incomplete inventory.
                // (Nothing was ever collected: `items_done` ends a computer with a
                // collected item as incomplete at once.)
                if matches!(f.stage, FailureStage::Items | FailureStage::Budget) {
                    return self.finished(Status::OtherReasons, Some(f), now);
                }
                f.retry = true;
                self.finished(f.status, Some(f), now)
            }
        }
    }

    /// The run was stopped before this computer's next attempt (or before its first).
    pub fn not_completed(&mut self, now: Now) -> Settled {
        let f = engine_failure(
            Status::InventoryNotCompleted,
            FailureStage::Run,
            None,
            "the run was stopped before the computer was finished".into(),
        );
        self.finished(Status::InventoryNotCompleted, Some(f), now)
    }

    fn finished(&mut self, status: Status, failure: Option<Failure>, now: Now) -> Settled {
        Settled::Finished(Box::new(ComputerResult {
            target: self.target.clone(),
            address: self.address,
            status,
            failure,
            attempts: std::mem::take(&mut self.attempts),
            credential: self.remembered.and_then(|i| self.accounts.get(i)).cloned(),
            mechanism: None,
            classes: std::mem::take(&mut self.classes),
            inventory: std::mem::take(&mut self.inventory),
            finished_ms: now.wall_ms,
        }))
    }
}

/// Whether an optional item's failure `f` says the host does not have the item's
/// namespace, class or registry key ([`is_not_present`], by the step that failed).
fn not_present(item: &Item, f: &Failure) -> bool {
    use winv_client::Stage;
    let rule = match f.stage {
        FailureStage::Client(Stage::Login) => NotPresentRule::Namespace,
        FailureStage::Client(Stage::Query | Stage::Enumerate) => NotPresentRule::Query,
        FailureStage::Client(Stage::Registry) => NotPresentRule::Registry,
        _ => return false,
    };
    is_not_present(item.optional(), rule, f.code)
}

/// The attempt's time budget ran out ([`Rules::attempt_budget`]): a per-item error with
/// winventory's own code.
pub fn budget_failure(message: String) -> Failure {
    let mut f = engine_failure(
        Status::OtherReasons,
        FailureStage::Budget,
        Some(winv_kb::WINV_E_ATTEMPT_BUDGET),
        message,
    );
    f.phase = winv_kb::Phase::Operation;
    f.retry = false;
    f
}

/// The watchdog ended `what` without progress.
pub fn watchdog_failure(what: &str, period: Duration) -> Failure {
    engine_failure(
        Status::WmiQueryTimeout,
        FailureStage::Watchdog,
        None,
        format!("{what} made no progress for {} s", period.as_secs_f64()),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
