//! The diagnosis knowledge base: every code remote WMI inventory meets
//! (network and DNS errors, RPC status and fault codes, DCOM and COM
//! HRESULTs, WBEM codes, the Win32 codes `StdRegProv` returns, Kerberos and
//! SSPI failures, and winventory's own per-computer statuses), each with its
//! layer, category, phase, retry class, likely causes, the checks that tell
//! them apart and the remediation.
//!
//! The data lives in one place, `kb.toml` beside this file, embedded at
//! build time and parsed once. Core tier: no I/O.
//!
//! Values follow [MS-ERREF] 2.1 (HRESULT), 2.2 (Win32), 2.3 (NTSTATUS);
//! `nca_s_*` faults follow [C706] appendix E and take their names from
//! [`winv_dcerpc::status`]; WBEM codes follow [MS-WMI] 2.2.11; statuses and
//! retry classes follow MAP, `docs/statuses.md` (the MAP inventory engine).
//!
//! # Resolving a query
//! [`lookup`] accepts `0x80070005`, a bare 8-digit hex `80070005`, signed or
//! unsigned decimal (`-2147024891`, `2147942405`), a symbolic name in any case
//! (`E_ACCESSDENIED`, `nca_s_unk_if`), `HRESULT_FROM_WIN32(NAME)`, or a status
//! identifier (`rpc-server-unavailable`). A number that several entries carry
//! (small values are reused across kinds: `1` is `ERROR_INVALID_FUNCTION`,
//! `WBEM_S_FALSE` and a bind_nak reason) returns [`Explanation::Several`] with
//! every match in file order; a number no entry carries is decoded
//! structurally ([`Explanation::Decoded`]).

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The knowledge base source, embedded at build time.
const KB_TOML: &str = include_str!("kb.toml");

/// What numbering a code belongs to ([MS-ERREF] 2.1-2.3, [C706] appendix E).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A COM / DCOM HRESULT ([MS-ERREF] 2.1).
    Hresult,
    /// A Win32 error code ([MS-ERREF] 2.2).
    Win32,
    /// A Winsock error (connect or name resolution).
    Winsock,
    /// A Win32 `RPC_S_*` / `EPT_S_*` / `RPC_X_*` status and its HRESULT form.
    RpcStatus,
    /// A DCE/RPC `nca_s_*` fault status ([C706] appendix E).
    Nca,
    /// A bind_nak `provider_reject_reason` ([C706] 12.6.3.1, [MS-RPCE] 2.2.2.5).
    BindReject,
    /// A WMI `WBEM_S_*` / `WBEM_E_*` status ([MS-WMI] 2.2.11).
    Wbem,
    /// An NTSTATUS ([MS-ERREF] 2.3).
    Ntstatus,
    /// A Kerberos protocol error number (RFC 4120 7.5.9).
    Kerberos,
    /// A winventory per-computer status identifier (MAP, `docs/statuses.md`).
    Status,
}

/// Which part of the connection flow a code comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layer {
    /// TCP connect, routing, firewalls.
    Network,
    /// Name resolution.
    Dns,
    /// DCE/RPC: endpoint mapper, binds, faults.
    Rpc,
    /// DCOM activation, object exporters, COM security.
    Dcom,
    /// The WMI service and its repository.
    Wmi,
    /// A WMI provider.
    Provider,
    /// Authentication: NTLM, Kerberos, SSPI, accounts.
    Auth,
    /// The registry, through `StdRegProv`.
    Registry,
    /// winventory's own engine (statuses it assigns itself).
    Engine,
}

/// The three categories of WMI failure of the WMI connectivity scenario guide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// Fails before the WMI infrastructure is reached.
    Connectivity,
    /// A permission or authentication failure.
    Access,
    /// Returned by the WMI service or a provider after a working connection.
    CoreWmi,
    /// Not a failure (success codes and statuses).
    None,
}

/// Whether a code is seen while connecting or during an operation ("Let's troubleshoot WMI", part 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// While connecting to a namespace (activation, login).
    Connecting,
    /// During an operation (query, get, method call) on a connected namespace.
    Operation,
    /// Either.
    Either,
    /// Not applicable (success).
    None,
}

/// What the inventory engine does with a computer that fails with a code (MAP, `docs/statuses.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RetryClass {
    /// Retry-class: abandon the computer now and requeue it later in the run
    /// (at most 3 retries; the class being collected moves to the end).
    Retry,
    /// Recorded against the one class being collected; the computer goes on.
    /// When every class fails on every attempt the computer ends as `other-reasons`.
    PerClass,
    /// Not retried: the computer ends with the status at once.
    No,
}

/// One knowledge-base entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Symbolic name (`E_ACCESSDENIED`) or status identifier (`access-denied`).
    pub name: String,
    /// Other spellings that resolve to this entry.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Numeric values; the first is the native one, later ones are other forms
    /// of the same condition (an RPC status's HRESULT_FROM_WIN32 form). Empty for statuses.
    #[serde(default)]
    pub values: Vec<u32>,
    /// Numbering.
    pub kind: Kind,
    /// Layer.
    pub layer: Layer,
    /// Category (the WMI connectivity scenario guide).
    pub category: Category,
    /// Connecting or operation ("Let's troubleshoot WMI", part 1).
    pub phase: Phase,
    /// Retry class (MAP, `docs/statuses.md`).
    pub retry_class: RetryClass,
    /// The winventory statuses a computer failing with this code ends with.
    #[serde(default)]
    pub statuses: Vec<String>,
    /// One line in the project's words.
    pub summary: String,
    /// Likely causes, most likely first.
    pub causes: Vec<String>,
    /// Checks that tell the causes apart.
    pub checks: Vec<String>,
    /// Remediation steps, in the order to try them.
    pub remediation: Vec<String>,
    /// Seeds (`000`..`003`) that support the entry; empty when none names it.
    #[serde(default)]
    pub seeds: Vec<String>,
}

/// The title of a source document an entry cites (`000`..`003`), as users know it.
pub fn source_title(id: &str) -> Option<&'static str> {
    Some(match id {
        "000" => "MAP Toolkit: inventory status codes and what they mean",
        "001" => "Scenario guide: Troubleshoot WMI connectivity and access issues",
        "002" => "Let's troubleshoot WMI (Part 1: Remoting and Security)",
        "003" => "WMI Troubleshooting (Win32 WMI documentation)",
        _ => return None,
    })
}

impl Entry {
    /// The titles of the sources that support the entry, in its order.
    pub fn source_titles(&self) -> Vec<&'static str> {
        self.seeds.iter().filter_map(|s| source_title(s)).collect()
    }

    /// Whether `query` (any case) is this entry's name or one of its aliases.
    pub fn is_named(&self, query: &str) -> bool {
        self.name.eq_ignore_ascii_case(query)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(query))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KbFile {
    entry: Vec<Entry>,
}

fn parse(src: &str) -> Result<Vec<Entry>, toml::de::Error> {
    toml::from_str::<KbFile>(src).map(|f| f.entry)
}

/// Every entry, in file order.
pub fn entries() -> &'static [Entry] {
    static ENTRIES: OnceLock<Vec<Entry>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        // INVARIANT: kb.toml is a build-time constant; the unit test
        // `kb_parses_and_is_consistent` proves it parses.
        #[allow(clippy::expect_used)]
        parse(KB_TOML).expect("kb.toml is valid")
    })
}

/// Errors of [`lookup`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KbError {
    /// Nothing to look up.
    #[error("empty code")]
    Empty,
    /// Looks like a number but is not one that fits 32 bits.
    #[error("not a 32-bit code: {0}")]
    BadNumber(String),
    /// A name no entry carries.
    #[error("unknown code name: {0}")]
    UnknownName(String),
}

/// Severity, facility and code of a 32-bit value read as an HRESULT
/// ([MS-ERREF] 2.1), for codes the knowledge base does not carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HresultParts {
    /// The value.
    pub value: u32,
    /// S bit: failure.
    pub failure: bool,
    /// C bit: customer-defined.
    pub customer: bool,
    /// N bit: a mapped NTSTATUS.
    pub ntstatus_mapped: bool,
    /// Facility (11 bits).
    pub facility: u16,
    /// Facility name when known (`WIN32`, `ITF`, ...).
    pub facility_name: Option<&'static str>,
    /// Code (low 16 bits).
    pub code: u16,
    /// For FACILITY_WIN32 failures: the known entry of the Win32 code inside.
    pub win32_inner: Option<&'static Entry>,
    /// What the decode suggests, in one sentence.
    pub note: String,
}

/// The result of [`lookup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Explanation {
    /// Exactly one entry matches.
    Known(&'static Entry),
    /// Several entries carry the number (different kinds reuse small values);
    /// all of them, in file order.
    Several(Vec<&'static Entry>),
    /// No entry carries the number: a structural decode.
    Decoded(HresultParts),
}

/// Name of an HRESULT facility ([MS-ERREF] 2.1.2).
pub fn facility_name(facility: u16) -> Option<&'static str> {
    Some(match facility {
        0 => "NULL",
        1 => "RPC",
        2 => "DISPATCH",
        3 => "STORAGE",
        4 => "ITF",
        7 => "WIN32",
        8 => "WINDOWS",
        9 => "SECURITY",
        10 => "CONTROL",
        11 => "CERT",
        12 => "INTERNET",
        13 => "MEDIASERVER",
        14 => "MSMQ",
        15 => "SETUPAPI",
        16 => "SCARD",
        17 => "COMPLUS",
        25 => "HTTP",
        32 => "BACKGROUNDCOPY",
        33 => "CONFIGURATION",
        36 => "WINDOWSUPDATE",
        37 => "DIRECTORYSERVICE",
        51 => "WINRM",
        _ => return None,
    })
}

/// Structural decode of a value as an HRESULT ([MS-ERREF] 2.1).
pub fn decode(value: u32) -> HresultParts {
    let failure = value & 0x8000_0000 != 0;
    let customer = value & 0x2000_0000 != 0;
    let ntstatus_mapped = value & 0x1000_0000 != 0;
    let facility = ((value >> 16) & 0x07ff) as u16;
    let code = (value & 0xffff) as u16;
    let win32_inner = if failure && facility == 7 && !ntstatus_mapped {
        entries().iter().find(|e| {
            matches!(e.kind, Kind::Win32 | Kind::Winsock | Kind::RpcStatus)
                && e.values.first() == Some(&u32::from(code))
        })
    } else {
        None
    };
    let note = if value & 0xc000_0000 == 0xc000_0000 {
        "not in the knowledge base; the top two bits are set, so it is probably an NTSTATUS error"
            .to_string()
    } else if let Some(inner) = win32_inner {
        format!(
            "not in the knowledge base as such; it carries Win32 code {code} ({}), explained below",
            inner.name
        )
    } else if failure && facility == 7 {
        format!("not in the knowledge base; it carries Win32 code {code}, which the knowledge base does not know either")
    } else if failure {
        format!(
            "not in the knowledge base; a failure HRESULT of facility {}",
            facility_name(facility).unwrap_or("unknown")
        )
    } else if value <= 0xffff {
        format!("not in the knowledge base; a small value like this is usually a Win32 error code (as an HRESULT: 0x{:08X})", 0x8007_0000 | value)
    } else {
        "not in the knowledge base; no failure bit, so as an HRESULT it is a success or informational code".to_string()
    };
    HresultParts {
        value,
        failure,
        customer,
        ntstatus_mapped,
        facility,
        facility_name: facility_name(facility),
        code,
        win32_inner,
        note,
    }
}

/// Parse the numeric forms of [`lookup`]: `Ok(None)` when `q` is not numeric.
fn parse_number(q: &str) -> Result<Option<u32>, KbError> {
    let bad = || KbError::BadNumber(q.to_string());
    if let Some(hex) = q.strip_prefix("0x").or_else(|| q.strip_prefix("0X")) {
        if hex.is_empty() || hex.len() > 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        return u32::from_str_radix(hex, 16).map(Some).map_err(|_| bad());
    }
    // A bare 8-digit hex string is how Windows prints HRESULTs ("80070005");
    // no code in the knowledge base is an 8-digit decimal number.
    if q.len() == 8 && q.bytes().all(|b| b.is_ascii_hexdigit()) {
        return u32::from_str_radix(q, 16).map(Some).map_err(|_| bad());
    }
    if let Some(digits) = q.strip_prefix('-') {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let v: i64 = q.parse().map_err(|_| bad())?;
        let v = i32::try_from(v).map_err(|_| bad())?;
        return Ok(Some(v as u32));
    }
    if q.bytes().all(|b| b.is_ascii_digit()) {
        let v: u64 = q.parse().map_err(|_| bad())?;
        return u32::try_from(v).map(Some).map_err(|_| bad());
    }
    Ok(None)
}

/// Every entry that carries `value`, in file order.
pub fn by_value(value: u32) -> Vec<&'static Entry> {
    entries()
        .iter()
        .filter(|e| e.values.contains(&value))
        .collect()
}

/// The entry named `name` (or with that alias), any case.
pub fn by_name(name: &str) -> Option<&'static Entry> {
    entries().iter().find(|e| e.is_named(name))
}

/// Resolve a code in any accepted form; see the crate documentation.
pub fn lookup(query: &str) -> Result<Explanation, KbError> {
    let q = query.trim();
    if q.is_empty() {
        return Err(KbError::Empty);
    }
    if let Some(v) = parse_number(q)? {
        return Ok(explain_value(v));
    }
    if let Some(e) = by_name(q) {
        return Ok(Explanation::Known(e));
    }
    // HRESULT_FROM_WIN32(NAME): the HRESULT form of a Win32 code given by name.
    let upper = q.to_ascii_uppercase();
    if let Some(inner) = upper
        .strip_prefix("HRESULT_FROM_WIN32(")
        .and_then(|r| r.strip_suffix(')'))
    {
        if let Some(e) = by_name(inner.trim())
            .filter(|e| matches!(e.kind, Kind::Win32 | Kind::Winsock | Kind::RpcStatus))
        {
            if let Some(&v) = e.values.first() {
                let hr = if v == 0 {
                    0
                } else {
                    0x8007_0000 | (v & 0xffff)
                };
                return Ok(explain_value(hr));
            }
        }
    }
    Err(KbError::UnknownName(q.to_string()))
}

fn explain_value(v: u32) -> Explanation {
    let mut hits = by_value(v);
    match hits.len() {
        0 => Explanation::Decoded(decode(v)),
        1 => Explanation::Known(hits.remove(0)),
        _ => Explanation::Several(hits),
    }
}

/// The entry of a winventory status identifier (`rpc-server-unavailable`).
pub fn by_status(id: &str) -> Option<&'static Entry> {
    entries()
        .iter()
        .find(|e| e.kind == Kind::Status && e.name.eq_ignore_ascii_case(id))
}

/// Kinds [`name`] considers, in order of preference when a value is shared.
const NAME_KINDS: [Kind; 7] = [
    Kind::Wbem,
    Kind::Hresult,
    Kind::RpcStatus,
    Kind::Win32,
    Kind::Winsock,
    Kind::Ntstatus,
    Kind::Nca,
];

/// winventory's own HRESULT (the customer bit 0x20000000 set, so no Microsoft code can
/// equal it): a per-item error when a host kept sending data past a query's budget of
/// rows, octets or time. Its entry in `kb.toml` ("WINV_E_LIMIT_EXCEEDED") explains it.
pub const WINV_E_LIMIT_EXCEEDED: u32 = 0xA004_0001;

/// winventory's own HRESULT (customer bit set, as [`WINV_E_LIMIT_EXCEEDED`]): the scan
/// stopped working on a computer because its attempt ran past the per-computer time
/// budget (`EngineOptions::attempt_budget`): the item running then, and every item not
/// started, carry it. Its entry in `kb.toml` ("WINV_E_ATTEMPT_BUDGET") explains it.
pub const WINV_E_ATTEMPT_BUDGET: u32 = 0xA004_0002;

/// Symbolic name of an HRESULT, WBEM, Win32, Winsock, NTSTATUS or DCE/RPC
/// fault value: the name table for error messages ("0x80041003
/// WBEM_E_ACCESS_DENIED"). Bind_nak reasons and Kerberos numbers are not
/// considered (use [`name_in`]). Falls back to [`winv_dcerpc::status::status_name`].
pub fn name(code: u32) -> Option<&'static str> {
    NAME_KINDS
        .iter()
        .find_map(|&k| name_in(k, code))
        .or_else(|| winv_dcerpc::status::status_name(code))
}

/// Symbolic name of `code` within one numbering.
pub fn name_in(kind: Kind, code: u32) -> Option<&'static str> {
    entries()
        .iter()
        .find(|e| e.kind == kind && e.values.contains(&code))
        .map(|e| e.name.as_str())
}

#[cfg(test)]
mod tests;
