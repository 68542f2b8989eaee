//! Two runs compared: machines new and gone, status changes, software installed,
//! removed and upgraded, OS changes. [`Snapshot`] holds what one run says of each
//! machine (filled from the store by [`snapshot`]); [`compare`] is pure.
//!
//! The rules:
//! - A machine is matched by its target (without regard to case and surrounding
//!   spaces); a machine left unmatched on both sides is then matched by the host name
//!   Windows reported, when that name belongs to one unmatched machine on each side (a
//!   re-addressed computer). The rest are new (only in run B) or gone (only in run A).
//! - A status change is a matched machine whose status differs.
//! - Software is compared only on machines whose installed software was collected in
//!   both runs (a computer that failed in one run has no software to compare: counted in
//!   `software_not_compared`, never reported as everything installed or removed). A
//!   program is its name and publisher; its versions on a machine are a set (a program
//!   listed twice with two versions, 32- and 64-bit, is one program with two versions).
//!   Absent before: installed; absent after: removed; another set of versions: upgraded
//!   when the highest version rose, downgraded when it fell, changed otherwise.
//! - A program whose version is in its name (`7-Zip 23.01 (x64)` → `7-Zip 24.08 (x64)`)
//!   is one program across the runs: on a machine, the programs present on one side only
//!   whose names are the same but for their version words ([`versionless_name`]: words
//!   of digits and dots, `v1.2`; not `x64` or `64-bit`) and whose publisher is the same
//!   are one change, by their versions (or, when those are missing or the same, by the
//!   versions in their names) and named as run B names them. A name that is nothing but
//!   versions names no product, and is never matched so.
//! - An OS change is a matched machine with an OS in both runs whose caption, version or
//!   build differs: upgraded or downgraded by build (then version), else changed.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use winv_store::{DbValue, RowSet, RunId, RunInfo, Store};

use crate::cell::{Cell, DateTime};
use crate::model::{c, status_text, Column, Kind::*, SheetDef, Sink};
use crate::ReportError;

/// One machine of a run, as the comparison sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Machine {
    /// The target as given.
    pub target: String,
    /// The status identifier.
    pub status: String,
    /// The failure stage, when it failed.
    pub stage: Option<String>,
    /// The failure code's name, when it failed.
    pub code_name: Option<String>,
    /// The host name Windows reported.
    pub name: Option<String>,
    /// The OS caption, version and build, when collected.
    pub os: Option<Os>,
    /// Whether the installed software was collected.
    pub software_collected: bool,
}

/// An operating system as compared.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Os {
    /// `Win32_OperatingSystem.Caption`.
    pub caption: Option<String>,
    /// `Version` (`10.0.20348`).
    pub version: Option<String>,
    /// `BuildNumber`.
    pub build: Option<String>,
}

/// What one run says of its machines. Programs are interned: each distinct (name,
/// publisher, version) is held once, each machine holds their numbers.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    machines: Vec<Machine>,
    software: Vec<Vec<u32>>,
    by_target: HashMap<String, usize>,
    programs: Vec<(String, String, String)>,
    program_ids: HashMap<(String, String, String), u32>,
}

fn target_key(t: &str) -> String {
    t.trim().to_lowercase()
}

impl Snapshot {
    /// An empty snapshot.
    pub fn new() -> Snapshot {
        Snapshot::default()
    }

    /// Adds a machine (a target listed twice keeps its first record).
    pub fn add_machine(&mut self, m: Machine) {
        let key = target_key(&m.target);
        if self.by_target.contains_key(&key) {
            return;
        }
        self.by_target.insert(key, self.machines.len());
        self.machines.push(m);
        self.software.push(Vec::new());
    }

    /// Adds one installed program of the machine `target` (ignored for a target not
    /// added). A missing publisher or version is the empty string.
    pub fn add_software(
        &mut self,
        target: &str,
        name: &str,
        publisher: Option<&str>,
        version: Option<&str>,
    ) {
        let Some(&i) = self.by_target.get(&target_key(target)) else {
            return;
        };
        let key = (
            name.trim().to_string(),
            publisher.unwrap_or("").trim().to_string(),
            version.unwrap_or("").trim().to_string(),
        );
        let id = match self.program_ids.get(&key) {
            Some(&id) => id,
            None => {
                let id = u32::try_from(self.programs.len()).unwrap_or(u32::MAX);
                self.programs.push(key.clone());
                self.program_ids.insert(key, id);
                id
            }
        };
        if let Some(list) = self.software.get_mut(i) {
            list.push(id);
        }
    }

    /// The machines, in the order added.
    pub fn machines(&self) -> &[Machine] {
        &self.machines
    }

    /// A machine's programs: (name, publisher) → its versions.
    fn programs_of(&self, i: usize) -> Programs<'_> {
        let mut out: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new();
        for id in self.software.get(i).into_iter().flatten() {
            if let Some((n, p, v)) = self.programs.get(*id as usize) {
                out.entry((n.as_str(), p.as_str()))
                    .or_default()
                    .insert(v.as_str());
            }
        }
        out
    }
}

/// A machine in one of the runs (new or gone).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MachineRef {
    /// The target.
    pub target: String,
    /// The host name Windows reported.
    pub name: Option<String>,
    /// The status identifier.
    pub status: String,
}

/// A matched machine whose status changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusChange {
    /// The target in run B.
    pub target: String,
    /// The host name (run B's, else run A's).
    pub name: Option<String>,
    /// The status in run A.
    pub from: String,
    /// The status in run B.
    pub to: String,
    /// The failure stage in run B.
    pub stage: Option<String>,
    /// The failure code's name in run B.
    pub code_name: Option<String>,
}

/// How a program or an OS changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// Present in run B only.
    Installed,
    /// Present in run A only.
    Removed,
    /// A higher version in run B.
    Upgraded,
    /// A lower version in run B.
    Downgraded,
    /// Different, neither higher nor lower (versions that do not compare).
    Changed,
}

impl Change {
    /// The identifier (`upgraded`).
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Installed => "installed",
            Change::Removed => "removed",
            Change::Upgraded => "upgraded",
            Change::Downgraded => "downgraded",
            Change::Changed => "changed",
        }
    }
}

/// One program that changed on one machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SoftwareChange {
    /// The target in run B.
    pub target: String,
    /// The host name.
    pub name: Option<String>,
    /// What changed.
    pub change: Change,
    /// The program's name.
    pub program: String,
    /// Its publisher (empty when none).
    pub publisher: String,
    /// Its versions in run A (`; `-separated), when present.
    pub from: Option<String>,
    /// Its versions in run B, when present.
    pub to: Option<String>,
}

/// A machine whose operating system changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OsChange {
    /// The target in run B.
    pub target: String,
    /// The host name.
    pub name: Option<String>,
    /// Upgraded, downgraded or changed.
    pub change: Change,
    /// The OS in run A.
    pub from: Os,
    /// The OS in run B.
    pub to: Os,
}

/// The counts of a comparison.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Machines with a result in run A.
    pub machines_a: u64,
    /// Machines with a result in run B.
    pub machines_b: u64,
    /// Machines in both runs.
    pub matched: u64,
    /// Of those, matched by host name (the target changed).
    pub matched_by_name: u64,
    /// Machines in run B only.
    pub new: u64,
    /// Machines in run A only.
    pub gone: u64,
    /// Matched machines whose status changed.
    pub status_changed: u64,
    /// Matched machines whose software was compared.
    pub software_compared: u64,
    /// Matched machines whose software was not collected in one of the runs.
    pub software_not_compared: u64,
    /// Programs installed.
    pub software_installed: u64,
    /// Programs removed.
    pub software_removed: u64,
    /// Programs upgraded.
    pub software_upgraded: u64,
    /// Programs downgraded.
    pub software_downgraded: u64,
    /// Programs with other versions, neither higher nor lower.
    pub software_changed: u64,
    /// Machines whose OS changed.
    pub os_changed: u64,
}

/// Everything two runs differ in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// The counts.
    pub counts: Counts,
    /// Machines in run B only, by target.
    pub new: Vec<MachineRef>,
    /// Machines in run A only, by target.
    pub gone: Vec<MachineRef>,
    /// Status changes, by target.
    pub status_changes: Vec<StatusChange>,
    /// Software changes, by target, program and publisher.
    pub software_changes: Vec<SoftwareChange>,
    /// OS changes, by target.
    pub os_changes: Vec<OsChange>,
}

/// Compares versions part by part (`10.0.19045` < `10.0.22631`, `1.9` < `1.10`): runs
/// of digits numerically, anything else as text; `None` when either is empty.
pub fn cmp_versions(a: &str, b: &str) -> Option<Ordering> {
    fn parts(s: &str) -> Vec<&str> {
        s.split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|p| !p.is_empty())
            .collect()
    }
    let (pa, pb) = (parts(a), parts(b));
    if pa.is_empty() || pb.is_empty() {
        return None;
    }
    for i in 0..pa.len().max(pb.len()) {
        let (x, y) = (
            pa.get(i).copied().unwrap_or("0"),
            pb.get(i).copied().unwrap_or("0"),
        );
        let ord = match (x.parse::<u128>(), y.parse::<u128>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => x.cmp(y),
        };
        if ord != Ordering::Equal {
            return Some(ord);
        }
    }
    Some(Ordering::Equal)
}

fn highest<'a>(vs: &BTreeSet<&'a str>) -> Option<&'a str> {
    vs.iter()
        .copied()
        .filter(|v| !v.is_empty())
        .fold(None, |best, v| match best {
            Some(b) if cmp_versions(v, b) != Some(Ordering::Greater) => Some(b),
            _ => Some(v),
        })
}

fn direction(ord: Option<Ordering>) -> Change {
    match ord {
        Some(Ordering::Greater) => Change::Upgraded,
        Some(Ordering::Less) => Change::Downgraded,
        _ => Change::Changed,
    }
}

fn joined(vs: &BTreeSet<&str>) -> String {
    vs.iter()
        .map(|v| if v.is_empty() { "(none)" } else { v })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether a word of a program's name is a version: digits and dots (`23.01`, `2019`,
/// `14.40.33810`), optionally after a `v` (`v1.2`).
fn is_version_word(w: &str) -> bool {
    let w = w.strip_prefix(['v', 'V']).unwrap_or(w);
    !w.is_empty()
        && w.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The words of a program's name (runs of letters, digits and dots) with whether each is
/// a version, and the text between them. `64-bit` and `32 bit` are an architecture, not a
/// version: one word.
fn name_words(name: &str) -> Vec<(&str, bool)> {
    let mut out = Vec::new();
    let word_char = |c: char| c.is_alphanumeric() || c == '.';
    let mut rest = name;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| word_char(c) != rest.starts_with(word_char))
            .unwrap_or(rest.len());
        let (part, tail) = rest.split_at(split);
        let is_word = part.starts_with(word_char);
        let mut version = is_word && is_version_word(part);
        if version {
            let t = tail.as_bytes();
            if t.len() >= 4
                && matches!(t[0], b'-' | b' ')
                && t[1..4].eq_ignore_ascii_case(b"bit")
                && t.get(4).is_none_or(|b| !b.is_ascii_alphanumeric())
            {
                version = false;
            }
        }
        out.push((part, version));
        rest = tail;
    }
    out
}

/// A program's name without its versions, for matching one program across runs: the
/// name lowercased with every version word ([`is_version_word`]) replaced by one mark;
/// `None` when it has no version word, or no letter outside them (a name that is only
/// a version).
pub fn versionless_name(name: &str) -> Option<String> {
    let words = name_words(name.trim());
    let has_version = words.iter().any(|(_, v)| *v);
    let has_letter = words
        .iter()
        .any(|(w, v)| !v && w.chars().any(char::is_alphabetic));
    if !has_version || !has_letter {
        return None;
    }
    Some(
        words
            .iter()
            .map(|(w, v)| {
                if *v {
                    "\u{1}".to_string()
                } else {
                    w.to_lowercase()
                }
            })
            .collect(),
    )
}

/// The version words of a program's name, space-separated (`Java 8 Update 431` →
/// `8 431`).
fn name_version(name: &str) -> String {
    name_words(name)
        .into_iter()
        .filter(|(_, v)| *v)
        .map(|(w, _)| w)
        .collect::<Vec<_>>()
        .join(" ")
}

/// How one program changed given its versions on each side (present on both).
fn version_change(x: &BTreeSet<&str>, y: &BTreeSet<&str>) -> Change {
    match (highest(x), highest(y)) {
        (Some(hx), Some(hy)) => direction(cmp_versions(hy, hx)),
        _ => Change::Changed,
    }
}

fn name_key(m: &Machine) -> Option<String> {
    m.name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_uppercase)
}

/// A machine's programs: (name, publisher) → its versions.
type Programs<'a> = BTreeMap<(&'a str, &'a str), BTreeSet<&'a str>>;

/// One program's change on a machine: (change, program as run B names it, publisher,
/// versions in run A, versions in run B).
type ProgramChange<'a> = (Change, String, &'a str, Option<String>, Option<String>);

/// How a machine's programs changed from `pa` (run A) to `pb` (run B), by program and
/// publisher: the software rules of this module.
fn program_changes<'a>(pa: &Programs<'a>, pb: &Programs<'a>) -> Vec<ProgramChange<'a>> {
    let keys: BTreeSet<(&str, &str)> = pa.keys().chain(pb.keys()).copied().collect();
    // Programs on one side only whose names carry a version, by (name without its
    // versions, publisher): side A's names and side B's.
    type OneSided<'k> = (Vec<&'k str>, Vec<&'k str>);
    let mut renamed: BTreeMap<(String, &str), OneSided> = BTreeMap::new();
    let mut plain: Vec<(&str, &str)> = Vec::new();
    for key in keys {
        let (in_a, in_b) = (pa.contains_key(&key), pb.contains_key(&key));
        match versionless_name(key.0).filter(|_| in_a != in_b) {
            Some(n) => {
                let e = renamed.entry((n, key.1)).or_default();
                if in_a { &mut e.0 } else { &mut e.1 }.push(key.0);
            }
            None => plain.push(key),
        }
    }
    let mut changes: Vec<ProgramChange<'a>> = Vec::new();
    for ((_, publisher), (names_a, names_b)) in renamed {
        if names_a.is_empty() || names_b.is_empty() {
            plain.extend(names_a.iter().chain(&names_b).map(|n| (*n, publisher)));
            continue;
        }
        // One program renamed with its version: by the versions when both sides have
        // some and they differ, else by the versions in the names.
        let versions = |names: &[&'a str], p: &Programs<'a>| {
            names
                .iter()
                .filter_map(|n| p.get(&(*n, publisher)))
                .flatten()
                .copied()
                .filter(|v| !v.is_empty())
                .collect::<BTreeSet<&str>>()
        };
        let (mut va, mut vb) = (versions(&names_a, pa), versions(&names_b, pb));
        let in_names: [Vec<String>; 2] =
            [&names_a, &names_b].map(|ns| ns.iter().map(|n| name_version(n)).collect());
        if va.is_empty() || vb.is_empty() || va == vb {
            va = in_names[0].iter().map(String::as_str).collect();
            vb = in_names[1].iter().map(String::as_str).collect();
        }
        changes.push((
            version_change(&va, &vb),
            names_b.join("; "),
            publisher,
            Some(joined(&va)),
            Some(joined(&vb)),
        ));
    }
    for key in plain {
        let (va, vb) = (pa.get(&key), pb.get(&key));
        let change = match (va, vb) {
            (None, Some(_)) => Change::Installed,
            (Some(_), None) => Change::Removed,
            (Some(x), Some(y)) if x != y => version_change(x, y),
            _ => continue,
        };
        changes.push((
            change,
            key.0.to_string(),
            key.1,
            va.map(joined),
            vb.map(joined),
        ));
    }
    changes.sort_by(|x, y| (&x.1, x.2).cmp(&(&y.1, y.2)));
    changes
}

/// Compares run A (`a`, before) with run B (`b`, after) by the rules of this module.
pub fn compare(a: &Snapshot, b: &Snapshot) -> Comparison {
    // Pairs (index in a, index in b): by target, then by a name unique on both sides.
    let mut pairs: Vec<(usize, usize, bool)> = Vec::new();
    let mut a_used = vec![false; a.machines.len()];
    let mut b_used = vec![false; b.machines.len()];
    for (j, m) in b.machines.iter().enumerate() {
        if let Some(&i) = a.by_target.get(&target_key(&m.target)) {
            pairs.push((i, j, false));
            a_used[i] = true;
            b_used[j] = true;
        }
    }
    let unique_names = |s: &Snapshot, used: &[bool]| {
        let mut names: HashMap<String, Option<usize>> = HashMap::new();
        for (i, m) in s.machines.iter().enumerate() {
            if used[i] {
                continue;
            }
            if let Some(n) = name_key(m) {
                names.entry(n).and_modify(|e| *e = None).or_insert(Some(i));
            }
        }
        names
    };
    let a_names = unique_names(a, &a_used);
    let b_names = unique_names(b, &b_used);
    for (n, j) in &b_names {
        if let (Some(j), Some(Some(i))) = (j, a_names.get(n)) {
            pairs.push((*i, *j, true));
            a_used[*i] = true;
            b_used[*j] = true;
        }
    }

    let mut out = Comparison::default();
    let as_ref = |m: &Machine| MachineRef {
        target: m.target.clone(),
        name: m.name.clone(),
        status: m.status.clone(),
    };
    out.new = b
        .machines
        .iter()
        .zip(&b_used)
        .filter(|(_, u)| !**u)
        .map(|(m, _)| as_ref(m))
        .collect();
    out.gone = a
        .machines
        .iter()
        .zip(&a_used)
        .filter(|(_, u)| !**u)
        .map(|(m, _)| as_ref(m))
        .collect();
    out.new.sort_by(|x, y| x.target.cmp(&y.target));
    out.gone.sort_by(|x, y| x.target.cmp(&y.target));
    pairs.sort_by(|x, y| b.machines[x.1].target.cmp(&b.machines[y.1].target));

    let c = &mut out.counts;
    c.machines_a = a.machines.len() as u64;
    c.machines_b = b.machines.len() as u64;
    c.matched = pairs.len() as u64;
    c.matched_by_name = pairs.iter().filter(|p| p.2).count() as u64;
    c.new = out.new.len() as u64;
    c.gone = out.gone.len() as u64;

    for &(i, j, _) in &pairs {
        let (ma, mb) = (&a.machines[i], &b.machines[j]);
        let name = mb.name.clone().or_else(|| ma.name.clone());
        if ma.status != mb.status {
            out.status_changes.push(StatusChange {
                target: mb.target.clone(),
                name: name.clone(),
                from: ma.status.clone(),
                to: mb.status.clone(),
                stage: mb.stage.clone(),
                code_name: mb.code_name.clone(),
            });
        }
        if let (Some(oa), Some(ob)) = (&ma.os, &mb.os) {
            if oa != ob {
                let by_build = match (oa.build.as_deref(), ob.build.as_deref()) {
                    (Some(x), Some(y)) => cmp_versions(y, x).filter(|o| o.is_ne()),
                    _ => None,
                };
                let ord =
                    by_build.or_else(|| match (oa.version.as_deref(), ob.version.as_deref()) {
                        (Some(x), Some(y)) => cmp_versions(y, x),
                        _ => None,
                    });
                out.os_changes.push(OsChange {
                    target: mb.target.clone(),
                    name: name.clone(),
                    change: direction(ord),
                    from: oa.clone(),
                    to: ob.clone(),
                });
            }
        }
        if !(ma.software_collected && mb.software_collected) {
            out.counts.software_not_compared += 1;
            continue;
        }
        out.counts.software_compared += 1;
        let (pa, pb) = (a.programs_of(i), b.programs_of(j));
        for (change, program, publisher, from, to) in program_changes(&pa, &pb) {
            let counter = match change {
                Change::Installed => &mut out.counts.software_installed,
                Change::Removed => &mut out.counts.software_removed,
                Change::Upgraded => &mut out.counts.software_upgraded,
                Change::Downgraded => &mut out.counts.software_downgraded,
                Change::Changed => &mut out.counts.software_changed,
            };
            *counter += 1;
            out.software_changes.push(SoftwareChange {
                target: mb.target.clone(),
                name: name.clone(),
                change,
                program,
                publisher: publisher.to_string(),
                from,
                to,
            });
        }
    }
    out.counts.status_changed = out.status_changes.len() as u64;
    out.counts.os_changed = out.os_changes.len() as u64;
    out
}

fn text(v: Option<&DbValue>) -> Option<String> {
    v.and_then(DbValue::as_str).map(str::to_string)
}

/// Reads run `run`'s snapshot from the store (two streamed queries; programs are
/// interned, so memory grows with the machines and the distinct programs, not with
/// every installation's strings).
pub async fn snapshot(store: &Store, run: RunId) -> Result<Snapshot, ReportError> {
    let mut s = Snapshot::new();
    store
        .each_row::<ReportError, _>(run, RowSet::CompareMachines, |r| {
            let (caption, version, build) = (text(r.get(5)), text(r.get(6)), text(r.get(7)));
            let os = (caption.is_some() || version.is_some() || build.is_some()).then_some(Os {
                caption,
                version,
                build,
            });
            s.add_machine(Machine {
                target: text(r.first()).unwrap_or_default(),
                status: text(r.get(1)).unwrap_or_default(),
                stage: text(r.get(2)),
                code_name: text(r.get(3)),
                name: text(r.get(4)),
                os,
                software_collected: r.get(8).and_then(DbValue::as_i64).unwrap_or(0) > 0,
            });
            Ok(())
        })
        .await?;
    store
        .each_row::<ReportError, _>(run, RowSet::Software, |r| {
            if let (Some(t), Some(n)) = (
                r.first().and_then(DbValue::as_str),
                r.get(1).and_then(DbValue::as_str),
            ) {
                s.add_software(
                    t,
                    n,
                    r.get(3).and_then(DbValue::as_str),
                    r.get(2).and_then(DbValue::as_str),
                );
            }
            Ok(())
        })
        .await?;
    Ok(s)
}

/// One run of a comparison, as its summary names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunRef {
    /// The id.
    pub id: RunId,
    /// Start (UTC).
    pub started: String,
    /// Its state.
    pub state: String,
    /// Targets.
    pub targets: u64,
}

impl RunRef {
    fn of(info: &RunInfo) -> RunRef {
        RunRef {
            id: info.id,
            started: DateTime::from_unix_ms(info.started_ms).to_string(),
            state: info.state.to_string(),
            targets: info.targets as u64,
        }
    }
}

/// The first page of a comparison report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CompareSummary {
    /// Run A (before).
    pub a: RunRef,
    /// Run B (after).
    pub b: RunRef,
    /// The counts.
    pub counts: Counts,
}

impl CompareSummary {
    /// The counts as (label, value) lines, in the order every format shows them.
    pub fn lines(&self) -> Vec<(&'static str, u64)> {
        let c = &self.counts;
        vec![
            ("Machines in run A", c.machines_a),
            ("Machines in run B", c.machines_b),
            ("Machines in both runs", c.matched),
            ("Matched by host name (target changed)", c.matched_by_name),
            ("New machines (run B only)", c.new),
            ("Gone machines (run A only)", c.gone),
            ("Status changes", c.status_changed),
            ("Machines whose software was compared", c.software_compared),
            (
                "Machines whose software was not collected in both runs",
                c.software_not_compared,
            ),
            ("Programs installed", c.software_installed),
            ("Programs removed", c.software_removed),
            ("Programs upgraded", c.software_upgraded),
            ("Programs downgraded", c.software_downgraded),
            ("Programs with other versions", c.software_changed),
            ("OS changes", c.os_changed),
        ]
    }
}

const MACHINE_COLUMNS: &[Column] = &[
    c("Target", Text),
    c("Computer name", Text),
    c("Status", Text),
    c("Status (MAP)", Text),
];

/// `New machines`: in run B only.
pub const NEW_MACHINES: SheetDef = SheetDef {
    name: "New machines",
    slug: "new-machines",
    columns: MACHINE_COLUMNS,
};
/// `Gone machines`: in run A only.
pub const GONE_MACHINES: SheetDef = SheetDef {
    name: "Gone machines",
    slug: "gone-machines",
    columns: MACHINE_COLUMNS,
};
/// `Status changes`.
pub const STATUS_CHANGES: SheetDef = SheetDef {
    name: "Status changes",
    slug: "status-changes",
    columns: &[
        c("Target", Text),
        c("Computer name", Text),
        c("Status in run A", Text),
        c("Status in run B", Text),
        c("Status in run B (MAP)", Text),
        c("Stage in run B", Text),
        c("Code name in run B", Text),
    ],
};
/// `Software changes`.
pub const SOFTWARE_CHANGES: SheetDef = SheetDef {
    name: "Software changes",
    slug: "software-changes",
    columns: &[
        c("Target", Text),
        c("Computer name", Text),
        c("Change", Text),
        c("Name", Text),
        c("Publisher", Text),
        c("Versions in run A", Text),
        c("Versions in run B", Text),
    ],
};
/// `OS changes`.
pub const OS_CHANGES: SheetDef = SheetDef {
    name: "OS changes",
    slug: "os-changes",
    columns: &[
        c("Target", Text),
        c("Computer name", Text),
        c("Change", Text),
        c("Caption in run A", Text),
        c("Version in run A", Text),
        c("Build in run A", Text),
        c("Caption in run B", Text),
        c("Version in run B", Text),
        c("Build in run B", Text),
    ],
};

/// The sheets of a comparison, in order (after its summary).
pub const COMPARE_SHEETS: [SheetDef; 5] = [
    NEW_MACHINES,
    GONE_MACHINES,
    STATUS_CHANGES,
    SOFTWARE_CHANGES,
    OS_CHANGES,
];

/// Reads both runs and compares them: `(summary, comparison)`. An unknown run is
/// [`ReportError::NoSuchRun`].
pub async fn read(
    store: &Store,
    a: RunId,
    b: RunId,
) -> Result<(CompareSummary, Comparison), ReportError> {
    let ia = store.run(a).await?.ok_or(ReportError::NoSuchRun(a))?;
    let ib = store.run(b).await?.ok_or(ReportError::NoSuchRun(b))?;
    let sa = snapshot(store, a).await?;
    let sb = if a == b {
        sa.clone()
    } else {
        snapshot(store, b).await?
    };
    let cmp = compare(&sa, &sb);
    Ok((
        CompareSummary {
            a: RunRef::of(&ia),
            b: RunRef::of(&ib),
            counts: cmp.counts.clone(),
        },
        cmp,
    ))
}

/// Writes a comparison to `sink`: its summary, then every sheet of [`COMPARE_SHEETS`].
pub fn write(s: &CompareSummary, cmp: &Comparison, sink: &mut dyn Sink) -> Result<(), ReportError> {
    sink.comparison(s)?;
    let t = |s: &str| Cell::Text(s.to_string());
    let o = |s: &Option<String>| Cell::text(s.as_deref());
    for (sheet, list) in [(NEW_MACHINES, &cmp.new), (GONE_MACHINES, &cmp.gone)] {
        sink.begin(&sheet)?;
        for m in list {
            sink.row(&[
                t(&m.target),
                o(&m.name),
                t(&m.status),
                t(&status_text(&m.status)),
            ])?;
        }
        sink.end()?;
    }
    sink.begin(&STATUS_CHANGES)?;
    for x in &cmp.status_changes {
        sink.row(&[
            t(&x.target),
            o(&x.name),
            t(&x.from),
            t(&x.to),
            t(&status_text(&x.to)),
            o(&x.stage),
            o(&x.code_name),
        ])?;
    }
    sink.end()?;
    sink.begin(&SOFTWARE_CHANGES)?;
    for x in &cmp.software_changes {
        sink.row(&[
            t(&x.target),
            o(&x.name),
            t(x.change.as_str()),
            t(&x.program),
            t(&x.publisher),
            o(&x.from),
            o(&x.to),
        ])?;
    }
    sink.end()?;
    sink.begin(&OS_CHANGES)?;
    for x in &cmp.os_changes {
        sink.row(&[
            t(&x.target),
            o(&x.name),
            t(x.change.as_str()),
            o(&x.from.caption),
            o(&x.from.version),
            o(&x.from.build),
            o(&x.to.caption),
            o(&x.to.version),
            o(&x.to.build),
        ])?;
    }
    sink.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(target: &str, status: &str, name: Option<&str>, build: Option<&str>) -> Machine {
        Machine {
            target: target.into(),
            status: status.into(),
            name: name.map(str::to_string),
            os: build.map(|b| Os {
                caption: Some("Microsoft Windows Server 2019 Standard".into()),
                version: Some(format!("10.0.{b}")),
                build: Some(b.into()),
            }),
            software_collected: status.starts_with("inventoried"),
            ..Machine::default()
        }
    }

    fn fleet(ms: Vec<Machine>, sw: &[(&str, &str, &str, &str)]) -> Snapshot {
        let mut s = Snapshot::new();
        for m in ms {
            s.add_machine(m);
        }
        for (t, n, p, v) in sw {
            s.add_software(t, n, Some(p), Some(v));
        }
        s
    }

    /// The software changes as (program, change, from, to), for comparing with a list.
    fn software_rows(c: &Comparison) -> Vec<(&str, Change, Option<&str>, Option<&str>)> {
        c.software_changes
            .iter()
            .map(|x| {
                (
                    x.program.as_str(),
                    x.change,
                    x.from.as_deref(),
                    x.to.as_deref(),
                )
            })
            .collect()
    }

    #[test]
    fn versions_compare_part_by_part() {
        assert_eq!(cmp_versions("1.9", "1.10"), Some(Ordering::Less));
        assert_eq!(
            cmp_versions("10.0.22631", "10.0.19045"),
            Some(Ordering::Greater)
        );
        assert_eq!(cmp_versions("1.0", "1.0.0"), Some(Ordering::Equal));
        assert_eq!(cmp_versions("", "1"), None);
        assert_eq!(cmp_versions("2.0b", "2.0a"), Some(Ordering::Greater));
    }

    #[test]
    fn new_gone_status_software_and_os_changes() {
        let a = fleet(
            vec![
                machine("pc1", "inventoried", Some("PC1"), Some("17763")),
                machine("pc2", "inventoried", Some("PC2"), Some("17763")),
                machine("old", "connection-timeout", None, None),
            ],
            &[
                ("pc1", "7-Zip", "Igor Pavlov", "19.00"),
                ("pc1", "Notepad++", "Notepad++ Team", "8.1"),
                ("pc1", "Legacy", "Acme", "1.0"),
                ("pc2", "Tool", "Acme", "3.0"),
            ],
        );
        let b = fleet(
            vec![
                machine("PC1 ", "inventoried", Some("PC1"), Some("20348")),
                machine("pc2", "access-denied", None, None),
                machine("new", "inventoried", Some("NEW"), Some("20348")),
            ],
            &[
                ("pc1", "7-Zip", "Igor Pavlov", "23.01"),
                ("pc1", "Notepad++", "Notepad++ Team", "8.1"),
                ("pc1", "Firefox", "Mozilla", "120.0"),
            ],
        );
        let c = compare(&a, &b);
        assert_eq!(
            c.new.iter().map(|m| m.target.as_str()).collect::<Vec<_>>(),
            ["new"]
        );
        assert_eq!(
            c.gone.iter().map(|m| m.target.as_str()).collect::<Vec<_>>(),
            ["old"]
        );
        assert_eq!(
            c.counts.matched, 2,
            "targets match without regard to case and spaces"
        );
        assert_eq!(c.status_changes.len(), 1);
        assert_eq!(c.status_changes[0].from, "inventoried");
        assert_eq!(c.status_changes[0].to, "access-denied");
        let sw = software_rows(&c);
        assert_eq!(
            sw,
            [
                ("7-Zip", Change::Upgraded, Some("19.00"), Some("23.01")),
                ("Firefox", Change::Installed, None, Some("120.0")),
                ("Legacy", Change::Removed, Some("1.0"), None),
            ]
        );
        assert_eq!(c.counts.software_installed, 1);
        assert_eq!(c.counts.software_removed, 1);
        assert_eq!(c.counts.software_upgraded, 1);
        assert_eq!(c.os_changes.len(), 1);
        assert_eq!(c.os_changes[0].change, Change::Upgraded);
        assert_eq!(c.os_changes[0].from.build.as_deref(), Some("17763"));
        assert_eq!(c.os_changes[0].to.build.as_deref(), Some("20348"));
    }

    #[test]
    fn a_machine_failed_in_one_run_has_no_software_or_os_diff() {
        let a = fleet(vec![machine("pc1", "access-denied", None, None)], &[]);
        let b = fleet(
            vec![machine("pc1", "inventoried", Some("PC1"), Some("20348"))],
            &[
                ("pc1", "7-Zip", "Igor Pavlov", "23.01"),
                ("pc1", "Tool", "Acme", "1"),
            ],
        );
        for (x, y) in [(&a, &b), (&b, &a)] {
            let c = compare(x, y);
            assert_eq!(c.counts.matched, 1);
            assert_eq!(c.status_changes.len(), 1);
            assert!(c.software_changes.is_empty(), "{:?}", c.software_changes);
            assert!(c.os_changes.is_empty());
            assert_eq!(c.counts.software_not_compared, 1);
            assert_eq!(c.counts.software_compared, 0);
        }
    }

    #[test]
    fn a_program_listed_twice_is_one_program_with_two_versions() {
        let a = fleet(
            vec![machine("pc1", "inventoried", None, None)],
            &[
                ("pc1", "VC++ Redist", "Microsoft", "14.29"),
                ("pc1", "VC++ Redist", "Microsoft", "14.29"),
                ("pc1", "Java", "Oracle", "8.0.361"),
                ("pc1", "Java", "Oracle", "8.0.391"),
                ("pc1", "Same", "X", "2.0"),
                ("pc1", "Same", "X", "1.0"),
            ],
        );
        let b = fleet(
            vec![machine("pc1", "inventoried", None, None)],
            &[
                ("pc1", "VC++ Redist", "Microsoft", "14.29"),
                ("pc1", "VC++ Redist", "Microsoft", "14.38"),
                ("pc1", "Java", "Oracle", "8.0.391"),
                ("pc1", "Same", "X", "1.0"),
                ("pc1", "Same", "X", "2.0"),
            ],
        );
        let c = compare(&a, &b);
        let sw = software_rows(&c);
        assert_eq!(
            sw,
            [
                // One version of two gone, the highest unchanged: other versions.
                (
                    "Java",
                    Change::Changed,
                    Some("8.0.361; 8.0.391"),
                    Some("8.0.391")
                ),
                (
                    "VC++ Redist",
                    Change::Upgraded,
                    Some("14.29"),
                    Some("14.29; 14.38")
                ),
            ]
        );
    }

    #[test]
    fn version_words_are_taken_out_of_names() {
        let same = |x: &str, y: &str| {
            let (a, b) = (versionless_name(x), versionless_name(y));
            a.is_some() && a == b
        };
        assert!(same("7-Zip 23.01 (x64)", "7-Zip 24.08 (x64)"));
        assert!(same("Java 8 Update 431", "Java 11 Update 2"));
        assert!(same("Tool v1.2", "tool V2"), "a leading v; case aside");
        assert!(same(
            "Microsoft Visual C++ 2015-2019 Redistributable (x64) - 14.29.30133",
            "Microsoft Visual C++ 2015-2022 Redistributable (x64) - 14.40.33810"
        ));
        // Architectures and words with letters are not versions.
        assert!(!same("WinRAR 7.01 (32-bit)", "WinRAR 7.01 (64-bit)"));
        assert!(!same("Zabbix 7 (32 bit)", "Zabbix 7 (64 bit)"));
        assert!(!same("Redist (x86) - 14.40", "Redist (x64) - 14.40"));
        assert!(!same("Update 1 for KB5034127", "Update 1 for KB5034441"));
        // Products that share a prefix.
        assert!(!same("Acrobat 2017", "Acrobat Reader 2020"));
        assert!(!same("Agent 2", "Agent"));
        // No version, or nothing but versions.
        assert_eq!(versionless_name("Google Chrome"), None);
        assert_eq!(versionless_name("2019"), None);
        assert_eq!(versionless_name("v1.2 - 3.0 (4)"), None);
        assert_eq!(versionless_name(""), None);
        assert_eq!(name_version("Java 8 Update 431 (64-bit)"), "8 431");
    }

    #[test]
    fn a_version_in_the_name_is_one_program_across_runs() {
        let sw_a = [
            ("7-Zip 23.01 (x64)", "Igor Pavlov", "23.01"),
            (
                "Python 3.11.4 (64-bit)",
                "Python Software Foundation",
                "3.11.4150.0",
            ),
            (
                "Python 3.12.1 (64-bit)",
                "Python Software Foundation",
                "3.12.1150.0",
            ),
            ("Tool 2.0", "Acme", "2.0"),
            ("Game 2019", "Studio", ""),
            ("Office 2016", "Microsoft Corporation", "16.0"),
            ("Agent 5.1", "Vendor A", "5.1"),
            ("1.0", "Acme", "1.0"),
            ("Acrobat 2017", "Adobe", "17.0"),
            (
                "Microsoft Visual C++ 2022 X64 Minimum Runtime - 14.38.33130",
                "Microsoft Corporation",
                "14.38.33130",
            ),
            ("Suite 3", "Acme", "3"),
        ];
        let sw_b = [
            ("7-Zip 24.08 (x64)", "Igor Pavlov", "24.08"),
            (
                "Python 3.12.1 (64-bit)",
                "Python Software Foundation",
                "3.12.1150.0",
            ),
            (
                "Python 3.13.0 (64-bit)",
                "Python Software Foundation",
                "3.13.150.0",
            ),
            ("Tool 1.5", "Acme", "1.5"),
            ("Game 2021", "Studio", ""),
            ("Office 2019", "Microsoft Corporation", "16.0"),
            ("Agent 5.2", "Vendor B", "5.2"),
            ("2.0", "Acme", "2.0"),
            ("Acrobat Reader 2020", "Adobe", "20.0"),
            (
                "Microsoft Visual C++ 2022 X64 Additional Runtime - 14.40.33810",
                "Microsoft Corporation",
                "14.40.33810",
            ),
            ("Suite 4", "Acme", "4"),
            ("Suite 5", "Acme", "5"),
        ];
        let on_pc1 = |sw: &[(&'static str, &'static str, &'static str)]| {
            sw.iter()
                .map(|(n, p, v)| ("pc1", *n, *p, *v))
                .collect::<Vec<_>>()
        };
        let a = fleet(
            vec![machine("pc1", "inventoried", None, None)],
            &on_pc1(&sw_a),
        );
        let b = fleet(
            vec![machine("pc1", "inventoried", None, None)],
            &on_pc1(&sw_b),
        );
        let c = compare(&a, &b);
        use Change::*;
        assert_eq!(
            software_rows(&c),
            [
                // A name that is only a version names no product.
                ("1.0", Removed, Some("1.0"), None),
                ("2.0", Installed, None, Some("2.0")),
                ("7-Zip 24.08 (x64)", Upgraded, Some("23.01"), Some("24.08")),
                // Two products that share a prefix.
                ("Acrobat 2017", Removed, Some("17.0"), None),
                ("Acrobat Reader 2020", Installed, None, Some("20.0")),
                // Another publisher: another program.
                ("Agent 5.1", Removed, Some("5.1"), None),
                ("Agent 5.2", Installed, None, Some("5.2")),
                // No version of its own: the versions in the names.
                ("Game 2021", Upgraded, Some("2019"), Some("2021")),
                (
                    "Microsoft Visual C++ 2022 X64 Additional Runtime - 14.40.33810",
                    Installed,
                    None,
                    Some("14.40.33810")
                ),
                (
                    "Microsoft Visual C++ 2022 X64 Minimum Runtime - 14.38.33130",
                    Removed,
                    Some("14.38.33130"),
                    None
                ),
                // The same version of its own: the versions in the names.
                ("Office 2019", Upgraded, Some("2016"), Some("2019")),
                // Several versions: 3.12.1 is on both sides, 3.11.4 went, 3.13.0 came.
                (
                    "Python 3.13.0 (64-bit)",
                    Upgraded,
                    Some("3.11.4150.0"),
                    Some("3.13.150.0")
                ),
                ("Suite 4; Suite 5", Upgraded, Some("3"), Some("4; 5")),
                ("Tool 1.5", Downgraded, Some("2.0"), Some("1.5")),
            ]
        );
        let n = &c.counts;
        assert_eq!(
            (
                n.software_installed,
                n.software_removed,
                n.software_upgraded,
                n.software_downgraded,
                n.software_changed
            ),
            (4, 4, 5, 1, 0)
        );
        // And back: the same pairs, the other way.
        let back = compare(&b, &a);
        assert_eq!(back.counts.software_upgraded, 1, "Tool 2.0 came back");
        assert_eq!(back.counts.software_downgraded, 5);
    }

    #[test]
    fn a_run_compared_with_itself_has_no_change() {
        let a = fleet(
            vec![
                machine("pc1", "inventoried", Some("PC1"), Some("20348")),
                machine("pc2", "access-denied", None, None),
            ],
            &[("pc1", "7-Zip", "Igor Pavlov", "23.01")],
        );
        let c = compare(&a, &a);
        assert_eq!(c.counts.matched, 2);
        assert_eq!(c.counts.software_compared, 1);
        assert!(c.new.is_empty() && c.gone.is_empty());
        assert!(c.status_changes.is_empty() && c.software_changes.is_empty());
        assert!(c.os_changes.is_empty());
    }

    #[test]
    fn a_readdressed_machine_is_matched_by_its_unique_name() {
        let a = fleet(
            vec![
                machine("10.0.0.5", "inventoried", Some("ws01"), Some("19045")),
                machine("10.0.0.6", "inventoried", Some("DUP"), None),
                machine("10.0.0.7", "inventoried", Some("DUP"), None),
            ],
            &[],
        );
        let b = fleet(
            vec![
                machine("10.0.1.5", "inventoried", Some("WS01"), Some("19045")),
                machine("10.0.1.6", "inventoried", Some("DUP"), None),
            ],
            &[],
        );
        let c = compare(&a, &b);
        assert_eq!(c.counts.matched, 1);
        assert_eq!(c.counts.matched_by_name, 1);
        assert_eq!(c.new.len(), 1, "a name two machines share matches nothing");
        assert_eq!(c.gone.len(), 2);
    }
}
