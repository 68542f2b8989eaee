//! The workbook: a Summary sheet, then one sheet per [`SheetDef`], each in
//! rust_xlsxwriter's constant-memory mode (rows go to a temporary file as they are
//! written, so 50,000 computers fit in bounded memory), with a frozen, bold header row,
//! an autofilter over the data, column widths fitted to the longest value (capped), dates
//! as Excel dates and numbers as numbers. Text is always a string cell: a host's
//! `=cmd|...` stays text, never a formula.
//!
//! A sheet longer than Excel's 1,048,576 rows continues in `Name (2)`, `Name (3)`...

use std::path::{Path, PathBuf};

use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};

use crate::cell::{clean, Cell};
use crate::compare::CompareSummary;
use crate::model::{Column, Kind, SheetDef, Sink, Summary};
use crate::ReportError;

/// Excel's rows per sheet, the header included.
pub const MAX_ROWS: u32 = 1_048_576;
/// The widest a fitted column gets (characters).
const MAX_WIDTH: usize = 60;
/// Excel's longest string in a cell.
const MAX_CELL_CHARS: usize = 32_767;

struct Current {
    def: SheetDef,
    part: u32,
    index: usize,
    row: u32,
    widths: Vec<usize>,
}

/// Writes a workbook to a file.
pub struct XlsxSink {
    path: PathBuf,
    wb: Workbook,
    sheets: usize,
    current: Option<Current>,
    summary: Option<Summary>,
    header: Format,
    date: Format,
    datetime: Format,
    number: Format,
    wrap: Format,
}

fn width_of(s: &str) -> usize {
    s.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

fn truncate(s: &str) -> String {
    let s = clean(s);
    if s.chars().count() > MAX_CELL_CHARS {
        s.chars().take(MAX_CELL_CHARS).collect()
    } else {
        s
    }
}

impl XlsxSink {
    /// A workbook to be saved at `path` by [`XlsxSink::finish`].
    pub fn new(path: &Path) -> Result<XlsxSink, ReportError> {
        let mut wb = Workbook::new();
        // Temporary files beside the output, not in a tmpfs /tmp that would hold them
        // in memory.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            wb.set_tempdir(dir)?;
        }
        Ok(XlsxSink {
            path: path.to_path_buf(),
            wb,
            sheets: 0,
            current: None,
            summary: None,
            header: Format::new().set_bold(),
            date: Format::new().set_num_format("yyyy-mm-dd"),
            datetime: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
            number: Format::new().set_num_format("0.00"),
            wrap: Format::new().set_text_wrap(),
        })
    }

    fn new_sheet(&mut self, def: SheetDef, part: u32) -> Result<(), ReportError> {
        let name = if part == 1 {
            def.name.to_string()
        } else {
            format!("{} ({part})", def.name)
        };
        let index = self.sheets;
        let ws = self.wb.add_worksheet_with_constant_memory()?;
        self.sheets += 1;
        ws.set_name(&name)?;
        for (i, c) in def.columns.iter().enumerate() {
            ws.write_string_with_format(0, col(i), c.title, &self.header)?;
        }
        ws.set_freeze_panes(1, 0)?;
        self.current = Some(Current {
            def,
            part,
            index,
            row: 0,
            widths: def.columns.iter().map(|c| width_of(c.title) + 3).collect(),
        });
        Ok(())
    }

    fn close_sheet(&mut self) -> Result<(), ReportError> {
        let Some(cur) = self.current.take() else {
            return Ok(());
        };
        let ws = self.wb.worksheet_from_index(cur.index)?;
        let last_col = col(cur.def.columns.len().saturating_sub(1));
        ws.autofilter(0, 0, cur.row, last_col)?;
        for (i, (w, c)) in cur.widths.iter().zip(cur.def.columns).enumerate() {
            let min = match c.kind {
                Kind::Date => 11,
                Kind::DateTime => 20,
                _ => 6,
            };
            ws.set_column_width(col(i), (*w).clamp(min, MAX_WIDTH) as f64)?;
        }
        Ok(())
    }

    /// Saves the workbook; returns the summary written.
    pub fn finish(self) -> Result<Summary, ReportError> {
        self.close()?.ok_or(ReportError::NoRuns)
    }

    /// Saves the workbook; returns the summary written, `None` for a comparison.
    pub fn close(mut self) -> Result<Option<Summary>, ReportError> {
        self.close_sheet()?;
        self.wb.save(&self.path)?;
        Ok(self.summary)
    }

    fn write_comparison(&mut self, s: &CompareSummary) -> Result<(), ReportError> {
        let header = self.header.clone();
        let ws = self.wb.add_worksheet_with_constant_memory()?;
        self.sheets += 1;
        ws.set_name("Comparison")?;
        ws.write_string_with_format(0, 0, "winventory comparison of two runs", &header)?;
        let mut r: u32 = 2;
        for (label, run) in [("Run A", &s.a), ("Run B", &s.b)] {
            put(
                ws,
                &mut r,
                label,
                Cell::Int(run.id),
                &format!(
                    "{}, started {} UTC, {} targets",
                    run.state, run.started, run.targets
                ),
            )?;
        }
        r += 1;
        for (label, n) in s.lines() {
            put(
                ws,
                &mut r,
                label,
                Cell::Int(i64::try_from(n).unwrap_or(i64::MAX)),
                "",
            )?;
        }
        ws.set_column_width(0, 55)?;
        ws.set_column_width(1, 14)?;
        ws.set_column_width(2, 50)?;
        Ok(())
    }

    fn write_summary(&mut self, s: &Summary) -> Result<(), ReportError> {
        let header = self.header.clone();
        let ws = self.wb.add_worksheet_with_constant_memory()?;
        self.sheets += 1;
        ws.set_name("Summary")?;
        let mut r: u32 = 0;
        ws.write_string_with_format(0, 0, "winventory inventory report", &header)?;
        r += 2;
        let n = |v: u64| Cell::Int(i64::try_from(v).unwrap_or(i64::MAX));
        put(ws, &mut r, "Run", Cell::Int(s.run), &s.state)?;
        put(
            ws,
            &mut r,
            "Started (UTC)",
            Cell::Text(s.started.clone()),
            "",
        )?;
        put(
            ws,
            &mut r,
            "Finished (UTC)",
            Cell::text(s.finished.as_deref()),
            "",
        )?;
        put(
            ws,
            &mut r,
            "Duration (s)",
            s.duration_s.map_or(Cell::Empty, Cell::Int),
            "",
        )?;
        put(ws, &mut r, "Options", Cell::Text(s.options.to_string()), "")?;
        put(ws, &mut r, "Targets", n(s.targets), "")?;
        put(ws, &mut r, "Computers with a result", n(s.results), "")?;
        put(ws, &mut r, "Not finished yet", n(s.pending), "")?;
        put(ws, &mut r, "Inventoried", n(s.inventoried), "")?;
        put(
            ws,
            &mut r,
            "Inventoried share (%)",
            Cell::Num((s.inventoried_percent * 10.0).round() / 10.0),
            "",
        )?;
        r += 1;
        ws.write_string_with_format(r, 0, "Computers by status", &header)?;
        ws.write_string_with_format(r, 1, "Computers", &header)?;
        ws.write_string_with_format(r, 2, "Status", &header)?;
        r += 1;
        for st in &s.statuses {
            put(ws, &mut r, st.text, n(st.computers), st.id)?;
        }
        r += 1;
        ws.write_string_with_format(r, 0, "Operating systems", &header)?;
        ws.write_string_with_format(r, 1, "Computers", &header)?;
        r += 1;
        for (caption, count) in &s.os_families {
            put(ws, &mut r, caption, n(*count), "")?;
        }
        r += 1;
        ws.write_string_with_format(r, 0, "End of support", &header)?;
        ws.write_string_with_format(r, 1, "Computers", &header)?;
        ws.write_string_with_format(r, 2, format!("as of {}", s.as_of), &header)?;
        r += 1;
        put(
            ws,
            &mut r,
            "Past end of support",
            n(s.past_end_of_support),
            "",
        )?;
        put(
            ws,
            &mut r,
            "Ends within 12 months",
            n(s.ending_within_12_months),
            "",
        )?;
        put(
            ws,
            &mut r,
            "Unknown (build not in the lifecycle table)",
            n(s.support_unknown),
            "",
        )?;
        for g in s.os_groups.iter().filter(|g| {
            matches!(
                g.support,
                crate::lifecycle::Support::Ended | crate::lifecycle::Support::EndingSoon
            )
        }) {
            put(
                ws,
                &mut r,
                &format!(
                    "{} (build {})",
                    g.caption.as_deref().unwrap_or("?"),
                    g.build.as_deref().unwrap_or("?")
                ),
                n(g.computers),
                &format!(
                    "{}: {}",
                    g.support.as_str(),
                    g.end_of_support.as_deref().unwrap_or("?")
                ),
            )?;
        }
        r += 1;
        ws.write_string_with_format(r, 0, "Top failure reasons", &header)?;
        ws.write_string_with_format(r, 1, "Computers", &header)?;
        ws.write_string_with_format(r, 2, "First remediation", &header)?;
        r += 1;
        for reason in s.failure_reasons.iter().take(10) {
            put(
                ws,
                &mut r,
                &format!(
                    "{} at {} ({})",
                    reason.status_text,
                    reason.stage.as_deref().unwrap_or("?"),
                    reason
                        .code_name
                        .as_deref()
                        .or(reason.code.as_deref())
                        .unwrap_or("no code")
                ),
                n(reason.computers),
                reason.remediation.first().map_or("", String::as_str),
            )?;
        }
        ws.set_column_width(0, 50)?;
        ws.set_column_width(1, 14)?;
        ws.set_column_width(2, 60)?;
        Ok(())
    }
}

fn put(
    ws: &mut rust_xlsxwriter::Worksheet,
    r: &mut u32,
    a: &str,
    b: Cell,
    c: &str,
) -> Result<(), ReportError> {
    ws.write_string(*r, 0, truncate(a))?;
    match b {
        Cell::Int(i) => {
            ws.write_number(*r, 1, i as f64)?;
        }
        Cell::Num(n) => {
            ws.write_number(*r, 1, n)?;
        }
        Cell::Empty => {}
        other => {
            ws.write_string(*r, 1, truncate(&other.display()))?;
        }
    }
    if !c.is_empty() {
        ws.write_string(*r, 2, truncate(c))?;
    }
    *r += 1;
    Ok(())
}

fn col(i: usize) -> u16 {
    u16::try_from(i).unwrap_or(u16::MAX)
}

impl Sink for XlsxSink {
    fn summary(&mut self, s: &Summary) -> Result<(), ReportError> {
        self.write_summary(s)?;
        self.summary = Some(s.clone());
        Ok(())
    }

    fn comparison(&mut self, s: &CompareSummary) -> Result<(), ReportError> {
        self.write_comparison(s)
    }

    fn begin(&mut self, sheet: &SheetDef) -> Result<(), ReportError> {
        self.close_sheet()?;
        self.new_sheet(*sheet, 1)
    }

    fn row(&mut self, cells: &[Cell]) -> Result<(), ReportError> {
        let full = self.current.as_ref().is_some_and(|c| c.row + 1 >= MAX_ROWS);
        if full {
            let (def, part) = match &self.current {
                Some(c) => (c.def, c.part),
                None => return Ok(()),
            };
            self.close_sheet()?;
            self.new_sheet(def, part + 1)?;
        }
        let Some(cur) = self.current.as_mut() else {
            return Ok(());
        };
        cur.row += 1;
        let r = cur.row;
        let ws = self.wb.worksheet_from_index(cur.index)?;
        for (i, (cell, column)) in cells.iter().zip(cur.def.columns.iter()).enumerate() {
            let c = col(i);
            let shown = match cell {
                Cell::Empty => 0,
                Cell::Text(s) => {
                    let s = truncate(s);
                    let w = width_of(&s);
                    if s.contains('\n') {
                        ws.write_string_with_format(r, c, s, &self.wrap)?;
                    } else {
                        ws.write_string(r, c, s)?;
                    }
                    w
                }
                Cell::Int(v) => {
                    ws.write_number(r, c, *v as f64)?;
                    v.to_string().len()
                }
                Cell::Num(v) => {
                    ws.write_number_with_format(r, c, *v, &self.number)?;
                    format!("{v:.2}").len()
                }
                Cell::Bool(b) => {
                    ws.write_boolean(r, c, *b)?;
                    5
                }
                Cell::Date(d) => {
                    let x = ExcelDateTime::from_ymd(d.y, d.m, d.d)?;
                    ws.write_datetime_with_format(r, c, &x, &self.date)?;
                    10
                }
                Cell::DateTime(d) => {
                    let x = ExcelDateTime::from_ymd(d.date.y, d.date.m, d.date.d)?.and_hms(
                        u16::from(d.h),
                        d.mi,
                        d.s,
                    )?;
                    ws.write_datetime_with_format(r, c, &x, &self.datetime)?;
                    19
                }
            };
            if let Some(w) = cur.widths.get_mut(i) {
                *w = (*w).max(shown + 2);
            }
            let _: &Column = column;
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), ReportError> {
        self.close_sheet()
    }
}
