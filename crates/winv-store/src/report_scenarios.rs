//! The assessment scenarios' report rows, taken from a computer's inventory (pure: no
//! SQL here): SQL Server instances, server roles and features, the platform (virtual or
//! physical, on what, a Hyper-V host's guests), licences and the Windows Server core
//! licence count. The rules (what is virtual, which channel, how many core licences)
//! are `winv_engine::scenario`'s; this module only reads the instances for them.

use serde_json::Value;
use winv_engine::scenario::{self, MachineFacts, WINDOWS_SERVER_CORE_RULE};
use winv_engine::Inventory;

use crate::report::{boolean, int, text, trimmed};

/// The registry table of the `sql` profile (`registry:sql-instances`).
const SQL_REGISTRY_ITEM: &str = "registry:sql-instances";
/// The registry value of the `virtualization` profile that names a Hyper-V guest's host.
const PHYSICAL_HOST_ITEM: &str = "hyperv-physical-host";
/// `SqlService.SQLServiceType` of the database engine.
const SQL_ENGINE: i64 = 1;

/// `sql_instances`: one row per SQL Server instance.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct SqlInstanceRow {
    /// `MSSQLSERVER` for the default instance, else the instance's name.
    pub instance: String,
    /// `MSSQL15.MSSQLSERVER`.
    pub instance_id: Option<String>,
    /// `SKUNAME` (WMI), else `Setup\Edition` (registry).
    pub edition: Option<String>,
    /// `VERSION`, else `Setup\Version`.
    pub version: Option<String>,
    /// The product name of the version (`SQL Server 2019`).
    pub product: Option<String>,
    /// `PATCHLEVEL`, else `Setup\PatchLevel`.
    pub patch_level: Option<String>,
    /// `SPLEVEL`, else `Setup\SP`.
    pub service_pack: Option<i64>,
    /// `CLUSTERED` (WMI only).
    pub clustered: Option<bool>,
    /// The engine service's state (`Running`).
    pub state: Option<String>,
    /// Its start mode (`Auto`).
    pub start_mode: Option<String>,
    /// The account it runs as (`StartName`).
    pub service_account: Option<String>,
    /// `wmi`, `registry` or `wmi+registry`: where the instance was seen.
    pub source: &'static str,
}

/// The instance a database engine service belongs to: `MSSQLSERVER`, or `NAME` of
/// `MSSQL$NAME`.
fn instance_of_service(service: &str) -> String {
    match service.split_once('$') {
        Some((_, name)) if !name.is_empty() => name.to_string(),
        _ => service.to_string(),
    }
}

fn find_row<'a>(rows: &'a mut [SqlInstanceRow], name: &str) -> Option<&'a mut SqlInstanceRow> {
    rows.iter_mut()
        .find(|r| r.instance.eq_ignore_ascii_case(name))
}

/// SQL Server instances from the registry table (`Instance Names\SQL` and each
/// instance's `Setup` key) and the newest `ComputerManagementNN` namespace
/// (`SqlService` engines and their `SqlServiceAdvancedProperty` rows), merged by
/// instance name: the registry's order first, then instances only WMI knows. A value
/// WMI gives wins over the registry's.
pub(crate) fn sql_instances(inv: &Inventory) -> Vec<SqlInstanceRow> {
    let mut rows: Vec<SqlInstanceRow> = Vec::new();
    for r in &inv.class(SQL_REGISTRY_ITEM).unwrap_or_default() {
        let Some(name) = trimmed(r, "name") else {
            continue;
        };
        if find_row(&mut rows, &name).is_some() {
            continue;
        }
        rows.push(SqlInstanceRow {
            instance: name,
            instance_id: trimmed(r, "data"),
            edition: trimmed(r, "Edition"),
            version: trimmed(r, "Version"),
            patch_level: trimmed(r, "PatchLevel"),
            service_pack: int(r, "SP"),
            source: "registry",
            ..SqlInstanceRow::default()
        });
    }
    let mut wmi_seen: Vec<String> = Vec::new();
    for s in &inv.class("SqlService").unwrap_or_default() {
        if int(s, "SQLServiceType") != Some(SQL_ENGINE) {
            continue;
        }
        let Some(service) = trimmed(s, "ServiceName") else {
            continue;
        };
        let name = instance_of_service(&service);
        if find_row(&mut rows, &name).is_none() {
            rows.push(SqlInstanceRow {
                instance: name.clone(),
                source: "wmi",
                ..SqlInstanceRow::default()
            });
        }
        let Some(row) = find_row(&mut rows, &name) else {
            continue;
        };
        if row.source == "registry" {
            row.source = "wmi+registry";
        }
        row.state = int(s, "State")
            .and_then(scenario::sql_service_state_name)
            .map(str::to_string)
            .or(row.state.take());
        row.start_mode = int(s, "StartMode")
            .and_then(scenario::sql_start_mode_name)
            .map(str::to_string)
            .or(row.start_mode.take());
        row.service_account = trimmed(s, "StartName").or(row.service_account.take());
        wmi_seen.push(service);
    }
    for p in &inv.class("SqlServiceAdvancedProperty").unwrap_or_default() {
        if int(p, "SqlServiceType") != Some(SQL_ENGINE) {
            continue;
        }
        let (Some(service), Some(property)) = (trimmed(p, "ServiceName"), text(p, "PropertyName"))
        else {
            continue;
        };
        let Some(row) = find_row(&mut rows, &instance_of_service(&service)) else {
            continue;
        };
        let s = || trimmed(p, "PropertyStrValue");
        let n = || int(p, "PropertyNumValue");
        match property.to_ascii_uppercase().as_str() {
            "SKUNAME" => row.edition = s().or(row.edition.take()),
            "VERSION" => row.version = s().or(row.version.take()),
            "PATCHLEVEL" => row.patch_level = s().or(row.patch_level.take()),
            "SPLEVEL" => row.service_pack = n().or(row.service_pack),
            "CLUSTERED" => row.clustered = n().map(|v| v != 0).or(row.clustered),
            "INSTANCEID" => row.instance_id = s().or(row.instance_id.take()),
            _ => {}
        }
    }
    for row in &mut rows {
        row.product = row
            .version
            .as_deref()
            .and_then(scenario::sql_product_name)
            .map(str::to_string);
    }
    rows
}

/// `server_features`: one per `Win32_ServerFeature` instance.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct FeatureRow {
    pub feature_id: Option<i64>,
    pub parent_id: Option<i64>,
    pub name: Option<String>,
}

pub(crate) fn server_features(inv: &Inventory) -> Vec<FeatureRow> {
    inv.class("Win32_ServerFeature")
        .unwrap_or_default()
        .iter()
        .map(|f| FeatureRow {
            feature_id: int(f, "ID"),
            parent_id: int(f, "ParentID"),
            name: trimmed(f, "Name"),
        })
        .collect()
}

/// `platforms`: what a machine runs on.
#[derive(Debug, PartialEq)]
pub(crate) struct PlatformRow {
    /// [`scenario::Platform::as_str`].
    pub platform: &'static str,
    pub is_virtual: bool,
    /// `Win32_ComputerSystem.HypervisorPresent` (a Hyper-V host has it too).
    pub hypervisor_present: Option<bool>,
    /// A Hyper-V guest's host, from the guest's registry
    /// (`Virtual Machine\Guest\Parameters\PhysicalHostNameFullyQualified`).
    pub physical_host: Option<String>,
    /// A Hyper-V host's guests (`None` when `root\virtualization\v2` was not read).
    pub guests: Option<i64>,
}

/// Whether a `Msvm_ComputerSystem` instance is a guest (not the hosting computer
/// system, which the class lists too).
fn is_guest(vm: &Value) -> bool {
    match text(vm, "Caption") {
        Some(c) => c.trim().eq_ignore_ascii_case("Virtual Machine"),
        None => text(vm, "Description").is_some_and(|d| d.contains("Virtual Machine")),
    }
}

/// The platform, from the computer system and the BIOS; `None` when neither
/// `Win32_ComputerSystem` nor `Win32_BIOS` was collected.
pub(crate) fn platform(inv: &Inventory) -> Option<PlatformRow> {
    let cs = &inv.first("Win32_ComputerSystem");
    let bios = &inv.first("Win32_BIOS");
    if cs.is_none() && bios.is_none() {
        return None;
    }
    let get =
        |v: &Option<Value>, name: &str| v.as_ref().and_then(|o| text(o, name)).unwrap_or_default();
    let facts = MachineFacts {
        manufacturer: get(cs, "Manufacturer"),
        model: get(cs, "Model"),
        bios_serial: get(bios, "SerialNumber"),
        bios_version: [
            get(bios, "Manufacturer"),
            get(bios, "SMBIOSBIOSVersion"),
            get(bios, "Version"),
        ]
        .join(" "),
    };
    let p = scenario::platform(&facts);
    let physical_host = inv
        .registry_values
        .iter()
        .find(|(item, _)| item.eq_ignore_ascii_case(PHYSICAL_HOST_ITEM))
        .and_then(|(_, v)| v.as_deref())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string);
    Some(PlatformRow {
        platform: p.as_str(),
        is_virtual: p.is_virtual(),
        hypervisor_present: cs.as_ref().and_then(|c| boolean(c, "HypervisorPresent")),
        physical_host,
        guests: inv
            .class("Msvm_ComputerSystem")
            .map(|vms| super::codec::to_i64(vms.iter().filter(|v| is_guest(v)).count())),
    })
}

/// `vm_guests`: one per Hyper-V guest of a host.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct GuestRow {
    /// `Msvm_ComputerSystem.Name`: the VM's GUID.
    pub vm_id: Option<String>,
    /// `ElementName`: the name in Hyper-V Manager.
    pub name: Option<String>,
    /// `EnabledState` by name.
    pub state: Option<String>,
    /// `OnTimeInMilliseconds` in seconds.
    pub uptime_s: Option<i64>,
}

pub(crate) fn vm_guests(inv: &Inventory) -> Vec<GuestRow> {
    inv.class("Msvm_ComputerSystem")
        .unwrap_or_default()
        .iter()
        .filter(|v| is_guest(v))
        .map(|v| GuestRow {
            vm_id: trimmed(v, "Name"),
            name: trimmed(v, "ElementName"),
            state: int(v, "EnabledState")
                .and_then(scenario::vm_state_name)
                .map(str::to_string),
            uptime_s: int(v, "OnTimeInMilliseconds").map(|ms| ms / 1000),
        })
        .collect()
}

/// `licences`: one per `SoftwareLicensingProduct` with a partial product key.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct LicenceRow {
    /// `Name` (`Windows(R), ServerStandard edition`).
    pub product: Option<String>,
    /// `Windows`, `Office`, or the `ApplicationID` itself.
    pub application: Option<String>,
    /// `LicenseStatus` by name.
    pub licence_status: Option<String>,
    /// [`scenario::Channel::as_str`].
    pub channel: &'static str,
    pub partial_key: Option<String>,
    /// A KMS client's KMS host, `host:port`: the one set on the client, else the one it
    /// found in DNS.
    pub kms_host: Option<String>,
    /// `GracePeriodRemaining`, minutes.
    pub grace_minutes: Option<i64>,
}

/// `host:port` (the port left out when zero or missing).
fn host_port(obj: &Value, host: &str, port: &str) -> Option<String> {
    let h = trimmed(obj, host)?;
    Some(match int(obj, port).filter(|p| *p > 0) {
        Some(p) => format!("{h}:{p}"),
        None => h,
    })
}

pub(crate) fn licences(inv: &Inventory) -> Vec<LicenceRow> {
    inv.class("SoftwareLicensingProduct")
        .unwrap_or_default()
        .iter()
        .filter(|l| trimmed(l, "PartialProductKey").is_some())
        .map(|l| {
            let channel = scenario::channel(
                &text(l, "ProductKeyChannel").unwrap_or_default(),
                &text(l, "Description").unwrap_or_default(),
            );
            let kms_host = if channel == scenario::Channel::VolumeKms {
                host_port(l, "KeyManagementServiceMachine", "KeyManagementServicePort").or_else(
                    || {
                        host_port(
                            l,
                            "DiscoveredKeyManagementServiceMachineName",
                            "DiscoveredKeyManagementServiceMachinePort",
                        )
                    },
                )
            } else {
                None
            };
            LicenceRow {
                product: trimmed(l, "Name"),
                application: trimmed(l, "ApplicationID")
                    .map(|id| scenario::licence_application(&id).map_or(id, str::to_string)),
                licence_status: int(l, "LicenseStatus")
                    .and_then(|s| u32::try_from(s).ok())
                    .map(|s| scenario::license_status_name(s).to_string()),
                channel: channel.as_str(),
                partial_key: trimmed(l, "PartialProductKey"),
                kms_host,
                grace_minutes: int(l, "GracePeriodRemaining"),
            }
        })
        .collect()
}

/// `core_licences`: the Windows Server core licences one server needs.
#[derive(Debug, PartialEq)]
pub(crate) struct CoreLicenceRow {
    /// Processors (sockets): `Win32_Processor` instances.
    pub processors: i64,
    pub physical_cores: i64,
    pub core_licences: i64,
    pub packs: i64,
    /// The rule's published source.
    pub rule: &'static str,
}

/// Whether the operating system is a Windows Server: `ProductType` 2 (domain
/// controller) or 3 (server), else a caption that says so.
fn is_server(inv: &Inventory) -> bool {
    let Some(ref os) = inv.first("Win32_OperatingSystem") else {
        return false;
    };
    match int(os, "ProductType") {
        Some(t) => t == 2 || t == 3,
        None => text(os, "Caption").is_some_and(|c| c.contains("Server")),
    }
}

/// The core licences of a Windows Server with its processors collected; `None` for a
/// client, or a server whose processors were not read.
pub(crate) fn core_licence(inv: &Inventory) -> Option<CoreLicenceRow> {
    if !is_server(inv) {
        return None;
    }
    let procs = inv.class("Win32_Processor")?;
    let cores: Vec<u32> = procs
        .iter()
        .map(|p| {
            int(p, "NumberOfCores")
                .and_then(|c| u32::try_from(c).ok())
                .unwrap_or(0)
        })
        .collect();
    let n = scenario::core_licences(&WINDOWS_SERVER_CORE_RULE, &cores);
    Some(CoreLicenceRow {
        processors: super::codec::to_i64(procs.len()),
        physical_cores: i64::from(n.physical_cores),
        core_licences: i64::from(n.core_licences),
        packs: i64::from(n.packs),
        rule: WINDOWS_SERVER_CORE_RULE.source,
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

    fn adv(service: &str, name: &str, s: Option<&str>, n: Option<u32>) -> Value {
        let mut v = json!({"ServiceName": service, "SqlServiceType": 1, "PropertyName": name});
        if let Some(s) = s {
            v["PropertyStrValue"] = json!(s);
        }
        if let Some(n) = n {
            v["PropertyNumValue"] = json!(n);
        }
        v
    }

    #[test]
    fn sql_instances_merge_wmi_and_the_registry() {
        let i = inv(vec![
            (
                "registry:sql-instances",
                vec![
                    json!({"name": "MSSQLSERVER", "data": "MSSQL15.MSSQLSERVER",
                        "Edition": "Standard Edition", "Version": "15.0.2000.5",
                        "PatchLevel": "15.0.4261.1", "SP": 0}),
                    json!({"name": "LEGACY", "data": "MSSQL11.LEGACY",
                        "Edition": "Express Edition", "Version": "11.0.7001.0",
                        "PatchLevel": null, "SP": 4}),
                    json!({"name": null, "data": "x"}),
                ],
            ),
            (
                "SqlService",
                vec![
                    json!({"ServiceName": "MSSQLSERVER", "SQLServiceType": 1, "State": 4,
                        "StartMode": 2, "StartName": "LAB\\svc-sql1"}),
                    json!({"ServiceName": "SQLSERVERAGENT", "SQLServiceType": 2, "State": 1}),
                    json!({"ServiceName": "MSSQL$SALES", "SQLServiceType": 1, "State": 1,
                        "StartMode": 3, "StartName": "NT Service\\MSSQL$SALES"}),
                ],
            ),
            (
                "SqlServiceAdvancedProperty",
                vec![
                    adv(
                        "MSSQLSERVER",
                        "SKUNAME",
                        Some("Enterprise Edition: Core-based Licensing (64-bit)"),
                        None,
                    ),
                    adv("MSSQLSERVER", "VERSION", Some("15.0.2000.5"), None),
                    adv("MSSQLSERVER", "CLUSTERED", None, Some(1)),
                    adv("MSSQLSERVER", "SPLEVEL", None, Some(0)),
                    adv("MSSQL$SALES", "VERSION", Some("16.0.1000.6"), None),
                    adv("MSSQL$SALES", "INSTANCEID", Some("MSSQL16.SALES"), None),
                    adv("MSSQL$NOSUCH", "VERSION", Some("1"), None),
                ],
            ),
        ]);
        let rows = sql_instances(&i);
        assert_eq!(rows.len(), 3, "{rows:?}");
        let d = &rows[0];
        assert_eq!(d.instance, "MSSQLSERVER");
        assert_eq!(d.source, "wmi+registry");
        assert_eq!(
            d.edition.as_deref(),
            Some("Enterprise Edition: Core-based Licensing (64-bit)"),
            "WMI's SKU name wins"
        );
        assert_eq!(d.product.as_deref(), Some("SQL Server 2019"));
        assert_eq!(
            d.patch_level.as_deref(),
            Some("15.0.4261.1"),
            "from the registry"
        );
        assert_eq!(d.clustered, Some(true));
        assert_eq!(d.state.as_deref(), Some("Running"));
        assert_eq!(d.start_mode.as_deref(), Some("Auto"));
        assert_eq!(d.service_account.as_deref(), Some("LAB\\svc-sql1"));
        let l = &rows[1];
        assert_eq!((l.instance.as_str(), l.source), ("LEGACY", "registry"));
        assert_eq!(l.service_pack, Some(4));
        assert_eq!(l.product.as_deref(), Some("SQL Server 2012"));
        assert_eq!(l.state, None);
        let s = &rows[2];
        assert_eq!((s.instance.as_str(), s.source), ("SALES", "wmi"));
        assert_eq!(s.instance_id.as_deref(), Some("MSSQL16.SALES"));
        assert_eq!(s.state.as_deref(), Some("Stopped"));
        assert_eq!(s.product.as_deref(), Some("SQL Server 2022"));
        assert!(sql_instances(&Inventory::default()).is_empty());
    }

    #[test]
    fn platforms_guests_and_the_physical_host() {
        let mut i = inv(vec![
            (
                "Win32_ComputerSystem",
                vec![
                    json!({"Manufacturer": "Microsoft Corporation", "Model": "Virtual Machine",
                    "HypervisorPresent": true}),
                ],
            ),
            (
                "Win32_BIOS",
                vec![json!({"SerialNumber": "0000-0017-1234"})],
            ),
        ]);
        i.registry_values.push((
            "hyperv-physical-host".into(),
            Some(" HV03.lab.example ".into()),
        ));
        let p = platform(&i).unwrap();
        assert_eq!(p.platform, "hyper-v");
        assert!(p.is_virtual);
        assert_eq!(p.hypervisor_present, Some(true));
        assert_eq!(p.physical_host.as_deref(), Some("HV03.lab.example"));
        assert_eq!(p.guests, None, "no virtualization namespace read");

        let host = inv(vec![
            (
                "Win32_ComputerSystem",
                vec![
                    json!({"Manufacturer": "Dell Inc.", "Model": "PowerEdge R740",
                    "HypervisorPresent": true}),
                ],
            ),
            (
                "Msvm_ComputerSystem",
                vec![
                    json!({"Caption": "Hosting Computer System", "Name": "HV01", "ElementName": "HV01", "EnabledState": 2}),
                    json!({"Caption": "Virtual Machine", "Name": "A1B2", "ElementName": "HV01-VM01",
                        "EnabledState": 2, "OnTimeInMilliseconds": "7200500"}),
                    json!({"Caption": "Virtual Machine", "Name": "C3D4", "ElementName": "HV01-VM02",
                        "EnabledState": 3, "OnTimeInMilliseconds": 0}),
                ],
            ),
        ]);
        let p = platform(&host).unwrap();
        assert_eq!(
            (p.platform, p.is_virtual, p.guests),
            ("physical", false, Some(2))
        );
        let g = vm_guests(&host);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].name.as_deref(), Some("HV01-VM01"));
        assert_eq!(g[0].state.as_deref(), Some("Running"));
        assert_eq!(g[0].uptime_s, Some(7200));
        assert_eq!(g[1].state.as_deref(), Some("Off"));
        assert_eq!(platform(&Inventory::default()), None);
    }

    #[test]
    fn licences_have_their_channel_and_kms_host() {
        let i = inv(vec![(
            "SoftwareLicensingProduct",
            vec![
                json!({"Name": "Windows(R), ServerStandard edition", "ApplicationID": "55c92734-d682-4d71-983e-d6ec3f16059f",
                    "LicenseStatus": 1, "PartialProductKey": "WMDGN", "ProductKeyChannel": "Volume:GVLK",
                    "KeyManagementServiceMachine": "", "KeyManagementServicePort": 0,
                    "DiscoveredKeyManagementServiceMachineName": "kms01.lab.example",
                    "DiscoveredKeyManagementServiceMachinePort": 1688, "GracePeriodRemaining": 250000}),
                json!({"Name": "Office 19", "ApplicationID": "0ff1ce15-a989-479d-af46-f275c6370663",
                    "LicenseStatus": 1, "PartialProductKey": "6MWKP", "ProductKeyChannel": "Volume:GVLK",
                    "KeyManagementServiceMachine": "kms02", "KeyManagementServicePort": 1688}),
                json!({"Name": "Windows(R), Professional edition", "LicenseStatus": 5,
                    "PartialProductKey": "ABCDE", "ProductKeyChannel": "",
                    "Description": "Windows(R) Operating System, VOLUME_MAK channel"}),
                json!({"Name": "Windows(R), Core edition", "LicenseStatus": 0}),
            ],
        )]);
        let l = licences(&i);
        assert_eq!(l.len(), 3, "the product without a key is no licence");
        assert_eq!(l[0].channel, "volume-kms");
        assert_eq!(l[0].application.as_deref(), Some("Windows"));
        assert_eq!(
            l[0].kms_host.as_deref(),
            Some("kms01.lab.example:1688"),
            "found in DNS"
        );
        assert_eq!(l[0].licence_status.as_deref(), Some("licensed"));
        assert_eq!(l[0].grace_minutes, Some(250_000));
        assert_eq!(
            l[1].kms_host.as_deref(),
            Some("kms02:1688"),
            "set on the client"
        );
        assert_eq!(l[1].application.as_deref(), Some("Office"));
        assert_eq!(l[2].channel, "volume-mak");
        assert_eq!(l[2].kms_host, None);
        assert_eq!(l[2].licence_status.as_deref(), Some("notification"));
        assert_eq!(l[2].application, None);
    }

    #[test]
    fn core_licences_for_servers_only() {
        let server = |product_type: Option<i64>, caption: &str, cores: &[i64]| {
            let mut os = json!({"Caption": caption});
            if let Some(t) = product_type {
                os["ProductType"] = json!(t);
            }
            inv(vec![
                ("Win32_OperatingSystem", vec![os]),
                (
                    "Win32_Processor",
                    cores.iter().map(|c| json!({"NumberOfCores": c})).collect(),
                ),
            ])
        };
        let r = core_licence(&server(
            Some(3),
            "Microsoft Windows Server 2022 Standard",
            &[12, 12],
        ))
        .unwrap();
        assert_eq!(
            (r.processors, r.physical_cores, r.core_licences, r.packs),
            (2, 24, 24, 12)
        );
        let r = core_licence(&server(
            Some(2),
            "Microsoft Windows Server 2019 Datacenter",
            &[4],
        ))
        .unwrap();
        assert_eq!((r.physical_cores, r.core_licences, r.packs), (4, 16, 8));
        assert!(r.rule.contains("16 core licenses per server"));
        let r = core_licence(&server(
            None,
            "Microsoft Windows Server 2016 Standard",
            &[10, 4],
        ))
        .unwrap();
        assert_eq!(r.core_licences, 18);
        assert_eq!(
            core_licence(&server(Some(1), "Microsoft Windows 11 Pro", &[8])),
            None
        );
        let no_procs = inv(vec![(
            "Win32_OperatingSystem",
            vec![json!({"ProductType": 3})],
        )]);
        assert_eq!(core_licence(&no_procs), None);
    }
}
