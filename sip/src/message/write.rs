//! Writing messages (RFC 3261 §7): start line, headers in order under their canonical long
//! names, one Content-Length matching the body, an empty line, the body.

use std::fmt::Write as _;

use super::grammar::VecWriter;
use super::headers::{HeaderName, Headers};
use super::{Request, Response};

impl Request {
    /// Append the wire form to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.reserve(256 + self.body.len());
        out.extend_from_slice(self.method.as_str().as_bytes());
        out.push(b' ');
        // VecWriter never fails and Uri's Display only fails when its writer does.
        let _ = write!(VecWriter(out), "{}", self.uri);
        out.extend_from_slice(b" SIP/2.0\r\n");
        write_headers_and_body(&self.headers, &self.body, out);
    }

    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }
}

impl Response {
    /// Append the wire form to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.reserve(256 + self.body.len());
        out.extend_from_slice(b"SIP/2.0 ");
        // VecWriter never fails.
        let _ = write!(VecWriter(out), "{:03} ", self.status);
        write_text(&self.reason, out);
        out.extend_from_slice(b"\r\n");
        write_headers_and_body(&self.headers, &self.body, out);
    }

    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }
}

/// Write text that must stay on one line: CR and LF (which no parsed value holds) become SP,
/// so a caller-built value cannot inject header lines.
fn write_text(s: &str, out: &mut Vec<u8>) {
    if s.bytes().any(|b| b == b'\r' || b == b'\n') {
        out.extend(
            s.bytes()
                .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

fn write_content_length(len: usize, out: &mut Vec<u8>) {
    // VecWriter never fails.
    let _ = write!(VecWriter(out), "Content-Length: {len}\r\n");
}

fn write_headers_and_body(headers: &Headers, body: &[u8], out: &mut Vec<u8>) {
    let mut wrote_length = false;
    for h in headers {
        if h.name == HeaderName::ContentLength {
            // The first Content-Length line becomes the true length; others are dropped.
            if !wrote_length {
                write_content_length(body.len(), out);
                wrote_length = true;
            }
            continue;
        }
        write_text(h.name.as_str(), out);
        out.extend_from_slice(b": ");
        write_text(&h.value, out);
        out.extend_from_slice(b"\r\n");
    }
    if !wrote_length {
        write_content_length(body.len(), out);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}
