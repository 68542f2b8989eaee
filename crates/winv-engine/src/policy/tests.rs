//! Every rule of the retry model on the pure machine: no network, no clock.

use super::*;
use crate::classify::{classify, NamespaceRole};
use winv_client::{Cause, ClientError, Stage};

fn item(class: &str) -> Item {
    Item::Wmi {
        class: class.into(),
        namespace: r"root\cimv2".into(),
        wql: format!("SELECT * FROM {class}"),
        optional: false,
        few_rows: false,
    }
}

fn items() -> Vec<Item> {
    vec![item("A"), item("B"), item("C")]
}

fn accounts(names: &[&str]) -> Arc<Vec<String>> {
    Arc::new(names.iter().map(|s| (*s).to_string()).collect())
}

struct Clock {
    base: Instant,
    ms: u64,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            base: Instant::now(),
            ms: 0,
        }
    }

    /// Advances by `ms` and gives the instant.
    fn tick(&mut self, ms: u64) -> Now {
        self.ms += ms;
        Now {
            mono: self.base + Duration::from_millis(self.ms),
            wall_ms: 1_700_000_000_000 + i64::try_from(self.ms).unwrap(),
        }
    }
}

fn computer(target: &str, creds: &[&str], rules: Rules, clock: &Clock) -> Computer {
    Computer::new(
        target.into(),
        items(),
        accounts(creds),
        rules,
        true,
        clock.base,
    )
}

fn at(stage: Stage, cause: Cause) -> Failure {
    classify(&ClientError::new(stage, cause), NamespaceRole::Cimv2)
}

/// `RPC_S_CALL_FAILED` during a query: retry class.
fn call_failed() -> Failure {
    at(Stage::Query, Cause::Fault { status: 1726 })
}

/// `WBEM_E_INVALID_CLASS`: a per-class error, not retried.
fn invalid_class() -> Failure {
    at(Stage::Query, Cause::Hresult(0x8004_1010))
}

fn wrong_password() -> Failure {
    at(Stage::Bind135, Cause::AuthenticationFailed("refused".into()))
}

fn dcom_denied() -> Failure {
    at(Stage::Activation, Cause::Hresult(0x8007_0005))
}

fn collected() -> StepOutcome<ItemOutcome> {
    StepOutcome::Done(ItemOutcome::Collected(Collected::Instances(vec![
        serde_json::json!({"__CLASS": "X"}).into(),
    ])))
}

fn failed_item(f: Failure) -> StepOutcome<ItemOutcome> {
    StepOutcome::Done(ItemOutcome::Failed {
        failure: f,
        timeout: false,
        answered: true,
    })
}

fn connected() -> StepOutcome<Connected> {
    StepOutcome::Done(Connected::Ok)
}

fn refused(f: Failure) -> StepOutcome<Connected> {
    StepOutcome::Done(Connected::Failed(f))
}

fn collect_name(a: &Action) -> String {
    match a {
        Action::Collect { item } => item.name(),
        other => panic!("expected a collect, got {other:?}"),
    }
}

fn end_of(a: Action) -> AttemptEnd {
    match a {
        Action::End { end, .. } => end,
        other => panic!("expected the end of the attempt, got {other:?}"),
    }
}

fn finished(s: Settled) -> ComputerResult {
    match s {
        Settled::Finished(r) => *r,
        other => panic!("expected a final result, got {other:?}"),
    }
}

/// An attempt at an address that connects with the first credential.
fn connect_first(c: &mut Computer, clock: &mut Clock) -> Action {
    let a = c.begin(clock.tick(1));
    assert_eq!(a, Action::Connect { credential: 0 });
    c.on_connected(connected(), clock.tick(1))
}

#[test]
fn a_healthy_computer_collects_every_item_in_order_and_is_inventoried() {
    let mut clock = Clock::new();
    let mut c = computer("192.0.2.1", &["LAB\\a"], Rules::default(), &clock);
    let mut a = connect_first(&mut c, &mut clock);
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(collect_name(&a));
        a = c.on_item(collected(), clock.tick(10));
        assert_eq!(c.take_item_event().map(|e| e.1), Some(ClassOutcome::Collected));
    }
    assert_eq!(seen, ["A", "B", "C"]);
    assert_eq!(
        a,
        Action::End {
            release: true,
            end: AttemptEnd::Final(Status::Inventoried, None)
        }
    );
    let r = finished(c.settle(end_of(a), false, clock.tick(1)));
    assert_eq!(r.status, Status::Inventoried);
    assert_eq!(r.attempts.len(), 1);
    // Times are the ones fed: 1 ms to connect, 3 × 10 ms of items.
    assert_eq!(r.attempts[0].duration_ms, 31);
    assert_eq!(r.credential.as_deref(), Some("LAB\\a"));
    assert_eq!(r.address, Some("192.0.2.1".parse().unwrap()));
    assert_eq!(r.inventory.classes.len(), 3);
}

#[test]
fn a_retry_class_error_abandons_the_attempt_and_requeues_after_the_delay() {
    let mut clock = Clock::new();
    let rules = Rules {
        retry_delay: Duration::from_secs(7),
        ..Rules::default()
    };
    let mut c = computer("192.0.2.1", &["a"], rules, &clock);
    let a = connect_first(&mut c, &mut clock);
    assert_eq!(collect_name(&a), "A");
    let a = c.on_item(failed_item(call_failed()), clock.tick(5));
    // Abandoned at once: B and C are not asked for in this attempt.
    let end = end_of(a);
    assert!(matches!(end, AttemptEnd::Retry(ref f) if f.status == Status::RpcCallFailed));
    let now = clock.tick(1);
    match c.settle(end, false, now) {
        Settled::Requeue {
            not_before,
            attempt,
            status,
        } => {
            assert_eq!(not_before, now.mono + Duration::from_secs(7));
            assert_eq!(attempt, 1);
            assert_eq!(status, Status::RpcCallFailed);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.not_before(), now.mono + Duration::from_secs(7));
}

/// A reply that failed verification in the middle of the items ends the attempt at once
/// with `SEC_E_MESSAGE_ALTERED`, final (not retried), keeping what was collected before it.
#[test]
fn a_reply_that_failed_verification_ends_the_attempt_for_good() {
    let mut clock = Clock::new();
    let mut c = computer("192.0.2.1", &["a"], Rules::default(), &clock);
    let a = connect_first(&mut c, &mut clock);
    assert_eq!(collect_name(&a), "A");
    let a = c.on_item(collected(), clock.tick(1));
    assert_eq!(collect_name(&a), "B");
    let unverified = at(
        Stage::Query,
        Cause::AuthenticationFailed(format!(
            "{}security: signature verification failed",
            winv_client::error::UNVERIFIED
        )),
    );
    assert_eq!(unverified.code, Some(0x8009_030F));
    assert_eq!(
        unverified.code_name.as_deref(),
        Some("SEC_E_MESSAGE_ALTERED")
    );
    assert!(!unverified.retry);
    let end = end_of(c.on_item(failed_item(unverified), clock.tick(1)));
    let AttemptEnd::Final(status, Some(ref f)) = end else {
        panic!("{end:?}");
    };
    assert_eq!(status, Status::AccessDenied);
    assert_eq!(f.code, Some(0x8009_030F));
    let r = finished(c.settle(end, false, clock.tick(1)));
    assert_eq!(r.status, Status::AccessDenied);
    assert_eq!(r.attempts.len(), 1);
    // C was never asked for; A is kept.
    assert!(r
        .classes
        .iter()
        .any(|k| k.class == "A" && k.outcome == ClassOutcome::Collected));
    assert!(!r.classes.iter().any(|k| k.class == "C"));
}

#[test]
fn exactly_max_attempts_then_the_retry_class_status_is_final() {
    for max in [MAX_ATTEMPTS, 2] {
        let mut clock = Clock::new();
        let rules = Rules {
            max_attempts: max,
            ..Rules::default()
        };
        let mut c = computer("192.0.2.1", &["a"], rules, &clock);
        let mut made = 0;
        let r = loop {
            let a = c.begin(clock.tick(1));
            assert_eq!(a, Action::Connect { credential: 0 });
            made += 1;
            // The host is shutting down at every attempt.
            let f = at(Stage::Activation, Cause::Hresult(0x8007_045b));
            assert!(f.retry);
            let end = end_of(c.on_connected(refused(f), clock.tick(1)));
            match c.settle(end, false, clock.tick(1)) {
                Settled::Requeue { attempt, .. } => assert_eq!(attempt, made),
                Settled::Finished(r) => break *r,
            }
        };
        assert_eq!(made, max, "attempts made");
        assert_eq!(r.attempts.len(), max as usize);
        assert_eq!(r.status, Status::ComputerShuttingDown);
        assert!(r.failure.as_ref().unwrap().retry);
    }
    assert_eq!(MAX_ATTEMPTS, 4, "MAP makes four attempts");
}

#[test]
fn the_failing_item_moves_to_the_end_and_collected_items_are_not_asked_again() {
    let mut clock = Clock::new();
    let mut c = computer("192.0.2.1", &["a"], Rules::default(), &clock);
    let a = connect_first(&mut c, &mut clock);
    assert_eq!(collect_name(&a), "A");
    let a = c.on_item(collected(), clock.tick(1));
    assert_eq!(collect_name(&a), "B");
    let end = end_of(c.on_item(failed_item(call_failed()), clock.tick(1)));
    assert!(matches!(c.settle(end, false, clock.tick(1)), Settled::Requeue { .. }));
    let names: Vec<String> = c.order().iter().map(Item::name).collect();
    assert_eq!(names, ["A", "C", "B"]);
    // The second attempt asks for C, then B: A was collected already.
    let a = connect_first(&mut c, &mut clock);
    assert_eq!(collect_name(&a), "C");
    let a = c.on_item(collected(), clock.tick(1));
    assert_eq!(collect_name(&a), "B");
    let a = c.on_item(collected(), clock.tick(1));
    let r = finished(c.settle(end_of(a), false, clock.tick(1)));
    assert_eq!(r.status, Status::Inventoried);
    assert_eq!(r.attempts[0].class_order, ["A", "B", "C"]);
    assert_eq!(r.attempts[0].failing_class.as_deref(), Some("B"));
    assert_eq!(r.attempts[1].class_order, ["A", "C", "B"]);
    let b = r.classes.iter().find(|x| x.class == "B").unwrap();
    assert_eq!(b.attempt, 2);
}

#[test]
fn the_watchdog_before_any_query_succeeded_is_a_query_timeout_retried_to_the_end() {
    let mut clock = Clock::new();
    let mut c = computer("192.0.2.1", &["a"], Rules::default(), &clock);
    let r = loop {
        let a = connect_first(&mut c, &mut clock);
        assert!(matches!(a, Action::Collect { .. }));
        let a = c.on_item(StepOutcome::Watchdog, clock.tick(300_000));
        // The connection is left as it is: no release on a hung call.
        assert!(matches!(a, Action::End { release: false, .. }));
        match c.settle(end_of(a), false, clock.tick(1)) {
            Settled::Requeue { status, .. } => assert_eq!(status, Status::WmiQueryTimeout),
            Settled::Finished(r) => break *r,
        }
    };
    assert_eq!(r.status, Status::WmiQueryTimeout);
    assert_eq!(r.attempts.len(), 4);
    let f = r.failure.unwrap();
    assert_eq!(f.stage, FailureStage::Watchdog);
    assert!(f.message.contains("300 s"), "{}", f.message);
}

#[test]
fn the_watchdog_after_a_success_times_the_item_out_and_the_computer_goes_on() {
    let mut clock = Clock::new();
    let mut c = computer("192.0.2.1", &["a"], Rules::default(), &clock);
    let a = connect_first(&mut c, &mut clock);
    assert_eq!(collect_name(&a), "A");
    let a = c.on_item(collected(), clock.tick(1));
    assert_eq!(collect_name(&a), "B");
    let a = c.on_item(StepOutcome::Watchdog, clock.tick(300_000));
    assert_eq!(c.take_item_event().map(|e| e.1), Some(ClassOutcome::TimedOut));
    // The hung connection is replaced before C.
    assert_eq!(a, Action::Reconnect { credential: 0 });
    let a = c.on_connected(connected(), clock.tick(1));
    assert_eq!(collect_name(&a), "C");
    let a = c.on_item(collected(), clock.tick(1));
    assert!(matches!(
        a,
        Action::End {
            end: AttemptEnd::Final(Status::InventoriedIncomplete, None),
            ..
        }
    ));
    let r = finished(c.settle(end_of(a), false, clock.tick(1)));
    assert_eq!(r.status, Status::InventoriedIncomplete);
    assert_eq!(r.attempts.len(), 1);
    let b = r.classes.iter().find(|x| x.class == "B").unwrap();
    assert_eq!(b.outcome, ClassOutcome::TimedOut);
    assert_eq!(b.error.as_ref().unwrap().status, Status::WmiQueryTimeout);
}

#[test]
fn errors_on_every_item_on_every_attempt_are_other_reasons() {
    let mut clock = Clock::new();
    let mut c = computer("192.0.2.1", &["a"], Rules::default(), &clock);
    let r = loop {
        let mut a = connect_first(&mut c, &mut clock);
        while let Action::Collect { .. } = a {
            a = c.on_item(failed_item(invalid_class()), clock.tick(1));
        }
        match c.settle(end_of(a), false, clock.tick(1)) {
            Settled::Requeue { status, .. } => assert_eq!(status, Status::OtherReasons),
            Settled::Finished(r) => break *r,
        }
    };
    assert_eq!(r.status, Status::OtherReasons);
    assert_eq!(r.attempts.len(), 4);
    let f = r.failure.unwrap();
    assert_eq!(f.stage, FailureStage::Items);
    assert!(!f.retry, "other-reasons is not a retry-class status");
    assert!(f.message.starts_with("every item failed; last: "), "{}", f.message);
}

#[test]
fn some_items_failing_is_an_incomplete_inventory_at_once() {
    let mut clock = Clock::new();
    let mut c = computer("192.0.2.1", &["a"], Rules::default(), &clock);
    let _ = connect_first(&mut c, &mut clock);
    let _ = c.on_item(collected(), clock.tick(1));
    let _ = c.on_item(failed_item(invalid_class()), clock.tick(1));
    let a = c.on_item(collected(), clock.tick(1));
    let r = finished(c.settle(end_of(a), false, clock.tick(1)));
    assert_eq!(r.status, Status::InventoriedIncomplete);
    assert_eq!(r.attempts.len(), 1);
    assert!(r.failure.is_none());
    let b = r.classes.iter().find(|x| x.class == "B").unwrap();
    assert_eq!(b.outcome, ClassOutcome::Failed);
}

#[test]
fn credentials_in_order_and_the_one_that_worked_first_on_a_retry() {
    let mut clock = Clock::new();
    let mut c = computer("192.0.2.1", &["wrong", "right"], Rules::default(), &clock);
    let a = c.begin(clock.tick(1));
    assert_eq!(a, Action::Connect { credential: 0 });
    let a = c.on_connected(refused(wrong_password()), clock.tick(1));
    assert_eq!(a, Action::Connect { credential: 1 });
    let a = c.on_connected(connected(), clock.tick(1));
    assert_eq!(collect_name(&a), "A");
    let end = end_of(c.on_item(failed_item(call_failed()), clock.tick(1)));
    assert!(matches!(c.settle(end, false, clock.tick(1)), Settled::Requeue { .. }));
    // The second attempt starts with the credential that worked.
    let a = c.begin(clock.tick(1));
    assert_eq!(a, Action::Connect { credential: 1 });
    let mut a = c.on_connected(connected(), clock.tick(1));
    while let Action::Collect { .. } = a {
        a = c.on_item(collected(), clock.tick(1));
    }
    let r = finished(c.settle(end_of(a), false, clock.tick(1)));
    assert_eq!(r.credential.as_deref(), Some("right"));
    assert_eq!(r.attempts[0].credential.as_deref(), Some("right"));
}

#[test]
fn the_most_telling_refusal_is_kept_when_no_credential_works() {
    let mut clock = Clock::new();
    let mut c = computer("192.0.2.1", &["a", "b", "c"], Rules::default(), &clock);
    c.begin(clock.tick(1));
    let a = c.on_connected(refused(wrong_password()), clock.tick(1));
    assert_eq!(a, Action::Connect { credential: 1 });
    // Past the logon, refused by DCOM: says more than the wrong password.
    let a = c.on_connected(refused(dcom_denied()), clock.tick(1));
    assert_eq!(a, Action::Connect { credential: 2 });
    let a = c.on_connected(refused(wrong_password()), clock.tick(1));
    let r = finished(c.settle(end_of(a), false, clock.tick(1)));
    assert_eq!(r.status, Status::AccessDenied);
    assert_eq!(r.attempts.len(), 1, "access denied is not retried");
    assert_eq!(r.failure.unwrap().denied_by, Some(DeniedBy::Dcom));
    assert_eq!(r.credential, None);
}

#[test]
fn an_empty_credential_list_is_no_credentials() {
    let mut clock = Clock::new();
    let mut c = computer("192.0.2.1", &[], Rules::default(), &clock);
    let a = c.begin(clock.tick(1));
    let r = finished(c.settle(end_of(a), false, clock.tick(1)));
    assert_eq!(r.status, Status::NoCredentials);
    assert_eq!(r.failure.unwrap().stage, FailureStage::Credentials);
}

#[test]
fn a_stop_gives_inventory_not_completed_and_keeps_what_was_collected() {
    let mut clock = Clock::new();
    let mut c = computer("192.0.2.1", &["a"], Rules::default(), &clock);
    let _ = connect_first(&mut c, &mut clock);
    let _ = c.on_item(collected(), clock.tick(1));
    let a = c.on_stop(clock.tick(1));
    assert_eq!(
        a,
        Action::End {
            release: false,
            end: AttemptEnd::Stopped
        }
    );
    let r = finished(c.settle(end_of(a), true, clock.tick(1)));
    assert_eq!(r.status, Status::InventoryNotCompleted);
    assert_eq!(r.failure.unwrap().stage, FailureStage::Run);
    assert_eq!(r.inventory.classes.len(), 1, "A is kept");
    // A retry that ends while the run stops is not requeued.
    let mut c = computer("192.0.2.2", &["a"], Rules::default(), &clock);
    let _ = connect_first(&mut c, &mut clock);
    let end = end_of(c.on_item(failed_item(call_failed()), clock.tick(1)));
    let r = finished(c.settle(end, true, clock.tick(1)));
    assert_eq!(r.status, Status::InventoryNotCompleted);
    // A computer that never started.
    let mut c = computer("192.0.2.3", &["a"], Rules::default(), &clock);
    let r = finished(c.not_completed(clock.tick(1)));
    assert_eq!(r.status, Status::InventoryNotCompleted);
    assert!(r.attempts.is_empty());
}

#[test]
fn names_nxdomain_is_final_and_a_transient_failure_is_retried_to_the_last_attempt() {
    let mut clock = Clock::new();
    let mut c = computer("ws01.lab.test", &["a"], Rules::default(), &clock);
    assert_eq!(c.begin(clock.tick(1)), Action::Resolve);
    let a = c.on_resolved(
        StepOutcome::Done(Resolved::NotFound(ResolveFailure::NxDomain)),
        clock.tick(1),
    );
    let r = finished(c.settle(end_of(a), false, clock.tick(1)));
    assert_eq!(r.status, Status::MachineNotFound);
    assert_eq!(r.attempts.len(), 1);
    assert_eq!(r.failure.unwrap().code, Some(WSAHOST_NOT_FOUND));

    let mut c = computer("ws02.lab.test", &["a"], Rules::default(), &clock);
    let r = loop {
        assert_eq!(c.begin(clock.tick(1)), Action::Resolve);
        let a = c.on_resolved(
            StepOutcome::Done(Resolved::NotFound(ResolveFailure::TryAgain("servfail".into()))),
            clock.tick(1),
        );
        match c.settle(end_of(a), false, clock.tick(1)) {
            Settled::Requeue { status, .. } => assert_eq!(status, Status::MachineNotFound),
            Settled::Finished(r) => break *r,
        }
    };
    assert_eq!(r.status, Status::MachineNotFound);
    assert_eq!(r.attempts.len(), 4);
    assert_eq!(r.failure.unwrap().code, Some(WSATRY_AGAIN));

    // Found: the first address is the computer's.
    let mut c = computer("ws03.lab.test", &["a"], Rules::default(), &clock);
    c.begin(clock.tick(1));
    let a = c.on_resolved(
        StepOutcome::Done(Resolved::Found(vec!["192.0.2.30".parse().unwrap()])),
        clock.tick(1),
    );
    assert_eq!(a, Action::Connect { credential: 0 });
    assert_eq!(c.address(), Some("192.0.2.30".parse().unwrap()));
}

#[test]
fn a_failed_login_to_an_items_namespace_is_the_computers_status() {
    let mut clock = Clock::new();
    let mut c = computer("192.0.2.1", &["a"], Rules::default(), &clock);
    let _ = connect_first(&mut c, &mut clock);
    let a = c.on_item(collected(), clock.tick(1));
    let _ = a;
    // root\default (StdRegProv) does not exist.
    let f = classify(
        &ClientError::hresult_at(Stage::Login, 0x8004_100e),
        NamespaceRole::StdRegProv,
    );
    assert_eq!(f.phase, winv_kb::Phase::Connecting);
    let a = c.on_item(failed_item(f), clock.tick(1));
    let r = finished(c.settle(end_of(a), false, clock.tick(1)));
    assert_eq!(r.status, Status::StdRegProvNamespaceInvalid);
    assert_eq!(r.attempts.len(), 1);
}

#[test]
fn a_broken_connection_is_replaced_before_the_next_item() {
    let mut clock = Clock::new();
    let mut c = computer("192.0.2.1", &["a"], Rules::default(), &clock);
    let _ = connect_first(&mut c, &mut clock);
    let a = c.on_item(collected(), clock.tick(1));
    let _ = a;
    // A per-class error on a connection that no longer answers (no HRESULT came back).
    let a = c.on_item(
        StepOutcome::Done(ItemOutcome::Failed {
            failure: invalid_class(),
            timeout: false,
            answered: false,
        }),
        clock.tick(1),
    );
    assert_eq!(a, Action::Reconnect { credential: 0 });
    // The reconnect fails with a retry-class error: the item being collected is the
    // failing one.
    let f = at(Stage::Connect135, Cause::Fault { status: 1726 });
    let a = c.on_connected(refused(f), clock.tick(1));
    assert!(matches!(a, Action::End { end: AttemptEnd::Retry(_), .. }));
    assert!(matches!(c.settle(end_of(a), false, clock.tick(1)), Settled::Requeue { .. }));
    // C was being reconnected for: it is the failing item, at the end of the list.
    let a = connect_first(&mut c, &mut clock);
    assert_eq!(collect_name(&a), "B");
    let a = c.on_item(collected(), clock.tick(1));
    assert_eq!(collect_name(&a), "C");
    let a = c.on_item(collected(), clock.tick(1));
    let r = finished(c.settle(end_of(a), false, clock.tick(1)));
    assert_eq!(r.attempts[0].failing_class.as_deref(), Some("C"));
    assert_eq!(r.status, Status::Inventoried);
}

#[test]
fn a_response_out_of_order_ends_the_attempt_instead_of_panicking() {
    let mut clock = Clock::new();
    let mut c = computer("192.0.2.1", &["a"], Rules::default(), &clock);
    let a = c.on_item(collected(), clock.tick(1));
    assert!(matches!(a, Action::End { .. }));
}

// ---------------------------------------------------------------------------------------
// Optional scenario items: "not present" versus failures.

fn scenario_item(class: &str, namespace: &str) -> Item {
    Item::Wmi {
        class: class.into(),
        namespace: namespace.into(),
        wql: format!("SELECT * FROM {class}"),
        optional: true,
        few_rows: false,
    }
}

fn sql_table() -> Item {
    Item::RegistryTable(crate::profile::RegistryTable {
        name: "sql-instances".into(),
        list: r"SOFTWARE\Microsoft\Microsoft SQL Server\Instance Names\SQL".into(),
        detail: r"SOFTWARE\Microsoft\Microsoft SQL Server\{data}\Setup".into(),
        values: vec![("Edition".into(), crate::profile::RegKind::String)],
        optional: true,
    })
}

/// A computer with `A` (required, cimv2) followed by `extra`.
fn with_items(extra: Vec<Item>, clock: &Clock) -> Computer {
    let mut list = vec![item("A")];
    list.extend(extra);
    Computer::new(
        "192.0.2.1".into(),
        list,
        accounts(&["a"]),
        Rules::default(),
        true,
        clock.base,
    )
}

fn in_ns(stage: Stage, cause: Cause, namespace: &str) -> Failure {
    classify(&ClientError::new(stage, cause), NamespaceRole::of(namespace))
}

const V2: &str = r"root\virtualization\v2";
const WBEM_E_INVALID_NAMESPACE: u32 = 0x8004_100E;
const WBEM_E_ACCESS_DENIED: u32 = 0x8004_1003;
const WBEM_E_PROVIDER_FAILURE: u32 = 0x8004_1004;

/// Runs one attempt: `A` collected, then each of `outcomes` in turn.
fn run_once(c: &mut Computer, clock: &mut Clock, outcomes: Vec<StepOutcome<ItemOutcome>>) -> Action {
    let mut a = connect_first(c, clock);
    assert_eq!(collect_name(&a), "A");
    a = c.on_item(collected(), clock.tick(1));
    for o in outcomes {
        assert!(matches!(a, Action::Collect { .. }), "{a:?}");
        a = c.on_item(o, clock.tick(1));
    }
    a
}

#[test]
fn an_absent_namespace_of_an_optional_item_is_not_present_and_inventoried() {
    let mut clock = Clock::new();
    let mut c = with_items(vec![scenario_item("Msvm_ComputerSystem", V2)], &clock);
    let f = in_ns(Stage::Login, Cause::Hresult(WBEM_E_INVALID_NAMESPACE), V2);
    let a = run_once(&mut c, &mut clock, vec![failed_item(f)]);
    assert_eq!(c.take_item_event().map(|e| e.1), Some(ClassOutcome::NotPresent));
    let r = finished(c.settle(end_of(a), false, clock.tick(1)));
    assert_eq!(r.status, Status::Inventoried);
    assert!(r.failure.is_none());
    let m = r.classes.iter().find(|x| x.class == "Msvm_ComputerSystem").unwrap();
    assert_eq!(m.outcome, ClassOutcome::NotPresent);
    assert_eq!(m.rows, 0);
    assert!(m.error.is_none());
    assert!(r.inventory.class("Msvm_ComputerSystem").is_none());
}

#[test]
fn an_absent_class_of_an_optional_item_is_not_present_but_of_a_required_one_a_failure() {
    let mut clock = Clock::new();
    let mut c = with_items(vec![scenario_item("Win32_ServerFeature", r"root\cimv2")], &clock);
    let a = run_once(&mut c, &mut clock, vec![failed_item(invalid_class())]);
    let r = finished(c.settle(end_of(a), false, clock.tick(1)));
    assert_eq!(r.status, Status::Inventoried);
    assert_eq!(r.classes[1].outcome, ClassOutcome::NotPresent);

    let mut clock = Clock::new();
    let mut c = with_items(vec![item("Win32_ServerFeature")], &clock);
    let a = run_once(&mut c, &mut clock, vec![failed_item(invalid_class())]);
    let r = finished(c.settle(end_of(a), false, clock.tick(1)));
    assert_eq!(r.status, Status::InventoriedIncomplete);
    assert_eq!(r.classes[1].outcome, ClassOutcome::Failed);
}

#[test]
fn access_denied_on_an_optional_namespace_is_the_item_failure_not_the_computer_status() {
    let mut clock = Clock::new();
    let mut c = with_items(
        vec![scenario_item("Msvm_ComputerSystem", V2), item("B")],
        &clock,
    );
    let denied = in_ns(Stage::Login, Cause::Hresult(WBEM_E_ACCESS_DENIED), V2);
    assert_eq!(denied.status, Status::AccessDenied);
    let a = run_once(&mut c, &mut clock, vec![failed_item(denied), collected()]);
    let r = finished(c.settle(end_of(a), false, clock.tick(1)));
    assert_eq!(r.status, Status::InventoriedIncomplete);
    let m = &r.classes[1];
    assert_eq!(m.outcome, ClassOutcome::Failed);
    assert_eq!(m.error.as_ref().unwrap().status, Status::AccessDenied);
    assert_eq!(r.classes[2].outcome, ClassOutcome::Collected, "the next item still ran");

    // The same refusal on a required item's namespace is the computer's status.
    let mut clock = Clock::new();
    let mut c = with_items(vec![item("B")], &clock);
    let denied = in_ns(Stage::Login, Cause::Hresult(WBEM_E_ACCESS_DENIED), r"root\cimv2");
    let _ = connect_first(&mut c, &mut clock);
    let mut a = c.on_item(collected(), clock.tick(1));
    assert_eq!(collect_name(&a), "B");
    a = c.on_item(failed_item(denied), clock.tick(1));
    let r = finished(c.settle(end_of(a), false, clock.tick(1)));
    assert_eq!(r.status, Status::AccessDenied);
}

#[test]
fn a_provider_failure_of_an_optional_item_stays_a_failure() {
    let mut clock = Clock::new();
    let mut c = with_items(vec![scenario_item("SqlService", r"root\Microsoft\SqlServer\ComputerManagement15")], &clock);
    let f = in_ns(Stage::Query, Cause::Hresult(WBEM_E_PROVIDER_FAILURE), r"root\x");
    let a = run_once(&mut c, &mut clock, vec![failed_item(f)]);
    let r = finished(c.settle(end_of(a), false, clock.tick(1)));
    assert_eq!(r.status, Status::InventoriedIncomplete);
    assert_eq!(r.classes[1].outcome, ClassOutcome::Failed);
    assert_eq!(r.classes[1].error.as_ref().unwrap().code, Some(WBEM_E_PROVIDER_FAILURE));
}

#[test]
fn a_not_present_item_is_not_asked_for_again_on_a_retry() {
    let mut clock = Clock::new();
    let mut c = with_items(vec![scenario_item("Msvm_ComputerSystem", V2), item("B")], &clock);
    let gone = in_ns(Stage::Login, Cause::Hresult(WBEM_E_INVALID_NAMESPACE), V2);
    let a = run_once(&mut c, &mut clock, vec![failed_item(gone), failed_item(call_failed())]);
    assert!(matches!(
        c.settle(end_of(a), false, clock.tick(1)),
        Settled::Requeue { .. }
    ));
    clock.tick(20_000);
    let a = connect_first(&mut c, &mut clock);
    // A and the not-present item are done: only B is asked for.
    assert_eq!(collect_name(&a), "B");
    let a = c.on_item(collected(), clock.tick(1));
    let r = finished(c.settle(end_of(a), false, clock.tick(1)));
    assert_eq!(r.status, Status::Inventoried);
    let m = r.classes.iter().find(|x| x.class == "Msvm_ComputerSystem").unwrap();
    assert_eq!((m.outcome, m.attempt), (ClassOutcome::NotPresent, 1));
}

#[test]
fn a_pattern_without_a_matching_namespace_is_not_present_when_optional() {
    let pattern = r"root\Microsoft\SqlServer\ComputerManagement*";
    let none = || {
        StepOutcome::Done(ItemOutcome::NoMatchingNamespace {
            parent: r"root\Microsoft\SqlServer".into(),
        })
    };
    let mut clock = Clock::new();
    let mut c = with_items(vec![scenario_item("SqlService", pattern)], &clock);
    let a = run_once(&mut c, &mut clock, vec![none()]);
    let r = finished(c.settle(end_of(a), false, clock.tick(1)));
    assert_eq!(r.status, Status::Inventoried);
    assert_eq!(r.classes[1].outcome, ClassOutcome::NotPresent);

    let mut clock = Clock::new();
    let required = Item::Wmi {
        class: "SqlService".into(),
        namespace: pattern.into(),
        wql: "SELECT * FROM SqlService".into(),
        optional: false,
        few_rows: false,
    };
    let mut c = with_items(vec![required], &clock);
    let a = run_once(&mut c, &mut clock, vec![none()]);
    let r = finished(c.settle(end_of(a), false, clock.tick(1)));
    assert_eq!(r.status, Status::InventoriedIncomplete);
    assert_eq!(r.classes[1].outcome, ClassOutcome::Failed);
    assert!(r.classes[1].error.as_ref().unwrap().message.contains("no namespace under"));
}

#[test]
fn the_namespace_a_pattern_chose_is_recorded() {
    let pattern = r"root\Microsoft\SqlServer\ComputerManagement*";
    let used = r"root\Microsoft\SqlServer\ComputerManagement16";
    let mut clock = Clock::new();
    let mut c = with_items(vec![scenario_item("SqlService", pattern)], &clock);
    let got = StepOutcome::Done(ItemOutcome::Collected(Collected::InstancesIn {
        namespace: used.into(),
        instances: vec![serde_json::json!({"ServiceName": "MSSQLSERVER"}).into()],
    }));
    let a = run_once(&mut c, &mut clock, vec![got]);
    let r = finished(c.settle(end_of(a), false, clock.tick(1)));
    assert_eq!(r.status, Status::Inventoried);
    assert_eq!(r.classes[1].namespace, used);
    assert_eq!(r.classes[1].rows, 1);
    let inv = r.inventory.classes.iter().find(|x| x.class == "SqlService").unwrap();
    assert_eq!(inv.namespace, used);
    assert_eq!(inv.instances.len(), 1);
}

#[test]
fn a_registry_table_is_stored_under_its_name_and_an_absent_list_key_is_not_present() {
    let win32 = |code| {
        in_ns(
            Stage::Registry,
            Cause::Win32 {
                method: "EnumValues".into(),
                code,
            },
            r"root\default",
        )
    };
    // Collected: one row per value.
    let mut clock = Clock::new();
    let mut c = with_items(vec![sql_table()], &clock);
    let rows = vec![serde_json::json!({"name": "MSSQLSERVER", "data": "MSSQL16.MSSQLSERVER", "Edition": "Standard Edition"})];
    let a = run_once(
        &mut c,
        &mut clock,
        vec![StepOutcome::Done(ItemOutcome::Collected(Collected::Table(
            rows.iter().map(Instance::new).collect(),
        )))],
    );
    let r = finished(c.settle(end_of(a), false, clock.tick(1)));
    assert_eq!(r.status, Status::Inventoried);
    assert_eq!(r.classes[1].class, "registry:sql-instances");
    assert_eq!(r.inventory.class("registry:sql-instances").unwrap(), rows.as_slice());

    // ReturnValue 2 on the list key: not present.
    let mut clock = Clock::new();
    let mut c = with_items(vec![sql_table()], &clock);
    let a = run_once(&mut c, &mut clock, vec![failed_item(win32(2))]);
    let r = finished(c.settle(end_of(a), false, clock.tick(1)));
    assert_eq!(r.status, Status::Inventoried);
    assert_eq!(r.classes[1].outcome, ClassOutcome::NotPresent);

    // ReturnValue 5 (access denied): a failure of the item.
    let mut clock = Clock::new();
    let mut c = with_items(vec![sql_table()], &clock);
    let a = run_once(&mut c, &mut clock, vec![failed_item(win32(5))]);
    let r = finished(c.settle(end_of(a), false, clock.tick(1)));
    assert_eq!(r.status, Status::InventoriedIncomplete);
    assert_eq!(r.classes[1].outcome, ClassOutcome::Failed);
}

/// A computer requeued on one scanner and handed to another through a shared queue (the
/// carry crosses as JSON, as the store keeps it) goes on exactly as if it had stayed:
/// the next attempt's number, the failing item last, collected items not asked again,
/// the remembered account first, and every attempt in the final record.
#[test]
fn a_computer_handed_to_another_scanner_continues_where_the_first_left_it() {
    let mut clock = Clock::new();
    let mut first = computer("192.0.2.1", &["LAB\\x", "LAB\\ok"], Rules::default(), &clock);
    assert_eq!(first.begin(clock.tick(1)), Action::Connect { credential: 0 });
    let a = first.on_connected(refused(wrong_password()), clock.tick(1));
    assert_eq!(a, Action::Connect { credential: 1 });
    let a = first.on_connected(connected(), clock.tick(1));
    assert_eq!(collect_name(&a), "A");
    let a = first.on_item(collected(), clock.tick(1));
    assert_eq!(collect_name(&a), "B");
    let end = end_of(first.on_item(failed_item(call_failed()), clock.tick(1)));
    assert!(matches!(first.settle(end, false, clock.tick(1)), Settled::Requeue { .. }));

    let carry = serde_json::to_value(first.carry()).unwrap();
    let handed = Handed {
        target: "192.0.2.1".into(),
        previous: vec![first.last_attempt().unwrap().clone()],
        class_order: Some(first.order().iter().map(Item::name).collect()),
        carry: Some(serde_json::from_value(carry).unwrap()),
    };
    // The second scanner lists the accounts in another order: the carried name counts.
    let mut second = Computer::handed(
        handed,
        items(),
        accounts(&["LAB\\ok", "LAB\\x"]),
        Rules::default(),
        true,
        clock.base,
    );
    assert_eq!(second.attempts(), 1);
    let names: Vec<String> = second.order().iter().map(Item::name).collect();
    assert_eq!(names, ["A", "C", "B"]);
    assert_eq!(second.begin(clock.tick(1)), Action::Connect { credential: 0 });
    let a = second.on_connected(connected(), clock.tick(1));
    assert_eq!(collect_name(&a), "C", "A was collected by the first scanner");
    let a = second.on_item(collected(), clock.tick(1));
    assert_eq!(collect_name(&a), "B");
    let a = second.on_item(collected(), clock.tick(1));
    let r = finished(second.settle(end_of(a), false, clock.tick(1)));
    assert_eq!(r.status, Status::Inventoried);
    let numbers: Vec<u32> = r.attempts.iter().map(|a| a.number).collect();
    assert_eq!(numbers, [1, 2]);
    assert_eq!(r.credential.as_deref(), Some("LAB\\ok"));
    assert_eq!(r.inventory.classes.len(), 3, "A's rows came with the carry");
    assert_eq!(r.classes.iter().find(|x| x.class == "A").unwrap().attempt, 1);
}

/// What a shared queue hands may not fit this scanner: an order naming items the
/// profile lacks (ignored; the profile's other items follow in its order), an account it
/// does not hold (the list is tried in order), and attempts already at the limit (the
/// next attempt is the last: a retry-class error is then final).
#[test]
fn a_handed_computer_that_does_not_fit_this_scanner_is_still_worked_on_by_the_rules() {
    let mut clock = Clock::new();
    let previous: Vec<AttemptRecord> = (1..=3)
        .map(|n| AttemptRecord {
            number: n,
            started_ms: 0,
            duration_ms: 1,
            credential: None,
            class_order: vec!["A".into()],
            outcome: Status::RpcCallFailed,
            failing_class: Some("A".into()),
            failure: None,
        })
        .collect();
    let handed = Handed {
        target: "192.0.2.9".into(),
        previous,
        class_order: Some(vec!["C".into(), "Gone".into()]),
        carry: Some(Carry {
            credential: Some("LAB\\elsewhere".into()),
            ..Carry::default()
        }),
    };
    let mut c = Computer::handed(handed, items(), accounts(&["a"]), Rules::default(), true, clock.base);
    let names: Vec<String> = c.order().iter().map(Item::name).collect();
    assert_eq!(names, ["C", "A", "B"]);
    assert_eq!(c.remembered(), None);
    let a = connect_first(&mut c, &mut clock);
    assert_eq!(collect_name(&a), "C");
    let end = end_of(c.on_item(failed_item(call_failed()), clock.tick(1)));
    let r = finished(c.settle(end, false, clock.tick(1)));
    assert_eq!(r.status, Status::RpcCallFailed);
    assert_eq!(r.attempts.len(), 4, "the fourth attempt was the last");
}

// ------------------------------------------------------------------ the attempt's budget

fn budget_rules(secs: u64) -> Rules {
    Rules {
        attempt_budget: Duration::from_secs(secs),
        ..Rules::default()
    }
}

fn class<'a>(r: &'a ComputerResult, name: &str) -> &'a ClassResult {
    r.classes.iter().find(|x| x.class == name).unwrap()
}

fn is_budget(f: &Failure) -> bool {
    f.stage == FailureStage::Budget && f.code == Some(winv_kb::WINV_E_ATTEMPT_BUDGET)
}

#[test]
fn the_attempt_deadline_is_its_start_plus_the_budget_and_only_while_it_runs() {
    let mut clock = Clock::new();
    let mut c = computer("192.0.2.1", &["a"], budget_rules(60), &clock);
    assert_eq!(c.deadline(), None);
    let start = clock.tick(5);
    c.begin(start);
    assert_eq!(c.deadline(), Some(start.mono + Duration::from_secs(60)));
    for want in ["A", "B", "C"] {
        let a = if want == "A" {
            c.on_connected(connected(), clock.tick(1))
        } else {
            c.on_item(collected(), clock.tick(1))
        };
        assert_eq!(collect_name(&a), want);
        assert!(c.deadline().is_some());
    }
    let end = end_of(c.on_item(collected(), clock.tick(1)));
    assert_eq!(c.deadline(), None);
    assert_eq!(
        finished(c.settle(end, false, clock.tick(1))).status,
        Status::Inventoried
    );
    // The default: longer than one query's own time budget (10 minutes).
    assert_eq!(Rules::default().attempt_budget, ATTEMPT_BUDGET);
    assert!(ATTEMPT_BUDGET > winv_client::WmiOptions::default().max_query_time);
}

#[test]
fn out_of_time_in_an_item_after_a_success_is_an_incomplete_inventory_keeping_what_was_collected() {
    let mut clock = Clock::new();
    let mut c = computer("192.0.2.1", &["a"], budget_rules(60), &clock);
    let a = connect_first(&mut c, &mut clock);
    assert_eq!(collect_name(&a), "A");
    let a = c.on_item(collected(), clock.tick(1_000));
    assert_eq!(collect_name(&a), "B");
    // B keeps sending rows slowly: the driver cuts it at the deadline.
    let a = c.on_item(StepOutcome::OutOfTime, clock.tick(59_000));
    assert_eq!(
        c.take_item_event(),
        Some(("B".into(), ClassOutcome::Failed))
    );
    // Cut in the middle of a call: no release on that connection, and no C.
    assert!(
        matches!(
            a,
            Action::End {
                release: false,
                end: AttemptEnd::Final(Status::InventoriedIncomplete, None),
            }
        ),
        "{a:?}"
    );
    let r = finished(c.settle(end_of(a), false, clock.tick(1)));
    assert_eq!(r.status, Status::InventoriedIncomplete);
    assert_eq!(r.attempts.len(), 1, "not retried");
    assert_eq!(class(&r, "A").outcome, ClassOutcome::Collected);
    assert_eq!(r.inventory.classes.len(), 1, "A's rows are kept");
    let b = class(&r, "B");
    assert_eq!(b.outcome, ClassOutcome::Failed);
    let fb = b.error.as_ref().unwrap();
    assert!(is_budget(fb), "{fb:?}");
    assert!(fb.message.contains("still running"), "{}", fb.message);
    assert!(fb.message.contains("60 s"), "{}", fb.message);
    assert_eq!(fb.code_name.as_deref(), Some("WINV_E_ATTEMPT_BUDGET"));
    let cc = class(&r, "C");
    assert_eq!(cc.outcome, ClassOutcome::Failed);
    let fc = cc.error.as_ref().unwrap();
    assert!(is_budget(fc), "{fc:?}");
    assert!(fc.message.starts_with("not started"), "{}", fc.message);
    assert_eq!(cc.attempt, 1);
}

#[test]
fn a_result_that_arrives_past_the_deadline_is_kept_and_nothing_more_starts() {
    let mut clock = Clock::new();
    let mut c = computer("192.0.2.1", &["a"], budget_rules(60), &clock);
    let a = connect_first(&mut c, &mut clock);
    assert_eq!(collect_name(&a), "A");
    // A finished, but only after the budget had run out: kept; B and C do not start.
    let a = c.on_item(collected(), clock.tick(61_000));
    let end = end_of(a);
    assert_eq!(end, AttemptEnd::Final(Status::InventoriedIncomplete, None));
    let r = finished(c.settle(end, false, clock.tick(1)));
    assert_eq!(class(&r, "A").outcome, ClassOutcome::Collected);
    for name in ["B", "C"] {
        let f = class(&r, name).error.clone().unwrap();
        assert!(
            is_budget(&f) && f.message.starts_with("not started"),
            "{f:?}"
        );
    }
    // Just inside the budget, the next item still starts.
    let mut clock = Clock::new();
    let mut c = computer("192.0.2.1", &["a"], budget_rules(60), &clock);
    connect_first(&mut c, &mut clock);
    let a = c.on_item(collected(), clock.tick(58_000));
    assert_eq!(collect_name(&a), "B");
}

#[test]
fn out_of_time_before_anything_was_collected_is_retried_then_other_reasons() {
    let mut clock = Clock::new();
    let mut c = computer("192.0.2.1", &["a"], budget_rules(60), &clock);
    let mut orders = Vec::new();
    let r = loop {
        let a = connect_first(&mut c, &mut clock);
        orders.push(collect_name(&a));
        let a = c.on_item(StepOutcome::OutOfTime, clock.tick(60_000));
        let end = end_of(a);
        assert!(
            matches!(end, AttemptEnd::Retry(ref f) if is_budget(f)),
            "{end:?}"
        );
        match c.settle(end, false, clock.tick(1)) {
            Settled::Requeue { status, .. } => assert_eq!(status, Status::OtherReasons),
            Settled::Finished(r) => break *r,
        }
    };
    // The item that was running moves to the end each time, as for any retry.
    assert_eq!(orders, ["A", "B", "C", "A"]);
    assert_eq!(r.attempts.len(), 4);
    assert_eq!(r.status, Status::OtherReasons);
    let f = r.failure.unwrap();
    assert!(is_budget(&f), "{f:?}");
    assert!(!f.retry);
    assert!(r.classes.iter().all(|x| x.outcome == ClassOutcome::Failed));
    assert_eq!(r.classes.len(), 3);
}

#[test]
fn out_of_time_while_connecting_records_every_item_as_not_started() {
    let mut clock = Clock::new();
    let rules = Rules {
        max_attempts: 1,
        ..budget_rules(30)
    };
    let mut c = computer("192.0.2.1", &["LAB\\a"], rules, &clock);
    assert_eq!(c.begin(clock.tick(1)), Action::Connect { credential: 0 });
    let a = c.on_connected(StepOutcome::OutOfTime, clock.tick(30_000));
    assert!(matches!(a, Action::End { release: false, .. }), "{a:?}");
    let r = finished(c.settle(end_of(a), false, clock.tick(1)));
    assert_eq!(r.status, Status::OtherReasons);
    assert!(is_budget(r.failure.as_ref().unwrap()));
    assert_eq!(r.attempts[0].credential.as_deref(), Some("LAB\\a"));
    let names: Vec<&str> = r.classes.iter().map(|x| x.class.as_str()).collect();
    assert_eq!(names, ["A", "B", "C"]);
    assert!(r.classes.iter().all(|x| x
        .error
        .as_ref()
        .is_some_and(|f| f.message.starts_with("not started"))));
}

#[test]
fn out_of_time_while_reconnecting_keeps_earlier_errors_and_counts_the_item_as_not_started() {
    let mut clock = Clock::new();
    let mut c = computer("192.0.2.1", &["a"], budget_rules(600), &clock);
    let a = connect_first(&mut c, &mut clock);
    assert_eq!(collect_name(&a), "A");
    let a = c.on_item(collected(), clock.tick(1));
    assert_eq!(collect_name(&a), "B");
    // B hangs: timed out by the watchdog, the connection is replaced before C...
    let a = c.on_item(StepOutcome::Watchdog, clock.tick(300_000));
    assert_eq!(a, Action::Reconnect { credential: 0 });
    // ...and the budget runs out during the reconnect.
    let a = c.on_connected(StepOutcome::OutOfTime, clock.tick(300_000));
    let r = finished(c.settle(end_of(a), false, clock.tick(1)));
    assert_eq!(r.status, Status::InventoriedIncomplete);
    assert_eq!(class(&r, "B").outcome, ClassOutcome::TimedOut);
    let fc = class(&r, "C").error.clone().unwrap();
    assert!(
        is_budget(&fc) && fc.message.starts_with("not started"),
        "{fc:?}"
    );
}

#[test]
fn out_of_time_during_resolution_is_retried() {
    let mut clock = Clock::new();
    let mut c = computer("pc1.lab.test", &["a"], budget_rules(10), &clock);
    assert_eq!(c.begin(clock.tick(1)), Action::Resolve);
    let a = c.on_resolved(StepOutcome::OutOfTime, clock.tick(10_000));
    assert!(matches!(end_of(a), AttemptEnd::Retry(ref f) if is_budget(f)));
}
