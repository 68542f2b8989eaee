//! From a client error to a [`Failure`]: the status, phase, category, code and retry class
//! of `docs/statuses.md` (the connection flow and where each failure is caught).
//!
//! The knowledge base owns what a code means (its retry class, the statuses it gives, its
//! category); this module only adds what the code alone does not say: the stage where it
//! came back (an `E_ACCESSDENIED` from the activation is DCOM's refusal, from `NTLMLogin`
//! the namespace's) and which namespace was being opened (`root\cimv2` or the
//! `root\default` of `StdRegProv`). `diagnose` and the engine both classify through here.

use winv_client::{Cause, ClientError, Stage};
use winv_kb::{Category, Entry, Kind, Phase, RetryClass};
use winv_rpc::transport::ConnectFailure;

use crate::record::{DeniedBy, Failure, FailureStage};
use crate::status::Status;

/// Which namespace a login was for: the two MAP names (MAP, `docs/statuses.md`) and any other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamespaceRole {
    /// `root\cimv2`.
    Cimv2,
    /// `root\default`, where `StdRegProv` lives.
    StdRegProv,
    /// Another namespace of a custom profile.
    Other,
}

impl NamespaceRole {
    /// The role of `namespace` (any case, either slash).
    pub fn of(namespace: &str) -> NamespaceRole {
        let n = namespace.replace('/', "\\").to_ascii_lowercase();
        match n.trim_start_matches('\\') {
            "root\\cimv2" => NamespaceRole::Cimv2,
            "root\\default" => NamespaceRole::StdRegProv,
            _ => NamespaceRole::Other,
        }
    }
}

/// Winsock codes of the connect failures (what a Windows client reports).
const WSAETIMEDOUT: u32 = 10060;
const WSAECONNREFUSED: u32 = 10061;
const WSAEHOSTUNREACH: u32 = 10065;
const WSAENETUNREACH: u32 = 10051;
/// Winsock codes of name resolution: the name does not exist, a transient failure, no
/// address record.
pub(crate) const WSAHOST_NOT_FOUND: u32 = 11001;
pub(crate) const WSATRY_AGAIN: u32 = 11002;
pub(crate) const WSANO_DATA: u32 = 11004;
use winv_dcerpc::status::{
    NCA_S_UNK_IF, RPC_S_CALL_FAILED, RPC_S_SERVER_UNAVAILABLE, RPC_S_UNKNOWN_IF,
};
use winv_dcom::Hresult;

/// `RPC_S_SERVER_UNAVAILABLE` as the HRESULT a WMI client shows.
const RPC_SERVER_UNAVAILABLE_HR: u32 = Hresult::from_win32(RPC_S_SERVER_UNAVAILABLE).0;
/// `RPC_S_CALL_FAILED` as an HRESULT: a connection lost in the middle of a call.
const RPC_CALL_FAILED_HR: u32 = Hresult::from_win32(RPC_S_CALL_FAILED).0;
/// `RPC_S_UNKNOWN_IF` as an HRESULT: the server does not offer the interface bound.
const RPC_UNKNOWN_IF_HR: u32 = Hresult::from_win32(RPC_S_UNKNOWN_IF).0;
/// `E_ACCESSDENIED`: what a Windows client reports for a refused logon.
const E_ACCESSDENIED: u32 = Hresult::E_ACCESSDENIED.0;

/// What a host that speaks RPC but has no DCOM activation is told apart by (a Samba
/// server, a non-Windows RPC service, or DCOM disabled).
pub const NO_DCOM: &str =
    "the host answers RPC on port 135 but offers no DCOM activation (not Windows, or DCOM disabled)";

/// Whether the stage belongs to "connecting" ("Let's troubleshoot WMI", part 1): up to and including the login.
pub fn phase_of(stage: Stage) -> Phase {
    match stage {
        Stage::Connect135
        | Stage::Bind135
        | Stage::Activation
        | Stage::ConnectDynamic
        | Stage::BindDynamic
        | Stage::Login => Phase::Connecting,
        _ => Phase::Operation,
    }
}

/// The knowledge-base entry of `code` as it came back: a fault status is looked for among
/// the RPC numberings first, a method's return among the WBEM and COM ones.
fn entry_for(code: u32, fault: bool) -> Option<&'static Entry> {
    let order: &[Kind] = if fault {
        &[
            Kind::Nca,
            Kind::RpcStatus,
            Kind::Win32,
            Kind::Hresult,
            Kind::Wbem,
        ]
    } else {
        &[
            Kind::Wbem,
            Kind::Hresult,
            Kind::RpcStatus,
            Kind::Win32,
            Kind::Nca,
        ]
    };
    let hits = winv_kb::by_value(code);
    order
        .iter()
        .find_map(|k| hits.iter().find(|e| e.kind == *k).copied())
}

fn status_category(status: Status) -> Category {
    status
        .kb_entry()
        .map(|e| e.category)
        .unwrap_or(Category::CoreWmi)
}

/// A failure the engine makes itself (no client error): resolution, the watchdog, a
/// missing credential list, a stopped run.
pub fn engine_failure(
    status: Status,
    stage: FailureStage,
    code: Option<u32>,
    message: String,
) -> Failure {
    let entry = status.kb_entry();
    Failure {
        status,
        stage,
        phase: entry.map(|e| e.phase).unwrap_or(Phase::Either),
        category: status_category(status),
        code,
        code_name: code.and_then(winv_kb::name).map(str::to_string),
        retry: status.is_retry_class(),
        denied_by: None,
        message,
    }
}

/// Classifies a client error. `role` is the namespace being opened or used when it failed.
pub fn classify(err: &ClientError, role: NamespaceRole) -> Failure {
    let stage = err.stage();
    let phase = phase_of(stage);
    let f = Failure {
        status: Status::OtherReasons,
        stage: FailureStage::Client(stage),
        phase,
        category: Category::CoreWmi,
        code: None,
        code_name: None,
        retry: false,
        denied_by: None,
        message: err.to_string(),
    };
    let with = |mut f: Failure, status: Status, code: Option<u32>| {
        f.status = status;
        f.category = status_category(status);
        f.retry = status.is_retry_class();
        f.code = code;
        f.code_name = code.and_then(winv_kb::name).map(str::to_string);
        f
    };
    match err.cause() {
        // Port 135 answered under the address given; only a binding's own name failed.
        Cause::Resolve { .. } if stage != Stage::Connect135 => with(
            f,
            Status::RpcServerUnavailable,
            Some(RPC_SERVER_UNAVAILABLE_HR),
        ),
        Cause::Resolve { .. } => with(f, Status::MachineNotFound, None),
        Cause::Connect(c) if stage == Stage::Connect135 => {
            let (status, code) = match c.failure {
                ConnectFailure::TimedOut => (Status::ConnectionTimeout, Some(WSAETIMEDOUT)),
                ConnectFailure::Refused => (Status::ConnectionRefused, Some(WSAECONNREFUSED)),
                ConnectFailure::HostUnreachable => (Status::HostUnreachable, Some(WSAEHOSTUNREACH)),
                ConnectFailure::NetworkUnreachable => {
                    (Status::HostUnreachable, Some(WSAENETUNREACH))
                }
                ConnectFailure::Other => (Status::OtherReasons, c.errno.map(|e| e as u32)),
            };
            with(f, status, code)
        }
        // Port 135 answered and activated; the OXID's endpoint did not: a firewall that
        // opens 135 but not the dynamic range, or a binding behind NAT (the WMI connectivity scenario guide).
        Cause::Connect(_) => with(
            f,
            Status::RpcServerUnavailable,
            Some(RPC_SERVER_UNAVAILABLE_HR),
        ),
        Cause::Timeout { .. } => match stage {
            Stage::Connect135 => with(f, Status::ConnectionTimeout, Some(WSAETIMEDOUT)),
            // The OXID's endpoint did not connect, or accepted and never answered the
            // bind: the dynamic port is blocked or something else listens there.
            Stage::ConnectDynamic | Stage::BindDynamic => with(
                f,
                Status::RpcServerUnavailable,
                Some(RPC_SERVER_UNAVAILABLE_HR),
            ),
            // Connected, then no answer in time: MAP's "WMI query time out".
            _ => with(f, Status::WmiQueryTimeout, None),
        },
        // A reply that failed its signature check: the session's keys no longer agree
        // (traffic altered on the way, or a server answering with another key). The
        // security layer's refusal, by the code SSPI gives it, not a refused logon.
        Cause::AuthenticationFailed(d) if d.starts_with(winv_client::error::UNVERIFIED) => {
            let mut f = with(f, Status::AccessDenied, Some(SEC_E_MESSAGE_ALTERED));
            f.denied_by = Some(DeniedBy::Authentication);
            f
        }
        Cause::AuthenticationFailed(_) => {
            let mut f = with(f, Status::AccessDenied, Some(E_ACCESSDENIED));
            f.denied_by = Some(DeniedBy::Authentication);
            f
        }
        // After the login, the dynamic endpoint refused to add an interface to the
        // connection (a rejected alter_context): the item's failure, with the code a
        // Windows client reports, not "no DCOM on port 135".
        Cause::BindRejected(_) if phase == Phase::Operation => {
            let mut f = with(f, Status::OtherReasons, Some(RPC_UNKNOWN_IF_HR));
            f.message = format!(
                "the host refused an interface after the login: {}",
                f.message
            );
            f
        }
        // No presentation context for the activation (or login) interface: the host speaks
        // RPC but offers no DCOM (not Windows, or DCOM disabled).
        Cause::BindRejected(_) => {
            let mut f = with(f, Status::RpcServerUnavailable, None);
            f.message = format!("{NO_DCOM}: {}", f.message);
            f
        }
        Cause::Rpc(_) | Cause::Decode(_) | Cause::Protocol(_)
            if matches!(stage, Stage::Bind135 | Stage::BindDynamic) =>
        {
            with(f, Status::RpcServerUnavailable, None)
        }
        // The connection broke in the middle of a call: Windows reports RPC_S_CALL_FAILED.
        Cause::Rpc(_) => with(f, Status::RpcCallFailed, Some(RPC_CALL_FAILED_HR)),
        Cause::Decode(_) | Cause::Protocol(_) => with(f, Status::OtherReasons, None),
        Cause::Kerberos(k) => kerberos(f, k),
        // The host's acceptor refused the KDC's ticket: the security layer's refusal by
        // its Kerberos code (KRB_AP_ERR_SKEW: the clocks; KRB_AP_ERR_MODIFIED: the host's
        // keys), at the bind; not the password's.
        Cause::KerberosRefused { code, .. } => {
            let mut f = with(f, Status::AccessDenied, None);
            f.code = u32::try_from(*code).ok();
            f.code_name = f
                .code
                .and_then(|c| winv_kb::name_in(Kind::Kerberos, c))
                .map(str::to_string);
            f.denied_by = Some(DeniedBy::Authentication);
            f
        }
        Cause::Fault { status } => from_code(f, *status, true, stage, role),
        Cause::Hresult(hr) => from_code(f, *hr, false, stage, role),
        Cause::Win32 { code, .. } => {
            if *code == winv_client::registry::ERROR_ACCESS_DENIED {
                let mut f = with(f, Status::AccessDenied, Some(*code));
                f.denied_by = Some(DeniedBy::Registry);
                f.code_name = winv_kb::name_in(Kind::Win32, *code).map(str::to_string);
                f
            } else {
                let mut f = with(f, Status::OtherReasons, Some(*code));
                f.code_name = winv_kb::name_in(Kind::Win32, *code).map(str::to_string);
                f
            }
        }
    }
}

/// `SEC_E_MESSAGE_ALTERED`: what SSPI's `VerifySignature` / `DecryptMessage` report for a
/// message whose signature does not verify.
pub const SEC_E_MESSAGE_ALTERED: u32 = 0x8009_030F;

/// `SEC_E_NO_AUTHENTICATING_AUTHORITY`: what Windows reports when no KDC answers.
pub const SEC_E_NO_AUTHENTICATING_AUTHORITY: u32 = 0x8009_0311;

/// A Kerberos failure of the client side (the KDC's answer, a ticket file, the SPN):
/// KDC errors get the stage `kdc` and the Kerberos code by its name (the knowledge base
/// has the causes and remediation: `setspn`, `w32tm`, `klist`,
/// msDS-SupportedEncryptionTypes); no KDC reached is `SEC_E_NO_AUTHENTICATING_AUTHORITY`.
fn kerberos(mut f: Failure, k: &winv_client::krb::KrbClientError) -> Failure {
    use winv_client::krb::KrbClientError as E;
    use winv_client::krb::KrbError;
    let krb_code = |f: &mut Failure, code: i32| {
        f.code = u32::try_from(code).ok();
        f.code_name = f
            .code
            .and_then(|c| winv_kb::name_in(Kind::Kerberos, c))
            .map(str::to_string);
    };
    f.status = Status::AccessDenied;
    f.denied_by = Some(DeniedBy::Authentication);
    f.retry = false;
    match k {
        E::KdcUnreachable { .. } | E::NoKdc(_) => {
            f.stage = FailureStage::Kdc;
            f.code = Some(SEC_E_NO_AUTHENTICATING_AUTHORITY);
            f.code_name = winv_kb::name(SEC_E_NO_AUTHENTICATING_AUTHORITY).map(str::to_string);
        }
        E::Kerberos(KrbError::Protocol { code, .. }) => {
            f.stage = FailureStage::Kdc;
            krb_code(&mut f, *code);
        }
        E::Kerberos(KrbError::Rc4Refused | KrbError::UnsupportedEtype(_)) => {
            f.stage = FailureStage::Kdc;
            krb_code(&mut f, winv_client::krb::codes::KDC_ERR_ETYPE_NOSUPP);
        }
        E::Kerberos(KrbError::AddressOnly(_)) => {
            // Not a refusal: Kerberos cannot name an address. The stage stays the bind's.
            f.status = Status::OtherReasons;
            f.denied_by = None;
        }
        E::Kerberos(_) => f.stage = FailureStage::Kdc,
        E::File { .. } | E::NoTgt { .. } | E::NoKey { .. } => f.stage = FailureStage::Credentials,
    }
    f.category = status_category(f.status);
    f
}

/// A fault status or a method's HRESULT, through the knowledge base.
fn from_code(mut f: Failure, code: u32, fault: bool, stage: Stage, role: NamespaceRole) -> Failure {
    let entry = entry_for(code, fault);
    f.code = Some(code);
    f.code_name = entry
        .map(|e| e.name.clone())
        .or_else(|| winv_kb::name(code).map(str::to_string));
    let Some(entry) = entry else {
        f.status = if f.phase == Phase::Connecting {
            Status::RpcServerUnavailable
        } else {
            Status::OtherReasons
        };
        f.category = status_category(f.status);
        return f;
    };
    f.retry = entry.retry_class == RetryClass::Retry;
    if matches!(stage, Stage::Bind135 | Stage::Activation)
        && fault
        && matches!(code, NCA_S_UNK_IF | RPC_S_UNKNOWN_IF)
    {
        f.message = format!("{NO_DCOM}: {}", f.message);
    }
    let statuses: Vec<Status> = entry
        .statuses
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    let namespace_status = |cimv2: bool| {
        statuses.iter().copied().find(|s| {
            let id = s.as_str();
            if cimv2 {
                id.starts_with("cimv2-")
            } else {
                id.starts_with("stdregprov-")
            }
        })
    };
    f.status = if stage == Stage::Login && role != NamespaceRole::Other {
        namespace_status(role == NamespaceRole::Cimv2)
            .or_else(|| statuses.iter().copied().find(|s| !is_namespace(*s)))
    } else {
        statuses.iter().copied().find(|s| !is_namespace(*s))
    }
    .unwrap_or(if f.retry {
        Status::RpcCallFailed
    } else if f.phase == Phase::Connecting && stage != Stage::Login {
        Status::RpcServerUnavailable
    } else {
        Status::OtherReasons
    });
    // A retry-class code keeps its retry meaning only with a retry-class status.
    f.retry = f.retry && f.status.is_retry_class();
    f.category = match entry.category {
        Category::None => status_category(f.status),
        c => c,
    };
    if f.status == Status::AccessDenied {
        f.denied_by = Some(match stage {
            Stage::Connect135 | Stage::Bind135 | Stage::BindDynamic => DeniedBy::Authentication,
            Stage::Activation => DeniedBy::Dcom,
            Stage::Registry => DeniedBy::Registry,
            _ => DeniedBy::WmiNamespace,
        });
    }
    f
}

/// The knowledge-base entry that explains a failure to an administrator: the same for the
/// engine's records, `status`, `scan --json` and `diagnose`: the entry of the failure's
/// own code, so that the explanation names the code the failure shows; a host without
/// DCOM activation as `RPC_S_UNKNOWN_IF`; else the status's. What the failure shows (a refused logon, an
/// authenticated user refused) ranks the entry's causes and remediation: see
/// [`explained`].
pub fn explanation(status: Status, code_name: Option<&str>, message: &str) -> Option<&'static Entry> {
    if message.starts_with(NO_DCOM) {
        return winv_kb::by_name("RPC_S_UNKNOWN_IF");
    }
    code_name
        .and_then(winv_kb::by_name)
        .or_else(|| status.kb_entry())
}

/// A failure explained for the user: the knowledge base entry of its own code (or
/// status), with the causes and remediation ranked by what the failure shows.
#[derive(Clone, Debug)]
pub struct Explained {
    /// The entry ([`explanation`]).
    pub entry: &'static Entry,
    /// Likely causes, most likely first given the evidence.
    pub causes: Vec<String>,
    /// Remediation, in the order to try it given the evidence.
    pub remediation: Vec<String>,
}

/// Whether a line of an entry is about the logon itself (the account or its password).
fn about_the_logon(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    ["password", "user name", "account does not exist", "correct the credential", "ntlm"]
        .iter()
        .any(|w| l.contains(w))
}

/// Ranks `lines` by the evidence: when the logon was refused, what is about the logon
/// comes first (from `logon`'s lines when the entry has none); when an authenticated
/// user was refused by DCOM, WMI or the registry, the logon is proven, and its lines go.
fn ranked(lines: &[String], logon: &[String], denied_by: Option<DeniedBy>) -> Vec<String> {
    match denied_by {
        Some(DeniedBy::Authentication) => {
            let (mut first, rest): (Vec<String>, Vec<String>) =
                lines.iter().cloned().partition(|l| about_the_logon(l));
            if first.is_empty() {
                first = logon.to_vec();
            }
            first.extend(rest);
            first
        }
        Some(DeniedBy::Dcom | DeniedBy::WmiNamespace | DeniedBy::Registry) => {
            lines.iter().filter(|l| !about_the_logon(l)).cloned().collect()
        }
        None => lines.to_vec(),
    }
}

/// See [`Explained`]. `finished`: the failure is a finished computer's, whose attempts
/// are spent ([`remediation_for`]); not for a live diagnosis.
pub fn explained(
    status: Status,
    code_name: Option<&str>,
    denied_by: Option<DeniedBy>,
    message: &str,
    finished: bool,
) -> Option<Explained> {
    let entry = explanation(status, code_name, message)?;
    let logon = winv_kb::by_name("ERROR_LOGON_FAILURE");
    let (lc, lr) = logon.map_or((&[][..], &[][..]), |l| (&l.causes[..], &l.remediation[..]));
    // A namespace status is root\cimv2's or root\default's, which every Windows machine
    // has: what the code's entry says of optional namespaces does not apply.
    let required = |lines: Vec<String>| -> Vec<String> {
        if !is_namespace(status) {
            return lines;
        }
        lines
            .into_iter()
            .filter(|l| {
                let l = l.to_ascii_lowercase();
                !l.contains("optional") && !l.contains("not installed")
            })
            .collect()
    };
    Some(Explained {
        entry,
        causes: required(ranked(&entry.causes, lc, denied_by)),
        remediation: {
            let r = required(ranked(&entry.remediation, lr, denied_by));
            if finished {
                remediation_for(&r, status)
            } else {
                r
            }
        },
    })
}

/// Said first for a finished computer whose status is retry-class: every attempt failed.
pub const RETRIES_EXHAUSTED: &str = "Every attempt of the run failed this way: check that the \
    computer is up, not restarting and its WMI service running (`sc \\\\HOST query winmgmt`), \
    then scan it again.";

/// The remediation `lines` for a computer that finished with `status`, in order. A
/// finished computer with a retry-class status has used all its attempts, so the
/// entry's "let the retry run" and "nothing to fix, the retry normally succeeds" are
/// not said; [`RETRIES_EXHAUSTED`] comes first instead.
fn remediation_for(lines: &[String], status: Status) -> Vec<String> {
    if !status.is_retry_class() {
        return lines.to_vec();
    }
    let mut out = vec![RETRIES_EXHAUSTED.to_string()];
    for line in lines {
        let rest = ["Let the retry run", "Nothing to fix", "Reconnect"]
            .iter()
            .find(|p| line.starts_with(*p))
            .map_or(line.as_str(), |_| {
                line.split_once(['.', ';']).map_or("", |(_, r)| r).trim()
            });
        if rest.is_empty() || rest.contains("retry later in the run") {
            continue;
        }
        let mut c = rest.chars();
        let first = c
            .next()
            .map(|f| f.to_uppercase().collect::<String>())
            .unwrap_or_default();
        out.push(first + c.as_str());
    }
    out
}

impl Failure {
    /// See [`explanation`].
    pub fn explanation(&self) -> Option<&'static Entry> {
        explanation(self.status, self.code_name.as_deref(), &self.message)
    }

    /// See [`explained`].
    pub fn explained(&self, finished: bool) -> Option<Explained> {
        explained(
            self.status,
            self.code_name.as_deref(),
            self.denied_by,
            &self.message,
            finished,
        )
    }
}

fn is_namespace(s: Status) -> bool {
    matches!(
        s,
        Status::Cimv2NamespaceInvalid
            | Status::Cimv2NamespaceNotFound
            | Status::Cimv2NamespaceInvalidParameter
            | Status::StdRegProvNamespaceInvalid
            | Status::StdRegProvNamespaceNotFound
            | Status::StdRegProvNamespaceInvalidParameter
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn hr(stage: Stage, code: u32, role: NamespaceRole) -> Failure {
        classify(&ClientError::hresult_at(stage, code), role)
    }

    fn fault(stage: Stage, status: u32) -> Failure {
        classify(
            &ClientError::new(stage, Cause::Fault { status }),
            NamespaceRole::Cimv2,
        )
    }

    /// The host's acceptor refusing the KDC's ticket (a KRB-ERROR in the bind_ack): at the
    /// bind, by its Kerberos code and name, access denied by the authentication layer, not
    /// retried; a reply that failed verification stays SEC_E_MESSAGE_ALTERED.
    #[test]
    fn an_acceptors_krb_error_is_named_at_the_bind() {
        use winv_client::krb::codes;
        for (code, name) in [
            (codes::KRB_AP_ERR_SKEW, "KRB_AP_ERR_SKEW"),
            (codes::KRB_AP_ERR_MODIFIED, "KRB_AP_ERR_MODIFIED"),
        ] {
            let cause = Cause::KerberosRefused {
                code,
                name,
                skew: Some(600),
            };
            let f = classify(
                &ClientError::new(Stage::BindDynamic, cause),
                NamespaceRole::Cimv2,
            );
            assert_eq!(f.stage, FailureStage::Client(Stage::BindDynamic), "{name}");
            assert_eq!(f.status, Status::AccessDenied, "{name}");
            assert_eq!(f.code, Some(code as u32), "{name}");
            assert_eq!(f.code_name.as_deref(), Some(name));
            assert_eq!(f.denied_by, Some(DeniedBy::Authentication));
            assert!(!f.retry, "{name}");
            assert!(f.message.contains(winv_client::error::ACCEPTOR_REFUSED), "{}", f.message);
            assert!(f.message.contains("600 s ahead"), "{}", f.message);
        }
        let f = classify(
            &ClientError::new(
                Stage::Bind135,
                Cause::AuthenticationFailed(format!("{}bad signature", winv_client::error::UNVERIFIED)),
            ),
            NamespaceRole::Cimv2,
        );
        assert_eq!(f.code_name.as_deref(), Some("SEC_E_MESSAGE_ALTERED"));
    }

    #[test]
    fn kerberos_failures_get_their_stage_code_and_name() {
        use winv_client::krb::{codes, KrbClientError as E, KrbError};
        let k = |e: E| {
            classify(
                &ClientError::new(Stage::Bind135, Cause::Kerberos(e)),
                NamespaceRole::Cimv2,
            )
        };
        for (code, name) in [
            (
                codes::KDC_ERR_C_PRINCIPAL_UNKNOWN,
                "KDC_ERR_C_PRINCIPAL_UNKNOWN",
            ),
            (codes::KDC_ERR_PREAUTH_FAILED, "KDC_ERR_PREAUTH_FAILED"),
            (codes::KRB_AP_ERR_SKEW, "KRB_AP_ERR_SKEW"),
            (
                codes::KDC_ERR_S_PRINCIPAL_UNKNOWN,
                "KDC_ERR_S_PRINCIPAL_UNKNOWN",
            ),
            (codes::KDC_ERR_ETYPE_NOSUPP, "KDC_ERR_ETYPE_NOSUPP"),
        ] {
            let f = k(E::Kerberos(KrbError::protocol(code, None)));
            assert_eq!(f.status, Status::AccessDenied, "{name}");
            assert_eq!(f.stage, FailureStage::Kdc, "{name}");
            assert_eq!(f.code, Some(code as u32), "{name}");
            assert_eq!(f.code_name.as_deref(), Some(name));
            assert_eq!(f.denied_by, Some(DeniedBy::Authentication));
            assert!(!f.retry, "{name}");
            assert!(f.message.contains(name), "{}", f.message);
        }
        let f = k(E::KdcUnreachable {
            realm: "LAB.TEST".into(),
            detail: "refused".into(),
        });
        assert_eq!(
            (f.stage, f.code),
            (FailureStage::Kdc, Some(SEC_E_NO_AUTHENTICATING_AUTHORITY))
        );
        assert_eq!(
            f.code_name.as_deref(),
            Some("SEC_E_NO_AUTHENTICATING_AUTHORITY")
        );
        let f = k(E::Kerberos(KrbError::Rc4Refused));
        assert_eq!(f.code_name.as_deref(), Some("KDC_ERR_ETYPE_NOSUPP"));
        assert!(f.message.contains("rc4"), "{}", f.message);
        let f = k(E::Kerberos(KrbError::AddressOnly("10.0.0.5".into())));
        assert_eq!(f.status, Status::OtherReasons);
        assert_eq!(f.stage, FailureStage::Client(Stage::Bind135));
        assert!(f.message.contains("needs a host name"), "{}", f.message);
        assert_eq!(FailureStage::parse("kdc"), Some(FailureStage::Kdc));
    }

    #[test]
    fn namespace_codes_at_login_give_the_namespace_statuses() {
        use NamespaceRole::*;
        let cases = [
            (0x8004_100e, Cimv2, Status::Cimv2NamespaceInvalid),
            (0x8004_1002, Cimv2, Status::Cimv2NamespaceNotFound),
            (0x8004_1008, Cimv2, Status::Cimv2NamespaceInvalidParameter),
            (0x8004_100e, StdRegProv, Status::StdRegProvNamespaceInvalid),
            (0x8004_1002, StdRegProv, Status::StdRegProvNamespaceNotFound),
            (
                0x8004_1008,
                StdRegProv,
                Status::StdRegProvNamespaceInvalidParameter,
            ),
        ];
        for (code, role, want) in cases {
            let f = hr(Stage::Login, code, role);
            assert_eq!(f.status, want, "{code:#x} {role:?}");
            assert_eq!(f.phase, Phase::Connecting);
            assert!(!f.retry);
            assert_eq!(f.code, Some(code));
        }
        // The same code during a query is a per-class error, not a namespace status.
        let f = hr(Stage::Query, 0x8004_1002, Cimv2);
        assert_eq!(f.status, Status::OtherReasons);
        assert_eq!(f.phase, Phase::Operation);
    }

    #[test]
    fn access_denied_says_who_refused() {
        let dcom = hr(Stage::Activation, 0x8007_0005, NamespaceRole::Cimv2);
        assert_eq!(dcom.status, Status::AccessDenied);
        assert_eq!(dcom.denied_by, Some(DeniedBy::Dcom));
        assert_eq!(dcom.category, Category::Access);
        assert_eq!(dcom.code_name.as_deref(), Some("E_ACCESSDENIED"));
        let wmi = hr(Stage::Login, 0x8004_1003, NamespaceRole::Cimv2);
        assert_eq!(wmi.status, Status::AccessDenied);
        assert_eq!(wmi.denied_by, Some(DeniedBy::WmiNamespace));
        let auth = classify(
            &ClientError::new(Stage::Bind135, Cause::AuthenticationFailed("x".into())),
            NamespaceRole::Cimv2,
        );
        assert_eq!(auth.status, Status::AccessDenied);
        assert_eq!(auth.denied_by, Some(DeniedBy::Authentication));
    }

    #[test]
    fn retry_class_faults() {
        let f = fault(Stage::Query, 1726);
        assert_eq!(f.status, Status::RpcCallFailed);
        assert!(f.retry);
        assert_eq!(f.code_name.as_deref(), Some("RPC_S_CALL_FAILED"));
        let f = fault(Stage::Enumerate, 1818);
        assert_eq!(f.status, Status::RpcCallCancelled);
        assert!(f.retry);
        let f = hr(Stage::Query, 0x8007_045b, NamespaceRole::Cimv2);
        assert_eq!(f.status, Status::ComputerShuttingDown);
        assert!(f.retry);
        let f = hr(Stage::Query, 0x8004_1045, NamespaceRole::Cimv2);
        assert_eq!(f.status, Status::RpcCallCancelled, "server too busy");
        assert!(f.retry);
    }

    #[test]
    fn per_class_errors_are_not_retried() {
        for code in [0x8004_1010, 0x8004_1004, 0x8004_1013] {
            let f = hr(Stage::Query, code, NamespaceRole::Cimv2);
            assert_eq!(f.status, Status::OtherReasons, "{code:#x}");
            assert!(!f.retry, "{code:#x}");
            assert_eq!(f.category, Category::CoreWmi, "{code:#x}");
        }
    }

    #[test]
    fn timeouts_depend_on_the_stage() {
        let t = |stage| {
            classify(
                &ClientError::new(
                    stage,
                    Cause::Timeout {
                        what: "call",
                        after: Duration::from_secs(1),
                    },
                ),
                NamespaceRole::Cimv2,
            )
        };
        assert_eq!(t(Stage::Connect135).status, Status::ConnectionTimeout);
        assert_eq!(
            t(Stage::ConnectDynamic).status,
            Status::RpcServerUnavailable
        );
        assert_eq!(t(Stage::BindDynamic).status, Status::RpcServerUnavailable);
        assert_eq!(t(Stage::Bind135).status, Status::WmiQueryTimeout);
        let q = t(Stage::Enumerate);
        assert_eq!(q.status, Status::WmiQueryTimeout);
        assert!(q.retry);
    }

    #[test]
    fn no_dcom_is_rpc_server_unavailable() {
        let f = classify(
            &ClientError::new(
                Stage::Bind135,
                Cause::BindRejected("abstract syntax".into()),
            ),
            NamespaceRole::Cimv2,
        );
        assert_eq!(f.status, Status::RpcServerUnavailable);
        assert_eq!(f.category, Category::Connectivity);
        assert!(f.message.starts_with(NO_DCOM), "{}", f.message);
        let f = fault(Stage::Activation, 0x1c01_0003);
        assert_eq!(f.status, Status::RpcServerUnavailable);
        assert_eq!(f.code_name.as_deref(), Some("nca_s_unk_if"));
        assert!(f.message.starts_with(NO_DCOM), "{}", f.message);
    }

    #[test]
    fn an_interface_refused_after_the_login_is_the_items_failure_not_no_dcom() {
        for stage in [
            Stage::Query,
            Stage::Enumerate,
            Stage::GetObject,
            Stage::Registry,
        ] {
            let f = classify(
                &ClientError::new(stage, Cause::BindRejected("abstract syntax".into())),
                NamespaceRole::Cimv2,
            );
            assert_eq!(f.status, Status::OtherReasons, "{stage:?}");
            assert_eq!(f.phase, Phase::Operation);
            assert!(!f.retry);
            assert_eq!(f.code, Some(0x8007_06b5));
            assert_eq!(f.code_name.as_deref(), Some("RPC_S_UNKNOWN_IF"));
            assert!(!f.message.contains(NO_DCOM), "{}", f.message);
            assert!(f.message.contains("after the login"), "{}", f.message);
        }
    }

    #[test]
    fn a_binding_name_that_does_not_resolve_is_not_machine_not_found() {
        let resolve = |stage| {
            classify(
                &ClientError::new(
                    stage,
                    Cause::Resolve {
                        host: "SIM1".into(),
                        detail: "no address".into(),
                    },
                ),
                NamespaceRole::Cimv2,
            )
            .status
        };
        assert_eq!(resolve(Stage::Connect135), Status::MachineNotFound);
        assert_eq!(resolve(Stage::ConnectDynamic), Status::RpcServerUnavailable);
    }

    #[test]
    fn explanations_match_what_happened() {
        // A namespace status is explained by its own entry, not as an optional namespace.
        let x = explained(
            Status::StdRegProvNamespaceInvalid,
            Some("WBEM_E_INVALID_NAMESPACE"),
            None,
            "",
            true,
        )
        .unwrap();
        assert_eq!(x.entry.name, "WBEM_E_INVALID_NAMESPACE");
        assert!(x.remediation.iter().all(|r| !r.contains("optional")), "{:?}", x.remediation);
        assert!(x.causes.iter().all(|r| !r.contains("not installed")), "{:?}", x.causes);
        assert!(!x.remediation.is_empty() && !x.causes.is_empty());
        // For an optional namespace's class the entry is said whole.
        let opt = explained(Status::Inventoried, Some("WBEM_E_INVALID_NAMESPACE"), None, "", true)
            .unwrap();
        assert!(opt.remediation[0].contains("optional"), "{:?}", opt.remediation);
        // A finished computer with a retry-class status has spent its attempts.
        let done = explained(Status::RpcCallFailed, Some("RPC_S_CALL_FAILED"), None, "", true)
            .unwrap();
        assert_eq!(done.remediation[0], RETRIES_EXHAUSTED);
        assert!(
            done.remediation.iter().all(|r| !r.contains("Let the retry run")),
            "{:?}",
            done.remediation
        );
        assert!(done.remediation.len() >= 2, "the entry's own advice stays: {:?}", done.remediation);
        let live = explained(Status::RpcCallFailed, Some("RPC_S_CALL_FAILED"), None, "", false)
            .unwrap();
        assert!(live.remediation[0].starts_with("Let the retry run"), "{:?}", live.remediation);
        let shutting = explained(Status::ComputerShuttingDown, None, None, "", true).unwrap();
        assert!(
            shutting.remediation.iter().all(|r| !r.contains("retry later in the run")),
            "{:?}",
            shutting.remediation
        );
        // DCOM refused an authenticated user: the password is not a cause.
        let dcom = explained(
            Status::AccessDenied,
            Some("E_ACCESSDENIED"),
            Some(DeniedBy::Dcom),
            "",
            true,
        )
        .unwrap();
        assert!(dcom.causes.iter().all(|c| !about_the_logon(c)), "{:?}", dcom.causes);
        assert!(!dcom.causes.is_empty());
        // A refused logon: the same entry, the account first.
        let logon = explained(
            Status::AccessDenied,
            Some("E_ACCESSDENIED"),
            Some(DeniedBy::Authentication),
            "",
            true,
        )
        .unwrap();
        assert_eq!(logon.entry.name, "E_ACCESSDENIED");
        assert!(about_the_logon(&logon.causes[0]) && about_the_logon(&logon.remediation[0]));
        // NTLM may be what was refused: Kerberos is offered, after the credential itself,
        // and never once DCOM proved the logon.
        let kerberos = |r: &[String]| r.iter().position(|l| l.contains("--auth negotiate"));
        assert_eq!(kerberos(&logon.remediation), Some(1), "{:?}", logon.remediation);
        assert_eq!(kerberos(&dcom.remediation), None, "{:?}", dcom.remediation);
        assert!(dcom.causes.iter().all(|c| !c.contains("NTLM")), "{:?}", dcom.causes);
    }

    #[test]
    fn explanations() {
        let auth = classify(
            &ClientError::new(Stage::Bind135, Cause::AuthenticationFailed("x".into())),
            NamespaceRole::Cimv2,
        );
        // Explained by its own code.
        assert_eq!(Some(&auth.explanation().unwrap().name), auth.code_name.as_ref());
        let x = auth.explained(true).unwrap();
        let logon = winv_kb::by_name("ERROR_LOGON_FAILURE").unwrap();
        assert_eq!(x.remediation[0], logon.remediation[0]);
        assert!(about_the_logon(&x.causes[0]), "{:?}", x.causes);
        let dcom = hr(Stage::Activation, 0x8007_0005, NamespaceRole::Cimv2);
        assert_eq!(dcom.explanation().unwrap().name, "E_ACCESSDENIED");
        let samba = fault(Stage::Activation, 0x1c01_0003);
        assert_eq!(samba.explanation().unwrap().name, "RPC_S_UNKNOWN_IF");
        let nxdomain = engine_failure(
            Status::MachineNotFound,
            FailureStage::Resolve,
            None,
            "x".into(),
        );
        assert_eq!(nxdomain.explanation().unwrap().name, "machine-not-found");
    }

    #[test]
    fn namespace_role_of() {
        assert_eq!(NamespaceRole::of("ROOT\\CIMV2"), NamespaceRole::Cimv2);
        assert_eq!(NamespaceRole::of("root/default"), NamespaceRole::StdRegProv);
        assert_eq!(NamespaceRole::of("root\\wmi"), NamespaceRole::Other);
    }
}
