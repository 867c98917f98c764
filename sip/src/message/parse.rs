//! Reading messages: one datagram or framed message ([`parse`]) and stream framing
//! ([`frame`]).
//!
//! What `parse` refuses is what makes a message unusable for any layer: a broken start line,
//! a header line that is not `name: value`, a body that disagrees with Content-Length, and a
//! Via or CSeq that cannot be read (transactions are matched on them). Everything else is
//! kept as text and judged later by [`Request::validate`](super::Request::validate), so a
//! malformed optional header never sinks a message.

use bytes::Bytes;

use super::grammar::{self, TopLevel};
use super::headers::{CSeq, Header, HeaderName, Headers, Via};
use super::uri::Uri;
use super::{Message, Method, Request, Response};

/// Most header lines a message may carry.
pub const MAX_HEADERS: usize = 256;
/// Longest header value (after unfolding), in bytes.
pub const MAX_HEADER_LEN: usize = 16 * 1024;

/// What was wrong with the bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    #[error("empty message")]
    Empty,
    #[error("malformed start line")]
    BadStartLine,
    #[error("unsupported SIP version")]
    VersionNotSupported,
    #[error("malformed Request-URI")]
    BadRequestUri,
    #[error("malformed status code")]
    BadStatusCode,
    #[error("malformed header line")]
    BadHeaderLine,
    #[error("malformed {0} header")]
    BadHeader(HeaderName),
    #[error("header section not ended by an empty line")]
    UnterminatedHeaders,
    #[error("malformed Content-Length")]
    BadContentLength,
    #[error("missing Content-Length on a stream")]
    MissingContentLength,
    #[error("body shorter than Content-Length")]
    Truncated,
    #[error("more than {MAX_HEADERS} header lines")]
    TooManyHeaders,
    #[error("header longer than {MAX_HEADER_LEN} bytes")]
    HeaderTooLong,
    #[error("message larger than the limit")]
    TooLarge,
    #[error("malformed URI")]
    BadUri,
    #[error("malformed name-addr")]
    BadNameAddr,
}

impl ParseErrorKind {
    /// The status a UAS answers a request failing this way with.
    pub fn status(&self) -> u16 {
        match self {
            ParseErrorKind::VersionNotSupported => 505,
            ParseErrorKind::TooManyHeaders
            | ParseErrorKind::HeaderTooLong
            | ParseErrorKind::TooLarge => 513,
            _ => 400,
        }
    }
}

/// Why bytes could not be read as a message, and how to answer them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct ParseError {
    pub kind: ParseErrorKind,
    /// The status a UAS should answer with if this was a request and a response can be
    /// formed (400, 505, 513); `None` for responses and unrecognisable bytes: drop them.
    pub status: Option<u16>,
    /// The headers recovered, when the start line said request.
    pub recovered: Option<Headers>,
}

/// Headers an error response copies from the request (RFC 3261 §8.2.6.2).
const ECHOED: [HeaderName; 5] = [
    HeaderName::Via,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
];

impl ParseError {
    /// An error from a typed view (`Via::parse`, `Uri::parse`, ...): no headers recovered.
    pub(super) fn new(kind: ParseErrorKind) -> ParseError {
        ParseError {
            status: Some(kind.status()),
            kind,
            recovered: None,
        }
    }

    fn of_message(kind: ParseErrorKind, is_request: bool, headers: Headers) -> ParseError {
        ParseError {
            status: is_request.then(|| kind.status()),
            recovered: is_request.then_some(headers),
            kind,
        }
    }

    /// Whether the start line said request (only then may it be answered).
    pub fn is_request(&self) -> bool {
        self.recovered.is_some()
    }

    /// The error response to send, when the input was a request and Via, From, To, Call-ID
    /// and CSeq were recovered; `None` means drop silently.
    pub fn response(&self) -> Option<Response> {
        let status = self.status?;
        let recovered = self.recovered.as_ref()?;
        if ECHOED.iter().any(|n| recovered.get(n).is_none()) {
            return None;
        }
        let mut resp = Response::new(status);
        for h in recovered.iter().filter(|h| ECHOED.contains(&h.name)) {
            resp.headers.push(h.name.clone(), h.value.clone());
        }
        Some(resp)
    }
}

/// The outcome of looking for one message at the front of a stream buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The next message, body included, is this many bytes long.
    Complete(usize),
    /// This many leading CR/LF bytes (RFC 5626 keep-alive, or RFC 3261 §7.5 padding) to skip.
    KeepAlive(usize),
    /// More bytes are needed.
    Incomplete,
    /// The stream cannot be framed; answer (if `response()` allows) and close it.
    Invalid(ParseError),
}

/// The next line from `pos`: its content (without CR LF) and where the following one
/// starts. `None` when no LF is left.
fn next_line(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let tail = buf.get(pos..)?;
    let lf = tail.iter().position(|&b| b == b'\n')?;
    let content = &tail[..lf];
    let content = content.strip_suffix(b"\r").unwrap_or(content);
    Some((content, pos + lf + 1))
}

fn leading_crlf(buf: &[u8]) -> usize {
    buf.iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count()
}

/// Whether a start line is shaped like a request line (so an error can be answered).
fn looks_like_request(line: &[u8]) -> bool {
    let first = line.split(|b| *b == b' ').next().unwrap_or(&[]);
    !first.is_empty()
        && first.iter().all(|b| grammar::is_token(*b))
        && !(first.len() >= 4 && first[..4].eq_ignore_ascii_case(b"SIP/"))
}

fn check_version(v: &[u8]) -> Result<(), ParseErrorKind> {
    if v.eq_ignore_ascii_case(b"SIP/2.0") {
        return Ok(());
    }
    let numbers = v
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case(b"SIP/"))
        .and_then(|_| std::str::from_utf8(&v[4..]).ok())
        .and_then(|n| n.split_once('.'))
        .is_some_and(|(major, minor)| {
            [major, minor]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        });
    Err(if numbers {
        ParseErrorKind::VersionNotSupported
    } else {
        ParseErrorKind::BadStartLine
    })
}

enum StartLine {
    Request(Method, Uri),
    Response(u16, String),
}

fn parse_start_line(line: &[u8]) -> Result<StartLine, ParseErrorKind> {
    if line.contains(&b'\r') {
        return Err(ParseErrorKind::BadStartLine);
    }
    if line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"SIP/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let sp = line
            .iter()
            .position(|b| *b == b' ')
            .ok_or(ParseErrorKind::BadStartLine)?;
        check_version(&line[..sp])?;
        let rest = &line[sp + 1..];
        let code = rest.get(..3).ok_or(ParseErrorKind::BadStatusCode)?;
        let status = std::str::from_utf8(code)
            .ok()
            .and_then(|c| grammar::parse_digits::<u16>(c, 3))
            .filter(|s| (100..=699).contains(s) && code.iter().all(u8::is_ascii_digit))
            .ok_or(ParseErrorKind::BadStatusCode)?;
        let reason = match &rest[3..] {
            [] => String::new(),
            [b' ', reason @ ..] => String::from_utf8_lossy(reason).into_owned(),
            _ => return Err(ParseErrorKind::BadStatusCode),
        };
        return Ok(StartLine::Response(status, reason));
    }
    // Request-Line = Method SP Request-URI SP SIP-Version: exactly one SP between elements.
    let mut parts = line.split(|b| *b == b' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseErrorKind::BadStartLine);
    };
    if method.is_empty() || !method.iter().all(|b| grammar::is_token(*b)) {
        return Err(ParseErrorKind::BadStartLine);
    }
    check_version(version)?;
    let uri = std::str::from_utf8(uri)
        .ok()
        .and_then(|u| Uri::parse(u).ok())
        .filter(|u| u.headers.is_empty())
        .ok_or(ParseErrorKind::BadRequestUri)?;
    // The method bytes are all token characters, hence ASCII.
    let method = std::str::from_utf8(method).map_err(|_| ParseErrorKind::BadStartLine)?;
    Ok(StartLine::Request(Method::from_token(method), uri))
}

/// The header section after the start line.
struct Head {
    headers: Headers,
    /// The first problem met; parsing went on to recover what it could.
    error: Option<ParseErrorKind>,
    /// Where the body starts; `None` when no empty line ends the headers.
    body_start: Option<usize>,
}

/// Split `name HCOLON value` (white space allowed before the colon).
fn header_line(line: &[u8]) -> Option<(HeaderName, &[u8])> {
    let name_len = line.iter().take_while(|b| grammar::is_token(**b)).count();
    if name_len == 0 {
        return None;
    }
    let after = &line[name_len..];
    let ws = after.iter().take_while(|b| grammar::is_ws(**b)).count();
    let value = after[ws..].strip_prefix(b":")?;
    // Token characters are ASCII, so this cannot fail; stay total anyway.
    let name = std::str::from_utf8(&line[..name_len]).ok()?;
    Some((HeaderName::from_wire(name), value))
}

fn trim_ws_bytes(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !grammar::is_ws(*c))
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !grammar::is_ws(*c))
        .map_or(start, |e| e + 1);
    &b[start..end]
}

fn parse_head(buf: &[u8], mut pos: usize) -> Head {
    let mut headers = Headers::with_capacity(16);
    let mut error: Option<ParseErrorKind> = None;
    let mut current: Option<Header> = None;
    let mut body_start = None;

    fn flush(
        current: &mut Option<Header>,
        headers: &mut Headers,
        error: &mut Option<ParseErrorKind>,
    ) {
        if let Some(h) = current.take() {
            if h.value.len() > MAX_HEADER_LEN {
                error.get_or_insert(ParseErrorKind::HeaderTooLong);
            } else {
                headers.list_mut().push(h);
            }
        }
    }

    loop {
        let (line, next) = match next_line(buf, pos) {
            Some(l) => l,
            None if pos < buf.len() => (&buf[pos..], buf.len()),
            None => break,
        };
        pos = next;
        if line.is_empty() {
            body_start = Some(pos);
            break;
        }
        if line.contains(&b'\r') {
            error.get_or_insert(ParseErrorKind::BadHeaderLine);
            continue;
        }
        if grammar::is_ws(line[0]) {
            // Folded continuation: LWS collapses to one SP.
            let more = trim_ws_bytes(line);
            match current.as_mut() {
                Some(h) if !more.is_empty() => {
                    if !h.value.is_empty() {
                        h.value.push(' ');
                    }
                    h.value.push_str(&String::from_utf8_lossy(more));
                }
                Some(_) => {}
                None => {
                    error.get_or_insert(ParseErrorKind::BadHeaderLine);
                }
            }
            continue;
        }
        flush(&mut current, &mut headers, &mut error);
        if headers.len() >= MAX_HEADERS {
            error.get_or_insert(ParseErrorKind::TooManyHeaders);
            break;
        }
        match header_line(line) {
            Some((name, value)) => {
                let value = trim_ws_bytes(value);
                current = Some(Header {
                    name,
                    value: String::from_utf8_lossy(value).into_owned(),
                });
            }
            None => {
                error.get_or_insert(ParseErrorKind::BadHeaderLine);
            }
        }
    }
    flush(&mut current, &mut headers, &mut error);
    Head {
        headers,
        error,
        body_start,
    }
}

/// What the Content-Length lines say about the body.
enum BodyLength {
    Absent,
    Exact(usize),
    /// Several lines that disagree: the body is unknowable; validation refuses the request.
    Conflicting,
}

fn body_length<'a>(values: impl Iterator<Item = &'a str>) -> Result<BodyLength, ParseErrorKind> {
    let mut found = BodyLength::Absent;
    for v in values {
        let n = grammar::parse_digits::<usize>(grammar::trim_ws(v), 19)
            .ok_or(ParseErrorKind::BadContentLength)?;
        found = match found {
            BodyLength::Absent => BodyLength::Exact(n),
            BodyLength::Exact(m) if m == n => BodyLength::Exact(m),
            _ => BodyLength::Conflicting,
        };
    }
    Ok(found)
}

/// Parse one message: a datagram, or a stream message cut by [`frame`].
///
/// Leading CR/LF are skipped (RFC 3261 §7.5). Bytes beyond Content-Length are discarded; with
/// no Content-Length the body is the rest of the input (datagram rule). The parsed headers
/// hold one Content-Length equal to the body length (added or normalised), unless the wire
/// carried several.
pub fn parse(bytes: &[u8]) -> Result<Message, ParseError> {
    let buf = &bytes[leading_crlf(bytes)..];
    if buf.is_empty() {
        return Err(ParseError {
            kind: ParseErrorKind::Empty,
            status: None,
            recovered: None,
        });
    }
    let (start, after_start) = next_line(buf, 0).unwrap_or((buf, buf.len()));
    let is_request = looks_like_request(start);
    let head = parse_head(buf, after_start);
    let fail = |kind, headers| Err(ParseError::of_message(kind, is_request, headers));

    let start_line = match parse_start_line(start) {
        Ok(s) => s,
        Err(kind) => return fail(kind, head.headers),
    };
    if let Some(kind) = head.error {
        return fail(kind, head.headers);
    }
    let mut headers = head.headers;
    let Some(body_start) = head.body_start else {
        return fail(ParseErrorKind::UnterminatedHeaders, headers);
    };
    let rest = &buf[body_start..];
    let cl_lines = headers.get_all(&HeaderName::ContentLength).count();
    let body_len = match body_length(headers.get_all(&HeaderName::ContentLength)) {
        Err(kind) => return fail(kind, headers),
        Ok(BodyLength::Absent | BodyLength::Conflicting) => rest.len(),
        Ok(BodyLength::Exact(n)) if n > rest.len() => {
            return fail(ParseErrorKind::Truncated, headers);
        }
        Ok(BodyLength::Exact(n)) => n,
    };
    let vias_ok = headers
        .get_all(&HeaderName::Via)
        .flat_map(TopLevel::new)
        .all(|v| Via::parse(v).is_ok());
    if !vias_ok {
        return fail(ParseErrorKind::BadHeader(HeaderName::Via), headers);
    }
    if !headers
        .get_all(&HeaderName::CSeq)
        .all(|c| CSeq::parse(c).is_ok())
    {
        return fail(ParseErrorKind::BadHeader(HeaderName::CSeq), headers);
    }

    // One Content-Length, written canonically, so that parse(write(m)) == m.
    let canonical = |v: &str| v.len() == 1 || !v.starts_with('0');
    match cl_lines {
        0 => headers.push(HeaderName::ContentLength, body_len.to_string()),
        1 if headers.content_length() != Some(body_len)
            || !headers
                .get(&HeaderName::ContentLength)
                .is_some_and(canonical) =>
        {
            headers.set(HeaderName::ContentLength, body_len.to_string());
        }
        _ => {}
    }
    let body = Bytes::copy_from_slice(&rest[..body_len]);
    Ok(match start_line {
        StartLine::Request(method, uri) => Message::Request(Request {
            method,
            uri,
            headers,
            body,
        }),
        StartLine::Response(status, reason) => Message::Response(Response {
            status,
            reason,
            headers,
            body,
        }),
    })
}

/// Find the next message in a stream buffer (RFC 3261 §18.3: framed by Content-Length,
/// which is mandatory on streams). `max_message` bounds the header section and the whole
/// message.
pub fn frame(buf: &[u8], max_message: usize) -> Frame {
    let lead = leading_crlf(buf);
    if lead > 0 {
        return Frame::KeepAlive(lead);
    }
    if buf.is_empty() {
        return Frame::Incomplete;
    }
    let window = &buf[..buf.len().min(max_message)];
    let Some((start, mut pos)) = next_line(window, 0) else {
        return too_large_or_incomplete(buf, max_message);
    };
    let invalid = |kind: ParseErrorKind, body_start: Option<usize>| {
        let is_request = looks_like_request(start);
        let headers = if is_request {
            parse_head(
                &buf[..body_start.unwrap_or(window.len())],
                pos_after(window),
            )
            .headers
        } else {
            Headers::new()
        };
        Frame::Invalid(ParseError::of_message(kind, is_request, headers))
    };

    // Scan the header lines for Content-Length (folding included) and the empty line.
    let mut cl_values: Vec<String> = Vec::new();
    let mut in_cl = false;
    let body_start = loop {
        let Some((line, next)) = next_line(window, pos) else {
            if buf.len() >= max_message {
                return invalid(ParseErrorKind::TooLarge, None);
            }
            return Frame::Incomplete;
        };
        pos = next;
        if line.is_empty() {
            break pos;
        }
        if grammar::is_ws(line[0]) {
            if in_cl && let Some(last) = cl_values.last_mut() {
                last.push(' ');
                last.push_str(&String::from_utf8_lossy(trim_ws_bytes(line)));
            }
            continue;
        }
        in_cl = false;
        if let Some((name, value)) = header_line(line)
            && name == HeaderName::ContentLength
        {
            in_cl = true;
            cl_values.push(String::from_utf8_lossy(trim_ws_bytes(value)).into_owned());
        }
    };
    let cl = match body_length(cl_values.iter().map(|v| grammar::trim_ws(v))) {
        Ok(BodyLength::Exact(n)) => n,
        Ok(BodyLength::Absent) => {
            return invalid(ParseErrorKind::MissingContentLength, Some(body_start));
        }
        Ok(BodyLength::Conflicting) | Err(_) => {
            return invalid(ParseErrorKind::BadContentLength, Some(body_start));
        }
    };
    match body_start.checked_add(cl) {
        Some(total) if total <= max_message => {
            if buf.len() >= total {
                Frame::Complete(total)
            } else {
                Frame::Incomplete
            }
        }
        _ => invalid(ParseErrorKind::TooLarge, Some(body_start)),
    }
}

/// Where the header lines start (after the start line).
fn pos_after(window: &[u8]) -> usize {
    next_line(window, 0).map_or(window.len(), |(_, next)| next)
}

fn too_large_or_incomplete(buf: &[u8], max_message: usize) -> Frame {
    if buf.len() >= max_message {
        let start = &buf[..max_message.min(buf.len())];
        Frame::Invalid(ParseError::of_message(
            ParseErrorKind::TooLarge,
            looks_like_request(start),
            Headers::new(),
        ))
    } else {
        Frame::Incomplete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\
From: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 4\r\n\r\nbody";

    #[test]
    fn frames_a_stream() {
        assert_eq!(frame(OPTIONS, 4096), Frame::Complete(OPTIONS.len()));
        assert_eq!(
            frame(&OPTIONS[..OPTIONS.len() - 1], 4096),
            Frame::Incomplete
        );
        assert_eq!(frame(&OPTIONS[..20], 4096), Frame::Incomplete);
        let mut two = b"\r\n\r\n".to_vec();
        two.extend_from_slice(OPTIONS);
        assert_eq!(frame(&two, 4096), Frame::KeepAlive(4));
        let mut both = OPTIONS.to_vec();
        both.extend_from_slice(OPTIONS);
        assert_eq!(frame(&both, 4096), Frame::Complete(OPTIONS.len()));
        match frame(OPTIONS, 64) {
            Frame::Invalid(e) => {
                assert_eq!(e.kind, ParseErrorKind::TooLarge);
                assert_eq!(e.status, Some(513));
            }
            other => panic!("{other:?}"),
        }
        let no_cl = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\
From: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n";
        match frame(no_cl, 4096) {
            Frame::Invalid(e) => {
                assert_eq!(e.kind, ParseErrorKind::MissingContentLength);
                assert_eq!(e.response().map(|r| r.status), Some(400));
            }
            other => panic!("{other:?}"),
        }
        let folded = b"SIP/2.0 200 OK\r\nl:\r\n  2\r\n\r\nhi";
        assert_eq!(frame(folded, 4096), Frame::Complete(folded.len()));
    }

    #[test]
    fn parses_and_normalises_content_length() {
        let Message::Request(r) = parse(OPTIONS).unwrap() else {
            panic!("request")
        };
        assert_eq!(&r.body[..], b"body");
        assert_eq!(r.headers.content_length(), Some(4));
        let lf_only = b"SIP/2.0 100 \nVia: SIP/2.0/UDP h\nl: 000\n\n";
        let Message::Response(r) = parse(lf_only).unwrap() else {
            panic!("response")
        };
        assert_eq!(r.reason, "");
        assert_eq!(r.headers.get(&HeaderName::ContentLength), Some("0"));
    }

    #[test]
    fn start_line_errors() {
        let e = parse(b"OPTIONS sip:a@b SIP/7.0\r\n\r\n").unwrap_err();
        assert_eq!(
            (&e.kind, e.status),
            (&ParseErrorKind::VersionNotSupported, Some(505))
        );
        let e = parse(b"SIP/2.0 4294967301 x\r\n\r\n").unwrap_err();
        assert_eq!((&e.kind, e.status), (&ParseErrorKind::BadStatusCode, None));
        assert!(!e.is_request());
        let e = parse(b"\xff\xfe garbage\r\n\r\n").unwrap_err();
        assert_eq!(e.status, None);
        assert!(parse(b"").is_err());
        assert!(parse(b"\r\n\r\n").is_err());
    }
}
