//! What a UAS must refuse in a request that parsed (RFC 3261 §8.2, in its order: headers,
//! URI scheme, extensions, content), and with which status.

use super::grammar::{self, TopLevel};
use super::headers::{HeaderName, NameAddr};
use super::uri::Scheme;
use super::{Method, Rejection, Request};

/// What this endpoint supports, as far as request validation needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// Request-URI schemes we serve (others get 416).
    pub supported_schemes: Vec<Scheme>,
    /// Option tags we support (a Require naming another gets 420).
    pub supported_options: Vec<String>,
    /// Body content types we accept (others get 415); also what we can answer an INVITE with
    /// (an Accept excluding all of them gets 406).
    pub accepted_types: Vec<String>,
    /// Methods we implement (for Allow; unknown methods are the UA core's 405/501).
    pub allowed_methods: Vec<Method>,
}

impl Default for Capabilities {
    fn default() -> Capabilities {
        Capabilities {
            supported_schemes: vec![Scheme::Sip, Scheme::Sips],
            supported_options: Vec::new(),
            accepted_types: vec!["application/sdp".to_owned()],
            allowed_methods: vec![
                Method::Invite,
                Method::Ack,
                Method::Bye,
                Method::Cancel,
                Method::Options,
            ],
        }
    }
}

fn reject(status: u16, reason: &'static str) -> Rejection {
    Rejection {
        status,
        reason,
        headers: Vec::new(),
    }
}

/// Headers that carry exactly one value.
const SINGLE: [(HeaderName, &str); 7] = [
    (HeaderName::From, "Duplicate From"),
    (HeaderName::To, "Duplicate To"),
    (HeaderName::CallId, "Duplicate Call-ID"),
    (HeaderName::CSeq, "Duplicate CSeq"),
    (HeaderName::MaxForwards, "Duplicate Max-Forwards"),
    (HeaderName::ContentLength, "Conflicting Content-Length"),
    (HeaderName::ContentType, "Duplicate Content-Type"),
];

/// The media type of a Content-Type or Accept value, without parameters.
fn media_type(v: &str) -> &str {
    grammar::trim_ws(v.split(';').next().unwrap_or(v))
}

fn media_matches(range: &str, ty: &str) -> bool {
    if range == "*/*" || range.eq_ignore_ascii_case(ty) {
        return true;
    }
    match (range.strip_suffix("/*"), ty.split_once('/')) {
        (Some(major), Some((ty_major, _))) => major.eq_ignore_ascii_case(ty_major),
        _ => false,
    }
}

impl Request {
    /// Check the request as a UAS must before processing it (RFC 3261 §8.2). Unknown
    /// methods are not refused here: 405/501 is the UA core's decision. An ACK is never
    /// answered: the caller drops one that fails.
    pub fn validate(&self, caps: &Capabilities) -> Result<(), Rejection> {
        let h = &self.headers;

        // Mandatory headers (Max-Forwards is optional for RFC 2543 peers).
        for (name, reason) in [
            (HeaderName::Via, "Missing Via"),
            (HeaderName::From, "Missing From"),
            (HeaderName::To, "Missing To"),
            (HeaderName::CallId, "Missing Call-ID"),
            (HeaderName::CSeq, "Missing CSeq"),
        ] {
            if h.get(&name).is_none() {
                return Err(reject(400, reason));
            }
        }
        for (name, reason) in &SINGLE {
            let count = h
                .get_all(name)
                .flat_map(TopLevel::new)
                .filter(|v| !grammar::trim_ws(v).is_empty())
                .count();
            if count > 1 {
                return Err(reject(400, reason));
            }
        }

        // Syntax of the headers we rely on.
        if h.from().is_none() {
            return Err(reject(400, "Malformed From"));
        }
        if h.to().is_none() {
            return Err(reject(400, "Malformed To"));
        }
        let call_id = h.call_id().unwrap_or("");
        if call_id.is_empty() || !call_id.bytes().all(|b| grammar::is_word(b) || b == b'@') {
            return Err(reject(400, "Malformed Call-ID"));
        }
        if h.get(&HeaderName::MaxForwards).is_some() && h.max_forwards().is_none() {
            return Err(reject(400, "Malformed Max-Forwards"));
        }
        let Some(cseq) = h.cseq() else {
            return Err(reject(400, "Malformed CSeq"));
        };
        if cseq.method != self.method {
            return Err(reject(400, "CSeq Method Mismatch"));
        }
        let contacts = h.values(&HeaderName::Contact);
        let contacts_ok = contacts == ["*"]
            || h.get_all(&HeaderName::Contact)
                .flat_map(TopLevel::new)
                .all(|v| NameAddr::parse(v).is_ok());
        if !contacts_ok {
            return Err(reject(400, "Malformed Contact"));
        }
        if let Some(date) = h.get(&HeaderName::Date)
            && !date.ends_with(" GMT")
        {
            return Err(reject(400, "Date Not In GMT"));
        }

        // Request-URI scheme.
        if !caps.supported_schemes.contains(&self.uri.scheme) {
            return Err(reject(416, "Unsupported URI Scheme"));
        }

        // Extensions (§8.2.2.3): never refuse ACK or CANCEL for them.
        if !matches!(self.method, Method::Ack | Method::Cancel) {
            let unsupported: Vec<&str> = h
                .values(&HeaderName::Require)
                .into_iter()
                .filter(|tag| {
                    !caps
                        .supported_options
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(tag))
                })
                .collect();
            if !unsupported.is_empty() {
                let mut r = reject(420, "Bad Extension");
                r.headers
                    .push((HeaderName::Unsupported, unsupported.join(", ")));
                return Err(r);
            }
        }

        // Content (§8.2.3).
        if !self.body.is_empty() {
            let accept = || (HeaderName::Accept, caps.accepted_types.join(", "));
            let Some(ty) = h.content_type() else {
                let mut r = reject(415, "Missing Content-Type");
                r.headers.push(accept());
                return Err(r);
            };
            let ty = media_type(ty);
            if !caps.accepted_types.iter().any(|a| media_matches(a, ty)) {
                let mut r = reject(415, "Unsupported Media Type");
                r.headers.push(accept());
                return Err(r);
            }
            if let Some(enc) = h.get(&HeaderName::ContentEncoding)
                && !enc.is_empty()
                && !enc.eq_ignore_ascii_case("identity")
            {
                let mut r = reject(415, "Unsupported Content-Encoding");
                r.headers
                    .push((HeaderName::AcceptEncoding, "identity".to_owned()));
                return Err(r);
            }
        }

        // What we can answer an INVITE with (our session descriptions).
        if matches!(self.method, Method::Invite | Method::Update)
            && h.get(&HeaderName::Accept).is_some()
        {
            let ranges = h.values(&HeaderName::Accept);
            let acceptable = ranges.iter().any(|range| {
                caps.accepted_types
                    .iter()
                    .any(|ours| media_matches(media_type(range), ours))
            });
            if !ranges.is_empty() && !acceptable {
                return Err(reject(406, "Not Acceptable"));
            }
        }
        Ok(())
    }
}
