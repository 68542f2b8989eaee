//! Typed cells and the date formats the store holds, and escaping for each output.

use std::fmt;

/// A calendar day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Year.
    pub y: u16,
    /// Month, 1-12.
    pub m: u8,
    /// Day, 1-31.
    pub d: u8,
}

fn days_in_month(y: u16, m: u8) -> u8 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Date {
    /// A valid date (years 1900..=9999, as spreadsheets hold them), or `None`.
    pub fn new(y: u16, m: u8, d: u8) -> Option<Date> {
        ((1900..=9999).contains(&y) && (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m))
            .then_some(Date { y, m, d })
    }

    /// `YYYY-MM-DD`.
    pub fn parse_iso(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        Date::new(
            s.get(0..4)?.parse().ok()?,
            s.get(5..7)?.parse().ok()?,
            s.get(8..10)?.parse().ok()?,
        )
    }

    /// `YYYYMMDD`, the registry's `InstallDate`.
    pub fn parse_compact(s: &str) -> Option<Date> {
        let s = s.trim();
        if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Date::new(
            s.get(0..4)?.parse().ok()?,
            s.get(4..6)?.parse().ok()?,
            s.get(6..8)?.parse().ok()?,
        )
    }

    /// `M/D/YYYY`, `Win32_QuickFixEngineering.InstalledOn` as Windows reports it.
    pub fn parse_us(s: &str) -> Option<Date> {
        let mut it = s.trim().split('/');
        let m = it.next()?.parse().ok()?;
        let d = it.next()?.parse().ok()?;
        let y = it.next()?.parse().ok()?;
        if it.next().is_some() {
            return None;
        }
        Date::new(y, m, d)
    }

    /// Any of the day formats the store holds.
    pub fn parse_any(s: &str) -> Option<Date> {
        Date::parse_iso(s)
            .or_else(|| Date::parse_compact(s))
            .or_else(|| Date::parse_us(s))
    }

    /// Days since 1970-01-01.
    pub fn days(self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let y = i64::from(self.y) - i64::from(self.m <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.m);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.d) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The day of `days` since 1970-01-01 (UTC).
    pub fn from_days(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        Date {
            y: u16::try_from(y.clamp(1900, 9999)).unwrap_or(1970),
            m: u8::try_from(m).unwrap_or(1),
            d: u8::try_from(d).unwrap_or(1),
        }
    }

    /// Today (UTC).
    pub fn today() -> Date {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Date::from_days(i64::try_from(secs / 86_400).unwrap_or(0))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.y, self.m, self.d)
    }
}

/// A date and a time of day (as the host reported it: local time, offset dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime {
    /// The day.
    pub date: Date,
    /// Hour.
    pub h: u8,
    /// Minute.
    pub mi: u8,
    /// Second.
    pub s: u8,
}

impl DateTime {
    /// ISO 8601 `YYYY-MM-DDTHH:MM:SS` with an optional offset or `Z` after it (the
    /// store's `install_date` and `last_boot`).
    pub fn parse_iso(s: &str) -> Option<DateTime> {
        let date = Date::parse_iso(s.get(0..10)?)?;
        let t = s.get(10..19)?.as_bytes();
        if t[0] != b'T' || t[3] != b':' || t[6] != b':' {
            return None;
        }
        let h: u8 = s.get(11..13)?.parse().ok()?;
        let mi: u8 = s.get(14..16)?.parse().ok()?;
        let sec: u8 = s.get(17..19)?.parse().ok()?;
        (h < 24 && mi < 60 && sec < 60).then_some(DateTime {
            date,
            h,
            mi,
            s: sec,
        })
    }

    /// From milliseconds since the Unix epoch (UTC).
    pub fn from_unix_ms(ms: i64) -> DateTime {
        let secs = ms.div_euclid(1000);
        let day = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        DateTime {
            date: Date::from_days(day),
            h: u8::try_from(rem / 3600).unwrap_or(0),
            mi: u8::try_from(rem % 3600 / 60).unwrap_or(0),
            s: u8::try_from(rem % 60).unwrap_or(0),
        }
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:02}:{:02}:{:02}",
            self.date, self.h, self.mi, self.s
        )
    }
}

/// One cell of a sheet.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// Nothing.
    Empty,
    /// Text (often from a scanned host: escaped by every writer).
    Text(String),
    /// A whole number.
    Int(i64),
    /// A decimal number.
    Num(f64),
    /// A day.
    Date(Date),
    /// A day and a time.
    DateTime(DateTime),
    /// Yes or no.
    Bool(bool),
}

impl Cell {
    /// Text, or empty for `None`.
    pub fn text(s: Option<&str>) -> Cell {
        s.map_or(Cell::Empty, |s| Cell::Text(s.to_string()))
    }

    /// The cell as plain text (CSV, HTML, widths).
    pub fn display(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(s) => s.clone(),
            Cell::Int(i) => i.to_string(),
            Cell::Num(n) => format!("{n:.2}"),
            Cell::Date(d) => d.to_string(),
            Cell::DateTime(d) => d.to_string(),
            Cell::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
        }
    }

    /// The cell as JSON: dates as ISO 8601 text.
    pub fn json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Cell::Empty => Value::Null,
            Cell::Text(s) => Value::String(s.clone()),
            Cell::Int(i) => Value::from(*i),
            Cell::Num(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
            Cell::Date(d) => Value::String(d.to_string()),
            Cell::DateTime(d) => {
                Value::String(format!("{}T{:02}:{:02}:{:02}", d.date, d.h, d.mi, d.s))
            }
            Cell::Bool(b) => Value::Bool(*b),
        }
    }
}

/// HTML text and attribute escaping: `& < > " '`.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A text field for CSV: a value a spreadsheet would run as a formula (starting with
/// `=`, `+`, `-`, `@`, a tab or a carriage return: OWASP's CSV injection list) gets a
/// leading `'`; then quoted when it holds a comma, quote or line break.
pub fn csv_text(s: &str) -> String {
    let neutral = match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    };
    csv_quote(&neutral)
}

/// RFC 4180 quoting.
pub fn csv_quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Strips control characters (other than tab and line breaks) that spreadsheets and
/// XML 1.0 refuse; a host may report anything.
pub fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_in_every_stored_form() {
        let d = Date::new(2024, 2, 29);
        assert!(d.is_some());
        assert_eq!(Date::parse_iso("2024-02-29"), d);
        assert_eq!(Date::parse_compact("20240229"), d);
        assert_eq!(Date::parse_us("2/29/2024"), d);
        assert_eq!(Date::parse_any("2/30/2024"), None);
        assert_eq!(Date::parse_any("20230229"), None);
        assert_eq!(Date::parse_any("01d9a0b1c2d3e4f5"), None);
        assert_eq!(Date::parse_any(""), None);
        let t = DateTime::parse_iso("2021-06-08T00:00:35+01:00");
        assert_eq!(t.map(|t| (t.date.d, t.h, t.mi, t.s)), Some((8, 0, 0, 35)));
        assert_eq!(DateTime::parse_iso("2021-06-08T25:00:35"), None);
        assert_eq!(DateTime::parse_iso("2021-06-08"), None);
    }

    #[test]
    fn day_numbers_round_trip() {
        for days in [-25_567, 0, 11_016, 19_782, 20_000, 2_932_896] {
            assert_eq!(Date::from_days(days).days(), days, "{days}");
        }
        assert_eq!(Date::from_days(0).to_string(), "1970-01-01");
        assert_eq!(
            DateTime::from_unix_ms(86_400_000 + 3_661_000).to_string(),
            "1970-01-02 01:01:01"
        );
    }

    #[test]
    fn csv_neutralises_formulas_and_quotes() {
        assert_eq!(csv_text("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(csv_text("+1"), "'+1");
        assert_eq!(csv_text("-x"), "'-x");
        assert_eq!(csv_text("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_text("a,b"), "\"a,b\"");
        assert_eq!(csv_text("=a,\"b\""), "\"'=a,\"\"b\"\"\"");
        assert_eq!(csv_text("plain"), "plain");
    }

    #[test]
    fn html_escapes_markup() {
        assert_eq!(
            html_escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }
}
