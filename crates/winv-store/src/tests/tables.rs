//! Every collected row reaches the report tables, whatever the computer's status; the
//! adapter, disk and memory tables; which machine a result is and `machines_latest`;
//! the in-flight rows of a running scan; the work-list columns of `computers`. Every
//! test runs on SQLite and on a throwaway PostgreSQL.

use serde_json::{json, Value};
use winv_engine::{
    AttemptRecord, ClassInstances, ClassOutcome, ComputerResult, Instance, Inventory, Status,
};

use super::{failed, failure, inventoried, on_both, one, set, CellsExt, TestDb};
use crate::{InFlightChange, InFlightRow, Store};

const GOOD_UUID: &str = "4C4C4544-0042-3510-8048-B4C04F4E3132";

fn class(name: &str, instances: Vec<Value>) -> ClassInstances {
    ClassInstances {
        class: name.into(),
        namespace: "root\\cimv2".into(),
        instances: instances.into_iter().map(Instance::from).collect(),
    }
}

/// Sets the identity of an inventory (UUID, BIOS serial, name) and gives it two
/// adapters, two logical disks and two memory modules.
fn identify(inv: &mut Inventory, uuid: Option<&str>, serial: &str, name: &str) {
    inv.classes.retain(|c| {
        !matches!(
            c.class.as_str(),
            "Win32_PhysicalMemory"
                | "Win32_ComputerSystemProduct"
                | "Win32_NetworkAdapterConfiguration"
                | "Win32_LogicalDisk"
        )
    });
    for c in &mut inv.classes {
        match c.class.as_str() {
            "Win32_ComputerSystem" => set(&mut c.instances[0], "Name", json!(name)),
            "Win32_BIOS" => set(&mut c.instances[0], "SerialNumber", json!(serial)),
            _ => {}
        }
    }
    if let Some(u) = uuid {
        inv.classes.push(class(
            "Win32_ComputerSystemProduct",
            vec![json!({"__CLASS": "Win32_ComputerSystemProduct", "UUID": u,
                        "IdentifyingNumber": serial, "Vendor": "Dell Inc."})],
        ));
    }
    inv.classes.push(class(
        "Win32_NetworkAdapterConfiguration",
        vec![
            json!({"__CLASS": "Win32_NetworkAdapterConfiguration", "Index": 1,
                   "Description": "Intel(R) Ethernet Connection X722", "MACAddress": "3C:EC:EF:01:02:03",
                   "IPAddress": ["10.0.0.5", "fe80::3eec:efff:fe01:203"], "IPSubnet": ["255.255.255.0", "64"],
                   "DHCPEnabled": false, "DefaultIPGateway": ["10.0.0.1"],
                   "DNSServerSearchOrder": ["10.0.0.2", "10.0.0.3"], "DNSDomain": "lab.example",
                   "InterfaceIndex": 7}),
            json!({"__CLASS": "Win32_NetworkAdapterConfiguration", "Index": 2,
                   "Description": "Backup LAN", "MACAddress": "3C:EC:EF:01:02:04",
                   "IPAddress": ["192.168.9.5"], "DHCPEnabled": true, "DHCPServer": "192.168.9.1"}),
        ],
    ));
    inv.classes.push(class(
        "Win32_LogicalDisk",
        vec![
            json!({"__CLASS": "Win32_LogicalDisk", "DeviceID": "C:", "DriveType": 3,
                   "Size": "511101108224", "FreeSpace": "201326592000", "FileSystem": "NTFS",
                   "VolumeName": "OS"}),
            json!({"__CLASS": "Win32_LogicalDisk", "DeviceID": "D:", "DriveType": 5,
                   "Size": null, "FreeSpace": null, "FileSystem": null}),
        ],
    ));
    let dimm = |bank: &str| {
        json!({"__CLASS": "Win32_PhysicalMemory", "BankLabel": bank, "DeviceLocator": "DIMM",
               "Capacity": "34359738368", "Speed": 3200, "ConfiguredClockSpeed": 2933,
               "Manufacturer": "Samsung", "PartNumber": "M393A4K40EB3-CWE    ",
               "SerialNumber": "4A1B2C3D"})
    };
    inv.classes.push(class(
        "Win32_PhysicalMemory",
        vec![dimm("BANK 0"), dimm("BANK 1")],
    ));
}

/// A result of `status` whose inventory holds every class of [`identify`].
fn result_as(target: &str, status: Status, uuid: Option<&str>, serial: &str) -> ComputerResult {
    let mut r = inventoried(target, 3);
    identify(&mut r.inventory, uuid, serial, &target.to_uppercase());
    r.status = status;
    if !status.is_success() {
        r.failure = Some(failure(status, "login", Some(0x8004_100E), None));
    }
    r
}

async fn count(store: &Store, table: &str, run: i64, target: &str) -> i64 {
    store
        .test_rows(
            &format!("SELECT COUNT(*) AS n FROM {table} WHERE run_id = $1 AND target = $2"),
            run,
            Some(target),
        )
        .await[0]
        .i("n")
}

/// Every report table holds the rows of `target`'s collected classes.
async fn assert_every_table_filled(store: &Store, run: i64, target: &str) {
    for (table, n) in [
        ("hosts", 1),
        ("operating_systems", 1),
        ("hardware", 1),
        ("services", 3),
        ("hotfixes", 2),
        ("installed_software", 2),
        ("machines", 1),
        ("network_adapters", 2),
        ("logical_disks", 2),
        ("memory_modules", 2),
    ] {
        assert_eq!(
            count(store, table, run, target).await,
            n,
            "{table} of {target}"
        );
    }
    let h = one(
        store,
        "SELECT * FROM hosts WHERE run_id = $1 AND target = $2",
        run,
        target,
    )
    .await;
    assert_eq!(h.s("name"), target.to_uppercase());
    let os = one(
        store,
        "SELECT * FROM operating_systems WHERE run_id = $1 AND target = $2",
        run,
        target,
    )
    .await;
    assert_eq!(os.s("caption"), "Microsoft Windows Server 2019 Standard");
    assert_eq!(os.s("edition"), "ServerStandard");
}

async fn one_status_fills_every_table(db: &TestDb, status: Status) {
    let store = db.open().await;
    let t = "pc-status.lab.example";
    let run = store
        .create_run(&[t.to_string()], &json!({}), 1)
        .await
        .unwrap();
    store
        .save_computer(run, &result_as(t, status, Some(GOOD_UUID), "7XK2Q53"))
        .await
        .unwrap();
    assert_every_table_filled(&store, run, t).await;
    store.close().await;
}

async fn an_inventoried_computer_fills_every_table(db: &TestDb) {
    one_status_fills_every_table(db, Status::Inventoried).await;
}

async fn an_incomplete_computer_fills_every_table(db: &TestDb) {
    one_status_fills_every_table(db, Status::InventoriedIncomplete).await;
}

/// The registry namespace failed after every WMI class was collected (issue 19 item 5).
async fn a_computer_failed_after_its_classes_fills_every_table(db: &TestDb) {
    one_status_fills_every_table(db, Status::StdRegProvNamespaceInvalid).await;
    one_status_fills_every_table(db, Status::OtherReasons).await;
}

/// A stopped computer's rows are kept, then replaced with its resumed result's.
async fn a_stopped_computer_fills_every_table_and_its_resume_replaces_them(db: &TestDb) {
    let store = db.open().await;
    let t = "pc-stopped.lab.example";
    let run = store
        .create_run(&[t.to_string()], &json!({}), 1)
        .await
        .unwrap();
    let stopped = result_as(t, Status::InventoryNotCompleted, Some(GOOD_UUID), "7XK2Q53");
    store.save_computer(run, &stopped).await.unwrap();
    assert_every_table_filled(&store, run, t).await;
    let mut done = result_as(t, Status::Inventoried, Some(GOOD_UUID), "7XK2Q53");
    done.finished_ms += 60_000;
    store.save_computer(run, &done).await.unwrap();
    assert_every_table_filled(&store, run, t).await;
    assert_eq!(
        one(
            &store,
            "SELECT seen_ms FROM machines WHERE run_id = $1 AND target = $2",
            run,
            t
        )
        .await
        .i("seen_ms"),
        done.finished_ms
    );
    store.close().await;
}

/// A shared run: the first attempt collected the classes and was requeued; the last
/// attempt failed for good. The classes of the requeued attempt reach the tables.
async fn a_requeued_attempts_classes_reach_the_tables(db: &TestDb) {
    let store = db.open().await;
    let t = "pc-requeued.lab.example";
    let run = store
        .create_run(&[t.to_string()], &json!({}), 1)
        .await
        .unwrap();
    let scanner = store.register_scanner(run, "a:1", None, 0).await.unwrap();
    let c = store
        .claim(scanner, 1, 0, 60_000)
        .await
        .unwrap()
        .claims
        .remove(0);
    let first = AttemptRecord {
        number: 1,
        started_ms: 1,
        duration_ms: 5,
        credential: Some("LAB\\admin".into()),
        class_order: vec!["Win32_BIOS".into()],
        outcome: Status::RpcCallFailed,
        failing_class: Some("registry:software".into()),
        failure: None,
    };
    store
        .requeue(
            &c.lease,
            &first,
            &["registry:software".into()],
            0,
            &json!({}),
        )
        .await
        .unwrap();
    let again = store
        .claim(scanner, 1, 10, 60_000)
        .await
        .unwrap()
        .claims
        .remove(0);
    let mut r = result_as(t, Status::RpcCallFailed, Some(GOOD_UUID), "7XK2Q53");
    r.attempts[0].number = 2;
    for c in &mut r.classes {
        c.attempt = 1;
    }
    assert_eq!(
        store.finish(&again.lease, &r).await.unwrap(),
        crate::Finished::Recorded
    );
    assert_every_table_filled(&store, run, t).await;
    store.close().await;
}

/// Nothing collected: no report row at all (and no machine).
async fn a_computer_with_nothing_collected_has_no_report_rows(db: &TestDb) {
    let store = db.open().await;
    let t = "pc-down.lab.example";
    let run = store
        .create_run(&[t.to_string()], &json!({}), 1)
        .await
        .unwrap();
    store
        .save_computer(run, &failed(t, Status::ConnectionTimeout))
        .await
        .unwrap();
    for table in [
        "hosts",
        "operating_systems",
        "hardware",
        "machines",
        "network_adapters",
        "logical_disks",
        "memory_modules",
    ] {
        assert_eq!(count(&store, table, run, t).await, 0, "{table}");
    }
    store.close().await;
}

async fn adapters_disks_and_memory_hold_the_collected_values(db: &TestDb) {
    let store = db.open().await;
    let t = "pc-hw.lab.example";
    let run = store
        .create_run(&[t.to_string()], &json!({}), 1)
        .await
        .unwrap();
    store
        .save_computer(
            run,
            &result_as(t, Status::Inventoried, Some(GOOD_UUID), "7XK2Q53"),
        )
        .await
        .unwrap();
    let a = store
        .test_rows(
            "SELECT * FROM network_adapters WHERE run_id = $1 AND target = $2 ORDER BY position",
            run,
            Some(t),
        )
        .await;
    assert_eq!(a[0].s("description"), "Intel(R) Ethernet Connection X722");
    assert_eq!(a[0].s("mac_address"), "3C:EC:EF:01:02:03");
    assert_eq!(a[0].s("ip_addresses"), "10.0.0.5,fe80::3eec:efff:fe01:203");
    assert_eq!(a[0].s("ip_subnets"), "255.255.255.0,64");
    assert_eq!(a[0].s("dhcp_enabled"), "false");
    assert_eq!(a[0].os("dhcp_server"), None);
    assert_eq!(a[0].s("default_gateways"), "10.0.0.1");
    assert_eq!(a[0].s("dns_servers"), "10.0.0.2,10.0.0.3");
    assert_eq!(a[0].s("dns_domain"), "lab.example");
    assert_eq!(a[0].i("interface_index"), 7);
    assert_eq!(a[1].s("dhcp_enabled"), "true");
    assert_eq!(a[1].s("dhcp_server"), "192.168.9.1");
    let d = store
        .test_rows(
            "SELECT * FROM logical_disks WHERE run_id = $1 AND target = $2 ORDER BY position",
            run,
            Some(t),
        )
        .await;
    assert_eq!(d[0].s("device_id"), "C:");
    assert_eq!(d[0].i("drive_type"), 3);
    assert_eq!(d[0].s("drive_kind"), "Local Disk");
    assert_eq!(d[0].i("size"), 511_101_108_224);
    assert_eq!(d[0].i("free_space"), 201_326_592_000);
    assert_eq!(d[0].s("file_system"), "NTFS");
    assert_eq!(d[1].s("drive_kind"), "Compact Disc");
    assert_eq!(d[1].oi("size"), None);
    let m = store
        .test_rows(
            "SELECT * FROM memory_modules WHERE run_id = $1 AND target = $2 ORDER BY position",
            run,
            Some(t),
        )
        .await;
    assert_eq!(m[1].s("bank_label"), "BANK 1");
    assert_eq!(m[1].i("capacity"), 34_359_738_368);
    assert_eq!(m[1].i("speed"), 3200);
    assert_eq!(m[1].i("configured_clock_speed"), 2933);
    assert_eq!(m[1].s("manufacturer"), "Samsung");
    assert_eq!(m[1].s("part_number"), "M393A4K40EB3-CWE");
    let mach = one(
        &store,
        "SELECT * FROM machines WHERE run_id = $1 AND target = $2",
        run,
        t,
    )
    .await;
    assert_eq!(mach.s("machine_key"), format!("uuid:{GOOD_UUID}"));
    assert_eq!(
        mach.s("addresses"),
        "10.0.0.5,fe80::3eec:efff:fe01:203,192.168.9.5"
    );
    assert_eq!(
        mach.s("mac_addresses"),
        "3C:EC:EF:01:02:03,3C:EC:EF:01:02:04"
    );
    store.close().await;
}

/// The rows of `machines_latest`, by machine key.
async fn latest(store: &Store) -> Vec<super::Cells> {
    store
        .test_rows(
            "SELECT * FROM machines_latest WHERE $1 = $1 ORDER BY machine_key",
            0,
            None,
        )
        .await
}

async fn two_scans_of_one_fleet_give_one_row_per_machine(db: &TestDb) {
    let store = db.open().await;
    let fleet: Vec<String> = (0..3).map(|i| format!("pc{i}.lab.example")).collect();
    let uuid = |i: usize| format!("4C4C4544-0042-3510-8048-B4C04F4E313{i}");
    let mut runs = Vec::new();
    for scan in 0..2i64 {
        let run = store
            .create_run(&fleet, &json!({}), 1 + scan)
            .await
            .unwrap();
        for (i, t) in fleet.iter().enumerate() {
            let mut r = result_as(t, Status::Inventoried, Some(&uuid(i)), &format!("SN{i}"));
            r.finished_ms += scan * 86_400_000;
            store.save_computer(run, &r).await.unwrap();
        }
        runs.push(run);
    }
    assert_eq!(
        store
            .test_scalar("SELECT COUNT(*) FROM hosts WHERE $1 = $1", 0)
            .await,
        6,
        "the report tables keep every run"
    );
    let rows = latest(&store).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.s("machine_key"), format!("uuid:{}", uuid(i)));
        assert_eq!(r.i("run_id"), runs[1], "the latest run");
        assert_eq!(r.s("name"), fleet[i].to_uppercase());
        assert_eq!(r.s("status"), "inventoried");
        assert_eq!(r.s("os_caption"), "Microsoft Windows Server 2019 Standard");
        assert_eq!(r.s("model"), "PowerEdge R740");
        assert_eq!(r.i("cores"), 40);
        assert_eq!(
            r.s("addresses"),
            "10.0.0.5,fe80::3eec:efff:fe01:203,192.168.9.5"
        );
    }
    store.close().await;
}

/// Renamed and re-addressed between two scans, the same UUID is one machine, shown with
/// its new name and target.
async fn a_renamed_machine_with_the_same_uuid_stays_one(db: &TestDb) {
    let store = db.open().await;
    let run1 = store
        .create_run(&["10.0.0.5".to_string()], &json!({}), 1)
        .await
        .unwrap();
    let mut old = result_as("10.0.0.5", Status::Inventoried, Some(GOOD_UUID), "7XK2Q53");
    identify(&mut old.inventory, Some(GOOD_UUID), "7XK2Q53", "OLDNAME");
    store.save_computer(run1, &old).await.unwrap();
    let run2 = store
        .create_run(&["10.0.0.77".to_string()], &json!({}), 2)
        .await
        .unwrap();
    let mut new = result_as("10.0.0.77", Status::Inventoried, Some(GOOD_UUID), "7XK2Q53");
    // The firmware reports the UUID in lower case this time.
    identify(
        &mut new.inventory,
        Some(&GOOD_UUID.to_lowercase()),
        "7XK2Q53",
        "NEWNAME",
    );
    new.finished_ms += 1000;
    store.save_computer(run2, &new).await.unwrap();
    let rows = latest(&store).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].s("name"), "NEWNAME");
    assert_eq!(rows[0].s("target"), "10.0.0.77");
    assert_eq!(rows[0].i("run_id"), run2);
    assert_eq!(rows[0].s("key_kind"), "uuid");
    store.close().await;
}

/// Junk UUIDs fall back to the serial; junk serials to the name. Two machines sharing
/// the all-zero UUID stay two machines; one machine with a junk UUID keeps one row
/// across runs.
async fn junk_uuids_fall_back_to_the_serial_then_the_name(db: &TestDb) {
    let store = db.open().await;
    let zero = "00000000-0000-0000-0000-000000000000";
    let effs = "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF";
    let hosts = [
        ("a.lab", Some(zero), "SERIAL-A"),
        ("b.lab", Some(zero), "SERIAL-B"),
        ("c.lab", Some(effs), "To be filled by O.E.M."),
        (
            "d.lab",
            Some("03000200-0400-0500-0006-000700080009"),
            "Default string",
        ),
        ("e.lab", None, "0"),
    ];
    for scan in 0..2i64 {
        let targets: Vec<String> = hosts.iter().map(|h| h.0.to_string()).collect();
        let run = store.create_run(&targets, &json!({}), scan).await.unwrap();
        for (t, uuid, serial) in hosts {
            let mut r = result_as(t, Status::Inventoried, uuid, serial);
            r.finished_ms += scan;
            store.save_computer(run, &r).await.unwrap();
        }
    }
    let keys: Vec<String> = latest(&store)
        .await
        .iter()
        .map(|r| r.s("machine_key"))
        .collect();
    assert_eq!(
        keys,
        vec![
            "name:C.LAB",
            "name:D.LAB",
            "name:E.LAB",
            "serial:SERIAL-A",
            "serial:SERIAL-B",
        ]
    );
    // The junk is kept as reported.
    let a = store
        .test_rows(
            "SELECT uuid, serial FROM machines_latest WHERE machine_key = 'name:C.LAB' AND $1 = $1",
            0,
            None,
        )
        .await;
    assert_eq!(a[0].s("uuid"), effs);
    assert_eq!(a[0].s("serial"), "To be filled by O.E.M.");
    store.close().await;
}

async fn in_flight_rows_are_set_replaced_and_cleared(db: &TestDb) {
    let store = db.open().await;
    let t = crate::tests::targets(3);
    let run = store.create_run(&t, &json!({}), 1).await.unwrap();
    let row = |target: &str, step: &str, since_ms: i64| {
        InFlightChange::Set(InFlightRow {
            target: target.into(),
            attempt: 1,
            step: step.into(),
            since_ms,
            scanner: "scan:1".into(),
            updated_ms: since_ms,
        })
    };
    store
        .update_in_flight(
            run,
            &[
                row(&t[0], "connecting", 100),
                row(&t[1], "connecting", 50),
                row(&t[0], "Win32_Service", 200),
                row(&t[2], "connecting", 10),
                InFlightChange::Clear(t[2].clone()),
            ],
        )
        .await
        .unwrap();
    let rows = store.in_flight(run).await.unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        (rows[0].target.as_str(), rows[0].step.as_str()),
        (t[1].as_str(), "connecting")
    );
    assert_eq!(
        (rows[1].target.as_str(), rows[1].step.as_str()),
        (t[0].as_str(), "Win32_Service")
    );
    assert_eq!(rows[1].since_ms, 200);
    assert_eq!(rows[1].updated_ms, 200);
    store.touch_in_flight(run, "scan:1", 5_000).await.unwrap();
    store.touch_in_flight(run, "other:2", 9_000).await.unwrap();
    let rows = store.in_flight(run).await.unwrap();
    assert!(rows.iter().all(|r| r.updated_ms == 5_000), "{rows:?}");
    assert_eq!(rows[1].since_ms, 200, "a touch keeps the step's start");
    assert_eq!(
        store.clear_in_flight(run, Some("other:2")).await.unwrap(),
        0
    );
    assert_eq!(store.clear_in_flight(run, Some("scan:1")).await.unwrap(), 2);
    assert!(store.in_flight(run).await.unwrap().is_empty());
    store.close().await;
}

/// `computers` names each computer as Windows does and lists the items it lacks.
async fn computers_carry_the_name_and_the_missing_items(db: &TestDb) {
    let store = db.open().await;
    let t = crate::tests::targets(2);
    let run = store.create_run(&t, &json!({}), 1).await.unwrap();
    let mut r = result_as(&t[0], Status::InventoriedIncomplete, Some(GOOD_UUID), "SN");
    r.classes[1].outcome = ClassOutcome::Failed;
    r.classes[1].error = Some(failure(
        Status::OtherReasons,
        "query",
        Some(0x8004_1013),
        Some("WBEM_E_PROVIDER_LOAD_FAILURE"),
    ));
    r.classes[2].outcome = ClassOutcome::TimedOut;
    r.classes[3].outcome = ClassOutcome::NotPresent;
    store.save_computer(run, &r).await.unwrap();
    store
        .save_computer(run, &failed(&t[1], Status::ConnectionTimeout))
        .await
        .unwrap();
    let rows = store.computers(run).await.unwrap();
    assert_eq!(rows[0].name.as_deref(), Some(t[0].to_uppercase().as_str()));
    let missing: Vec<(&str, &str, Option<&str>)> = rows[0]
        .missing
        .iter()
        .map(|m| (m.class.as_str(), m.outcome.as_str(), m.code_name.as_deref()))
        .collect();
    assert_eq!(
        missing,
        vec![
            (
                r.classes[1].class.as_str(),
                "failed",
                Some("WBEM_E_PROVIDER_LOAD_FAILURE")
            ),
            (r.classes[2].class.as_str(), "timed-out", None),
        ]
    );
    assert_eq!(rows[1].name, None);
    assert!(rows[1].missing.is_empty());
    store.close().await;
}

on_both!(
    an_inventoried_computer_fills_every_table,
    an_incomplete_computer_fills_every_table,
    a_computer_failed_after_its_classes_fills_every_table,
    a_stopped_computer_fills_every_table_and_its_resume_replaces_them,
    a_requeued_attempts_classes_reach_the_tables,
    a_computer_with_nothing_collected_has_no_report_rows,
    adapters_disks_and_memory_hold_the_collected_values,
    two_scans_of_one_fleet_give_one_row_per_machine,
    a_renamed_machine_with_the_same_uuid_stays_one,
    junk_uuids_fall_back_to_the_serial_then_the_name,
    in_flight_rows_are_set_replaced_and_cleared,
    computers_carry_the_name_and_the_missing_items,
);
