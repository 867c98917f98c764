//! RFC 3261 §17 timer values, the retransmission interval, and the layer's deadline queue.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use super::TxKey;

/// The base timer values of RFC 3261 §17.1.1.1 (table 4 of §A). Every transaction timer is
/// derived from these three.
///
/// | timer | unreliable (UDP)        | reliable (TCP, TLS, WS) |
/// |-------|-------------------------|-------------------------|
/// | A, E, G | first retransmit at T1 | not used               |
/// | B, F, H, L, M | 64·T1            | 64·T1                   |
/// | D     | 32 s (or 64·T1 if larger) | 0                     |
/// | I, K  | T4                      | 0                       |
/// | J     | 64·T1                   | 0                       |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// Round-trip estimate (default 500 ms).
    pub t1: Duration,
    /// Maximum retransmission interval for non-INVITE requests and INVITE responses (4 s).
    pub t2: Duration,
    /// Maximum time a message stays in the network (5 s).
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// Largest value accepted for T1, T2 or T4; keeps `now + 64·T1` far from `Instant` overflow.
const MAX_BASE: Duration = Duration::from_secs(3600);
/// Smallest retransmission interval: a zero T1 would make retransmission timers spin.
const MIN_INTERVAL: Duration = Duration::from_millis(1);

impl Timers {
    /// The values clamped to a sane range (T1 and T2 at least 1 ms, all at most one hour).
    /// [`TransactionLayer`](super::TransactionLayer) applies this to whatever it is given,
    /// since timer values usually come from a configuration file.
    pub fn sanitized(self) -> Timers {
        Timers {
            t1: self.t1.clamp(MIN_INTERVAL, MAX_BASE),
            t2: self.t2.clamp(MIN_INTERVAL, MAX_BASE),
            t4: self.t4.min(MAX_BASE),
        }
    }

    /// 64·T1: Timers B, F, H, L and M, and J over unreliable transports.
    pub fn t1_x64(&self) -> Duration {
        self.t1 * 64
    }

    /// Timer D: "at least 32 s" for unreliable transports (we take 64·T1 when that is
    /// larger), zero for reliable ones.
    pub fn timer_d(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            Duration::from_secs(32).max(self.t1_x64())
        }
    }

    /// Timers I and K: T4 for unreliable transports, zero for reliable ones.
    pub fn timer_i_k(&self, reliable: bool) -> Duration {
        if reliable { Duration::ZERO } else { self.t4 }
    }

    /// Timer J: 64·T1 for unreliable transports, zero for reliable ones.
    pub fn timer_j(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t1_x64()
        }
    }
}

/// A retransmission timer (A, E or G): when it is due and the interval it was last set with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retransmit {
    pub(crate) at: Instant,
    pub(crate) interval: Duration,
}

impl Retransmit {
    /// Started at `now` with the first interval T1.
    pub(crate) fn start(now: Instant, t1: Duration) -> Retransmit {
        Retransmit {
            at: now + t1,
            interval: t1,
        }
    }

    /// Fired at `now`: re-arm with `next_interval(previous interval)`.
    pub(crate) fn rearm(&mut self, now: Instant, next_interval: Duration) {
        self.interval = next_interval;
        self.at = now + next_interval;
    }

    pub(crate) fn due(&self, now: Instant) -> bool {
        self.at <= now
    }
}

/// The earliest of two optional deadlines.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Deadlines of all transactions: a min-heap of `(deadline, key)` with lazy deletion.
///
/// Each transaction remembers the one deadline it is currently scheduled at; a heap entry
/// whose deadline differs from that (the timer was cancelled or moved, or the transaction is
/// gone) is stale and skipped when it reaches the top. [`DeadlineQueue::settle`] pops stale
/// entries off the top after every mutation so [`DeadlineQueue::peek`] is exact, and the heap
/// is rebuilt when stale entries outnumber live ones.
#[derive(Debug, Default)]
pub(crate) struct DeadlineQueue {
    heap: BinaryHeap<Reverse<(Instant, TxKey)>>,
}

impl DeadlineQueue {
    pub(crate) fn push(&mut self, at: Instant, key: TxKey) {
        self.heap.push(Reverse((at, key)));
    }

    pub(crate) fn peek(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Pop the top entry if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, TxKey)> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    /// Drop stale entries from the top; `is_live(at, key)` says whether an entry is current.
    /// Rebuilds the whole heap when it has grown past twice the live count (plus slack).
    pub(crate) fn settle(&mut self, live: usize, is_live: impl Fn(Instant, TxKey) -> bool) {
        if self.heap.len() > 2 * live + 64 {
            let entries = std::mem::take(&mut self.heap).into_vec();
            self.heap = entries
                .into_iter()
                .filter(|Reverse((at, key))| is_live(*at, *key))
                .collect();
        }
        while let Some(Reverse((at, key))) = self.heap.peek() {
            if is_live(*at, *key) {
                break;
            }
            self.heap.pop();
        }
    }
}
