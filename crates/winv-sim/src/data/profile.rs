//! OS profiles: what a Windows release reports about itself (caption, version, build,
//! product type, SKU, edition) and what is typical on it (hotfixes, services, software).
//!
//! Values follow what the releases report through `Win32_OperatingSystem` and
//! `HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion` (`OperatingSystemSKU` per the
//! `Win32_OperatingSystem` documentation: 7 Standard Server, 8 Datacenter Server, 48
//! Professional, 4 Enterprise; `ProductType` 1 workstation, 3 server).

/// One OS profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Stable identifier used in fleet files (`server-2022`, `windows-11`, ...).
    pub id: &'static str,
    /// `Win32_OperatingSystem.Caption`.
    pub caption: &'static str,
    /// `Win32_OperatingSystem.Version` (`10.0.20348`).
    pub version: &'static str,
    /// `BuildNumber` / `CurrentBuild`.
    pub build: &'static str,
    /// Update build revision (`UBR`).
    pub ubr: u32,
    /// `ProductType`: 1 workstation, 2 domain controller, 3 server.
    pub product_type: u32,
    /// `OperatingSystemSKU`.
    pub sku: u32,
    /// `EditionID` in the registry.
    pub edition_id: &'static str,
    /// `ProductName` in the registry (Windows 11 still says "Windows 10 Pro" there).
    pub product_name: &'static str,
    /// `DisplayVersion` (`21H2`, `24H2`); empty where the release has none.
    pub display_version: &'static str,
    /// `InstallationType` in the registry: `Server` or `Client`.
    pub installation_type: &'static str,
    /// Typical hotfix ids (KB numbers) and their install dates (`M/D/YYYY`).
    pub hotfixes: &'static [(&'static str, &'static str, &'static str)],
    /// Typical services: (Name, DisplayName, StartMode, State, PathName, StartName).
    pub extra_services: &'static [ServiceSpec],
}

/// A service: (Name, DisplayName, StartMode, State, PathName, StartName).
pub type ServiceSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

const SVCHOST_NET: &str = "C:\\Windows\\system32\\svchost.exe -k netsvcs -p";
const SVCHOST_LOCAL: &str = "C:\\Windows\\system32\\svchost.exe -k LocalService -p";
const SVCHOST_NETWORK: &str = "C:\\Windows\\System32\\svchost.exe -k NetworkService -p";
const LOCALSYSTEM: &str = "LocalSystem";
const LOCALSERVICE: &str = "NT AUTHORITY\\LocalService";
const NETWORKSERVICE: &str = "NT AUTHORITY\\NetworkService";

/// Services present on every profile.
pub const COMMON_SERVICES: &[ServiceSpec] = &[
    (
        "AppIDSvc",
        "Application Identity",
        "Manual",
        "Stopped",
        "C:\\Windows\\system32\\svchost.exe -k LocalServiceNetworkRestricted -p",
        LOCALSERVICE,
    ),
    (
        "Appinfo",
        "Application Information",
        "Manual",
        "Running",
        SVCHOST_NET,
        LOCALSYSTEM,
    ),
    (
        "BFE",
        "Base Filtering Engine",
        "Auto",
        "Running",
        "C:\\Windows\\system32\\svchost.exe -k LocalServiceNoNetworkFirewall -p",
        LOCALSERVICE,
    ),
    (
        "BITS",
        "Background Intelligent Transfer Service",
        "Manual",
        "Stopped",
        SVCHOST_NET,
        LOCALSYSTEM,
    ),
    (
        "CryptSvc",
        "Cryptographic Services",
        "Auto",
        "Running",
        SVCHOST_NETWORK,
        NETWORKSERVICE,
    ),
    (
        "DcomLaunch",
        "DCOM Server Process Launcher",
        "Auto",
        "Running",
        "C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p",
        LOCALSYSTEM,
    ),
    (
        "Dhcp",
        "DHCP Client",
        "Auto",
        "Running",
        "C:\\Windows\\system32\\svchost.exe -k LocalServiceNetworkRestricted -p",
        LOCALSERVICE,
    ),
    (
        "Dnscache",
        "DNS Client",
        "Auto",
        "Running",
        SVCHOST_NETWORK,
        NETWORKSERVICE,
    ),
    (
        "EventLog",
        "Windows Event Log",
        "Auto",
        "Running",
        "C:\\Windows\\System32\\svchost.exe -k LocalServiceNetworkRestricted -p",
        LOCALSERVICE,
    ),
    (
        "gpsvc",
        "Group Policy Client",
        "Auto",
        "Running",
        SVCHOST_NET,
        LOCALSYSTEM,
    ),
    (
        "LanmanServer",
        "Server",
        "Auto",
        "Running",
        SVCHOST_NET,
        LOCALSYSTEM,
    ),
    (
        "LanmanWorkstation",
        "Workstation",
        "Auto",
        "Running",
        SVCHOST_NETWORK,
        NETWORKSERVICE,
    ),
    (
        "mpssvc",
        "Windows Defender Firewall",
        "Auto",
        "Running",
        "C:\\Windows\\system32\\svchost.exe -k LocalServiceNoNetworkFirewall -p",
        LOCALSERVICE,
    ),
    (
        "msiserver",
        "Windows Installer",
        "Manual",
        "Stopped",
        "C:\\Windows\\system32\\msiexec.exe /V",
        LOCALSYSTEM,
    ),
    (
        "Netlogon",
        "Netlogon",
        "Manual",
        "Running",
        "C:\\Windows\\system32\\lsass.exe",
        LOCALSYSTEM,
    ),
    (
        "nsi",
        "Network Store Interface Service",
        "Auto",
        "Running",
        SVCHOST_LOCAL,
        LOCALSERVICE,
    ),
    (
        "PlugPlay",
        "Plug and Play",
        "Manual",
        "Running",
        "C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p",
        LOCALSYSTEM,
    ),
    (
        "RemoteRegistry",
        "Remote Registry",
        "Auto",
        "Running",
        "C:\\Windows\\system32\\svchost.exe -k localService -p",
        LOCALSERVICE,
    ),
    (
        "RpcEptMapper",
        "RPC Endpoint Mapper",
        "Auto",
        "Running",
        "C:\\Windows\\system32\\svchost.exe -k RPCSS -p",
        NETWORKSERVICE,
    ),
    (
        "RpcSs",
        "Remote Procedure Call (RPC)",
        "Auto",
        "Running",
        "C:\\Windows\\system32\\svchost.exe -k rpcss -p",
        NETWORKSERVICE,
    ),
    (
        "SamSs",
        "Security Accounts Manager",
        "Auto",
        "Running",
        "C:\\Windows\\system32\\lsass.exe",
        LOCALSYSTEM,
    ),
    (
        "Schedule",
        "Task Scheduler",
        "Auto",
        "Running",
        SVCHOST_NET,
        LOCALSYSTEM,
    ),
    (
        "Spooler",
        "Print Spooler",
        "Auto",
        "Running",
        "C:\\Windows\\System32\\spoolsv.exe",
        LOCALSYSTEM,
    ),
    (
        "TermService",
        "Remote Desktop Services",
        "Manual",
        "Running",
        "C:\\Windows\\System32\\svchost.exe -k NetworkService",
        NETWORKSERVICE,
    ),
    (
        "TrustedInstaller",
        "Windows Modules Installer",
        "Manual",
        "Stopped",
        "C:\\Windows\\servicing\\TrustedInstaller.exe",
        LOCALSYSTEM,
    ),
    (
        "W32Time",
        "Windows Time",
        "Manual",
        "Running",
        "C:\\Windows\\system32\\svchost.exe -k LocalService",
        LOCALSERVICE,
    ),
    (
        "WinDefend",
        "Microsoft Defender Antivirus Service",
        "Auto",
        "Running",
        "\"C:\\ProgramData\\Microsoft\\Windows Defender\\platform\\4.18.24090.11-0\\MsMpEng.exe\"",
        LOCALSYSTEM,
    ),
    (
        "Winmgmt",
        "Windows Management Instrumentation",
        "Auto",
        "Running",
        SVCHOST_NET,
        LOCALSYSTEM,
    ),
    (
        "WinRM",
        "Windows Remote Management (WS-Management)",
        "Auto",
        "Running",
        SVCHOST_NETWORK,
        NETWORKSERVICE,
    ),
    (
        "wuauserv",
        "Windows Update",
        "Manual",
        "Stopped",
        SVCHOST_NET,
        LOCALSYSTEM,
    ),
];

const SERVER_SERVICES: &[ServiceSpec] = &[
    (
        "ADWS",
        "Active Directory Web Services",
        "Disabled",
        "Stopped",
        "C:\\Windows\\ADWS\\Microsoft.ActiveDirectory.WebServices.exe",
        LOCALSYSTEM,
    ),
    (
        "ServerManager",
        "Server Manager",
        "Manual",
        "Stopped",
        "C:\\Windows\\system32\\ServerManager.exe",
        LOCALSYSTEM,
    ),
    (
        "W3SVC",
        "World Wide Web Publishing Service",
        "Auto",
        "Running",
        "C:\\Windows\\system32\\svchost.exe -k iissvcs",
        LOCALSYSTEM,
    ),
];

const CLIENT_SERVICES: &[ServiceSpec] = &[
    (
        "Audiosrv",
        "Windows Audio",
        "Auto",
        "Running",
        "C:\\Windows\\System32\\svchost.exe -k LocalServiceNetworkRestricted -p",
        LOCALSERVICE,
    ),
    (
        "OneSyncSvc",
        "Sync Host",
        "Auto",
        "Running",
        "C:\\Windows\\system32\\svchost.exe -k UnistackSvcGroup",
        LOCALSYSTEM,
    ),
    (
        "WSearch",
        "Windows Search",
        "Auto",
        "Running",
        "C:\\Windows\\system32\\SearchIndexer.exe /Embedding",
        LOCALSYSTEM,
    ),
    (
        "XblGameSave",
        "Xbox Live Game Save",
        "Manual",
        "Stopped",
        SVCHOST_NET,
        LOCALSYSTEM,
    ),
];

/// Every profile.
pub const PROFILES: &[Profile] = &[
    Profile {
        id: "server-2012r2",
        caption: "Microsoft Windows Server 2012 R2 Standard",
        version: "6.3.9600",
        build: "9600",
        ubr: 21620,
        product_type: 3,
        sku: 7,
        edition_id: "ServerStandard",
        product_name: "Windows Server 2012 R2 Standard",
        display_version: "",
        installation_type: "Server",
        hotfixes: &[
            ("KB2919355", "Update", "3/18/2014"),
            ("KB3000850", "Update", "11/18/2014"),
            ("KB5022352", "Security Update", "1/10/2023"),
            ("KB5029915", "Security Update", "9/12/2023"),
        ],
        extra_services: SERVER_SERVICES,
    },
    Profile {
        id: "server-2016",
        caption: "Microsoft Windows Server 2016 Standard",
        version: "10.0.14393",
        build: "14393",
        ubr: 7428,
        product_type: 3,
        sku: 7,
        edition_id: "ServerStandard",
        product_name: "Windows Server 2016 Standard",
        display_version: "",
        installation_type: "Server",
        hotfixes: &[
            ("KB3192137", "Update", "9/12/2016"),
            ("KB5041773", "Update", "8/13/2024"),
            ("KB5044293", "Security Update", "10/8/2024"),
        ],
        extra_services: SERVER_SERVICES,
    },
    Profile {
        id: "server-2019",
        caption: "Microsoft Windows Server 2019 Standard",
        version: "10.0.17763",
        build: "17763",
        ubr: 6414,
        product_type: 3,
        sku: 7,
        edition_id: "ServerStandard",
        product_name: "Windows Server 2019 Standard",
        display_version: "1809",
        installation_type: "Server",
        hotfixes: &[
            ("KB5044089", "Update", "10/8/2024"),
            ("KB5043126", "Update", "9/10/2024"),
            ("KB5044277", "Security Update", "10/8/2024"),
        ],
        extra_services: SERVER_SERVICES,
    },
    Profile {
        id: "server-2022",
        caption: "Microsoft Windows Server 2022 Datacenter",
        version: "10.0.20348",
        build: "20348",
        ubr: 2762,
        product_type: 3,
        sku: 8,
        edition_id: "ServerDatacenter",
        product_name: "Windows Server 2022 Datacenter",
        display_version: "21H2",
        installation_type: "Server",
        hotfixes: &[
            ("KB5044024", "Update", "10/8/2024"),
            ("KB5012170", "Security Update", "8/9/2022"),
            ("KB5044281", "Security Update", "10/8/2024"),
            ("KB5043936", "Update", "9/10/2024"),
        ],
        extra_services: SERVER_SERVICES,
    },
    Profile {
        id: "server-2025",
        caption: "Microsoft Windows Server 2025 Datacenter",
        version: "10.0.26100",
        build: "26100",
        ubr: 2033,
        product_type: 3,
        sku: 8,
        edition_id: "ServerDatacenter",
        product_name: "Windows Server 2025 Datacenter",
        display_version: "24H2",
        installation_type: "Server",
        hotfixes: &[
            ("KB5044033", "Update", "11/5/2024"),
            ("KB5046617", "Security Update", "11/12/2024"),
        ],
        extra_services: SERVER_SERVICES,
    },
    Profile {
        id: "windows-10",
        caption: "Microsoft Windows 10 Pro",
        version: "10.0.19045",
        build: "19045",
        ubr: 5011,
        product_type: 1,
        sku: 48,
        edition_id: "Professional",
        product_name: "Windows 10 Pro",
        display_version: "22H2",
        installation_type: "Client",
        hotfixes: &[
            ("KB5045594", "Update", "10/22/2024"),
            ("KB5011048", "Update", "3/4/2022"),
            ("KB5015684", "Update", "8/20/2022"),
            ("KB5046613", "Security Update", "11/12/2024"),
            ("KB5014032", "Security Update", "5/11/2022"),
        ],
        extra_services: CLIENT_SERVICES,
    },
    Profile {
        id: "windows-11",
        caption: "Microsoft Windows 11 Enterprise",
        version: "10.0.22631",
        build: "22631",
        ubr: 4460,
        product_type: 1,
        sku: 4,
        edition_id: "Enterprise",
        product_name: "Windows 10 Enterprise",
        display_version: "23H2",
        installation_type: "Client",
        hotfixes: &[
            ("KB5044033", "Update", "10/22/2024"),
            ("KB5027397", "Update", "7/11/2023"),
            ("KB5046633", "Security Update", "11/12/2024"),
        ],
        extra_services: CLIENT_SERVICES,
    },
];

/// The default profile (`server-2022`).
pub const DEFAULT_PROFILE: &str = "server-2022";

/// The profile with identifier `id` (case-insensitive).
pub fn profile(id: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.id.eq_ignore_ascii_case(id))
}

/// The identifiers of every profile.
pub fn profile_ids() -> impl Iterator<Item = &'static str> {
    PROFILES.iter().map(|p| p.id)
}

impl Profile {
    /// Whether the profile is a server release.
    pub fn is_server(&self) -> bool {
        self.product_type != 1
    }
}
