//! The INVITE client transaction: RFC 3261 §17.1.1 as amended by RFC 6026 §7.2.
//!
//! ```text
//!            send INVITE, start A (unreliable) and B
//!   Calling ──1xx──▶ Proceeding ──1xx──▶ Proceeding
//!     │  A: resend, A ×= 2        │
//!     │  B: Timeout ──▶ Terminated│
//!     ├──2xx (to TU)──────────────┴──▶ Accepted ──2xx (to TU)──▶ Accepted
//!     │                                  M ──▶ Terminated
//!     └──300-699 (to TU, send ACK)───▶ Completed ──300-699 / resend ACK
//!                                        D ──▶ Terminated
//! ```

use std::time::Instant;

use super::timers::{Retransmit, Timers, earliest};
use super::{Outbox, Peer, TransactionEvent, TxKey, TxState};
use crate::message::{HeaderName, Message, Method, Request, Response};

#[derive(Debug)]
pub(crate) struct ClientInvite {
    key: TxKey,
    peer: Peer,
    request: Request,
    state: TxState,
    timers: Timers,
    /// Timer A (Calling, unreliable transports only).
    retransmit: Option<Retransmit>,
    /// Timer B in Calling, D in Completed, M in Accepted.
    timeout: Option<Instant>,
    /// The ACK for a non-2xx final response, resent on each retransmission of that response.
    ack: Option<Request>,
}

impl ClientInvite {
    /// Create the transaction and send the INVITE.
    pub(crate) fn start(
        now: Instant,
        key: TxKey,
        peer: Peer,
        request: Request,
        timers: Timers,
        out: &mut Outbox,
    ) -> ClientInvite {
        out.transmit(key, peer, Message::Request(request.clone()));
        ClientInvite {
            key,
            peer,
            request,
            state: TxState::Calling,
            timers,
            retransmit: (!peer.transport.reliable()).then(|| Retransmit::start(now, timers.t1)),
            timeout: Some(now + timers.t1_x64()),
            ack: None,
        }
    }

    pub(crate) fn state(&self) -> TxState {
        self.state
    }

    pub(crate) fn request(&self) -> &Request {
        &self.request
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        earliest(self.retransmit.map(|r| r.at), self.timeout)
    }

    pub(crate) fn fail(&mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        self.state = TxState::Terminated;
        self.retransmit = None;
        self.timeout = None;
    }

    pub(crate) fn on_timeout(&mut self, now: Instant, out: &mut Outbox) {
        if self.timeout.is_some_and(|at| at <= now) {
            self.timeout = None;
            if self.state == TxState::Calling {
                // Timer B: no response at all.
                out.event(TransactionEvent::Timeout { key: self.key });
            }
            // Timer B, D or M: the transaction is over.
            self.terminate();
            return;
        }
        if let Some(timer) = &mut self.retransmit
            && timer.due(now)
        {
            // Timer A: resend and double, without the T2 cap that non-INVITE uses.
            let next = timer.interval * 2;
            timer.rearm(now, next);
            out.transmit(self.key, self.peer, Message::Request(self.request.clone()));
        }
    }

    pub(crate) fn on_response(&mut self, now: Instant, response: Response, out: &mut Outbox) {
        let status = response.status;
        match (self.state, status) {
            (TxState::Calling | TxState::Proceeding, 100..=199) => {
                self.state = TxState::Proceeding;
                self.retransmit = None;
                self.timeout = None;
                self.pass_up(response, out);
            }
            (TxState::Calling | TxState::Proceeding, 200..=299) => {
                // RFC 6026: wait in Accepted so 2xx retransmissions and forked 2xx reach the TU.
                self.state = TxState::Accepted;
                self.retransmit = None;
                self.timeout = Some(now + self.timers.t1_x64());
                self.pass_up(response, out);
            }
            (TxState::Accepted, 200..=299) => self.pass_up(response, out),
            (TxState::Calling | TxState::Proceeding, 300..=699) => {
                let ack = ack_for_failure(&self.request, &response);
                out.transmit(self.key, self.peer, Message::Request(ack.clone()));
                self.ack = Some(ack);
                self.state = TxState::Completed;
                self.retransmit = None;
                self.timeout = Some(now + self.timers.timer_d(self.peer.transport.reliable()));
                self.pass_up(response, out);
            }
            (TxState::Completed, 300..=699) => {
                // A retransmitted final response: our ACK was lost. Resend it, tell nobody.
                if let Some(ack) = &self.ack {
                    out.transmit(self.key, self.peer, Message::Request(ack.clone()));
                }
            }
            // Late provisionals, a 2xx after a failure, a failure after a 2xx, status codes
            // outside 100-699: nothing the transaction can act on.
            _ => {}
        }
    }

    fn pass_up(&self, response: Response, out: &mut Outbox) {
        out.event(TransactionEvent::Response {
            key: self.key,
            response,
        });
    }
}

/// The ACK a client INVITE transaction sends for a 300-699 response (RFC 3261 §17.1.1.3):
/// same Request-URI, Call-ID, From and CSeq number as the INVITE, To of the response, only the
/// INVITE's top Via (so the same branch), and the INVITE's Route headers.
pub(crate) fn ack_for_failure(invite: &Request, response: &Response) -> Request {
    let to = response
        .headers
        .get(&HeaderName::To)
        .or_else(|| invite.headers.get(&HeaderName::To));
    derive_request(invite, Method::Ack, to)
}

/// A request derived from `invite` for the same transaction branch: ACK for a failure or
/// CANCEL (RFC 3261 §9.1). `to` replaces the To header when given.
pub(crate) fn derive_request(invite: &Request, method: Method, to: Option<&str>) -> Request {
    let mut req = Request::new(method.clone(), invite.uri.clone());
    let headers = &mut req.headers;
    if let Some(via) = invite.headers.top_via() {
        headers.push(HeaderName::Via, via.to_string());
    }
    headers.push(HeaderName::MaxForwards, "70");
    if let Some(from) = invite.headers.get(&HeaderName::From) {
        headers.push(HeaderName::From, from);
    }
    if let Some(to) = to.or_else(|| invite.headers.get(&HeaderName::To)) {
        headers.push(HeaderName::To, to);
    }
    if let Some(call_id) = invite.headers.call_id() {
        headers.push(HeaderName::CallId, call_id);
    }
    if let Some(cseq) = invite.headers.cseq() {
        headers.push(HeaderName::CSeq, format!("{} {}", cseq.seq, method));
    }
    for route in invite.headers.get_all(&HeaderName::Route) {
        headers.push(HeaderName::Route, route);
    }
    req
}
