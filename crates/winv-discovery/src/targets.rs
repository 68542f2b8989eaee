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

    /// Adds every line of `input`: blank lines and `#` comments (whole-line or
    /// trailing) are ignored, bad lines are recorded in [`TargetSet::bad`]
    /// with their line number and skipped. Only a read error is fatal.
    pub fn add_lines<R: Read>(&mut self, input: R, opts: &ParseOptions) -> Result<(), TargetError> {
        let reader = BufReader::new(input);
        for (i, line) in reader.split(b'\n').enumerate() {
            let line = line.map_err(|e| TargetError::Read(e.to_string()))?;
            let text = String::from_utf8_lossy(&line);
            let content = text.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            // Several specifications on one line, separated by spaces or commas.
            for spec in content
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|s| !s.is_empty())
            {
                match parse_spec(spec, opts).and_then(|ts| self.extend(ts, opts)) {
                    Ok(()) => {}
                    Err(error) => self.bad.push(BadLine {
                        line: i + 1,
                        text: spec.to_string(),
                        error,
                    }),
                }
            }
        }
        Ok(())
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
        let input = "# header\n\npc1\n10.0.0.1-2 # trailing\nnot_valid!\n10.0.0.2\nPC1\n10.0.0.0/33\nfd00::1, pc2\n";
        let mut set = TargetSet::new();
        set.add_lines(input.as_bytes(), &ParseOptions::default())
            .unwrap();
        assert_eq!(
            hosts(set.targets()),
            ["pc1", "10.0.0.1", "10.0.0.2", "fd00::1", "pc2"]
        );
        assert_eq!(set.duplicates, 2);
        let bad: Vec<usize> = set.bad.iter().map(|b| b.line).collect();
        assert_eq!(bad, [5, 8]);
        assert_eq!(
            set.bad[0].to_string(),
            "line 5: invalid target \"not_valid!\""
        );
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
        fn lines_of_arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut set = TargetSet::new();
            prop_assert!(set.add_lines(&b[..], &ParseOptions::default()).is_ok());
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
