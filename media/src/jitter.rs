//! An adaptive jitter buffer for one received RTP stream, and G.711 loss concealment.
//!
//! [`JitterBuffer`] takes packets as they arrive ([`push`](JitterBuffer::push)) and hands
//! out one 20 ms frame per tick ([`pop`](JitterBuffer::pop)): the payload due now, a
//! [`Playout::Lost`] where a packet is missing, a [`Playout::Stretch`] while it grows its
//! delay, or [`Playout::Empty`] before the stream starts and between talkspurts. It holds
//! copies of payloads in a fixed ring of [`SLOTS`] preallocated buffers, so the steady state
//! does not allocate. [`Plc`] turns a `Lost` or `Stretch` into audio.
//!
//! ## Time model and draining rule
//! The buffer reads no clock. The driver passes the arrival instant of every packet to
//! `push`, and calls `pop` once per 20 ms tick with the tick's instant: each `pop` plays
//! exactly one frame's worth of time, whatever it returns, so the pop count is the playout
//! clock and `now` is only used to measure delay (smoothed over about 16 ticks, so a
//! driver's tick jitter does not move the delay). Within a tick, push every datagram that
//! arrived first, then pop once; use the borrowed payload before the next `push` (the
//! borrow checker insists). Ticking a few milliseconds early or late is harmless; a
//! driver that missed ticks should pop once per missed tick to catch up.
//!
//! ## Playout
//! Frames are addressed by RTP timestamp: once a talkspurt is playing, the frame whose
//! timestamp is the cursor's plays at each pop and the cursor moves on by one frame
//! (20 ms at [`JitterConfig::clock_rate`]: [`FRAME_SAMPLES`] at 8 kHz, 960 at Opus's
//! 48 kHz). Sequence numbers find holes: a missing packet whose successor is
//! already here is reported [`Playout::Lost`]. When nothing at all is buffered (an
//! underrun, or the sender fell silent), pops keep reporting `Lost` for up to
//! [`JitterConfig::max_conceal`] and then `Empty`; a packet that turns up after its
//! timestamp's turn is *late*: dropped and counted. A timestamp gap with consecutive
//! sequence numbers is silence, not loss (RFC 3551 §4.1; the marker bit usually opens the
//! next talkspurt).
//!
//! ## Adaptive delay
//! For every packet, `transit = arrival - timestamp` (in µs, from an arbitrary origin).
//! The *floor* is the smallest transit of the last [`FLOOR_WINDOW`] packets (the fastest
//! recent trip) and a packet's *relative delay* is how far its transit lies above the floor
//! when it arrives. The target delay covers the 98th percentile of the relative delays of
//! the last [`DELAY_WINDOW`] packets (about 5 s), bounded by
//! [`min_delay`](JitterConfig::min_delay) and [`max_delay`](JitterConfig::max_delay), and
//! no lower than [`initial_delay`](JitterConfig::initial_delay) until a second of audio has
//! come in. The current delay is `now - timestamp - floor` for the frame being played.
//!
//! - A talkspurt (the stream's first, or any after a timestamp gap, an underrun or a marker)
//!   starts once its first frame's delay reaches the target: delay changes at talkspurt
//!   boundaries, in both directions, cost nothing.
//! - Inside a talkspurt the buffer grows at once: while the delay is under the target a pop
//!   returns [`Playout::Stretch`] (conceal one frame, the cursor stays). It shrinks slowly:
//!   at most one frame a second is dropped, and only once the delay exceeds the target by
//!   more than a frame and 5 ms; beyond `max_delay` one is dropped every tick.
//! - Clock drift needs nothing more: a sender whose clock runs fast makes transits fall, so
//!   the delay climbs and frames get dropped; a slow one makes it sink and pops stretch.
//!
//! ## New streams
//! A sequence jump of more than [`MAX_DROPOUT`] ahead or [`MAX_MISORDER`] behind, a
//! timestamp that runs backwards while the sequence number advances, or a transit that moves
//! by more than ten seconds marks a packet as a candidate for a new stream (RFC 3550 A.1):
//! it is held aside, and the buffer restarts on it when the next packet follows on from it.
//! A stray packet is discarded instead. [`push_rtp`](JitterBuffer::push_rtp) also restarts
//! at once when the SSRC changes; [`reset`](JitterBuffer::reset) restarts by hand.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use hotline_media::jitter::{JitterBuffer, JitterConfig, Playout, Plc};
//! use hotline_media::{Codec, FRAME_DURATION, FRAME_SAMPLES, Frame};
//!
//! let start = Instant::now(); // the driver reads the clock, never the buffer
//! let mut jb = JitterBuffer::new(JitterConfig::default());
//! let mut plc = Plc::new();
//! let mut played = 0;
//! for tick in 0..10u16 {
//!     let now = start + FRAME_DURATION * u32::from(tick);
//!     // Drain the socket first: here, one A-law packet per tick.
//!     jb.push(now, 100 + tick, 160 * u32::from(tick), tick == 0, &[0xD5; FRAME_SAMPLES]);
//!     // Then one pop per tick.
//!     let mut pcm: Frame = [0; FRAME_SAMPLES];
//!     match jb.pop(now) {
//!         Playout::Frame { payload, .. } => {
//!             Codec::Pcma.decode(payload, &mut pcm);
//!             plc.good_frame(&mut pcm); // delays by Plc::DELAY, smooths after a loss
//!             played += 1;
//!         }
//!         Playout::Lost { .. } | Playout::Stretch => pcm = plc.conceal(),
//!         _ => {} // Empty: silence (or comfort noise)
//!     }
//!     // ... mix, record, or re-encode `pcm`.
//! }
//! assert!(played > 0 && jb.stats().delay >= Duration::from_millis(20));
//! ```

mod plc;

pub use plc::Plc;

use std::time::{Duration, Instant};

use crate::rtp::RtpPacket;
use crate::{CLOCK_RATE, FRAME_SAMPLES};

/// Packets the ring holds (1.28 s of 20 ms frames). Sequence numbers further ahead of the
/// playout cursor flush the buffer.
pub const SLOTS: usize = 64;

/// Largest payload stored; bigger ones are discarded.
pub const MAX_PAYLOAD: usize = 1500;

/// Sequence numbers further ahead than this start a new stream (RFC 3550 A.1).
pub const MAX_DROPOUT: u16 = 3000;

/// Sequence numbers further behind than this start a new stream (RFC 3550 A.1).
pub const MAX_MISORDER: u16 = 100;

/// Packets whose transits make the floor.
pub const FLOOR_WINDOW: usize = 64;

/// Packets whose relative delays set the target.
pub const DELAY_WINDOW: usize = 256;

/// The share of recent packets the target delay covers, in per mille.
const DELAY_QUANTILE_PER_MILLE: usize = 990;

/// Packets before the target may fall below the initial delay (one second).
const WARMUP_PACKETS: usize = 50;

/// Histogram resolution of the relative delays.
const BUCKET_US: i64 = 2_000;

/// Histogram size: relative delays from 0 to 1.024 s; larger ones land in the last bucket.
const BUCKETS: usize = 512;

/// A transit further than this from the floor is a new timeline, not jitter.
const TIMING_JUMP_US: i64 = 10_000_000;

/// One frame in microseconds.
const FRAME_US: i64 = 20_000;

/// How far over target + one frame the delay must be before a frame is dropped.
const SHRINK_HYSTERESIS_US: i64 = 5_000;

/// A pop this far from where the playout clock expects it resets the clock.
const CLOCK_RELOCK_US: i64 = 100_000;

/// Pops between two frames dropped to shrink the delay (one second).
const SHRINK_EVERY: u32 = 50;

/// The buffer's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// The least playout delay, above the fastest recent transit.
    pub min_delay: Duration,
    /// The most: bounded latency. At most one second (the ring holds 1.28 s).
    pub max_delay: Duration,
    /// The delay of the first talkspurt, before there is anything to measure.
    pub initial_delay: Duration,
    /// How long an underrun is reported as [`Playout::Lost`] before it counts as silence.
    pub max_conceal: Duration,
    /// The payload bytes each slot is allocated for up front (G.711 at 20 ms: 160). A
    /// larger payload grows its slot once, up to [`MAX_PAYLOAD`].
    pub payload_capacity: usize,
    /// The stream's RTP clock rate ([`AudioCodec::clock_rate`](crate::AudioCodec::clock_rate):
    /// 8000 for G.711 and G.722, 48000 for Opus). Each frame is 20 ms of it; at least 50.
    pub clock_rate: u32,
}

impl Default for JitterConfig {
    fn default() -> Self {
        JitterConfig {
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            initial_delay: Duration::from_millis(60),
            max_conceal: Duration::from_millis(100),
            payload_capacity: FRAME_SAMPLES,
            clock_rate: CLOCK_RATE,
        }
    }
}

/// What one tick plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Playout<'a> {
    /// A received frame, due now.
    Frame {
        /// The payload, as it arrived.
        payload: &'a [u8],
        /// Its RTP sequence number.
        seq: u16,
        /// Its RTP timestamp.
        timestamp: u32,
        /// Its marker bit (the first packet of a talkspurt).
        marker: bool,
    },
    /// The frame due now is missing: conceal it ([`Plc::conceal`]).
    Lost {
        /// The sequence number it should have had.
        seq: u16,
        /// The timestamp it should have had.
        timestamp: u32,
    },
    /// Nothing is missing, but the buffer is growing its delay by one frame: conceal as for
    /// `Lost`; the frame due now comes at the next pop instead.
    Stretch,
    /// Nothing to play: before the stream starts, or between talkspurts. Play silence or
    /// comfort noise.
    Empty,
}

/// What became of a pushed packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pushed {
    /// Stored for playout.
    Stored,
    /// Stored as the start of a new stream: what was buffered before is gone.
    Restarted,
    /// Held aside: it jumps away from the stream, and starts a new one if the next packet
    /// follows it.
    Held,
    /// Dropped: this sequence number is already here or has played.
    Duplicate,
    /// Dropped: its turn has passed.
    Late,
    /// Dropped: the payload is larger than [`MAX_PAYLOAD`].
    Oversized,
}

/// Counters and measurements, for RTCP receiver reports, metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JitterStats {
    /// Packets pushed, whatever became of them.
    pub received: u64,
    /// Frames played ([`Playout::Frame`]).
    pub played: u64,
    /// Sequence numbers skipped by playout that never arrived (RTCP's "lost"; a packet that
    /// arrives late after all is taken back off).
    pub lost: u64,
    /// [`Playout::Lost`] answers: frames the caller concealed.
    pub concealed: u64,
    /// Packets that arrived after their turn (dropped).
    pub late: u64,
    /// Packets that were already here or had played (dropped).
    pub duplicate: u64,
    /// Packets that arrived after a higher sequence number, in time to play.
    pub reordered: u64,
    /// Frames dropped unplayed: to shrink the delay, or flushed when the ring overflowed.
    pub dropped: u64,
    /// [`Playout::Stretch`] answers: frames inserted to grow the delay.
    pub stretched: u64,
    /// Pops inside a talkspurt that found nothing buffered.
    pub underruns: u64,
    /// Packets dropped as oversized, or held as a new stream's start and never confirmed.
    pub discarded: u64,
    /// Times the buffer started over on a new stream.
    pub restarts: u64,
    /// Frames buffered now.
    pub buffered: usize,
    /// Playout delay of the last frame played, above the fastest recent transit.
    pub delay: Duration,
    /// The delay the buffer steers towards.
    pub target_delay: Duration,
    /// Interarrival jitter (RFC 3550 §6.4.1).
    pub jitter: Duration,
    /// The same, in timestamp units, as an RTCP report block carries it.
    pub jitter_rtp: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    /// Never used since the last restart.
    Free,
    /// Holds a packet waiting to play.
    Buffered,
    /// Its packet was received, then played, dropped or found late.
    Consumed,
    /// Playout skipped this sequence number without ever receiving it.
    Missed,
}

#[derive(Debug, Clone)]
struct Slot {
    seq: i64,
    ts: i64,
    marker: bool,
    state: SlotState,
    payload: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the next talkspurt's first frame to be due.
    Waiting,
    /// Playing a talkspurt.
    Talking,
}

/// A packet held aside as the possible start of a new stream.
#[derive(Debug, Clone)]
struct Candidate {
    held: bool,
    arrival: Option<Instant>,
    seq: u16,
    timestamp: u32,
    marker: bool,
    payload: Vec<u8>,
}

/// The adaptive jitter buffer of one RTP stream (see the module doc).
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    config: JitterConfig,
    /// Timestamp units per frame: 20 ms at the clock rate.
    frame_ts: i64,
    slots: Box<[Slot]>,
    candidate: Candidate,
    stats: JitterStats,
    ssrc: Option<u32>,

    // The stream; meaningful once `active`.
    active: bool,
    anchor: Option<Instant>,
    /// The first packet's timestamp: extended timestamps count from it.
    base_ts: u32,
    highest_seq: i64,
    highest_ts: i64,
    highest_raw_ts: u32,

    // Playout.
    phase: Phase,
    played_any: bool,
    next_seq: i64,
    cursor_ts: i64,
    underrun_run: u32,
    pops_since_drop: u32,
    delay_us: i64,
    /// The playout clock: the last pop's time, smoothed (see `playout_clock`).
    clock_us: Option<i64>,

    // Delay measurement.
    floor_ring: [i64; FLOOR_WINDOW],
    floor_len: usize,
    floor_pos: usize,
    floor_us: i64,
    rel_ring: [u16; DELAY_WINDOW],
    rel_len: usize,
    rel_pos: usize,
    histogram: [u16; BUCKETS],
    target_us: i64,
    target_stale: bool,
    last_transit: Option<i64>,
    jitter_us: f64,
}

impl Default for JitterBuffer {
    fn default() -> Self {
        JitterBuffer::new(JitterConfig::default())
    }
}

impl JitterBuffer {
    /// A buffer with these limits (`max_delay` capped at one second, the others kept in
    /// order). Allocates its ring here, once.
    pub fn new(config: JitterConfig) -> Self {
        let mut config = config;
        config.max_delay = config.max_delay.min(Duration::from_secs(1));
        config.min_delay = config.min_delay.min(config.max_delay);
        config.initial_delay = config
            .initial_delay
            .clamp(config.min_delay, config.max_delay);
        config.payload_capacity = config.payload_capacity.min(MAX_PAYLOAD);
        config.clock_rate = config.clock_rate.max(50);
        // Built one by one: a cloned `Vec` keeps its contents, not its capacity.
        let slot = || Slot {
            seq: 0,
            ts: 0,
            marker: false,
            state: SlotState::Free,
            payload: Vec::with_capacity(config.payload_capacity),
        };
        JitterBuffer {
            config,
            frame_ts: i64::from(config.clock_rate / 50),
            slots: (0..SLOTS).map(|_| slot()).collect(),
            candidate: Candidate {
                held: false,
                arrival: None,
                seq: 0,
                timestamp: 0,
                marker: false,
                payload: Vec::with_capacity(config.payload_capacity),
            },
            stats: JitterStats::default(),
            ssrc: None,
            active: false,
            anchor: None,
            base_ts: 0,
            highest_seq: 0,
            highest_ts: 0,
            highest_raw_ts: 0,
            phase: Phase::Waiting,
            played_any: false,
            next_seq: 0,
            cursor_ts: 0,
            underrun_run: 0,
            pops_since_drop: 0,
            delay_us: 0,
            clock_us: None,
            floor_ring: [0; FLOOR_WINDOW],
            floor_len: 0,
            floor_pos: 0,
            floor_us: 0,
            rel_ring: [0; DELAY_WINDOW],
            rel_len: 0,
            rel_pos: 0,
            histogram: [0; BUCKETS],
            target_us: 0,
            target_stale: true,
            last_transit: None,
            jitter_us: 0.0,
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &JitterConfig {
        &self.config
    }

    /// Forgets the stream: the next packet starts a new one. Counters are kept.
    pub fn reset(&mut self) {
        for slot in self.slots.iter_mut() {
            slot.state = SlotState::Free;
        }
        self.candidate.held = false;
        self.ssrc = None;
        self.active = false;
        self.anchor = None;
        self.phase = Phase::Waiting;
        self.played_any = false;
        self.underrun_run = 0;
        self.pops_since_drop = 0;
        self.delay_us = 0;
        self.clock_us = None;
        self.floor_len = 0;
        self.floor_pos = 0;
        self.rel_len = 0;
        self.rel_pos = 0;
        self.histogram = [0; BUCKETS];
        self.target_stale = true;
        self.last_transit = None;
        self.jitter_us = 0.0;
    }

    /// Pushes a parsed RTP packet: as [`push`](Self::push), after restarting the buffer if
    /// its SSRC differs from the previous packet's.
    pub fn push_rtp(&mut self, now: Instant, packet: &RtpPacket<'_>) -> Pushed {
        let ssrc = packet.ssrc();
        let restarted = self.ssrc.is_some_and(|s| s != ssrc);
        if restarted {
            self.reset();
            self.stats.restarts += 1;
        }
        self.ssrc = Some(ssrc);
        let pushed = self.push(
            now,
            packet.sequence(),
            packet.timestamp(),
            packet.marker(),
            packet.payload(),
        );
        if restarted && pushed == Pushed::Stored {
            Pushed::Restarted
        } else {
            pushed
        }
    }

    /// Takes one packet that arrived at `now`, copying its payload into the ring.
    pub fn push(
        &mut self,
        now: Instant,
        seq: u16,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
    ) -> Pushed {
        self.stats.received += 1;
        if payload.len() > MAX_PAYLOAD {
            self.stats.discarded += 1;
            return Pushed::Oversized;
        }
        if !self.active {
            self.begin(now, seq, timestamp);
        }
        if self.is_discontinuous(now, seq, timestamp) {
            return self.hold_or_restart(now, seq, timestamp, marker, payload);
        }
        if self.candidate.held {
            // The old stream goes on: the candidate was a stray.
            self.candidate.held = false;
            self.stats.discarded += 1;
        }
        self.accept(now, seq, timestamp, marker, payload)
    }

    /// What to play for the tick at `now` (see the module doc's draining rule).
    pub fn pop(&mut self, now: Instant) -> Playout<'_> {
        if !self.active {
            return Playout::Empty;
        }
        self.pops_since_drop = self.pops_since_drop.saturating_add(1);
        let now_us = self.playout_clock(now);
        let target = self.target_us();
        // At most a hole's worth of steps, then a frame, stretch, or nothing.
        loop {
            let head = self.head();
            match self.phase {
                Phase::Waiting => {
                    let Some(h) = head else {
                        return Playout::Empty;
                    };
                    let delay = self.delay_of(now_us, self.slot(h).ts);
                    if delay < target {
                        return Playout::Empty;
                    }
                    self.skip_to(h);
                    self.phase = Phase::Talking;
                    self.underrun_run = 0;
                    return self.play(h, delay);
                }
                Phase::Talking => {
                    let Some(h) = head else {
                        return self.underrun();
                    };
                    let head_ts = self.slot(h).ts;
                    if h > self.next_seq {
                        // A hole. Frames of it whose time already went by in an underrun
                        // were reported then; the rest are reported now, one per pop.
                        let missing = h - self.next_seq;
                        let time_left = (head_ts - self.cursor_ts).div_euclid(self.frame_ts);
                        let skip = missing - time_left.clamp(0, missing);
                        self.skip_to(self.next_seq + skip);
                        if self.next_seq < h {
                            return self.report_lost();
                        }
                    }
                    if head_ts > self.cursor_ts || self.slot(h).marker {
                        // Silence before it, or a new talkspurt: start it afresh.
                        if head_ts > self.cursor_ts || self.underrun_run > 0 {
                            self.phase = Phase::Waiting;
                            continue;
                        }
                    }
                    return self.play_due(h, now_us, target);
                }
            }
        }
    }

    /// The payload of packet `seq` if it is buffered, waiting to play: after a
    /// [`Playout::Lost`] for `seq - 1`, the packet that follows the lost one, whose Opus
    /// in-band FEC can rebuild it ([`Decoder::recover`](crate::codec::Decoder::recover)).
    pub fn peek(&self, seq: u16) -> Option<&[u8]> {
        if !self.active {
            return None;
        }
        let ext = self.next_seq + i64::from(seq.wrapping_sub(self.next_seq as u16) as i16);
        let slot = self.slot(ext);
        (slot.seq == ext && slot.state == SlotState::Buffered).then_some(&slot.payload[..])
    }

    /// Counters and the current delay figures.
    pub fn stats(&self) -> JitterStats {
        let mut stats = self.stats;
        stats.buffered = self
            .slots
            .iter()
            .filter(|s| s.state == SlotState::Buffered)
            .count();
        stats.delay = micros_to_duration(self.delay_us);
        stats.target_delay = micros_to_duration(self.current_target_us());
        stats.jitter = micros_to_duration(self.jitter_us as i64);
        stats.jitter_rtp =
            (self.jitter_us * f64::from(self.config.clock_rate) / 1_000_000.0) as u32;
        stats
    }

    // ---- push ----

    /// Starts a stream on this packet.
    fn begin(&mut self, now: Instant, seq: u16, timestamp: u32) {
        self.active = true;
        self.anchor = Some(now);
        self.base_ts = timestamp;
        self.highest_seq = i64::from(seq);
        self.highest_ts = 0;
        self.highest_raw_ts = timestamp;
        self.next_seq = i64::from(seq);
        self.cursor_ts = 0;
        self.phase = Phase::Waiting;
        self.played_any = false;
    }

    fn extend(&self, seq: u16, timestamp: u32) -> (i64, i64) {
        // Both differences are read as signed: the nearer of the two ways round.
        let dseq = i64::from(seq.wrapping_sub(self.highest_seq as u16) as i16);
        let dts = i64::from(timestamp.wrapping_sub(self.highest_raw_ts) as i32);
        (self.highest_seq + dseq, self.highest_ts.saturating_add(dts))
    }

    fn is_discontinuous(&self, now: Instant, seq: u16, timestamp: u32) -> bool {
        let (ext_seq, ext_ts) = self.extend(seq, timestamp);
        let dseq = ext_seq - self.highest_seq;
        if dseq > i64::from(MAX_DROPOUT) || dseq < -i64::from(MAX_MISORDER) {
            return true;
        }
        if dseq > 0 && ext_ts < self.highest_ts - self.frame_ts {
            return true; // time runs backwards while the sequence goes on
        }
        self.floor_len > 0 && (self.transit(now, ext_ts) - self.floor_us).abs() > TIMING_JUMP_US
    }

    /// A packet that does not follow the stream: hold it, or restart on the held one if
    /// this one follows it.
    fn hold_or_restart(
        &mut self,
        now: Instant,
        seq: u16,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
    ) -> Pushed {
        let c = &self.candidate;
        let follows = c.held
            && seq == c.seq.wrapping_add(1)
            && (0..=i64::from(self.config.clock_rate) * 10)
                .contains(&i64::from(timestamp.wrapping_sub(c.timestamp) as i32));
        if !follows {
            if self.candidate.held {
                self.stats.discarded += 1;
            }
            let c = &mut self.candidate;
            c.held = true;
            c.arrival = Some(now);
            c.seq = seq;
            c.timestamp = timestamp;
            c.marker = marker;
            c.payload.clear();
            c.payload.extend_from_slice(payload);
            return Pushed::Held;
        }
        let arrival = self.candidate.arrival.unwrap_or(now);
        let (c_seq, c_ts, c_marker) = (c.seq, c.timestamp, c.marker);
        let held = std::mem::take(&mut self.candidate.payload);
        self.reset();
        self.stats.restarts += 1;
        self.begin(arrival, c_seq, c_ts);
        self.accept(arrival, c_seq, c_ts, c_marker, &held);
        self.candidate.payload = held;
        self.accept(now, seq, timestamp, marker, payload);
        Pushed::Restarted
    }

    /// Files a packet of the current stream.
    fn accept(
        &mut self,
        now: Instant,
        seq: u16,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
    ) -> Pushed {
        let (ext_seq, ext_ts) = self.extend(seq, timestamp);
        let transit = self.transit(now, ext_ts);

        let idx = slot_index(ext_seq);
        let slot = &self.slots[idx];
        let here = slot.seq == ext_seq;
        if here && matches!(slot.state, SlotState::Buffered | SlotState::Consumed) {
            self.stats.duplicate += 1;
            return Pushed::Duplicate;
        }
        let behind = if self.played_any {
            ext_seq < self.next_seq
        } else {
            ext_seq <= self.highest_seq - SLOTS as i64
        };
        let too_late_in_time = self.phase == Phase::Talking && ext_ts < self.cursor_ts;
        if behind || too_late_in_time {
            self.stats.late += 1;
            if here && slot.state == SlotState::Missed {
                self.stats.lost = self.stats.lost.saturating_sub(1);
            }
            if behind && !here {
                // Older than the ring: nothing to mark.
            } else {
                let slot = &mut self.slots[idx];
                slot.seq = ext_seq;
                slot.ts = ext_ts;
                slot.state = SlotState::Consumed;
            }
            self.record_timing(transit, marker);
            return Pushed::Late;
        }

        if !self.played_any && ext_seq < self.next_seq {
            self.next_seq = ext_seq; // reordered before the stream started playing
        }
        if ext_seq - self.next_seq >= SLOTS as i64 {
            self.flush(ext_seq - SLOTS as i64 + 1);
        }
        if ext_seq < self.highest_seq {
            self.stats.reordered += 1;
        } else {
            self.highest_seq = ext_seq;
            self.highest_ts = ext_ts;
            self.highest_raw_ts = timestamp;
        }
        let slot = &mut self.slots[idx];
        slot.seq = ext_seq;
        slot.ts = ext_ts;
        slot.marker = marker;
        slot.state = SlotState::Buffered;
        slot.payload.clear();
        slot.payload.extend_from_slice(payload);
        self.record_timing(transit, marker);
        Pushed::Stored
    }

    /// The ring overflowed (a long dropout, or nobody popping): drops everything before
    /// `keep_from` and waits for a new talkspurt.
    fn flush(&mut self, keep_from: i64) {
        for s in self.next_seq..keep_from.min(self.next_seq + SLOTS as i64) {
            let slot = &mut self.slots[slot_index(s)];
            if slot.seq == s && slot.state == SlotState::Buffered {
                slot.state = SlotState::Consumed;
                self.stats.dropped += 1;
            } else if self.played_any && !(slot.seq == s && slot.state == SlotState::Consumed) {
                self.stats.lost += 1;
            }
        }
        if self.played_any {
            // Beyond the ring: never seen, so never received.
            let unseen = keep_from - (self.next_seq + SLOTS as i64);
            self.stats.lost += u64::try_from(unseen).unwrap_or(0);
        }
        self.next_seq = keep_from;
        self.phase = Phase::Waiting;
    }

    fn record_timing(&mut self, transit: i64, marker: bool) {
        if marker
            && self.floor_len > 0
            && (transit - self.floor_us).abs() > duration_micros(self.config.max_delay)
        {
            // A talkspurt on a new timeline (a sender that stops its clock in silence).
            self.floor_len = 0;
            self.floor_pos = 0;
        }
        // Floor: the least transit of the last FLOOR_WINDOW packets.
        self.floor_ring[self.floor_pos] = transit;
        self.floor_pos = (self.floor_pos + 1) % FLOOR_WINDOW;
        self.floor_len = (self.floor_len + 1).min(FLOOR_WINDOW);
        self.floor_us = self.floor_ring[..self.floor_len]
            .iter()
            .copied()
            .min()
            .unwrap_or(transit);

        // Relative delay histogram over the last DELAY_WINDOW packets.
        let bucket = ((transit - self.floor_us) / BUCKET_US).clamp(0, BUCKETS as i64 - 1) as u16;
        if self.rel_len == DELAY_WINDOW {
            let old = usize::from(self.rel_ring[self.rel_pos]);
            self.histogram[old] = self.histogram[old].saturating_sub(1);
        } else {
            self.rel_len += 1;
        }
        self.rel_ring[self.rel_pos] = bucket;
        self.rel_pos = (self.rel_pos + 1) % DELAY_WINDOW;
        self.histogram[usize::from(bucket)] += 1;
        self.target_stale = true;

        // RFC 3550 §6.4.1: J += (|D| - J) / 16.
        if let Some(last) = self.last_transit {
            let d = transit.saturating_sub(last).unsigned_abs() as f64;
            self.jitter_us += (d - self.jitter_us) / 16.0;
        }
        self.last_transit = Some(transit);
    }

    // ---- pop ----

    fn slot(&self, seq: i64) -> &Slot {
        &self.slots[slot_index(seq)]
    }

    /// The first buffered packet at or after the cursor.
    fn head(&self) -> Option<i64> {
        (self.next_seq..=self.highest_seq).take(SLOTS).find(|&s| {
            let slot = self.slot(s);
            slot.seq == s && slot.state == SlotState::Buffered
        })
    }

    /// Moves the cursor to `seq`, counting the never-received sequence numbers passed.
    fn skip_to(&mut self, seq: i64) {
        let from = self.next_seq.max(seq - SLOTS as i64);
        for s in from..seq {
            let slot = &mut self.slots[slot_index(s)];
            let received = slot.seq == s && slot.state == SlotState::Consumed;
            if !received && slot.state != SlotState::Buffered {
                if self.played_any {
                    self.stats.lost += 1;
                }
                slot.seq = s;
                slot.state = SlotState::Missed;
            }
        }
        self.next_seq = self.next_seq.max(seq);
    }

    /// Nothing buffered inside a talkspurt.
    fn underrun(&mut self) -> Playout<'static> {
        let max = duration_micros(self.config.max_conceal) / FRAME_US;
        if i64::from(self.underrun_run) >= max {
            self.phase = Phase::Waiting;
            return Playout::Empty;
        }
        self.stats.underruns += 1;
        self.stats.concealed += 1;
        let seq = self.next_seq + i64::from(self.underrun_run);
        let ts = self.cursor_ts;
        self.underrun_run += 1;
        self.cursor_ts += self.frame_ts;
        Playout::Lost {
            seq: seq as u16,
            timestamp: self.raw_ts(ts),
        }
    }

    /// The packet at the cursor is missing and a later one is here.
    fn report_lost(&mut self) -> Playout<'static> {
        let seq = self.next_seq;
        let ts = self.cursor_ts;
        self.skip_to(seq + 1);
        self.cursor_ts += self.frame_ts;
        self.stats.concealed += 1;
        Playout::Lost {
            seq: seq as u16,
            timestamp: self.raw_ts(ts),
        }
    }

    /// The head is the frame due now, inside a talkspurt: stretch, drop or play it.
    fn play_due(&mut self, h: i64, now_us: i64, target: i64) -> Playout<'_> {
        let head_ts = self.slot(h).ts;
        let delay = self.delay_of(now_us, head_ts);
        if delay < target {
            self.stats.stretched += 1;
            self.delay_us = delay;
            return Playout::Stretch;
        }
        let max = duration_micros(self.config.max_delay);
        let excess = delay - target;
        let shrink = (excess > FRAME_US + SHRINK_HYSTERESIS_US
            && self.pops_since_drop >= SHRINK_EVERY)
            || delay > max + FRAME_US;
        let next = self.slot(h + 1);
        if shrink
            && next.seq == h + 1
            && next.state == SlotState::Buffered
            && next.ts == head_ts + self.frame_ts
        {
            let slot = &mut self.slots[slot_index(h)];
            slot.state = SlotState::Consumed;
            self.stats.dropped += 1;
            self.pops_since_drop = 0;
            self.next_seq = h + 1;
            return self.play(h + 1, delay - FRAME_US);
        }
        self.play(h, delay)
    }

    fn play(&mut self, h: i64, delay: i64) -> Playout<'_> {
        self.next_seq = h + 1;
        self.played_any = true;
        self.underrun_run = 0;
        self.delay_us = delay;
        self.stats.played += 1;
        let base_ts = self.base_ts;
        let slot = &mut self.slots[slot_index(h)];
        slot.state = SlotState::Consumed;
        self.cursor_ts = slot.ts + self.frame_ts;
        Playout::Frame {
            payload: &slot.payload,
            seq: h as u16,
            timestamp: base_ts.wrapping_add(slot.ts as u32),
            marker: slot.marker,
        }
    }

    // ---- time ----

    /// Microseconds since the stream began (0 for anything earlier).
    fn micros(&self, now: Instant) -> i64 {
        self.anchor.map_or(0, |a| {
            i64::try_from(now.saturating_duration_since(a).as_micros()).unwrap_or(i64::MAX)
        })
    }

    /// The time of this pop, in µs since the stream began, with the driver's tick noise
    /// smoothed away: a frame after the last pop, pulled a sixteenth of the way towards
    /// `now`. So the clock follows the driver's tick rate but not each tick's jitter; a
    /// driver more than 100 ms off (it stopped popping for a while) resets it.
    fn playout_clock(&mut self, now: Instant) -> i64 {
        let now_us = self.micros(now);
        let clock = match self.clock_us {
            Some(last) => {
                let expected = last.saturating_add(FRAME_US);
                let error = now_us.saturating_sub(expected);
                if error.abs() > CLOCK_RELOCK_US {
                    now_us
                } else {
                    expected + error / 16
                }
            }
            None => now_us,
        };
        self.clock_us = Some(clock);
        clock
    }

    fn transit(&self, now: Instant, ext_ts: i64) -> i64 {
        self.micros(now)
            .saturating_sub(self.ticks_to_micros(ext_ts))
    }

    /// The playout delay of the frame with this timestamp if played at `now_us`.
    fn delay_of(&self, now_us: i64, ext_ts: i64) -> i64 {
        now_us
            .saturating_sub(self.ticks_to_micros(ext_ts))
            .saturating_sub(self.floor_us)
    }

    /// Timestamp units as microseconds (rounded towards zero; exact at 8 kHz, within a
    /// microsecond at 48 kHz).
    fn ticks_to_micros(&self, ticks: i64) -> i64 {
        ticks.saturating_mul(1_000_000) / i64::from(self.config.clock_rate)
    }

    fn raw_ts(&self, ext_ts: i64) -> u32 {
        self.base_ts.wrapping_add(ext_ts as u32)
    }

    fn target_us(&mut self) -> i64 {
        if self.target_stale {
            self.target_us = self.current_target_us();
            self.target_stale = false;
        }
        self.target_us
    }

    fn current_target_us(&self) -> i64 {
        let min = duration_micros(self.config.min_delay);
        let max = duration_micros(self.config.max_delay);
        let mut need = 0;
        if self.rel_len > 0 {
            let wanted = (self.rel_len * DELAY_QUANTILE_PER_MILLE).div_ceil(1000);
            let mut seen = 0;
            for (bucket, &count) in self.histogram.iter().enumerate() {
                seen += usize::from(count);
                if seen >= wanted {
                    need = (bucket as i64 + 1) * BUCKET_US;
                    break;
                }
            }
        }
        if self.rel_len < WARMUP_PACKETS {
            need = need.max(duration_micros(self.config.initial_delay));
        }
        need.clamp(min, max)
    }
}

fn slot_index(seq: i64) -> usize {
    seq.rem_euclid(SLOTS as i64) as usize
}

fn duration_micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn micros_to_duration(us: i64) -> Duration {
    Duration::from_micros(u64::try_from(us).unwrap_or(0))
}
