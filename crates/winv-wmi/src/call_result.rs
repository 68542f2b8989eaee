//! `IWbemCallResult` ([MS-WMI] 3.1.4.5): the result of a semisynchronous call.
//!
//! Interface UUID: [`winv_dcerpc::interfaces::IWBEMCALLRESULT`].

use crate::bstr::Bstr;
use crate::stub::params;
use winv_dcom::{Hresult, MInterfacePointer, OrpcThat, OrpcThis};

/// Opnums of `IWbemCallResult` ([MS-WMI] 3.1.4.5, "Methods in RPC Opnum Order").
pub mod opnums {
    /// `GetResultObject` ([MS-WMI] 3.1.4.5.1).
    pub const GET_RESULT_OBJECT: u16 = 3;
    /// `GetResultString` ([MS-WMI] 3.1.4.5.2).
    pub const GET_RESULT_STRING: u16 = 4;
    /// `GetResultServices` ([MS-WMI] 3.1.4.5.3).
    pub const GET_RESULT_SERVICES: u16 = 5;
    /// `GetCallStatus` ([MS-WMI] 3.1.4.5.4).
    pub const GET_CALL_STATUS: u16 = 6;
}

params! {
    /// The request of every `IWbemCallResult` method ([MS-WMI] 3.1.4.5.1 - 3.1.4.5.4):
    /// `[in] long lTimeout`. Send it with the opnum of the method wanted.
    pub struct CallResultRequest {
        /// `ORPCTHIS` ([MS-DCOM] 2.2.13.1).
        pub this: OrpcThis,
        /// `lTimeout`.
        pub timeout: i32,
    }
}

params! {
    /// `IWbemCallResult::GetResultObject` response ([MS-WMI] 3.1.4.5.1):
    /// `[out] IWbemClassObject** ppResultObject`, then the HRESULT.
    pub struct GetResultObjectResponse {
        /// `ORPCTHAT` ([MS-DCOM] 2.2.13.3).
        pub that: OrpcThat,
        /// `ppResultObject`.
        pub object: Option<MInterfacePointer>,
        /// The method's return value.
        pub hresult: Hresult,
    }
}

params! {
    /// `IWbemCallResult::GetResultString` response ([MS-WMI] 3.1.4.5.2):
    /// `[out] BSTR* pstrResultString`, then the HRESULT.
    pub struct GetResultStringResponse {
        /// `ORPCTHAT`.
        pub that: OrpcThat,
        /// `pstrResultString`.
        pub result: Bstr,
        /// The method's return value.
        pub hresult: Hresult,
    }
}

params! {
    /// `IWbemCallResult::GetResultServices` response ([MS-WMI] 3.1.4.5.3):
    /// `[out] IWbemServices** ppServices`, then the HRESULT.
    pub struct GetResultServicesResponse {
        /// `ORPCTHAT`.
        pub that: OrpcThat,
        /// `ppServices`.
        pub services: Option<MInterfacePointer>,
        /// The method's return value.
        pub hresult: Hresult,
    }
}

params! {
    /// `IWbemCallResult::GetCallStatus` response ([MS-WMI] 3.1.4.5.4):
    /// `[out] long* plStatus`, then the HRESULT.
    pub struct GetCallStatusResponse {
        /// `ORPCTHAT`.
        pub that: OrpcThat,
        /// `plStatus`: the final status of the call.
        pub status: i32,
        /// The method's return value.
        pub hresult: Hresult,
    }
}
