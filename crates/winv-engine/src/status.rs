//! The per-computer statuses of MAP, `docs/statuses.md` (the MAP inventory engine), with stable
//! identifiers for JSON and the database and MAP's wording for display.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The one status a computer ends a run with (`docs/statuses.md`, "Statuses";
/// "DCOM (RPC) failures", "WMI Failures").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Every class of the profile was collected.
    Inventoried,
    /// Inventoried, but some classes are missing (each keeps its own error).
    InventoriedIncomplete,
    /// The name did not resolve (NXDOMAIN, no address, or a transient DNS failure on the
    /// final attempt).
    MachineNotFound,
    /// The TCP connect to port 135 timed out.
    ConnectionTimeout,
    /// The TCP connect to port 135 was refused (RST).
    ConnectionRefused,
    /// No route to the host or its network (ICMP unreachable).
    HostUnreachable,
    /// No credential of the list worked, or DCOM / the namespace refused the account.
    AccessDenied,
    /// The generic RPC failure: no DCOM activation, the dynamic port blocked, a bind
    /// rejected.
    RpcServerUnavailable,
    /// `RPC_S_CALL_FAILED` (retry class).
    RpcCallFailed,
    /// `RPC_S_CALL_CANCELLED` (retry class).
    RpcCallCancelled,
    /// `root\cimv2` login returned `WBEM_E_INVALID_NAMESPACE`.
    #[serde(rename = "cimv2-namespace-invalid")]
    Cimv2NamespaceInvalid,
    /// `root\cimv2` login returned `WBEM_E_NOT_FOUND`.
    #[serde(rename = "cimv2-namespace-not-found")]
    Cimv2NamespaceNotFound,
    /// `root\cimv2` login returned `WBEM_E_INVALID_PARAMETER`.
    #[serde(rename = "cimv2-namespace-invalid-parameter")]
    Cimv2NamespaceInvalidParameter,
    /// `root\default` (StdRegProv) login returned `WBEM_E_INVALID_NAMESPACE`.
    #[serde(rename = "stdregprov-namespace-invalid")]
    StdRegProvNamespaceInvalid,
    /// `root\default` (StdRegProv) login returned `WBEM_E_NOT_FOUND`.
    #[serde(rename = "stdregprov-namespace-not-found")]
    StdRegProvNamespaceNotFound,
    /// `root\default` (StdRegProv) login returned `WBEM_E_INVALID_PARAMETER`.
    #[serde(rename = "stdregprov-namespace-invalid-parameter")]
    StdRegProvNamespaceInvalidParameter,
    /// The computer was shutting down (retry class).
    ComputerShuttingDown,
    /// No progress for the watchdog period before any query succeeded (retry class).
    WmiQueryTimeout,
    /// The credential list was empty.
    NoCredentials,
    /// The run was stopped before the computer was finished.
    InventoryNotCompleted,
    /// Every class failed on every attempt, or an error no other status describes.
    OtherReasons,
}

impl Status {
    /// Every status, in display order.
    pub const ALL: [Status; 21] = [
        Status::Inventoried,
        Status::InventoriedIncomplete,
        Status::MachineNotFound,
        Status::ConnectionTimeout,
        Status::ConnectionRefused,
        Status::HostUnreachable,
        Status::AccessDenied,
        Status::RpcServerUnavailable,
        Status::RpcCallFailed,
        Status::RpcCallCancelled,
        Status::Cimv2NamespaceInvalid,
        Status::Cimv2NamespaceNotFound,
        Status::Cimv2NamespaceInvalidParameter,
        Status::StdRegProvNamespaceInvalid,
        Status::StdRegProvNamespaceNotFound,
        Status::StdRegProvNamespaceInvalidParameter,
        Status::ComputerShuttingDown,
        Status::WmiQueryTimeout,
        Status::NoCredentials,
        Status::InventoryNotCompleted,
        Status::OtherReasons,
    ];

    /// The stable identifier (`rpc-server-unavailable`), as in JSON and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Inventoried => "inventoried",
            Status::InventoriedIncomplete => "inventoried-incomplete",
            Status::MachineNotFound => "machine-not-found",
            Status::ConnectionTimeout => "connection-timeout",
            Status::ConnectionRefused => "connection-refused",
            Status::HostUnreachable => "host-unreachable",
            Status::AccessDenied => "access-denied",
            Status::RpcServerUnavailable => "rpc-server-unavailable",
            Status::RpcCallFailed => "rpc-call-failed",
            Status::RpcCallCancelled => "rpc-call-cancelled",
            Status::Cimv2NamespaceInvalid => "cimv2-namespace-invalid",
            Status::Cimv2NamespaceNotFound => "cimv2-namespace-not-found",
            Status::Cimv2NamespaceInvalidParameter => "cimv2-namespace-invalid-parameter",
            Status::StdRegProvNamespaceInvalid => "stdregprov-namespace-invalid",
            Status::StdRegProvNamespaceNotFound => "stdregprov-namespace-not-found",
            Status::StdRegProvNamespaceInvalidParameter => "stdregprov-namespace-invalid-parameter",
            Status::ComputerShuttingDown => "computer-shutting-down",
            Status::WmiQueryTimeout => "wmi-query-timeout",
            Status::NoCredentials => "no-credentials",
            Status::InventoryNotCompleted => "inventory-not-completed",
            Status::OtherReasons => "other-reasons",
        }
    }

    /// MAP's wording ("Failed - RPC Server Unavailable").
    pub fn display_text(self) -> &'static str {
        match self {
            Status::Inventoried => "Inventoried",
            Status::InventoriedIncomplete => "Inventoried - some classes missing",
            Status::MachineNotFound => "Failed - Machine not found",
            Status::ConnectionTimeout => "Failed - Connection Timeout",
            Status::ConnectionRefused => "Failed - Connection Refused",
            Status::HostUnreachable => "Failed - Host Unreachable",
            Status::AccessDenied => "Failed - Access Denied",
            Status::RpcServerUnavailable => "Failed - RPC Server Unavailable",
            Status::RpcCallFailed => "Failed - RPC call failed",
            Status::RpcCallCancelled => "Failed - RPC call cancelled",
            Status::Cimv2NamespaceInvalid => "Failed - Invalid CIMv2 WMI Namespace",
            Status::Cimv2NamespaceNotFound => "Failed - CIMv2 WMI Namespace not found",
            Status::Cimv2NamespaceInvalidParameter => {
                "Failed - CIMv2 WMI Namespace invalid parameter"
            }
            Status::StdRegProvNamespaceInvalid => "Failed - Invalid StdRegProv WMI Namespace",
            Status::StdRegProvNamespaceNotFound => "Failed - StdRegProv WMI Namespace not found",
            Status::StdRegProvNamespaceInvalidParameter => {
                "Failed - StdRegProv WMI Namespace invalid parameter"
            }
            Status::ComputerShuttingDown => "Failed - Computer shutting down",
            Status::WmiQueryTimeout => "Failed - WMI query time out",
            Status::NoCredentials => "Failed - No credentials provided",
            Status::InventoryNotCompleted => "Failed - Inventory not completed",
            Status::OtherReasons => "Failed - Other Reasons",
        }
    }

    /// Whether the computer counts as inventoried (complete or not).
    pub fn is_success(self) -> bool {
        matches!(self, Status::Inventoried | Status::InventoriedIncomplete)
    }

    /// Whether MAP, `docs/statuses.md` marks it a retry-class error: the computer is abandoned at once
    /// and requeued later in the same run, at most 3 times.
    pub fn is_retry_class(self) -> bool {
        matches!(
            self,
            Status::RpcCallFailed
                | Status::RpcCallCancelled
                | Status::ComputerShuttingDown
                | Status::WmiQueryTimeout
        )
    }

    /// The knowledge-base entry of the status (causes, checks, remediation).
    pub fn kb_entry(self) -> Option<&'static winv_kb::Entry> {
        winv_kb::by_status(self.as_str())
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is no status identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Status, UnknownStatus> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_round_trip_through_str_and_serde() {
        for st in Status::ALL {
            assert_eq!(st.as_str().parse::<Status>().unwrap(), st);
            let j = serde_json::to_string(&st).unwrap();
            assert_eq!(j, format!("\"{}\"", st.as_str()));
            assert_eq!(serde_json::from_str::<Status>(&j).unwrap(), st);
        }
        assert!("rpc server unavailable".parse::<Status>().is_err());
    }

    #[test]
    fn every_status_has_a_kb_entry() {
        for st in Status::ALL {
            let e = st
                .kb_entry()
                .unwrap_or_else(|| panic!("no kb entry for {st}"));
            assert_eq!(e.name, st.as_str());
            // The KB's retry class agrees with MAP's list.
            assert_eq!(
                e.retry_class == winv_kb::RetryClass::Retry,
                st.is_retry_class(),
                "{st}"
            );
        }
    }
}
