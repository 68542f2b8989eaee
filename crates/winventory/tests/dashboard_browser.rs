//! The dashboard in a real browser: Debian's chromium driven over WebDriver
//! (chromedriver, fantoccini) while `winventory scan` writes the database of a simulated
//! fleet. Opens the overview and watches the progress count rise during the scan,
//! follows a failure reason to a computer and reads its remediation, filters the
//! computers list and reloads the URL to the same view, opens the hostile host's page and
//! the HTML report and checks that none of its scripts ran, and writes a screenshot
//! (`WINV_SCREENSHOT_OUT=path` copies it, e.g. to docs/dashboard.png).
//!
//! Skips with a message when chromium or chromedriver is absent; fails under `CI=true`.
//! Everything stays on loopback (127.0.76.x, 127.0.0.1).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use winv_testsuite::fixtures::skip_or_fail;
use winv_testsuite::cli::{first_line, temp_dir, Killed};

const BIN: &str = env!("CARGO_BIN_EXE_winventory");
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const PW_ENV: &str = "WINV_BROWSER_SIM_PW";
const PW: &str = "Browser-Sim-Pw-9931!";
const HOSTS: u32 = 150;
const HOSTILE: &str = "127.0.76.250";
const SCRIPT: &str = "<script>document.title='pwned';window.__pwned=1</script>";

fn fleet_text() -> String {
    format!(
        r#"[defaults]
user = "LAB\\admin"
password_env = "{PW_ENV}"
domain = "lab.local"
name_pattern = "WS{{n:04}}"
seed = 11

[mix]
start = "127.0.76.1"
count = {HOSTS}
seed = 11
profiles = ["server-2012r2", "server-2016", "server-2019", "server-2022", "windows-10", "windows-11"]
faults = [
  {{ percent = 6, kind = "wrong_password" }},
  {{ percent = 6, kind = "dcom_access_denied" }},
  {{ percent = 4, kind = "wmi_access_denied", namespace = 'root\cimv2' }},
  {{ percent = 6, kind = "invalid_class", class = "Win32_QuickFixEngineering" }},
]

[[host]]
address = "{HOSTILE}"
name = "EVIL01"
profile = "windows-11"
overrides = {{ "Win32_Service.DisplayName" = "{SCRIPT}", "Software.DisplayName" = "=cmd|' /C calc'!A0" }}
"#
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16, within: Duration) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn start_sim(fleet: &Path) -> (Killed, u16) {
    winv_testsuite::cli::start_sim(BIN, fleet, &[(PW_ENV, PW)], &[])
}

async fn text(c: &fantoccini::Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[test]
fn dashboard_in_chromium() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        skip_or_fail("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)");
        return;
    }
    let dir = temp_dir("browser-run");
    let fleet = dir.join("fleet.toml");
    std::fs::write(&fleet, fleet_text()).unwrap();
    let (_sim, sim_port) = start_sim(&fleet);
    let db = dir.join("inv.db");

    // A scan slow enough to watch: 10 connections a second.
    let last = format!("127.0.76.{HOSTS}");
    let scan = Killed(
        Command::new(BIN)
            .args(["scan", &format!("127.0.76.1-{last}"), HOSTILE])
            .args(["--user", "LAB\\admin", "--password-env", "WINV_BROWSER_PW"])
            .arg("--db")
            .arg(&db)
            .args(["--port", &sim_port.to_string(), "--rate", "10", "--quiet"])
            .args([
                "--connect-timeout",
                "2",
                "--call-timeout",
                "5",
                "--retry-delay",
                "0",
            ])
            .env("WINV_BROWSER_PW", PW)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let end = Instant::now() + Duration::from_secs(30);
    while !db.exists() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));

    let mut serve = Command::new(BIN)
        .args([
            "serve",
            "--db",
            db.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .env_remove("WINVENTORY_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let line = first_line(&mut serve);
    let _serve = Killed(serve);
    let base = line
        .trim()
        .trim_start_matches("listening on ")
        .trim_end_matches('/')
        .to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");

    let wd_port = free_port();
    let driver = Killed(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={wd_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(
        wait_port(wd_port, Duration::from_secs(20)),
        "chromedriver did not start"
    );
    let profile = dir.join("chromium-profile");
    let caps: serde_json::Map<String, serde_json::Value> =
        serde_json::from_value(serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,1100",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }
        }))
        .unwrap();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let conn = hyper_util::client::legacy::connect::HttpConnector::new();
        let c = ClientBuilder::new(conn)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{wd_port}"))
            .await
            .expect("a chromium session");

        // The overview while the scan runs: the count rises without a reload.
        c.goto(&format!("{base}/")).await.unwrap();
        let progress = c.find(Locator::Css("#progress")).await.unwrap();
        let state0 = progress.attr("data-state").await.unwrap();
        let first: u64 = progress.text().await.unwrap().parse().unwrap();
        assert_eq!(
            state0.as_deref(),
            Some("running"),
            "the scan should still run"
        );
        let mut later = first;
        let end = Instant::now() + Duration::from_secs(30);
        while later <= first && Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(500)).await;
            later = text(&c, "#progress").await.parse().unwrap();
        }
        assert!(later > first, "progress stayed at {first}");
        eprintln!("progress rose from {first} to {later} without a reload");

        // Let the scan finish; the page follows to "completed".
        let status = tokio::task::spawn_blocking(move || {
            let mut s = scan;
            s.0.wait().unwrap()
        })
        .await
        .unwrap();
        // Completed, the hostile host failed: exit 7.
        assert_eq!(status.code(), Some(7));
        let end = Instant::now() + Duration::from_secs(20);
        while text(&c, "#state").await != "completed" && Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert_eq!(text(&c, "#state").await, "completed");
        assert_eq!(text(&c, "#progress").await, (HOSTS + 1).to_string());
        c.goto(&format!("{base}/")).await.unwrap();
        let png = c.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        std::fs::write(dir.join("dashboard.png"), &png).unwrap();
        if let Ok(out) = std::env::var("WINV_SCREENSHOT_OUT") {
            std::fs::write(out, &png).unwrap();
        }

        // A failure reason, to a computer, to its remediation.
        c.goto(&format!("{base}/failures")).await.unwrap();
        c.find(Locator::Css("a.reason"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let url = c.current_url().await.unwrap();
        assert_eq!(url.path(), "/computers");
        assert!(url.query().unwrap_or("").contains("status="));
        c.find(Locator::Css("#computers tbody a"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert_eq!(c.current_url().await.unwrap().path(), "/computer");
        let remediation = text(&c, "#remediation").await;
        assert!(remediation.len() > 10, "remediation: {remediation:?}");
        assert!(text(&c, "#diagnose")
            .await
            .starts_with("winventory diagnose "));

        // Filter the list, reload the URL: the same view.
        c.goto(&format!("{base}/computers")).await.unwrap();
        let form = c.form(Locator::Css("#filter")).await.unwrap();
        c.find(Locator::Css("select[name=status]"))
            .await
            .unwrap()
            .select_by_value("inventoried")
            .await
            .unwrap();
        form.set_by_name("search", "WS00").await.unwrap();
        c.find(Locator::Css("#apply"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // The click starts a navigation; on a loaded machine it may not have finished.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut url = c.current_url().await.unwrap();
        while !url.query().unwrap_or("").contains("status=inventoried") && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            url = c.current_url().await.unwrap();
        }
        assert!(
            url.query().unwrap_or("").contains("status=inventoried"),
            "{url}"
        );
        let total = text(&c, "#total").await;
        let rows = c
            .find_all(Locator::Css("#computers tbody tr"))
            .await
            .unwrap()
            .len();
        assert!(rows > 0);
        c.refresh().await.unwrap();
        assert_eq!(c.current_url().await.unwrap(), url);
        assert_eq!(text(&c, "#total").await, total);
        assert_eq!(
            c.find_all(Locator::Css("#computers tbody tr"))
                .await
                .unwrap()
                .len(),
            rows
        );
        let sel = c.find(Locator::Css("select[name=status]")).await.unwrap();
        assert_eq!(
            sel.prop("value").await.unwrap().as_deref(),
            Some("inventoried")
        );
        let search = c.find(Locator::Css("input[name=search]")).await.unwrap();
        assert_eq!(search.prop("value").await.unwrap().as_deref(), Some("WS00"));

        // The hostile host: its strings are text, none of its scripts ran.
        c.goto(&format!("{base}/computer?target={HOSTILE}"))
            .await
            .unwrap();
        let services = text(&c, "#services").await;
        assert!(services.contains(SCRIPT), "the DisplayName shows as text");
        let ran = c
            .execute("return [typeof window.__pwned, document.title];", vec![])
            .await
            .unwrap();
        assert_eq!(ran[0], "undefined", "a host's script ran");
        assert_ne!(ran[1], "pwned");

        // The HTML report, opened as a file: the same.
        let html = dir.join("report.html");
        let o = Command::new(BIN)
            .args([
                "report",
                "--db",
                db.to_str().unwrap(),
                "--format",
                "html",
                "-o",
            ])
            .arg(&html)
            .output()
            .unwrap();
        assert!(o.status.success());
        c.goto(&format!("file://{}", html.display())).await.unwrap();
        let body = text(&c, "#services").await;
        assert!(body.contains(SCRIPT));
        let ran = c
            .execute(
                "return [typeof window.__pwned, document.title, document.scripts.length];",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(ran[0], "undefined");
        assert_ne!(ran[1], "pwned");
        assert_eq!(ran[2], 0);

        c.close().await.unwrap();
    });
    drop(driver);
    // The chromium profile and the database are this test's own.
    let _ = std::fs::remove_dir_all(&dir);
}
