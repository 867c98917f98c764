//! Sample-rate conversion for prompts, done once when a file is loaded.
//!
//! A band-limited (windowed-sinc) polyphase resampler for any pair of rates. The output
//! sample at input time `t` is `Σ x[k]·h(t − k)`, where `h` is an ideal low-pass (a sinc)
//! with its cutoff at 90 % of the lower Nyquist frequency — 3.6 kHz when the target is
//! 8 kHz — shaped by a Kaiser window (β = 8, about 80 dB of stop-band rejection) that
//! spans [`ZERO_CROSSINGS`] zero crossings of the sinc on each side. The transition band
//! is then about 0.56 kHz wide at 8 kHz, so everything from 3.9 kHz up, which would
//! otherwise fold back into the telephone band as aliasing, is removed, while the band up
//! to 3.3 kHz passes flat.
//!
//! With the rate ratio reduced to `up/down`, output sample `n` sits at input time
//! `n·down/up`: a whole input index and one of `up` fractional phases. The kernel is
//! tabulated per phase, so each output sample is one dot product; when `up` is large
//! (rates without a large common divisor, such as 44 101 Hz) the table holds
//! [`MAX_PHASES`] phases and adjacent ones are interpolated linearly, an error far below
//! the window's own side lobes.
//!
//! Why not [`crate::resample`] (rubato): that one serves live streams between the codec
//! rates (8, 12, 16, 24, 48 kHz) with a short, low-delay filter in 20 ms chunks. Prompt
//! files come at any rate — 44.1, 22.05 and 11.025 kHz above all — and are converted once,
//! off the media path, where a long filter, no delay and exact phases cost nothing that
//! matters. This is about a hundred lines with no dependency, and its filter is stated
//! (and tested) here.
//! The cost is `2 · ZERO_CROSSINGS · source/target` multiply-adds per output sample (about
//! 430 from 48 kHz to 8 kHz).
//!
//! Streaming: [`Resampler::push`] takes decoded audio as it comes and emits every output
//! sample whose inputs have all arrived; [`Resampler::finish`] flushes the rest, treating
//! the signal as silent beyond both ends. The output has `ceil(len · target / source)`
//! samples and no delay: output sample 0 is input time 0.

use std::f64::consts::PI;

/// Zero crossings of the sinc on each side of the kernel's centre.
const ZERO_CROSSINGS: usize = 32;

/// The cutoff as a share of the lower of the two Nyquist frequencies.
const ROLLOFF: f64 = 0.9;

/// The Kaiser window's shape parameter.
const KAISER_BETA: f64 = 8.0;

/// The most kernel phases tabulated; more are interpolated.
const MAX_PHASES: u64 = 1024;

/// The lowest and highest rates accepted, either side.
pub(crate) const MIN_RATE: u32 = 1000;
/// See [`MIN_RATE`].
pub(crate) const MAX_RATE: u32 = 384_000;

/// A streaming sample-rate converter (see the module doc).
#[derive(Debug)]
pub(crate) struct Resampler {
    /// The rate ratio, reduced: `target/source = up/down`.
    up: u64,
    down: u64,
    /// Taps on each side of the centre.
    half: usize,
    /// Phases tabulated; equal to `up` when every phase is exact.
    phases: u64,
    /// `phases + 1` rows of `2 · half` taps (the extra row makes interpolation simple).
    table: Vec<f32>,
    /// Input not yet consumed; `pending[0]` is input index `base`.
    pending: Vec<f32>,
    base: u64,
    /// Input samples received so far.
    received: u64,
    /// The index of the next output sample.
    next_out: u64,
}

impl Resampler {
    /// A converter from `source` Hz to `target` Hz, or `None` if either is outside
    /// [`MIN_RATE`]`..=`[`MAX_RATE`].
    pub(crate) fn new(source: u32, target: u32) -> Option<Self> {
        let range = MIN_RATE..=MAX_RATE;
        if !range.contains(&source) || !range.contains(&target) {
            return None;
        }
        let divisor = gcd(u64::from(source), u64::from(target));
        let up = u64::from(target) / divisor;
        let down = u64::from(source) / divisor;
        // The cutoff in cycles per input sample.
        let cutoff = ROLLOFF * 0.5 * f64::from(source.min(target)) / f64::from(source);
        // ZERO_CROSSINGS zero crossings, 1 / (2·cutoff) input samples apart. At most
        // 32 · 384 = 12 288 taps a side (384 kHz down to 1 kHz), so this fits a usize.
        let half = (ZERO_CROSSINGS as f64 / (2.0 * cutoff)).ceil() as usize;
        let taps = 2 * half;
        let phases = up.min(MAX_PHASES);
        // `phases` ≤ 1024, so the row count fits a usize.
        let rows = phases as usize + 1;
        let mut table = Vec::with_capacity(rows * taps);
        let norm = bessel_i0(KAISER_BETA);
        for row in 0..rows {
            let frac = row as f64 / phases as f64;
            let start = table.len();
            for j in 0..taps {
                // Tap j weighs input index i + 1 − half + j for output time i + frac.
                let x = frac + half as f64 - 1.0 - j as f64;
                table.push(kernel(x, cutoff, half as f64, norm) as f32);
            }
            // Unity gain at DC for every phase, whatever the window's ripple.
            let sum: f32 = table[start..].iter().sum();
            if sum.abs() > f32::EPSILON {
                for c in &mut table[start..] {
                    *c /= sum;
                }
            }
        }
        Some(Resampler {
            up,
            down,
            half,
            phases,
            table,
            pending: Vec::new(),
            base: 0,
            received: 0,
            next_out: 0,
        })
    }

    /// Feeds input samples, appending every output sample that can now be computed.
    pub(crate) fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        self.pending.extend_from_slice(input);
        self.received += input.len() as u64;
        self.drain(out, false);
    }

    /// Ends the input, appending the remaining output samples.
    pub(crate) fn finish(mut self, out: &mut Vec<f32>) {
        self.drain(out, true);
    }

    fn drain(&mut self, out: &mut Vec<f32>, at_end: bool) {
        let half = self.half as u64;
        let total = if at_end {
            (self.received * self.up).div_ceil(self.down)
        } else {
            u64::MAX
        };
        let taps = 2 * self.half;
        while self.next_out < total {
            let position = self.next_out * self.down;
            let whole = position / self.up;
            // The last input this output needs is `whole + half`.
            if !at_end && whole + half >= self.received {
                break;
            }
            let remainder = position % self.up;
            // Which table rows, and how far between them (0 when phases are exact).
            let scaled = remainder * self.phases;
            // Both below `phases + 1` ≤ 1025.
            let row = (scaled / self.up) as usize;
            let between = (scaled % self.up) as f32 / self.up as f32;
            // Input indices whole + 1 − half ..= whole + half, clipped to what exists.
            let first = (whole + 1).saturating_sub(half);
            let skip = (first + half - 1 - whole) as usize; // taps before input index 0
            let last = (whole + half + 1).min(self.received); // exclusive
            let mut acc = 0.0;
            if last > first {
                // `first ≥ base` (see the trim below), and both lie in `pending`.
                let samples =
                    &self.pending[(first - self.base) as usize..(last - self.base) as usize];
                let here = &self.table[row * taps + skip..][..samples.len()];
                acc = dot(samples, here);
                if between > 0.0 {
                    let next = &self.table[(row + 1) * taps + skip..][..samples.len()];
                    acc += between * (dot(samples, next) - acc);
                }
            }
            out.push(acc);
            self.next_out += 1;
        }
        // Drop input no later output can need.
        let needed_from = ((self.next_out * self.down) / self.up + 1).saturating_sub(half);
        if needed_from > self.base {
            let drop = ((needed_from - self.base) as usize).min(self.pending.len());
            self.pending.drain(..drop);
            self.base += drop as u64;
        }
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The windowed sinc at `x` input samples from the centre.
fn kernel(x: f64, cutoff: f64, half: f64, norm: f64) -> f64 {
    let r = x / half;
    if r.abs() >= 1.0 {
        return 0.0;
    }
    let window = bessel_i0(KAISER_BETA * (1.0 - r * r).sqrt()) / norm;
    let arg = 2.0 * cutoff * x;
    let sinc = if arg.abs() < 1e-12 {
        1.0
    } else {
        (PI * arg).sin() / (PI * arg)
    };
    2.0 * cutoff * sinc * window
}

/// The modified Bessel function of the first kind, order zero (power series).
fn bessel_i0(x: f64) -> f64 {
    let quarter_sq = x * x / 4.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..200 {
        term *= quarter_sq / (k * k) as f64;
        sum += term;
        if term < sum * 1e-16 {
            break;
        }
    }
    sum
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, freq: f64, len: usize) -> Vec<f32> {
        (0..len)
            .map(|n| (0.5 * (2.0 * PI * freq * n as f64 / f64::from(rate)).sin()) as f32)
            .collect()
    }

    fn resample_all(source: u32, target: u32, input: &[f32], chunk: usize) -> Vec<f32> {
        let mut r = Resampler::new(source, target).unwrap();
        let mut out = Vec::new();
        for c in input.chunks(chunk) {
            r.push(c, &mut out);
        }
        r.finish(&mut out);
        out
    }

    /// RMS over the middle half (away from the edges).
    fn rms_middle(x: &[f32]) -> f64 {
        let mid = &x[x.len() / 4..x.len() * 3 / 4];
        (mid.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / mid.len() as f64).sqrt()
    }

    #[test]
    fn lengths_follow_the_ratio() {
        for (s, t, n, expect) in [
            (48_000, 8000, 48_000, 8000),
            (44_100, 8000, 44_100, 8000),
            (44_100, 8000, 1, 1),
            (16_000, 8000, 3, 2),
            (8000, 48_000, 5, 30),
            (11_025, 8000, 11_025, 8000),
            (44_101, 8000, 44_101, 8000),
        ] {
            let out = resample_all(s, t, &vec![0.0; n], 1000);
            assert_eq!(out.len(), expect, "{s} -> {t}, {n} samples");
        }
    }

    #[test]
    fn chunking_does_not_change_the_output() {
        let input = sine(44_100, 1000.0, 20_000);
        let whole = resample_all(44_100, 8000, &input, input.len());
        for chunk in [1, 7, 441, 4096] {
            assert_eq!(
                resample_all(44_100, 8000, &input, chunk),
                whole,
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn passband_is_kept_and_stopband_removed() {
        for source in [16_000, 22_050, 44_100, 48_000, 44_101, 96_000] {
            let len = source as usize; // one second
            for (freq, min_db, max_db) in [
                (300.0, -0.1, 0.1),
                (1000.0, -0.1, 0.1),
                (3000.0, -0.2, 0.1),
                (4100.0, f64::NEG_INFINITY, -60.0),
                (6000.0, f64::NEG_INFINITY, -70.0),
                (7500.0, f64::NEG_INFINITY, -70.0),
            ] {
                if freq >= f64::from(source) / 2.0 {
                    continue;
                }
                let out = resample_all(source, 8000, &sine(source, freq, len), 1024);
                let gain_db = 20.0 * (rms_middle(&out) / (0.5 / 2f64.sqrt())).log10();
                assert!(
                    (min_db..=max_db).contains(&gain_db),
                    "{source} Hz input, {freq} Hz tone: gain {gain_db:.2} dB"
                );
            }
        }
    }

    #[test]
    fn upsampling_keeps_the_tone() {
        let out = resample_all(8000, 48_000, &sine(8000, 1000.0, 8000), 100);
        let expect = sine(48_000, 1000.0, 48_000);
        let err = out
            .iter()
            .zip(&expect)
            .skip(12_000)
            .take(24_000)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(err < 1e-3, "max error {err}");
    }

    #[test]
    fn dc_passes_at_unity_gain() {
        let out = resample_all(44_100, 8000, &vec![0.25; 44_100], 500);
        for &s in &out[100..7900] {
            assert!((s - 0.25).abs() < 1e-4, "{s}");
        }
    }

    #[test]
    fn rates_out_of_range_are_refused() {
        assert!(Resampler::new(0, 8000).is_none());
        assert!(Resampler::new(999, 8000).is_none());
        assert!(Resampler::new(8000, 384_001).is_none());
        assert!(Resampler::new(u32::MAX, 8000).is_none());
        assert!(Resampler::new(384_000, 1000).is_some());
    }
}
