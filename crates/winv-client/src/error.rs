//! Typed errors of the WMI client: the stage of the connection flow where it broke and
//! the cause, precise enough for the engine and `diagnose` to map to statuses.

use std::fmt;
use std::time::Duration;

use winv_rpc::transport::{ConnectError, ConnectFailure};
use winv_rpc::RpcError;

/// Where in the connection flow ([MS-DCOM] 3.2.4.1.1 activation, [MS-WMI] 3.2.3 login
/// and calls) a failure happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Resolving the host name or the TCP connect to the endpoint mapper port (135).
    Connect135,
    /// Binding `ISystemActivator` on port 135, including the NTLM logon.
    Bind135,
    /// `IRemoteSCMActivator::RemoteCreateInstance` of `CLSID_WbemLevel1Login`.
    Activation,
    /// The TCP connect to the OXID's dynamic endpoint.
    ConnectDynamic,
    /// Binding `IWbemLevel1Login` on the dynamic endpoint, including the NTLM logon.
    BindDynamic,
    /// `IWbemLevel1Login::NTLMLogin` to a namespace.
    Login,
    /// `IWbemServices::ExecQuery`.
    Query,
    /// Fetching results: `IEnumWbemClassObject::Next` or the smart enumerator.
    Enumerate,
    /// `IWbemServices::GetObject`.
    GetObject,
    /// `IWbemServices::ExecMethod`.
    ExecMethod,
    /// A `StdRegProv` method returned a failing `ReturnValue`.
    Registry,
    /// `IRemUnknown::RemRelease` at close.
    Release,
    /// `IObjectExporter` pinging on port 135.
    Ping,
}

impl Stage {
    /// Every stage, in the order of the flow.
    pub const ALL: [Stage; 13] = [
        Stage::Connect135,
        Stage::Bind135,
        Stage::Activation,
        Stage::ConnectDynamic,
        Stage::BindDynamic,
        Stage::Login,
        Stage::Query,
        Stage::Enumerate,
        Stage::GetObject,
        Stage::ExecMethod,
        Stage::Registry,
        Stage::Release,
        Stage::Ping,
    ];

    /// Stable identifier, used in messages and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Connect135 => "connect-135",
            Stage::Bind135 => "bind-135",
            Stage::Activation => "activation",
            Stage::ConnectDynamic => "connect-dynamic",
            Stage::BindDynamic => "bind-dynamic",
            Stage::Login => "login",
            Stage::Query => "query",
            Stage::Enumerate => "enumerate",
            Stage::GetObject => "get-object",
            Stage::ExecMethod => "exec-method",
            Stage::Registry => "registry",
            Stage::Release => "release",
            Stage::Ping => "ping",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `code` as `0x80041003 WBEM_E_ACCESS_DENIED` (the name from the knowledge base, when known).
pub fn code_with_name(code: u32) -> String {
    match winv_kb::name(code) {
        Some(n) => format!("{code:#010x} {n}"),
        None => format!("{code:#010x}"),
    }
}

/// A `ReturnValue` as `2 ERROR_FILE_NOT_FOUND`: small values are Win32 codes; values
/// that look like HRESULTs (`0x8004xxxx`, e.g. a WBEM type mismatch) are named as such.
pub fn win32_with_name(code: u32) -> String {
    if code >= 0x8000_0000 {
        return code_with_name(code);
    }
    match code {
        // StdRegProv's own meaning: the key exists, the value does not.
        1 => "1 (value not found)".to_string(),
        _ => match winv_kb::name_in(winv_kb::Kind::Win32, code) {
            Some(n) => format!("{code} {n}"),
            None => code.to_string(),
        },
    }
}

/// Why a stage failed.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    /// The host name did not resolve (or resolved to nothing).
    #[error("cannot resolve {host}: {detail}")]
    Resolve {
        /// The name.
        host: String,
        /// The resolver's message.
        detail: String,
    },
    /// The TCP connect failed: refused, timed out, unreachable.
    #[error(transparent)]
    Connect(ConnectError),
    /// A deadline passed (a read, a call, a bind, or the whole enumeration).
    #[error("{what} timed out after {:.1} s", .after.as_secs_f64())]
    Timeout {
        /// What was waiting.
        what: &'static str,
        /// The deadline.
        after: Duration,
    },
    /// The server refused the credentials (NTLM logon failed).
    #[error("authentication failed: {0}")]
    AuthenticationFailed(String),
    /// The server answered with an RPC fault.
    #[error("rpc fault {}", code_with_name(*.status))]
    Fault {
        /// The fault status.
        status: u32,
    },
    /// The server rejected the bind or the presentation context (`bind_nak`, or a
    /// rejected context).
    #[error("bind rejected: {0}")]
    BindRejected(String),
    /// Any other RPC-level failure (connection lost, protocol error, bad signature).
    #[error("rpc: {0}")]
    Rpc(RpcError),
    /// The method returned a failing HRESULT (DCOM or WBEM).
    #[error("{}", code_with_name(*.0))]
    Hresult(u32),
    /// A `StdRegProv` method returned a non-zero Win32 `ReturnValue`.
    #[error("{method} returned {}", win32_with_name(*.code))]
    Win32 {
        /// The method.
        method: String,
        /// The `ReturnValue`.
        code: u32,
    },
    /// The server's reply did not decode.
    #[error("malformed reply: {0}")]
    Decode(String),
    /// The reply decoded but lacks what the protocol requires (no interface, no binding).
    #[error("{0}")]
    Protocol(String),
    /// Kerberos failed before or during the bind: the KDC (unreachable, an unknown
    /// principal, pre-authentication, skew, enctype), a ticket file, or the SPN.
    #[error("kerberos: {0}")]
    Kerberos(winv_krb::KrbClientError),
    /// The host's Kerberos acceptor answered the AP-REQ with a KRB-ERROR ([MS-KILE]
    /// 3.4.5.1): a clock too far from ours, a ticket for another key or principal, a
    /// replay, an expired ticket. The ticket was the KDC's: not the account's password.
    #[error("{ACCEPTOR_REFUSED}{name} ({code}){}", skew_note(*.skew))]
    KerberosRefused {
        /// The KRB-ERROR's error-code.
        code: i32,
        /// Its name.
        name: &'static str,
        /// The host's clock minus ours, when its KRB-ERROR said (seconds).
        skew: Option<i64>,
    },
}

/// A failure of the WMI client: the [`Stage`] and the [`Cause`].
#[derive(Debug, thiserror::Error)]
#[error("{stage}: {cause}")]
pub struct ClientError {
    stage: Stage,
    #[source]
    cause: Cause,
}

use winv_dcerpc::status::ERROR_ACCESS_DENIED;
const E_ACCESSDENIED: u32 = winv_dcom::Hresult::E_ACCESSDENIED.0;
const WBEM_E_ACCESS_DENIED: u32 = winv_wmi::consts::WBEM_E_ACCESS_DENIED.0;

impl ClientError {
    /// A failure at `stage` with `cause`.
    pub fn new(stage: Stage, cause: Cause) -> Self {
        ClientError { stage, cause }
    }

    /// A failing HRESULT at `stage`.
    pub fn hresult_at(stage: Stage, hr: u32) -> Self {
        ClientError::new(stage, Cause::Hresult(hr))
    }

    /// A decode failure at `stage`.
    pub fn decode_at(stage: Stage, e: impl fmt::Display) -> Self {
        ClientError::new(stage, Cause::Decode(e.to_string()))
    }

    /// An RPC failure at `stage`, classified.
    pub fn rpc_at(stage: Stage, e: RpcError) -> Self {
        ClientError::new(stage, classify_rpc(e))
    }

    /// The stage where the flow broke.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// The cause.
    pub fn cause(&self) -> &Cause {
        &self.cause
    }

    /// The HRESULT, when a method returned one.
    pub fn hresult(&self) -> Option<u32> {
        match self.cause {
            Cause::Hresult(h) => Some(h),
            _ => None,
        }
    }

    /// The RPC fault status, when the server answered with a fault.
    pub fn rpc_status(&self) -> Option<u32> {
        match self.cause {
            Cause::Fault { status } => Some(status),
            _ => None,
        }
    }

    /// The Win32 `ReturnValue` of a registry method.
    pub fn win32_code(&self) -> Option<u32> {
        match self.cause {
            Cause::Win32 { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The classified TCP connect failure, when the connect failed.
    pub fn connect_failure(&self) -> Option<ConnectFailure> {
        match &self.cause {
            Cause::Connect(c) => Some(c.failure),
            _ => None,
        }
    }

    /// Whether a deadline passed (including a TCP connect that timed out).
    pub fn is_timeout(&self) -> bool {
        match &self.cause {
            Cause::Timeout { .. } => true,
            Cause::Connect(c) => c.failure == ConnectFailure::TimedOut,
            _ => false,
        }
    }

    /// Whether the server refused the credentials (its security layer, NTLM or Kerberos).
    pub fn is_auth_failure(&self) -> bool {
        matches!(
            self.cause,
            Cause::AuthenticationFailed(_) | Cause::KerberosRefused { .. }
        )
    }

    /// Whether the logon itself was refused (a wrong password, an unknown account), not
    /// a reply that failed verification.
    pub fn is_logon_refusal(&self) -> bool {
        matches!(&self.cause, Cause::AuthenticationFailed(d) if !d.starts_with(UNVERIFIED))
    }

    /// The Kerberos failure, when Kerberos failed.
    pub fn kerberos(&self) -> Option<&winv_krb::KrbClientError> {
        match &self.cause {
            Cause::Kerberos(k) => Some(k),
            _ => None,
        }
    }

    /// Whether the server denied access (DCOM, WMI or Win32 access denied), with valid
    /// credentials.
    pub fn is_access_denied(&self) -> bool {
        match self.cause {
            Cause::Hresult(h) => h == E_ACCESSDENIED || h == WBEM_E_ACCESS_DENIED,
            Cause::Fault { status } => status == ERROR_ACCESS_DENIED || status == E_ACCESSDENIED,
            Cause::Win32 { code, .. } => code == ERROR_ACCESS_DENIED,
            _ => false,
        }
    }

    /// Whether the failure is the network's: resolution, connect, or a timeout before
    /// the WMI layer answered.
    pub fn is_connection_failure(&self) -> bool {
        matches!(self.cause, Cause::Resolve { .. } | Cause::Connect(_))
            || matches!(
                (self.stage, &self.cause),
                (
                    Stage::Connect135 | Stage::Bind135 | Stage::ConnectDynamic | Stage::BindDynamic,
                    Cause::Timeout { .. } | Cause::Rpc(_) | Cause::BindRejected(_)
                )
            )
    }

    /// The same cause at another stage.
    pub(crate) fn restage(self, stage: Stage) -> Self {
        ClientError { stage, ..self }
    }
}

/// How an [`Cause::AuthenticationFailed`] for a reply that failed verification (a bad
/// signature or seal, a missing trailer) begins: the server's answer, not the logon, failed.
pub const UNVERIFIED: &str = "the reply failed verification: ";

/// ", the host's clock is N s ahead of ours" when a KRB-ERROR gave its time.
fn skew_note(skew: Option<i64>) -> String {
    match skew {
        Some(s) if s > 0 => format!(", the host's clock is {s} s ahead of ours"),
        Some(s) if s < 0 => format!(", the host's clock is {} s behind ours", -s),
        _ => String::new(),
    }
}

/// How a [`Cause::KerberosRefused`] reads: the host's acceptor, not the KDC, said no.
pub const ACCEPTOR_REFUSED: &str = "the host's kerberos acceptor refused the ticket: ";

/// Classifies an [`RpcError`] into a [`Cause`].
pub fn classify_rpc(e: RpcError) -> Cause {
    match e {
        RpcError::Connect(c) => Cause::Connect(c),
        RpcError::Timeout { what, after } => Cause::Timeout { what, after },
        RpcError::AuthenticationFailed { detail } => Cause::AuthenticationFailed(detail),
        RpcError::Rpc(winv_dcerpc::Error::Fault { status, .. }) => Cause::Fault { status },
        RpcError::Rpc(ref inner) => match inner.kind() {
            // Displayed as "bind rejected: {reason}": the reason without the prefix that
            // winv-dcerpc's own message carries.
            winv_dcerpc::ErrorKind::Rejected => {
                let text = inner.to_string();
                let reason = text.strip_prefix("bind rejected: ").unwrap_or(&text);
                Cause::BindRejected(reason.to_string())
            }
            winv_dcerpc::ErrorKind::Security => match inner {
                // A KRB-ERROR in the bind_ack or alter_context_resp: the acceptor's
                // answer, not a reply that failed verification.
                winv_dcerpc::Error::Security(winv_auth::AuthError::Kerberos(
                    winv_auth::kerberos::KrbError::Protocol { code, name, skew },
                )) => Cause::KerberosRefused {
                    code: *code,
                    name,
                    skew: *skew,
                },
                _ => Cause::AuthenticationFailed(format!("{UNVERIFIED}{inner}")),
            },
            _ => Cause::Rpc(e),
        },
        other => Cause::Rpc(other),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn hresult_message_names_the_code() {
        let e = ClientError::hresult_at(Stage::Login, 0x8004_100e);
        assert_eq!(e.to_string(), "login: 0x8004100e WBEM_E_INVALID_NAMESPACE");
        assert_eq!(e.hresult(), Some(0x8004_100e));
        assert_eq!(e.rpc_status(), None);
        assert_eq!(e.stage(), Stage::Login);
        assert!(!e.is_access_denied());
    }

    #[test]
    fn access_denied_variants() {
        assert!(ClientError::hresult_at(Stage::Activation, 0x8007_0005).is_access_denied());
        assert!(ClientError::hresult_at(Stage::Login, 0x8004_1003).is_access_denied());
        let e = ClientError::new(
            Stage::Registry,
            Cause::Win32 {
                method: "EnumKey".into(),
                code: 5,
            },
        );
        assert!(e.is_access_denied());
        assert_eq!(e.win32_code(), Some(5));
    }

    #[test]
    fn rpc_fault_is_classified() {
        let e = ClientError::rpc_at(
            Stage::Query,
            RpcError::Rpc(winv_dcerpc::Error::Fault {
                call_id: 1,
                status: 1726,
                name: "rpc_s_call_failed",
            }),
        );
        assert_eq!(e.rpc_status(), Some(1726));
        assert!(e.to_string().contains("0x000006be"), "{e}");
        assert!(e.to_string().contains("RPC_S_CALL_FAILED"), "{e}");
    }

    #[test]
    fn timeouts_and_connect_failures() {
        let t = ClientError::rpc_at(
            Stage::Enumerate,
            RpcError::Timeout {
                what: "call",
                after: Duration::from_secs(2),
            },
        );
        assert!(t.is_timeout());
        assert!(!t.is_connection_failure());
        let addr: SocketAddr = "127.0.0.1:135".parse().unwrap();
        let c = ClientError::rpc_at(
            Stage::Connect135,
            RpcError::Connect(ConnectError {
                addr,
                failure: ConnectFailure::Refused,
                errno: Some(111),
            }),
        );
        assert_eq!(c.connect_failure(), Some(ConnectFailure::Refused));
        assert!(c.is_connection_failure());
        assert!(!c.is_timeout());
        let a = ClientError::rpc_at(
            Stage::Activation,
            RpcError::AuthenticationFailed { detail: "x".into() },
        );
        assert!(a.is_auth_failure());
    }
}
