//! The per-sample loops of the mixer: gain ramps, summation and the output limiter.
//!
//! Everything here works on whole frames of [`N`] samples with branch-free inner loops (the
//! decisions are made once per frame), so the compiler can vectorise them.

use super::N;

/// A frame of 32-bit partial sums.
pub(super) type Accum = [i32; N];

/// Silence, for listeners with no own contribution or no whispers this tick.
pub(super) static ZERO: Accum = [0; N];

/// Gains are Q14 fixed point: `UNITY` is a gain of 1.0.
pub(super) const GAIN_SHIFT: u32 = 14;

/// A gain of 1.0 in Q14.
pub(super) const UNITY: i32 = 1 << GAIN_SHIFT;

/// The largest gain, 4.0 (+12 dB). Any i16 sample times this still fits an i32:
/// `-32768 * 65536 == i32::MIN` and `32767 * 65536 < i32::MAX`.
pub(super) const MAX_GAIN_Q14: i32 = 4 * UNITY;

/// Half the width of the soft limiter's bend, a power of two so the bend is a shift.
const BEND: i32 = 1 << 13;

/// Above this magnitude (about -2.5 dBFS) the soft limiter starts to bend the curve.
pub(super) const KNEE: i32 = i16::MAX as i32 - BEND;

/// At and above this magnitude (about +1.9 dBFS) the limiter's output is full scale.
const CEILING: i32 = KNEE + 2 * BEND;

/// The frame length as an i32 for the ramp arithmetic (a frame is a few hundred samples).
const N_I32: i32 = N as i32;

/// Writes `input` scaled by a gain that moves linearly from `g0` to `g1` over the frame.
///
/// Sample `i` gets `g0 + (g1 - g0) * (i + 1) / N`: the last sample lands exactly on `g1`,
/// so the next frame, at a steady `g1`, continues without a step. A fade out (`g1 == 0`)
/// and a fade in (`g0 == 0`) of the same signal sum to the signal (to within one LSB), which
/// is what lets a role change move a speaker from one audience to another without a dip
/// for listeners who are in both.
pub(super) fn scale(input: &[i16; N], g0: i32, g1: i32, dst: &mut Accum) {
    if g0 == g1 {
        if g0 == UNITY {
            for (d, &x) in dst.iter_mut().zip(input) {
                *d = i32::from(x);
            }
        } else {
            for (d, &x) in dst.iter_mut().zip(input) {
                *d = (i32::from(x) * g0) >> GAIN_SHIFT;
            }
        }
    } else {
        let delta = g1 - g0;
        for (i, (d, &x)) in (1..).zip(dst.iter_mut().zip(input)) {
            let g = g0 + delta * i / N_I32;
            *d = (i32::from(x) * g) >> GAIN_SHIFT;
        }
    }
}

/// `acc += part`, sample by sample.
pub(super) fn add(acc: &mut Accum, part: &Accum) {
    for (a, &p) in acc.iter_mut().zip(part) {
        *a += p;
    }
}

/// One listener's output: `room - own + private`, limited to i16.
///
/// With one source or none the result is only clamped (a single voice passes unchanged);
/// with two or more, a frame that goes above [`KNEE`] is redone through [`soft_limit`],
/// which rounds off peaks instead of flattening them. Quiet frames (most of them) take
/// only the first, cheapest pass.
pub(super) fn mix_minus(
    room: &Accum,
    own: &Accum,
    private: &Accum,
    out: &mut [i16; N],
    several_sources: bool,
) {
    if !several_sources {
        for (((o, &r), &m), &w) in out.iter_mut().zip(room).zip(own).zip(private) {
            *o = clamp(r - m + w);
        }
        return;
    }
    let mut peak = 0;
    for (((o, &r), &m), &w) in out.iter_mut().zip(room).zip(own).zip(private) {
        let v = r - m + w;
        peak = peak.max(v.unsigned_abs());
        *o = clamp(v);
    }
    if peak > KNEE.unsigned_abs() {
        for (((o, &r), &m), &w) in out.iter_mut().zip(room).zip(own).zip(private) {
            *o = soft_limit(r - m + w);
        }
    }
}

/// Hard clipping to the i16 range.
pub(super) fn clamp(v: i32) -> i16 {
    // In range after the clamp, so the cast cannot truncate.
    v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

/// A soft knee: the identity up to [`KNEE`], then a parabola `a - (a - KNEE)² / (4 BEND)`
/// that meets full scale with zero slope at [`CEILING`], then full scale. Monotonic and
/// never steeper than the identity (so it adds no steps of its own). Computed in f32 (within
/// one LSB of the integer formula) with a branch-free rounding, so that it vectorises on
/// any x86-64 (SSE2 has no 32-bit integer min, max or multiply).
pub(super) fn soft_limit(v: i32) -> i16 {
    const K: f32 = KNEE as f32;
    const C: f32 = CEILING as f32;
    const SCALE: f32 = 1.0 / (4 * BEND) as f32;
    let x = (v as f32).clamp(-C, C); // a `v` beyond ±2^24 rounds, but is clamped anyway
    let a = x.abs();
    let over = (a - K).max(0.0);
    let y = (a - over * over * SCALE).copysign(x);
    // Round to the nearest integer without a float-to-int cast (which does not vectorise):
    // adding 1.5 * 2^23 leaves `round(y)` in the low mantissa bits, for any |y| < 2^22.
    const MAGIC: f32 = 12_582_912.0;
    let rounded = (y + MAGIC).to_bits() as i32 - MAGIC.to_bits() as i32;
    // |rounded| <= i16::MAX: the cast cannot truncate.
    rounded as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramp_reaches_target_on_last_sample() {
        let input = [1000i16; N];
        let mut d = [0; N];
        scale(&input, 0, UNITY, &mut d);
        assert_eq!(d[N - 1], 1000);
        assert!(d[0] <= 1000 / N_I32 + 1);
        assert!(d.windows(2).all(|w| w[0] <= w[1]));
        scale(&input, UNITY, 0, &mut d);
        assert_eq!(d[N - 1], 0);
    }

    #[test]
    fn crossfade_sums_to_the_signal() {
        let input: [i16; N] =
            std::array::from_fn(|i| (((i * 397) % 40_000) as i32 - 20_000) as i16);
        let (mut a, mut b) = ([0; N], [0; N]);
        scale(&input, UNITY, 0, &mut a);
        scale(&input, 0, UNITY, &mut b);
        for i in 0..N {
            assert!((a[i] + b[i] - i32::from(input[i])).abs() <= 1);
        }
    }

    #[test]
    fn extreme_gain_does_not_overflow() {
        let input = [i16::MIN; N];
        let mut d = [0; N];
        scale(&input, MAX_GAIN_Q14, MAX_GAIN_Q14, &mut d);
        assert_eq!(d[0], i32::from(i16::MIN) * 4);
        scale(&input, 0, MAX_GAIN_Q14, &mut d);
        assert_eq!(d[N - 1], i32::from(i16::MIN) * 4);
    }

    #[test]
    fn soft_limit_is_monotonic_smooth_and_bounded() {
        let mut last = soft_limit(-CEILING - 10);
        assert_eq!(last, -i16::MAX);
        for v in -CEILING - 9..=CEILING + 10 {
            let y = soft_limit(v);
            assert!(y >= last && y - last <= 1, "{v}: {last} -> {y}");
            last = y;
        }
        assert_eq!(last, i16::MAX);
        assert_eq!(soft_limit(KNEE), KNEE as i16);
        assert_eq!(soft_limit(-KNEE), -KNEE as i16);
        assert_eq!(soft_limit(-5), -5);
        assert_eq!(soft_limit(CEILING), i16::MAX);
        assert_eq!(soft_limit(i32::MAX), i16::MAX);
        assert_eq!(soft_limit(i32::MIN), -i16::MAX);
        assert!(soft_limit(KNEE + BEND) < KNEE as i16 + BEND as i16);
        // The f32 arithmetic stays within one LSB of the integer formula.
        for v in -CEILING..=CEILING {
            let a = v.abs();
            let over = (a - KNEE).max(0);
            let exact = v.signum() * (a - (over * over) / (4 * BEND));
            assert!((i32::from(soft_limit(v)) - exact).abs() <= 1, "{v}");
        }
    }
}
