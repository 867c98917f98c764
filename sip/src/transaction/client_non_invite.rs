//! The non-INVITE client transaction: RFC 3261 §17.1.2.
//!
//! ```text
//!            send request, start E (unreliable) and F
//!   Trying ──1xx (to TU)──▶ Proceeding ──1xx (to TU)──▶ Proceeding
//!     │  E: resend, E = min(2E, T2)   │  E: resend, E = T2
//!     │  F: Timeout ──▶ Terminated    │  F: Timeout ──▶ Terminated
//!     └──200-699 (to TU)──────────────┴──▶ Completed ──200-699 / absorbed
//!                                            K ──▶ Terminated
//! ```

use std::time::Instant;

use super::timers::{Retransmit, Timers, earliest};
use super::{Outbox, Peer, TransactionEvent, TxKey, TxState};
use crate::message::{Message, Request, Response};

#[derive(Debug)]
pub(crate) struct ClientNonInvite {
    key: TxKey,
    peer: Peer,
    request: Request,
    state: TxState,
    timers: Timers,
    /// Timer E (Trying and Proceeding, unreliable transports only).
    retransmit: Option<Retransmit>,
    /// Timer F in Trying and Proceeding, K in Completed.
    timeout: Option<Instant>,
}

impl ClientNonInvite {
    /// Create the transaction and send the request.
    pub(crate) fn start(
        now: Instant,
        key: TxKey,
        peer: Peer,
        request: Request,
        timers: Timers,
        out: &mut Outbox,
    ) -> ClientNonInvite {
        out.transmit(key, peer, Message::Request(request.clone()));
        ClientNonInvite {
            key,
            peer,
            request,
            state: TxState::Trying,
            timers,
            retransmit: (!peer.transport.reliable()).then(|| Retransmit::start(now, timers.t1)),
            timeout: Some(now + timers.t1_x64()),
        }
    }

    pub(crate) fn state(&self) -> TxState {
        self.state
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
            if matches!(self.state, TxState::Trying | TxState::Proceeding) {
                // Timer F: no final response.
                out.event(TransactionEvent::Timeout { key: self.key });
            }
            // Timer F or K.
            self.terminate();
            return;
        }
        if let Some(timer) = &mut self.retransmit
            && timer.due(now)
        {
            // Timer E: doubles up to T2 in Trying, stays at T2 in Proceeding.
            let next = if self.state == TxState::Proceeding {
                self.timers.t2
            } else {
                (timer.interval * 2).min(self.timers.t2)
            };
            timer.rearm(now, next);
            out.transmit(self.key, self.peer, Message::Request(self.request.clone()));
        }
    }

    pub(crate) fn on_response(&mut self, now: Instant, response: Response, out: &mut Outbox) {
        match (self.state, response.status) {
            (TxState::Trying | TxState::Proceeding, 100..=199) => {
                self.state = TxState::Proceeding;
                self.pass_up(response, out);
            }
            (TxState::Trying | TxState::Proceeding, 200..=699) => {
                self.state = TxState::Completed;
                self.retransmit = None;
                self.timeout = Some(now + self.timers.timer_i_k(self.peer.transport.reliable()));
                self.pass_up(response, out);
            }
            // Retransmitted finals in Completed are absorbed; nonsense status codes dropped.
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
