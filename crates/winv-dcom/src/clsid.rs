//! CLSIDs and IIDs that are not RPC interfaces: classes created by activation, the
//! activation property classes and property sets ([MS-DCOM] 1.9, 2.2.22), and the WMI classes
//! of [MS-WMI] 1.9. Interfaces that are bound over DCE/RPC live in `winv_dcerpc::interfaces`.

use uuid::Uuid;

/// IID_IUnknown 00000000-0000-0000-c000-000000000046 ([MS-DCOM] 1.9).
pub const IID_IUNKNOWN: Uuid = Uuid::from_u128(0x00000000_0000_0000_c000_000000000046);
/// IID_IActivationPropertiesIn 000001a2-0000-0000-c000-000000000046 ([MS-DCOM] 1.9).
pub const IID_IACTIVATION_PROPERTIES_IN: Uuid =
    Uuid::from_u128(0x000001a2_0000_0000_c000_000000000046);
/// IID_IActivationPropertiesOut 000001a3-0000-0000-c000-000000000046 ([MS-DCOM] 1.9).
pub const IID_IACTIVATION_PROPERTIES_OUT: Uuid =
    Uuid::from_u128(0x000001a3_0000_0000_c000_000000000046);
/// IID_IContext 000001c0-0000-0000-c000-000000000046 ([MS-DCOM] 1.9): the client context
/// marshaled in ActivationContextInfoData.
pub const IID_ICONTEXT: Uuid = Uuid::from_u128(0x000001c0_0000_0000_c000_000000000046);

/// CLSID_ActivationPropertiesIn 00000338-0000-0000-c000-000000000046 ([MS-DCOM] 1.9, 2.2.22).
pub const CLSID_ACTIVATION_PROPERTIES_IN: Uuid =
    Uuid::from_u128(0x00000338_0000_0000_c000_000000000046);
/// CLSID_ActivationPropertiesOut 00000339-0000-0000-c000-000000000046 ([MS-DCOM] 1.9, 2.2.22).
pub const CLSID_ACTIVATION_PROPERTIES_OUT: Uuid =
    Uuid::from_u128(0x00000339_0000_0000_c000_000000000046);
/// CLSID_ContextMarshaler 0000033b-0000-0000-c000-000000000046 ([MS-DCOM] 1.9).
pub const CLSID_CONTEXT_MARSHALER: Uuid = Uuid::from_u128(0x0000033b_0000_0000_c000_000000000046);
/// CLSID_ErrorObject 0000031b-0000-0000-c000-000000000046 ([MS-DCOM] 1.9).
pub const CLSID_ERROR_OBJECT: Uuid = Uuid::from_u128(0x0000031b_0000_0000_c000_000000000046);

/// CLSID_SpecialSystemProperties 000001b9-... ([MS-DCOM] 2.2.22.2.2, SpecialPropertiesData).
pub const CLSID_SPECIAL_SYSTEM_PROPERTIES: Uuid =
    Uuid::from_u128(0x000001b9_0000_0000_c000_000000000046);
/// CLSID_InstantiationInfo 000001ab-... ([MS-DCOM] 2.2.22.2.1, InstantiationInfoData).
pub const CLSID_INSTANTIATION_INFO: Uuid = Uuid::from_u128(0x000001ab_0000_0000_c000_000000000046);
/// CLSID_ActivationContextInfo 000001a5-... ([MS-DCOM] 2.2.22.2.5).
pub const CLSID_ACTIVATION_CONTEXT_INFO: Uuid =
    Uuid::from_u128(0x000001a5_0000_0000_c000_000000000046);
/// CLSID_SecurityInfo 000001a6-... ([MS-DCOM] 2.2.22.2.7, SecurityInfoData).
pub const CLSID_SECURITY_INFO: Uuid = Uuid::from_u128(0x000001a6_0000_0000_c000_000000000046);
/// CLSID_ServerLocationInfo 000001a4-... ([MS-DCOM] 2.2.22.2.6, LocationInfoData).
pub const CLSID_SERVER_LOCATION_INFO: Uuid =
    Uuid::from_u128(0x000001a4_0000_0000_c000_000000000046);
/// CLSID_ScmRequestInfo 000001aa-... ([MS-DCOM] 2.2.22.2.8, ScmRequestInfoData).
pub const CLSID_SCM_REQUEST_INFO: Uuid = Uuid::from_u128(0x000001aa_0000_0000_c000_000000000046);
/// CLSID_InstanceInfo 000001ad-... ([MS-DCOM] 2.2.22.2.3, InstanceInfoData).
pub const CLSID_INSTANCE_INFO: Uuid = Uuid::from_u128(0x000001ad_0000_0000_c000_000000000046);
/// CLSID_PropsOutInfo 00000339-... ([MS-DCOM] 2.2.22.2.9, PropsOutInfo); the same value as
/// CLSID_ActivationPropertiesOut.
pub const CLSID_PROPS_OUT_INFO: Uuid = Uuid::from_u128(0x00000339_0000_0000_c000_000000000046);
/// CLSID_ScmReplyInfo 000001b6-... ([MS-DCOM] 2.2.22.2.8, ScmReplyInfoData).
pub const CLSID_SCM_REPLY_INFO: Uuid = Uuid::from_u128(0x000001b6_0000_0000_c000_000000000046);

/// CLSID_WbemLevel1Login 8bc3f05e-d86b-11d0-a075-00c04fb68820 ([MS-WMI] 1.9): the class
/// activated to reach IWbemLevel1Login.
pub const CLSID_WBEM_LEVEL1_LOGIN: Uuid = Uuid::from_u128(0x8bc3f05e_d86b_11d0_a075_00c04fb68820);
/// CLSID_WbemClassObject 4590f812-1d3a-11d0-891f-00aa004b2e24 ([MS-WMI] 1.9): the class of
/// OBJREF_CUSTOM-marshaled CIM objects ([MS-WMIO]).
pub const CLSID_WBEM_CLASS_OBJECT: Uuid = Uuid::from_u128(0x4590f812_1d3a_11d0_891f_00aa004b2e24);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_text_forms() {
        assert_eq!(
            CLSID_WBEM_LEVEL1_LOGIN.to_string(),
            "8bc3f05e-d86b-11d0-a075-00c04fb68820"
        );
        assert_eq!(
            CLSID_WBEM_CLASS_OBJECT.to_string(),
            "4590f812-1d3a-11d0-891f-00aa004b2e24"
        );
        // Wire form (little-endian fields) as in Windows' activation request.
        assert_eq!(
            CLSID_WBEM_LEVEL1_LOGIN.to_bytes_le()[..4],
            [0x5e, 0xf0, 0xc3, 0x8b]
        );
    }
}
