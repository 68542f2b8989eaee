//! `winventory scan --profile standard,sql,roles,virtualization,licensing` against a
//! simulated fleet (`winventory sim` in its own process, 127.0.72.x): what lands in the
//! database is exactly what the simulator's data module generates for those hosts, the
//! items a host does not have read back as not present, and the report tables still fill.
//! Host names follow their addresses (`name_pattern`), so a host's data does not depend
//! on its place in the fleet.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use calamine::{open_workbook, Reader, Xlsx};
use serde_json::Value as Json;
use sqlx::Row;
use winv_engine::{ClassOutcome, ComputerResult, Item, Profile, Status};
use winv_sim::data::host::HostData;
use winv_sim::fleet::Fleet;
use winv_sim::registry::{RegValue, HKEY_LOCAL_MACHINE};
use winv_store::Store;
use winv_testsuite::cli::{http_get, start_serve, Killed};

const BIN: &str = env!("CARGO_BIN_EXE_winventory");
const PW_ENV: &str = "WINV_SCAN_SCEN_PW";
const PASSWORD: &str = "Scan-Scen-Pw0rd!";
const PROFILES: &str = "standard,sql,roles,virtualization,licensing";

fn fleet_text(hosts: &[(IpAddr, &str)]) -> String {
    let mut text =
        format!("[defaults]\nuser = \"LAB\\\\admin\"\npassword_env = \"{PW_ENV}\"\nseed = 11\nname_pattern = \"H{{a}}\"\n");
    for (a, profile) in hosts {
        text.push_str(&format!("\n[[host]]\naddress = \"{a}\"\nprofile = \"{profile}\"\n"));
    }
    text
}

fn data_of(text: &str, a: IpAddr) -> HostData {
    Fleet::parse(text).unwrap().host(a).unwrap().data()
}

fn value_json(v: Option<&RegValue>) -> Json {
    match v {
        None => Json::Null,
        Some(RegValue::Sz(s) | RegValue::ExpandSz(s)) => Json::from(s.clone()),
        Some(RegValue::Dword(d)) => Json::from(*d),
        Some(other) => panic!("unexpected registry value {other:?}"),
    }
}

/// Every stored row of every collected WMI item equals the simulator's answer.
fn assert_exactly_simulated(r: &ComputerResult, d: &HostData, profile: &Profile) {
    for item in profile.collection() {
        let c = r.classes.iter().find(|c| c.class == item.name()).unwrap();
        let Item::Wmi { class, wql, .. } = &item else {
            continue;
        };
        if c.outcome != ClassOutcome::Collected {
            continue;
        }
        let want = winv_sim::wql::exec_query(d, &c.namespace, "WQL", wql).unwrap();
        let got = r.inventory.class(class).unwrap();
        assert_eq!(got.len(), want.len(), "{}: {class}", r.target);
        // The time classes move between the scan and now.
        if class == "Win32_OperatingSystem" {
            continue;
        }
        for (g, w) in got.iter().zip(&want) {
            for p in &w.class.properties {
                let v = w.get(&p.name).map_or(Json::Null, winv_wmio::value_to_json);
                assert_eq!(g[&p.name], v, "{}: {class}.{}", r.target, p.name);
            }
        }
    }
}

#[test]
fn scan_with_the_scenario_profiles_stores_exactly_the_simulated_data() {
    // Candidates: servers until one with SQL Server, one without and a Hyper-V host are
    // found; and a client.
    let servers: Vec<IpAddr> = (1..=40).map(|i| IpAddr::from([127, 0, 72, i])).collect();
    let probe = fleet_text(&servers.iter().map(|a| (*a, "server-2022")).collect::<Vec<_>>());
    let datas: Vec<(IpAddr, HostData)> = servers.iter().map(|a| (*a, data_of(&probe, *a))).collect();
    let sql = datas.iter().find(|(_, d)| !d.scenario.sql.is_empty()).unwrap().0;
    let plain = datas
        .iter()
        .find(|(_, d)| d.scenario.sql.is_empty() && d.scenario.guests.is_empty())
        .unwrap()
        .0;
    let hyperv = datas
        .iter()
        .find(|(a, d)| !d.scenario.guests.is_empty() && *a != sql)
        .unwrap()
        .0;
    let client: IpAddr = "127.0.72.200".parse().unwrap();
    let mut hosts = vec![
        (sql, "server-2022"),
        (plain, "server-2022"),
        (hyperv, "server-2022"),
        (client, "windows-11"),
    ];
    hosts.dedup();
    let text = fleet_text(&hosts);

    let dir = std::env::temp_dir().join(format!("winv-scan-scen-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fleet = dir.join("fleet.toml");
    std::fs::write(&fleet, &text).unwrap();
    let mut child = Command::new(BIN)
        .args(["sim", "--fleet", fleet.to_str().unwrap(), "--port", "0"])
        .env(PW_ENV, PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _sim = Killed(child);
    let port: u16 = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("port="))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));

    let db: PathBuf = dir.join("inv.db");
    let mut args: Vec<String> = vec!["scan".into()];
    args.extend(hosts.iter().map(|h| h.0.to_string()));
    let out = Command::new(BIN)
        .args(&args)
        .args(["--profile", PROFILES, "--user", "LAB\\admin", "--password-env", PW_ENV])
        .arg("--db")
        .arg(&db)
        .args(["--port", &port.to_string(), "--json", "--rate", "0"])
        .args(["--connect-timeout", "2", "--call-timeout", "5", "--retry-delay", "0"])
        .env(PW_ENV, PASSWORD)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<Json> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), hosts.len(), "{stdout}");
    for l in &lines {
        assert_eq!(l["status"], "inventoried", "{l}");
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::open_existing(&db).await.unwrap();
        let run = store.latest_run().await.unwrap().unwrap().id;
        let profile = Profile::builtin(PROFILES).unwrap();
        for (a, _) in &hosts {
            let r = store.computer(run, &a.to_string()).await.unwrap().unwrap();
            assert_eq!(r.status, Status::Inventoried);
            assert_exactly_simulated(&r, &data_of(&text, *a), &profile);
        }
        let outcome = |r: &ComputerResult, item: &str| {
            r.classes.iter().find(|c| c.class == item).unwrap().outcome
        };

        // SQL Server: the newest ComputerManagementNN and the registry table, read back.
        let d = data_of(&text, sql);
        let r = store.computer(run, &sql.to_string()).await.unwrap().unwrap();
        let newest = d.scenario.sql.iter().map(|i| i.version.1).max().unwrap();
        let svc = r.classes.iter().find(|c| c.class == "SqlService").unwrap();
        assert!(svc
            .namespace
            .eq_ignore_ascii_case(&format!("root\\Microsoft\\SqlServer\\ComputerManagement{newest}")));
        let rows = r.inventory.class("registry:sql-instances").unwrap();
        assert_eq!(rows.len(), d.scenario.sql.len());
        for inst in &d.scenario.sql {
            let row = rows.iter().find(|x| x["name"] == inst.name.as_str()).unwrap();
            assert_eq!(row["data"], inst.id.as_str());
            let setup = format!(r"SOFTWARE\Microsoft\Microsoft SQL Server\{}\Setup", inst.id);
            for v in ["Edition", "Version", "PatchLevel", "SP"] {
                let want = value_json(d.registry.value(HKEY_LOCAL_MACHINE, &setup, v));
                assert_eq!(row[v], want, "{} {v}", inst.name);
            }
        }

        // Not present, read back from the database.
        let r = store.computer(run, &plain.to_string()).await.unwrap().unwrap();
        for item in ["SqlService", "registry:sql-instances", "Msvm_ComputerSystem"] {
            assert_eq!(outcome(&r, item), ClassOutcome::NotPresent, "{item}");
        }
        let r = store.computer(run, &client.to_string()).await.unwrap().unwrap();
        assert_eq!(outcome(&r, "Win32_ServerFeature"), ClassOutcome::NotPresent);
        // The Hyper-V host lists its guests.
        let d = data_of(&text, hyperv);
        let r = store.computer(run, &hyperv.to_string()).await.unwrap().unwrap();
        let vms = r.inventory.class("Msvm_ComputerSystem").unwrap();
        assert_eq!(vms.len(), d.scenario.guests.len() + 1, "the host and each guest");

        // The report tables fill for every host.
        store.close().await;
        let pool = sqlx::SqlitePool::connect_with(
            sqlx::sqlite::SqliteConnectOptions::new().filename(&db),
        )
        .await
        .unwrap();
        for table in ["hosts", "operating_systems", "hardware", "installed_software", "services"] {
            let rows = sqlx::query(&format!(
                "SELECT target, COUNT(*) AS n FROM {table} WHERE run_id = ? GROUP BY target"
            ))
            .bind(run)
            .fetch_all(&pool)
            .await
            .unwrap();
            assert_eq!(rows.len(), hosts.len(), "{table}");
            assert!(rows.iter().all(|r| r.get::<i64, _>("n") > 0), "{table}");
        }
        pool.close().await;
    });

    // The report's scenario sheets hold what the simulator serves.
    let xlsx = dir.join("report.xlsx");
    let out = Command::new(BIN)
        .args(["report", "--format", "xlsx", "--db"])
        .arg(&db)
        .arg("-o")
        .arg(&xlsx)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut wb: Xlsx<_> = open_workbook(&xlsx).unwrap();
    let names = wb.sheet_names();
    for s in ["Collection", "SQL Server", "SQL Server editions", "Roles and features",
              "Virtualization", "Hyper-V guests", "Licensing", "Licensing summary", "Core licences"] {
        assert!(names.iter().any(|n| n == s), "{s} in {names:?}");
    }
    assert!(!names.iter().any(|n| n == "Performance"), "no perf run, no sheet");
    let sheet = |wb: &mut Xlsx<_>, name: &str| -> Vec<Vec<String>> {
        let r = wb.worksheet_range(name).unwrap();
        r.rows()
            .map(|row| row.iter().map(|c| c.to_string()).collect())
            .collect()
    };
    let col = |rows: &[Vec<String>], t: &str| rows[0].iter().position(|h| h == t).unwrap();

    let sqlrows = sheet(&mut wb, "SQL Server");
    let d = data_of(&text, sql);
    let mine: Vec<&Vec<String>> = sqlrows[1..].iter().filter(|r| r[0] == sql.to_string()).collect();
    assert_eq!(mine.len(), d.scenario.sql.len(), "{sqlrows:?}");
    assert_eq!(sqlrows.len() - 1, d.scenario.sql.len(), "only the SQL Server host has instances");
    for inst in &d.scenario.sql {
        let r = mine
            .iter()
            .find(|r| r[col(&sqlrows, "Instance")] == inst.name)
            .unwrap_or_else(|| panic!("{} not in {mine:?}", inst.name));
        assert_eq!(r[col(&sqlrows, "Instance ID")], inst.id);
        assert_eq!(r[col(&sqlrows, "Edition")], inst.edition.0, "WMI's SKU name");
        assert_eq!(r[col(&sqlrows, "Version")], inst.version.2);
        assert_eq!(r[col(&sqlrows, "Patch level")], inst.version.4);
        assert_eq!(r[col(&sqlrows, "Service pack")], inst.version.3.to_string());
        assert_eq!(r[col(&sqlrows, "Clustered")], inst.clustered.to_string());
        assert_eq!(r[col(&sqlrows, "State")], if inst.running { "Running" } else { "Stopped" });
        assert_eq!(r[col(&sqlrows, "Service account")], inst.account);
        assert_eq!(r[col(&sqlrows, "Source")], "wmi+registry");
        assert!(r[col(&sqlrows, "Product")].starts_with("SQL Server 20"), "{r:?}");
    }

    let guests = sheet(&mut wb, "Hyper-V guests");
    let d = data_of(&text, hyperv);
    let mut got: Vec<String> = guests[1..]
        .iter()
        .filter(|r| r[0] == hyperv.to_string())
        .map(|r| r[col(&guests, "Guest")].clone())
        .collect();
    let mut want = d.scenario.guests.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    let virt = sheet(&mut wb, "Virtualization");
    let row = virt[1..].iter().find(|r| r[0] == hyperv.to_string()).unwrap();
    assert_eq!(row[col(&virt, "Hyper-V guests")], want.len().to_string());
    assert_eq!(row[col(&virt, "Virtual")], "false", "a Hyper-V host is physical");

    let lic = sheet(&mut wb, "Licensing");
    for (a, _) in &hosts {
        let d = data_of(&text, *a);
        let want = match d.scenario.channel.unwrap() {
            winv_sim::data::scenario::Channel::Retail => "retail",
            winv_sim::data::scenario::Channel::Oem => "oem",
            winv_sim::data::scenario::Channel::VolumeMak => "volume-mak",
            winv_sim::data::scenario::Channel::VolumeKms => "volume-kms",
        };
        let windows: Vec<&Vec<String>> = lic[1..]
            .iter()
            .filter(|r| r[0] == a.to_string() && r[col(&lic, "Application")] == "Windows")
            .collect();
        assert_eq!(windows.len(), 1, "{a}: {lic:?}");
        assert_eq!(windows[0][col(&lic, "Channel")], want, "{a}");
    }

    // Core licences: every server, none for the client, by the rule.
    let cores = sheet(&mut wb, "Core licences");
    assert_eq!(cores.len() - 1, hosts.iter().filter(|h| h.1 != "windows-11").count());
    assert!(cores[1..].iter().all(|r| r[0] != client.to_string()));
    for r in &cores[1..] {
        let physical: u32 = r[col(&cores, "Physical cores")].parse().unwrap();
        let procs: u32 = r[col(&cores, "Processors")].parse().unwrap();
        let per = physical / procs.max(1);
        let want = winv_engine::scenario::core_licences(
            &winv_engine::scenario::WINDOWS_SERVER_CORE_RULE,
            &vec![per; procs as usize],
        );
        assert_eq!(r[col(&cores, "Core licences")], want.core_licences.to_string(), "{r:?}");
    }

    // The dashboard's scenario pages show the same rows.
    let (_srv, addr) = start_serve(BIN, db.to_str().unwrap(), &["--listen", "127.0.0.1:0"], &[]);
    let page = |path: &str| {
        let (code, head, body) = http_get(&addr, path, &[]);
        assert_eq!(code, 200, "{path}: {head}");
        body
    };
    let body = page("/sql");
    for inst in &data_of(&text, sql).scenario.sql {
        assert!(body.contains(&format!("<td>{}</td>", inst.id)), "/sql lists {}", inst.id);
    }
    assert!(body.contains("SQL Server instances"));
    let body = page("/virtualization");
    for g in &data_of(&text, hyperv).scenario.guests {
        assert!(body.contains(&format!("<td>{g}</td>")), "/virtualization lists {g}");
    }
    let body = page("/licensing");
    assert!(body.contains("id=\"core-licences\""), "{body}");
    assert!(body.contains("Core licences, physical servers"));
    let body = page("/roles");
    assert!(body.contains("id=\"role-counts\""));
    let body = page("/performance");
    assert!(body.contains("id=\"absent\""), "no perf run: {body}");

    // What was not present is counted as such, not as failed.
    let items = sheet(&mut wb, "Collection");
    let row = items[1..].iter().find(|r| r[0] == "Win32_ServerFeature").unwrap();
    assert_eq!(row[col(&items, "Not present")], "1", "the client: {row:?}");
    assert_eq!(row[col(&items, "Failed")], "0");
    let _ = std::fs::remove_dir_all(&dir);
}
