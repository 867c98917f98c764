//! In-band DTMF detection on generated audio: key presses at many levels, twists and
//! frequency offsets in white noise, too-short and off-frequency tones, single tones,
//! call-progress tones, and speech (synthetic, and espeak-ng's when it is installed).

mod common;
use std::f32::consts::PI;

use hotline_media::dtmf::DtmfDigit;
use hotline_media::inband::{COLUMN_FREQUENCIES, InbandDtmf, KEYS, ROW_FREQUENCIES};
use rand::{Rng, SeedableRng, rngs::StdRng};

const RATE: f32 = 8000.0;

/// Peak amplitude (i16 scale) of a sine at `dbm0`: a full-scale sine is +3.14 dBm0
/// (G.711 A-law), so 0 dBm0 has 10^-0.314 = 0.4853 of its power.
fn amplitude(dbm0: f32) -> f32 {
    32768.0 * (0.4853 * 10f32.powf(dbm0 / 10.0)).sqrt()
}

/// Mean power (i16 scale, squared) of a sine at `dbm0`.
fn power(dbm0: f32) -> f32 {
    amplitude(dbm0).powi(2) / 2.0
}

fn key_tones(key: char) -> (f32, f32) {
    for (r, row) in KEYS.iter().enumerate() {
        for (c, k) in row.iter().enumerate() {
            if *k == key {
                return (ROW_FREQUENCIES[r], COLUMN_FREQUENCIES[c]);
            }
        }
    }
    panic!("{key} is not a key");
}

/// Audio under construction, in f32 on the i16 scale.
struct Signal {
    samples: Vec<f32>,
}

/// One press: levels per tone, frequency factors per tone, length.
#[derive(Clone, Copy)]
struct Press {
    key: char,
    low_dbm0: f32,
    high_dbm0: f32,
    low_factor: f32,
    high_factor: f32,
    ms: u32,
}

impl Press {
    fn new(key: char, dbm0: f32, ms: u32) -> Self {
        Press {
            key,
            low_dbm0: dbm0,
            high_dbm0: dbm0,
            low_factor: 1.0,
            high_factor: 1.0,
            ms,
        }
    }
}

impl Signal {
    fn new() -> Self {
        Signal {
            samples: Vec::new(),
        }
    }

    fn silence(&mut self, ms: u32) -> &mut Self {
        let n = self.samples.len() + ms as usize * 8;
        self.samples.resize(n, 0.0);
        self
    }

    fn samples_silence(&mut self, n: usize) -> &mut Self {
        self.samples.resize(self.samples.len() + n, 0.0);
        self
    }

    fn tone(&mut self, freq: f32, dbm0: f32, ms: u32) -> &mut Self {
        let a = amplitude(dbm0);
        let phase = 1.234; // any phase
        self.samples.extend(
            (0..ms as usize * 8).map(|n| a * (2.0 * PI * freq * n as f32 / RATE + phase).sin()),
        );
        self
    }

    fn press(&mut self, p: Press) -> &mut Self {
        let (low, high) = key_tones(p.key);
        let (low, high) = (low * p.low_factor, high * p.high_factor);
        let (a, b) = (amplitude(p.low_dbm0), amplitude(p.high_dbm0));
        self.samples.extend((0..p.ms as usize * 8).map(|n| {
            let t = n as f32 / RATE;
            a * (2.0 * PI * low * t).sin() + b * (2.0 * PI * high * t + 0.7).sin()
        }));
        self
    }

    /// Adds white Gaussian noise of mean power `noise_power` everywhere.
    fn noise(&mut self, rng: &mut StdRng, noise_power: f32) -> &mut Self {
        let sigma = noise_power.sqrt();
        for s in &mut self.samples {
            // Box-Muller.
            let u1: f32 = rng.random_range(f32::EPSILON..1.0);
            let u2: f32 = rng.random();
            *s += sigma * (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos();
        }
        self
    }

    fn pcm(&self) -> Vec<i16> {
        self.samples
            .iter()
            .map(|s| s.round().clamp(-32768.0, 32767.0) as i16)
            .collect()
    }
}

/// Runs a detector over `pcm` in 20 ms frames, then ends the stream.
fn detect(pcm: &[i16]) -> Vec<DtmfDigit> {
    detect_in(pcm, 160)
}

fn detect_in(pcm: &[i16], frame: usize) -> Vec<DtmfDigit> {
    let mut d = InbandDtmf::new();
    let mut out = Vec::new();
    for chunk in pcm.chunks(frame) {
        d.process(chunk);
        out.extend(std::iter::from_fn(|| d.poll_digit()));
    }
    d.process(&[0; 400]);
    d.finish();
    out.extend(std::iter::from_fn(|| d.poll_digit()));
    out
}

fn keys(digits: &[DtmfDigit]) -> String {
    digits.iter().map(|d| d.digit).collect()
}

const ALL_KEYS: &str = "1234567890*#ABCD";

#[test]
fn all_keys_at_many_levels_in_noise() {
    for (seed, dbm0) in [-21.0f32, -16.0, -11.0, -6.0].into_iter().enumerate() {
        let mut rng = StdRng::seed_from_u64(seed as u64);
        let mut signal = Signal::new();
        signal.silence(100);
        let mut lengths = Vec::new();
        for key in ALL_KEYS.chars() {
            // Twist within the limits, frequencies within ±1.5 %, lengths 45..120 ms,
            // pauses 45..120 ms.
            let twist: f32 = rng.random_range(-6.0..3.0);
            let ms = rng.random_range(45..120);
            lengths.push(ms);
            signal
                .press(Press {
                    key,
                    low_dbm0: dbm0 - twist.max(0.0),
                    high_dbm0: dbm0 + twist.min(0.0),
                    low_factor: 1.0 + rng.random_range(-0.015..0.015),
                    high_factor: 1.0 + rng.random_range(-0.015..0.015),
                    ms,
                })
                .silence(rng.random_range(45..120));
        }
        // 15 dB below the two tones together.
        signal.noise(&mut rng, 2.0 * power(dbm0) / 10f32.powf(1.5));
        let got = detect(&signal.pcm());
        assert_eq!(keys(&got), ALL_KEYS, "at {dbm0} dBm0: {got:?}");
        for (d, ms) in got.iter().zip(&lengths) {
            assert!(d.duration_ms.abs_diff(*ms) <= 8, "{d:?}, sent {ms} ms");
        }
    }
}

#[test]
fn forty_ms_accepted_twenty_five_rejected_at_every_alignment() {
    let mut rng = StdRng::seed_from_u64(40);
    for shift in (0..105).step_by(5) {
        for (ms, wanted) in [(40, 1), (45, 1), (25, 0), (20, 0), (10, 0)] {
            for key in ['1', '5', '#', 'D'] {
                let mut signal = Signal::new();
                signal
                    .samples_silence(200 + shift)
                    .press(Press::new(key, -10.0, ms))
                    .silence(200);
                signal.noise(&mut rng, 2.0 * power(-10.0) / 10f32.powf(1.5));
                let got = detect(&signal.pcm());
                assert_eq!(
                    got.len(),
                    wanted,
                    "{key} for {ms} ms, shift {shift}: {got:?}"
                );
                if wanted == 1 {
                    assert_eq!(got[0].digit, key);
                }
            }
        }
    }
}

#[test]
fn frequency_tolerance() {
    for key in ALL_KEYS.chars() {
        for (factor, wanted) in [
            (0.985, 1),
            (1.015, 1),
            (0.965, 0),
            (1.035, 0),
            (0.95, 0),
            (1.05, 0),
        ] {
            for (low_factor, high_factor) in [(factor, 1.0), (1.0, factor), (factor, factor)] {
                let mut signal = Signal::new();
                signal.silence(50).press(Press {
                    low_factor,
                    high_factor,
                    ..Press::new(key, -10.0, 100)
                });
                let got = detect(&signal.pcm());
                assert_eq!(
                    got.len(),
                    wanted,
                    "{key} at ×{low_factor}/×{high_factor}: {got:?}"
                );
            }
        }
    }
}

#[test]
fn twist_limits() {
    for key in ALL_KEYS.chars() {
        // (low tone level, high tone level, accepted)
        for (low, high, wanted) in [
            (-10.0, -17.0, 1), // low 7 dB louder
            (-10.0, -20.0, 0), // low 10 dB louder
            (-13.0, -10.0, 1), // high 3 dB louder
            (-16.0, -10.0, 0), // high 6 dB louder
        ] {
            let mut signal = Signal::new();
            signal.silence(50).press(Press {
                low_dbm0: low,
                high_dbm0: high,
                ..Press::new(key, 0.0, 100)
            });
            let got = detect(&signal.pcm());
            assert_eq!(got.len(), wanted, "{key} at {low}/{high} dBm0: {got:?}");
        }
    }
}

#[test]
fn level_limits() {
    for key in ALL_KEYS.chars() {
        for (dbm0, wanted) in [(-27.0, 1), (-36.0, 0), (-45.0, 0), (0.0, 1)] {
            let mut signal = Signal::new();
            signal.silence(50).press(Press::new(key, dbm0, 100));
            assert_eq!(detect(&signal.pcm()).len(), wanted, "{key} at {dbm0} dBm0");
        }
    }
}

#[test]
fn single_tones_and_call_progress_tones_are_not_keys() {
    for f in ROW_FREQUENCIES.iter().chain(&COLUMN_FREQUENCIES) {
        for dbm0 in [-20.0, -6.0] {
            let mut signal = Signal::new();
            signal.tone(*f, dbm0, 500);
            assert!(detect(&signal.pcm()).is_empty(), "{f} Hz alone");
        }
    }
    // Dial (350+440), ringback (440+480), busy (480+620), and a DTMF row + a non-DTMF tone.
    for (a, b) in [
        (350.0, 440.0),
        (440.0, 480.0),
        (480.0, 620.0),
        (697.0, 1100.0),
        (1000.0, 1209.0),
    ] {
        let mut signal = Signal::new();
        signal.tone(a, -10.0, 1000);
        let mut other = Signal::new();
        other.tone(b, -10.0, 1000);
        for (s, o) in signal.samples.iter_mut().zip(&other.samples) {
            *s += o;
        }
        assert!(detect(&signal.pcm()).is_empty(), "{a} + {b} Hz");
    }
}

#[test]
fn one_report_per_press_despite_a_dropout() {
    // 200 ms with a 10 ms hole in the middle: one press of about 200 ms.
    let mut signal = Signal::new();
    signal
        .silence(50)
        .press(Press::new('7', -10.0, 95))
        .silence(10)
        .press(Press::new('7', -10.0, 95))
        .silence(100);
    let got = detect(&signal.pcm());
    assert_eq!(keys(&got), "7");
    assert!(got[0].duration_ms.abs_diff(190) <= 15, "{got:?}");

    // The same key twice with a 40 ms pause: two presses.
    let mut signal = Signal::new();
    signal
        .silence(50)
        .press(Press::new('7', -10.0, 60))
        .silence(40)
        .press(Press::new('7', -10.0, 60));
    assert_eq!(keys(&detect(&signal.pcm())), "77");
}

#[test]
fn a_held_key_is_reported_on_release_in_any_framing() {
    let mut signal = Signal::new();
    signal
        .silence(30)
        .press(Press::new('0', -8.0, 1500))
        .silence(60);
    let pcm = signal.pcm();
    let mut d = InbandDtmf::new();
    // Nothing while held.
    d.process(&pcm[..8 * 1500]);
    assert_eq!(d.poll_digit(), None);
    d.process(&pcm[8 * 1500..]);
    let digit = d.poll_digit().expect("reported on release");
    assert_eq!(digit.digit, '0');
    assert!(digit.duration_ms.abs_diff(1500) <= 5, "{digit:?}");
    assert_eq!(d.poll_digit(), None);

    for frame in [1, 7, 105, 160, 333, 4096] {
        let got = detect_in(&pcm, frame);
        assert_eq!(got, [digit], "frames of {frame}");
    }
    // A key still held when the stream ends is reported by `finish`.
    let mut d = InbandDtmf::new();
    d.process(&pcm[..8 * 500]);
    d.finish();
    assert_eq!(d.poll_digit().map(|d| d.digit), Some('0'));
}

/// Voiced "speech": a harmonic series on a gliding pitch with vibrato, shaped by two
/// moving formants, in syllables of varying loudness. Made to put harmonics right on the
/// DTMF frequencies again and again.
fn speech_like(rng: &mut StdRng, seconds: u32) -> Vec<i16> {
    let mut out = Vec::new();
    let mut phase = 0.0f32;
    let mut f0: f32 = 140.0;
    let mut t = 0.0f32;
    while out.len() < seconds as usize * 8000 {
        // One syllable: 120..400 ms voiced, then 30..150 ms of quiet.
        let voiced = rng.random_range(960..3200);
        let target: f32 = rng.random_range(85.0..260.0);
        let (f1, f2): (f32, f32) = (
            rng.random_range(300.0..900.0),
            rng.random_range(850.0..2400.0),
        );
        let level = amplitude(rng.random_range(-30.0..-5.0));
        for n in 0..voiced {
            t += 1.0 / RATE;
            f0 += (target - f0) * 0.0005;
            let pitch = f0 * (1.0 + 0.03 * (2.0 * PI * 5.5 * t).sin());
            phase += 2.0 * PI * pitch / RATE;
            let envelope = (PI * n as f32 / voiced as f32).sin();
            let mut v = 0.0;
            let mut k = 1.0;
            while k * pitch < 3600.0 {
                let f = k * pitch;
                let formants = 1.0 / (1.0 + ((f - f1) / 120.0).powi(2))
                    + 0.7 / (1.0 + ((f - f2) / 160.0).powi(2))
                    + 0.02;
                v += formants * (k * phase).sin();
                k += 1.0;
            }
            out.push((level * envelope * v * 0.5).clamp(-32768.0, 32767.0) as i16);
        }
        let quiet = rng.random_range(240..1200);
        out.extend((0..quiet).map(|_| rng.random_range(-30i16..30)));
    }
    out
}

#[test]
fn speech_like_audio_does_not_talk_off() {
    let mut false_digits = Vec::new();
    for seed in 0..6 {
        let mut rng = StdRng::seed_from_u64(1000 + seed);
        let speech = speech_like(&mut rng, 60);
        false_digits.extend(detect(&speech));
    }
    assert!(
        false_digits.is_empty(),
        "6 minutes of speech gave {false_digits:?}"
    );
}

#[test]
fn digits_are_found_over_speech_like_audio() {
    // A key pressed while the caller talks (speech 10 dB below the tones) is still heard.
    let mut rng = StdRng::seed_from_u64(77);
    let speech = speech_like(&mut rng, 3);
    let mut signal = Signal::new();
    signal
        .silence(500)
        .press(Press::new('5', -8.0, 100))
        .silence(900);
    signal
        .silence(500)
        .press(Press::new('9', -8.0, 100))
        .silence(900);
    let mut pcm = signal.pcm();
    let scale = amplitude(-18.0) / amplitude(-5.0);
    for (p, s) in pcm.iter_mut().zip(&speech) {
        *p = p.saturating_add((f32::from(*s) * scale) as i16);
    }
    assert_eq!(keys(&detect(&pcm)), "59");
}

/// Real synthetic speech (needs espeak-ng and sox).
#[test]
fn espeak_speech_does_not_talk_off() {
    let text = "Thank you for calling. Please hold while we connect you to the next available \
                agent. Your call is important to us. For billing press one, for support press \
                two. Nine, eight, seven, six, five, four, three, two, one, zero, star, pound.";
    let mut pcm = Vec::new();
    for voice in ["en", "en-us", "de", "fr"] {
        pcm.extend(common::speak(text, Some(voice)));
    }
    assert!(pcm.len() > 8000 * 20, "{} samples", pcm.len());
    // At its own level, and 10 dB louder (clipping included).
    let louder: Vec<i16> = pcm
        .iter()
        .map(|s| (f32::from(*s) * 3.16).clamp(-32768.0, 32767.0) as i16)
        .collect();
    assert_eq!(detect(&pcm), []);
    assert_eq!(detect(&louder), []);
}
