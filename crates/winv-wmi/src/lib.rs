//! Method stubs of the Windows Management Instrumentation Remote Protocol ([MS-WMI] 3.1.4):
//! the NDR encoding of the request and response parameters of the WMI DCOM interfaces,
//! in both directions, so that winventory's WMI client and its simulator of Windows hosts
//! share one implementation. No I/O.
//!
//! # Model
//!
//! - Every method has a `...Request` structure (the `[in]` parameters after `ORPCTHIS`)
//!   and a `...Response` structure (`ORPCTHAT`, the `[out]` parameters, the HRESULT), each
//!   with `encode(&self) -> Result<Vec<u8>>` and `decode(&[u8]) -> Result<Self>` over the
//!   stub data of one DCE/RPC request or response. Requests carry `OPNUM`; the opnums of
//!   each interface are also in its module's `opnums`.
//! - Interface pointers (`IWbemServices*`, `IWbemClassObject*`, ...) are
//!   `Option<MInterfacePointer>` (a `[unique]` pointer to the marshaled OBJREF);
//!   `[in, out, unique] X**` slots are `Option<Option<MInterfacePointer>>`.
//! - Strings: `BSTR` is [`Bstr`] ([MS-OAUT] 2.2.23), `[string, unique] wchar_t*` is
//!   [`winv_ndr::WString`].
//! - [`marshal`] unwraps and wraps the MS-WMIO EncodingUnit of an `IWbemClassObject`
//!   ([MS-WMI] 2.2.4); the content of objects and of the smart enumerator's ObjectArray
//!   ([MS-WMI] 2.2.14) is decoded by the WMIO layer, not here.
//! - Interface UUIDs come from [`winv_dcerpc::interfaces`] (`IWBEMLEVEL1LOGIN`,
//!   `IWBEMSERVICES`, `IENUMWBEMCLASSOBJECT`, `IWBEMFETCHSMARTENUM`, `IWBEMWCOSMARTENUM`,
//!   `IWBEMCALLRESULT`, `IWBEMLOGINCLIENTID`).
//!
//! Decoders are total: malformed input or trailing bytes give a [`WmiError`].
//!
//! # Example
//!
//! ```
//! use winv_wmi::{ExecQueryRequest, ExecQueryResponse, Hresult, OrpcThat, OrpcThis};
//! use winv_ndr::Uuid;
//!
//! # fn main() -> Result<(), winv_wmi::WmiError> {
//! let req = ExecQueryRequest::wql(OrpcThis::new(Uuid::nil()), "SELECT * FROM Win32_BIOS");
//! assert_eq!(ExecQueryRequest::OPNUM, 20);
//! let stub = req.encode()?;
//! let seen = ExecQueryRequest::decode(&stub)?; // the simulator's side
//! assert_eq!(seen.query.text(), Some("SELECT * FROM Win32_BIOS"));
//!
//! let reply = ExecQueryResponse { that: OrpcThat::default(), enumerator: None, hresult: Hresult(0x8004_1010) };
//! let back = ExecQueryResponse::decode(&reply.encode()?)?;
//! assert!(!back.hresult.is_success());
//! # Ok(())
//! # }
//! ```

mod bstr;
pub mod call_result;
pub mod consts;
pub mod enumerator;
mod error;
mod fuzz;
pub mod login;
pub mod marshal;
pub mod services;
mod stub;

pub use bstr::{Bstr, NULL_BSTR_CBYTES};
pub use call_result::{
    CallResultRequest, GetCallStatusResponse, GetResultObjectResponse, GetResultServicesResponse,
    GetResultStringResponse,
};
pub use enumerator::{
    EnumCloneRequest, EnumCloneResponse, EnumNextAsyncRequest, EnumNextRequest, EnumNextResponse,
    EnumResetRequest, EnumSkipRequest, GetSmartEnumRequest, GetSmartEnumResponse, HresultResponse,
    SmartEnumNextRequest, SmartEnumNextResponse,
};
pub use error::{Result, WmiError};
pub use fuzz::fuzz_decode;
pub use login::{
    EstablishPositionRequest, EstablishPositionResponse, NtlmLoginRequest, NtlmLoginResponse,
    RequestChallengeRequest, RequestChallengeResponse, SetClientInfoRequest, SetClientInfoResponse,
    WbemLoginRequest, WbemLoginResponse,
};
pub use services::{
    ExecMethodRequest, ExecMethodResponse, ExecQueryRequest, ExecQueryResponse, GetObjectRequest,
    GetObjectResponse, OpenNamespaceRequest, OpenNamespaceResponse,
};
pub use winv_dcom::{Hresult, MInterfacePointer, OrpcThat, OrpcThis};

#[cfg(test)]
mod tests;
