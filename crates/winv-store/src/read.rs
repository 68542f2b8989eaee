//! Read-side queries for reports and the dashboard (`winv-report`): flat rows streamed
//! from the report tables, grouped counts, and the filtered, sorted, paged computer list.
//!
//! Every query here is portable SQL (SQLite and PostgreSQL): no SQLite functions, no
//! `GROUP_CONCAT`, `LOWER(..) LIKE LOWER(..) ESCAPE '\'` for case-insensitive search,
//! `COUNT(DISTINCT ..)`, `LIMIT .. OFFSET ..`. Only placeholders are SQLite's `?`; all
//! the SQL of this module sits in this file so the PostgreSQL port changes one place.
//!
//! Rows are streamed to a callback (`fetch`, not `fetch_all`), so a sheet of five
//! million services never sits in memory.

use futures_util::TryStreamExt;
use serde::Serialize;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use winv_engine::Status;

use crate::error::StoreError;
use crate::model::RunId;
use crate::store::Store;

/// One value of a report row, typed as the column is.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum DbValue {
    /// SQL NULL.
    Null,
    /// An integer column.
    Int(i64),
    /// A text column.
    Text(String),
    /// A boolean column.
    Bool(bool),
}

impl DbValue {
    /// The text, when the value is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            DbValue::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, when the value is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            DbValue::Int(i) => Some(*i),
            _ => None,
        }
    }
}

#[derive(Clone, Copy)]
enum Ty {
    Int,
    Text,
    Bool,
}

/// The flat row sets a report is made of. Each names its columns
/// ([`RowSet::columns`]) in the order of the values handed to the callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowSet {
    /// One row per computer with a result: `target, address, status, stage, phase,
    /// category, code, code_name, denied_by, message, credential, finished_ms,
    /// attempts`, by target.
    Computers,
    /// One row per inventoried computer: `target, name, domain, caption, edition,
    /// version, build_number, architecture, service_pack, install_date, last_boot`.
    OperatingSystems,
    /// One row per inventoried computer: `target, manufacturer, model, bios_serial,
    /// bios_manufacturer, bios_version, processor_name, processors, cores,
    /// logical_processors, total_physical_memory, chassis, computer_id`.
    Hardware,
    /// Raw `Win32_DiskDrive` instances: `computer_id, json`.
    DiskDrives,
    /// Installed programs: `target, name, version, publisher, install_date, wow64`.
    Software,
    /// Programs grouped: `name, publisher, version, computers` (distinct computers
    /// with that version), ordered by name, publisher, version.
    SoftwareVersions,
    /// Programs grouped over versions: `name, publisher, computers`.
    SoftwareTotals,
    /// `target, hotfix_id, description, installed_on`.
    Hotfixes,
    /// `target, name, display_name, state, start_mode, start_name`.
    Services,
    /// Failed computers grouped by reason: `status, stage, code, code_name, denied_by,
    /// message (one of the group's), computers`, largest first.
    FailureReasons,
    /// Operating systems grouped: `caption, edition, build_number, computers`.
    OsGroups,
    /// One row per computer with a result, for comparing runs: `target, status, stage,
    /// code_name, name, caption, version, build_number, software_collected` (how many
    /// times the installed-software item was collected: 0 when it was not), by target.
    CompareMachines,
}

impl RowSet {
    fn spec(self) -> (&'static str, &'static [(&'static str, Ty)]) {
        use Ty::*;
        match self {
            RowSet::Computers => (
                "SELECT c.target, c.address, c.status, c.stage, c.phase, c.category, c.code, \
                 c.code_name, c.denied_by, c.message, c.credential, c.finished_ms, \
                 (SELECT COUNT(*) FROM attempts a WHERE a.computer_id = c.id) AS attempts \
                 FROM computers c WHERE c.run_id = ? ORDER BY c.target",
                &[
                    ("target", Text),
                    ("address", Text),
                    ("status", Text),
                    ("stage", Text),
                    ("phase", Text),
                    ("category", Text),
                    ("code", Int),
                    ("code_name", Text),
                    ("denied_by", Text),
                    ("message", Text),
                    ("credential", Text),
                    ("finished_ms", Int),
                    ("attempts", Int),
                ],
            ),
            RowSet::OperatingSystems => (
                "SELECT o.target, h.name, h.domain, o.caption, o.edition, o.version, \
                 o.build_number, o.architecture, o.service_pack, o.install_date, o.last_boot \
                 FROM operating_systems o LEFT JOIN hosts h ON h.computer_id = o.computer_id \
                 WHERE o.run_id = ? ORDER BY o.target",
                &[
                    ("target", Text),
                    ("name", Text),
                    ("domain", Text),
                    ("caption", Text),
                    ("edition", Text),
                    ("version", Text),
                    ("build_number", Text),
                    ("architecture", Text),
                    ("service_pack", Text),
                    ("install_date", Text),
                    ("last_boot", Text),
                ],
            ),
            RowSet::Hardware => (
                "SELECT w.target, h.manufacturer, h.model, w.bios_serial, w.bios_manufacturer, \
                 w.bios_version, w.processor_name, w.processors, w.cores, \
                 w.logical_processors, h.total_physical_memory, w.chassis, w.computer_id \
                 FROM hardware w LEFT JOIN hosts h ON h.computer_id = w.computer_id \
                 WHERE w.run_id = ? ORDER BY w.target",
                &[
                    ("target", Text),
                    ("manufacturer", Text),
                    ("model", Text),
                    ("bios_serial", Text),
                    ("bios_manufacturer", Text),
                    ("bios_version", Text),
                    ("processor_name", Text),
                    ("processors", Int),
                    ("cores", Int),
                    ("logical_processors", Int),
                    ("total_physical_memory", Int),
                    ("chassis", Text),
                    ("computer_id", Int),
                ],
            ),
            RowSet::DiskDrives => (
                "SELECT computer_id, json FROM instances \
                 WHERE run_id = ? AND class = 'Win32_DiskDrive' ORDER BY computer_id, position",
                &[("computer_id", Int), ("json", Text)],
            ),
            RowSet::Software => (
                "SELECT target, name, version, publisher, install_date, wow64 \
                 FROM installed_software WHERE run_id = ? ORDER BY target, position",
                &[
                    ("target", Text),
                    ("name", Text),
                    ("version", Text),
                    ("publisher", Text),
                    ("install_date", Text),
                    ("wow64", Bool),
                ],
            ),
            RowSet::SoftwareVersions => (
                "SELECT name, publisher, version, COUNT(DISTINCT computer_id) AS computers \
                 FROM installed_software WHERE run_id = ? \
                 GROUP BY name, publisher, version ORDER BY name, publisher, version",
                &[
                    ("name", Text),
                    ("publisher", Text),
                    ("version", Text),
                    ("computers", Int),
                ],
            ),
            RowSet::SoftwareTotals => (
                "SELECT name, publisher, COUNT(DISTINCT computer_id) AS computers \
                 FROM installed_software WHERE run_id = ? \
                 GROUP BY name, publisher ORDER BY name, publisher",
                &[("name", Text), ("publisher", Text), ("computers", Int)],
            ),
            RowSet::Hotfixes => (
                "SELECT target, hotfix_id, description, installed_on FROM hotfixes \
                 WHERE run_id = ? ORDER BY target, position",
                &[
                    ("target", Text),
                    ("hotfix_id", Text),
                    ("description", Text),
                    ("installed_on", Text),
                ],
            ),
            RowSet::Services => (
                "SELECT target, name, display_name, state, start_mode, start_name \
                 FROM services WHERE run_id = ? ORDER BY target, position",
                &[
                    ("target", Text),
                    ("name", Text),
                    ("display_name", Text),
                    ("state", Text),
                    ("start_mode", Text),
                    ("start_name", Text),
                ],
            ),
            RowSet::FailureReasons => (
                "SELECT status, stage, code, code_name, denied_by, MIN(message) AS message, \
                 COUNT(*) AS computers FROM computers \
                 WHERE run_id = ? AND status <> 'inventoried' \
                 AND status <> 'inventoried-incomplete' \
                 GROUP BY status, stage, code, code_name, denied_by \
                 ORDER BY COUNT(*) DESC, status, stage",
                &[
                    ("status", Text),
                    ("stage", Text),
                    ("code", Int),
                    ("code_name", Text),
                    ("denied_by", Text),
                    ("message", Text),
                    ("computers", Int),
                ],
            ),
            RowSet::OsGroups => (
                "SELECT caption, edition, build_number, COUNT(*) AS computers \
                 FROM operating_systems WHERE run_id = ? \
                 GROUP BY caption, edition, build_number ORDER BY COUNT(*) DESC, caption",
                &[
                    ("caption", Text),
                    ("edition", Text),
                    ("build_number", Text),
                    ("computers", Int),
                ],
            ),
            RowSet::CompareMachines => (
                "SELECT c.target, c.status, c.stage, c.code_name, h.name, o.caption, \
                 o.version, o.build_number, \
                 (SELECT COUNT(*) FROM class_results r WHERE r.computer_id = c.id \
                 AND r.class = 'registry:software' AND r.outcome = 'collected') \
                 AS software_collected \
                 FROM computers c LEFT JOIN hosts h ON h.computer_id = c.id \
                 LEFT JOIN operating_systems o ON o.computer_id = c.id \
                 WHERE c.run_id = ? ORDER BY c.target",
                &[
                    ("target", Text),
                    ("status", Text),
                    ("stage", Text),
                    ("code_name", Text),
                    ("name", Text),
                    ("caption", Text),
                    ("version", Text),
                    ("build_number", Text),
                    ("software_collected", Int),
                ],
            ),
        }
    }

    /// The column names, in value order.
    pub fn columns(self) -> Vec<&'static str> {
        self.spec().1.iter().map(|(n, _)| *n).collect()
    }
}

fn values(row: &SqliteRow, cols: &[(&'static str, Ty)]) -> Result<Vec<DbValue>, StoreError> {
    let mut out = Vec::with_capacity(cols.len());
    for (i, (_, ty)) in cols.iter().enumerate() {
        out.push(match ty {
            Ty::Int => row
                .try_get::<Option<i64>, _>(i)?
                .map_or(DbValue::Null, DbValue::Int),
            Ty::Text => row
                .try_get::<Option<String>, _>(i)?
                .map_or(DbValue::Null, DbValue::Text),
            Ty::Bool => row
                .try_get::<Option<bool>, _>(i)?
                .map_or(DbValue::Null, DbValue::Bool),
        });
    }
    Ok(out)
}

/// The computer list's filter, sort and page (the dashboard's `/computers` query).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ComputerFilter {
    /// Case-insensitive substring of target, host name or address.
    pub search: Option<String>,
    /// Exact status identifier.
    pub status: Option<String>,
    /// Exact OS caption.
    pub os: Option<String>,
    /// Exact failure stage.
    pub stage: Option<String>,
    /// Exact failure code name.
    pub code_name: Option<String>,
    /// Exact name of an installed program the computer must have.
    pub software: Option<String>,
    /// Whether only failed computers (neither inventoried status).
    pub failed_only: bool,
    /// Sort column.
    pub sort: ComputerSort,
    /// Descending instead of ascending.
    pub desc: bool,
    /// Rows to skip.
    pub offset: u64,
    /// Rows at most (capped at [`MAX_PAGE`]).
    pub limit: u64,
}

/// The most rows one page of the computer list returns.
pub const MAX_PAGE: u64 = 10_000;

/// What the computer list sorts by (a fixed set: never a column name from a request).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ComputerSort {
    /// The target.
    #[default]
    Target,
    /// The status identifier.
    Status,
    /// The OS caption.
    Os,
    /// The failure stage.
    Stage,
    /// The host name Windows reported.
    Name,
}

impl ComputerSort {
    /// Every sort key, with its URL name.
    pub const ALL: [(ComputerSort, &'static str); 5] = [
        (ComputerSort::Target, "target"),
        (ComputerSort::Status, "status"),
        (ComputerSort::Os, "os"),
        (ComputerSort::Stage, "stage"),
        (ComputerSort::Name, "name"),
    ];

    fn column(self) -> &'static str {
        match self {
            ComputerSort::Target => "c.target",
            ComputerSort::Status => "c.status",
            ComputerSort::Os => "o.caption",
            ComputerSort::Stage => "c.stage",
            ComputerSort::Name => "h.name",
        }
    }
}

/// One row of the computer list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ComputerListRow {
    /// The target as given.
    pub target: String,
    /// The address connected to.
    pub address: Option<String>,
    /// The status identifier.
    pub status: String,
    /// The failure stage.
    pub stage: Option<String>,
    /// The failure code name.
    pub code_name: Option<String>,
    /// The host name Windows reported.
    pub name: Option<String>,
    /// The OS caption.
    pub os: Option<String>,
}

/// Escapes `%`, `_` and `\` for a `LIKE .. ESCAPE '\'` pattern.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('%');
    for ch in s.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

impl Store {
    /// Streams the rows of `set` for `run` to `f`, in the set's order. `f` returning an
    /// error stops the stream and returns that error.
    pub async fn each_row<E, F>(&self, run: RunId, set: RowSet, mut f: F) -> Result<(), E>
    where
        E: From<StoreError>,
        F: FnMut(Vec<DbValue>) -> Result<(), E>,
    {
        let (sql, cols) = set.spec();
        let mut rows = sqlx::query(sql)
            .bind(run)
            .fetch(self.sqlite_pools("reports")?.1);
        while let Some(row) = rows.try_next().await.map_err(StoreError::from)? {
            f(values(&row, cols)?)?;
        }
        Ok(())
    }

    /// Every row of `set` (for the small grouped sets).
    pub async fn rows(&self, run: RunId, set: RowSet) -> Result<Vec<Vec<DbValue>>, StoreError> {
        let mut out = Vec::new();
        self.each_row::<StoreError, _>(run, set, |r| {
            out.push(r);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// Every run, newest first: `(id, started_ms, state, targets)`.
    pub async fn runs(&self) -> Result<Vec<(RunId, i64, String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, started_ms, state, targets FROM runs ORDER BY id DESC LIMIT 1000",
        )
        .fetch_all(self.sqlite_pools("reports")?.1)
        .await?)
    }

    /// How many computers of a run have a result (any status), and how many of those
    /// are finished (not `inventory-not-completed`): the progress of a running scan.
    pub async fn progress(&self, run: RunId) -> Result<(u64, u64), StoreError> {
        let (all, done): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), SUM(CASE WHEN status <> ? THEN 1 ELSE 0 END) \
             FROM computers WHERE run_id = ?",
        )
        .bind(Status::InventoryNotCompleted.as_str())
        .bind(run)
        .fetch_one(self.sqlite_pools("reports")?.1)
        .await?;
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok((n(all), n(done.unwrap_or(0))))
    }

    /// The computer list of a run, filtered, sorted and paged, and the number of rows
    /// the filter matches before paging.
    pub async fn computer_list(
        &self,
        run: RunId,
        f: &ComputerFilter,
    ) -> Result<(Vec<ComputerListRow>, u64), StoreError> {
        let mut cond = String::from("c.run_id = ?");
        let mut binds: Vec<String> = Vec::new();
        if let Some(s) = f.search.as_deref().filter(|s| !s.is_empty()) {
            cond.push_str(
                " AND (LOWER(c.target) LIKE LOWER(?) ESCAPE '\\' \
                 OR LOWER(COALESCE(h.name, '')) LIKE LOWER(?) ESCAPE '\\' \
                 OR LOWER(COALESCE(c.address, '')) LIKE LOWER(?) ESCAPE '\\')",
            );
            let p = like_escape(s);
            binds.extend([p.clone(), p.clone(), p]);
        }
        for (value, col) in [
            (&f.status, "c.status"),
            (&f.os, "o.caption"),
            (&f.stage, "c.stage"),
            (&f.code_name, "c.code_name"),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                cond.push_str(&format!(" AND {col} = ?"));
                binds.push(v.to_string());
            }
        }
        if let Some(v) = f.software.as_deref().filter(|v| !v.is_empty()) {
            cond.push_str(
                " AND EXISTS (SELECT 1 FROM installed_software s \
                 WHERE s.computer_id = c.id AND s.name = ?)",
            );
            binds.push(v.to_string());
        }
        if f.failed_only {
            cond.push_str(
                " AND c.status <> 'inventoried' AND c.status <> 'inventoried-incomplete'",
            );
        }
        let from = "FROM computers c \
                    LEFT JOIN operating_systems o ON o.computer_id = c.id \
                    LEFT JOIN hosts h ON h.computer_id = c.id";
        let count_sql = format!("SELECT COUNT(*) {from} WHERE {cond}");
        let mut q = sqlx::query_scalar::<_, i64>(&count_sql).bind(run);
        for b in &binds {
            q = q.bind(b);
        }
        let total = q.fetch_one(self.sqlite_pools("reports")?.1).await?;
        let dir = if f.desc { "DESC" } else { "ASC" };
        let list_sql = format!(
            "SELECT c.target, c.address, c.status, c.stage, c.code_name, h.name, o.caption \
             {from} WHERE {cond} ORDER BY {} {dir}, c.target {dir} LIMIT ? OFFSET ?",
            f.sort.column()
        );
        let mut q = sqlx::query(&list_sql).bind(run);
        for b in &binds {
            q = q.bind(b);
        }
        let limit = f.limit.clamp(1, MAX_PAGE);
        let rows = q
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .bind(i64::try_from(f.offset).unwrap_or(i64::MAX))
            .fetch_all(self.sqlite_pools("reports")?.1)
            .await?;
        let list = rows
            .iter()
            .map(|r| -> Result<ComputerListRow, StoreError> {
                Ok(ComputerListRow {
                    target: r.try_get(0)?,
                    address: r.try_get(1)?,
                    status: r.try_get(2)?,
                    stage: r.try_get(3)?,
                    code_name: r.try_get(4)?,
                    name: r.try_get(5)?,
                    os: r.try_get(6)?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((list, u64::try_from(total).unwrap_or(0)))
    }

    /// The report-table rows of one computer: `(OperatingSystems row, Hardware row)`
    /// in the columns of those sets, `None` when the computer was not inventoried.
    pub async fn computer_report_rows(
        &self,
        run: RunId,
        target: &str,
    ) -> Result<(Option<Vec<DbValue>>, Option<Vec<DbValue>>), StoreError> {
        let os_sql = RowSet::OperatingSystems
            .spec()
            .0
            .replace("WHERE o.run_id = ?", "WHERE o.run_id = ? AND o.target = ?");
        let hw_sql = RowSet::Hardware
            .spec()
            .0
            .replace("WHERE w.run_id = ?", "WHERE w.run_id = ? AND w.target = ?");
        let os = sqlx::query(&os_sql)
            .bind(run)
            .bind(target)
            .fetch_optional(self.sqlite_pools("reports")?.1)
            .await?;
        let hw = sqlx::query(&hw_sql)
            .bind(run)
            .bind(target)
            .fetch_optional(self.sqlite_pools("reports")?.1)
            .await?;
        Ok((
            os.map(|r| values(&r, RowSet::OperatingSystems.spec().1))
                .transpose()?,
            hw.map(|r| values(&r, RowSet::Hardware.spec().1))
                .transpose()?,
        ))
    }

    /// The rows of a per-computer set (`Software`, `Hotfixes`, `Services`) for one
    /// computer, at most `limit`.
    pub async fn computer_rows(
        &self,
        run: RunId,
        target: &str,
        set: RowSet,
        limit: u64,
    ) -> Result<Vec<Vec<DbValue>>, StoreError> {
        let (sql, cols) = set.spec();
        let Some(sql) = sql
            .split_once(" ORDER BY")
            .map(|(head, tail)| format!("{head} AND target = ? ORDER BY{tail} LIMIT ?"))
        else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(&sql)
            .bind(run)
            .bind(target)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(self.sqlite_pools("reports")?.1)
            .await?;
        rows.iter().map(|r| values(r, cols)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_escape("a%b_c\\"), "%a\\%b\\_c\\\\%");
        assert_eq!(like_escape(""), "%%");
    }

    #[test]
    fn every_set_names_its_columns() {
        for set in [
            RowSet::Computers,
            RowSet::OperatingSystems,
            RowSet::Hardware,
            RowSet::DiskDrives,
            RowSet::Software,
            RowSet::SoftwareVersions,
            RowSet::SoftwareTotals,
            RowSet::Hotfixes,
            RowSet::Services,
            RowSet::FailureReasons,
            RowSet::OsGroups,
            RowSet::CompareMachines,
        ] {
            let (sql, cols) = set.spec();
            assert!(!cols.is_empty());
            assert!(sql.contains("run_id = ?"), "{set:?}");
        }
    }
}
