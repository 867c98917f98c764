//! Fixed-ratio resampling between the telephone rates (8, 16, 48 kHz and the other Opus
//! rates), one [`Resampler`] per stream and direction, fed 20 ms frames.
//!
//! Built on `rubato`'s windowed-sinc resampler ([`rubato::Async`]) used as an exact
//! polyphase filter: for a ratio `L/M` in lowest terms the output instants fall on
//! multiples of `1/L` of an input sample, so a sinc table with `L` phases and
//! nearest-phase lookup computes every output from the exact filter phase — no
//! interpolation between phases, a table of `taps × L` floats (a few KiB), and a fixed delay
//! of half the filter ([`Resampler::delay`]). The filter spans [`FILTER_MS`] of input at
//! the lower of the two rates (64 taps at 8 kHz going up, `64 × M` going down, so the
//! transition band is the same in both directions): 4 ms of delay per resampler, well under
//! a 20 ms frame.
//!
//! Rubato works on `f32` in fixed chunks of input; [`Resampler::process`] takes `i16`
//! frames of any length, converts them into a preallocated buffer, runs whole 20 ms chunks
//! and appends to the caller's `Vec`. After the first frame nothing allocates (the
//! caller's `Vec` keeps its capacity across frames).

use rubato::{
    Async, FixedAsync, Resampler as _, SincInterpolationParameters, SincInterpolationType,
    WindowFunction, audioadapter_buffers::direct::InterleavedSlice,
};

use crate::codec::CodecError;

/// The filter's span in milliseconds of the lower rate (see the module doc).
pub const FILTER_MS: u32 = 8;

/// The rates [`Resampler::new`] accepts: those of G.711, G.722 and Opus.
pub const RATES: [u32; 5] = [8000, 12000, 16000, 24000, 48000];

/// A fixed-ratio resampler for one mono stream (see the module doc).
pub struct Resampler {
    from: u32,
    to: u32,
    /// `None` when `from == to`: samples pass through.
    inner: Option<Box<Async<f32>>>,
    /// Input frames per rubato call: 20 ms at `from`.
    chunk: usize,
    /// Input waiting for a whole chunk, as `f32`.
    pending: Vec<f32>,
    /// Rubato's output for one chunk.
    output: Vec<f32>,
    /// The last output samples held back to round the delay up (see [`Resampler::delay`]).
    carry: Vec<f32>,
    /// Delay in output samples.
    delay: usize,
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Resampler {
    /// A resampler from `from` Hz to `to` Hz, both in [`RATES`].
    pub fn new(from: u32, to: u32) -> Result<Resampler, CodecError> {
        if !RATES.contains(&from) || !RATES.contains(&to) {
            return Err(CodecError::UnsupportedResampling { from, to });
        }
        let chunk = (from / 50) as usize;
        if from == to {
            return Ok(Resampler {
                from,
                to,
                inner: None,
                chunk,
                pending: Vec::new(),
                output: Vec::new(),
                carry: Vec::new(),
                delay: 0,
            });
        }
        let g = gcd(from, to);
        let (up, down) = (to / g, from / g);
        // FILTER_MS at the lower rate, counted in input samples; rubato wants a multiple of 8.
        let taps = (from.min(to) * FILTER_MS / 1000 * down) as usize;
        let taps = taps.div_ceil(8) * 8;
        let params = SincInterpolationParameters::new(taps, WindowFunction::BlackmanHarris2)
            .oversampling_factor(up as usize)
            .interpolation(SincInterpolationType::Nearest);
        let inner = Async::<f32>::new_sinc(
            f64::from(to) / f64::from(from),
            1.0,
            &params,
            chunk,
            1,
            FixedAsync::Input,
        )
        .map_err(|_| CodecError::UnsupportedResampling { from, to })?;
        let mut resampler = Resampler {
            from,
            to,
            output: vec![0.0; inner.output_frames_max()],
            inner: Some(Box::new(inner)),
            chunk,
            pending: Vec::with_capacity(chunk),
            carry: Vec::new(),
            delay: 0,
        };
        resampler.prime(up as usize, down as usize);
        Ok(resampler)
    }

    /// The input rate.
    pub fn from_rate(&self) -> u32 {
        self.from
    }

    /// The output rate.
    pub fn to_rate(&self) -> u32 {
        self.to
    }

    /// The delay through the filter, in output samples: an input impulse at input sample
    /// 0 peaks at output sample `delay()` (plus the 20 ms buffering when the input does
    /// not come in whole 20 ms frames).
    ///
    /// The delay is a whole number of samples at both rates (a multiple of `L` output
    /// samples for the ratio `L/M`), so a round trip such as 8 → 48 → 8 kHz is delayed by a
    /// whole number of 8 kHz samples: the sum of the two delays, each counted at 8 kHz.
    pub fn delay(&self) -> usize {
        self.delay
    }

    /// Runs rubato through its start-up (it trims part of its filter delay from the first
    /// chunks, which come out a few samples short) and measures where its output grid
    /// falls: then pads the input by `k` samples and holds back `h` output samples so that
    /// the delay is whole at both rates. Afterwards every 20 ms chunk in gives exactly
    /// 20 ms out.
    ///
    /// Times are counted on the grid of the common rate `from × up = to × down`, where an
    /// input sample is `up` ticks and an output sample `down` ticks. An impulse lands
    /// exactly on an output sample — and its response peaks highest — for one input
    /// position in `0..down`; that trial gives the delay `d` in ticks exactly, and `k`,
    /// `h` are chosen so that `d + k·up + h·down` is a multiple of `up·down`.
    fn prime(&mut self, up: usize, down: usize) {
        let Some(inner) = &mut self.inner else {
            return;
        };
        let out_chunk = self.chunk * self.to as usize / self.from as usize;
        let mut input = vec![0.0f32; self.chunk];
        let mut heard = Vec::new();
        // (peak value, input position, output index of the peak in the real stream)
        let mut best: Option<(f32, usize, usize)> = None;
        for position in 0..down {
            inner.reset();
            heard.clear();
            // The filter spans well under one chunk, so three chunks pass the start-up and
            // flush the impulse out of the filter history.
            for round in 0..3 {
                input.fill(0.0);
                if round == 0 {
                    input[position] = 1.0;
                }
                let frames = self.output.len();
                let (Ok(i), Ok(mut o)) = (
                    InterleavedSlice::new(&input[..], 1, self.chunk),
                    InterleavedSlice::new_mut(&mut self.output[..], 1, frames),
                ) else {
                    return;
                };
                if let Ok((_, produced)) = inner.process_into_buffer(&i, &mut o, None) {
                    heard.extend_from_slice(&self.output[..produced]);
                }
            }
            let Some((peak, &value)) = heard.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))
            else {
                continue;
            };
            // The trial's input started `3 * chunk` input samples before the real stream,
            // and `heard.len()` output samples of that time have come out.
            let index = (peak + 3 * out_chunk).saturating_sub(heard.len());
            if best.is_none_or(|(v, ..)| value > v) {
                best = Some((value, position, index));
            }
        }
        let (_, position, index) = best.unwrap_or((0.0, 0, 0));
        let delay = (index * down).saturating_sub(position * up);
        let period = up * down;
        let (k, h) = (0..down)
            .flat_map(|k| (0..up).map(move |h| (k, h)))
            .find(|(k, h)| (delay + k * up + h * down).is_multiple_of(period))
            .unwrap_or((0, 0));
        self.pending.clear();
        self.pending.resize(k, 0.0);
        self.carry = vec![0.0; h];
        self.delay = (delay + k * up + h * down) / down;
    }

    /// Resamples `input` and appends the result to `out`. Input is consumed in 20 ms chunks
    /// at the input rate; a remainder waits for the next call, so 20 ms frames in give
    /// 20 ms frames out (exactly, for the ratios of [`RATES`]).
    pub fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        let Some(inner) = &mut self.inner else {
            out.extend_from_slice(input);
            return;
        };
        let mut rest = input;
        while !rest.is_empty() {
            let take = (self.chunk - self.pending.len()).min(rest.len());
            self.pending
                .extend(rest[..take].iter().map(|&s| f32::from(s)));
            rest = &rest[take..];
            if self.pending.len() < self.chunk {
                break;
            }
            let produced = {
                // Lengths match by construction: `pending` holds one chunk and `output`
                // rubato's maximum output for one chunk, so neither wrapper nor
                // `process_into_buffer` can fail.
                let Ok(input) = InterleavedSlice::new(&self.pending[..], 1, self.chunk) else {
                    break;
                };
                let frames = self.output.len();
                let Ok(mut output) = InterleavedSlice::new_mut(&mut self.output[..], 1, frames)
                else {
                    break;
                };
                match inner.process_into_buffer(&input, &mut output, None) {
                    Ok((_, produced)) => produced,
                    Err(_) => 0,
                }
            };
            self.pending.clear();
            // Emit the held-back samples, then all but the last `hold` new ones, which
            // are held back in turn.
            let hold = self.carry.len().min(produced);
            let fresh = &self.output[..produced];
            out.extend(self.carry[..hold].iter().map(|&s| to_i16(s)));
            out.extend(fresh[..produced - hold].iter().map(|&s| to_i16(s)));
            self.carry[..hold].copy_from_slice(&fresh[produced - hold..]);
        }
    }

    /// Forgets buffered input and the filter history (a new stream).
    pub fn reset(&mut self) {
        self.pending.clear();
        let g = gcd(self.from, self.to);
        self.prime((self.to / g) as usize, (self.from / g) as usize);
    }
}

fn to_i16(s: f32) -> i16 {
    // The clamp keeps the value in range, so the cast only rounds.
    s.round().clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_ms_in_twenty_ms_out() {
        let pairs = [
            (8000, 48000),
            (48000, 8000),
            (8000, 16000),
            (16000, 8000),
            (16000, 48000),
            (48000, 16000),
            (8000, 12000),
            (24000, 16000),
        ];
        for (from, to) in pairs {
            let mut r = Resampler::new(from, to).unwrap();
            let mut frame = vec![0i16; (from / 50) as usize];
            frame[0] = 10_000;
            let mut out = Vec::new();
            for i in 1..=20 {
                r.process(&frame, &mut out);
                frame[0] = 0;
                assert_eq!(out.len(), i * (to / 50) as usize, "{from}->{to}");
            }
            // An impulse peaks `delay()` samples later, and the delay is whole at both rates.
            let peak = (0..out.len()).max_by_key(|&i| out[i]).unwrap();
            assert_eq!(peak, r.delay(), "{from}->{to}");
            assert_eq!(r.delay() * from as usize % to as usize, 0, "{from}->{to}");
            // reset() starts over with the same delay.
            let delay = r.delay();
            r.reset();
            assert_eq!(r.delay(), delay);
            // DC passes at unity gain.
            let mut r = Resampler::new(from, to).unwrap();
            let mut out = Vec::new();
            for _ in 0..5 {
                r.process(&vec![1000; (from / 50) as usize], &mut out);
            }
            assert!(out[out.len() - 1].abs_diff(1000) <= 5, "{from}->{to}");
        }
    }

    #[test]
    fn odd_lengths_are_buffered() {
        let mut r = Resampler::new(8000, 16000).unwrap();
        let mut out = Vec::new();
        r.process(&[0; 100], &mut out);
        assert!(out.is_empty());
        r.process(&[0; 100], &mut out);
        assert_eq!(out.len(), 320);
        let mut same = Resampler::new(16000, 16000).unwrap();
        let mut out = Vec::new();
        same.process(&[1, 2, 3], &mut out);
        assert_eq!(out, [1, 2, 3]);
        assert_eq!(same.delay(), 0);
        assert!(Resampler::new(8000, 44100).is_err());
    }
}
