//! End of support from the lifecycle table (`data/lifecycle.toml`): each computer's
//! build, role and edition against rows that each cite their source.

use std::sync::OnceLock;

use serde::Deserialize;

use crate::cell::Date;

/// The lifecycle table, embedded.
const LIFECYCLE_TOML: &str = include_str!("../data/lifecycle.toml");

/// One row of the table.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LifecycleRow {
    /// The product and release, as Microsoft names it.
    pub product: String,
    /// `server` or `client`.
    pub role: String,
    /// The build number (`Win32_OperatingSystem.BuildNumber`).
    pub build: String,
    /// EditionIDs this row is for; empty: any edition.
    #[serde(default)]
    pub editions: Vec<String>,
    /// The last day of security updates, `YYYY-MM-DD`.
    pub end: String,
    /// Where the date comes from.
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    row: Vec<LifecycleRow>,
}

/// Errors of [`parse`].
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// Not valid TOML or not the table's shape.
    #[error("lifecycle table: {0}")]
    Toml(#[from] toml::de::Error),
    /// A row with a bad date or role.
    #[error("lifecycle table row {row}: {detail}")]
    Row {
        /// 1-based row number.
        row: usize,
        /// What is wrong.
        detail: String,
    },
}

/// Parses and checks a lifecycle table.
pub fn parse(text: &str) -> Result<Vec<LifecycleRow>, LifecycleError> {
    let f: File = toml::from_str(text)?;
    for (i, r) in f.row.iter().enumerate() {
        let bad = |detail: String| LifecycleError::Row { row: i + 1, detail };
        if Date::parse_iso(&r.end).is_none() {
            return Err(bad(format!("bad end date {:?}", r.end)));
        }
        if r.role != "server" && r.role != "client" {
            return Err(bad(format!(
                "role must be server or client, not {:?}",
                r.role
            )));
        }
        if r.source.trim().is_empty() {
            return Err(bad("no source".into()));
        }
    }
    Ok(f.row)
}

/// The embedded table.
pub fn table() -> &'static [LifecycleRow] {
    static T: OnceLock<Vec<LifecycleRow>> = OnceLock::new();
    T.get_or_init(|| {
        // INVARIANT: the table is a build-time constant; the unit test
        // `embedded_table_parses` proves it parses.
        parse(LIFECYCLE_TOML).unwrap_or_default()
    })
}

/// Server or client, as MAP splits them: from the caption (`Win32_OperatingSystem`
/// says "Server" in every server caption).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A Windows Server release.
    Server,
    /// A client release.
    Client,
}

impl Role {
    /// From an OS caption.
    pub fn of(caption: &str) -> Role {
        if caption.to_ascii_lowercase().contains("server") {
            Role::Server
        } else {
            Role::Client
        }
    }

    /// `Server` / `Client`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Server => "Server",
            Role::Client => "Client",
        }
    }

    fn id(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
        }
    }
}

/// Where a computer stands against its end of support on a given day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Support {
    /// The end of support has passed.
    Ended,
    /// It ends within the next 365 days.
    EndingSoon,
    /// Further away.
    Supported,
    /// No row matches (an unknown build, no build reported).
    Unknown,
}

impl Support {
    /// The words shown in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Support::Ended => "Past end of support",
            Support::EndingSoon => "Ends within 12 months",
            Support::Supported => "Supported",
            Support::Unknown => "Unknown",
        }
    }
}

/// The row that decides a computer's end of support.
pub fn lookup(
    caption: Option<&str>,
    build: Option<&str>,
    edition: Option<&str>,
) -> Option<&'static LifecycleRow> {
    let build = build?.trim();
    let role = Role::of(caption.unwrap_or(""));
    table().iter().find(|r| {
        r.role == role.id()
            && r.build == build
            && (r.editions.is_empty()
                || edition.is_some_and(|e| r.editions.iter().any(|x| x.eq_ignore_ascii_case(e))))
    })
}

/// The support state of `row` on `today`.
pub fn support(row: Option<&LifecycleRow>, today: Date) -> Support {
    let Some(end) = row.and_then(|r| Date::parse_iso(&r.end)) else {
        return Support::Unknown;
    };
    if end < today {
        Support::Ended
    } else if end.days() - today.days() <= 365 {
        Support::EndingSoon
    } else {
        Support::Supported
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_table_parses() {
        let rows = parse(LIFECYCLE_TOML).unwrap_or_default();
        assert!(rows.len() > 20);
        assert_eq!(table().len(), rows.len());
    }

    #[test]
    fn edition_rows_win_over_catch_all_rows() {
        let ent = lookup(
            Some("Microsoft Windows 11 Enterprise"),
            Some("22631"),
            Some("Enterprise"),
        );
        assert_eq!(ent.map(|r| r.end.as_str()), Some("2026-11-10"));
        let pro = lookup(
            Some("Microsoft Windows 11 Pro"),
            Some("22631"),
            Some("Professional"),
        );
        assert_eq!(pro.map(|r| r.end.as_str()), Some("2025-11-11"));
        let ltsc = lookup(
            Some("Microsoft Windows 10 Enterprise LTSC 2021"),
            Some("19044"),
            Some("EnterpriseS"),
        );
        assert_eq!(ltsc.map(|r| r.end.as_str()), Some("2027-01-12"));
    }

    #[test]
    fn the_same_build_differs_between_server_and_client() {
        let srv = lookup(
            Some("Microsoft Windows Server 2025 Datacenter"),
            Some("26100"),
            None,
        );
        assert_eq!(srv.map(|r| r.end.as_str()), Some("2034-10-10"));
        let cli = lookup(
            Some("Microsoft Windows 11 Pro"),
            Some("26100"),
            Some("Professional"),
        );
        assert_eq!(cli.map(|r| r.end.as_str()), Some("2026-10-13"));
        assert!(lookup(Some("Microsoft Windows 11 Pro"), Some("99999"), None).is_none());
        assert!(lookup(Some("Microsoft Windows 11 Pro"), None, None).is_none());
    }

    #[test]
    fn support_state_by_date() {
        let row = lookup(
            Some("Microsoft Windows Server 2016 Standard"),
            Some("14393"),
            None,
        );
        let d = |s: &str| {
            Date::parse_iso(s).unwrap_or(Date {
                y: 1970,
                m: 1,
                d: 1,
            })
        };
        assert_eq!(support(row, d("2027-01-13")), Support::Ended);
        assert_eq!(support(row, d("2026-06-01")), Support::EndingSoon);
        assert_eq!(support(row, d("2024-01-01")), Support::Supported);
        assert_eq!(support(None, d("2024-01-01")), Support::Unknown);
    }

    #[test]
    fn bad_rows_are_refused() {
        let bad = "[[row]]\nproduct='x'\nrole='server'\nbuild='1'\nend='2020-13-01'\nsource='s'\n";
        assert!(parse(bad).is_err());
        let bad = "[[row]]\nproduct='x'\nrole='desk'\nbuild='1'\nend='2020-12-01'\nsource='s'\n";
        assert!(parse(bad).is_err());
    }
}
