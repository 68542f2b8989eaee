//! The fleet file (TOML; the format is documented in `docs/fleet.md`) and the fault model.
//!
//! Faults are pure data here; the server applies them. Codes and their sources are listed
//! on [`Fault::code`].
//!
//! An *attempt* is one activation: one new association to port 135 that calls
//! `IRemoteSCMActivator::RemoteCreateInstance` ([MS-DCOM] 3.1.2.5.2.3.2). The server counts
//! attempts per host from 1; a fault with `first_attempts = N` applies while the attempt
//! number is at most N, so the (N+1)th activation and everything on its connections works.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use crate::codes::*;
use crate::data::host::{check_override, HostData};
use crate::data::profile::{profile, Profile, DEFAULT_PROFILE};
use crate::rng::SplitMix64;

/// An error in a fleet file, with its place in the file where known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FleetError {
    /// TOML syntax or a field of the wrong shape; the text names line and column.
    #[error("{0}")]
    Toml(String),
    /// A value that parses but is not valid.
    #[error("line {line}, column {column}: {message}")]
    Invalid {
        line: usize,
        column: usize,
        message: String,
    },
}

/// A call a fault applies to: `ExecQuery`, optionally narrowed to a class
/// (`ExecQuery:Win32_BIOS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSelector {
    pub method: String,
    pub class: Option<String>,
}

/// The methods a call selector may name ([MS-DCOM] 3.1.2.5.2.3.2 RemoteCreateInstance;
/// [MS-WMI] 3.1.4.1.4 NTLMLogin, 3.1.4.3 IWbemServices methods, 3.1.4.4.1 Next).
pub const CALLS: &[&str] = &[
    "RemoteCreateInstance",
    "NTLMLogin",
    "ExecQuery",
    "GetObject",
    "ExecMethod",
    "Next",
];

impl CallSelector {
    /// Parses `Method` or `Method:Class`.
    pub fn parse(text: &str) -> Result<CallSelector, String> {
        let (m, class) = match text.split_once(':') {
            Some((m, c)) if !c.is_empty() => (m, Some(c.to_string())),
            Some(_) => return Err(format!("empty class in call selector {text}")),
            None => (text, None),
        };
        let method = CALLS
            .iter()
            .find(|c| c.eq_ignore_ascii_case(m))
            .ok_or_else(|| format!("unknown call {m}, expected one of {}", CALLS.join(", ")))?;
        Ok(CallSelector {
            method: (*method).to_string(),
            class,
        })
    }

    /// Whether a call of `method` (about `class`, if any) is selected.
    pub fn matches(&self, method: &str, class: Option<&str>) -> bool {
        self.method.eq_ignore_ascii_case(method)
            && match (&self.class, class) {
                (None, _) => true,
                (Some(want), Some(got)) => want.eq_ignore_ascii_case(got),
                (Some(_), None) => false,
            }
    }
}

impl<'de> Deserialize<'de> for CallSelector {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        CallSelector::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for CallSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.class {
            Some(c) => write!(f, "{}:{c}", self.method),
            None => f.write_str(&self.method),
        }
    }
}

/// One fault of a host. `kind` in the fleet file is the snake_case variant name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// The host's user table accepts no password for the configured users (NTLM logon
    /// fails).
    WrongPassword,
    /// The host's user table has no entry for the configured users.
    UnknownUser,
    /// Activation refused: `RemoteCreateInstance` returns E_ACCESSDENIED.
    DcomAccessDenied,
    /// `NTLMLogin` to `namespace` returns WBEM_E_ACCESS_DENIED.
    WmiAccessDenied { namespace: String },
    /// `NTLMLogin` to `namespace` below packet privacy returns
    /// WBEM_E_ENCRYPTED_CONNECTION_REQUIRED.
    RequirePrivacy { namespace: String },
    /// `NTLMLogin` to `namespace` returns WBEM_E_INVALID_NAMESPACE.
    InvalidNamespace { namespace: String },
    /// `NTLMLogin` to `namespace` returns WBEM_E_NOT_FOUND.
    NamespaceNotFound { namespace: String },
    /// `NTLMLogin` to `namespace` returns WBEM_E_INVALID_PARAMETER.
    InvalidParameter { namespace: String },
    /// Queries of `class` return WBEM_E_INVALID_CLASS.
    InvalidClass { class: String },
    /// Queries of `class` return WBEM_E_PROVIDER_FAILURE.
    ProviderFailure { class: String },
    /// Queries of `class` return WBEM_E_PROVIDER_LOAD_FAILURE.
    ProviderLoadFailure { class: String },
    /// Queries of `class` never answer (the call gets no reply).
    ProviderHang { class: String },
    /// Queries of `class` answer after `delay_ms`.
    ProviderSlow { class: String, delay_ms: u64 },
    /// The selected call fails with an RPC fault PDU, status RPC_S_CALL_FAILED.
    RpcCallFailed { call: CallSelector },
    /// The selected call fails with an RPC fault PDU, status RPC_S_CALL_CANCELLED.
    CallCancelled { call: CallSelector },
    /// From `after_ms` after the server started, every call on the host's DCOM/WMI
    /// interfaces returns ERROR_SHUTDOWN_IN_PROGRESS.
    ShuttingDown { after_ms: u64 },
    /// The selected call gets no reply; the server closes the TCP connection (RST).
    ConnectionReset { call: CallSelector },
    /// Port 135 answers; the dynamic endpoint port accepts nothing (connections dropped).
    DynamicPortSilent,
    /// Activation below RPC_C_AUTHN_LEVEL_PKT_INTEGRITY returns E_ACCESSDENIED (KB5004442
    /// hardening).
    RequireIntegrity,
    /// Binding to ISystemActivator / IRemoteSCMActivator is rejected (bind_nak).
    DcomDisabled,
    /// A hostile host: enumerations of `class` never end. Every `Next` answers a full
    /// batch with S_OK, the rows starting over at the end. With `provider_slow` on the
    /// same class: one batch every `delay_ms`, progress but never an end.
    EndlessEnumeration { class: String },
    /// A hostile host: every `Next` on an enumeration of `class` answers at once with no
    /// object and S_OK, forever.
    EmptyEnumeration { class: String },
    /// A hostile host: `ExecQuery` of `class` fails at once with an RPC fault
    /// (RPC_S_CALL_FAILED), and from then on the host answers no call on any connection.
    FaultThenSilence { class: String },
    /// A hostile host: the dynamic port accepts the bind (IWbemLevel1Login) and rejects
    /// every presentation context added with alter_context (IWbemServices, IRemUnknown2,
    /// the enumerators).
    RejectAlterContext,
    /// The host's clock is `seconds` off (negative: behind). Its Kerberos acceptor judges
    /// tickets and authenticators by it: more than 5 minutes from the client's clock is
    /// KRB_AP_ERR_SKEW ([MS-KILE] 3.4.5.1, RFC 4120 5.5.2).
    ClockSkew { seconds: i64 },
    /// A hostile host: the AP-REP its Kerberos acceptor answers a bind with has a byte of
    /// its encrypted part flipped; a client must refuse it ([MS-KILE] 3.4.5.1: the AP-REP
    /// is what proves the server has the service key).
    TamperedApRep,
}

impl Fault {
    /// The `kind` name of this fault in fleet files.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::WrongPassword => "wrong_password",
            Fault::UnknownUser => "unknown_user",
            Fault::DcomAccessDenied => "dcom_access_denied",
            Fault::WmiAccessDenied { .. } => "wmi_access_denied",
            Fault::RequirePrivacy { .. } => "require_privacy",
            Fault::InvalidNamespace { .. } => "invalid_namespace",
            Fault::NamespaceNotFound { .. } => "namespace_not_found",
            Fault::InvalidParameter { .. } => "invalid_parameter",
            Fault::InvalidClass { .. } => "invalid_class",
            Fault::ProviderFailure { .. } => "provider_failure",
            Fault::ProviderLoadFailure { .. } => "provider_load_failure",
            Fault::ProviderHang { .. } => "provider_hang",
            Fault::ProviderSlow { .. } => "provider_slow",
            Fault::RpcCallFailed { .. } => "rpc_call_failed",
            Fault::CallCancelled { .. } => "call_cancelled",
            Fault::ShuttingDown { .. } => "shutting_down",
            Fault::ConnectionReset { .. } => "connection_reset",
            Fault::DynamicPortSilent => "dynamic_port_silent",
            Fault::RequireIntegrity => "require_integrity",
            Fault::DcomDisabled => "dcom_disabled",
            Fault::EndlessEnumeration { .. } => "endless_enumeration",
            Fault::EmptyEnumeration { .. } => "empty_enumeration",
            Fault::FaultThenSilence { .. } => "fault_then_silence",
            Fault::RejectAlterContext => "reject_alter_context",
            Fault::ClockSkew { .. } => "clock_skew",
            Fault::TamperedApRep => "tampered_ap_rep",
        }
    }

    /// The status the server sends for this fault, `None` where it sends nothing (hang,
    /// silence, reset, slow) or where NTLM decides (wrong password, unknown user: the bind's
    /// auth3 is refused and the first call faults with `nca_s_fault_access_denied`/
    /// `ERROR_ACCESS_DENIED` 5, [MS-RPCE] 3.3.1.5.2).
    ///
    /// | fault | code | source |
    /// |---|---|---|
    /// | dcom_access_denied, require_integrity | 0x80070005 E_ACCESSDENIED | the WMI troubleshooting guide table; KB5004442 (event 10036: activation refused below packet integrity returns E_ACCESSDENIED) |
    /// | wmi_access_denied | 0x80041003 | seeds 001, 003 |
    /// | require_privacy | 0x80041087 | [MS-WMI] 2.2.11; "Let's troubleshoot WMI", part 1 ("minimum authentication level needed for the namespace") |
    /// | invalid_namespace | 0x8004100E | the WMI connectivity scenario guide |
    /// | namespace_not_found | 0x80041002 WBEM_E_NOT_FOUND | the WMI connectivity scenario guide lists it among connection errors; MAP's "namespace not found" (MAP, `docs/statuses.md`) |
    /// | invalid_parameter | 0x80041008 | [MS-WMI] 2.2.11; MAP "namespace invalid parameter" (MAP, `docs/statuses.md`) |
    /// | invalid_class | 0x80041010 | the WMI connectivity scenario guide |
    /// | provider_failure | 0x80041004 | the WMI connectivity scenario guide |
    /// | provider_load_failure | 0x80041013 | the WMI connectivity scenario guide |
    /// | rpc_call_failed | 1726 RPC_S_CALL_FAILED (fault PDU status) | [MS-ERREF] 2.2; MAP "RPC call failed" (MAP, `docs/statuses.md`) |
    /// | call_cancelled | 1818 RPC_S_CALL_CANCELLED (fault PDU status) | [MS-ERREF] 2.2; MAP "RPC call cancelled" (MAP, `docs/statuses.md`) |
    /// | shutting_down | 0x8007045B HRESULT_FROM_WIN32(ERROR_SHUTDOWN_IN_PROGRESS) | [MS-ERREF] 2.2 (1115 "A system shutdown is in progress"); MAP "Computer shutting down" (MAP, `docs/statuses.md`) |
    /// | dcom_disabled | bind_nak, reject reason 0 (not specified) → client sees RPC_S_SERVER_UNAVAILABLE-like refusal | [C706] 12.6.4.5 |
    pub fn code(&self) -> Option<u32> {
        Some(match self {
            Fault::DcomAccessDenied | Fault::RequireIntegrity => E_ACCESSDENIED,
            Fault::WmiAccessDenied { .. } => WBEM_E_ACCESS_DENIED,
            Fault::RequirePrivacy { .. } => WBEM_E_ENCRYPTED_CONNECTION_REQUIRED,
            Fault::InvalidNamespace { .. } => WBEM_E_INVALID_NAMESPACE,
            Fault::NamespaceNotFound { .. } => WBEM_E_NOT_FOUND,
            Fault::InvalidParameter { .. } => WBEM_E_INVALID_PARAMETER,
            Fault::InvalidClass { .. } => WBEM_E_INVALID_CLASS,
            Fault::ProviderFailure { .. } => WBEM_E_PROVIDER_FAILURE,
            Fault::ProviderLoadFailure { .. } => WBEM_E_PROVIDER_LOAD_FAILURE,
            Fault::RpcCallFailed { .. } => RPC_S_CALL_FAILED,
            Fault::CallCancelled { .. } => RPC_S_CALL_CANCELLED,
            Fault::ShuttingDown { .. } => 0x8007_0000 | ERROR_SHUTDOWN_IN_PROGRESS,
            _ => return None,
        })
    }

    fn validate(&self) -> Result<(), String> {
        match self {
            Fault::WmiAccessDenied { namespace }
            | Fault::RequirePrivacy { namespace }
            | Fault::InvalidNamespace { namespace }
            | Fault::NamespaceNotFound { namespace }
            | Fault::InvalidParameter { namespace }
                if namespace.trim().is_empty() =>
            {
                Err("namespace must not be empty".into())
            }
            Fault::InvalidClass { class }
            | Fault::ProviderFailure { class }
            | Fault::ProviderLoadFailure { class }
            | Fault::ProviderHang { class }
            | Fault::ProviderSlow { class, .. }
            | Fault::EndlessEnumeration { class }
            | Fault::EmptyEnumeration { class }
            | Fault::FaultThenSilence { class }
                if class.trim().is_empty() =>
            {
                Err("class must not be empty".into())
            }
            _ => Ok(()),
        }
    }
}

/// A fault with its intermittency.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FaultSpec {
    #[serde(flatten)]
    pub fault: Fault,
    /// Applies only to the first N attempts (activations) of the host; always when absent.
    #[serde(default)]
    pub first_attempts: Option<u32>,
}

impl FaultSpec {
    /// Whether the fault applies to attempt number `attempt` (1-based).
    pub fn applies(&self, attempt: u32) -> bool {
        self.first_attempts.is_none_or(|n| attempt <= n)
    }
}

/// A user a host accepts: `DOMAIN\user` and where its password comes from.
#[derive(Clone, PartialEq, Eq)]
pub struct UserSpec {
    /// The domain part (`LAB`), empty when the name had none.
    pub domain: String,
    pub user: String,
    /// The environment variable holding the password.
    pub password_env: Option<String>,
    /// The NT hash (MD4 of the UTF-16LE password), 32 hex digits.
    pub nt_hash: Option<String>,
}

impl fmt::Debug for UserSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserSpec")
            .field("domain", &self.domain)
            .field("user", &self.user)
            .field("password_env", &self.password_env)
            .field("nt_hash", &self.nt_hash.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl UserSpec {
    /// `DOMAIN\user` (or `user`).
    pub fn qualified(&self) -> String {
        if self.domain.is_empty() {
            self.user.clone()
        } else {
            format!("{}\\{}", self.domain, self.user)
        }
    }
}

/// One simulated host of a fleet.
#[derive(Debug, Clone)]
pub struct HostSpec {
    pub address: IpAddr,
    pub name: String,
    pub domain: String,
    pub profile: &'static Profile,
    pub seed: u64,
    pub users: Arc<Vec<UserSpec>>,
    /// `Class.Property` → value text, applied after generation.
    pub overrides: Arc<Vec<(String, String)>>,
    pub faults: Arc<Vec<FaultSpec>>,
    /// Kerberos: the host's keytab (its SPNs' keys) and realm; `None`: NTLM only.
    pub kerberos: Option<KerberosSpec>,
    /// Whether the host accepts NTLM (`ntlm = false`: a host hardened to refuse it).
    pub ntlm: bool,
}

/// Where a simulated host's Kerberos keys come from (the file is read when the
/// host starts serving; the fleet file stays pure text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KerberosSpec {
    /// The keytab (`samba-tool domain exportkeytab --principal=...`, `ktutil`).
    pub keytab: std::path::PathBuf,
    /// The realm (default: the host's domain in upper case).
    pub realm: String,
}

impl HostSpec {
    /// Generates the host's data and applies its overrides (checked when the fleet was
    /// parsed, so they cannot fail here; one that would is skipped).
    pub fn data(&self) -> HostData {
        let mut data = HostData::generate(
            self.seed,
            self.profile,
            &self.name,
            self.address,
            &self.domain,
        );
        for (k, v) in self.overrides.iter() {
            let _ = data.apply_override(k, v);
        }
        data
    }

    /// The faults that apply to attempt `attempt` (1-based).
    pub fn active_faults(&self, attempt: u32) -> impl Iterator<Item = &Fault> {
        self.faults
            .iter()
            .filter(move |f| f.applies(attempt))
            .map(|f| &f.fault)
    }
}

/// A whole fleet.
#[derive(Debug, Clone, Default)]
pub struct Fleet {
    pub hosts: Vec<HostSpec>,
    index: HashMap<IpAddr, usize>,
}

// ---------------------------------------------------------------------------------------
// File model.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileModel {
    #[serde(default)]
    defaults: Defaults,
    #[serde(default)]
    host: Vec<HostEntry>,
    #[serde(default)]
    mix: Option<Mix>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    user: Option<Spanned<String>>,
    password_env: Option<Spanned<String>>,
    nt_hash: Option<Spanned<String>>,
    profile: Option<Spanned<String>>,
    seed: Option<u64>,
    name_pattern: Option<String>,
    domain: Option<String>,
    keytab: Option<String>,
    realm: Option<String>,
    ntlm: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    user: Spanned<String>,
    password_env: Option<Spanned<String>>,
    nt_hash: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostEntry {
    address: Spanned<String>,
    count: Option<Spanned<u32>>,
    name: Option<Spanned<String>>,
    name_pattern: Option<String>,
    profile: Option<Spanned<String>>,
    domain: Option<String>,
    seed: Option<u64>,
    #[serde(default)]
    users: Vec<UserEntry>,
    overrides: Option<Spanned<HashMap<String, toml::Value>>>,
    #[serde(default)]
    faults: Vec<Spanned<FaultSpec>>,
    keytab: Option<String>,
    realm: Option<String>,
    ntlm: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Mix {
    start: Spanned<String>,
    count: u32,
    seed: Option<u64>,
    #[serde(default)]
    profiles: Vec<Spanned<String>>,
    #[serde(default)]
    faults: Vec<Spanned<MixFault>>,
}

#[derive(Debug, Deserialize)]
struct MixFault {
    percent: f64,
    #[serde(flatten)]
    spec: FaultSpec,
}

struct Ctx<'a> {
    text: &'a str,
}

impl Ctx<'_> {
    fn err(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> FleetError {
        let upto = self
            .text
            .get(..span.start.min(self.text.len()))
            .unwrap_or("");
        let line = upto.matches('\n').count() + 1;
        let column = upto.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        FleetError::Invalid {
            line,
            column,
            message: message.into(),
        }
    }
}

fn valid_env_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

fn split_user(s: &str) -> (String, String) {
    match s.split_once('\\') {
        Some((d, u)) => (d.to_string(), u.to_string()),
        None => match s.split_once('@') {
            Some((u, d)) => (d.to_string(), u.to_string()),
            None => (String::new(), s.to_string()),
        },
    }
}

fn user_spec(
    ctx: &Ctx,
    user: &Spanned<String>,
    env: Option<&Spanned<String>>,
    hash: Option<&Spanned<String>>,
) -> Result<UserSpec, FleetError> {
    let (domain, name) = split_user(user.get_ref());
    if name.is_empty() {
        return Err(ctx.err(user.span(), "empty user name"));
    }
    if let Some(e) = env {
        if !valid_env_name(e.get_ref()) {
            return Err(ctx.err(
                e.span(),
                "password_env must name an environment variable (letters, digits, _)",
            ));
        }
    }
    if let Some(h) = hash {
        if h.get_ref().len() != 32 || !h.get_ref().chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(ctx.err(h.span(), "nt_hash must be 32 hex digits"));
        }
    }
    if env.is_none() && hash.is_none() {
        return Err(ctx.err(user.span(), "a user needs password_env or nt_hash"));
    }
    Ok(UserSpec {
        domain,
        user: name,
        password_env: env.map(|e| e.get_ref().clone()),
        nt_hash: hash.map(|h| h.get_ref().to_ascii_lowercase()),
    })
}

fn get_profile(
    ctx: &Ctx,
    p: Option<&Spanned<String>>,
    fallback: &'static Profile,
) -> Result<&'static Profile, FleetError> {
    match p {
        None => Ok(fallback),
        Some(p) => profile(p.get_ref()).ok_or_else(|| {
            let ids: Vec<&str> = crate::data::profile::profile_ids().collect();
            ctx.err(
                p.span(),
                format!(
                    "unknown profile {}, expected one of {}",
                    p.get_ref(),
                    ids.join(", ")
                ),
            )
        }),
    }
}

/// Expands `{n}` / `{n:0W}` (the host's 1-based number in the fleet) and `{a}` (its address
/// with `.`/`:` as `-`) in a name pattern.
pub fn expand_name(pattern: &str, n: usize, address: IpAddr) -> String {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let Some(end) = after.find('}') else {
            out.push_str(after);
            return out;
        };
        let inner = &after[1..end];
        if inner == "n" {
            out.push_str(&n.to_string());
        } else if let Some(width) = inner
            .strip_prefix("n:0")
            .and_then(|w| w.parse::<usize>().ok())
        {
            out.push_str(&format!("{n:0width$}"));
        } else if inner == "a" {
            out.push_str(&address.to_string().replace(['.', ':'], "-"));
        } else {
            out.push_str(&after[..=end]);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Parses an address or an IPv4 range `A-B` into its addresses (at most 65,536).
fn addresses(
    ctx: &Ctx,
    spec: &Spanned<String>,
    count: Option<&Spanned<u32>>,
) -> Result<Vec<IpAddr>, FleetError> {
    let text = spec.get_ref().trim();
    let bad = |m: &str| ctx.err(spec.span(), m.to_string());
    if let Some((a, b)) = text.split_once('-') {
        if count.is_some() {
            return Err(bad("give either a range or count, not both"));
        }
        let a: Ipv4Addr = a
            .trim()
            .parse()
            .map_err(|_| bad("bad start address of range"))?;
        let b: Ipv4Addr = b
            .trim()
            .parse()
            .map_err(|_| bad("bad end address of range"))?;
        let (a, b) = (u32::from(a), u32::from(b));
        if b < a {
            return Err(bad("range end is below its start"));
        }
        if b - a >= 65_536 {
            return Err(bad("range longer than 65536 addresses"));
        }
        return Ok((a..=b).map(|n| IpAddr::V4(Ipv4Addr::from(n))).collect());
    }
    let first: IpAddr = text.parse().map_err(|_| bad("bad address"))?;
    let Some(count) = count else {
        return Ok(vec![first]);
    };
    let n = *count.get_ref();
    if n == 0 || n > 65_536 {
        return Err(ctx.err(count.span(), "count must be 1 to 65536"));
    }
    let IpAddr::V4(v4) = first else {
        return Err(bad("count needs an IPv4 start address"));
    };
    let start = u32::from(v4);
    let end = start
        .checked_add(n - 1)
        .ok_or_else(|| ctx.err(count.span(), "range runs past 255.255.255.255"))?;
    Ok((start..=end)
        .map(|x| IpAddr::V4(Ipv4Addr::from(x)))
        .collect())
}

fn override_text(v: &toml::Value) -> Option<String> {
    Some(match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Array(items) => items
            .iter()
            .map(override_text)
            .collect::<Option<Vec<_>>>()?
            .join(","),
        _ => return None,
    })
}

impl Fleet {
    /// Parses and validates a fleet file.
    pub fn parse(text: &str) -> Result<Fleet, FleetError> {
        let model: FileModel = toml::from_str(text)
            .map_err(|e| FleetError::Toml(e.to_string().trim_end().to_string()))?;
        let ctx = Ctx { text };
        let d = &model.defaults;
        // INVARIANT: DEFAULT_PROFILE names a profile of PROFILES.
        let base_profile = get_profile(
            &ctx,
            d.profile.as_ref(),
            profile(DEFAULT_PROFILE).unwrap_or(&crate::data::profile::PROFILES[0]),
        )?;
        let default_users: Vec<UserSpec> = match &d.user {
            Some(u) => vec![user_spec(
                &ctx,
                u,
                d.password_env.as_ref(),
                d.nt_hash.as_ref(),
            )?],
            None => Vec::new(),
        };
        let default_users = Arc::new(default_users);
        let seed = d.seed.unwrap_or(0);
        let pattern = d
            .name_pattern
            .clone()
            .unwrap_or_else(|| "SIM{n:05}".to_string());
        let domain = d.domain.clone().unwrap_or_else(|| "lab.local".to_string());

        let mut fleet = Fleet::default();
        let mut spans: HashMap<IpAddr, std::ops::Range<usize>> = HashMap::new();
        for entry in &model.host {
            let addrs = addresses(&ctx, &entry.address, entry.count.as_ref())?;
            if let Some(name) = &entry.name {
                if addrs.len() > 1 {
                    return Err(ctx.err(
                        name.span(),
                        "name is for a single host; use name_pattern for many",
                    ));
                }
            }
            let prof = get_profile(&ctx, entry.profile.as_ref(), base_profile)?;
            let users = if entry.users.is_empty() {
                if default_users.is_empty() {
                    return Err(
                        ctx.err(entry.address.span(), "no users: set defaults.user or users")
                    );
                }
                default_users.clone()
            } else {
                Arc::new(
                    entry
                        .users
                        .iter()
                        .map(|u| {
                            user_spec(&ctx, &u.user, u.password_env.as_ref(), u.nt_hash.as_ref())
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                )
            };
            let mut overrides = Vec::new();
            if let Some(table) = &entry.overrides {
                let mut keys: Vec<&String> = table.get_ref().keys().collect();
                keys.sort();
                for k in keys {
                    let v = &table.get_ref()[k];
                    let text_value = override_text(v).ok_or_else(|| {
                        ctx.err(table.span(), format!("override {k}: unsupported value"))
                    })?;
                    check_override(k, &text_value)
                        .map_err(|e| ctx.err(table.span(), format!("override {k}: {e}")))?;
                    overrides.push((k.clone(), text_value));
                }
            }
            let mut faults = Vec::new();
            for f in &entry.faults {
                f.get_ref()
                    .fault
                    .validate()
                    .map_err(|m| ctx.err(f.span(), m))?;
                faults.push(f.get_ref().clone());
            }
            let (overrides, faults) = (Arc::new(overrides), Arc::new(faults));
            let host_domain = entry.domain.clone().unwrap_or_else(|| domain.clone());
            let kerberos = entry.keytab.clone().or_else(|| d.keytab.clone()).map(|k| KerberosSpec {
                keytab: k.into(),
                realm: entry
                    .realm
                    .clone()
                    .or_else(|| d.realm.clone())
                    .unwrap_or_else(|| host_domain.clone())
                    .to_ascii_uppercase(),
            });
            let ntlm = entry.ntlm.as_ref().map(|n| *n.get_ref()).or(d.ntlm).unwrap_or(true);
            if !ntlm && kerberos.is_none() {
                let span = entry.ntlm.as_ref().map_or(entry.address.span(), |n| n.span());
                return Err(ctx.err(span, "a host with ntlm = false needs a keytab"));
            }
            for addr in addrs {
                if let Some(_prev) = spans.get(&addr) {
                    return Err(ctx.err(
                        entry.address.span(),
                        format!("address {addr} is given twice"),
                    ));
                }
                spans.insert(addr, entry.address.span());
                let n = fleet.hosts.len() + 1;
                let name = match &entry.name {
                    Some(name) => name.get_ref().clone(),
                    None => expand_name(entry.name_pattern.as_deref().unwrap_or(&pattern), n, addr),
                };
                fleet.push(HostSpec {
                    address: addr,
                    name,
                    domain: entry.domain.clone().unwrap_or_else(|| domain.clone()),
                    profile: prof,
                    seed: entry.seed.unwrap_or(seed),
                    users: users.clone(),
                    overrides: overrides.clone(),
                    faults: faults.clone(),
                    kerberos: kerberos.clone(),
                    ntlm,
                });
            }
        }
        if let Some(mix) = &model.mix {
            if default_users.is_empty() {
                return Err(ctx.err(mix.start.span(), "mix needs defaults.user"));
            }
            let addrs = addresses(
                &ctx,
                &mix.start,
                Some(&Spanned::new(mix.start.span(), mix.count)),
            )?;
            let profiles = mix
                .profiles
                .iter()
                .map(|p| get_profile(&ctx, Some(p), base_profile))
                .collect::<Result<Vec<_>, _>>()?;
            let mut total = 0.0;
            for f in &mix.faults {
                let p = f.get_ref().percent;
                if !(0.0..=100.0).contains(&p) {
                    return Err(ctx.err(f.span(), "percent must be 0 to 100"));
                }
                f.get_ref()
                    .spec
                    .fault
                    .validate()
                    .map_err(|m| ctx.err(f.span(), m))?;
                total += p;
            }
            if total > 100.0 {
                return Err(ctx.err(
                    mix.start.span(),
                    format!("fault percentages add up to {total}, more than 100"),
                ));
            }
            let mix_seed = mix.seed.unwrap_or(seed);
            let none: Arc<Vec<FaultSpec>> = Arc::new(Vec::new());
            let per_fault: Vec<Arc<Vec<FaultSpec>>> = mix
                .faults
                .iter()
                .map(|f| Arc::new(vec![f.get_ref().spec.clone()]))
                .collect();
            for (i, addr) in addrs.into_iter().enumerate() {
                if spans.contains_key(&addr) {
                    return Err(ctx.err(mix.start.span(), format!("address {addr} is given twice")));
                }
                spans.insert(addr, mix.start.span());
                let mut rng = SplitMix64::derive(mix_seed, &format!("mix{i}"));
                let prof = if profiles.is_empty() {
                    base_profile
                } else {
                    profiles[rng.below(profiles.len() as u64) as usize]
                };
                // Draw in units of 1/100 percent.
                let draw = rng.below(10_000) as f64 / 100.0;
                let mut acc = 0.0;
                let mut faults = none.clone();
                for (f, spec) in mix.faults.iter().zip(&per_fault) {
                    acc += f.get_ref().percent;
                    if draw < acc {
                        faults = spec.clone();
                        break;
                    }
                }
                let n = fleet.hosts.len() + 1;
                fleet.push(HostSpec {
                    address: addr,
                    name: expand_name(&pattern, n, addr),
                    domain: domain.clone(),
                    profile: prof,
                    seed: mix_seed,
                    users: default_users.clone(),
                    overrides: Arc::new(Vec::new()),
                    faults,
                    kerberos: d.keytab.clone().map(|k| KerberosSpec {
                        keytab: k.into(),
                        realm: d.realm.clone().unwrap_or_else(|| domain.clone()).to_ascii_uppercase(),
                    }),
                    ntlm: d.ntlm.unwrap_or(true) || d.keytab.is_none(),
                });
            }
        }
        if fleet.hosts.is_empty() {
            return Err(FleetError::Invalid {
                line: 1,
                column: 1,
                message: "the fleet has no hosts: add [[host]] or [mix]".into(),
            });
        }
        Ok(fleet)
    }

    /// The `password_env` variables of the fleet's users (those without an `nt_hash`)
    /// that are unset or empty in this process, each once: a host would start, but no
    /// logon could ever succeed on it.
    pub fn unset_password_vars(&self) -> Vec<String> {
        let mut vars: Vec<String> = Vec::new();
        let mut last: Option<*const Vec<UserSpec>> = None;
        for h in &self.hosts {
            // Hosts of one entry share their user list: look at each list once.
            let list = Arc::as_ptr(&h.users);
            if last == Some(list) {
                continue;
            }
            last = Some(list);
            for u in h.users.iter().filter(|u| u.nt_hash.is_none()) {
                let Some(var) = &u.password_env else { continue };
                let set = std::env::var_os(var).is_some_and(|v| !v.is_empty());
                if !set && !vars.contains(var) {
                    vars.push(var.clone());
                }
            }
        }
        vars
    }

    /// One healthy host with the default profile, for `winventory sim --address`.
    pub fn single(address: IpAddr, user: &str, password_env: &str) -> Fleet {
        let (domain, name) = split_user(user);
        let mut fleet = Fleet::default();
        fleet.push(HostSpec {
            address,
            name: expand_name("SIM{n:05}", 1, address),
            domain: "lab.local".into(),
            profile: profile(DEFAULT_PROFILE).unwrap_or(&crate::data::profile::PROFILES[0]),
            seed: 0,
            users: Arc::new(vec![UserSpec {
                domain,
                user: name,
                password_env: Some(password_env.to_string()),
                nt_hash: None,
            }]),
            overrides: Arc::new(Vec::new()),
            faults: Arc::new(Vec::new()),
            kerberos: None,
            ntlm: true,
        });
        fleet
    }

    /// Adds a host (a later host at the same address replaces the earlier one in lookups).
    pub fn push(&mut self, host: HostSpec) {
        self.index.insert(host.address, self.hosts.len());
        self.hosts.push(host);
    }

    /// The host at `address`.
    pub fn host(&self, address: IpAddr) -> Option<&HostSpec> {
        self.index.get(&address).and_then(|i| self.hosts.get(*i))
    }
}
