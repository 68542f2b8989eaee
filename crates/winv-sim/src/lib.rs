//! Simulated Windows hosts, the pure half: WMI class definitions and per-host instances
//! generated deterministically from a seed and an OS profile, a registry tree with the
//! `StdRegProv` method semantics, a WQL subset, and the fleet description with its faults.
//!
//! The modules above are pure (no I/O, no clocks); [`server`] serves them over TCP with
//! tokio, applying the faults.
//!
//! - [`data`]: classes ([`data::classes`]), OS profiles ([`data::profile`]), per-host data
//!   ([`data::host`]).
//! - [`registry`]: hives, keys and typed values.
//! - [`stdregprov`]: `StdRegProv` methods as a pure function over a [`registry::Registry`].
//! - [`wql`]: parser and evaluator of the WQL subset.
//! - [`fleet`]: the fleet file (TOML) and the fault model.

pub mod data;
pub mod fleet;
pub mod registry;
pub mod rng;
pub mod stdregprov;
pub mod wql;
pub mod server;

/// The WMI and Win32 status codes the simulator answers with, as plain `u32`s: each value is
/// defined once by its owner (`winv_wmi::consts` for WBEM, `winv_dcom::Hresult` for COM,
/// `winv_dcerpc::status` for RPC and Win32) and only re-typed here.
pub mod codes {
    use winv_dcerpc::status as st;
    use winv_dcom::Hresult;
    use winv_wmi::consts as wbem;

    /// `WBEM_E_FAILED` ([MS-WMI] 2.2.11).
    pub const WBEM_E_FAILED: u32 = wbem::WBEM_E_FAILED.0;
    /// `WBEM_E_NOT_FOUND` ([MS-WMI] 2.2.11).
    pub const WBEM_E_NOT_FOUND: u32 = wbem::WBEM_E_NOT_FOUND.0;
    /// `WBEM_E_ACCESS_DENIED` ([MS-WMI] 2.2.11).
    pub const WBEM_E_ACCESS_DENIED: u32 = wbem::WBEM_E_ACCESS_DENIED.0;
    /// `WBEM_E_PROVIDER_FAILURE` ([MS-WMI] 2.2.11).
    pub const WBEM_E_PROVIDER_FAILURE: u32 = wbem::WBEM_E_PROVIDER_FAILURE.0;
    /// `WBEM_E_INVALID_PARAMETER` ([MS-WMI] 2.2.11).
    pub const WBEM_E_INVALID_PARAMETER: u32 = wbem::WBEM_E_INVALID_PARAMETER.0;
    /// `WBEM_E_INVALID_NAMESPACE` ([MS-WMI] 2.2.11).
    pub const WBEM_E_INVALID_NAMESPACE: u32 = wbem::WBEM_E_INVALID_NAMESPACE.0;
    /// `WBEM_E_INVALID_CLASS` ([MS-WMI] 2.2.11).
    pub const WBEM_E_INVALID_CLASS: u32 = wbem::WBEM_E_INVALID_CLASS.0;
    /// `WBEM_E_PROVIDER_LOAD_FAILURE` ([MS-WMI] 2.2.11).
    pub const WBEM_E_PROVIDER_LOAD_FAILURE: u32 = wbem::WBEM_E_PROVIDER_LOAD_FAILURE.0;
    /// `WBEM_E_INVALID_QUERY` ([MS-WMI] 2.2.11).
    pub const WBEM_E_INVALID_QUERY: u32 = wbem::WBEM_E_INVALID_QUERY.0;
    /// `WBEM_E_INVALID_QUERY_TYPE` ([MS-WMI] 2.2.11).
    pub const WBEM_E_INVALID_QUERY_TYPE: u32 = wbem::WBEM_E_INVALID_QUERY_TYPE.0;
    /// `WBEM_E_INVALID_METHOD` ([MS-WMI] 2.2.11).
    pub const WBEM_E_INVALID_METHOD: u32 = wbem::WBEM_E_INVALID_METHOD.0;
    /// `WBEM_E_INVALID_METHOD_PARAMETERS` ([MS-WMI] 2.2.11).
    pub const WBEM_E_INVALID_METHOD_PARAMETERS: u32 = wbem::WBEM_E_INVALID_METHOD_PARAMETERS.0;
    /// `WBEM_E_SHUTTING_DOWN` ([MS-WMI] 2.2.11).
    pub const WBEM_E_SHUTTING_DOWN: u32 = wbem::WBEM_E_SHUTTING_DOWN.0;
    /// `WBEM_E_ENCRYPTED_CONNECTION_REQUIRED` ([MS-WMI] 2.2.11).
    pub const WBEM_E_ENCRYPTED_CONNECTION_REQUIRED: u32 = wbem::WBEM_E_ENCRYPTED_CONNECTION_REQUIRED.0;
    /// `E_ACCESSDENIED` ([MS-ERREF] 2.1.1).
    pub const E_ACCESSDENIED: u32 = Hresult::E_ACCESSDENIED.0;
    /// `RPC_S_SERVER_UNAVAILABLE` as an HRESULT ([MS-ERREF] 2.2).
    pub const HRESULT_RPC_S_SERVER_UNAVAILABLE: u32 =
        Hresult::from_win32(st::RPC_S_SERVER_UNAVAILABLE).0;
    /// `RPC_S_CALL_FAILED` ([MS-ERREF] 2.2), sent as a fault status.
    pub const RPC_S_CALL_FAILED: u32 = st::RPC_S_CALL_FAILED;
    /// `RPC_S_CALL_CANCELLED` ([MS-ERREF] 2.2), sent as a fault status.
    pub const RPC_S_CALL_CANCELLED: u32 = st::RPC_S_CALL_CANCELLED;
    /// `ERROR_SHUTDOWN_IN_PROGRESS` ([MS-ERREF] 2.2).
    pub const ERROR_SHUTDOWN_IN_PROGRESS: u32 = st::ERROR_SHUTDOWN_IN_PROGRESS;
    /// `ERROR_SHUTDOWN_IN_PROGRESS` as an HRESULT (`HRESULT_FROM_WIN32`), what activation
    /// answers on a host that is shutting down.
    pub const HRESULT_SHUTDOWN_IN_PROGRESS: u32 =
        Hresult::from_win32(st::ERROR_SHUTDOWN_IN_PROGRESS).0;
    /// `RPC_S_ACCESS_DENIED`/`ERROR_ACCESS_DENIED` as an RPC fault ([MS-ERREF] 2.2).
    pub const ERROR_ACCESS_DENIED: u32 = st::ERROR_ACCESS_DENIED;
}
