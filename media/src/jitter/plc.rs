//! Packet loss concealment for G.711, after ITU-T G.711 Appendix I (1999).
//!
//! The concealer keeps the last 48.75 ms of output. When a frame is lost it estimates the
//! pitch period of the recent past (normalised cross-correlation over 20 ms, lags of 5 to
//! 15 ms, a coarse search on every other sample and a fine one around its best), and plays
//! that period over and over, its seam smoothed by a quarter-period overlap-add. After the
//! first 10 ms of a loss it widens the repeated segment to two, then three periods (so a
//! long loss does not buzz) and fades out by 20% every 10 ms: silence after 60 ms. The first
//! good frame after a loss is cross-faded from the synthetic signal, over a longer stretch
//! the longer the loss was.
//!
//! To overlap-add into audio the caller has not played yet, every frame comes out
//! [`Plc::DELAY`] samples (3.75 ms) late: [`Plc::good_frame`] swaps the decoded frame for
//! the one to play, in place. The output is a continuous stream.

use crate::{FRAME_SAMPLES, Frame};

/// Shortest pitch period searched: 5 ms (200 Hz).
const PITCH_MIN: usize = 40;
/// Longest pitch period searched: 15 ms (66.7 Hz).
const PITCH_MAX: usize = 120;
/// The most a seam is overlap-added: a quarter of the longest period.
const OVERLAP_MAX: usize = PITCH_MAX / 4;
/// Output kept: three longest periods and the output delay.
const HISTORY: usize = 3 * PITCH_MAX + OVERLAP_MAX;
/// Samples correlated in the pitch search (20 ms).
const CORR_LEN: usize = 160;
/// Decimation of the coarse pitch search.
const COARSE_STEP: usize = 2;
/// Energy floor in the correlation's normalisation, so silence does not pick a pitch.
const CORR_MIN_POWER: f32 = 250.0;
/// Concealment works in 10 ms steps, as Appendix I does.
const STEP: usize = 80;
/// Attenuation per 10 ms step after the first.
const ATTENUATION: f32 = 0.2;
/// The end-of-loss cross-fade grows by 4 ms per further 10 ms step lost.
const END_OVERLAP_GROWTH: usize = 32;
/// Steps after which the concealment is silent (60 ms).
const SILENT_AFTER: u32 = 6;

/// A G.711 Appendix I style loss concealer for one 8 kHz stream (see the module doc).
#[derive(Debug, Clone)]
pub struct Plc {
    /// The last output samples, newest last; the final `DELAY` are not yet played.
    history: [f32; HISTORY],
    /// The history as it was when the loss began, with its repeated tail smoothed.
    pitch_buf: [f32; HISTORY],
    /// The original last quarter-period before the loss.
    last_quarter: [f32; OVERLAP_MAX],
    /// Consecutive 10 ms steps concealed.
    erased: u32,
    pitch: usize,
    overlap: usize,
    /// Length of the repeated segment (one to three periods) and the read position in it.
    block_len: usize,
    offset: usize,
}

impl Default for Plc {
    fn default() -> Self {
        Plc::new()
    }
}

impl Plc {
    /// How many samples the output lags the input (3.75 ms).
    pub const DELAY: usize = OVERLAP_MAX;

    /// A concealer with silent history.
    pub fn new() -> Self {
        Plc {
            history: [0.0; HISTORY],
            pitch_buf: [0.0; HISTORY],
            last_quarter: [0.0; OVERLAP_MAX],
            erased: 0,
            pitch: PITCH_MAX,
            overlap: OVERLAP_MAX / 4,
            block_len: PITCH_MAX,
            offset: 0,
        }
    }

    /// Forgets the history (a new stream).
    pub fn reset(&mut self) {
        *self = Plc::new();
    }

    /// Takes a decoded good frame and replaces it, in place, with the frame to play: the
    /// stream [`DELAY`](Self::DELAY) samples back, cross-faded from the concealment if
    /// the previous frame was concealed.
    pub fn good_frame(&mut self, frame: &mut Frame) {
        let mut input = [0.0f32; FRAME_SAMPLES];
        for (x, &s) in input.iter_mut().zip(frame.iter()) {
            *x = f32::from(s);
        }
        if self.erased > 0 {
            let len =
                (self.overlap + (self.erased as usize - 1) * END_OVERLAP_GROWTH).min(FRAME_SAMPLES);
            let mut synth = [0.0f32; FRAME_SAMPLES];
            self.synthesize(&mut synth[..len]);
            // Fade the synthetic signal out from the gain it had reached, the real one in.
            let gain = (1.0 - (self.erased - 1) as f32 * ATTENUATION).max(0.0);
            let step = 1.0 / len as f32;
            for (i, (x, &f)) in input[..len].iter_mut().zip(&synth[..len]).enumerate() {
                let w = (i + 1) as f32 * step;
                *x = (1.0 - w) * gain * f + w * *x;
            }
            self.erased = 0;
        }
        self.save(&input);
        self.emit(frame);
    }

    /// The frame to play in place of a lost one.
    pub fn conceal(&mut self) -> Frame {
        let mut step = [0.0f32; STEP];
        for _ in 0..FRAME_SAMPLES / STEP {
            self.conceal_step(&mut step);
            self.save(&step);
        }
        let mut frame = [0; FRAME_SAMPLES];
        self.emit(&mut frame);
        frame
    }

    /// Whether the last frame out was concealed.
    pub fn is_concealing(&self) -> bool {
        self.erased > 0
    }

    /// One 10 ms step of concealment.
    fn conceal_step(&mut self, out: &mut [f32; STEP]) {
        match self.erased {
            0 => {
                self.pitch_buf = self.history;
                self.pitch = self.find_pitch();
                self.overlap = self.pitch / 4;
                self.last_quarter[..self.overlap]
                    .copy_from_slice(&self.pitch_buf[HISTORY - self.overlap..]);
                self.offset = 0;
                self.block_len = self.pitch;
                self.smooth_seam();
                // The smoothed tail has not been played yet (it is within DELAY): use it.
                let tail = HISTORY - self.overlap;
                let (history, pitch_buf) = (&mut self.history, &self.pitch_buf);
                history[tail..].copy_from_slice(&pitch_buf[tail..]);
                self.synthesize(out);
            }
            1 | 2 => {
                // Widen the repeated segment by one period, cross-fading from the old one.
                let mut tail = [0.0f32; OVERLAP_MAX];
                let saved = self.offset;
                self.synthesize(&mut tail[..self.overlap]);
                self.offset = saved;
                while self.offset >= self.pitch {
                    self.offset -= self.pitch;
                }
                self.block_len += self.pitch;
                self.smooth_seam();
                self.synthesize(out);
                overlap_add(&tail[..self.overlap], &mut out[..self.overlap]);
                self.attenuate(out);
            }
            n if n >= SILENT_AFTER => out.fill(0.0),
            _ => {
                self.synthesize(out);
                self.attenuate(out);
            }
        }
        self.erased = self.erased.saturating_add(1);
    }

    /// Makes the end of the repeated segment run smoothly into its start: the last
    /// quarter-period fades from the original signal into the quarter-period before the
    /// segment's start.
    fn smooth_seam(&mut self) {
        let n = self.overlap;
        let start = HISTORY - self.block_len;
        let step = 1.0 / (n + 1) as f32;
        for i in 0..n {
            let w = (i + 1) as f32 * step;
            self.pitch_buf[HISTORY - n + i] =
                (1.0 - w) * self.last_quarter[i] + w * self.pitch_buf[start - n + i];
        }
    }

    /// The repeated segment, read on from where it was left.
    fn synthesize(&mut self, out: &mut [f32]) {
        let start = HISTORY - self.block_len;
        for x in out.iter_mut() {
            *x = self.pitch_buf[start + self.offset];
            self.offset += 1;
            if self.offset >= self.block_len {
                self.offset = 0;
            }
        }
    }

    /// Linear fade: 20% per 10 ms step, counted from the end of the first step.
    fn attenuate(&self, out: &mut [f32; STEP]) {
        let mut gain = 1.0 - (self.erased - 1) as f32 * ATTENUATION;
        let decrement = ATTENUATION / STEP as f32;
        for x in out.iter_mut() {
            *x *= gain.max(0.0);
            gain -= decrement;
        }
    }

    /// The pitch period of the history's end, in samples.
    fn find_pitch(&self) -> usize {
        let buf = &self.pitch_buf;
        let recent = &buf[HISTORY - CORR_LEN..];
        let lagged_start = HISTORY - CORR_LEN - PITCH_MAX;
        let score = |offset: usize, stride: usize, min_power: f32| {
            let lagged = &buf[lagged_start + offset..lagged_start + offset + CORR_LEN];
            let (mut corr, mut energy) = (0.0f32, 0.0f32);
            for (l, r) in lagged.iter().zip(recent).step_by(stride) {
                corr += l * r;
                energy += l * l;
            }
            corr / energy.max(min_power).sqrt()
        };
        let range = PITCH_MAX - PITCH_MIN;
        let mut best = 0;
        let mut best_score = f32::MIN;
        for offset in (0..=range).step_by(COARSE_STEP) {
            let s = score(offset, COARSE_STEP, CORR_MIN_POWER);
            if s >= best_score {
                best_score = s;
                best = offset;
            }
        }
        let coarse = best;
        best_score = f32::MIN;
        for offset in coarse.saturating_sub(COARSE_STEP - 1)..=(coarse + COARSE_STEP - 1).min(range)
        {
            let s = score(offset, 1, CORR_MIN_POWER * COARSE_STEP as f32);
            if s >= best_score {
                best_score = s;
                best = offset;
            }
        }
        PITCH_MAX - best
    }

    /// Appends samples to the history.
    fn save(&mut self, samples: &[f32]) {
        let n = samples.len().min(HISTORY);
        self.history.copy_within(n.., 0);
        self.history[HISTORY - n..].copy_from_slice(&samples[samples.len() - n..]);
    }

    /// The frame to play: the history's last frame but the delay.
    fn emit(&self, frame: &mut Frame) {
        let end = HISTORY - Self::DELAY;
        for (out, &x) in frame
            .iter_mut()
            .zip(&self.history[end - FRAME_SAMPLES..end])
        {
            *out = x.round().clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16;
        }
    }
}

/// Cross-fades `from` (fading out) into `into` (fading in), in place.
fn overlap_add(from: &[f32], into: &mut [f32]) {
    let step = 1.0 / (from.len() + 1) as f32;
    for (i, (x, &f)) in into.iter_mut().zip(from).enumerate() {
        let w = (i + 1) as f32 * step;
        *x = (1.0 - w) * f + w * *x;
    }
}
