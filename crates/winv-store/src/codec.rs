//! Column values to and from the engine's types.
//!
//! Every enum is stored as its stable identifier (the serde name), so a report can
//! compare with plain strings (`status = 'access-denied'`).

use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use winv_engine::{ClassOutcome, DeniedBy, Failure, Status};

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

    /// Binds the nine columns, in [`FAILURE_COLUMNS`] order.
    pub(crate) fn bind<'q>(
        self,
        q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
        q.bind(self.status)
            .bind(self.stage)
            .bind(self.phase)
            .bind(self.category)
            .bind(self.code)
            .bind(self.code_name)
            .bind(self.retry)
            .bind(self.denied_by)
            .bind(self.message)
    }
}

/// Reads the failure columns of a row back; `None` when `stage` is NULL.
pub(crate) fn failure_from_row(
    row: &SqliteRow,
    table: &'static str,
) -> Result<Option<Failure>, StoreError> {
    let Some(stage) = row.try_get::<Option<String>, _>("stage")? else {
        return Ok(None);
    };
    let st: Option<String> = row.try_get("failure_status")?;
    let st = st.ok_or_else(|| StoreError::corrupt(table, "failure_status", "null with a stage"))?;
    let phase: Option<String> = row.try_get("phase")?;
    let category: Option<String> = row.try_get("category")?;
    let code: Option<i64> = row.try_get("code")?;
    let code = code
        .map(|c| u32::try_from(c).map_err(|_| StoreError::corrupt(table, "code", c)))
        .transpose()?;
    let denied: Option<String> = row.try_get("denied_by")?;
    Ok(Some(Failure {
        status: status(&st, table, "failure_status")?,
        stage: winv_engine::FailureStage::parse(&stage)
            .ok_or_else(|| StoreError::corrupt(table, "stage", &stage))?,
        phase: from_ident(phase.as_deref().unwrap_or("none"), table, "phase")?,
        category: from_ident(category.as_deref().unwrap_or("none"), table, "category")?,
        code,
        code_name: row.try_get("code_name")?,
        retry: row.try_get::<Option<bool>, _>("retry")?.unwrap_or(false),
        denied_by: denied.as_deref().map(|d| denied_by(d, table)).transpose()?,
        message: row
            .try_get::<Option<String>, _>("message")?
            .unwrap_or_default(),
    }))
}
