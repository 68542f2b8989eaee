//! MAP's assessment scenarios in the report: SQL Server, roles and features,
//! virtualization, licensing (with the Windows Server core licence count), and what every
//! profile item gave (collected, not present, failed). Sheets are written only for the
//! scenarios the run collected; the rows come from the store's scenario tables
//! (`0009_scenarios.sql`), the rules behind them from `winv_engine::scenario`.

use std::collections::BTreeMap;

use serde::Serialize;
use winv_store::{DbValue, RowSet, RunId, Store};

use crate::cell::Cell;
use crate::model::{c, cell_int, cell_text, int, text, Kind::*, SheetDef, Sink};
use crate::ReportError;

/// `Collection`: every profile item and how it went over the run's computers.
pub const ITEMS: SheetDef = SheetDef {
    name: "Collection",
    slug: "collection",
    columns: &[
        c("Item", Text),
        c("Collected", Int),
        c("Not present", Int),
        c("Failed", Int),
    ],
};

/// `SQL Server`: one row per instance.
pub const SQL_SERVER: SheetDef = SheetDef {
    name: "SQL Server",
    slug: "sql-server",
    columns: &[
        c("Target", Text),
        c("Computer name", Text),
        c("Instance", Text),
        c("Instance ID", Text),
        c("Product", Text),
        c("Edition", Text),
        c("Version", Text),
        c("Patch level", Text),
        c("Service pack", Int),
        c("Clustered", Bool),
        c("State", Text),
        c("Start mode", Text),
        c("Service account", Text),
        c("Source", Text),
    ],
};

/// `SQL Server editions`: instances by product (version) and edition.
pub const SQL_EDITIONS: SheetDef = SheetDef {
    name: "SQL Server editions",
    slug: "sql-server-editions",
    columns: &[
        c("Product", Text),
        c("Edition", Text),
        c("Instances", Int),
        c("Computers", Int),
    ],
};

/// `Roles and features`: one row per feature per server.
pub const ROLES: SheetDef = SheetDef {
    name: "Roles and features",
    slug: "roles-and-features",
    columns: &[
        c("Target", Text),
        c("Feature", Text),
        c("ID", Int),
        c("Parent ID", Int),
    ],
};

/// `Role counts`: servers per feature.
pub const ROLE_COUNTS: SheetDef = SheetDef {
    name: "Role counts",
    slug: "role-counts",
    columns: &[
        c("Feature", Text),
        c("ID", Int),
        c("Parent ID", Int),
        c("Servers", Int),
    ],
};

/// `Virtualization`: what each machine runs on.
pub const VIRTUALIZATION: SheetDef = SheetDef {
    name: "Virtualization",
    slug: "virtualization",
    columns: &[
        c("Target", Text),
        c("Computer name", Text),
        c("Manufacturer", Text),
        c("Model", Text),
        c("Platform", Text),
        c("Virtual", Bool),
        c("Hypervisor present", Bool),
        c("Physical host", Text),
        c("Hyper-V guests", Int),
    ],
};

/// `Hyper-V guests`: the guests of each Hyper-V host.
pub const GUESTS: SheetDef = SheetDef {
    name: "Hyper-V guests",
    slug: "hyper-v-guests",
    columns: &[
        c("Host", Text),
        c("Guest", Text),
        c("VM ID", Text),
        c("State", Text),
        c("Uptime (hours)", Num),
    ],
};

/// `Licensing`: licences with a partial product key.
pub const LICENSING: SheetDef = SheetDef {
    name: "Licensing",
    slug: "licensing",
    columns: &[
        c("Target", Text),
        c("Product", Text),
        c("Application", Text),
        c("Licence status", Text),
        c("Channel", Text),
        c("Partial product key", Text),
        c("KMS host", Text),
        c("Grace (days)", Num),
    ],
};

/// `Licensing summary`: licences by application, channel and status.
pub const LICENSING_SUMMARY: SheetDef = SheetDef {
    name: "Licensing summary",
    slug: "licensing-summary",
    columns: &[
        c("Application", Text),
        c("Channel", Text),
        c("Licence status", Text),
        c("Licences", Int),
        c("Computers", Int),
    ],
};

/// `Core licences`: the Windows Server core licences each server needs.
pub const CORE_LICENCES: SheetDef = SheetDef {
    name: "Core licences",
    slug: "core-licences",
    columns: &[
        c("Target", Text),
        c("Computer name", Text),
        c("Operating system", Text),
        c("Platform", Text),
        c("Virtual", Bool),
        c("Processors", Int),
        c("Physical cores", Int),
        c("Core licences", Int),
        c("2-core packs", Int),
        c("Rule", Text),
    ],
};

/// A scenario and the profile items that feed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    Sql,
    Roles,
    Virtualization,
    Licensing,
}

impl Scenario {
    /// Every scenario, in report order.
    pub const ALL: [Scenario; 4] = [
        Scenario::Sql,
        Scenario::Roles,
        Scenario::Virtualization,
        Scenario::Licensing,
    ];

    /// The built-in profile's name (`--profile sql`).
    pub fn profile(self) -> &'static str {
        match self {
            Scenario::Sql => "sql",
            Scenario::Roles => "roles",
            Scenario::Virtualization => "virtualization",
            Scenario::Licensing => "licensing",
        }
    }

    /// The items only this scenario's profile collects: a run that recorded any of
    /// them (whatever the outcome) collected the scenario.
    pub fn items(self) -> &'static [&'static str] {
        match self {
            Scenario::Sql => &[
                "SqlService",
                "SqlServiceAdvancedProperty",
                "registry:sql-instances",
            ],
            Scenario::Roles => &["Win32_ServerFeature"],
            Scenario::Virtualization => &["Msvm_ComputerSystem", "registry:hyperv-physical-host"],
            Scenario::Licensing => &["SoftwareLicensingProduct", "SoftwareLicensingService"],
        }
    }

    /// Its sheets, in order.
    pub fn sheets(self) -> &'static [SheetDef] {
        match self {
            Scenario::Sql => &[SQL_SERVER, SQL_EDITIONS],
            Scenario::Roles => &[ROLES, ROLE_COUNTS],
            Scenario::Virtualization => &[VIRTUALIZATION, GUESTS],
            Scenario::Licensing => &[LICENSING, LICENSING_SUMMARY, CORE_LICENCES],
        }
    }
}

/// How one profile item went over a run's computers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ItemCount {
    /// The item (a WMI class or `registry:NAME`).
    pub item: String,
    /// Computers where it was collected.
    pub collected: u64,
    /// Computers that do not have it.
    pub not_present: u64,
    /// Computers where it failed or timed out.
    pub failed: u64,
}

/// The scenarios' headline numbers.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ScenarioSummary {
    /// Every profile item of the run.
    pub items: Vec<ItemCount>,
    /// The scenarios the run collected.
    pub scenarios: Vec<Scenario>,
    /// SQL Server instances and the computers that have them.
    pub sql_instances: u64,
    /// Computers with SQL Server.
    pub sql_computers: u64,
    /// Instances by `product edition`, most first.
    pub sql_by_edition: Vec<(String, u64)>,
    /// Servers with at least one role or feature listed.
    pub servers_with_features: u64,
    /// Servers per feature (top-level roles and features first by count).
    pub features: Vec<(String, u64)>,
    /// Machines per platform (`physical`, `hyper-v`, `vmware`...).
    pub platforms: Vec<(String, u64)>,
    /// Virtual machines.
    pub virtual_machines: u64,
    /// Physical machines.
    pub physical_machines: u64,
    /// Hyper-V hosts whose guests were listed.
    pub hyperv_hosts: u64,
    /// Their guests.
    pub hyperv_guests: u64,
    /// Licences by `application channel` (`Windows volume-kms`).
    pub licence_channels: Vec<(String, u64)>,
    /// Licences not in the licensed state.
    pub licences_not_licensed: u64,
    /// Physical servers counted for core licences, and the licences they need.
    pub physical_servers: u64,
    /// Core licences the physical servers need.
    pub physical_core_licences: u64,
    /// Virtual servers counted (each as if licensed on its own).
    pub virtual_servers: u64,
    /// Core licences the virtual servers need, each counted as its own server.
    pub virtual_core_licences: u64,
}

fn count(v: Option<&DbValue>) -> u64 {
    u64::try_from(int(v).unwrap_or(0)).unwrap_or(0)
}

fn boolean(v: Option<&DbValue>) -> Option<bool> {
    match v {
        Some(DbValue::Bool(b)) => Some(*b),
        Some(DbValue::Int(i)) => Some(*i != 0),
        _ => None,
    }
}

fn cell_bool(v: Option<&DbValue>) -> Cell {
    boolean(v).map_or(Cell::Empty, Cell::Bool)
}

fn joined(parts: &[Option<&str>]) -> String {
    let p: Vec<&str> = parts.iter().flatten().copied().collect();
    if p.is_empty() {
        "(unknown)".to_string()
    } else {
        p.join(" ")
    }
}

fn sorted(m: BTreeMap<String, u64>) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// Reads the scenarios' summary of `run`.
pub async fn summary(store: &Store, run: RunId) -> Result<ScenarioSummary, ReportError> {
    let mut s = ScenarioSummary::default();
    for r in store.rows(run, RowSet::ItemOutcomes).await? {
        s.items.push(ItemCount {
            item: text(r.first()).unwrap_or("").to_string(),
            collected: count(r.get(1)),
            not_present: count(r.get(2)),
            failed: count(r.get(3)),
        });
    }
    s.scenarios = Scenario::ALL
        .into_iter()
        .filter(|sc| {
            s.items
                .iter()
                .any(|i| sc.items().iter().any(|n| n.eq_ignore_ascii_case(&i.item)))
        })
        .collect();
    let has = |sc: Scenario| s.scenarios.contains(&sc);
    if has(Scenario::Sql) {
        for r in store.rows(run, RowSet::SqlEditions).await? {
            let n = count(r.get(2));
            s.sql_instances += n;
            s.sql_by_edition
                .push((joined(&[text(r.first()), text(r.get(1))]), n));
        }
        // A computer with two editions counts once.
        let mut seen = std::collections::HashSet::new();
        store
            .each_row::<ReportError, _>(run, RowSet::SqlInstances, |r| {
                seen.insert(text(r.first()).unwrap_or("").to_string());
                Ok(())
            })
            .await?;
        s.sql_computers = u64::try_from(seen.len()).unwrap_or(0);
    }
    if has(Scenario::Roles) {
        let mut servers = std::collections::HashSet::new();
        store
            .each_row::<ReportError, _>(run, RowSet::ServerFeatures, |r| {
                servers.insert(text(r.first()).unwrap_or("").to_string());
                Ok(())
            })
            .await?;
        s.servers_with_features = u64::try_from(servers.len()).unwrap_or(0);
        for r in store.rows(run, RowSet::FeatureCounts).await? {
            s.features.push((
                text(r.first()).unwrap_or("(unnamed)").to_string(),
                count(r.get(3)),
            ));
        }
    }
    // Platforms come from the standard classes: every run has them.
    let mut platforms: BTreeMap<String, u64> = BTreeMap::new();
    store
        .each_row::<ReportError, _>(run, RowSet::Platforms, |r| {
            *platforms
                .entry(text(r.get(4)).unwrap_or("(unknown)").to_string())
                .or_default() += 1;
            if boolean(r.get(5)) == Some(true) {
                s.virtual_machines += 1;
            } else {
                s.physical_machines += 1;
            }
            if let Some(g) = int(r.get(8)).filter(|g| *g > 0) {
                s.hyperv_hosts += 1;
                s.hyperv_guests += u64::try_from(g).unwrap_or(0);
            }
            Ok(())
        })
        .await?;
    s.platforms = sorted(platforms);
    if has(Scenario::Licensing) {
        let mut channels: BTreeMap<String, u64> = BTreeMap::new();
        for r in store.rows(run, RowSet::LicenceCounts).await? {
            let n = count(r.get(3));
            *channels
                .entry(joined(&[text(r.first()), text(r.get(1))]))
                .or_default() += n;
            if text(r.get(2)) != Some("licensed") {
                s.licences_not_licensed += n;
            }
        }
        s.licence_channels = sorted(channels);
        store
            .each_row::<ReportError, _>(run, RowSet::CoreLicences, |r| {
                let n = count(r.get(7));
                if boolean(r.get(4)) == Some(true) {
                    s.virtual_servers += 1;
                    s.virtual_core_licences += n;
                } else {
                    s.physical_servers += 1;
                    s.physical_core_licences += n;
                }
                Ok(())
            })
            .await?;
    }
    Ok(s)
}

/// The sheets that follow the base sheets for this summary: the collection sheet, then
/// each collected scenario's.
pub fn sheets(s: &ScenarioSummary) -> Vec<SheetDef> {
    let mut v = vec![ITEMS];
    for sc in &s.scenarios {
        v.extend_from_slice(sc.sheets());
    }
    v
}

/// How a row of a row set becomes a sheet's cells.
type RowCells = fn(&[DbValue]) -> Vec<Cell>;

/// Writes one scenario sheet of `run` to `sink` (begin, rows, end).
pub async fn write_sheet<S: Sink + ?Sized>(
    store: &Store,
    run: RunId,
    sheet: &SheetDef,
    sink: &mut S,
) -> Result<(), ReportError> {
    sink.begin(sheet)?;
    let (set, row): (RowSet, RowCells) = match sheet.slug {
        s if s == ITEMS.slug => (RowSet::ItemOutcomes, |r| {
            vec![
                cell_text(r.first()),
                cell_int(r.get(1)),
                cell_int(r.get(2)),
                cell_int(r.get(3)),
            ]
        }),
        s if s == SQL_SERVER.slug => (RowSet::SqlInstances, |r| {
            vec![
                cell_text(r.first()),
                cell_text(r.get(1)),
                cell_text(r.get(2)),
                cell_text(r.get(3)),
                cell_text(r.get(5)),
                cell_text(r.get(4)),
                cell_text(r.get(6)),
                cell_text(r.get(7)),
                cell_int(r.get(8)),
                cell_bool(r.get(9)),
                cell_text(r.get(10)),
                cell_text(r.get(11)),
                cell_text(r.get(12)),
                cell_text(r.get(13)),
            ]
        }),
        s if s == SQL_EDITIONS.slug => (RowSet::SqlEditions, |r| {
            vec![
                cell_text(r.first()),
                cell_text(r.get(1)),
                cell_int(r.get(2)),
                cell_int(r.get(3)),
            ]
        }),
        s if s == ROLES.slug => (RowSet::ServerFeatures, |r| {
            vec![
                cell_text(r.first()),
                cell_text(r.get(3)),
                cell_int(r.get(1)),
                cell_int(r.get(2)),
            ]
        }),
        s if s == ROLE_COUNTS.slug => (RowSet::FeatureCounts, |r| {
            vec![
                cell_text(r.first()),
                cell_int(r.get(1)),
                cell_int(r.get(2)),
                cell_int(r.get(3)),
            ]
        }),
        s if s == VIRTUALIZATION.slug => (RowSet::Platforms, |r| {
            (0..9)
                .map(|i| match i {
                    5 | 6 => cell_bool(r.get(i)),
                    8 => cell_int(r.get(i)),
                    _ => cell_text(r.get(i)),
                })
                .collect()
        }),
        s if s == GUESTS.slug => (RowSet::VmGuests, |r| {
            vec![
                cell_text(r.first()),
                cell_text(r.get(1)),
                cell_text(r.get(2)),
                cell_text(r.get(3)),
                int(r.get(4)).map_or(Cell::Empty, |s| {
                    Cell::Num((s as f64 / 3600.0 * 10.0).round() / 10.0)
                }),
            ]
        }),
        s if s == LICENSING.slug => (RowSet::Licences, |r| {
            vec![
                cell_text(r.first()),
                cell_text(r.get(1)),
                cell_text(r.get(2)),
                cell_text(r.get(3)),
                cell_text(r.get(4)),
                cell_text(r.get(5)),
                cell_text(r.get(6)),
                int(r.get(7)).map_or(Cell::Empty, |m| {
                    Cell::Num((m as f64 / 1440.0 * 10.0).round() / 10.0)
                }),
            ]
        }),
        s if s == LICENSING_SUMMARY.slug => (RowSet::LicenceCounts, |r| {
            vec![
                cell_text(r.first()),
                cell_text(r.get(1)),
                cell_text(r.get(2)),
                cell_int(r.get(3)),
                cell_int(r.get(4)),
            ]
        }),
        s if s == CORE_LICENCES.slug => (RowSet::CoreLicences, |r| {
            (0..10)
                .map(|i| match i {
                    4 => cell_bool(r.get(i)),
                    5..=8 => cell_int(r.get(i)),
                    _ => cell_text(r.get(i)),
                })
                .collect()
        }),
        _ => {
            sink.end()?;
            return Ok(());
        }
    };
    store.each_row(run, set, |r| sink.row(&row(&r))).await?;
    sink.end()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The scenarios' items are the built-in profiles' own, so a renamed item in a
    /// profile cannot silently drop its sheets.
    #[test]
    fn scenario_items_are_their_profiles_items() {
        for sc in Scenario::ALL {
            let p = winv_engine::Profile::builtin(sc.profile()).unwrap();
            let names: Vec<String> = p.collection().iter().map(|i| i.name()).collect();
            for item in sc.items() {
                assert!(
                    names.iter().any(|n| n == item),
                    "{}: {item} not in {names:?}",
                    sc.profile()
                );
            }
            let standard = winv_engine::Profile::builtin("standard").unwrap();
            for item in sc.items() {
                assert!(
                    standard.collection().iter().all(|i| i.name() != *item),
                    "{item} is in the standard profile too"
                );
            }
        }
    }

    #[test]
    fn sheet_names_fit_excel_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for s in std::iter::once(ITEMS).chain(
            Scenario::ALL
                .iter()
                .flat_map(|s| s.sheets().iter().copied()),
        ) {
            assert!(s.name.len() <= 31, "{}", s.name);
            assert!(seen.insert(s.slug), "{}", s.slug);
            assert!(crate::model::SHEETS
                .iter()
                .all(|b| b.name != s.name && b.slug != s.slug));
        }
    }
}
