//! The assessment scenarios' classes and data (what MAP's SQL Server, server roles,
//! virtualization and licensing wizards read): class definitions with the property names
//! and CIM types of Microsoft's class documentation, and per-host instances and registry
//! keys drawn from the host's seed (a stream of its own, so the base classes stay what
//! they were).
//!
//! - SQL Server: `root\Microsoft\SqlServer\ComputerManagementNN` (NN 11 for 2012 up to 16
//!   for 2022, one namespace per installed major version, each listing every instance as
//!   the newest WMI provider does), `SqlService` and `SqlServiceAdvancedProperty` (SQL
//!   Server WMI Provider for Configuration Management reference); the registry's
//!   `SOFTWARE\Microsoft\Microsoft SQL Server\Instance Names\SQL` and each instance's
//!   `Setup` key.
//! - Roles: `Win32_ServerFeature` (ID, ParentID, Name), on Server SKUs only: a client has
//!   no such class and a query returns WBEM_E_INVALID_CLASS, as on Windows.
//! - Virtualization: Hyper-V hosts (physical servers with the role, `ID` 20) have
//!   `root\virtualization\v2` with `Msvm_ComputerSystem`: the host itself ("Hosting
//!   Computer System") and its guests ("Virtual Machine"); Hyper-V guests carry
//!   `SOFTWARE\Microsoft\Virtual Machine\Guest\Parameters` with their host's name.
//! - Licensing: `SoftwareLicensingProduct` (root\cimv2) with one row per licence the
//!   host knows, the installed ones with a `PartialProductKey`, the channel in
//!   `Description` and `ProductKeyChannel` (retail, OEM, volume MAK, volume KMS client
//!   with the published KMS client setup keys' last five characters) and
//!   `SoftwareLicensingService`.
//! - `__NAMESPACE` in every namespace the host has, with its child namespaces.

use std::collections::HashMap;
use std::sync::LazyLock;

use winv_wmio::{ClassDef, Value};

use crate::data::classes::{build, q, same_namespace, Level, FLAVOR_PROPAGATE_TO_INSTANCE};
use crate::data::host::{dmtf, guid, Table, REFERENCE_TIME};
use crate::data::profile::Profile;
use crate::registry::{RegValue, Registry, HKEY_LOCAL_MACHINE};
use crate::rng::SplitMix64;

/// `root\Microsoft\SqlServer`, the parent of the ComputerManagementNN namespaces.
pub const NS_SQL: &str = "root\\Microsoft\\SqlServer";
/// `root\virtualization\v2`.
pub const NS_VIRTUALIZATION: &str = "root\\virtualization\\v2";
/// The key of SQL Server's instance list.
pub const SQL_INSTANCE_NAMES: &str =
    "SOFTWARE\\Microsoft\\Microsoft SQL Server\\Instance Names\\SQL";

/// A SQL Server major version: (release, ComputerManagement number, RTM version with the
/// service pack in its minor part, service pack level, patch level (latest CU)).
pub type SqlVersion = (&'static str, u32, &'static str, u32, &'static str);

/// SQL Server versions the simulator installs.
pub const SQL_VERSIONS: &[SqlVersion] = &[
    ("2012", 11, "11.4.7001.0", 4, "11.4.7507.2"),
    ("2014", 12, "12.3.6024.0", 3, "12.3.6444.4"),
    ("2016", 13, "13.3.6300.2", 3, "13.3.7029.3"),
    ("2017", 14, "14.0.1000.169", 0, "14.0.3465.1"),
    ("2019", 15, "15.0.2000.5", 0, "15.0.4395.2"),
    ("2022", 16, "16.0.1000.6", 0, "16.0.4145.4"),
];

/// SQL Server editions: (SKUNAME, SKU as SQL Server reports it (a uint32 of the signed
/// edition id), registry `Edition`).
pub const SQL_EDITIONS: &[(&str, u32, &str)] = &[
    (
        "Enterprise Edition: Core-based Licensing (64-bit)",
        1_674_378_470,
        "Enterprise Edition: Core-based Licensing",
    ),
    (
        "Standard Edition (64-bit)",
        2_760_240_536,
        "Standard Edition",
    ),
    (
        "Developer Edition (64-bit)",
        2_176_971_986,
        "Developer Edition",
    ),
    ("Express Edition (64-bit)", 2_702_571_241, "Express Edition"),
    ("Web Edition (64-bit)", 1_293_598_313, "Web Edition"),
];

/// Server roles and features: (ID, ParentID, Name), from the `Win32_ServerFeature` ID list.
pub const SERVER_FEATURES: &[(u32, u32, &str)] = &[
    (481, 0, "File and Storage Services"),
    (482, 481, "Storage Services"),
    (2, 0, "Web Server (IIS)"),
    (140, 2, "Web Server"),
    (10, 0, "Active Directory Domain Services"),
    (13, 0, "DNS Server"),
    (12, 0, "DHCP Server"),
    (7, 0, "Print and Document Services"),
    (18, 0, "Remote Desktop Services"),
    (20, 0, "Hyper-V"),
];

/// The Windows application ID of `SoftwareLicensingProduct`.
pub const WINDOWS_APPLICATION_ID: &str = "55c92734-d682-4d71-983e-d6ec3f16059f";
/// The Office application ID.
pub const OFFICE_APPLICATION_ID: &str = "0ff1ce15-a989-479d-af46-f275c6370663";

/// An activation channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Retail,
    Oem,
    VolumeMak,
    VolumeKms,
}

impl Channel {
    /// The channel word in `SoftwareLicensingProduct.Description`.
    pub fn description_word(self) -> &'static str {
        match self {
            Channel::Retail => "RETAIL",
            Channel::Oem => "OEM_DM",
            Channel::VolumeMak => "VOLUME_MAK",
            Channel::VolumeKms => "VOLUME_KMSCLIENT",
        }
    }

    /// `ProductKeyChannel`.
    pub fn product_key_channel(self) -> &'static str {
        match self {
            Channel::Retail => "Retail",
            Channel::Oem => "OEM:DM",
            Channel::VolumeMak => "Volume:MAK",
            Channel::VolumeKms => "Volume:GVLK",
        }
    }
}

/// The last five characters of Microsoft's published KMS client setup keys (GVLKs), by
/// `EditionID` and build.
fn gvlk_partial(edition: &str, build: &str) -> &'static str {
    match (edition, build) {
        ("ServerStandard", "9600") => "MDVJX",
        ("ServerDatacenter", "9600") => "Y4TGP",
        ("ServerStandard", "14393") => "KHKQY",
        ("ServerDatacenter", "14393") => "7CX7D",
        ("ServerStandard", "17763") => "J464C",
        ("ServerDatacenter", "17763") => "63DFG",
        ("ServerStandard", "20348") => "VMK7H",
        ("ServerDatacenter", "20348") => "6VM33",
        ("ServerStandard", "26100") => "MY832",
        ("ServerDatacenter", "26100") => "YP6DF",
        ("Enterprise", _) => "2YT43",
        _ => "T83GX", // Professional
    }
}

// ---------------------------------------------------------------------------------------
// Classes.

fn provider_qualifiers(provider: &str) -> Vec<winv_wmio::Qualifier> {
    vec![
        q(
            "dynamic",
            FLAVOR_PROPAGATE_TO_INSTANCE,
            Value::Boolean(true),
        ),
        q(
            "provider",
            FLAVOR_PROPAGATE_TO_INSTANCE,
            Value::String(provider.into()),
        ),
    ]
}

fn sql_service() -> ClassDef {
    build(
        &[(
            "SqlService",
            &[
                "AcceptPause:boolean",
                "AcceptStop:boolean",
                "BinaryPath:string",
                "Description:string",
                "DisplayName:string",
                "ErrorControl:uint32",
                "ExitCode:uint32",
                "HostName:string",
                "ProcessId:uint32",
                "ServiceName:string",
                "SQLServiceType:uint32",
                "StartMode:uint32",
                "StartName:string",
                "State:uint32",
            ],
        )],
        &["ServiceName", "SQLServiceType"],
        provider_qualifiers("MSSQL_ManagementProvider"),
    )
}

fn sql_service_advanced_property() -> ClassDef {
    build(
        &[(
            "SqlServiceAdvancedProperty",
            &[
                "IsReadOnly:boolean",
                "PropertyIndex:uint32",
                "PropertyName:string",
                "PropertyNumValue:uint32",
                "PropertyStrValue:string",
                "PropertyValueType:uint32",
                "ServiceName:string",
                "SqlServiceType:uint32",
            ],
        )],
        &[
            "PropertyIndex",
            "PropertyName",
            "ServiceName",
            "SqlServiceType",
        ],
        provider_qualifiers("MSSQL_ManagementProvider"),
    )
}

fn server_feature() -> ClassDef {
    build(
        &[(
            "Win32_ServerFeature",
            &["ID:uint32", "ParentID:uint32", "Name:string"],
        )],
        &["ID"],
        provider_qualifiers("ServerFeatureProvider"),
    )
}

const MSE: Level = (
    "CIM_ManagedSystemElement",
    &[
        "Caption:string",
        "Description:string",
        "ElementName:string",
        "HealthState:uint16",
        "InstallDate:datetime",
        "Name:string",
        "OperationalStatus:uint16[]",
        "Status:string",
    ],
);

fn msvm_computer_system() -> ClassDef {
    build(
        &[
            MSE,
            ("CIM_LogicalElement", &[]),
            (
                "CIM_EnabledLogicalElement",
                &[
                    "EnabledDefault:uint16",
                    "EnabledState:uint16",
                    "RequestedState:uint16",
                    "TimeOfLastStateChange:datetime",
                ],
            ),
            (
                "CIM_System",
                &[
                    "CreationClassName:string",
                    "PrimaryOwnerContact:string",
                    "PrimaryOwnerName:string",
                ],
            ),
            ("CIM_ComputerSystem", &[]),
            (
                "Msvm_ComputerSystem",
                &[
                    "EnhancedSessionModeState:uint16",
                    "NumberOfNumaNodes:uint16",
                    "OnTimeInMilliseconds:uint64",
                    "ProcessID:uint32",
                    "TimeOfLastConfigurationChange:datetime",
                ],
            ),
        ],
        &["CreationClassName", "Name"],
        provider_qualifiers("VmmsWmiInstanceAndMethodProvider"),
    )
}

const LICENSING_PRODUCT: &[&str] = &[
    "ID:string",
    "Name:string",
    "Description:string",
    "ApplicationID:string",
    "ProcessorURL:string",
    "MachineURL:string",
    "ProductKeyURL:string",
    "UseLicenseURL:string",
    "LicenseStatus:uint32",
    "LicenseStatusReason:uint32",
    "GracePeriodRemaining:uint32",
    "EvaluationEndDate:datetime",
    "OfflineInstallationId:string",
    "PartialProductKey:string",
    "ProductKeyID:string",
    "ProductKeyID2:string",
    "ProductKeyChannel:string",
    "LicenseFamily:string",
    "LicenseDependsOn:string",
    "LicenseIsAddon:boolean",
    "VLActivationInterval:uint32",
    "VLRenewalInterval:uint32",
    "KeyManagementServiceProductKeyID:string",
    "KeyManagementServiceMachine:string",
    "KeyManagementServicePort:uint32",
    "DiscoveredKeyManagementServiceMachineName:string",
    "DiscoveredKeyManagementServiceMachinePort:uint32",
    "DiscoveredKeyManagementServiceMachineIpAddress:string",
    "KeyManagementServiceLookupDomain:string",
    "GenuineStatus:uint32",
    "ExtendedGrace:uint32",
    "RemainingAppReArmCount:uint32",
    "RemainingSkuReArmCount:uint32",
];

fn licensing_product() -> ClassDef {
    build(
        &[("SoftwareLicensingProduct", LICENSING_PRODUCT)],
        &["ID"],
        provider_qualifiers("SppProvider"),
    )
}

fn licensing_service() -> ClassDef {
    build(
        &[(
            "SoftwareLicensingService",
            &[
                "Version:string",
                "KeyManagementServiceMachine:string",
                "IsKeyManagementServiceMachine:uint32",
                "VLActivationInterval:uint32",
                "VLRenewalInterval:uint32",
                "KeyManagementServiceCurrentCount:uint32",
                "RequiredClientCount:uint32",
                "KeyManagementServiceProductKeyID:string",
                "DiscoveredKeyManagementServiceMachineName:string",
                "DiscoveredKeyManagementServiceMachinePort:uint32",
                "PolicyCacheRefreshRequired:uint32",
                "ClientMachineID:string",
                "RemainingWindowsReArmCount:uint32",
                "KeyManagementServiceListeningPort:uint32",
                "KeyManagementServiceDnsPublishing:boolean",
                "KeyManagementServiceLowPriority:boolean",
                "KeyManagementServiceHostCaching:boolean",
                "KeyManagementServicePort:uint32",
                "OA3xOriginalProductKey:string",
            ],
        )],
        &["Version"],
        provider_qualifiers("SppProvider"),
    )
}

fn namespace_class() -> ClassDef {
    build(&[("__NAMESPACE", &["Name:string"])], &["Name"], Vec::new())
}

static NAMESPACE: LazyLock<ClassDef> = LazyLock::new(namespace_class);

static CIMV2_SCENARIO: LazyLock<HashMap<String, ClassDef>> = LazyLock::new(|| {
    [server_feature(), licensing_product(), licensing_service()]
        .into_iter()
        .map(|c| (c.name.to_ascii_lowercase(), c))
        .collect()
});

static SQL: LazyLock<HashMap<String, ClassDef>> = LazyLock::new(|| {
    [sql_service(), sql_service_advanced_property()]
        .into_iter()
        .map(|c| (c.name.to_ascii_lowercase(), c))
        .collect()
});

static VIRTUALIZATION: LazyLock<ClassDef> = LazyLock::new(msvm_computer_system);

/// Whether `namespace` is one of SQL Server's `ComputerManagementNN` namespaces.
pub fn is_sql_namespace(namespace: &str) -> Option<u32> {
    let n = namespace
        .trim_start_matches(['\\', '/'])
        .replace('/', "\\")
        .to_ascii_lowercase();
    let rest = n.strip_prefix("root\\microsoft\\sqlserver\\computermanagement")?;
    if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

/// A scenario class of `namespace` (any host's; whether a given host has it is
/// [`crate::data::host::HostData::class`]'s business).
pub fn class(namespace: &str, name: &str) -> Option<&'static ClassDef> {
    let lower = name.to_ascii_lowercase();
    if lower == "__namespace" {
        return Some(&NAMESPACE);
    }
    if same_namespace(namespace, crate::data::classes::NS_CIMV2) {
        return CIMV2_SCENARIO
            .get(&lower)
            .or_else(|| crate::data::perf::class(name));
    }
    if is_sql_namespace(namespace).is_some() {
        return SQL.get(&lower);
    }
    if same_namespace(namespace, NS_VIRTUALIZATION) && lower == "msvm_computersystem" {
        return Some(&VIRTUALIZATION);
    }
    None
}

// ---------------------------------------------------------------------------------------
// Generation.

/// What the base generation decided that the scenarios depend on.
pub struct HostFacts<'a> {
    pub profile: &'a Profile,
    pub host_name: &'a str,
    pub domain: &'a str,
    pub virtual_machine: bool,
    pub hyperv_guest: bool,
    pub manufacturer: &'a str,
    pub logical_processors: u32,
    pub bias: i16,
}

/// One SQL Server instance of a host (for tests and reports: what the host serves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlInstance {
    /// `MSSQLSERVER` for the default instance.
    pub name: String,
    /// `MSSQL15.MSSQLSERVER`.
    pub id: String,
    pub version: &'static SqlVersion,
    pub edition: &'static (&'static str, u32, &'static str),
    pub clustered: bool,
    pub running: bool,
    pub account: String,
}

/// The scenario part of a host's data.
#[derive(Debug, Default)]
pub struct Scenario {
    /// (normalized lower-case namespace, table).
    pub tables: Vec<(String, Table)>,
    /// Namespaces the host has beyond root, root\cimv2 and root\default (lower case).
    pub namespaces: Vec<String>,
    pub sql: Vec<SqlInstance>,
    /// Hyper-V guests' names when the host is a Hyper-V host.
    pub guests: Vec<String>,
    pub channel: Option<Channel>,
    /// Extra Win32_Service rows: (name, display, start mode, state, path, account).
    pub services: Vec<(String, String, String, String, String, String)>,
}

fn norm(ns: &str) -> String {
    ns.to_ascii_lowercase()
}

fn table_in<'a>(
    tables: &'a mut Vec<(String, Table)>,
    ns: &str,
    class: &'static ClassDef,
) -> &'a mut Table {
    let key = norm(ns);
    let pos = tables
        .iter()
        .position(|(n, t)| *n == key && std::ptr::eq(t.class, class));
    match pos {
        Some(i) => &mut tables[i].1,
        None => {
            tables.push((key, Table::new(class)));
            let last = tables.len() - 1;
            &mut tables[last].1
        }
    }
}

impl Scenario {
    /// Draws the scenario data of a host and adds its registry keys to `registry`.
    pub fn generate(seed: u64, facts: &HostFacts<'_>, registry: &mut Registry) -> Scenario {
        let mut rng = SplitMix64::derive(seed ^ 0x5CE7_A210, facts.host_name);
        let mut s = Scenario::default();
        let server = facts.profile.is_server();
        let host_upper = facts.host_name.to_uppercase();

        // Roles.
        let mut features: Vec<(u32, u32, &str)> = Vec::new();
        let hyperv_host = server && !facts.virtual_machine && rng.chance(50);
        if server {
            features.extend(SERVER_FEATURES.iter().take(2).copied());
            for f in SERVER_FEATURES.iter().skip(2) {
                let take = match f.0 {
                    20 => hyperv_host,
                    140 => features.iter().any(|x| x.0 == 2),
                    _ => rng.chance(25),
                };
                if take {
                    features.push(*f);
                }
            }
            let c = CIMV2_SCENARIO.get("win32_serverfeature");
            if let Some(c) = c {
                let t = table_in(&mut s.tables, crate::data::classes::NS_CIMV2, c);
                for (id, parent, name) in &features {
                    t.row()
                        .u32("ID", *id)
                        .u32("ParentID", *parent)
                        .s("Name", *name);
                }
            }
        }

        // SQL Server: on 40 % of servers, 10 % of clients (Express / Developer).
        let sql_chance = if server { 40 } else { 10 };
        if rng.chance(sql_chance) {
            let count = if server { rng.range(1, 3) } else { 1 };
            let domain_short = facts.domain.split('.').next().unwrap_or("").to_uppercase();
            for i in 0..count {
                let version = &SQL_VERSIONS[rng.below(SQL_VERSIONS.len() as u64) as usize];
                let edition = if server {
                    &SQL_EDITIONS[rng.below(3) as usize]
                } else {
                    &SQL_EDITIONS[2 + rng.below(2) as usize]
                };
                let name = if i == 0 {
                    "MSSQLSERVER".to_string()
                } else {
                    ["SALES", "REPORTING", "SHAREPOINT"][i as usize - 1].to_string()
                };
                let clustered = server && rng.chance(15);
                let running = rng.chance(90);
                let account = if rng.chance(50) && !domain_short.is_empty() {
                    format!("{domain_short}\\svc-sql{}", i + 1)
                } else if name == "MSSQLSERVER" {
                    "NT Service\\MSSQLSERVER".to_string()
                } else {
                    format!("NT Service\\MSSQL${name}")
                };
                s.sql.push(SqlInstance {
                    id: format!("MSSQL{}.{name}", version.1),
                    name,
                    version,
                    edition,
                    clustered,
                    running,
                    account,
                });
            }
            s.fill_sql(&mut rng, &host_upper, registry);
        }

        // Hyper-V.
        if hyperv_host {
            let ns = NS_VIRTUALIZATION;
            s.namespaces.push("root\\virtualization".into());
            s.namespaces.push(norm(ns));
            let n = rng.range(2, 6);
            let install = REFERENCE_TIME - rng.range(100, 900) as i64 * 86_400;
            let t = table_in(&mut s.tables, ns, &VIRTUALIZATION);
            t.row()
                .s("Caption", "Hosting Computer System")
                .s("Description", "Microsoft Hosting Computer System")
                .s("ElementName", &host_upper)
                .u16("HealthState", 5)
                .dt("InstallDate", dmtf(install, facts.bias, 0))
                .s("Name", &host_upper)
                .u16s("OperationalStatus", &[2])
                .s("Status", "OK")
                .u16("EnabledDefault", 2)
                .u16("EnabledState", 2)
                .u16("RequestedState", 5)
                .s("CreationClassName", "Msvm_ComputerSystem")
                .u16("EnhancedSessionModeState", 3)
                .u16("NumberOfNumaNodes", 1);
            for g in 0..n {
                let vm = format!("{host_upper}-VM{:02}", g + 1);
                let id = guid(&mut rng).to_uppercase();
                let on = rng.chance(80);
                let up_ms = if on {
                    rng.range(3_600_000, 3_000_000_000)
                } else {
                    0
                };
                let pid = if on {
                    (rng.range(1000, 9000) as u32) & !3
                } else {
                    0
                };
                let t = table_in(&mut s.tables, ns, &VIRTUALIZATION);
                let mut r = t.row();
                r.s("Caption", "Virtual Machine")
                    .s("Description", "Microsoft Virtual Machine")
                    .s("ElementName", &vm)
                    .u16("HealthState", 5)
                    .dt(
                        "InstallDate",
                        dmtf(install + 86_400 * (g as i64 + 1), facts.bias, 0),
                    )
                    .s("Name", &id)
                    .u16s("OperationalStatus", &[2])
                    .s("Status", "OK")
                    .u16("EnabledDefault", 2)
                    .u16("EnabledState", if on { 2 } else { 3 })
                    .u16("RequestedState", if on { 2 } else { 3 })
                    .s("CreationClassName", "Msvm_ComputerSystem")
                    .u16("EnhancedSessionModeState", 3)
                    .u16("NumberOfNumaNodes", 1)
                    .u64("OnTimeInMilliseconds", up_ms);
                if on {
                    r.u32("ProcessID", pid);
                }
                s.guests.push(vm);
            }
        }
        if facts.hyperv_guest {
            let p = "SOFTWARE\\Microsoft\\Virtual Machine\\Guest\\Parameters";
            let host = format!("HV{:02}", rng.range(1, 12));
            let fqdn = if facts.domain.contains('.') {
                format!("{host}.{}", facts.domain)
            } else {
                host.clone()
            };
            registry.set(
                HKEY_LOCAL_MACHINE,
                p,
                "HostName",
                RegValue::Sz(fqdn.clone()),
            );
            registry.set(
                HKEY_LOCAL_MACHINE,
                p,
                "PhysicalHostName",
                RegValue::Sz(host),
            );
            registry.set(
                HKEY_LOCAL_MACHINE,
                p,
                "PhysicalHostNameFullyQualified",
                RegValue::Sz(fqdn),
            );
            registry.set(
                HKEY_LOCAL_MACHINE,
                p,
                "VirtualMachineName",
                RegValue::Sz(host_upper.clone()),
            );
            registry.set(
                HKEY_LOCAL_MACHINE,
                p,
                "VirtualMachineId",
                RegValue::Sz(guid(&mut rng).to_uppercase()),
            );
        }

        s.fill_licensing(&mut rng, facts);
        s
    }

    fn fill_sql(&mut self, rng: &mut SplitMix64, host_upper: &str, registry: &mut Registry) {
        let hk = HKEY_LOCAL_MACHINE;
        let mut versions: Vec<u32> = self.sql.iter().map(|i| i.version.1).collect();
        versions.sort_unstable();
        versions.dedup();
        self.namespaces.push("root\\microsoft".into());
        self.namespaces.push(norm(NS_SQL));
        let instances = self.sql.clone();
        for nn in &versions {
            let ns = format!("{NS_SQL}\\ComputerManagement{nn}");
            self.namespaces.push(norm(&ns));
            let svc = SQL.get("sqlservice");
            let adv = SQL.get("sqlserviceadvancedproperty");
            let (Some(svc), Some(adv)) = (svc, adv) else {
                continue;
            };
            // Instances the provider of this version sees: its own and older ones.
            for inst in instances.iter().filter(|i| i.version.1 <= *nn) {
                let engine = if inst.name == "MSSQLSERVER" {
                    "MSSQLSERVER".to_string()
                } else {
                    format!("MSSQL${}", inst.name)
                };
                let agent = if inst.name == "MSSQLSERVER" {
                    "SQLSERVERAGENT".to_string()
                } else {
                    format!("SQLAgent${}", inst.name)
                };
                let root = format!(
                    "C:\\Program Files\\Microsoft SQL Server\\{}\\MSSQL",
                    inst.id
                );
                let pid = if inst.running {
                    (SplitMix64::derive(u64::from(*nn), &engine).range(1000, 9000) as u32) & !3
                } else {
                    0
                };
                let t = table_in(&mut self.tables, &ns, svc);
                t.row()
                    .b("AcceptPause", inst.running)
                    .b("AcceptStop", inst.running)
                    .s("BinaryPath", format!("\"{root}\\Binn\\sqlservr.exe\" -s{}", inst.name))
                    .s("Description", "Provides storage, processing and controlled access of data, and rapid transaction processing.")
                    .s("DisplayName", format!("SQL Server ({})", inst.name))
                    .u32("ErrorControl", 1)
                    .u32("ExitCode", if inst.running { 0 } else { 1077 })
                    .s("HostName", host_upper)
                    .u32("ProcessId", pid)
                    .s("ServiceName", &engine)
                    .u32("SQLServiceType", 1)
                    .u32("StartMode", if inst.clustered { 3 } else { 2 })
                    .s("StartName", &inst.account)
                    .u32("State", if inst.running { 4 } else { 1 });
                t.row()
                    .b("AcceptPause", false)
                    .b("AcceptStop", false)
                    .s("BinaryPath", format!("\"{root}\\Binn\\SQLAGENT.EXE\" -i {}", inst.name))
                    .s("Description", "Executes jobs, monitors SQL Server, fires alerts, and allows automation of some administrative tasks.")
                    .s("DisplayName", format!("SQL Server Agent ({})", inst.name))
                    .u32("ErrorControl", 1)
                    .u32("ExitCode", 1077)
                    .s("HostName", host_upper)
                    .u32("ProcessId", 0)
                    .s("ServiceName", &agent)
                    .u32("SQLServiceType", 2)
                    .u32("StartMode", 3)
                    .s("StartName", &inst.account)
                    .u32("State", 1);
                let file_version = {
                    let v = inst.version.4;
                    let mut parts = v.split('.');
                    let major = parts.next().unwrap_or("15");
                    let _minor = parts.next();
                    let build = parts.next().unwrap_or("0");
                    let rev = parts.next().unwrap_or("0");
                    format!("{}.{major}0.{build}.{rev}", inst.version.0)
                };
                let strings: Vec<(&str, String)> = vec![
                    ("DATAPATH", root.clone()),
                    ("FILEVERSION", file_version),
                    ("INSTALLPATH", root.clone()),
                    ("INSTANCEID", inst.id.clone()),
                    ("PATCHLEVEL", inst.version.4.to_string()),
                    (
                        "REGROOT",
                        format!("Software\\Microsoft\\Microsoft SQL Server\\{}", inst.id),
                    ),
                    ("SKUNAME", inst.edition.0.to_string()),
                    (
                        "STARTUPPARAMETERS",
                        format!("-d{root}\\DATA\\master.mdf;-e{root}\\Log\\ERRORLOG;-l{root}\\DATA\\mastlog.ldf"),
                    ),
                    ("VERSION", inst.version.2.to_string()),
                    (
                        "VSNAME",
                        if inst.clustered {
                            format!("{host_upper}-SQLCL")
                        } else {
                            String::new()
                        },
                    ),
                ];
                let numbers: Vec<(&str, u32, u32)> = vec![
                    ("CLUSTERED", u32::from(inst.clustered), 2),
                    ("ISWOW64", 0, 2),
                    ("LANGUAGE", 1033, 1),
                    ("SKU", inst.edition.1, 1),
                    ("SPLEVEL", inst.version.3, 1),
                ];
                let t = table_in(&mut self.tables, &ns, adv);
                let mut index = 0u32;
                for (name, value) in strings {
                    t.row()
                        .b("IsReadOnly", true)
                        .u32("PropertyIndex", index)
                        .s("PropertyName", name)
                        .s("PropertyStrValue", value)
                        .u32("PropertyValueType", 0)
                        .s("ServiceName", &engine)
                        .u32("SqlServiceType", 1);
                    index += 1;
                }
                for (name, value, ty) in numbers {
                    t.row()
                        .b("IsReadOnly", true)
                        .u32("PropertyIndex", index)
                        .s("PropertyName", name)
                        .u32("PropertyNumValue", value)
                        .u32("PropertyValueType", ty)
                        .s("ServiceName", &engine)
                        .u32("SqlServiceType", 1);
                    index += 1;
                }
            }
        }
        // Registry and Win32_Service.
        for inst in &instances {
            registry.set(
                hk,
                SQL_INSTANCE_NAMES,
                &inst.name,
                RegValue::Sz(inst.id.clone()),
            );
            let setup = format!(
                "SOFTWARE\\Microsoft\\Microsoft SQL Server\\{}\\Setup",
                inst.id
            );
            let root = format!(
                "C:\\Program Files\\Microsoft SQL Server\\{}\\MSSQL",
                inst.id
            );
            registry.set(
                hk,
                &setup,
                "Edition",
                RegValue::Sz(inst.edition.2.to_string()),
            );
            registry.set(
                hk,
                &setup,
                "EditionType",
                RegValue::Sz(inst.edition.2.to_string()),
            );
            registry.set(
                hk,
                &setup,
                "Version",
                RegValue::Sz(inst.version.2.to_string()),
            );
            registry.set(
                hk,
                &setup,
                "PatchLevel",
                RegValue::Sz(inst.version.4.to_string()),
            );
            registry.set(hk, &setup, "SP", RegValue::Dword(inst.version.3));
            registry.set(hk, &setup, "Language", RegValue::Dword(1033));
            registry.set(hk, &setup, "SQLPath", RegValue::Sz(root.clone()));
            registry.set(
                hk,
                &setup,
                "SQLBinRoot",
                RegValue::Sz(format!("{root}\\Binn")),
            );
            registry.set(hk, &setup, "SQLDataRoot", RegValue::Sz(root.clone()));
            registry.set(
                hk,
                &setup,
                "ProductCode",
                RegValue::Sz(format!("{{{}}}", guid(rng).to_uppercase())),
            );
            if inst.clustered {
                registry.set(
                    hk,
                    &format!(
                        "SOFTWARE\\Microsoft\\Microsoft SQL Server\\{}\\Cluster",
                        inst.id
                    ),
                    "ClusterName",
                    RegValue::Sz(format!("{host_upper}-SQLCL")),
                );
            }
            let (engine, agent) = if inst.name == "MSSQLSERVER" {
                ("MSSQLSERVER".to_string(), "SQLSERVERAGENT".to_string())
            } else {
                (
                    format!("MSSQL${}", inst.name),
                    format!("SQLAgent${}", inst.name),
                )
            };
            self.services.push((
                engine,
                format!("SQL Server ({})", inst.name),
                if inst.clustered { "Manual" } else { "Auto" }.to_string(),
                if inst.running { "Running" } else { "Stopped" }.to_string(),
                format!("\"{root}\\Binn\\sqlservr.exe\" -s{}", inst.name),
                inst.account.clone(),
            ));
            self.services.push((
                agent,
                format!("SQL Server Agent ({})", inst.name),
                "Manual".to_string(),
                "Stopped".to_string(),
                format!("\"{root}\\Binn\\SQLAGENT.EXE\" -i {}", inst.name),
                inst.account.clone(),
            ));
        }
    }

    fn fill_licensing(&mut self, rng: &mut SplitMix64, facts: &HostFacts<'_>) {
        let server = facts.profile.is_server();
        let oem_vendor = !facts.virtual_machine;
        let draw = rng.below(100);
        let channel = if server {
            match draw {
                0..=49 => Channel::VolumeKms,
                50..=74 => Channel::VolumeMak,
                75..=84 => Channel::Retail,
                _ if oem_vendor => Channel::Oem,
                _ => Channel::VolumeKms,
            }
        } else {
            match draw {
                0..=39 if oem_vendor => Channel::Oem,
                0..=79 => Channel::VolumeKms,
                80..=94 => Channel::VolumeMak,
                _ => Channel::Retail,
            }
        };
        self.channel = Some(channel);
        let p = facts.profile;
        let edition = p.edition_id;
        let partial = if channel == Channel::VolumeKms {
            gvlk_partial(edition, p.build).to_string()
        } else {
            rng.alnum(5).to_uppercase()
        };
        let status = match rng.below(100) {
            0..=89 => 1u32,
            90..=94 => 5,
            _ => 2,
        };
        let grace = match (status, channel) {
            (1, Channel::VolumeKms) => rng.range(100_000, 259_200) as u32,
            (2, _) => rng.range(1_000, 43_200) as u32,
            _ => 0,
        };
        let kms_host = if facts.domain.contains('.') {
            format!("kms01.{}", facts.domain)
        } else {
            "kms01".to_string()
        };
        // KMS clients: half set the host explicitly, half find it through DNS (_vlmcs).
        let explicit_kms = channel == Channel::VolumeKms && rng.chance(50);
        let product_key_id = format!(
            "00{}-{}-{}-AA{}",
            rng.range(100, 999),
            rng.range(10000, 99999),
            rng.range(10000, 99999),
            rng.range(100, 999)
        );
        let Some(c) = CIMV2_SCENARIO.get("softwarelicensingproduct") else {
            return;
        };
        let ns = crate::data::classes::NS_CIMV2;
        let short_edition = edition;
        let name = format!("Windows(R), {short_edition} edition");
        let description = format!(
            "Windows(R) Operating System, {} channel",
            channel.description_word()
        );
        let id = guid(rng);
        {
            let t = table_in(&mut self.tables, ns, c);
            let mut r = t.row();
            r.s("ID", &id)
                .s("Name", &name)
                .s("Description", &description)
                .s("ApplicationID", WINDOWS_APPLICATION_ID)
                .u32("LicenseStatus", status)
                .u32(
                    "LicenseStatusReason",
                    if status == 1 { 0 } else { 0xC004_F056 },
                )
                .u32("GracePeriodRemaining", grace)
                .s("PartialProductKey", &partial)
                .s("ProductKeyID", &product_key_id)
                .s("ProductKeyChannel", channel.product_key_channel())
                .s("LicenseFamily", short_edition)
                .b("LicenseIsAddon", false)
                .u32("GenuineStatus", 0)
                .u32("ExtendedGrace", 0)
                .u32("RemainingAppReArmCount", 1001)
                .u32("RemainingSkuReArmCount", 1001);
            if channel == Channel::VolumeKms {
                r.u32("VLActivationInterval", 120)
                    .u32("VLRenewalInterval", 10_080)
                    .u32(
                        "KeyManagementServicePort",
                        if explicit_kms { 1688 } else { 0 },
                    )
                    .s(
                        "KeyManagementServiceMachine",
                        if explicit_kms { kms_host.as_str() } else { "" },
                    )
                    .s("DiscoveredKeyManagementServiceMachineName", &kms_host)
                    .u32("DiscoveredKeyManagementServiceMachinePort", 1688)
                    .s("KeyManagementServiceLookupDomain", "");
            }
        }
        // Other editions the licensing store knows, without a key.
        let others: &[&str] = if server {
            &[
                "ServerStandardEval",
                "ServerDatacenterEval",
                "ServerStandardCore",
            ]
        } else {
            &["Core", "Education", "ProfessionalWorkstation"]
        };
        for other in others {
            let id = guid(rng);
            let t = table_in(&mut self.tables, ns, c);
            t.row()
                .s("ID", &id)
                .s("Name", format!("Windows(R), {other} edition"))
                .s("Description", "Windows(R) Operating System, RETAIL channel")
                .s("ApplicationID", WINDOWS_APPLICATION_ID)
                .u32("LicenseStatus", 0)
                .u32("GracePeriodRemaining", 0)
                .s("LicenseFamily", *other)
                .b("LicenseIsAddon", false)
                .u32("GenuineStatus", 1);
        }
        if !server && rng.chance(40) {
            let id = guid(rng);
            let t = table_in(&mut self.tables, ns, c);
            t.row()
                .s("ID", &id)
                .s(
                    "Name",
                    "Office 19, Office19ProPlus2019VL_KMS_Client_AE edition",
                )
                .s("Description", "Office 19, VOLUME_KMSCLIENT channel")
                .s("ApplicationID", OFFICE_APPLICATION_ID)
                .u32("LicenseStatus", 1)
                .u32("GracePeriodRemaining", rng.range(100_000, 259_200) as u32)
                .s("PartialProductKey", "6MWKP")
                .s("ProductKeyChannel", "Volume:GVLK")
                .s("LicenseFamily", "Office19ProPlus2019VL_KMS_Client_AE")
                .b("LicenseIsAddon", false)
                .u32("VLActivationInterval", 120)
                .u32("VLRenewalInterval", 10_080)
                .s("DiscoveredKeyManagementServiceMachineName", &kms_host)
                .u32("DiscoveredKeyManagementServiceMachinePort", 1688)
                .u32("GenuineStatus", 0);
        }
        if let Some(c) = CIMV2_SCENARIO.get("softwarelicensingservice") {
            let client_id = guid(rng);
            let t = table_in(&mut self.tables, ns, c);
            let mut r = t.row();
            r.s("Version", format!("{}.{}", p.version, p.ubr))
                .u32("IsKeyManagementServiceMachine", 0)
                .u32("VLActivationInterval", 120)
                .u32("VLRenewalInterval", 10_080)
                .u32("KeyManagementServiceCurrentCount", 0)
                .u32("RequiredClientCount", 0)
                .u32("PolicyCacheRefreshRequired", 0)
                .s("ClientMachineID", client_id)
                .u32("RemainingWindowsReArmCount", 1001)
                .u32("KeyManagementServiceListeningPort", 0)
                .b("KeyManagementServiceDnsPublishing", true)
                .b("KeyManagementServiceLowPriority", false)
                .b("KeyManagementServiceHostCaching", true)
                .s("OA3xOriginalProductKey", "");
            if channel == Channel::VolumeKms {
                r.s(
                    "KeyManagementServiceMachine",
                    if explicit_kms { kms_host.as_str() } else { "" },
                )
                .u32("KeyManagementServicePort", 1688)
                .s("DiscoveredKeyManagementServiceMachineName", &kms_host)
                .u32("DiscoveredKeyManagementServiceMachinePort", 1688);
            }
        }
    }
}
