//! Target specifications: host names, IPv4/IPv6 addresses, CIDR ranges and
//! address ranges, from strings, files or standard input (pure: no I/O beyond
//! the `Read` it is handed).
//!
//! Accepted forms, one per specification:
//! - a host name (`pc1`, `pc1.corp.example`): letters, digits, `-`, `_` and dots,
//!   labels of at most 63 characters, at most 253 characters in all;
//! - an address (`10.0.0.1`, `fe80::1`, `[fe80::1]`);
//! - a CIDR range (`10.0.0.0/24`, `fd00::/120`): every address in the block,
//!   network and broadcast addresses included for a /31 or /32 only, excluded
//!   otherwise for IPv4 (they are not hosts);
//! - an address range (`10.0.0.1-10.0.0.20`, or `10.0.0.1-20` for the last octet,
//!   `fd00::1-fd00::20` for IPv6), both ends included.
//!
//! A target file has one specification per line (`#` starts a comment); a line that is
//! not one valid specification is reported whole with its number and skipped
//! ([`TargetSet::add_lines`]).
//!
//! Expansion is capped ([`ParseOptions::max_addresses`]): a range larger than the
//! cap is refused with [`TargetError::TooLarge`], never silently truncated.

use std::collections::HashSet;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

/// Default cap on the addresses one specification may expand to: a /16.
pub const DEFAULT_MAX_ADDRESSES: u64 = 65_536;

/// One target: the specification it came from and what it names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Target {
    /// The specification as written (for a range: the range, shared by its addresses).
    pub spec: String,
    /// The host name or address.
    pub kind: TargetKind,
}

/// A host name to resolve, or an address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// A DNS host name, lowercased.
    Name(String),
    /// An IP address.
    Addr(IpAddr),
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetKind::Name(n) => f.write_str(n),
            TargetKind::Addr(a) => write!(f, "{a}"),
        }
    }
}

impl Target {
    /// The host (name or address) as text.
    pub fn host(&self) -> String {
        self.kind.to_string()
    }
}

/// Why a specification was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Empty specification.
    #[error("empty target")]
    Empty,
    /// Neither a name, an address, a CIDR block nor a range.
    #[error("invalid target {0:?}")]
    Invalid(String),
    /// A CIDR prefix length beyond the address width.
    #[error("invalid prefix length in {0:?}")]
    BadPrefix(String),
    /// A range whose end is before its start, or whose ends are of different families.
    #[error("invalid range {0:?}: end before start or mixed address families")]
    BadRange(String),
    /// A range that expands to more addresses than allowed.
    #[error("{spec:?} expands to {count} addresses, more than the limit of {max} (raise max addresses to allow it)")]
    TooLarge {
        /// The specification.
        spec: String,
        /// How many addresses it would give.
        count: u128,
        /// The limit.
        max: u64,
    },
    /// An IPv6 address with a zone index (`fe80::1%eth0`): a link-local address names
    /// a host only on one link of this machine, which the scan does not choose.
    #[error("{0:?} has an IPv6 zone index: give a global or unique-local address, or the host name")]
    Zone(String),
    /// Longer than [`MAX_SPEC_CHARS`]: no name or address is.
    #[error("target of {0} characters, longer than any host name or address")]
    TooLong(usize),
    /// A line longer than [`MAX_LINE_BYTES`].
    #[error("line longer than {MAX_LINE_BYTES} bytes")]
    LineTooLong,
    /// A line that is not UTF-8 text.
    #[error("line is not UTF-8 text")]
    NotUtf8,
    /// The file is UTF-16 (what Windows PowerShell's `>` writes).
    #[error("the file is UTF-16 text (as Windows PowerShell's > writes): save it as UTF-8, e.g. with Out-File -Encoding utf8")]
    Utf16,
    /// Reading the input failed.
    #[error("read targets: {0}")]
    Read(String),
}

/// A bad line in a target file: reported and skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number.
    pub line: usize,
    /// The line's text (trimmed).
    pub text: String,
    /// Why it was refused.
    pub error: TargetError,
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.error)
    }
}

/// Limits applied while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Most addresses one specification may expand to.
    pub max_addresses: u64,
    /// Most targets in total (after merging duplicates).
    pub max_total: u64,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            max_addresses: DEFAULT_MAX_ADDRESSES,
            max_total: 1_000_000,
        }
    }
}

/// Parses one specification into its targets (a range gives many).
pub fn parse_spec(spec: &str, opts: &ParseOptions) -> Result<Vec<Target>, TargetError> {
    let s = spec.trim();
    if s.is_empty() {
        return Err(TargetError::Empty);
    }
    let chars = s.chars().count();
    if chars > MAX_SPEC_CHARS {
        return Err(TargetError::TooLong(chars));
    }
    // No name, address, range or CIDR has a space inside: `not a host name!` is one bad
    // target, never the names `not`, `a` and `host`.
    if s.contains(char::is_whitespace) || s.contains(',') {
        return Err(TargetError::Invalid(s.to_string()));
    }
    if s.contains('%') && s.contains(':') {
        let addr = s.split(['/', '-']).next().unwrap_or(s);
        let bare = addr.trim().trim_start_matches('[').trim_end_matches(']');
        if let Some((a, zone)) = bare.split_once('%') {
            if a.parse::<Ipv6Addr>().is_ok() && !zone.is_empty() {
                return Err(TargetError::Zone(s.to_string()));
            }
        }
    }
    if let Some((addr, prefix)) = s.split_once('/') {
        return parse_cidr(s, addr, prefix, opts);
    }
    if let Some(a) = parse_addr(s) {
        return Ok(vec![Target {
            spec: s.to_string(),
            kind: TargetKind::Addr(a),
        }]);
    }
    if let Some((lo, hi)) = s.split_once('-') {
        if let Some(start) = parse_addr(lo) {
            return parse_range(s, start, hi, opts);
        }
    }
    if is_host_name(s) {
        return Ok(vec![Target {
            spec: s.to_string(),
            kind: TargetKind::Name(s.trim_end_matches('.').to_ascii_lowercase()),
        }]);
    }
    Err(TargetError::Invalid(s.to_string()))
}

fn parse_addr(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let inner = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    inner.parse::<IpAddr>().ok()
}

/// Whether `s` is a syntactically valid DNS host name (RFC 1123, with `_`
/// tolerated as Windows allows it in NetBIOS-derived names).
pub fn is_host_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    // An all-numeric dotted string is a malformed address, not a name.
    if s.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return false;
    }
    s.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

fn too_large(spec: &str, count: u128, opts: &ParseOptions) -> Result<(), TargetError> {
    if count > u128::from(opts.max_addresses) {
        return Err(TargetError::TooLarge {
            spec: spec.to_string(),
            count,
            max: opts.max_addresses,
        });
    }
    Ok(())
}

fn parse_cidr(
    spec: &str,
    addr: &str,
    prefix: &str,
    opts: &ParseOptions,
) -> Result<Vec<Target>, TargetError> {
    let base = parse_addr(addr).ok_or_else(|| TargetError::Invalid(spec.to_string()))?;
    let prefix: u32 = prefix
        .trim()
        .parse()
        .map_err(|_| TargetError::BadPrefix(spec.to_string()))?;
    match base {
        IpAddr::V4(v4) => {
            if prefix > 32 {
                return Err(TargetError::BadPrefix(spec.to_string()));
            }
            let host_bits = 32 - prefix;
            let size: u64 = 1u64 << host_bits;
            let mask: u32 = if prefix == 0 {
                0
            } else {
                u32::MAX << host_bits
            };
            let net = u32::from(v4) & mask;
            // Network and broadcast addresses are not hosts, except in /31 and /32.
            let (first, count) = if prefix >= 31 {
                (net, size)
            } else {
                (net.saturating_add(1), size - 2)
            };
            too_large(spec, u128::from(count), opts)?;
            Ok((0..count)
                .filter_map(|i| u32::try_from(i).ok())
                .map(|i| Target {
                    spec: spec.to_string(),
                    kind: TargetKind::Addr(IpAddr::V4(Ipv4Addr::from(first.wrapping_add(i)))),
                })
                .collect())
        }
        IpAddr::V6(v6) => {
            if prefix > 128 {
                return Err(TargetError::BadPrefix(spec.to_string()));
            }
            let host_bits = 128 - prefix;
            let count: u128 = if host_bits >= 128 {
                u128::MAX
            } else {
                1u128 << host_bits
            };
            too_large(spec, count, opts)?;
            let mask: u128 = if prefix == 0 {
                0
            } else {
                u128::MAX << host_bits
            };
            let net = u128::from(v6) & mask;
            Ok((0..count)
                .map(|i| Target {
                    spec: spec.to_string(),
                    kind: TargetKind::Addr(IpAddr::V6(Ipv6Addr::from(net.wrapping_add(i)))),
                })
                .collect())
        }
    }
}

fn parse_range(
    spec: &str,
    start: IpAddr,
    hi: &str,
    opts: &ParseOptions,
) -> Result<Vec<Target>, TargetError> {
    let hi = hi.trim();
    let end = match (start, parse_addr(hi)) {
        (_, Some(end)) => end,
        // `10.0.0.1-20`: the last octet.
        (IpAddr::V4(s4), None) => {
            let last: u8 = hi
                .parse()
                .map_err(|_| TargetError::Invalid(spec.to_string()))?;
            let o = s4.octets();
            IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], last))
        }
        (IpAddr::V6(_), None) => return Err(TargetError::Invalid(spec.to_string())),
    };
    let (lo, hi, v6) = match (start, end) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            (u128::from(u32::from(a)), u128::from(u32::from(b)), false)
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), true),
        _ => return Err(TargetError::BadRange(spec.to_string())),
    };
    if hi < lo {
        return Err(TargetError::BadRange(spec.to_string()));
    }
    let count = (hi - lo).saturating_add(1);
    too_large(spec, count, opts)?;
    Ok((0..count)
        .map(|i| {
            let v = lo + i;
            let addr = if v6 {
                IpAddr::V6(Ipv6Addr::from(v))
            } else {
                // INVARIANT: lo..=hi are u32 values when !v6.
                IpAddr::V4(Ipv4Addr::from(u32::try_from(v).unwrap_or(u32::MAX)))
            };
            Target {
                spec: spec.to_string(),
                kind: TargetKind::Addr(addr),
            }
        })
        .collect())
}

/// An ordered, duplicate-free set of targets being collected.
#[derive(Debug, Default, Clone)]
pub struct TargetSet {
    targets: Vec<Target>,
    seen: HashSet<TargetKind>,
    /// Bad lines or specifications, in input order.
    pub bad: Vec<BadLine>,
    /// How many duplicates were merged.
    pub duplicates: usize,
}

impl TargetSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The targets, first occurrence order.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// Takes the targets out.
    pub fn into_targets(self) -> Vec<Target> {
        self.targets
    }

    /// Adds targets, merging duplicates (same name or address) and keeping the
    /// first; refuses to grow beyond `opts.max_total`.
    fn extend(&mut self, ts: Vec<Target>, opts: &ParseOptions) -> Result<(), TargetError> {
        for t in ts {
            if self.seen.contains(&t.kind) {
                self.duplicates += 1;
                continue;
            }
            if self.targets.len() as u64 >= opts.max_total {
                return Err(TargetError::TooLarge {
                    spec: t.spec,
                    count: u128::from(opts.max_total) + 1,
                    max: opts.max_total,
                });
            }
            self.seen.insert(t.kind.clone());
            self.targets.push(t);
        }
        Ok(())
    }

    /// Adds one specification (e.g. from the command line). Errors are
    /// returned, not recorded: a bad argument is the caller's to report.
    pub fn add_spec(&mut self, spec: &str, opts: &ParseOptions) -> Result<(), TargetError> {
        let ts = parse_spec(spec, opts)?;
        self.extend(ts, opts)
    }

    /// Adds every line of `input`, one target per line: blank lines and `#` comments
    /// (whole-line or trailing) are ignored, surrounding spaces and a CR before the LF
    /// are trimmed, and a line that is not one valid target (spaces inside, a character
    /// no name or address has, bytes that are not UTF-8, longer than
    /// [`MAX_LINE_BYTES`]) is recorded whole in [`TargetSet::bad`] with its line number
    /// and skipped, never split into words. A UTF-8 byte order mark is skipped. Only a
    /// read error, or a UTF-16 file, is fatal.
    pub fn add_lines<R: Read>(&mut self, input: R, opts: &ParseOptions) -> Result<(), TargetError> {
        let mut reader = BufReader::new(input);
        let mut number = 0usize;
        let mut buf = Vec::new();
        loop {
            let line = read_line_bounded(&mut reader, &mut buf)?;
            let Some(too_long) = line else { break };
            number += 1;
            if number == 1 {
                if buf.starts_with(&[0xFF, 0xFE]) || buf.starts_with(&[0xFE, 0xFF]) {
                    return Err(TargetError::Utf16);
                }
                if buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
                    buf.drain(..3);
                }
            }
            let bad = |error| BadLine {
                line: number,
                text: String::new(),
                error,
            };
            if too_long {
                self.bad.push(bad(TargetError::LineTooLong));
                continue;
            }
            let Ok(text) = std::str::from_utf8(&buf) else {
                self.bad.push(bad(TargetError::NotUtf8));
                continue;
            };
            let content = text.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            match parse_spec(content, opts).and_then(|ts| self.extend(ts, opts)) {
                Ok(()) => {}
                Err(error) => self.bad.push(BadLine {
                    line: number,
                    text: content.to_string(),
                    error,
                }),
            }
        }
        Ok(())
    }
}

/// The longest line of a target file read into memory (comments included); a longer
/// line is reported as such and skipped without being kept.
pub const MAX_LINE_BYTES: usize = 4096;

/// The longest target specification: a host name is at most 253 characters (254 with
/// the trailing dot), an IPv6 range about 80.
pub const MAX_SPEC_CHARS: usize = 255;

/// Reads one line (without its `\n`) into `buf`, keeping at most [`MAX_LINE_BYTES`]
/// bytes of it. `None` at the end of the input; `Some(true)` when the line was longer
/// (the rest is read and dropped).
fn read_line_bounded<R: BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
) -> Result<Option<bool>, TargetError> {
    buf.clear();
    let mut any = false;
    let mut too_long = false;
    loop {
        let chunk = match reader.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(TargetError::Read(e.to_string())),
        };
        if chunk.is_empty() {
            return Ok(any.then_some(too_long));
        }
        any = true;
        let (part, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], Some(i + 1)),
            None => (chunk, None),
        };
        if !too_long {
            if buf.len() + part.len() > MAX_LINE_BYTES {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(part);
            }
        }
        let used = done.unwrap_or(chunk.len());
        reader.consume(used);
        if done.is_some() {
            return Ok(Some(too_long));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hosts(ts: &[Target]) -> Vec<String> {
        ts.iter().map(Target::host).collect()
    }

    #[test]
    fn forms() {
        let o = ParseOptions::default();
        assert_eq!(
            hosts(&parse_spec("PC1.Corp.Example.", &o).unwrap()),
            ["pc1.corp.example"]
        );
        assert_eq!(hosts(&parse_spec("10.0.0.7", &o).unwrap()), ["10.0.0.7"]);
        assert_eq!(hosts(&parse_spec("[fe80::1]", &o).unwrap()), ["fe80::1"]);
        assert_eq!(
            hosts(&parse_spec("10.0.0.1-3", &o).unwrap()),
            ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
        );
        assert_eq!(
            hosts(&parse_spec("10.0.0.254-10.0.1.1", &o).unwrap()),
            ["10.0.0.254", "10.0.0.255", "10.0.1.0", "10.0.1.1"]
        );
        assert_eq!(
            hosts(&parse_spec("10.0.0.5/30", &o).unwrap()),
            ["10.0.0.5", "10.0.0.6"]
        );
        assert_eq!(hosts(&parse_spec("10.0.0.9/32", &o).unwrap()), ["10.0.0.9"]);
        assert_eq!(parse_spec("10.0.0.0/24", &o).unwrap().len(), 254);
        assert_eq!(parse_spec("fd00::/120", &o).unwrap().len(), 256);
        assert_eq!(
            hosts(&parse_spec("fd00::1-fd00::2", &o).unwrap()),
            ["fd00::1", "fd00::2"]
        );
        let t = parse_spec("10.0.0.1-2", &o).unwrap();
        assert_eq!(t[1].spec, "10.0.0.1-2");
    }

    #[test]
    fn refusals() {
        let o = ParseOptions::default();
        assert_eq!(parse_spec("  ", &o), Err(TargetError::Empty));
        assert!(matches!(
            parse_spec("10.0.0.0/33", &o),
            Err(TargetError::BadPrefix(_))
        ));
        assert!(matches!(
            parse_spec("10.0.0.9-3", &o),
            Err(TargetError::BadRange(_))
        ));
        assert!(matches!(
            parse_spec("10.0.0.1-fd00::1", &o),
            Err(TargetError::BadRange(_))
        ));
        assert!(matches!(
            parse_spec("10.0.0.1-300", &o),
            Err(TargetError::Invalid(_))
        ));
        assert!(matches!(
            parse_spec("999.1.1.1", &o),
            Err(TargetError::Invalid(_))
        ));
        assert!(matches!(
            parse_spec("bad name!", &o),
            Err(TargetError::Invalid(_))
        ));
        assert!(matches!(
            parse_spec("-pc", &o),
            Err(TargetError::Invalid(_))
        ));
        let e = parse_spec("10.0.0.0/8", &o).unwrap_err();
        assert!(
            matches!(
                e,
                TargetError::TooLarge {
                    count: 16_777_214,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("more than the limit"));
        assert!(matches!(
            parse_spec("::/0", &o),
            Err(TargetError::TooLarge { .. })
        ));
        // An explicit larger cap allows it.
        let big = ParseOptions {
            max_addresses: 1 << 24,
            ..o
        };
        assert_eq!(
            parse_spec("10.0.0.0/12", &big).unwrap().len(),
            (1 << 20) - 2
        );
    }

    #[test]
    fn file_with_comments_bad_lines_and_duplicates() {
        let input = "# header\n\npc1\n10.0.0.1-2 # trailing\nnot_valid!\n10.0.0.2\nPC1\n10.0.0.0/33\nfd00::1, pc2\nfd00::1\n";
        let mut set = TargetSet::new();
        set.add_lines(input.as_bytes(), &ParseOptions::default())
            .unwrap();
        assert_eq!(
            hosts(set.targets()),
            ["pc1", "10.0.0.1", "10.0.0.2", "fd00::1"]
        );
        assert_eq!(set.duplicates, 2);
        let bad: Vec<usize> = set.bad.iter().map(|b| b.line).collect();
        assert_eq!(bad, [5, 8, 9]);
        assert_eq!(
            set.bad[0].to_string(),
            "line 5: invalid target \"not_valid!\""
        );
        // A comma-separated line is one (bad) target, not two.
        assert_eq!(set.bad[2].text, "fd00::1, pc2");
    }

    /// Reads `input` as a target file: the hosts, and the bad lines as (number, error).
    fn read(input: &[u8]) -> (Vec<String>, Vec<(usize, TargetError)>) {
        let mut set = TargetSet::new();
        set.add_lines(input, &ParseOptions::default()).unwrap();
        let bad = set.bad.iter().map(|b| (b.line, b.error.clone())).collect();
        (hosts(set.targets()), bad)
    }

    #[test]
    fn a_line_with_spaces_is_one_bad_target_never_words() {
        let (h, bad) = read(b"pc1\nnot a host name!\n  pc2  \n\tpc3\t\npc4 pc5\n10.0.0.1 - 10.0.0.3\n");
        assert_eq!(h, ["pc1", "pc2", "pc3"]);
        assert_eq!(
            bad,
            [
                (2, TargetError::Invalid("not a host name!".into())),
                (5, TargetError::Invalid("pc4 pc5".into())),
                (6, TargetError::Invalid("10.0.0.1 - 10.0.0.3".into())),
            ]
        );
    }

    #[test]
    fn trailing_dots_zones_reversed_ranges_and_huge_blocks() {
        let (h, bad) = read(
            b"pc1.\npc2..\n.pc3\n10.0.0.1.\nfe80::1%eth0\n[fe80::1%2]\nfe80::1%eth0/64\nfe80::1\n\
              10.0.0.9-10.0.0.3\nfd00::9-fd00::1\n10.0.0.0/8\n::/0\n10.0.0.0/16\n",
        );
        assert_eq!(h.len(), 2 + 65_534, "pc1, fe80::1 and the /16");
        assert_eq!(&h[..2], ["pc1", "fe80::1"]);
        let lines: Vec<usize> = bad.iter().map(|b| b.0).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6, 7, 9, 10, 11, 12]);
        assert!(matches!(bad[3].1, TargetError::Zone(_)), "{:?}", bad[3]);
        assert!(matches!(bad[4].1, TargetError::Zone(_)));
        assert!(matches!(bad[5].1, TargetError::Zone(_)));
        assert!(bad[3].1.to_string().contains("zone"), "{}", bad[3].1);
        assert!(matches!(bad[6].1, TargetError::BadRange(_)));
        assert!(matches!(bad[7].1, TargetError::BadRange(_)));
        assert!(matches!(bad[8].1, TargetError::TooLarge { count: 16_777_214, .. }));
        assert!(matches!(bad[9].1, TargetError::TooLarge { .. }));
    }

    #[test]
    fn crlf_bom_non_utf8_and_a_last_line_without_newline() {
        let mut input = b"\xEF\xBB\xBFpc1\r\npc\xFF2\r\n\r\n# c\r\npc3 # note\r\n".to_vec();
        input.extend_from_slice(b"pc4");
        let (h, bad) = read(&input);
        assert_eq!(h, ["pc1", "pc3", "pc4"]);
        assert_eq!(bad, [(2, TargetError::NotUtf8)]);
        // UTF-16 (Windows PowerShell's `>`): refused as a whole with a clear message.
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("pc1\r\n".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let e = TargetSet::new()
            .add_lines(&utf16[..], &ParseOptions::default())
            .unwrap_err();
        assert_eq!(e, TargetError::Utf16);
        assert!(e.to_string().contains("UTF-16"));
    }

    #[test]
    fn very_long_lines_are_reported_not_kept() {
        let mut input = vec![b'a'; 10 * MAX_LINE_BYTES];
        input.extend_from_slice(b"\npc2\n");
        input.extend(std::iter::repeat_n(b'b', 300));
        input.extend_from_slice(b"\n");
        // A long comment is fine.
        input.extend_from_slice(b"pc3 #");
        input.extend(std::iter::repeat_n(b'c', 3000));
        input.extend_from_slice(b"\n");
        let (h, bad) = read(&input);
        assert_eq!(h, ["pc2", "pc3"]);
        assert_eq!(
            bad,
            [(1, TargetError::LineTooLong), (3, TargetError::TooLong(300))]
        );
        // The message does not echo the 300 characters.
        assert!(TargetError::TooLong(300).to_string().len() < 80);
    }

    #[test]
    fn total_cap() {
        let o = ParseOptions {
            max_addresses: 1000,
            max_total: 300,
        };
        let mut set = TargetSet::new();
        set.add_spec("10.0.0.0/24", &o).unwrap();
        assert!(matches!(
            set.add_spec("10.0.1.0/24", &o),
            Err(TargetError::TooLarge { .. })
        ));
        assert_eq!(set.targets().len(), 300);
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,64}") {
            let _ = parse_spec(&s, &ParseOptions::default());
            let mut set = TargetSet::new();
            let _ = set.add_lines(s.as_bytes(), &ParseOptions::default());
        }

        #[test]
        fn a_line_with_inner_space_never_gives_a_target(a in "[a-z0-9.]{1,20}", b in "[a-z0-9.]{1,20}", sp in "[ \t]{1,3}") {
            let line = format!("{a}{sp}{b}\n");
            let mut set = TargetSet::new();
            set.add_lines(line.as_bytes(), &ParseOptions::default()).unwrap();
            prop_assert!(set.targets().is_empty());
            prop_assert_eq!(set.bad.len(), 1);
            prop_assert_eq!(set.bad[0].line, 1);
        }

        #[test]
        fn lines_of_arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut set = TargetSet::new();
            let got = set.add_lines(&b[..], &ParseOptions::default());
            // Bad lines are reported and skipped; only a UTF-16 byte-order mark refuses
            // the whole input.
            if b.starts_with(&[0xFF, 0xFE]) || b.starts_with(&[0xFE, 0xFF]) {
                prop_assert_eq!(got, Err(TargetError::Utf16));
            } else {
                prop_assert!(got.is_ok());
            }
        }

        #[test]
        fn v4_range_count(a in any::<u32>(), len in 0u32..5000) {
            let b = a.saturating_add(len);
            let spec = format!("{}-{}", Ipv4Addr::from(a), Ipv4Addr::from(b));
            let ts = parse_spec(&spec, &ParseOptions::default()).unwrap();
            prop_assert_eq!(ts.len() as u64, u64::from(b - a) + 1);
            prop_assert_eq!(&ts[0].kind, &TargetKind::Addr(IpAddr::V4(Ipv4Addr::from(a))));
            prop_assert_eq!(&ts[ts.len() - 1].kind, &TargetKind::Addr(IpAddr::V4(Ipv4Addr::from(b))));
        }

        #[test]
        fn v4_cidr_count(a in any::<u32>(), prefix in 16u32..=32) {
            let spec = format!("{}/{}", Ipv4Addr::from(a), prefix);
            let ts = parse_spec(&spec, &ParseOptions::default()).unwrap();
            let size = 1u64 << (32 - prefix);
            let expect = if prefix >= 31 { size } else { size - 2 };
            prop_assert_eq!(ts.len() as u64, expect);
            let uniq: HashSet<_> = ts.iter().map(|t| t.kind.clone()).collect();
            prop_assert_eq!(uniq.len(), ts.len());
        }

        #[test]
        fn v4_cidr_over_cap_refused(a in any::<u32>(), prefix in 0u32..15) {
            let spec = format!("{}/{}", Ipv4Addr::from(a), prefix);
            let refused = matches!(parse_spec(&spec, &ParseOptions::default()), Err(TargetError::TooLarge { .. }));
            prop_assert!(refused);
        }

        #[test]
        fn v6_range_count(a in any::<u128>(), len in 0u128..3000) {
            let b = a.saturating_add(len);
            let spec = format!("{}-{}", Ipv6Addr::from(a), Ipv6Addr::from(b));
            let ts = parse_spec(&spec, &ParseOptions::default()).unwrap();
            prop_assert_eq!(ts.len() as u128, b - a + 1);
        }
    }
}
