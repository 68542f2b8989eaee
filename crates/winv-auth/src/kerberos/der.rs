//! The subset of DER ([X.690] 8 and 10) that Kerberos messages use
//! ([RFC 4120] 5.1): definite lengths, low-tag-number identifiers,
//! INTEGER, BOOLEAN, OCTET STRING, BIT STRING, GeneralString,
//! GeneralizedTime, SEQUENCE (OF) and explicit context / application tags.
//!
//! The reader is total: every length is checked against the bytes that
//! remain before it is used, nesting is bounded by the callers' fixed
//! structure, and nothing is allocated from a length read off the wire.

use super::KrbError;

/// Universal tags.
pub mod tag {
    /// BOOLEAN.
    pub const BOOLEAN: u8 = 0x01;
    /// INTEGER.
    pub const INTEGER: u8 = 0x02;
    /// BIT STRING.
    pub const BIT_STRING: u8 = 0x03;
    /// OCTET STRING.
    pub const OCTET_STRING: u8 = 0x04;
    /// OBJECT IDENTIFIER.
    pub const OID: u8 = 0x06;
    /// ENUMERATED.
    pub const ENUMERATED: u8 = 0x0a;
    /// GeneralizedTime.
    pub const GENERALIZED_TIME: u8 = 0x18;
    /// GeneralString (KerberosString).
    pub const GENERAL_STRING: u8 = 0x1b;
    /// SEQUENCE / SEQUENCE OF.
    pub const SEQUENCE: u8 = 0x30;
}

/// Explicit context tag `[n]` (constructed).
pub const fn ctx(n: u8) -> u8 {
    0xa0 | n
}

/// Application tag `[APPLICATION n]` (constructed).
pub const fn app(n: u8) -> u8 {
    0x60 | n
}

fn malformed(what: &'static str) -> KrbError {
    KrbError::Malformed(what)
}

// ---------------------------------------------------------------- writing

/// Encodes one TLV.
pub fn tlv(t: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(t);
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = (n as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (8 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// `[n] EXPLICIT` around an already encoded value.
pub fn explicit(n: u8, inner: &[u8]) -> Vec<u8> {
    tlv(ctx(n), inner)
}

/// SEQUENCE of already encoded items.
pub fn seq(items: &[Vec<u8>]) -> Vec<u8> {
    tlv(tag::SEQUENCE, &items.concat())
}

/// INTEGER, minimal two's complement.
pub fn int(v: i64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    tlv(tag::INTEGER, &bytes[start..])
}

/// OCTET STRING.
pub fn octets(v: &[u8]) -> Vec<u8> {
    tlv(tag::OCTET_STRING, v)
}

/// GeneralString (KerberosString).
pub fn gstring(s: &str) -> Vec<u8> {
    tlv(tag::GENERAL_STRING, s.as_bytes())
}

/// BOOLEAN.
pub fn boolean(v: bool) -> Vec<u8> {
    tlv(tag::BOOLEAN, &[if v { 0xff } else { 0 }])
}

/// A 32-bit BIT STRING (KerberosFlags, [RFC 4120] 5.2.8), bit 0 the MSB.
pub fn flags32(v: u32) -> Vec<u8> {
    let mut c = vec![0u8];
    c.extend_from_slice(&v.to_be_bytes());
    tlv(tag::BIT_STRING, &c)
}

/// KerberosTime: GeneralizedTime `YYYYMMDDHHMMSSZ` from Unix seconds.
pub fn time(unix: i64) -> Vec<u8> {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let s = format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    tlv(tag::GENERALIZED_TIME, s.as_bytes())
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

// ---------------------------------------------------------------- reading

/// A cursor over concatenated TLVs.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Whether every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The bytes not yet read.
    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }

    /// The identifier of the next TLV, if any.
    pub fn peek_tag(&self) -> Option<u8> {
        self.buf.first().copied()
    }

    /// Reads one TLV: its identifier, its content and the whole encoding.
    pub fn read_raw(&mut self) -> Result<(u8, &'a [u8], &'a [u8]), KrbError> {
        let all = self.buf;
        let t = *all.first().ok_or(malformed("der: truncated identifier"))?;
        if t & 0x1f == 0x1f {
            return Err(malformed("der: high tag numbers are not used by kerberos"));
        }
        let l0 = *all.get(1).ok_or(malformed("der: truncated length"))?;
        let (len, hdr) = if l0 < 0x80 {
            (usize::from(l0), 2)
        } else {
            let n = usize::from(l0 & 0x7f);
            if n == 0 || n > 4 {
                return Err(malformed("der: unsupported length form"));
            }
            let bytes = all.get(2..2 + n).ok_or(malformed("der: truncated length"))?;
            let len = bytes.iter().fold(0usize, |a, b| (a << 8) | usize::from(*b));
            (len, 2 + n)
        };
        let end = hdr.checked_add(len).ok_or(malformed("der: length overflow"))?;
        let content = all.get(hdr..end).ok_or(malformed("der: value longer than its container"))?;
        self.buf = &all[end..];
        Ok((t, content, &all[..end]))
    }

    /// Reads one TLV that must have identifier `t`; returns its content.
    pub fn expect(&mut self, t: u8, what: &'static str) -> Result<&'a [u8], KrbError> {
        let (got, content, _) = self.read_raw()?;
        if got != t {
            return Err(malformed(what));
        }
        Ok(content)
    }

    /// If the next TLV is `[n]`, consumes it and returns its content.
    pub fn optional(&mut self, n: u8) -> Result<Option<&'a [u8]>, KrbError> {
        if self.peek_tag() == Some(ctx(n)) {
            Ok(Some(self.read_raw()?.1))
        } else {
            Ok(None)
        }
    }

    /// The `[n]` field, which must come next.
    pub fn field(&mut self, n: u8, what: &'static str) -> Result<&'a [u8], KrbError> {
        self.optional(n)?.ok_or(malformed(what))
    }
}

/// The content of a SEQUENCE that is the only TLV of `buf`.
pub fn sequence<'a>(buf: &'a [u8], what: &'static str) -> Result<Reader<'a>, KrbError> {
    let mut r = Reader::new(buf);
    let c = r.expect(tag::SEQUENCE, what)?;
    Ok(Reader::new(c))
}

/// The content of `[APPLICATION n]` wrapping a SEQUENCE.
pub fn application<'a>(buf: &'a [u8], n: u8, what: &'static str) -> Result<Reader<'a>, KrbError> {
    let mut r = Reader::new(buf);
    let c = r.expect(app(n), what)?;
    sequence(c, what)
}

/// An INTEGER that fits an i64.
pub fn read_int(buf: &[u8]) -> Result<i64, KrbError> {
    let mut r = Reader::new(buf);
    let c = r.expect(tag::INTEGER, "der: expected an integer")?;
    if c.is_empty() || c.len() > 8 {
        return Err(malformed("der: integer out of range"));
    }
    let neg = c[0] & 0x80 != 0;
    let mut v: i64 = if neg { -1 } else { 0 };
    for b in c {
        v = (v << 8) | i64::from(*b);
    }
    Ok(v)
}

/// An INTEGER that fits an i32.
pub fn read_i32(buf: &[u8]) -> Result<i32, KrbError> {
    i32::try_from(read_int(buf)?).map_err(|_| malformed("der: integer out of range"))
}

/// A UInt32 (nonces and sequence numbers; Windows encodes some of them as
/// negative 32-bit values, which are taken modulo 2^32).
pub fn read_u32(buf: &[u8]) -> Result<u32, KrbError> {
    let v = read_int(buf)?;
    if (i64::from(i32::MIN)..=i64::from(u32::MAX)).contains(&v) {
        Ok(v as u32)
    } else {
        Err(malformed("der: integer out of range"))
    }
}

/// An OCTET STRING.
pub fn read_octets(buf: &[u8]) -> Result<&[u8], KrbError> {
    Reader::new(buf).expect(tag::OCTET_STRING, "der: expected an octet string")
}

/// A KerberosString (GeneralString; IA5String and UTF8String accepted).
pub fn read_string(buf: &[u8]) -> Result<String, KrbError> {
    let (t, c, _) = Reader::new(buf).read_raw()?;
    if !matches!(t, tag::GENERAL_STRING | 0x16 | 0x0c) {
        return Err(malformed("der: expected a string"));
    }
    Ok(String::from_utf8_lossy(c).into_owned())
}

/// A BOOLEAN.
pub fn read_bool(buf: &[u8]) -> Result<bool, KrbError> {
    let c = Reader::new(buf).expect(tag::BOOLEAN, "der: expected a boolean")?;
    match c {
        [0] => Ok(false),
        [_] => Ok(true),
        _ => Err(malformed("der: boolean length")),
    }
}

/// A KerberosFlags BIT STRING as 32 bits (shorter strings are zero-extended).
pub fn read_flags(buf: &[u8]) -> Result<u32, KrbError> {
    let c = Reader::new(buf).expect(tag::BIT_STRING, "der: expected a bit string")?;
    let bits = c.get(1..).ok_or(malformed("der: empty bit string"))?;
    let mut v = [0u8; 4];
    for (d, s) in v.iter_mut().zip(bits) {
        *d = *s;
    }
    Ok(u32::from_be_bytes(v))
}

/// A KerberosTime (`YYYYMMDDHHMMSSZ`, fractions tolerated) as Unix seconds.
pub fn read_time(buf: &[u8]) -> Result<i64, KrbError> {
    let c = Reader::new(buf).expect(tag::GENERALIZED_TIME, "der: expected a time")?;
    if c.len() < 15 || c.last() != Some(&b'Z') || !c[..14].iter().all(u8::is_ascii_digit) {
        return Err(malformed("der: bad kerberos time"));
    }
    let n = |r: std::ops::Range<usize>| -> i64 {
        c[r].iter().fold(0i64, |a, d| a * 10 + i64::from(d - b'0'))
    };
    let (y, mo, d, h, mi, s) = (n(0..4), n(4..6), n(6..8), n(8..10), n(10..12), n(12..14));
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return Err(malformed("der: bad kerberos time"));
    }
    Ok(days_from_civil(y, mo as u32, d as u32) * 86_400 + h * 3600 + mi * 60 + s)
}

/// Items of a SEQUENCE OF: each element's whole encoding.
pub fn read_seq_of(buf: &[u8], max: usize) -> Result<Vec<&[u8]>, KrbError> {
    let mut r = Reader::new(buf);
    let c = r.expect(tag::SEQUENCE, "der: expected a sequence")?;
    let mut inner = Reader::new(c);
    let mut out = Vec::new();
    while !inner.is_empty() {
        if out.len() >= max {
            return Err(malformed("der: too many elements"));
        }
        out.push(inner.read_raw()?.2);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn integers_round_trip_minimally() {
        for v in [0i64, 1, 127, 128, 255, 256, -1, -128, -129, 0x7fff_ffff, 0xffff_ffff, i64::MIN] {
            let e = int(v);
            assert_eq!(read_int(&e).unwrap(), v);
        }
        assert_eq!(int(128), vec![2, 2, 0, 128]);
        assert_eq!(int(-128), vec![2, 1, 0x80]);
        assert_eq!(read_u32(&int(-5)).unwrap(), (-5i32) as u32);
    }

    #[test]
    fn time_round_trips() {
        for t in [0i64, 1_700_000_000, 951_782_400 /* 2000-02-29 */, 4_102_444_799] {
            assert_eq!(read_time(&time(t)).unwrap(), t);
        }
        assert_eq!(time(0), tlv(tag::GENERALIZED_TIME, b"19700101000000Z"));
        assert!(read_time(&tlv(tag::GENERALIZED_TIME, b"19701301000000Z")).is_err());
    }

    #[test]
    fn long_lengths_and_truncation() {
        let big = octets(&[1u8; 300]);
        assert_eq!(&big[..4], &[4, 0x82, 1, 44]);
        assert_eq!(read_octets(&big).unwrap().len(), 300);
        assert!(read_octets(&big[..big.len() - 1]).is_err());
        assert!(Reader::new(&[0x30, 0x85, 1, 1, 1, 1, 1]).read_raw().is_err());
        assert!(Reader::new(&[0x1f, 0]).read_raw().is_err());
    }
}
