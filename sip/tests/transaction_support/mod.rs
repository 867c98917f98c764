//! Shared harness for the `transaction_*` tests: a simulated clock, message builders, and
//! helpers that drive a [`TransactionLayer`] through its deadlines.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hotline_sip::message::{HeaderName, Message, Request, Response, parse};
use hotline_sip::transaction::{Peer, TransactionEvent, TransactionLayer, Transmit, Transport};

/// The simulated epoch: the one real clock read of the harness; everything else is offsets.
pub fn t0() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    #[allow(clippy::disallowed_methods)]
    *T0.get_or_init(Instant::now)
}

/// `t0 + ms` milliseconds.
pub fn at(ms: u64) -> Instant {
    t0() + Duration::from_millis(ms)
}

/// Milliseconds since `t0`.
pub fn ms(instant: Instant) -> u64 {
    u64::try_from(instant.duration_since(t0()).as_millis()).expect("test durations are short")
}

pub const UAC_ADDR: &str = "10.0.0.1:5060";
pub const UAS_ADDR: &str = "10.0.0.2:5060";

pub fn addr(s: &str) -> SocketAddr {
    s.parse().expect("valid socket address")
}

pub fn uac_peer(transport: Transport) -> Peer {
    Peer::new(addr(UAC_ADDR), transport)
}

pub fn uas_peer(transport: Transport) -> Peer {
    Peer::new(addr(UAS_ADDR), transport)
}

pub fn parse_request(text: &str) -> Request {
    match parse(text.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("test request does not parse: {other:?}\n{text}"),
    }
}

/// A request from the UAC (10.0.0.1) to the UAS (10.0.0.2).
pub fn request(method: &str, branch: &str, cseq: u32, transport: Transport) -> Request {
    request_with(method, branch, cseq, transport, "")
}

/// Like [`request`], with extra header lines (each ending in CRLF) and an optional Via
/// parameter string appended after the branch.
pub fn request_with(
    method: &str,
    branch: &str,
    cseq: u32,
    transport: Transport,
    extra_headers: &str,
) -> Request {
    let t = transport.via_name();
    parse_request(&format!(
        "{method} sip:bob@10.0.0.2 SIP/2.0\r\n\
         Via: SIP/2.0/{t} 10.0.0.1:5060;branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice\" <sip:alice@10.0.0.1>;tag=a1\r\n\
         To: <sip:bob@10.0.0.2>\r\n\
         Call-ID: call-1@10.0.0.1\r\n\
         CSeq: {cseq} {method}\r\n\
         {extra_headers}\
         Content-Length: 0\r\n\r\n"
    ))
}

/// The response a UAS would send to `req`, with `to_tag` added to To for non-100 responses.
pub fn response(req: &Request, status: u16, to_tag: Option<&str>) -> Response {
    let mut resp = Response::to_request(req, status);
    if let Some(tag) = to_tag {
        let mut to = resp.headers.to().expect("To copied from the request");
        to.set_tag(tag);
        resp.headers.set(HeaderName::To, to.to_string());
    }
    resp
}

/// Through the wire format and back, as a real driver does.
pub fn wire(message: &Message) -> Message {
    let bytes = message.to_bytes();
    match parse(&bytes) {
        Ok(m) => m,
        Err(e) => panic!(
            "a message we wrote does not parse back: {e:?}\n{}",
            String::from_utf8_lossy(&bytes)
        ),
    }
}

/// Everything a layer produced, drained per the draining rule.
#[derive(Debug, Default)]
pub struct Drained {
    pub transmits: Vec<Transmit>,
    pub events: Vec<TransactionEvent>,
}

impl Drained {
    pub fn requests(&self) -> Vec<&Request> {
        self.transmits
            .iter()
            .filter_map(|t| match &t.message {
                Message::Request(r) => Some(r),
                Message::Response(_) => None,
            })
            .collect()
    }

    pub fn statuses(&self) -> Vec<u16> {
        self.transmits
            .iter()
            .filter_map(|t| match &t.message {
                Message::Response(r) => Some(r.status),
                Message::Request(_) => None,
            })
            .collect()
    }

    pub fn has_timeout(&self) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, TransactionEvent::Timeout { .. }))
    }

    pub fn has_terminated(&self) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, TransactionEvent::Terminated { .. }))
    }

    pub fn response_events(&self) -> Vec<u16> {
        self.events
            .iter()
            .filter_map(|e| match e {
                TransactionEvent::Response { response, .. } => Some(response.status),
                _ => None,
            })
            .collect()
    }
}

pub fn drain(layer: &mut TransactionLayer) -> Drained {
    let mut out = Drained::default();
    while let Some(t) = layer.poll_transmit() {
        out.transmits.push(t);
    }
    while let Some(e) = layer.poll_event() {
        out.events.push(e);
    }
    out
}

/// One wake-up of [`run_until`]: when, and what it produced.
#[derive(Debug)]
pub struct Fired {
    pub at_ms: u64,
    pub out: Drained,
}

/// Jump from deadline to deadline up to and including `end`, recording every wake-up.
pub fn run_until(layer: &mut TransactionLayer, end: Instant) -> Vec<Fired> {
    let mut fired = Vec::new();
    while let Some(next) = layer.poll_timeout() {
        if next > end {
            break;
        }
        layer.handle_timeout(next);
        fired.push(Fired {
            at_ms: ms(next),
            out: drain(layer),
        });
    }
    fired
}

/// The instants (ms) at which `fired` transmitted something.
pub fn transmit_times(fired: &[Fired]) -> Vec<u64> {
    fired
        .iter()
        .filter(|f| !f.out.transmits.is_empty())
        .map(|f| f.at_ms)
        .collect()
}
