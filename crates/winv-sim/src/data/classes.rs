//! Class definitions of the Win32 classes an inventory reads (root\cimv2) and of
//! `StdRegProv` (root\default), as [MS-WMIO] 2.2.14 class parts with the property names,
//! CIM types, keys and inheritance of Microsoft's class documentation ("Win32 Provider"
//! and "StdRegProv class" in the WMI reference).
//!
//! Properties come in declaration order: the root ancestor's first, each class level's own
//! properties after its parent's, which is how Windows lays out a derived class. Each
//! property carries a `CIMTYPE` qualifier (the MOF type name, `string` for `string[]`, as
//! Windows sets it) and the real key properties a `key` qualifier.
//!
//! The definitions are built once and shared (`&'static`): hosts never copy them.

use std::collections::HashMap;
use std::sync::LazyLock;

use winv_wmio::{
    CimBase, CimType, ClassDef, Method, Object, ObjectKind, Property, Qualifier, Slot, Value,
};

/// `FLAVOR_PROPAGATE_TO_INSTANCE` ([MS-WMIO] 2.2.62).
pub const FLAVOR_PROPAGATE_TO_INSTANCE: u8 = 0x01;
/// `FLAVOR_PROPAGATE_TO_DERIVED_CLASS` ([MS-WMIO] 2.2.62).
pub const FLAVOR_PROPAGATE_TO_DERIVED_CLASS: u8 = 0x02;
/// `FLAVOR_NOT_OVERRIDABLE` ([MS-WMIO] 2.2.62).
pub const FLAVOR_NOT_OVERRIDABLE: u8 = 0x10;
/// `FLAVOR_ORIGIN_PROPAGATED` ([MS-WMIO] 2.2.62).
pub const FLAVOR_ORIGIN_PROPAGATED: u8 = 0x20;
/// Flavor of the `key` qualifier where it is declared: it propagates to instances and
/// derived classes and cannot be overridden ([MS-WMIO] 2.2.62; CIM `Key` is
/// `DisableOverride, ToSubclass`).
pub const KEY_FLAVOR: u8 =
    FLAVOR_PROPAGATE_TO_INSTANCE | FLAVOR_PROPAGATE_TO_DERIVED_CLASS | FLAVOR_NOT_OVERRIDABLE;

/// `root\cimv2`.
pub const NS_CIMV2: &str = "root\\cimv2";
/// `root\default`.
pub const NS_DEFAULT: &str = "root\\default";

/// Names of the root\cimv2 classes the simulator serves, in a fixed order.
pub const CIMV2_CLASSES: &[&str] = &[
    "Win32_ComputerSystem",
    "Win32_OperatingSystem",
    "Win32_BIOS",
    "Win32_Processor",
    "Win32_PhysicalMemory",
    "Win32_LogicalDisk",
    "Win32_DiskDrive",
    "Win32_NetworkAdapterConfiguration",
    "Win32_QuickFixEngineering",
    "Win32_Service",
    "Win32_SystemEnclosure",
    "Win32_ComputerSystemProduct",
    "Win32_CurrentTime",
    "Win32_UTCTime",
    "Win32_LocalTime",
];

/// Whether `namespace` names `ns` (case-insensitive, `/` accepted for `\`, a leading `\\`
/// or `//` dropped).
pub fn same_namespace(namespace: &str, ns: &str) -> bool {
    let norm = |s: &str| {
        s.trim_start_matches(['\\', '/'])
            .replace('/', "\\")
            .to_ascii_lowercase()
    };
    norm(namespace) == norm(ns)
}

/// The class `name` in `namespace`, case-insensitive; `None` when the namespace does not
/// hold it.
pub fn class(namespace: &str, name: &str) -> Option<&'static ClassDef> {
    let table = if same_namespace(namespace, NS_CIMV2) {
        &*CIMV2
    } else if same_namespace(namespace, NS_DEFAULT) {
        &*DEFAULT
    } else {
        return crate::data::scenario::class(namespace, name);
    };
    table
        .get(&name.to_ascii_lowercase())
        .or_else(|| crate::data::scenario::class(namespace, name))
}

/// The `StdRegProv` class (root\default), with its methods.
pub fn stdregprov() -> &'static ClassDef {
    &STDREGPROV
}

/// The names of the key properties of `class`.
pub fn key_names(class: &ClassDef) -> Vec<&str> {
    class
        .properties
        .iter()
        .filter(|p| is_key(p))
        .map(|p| p.name.as_str())
        .collect()
}

/// Whether `p` carries a true `key` qualifier.
pub fn is_key(p: &Property) -> bool {
    p.qualifiers
        .iter()
        .any(|q| q.name.eq_ignore_ascii_case("key") && q.value == Value::Boolean(true))
}

// ---------------------------------------------------------------------------------------
// Building.

/// One level of a class hierarchy: the class name and the properties it declares, each
/// `"Name:type"` with `type` a MOF type name, `[]` for arrays.
pub(crate) type Level = (&'static str, &'static [&'static str]);

fn parse_type(t: &str) -> CimType {
    let (base, array) = match t.strip_suffix("[]") {
        Some(b) => (b, true),
        None => (t, false),
    };
    let base = match base {
        "sint8" => CimBase::Sint8,
        "uint8" => CimBase::Uint8,
        "sint16" => CimBase::Sint16,
        "uint16" => CimBase::Uint16,
        "sint32" => CimBase::Sint32,
        "uint32" => CimBase::Uint32,
        "sint64" => CimBase::Sint64,
        "uint64" => CimBase::Uint64,
        "real32" => CimBase::Real32,
        "real64" => CimBase::Real64,
        "boolean" => CimBase::Boolean,
        "datetime" => CimBase::DateTime,
        "char16" => CimBase::Char16,
        "object" => CimBase::Object,
        // INVARIANT: the tables below only use the names above and `string`.
        _ => CimBase::String,
    };
    CimType { base, array }
}

pub(crate) fn q(name: &str, flavor: u8, value: Value) -> Qualifier {
    Qualifier {
        name: name.to_string(),
        flavor,
        value,
    }
}

fn cimtype_qualifier(t: CimType) -> Qualifier {
    q("CIMTYPE", 0, Value::String(t.base.mof_name().to_string()))
}

/// Builds a class from its levels (root ancestor first, the class itself last), its key
/// property names and class qualifiers.
pub(crate) fn build(levels: &[Level], keys: &[&str], qualifiers: Vec<Qualifier>) -> ClassDef {
    let depth = levels.len().saturating_sub(1);
    let mut properties: Vec<Property> = Vec::new();
    for (level, (_, props)) in levels.iter().enumerate() {
        for spec in props.iter() {
            let mut parts = spec.split(':');
            let name = parts.next().unwrap_or_default();
            let cim_type = parse_type(parts.next().unwrap_or("string"));
            let inherited = level < depth;
            let mut qs = vec![cimtype_qualifier(cim_type)];
            if keys.iter().any(|k| k.eq_ignore_ascii_case(name)) {
                let flavor = if inherited {
                    KEY_FLAVOR | FLAVOR_ORIGIN_PROPAGATED
                } else {
                    KEY_FLAVOR
                };
                qs.push(q("key", flavor, Value::Boolean(true)));
            }
            let order = properties.len() as u16;
            properties.push(Property {
                name: name.to_string(),
                cim_type,
                order,
                origin: level as u32,
                inherited,
                qualifiers: qs,
                default: Slot::Null,
            });
        }
    }
    let name = levels.last().map(|l| l.0).unwrap_or_default().to_string();
    let derivation = levels[..depth]
        .iter()
        .rev()
        .map(|l| l.0.to_string())
        .collect();
    ClassDef {
        name,
        derivation,
        qualifiers,
        properties,
        methods: Vec::new(),
    }
}

fn win32_qualifiers(uuid: &str) -> Vec<Qualifier> {
    vec![
        q(
            "dynamic",
            FLAVOR_PROPAGATE_TO_INSTANCE,
            Value::Boolean(true),
        ),
        q(
            "Locale",
            FLAVOR_PROPAGATE_TO_INSTANCE | FLAVOR_PROPAGATE_TO_DERIVED_CLASS,
            Value::Sint32(1033),
        ),
        q(
            "provider",
            FLAVOR_PROPAGATE_TO_INSTANCE,
            Value::String("CIMWin32".into()),
        ),
        q(
            "UUID",
            FLAVOR_PROPAGATE_TO_INSTANCE,
            Value::String(uuid.into()),
        ),
    ]
}

const MSE: Level = (
    "CIM_ManagedSystemElement",
    &[
        "Caption:string",
        "Description:string",
        "InstallDate:datetime",
        "Name:string",
        "Status:string",
    ],
);
const LOGICAL_ELEMENT: Level = ("CIM_LogicalElement", &[]);
const LOGICAL_DEVICE: Level = (
    "CIM_LogicalDevice",
    &[
        "Availability:uint16",
        "ConfigManagerErrorCode:uint32",
        "ConfigManagerUserConfig:boolean",
        "CreationClassName:string",
        "DeviceID:string",
        "ErrorCleared:boolean",
        "ErrorDescription:string",
        "LastErrorCode:uint32",
        "PNPDeviceID:string",
        "PowerManagementCapabilities:uint16[]",
        "PowerManagementSupported:boolean",
        "StatusInfo:uint16",
        "SystemCreationClassName:string",
        "SystemName:string",
    ],
);
const PHYSICAL_ELEMENT: Level = (
    "CIM_PhysicalElement",
    &[
        "CreationClassName:string",
        "Manufacturer:string",
        "Model:string",
        "OtherIdentifyingInfo:string",
        "PartNumber:string",
        "PoweredOn:boolean",
        "SerialNumber:string",
        "SKU:string",
        "Tag:string",
        "Version:string",
    ],
);

fn computer_system() -> ClassDef {
    build(
        &[
            MSE,
            LOGICAL_ELEMENT,
            (
                "CIM_System",
                &[
                    "CreationClassName:string",
                    "NameFormat:string",
                    "PrimaryOwnerContact:string",
                    "PrimaryOwnerName:string",
                    "Roles:string[]",
                ],
            ),
            ("CIM_ComputerSystem", &[]),
            (
                "CIM_UnitaryComputerSystem",
                &[
                    "InitialLoadInfo:string[]",
                    "LastLoadInfo:string",
                    "PowerManagementCapabilities:uint16[]",
                    "PowerManagementSupported:boolean",
                    "PowerState:uint16",
                    "ResetCapability:uint16",
                ],
            ),
            (
                "Win32_ComputerSystem",
                &[
                    "AdminPasswordStatus:uint16",
                    "AutomaticManagedPagefile:boolean",
                    "AutomaticResetBootOption:boolean",
                    "AutomaticResetCapability:boolean",
                    "BootOptionOnLimit:uint16",
                    "BootOptionOnWatchDog:uint16",
                    "BootROMSupported:boolean",
                    "BootStatus:uint16[]",
                    "BootupState:string",
                    "ChassisBootupState:uint16",
                    "ChassisSKUNumber:string",
                    "CurrentTimeZone:sint16",
                    "DaylightInEffect:boolean",
                    "DNSHostName:string",
                    "Domain:string",
                    "DomainRole:uint16",
                    "EnableDaylightSavingsTime:boolean",
                    "FrontPanelResetStatus:uint16",
                    "HypervisorPresent:boolean",
                    "InfraredSupported:boolean",
                    "KeyboardPasswordStatus:uint16",
                    "Manufacturer:string",
                    "Model:string",
                    "NetworkServerModeEnabled:boolean",
                    "NumberOfLogicalProcessors:uint32",
                    "NumberOfProcessors:uint32",
                    "OEMLogoBitmap:uint8[]",
                    "OEMStringArray:string[]",
                    "PartOfDomain:boolean",
                    "PauseAfterReset:sint64",
                    "PCSystemType:uint16",
                    "PCSystemTypeEx:uint16",
                    "PowerOnPasswordStatus:uint16",
                    "PowerSupplyState:uint16",
                    "ResetCount:sint16",
                    "ResetLimit:sint16",
                    "SupportContactDescription:string[]",
                    "SystemFamily:string",
                    "SystemSKUNumber:string",
                    "SystemStartupDelay:uint16",
                    "SystemStartupOptions:string[]",
                    "SystemStartupSetting:uint8",
                    "SystemType:string",
                    "ThermalState:uint16",
                    "TotalPhysicalMemory:uint64",
                    "UserName:string",
                    "WakeUpType:uint16",
                    "Workgroup:string",
                ],
            ),
        ],
        &["Name"],
        win32_qualifiers("{8502C4B0-5FBB-11D2-AAC1-006008C78BC7}"),
    )
}

fn operating_system() -> ClassDef {
    build(
        &[
            MSE,
            LOGICAL_ELEMENT,
            (
                "CIM_OperatingSystem",
                &[
                    "CreationClassName:string",
                    "CSCreationClassName:string",
                    "CSName:string",
                    "CurrentTimeZone:sint16",
                    "Distributed:boolean",
                    "FreePhysicalMemory:uint64",
                    "FreeSpaceInPagingFiles:uint64",
                    "FreeVirtualMemory:uint64",
                    "LastBootUpTime:datetime",
                    "LocalDateTime:datetime",
                    "MaxNumberOfProcesses:uint32",
                    "MaxProcessMemorySize:uint64",
                    "NumberOfLicensedUsers:uint32",
                    "NumberOfProcesses:uint32",
                    "NumberOfUsers:uint32",
                    "OSType:uint16",
                    "OtherTypeDescription:string",
                    "SizeStoredInPagingFiles:uint64",
                    "TotalSwapSpaceSize:uint64",
                    "TotalVirtualMemorySize:uint64",
                    "TotalVisibleMemorySize:uint64",
                    "Version:string",
                ],
            ),
            (
                "Win32_OperatingSystem",
                &[
                    "BootDevice:string",
                    "BuildNumber:string",
                    "BuildType:string",
                    "CodeSet:string",
                    "CountryCode:string",
                    "CSDVersion:string",
                    "DataExecutionPrevention_32BitApplications:boolean",
                    "DataExecutionPrevention_Available:boolean",
                    "DataExecutionPrevention_Drivers:boolean",
                    "DataExecutionPrevention_SupportPolicy:uint8",
                    "Debug:boolean",
                    "EncryptionLevel:uint32",
                    "ForegroundApplicationBoost:uint8",
                    "LargeSystemCache:uint32",
                    "Locale:string",
                    "Manufacturer:string",
                    "MUILanguages:string[]",
                    "OperatingSystemSKU:uint32",
                    "Organization:string",
                    "OSArchitecture:string",
                    "OSLanguage:uint32",
                    "OSProductSuite:uint32",
                    "PAEEnabled:boolean",
                    "PlusProductID:string",
                    "PlusVersionNumber:string",
                    "PortableOperatingSystem:boolean",
                    "Primary:boolean",
                    "ProductType:uint32",
                    "RegisteredUser:string",
                    "SerialNumber:string",
                    "ServicePackMajorVersion:uint16",
                    "ServicePackMinorVersion:uint16",
                    "SuiteMask:uint32",
                    "SystemDevice:string",
                    "SystemDirectory:string",
                    "SystemDrive:string",
                    "WindowsDirectory:string",
                ],
            ),
        ],
        &["Name"],
        win32_qualifiers("{8502C4DE-5FBB-11D2-AAC1-006008C78BC7}"),
    )
}

fn bios() -> ClassDef {
    build(
        &[
            MSE,
            LOGICAL_ELEMENT,
            (
                "CIM_SoftwareElement",
                &[
                    "BuildNumber:string",
                    "CodeSet:string",
                    "IdentificationCode:string",
                    "LanguageEdition:string",
                    "Manufacturer:string",
                    "OtherTargetOS:string",
                    "SerialNumber:string",
                    "SoftwareElementID:string",
                    "SoftwareElementState:uint16",
                    "TargetOperatingSystem:uint16",
                    "Version:string",
                ],
            ),
            (
                "CIM_BIOSElement",
                &["PrimaryBIOS:boolean", "ReleaseDate:datetime"],
            ),
            (
                "Win32_BIOS",
                &[
                    "BiosCharacteristics:uint16[]",
                    "BIOSVersion:string[]",
                    "CurrentLanguage:string",
                    "EmbeddedControllerMajorVersion:uint8",
                    "EmbeddedControllerMinorVersion:uint8",
                    "InstallableLanguages:uint16",
                    "ListOfLanguages:string[]",
                    "SMBIOSBIOSVersion:string",
                    "SMBIOSMajorVersion:uint16",
                    "SMBIOSMinorVersion:uint16",
                    "SMBIOSPresent:boolean",
                    "SystemBiosMajorVersion:uint8",
                    "SystemBiosMinorVersion:uint8",
                ],
            ),
        ],
        &[
            "Name",
            "SoftwareElementID",
            "SoftwareElementState",
            "TargetOperatingSystem",
            "Version",
        ],
        win32_qualifiers("{8502C4E1-5FBB-11D2-AAC1-006008C78BC7}"),
    )
}

fn processor() -> ClassDef {
    build(
        &[
            MSE,
            LOGICAL_ELEMENT,
            LOGICAL_DEVICE,
            (
                "CIM_Processor",
                &[
                    "AddressWidth:uint16",
                    "CurrentClockSpeed:uint32",
                    "DataWidth:uint16",
                    "Family:uint16",
                    "LoadPercentage:uint16",
                    "MaxClockSpeed:uint32",
                    "OtherFamilyDescription:string",
                    "Role:string",
                    "Stepping:string",
                    "UniqueId:string",
                    "UpgradeMethod:uint16",
                ],
            ),
            (
                "Win32_Processor",
                &[
                    "Architecture:uint16",
                    "AssetTag:string",
                    "Characteristics:uint32",
                    "CpuStatus:uint16",
                    "CurrentVoltage:uint16",
                    "ExtClock:uint32",
                    "L2CacheSize:uint32",
                    "L2CacheSpeed:uint32",
                    "L3CacheSize:uint32",
                    "L3CacheSpeed:uint32",
                    "Level:uint16",
                    "Manufacturer:string",
                    "NumberOfCores:uint32",
                    "NumberOfEnabledCore:uint32",
                    "NumberOfLogicalProcessors:uint32",
                    "PartNumber:string",
                    "ProcessorId:string",
                    "ProcessorType:uint16",
                    "Revision:uint16",
                    "SecondLevelAddressTranslationExtensions:boolean",
                    "SerialNumber:string",
                    "SocketDesignation:string",
                    "ThreadCount:uint32",
                    "Version:string",
                    "VirtualizationFirmwareEnabled:boolean",
                    "VMMonitorModeExtensions:boolean",
                    "VoltageCaps:uint32",
                ],
            ),
        ],
        &["DeviceID"],
        win32_qualifiers("{8502C4BB-5FBB-11D2-AAC1-006008C78BC7}"),
    )
}

fn physical_memory() -> ClassDef {
    build(
        &[
            MSE,
            PHYSICAL_ELEMENT,
            (
                "CIM_PhysicalComponent",
                &[
                    "HotSwappable:boolean",
                    "Removable:boolean",
                    "Replaceable:boolean",
                ],
            ),
            ("CIM_Chip", &["FormFactor:uint16"]),
            (
                "CIM_PhysicalMemory",
                &[
                    "BankLabel:string",
                    "Capacity:uint64",
                    "DataWidth:uint16",
                    "InterleavePosition:uint32",
                    "MemoryType:uint16",
                    "PositionInRow:uint32",
                    "Speed:uint32",
                    "TotalWidth:uint16",
                ],
            ),
            (
                "Win32_PhysicalMemory",
                &[
                    "Attributes:uint32",
                    "ConfiguredClockSpeed:uint32",
                    "ConfiguredVoltage:uint32",
                    "DeviceLocator:string",
                    "InterleaveDataDepth:uint16",
                    "MaxVoltage:uint32",
                    "MinVoltage:uint32",
                    "SMBIOSMemoryType:uint32",
                    "TypeDetail:uint16",
                ],
            ),
        ],
        &["CreationClassName", "Tag"],
        win32_qualifiers("{FAF76B93-798C-11D2-AAD1-006008C78BC7}"),
    )
}

fn logical_disk() -> ClassDef {
    build(
        &[
            MSE,
            LOGICAL_ELEMENT,
            LOGICAL_DEVICE,
            (
                "CIM_StorageExtent",
                &[
                    "Access:uint16",
                    "BlockSize:uint64",
                    "ErrorMethodology:string",
                    "NumberOfBlocks:uint64",
                    "Purpose:string",
                ],
            ),
            ("CIM_LogicalDisk", &["FreeSpace:uint64", "Size:uint64"]),
            (
                "Win32_LogicalDisk",
                &[
                    "Compressed:boolean",
                    "DriveType:uint32",
                    "FileSystem:string",
                    "MaximumComponentLength:uint32",
                    "MediaType:uint32",
                    "ProviderName:string",
                    "QuotasDisabled:boolean",
                    "QuotasIncomplete:boolean",
                    "QuotasRebuilding:boolean",
                    "SupportsDiskQuotas:boolean",
                    "SupportsFileBasedCompression:boolean",
                    "VolumeDirty:boolean",
                    "VolumeName:string",
                    "VolumeSerialNumber:string",
                ],
            ),
        ],
        &["DeviceID"],
        win32_qualifiers("{8502C4B7-5FBB-11D2-AAC1-006008C78BC7}"),
    )
}

fn disk_drive() -> ClassDef {
    build(
        &[
            MSE,
            LOGICAL_ELEMENT,
            LOGICAL_DEVICE,
            (
                "CIM_MediaAccessDevice",
                &[
                    "Capabilities:uint16[]",
                    "CapabilityDescriptions:string[]",
                    "CompressionMethod:string",
                    "DefaultBlockSize:uint64",
                    "ErrorMethodology:string",
                    "MaxBlockSize:uint64",
                    "MaxMediaSize:uint64",
                    "MinBlockSize:uint64",
                    "NeedsCleaning:boolean",
                    "NumberOfMediaSupported:uint32",
                ],
            ),
            ("CIM_DiskDrive", &[]),
            (
                "Win32_DiskDrive",
                &[
                    "BytesPerSector:uint32",
                    "FirmwareRevision:string",
                    "Index:uint32",
                    "InterfaceType:string",
                    "Manufacturer:string",
                    "MediaLoaded:boolean",
                    "MediaType:string",
                    "Model:string",
                    "Partitions:uint32",
                    "SCSIBus:uint32",
                    "SCSILogicalUnit:uint16",
                    "SCSIPort:uint16",
                    "SCSITargetId:uint16",
                    "SectorsPerTrack:uint32",
                    "SerialNumber:string",
                    "Signature:uint32",
                    "Size:uint64",
                    "TotalCylinders:uint64",
                    "TotalHeads:uint32",
                    "TotalSectors:uint64",
                    "TotalTracks:uint64",
                    "TracksPerCylinder:uint32",
                ],
            ),
        ],
        &["DeviceID"],
        win32_qualifiers("{8502C4B2-5FBB-11D2-AAC1-006008C78BC7}"),
    )
}

fn network_adapter_configuration() -> ClassDef {
    build(
        &[
            (
                "CIM_Setting",
                &["Caption:string", "Description:string", "SettingID:string"],
            ),
            (
                "Win32_NetworkAdapterConfiguration",
                &[
                    "ArpAlwaysSourceRoute:boolean",
                    "ArpUseEtherSNAP:boolean",
                    "DatabasePath:string",
                    "DeadGWDetectEnabled:boolean",
                    "DefaultIPGateway:string[]",
                    "DefaultTOS:uint8",
                    "DefaultTTL:uint8",
                    "DHCPEnabled:boolean",
                    "DHCPLeaseExpires:datetime",
                    "DHCPLeaseObtained:datetime",
                    "DHCPServer:string",
                    "DNSDomain:string",
                    "DNSDomainSuffixSearchOrder:string[]",
                    "DNSEnabledForWINSResolution:boolean",
                    "DNSHostName:string",
                    "DNSServerSearchOrder:string[]",
                    "DomainDNSRegistrationEnabled:boolean",
                    "ForwardBufferMemory:uint32",
                    "FullDNSRegistrationEnabled:boolean",
                    "GatewayCostMetric:uint16[]",
                    "IGMPLevel:uint8",
                    "Index:uint32",
                    "InterfaceIndex:uint32",
                    "IPAddress:string[]",
                    "IPConnectionMetric:uint32",
                    "IPEnabled:boolean",
                    "IPFilterSecurityEnabled:boolean",
                    "IPPortSecurityEnabled:boolean",
                    "IPSecPermitIPProtocols:string[]",
                    "IPSecPermitTCPPorts:string[]",
                    "IPSecPermitUDPPorts:string[]",
                    "IPSubnet:string[]",
                    "IPUseZeroBroadcast:boolean",
                    "IPXAddress:string",
                    "IPXEnabled:boolean",
                    "IPXFrameType:uint32[]",
                    "IPXMediaType:uint32",
                    "IPXNetworkNumber:string[]",
                    "IPXVirtualNetNumber:string",
                    "KeepAliveInterval:uint32",
                    "KeepAliveTime:uint32",
                    "MACAddress:string",
                    "MTU:uint32",
                    "NumForwardPackets:uint32",
                    "PMTUBHDetectEnabled:boolean",
                    "PMTUDiscoveryEnabled:boolean",
                    "ServiceName:string",
                    "TcpipNetbiosOptions:uint32",
                    "TcpMaxConnectRetransmissions:uint32",
                    "TcpMaxDataRetransmissions:uint32",
                    "TcpNumConnections:uint32",
                    "TcpUseRFC1122UrgentPointer:boolean",
                    "TcpWindowSize:uint16",
                    "WINSEnableLMHostsLookup:boolean",
                    "WINSHostLookupFile:string",
                    "WINSPrimaryServer:string",
                    "WINSScopeID:string",
                    "WINSSecondaryServer:string",
                ],
            ),
        ],
        &["Index"],
        win32_qualifiers("{8502C515-5FBB-11D2-AAC1-006008C78BC7}"),
    )
}

fn quick_fix_engineering() -> ClassDef {
    build(
        &[
            MSE,
            LOGICAL_ELEMENT,
            (
                "Win32_QuickFixEngineering",
                &[
                    "CSName:string",
                    "FixComments:string",
                    "HotFixID:string",
                    "InstalledBy:string",
                    "InstalledOn:string",
                    "ServicePackInEffect:string",
                ],
            ),
        ],
        &["HotFixID", "ServicePackInEffect"],
        win32_qualifiers("{8502C4E7-5FBB-11D2-AAC1-006008C78BC7}"),
    )
}

fn service() -> ClassDef {
    build(
        &[
            MSE,
            LOGICAL_ELEMENT,
            (
                "CIM_Service",
                &[
                    "CreationClassName:string",
                    "Started:boolean",
                    "StartMode:string",
                    "SystemCreationClassName:string",
                    "SystemName:string",
                ],
            ),
            (
                "Win32_BaseService",
                &[
                    "AcceptPause:boolean",
                    "AcceptStop:boolean",
                    "DesktopInteract:boolean",
                    "DisplayName:string",
                    "ErrorControl:string",
                    "ExitCode:uint32",
                    "PathName:string",
                    "ServiceSpecificExitCode:uint32",
                    "ServiceType:string",
                    "StartName:string",
                    "State:string",
                    "TagId:uint32",
                ],
            ),
            (
                "Win32_Service",
                &[
                    "CheckPoint:uint32",
                    "DelayedAutoStart:boolean",
                    "ProcessId:uint32",
                    "WaitHint:uint32",
                ],
            ),
        ],
        &["Name"],
        win32_qualifiers("{8502C4D9-5FBB-11D2-AAC1-006008C78BC7}"),
    )
}

/// `Win32_ComputerSystemProduct`: the SMBIOS system information (type 1): the vendor,
/// the product name, its identifying (serial) number and the system UUID.
fn computer_system_product() -> ClassDef {
    build(
        &[
            (
                "CIM_Product",
                &[
                    "Caption:string",
                    "Description:string",
                    "IdentifyingNumber:string",
                    "Name:string",
                    "SKUNumber:string",
                    "Vendor:string",
                    "Version:string",
                ],
            ),
            ("Win32_ComputerSystemProduct", &["UUID:string"]),
        ],
        &["IdentifyingNumber", "Name", "Version"],
        win32_qualifiers("{FAF76B96-798C-11D2-AAD1-006008C78BC7}"),
    )
}

fn system_enclosure() -> ClassDef {
    build(
        &[
            MSE,
            PHYSICAL_ELEMENT,
            (
                "CIM_PhysicalPackage",
                &[
                    "Depth:real32",
                    "Height:real32",
                    "HotSwappable:boolean",
                    "Removable:boolean",
                    "Replaceable:boolean",
                    "Weight:real32",
                    "Width:real32",
                ],
            ),
            (
                "CIM_PhysicalFrame",
                &[
                    "AudibleAlarm:boolean",
                    "BreachDescription:string",
                    "CableManagementStrategy:string",
                    "LockPresent:boolean",
                    "SecurityBreach:uint16",
                    "ServiceDescriptions:string[]",
                    "ServicePhilosophy:uint16[]",
                    "VisibleAlarm:boolean",
                ],
            ),
            (
                "CIM_Chassis",
                &[
                    "ChassisTypes:uint16[]",
                    "CurrentRequiredOrProduced:sint16",
                    "HeatGeneration:uint16",
                    "NumberOfPowerCords:uint16",
                    "TypeDescriptions:string[]",
                ],
            ),
            (
                "Win32_SystemEnclosure",
                &["SecurityStatus:uint16", "SMBIOSAssetTag:string"],
            ),
        ],
        &["CreationClassName", "Tag"],
        win32_qualifiers("{FAF76B95-798C-11D2-AAD1-006008C78BC7}"),
    )
}

const CURRENT_TIME: Level = (
    "Win32_CurrentTime",
    &[
        "Day:uint32",
        "DayOfWeek:uint32",
        "Hour:uint32",
        "Milliseconds:uint32",
        "Minute:uint32",
        "Month:uint32",
        "Quarter:uint32",
        "Second:uint32",
        "WeekInMonth:uint32",
        "Year:uint32",
    ],
);

fn time_class(name: &'static str) -> ClassDef {
    let mut qs = vec![q(
        "Singleton",
        FLAVOR_PROPAGATE_TO_INSTANCE,
        Value::Boolean(true),
    )];
    let mut c = if name == "Win32_CurrentTime" {
        build(&[CURRENT_TIME], &[], vec![])
    } else {
        qs.push(q(
            "dynamic",
            FLAVOR_PROPAGATE_TO_INSTANCE,
            Value::Boolean(true),
        ));
        qs.push(q(
            "provider",
            FLAVOR_PROPAGATE_TO_INSTANCE,
            Value::String("Win32ClockProvider".into()),
        ));
        build(&[CURRENT_TIME, (name, &[])], &[], vec![])
    };
    c.qualifiers = qs;
    c
}

// ---------------------------------------------------------------------------------------
// StdRegProv.

/// `hDefKey`'s default: HKEY_LOCAL_MACHINE.
pub const HKLM: u32 = 0x8000_0002;

/// One method parameter: name, MOF type, direction (`true` for in) and ID.
type Param = (&'static str, &'static str, bool, i32);

/// `StdRegProv` methods the simulator implements and their parameters (IDs count across
/// in and out parameters, as in the `StdRegProv` MOF).
pub const STDREGPROV_METHODS: &[(&str, &[Param])] = &[
    (
        "EnumKey",
        &[
            ("hDefKey", "uint32", true, 0),
            ("sSubKeyName", "string", true, 1),
            ("sNames", "string[]", false, 2),
        ],
    ),
    (
        "EnumValues",
        &[
            ("hDefKey", "uint32", true, 0),
            ("sSubKeyName", "string", true, 1),
            ("sNames", "string[]", false, 2),
            ("Types", "sint32[]", false, 3),
        ],
    ),
    (
        "GetStringValue",
        &[
            ("hDefKey", "uint32", true, 0),
            ("sSubKeyName", "string", true, 1),
            ("sValueName", "string", true, 2),
            ("sValue", "string", false, 3),
        ],
    ),
    (
        "GetExpandedStringValue",
        &[
            ("hDefKey", "uint32", true, 0),
            ("sSubKeyName", "string", true, 1),
            ("sValueName", "string", true, 2),
            ("sValue", "string", false, 3),
        ],
    ),
    (
        "GetMultiStringValue",
        &[
            ("hDefKey", "uint32", true, 0),
            ("sSubKeyName", "string", true, 1),
            ("sValueName", "string", true, 2),
            ("sValue", "string[]", false, 3),
        ],
    ),
    (
        "GetDWORDValue",
        &[
            ("hDefKey", "uint32", true, 0),
            ("sSubKeyName", "string", true, 1),
            ("sValueName", "string", true, 2),
            ("uValue", "uint32", false, 3),
        ],
    ),
    (
        "GetQWORDValue",
        &[
            ("hDefKey", "uint32", true, 0),
            ("sSubKeyName", "string", true, 1),
            ("sValueName", "string", true, 2),
            ("uValue", "uint64", false, 3),
        ],
    ),
    (
        "GetBinaryValue",
        &[
            ("hDefKey", "uint32", true, 0),
            ("sSubKeyName", "string", true, 1),
            ("sValueName", "string", true, 2),
            ("uValue", "uint8[]", false, 3),
        ],
    ),
];

fn param_property(name: &str, ty: &str, dir: &str, id: Option<i32>, order: u16) -> Property {
    let cim_type = parse_type(ty);
    let mut qualifiers = vec![cimtype_qualifier(cim_type)];
    if let Some(id) = id {
        qualifiers.push(q(
            "ID",
            FLAVOR_NOT_OVERRIDABLE | FLAVOR_PROPAGATE_TO_INSTANCE,
            Value::Sint32(id),
        ));
    }
    qualifiers.push(q(dir, 0, Value::Boolean(true)));
    let default = if name == "hDefKey" {
        Slot::Set(Value::Uint32(HKLM))
    } else {
        Slot::Null
    };
    Property {
        name: name.to_string(),
        cim_type,
        order,
        origin: 0,
        inherited: false,
        qualifiers,
        default,
    }
}

fn parameters_class(properties: Vec<Property>) -> ClassDef {
    ClassDef {
        name: "__PARAMETERS".to_string(),
        derivation: Vec::new(),
        qualifiers: Vec::new(),
        properties,
        methods: Vec::new(),
    }
}

fn parameters_object(class: ClassDef) -> Box<Object> {
    Box::new(Object {
        decoration: None,
        kind: ObjectKind::Class {
            parent: ClassDef::default(),
            current: class,
        },
    })
}

/// The input `__PARAMETERS` class of `method` ([MS-WMIO] 2.2.47), `None` for an unknown
/// method.
pub fn method_input(method: &str) -> Option<&'static ClassDef> {
    STDREG_PARAMS
        .iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case(method))
        .map(|(_, i, _)| i)
}

/// The output `__PARAMETERS` class of `method` (with `ReturnValue` first), `None` for an
/// unknown method.
pub fn method_output(method: &str) -> Option<&'static ClassDef> {
    STDREG_PARAMS
        .iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case(method))
        .map(|(_, _, o)| o)
}

static STDREG_PARAMS: LazyLock<Vec<(&'static str, ClassDef, ClassDef)>> = LazyLock::new(|| {
    STDREGPROV_METHODS
        .iter()
        .map(|(name, params)| {
            let mut input = Vec::new();
            let mut output = vec![param_property("ReturnValue", "uint32", "out", None, 0)];
            for (pname, ty, is_in, id) in params.iter() {
                if *is_in {
                    let order = input.len() as u16;
                    input.push(param_property(pname, ty, "in", Some(*id), order));
                } else {
                    let order = output.len() as u16;
                    output.push(param_property(pname, ty, "out", Some(*id), order));
                }
            }
            (*name, parameters_class(input), parameters_class(output))
        })
        .collect()
});

static STDREGPROV: LazyLock<ClassDef> = LazyLock::new(|| {
    let methods = STDREG_PARAMS
        .iter()
        .map(|(name, input, output)| Method {
            name: (*name).to_string(),
            flags: 0,
            origin: 0,
            qualifiers: vec![
                q(
                    "implemented",
                    FLAVOR_PROPAGATE_TO_DERIVED_CLASS,
                    Value::Boolean(true),
                ),
                q(
                    "static",
                    FLAVOR_PROPAGATE_TO_DERIVED_CLASS | FLAVOR_NOT_OVERRIDABLE,
                    Value::Boolean(true),
                ),
            ],
            input: Some(parameters_object(input.clone())),
            output: Some(parameters_object(output.clone())),
        })
        .collect();
    ClassDef {
        name: "StdRegProv".to_string(),
        derivation: Vec::new(),
        qualifiers: vec![q(
            "provider",
            FLAVOR_PROPAGATE_TO_INSTANCE,
            Value::String("RegProv".into()),
        )],
        properties: Vec::new(),
        methods,
    }
});

static CIMV2: LazyLock<HashMap<String, ClassDef>> = LazyLock::new(|| {
    let list = vec![
        computer_system(),
        operating_system(),
        bios(),
        processor(),
        physical_memory(),
        logical_disk(),
        disk_drive(),
        network_adapter_configuration(),
        quick_fix_engineering(),
        service(),
        system_enclosure(),
        computer_system_product(),
        time_class("Win32_CurrentTime"),
        time_class("Win32_UTCTime"),
        time_class("Win32_LocalTime"),
    ];
    list.into_iter()
        .map(|c| (c.name.to_ascii_lowercase(), c))
        .collect()
});

static DEFAULT: LazyLock<HashMap<String, ClassDef>> = LazyLock::new(|| {
    let mut m = HashMap::new();
    m.insert("stdregprov".to_string(), STDREGPROV.clone());
    m
});
