//! Fuzz comfort noise (`media/src/cn.rs`) and the codec layer (`media/src/codec.rs`) on
//! arbitrary payloads.
//!
//! - `CnPayload::parse` is an error exactly for an empty payload, else reads the level
//!   (reserved bit dropped) and hands the rest over as coefficients; `NoiseGenerator`
//!   takes the same payloads (`handle_payload` agrees with `parse`) and generates noise no
//!   louder than its level allows (four uniforms summed: at most 4 × rms / √(4/3));
//!   `write_payload` and `measure_level` stay within 0..=127.
//! - One `Decoder` (G.711 µ-law or A-law, G.722, or Opus at 8, 12, 16, 24 or 48 kHz) is
//!   driven by `decode`, `conceal`, `recover` and `reset` on arbitrary payloads and output
//!   buffers: it never panics, never writes more than the buffer or `max_samples`
//!   (G.711 exactly one sample per byte, G.722 two), and a too-small buffer is
//!   `BufferTooSmall`. G.711 and G.722 concealment follows the module doc: silence
//!   before anything was decoded (or after `reset`) and from the fourth consecutive loss,
//!   else the last frame 6 dB quieter per loss; a failed decode leaves that state alone.
//! - An `Encoder` of the same codec and rate encodes PCM from the input (frame lengths
//!   valid or not, with arbitrary bit rate / complexity / loss settings): a valid frame
//!   fits `MAX_PAYLOAD`, and decodes back to the same number of samples, in a fresh
//!   decoder and in the driven one (after a `recover` with it, Opus's FEC path).
//!
//! Input: `[codec, seed, then ops]`; each op is an op byte (low 3 bits pick it) followed
//! by a length byte and that many payload bytes; see the match below.
//!
//! Run: `cargo +nightly fuzz run cn_codec -- -max_len=4096`

#![no_main]

use hotline_media::cn::{self, CnPayload, NoiseGenerator};
use hotline_media::codec::{AudioCodec, CodecError, Decoder, Encoder, MAX_PAYLOAD};
use libfuzzer_sys::fuzz_target;

const CODECS: [(AudioCodec, u32); 8] = [
    (AudioCodec::Pcmu, 8000),
    (AudioCodec::Pcma, 8000),
    (AudioCodec::G722, 16000),
    (AudioCodec::Opus, 8000),
    (AudioCodec::Opus, 12000),
    (AudioCodec::Opus, 16000),
    (AudioCodec::Opus, 24000),
    (AudioCodec::Opus, 48000),
];

/// Opus encodes per input at most (they are slow).
const MAX_OPUS_ENCODES: usize = 4;

/// What the G.711 / G.722 concealment state must be.
struct Model {
    /// Something was decoded since creation or `reset`.
    heard: bool,
    /// Consecutive frames concealed.
    concealed: u32,
}

fn check_cn(payload: &[u8], noise: &mut NoiseGenerator, out_len: usize) {
    let parsed = CnPayload::parse(payload);
    let handled = noise.handle_payload(payload);
    match (&parsed, payload.split_first()) {
        (Ok(cn), Some((&level, rest))) => {
            assert_eq!(cn.level, level & 0x7f);
            assert_eq!(cn.coefficients, rest);
            assert_eq!(cn.rms(), cn::level_to_rms(cn.level));
            assert!(handled.is_ok());
        }
        (Err(e), None) => {
            assert_eq!(*e, CodecError::MalformedPayload { codec: "CN" });
            assert_eq!(handled, Err(e.clone()));
        }
        _ => panic!("parse {parsed:?} of {payload:?}"),
    }
    // The level in force: the payload's, or the previous one after an error.
    let mut samples = vec![0i16; out_len];
    noise.generate(&mut samples);
    if let Ok(cn) = parsed {
        let bound = 4.0 * cn.rms() / (4.0f64 / 3.0).sqrt() + 0.5;
        for &s in &samples {
            assert!(f64::from(s).abs() <= bound, "{s} above level {}", cn.level);
        }
        if cn.level == cn::SILENT_LEVEL {
            assert!(samples.iter().all(|&s| s == 0));
        }
        let mut one = [0u8; 1];
        assert_eq!(cn::write_payload(cn.level, &mut one), 1);
        assert_eq!(CnPayload::parse(&one).map(|c| c.level), Ok(cn.level));
    }
    assert!(cn::measure_level(&samples) <= cn::SILENT_LEVEL);
    let pcm: Vec<i16> = payload
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    assert!(cn::measure_level(&pcm) <= cn::SILENT_LEVEL);
    assert_eq!(
        cn::write_payload(payload.first().copied().unwrap_or(0), &mut []),
        0
    );
}

/// PCM for the encoder: the payload's bytes as samples, repeated to `len`.
fn pcm_of(payload: &[u8], len: usize) -> Vec<i16> {
    if payload.len() < 2 {
        return vec![i16::from(payload.first().copied().unwrap_or(0)) << 8; len];
    }
    payload
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .cycle()
        .take(len)
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let [codec, seed, ref rest @ ..] = *data else {
        return;
    };
    let (codec, rate) = CODECS[usize::from(codec & 7)];
    let g711_or_g722 = codec != AudioCodec::Opus;
    let mut decoder = Decoder::with_sample_rate(codec, rate).expect("a supported rate");
    assert_eq!(decoder.sample_rate(), rate);
    assert_eq!(decoder.frame_samples(), (rate / 50) as usize);
    let frame = decoder.frame_samples();
    let mut encoder: Option<Encoder> = None;
    let mut opus_encodes = 0;
    let mut noise = NoiseGenerator::new(u64::from(seed));
    let mut model = Model {
        heard: false,
        concealed: 0,
    };
    let mut out = vec![0i16; 6000];

    let mut rest = rest;
    while let [op, len, ref tail @ ..] = *rest {
        let (payload, tail) = tail.split_at(usize::from(len).min(tail.len()));
        rest = tail;
        let arg = usize::from(op >> 3);
        let max = decoder.max_samples(payload.len());
        match op & 7 {
            // decode, into a buffer of max_samples, minus arg (or of arg samples if arg ≥ 16)
            0 | 1 => {
                let room = if arg < 16 {
                    max.saturating_sub(arg)
                } else {
                    arg * 7
                };
                let result = decoder.decode(payload, &mut out[..room]);
                match result {
                    Ok(n) => {
                        assert!(n <= room && n <= max);
                        if g711_or_g722 {
                            assert_eq!(n, max, "G.711/G.722 decode the whole payload");
                            if n > 0 {
                                model.heard = true;
                                model.concealed = 0;
                            }
                        } else {
                            assert!(n <= (rate / 1000 * 120) as usize);
                        }
                        if payload.is_empty() {
                            assert_eq!(n, 0);
                        }
                    }
                    Err(CodecError::BufferTooSmall { needed, got }) => {
                        assert_eq!(got, room);
                        assert!(needed > room && needed <= max);
                    }
                    Err(CodecError::MalformedPayload { .. } | CodecError::Opus(_)) => {
                        assert!(!g711_or_g722, "G.711/G.722 read any bytes");
                    }
                    Err(e) => panic!("decode: {e}"),
                }
            }
            // conceal, or recover with the payload, into frame + arg - 8 samples
            2 | 3 => {
                let room = (frame + arg).saturating_sub(8);
                let result = if op & 7 == 2 {
                    decoder.conceal(&mut out[..room])
                } else {
                    decoder.recover(payload, &mut out[..room])
                };
                match result {
                    Ok(n) => {
                        assert!(n <= frame && n <= room);
                        if g711_or_g722 {
                            assert_eq!(n, frame);
                            model.concealed += 1;
                            let shift = model.concealed;
                            if !model.heard || shift > 3 {
                                assert!(out[..n].iter().all(|&s| s == 0), "not silent");
                            } else {
                                let limit = 32768 >> shift;
                                assert!(out[..n].iter().all(|&s| i32::from(s).abs() <= limit));
                            }
                        }
                    }
                    Err(CodecError::BufferTooSmall { needed, got }) => {
                        assert_eq!((needed, got), (frame, room));
                    }
                    Err(CodecError::MalformedPayload { .. } | CodecError::Opus(_)) => {
                        assert!(!g711_or_g722 && op & 7 == 3 && !payload.is_empty());
                    }
                    Err(e) => panic!("conceal: {e}"),
                }
            }
            4 => {
                decoder.reset().expect("reset");
                model = Model {
                    heard: false,
                    concealed: 0,
                };
            }
            // comfort noise, generating arg × 37 samples
            5 => check_cn(payload, &mut noise, arg * 37),
            // encode, then decode what was encoded
            6 => {
                if codec == AudioCodec::Opus {
                    if opus_encodes == MAX_OPUS_ENCODES {
                        continue;
                    }
                    opus_encodes += 1;
                }
                let enc = encoder.get_or_insert_with(|| {
                    Encoder::with_sample_rate(codec, rate).expect("a supported rate")
                });
                assert_eq!(enc.frame_samples(), frame);
                // 2.5 ms units: valid counts 1, 2, 4, 8, 16, 24; arg picks one, or a
                // length that is not a frame.
                let unit = (rate / 400) as usize;
                let samples = match arg {
                    0..=5 => unit * [1, 2, 4, 8, 16, 24][arg],
                    6..=15 => unit * arg + arg % 3,
                    _ => arg * 13,
                };
                let pcm = pcm_of(payload, samples);
                let mut encoded = [0u8; MAX_PAYLOAD];
                let valid = match codec {
                    AudioCodec::Opus => arg <= 5,
                    AudioCodec::G722 => samples % 2 == 0,
                    _ => true,
                };
                match enc.encode(&pcm, &mut encoded) {
                    Ok(n) => {
                        assert!(valid, "{samples} samples accepted");
                        assert!(n > 0 && n <= MAX_PAYLOAD);
                        let mut check = Decoder::with_sample_rate(codec, rate).unwrap();
                        let m = check.max_samples(n);
                        let got = check
                            .decode(&encoded[..n], &mut out[..m])
                            .expect("own payload");
                        assert_eq!(got, samples, "own payload decodes to its length");
                        // The stream's decoder takes it too: as the packet after a loss
                        // (Opus decodes its FEC copy), then as itself.
                        let room = max.max(frame);
                        if let Ok(r) = decoder.recover(&encoded[..n], &mut out[..room]) {
                            assert!(r <= frame);
                            if g711_or_g722 {
                                model.concealed += 1;
                            }
                        }
                        let got = decoder
                            .decode(&encoded[..n], &mut out[..decoder.max_samples(n)])
                            .expect("own payload");
                        assert_eq!(got, samples);
                        model.heard = true;
                        model.concealed = 0;
                    }
                    Err(CodecError::FrameLength { samples: s, .. }) => {
                        assert!(!valid && s == samples);
                    }
                    Err(CodecError::BufferTooSmall { .. }) => {
                        // G.711 at more than MAX_PAYLOAD samples.
                        assert!(samples > MAX_PAYLOAD);
                    }
                    Err(e) => panic!("encode: {e}"),
                }
                // Settings take any value.
                let byte = |i: usize| u32::from(payload.get(i).copied().unwrap_or(0));
                enc.set_bitrate(byte(0) << 12 | byte(1) << 4)
                    .expect("bitrate");
                enc.set_complexity(byte(2) as u8).expect("complexity");
                enc.set_expected_loss(byte(3) as u8).expect("loss");
            }
            // the payload decoded by a decoder of another codec
            _ => {
                let (other, other_rate) = CODECS[arg % CODECS.len()];
                let mut d = Decoder::with_sample_rate(other, other_rate).unwrap();
                let m = d.max_samples(payload.len());
                if let Ok(n) = d.decode(payload, &mut out[..m]) {
                    assert!(n <= m);
                }
                let _ = d.recover(payload, &mut out[..m.max(d.frame_samples())]);
            }
        }
    }
});
