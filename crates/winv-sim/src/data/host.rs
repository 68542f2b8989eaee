//! Per-host data: the instances of every simulated class (root\cimv2) and a registry tree,
//! generated deterministically from a seed, an OS profile, the host name, its address and
//! its domain (same inputs, same data, on any machine: [`crate::rng::SplitMix64`]).
//!
//! Generation only fills value slots (`Vec<Slot>` per instance, classes are shared
//! statics); full [`Instance`] values (which own a copy of their class, as the MS-WMIO
//! object model wants) are built on first use per class and kept.
//!
//! Time: generation is clock-free. Dates (install, boot) are placed before a fixed
//! reference time, [`REFERENCE_TIME`]; the time classes show that time until the server
//! calls [`HostData::set_current_time`] with the real clock.

use std::net::IpAddr;
use std::sync::OnceLock;

use winv_wmio::{CimBase, ClassDef, Instance, Slot, Value};

use crate::data::classes::{self, CIMV2_CLASSES, NS_CIMV2};
use crate::data::perf::{self, PerfModel};
use crate::data::profile::{Profile, ServiceSpec, COMMON_SERVICES};
use crate::data::scenario::{HostFacts, Scenario};
use crate::registry::{RegValue, Registry, HKEY_LOCAL_MACHINE, HKEY_USERS};
use crate::rng::SplitMix64;

/// The fixed "now" of generated data: 2026-01-15 09:30:00 UTC, as Unix seconds.
pub const REFERENCE_TIME: i64 = 1_768_469_400;

/// One class's instances: the shared class and one slot vector per instance.
#[derive(Debug)]
pub struct Table {
    pub class: &'static ClassDef,
    pub rows: Vec<Vec<Slot>>,
    instances: OnceLock<Vec<Instance>>,
}

impl Table {
    pub(crate) fn new(class: &'static ClassDef) -> Table {
        Table {
            class,
            rows: Vec::new(),
            instances: OnceLock::new(),
        }
    }

    pub(crate) fn row(&mut self) -> RowRef<'_> {
        self.rows
            .push(vec![Slot::Null; self.class.properties.len()]);
        let class = self.class;
        // INVARIANT: a row was just pushed.
        let len = self.rows.len();
        RowRef {
            class,
            slots: &mut self.rows[len - 1],
        }
    }

    /// The rows as full instances (built once).
    pub fn instances(&self) -> &[Instance] {
        self.instances.get_or_init(|| {
            let class = std::sync::Arc::new(self.class.clone());
            self.rows
                .iter()
                .map(|r| Instance {
                    class: std::sync::Arc::clone(&class),
                    values: r.clone(),
                    qualifiers: Vec::new(),
                    property_qualifiers: Vec::new(),
                })
                .collect()
        })
    }
}

pub(crate) struct RowRef<'a> {
    class: &'static ClassDef,
    slots: &'a mut Vec<Slot>,
}

impl RowRef<'_> {
    pub(crate) fn set(&mut self, name: &str, value: Value) -> &mut Self {
        if let Some(i) = self.class.properties.iter().position(|p| p.name == name) {
            self.slots[i] = Slot::Set(value);
        } else {
            debug_assert!(false, "no property {name} in {}", self.class.name);
        }
        self
    }
    pub(crate) fn s(&mut self, name: &str, v: impl Into<String>) -> &mut Self {
        self.set(name, Value::String(v.into()))
    }
    pub(crate) fn u16(&mut self, name: &str, v: u16) -> &mut Self {
        self.set(name, Value::Uint16(v))
    }
    pub(crate) fn u32(&mut self, name: &str, v: u32) -> &mut Self {
        self.set(name, Value::Uint32(v))
    }
    pub(crate) fn u64(&mut self, name: &str, v: u64) -> &mut Self {
        self.set(name, Value::Uint64(v))
    }
    pub(crate) fn b(&mut self, name: &str, v: bool) -> &mut Self {
        self.set(name, Value::Boolean(v))
    }
    pub(crate) fn dt(&mut self, name: &str, v: String) -> &mut Self {
        self.set(name, Value::DateTime(v))
    }
    pub(crate) fn strs(&mut self, name: &str, v: &[&str]) -> &mut Self {
        self.set(
            name,
            Value::Array(
                CimBase::String,
                v.iter().map(|s| Value::String((*s).into())).collect(),
            ),
        )
    }
    pub(crate) fn u16s(&mut self, name: &str, v: &[u16]) -> &mut Self {
        self.set(
            name,
            Value::Array(
                CimBase::Uint16,
                v.iter().map(|x| Value::Uint16(*x)).collect(),
            ),
        )
    }
}

/// Everything one simulated host serves.
#[derive(Debug)]
pub struct HostData {
    pub host_name: String,
    pub address: IpAddr,
    pub domain: String,
    pub profile: Profile,
    /// Minutes east of UTC (`CurrentTimeZone`).
    pub bias_minutes: i16,
    /// One table per entry of [`CIMV2_CLASSES`], same order.
    tables: Vec<Table>,
    pub registry: Registry,
    /// The assessment scenarios' classes and namespaces (SQL Server, roles, Hyper-V,
    /// licensing).
    pub scenario: Scenario,
    /// The raw performance counters' model.
    pub perf: PerfModel,
    /// The time the time classes show and the perf classes are computed at when no time
    /// is given (a FILETIME).
    now_filetime: u64,
}

/// An error applying an explicit override.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    #[error("override key must be Class.Property: {0}")]
    BadKey(String),
    #[error("unknown class {0}")]
    UnknownClass(String),
    #[error("unknown property {0}")]
    UnknownProperty(String),
    #[error("value {value} does not fit property {property} of type {cim_type}")]
    BadValue {
        property: String,
        cim_type: String,
        value: String,
    },
}

struct Vendor {
    manufacturer: &'static str,
    model: &'static str,
    family: &'static str,
    bios_maker: &'static str,
    bios_version: &'static str,
    chassis: u16,
    virtual_machine: bool,
    nic: &'static str,
    mac_prefix: &'static str,
    disk_model: &'static str,
}

const SERVER_VENDORS: &[Vendor] = &[
    Vendor {
        manufacturer: "VMware, Inc.",
        model: "VMware7,1",
        family: "",
        bios_maker: "VMware, Inc.",
        bios_version: "VMW71.00V.21100432.B64.2301110304",
        chassis: 1,
        virtual_machine: true,
        nic: "vmxnet3 Ethernet Adapter",
        mac_prefix: "00:50:56",
        disk_model: "VMware Virtual disk SCSI Disk Device",
    },
    Vendor {
        manufacturer: "Microsoft Corporation",
        model: "Virtual Machine",
        family: "Virtual Machine",
        bios_maker: "Microsoft Corporation",
        bios_version: "Hyper-V UEFI Release v4.1",
        chassis: 3,
        virtual_machine: true,
        nic: "Microsoft Hyper-V Network Adapter",
        mac_prefix: "00:15:5D",
        disk_model: "Microsoft Virtual Disk",
    },
    Vendor {
        manufacturer: "Dell Inc.",
        model: "PowerEdge R740",
        family: "PowerEdge",
        bios_maker: "Dell Inc.",
        bios_version: "2.19.1",
        chassis: 23,
        virtual_machine: false,
        nic: "Broadcom NetXtreme Gigabit Ethernet",
        mac_prefix: "B0:26:28",
        disk_model: "DELL PERC H740P Mini SCSI Disk Device",
    },
    Vendor {
        manufacturer: "HPE",
        model: "ProLiant DL380 Gen10",
        family: "ProLiant",
        bios_maker: "HPE",
        bios_version: "U30",
        chassis: 23,
        virtual_machine: false,
        nic: "HPE Ethernet 1Gb 4-port 331i Adapter",
        mac_prefix: "94:40:C9",
        disk_model: "HPE LOGICAL VOLUME SCSI Disk Device",
    },
];

const CLIENT_VENDORS: &[Vendor] = &[
    Vendor {
        manufacturer: "Dell Inc.",
        model: "Latitude 7420",
        family: "Latitude",
        bios_maker: "Dell Inc.",
        bios_version: "1.32.0",
        chassis: 10,
        virtual_machine: false,
        nic: "Intel(R) Ethernet Connection (13) I219-LM",
        mac_prefix: "D0:8E:79",
        disk_model: "NVMe PC SN730 NVMe WDC 512GB",
    },
    Vendor {
        manufacturer: "LENOVO",
        model: "20W0005QUS",
        family: "ThinkPad T14 Gen 2i",
        bios_maker: "LENOVO",
        bios_version: "N34ET58W (1.58 )",
        chassis: 10,
        virtual_machine: false,
        nic: "Intel(R) Ethernet Connection (13) I219-V",
        mac_prefix: "8C:8C:AA",
        disk_model: "SAMSUNG MZVLB512HBJQ-000L7",
    },
    Vendor {
        manufacturer: "HP",
        model: "HP EliteDesk 800 G6 Desktop Mini PC",
        family: "103C_53307F HP EliteDesk",
        bios_maker: "HP",
        bios_version: "S21 Ver. 02.15.00",
        chassis: 35,
        virtual_machine: false,
        nic: "Intel(R) Ethernet Connection (11) I219-LM",
        mac_prefix: "F4:39:09",
        disk_model: "KXG60ZNV512G KIOXIA",
    },
];

struct Cpu {
    name: &'static str,
    manufacturer: &'static str,
    cores: u32,
    threads: u32,
    mhz: u32,
    family: u16,
    caption: &'static str,
    id: &'static str,
    l2: u32,
    l3: u32,
}

const CPUS: &[Cpu] = &[
    Cpu {
        name: "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz",
        manufacturer: "GenuineIntel",
        cores: 24,
        threads: 48,
        mhz: 2993,
        family: 179,
        caption: "Intel64 Family 6 Model 85 Stepping 7",
        id: "BFEBFBFF00050657",
        l2: 24576,
        l3: 36608,
    },
    Cpu {
        name: "Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz",
        manufacturer: "GenuineIntel",
        cores: 12,
        threads: 24,
        mhz: 2195,
        family: 179,
        caption: "Intel64 Family 6 Model 85 Stepping 7",
        id: "BFEBFBFF00050657",
        l2: 12288,
        l3: 16896,
    },
    Cpu {
        name: "AMD EPYC 7543 32-Core Processor",
        manufacturer: "AuthenticAMD",
        cores: 32,
        threads: 64,
        mhz: 2800,
        family: 107,
        caption: "AMD64 Family 25 Model 1 Stepping 1",
        id: "178BFBFF00A00F11",
        l2: 16384,
        l3: 262144,
    },
    Cpu {
        name: "11th Gen Intel(R) Core(TM) i7-1185G7 @ 3.00GHz",
        manufacturer: "GenuineIntel",
        cores: 4,
        threads: 8,
        mhz: 1805,
        family: 198,
        caption: "Intel64 Family 6 Model 140 Stepping 1",
        id: "BFEBFBFF000806C1",
        l2: 5120,
        l3: 12288,
    },
];

/// (DisplayName, DisplayVersion, Publisher, EstimatedSize KB, 32-bit, MSI)
type Software = (&'static str, &'static str, &'static str, u32, bool, bool);

const SOFTWARE: &[Software] = &[
    (
        "7-Zip 23.01 (x64)",
        "23.01",
        "Igor Pavlov",
        5_765,
        false,
        false,
    ),
    (
        "Google Chrome",
        "131.0.6778.86",
        "Google LLC",
        402_612,
        false,
        true,
    ),
    (
        "Mozilla Firefox (x64 en-US)",
        "133.0",
        "Mozilla",
        238_436,
        false,
        false,
    ),
    (
        "Notepad++ (64-bit x64)",
        "8.6.9",
        "Notepad++ Team",
        15_223,
        false,
        false,
    ),
    (
        "Microsoft Edge",
        "131.0.2903.70",
        "Microsoft Corporation",
        587_002,
        true,
        false,
    ),
    (
        "Microsoft Visual C++ 2015-2022 Redistributable (x64) - 14.40.33810",
        "14.40.33810.0",
        "Microsoft Corporation",
        20_508,
        true,
        false,
    ),
    (
        "Microsoft Visual C++ 2015-2022 Redistributable (x86) - 14.40.33810",
        "14.40.33810.0",
        "Microsoft Corporation",
        18_104,
        true,
        false,
    ),
    (
        "Adobe Acrobat Reader (64-bit)",
        "24.004.20272",
        "Adobe",
        712_338,
        false,
        true,
    ),
    (
        "VMware Tools",
        "12.4.5.23787635",
        "VMware, Inc.",
        112_600,
        false,
        true,
    ),
    (
        "Microsoft SQL Server 2019 (64-bit)",
        "15.0.4395.2",
        "Microsoft Corporation",
        0,
        false,
        false,
    ),
    (
        "Zabbix Agent 2 (64-bit)",
        "7.0.6.2400",
        "Zabbix SIA",
        43_876,
        false,
        true,
    ),
    (
        "PowerShell 7-x64",
        "7.4.6.0",
        "Microsoft Corporation",
        268_500,
        false,
        true,
    ),
    (
        "Git",
        "2.47.1",
        "The Git Development Community",
        338_612,
        false,
        false,
    ),
    (
        "Microsoft Office Professional Plus 2019 - en-us",
        "16.0.10415.20025",
        "Microsoft Corporation",
        0,
        false,
        false,
    ),
    (
        "Python 3.12.7 (64-bit)",
        "3.12.7150.0",
        "Python Software Foundation",
        104_412,
        false,
        false,
    ),
    (
        "Java 8 Update 431",
        "8.0.4310.11",
        "Oracle Corporation",
        113_844,
        true,
        true,
    ),
    (
        "WinRAR 7.01 (32-bit)",
        "7.01.0",
        "win.rar GmbH",
        8_213,
        true,
        false,
    ),
    (
        "Microsoft OneDrive",
        "24.201.1006.0005",
        "Microsoft Corporation",
        296_300,
        false,
        false,
    ),
];

/// Uninstall keys with no DisplayName, as every Windows host has.
const NAMELESS_UNINSTALL: &[&str] = &[
    "AddressBook",
    "Connection Manager",
    "DirectDrawEx",
    "Fontcore",
    "IE40",
    "IE4Data",
    "IE5BAKEX",
    "IEData",
    "MobileOptionPack",
    "SchedulingAgent",
    "WIC",
];

/// System components (SystemComponent = 1): MSI payloads of the redistributables.
const SYSTEM_COMPONENTS: &[(&str, &str)] = &[
    (
        "Microsoft Visual C++ 2022 X64 Minimum Runtime - 14.40.33810",
        "14.40.33810",
    ),
    (
        "Microsoft Visual C++ 2022 X64 Additional Runtime - 14.40.33810",
        "14.40.33810",
    ),
    ("Microsoft Update Health Tools", "5.72.0.0"),
];

impl HostData {
    /// Generates the data of one host. Deterministic in all its inputs.
    pub fn generate(
        seed: u64,
        profile: &Profile,
        host_name: &str,
        address: IpAddr,
        domain: &str,
    ) -> HostData {
        let mut rng = SplitMix64::derive(seed, host_name);
        rng = SplitMix64::new(rng.next_u64() ^ addr_bits(address));
        let tables = CIMV2_CLASSES
            .iter()
            .filter_map(|n| classes::class(NS_CIMV2, n))
            .map(Table::new)
            .collect();
        let bias = *rng
            .pick(&[0i16, 60, 60, -300, -360, -480, 120])
            .unwrap_or(&0);
        let mut host = HostData {
            host_name: host_name.to_string(),
            address,
            domain: domain.to_string(),
            profile: profile.clone(),
            bias_minutes: bias,
            tables,
            registry: Registry::new(),
            scenario: Scenario::default(),
            perf: PerfModel::draw(
                &mut SplitMix64::new(0),
                0,
                1,
                0,
                Vec::new(),
                Vec::new(),
                false,
            ),
            now_filetime: 0,
        };
        Gen {
            host: &mut host,
            rng: &mut rng,
        }
        .run(seed);
        host
    }

    /// The instances of `class` in `namespace`; `None` when the namespace has no such
    /// class or the class has no provider here (`StdRegProv` has no instances).
    pub fn instances(&self, namespace: &str, class: &str) -> Option<&[Instance]> {
        self.table(namespace, class).map(Table::instances)
    }

    /// The table (class and slots) of `class`, for evaluating queries without building
    /// instances.
    pub fn table(&self, namespace: &str, class: &str) -> Option<&Table> {
        let ns = normalize(namespace);
        if ns == NS_CIMV2 {
            if let Some(t) = self
                .tables
                .iter()
                .find(|t| t.class.name.eq_ignore_ascii_case(class))
            {
                return Some(t);
            }
        }
        self.scenario
            .tables
            .iter()
            .find(|(n, t)| *n == ns && t.class.name.eq_ignore_ascii_case(class))
            .map(|(_, t)| t)
    }

    /// Whether the host has `namespace` (root, root\cimv2, root\default, and the
    /// scenario namespaces it was given).
    pub fn has_namespace(&self, namespace: &str) -> bool {
        let ns = normalize(namespace);
        ns == "root"
            || ns == NS_CIMV2
            || ns == crate::data::classes::NS_DEFAULT
            || self.scenario.namespaces.contains(&ns)
    }

    /// The child namespaces of `namespace` (what `__NAMESPACE` enumerates there).
    pub fn child_namespaces(&self, namespace: &str) -> Vec<String> {
        let ns = normalize(namespace);
        let mut all: Vec<&str> = vec![NS_CIMV2, crate::data::classes::NS_DEFAULT];
        all.extend(self.scenario.namespaces.iter().map(String::as_str));
        let mut out: Vec<String> = Vec::new();
        for n in all {
            if let Some(rest) = n.strip_prefix(&format!("{ns}\\")) {
                if !rest.is_empty() && !rest.contains('\\') {
                    out.push(display_namespace_leaf(rest));
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// The class `class` of `namespace` as this host has it (shared; never copied per
    /// host): `None` for a namespace the host does not have, and for a scenario class it
    /// does not serve (`Win32_ServerFeature` on a client, SQL Server's classes without SQL
    /// Server).
    pub fn class(&self, namespace: &str, class: &str) -> Option<&'static ClassDef> {
        if !self.has_namespace(namespace) {
            return None;
        }
        let c = classes::class(namespace, class)?;
        let ns = normalize(namespace);
        let base = ns == crate::data::classes::NS_DEFAULT
            || (ns == NS_CIMV2
                && (CIMV2_CLASSES.iter().any(|n| n.eq_ignore_ascii_case(class))
                    || perf::class(class).is_some()))
            || class.eq_ignore_ascii_case("__NAMESPACE");
        if base {
            return Some(c);
        }
        // A scenario class: present when the host generated it (empty tables included),
        // or, in a namespace the host has only because of it, always.
        let generated = self
            .scenario
            .tables
            .iter()
            .any(|(n, t)| *n == ns && std::ptr::eq(t.class, c));
        let own_namespace = ns != NS_CIMV2;
        (generated || own_namespace).then_some(c)
    }

    /// The rows of the perf class or `__NAMESPACE` at `filetime` (computed on each call);
    /// `None` for any other class.
    pub fn dynamic_rows(
        &self,
        namespace: &str,
        class: &ClassDef,
        filetime: Option<u64>,
    ) -> Option<Vec<Vec<Slot>>> {
        if class.name == "__NAMESPACE" {
            let children = self.child_namespaces(namespace);
            return Some(
                children
                    .into_iter()
                    .map(|c| vec![Slot::Set(Value::String(c))])
                    .collect(),
            );
        }
        if normalize(namespace) != NS_CIMV2 {
            return None;
        }
        self.perf.rows(class, filetime.unwrap_or(self.now_filetime))
    }

    /// The FILETIME the host considers "now" (set by [`HostData::set_current_time`]).
    pub fn now_filetime(&self) -> u64 {
        self.now_filetime
    }

    fn table_mut(&mut self, class: &str) -> Option<&mut Table> {
        self.tables
            .iter_mut()
            .find(|t| t.class.name.eq_ignore_ascii_case(class))
    }

    /// Sets the time classes (`Win32_UTCTime`, `Win32_LocalTime`, and `Win32_CurrentTime`
    /// which, being their parent, enumerates both) to `unix_secs`.
    pub fn set_current_time(&mut self, unix_secs: i64) {
        self.now_filetime = perf::filetime_from_unix_100ns(i128::from(unix_secs) * 10_000_000);
        let bias = i64::from(self.bias_minutes);
        for (name, offset) in [("Win32_UTCTime", 0), ("Win32_LocalTime", bias * 60)] {
            if let Some(t) = self.table_mut(name) {
                t.rows.clear();
                t.instances = OnceLock::new();
                fill_time(t.row(), unix_secs + offset);
            }
        }
        let rows: Vec<Vec<Slot>> = ["Win32_UTCTime", "Win32_LocalTime"]
            .iter()
            .filter_map(|n| self.table(NS_CIMV2, n))
            .flat_map(|t| t.rows.clone())
            .collect();
        if let Some(t) = self.table_mut("Win32_CurrentTime") {
            t.rows = rows;
            t.instances = OnceLock::new();
        }
    }

    /// Applies an explicit override `Class.Property = value` to every instance of the
    /// class (the value is text, converted to the property's CIM type; `null` sets NULL).
    pub fn apply_override(&mut self, key: &str, value: &str) -> Result<(), OverrideError> {
        if key.eq_ignore_ascii_case(SOFTWARE_OVERRIDE) {
            self.add_program(value);
            return Ok(());
        }
        let (class, prop) = key
            .split_once('.')
            .ok_or_else(|| OverrideError::BadKey(key.to_string()))?;
        let table = self
            .table_mut(class)
            .ok_or_else(|| OverrideError::UnknownClass(class.to_string()))?;
        let index = table
            .class
            .properties
            .iter()
            .position(|p| p.name.eq_ignore_ascii_case(prop))
            .ok_or_else(|| OverrideError::UnknownProperty(prop.to_string()))?;
        let cim_type = table.class.properties[index].cim_type;
        let slot = if value.eq_ignore_ascii_case("null") {
            Slot::Null
        } else {
            Slot::Set(
                parse_value(cim_type, value).ok_or_else(|| OverrideError::BadValue {
                    property: prop.to_string(),
                    cim_type: cim_type.to_string(),
                    value: value.to_string(),
                })?,
            )
        };
        for row in &mut table.rows {
            if let Some(s) = row.get_mut(index) {
                *s = slot.clone();
            }
        }
        table.instances = OnceLock::new();
        Ok(())
    }
}

/// The override key that adds one installed program (an Uninstall key in the native
/// view) whose DisplayName and Publisher are the value: the way a fleet file gives a
/// host hostile program names (`=cmd|' /C calc'!A0`, `<script>`).
pub const SOFTWARE_OVERRIDE: &str = "Software.DisplayName";

impl HostData {
    /// Adds an installed program named `name` (see [`SOFTWARE_OVERRIDE`]).
    pub fn add_program(&mut self, name: &str) {
        let native = "SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall";
        let k = self
            .registry
            .key_mut(HKEY_LOCAL_MACHINE, &format!("{native}\\ZZ-Override"));
        k.set("DisplayName", RegValue::Sz(name.into()));
        k.set("DisplayVersion", RegValue::Sz("1.0".into()));
        k.set("Publisher", RegValue::Sz(name.into()));
        k.set("InstallDate", RegValue::Sz("20240102".into()));
    }
}

/// Checks an override key and value against the class definitions without a host (for
/// validating fleet files).
pub fn check_override(key: &str, value: &str) -> Result<(), OverrideError> {
    if key.eq_ignore_ascii_case(SOFTWARE_OVERRIDE) {
        return Ok(());
    }
    let (class, prop) = key
        .split_once('.')
        .ok_or_else(|| OverrideError::BadKey(key.to_string()))?;
    let c = classes::class(NS_CIMV2, class)
        .ok_or_else(|| OverrideError::UnknownClass(class.to_string()))?;
    let p = c
        .property(prop)
        .ok_or_else(|| OverrideError::UnknownProperty(prop.to_string()))?;
    if value.eq_ignore_ascii_case("null") || parse_value(p.cim_type, value).is_some() {
        Ok(())
    } else {
        Err(OverrideError::BadValue {
            property: prop.to_string(),
            cim_type: p.cim_type.to_string(),
            value: value.to_string(),
        })
    }
}

fn parse_value(t: winv_wmio::CimType, text: &str) -> Option<Value> {
    if t.array {
        let items: Option<Vec<Value>> = text
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| parse_value(winv_wmio::CimType::scalar(t.base), s.trim()))
            .collect();
        return Some(Value::Array(t.base, items?));
    }
    Some(match t.base {
        CimBase::String => Value::String(text.to_string()),
        CimBase::DateTime => Value::DateTime(text.to_string()),
        CimBase::Reference => Value::Reference(text.to_string()),
        CimBase::Boolean => match text.to_ascii_lowercase().as_str() {
            "true" => Value::Boolean(true),
            "false" => Value::Boolean(false),
            _ => return None,
        },
        CimBase::Sint8 => Value::Sint8(text.parse().ok()?),
        CimBase::Uint8 => Value::Uint8(text.parse().ok()?),
        CimBase::Sint16 => Value::Sint16(text.parse().ok()?),
        CimBase::Uint16 => Value::Uint16(text.parse().ok()?),
        CimBase::Sint32 => Value::Sint32(text.parse().ok()?),
        CimBase::Uint32 => Value::Uint32(text.parse().ok()?),
        CimBase::Sint64 => Value::Sint64(text.parse().ok()?),
        CimBase::Uint64 => Value::Uint64(text.parse().ok()?),
        CimBase::Real32 => Value::Real32(text.parse().ok()?),
        CimBase::Real64 => Value::Real64(text.parse().ok()?),
        CimBase::Char16 => Value::Char16(u16::try_from(u32::from(text.chars().next()?)).ok()?),
        CimBase::Object => return None,
    })
}

/// Lower-case, `\\` separators, no leading or trailing separators, no `\\\\server\\`.
fn normalize(ns: &str) -> String {
    let s = ns.replace('/', "\\");
    let s = match s.strip_prefix("\\\\") {
        Some(rest) => rest
            .split_once('\\')
            .map(|(_, n)| n.to_string())
            .unwrap_or_default(),
        None => s.trim_start_matches('\\').to_string(),
    };
    s.trim_end_matches('\\').to_ascii_lowercase()
}

/// The display form of a namespace leaf (`microsoft` → `Microsoft`, as Windows names
/// them).
fn display_namespace_leaf(leaf: &str) -> String {
    match leaf {
        "cimv2" => "cimv2".into(),
        "default" => "default".into(),
        "microsoft" => "Microsoft".into(),
        "sqlserver" => "SqlServer".into(),
        "virtualization" => "virtualization".into(),
        "v2" => "v2".into(),
        l => match l.strip_prefix("computermanagement") {
            Some(n) => format!("ComputerManagement{n}"),
            None => l.to_string(),
        },
    }
}

fn addr_bits(a: IpAddr) -> u64 {
    match a {
        IpAddr::V4(v4) => u64::from(u32::from(v4)),
        IpAddr::V6(v6) => {
            let n = u128::from(v6);
            (n as u64) ^ ((n >> 64) as u64)
        }
    }
}

/// Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The DMTF datetime ([MS-WMIO] 2.2.80 / DMTF DSP0004) of `unix_secs` shown in a zone
/// `bias` minutes east of UTC: `yyyymmddHHMMSS.mmmmmm+bbb`.
pub fn dmtf(unix_secs: i64, bias: i16, micros: u32) -> String {
    let local = unix_secs + i64::from(bias) * 60;
    let (y, m, d) = civil(local.div_euclid(86_400));
    let s = local.rem_euclid(86_400);
    let sign = if bias < 0 { '-' } else { '+' };
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}.{micros:06}{sign}{:03}",
        s / 3600,
        (s / 60) % 60,
        s % 60,
        bias.unsigned_abs()
    )
}

fn us_date(unix_secs: i64) -> String {
    let (y, m, d) = civil(unix_secs.div_euclid(86_400));
    format!("{m}/{d}/{y}")
}

fn fill_time(mut row: RowRef<'_>, secs: i64) {
    let days = secs.div_euclid(86_400);
    let (y, m, d) = civil(days);
    let s = secs.rem_euclid(86_400);
    // 1970-01-01 was a Thursday (4).
    let dow = (days + 4).rem_euclid(7) as u32;
    let first_dow = (i64::from(dow) - (i64::from(d) - 1)).rem_euclid(7) as u32;
    row.u32("Day", d)
        .u32("DayOfWeek", dow)
        .u32("Hour", (s / 3600) as u32)
        .u32("Minute", ((s / 60) % 60) as u32)
        .u32("Month", m)
        .u32("Quarter", (m - 1) / 3 + 1)
        .u32("Second", (s % 60) as u32)
        .u32("WeekInMonth", (d - 1 + first_dow) / 7 + 1)
        .u32("Year", y as u32);
    // Milliseconds stays NULL, as real hosts report it.
}

struct Gen<'a> {
    host: &'a mut HostData,
    rng: &'a mut SplitMix64,
}

impl Gen<'_> {
    fn table(&mut self, name: &str) -> &mut Table {
        // INVARIANT: every name used below is in CIMV2_CLASSES.
        let i = self
            .host
            .tables
            .iter()
            .position(|t| t.class.name == name)
            .unwrap_or(0);
        &mut self.host.tables[i]
    }

    fn run(&mut self, seed: u64) {
        let server = self.host.profile.is_server();
        let vendors = if server {
            SERVER_VENDORS
        } else {
            CLIENT_VENDORS
        };
        let vendor = &vendors[self.rng.below(vendors.len() as u64) as usize];
        let cpu_choices: &[usize] = if server { &[0, 1, 2] } else { &[3] };
        let cpu = &CPUS[*self.rng.pick(cpu_choices).unwrap_or(&0)];
        let sockets: u32 = if server && !vendor.virtual_machine {
            self.rng.range(1, 2) as u32
        } else {
            1
        };
        let (cores, threads) = if vendor.virtual_machine {
            let v = *self.rng.pick(&[2u32, 4, 8]).unwrap_or(&2);
            (v, v)
        } else {
            (cpu.cores, cpu.threads)
        };
        let dimm_gib: u64 = *self
            .rng
            .pick(if server {
                &[16u64, 32, 64][..]
            } else {
                &[8u64, 16][..]
            })
            .unwrap_or(&16);
        let dimms: u64 = if vendor.virtual_machine {
            1
        } else {
            *self.rng.pick(&[2u64, 4, 8]).unwrap_or(&2)
        };
        let total_mem = dimm_gib * dimms * (1 << 30);
        let total_kb = total_mem / 1024 - self.rng.range(60_000, 140_000);
        let serial = if vendor.virtual_machine {
            format!(
                "VMware-56 4d {} {}",
                self.rng.hex(2).to_lowercase(),
                self.rng.hex(2).to_lowercase()
            )
        } else {
            self.rng.alnum(7)
        };
        let install = REFERENCE_TIME
            - self.rng.range(200, 1500) as i64 * 86_400
            - self.rng.below(86_400) as i64;
        let boot = REFERENCE_TIME - self.rng.range(1, 40 * 86_400) as i64;
        let bias = self.host.bias_minutes;
        let host_name = self.host.host_name.to_uppercase();
        let domain = self.host.domain.clone();
        let part_of_domain = !domain.is_empty() && domain.contains('.');
        let profile = self.host.profile.clone();

        // Win32_ComputerSystem
        {
            let dns = self.host.host_name.to_lowercase();
            let mut r = self.table("Win32_ComputerSystem").row();
            r.s("Caption", &host_name)
                .s("Description", "AT/AT COMPATIBLE")
                .s("Name", &host_name)
                .s("Status", "OK")
                .s("CreationClassName", "Win32_ComputerSystem")
                .s("PrimaryOwnerName", "Windows User")
                .strs(
                    "Roles",
                    if server {
                        &["LM_Workstation", "LM_Server", "NT", "Server_NT"]
                    } else {
                        &["LM_Workstation", "LM_Server", "NT"]
                    },
                )
                .u16("AdminPasswordStatus", 3)
                .b("AutomaticManagedPagefile", true)
                .b("AutomaticResetBootOption", true)
                .b("AutomaticResetCapability", true)
                .b("BootROMSupported", true)
                .s("BootupState", "Normal boot")
                .u16("ChassisBootupState", 3)
                .set("CurrentTimeZone", Value::Sint16(bias))
                .b("DaylightInEffect", false)
                .s("DNSHostName", dns)
                .s(
                    "Domain",
                    if part_of_domain {
                        domain.as_str()
                    } else {
                        "WORKGROUP"
                    },
                )
                .u16(
                    "DomainRole",
                    if part_of_domain {
                        if server {
                            3
                        } else {
                            1
                        }
                    } else if server {
                        2
                    } else {
                        0
                    },
                )
                .b("EnableDaylightSavingsTime", true)
                .u16("FrontPanelResetStatus", 3)
                .b("HypervisorPresent", vendor.virtual_machine)
                .b("InfraredSupported", false)
                .u16("KeyboardPasswordStatus", 3)
                .s("Manufacturer", vendor.manufacturer)
                .s("Model", vendor.model)
                .b("NetworkServerModeEnabled", true)
                .u32("NumberOfLogicalProcessors", threads * sockets)
                .u32("NumberOfProcessors", sockets)
                .b("PartOfDomain", part_of_domain)
                .set("PauseAfterReset", Value::Sint64(-1))
                .u16("PCSystemType", if server { 4 } else { 2 })
                .u16("PCSystemTypeEx", if server { 4 } else { 2 })
                .u16("PowerOnPasswordStatus", 3)
                .u16("PowerState", 0)
                .u16("PowerSupplyState", 3)
                .u16("ResetCapability", 1)
                .set("ResetCount", Value::Sint16(-1))
                .set("ResetLimit", Value::Sint16(-1))
                .s("SystemFamily", vendor.family)
                .s("SystemType", "x64-based PC")
                .u16("ThermalState", 3)
                .u64("TotalPhysicalMemory", total_kb * 1024)
                .u16("WakeUpType", 6);
            if !part_of_domain {
                r.s("Workgroup", "WORKGROUP");
            }
            // UserName: NULL for nobody logged on at the console (typical for servers).
            if !server {
                r.s("UserName", format!("{}\\user", short_domain(&domain)));
            }
        }

        // Win32_OperatingSystem
        {
            let os_serial = format!(
                "00{}-{}-{}-AA{}",
                self.rng.range(100, 999),
                self.rng.range(10000, 99999),
                self.rng.range(10000, 99999),
                self.rng.range(100, 999)
            );
            let free_kb = total_kb / 100 * self.rng.range(20, 70);
            let procs = self.rng.range(60, 180) as u32;
            let users = self.rng.range(1, 4) as u32;
            let windows = "C:\\Windows";
            let caption = profile.caption;
            let mut r = self.table("Win32_OperatingSystem").row();
            r.s("Caption", caption)
                .s("Description", "")
                .dt("InstallDate", dmtf(install, bias, 0))
                .s(
                    "Name",
                    format!("{caption}|C:\\Windows|\\Device\\Harddisk0\\Partition2"),
                )
                .s("Status", "OK")
                .s("CreationClassName", "Win32_OperatingSystem")
                .s("CSCreationClassName", "Win32_ComputerSystem")
                .s("CSName", &host_name)
                .set("CurrentTimeZone", Value::Sint16(bias))
                .b("Distributed", false)
                .u64("FreePhysicalMemory", free_kb)
                .u64("FreeSpaceInPagingFiles", 1_900_000)
                .u64("FreeVirtualMemory", free_kb + 1_500_000)
                .dt("LastBootUpTime", dmtf(boot, bias, 500_000))
                .dt("LocalDateTime", dmtf(REFERENCE_TIME, bias, 0))
                .u32("MaxNumberOfProcesses", u32::MAX)
                .u64("MaxProcessMemorySize", 137_438_953_344)
                .u32("NumberOfLicensedUsers", 0)
                .u32("NumberOfProcesses", procs)
                .u32("NumberOfUsers", users)
                .u16("OSType", 18)
                .u64("SizeStoredInPagingFiles", 2_097_152)
                .u64("TotalVirtualMemorySize", total_kb + 2_097_152)
                .u64("TotalVisibleMemorySize", total_kb)
                .s("Version", profile.version)
                .s("BootDevice", "\\Device\\HarddiskVolume1")
                .s("BuildNumber", profile.build)
                .s("BuildType", "Multiprocessor Free")
                .s("CodeSet", "1252")
                .s("CountryCode", "1")
                .b("DataExecutionPrevention_32BitApplications", true)
                .b("DataExecutionPrevention_Available", true)
                .b("DataExecutionPrevention_Drivers", true)
                .set(
                    "DataExecutionPrevention_SupportPolicy",
                    Value::Uint8(if server { 3 } else { 2 }),
                )
                .b("Debug", false)
                .u32("EncryptionLevel", 256)
                .set("ForegroundApplicationBoost", Value::Uint8(2))
                .s("Locale", "0409")
                .s("Manufacturer", "Microsoft Corporation")
                .strs("MUILanguages", &["en-US"])
                .u32("OperatingSystemSKU", profile.sku)
                .s("Organization", "")
                .s("OSArchitecture", "64-bit")
                .u32("OSLanguage", 1033)
                .u32("OSProductSuite", if server { 272 } else { 256 })
                .b("PortableOperatingSystem", false)
                .b("Primary", true)
                .u32("ProductType", profile.product_type)
                .s("RegisteredUser", "Windows User")
                .s("SerialNumber", os_serial)
                .u16("ServicePackMajorVersion", 0)
                .u16("ServicePackMinorVersion", 0)
                .u32("SuiteMask", if server { 272 } else { 256 })
                .s("SystemDevice", "\\Device\\HarddiskVolume2")
                .s("SystemDirectory", "C:\\Windows\\system32")
                .s("SystemDrive", "C:")
                .s("WindowsDirectory", windows);
            // CSDVersion, OtherTypeDescription, PAEEnabled, LargeSystemCache, PlusProductID,
            // PlusVersionNumber, TotalSwapSpaceSize: NULL on current releases.
        }

        // Win32_BIOS
        {
            let release = install - self.rng.range(100, 700) as i64 * 86_400;
            let bios_date = dmtf(release - release.rem_euclid(86_400), 0, 0);
            let smbios = vendor.bios_version;
            let maker = vendor.bios_maker;
            let mut r = self.table("Win32_BIOS").row();
            r.s("Caption", smbios)
                .s("Description", smbios)
                .s("Name", smbios)
                .s("Status", "OK")
                .s("Manufacturer", maker)
                .s("SerialNumber", &serial)
                .s("SoftwareElementID", smbios)
                .u16("SoftwareElementState", 3)
                .u16("TargetOperatingSystem", 0)
                .s(
                    "Version",
                    format!(
                        "{} - 1072009",
                        maker
                            .split([',', ' '])
                            .next()
                            .unwrap_or("BIOS")
                            .to_uppercase()
                    ),
                )
                .b("PrimaryBIOS", true)
                .dt("ReleaseDate", bios_date)
                .u16s(
                    "BiosCharacteristics",
                    &[7, 11, 12, 15, 16, 19, 26, 27, 28, 29, 32, 33, 40, 42, 43],
                )
                .strs("BIOSVersion", &[maker, smbios])
                .set("EmbeddedControllerMajorVersion", Value::Uint8(255))
                .set("EmbeddedControllerMinorVersion", Value::Uint8(255))
                .s("SMBIOSBIOSVersion", smbios)
                .u16("SMBIOSMajorVersion", 3)
                .u16("SMBIOSMinorVersion", 2)
                .b("SMBIOSPresent", true)
                .set("SystemBiosMajorVersion", Value::Uint8(2))
                .set("SystemBiosMinorVersion", Value::Uint8(19));
            // CurrentLanguage, ListOfLanguages, BuildNumber, CodeSet...: NULL.
        }

        // Win32_Processor
        for socket in 0..sockets {
            let load = self.rng.below(40) as u16;
            let mut r = self.table("Win32_Processor").row();
            r.s("Caption", cpu.caption)
                .s("Description", cpu.caption)
                .s("Name", cpu.name)
                .s("Status", "OK")
                .u16("Availability", 3)
                .u32("ConfigManagerErrorCode", 0)
                .b("ConfigManagerUserConfig", false)
                .s("CreationClassName", "Win32_Processor")
                .s("DeviceID", format!("CPU{socket}"))
                .b("PowerManagementSupported", false)
                .s("SystemCreationClassName", "Win32_ComputerSystem")
                .s("SystemName", &host_name)
                .u16("AddressWidth", 64)
                .u32("CurrentClockSpeed", cpu.mhz)
                .u16("DataWidth", 64)
                .u16("Family", cpu.family)
                .u16("LoadPercentage", load)
                .u32("MaxClockSpeed", cpu.mhz)
                .s("Role", "CPU")
                .u16("UpgradeMethod", 1)
                .u16("Architecture", 9)
                .u32("Characteristics", 252)
                .u16("CpuStatus", 1)
                .u16("CurrentVoltage", 12)
                .u32("ExtClock", 100)
                .u32("L2CacheSize", cpu.l2)
                .u32("L3CacheSize", cpu.l3)
                .u32("L3CacheSpeed", 0)
                .u16("Level", 6)
                .s("Manufacturer", cpu.manufacturer)
                .u32("NumberOfCores", cores)
                .u32("NumberOfEnabledCore", cores)
                .u32("NumberOfLogicalProcessors", threads)
                .s("ProcessorId", cpu.id)
                .u16("ProcessorType", 3)
                .s("SocketDesignation", format!("CPU {}", socket + 1))
                .u32("ThreadCount", threads)
                .b(
                    "SecondLevelAddressTranslationExtensions",
                    !vendor.virtual_machine,
                )
                .b("VirtualizationFirmwareEnabled", !vendor.virtual_machine)
                .b("VMMonitorModeExtensions", !vendor.virtual_machine);
            // Stepping, UniqueId, Version, VoltageCaps, L2CacheSpeed, AssetTag, PartNumber,
            // SerialNumber: NULL or empty, as on many hosts.
        }

        // Win32_PhysicalMemory
        for i in 0..dimms {
            let part = if vendor.virtual_machine {
                String::new()
            } else {
                format!("M393A{}BB4-CWE", self.rng.alnum(4))
            };
            let sn = if vendor.virtual_machine {
                String::new()
            } else {
                self.rng.hex(8)
            };
            let mut r = self.table("Win32_PhysicalMemory").row();
            r.s("Caption", "Physical Memory")
                .s("Description", "Physical Memory")
                .s("Name", "Physical Memory")
                .s("CreationClassName", "Win32_PhysicalMemory")
                .s(
                    "Manufacturer",
                    if vendor.virtual_machine {
                        "VMware Virtual RAM"
                    } else {
                        "Samsung"
                    },
                )
                .s("PartNumber", part)
                .s("SerialNumber", sn)
                .s("Tag", format!("Physical Memory {i}"))
                .s("BankLabel", format!("BANK {i}"))
                .u64("Capacity", dimm_gib << 30)
                .u16("DataWidth", 64)
                .u16("FormFactor", 8)
                .u32("InterleavePosition", 0)
                .u16("MemoryType", 0)
                .u32("Speed", if vendor.virtual_machine { 0 } else { 3200 })
                .u16("TotalWidth", 72)
                .u32("Attributes", 2)
                .u32(
                    "ConfiguredClockSpeed",
                    if vendor.virtual_machine { 0 } else { 2933 },
                )
                .u32("ConfiguredVoltage", 1200)
                .s(
                    "DeviceLocator",
                    format!("DIMM_{}{}", char::from(b'A' + (i % 8) as u8), i / 8 + 1),
                )
                .u32("MaxVoltage", 1200)
                .u32("MinVoltage", 1200)
                .u32("SMBIOSMemoryType", 26)
                .u16("TypeDetail", 128);
        }

        // Win32_DiskDrive and Win32_LogicalDisk
        let disk_count = if server { self.rng.range(1, 3) } else { 1 };
        let mut letters = vec![];
        for i in 0..disk_count {
            let size_gb = if i == 0 {
                *self.rng.pick(&[80u64, 127, 256, 512]).unwrap_or(&127)
            } else {
                *self.rng.pick(&[200u64, 500, 1024, 2048]).unwrap_or(&500)
            };
            let size = size_gb * 1_000_000_000 / 8_225_280 * 8_225_280;
            let serial = if vendor.virtual_machine {
                String::new()
            } else {
                self.rng.alnum(16)
            };
            let signature = self.rng.next_u64() as u32;
            let mut r = self.table("Win32_DiskDrive").row();
            r.s("Caption", vendor.disk_model)
                .s("Description", "Disk drive")
                .s("Name", format!("\\\\.\\PHYSICALDRIVE{i}"))
                .s("Status", "OK")
                .u32("ConfigManagerErrorCode", 0)
                .b("ConfigManagerUserConfig", false)
                .s("CreationClassName", "Win32_DiskDrive")
                .s("DeviceID", format!("\\\\.\\PHYSICALDRIVE{i}"))
                .s(
                    "PNPDeviceID",
                    format!("SCSI\\DISK&VEN_VMWARE&PROD_VIRTUAL_DISK\\5&1982005&0&00000{i}"),
                )
                .s("SystemCreationClassName", "Win32_ComputerSystem")
                .s("SystemName", &host_name)
                .u16s("Capabilities", &[3, 4])
                .strs(
                    "CapabilityDescriptions",
                    &["Random Access", "Supports Writing"],
                )
                .u32("BytesPerSector", 512)
                .s("FirmwareRevision", "1.0")
                .u32("Index", i as u32)
                .s("InterfaceType", "SCSI")
                .s("Manufacturer", "(Standard disk drives)")
                .b("MediaLoaded", true)
                .s("MediaType", "Fixed hard disk media")
                .s("Model", vendor.disk_model)
                .u32("Partitions", if i == 0 { 3 } else { 1 })
                .u32("SCSIBus", 0)
                .u16("SCSILogicalUnit", 0)
                .u16("SCSIPort", 0)
                .u16("SCSITargetId", i as u16)
                .u32("SectorsPerTrack", 63)
                .s("SerialNumber", serial)
                .u32("Signature", signature)
                .u64("Size", size)
                .u64("TotalCylinders", size / 8_225_280)
                .u32("TotalHeads", 255)
                .u64("TotalSectors", size / 512)
                .u64("TotalTracks", size / 8_225_280 * 255)
                .u32("TracksPerCylinder", 255);
            letters.push((
                if i == 0 {
                    'C'
                } else {
                    char::from(b'D' + i as u8 - 1)
                },
                size - 600 * 1024 * 1024,
            ));
        }
        let cd = char::from(b'C' + letters.len() as u8);
        for (letter, size) in letters {
            let free = size / 100 * self.rng.range(8, 85);
            let vsn = self.rng.hex(8);
            let mut r = self.table("Win32_LogicalDisk").row();
            r.s("Caption", format!("{letter}:"))
                .s("Description", "Local Fixed Disk")
                .s("Name", format!("{letter}:"))
                .s("CreationClassName", "Win32_LogicalDisk")
                .s("DeviceID", format!("{letter}:"))
                .s("SystemCreationClassName", "Win32_ComputerSystem")
                .s("SystemName", &host_name)
                .u16("Access", 0)
                .u64("FreeSpace", free)
                .u64("Size", size)
                .b("Compressed", false)
                .u32("DriveType", 3)
                .s("FileSystem", "NTFS")
                .u32("MaximumComponentLength", 255)
                .u32("MediaType", 12)
                .b("QuotasDisabled", true)
                .b("QuotasIncomplete", false)
                .b("QuotasRebuilding", false)
                .b("SupportsDiskQuotas", true)
                .b("SupportsFileBasedCompression", true)
                .b("VolumeDirty", false)
                .s("VolumeName", if letter == 'C' { "" } else { "Data" })
                .s("VolumeSerialNumber", vsn);
        }
        {
            // A CD-ROM drive with no medium: size, file system and the like are NULL.
            let mut r = self.table("Win32_LogicalDisk").row();
            r.s("Caption", format!("{cd}:"))
                .s("Description", "CD-ROM Disc")
                .s("Name", format!("{cd}:"))
                .s("CreationClassName", "Win32_LogicalDisk")
                .s("DeviceID", format!("{cd}:"))
                .s("SystemCreationClassName", "Win32_ComputerSystem")
                .s("SystemName", &host_name)
                .u32("DriveType", 5)
                .u32("MediaType", 11);
        }

        // Win32_NetworkAdapterConfiguration
        {
            let mac = format!(
                "{}:{}:{}:{}",
                vendor.mac_prefix,
                self.rng.hex(2),
                self.rng.hex(2),
                self.rng.hex(2)
            );
            let (ip, subnet, gateway) = match self.host.address {
                IpAddr::V4(v4) => {
                    let o = v4.octets();
                    (
                        v4.to_string(),
                        "255.255.255.0".to_string(),
                        format!("{}.{}.{}.1", o[0], o[1], o[2]),
                    )
                }
                IpAddr::V6(v6) => (v6.to_string(), "64".to_string(), "fe80::1".to_string()),
            };
            let dns_domain = if part_of_domain {
                domain.clone()
            } else {
                String::new()
            };
            let setting_id = guid(self.rng);
            let dns_host = self.host.host_name.to_lowercase();
            let suffixes: Vec<&str> = if dns_domain.is_empty() {
                vec![]
            } else {
                vec![dns_domain.as_str()]
            };
            let iface = self.rng.range(4, 20) as u32;
            let desc = vendor.nic;
            let mut r = self.table("Win32_NetworkAdapterConfiguration").row();
            r.s("Caption", format!("[00000001] {desc}"))
                .s("Description", desc)
                .s("SettingID", &setting_id)
                .b("DHCPEnabled", false)
                .strs("DefaultIPGateway", &[&gateway])
                .s("DNSDomain", &dns_domain)
                .strs("DNSDomainSuffixSearchOrder", &suffixes)
                .b("DNSEnabledForWINSResolution", false)
                .s("DNSHostName", dns_host)
                .strs("DNSServerSearchOrder", &[&gateway])
                .b("DomainDNSRegistrationEnabled", false)
                .b("FullDNSRegistrationEnabled", true)
                .u16s("GatewayCostMetric", &[0])
                .u32("Index", 1)
                .u32("InterfaceIndex", iface)
                .strs("IPAddress", &[&ip])
                .u32("IPConnectionMetric", 25)
                .b("IPEnabled", true)
                .b("IPFilterSecurityEnabled", false)
                .strs("IPSecPermitIPProtocols", &[])
                .strs("IPSecPermitTCPPorts", &[])
                .strs("IPSecPermitUDPPorts", &[])
                .strs("IPSubnet", &[&subnet])
                .s("MACAddress", mac)
                .s("ServiceName", "vmxnet3ndis6")
                .u32("TcpipNetbiosOptions", 0)
                .b("WINSEnableLMHostsLookup", true)
                .s("WINSScopeID", "");
            for (index, name, service) in [
                (2u32, "WAN Miniport (IP)", "NdisWan"),
                (3, "Microsoft Kernel Debug Network Adapter", "kdnic"),
            ] {
                let sid = guid(self.rng);
                let mut r = self.table("Win32_NetworkAdapterConfiguration").row();
                r.s("Caption", format!("[{index:08}] {name}"))
                    .s("Description", name)
                    .s("SettingID", sid)
                    .b("DHCPEnabled", false)
                    .u32("Index", index)
                    .u32("InterfaceIndex", iface + index)
                    .b("IPEnabled", false)
                    .s("ServiceName", service);
            }
        }

        // Win32_QuickFixEngineering
        for (kb, desc, date) in profile.hotfixes {
            let mut r = self.table("Win32_QuickFixEngineering").row();
            r.s(
                "Caption",
                format!("http://support.microsoft.com/?kbid={}", &kb[2..]),
            )
            .s("Description", *desc)
            .s("CSName", &host_name)
            .s("FixComments", "")
            .s("HotFixID", *kb)
            .s("InstalledBy", "NT AUTHORITY\\SYSTEM")
            .s("InstalledOn", *date)
            .s("ServicePackInEffect", "");
        }

        // Win32_Service
        {
            let mut extra: Vec<ServiceSpec> = Vec::new();
            if vendor.manufacturer.starts_with("VMware") {
                extra.push((
                    "VMTools",
                    "VMware Tools",
                    "Auto",
                    "Running",
                    "\"C:\\Program Files\\VMware\\VMware Tools\\vmtoolsd.exe\"",
                    "LocalSystem",
                ));
            }
            if self.rng.chance(40) {
                extra.push(("Zabbix Agent 2", "Zabbix Agent 2", "Auto", "Running", "\"C:\\Program Files\\Zabbix Agent 2\\zabbix_agent2.exe\" --config \"C:\\Program Files\\Zabbix Agent 2\\zabbix_agent2.conf\"", "LocalSystem"));
            }
            let class = self.table("Win32_Service").class;
            let ix = |n: &str| {
                class
                    .properties
                    .iter()
                    .position(|p| p.name == n)
                    .unwrap_or(0)
            };
            let cols = [
                ix("Caption"),
                ix("Description"),
                ix("Name"),
                ix("Status"),
                ix("CreationClassName"),
                ix("Started"),
                ix("StartMode"),
                ix("SystemCreationClassName"),
                ix("SystemName"),
                ix("AcceptPause"),
                ix("AcceptStop"),
                ix("DesktopInteract"),
                ix("DisplayName"),
                ix("ErrorControl"),
                ix("ExitCode"),
                ix("PathName"),
                ix("ServiceSpecificExitCode"),
                ix("ServiceType"),
                ix("StartName"),
                ix("State"),
                ix("TagId"),
                ix("CheckPoint"),
                ix("DelayedAutoStart"),
                ix("ProcessId"),
                ix("WaitHint"),
            ];
            let specs: Vec<&ServiceSpec> = COMMON_SERVICES
                .iter()
                .chain(profile.extra_services.iter())
                .chain(extra.iter())
                .collect();
            let width = class.properties.len();
            let mut rows = Vec::with_capacity(specs.len());
            for (name, display, mode, state, path, start_name) in specs {
                let running = *state == "Running";
                let pid = if running {
                    (self.rng.range(100, 9000) as u32) & !3
                } else {
                    0
                };
                let shared = path.contains("svchost");
                let vals = [
                    Value::String((*display).into()),
                    Value::String(format!("Provides the {display} service.")),
                    Value::String((*name).into()),
                    Value::String("OK".into()),
                    Value::String("Win32_Service".into()),
                    Value::Boolean(running),
                    Value::String((*mode).into()),
                    Value::String("Win32_ComputerSystem".into()),
                    Value::String(host_name.clone()),
                    Value::Boolean(false),
                    Value::Boolean(running),
                    Value::Boolean(false),
                    Value::String((*display).into()),
                    Value::String("Normal".into()),
                    Value::Uint32(if running { 0 } else { 1077 }),
                    Value::String((*path).into()),
                    Value::Uint32(0),
                    Value::String(
                        if shared {
                            "Share Process"
                        } else {
                            "Own Process"
                        }
                        .into(),
                    ),
                    Value::String((*start_name).into()),
                    Value::String((*state).into()),
                    Value::Uint32(0),
                    Value::Uint32(0),
                    Value::Boolean(false),
                    Value::Uint32(pid),
                    Value::Uint32(0),
                ];
                let mut row = vec![Slot::Null; width];
                for (c, v) in cols.iter().zip(vals) {
                    row[*c] = Slot::Set(v);
                }
                rows.push(row);
            }
            self.table("Win32_Service").rows = rows;
        }

        // Win32_SystemEnclosure
        {
            let tag = if vendor.virtual_machine {
                "No Asset Tag".to_string()
            } else {
                self.rng.alnum(7)
            };
            let mut r = self.table("Win32_SystemEnclosure").row();
            r.s("Caption", "System Enclosure")
                .s("Description", "System Enclosure")
                .s("Name", "System Enclosure")
                .s("CreationClassName", "Win32_SystemEnclosure")
                .s("Manufacturer", vendor.manufacturer)
                .s("SerialNumber", &serial)
                .s("Tag", "System Enclosure 0")
                .b("LockPresent", false)
                .u16("SecurityBreach", 3)
                .u16s("ChassisTypes", &[vendor.chassis])
                .u16("SecurityStatus", 3)
                .s("SMBIOSAssetTag", tag);
        }

        // Win32_ComputerSystemProduct: a stream of its own, so the classes above keep
        // the values they had before it was added.
        {
            let mut ids = SplitMix64::derive(seed, &format!("csproduct:{host_name}"));
            ids = SplitMix64::new(ids.next_u64() ^ addr_bits(self.host.address));
            let head = if vendor.virtual_machine {
                format!("564D{}", ids.hex(4))
            } else {
                ids.hex(8)
            };
            let uuid = format!(
                "{head}-{}-{}-{}-{}",
                ids.hex(4),
                ids.hex(4),
                ids.hex(4),
                ids.hex(12)
            );
            let mut r = self.table("Win32_ComputerSystemProduct").row();
            r.s("Caption", "Computer System Product")
                .s("Description", "Computer System Product")
                .s("IdentifyingNumber", &serial)
                .s("Name", vendor.model)
                .s("Vendor", vendor.manufacturer)
                .s(
                    "Version",
                    if vendor.virtual_machine {
                        "None"
                    } else {
                        "Not Specified"
                    },
                )
                .s("UUID", uuid);
            // SKUNumber: NULL, as most firmware reports it.
        }

        self.host.set_current_time(REFERENCE_TIME);
        self.registry(install, &host_name, &domain, &serial);

        // Scenarios (a stream of their own: the base data above does not depend on them).
        let facts = HostFacts {
            profile: &profile,
            host_name: &self.host.host_name,
            domain: &domain,
            virtual_machine: vendor.virtual_machine,
            hyperv_guest: vendor.virtual_machine && vendor.manufacturer == "Microsoft Corporation",
            manufacturer: vendor.manufacturer,
            logical_processors: threads * sockets,
            bias,
        };
        let scenario = Scenario::generate(seed, &facts, &mut self.host.registry);
        let disks: Vec<String> = (0..disk_count)
            .map(|i| {
                let letter = if i == 0 {
                    'C'
                } else {
                    char::from(b'D' + i as u8 - 1)
                };
                format!("{i} {letter}:")
            })
            .collect();
        let mut prng = SplitMix64::derive(seed ^ 0x9E7F, &self.host.host_name);
        self.host.perf = PerfModel::draw(
            &mut prng,
            boot,
            threads * sockets,
            total_kb * 1024,
            disks,
            vec![perf::interface_instance_name(vendor.nic)],
            server,
        );
        if !scenario.guests.is_empty() {
            // A Hyper-V host runs under the hypervisor.
            let t = self.table("Win32_ComputerSystem");
            if let Some(i) = t
                .class
                .properties
                .iter()
                .position(|p| p.name == "HypervisorPresent")
            {
                for r in &mut t.rows {
                    r[i] = Slot::Set(Value::Boolean(true));
                }
            }
        }
        if !scenario.services.is_empty() {
            let t = self.table("Win32_Service");
            let class = t.class;
            let template = t.rows.first().cloned();
            let ix = |n: &str| class.properties.iter().position(|p| p.name == n);
            if let Some(template) = template {
                for (name, display, mode, state, path, account) in &scenario.services {
                    let mut row = template.clone();
                    let running = state == "Running";
                    let mut set = |n: &str, v: Value| {
                        if let Some(i) = ix(n) {
                            row[i] = Slot::Set(v);
                        }
                    };
                    set("Caption", Value::String(display.clone()));
                    set(
                        "Description",
                        Value::String(format!("Provides the {display} service.")),
                    );
                    set("Name", Value::String(name.clone()));
                    set("DisplayName", Value::String(display.clone()));
                    set("StartMode", Value::String(mode.clone()));
                    set("State", Value::String(state.clone()));
                    set("Started", Value::Boolean(running));
                    set("AcceptStop", Value::Boolean(running));
                    set("PathName", Value::String(path.clone()));
                    set("StartName", Value::String(account.clone()));
                    set("ServiceType", Value::String("Own Process".into()));
                    set("ExitCode", Value::Uint32(if running { 0 } else { 1077 }));
                    set("ProcessId", Value::Uint32(0));
                    t.rows.push(row);
                }
            }
        }
        self.host.scenario = scenario;
    }

    fn registry(&mut self, install: i64, host_name: &str, domain: &str, serial: &str) {
        let p = self.host.profile.clone();
        let reg = &mut self.host.registry;
        let nt = "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion";
        let hk = HKEY_LOCAL_MACHINE;
        let sz = |s: &str| RegValue::Sz(s.to_string());
        reg.set(hk, nt, "SystemRoot", sz("C:\\Windows"));
        reg.set(hk, nt, "BuildBranch", sz("release"));
        reg.set(hk, nt, "CurrentBuild", sz(p.build));
        reg.set(hk, nt, "CurrentBuildNumber", sz(p.build));
        let major_minor = p.version.rsplit_once('.').map(|(a, _)| a).unwrap_or("10.0");
        if major_minor == "10.0" {
            reg.set(hk, nt, "CurrentMajorVersionNumber", RegValue::Dword(10));
            reg.set(hk, nt, "CurrentMinorVersionNumber", RegValue::Dword(0));
        }
        reg.set(hk, nt, "CurrentVersion", sz("6.3"));
        if !p.display_version.is_empty() {
            reg.set(hk, nt, "DisplayVersion", sz(p.display_version));
        }
        reg.set(hk, nt, "EditionID", sz(p.edition_id));
        reg.set(hk, nt, "InstallationType", sz(p.installation_type));
        reg.set(hk, nt, "InstallDate", RegValue::Dword(install as u32));
        // FILETIME: 100 ns intervals since 1601.
        reg.set(
            hk,
            nt,
            "InstallTime",
            RegValue::Qword((install as u64 + 11_644_473_600) * 10_000_000),
        );
        reg.set(hk, nt, "PathName", sz("C:\\Windows"));
        reg.set(
            hk,
            nt,
            "ProductId",
            sz(&format!(
                "00454-{}-{}-AA{}",
                self.rng.range(10000, 99999),
                self.rng.range(10000, 99999),
                self.rng.range(100, 999)
            )),
        );
        reg.set(hk, nt, "ProductName", sz(p.product_name));
        reg.set(hk, nt, "RegisteredOrganization", sz(""));
        reg.set(hk, nt, "RegisteredOwner", sz("Windows User"));
        reg.set(hk, nt, "UBR", RegValue::Dword(p.ubr));
        let digital: Vec<u8> = (0..20).map(|_| self.rng.next_u64() as u8).collect();
        reg.set(hk, nt, "DigitalProductId", RegValue::Binary(digital));

        let cv = "SOFTWARE\\Microsoft\\Windows\\CurrentVersion";
        reg.set(hk, cv, "ProgramFilesDir", sz("C:\\Program Files"));
        reg.set(
            hk,
            cv,
            "ProgramFilesDir (x86)",
            sz("C:\\Program Files (x86)"),
        );
        reg.set(
            hk,
            cv,
            "CommonFilesDir",
            sz("C:\\Program Files\\Common Files"),
        );
        reg.set(
            hk,
            cv,
            "ProgramFilesPath",
            RegValue::ExpandSz("%ProgramFiles%".into()),
        );
        reg.set(
            hk,
            cv,
            "DevicePath",
            RegValue::ExpandSz("%SystemRoot%\\inf".into()),
        );

        reg.set(
            hk,
            "SYSTEM\\CurrentControlSet\\Control\\ComputerName\\ComputerName",
            "ComputerName",
            sz(host_name),
        );
        let tcpip = "SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters";
        reg.set(hk, tcpip, "Hostname", sz(&host_name.to_lowercase()));
        reg.set(hk, tcpip, "Domain", sz(domain));
        reg.set(
            hk,
            "SYSTEM\\CurrentControlSet\\Control\\ServiceGroupOrder",
            "List",
            RegValue::MultiSz(
                [
                    "System Reserved",
                    "EMS",
                    "WdfLoadGroup",
                    "Boot Bus Extender",
                    "System Bus Extender",
                    "SCSI miniport",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            ),
        );
        reg.set(
            hk,
            "HARDWARE\\DESCRIPTION\\System\\BIOS",
            "SystemManufacturer",
            sz(serial),
        );
        // A key with neither subkeys nor values.
        reg.key_mut(hk, "SOFTWARE\\Policies\\Microsoft\\Windows\\Empty");
        for sid in [".DEFAULT", "S-1-5-18", "S-1-5-19", "S-1-5-20"] {
            reg.key_mut(HKEY_USERS, &format!("{sid}\\Software\\Microsoft"));
        }

        // Uninstall keys, both views.
        let native = "SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall";
        let wow = "SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall";
        for name in NAMELESS_UNINSTALL {
            let k = reg.key_mut(hk, &format!("{native}\\{name}"));
            if *name == "WIC" || *name == "IE40" {
                k.set("NoRemove", RegValue::Dword(1));
            }
        }
        reg.key_mut(hk, wow);
        for (name, version, publisher, size, is32, msi) in SOFTWARE {
            // Each title is present on a host with probability 1/2, VMware Tools only on
            // VMware guests.
            let present = if name.starts_with("VMware") {
                self.host.tables.iter().any(|t| {
                    t.class.name == "Win32_ComputerSystem"
                        && t.rows.iter().any(|r| {
                            r.iter().any(
                                |s| matches!(s, Slot::Set(Value::String(m)) if m == "VMware, Inc."),
                            )
                        })
                })
            } else {
                self.rng.chance(50)
            };
            if !present {
                continue;
            }
            let installed = install + self.rng.range(1, 300) as i64 * 86_400;
            let key_name = if *msi {
                format!("{{{}}}", guid(self.rng))
            } else {
                (*name).to_string()
            };
            let path = format!("{}\\{key_name}", if *is32 { wow } else { native });
            let dir = if *is32 {
                "C:\\Program Files (x86)"
            } else {
                "C:\\Program Files"
            };
            let k = reg.key_mut(hk, &path);
            k.set("DisplayName", RegValue::Sz((*name).into()));
            k.set("DisplayVersion", RegValue::Sz((*version).into()));
            k.set("Publisher", RegValue::Sz((*publisher).into()));
            let (y, m, d) = civil(installed.div_euclid(86_400));
            k.set("InstallDate", RegValue::Sz(format!("{y:04}{m:02}{d:02}")));
            if *size > 0 {
                k.set("EstimatedSize", RegValue::Dword(*size));
            }
            if *msi {
                k.set(
                    "UninstallString",
                    RegValue::ExpandSz(format!("MsiExec.exe /X{key_name}")),
                );
                k.set("WindowsInstaller", RegValue::Dword(1));
            } else {
                k.set(
                    "UninstallString",
                    RegValue::Sz(format!(
                        "\"{dir}\\{}\\uninstall.exe\"",
                        name.split(' ').next().unwrap_or("App")
                    )),
                );
            }
            k.set(
                "InstallLocation",
                RegValue::Sz(format!(
                    "{dir}\\{}\\",
                    name.split(' ').next().unwrap_or("App")
                )),
            );
            k.set("NoModify", RegValue::Dword(1));
        }
        for (name, version) in SYSTEM_COMPONENTS {
            let key_name = format!("{{{}}}", guid(self.rng));
            let k = reg.key_mut(hk, &format!("{native}\\{key_name}"));
            k.set("DisplayName", RegValue::Sz((*name).into()));
            k.set("DisplayVersion", RegValue::Sz((*version).into()));
            k.set("Publisher", RegValue::Sz("Microsoft Corporation".into()));
            k.set("SystemComponent", RegValue::Dword(1));
            k.set(
                "UninstallString",
                RegValue::ExpandSz(format!("MsiExec.exe /X{key_name}")),
            );
            k.set("WindowsInstaller", RegValue::Dword(1));
        }
        let _ = us_date;
    }
}

pub(crate) fn guid(rng: &mut SplitMix64) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        rng.hex(8),
        rng.hex(4),
        rng.hex(4),
        rng.hex(4),
        rng.hex(12)
    )
}

fn short_domain(domain: &str) -> String {
    domain
        .split('.')
        .next()
        .unwrap_or("WORKGROUP")
        .to_uppercase()
}
