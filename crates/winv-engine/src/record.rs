//! What the engine records about each computer: the final status, the failure that caused
//! it, every attempt, every class, and the inventory collected. These are the rows the
//! store writes and `--json` prints; they never hold a secret (a credential appears only
//! as its account name).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::status::Status;

/// Who refused access, when the status is `access-denied` (the WMI connectivity scenario guide, "Access" errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeniedBy {
    /// The NTLM (or Kerberos) logon itself failed: wrong password, unknown account.
    Authentication,
    /// DCOM refused the activation (Remote Launch / Remote Activation permission,
    /// "Distributed COM Users", or the authentication level).
    Dcom,
    /// The WMI namespace refused the login (namespace security: Remote Enable).
    WmiNamespace,
    /// A registry key's permissions (a `StdRegProv` `ReturnValue` of 5).
    Registry,
}

impl DeniedBy {
    /// Stable identifier.
    pub fn as_str(self) -> &'static str {
        match self {
            DeniedBy::Authentication => "authentication",
            DeniedBy::Dcom => "dcom",
            DeniedBy::WmiNamespace => "wmi-namespace",
            DeniedBy::Registry => "registry",
        }
    }
}

/// Where a failure happened: a stage of the client's connection flow or calls, or one of
/// the engine's own (resolution, the credential list, the watchdog, the run, the items).
/// Serialized and stored as its stable identifier (`connect-135`, `watchdog`...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureStage {
    /// The client's stage (see `winv_client::Stage`).
    Client(winv_client::Stage),
    /// The engine's name resolution of the target.
    Resolve,
    /// The credential list (none given, none worked).
    Credentials,
    /// The watchdog: no progress for its period.
    Watchdog,
    /// The run was stopped.
    Run,
    /// Every item of the profile failed.
    Items,
    /// Getting a Kerberos ticket from the KDC (before the bind that needed it).
    Kdc,
    /// The attempt's time budget ran out (`policy::ATTEMPT_BUDGET`).
    Budget,
}

impl FailureStage {
    /// Every engine stage (the client's come from `winv_client::Stage`).
    pub const ENGINE: [FailureStage; 7] = [
        FailureStage::Kdc,
        FailureStage::Resolve,
        FailureStage::Credentials,
        FailureStage::Watchdog,
        FailureStage::Budget,
        FailureStage::Run,
        FailureStage::Items,
    ];

    /// Stable identifier.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureStage::Client(s) => s.as_str(),
            FailureStage::Resolve => "resolve",
            FailureStage::Credentials => "credentials",
            FailureStage::Watchdog => "watchdog",
            FailureStage::Run => "run",
            FailureStage::Items => "items",
            FailureStage::Kdc => "kdc",
            FailureStage::Budget => "budget",
        }
    }

    /// The stage of an identifier.
    pub fn parse(s: &str) -> Option<FailureStage> {
        FailureStage::ENGINE
            .into_iter()
            .find(|f| f.as_str() == s)
            .or_else(|| {
                winv_client::Stage::ALL
                    .into_iter()
                    .find(|st| st.as_str() == s)
                    .map(FailureStage::Client)
            })
    }
}

impl From<winv_client::Stage> for FailureStage {
    fn from(s: winv_client::Stage) -> Self {
        FailureStage::Client(s)
    }
}

impl std::fmt::Display for FailureStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for FailureStage {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for FailureStage {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl Serialize for FailureStage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FailureStage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        FailureStage::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown stage {s:?}")))
    }
}

/// One classified failure: where the flow broke and why (`docs/statuses.md`,
/// "one record per failure").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The status this failure gives the computer (or the class, for a per-class error).
    pub status: Status,
    /// The client's stage (`connect-135`, `activation`, `login`, `query`...), or
    /// `resolve` / `credentials` / `watchdog` / `run` / `items` for the engine's own.
    pub stage: FailureStage,
    /// Connecting or operation ("Let's troubleshoot WMI", part 1).
    pub phase: winv_kb::Phase,
    /// Connectivity, access or core WMI (the WMI connectivity scenario guide).
    pub category: winv_kb::Category,
    /// The raw code: errno, RPC status, HRESULT, `ReturnValue`; `None` when there is none
    /// (a deadline of our own, NXDOMAIN).
    pub code: Option<u32>,
    /// The code's symbolic name from the knowledge base (`E_ACCESSDENIED`, `WSAETIMEDOUT`).
    pub code_name: Option<String>,
    /// Whether it is a retry-class error (MAP, `docs/statuses.md`).
    pub retry: bool,
    /// For `access-denied`: who refused.
    pub denied_by: Option<DeniedBy>,
    /// The error as the client reported it (never contains a secret).
    pub message: String,
}

/// How one class fared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClassOutcome {
    /// The query succeeded (possibly with zero rows).
    Collected,
    /// The query failed; the class keeps its error.
    Failed,
    /// The watchdog ended the query after a query on the computer had already succeeded.
    TimedOut,
    /// An optional scenario item whose namespace, class or registry key the host does not
    /// have (`scenario::is_not_present`): zero rows, no error, never retried; it counts as
    /// collected for the computer's status.
    NotPresent,
}

impl ClassOutcome {
    /// Stable identifier.
    pub fn as_str(self) -> &'static str {
        match self {
            ClassOutcome::Collected => "collected",
            ClassOutcome::Failed => "failed",
            ClassOutcome::TimedOut => "timed-out",
            ClassOutcome::NotPresent => "not-present",
        }
    }

    /// Every outcome, for parsing stored names.
    pub const ALL: [ClassOutcome; 4] = [
        ClassOutcome::Collected,
        ClassOutcome::Failed,
        ClassOutcome::TimedOut,
        ClassOutcome::NotPresent,
    ];

    /// Whether the item is done: collected, or not present on the host. Such an item is
    /// not asked for again and counts towards `inventoried`.
    pub fn is_done(self) -> bool {
        matches!(self, ClassOutcome::Collected | ClassOutcome::NotPresent)
    }
}

/// The final result of one class (or registry item) of the profile on one computer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassResult {
    /// The item's name: a WMI class (`Win32_BIOS`) or a registry item (`registry:software`).
    pub class: String,
    /// The namespace it was collected from.
    pub namespace: String,
    /// Collected, failed or timed out.
    pub outcome: ClassOutcome,
    /// Rows collected.
    pub rows: usize,
    /// The attempt (1-based) that gave this result.
    pub attempt: u32,
    /// The error, when not collected.
    pub error: Option<Failure>,
}

/// One attempt at a computer: a fresh connection, the classes in the order tried.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// 1-based.
    pub number: u32,
    /// Start, milliseconds since the Unix epoch.
    pub started_ms: i64,
    /// How long it took.
    pub duration_ms: u64,
    /// The account the attempt ended with (`LAB\admin`), when one got that far.
    pub credential: Option<String>,
    /// The item order of this attempt (a retry moves the failing item to the end).
    pub class_order: Vec<String>,
    /// How the attempt ended: a final status, or the retry-class status that requeued it.
    pub outcome: Status,
    /// The item being collected when a retry-class error abandoned the attempt.
    pub failing_class: Option<String>,
    /// The failure that ended the attempt, when it failed.
    pub failure: Option<Failure>,
}

/// An installed program, from the registry's Uninstall keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoftwareRow {
    /// `DisplayName`.
    pub name: String,
    /// `DisplayVersion`.
    pub version: Option<String>,
    /// `Publisher`.
    pub publisher: Option<String>,
    /// `InstallDate`, as written.
    pub install_date: Option<String>,
    /// Found in the 32-bit registry view.
    pub wow64: bool,
}

/// Everything collected from one computer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    /// Raw instances per WMI class, as JSON objects (`{"__CLASS": ..., prop: value}`).
    pub classes: Vec<ClassInstances>,
    /// Installed software (both registry views).
    pub software: Vec<SoftwareRow>,
    /// Registry values the profile asked for: (item name, value), e.g.
    /// (`os-edition`, `ServerStandard`).
    pub registry_values: Vec<(String, Option<String>)>,
}

/// The instances of one class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassInstances {
    /// The class.
    pub class: String,
    /// The namespace.
    pub namespace: String,
    /// One JSON object per instance.
    pub instances: Vec<Instance>,
}

/// One collected instance (or registry table row): its JSON object as text, as the store
/// writes it and `--json` prints it.
///
/// Held as text from the moment it is collected until the computer is stored: a
/// `serde_json::Value` object is several times its text in memory (a B-tree node per
/// object, a heap string per key and per string value), and a computer in flight holds
/// every instance it has collected. Readers that look inside parse it
/// ([`Instance::value`], [`Inventory::class`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Instance(Box<serde_json::value::RawValue>);

impl Instance {
    /// The instance of a JSON value (an object, as collected).
    pub fn new(v: &serde_json::Value) -> Instance {
        // INVARIANT: a `Value` always serializes (its map keys are strings), and its text
        // is valid JSON, which is all `RawValue` asks.
        Instance(serde_json::value::to_raw_value(v).expect("a json value serializes"))
    }

    /// The instance of JSON text read back (from the store); an error when it is not JSON.
    pub fn from_json(text: String) -> Result<Instance, serde_json::Error> {
        serde_json::value::RawValue::from_string(text).map(Instance)
    }

    /// The JSON text.
    pub fn json(&self) -> &str {
        self.0.get()
    }

    /// The instance parsed.
    pub fn value(&self) -> serde_json::Value {
        // INVARIANT: the text was validated as JSON when the `RawValue` was made.
        serde_json::from_str(self.0.get()).unwrap_or(serde_json::Value::Null)
    }

    /// Octets the instance holds in memory: its text and its box, with the allocator's
    /// rounding, about (what [`crate::engine`]'s result budget counts).
    pub fn octets(&self) -> usize {
        std::mem::size_of::<Instance>() + self.0.get().len().next_multiple_of(16)
    }
}

impl From<serde_json::Value> for Instance {
    fn from(v: serde_json::Value) -> Instance {
        Instance::new(&v)
    }
}

impl PartialEq for Instance {
    fn eq(&self, other: &Instance) -> bool {
        self.json() == other.json()
    }
}

impl Inventory {
    /// The instances of `class`, if collected, as collected.
    pub fn instances(&self, class: &str) -> Option<&[Instance]> {
        self.classes
            .iter()
            .find(|c| c.class.eq_ignore_ascii_case(class))
            .map(|c| c.instances.as_slice())
    }

    /// The instances of `class`, if collected, parsed (each one's JSON object).
    pub fn class(&self, class: &str) -> Option<Vec<serde_json::Value>> {
        self.instances(class)
            .map(|i| i.iter().map(Instance::value).collect())
    }

    /// The first instance of `class`, if any, parsed.
    pub fn first(&self, class: &str) -> Option<serde_json::Value> {
        self.instances(class)?.first().map(Instance::value)
    }
}

/// The final result of one computer in one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComputerResult {
    /// The target as given (a name or an address).
    pub target: String,
    /// The address connected to (or resolved), when there was one.
    pub address: Option<IpAddr>,
    /// The final status.
    pub status: Status,
    /// The failure behind a failed status (for `inventoried-incomplete`: none; see
    /// `classes`).
    pub failure: Option<Failure>,
    /// Every attempt, in order.
    pub attempts: Vec<AttemptRecord>,
    /// The account that worked (`LAB\admin`), remembered for the computer.
    pub credential: Option<String>,
    /// The security mechanism that worked with it (`ntlm`, `kerberos`; under negotiate
    /// the one chosen for this computer).
    #[serde(default)]
    pub mechanism: Option<String>,
    /// The final result of every item of the profile (empty when no connection was made).
    pub classes: Vec<ClassResult>,
    /// What was collected.
    pub inventory: Inventory,
    /// When the computer finished, milliseconds since the Unix epoch.
    pub finished_ms: i64,
}

impl ComputerResult {
    /// The first remediation step of the knowledge base for this computer's failure
    /// ([`crate::classify::explanation`]).
    pub fn first_remediation(&self) -> Option<String> {
        let f = self.failure.as_ref()?;
        crate::classify::explained(
            self.status,
            f.code_name.as_deref(),
            f.denied_by,
            &f.message,
            true,
        )?
        .remediation
        .into_iter()
        .next()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use serde_json::json;

    /// An instance keeps the text the store writes (what `serde_json` makes of the
    /// object), gives the object back, and is compared by that text.
    #[test]
    fn an_instance_is_its_json_text() {
        let v = json!({"__CLASS": "Win32_Service", "Name": "Spooler", "ProcessId": 4242,
            "Big": u64::MAX, "Quote": "a \"b\" \u{1}", "List": [1, null]});
        let i = Instance::new(&v);
        assert_eq!(i.json(), serde_json::to_string(&v).unwrap());
        assert_eq!(i.value(), v);
        assert_eq!(i, Instance::from(v.clone()));
        assert_ne!(i, Instance::new(&json!({"Name": "Spooler"})));
        assert!(i.octets() >= i.json().len());
        assert!(i.octets() < i.json().len() + 48);
    }

    /// Text read back is checked: what is not JSON is an error, not an instance.
    #[test]
    fn text_read_back_must_be_json() {
        let i = Instance::from_json(r#"{"Name":"x"}"#.to_string()).unwrap();
        assert_eq!(i.value()["Name"], "x");
        assert!(Instance::from_json("{\"Name\":".to_string()).is_err());
        assert!(Instance::from_json(String::new()).is_err());
    }

    /// In `--json` output and anything else serialized, an instance is its object (not a
    /// string holding it), and it reads back the same; `class` and `first` parse it.
    #[test]
    fn an_inventory_serializes_its_instances_as_objects() {
        let inv = Inventory {
            classes: vec![ClassInstances {
                class: "Win32_BIOS".into(),
                namespace: r"root\cimv2".into(),
                instances: vec![json!({"SerialNumber": "ABC", "Version": 7}).into()],
            }],
            ..Inventory::default()
        };
        let text = serde_json::to_string(&inv).unwrap();
        let tree: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(tree["classes"][0]["instances"][0]["SerialNumber"], "ABC");
        let back: Inventory = serde_json::from_str(&text).unwrap();
        assert_eq!(back, inv);
        assert_eq!(back.class("win32_bios").unwrap()[0]["Version"], 7);
        assert_eq!(back.first("Win32_BIOS").unwrap()["SerialNumber"], "ABC");
        assert!(back.first("Win32_Service").is_none());
        assert_eq!(back.instances("Win32_BIOS").map(<[_]>::len), Some(1));
    }
}
