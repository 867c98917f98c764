//! Fuzz in-band DTMF detection (`media/src/inband.rs`) and voice activity detection
//! (`media/src/vad.rs`) over arbitrary 8 kHz audio in frames of any length.
//!
//! The same stream goes to an `InbandDtmf` (`process`, drained with `poll_digit`;
//! `finish`, `reset`) and a `Vad` with a configuration from the input (`process`, drained
//! with `poll_event`; `finish`). The audio is raw samples from the input, silence, DC,
//! noise, or DTMF key tones synthesised with the input's level, twist, detuning and noise,
//! so that presses are detected too. Neither panics, and:
//! - every digit is a key of the keypad, held at least `MIN_DIGIT_DURATION` (as rounded
//!   to ms), and the presses together last no longer than the audio fed (presses do not
//!   overlap; each may round up by a millisecond);
//! - VAD events alternate `SpeechStart`, `SpeechEnd`, in time order, within the audio fed;
//!   an end's `duration` is its span from the start; an end reported by `process` comes at
//!   least `hangover` after the last active frame; the state returned is `state()` and is
//!   `Speech` exactly between a start and its end; `position()` counts every sample; the
//!   noise floor is a frame energy (`-90..=0.1` dBov) or, before any, the configured
//!   default.
//!
//! Input: `[threshold, min_speech, onset, hangover (10 ms), window (20 ms)]`, then ops
//! (low 2 bits of an op byte pick it); see `step`.
//!
//! Run: `cargo +nightly fuzz run inband_vad -- -max_len=4096`

#![no_main]

use std::time::Duration;

use hotline_media::inband::{self, InbandDtmf};
use hotline_media::vad::{Vad, VadConfig, VadEvent, VadState};
use libfuzzer_sys::fuzz_target;

/// One sample's duration at 8 kHz.
const SAMPLE: Duration = Duration::from_micros(125);

struct Audio {
    dtmf: InbandDtmf,
    vad: Vad,
    config: VadConfig,
    /// Samples fed.
    samples: u64,
    digit_ms: u64,
    digits: u64,
    /// The last VAD event: `Some(start)` while speech is open.
    speech_since: Option<Duration>,
    last_event_at: Duration,
    /// Tone phase, in samples, so tones continue across frames.
    phase: u64,
    noise: u32,
    frame: Vec<i16>,
}

impl Audio {
    fn feed(&mut self) {
        let frame = std::mem::take(&mut self.frame);
        self.samples += frame.len() as u64;
        self.dtmf.process(&frame);
        let state = self.vad.process(&frame);
        assert_eq!(state, self.vad.state());
        self.frame = frame;
        self.drain(false);
        assert_eq!(state == VadState::Speech, self.speech_since.is_some());
    }

    fn drain(&mut self, finished: bool) {
        while let Some(d) = self.dtmf.poll_digit() {
            assert!(
                inband::KEYS.iter().flatten().any(|&k| k == d.digit),
                "digit {:?}",
                d.digit
            );
            assert!(
                u128::from(d.duration_ms) >= inband::MIN_DIGIT_DURATION.as_millis(),
                "{d:?}"
            );
            self.digits += 1;
            self.digit_ms += u64::from(d.duration_ms);
            assert!(
                self.digit_ms <= self.samples / 8 + self.digits,
                "{} ms of presses in {} samples",
                self.digit_ms,
                self.samples
            );
        }
        let position = SAMPLE * u32::try_from(self.samples).unwrap();
        assert_eq!(self.vad.position(), position);
        while let Some(event) = self.vad.poll_event() {
            match event {
                VadEvent::SpeechStart { at } => {
                    assert!(self.speech_since.is_none(), "two starts");
                    assert!(at >= self.last_event_at && at <= position, "{event:?}");
                    self.speech_since = Some(at);
                    self.last_event_at = at;
                }
                VadEvent::SpeechEnd { at, duration } => {
                    let start = self.speech_since.take().expect("an end without a start");
                    assert!(at >= start && at <= position, "{event:?}");
                    assert_eq!(duration, at - start);
                    if !finished {
                        let hangover = self.config.hangover.as_nanos() * 8000 / 1_000_000_000;
                        let silent = (position - at).as_nanos() / SAMPLE.as_nanos();
                        assert!(silent >= hangover, "ended {silent} samples after speech");
                    }
                    self.last_event_at = at;
                }
                other => panic!("new event {other:?}"),
            }
        }
        let floor = self.vad.noise_floor_dbov();
        let default = self.config.min_speech_dbov - self.config.threshold_db;
        assert!(
            (-90.0..=0.1).contains(&floor) || floor.to_bits() == default.to_bits(),
            "noise floor {floor}"
        );
    }

    fn next_noise(&mut self) -> i32 {
        self.noise = self
            .noise
            .wrapping_mul(1_664_525)
            .wrapping_add(1_013_904_223);
        (self.noise >> 16) as i32 - 32768
    }

    /// One op; `None` at the end of the input.
    fn step(&mut self, input: &mut &[u8]) -> Option<()> {
        let (&op, rest) = input.split_first()?;
        *input = rest;
        let arg = usize::from(op >> 2);
        self.frame.clear();
        match op & 3 {
            // raw samples: arg × 6 of them, from the input
            0 => {
                let want = arg * 6;
                let take = (want * 2).min(input.len()) & !1;
                let (bytes, rest) = input.split_at(take);
                *input = rest;
                self.frame.extend(
                    bytes
                        .chunks_exact(2)
                        .map(|c| i16::from_le_bytes([c[0], c[1]])),
                );
                self.feed();
            }
            // a DTMF key: [key, level, twist, detune, noise], for (arg + 1) × 5 ms
            1 => {
                let (&[key, level, twist, detune, noise], rest) = input.split_first_chunk::<5>()?;
                *input = rest;
                let (row, col) = (usize::from(key >> 2 & 3), usize::from(key & 3));
                let detune = 1.0 + f64::from(detune as i8) / 2000.0;
                let fr = f64::from(inband::ROW_FREQUENCIES[row]) * detune;
                let fc = f64::from(inband::COLUMN_FREQUENCIES[col]) * detune;
                // Level: 0 to -63.75 dB from a 14000 peak each; twist ±12.7 dB on the high tone.
                let amp = 14_000.0 * 10f64.powf(-f64::from(level) / 4.0 / 20.0);
                let amp_c = amp * 10f64.powf(f64::from(twist as i8) / 10.0 / 20.0);
                let noise_amp = f64::from(noise) / 255.0 * amp;
                for _ in 0..(arg + 1) * 40 {
                    let t = self.phase as f64 / 8000.0;
                    self.phase += 1;
                    let n = f64::from(self.next_noise()) / 32768.0 * noise_amp;
                    let x = amp * (std::f64::consts::TAU * fr * t).sin()
                        + amp_c * (std::f64::consts::TAU * fc * t).sin()
                        + n;
                    self.frame.push(x.round().clamp(-32768.0, 32767.0) as i16);
                }
                self.feed();
            }
            // arg × 20 samples of silence, DC, full-scale noise or an alternating square
            2 => {
                let (&kind, rest) = input.split_first()?;
                *input = rest;
                for i in 0..arg * 20 {
                    let s = match kind & 3 {
                        0 => 0,
                        1 => i16::from(kind as i8) << 8,
                        2 => self.next_noise() as i16,
                        _ => {
                            if i % 2 == 0 {
                                i16::MAX
                            } else {
                                i16::MIN
                            }
                        }
                    };
                    self.frame.push(s);
                }
                self.feed();
            }
            // end of stream (both), or a DTMF reset
            _ => {
                if arg & 1 == 0 {
                    self.dtmf.finish();
                    self.vad.finish();
                    assert_eq!(self.vad.state(), VadState::Silence);
                    self.drain(true);
                    assert!(self.speech_since.is_none());
                } else {
                    self.dtmf.reset();
                    self.drain(false);
                }
            }
        }
        Some(())
    }
}

fuzz_target!(|data: &[u8]| {
    let [
        threshold,
        min_speech,
        onset,
        hangover,
        window,
        ref rest @ ..,
    ] = *data
    else {
        return;
    };
    let db = |b: u8| {
        if b == 0x80 {
            f32::NAN
        } else {
            f32::from(b as i8)
        }
    };
    let config = VadConfig {
        threshold_db: db(threshold) / 4.0,
        min_speech_dbov: db(min_speech) / 2.0 - 30.0,
        onset_frames: u32::from(onset % 8),
        hangover: Duration::from_millis(u64::from(hangover) * 10),
        noise_window: Duration::from_millis(u64::from(window) * 20),
    };
    let mut audio = Audio {
        dtmf: InbandDtmf::new(),
        vad: Vad::new(config),
        config,
        samples: 0,
        digit_ms: 0,
        digits: 0,
        speech_since: None,
        last_event_at: Duration::ZERO,
        phase: 0,
        noise: u32::from_le_bytes([threshold, min_speech, onset, hangover]),
        frame: Vec::new(),
    };
    assert_eq!(audio.vad.config().onset_frames, config.onset_frames);
    let mut input = rest;
    while audio.step(&mut input).is_some() {}
    audio.dtmf.finish();
    audio.vad.finish();
    audio.drain(true);
});
