//! In-band DTMF detection (Goertzel) for trunks that send key presses as tones.
//!
//! [`InbandDtmf`] reads 8 kHz linear PCM in frames of any length and reports one
//! [`DtmfDigit`] per key press, when the key is released, with how long it was held. It is
//! sans-IO and allocation-free in the steady state: the caller feeds decoded audio (after
//! the jitter buffer) and drains [`poll_digit`](InbandDtmf::poll_digit).
//!
//! ## How
//! The audio is cut into blocks of [`BLOCK_SAMPLES`] (105 samples, 13.1 ms). In each block
//! a Goertzel filter measures the energy at the eight DTMF frequencies, and two more at
//! ±5 % of each (the *guard* bins). A block *holds* a key when:
//! - the strongest row and column tones together carry at least [`MIN_TONE_SHARE`] of the
//!   block's energy (speech and music spread their energy, so this is the main guard
//!   against talk-off), and the runner-up in each group is well below the louder tone
//!   (11 dB in its own group, 8 dB in the other);
//! - each tone is at least [`MIN_TONE_LEVEL_DBM0`];
//! - each tone is nearer its nominal frequency than its guard bins, which puts the
//!   frequency tolerance at ±2.5 %: ±1.5 % is accepted and ±3.5 % rejected, as ITU-T Q.24
//!   asks.
//!
//! The twist is judged over the whole press, from the tones' powers summed over its full
//! blocks (in one 13 ms block the louder tone's leakage moves the quieter one's reading
//! by a dB or two): the low (row) tone may be up to 8 dB louder than the high one, the
//! high tone up to 4 dB louder than the low one (called "reverse" and "forward" twist, or
//! the other way round, depending on the source).
//!
//! Blocks that only partly hold a tone (the first and last of a press) are weighed by the
//! share of their energy in the key's tones, so the duration is measured to a few ms
//! rather than to a block. A press is reported when its key has been absent for two
//! blocks (26 ms), if it lasted at least [`MIN_DIGIT_DURATION`], if at least two
//! consecutive blocks of steady power (within 1.5 dB: a key's tones are steady, a
//! voice's harmonics rarely are) and half of all its blocks held the key in full, and if
//! its twist is within limits. Presses of 40 ms and more are accepted; presses under
//! 25 ms are rejected. One block without the key (a dropout of ~10 ms) does not split a
//! press; a second press of the same key needs a pause of at least 26 ms, which a real
//! keypad's 40 ms minimum pause always gives.
//!
//! Measured on the tests' synthetic "speech" (harmonics on a gliding, vibrato pitch under
//! formants that sit on DTMF frequencies, which is harsher than real speech): about one
//! false digit per 20 minutes; none on espeak-ng speech in four voices.

use std::collections::VecDeque;
use std::f32::consts::PI;
use std::time::Duration;

use crate::dtmf::DtmfDigit;

/// Samples per analysis block (13.1 ms at 8 kHz).
pub const BLOCK_SAMPLES: usize = 105;

/// The row (low group) frequencies, Hz.
pub const ROW_FREQUENCIES: [f32; 4] = [697.0, 770.0, 852.0, 941.0];

/// The column (high group) frequencies, Hz.
pub const COLUMN_FREQUENCIES: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// The keypad: `KEYS[row][column]`.
pub const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// The quietest tone accepted, per tone, in dBm0.
pub const MIN_TONE_LEVEL_DBM0: f32 = -30.0;

/// The share of a block's energy the two tones must carry for the block to hold a key.
pub const MIN_TONE_SHARE: f32 = 0.7;

/// The shortest press reported.
pub const MIN_DIGIT_DURATION: Duration = Duration::from_millis(30);

/// The share below which a block does not count towards a press at all.
const MIN_PARTIAL_SHARE: f32 = 0.2;

/// Where the guard bins sit, relative to the nominal frequency.
const GUARD_OFFSET: f32 = 0.05;

/// The runner-up in the louder tone's group must be this much weaker than that tone
/// (power ratio, -11 dB; a tone 1.5 % off leaks about -13 dB into its neighbour).
const MAX_RUNNER_UP: f32 = 0.08;

/// The runner-up in the quieter tone's group must be this much weaker than the louder
/// tone (power ratio, -8 dB). Not relative to the quieter tone: with blocks this short,
/// the louder tone's leakage can lift that runner-up to a few dB below the quieter tone.
const MAX_QUIET_RUNNER_UP: f32 = 0.16;

/// How much the two tones' power may change from one full block to the next within a
/// streak (power ratio, ±1.5 dB): a key's tones are steady, speech rarely is.
const MAX_STEP: f32 = 1.41;

/// How much louder the low tone may be than the high tone (power ratio, 8 dB).
const MAX_LOW_OVER_HIGH: f32 = 6.31;

/// How much louder the high tone may be than the low tone (power ratio, 4 dB).
const MAX_HIGH_OVER_LOW: f32 = 2.51;

/// How far one block's twist may stray beyond the limits (power ratio, 4 dB); the limits
/// themselves apply to the whole press.
const BLOCK_TWIST_SLACK: f32 = 2.51;

/// Blocks without the key that end a press.
const END_MISSES: u32 = 2;

const SAMPLE_RATE: f32 = crate::CLOCK_RATE as f32;

/// Mean power of a 0 dBm0 sine on the ±1.0 scale: full scale is +3.14 dBm0 (G.711 A-law;
/// µ-law's +3.17 is the same within the tolerance here).
const DBM0_POWER: f32 = 0.5 * 0.485_3;

/// Eight tones, three filters each: nominal, −5 %, +5 %.
const FILTERS: usize = 24;

/// A block's reading: which key, with what share of the energy, the two tones' powers,
/// and whether it holds the key in full (twist aside, which is judged per press).
#[derive(Debug, Clone, Copy)]
struct Reading {
    key: usize,
    share: f32,
    row_power: f32,
    col_power: f32,
    full: bool,
}

/// One press being measured.
#[derive(Debug, Clone, Copy)]
struct Press {
    key: usize,
    blocks: u32,
    share_sum: f32,
    first_share: f32,
    last_share: f32,
    max_share: f32,
    /// Blocks without the key inside the press (dropouts), counted as held.
    bridged: u32,
    full_blocks: u32,
    /// Tone powers summed over the full blocks, for the twist.
    row_power: f32,
    col_power: f32,
    /// Consecutive full blocks of steady power, and the last one's power.
    streak: u32,
    streak_power: f32,
    best_streak: u32,
    misses: u32,
}

impl Press {
    fn start(r: Reading) -> Self {
        let mut p = Press {
            key: r.key,
            blocks: 0,
            share_sum: 0.0,
            first_share: r.share,
            last_share: 0.0,
            max_share: 0.0,
            bridged: 0,
            full_blocks: 0,
            row_power: 0.0,
            col_power: 0.0,
            streak: 0,
            streak_power: 0.0,
            best_streak: 0,
            misses: 0,
        };
        p.add(r);
        p
    }

    fn add(&mut self, r: Reading) {
        self.blocks += 1;
        self.share_sum += r.share;
        self.last_share = r.share;
        self.max_share = self.max_share.max(r.share);
        self.bridged += self.misses;
        self.misses = 0;
        if r.full {
            self.full_blocks += 1;
            self.row_power += r.row_power;
            self.col_power += r.col_power;
            let power = r.row_power + r.col_power;
            let steady =
                power <= MAX_STEP * self.streak_power && self.streak_power <= MAX_STEP * power;
            self.streak = if steady { self.streak + 1 } else { 1 };
            self.streak_power = power;
            self.best_streak = self.best_streak.max(self.streak);
        } else {
            self.streak = 0;
        }
    }

    fn miss(&mut self) {
        self.misses += 1;
        self.streak = 0;
    }

    /// The press's length: inner blocks count in full; the first and last count by their
    /// share of energy in the key's tones relative to the inner blocks', since a tone that
    /// covers part of a block carries that part of its energy.
    fn duration(&self) -> Duration {
        let typical = if self.blocks >= 3 {
            (self.share_sum - self.first_share - self.last_share) / (self.blocks - 2) as f32
        } else {
            self.max_share
        };
        let weight = |share: f32| {
            if typical > 0.0 {
                (share / typical).min(1.0)
            } else {
                0.0
            }
        };
        let blocks = match self.blocks {
            0 => 0.0,
            1 => weight(self.first_share),
            n => (n - 2 + self.bridged) as f32 + weight(self.first_share) + weight(self.last_share),
        };
        Duration::from_secs_f32(blocks * BLOCK_SAMPLES as f32 / SAMPLE_RATE)
    }

    fn digit(&self) -> Option<DtmfDigit> {
        let duration = self.duration();
        // Twist over the whole press: in one block, the louder tone's leakage can move
        // the quieter one's reading by a dB or two either way.
        let twist_ok = self.row_power <= MAX_LOW_OVER_HIGH * self.col_power
            && self.col_power <= MAX_HIGH_OVER_LOW * self.row_power;
        let accepted = self.best_streak >= 2
            && 2 * self.full_blocks >= self.blocks
            && twist_ok
            && duration >= MIN_DIGIT_DURATION;
        accepted.then(|| DtmfDigit {
            digit: KEYS[self.key / 4][self.key % 4],
            // Rounded to the nearest ms; a press lasts far less than 2^32 ms.
            duration_ms: u32::try_from((duration.as_micros() + 500) / 1000).unwrap_or(u32::MAX),
        })
    }
}

/// In-band DTMF detector for one 8 kHz stream (see the module doc).
///
/// Draining rule: after each [`process`](Self::process), call
/// [`poll_digit`](Self::poll_digit) until it returns `None`. At the end of a stream,
/// [`finish`](Self::finish) reports a key still held.
#[derive(Debug, Clone)]
pub struct InbandDtmf {
    coefficients: [f32; FILTERS],
    s1: [f32; FILTERS],
    s2: [f32; FILTERS],
    energy: f32,
    filled: usize,
    press: Option<Press>,
    digits: VecDeque<DtmfDigit>,
}

impl Default for InbandDtmf {
    fn default() -> Self {
        Self::new()
    }
}

impl InbandDtmf {
    /// A detector at the start of a stream.
    pub fn new() -> Self {
        let mut coefficients = [0.0; FILTERS];
        let tones = ROW_FREQUENCIES.iter().chain(&COLUMN_FREQUENCIES);
        for (i, f) in tones.enumerate() {
            for (j, scale) in [1.0, 1.0 - GUARD_OFFSET, 1.0 + GUARD_OFFSET]
                .into_iter()
                .enumerate()
            {
                coefficients[3 * i + j] = 2.0 * (2.0 * PI * f * scale / SAMPLE_RATE).cos();
            }
        }
        InbandDtmf {
            coefficients,
            s1: [0.0; FILTERS],
            s2: [0.0; FILTERS],
            energy: 0.0,
            filled: 0,
            press: None,
            digits: VecDeque::new(),
        }
    }

    /// Feeds 8 kHz samples; frames may have any length.
    pub fn process(&mut self, frame: &[i16]) {
        for &sample in frame {
            let x = f32::from(sample) / 32768.0;
            self.energy += x * x;
            for k in 0..FILTERS {
                let s = x + self.coefficients[k] * self.s1[k] - self.s2[k];
                self.s2[k] = self.s1[k];
                self.s1[k] = s;
            }
            self.filled += 1;
            if self.filled == BLOCK_SAMPLES {
                let reading = self.read_block();
                self.s1 = [0.0; FILTERS];
                self.s2 = [0.0; FILTERS];
                self.energy = 0.0;
                self.filled = 0;
                self.handle_reading(reading);
            }
        }
    }

    /// The next detected key press.
    pub fn poll_digit(&mut self) -> Option<DtmfDigit> {
        self.digits.pop_front()
    }

    /// Ends the stream: a key still held is reported if it qualifies. The partial block
    /// in progress is dropped.
    pub fn finish(&mut self) {
        if let Some(digit) = self.press.take().and_then(|p| p.digit()) {
            self.digits.push_back(digit);
        }
    }

    /// Forgets everything in progress (undrained digits stay).
    pub fn reset(&mut self) {
        self.s1 = [0.0; FILTERS];
        self.s2 = [0.0; FILTERS];
        self.energy = 0.0;
        self.filled = 0;
        self.press = None;
    }

    /// Energy at filter `k` over the block, scaled to compare with the block's energy: a
    /// sine at the filter's frequency reads as its own energy.
    fn power(&self, k: usize) -> f32 {
        let (s1, s2) = (self.s1[k], self.s2[k]);
        let magnitude = s1 * s1 + s2 * s2 - self.coefficients[k] * s1 * s2;
        2.0 * magnitude / BLOCK_SAMPLES as f32
    }

    fn read_block(&self) -> Option<Reading> {
        if self.energy <= 0.0 {
            return None;
        }
        let nominal = |tone: usize| self.power(3 * tone);
        let (row, row_power, row_runner_up) = strongest((0..4).map(nominal));
        let (col, col_power, col_runner_up) = strongest((4..8).map(nominal));
        let share = (row_power + col_power) / self.energy;
        let min_power = DBM0_POWER * 10f32.powf(MIN_TONE_LEVEL_DBM0 / 10.0) * BLOCK_SAMPLES as f32;
        // A tone half the minimum level may still be the edge of a press.
        if share < MIN_PARTIAL_SHARE || row_power < min_power / 4.0 || col_power < min_power / 4.0 {
            return None;
        }
        let centred = |tone: usize| {
            let k = 3 * tone;
            self.power(k) >= self.power(k + 1).max(self.power(k + 2))
        };
        let (loud, loud_runner_up, quiet_runner_up) = if row_power >= col_power {
            (row_power, row_runner_up, col_runner_up)
        } else {
            (col_power, col_runner_up, row_runner_up)
        };
        let full = share >= MIN_TONE_SHARE
            && row_power >= min_power
            && col_power >= min_power
            && loud_runner_up <= MAX_RUNNER_UP * loud
            && quiet_runner_up <= MAX_QUIET_RUNNER_UP * loud
            && row_power <= BLOCK_TWIST_SLACK * MAX_LOW_OVER_HIGH * col_power
            && col_power <= BLOCK_TWIST_SLACK * MAX_HIGH_OVER_LOW * row_power
            && centred(row)
            && centred(4 + col);
        Some(Reading {
            key: 4 * row + col,
            share,
            row_power,
            col_power,
            full,
        })
    }

    fn handle_reading(&mut self, reading: Option<Reading>) {
        if let Some(press) = &mut self.press {
            match reading {
                Some(r) if r.key == press.key => {
                    press.add(r);
                    return;
                }
                // A press that never held its key in full was the ragged edge of
                // another, or nothing: a different key takes over at once.
                Some(_) if press.full_blocks == 0 => press.misses = END_MISSES,
                _ => press.miss(),
            }
            if press.misses < END_MISSES {
                return;
            }
            self.finish();
        }
        self.press = reading.map(Press::start);
    }
}

/// Index and power of the strongest of four, and the runner-up's power.
fn strongest(powers: impl Iterator<Item = f32>) -> (usize, f32, f32) {
    let mut best = (0, f32::MIN, f32::MIN);
    for (i, p) in powers.enumerate() {
        if p > best.1 {
            best = (i, p, best.1);
        } else if p > best.2 {
            best.2 = p;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone_pair(row: f32, col: f32, amplitude: f32, samples: usize) -> Vec<i16> {
        (0..samples)
            .map(|n| {
                let t = n as f32 / SAMPLE_RATE;
                let v = amplitude * ((2.0 * PI * row * t).sin() + (2.0 * PI * col * t).sin());
                v as i16
            })
            .collect()
    }

    fn detect(samples: &[i16]) -> Vec<DtmfDigit> {
        let mut d = InbandDtmf::new();
        for frame in samples.chunks(crate::FRAME_SAMPLES) {
            d.process(frame);
        }
        d.process(&[0; 400]);
        d.finish();
        std::iter::from_fn(|| d.poll_digit()).collect()
    }

    #[test]
    fn every_key_alone() {
        for (r, row) in KEYS.iter().enumerate() {
            for (c, key) in row.iter().enumerate() {
                let audio = tone_pair(ROW_FREQUENCIES[r], COLUMN_FREQUENCIES[c], 6000.0, 800);
                let got = detect(&audio);
                assert_eq!(got.len(), 1, "{key}: {got:?}");
                assert_eq!(got[0].digit, *key);
                assert!(got[0].duration_ms.abs_diff(100) <= 3, "{got:?}");
            }
        }
    }

    #[test]
    fn silence_and_full_scale_noise_are_nothing() {
        assert!(detect(&[0; 8000]).is_empty());
        let square: Vec<i16> = (0..8000)
            .map(|n| if n % 2 == 0 { i16::MAX } else { i16::MIN })
            .collect();
        assert!(detect(&square).is_empty());
    }

    #[test]
    fn strongest_picks_best_and_runner_up() {
        assert_eq!(strongest([1.0, 5.0, 3.0, 2.0].into_iter()), (1, 5.0, 3.0));
        assert_eq!(strongest([5.0, 1.0, 1.0, 1.0].into_iter()), (0, 5.0, 1.0));
    }
}
