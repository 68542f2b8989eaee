//! Typed errors of the MS-WMI stubs.

use winv_dcom::DcomError;
use winv_ndr::NdrError;

/// An error while encoding or decoding the parameters of a WMI method ([MS-WMI] 3.1.4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WmiError {
    /// The NDR layer failed (truncated input, bad counts, bad strings, trailing bytes).
    #[error("ndr: {0}")]
    Ndr(#[from] NdrError),
    /// The DCOM layer failed (ORPC headers, OBJREF).
    #[error("dcom: {0}")]
    Dcom(#[from] DcomError),
    /// A value read from the wire is not valid for its parameter.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// An object reference is not the custom-marshaled `IWbemClassObject` of [MS-WMI] 2.2.4.
    #[error("not a wbem class object: {0}")]
    NotClassObject(&'static str),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, WmiError>;
