//! `winventory report` and `serve` end to end: a simulated fleet (healthy hosts, the
//! faults of the demo, silent addresses, and one host whose strings are hostile: a
//! service DisplayName `<script>`, a model `<img onerror>`, a program named
//! `=cmd|' /C calc'!A0`) served by `winventory sim`, scanned by `winventory scan` into a
//! SQLite file; the workbook read back with calamine and compared with the database as
//! the store reads it back computer by computer; the HTML and CSV checked for escaping;
//! the dashboard fetched over loopback HTTP.
//!
//! Addresses: 127.0.74.x.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use calamine::{open_workbook, Data, DataType, Reader, Xlsx};
use winv_store::Store;
use winv_testsuite::cli::{http_get, start_serve, start_sim, temp_dir, Killed};

const BIN: &str = env!("CARGO_BIN_EXE_winventory");
const PW_ENV: &str = "WINV_REPORT_SIM_PW";
const PW: &str = "Report-Sim-Pw-4417!";
const HOSTS: u32 = 40;
const HOSTILE: &str = "127.0.74.200";
const SCRIPT: &str = "<script>document.title='pwned';window.__pwned=1</script>";
const IMG: &str = "<img src=x onerror=\"window.__pwned=2\">";
const FORMULA: &str = "=cmd|' /C calc'!A0";

/// The fleet file: the demo's fault mix over `HOSTS` hosts and the hostile host.
pub fn fleet_text() -> String {
    format!(
        r#"[defaults]
user = "LAB\\admin"
password_env = "{PW_ENV}"
domain = "lab.local"
name_pattern = "WS{{n:04}}"
seed = 7

[mix]
start = "127.0.74.1"
count = {HOSTS}
seed = 7
profiles = ["server-2012r2", "server-2016", "server-2019", "server-2022", "windows-10", "windows-11"]
faults = [
  {{ percent = 8, kind = "wrong_password" }},
  {{ percent = 8, kind = "dcom_access_denied" }},
  {{ percent = 5, kind = "wmi_access_denied", namespace = 'root\cimv2' }},
  {{ percent = 8, kind = "invalid_class", class = "Win32_QuickFixEngineering" }},
]

[[host]]
address = "{HOSTILE}"
name = "EVIL01"
profile = "windows-11"
overrides = {{ "Win32_Service.DisplayName" = "{script}", "Win32_ComputerSystem.Model" = "{img}", "Software.DisplayName" = "{FORMULA}" }}
"#,
        script = SCRIPT.replace('\\', "\\\\").replace('"', "\\\""),
        img = IMG.replace('\\', "\\\\").replace('"', "\\\""),
    )
}

/// Scans the fleet once per test binary: `(dir, db)`.
fn scanned() -> &'static (PathBuf, PathBuf) {
    static ONCE: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    ONCE.get_or_init(|| {
        let dir = temp_dir("report-fleet");
        let fleet = dir.join("fleet.toml");
        std::fs::write(&fleet, fleet_text()).unwrap();
        let (_sim, port) = start_sim(BIN, &fleet, &[(PW_ENV, PW)], &[]);
        let db = dir.join("inv.db");
        let last = format!("127.0.74.{HOSTS}");
        let out = Command::new(BIN)
            .args([
                "scan",
                &format!("127.0.74.1-{last}"),
                HOSTILE,
                "127.0.74.201",
            ])
            .args(["--user", "LAB\\admin", "--password-env", "WINV_REPORT_PW"])
            .arg("--db")
            .arg(&db)
            .args(["--port", &port.to_string(), "--rate", "0", "--quiet"])
            .args([
                "--connect-timeout",
                "2",
                "--call-timeout",
                "5",
                "--retry-delay",
                "0",
            ])
            .env("WINV_REPORT_PW", PW)
            .output()
            .unwrap();
        // Completed with failures (the hostile host, the silent address): exit 7.
        assert!(
            out.status.code() == Some(7),
            "scan failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (dir, db)
    })
}

fn report(db: &Path, format: &str, out: &Path) {
    let o = Command::new(BIN)
        .args([
            "report",
            "--db",
            db.to_str().unwrap(),
            "--format",
            format,
            "-o",
        ])
        .arg(out)
        .args(["--as-of", "2026-12-01"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The database as the store reads it back, computer by computer (a different code path
/// from the report's grouped SQL).
struct Expected {
    by_status: HashMap<String, usize>,
    computers: usize,
    inventoried: usize,
    software_rows: usize,
    installs: HashMap<(String, String), HashSet<String>>,
    services: usize,
    dated_software: usize,
}

fn expected(db: &Path) -> Expected {
    rt().block_on(async {
        let store = Store::open_existing(db).await.unwrap();
        let run = store.latest_run().await.unwrap().unwrap().id;
        let rows = store.computers(run).await.unwrap();
        let mut e = Expected {
            by_status: HashMap::new(),
            computers: rows.len(),
            inventoried: 0,
            software_rows: 0,
            installs: HashMap::new(),
            services: 0,
            dated_software: 0,
        };
        for r in &rows {
            *e.by_status
                .entry(r.status.as_str().to_string())
                .or_default() += 1;
            if !r.status.is_success() {
                continue;
            }
            e.inventoried += 1;
            let c = store.computer(run, &r.target).await.unwrap().unwrap();
            e.software_rows += c.inventory.software.len();
            for s in &c.inventory.software {
                e.installs
                    .entry((s.name.clone(), s.publisher.clone().unwrap_or_default()))
                    .or_default()
                    .insert(r.target.clone());
                if s.install_date.as_deref().is_some_and(|d| d.len() == 8) {
                    e.dated_software += 1;
                }
            }
            e.services += c
                .inventory
                .classes
                .iter()
                .filter(|k| k.class == "Win32_Service")
                .map(|k| k.instances.len())
                .sum::<usize>();
        }
        store.close().await;
        e
    })
}

fn text(d: &Data) -> String {
    match d {
        Data::String(s) => s.clone(),
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

fn sheet(wb: &mut Xlsx<std::io::BufReader<std::fs::File>>, name: &str) -> Vec<Vec<Data>> {
    let r = wb.worksheet_range(name).unwrap();
    r.rows().map(|row| row.to_vec()).collect()
}

fn col(rows: &[Vec<Data>], title: &str) -> usize {
    rows[0]
        .iter()
        .position(|h| text(h) == title)
        .unwrap_or_else(|| panic!("no column {title}"))
}

/// An Excel serial day as `YYYY-MM-DD` (1900 date system, day 60 is the fake 29 Feb).
fn serial_day(v: f64) -> String {
    let days = v.floor() as i64 - 25_569; // 1970-01-01
    winv_report::Date::from_days(days).to_string()
}

#[test]
fn workbook_agrees_with_the_database() {
    let (dir, db) = scanned();
    let xlsx = dir.join("report.xlsx");
    report(db, "xlsx", &xlsx);
    let e = expected(db);
    assert!(
        e.inventoried >= 20,
        "too few inventoried: {}",
        e.inventoried
    );
    assert!(
        e.by_status.len() >= 3,
        "the fleet should fail in several ways: {:?}",
        e.by_status
    );

    let mut wb: Xlsx<_> = open_workbook(&xlsx).unwrap();
    let names = wb.sheet_names();
    assert_eq!(
        names,
        [
            "Summary",
            "Scan results",
            "Failures by reason",
            "Failures",
            "Operating systems",
            "Servers",
            "Clients",
            "Hardware",
            "Installed software",
            "Software",
            "Hotfixes",
            "Services",
            "Collection"
        ],
        "a standard run has no scenario sheet, and no perf run no Performance sheet"
    );

    // Scan results: one row per computer, each status counted as the database has it.
    let scan = sheet(&mut wb, "Scan results");
    assert_eq!(scan.len() - 1, e.computers);
    let sc = col(&scan, "Status");
    let mut got: HashMap<String, usize> = HashMap::new();
    for r in &scan[1..] {
        *got.entry(text(&r[sc])).or_default() += 1;
    }
    assert_eq!(got, e.by_status);
    // Numbers as numbers, dates as dates.
    let at = col(&scan, "Attempts");
    assert!(scan[1..]
        .iter()
        .all(|r| matches!(r[at], Data::Float(_) | Data::Int(_))));
    let fin = col(&scan, "Finished (UTC)");
    assert!(
        scan[1..].iter().all(|r| r[fin].is_datetime()),
        "finished is a date"
    );

    // The Summary's status counts.
    let summary = sheet(&mut wb, "Summary");
    for (status, n) in &e.by_status {
        let row = summary
            .iter()
            .find(|r| r.len() > 2 && text(&r[2]) == *status)
            .unwrap_or_else(|| panic!("no summary line for {status}"));
        assert_eq!(row[1].get_float().map(|f| f as usize), Some(*n), "{status}");
    }

    // Failures: every failed computer, with a remediation and a diagnose command.
    let failures = sheet(&mut wb, "Failures");
    assert_eq!(failures.len() - 1, e.computers - e.inventoried);
    let rem = col(&failures, "Remediation");
    let diag = col(&failures, "Diagnose with");
    for r in &failures[1..] {
        assert!(!text(&r[rem]).is_empty(), "no remediation: {r:?}");
        assert!(text(&r[diag]).starts_with("winventory diagnose "));
    }
    let reasons = sheet(&mut wb, "Failures by reason");
    let n = col(&reasons, "Computers");
    let total: f64 = reasons[1..].iter().filter_map(|r| r[n].get_float()).sum();
    assert_eq!(total as usize, e.computers - e.inventoried);

    // Operating systems: one per inventoried computer, split into servers and clients,
    // install dates typed as dates, end of support from the lifecycle table.
    let os = sheet(&mut wb, "Operating systems");
    assert_eq!(os.len() - 1, e.inventoried);
    let servers = sheet(&mut wb, "Servers");
    let clients = sheet(&mut wb, "Clients");
    assert_eq!(servers.len() - 1 + clients.len() - 1, e.inventoried);
    assert!(servers.len() > 1 && clients.len() > 1);
    let inst = col(&os, "Install date");
    assert!(
        os[1..].iter().all(|r| r[inst].is_datetime()),
        "install dates are dates"
    );
    let eos = col(&os, "End of support");
    let cap = col(&os, "Caption");
    for r in &os[1..] {
        if text(&r[cap]).contains("2012 R2") {
            assert_eq!(
                serial_day(r[eos].get_datetime().unwrap().as_f64()),
                "2023-10-10"
            );
        }
        assert!(r[eos].is_datetime(), "end of support is a date: {r:?}");
    }

    // Installed software: every row, dates as dates; the Software summary's install
    // counts equal the distinct computers per program.
    let inst_sw = sheet(&mut wb, "Installed software");
    assert_eq!(inst_sw.len() - 1, e.software_rows);
    let d = col(&inst_sw, "Install date");
    let dated = inst_sw[1..].iter().filter(|r| r[d].is_datetime()).count();
    assert_eq!(dated, e.dated_software);
    assert!(dated > 0);
    let sw = sheet(&mut wb, "Software");
    let (nc, pc, ic) = (
        col(&sw, "Name"),
        col(&sw, "Publisher"),
        col(&sw, "Install count"),
    );
    assert_eq!(sw.len() - 1, e.installs.len());
    for r in &sw[1..] {
        let key = (text(&r[nc]), text(&r[pc]));
        let want = e.installs.get(&key).map(HashSet::len);
        assert_eq!(r[ic].get_float().map(|f| f as usize), want, "{key:?}");
    }

    // Services: every instance.
    let services = sheet(&mut wb, "Services");
    assert_eq!(services.len() - 1, e.services);

    // The hostile host's strings are text cells, verbatim, and no cell is a formula.
    assert!(sw[1..]
        .iter()
        .any(|r| r[nc] == Data::String(FORMULA.into())));
    let dn = col(&services, "Display name");
    assert!(services[1..]
        .iter()
        .any(|r| r[dn] == Data::String(SCRIPT.into())));
    let hw = sheet(&mut wb, "Hardware");
    let model = col(&hw, "Model");
    assert!(hw[1..].iter().any(|r| r[model] == Data::String(IMG.into())));
    for name in ["Software", "Installed software", "Services", "Hardware"] {
        let f = wb.worksheet_formula(name).unwrap();
        assert!(
            f.used_cells().all(|(_, _, s)| s.is_empty()),
            "a formula in {name}"
        );
    }
}

#[test]
fn html_and_csv_reports_escape_host_strings() {
    let (dir, db) = scanned();
    let html = dir.join("report.html");
    report(db, "html", &html);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("Content-Security-Policy"));
    assert!(page.contains("default-src 'none'"));
    assert!(!page.contains("<script"), "no script element at all");
    assert!(!page.contains("<img"), "the host's img tag is not markup");
    assert!(page.contains("&lt;script&gt;document.title=&#39;pwned&#39;"));
    assert!(page.contains("&lt;img src=x onerror=&quot;"));
    assert!(
        !page.contains("http://") || !page.contains("src=\"http"),
        "no external resource"
    );

    let csv = dir.join("csv");
    report(db, "csv", &csv);
    let sw = std::fs::read_to_string(csv.join("software.csv")).unwrap();
    assert!(sw.contains("\"'=cmd|' /C calc'!A0\"") || sw.contains("'=cmd|' /C calc'!A0"));
    assert!(!sw.lines().any(|l| l.starts_with("=cmd")));
    assert!(!sw.contains(",=cmd"));
    for f in [
        "summary",
        "scan-results",
        "operating-systems",
        "services",
        "hotfixes",
    ] {
        assert!(csv.join(format!("{f}.csv")).exists(), "{f}.csv");
    }

    let json = dir.join("report.json");
    report(db, "json", &json);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let sheets = v["sheets"].as_array().unwrap();
    assert_eq!(sheets.len(), 12);
    assert_eq!(sheets[11]["name"], "Collection", "{}", sheets[11]);
    let e = expected(db);
    assert_eq!(sheets[0]["rows"].as_array().unwrap().len(), e.computers);
}

/// A running `winventory serve`; returns the child and its address.
fn serve(db: &Path, extra: &[&str], env: &[(&str, &str)]) -> (Killed, String) {
    start_serve(BIN, db.to_str().unwrap(), extra, env)
}

/// A plain HTTP/1.1 GET: `(status, headers, body)`.
fn get(addr: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    http_get(addr, path, headers)
}

#[test]
fn dashboard_pages_escape_and_explain() {
    let (_, db) = scanned();
    let (_srv, addr) = serve(db, &["--listen", "127.0.0.1:0"], &[]);
    let (code, head, body) = get(&addr, "/", &[]);
    assert_eq!(code, 200, "{head}");
    assert!(head
        .to_ascii_lowercase()
        .contains("content-security-policy: default-src 'none'; script-src 'self'"));
    assert!(body.contains("id=\"progress\""));
    assert!(body.contains("<svg"));

    // The hostile host: its strings are text.
    let (code, _, body) = get(&addr, &format!("/computer?target={HOSTILE}"), &[]);
    assert_eq!(code, 200);
    assert!(
        body.contains("&lt;script&gt;document.title="),
        "service name shown as text"
    );
    assert!(!body.contains(SCRIPT));
    assert!(!body.contains("<img"));

    // A failed computer: stage, explanation, remediation and the diagnose command.
    let (_, _, list) = get(&addr, "/computers?failed=1&status=access-denied", &[]);
    let target = list
        .split("/computer?run=")
        .nth(1)
        .and_then(|s| s.split("target=").nth(1))
        .and_then(|s| s.split('"').next())
        .expect("an access-denied computer");
    let (code, _, body) = get(&addr, &format!("/computer?target={target}"), &[]);
    assert_eq!(code, 200);
    assert!(body.contains("id=\"remediation\""), "{body}");
    assert!(body.contains("id=\"diagnose\">winventory diagnose "));

    // Filters in the URL, sorted, paged; downloads of the filtered list.
    let (_, _, body) = get(&addr, "/computers?status=inventoried&sort=name&desc=1", &[]);
    assert!(body.contains("<option value=\"inventoried\" selected>"));
    let (code, head, csv) = get(&addr, "/computers.csv?status=inventoried", &[]);
    assert_eq!(code, 200);
    assert!(head.contains("text/csv"));
    let e = expected(db);
    assert_eq!(
        csv.trim_end().lines().count() - 1,
        e.by_status["inventoried"]
    );
    let (code, _, _) = get(&addr, "/computers.xlsx?failed=1", &[]);
    assert_eq!(code, 200);
    let (code, _, body) = get(&addr, "/software", &[]);
    assert_eq!(code, 200);
    assert!(body.contains("&#39;=cmd|&#39; /C calc&#39;!A0") || body.contains("=cmd|&#39;"));
    let (code, _, body) = get(&addr, "/failures", &[]);
    assert_eq!(code, 200);
    assert!(body.contains("class=\"reason\""));

    // Read-only and rebinding-proof.
    let (code, _, _) = get(&addr, "/computer", &[]);
    assert_eq!(code, 400);
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    assert!(
        raw.starts_with("HTTP/1.1 421") || raw.starts_with("HTTP/1.1 405"),
        "{raw}"
    );
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: evil.example:80\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 421"), "{raw}");
}

#[test]
fn dashboard_requires_its_token() {
    let (_, db) = scanned();
    // No token on a non-loopback address: serve refuses to start.
    let o = Command::new(BIN)
        .args([
            "serve",
            "--db",
            db.to_str().unwrap(),
            "--listen",
            "0.0.0.0:0",
        ])
        .env_remove("WINVENTORY_TOKEN")
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a loopback address"));

    // With a token, every request without it is refused.
    let token = "report-test-token-0123456789";
    let (_srv, addr) = serve(
        db,
        &["--listen", "127.0.0.1:0"],
        &[("WINVENTORY_TOKEN", token)],
    );
    let (code, _, _) = get(&addr, "/", &[]);
    assert_eq!(code, 401);
    let (code, _, _) = get(
        &addr,
        "/computers.csv",
        &[("Authorization", "Bearer wrong-token-0123456789")],
    );
    assert_eq!(code, 401);
    let (code, _, _) = get(&addr, "/", &[("Authorization", &format!("Bearer {token}"))]);
    assert_eq!(code, 200);
    let (code, head, _) = get(&addr, &format!("/?token={token}"), &[]);
    assert_eq!(code, 200);
    assert!(
        head.contains("winv_token="),
        "the token is kept in a cookie"
    );
    let (code, _, _) = get(&addr, "/", &[("Cookie", &format!("winv_token={token}"))]);
    assert_eq!(code, 200);
}
