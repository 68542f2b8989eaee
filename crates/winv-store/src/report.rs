//! The report tables' rows, taken from a computer's inventory (pure: no SQL here).
//!
//! Instances are JSON objects `{"__CLASS": ..., "Prop": value}`. A property is looked up
//! by its exact name, then without regard to case (WMI names are case-insensitive); a
//! missing property or a JSON null is `None`, never an error.

use serde_json::Value;
use winv_engine::Inventory;

/// `hosts`: from the first `Win32_ComputerSystem` instance.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct HostRow {
    pub name: Option<String>,
    pub domain: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub total_physical_memory: Option<i64>,
}

/// `operating_systems`: from the first `Win32_OperatingSystem` instance and the
/// `os-edition` registry item.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct OsRow {
    pub caption: Option<String>,
    pub version: Option<String>,
    pub build_number: Option<String>,
    pub architecture: Option<String>,
    pub service_pack: Option<String>,
    pub install_date: Option<String>,
    pub last_boot: Option<String>,
    pub serial_number: Option<String>,
    pub edition: Option<String>,
}

/// `hardware`: BIOS, processors aggregated, chassis.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct HardwareRow {
    pub bios_manufacturer: Option<String>,
    pub bios_version: Option<String>,
    pub bios_serial: Option<String>,
    pub processor_name: Option<String>,
    pub processors: Option<i64>,
    pub cores: Option<i64>,
    pub logical_processors: Option<i64>,
    pub chassis: Option<String>,
    pub chassis_types: Option<String>,
}

/// `hotfixes`: one per `Win32_QuickFixEngineering` instance.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct HotfixRow {
    pub hotfix_id: Option<String>,
    pub description: Option<String>,
    pub installed_on: Option<String>,
}

/// `services`: one per `Win32_Service` instance.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ServiceRow {
    pub name: Option<String>,
    pub display_name: Option<String>,
    pub state: Option<String>,
    pub start_mode: Option<String>,
    pub start_name: Option<String>,
}

/// The property `name` of an instance; `None` when missing or null.
fn prop<'a>(obj: &'a Value, name: &str) -> Option<&'a Value> {
    let map = obj.as_object()?;
    let v = map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })?;
    (!v.is_null()).then_some(v)
}

/// A property as text: strings as they are, numbers and booleans printed, arrays and
/// objects as JSON.
pub(crate) fn text(obj: &Value, name: &str) -> Option<String> {
    Some(match prop(obj, name)? {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    })
}

/// A property as an integer: JSON integers in range, or decimal strings (WMI's uint64
/// in scripting form). Anything else is `None`.
pub(crate) fn int(obj: &Value, name: &str) -> Option<i64> {
    match prop(obj, name)? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_u64().and_then(|u| i64::try_from(u).ok())),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// A CIM datetime (`yyyymmddHHMMSS.mmmmmmsUUU`, UUU the offset from UTC in minutes) as
/// ISO 8601 with that offset (`2021-06-08T00:00:35+01:00`); anything else (wildcards,
/// intervals, other formats) as it is.
pub(crate) fn cim_datetime(s: &str) -> String {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() != 25 || !digits(0..14) || b[14] != b'.' || !digits(15..21) || !digits(22..25) {
        return s.to_string();
    }
    let sign = match b[21] {
        b'+' => '+',
        b'-' => '-',
        _ => return s.to_string(),
    };
    let Ok(offset) = s[22..25].parse::<u32>() else {
        return s.to_string();
    };
    format!(
        "{}-{}-{}T{}:{}:{}{}{:02}:{:02}",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[8..10],
        &s[10..12],
        &s[12..14],
        sign,
        offset / 60,
        offset % 60
    )
}

/// The DMTF / SMBIOS name of a chassis type (`Win32_SystemEnclosure.ChassisTypes`).
pub(crate) fn chassis_name(t: i64) -> Option<&'static str> {
    const NAMES: [&str; 36] = [
        "Other",
        "Unknown",
        "Desktop",
        "Low Profile Desktop",
        "Pizza Box",
        "Mini Tower",
        "Tower",
        "Portable",
        "Laptop",
        "Notebook",
        "Hand Held",
        "Docking Station",
        "All in One",
        "Sub Notebook",
        "Space-Saving",
        "Lunch Box",
        "Main System Chassis",
        "Expansion Chassis",
        "SubChassis",
        "Bus Expansion Chassis",
        "Peripheral Chassis",
        "Storage Chassis",
        "Rack Mount Chassis",
        "Sealed-Case PC",
        "Multi-system Chassis",
        "Compact PCI",
        "Advanced TCA",
        "Blade",
        "Blade Enclosure",
        "Tablet",
        "Convertible",
        "Detachable",
        "IoT Gateway",
        "Embedded PC",
        "Mini PC",
        "Stick PC",
    ];
    let i = usize::try_from(t.checked_sub(1)?).ok()?;
    NAMES.get(i).copied()
}

pub(crate) fn host(inv: &Inventory) -> HostRow {
    let Some(ref cs) = inv.first("Win32_ComputerSystem") else {
        return HostRow::default();
    };
    HostRow {
        name: text(cs, "Name"),
        domain: text(cs, "Domain"),
        manufacturer: text(cs, "Manufacturer"),
        model: text(cs, "Model"),
        total_physical_memory: int(cs, "TotalPhysicalMemory"),
    }
}

pub(crate) fn operating_system(inv: &Inventory) -> OsRow {
    let edition = inv
        .registry_values
        .iter()
        .find(|(item, _)| item.eq_ignore_ascii_case("os-edition"))
        .and_then(|(_, v)| v.clone());
    let Some(ref os) = inv.first("Win32_OperatingSystem") else {
        return OsRow {
            edition,
            ..OsRow::default()
        };
    };
    OsRow {
        caption: text(os, "Caption").map(|s| s.trim().to_string()),
        version: text(os, "Version"),
        build_number: text(os, "BuildNumber"),
        architecture: text(os, "OSArchitecture"),
        service_pack: text(os, "CSDVersion"),
        install_date: text(os, "InstallDate").map(|s| cim_datetime(&s)),
        last_boot: text(os, "LastBootUpTime").map(|s| cim_datetime(&s)),
        serial_number: text(os, "SerialNumber"),
        edition,
    }
}

pub(crate) fn hardware(inv: &Inventory) -> HardwareRow {
    let mut row = HardwareRow::default();
    if let Some(ref bios) = inv.first("Win32_BIOS") {
        row.bios_manufacturer = text(bios, "Manufacturer");
        row.bios_version = text(bios, "SMBIOSBIOSVersion").or_else(|| text(bios, "Version"));
        row.bios_serial = text(bios, "SerialNumber");
    }
    if let Some(procs) = inv.class("Win32_Processor") {
        row.processors = Some(super::codec::to_i64(procs.len()));
        row.processor_name = procs
            .iter()
            .find_map(|p| text(p, "Name"))
            .map(|s| s.trim().to_string());
        let sum = |name: &str| -> Option<i64> {
            procs
                .iter()
                .filter_map(|p| int(p, name))
                .fold(None, |acc: Option<i64>, n| {
                    Some(acc.unwrap_or(0).saturating_add(n))
                })
        };
        row.cores = sum("NumberOfCores");
        row.logical_processors = sum("NumberOfLogicalProcessors");
    }
    if let Some(ref enc) = inv.first("Win32_SystemEnclosure") {
        let types: Vec<i64> = match prop(enc, "ChassisTypes") {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_i64).collect(),
            Some(Value::Number(n)) => n.as_i64().into_iter().collect(),
            _ => Vec::new(),
        };
        if !types.is_empty() {
            row.chassis = types
                .first()
                .and_then(|&t| chassis_name(t))
                .map(str::to_string);
            row.chassis_types = Some(
                types
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
    }
    row
}

pub(crate) fn hotfixes(inv: &Inventory) -> Vec<HotfixRow> {
    inv.class("Win32_QuickFixEngineering")
        .unwrap_or_default()
        .iter()
        .map(|q| HotfixRow {
            hotfix_id: text(q, "HotFixID"),
            description: text(q, "Description"),
            installed_on: text(q, "InstalledOn"),
        })
        .collect()
}

pub(crate) fn services(inv: &Inventory) -> Vec<ServiceRow> {
    inv.class("Win32_Service")
        .unwrap_or_default()
        .iter()
        .map(|s| ServiceRow {
            name: text(s, "Name"),
            display_name: text(s, "DisplayName"),
            state: text(s, "State"),
            start_mode: text(s, "StartMode"),
            start_name: text(s, "StartName"),
        })
        .collect()
}

/// `network_adapters`: one per `Win32_NetworkAdapterConfiguration` instance.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct AdapterRow {
    pub description: Option<String>,
    pub mac_address: Option<String>,
    pub ip_addresses: Option<String>,
    pub ip_subnets: Option<String>,
    pub dhcp_enabled: Option<bool>,
    pub dhcp_server: Option<String>,
    pub default_gateways: Option<String>,
    pub dns_servers: Option<String>,
    pub dns_domain: Option<String>,
    pub interface_index: Option<i64>,
}

/// `logical_disks`: one per `Win32_LogicalDisk` instance.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct DiskRow {
    pub device_id: Option<String>,
    pub drive_type: Option<i64>,
    pub drive_kind: Option<String>,
    pub size: Option<i64>,
    pub free_space: Option<i64>,
    pub file_system: Option<String>,
    pub volume_name: Option<String>,
}

/// `memory_modules`: one per `Win32_PhysicalMemory` instance.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct MemoryRow {
    pub bank_label: Option<String>,
    pub device_locator: Option<String>,
    pub capacity: Option<i64>,
    pub speed: Option<i64>,
    pub configured_clock_speed: Option<i64>,
    pub manufacturer: Option<String>,
    pub part_number: Option<String>,
    pub serial_number: Option<String>,
}

/// `machines`: which machine a computer result is.
#[derive(Debug, PartialEq)]
pub(crate) struct MachineRow {
    /// `uuid:...`, `serial:...`, `name:...` or `target:...`.
    pub machine_key: String,
    /// `uuid`, `serial`, `name` or `target`.
    pub key_kind: &'static str,
    pub uuid: Option<String>,
    pub serial: Option<String>,
    pub name: Option<String>,
    pub addresses: Option<String>,
    pub mac_addresses: Option<String>,
}

/// A property as a boolean (JSON booleans, `"true"`/`"false"` in any case).
pub(crate) fn boolean(obj: &Value, name: &str) -> Option<bool> {
    match prop(obj, name)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// A property as a comma-separated list: an array's strings and numbers (nulls and
/// empty strings skipped), or a scalar as text; `None` when nothing is left.
fn list(obj: &Value, name: &str) -> Option<String> {
    let items: Vec<String> = match prop(obj, name)? {
        Value::Array(a) => a
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.trim().to_string()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            })
            .filter(|s| !s.is_empty())
            .collect(),
        _ => text(obj, name).into_iter().collect(),
    };
    (!items.is_empty()).then(|| items.join(","))
}

/// A text property without the padding firmware adds (`"M393A2K43DB3-CWE    "`); only
/// spaces is `None`.
pub(crate) fn trimmed(obj: &Value, name: &str) -> Option<String> {
    text(obj, name)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The name of a `Win32_LogicalDisk.DriveType`.
pub(crate) fn drive_kind(t: i64) -> Option<&'static str> {
    Some(match t {
        0 => "Unknown",
        1 => "No Root Directory",
        2 => "Removable Disk",
        3 => "Local Disk",
        4 => "Network Drive",
        5 => "Compact Disc",
        6 => "RAM Disk",
        _ => return None,
    })
}

pub(crate) fn network_adapters(inv: &Inventory) -> Vec<AdapterRow> {
    inv.class("Win32_NetworkAdapterConfiguration")
        .unwrap_or_default()
        .iter()
        .map(|a| AdapterRow {
            description: text(a, "Description"),
            mac_address: text(a, "MACAddress"),
            ip_addresses: list(a, "IPAddress"),
            ip_subnets: list(a, "IPSubnet"),
            dhcp_enabled: boolean(a, "DHCPEnabled"),
            dhcp_server: text(a, "DHCPServer"),
            default_gateways: list(a, "DefaultIPGateway"),
            dns_servers: list(a, "DNSServerSearchOrder"),
            dns_domain: text(a, "DNSDomain"),
            interface_index: int(a, "InterfaceIndex"),
        })
        .collect()
}

pub(crate) fn logical_disks(inv: &Inventory) -> Vec<DiskRow> {
    inv.class("Win32_LogicalDisk")
        .unwrap_or_default()
        .iter()
        .map(|d| {
            let drive_type = int(d, "DriveType");
            DiskRow {
                device_id: text(d, "DeviceID"),
                drive_type,
                drive_kind: drive_type.and_then(drive_kind).map(str::to_string),
                size: int(d, "Size"),
                free_space: int(d, "FreeSpace"),
                file_system: text(d, "FileSystem"),
                volume_name: text(d, "VolumeName"),
            }
        })
        .collect()
}

pub(crate) fn memory_modules(inv: &Inventory) -> Vec<MemoryRow> {
    inv.class("Win32_PhysicalMemory")
        .unwrap_or_default()
        .iter()
        .map(|m| MemoryRow {
            bank_label: text(m, "BankLabel"),
            device_locator: text(m, "DeviceLocator"),
            capacity: int(m, "Capacity"),
            speed: int(m, "Speed"),
            configured_clock_speed: int(m, "ConfiguredClockSpeed"),
            manufacturer: trimmed(m, "Manufacturer"),
            part_number: trimmed(m, "PartNumber"),
            serial_number: trimmed(m, "SerialNumber"),
        })
        .collect()
}

/// UUIDs firmware reports when the vendor set none: not one machine's.
const JUNK_UUIDS: &[&str] = &[
    // A placeholder many boards of "To be filled by O.E.M." firmware share.
    "03000200-0400-0500-0006-000700080009",
    "12345678-1234-5678-90AB-CDDEEFAABBCC",
];

/// A `Win32_ComputerSystemProduct.UUID` that names one machine, normalised (upper case,
/// 8-4-4-4-12); `None` for anything else: not 32 hex digits, one digit repeated (all
/// zeros, all F's), a known placeholder.
pub(crate) fn usable_uuid(s: &str) -> Option<String> {
    let hex: String = s
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .chars()
        .filter(|c| *c != '-')
        .collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let hex = hex.to_ascii_uppercase();
    let first = hex.chars().next()?;
    if hex.chars().all(|c| c == first) {
        return None;
    }
    let u = format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    );
    (!JUNK_UUIDS.contains(&u.as_str())).then_some(u)
}

/// Serial numbers firmware reports when the vendor set none (compared without regard to
/// case, spaces and punctuation).
const JUNK_SERIALS: &[&str] = &[
    "tobefilledbyoem",
    "tobefilledbyoemtobefilledbyoem",
    "defaultstring",
    "systemserialnumber",
    "chassisserialnumber",
    "serialnumber",
    "notspecified",
    "notapplicable",
    "notavailable",
    "none",
    "na",
    "null",
    "oem",
    "invalid",
    "unknown",
    "empty",
    "0123456789",
    "123456789",
    "1234567890",
    "xxxxxxxxxx",
];

/// A `Win32_BIOS.SerialNumber` that names one machine, trimmed; `None` for an empty
/// serial, one character repeated (`0`, `00000000`, `FFFFFFFF`, `........`) and the
/// placeholders of [`JUNK_SERIALS`].
pub(crate) fn usable_serial(s: &str) -> Option<String> {
    let t = s.trim();
    let folded: String = t
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    let first = folded.chars().next()?;
    if folded.chars().all(|c| c == first) || JUNK_SERIALS.contains(&folded.as_str()) {
        return None;
    }
    Some(t.to_string())
}

/// Which machine this inventory is ([`MachineRow`]): `None` when none of
/// `Win32_ComputerSystem`, `Win32_BIOS` and `Win32_ComputerSystemProduct` was
/// collected (nothing says which machine it was).
pub(crate) fn machine(inv: &Inventory, target: &str) -> Option<MachineRow> {
    let identity = [
        "Win32_ComputerSystem",
        "Win32_BIOS",
        "Win32_ComputerSystemProduct",
    ];
    if !identity.iter().any(|c| inv.instances(c).is_some()) {
        return None;
    }
    let uuid = inv
        .first("Win32_ComputerSystemProduct")
        .and_then(|p| text(&p, "UUID"));
    let serial = inv
        .first("Win32_BIOS")
        .and_then(|b| text(&b, "SerialNumber"));
    let name = inv
        .first("Win32_ComputerSystem")
        .and_then(|c| text(&c, "Name"))
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    let (key_kind, key) = if let Some(u) = uuid.as_deref().and_then(usable_uuid) {
        ("uuid", u)
    } else if let Some(s) = serial.as_deref().and_then(usable_serial) {
        ("serial", s)
    } else if let Some(n) = &name {
        ("name", n.to_uppercase())
    } else {
        ("target", target.trim().to_lowercase())
    };
    let adapters = network_adapters(inv);
    let joined = |f: fn(&AdapterRow) -> Option<&String>| {
        let all: Vec<&str> = adapters.iter().filter_map(f).map(String::as_str).collect();
        (!all.is_empty()).then(|| all.join(","))
    };
    Some(MachineRow {
        machine_key: format!("{key_kind}:{key}"),
        key_kind,
        uuid,
        serial,
        name,
        addresses: joined(|a| a.ip_addresses.as_ref()),
        mac_addresses: joined(|a| a.mac_address.as_ref()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;
    use winv_engine::ClassInstances;

    fn inv(classes: Vec<(&str, Vec<Value>)>) -> Inventory {
        Inventory {
            classes: classes
                .into_iter()
                .map(|(c, i)| ClassInstances {
                    class: c.to_string(),
                    namespace: "root\\cimv2".into(),
                    instances: i.into_iter().map(Into::into).collect(),
                })
                .collect(),
            ..Inventory::default()
        }
    }

    #[test]
    fn cim_datetimes_become_iso_8601_and_odd_ones_stay() {
        assert_eq!(
            cim_datetime("20210608000035.000000+000"),
            "2021-06-08T00:00:35+00:00"
        );
        assert_eq!(
            cim_datetime("20240301101500.500000-300"),
            "2024-03-01T10:15:00-05:00"
        );
        assert_eq!(
            cim_datetime("20240301101500.500000+330"),
            "2024-03-01T10:15:00+05:30"
        );
        for odd in [
            "2024****101500.000000+000",
            "",
            "3/14/2024",
            "20240301101500.500000*000",
        ] {
            assert_eq!(cim_datetime(odd), odd);
        }
    }

    #[test]
    fn missing_null_and_oddly_typed_properties_are_none() {
        let i = inv(vec![(
            "Win32_ComputerSystem",
            vec![
                json!({"__CLASS": "Win32_ComputerSystem", "name": "PC1", "Domain": null,
                        "Model": 7, "TotalPhysicalMemory": "17179869184"}),
            ],
        )]);
        let h = host(&i);
        assert_eq!(h.name.as_deref(), Some("PC1"), "case-insensitive lookup");
        assert_eq!(h.domain, None);
        assert_eq!(h.manufacturer, None);
        assert_eq!(h.model.as_deref(), Some("7"));
        assert_eq!(h.total_physical_memory, Some(17_179_869_184));
        // A non-object instance is no error either.
        let i = inv(vec![("Win32_ComputerSystem", vec![json!([1, 2])])]);
        assert_eq!(host(&i), HostRow::default());
    }

    #[test]
    fn processors_aggregate_and_chassis_is_named() {
        let i = inv(vec![
            (
                "Win32_Processor",
                vec![
                    json!({"Name": "  Intel(R) Xeon(R) Gold 6230 ", "NumberOfCores": 20, "NumberOfLogicalProcessors": 40}),
                    json!({"Name": "Intel(R) Xeon(R) Gold 6230", "NumberOfCores": 20, "NumberOfLogicalProcessors": null}),
                ],
            ),
            (
                "Win32_SystemEnclosure",
                vec![json!({"ChassisTypes": [23, 1]})],
            ),
        ]);
        let h = hardware(&i);
        assert_eq!(h.processors, Some(2));
        assert_eq!(
            h.processor_name.as_deref(),
            Some("Intel(R) Xeon(R) Gold 6230")
        );
        assert_eq!(h.cores, Some(40));
        assert_eq!(h.logical_processors, Some(40));
        assert_eq!(h.chassis.as_deref(), Some("Rack Mount Chassis"));
        assert_eq!(h.chassis_types.as_deref(), Some("23,1"));
        assert_eq!(h.bios_manufacturer, None);
        assert_eq!(chassis_name(0), None);
        assert_eq!(chassis_name(3), Some("Desktop"));
        assert_eq!(chassis_name(36), Some("Stick PC"));
        assert_eq!(chassis_name(37), None);
    }
    #[test]
    fn junk_uuids_and_serials_name_no_machine() {
        for junk in [
            "00000000-0000-0000-0000-000000000000",
            "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
            "ffffffff-ffff-ffff-ffff-ffffffffffff",
            "03000200-0400-0500-0006-000700080009",
            "",
            "Not Available",
            "4C4C4544-0042-3510",
        ] {
            assert_eq!(usable_uuid(junk), None, "{junk:?}");
        }
        assert_eq!(
            usable_uuid(" {4c4c4544-0042-3510-8048-b4c04f4e3132} ").as_deref(),
            Some("4C4C4544-0042-3510-8048-B4C04F4E3132")
        );
        for junk in [
            "",
            "0",
            "00000000",
            "To be filled by O.E.M.",
            "TO BE FILLED BY O.E.M.",
            "Default string",
            "System Serial Number",
            "Not Specified",
            "None",
            "N/A",
            "  ........ ",
            "0123456789",
        ] {
            assert_eq!(usable_serial(junk), None, "{junk:?}");
        }
        assert_eq!(usable_serial(" 7XK2Q53 ").as_deref(), Some("7XK2Q53"));
        assert_eq!(
            usable_serial("VMware-56 4d 1a 2b").as_deref(),
            Some("VMware-56 4d 1a 2b")
        );
    }

    #[test]
    fn a_machine_is_its_uuid_else_its_serial_else_its_name_else_the_target() {
        let with = |uuid: Option<&str>, serial: Option<&str>, name: Option<&str>| {
            let mut classes = Vec::new();
            if let Some(u) = uuid {
                classes.push((
                    "Win32_ComputerSystemProduct",
                    vec![json!({"__CLASS": "Win32_ComputerSystemProduct", "UUID": u})],
                ));
            }
            if let Some(s) = serial {
                classes.push((
                    "Win32_BIOS",
                    vec![json!({"__CLASS": "Win32_BIOS", "SerialNumber": s})],
                ));
            }
            if let Some(n) = name {
                classes.push((
                    "Win32_ComputerSystem",
                    vec![json!({"__CLASS": "Win32_ComputerSystem", "Name": n})],
                ));
            }
            machine(&inv(classes), " PC9.Lab ").map(|m| m.machine_key)
        };
        let good = "4c4c4544-0042-3510-8048-b4c04f4e3132";
        let zero = "00000000-0000-0000-0000-000000000000";
        assert_eq!(
            with(Some(good), Some("7XK2Q53"), Some("pc1")).as_deref(),
            Some("uuid:4C4C4544-0042-3510-8048-B4C04F4E3132")
        );
        assert_eq!(
            with(Some(zero), Some("7XK2Q53"), Some("pc1")).as_deref(),
            Some("serial:7XK2Q53")
        );
        assert_eq!(
            with(Some(zero), Some("Default string"), Some("pc1")).as_deref(),
            Some("name:PC1")
        );
        assert_eq!(
            with(None, Some("0"), None).as_deref(),
            Some("target:pc9.lab")
        );
        assert_eq!(
            with(None, None, None),
            None,
            "nothing collected, no machine"
        );
    }

    #[test]
    fn adapters_disks_and_memory_become_rows() {
        let i = inv(vec![
            (
                "Win32_NetworkAdapterConfiguration",
                vec![json!({"__CLASS": "Win32_NetworkAdapterConfiguration",
                    "Description": "Intel(R) Ethernet", "MACAddress": "00:15:5D:01:02:03",
                    "IPAddress": ["10.0.0.5", "fe80::1"], "IPSubnet": ["255.255.255.0", "64"],
                    "DHCPEnabled": false, "DHCPServer": null,
                    "DefaultIPGateway": ["10.0.0.1"], "DNSServerSearchOrder": ["10.0.0.2", null, ""],
                    "DNSDomain": "lab.example", "InterfaceIndex": 12})],
            ),
            (
                "Win32_LogicalDisk",
                vec![
                    json!({"__CLASS": "Win32_LogicalDisk", "DeviceID": "C:", "DriveType": 3,
                        "Size": "136363323392", "FreeSpace": "81817993216", "FileSystem": "NTFS",
                        "VolumeName": ""}),
                    json!({"__CLASS": "Win32_LogicalDisk", "DeviceID": "D:", "DriveType": 5}),
                ],
            ),
            (
                "Win32_PhysicalMemory",
                vec![
                    json!({"__CLASS": "Win32_PhysicalMemory", "BankLabel": "BANK 0",
                    "DeviceLocator": "DIMM A1", "Capacity": "17179869184", "Speed": 3200,
                    "ConfiguredClockSpeed": 2933, "Manufacturer": "Samsung ",
                    "PartNumber": "M393A2K43DB3-CWE   ", "SerialNumber": "1A2B3C4D"}),
                ],
            ),
        ]);
        let a = network_adapters(&i);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].ip_addresses.as_deref(), Some("10.0.0.5,fe80::1"));
        assert_eq!(a[0].dns_servers.as_deref(), Some("10.0.0.2"));
        assert_eq!(a[0].dhcp_enabled, Some(false));
        assert_eq!(a[0].dhcp_server, None);
        assert_eq!(a[0].interface_index, Some(12));
        let d = logical_disks(&i);
        assert_eq!(d[0].size, Some(136_363_323_392));
        assert_eq!(d[0].free_space, Some(81_817_993_216));
        assert_eq!(d[0].drive_kind.as_deref(), Some("Local Disk"));
        assert_eq!(d[1].drive_kind.as_deref(), Some("Compact Disc"));
        assert_eq!(d[1].size, None);
        let m = memory_modules(&i);
        assert_eq!(m[0].capacity, Some(17_179_869_184));
        assert_eq!(m[0].part_number.as_deref(), Some("M393A2K43DB3-CWE"));
        assert_eq!(m[0].manufacturer.as_deref(), Some("Samsung"));
        assert_eq!(machine(&i, "pc"), None, "no identity class: no machine");
        let mut i = i;
        i.classes.push(ClassInstances {
            class: "Win32_ComputerSystem".into(),
            namespace: "root\\cimv2".into(),
            instances: vec![json!({"__CLASS": "Win32_ComputerSystem", "Name": null}).into()],
        });
        let id = machine(&i, "pc").unwrap();
        assert_eq!(id.addresses.as_deref(), Some("10.0.0.5,fe80::1"));
        assert_eq!(id.mac_addresses.as_deref(), Some("00:15:5D:01:02:03"));
        assert_eq!(id.key_kind, "target");
    }
}
