//! The INVITE server transaction: RFC 3261 §17.2.1 as amended by RFC 6026 §7.1.
//!
//! ```text
//!   INVITE (to TU; 100 Trying sent at once when `auto_trying`)
//!   Proceeding ──1xx from TU / send──▶ Proceeding   (INVITE / resend last 1xx)
//!     ├──2xx from TU / send──▶ Accepted   (INVITE / absorbed, ACK / to TU,
//!     │                                    2xx from TU / send, L ──▶ Terminated)
//!     └──300-699 from TU / send──▶ Completed  (INVITE / resend final,
//!                                    G: resend, G = min(2G, T2), H: Timeout ──▶ Terminated)
//!          Completed ──ACK──▶ Confirmed (ACK absorbed, I ──▶ Terminated)
//! ```
//!
//! The 2xx itself is retransmitted by the TU, not here (RFC 6026); see
//! [`TwoXxRetransmit`](super::TwoXxRetransmit).

use std::time::Instant;

use super::timers::{Retransmit, Timers, earliest};
use super::{Outbox, Peer, TransactionError, TransactionEvent, TxKey, TxState};
use crate::message::{Message, Request, Response};

#[derive(Debug)]
pub(crate) struct ServerInvite {
    key: TxKey,
    /// Where responses go (RFC 3261 §18.2.2, RFC 3581).
    peer: Peer,
    state: TxState,
    timers: Timers,
    /// The last response sent: resent when the INVITE is retransmitted.
    last_response: Option<Response>,
    /// Timer G (Completed, unreliable transports only).
    retransmit: Option<Retransmit>,
    /// Timer H in Completed, I in Confirmed, L in Accepted.
    timeout: Option<Instant>,
}

/// What became of an ACK that matched this transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AckOutcome {
    /// The ACK for our failure response, or a retransmission of it: consumed here.
    Absorbed,
    /// An ACK arriving in Accepted: it acknowledges a 2xx and belongs to the TU.
    PassUp,
}

impl ServerInvite {
    /// Create the transaction for `request`; with `auto_trying`, answer 100 Trying at once.
    pub(crate) fn start(
        key: TxKey,
        peer: Peer,
        request: &Request,
        timers: Timers,
        auto_trying: bool,
        out: &mut Outbox,
    ) -> ServerInvite {
        let mut tx = ServerInvite {
            key,
            peer,
            state: TxState::Proceeding,
            timers,
            last_response: None,
            retransmit: None,
            timeout: None,
        };
        if auto_trying {
            let trying = Response::to_request(request, 100);
            out.transmit(key, peer, Message::Response(trying.clone()));
            tx.last_response = Some(trying);
        }
        tx
    }

    pub(crate) fn state(&self) -> TxState {
        self.state
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        earliest(self.retransmit.map(|r| r.at), self.timeout)
    }

    /// The To tag of the last response sent (RFC 2543 ACK matching compares it).
    pub(crate) fn response_to_tag(&self) -> Option<String> {
        let to = self.last_response.as_ref()?.headers.to()?;
        to.tag().map(str::to_owned)
    }

    pub(crate) fn fail(&mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        self.state = TxState::Terminated;
        self.retransmit = None;
        self.timeout = None;
    }

    /// The INVITE arrived again.
    pub(crate) fn on_retransmission(&mut self, out: &mut Outbox) {
        if matches!(self.state, TxState::Proceeding | TxState::Completed)
            && let Some(response) = &self.last_response
        {
            out.transmit(self.key, self.peer, Message::Response(response.clone()));
        }
        // Accepted (RFC 6026): absorbed, the TU retransmits its 2xx on its own schedule.
        // Confirmed: absorbed.
    }

    pub(crate) fn on_ack(&mut self, now: Instant, _out: &mut Outbox) -> AckOutcome {
        match self.state {
            TxState::Completed => {
                self.state = TxState::Confirmed;
                self.retransmit = None;
                self.timeout = Some(now + self.timers.timer_i_k(self.peer.transport.reliable()));
                AckOutcome::Absorbed
            }
            TxState::Accepted => AckOutcome::PassUp,
            _ => AckOutcome::Absorbed,
        }
    }

    pub(crate) fn send_response(
        &mut self,
        now: Instant,
        response: Response,
        out: &mut Outbox,
    ) -> Result<(), TransactionError> {
        let status = response.status;
        match (self.state, status) {
            (TxState::Proceeding, 100..=199) => {}
            (TxState::Proceeding, 200..=299) => {
                self.state = TxState::Accepted;
                self.timeout = Some(now + self.timers.t1_x64());
            }
            // A 2xx retransmission (or another 2xx) handed down by the TU (RFC 6026 §8.5).
            (TxState::Accepted, 200..=299) => {}
            (TxState::Proceeding, 300..=699) => {
                self.state = TxState::Completed;
                if !self.peer.transport.reliable() {
                    self.retransmit = Some(Retransmit::start(now, self.timers.t1));
                }
                self.timeout = Some(now + self.timers.t1_x64());
            }
            (state, status) => return Err(TransactionError::InvalidState { state, status }),
        }
        out.transmit(self.key, self.peer, Message::Response(response.clone()));
        self.last_response = Some(response);
        Ok(())
    }

    pub(crate) fn on_timeout(&mut self, now: Instant, out: &mut Outbox) {
        if self.timeout.is_some_and(|at| at <= now) {
            self.timeout = None;
            if self.state == TxState::Completed {
                // Timer H: the ACK never came.
                out.event(TransactionEvent::Timeout { key: self.key });
            }
            // Timer H, I or L.
            self.terminate();
            return;
        }
        if let Some(timer) = &mut self.retransmit
            && timer.due(now)
        {
            // Timer G: resend the final response, doubling up to T2.
            let next = (timer.interval * 2).min(self.timers.t2);
            timer.rearm(now, next);
            if let Some(response) = &self.last_response {
                out.transmit(self.key, self.peer, Message::Response(response.clone()));
            }
        }
    }
}
