#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use winv_sim::data::classes::{self, key_names, CIMV2_CLASSES, NS_CIMV2, NS_DEFAULT};
use winv_sim::data::host::{dmtf, HostData};
use winv_sim::data::profile::{profile, PROFILES};
use winv_wmio::{CimBase, Value};

fn host(seed: u64, name: &str, addr: &str, prof: &str) -> HostData {
    let a: IpAddr = addr.parse().expect("address");
    HostData::generate(seed, profile(prof).expect("profile"), name, a, "lab.local")
}

#[test]
fn same_inputs_give_identical_data() {
    let a = host(7, "SRV01", "127.0.9.1", "server-2022");
    let b = host(7, "SRV01", "127.0.9.1", "server-2022");
    for c in CIMV2_CLASSES {
        assert_eq!(a.instances(NS_CIMV2, c), b.instances(NS_CIMV2, c), "{c}");
    }
    assert_eq!(a.registry, b.registry);
}

#[test]
fn different_hosts_differ() {
    let a = host(7, "SRV01", "127.0.9.1", "server-2022");
    let b = host(7, "SRV02", "127.0.9.2", "server-2022");
    let serial = |h: &HostData| {
        h.instances(NS_CIMV2, "Win32_OperatingSystem").unwrap()[0]
            .get("SerialNumber")
            .cloned()
    };
    assert_ne!(serial(&a), serial(&b));
    let ip = |h: &HostData| {
        h.instances(NS_CIMV2, "Win32_NetworkAdapterConfiguration")
            .unwrap()[0]
            .get("IPAddress")
            .cloned()
    };
    assert_eq!(
        ip(&a),
        Some(Value::Array(
            CimBase::String,
            vec![Value::String("127.0.9.1".into())]
        ))
    );
    assert_ne!(ip(&a), ip(&b));
}

#[test]
fn generation_is_stable_across_versions() {
    // A fixed expectation: changing the generator changes every simulated fleet.
    let a = host(1, "PINNED", "10.0.0.5", "windows-10");
    let os = &a.instances(NS_CIMV2, "Win32_OperatingSystem").unwrap()[0];
    assert_eq!(os.get("BuildNumber"), Some(&Value::String("19045".into())));
    assert_eq!(os.get("CSName"), Some(&Value::String("PINNED".into())));
    assert_eq!(os.get("ProductType"), Some(&Value::Uint32(1)));
}

#[test]
fn every_class_has_instances_with_non_null_keys() {
    for p in PROFILES {
        let h = host(3, "KEYS", "127.0.0.9", p.id);
        for c in CIMV2_CLASSES {
            let list = h.instances(NS_CIMV2, c).unwrap_or_else(|| panic!("{c}"));
            assert!(!list.is_empty(), "{c} on {}", p.id);
            let class = classes::class(NS_CIMV2, c).unwrap();
            for inst in list {
                for k in key_names(class) {
                    assert!(inst.get(k).is_some(), "{c}.{k} NULL on {}", p.id);
                }
            }
        }
    }
}

#[test]
fn documented_keys_and_types() {
    let k = |c: &str| key_names(classes::class(NS_CIMV2, c).unwrap()).join(",");
    assert_eq!(k("Win32_Service"), "Name");
    assert_eq!(k("Win32_LogicalDisk"), "DeviceID");
    assert_eq!(
        k("Win32_QuickFixEngineering"),
        "HotFixID,ServicePackInEffect"
    );
    assert_eq!(k("Win32_NetworkAdapterConfiguration"), "Index");
    let os = classes::class(NS_CIMV2, "win32_operatingsystem").unwrap();
    assert_eq!(
        os.derivation,
        [
            "CIM_OperatingSystem",
            "CIM_LogicalElement",
            "CIM_ManagedSystemElement"
        ]
    );
    assert_eq!(
        os.property("LastBootUpTime").unwrap().cim_type.base,
        CimBase::DateTime
    );
    assert_eq!(
        os.property("TotalVisibleMemorySize").unwrap().cim_type.base,
        CimBase::Uint64
    );
    assert!(os.property("MUILanguages").unwrap().cim_type.array);
    for c in CIMV2_CLASSES {
        let class = classes::class(NS_CIMV2, c).unwrap();
        for (i, p) in class.properties.iter().enumerate() {
            assert_eq!(usize::from(p.order), i);
            let dups = class
                .properties
                .iter()
                .filter(|q| q.name.eq_ignore_ascii_case(&p.name))
                .count();
            assert_eq!(dups, 1, "{c}.{} declared twice", p.name);
            assert!(p.qualifiers.iter().any(|q| q.name == "CIMTYPE"));
        }
    }
    assert!(classes::class(NS_DEFAULT, "StdRegProv").is_some());
    assert!(classes::class(NS_CIMV2, "StdRegProv").is_none());
}

#[test]
fn memory_adds_up_and_nulls_exist() {
    let h = host(11, "MEM", "127.0.0.2", "server-2019");
    let dimms: u64 = h
        .instances(NS_CIMV2, "Win32_PhysicalMemory")
        .unwrap()
        .iter()
        .map(|i| match i.get("Capacity") {
            Some(Value::Uint64(n)) => *n,
            _ => 0,
        })
        .sum();
    let cs = &h.instances(NS_CIMV2, "Win32_ComputerSystem").unwrap()[0];
    let Some(Value::Uint64(total)) = cs.get("TotalPhysicalMemory") else {
        panic!()
    };
    assert!(
        *total <= dimms && *total > dimms / 100 * 95,
        "{total} vs {dimms}"
    );
    let disks = h.instances(NS_CIMV2, "Win32_LogicalDisk").unwrap();
    assert!(
        disks.iter().any(|d| d.get("Size").is_none()),
        "a CD-ROM with NULL size"
    );
    let t = &h.instances(NS_CIMV2, "Win32_UTCTime").unwrap()[0];
    assert_eq!(t.get("Milliseconds"), None);
}

#[test]
fn dmtf_format() {
    assert_eq!(dmtf(0, 0, 0), "19700101000000.000000+000");
    assert_eq!(
        dmtf(1_730_600_100, 60, 500_000),
        "20241103031500.500000+060"
    );
    assert_eq!(dmtf(1_730_600_100, -300, 0), "20241102211500.000000-300");
}

#[test]
fn current_time_follows_the_clock() {
    let mut h = host(1, "T", "127.0.0.3", "server-2016");
    h.set_current_time(1_623_110_435); // 2021-06-08 00:00:35 UTC, a Tuesday
    let t = &h.instances(NS_CIMV2, "Win32_UTCTime").unwrap()[0];
    assert_eq!(t.get("Year"), Some(&Value::Uint32(2021)));
    assert_eq!(t.get("Month"), Some(&Value::Uint32(6)));
    assert_eq!(t.get("Day"), Some(&Value::Uint32(8)));
    assert_eq!(t.get("DayOfWeek"), Some(&Value::Uint32(2)));
    assert_eq!(t.get("Hour"), Some(&Value::Uint32(0)));
    assert_eq!(t.get("Second"), Some(&Value::Uint32(35)));
    assert_eq!(h.instances(NS_CIMV2, "Win32_CurrentTime").unwrap().len(), 2);
}

#[test]
fn overrides_apply_and_reject_bad_values() {
    let mut h = host(1, "O", "127.0.0.4", "server-2022");
    h.apply_override("Win32_ComputerSystem.Manufacturer", "Contoso")
        .unwrap();
    h.apply_override("win32_computersystem.NumberOfProcessors", "4")
        .unwrap();
    h.apply_override("Win32_BIOS.SerialNumber", "null").unwrap();
    let cs = &h.instances(NS_CIMV2, "Win32_ComputerSystem").unwrap()[0];
    assert_eq!(
        cs.get("Manufacturer"),
        Some(&Value::String("Contoso".into()))
    );
    assert_eq!(cs.get("NumberOfProcessors"), Some(&Value::Uint32(4)));
    assert_eq!(
        h.instances(NS_CIMV2, "Win32_BIOS").unwrap()[0].get("SerialNumber"),
        None
    );
    assert!(h
        .apply_override("Win32_ComputerSystem.NumberOfProcessors", "four")
        .is_err());
    assert!(h.apply_override("Win32_Nope.X", "1").is_err());
    assert!(h.apply_override("NoDot", "1").is_err());
}

#[test]
fn registry_has_os_and_uninstall_keys() {
    use winv_sim::registry::{RegValue, HKEY_LOCAL_MACHINE as HKLM};
    let h = host(5, "REG", "127.0.0.5", "windows-11");
    let nt = "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion";
    assert_eq!(
        h.registry.value(HKLM, nt, "currentbuild"),
        Some(&RegValue::Sz("22631".into()))
    );
    assert_eq!(
        h.registry.value(HKLM, nt, "UBR"),
        Some(&RegValue::Dword(4460))
    );
    assert_eq!(
        h.registry.value(HKLM, nt, "DisplayVersion"),
        Some(&RegValue::Sz("23H2".into()))
    );
    let un = h
        .registry
        .key(
            HKLM,
            "software\\microsoft\\windows\\currentversion\\uninstall",
        )
        .unwrap();
    assert!(un.subkeys.iter().any(|k| k.value("DisplayName").is_none()));
    assert!(un
        .subkeys
        .iter()
        .any(|k| k.value("SystemComponent") == Some(&RegValue::Dword(1))));
    assert!(h
        .registry
        .key(
            HKLM,
            "SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall"
        )
        .is_some());
}

/// Not a timed test: prints the time per host for the report (`--nocapture`).
#[test]
fn generation_speed_sample() {
    let start = std::time::Instant::now();
    let n = 200u32;
    for i in 0..n {
        let a = IpAddr::from([127, 0, 9, (i % 250) as u8]);
        let h = HostData::generate(
            1,
            profile("server-2022").unwrap(),
            &format!("H{i}"),
            a,
            "lab.local",
        );
        assert!(h.table(NS_CIMV2, "Win32_Service").is_some());
    }
    eprintln!("generate: {:?} per host", start.elapsed() / n);
}

#[test]
fn the_computer_system_product_names_the_machine() {
    let get = |h: &HostData, class: &str, prop: &str| match h.instances(NS_CIMV2, class).unwrap()[0]
        .get(prop)
    {
        Some(Value::String(s)) => s.clone(),
        other => panic!("{class}.{prop}: {other:?}"),
    };
    let a = host(7, "SRV01", "127.0.9.1", "server-2022");
    let b = host(7, "SRV02", "127.0.9.2", "server-2022");
    let uuid = get(&a, "Win32_ComputerSystemProduct", "UUID");
    let parts: Vec<&str> = uuid.split('-').collect();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12],
        "{uuid}"
    );
    assert!(
        uuid.chars().all(|c| c == '-' || c.is_ascii_hexdigit()),
        "{uuid}"
    );
    assert_ne!(uuid, get(&b, "Win32_ComputerSystemProduct", "UUID"));
    assert_eq!(
        uuid,
        get(
            &host(7, "SRV01", "127.0.9.1", "server-2022"),
            "Win32_ComputerSystemProduct",
            "UUID"
        )
    );
    // The product's identifying number is the BIOS serial, its vendor the maker.
    assert_eq!(
        get(&a, "Win32_ComputerSystemProduct", "IdentifyingNumber"),
        get(&a, "Win32_BIOS", "SerialNumber")
    );
    assert_eq!(
        get(&a, "Win32_ComputerSystemProduct", "Vendor"),
        get(&a, "Win32_ComputerSystem", "Manufacturer")
    );
    // A fleet file can give a host any UUID (a renamed machine, firmware junk).
    let mut c = host(7, "SRV01", "127.0.9.1", "server-2022");
    c.apply_override(
        "Win32_ComputerSystemProduct.UUID",
        "00000000-0000-0000-0000-000000000000",
    )
    .unwrap();
    assert_eq!(
        get(&c, "Win32_ComputerSystemProduct", "UUID"),
        "00000000-0000-0000-0000-000000000000"
    );
}

/// Every class the simulator serves is one the class memo keeps (its decode spends no more
/// than the memo allows), so two enumerators of a class decode its part once; and two
/// hosts of one build send the same octets for it.
#[test]
fn every_served_class_part_is_remembered_by_the_class_memo() {
    use std::sync::Arc;
    use winv_wmio::object_array::{
        decode_object_array, encode_object_array, ClassCache, ClassMemo, SentClasses,
    };
    use winv_wmio::Object;
    let hosts = [
        host(7, "SRV01", "127.0.9.1", "server-2022"),
        host(8, "SRV02", "127.0.9.2", "server-2022"),
    ];
    let memo = Arc::new(ClassMemo::new(64, 1 << 20));
    let mut served = 0;
    for h in &hosts {
        for c in CIMV2_CLASSES {
            let Some(rows) = h.instances(NS_CIMV2, c).filter(|r| !r.is_empty()) else {
                continue;
            };
            let objects: Vec<Object> = rows.iter().cloned().map(Object::from_instance).collect();
            let bytes = encode_object_array(&objects, 0, &mut SentClasses::new()).unwrap();
            let mut cache = ClassCache::with_memo(256, memo.clone());
            assert_eq!(
                decode_object_array(&bytes, &mut cache).unwrap().objects,
                objects
            );
            served += 1;
        }
    }
    assert!(served >= 2 * 8, "{served} class tables served");
    assert_eq!(
        memo.len(),
        served / 2,
        "one part per class, the same for both hosts"
    );
    assert_eq!(
        memo.hits(),
        (served / 2) as u64,
        "the second host's parts were found"
    );
}
