//! Performance time series (`perf.rs`, `perf_queries.rs`): runs, their machines and
//! samples. Every test runs on SQLite and on a throwaway PostgreSQL.

use serde_json::json;
use winv_engine::perf::{MachineSample, RawSample};

use super::{on_both, TestDb};
use crate::{PerfSampleRow, PerfTargetState, RunState, StoredMetrics};

/// An ok sample of `target` at `slot` whose CPU counter is `v`.
fn sample(target: &str, slot: i64, v: u64) -> PerfSampleRow {
    PerfSampleRow {
        target: target.into(),
        slot,
        sampled_ms: 1000 + slot,
        ok: true,
        raw: MachineSample {
            cpu: Some(RawSample {
                value: v,
                perf_time: u64::MAX - 1, // u64 beyond i64 survives the JSON
                perf_freq: 10_000_000,
                sys_100ns: 133_000_000_000_000_000,
            }),
            total_memory: Some(u64::MAX),
            ..MachineSample::default()
        },
        metrics: StoredMetrics {
            cpu_percent: Some(12.5 + v as f64 / 3.0),
            memory_percent: Some(0.1 + 0.2),
            disk_transfers_per_sec: None,
            network_bytes_per_sec: Some(1e300),
        },
        errors: None,
    }
}

/// A slot that failed (`why`), as the sampler stores it.
fn failed(target: &str, slot: i64, why: &str) -> PerfSampleRow {
    PerfSampleRow {
        ok: false,
        raw: MachineSample::default(),
        metrics: StoredMetrics::default(),
        errors: Some(why.into()),
        ..sample(target, slot, 0)
    }
}

/// `s` as the backend stores it: PostgreSQL text cannot hold U+0000.
fn stored(db: &TestDb, s: &str) -> String {
    if db.server().is_some() {
        s.replace('\0', "\u{FFFD}")
    } else {
        s.to_string()
    }
}

async fn samples_are_stored_once_per_slot_and_read_back(db: &TestDb) {
    let store = db.open().await;
    let targets = vec!["a".to_string(), "b".to_string(), "A".to_string()];
    let id = store
        .create_perf_run(&targets, 60_000, 30, &json!({"interval_ms": 60_000}), 5)
        .await
        .unwrap();
    let run = store.latest_resumable_perf_run().await.unwrap().unwrap();
    assert_eq!((run.id, run.ends_ms()), (id, 5 + 60_000 * 30));
    assert_eq!(
        (run.state, run.targets, run.finished_ms),
        (RunState::Running, 3, None)
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&run.options).unwrap(),
        json!({"interval_ms": 60_000})
    );
    assert!(store
        .insert_perf_sample(id, &sample("a", 0, 1))
        .await
        .unwrap());
    assert!(store
        .insert_perf_sample(id, &sample("a", 1, 2))
        .await
        .unwrap());
    // The same slot again with another sample (a resume): not stored twice, the first
    // value kept.
    assert!(!store
        .insert_perf_sample(id, &sample("a", 1, 99))
        .await
        .unwrap());
    // The very same sample again (a retried call whose first try was stored): stored.
    assert!(store
        .insert_perf_sample(id, &sample("a", 1, 2))
        .await
        .unwrap());
    let rows = store.perf_samples(id, Some("a")).await.unwrap();
    assert_eq!(rows, vec![sample("a", 0, 1), sample("a", 1, 2)]);
    // A failed slot after it: stored, but not what rates continue from.
    assert!(store
        .insert_perf_sample(id, &failed("a", 2, "timed out"))
        .await
        .unwrap());
    assert!(!store
        .insert_perf_sample(id, &sample("a", 2, 5))
        .await
        .unwrap());
    let last = store.last_perf_samples(id).await.unwrap();
    assert_eq!(last, vec![sample("a", 1, 2)]);
    let rows = store.perf_samples(id, Some("a")).await.unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[2], failed("a", 2, "timed out"));
    store
        .set_perf_target(
            id,
            "b",
            PerfTargetState::NotResponding,
            Some("rpc-server-unavailable"),
            Some("x"),
            7,
        )
        .await
        .unwrap();
    store
        .set_perf_total_memory(id, "a", 17_179_869_184)
        .await
        .unwrap();
    let t = store.perf_targets(id).await.unwrap();
    assert_eq!(t.len(), 2, "a target listed twice is sampled once");
    assert_eq!(
        (
            t[0].target.as_str(),
            t[0].samples,
            t[0].state,
            t[0].total_memory
        ),
        ("a", 2, PerfTargetState::Pending, Some(17_179_869_184))
    );
    assert_eq!(
        (
            t[1].state,
            t[1].status.as_deref(),
            t[1].message.as_deref(),
            t[1].changed_ms,
            t[1].samples
        ),
        (
            PerfTargetState::NotResponding,
            Some("rpc-server-unavailable"),
            Some("x"),
            Some(7),
            0
        )
    );
    store
        .set_perf_run_state(id, RunState::Completed, Some(9))
        .await
        .unwrap();
    assert!(store.latest_resumable_perf_run().await.unwrap().is_none());
    let done = store.perf_run(id).await.unwrap().unwrap();
    assert_eq!(
        (done.state, done.finished_ms),
        (RunState::Completed, Some(9))
    );
    store.close().await;
}

/// Runs: the newest resumable one skips completed runs, the newest one does not; a
/// missing id is `None`.
async fn the_resumable_run_is_the_newest_unfinished_one(db: &TestDb) {
    let store = db.open().await;
    assert!(store.latest_perf_run().await.unwrap().is_none());
    assert!(store.latest_resumable_perf_run().await.unwrap().is_none());
    let t = vec!["h".to_string()];
    let first = store
        .create_perf_run(&t, 1_000, 4, &json!({}), 100)
        .await
        .unwrap();
    let second = store
        .create_perf_run(&t, 2_000, 8, &json!({}), 200)
        .await
        .unwrap();
    assert!(second > first);
    assert!(store.perf_run(second + 1).await.unwrap().is_none());
    store
        .set_perf_run_state(first, RunState::Stopped, None)
        .await
        .unwrap();
    assert_eq!(
        store.latest_resumable_perf_run().await.unwrap().unwrap().id,
        second
    );
    store
        .set_perf_run_state(second, RunState::Completed, Some(16_200))
        .await
        .unwrap();
    // The stopped one resumes; the newest is still the completed one.
    let resumable = store.latest_resumable_perf_run().await.unwrap().unwrap();
    assert_eq!(
        (
            resumable.id,
            resumable.state,
            resumable.interval_ms,
            resumable.slots
        ),
        (first, RunState::Stopped, 1_000, 4)
    );
    let latest = store.latest_perf_run().await.unwrap().unwrap();
    assert_eq!(
        (latest.id, latest.state, latest.started_ms, latest.ends_ms()),
        (second, RunState::Completed, 200, 200 + 2_000 * 8)
    );
    // Samples belong to their run.
    assert!(store
        .insert_perf_sample(first, &sample("h", 0, 1))
        .await
        .unwrap());
    assert!(store
        .insert_perf_sample(second, &sample("h", 0, 2))
        .await
        .unwrap());
    assert_eq!(
        store.perf_samples(first, None).await.unwrap(),
        vec![sample("h", 0, 1)]
    );
    assert_eq!(store.perf_targets(second).await.unwrap()[0].samples, 1);
    store.close().await;
}

/// Machines keep their input order; samples read by target then slot whatever order
/// they were stored in; each machine's last ok sample is its highest ok slot, and a
/// machine with failed slots only has none.
async fn targets_and_samples_read_back_in_order(db: &TestDb) {
    let store = db.open().await;
    let targets: Vec<String> = ["zeta", "alpha", "Mid", "beta"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let id = store
        .create_perf_run(&targets, 500, 10, &json!({}), 0)
        .await
        .unwrap();
    let order: Vec<String> = store
        .perf_targets(id)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.target)
        .collect();
    assert_eq!(order, targets);
    // Stored out of order, across machines.
    let plan = [
        ("zeta", 3, true),
        ("alpha", 1, true),
        ("zeta", 0, true),
        ("alpha", 0, true),
        ("Mid", 2, false),
        ("zeta", 5, false),
        ("alpha", 4, true),
        ("zeta", 1, true),
        ("Mid", 0, false),
    ];
    for (t, slot, ok) in plan {
        let row = if ok {
            sample(t, slot, u64::try_from(slot).unwrap() * 10)
        } else {
            failed(t, slot, "access denied")
        };
        assert!(store.insert_perf_sample(id, &row).await.unwrap());
    }
    let all = store.perf_samples(id, None).await.unwrap();
    let keys: Vec<(&str, i64, bool)> = all
        .iter()
        .map(|s| (s.target.as_str(), s.slot, s.ok))
        .collect();
    let mut want: Vec<(&str, i64, bool)> = plan.to_vec();
    want.sort_by(|a, b| (a.0.as_bytes(), a.1).cmp(&(b.0.as_bytes(), b.1)));
    assert_eq!(keys, want);
    assert_eq!(keys[0].0, "Mid", "byte order: upper case first");
    let zeta: Vec<i64> = store
        .perf_samples(id, Some("zeta"))
        .await
        .unwrap()
        .iter()
        .map(|s| s.slot)
        .collect();
    assert_eq!(zeta, vec![0, 1, 3, 5]);
    assert!(store
        .perf_samples(id, Some("beta"))
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .perf_samples(id, Some("ZETA"))
        .await
        .unwrap()
        .is_empty());
    let last = store.last_perf_samples(id).await.unwrap();
    assert_eq!(last, vec![sample("alpha", 4, 40), sample("zeta", 3, 30)]);
    let counts: Vec<(String, i64)> = store
        .perf_targets(id)
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.target, t.samples))
        .collect();
    assert_eq!(
        counts,
        vec![
            ("zeta".to_string(), 3),
            ("alpha".to_string(), 3),
            ("Mid".to_string(), 0),
            ("beta".to_string(), 0)
        ]
    );
    // A machine's memory beyond i64 is kept as the largest value the column holds.
    store
        .set_perf_total_memory(id, "beta", u64::MAX)
        .await
        .unwrap();
    let beta = &store.perf_targets(id).await.unwrap()[3];
    assert_eq!(beta.total_memory, Some(i64::MAX as u64));
    store.close().await;
}

/// A host's error text may hold U+0000: the slot and the machine's state are stored on
/// both backends (exactly on SQLite, U+FFFD for it on PostgreSQL).
async fn errors_with_nul_characters_are_stored(db: &TestDb) {
    let store = db.open().await;
    let id = store
        .create_perf_run(&["n".to_string()], 500, 10, &json!({"note": "a\0b"}), 0)
        .await
        .unwrap();
    let why = "Win32_PerfRawData_PerfOS_Memory: bad\0provider";
    assert!(store
        .insert_perf_sample(id, &failed("n", 0, why))
        .await
        .unwrap());
    let mut partial = sample("n", 1, 7);
    partial.errors = Some("disk: \0".into());
    assert!(store.insert_perf_sample(id, &partial).await.unwrap());
    store
        .set_perf_target(
            id,
            "n",
            PerfTargetState::NotResponding,
            Some("call-failed"),
            Some("reset\0by peer"),
            3,
        )
        .await
        .unwrap();
    let rows = store.perf_samples(id, Some("n")).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].errors.as_deref(), Some(stored(db, why).as_str()));
    assert_eq!(
        rows[1].errors.as_deref(),
        Some(stored(db, "disk: \0").as_str())
    );
    assert_eq!(rows[1].raw, partial.raw);
    let t = &store.perf_targets(id).await.unwrap()[0];
    assert_eq!(
        t.message.as_deref(),
        Some(stored(db, "reset\0by peer").as_str())
    );
    assert_eq!((t.state, t.samples), (PerfTargetState::NotResponding, 1));
    // The options are JSON text: U+0000 is escaped, so it round-trips on both.
    let run = store.perf_run(id).await.unwrap().unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&run.options).unwrap(),
        json!({"note": "a\0b"})
    );
    store.close().await;
}

on_both!(
    samples_are_stored_once_per_slot_and_read_back,
    the_resumable_run_is_the_newest_unfinished_one,
    targets_and_samples_read_back_in_order,
    errors_with_nul_characters_are_stored,
);
