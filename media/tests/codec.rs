//! Codecs, resampling, comfort noise and their SDP negotiation, on generated audio.
//!
//! Quality is asserted as waveform SNR after aligning for the codec's delay, which is found
//! by cross-correlating a broadband (seeded noise) probe through a fresh codec instance;
//! tones alone would make the correlation ambiguous by whole periods. What each threshold
//! means is written beside it.

use std::f64::consts::PI;

use hotline_media::cn::{self, CnPayload, NoiseGenerator};
use hotline_media::codec::{AudioCodec, CodecError, Decoder, Encoder, MAX_PAYLOAD};
use hotline_media::resample::Resampler;
use hotline_media::sdp::{self, LocalMedia, SessionDescription};
use rand::{Rng, SeedableRng, rngs::StdRng};

mod common;

/// Heap allocations `f` makes on this thread (libopus's own C allocations are not seen; it
/// allocates only at creation).
fn allocations(f: impl FnOnce()) -> u64 {
    common::allocations_during(f)
}

/// Sum of equal tones across the telephone band (300-3400 Hz), 1 s at `rate`, peak about
/// half of full scale.
fn speech_band(rate: u32) -> Vec<i16> {
    let tones = [300.0, 470.0, 730.0, 1130.0, 1710.0, 2390.0, 3010.0, 3400.0];
    let phases = [0.1, 2.3, 4.0, 1.7, 5.2, 0.9, 3.3, 2.8];
    (0..rate)
        .map(|n| {
            let t = f64::from(n) / f64::from(rate);
            let s: f64 = tones
                .iter()
                .zip(phases)
                .map(|(f, p)| 2000.0 * (2.0 * PI * f * t + p).sin())
                .sum();
            s as i16
        })
        .collect()
}

/// A 1 kHz tone at -10 dBFS peak, 1 s at `rate`.
fn tone_1k(rate: u32) -> Vec<i16> {
    (0..rate)
        .map(|n| (10_000.0 * (2.0 * PI * 1000.0 * f64::from(n) / f64::from(rate)).sin()) as i16)
        .collect()
}

/// Seeded white noise at about -16 dBFS RMS.
fn noise(rate: u32, seed: u64) -> Vec<i16> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..rate).map(|_| rng.random_range(-8000..8000)).collect()
}

/// Encodes and decodes `pcm` in 20 ms frames through a fresh encoder and decoder.
fn round_trip(codec: AudioCodec, rate: u32, pcm: &[i16]) -> Vec<i16> {
    let mut enc = Encoder::with_sample_rate(codec, rate).unwrap();
    let mut dec = Decoder::with_sample_rate(codec, rate).unwrap();
    let frame = enc.frame_samples();
    let mut payload = [0u8; MAX_PAYLOAD];
    let mut out = Vec::with_capacity(pcm.len());
    let mut pcm_out = vec![0i16; dec.max_samples(MAX_PAYLOAD)];
    for chunk in pcm.chunks_exact(frame) {
        let n = enc.encode(chunk, &mut payload).unwrap();
        let m = dec.decode(&payload[..n], &mut pcm_out).unwrap();
        assert_eq!(m, frame, "{codec:?}");
        out.extend_from_slice(&pcm_out[..m]);
    }
    out
}

/// The lag (0..max_lag) at which `output` best matches `input`, by normalised
/// cross-correlation.
fn find_delay(input: &[i16], output: &[i16], max_lag: usize) -> usize {
    let len = input.len() - max_lag;
    (0..max_lag)
        .max_by(|&a, &b| {
            let c = |lag: usize| {
                let (mut xy, mut yy) = (0.0, 0.0);
                for i in 0..len {
                    let (x, y) = (f64::from(input[i]), f64::from(output[i + lag]));
                    xy += x * y;
                    yy += y * y;
                }
                xy / yy.max(1.0).sqrt()
            };
            c(a).total_cmp(&c(b))
        })
        .unwrap_or(0)
}

/// SNR in dB of `output` delayed by `delay` against `input`, skipping the first `skip`
/// input samples (codec start-up).
fn snr(input: &[i16], output: &[i16], delay: usize, skip: usize) -> f64 {
    let (mut signal, mut error) = (0.0, 0.0);
    for i in skip..input.len().min(output.len().saturating_sub(delay)) {
        let x = f64::from(input[i]);
        signal += x * x;
        error += (x - f64::from(output[i + delay])).powi(2);
    }
    10.0 * (signal / error.max(1e-9)).log10()
}

fn rms(pcm: &[i16]) -> f64 {
    (pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len().max(1) as f64).sqrt()
}

#[test]
fn g711_round_trip_snr_above_30_db() {
    for codec in [AudioCodec::Pcmu, AudioCodec::Pcma] {
        for (name, pcm) in [("speech band", speech_band(8000)), ("1 kHz", tone_1k(8000))] {
            let out = round_trip(codec, 8000, &pcm);
            let snr = snr(&pcm, &out, 0, 0);
            // G.711's companding gives ~38 dB at these levels, whatever the waveform.
            assert!(snr > 30.0, "{codec:?} {name}: {snr:.1} dB");
        }
    }
}

#[test]
fn g722_round_trip_snr_above_20_db_after_delay() {
    let probe = noise(16000, 722);
    let delay = find_delay(&probe, &round_trip(AudioCodec::G722, 16000, &probe), 100);
    // The two 24-tap QMFs delay by 22 samples at 16 kHz.
    assert_eq!(delay, 22);
    // (Full-band noise would score ~12 dB: G.722 spends only 2 bits per sample on 4-8 kHz.)
    for (name, pcm) in [
        ("speech band", speech_band(16000)),
        ("1 kHz", tone_1k(16000)),
    ] {
        let out = round_trip(AudioCodec::G722, 16000, &pcm);
        // Skip 20 ms while the ADPCM step sizes adapt.
        let snr = snr(&pcm, &out, delay, 320);
        assert!(snr > 20.0, "G.722 {name}: {snr:.1} dB");
    }
}

/// What is asserted for Opus: it is a perceptual codec and does not keep the waveform of a
/// dense multi-tone at these rates (about 9-13 dB SNR), so after aligning for its delay
/// (found on that multi-tone, whose correlation has one clear peak) we ask for
/// - speech band: normalised cross-correlation above 0.9 and the energy within 1 dB;
/// - 1 kHz tone: SNR above 12 dB (measured 16-30 dB);
///
/// at 24 and 32 kbit/s, decoding at 48 kHz and at 16 kHz, and a bit rate within VBR's swing
/// of the target.
#[test]
fn opus_round_trip_after_delay() {
    for rate in [48000, 16000] {
        for bitrate in [24_000, 32_000] {
            let code = |pcm: &[i16]| {
                let mut enc = Encoder::with_sample_rate(AudioCodec::Opus, rate).unwrap();
                enc.set_bitrate(bitrate).unwrap();
                let mut dec = Decoder::with_sample_rate(AudioCodec::Opus, rate).unwrap();
                let mut payload = [0u8; MAX_PAYLOAD];
                let mut frame = vec![0i16; dec.frame_samples()];
                let mut out = Vec::new();
                let mut bytes = 0;
                for chunk in pcm.chunks_exact(enc.frame_samples()) {
                    let n = enc.encode(chunk, &mut payload).unwrap();
                    bytes += n;
                    let m = dec.decode(&payload[..n], &mut frame).unwrap();
                    out.extend_from_slice(&frame[..m]);
                }
                (out, bytes)
            };
            let what = format!("Opus decoding at {rate} Hz, {bitrate} bit/s");
            let skip = rate as usize / 10;

            let speech = speech_band(rate);
            let (out, bytes) = code(&speech);
            // 1 s of audio: the bit rate is what we asked for, within VBR's swing.
            let kbps = bytes as f64 * 8.0 / 1000.0;
            let target = f64::from(bitrate) / 1000.0;
            assert!(
                (target * 0.5..target * 1.5).contains(&kbps),
                "{what}: {kbps:.1} kbit/s"
            );
            let delay = find_delay(&speech, &out, rate as usize / 50);
            let (mut xy, mut xx, mut yy) = (0.0, 0.0, 0.0);
            for i in skip..speech.len() - delay {
                let (x, y) = (f64::from(speech[i]), f64::from(out[i + delay]));
                xy += x * y;
                xx += x * x;
                yy += y * y;
            }
            let correlation = xy / (xx * yy).sqrt();
            let gain_db = 10.0 * (yy / xx).log10();
            assert!(correlation > 0.9, "{what}: correlation {correlation:.3}");
            assert!(gain_db.abs() < 1.0, "{what}: energy off by {gain_db:.2} dB");

            let tone = tone_1k(rate);
            let (out, _) = code(&tone);
            let snr = snr(&tone, &out, delay, skip);
            assert!(snr > 12.0, "{what}: 1 kHz at {snr:.1} dB (delay {delay})");
        }
    }
}

#[test]
fn opus_concealment_keeps_the_energy_continuous() {
    let pcm = tone_1k(48000);
    let mut enc = Encoder::new(AudioCodec::Opus).unwrap();
    enc.set_expected_loss(20).unwrap();
    let frames: Vec<Vec<u8>> = pcm
        .chunks_exact(960)
        .map(|f| {
            let mut p = [0u8; MAX_PAYLOAD];
            let n = enc.encode(f, &mut p).unwrap();
            p[..n].to_vec()
        })
        .collect();
    // Packet 20 is lost: concealed by PLC alone, or recovered from packet 21's FEC.
    for use_fec in [false, true] {
        let mut dec = Decoder::new(AudioCodec::Opus).unwrap();
        let mut out = vec![0i16; 960];
        let mut energies = Vec::new();
        for (i, p) in frames.iter().enumerate().take(25) {
            if i == 20 {
                let n = if use_fec {
                    dec.recover(&frames[21], &mut out).unwrap()
                } else {
                    dec.conceal(&mut out).unwrap()
                };
                assert_eq!(n, 960);
            } else {
                assert_eq!(dec.decode(p, &mut out).unwrap(), 960);
            }
            energies.push(rms(&out));
        }
        // A steady tone stays near its level through the loss and after it: within
        // 1.5 dB when FEC restores the frame (measured 0.3 dB), 8 dB with concealment alone
        // (measured -2.4 dB on the concealed frame, -6.5 dB on the one after it).
        let before = energies[19];
        let limit = if use_fec { 1.5 } else { 8.0 };
        for (i, &e) in energies.iter().enumerate().skip(20) {
            let db = 20.0 * (e / before).log10();
            assert!(db.abs() < limit, "fec {use_fec}: frame {i} at {db:.1} dB");
        }
    }
}

#[test]
fn resampler_round_trips_above_40_db() {
    let pcm = tone_1k(8000);
    for mid in [16000, 48000] {
        let mut up = Resampler::new(8000, mid).unwrap();
        let mut down = Resampler::new(mid, 8000).unwrap();
        let (mut high, mut back) = (Vec::new(), Vec::new());
        for frame in pcm.chunks_exact(160) {
            let start = high.len();
            up.process(frame, &mut high);
            assert_eq!(high.len() - start, mid as usize / 50);
            down.process(&high[start..], &mut back);
        }
        assert_eq!(back.len(), pcm.len());
        // Delays are whole samples at both rates, so they add up at 8 kHz.
        let delay = up.delay() * 8000 / mid as usize + down.delay();
        assert!(delay <= 80, "8 -> {mid} -> 8: {delay} samples");
        let snr = snr(&pcm, &back, delay, 160);
        assert!(snr > 40.0, "8 -> {mid} -> 8: {snr:.1} dB");
    }
}

#[test]
fn comfort_noise_level_within_2_db() {
    for level in [20u8, 40, 60, 75] {
        let mut payload = [0u8; 4];
        let n = cn::write_payload(level, &mut payload);
        assert_eq!(CnPayload::parse(&payload[..n]).unwrap().level, level);
        let mut noise = NoiseGenerator::new(u64::from(level));
        noise.handle_payload(&payload[..n]).unwrap();
        let mut pcm = vec![0i16; 8000];
        for frame in pcm.chunks_exact_mut(160) {
            noise.generate(frame);
        }
        let measured = cn::measure_level(&pcm);
        assert!(
            measured.abs_diff(level) <= 2,
            "asked -{level} dBov, got -{measured} dBov"
        );
    }
    // A payload with spectral coefficients still gives the level.
    assert_eq!(CnPayload::parse(&[45, 100, 120, 90]).unwrap().level, 45);
}

const WIDEBAND_OFFER: &str = "v=0\r\n\
o=- 1 1 IN IP4 192.0.2.10\r\n\
s=-\r\n\
c=IN IP4 192.0.2.10\r\n\
t=0 0\r\n\
m=audio 40000 RTP/AVP 111 9 0 13 101 102\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=fmtp:111 minptime=10;useinbandfec=1\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:13 CN/8000\r\n\
a=rtpmap:101 telephone-event/48000\r\n\
a=rtpmap:102 telephone-event/8000\r\n\
a=ptime:20\r\n";

fn answer_with(local: &LocalMedia) -> (sdp::NegotiatedAudio, String) {
    let offer = SessionDescription::parse(WIDEBAND_OFFER.as_bytes()).unwrap();
    let answer = sdp::answer(&offer, local).unwrap();
    (answer.audio.unwrap(), answer.sdp.to_string())
}

#[test]
fn sdp_picks_codecs_in_offer_order_and_keeps_cn() {
    let addr = "203.0.113.5".parse().unwrap();
    // Everything: Opus comes first in the offer.
    let (audio, text) = answer_with(&LocalMedia::wideband(addr, 20000, 7, 1));
    assert_eq!(
        (audio.audio_codec, audio.payload_type),
        (AudioCodec::Opus, 111)
    );
    assert_eq!(audio.g711(), None);
    // DTMF at Opus's clock rate; CN at 8000 does not go with a 48 kHz clock.
    assert_eq!(audio.dtmf_payload_type, Some(101));
    assert_eq!(audio.cn_payload_type, None);
    assert!(text.contains("m=audio 20000 RTP/AVP 111 101\r\n"), "{text}");
    assert!(text.contains("a=rtpmap:111 opus/48000/2\r\n"), "{text}");
    assert!(text.contains("a=fmtp:111 useinbandfec=1\r\n"), "{text}");
    assert!(
        text.contains("a=rtpmap:101 telephone-event/48000\r\n"),
        "{text}"
    );

    // Without Opus: G.722, at RTP clock 8000, with CN and 8 kHz DTMF.
    let mut local = LocalMedia::wideband(addr, 20000, 7, 1);
    local.extra_codecs = vec![AudioCodec::G722];
    let (audio, text) = answer_with(&local);
    assert_eq!(
        (audio.audio_codec, audio.payload_type),
        (AudioCodec::G722, 9)
    );
    assert_eq!(audio.dtmf_payload_type, Some(102));
    assert_eq!(audio.cn_payload_type, Some(13));
    assert!(
        text.contains("m=audio 20000 RTP/AVP 9 102 13\r\n"),
        "{text}"
    );
    assert!(text.contains("a=rtpmap:9 G722/8000\r\n"), "{text}");
    assert!(text.contains("a=rtpmap:13 CN/8000\r\n"), "{text}");
    assert!(!text.contains("fmtp:9"), "{text}");

    // The default stays G.711 only, without CN: PCMU, as before.
    let (audio, text) = answer_with(&LocalMedia::new(addr, 20000, 7, 1));
    assert_eq!(
        (audio.audio_codec, audio.codec, audio.payload_type),
        (AudioCodec::Pcmu, hotline_media::Codec::Pcmu, 0)
    );
    assert_eq!(audio.cn_payload_type, None);
    assert!(text.contains("m=audio 20000 RTP/AVP 0 102\r\n"), "{text}");

    // The offerer's order decides: PCMU before G.722 gives PCMU even when we do both, and
    // static 9 needs no rtpmap.
    let offer = SessionDescription::parse(
        b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
          m=audio 40000 RTP/AVP 0 9 13\r\n",
    )
    .unwrap();
    let wide = LocalMedia::wideband(addr, 20000, 7, 1);
    let audio = sdp::answer(&offer, &wide).unwrap().audio.unwrap();
    assert_eq!(
        (audio.audio_codec, audio.cn_payload_type),
        (AudioCodec::Pcmu, Some(13))
    );
    let offer = SessionDescription::parse(
        b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
          m=audio 40000 RTP/AVP 9\r\n",
    )
    .unwrap();
    let audio = sdp::answer(&offer, &wide).unwrap().audio.unwrap();
    assert_eq!(audio.audio_codec, AudioCodec::G722);
    // Opus at the wrong clock rate is not Opus.
    let offer = SessionDescription::parse(
        b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
          m=audio 40000 RTP/AVP 96\r\na=rtpmap:96 opus/16000\r\n",
    )
    .unwrap();
    assert_eq!(
        sdp::answer(&offer, &wide).unwrap_err(),
        sdp::SdpError::NoCommonCodec
    );
}

#[test]
fn malformed_payloads_never_panic() {
    let mut rng = StdRng::seed_from_u64(3389);
    let mut decoders: Vec<Decoder> = AudioCodec::ALL
        .into_iter()
        .map(|c| Decoder::new(c).unwrap())
        .collect();
    decoders.push(Decoder::with_sample_rate(AudioCodec::Opus, 8000).unwrap());
    let mut out = vec![0i16; 48 * 120];
    let mut noise = NoiseGenerator::new(1);
    for round in 0..3000 {
        let len = match round % 4 {
            0 => rng.random_range(0..4),
            1 => rng.random_range(0..200),
            _ => rng.random_range(0..1500),
        };
        let payload: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        for dec in &mut decoders {
            let room = dec.max_samples(payload.len()).min(out.len());
            match dec.decode(&payload, &mut out[..room]) {
                Ok(n) => assert!(n <= room),
                Err(
                    CodecError::MalformedPayload { .. }
                    | CodecError::BufferTooSmall { .. }
                    | CodecError::Opus(_),
                ) => {}
                Err(e) => panic!("{:?}: {e:?}", dec.codec()),
            }
            if round % 16 == 0 {
                let _ = dec.recover(&payload, &mut out);
                let _ = dec.conceal(&mut out);
            }
        }
        let _ = CnPayload::parse(&payload);
        let _ = noise.handle_payload(&payload);
        noise.generate(&mut out[..160]);
    }
}

#[test]
fn steady_state_frames_do_not_allocate() {
    for codec in AudioCodec::ALL {
        let pcm = speech_band(codec.sample_rate());
        let mut enc = Encoder::new(codec).unwrap();
        let mut dec = Decoder::new(codec).unwrap();
        let mut payload = [0u8; MAX_PAYLOAD];
        let mut out = vec![0i16; dec.max_samples(MAX_PAYLOAD)];
        let frame = enc.frame_samples();
        let mut run = |frames: std::slice::ChunksExact<'_, i16>| {
            for chunk in frames {
                let n = enc.encode(chunk, &mut payload).unwrap();
                dec.decode(&payload[..n], &mut out).unwrap();
                dec.conceal(&mut out).unwrap();
            }
        };
        run(pcm[..frame * 2].chunks_exact(frame));
        let n = allocations(|| run(pcm[frame * 2..].chunks_exact(frame)));
        assert_eq!(n, 0, "{codec:?}");
    }
    for (from, to) in [(8000, 48000), (48000, 8000), (8000, 16000), (16000, 8000)] {
        let pcm = tone_1k(from);
        let mut r = Resampler::new(from, to).unwrap();
        let mut out = Vec::with_capacity(to as usize / 50);
        let frame = from as usize / 50;
        r.process(&pcm[..frame], &mut out);
        let n = allocations(|| {
            for chunk in pcm[frame..].chunks_exact(frame) {
                out.clear();
                r.process(chunk, &mut out);
            }
        });
        assert_eq!(n, 0, "{from} -> {to}");
    }
    let mut noise = NoiseGenerator::new(5);
    let mut frame = [0i16; 160];
    assert_eq!(allocations(|| noise.generate(&mut frame)), 0);
}
