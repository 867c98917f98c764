//! One call leg's RTP stream, as a sans-IO state machine.
//!
//! [`RtpSession`] takes datagrams ([`handle_packet`](RtpSession::handle_packet)) and the
//! passage of time ([`handle_tick`](RtpSession::handle_tick)), each with the current
//! [`Instant`] supplied by the driver, and produces datagrams to send
//! ([`poll_transmit`](RtpSession::poll_transmit)), events for the call controller
//! ([`poll_event`](RtpSession::poll_event)) and its next deadline
//! ([`poll_timeout`](RtpSession::poll_timeout)). It owns no socket and reads no clock.
//!
//! ## Draining rule
//! After every `handle_*` or [`set_mode`](RtpSession::set_mode) call, the driver calls
//! `poll_transmit` until it returns `None` (sending each datagram, then handing the buffer
//! back with [`recycle`](RtpSession::recycle) so the steady state does not allocate), then
//! `poll_event` until `None`, then reads `poll_timeout` and calls `handle_tick` no later
//! than that instant (a media worker simply ticks every 20 ms; ticking early or late is
//! harmless). Undrained transmits are capped at [`MAX_QUEUED_TRANSMITS`]; the oldest are
//! dropped and counted in [`Stats::dropped_transmit_overflow`].
//!
//! ## Receiving
//! - Symmetric RTP (RFC 4961 style, for NAT): the first packet that parses and carries our
//!   audio or DTMF payload type *latches* the session to its source address
//!   ([`MediaEvent::RemoteLatched`]); from then on packets from any other address are
//!   dropped, and we send to the latched address instead of the SDP one.
//! - Packets with any other payload type (comfort noise, RTCP on the RTP port, video sent
//!   by mistake) are dropped undecoded, though they still prove the peer is alive.
//! - Telephone-events go to a [`DtmfReceiver`]: one [`MediaEvent::Dtmf`] per key press.
//! - Audio is decoded (G.711) and used by the mode: echoed back in [`Mode::Echo`].
//! - [`MediaEvent::RtpTimeout`] fires once when nothing arrived for
//!   [`SessionConfig::rtp_timeout`] after a first packet, or for
//!   [`SessionConfig::initial_rtp_timeout`] when none ever did; it re-arms on the next
//!   packet. It never fires while our direction does not receive (hold).
//!
//! ## Sending and timestamps
//! The RTP timestamp of what we send follows the session's own 8 kHz clock, anchored at
//! creation: `initial_ts + 8 * milliseconds since creation`. A prompt frame due at `t`
//! carries the timestamp of `t`, so frames are exactly 160 apart and a silence between two
//! prompts shows as a timestamp gap (with the marker bit on the next packet), as RFC 3550
//! §5.1 asks. Echoed packets keep the spacing of the peer's timestamps, offset onto our
//! clock at the start of each echo talkspurt. Sequence numbers simply count up.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::RngCore;

use crate::dtmf::{DtmfReceiver, TelephoneEvent};
use crate::g711::Codec;
use crate::prompt::Prompt;
use crate::rtp::{RtpHeader, RtpPacket};
use crate::sdp::{Direction, NegotiatedAudio};
use crate::{CLOCK_RATE, FRAME_DURATION};

/// How many late prompt frames one tick may send to catch up (100 ms of audio). A tick
/// later than that skips ahead: the prompt continues where it was, after a timestamp gap.
pub const MAX_CATCH_UP_FRAMES: usize = 5;

/// Cap on undrained outgoing datagrams.
pub const MAX_QUEUED_TRANSMITS: usize = 64;

/// Cap on spare buffers kept for reuse.
const MAX_SPARE_BUFFERS: usize = 16;

/// How far an echo's timestamps may drift from our clock before they are re-anchored.
const MAX_ECHO_DRIFT: u32 = CLOCK_RATE; // one second

/// What the session needs to know, usually from the SDP negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// The audio codec.
    pub codec: Codec,
    /// Its payload type, both directions.
    pub payload_type: u8,
    /// The telephone-event payload type, if DTMF was negotiated.
    pub dtmf_payload_type: Option<u8>,
    /// Where to send until a packet latches us to the peer's real address.
    pub remote: SocketAddr,
    /// Our direction: we send only if it [`sends`](Direction::sends), and only time out
    /// if it [`receives`](Direction::receives).
    pub direction: Direction,
    /// Silence after the last packet that counts as a dead stream (`Duration::MAX`:
    /// never).
    pub rtp_timeout: Duration,
    /// Silence from the start, when no packet ever arrived, that counts as a dead stream.
    pub initial_rtp_timeout: Duration,
}

impl SessionConfig {
    /// Default [`rtp_timeout`](Self::rtp_timeout).
    pub const DEFAULT_RTP_TIMEOUT: Duration = Duration::from_secs(30);
    /// Default [`initial_rtp_timeout`](Self::initial_rtp_timeout).
    pub const DEFAULT_INITIAL_RTP_TIMEOUT: Duration = Duration::from_secs(60);

    /// The configuration for a negotiated stream, with the default timeouts.
    pub fn new(audio: &NegotiatedAudio) -> Self {
        SessionConfig {
            codec: audio.codec,
            payload_type: audio.payload_type,
            dtmf_payload_type: audio.dtmf_payload_type,
            remote: audio.remote,
            direction: audio.direction,
            rtp_timeout: Self::DEFAULT_RTP_TIMEOUT,
            initial_rtp_timeout: Self::DEFAULT_INITIAL_RTP_TIMEOUT,
        }
    }
}

/// What the session does with its outgoing stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Send nothing.
    Silence,
    /// Send every received audio packet back: decoded, re-encoded, under our own SSRC,
    /// sequence numbers and timestamps.
    Echo,
    /// Play a prompt, one 20 ms frame per tick, the first with the marker bit, then emit
    /// [`MediaEvent::PlaybackDone`] and go on as `then` says.
    Play {
        /// The prompt's 20 ms frames, played in order.
        frames: Prompt,
        /// What follows the last frame.
        then: AfterPlay,
    },
}

/// What a session does once a prompt has played.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AfterPlay {
    /// Fall silent ([`Mode::Silence`]).
    Done,
    /// Start echoing ([`Mode::Echo`]), as an echo-test line does after its greeting.
    Echo,
}

/// What the session reports to the call controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaEvent {
    /// A key press (RFC 4733), reported once.
    Dtmf {
        /// `0-9`, `*`, `#` or `A-D`.
        digit: char,
        /// How long it was held.
        duration_ms: u32,
    },
    /// The prompt of a [`Mode::Play`] has been sent in full.
    PlaybackDone,
    /// No RTP for the configured time (see the module doc).
    RtpTimeout,
    /// The session latched to the peer's actual address (symmetric RTP).
    RemoteLatched {
        /// The address packets come from, and now go to.
        addr: SocketAddr,
    },
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub dest: SocketAddr,
    /// The RTP packet. Hand the buffer back with [`RtpSession::recycle`] once sent.
    pub bytes: Vec<u8>,
}

/// Counters, for metrics and for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Datagrams handed to [`RtpSession::handle_packet`], whatever became of them.
    pub packets_in: u64,
    /// Their bytes.
    pub bytes_in: u64,
    /// Datagrams queued for sending.
    pub packets_out: u64,
    /// Their bytes.
    pub bytes_out: u64,
    /// Dropped: came from another address than the latched one.
    pub dropped_wrong_source: u64,
    /// Dropped: payload type neither our codec's nor telephone-event's.
    pub dropped_wrong_payload_type: u64,
    /// Dropped: not RTP, or an unreadable telephone-event payload.
    pub dropped_malformed: u64,
    /// Outgoing datagrams dropped because the driver did not drain them.
    pub dropped_transmit_overflow: u64,
}

#[derive(Debug)]
enum State {
    Silence,
    Echo {
        /// `our_ts - remote_ts` for the current talkspurt, and the remote SSRC it is for.
        offset: Option<(u32, u32)>,
    },
    Play {
        prompt: Prompt,
        then: AfterPlay,
        next_frame: usize,
        next_due: Instant,
    },
}

/// One call leg's RTP session. See the module doc for the draining rule and time model.
#[derive(Debug)]
pub struct RtpSession {
    config: SessionConfig,
    created: Instant,
    ssrc: u32,
    sequence: u16,
    initial_timestamp: u32,
    /// The next packet we send starts a talkspurt (marker bit).
    marker_pending: bool,
    state: State,
    latched: Option<SocketAddr>,
    last_received: Option<Instant>,
    timeout_reported: bool,
    dtmf: DtmfReceiver,
    pcm: Vec<i16>,
    encoded: Vec<u8>,
    transmits: VecDeque<Transmit>,
    spare: Vec<Vec<u8>>,
    events: VecDeque<MediaEvent>,
    stats: Stats,
}

impl RtpSession {
    /// A session starting at `now`, silent, with SSRC, first sequence number and first
    /// timestamp drawn from `rng` (RFC 3550 §5.1 wants them random).
    pub fn new<R: RngCore + ?Sized>(now: Instant, config: SessionConfig, rng: &mut R) -> Self {
        let ssrc = rng.next_u32();
        let [s0, s1, ..] = rng.next_u32().to_be_bytes();
        let initial_timestamp = rng.next_u32();
        RtpSession {
            config,
            created: now,
            ssrc,
            sequence: u16::from_be_bytes([s0, s1]),
            initial_timestamp,
            marker_pending: true,
            state: State::Silence,
            latched: None,
            last_received: None,
            timeout_reported: false,
            dtmf: DtmfReceiver::new(),
            pcm: Vec::new(),
            encoded: Vec::new(),
            transmits: VecDeque::new(),
            spare: Vec::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// Switches what we send. A new prompt starts at `now` (its first frame goes out on
    /// the next [`handle_tick`](Self::handle_tick)); a prompt being played is abandoned
    /// without [`MediaEvent::PlaybackDone`].
    pub fn set_mode(&mut self, now: Instant, mode: Mode) {
        self.marker_pending = true;
        self.state = match mode {
            Mode::Silence => State::Silence,
            Mode::Echo => State::Echo { offset: None },
            Mode::Play { frames, then } => State::Play {
                prompt: frames,
                then,
                next_frame: 0,
                next_due: now,
            },
        };
        // An empty prompt is done at once.
        if let State::Play { prompt, then, .. } = &self.state
            && prompt.is_empty()
        {
            let then = *then;
            self.finish_playback(then);
        }
    }

    /// Feeds one received datagram from `source`.
    pub fn handle_packet(&mut self, now: Instant, source: SocketAddr, bytes: &[u8]) {
        self.stats.packets_in += 1;
        self.stats.bytes_in += bytes.len() as u64;
        let Ok(packet) = RtpPacket::parse(bytes) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        if self.latched.is_some_and(|addr| addr != source) {
            self.stats.dropped_wrong_source += 1;
            return;
        }
        // Any RTP from the peer's address proves the stream is alive.
        self.last_received = Some(now);
        self.timeout_reported = false;

        let pt = packet.payload_type();
        let is_audio = pt == self.config.payload_type;
        let is_dtmf = self.config.dtmf_payload_type == Some(pt);
        if !is_audio && !is_dtmf {
            self.stats.dropped_wrong_payload_type += 1;
            return;
        }
        if self.latched.is_none() {
            self.latched = Some(source);
            self.events
                .push_back(MediaEvent::RemoteLatched { addr: source });
        }
        if is_dtmf {
            let Ok(event) = TelephoneEvent::parse(packet.payload()) else {
                self.stats.dropped_malformed += 1;
                return;
            };
            self.dtmf.handle_event(now, packet.timestamp(), &event);
            self.drain_digits();
            return;
        }
        self.handle_audio(now, &packet);
    }

    /// Advances time: sends the prompt frames that are due, ends DTMF presses whose end
    /// packets were lost, and checks the RTP timeout. Call it at
    /// [`poll_timeout`](Self::poll_timeout), or simply every 20 ms.
    pub fn handle_tick(&mut self, now: Instant) {
        self.tick_play(now);
        self.dtmf.handle_timeout(now);
        self.drain_digits();
        if self.rtp_deadline().is_some_and(|d| now >= d) {
            self.timeout_reported = true;
            self.events.push_back(MediaEvent::RtpTimeout);
        }
    }

    /// The next datagram to send (see the draining rule in the module doc).
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the call controller.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// When [`handle_tick`](Self::handle_tick) next has work: the next prompt frame, the
    /// end of a DTMF press whose end packets were lost, or the RTP timeout.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let play = match &self.state {
            State::Play { next_due, .. } => Some(*next_due),
            _ => None,
        };
        [play, self.dtmf.poll_timeout(), self.rtp_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Gives a sent [`Transmit::bytes`] buffer back for reuse.
    pub fn recycle(&mut self, mut buffer: Vec<u8>) {
        if self.spare.len() < MAX_SPARE_BUFFERS {
            buffer.clear();
            self.spare.push(buffer);
        }
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Where we send: the latched address, else the SDP one.
    pub fn destination(&self) -> SocketAddr {
        self.latched.unwrap_or(self.config.remote)
    }

    /// Whether a prompt is playing.
    pub fn is_playing(&self) -> bool {
        matches!(self.state, State::Play { .. })
    }

    /// The configuration the session was created with.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    fn rtp_deadline(&self) -> Option<Instant> {
        if self.timeout_reported || !self.config.direction.receives() {
            return None;
        }
        // A timeout too large for an `Instant` (say `Duration::MAX`) never fires.
        match self.last_received {
            Some(t) => t.checked_add(self.config.rtp_timeout),
            None => self.created.checked_add(self.config.initial_rtp_timeout),
        }
    }

    /// Our RTP clock at `t`: the initial timestamp plus 8 samples per millisecond since
    /// creation, wrapping like every RTP timestamp.
    fn timestamp_at(&self, t: Instant) -> u32 {
        let elapsed = t.saturating_duration_since(self.created);
        let samples = elapsed.as_nanos() * u128::from(CLOCK_RATE) / 1_000_000_000;
        // Truncation is the intended modulo-2^32 wrap.
        self.initial_timestamp.wrapping_add(samples as u32)
    }

    fn drain_digits(&mut self) {
        while let Some(d) = self.dtmf.poll_digit() {
            self.events.push_back(MediaEvent::Dtmf {
                digit: d.digit,
                duration_ms: d.duration_ms,
            });
        }
    }

    fn handle_audio(&mut self, now: Instant, packet: &RtpPacket<'_>) {
        let payload = packet.payload();
        self.pcm.resize(payload.len(), 0);
        let codec = self.config.codec;
        codec.decode(payload, &mut self.pcm);

        let our_clock = self.timestamp_at(now);
        let State::Echo { offset } = &mut self.state else {
            return;
        };
        if payload.is_empty() {
            return;
        }
        let remote_ts = packet.timestamp();
        let mut talkspurt = packet.marker();
        let ts = match *offset {
            Some((off, ssrc))
                if ssrc == packet.ssrc()
                    && remote_ts.wrapping_add(off).abs_diff(our_clock) <= MAX_ECHO_DRIFT =>
            {
                remote_ts.wrapping_add(off)
            }
            _ => {
                *offset = Some((our_clock.wrapping_sub(remote_ts), packet.ssrc()));
                talkspurt = true;
                our_clock
            }
        };
        self.encoded.resize(self.pcm.len(), 0);
        codec.encode(&self.pcm, &mut self.encoded);
        let marker = self.marker_pending || talkspurt;
        let payload = std::mem::take(&mut self.encoded);
        self.send(marker, ts, &payload);
        self.encoded = payload;
    }

    fn tick_play(&mut self, now: Instant) {
        let mut sent = 0;
        loop {
            let State::Play {
                prompt,
                then,
                next_frame,
                next_due,
            } = &mut self.state
            else {
                return;
            };
            if *next_due > now {
                return;
            }
            if sent == MAX_CATCH_UP_FRAMES {
                // Too far behind: drop the backlog of time, not of audio.
                *next_due = now + FRAME_DURATION;
                self.marker_pending = true;
                return;
            }
            let due = *next_due;
            let then = *then;
            let Some(frame) = prompt.frames().get(*next_frame) else {
                self.finish_playback(then);
                return;
            };
            self.encoded.resize(frame.len(), 0);
            self.config.codec.encode(frame, &mut self.encoded);
            *next_frame += 1;
            *next_due += FRAME_DURATION;
            let last = *next_frame == prompt.len();
            let ts = self.timestamp_at(due);
            let payload = std::mem::take(&mut self.encoded);
            self.send(self.marker_pending, ts, &payload);
            self.encoded = payload;
            sent += 1;
            if last {
                self.finish_playback(then);
                return;
            }
        }
    }

    fn finish_playback(&mut self, then: AfterPlay) {
        self.events.push_back(MediaEvent::PlaybackDone);
        self.marker_pending = true;
        self.state = match then {
            AfterPlay::Echo => State::Echo { offset: None },
            _ => State::Silence,
        };
    }

    /// Queues one packet, if our direction sends.
    fn send(&mut self, marker: bool, timestamp: u32, payload: &[u8]) {
        if !self.config.direction.sends() {
            return;
        }
        let header = RtpHeader {
            marker,
            payload_type: self.config.payload_type,
            sequence: self.sequence,
            timestamp,
            ssrc: self.ssrc,
        };
        let mut bytes = self.spare.pop().unwrap_or_default();
        if header.write_header_to_vec(&mut bytes).is_err() {
            // Only a payload type above 127 fails, which SDP parsing never yields; a
            // hand-made config with one sends nothing rather than garbage.
            self.recycle(bytes);
            return;
        }
        bytes.extend_from_slice(payload);
        self.sequence = self.sequence.wrapping_add(1);
        self.marker_pending = false;
        self.stats.packets_out += 1;
        self.stats.bytes_out += bytes.len() as u64;
        if self.transmits.len() == MAX_QUEUED_TRANSMITS
            && let Some(old) = self.transmits.pop_front()
        {
            self.stats.dropped_transmit_overflow += 1;
            self.recycle(old.bytes);
        }
        self.transmits.push_back(Transmit {
            dest: self.destination(),
            bytes,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    #[allow(clippy::disallowed_methods)] // One arbitrary origin; all later times are offsets.
    fn t0() -> Instant {
        Instant::now()
    }

    fn config() -> SessionConfig {
        SessionConfig {
            codec: Codec::Pcmu,
            payload_type: 0,
            dtmf_payload_type: Some(101),
            remote: "192.0.2.10:4000".parse().unwrap(),
            direction: Direction::SendRecv,
            rtp_timeout: Duration::from_secs(30),
            initial_rtp_timeout: Duration::from_secs(60),
        }
    }

    fn packet(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0; 12 + payload.len()];
        RtpHeader {
            marker: false,
            payload_type: pt,
            sequence: seq,
            timestamp: ts,
            ssrc: 77,
        }
        .write(payload, &mut out)
        .unwrap();
        out
    }

    #[test]
    fn rng_seeds_ssrc_sequence_and_timestamp() {
        let a = RtpSession::new(t0(), config(), &mut StdRng::seed_from_u64(1));
        let b = RtpSession::new(t0(), config(), &mut StdRng::seed_from_u64(1));
        let c = RtpSession::new(t0(), config(), &mut StdRng::seed_from_u64(2));
        assert_eq!(a.ssrc(), b.ssrc());
        assert_eq!(a.sequence, b.sequence);
        assert_ne!(a.ssrc(), c.ssrc());
    }

    #[test]
    fn timeouts() {
        let t = t0();
        let mut s = RtpSession::new(t, config(), &mut StdRng::seed_from_u64(1));
        assert_eq!(s.poll_timeout(), Some(t + Duration::from_secs(60)));
        s.handle_tick(t + Duration::from_secs(59));
        assert_eq!(s.poll_event(), None);
        s.handle_tick(t + Duration::from_secs(60));
        assert_eq!(s.poll_event(), Some(MediaEvent::RtpTimeout));
        s.handle_tick(t + Duration::from_secs(61));
        assert_eq!(s.poll_event(), None, "reported once");
        // A packet re-arms it, with the shorter timeout.
        let src = config().remote;
        s.handle_packet(
            t + Duration::from_secs(70),
            src,
            &packet(0, 1, 0, &[0xFF; 160]),
        );
        assert_eq!(
            s.poll_event(),
            Some(MediaEvent::RemoteLatched { addr: src })
        );
        assert_eq!(s.poll_timeout(), Some(t + Duration::from_secs(100)));
        // Comfort noise (pt 13) keeps the stream alive without being decoded.
        s.handle_packet(t + Duration::from_secs(90), src, &packet(13, 2, 160, &[40]));
        assert_eq!(s.stats().dropped_wrong_payload_type, 1);
        s.handle_tick(t + Duration::from_secs(100));
        assert_eq!(s.poll_event(), None);
        s.handle_tick(t + Duration::from_secs(120));
        assert_eq!(s.poll_event(), Some(MediaEvent::RtpTimeout));
    }

    #[test]
    fn unrepresentable_timeouts_never_fire() {
        let t = t0();
        let cfg = SessionConfig {
            rtp_timeout: Duration::MAX,
            initial_rtp_timeout: Duration::MAX,
            ..config()
        };
        let mut s = RtpSession::new(t, cfg, &mut StdRng::seed_from_u64(1));
        assert_eq!(s.poll_timeout(), None);
        s.handle_packet(t, config().remote, &packet(0, 1, 0, &[0xFF; 160]));
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn no_timeout_when_we_do_not_receive() {
        let t = t0();
        let cfg = SessionConfig {
            direction: Direction::SendOnly,
            ..config()
        };
        let mut s = RtpSession::new(t, cfg, &mut StdRng::seed_from_u64(1));
        assert_eq!(s.poll_timeout(), None);
        s.handle_tick(t + Duration::from_secs(600));
        assert_eq!(s.poll_event(), None);
    }

    #[test]
    fn nothing_is_sent_when_we_do_not_send() {
        let t = t0();
        let cfg = SessionConfig {
            direction: Direction::RecvOnly,
            ..config()
        };
        let mut s = RtpSession::new(t, cfg, &mut StdRng::seed_from_u64(1));
        let prompt = Prompt::from_samples(&[1000; 480]);
        s.set_mode(
            t,
            Mode::Play {
                frames: prompt,
                then: AfterPlay::Done,
            },
        );
        for i in 0..5 {
            s.handle_tick(t + FRAME_DURATION * i);
        }
        assert_eq!(s.poll_transmit(), None);
        assert_eq!(s.poll_event(), Some(MediaEvent::PlaybackDone));
    }

    #[test]
    fn empty_prompt_is_done_at_once_and_after_play_echo_echoes() {
        let t = t0();
        let mut s = RtpSession::new(t, config(), &mut StdRng::seed_from_u64(1));
        s.set_mode(
            t,
            Mode::Play {
                frames: Prompt::from_samples(&[]),
                then: AfterPlay::Echo,
            },
        );
        assert_eq!(s.poll_event(), Some(MediaEvent::PlaybackDone));
        s.handle_packet(t, config().remote, &packet(0, 1, 0, &[0x10; 160]));
        let out = s.poll_transmit().unwrap();
        assert_eq!(RtpPacket::parse(&out.bytes).unwrap().payload(), [0x10; 160]);
    }

    #[test]
    fn transmit_queue_is_capped() {
        let t = t0();
        let mut s = RtpSession::new(t, config(), &mut StdRng::seed_from_u64(1));
        s.set_mode(t, Mode::Echo);
        for i in 0..(MAX_QUEUED_TRANSMITS as u16 + 3) {
            s.handle_packet(
                t,
                config().remote,
                &packet(0, i, u32::from(i) * 160, &[1; 160]),
            );
        }
        assert_eq!(s.stats().dropped_transmit_overflow, 3);
        assert_eq!(
            std::iter::from_fn(|| s.poll_transmit()).count(),
            MAX_QUEUED_TRANSMITS
        );
    }

    #[test]
    fn late_tick_catches_up_within_bound() {
        let t = t0();
        let mut s = RtpSession::new(t, config(), &mut StdRng::seed_from_u64(1));
        s.set_mode(
            t,
            Mode::Play {
                frames: Prompt::from_samples(&[500; 160 * 20]),
                then: AfterPlay::Done,
            },
        );
        // 3 frames due (0, 20, 40 ms) at 50 ms.
        s.handle_tick(t + Duration::from_millis(50));
        let ts: Vec<u32> = std::iter::from_fn(|| s.poll_transmit())
            .map(|x| RtpPacket::parse(&x.bytes).unwrap().timestamp())
            .collect();
        assert_eq!(ts.len(), 3);
        assert_eq!(ts[1].wrapping_sub(ts[0]), 160);
        assert_eq!(ts[2].wrapping_sub(ts[1]), 160);
        // A stall of one second: only MAX_CATCH_UP_FRAMES go out, then a gap with marker.
        s.handle_tick(t + Duration::from_millis(1050));
        assert_eq!(
            std::iter::from_fn(|| s.poll_transmit()).count(),
            MAX_CATCH_UP_FRAMES
        );
        assert_eq!(s.poll_timeout(), Some(t + Duration::from_millis(1070)));
        s.handle_tick(t + Duration::from_millis(1070));
        let p = s.poll_transmit().unwrap();
        let p = RtpPacket::parse(&p.bytes).unwrap();
        assert!(p.marker());
        assert_eq!(p.timestamp().wrapping_sub(ts[0]), 1070 * 8);
    }
}
