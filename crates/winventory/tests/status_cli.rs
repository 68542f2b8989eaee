//! `winventory scan` then `status` and the report tables, end to end against simulated
//! fleets (`winventory sim` in its own process, over loopback): a host whose registry
//! namespace fails keeps its WMI classes in the tables; the adapter, disk and memory
//! tables hold the simulator's values; two scans of one fleet and a renamed machine
//! give one row per machine in `machines_latest`; `status` as a work list (each filter,
//! groups by fix, incomplete hosts, CSV, JSON, refused values); the computers in flight
//! while a scan runs.
//!
//! Addresses: 127.0.91.x (tables), 127.0.92.x (work list), 127.0.93.x (in flight).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::Row;
use winv_sim::fleet::Fleet;
use winv_testsuite::cli::{temp_dir, Killed};

const BIN: &str = env!("CARGO_BIN_EXE_winventory");
const PW_ENV: &str = "WINV_STATUS_CLI_PW";
const PASSWORD: &str = "Status-Cli-Pw-4410!";

/// A fleet file's text: `hosts` are extra `[[host]]` tables.
fn fleet(hosts: &str) -> String {
    format!(
        "[defaults]\nuser = \"LAB\\\\admin\"\npassword_env = \"{PW_ENV}\"\nseed = 19\n\
         name_pattern = \"H{{a}}\"\n\n{hosts}"
    )
}

/// Starts `winventory sim` for `text`; returns it and its port.
fn start_sim(dir: &Path, name: &str, text: &str) -> (Killed, u16) {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    winv_testsuite::cli::start_sim(BIN, &path, &[(PW_ENV, PASSWORD)], &[])
}

fn scan_command(db: &Path, port: u16, targets: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("scan")
        .args(targets)
        .args(["--user", "LAB\\admin", "--password-env", PW_ENV, "--db"])
        .arg(db)
        .args(["--port", &port.to_string(), "--rate", "0", "--quiet"])
        .args([
            "--connect-timeout",
            "2",
            "--call-timeout",
            "30",
            "--retry-delay",
            "0",
        ])
        .env(PW_ENV, PASSWORD);
    c
}

fn scan(db: &Path, port: u16, targets: &[&str]) {
    let out = scan_command(db, port, targets).output().unwrap();
    assert!(
        // Completed: every computer inventoried (0) or some failed (7).
        matches!(out.status.code(), Some(0 | 7)),
        "scan: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn status(db: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .args(["status", "--db"])
        .arg(db)
        .args(extra)
        .output()
        .unwrap()
}

fn status_ok(db: &Path, extra: &[&str]) -> String {
    let out = status(db, extra);
    assert_eq!(
        out.status.code(),
        Some(0),
        "status {extra:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn status_json(db: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    serde_json::from_str(&status_ok(db, &args)).unwrap()
}

/// Rows of `sql` on the SQLite file, every column as text (NULL: None).
fn rows(db: &Path, sql: &str) -> Vec<Vec<Option<String>>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool =
            sqlx::SqlitePool::connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(db))
                .await
                .unwrap();
        let rows = sqlx::query(sql).fetch_all(&pool).await.unwrap();
        let out = rows
            .iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| {
                        r.try_get::<Option<String>, _>(i)
                            .or_else(|_| {
                                r.try_get::<Option<i64>, _>(i)
                                    .map(|v| v.map(|v| v.to_string()))
                            })
                            .or_else(|_| {
                                r.try_get::<Option<bool>, _>(i)
                                    .map(|v| v.map(|v| v.to_string()))
                            })
                            .unwrap()
                    })
                    .collect()
            })
            .collect();
        pool.close().await;
        out
    })
}

fn text(v: &winv_wmio::Value) -> String {
    match v {
        winv_wmio::Value::String(s) => s.clone(),
        other => winv_wmio::value_to_json(other)
            .to_string()
            .trim_matches('"')
            .to_string(),
    }
}

/// A property of what the simulator answers to the standard profile's query of `class`
/// (its condition included), as the tables write it (arrays comma-separated), one per
/// instance.
fn simulated(text_of_fleet: &str, a: IpAddr, class: &str, prop: &str) -> Vec<Option<String>> {
    let data = Fleet::parse(text_of_fleet).unwrap().host(a).unwrap().data();
    let wql = winv_engine::Profile::standard()
        .items
        .into_iter()
        .find_map(|i| match i {
            winv_engine::Item::Wmi { class: c, wql, .. } if c == class => Some(wql),
            _ => None,
        })
        .unwrap();
    winv_sim::wql::exec_query(&data, "root\\cimv2", "WQL", &wql)
        .unwrap()
        .iter()
        .map(|i| {
            i.get(prop).map(|v| match v {
                winv_wmio::Value::Array(_, items) => {
                    items.iter().map(text).collect::<Vec<_>>().join(",")
                }
                v => text(v),
            })
        })
        .collect()
}

#[test]
fn a_host_whose_registry_fails_keeps_its_classes_in_the_tables_and_hardware_rows_match() {
    let dir = temp_dir("status-tables");
    let text = fleet(
        "[[host]]\naddress = \"127.0.91.1\"\n\n\
         [[host]]\naddress = \"127.0.91.2\"\n\
         faults = [{ kind = \"invalid_namespace\", namespace = 'root\\default' }]\n",
    );
    let (_sim, port) = start_sim(&dir, "fleet", &text);
    let db = dir.join("inv.db");
    scan(&db, port, &["127.0.91.1", "127.0.91.2"]);
    let st = rows(&db, "SELECT target, status FROM computers ORDER BY target");
    assert_eq!(
        st,
        vec![
            vec![Some("127.0.91.1".into()), Some("inventoried".into())],
            vec![
                Some("127.0.91.2".into()),
                Some("stdregprov-namespace-invalid".into())
            ],
        ]
    );
    // Both hosts: one row in each per-computer table, the adapters, disks and memory
    // modules the simulator serves.
    for table in ["hosts", "operating_systems", "hardware", "machines"] {
        let n = rows(&db, &format!("SELECT target FROM {table} ORDER BY target"));
        assert_eq!(n.len(), 2, "{table}: {n:?}");
    }
    let failed: IpAddr = "127.0.91.2".parse().unwrap();
    let name = rows(&db, "SELECT name FROM hosts WHERE target = '127.0.91.2'");
    assert_eq!(name[0][0].as_deref(), Some("H127-0-91-2"));
    let caption = rows(
        &db,
        "SELECT caption FROM operating_systems WHERE target = '127.0.91.2'",
    );
    assert_eq!(
        caption[0][0],
        simulated(&text, failed, "Win32_OperatingSystem", "Caption")[0]
            .as_ref()
            .map(|s| s.trim().to_string())
    );
    for (table, cols) in [
        (
            "network_adapters",
            &[
                (
                    "description",
                    "Win32_NetworkAdapterConfiguration",
                    "Description",
                ),
                (
                    "mac_address",
                    "Win32_NetworkAdapterConfiguration",
                    "MACAddress",
                ),
                (
                    "ip_addresses",
                    "Win32_NetworkAdapterConfiguration",
                    "IPAddress",
                ),
                (
                    "default_gateways",
                    "Win32_NetworkAdapterConfiguration",
                    "DefaultIPGateway",
                ),
                (
                    "dns_servers",
                    "Win32_NetworkAdapterConfiguration",
                    "DNSServerSearchOrder",
                ),
                (
                    "CASE dhcp_enabled WHEN 1 THEN 'true' WHEN 0 THEN 'false' END",
                    "Win32_NetworkAdapterConfiguration",
                    "DHCPEnabled",
                ),
            ][..],
        ),
        (
            "logical_disks",
            &[
                ("device_id", "Win32_LogicalDisk", "DeviceID"),
                ("size", "Win32_LogicalDisk", "Size"),
                ("free_space", "Win32_LogicalDisk", "FreeSpace"),
                ("file_system", "Win32_LogicalDisk", "FileSystem"),
                ("drive_type", "Win32_LogicalDisk", "DriveType"),
            ][..],
        ),
        (
            "memory_modules",
            &[
                ("capacity", "Win32_PhysicalMemory", "Capacity"),
                ("speed", "Win32_PhysicalMemory", "Speed"),
                ("manufacturer", "Win32_PhysicalMemory", "Manufacturer"),
                ("part_number", "Win32_PhysicalMemory", "PartNumber"),
                ("bank_label", "Win32_PhysicalMemory", "BankLabel"),
            ][..],
        ),
    ] {
        for (col, class, prop) in cols {
            let got: Vec<Option<String>> = rows(
                &db,
                &format!("SELECT {col} FROM {table} WHERE target = '127.0.91.2' ORDER BY position"),
            )
            .into_iter()
            .map(|mut r| r.remove(0))
            .collect();
            let want: Vec<Option<String>> = simulated(&text, failed, class, prop)
                .into_iter()
                .map(|v| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
                .collect();
            assert!(!want.is_empty(), "{class}");
            assert_eq!(got, want, "{table}.{col}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_scans_and_a_renamed_machine_give_one_row_per_machine_in_the_latest_view() {
    let dir = temp_dir("status-latest");
    let uuid = |i: u8| format!("4C4C4544-0042-3510-8048-B4C04F4E31{i:02}");
    let host = |addr: &str, name: &str, uuid: &str| {
        format!(
            "[[host]]\naddress = \"{addr}\"\nname = \"{name}\"\n\
             overrides = {{ \"Win32_ComputerSystemProduct.UUID\" = \"{uuid}\" }}\n\n"
        )
    };
    let zeros = "00000000-0000-0000-0000-000000000000";
    let first = fleet(&format!(
        "{}{}{}",
        host("127.0.91.11", "ALPHA", &uuid(1)),
        host("127.0.91.12", "BRAVO", &uuid(2)),
        host("127.0.91.13", "JUNK", zeros),
    ));
    let db = dir.join("inv.db");
    {
        let (_sim, port) = start_sim(&dir, "first", &first);
        scan(&db, port, &["127.0.91.11", "127.0.91.12", "127.0.91.13"]);
        scan(&db, port, &["127.0.91.11", "127.0.91.12", "127.0.91.13"]);
    }
    let latest = |db: &Path| {
        rows(
            db,
            "SELECT machine_key, name, target, run_id, status FROM machines_latest ORDER BY name",
        )
    };
    let l = latest(&db);
    assert_eq!(l.len(), 3, "{l:?}");
    assert!(
        l.iter().all(|r| r[3].as_deref() == Some("2")),
        "the second run: {l:?}"
    );
    assert_eq!(l[0][0], Some(format!("uuid:{}", uuid(1))));
    // The all-zero UUID is no machine's: the BIOS serial names it.
    let serial = rows(
        &db,
        "SELECT serial FROM machines WHERE target = '127.0.91.13' AND run_id = 2",
    );
    assert_eq!(
        l[2][0],
        Some(format!("serial:{}", serial[0][0].as_deref().unwrap()))
    );
    assert_eq!(
        rows(&db, "SELECT COUNT(*) FROM hosts")[0][0].as_deref(),
        Some("6"),
        "every run keeps its rows"
    );
    // BRAVO is renamed and moves to another address; the same UUID stays one machine.
    let second = fleet(&host("127.0.91.14", "CHARLIE", &uuid(2)));
    {
        let (_sim, port) = start_sim(&dir, "second", &second);
        scan(&db, port, &["127.0.91.14"]);
    }
    let l = latest(&db);
    assert_eq!(l.len(), 3, "{l:?}");
    let charlie = l
        .iter()
        .find(|r| r[0] == Some(format!("uuid:{}", uuid(2))))
        .unwrap();
    assert_eq!(charlie[1].as_deref(), Some("CHARLIE"));
    assert_eq!(charlie[2].as_deref(), Some("127.0.91.14"));
    assert_eq!(charlie[3].as_deref(), Some("3"));
    assert!(!l.iter().any(|r| r[1].as_deref() == Some("BRAVO")), "{l:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fleet with work to do: two hosts DCOM refuses, one port closed, one host whose
/// Win32_Service provider fails, two that work.
fn work_fleet() -> String {
    fleet(
        "[[host]]\naddress = \"127.0.92.1-127.0.92.2\"\n\n\
         [[host]]\naddress = \"127.0.92.3-127.0.92.4\"\nfaults = [{ kind = \"dcom_access_denied\" }]\n\n\
         [[host]]\naddress = \"127.0.92.5\"\nfaults = [{ kind = \"provider_load_failure\", class = \"Win32_Service\" }]\n",
    )
}

#[test]
fn status_is_a_work_list_with_filters_groups_csv_and_json() {
    let dir = temp_dir("status-work");
    let (_sim, port) = start_sim(&dir, "fleet", &work_fleet());
    let db = dir.join("inv.db");
    let targets = [
        "127.0.92.1",
        "127.0.92.2",
        "127.0.92.3",
        "127.0.92.4",
        "127.0.92.5",
        "127.0.92.9",
    ];
    scan(&db, port, &targets);

    // Groups: the DCOM refusals under one fix line; the closed port under its own.
    let text = status_ok(&db, &["--computers"]);
    let j = status_json(&db, &["--computers"]);
    let dcom_fix = j["failure_groups"][0]["fix"].as_str().unwrap().to_string();
    assert_eq!(
        j["failure_groups"][0]["statuses"],
        serde_json::json!(["access-denied"])
    );
    assert_eq!(text.matches(dcom_fix.as_str()).count(), 1, "{text}");
    assert!(text.contains(&format!("  fix: {dcom_fix}")), "{text}");
    assert!(
        text.contains("failed computers (3), by fix (2 fixes):"),
        "{text}"
    );
    assert!(text.contains("  2 computers  access-denied"), "{text}");
    // Names and addresses: the name Windows reported is unknown for a refused host.
    assert!(
        text.contains("    -  127.0.92.3  access-denied  stage activation"),
        "{text}"
    );
    assert!(text.contains("  1 computer  connection-refused"), "{text}");
    assert!(
        text.contains("inventoried-incomplete computers (1), with the items they lack:"),
        "{text}"
    );
    assert!(
        text.contains(
            "H127-0-92-5  127.0.92.5  missing Win32_Service (failed WBEM_E_PROVIDER_LOAD_FAILURE)"
        ),
        "{text}"
    );
    assert!(
        !text.contains("127.0.92.1 "),
        "inventoried hosts are no work: {text}"
    );

    // Each filter, as repeated flags and comma lists.
    let listed = |extra: &[&str]| {
        let j = status_json(&db, extra);
        let mut t: Vec<String> = [
            "failed_computers",
            "incomplete_computers",
            "inventoried_computers",
        ]
        .iter()
        .flat_map(|k| j[k].as_array().cloned().unwrap_or_default())
        .map(|c| c["target"].as_str().unwrap().to_string())
        .collect();
        t.sort();
        t
    };
    assert_eq!(
        listed(&["--status", "access-denied,connection-refused"]),
        ["127.0.92.3", "127.0.92.4", "127.0.92.9"]
    );
    assert_eq!(
        listed(&[
            "--status",
            "inventoried",
            "--status",
            "inventoried-incomplete"
        ]),
        ["127.0.92.1", "127.0.92.2", "127.0.92.5"]
    );
    assert_eq!(
        listed(&["--stage", "activation"]),
        ["127.0.92.3", "127.0.92.4"]
    );
    assert_eq!(listed(&["--stage", "connect-135"]), ["127.0.92.9"]);
    assert_eq!(
        listed(&["--code", "0x80070005"]),
        ["127.0.92.3", "127.0.92.4"]
    );
    assert_eq!(
        listed(&["--code", "e_accessdenied,10061"]),
        ["127.0.92.3", "127.0.92.4", "127.0.92.9"]
    );
    assert_eq!(
        listed(&["--code", "WBEM_E_PROVIDER_LOAD_FAILURE"]),
        ["127.0.92.5"]
    );
    assert_eq!(
        listed(&["--account", "LAB\\admin", "--status", "inventoried"]),
        ["127.0.92.1", "127.0.92.2"]
    );
    let j = status_json(&db, &["--computers"]);
    assert_eq!(j["failure_groups"][0]["count"], 2);
    assert_eq!(
        j["failure_groups"][0]["targets"],
        serde_json::json!(["127.0.92.3", "127.0.92.4"])
    );
    assert_eq!(
        j["incomplete_computers"][0]["missing"][0]["class"],
        "Win32_Service"
    );
    assert_eq!(j["incomplete_computers"][0]["name"], "H127-0-92-5");

    // CSV: every listed computer, one row each.
    let csv = status_ok(&db, &["--format", "csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "target,name,address,status,stage,code,code_name,account,attempts,missing,fix,message"
    );
    assert_eq!(lines.len(), 5, "{csv}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("127.0.92.5,H127-0-92-5,127.0.92.5,inventoried-incomplete,")),
        "{csv}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with(
            "127.0.92.3,,127.0.92.3,access-denied,activation,0x80070005,E_ACCESSDENIED,"
        )),
        "{csv}"
    );

    // Values that name nothing: exit 2, the valid ones listed.
    for (args, want) in [
        (
            &["--status", "access-denied,borked"][..],
            "unknown status \"borked\": the statuses are inventoried, inventoried-incomplete",
        ),
        (
            &["--stage", "nowhere"][..],
            "unknown stage \"nowhere\": the stages are connect-135",
        ),
        (
            &["--code", "E_MADE_UP"][..],
            "the codes of run 1 are E_ACCESSDENIED",
        ),
        (
            &["--account", "LAB\\ghost"][..],
            "unknown account \"LAB\\\\ghost\": the accounts of run 1 are LAB\\admin",
        ),
        (&["--format", "yaml"][..], "yaml"),
    ] {
        let out = status(&db, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // --json stays an alias, and cannot be mixed with another format.
    assert_eq!(
        status(&db, &["--json", "--format", "csv"]).status.code(),
        Some(2)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn status_shows_the_computers_in_flight_while_a_scan_runs() {
    let dir = temp_dir("status-flight");
    let text = fleet(
        "[[host]]\naddress = \"127.0.93.1\"\n\
         faults = [{ kind = \"provider_slow\", class = \"Win32_Service\", delay_ms = 9000 }]\n\n\
         [[host]]\naddress = \"127.0.93.2\"\n",
    );
    let (_sim, port) = start_sim(&dir, "fleet", &text);
    let db = dir.join("inv.db");
    let mut scanning = Killed(
        scan_command(&db, port, &["127.0.93.1", "127.0.93.2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Poll until the slow host shows on its slow class (written at most once a second).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen: Option<Value> = None;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
        if !db.exists() {
            continue;
        }
        let out = status(&db, &["--json"]);
        if out.status.code() != Some(0) {
            continue;
        }
        let Ok(j) = serde_json::from_slice::<Value>(&out.stdout) else {
            continue;
        };
        let slow = j["in_flight"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["target"] == "127.0.93.1").cloned());
        if let Some(r) =
            slow.filter(|r| r["step"] == "Win32_Service" && r["seconds"].as_i64() >= Some(2))
        {
            assert_eq!(j["run"]["state"], "running");
            seen = Some(r);
            break;
        }
    }
    let r = seen.expect("the slow host in flight on Win32_Service");
    assert_eq!(r["attempt"], 1);
    let text = status_ok(&db, &[]);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("127.0.93.1"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("attempt 1") && line.contains("Win32_Service  for "),
        "{line}"
    );
    // The scan ends; nothing is in flight any more.
    let end = Instant::now() + Duration::from_secs(60);
    while scanning.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < end, "the scan did not end");
        std::thread::sleep(Duration::from_millis(200));
    }
    let j = status_json(&db, &[]);
    assert_eq!(j["in_flight"], serde_json::json!([]));
    assert_eq!(
        rows(&db, "SELECT COUNT(*) FROM in_flight")[0][0].as_deref(),
        Some("0")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
