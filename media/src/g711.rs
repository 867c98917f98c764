//! G.711 (ITU-T G.711, 1988): µ-law (PCMU, static RTP payload type 0) and A-law (PCMA,
//! static payload type 8), one byte per sample at 8 kHz.
//!
//! Encoding follows the ITU-T reference implementation (G.191 Software Tool Library,
//! `g711.c`: `alaw_compress` / `ulaw_compress`) step for step; decoding reads a 256-entry
//! table computed at compile time from the standard expansion rule (G.711 tables 1 and 2,
//! decoder outputs at the middle of each quantisation interval), so both directions agree
//! bit for bit with other G.711 implementations on the wire.
//!
//! Neither direction allocates: callers pass the output buffer.

/// One of the two G.711 companding laws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// µ-law, `PCMU/8000`, RTP payload type 0 (North America, Japan).
    Pcmu,
    /// A-law, `PCMA/8000`, RTP payload type 8 (Europe and most of the world).
    Pcma,
}

impl Codec {
    /// Sampling rate, which is also the RTP clock rate (RFC 3551 §4.5.14).
    pub const CLOCK_RATE: u32 = 8000;

    /// The static RTP payload type assigned by RFC 3551 table 4.
    pub fn static_payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The encoding name used in `a=rtpmap` (compared case-insensitively on input).
    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The codec with this encoding name (case-insensitive), if it is a G.711 law.
    pub fn from_encoding_name(name: &str) -> Option<Codec> {
        if name.eq_ignore_ascii_case("PCMU") {
            Some(Codec::Pcmu)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(Codec::Pcma)
        } else {
            None
        }
    }

    /// The codec that owns this static payload type (0 or 8).
    pub fn from_static_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// Encodes one sample.
    pub fn encode_sample(self, pcm: i16) -> u8 {
        match self {
            Codec::Pcmu => linear_to_ulaw(pcm),
            Codec::Pcma => linear_to_alaw(pcm),
        }
    }

    /// Decodes one sample.
    pub fn decode_sample(self, byte: u8) -> i16 {
        match self {
            Codec::Pcmu => ulaw_to_linear(byte),
            Codec::Pcma => alaw_to_linear(byte),
        }
    }

    /// Encodes `pcm` into the first `pcm.len()` bytes of `out` and returns how many were
    /// written: `min(pcm.len(), out.len())`.
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) -> usize {
        let n = pcm.len().min(out.len());
        for (o, &s) in out.iter_mut().zip(&pcm[..n]) {
            *o = self.encode_sample(s);
        }
        n
    }

    /// Decodes `bytes` into the first `bytes.len()` samples of `out` and returns how many were
    /// written: `min(bytes.len(), out.len())`.
    pub fn decode(self, bytes: &[u8], out: &mut [i16]) -> usize {
        let table = match self {
            Codec::Pcmu => &ULAW_TO_LINEAR,
            Codec::Pcma => &ALAW_TO_LINEAR,
        };
        let n = bytes.len().min(out.len());
        for (o, &b) in out.iter_mut().zip(&bytes[..n]) {
            *o = table[usize::from(b)];
        }
        n
    }
}

const SIGN_BIT: u8 = 0x80;
const QUANT_MASK: u8 = 0x0f;
const SEG_SHIFT: u32 = 4;
const SEG_MASK: u8 = 0x70;
/// µ-law bias (0x84 = 132 on the 16-bit scale, 33 on the 14-bit one).
const ULAW_BIAS: i32 = 0x84;

/// Magnitude of a sample for companding: negative samples take the one's complement
/// (`!x`, i.e. `-x - 1`), as ITU-T G.191's reference `g711.c` does, so that the encoding
/// is symmetric around -0.5 and -1 encodes as "negative zero".
fn magnitude(x: i32) -> i32 {
    if x < 0 { !x } else { x }
}

/// µ-law compression of one 16-bit linear sample, following ITU-T G.191 `ulaw_compress`:
/// keep the 14 most significant bits, add the bias of 33, clamp to 13 bits, find the
/// segment, keep 4 mantissa bits, invert.
pub fn linear_to_ulaw(pcm: i16) -> u8 {
    let x = i32::from(pcm);
    let biased = ((magnitude(x) >> 2) + 33).min(0x1FFF);
    // Segment number 1..=8: one more than the bit length of `biased >> 6` (0..=127).
    // `biased` is in 33..=0x1FFF, so the shift below is non-negative and below 32.
    let segno = 1 + (32 - ((biased >> 6) as u32).leading_zeros());
    let high = 8 - segno;
    let low = 15 - ((biased >> segno) & 0x0F) as u32;
    // high <= 7 and low <= 15, so the code fits in 7 bits.
    let code = ((high << 4) | low) as u8;
    if x >= 0 { code | SIGN_BIT } else { code }
}

/// A-law compression of one 16-bit linear sample, following ITU-T G.191 `alaw_compress`:
/// keep the 12 most significant bits of the magnitude, find exponent and mantissa, add the
/// sign, toggle the even bits.
pub fn linear_to_alaw(pcm: i16) -> u8 {
    let x = i32::from(pcm);
    let mut ix = magnitude(x) >> 4; // 0..=2047
    if ix > 15 {
        let mut exponent = 1;
        while ix > 16 + 15 {
            ix >>= 1;
            exponent += 1;
        }
        ix -= 16; // drop the leading one
        ix += exponent << 4;
    }
    // ix <= 0x7F here, so the cast keeps every bit.
    let code = ix as u8;
    let code = if x >= 0 { code | SIGN_BIT } else { code };
    code ^ 0x55
}

/// µ-law expansion of one byte (G.711 table 2; the table below is built from it).
const fn ulaw_expand(byte: u8) -> i16 {
    let u = !byte;
    let mut t = (((u & QUANT_MASK) as i32) << 3) + ULAW_BIAS;
    t <<= ((u & SEG_MASK) >> SEG_SHIFT) as u32;
    // |t - BIAS| <= 32124, which fits an i16.
    if u & SIGN_BIT != 0 {
        (ULAW_BIAS - t) as i16
    } else {
        (t - ULAW_BIAS) as i16
    }
}

/// A-law expansion of one byte (G.711 table 1; the table below is built from it).
const fn alaw_expand(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let mut t = ((a & QUANT_MASK) as i32) << 4;
    let seg = ((a & SEG_MASK) >> SEG_SHIFT) as u32;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    // |t| <= 32256, which fits an i16.
    if a & SIGN_BIT != 0 {
        t as i16
    } else {
        -t as i16
    }
}

const fn build_ulaw_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = ulaw_expand(i as u8);
        i += 1;
    }
    table
}

const fn build_alaw_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = alaw_expand(i as u8);
        i += 1;
    }
    table
}

/// µ-law byte → 16-bit linear sample.
static ULAW_TO_LINEAR: [i16; 256] = build_ulaw_table();
/// A-law byte → 16-bit linear sample.
static ALAW_TO_LINEAR: [i16; 256] = build_alaw_table();

/// µ-law expansion of one byte, by table.
pub fn ulaw_to_linear(byte: u8) -> i16 {
    ULAW_TO_LINEAR[usize::from(byte)]
}

/// A-law expansion of one byte, by table.
pub fn alaw_to_linear(byte: u8) -> i16 {
    ALAW_TO_LINEAR[usize::from(byte)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_known_values() {
        // Silence is 0xFF (and 0x7F, "negative zero").
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        // Extremes.
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        // Smallest steps: 0xFE decodes to 8, 0x7E to -8.
        assert_eq!(ulaw_to_linear(0xFE), 8);
        assert_eq!(ulaw_to_linear(0x7E), -8);
        // Segment boundaries from G.711 table 2a (decoder outputs, 16-bit scale).
        assert_eq!(ulaw_to_linear(0xEF), 132);
        assert_eq!(ulaw_to_linear(0xDF), 396);
        assert_eq!(linear_to_ulaw(1000), 0xCE);
        assert_eq!(linear_to_ulaw(-1000), 0x4E);
        assert_eq!(linear_to_ulaw(100), 0xF2);
        assert_eq!(linear_to_ulaw(4000), 0xAF);
        assert_eq!(linear_to_ulaw(20000), 0x8C);
        assert_eq!(linear_to_ulaw(-20000), 0x0C);
        // G.191 takes the one's complement of negative samples: -1..=-4 are "negative
        // zero", like +0..=+3 are positive zero.
        assert_eq!(linear_to_ulaw(-1), 0x7F);
        assert_eq!(linear_to_ulaw(-4), 0x7F);
        assert_eq!(linear_to_ulaw(-5), 0x7E);
        assert_eq!(linear_to_ulaw(3), 0xFF);
        assert_eq!(linear_to_ulaw(4), 0xFE);
    }

    #[test]
    fn alaw_known_values() {
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
        assert_eq!(linear_to_alaw(-1), 0x55);
        assert_eq!(linear_to_alaw(1000), 0xFA);
        assert_eq!(linear_to_alaw(-1000), 0x7A);
        assert_eq!(linear_to_alaw(4000), 0x9A);
        assert_eq!(linear_to_alaw(20000), 0xA6);
        assert_eq!(linear_to_alaw(-20000), 0x26);
        assert_eq!(linear_to_alaw(15), 0xD5);
        assert_eq!(linear_to_alaw(16), 0xD4);
        assert_eq!(alaw_to_linear(0xFA), 1008);
    }

    #[test]
    fn every_code_round_trips() {
        for b in 0..=255u8 {
            let back = linear_to_alaw(alaw_to_linear(b));
            assert_eq!(back, b, "A-law {b:#04x}");
            let back = linear_to_ulaw(ulaw_to_linear(b));
            // µ-law has two zeros; 0x7F ("-0") comes back as 0xFF ("+0").
            let want = if b == 0x7F { 0xFF } else { b };
            assert_eq!(back, want, "µ-law {b:#04x}");
        }
    }

    #[test]
    fn decode_matches_reference_expansion() {
        for b in 0..=255u8 {
            assert_eq!(ulaw_to_linear(b), ulaw_expand(b));
            assert_eq!(alaw_to_linear(b), alaw_expand(b));
        }
    }

    #[test]
    fn encoding_is_monotonic_and_error_bounded() {
        // Quantisation error stays within half a step of the segment (at most 1/32 of the
        // magnitude, plus the smallest step) for every 16-bit input.
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let mut previous = i16::MIN;
            for x in i16::MIN..=i16::MAX {
                let y = codec.decode_sample(codec.encode_sample(x));
                assert!(y >= previous, "{codec:?} not monotonic at {x}");
                previous = y;
                let err = (i32::from(x) - i32::from(y)).abs();
                let clip = i32::from(x).abs() > 32100;
                assert!(
                    clip || err <= i32::from(x).abs() / 32 + 16,
                    "{codec:?}: {x} -> {y}"
                );
            }
        }
    }

    #[test]
    fn slice_helpers_respect_buffer_lengths() {
        let pcm = [0i16, 1000, -1000, 32767];
        let mut bytes = [0u8; 3];
        assert_eq!(Codec::Pcmu.encode(&pcm, &mut bytes), 3);
        assert_eq!(bytes, [0xFF, 0xCE, 0x4E]);
        let mut out = [0i16; 8];
        assert_eq!(Codec::Pcmu.decode(&bytes, &mut out), 3);
        assert_eq!(out[..3], [0, 988, -988]);
    }

    #[test]
    fn names_and_payload_types() {
        assert_eq!(Codec::from_encoding_name("pcmu"), Some(Codec::Pcmu));
        assert_eq!(Codec::from_encoding_name("PCMA"), Some(Codec::Pcma));
        assert_eq!(Codec::from_encoding_name("G722"), None);
        assert_eq!(Codec::from_static_payload_type(8), Some(Codec::Pcma));
        assert_eq!(Codec::Pcmu.static_payload_type(), 0);
    }
}
