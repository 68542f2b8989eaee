#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{json, Value};
use winv_engine::{
    AttemptRecord, ClassInstances, ClassOutcome, ClassResult, ComputerResult, DeniedBy, Failure,
    Instance, Inventory, SoftwareRow, Status,
};
use winv_kb::{Category, Phase};
use winv_testsuite::pg::PgServer;

use crate::{DbAuth, RunState, Store, StoreError};

mod coord;
mod perf;
mod schema;
mod tables;

/// A database file under the temp dir, removed (with its WAL and shared-memory files)
/// on drop.
pub(crate) struct TempDb(PathBuf);

impl TempDb {
    fn new(name: &str) -> TempDb {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        TempDb(std::env::temp_dir().join(format!(
            "winv-store-{name}-{}-{}-{nanos}.db",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

fn failure(status: Status, stage: &str, code: Option<u32>, name: Option<&str>) -> Failure {
    Failure {
        status,
        stage: winv_engine::FailureStage::parse(stage).expect("a known stage"),
        phase: Phase::Connecting,
        category: Category::Connectivity,
        code,
        code_name: name.map(str::to_string),
        retry: status.is_retry_class(),
        denied_by: None,
        message: format!("{stage} failed"),
    }
}

fn targets(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("pc{i:03}.lab.example")).collect()
}

/// Realistic instances of the classes the report tables read, with the property names
/// and value forms of real Windows (and the simulator).
fn realistic_inventory(host: &str, services: usize) -> Inventory {
    let cs = json!({
        "__CLASS": "Win32_ComputerSystem", "Name": host.to_uppercase(), "Domain": "lab.example",
        "Manufacturer": "Dell Inc.", "Model": "PowerEdge R740", "TotalPhysicalMemory": 68_719_476_736u64,
        "NumberOfProcessors": 2, "UserName": null, "Roles": ["LM_Workstation", "LM_Server", "NT"],
    });
    let os = json!({
        "__CLASS": "Win32_OperatingSystem", "Caption": "Microsoft Windows Server 2019 Standard",
        "Version": "10.0.17763", "BuildNumber": "17763", "OSArchitecture": "64-bit",
        "CSDVersion": null, "InstallDate": "20210608000035.000000+060",
        "LastBootUpTime": "20240301101500.500000+060", "SerialNumber": "00429-70000-00000-AA123",
        "TotalVisibleMemorySize": 67_108_864u64,
    });
    let bios = json!({
        "__CLASS": "Win32_BIOS", "Manufacturer": "Dell Inc.", "SMBIOSBIOSVersion": "2.12.2",
        "Version": "DELL   - 1072009", "SerialNumber": "7XK2Q53",
    });
    let cpu = |id: &str| {
        json!({
            "__CLASS": "Win32_Processor", "DeviceID": id,
            "Name": "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz", "NumberOfCores": 20,
            "NumberOfLogicalProcessors": 40, "MaxClockSpeed": 2095,
        })
    };
    let enclosure = json!({
        "__CLASS": "Win32_SystemEnclosure", "ChassisTypes": [23], "SerialNumber": "7XK2Q53",
    });
    let hotfixes = vec![
        json!({"__CLASS": "Win32_QuickFixEngineering", "HotFixID": "KB5034127",
               "Description": "Security Update", "InstalledOn": "1/10/2024"}),
        json!({"__CLASS": "Win32_QuickFixEngineering", "HotFixID": "KB5033904",
               "Description": "Update", "InstalledOn": null}),
    ];
    let svc: Vec<Value> = (0..services)
        .map(|i| {
            json!({
                "__CLASS": "Win32_Service", "Name": format!("Svc{i}"),
                "DisplayName": format!("Service number {i}"),
                "State": if i % 3 == 0 { "Stopped" } else { "Running" },
                "StartMode": if i % 3 == 0 { "Manual" } else { "Auto" },
                "StartName": "LocalSystem", "ProcessId": i,
            })
        })
        .collect();
    let class = |name: &str, instances: Vec<Value>| ClassInstances {
        class: name.into(),
        namespace: "root\\cimv2".into(),
        instances: instances.into_iter().map(Instance::from).collect(),
    };
    Inventory {
        classes: vec![
            class("Win32_ComputerSystem", vec![cs]),
            class("Win32_OperatingSystem", vec![os]),
            class("Win32_BIOS", vec![bios]),
            class("Win32_Processor", vec![cpu("CPU0"), cpu("CPU1")]),
            class("Win32_SystemEnclosure", vec![enclosure]),
            class("Win32_QuickFixEngineering", hotfixes),
            class("Win32_Service", svc),
            class("Win32_PhysicalMemory", vec![]),
        ],
        software: vec![
            SoftwareRow {
                name: "7-Zip 23.01 (x64)".into(),
                version: Some("23.01".into()),
                publisher: Some("Igor Pavlov".into()),
                install_date: Some("20240102".into()),
                wow64: false,
            },
            SoftwareRow {
                name: "Legacy Agent".into(),
                version: None,
                publisher: None,
                install_date: None,
                wow64: true,
            },
        ],
        registry_values: vec![
            ("os-edition".into(), Some("ServerStandard".into())),
            ("product-id".into(), None),
        ],
    }
}

/// Sets `key` of a collected instance to `v`.
fn set(i: &mut Instance, key: &str, v: Value) {
    let mut o = i.value();
    o[key] = v;
    *i = Instance::new(&o);
}

fn class_results(names: &[&str], attempt: u32) -> Vec<ClassResult> {
    names
        .iter()
        .map(|c| ClassResult {
            class: (*c).into(),
            namespace: "root\\cimv2".into(),
            outcome: ClassOutcome::Collected,
            rows: 1,
            attempt,
            error: None,
        })
        .collect()
}

fn inventoried(target: &str, services: usize) -> ComputerResult {
    let inventory = realistic_inventory(target, services);
    let names: Vec<&str> = inventory.classes.iter().map(|c| c.class.as_str()).collect();
    ComputerResult {
        target: target.into(),
        address: Some("10.0.0.5".parse().unwrap()),
        status: Status::Inventoried,
        failure: None,
        attempts: vec![AttemptRecord {
            number: 1,
            started_ms: 1_700_000_000_000,
            duration_ms: 900,
            credential: Some("LAB\\admin".into()),
            class_order: names.iter().map(|s| s.to_string()).collect(),
            outcome: Status::Inventoried,
            failing_class: None,
            failure: None,
        }],
        credential: Some("LAB\\admin".into()),
        mechanism: None,
        classes: class_results(&names, 1),
        inventory,
        finished_ms: 1_700_000_001_000,
    }
}

fn failed(target: &str, status: Status) -> ComputerResult {
    let f = failure(status, "connect-135", Some(10060), Some("WSAETIMEDOUT"));
    ComputerResult {
        target: target.into(),
        address: None,
        status,
        failure: Some(f.clone()),
        attempts: vec![AttemptRecord {
            number: 1,
            started_ms: 1_700_000_000_000,
            duration_ms: 21_000,
            credential: None,
            class_order: vec!["Win32_BIOS".into()],
            outcome: status,
            failing_class: None,
            failure: Some(f),
        }],
        credential: None,
        mechanism: None,
        classes: Vec::new(),
        inventory: Inventory::default(),
        finished_ms: 1_700_000_021_000,
    }
}

/// A result with every field and every optional set, failures at every level.
fn full_result() -> ComputerResult {
    let access = Failure {
        status: Status::AccessDenied,
        stage: winv_engine::FailureStage::parse("login").expect("a known stage"),
        phase: Phase::Connecting,
        category: Category::Access,
        code: Some(0x8004_1003),
        code_name: Some("WBEM_E_ACCESS_DENIED".into()),
        retry: false,
        denied_by: Some(DeniedBy::WmiNamespace),
        message: "ntlmlogin root\\cimv2: WBEM_E_ACCESS_DENIED".into(),
    };
    let call_failed = Failure {
        status: Status::RpcCallFailed,
        stage: winv_engine::FailureStage::parse("query").expect("a known stage"),
        phase: Phase::Operation,
        category: Category::CoreWmi,
        code: Some(u32::MAX),
        code_name: Some("RPC_S_CALL_FAILED".into()),
        retry: true,
        denied_by: None,
        message: "call failed \"quoted\" 'text' ünïcode".into(),
    };
    let mut inventory = realistic_inventory("full", 5);
    set(
        &mut inventory.classes[0].instances[0],
        "Weird",
        json!({"nested": [1, 2.5, null, true, "x"], "big": u64::MAX, "neg": -5}),
    );
    ComputerResult {
        target: "full.lab.example".into(),
        address: Some(IpAddr::V6("fe80::1".parse().unwrap())),
        status: Status::InventoriedIncomplete,
        failure: Some(access.clone()),
        attempts: vec![
            AttemptRecord {
                number: 1,
                started_ms: -5,
                duration_ms: 12_345,
                credential: Some("LAB\\first".into()),
                class_order: vec!["Win32_BIOS".into(), "registry:software".into()],
                outcome: Status::RpcCallFailed,
                failing_class: Some("Win32_BIOS".into()),
                failure: Some(call_failed.clone()),
            },
            AttemptRecord {
                number: 2,
                started_ms: 1_700_000_000_000,
                duration_ms: 0,
                credential: Some("LAB\\admin".into()),
                class_order: vec!["registry:software".into(), "Win32_BIOS".into()],
                outcome: Status::InventoriedIncomplete,
                failing_class: None,
                failure: None,
            },
        ],
        credential: Some("LAB\\admin".into()),
        mechanism: Some("kerberos".into()),
        classes: vec![
            ClassResult {
                class: "Win32_BIOS".into(),
                namespace: "root\\cimv2".into(),
                outcome: ClassOutcome::Collected,
                rows: 1,
                attempt: 2,
                error: None,
            },
            ClassResult {
                class: "Win32_Service".into(),
                namespace: "root\\cimv2".into(),
                outcome: ClassOutcome::Failed,
                rows: 0,
                attempt: 2,
                error: Some(access),
            },
            ClassResult {
                class: "registry:software".into(),
                namespace: "root\\default".into(),
                outcome: ClassOutcome::TimedOut,
                rows: 17,
                attempt: 2,
                error: Some(call_failed),
            },
        ],
        inventory,
        finished_ms: 1_700_000_099_999,
    }
}

/// The database a test runs on: a SQLite file or a throwaway PostgreSQL server of its
/// own (`winv_testsuite::pg`). The same test functions run on both (see `on_both!`).
pub(crate) enum TestDb {
    Sqlite(TempDb),
    Postgres(PgServer),
}

impl TestDb {
    pub(crate) fn sqlite(name: &str) -> TestDb {
        TestDb::Sqlite(TempDb::new(name))
    }

    /// `None` (a message was printed) when PostgreSQL is not installed; under CI that
    /// is a failure.
    pub(crate) fn postgres() -> Option<TestDb> {
        match PgServer::start() {
            Ok(s) => s.map(TestDb::Postgres),
            Err(e) => panic!("cannot start the test postgres: {e:#}"),
        }
    }

    pub(crate) fn location(&self) -> PathBuf {
        match self {
            TestDb::Sqlite(f) => f.path().to_path_buf(),
            TestDb::Postgres(s) => PathBuf::from(s.url("postgres")),
        }
    }

    pub(crate) fn auth(&self) -> DbAuth {
        match self {
            TestDb::Sqlite(_) => DbAuth::default(),
            TestDb::Postgres(s) => DbAuth {
                password_file: Some(s.password_file().to_path_buf()),
            },
        }
    }

    pub(crate) fn server(&self) -> Option<&PgServer> {
        match self {
            TestDb::Sqlite(_) => None,
            TestDb::Postgres(s) => Some(s),
        }
    }

    pub(crate) async fn open(&self) -> Store {
        Store::open_with(&self.location(), &self.auth(), true)
            .await
            .unwrap()
    }
}

/// Runs each listed `async fn name(db: &TestDb)` as two tests, `on_sqlite::name` and
/// `on_postgres::name`.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = super::TestDb::sqlite(stringify!($name));
                    super::$name(&db).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(db) = super::TestDb::postgres() else {
                        return;
                    };
                    super::$name(&db).await;
                }
            )*
        }
    };
}
pub(crate) use on_both;

on_both!(
    a_full_result_round_trips,
    a_failed_computer_is_listed_with_its_failure_and_its_collected_rows,
    inventory_not_completed_is_replaced_with_its_rows,
    a_final_result_is_never_overwritten,
    pending_targets_keep_input_order_after_partial_saves,
    runs_are_created_found_and_finished,
    summary_counts_statuses_and_classes,
    computer_list_filters_agree_with_the_results,
    report_tables_are_filled_from_realistic_instances,
    two_hundred_concurrent_saves_all_land,
    two_stores_on_one_file_write_at_once,
    an_existing_file_reopens_with_its_data,
    a_newer_schema_is_refused,
    strings_with_nul_characters_are_saved,
    lists_longer_than_one_statement_round_trip,
    computers_saved_together_land_alone_when_one_cannot,
);

/// A list of more rows than one multi-row `INSERT` carries (services, raw instances) is
/// written in several statements, every row once and in its order.
async fn lists_longer_than_one_statement_round_trip(db: &TestDb) {
    let store = db.open().await;
    let t = "big.lab.example";
    let run = store
        .create_run(&[t.to_string()], &json!({}), 1)
        .await
        .unwrap();
    // 1,500 services: four statements of `services` and three of `instances`.
    let r = inventoried(t, 1_500);
    store.save_computer(run, &r).await.unwrap();
    assert_eq!(store.computer(run, t).await.unwrap().unwrap(), r);
    let rows = store
        .test_rows(
            "SELECT position, name FROM services WHERE run_id = $1 AND target = $2 ORDER BY position",
            run,
            Some(t),
        )
        .await;
    assert_eq!(rows.len(), 1_500);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.i("position"), i as i64);
        assert_eq!(row.s("name"), format!("Svc{i}"));
    }
    store.close().await;
}

/// Several results saved in one transaction: each lands with all its rows, one that
/// cannot be stored (its target already has a final result) is refused alone, and one
/// whose rows the database refuses half-way (a trigger here) leaves none of its rows.
async fn computers_saved_together_land_alone_when_one_cannot(db: &TestDb) {
    let store = db.open().await;
    let t = targets(5);
    let run = store.create_run(&t, &json!({}), 1).await.unwrap();
    store
        .save_computer(run, &failed(&t[2], Status::AccessDenied))
        .await
        .unwrap();
    if store.location().is_postgres() {
        store
            .test_execute(
                "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.name = 'Poison' THEN RAISE EXCEPTION 'poisoned row'; END IF; \
                 RETURN NEW; END $$",
            )
            .await;
        store
            .test_execute(
                "CREATE TRIGGER poison BEFORE INSERT ON services FOR EACH ROW \
                 EXECUTE FUNCTION poison()",
            )
            .await;
    } else {
        store
            .test_execute(
                "CREATE TRIGGER poison BEFORE INSERT ON services WHEN NEW.name = 'Poison' \
                 BEGIN SELECT RAISE(ABORT, 'poisoned row'); END",
            )
            .await;
    }
    let mut poisoned = inventoried(&t[4], 3);
    let svc = poisoned
        .inventory
        .classes
        .iter_mut()
        .find(|c| c.class == "Win32_Service")
        .unwrap();
    set(&mut svc.instances[1], "Name", json!("Poison"));
    let batch = vec![
        inventoried(&t[0], 3),
        failed(&t[1], Status::RpcServerUnavailable),
        inventoried(&t[2], 3),
        inventoried(&t[3], 3),
        poisoned,
    ];
    let each = store.save_computers(run, &batch).await.unwrap();
    assert_eq!(each.len(), 5);
    assert!(
        each[0].is_ok() && each[1].is_ok() && each[3].is_ok(),
        "{each:?}"
    );
    assert!(
        matches!(&each[2], Err(StoreError::AlreadyRecorded { target }) if *target == t[2]),
        "{each:?}"
    );
    assert!(each[4].is_err(), "{each:?}");
    for i in [0, 1, 3] {
        assert_eq!(store.computer(run, &t[i]).await.unwrap().unwrap(), batch[i]);
    }
    // The refused one kept its earlier result, and nothing of its own.
    let kept = store.computer(run, &t[2]).await.unwrap().unwrap();
    assert_eq!(kept.status, Status::AccessDenied);
    for i in [2, 4] {
        let rows = store
            .test_rows(
                "SELECT class FROM instances WHERE run_id = $1 AND target = $2",
                run,
                Some(&t[i]),
            )
            .await;
        assert!(rows.is_empty(), "{}", t[i]);
    }
    // The poisoned one was not stored at all: it is still to do.
    assert_eq!(store.computer(run, &t[4]).await.unwrap(), None);
    assert_eq!(
        store.pending_targets(run).await.unwrap(),
        vec![t[4].clone()]
    );
    // An empty batch is nothing to do.
    assert!(store.save_computers(run, &[]).await.unwrap().is_empty());
    // A run that does not exist refuses the whole batch.
    assert!(matches!(
        store.save_computers(run + 1, &batch[..1]).await,
        Err(StoreError::NoSuchRun(_))
    ));
    store.close().await;
}

/// A host may return strings with U+0000 in them: the result is saved on both backends
/// (exactly on SQLite; PostgreSQL text cannot hold U+0000, so it becomes U+FFFD there).
async fn strings_with_nul_characters_are_saved(db: &TestDb) {
    let store = db.open().await;
    let t = "nul.lab.example";
    let run = store
        .create_run(&[t.to_string()], &json!({}), 1)
        .await
        .unwrap();
    let mut r = inventoried(t, 2);
    r.inventory.software[0].name = "Bad\0Name".into();
    set(&mut r.inventory.classes[0].instances[0], "Model", json!("R7\u{0}40"));
    r.classes[0].class = "Win32_ComputerSystem".into();
    store.save_computer(run, &r).await.unwrap();
    let back = store.computer(run, t).await.unwrap().unwrap();
    if store.location().is_postgres() {
        assert_eq!(back.inventory.software[0].name, "Bad\u{FFFD}Name");
        assert_eq!(
            back.inventory.classes[0].instances[0].value()["Model"],
            "R7\u{FFFD}40"
        );
        assert_eq!(back.classes, r.classes);
    } else {
        assert_eq!(back, r);
    }
    store.close().await;
}

/// One row, each column as text.
type Cells = BTreeMap<String, Option<String>>;

trait CellsExt {
    fn os(&self, c: &str) -> Option<String>;
    fn s(&self, c: &str) -> String {
        self.os(c).unwrap_or_else(|| panic!("{c} is null"))
    }
    fn oi(&self, c: &str) -> Option<i64> {
        self.os(c).map(|v| v.parse().unwrap())
    }
    fn i(&self, c: &str) -> i64 {
        self.oi(c).unwrap_or_else(|| panic!("{c} is null"))
    }
}

impl CellsExt for Cells {
    fn os(&self, c: &str) -> Option<String> {
        self.get(c)
            .unwrap_or_else(|| panic!("no column {c}"))
            .clone()
    }
}

async fn one(store: &Store, sql: &str, run: i64, target: &str) -> Cells {
    let mut rows = store.test_rows(sql, run, Some(target)).await;
    assert_eq!(rows.len(), 1, "{sql}");
    rows.remove(0)
}

fn texts(rows: &[Cells], cols: &[&str]) -> Vec<Vec<Option<String>>> {
    rows.iter()
        .map(|r| cols.iter().map(|c| r.os(c)).collect())
        .collect()
}

async fn a_full_result_round_trips(db: &TestDb) {
    let store = db.open().await;
    let run = store
        .create_run(
            &["full.lab.example".into()],
            &json!({"profile": "default"}),
            1,
        )
        .await
        .unwrap();
    let r = full_result();
    store.save_computer(run, &r).await.unwrap();
    let back = store.computer(run, &r.target).await.unwrap().unwrap();
    assert_eq!(back, r);
    assert_eq!(store.computer(run, "other").await.unwrap(), None);
    assert_eq!(store.computer(run + 1, &r.target).await.unwrap(), None);

    let rows = store.computers(run).await.unwrap();
    assert_eq!(rows.len(), 1);
    let c = &rows[0];
    assert_eq!(c.status, Status::InventoriedIncomplete);
    assert_eq!(c.attempts, 2);
    assert_eq!(c.code, Some(0x8004_1003));
    assert_eq!(c.denied_by, Some(DeniedBy::WmiNamespace));
    assert_eq!(c.category, Some(Category::Access));
    assert_eq!(c.credential.as_deref(), Some("LAB\\admin"));
    assert_eq!(c.address, r.address);
    store.close().await;
}

async fn a_failed_computer_is_listed_with_its_failure_and_its_collected_rows(db: &TestDb) {
    let store = db.open().await;
    let run = store.create_run(&targets(2), &json!({}), 1).await.unwrap();
    let mut r = failed("pc000.lab.example", Status::AccessDenied);
    if let Some(f) = r.failure.as_mut() {
        f.denied_by = Some(DeniedBy::Dcom);
        f.code = Some(5);
        f.code_name = Some("ERROR_ACCESS_DENIED".into());
        f.category = Category::Access;
    }
    // A failed computer with partial raw data keeps it, and what it collected reaches
    // the report tables too.
    r.inventory = realistic_inventory("pc000", 3);
    store.save_computer(run, &r).await.unwrap();
    assert_eq!(store.computer(run, &r.target).await.unwrap().unwrap(), r);
    let rows = store.computers(run).await.unwrap();
    assert_eq!(rows.len(), 1);
    let c = &rows[0];
    assert_eq!(c.target, "pc000.lab.example");
    assert_eq!(c.status, Status::AccessDenied);
    assert_eq!(c.stage.as_deref(), Some("connect-135"));
    assert_eq!(c.phase, Some(Phase::Connecting));
    assert_eq!(c.code, Some(5));
    assert_eq!(c.code_name.as_deref(), Some("ERROR_ACCESS_DENIED"));
    assert_eq!(c.denied_by, Some(DeniedBy::Dcom));
    assert_eq!(c.message.as_deref(), Some("connect-135 failed"));
    assert_eq!(c.attempts, 1);
    assert_eq!(c.credential, None);
    assert_eq!(c.address, None);
    for (table, rows) in [
        ("hosts", 1),
        ("operating_systems", 1),
        ("hardware", 1),
        ("hotfixes", 2),
        ("services", 3),
        ("machines", 1),
    ] {
        let n = store
            .test_scalar(
                &format!("SELECT COUNT(*) FROM {table} WHERE run_id = $1"),
                run,
            )
            .await;
        assert_eq!(n, rows, "{table}");
    }
    assert_eq!(
        store
            .test_scalar("SELECT COUNT(*) FROM instances WHERE run_id = $1", run)
            .await,
        11
    );
    store.close().await;
}

async fn inventory_not_completed_is_replaced_with_its_rows(db: &TestDb) {
    let store = db.open().await;
    let run = store.create_run(&targets(1), &json!({}), 1).await.unwrap();
    let t = "pc000.lab.example";
    let mut stopped = inventoried(t, 7);
    stopped.status = Status::InventoryNotCompleted;
    stopped.attempts.push(AttemptRecord {
        number: 2,
        ..stopped.attempts[0].clone()
    });
    store.save_computer(run, &stopped).await.unwrap();
    assert_eq!(
        store.pending_targets(run).await.unwrap(),
        vec![t.to_string()]
    );

    let done = inventoried(t, 4);
    store.save_computer(run, &done).await.unwrap();
    assert_eq!(store.computer(run, t).await.unwrap().unwrap(), done);
    assert!(store.pending_targets(run).await.unwrap().is_empty());
    // None of the first result's rows is left.
    assert_eq!(
        store
            .test_scalar("SELECT COUNT(*) FROM computers WHERE run_id = $1", run)
            .await,
        1
    );
    assert_eq!(
        store
            .test_scalar("SELECT COUNT(*) FROM attempts WHERE run_id = $1", run)
            .await,
        1
    );
    assert_eq!(
        store
            .test_scalar("SELECT COUNT(*) FROM services WHERE run_id = $1", run)
            .await,
        4
    );
    assert_eq!(
        store
            .test_scalar("SELECT COUNT(*) FROM instances WHERE run_id = $1", run)
            .await,
        i64::try_from(
            done.inventory
                .classes
                .iter()
                .map(|c| c.instances.len())
                .sum::<usize>()
        )
        .unwrap()
    );
    store.close().await;
}

async fn a_final_result_is_never_overwritten(db: &TestDb) {
    let store = db.open().await;
    let run = store.create_run(&targets(1), &json!({}), 1).await.unwrap();
    let t = "pc000.lab.example";
    let first = failed(t, Status::ConnectionTimeout);
    store.save_computer(run, &first).await.unwrap();
    for again in [inventoried(t, 2), {
        let mut s = failed(t, Status::InventoryNotCompleted);
        s.failure = None;
        s
    }] {
        match store.save_computer(run, &again).await {
            Err(StoreError::AlreadyRecorded { target }) => assert_eq!(target, t),
            other => panic!("expected AlreadyRecorded, got {other:?}"),
        }
    }
    // The failed transaction left nothing behind.
    assert_eq!(store.computer(run, t).await.unwrap().unwrap(), first);
    assert_eq!(
        store
            .test_scalar("SELECT COUNT(*) FROM attempts WHERE run_id = $1", run)
            .await,
        1
    );
    assert_eq!(
        store
            .test_scalar("SELECT COUNT(*) FROM services WHERE run_id = $1", run)
            .await,
        0
    );
    // The same target in another run is another computer.
    let run2 = store.create_run(&targets(1), &json!({}), 2).await.unwrap();
    store.save_computer(run2, &inventoried(t, 2)).await.unwrap();
    // A run that does not exist.
    assert!(matches!(
        store.save_computer(run2 + 10, &first).await,
        Err(StoreError::NoSuchRun(_))
    ));
    store.close().await;
}

async fn pending_targets_keep_input_order_after_partial_saves(db: &TestDb) {
    let store = db.open().await;
    let mut list = vec!["zeta", "alpha", "mike", "bravo", "alpha", "yankee"]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    let run = store.create_run(&list, &json!({"x": 1}), 1).await.unwrap();
    assert_eq!(store.run_targets(run).await.unwrap(), list);
    list.remove(4); // the duplicate appears once
    assert_eq!(store.pending_targets(run).await.unwrap(), list);

    store
        .save_computer(run, &inventoried("mike", 1))
        .await
        .unwrap();
    store
        .save_computer(run, &failed("zeta", Status::MachineNotFound))
        .await
        .unwrap();
    let mut stopped = failed("bravo", Status::InventoryNotCompleted);
    stopped.failure = None;
    store.save_computer(run, &stopped).await.unwrap();
    assert_eq!(
        store.pending_targets(run).await.unwrap(),
        vec!["alpha", "bravo", "yankee"]
    );
    assert!(matches!(
        store.pending_targets(run + 1).await,
        Err(StoreError::NoSuchRun(_))
    ));
    store.close().await;
}

async fn runs_are_created_found_and_finished(db: &TestDb) {
    let store = db.open().await;
    assert_eq!(store.latest_run().await.unwrap(), None);
    assert_eq!(store.latest_resumable_run().await.unwrap(), None);
    let opts = json!({"profile": "default", "concurrency": 64, "credentials": ["LAB\\admin"]});
    let r1 = store.create_run(&targets(3), &opts, 100).await.unwrap();
    let r2 = store
        .create_run(&targets(2), &json!({}), 200)
        .await
        .unwrap();
    let info = store.run(r1).await.unwrap().unwrap();
    assert_eq!(info.options, opts);
    assert_eq!(info.targets, 3);
    assert_eq!(info.started_ms, 100);
    assert_eq!(info.state, RunState::Running);
    assert_eq!(info.finished_ms, None);
    assert_eq!(store.latest_run().await.unwrap().unwrap().id, r2);

    store
        .set_run_state(r1, RunState::Stopped, Some(150))
        .await
        .unwrap();
    store
        .set_run_state(r2, RunState::Completed, Some(250))
        .await
        .unwrap();
    let latest = store.latest_run().await.unwrap().unwrap();
    assert_eq!(
        (latest.id, latest.state, latest.finished_ms),
        (r2, RunState::Completed, Some(250))
    );
    assert_eq!(store.latest_resumable_run().await.unwrap().unwrap().id, r1);
    store
        .set_run_state(r1, RunState::Completed, Some(300))
        .await
        .unwrap();
    assert_eq!(store.latest_resumable_run().await.unwrap(), None);
    assert!(matches!(
        store.set_run_state(999, RunState::Completed, None).await,
        Err(StoreError::NoSuchRun(999))
    ));
    assert_eq!(store.run(999).await.unwrap(), None);
    for st in RunState::ALL {
        assert_eq!(st.as_str().parse::<RunState>().unwrap(), st);
        assert_eq!(serde_json::to_value(st).unwrap(), json!(st.as_str()));
    }
    assert!("done".parse::<RunState>().is_err());
    store.close().await;
}

async fn summary_counts_statuses_and_classes(db: &TestDb) {
    let store = db.open().await;
    let run = store.create_run(&targets(10), &json!({}), 1).await.unwrap();
    let t = targets(10);
    // 3 inventoried, 1 incomplete, 2 timeout, 1 access denied, 1 not completed; 2 pending.
    for target in &t[0..3] {
        store
            .save_computer(run, &inventoried(target, 1))
            .await
            .unwrap();
    }
    let mut inc = inventoried(&t[3], 1);
    inc.status = Status::InventoriedIncomplete;
    inc.classes[1].outcome = ClassOutcome::Failed;
    inc.classes[2].outcome = ClassOutcome::TimedOut;
    store.save_computer(run, &inc).await.unwrap();
    for target in &t[4..6] {
        store
            .save_computer(run, &failed(target, Status::ConnectionTimeout))
            .await
            .unwrap();
    }
    store
        .save_computer(run, &failed(&t[6], Status::AccessDenied))
        .await
        .unwrap();
    store
        .save_computer(run, &failed(&t[7], Status::InventoryNotCompleted))
        .await
        .unwrap();

    let s = store.summary(run).await.unwrap();
    assert_eq!(s.targets, 10);
    assert_eq!(s.finished, 7);
    assert_eq!(
        s.by_status,
        vec![
            (Status::Inventoried, 3),
            (Status::InventoriedIncomplete, 1),
            (Status::ConnectionTimeout, 2),
            (Status::AccessDenied, 1),
            (Status::InventoryNotCompleted, 1),
        ]
    );
    // Classes in profile order, counted over the 4 computers that got that far.
    let names: Vec<&str> = s.classes.iter().map(|c| c.class.as_str()).collect();
    assert_eq!(
        names,
        inc.inventory
            .classes
            .iter()
            .map(|c| c.class.as_str())
            .collect::<Vec<_>>()
    );
    let os = &s.classes[1];
    assert_eq!((os.collected, os.failed, os.timed_out), (3, 1, 0));
    let bios = &s.classes[2];
    assert_eq!((bios.collected, bios.failed, bios.timed_out), (3, 0, 1));
    assert_eq!(
        (
            s.classes[0].collected,
            s.classes[0].failed,
            s.classes[0].timed_out
        ),
        (4, 0, 0)
    );
    assert!(matches!(
        store.summary(run + 1).await,
        Err(StoreError::NoSuchRun(_))
    ));
    let counts = store.status_counts(run).await.unwrap();
    assert_eq!(
        (counts.finished, &counts.by_status),
        (s.finished, &s.by_status)
    );
    store.close().await;
}

/// The computer list's count and page agree with the filter applied to the saved
/// results by hand, for each filter that joins another table (software, OS, search by
/// host name) and combined; a program of another run matches nothing in this one.
async fn computer_list_filters_agree_with_the_results(db: &TestDb) {
    use crate::ComputerFilter;
    let store = db.open().await;
    let t = targets(12);
    let other = store.create_run(&t, &json!({}), 1).await.unwrap();
    let mut only_there = inventoried(&t[0], 0);
    only_there.inventory.software[0].name = "Only In The Other Run".into();
    store.save_computer(other, &only_there).await.unwrap();

    let run = store.create_run(&t, &json!({}), 2).await.unwrap();
    let mut saved = Vec::new();
    for (i, target) in t.iter().enumerate() {
        let r = if i % 4 == 3 {
            failed(target, Status::AccessDenied)
        } else {
            let mut r = inventoried(target, 0);
            if i % 2 == 0 {
                // Two rows of the same program (both registry views): one computer.
                let mut dup = r.inventory.software[0].clone();
                dup.name = "Visio".into();
                dup.wow64 = true;
                r.inventory.software.push(dup.clone());
                r.inventory.software.push(dup);
            }
            if i % 3 == 0 {
                set(
                    &mut r.inventory.classes[1].instances[0],
                    "Caption",
                    json!("Microsoft Windows 11 Pro"),
                );
            }
            if i % 5 == 0 {
                // A host name that is not the target's: found by the name only.
                set(
                    &mut r.inventory.classes[0].instances[0],
                    "Name",
                    json!(format!("FINANCE-{i}")),
                );
            }
            r
        };
        store.save_computer(run, &r).await.unwrap();
        saved.push(r);
    }
    let has = |r: &ComputerResult, name: &str| r.inventory.software.iter().any(|s| s.name == name);
    // A property of the first instance of a class, as saved.
    let prop = |r: &ComputerResult, class: &str, name: &str| {
        r.inventory
            .classes
            .iter()
            .find(|c| c.class == class)
            .and_then(|c| c.instances[0].value()[name].as_str().map(str::to_string))
    };
    let caption = |r: &ComputerResult| prop(r, "Win32_OperatingSystem", "Caption");
    let host_name =
        |r: &ComputerResult| prop(r, "Win32_ComputerSystem", "Name").unwrap_or_default();
    let win11 = "Microsoft Windows 11 Pro";
    let cases: Vec<(ComputerFilter, Vec<&str>)> = vec![
        (
            ComputerFilter {
                software: Some("Visio".into()),
                ..ComputerFilter::default()
            },
            saved
                .iter()
                .filter(|r| has(r, "Visio"))
                .map(|r| r.target.as_str())
                .collect(),
        ),
        (
            ComputerFilter {
                software: Some("Only In The Other Run".into()),
                ..ComputerFilter::default()
            },
            Vec::new(),
        ),
        (
            ComputerFilter {
                os: Some(win11.into()),
                ..ComputerFilter::default()
            },
            saved
                .iter()
                .filter(|r| caption(r).as_deref() == Some(win11))
                .map(|r| r.target.as_str())
                .collect(),
        ),
        (
            ComputerFilter {
                search: Some("finance".into()),
                ..ComputerFilter::default()
            },
            saved
                .iter()
                .filter(|r| host_name(r).starts_with("FINANCE"))
                .map(|r| r.target.as_str())
                .collect(),
        ),
        (
            ComputerFilter {
                search: Some("finance".into()),
                software: Some("Visio".into()),
                os: Some(win11.into()),
                ..ComputerFilter::default()
            },
            saved
                .iter()
                .filter(|r| host_name(r).starts_with("FINANCE") && has(r, "Visio"))
                .filter(|r| caption(r).as_deref() == Some(win11))
                .map(|r| r.target.as_str())
                .collect(),
        ),
    ];
    for (mut f, want) in cases {
        assert!(want.len() < t.len(), "{f:?}: a filter that filters");
        if f.software.as_deref() != Some("Only In The Other Run") {
            assert!(!want.is_empty(), "{f:?}: a filter that matches");
        }
        f.limit = 100;
        let (rows, total) = store.computer_list(run, &f).await.unwrap();
        let got: Vec<&str> = rows.iter().map(|r| r.target.as_str()).collect();
        assert_eq!((got, total), (want.clone(), want.len() as u64), "{f:?}");
        // A page of one row still counts every match.
        f.limit = 1;
        let (rows, total) = store.computer_list(run, &f).await.unwrap();
        assert_eq!(
            (rows.len(), total),
            (want.len().min(1), want.len() as u64),
            "{f:?}"
        );
    }
    store.close().await;
}

async fn report_tables_are_filled_from_realistic_instances(db: &TestDb) {
    let store = db.open().await;
    let run = store.create_run(&targets(2), &json!({}), 1).await.unwrap();
    let t = targets(2);
    store
        .save_computer(run, &inventoried(&t[0], 6))
        .await
        .unwrap();
    // Incomplete: no OS, BIOS or enclosure class, a processor without counts.
    let mut inc = inventoried(&t[1], 0);
    inc.status = Status::InventoriedIncomplete;
    inc.inventory.classes.retain(|c| {
        !matches!(
            c.class.as_str(),
            "Win32_OperatingSystem" | "Win32_BIOS" | "Win32_SystemEnclosure"
        )
    });
    for c in &mut inc.inventory.classes {
        if c.class == "Win32_Processor" {
            c.instances = vec![json!({"__CLASS": "Win32_Processor", "Name": null}).into()];
        }
    }
    inc.inventory.registry_values.clear();
    store.save_computer(run, &inc).await.unwrap();

    let host = one(
        &store,
        "SELECT * FROM hosts WHERE run_id = $1 AND target = $2",
        run,
        &t[0],
    )
    .await;
    assert_eq!(host.s("name"), "PC000.LAB.EXAMPLE");
    assert_eq!(host.s("domain"), "lab.example");
    assert_eq!(host.s("manufacturer"), "Dell Inc.");
    assert_eq!(host.s("model"), "PowerEdge R740");
    assert_eq!(host.i("total_physical_memory"), 68_719_476_736);

    let os = one(
        &store,
        "SELECT * FROM operating_systems WHERE run_id = $1 AND target = $2",
        run,
        &t[0],
    )
    .await;
    assert_eq!(os.s("caption"), "Microsoft Windows Server 2019 Standard");
    assert_eq!(os.s("version"), "10.0.17763");
    assert_eq!(os.s("build_number"), "17763");
    assert_eq!(os.s("architecture"), "64-bit");
    assert_eq!(os.os("service_pack"), None);
    assert_eq!(os.s("install_date"), "2021-06-08T00:00:35+01:00");
    assert_eq!(os.s("last_boot"), "2024-03-01T10:15:00+01:00");
    assert_eq!(os.s("serial_number"), "00429-70000-00000-AA123");
    assert_eq!(os.s("edition"), "ServerStandard");

    let hw = one(
        &store,
        "SELECT * FROM hardware WHERE run_id = $1 AND target = $2",
        run,
        &t[0],
    )
    .await;
    assert_eq!(hw.s("bios_manufacturer"), "Dell Inc.");
    assert_eq!(hw.s("bios_version"), "2.12.2");
    assert_eq!(hw.s("bios_serial"), "7XK2Q53");
    assert_eq!(
        hw.s("processor_name"),
        "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz"
    );
    assert_eq!(hw.i("processors"), 2);
    assert_eq!(hw.i("cores"), 40);
    assert_eq!(hw.i("logical_processors"), 80);
    assert_eq!(hw.s("chassis"), "Rack Mount Chassis");
    assert_eq!(hw.s("chassis_types"), "23");

    let fixes = texts(
        &store
            .test_rows(
                "SELECT hotfix_id, description, installed_on FROM hotfixes \
             WHERE run_id = $1 AND target = $2 ORDER BY position",
                run,
                Some(&t[0]),
            )
            .await,
        &["hotfix_id", "description", "installed_on"],
    );
    assert_eq!(
        fixes,
        vec![
            vec![
                Some("KB5034127".into()),
                Some("Security Update".into()),
                Some("1/10/2024".into())
            ],
            vec![Some("KB5033904".into()), Some("Update".into()), None],
        ]
    );
    let svc = texts(
        &store
            .test_rows(
                "SELECT name, display_name, state, start_mode, start_name FROM services \
                 WHERE run_id = $1 AND target = $2 ORDER BY position",
                run,
                Some(&t[0]),
            )
            .await,
        &["name", "display_name", "state", "start_mode", "start_name"],
    );
    assert_eq!(svc.len(), 6);
    assert_eq!(
        svc[1],
        ["Svc1", "Service number 1", "Running", "Auto", "LocalSystem"]
            .map(|s| Some(s.to_string()))
            .to_vec()
    );
    let sw = texts(
        &store
            .test_rows(
                "SELECT name, publisher, wow64 FROM installed_software WHERE run_id = $1 \
                 ORDER BY target, position",
                run,
                None,
            )
            .await,
        &["name", "publisher", "wow64"],
    );
    assert_eq!(sw.len(), 4);
    assert_eq!(
        sw[0],
        vec![
            Some("7-Zip 23.01 (x64)".into()),
            Some("Igor Pavlov".into()),
            Some("false".into())
        ]
    );
    assert_eq!(
        sw[1],
        vec![Some("Legacy Agent".into()), None, Some("true".into())]
    );

    // The incomplete computer: one row per report table, NULL where nothing was collected.
    let os2 = one(
        &store,
        "SELECT * FROM operating_systems WHERE run_id = $1 AND target = $2",
        run,
        &t[1],
    )
    .await;
    assert_eq!(os2.os("caption"), None);
    assert_eq!(os2.os("edition"), None);
    let hw2 = one(
        &store,
        "SELECT * FROM hardware WHERE run_id = $1 AND target = $2",
        run,
        &t[1],
    )
    .await;
    assert_eq!(hw2.os("bios_version"), None);
    assert_eq!(hw2.os("processor_name"), None);
    assert_eq!(hw2.oi("processors"), Some(1));
    assert_eq!(hw2.oi("cores"), None);
    assert_eq!(hw2.os("chassis"), None);
    assert_eq!(
        store
            .test_scalar("SELECT COUNT(*) FROM hosts WHERE run_id = $1", run)
            .await,
        2
    );
    // A plain-SQL report across tables.
    let joined = texts(
        &store
            .test_rows(
                "SELECT h.name, c.status FROM hosts h JOIN computers c ON c.id = h.computer_id \
                 WHERE h.run_id = $1 ORDER BY h.name",
                run,
                None,
            )
            .await,
        &["name", "status"],
    );
    assert_eq!(
        joined,
        vec![
            vec![Some("PC000.LAB.EXAMPLE".into()), Some("inventoried".into())],
            vec![
                Some("PC001.LAB.EXAMPLE".into()),
                Some("inventoried-incomplete".into())
            ],
        ]
    );
    store.close().await;
}

async fn two_hundred_concurrent_saves_all_land(db: &TestDb) {
    let store = db.open().await;
    let t = targets(200);
    let run = store.create_run(&t, &json!({}), 1).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, target) in t.iter().enumerate() {
        let writer = store.clone();
        let target = target.clone();
        tasks.spawn(async move {
            let r = if i % 4 == 0 {
                failed(&target, Status::RpcServerUnavailable)
            } else {
                inventoried(&target, 40)
            };
            writer.save_computer(run, &r).await
        });
        // Readers at the same time as the writers.
        if i % 50 == 0 {
            let reader = store.clone();
            tasks.spawn(async move { reader.summary(run).await.map(|_| ()) });
        }
    }
    while let Some(res) = tasks.join_next().await {
        res.unwrap().unwrap();
    }
    let s = store.summary(run).await.unwrap();
    assert_eq!(s.finished, 200);
    assert_eq!(
        s.by_status,
        vec![
            (Status::Inventoried, 150),
            (Status::RpcServerUnavailable, 50)
        ]
    );
    assert!(store.pending_targets(run).await.unwrap().is_empty());
    assert_eq!(
        store
            .test_scalar("SELECT COUNT(*) FROM services WHERE run_id = $1", run)
            .await,
        150 * 40
    );
    assert_eq!(store.computers(run).await.unwrap().len(), 200);
    store.close().await;
}

async fn two_stores_on_one_file_write_at_once(db: &TestDb) {
    // Two handles have two writer connections, as two scanner processes would.
    let a = db.open().await;
    let b = db.open().await;
    let t = targets(80);
    let run = a.create_run(&t, &json!({}), 1).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, target) in t.iter().enumerate() {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let target = target.clone();
        tasks.spawn(async move { store.save_computer(run, &inventoried(&target, 20)).await });
    }
    while let Some(res) = tasks.join_next().await {
        res.unwrap().unwrap();
    }
    assert_eq!(
        b.summary(run).await.unwrap().by_status,
        vec![(Status::Inventoried, 80)]
    );
    a.close().await;
    b.close().await;
}

async fn an_existing_file_reopens_with_its_data(db: &TestDb) {
    let store = db.open().await;
    let run = store
        .create_run(&targets(2), &json!({"a": 1}), 1)
        .await
        .unwrap();
    let r = inventoried("pc000.lab.example", 3);
    store.save_computer(run, &r).await.unwrap();
    store.close().await;

    let store = db.open().await;
    assert_eq!(store.latest_run().await.unwrap().unwrap().id, run);
    assert_eq!(store.computer(run, &r.target).await.unwrap().unwrap(), r);
    assert_eq!(
        store.pending_targets(run).await.unwrap(),
        vec!["pc001.lab.example"]
    );
    let run2 = store.create_run(&targets(1), &json!({}), 2).await.unwrap();
    assert!(run2 > run);
    store.close().await;
    let store = Store::open_with(&db.location(), &db.auth(), false)
        .await
        .unwrap();
    assert_eq!(store.latest_run().await.unwrap().unwrap().id, run2);
    store.close().await;
}

#[tokio::test]
async fn a_missing_file_is_not_created_by_open_existing() {
    let db = TempDb::new("missing");
    match Store::open_existing(db.path()).await {
        Err(e @ StoreError::NoDatabase { .. }) => {
            assert_eq!(
                e.to_string(),
                format!("no database at {}", db.path().display())
            );
        }
        other => panic!("expected NoDatabase, got {other:?}"),
    }
    assert!(!db.path().exists());
    // A directory that does not exist is an open error, not a panic.
    let nested = db.path().join("no/such/dir/x.db");
    assert!(matches!(
        Store::open(&nested).await,
        Err(StoreError::Open { .. })
    ));
}

#[tokio::test]
async fn a_garbage_file_is_a_clear_error() {
    for (i, content) in [
        b"this is not a database, just some text that is long enough to matter\n".repeat(40),
        (0..8192u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect(),
        // A SQLite header followed by garbage.
        {
            let mut v = b"SQLite format 3\0".to_vec();
            v.extend(std::iter::repeat_n(0xA5u8, 4096));
            v
        },
    ]
    .into_iter()
    .enumerate()
    {
        let db = TempDb::new(&format!("garbage{i}"));
        std::fs::write(db.path(), &content).unwrap();
        match Store::open(db.path()).await {
            Err(e @ StoreError::NotADatabase { .. }) => {
                assert!(
                    e.to_string().contains("is not a winventory database"),
                    "{e}"
                );
            }
            other => panic!("case {i}: expected NotADatabase, got {other:?}"),
        }
        // The file is left as it was.
        assert_eq!(std::fs::read(db.path()).unwrap(), content, "case {i}");
    }
}

async fn a_newer_schema_is_refused(db: &TestDb) {
    let store = db.open().await;
    let checksum = if store.location().is_postgres() {
        "'\\x00'::bytea"
    } else {
        "x'00'"
    };
    store
        .test_execute(&format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
             execution_time) VALUES (99, 'from the future', TRUE, {checksum}, 0)"
        ))
        .await;
    store.close().await;
    let newest = crate::store::migrators()[0]
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap();
    match Store::open_with(&db.location(), &db.auth(), true).await {
        Err(
            e @ StoreError::NewerSchema {
                found: 99, known, ..
            },
        ) if known == newest => {
            assert!(
                e.to_string().contains("newer than this winventory knows"),
                "{e}"
            );
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
}
