//! DTMF as RTP telephone-events (RFC 4733 §2.3).
//!
//! A key press travels as several RTP packets that share one RTP timestamp (the event's
//! start): the first has the marker bit, updates follow every packet interval with a growing
//! duration, and the end is sent three times with the E bit. Any of them may be lost,
//! duplicated or reordered. [`DtmfReceiver`] turns such a stream into exactly one
//! [`DtmfDigit`] per press, keyed by the RTP timestamp; [`DtmfSender`] produces the packet
//! sequence for one press.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     event     |E|R| volume    |          duration             |
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Why a telephone-event payload or digit is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DtmfError {
    /// The payload is shorter than the 4-byte event.
    #[error("telephone-event payload too short ({len} bytes)")]
    TooShort {
        /// Payload length.
        len: usize,
    },
    /// The character is not one of `0-9 * # A-D`.
    #[error("{0:?} is not a DTMF digit")]
    NotADigit(char),
}

/// One telephone-event payload (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code: 0-9 digits, 10 `*`, 11 `#`, 12-15 `A`-`D` (RFC 4733 §3.2).
    pub event: u8,
    /// The E bit: this packet ends the event.
    pub end: bool,
    /// Power level in -dBm0, 0..=63 (larger is quieter).
    pub volume: u8,
    /// Duration so far, in RTP clock units (samples at 8 kHz).
    pub duration: u16,
}

impl TelephoneEvent {
    /// Payload length.
    pub const LEN: usize = 4;

    /// Reads the first event of a payload; trailing bytes are ignored.
    pub fn parse(payload: &[u8]) -> Result<Self, DtmfError> {
        let [event, flags, hi, lo, ..] = *payload else {
            return Err(DtmfError::TooShort { len: payload.len() });
        };
        Ok(TelephoneEvent {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3f,
            duration: u16::from_be_bytes([hi, lo]),
        })
    }

    /// The 4 payload bytes (the R bit is written as 0, volume is masked to 6 bits).
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let [hi, lo] = self.duration.to_be_bytes();
        let flags = (self.volume & 0x3f) | if self.end { 0x80 } else { 0 };
        [self.event, flags, hi, lo]
    }

    /// The digit this event stands for, if it is a DTMF event (codes 0-15).
    pub fn digit(&self) -> Option<char> {
        event_to_digit(self.event)
    }
}

/// Event code → DTMF character (`0-9`, `*`, `#`, `A-D`); `None` for other events.
pub fn event_to_digit(event: u8) -> Option<char> {
    Some(match event {
        0..=9 => char::from(b'0' + event),
        10 => '*',
        11 => '#',
        12..=15 => char::from(b'A' + event - 12),
        _ => return None,
    })
}

/// DTMF character → event code; accepts `a-d` as `A-D`.
pub fn digit_to_event(digit: char) -> Option<u8> {
    Some(match digit.to_ascii_uppercase() {
        // The match arm guarantees an ASCII digit, so the cast is exact.
        d @ '0'..='9' => d as u8 - b'0',
        '*' => 10,
        '#' => 11,
        d @ 'A'..='D' => d as u8 - b'A' + 12,
        _ => return None,
    })
}

/// One detected key press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfDigit {
    /// `0-9`, `*`, `#` or `A-D`.
    pub digit: char,
    /// How long the key was held, from the last duration seen.
    pub duration_ms: u32,
}

/// How long an event may go without packets before it counts as ended (its end packets
/// were all lost).
pub const EVENT_END_TIMEOUT: Duration = Duration::from_millis(500);

/// How many finished events' timestamps are remembered to drop late duplicates.
const RECENT_EVENTS: usize = 8;

#[derive(Debug, Clone, Copy)]
struct Pending {
    timestamp: u32,
    event: u8,
    duration: u16,
    last_seen: Instant,
}

/// Turns telephone-event packets into one [`DtmfDigit`] per key press (sans-IO).
///
/// Packets of one press share their RTP timestamp. A digit is reported when the first end
/// packet arrives; when the end packets are all lost, it is reported when the next press
/// starts or when [`EVENT_END_TIMEOUT`] passes without packets (see
/// [`handle_timeout`](Self::handle_timeout)). Packets whose timestamp belongs to a press
/// already reported (the redundant end packets, late updates) are ignored. The first packet
/// (with the marker) may be lost: any packet with a new timestamp starts a press.
///
/// Draining rule: after [`handle_event`](Self::handle_event) or
/// [`handle_timeout`](Self::handle_timeout), call [`poll_digit`](Self::poll_digit) until it
/// returns `None`, then wake at [`poll_timeout`](Self::poll_timeout).
#[derive(Debug)]
pub struct DtmfReceiver {
    /// The telephone-event clock: durations are in its units.
    clock_rate: u32,
    pending: Option<Pending>,
    recent: [Option<u32>; RECENT_EVENTS],
    recent_next: usize,
    digits: VecDeque<DtmfDigit>,
}

impl Default for DtmfReceiver {
    fn default() -> Self {
        Self::new()
    }
}

impl DtmfReceiver {
    /// A receiver with nothing in flight, for events at 8 kHz (`telephone-event/8000`).
    pub fn new() -> Self {
        Self::with_clock_rate(crate::CLOCK_RATE)
    }

    /// A receiver for events at `clock_rate` Hz: telephone-event takes its codec's clock
    /// (RFC 4733 §2.1), so `telephone-event/48000` beside Opus counts durations in 48 kHz
    /// units. A rate of 0 is taken as 8000.
    pub fn with_clock_rate(clock_rate: u32) -> Self {
        DtmfReceiver {
            clock_rate: if clock_rate == 0 {
                crate::CLOCK_RATE
            } else {
                clock_rate
            },
            pending: None,
            recent: [None; RECENT_EVENTS],
            recent_next: 0,
            digits: VecDeque::new(),
        }
    }

    /// Feeds one telephone-event packet: its RTP timestamp and its payload.
    pub fn handle_event(&mut self, now: Instant, rtp_timestamp: u32, event: &TelephoneEvent) {
        if event.digit().is_none() || self.recent.contains(&Some(rtp_timestamp)) {
            return;
        }
        match self.pending {
            Some(ref mut p) if p.timestamp == rtp_timestamp => {
                p.duration = p.duration.max(event.duration);
                p.last_seen = now;
            }
            _ => {
                // A new press; a previous one whose end packets were lost ends here.
                self.finish();
                self.pending = Some(Pending {
                    timestamp: rtp_timestamp,
                    event: event.event,
                    duration: event.duration,
                    last_seen: now,
                });
            }
        }
        if event.end {
            self.finish();
        }
    }

    /// Ends a press that has gone quiet for [`EVENT_END_TIMEOUT`].
    pub fn handle_timeout(&mut self, now: Instant) {
        if self
            .pending
            .is_some_and(|p| now >= p.last_seen + EVENT_END_TIMEOUT)
        {
            self.finish();
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.map(|p| p.last_seen + EVENT_END_TIMEOUT)
    }

    /// The next detected digit.
    pub fn poll_digit(&mut self) -> Option<DtmfDigit> {
        self.digits.pop_front()
    }

    /// Forgets the press in flight and the remembered timestamps (for a new remote SSRC).
    pub fn reset(&mut self) {
        self.pending = None;
        self.recent = [None; RECENT_EVENTS];
    }

    fn finish(&mut self) {
        let Some(p) = self.pending.take() else {
            return;
        };
        self.recent[self.recent_next] = Some(p.timestamp);
        self.recent_next = (self.recent_next + 1) % RECENT_EVENTS;
        if let Some(digit) = event_to_digit(p.event) {
            self.digits.push_back(DtmfDigit {
                digit,
                duration_ms: u32::from(p.duration) * 1000 / self.clock_rate,
            });
        }
    }
}

/// One packet of an outgoing press. All packets of a press carry the same RTP timestamp
/// (the press's start) and consecutive sequence numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    /// Set on the first packet only.
    pub marker: bool,
    /// The payload.
    pub event: TelephoneEvent,
}

/// Produces the packets of one key press (RFC 4733 §2.5.1): one per 20 ms packet interval,
/// the first with the marker bit, durations growing by 160 samples, then the final
/// duration three times with the E bit.
#[derive(Debug, Clone)]
pub struct DtmfSender {
    event: u8,
    volume: u8,
    total: u16,
    sent: u16,
    ends_sent: u8,
}

impl DtmfSender {
    /// Samples between packets (20 ms at 8 kHz).
    pub const STEP: u16 = 160;
    /// How many times the end packet is sent.
    pub const END_REPEATS: u8 = 3;

    /// A press of `digit` for `duration_ms` (clamped to 40..=8000 ms) at `volume` -dBm0
    /// (clamped to 0..=63; 10 is a typical level).
    pub fn new(digit: char, duration_ms: u32, volume: u8) -> Result<Self, DtmfError> {
        let event = digit_to_event(digit).ok_or(DtmfError::NotADigit(digit))?;
        let samples = duration_ms.clamp(40, 8000) * crate::CLOCK_RATE / 1000;
        Ok(DtmfSender {
            event,
            volume: volume.min(63),
            // At most 64000, which fits a u16.
            total: u16::try_from(samples).unwrap_or(u16::MAX),
            sent: 0,
            ends_sent: 0,
        })
    }

    /// The next packet, to be sent one packet interval after the previous one.
    pub fn next_packet(&mut self) -> Option<DtmfPacket> {
        let first = self.sent == 0 && self.ends_sent == 0;
        let duration = self.sent.saturating_add(Self::STEP).min(self.total);
        let end = duration >= self.total;
        if end {
            if self.ends_sent >= Self::END_REPEATS {
                return None;
            }
            self.ends_sent += 1;
        }
        self.sent = duration;
        Some(DtmfPacket {
            marker: first,
            event: TelephoneEvent {
                event: self.event,
                end,
                volume: self.volume,
                duration,
            },
        })
    }
}

impl Iterator for DtmfSender {
    type Item = DtmfPacket;

    fn next(&mut self) -> Option<DtmfPacket> {
        self.next_packet()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::disallowed_methods)] // One arbitrary origin; all later times are offsets.
    fn t0() -> Instant {
        Instant::now()
    }

    fn ev(event: u8, end: bool, duration: u16) -> TelephoneEvent {
        TelephoneEvent {
            event,
            end,
            volume: 10,
            duration,
        }
    }

    fn drain(rx: &mut DtmfReceiver) -> Vec<DtmfDigit> {
        std::iter::from_fn(|| rx.poll_digit()).collect()
    }

    #[test]
    fn payload_round_trip() {
        let e = TelephoneEvent::parse(&[11, 0x8a, 0x03, 0x20]).unwrap();
        assert_eq!(e, ev(11, true, 800));
        assert_eq!(e.to_bytes(), [11, 0x8a, 0x03, 0x20]);
        assert_eq!(e.digit(), Some('#'));
        // R bit ignored on input.
        assert_eq!(TelephoneEvent::parse(&[1, 0x4a, 0, 0]).unwrap().volume, 10);
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3]),
            Err(DtmfError::TooShort { len: 3 })
        );
    }

    #[test]
    fn digit_mapping_is_a_bijection() {
        for code in 0..=15u8 {
            let d = event_to_digit(code).unwrap();
            assert_eq!(digit_to_event(d), Some(code));
        }
        assert_eq!(event_to_digit(16), None);
        assert_eq!(digit_to_event('a'), Some(12));
        assert_eq!(digit_to_event('x'), None);
    }

    #[test]
    fn one_digit_per_press_with_redundant_ends() {
        let t = t0();
        let mut rx = DtmfReceiver::new();
        for (i, (end, d)) in [(false, 160), (false, 320), (false, 480), (true, 640)]
            .into_iter()
            .enumerate()
        {
            rx.handle_event(
                t + Duration::from_millis(20 * i as u64),
                1000,
                &ev(5, end, d),
            );
        }
        rx.handle_event(t, 1000, &ev(5, true, 640));
        rx.handle_event(t, 1000, &ev(5, true, 640));
        assert_eq!(
            drain(&mut rx),
            [DtmfDigit {
                digit: '5',
                duration_ms: 80
            }]
        );
        assert_eq!(rx.poll_timeout(), None);
    }

    #[test]
    fn durations_follow_the_event_clock() {
        // Beside Opus, telephone-event/48000: 80 ms is 3840 units.
        let mut rx = DtmfReceiver::with_clock_rate(48_000);
        rx.handle_event(t0(), 9600, &ev(7, true, 3840));
        assert_eq!(
            drain(&mut rx),
            [DtmfDigit {
                digit: '7',
                duration_ms: 80
            }]
        );
        let mut rx = DtmfReceiver::with_clock_rate(0);
        rx.handle_event(t0(), 0, &ev(7, true, 640));
        assert_eq!(drain(&mut rx)[0].duration_ms, 80, "0 is taken as 8000");
    }

    #[test]
    fn lost_end_packets_end_on_next_press_or_timeout() {
        let t = t0();
        let mut rx = DtmfReceiver::new();
        rx.handle_event(t, 1000, &ev(1, false, 160));
        rx.handle_event(t, 1000, &ev(1, false, 320));
        // Next press: the previous one is reported first.
        rx.handle_event(t, 3000, &ev(2, false, 160));
        assert_eq!(
            drain(&mut rx).iter().map(|d| d.digit).collect::<String>(),
            "1"
        );
        let deadline = rx.poll_timeout().unwrap();
        rx.handle_timeout(deadline - Duration::from_millis(1));
        assert!(rx.poll_digit().is_none());
        rx.handle_timeout(deadline);
        assert_eq!(
            drain(&mut rx).iter().map(|d| d.digit).collect::<String>(),
            "2"
        );
        // A late end packet of either press is a duplicate.
        rx.handle_event(t, 1000, &ev(1, true, 480));
        rx.handle_event(t, 3000, &ev(2, true, 480));
        assert!(rx.poll_digit().is_none());
    }

    #[test]
    fn non_dtmf_events_are_ignored() {
        let mut rx = DtmfReceiver::new();
        rx.handle_event(t0(), 5, &ev(16, true, 800)); // flash
        assert!(rx.poll_digit().is_none());
        assert!(rx.poll_timeout().is_none());
    }

    #[test]
    fn sender_sequence() {
        let packets: Vec<_> = DtmfSender::new('7', 100, 10).unwrap().collect();
        let durations: Vec<_> = packets.iter().map(|p| p.event.duration).collect();
        assert_eq!(durations, [160, 320, 480, 640, 800, 800, 800]);
        assert!(packets[0].marker);
        assert!(packets[1..].iter().all(|p| !p.marker));
        let ends: Vec<_> = packets.iter().map(|p| p.event.end).collect();
        assert_eq!(ends, [false, false, false, false, true, true, true]);
        assert!(
            packets
                .iter()
                .all(|p| p.event.event == 7 && p.event.volume == 10)
        );
        assert_eq!(
            DtmfSender::new('x', 100, 10).err(),
            Some(DtmfError::NotADigit('x'))
        );
        // Very short presses are stretched to 40 ms; volume is clamped.
        let short: Vec<_> = DtmfSender::new('#', 10, 80).unwrap().collect();
        assert_eq!(short.len(), 4);
        assert!(short[0].marker && !short[0].event.end);
        assert!(
            short[1..]
                .iter()
                .all(|p| p.event.end && p.event.duration == 320)
        );
        assert_eq!(short[0].event.volume, 63);
    }

    #[test]
    fn sender_feeds_receiver() {
        let t = t0();
        let mut rx = DtmfReceiver::new();
        for (n, digit) in "0123456789*#ABCD".chars().enumerate() {
            let ts = 10_000 * n as u32;
            for p in DtmfSender::new(digit, 120, 10).unwrap() {
                rx.handle_event(t, ts, &p.event);
            }
        }
        let got: Vec<_> = drain(&mut rx);
        assert_eq!(
            got.iter().map(|d| d.digit).collect::<String>(),
            "0123456789*#ABCD"
        );
        assert!(got.iter().all(|d| d.duration_ms == 120));
    }
}
