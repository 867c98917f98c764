//! Where a session's codec meets the core's 8 kHz frames: the encoder for what we send,
//! and the two decoders of what we receive — one hears each packet as it arrives (for the
//! detectors and the echo), the other in playout order behind the jitter buffer (for
//! [`RtpSession::take_frame`](super::RtpSession::take_frame)). Stateful codecs (G.722's
//! ADPCM, Opus) need one decoder per order.
//!
//! Each codec meets the session at its *edge rate* ([`edge_rate`]): the PCM rate of its
//! encoder and decoders. G.711 is 8 kHz. Opus is opened at 8 kHz too: libopus band-limits
//! and resamples inside, better and cheaper than a resampler here. G.722 codes only 16 kHz,
//! so its frames pass a [`Resampler`] each way (4 ms of delay each).
//!
//! Nothing allocates per packet: every buffer is sized on the first frame and reused.

use crate::codec::{AudioCodec, Decoder, Encoder, MAX_PAYLOAD};
use crate::g711::Codec;
use crate::jitter::Plc;
use crate::resample::Resampler;
use crate::{CLOCK_RATE, FRAME_SAMPLES, Frame};

/// The PCM rate at which the session meets `codec` (see the module doc).
pub(super) const fn edge_rate(codec: AudioCodec) -> u32 {
    match codec {
        AudioCodec::G722 => 16_000,
        AudioCodec::Pcmu | AudioCodec::Pcma | AudioCodec::Opus => CLOCK_RATE,
    }
}

/// A resampler from `from` to `to`, or none when they are equal.
fn resampler(from: u32, to: u32) -> Option<Resampler> {
    // Both rates come from `edge_rate` and CLOCK_RATE, all in `resample::RATES`.
    (from != to).then(|| Resampler::new(from, to).expect("edge rates are resampler rates"))
}

/// Our outgoing audio: 8 kHz frames (prompts, mixed audio) or edge-rate PCM (an echo) to
/// payloads.
#[derive(Debug)]
pub(super) struct Outbound {
    encoder: Encoder,
    /// 8 kHz to the edge rate (G.722).
    up: Option<Resampler>,
    /// One frame at the edge rate.
    edge: Vec<i16>,
}

impl Outbound {
    pub(super) fn new(codec: AudioCodec) -> Self {
        let rate = edge_rate(codec);
        Outbound {
            // The edge rate is one each codec runs at (tested below): libopus fails only
            // on bad arguments, and it is given none.
            encoder: Encoder::with_sample_rate(codec, rate)
                .expect("every codec runs at its edge rate"),
            up: resampler(CLOCK_RATE, rate),
            edge: Vec::new(),
        }
    }

    /// Encodes one 8 kHz frame into `out` (cleared first); false if the codec refused it
    /// (`out` is then empty).
    pub(super) fn encode_frame(&mut self, frame: &[i16], out: &mut Vec<u8>) -> bool {
        match &mut self.up {
            None => encode(&mut self.encoder, frame, out),
            Some(up) => {
                self.edge.clear();
                up.process(frame, &mut self.edge);
                encode(&mut self.encoder, &self.edge, out)
            }
        }
    }

    /// Encodes PCM at the edge rate (what [`Arrival`] decoded, echoed) into `out`; false
    /// if the codec refused it (an Opus packet longer than 60 ms, say).
    pub(super) fn encode_edge(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> bool {
        encode(&mut self.encoder, pcm, out)
    }
}

fn encode(encoder: &mut Encoder, pcm: &[i16], out: &mut Vec<u8>) -> bool {
    out.clear();
    out.resize(MAX_PAYLOAD.max(pcm.len()), 0);
    match encoder.encode(pcm, out) {
        Ok(n) => {
            out.truncate(n);
            true
        }
        Err(_) => {
            out.clear();
            false
        }
    }
}

/// Received packets decoded as they arrive, at the edge rate and at 8 kHz.
#[derive(Debug)]
pub(super) struct Arrival {
    decoder: Decoder,
    /// The edge rate to 8 kHz (G.722).
    down: Option<Resampler>,
    /// The last packet's audio at the edge rate.
    edge: Vec<i16>,
    /// The same at 8 kHz, when the edge rate is not.
    narrow: Vec<i16>,
}

impl Arrival {
    pub(super) fn new(codec: AudioCodec) -> Self {
        let rate = edge_rate(codec);
        Arrival {
            // As for `Outbound::new`.
            decoder: Decoder::with_sample_rate(codec, rate)
                .expect("every codec runs at its edge rate"),
            down: resampler(rate, CLOCK_RATE),
            edge: Vec::new(),
            narrow: Vec::new(),
        }
    }

    /// Decodes one payload; false when it is unreadable (a corrupt Opus packet), leaving
    /// no audio.
    pub(super) fn decode(&mut self, payload: &[u8]) -> bool {
        self.edge.resize(self.decoder.max_samples(payload.len()), 0);
        let n = self
            .decoder
            .decode(payload, &mut self.edge)
            .unwrap_or_default();
        self.edge.truncate(n);
        if let Some(down) = &mut self.down {
            self.narrow.clear();
            down.process(&self.edge, &mut self.narrow);
        }
        n > 0 || payload.is_empty()
    }

    /// The last packet's audio at the edge rate.
    pub(super) fn edge(&self) -> &[i16] {
        &self.edge
    }

    /// The last packet's audio at 8 kHz.
    pub(super) fn narrow(&self) -> &[i16] {
        match self.down {
            Some(_) => &self.narrow,
            None => &self.edge,
        }
    }
}

/// Received frames decoded in playout order, with loss concealment.
#[derive(Debug)]
// The G.711 variant, the common one, stays inline (as the concealer was before G.722 and
// Opus); the other, with a codec's state behind it, is boxed anyway.
#[allow(clippy::large_enum_variant)]
pub(super) enum Playout {
    /// G.711: decoded straight into 8 kHz frames, concealed by G.711 Appendix I.
    G711 { codec: Codec, plc: Plc },
    /// G.722 and Opus: the codec's own decoder and concealment (Opus: in-band FEC when the
    /// next packet is here), then down to 8 kHz.
    Coded(Box<CodedPlayout>),
}

#[derive(Debug)]
pub(super) struct CodedPlayout {
    decoder: Decoder,
    down: Option<Resampler>,
    edge: Vec<i16>,
    narrow: Vec<i16>,
    /// Whether the resampler holds audio to flush at the end of a talkspurt.
    unflushed: bool,
}

impl Playout {
    pub(super) fn new(codec: AudioCodec) -> Self {
        if let Some(law) = codec.g711() {
            return Playout::G711 {
                codec: law,
                plc: Plc::new(),
            };
        }
        let rate = edge_rate(codec);
        Playout::Coded(Box::new(CodedPlayout {
            // As for `Outbound::new`.
            decoder: Decoder::with_sample_rate(codec, rate)
                .expect("every codec runs at its edge rate"),
            down: resampler(rate, CLOCK_RATE),
            edge: Vec::new(),
            narrow: Vec::new(),
            unflushed: false,
        }))
    }

    /// A received frame, decoded into `out`. An unreadable one is concealed.
    pub(super) fn frame(&mut self, payload: &[u8], out: &mut Frame) {
        match self {
            Playout::G711 { codec, plc } => {
                let n = codec.decode(payload, out);
                out[n..].fill(0);
                plc.good_frame(out);
            }
            Playout::Coded(c) => {
                c.edge.resize(c.decoder.max_samples(payload.len()), 0);
                match c.decoder.decode(payload, &mut c.edge) {
                    Ok(n) => {
                        c.edge.truncate(n);
                        c.narrow_into(out);
                    }
                    Err(_) => c.conceal(None, out),
                }
            }
        }
    }

    /// A frame standing in for a lost or stretched one; `next` is the packet after the
    /// lost one when it is already here (Opus rebuilds the loss from its FEC).
    pub(super) fn conceal(&mut self, next: Option<&[u8]>, out: &mut Frame) {
        match self {
            Playout::G711 { plc, .. } => *out = plc.conceal(),
            Playout::Coded(c) => c.conceal(next, out),
        }
    }

    /// Nothing to play: the end of a talkspurt. G.711 forgets its concealment history; a
    /// resampler's last few milliseconds are flushed into `out` (else `out` is silence).
    pub(super) fn end_talkspurt(&mut self, out: &mut Frame) {
        match self {
            Playout::G711 { plc, .. } => {
                plc.reset();
                *out = [0; FRAME_SAMPLES];
            }
            Playout::Coded(c) => {
                c.edge.clear();
                if c.unflushed && c.down.is_some() {
                    c.edge.resize(c.decoder.frame_samples(), 0);
                    c.narrow_into(out);
                } else {
                    *out = [0; FRAME_SAMPLES];
                }
                c.unflushed = false;
            }
        }
    }

    /// Forgets the stream (a new one starts).
    pub(super) fn reset(&mut self) {
        match self {
            Playout::G711 { plc, .. } => plc.reset(),
            Playout::Coded(c) => {
                // Resetting G.722 or Opus state cannot fail but for a libopus internal
                // error, after which the decoder goes on from its old state.
                let _ = c.decoder.reset();
                if let Some(down) = &mut c.down {
                    down.reset();
                }
                c.unflushed = false;
            }
        }
    }
}

impl CodedPlayout {
    fn conceal(&mut self, next: Option<&[u8]>, out: &mut Frame) {
        self.edge.resize(self.decoder.frame_samples(), 0);
        let made = match next {
            Some(next) => self.decoder.recover(next, &mut self.edge),
            None => self.decoder.conceal(&mut self.edge),
        };
        let n = made.unwrap_or(0);
        self.edge.truncate(n);
        self.narrow_into(out);
    }

    /// `edge` down to 8 kHz, into one frame (padded with silence, or cut, to 20 ms).
    fn narrow_into(&mut self, out: &mut Frame) {
        let pcm = match &mut self.down {
            Some(down) => {
                self.narrow.clear();
                down.process(&self.edge, &mut self.narrow);
                self.unflushed = true;
                &self.narrow[..]
            }
            None => &self.edge[..],
        };
        let n = pcm.len().min(FRAME_SAMPLES);
        out[..n].copy_from_slice(&pcm[..n]);
        out[n..].fill(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f64, n: usize, rate: u32, amplitude: f64) -> Vec<i16> {
        (0..n)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                (amplitude * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
            })
            .collect()
    }

    #[test]
    fn every_codec_opens_at_its_edge_rate() {
        for codec in AudioCodec::ALL {
            let mut out = Outbound::new(codec);
            let mut arrival = Arrival::new(codec);
            let mut playout = Playout::new(codec);
            let frame = tone(1000.0, FRAME_SAMPLES, CLOCK_RATE, 8000.0);
            let mut payload = Vec::new();
            let mut played: Frame = [0; FRAME_SAMPLES];
            for _ in 0..5 {
                assert!(out.encode_frame(&frame, &mut payload), "{codec:?}");
                assert!(arrival.decode(&payload), "{codec:?}");
                assert_eq!(arrival.narrow().len(), FRAME_SAMPLES, "{codec:?}");
                assert_eq!(
                    arrival.edge().len() as u32,
                    edge_rate(codec) / 50,
                    "{codec:?}"
                );
                playout.frame(&payload, &mut played);
            }
            let energy: f64 = played.iter().map(|&s| f64::from(s).powi(2)).sum();
            let rms = (energy / FRAME_SAMPLES as f64).sqrt();
            // 8000 peak: about 5657 RMS, give or take the codec.
            assert!((4000.0..7000.0).contains(&rms), "{codec:?}: rms {rms}");
            // An echo re-encodes the edge-rate audio as it is.
            let edge = arrival.edge().to_vec();
            assert!(out.encode_edge(&edge, &mut payload), "{codec:?}");
            assert!(!payload.is_empty());
        }
    }

    #[test]
    fn unreadable_opus_is_refused_and_concealed() {
        let mut arrival = Arrival::new(AudioCodec::Opus);
        // A TOC asking for code 3 with no frame count byte.
        assert!(!arrival.decode(&[0x03]));
        assert!(arrival.narrow().is_empty());
        let mut playout = Playout::new(AudioCodec::Opus);
        let mut out: Frame = [1; FRAME_SAMPLES];
        playout.frame(&[0x03], &mut out);
        assert!(
            out.iter().all(|&s| s == 0),
            "concealed from nothing: silence"
        );
    }

    #[test]
    fn a_g722_talkspurt_end_flushes_the_resampler_then_is_silent() {
        let mut out = Outbound::new(AudioCodec::G722);
        let mut playout = Playout::new(AudioCodec::G722);
        let frame = tone(800.0, FRAME_SAMPLES, CLOCK_RATE, 8000.0);
        let mut payload = Vec::new();
        let mut played: Frame = [0; FRAME_SAMPLES];
        for _ in 0..3 {
            out.encode_frame(&frame, &mut payload);
            playout.frame(&payload, &mut played);
        }
        playout.end_talkspurt(&mut played);
        assert!(played.iter().any(|&s| s != 0), "the filter's tail");
        assert!(played[80..].iter().all(|&s| s.abs() < 50), "then quiet");
        playout.end_talkspurt(&mut played);
        assert!(played.iter().all(|&s| s == 0));
    }
}
