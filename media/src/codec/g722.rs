//! ITU-T G.722 (11/88, 7 kHz audio within 64 kbit/s), mode 1 only: 16 kHz linear PCM in,
//! one byte per pair of samples out (6 low-band bits, 2 high-band bits).
//!
//! Why hand-written rather than the `ezk-g722` crate: that crate's DSP is a faithful port of
//! the same public-domain CMU/SpanDSP reference, but it comes bundled with an async media
//! framework (`ezk`, `ezk-audio`, `ezk-rtp`, which pull tokio, parking_lot, a second `rand`)
//! that this crate refuses, and its `encode`/`decode` return a fresh `Vec` per call. The
//! codec itself is ~250 lines of integer arithmetic whose tables are fixed by the standard,
//! so we keep our own, allocation-free, with the block names of G.722 §3 and §4 as
//! comments. Its bit stream was checked sample for sample against that port (encoder codes
//! and decoder output for tones, white noise, silence, full-scale square waves and random
//! bytes) when it was written, with the port's initial scale factors set to the standard's
//! reset values (it leaves them at zero).
//!
//! All arithmetic is on `i32` with the standard's 16-bit saturations; no intermediate can
//! overflow `i32` (the largest product is a 15-bit scale factor times a 15-bit table value),
//! and every table index is masked, so no input byte can panic the decoder.

/// Low-band 6-bit quantiser decision levels (G.722 table 6, `Q6`), relative to the scale.
const Q6: [i32; 31] = [
    0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858, 940,
    1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919, 0,
];
/// Low-band codes for negative and positive differences, by decision interval.
const ILN: [i32; 31] = [
    0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11,
    10, 9, 8, 7, 6, 5, 4,
];
const ILP: [i32; 31] = [
    0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39,
    38, 37, 36, 35, 34, 33, 32,
];
/// Low-band log-scale factor multipliers (`WL`) indexed through `RL42`.
const WL: [i32; 8] = [-60, -30, 58, 172, 334, 538, 1198, 3042];
const RL42: [i32; 16] = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];
/// Inverse log-base-2 table for the scale factors (`ILB`).
const ILB: [i32; 32] = [
    2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
    2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
];
/// 4-bit low-band inverse quantiser outputs (`QM4`): what the predictors see.
const QM4: [i32; 16] = [
    0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584,
    1200, 0,
];
/// 6-bit low-band inverse quantiser outputs (`QM6`): what the decoder outputs in mode 1.
const QM6: [i32; 64] = [
    -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232,
    -9360, -8576, -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776,
    -2400, -2032, -1688, -1360, -1040, -728, 24808, 21904, 19008, 16704, 14984, 13512, 12280,
    11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456, 4944, 4464, 4008, 3576, 3168, 2776,
    2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
];
/// High-band 2-bit inverse quantiser (`QM2`), log-scale multipliers (`WH` via `RH2`), and
/// codes for negative and positive differences (`IHN`, `IHP`).
const QM2: [i32; 4] = [-7408, -1616, 7408, 1616];
const WH: [i32; 3] = [0, -214, 798];
const RH2: [i32; 4] = [2, 1, 2, 1];
const IHN: [i32; 3] = [0, 1, 0];
const IHP: [i32; 3] = [0, 3, 2];
/// The 24-tap quadrature mirror filter, one half (the other half is its mirror image).
const QMF: [i32; 12] = [3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11];

fn sat16(x: i32) -> i32 {
    x.clamp(i32::from(i16::MIN), i32::from(i16::MAX))
}

/// The sign of a 16-bit quantity as the standard compares it: -1 for negative, 0 otherwise.
fn sign(x: i32) -> i32 {
    x >> 15
}

/// The scale factor from a log-scale factor (blocks 3L SCALEL / 3H SCALEH); `shift_base` is
/// 8 for the low band and 10 for the high band.
fn scale(nb: i32, shift_base: i32) -> i32 {
    let mantissa = ILB[((nb >> 6) & 31) as usize];
    let shift = shift_base - (nb >> 11);
    let det = if shift < 0 {
        mantissa << -shift
    } else {
        mantissa >> shift
    };
    det << 2
}

/// The adaptive predictor of one sub-band: a 2-pole, 6-zero filter and the adaptation of
/// its scale factor, shared by encoder and decoder so both track the same state.
#[derive(Debug, Clone, Default)]
struct Band {
    /// Predicted signal `s`, its pole part `sp` and zero part `sz`.
    s: i32,
    sp: i32,
    sz: i32,
    /// Reconstructed signals `r[0..3]` and partial reconstructions `p[0..3]`.
    r: [i32; 3],
    p: [i32; 3],
    /// Pole coefficients `a[1..3]`.
    a: [i32; 3],
    /// Quantised differences `d[0..7]` and zero coefficients `b[1..7]`.
    d: [i32; 7],
    b: [i32; 7],
    /// Log-scale factor `nb` and scale factor `det`.
    nb: i32,
    det: i32,
}

impl Band {
    fn new(det: i32) -> Self {
        Band {
            det,
            ..Band::default()
        }
    }

    /// Block 4 (RECONS, PARREC, UPPOL2, UPPOL1, UPZERO, DELAYA, FILTEP, FILTEZ, PREDIC):
    /// takes the quantised difference `d` and computes the next prediction.
    fn update(&mut self, d: i32) {
        // RECONS and PARREC.
        self.d[0] = d;
        self.r[0] = sat16(self.s + d);
        self.p[0] = sat16(self.sz + d);

        // UPPOL2: second pole coefficient.
        let (sg0, sg1, sg2) = (sign(self.p[0]), sign(self.p[1]), sign(self.p[2]));
        let wd1 = sat16(self.a[1] << 2);
        let wd2 = if sg0 == sg1 { -wd1 } else { wd1 }.min(32767);
        let mut a2 = (wd2 >> 7) + if sg0 == sg2 { 128 } else { -128 };
        a2 += (self.a[2] * 32512) >> 15;
        let a2 = a2.clamp(-12288, 12288);

        // UPPOL1: first pole coefficient, bounded by the second for stability.
        let wd1 = if sg0 == sg1 { 192 } else { -192 };
        let wd2 = (self.a[1] * 32640) >> 15;
        let limit = sat16(15360 - a2);
        let a1 = sat16(wd1 + wd2).clamp(-limit, limit);

        // UPZERO: the six zero coefficients (sign-sign LMS with leakage).
        let step = if d == 0 { 0 } else { 128 };
        let sg_d = sign(d);
        let mut b = [0i32; 7];
        for ((new, &old), &past) in b.iter_mut().zip(&self.b).zip(&self.d).skip(1) {
            let wd2 = if sign(past) == sg_d { step } else { -step };
            *new = sat16(wd2 + ((old * 32640) >> 15));
        }

        // DELAYA: shift the delay lines and take the new coefficients.
        self.d.copy_within(0..6, 1);
        self.b = b;
        self.r.copy_within(0..2, 1);
        self.p.copy_within(0..2, 1);
        self.a[1] = a1;
        self.a[2] = a2;

        // FILTEP: pole section output.
        let wd1 = (self.a[1] * sat16(self.r[1] + self.r[1])) >> 15;
        let wd2 = (self.a[2] * sat16(self.r[2] + self.r[2])) >> 15;
        self.sp = sat16(wd1 + wd2);

        // FILTEZ: zero section output.
        let sz: i32 = (1..7)
            .map(|i| (self.b[i] * sat16(self.d[i] + self.d[i])) >> 15)
            .sum();
        self.sz = sat16(sz);

        // PREDIC.
        self.s = sat16(self.sp + self.sz);
    }

    /// Block 3L (LOGSCL, SCALEL) for the low band, from the 4-bit code.
    fn adapt_low(&mut self, code4: usize) {
        let nb = ((self.nb * 127) >> 7) + WL[RL42[code4] as usize];
        self.nb = nb.clamp(0, 18432);
        self.det = scale(self.nb, 8);
    }

    /// Block 3H (LOGSCH, SCALEH) for the high band, from the 2-bit code.
    fn adapt_high(&mut self, code2: usize) {
        let nb = ((self.nb * 127) >> 7) + WH[RH2[code2] as usize];
        self.nb = nb.clamp(0, 22528);
        self.det = scale(self.nb, 10);
    }
}

/// Initial scale factors (G.722 §6.2.1.1 reset: `DETL` = 32, `DETH` = 8).
const DETL0: i32 = 32;
const DETH0: i32 = 8;

/// A G.722 mode 1 encoder: 16 kHz PCM → 64 kbit/s.
#[derive(Debug, Clone)]
pub struct G722Encoder {
    /// Transmit QMF history, oldest first.
    x: [i32; 24],
    low: Band,
    high: Band,
}

impl Default for G722Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl G722Encoder {
    /// An encoder in the reset state.
    pub fn new() -> Self {
        G722Encoder {
            x: [0; 24],
            low: Band::new(DETL0),
            high: Band::new(DETH0),
        }
    }

    /// Encodes sample pairs of `pcm` into `out`, one byte per pair; returns the bytes
    /// written, `min(pcm.len() / 2, out.len())`. A trailing odd sample is ignored (callers
    /// pass whole 20 ms frames, which are even).
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> usize {
        let mut n = 0;
        for (pair, o) in pcm.chunks_exact(2).zip(out.iter_mut()) {
            *o = self.encode_pair(pair[0], pair[1]);
            n += 1;
        }
        n
    }

    fn encode_pair(&mut self, first: i16, second: i16) -> u8 {
        // Transmit QMF: split into low (0-4 kHz) and high (4-8 kHz) bands at 8 kHz.
        self.x.copy_within(2.., 0);
        self.x[22] = i32::from(first);
        self.x[23] = i32::from(second);
        let (mut odd, mut even) = (0, 0);
        for i in 0..12 {
            odd += self.x[2 * i] * QMF[i];
            even += self.x[2 * i + 1] * QMF[11 - i];
        }
        let xlow = (even + odd) >> 14;
        let xhigh = (even - odd) >> 14;

        // Low band. Block 1L SUBTRA and QUANTL: find the decision interval of |el|.
        let el = sat16(xlow - self.low.s);
        let magnitude = if el >= 0 { el } else { -(el + 1) };
        let mut i = 1;
        while i < 30 && magnitude >= (Q6[i] * self.low.det) >> 12 {
            i += 1;
        }
        let ilow = if el < 0 { ILN[i] } else { ILP[i] };
        // Block 2L INVQAL: the 4-bit reconstruction the predictor adapts on.
        let code4 = (ilow >> 2) as usize;
        let dlow = (self.low.det * QM4[code4]) >> 15;
        self.low.adapt_low(code4);
        self.low.update(dlow);

        // High band. Block 1H SUBTRA and QUANTH.
        let eh = sat16(xhigh - self.high.s);
        let magnitude = if eh >= 0 { eh } else { -(eh + 1) };
        let mih = if magnitude >= (564 * self.high.det) >> 12 {
            2
        } else {
            1
        };
        let ihigh = if eh < 0 { IHN[mih] } else { IHP[mih] };
        // Block 2H INVQAH.
        let dhigh = (self.high.det * QM2[ihigh as usize]) >> 15;
        self.high.adapt_high(ihigh as usize);
        self.high.update(dhigh);

        // ihigh < 4 and ilow < 64, so the code fits a byte.
        ((ihigh << 6) | ilow) as u8
    }
}

/// A G.722 mode 1 decoder: 64 kbit/s → 16 kHz PCM.
#[derive(Debug, Clone)]
pub struct G722Decoder {
    /// Receive QMF history, oldest first.
    x: [i32; 24],
    low: Band,
    high: Band,
}

impl Default for G722Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl G722Decoder {
    /// A decoder in the reset state.
    pub fn new() -> Self {
        G722Decoder {
            x: [0; 24],
            low: Band::new(DETL0),
            high: Band::new(DETH0),
        }
    }

    /// Decodes `bytes` into sample pairs of `out`; returns the samples written,
    /// `2 * min(bytes.len(), out.len() / 2)`. Every byte is a valid code.
    pub fn decode(&mut self, bytes: &[u8], out: &mut [i16]) -> usize {
        let mut n = 0;
        for (&code, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
            let (a, b) = self.decode_byte(code);
            pair[0] = a;
            pair[1] = b;
            n += 2;
        }
        n
    }

    fn decode_byte(&mut self, code: u8) -> (i16, i16) {
        let code = i32::from(code);
        let ilow = (code & 0x3f) as usize;
        let ihigh = ((code >> 6) & 0x3) as usize;

        // Low band. Block 5L INVQBL, RECONS, LIMIT: the 6-bit reconstruction is the output.
        let rlow = (self.low.s + ((self.low.det * QM6[ilow]) >> 15)).clamp(-16384, 16383);
        // Block 2L INVQAL: the predictor adapts on the 4-bit reconstruction, as in the coder.
        let code4 = ilow >> 2;
        let dlow = (self.low.det * QM4[code4]) >> 15;
        self.low.adapt_low(code4);
        self.low.update(dlow);

        // High band. Blocks 2H INVQAH, 5H RECONS, 6H LIMIT.
        let dhigh = (self.high.det * QM2[ihigh]) >> 15;
        let rhigh = (dhigh + self.high.s).clamp(-16384, 16383);
        self.high.adapt_high(ihigh);
        self.high.update(dhigh);

        // Receive QMF: recombine the bands into two 16 kHz samples.
        self.x.copy_within(2.., 0);
        self.x[22] = rlow + rhigh;
        self.x[23] = rlow - rhigh;
        let (mut first, mut second) = (0, 0);
        for i in 0..12 {
            second += self.x[2 * i] * QMF[i];
            first += self.x[2 * i + 1] * QMF[11 - i];
        }
        // sat16 bounds both to i16.
        (sat16(first >> 11) as i16, sat16(second >> 11) as i16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_stays_quiet_and_every_code_decodes() {
        let mut enc = G722Encoder::new();
        let mut dec = G722Decoder::new();
        let pcm = [0i16; 320];
        let mut bytes = [0u8; 160];
        assert_eq!(enc.encode(&pcm, &mut bytes), 160);
        let mut out = [0i16; 320];
        assert_eq!(dec.decode(&bytes, &mut out), 320);
        assert!(out.iter().all(|s| s.abs() < 8), "{out:?}");
        // Every code, many times over, from any state: no panic, no overflow.
        let all: Vec<u8> = (0..=255u8).cycle().take(256 * 40).collect();
        let mut out = vec![0i16; all.len() * 2];
        assert_eq!(dec.decode(&all, &mut out), out.len());
    }

    #[test]
    fn full_scale_input_does_not_overflow() {
        let mut enc = G722Encoder::new();
        let mut dec = G722Decoder::new();
        let pcm: Vec<i16> = (0..3200)
            .map(|i| if (i / 3) % 2 == 0 { i16::MAX } else { i16::MIN })
            .collect();
        let mut bytes = vec![0u8; 1600];
        enc.encode(&pcm, &mut bytes);
        let mut out = vec![0i16; 3200];
        dec.decode(&bytes, &mut out);
    }

    #[test]
    fn lengths_follow_the_shorter_buffer() {
        let mut enc = G722Encoder::new();
        let mut bytes = [0u8; 4];
        assert_eq!(enc.encode(&[1, 2, 3, 4, 5], &mut bytes), 2);
        assert_eq!(enc.encode(&[0; 20], &mut bytes), 4);
        let mut dec = G722Decoder::new();
        let mut out = [0i16; 5];
        assert_eq!(dec.decode(&[0x12; 8], &mut out), 4);
    }
}
