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
fn text(obj: &Value, name: &str) -> Option<String> {
    Some(match prop(obj, name)? {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    })
}

/// A property as an integer: JSON integers in range, or decimal strings (WMI's uint64
/// in scripting form). Anything else is `None`.
fn int(obj: &Value, name: &str) -> Option<i64> {
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

fn first<'a>(inv: &'a Inventory, class: &str) -> Option<&'a Value> {
    inv.class(class).and_then(<[Value]>::first)
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
    let Some(cs) = first(inv, "Win32_ComputerSystem") else {
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
    let Some(os) = first(inv, "Win32_OperatingSystem") else {
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
    if let Some(bios) = first(inv, "Win32_BIOS") {
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
    if let Some(enc) = first(inv, "Win32_SystemEnclosure") {
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
                    instances: i,
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
}
