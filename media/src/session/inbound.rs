//! What a session does with the audio it receives, besides echoing it: the jitter buffer
//! and loss concealment behind [`RtpSession::take_frame`](super::RtpSession::take_frame),
//! and the detectors (voice activity, in-band DTMF) that listen to every packet.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::cn::NoiseGenerator;
use crate::codec::AudioCodec;
use crate::inband::InbandDtmf;
use crate::jitter::{JitterBuffer, JitterConfig, JitterStats, Playout};
use crate::rtp::RtpPacket;
use crate::vad::{Vad, VadConfig, VadEvent, VadState, frame_energy_dbov};
use crate::{FRAME_SAMPLES, Frame};

use super::MediaEvent;
use super::transcode;

/// A driver that has not called `take_frame` for this long has stopped listening: packets
/// are no longer buffered, and the next `take_frame` starts the jitter buffer afresh.
pub(super) const TAKE_LAPSE: Duration = Duration::from_secs(1);

/// After this long without audio, a talkspurt or key press in progress is closed (the
/// sender went quiet without sending silence, as with DTX or on hold).
pub(super) const DETECT_GAP: Duration = Duration::from_millis(120);

/// A frame louder than this (dBov) may be part of an in-band key press, so the detector
/// is closed by [`DETECT_GAP`] if the audio stops after it.
const LOUD_DBOV: f32 = -45.0;

/// Received audio: the playout path for the mixer and recorder, and the detectors.
#[derive(Debug)]
pub(super) struct Inbound {
    jitter: JitterBuffer,
    /// Decodes and conceals in playout order.
    decoder: transcode::Playout,
    /// Comfort noise for the silences the peer marks with CN packets (RFC 3389).
    noise: NoiseGenerator,
    /// The sequence number of the last CN packet, while no audio after it has played:
    /// silence is then played as comfort noise.
    noise_since: Option<u16>,
    /// The frame `take_frame` last returned.
    frame: Frame,
    /// Whether `frame` came out of the buffer (played or concealed), not silence.
    playing: bool,
    /// When `take_frame` was last called.
    last_take: Option<Instant>,
    vad: Vad,
    /// `None`: not wanted, or switched off because the peer sends RFC 4733 events.
    inband: Option<InbandDtmf>,
    /// SSRC and sequence number of the last packet the detectors heard (older ones,
    /// duplicates and reordered stragglers, are not heard twice or out of order).
    detect_last: Option<(u32, u16)>,
    /// When that packet arrived.
    detect_last_at: Option<Instant>,
    /// Whether the detectors may have a talkspurt or key press open.
    detect_open: bool,
}

impl Inbound {
    /// Received audio in `codec`; `noise_seed` seeds the comfort noise.
    pub(super) fn new(codec: AudioCodec, inband_dtmf: bool, noise_seed: u64) -> Self {
        Inbound {
            jitter: JitterBuffer::new(JitterConfig {
                clock_rate: codec.clock_rate(),
                ..JitterConfig::default()
            }),
            decoder: transcode::Playout::new(codec),
            noise: NoiseGenerator::new(noise_seed),
            noise_since: None,
            frame: [0; FRAME_SAMPLES],
            playing: false,
            last_take: None,
            vad: Vad::new(VadConfig::default()),
            inband: inband_dtmf.then(InbandDtmf::new),
            detect_last: None,
            detect_last_at: None,
            detect_open: false,
        }
    }

    /// Whether a driver is taking frames, so received packets should be buffered.
    fn taking(&self, now: Instant) -> bool {
        self.last_take
            .is_some_and(|t| now.saturating_duration_since(t) <= TAKE_LAPSE)
    }

    /// Files a received audio packet for playout, if anyone is taking frames.
    pub(super) fn buffer(&mut self, now: Instant, packet: &RtpPacket<'_>) {
        if self.taking(now) {
            self.jitter.push_rtp(now, packet);
        }
    }

    /// A comfort-noise packet: its level is played in the silence that follows. False
    /// when the payload is unreadable (empty).
    pub(super) fn comfort_noise(&mut self, sequence: u16, payload: &[u8]) -> bool {
        if self.noise.handle_payload(payload).is_err() {
            return false;
        }
        self.noise_since = Some(sequence);
        true
    }

    /// One 20 ms frame of received audio for the tick at `now` (see
    /// [`RtpSession::take_frame`](super::RtpSession::take_frame)).
    pub(super) fn take(&mut self, now: Instant) -> &Frame {
        if !self.taking(now) {
            // The first call, or the first after a lapse: whatever is buffered is stale.
            self.jitter.reset();
            self.decoder.reset();
            self.playing = false;
        }
        self.last_take = Some(now);
        match self.jitter.pop(now) {
            Playout::Frame { payload, seq, .. } => {
                self.decoder.frame(payload, &mut self.frame);
                self.playing = true;
                if self
                    .noise_since
                    .is_some_and(|cn| (seq.wrapping_sub(cn) as i16) > 0)
                {
                    self.noise_since = None; // speech after the noise
                }
            }
            Playout::Lost { seq, .. } => {
                // A single loss whose successor is here: Opus rebuilds it from FEC.
                let next = self.jitter.peek(seq.wrapping_add(1));
                self.decoder.conceal(next, &mut self.frame);
                self.playing = true;
            }
            Playout::Stretch => {
                self.decoder.conceal(None, &mut self.frame);
                self.playing = true;
            }
            _ => {
                if self.playing {
                    // The talkspurt is over: the next starts from clean history.
                    self.decoder.end_talkspurt(&mut self.frame);
                    self.playing = false;
                } else {
                    self.frame = [0; FRAME_SAMPLES];
                }
                if self.noise_since.is_some() {
                    let mut noise = [0; FRAME_SAMPLES];
                    self.noise.generate(&mut noise);
                    for (o, n) in self.frame.iter_mut().zip(noise) {
                        *o = o.saturating_add(n);
                    }
                }
            }
        }
        &self.frame
    }

    /// The jitter buffer's counters and delay figures.
    pub(super) fn jitter_stats(&self) -> JitterStats {
        self.jitter.stats()
    }

    /// The playout delay, for the quality estimate: the buffer's while frames are being
    /// taken, else none.
    pub(super) fn playout_delay(&self, now: Instant) -> Duration {
        if self.taking(now) {
            self.jitter.stats().delay
        } else {
            Duration::ZERO
        }
    }

    /// The peer sends telephone-events: tones in its audio are those presses again (or
    /// its own feedback), so in-band detection stops.
    pub(super) fn stop_inband(&mut self) {
        self.inband = None;
    }

    /// Runs the detectors on one received packet's decoded audio.
    pub(super) fn detect(
        &mut self,
        now: Instant,
        ssrc: u32,
        sequence: u16,
        pcm: &[i16],
        events: &mut VecDeque<MediaEvent>,
    ) {
        let fresh = match self.detect_last {
            Some((s, last)) if s == ssrc => {
                let ahead = sequence.wrapping_sub(last);
                ahead != 0 && ahead < 0x8000
            }
            _ => true,
        };
        if !fresh || pcm.is_empty() {
            return;
        }
        self.detect_last = Some((ssrc, sequence));
        self.detect_last_at = Some(now);
        self.vad.process(pcm);
        let mut loud = false;
        if let Some(inband) = &mut self.inband {
            inband.process(pcm);
            loud = frame_energy_dbov(pcm) > LOUD_DBOV;
        }
        self.detect_open = loud || self.vad.state() == VadState::Speech;
        self.drain(events);
    }

    /// When the detectors should be closed if no audio comes (see [`DETECT_GAP`]).
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        if !self.detect_open {
            return None;
        }
        self.detect_last_at.map(|t| t + DETECT_GAP)
    }

    /// Closes a talkspurt or key press left open by audio that stopped.
    pub(super) fn handle_tick(&mut self, now: Instant, events: &mut VecDeque<MediaEvent>) {
        if self.poll_timeout().is_none_or(|t| now < t) {
            return;
        }
        self.vad.finish();
        if let Some(inband) = &mut self.inband {
            inband.finish();
        }
        self.detect_open = false;
        self.drain(events);
    }

    fn drain(&mut self, events: &mut VecDeque<MediaEvent>) {
        while let Some(e) = self.vad.poll_event() {
            events.push_back(match e {
                VadEvent::SpeechStart { .. } => MediaEvent::SpeechStart,
                VadEvent::SpeechEnd { duration, .. } => MediaEvent::SpeechEnd {
                    duration_ms: u32::try_from(duration.as_millis()).unwrap_or(u32::MAX),
                },
            });
        }
        if let Some(inband) = &mut self.inband {
            while let Some(d) = inband.poll_digit() {
                events.push_back(MediaEvent::Dtmf {
                    digit: d.digit,
                    duration_ms: d.duration_ms,
                });
            }
        }
    }
}
