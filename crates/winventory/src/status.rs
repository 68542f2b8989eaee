//! `winventory status`: a run read back from the database: its state, the computers by
//! status (MAP's wording and the identifier), per-class counts, and the failed
//! computers.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};
use winv_store::{ComputerRow, RunInfo, RunSummary, Store, StoreError};

/// Arguments of `winventory status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The database file written by `winventory scan`.
    #[arg(long, value_name = "PATH", default_value = "winventory.db")]
    pub db: PathBuf,

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
    let store = match Store::open_existing(&args.db).await {
        Ok(s) => s,
        // Already says "no database at PATH".
        Err(e @ StoreError::NoDatabase { .. }) => return Err(e.into()),
        Err(e) => return Err(anyhow::Error::new(e).context("cannot read the database")),
    };
    let result = read_run(&store, args).await;
    store.close().await;
    let (info, summary, failed) = result?;
    if args.json {
        let mut s =
            serde_json::to_string_pretty(&to_json(&args.db, &info, &summary, failed.as_deref()))?;
        s.push('\n');
        Ok(s)
    } else {
        let mut out = Vec::new();
        write_header(&info, &mut out)?;
        print_summary(&summary, &args.db, &mut out)?;
        if let Some(rows) = &failed {
            write_failed(rows, &mut out)?;
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

type RunData = (RunInfo, RunSummary, Option<Vec<ComputerRow>>);

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
    Ok((info, summary, failed))
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
fn first_remediation(r: &ComputerRow) -> Option<&'static str> {
    winv_engine::classify::explanation(
        r.status,
        r.code_name.as_deref(),
        r.denied_by,
        r.message.as_deref().unwrap_or(""),
    )?
    .remediation
    .first()
    .map(String::as_str)
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

    #[tokio::test]
    async fn a_missing_database_is_an_error_and_is_not_created() {
        let db = temp_db("missing");
        let e = report(&args(&db, false, false, None)).await.unwrap_err();
        assert_eq!(format!("{e:#}"), format!("no database at {}", db.display()));
        assert!(!db.exists());
    }
}
