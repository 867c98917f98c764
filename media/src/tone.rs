//! Tones: call-progress tones (dial, ringback, busy, congestion), beeps and in-band DTMF
//! digits, rendered as [`Prompt`]s or as samples at any rate.
//!
//! A tone is a [`ToneSpec`]: one to four sine [`Component`]s, each with its frequency and
//! level in dBm0, gated by a cadence of on/off pairs that repeats. [`Country`] holds the
//! national plans; [`ToneSpec::new`] makes any other. [`ToneLength`] says how much to
//! render: whole cadence periods (a loop count) or a duration.
//!
//! ## Precision
//! - Frequencies are exact: sample `n` of a component is `A·sin(2π·f·n/rate)`, computed
//!   from `n` in double precision rather than by an accumulating oscillator, so nothing
//!   drifts, and the phase runs on across frame boundaries and across the joins of on
//!   periods separated by no pause (a tone is one continuous waveform; frames are only how
//!   it is cut up afterwards).
//! - Levels follow G.711: a full-scale sine is +3.14 dBm0 (A-law; µ-law's +3.17 is the same
//!   within a rounding step), so a component at `L` dBm0 has the peak amplitude
//!   `32768 · 10^((L − 3.14)/20)` — 5 111 at −13 dBm0.
//! - Cadence is exact to the sample: each on and off time is rounded to whole samples (at
//!   8 kHz a sample is 125 µs, so every whole millisecond is exact), and the samples of an
//!   off time are exactly zero. Within each on time the tone rises and falls over
//!   [`RAMP`] with a raised-cosine envelope, so bursts start and stop without clicks.
//!   Rendered tones start and end at silence; a continuous tone (no cadence) as well.
//!
//! ## Plans
//! The US values are the North American precise tone plan's (frequencies and levels). The
//! UK and CEPT (most of Europe) values are the frequencies and cadences of those plans at
//! −13 dBm0 per component; national plans in Europe vary in cadence (Germany's congestion
//! is 240 ms / 240 ms, for one), and a deployment that needs one builds it with
//! [`ToneSpec::new`].

use std::f64::consts::PI;
use std::time::Duration;

use crate::CLOCK_RATE;
use crate::inband::{COLUMN_FREQUENCIES, KEYS, ROW_FREQUENCIES};
use crate::prompt::{MAX_DURATION, Prompt};

/// The level of a full-scale sine in dBm0 (G.711 A-law).
#[expect(clippy::approx_constant, reason = "G.711's +3.14 dBm0, not π")]
pub const FULL_SCALE_DBM0: f64 = 3.14;

/// The rise and fall time at the edges of each burst.
pub const RAMP: Duration = Duration::from_millis(2);

/// The most sine components in one tone.
pub const MAX_COMPONENTS: usize = 4;

/// Why a tone cannot be made or rendered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ToneError {
    /// No components, or more than [`MAX_COMPONENTS`].
    #[error("a tone needs 1 to {MAX_COMPONENTS} components, got {0}")]
    ComponentCount(usize),
    /// A frequency that is not positive, or not below half the sample rate.
    #[error("tone frequency {0} Hz is not between 0 and half the sample rate")]
    Frequency(f64),
    /// A level that is not finite, or would clip: the components' peaks together exceed
    /// full scale.
    #[error("tone level {0} dBm0 would clip (full scale is +3.14 dBm0 for all components)")]
    Level(f64),
    /// A cadence pair with no on time, or a cadence with no length.
    #[error("tone cadence needs an on time in every pair")]
    Cadence,
    /// [`ToneLength::Periods`] asked of a continuous tone.
    #[error("a continuous tone has no period: give a duration")]
    NoPeriod,
    /// Longer than [`MAX_DURATION`].
    #[error("tone is longer than {} s", MAX_DURATION.as_secs())]
    TooLong,
    /// A sample rate outside 1 to 384 kHz.
    #[error("tone sample rate {0} Hz is outside 1000..=384000 Hz")]
    Rate(u32),
    /// Not a DTMF key (`0-9`, `*`, `#`, `A-D`).
    #[error("{0:?} is not a DTMF key")]
    Digit(char),
}

/// One sine component of a tone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Component {
    /// Frequency in Hz.
    pub freq_hz: f64,
    /// Level in dBm0 (see the module doc).
    pub level_dbm0: f64,
}

impl Component {
    /// A component of `freq_hz` at `level_dbm0`.
    pub const fn new(freq_hz: f64, level_dbm0: f64) -> Self {
        Component {
            freq_hz,
            level_dbm0,
        }
    }

    /// Peak amplitude on the i16 scale.
    pub fn amplitude(&self) -> f64 {
        32_768.0 * 10f64.powf((self.level_dbm0 - FULL_SCALE_DBM0) / 20.0)
    }
}

/// How much of a tone to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToneLength {
    /// This many whole cadence periods (a loop count).
    Periods(u32),
    /// This long, cutting the cadence wherever it is (to whole samples, rounded).
    Duration(Duration),
}

/// A tone: components gated by a repeating cadence (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub struct ToneSpec {
    components: Vec<Component>,
    /// (on, off) pairs, repeated; empty for a continuous tone.
    cadence: Vec<(Duration, Duration)>,
}

impl ToneSpec {
    /// A tone of `components` gated by `cadence`, a list of (on, off) pairs that repeats;
    /// an empty cadence is a continuous tone. An off time may be zero (the next on time
    /// follows seamlessly); an on time may not.
    pub fn new(
        components: &[Component],
        cadence: &[(Duration, Duration)],
    ) -> Result<Self, ToneError> {
        if components.is_empty() || components.len() > MAX_COMPONENTS {
            return Err(ToneError::ComponentCount(components.len()));
        }
        let mut peak = 0.0;
        for c in components {
            if !(c.freq_hz.is_finite() && c.freq_hz > 0.0) {
                return Err(ToneError::Frequency(c.freq_hz));
            }
            if !c.level_dbm0.is_finite() {
                return Err(ToneError::Level(c.level_dbm0));
            }
            peak += c.amplitude();
        }
        if peak > 32_767.0 {
            let loudest = components
                .iter()
                .map(|c| c.level_dbm0)
                .fold(f64::NEG_INFINITY, f64::max);
            return Err(ToneError::Level(loudest));
        }
        if cadence.iter().any(|(on, _)| on.is_zero()) {
            return Err(ToneError::Cadence);
        }
        Ok(ToneSpec {
            components: components.to_vec(),
            cadence: cadence.to_vec(),
        })
    }

    /// A continuous tone of `components`.
    pub fn continuous(components: &[Component]) -> Result<Self, ToneError> {
        Self::new(components, &[])
    }

    /// The recording-notice beep: 1 kHz at −13 dBm0 for 200 ms (render one period).
    pub fn beep() -> Self {
        ToneSpec {
            components: vec![Component::new(1000.0, -13.0)],
            cadence: vec![(Duration::from_millis(200), Duration::ZERO)],
        }
    }

    /// The components.
    pub fn components(&self) -> &[Component] {
        &self.components
    }

    /// The (on, off) pairs; empty for a continuous tone.
    pub fn cadence(&self) -> &[(Duration, Duration)] {
        &self.cadence
    }

    /// One cadence period, or `None` for a continuous tone.
    pub fn period(&self) -> Option<Duration> {
        if self.cadence.is_empty() {
            return None;
        }
        Some(self.cadence.iter().map(|(on, off)| *on + *off).sum())
    }

    /// Renders 8 kHz frames, the last one padded with silence.
    pub fn prompt(&self, length: ToneLength) -> Result<Prompt, ToneError> {
        Ok(Prompt::from_samples(&self.render(CLOCK_RATE, length)?))
    }

    /// Renders samples at `rate` Hz.
    pub fn render(&self, rate: u32, length: ToneLength) -> Result<Vec<i16>, ToneError> {
        if !(1000..=384_000).contains(&rate) {
            return Err(ToneError::Rate(rate));
        }
        if let Some(c) = self
            .components
            .iter()
            .find(|c| c.freq_hz >= f64::from(rate) / 2.0)
        {
            return Err(ToneError::Frequency(c.freq_hz));
        }
        let to_samples = |d: Duration| -> u64 {
            // Bounded by MAX_DURATION (checked below) for what is used; saturating beyond.
            (d.as_secs_f64() * f64::from(rate)).round() as u64
        };
        let max = MAX_DURATION.as_secs() * u64::from(rate);
        // The on intervals, in samples, over one period; merged where no pause separates
        // them.
        let mut period_on: Vec<(u64, u64)> = Vec::new();
        let mut at = 0u64;
        for &(on, off) in &self.cadence {
            let (on, off) = (to_samples(on), to_samples(off));
            if on == 0 {
                return Err(ToneError::Cadence); // shorter than half a sample
            }
            if at.saturating_add(on).saturating_add(off) > max {
                return Err(ToneError::TooLong);
            }
            match period_on.last_mut() {
                Some(last) if last.1 == at => last.1 = at + on,
                _ => period_on.push((at, at + on)),
            }
            at += on + off;
        }
        let period = at;
        let total = match length {
            ToneLength::Periods(n) => {
                if self.cadence.is_empty() {
                    return Err(ToneError::NoPeriod);
                }
                period.saturating_mul(u64::from(n))
            }
            ToneLength::Duration(d) => {
                if d > MAX_DURATION {
                    return Err(ToneError::TooLong);
                }
                to_samples(d)
            }
        };
        if total > max {
            return Err(ToneError::TooLong);
        }
        // The on intervals over the whole length, merged across period joins.
        let mut intervals: Vec<(u64, u64)> = Vec::new();
        if self.cadence.is_empty() {
            intervals.push((0, total));
        } else {
            let mut start = 0;
            while start < total {
                for &(a, b) in &period_on {
                    let (a, b) = (start + a, (start + b).min(total));
                    if a >= b {
                        break;
                    }
                    match intervals.last_mut() {
                        Some(last) if last.1 == a => last.1 = b,
                        _ => intervals.push((a, b)),
                    }
                }
                start += period;
            }
        }
        // `total` ≤ MAX_DURATION at 384 kHz (230 M samples), which fits a usize on every
        // target we build for.
        let mut out = vec![0i16; total as usize];
        let ramp = to_samples(RAMP).max(1);
        let rate = f64::from(rate);
        let tones: Vec<(f64, f64)> = self
            .components
            .iter()
            .map(|c| (2.0 * PI * c.freq_hz / rate, c.amplitude()))
            .collect();
        for (a, b) in intervals {
            for n in a..b {
                let edge = (n - a).min(b - 1 - n);
                let envelope = if edge < ramp {
                    0.5 - 0.5 * (PI * (edge as f64 + 0.5) / ramp as f64).cos()
                } else {
                    1.0
                };
                let t = n as f64;
                let value: f64 = tones.iter().map(|(w, amp)| amp * (w * t).sin()).sum();
                // The components' peaks sum to at most 32 767 (checked in `new`).
                out[n as usize] = (value * envelope).round() as i16;
            }
        }
        Ok(out)
    }
}

/// A national tone plan (see the module doc for the sources and levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Country {
    /// The United States and Canada (the North American precise tone plan).
    Us,
    /// The United Kingdom.
    Uk,
    /// CEPT countries (most of Europe): 425 Hz.
    Eu,
}

/// The call-progress tones of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallProgress {
    /// Dial tone (continuous).
    Dial,
    /// Ringback: the called party is being alerted.
    Ringback,
    /// Busy: the called party is busy.
    Busy,
    /// Congestion (reorder): the network is busy, or the number is unobtainable.
    Congestion,
}

impl Country {
    /// A plan by its code: `us` (also `ca`), `uk` (also `gb`), `eu`; any case.
    pub fn from_code(code: &str) -> Option<Self> {
        match code.to_ascii_lowercase().as_str() {
            "us" | "ca" => Some(Country::Us),
            "uk" | "gb" => Some(Country::Uk),
            "eu" => Some(Country::Eu),
            _ => None,
        }
    }

    /// The plan's tone for `kind`.
    pub fn tone(self, kind: CallProgress) -> ToneSpec {
        let ms = Duration::from_millis;
        let c = Component::new;
        let (components, cadence): (Vec<Component>, Vec<(Duration, Duration)>) = match (self, kind)
        {
            (Country::Us, CallProgress::Dial) => (vec![c(350.0, -13.0), c(440.0, -13.0)], vec![]),
            (Country::Us, CallProgress::Ringback) => (
                vec![c(440.0, -19.0), c(480.0, -19.0)],
                vec![(ms(2000), ms(4000))],
            ),
            (Country::Us, CallProgress::Busy) => (
                vec![c(480.0, -24.0), c(620.0, -24.0)],
                vec![(ms(500), ms(500))],
            ),
            (Country::Us, CallProgress::Congestion) => (
                vec![c(480.0, -24.0), c(620.0, -24.0)],
                vec![(ms(250), ms(250))],
            ),
            (Country::Uk, CallProgress::Dial) => (vec![c(350.0, -13.0), c(440.0, -13.0)], vec![]),
            (Country::Uk, CallProgress::Ringback) => (
                vec![c(400.0, -13.0), c(450.0, -13.0)],
                vec![(ms(400), ms(200)), (ms(400), ms(2000))],
            ),
            (Country::Uk, CallProgress::Busy) => (vec![c(400.0, -13.0)], vec![(ms(375), ms(375))]),
            (Country::Uk, CallProgress::Congestion) => (
                vec![c(400.0, -13.0)],
                vec![(ms(400), ms(350)), (ms(225), ms(525))],
            ),
            (Country::Eu, CallProgress::Dial) => (vec![c(425.0, -13.0)], vec![]),
            (Country::Eu, CallProgress::Ringback) => {
                (vec![c(425.0, -13.0)], vec![(ms(1000), ms(4000))])
            }
            (Country::Eu, CallProgress::Busy) => (vec![c(425.0, -13.0)], vec![(ms(500), ms(500))]),
            (Country::Eu, CallProgress::Congestion) => {
                (vec![c(425.0, -13.0)], vec![(ms(250), ms(250))])
            }
        };
        ToneSpec {
            components,
            cadence,
        }
    }
}

/// How in-band DTMF digits are sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DtmfTones {
    /// Tone time per digit.
    pub on: Duration,
    /// Pause after each digit.
    pub off: Duration,
    /// Level of the row (low-group) tone, dBm0.
    pub low_dbm0: f64,
    /// Level of the column (high-group) tone, dBm0.
    pub high_dbm0: f64,
}

impl Default for DtmfTones {
    /// 100 ms on, 50 ms off; −10 dBm0 low, −8 dBm0 high (the high tone 2 dB louder, as
    /// telephone sets send it).
    fn default() -> Self {
        DtmfTones {
            on: Duration::from_millis(100),
            off: Duration::from_millis(50),
            low_dbm0: -10.0,
            high_dbm0: -8.0,
        }
    }
}

impl DtmfTones {
    /// The tone of one key (`0-9`, `*`, `#`, `A-D`, any case), one on/off period.
    pub fn key(&self, key: char) -> Result<ToneSpec, ToneError> {
        let key = key.to_ascii_uppercase();
        let (row, col) = KEYS
            .iter()
            .enumerate()
            .find_map(|(r, keys)| keys.iter().position(|&k| k == key).map(|c| (r, c)))
            .ok_or(ToneError::Digit(key))?;
        ToneSpec::new(
            &[
                Component::new(f64::from(ROW_FREQUENCIES[row]), self.low_dbm0),
                Component::new(f64::from(COLUMN_FREQUENCIES[col]), self.high_dbm0),
            ],
            &[(self.on, self.off)],
        )
    }

    /// `digits` in turn, each one period (tone, then pause), at `rate` Hz.
    pub fn render(&self, digits: &str, rate: u32) -> Result<Vec<i16>, ToneError> {
        let mut out = Vec::new();
        let max = MAX_DURATION.as_secs() * u64::from(rate);
        for key in digits.chars() {
            out.extend(self.key(key)?.render(rate, ToneLength::Periods(1))?);
            if out.len() as u64 > max {
                return Err(ToneError::TooLong);
            }
        }
        Ok(out)
    }

    /// `digits` in turn as an 8 kHz prompt.
    pub fn prompt(&self, digits: &str) -> Result<Prompt, ToneError> {
        Ok(Prompt::from_samples(&self.render(digits, CLOCK_RATE)?))
    }
}
