//! Estimated call quality: a simplified ITU-T G.107 E-model, R-factor and MOS.
//!
//! ```text
//! R = 93.2 − Idd(Ta) − Ie,eff
//!   Ta      = one-way delay = RTT / 2 + jitter-buffer delay
//!   Idd     = 0 for Ta ≤ 100 ms, else 25·((1 + X⁶)^⅙ − 3·(1 + (X/3)⁶)^⅙ + 2), X = log2(Ta / 100 ms)
//!   Ie,eff  = Ie + (95 − Ie) · Ppl / (Ppl / BurstR + Bpl)      (Ppl in %)
//! MOS = 1 + 0.035·R + R·(R − 60)·(100 − R)·7·10⁻⁶, clamped to 1.0..=4.5   (G.107 Annex B)
//! ```
//!
//! 93.2 is the E-model's default R for a clean narrow-band connection (G.107's defaults
//! for noise, loudness and sidetone). The simplifications: talker echo is taken as
//! cancelled (no Idte/Idle), loss as random (BurstR = 1), and the delay is what the caller
//! supplies (network plus jitter buffer; packetisation and codec delay are left out).
//! Codec figures come from ITU-T G.113 Appendix I: G.711 has Ie = 0, and its robustness to
//! packet loss Bpl is 25.1 with packet-loss concealment (G.711 Appendix I) and 4.3
//! without. A higher Bpl means loss hurts less.
//!
//! The result is a planning-grade estimate for dashboards and alerts, not a measurement
//! of the audio (for which see ITU-T P.863).

use std::time::Duration;

use crate::rtcp::RtcpState;
use crate::{AudioCodec, Codec};

/// The E-model's R for a clean narrow-band connection with G.107's default parameters.
pub const R_DEFAULT: f32 = 93.2;

/// A codec's figures in the E-model (ITU-T G.113 Appendix I).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    /// Equipment impairment factor without loss, Ie.
    pub ie: f32,
    /// Packet-loss robustness factor, Bpl.
    pub bpl: f32,
}

impl Impairment {
    /// G.711 with packet-loss concealment.
    pub const G711_PLC: Impairment = Impairment { ie: 0.0, bpl: 25.1 };
    /// G.711 without concealment (lost frames played as silence).
    pub const G711: Impairment = Impairment { ie: 0.0, bpl: 4.3 };

    /// The figures for `codec`, with or without packet-loss concealment.
    pub fn for_codec(codec: Codec, plc: bool) -> Self {
        match (codec, plc) {
            (Codec::Pcmu | Codec::Pcma, true) => Self::G711_PLC,
            (Codec::Pcmu | Codec::Pcma, false) => Self::G711,
        }
    }

    /// The figures for any [`AudioCodec`]. G.722 and Opus have no figures on this
    /// narrow-band scale (G.113 gives theirs on the wide-band one of G.107.1), so they take
    /// G.711's: Ie 0, and its Bpl with or without concealment. That is conservative for
    /// Opus, whose concealment and in-band FEC bear loss better.
    pub fn for_audio_codec(codec: AudioCodec, plc: bool) -> Self {
        Self::for_codec(codec.g711().unwrap_or(Codec::Pcmu), plc)
    }
}

/// Delay impairment Idd (G.107 §7.4, with the default mT = 100 ms) for a one-way delay.
pub fn delay_impairment(one_way: Duration) -> f32 {
    let ta = one_way.as_secs_f32() * 1000.0;
    if ta <= 100.0 {
        return 0.0;
    }
    let x = (ta / 100.0).log2();
    let sixth = 1.0 / 6.0;
    25.0 * ((1.0 + x.powi(6)).powf(sixth) - 3.0 * (1.0 + (x / 3.0).powi(6)).powf(sixth) + 2.0)
}

/// Effective equipment impairment Ie,eff for random loss; `loss_fraction` is in 0.0..=1.0
/// (out-of-range values are clamped, NaN counts as no loss).
pub fn equipment_impairment(impairment: Impairment, loss_fraction: f32) -> f32 {
    let ppl = if loss_fraction.is_nan() {
        0.0
    } else {
        loss_fraction.clamp(0.0, 1.0) * 100.0
    };
    let denominator = ppl + impairment.bpl;
    if denominator <= 0.0 {
        return impairment.ie;
    }
    impairment.ie + (95.0 - impairment.ie) * ppl / denominator
}

/// The one-way mouth-to-ear delay this model assumes: half the round trip plus the
/// receiver's jitter-buffer delay.
pub fn one_way_delay(rtt: Duration, jitter_buffer_delay: Duration) -> Duration {
    (rtt / 2).saturating_add(jitter_buffer_delay)
}

/// The transmission rating R (0..=100) of a stream.
pub fn r_factor(
    impairment: Impairment,
    loss_fraction: f32,
    rtt: Duration,
    jitter_buffer_delay: Duration,
) -> f32 {
    let delay = one_way_delay(rtt, jitter_buffer_delay);
    let r = R_DEFAULT - delay_impairment(delay) - equipment_impairment(impairment, loss_fraction);
    r.clamp(0.0, 100.0)
}

/// Mean opinion score (1.0..=4.5) for a transmission rating (G.107 Annex B).
pub fn mos_from_r(r: f32) -> f32 {
    if r.is_nan() || r <= 0.0 {
        return 1.0;
    }
    if r >= 100.0 {
        return 4.5;
    }
    // The cubic dips just below 1 for R under about 6.5.
    (1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7.0e-6).clamp(1.0, 4.5)
}

/// The estimated MOS of a stream (see the module doc).
pub fn estimate_mos(
    impairment: Impairment,
    loss_fraction: f32,
    rtt: Duration,
    jitter_buffer_delay: Duration,
) -> f32 {
    mos_from_r(r_factor(
        impairment,
        loss_fraction,
        rtt,
        jitter_buffer_delay,
    ))
}

/// The estimated MOS of what we hear on a leg: the loss in our last RTCP report on the
/// peer's stream (none before the first report) and the latest RTT (zero until one is
/// measured). `None` before the peer's stream is valid.
pub fn inbound_mos(
    rtcp: &RtcpState,
    impairment: Impairment,
    jitter_buffer_delay: Duration,
) -> Option<f32> {
    let rx = rtcp.reception()?;
    let loss = f32::from(rx.last_fraction_lost) / 256.0;
    let rtt = rtcp.rtt().unwrap_or_default();
    Some(estimate_mos(impairment, loss, rtt, jitter_buffer_delay))
}

/// The estimated MOS of what the peer hears from us: the loss and RTT of its latest report
/// on our stream. `jitter_buffer_delay` is a guess at the peer's buffer (40–60 ms is
/// typical for phones). `None` before the peer reported.
pub fn outbound_mos(
    rtcp: &RtcpState,
    impairment: Impairment,
    jitter_buffer_delay: Duration,
) -> Option<f32> {
    let report = rtcp.remote_report()?;
    let rtt = report.rtt.or(rtcp.rtt()).unwrap_or_default();
    Some(estimate_mos(
        impairment,
        report.loss_fraction(),
        rtt,
        jitter_buffer_delay,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn close(a: f32, b: f32, tolerance: f32) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn mos_at_known_r_points() {
        // G.107 Annex B / G.109 category boundaries.
        for (r, mos) in [
            (93.2, 4.41),
            (90.0, 4.34),
            (80.0, 4.02),
            (70.0, 3.60),
            (60.0, 3.10),
            (50.0, 2.58),
        ] {
            assert!(close(mos_from_r(r), mos, 0.01), "R {r}: {}", mos_from_r(r));
        }
        assert_eq!(mos_from_r(-5.0), 1.0);
        assert_eq!(mos_from_r(3.0), 1.0);
        assert_eq!(mos_from_r(100.0), 4.5);
        assert_eq!(mos_from_r(f32::NAN), 1.0);
    }

    #[test]
    fn delay_impairment_points() {
        assert_eq!(delay_impairment(100 * MS), 0.0);
        assert!(close(delay_impairment(150 * MS), 0.16, 0.02));
        assert!(close(delay_impairment(200 * MS), 3.04, 0.05));
        assert!(close(delay_impairment(300 * MS), 14.8, 0.1));
        assert!(close(delay_impairment(400 * MS), 24.1, 0.1));
        // Monotonic.
        let mut last = 0.0;
        for ms in (100..2000).step_by(10) {
            let idd = delay_impairment(ms * MS);
            assert!(idd >= last);
            last = idd;
        }
    }

    #[test]
    fn clean_g711_is_about_4_4() {
        let mos = estimate_mos(Impairment::G711_PLC, 0.0, 40 * MS, 40 * MS);
        assert!(close(mos, 4.41, 0.01), "{mos}");
        assert!(close(
            r_factor(Impairment::G711, 0.0, 40 * MS, 40 * MS),
            93.2,
            0.01
        ));
    }

    #[test]
    fn random_loss_with_and_without_plc() {
        // Ie,eff = 95 · 5 / (5 + 25.1) = 15.8 → R = 77.4 → MOS 3.92.
        let plc = estimate_mos(Impairment::G711_PLC, 0.05, 40 * MS, 40 * MS);
        assert!(close(plc, 3.92, 0.02), "{plc}");
        // Ie,eff = 95 · 5 / (5 + 4.3) = 51.1 → R = 42.1 → MOS 2.17.
        let bare = estimate_mos(Impairment::G711, 0.05, 40 * MS, 40 * MS);
        assert!(close(bare, 2.17, 0.02), "{bare}");
        // More loss is never better.
        let mut last = 5.0;
        for pct in 0..=100u8 {
            let mos = estimate_mos(Impairment::G711_PLC, f32::from(pct) / 100.0, MS, MS);
            assert!(mos <= last);
            last = mos;
        }
        // The model's floor: even total loss keeps R at 93.2 − 95·100/125.1 ≈ 17.
        assert!(estimate_mos(Impairment::G711_PLC, 1.0, MS, MS) < 1.6);
        // Nonsense inputs are clamped.
        assert_eq!(
            estimate_mos(Impairment::G711_PLC, -1.0, MS, MS),
            estimate_mos(Impairment::G711_PLC, 0.0, MS, MS)
        );
        assert_eq!(
            estimate_mos(Impairment::G711_PLC, f32::NAN, MS, MS),
            estimate_mos(Impairment::G711_PLC, 0.0, MS, MS)
        );
    }

    #[test]
    fn high_delay_lowers_the_score() {
        // One way: 700 / 2 + 50 = 400 ms → R = 93.2 − 24.1 = 69.1 → MOS 3.56.
        let mos = estimate_mos(Impairment::G711_PLC, 0.0, 700 * MS, 50 * MS);
        assert!(close(mos, 3.56, 0.02), "{mos}");
        let satellite = estimate_mos(
            Impairment::G711_PLC,
            0.0,
            Duration::from_secs(2),
            Duration::ZERO,
        );
        assert!(satellite < 3.0, "{satellite}");
        // Idd levels off near 50, so delay alone never takes R below about 43.
        let endless = estimate_mos(Impairment::G711_PLC, 0.0, Duration::MAX, Duration::MAX);
        assert!((2.0..2.3).contains(&endless), "{endless}");
    }

    #[test]
    fn codec_figures() {
        assert_eq!(
            Impairment::for_codec(Codec::Pcma, true),
            Impairment::G711_PLC
        );
        assert_eq!(Impairment::for_codec(Codec::Pcmu, false), Impairment::G711);
        assert_eq!(
            Impairment::for_audio_codec(AudioCodec::Opus, true),
            Impairment::G711_PLC
        );
        assert_eq!(
            Impairment::for_audio_codec(AudioCodec::Pcma, false),
            Impairment::G711
        );
    }
}
