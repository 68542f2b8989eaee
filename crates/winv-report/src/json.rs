//! JSON: one document `{"summary": {...}, "sheets": [{"name", "columns", "rows"}]}`,
//! written as it is produced (rows are arrays in column order; dates as ISO 8601 text).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::cell::Cell;
use crate::compare::CompareSummary;
use crate::model::{SheetDef, Sink, Summary};
use crate::{io_err, ReportError};

/// Writes the JSON document to a file (or any writer).
pub struct JsonSink {
    path: PathBuf,
    w: BufWriter<File>,
    first_sheet: bool,
    first_row: bool,
    summary: Option<Summary>,
}

impl JsonSink {
    /// Creates the file.
    pub fn new(path: &Path) -> Result<JsonSink, ReportError> {
        let f = File::create(path).map_err(io_err(path))?;
        Ok(JsonSink {
            path: path.to_path_buf(),
            w: BufWriter::new(f),
            first_sheet: true,
            first_row: true,
            summary: None,
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
        self.put("]}\n")?;
        self.w.flush().map_err(io_err(&self.path))?;
        Ok(self.summary.take())
    }
}

impl Sink for JsonSink {
    fn summary(&mut self, s: &Summary) -> Result<(), ReportError> {
        let text = serde_json::to_string(s)?;
        self.put(&format!("{{\"summary\":{text},\"sheets\":["))?;
        self.summary = Some(s.clone());
        Ok(())
    }

    fn comparison(&mut self, s: &CompareSummary) -> Result<(), ReportError> {
        let text = serde_json::to_string(s)?;
        self.put(&format!("{{\"comparison\":{text},\"sheets\":["))
    }

    fn begin(&mut self, sheet: &SheetDef) -> Result<(), ReportError> {
        let head = serde_json::json!({ "name": sheet.name, "columns": sheet.columns });
        let mut head = serde_json::to_string(&head)?;
        head.pop(); // the closing brace: rows follow
        let sep = if self.first_sheet { "" } else { "," };
        self.first_sheet = false;
        self.first_row = true;
        self.put(&format!("{sep}\n{head},\"rows\":["))
    }

    fn row(&mut self, cells: &[Cell]) -> Result<(), ReportError> {
        let v: Vec<serde_json::Value> = cells.iter().map(Cell::json).collect();
        let text = serde_json::to_string(&v)?;
        let sep = if self.first_row { "\n" } else { ",\n" };
        self.first_row = false;
        self.put(&format!("{sep}{text}"))
    }

    fn end(&mut self) -> Result<(), ReportError> {
        self.put("]}")
    }
}
