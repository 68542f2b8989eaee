//! A run shared by several scanners: claims, leases, requeues, sites, stop, status.
//! Every test runs on SQLite and on a throwaway PostgreSQL.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use winv_engine::{AttemptRecord, Status};

use super::{failed, inventoried, on_both, targets, TestDb};
use crate::{Finished, RetryPolicy, RunState, SiteTarget, Store, StoreError};

const LEASE: i64 = 1_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn attempt(number: u32, outcome: Status, order: &[&str]) -> AttemptRecord {
    AttemptRecord {
        number,
        started_ms: 1_700_000_000_000 + i64::from(number),
        duration_ms: 100,
        credential: None,
        class_order: order.iter().map(|s| s.to_string()).collect(),
        outcome,
        failing_class: Some("Win32_BIOS".into()),
        failure: None,
    }
}

/// A final result with the given attempts (numbers).
fn result_with(target: &str, numbers: &[u32]) -> winv_engine::ComputerResult {
    let mut r = failed(target, Status::ConnectionTimeout);
    r.attempts = numbers
        .iter()
        .map(|&n| attempt(n, Status::ConnectionTimeout, &["Win32_BIOS"]))
        .collect();
    r
}

async fn claims_hand_out_each_target_once_in_order_and_by_site(db: &TestDb) {
    let store = db.open().await;
    let mut list: Vec<SiteTarget> = Vec::new();
    for i in 0..6 {
        list.push(SiteTarget::at(format!("east{i}"), "east"));
        list.push(SiteTarget::at(format!("west{i}"), "west"));
    }
    list.push(SiteTarget::new("hq0"));
    list.push(SiteTarget::at("east0", "west")); // a duplicate: its first site wins
    let run = store
        .create_run_with_sites(&list, &json!({}), 1)
        .await
        .unwrap();
    let a = store
        .register_scanner(run, "a", Some("east"), 0)
        .await
        .unwrap();
    let b = store
        .register_scanner(run, "b", Some("east"), 0)
        .await
        .unwrap();
    let w = store
        .register_scanner(run, "w", Some("west"), 0)
        .await
        .unwrap();
    let hq = store.register_scanner(run, "hq", None, 0).await.unwrap();

    let got = store.claim(a, 4, 10, LEASE).await.unwrap();
    let names: Vec<&str> = got.claims.iter().map(|c| c.lease.target.as_str()).collect();
    assert_eq!(names, ["east0", "east1", "east2", "east3"]);
    assert_eq!(got.run_state, RunState::Running);
    assert_eq!(got.open, 6);
    assert!(got.claims.iter().all(|c| c.attempts == 0
        && c.class_order.is_none()
        && c.retry_state.is_none()
        && c.previous.is_empty()
        && !c.taken_over
        && c.site.as_deref() == Some("east")));
    let got = store.claim(b, 4, 20, LEASE).await.unwrap();
    let names: Vec<&str> = got.claims.iter().map(|c| c.lease.target.as_str()).collect();
    assert_eq!(names, ["east4", "east5"], "b gets what a did not");
    assert!(store
        .claim(b, 4, 30, LEASE)
        .await
        .unwrap()
        .claims
        .is_empty());
    let got = store.claim(w, 100, 30, LEASE).await.unwrap();
    assert_eq!(got.claims.len(), 6);
    assert!(got
        .claims
        .iter()
        .all(|c| c.lease.target.starts_with("west")));
    let got = store.claim(hq, 100, 30, LEASE).await.unwrap();
    let names: Vec<&str> = got.claims.iter().map(|c| c.lease.target.as_str()).collect();
    assert_eq!(names, ["hq0"], "no site: only targets without a site");
    assert_eq!(
        store.queue_counts(run, 40).await.unwrap(),
        crate::QueueCounts {
            ready: 0,
            waiting: 0,
            claimed: 13,
            expired: 0,
            done: 0
        }
    );
    assert!(matches!(
        store.claim(9999, 1, 0, LEASE).await,
        Err(StoreError::NoSuchScanner(9999))
    ));
    assert!(matches!(
        store
            .create_run_with_sites(&[SiteTarget::at("x", "")], &json!({}), 1)
            .await,
        Err(StoreError::Location(_))
    ));
    store.close().await;
}

async fn an_expired_lease_is_taken_over_and_its_old_holder_refused(db: &TestDb) {
    let store = db.open().await;
    let run = store.create_run(&targets(2), &json!({}), 1).await.unwrap();
    let a = store.register_scanner(run, "a", None, 0).await.unwrap();
    let b = store.register_scanner(run, "b", None, 0).await.unwrap();
    let t0 = targets(1).remove(0);
    let mine = store.claim(a, 2, 0, LEASE).await.unwrap().claims;
    assert_eq!(mine.len(), 2);
    // a renews at 900: both leases run to 1900.
    let hb = store.heartbeat(a, 900, LEASE).await.unwrap();
    assert_eq!((hb.run_state, hb.renewed), (RunState::Running, 2));
    assert!(store
        .claim(b, 5, 1_500, LEASE)
        .await
        .unwrap()
        .claims
        .is_empty());
    assert!(store.expired_leases(run, 1_500).await.unwrap().is_empty());
    // a hangs (or was killed -9): at 2000 both leases have expired.
    let expired = store.expired_leases(run, 2_000).await.unwrap();
    assert_eq!(expired.len(), 2);
    assert_eq!(expired[0].scanner_name, "a");
    assert_eq!(expired[0].lease_until_ms, 1_900);
    assert_eq!(store.queue_counts(run, 2_000).await.unwrap().expired, 2);
    let taken = store.claim(b, 1, 2_000, LEASE).await.unwrap().claims;
    assert_eq!(taken.len(), 1);
    assert!(taken[0].taken_over);
    assert_eq!(taken[0].lease.target, t0);
    assert!(taken[0].lease.epoch > mine[0].lease.epoch);

    // a comes back: its lease on t0 is lost, whatever it tries.
    let lost = store.finish(&mine[0].lease, &result_with(&t0, &[1])).await;
    assert!(
        matches!(lost, Err(StoreError::LeaseLost { .. })),
        "{lost:?}"
    );
    let lost = store
        .requeue(
            &mine[0].lease,
            &attempt(1, Status::RpcServerUnavailable, &[]),
            &[],
            0,
            &json!({}),
        )
        .await;
    assert!(
        matches!(lost, Err(StoreError::LeaseLost { .. })),
        "{lost:?}"
    );
    // ... but its other lease, expired and not taken over, is still its own: a
    // heartbeat renews it and it may finish it.
    assert_eq!(store.heartbeat(a, 2_100, LEASE).await.unwrap().renewed, 1);
    assert_eq!(
        store
            .finish(&mine[1].lease, &result_with(&mine[1].lease.target, &[1]))
            .await
            .unwrap(),
        Finished::Recorded
    );

    // b finishes t0; the same call again (a retry after a lost answer) writes nothing.
    let r = result_with(&t0, &[1]);
    assert_eq!(
        store.finish(&taken[0].lease, &r).await.unwrap(),
        Finished::Recorded
    );
    assert_eq!(
        store.finish(&taken[0].lease, &r).await.unwrap(),
        Finished::AlreadyRecorded
    );
    assert_eq!(
        store
            .test_scalar("SELECT COUNT(*) FROM computers WHERE run_id = $1", run)
            .await,
        2
    );
    assert_eq!(
        store
            .test_scalar("SELECT COUNT(*) FROM attempts WHERE run_id = $1", run)
            .await,
        2
    );
    assert_eq!(
        store.attempt_scanners(run, &t0).await.unwrap(),
        vec![(1, Some(b))]
    );
    let sc = store.scanners(run).await.unwrap();
    assert_eq!(sc.len(), 2);
    assert_eq!(
        (sc[0].name.as_str(), sc[0].finished, sc[0].claimed),
        ("a", 1, 0)
    );
    assert_eq!(
        (sc[1].name.as_str(), sc[1].finished, sc[1].claimed),
        ("b", 1, 0)
    );
    assert_eq!(sc[0].heartbeat_ms, 2_100);
    assert!(store.complete_if_done(run, 3_000).await.unwrap());
    assert_eq!(
        store.run(run).await.unwrap().unwrap().state,
        RunState::Completed
    );
    store.close().await;
}

async fn a_requeued_target_waits_for_its_retry_time_and_keeps_its_attempts(db: &TestDb) {
    let store = db.open().await;
    let run = store.create_run(&targets(1), &json!({}), 1).await.unwrap();
    let t = targets(1).remove(0);
    let a = store.register_scanner(run, "a", None, 0).await.unwrap();
    let b = store.register_scanner(run, "b", None, 0).await.unwrap();
    let c = store.claim(a, 1, 0, LEASE).await.unwrap().claims.remove(0);
    let first = attempt(
        1,
        Status::RpcServerUnavailable,
        &["Win32_BIOS", "Win32_OperatingSystem"],
    );
    let next_order = vec![
        "Win32_OperatingSystem".to_string(),
        "Win32_BIOS".to_string(),
    ];
    let state = json!({"remembered_credential": 1, "collected": ["Win32_BIOS"]});
    store
        .requeue(&c.lease, &first, &next_order, 10_000, &state)
        .await
        .unwrap();
    // Idempotent: the same requeue again (lost answer) is fine and changes nothing.
    store
        .requeue(&c.lease, &first, &next_order, 10_000, &state)
        .await
        .unwrap();
    // Not before its retry time, for anyone.
    let early = store.claim(b, 5, 9_999, LEASE).await.unwrap();
    assert!(early.claims.is_empty());
    assert_eq!(early.open, 1);
    assert_eq!(early.next_ready_ms, Some(10_000));
    let counts = store.queue_counts(run, 9_999).await.unwrap();
    assert_eq!((counts.waiting, counts.ready), (1, 0));
    // At its time another scanner takes it, with what the first attempt left.
    let again = store
        .claim(b, 5, 10_000, LEASE)
        .await
        .unwrap()
        .claims
        .remove(0);
    assert_eq!(again.attempts, 1);
    assert_eq!(again.class_order.as_deref(), Some(&next_order[..]));
    assert_eq!(again.retry_state, Some(state));
    assert_eq!(again.previous, vec![first.clone()]);
    assert!(!again.taken_over);
    // The old lease can no longer requeue or finish.
    assert!(matches!(
        store.finish(&c.lease, &result_with(&t, &[1, 2])).await,
        Err(StoreError::LeaseLost { .. })
    ));
    // b's result lists only its own attempt: the first one joins from the queue.
    let mut fin = inventoried(&t, 2);
    fin.attempts[0].number = 2;
    assert_eq!(
        store.finish(&again.lease, &fin).await.unwrap(),
        Finished::Recorded
    );
    let back = store.computer(run, &t).await.unwrap().unwrap();
    assert_eq!(back.attempts.len(), 2);
    assert_eq!(back.attempts[0], first);
    assert_eq!(back.attempts[1], fin.attempts[0]);
    assert_eq!(
        store.attempt_scanners(run, &t).await.unwrap(),
        vec![(1, Some(a)), (2, Some(b))]
    );
    let sc = store.scanners(run).await.unwrap();
    assert_eq!((sc[0].attempts, sc[1].attempts), (1, 1));
    assert_eq!(
        store
            .test_scalar("SELECT COUNT(*) FROM work_attempts WHERE run_id = $1", run)
            .await,
        0,
        "moved into attempts"
    );
    store.close().await;
}

async fn a_stopped_run_stops_every_scanner(db: &TestDb) {
    let store = db.open().await;
    let run = store.create_run(&targets(5), &json!({}), 1).await.unwrap();
    let a = store.register_scanner(run, "a", None, 0).await.unwrap();
    let held = store.claim(a, 2, 0, LEASE).await.unwrap().claims;
    store.stop_run(run, 50).await.unwrap();
    let hb = store.heartbeat(a, 60, LEASE).await.unwrap();
    assert_eq!(hb.run_state, RunState::Stopped);
    let got = store.claim(a, 5, 70, LEASE).await.unwrap();
    assert_eq!(got.run_state, RunState::Stopped);
    assert!(got.claims.is_empty());
    assert!(matches!(
        store.register_scanner(run, "late", None, 80).await,
        Err(StoreError::RunNotRunning {
            state: RunState::Stopped,
            ..
        })
    ));
    // What it was doing may still be recorded: an interrupted computer goes back to
    // the queue for a resume.
    let mut stopped = failed(&held[0].lease.target, Status::InventoryNotCompleted);
    stopped.failure = None;
    assert_eq!(
        store.finish(&held[0].lease, &stopped).await.unwrap(),
        Finished::Recorded
    );
    assert_eq!(store.leave(a, 90).await.unwrap(), 1);
    let counts = store.queue_counts(run, 100).await.unwrap();
    assert_eq!((counts.ready, counts.claimed, counts.done), (5, 0, 0));
    assert!(matches!(
        store.claim(a, 1, 100, LEASE).await,
        Err(StoreError::ScannerLeft(_))
    ));
    assert!(!store.complete_if_done(run, 100).await.unwrap());
    store.close().await;
}

async fn a_directly_saved_computer_is_not_handed_out(db: &TestDb) {
    // One process saving without leases (today's `scan`) and the queue agree.
    let store = db.open().await;
    let t = targets(3);
    let run = store.create_run(&t, &json!({}), 1).await.unwrap();
    store
        .save_computer(run, &inventoried(&t[1], 1))
        .await
        .unwrap();
    let a = store.register_scanner(run, "a", None, 0).await.unwrap();
    let got = store.claim(a, 10, 0, LEASE).await.unwrap();
    let names: Vec<&str> = got.claims.iter().map(|c| c.lease.target.as_str()).collect();
    assert_eq!(names, [t[0].as_str(), t[2].as_str()]);
    // A final result saved behind a lease's back wins; the lease finds it recorded.
    store
        .save_computer(run, &failed(&t[0], Status::AccessDenied))
        .await
        .unwrap();
    assert!(matches!(
        store
            .finish(&got.claims[0].lease, &result_with(&t[0], &[1]))
            .await,
        Err(StoreError::LeaseLost { .. }) | Ok(Finished::AlreadyRecorded)
    ));
    assert_eq!(
        store
            .test_scalar("SELECT COUNT(*) FROM computers WHERE run_id = $1", run)
            .await,
        2
    );
    store.close().await;
}

async fn a_site_connection_budget_holds_across_scanners(db: &TestDb) {
    let one = db.open().await;
    let two = db.open().await;
    let run = one.create_run(&targets(1), &json!({}), 1).await.unwrap();
    let mut granted = 0;
    for i in 0..8 {
        let s = if i % 2 == 0 { &one } else { &two };
        if s.take_connection_slot(run, Some("branch"), 5, 7_000 + i)
            .await
            .unwrap()
            .is_none()
        {
            granted += 1;
        }
    }
    assert_eq!(granted, 5);
    assert_eq!(
        two.take_connection_slot(run, Some("branch"), 5, 7_999)
            .await
            .unwrap(),
        Some(8_000)
    );
    // Another site has its own budget; the next second refills.
    assert_eq!(
        one.take_connection_slot(run, None, 5, 7_999).await.unwrap(),
        None
    );
    assert_eq!(
        one.take_connection_slot(run, Some("branch"), 5, 8_000)
            .await
            .unwrap(),
        None
    );
    one.close().await;
    two.close().await;
}

/// Scanners (each with its own connections, as separate processes have) claim the
/// same run at once; one of them dies holding leases. Every target ends with exactly
/// one final row, none was held by two scanners at once, the dead one's were taken
/// over, and retry-class first attempts were retried by whoever claimed them next.
async fn concurrent_scanners_share_a_run_without_doubles(db: &TestDb) {
    const N: usize = 240;
    const SCANNERS: usize = 4;
    const LEASE_MS: i64 = 2_000;
    let first = db.open().await;
    let list = targets(N);
    let run = first.create_run(&list, &json!({}), 1).await.unwrap();

    // The doomed scanner claims 10 and dies (no heartbeat, no leave).
    let doomed = first
        .register_scanner(run, "doomed", None, now_ms())
        .await
        .unwrap();
    let dead: Vec<String> = first
        .claim(doomed, 10, now_ms(), LEASE_MS)
        .await
        .unwrap()
        .claims
        .into_iter()
        .map(|c| c.lease.target)
        .collect();
    assert_eq!(dead.len(), 10);

    // Who holds what: a target claimed while someone else holds it is a failure.
    let holding: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..SCANNERS {
        let store = db.open().await;
        let holding = holding.clone();
        tasks.spawn(async move {
            let me = store
                .register_scanner(run, &format!("s{k}"), None, now_ms())
                .await
                .unwrap();
            let mut finished = Vec::new();
            loop {
                let batch = store.claim(me, 5, now_ms(), LEASE_MS).await.unwrap();
                if batch.claims.is_empty() {
                    if batch.open == 0 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                for c in batch.claims {
                    let t = c.lease.target.clone();
                    if let Some(other) = holding.lock().unwrap().insert(t.clone(), k) {
                        panic!("{t} claimed by s{k} while s{other} held it");
                    }
                    let idx: usize = t[2..5].parse().unwrap();
                    tokio::task::yield_now().await;
                    holding.lock().unwrap().remove(&t);
                    if idx.is_multiple_of(3) && c.attempts == 0 {
                        // A retry-class first attempt: back to the queue, ready at once.
                        store
                            .requeue(
                                &c.lease,
                                &attempt(1, Status::RpcServerUnavailable, &["a"]),
                                &["a".into()],
                                now_ms(),
                                &json!(null),
                            )
                            .await
                            .unwrap();
                        continue;
                    }
                    match store
                        .finish(&c.lease, &result_with(&t, &[c.attempts + 1]))
                        .await
                        .unwrap()
                    {
                        Finished::Recorded => finished.push(t),
                        Finished::AlreadyRecorded => panic!("first finish of {t}"),
                    }
                    // A scanner renews its leases while it works.
                    store.heartbeat(me, now_ms(), LEASE_MS).await.unwrap();
                }
            }
            store.leave(me, now_ms()).await.unwrap();
            store.close().await;
            finished
        });
    }
    let mut all = Vec::new();
    while let Some(res) = tasks.join_next().await {
        all.extend(res.unwrap());
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), N, "every target finished once");
    assert_eq!(unique.len(), N);
    for t in &dead {
        assert!(unique.contains(t), "{t} of the dead scanner was taken over");
    }
    let s = first.summary(run).await.unwrap();
    assert_eq!(s.finished, N);
    assert_eq!(
        first
            .test_scalar("SELECT COUNT(*) FROM computers WHERE run_id = $1", run)
            .await,
        i64::try_from(N).unwrap()
    );
    // Retried targets have two attempts, the others one; none more.
    assert_eq!(
        first
            .test_scalar("SELECT COUNT(*) FROM attempts WHERE run_id = $1", run)
            .await,
        i64::try_from(N + N.div_ceil(3)).unwrap()
    );
    assert_eq!(
        first
            .test_scalar(
                "SELECT COUNT(*) FROM attempts WHERE run_id = $1 AND scanner_id IS NULL",
                run
            )
            .await,
        0
    );
    let sc = first.scanners(run).await.unwrap();
    assert_eq!(sc.len(), SCANNERS + 1);
    assert_eq!(sc[0].finished, 0, "the dead scanner finished nothing");
    assert_eq!(sc.iter().map(|s| s.finished).sum::<u64>(), N as u64);
    assert!(first.complete_if_done(run, now_ms()).await.unwrap());
    first.close().await;
}

/// The lockout ledger: an unproven account's places are shared by every scanner of the
/// run, refusals from any scanner add up to the retirement, a place of a scanner that
/// stopped heartbeating counts as a refusal, and an acceptance anywhere lifts the cap.
async fn the_lockout_ledger_holds_the_limit_across_scanners(db: &TestDb) {
    use winv_engine::guard::Verdict::{Accepted, Refused, Unknown};
    use winv_engine::work::LedgerAnswer::{Go, Proven, Retired, Wait};
    const NEW: &str = "LAB\\svc-new";
    const GOOD: &str = "LAB\\inventory";
    let store = db.open().await;
    let run = store.create_run(&targets(8), &json!({}), 1).await.unwrap();
    let a = store.register_scanner(run, "a", None, 0).await.unwrap();
    let b = store.register_scanner(run, "b", None, 0).await.unwrap();
    let c = store.register_scanner(run, "c", None, 0).await.unwrap();
    let t = |i: u32| format!("host{i}");
    let admit = |s, acc, i, now| {
        let store = store.clone();
        async move { store.ledger_admit(s, acc, &t(i), 3, now, LEASE).await.unwrap() }
    };
    let report = |s, acc, i, v| {
        let store = store.clone();
        async move { store.ledger_report(s, acc, &t(i), v, 3).await.unwrap() }
    };
    // Three places in all, whichever scanner holds them: the fourth waits.
    assert_eq!(admit(a, NEW, 0, 10).await, Go);
    assert_eq!(admit(b, NEW, 1, 10).await, Go);
    assert_eq!(admit(a, NEW, 2, 10).await, Go);
    assert_eq!(admit(c, NEW, 3, 10).await, Wait);
    // Asking again for a target whose place is held renews it: no second place.
    assert_eq!(admit(a, NEW, 2, 10).await, Go);
    // A refusal on b spends its place; the same report again counts nothing twice.
    assert_eq!(report(b, NEW, 1, Refused).await, None);
    assert_eq!(admit(c, NEW, 3, 20).await, Wait);
    assert_eq!(report(b, NEW, 1, Refused).await, None);
    // Unknown verdicts give places back: one refusal, nothing held.
    assert_eq!(report(a, NEW, 0, Unknown).await, None);
    assert_eq!(report(a, NEW, 2, Unknown).await, None);
    assert_eq!(admit(c, NEW, 3, 30).await, Go);
    // b takes a place and then is killed: it never heartbeats again.
    assert_eq!(admit(b, NEW, 4, 40).await, Go);
    store.heartbeat(a, 4_500, LEASE).await.unwrap();
    store.heartbeat(c, 4_500, LEASE).await.unwrap();
    // Past b's lease its place counts as a refusal: 2 refusals + c's place = the limit.
    assert_eq!(admit(a, NEW, 5, 5_000).await, Wait);
    // c's refusal is the third: the account is retired for every scanner.
    assert_eq!(report(c, NEW, 3, Refused).await, Some(3));
    let retired = Retired { refusals: 3, now: false };
    assert_eq!(admit(a, NEW, 6, 5_100).await, retired);
    assert_eq!(admit(c, NEW, 7, 5_100).await, retired);
    // Dead scanners' places alone can retire an account, in the call that counts them.
    const OTHER: &str = "LAB\\svc-other";
    for i in 0..3 {
        assert_eq!(admit(b, OTHER, i, 5_100).await, Go);
    }
    assert_eq!(
        admit(a, OTHER, 4, 5_100 + 2 * LEASE).await,
        Retired { refusals: 3, now: true }
    );
    // Another account accepted on a: proven for c too, and a refusal after that is
    // another domain's computer, which counts nothing.
    assert_eq!(admit(a, GOOD, 0, 5_200).await, Go);
    assert_eq!(admit(c, GOOD, 1, 5_200).await, Go);
    assert_eq!(report(a, GOOD, 0, Accepted).await, None);
    assert_eq!(admit(c, GOOD, 7, 5_300).await, Proven);
    assert_eq!(report(c, GOOD, 1, Refused).await, None);
    assert_eq!(admit(a, GOOD, 6, 5_300).await, Proven);
}

on_both!(
    claims_hand_out_each_target_once_in_order_and_by_site,
    the_lockout_ledger_holds_the_limit_across_scanners,
    an_expired_lease_is_taken_over_and_its_old_holder_refused,
    a_requeued_target_waits_for_its_retry_time_and_keeps_its_attempts,
    a_stopped_run_stops_every_scanner,
    a_directly_saved_computer_is_not_handed_out,
    a_site_connection_budget_holds_across_scanners,
    concurrent_scanners_share_a_run_without_doubles,
);

// -- PostgreSQL only: the server goes away -------------------------------------------

fn patient() -> RetryPolicy {
    RetryPolicy {
        tries: 40,
        first_pause: Duration::from_millis(100),
        max_pause: Duration::from_millis(500),
    }
}

/// The server restarts in the middle of a run: the scanners' calls wait and go on,
/// nothing is lost or written twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_restart_mid_run_loses_and_duplicates_nothing() {
    const N: usize = 150;
    let Some(db) = TestDb::postgres() else {
        return;
    };
    let Some(server) = db.server() else {
        return;
    };
    let first = db.open().await.with_retry(patient());
    let run = first.create_run(&targets(N), &json!({}), 1).await.unwrap();
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..3 {
        let store = db.open().await.with_retry(patient());
        let done = done.clone();
        tasks.spawn(async move {
            let me = store
                .register_scanner(run, &format!("s{k}"), None, now_ms())
                .await
                .unwrap();
            let mut finished = Vec::new();
            loop {
                let batch = store.claim(me, 3, now_ms(), 1_500).await.unwrap();
                if batch.claims.is_empty() {
                    if batch.open == 0 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                for c in batch.claims {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    let t = c.lease.target.clone();
                    match store
                        .finish(&c.lease, &result_with(&t, &[c.attempts + 1]))
                        .await
                    {
                        Ok(Finished::Recorded) => {
                            finished.push(t);
                            done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        // The commit went through before the connection broke.
                        Ok(Finished::AlreadyRecorded) => finished.push(t),
                        // Taken over after an expiry during the outage.
                        Err(StoreError::LeaseLost { .. }) => {}
                        Err(e) => panic!("{t}: {e}"),
                    }
                }
            }
            store.close().await;
            finished
        });
    }
    // Restart once a third is done.
    while done.load(std::sync::atomic::Ordering::Relaxed) < N / 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.stop().unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    server.start_again().unwrap();
    let mut all = Vec::new();
    while let Some(res) = tasks.join_next().await {
        all.extend(res.unwrap());
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), N, "every target finished");
    assert_eq!(
        first
            .test_scalar("SELECT COUNT(*) FROM computers WHERE run_id = $1", run)
            .await,
        i64::try_from(N).unwrap()
    );
    assert_eq!(
        first
            .test_scalar("SELECT COUNT(*) FROM attempts WHERE run_id = $1", run)
            .await,
        i64::try_from(N).unwrap(),
        "no attempt written twice"
    );
    first.close().await;
}

/// A server that stays away: bounded retries, then a clear error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_that_stays_down_is_a_clear_error_after_bounded_retries() {
    let Some(db) = TestDb::postgres() else {
        return;
    };
    let store = db.open().await.with_retry(RetryPolicy {
        tries: 3,
        first_pause: Duration::from_millis(50),
        max_pause: Duration::from_millis(100),
    });
    let run = store.create_run(&targets(2), &json!({}), 1).await.unwrap();
    db.server().unwrap().stop().unwrap();
    let started = std::time::Instant::now();
    let e = store.run(run).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(
        matches!(e, StoreError::Unavailable { tries: 3, .. }),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.starts_with("database unavailable after 3 tries (read run)"),
        "{text}"
    );
    store.close().await;
}

/// Passwords: from the file, never from the URL, never in an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passwords_come_from_a_private_file_and_never_show() {
    let Some(db) = TestDb::postgres() else {
        return;
    };
    let server = db.server().unwrap();
    let url = std::path::PathBuf::from(server.url("postgres"));
    // The right password from a private file works.
    let ok = Store::open_with(&url, &db.auth(), true).await.unwrap();
    ok.close().await;
    // A wrong one is an authentication error that does not show it.
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("pw");
    std::fs::write(&wrong, "Wr0ngButS3cret\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
    let e = Store::open_with(
        &url,
        &crate::DbAuth {
            password_file: Some(wrong.clone()),
        },
        true,
    )
    .await
    .unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(!text.contains("Wr0ngButS3cret"), "{text}");
    // The password in the URL is refused before any connection.
    let in_url = std::path::PathBuf::from(format!(
        "postgres://{}:{}@127.0.0.1:{}/postgres",
        winv_testsuite::pg::USER,
        server.password(),
        server.port()
    ));
    let e = Store::open_with(&in_url, &db.auth(), true)
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Location(_)), "{e:?}");
    assert!(!e.to_string().contains(server.password()));
    // A file others can read is refused.
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o640)).unwrap();
    let e = Store::open_with(
        &url,
        &crate::DbAuth {
            password_file: Some(wrong),
        },
        true,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, StoreError::PasswordFile { .. }), "{e:?}");
}

/// `sslmode` in the URL is honoured: the test server has no TLS, so `require`
/// fails and `disable` works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_tls_follows_the_url() {
    let Some(db) = TestDb::postgres() else {
        return;
    };
    let server = db.server().unwrap();
    let base = server.url("postgres");
    let e = Store::open_with(
        std::path::Path::new(&format!("{base}?sslmode=require")),
        &db.auth(),
        true,
    )
    .await
    .unwrap_err();
    let text = e.to_string().to_ascii_lowercase();
    assert!(text.contains("tls") || text.contains("ssl"), "{text}");
    Store::open_with(
        std::path::Path::new(&format!("{base}?sslmode=disable")),
        &db.auth(),
        true,
    )
    .await
    .unwrap()
    .close()
    .await;
}
