//! Well-known interface and transfer syntax UUIDs and their names.
//!
//! This is the one place in the project where such names live; other crates
//! refer to these constants. Sources: [C706] appendix I and [MS-RPCE] 2.2.4.12
//! (NDR), [MS-RPCE] 2.2.4.12.1 (NDR64), [MS-RPCE] 3.3.1.5.3 (feature
//! negotiation), [MS-DCOM] 1.9, [MS-WMI] 1.9, [MS-SCMR], [MS-LSAD], [MS-SAMR],
//! [MS-NRPC], [MS-DRSR], [MS-RRP], [MS-SRVS], [MS-WKST], [MS-TSCH] 1.9.

use uuid::Uuid;

use crate::pdu::SyntaxId;

/// One well-known interface or syntax.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownInterface {
    /// Its syntax id (UUID and version).
    pub syntax: SyntaxId,
    /// Its conventional name.
    pub name: &'static str,
}

const fn s(u: u128, major: u16, minor: u16) -> SyntaxId {
    SyntaxId::new(Uuid::from_u128(u), major, minor)
}

/// NDR transfer syntax 8a885d04-1ceb-11c9-9fe8-08002b104860 v2.0.
pub const NDR: SyntaxId = s(0x8a885d04_1ceb_11c9_9fe8_08002b104860, 2, 0);
/// NDR64 transfer syntax 71710533-beba-4937-8319-b5dbef9ccc36 v1.0.
pub const NDR64: SyntaxId = s(0x71710533_beba_4937_8319_b5dbef9ccc36, 1, 0);
/// Endpoint mapper (EPMv4) e1af8308-5d1f-11c9-91a4-08002b14a0fa v3.0.
pub const EPM: SyntaxId = s(0xe1af8308_5d1f_11c9_91a4_08002b14a0fa, 3, 0);
/// Remote management (mgmt) afa8bd80-7d8a-11c9-bef4-08002b102989 v1.0.
pub const MGMT: SyntaxId = s(0xafa8bd80_7d8a_11c9_bef4_08002b102989, 1, 0);
/// Service control manager 367abb81-9844-35f1-ad32-98f038001003 v2.0.
pub const SVCCTL: SyntaxId = s(0x367abb81_9844_35f1_ad32_98f038001003, 2, 0);
/// LSA 12345778-1234-abcd-ef00-0123456789ab v0.0.
pub const LSARPC: SyntaxId = s(0x12345778_1234_abcd_ef00_0123456789ab, 0, 0);
/// SAM 12345778-1234-abcd-ef00-0123456789ac v1.0.
pub const SAMR: SyntaxId = s(0x12345778_1234_abcd_ef00_0123456789ac, 1, 0);
/// Netlogon 12345678-1234-abcd-ef00-01234567cffb v1.0.
pub const NETLOGON: SyntaxId = s(0x12345678_1234_abcd_ef00_01234567cffb, 1, 0);
/// Directory replication e3514235-4b06-11d1-ab04-00c04fc2dcd2 v4.0.
pub const DRSUAPI: SyntaxId = s(0xe3514235_4b06_11d1_ab04_00c04fc2dcd2, 4, 0);
/// Remote registry 338cd001-2244-31f1-aaaa-900038001003 v1.0.
pub const WINREG: SyntaxId = s(0x338cd001_2244_31f1_aaaa_900038001003, 1, 0);
/// Server service 4b324fc8-1670-01d3-1278-5a47bf6ee188 v3.0.
pub const SRVSVC: SyntaxId = s(0x4b324fc8_1670_01d3_1278_5a47bf6ee188, 3, 0);
/// Workstation service 6bffd098-a112-3610-9833-46c3f87e345a v1.0.
pub const WKSSVC: SyntaxId = s(0x6bffd098_a112_3610_9833_46c3f87e345a, 1, 0);
/// Task scheduler 86d35949-83c9-4044-b424-db363231fd0c v1.0.
pub const ITASKSCHEDULERSERVICE: SyntaxId = s(0x86d35949_83c9_4044_b424_db363231fd0c, 1, 0);
/// DCOM activation: ISystemActivator / IRemoteSCMActivator 000001a0-0000-0000-c000-000000000046 v0.0.
pub const ISYSTEMACTIVATOR: SyntaxId = s(0x000001a0_0000_0000_c000_000000000046, 0, 0);
/// Old DCOM activation IActivation 4d9f4ab8-7d1c-11cf-861e-0020af6e7c57 v0.0.
pub const IACTIVATION: SyntaxId = s(0x4d9f4ab8_7d1c_11cf_861e_0020af6e7c57, 0, 0);
/// OXID resolver IObjectExporter 99fcfec4-5260-101b-bbcb-00aa0021347a v0.0.
pub const IOBJECTEXPORTER: SyntaxId = s(0x99fcfec4_5260_101b_bbcb_00aa0021347a, 0, 0);
/// IUnknown 00000000-0000-0000-c000-000000000046 v0.0.
pub const IUNKNOWN: SyntaxId = s(0x00000000_0000_0000_c000_000000000046, 0, 0);
/// IRemUnknown 00000131-0000-0000-c000-000000000046 v0.0.
pub const IREMUNKNOWN: SyntaxId = s(0x00000131_0000_0000_c000_000000000046, 0, 0);
/// IRemUnknown2 00000143-0000-0000-c000-000000000046 v0.0.
pub const IREMUNKNOWN2: SyntaxId = s(0x00000143_0000_0000_c000_000000000046, 0, 0);
/// IWbemLevel1Login f309ad18-d86a-11d0-a075-00c04fb68820 v0.0.
pub const IWBEMLEVEL1LOGIN: SyntaxId = s(0xf309ad18_d86a_11d0_a075_00c04fb68820, 0, 0);
/// IWbemServices 9556dc99-828c-11cf-a37e-00aa003240c7 v0.0.
pub const IWBEMSERVICES: SyntaxId = s(0x9556dc99_828c_11cf_a37e_00aa003240c7, 0, 0);
/// IEnumWbemClassObject 027947e1-d731-11ce-a357-000000000001 v0.0.
pub const IENUMWBEMCLASSOBJECT: SyntaxId = s(0x027947e1_d731_11ce_a357_000000000001, 0, 0);
/// IWbemFetchSmartEnum 1c1c45ee-4395-11d2-b60b-00104b703efd v0.0.
pub const IWBEMFETCHSMARTENUM: SyntaxId = s(0x1c1c45ee_4395_11d2_b60b_00104b703efd, 0, 0);
/// IWbemWCOSmartEnum 423ec01e-2e35-11d2-b604-00104b703efd v0.0.
pub const IWBEMWCOSMARTENUM: SyntaxId = s(0x423ec01e_2e35_11d2_b604_00104b703efd, 0, 0);
/// IWbemCallResult 44aca674-e8fc-11d0-a07c-00c04fb68820 v0.0.
pub const IWBEMCALLRESULT: SyntaxId = s(0x44aca674_e8fc_11d0_a07c_00c04fb68820, 0, 0);
/// IWbemClassObject dc12a681-737f-11cf-884d-00aa004b2e24 v0.0.
pub const IWBEMCLASSOBJECT: SyntaxId = s(0xdc12a681_737f_11cf_884d_00aa004b2e24, 0, 0);
/// IWbemLoginClientID d4781cd6-e5d3-44df-ad94-930efe48a887 v0.0.
pub const IWBEMLOGINCLIENTID: SyntaxId = s(0xd4781cd6_e5d3_44df_ad94_930efe48a887, 0, 0);

/// The table of known interfaces and syntaxes.
pub const KNOWN: &[KnownInterface] = &[
    KnownInterface {
        syntax: NDR,
        name: "NDR",
    },
    KnownInterface {
        syntax: NDR64,
        name: "NDR64",
    },
    KnownInterface {
        syntax: EPM,
        name: "EPMv4",
    },
    KnownInterface {
        syntax: MGMT,
        name: "MGMT",
    },
    KnownInterface {
        syntax: SVCCTL,
        name: "SVCCTL",
    },
    KnownInterface {
        syntax: LSARPC,
        name: "LSARPC",
    },
    KnownInterface {
        syntax: SAMR,
        name: "SAMR",
    },
    KnownInterface {
        syntax: NETLOGON,
        name: "NETLOGON",
    },
    KnownInterface {
        syntax: DRSUAPI,
        name: "DRSUAPI",
    },
    KnownInterface {
        syntax: WINREG,
        name: "WINREG",
    },
    KnownInterface {
        syntax: SRVSVC,
        name: "SRVSVC",
    },
    KnownInterface {
        syntax: WKSSVC,
        name: "WKSSVC",
    },
    KnownInterface {
        syntax: ITASKSCHEDULERSERVICE,
        name: "ITaskSchedulerService",
    },
    KnownInterface {
        syntax: ISYSTEMACTIVATOR,
        name: "ISystemActivator",
    },
    KnownInterface {
        syntax: IACTIVATION,
        name: "IActivation",
    },
    KnownInterface {
        syntax: IOBJECTEXPORTER,
        name: "IObjectExporter",
    },
    KnownInterface {
        syntax: IUNKNOWN,
        name: "IUnknown",
    },
    KnownInterface {
        syntax: IREMUNKNOWN,
        name: "IRemUnknown",
    },
    KnownInterface {
        syntax: IREMUNKNOWN2,
        name: "IRemUnknown2",
    },
    KnownInterface {
        syntax: IWBEMLEVEL1LOGIN,
        name: "IWbemLevel1Login",
    },
    KnownInterface {
        syntax: IWBEMSERVICES,
        name: "IWbemServices",
    },
    KnownInterface {
        syntax: IENUMWBEMCLASSOBJECT,
        name: "IEnumWbemClassObject",
    },
    KnownInterface {
        syntax: IWBEMFETCHSMARTENUM,
        name: "IWbemFetchSmartEnum",
    },
    KnownInterface {
        syntax: IWBEMWCOSMARTENUM,
        name: "IWbemWCOSmartEnum",
    },
    KnownInterface {
        syntax: IWBEMCALLRESULT,
        name: "IWbemCallResult",
    },
    KnownInterface {
        syntax: IWBEMCLASSOBJECT,
        name: "IWbemClassObject",
    },
    KnownInterface {
        syntax: IWBEMLOGINCLIENTID,
        name: "IWbemLoginClientID",
    },
];

/// The name of a known interface or syntax UUID (any version); the bind time
/// feature negotiation syntaxes ([MS-RPCE] 3.3.1.5.3) are named too.
pub fn name(uuid: &Uuid) -> Option<&'static str> {
    if crate::pdu::features::offered(&SyntaxId::new(*uuid, 1, 0)).is_some() {
        return Some("BindTimeFeatureNegotiation");
    }
    KNOWN
        .iter()
        .find(|k| k.syntax.uuid == *uuid)
        .map(|k| k.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_wire_bytes() {
        assert_eq!(name(&EPM.uuid), Some("EPMv4"));
        assert_eq!(name(&IWBEMSERVICES.uuid), Some("IWbemServices"));
        assert_eq!(
            name(&crate::pdu::features::syntax(3).uuid),
            Some("BindTimeFeatureNegotiation")
        );
        assert_eq!(name(&Uuid::nil()), None);
        // NDR on the wire ([C706] appendix I): 04 5d 88 8a eb 1c c9 11 9f e8 08 00 2b 10 48 60.
        assert_eq!(
            NDR.uuid.to_bytes_le(),
            [
                0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10,
                0x48, 0x60
            ]
        );
        assert_eq!(EPM.uuid.to_string(), "e1af8308-5d1f-11c9-91a4-08002b14a0fa");
        // The table holds no duplicate UUIDs (IRemoteSCMActivator shares ISystemActivator's).
        for (i, a) in KNOWN.iter().enumerate() {
            for b in &KNOWN[i + 1..] {
                assert_ne!(a.syntax.uuid, b.syntax.uuid, "{} / {}", a.name, b.name);
            }
        }
    }
}
