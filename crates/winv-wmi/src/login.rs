//! `IWbemLevel1Login` ([MS-WMI] 3.1.4.1) and `IWbemLoginClientID` ([MS-WMI] 3.1.4.8).
//!
//! Interface UUIDs: [`winv_dcerpc::interfaces::IWBEMLEVEL1LOGIN`],
//! [`winv_dcerpc::interfaces::IWBEMLOGINCLIENTID`].

use crate::stub::{opnum, params};
use winv_dcom::{Hresult, MInterfacePointer, OrpcThat, OrpcThis};
use winv_ndr::{ConformantVaryingArray, WString};

/// Opnums of `IWbemLevel1Login` ([MS-WMI] 3.1.4.1, "Methods in RPC Opnum Order").
pub mod opnums {
    /// `EstablishPosition` ([MS-WMI] 3.1.4.1.1).
    pub const ESTABLISH_POSITION: u16 = 3;
    /// `RequestChallenge` ([MS-WMI] 3.1.4.1.2).
    pub const REQUEST_CHALLENGE: u16 = 4;
    /// `WBEMLogin` ([MS-WMI] 3.1.4.1.3).
    pub const WBEM_LOGIN: u16 = 5;
    /// `NTLMLogin` ([MS-WMI] 3.1.4.1.4).
    pub const NTLM_LOGIN: u16 = 6;
    /// `IWbemLoginClientID::SetClientInfo` ([MS-WMI] 3.1.4.8.1).
    pub const SET_CLIENT_INFO: u16 = 3;
}

params! {
    /// `IWbemLevel1Login::EstablishPosition` request ([MS-WMI] 3.1.4.1.1):
    /// `[in, unique, string] wchar_t* reserved1, [in] DWORD reserved2`.
    /// Windows clients send a null `reserved1` and 0.
    pub struct EstablishPositionRequest {
        /// `ORPCTHIS` ([MS-DCOM] 2.2.13.1).
        pub this: OrpcThis,
        /// `reserved1`.
        pub reserved1: WString,
        /// `reserved2`.
        pub reserved2: u32,
    }
}

params! {
    /// `IWbemLevel1Login::EstablishPosition` response ([MS-WMI] 3.1.4.1.1):
    /// `[out] DWORD* LocaleVersion`, then the HRESULT. A real Windows server answers `S_OK`
    /// with `LocaleVersion` 1 (frame 44 of the fixture capture).
    pub struct EstablishPositionResponse {
        /// `ORPCTHAT` ([MS-DCOM] 2.2.13.3).
        pub that: OrpcThat,
        /// `LocaleVersion`.
        pub locale_version: u32,
        /// The method's return value.
        pub hresult: Hresult,
    }
}

params! {
    /// `IWbemLevel1Login::RequestChallenge` request ([MS-WMI] 3.1.4.1.2):
    /// `[in, unique, string] wchar_t* reserved1, [in, unique, string] wchar_t* reserved2`.
    pub struct RequestChallengeRequest {
        /// `ORPCTHIS`.
        pub this: OrpcThis,
        /// `reserved1` (null when sent).
        pub reserved1: WString,
        /// `reserved2` (null when sent).
        pub reserved2: WString,
    }
}

params! {
    /// `IWbemLevel1Login::RequestChallenge` response ([MS-WMI] 3.1.4.1.2):
    /// `[out, size_is(16), length_is(16)] unsigned char* reserved3`, then the HRESULT
    /// (`WBEM_E_NOT_SUPPORTED` from Windows).
    pub struct RequestChallengeResponse {
        /// `ORPCTHAT`.
        pub that: OrpcThat,
        /// `reserved3`, a conformant varying byte array.
        pub reserved3: ConformantVaryingArray<u8>,
        /// The method's return value.
        pub hresult: Hresult,
    }
}

params! {
    /// `IWbemLevel1Login::WBEMLogin` request ([MS-WMI] 3.1.4.1.3):
    /// `[in, unique, string] wchar_t* reserved1,
    /// [in, unique, size_is(16), length_is(16)] unsigned char* reserved2,
    /// [in] long reserved3, [in] IWbemContext* reserved4`.
    pub struct WbemLoginRequest {
        /// `ORPCTHIS`.
        pub this: OrpcThis,
        /// `reserved1`.
        pub reserved1: WString,
        /// `reserved2`.
        pub reserved2: Option<ConformantVaryingArray<u8>>,
        /// `reserved3`.
        pub reserved3: i32,
        /// `reserved4` (an `IWbemContext` interface pointer).
        pub reserved4: Option<MInterfacePointer>,
    }
}

params! {
    /// `IWbemLevel1Login::WBEMLogin` response ([MS-WMI] 3.1.4.1.3):
    /// `[out] IWbemServices** reserved5`, then the HRESULT (`WBEM_E_NOT_SUPPORTED`).
    pub struct WbemLoginResponse {
        /// `ORPCTHAT`.
        pub that: OrpcThat,
        /// `reserved5`.
        pub reserved5: Option<MInterfacePointer>,
        /// The method's return value.
        pub hresult: Hresult,
    }
}

params! {
    /// `IWbemLevel1Login::NTLMLogin` request ([MS-WMI] 3.1.4.1.4):
    /// `[in, unique, string] LPWSTR wszNetworkResource, [in, unique, string] LPWSTR
    /// wszPreferredLocale, [in] long lFlags, [in] IWbemContext* pCtx`.
    ///
    /// Windows sends the namespace as `\\SERVER\ROOT\CIMV2` (the server's address as
    /// the client named it) and the locale list as `ms_409,en-US,en`.
    pub struct NtlmLoginRequest {
        /// `ORPCTHIS`.
        pub this: OrpcThis,
        /// `wszNetworkResource`: the namespace to log on to.
        pub network_resource: WString,
        /// `wszPreferredLocale`.
        pub preferred_locale: WString,
        /// `lFlags` (0).
        pub flags: i32,
        /// `pCtx`: an `IWbemContext` interface pointer, usually null.
        pub ctx: Option<MInterfacePointer>,
    }
}

impl NtlmLoginRequest {
    /// A request for `namespace` with no locale and no context.
    pub fn new(this: OrpcThis, namespace: &str) -> Self {
        Self {
            this,
            network_resource: WString::from(namespace),
            preferred_locale: WString::null(),
            flags: 0,
            ctx: None,
        }
    }
}

params! {
    /// `IWbemLevel1Login::NTLMLogin` response ([MS-WMI] 3.1.4.1.4):
    /// `[out] IWbemServices** ppNamespace`, then the HRESULT.
    pub struct NtlmLoginResponse {
        /// `ORPCTHAT`.
        pub that: OrpcThat,
        /// `ppNamespace`: an OBJREF of `IWbemServices`.
        pub namespace: Option<MInterfacePointer>,
        /// The method's return value.
        pub hresult: Hresult,
    }
}

params! {
    /// `IWbemLoginClientID::SetClientInfo` request ([MS-WMI] 3.1.4.8.1):
    /// `[in, unique, string] LPWSTR wszClientMachine, [in] long lClientProcId,
    /// [in] long lReserved`.
    pub struct SetClientInfoRequest {
        /// `ORPCTHIS`.
        pub this: OrpcThis,
        /// `wszClientMachine`.
        pub client_machine: WString,
        /// `lClientProcId`.
        pub client_proc_id: i32,
        /// `lReserved` (0).
        pub reserved: i32,
    }
}

params! {
    /// `IWbemLoginClientID::SetClientInfo` response ([MS-WMI] 3.1.4.8.1): the HRESULT.
    pub struct SetClientInfoResponse {
        /// `ORPCTHAT`.
        pub that: OrpcThat,
        /// The method's return value.
        pub hresult: Hresult,
    }
}

opnum! {
    EstablishPositionRequest = opnums::ESTABLISH_POSITION,
    RequestChallengeRequest = opnums::REQUEST_CHALLENGE,
    WbemLoginRequest = opnums::WBEM_LOGIN,
    NtlmLoginRequest = opnums::NTLM_LOGIN,
    SetClientInfoRequest = opnums::SET_CLIENT_INFO,
}
