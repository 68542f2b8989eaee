//! The dashboard behind `winventory serve`: read-only pages over the store (axum),
//! usable while a scan writes the same database (SQLite WAL readers).
//!
//! Pages: `/` (overview: status and OS charts, end of support, live progress through
//! server-sent events on `/events`), `/computers` (search, filters, sort and paging, all
//! in the URL; `/computers.csv` and `/computers.xlsx` download the filtered list),
//! `/computer?target=` (OS, hardware, software, hotfixes, services, attempts, and for a
//! failure the knowledge base's explanation, remediation and the `diagnose` command),
//! `/software` (install counts and versions, drill-down to the machines), `/failures`
//! (failed computers grouped by reason), `/compare?a=RUN&b=RUN` (two runs compared:
//! machines new and gone, status, software and OS changes; linked from the overview
//! when the database holds more than one run).
//!
//! Security: only `GET`; every host string HTML-escaped; one script of our own
//! (`/app.js`, the live counter, which writes `textContent` only) and no external
//! resource; a Content-Security-Policy that allows nothing else; a token checked on
//! every request when one is configured ([`crate::policy`]); a `Host` check against DNS
//! rebinding.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{self, Stream};
use winv_store::{ComputerFilter, ComputerSort, DbValue, RowSet, RunId, RunInfo, Store};

use crate::cell::{csv_quote, html_escape as esc, Cell, Date, DateTime};
use crate::csv::field as csv_field;
use crate::html::{bar_chart, reason_key, summary_html, TableSink, STYLE};
use crate::model::{self, code_hex, diagnose_command, explain, status_text, SheetDef, Sink};
use crate::policy::{self, Presented};
use crate::scenarios;

/// The dashboard's Content-Security-Policy: our own script and style only.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                       img-src 'self' data:; connect-src 'self'; form-action 'self'; \
                       frame-ancestors 'none'; base-uri 'none'";

/// Rows per page of the computer list.
pub const PAGE: u64 = 100;
/// Rows at most in a download.
pub const MAX_DOWNLOAD: u64 = 200_000;
/// Rows at most per table of the computer page.
const DETAIL_ROWS: u64 = 5_000;
/// How often the live counter is refreshed.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    store: Store,
    token: Option<Arc<str>>,
    run: Option<RunId>,
    allowed_hosts: Arc<Vec<String>>,
}

impl AppState {
    /// The state of a dashboard over `store`; `run` pins a run (else the newest, or the
    /// one a page asks for); `token` is required on every request when set;
    /// `allowed_hosts` are the `Host` values accepted (empty: any).
    pub fn new(
        store: Store,
        run: Option<RunId>,
        token: Option<String>,
        allowed_hosts: Vec<String>,
    ) -> AppState {
        AppState {
            store,
            token: token.map(Arc::from),
            run,
            allowed_hosts: Arc::new(allowed_hosts),
        }
    }
}

/// The dashboard's router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(overview))
        .route("/events", get(events))
        .route("/computers", get(computers))
        .route("/computers.csv", get(computers_csv))
        .route("/computers.xlsx", get(computers_xlsx))
        .route("/computer", get(computer))
        .route("/software", get(software))
        .route("/failures", get(failures))
        .route("/compare", get(compare_page))
        .route("/sql", get(sql_page))
        .route("/roles", get(roles_page))
        .route("/virtualization", get(virtualization_page))
        .route("/licensing", get(licensing_page))
        .route("/performance", get(performance_page))
        .route("/app.js", get(app_js))
        .route("/style.css", get(style_css))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// The `Host` values a listener on `addr` accepts: on loopback its own address and
/// port and `localhost` (anything else is a rebinding DNS name: refused); elsewhere any
/// (empty list: the listener has other names, and the token guards it).
pub fn hosts_for(addr: std::net::SocketAddr) -> Vec<String> {
    if !addr.ip().is_loopback() {
        return Vec::new();
    }
    let port = addr.port();
    let ip = match addr.ip() {
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    };
    let mut v = vec![format!("{ip}:{port}")];
    if addr.ip().is_loopback() {
        v.push(format!("localhost:{port}"));
    }
    if port == 80 {
        v.push(ip);
    }
    v
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then_some(v)
    })
}

async fn guard(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    if !st.allowed_hosts.is_empty() {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        if !host.is_some_and(|h| st.allowed_hosts.iter().any(|a| a.eq_ignore_ascii_case(h))) {
            return secure(
                (StatusCode::MISDIRECTED_REQUEST, "unexpected host header").into_response(),
            );
        }
    }
    let query = req.uri().query().unwrap_or("");
    let q_token = query_param(query, "token");
    let presented = Presented {
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok()),
        cookie: headers.get(header::COOKIE).and_then(|h| h.to_str().ok()),
        query: q_token,
    };
    let expected = st.token.as_deref();
    if !policy::allowed(expected, &presented) {
        let mut r = (
            StatusCode::UNAUTHORIZED,
            "a token is required: open the address printed by winventory serve",
        )
            .into_response();
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return secure(r);
    }
    let set_cookie = match (expected, q_token) {
        (Some(t), Some(_)) => Some(format!(
            "{}={t}; HttpOnly; SameSite=Strict; Path=/",
            policy::COOKIE
        )),
        _ => None,
    };
    let mut resp = next.run(req).await;
    if let Some(c) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    secure(resp)
}

fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    r
}

/// A page's error: a short message, never a panic.
struct WebError(StatusCode, String);

impl From<crate::ReportError> for WebError {
    fn from(e: crate::ReportError) -> WebError {
        tracing::warn!(error = %e, "dashboard query failed");
        WebError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl From<winv_store::StoreError> for WebError {
    fn from(e: winv_store::StoreError) -> WebError {
        crate::ReportError::from(e).into()
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        (
            self.0,
            Html(page("Error", &format!("<p>{}</p>", esc(&self.1)))),
        )
            .into_response()
    }
}

type Page = Result<Response, WebError>;

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{} - winventory</title><link rel=\"stylesheet\" href=\"/style.css\">\
         <script src=\"/app.js\" defer></script></head><body>\
         <nav><a href=\"/\">Overview</a><a href=\"/computers\">Computers</a>\
         <a href=\"/software\">Software</a><a href=\"/failures\">Failures</a>\
         <a href=\"/compare\">Compare runs</a><a href=\"/sql\">SQL Server</a>\
         <a href=\"/roles\">Roles</a><a href=\"/virtualization\">Virtualization</a>\
         <a href=\"/licensing\">Licensing</a><a href=\"/performance\">Performance</a></nav>\
         <h1>{}</h1>{body}</body></html>",
        esc(title),
        esc(title)
    )
}

/// Percent-encodes a query value.
pub fn url_enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

async fn run_of(st: &AppState, asked: Option<&str>) -> Result<RunInfo, WebError> {
    let asked = match asked.filter(|s| !s.is_empty()) {
        Some(s) => Some(
            s.parse::<RunId>()
                .map_err(|_| WebError(StatusCode::BAD_REQUEST, "run must be a number".into()))?,
        ),
        None => st.run,
    };
    model::pick_run(&st.store, asked)
        .await
        .map_err(|e| match e {
            crate::ReportError::NoSuchRun(_) | crate::ReportError::NoRuns => {
                WebError(StatusCode::NOT_FOUND, e.to_string())
            }
            e => e.into(),
        })
}

type Params = Query<HashMap<String, String>>;

fn param<'a>(p: &'a HashMap<String, String>, k: &str) -> Option<&'a str> {
    p.get(k).map(String::as_str).filter(|v| !v.is_empty())
}

async fn overview(State(st): State<AppState>, Query(p): Params) -> Page {
    let info = run_of(&st, param(&p, "run")).await?;
    let s = model::summary(&st.store, &info, Date::today()).await?;
    let run = info.id;
    let link = move |kind: &str, v: &str| -> Option<String> {
        Some(match kind {
            "status" => format!("/computers?run={run}&amp;status={}", url_enc(v)),
            "os" => format!("/computers?run={run}&amp;os={}", url_enc(v)),
            "reason" => {
                let mut it = v.splitn(3, '|');
                let (status, stage, code) = (
                    it.next().unwrap_or(""),
                    it.next().unwrap_or(""),
                    it.next().unwrap_or(""),
                );
                format!(
                    "/computers?run={run}&amp;status={}&amp;stage={}&amp;code_name={}",
                    url_enc(status),
                    url_enc(stage),
                    url_enc(code)
                )
            }
            _ => return None,
        })
    };
    let (results, done) = st.store.progress(run).await?;
    let mut body = format!(
        "<p>Progress: <b id=\"progress\" data-run=\"{run}\" data-state=\"{}\">{done}</b> of \
         <span id=\"targets\">{}</span> computers finished \
         (<span id=\"results\">{results}</span> with a result), run state \
         <span id=\"state\">{}</span>.</p>",
        esc(&info.state.to_string()),
        info.targets,
        esc(&info.state.to_string()),
    );
    body.push_str(&summary_html(&s, &link));
    let runs = st.store.runs().await?;
    if runs.len() > 1 {
        // Compare this run with the one before it (or, for the oldest, the next).
        let pos = runs.iter().position(|r| r.0 == run);
        let other = pos
            .and_then(|i| {
                runs.get(i + 1)
                    .or_else(|| i.checked_sub(1).and_then(|j| runs.get(j)))
            })
            .map(|r| r.0);
        if let Some(o) = other {
            let (a, b) = if o < run { (o, run) } else { (run, o) };
            let _ = write!(
                body,
                "<p><a id=\"compare\" href=\"/compare?a={a}&amp;b={b}\">Compare run {a} with run {b}</a>: \
                 machines new and gone, status, software and OS changes.</p>"
            );
        }
        body.push_str("<h2>Runs</h2><ul>");
        for (id, started, state, targets) in runs.iter().take(50) {
            let _ = write!(
                body,
                "<li><a href=\"/?run={id}\">Run {id}</a>: {} UTC, {}, {targets} targets</li>",
                DateTime::from_unix_ms(*started),
                esc(state)
            );
        }
        body.push_str("</ul>");
    }
    Ok(Html(page(&format!("winventory: run {run}"), &body)).into_response())
}

/// The progress event's payload.
#[derive(serde::Serialize)]
struct Progress {
    run: RunId,
    done: u64,
    results: u64,
    targets: usize,
    state: String,
}

async fn events(
    State(st): State<AppState>,
    Query(p): Params,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, WebError> {
    let info = run_of(&st, param(&p, "run")).await?;
    let run = info.id;
    let store = st.store.clone();
    // One event per second while the run is running, then a last one; the stream
    // ends when the run does (or the client goes).
    let s = stream::unfold(
        (store, false, true),
        move |(store, finished, first)| async move {
            if finished {
                return None;
            }
            if !first {
                tokio::time::sleep(PROGRESS_EVERY).await;
            }
            let info = store.run(run).await.ok().flatten();
            let (results, done) = store.progress(run).await.unwrap_or((0, 0));
            let state = info
                .as_ref()
                .map_or_else(|| "unknown".to_string(), |i| i.state.to_string());
            let targets = info.as_ref().map_or(0, |i| i.targets);
            let ev = Event::default()
                .event("progress")
                .json_data(Progress {
                    run,
                    done,
                    results,
                    targets,
                    state: state.clone(),
                })
                .unwrap_or_else(|_| Event::default().data("{}"));
            Some((Ok(ev), (store, state != "running", false)))
        },
    );
    Ok(Sse::new(s).keep_alive(KeepAlive::default()))
}

fn filter_of(p: &HashMap<String, String>) -> ComputerFilter {
    let sort = param(p, "sort")
        .and_then(|s| ComputerSort::ALL.iter().find(|(_, n)| *n == s))
        .map_or(ComputerSort::Target, |(k, _)| *k);
    let page: u64 = param(p, "page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    ComputerFilter {
        search: param(p, "search").map(str::to_string),
        status: param(p, "status").map(str::to_string),
        os: param(p, "os").map(str::to_string),
        stage: param(p, "stage").map(str::to_string),
        code_name: param(p, "code_name").map(str::to_string),
        software: param(p, "software").map(str::to_string),
        failed_only: param(p, "failed") == Some("1"),
        sort,
        desc: param(p, "desc") == Some("1"),
        offset: (page - 1).saturating_mul(PAGE),
        limit: PAGE,
    }
}

const FILTER_KEYS: [&str; 10] = [
    "run",
    "search",
    "status",
    "os",
    "stage",
    "code_name",
    "software",
    "failed",
    "sort",
    "desc",
];

/// The query string of the current filter (escaped for an attribute), with `extra`
/// pairs replacing those of the same name.
fn query_of(p: &HashMap<String, String>, extra: &[(&str, String)]) -> String {
    let mut parts = Vec::new();
    for k in FILTER_KEYS {
        if extra.iter().any(|(e, _)| *e == k) {
            continue;
        }
        if let Some(v) = param(p, k) {
            parts.push(format!("{k}={}", url_enc(v)));
        }
    }
    for (k, v) in extra {
        if !v.is_empty() {
            parts.push(format!("{k}={}", url_enc(v)));
        }
    }
    parts.join("&amp;")
}

async fn computers(State(st): State<AppState>, Query(p): Params) -> Page {
    let info = run_of(&st, param(&p, "run")).await?;
    let f = filter_of(&p);
    let (rows, total) = st.store.computer_list(info.id, &f).await?;
    let page_no = f.offset / PAGE + 1;
    let pages = total.div_ceil(PAGE).max(1);
    let mut b = String::new();
    let v = |k: &str| esc(param(&p, k).unwrap_or(""));
    let statuses: String = winv_engine::Status::ALL
        .iter()
        .map(|s| {
            format!(
                "<option value=\"{}\"{}>{}</option>",
                s.as_str(),
                if param(&p, "status") == Some(s.as_str()) {
                    " selected"
                } else {
                    ""
                },
                esc(s.display_text())
            )
        })
        .collect();
    let sorts: String = ComputerSort::ALL
        .iter()
        .map(|(k, n)| {
            format!(
                "<option value=\"{n}\"{}>{n}</option>",
                if *k == f.sort { " selected" } else { "" }
            )
        })
        .collect();
    let _ = write!(
        b,
        "<form method=\"get\" action=\"/computers\" id=\"filter\">\
         <input type=\"hidden\" name=\"run\" value=\"{}\">\
         <label>Search <input name=\"search\" value=\"{}\"></label> \
         <label>Status <select name=\"status\"><option value=\"\">any</option>{statuses}</select></label> \
         <label>OS <input name=\"os\" value=\"{}\"></label> \
         <label>Stage <input name=\"stage\" value=\"{}\" size=\"10\"></label> \
         <label>Code <input name=\"code_name\" value=\"{}\" size=\"14\"></label> \
         <label>Software <input name=\"software\" value=\"{}\"></label> \
         <label><input type=\"checkbox\" name=\"failed\" value=\"1\"{}> failed only</label> \
         <label>Sort <select name=\"sort\">{sorts}</select></label> \
         <label><input type=\"checkbox\" name=\"desc\" value=\"1\"{}> descending</label> \
         <button type=\"submit\" id=\"apply\">Apply</button></form>",
        info.id,
        v("search"),
        v("os"),
        v("stage"),
        v("code_name"),
        v("software"),
        if f.failed_only { " checked" } else { "" },
        if f.desc { " checked" } else { "" },
    );
    let q = query_of(&p, &[("run", info.id.to_string())]);
    let _ = write!(
        b,
        "<p><span id=\"total\">{total}</span> computers match; page {page_no} of {pages}. \
         Download: <a href=\"/computers.csv?{q}\">CSV</a> <a href=\"/computers.xlsx?{q}\">xlsx</a></p>"
    );
    b.push_str("<table id=\"computers\"><thead><tr><th>Target</th><th>Name</th><th>Address</th><th>Status</th><th>Stage</th><th>Code</th><th>OS</th></tr></thead><tbody>");
    for r in &rows {
        let _ = write!(
            b,
            "<tr><td><a href=\"/computer?run={}&amp;target={}\">{}</a></td><td>{}</td><td>{}</td>\
             <td title=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            info.id,
            url_enc(&r.target),
            esc(&r.target),
            esc(r.name.as_deref().unwrap_or("")),
            esc(r.address.as_deref().unwrap_or("")),
            esc(&r.status),
            esc(&status_text(&r.status)),
            esc(r.stage.as_deref().unwrap_or("")),
            esc(r.code_name.as_deref().unwrap_or("")),
            esc(r.os.as_deref().unwrap_or("")),
        );
    }
    b.push_str("</tbody></table><p>");
    if page_no > 1 {
        let _ = write!(
            b,
            "<a rel=\"prev\" href=\"/computers?{}\">previous</a> ",
            query_of(
                &p,
                &[
                    ("run", info.id.to_string()),
                    ("page", (page_no - 1).to_string())
                ]
            )
        );
    }
    if page_no < pages {
        let _ = write!(
            b,
            "<a rel=\"next\" href=\"/computers?{}\">next</a>",
            query_of(
                &p,
                &[
                    ("run", info.id.to_string()),
                    ("page", (page_no + 1).to_string())
                ]
            )
        );
    }
    b.push_str("</p>");
    Ok(Html(page("Computers", &b)).into_response())
}

async fn all_rows(
    st: &AppState,
    p: &HashMap<String, String>,
) -> Result<Vec<winv_store::ComputerListRow>, WebError> {
    let info = run_of(st, param(p, "run")).await?;
    let mut f = filter_of(p);
    f.offset = 0;
    f.limit = winv_store::MAX_PAGE;
    let mut out = Vec::new();
    loop {
        let (rows, _) = st.store.computer_list(info.id, &f).await?;
        let n = rows.len() as u64;
        out.extend(rows);
        if n < f.limit || out.len() as u64 >= MAX_DOWNLOAD {
            break;
        }
        f.offset += n;
    }
    Ok(out)
}

const LIST_COLUMNS: [&str; 8] = [
    "Target",
    "Name",
    "Address",
    "Status",
    "Status (MAP)",
    "Stage",
    "Code name",
    "OS",
];

fn list_cells(r: &winv_store::ComputerListRow) -> [Cell; 8] {
    [
        Cell::Text(r.target.clone()),
        Cell::text(r.name.as_deref()),
        Cell::text(r.address.as_deref()),
        Cell::Text(r.status.clone()),
        Cell::Text(status_text(&r.status)),
        Cell::text(r.stage.as_deref()),
        Cell::text(r.code_name.as_deref()),
        Cell::text(r.os.as_deref()),
    ]
}

async fn computers_csv(State(st): State<AppState>, Query(p): Params) -> Page {
    let rows = all_rows(&st, &p).await?;
    let mut out = String::from("\u{feff}");
    out.push_str(&LIST_COLUMNS.map(csv_quote).join(","));
    out.push_str("\r\n");
    for r in &rows {
        out.push_str(
            &list_cells(r)
                .iter()
                .map(csv_field)
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"computers.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

async fn computers_xlsx(State(st): State<AppState>, Query(p): Params) -> Page {
    let rows = all_rows(&st, &p).await?;
    let bytes = (|| -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
        let mut wb = rust_xlsxwriter::Workbook::new();
        let bold = rust_xlsxwriter::Format::new().set_bold();
        let ws = wb.add_worksheet();
        ws.set_name("Computers")?;
        for (i, t) in LIST_COLUMNS.iter().enumerate() {
            ws.write_string_with_format(0, i as u16, *t, &bold)?;
        }
        for (r, row) in rows.iter().enumerate() {
            for (c, cell) in list_cells(row).iter().enumerate() {
                if let Cell::Text(s) = cell {
                    ws.write_string((r + 1) as u32, c as u16, crate::cell::clean(s))?;
                }
            }
        }
        ws.set_freeze_panes(1, 0)?;
        ws.autofilter(0, 0, rows.len() as u32, (LIST_COLUMNS.len() - 1) as u16)?;
        ws.autofit();
        wb.save_to_buffer()
    })()
    .map_err(|e| WebError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"computers.xlsx\"",
            ),
        ],
        bytes,
    )
        .into_response())
}

fn table(headers: &[&str], rows: &[Vec<Cell>], id: &str) -> String {
    let mut h = format!("<table id=\"{id}\"><thead><tr>");
    for t in headers {
        let _ = write!(h, "<th>{}</th>", esc(t));
    }
    h.push_str("</tr></thead><tbody>");
    for r in rows {
        h.push_str("<tr>");
        for c in r {
            h.push_str(&crate::html::td(c));
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table>");
    h
}

fn t(v: Option<&DbValue>) -> Cell {
    match v {
        Some(DbValue::Text(s)) => Cell::Text(s.clone()),
        Some(DbValue::Int(i)) => Cell::Int(*i),
        Some(DbValue::Bool(b)) => Cell::Bool(*b),
        _ => Cell::Empty,
    }
}

async fn computer(State(st): State<AppState>, Query(p): Params) -> Page {
    let info = run_of(&st, param(&p, "run")).await?;
    let Some(target) = param(&p, "target") else {
        return Err(WebError(StatusCode::BAD_REQUEST, "no target given".into()));
    };
    let Some(c) = st.store.computer(info.id, target).await? else {
        return Err(WebError(
            StatusCode::NOT_FOUND,
            format!("no computer {target} in run {}", info.id),
        ));
    };
    let mut b = String::new();
    let _ = write!(
        b,
        "<p>Run {}: status <b id=\"status\">{}</b> (<code>{}</code>), address {}, {} attempt(s){}.</p>",
        info.id,
        esc(c.status.display_text()),
        c.status.as_str(),
        esc(&c.address.map(|a| a.to_string()).unwrap_or_else(|| "none".into())),
        c.attempts.len(),
        c.credential
            .as_deref()
            .map(|a| format!(", account {}", esc(a)))
            .unwrap_or_default()
    );
    if let Some(f) = &c.failure {
        let _ = write!(
            b,
            "<section id=\"failure\"><h2>Why it failed</h2><table>\
             <tr><th>Stage</th><td id=\"stage\">{}</td></tr>\
             <tr><th>Phase / category</th><td>{} / {}</td></tr>\
             <tr><th>Code</th><td id=\"code\">{} {}</td></tr>\
             <tr><th>Refused by</th><td>{}</td></tr>\
             <tr><th>Message</th><td>{}</td></tr></table>",
            esc(f.stage.as_str()),
            esc(&serde_json::to_string(&f.phase)
                .unwrap_or_default()
                .replace('"', "")),
            esc(&serde_json::to_string(&f.category)
                .unwrap_or_default()
                .replace('"', "")),
            esc(&code_hex(f.code.map(i64::from)).unwrap_or_default()),
            esc(f.code_name.as_deref().unwrap_or("")),
            esc(f.denied_by.map(|d| d.as_str()).unwrap_or("")),
            esc(&f.message),
        );
        if let Some(e) = f.explanation() {
            let _ = write!(
                b,
                "<h3>Explanation</h3><p id=\"explanation\">{}</p>",
                esc(&e.summary)
            );
            if !e.causes.is_empty() {
                b.push_str("<h3>Likely causes</h3><ol>");
                for x in &e.causes {
                    let _ = write!(b, "<li>{}</li>", esc(x));
                }
                b.push_str("</ol>");
            }
            b.push_str("<h3>Remediation</h3><ol id=\"remediation\">");
            for x in &e.remediation {
                let _ = write!(b, "<li>{}</li>", esc(x));
            }
            b.push_str("</ol>");
        }
        let account = c
            .credential
            .as_deref()
            .or_else(|| {
                c.attempts
                    .iter()
                    .rev()
                    .find_map(|a| a.credential.as_deref())
            })
            .or_else(|| {
                info.options
                    .get("accounts")
                    .and_then(|a| a.get(0))
                    .and_then(|a| a.as_str())
            });
        let _ = write!(
            b,
            "<h3>Narrow it down</h3><pre id=\"diagnose\">{}</pre></section>",
            esc(&diagnose_command(target, account))
        );
    }
    let (os, hw) = st.store.computer_report_rows(info.id, target).await?;
    if let Some(os) = os {
        let row = crate::lifecycle::lookup(
            os.get(3).and_then(DbValue::as_str),
            os.get(6).and_then(DbValue::as_str),
            os.get(4).and_then(DbValue::as_str),
        );
        let cols = RowSet::OperatingSystems.columns();
        let mut rows: Vec<Vec<Cell>> = cols
            .iter()
            .zip(os.iter())
            .skip(1)
            .map(|(k, v)| vec![Cell::Text((*k).to_string()), t(Some(v))])
            .collect();
        rows.push(vec![
            Cell::Text("end of support".into()),
            Cell::Text(format!(
                "{} ({})",
                row.map_or("unknown", |r| r.end.as_str()),
                crate::lifecycle::support(row, Date::today()).as_str()
            )),
        ]);
        b.push_str("<h2>Operating system</h2>");
        b.push_str(&table(&["Property", "Value"], &rows, "os"));
    }
    if let Some(hw) = hw {
        let cols = RowSet::Hardware.columns();
        let rows: Vec<Vec<Cell>> = cols
            .iter()
            .zip(hw.iter())
            .skip(1)
            .filter(|(k, _)| **k != "computer_id")
            .map(|(k, v)| vec![Cell::Text((*k).to_string()), t(Some(v))])
            .collect();
        b.push_str("<h2>Hardware</h2>");
        b.push_str(&table(&["Property", "Value"], &rows, "hardware"));
    }
    for (set, title, headers, id) in [
        (
            RowSet::Software,
            "Installed software",
            &["Name", "Version", "Publisher", "Install date", "32-bit"][..],
            "software",
        ),
        (
            RowSet::Hotfixes,
            "Hotfixes",
            &["Hotfix", "Description", "Installed on"][..],
            "hotfixes",
        ),
        (
            RowSet::Services,
            "Services",
            &[
                "Name",
                "Display name",
                "State",
                "Start mode",
                "Start account",
            ][..],
            "services",
        ),
    ] {
        let rows = st
            .store
            .computer_rows(info.id, target, set, DETAIL_ROWS)
            .await?;
        if rows.is_empty() {
            continue;
        }
        let cells: Vec<Vec<Cell>> = rows
            .iter()
            .map(|r| r.iter().skip(1).map(|v| t(Some(v))).collect())
            .collect();
        let _ = write!(b, "<h2>{} ({})</h2>", esc(title), rows.len());
        b.push_str(&table(headers, &cells, id));
    }
    let attempts: Vec<Vec<Cell>> = c
        .attempts
        .iter()
        .map(|a| {
            vec![
                Cell::Int(i64::from(a.number)),
                Cell::DateTime(DateTime::from_unix_ms(a.started_ms)),
                Cell::Int(i64::try_from(a.duration_ms).unwrap_or(i64::MAX)),
                Cell::text(a.credential.as_deref()),
                Cell::Text(a.outcome.as_str().to_string()),
                Cell::text(a.failing_class.as_deref()),
                Cell::text(a.failure.as_ref().map(|f| f.stage.as_str())),
                Cell::text(a.failure.as_ref().and_then(|f| f.code_name.as_deref())),
                Cell::text(a.failure.as_ref().map(|f| f.message.as_str())),
            ]
        })
        .collect();
    b.push_str("<h2>Attempts</h2>");
    b.push_str(&table(
        &[
            "#",
            "Started (UTC)",
            "ms",
            "Account",
            "Outcome",
            "Failing class",
            "Stage",
            "Code",
            "Message",
        ],
        &attempts,
        "attempts",
    ));
    Ok(Html(page(target, &b)).into_response())
}

async fn software(State(st): State<AppState>, Query(p): Params) -> Page {
    let info = run_of(&st, param(&p, "run")).await?;
    let search = param(&p, "search").map(str::to_lowercase);
    type Title = (String, Option<String>);
    let mut versions: HashMap<Title, Vec<(String, i64)>> = HashMap::new();
    for r in st.store.rows(info.id, RowSet::SoftwareVersions).await? {
        let key = (
            r.first()
                .and_then(DbValue::as_str)
                .unwrap_or("")
                .to_string(),
            r.get(1).and_then(DbValue::as_str).map(str::to_string),
        );
        versions.entry(key).or_default().push((
            r.get(2)
                .and_then(DbValue::as_str)
                .unwrap_or("(none)")
                .to_string(),
            r.get(3).and_then(DbValue::as_i64).unwrap_or(0),
        ));
    }
    let mut totals = st.store.rows(info.id, RowSet::SoftwareTotals).await?;
    totals.sort_by_key(|r| std::cmp::Reverse(r.get(2).and_then(DbValue::as_i64).unwrap_or(0)));
    let mut b = format!(
        "<form method=\"get\" action=\"/software\"><input type=\"hidden\" name=\"run\" value=\"{}\">\
         <label>Search <input name=\"search\" value=\"{}\"></label> <button type=\"submit\">Apply</button></form>",
        info.id,
        esc(param(&p, "search").unwrap_or(""))
    );
    b.push_str("<table id=\"software\"><thead><tr><th>Name</th><th>Publisher</th><th>Installs</th><th>Versions (installs)</th></tr></thead><tbody>");
    for r in &totals {
        let name = r.first().and_then(DbValue::as_str).unwrap_or("");
        let publisher = r.get(1).and_then(DbValue::as_str);
        if let Some(s) = &search {
            if !name.to_lowercase().contains(s.as_str())
                && !publisher.is_some_and(|p| p.to_lowercase().contains(s.as_str()))
            {
                continue;
            }
        }
        let n = r.get(2).and_then(DbValue::as_i64).unwrap_or(0);
        let vs = versions
            .get(&(name.to_string(), publisher.map(str::to_string)))
            .map(|v| {
                v.iter()
                    .take(20)
                    .map(|(ver, k)| format!("{} ({k})", esc(ver)))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td class=\"n\"><a href=\"/computers?run={}&amp;software={}\">{n}</a></td><td>{vs}</td></tr>",
            esc(name),
            esc(publisher.unwrap_or("")),
            info.id,
            url_enc(name),
        );
    }
    b.push_str("</tbody></table>");
    Ok(Html(page("Software", &b)).into_response())
}

async fn failures(State(st): State<AppState>, Query(p): Params) -> Page {
    let info = run_of(&st, param(&p, "run")).await?;
    let s = model::summary(&st.store, &info, Date::today()).await?;
    let mut b = String::new();
    let chart: Vec<(String, u64, Option<String>)> = s
        .failure_reasons
        .iter()
        .take(15)
        .map(|r| {
            (
                format!("{} at {}", r.status_text, r.stage.as_deref().unwrap_or("?")),
                r.computers,
                None,
            )
        })
        .collect();
    b.push_str(&bar_chart("Failures by reason", &chart));
    b.push_str("<table id=\"reasons\"><thead><tr><th>Status</th><th>Stage</th><th>Code</th><th>Refused by</th><th>Computers</th><th>Explanation</th><th>Remediation</th></tr></thead><tbody>");
    for r in &s.failure_reasons {
        let key = reason_key(r);
        let mut it = key.splitn(3, '|');
        let (status, stage, code) = (
            it.next().unwrap_or(""),
            it.next().unwrap_or(""),
            it.next().unwrap_or(""),
        );
        let (_, fix) = explain(
            &r.status,
            r.code_name.as_deref(),
            r.denied_by.as_deref(),
            None,
        );
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"n\"><a class=\"reason\" href=\"/computers?run={}&amp;status={}&amp;stage={}&amp;code_name={}\">{}</a></td>\
             <td>{}</td><td><ol>{}</ol></td></tr>",
            esc(&r.status_text),
            esc(stage),
            esc(&[r.code.as_deref(), r.code_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ")),
            esc(r.denied_by.as_deref().unwrap_or("")),
            info.id,
            url_enc(status),
            url_enc(stage),
            url_enc(code),
            r.computers,
            esc(r.explanation.as_deref().unwrap_or("")),
            r.remediation
                .iter()
                .chain(if r.remediation.is_empty() { fix.iter() } else { [].iter() })
                .map(|x| format!("<li>{}</li>", esc(x)))
                .collect::<String>(),
        );
    }
    b.push_str("</tbody></table>");
    Ok(Html(page("Failures by reason", &b)).into_response())
}

/// Rows a scenario page shows per table (the report has them all).
const PAGE_ROWS: u64 = 1000;

/// A scenario's page: the assessment cards and charts of the run, then its sheets (each
/// cut at [`PAGE_ROWS`]); a run that did not collect the scenario says so and how.
async fn scenario_page(
    st: &AppState,
    p: &HashMap<String, String>,
    which: scenarios::Scenario,
    title: &str,
) -> Page {
    let info = run_of(st, param(p, "run")).await?;
    let sc = scenarios::summary(&st.store, info.id).await?;
    let mut b = format!("<p>Run {}.</p>", info.id);
    let virtualization = which == scenarios::Scenario::Virtualization;
    if !sc.scenarios.contains(&which) && !virtualization {
        let _ = write!(
            b,
            "<p id=\"absent\">Run {} did not collect this scenario: scan with \
             <code>--profile standard,{}</code>.</p>",
            info.id,
            which.profile()
        );
        return Ok(Html(page(title, &b)).into_response());
    }
    // The assessment cards and charts, of this scenario only.
    let only = scenarios::ScenarioSummary {
        scenarios: sc
            .scenarios
            .iter()
            .copied()
            .filter(|s| *s == which)
            .collect(),
        ..sc.clone()
    };
    b.push_str(&crate::html::scenarios_html(Some(&only), None));
    let mut t = TableSink::new(PAGE_ROWS);
    let sheets: &[SheetDef] = if virtualization && !sc.scenarios.contains(&which) {
        // The platform comes from the standard classes; guests need the scenario.
        &[scenarios::VIRTUALIZATION]
    } else {
        which.sheets()
    };
    for sheet in sheets {
        scenarios::write_sheet(&st.store, info.id, sheet, &mut t).await?;
    }
    b.push_str(&t.out);
    Ok(Html(page(title, &b)).into_response())
}

async fn sql_page(State(st): State<AppState>, Query(p): Params) -> Page {
    scenario_page(&st, &p, scenarios::Scenario::Sql, "SQL Server").await
}

async fn roles_page(State(st): State<AppState>, Query(p): Params) -> Page {
    scenario_page(&st, &p, scenarios::Scenario::Roles, "Roles and features").await
}

async fn virtualization_page(State(st): State<AppState>, Query(p): Params) -> Page {
    scenario_page(
        &st,
        &p,
        scenarios::Scenario::Virtualization,
        "Virtualization",
    )
    .await
}

async fn licensing_page(State(st): State<AppState>, Query(p): Params) -> Page {
    scenario_page(&st, &p, scenarios::Scenario::Licensing, "Licensing").await
}

/// Charts a performance page draws at most (one per machine).
const PAGE_CHARTS: usize = 200;

/// `/performance?perf=ID`: a perf run (the newest by default): per machine average and
/// p95, and a chart of CPU and memory per machine.
async fn performance_page(State(st): State<AppState>, Query(p): Params) -> Page {
    let asked = param(&p, "perf")
        .map(|s| {
            s.parse::<winv_store::PerfRunId>()
                .map_err(|_| WebError(StatusCode::BAD_REQUEST, "perf must be a number".into()))
        })
        .transpose()?;
    let info = match crate::perf::pick_run(&st.store, asked).await {
        Ok(Some(i)) => i,
        Ok(None) => {
            return Ok(Html(page(
                "Performance",
                "<p id=\"absent\">The database has no performance run: sample machines with \
                 <code>winventory perf</code>.</p>",
            ))
            .into_response())
        }
        Err(e @ crate::ReportError::NoSuchPerfRun(_)) => {
            return Err(WebError(StatusCode::NOT_FOUND, e.to_string()))
        }
        Err(e) => return Err(e.into()),
    };
    let machines = crate::perf::summaries(&st.store, info.id).await?;
    let fleet = crate::perf::fleet(&info, &machines);
    let mut b = format!(
        "<p id=\"perf-run\">Perf run {} ({}), {} machines, {} not responding, {} slots of {} s{}.</p>",
        fleet.run,
        esc(&fleet.state),
        fleet.machines,
        fleet.not_responding,
        fleet.slots,
        fleet.interval_ms / 1000,
        fleet
            .cpu_of_averages
            .map(|c| format!("; CPU averaged {:.1} %, p95 of the averages {:.1} %", c.average, c.p95))
            .unwrap_or_default()
    );
    let mut t = TableSink::new(PAGE_ROWS);
    t.begin(&crate::perf::PERFORMANCE)?;
    for m in &machines {
        t.row(&crate::perf::row(m))?;
    }
    t.end()?;
    let mut drawn = 0usize;
    crate::perf::each_machine(&st.store, info.id, |m, samples| {
        if drawn >= PAGE_CHARTS {
            return Ok(());
        }
        drawn += 1;
        let [cpu, mem] = crate::perf::chart_series(&info, samples);
        let svg = crate::html::line_chart(
            &m.target,
            &[("CPU %", &cpu), ("Memory %", &mem)],
            100.0,
            "minutes",
        );
        t.figure(&m.target, &svg)
    })
    .await?;
    if machines.len() > PAGE_CHARTS {
        let _ = write!(
            t.out,
            "<p class=\"cut\">Charts of the first {PAGE_CHARTS} of {} machines; the HTML report draws them all.</p>",
            machines.len()
        );
    }
    b.push_str(&t.out);
    Ok(Html(page("Performance", &b)).into_response())
}

fn run_param(p: &HashMap<String, String>, k: &str) -> Result<Option<RunId>, WebError> {
    param(p, k)
        .map(|s| {
            s.parse::<RunId>()
                .map_err(|_| WebError(StatusCode::BAD_REQUEST, format!("{k} must be a run number")))
        })
        .transpose()
}

/// `/compare?a=RUN&b=RUN`: what changed from run `a` to run `b` (by default the two
/// newest runs).
async fn compare_page(State(st): State<AppState>, Query(p): Params) -> Page {
    let runs = st.store.runs().await?;
    let (a, b) = match (run_param(&p, "a")?, run_param(&p, "b")?) {
        (Some(a), Some(b)) => (a, b),
        (a, b) => {
            let newest = runs.first().map(|r| r.0);
            let older = runs.get(1).map(|r| r.0).or(newest);
            match (a.or(older), b.or(newest)) {
                (Some(a), Some(b)) => (a, b),
                _ => {
                    return Err(WebError(
                        StatusCode::NOT_FOUND,
                        "the database has no run".into(),
                    ))
                }
            }
        }
    };
    let (s, cmp) = crate::compare::read(&st.store, a, b)
        .await
        .map_err(|e| match e {
            crate::ReportError::NoSuchRun(_) => WebError(StatusCode::NOT_FOUND, e.to_string()),
            e => e.into(),
        })?;
    let options = |sel: RunId| {
        runs.iter()
            .take(200)
            .map(|r| {
                format!(
                    "<option value=\"{}\"{}>Run {} ({} UTC)</option>",
                    r.0,
                    if r.0 == sel { " selected" } else { "" },
                    r.0,
                    DateTime::from_unix_ms(r.1)
                )
            })
            .collect::<String>()
    };
    let mut b_html = format!(
        "<form method=\"get\" action=\"/compare\"><label>Run A (before) <select name=\"a\">{}</select></label> \
         <label>Run B (after) <select name=\"b\">{}</select></label> <button type=\"submit\">Compare</button></form>",
        options(a),
        options(b)
    );
    b_html.push_str(&crate::html::comparison_html(&s));
    let link = |target: &str, run: RunId| {
        format!(
            "<a href=\"/computer?run={run}&amp;target={}\">{}</a>",
            url_enc(target),
            esc(target)
        )
    };
    let machines = |title: &str, id: &str, list: &[crate::compare::MachineRef], run: RunId| {
        let mut h = format!("<h2>{}</h2><table id=\"{id}\"><thead><tr><th>Target</th><th>Computer name</th><th>Status</th></tr></thead><tbody>", esc(title));
        for m in list.iter().take(DETAIL_ROWS as usize) {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                link(&m.target, run),
                esc(m.name.as_deref().unwrap_or("")),
                esc(&status_text(&m.status))
            );
        }
        h.push_str("</tbody></table>");
        h
    };
    b_html.push_str(&machines("New machines (run B only)", "new", &cmp.new, b));
    b_html.push_str(&machines(
        "Gone machines (run A only)",
        "gone",
        &cmp.gone,
        a,
    ));
    b_html.push_str("<h2>Status changes</h2><table id=\"status-changes\"><thead><tr><th>Target</th><th>Computer name</th><th>Run A</th><th>Run B</th><th>Stage</th><th>Code</th></tr></thead><tbody>");
    for x in cmp.status_changes.iter().take(DETAIL_ROWS as usize) {
        let _ = write!(
            b_html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            link(&x.target, b),
            esc(x.name.as_deref().unwrap_or("")),
            esc(&status_text(&x.from)),
            esc(&status_text(&x.to)),
            esc(x.stage.as_deref().unwrap_or("")),
            esc(x.code_name.as_deref().unwrap_or(""))
        );
    }
    b_html.push_str("</tbody></table>");
    b_html.push_str("<h2>Software changes</h2><table id=\"software-changes\"><thead><tr><th>Target</th><th>Computer name</th><th>Change</th><th>Name</th><th>Publisher</th><th>Run A</th><th>Run B</th></tr></thead><tbody>");
    for x in cmp.software_changes.iter().take(DETAIL_ROWS as usize) {
        let _ = write!(
            b_html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            link(&x.target, b),
            esc(x.name.as_deref().unwrap_or("")),
            esc(x.change.as_str()),
            esc(&x.program),
            esc(&x.publisher),
            esc(x.from.as_deref().unwrap_or("")),
            esc(x.to.as_deref().unwrap_or(""))
        );
    }
    b_html.push_str("</tbody></table>");
    if cmp.software_changes.len() > DETAIL_ROWS as usize {
        let _ = write!(
            b_html,
            "<p>The first {DETAIL_ROWS} of {} software changes; the report has them all \
             (<code>winventory report --compare {a} {b}</code>).</p>",
            cmp.software_changes.len()
        );
    }
    b_html.push_str("<h2>OS changes</h2><table id=\"os-changes\"><thead><tr><th>Target</th><th>Computer name</th><th>Change</th><th>Run A</th><th>Run B</th></tr></thead><tbody>");
    let os = |o: &crate::compare::Os| {
        esc(&[
            o.caption.as_deref(),
            o.version.as_deref(),
            o.build.as_deref().map(|b| b.trim()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" "))
    };
    for x in cmp.os_changes.iter().take(DETAIL_ROWS as usize) {
        let _ = write!(
            b_html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            link(&x.target, b),
            esc(x.name.as_deref().unwrap_or("")),
            esc(x.change.as_str()),
            os(&x.from),
            os(&x.to)
        );
    }
    b_html.push_str("</tbody></table>");
    Ok(Html(page(&format!("Run {a} compared with run {b}"), &b_html)).into_response())
}

/// The dashboard's one script: the live progress counter. It reads JSON from
/// `/events` and writes `textContent` only (never HTML).
pub const APP_JS: &str = r#""use strict";
(function () {
  var el = document.getElementById("progress");
  if (!el || typeof EventSource === "undefined") { return; }
  var run = el.getAttribute("data-run");
  var es = new EventSource("/events?run=" + encodeURIComponent(run));
  es.addEventListener("progress", function (e) {
    var p;
    try { p = JSON.parse(e.data); } catch (_) { return; }
    el.textContent = String(p.done);
    var r = document.getElementById("results");
    if (r) { r.textContent = String(p.results); }
    var t = document.getElementById("targets");
    if (t) { t.textContent = String(p.targets); }
    var s = document.getElementById("state");
    if (s) { s.textContent = String(p.state); }
    el.setAttribute("data-state", String(p.state));
    if (p.state !== "running") { es.close(); }
  });
})();
"#;

async fn app_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        APP_JS,
    )
        .into_response()
}

async fn style_css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(page("Not found", "<p>No such page.</p>")),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(url_enc("a b&c=<d>"), "a%20b%26c%3D%3Cd%3E");
        assert_eq!(url_enc("WS-01.lab"), "WS-01.lab");
    }

    #[test]
    fn loopback_listeners_accept_localhost_hosts() {
        let h = hosts_for(
            "127.0.0.1:8080"
                .parse()
                .unwrap_or_else(|_| ([127, 0, 0, 1], 1).into()),
        );
        assert!(h.contains(&"127.0.0.1:8080".to_string()));
        assert!(h.contains(&"localhost:8080".to_string()));
        assert!(!h.iter().any(|x| x.contains("evil")));
    }

    #[test]
    fn filters_come_from_the_query_and_sort_is_whitelisted() {
        let mut p = HashMap::new();
        p.insert("status".to_string(), "access-denied".to_string());
        p.insert("sort".to_string(), "c.target; DROP TABLE runs".to_string());
        p.insert("page".to_string(), "3".to_string());
        let f = filter_of(&p);
        assert_eq!(f.status.as_deref(), Some("access-denied"));
        assert_eq!(f.sort, ComputerSort::Target);
        assert_eq!(f.offset, 2 * PAGE);
        assert_eq!(
            query_of(&p, &[("page", "4".into())]),
            "status=access-denied&amp;sort=c.target%3B%20DROP%20TABLE%20runs&amp;page=4"
        );
    }
}
