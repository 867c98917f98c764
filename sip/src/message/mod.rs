//! SIP message types and their wire codec (RFC 3261 §7, §20, §25).
//!
//! We hand-write this parser instead of using `rsip`. rsip has had no release since 2022, and
//! measured against the RFC 4475 torture set (rsip 0.4.0, all 51 messages) it rejects 6 of
//! the 22 valid messages (line folding, LWS before `:`, extension methods such as
//! `RE%47IST%45R`), accepts 12 of the 21 invalid ones, has no compact header names (`l:`,
//! `i:`, `v:` …) and does not frame bodies by Content-Length (the second INVITE of `dblreq`
//! becomes a body). It did not panic. We also need what it does not offer: lenient header
//! parsing that keeps a message whose optional header is malformed, recovery of enough
//! headers from a broken request to answer it with the right 4xx, and exact torture-set
//! outcomes (`sip/tests/torture.rs`), with zero panics on hostile bytes (fuzz target
//! `fuzz/fuzz_targets/sip_message.rs`).
//!
//! Shape: a [`Message`] keeps its headers as an ordered list of (name, unfolded value). Typed
//! views ([`Via`], [`NameAddr`], [`CSeq`], …) are parsed on demand from those values, so one
//! malformed optional header never sinks the whole message; [`Request::validate`] decides
//! what a user agent must answer for a malformed *required* header.
//!
//! Where each RFC 4475 refusal lives:
//! - [`parse`] fails (with the status to answer and the recovered headers, see
//!   [`ParseError::response`]) on what no layer can use: a start line that is not exactly
//!   `METHOD SP URI SP SIP/2.0` (extra or trailing SP, `<>` or LWS or `?headers` in the
//!   Request-URI), another SIP version (505), a bad status code, a header line without a
//!   colon, a missing empty line, a Content-Length that is not a number or exceeds the bytes
//!   present, and a Via or CSeq that cannot be read (transactions are matched on them).
//!   Responses that fail are dropped (`status == None`).
//! - [`Request::validate`] refuses, in RFC 3261 §8.2 order: missing or repeated mandatory
//!   headers and conflicting Content-Length (400), malformed From/To/Call-ID/Max-Forwards/
//!   Contact, CSeq method mismatch, non-GMT Date (400), unsupported Request-URI scheme (416),
//!   unknown Require tags (420 + Unsupported), unaccepted body type or encoding (415 +
//!   Accept), and an INVITE whose Accept excludes every type we can answer with (406).
//!
//! Writing ([`Request::write_to`], [`Response::write_to`]) puts headers in order under
//! their canonical long names and one Content-Length equal to the body length, so that
//! `parse(write(m)) == m` for every `m` that `parse` returns (the parser stores exactly that
//! one Content-Length, unless the wire had several, which validation refuses).

mod grammar;
mod headers;
mod parse;
mod uri;
mod validate;
mod write;

pub use headers::{CSeq, Header, HeaderName, Headers, NameAddr, Params, Via};
pub use parse::{Frame, MAX_HEADER_LEN, MAX_HEADERS, ParseError, ParseErrorKind, frame, parse};
pub use uri::{Scheme, Uri};
pub use validate::Capabilities;

use bytes::Bytes;

/// A SIP request method. Extension methods keep their exact (case-sensitive) token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Register,
    Prack,
    Subscribe,
    Notify,
    Publish,
    Info,
    Refer,
    Message,
    Update,
    Extension(String),
}

impl Method {
    /// Methods are case-sensitive tokens (RFC 3261 §7.1).
    pub fn from_token(token: &str) -> Method {
        match token {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "PRACK" => Method::Prack,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "PUBLISH" => Method::Publish,
            "INFO" => Method::Info,
            "REFER" => Method::Refer,
            "MESSAGE" => Method::Message,
            "UPDATE" => Method::Update,
            other => Method::Extension(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Publish => "PUBLISH",
            Method::Info => "INFO",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Update => "UPDATE",
            Method::Extension(s) => s,
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub uri: Uri,
    pub headers: Headers,
    pub body: Bytes,
}

impl Request {
    /// A request with no headers and an empty body.
    pub fn new(method: Method, uri: Uri) -> Request {
        Request {
            method,
            uri,
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }
}

/// A SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Headers,
    pub body: Bytes,
}

impl Response {
    /// A response with the standard reason phrase, no headers and an empty body.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            reason: reason_phrase(status).to_owned(),
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// A response to `req` (RFC 3261 §8.2.6.2): copies every Via, then From, To, Call-ID
    /// and CSeq, in the request's order. Adding a To tag is the caller's job.
    pub fn to_request(req: &Request, status: u16) -> Response {
        let mut resp = Response::new(status);
        for h in req.headers.iter().filter(|h| {
            matches!(
                h.name,
                HeaderName::Via
                    | HeaderName::From
                    | HeaderName::To
                    | HeaderName::CallId
                    | HeaderName::CSeq
            )
        }) {
            resp.headers.push(h.name.clone(), h.value.clone());
        }
        resp
    }
}

/// Either kind of SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Request(Request),
    Response(Response),
}

impl Message {
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    pub fn headers_mut(&mut self) -> &mut Headers {
        match self {
            Message::Request(r) => &mut r.headers,
            Message::Response(r) => &mut r.headers,
        }
    }

    /// Serialize to wire format (Content-Length is written to match the body).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        self.write_to(&mut out);
        out
    }

    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Message::Request(r) => r.write_to(out),
            Message::Response(r) => r.write_to(out),
        }
    }
}

/// Why a request must be refused, and with what: the UAS turns this into a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub reason: &'static str,
    /// Extra headers the response must carry (e.g. `Unsupported` with 420, `Accept` with 415).
    pub headers: Vec<(HeaderName, String)>,
}

/// The standard reason phrase for a status code (RFC 3261 §21 and extensions).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => match status / 100 {
            1 => "Progress",
            2 => "OK",
            3 => "Redirect",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}
