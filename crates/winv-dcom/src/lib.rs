//! The DCOM wire layer ([MS-DCOM]): ORPC headers, OBJREF marshaling, remote activation,
//! IRemUnknown and IObjectExporter stubs. Encoding and decoding of both requests and
//! responses (for the WMI client and for the simulator of Windows hosts), no I/O.
//!
//! - [`orpc`]: `ORPCTHIS` / `ORPCTHAT` / `MInterfacePointer` / `HRESULT` ([MS-DCOM] 2.2.11-2.2.14).
//! - [`objref`]: `OBJREF`, `STDOBJREF`, `DUALSTRINGARRAY` ([MS-DCOM] 2.2.18, 2.2.19).
//! - [`activation`]: `IRemoteSCMActivator::RemoteCreateInstance` and the activation
//!   properties ([MS-DCOM] 2.2.22, 3.1.2.5.2.3.3).
//! - [`remunknown`]: `IRemUnknown` / `IRemUnknown2` ([MS-DCOM] 3.1.1.5.6, 3.1.1.5.7).
//! - [`oxid`]: `IObjectExporter` ([MS-DCOM] 3.1.2.5.1).
//! - [`clsid`]: CLSIDs and IIDs that are not RPC interfaces (those live in
//!   `winv_dcerpc::interfaces`).
//!
//! Built on `winv-ndr`. Decoders are total: malformed input gives a [`DcomError`], lengths
//! are checked against the remaining input before allocating, nothing recurses.

mod error;
mod fuzz;

pub mod activation;
pub mod clsid;
pub mod objref;
pub mod orpc;
pub mod oxid;
pub mod remunknown;

pub use activation::{
    decode_remote_create_instance_request, decode_remote_create_instance_response,
    encode_remote_create_instance_request, encode_remote_create_instance_response,
    ActivatedInterface, ActivationBlob, ActivationReply, ActivationRequest,
};
pub use error::{DcomError, Result};
pub use fuzz::fuzz_decode;
pub use objref::{DualStringArray, ObjRef, SecurityBinding, StdObjRef, StringBinding};
pub use orpc::{ComVersion, Hresult, MInterfacePointer, OrpcExtent, OrpcThat, OrpcThis};
