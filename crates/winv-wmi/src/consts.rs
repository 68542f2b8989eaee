//! WBEM flag and status values that clients and the simulator put on the wire
//! ([MS-WMI] 2.2.6 - 2.2.13, 2.2.11). Names of status codes for display belong to the
//! knowledge base, not here.

use winv_dcom::Hresult;

/// `WBEM_FLAG_RETURN_WBEM_COMPLETE` ([MS-WMI] 2.2.6): synchronous operation (the default).
pub const WBEM_FLAG_RETURN_WBEM_COMPLETE: i32 = 0x0;
/// `WBEM_FLAG_RETURN_IMMEDIATELY` ([MS-WMI] 2.2.6): semisynchronous operation.
pub const WBEM_FLAG_RETURN_IMMEDIATELY: i32 = 0x10;
/// `WBEM_FLAG_FORWARD_ONLY` ([MS-WMI] 2.2.6): a forward-only enumerator (no Reset/Clone).
pub const WBEM_FLAG_FORWARD_ONLY: i32 = 0x20;
/// `WBEM_FLAG_NO_ERROR_OBJECT` ([MS-WMI] 2.2.6): must not be set.
pub const WBEM_FLAG_NO_ERROR_OBJECT: i32 = 0x40;
/// `WBEM_FLAG_SEND_STATUS` ([MS-WMI] 2.2.6).
pub const WBEM_FLAG_SEND_STATUS: i32 = 0x80;
/// `WBEM_FLAG_ENSURE_LOCATABLE` ([MS-WMI] 2.2.6).
pub const WBEM_FLAG_ENSURE_LOCATABLE: i32 = 0x100;
/// `WBEM_FLAG_DIRECT_READ` ([MS-WMI] 2.2.6).
pub const WBEM_FLAG_DIRECT_READ: i32 = 0x200;
/// `WBEM_FLAG_USE_AMENDED_QUALIFIERS` ([MS-WMI] 2.2.6).
pub const WBEM_FLAG_USE_AMENDED_QUALIFIERS: i32 = 0x20000;
/// `WBEM_FLAG_STRONG_VALIDATION` ([MS-WMI] 2.2.6).
pub const WBEM_FLAG_STRONG_VALIDATION: i32 = 0x100000;
/// `WBEM_FLAG_PROTOTYPE` ([MS-WMI] 2.2.8, `WBEM_QUERY_FLAG_TYPE`): return the class of the
/// result set instead of the results.
pub const WBEM_FLAG_PROTOTYPE: i32 = 0x2;
/// `WBEM_FLAG_DEEP` ([MS-WMI] 2.2.8).
pub const WBEM_FLAG_DEEP: i32 = 0x0;
/// `WBEM_FLAG_SHALLOW` ([MS-WMI] 2.2.8).
pub const WBEM_FLAG_SHALLOW: i32 = 0x1;
/// `WBEM_FLAG_CONNECT_REPOSITORY_ONLY` ([MS-WMI] 2.2.9, `WBEM_CONNECT_OPTIONS`).
pub const WBEM_FLAG_CONNECT_REPOSITORY_ONLY: i32 = 0x40;

/// The `lFlags` that Windows tools and impacket-style clients send with `ExecQuery`:
/// `WBEM_FLAG_RETURN_IMMEDIATELY | WBEM_FLAG_FORWARD_ONLY` ([MS-WMI] 3.1.4.3.18).
pub const EXEC_QUERY_DEFAULT_FLAGS: i32 = WBEM_FLAG_RETURN_IMMEDIATELY | WBEM_FLAG_FORWARD_ONLY;

/// `WBEM_INFINITE` ([MS-WMI] 2.2.13 `WBEM_TIMEOUT_TYPE`): no timeout, as a `long lTimeout`.
pub const WBEM_INFINITE: i32 = -1;
/// `WBEM_NO_WAIT` ([MS-WMI] 2.2.13): return at once.
pub const WBEM_NO_WAIT: i32 = 0;

/// `WBEM_S_NO_ERROR` ([MS-WMI] 2.2.11).
pub const WBEM_S_NO_ERROR: Hresult = Hresult(0);
/// `WBEM_S_FALSE` ([MS-WMI] 2.2.11): fewer objects than requested (end of the enumeration).
pub const WBEM_S_FALSE: Hresult = Hresult(1);
/// `WBEM_S_TIMEDOUT` ([MS-WMI] 2.2.11): the timeout elapsed before all objects were ready.
pub const WBEM_S_TIMEDOUT: Hresult = Hresult(0x0004_0004);
/// `WBEM_S_NO_MORE_DATA` ([MS-WMI] 2.2.11).
pub const WBEM_S_NO_MORE_DATA: Hresult = Hresult(0x0004_0005);
/// `WBEM_E_NOT_SUPPORTED` ([MS-WMI] 2.2.11): what `EstablishPosition`-era login methods
/// `RequestChallenge` and `WBEMLogin` return ([MS-WMI] 3.1.4.1.2, 3.1.4.1.3).
pub const WBEM_E_NOT_SUPPORTED: Hresult = Hresult(0x8004_100C);

// The WBEM failure codes of [MS-WMI] 2.2.11 that the inventory meets. Their names and
// meanings for people are in `winv-kb`; these are the values, defined once.

/// `WBEM_E_FAILED`: unspecified error.
pub const WBEM_E_FAILED: Hresult = Hresult(0x8004_1001);
/// `WBEM_E_NOT_FOUND`: the object (or namespace) does not exist.
pub const WBEM_E_NOT_FOUND: Hresult = Hresult(0x8004_1002);
/// `WBEM_E_ACCESS_DENIED`: the namespace or object refused the caller.
pub const WBEM_E_ACCESS_DENIED: Hresult = Hresult(0x8004_1003);
/// `WBEM_E_PROVIDER_FAILURE`: the provider failed.
pub const WBEM_E_PROVIDER_FAILURE: Hresult = Hresult(0x8004_1004);
/// `WBEM_E_INVALID_PARAMETER`.
pub const WBEM_E_INVALID_PARAMETER: Hresult = Hresult(0x8004_1008);
/// `WBEM_E_INVALID_NAMESPACE`.
pub const WBEM_E_INVALID_NAMESPACE: Hresult = Hresult(0x8004_100E);
/// `WBEM_E_INVALID_CLASS`.
pub const WBEM_E_INVALID_CLASS: Hresult = Hresult(0x8004_1010);
/// `WBEM_E_PROVIDER_LOAD_FAILURE`.
pub const WBEM_E_PROVIDER_LOAD_FAILURE: Hresult = Hresult(0x8004_1013);
/// `WBEM_E_INVALID_QUERY`.
pub const WBEM_E_INVALID_QUERY: Hresult = Hresult(0x8004_1017);
/// `WBEM_E_INVALID_QUERY_TYPE`.
pub const WBEM_E_INVALID_QUERY_TYPE: Hresult = Hresult(0x8004_1018);
/// `WBEM_E_INVALID_METHOD`.
pub const WBEM_E_INVALID_METHOD: Hresult = Hresult(0x8004_102E);
/// `WBEM_E_INVALID_METHOD_PARAMETERS`.
pub const WBEM_E_INVALID_METHOD_PARAMETERS: Hresult = Hresult(0x8004_102F);
/// `WBEM_E_SHUTTING_DOWN`.
pub const WBEM_E_SHUTTING_DOWN: Hresult = Hresult(0x8004_1033);
/// `WBEM_E_ENCRYPTED_CONNECTION_REQUIRED`: the namespace requires packet privacy.
pub const WBEM_E_ENCRYPTED_CONNECTION_REQUIRED: Hresult = Hresult(0x8004_1087);
