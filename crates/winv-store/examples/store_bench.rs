//! Store benchmark (not a test; `benches/store_bench.sh` runs it): one scanner claims and
//! finishes N realistic computers through the shared-run API on SQLite and on a
//! throwaway PostgreSQL (`winv_testsuite::pg`, loopback), in the same session.
//! Prints per backend: claim and finish (commit) latency per computer (median, p99),
//! computers per second, and database bytes per computer.
//!
//! `cargo run --release -p winv-store --example store_bench -- [N=2000] [SERVICES=150]`

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;
use winv_engine::{
    AttemptRecord, ClassInstances, ClassOutcome, ClassResult, ComputerResult, Inventory,
    SoftwareRow, Status,
};
use winv_store::{DbAuth, Store};

fn computer(target: &str, services: usize) -> ComputerResult {
    let mut classes = vec![
        ("Win32_ComputerSystem", vec![json!({"Name": target, "Domain": "lab.example",
            "Manufacturer": "Dell Inc.", "Model": "PowerEdge R740", "TotalPhysicalMemory": 68_719_476_736u64})]),
        ("Win32_OperatingSystem", vec![json!({"Caption": "Microsoft Windows Server 2019 Standard",
            "Version": "10.0.17763", "BuildNumber": "17763", "OSArchitecture": "64-bit",
            "InstallDate": "20210608000035.000000+060", "LastBootUpTime": "20240301101500.500000+060",
            "SerialNumber": "00429-70000-00000-AA123"})]),
        ("Win32_BIOS", vec![json!({"Manufacturer": "Dell Inc.", "SMBIOSBIOSVersion": "2.12.2", "SerialNumber": "7XK2Q53"})]),
        ("Win32_Processor", (0..2).map(|i| json!({"DeviceID": format!("CPU{i}"),
            "Name": "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz", "NumberOfCores": 20, "NumberOfLogicalProcessors": 40})).collect()),
        ("Win32_SystemEnclosure", vec![json!({"ChassisTypes": [23]})]),
        ("Win32_QuickFixEngineering", (0..30).map(|i| json!({"HotFixID": format!("KB50{i:05}"),
            "Description": "Security Update", "InstalledOn": "1/10/2024"})).collect()),
        ("Win32_Service", (0..services).map(|i| json!({"Name": format!("Svc{i}"),
            "DisplayName": format!("Service number {i}"), "State": "Running", "StartMode": "Auto",
            "StartName": "LocalSystem", "ProcessId": i})).collect()),
    ];
    let names: Vec<String> = classes.iter().map(|(c, _)| c.to_string()).collect();
    let inventory = Inventory {
        classes: classes
            .drain(..)
            .map(|(c, i)| ClassInstances {
                class: c.into(),
                namespace: "root\\cimv2".into(),
                instances: i.into_iter().map(Into::into).collect(),
            })
            .collect(),
        software: (0..60)
            .map(|i| SoftwareRow {
                name: format!("Program {i}"),
                version: Some("1.2.3".into()),
                publisher: Some("Vendor".into()),
                install_date: Some("20240102".into()),
                wow64: i % 2 == 0,
            })
            .collect(),
        registry_values: vec![("os-edition".into(), Some("ServerStandard".into()))],
    };
    ComputerResult {
        target: target.into(),
        address: Some("10.0.0.5".parse().expect("address")),
        status: Status::Inventoried,
        failure: None,
        attempts: vec![AttemptRecord {
            number: 1,
            started_ms: 1,
            duration_ms: 900,
            credential: Some("LAB\\admin".into()),
            class_order: names.clone(),
            outcome: Status::Inventoried,
            failing_class: None,
            failure: None,
        }],
        credential: Some("LAB\\admin".into()),
        mechanism: Some("ntlm".into()),
        classes: names
            .iter()
            .map(|c| ClassResult {
                class: c.clone(),
                namespace: "root\\cimv2".into(),
                outcome: ClassOutcome::Collected,
                rows: 1,
                attempt: 1,
                error: None,
            })
            .collect(),
        inventory,
        finished_ms: 2,
    }
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

async fn bench(name: &str, store: Store, n: usize, services: usize) {
    let targets: Vec<String> = (0..n).map(|i| format!("pc{i:05}.lab.example")).collect();
    let before = store.size_bytes().await.expect("size");
    let run = store
        .create_run(&targets, &json!({}), 1)
        .await
        .expect("run");
    let me = store
        .register_scanner(run, "bench", None, 0)
        .await
        .expect("scanner");
    let (mut claims, mut finishes) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let started = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        let mut batch = store.claim(me, 1, i as i64, 60_000).await.expect("claim");
        claims.push(t.elapsed());
        let c = batch.claims.pop().expect("a target");
        let r = computer(&c.lease.target, services);
        let t = Instant::now();
        store.finish(&c.lease, &r).await.expect("finish");
        finishes.push(t.elapsed());
    }
    let wall = started.elapsed().as_secs_f64();
    store.close().await;
    let store = reopen(name).await;
    let after = store.size_bytes().await.expect("size");
    store.close().await;
    println!(
        "{name:<10} n={n} services={services}  claim p50 {:.2} ms p99 {:.2} ms  finish p50 {:.2} ms p99 {:.2} ms  {:.0} computers/s  {:.1} KiB/computer",
        pct(&mut claims, 0.5),
        pct(&mut claims, 0.99),
        pct(&mut finishes, 0.5),
        pct(&mut finishes, 0.99),
        n as f64 / wall,
        after.saturating_sub(before) as f64 / n as f64 / 1024.0
    );
}

static LOCATIONS: std::sync::Mutex<Vec<(String, PathBuf, DbAuth)>> =
    std::sync::Mutex::new(Vec::new());

async fn reopen(name: &str) -> Store {
    let (path, auth) = {
        let l = LOCATIONS.lock().expect("lock");
        let (_, p, a) = l.iter().find(|(n, _, _)| n == name).expect("known");
        (p.clone(), a.clone())
    };
    Store::open_with(&path, &auth, false).await.expect("reopen")
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let services: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(150);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bench.db");
    LOCATIONS
        .lock()
        .expect("lock")
        .push(("sqlite".into(), file.clone(), DbAuth::default()));
    bench(
        "sqlite",
        Store::open(&file).await.expect("open"),
        n,
        services,
    )
    .await;
    let Some(server) = winv_testsuite::pg::PgServer::start().expect("postgres") else {
        return;
    };
    let url = PathBuf::from(server.url("postgres"));
    let auth = DbAuth {
        password_file: Some(server.password_file().to_path_buf()),
    };
    LOCATIONS
        .lock()
        .expect("lock")
        .push(("postgres".into(), url.clone(), auth.clone()));
    let store = Store::open_with(&url, &auth, true).await.expect("open");
    bench("postgres", store, n, services).await;
}
