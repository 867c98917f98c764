//! One call leg's RTP stream, as a sans-IO state machine.
//!
//! [`RtpSession`] takes datagrams ([`handle_packet`](RtpSession::handle_packet), and
//! [`handle_rtcp`](RtpSession::handle_rtcp) for a separate RTCP socket) and the passage of
//! time ([`handle_tick`](RtpSession::handle_tick)), each with the current [`Instant`]
//! supplied by the driver, and produces datagrams to send
//! ([`poll_transmit`](RtpSession::poll_transmit)), events for the call controller
//! ([`poll_event`](RtpSession::poll_event)) and its next deadline
//! ([`poll_timeout`](RtpSession::poll_timeout)). In [`Mode::Mix`] the driver also pulls
//! one frame of received audio per tick ([`take_frame`](RtpSession::take_frame)) and
//! pushes one frame of mixed audio ([`send_frame`](RtpSession::send_frame)). It owns no
//! socket and reads no clock.
//!
//! ## Draining rule
//! After every `handle_*`, [`set_mode`](RtpSession::set_mode),
//! [`send_frame`](RtpSession::send_frame) or [`bye`](RtpSession::bye) call, the driver
//! calls `poll_transmit` until it returns `None` (sending each datagram by its
//! [`Transmit::kind`]: RTP from the RTP socket; RTCP from the RTCP socket when it has one,
//! else from the RTP socket; then handing the buffer back with
//! [`recycle`](RtpSession::recycle) so the steady state does not allocate), then
//! `poll_event` until `None`, then reads `poll_timeout` and calls `handle_tick` no later
//! than that instant (a media worker simply ticks every 20 ms; ticking early or late is
//! harmless). Undrained transmits are capped at [`MAX_QUEUED_TRANSMITS`]; the oldest are
//! dropped and counted in [`Stats::dropped_transmit_overflow`].
//!
//! ## Time model
//! Every input carries the driver's `now`. Three clocks hang off it:
//! - our RTP clock for what we send, anchored at creation (see *Sending* below);
//! - the playout clock of received audio, which is the driver's calls to `take_frame`:
//!   each call plays exactly 20 ms, so a driver calls it once per 20 ms tick (and once
//!   per missed tick to catch up);
//! - RTCP's wall clock: [`SessionConfig::ntp_at_start`] is the NTP time at creation, and
//!   every later NTP timestamp is that plus the monotonic time since (so a wall-clock step
//!   cannot distort a round-trip time).
//!
//! The detectors need no clock of their own: they hear each packet's audio as it arrives.
//!
//! ## Receiving
//! - Symmetric RTP (RFC 4961 style, for NAT): the first packet that parses and carries our
//!   audio, DTMF or comfort-noise payload type *latches* the session to its source address
//!   ([`MediaEvent::RemoteLatched`]); from then on packets from any other address are
//!   dropped, and we send to the latched address instead of the SDP one.
//! - RTCP arriving on the RTP port (rtcp-mux, RFC 5761; told apart by
//!   [`is_rtcp`]) is handled as if it came through `handle_rtcp`.
//! - Packets with any other payload type (comfort noise that was not negotiated, video
//!   sent by mistake) are dropped undecoded, though they still prove the peer is alive.
//! - Telephone-events go to a [`DtmfReceiver`] on the codec's clock (RFC 4733 §2.1:
//!   `telephone-event/48000` beside Opus): one [`MediaEvent::Dtmf`] per key press.
//! - Comfort noise ([`SessionConfig::cn_payload_type`], RFC 3389) sets the level of the
//!   noise [`take_frame`](RtpSession::take_frame) plays in the silence after it, until
//!   audio sent after it plays.
//! - Audio is decoded and used in three ways: echoed back in [`Mode::Echo`];
//!   buffered for [`take_frame`](RtpSession::take_frame) while the driver takes frames (in
//!   any mode); and heard, in every mode, by a voice activity detector
//!   ([`MediaEvent::SpeechStart`], [`MediaEvent::SpeechEnd`]) and, with
//!   [`SessionConfig::inband_dtmf`], an in-band DTMF detector (the same
//!   [`MediaEvent::Dtmf`]). The detectors hear packets in arrival order, skipping
//!   duplicates and stragglers; a talkspurt or key press still open when the audio stops
//!   for 120 ms is closed by `handle_tick`. In-band detection stops for good at the
//!   first telephone-event, so a peer that sends both is not heard twice.
//! - Everything past the codec runs at 8 kHz. G.711 decodes to it; Opus is decoded
//!   straight to it by libopus; G.722 is decoded at 16 kHz and resampled. Stateful codecs
//!   (G.722, Opus) keep two decoders: one hears packets as they arrive (detectors, echo;
//!   a reordered packet briefly disturbs its state, which the detectors do not notice),
//!   the other in playout order behind the jitter buffer, where a missing frame is
//!   concealed by the codec (G.722: the last frame repeated, fading; Opus: its own
//!   concealment, or its in-band FEC when the packet after the lost one is already
//!   buffered). G.711 keeps the G.711 Appendix I concealer. An unreadable payload (a
//!   corrupt Opus packet) counts in [`Stats::dropped_malformed`] and is concealed.
//! - [`MediaEvent::RtpTimeout`] fires once when nothing arrived for
//!   [`SessionConfig::rtp_timeout`] after a first packet, or for
//!   [`SessionConfig::initial_rtp_timeout`] when none ever did; it re-arms on the next
//!   packet. It never fires while our direction does not receive (hold). RTCP does not
//!   count as media here.
//!
//! ## Sending and timestamps
//! The RTP timestamp of what we send follows the session's own clock at the codec's
//! [`clock_rate`](AudioCodec::clock_rate) (8 kHz, also for G.722; 48 kHz for Opus),
//! anchored at creation: `initial_ts + rate * time since creation`. A prompt frame due at
//! `t` carries the timestamp of `t`, so frames are exactly one frame apart (160; 960 for
//! Opus) and a silence between two prompts shows as a timestamp gap (with the marker bit
//! on the next packet), as RFC 3550 §5.1 asks. Echoed packets keep the spacing of the
//! peer's timestamps, offset onto our clock at the start of each echo talkspurt. Mixed
//! frames ([`send_frame`]) are one frame apart from the first, which takes our clock's
//! timestamp and the marker; if the driver's calls drift more than 100 ms from our clock
//! (it paused, or stalled) the next frame starts a new talkspurt on our clock. Sequence
//! numbers simply count up.
//!
//! Prompts and mixed frames are 8 kHz; G.722 upsamples them to 16 kHz, Opus encodes them
//! at 8 kHz (narrow band). An echo re-encodes what the arrival decoder produced at the
//! codec's edge rate: G.722 echoes at 16 kHz, wide band as it came; Opus and G.711 at
//! 8 kHz. An echoed packet the encoder refuses (an Opus packet longer than 60 ms) is not
//! echoed.
//!
//! ## Barge-in
//! A [`Mode::Play`] with `barge_in: true` stops as soon as the caller presses a key or
//! starts to speak: the first [`MediaEvent::Dtmf`] (RFC 4733 or in-band, reported when the
//! key is released) or [`MediaEvent::SpeechStart`] (the VAD heard 40 ms of voice) that the
//! session emits while the prompt plays. No further frame of the prompt is sent; the
//! cause's event is followed at once by [`MediaEvent::PlaybackInterrupted`] (with the
//! [`Interrupt`] and how much had been sent) instead of [`MediaEvent::PlaybackDone`], and
//! the session goes on as `then` says ([`AfterPlay::Repeat`] falls silent). The key press
//! stays a [`MediaEvent::Dtmf`] of its own, so an IVR collecting digits counts it as the
//! first. A detection made by [`handle_tick`](RtpSession::handle_tick) (a key press or
//! talkspurt closed because the audio stopped) lands after that tick's frame went out: at
//! most one frame (20 ms) more of the prompt. With `barge_in: false` the same events are
//! reported and the prompt plays on.
//!
//! ## RTCP
//! The session owns an [`RtcpState`] (unless [`SessionConfig::rtcp_interval`] is `None`):
//! every RTP packet received from the peer and sent by us feeds it, and our reports (SR
//! while we send, else RR, with an SDES CNAME) come out of `poll_transmit` as
//! [`TransmitKind::Rtcp`], about every [`RtcpConfig::DEFAULT_INTERVAL`]. They go to
//! [`rtcp_destination`](RtpSession::rtcp_destination): with rtcp-mux the RTP destination;
//! else the address the peer's RTCP last came from on the RTCP socket (since latching);
//! else the latched RTP address with port + 1; else the SDP's RTCP address. RTCP is
//! accepted from the latched peer's IP address (any port), or before latching from the
//! SDP's RTP or RTCP address; anything else counts in [`Stats::dropped_wrong_source`].
//!
//! A [`MediaEvent::Quality`] estimate of what we receive goes out when the peer's report
//! on our stream arrives (it brings a fresh round-trip time) or our own report goes out,
//! once the peer's stream is valid, and at most once per mean report interval: a report
//! less than an interval after the last estimate gives none. Its loss is over the time
//! since the previous estimate, so each covers at least one interval.
//!
//! ## Allocation
//! None per packet in the steady state: datagram buffers are recycled, the jitter buffer,
//! detectors, codecs and resamplers are preallocated or keep their buffers' capacity. Each RTCP report is built in a fresh buffer (one
//! allocation every few seconds).
//!
//! [`send_frame`]: RtpSession::send_frame

mod inbound;
mod reports;
mod transcode;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::RngCore;

use crate::codec::AudioCodec;
use crate::dtmf::{DtmfReceiver, TelephoneEvent};
use crate::jitter::JitterStats;
use crate::prompt::Prompt;
use crate::rtcp::{RtcpConfig, RtcpState, is_rtcp};
use crate::rtp::{RtpHeader, RtpPacket};
use crate::sdp::{Direction, NegotiatedAudio};
use crate::{FRAME_DURATION, Frame};

use inbound::Inbound;
pub use reports::MIN_RTCP_INTERVAL;
use reports::Reports;
use transcode::{Arrival, Outbound};

/// How many late prompt frames one tick may send to catch up (100 ms of audio). A tick
/// later than that skips ahead: the prompt continues where it was, after a timestamp gap.
pub const MAX_CATCH_UP_FRAMES: usize = 5;

/// Cap on undrained outgoing datagrams.
pub const MAX_QUEUED_TRANSMITS: usize = 64;

/// Cap on spare buffers kept for reuse.
const MAX_SPARE_BUFFERS: usize = 16;

/// How far an echo's timestamps may drift from our clock before they are re-anchored.
const MAX_ECHO_DRIFT: Duration = Duration::from_secs(1);

/// How far mixed frames' timestamps may drift from our clock before they are re-anchored.
const MAX_MIX_DRIFT: Duration = Duration::from_millis(100);

/// [`FRAME_DURATION`] in milliseconds.
const FRAME_MS: u64 = FRAME_DURATION.as_millis() as u64;

/// What the session needs to know, usually from the SDP negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// The audio codec. Its [`clock_rate`](AudioCodec::clock_rate) is the RTP clock of
    /// both directions, telephone-event's included.
    pub codec: AudioCodec,
    /// Its payload type, both directions.
    pub payload_type: u8,
    /// The telephone-event payload type, if DTMF was negotiated.
    pub dtmf_payload_type: Option<u8>,
    /// The comfort-noise (`CN`, RFC 3389) payload type, if negotiated: such packets are
    /// accepted, and their noise level is played in the silence that follows them.
    pub cn_payload_type: Option<u8>,
    /// Where to send until a packet latches us to the peer's real address.
    pub remote: SocketAddr,
    /// Where to send RTCP until the peer's real address is known: the SDP's `a=rtcp`, or
    /// the RTP port + 1 ([`NegotiatedAudio::remote_rtcp`]). `None`: nowhere, until then.
    /// Unused with [`rtcp_mux`](Self::rtcp_mux).
    pub remote_rtcp: Option<SocketAddr>,
    /// RTCP shares the RTP port (RFC 5761): our reports go to the RTP destination. (RTCP
    /// arriving on the RTP port is read either way.)
    pub rtcp_mux: bool,
    /// The mean RTCP report interval (at least [`MIN_RTCP_INTERVAL`]), or `None` for no
    /// RTCP at all: no reports sent, none read, no [`MediaEvent::Quality`].
    pub rtcp_interval: Option<Duration>,
    /// Our wall-clock time at the session's creation, in NTP format (32.32 fixed point,
    /// seconds since 1900: see [`rtcp::duration_to_ntp`](crate::rtcp::duration_to_ntp) and
    /// [`NTP_UNIX_OFFSET_SECS`](crate::rtcp::NTP_UNIX_OFFSET_SECS)). It only fills our
    /// SRs' NTP timestamps, which a peer uses to line our stream up with others; the
    /// default 0 still gives correct round-trip times.
    pub ntp_at_start: u64,
    /// Detect DTMF tones in the received audio (for peers that negotiated no
    /// telephone-event); digits come out as [`MediaEvent::Dtmf`]. Default `false`.
    pub inband_dtmf: bool,
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

    /// The configuration for a negotiated stream, with the default timeouts, RTCP every
    /// [`RtcpConfig::DEFAULT_INTERVAL`] on its own port, NTP time 0 and no in-band DTMF.
    pub fn new(audio: &NegotiatedAudio) -> Self {
        SessionConfig {
            codec: audio.audio_codec,
            payload_type: audio.payload_type,
            dtmf_payload_type: audio.dtmf_payload_type,
            cn_payload_type: audio.cn_payload_type,
            remote: audio.remote,
            remote_rtcp: audio.remote_rtcp,
            rtcp_mux: false,
            rtcp_interval: Some(RtcpConfig::DEFAULT_INTERVAL),
            ntp_at_start: 0,
            inband_dtmf: false,
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
        /// What follows the last frame (or a barge-in).
        then: AfterPlay,
        /// Barge-in: a key press or the caller starting to speak stops the prompt at once
        /// (see the module doc's *Barge-in*), with [`MediaEvent::PlaybackInterrupted`]
        /// instead of [`MediaEvent::PlaybackDone`]; then the session goes on as `then`
        /// says. `false` plays the prompt out whatever the caller does.
        barge_in: bool,
    },
    /// A conference participant: the session sends nothing by itself. Each 20 ms tick
    /// the driver takes the received frame ([`RtpSession::take_frame`]), mixes, and sends
    /// one frame back ([`RtpSession::send_frame`]). Those ticks are the driver's own:
    /// [`RtpSession::poll_timeout`] does not ask for them.
    Mix,
}

/// What a session does once a prompt has played.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AfterPlay {
    /// Fall silent ([`Mode::Silence`]).
    Done,
    /// Start echoing ([`Mode::Echo`]), as an echo-test line does after its greeting.
    Echo,
    /// Play the prompt again from its first frame, seamlessly (no timestamp gap, no
    /// marker), for as long as the mode lasts: a ringback or hold tone rendered as one
    /// cadence period. No [`MediaEvent::PlaybackDone`] is emitted; only a barge-in or a
    /// new mode ends it (an empty prompt falls silent at once, with `PlaybackDone`).
    Repeat,
}

/// What stopped a [`Mode::Play`] prompt with `barge_in` (see
/// [`MediaEvent::PlaybackInterrupted`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Interrupt {
    /// A key press (RFC 4733 telephone-event or in-band tones), reported at the same time
    /// as its [`MediaEvent::Dtmf`].
    Dtmf(char),
    /// The voice activity detector heard the caller start to speak
    /// ([`MediaEvent::SpeechStart`]).
    Speech,
}

/// What the session reports to the call controller.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum MediaEvent {
    /// A key press, reported once: from RFC 4733 telephone-events, or tones in the audio
    /// with [`SessionConfig::inband_dtmf`].
    Dtmf {
        /// `0-9`, `*`, `#` or `A-D`.
        digit: char,
        /// How long it was held.
        duration_ms: u32,
    },
    /// The prompt of a [`Mode::Play`] has been sent in full.
    PlaybackDone,
    /// The prompt of a [`Mode::Play`] with `barge_in` was stopped by the caller before its
    /// end. It comes right after the event that caused it ([`MediaEvent::Dtmf`] or
    /// [`MediaEvent::SpeechStart`]) and instead of [`MediaEvent::PlaybackDone`]; the
    /// session then goes on as the mode's `then` says.
    PlaybackInterrupted {
        /// The key or the speech that stopped it.
        by: Interrupt,
        /// How much of the prompt had been sent: frames sent × 20 ms (for a repeating
        /// prompt, all rounds together).
        played_ms: u32,
    },
    /// No RTP for the configured time (see the module doc).
    RtpTimeout,
    /// The session latched to the peer's actual address (symmetric RTP).
    RemoteLatched {
        /// The address packets come from, and now go to.
        addr: SocketAddr,
    },
    /// An estimate of the quality of what we receive, at most once per RTCP report
    /// interval (see the module doc). All figures are our inbound view.
    Quality {
        /// Estimated MOS (1.0 to 4.5, ITU-T G.107 E-model: see [`crate::quality`]), from
        /// the loss, the round-trip time and our playout delay.
        mos: f32,
        /// The share of the peer's packets lost since the previous estimate (0.0 to 1.0).
        loss_fraction: f32,
        /// Interarrival jitter of the peer's stream (RFC 3550 §6.4.1), milliseconds.
        jitter_ms: f32,
        /// The latest round-trip time, once the peer has reported on one of our SRs.
        rtt_ms: Option<f32>,
    },
    /// The peer started talking (the voice activity detector heard two active frames).
    SpeechStart,
    /// The peer stopped talking: 200 ms without an active frame, or its audio stopped.
    SpeechEnd {
        /// From the start of the first active frame to the end of the last.
        duration_ms: u32,
    },
}

/// Which protocol a [`Transmit`] carries, and so which socket sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransmitKind {
    /// An RTP packet: from the RTP socket.
    Rtp,
    /// An RTCP compound packet: from the RTCP socket if the driver has one, else from the
    /// RTP socket.
    Rtcp,
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub dest: SocketAddr,
    /// The packet. Hand the buffer back with [`RtpSession::recycle`] once sent.
    pub bytes: Vec<u8>,
    /// RTP or RTCP.
    pub kind: TransmitKind,
}

/// Counters, for metrics and for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Datagrams handed to [`RtpSession::handle_packet`], whatever became of them.
    pub packets_in: u64,
    /// Their bytes.
    pub bytes_in: u64,
    /// RTP packets queued for sending.
    pub packets_out: u64,
    /// Their bytes.
    pub bytes_out: u64,
    /// RTCP datagrams accepted from the peer, on either port.
    pub rtcp_packets_in: u64,
    /// RTCP compound packets queued for sending.
    pub rtcp_packets_out: u64,
    /// Dropped: came from another address than the latched one (RTP), or from an address
    /// that is not the peer's (RTCP).
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
        barge_in: bool,
        next_frame: usize,
        next_due: Instant,
        /// Frames sent since the mode began (every round of a repeating prompt).
        sent_frames: u64,
    },
    Mix {
        /// The timestamp of the next mixed frame, once one was sent.
        next_ts: Option<u32>,
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
    inbound: Inbound,
    reports: Option<Reports>,
    /// Decodes each audio packet as it arrives (detectors, echo).
    arrival: Arrival,
    /// Encodes what we send.
    outbound: Outbound,
    /// The payload being sent (reused).
    encoded: Vec<u8>,
    transmits: VecDeque<Transmit>,
    spare: Vec<Vec<u8>>,
    events: VecDeque<MediaEvent>,
    stats: Stats,
}

impl RtpSession {
    /// A session starting at `now`, silent, with SSRC, first sequence number and first
    /// timestamp drawn from `rng` (RFC 3550 §5.1 wants them random), and a random RTCP
    /// CNAME (RFC 7022 §4.2: 96 random bits, so calls cannot be linked by it).
    pub fn new<R: RngCore + ?Sized>(now: Instant, config: SessionConfig, rng: &mut R) -> Self {
        Self::build(now, config, None, rng)
    }

    /// As [`new`](Self::new), with the RTCP CNAME given (RFC 7022: streams that belong
    /// together, such as the legs of one endpoint to be synchronised, share one). At most
    /// 255 bytes; a longer one is left out of the reports.
    pub fn with_cname<R: RngCore + ?Sized>(
        now: Instant,
        config: SessionConfig,
        cname: &str,
        rng: &mut R,
    ) -> Self {
        Self::build(now, config, Some(cname), rng)
    }

    fn build<R: RngCore + ?Sized>(
        now: Instant,
        config: SessionConfig,
        cname: Option<&str>,
        rng: &mut R,
    ) -> Self {
        let ssrc = rng.next_u32();
        let [s0, s1, ..] = rng.next_u32().to_be_bytes();
        let initial_timestamp = rng.next_u32();
        let reports = config.rtcp_interval.map(|interval| {
            let cname = match cname {
                Some(c) => c.to_owned(),
                None => random_cname(rng),
            };
            Reports::new(
                now,
                config.ntp_at_start,
                ssrc,
                cname,
                interval,
                config.codec.clock_rate(),
                rng,
            )
        });
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
            dtmf: DtmfReceiver::with_clock_rate(config.codec.clock_rate()),
            // The comfort noise needs no secret randomness: the SSRC seeds it, so the
            // caller's RNG gives the same draws as before CN existed.
            inbound: Inbound::new(config.codec, config.inband_dtmf, u64::from(ssrc)),
            reports,
            arrival: Arrival::new(config.codec),
            outbound: Outbound::new(config.codec),
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
            Mode::Play {
                frames,
                then,
                barge_in,
            } => State::Play {
                prompt: frames,
                then,
                barge_in,
                next_frame: 0,
                next_due: now,
                sent_frames: 0,
            },
            Mode::Mix => State::Mix { next_ts: None },
        };
        // An empty prompt is done at once.
        if let State::Play { prompt, then, .. } = &self.state
            && prompt.is_empty()
        {
            let then = *then;
            self.finish_playback(then);
        }
    }

    /// Feeds one datagram from `source` received on the RTP socket: RTP, or RTCP
    /// multiplexed onto it (handled as [`handle_rtcp`](Self::handle_rtcp) would).
    pub fn handle_packet(&mut self, now: Instant, source: SocketAddr, bytes: &[u8]) {
        let from = self.events.len();
        self.receive_packet(now, source, bytes);
        self.check_barge_in(from);
    }

    fn receive_packet(&mut self, now: Instant, source: SocketAddr, bytes: &[u8]) {
        self.stats.packets_in += 1;
        self.stats.bytes_in += bytes.len() as u64;
        // RFC 5761 §4; a payload type of ours in the RTCP range (which a muxing peer must
        // not use) stays RTP.
        if let [_, second, ..] = *bytes
            && is_rtcp(bytes)
            && !self.is_our_payload_type(second & 0x7F)
        {
            self.receive_rtcp(now, source, bytes, true);
            return;
        }
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
        let is_dtmf = !is_audio && self.config.dtmf_payload_type == Some(pt);
        let is_cn = !is_audio && !is_dtmf && self.config.cn_payload_type == Some(pt);
        if !is_audio && !is_dtmf && !is_cn {
            self.stats.dropped_wrong_payload_type += 1;
            if self.latched.is_some() {
                // The peer's comfort noise shares its sequence numbers: not a loss.
                self.count_received(now, &packet);
            }
            return;
        }
        if self.latched.is_none() {
            self.latched = Some(source);
            self.events
                .push_back(MediaEvent::RemoteLatched { addr: source });
            if let Some(reports) = &mut self.reports {
                // RTCP seen before came from the SDP's address; the peer is here.
                reports.source = None;
            }
        }
        self.count_received(now, &packet);
        if is_dtmf {
            let Ok(event) = TelephoneEvent::parse(packet.payload()) else {
                self.stats.dropped_malformed += 1;
                return;
            };
            self.inbound.stop_inband();
            self.dtmf.handle_event(now, packet.timestamp(), &event);
            self.drain_digits();
            return;
        }
        if is_cn {
            if !self
                .inbound
                .comfort_noise(packet.sequence(), packet.payload())
            {
                self.stats.dropped_malformed += 1;
            }
            return;
        }
        self.handle_audio(now, &packet);
    }

    /// Feeds one datagram from `source` received on a separate RTCP socket. Only the
    /// peer's RTCP is read (see the module doc); our reports go where the latest one
    /// came from (symmetric RTCP).
    pub fn handle_rtcp(&mut self, now: Instant, source: SocketAddr, bytes: &[u8]) {
        self.receive_rtcp(now, source, bytes, false);
    }

    /// Advances time: sends the prompt frames that are due, ends DTMF presses whose end
    /// packets were lost, closes a talkspurt whose audio stopped, sends an RTCP report
    /// when one is due, and checks the RTP timeout. Call it at
    /// [`poll_timeout`](Self::poll_timeout), or simply every 20 ms.
    pub fn handle_tick(&mut self, now: Instant) {
        self.tick_play(now);
        let from = self.events.len();
        self.dtmf.handle_timeout(now);
        self.drain_digits();
        self.inbound.handle_tick(now, &mut self.events);
        self.check_barge_in(from);
        self.tick_rtcp(now);
        if self.rtp_deadline().is_some_and(|d| now >= d) {
            self.timeout_reported = true;
            self.events.push_back(MediaEvent::RtpTimeout);
        }
    }

    /// The received audio for the 20 ms tick at `now`, at 8 kHz: the next frame out of the
    /// jitter buffer, decoded; a concealed one (see the module doc) where a packet is
    /// missing or the buffer grows; or silence before the stream starts and between
    /// talkspurts (comfort noise, when the peer sent CN).
    ///
    /// Each call plays exactly 20 ms (see the module doc's time model): call it once per
    /// tick. It works in every mode (a recorder of an echo call may call it too), but
    /// packets are only buffered while it is being called: the first call, and the first
    /// after a pause of more than a second, return silence and start the jitter buffer
    /// afresh. Telephone-events are not audio: during a key press it plays silence.
    pub fn take_frame(&mut self, now: Instant) -> &Frame {
        self.inbound.take(now)
    }

    /// In [`Mode::Mix`], encodes `frame` and queues it as exactly one RTP packet (if our
    /// direction sends): our SSRC, the next sequence number, a timestamp one frame (160;
    /// 960 for Opus) after the previous mixed frame's (see the module doc), the marker bit on the first. Call it
    /// once per tick. In any other mode it does nothing: the mode's own stream would be
    /// garbled.
    pub fn send_frame(&mut self, now: Instant, frame: &Frame) {
        let clock = self.timestamp_at(now);
        let max_drift = self.clock_units(MAX_MIX_DRIFT);
        let step = self.config.codec.frame_ticks();
        let State::Mix { next_ts } = &mut self.state else {
            return;
        };
        let (ts, jump) = match *next_ts {
            Some(ts) if (ts.wrapping_sub(clock) as i32).unsigned_abs() <= max_drift => (ts, false),
            _ => (clock, true),
        };
        *next_ts = Some(ts.wrapping_add(step));
        let mut payload = std::mem::take(&mut self.encoded);
        if self.outbound.encode_frame(frame, &mut payload) {
            self.send(now, self.marker_pending || jump, ts, &payload);
        }
        self.encoded = payload;
    }

    /// Ends the leg's RTCP: queues a last report with an RTCP BYE, and sends no more
    /// reports. Call it before dropping a session whose peer is still there.
    pub fn bye(&mut self, now: Instant) {
        if let Some(reports) = &mut self.reports {
            reports.state.bye(now, None);
        }
        self.queue_rtcp();
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
    /// end of a DTMF press whose end packets were lost, the close of a talkspurt whose
    /// audio stopped, the next RTCP report, or the RTP timeout.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let play = match &self.state {
            State::Play { next_due, .. } => Some(*next_due),
            _ => None,
        };
        let report = self.reports.as_ref().and_then(|r| r.state.poll_timeout());
        [
            play,
            self.dtmf.poll_timeout(),
            self.inbound.poll_timeout(),
            report,
            self.rtp_deadline(),
        ]
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

    /// The jitter buffer's counters and delay figures (see [`take_frame`](Self::take_frame)).
    pub fn jitter_stats(&self) -> JitterStats {
        self.inbound.jitter_stats()
    }

    /// The RTCP state: reception statistics, round-trip time, the peer's latest report.
    /// `None` when [`SessionConfig::rtcp_interval`] is.
    pub fn rtcp(&self) -> Option<&RtcpState> {
        self.reports.as_ref().map(|r| &r.state)
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Where we send: the latched address, else the SDP one.
    pub fn destination(&self) -> SocketAddr {
        self.latched.unwrap_or(self.config.remote)
    }

    /// Where our RTCP goes (see the module doc); `None` when nowhere is known.
    pub fn rtcp_destination(&self) -> Option<SocketAddr> {
        if self.config.rtcp_mux {
            return Some(self.destination());
        }
        if let Some(source) = self.reports.as_ref().and_then(|r| r.source) {
            return Some(source);
        }
        match self.latched {
            Some(rtp) => rtp
                .port()
                .checked_add(1)
                .map(|port| SocketAddr::new(rtp.ip(), port))
                .or(self.config.remote_rtcp),
            None => self.config.remote_rtcp,
        }
    }

    /// Whether a prompt is playing.
    pub fn is_playing(&self) -> bool {
        matches!(self.state, State::Play { .. })
    }

    /// The configuration the session was created with.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    fn is_our_payload_type(&self, pt: u8) -> bool {
        pt == self.config.payload_type
            || self.config.dtmf_payload_type == Some(pt)
            || self.config.cn_payload_type == Some(pt)
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

    /// Our RTP clock at `t`: the initial timestamp plus the codec's clock rate times the
    /// time since creation (8 units a millisecond, 48 for Opus), wrapping like every RTP
    /// timestamp.
    fn timestamp_at(&self, t: Instant) -> u32 {
        let elapsed = t.saturating_duration_since(self.created);
        // Truncation is the intended modulo-2^32 wrap.
        self.initial_timestamp
            .wrapping_add(self.clock_units(elapsed))
    }

    /// A duration in units of the RTP clock, modulo 2^32.
    fn clock_units(&self, d: Duration) -> u32 {
        let units = d.as_nanos() * u128::from(self.config.codec.clock_rate()) / 1_000_000_000;
        // Truncation is the intended modulo-2^32 wrap.
        units as u32
    }

    fn drain_digits(&mut self) {
        while let Some(d) = self.dtmf.poll_digit() {
            self.events.push_back(MediaEvent::Dtmf {
                digit: d.digit,
                duration_ms: d.duration_ms,
            });
        }
    }

    /// An RTP packet from the peer, for the reception statistics.
    fn count_received(&mut self, now: Instant, packet: &RtpPacket<'_>) {
        if let Some(reports) = &mut self.reports {
            reports.state.handle_received_rtp(
                now,
                packet.ssrc(),
                packet.sequence(),
                packet.timestamp(),
            );
        }
    }

    /// Whether RTCP from `source` is the peer's.
    fn is_peer_rtcp(&self, source: SocketAddr) -> bool {
        match self.latched {
            Some(rtp) => source.ip() == rtp.ip(),
            None => source == self.config.remote || Some(source) == self.config.remote_rtcp,
        }
    }

    fn receive_rtcp(&mut self, now: Instant, source: SocketAddr, bytes: &[u8], muxed: bool) {
        if self.reports.is_none() {
            return;
        }
        if !self.is_peer_rtcp(source) {
            self.stats.dropped_wrong_source += 1;
            return;
        }
        self.stats.rtcp_packets_in += 1;
        let delay = self.inbound.playout_delay(now);
        let codec = self.config.codec;
        let Some(reports) = &mut self.reports else {
            return;
        };
        if !muxed {
            reports.source = Some(source);
        }
        if reports.receive(now, bytes)
            && let Some(event) = reports.quality_at(now, codec, delay)
        {
            self.events.push_back(event);
        }
    }

    fn tick_rtcp(&mut self, now: Instant) {
        let delay = self.inbound.playout_delay(now);
        let codec = self.config.codec;
        let Some(reports) = &mut self.reports else {
            return;
        };
        if reports.handle_timeout(now)
            && let Some(event) = reports.quality_at(now, codec, delay)
        {
            self.events.push_back(event);
        }
        self.queue_rtcp();
    }

    /// Moves the RTCP state's reports to the transmit queue.
    fn queue_rtcp(&mut self) {
        let dest = self.rtcp_destination();
        while let Some(bytes) = self.reports.as_mut().and_then(|r| r.state.poll_transmit()) {
            match dest {
                Some(dest) => {
                    self.stats.rtcp_packets_out += 1;
                    self.queue(Transmit {
                        dest,
                        bytes,
                        kind: TransmitKind::Rtcp,
                    });
                }
                // Nowhere to send it (no RTCP port, nothing latched yet): dropped.
                None => self.recycle(bytes),
            }
        }
    }

    fn handle_audio(&mut self, now: Instant, packet: &RtpPacket<'_>) {
        let payload = packet.payload();
        if !self.arrival.decode(payload) {
            // Unreadable (a corrupt Opus packet): playout conceals the hole.
            self.stats.dropped_malformed += 1;
            return;
        }
        self.inbound.buffer(now, packet);
        self.inbound.detect(
            now,
            packet.ssrc(),
            packet.sequence(),
            self.arrival.narrow(),
            &mut self.events,
        );

        let our_clock = self.timestamp_at(now);
        let max_drift = self.clock_units(MAX_ECHO_DRIFT);
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
                    && remote_ts.wrapping_add(off).abs_diff(our_clock) <= max_drift =>
            {
                remote_ts.wrapping_add(off)
            }
            _ => {
                *offset = Some((our_clock.wrapping_sub(remote_ts), packet.ssrc()));
                talkspurt = true;
                our_clock
            }
        };
        // Echoed at the edge rate: G.722 stays wideband; Opus and G.711 are 8 kHz.
        let mut payload = std::mem::take(&mut self.encoded);
        if self.outbound.encode_edge(self.arrival.edge(), &mut payload) {
            let marker = self.marker_pending || talkspurt;
            self.send(now, marker, ts, &payload);
        }
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
                sent_frames,
                ..
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
            let mut payload = std::mem::take(&mut self.encoded);
            let encoded = self.outbound.encode_frame(frame, &mut payload);
            *next_frame += 1;
            *next_due += FRAME_DURATION;
            *sent_frames += 1;
            let mut last = *next_frame == prompt.len();
            if last && then == AfterPlay::Repeat {
                // Round again, on the same clock: no gap, no marker.
                *next_frame = 0;
                last = false;
            }
            let ts = self.timestamp_at(due);
            if encoded {
                self.send(due, self.marker_pending, ts, &payload);
            }
            self.encoded = payload;
            sent += 1;
            if last {
                self.finish_playback(then);
                return;
            }
        }
    }

    fn finish_playback(&mut self, then: AfterPlay) {
        self.end_playback(then, MediaEvent::PlaybackDone);
    }

    /// The prompt ends (played out, or barged in on): report it and go on as `then` says;
    /// a repeating prompt that is interrupted falls silent.
    fn end_playback(&mut self, then: AfterPlay, event: MediaEvent) {
        self.events.push_back(event);
        self.marker_pending = true;
        self.state = match then {
            AfterPlay::Echo => State::Echo { offset: None },
            _ => State::Silence,
        };
    }

    /// Barge-in: if a prompt that allows it is playing and one of the events queued from
    /// index `from` on is a key press or the start of speech, stop the prompt now (see the
    /// module doc's *Barge-in*).
    fn check_barge_in(&mut self, from: usize) {
        let State::Play {
            then,
            barge_in: true,
            sent_frames,
            ..
        } = &self.state
        else {
            return;
        };
        let by = self.events.range(from..).find_map(|e| match *e {
            MediaEvent::Dtmf { digit, .. } => Some(Interrupt::Dtmf(digit)),
            MediaEvent::SpeechStart => Some(Interrupt::Speech),
            _ => None,
        });
        let Some(by) = by else {
            return;
        };
        let then = *then;
        let played_ms = u32::try_from(sent_frames.saturating_mul(FRAME_MS)).unwrap_or(u32::MAX);
        self.end_playback(then, MediaEvent::PlaybackInterrupted { by, played_ms });
    }

    /// Queues one RTP packet whose timestamp is our clock's at `at`, if our direction
    /// sends.
    fn send(&mut self, at: Instant, marker: bool, timestamp: u32, payload: &[u8]) {
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
        if let Some(reports) = &mut self.reports {
            reports.state.handle_sent_rtp(at, timestamp, payload.len());
        }
        self.queue(Transmit {
            dest: self.destination(),
            bytes,
            kind: TransmitKind::Rtp,
        });
    }

    /// Queues a datagram, dropping the oldest beyond [`MAX_QUEUED_TRANSMITS`].
    fn queue(&mut self, transmit: Transmit) {
        if self.transmits.len() == MAX_QUEUED_TRANSMITS
            && let Some(old) = self.transmits.pop_front()
        {
            self.stats.dropped_transmit_overflow += 1;
            self.recycle(old.bytes);
        }
        self.transmits.push_back(transmit);
    }
}

/// An RFC 7022 §4.2 CNAME: 96 random bits, as 24 hex digits.
fn random_cname<R: RngCore + ?Sized>(rng: &mut R) -> String {
    use std::fmt::Write;
    let mut bits = [0u8; 12];
    rng.fill_bytes(&mut bits);
    let mut cname = String::with_capacity(24);
    for b in bits {
        // Writing to a String cannot fail.
        let _ = write!(cname, "{b:02x}");
    }
    cname
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
            codec: AudioCodec::Pcmu,
            payload_type: 0,
            dtmf_payload_type: Some(101),
            cn_payload_type: None,
            remote: "192.0.2.10:4000".parse().unwrap(),
            remote_rtcp: Some("192.0.2.10:4001".parse().unwrap()),
            rtcp_mux: false,
            // These tests look at the RTP side alone; RTCP has its own below.
            rtcp_interval: None,
            ntp_at_start: 0,
            inband_dtmf: false,
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
                barge_in: false,
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
                barge_in: false,
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

    fn with_rtcp(mux: bool) -> SessionConfig {
        SessionConfig {
            rtcp_interval: Some(Duration::from_secs(5)),
            rtcp_mux: mux,
            ..config()
        }
    }

    fn drain(s: &mut RtpSession) -> Vec<Transmit> {
        std::iter::from_fn(|| s.poll_transmit()).collect()
    }

    #[test]
    fn rtcp_reports_are_deadlines_and_go_to_the_rtcp_address() {
        let t = t0();
        let mut s = RtpSession::new(t, with_rtcp(false), &mut StdRng::seed_from_u64(1));
        // The first report comes 1.25 to 3.75 s in: before the RTP timeout.
        let first = s.poll_timeout().unwrap();
        assert!(
            first >= t + Duration::from_millis(1250) && first <= t + Duration::from_millis(3750)
        );
        s.handle_tick(first);
        let out = drain(&mut s);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, TransmitKind::Rtcp);
        assert_eq!(out[0].dest, "192.0.2.10:4001".parse().unwrap());
        let packets: Vec<_> = crate::rtcp::parse_compound(&out[0].bytes)
            .map(Result::unwrap)
            .collect();
        // Nothing sent or received yet: an RR without blocks, and our random CNAME.
        let [
            crate::rtcp::RtcpPacket::ReceiverReport(rr),
            crate::rtcp::RtcpPacket::SourceDescription(sdes),
        ] = &packets[..]
        else {
            panic!("{packets:?}");
        };
        assert_eq!(rr.ssrc, s.ssrc());
        let cname = sdes.chunks().next().unwrap().cname().unwrap();
        assert_eq!(cname.len(), 24);
        assert!(cname.iter().all(u8::is_ascii_hexdigit));
        assert_eq!(s.stats().rtcp_packets_out, 1);
        assert_eq!(s.stats().packets_out, 0, "RTP only");

        // Latched: RTP port + 1, or the RTP address itself with rtcp-mux.
        let peer: SocketAddr = "198.51.100.7:61000".parse().unwrap();
        s.handle_packet(t, peer, &packet(0, 1, 0, &[0xFF; 160]));
        assert_eq!(
            s.rtcp_destination(),
            Some("198.51.100.7:61001".parse().unwrap())
        );
        let mut m = RtpSession::new(t, with_rtcp(true), &mut StdRng::seed_from_u64(1));
        assert_eq!(m.rtcp_destination(), Some(config().remote));
        m.handle_packet(t, peer, &packet(0, 1, 0, &[0xFF; 160]));
        assert_eq!(m.rtcp_destination(), Some(peer));
    }

    #[test]
    fn bye_sends_a_last_report_with_a_given_cname() {
        let t = t0();
        let mut s = RtpSession::with_cname(
            t,
            with_rtcp(false),
            "agent-7@hotline",
            &mut StdRng::seed_from_u64(1),
        );
        s.bye(t + Duration::from_secs(1));
        let out = drain(&mut s);
        assert_eq!(out.len(), 1);
        let types: Vec<u8> = crate::rtcp::parse_compound(&out[0].bytes)
            .map(|p| p.unwrap().packet_type())
            .collect();
        assert_eq!(types, [201, 202, 203]);
        let text = String::from_utf8_lossy(&out[0].bytes);
        assert!(text.contains("agent-7@hotline"));
        // No more reports.
        assert_eq!(s.poll_timeout(), Some(t + Duration::from_secs(60)));
    }

    #[test]
    fn mixed_frames_count_on_and_restart_after_a_pause() {
        let t = t0();
        let mut s = RtpSession::new(t, config(), &mut StdRng::seed_from_u64(1));
        s.set_mode(t, Mode::Mix);
        let frame = [0i16; crate::FRAME_SAMPLES];
        // Ticks a few ms late or early do not move the timestamps.
        for (i, jitter_ms) in [0u64, 3, 1, 7, 0].into_iter().enumerate() {
            s.send_frame(
                t + FRAME_DURATION * i as u32 + Duration::from_millis(jitter_ms),
                &frame,
            );
        }
        // A pause of a second: a new talkspurt on our clock.
        s.send_frame(t + Duration::from_millis(1100), &frame);
        let packets: Vec<Vec<u8>> = drain(&mut s).into_iter().map(|t| t.bytes).collect();
        let packets: Vec<RtpPacket<'_>> = packets
            .iter()
            .map(|b| RtpPacket::parse(b).unwrap())
            .collect();
        assert_eq!(packets.len(), 6);
        let ts0 = packets[0].timestamp();
        for (i, p) in packets.iter().enumerate().take(5) {
            assert_eq!(p.timestamp(), ts0.wrapping_add(160 * i as u32));
            assert_eq!(p.marker(), i == 0);
        }
        assert!(packets[5].marker());
        assert_eq!(packets[5].timestamp(), ts0.wrapping_add(1100 * 8));
        for w in packets.windows(2) {
            assert_eq!(w[1].sequence(), w[0].sequence().wrapping_add(1));
        }
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
                barge_in: false,
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
