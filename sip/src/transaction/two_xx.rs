//! The UAS core's 2xx retransmission timer (RFC 3261 §13.3.1.4, RFC 6026 §8.1).
//!
//! A 2xx to INVITE ends the server transaction's own retransmissions, yet UDP may lose it or
//! its ACK. So the UAS core (the dialog layer, not the transaction) resends the 2xx: first after
//! T1, the interval doubling up to T2, until the ACK arrives; if none has come 64·T1 after the
//! 2xx was first sent, it gives up (and should end the dialog with a BYE). Over reliable
//! transports nothing is resent, but the 64·T1 wait for the ACK still applies.
//!
//! Sans-IO like the rest of the layer: [`TwoXxRetransmit::poll_timeout`] gives the next
//! deadline, [`TwoXxRetransmit::handle_timeout`] says what to do when it is reached. Hand the
//! retransmission to [`TransactionLayer::send_response`](super::TransactionLayer::send_response)
//! while the INVITE server transaction is in Accepted (its Timer L lasts exactly as long).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use hotline_sip::transaction::{Timers, TwoXxAction, TwoXxRetransmit};
//! # #[allow(clippy::disallowed_methods)]
//! let sent = Instant::now(); // the driver's clock; never read inside the crate
//! let mut timer = TwoXxRetransmit::new(sent, &Timers::default(), false);
//! assert_eq!(timer.poll_timeout(), Some(sent + Duration::from_millis(500)));
//! assert_eq!(timer.handle_timeout(sent + Duration::from_millis(500)), Some(TwoXxAction::Retransmit));
//! assert_eq!(timer.poll_timeout(), Some(sent + Duration::from_millis(1500)));
//! timer.ack_received();
//! assert_eq!(timer.poll_timeout(), None);
//! ```

use std::time::{Duration, Instant};

use super::timers::Timers;

/// What the UAS core must do when [`TwoXxRetransmit`]'s deadline is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwoXxAction {
    /// Send the same 2xx again.
    Retransmit,
    /// 64·T1 passed without an ACK: stop, and end the dialog (RFC 3261 §13.3.1.4).
    GiveUp,
}

/// Retransmission schedule of a 2xx to INVITE, stopped by the ACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwoXxRetransmit {
    next: Option<Instant>,
    interval: Duration,
    t2: Duration,
    give_up_at: Instant,
    done: bool,
}

impl TwoXxRetransmit {
    /// Start the schedule for a 2xx first sent at `sent` over a transport that is reliable
    /// or not.
    pub fn new(sent: Instant, timers: &Timers, reliable: bool) -> TwoXxRetransmit {
        let timers = timers.sanitized();
        TwoXxRetransmit {
            next: (!reliable).then(|| sent + timers.t1),
            interval: timers.t1,
            t2: timers.t2,
            give_up_at: sent + timers.t1_x64(),
            done: false,
        }
    }

    /// The next instant [`Self::handle_timeout`] must be called at; `None` once the ACK came
    /// or the schedule gave up.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        Some(match self.next {
            Some(next) => next.min(self.give_up_at),
            None => self.give_up_at,
        })
    }

    /// Advance to `now`; at most one action is due per deadline.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<TwoXxAction> {
        if self.done {
            return None;
        }
        if now >= self.give_up_at {
            self.done = true;
            return Some(TwoXxAction::GiveUp);
        }
        match self.next {
            Some(next) if next <= now => {
                self.interval = (self.interval * 2).min(self.t2);
                self.next = Some(now + self.interval);
                Some(TwoXxAction::Retransmit)
            }
            _ => None,
        }
    }

    /// The ACK arrived: stop.
    pub fn ack_received(&mut self) {
        self.done = true;
    }

    /// Whether the schedule has ended (ACK received or given up).
    pub fn is_done(&self) -> bool {
        self.done
    }
}
