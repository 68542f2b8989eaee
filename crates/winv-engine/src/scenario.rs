//! The assessment scenarios' rules, pure: when a scenario item is "not present" rather
//! than a failure, the Windows Server core licence count, whether a machine is virtual
//! and on what, the activation channel of a licence, and the names of SQL Server
//! versions, service states and Hyper-V guest states.

use serde::Serialize;

/// `WBEM_E_NOT_FOUND` ([MS-WMI] 2.2.11).
const WBEM_E_NOT_FOUND: u32 = 0x8004_1002;
/// `WBEM_E_INVALID_NAMESPACE` ([MS-WMI] 2.2.11).
const WBEM_E_INVALID_NAMESPACE: u32 = 0x8004_100E;
/// `WBEM_E_INVALID_CLASS` ([MS-WMI] 2.2.11).
const WBEM_E_INVALID_CLASS: u32 = 0x8004_1010;
/// `StdRegProv`'s `ReturnValue` for a key or value that does not exist
/// (`ERROR_FILE_NOT_FOUND`, [MS-ERREF] 2.2).
const ERROR_FILE_NOT_FOUND: u32 = 2;

/// Where a scenario item's error came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotPresentRule {
    /// Logging in to (opening) the item's namespace: `NTLMLogin` / `OpenNamespace`.
    Namespace,
    /// The query of the item's class (`ExecQuery`, `Next`).
    Query,
    /// A `StdRegProv` call's `ReturnValue` (reading a registry table's list key).
    Registry,
}

/// Whether the error `code` at `rule`'s step means the host does not have what an
/// optional item asks for, which is recorded as "not present", never as a failure of
/// the computer:
///
/// - a namespace the host does not have: WBEM_E_INVALID_NAMESPACE (what Windows returns
///   for `root\Microsoft\SqlServer` on a host without SQL Server, or
///   `root\virtualization\v2` without Hyper-V) or WBEM_E_NOT_FOUND at login;
/// - a class the namespace does not have: WBEM_E_INVALID_CLASS (`Win32_ServerFeature` on
///   a client), also WBEM_E_NOT_FOUND for the class;
/// - a registry key that does not exist: `ReturnValue` 2.
///
/// Everything else keeps its meaning: access denied (WBEM_E_ACCESS_DENIED,
/// E_ACCESSDENIED), a provider failure or load failure, a timeout, a broken connection.
/// A required (not optional) item is never "not present".
pub fn is_not_present(optional: bool, rule: NotPresentRule, code: Option<u32>) -> bool {
    if !optional {
        return false;
    }
    match (rule, code) {
        (NotPresentRule::Namespace, Some(WBEM_E_INVALID_NAMESPACE | WBEM_E_NOT_FOUND)) => true,
        (NotPresentRule::Query, Some(WBEM_E_INVALID_CLASS | WBEM_E_NOT_FOUND)) => true,
        // A query in a namespace that disappeared between login and query.
        (NotPresentRule::Query, Some(WBEM_E_INVALID_NAMESPACE)) => true,
        (NotPresentRule::Registry, Some(ERROR_FILE_NOT_FOUND)) => true,
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------
// Windows Server core licensing.

/// The Windows Server core licensing rule, as data with its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CoreLicensingRule {
    /// Every physical core is licensed, and each processor at least this many cores.
    pub min_cores_per_processor: u32,
    /// Each server at least this many cores.
    pub min_cores_per_server: u32,
    /// Core licences are sold in packs of this many.
    pub pack_size: u32,
    /// Where the rule is published.
    pub source: &'static str,
}

/// Windows Server 2016 and later, Standard and Datacenter editions.
pub const WINDOWS_SERVER_CORE_RULE: CoreLicensingRule = CoreLicensingRule {
    min_cores_per_processor: 8,
    min_cores_per_server: 16,
    pack_size: 2,
    source: "Microsoft, Windows Server 2022 licensing datasheet and Product Terms \
             (Windows Server, core-based licensing): all physical cores must be licensed, \
             with a minimum of 8 core licenses per physical processor and 16 core licenses \
             per server, sold in 2-core packs",
};

/// The licences one server needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CoreLicences {
    /// Physical cores counted.
    pub physical_cores: u32,
    /// Core licences needed.
    pub core_licences: u32,
    /// Packs of [`CoreLicensingRule::pack_size`].
    pub packs: u32,
}

/// The core licences a server with processors of `cores_per_processor` physical cores
/// each needs under `rule`: each processor counts at least the per-processor minimum,
/// the server at least the per-server minimum, rounded up to whole packs. A server with
/// no processor reported counts one processor of the minimum (every server needs at
/// least the per-server minimum).
pub fn core_licences(rule: &CoreLicensingRule, cores_per_processor: &[u32]) -> CoreLicences {
    let physical: u32 = cores_per_processor
        .iter()
        .fold(0u32, |a, c| a.saturating_add(*c));
    let per_processor: u32 = cores_per_processor.iter().fold(0u32, |a, c| {
        a.saturating_add((*c).max(rule.min_cores_per_processor))
    });
    let mut needed = per_processor.max(rule.min_cores_per_server);
    let pack = rule.pack_size.max(1);
    if !needed.is_multiple_of(pack) {
        needed = needed.saturating_add(pack - needed % pack);
    }
    CoreLicences {
        physical_cores: physical,
        core_licences: needed,
        packs: needed / pack,
    }
}

// ---------------------------------------------------------------------------------------
// Virtualization.

/// What a machine runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Platform {
    Physical,
    HyperV,
    VMware,
    VirtualBox,
    Kvm,
    Xen,
    /// A virtual machine of a hypervisor not named here.
    OtherVirtual,
}

impl Platform {
    /// Whether the machine is virtual.
    pub fn is_virtual(self) -> bool {
        self != Platform::Physical
    }

    /// Stable identifier.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Physical => "physical",
            Platform::HyperV => "hyper-v",
            Platform::VMware => "vmware",
            Platform::VirtualBox => "virtualbox",
            Platform::Kvm => "kvm",
            Platform::Xen => "xen",
            Platform::OtherVirtual => "other-virtual",
        }
    }
}

/// The facts that tell a virtual machine from a physical one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MachineFacts {
    /// `Win32_ComputerSystem.Manufacturer`.
    pub manufacturer: String,
    /// `Win32_ComputerSystem.Model`.
    pub model: String,
    /// `Win32_BIOS.SerialNumber`.
    pub bios_serial: String,
    /// `Win32_BIOS.Manufacturer` / `SMBIOSBIOSVersion` / `Version`, concatenated.
    pub bios_version: String,
}

/// Manufacturer or model words of virtual machines of hypervisors without a
/// [`Platform`] of their own: Amazon EC2, Google Compute Engine, Parallels, OpenStack.
const CLOUD_AND_OTHER_HYPERVISORS: [&str; 4] =
    ["amazon ec2", "google compute engine", "parallels", "openstack"];

/// Whether the machine is virtual and on what, from the computer system's manufacturer
/// and model and the BIOS (what MAP's virtual-machine discovery reads): Hyper-V guests
/// report "Microsoft Corporation" / "Virtual Machine", VMware "VMware, Inc." /
/// "VMware7,1" with a BIOS serial `VMware-...`, VirtualBox "innotek GmbH" /
/// "VirtualBox", KVM/QEMU "QEMU" or a "KVM" model, Xen "Xen" / "HVM domU". Note that
/// `HypervisorPresent` is not a guest's mark: a Hyper-V *host* runs under the
/// hypervisor too.
pub fn platform(f: &MachineFacts) -> Platform {
    let m = f.manufacturer.to_ascii_lowercase();
    let model = f.model.to_ascii_lowercase();
    let serial = f.bios_serial.to_ascii_lowercase();
    let bios = f.bios_version.to_ascii_lowercase();
    if m.contains("microsoft") && model.contains("virtual machine") {
        Platform::HyperV
    } else if m.contains("vmware") || model.starts_with("vmware") || serial.starts_with("vmware-") {
        Platform::VMware
    } else if m.contains("innotek") || model.contains("virtualbox") {
        Platform::VirtualBox
    } else if m.contains("qemu")
        || model.contains("kvm")
        || (bios.contains("seabios") && m.contains("red hat"))
    {
        Platform::Kvm
    } else if m.contains("xen") || model.contains("hvm domu") {
        Platform::Xen
    } else if model.contains("virtual")
        || bios.contains("virtual")
        || bios.contains("hyper-v")
        || CLOUD_AND_OTHER_HYPERVISORS
            .iter()
            .any(|h| m.contains(h) || model.contains(h))
    {
        Platform::OtherVirtual
    } else {
        Platform::Physical
    }
}

// ---------------------------------------------------------------------------------------
// Licensing.

/// The activation channel of a licence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    Retail,
    Oem,
    VolumeMak,
    VolumeKms,
    /// Volume, activated by Active Directory-based activation.
    VolumeAdba,
    Unknown,
}

impl Channel {
    /// Stable identifier.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Retail => "retail",
            Channel::Oem => "oem",
            Channel::VolumeMak => "volume-mak",
            Channel::VolumeKms => "volume-kms",
            Channel::VolumeAdba => "volume-adba",
            Channel::Unknown => "unknown",
        }
    }
}

/// The channel from `SoftwareLicensingProduct.ProductKeyChannel` (`Retail`, `OEM:DM`,
/// `OEM:NONSLP`, `Volume:MAK`, `Volume:GVLK`) or, when that is empty, the `Description`'s
/// "..., VOLUME_KMSCLIENT channel" word.
pub fn channel(product_key_channel: &str, description: &str) -> Channel {
    let c = product_key_channel.trim().to_ascii_lowercase();
    if !c.is_empty() {
        return if c == "retail" || c.starts_with("retail:") {
            Channel::Retail
        } else if c.starts_with("oem") {
            Channel::Oem
        } else if c == "volume:mak" {
            Channel::VolumeMak
        } else if c == "volume:gvlk" {
            Channel::VolumeKms
        } else if c.contains("csvlk") || c.contains("adba") {
            Channel::VolumeAdba
        } else {
            Channel::Unknown
        };
    }
    let d = description.to_ascii_uppercase();
    if d.contains("VOLUME_KMSCLIENT") {
        Channel::VolumeKms
    } else if d.contains("VOLUME_MAK") {
        Channel::VolumeMak
    } else if d.contains("OEM") {
        Channel::Oem
    } else if d.contains("RETAIL") {
        Channel::Retail
    } else {
        Channel::Unknown
    }
}

/// `SoftwareLicensingProduct.LicenseStatus` by name (the class documentation's values).
pub fn license_status_name(status: u32) -> &'static str {
    match status {
        0 => "unlicensed",
        1 => "licensed",
        2 => "oob-grace",
        3 => "oot-grace",
        4 => "non-genuine-grace",
        5 => "notification",
        6 => "extended-grace",
        _ => "unknown",
    }
}

// ---------------------------------------------------------------------------------------
// SQL Server.

/// The product name of a SQL Server version (`15.0.2000.5` is SQL Server 2019), from its
/// major and minor numbers as Microsoft publishes them (KB 321185, "Determine the version,
/// edition, and update level of SQL Server"); `None` for a version it does not list.
pub fn sql_product_name(version: &str) -> Option<&'static str> {
    let mut parts = version.trim().split('.');
    let major: u32 = parts.next()?.trim().parse().ok()?;
    let minor: u32 = parts.next().and_then(|m| m.trim().parse().ok()).unwrap_or(0);
    Some(match (major, minor) {
        (8, _) => "SQL Server 2000",
        (9, _) => "SQL Server 2005",
        (10, 50..) => "SQL Server 2008 R2",
        (10, _) => "SQL Server 2008",
        (11, _) => "SQL Server 2012",
        (12, _) => "SQL Server 2014",
        (13, _) => "SQL Server 2016",
        (14, _) => "SQL Server 2017",
        (15, _) => "SQL Server 2019",
        (16, _) => "SQL Server 2022",
        (17, _) => "SQL Server 2025",
        _ => return None,
    })
}

/// `SqlService.State` by name (the class documentation's values, as `Win32_Service`
/// words them).
pub fn sql_service_state_name(state: i64) -> Option<&'static str> {
    Some(match state {
        1 => "Stopped",
        2 => "Start Pending",
        3 => "Stop Pending",
        4 => "Running",
        5 => "Continue Pending",
        6 => "Pause Pending",
        7 => "Paused",
        _ => return None,
    })
}

/// `SqlService.StartMode` by name (as `Win32_Service` words them).
pub fn sql_start_mode_name(mode: i64) -> Option<&'static str> {
    Some(match mode {
        0 => "Boot",
        1 => "System",
        2 => "Auto",
        3 => "Manual",
        4 => "Disabled",
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------
// Hyper-V.

/// `Msvm_ComputerSystem.EnabledState` by name (CIM_EnabledLogicalElement's values and
/// the Hyper-V WMI provider's own: 32768 paused, 32769 saved, 32770 starting...).
pub fn vm_state_name(state: i64) -> Option<&'static str> {
    Some(match state {
        0 => "Unknown",
        1 => "Other",
        2 => "Running",
        3 => "Off",
        4 => "Shutting Down",
        5 => "Not Applicable",
        6 => "Saved",
        7 => "In Test",
        8 => "Deferred",
        9 => "Paused",
        10 => "Starting",
        11 => "Reset",
        32768 => "Paused",
        32769 => "Saved",
        32770 => "Starting",
        32771 => "Snapshotting",
        32773 => "Saving",
        32774 => "Stopping",
        32776 => "Pausing",
        32777 => "Resuming",
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------
// Licensing, continued.

/// The product family of a `SoftwareLicensingProduct.ApplicationID`: Windows and Office
/// have fixed application IDs (the Software Protection Platform's); anything else is
/// `None`.
pub fn licence_application(application_id: &str) -> Option<&'static str> {
    let id = application_id.trim().trim_matches(|c| c == '{' || c == '}');
    if id.eq_ignore_ascii_case("55c92734-d682-4d71-983e-d6ec3f16059f") {
        Some("Windows")
    } else if id.eq_ignore_ascii_case("0ff1ce15-a989-479d-af46-f275c6370663")
        || id.eq_ignore_ascii_case("59a52881-a989-479d-af46-f275c6370663")
    {
        Some("Office")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_present_only_for_absence_and_only_when_optional() {
        use NotPresentRule::*;
        let cases: &[(bool, NotPresentRule, Option<u32>, bool)] = &[
            (true, Namespace, Some(0x8004_100E), true),
            (true, Namespace, Some(0x8004_1002), true),
            (true, Query, Some(0x8004_1010), true),
            (true, Registry, Some(2), true),
            // Access denied and provider failures stay failures.
            (true, Namespace, Some(0x8004_1003), false),
            (true, Namespace, Some(0x8007_0005), false),
            (true, Query, Some(0x8004_1004), false),
            (true, Query, Some(0x8004_1013), false),
            (true, Query, Some(0x8004_1003), false),
            (true, Registry, Some(5), false),
            (true, Query, None, false),
            // A class error at login, or a namespace error in the registry: no.
            (true, Namespace, Some(0x8004_1010), false),
            (true, Registry, Some(0x8004_100E), false),
            // Required items are never "not present".
            (false, Namespace, Some(0x8004_100E), false),
            (false, Query, Some(0x8004_1010), false),
        ];
        for (optional, rule, code, want) in cases {
            assert_eq!(
                is_not_present(*optional, *rule, *code),
                *want,
                "{optional} {rule:?} {code:x?}"
            );
        }
    }

    #[test]
    fn core_licence_table() {
        let r = &WINDOWS_SERVER_CORE_RULE;
        // (cores per processor, licences, packs)
        let table: &[(&[u32], u32, u32)] = &[
            (&[4], 16, 8), // small single socket: the server minimum
            (&[8], 16, 8),
            (&[4, 4], 16, 8), // two 4-core processors: 8 each = 16
            (&[6, 6], 16, 8),
            (&[12], 16, 8),
            (&[16], 16, 8),
            (&[24], 24, 12),
            (&[12, 12], 24, 12),
            (&[24, 24], 48, 24),
            (&[32, 32], 64, 32),
            (&[10, 4], 18, 9), // 10 + max(4, 8)
            (&[9], 16, 8),
            (&[9, 9], 18, 9),
            (&[17], 18, 9),          // odd core count: rounded up to a whole pack
            (&[4, 4, 4, 4], 32, 16), // four sockets of 4: 8 each
            (&[], 16, 8),
        ];
        for (cores, licences, packs) in table {
            let got = core_licences(r, cores);
            assert_eq!(
                (got.core_licences, got.packs),
                (*licences, *packs),
                "{cores:?}"
            );
            assert_eq!(got.physical_cores, cores.iter().sum::<u32>());
        }
        assert!(r.source.contains("16 core licenses per server"));
    }

    #[test]
    fn platforms() {
        let f = |m: &str, model: &str, serial: &str| MachineFacts {
            manufacturer: m.into(),
            model: model.into(),
            bios_serial: serial.into(),
            bios_version: String::new(),
        };
        assert_eq!(
            platform(&f("Microsoft Corporation", "Virtual Machine", "0000-0017")),
            Platform::HyperV
        );
        assert_eq!(
            platform(&f("VMware, Inc.", "VMware7,1", "VMware-56 4d")),
            Platform::VMware
        );
        assert_eq!(
            platform(&f("innotek GmbH", "VirtualBox", "0")),
            Platform::VirtualBox
        );
        assert_eq!(
            platform(&f("QEMU", "Standard PC (Q35 + ICH9, 2009)", "")),
            Platform::Kvm
        );
        assert_eq!(platform(&f("Xen", "HVM domU", "")), Platform::Xen);
        assert_eq!(
            platform(&f("Dell Inc.", "PowerEdge R740", "7XK2L93")),
            Platform::Physical
        );
        // A Surface is Microsoft hardware, not a VM.
        assert_eq!(
            platform(&f("Microsoft Corporation", "Surface Pro 9", "0F3")),
            Platform::Physical
        );
        assert_eq!(
            platform(&f("Amazon EC2", "m5.large", "ec2a1b2c")),
            Platform::OtherVirtual
        );
        assert_eq!(
            platform(&f("Google", "Google Compute Engine", "GoogleCloud-1")),
            Platform::OtherVirtual
        );
        assert_eq!(
            platform(&f("OpenStack Foundation", "OpenStack Nova", "")),
            Platform::OtherVirtual
        );
        assert_eq!(
            platform(&f("Parallels Software International Inc.", "Parallels Virtual Platform", "")),
            Platform::OtherVirtual
        );
        assert!(!Platform::Physical.is_virtual());
        assert!(Platform::OtherVirtual.is_virtual());
    }

    #[test]
    fn channels() {
        assert_eq!(channel("Volume:GVLK", ""), Channel::VolumeKms);
        assert_eq!(channel("Volume:MAK", ""), Channel::VolumeMak);
        assert_eq!(channel("OEM:DM", ""), Channel::Oem);
        assert_eq!(channel("OEM:NONSLP", ""), Channel::Oem);
        assert_eq!(channel("Retail", ""), Channel::Retail);
        assert_eq!(
            channel("", "Windows(R) Operating System, VOLUME_KMSCLIENT channel"),
            Channel::VolumeKms
        );
        assert_eq!(
            channel("", "Windows(R) Operating System, OEM_DM channel"),
            Channel::Oem
        );
        assert_eq!(channel("", "something"), Channel::Unknown);
        assert_eq!(license_status_name(1), "licensed");
        assert_eq!(license_status_name(99), "unknown");
    }

    #[test]
    fn sql_versions_services_and_vm_states_are_named() {
        let table = [
            ("8.00.2039", Some("SQL Server 2000")),
            ("9.00.5000.00", Some("SQL Server 2005")),
            ("10.0.6000.29", Some("SQL Server 2008")),
            ("10.50.6000.34", Some("SQL Server 2008 R2")),
            ("11.0.7001.0", Some("SQL Server 2012")),
            ("12.0.6024.0", Some("SQL Server 2014")),
            ("13.0.5026.0", Some("SQL Server 2016")),
            ("14.0.1000.169", Some("SQL Server 2017")),
            ("15.0.2000.5", Some("SQL Server 2019")),
            ("16.0.1000.6", Some("SQL Server 2022")),
            ("17.0.1000.7", Some("SQL Server 2025")),
            ("7.00.623", None),
            ("", None),
            ("fifteen", None),
        ];
        for (v, want) in table {
            assert_eq!(sql_product_name(v), want, "{v}");
        }
        assert_eq!(sql_service_state_name(4), Some("Running"));
        assert_eq!(sql_service_state_name(1), Some("Stopped"));
        assert_eq!(sql_service_state_name(0), None);
        assert_eq!(sql_start_mode_name(2), Some("Auto"));
        assert_eq!(sql_start_mode_name(9), None);
        assert_eq!(vm_state_name(2), Some("Running"));
        assert_eq!(vm_state_name(3), Some("Off"));
        assert_eq!(vm_state_name(32769), Some("Saved"));
        assert_eq!(vm_state_name(12345), None);
        assert_eq!(
            licence_application("{55C92734-D682-4D71-983E-D6EC3F16059F}"),
            Some("Windows")
        );
        assert_eq!(
            licence_application("0ff1ce15-a989-479d-af46-f275c6370663"),
            Some("Office")
        );
        assert_eq!(licence_application("x"), None);
    }
}
