//! `winventory status`: a run read back from the database: its state, the computers by
//! status (MAP's wording and the identifier), per-class counts, the failed computers,
//! and for a run shared by several scanners each scanner (last heartbeat, claimed,
//! finished, attempts), the queue and the leases that expired.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};
use winv_store::{
    ComputerRow, DbAuth, ExpiredLease, QueueCounts, RunInfo, RunSummary, ScannerInfo, Store,
    StoreError,
};

/// Arguments of `winventory status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The database written by `winventory scan`: a SQLite file, or a PostgreSQL URL
    /// `postgres://user@host:port/dbname?sslmode=verify-full` (no password in it: the
    /// password comes from --db-password-file, PGPASSWORD or ~/.pgpass).
    #[arg(long, value_name = "PATH|URL", default_value = "winventory.db")]
    pub db: PathBuf,

    /// A file (owner-only: chmod 600) whose first line is the PostgreSQL password.
    #[arg(long, value_name = "PATH")]
    pub db_password_file: Option<PathBuf>,

    /// The run to show (default: the newest).
    #[arg(long, value_name = "ID")]
    pub run: Option<i64>,

    /// Print one JSON object for tools instead of text.
    #[arg(long)]
    pub json: bool,

    /// Also list every failed computer: target, status, stage, code with its name,
    /// message.
    #[arg(long)]
    pub computers: bool,
}

/// Runs `status`: exit 0 when the run was read.
pub fn run(args: StatusArgs) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let out = rt.block_on(report(&args))?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The whole output of `status`, text or JSON.
async fn report(args: &StatusArgs) -> Result<String> {
    let auth = DbAuth {
        password_file: args.db_password_file.clone(),
    };
    let store = match Store::open_with(&args.db, &auth, false).await {
        Ok(s) => s,
        // Already says "no database at PATH".
        Err(e @ StoreError::NoDatabase { .. }) => return Err(e.into()),
        Err(e) => return Err(anyhow::Error::new(e).context("cannot read the database")),
    };
    let result = read_run(&store, args).await;
    let accounts = match &result {
        Ok((info, ..)) => store.accounts(info.id).await?,
        Err(_) => Vec::new(),
    };
    store.close().await;
    let (info, summary, failed, shared) = result?;
    if args.json {
        let mut v = to_json(&args.db, &info, &summary, failed.as_deref());
        if let (Some(sh), Some(obj)) = (&shared, v.as_object_mut()) {
            obj.insert("scanners".into(), shared_json(sh));
            obj.insert("queue".into(), json!(sh.queue));
            obj.insert("expired_leases".into(), json!(sh.expired));
        }
        if let Some(obj) = v.as_object_mut() {
            obj.insert("accounts".into(), json!(accounts));
        }
        let mut s = serde_json::to_string_pretty(&v)?;
        s.push('\n');
        Ok(s)
    } else {
        let mut out = Vec::new();
        write_header(&info, &mut out)?;
        print_summary(&summary, &args.db, &mut out)?;
        crate::accounts::write(&accounts, &mut out)?;
        if let Some(sh) = &shared {
            write_shared(sh, &mut out)?;
        }
        if let Some(rows) = &failed {
            write_failed(rows, &mut out)?;
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

type RunData = (
    RunInfo,
    RunSummary,
    Option<Vec<ComputerRow>>,
    Option<Shared>,
);

/// The scanners of a run shared by several (none for a run of one `scan` process).
struct Shared {
    now_ms: i64,
    scanners: Vec<ScannerInfo>,
    queue: QueueCounts,
    expired: Vec<ExpiredLease>,
}

/// A scanner whose last heartbeat is older than this is shown as silent.
const SILENT_MS: i64 = 60_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Control characters of names (scanner names, sites, targets) shown escaped, so no
/// name can move the cursor or recolour a terminal.
fn printable(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

fn scanner_state(s: &ScannerInfo, now: i64) -> &'static str {
    if s.left_ms.is_some() {
        "left"
    } else if now.saturating_sub(s.heartbeat_ms) > SILENT_MS {
        "silent"
    } else {
        "active"
    }
}

fn write_shared(sh: &Shared, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out)?;
    let q = &sh.queue;
    writeln!(
        out,
        "queue: {} ready, {} waiting for a retry, {} claimed, {} expired leases, {} done",
        q.ready, q.waiting, q.claimed, q.expired, q.done
    )?;
    let name_w = sh
        .scanners
        .iter()
        .map(|s| printable(&s.name).len())
        .chain(["scanner".len()])
        .max()
        .unwrap_or(7);
    let site_w = sh
        .scanners
        .iter()
        .map(|s| s.site.as_deref().map_or(1, |x| printable(x).len()))
        .chain(["site".len()])
        .max()
        .unwrap_or(4);
    writeln!(
        out,
        "{:>4}  {:<name_w$}  {:<site_w$}  {:<6}  {:>14}  {:>7}  {:>8}  {:>8}",
        "id", "scanner", "site", "state", "last heartbeat", "claimed", "finished", "attempts"
    )?;
    for s in &sh.scanners {
        writeln!(
            out,
            "{:>4}  {:<name_w$}  {:<site_w$}  {:<6}  {:>14}  {:>7}  {:>8}  {:>8}",
            s.id,
            printable(&s.name),
            s.site.as_deref().map_or("-".to_string(), printable),
            scanner_state(s, sh.now_ms),
            format!("{} ago", format_duration(sh.now_ms - s.heartbeat_ms)),
            s.claimed,
            s.finished,
            s.attempts
        )?;
    }
    if !sh.expired.is_empty() {
        writeln!(out, "expired leases ({}):", sh.expired.len())?;
        for l in &sh.expired {
            writeln!(
                out,
                "  {}  held by {} (scanner {}), expired {} ago",
                printable(&l.target),
                printable(&l.scanner_name),
                l.scanner,
                format_duration(sh.now_ms - l.lease_until_ms)
            )?;
        }
    }
    Ok(())
}

fn shared_json(sh: &Shared) -> Value {
    Value::Array(
        sh.scanners
            .iter()
            .map(|s| {
                let mut v = json!(s);
                if let Some(o) = v.as_object_mut() {
                    o.insert("state".into(), json!(scanner_state(s, sh.now_ms)));
                }
                v
            })
            .collect(),
    )
}

async fn read_run(store: &Store, args: &StatusArgs) -> Result<RunData> {
    let info = match args.run {
        Some(id) => store.run(id).await?,
        None => store.latest_run().await?,
    };
    let Some(info) = info else {
        match args.run {
            Some(id) => bail!("no run {id} in {}", args.db.display()),
            None => bail!("no run in {}", args.db.display()),
        }
    };
    let summary = store.summary(info.id).await?;
    let failed = if args.computers {
        let rows = store.computers(info.id).await?;
        Some(
            rows.into_iter()
                .filter(|r| !r.status.is_success())
                .collect(),
        )
    } else {
        None
    };
    let scanners = store.scanners(info.id).await?;
    let shared = if scanners.is_empty() {
        None
    } else {
        let now = now_ms();
        Some(Shared {
            now_ms: now,
            queue: store.queue_counts(info.id, now).await?,
            expired: store.expired_leases(info.id, now).await?,
            scanners,
        })
    };
    Ok((info, summary, failed, shared))
}

/// Milliseconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC` (proleptic Gregorian
/// calendar, from the day count).
fn format_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    // Days since 1970-01-01 to a civil date, counting in 400-year eras from 0000-03-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        tod / 3600,
        tod % 3600 / 60,
        tod % 60
    )
}

/// A duration in milliseconds as `1h 02m 03s`, `5m 12s` or `42s`.
fn format_duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m {sec:02}s"),
        (h, m, sec) => format!("{h}h {m:02}m {sec:02}s"),
    }
}

/// A raw code: hexadecimal for HRESULT-like values, decimal for small ones (errno,
/// Win32), with its symbolic name.
fn format_code(code: Option<u32>, name: Option<&str>) -> String {
    match (code, name) {
        (Some(c), Some(n)) if c > 0xFFFF => format!("0x{c:08X} {n}"),
        (Some(c), Some(n)) => format!("{c} {n}"),
        (Some(c), None) if c > 0xFFFF => format!("0x{c:08X}"),
        (Some(c), None) => c.to_string(),
        (None, Some(n)) => n.to_string(),
        (None, None) => "-".to_string(),
    }
}

fn write_header(info: &RunInfo, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "run       {}", info.id)?;
    writeln!(out, "state     {}", info.state)?;
    writeln!(out, "started   {}", format_ms(info.started_ms))?;
    match info.finished_ms {
        Some(f) => writeln!(
            out,
            "finished  {} ({})",
            format_ms(f),
            format_duration(f - info.started_ms)
        )?,
        None => writeln!(out, "finished  -")?,
    }
    Ok(())
}

/// Prints a run's summary as text: targets, finished and pending, a table of computers
/// by status (MAP's wording, the identifier, the count) and per-class counts. Used by
/// `status` and at the end of `scan`.
pub fn print_summary(summary: &RunSummary, db: &Path, out: &mut dyn Write) -> std::io::Result<()> {
    let pending = summary.targets.saturating_sub(summary.finished);
    writeln!(
        out,
        "run {} in {}: {} targets, {} finished, {} pending",
        summary.run,
        db.display(),
        summary.targets,
        summary.finished,
        pending
    )?;
    writeln!(out)?;
    let text_w = summary
        .by_status
        .iter()
        .map(|(s, _)| s.display_text().len())
        .chain(["status".len()])
        .max()
        .unwrap_or(6);
    let id_w = summary
        .by_status
        .iter()
        .map(|(s, _)| s.as_str().len())
        .chain(["identifier".len()])
        .max()
        .unwrap_or(10);
    writeln!(
        out,
        "{:<text_w$}  {:<id_w$}  {:>9}",
        "status", "identifier", "computers"
    )?;
    for (status, n) in &summary.by_status {
        writeln!(
            out,
            "{:<text_w$}  {:<id_w$}  {:>9}",
            status.display_text(),
            status.as_str(),
            n
        )?;
    }
    if summary.by_status.is_empty() {
        writeln!(out, "(no computer finished yet)")?;
    }
    if !summary.classes.is_empty() {
        writeln!(out)?;
        let class_w = summary
            .classes
            .iter()
            .map(|c| c.class.len())
            .chain(["class".len()])
            .max()
            .unwrap_or(5);
        writeln!(
            out,
            "{:<class_w$}  {:>9}  {:>6}  {:>9}",
            "class", "collected", "failed", "timed out"
        )?;
        for c in &summary.classes {
            writeln!(
                out,
                "{:<class_w$}  {:>9}  {:>6}  {:>9}",
                c.class, c.collected, c.failed, c.timed_out
            )?;
        }
    }
    Ok(())
}

fn write_failed(rows: &[ComputerRow], out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out)?;
    if rows.is_empty() {
        writeln!(out, "no failed computers")?;
        return Ok(());
    }
    writeln!(out, "failed computers ({}):", rows.len())?;
    for r in rows {
        let mut line = String::new();
        let _ = write!(
            line,
            "{}  {}  stage {}  code {}",
            r.target,
            r.status.as_str(),
            r.stage.as_deref().unwrap_or("-"),
            format_code(r.code, r.code_name.as_deref())
        );
        if let Some(m) = r.message.as_deref().filter(|m| !m.is_empty()) {
            let _ = write!(line, "  {m}");
        }
        writeln!(out, "  {line}")?;
        if let Some(fix) = first_remediation(r) {
            writeln!(out, "      fix: {fix}")?;
        }
    }
    Ok(())
}

/// The first remediation step for a failed computer: the same explanation as `scan
/// --json` and `diagnose` (`winv_engine::classify::explanation`).
fn first_remediation(r: &ComputerRow) -> Option<String> {
    let entry = winv_engine::classify::explanation(
        r.status,
        r.code_name.as_deref(),
        r.denied_by,
        r.message.as_deref().unwrap_or(""),
    )?;
    winv_engine::classify::remediation_for(entry, r.status)
        .into_iter()
        .next()
}

fn computer_json(r: &ComputerRow) -> Value {
    json!({
        "target": r.target,
        "address": r.address.map(|a| a.to_string()),
        "status": r.status.as_str(),
        "status_text": r.status.display_text(),
        "stage": r.stage,
        "phase": r.phase,
        "category": r.category,
        "code": r.code,
        "code_hex": r.code.map(|c| format!("0x{c:08X}")),
        "code_name": r.code_name,
        "denied_by": r.denied_by,
        "message": r.message,
        "attempts": r.attempts,
        "credential": r.credential,
        "finished_ms": r.finished_ms,
        "remediation": first_remediation(r),
    })
}

fn to_json(
    db: &Path,
    info: &RunInfo,
    summary: &RunSummary,
    failed: Option<&[ComputerRow]>,
) -> Value {
    let mut v = json!({
        "database": db.display().to_string(),
        "run": {
            "id": info.id,
            "state": info.state.as_str(),
            "started_ms": info.started_ms,
            "finished_ms": info.finished_ms,
            "started": format_ms(info.started_ms),
            "finished": info.finished_ms.map(format_ms),
            "options": info.options,
        },
        "targets": summary.targets,
        "finished": summary.finished,
        "pending": summary.targets.saturating_sub(summary.finished),
        "by_status": summary.by_status.iter().map(|(s, n)| json!({
            "status": s.as_str(),
            "text": s.display_text(),
            "count": n,
        })).collect::<Vec<_>>(),
        "classes": summary.classes,
    });
    if let (Some(rows), Some(obj)) = (failed, v.as_object_mut()) {
        obj.insert(
            "failed_computers".into(),
            Value::Array(rows.iter().map(computer_json).collect()),
        );
    }
    v
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use winv_engine::{ComputerResult, Failure, Inventory, Status};
    use winv_store::RunState;

    #[test]
    fn times_are_printed_in_utc() {
        assert_eq!(format_ms(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_ms(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_ms(1_709_288_100_999), "2024-03-01 10:15:00 UTC");
        assert_eq!(format_ms(-1000), "1969-12-31 23:59:59 UTC");
        assert_eq!(format_ms(4_102_444_800_000), "2100-01-01 00:00:00 UTC");
        assert_eq!(format_duration(42_000), "42s");
        assert_eq!(format_duration(312_000), "5m 12s");
        assert_eq!(format_duration(3_723_000), "1h 02m 03s");
        assert_eq!(
            format_code(Some(0x800706BA), Some("RPC_S_SERVER_UNAVAILABLE")),
            "0x800706BA RPC_S_SERVER_UNAVAILABLE"
        );
        assert_eq!(
            format_code(Some(10060), Some("WSAETIMEDOUT")),
            "10060 WSAETIMEDOUT"
        );
        assert_eq!(format_code(None, None), "-");
    }

    fn result(target: &str, status: Status) -> ComputerResult {
        ComputerResult {
            target: target.into(),
            address: None,
            status,
            failure: (!status.is_success()).then(|| Failure {
                status,
                stage: winv_engine::FailureStage::Client(winv_client::Stage::Activation),
                phase: winv_kb::Phase::Connecting,
                category: winv_kb::Category::Connectivity,
                code: Some(0x800706BA),
                code_name: Some("RPC_S_SERVER_UNAVAILABLE".into()),
                retry: false,
                denied_by: None,
                message: "the rpc server is unavailable".into(),
            }),
            attempts: Vec::new(),
            credential: None,
            mechanism: None,
            classes: Vec::new(),
            inventory: Inventory::default(),
            finished_ms: 1_709_288_160_000,
        }
    }

    fn temp_db(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "winventory-status-{name}-{}-{:?}.db",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ))
    }

    fn remove_db(p: &Path) {
        for suffix in ["", "-wal", "-shm"] {
            let mut s = p.as_os_str().to_owned();
            s.push(suffix);
            let _ = std::fs::remove_file(s);
        }
    }

    fn args(db: &Path, json: bool, computers: bool, run: Option<i64>) -> StatusArgs {
        StatusArgs {
            db: db.to_path_buf(),
            db_password_file: None,
            run,
            json,
            computers,
        }
    }

    #[tokio::test]
    async fn a_run_is_shown_as_text_and_json() {
        let db = temp_db("show");
        let store = Store::open(&db).await.unwrap();
        let targets: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let run = store
            .create_run(&targets, &json!({"profile": "default"}), 1_709_288_100_000)
            .await
            .unwrap();
        store
            .save_computer(run, &result("a", Status::Inventoried))
            .await
            .unwrap();
        store
            .save_computer(run, &result("b", Status::RpcServerUnavailable))
            .await
            .unwrap();
        store
            .set_run_state(run, RunState::Stopped, Some(1_709_288_412_000))
            .await
            .unwrap();
        store.close().await;

        let text = report(&args(&db, false, true, None)).await.unwrap();
        assert!(text.contains("state     stopped"), "{text}");
        assert!(text.contains("started   2024-03-01 10:15:00 UTC"), "{text}");
        assert!(text.contains("(5m 12s)"), "{text}");
        assert!(text.contains("3 targets, 2 finished, 1 pending"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("Failed - RPC Server Unavailable")
                    && l.contains("rpc-server-unavailable")
                    && l.trim_end().ends_with(" 1")),
            "{text}"
        );
        assert!(
            text.contains("b  rpc-server-unavailable  stage activation  code 0x800706BA RPC_S_SERVER_UNAVAILABLE  the rpc server is unavailable"),
            "{text}"
        );
        assert!(
            !text.contains("\n  a  "),
            "an inventoried computer is not listed: {text}"
        );

        let j: Value =
            serde_json::from_str(&report(&args(&db, true, true, Some(run))).await.unwrap())
                .unwrap();
        assert_eq!(j["run"]["id"], run);
        assert_eq!(j["run"]["state"], "stopped");
        assert_eq!(j["pending"], 1);
        assert_eq!(j["by_status"][0]["status"], "inventoried");
        assert_eq!(j["by_status"][1]["text"], "Failed - RPC Server Unavailable");
        assert_eq!(j["failed_computers"].as_array().unwrap().len(), 1);
        assert_eq!(j["failed_computers"][0]["code_hex"], "0x800706BA");
        let fix = j["failed_computers"][0]["remediation"].as_str().unwrap();
        let kb = winv_kb::by_name("RPC_S_SERVER_UNAVAILABLE").unwrap();
        assert_eq!(fix, kb.remediation[0]);
        // Without --computers there is no list.
        let j: Value =
            serde_json::from_str(&report(&args(&db, true, false, None)).await.unwrap()).unwrap();
        assert!(j.get("failed_computers").is_none());

        let e = report(&args(&db, false, false, Some(run + 5)))
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("no run {} in {}", run + 5, db.display())
        );
        remove_db(&db);
    }

    /// A run shared by scanners on PostgreSQL: `status --db postgres://...` shows each
    /// scanner, the queue and the expired leases; names are escaped.
    #[tokio::test]
    async fn a_shared_run_on_postgres_shows_its_scanners_and_expired_leases() {
        let Some(server) = winv_testsuite::pg::PgServer::start().unwrap() else {
            return;
        };
        let url = PathBuf::from(server.url("postgres"));
        let auth = DbAuth {
            password_file: Some(server.password_file().to_path_buf()),
        };
        let store = Store::open_with(&url, &auth, true).await.unwrap();
        let targets: Vec<String> = (0..4).map(|i| format!("pc{i}")).collect();
        let run = store.create_run(&targets, &json!({}), 1).await.unwrap();
        let now = now_ms();
        let alive = store
            .register_scanner(run, "scan-a:101", None, now)
            .await
            .unwrap();
        let dead = store
            .register_scanner(run, "scan-b\x1b[31m:102", None, now - 600_000)
            .await
            .unwrap();
        let mine = store.claim(alive, 1, now, 60_000).await.unwrap();
        assert_eq!(mine.claims[0].lease.target, "pc0");
        // The dead one claimed two ten minutes ago with a one-minute lease.
        let held = store.claim(dead, 2, now - 600_000, 60_000).await.unwrap();
        assert_eq!(held.claims.len(), 2);
        store
            .finish(&mine.claims[0].lease, &result("pc0", Status::Inventoried))
            .await
            .unwrap();
        store.close().await;

        let mut a = args(&url, false, false, None);
        a.db_password_file = auth.password_file.clone();
        let text = report(&a).await.unwrap();
        assert!(
            text.contains(
                "queue: 1 ready, 0 waiting for a retry, 0 claimed, 2 expired leases, 1 done"
            ),
            "{text}"
        );
        let line_a = text.lines().find(|l| l.contains("scan-a:101")).unwrap();
        assert!(line_a.contains("active"), "{line_a}");
        let line_b = text.lines().find(|l| l.contains("scan-b")).unwrap();
        assert!(
            // Ten minutes and however long the test took so far.
            line_b.contains("silent") && line_b.contains(" 10m "),
            "{line_b}"
        );
        assert!(!text.contains('\x1b'), "escaped: {text}");
        assert!(text.contains("scan-b\\u{1b}[31m:102"), "{text}");
        assert!(text.contains("expired leases (2):"), "{text}");
        assert!(text.contains("  pc1  held by scan-b"), "{text}");

        a.json = true;
        let j: Value = serde_json::from_str(&report(&a).await.unwrap()).unwrap();
        assert_eq!(j["scanners"].as_array().unwrap().len(), 2);
        assert_eq!(j["scanners"][0]["finished"], 1);
        assert_eq!(j["scanners"][1]["claimed"], 2);
        assert_eq!(j["scanners"][1]["state"], "silent");
        assert_eq!(j["queue"]["expired"], 2);
        assert_eq!(j["expired_leases"][1]["target"], "pc2");
        assert_eq!(j["database"], server.url("postgres"));
        // Without the password the server refuses, and says so.
        let mut no_pw = args(&url, false, false, None);
        no_pw.db_password_file = None;
        if std::env::var_os("PGPASSWORD").is_none() {
            let e = report(&no_pw).await.unwrap_err();
            assert!(
                format!("{e:#}").contains("cannot read the database"),
                "{e:#}"
            );
        }
    }

    #[tokio::test]
    async fn a_missing_database_is_an_error_and_is_not_created() {
        let db = temp_db("missing");
        let e = report(&args(&db, false, false, None)).await.unwrap_err();
        assert_eq!(format!("{e:#}"), format!("no database at {}", db.display()));
        assert!(!db.exists());
    }
}
