//! Comfort noise (RFC 3389): the `CN` payload (static payload type 13 at 8 kHz) that a
//! sender with voice activity detection sends instead of silence, and the noise a receiver
//! plays meanwhile so the line does not sound dead.
//!
//! A payload is one byte of noise level in -dBov (0 to 127; the top bit is reserved)
//! followed by optional reflection coefficients describing the noise spectrum. We read the
//! level and keep the coefficients as bytes, but generate *white* noise at that level (what
//! RFC 3389 §3.2 prescribes when no coefficients are sent; matching the spectrum would be
//! an all-pole filter, left for when a peer's noise sounds wrong).
//!
//! The reference of 0 dBov is a full-scale square wave (RFC 3389 §3.1): RMS
//! [`FULL_SCALE`] on our 16-bit scale. The generator's randomness comes from a seed the
//! caller passes, so a run replays.

use crate::codec::CodecError;

/// The static payload type of `CN/8000` (RFC 3551 table 4).
pub const PAYLOAD_TYPE: u8 = 13;

/// The encoding name in `a=rtpmap`.
pub const ENCODING_NAME: &str = "CN";

/// 0 dBov: the RMS of a full-scale square wave.
pub const FULL_SCALE: f64 = 32767.0;

/// The quietest level a payload can carry, -127 dBov (digital silence is sent as this).
pub const SILENT_LEVEL: u8 = 127;

/// A parsed comfort-noise payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CnPayload<'a> {
    /// Noise level in -dBov: 0 is full scale, 127 is -127 dBov.
    pub level: u8,
    /// Quantised reflection coefficients, as sent (possibly none).
    pub coefficients: &'a [u8],
}

impl<'a> CnPayload<'a> {
    /// Reads a payload. Only an empty payload is an error; the reserved top bit of the
    /// level byte is ignored.
    pub fn parse(payload: &'a [u8]) -> Result<Self, CodecError> {
        let (&level, coefficients) = payload.split_first().ok_or(CodecError::MalformedPayload {
            codec: ENCODING_NAME,
        })?;
        Ok(CnPayload {
            level: level & 0x7f,
            coefficients,
        })
    }

    /// The level as RMS on the 16-bit scale.
    pub fn rms(&self) -> f64 {
        level_to_rms(self.level)
    }
}

/// Writes a payload carrying only a noise level (white noise) into `out` and returns its
/// length, 1 (0 when `out` is empty). Levels above 127 are written as 127.
pub fn write_payload(level: u8, out: &mut [u8]) -> usize {
    match out.first_mut() {
        Some(b) => {
            *b = level.min(SILENT_LEVEL);
            1
        }
        None => 0,
    }
}

/// The level, in -dBov, of a stretch of audio (what a sender puts in its CN payload when
/// its VAD turns the voice off): 127 for digital silence.
pub fn measure_level(pcm: &[i16]) -> u8 {
    if pcm.is_empty() {
        return SILENT_LEVEL;
    }
    let energy: f64 = pcm.iter().map(|&s| f64::from(s).powi(2)).sum();
    rms_to_level((energy / pcm.len() as f64).sqrt())
}

/// RMS on the 16-bit scale for a level in -dBov.
pub fn level_to_rms(level: u8) -> f64 {
    FULL_SCALE * 10f64.powf(-f64::from(level.min(SILENT_LEVEL)) / 20.0)
}

/// The level in -dBov (rounded, clamped to 0..=127) of an RMS on the 16-bit scale.
pub fn rms_to_level(rms: f64) -> u8 {
    if rms <= 0.0 || !rms.is_finite() {
        return SILENT_LEVEL;
    }
    let dbov = 20.0 * (rms / FULL_SCALE).log10();
    // Clamped to 0..=127 first, so the cast only rounds.
    (-dbov).round().clamp(0.0, f64::from(SILENT_LEVEL)) as u8
}

/// Generates comfort noise at the level of the last payload it was given.
#[derive(Debug, Clone)]
pub struct NoiseGenerator {
    /// Target RMS.
    rms: f64,
    /// xorshift64* state (never zero).
    state: u64,
}

impl NoiseGenerator {
    /// A generator at [`SILENT_LEVEL`] whose noise comes from `seed`.
    pub fn new(seed: u64) -> Self {
        NoiseGenerator {
            rms: level_to_rms(SILENT_LEVEL),
            // Splitmix the seed so that small seeds give unrelated streams; `| 1` keeps
            // the xorshift state non-zero.
            state: splitmix(seed) | 1,
        }
    }

    /// Sets the level in -dBov.
    pub fn set_level(&mut self, level: u8) {
        self.rms = level_to_rms(level);
    }

    /// Takes the level from a received CN payload.
    pub fn handle_payload(&mut self, payload: &[u8]) -> Result<(), CodecError> {
        let cn = CnPayload::parse(payload)?;
        self.rms = cn.rms();
        Ok(())
    }

    /// Fills `out` with white noise at the current level.
    pub fn generate(&mut self, out: &mut [i16]) {
        // A sum of four uniforms on [-1, 1) is close to Gaussian (softer than uniform
        // noise) with variance 4/3; scale it to the target RMS.
        let gain = self.rms / (4.0f64 / 3.0).sqrt();
        for o in out {
            let mut sum = 0.0;
            for _ in 0..4 {
                sum += self.next_uniform();
            }
            // Clamped into range first, so the cast only rounds.
            *o = (sum * gain)
                .round()
                .clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16;
        }
    }

    /// A uniform sample on [-1, 1).
    fn next_uniform(&mut self) -> f64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        let bits = x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11; // 53 bits
        bits as f64 / (1u64 << 52) as f64 - 1.0
    }
}

fn splitmix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_level_and_coefficients() {
        let cn = CnPayload::parse(&[0x40, 1, 2, 3]).unwrap();
        assert_eq!(cn.level, 64);
        assert_eq!(cn.coefficients, [1, 2, 3]);
        // The reserved bit is ignored.
        assert_eq!(CnPayload::parse(&[0xC0]).unwrap().level, 64);
        assert!(CnPayload::parse(&[]).is_err());
    }

    #[test]
    fn levels_convert_both_ways() {
        assert_eq!(rms_to_level(FULL_SCALE), 0);
        assert_eq!(rms_to_level(0.0), SILENT_LEVEL);
        for level in 0..=SILENT_LEVEL {
            assert_eq!(rms_to_level(level_to_rms(level)), level);
        }
        let mut out = [0u8; 1];
        assert_eq!(write_payload(200, &mut out), 1);
        assert_eq!(out, [127]);
        assert_eq!(write_payload(3, &mut []), 0);
    }

    #[test]
    fn seeds_replay() {
        let (mut a, mut b) = (NoiseGenerator::new(7), NoiseGenerator::new(7));
        a.set_level(30);
        b.set_level(30);
        let (mut x, mut y) = ([0i16; 160], [0i16; 160]);
        a.generate(&mut x);
        b.generate(&mut y);
        assert_eq!(x, y);
        assert!(x.iter().any(|&s| s != 0));
    }
}
