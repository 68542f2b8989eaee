//! Inventory profiles: which WMI classes and registry items to collect from each computer.
//!
//! A profile is TOML:
//!
//! ```toml
//! name = "standard"
//!
//! [[wmi]]
//! class = "Win32_OperatingSystem"
//! # namespace = "root\\cimv2"         (the default)
//! # properties = ["Caption", "Version"]  (default: every property)
//! # where = "IPEnabled = TRUE"        (optional WQL condition)
//! few_rows = true   # one instance per computer, or a few: fetched in two calls, not four
//!
//! [[registry]]
//! item = "os-edition"
//! key = 'SOFTWARE\Microsoft\Windows NT\CurrentVersion'
//! value = "EditionID"
//!
//! [software]
//! enabled = true   # installed programs from both Uninstall views
//! ```
//!
//! Scenario items (what MAP's assessment wizards read) add two things:
//!
//! ```toml
//! [[wmi]]
//! class = "SqlService"
//! namespace = 'root\Microsoft\SqlServer\ComputerManagement*'  # newest NN first
//! optional = true   # a namespace or class the host does not have is "not present"
//!
//! [[registry_table]]
//! item = "sql-instances"
//! list = 'SOFTWARE\Microsoft\Microsoft SQL Server\Instance Names\SQL'
//! detail = 'SOFTWARE\Microsoft\Microsoft SQL Server\{data}\Setup'
//! values = ["Edition", "Version", "PatchLevel", "SP:dword"]
//! optional = true
//! ```
//!
//! A namespace ending in `*` names the child namespaces of its parent whose names start
//! with the last component's prefix and end in a number; the engine lists them
//! (`SELECT Name FROM __NAMESPACE` in the parent) and uses the highest number
//! ([`newest_namespace`]). A `registry_table` enumerates the values of `list` (name: the
//! instance, data: its id) and reads `values` under `detail` with `{name}` / `{data}`
//! replaced. Profiles combine: `standard,sql,roles` ([`Profile::combine`]).
//!
//! The file format, every key with examples, is documented in `docs/profiles.md`.
//!
//! The built-in `standard` profile ([`Profile::standard`]) is the Win32 classes the
//! simulator serves, installed software from the registry's Uninstall keys (never
//! `Win32_Product`) and the OS edition from the registry.

use serde::Deserialize;
use winv_client::Rows;

pub use crate::scenario::{is_not_present, NotPresentRule};

/// The registry item name of installed software.
pub const SOFTWARE_ITEM: &str = "registry:software";

/// One thing to collect, in the order of the profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// A WQL query of one class.
    Wmi {
        /// The class.
        class: String,
        /// The namespace (`root\cimv2`).
        namespace: String,
        /// The WQL statement.
        wql: String,
        /// A namespace or class the host does not have is recorded as not present, never
        /// as a failure of the computer ([`is_not_present`]).
        optional: bool,
        /// The class has one instance per computer, or a few ([`Rows::Few`]): its objects
        /// are fetched without the smart enumerator, in two calls instead of four.
        few_rows: bool,
    },
    /// One string value of `HKEY_LOCAL_MACHINE` through `StdRegProv`.
    RegistryValue {
        /// The item's name (`os-edition`).
        name: String,
        /// The key under HKLM.
        key: String,
        /// The value name.
        value: String,
    },
    /// Installed programs from the Uninstall keys of both registry views.
    Software,
    /// A registry table ([`Profile::registry_tables`]), collected after the other items.
    RegistryTable(RegistryTable),
}

/// The type of a value a [`RegistryTable`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegKind {
    /// `REG_SZ` (`GetStringValue`).
    String,
    /// `REG_DWORD` (`GetDWORDValue`).
    Dword,
}

/// A table read from the registry: one row per value of `list` (HKLM), each row the
/// `values` of the key `detail` with `{name}` and `{data}` replaced by the list value's
/// name and string data. SQL Server's `Instance Names\SQL` and `MSSQLnn.NAME\Setup` are the
/// example.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryTable {
    /// The item's name (`sql-instances`); recorded as `registry:NAME`.
    pub name: String,
    /// The key whose values list the rows.
    pub list: String,
    /// The key read per row, with `{name}` / `{data}`.
    pub detail: String,
    /// The values read per row.
    pub values: Vec<(String, RegKind)>,
    /// A `list` key the host does not have is "not present".
    pub optional: bool,
}

impl RegistryTable {
    /// The detail key of a row.
    pub fn detail_key(&self, name: &str, data: &str) -> String {
        self.detail.replace("{name}", name).replace("{data}", data)
    }
}

/// The namespace `StdRegProv` lives in.
pub const REGISTRY_NAMESPACE: &str = r"root\default";

impl Item {
    /// The item's name in records: the class, `registry:NAME`, or [`SOFTWARE_ITEM`].
    pub fn name(&self) -> String {
        match self {
            Item::Wmi { class, .. } => class.clone(),
            Item::RegistryValue { name, .. } => format!("registry:{name}"),
            Item::Software => SOFTWARE_ITEM.to_string(),
            Item::RegistryTable(t) => format!("registry:{}", t.name),
        }
    }

    /// Whether a namespace, class or registry key the host does not have is "not
    /// present" rather than a failure.
    pub fn optional(&self) -> bool {
        match self {
            Item::Wmi { optional, .. } => *optional,
            Item::RegistryTable(t) => t.optional,
            Item::RegistryValue { .. } | Item::Software => false,
        }
    }

    /// How many objects its query is expected to return, which decides how they are
    /// fetched ([`Rows`]).
    pub fn rows(&self) -> Rows {
        match self {
            Item::Wmi { few_rows: true, .. } => Rows::Few,
            _ => Rows::Many,
        }
    }

    /// The namespace it is collected from.
    pub fn namespace(&self) -> &str {
        match self {
            Item::Wmi { namespace, .. } => namespace,
            Item::RegistryValue { .. } | Item::Software | Item::RegistryTable(_) => {
                REGISTRY_NAMESPACE
            }
        }
    }
}

/// An inventory profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// Its name.
    pub name: String,
    /// The items, in collection order.
    pub items: Vec<Item>,
    /// Registry tables, collected after the items ([`Profile::collection`]).
    pub registry_tables: Vec<RegistryTable>,
}

impl Profile {
    /// What the engine collects, in order: the items, then each registry table as an
    /// [`Item::RegistryTable`].
    pub fn collection(&self) -> Vec<Item> {
        self.items
            .iter()
            .cloned()
            .chain(
                self.registry_tables
                    .iter()
                    .cloned()
                    .map(Item::RegistryTable),
            )
            .collect()
    }
}

/// A profile file that does not parse.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// TOML syntax or an unknown key.
    #[error("profile: {0}")]
    Toml(String),
    /// A value that cannot be used.
    #[error("profile: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    name: String,
    #[serde(default)]
    wmi: Vec<WmiSpec>,
    #[serde(default)]
    registry: Vec<RegistrySpec>,
    #[serde(default)]
    software: Option<SoftwareSpec>,
    #[serde(default)]
    registry_table: Vec<RegistryTableSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryTableSpec {
    item: String,
    list: String,
    detail: String,
    values: Vec<String>,
    #[serde(default)]
    optional: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WmiSpec {
    class: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    properties: Option<Vec<String>>,
    #[serde(default, rename = "where")]
    condition: Option<String>,
    #[serde(default)]
    optional: bool,
    #[serde(default)]
    few_rows: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistrySpec {
    item: String,
    key: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SoftwareSpec {
    enabled: bool,
}

/// The built-in `standard` profile.
const STANDARD: &str = r#"
name = "standard"

[[wmi]]
class = "Win32_ComputerSystem"
few_rows = true
[[wmi]]
class = "Win32_OperatingSystem"
few_rows = true
[[wmi]]
class = "Win32_BIOS"
few_rows = true
[[wmi]]
class = "Win32_Processor"
[[wmi]]
class = "Win32_PhysicalMemory"
[[wmi]]
class = "Win32_LogicalDisk"
[[wmi]]
class = "Win32_DiskDrive"
[[wmi]]
class = "Win32_NetworkAdapterConfiguration"
where = "IPEnabled = TRUE"
[[wmi]]
class = "Win32_QuickFixEngineering"
# The largest class of a host (a few hundred rows of 26 properties, `Description` the
# longest): the 8 properties the reports and an assessment read.
[[wmi]]
class = "Win32_Service"
properties = ["Name", "DisplayName", "State", "StartMode", "StartName", "PathName", "ServiceType", "ProcessId"]
[[wmi]]
class = "Win32_SystemEnclosure"
few_rows = true
[[wmi]]
class = "Win32_ComputerSystemProduct"
few_rows = true

[[registry]]
item = "os-edition"
key = 'SOFTWARE\Microsoft\Windows NT\CurrentVersion'
value = "EditionID"

[software]
enabled = true
"#;

/// The built-in `sql` profile: SQL Server instances from WMI (the newest
/// ComputerManagementNN namespace) and from the registry.
const SQL: &str = r#"
name = "sql"

[[wmi]]
class = "SqlService"
namespace = 'root\Microsoft\SqlServer\ComputerManagement*'
properties = ["ServiceName", "DisplayName", "SQLServiceType", "State", "StartMode", "StartName", "HostName", "BinaryPath"]
optional = true

[[wmi]]
class = "SqlServiceAdvancedProperty"
namespace = 'root\Microsoft\SqlServer\ComputerManagement*'
properties = ["ServiceName", "SqlServiceType", "PropertyName", "PropertyNumValue", "PropertyStrValue", "PropertyValueType"]
where = "SqlServiceType = 1"
optional = true

[[registry_table]]
item = "sql-instances"
list = 'SOFTWARE\Microsoft\Microsoft SQL Server\Instance Names\SQL'
detail = 'SOFTWARE\Microsoft\Microsoft SQL Server\{data}\Setup'
values = ["Edition", "Version", "PatchLevel", "SP:dword"]
optional = true
"#;

/// The built-in `roles` profile: the server roles and features.
const ROLES: &str = r#"
name = "roles"

[[wmi]]
class = "Win32_ServerFeature"
optional = true
"#;

/// The built-in `virtualization` profile: the facts that tell a virtual machine from a
/// physical one, and a Hyper-V host's guests.
const VIRTUALIZATION: &str = r#"
name = "virtualization"

[[wmi]]
class = "Win32_ComputerSystem"
properties = ["Name", "Manufacturer", "Model", "HypervisorPresent", "NumberOfProcessors", "NumberOfLogicalProcessors"]
few_rows = true
[[wmi]]
class = "Win32_BIOS"
properties = ["SerialNumber", "Manufacturer", "SMBIOSBIOSVersion", "Version"]
few_rows = true
[[wmi]]
class = "Win32_SystemEnclosure"
properties = ["Manufacturer", "SerialNumber", "ChassisTypes", "Tag"]
few_rows = true
[[wmi]]
class = "Win32_Processor"
properties = ["DeviceID", "NumberOfCores", "NumberOfLogicalProcessors"]
[[wmi]]
class = "Msvm_ComputerSystem"
namespace = 'root\virtualization\v2'
properties = ["Name", "ElementName", "Caption", "EnabledState", "OnTimeInMilliseconds", "CreationClassName"]
optional = true

[[registry]]
item = "hyperv-physical-host"
key = 'SOFTWARE\Microsoft\Virtual Machine\Guest\Parameters'
value = "PhysicalHostNameFullyQualified"
"#;

/// The built-in `licensing` profile: installed licences (with a partial product key),
/// the licensing service, and the processors for the core count.
const LICENSING: &str = r#"
name = "licensing"

[[wmi]]
class = "SoftwareLicensingProduct"
properties = ["ID", "Name", "Description", "ApplicationID", "LicenseStatus", "PartialProductKey", "ProductKeyChannel", "LicenseFamily", "GracePeriodRemaining", "KeyManagementServiceMachine", "KeyManagementServicePort", "DiscoveredKeyManagementServiceMachineName", "DiscoveredKeyManagementServiceMachinePort"]
where = "PartialProductKey IS NOT NULL"
[[wmi]]
class = "SoftwareLicensingService"
properties = ["Version", "KeyManagementServiceMachine", "KeyManagementServicePort", "DiscoveredKeyManagementServiceMachineName", "IsKeyManagementServiceMachine", "ClientMachineID"]
few_rows = true
[[wmi]]
class = "Win32_Processor"
properties = ["DeviceID", "NumberOfCores", "NumberOfLogicalProcessors"]
[[wmi]]
class = "Win32_OperatingSystem"
properties = ["Caption", "ProductType", "OperatingSystemSKU", "Version"]
few_rows = true
"#;

/// The built-in profiles by name.
pub const BUILTIN: &[(&str, &str)] = &[
    ("standard", STANDARD),
    ("sql", SQL),
    ("roles", ROLES),
    ("virtualization", VIRTUALIZATION),
    ("licensing", LICENSING),
];

/// The newest of `names` (the child namespaces of a pattern's parent) that match the
/// pattern's last component `prefix*`: the name starting with `prefix`
/// (case-insensitive) followed by the highest decimal number. `None` when none matches.
pub fn newest_namespace<'a>(prefix: &str, names: &'a [String]) -> Option<&'a str> {
    names
        .iter()
        .filter_map(|n| {
            let head = n.get(..prefix.len())?;
            if !head.eq_ignore_ascii_case(prefix) {
                return None;
            }
            let rest = &n[prefix.len()..];
            if rest.is_empty() || rest.len() > 9 || !rest.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some((rest.parse::<u32>().ok()?, n.as_str()))
        })
        .max_by_key(|(v, _)| *v)
        .map(|(_, n)| n)
}

/// A namespace pattern split into (parent, leaf prefix): `root\A\B*` → (`root\A`, `B`);
/// `None` for a namespace that is no pattern.
pub fn namespace_pattern(namespace: &str) -> Option<(&str, &str)> {
    let p = namespace.strip_suffix('*')?;
    let (parent, leaf) = p.rsplit_once('\\')?;
    (!parent.is_empty() && !leaf.is_empty() && !leaf.contains('*')).then_some((parent, leaf))
}

/// A WMI identifier: letters, digits and `_` (class and property names).
fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Profile {
    /// The built-in `standard` profile.
    pub fn standard() -> Profile {
        // INVARIANT: STANDARD is a constant the tests parse.
        Profile::parse(STANDARD).unwrap_or_else(|e| unreachable!("built-in profile: {e}"))
    }

    /// A built-in profile by name, or a comma-separated list of built-in names
    /// (`standard,sql,roles`), combined ([`Profile::combine`]).
    pub fn builtin(name: &str) -> Option<Profile> {
        let names: Vec<&str> = name.split(',').map(str::trim).collect();
        let mut profiles = Vec::new();
        for n in &names {
            let text = BUILTIN.iter().find(|(b, _)| b.eq_ignore_ascii_case(n))?.1;
            // INVARIANT: the built-in texts are constants the tests parse.
            profiles.push(Profile::parse(text).ok()?);
        }
        Profile::combine(profiles).ok()
    }

    /// The profiles combined in order, named `a,b,c`: every item once, where it first
    /// appears; an item that two profiles define differently (the same class with
    /// another namespace, properties or condition) is an error, except that a later
    /// definition with every property (`SELECT *`) replaces an earlier narrower one. A
    /// class is `optional` only if every profile says so, `few_rows` if one does (a fact
    /// of the class that one profile knowing is enough).
    pub fn combine(profiles: Vec<Profile>) -> Result<Profile, ProfileError> {
        let mut names = Vec::new();
        let mut items: Vec<Item> = Vec::new();
        let mut tables: Vec<RegistryTable> = Vec::new();
        for p in profiles {
            if names
                .iter()
                .any(|n: &String| n.eq_ignore_ascii_case(&p.name))
            {
                continue;
            }
            names.push(p.name.clone());
            for item in p.items {
                let key = item.name();
                match items
                    .iter()
                    .position(|i| i.name().eq_ignore_ascii_case(&key))
                {
                    None => items.push(item),
                    Some(at) if items[at] == item => {}
                    Some(at) => match (&items[at], &item) {
                        (
                            Item::Wmi {
                                namespace: a,
                                wql: wa,
                                optional: oa,
                                few_rows: fa,
                                ..
                            },
                            Item::Wmi {
                                namespace: b,
                                wql: wb,
                                optional: ob,
                                few_rows: fb,
                                ..
                            },
                        ) if a.eq_ignore_ascii_case(b) => {
                            let star = |w: &str| w.starts_with("SELECT * ");
                            let where_of =
                                |w: &str| w.split_once(" WHERE ").map(|x| x.1.to_string());
                            if where_of(wa) != where_of(wb) {
                                return Err(ProfileError::Invalid(format!(
                                    "{key}: profiles {} disagree on its condition",
                                    names.join(",")
                                )));
                            }
                            // The wider selection wins; optional only if both say so.
                            let wql = if star(wa) {
                                wa.clone()
                            } else if star(wb) {
                                wb.clone()
                            } else {
                                merge_properties(wa, wb)
                            };
                            let (optional, few) = (*oa && *ob, *fa || *fb);
                            if let Item::Wmi {
                                wql: w,
                                optional: o,
                                few_rows: f,
                                ..
                            } = &mut items[at]
                            {
                                *w = wql;
                                *o = optional;
                                *f = few;
                            }
                        }
                        _ => {
                            return Err(ProfileError::Invalid(format!(
                                "{key}: profiles {} define it differently",
                                names.join(",")
                            )))
                        }
                    },
                }
            }
            for t in p.registry_tables {
                match tables.iter().find(|x| x.name.eq_ignore_ascii_case(&t.name)) {
                    None => tables.push(t),
                    Some(x) if *x == t => {}
                    Some(_) => {
                        return Err(ProfileError::Invalid(format!(
                            "registry:{}: profiles {} define it differently",
                            t.name,
                            names.join(",")
                        )))
                    }
                }
            }
        }
        // Software last, as in every single profile.
        if let Some(i) = items.iter().position(|i| *i == Item::Software) {
            let sw = items.remove(i);
            items.push(sw);
        }
        if items.is_empty() && tables.is_empty() {
            return Err(ProfileError::Invalid("the profile collects nothing".into()));
        }
        Ok(Profile {
            name: names.join(","),
            items,
            registry_tables: tables,
        })
    }

    /// Parses a profile file.
    pub fn parse(text: &str) -> Result<Profile, ProfileError> {
        let f: ProfileFile = toml::from_str(text).map_err(|e| ProfileError::Toml(e.to_string()))?;
        let mut items = Vec::new();
        for w in f.wmi {
            if !is_identifier(&w.class) {
                return Err(ProfileError::Invalid(format!(
                    "invalid class name {:?}",
                    w.class
                )));
            }
            let props = match &w.properties {
                None => "*".to_string(),
                Some(p) if p.is_empty() => {
                    return Err(ProfileError::Invalid(format!(
                        "{}: empty property list",
                        w.class
                    )))
                }
                Some(p) => {
                    if let Some(bad) = p.iter().find(|p| !is_identifier(p)) {
                        return Err(ProfileError::Invalid(format!(
                            "{}: invalid property name {bad:?}",
                            w.class
                        )));
                    }
                    p.join(", ")
                }
            };
            let mut wql = format!("SELECT {props} FROM {}", w.class);
            if let Some(c) = w
                .condition
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty())
            {
                wql.push_str(" WHERE ");
                wql.push_str(c);
            }
            let namespace = w.namespace.unwrap_or_else(|| r"root\cimv2".to_string());
            if namespace.contains('*') && namespace_pattern(&namespace).is_none() {
                return Err(ProfileError::Invalid(format!(
                    "{}: a namespace pattern is PARENT\\PREFIX* ({namespace:?})",
                    w.class
                )));
            }
            items.push(Item::Wmi {
                namespace,
                class: w.class,
                wql,
                optional: w.optional,
                few_rows: w.few_rows,
            });
        }
        for r in f.registry {
            if r.item.is_empty() || r.key.is_empty() {
                return Err(ProfileError::Invalid(
                    "registry item without name or key".into(),
                ));
            }
            items.push(Item::RegistryValue {
                name: r.item,
                key: r.key,
                value: r.value,
            });
        }
        if f.software.is_some_and(|s| s.enabled) {
            items.push(Item::Software);
        }
        let mut registry_tables = Vec::new();
        for t in f.registry_table {
            if t.item.is_empty() || t.list.is_empty() || t.detail.is_empty() {
                return Err(ProfileError::Invalid(
                    "registry table without name, list or detail key".into(),
                ));
            }
            if t.values.is_empty() {
                return Err(ProfileError::Invalid(format!(
                    "registry:{}: no values to read",
                    t.item
                )));
            }
            let mut values = Vec::new();
            for v in &t.values {
                let (name, kind) = match v.rsplit_once(':') {
                    Some((n, k)) if k.eq_ignore_ascii_case("dword") => (n, RegKind::Dword),
                    Some((n, k)) if k.eq_ignore_ascii_case("string") => (n, RegKind::String),
                    Some((_, k)) => {
                        return Err(ProfileError::Invalid(format!(
                            "registry:{}: unknown value type {k:?} (string or dword)",
                            t.item
                        )))
                    }
                    None => (v.as_str(), RegKind::String),
                };
                values.push((name.to_string(), kind));
            }
            if items.iter().any(|i| {
                i.name()
                    .eq_ignore_ascii_case(&format!("registry:{}", t.item))
            }) {
                return Err(ProfileError::Invalid(format!(
                    "registry:{} appears twice",
                    t.item
                )));
            }
            registry_tables.push(RegistryTable {
                name: t.item,
                list: t.list,
                detail: t.detail,
                values,
                optional: t.optional,
            });
        }
        if items.is_empty() && registry_tables.is_empty() {
            return Err(ProfileError::Invalid("the profile collects nothing".into()));
        }
        let mut names: Vec<String> = items.iter().map(Item::name).collect();
        names.sort_by_key(|n| n.to_ascii_lowercase());
        if let Some(w) = names.windows(2).find(|w| w[0].eq_ignore_ascii_case(&w[1])) {
            return Err(ProfileError::Invalid(format!("{} appears twice", w[0])));
        }
        Ok(Profile {
            name: f.name,
            items,
            registry_tables,
        })
    }
}

/// The union of two `SELECT a, b FROM C [WHERE ...]` property lists, in first-seen order.
fn merge_properties(a: &str, b: &str) -> String {
    let props = |w: &str| -> (Vec<String>, String) {
        let body = w.strip_prefix("SELECT ").unwrap_or(w);
        let (list, rest) = body.split_once(" FROM ").unwrap_or((body, ""));
        (
            list.split(',').map(|p| p.trim().to_string()).collect(),
            rest.to_string(),
        )
    };
    let (mut pa, rest) = props(a);
    let (pb, _) = props(b);
    for p in pb {
        if !pa.iter().any(|x| x.eq_ignore_ascii_case(&p)) {
            pa.push(p);
        }
    }
    format!("SELECT {} FROM {rest}", pa.join(", "))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn standard_profile() {
        let p = Profile::standard();
        assert_eq!(p.name, "standard");
        let names: Vec<String> = p.items.iter().map(Item::name).collect();
        assert_eq!(
            names.first().map(String::as_str),
            Some("Win32_ComputerSystem")
        );
        assert!(names.contains(&"Win32_QuickFixEngineering".to_string()));
        assert!(names.contains(&"registry:os-edition".to_string()));
        // What the report tables and `machines_latest` read (the machine's identity,
        // adapters, disks, memory modules).
        for class in [
            "Win32_ComputerSystemProduct",
            "Win32_BIOS",
            "Win32_NetworkAdapterConfiguration",
            "Win32_LogicalDisk",
            "Win32_PhysicalMemory",
        ] {
            assert!(names.iter().any(|n| n == class), "{class}");
        }
        assert_eq!(names.last().map(String::as_str), Some(SOFTWARE_ITEM));
        assert!(!names.iter().any(|n| n == "Win32_Product"));
        let nic = p
            .items
            .iter()
            .find(|i| i.name() == "Win32_NetworkAdapterConfiguration");
        match nic {
            Some(Item::Wmi { wql, namespace, .. }) => {
                assert_eq!(
                    wql,
                    "SELECT * FROM Win32_NetworkAdapterConfiguration WHERE IPEnabled = TRUE"
                );
                assert_eq!(namespace, r"root\cimv2");
            }
            other => panic!("{other:?}"),
        }
    }

    /// The example of `docs/profiles.md` is a profile this parser takes, item by item.
    #[test]
    fn the_documented_example_parses() {
        let doc = include_str!("../../../docs/profiles.md");
        let example = doc
            .split("```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .unwrap();
        let p = Profile::parse(example).unwrap();
        assert_eq!(p.name, "servers");
        let names: Vec<String> = p.collection().iter().map(Item::name).collect();
        assert_eq!(
            names,
            [
                "Win32_OperatingSystem",
                "Win32_NetworkAdapterConfiguration",
                "SqlService",
                "registry:os-edition",
                SOFTWARE_ITEM,
                "registry:sql-instances",
            ]
        );
        match &p.items[0] {
            Item::Wmi { wql, namespace, .. } => {
                assert_eq!(
                    wql,
                    "SELECT Caption, Version, BuildNumber FROM Win32_OperatingSystem \
                     WHERE ProductType <> 1"
                );
                assert_eq!(namespace, r"root\cimv2");
            }
            other => panic!("{other:?}"),
        }
        assert!(p.items[2].optional());
        assert_eq!(
            p.registry_tables[0].values[3],
            ("SP".into(), RegKind::Dword)
        );
    }

    #[test]
    fn bad_profiles_are_errors() {
        for (text, want) in [
            ("name = \"x\"", "collects nothing"),
            ("name = \"x\"\n[[wmi]]\nclass = \"A;DROP\"", "invalid class"),
            (
                "name = \"x\"\n[[wmi]]\nclass = \"A\"\nproperties = []",
                "empty property",
            ),
            (
                "name = \"x\"\n[[wmi]]\nclass = \"A\"\n[[wmi]]\nclass = \"a\"",
                "twice",
            ),
            ("name = \"x\"\nbogus = 1", "unknown field"),
        ] {
            let e = Profile::parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn properties_and_namespace() {
        let p = Profile::parse(
            "name = \"t\"\n[[wmi]]\nclass = \"MSStorageDriver_FailurePredictStatus\"\nnamespace = 'root\\wmi'\nproperties = [\"InstanceName\", \"PredictFailure\"]",
        )
        .unwrap();
        assert_eq!(
            p.items,
            vec![Item::Wmi {
                class: "MSStorageDriver_FailurePredictStatus".into(),
                namespace: r"root\wmi".into(),
                wql:
                    "SELECT InstanceName, PredictFailure FROM MSStorageDriver_FailurePredictStatus"
                        .into(),
                optional: false,
                few_rows: false,
            }]
        );
    }

    #[test]
    fn builtin_scenario_profiles_parse_and_combine() {
        for (name, _) in BUILTIN {
            let p = Profile::builtin(name).unwrap();
            assert_eq!(p.name, *name);
        }
        let p = Profile::builtin("standard,sql,roles").unwrap();
        assert_eq!(p.name, "standard,sql,roles");
        let names: Vec<String> = p.items.iter().map(Item::name).collect();
        assert!(names.contains(&"Win32_ServerFeature".to_string()));
        assert!(names.contains(&"SqlService".to_string()));
        assert_eq!(names.last().map(String::as_str), Some(SOFTWARE_ITEM));
        assert_eq!(p.registry_tables.len(), 1);
        let t = &p.registry_tables[0];
        assert_eq!(
            t.detail_key("MSSQLSERVER", "MSSQL15.MSSQLSERVER"),
            r"SOFTWARE\Microsoft\Microsoft SQL Server\MSSQL15.MSSQLSERVER\Setup"
        );
        assert!(t.values.contains(&("SP".to_string(), RegKind::Dword)));
        assert!(t.optional);
        match p.items.iter().find(|i| i.name() == "SqlService") {
            Some(Item::Wmi {
                namespace,
                optional,
                ..
            }) => {
                assert!(*optional);
                assert_eq!(
                    namespace_pattern(namespace),
                    Some((r"root\Microsoft\SqlServer", "ComputerManagement"))
                );
            }
            other => panic!("{other:?}"),
        }
        // standard's SELECT * of Win32_ComputerSystem wins over virtualization's list,
        // in either order; the class appears once.
        for spec in ["standard,virtualization", "virtualization,standard"] {
            let p = Profile::builtin(spec).unwrap();
            let cs: Vec<&Item> = p
                .items
                .iter()
                .filter(|i| i.name() == "Win32_ComputerSystem")
                .collect();
            assert_eq!(cs.len(), 1);
            match cs[0] {
                Item::Wmi { wql, optional, .. } => {
                    assert_eq!(wql, "SELECT * FROM Win32_ComputerSystem");
                    assert!(!optional);
                }
                other => panic!("{other:?}"),
            }
        }
        // Two property lists merge.
        let p = Profile::builtin("virtualization,licensing").unwrap();
        let proc_ = p
            .items
            .iter()
            .find(|i| i.name() == "Win32_Processor")
            .unwrap();
        assert!(
            matches!(proc_, Item::Wmi { wql, .. } if wql == "SELECT DeviceID, NumberOfCores, NumberOfLogicalProcessors FROM Win32_Processor")
        );
        assert!(Profile::builtin("standard,nosuch").is_none());
        assert!(Profile::builtin("standard,standard").is_some());
    }

    #[test]
    fn classes_of_few_rows_are_marked_and_combine_with_either() {
        let few = |p: &Profile| -> Vec<String> {
            let f = p.items.iter().filter(|i| i.rows() == Rows::Few);
            f.map(Item::name).collect()
        };
        assert_eq!(
            few(&Profile::standard()),
            [
                "Win32_ComputerSystem",
                "Win32_OperatingSystem",
                "Win32_BIOS",
                "Win32_SystemEnclosure",
                "Win32_ComputerSystemProduct",
            ]
        );
        // Registry items and classes of many rows are fetched as before.
        assert!(Profile::standard()
            .items
            .iter()
            .filter(|i| !matches!(i, Item::Wmi { .. }))
            .all(|i| i.rows() == Rows::Many));
        let one = |few: bool| {
            let text =
                format!("name = \"p{few}\"\n[[wmi]]\nclass = \"Win32_BIOS\"\nfew_rows = {few}");
            Profile::parse(&text).unwrap()
        };
        assert_eq!(few(&one(true)), ["Win32_BIOS"]);
        assert!(few(&one(false)).is_empty());
        for order in [[true, false], [false, true]] {
            let p = Profile::combine(order.iter().map(|f| one(*f)).collect()).unwrap();
            assert_eq!(few(&p), ["Win32_BIOS"], "{order:?}");
        }
        assert!(
            Profile::parse("name = \"x\"\n[[wmi]]\nclass = \"A\"\nfew_rows = \"yes\"").is_err()
        );
    }

    #[test]
    fn combine_rejects_conflicts() {
        let a = Profile::parse("name = \"a\"\n[[wmi]]\nclass = \"C\"\nwhere = \"X = 1\"").unwrap();
        let b = Profile::parse("name = \"b\"\n[[wmi]]\nclass = \"C\"\nwhere = \"X = 2\"").unwrap();
        let e = Profile::combine(vec![a.clone(), b])
            .unwrap_err()
            .to_string();
        assert!(e.contains("disagree"), "{e}");
        let c = Profile::parse("name = \"c\"\n[[wmi]]\nclass = \"C\"\nnamespace = 'root\\wmi'")
            .unwrap();
        let e = Profile::combine(vec![a, c]).unwrap_err().to_string();
        assert!(e.contains("differently"), "{e}");
    }

    #[test]
    fn namespace_patterns_and_newest() {
        assert_eq!(namespace_pattern(r"root\cimv2"), None);
        assert_eq!(namespace_pattern(r"root\A\B*"), Some((r"root\A", "B")));
        assert_eq!(namespace_pattern("B*"), None);
        let names: Vec<String> = [
            "ComputerManagement11",
            "ComputerManagement15",
            "ComputerManagement9",
            "computermanagement16x",
            "Other",
            "ComputerManagement",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            newest_namespace("ComputerManagement", &names),
            Some("ComputerManagement15")
        );
        assert_eq!(
            newest_namespace("computermanagement", &names[..1]),
            Some("ComputerManagement11")
        );
        assert_eq!(newest_namespace("ComputerManagement", &names[3..]), None);
        for (text, want) in [
            ("name = \"x\"\n[[wmi]]\nclass = \"A\"\nnamespace = 'root\\a*b'", "namespace pattern"),
            ("name = \"x\"\n[[registry_table]]\nitem = \"t\"\nlist = 'K'\ndetail = 'D'\nvalues = []", "no values"),
            ("name = \"x\"\n[[registry_table]]\nitem = \"t\"\nlist = 'K'\ndetail = 'D'\nvalues = [\"V:qword\"]", "unknown value type"),
            ("name = \"x\"\n[[registry_table]]\nitem = \"t\"\nlist = ''\ndetail = 'D'\nvalues = [\"V\"]", "without name"),
        ] {
            let e = Profile::parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
