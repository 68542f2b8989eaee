//! The engine collects MAP's assessment scenarios from simulated hosts over loopback
//! (127.0.67.x): the profiles `standard,sql,roles,virtualization,licensing` give exactly
//! what the simulator's data module generates; a host without SQL Server, a client
//! without `Win32_ServerFeature` and a machine without `root\virtualization\v2` end
//! `inventoried` with those items not present; access denied on one namespace is that
//! item's failure.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use serde_json::Value as Json;
use tokio::sync::{mpsc, watch};
use winv_client::{Credentials, Deadlines, WmiOptions};
use winv_engine::{
    ClassOutcome, ComputerResult, Credential, Engine, EngineOptions, Event, Item, Profile, Status,
};
use winv_sim::data::host::HostData;
use winv_sim::fleet::Fleet;
use winv_sim::registry::{RegValue, HKEY_LOCAL_MACHINE};
use winv_sim::server::{ListenOptions, SimServer};

const PW_ENV: &str = "WINV_ENGINE_SCENARIO_PASSWORD";
const PASSWORD: &str = "Engine-Scen-Pw0rd!";
const SEED: u64 = 4;
const PROFILES: &str = "standard,sql,roles,virtualization,licensing";
const DENIED: &str = "{ kind = \"wmi_access_denied\", namespace = 'root\\virtualization\\v2' }";

fn fleet(hosts: &[(IpAddr, &str, &str)]) -> Fleet {
    let mut text = format!(
        "[defaults]\nuser = \"LAB\\\\admin\"\npassword_env = \"{PW_ENV}\"\nseed = {SEED}\nname_pattern = \"H{{a}}\"\n"
    );
    for (a, profile, faults) in hosts {
        text.push_str(&format!(
            "\n[[host]]\naddress = \"{a}\"\nprofile = \"{profile}\"\nfaults = [{faults}]\n"
        ));
    }
    Fleet::parse(&text).unwrap()
}

fn profile() -> Profile {
    Profile::combine(
        PROFILES
            .split(',')
            .map(|n| Profile::builtin(n).unwrap())
            .collect(),
    )
    .unwrap()
}

/// The hosts: a SQL Server host, a server without SQL Server that is no Hyper-V host, a
/// Windows 11 client, and a Hyper-V host whose virtualization namespace refuses us.
struct Chosen {
    sql: IpAddr,
    plain: IpAddr,
    client: IpAddr,
    hyperv_denied: IpAddr,
    hosts: Vec<(IpAddr, &'static str, &'static str)>,
}

fn choose() -> Chosen {
    let candidates: Vec<IpAddr> = (1..=60).map(|i| IpAddr::from([127, 0, 67, i])).collect();
    let f = fleet(
        &candidates
            .iter()
            .map(|a| (*a, "server-2022", ""))
            .collect::<Vec<_>>(),
    );
    let datas: Vec<(IpAddr, HostData)> = candidates
        .iter()
        .map(|a| (*a, f.host(*a).unwrap().data()))
        .collect();
    let sql = datas.iter().find(|(_, d)| !d.scenario.sql.is_empty()).unwrap().0;
    let plain = datas
        .iter()
        .find(|(_, d)| d.scenario.sql.is_empty() && d.scenario.guests.is_empty())
        .unwrap()
        .0;
    let hyperv_denied = datas
        .iter()
        .find(|(a, d)| !d.scenario.guests.is_empty() && *a != sql)
        .unwrap()
        .0;
    // A client without SQL Server (most are).
    let client = (200..=230)
        .map(|i| IpAddr::from([127, 0, 67, i]))
        .find(|a| {
            fleet(&[(*a, "windows-11", "")])
                .host(*a)
                .unwrap()
                .data()
                .scenario
                .sql
                .is_empty()
        })
        .unwrap();
    let hosts = vec![
        (sql, "server-2022", ""),
        (plain, "server-2022", ""),
        (client, "windows-11", ""),
        (hyperv_denied, "server-2022", DENIED),
    ];
    Chosen {
        sql,
        plain,
        client,
        hyperv_denied,
        hosts,
    }
}

fn options(sim: &SimServer) -> EngineOptions {
    EngineOptions {
        concurrency: 8,
        connections_per_second: 0.0,
        max_attempts: 2,
        watchdog: Duration::from_secs(20),
        retry_delay: Duration::ZERO,
        attempt_budget: winv_engine::ATTEMPT_BUDGET,
        result_memory: winv_engine::RESULT_MEMORY,
        lockout_guard: winv_engine::LOCKOUT_GUARD,
        client: WmiOptions {
            epm_port: sim.epm_port,
            deadlines: Deadlines {
                connect: Duration::from_secs(2),
                read: Duration::from_secs(5),
                call: Duration::from_secs(5),
            },
            ..WmiOptions::default()
        },
    }
}

async fn scan(engine: &Engine, targets: Vec<String>) -> HashMap<String, ComputerResult> {
    let (tx, mut rx) = mpsc::channel(64);
    let (_stop_tx, stop_rx) = watch::channel(false);
    let e = engine.clone();
    let run = tokio::spawn(async move { e.run(targets, tx, stop_rx).await });
    let mut results = HashMap::new();
    while let Some(ev) = rx.recv().await {
        if let Event::Finished(r) = ev {
            assert!(results.insert(r.target.clone(), *r).is_none());
        }
    }
    run.await.unwrap();
    results
}

fn outcome(r: &ComputerResult, item: &str) -> ClassOutcome {
    r.classes
        .iter()
        .find(|c| c.class == item)
        .unwrap_or_else(|| panic!("{}: no record of {item}", r.target))
        .outcome
}

/// Classes whose values move with the time of the query: compared by row count only.
const MOVING: &[&str] = &["Win32_OperatingSystem"];

/// Every row the engine stored for `item` equals the simulator's answer to the same WQL
/// in the same namespace, property by property.
fn assert_same_as_simulated(r: &ComputerResult, data: &HostData, item: &Item, namespace: &str) {
    let Item::Wmi { class, wql, .. } = item else {
        return;
    };
    let want = winv_sim::wql::exec_query(data, namespace, "WQL", wql).unwrap();
    let got = r
        .inventory
        .class(class)
        .unwrap_or_else(|| panic!("{}: {class} not stored", r.target));
    assert_eq!(got.len(), want.len(), "{}: {class} rows", r.target);
    if MOVING.contains(&class.as_str()) {
        return;
    }
    for (g, w) in got.iter().zip(&want) {
        for p in &w.class.properties {
            let v = w.get(&p.name).map_or(Json::Null, winv_wmio::value_to_json);
            assert_eq!(g[&p.name], v, "{}: {class}.{}", r.target, p.name);
        }
    }
}

fn reg_json(v: Option<&RegValue>) -> Json {
    match v {
        None => Json::Null,
        Some(RegValue::Sz(s) | RegValue::ExpandSz(s)) => Json::from(s.clone()),
        Some(RegValue::Dword(d)) => Json::from(*d),
        Some(other) => panic!("unexpected registry value {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scenario_profiles_collect_exactly_the_simulated_data_and_absence_is_not_present() {
    let chosen = choose();
    let fl = fleet(&chosen.hosts);
    std::env::set_var(PW_ENV, PASSWORD);
    let sim = SimServer::start(
        fl.clone(),
        ListenOptions {
            epm_port: 0,
            dynamic_port: 0,
            ..ListenOptions::default()
        },
    )
    .await
    .unwrap();
    let profile = profile();
    let engine = Engine::new(
        options(&sim),
        vec![Credential {
            account: "LAB\\admin".into(),
            creds: Credentials::with_password("admin", "LAB", PASSWORD),
            mechanism: None,
        }],
        profile.clone(),
        None,
    );
    let targets: Vec<String> = chosen.hosts.iter().map(|h| h.0.to_string()).collect();
    let results = scan(&engine, targets).await;
    let get = |a: IpAddr| &results[&a.to_string()];
    let data = |a: IpAddr| fl.host(a).unwrap().data();

    // The SQL Server host: the newest ComputerManagementNN namespace, the registry table.
    let r = get(chosen.sql);
    let d = data(chosen.sql);
    assert_eq!(r.status, Status::Inventoried, "{:?}", r.classes);
    let newest = d.scenario.sql.iter().map(|i| i.version.1).max().unwrap();
    let used = format!("root\\Microsoft\\SqlServer\\ComputerManagement{newest}");
    for class in ["SqlService", "SqlServiceAdvancedProperty"] {
        let c = r.classes.iter().find(|c| c.class == class).unwrap();
        assert_eq!(c.outcome, ClassOutcome::Collected);
        assert!(c.namespace.eq_ignore_ascii_case(&used), "{} {used}", c.namespace);
        assert!(c.rows > 0, "{class}");
    }
    let rows = r.inventory.class("registry:sql-instances").unwrap();
    assert_eq!(rows.len(), d.scenario.sql.len());
    let list = r"SOFTWARE\Microsoft\Microsoft SQL Server\Instance Names\SQL";
    for inst in &d.scenario.sql {
        let row = rows.iter().find(|x| x["name"] == inst.name.as_str()).unwrap();
        assert_eq!(row["data"], inst.id.as_str());
        assert_eq!(
            row["data"],
            reg_json(d.registry.value(HKEY_LOCAL_MACHINE, list, &inst.name))
        );
        let setup = format!(r"SOFTWARE\Microsoft\Microsoft SQL Server\{}\Setup", inst.id);
        for v in ["Edition", "Version", "PatchLevel", "SP"] {
            let want = reg_json(d.registry.value(HKEY_LOCAL_MACHINE, &setup, v));
            assert_ne!(want, Json::Null, "{setup} {v} is simulated");
            assert_eq!(row[v], want, "{} {v}", inst.name);
        }
    }

    // Every host: each collected WMI item equals the simulator's data.
    for (addr, _, _) in &chosen.hosts {
        let r = get(*addr);
        let d = data(*addr);
        for item in profile.collection() {
            let c = r.classes.iter().find(|c| c.class == item.name()).unwrap();
            if c.outcome == ClassOutcome::Collected {
                assert_same_as_simulated(r, &d, &item, &c.namespace);
            }
        }
    }

    // A server without SQL Server: the SQL items are not present, the computer inventoried.
    let r = get(chosen.plain);
    assert_eq!(r.status, Status::Inventoried, "{:?}", r.classes);
    for item in [
        "SqlService",
        "SqlServiceAdvancedProperty",
        "registry:sql-instances",
        "Msvm_ComputerSystem",
    ] {
        assert_eq!(outcome(r, item), ClassOutcome::NotPresent, "{item}");
    }
    assert_eq!(outcome(r, "Win32_ServerFeature"), ClassOutcome::Collected);
    assert!(r.classes.iter().all(|c| c.error.is_none()));

    // A client: no Win32_ServerFeature class.
    let r = get(chosen.client);
    assert_eq!(r.status, Status::Inventoried, "{:?}", r.classes);
    assert_eq!(outcome(r, "Win32_ServerFeature"), ClassOutcome::NotPresent);
    assert_eq!(outcome(r, "Msvm_ComputerSystem"), ClassOutcome::NotPresent);

    // Access denied on root\virtualization\v2 only: that item failed, the rest collected.
    let r = get(chosen.hyperv_denied);
    assert_eq!(r.status, Status::InventoriedIncomplete, "{:?}", r.classes);
    let m = r.classes.iter().find(|c| c.class == "Msvm_ComputerSystem").unwrap();
    assert_eq!(m.outcome, ClassOutcome::Failed);
    assert_eq!(m.error.as_ref().unwrap().status, Status::AccessDenied);
    assert_eq!(outcome(r, "Win32_ServerFeature"), ClassOutcome::Collected);
    assert_eq!(outcome(r, "SoftwareLicensingProduct"), ClassOutcome::Collected);
    drop(sim);
}
