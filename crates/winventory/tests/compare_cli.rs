//! `winventory report --compare A B` and the dashboard's `/compare` end to end: one
//! simulated fleet scanned twice with different data (another seed, so other OS
//! profiles, faults and software; another host set, so machines new and gone; a host
//! that gains a program with a hostile name), the JSON comparison checked against the
//! database as the store reads it back computer by computer, the other formats read
//! back, unknown runs refused with exit 2, the dashboard page escaped.
//!
//! Addresses: 127.0.75.x.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use calamine::{open_workbook, Reader, Xlsx};
use serde_json::Value;
use winv_store::Store;
use winv_testsuite::cli::{http_get, start_serve, start_sim, temp_dir, Killed};

const BIN: &str = env!("CARGO_BIN_EXE_winventory");
const PW_ENV: &str = "WINV_COMPARE_SIM_PW";
const PW: &str = "Compare-Sim-Pw-5521!";
const HOSTILE: &str = "127.0.75.30";
const IMG: &str = "<img src=x onerror=\"window.__pwned=3\">";

fn fleet(seed: u32, count: u32, hostile_program: bool) -> String {
    let program = if hostile_program {
        format!(
            ", overrides = {{ \"Software.DisplayName\" = \"{}\" }}",
            IMG.replace('"', "\\\"")
        )
    } else {
        String::new()
    };
    format!(
        r#"[defaults]
user = "LAB\\admin"
password_env = "{PW_ENV}"
domain = "lab.local"
name_pattern = "WS{{n:04}}"
seed = {seed}

[mix]
start = "127.0.75.1"
count = {count}
seed = {seed}
profiles = ["server-2012r2", "server-2016", "server-2019", "server-2022", "windows-10", "windows-11"]
faults = [
  {{ percent = 15, kind = "wrong_password" }},
  {{ percent = 10, kind = "dcom_access_denied" }},
]

[[host]]
address = "{HOSTILE}"
name = "EVIL02"
profile = "windows-11"
{program}
"#,
        program = program.trim_start_matches(", ")
    )
}

fn scan(db: &Path, port: u16, targets: &[&str]) {
    let out = Command::new(BIN)
        .arg("scan")
        .args(targets)
        .args(["--user", "LAB\\admin", "--password-env", "WINV_COMPARE_PW"])
        .arg("--db")
        .arg(db)
        .args(["--port", &port.to_string(), "--rate", "0", "--quiet"])
        .args([
            "--connect-timeout",
            "2",
            "--call-timeout",
            "5",
            "--retry-delay",
            "0",
        ])
        .env("WINV_COMPARE_PW", PW)
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 7)),
        "scan failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two runs of the fleet: `(dir, db)`. Run 1: hosts 1-15 and the hostile host, seed 1;
/// run 2: hosts 5-20 and the hostile host (now with a program named like markup), seed 2.
fn scanned() -> &'static (PathBuf, PathBuf) {
    static ONCE: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    ONCE.get_or_init(|| {
        let dir = temp_dir("compare-fleet");
        let db = dir.join("inv.db");
        for (seed, count, range, hostile) in [
            (1, 15, "127.0.75.1-127.0.75.15", false),
            (2, 20, "127.0.75.5-127.0.75.20", true),
        ] {
            let file = dir.join(format!("fleet{seed}.toml"));
            std::fs::write(&file, fleet(seed, count, hostile)).unwrap();
            let (_sim, port) = start_sim(BIN, &file, &[(PW_ENV, PW)], &[]);
            scan(&db, port, &[range, HOSTILE]);
        }
        (dir, db)
    })
}

fn report(db: &Path, args: &[&str], out: &Path) -> Output {
    Command::new(BIN)
        .args(["report", "--db", db.to_str().unwrap()])
        .args(args)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap()
}

/// `report --compare A B --format json` into `out`, which must succeed; its document.
fn compare_json(db: &Path, a: &str, b: &str, out: &Path) -> Value {
    let o = report(db, &["--compare", a, b, "--format", "json"], out);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// What the store says of one run, computer by computer: status, OS build, and for an
/// inventoried computer its programs (name, publisher) → versions.
type Programs = BTreeMap<(String, String), BTreeSet<String>>;
struct RunData {
    status: BTreeMap<String, String>,
    build: BTreeMap<String, String>,
    software: BTreeMap<String, Programs>,
}

fn run_data(db: &Path, run: i64) -> RunData {
    rt().block_on(async {
        let store = Store::open_existing(db).await.unwrap();
        let mut d = RunData {
            status: BTreeMap::new(),
            build: BTreeMap::new(),
            software: BTreeMap::new(),
        };
        for r in store.computers(run).await.unwrap() {
            d.status
                .insert(r.target.clone(), r.status.as_str().to_string());
            if !r.status.is_success() {
                continue;
            }
            let c = store.computer(run, &r.target).await.unwrap().unwrap();
            if let Some(b) = c
                .inventory
                .first("Win32_OperatingSystem")
                .as_ref()
                .and_then(|os| os.get("BuildNumber"))
                .and_then(Value::as_str)
            {
                d.build.insert(r.target.clone(), b.to_string());
            }
            let mut p = Programs::new();
            for s in &c.inventory.software {
                p.entry((s.name.clone(), s.publisher.clone().unwrap_or_default()))
                    .or_default()
                    .insert(s.version.clone().unwrap_or_default());
            }
            d.software.insert(r.target.clone(), p);
        }
        store.close().await;
        d
    })
}

fn targets(rows: &Value) -> BTreeSet<String> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap().to_string())
        .collect()
}

fn sheet<'a>(doc: &'a Value, name: &str) -> &'a Value {
    &doc["sheets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no sheet {name}"))["rows"]
}

#[test]
fn two_runs_compare_as_the_database_says() {
    let (dir, db) = scanned();
    let doc = compare_json(db, "1", "2", &dir.join("compare.json"));
    let (a, b) = (run_data(db, 1), run_data(db, 2));

    // Machines new and gone: by target.
    let ta: BTreeSet<String> = a.status.keys().cloned().collect();
    let tb: BTreeSet<String> = b.status.keys().cloned().collect();
    let new: BTreeSet<String> = tb.difference(&ta).cloned().collect();
    let gone: BTreeSet<String> = ta.difference(&tb).cloned().collect();
    assert_eq!(new.len(), 5, "hosts 16-20: {new:?}");
    assert_eq!(gone.len(), 4, "hosts 1-4: {gone:?}");
    assert_eq!(targets(sheet(&doc, "New machines")), new);
    assert_eq!(targets(sheet(&doc, "Gone machines")), gone);
    assert_eq!(doc["comparison"]["counts"]["new"], 5);
    assert_eq!(doc["comparison"]["counts"]["gone"], 4);
    assert_eq!(doc["comparison"]["a"]["id"], 1);
    assert_eq!(doc["comparison"]["b"]["id"], 2);

    // Status changes: every matched target whose status differs, with both statuses.
    let both: Vec<&String> = ta.intersection(&tb).collect();
    let want: BTreeSet<(String, String, String)> = both
        .iter()
        .filter(|t| a.status[**t] != b.status[**t])
        .map(|t| (t.to_string(), a.status[*t].clone(), b.status[*t].clone()))
        .collect();
    let got: BTreeSet<(String, String, String)> = sheet(&doc, "Status changes")
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().to_string(),
                r[2].as_str().unwrap().to_string(),
                r[3].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got, want);

    // Software: on machines inventoried in both runs, each program present on one side
    // only is installed or removed; other versions are an upgrade, downgrade or change.
    let mut want_sw: BTreeSet<(String, String, String)> = BTreeSet::new();
    for t in &both {
        let (Some(pa), Some(pb)) = (a.software.get(*t), b.software.get(*t)) else {
            continue;
        };
        for key in pa.keys().chain(pb.keys()) {
            let kind = match (pa.get(key), pb.get(key)) {
                (None, Some(_)) => "installed",
                (Some(_), None) => "removed",
                (Some(x), Some(y)) if x != y => "versions",
                _ => continue,
            };
            want_sw.insert((t.to_string(), key.0.clone(), kind.to_string()));
        }
    }
    let got_sw: BTreeSet<(String, String, String)> = sheet(&doc, "Software changes")
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let kind = match r[2].as_str().unwrap() {
                k @ ("installed" | "removed") => k.to_string(),
                _ => "versions".to_string(),
            };
            (
                r[0].as_str().unwrap().to_string(),
                r[3].as_str().unwrap().to_string(),
                kind,
            )
        })
        .collect();
    assert_eq!(got_sw, want_sw);
    assert!(
        want_sw.contains(&(
            HOSTILE.to_string(),
            IMG.to_string(),
            "installed".to_string()
        )),
        "the hostile host gained its program: {want_sw:?}"
    );

    // OS changes: matched machines with an OS in both runs and another build.
    let want_os: BTreeSet<String> = both
        .iter()
        .filter(|t| matches!((a.build.get(**t), b.build.get(**t)), (Some(x), Some(y)) if x != y))
        .map(|t| t.to_string())
        .collect();
    assert!(!want_os.is_empty(), "the second seed changes some profiles");
    let got_os: BTreeSet<String> = targets(sheet(&doc, "OS changes"));
    assert_eq!(got_os, want_os);
}

#[test]
fn a_run_compared_with_itself_and_unknown_runs() {
    let (dir, db) = scanned();
    let doc = compare_json(db, "2", "2", &dir.join("self.json"));
    for s in doc["sheets"].as_array().unwrap() {
        assert_eq!(s["rows"].as_array().unwrap().len(), 0, "{}", s["name"]);
    }
    let c = &doc["comparison"]["counts"];
    assert_eq!(c["matched"], c["machines_b"]);
    assert!(c["software_compared"].as_u64().unwrap() > 0);

    for args in [
        &["--compare", "1", "99"][..],
        &["--compare", "99", "1"][..],
        &["--run", "42"][..],
    ] {
        let o = report(
            db,
            &[args, &["--format", "json"]].concat(),
            &dir.join("x.json"),
        );
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        let id = if args.contains(&"99") { "99" } else { "42" };
        assert!(err.contains(&format!("no run {id} in ")), "{args:?}: {err}");
    }
    // --run and --compare together, or one run only: refused by the command line.
    let o = report(db, &["--compare", "1"], &dir.join("x.json"));
    assert_eq!(o.status.code(), Some(2));
    let o = report(
        db,
        &["--compare", "1", "2", "--run", "1"],
        &dir.join("x.json"),
    );
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn other_formats_hold_the_same_comparison_escaped() {
    let (dir, db) = scanned();
    let json = dir.join("c.json");
    assert_eq!(
        report(db, &["--compare", "1", "2", "--format", "json"], &json)
            .status
            .code(),
        Some(0)
    );
    let doc: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let sw_rows = sheet(&doc, "Software changes").as_array().unwrap().len();

    let xlsx = dir.join("c.xlsx");
    let o = report(db, &["--compare", "1", "2", "--format", "xlsx"], &xlsx);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut wb: Xlsx<_> = open_workbook(&xlsx).unwrap();
    assert_eq!(
        wb.sheet_names(),
        [
            "Comparison",
            "New machines",
            "Gone machines",
            "Status changes",
            "Software changes",
            "OS changes"
        ]
    );
    let r = wb.worksheet_range("Software changes").unwrap();
    assert_eq!(r.rows().count() - 1, sw_rows);
    let r = wb.worksheet_range("New machines").unwrap();
    assert_eq!(r.rows().count() - 1, 5);

    let csv = dir.join("c-csv");
    assert_eq!(
        report(db, &["--compare", "1", "2", "--format", "csv"], &csv)
            .status
            .code(),
        Some(0)
    );
    for f in [
        "comparison",
        "new-machines",
        "gone-machines",
        "status-changes",
        "software-changes",
        "os-changes",
    ] {
        assert!(csv.join(format!("{f}.csv")).exists(), "{f}.csv");
    }
    let text = std::fs::read_to_string(csv.join("gone-machines.csv")).unwrap();
    assert_eq!(text.trim_end().lines().count() - 1, 4);

    let html = dir.join("c.html");
    assert_eq!(
        report(db, &["--compare", "1", "2", "--format", "html"], &html)
            .status
            .code(),
        Some(0)
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("default-src 'none'"));
    assert!(!page.contains("<img"), "the host's program name is text");
    assert!(page.contains("&lt;img src=x onerror=&quot;window.__pwned=3&quot;&gt;"));
}

fn serve(db: &Path) -> (Killed, String) {
    start_serve(BIN, db.to_str().unwrap(), &["--listen", "127.0.0.1:0"], &[])
}

/// A GET: `(status, body)`.
fn get(addr: &str, path: &str) -> (u16, String) {
    let (code, _, body) = http_get(addr, path, &[]);
    (code, body)
}

#[test]
fn the_dashboard_compares_runs() {
    let (_, db) = scanned();
    let (_srv, addr) = serve(db);
    let (code, body) = get(&addr, "/");
    assert_eq!(code, 200);
    assert!(
        body.contains("id=\"compare\" href=\"/compare?a=1&amp;b=2\""),
        "{body}"
    );
    let (code, body) = get(&addr, "/compare?a=1&b=2");
    assert_eq!(code, 200, "{body}");
    for id in [
        "new",
        "gone",
        "status-changes",
        "software-changes",
        "os-changes",
    ] {
        assert!(body.contains(&format!("id=\"{id}\"")), "{id}");
    }
    assert!(!body.contains("<img"), "the host's program name is text");
    assert!(body.contains("&lt;img src=x onerror="));
    // The default is the two newest runs.
    let (code, default) = get(&addr, "/compare");
    assert_eq!(code, 200);
    assert_eq!(default, body);
    let (code, _) = get(&addr, "/compare?a=1&b=77");
    assert_eq!(code, 404);
    let (code, _) = get(&addr, "/compare?a=x&b=2");
    assert_eq!(code, 400);
}

/// Both runs copied into a throwaway PostgreSQL database (every computer read back
/// from SQLite and saved again): the reports, the comparison and the dashboard's pages
/// read from PostgreSQL are the same bytes as from SQLite.
#[test]
fn reports_and_the_dashboard_on_postgres_equal_sqlite() {
    let Some(server) = winv_testsuite::pg::PgServer::start().unwrap() else {
        return;
    };
    let (dir, db) = scanned();
    let url = server.url("postgres");
    let pw = server.password_file().to_path_buf();
    rt().block_on(async {
        let from = Store::open_existing(db).await.unwrap();
        let auth = winv_store::DbAuth {
            password_file: Some(pw.clone()),
        };
        let to = Store::open_with(Path::new(&url), &auth, true)
            .await
            .unwrap();
        for run in [1, 2] {
            let info = from.run(run).await.unwrap().unwrap();
            let targets = from.run_targets(run).await.unwrap();
            let id = to
                .create_run(&targets, &info.options, info.started_ms)
                .await
                .unwrap();
            assert_eq!(id, run);
            for c in from.computers(run).await.unwrap() {
                let r = from.computer(run, &c.target).await.unwrap().unwrap();
                to.save_computer(id, &r).await.unwrap();
            }
            to.set_run_state(id, info.state, info.finished_ms)
                .await
                .unwrap();
        }
        from.close().await;
        to.close().await;
    });
    let pg_args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["report", "--db", &url, "--db-password-file"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.push(pw.display().to_string());
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    for (name, extra) in [
        (
            "run2.json",
            &["--run", "2", "--format", "json", "--as-of", "2026-12-01"][..],
        ),
        (
            "run1.json",
            &["--run", "1", "--format", "json", "--as-of", "2026-12-01"][..],
        ),
        ("cmp.json", &["--compare", "1", "2", "--format", "json"][..]),
        (
            "run2.html",
            &["--run", "2", "--format", "html", "--as-of", "2026-12-01"][..],
        ),
    ] {
        let lite = dir.join(format!("lite-{name}"));
        let o = report(db, extra, &lite);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let pg = dir.join(format!("pg-{name}"));
        let o = Command::new(BIN)
            .args(pg_args(extra))
            .arg("-o")
            .arg(&pg)
            .env_remove("PGPASSWORD")
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let (a, b) = (std::fs::read(&lite).unwrap(), std::fs::read(&pg).unwrap());
        assert!(a.len() > 1000, "{name}: a real report");
        assert!(
            a == b,
            "{name}: the postgres report differs from the sqlite one"
        );
    }

    // The dashboard on PostgreSQL: the same pages.
    let (_lite_srv, lite_addr) = serve(db);
    let pw = pw.to_str().unwrap();
    let (_pg_srv, pg_addr) = start_serve(
        BIN,
        &url,
        &["--db-password-file", pw, "--listen", "127.0.0.1:0"],
        &[],
    );
    for path in [
        "/compare?a=1&b=2",
        "/computers?run=2&sort=os",
        "/computers?run=2&search=ws00&sort=name&desc=1",
        "/computers?run=1&failed=1",
        "/software?run=2",
        "/failures?run=1",
        &format!("/computer?run=2&target={HOSTILE}"),
    ] {
        let (c1, b1) = get(&lite_addr, path);
        let (c2, b2) = get(&pg_addr, path);
        assert_eq!((c1, c2), (200, 200), "{path}");
        assert!(b1 == b2, "{path}: the postgres page differs");
    }
}
