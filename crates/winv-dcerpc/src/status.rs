//! Fault and reject status codes with their symbolic names: the `nca_s_*`
//! codes of [C706] appendix E (also [MS-RPCE] 2.2.2.x), the Win32 / RPC_S_*
//! values Windows servers put in fault PDUs ([MS-ERREF] 2.2), and the bind_nak
//! reject reasons of [C706] 12.6.3.1 and [MS-RPCE] 2.2.2.5.

/// Win32 `ERROR_ACCESS_DENIED` ([MS-ERREF] 2.2), also `rpc_s_access_denied`: what Windows
/// puts in a fault for a refused logon, and a `StdRegProv` `ReturnValue` for a denied key.
pub const ERROR_ACCESS_DENIED: u32 = 0x0000_0005;
/// Win32 `ERROR_FILE_NOT_FOUND` ([MS-ERREF] 2.2): a `StdRegProv` `ReturnValue` for a key
/// that does not exist.
pub const ERROR_FILE_NOT_FOUND: u32 = 0x0000_0002;
/// Win32 `ERROR_SHUTDOWN_IN_PROGRESS` ([MS-ERREF] 2.2).
pub const ERROR_SHUTDOWN_IN_PROGRESS: u32 = 0x0000_045b;
/// `RPC_S_UNKNOWN_IF` ([MS-ERREF] 2.2): the interface is not registered.
pub const RPC_S_UNKNOWN_IF: u32 = 0x0000_06b5;
/// `RPC_S_SERVER_UNAVAILABLE` ([MS-ERREF] 2.2).
pub const RPC_S_SERVER_UNAVAILABLE: u32 = 0x0000_06ba;
/// `RPC_S_CALL_FAILED` ([MS-ERREF] 2.2): the call failed after it started.
pub const RPC_S_CALL_FAILED: u32 = 0x0000_06be;
/// `RPC_S_CALL_CANCELLED` ([MS-ERREF] 2.2).
pub const RPC_S_CALL_CANCELLED: u32 = 0x0000_071a;
/// `nca_s_op_rng_error` ([C706] appendix E): the opnum is out of range.
pub const NCA_S_OP_RNG_ERROR: u32 = 0x1c01_0002;
/// `nca_s_unk_if` ([C706] appendix E): the interface is unknown.
pub const NCA_S_UNK_IF: u32 = 0x1c01_0003;
/// `nca_s_proto_error` ([C706] appendix E): a protocol error (what Samba answers after a
/// failed auth3).
pub const NCA_S_PROTO_ERROR: u32 = 0x1c01_000b;

/// Symbolic name of a fault or reject status carried by a fault PDU
/// ([C706] appendix E, [MS-RPCE] 2.2.2.x, [MS-ERREF] 2.2), `None` when unknown.
pub fn status_name(status: u32) -> Option<&'static str> {
    Some(match status {
        // [C706] appendix E, table E-2/E-3 (reject and fault status).
        0x1c01_0001 => "nca_s_comm_failure",
        NCA_S_OP_RNG_ERROR => "nca_s_op_rng_error",
        NCA_S_UNK_IF => "nca_s_unk_if",
        0x1c01_0006 => "nca_s_wrong_boot_time",
        0x1c01_0009 => "nca_s_you_crashed",
        NCA_S_PROTO_ERROR => "nca_s_proto_error",
        0x1c01_0013 => "nca_s_out_args_too_big",
        0x1c01_0014 => "nca_s_server_too_busy",
        0x1c01_0015 => "nca_s_fault_string_too_long",
        0x1c01_0017 => "nca_s_unsupported_type",
        0x1c00_0001 => "nca_s_fault_int_div_by_zero",
        0x1c00_0002 => "nca_s_fault_addr_error",
        0x1c00_0003 => "nca_s_fault_fp_div_zero",
        0x1c00_0004 => "nca_s_fault_fp_underflow",
        0x1c00_0005 => "nca_s_fault_fp_overflow",
        0x1c00_0006 => "nca_s_fault_invalid_tag",
        0x1c00_0007 => "nca_s_fault_invalid_bound",
        0x1c00_0008 => "nca_s_rpc_version_mismatch",
        0x1c00_0009 => "nca_s_unspec_reject",
        0x1c00_000a => "nca_s_bad_actid",
        0x1c00_000b => "nca_s_who_are_you_failed",
        0x1c00_000c => "nca_s_manager_not_entered",
        0x1c00_000d => "nca_s_fault_cancel",
        0x1c00_000e => "nca_s_fault_ill_inst",
        0x1c00_000f => "nca_s_fault_fp_error",
        0x1c00_0010 => "nca_s_fault_int_overflow",
        0x1c00_0012 => "nca_s_fault_unspec",
        0x1c00_0013 => "nca_s_fault_remote_comm_failure",
        0x1c00_0014 => "nca_s_fault_pipe_empty",
        0x1c00_0015 => "nca_s_fault_pipe_closed",
        0x1c00_0016 => "nca_s_fault_pipe_order",
        0x1c00_0017 => "nca_s_fault_pipe_discipline",
        0x1c00_0018 => "nca_s_fault_pipe_comm_error",
        0x1c00_0019 => "nca_s_fault_pipe_memory",
        0x1c00_001a => "nca_s_fault_context_mismatch",
        0x1c00_001b => "nca_s_fault_remote_no_memory",
        0x1c00_001c => "nca_s_invalid_pres_context_id",
        0x1c00_001d => "nca_s_unsupported_authn_level",
        0x1c00_001f => "nca_s_invalid_checksum",
        0x1c00_0020 => "nca_s_invalid_crc",
        0x1c00_0021 => "nca_s_fault_user_defined",
        0x1c00_0022 => "nca_s_fault_tx_open_failed",
        0x1c00_0023 => "nca_s_fault_codeset_conv_error",
        0x1c00_0024 => "nca_s_fault_object_not_found",
        0x1c00_0025 => "nca_s_fault_no_client_stub",
        // Win32 errors Windows RPC puts in faults ([MS-ERREF] 2.2).
        ERROR_ACCESS_DENIED => "ERROR_ACCESS_DENIED",
        0x0000_0006 => "ERROR_INVALID_HANDLE",
        0x0000_0008 => "ERROR_NOT_ENOUGH_MEMORY",
        0x0000_0057 => "ERROR_INVALID_PARAMETER",
        0x0000_06a6 => "RPC_S_INVALID_BINDING",
        RPC_S_UNKNOWN_IF => "RPC_S_UNKNOWN_IF",
        RPC_S_SERVER_UNAVAILABLE => "RPC_S_SERVER_UNAVAILABLE",
        0x0000_06bb => "RPC_S_SERVER_TOO_BUSY",
        RPC_S_CALL_FAILED => "RPC_S_CALL_FAILED",
        0x0000_06bf => "RPC_S_CALL_FAILED_DNE",
        0x0000_06c0 => "RPC_S_PROTOCOL_ERROR",
        0x0000_06c2 => "RPC_S_UNSUPPORTED_TRANS_SYN",
        0x0000_06c6 => "RPC_S_INVALID_BOUND",
        0x0000_06d1 => "RPC_S_PROCNUM_OUT_OF_RANGE",
        0x0000_06d9 => "EPT_S_NOT_REGISTERED",
        0x0000_06e4 => "RPC_S_CANNOT_SUPPORT",
        0x0000_06f4 => "RPC_X_NULL_REF_POINTER",
        0x0000_06f7 => "RPC_X_BAD_STUB_DATA",
        RPC_S_CALL_CANCELLED => "RPC_S_CALL_CANCELLED",
        0x0000_0721 => "RPC_S_SEC_PKG_ERROR",
        // HRESULTs seen in DCOM faults ([MS-ERREF] 2.1).
        0x8000_4002 => "E_NOINTERFACE",
        0x8000_4005 => "E_FAIL",
        0x8007_0005 => "E_ACCESSDENIED",
        0x8007_0057 => "E_INVALIDARG",
        0x8001_0108 => "RPC_E_DISCONNECTED",
        _ => return None,
    })
}

/// `provider_reject_reason` values of a bind_nak, [C706] 12.6.3.1 and
/// [MS-RPCE] 2.2.2.5.
pub mod reject {
    /// `reason_not_specified`.
    pub const REASON_NOT_SPECIFIED: u16 = 0;
    /// `temporary_congestion`.
    pub const TEMPORARY_CONGESTION: u16 = 1;
    /// `local_limit_exceeded`.
    pub const LOCAL_LIMIT_EXCEEDED: u16 = 2;
    /// `called_paddr_unknown`.
    pub const CALLED_PADDR_UNKNOWN: u16 = 3;
    /// `protocol_version_not_supported`.
    pub const PROTOCOL_VERSION_NOT_SUPPORTED: u16 = 4;
    /// `default_context_not_supported`.
    pub const DEFAULT_CONTEXT_NOT_SUPPORTED: u16 = 5;
    /// `user_data_not_readable`.
    pub const USER_DATA_NOT_READABLE: u16 = 6;
    /// `no_psap_available`.
    pub const NO_PSAP_AVAILABLE: u16 = 7;
    /// `authentication_type_not_recognized` ([MS-RPCE] 2.2.2.5).
    pub const AUTHENTICATION_TYPE_NOT_RECOGNIZED: u16 = 8;
    /// `invalid_checksum` ([MS-RPCE] 2.2.2.5).
    pub const INVALID_CHECKSUM: u16 = 9;
}

/// Name of a bind_nak `provider_reject_reason` ([C706] 12.6.3.1, [MS-RPCE] 2.2.2.5).
pub fn reject_reason_name(reason: u16) -> Option<&'static str> {
    Some(match reason {
        reject::REASON_NOT_SPECIFIED => "reason_not_specified",
        reject::TEMPORARY_CONGESTION => "temporary_congestion",
        reject::LOCAL_LIMIT_EXCEEDED => "local_limit_exceeded",
        reject::CALLED_PADDR_UNKNOWN => "called_paddr_unknown",
        reject::PROTOCOL_VERSION_NOT_SUPPORTED => "protocol_version_not_supported",
        reject::DEFAULT_CONTEXT_NOT_SUPPORTED => "default_context_not_supported",
        reject::USER_DATA_NOT_READABLE => "user_data_not_readable",
        reject::NO_PSAP_AVAILABLE => "no_psap_available",
        reject::AUTHENTICATION_TYPE_NOT_RECOGNIZED => "authentication_type_not_recognized",
        reject::INVALID_CHECKSUM => "invalid_checksum",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_common_statuses() {
        assert_eq!(status_name(0x1c01_0002), Some("nca_s_op_rng_error"));
        assert_eq!(status_name(0x1c01_0003), Some("nca_s_unk_if"));
        assert_eq!(status_name(0x1c01_000b), Some("nca_s_proto_error"));
        assert_eq!(status_name(5), Some("ERROR_ACCESS_DENIED"));
        assert_eq!(status_name(0x6f7), Some("RPC_X_BAD_STUB_DATA"));
        assert_eq!(status_name(0x721), Some("RPC_S_SEC_PKG_ERROR"));
        assert_eq!(status_name(0x6d1), Some("RPC_S_PROCNUM_OUT_OF_RANGE"));
        assert_eq!(status_name(0x1234_5678), None);
        assert_eq!(reject_reason_name(9), Some("invalid_checksum"));
        assert_eq!(
            reject_reason_name(4),
            Some("protocol_version_not_supported")
        );
        assert_eq!(reject_reason_name(100), None);
    }
}
