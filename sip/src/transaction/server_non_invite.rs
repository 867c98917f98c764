//! The non-INVITE server transaction: RFC 3261 §17.2.2.
//!
//! ```text
//!   request (to TU)
//!   Trying ──1xx from TU / send──▶ Proceeding ──1xx from TU / send──▶ Proceeding
//!     │ request / absorbed            │ request / resend last 1xx
//!     └──200-699 from TU / send───────┴──▶ Completed (request / resend final)
//!                                            J ──▶ Terminated
//! ```

use std::time::Instant;

use super::timers::Timers;
use super::{Outbox, Peer, TransactionError, TxKey, TxState};
use crate::message::{Message, Response};

#[derive(Debug)]
pub(crate) struct ServerNonInvite {
    key: TxKey,
    /// Where responses go (RFC 3261 §18.2.2, RFC 3581).
    peer: Peer,
    state: TxState,
    timers: Timers,
    last_response: Option<Response>,
    /// Timer J (Completed).
    timeout: Option<Instant>,
}

impl ServerNonInvite {
    pub(crate) fn start(key: TxKey, peer: Peer, timers: Timers) -> ServerNonInvite {
        ServerNonInvite {
            key,
            peer,
            state: TxState::Trying,
            timers,
            last_response: None,
            timeout: None,
        }
    }

    pub(crate) fn state(&self) -> TxState {
        self.state
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.timeout
    }

    pub(crate) fn fail(&mut self) {
        self.state = TxState::Terminated;
        self.timeout = None;
    }

    /// The request arrived again: resend the last response, if any (none yet in Trying).
    pub(crate) fn on_retransmission(&mut self, out: &mut Outbox) {
        if let Some(response) = &self.last_response {
            out.transmit(self.key, self.peer, Message::Response(response.clone()));
        }
    }

    pub(crate) fn send_response(
        &mut self,
        now: Instant,
        response: Response,
        out: &mut Outbox,
    ) -> Result<(), TransactionError> {
        match (self.state, response.status) {
            (TxState::Trying | TxState::Proceeding, 100..=199) => {
                self.state = TxState::Proceeding;
            }
            (TxState::Trying | TxState::Proceeding, 200..=699) => {
                self.state = TxState::Completed;
                self.timeout = Some(now + self.timers.timer_j(self.peer.transport.reliable()));
            }
            (state, status) => return Err(TransactionError::InvalidState { state, status }),
        }
        out.transmit(self.key, self.peer, Message::Response(response.clone()));
        self.last_response = Some(response);
        Ok(())
    }

    pub(crate) fn on_timeout(&mut self, now: Instant) {
        if self.timeout.is_some_and(|at| at <= now) {
            // Timer J.
            self.fail();
        }
    }
}
