//! Audio codecs behind one enum: G.711 (PCMU, PCMA), G.722 and Opus, each as a stateful
//! [`Encoder`] / [`Decoder`] pair working on 20 ms frames of mono 16-bit PCM.
//!
//! [`AudioCodec`] is the superset of the G.711-only [`Codec`] (which stays the type of the
//! G.711 fast paths and converts with `From`/`TryFrom`). It answers the two rates that
//! differ for some codecs:
//! - [`AudioCodec::clock_rate`], the RTP timestamp rate: 8000 for G.711 *and G.722* (RFC 3551
//!   §4.5.2 keeps G.722's clock at 8000 for historical reasons although it samples at
//!   16 kHz), 48000 for Opus (RFC 7587, whatever the audio bandwidth);
//! - [`AudioCodec::sample_rate`], the PCM rate [`Encoder::new`] and [`Decoder::new`] work
//!   at: 8000, 8000, 16000, 48000.
//!
//! Opus can also encode from and decode to 8, 12, 16 or 24 kHz
//! ([`Encoder::with_sample_rate`], [`Decoder::with_sample_rate`]): libopus band-limits and
//! resamples internally, better and cheaper than a separate resampler. The media core runs
//! at 8 kHz ([`crate::CLOCK_RATE`]), so a session that mixes narrowband should open Opus at
//! 8000 and skip [`crate::resample`] altogether; 48 kHz is the default only because it is
//! Opus's native rate (full band for recording or a wideband bridge later).
//!
//! Neither direction allocates after construction: callers pass the output buffers, sized
//! with [`Decoder::max_samples`] and [`MAX_PAYLOAD`].
//!
//! ## Loss
//! [`Decoder::conceal`] makes one 20 ms frame for a packet that never came: Opus runs its
//! own packet loss concealment; G.711 and G.722 repeat the last frame 6 dB quieter per
//! consecutive loss, silent from the fourth (the jitter buffer's G.711 Appendix I concealer,
//! [`crate::jitter::Plc`], stays the better choice for G.711 at 8 kHz).
//! [`Decoder::recover`] is the Opus in-band FEC path: when packet *n* was lost and *n+1*
//! has arrived, decoding *n+1*'s redundant copy of *n* first gives back the lost audio
//! (falls back to concealment when the packet carries no FEC data, and for other codecs).

mod g722;

pub use g722::{G722Decoder, G722Encoder};

use crate::g711::Codec;

/// Why a frame could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The codec cannot run at this PCM sample rate.
    #[error("{codec:?} does not run at {rate} Hz")]
    UnsupportedSampleRate {
        /// The codec.
        codec: AudioCodec,
        /// The rate asked for.
        rate: u32,
    },
    /// The PCM to encode is not a frame length the codec takes (G.722: an even number of
    /// samples; Opus: 2.5, 5, 10, 20, 40 or 60 ms).
    #[error("{codec:?} cannot encode a frame of {samples} samples")]
    FrameLength {
        /// The codec.
        codec: AudioCodec,
        /// Samples passed.
        samples: usize,
    },
    /// An output buffer is too small for the result.
    #[error("output buffer holds {got}, needs {needed}")]
    BufferTooSmall {
        /// Samples or bytes needed.
        needed: usize,
        /// Samples or bytes the buffer holds.
        got: usize,
    },
    /// A payload is corrupt (Opus's TOC or framing is invalid, a comfort-noise payload is
    /// empty, ...).
    #[error("malformed {codec} payload")]
    MalformedPayload {
        /// The encoding name.
        codec: &'static str,
    },
    /// A resampler was asked for a ratio it does not do.
    #[error("cannot resample {from} Hz to {to} Hz")]
    UnsupportedResampling {
        /// Input rate.
        from: u32,
        /// Output rate.
        to: u32,
    },
    /// libopus refused a call for another reason (bad argument, internal error).
    #[error("libopus: {0}")]
    Opus(&'static str),
}

/// The largest payload [`Encoder::encode`] writes for one frame up to 60 ms: Opus's largest
/// frame (RFC 6716 §3.2.1: 1275 bytes) plus its TOC; G.711 at 60 ms is 480 bytes and G.722
/// 480.
pub const MAX_PAYLOAD: usize = 1276;

/// An audio codec the media core can encode and decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioCodec {
    /// G.711 µ-law, `PCMU/8000`, payload type 0.
    Pcmu,
    /// G.711 A-law, `PCMA/8000`, payload type 8.
    Pcma,
    /// G.722 at 64 kbit/s, `G722/8000` (16 kHz audio), payload type 9.
    G722,
    /// Opus (RFC 6716, RFC 7587), `opus/48000/2`, a dynamic payload type; we send and
    /// receive mono.
    Opus,
}

impl AudioCodec {
    /// Every codec, wideband first.
    pub const ALL: [AudioCodec; 4] = [
        AudioCodec::Opus,
        AudioCodec::G722,
        AudioCodec::Pcmu,
        AudioCodec::Pcma,
    ];

    /// The RTP timestamp rate, as written in `a=rtpmap` (see the module doc for G.722).
    pub const fn clock_rate(self) -> u32 {
        match self {
            AudioCodec::Pcmu | AudioCodec::Pcma | AudioCodec::G722 => 8000,
            AudioCodec::Opus => 48000,
        }
    }

    /// The PCM rate of [`Encoder::new`] and [`Decoder::new`].
    pub const fn sample_rate(self) -> u32 {
        match self {
            AudioCodec::Pcmu | AudioCodec::Pcma => 8000,
            AudioCodec::G722 => 16000,
            AudioCodec::Opus => 48000,
        }
    }

    /// Samples in one 20 ms frame at [`AudioCodec::sample_rate`].
    pub const fn frame_samples(self) -> usize {
        (self.sample_rate() / 50) as usize
    }

    /// RTP timestamp ticks per 20 ms frame at [`AudioCodec::clock_rate`].
    pub const fn frame_ticks(self) -> u32 {
        self.clock_rate() / 50
    }

    /// The encoding name written in `a=rtpmap` (read case-insensitively).
    pub const fn encoding_name(self) -> &'static str {
        match self {
            AudioCodec::Pcmu => "PCMU",
            AudioCodec::Pcma => "PCMA",
            AudioCodec::G722 => "G722",
            AudioCodec::Opus => "opus",
        }
    }

    /// The channel count written in `a=rtpmap`: RFC 7587 §7 requires `/2` for Opus even
    /// for mono streams; the others write none (one channel).
    pub const fn rtpmap_channels(self) -> Option<u16> {
        match self {
            AudioCodec::Opus => Some(2),
            _ => None,
        }
    }

    /// The static payload type of RFC 3551 table 4, if the codec has one.
    pub const fn static_payload_type(self) -> Option<u8> {
        match self {
            AudioCodec::Pcmu => Some(0),
            AudioCodec::Pcma => Some(8),
            AudioCodec::G722 => Some(9),
            AudioCodec::Opus => None,
        }
    }

    /// The codec with this encoding name (case-insensitive).
    pub fn from_encoding_name(name: &str) -> Option<AudioCodec> {
        AudioCodec::ALL
            .into_iter()
            .find(|c| c.encoding_name().eq_ignore_ascii_case(name))
    }

    /// The codec that owns a static payload type (0, 8 or 9).
    pub fn from_static_payload_type(pt: u8) -> Option<AudioCodec> {
        AudioCodec::ALL
            .into_iter()
            .find(|c| c.static_payload_type() == Some(pt))
    }

    /// The G.711 law, when this is one.
    pub const fn g711(self) -> Option<Codec> {
        match self {
            AudioCodec::Pcmu => Some(Codec::Pcmu),
            AudioCodec::Pcma => Some(Codec::Pcma),
            _ => None,
        }
    }
}

impl From<Codec> for AudioCodec {
    fn from(codec: Codec) -> Self {
        match codec {
            Codec::Pcmu => AudioCodec::Pcmu,
            Codec::Pcma => AudioCodec::Pcma,
        }
    }
}

impl TryFrom<AudioCodec> for Codec {
    /// The codec that is not G.711.
    type Error = AudioCodec;

    fn try_from(codec: AudioCodec) -> Result<Self, AudioCodec> {
        codec.g711().ok_or(codec)
    }
}

/// Opus's PCM rates (RFC 6716 §2).
const OPUS_RATES: [u32; 5] = [8000, 12000, 16000, 24000, 48000];
/// Default Opus bit rate: wideband speech with room for FEC (RFC 7587 §3.1.1 suggests
/// 20-32 kbit/s for fullband speech).
pub const OPUS_DEFAULT_BITRATE: u32 = 24_000;
/// The loss rate Opus's encoder plans FEC for until told otherwise: in-band FEC is only
/// spent when this is above zero.
const OPUS_DEFAULT_LOSS_PERCENT: u8 = 5;

fn check_rate(codec: AudioCodec, rate: u32) -> Result<(), CodecError> {
    let ok = match codec {
        AudioCodec::Opus => OPUS_RATES.contains(&rate),
        _ => rate == codec.sample_rate(),
    };
    if ok {
        Ok(())
    } else {
        Err(CodecError::UnsupportedSampleRate { codec, rate })
    }
}

fn opus_error(e: opus::Error) -> CodecError {
    match e.code() {
        opus::ErrorCode::InvalidPacket => CodecError::MalformedPayload { codec: "opus" },
        code => CodecError::Opus(code.description()),
    }
}

enum EncoderKind {
    G711(Codec),
    G722(Box<G722Encoder>),
    Opus(Box<opus::Encoder>),
}

/// A stateful encoder for one stream (see the module doc).
pub struct Encoder {
    codec: AudioCodec,
    sample_rate: u32,
    kind: EncoderKind,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("codec", &self.codec)
            .field("sample_rate", &self.sample_rate)
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// An encoder at the codec's [`AudioCodec::sample_rate`]. Opus starts at
    /// [`OPUS_DEFAULT_BITRATE`], VoIP tuning, in-band FEC on.
    pub fn new(codec: AudioCodec) -> Result<Encoder, CodecError> {
        Encoder::with_sample_rate(codec, codec.sample_rate())
    }

    /// An encoder taking PCM at `rate` Hz: the codec's own rate, or for Opus any of 8000,
    /// 12000, 16000, 24000, 48000.
    pub fn with_sample_rate(codec: AudioCodec, rate: u32) -> Result<Encoder, CodecError> {
        check_rate(codec, rate)?;
        let kind = match codec {
            AudioCodec::Pcmu => EncoderKind::G711(Codec::Pcmu),
            AudioCodec::Pcma => EncoderKind::G711(Codec::Pcma),
            AudioCodec::G722 => EncoderKind::G722(Box::default()),
            AudioCodec::Opus => {
                let mut enc =
                    opus::Encoder::new(rate, opus::Channels::Mono, opus::Application::Voip)
                        .map_err(opus_error)?;
                enc.set_bitrate(opus::Bitrate::Bits(OPUS_DEFAULT_BITRATE as i32))
                    .map_err(opus_error)?;
                enc.set_inband_fec(true).map_err(opus_error)?;
                enc.set_packet_loss_perc(i32::from(OPUS_DEFAULT_LOSS_PERCENT))
                    .map_err(opus_error)?;
                EncoderKind::Opus(Box::new(enc))
            }
        };
        Ok(Encoder {
            codec,
            sample_rate: rate,
            kind,
        })
    }

    /// The codec.
    pub fn codec(&self) -> AudioCodec {
        self.codec
    }

    /// The PCM rate this encoder takes.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Samples in one 20 ms frame at [`Encoder::sample_rate`].
    pub fn frame_samples(&self) -> usize {
        (self.sample_rate / 50) as usize
    }

    /// Encodes one frame of `pcm` into `out` and returns the payload length.
    ///
    /// G.711 takes any length (one byte per sample), G.722 an even length (one byte per two
    /// samples), Opus one frame of 2.5, 5, 10, 20, 40 or 60 ms. `out` must hold the whole
    /// payload ([`MAX_PAYLOAD`] always does); nothing is truncated.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        let frame_error = || CodecError::FrameLength {
            codec: self.codec,
            samples: pcm.len(),
        };
        match &mut self.kind {
            EncoderKind::G711(law) => {
                if out.len() < pcm.len() {
                    return Err(CodecError::BufferTooSmall {
                        needed: pcm.len(),
                        got: out.len(),
                    });
                }
                Ok(law.encode(pcm, out))
            }
            EncoderKind::G722(enc) => {
                if !pcm.len().is_multiple_of(2) {
                    return Err(frame_error());
                }
                if out.len() < pcm.len() / 2 {
                    return Err(CodecError::BufferTooSmall {
                        needed: pcm.len() / 2,
                        got: out.len(),
                    });
                }
                Ok(enc.encode(pcm, out))
            }
            EncoderKind::Opus(enc) => {
                // 2.5 ms units: 1, 2, 4, 8, 16 or 24 of them.
                let unit = (self.sample_rate / 400) as usize;
                let units = pcm.len() / unit;
                if !pcm.len().is_multiple_of(unit) || ![1, 2, 4, 8, 16, 24].contains(&units) {
                    return Err(frame_error());
                }
                enc.encode(pcm, out).map_err(|e| match e.code() {
                    opus::ErrorCode::BufferTooSmall => CodecError::BufferTooSmall {
                        needed: MAX_PAYLOAD,
                        got: out.len(),
                    },
                    _ => opus_error(e),
                })
            }
        }
    }

    /// Sets Opus's target bit rate (6000..=510000 bit/s); other codecs have a fixed rate and
    /// ignore it.
    pub fn set_bitrate(&mut self, bits_per_second: u32) -> Result<(), CodecError> {
        if let EncoderKind::Opus(enc) = &mut self.kind {
            let bits = bits_per_second.clamp(6000, 510_000) as i32;
            enc.set_bitrate(opus::Bitrate::Bits(bits))
                .map_err(opus_error)?;
        }
        Ok(())
    }

    /// Sets Opus's complexity, 0 (cheapest) to 10 (best); other codecs ignore it. Each
    /// step down trades a little quality for encoder CPU, which dominates the cost of an
    /// Opus leg (see `benches/media_codec.rs`).
    pub fn set_complexity(&mut self, complexity: u8) -> Result<(), CodecError> {
        if let EncoderKind::Opus(enc) = &mut self.kind {
            enc.set_complexity(i32::from(complexity.min(10)))
                .map_err(opus_error)?;
        }
        Ok(())
    }

    /// Tells Opus the loss rate to plan its in-band FEC for (from RTCP receiver reports;
    /// 0 turns FEC off in practice); other codecs ignore it.
    pub fn set_expected_loss(&mut self, percent: u8) -> Result<(), CodecError> {
        if let EncoderKind::Opus(enc) = &mut self.kind {
            enc.set_packet_loss_perc(i32::from(percent.min(100)))
                .map_err(opus_error)?;
        }
        Ok(())
    }
}

enum DecoderKind {
    G711(Codec),
    G722(Box<G722Decoder>),
    Opus(Box<opus::Decoder>),
}

/// Consecutive concealed frames after which G.711 and G.722 concealment is silent.
const REPEAT_LIMIT: u32 = 3;

/// A stateful decoder for one stream (see the module doc).
pub struct Decoder {
    codec: AudioCodec,
    sample_rate: u32,
    kind: DecoderKind,
    /// The last 20 ms decoded (G.711 and G.722 concealment repeats it).
    last: Box<[i16]>,
    /// Valid samples in `last`.
    last_len: usize,
    /// Consecutive frames concealed.
    concealed: u32,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("codec", &self.codec)
            .field("sample_rate", &self.sample_rate)
            .field("concealed", &self.concealed)
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// A decoder at the codec's [`AudioCodec::sample_rate`].
    pub fn new(codec: AudioCodec) -> Result<Decoder, CodecError> {
        Decoder::with_sample_rate(codec, codec.sample_rate())
    }

    /// A decoder producing PCM at `rate` Hz: the codec's own rate, or for Opus any of 8000,
    /// 12000, 16000, 24000, 48000.
    pub fn with_sample_rate(codec: AudioCodec, rate: u32) -> Result<Decoder, CodecError> {
        check_rate(codec, rate)?;
        let kind = match codec {
            AudioCodec::Pcmu => DecoderKind::G711(Codec::Pcmu),
            AudioCodec::Pcma => DecoderKind::G711(Codec::Pcma),
            AudioCodec::G722 => DecoderKind::G722(Box::default()),
            AudioCodec::Opus => DecoderKind::Opus(Box::new(
                opus::Decoder::new(rate, opus::Channels::Mono).map_err(opus_error)?,
            )),
        };
        let frame = (rate / 50) as usize;
        Ok(Decoder {
            codec,
            sample_rate: rate,
            kind,
            last: vec![0; frame].into_boxed_slice(),
            last_len: 0,
            concealed: 0,
        })
    }

    /// The codec.
    pub fn codec(&self) -> AudioCodec {
        self.codec
    }

    /// The PCM rate this decoder produces.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Samples in one 20 ms frame at [`Decoder::sample_rate`]: what [`Decoder::conceal`]
    /// writes.
    pub fn frame_samples(&self) -> usize {
        self.last.len()
    }

    /// An output length that fits any payload of `payload_len` bytes: G.711 one sample per
    /// byte, G.722 two, Opus up to 120 ms.
    pub fn max_samples(&self, payload_len: usize) -> usize {
        match self.kind {
            DecoderKind::G711(_) => payload_len,
            DecoderKind::G722(_) => 2 * payload_len,
            DecoderKind::Opus(_) => (self.sample_rate / 1000 * 120) as usize,
        }
    }

    /// Decodes one RTP payload into `out` and returns the samples written. An empty payload
    /// decodes to nothing. Errors leave the state as it was for G.711 and G.722.
    pub fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        if payload.is_empty() {
            return Ok(0);
        }
        let n = match &mut self.kind {
            DecoderKind::G711(law) => {
                check_room(payload.len(), out.len())?;
                law.decode(payload, out)
            }
            DecoderKind::G722(dec) => {
                check_room(2 * payload.len(), out.len())?;
                dec.decode(payload, out)
            }
            DecoderKind::Opus(dec) => {
                let needed =
                    opus::packet::get_nb_samples(payload, self.sample_rate).map_err(opus_error)?;
                check_room(needed, out.len())?;
                let n = dec.decode(payload, out, false).map_err(opus_error)?;
                // Opus conceals from its own state; nothing to remember.
                self.concealed = 0;
                return Ok(n);
            }
        };
        self.remember(&out[..n]);
        Ok(n)
    }

    /// Writes one 20 ms frame ([`Decoder::frame_samples`]) standing in for a lost packet and
    /// returns its length (see the module doc for what each codec does).
    pub fn conceal(&mut self, out: &mut [i16]) -> Result<usize, CodecError> {
        let n = self.frame_samples();
        check_room(n, out.len())?;
        let out = &mut out[..n];
        match &mut self.kind {
            DecoderKind::Opus(dec) => {
                let got = dec.decode(&[], out, false).map_err(opus_error)?;
                self.concealed += 1;
                Ok(got)
            }
            DecoderKind::G711(_) | DecoderKind::G722(_) => {
                self.concealed += 1;
                let shift = self.concealed;
                if shift > REPEAT_LIMIT || self.last_len == 0 {
                    out.fill(0);
                } else {
                    // Repeat the tail of what was heard, 6 dB quieter per lost frame.
                    let last = &self.last[..self.last_len];
                    for (o, s) in out.iter_mut().zip(last.iter().cycle()) {
                        *o = *s >> shift;
                    }
                }
                Ok(n)
            }
        }
    }

    /// Conceals a lost packet using the packet that followed it: Opus decodes the in-band
    /// FEC copy that `next_payload` carries of the lost frame (one 20 ms frame); without
    /// FEC data, and for the other codecs, this is [`Decoder::conceal`]. Decode
    /// `next_payload` itself with [`Decoder::decode`] afterwards.
    pub fn recover(&mut self, next_payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        let n = self.frame_samples();
        match &mut self.kind {
            DecoderKind::Opus(dec) if !next_payload.is_empty() => {
                check_room(n, out.len())?;
                // Validate first: libopus would conceal silently on garbage, which is fine,
                // but the caller should know the next packet is bad.
                opus::packet::get_nb_samples(next_payload, self.sample_rate).map_err(opus_error)?;
                let got = dec
                    .decode(next_payload, &mut out[..n], true)
                    .map_err(opus_error)?;
                self.concealed = 0;
                Ok(got)
            }
            _ => self.conceal(out),
        }
    }

    /// Forgets the stream's state (after a change of SSRC, say).
    pub fn reset(&mut self) -> Result<(), CodecError> {
        match &mut self.kind {
            DecoderKind::G711(_) => {}
            DecoderKind::G722(dec) => **dec = G722Decoder::new(),
            DecoderKind::Opus(dec) => dec.reset_state().map_err(opus_error)?,
        }
        self.last_len = 0;
        self.concealed = 0;
        Ok(())
    }

    /// Keeps the last frame's worth of output for concealment.
    fn remember(&mut self, pcm: &[i16]) {
        self.concealed = 0;
        let keep = pcm.len().min(self.last.len());
        self.last[..keep].copy_from_slice(&pcm[pcm.len() - keep..]);
        self.last_len = keep;
    }
}

fn check_room(needed: usize, got: usize) -> Result<(), CodecError> {
    if got < needed {
        Err(CodecError::BufferTooSmall { needed, got })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_names_and_payload_types() {
        use AudioCodec::*;
        let table = [
            (Pcmu, 8000, 8000, "PCMU", Some(0)),
            (Pcma, 8000, 8000, "PCMA", Some(8)),
            (G722, 8000, 16000, "G722", Some(9)),
            (Opus, 48000, 48000, "opus", None),
        ];
        for (c, clock, rate, name, pt) in table {
            assert_eq!(c.clock_rate(), clock);
            assert_eq!(c.sample_rate(), rate);
            assert_eq!(c.encoding_name(), name);
            assert_eq!(c.static_payload_type(), pt);
            assert_eq!(
                AudioCodec::from_encoding_name(&name.to_lowercase()),
                Some(c)
            );
            assert_eq!(c.frame_ticks(), clock / 50);
            if let Some(pt) = pt {
                assert_eq!(AudioCodec::from_static_payload_type(pt), Some(c));
            }
        }
        assert_eq!(AudioCodec::from(Codec::Pcma), Pcma);
        assert_eq!(Codec::try_from(Pcmu), Ok(Codec::Pcmu));
        assert_eq!(Codec::try_from(G722), Err(G722));
        assert_eq!(AudioCodec::from_encoding_name("G729"), None);
    }

    #[test]
    fn codec_state_moves_between_threads() {
        fn send<T: Send>() {}
        send::<Encoder>();
        send::<Decoder>();
        send::<crate::resample::Resampler>();
    }

    #[test]
    fn rates_are_checked() {
        assert!(Decoder::with_sample_rate(AudioCodec::Opus, 8000).is_ok());
        assert!(Encoder::with_sample_rate(AudioCodec::Opus, 16000).is_ok());
        assert_eq!(
            Decoder::with_sample_rate(AudioCodec::G722, 8000).unwrap_err(),
            CodecError::UnsupportedSampleRate {
                codec: AudioCodec::G722,
                rate: 8000
            }
        );
        assert!(Encoder::with_sample_rate(AudioCodec::Opus, 44100).is_err());
    }

    #[test]
    fn frame_lengths_and_buffers_are_checked() {
        let mut enc = Encoder::new(AudioCodec::Opus).unwrap();
        let mut out = [0u8; MAX_PAYLOAD];
        assert!(matches!(
            enc.encode(&[0; 100], &mut out),
            Err(CodecError::FrameLength { samples: 100, .. })
        ));
        assert!(enc.encode(&[0; 960], &mut out).unwrap() > 0);
        let mut g722 = Encoder::new(AudioCodec::G722).unwrap();
        assert!(matches!(
            g722.encode(&[0; 3], &mut out),
            Err(CodecError::FrameLength { .. })
        ));
        assert_eq!(
            g722.encode(&[0; 320], &mut out[..10]),
            Err(CodecError::BufferTooSmall {
                needed: 160,
                got: 10
            })
        );
        let mut dec = Decoder::new(AudioCodec::Pcmu).unwrap();
        let mut pcm = [0i16; 10];
        assert_eq!(
            dec.decode(&[0xFF; 20], &mut pcm),
            Err(CodecError::BufferTooSmall {
                needed: 20,
                got: 10
            })
        );
        assert_eq!(dec.decode(&[], &mut pcm), Ok(0));
    }

    #[test]
    fn g711_concealment_fades_to_silence() {
        let mut dec = Decoder::new(AudioCodec::Pcma).unwrap();
        let mut pcm = [0i16; 160];
        let payload = [Codec::Pcma.encode_sample(8000); 160];
        dec.decode(&payload, &mut pcm).unwrap();
        let heard = pcm[0];
        let mut peaks = Vec::new();
        for _ in 0..5 {
            assert_eq!(dec.conceal(&mut pcm), Ok(160));
            peaks.push(pcm[0]);
        }
        assert_eq!(peaks, [heard / 2, heard / 4, heard / 8, 0, 0]);
    }
}
