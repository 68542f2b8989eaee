//! Column values to and from the engine's types.
//!
//! Every enum is stored as its stable identifier (the serde name), so a report can
//! compare with plain strings (`status = 'access-denied'`).

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use winv_engine::{ClassOutcome, ComputerResult, DeniedBy, Failure, Status};

use crate::error::StoreError;

/// The serde identifier of a unit enum variant (`core-wmi`).
pub(crate) fn ident<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        // Unit enums always serialize to strings; anything else is a programming error
        // that still must not panic.
        Ok(other) => other.to_string(),
        Err(e) => e.to_string(),
    }
}

/// Parses a serde identifier back.
pub(crate) fn from_ident<T: DeserializeOwned>(
    s: &str,
    table: &'static str,
    column: &'static str,
) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| StoreError::corrupt(table, column, format!("unknown identifier {s:?}")))
}

pub(crate) fn status(
    s: &str,
    table: &'static str,
    column: &'static str,
) -> Result<Status, StoreError> {
    s.parse::<Status>()
        .map_err(|e| StoreError::corrupt(table, column, e))
}

pub(crate) fn outcome(s: &str) -> Result<ClassOutcome, StoreError> {
    ClassOutcome::ALL
        .into_iter()
        .find(|o| o.as_str() == s)
        .ok_or_else(|| {
            StoreError::corrupt("class_results", "outcome", format!("unknown outcome {s:?}"))
        })
}

pub(crate) fn denied_by(s: &str, table: &'static str) -> Result<DeniedBy, StoreError> {
    [
        DeniedBy::Authentication,
        DeniedBy::Dcom,
        DeniedBy::WmiNamespace,
        DeniedBy::Registry,
    ]
    .into_iter()
    .find(|d| d.as_str() == s)
    .ok_or_else(|| StoreError::corrupt(table, "denied_by", format!("unknown value {s:?}")))
}

/// Saturating conversion for counts and durations (a `u64` beyond `i64::MAX` cannot
/// happen in practice; it is stored as `i64::MAX` rather than failing the save).
pub(crate) fn to_i64<T: TryInto<i64>>(v: T) -> i64 {
    v.try_into().unwrap_or(i64::MAX)
}

/// The failure columns (`failure_status` .. `message`) shared by `computers`,
/// `attempts` and `class_results`, ready to bind in that order.
#[derive(Debug, Default)]
pub(crate) struct FailureCols {
    pub status: Option<&'static str>,
    pub stage: Option<String>,
    pub phase: Option<String>,
    pub category: Option<String>,
    pub code: Option<i64>,
    pub code_name: Option<String>,
    pub retry: Option<bool>,
    pub denied_by: Option<&'static str>,
    pub message: Option<String>,
}

/// The SQL column list of [`FailureCols`].
pub(crate) const FAILURE_COLUMNS: &str =
    "failure_status, stage, phase, category, code, code_name, retry, denied_by, message";

impl FailureCols {
    pub(crate) fn new(f: Option<&Failure>) -> FailureCols {
        let Some(f) = f else {
            return FailureCols::default();
        };
        FailureCols {
            status: Some(f.status.as_str()),
            stage: Some(f.stage.as_str().to_string()),
            phase: Some(ident(&f.phase)),
            category: Some(ident(&f.category)),
            code: f.code.map(i64::from),
            code_name: f.code_name.clone(),
            retry: Some(f.retry),
            denied_by: f.denied_by.map(DeniedBy::as_str),
            message: Some(f.message.clone()),
        }
    }
}

/// The failure columns of a row, as read.
pub(crate) struct FailureText {
    pub stage: String,
    pub status: Option<String>,
    pub phase: Option<String>,
    pub category: Option<String>,
    pub code: Option<i64>,
    pub code_name: Option<String>,
    pub retry: Option<bool>,
    pub denied_by: Option<String>,
    pub message: Option<String>,
}

/// The failure columns of a row back as a [`Failure`].
pub(crate) fn failure(table: &'static str, f: FailureText) -> Result<Failure, StoreError> {
    let st = f
        .status
        .ok_or_else(|| StoreError::corrupt(table, "failure_status", "null with a stage"))?;
    let code = f
        .code
        .map(|c| u32::try_from(c).map_err(|_| StoreError::corrupt(table, "code", c)))
        .transpose()?;
    Ok(Failure {
        status: status(&st, table, "failure_status")?,
        stage: winv_engine::FailureStage::parse(&f.stage)
            .ok_or_else(|| StoreError::corrupt(table, "stage", &f.stage))?,
        phase: from_ident(f.phase.as_deref().unwrap_or("none"), table, "phase")?,
        category: from_ident(f.category.as_deref().unwrap_or("none"), table, "category")?,
        code,
        code_name: f.code_name,
        retry: f.retry.unwrap_or(false),
        denied_by: f
            .denied_by
            .as_deref()
            .map(|d| denied_by(d, table))
            .transpose()?,
        message: f.message.unwrap_or_default(),
    })
}

/// PostgreSQL `text` cannot hold U+0000, so a result whose strings (from the scanned
/// host: a program name, a message, a property) hold one would fail its save and be lost.
/// Returns the result with every U+0000 replaced by U+FFFD, or `None` when it has none.
pub(crate) fn without_nul(r: &ComputerResult) -> Option<ComputerResult> {
    fn has(v: &Value) -> bool {
        match v {
            Value::String(s) => s.contains('\0'),
            Value::Array(a) => a.iter().any(has),
            Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has(v)),
            _ => false,
        }
    }
    fn fix(v: Value) -> Value {
        let clean = |s: String| {
            if s.contains('\0') {
                s.replace('\0', "\u{FFFD}")
            } else {
                s
            }
        };
        match v {
            Value::String(s) => Value::String(clean(s)),
            Value::Array(a) => Value::Array(a.into_iter().map(fix).collect()),
            Value::Object(o) => {
                Value::Object(o.into_iter().map(|(k, v)| (clean(k), fix(v))).collect())
            }
            other => other,
        }
    }
    let v = serde_json::to_value(r).ok()?;
    if !has(&v) {
        return None;
    }
    serde_json::from_value(fix(v)).ok()
}

/// A string with U+0000 replaced by U+FFFD (on both backends: small working rows, such
/// as `in_flight`, read the same everywhere).
pub(crate) fn no_nul(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}
