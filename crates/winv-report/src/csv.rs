//! CSV: one file per sheet (`summary.csv`, `scan-results.csv`...) in a directory, UTF-8
//! with a BOM so spreadsheets read accents, CRLF line ends (RFC 4180). Every text field
//! is neutralised against formula injection ([`csv_text`]): a host that names a program
//! `=cmd|' /C calc'!A0` shows that text, it does not run.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::cell::{clean, csv_quote, csv_text, Cell};
use crate::compare::CompareSummary;
use crate::model::{SheetDef, Sink, Summary};
use crate::{io_err, ReportError};

/// Writes one CSV file per sheet into a directory.
pub struct CsvSink {
    dir: PathBuf,
    file: Option<(PathBuf, BufWriter<File>)>,
    summary: Option<Summary>,
}

/// One CSV field of a cell.
pub fn field(c: &Cell) -> String {
    match c {
        Cell::Text(s) => csv_text(&clean(s)),
        other => csv_quote(&other.display()),
    }
}

impl CsvSink {
    /// Creates `dir` when missing.
    pub fn new(dir: &Path) -> Result<CsvSink, ReportError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        Ok(CsvSink {
            dir: dir.to_path_buf(),
            file: None,
            summary: None,
        })
    }

    fn open(&mut self, stem: &str, header: &[&str]) -> Result<(), ReportError> {
        let path = self.dir.join(format!("{stem}.csv"));
        let f = File::create(&path).map_err(io_err(&path))?;
        let mut w = BufWriter::new(f);
        let line = header
            .iter()
            .map(|h| csv_quote(h))
            .collect::<Vec<_>>()
            .join(",");
        w.write_all(b"\xEF\xBB\xBF")
            .and_then(|_| write!(w, "{line}\r\n"))
            .map_err(io_err(&path))?;
        self.file = Some((path, w));
        Ok(())
    }

    fn write_line(&mut self, fields: &[String]) -> Result<(), ReportError> {
        if let Some((path, w)) = self.file.as_mut() {
            write!(w, "{}\r\n", fields.join(",")).map_err(io_err(path))?;
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), ReportError> {
        if let Some((path, mut w)) = self.file.take() {
            w.flush().map_err(io_err(&path))?;
        }
        Ok(())
    }

    /// Flushes the last file; returns the summary written.
    pub fn finish(self) -> Result<Summary, ReportError> {
        self.finish_any()?.ok_or(ReportError::NoRuns)
    }

    /// Flushes the last file; returns the summary written, `None` for a comparison.
    pub fn finish_any(mut self) -> Result<Option<Summary>, ReportError> {
        self.close()?;
        Ok(self.summary.take())
    }
}

impl Sink for CsvSink {
    fn summary(&mut self, s: &Summary) -> Result<(), ReportError> {
        self.open("summary", &["Section", "Item", "Value"])?;
        let mut rows: Vec<[String; 3]> = vec![
            ["Run".into(), "Id".into(), s.run.to_string()],
            ["Run".into(), "State".into(), s.state.clone()],
            ["Run".into(), "Started (UTC)".into(), s.started.clone()],
            [
                "Run".into(),
                "Finished (UTC)".into(),
                s.finished.clone().unwrap_or_default(),
            ],
            ["Run".into(), "Options".into(), s.options.to_string()],
            ["Run".into(), "Targets".into(), s.targets.to_string()],
            [
                "Run".into(),
                "Inventoried".into(),
                s.inventoried.to_string(),
            ],
            [
                "Run".into(),
                "Inventoried share (%)".into(),
                format!("{:.1}", s.inventoried_percent),
            ],
        ];
        for st in &s.statuses {
            rows.push([
                "Status".into(),
                format!("{} ({})", st.text, st.id),
                st.computers.to_string(),
            ]);
        }
        for (caption, n) in &s.os_families {
            rows.push(["Operating system".into(), caption.clone(), n.to_string()]);
        }
        rows.push([
            "End of support".into(),
            "Past end of support".into(),
            s.past_end_of_support.to_string(),
        ]);
        rows.push([
            "End of support".into(),
            "Ends within 12 months".into(),
            s.ending_within_12_months.to_string(),
        ]);
        rows.push([
            "End of support".into(),
            "Unknown".into(),
            s.support_unknown.to_string(),
        ]);
        for r in s.failure_reasons.iter().take(10) {
            rows.push([
                "Failure reason".into(),
                format!(
                    "{} at {} ({})",
                    r.status_text,
                    r.stage.as_deref().unwrap_or("?"),
                    r.code_name
                        .as_deref()
                        .or(r.code.as_deref())
                        .unwrap_or("no code")
                ),
                r.computers.to_string(),
            ]);
        }
        for r in rows {
            let f: Vec<String> = r.iter().map(|s| csv_text(&clean(s))).collect();
            self.write_line(&f)?;
        }
        self.close()?;
        self.summary = Some(s.clone());
        Ok(())
    }

    fn comparison(&mut self, s: &CompareSummary) -> Result<(), ReportError> {
        self.open("comparison", &["Item", "Value"])?;
        let mut rows: Vec<[String; 2]> = Vec::new();
        for (label, r) in [("Run A", &s.a), ("Run B", &s.b)] {
            rows.push([
                label.into(),
                format!(
                    "{} ({}, started {} UTC, {} targets)",
                    r.id, r.state, r.started, r.targets
                ),
            ]);
        }
        for (label, n) in s.lines() {
            rows.push([label.into(), n.to_string()]);
        }
        for r in rows {
            let f: Vec<String> = r.iter().map(|s| csv_text(&clean(s))).collect();
            self.write_line(&f)?;
        }
        self.close()
    }

    fn begin(&mut self, sheet: &SheetDef) -> Result<(), ReportError> {
        self.close()?;
        let header: Vec<&str> = sheet.columns.iter().map(|c| c.title).collect();
        self.open(sheet.slug, &header)
    }

    fn row(&mut self, cells: &[Cell]) -> Result<(), ReportError> {
        let f: Vec<String> = cells.iter().map(field).collect();
        self.write_line(&f)
    }

    fn end(&mut self) -> Result<(), ReportError> {
        self.close()
    }
}
