//! One self-contained HTML file: the summary with inline SVG charts, then every sheet as
//! a table. No script, no external resource (fonts, images, styles all inline), and a
//! Content-Security-Policy that forbids scripts outright, so even a string that escaped
//! escaping could not run. Every value is HTML-escaped.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::cell::{html_escape as esc, Cell};
use crate::compare::CompareSummary;
use crate::lifecycle::Support;
use crate::model::{SheetDef, Sink, Summary};
use crate::{io_err, ReportError};

/// The policy of the report file: nothing but inline styles and data: images.
pub const REPORT_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// The shared style sheet (report and dashboard).
pub const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 1.5rem 2rem;color:#1b1f24}\
h1{font-size:1.5rem;margin:1rem 0 .25rem}h2{font-size:1.2rem;margin:1.5rem 0 .5rem;border-bottom:1px solid #d0d7de}\
table{border-collapse:collapse;font-size:.85rem;margin:.25rem 0 1rem}th,td{border:1px solid #d0d7de;padding:.2rem .45rem;text-align:left;vertical-align:top}\
th{background:#f3f5f7;position:sticky;top:0}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #d0d7de;border-radius:6px;padding:.5rem 1rem;min-width:9rem}\
.card b{display:block;font-size:1.6rem}nav a{margin-right:.8rem}pre{white-space:pre-wrap}\
.bad{color:#b42318}.warn{color:#9a6700}.ok{color:#1a7f37}svg text{font-size:12px;fill:#1b1f24}";

const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];

/// A horizontal bar chart as inline SVG; labels are escaped. `link` gives an optional
/// URL per bar (already safe: built by the caller from escaped parts).
pub fn bar_chart(title: &str, items: &[(String, u64, Option<String>)]) -> String {
    let max = items.iter().map(|i| i.1).max().unwrap_or(0).max(1);
    let row_h = 22;
    let label_w = 330;
    let bar_w = 360;
    let h = row_h * items.len().max(1) + 8;
    let mut s = format!(
        "<svg role=\"img\" aria-label=\"{}\" width=\"{}\" height=\"{h}\" viewBox=\"0 0 {} {h}\" xmlns=\"http://www.w3.org/2000/svg\">",
        esc(title),
        label_w + bar_w + 70,
        label_w + bar_w + 70
    );
    for (i, (label, n, link)) in items.iter().enumerate() {
        let y = i * row_h + 4;
        let w = ((*n as f64) / (max as f64) * bar_w as f64).round().max(1.0);
        let color = COLORS[i % COLORS.len()];
        let shown: String = if label.chars().count() > 48 {
            format!("{}…", label.chars().take(47).collect::<String>())
        } else {
            label.clone()
        };
        let bar = format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{}\" y=\"{y}\" width=\"{w}\" height=\"{}\" fill=\"{color}\"><title>{}: {n}</title></rect>\
             <text x=\"{}\" y=\"{}\">{n}</text>",
            label_w - 6,
            y + 14,
            esc(&shown),
            label_w,
            row_h - 6,
            esc(label),
            label_w as f64 + w + 5.0,
            y + 14,
        );
        match link {
            Some(href) => s.push_str(&format!("<a href=\"{href}\">{bar}</a>")),
            None => s.push_str(&bar),
        }
    }
    s.push_str("</svg>");
    s
}

/// A line chart as inline SVG: each series `(label, points)` over the same axes, x from
/// 0 to the largest x, y from 0 to `y_max` (or the largest y when that is larger). Labels
/// are escaped; points that are not finite are left out.
pub fn line_chart(
    title: &str,
    series: &[(&str, &[(f64, f64)])],
    y_max: f64,
    x_unit: &str,
) -> String {
    let (w, h, left, bottom, top) = (560.0_f64, 150.0_f64, 44.0_f64, 20.0_f64, 18.0_f64);
    let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let x_max = series
        .iter()
        .flat_map(|s| s.1.iter().filter(finite))
        .map(|p| p.0)
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let y_top = series
        .iter()
        .flat_map(|s| s.1.iter().filter(finite))
        .map(|p| p.1)
        .fold(y_max, f64::max)
        .max(1e-9);
    let plot_w = w - left - 8.0;
    let plot_h = h - bottom - top;
    let mut out = format!(
        "<svg role=\"img\" aria-label=\"{}\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" xmlns=\"http://www.w3.org/2000/svg\">\
         <rect x=\"{left}\" y=\"{top}\" width=\"{plot_w}\" height=\"{plot_h}\" fill=\"none\" stroke=\"#d0d7de\"/>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">0</text>\
         <text x=\"{left}\" y=\"{}\">0</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.0} {}</text>",
        esc(title),
        left - 4.0,
        top + 10.0,
        y_top.round(),
        left - 4.0,
        top + plot_h,
        h - 4.0,
        w - 8.0,
        h - 4.0,
        x_max,
        esc(x_unit),
    );
    for (i, (label, points)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<String> = points
            .iter()
            .filter(finite)
            .map(|(x, y)| {
                format!(
                    "{:.1},{:.1}",
                    left + x / x_max * plot_w,
                    top + plot_h - (y / y_top).clamp(0.0, 1.0) * plot_h
                )
            })
            .collect();
        out.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"><title>{}</title></polyline>\
             <text x=\"{}\" y=\"12\" fill=\"{color}\">{}</text>",
            pts.join(" "),
            esc(label),
            left + 110.0 * i as f64,
            esc(label),
        ));
    }
    out.push_str("</svg>");
    out
}

/// The scenarios' and performance's part of a report's summary (cards, charts).
pub fn scenarios_html(
    scenarios: Option<&crate::scenarios::ScenarioSummary>,
    perf: Option<&crate::perf::PerfSummary>,
) -> String {
    let mut h = String::new();
    if let Some(sc) = scenarios {
        use crate::scenarios::Scenario;
        let has = |x: Scenario| sc.scenarios.contains(&x);
        h.push_str("<h2>Assessment</h2><div class=\"cards\">");
        let mut cards: Vec<(&str, String)> = vec![
            ("Virtual machines", sc.virtual_machines.to_string()),
            ("Physical machines", sc.physical_machines.to_string()),
        ];
        if has(Scenario::Sql) {
            cards.push(("SQL Server instances", sc.sql_instances.to_string()));
            cards.push(("Computers with SQL Server", sc.sql_computers.to_string()));
        }
        if has(Scenario::Roles) {
            cards.push(("Servers with roles", sc.servers_with_features.to_string()));
        }
        if has(Scenario::Virtualization) {
            cards.push(("Hyper-V hosts", sc.hyperv_hosts.to_string()));
            cards.push(("Hyper-V guests", sc.hyperv_guests.to_string()));
        }
        if has(Scenario::Licensing) {
            cards.push((
                "Core licences, physical servers",
                format!(
                    "{} ({} servers)",
                    sc.physical_core_licences, sc.physical_servers
                ),
            ));
            cards.push((
                "Core licences, virtual servers",
                format!(
                    "{} ({} servers)",
                    sc.virtual_core_licences, sc.virtual_servers
                ),
            ));
            cards.push((
                "Licences not activated",
                sc.licences_not_licensed.to_string(),
            ));
        }
        for (label, value) in cards {
            h.push_str(&format!(
                "<div class=\"card\"><b data-k=\"{}\">{}</b>{}</div>",
                esc(label),
                esc(&value),
                esc(label)
            ));
        }
        h.push_str("</div>");
        let bars = |v: &[(String, u64)]| -> Vec<(String, u64, Option<String>)> {
            v.iter()
                .take(12)
                .map(|(k, n)| (k.clone(), *n, None))
                .collect()
        };
        h.push_str("<h2>Platforms</h2>");
        h.push_str(&bar_chart("Platforms", &bars(&sc.platforms)));
        if has(Scenario::Sql) && !sc.sql_by_edition.is_empty() {
            h.push_str("<h2>SQL Server by version and edition</h2>");
            h.push_str(&bar_chart(
                "SQL Server by version and edition",
                &bars(&sc.sql_by_edition),
            ));
        }
        if has(Scenario::Roles) && !sc.features.is_empty() {
            h.push_str("<h2>Roles and features</h2>");
            h.push_str(&bar_chart("Roles and features", &bars(&sc.features)));
        }
        if has(Scenario::Licensing) && !sc.licence_channels.is_empty() {
            h.push_str("<h2>Licences by channel</h2>");
            h.push_str(&bar_chart(
                "Licences by channel",
                &bars(&sc.licence_channels),
            ));
        }
    }
    if let Some(p) = perf {
        h.push_str(&format!(
            "<h2>Performance</h2><p>Perf run {} ({}), {} machines, {} not responding at the end, \
             {} slots of {} s{}.</p>",
            p.run,
            esc(&p.state),
            p.machines,
            p.not_responding,
            p.slots,
            p.interval_ms / 1000,
            p.cpu_of_averages
                .map(|c| format!(
                    "; CPU averaged {:.1} % over the machines, p95 of their averages {:.1} %",
                    c.average, c.p95
                ))
                .unwrap_or_default(),
        ));
    }
    h
}

/// The summary as HTML (cards, charts, tables); `link` maps a status identifier or an OS
/// caption to a URL (the dashboard's drill-down), `None` in the file report.
pub fn summary_html(s: &Summary, link: &dyn Fn(&str, &str) -> Option<String>) -> String {
    let mut h = String::new();
    h.push_str(&format!(
        "<p>Run {} ({}), started {} UTC{}{}; judged on {}.</p>",
        s.run,
        esc(&s.state),
        esc(&s.started),
        s.finished
            .as_deref()
            .map(|f| format!(", finished {} UTC", esc(f)))
            .unwrap_or_default(),
        s.duration_s
            .map(|d| format!(" ({d} s)"))
            .unwrap_or_default(),
        esc(&s.as_of),
    ));
    h.push_str("<div class=\"cards\">");
    for (label, value, class) in [
        ("Targets", s.targets.to_string(), ""),
        (
            "Inventoried",
            format!("{} ({:.1}%)", s.inventoried, s.inventoried_percent),
            "ok",
        ),
        (
            "Failed",
            s.results.saturating_sub(s.inventoried).to_string(),
            "bad",
        ),
        ("Not finished", s.pending.to_string(), ""),
        (
            "Past end of support",
            s.past_end_of_support.to_string(),
            "bad",
        ),
        (
            "Ends within 12 months",
            s.ending_within_12_months.to_string(),
            "warn",
        ),
    ] {
        h.push_str(&format!(
            "<div class=\"card\"><b class=\"{class}\" data-k=\"{}\">{}</b>{}</div>",
            esc(label),
            esc(&value),
            esc(label)
        ));
    }
    h.push_str("</div>");
    let statuses: Vec<(String, u64, Option<String>)> = s
        .statuses
        .iter()
        .map(|st| (st.text.to_string(), st.computers, link("status", st.id)))
        .collect();
    h.push_str("<h2>Computers by status</h2>");
    h.push_str(&bar_chart("Computers by status", &statuses));
    let os: Vec<(String, u64, Option<String>)> = s
        .os_families
        .iter()
        .take(12)
        .map(|(c, n)| (c.clone(), *n, link("os", c)))
        .collect();
    h.push_str("<h2>Operating systems</h2>");
    h.push_str(&bar_chart("Operating systems", &os));
    h.push_str("<h2>End of support</h2><table><tr><th>Caption</th><th>Edition</th><th>Build</th><th>Computers</th><th>End of support</th><th>Support</th><th>Source</th></tr>");
    for g in &s.os_groups {
        let class = match g.support {
            Support::Ended => "bad",
            Support::EndingSoon => "warn",
            Support::Supported => "ok",
            Support::Unknown => "",
        };
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"{class}\">{}</td><td>{}</td></tr>",
            esc(g.caption.as_deref().unwrap_or("")),
            esc(g.edition.as_deref().unwrap_or("")),
            esc(g.build.as_deref().unwrap_or("")),
            g.computers,
            esc(g.end_of_support.as_deref().unwrap_or("")),
            esc(g.support.as_str()),
            esc(g.source.as_deref().unwrap_or("")),
        ));
    }
    h.push_str("</table>");
    h.push_str("<h2>Top failure reasons</h2><table><tr><th>Status</th><th>Stage</th><th>Code</th><th>Computers</th><th>Explanation</th><th>First remediation</th></tr>");
    for r in s.failure_reasons.iter().take(10) {
        let count = match link("reason", &reason_key(r)) {
            Some(href) => format!("<a href=\"{href}\">{}</a>", r.computers),
            None => r.computers.to_string(),
        };
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{count}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.status_text),
            esc(r.stage.as_deref().unwrap_or("")),
            esc(&[r.code.as_deref(), r.code_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ")),
            esc(r.explanation.as_deref().unwrap_or("")),
            esc(r.remediation.first().map_or("", String::as_str)),
        ));
    }
    h.push_str("</table>");
    h
}

/// A comparison's summary as HTML: the two runs and the counts (file report and
/// dashboard).
pub fn comparison_html(s: &CompareSummary) -> String {
    let mut h = String::from("<table id=\"runs\"><tr><th></th><th>Run</th><th>State</th><th>Started (UTC)</th><th>Targets</th></tr>");
    for (label, r) in [("A (before)", &s.a), ("B (after)", &s.b)] {
        h.push_str(&format!(
            "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
            esc(label),
            r.id,
            esc(&r.state),
            esc(&r.started),
            r.targets
        ));
    }
    h.push_str("</table><table id=\"counts\">");
    for (label, n) in s.lines() {
        h.push_str(&format!(
            "<tr><td>{}</td><td class=\"n\">{n}</td></tr>",
            esc(label)
        ));
    }
    h.push_str("</table>");
    h
}

/// The key of a failure reason in dashboard links: `status|stage|code_name`.
pub fn reason_key(r: &crate::model::Reason) -> String {
    format!(
        "{}|{}|{}",
        r.status,
        r.stage.as_deref().unwrap_or(""),
        r.code_name.as_deref().unwrap_or("")
    )
}

/// One table cell.
pub fn td(c: &Cell) -> String {
    match c {
        Cell::Int(_) | Cell::Num(_) => format!("<td class=\"n\">{}</td>", esc(&c.display())),
        Cell::Text(s) if s.contains('\n') => format!("<td><pre>{}</pre></td>", esc(s)),
        other => format!("<td>{}</td>", esc(&other.display())),
    }
}

/// Sheets as HTML tables in memory (the dashboard's pages), each cut at `cap` rows with
/// a line that says how many there were.
pub struct TableSink {
    /// The HTML written so far.
    pub out: String,
    rows: u64,
    cap: u64,
}

impl TableSink {
    /// An empty page part whose tables show at most `cap` rows each.
    pub fn new(cap: u64) -> TableSink {
        TableSink {
            out: String::new(),
            rows: 0,
            cap,
        }
    }
}

impl Sink for TableSink {
    fn summary(&mut self, _s: &Summary) -> Result<(), ReportError> {
        Ok(())
    }

    fn comparison(&mut self, _s: &CompareSummary) -> Result<(), ReportError> {
        Ok(())
    }

    fn begin(&mut self, sheet: &SheetDef) -> Result<(), ReportError> {
        self.rows = 0;
        self.out.push_str(&format!(
            "<section id=\"{}\"><h2>{}</h2><table><thead><tr>",
            sheet.slug,
            esc(sheet.name)
        ));
        for c in sheet.columns {
            self.out.push_str(&format!("<th>{}</th>", esc(c.title)));
        }
        self.out.push_str("</tr></thead><tbody>");
        Ok(())
    }

    fn row(&mut self, cells: &[Cell]) -> Result<(), ReportError> {
        self.rows += 1;
        if self.rows > self.cap {
            return Ok(());
        }
        self.out.push_str("<tr>");
        for c in cells {
            self.out.push_str(&td(c));
        }
        self.out.push_str("</tr>\n");
        Ok(())
    }

    fn end(&mut self) -> Result<(), ReportError> {
        let n = self.rows;
        self.out.push_str("</tbody></table>");
        if n > self.cap {
            self.out.push_str(&format!(
                "<p class=\"cut\">The first {} of {n} rows; the report (<code>winventory report</code>) has them all.</p>",
                self.cap
            ));
        } else {
            self.out.push_str(&format!("<p>{n} rows.</p>"));
        }
        self.out.push_str("</section>");
        Ok(())
    }

    fn draws(&self) -> bool {
        true
    }

    fn figure(&mut self, title: &str, svg: &str) -> Result<(), ReportError> {
        self.out.push_str(&format!(
            "<figure class=\"chart\"><figcaption>{}</figcaption>{svg}</figure>\n",
            esc(title)
        ));
        Ok(())
    }
}

/// Writes the HTML report to a file.
pub struct HtmlSink {
    path: PathBuf,
    w: BufWriter<File>,
    summary: Option<Summary>,
    rows: u64,
}

impl HtmlSink {
    /// Creates the file.
    pub fn new(path: &Path) -> Result<HtmlSink, ReportError> {
        let f = File::create(path).map_err(io_err(path))?;
        Ok(HtmlSink {
            path: path.to_path_buf(),
            w: BufWriter::new(f),
            summary: None,
            rows: 0,
        })
    }

    fn put(&mut self, s: &str) -> Result<(), ReportError> {
        self.w.write_all(s.as_bytes()).map_err(io_err(&self.path))
    }

    /// Closes the document; returns the summary written.
    pub fn finish(self) -> Result<Summary, ReportError> {
        self.close()?.ok_or(ReportError::NoRuns)
    }

    /// Closes the document; returns the summary written, `None` for a comparison.
    pub fn close(mut self) -> Result<Option<Summary>, ReportError> {
        self.put("</body></html>\n")?;
        self.w.flush().map_err(io_err(&self.path))?;
        Ok(self.summary.take())
    }
}

impl Sink for HtmlSink {
    fn summary(&mut self, s: &Summary) -> Result<(), ReportError> {
        let mut head = format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"Content-Security-Policy\" content=\"{REPORT_CSP}\">\
             <meta name=\"viewport\" content=\"width=device-width\">\
             <title>winventory report, run {}</title><style>{STYLE}</style></head><body>\
             <h1>winventory inventory report</h1><nav>",
            s.run
        );
        for sheet in &s.sheets {
            head.push_str(&format!(
                "<a href=\"#{}\">{}</a>",
                sheet.slug,
                esc(sheet.name)
            ));
        }
        head.push_str("</nav>");
        self.put(&head)?;
        let body = summary_html(s, &|_, _| None);
        self.put(&body)?;
        self.put(&scenarios_html(s.scenarios.as_ref(), s.perf.as_ref()))?;
        self.summary = Some(s.clone());
        Ok(())
    }

    fn comparison(&mut self, s: &CompareSummary) -> Result<(), ReportError> {
        let mut head = format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"Content-Security-Policy\" content=\"{REPORT_CSP}\">\
             <meta name=\"viewport\" content=\"width=device-width\">\
             <title>winventory comparison, run {} and run {}</title><style>{STYLE}</style></head><body>\
             <h1>winventory comparison of two runs</h1><nav>",
            s.a.id, s.b.id
        );
        for sheet in crate::compare::COMPARE_SHEETS {
            head.push_str(&format!(
                "<a href=\"#{}\">{}</a>",
                sheet.slug,
                esc(sheet.name)
            ));
        }
        head.push_str("</nav>");
        head.push_str(&comparison_html(s));
        self.put(&head)
    }

    fn begin(&mut self, sheet: &SheetDef) -> Result<(), ReportError> {
        self.rows = 0;
        let mut h = format!(
            "<section id=\"{}\"><h2>{}</h2><table><thead><tr>",
            sheet.slug,
            esc(sheet.name)
        );
        for c in sheet.columns {
            h.push_str(&format!("<th>{}</th>", esc(c.title)));
        }
        h.push_str("</tr></thead><tbody>");
        self.put(&h)
    }

    fn row(&mut self, cells: &[Cell]) -> Result<(), ReportError> {
        self.rows += 1;
        let mut h = String::from("<tr>");
        for c in cells {
            h.push_str(&td(c));
        }
        h.push_str("</tr>\n");
        self.put(&h)
    }

    fn end(&mut self) -> Result<(), ReportError> {
        let n = self.rows;
        self.put(&format!("</tbody></table><p>{n} rows.</p></section>"))
    }

    fn draws(&self) -> bool {
        true
    }

    fn figure(&mut self, title: &str, svg: &str) -> Result<(), ReportError> {
        self.put(&format!(
            "<figure class=\"chart\"><figcaption>{}</figcaption>{svg}</figure>\n",
            esc(title)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_labels_are_escaped() {
        let svg = bar_chart("t", &[("<script>alert(1)</script>".into(), 3, None)]);
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
    }

    #[test]
    fn line_charts_scale_and_escape() {
        let svg = line_chart(
            "<b>pc</b>",
            &[
                ("CPU %", &[(0.0, 0.0), (10.0, 50.0), (f64::NAN, 1.0)]),
                ("<i>", &[]),
            ],
            100.0,
            "minutes",
        );
        assert!(!svg.contains("<b>") && !svg.contains("<i>"));
        assert!(svg.contains("&lt;b&gt;pc&lt;/b&gt;"));
        // x 0 is the left edge, x 10 (the largest) the right; y 50 of 100 half-way.
        assert!(svg.contains("points=\"44.0,130.0 552.0,74.0\""), "{svg}");
        assert!(svg.contains(">100<"), "the y axis shows y_max");
    }

    #[test]
    fn cells_are_escaped() {
        assert_eq!(td(&Cell::Text("<b>&".into())), "<td>&lt;b&gt;&amp;</td>");
        assert_eq!(td(&Cell::Int(5)), "<td class=\"n\">5</td>");
    }
}
