//! Read-side queries for reports and the dashboard (`winv-report`): flat rows streamed
//! from the report tables, grouped counts, and the filtered, sorted, paged computer list.
//!
//! Every query here is portable SQL (SQLite and PostgreSQL): no SQLite functions, no
//! `GROUP_CONCAT`, `LOWER(..) LIKE LOWER(..) ESCAPE '\'` for case-insensitive search,
//! `COUNT(DISTINCT ..)`, `LIMIT .. OFFSET ..`, `$N` placeholders, and an explicit
//! `NULLS FIRST` wherever a sort key may be NULL (PostgreSQL sorts NULLs last by
//! default, SQLite first), so both backends give the same rows in the same order (text
//! sorts by the database's collation: byte order on SQLite and on a PostgreSQL
//! database created with `--locale=C`). The SQL is here; `read_queries.rs` runs it,
//! compiled once per backend like `queries.rs`, and [`Store`] sends each call to its
//! backend (`on_db!`, retrying a PostgreSQL call whose connection failed).
//!
//! Rows are streamed to a callback (`fetch`, not `fetch_all`), so a sheet of five
//! million services never sits in memory.

use serde::Serialize;

use crate::backend_pg::rq as pg;
use crate::backend_sqlite::rq as lite;
use crate::error::StoreError;
use crate::model::RunId;
use crate::store::{Backend, Store};

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
pub(crate) enum Ty {
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
    /// Every profile item's outcomes over the run's computers: `class, collected,
    /// not_present, failed` (failed includes timed out), in profile order.
    ItemOutcomes,
    /// SQL Server instances: `target, name, instance, instance_id, edition, product,
    /// version, patch_level, service_pack, clustered, state, start_mode,
    /// service_account, source`, by target.
    SqlInstances,
    /// SQL Server instances grouped: `product, edition, instances, computers`, most
    /// instances first.
    SqlEditions,
    /// Server roles and features: `target, feature_id, parent_id, name`, by target.
    ServerFeatures,
    /// Features grouped: `name, feature_id, parent_id, servers`, most servers first.
    FeatureCounts,
    /// What each machine runs on: `target, name, manufacturer, model, platform,
    /// is_virtual, hypervisor_present, physical_host, guests`, by target.
    Platforms,
    /// Hyper-V guests: `target (the host), name, vm_id, state, uptime_s`.
    VmGuests,
    /// Licences: `target, product, application, licence_status, channel, partial_key,
    /// kms_host, grace_minutes`, by target.
    Licences,
    /// Licences grouped: `application, channel, licence_status, licences, computers`.
    LicenceCounts,
    /// Windows Server core licences: `target, name, caption, platform, is_virtual,
    /// processors, physical_cores, core_licences, packs, rule`, by target.
    CoreLicences,
}

impl RowSet {
    pub(crate) fn spec(self) -> (&'static str, &'static [(&'static str, Ty)]) {
        use Ty::*;
        match self {
            RowSet::Computers => (
                "SELECT c.target, c.address, c.status, c.stage, c.phase, c.category, c.code, \
                 c.code_name, c.denied_by, c.message, c.credential, c.finished_ms, \
                 (SELECT COUNT(*) FROM attempts a WHERE a.computer_id = c.id) AS attempts \
                 FROM computers c WHERE c.run_id = $1 ORDER BY c.target",
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
                 WHERE o.run_id = $1 ORDER BY o.target",
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
                 WHERE w.run_id = $1 ORDER BY w.target",
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
                 WHERE run_id = $1 AND class = 'Win32_DiskDrive' ORDER BY computer_id, position",
                &[("computer_id", Int), ("json", Text)],
            ),
            RowSet::Software => (
                "SELECT target, name, version, publisher, install_date, wow64 \
                 FROM installed_software WHERE run_id = $1 ORDER BY target, position",
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
                 FROM installed_software WHERE run_id = $1 \
                 GROUP BY name, publisher, version \
                 ORDER BY name, publisher NULLS FIRST, version NULLS FIRST",
                &[
                    ("name", Text),
                    ("publisher", Text),
                    ("version", Text),
                    ("computers", Int),
                ],
            ),
            RowSet::SoftwareTotals => (
                "SELECT name, publisher, COUNT(DISTINCT computer_id) AS computers \
                 FROM installed_software WHERE run_id = $1 \
                 GROUP BY name, publisher ORDER BY name, publisher NULLS FIRST",
                &[("name", Text), ("publisher", Text), ("computers", Int)],
            ),
            RowSet::Hotfixes => (
                "SELECT target, hotfix_id, description, installed_on FROM hotfixes \
                 WHERE run_id = $1 ORDER BY target, position",
                &[
                    ("target", Text),
                    ("hotfix_id", Text),
                    ("description", Text),
                    ("installed_on", Text),
                ],
            ),
            RowSet::Services => (
                "SELECT target, name, display_name, state, start_mode, start_name \
                 FROM services WHERE run_id = $1 ORDER BY target, position",
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
                 WHERE run_id = $1 AND status <> 'inventoried' \
                 AND status <> 'inventoried-incomplete' \
                 GROUP BY status, stage, code, code_name, denied_by \
                 ORDER BY COUNT(*) DESC, status, stage NULLS FIRST, code NULLS FIRST, \
                 code_name NULLS FIRST, denied_by NULLS FIRST",
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
                 FROM operating_systems WHERE run_id = $1 \
                 GROUP BY caption, edition, build_number \
                 ORDER BY COUNT(*) DESC, caption NULLS FIRST, edition NULLS FIRST, \
                 build_number NULLS FIRST",
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
                 WHERE c.run_id = $1 ORDER BY c.target",
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
            RowSet::ItemOutcomes => (
                "SELECT class, \
                 SUM(CASE WHEN outcome = 'collected' THEN 1 ELSE 0 END) AS collected, \
                 SUM(CASE WHEN outcome = 'not-present' THEN 1 ELSE 0 END) AS not_present, \
                 SUM(CASE WHEN outcome IN ('failed', 'timed-out') THEN 1 ELSE 0 END) AS failed \
                 FROM class_results WHERE run_id = $1 GROUP BY class ORDER BY MIN(position), class",
                &[
                    ("class", Text),
                    ("collected", Int),
                    ("not_present", Int),
                    ("failed", Int),
                ],
            ),
            RowSet::SqlInstances => (
                "SELECT s.target, h.name, s.instance, s.instance_id, s.edition, s.product, \
                 s.version, s.patch_level, s.service_pack, s.clustered, s.state, s.start_mode, \
                 s.service_account, s.source FROM sql_instances s \
                 LEFT JOIN hosts h ON h.computer_id = s.computer_id \
                 WHERE s.run_id = $1 ORDER BY s.target, s.position",
                &[
                    ("target", Text),
                    ("name", Text),
                    ("instance", Text),
                    ("instance_id", Text),
                    ("edition", Text),
                    ("product", Text),
                    ("version", Text),
                    ("patch_level", Text),
                    ("service_pack", Int),
                    ("clustered", Bool),
                    ("state", Text),
                    ("start_mode", Text),
                    ("service_account", Text),
                    ("source", Text),
                ],
            ),
            RowSet::SqlEditions => (
                "SELECT product, edition, COUNT(*) AS instances, \
                 COUNT(DISTINCT computer_id) AS computers FROM sql_instances \
                 WHERE run_id = $1 GROUP BY product, edition \
                 ORDER BY COUNT(*) DESC, product NULLS FIRST, edition NULLS FIRST",
                &[
                    ("product", Text),
                    ("edition", Text),
                    ("instances", Int),
                    ("computers", Int),
                ],
            ),
            RowSet::ServerFeatures => (
                "SELECT target, feature_id, parent_id, name FROM server_features \
                 WHERE run_id = $1 ORDER BY target, position",
                &[
                    ("target", Text),
                    ("feature_id", Int),
                    ("parent_id", Int),
                    ("name", Text),
                ],
            ),
            RowSet::FeatureCounts => (
                "SELECT name, feature_id, parent_id, COUNT(DISTINCT computer_id) AS servers \
                 FROM server_features WHERE run_id = $1 GROUP BY name, feature_id, parent_id \
                 ORDER BY COUNT(DISTINCT computer_id) DESC, name NULLS FIRST, \
                 feature_id NULLS FIRST, parent_id NULLS FIRST",
                &[
                    ("name", Text),
                    ("feature_id", Int),
                    ("parent_id", Int),
                    ("servers", Int),
                ],
            ),
            RowSet::Platforms => (
                "SELECT p.target, h.name, h.manufacturer, h.model, p.platform, p.is_virtual, \
                 p.hypervisor_present, p.physical_host, p.guests FROM platforms p \
                 LEFT JOIN hosts h ON h.computer_id = p.computer_id \
                 WHERE p.run_id = $1 ORDER BY p.target",
                &[
                    ("target", Text),
                    ("name", Text),
                    ("manufacturer", Text),
                    ("model", Text),
                    ("platform", Text),
                    ("is_virtual", Bool),
                    ("hypervisor_present", Bool),
                    ("physical_host", Text),
                    ("guests", Int),
                ],
            ),
            RowSet::VmGuests => (
                "SELECT target, name, vm_id, state, uptime_s FROM vm_guests \
                 WHERE run_id = $1 ORDER BY target, position",
                &[
                    ("target", Text),
                    ("name", Text),
                    ("vm_id", Text),
                    ("state", Text),
                    ("uptime_s", Int),
                ],
            ),
            RowSet::Licences => (
                "SELECT target, product, application, licence_status, channel, partial_key, \
                 kms_host, grace_minutes FROM licences WHERE run_id = $1 \
                 ORDER BY target, position",
                &[
                    ("target", Text),
                    ("product", Text),
                    ("application", Text),
                    ("licence_status", Text),
                    ("channel", Text),
                    ("partial_key", Text),
                    ("kms_host", Text),
                    ("grace_minutes", Int),
                ],
            ),
            RowSet::LicenceCounts => (
                "SELECT application, channel, licence_status, COUNT(*) AS licences, \
                 COUNT(DISTINCT computer_id) AS computers FROM licences WHERE run_id = $1 \
                 GROUP BY application, channel, licence_status \
                 ORDER BY application NULLS FIRST, COUNT(*) DESC, channel, \
                 licence_status NULLS FIRST",
                &[
                    ("application", Text),
                    ("channel", Text),
                    ("licence_status", Text),
                    ("licences", Int),
                    ("computers", Int),
                ],
            ),
            RowSet::CoreLicences => (
                "SELECT c.target, h.name, o.caption, p.platform, p.is_virtual, c.processors, \
                 c.physical_cores, c.core_licences, c.packs, c.rule FROM core_licences c \
                 LEFT JOIN hosts h ON h.computer_id = c.computer_id \
                 LEFT JOIN operating_systems o ON o.computer_id = c.computer_id \
                 LEFT JOIN platforms p ON p.computer_id = c.computer_id \
                 WHERE c.run_id = $1 ORDER BY c.target",
                &[
                    ("target", Text),
                    ("name", Text),
                    ("caption", Text),
                    ("platform", Text),
                    ("is_virtual", Bool),
                    ("processors", Int),
                    ("physical_cores", Int),
                    ("core_licences", Int),
                    ("packs", Int),
                    ("rule", Text),
                ],
            ),
        }
    }

    /// The column names, in value order.
    pub fn columns(self) -> Vec<&'static str> {
        self.spec().1.iter().map(|(n, _)| *n).collect()
    }
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

/// The SQL of the filtered computer list: `(count SQL, page SQL, text binds)`; `$1` is
/// the run, the binds follow as `$2...`, then the page's limit and offset.
pub(crate) fn computer_list_sql(f: &ComputerFilter) -> (String, String, Vec<String>) {
    let mut cond = String::from("c.run_id = $1");
    let mut binds: Vec<String> = Vec::new();
    let next = |binds: &Vec<String>| format!("${}", binds.len() + 2);
    let given = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty());
    if let Some(s) = f.search.as_deref().filter(|s| !s.is_empty()) {
        let p = like_escape(s);
        for col in [
            "c.target",
            "COALESCE(h.name, '')",
            "COALESCE(c.address, '')",
        ] {
            let n = next(&binds);
            let or = if binds.is_empty() { " AND (" } else { " OR " };
            cond.push_str(&format!("{or}LOWER({col}) LIKE LOWER({n}) ESCAPE '\\'"));
            binds.push(p.clone());
        }
        cond.push(')');
    }
    for (value, col) in [
        (&f.status, "c.status"),
        (&f.os, "o.caption"),
        (&f.stage, "c.stage"),
        (&f.code_name, "c.code_name"),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            cond.push_str(&format!(" AND {col} = {}", next(&binds)));
            binds.push(v.to_string());
        }
    }
    if let Some(v) = f.software.as_deref().filter(|v| !v.is_empty()) {
        // The run's computers with that program, from the (run_id, name, ...) index in
        // one range, rather than a probe of every computer's programs.
        cond.push_str(&format!(
            " AND c.id IN (SELECT s.computer_id FROM installed_software s \
             WHERE s.run_id = $1 AND s.name = {})",
            next(&binds)
        ));
        binds.push(v.to_string());
    }
    if f.failed_only {
        cond.push_str(" AND c.status <> 'inventoried' AND c.status <> 'inventoried-incomplete'");
    }
    let from = "FROM computers c \
                LEFT JOIN operating_systems o ON o.computer_id = c.id \
                LEFT JOIN hosts h ON h.computer_id = c.id";
    // The count joins only the tables its filter reads: each join is on the joined
    // table's key (at most one row per computer), so it never changes the count.
    let mut count_from = String::from("FROM computers c");
    if given(&f.os) {
        count_from.push_str(" LEFT JOIN operating_systems o ON o.computer_id = c.id");
    }
    if given(&f.search) {
        count_from.push_str(" LEFT JOIN hosts h ON h.computer_id = c.id");
    }
    let count_sql = format!("SELECT COUNT(*) {count_from} WHERE {cond}");
    // NULLs first ascending and last descending on both backends (SQLite's order).
    let (dir, nulls) = if f.desc {
        ("DESC", "NULLS LAST")
    } else {
        ("ASC", "NULLS FIRST")
    };
    let n = binds.len();
    let list_sql = format!(
        "SELECT c.target, c.address, c.status, c.stage, c.code_name, h.name, o.caption \
         {from} WHERE {cond} ORDER BY {} {dir} {nulls}, c.target {dir} LIMIT ${} OFFSET ${}",
        f.sort.column(),
        n + 2,
        n + 3
    );
    (count_sql, list_sql, binds)
}

/// The SQL of one computer's rows of a per-computer set (`$1` run, `$2` target, `$3`
/// limit); `None` for a set without a per-computer order.
pub(crate) fn computer_rows_sql(set: RowSet) -> Option<String> {
    set.spec()
        .0
        .split_once(" ORDER BY")
        .map(|(head, tail)| format!("{head} AND target = $2 ORDER BY{tail} LIMIT $3"))
}

/// The SQL of one computer's `OperatingSystems` and `Hardware` rows (`$1` run, `$2`
/// target).
pub(crate) fn computer_report_sql() -> (String, String) {
    (
        RowSet::OperatingSystems.spec().0.replace(
            "WHERE o.run_id = $1",
            "WHERE o.run_id = $1 AND o.target = $2",
        ),
        RowSet::Hardware.spec().0.replace(
            "WHERE w.run_id = $1",
            "WHERE w.run_id = $1 AND w.target = $2",
        ),
    )
}

impl Store {
    /// Streams the rows of `set` for `run` to `f`, in the set's order. `f` returning an
    /// error stops the stream and returns that error. A stream is not retried when the
    /// connection fails (rows already handed on would be handed on twice): on
    /// PostgreSQL only its start is.
    pub async fn each_row<E, F>(&self, run: RunId, set: RowSet, mut f: F) -> Result<(), E>
    where
        E: From<StoreError>,
        F: FnMut(Vec<DbValue>) -> Result<(), E>,
    {
        match &self.db {
            Backend::Sqlite { reader, .. } => lite::each_row(reader, run, set, &mut f).await,
            Backend::Postgres(pool) => {
                // One cheap query under the retry policy first, so a server that is
                // restarting is waited for before the stream starts.
                on_db!(self, "read report", runs(1))?;
                pg::each_row(pool, run, set, &mut f).await
            }
        }
    }

    /// Every row of `set` (for the small grouped sets).
    pub async fn rows(&self, run: RunId, set: RowSet) -> Result<Vec<Vec<DbValue>>, StoreError> {
        on_db!(self, "read report", rows(run, set))
    }

    /// Every run, newest first: `(id, started_ms, state, targets)`.
    pub async fn runs(&self) -> Result<Vec<(RunId, i64, String, i64)>, StoreError> {
        on_db!(self, "read runs", runs(1000))
    }

    /// How many computers of a run have a result (any status), and how many of those
    /// are finished (not `inventory-not-completed`): the progress of a running scan.
    pub async fn progress(&self, run: RunId) -> Result<(u64, u64), StoreError> {
        on_db!(self, "read progress", progress(run))
    }

    /// The computer list of a run, filtered, sorted and paged, and the number of rows
    /// the filter matches before paging.
    pub async fn computer_list(
        &self,
        run: RunId,
        f: &ComputerFilter,
    ) -> Result<(Vec<ComputerListRow>, u64), StoreError> {
        on_db!(self, "read computers", computer_list(run, f))
    }

    /// The report-table rows of one computer: `(OperatingSystems row, Hardware row)`
    /// in the columns of those sets, `None` when the computer was not inventoried.
    pub async fn computer_report_rows(
        &self,
        run: RunId,
        target: &str,
    ) -> Result<(Option<Vec<DbValue>>, Option<Vec<DbValue>>), StoreError> {
        on_db!(self, "read computer", computer_report_rows(run, target))
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
        on_db!(
            self,
            "read computer",
            computer_rows(run, target, set, limit)
        )
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
    fn computer_list_placeholders_are_numbered_in_bind_order() {
        let f = ComputerFilter {
            search: Some("ws".into()),
            status: Some("inventoried".into()),
            software: Some("7-Zip".into()),
            ..ComputerFilter::default()
        };
        let (count, list, binds) = computer_list_sql(&f);
        assert_eq!(binds.len(), 5);
        for n in 1..=6 {
            assert!(count.contains(&format!("${n}")), "{count}");
        }
        assert!(!count.contains("$7") && !count.contains('?'), "{count}");
        assert!(list.ends_with("LIMIT $7 OFFSET $8"), "{list}");
        assert!(
            count.contains("c.status = $5") && count.contains("s.name = $6"),
            "{count}"
        );
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
            assert!(sql.contains("run_id = $1"), "{set:?}");
        }
    }
}
