//! The fast path of verification: a record line read in one pass over its
//! bytes, without JSON values or allocation, and its hash checked by
//! hashing the line around its `"hash":"…",` member (the canonical
//! encoding without `hash` is exactly the line with that member removed,
//! keys being sorted).
//!
//! It accepts only the plain shape every appended record has: canonical key
//! order, strings without escapes or control characters, canonical integers,
//! lowercase hex, a `YYYY-MM-DDTHH:MM:SSZ` time from 1970 on. Anything else
//! returns `None` and goes to [`Record::parse_line`](super::Record::parse_line),
//! the one definition of a record, which also says what is wrong. So the
//! fast path may only ever be narrower: whenever it accepts a line, the slow
//! path accepts it with the same fields and the same hash verdict (checked
//! by unit tests here and by the `audit_record` fuzz target).

use sha2::{Digest, Sha256};

use super::MAX_FIELD;

/// What verification needs of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FastRecord<'a> {
    /// `seq`.
    pub seq: u64,
    /// `prev`.
    pub prev: &'a str,
    /// `hash`.
    pub hash: &'a str,
    /// Whether `hash` is the SHA-256 of the record without it.
    pub hash_ok: bool,
}

struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn lit(&mut self, l: &[u8]) -> Option<()> {
        let end = self.at.checked_add(l.len())?;
        (self.s.get(self.at..end)? == l).then(|| self.at = end)
    }

    /// A string body up to its closing quote: no escape, no control character.
    fn string(&mut self) -> Option<&'a str> {
        let rest = self.s.get(self.at..)?;
        let len = rest.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if rest[len] != b'"' {
            return None;
        }
        let s = std::str::from_utf8(&rest[..len]).ok()?;
        // U+007F..U+009F are control characters too (written raw by JSON encoders).
        if s.is_empty() || s.len() > MAX_FIELD || s.chars().any(char::is_control) {
            return None;
        }
        self.at += len + 1;
        Some(s)
    }

    fn digits(&mut self) -> Option<&'a [u8]> {
        let rest = self.s.get(self.at..)?;
        let len = rest.iter().position(|b| !b.is_ascii_digit()).unwrap_or(rest.len());
        let d = &rest[..len];
        // Canonical: no leading zero, except the number 0 itself.
        if d.is_empty() || (d.len() > 1 && d[0] == b'0') {
            return None;
        }
        self.at += len;
        Some(d)
    }

    fn u64(&mut self) -> Option<u64> {
        std::str::from_utf8(self.digits()?).ok()?.parse().ok()
    }

    fn i32(&mut self) -> Option<i32> {
        let neg = self.lit(b"-").is_some();
        let d = std::str::from_utf8(self.digits()?).ok()?;
        if neg && d == "0" {
            return None;
        }
        let v: i64 = d.parse().ok()?;
        i32::try_from(if neg { -v } else { v }).ok()
    }

    fn hex64(&mut self) -> Option<&'a str> {
        let h = self.s.get(self.at..self.at + 64)?;
        if !h.iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b)) {
            return None;
        }
        self.at += 64;
        std::str::from_utf8(h).ok()
    }
}

fn num(b: &[u8]) -> u32 {
    b.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'))
}

/// `YYYY-MM-DDTHH:MM:SSZ`, a real UTC calendar time from 1970 on.
fn is_time(t: &[u8]) -> bool {
    if t.len() != 20 || &t[4..5] != b"-" || &t[7..8] != b"-" || t[10] != b'T' || t[13] != b':' || t[16] != b':' {
        return false;
    }
    if t[19] != b'Z'
        || ![0..4, 5..7, 8..10, 11..13, 14..16, 17..19].iter().all(|r| t[r.clone()].iter().all(u8::is_ascii_digit))
    {
        return false;
    }
    let (y, mo, d) = (num(&t[0..4]), num(&t[5..7]), num(&t[8..10]));
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match mo {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    y >= 1970 && (1..=days).contains(&d) && num(&t[11..13]) < 24 && num(&t[14..16]) < 60 && num(&t[17..19]) < 60
}

/// Reads a record line (no newline) on the fast path; `None` sends it to
/// the full parser.
pub(crate) fn parse(line: &[u8]) -> Option<FastRecord<'_>> {
    let mut c = Cursor { s: line, at: 0 };
    c.lit(br#"{"action":""#)?;
    c.string()?;
    c.lit(br#","actor":""#)?;
    c.string()?;
    c.lit(br#","duration_ms":"#)?;
    c.u64()?;
    c.lit(br#","exit_code":"#)?;
    c.i32()?;
    let hash_member = c.at + 1; // the `"` of `"hash"`, after the comma
    c.lit(br#","hash":""#)?;
    let hash = c.hex64()?;
    c.lit(br#"","params_hash":""#)?;
    let after_hash = hash_member + br#""hash":""#.len() + 64 + 2; // past `",`
    c.hex64()?;
    c.lit(br#"","prev":""#)?;
    let prev = c.hex64()?;
    c.lit(br#"","seq":"#)?;
    let seq = c.u64().filter(|&s| s > 0)?;
    c.lit(br#","tool":""#)?;
    c.string()?;
    c.lit(br#","ts":""#)?;
    let ts = line.get(c.at..c.at + 20)?;
    if !is_time(ts) {
        return None;
    }
    c.at += 20;
    c.lit(br#""}"#)?;
    if c.at != line.len() {
        return None;
    }
    let mut h = Sha256::new();
    h.update(&line[..hash_member]);
    h.update(&line[after_hash..]);
    let digest = h.finalize();
    let hash_ok = hash.as_bytes().chunks(2).zip(digest.iter()).all(|(pair, byte)| {
        let hexval = |b: u8| if b.is_ascii_digit() { b - b'0' } else { b - b'a' + 10 };
        (hexval(pair[0]) << 4 | hexval(pair[1])) == *byte
    });
    Some(FastRecord { seq, prev, hash, hash_ok })
}

/// Panics if the fast path accepts `line` differently from
/// [`Record::parse_line`](super::Record::parse_line): the implication the
/// fast path must keep for any bytes (the fuzz target and tests call it).
pub fn agrees(line: &[u8]) {
    let Some(f) = parse(line) else { return };
    let text = std::str::from_utf8(line).expect("the fast path accepted non-UTF-8");
    let rec = super::Record::parse_line(text)
        .unwrap_or_else(|e| panic!("the fast path accepted what parse_line refuses ({e}): {text}"));
    assert_eq!((f.seq, f.prev, f.hash), (rec.seq, rec.prev.as_str(), rec.hash.as_str()));
    assert_eq!(f.hash_ok, rec.compute_hash() == rec.hash, "{text}");
}

#[cfg(test)]
mod tests;
