//! Energy-based voice activity detection, one [`Vad`] per leg.
//!
//! Each frame's energy (dBov: dB relative to a full-scale square wave) is compared with
//! an adaptive noise floor. A frame is *active* when it is at least
//! [`VadConfig::threshold_db`] above the floor and above [`VadConfig::min_speech_dbov`].
//! Speech starts after [`VadConfig::onset_frames`] consecutive active frames (one loud
//! click is not speech) and ends once no frame has been active for
//! [`VadConfig::hangover`] (the pauses between words do not split an utterance).
//!
//! The noise floor is the quietest frame of the last [`VadConfig::noise_window`]
//! (minimum statistics): the pauses between words and syllables show the noise under
//! the speech. Noise that grows slowly is tracked with a lag of that window and never
//! counts as speech; noise that jumps up counts as activity until the window has moved
//! past the jump. Frames of digital silence (a lost packet played as zeros, a muted line)
//! say nothing about the noise and are left out of the floor. Until a first
//! non-silent frame, the floor is `min_speech_dbov - threshold_db`.
//!
//! Time is the audio itself: the detector counts samples at 8 kHz, and event times are
//! offsets from the first sample it was given. It reads no clock and allocates nothing per
//! frame.

use std::collections::VecDeque;
use std::time::Duration;

/// Tuning for a [`Vad`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VadConfig {
    /// How far above the noise floor a frame must be to be active, dB.
    pub threshold_db: f32,
    /// Frames quieter than this (dBov) are never active, whatever the floor.
    pub min_speech_dbov: f32,
    /// Consecutive active frames that start speech.
    pub onset_frames: u32,
    /// Time without an active frame that ends speech.
    pub hangover: Duration,
    /// How far back the noise floor looks for the quietest frame.
    pub noise_window: Duration,
}

impl Default for VadConfig {
    fn default() -> Self {
        VadConfig {
            threshold_db: 9.0,
            min_speech_dbov: -55.0,
            onset_frames: 2,
            hangover: Duration::from_millis(200),
            noise_window: Duration::from_millis(1600),
        }
    }
}

/// Whether a leg is talking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadState {
    /// No speech (including the onset frames before speech is confirmed).
    Silence,
    /// Speech, including the hangover after the last active frame.
    Speech,
}

/// A change of [`VadState`], reported once speech is confirmed or over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VadEvent {
    /// Speech started `at` (the start of its first active frame), reported
    /// [`VadConfig::onset_frames`] frames later.
    SpeechStart {
        /// Offset of the speech's first sample in the stream.
        at: Duration,
    },
    /// Speech ended `at` (the end of its last active frame), reported
    /// [`VadConfig::hangover`] later.
    SpeechEnd {
        /// Offset of the end of the speech's last active frame.
        at: Duration,
        /// From its start to `at`.
        duration: Duration,
    },
}

const SAMPLE_RATE: u64 = crate::CLOCK_RATE as u64;

/// The quietest energy a frame is given (digital silence), dBov.
const FLOOR_DBOV: f32 = -100.0;

/// Frames below this (dBov) are digital silence, left out of the noise floor.
const DIGITAL_SILENCE_DBOV: f32 = -90.0;

/// The noise window is tracked in this many parts.
const WINDOW_PARTS: usize = 8;

fn samples_to_duration(samples: u64) -> Duration {
    Duration::from_nanos(samples.saturating_mul(1_000_000_000 / SAMPLE_RATE))
}

fn duration_to_samples(d: Duration) -> u64 {
    u64::try_from(d.as_nanos() * u128::from(SAMPLE_RATE) / 1_000_000_000).unwrap_or(u64::MAX)
}

/// Mean energy of a frame in dBov (0 dBov: a full-scale square wave; a full-scale sine
/// is -3 dBov), at least -100.
pub fn frame_energy_dbov(frame: &[i16]) -> f32 {
    if frame.is_empty() {
        return FLOOR_DBOV;
    }
    let sum: f64 = frame.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let mean = sum / frame.len() as f64 / (32768.0 * 32768.0);
    if mean <= 0.0 {
        return FLOOR_DBOV;
    }
    // The cast narrows a value in -100..=0.1.
    ((10.0 * mean.log10()) as f32).max(FLOOR_DBOV)
}

/// Energy-based voice activity detector for one 8 kHz stream (see the module doc).
///
/// Draining rule: after each [`process`](Self::process), call
/// [`poll_event`](Self::poll_event) until `None`. At the end of a stream,
/// [`finish`](Self::finish) ends a segment still open.
#[derive(Debug, Clone)]
pub struct Vad {
    config: VadConfig,
    hangover_samples: u64,
    /// Minimum statistics: the quietest frame of each finished part of the window
    /// (`INFINITY`: none), the part being filled, and how many samples it holds.
    part_minima: [f32; WINDOW_PARTS],
    next_part: usize,
    part_min: f32,
    part_samples: u64,
    part_len: u64,
    state: VadState,
    /// Samples seen.
    position: u64,
    /// Consecutive active frames, and where the first of them started.
    active_run: u32,
    run_start: u64,
    speech_start: u64,
    last_active_end: u64,
    events: VecDeque<VadEvent>,
}

impl Vad {
    /// A detector at the start of a stream.
    pub fn new(config: VadConfig) -> Self {
        Vad {
            config,
            hangover_samples: duration_to_samples(config.hangover),
            part_minima: [f32::INFINITY; WINDOW_PARTS],
            next_part: 0,
            part_min: f32::INFINITY,
            part_samples: 0,
            part_len: (duration_to_samples(config.noise_window) / WINDOW_PARTS as u64).max(1),
            state: VadState::Silence,
            position: 0,
            active_run: 0,
            run_start: 0,
            speech_start: 0,
            last_active_end: 0,
            events: VecDeque::new(),
        }
    }

    /// Feeds one frame (any length; 20 ms of 8 kHz audio is the usual) and returns the
    /// state after it.
    pub fn process(&mut self, frame: &[i16]) -> VadState {
        if frame.is_empty() {
            return self.state;
        }
        let energy = frame_energy_dbov(frame);
        let start = self.position;
        let end = start + frame.len() as u64;
        self.position = end;
        let floor = self.noise_floor_dbov();
        let active =
            energy >= floor + self.config.threshold_db && energy >= self.config.min_speech_dbov;

        if active {
            if self.active_run == 0 {
                self.run_start = start;
            }
            self.active_run = self.active_run.saturating_add(1);
            self.last_active_end = end;
            if self.state == VadState::Silence && self.active_run >= self.config.onset_frames {
                self.state = VadState::Speech;
                self.speech_start = self.run_start;
                self.events.push_back(VadEvent::SpeechStart {
                    at: samples_to_duration(self.run_start),
                });
            }
        } else {
            self.active_run = 0;
            if self.state == VadState::Speech && end - self.last_active_end >= self.hangover_samples
            {
                self.end_speech();
            }
        }
        self.track_floor(energy, frame.len() as u64);
        self.state
    }

    fn track_floor(&mut self, energy: f32, samples: u64) {
        if energy >= DIGITAL_SILENCE_DBOV {
            self.part_min = self.part_min.min(energy);
        }
        self.part_samples += samples;
        if self.part_samples >= self.part_len {
            self.part_minima[self.next_part] = self.part_min;
            self.next_part = (self.next_part + 1) % WINDOW_PARTS;
            self.part_min = f32::INFINITY;
            self.part_samples = 0;
        }
    }

    fn end_speech(&mut self) {
        self.state = VadState::Silence;
        self.events.push_back(VadEvent::SpeechEnd {
            at: samples_to_duration(self.last_active_end),
            duration: samples_to_duration(self.last_active_end - self.speech_start),
        });
    }

    /// Ends the stream: speech in progress ends at its last active frame.
    pub fn finish(&mut self) {
        if self.state == VadState::Speech {
            self.end_speech();
        }
        self.active_run = 0;
    }

    /// The next transition.
    pub fn poll_event(&mut self) -> Option<VadEvent> {
        self.events.pop_front()
    }

    /// The state after the last frame.
    pub fn state(&self) -> VadState {
        self.state
    }

    /// The current noise floor, dBov.
    pub fn noise_floor_dbov(&self) -> f32 {
        let quietest = self
            .part_minima
            .iter()
            .fold(self.part_min, |floor, part| floor.min(*part));
        if quietest.is_finite() {
            quietest
        } else {
            self.config.min_speech_dbov - self.config.threshold_db
        }
    }

    /// How much audio has been processed.
    pub fn position(&self) -> Duration {
        samples_to_duration(self.position)
    }

    /// The configuration.
    pub fn config(&self) -> &VadConfig {
        &self.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn energy_in_dbov() {
        assert_eq!(frame_energy_dbov(&[]), -100.0);
        assert_eq!(frame_energy_dbov(&[0; 160]), -100.0);
        let square: Vec<i16> = (0..160)
            .map(|n| if n % 2 == 0 { i16::MAX } else { i16::MIN })
            .collect();
        assert!(frame_energy_dbov(&square).abs() < 0.01);
        let sine: Vec<i16> = (0..160)
            .map(|n| (32767.0 * (n as f32 * 0.3).sin()) as i16)
            .collect();
        assert!((frame_energy_dbov(&sine) + 3.0).abs() < 0.2);
        assert!((frame_energy_dbov(&[328; 160]) + 40.0).abs() < 0.1);
    }

    #[test]
    fn durations_are_sample_exact() {
        assert_eq!(samples_to_duration(160), Duration::from_millis(20));
        assert_eq!(duration_to_samples(Duration::from_millis(200)), 1600);
    }

    #[test]
    fn a_loud_click_is_not_speech_but_two_frames_are() {
        let mut vad = Vad::new(VadConfig::default());
        let quiet = [10i16; 160];
        let loud = [8000i16; 160];
        for _ in 0..10 {
            assert_eq!(vad.process(&quiet), VadState::Silence);
        }
        assert_eq!(vad.process(&loud), VadState::Silence);
        assert_eq!(vad.process(&quiet), VadState::Silence);
        assert_eq!(vad.poll_event(), None);
        assert_eq!(vad.process(&loud), VadState::Silence);
        assert_eq!(vad.process(&loud), VadState::Speech);
        assert_eq!(
            vad.poll_event(),
            Some(VadEvent::SpeechStart {
                at: Duration::from_millis(12 * 20)
            })
        );
        vad.finish();
        assert_eq!(
            vad.poll_event(),
            Some(VadEvent::SpeechEnd {
                at: Duration::from_millis(14 * 20),
                duration: Duration::from_millis(40)
            })
        );
        assert_eq!(vad.state(), VadState::Silence);
    }
}
