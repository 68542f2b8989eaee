#![allow(clippy::unwrap_used)]
//! The assessment scenarios' data: SQL Server, roles, Hyper-V, licensing, raw perf
//! counters.

use std::net::IpAddr;

use winv_sim::data::classes::NS_CIMV2;
use winv_sim::data::host::HostData;
use winv_sim::data::perf::{filetime_from_unix_100ns, FREQUENCY};
use winv_sim::data::profile::profile;
use winv_sim::data::scenario::{Channel, NS_VIRTUALIZATION, SQL_INSTANCE_NAMES};
use winv_sim::registry::{RegValue, HKEY_LOCAL_MACHINE as HKLM};
use winv_sim::wql::{exec_query, exec_query_at};
use winv_wmio::{Instance, Value};

fn host(seed: u64, name: &str, i: u8, prof: &str) -> HostData {
    let a: IpAddr = IpAddr::from([127, 0, 9, i]);
    HostData::generate(seed, profile(prof).unwrap(), name, a, "lab.local")
}

fn servers(n: u8) -> Vec<HostData> {
    (1..=n)
        .map(|i| host(3, &format!("SRV{i:03}"), i, "server-2022"))
        .collect()
}

fn q(h: &HostData, ns: &str, wql: &str) -> Result<Vec<Instance>, u32> {
    exec_query(h, ns, "WQL", wql).map_err(|e| e.code())
}

fn s(i: &Instance, p: &str) -> String {
    match i.get(p) {
        Some(Value::String(s)) => s.clone(),
        other => panic!("{p}: {other:?}"),
    }
}

fn n(i: &Instance, p: &str) -> u64 {
    match i.get(p) {
        Some(Value::Uint32(v)) => u64::from(*v),
        Some(Value::Uint64(v)) => *v,
        Some(Value::Uint16(v)) => u64::from(*v),
        other => panic!("{p}: {other:?}"),
    }
}

#[test]
fn server_features_on_servers_only() {
    let srv = host(1, "SRV", 1, "server-2019");
    let rows = q(&srv, NS_CIMV2, "SELECT * FROM Win32_ServerFeature").unwrap();
    assert!(rows
        .iter()
        .any(|r| s(r, "Name") == "File and Storage Services"));
    let ids: Vec<u64> = rows.iter().map(|r| n(r, "ID")).collect();
    // Every parent is itself listed.
    for r in &rows {
        let p = n(r, "ParentID");
        assert!(p == 0 || ids.contains(&p), "{p}");
    }
    let client = host(1, "PC", 2, "windows-11");
    assert_eq!(
        q(&client, NS_CIMV2, "SELECT * FROM Win32_ServerFeature").unwrap_err(),
        0x8004_1010
    );
}

#[test]
fn sql_server_namespaces_classes_and_registry_agree() {
    let fleet = servers(40);
    let with: Vec<&HostData> = fleet
        .iter()
        .filter(|h| !h.scenario.sql.is_empty())
        .collect();
    let without: Vec<&HostData> = fleet.iter().filter(|h| h.scenario.sql.is_empty()).collect();
    assert!(
        with.len() >= 5 && without.len() >= 5,
        "{} {}",
        with.len(),
        without.len()
    );
    for h in &without {
        assert!(!h.has_namespace("root\\Microsoft\\SqlServer"));
        assert!(h.registry.key(HKLM, SQL_INSTANCE_NAMES).is_none());
        assert!(h
            .class(
                "root\\Microsoft\\SqlServer\\ComputerManagement15",
                "SqlService"
            )
            .is_none());
    }
    for h in &with {
        let children = q(h, "root\\Microsoft\\SqlServer", "SELECT * FROM __NAMESPACE").unwrap();
        let newest = h.scenario.sql.iter().map(|i| i.version.1).max().unwrap();
        let names: Vec<String> = children.iter().map(|c| s(c, "Name")).collect();
        assert!(
            names.contains(&format!("ComputerManagement{newest}")),
            "{names:?}"
        );
        let ns = format!("root\\Microsoft\\SqlServer\\ComputerManagement{newest}");
        let engines = q(h, &ns, "SELECT * FROM SqlService WHERE SQLServiceType = 1").unwrap();
        assert_eq!(engines.len(), h.scenario.sql.len());
        for inst in &h.scenario.sql {
            // Registry: Instance Names\SQL and the Setup key.
            assert_eq!(
                h.registry.value(HKLM, SQL_INSTANCE_NAMES, &inst.name),
                Some(&RegValue::Sz(inst.id.clone()))
            );
            let setup = format!(
                "SOFTWARE\\Microsoft\\Microsoft SQL Server\\{}\\Setup",
                inst.id
            );
            assert_eq!(
                h.registry.value(HKLM, &setup, "PatchLevel"),
                Some(&RegValue::Sz(inst.version.4.into()))
            );
            // WMI: the engine service and its advanced properties.
            let svc = if inst.name == "MSSQLSERVER" {
                "MSSQLSERVER".to_string()
            } else {
                format!("MSSQL${}", inst.name)
            };
            let e = engines.iter().find(|e| s(e, "ServiceName") == svc).unwrap();
            assert_eq!(s(e, "StartName"), inst.account);
            assert_eq!(n(e, "State"), if inst.running { 4 } else { 1 });
            let props = q(
                h,
                &ns,
                &format!("SELECT * FROM SqlServiceAdvancedProperty WHERE ServiceName = '{svc}'"),
            )
            .unwrap();
            let get = |name: &str| props.iter().find(|p| s(p, "PropertyName") == name).unwrap();
            assert_eq!(s(get("SKUNAME"), "PropertyStrValue"), inst.edition.0);
            assert_eq!(s(get("VERSION"), "PropertyStrValue"), inst.version.2);
            assert_eq!(
                n(get("SPLEVEL"), "PropertyNumValue"),
                u64::from(inst.version.3)
            );
            assert_eq!(
                n(get("CLUSTERED"), "PropertyNumValue"),
                u64::from(inst.clustered)
            );
            // Win32_Service has the engine too, and no server has an engine it lacks.
            let ws = q(
                h,
                NS_CIMV2,
                &format!("SELECT * FROM Win32_Service WHERE Name = '{svc}'"),
            )
            .unwrap();
            assert_eq!(ws.len(), 1);
        }
    }
    for h in &without {
        let ws = q(
            h,
            NS_CIMV2,
            "SELECT * FROM Win32_Service WHERE Name LIKE 'MSSQL%'",
        )
        .unwrap();
        assert!(ws.is_empty());
    }
}

#[test]
fn hyperv_hosts_have_guests_and_others_have_no_namespace() {
    let fleet = servers(40);
    let hosts: Vec<&HostData> = fleet
        .iter()
        .filter(|h| !h.scenario.guests.is_empty())
        .collect();
    assert!(!hosts.is_empty());
    for h in &hosts {
        let rows = q(h, NS_VIRTUALIZATION, "SELECT * FROM Msvm_ComputerSystem").unwrap();
        assert_eq!(rows.len(), h.scenario.guests.len() + 1);
        let host_row = rows
            .iter()
            .find(|r| s(r, "Caption") == "Hosting Computer System")
            .unwrap();
        assert_eq!(s(host_row, "ElementName"), h.host_name.to_uppercase());
        let cs = &h.instances(NS_CIMV2, "Win32_ComputerSystem").unwrap()[0];
        assert_eq!(cs.get("HypervisorPresent"), Some(&Value::Boolean(true)));
        // Physical hardware.
        assert!(!s(cs, "Model").contains("Virtual"));
        let features = q(
            h,
            NS_CIMV2,
            "SELECT * FROM Win32_ServerFeature WHERE ID = 20",
        )
        .unwrap();
        assert_eq!(features.len(), 1);
    }
    for h in fleet.iter().filter(|h| h.scenario.guests.is_empty()) {
        assert!(!h.has_namespace(NS_VIRTUALIZATION));
    }
    // Hyper-V guests name their host in the registry.
    let guests: Vec<&HostData> = fleet
        .iter()
        .filter(|h| {
            let cs = &h.instances(NS_CIMV2, "Win32_ComputerSystem").unwrap()[0];
            s(cs, "Model") == "Virtual Machine"
        })
        .collect();
    assert!(!guests.is_empty());
    for g in guests {
        assert!(g
            .registry
            .value(
                HKLM,
                "SOFTWARE\\Microsoft\\Virtual Machine\\Guest\\Parameters",
                "PhysicalHostName"
            )
            .is_some());
    }
}

#[test]
fn licensing_has_one_installed_windows_key_with_its_channel() {
    let mut seen = Vec::new();
    for (i, prof) in ["server-2022", "server-2019", "windows-11", "windows-10"]
        .iter()
        .cycle()
        .take(40)
        .enumerate()
    {
        let h = host(9, &format!("H{i}"), i as u8 + 1, prof);
        let keyed = q(
            &h,
            NS_CIMV2,
            "SELECT * FROM SoftwareLicensingProduct WHERE PartialProductKey IS NOT NULL AND ApplicationID = '55c92734-d682-4d71-983e-d6ec3f16059f'",
        )
        .unwrap();
        assert_eq!(keyed.len(), 1, "{}", h.host_name);
        let channel = h.scenario.channel.unwrap();
        assert!(s(&keyed[0], "Description").contains(channel.description_word()));
        assert_eq!(s(&keyed[0], "PartialProductKey").len(), 5);
        if channel == Channel::VolumeKms {
            assert!(s(&keyed[0], "DiscoveredKeyManagementServiceMachineName").starts_with("kms01."));
        }
        if *prof == "server-2022" && channel == Channel::VolumeKms {
            // Server 2022 Datacenter's published KMS client setup key ends in 6VM33.
            assert_eq!(s(&keyed[0], "PartialProductKey"), "6VM33");
        }
        let all = q(&h, NS_CIMV2, "SELECT * FROM SoftwareLicensingProduct").unwrap();
        assert!(all.len() > keyed.len());
        let svc = q(&h, NS_CIMV2, "SELECT * FROM SoftwareLicensingService").unwrap();
        assert_eq!(svc.len(), 1);
        seen.push(channel);
    }
    for c in [Channel::VolumeKms, Channel::VolumeMak, Channel::Oem] {
        assert!(seen.contains(&c), "{c:?}");
    }
}

/// The percentage of processor time between two raw samples, computed by hand from the
/// PERF_100NSEC_TIMER_INV formula: 100 * (1 - Δidle / ΔTimestamp_Sys100NS).
fn cpu_percent(a: &Instance, b: &Instance) -> f64 {
    let di = n(b, "PercentProcessorTime") - n(a, "PercentProcessorTime");
    let dt = n(b, "Timestamp_Sys100NS") - n(a, "Timestamp_Sys100NS");
    100.0 * (1.0 - di as f64 / dt as f64)
}

#[test]
fn perf_counters_are_a_deterministic_function_of_time() {
    let h = host(4, "PERF", 4, "server-2022");
    let t0 = filetime_from_unix_100ns(1_780_000_000 * 10_000_000);
    let at = |t: u64, class: &str| {
        exec_query_at(
            &h,
            NS_CIMV2,
            "WQL",
            &format!("SELECT * FROM {class}"),
            Some(t),
        )
        .unwrap()
    };
    let a = at(t0, "Win32_PerfRawData_PerfOS_Processor");
    assert_eq!(a, at(t0, "Win32_PerfRawData_PerfOS_Processor"));
    let b = at(t0 + 60 * FREQUENCY, "Win32_PerfRawData_PerfOS_Processor");
    assert_ne!(a, b);
    let total = |rows: &[Instance]| {
        rows.iter()
            .find(|r| s(r, "Name") == "_Total")
            .unwrap()
            .clone()
    };
    let pct = cpu_percent(&total(&a), &total(&b));
    assert!((0.0..100.0).contains(&pct), "{pct}");
    // The busy fraction matches the model's wave over that minute (mean value theorem).
    let w = h.perf.cpu;
    assert!(
        pct > 0.0 && pct / 100.0 <= w.base + w.amp + 1e-9,
        "{pct} {w:?}"
    );
    assert_eq!(n(&total(&a), "Frequency_Sys100NS"), FREQUENCY);

    let d0 = at(t0, "Win32_PerfRawData_PerfDisk_PhysicalDisk");
    let d1 = at(
        t0 + 30 * FREQUENCY,
        "Win32_PerfRawData_PerfDisk_PhysicalDisk",
    );
    let names: Vec<String> = d0.iter().map(|r| s(r, "Name")).collect();
    assert!(names.contains(&"0 C:".to_string()) && names.contains(&"_Total".to_string()));
    let rate = |a: &Instance, b: &Instance, p: &str| {
        let dc = (n(b, p) as u32).wrapping_sub(n(a, p) as u32);
        let dt = n(b, "Timestamp_PerfTime") - n(a, "Timestamp_PerfTime");
        f64::from(dc) / (dt as f64 / n(a, "Frequency_PerfTime") as f64)
    };
    let xfers = rate(&d0[0], &d1[0], "DiskTransfersPersec");
    assert!(xfers > 0.0, "{xfers}");
    let mem = at(t0, "Win32_PerfRawData_PerfOS_Memory");
    assert_eq!(mem.len(), 1);
    let total_mem = n(
        &h.instances(NS_CIMV2, "Win32_ComputerSystem").unwrap()[0],
        "TotalPhysicalMemory",
    );
    assert!(n(&mem[0], "AvailableBytes") < total_mem);
    let net = at(t0, "Win32_PerfRawData_Tcpip_NetworkInterface");
    assert!(!net.is_empty());
    assert!(!s(&net[0], "Name").contains('('));
}
