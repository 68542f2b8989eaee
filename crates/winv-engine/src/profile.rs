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
//! The built-in `standard` profile ([`Profile::standard`]) is the Win32 classes the
//! simulator serves, installed software from the registry's Uninstall keys (never
//! `Win32_Product`) and the OS edition from the registry.

use serde::Deserialize;

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
        }
    }

    /// The namespace it is collected from.
    pub fn namespace(&self) -> &str {
        match self {
            Item::Wmi { namespace, .. } => namespace,
            Item::RegistryValue { .. } | Item::Software => REGISTRY_NAMESPACE,
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
[[wmi]]
class = "Win32_OperatingSystem"
[[wmi]]
class = "Win32_BIOS"
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
[[wmi]]
class = "Win32_Service"
[[wmi]]
class = "Win32_SystemEnclosure"

[[registry]]
item = "os-edition"
key = 'SOFTWARE\Microsoft\Windows NT\CurrentVersion'
value = "EditionID"

[software]
enabled = true
"#;

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

    /// A built-in profile by name.
    pub fn builtin(name: &str) -> Option<Profile> {
        (name == "standard").then(Profile::standard)
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
            items.push(Item::Wmi {
                namespace: w.namespace.unwrap_or_else(|| r"root\cimv2".to_string()),
                class: w.class,
                wql,
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
        if items.is_empty() {
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
        })
    }
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
            }]
        );
    }
}
