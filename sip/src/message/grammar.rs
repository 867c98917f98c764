//! Character classes and small scanners for the RFC 3261 §25 grammar.
//!
//! Every scanner works on `&str` but only ever stops on an ASCII byte (or at the end), so the
//! positions it slices at are always char boundaries, whatever UTF-8 surrounds them.

use std::fmt;

/// `token` characters (RFC 3261 §25.1).
pub(super) fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// `unreserved` characters of URIs.
pub(super) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

/// `user` characters besides escapes: unreserved / user-unreserved.
pub(super) fn is_user(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/')
}

/// `password` characters besides escapes.
pub(super) fn is_password(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',')
}

/// `paramchar` besides escapes: param-unreserved / unreserved.
pub(super) fn is_param(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$')
}

/// `hname` / `hvalue` characters besides escapes: hnv-unreserved / unreserved.
pub(super) fn is_hnv(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$')
}

/// Host name characters (and IPv4); `_` is tolerated because real networks use it.
pub(super) fn is_host(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')
}

/// `word` characters (Call-ID).
pub(super) fn is_word(b: u8) -> bool {
    is_token(b)
        || matches!(
            b,
            b'(' | b')'
                | b'<'
                | b'>'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'{'
                | b'}'
        )
}

/// Characters of an unquoted generic parameter value. The grammar says token / host; we also
/// take other visible ASCII that cannot end a value, and quote it again when writing.
pub(super) fn is_gen_value(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && !matches!(b, b';' | b',' | b'"' | b'<' | b'>')
}

pub(super) fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Trim SP and HTAB (the only linear white space left after unfolding).
pub(super) fn trim_ws(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

pub(super) fn is_token_str(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token)
}

/// Whether `s` consists of characters accepted by `ok` and valid `%HH` escapes.
pub(super) fn is_escaped_run(s: &str, ok: fn(u8) -> bool) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            match (b.get(i + 1), b.get(i + 2)) {
                (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => i += 3,
                _ => return false,
            }
        } else if ok(b[i]) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// Decode `%HH` escapes; the result is UTF-8 with invalid sequences replaced.
pub(super) fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|c| (*c as char).to_digit(16)),
                b.get(i + 2).and_then(|c| (*c as char).to_digit(16)),
            )
        {
            // Two hex digits make at most 0xff, so the cast is lossless.
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse an unsigned decimal made only of ASCII digits, `None` on anything else or overflow.
pub(super) fn parse_digits<T: TryFrom<u64>>(s: &str, max_digits: usize) -> Option<T> {
    if s.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    let mut significant = 0usize;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        if v != 0 || b != b'0' {
            significant += 1;
        }
        if significant > max_digits.min(19) {
            return None;
        }
        v = v * 10 + u64::from(b - b'0');
    }
    T::try_from(v).ok()
}

/// A read position in a header value.
pub(super) struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(s: &'a str) -> Cursor<'a> {
        Cursor { s, pos: 0 }
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    pub(super) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Move past `n` bytes the caller has checked (ASCII), never beyond the end.
    pub(super) fn advance(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.s.len());
    }

    pub(super) fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// Take the longest run of ASCII bytes accepted by `f`.
    pub(super) fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii() && f(b)) {
            self.pos += 1;
        }
        // Both ends sit on ASCII bytes or the end of the string: char boundaries.
        self.s.get(start..self.pos).unwrap_or("")
    }

    /// Everything not yet read.
    pub(super) fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or("")
    }

    /// Parse a quoted-string starting at the current `"`; returns the unescaped content.
    pub(super) fn quoted(&mut self) -> Option<String> {
        if !self.eat(b'"') {
            return None;
        }
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Some(out);
                }
                '\\' => match chars.next() {
                    Some((_, '\r' | '\n')) | None => return None,
                    Some((_, e)) => out.push(e),
                },
                '\r' | '\n' => return None,
                c => out.push(c),
            }
        }
        None
    }
}

/// Write `s` as a quoted-string, escaping what qdtext cannot carry.
pub(super) fn write_quoted(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                f.write_char('\\')?;
                f.write_char(c)?;
            }
            // CR and LF cannot appear even as quoted-pair; a header value never holds them.
            '\r' | '\n' => f.write_char(' ')?,
            c if c != '\t' && (c < ' ' || c == '\x7f') => {
                f.write_char('\\')?;
                f.write_char(c)?;
            }
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// Split a header value at commas that are outside quoted strings and `<...>`.
/// Pieces are returned raw (not trimmed, empty ones kept).
pub(super) struct TopLevel<'a> {
    rest: Option<&'a str>,
}

impl<'a> TopLevel<'a> {
    pub(super) fn new(s: &'a str) -> TopLevel<'a> {
        TopLevel { rest: Some(s) }
    }
}

/// Byte index of the first comma outside quotes and angle brackets.
pub(super) fn top_level_comma(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut in_quotes = false;
    let mut depth = 0u32;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if in_quotes => i += 1,
            b'"' => in_quotes = !in_quotes,
            b'<' if !in_quotes => depth += 1,
            b'>' if !in_quotes => depth = depth.saturating_sub(1),
            b',' if !in_quotes && depth == 0 => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

impl<'a> Iterator for TopLevel<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let s = self.rest?;
        match top_level_comma(s) {
            Some(i) => {
                // `i` is the index of an ASCII comma, so both slices are on char boundaries.
                self.rest = s.get(i + 1..);
                s.get(..i)
            }
            None => {
                self.rest = None;
                Some(s)
            }
        }
    }
}

/// `fmt::Write` into a byte buffer.
pub(super) struct VecWriter<'a>(pub(super) &'a mut Vec<u8>);

impl fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_split_respects_quotes_and_brackets() {
        let v: Vec<_> = TopLevel::new(r#""a, \"b" <sip:x,y>;p=1, <sip:z>,"#).collect();
        assert_eq!(v, vec![r#""a, \"b" <sip:x,y>;p=1"#, " <sip:z>", ""]);
    }

    #[test]
    fn digits() {
        assert_eq!(parse_digits::<u32>("0009", 10), Some(9));
        assert_eq!(parse_digits::<u32>("36893488147419103232", 10), None);
        assert_eq!(parse_digits::<u8>("300", 3), None);
        assert_eq!(parse_digits::<u32>("-1", 10), None);
        assert_eq!(parse_digits::<u32>("", 10), None);
    }

    #[test]
    fn quoted_string() {
        let mut c = Cursor::new(r#""J Rosenberg \\\"" rest"#);
        assert_eq!(c.quoted().as_deref(), Some(r#"J Rosenberg \""#));
        assert_eq!(c.rest(), " rest");
        assert_eq!(Cursor::new("\"open").quoted(), None);
    }
}
