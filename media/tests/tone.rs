//! Tones measured: every plan's tones have their frequencies (Goertzel) at their levels,
//! their cadence to the sample and to the frame, and one continuous phase across frame
//! boundaries; the loop count and duration are exact; DTMF digits are heard by the
//! crate's own in-band detector; bad specifications are refused.

use std::f64::consts::PI;
use std::time::Duration;

use hotline_media::inband::InbandDtmf;
use hotline_media::prompt::Prompt;
use hotline_media::tone::{
    CallProgress, Component, Country, DtmfTones, RAMP, ToneError, ToneLength, ToneSpec,
};
use hotline_media::{FRAME_SAMPLES, Frame};

const RATE: f64 = 8000.0;
const ALL_KINDS: [CallProgress; 4] = [
    CallProgress::Dial,
    CallProgress::Ringback,
    CallProgress::Busy,
    CallProgress::Congestion,
];
const ALL_COUNTRIES: [Country; 3] = [Country::Us, Country::Uk, Country::Eu];

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Samples in `d` at 8 kHz.
fn n(d: Duration) -> usize {
    (d.as_micros() / 125) as usize
}

fn flatten(p: &Prompt) -> Vec<i16> {
    p.frames().iter().flatten().copied().collect()
}

/// Mean power at `freq` (Goertzel), as the mean power of a sine of that amplitude.
fn goertzel_power(x: &[i16], freq: f64) -> f64 {
    let w = 2.0 * PI * freq / RATE;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s = f64::from(v) + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    2.0 * (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (x.len() as f64).powi(2)
}

fn mean_power(x: &[i16]) -> f64 {
    x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len() as f64
}

/// Mean power of a sine at `dbm0`: a full-scale sine is +3.14 dBm0 (G.711 A-law), so a
/// 0 dBm0 sine has 10^-0.314 = 0.48529 of its power.
fn dbm0_power(dbm0: f64) -> f64 {
    32768f64.powi(2) / 2.0 * 0.485_289 * 10f64.powf(dbm0 / 10.0)
}

/// The on intervals of one rendering, in samples, from the cadence (merged where no pause
/// separates them).
fn on_intervals(spec: &ToneSpec, total: usize) -> Vec<(usize, usize)> {
    if spec.cadence().is_empty() {
        return vec![(0, total)];
    }
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut at = 0;
    while at < total {
        for &(on, off) in spec.cadence() {
            let (a, b) = (at, (at + n(on)).min(total));
            if a < b {
                match out.last_mut() {
                    Some(last) if last.1 == a => last.1 = b,
                    _ => out.push((a, b)),
                }
            }
            at += n(on) + n(off);
        }
    }
    out
}

#[test]
fn every_plan_tone_has_its_frequencies_levels_and_cadence() {
    let ramp = n(RAMP);
    for country in ALL_COUNTRIES {
        for kind in ALL_KINDS {
            let spec = country.tone(kind);
            let what = format!("{country:?} {kind:?}");
            let length = match spec.period() {
                Some(_) => ToneLength::Periods(2),
                None => ToneLength::Duration(ms(2000)),
            };
            let x = spec.render(8000, length).unwrap();
            let expected_len = match spec.period() {
                Some(p) => 2 * n(p),
                None => 16_000,
            };
            assert_eq!(x.len(), expected_len, "{what}");
            let intervals = on_intervals(&spec, x.len());
            // Off: exactly silent.
            let mut on = vec![false; x.len()];
            for &(a, b) in &intervals {
                on[a..b].iter_mut().for_each(|v| *v = true);
            }
            for (i, (&s, &is_on)) in x.iter().zip(&on).enumerate() {
                if !is_on {
                    assert_eq!(s, 0, "{what}: sample {i} should be silent");
                }
            }
            for &(a, b) in &intervals {
                // Never silent for a millisecond while on, ramps included.
                for w in x[a..b].chunks(8) {
                    assert!(w.iter().any(|&s| s != 0), "{what}: gap in [{a}, {b})");
                }
                // The steady part: each component at its level, and nothing else.
                let steady = &x[a + ramp..b - ramp];
                let mut expected_total = 0.0;
                for c in spec.components() {
                    let measured = goertzel_power(steady, c.freq_hz);
                    let db = 10.0 * (measured / dbm0_power(c.level_dbm0)).log10();
                    assert!(db.abs() < 0.1, "{what}: {} Hz off by {db:.3} dB", c.freq_hz);
                    expected_total += dbm0_power(c.level_dbm0);
                }
                let total = mean_power(steady);
                let db = 10.0 * (total / expected_total).log10();
                assert!(db.abs() < 0.1, "{what}: total power off by {db:.3} dB");
            }
        }
    }
}

#[test]
fn the_plans_are_the_published_ones() {
    let freqs = |c: Country, k: CallProgress| -> Vec<f64> {
        c.tone(k).components().iter().map(|c| c.freq_hz).collect()
    };
    let cadence =
        |c: Country, k: CallProgress| -> Vec<(Duration, Duration)> { c.tone(k).cadence().to_vec() };
    use CallProgress::*;
    use Country::*;
    assert_eq!(freqs(Us, Ringback), [440.0, 480.0]);
    assert_eq!(cadence(Us, Ringback), [(ms(2000), ms(4000))]);
    assert_eq!(freqs(Us, Busy), [480.0, 620.0]);
    assert_eq!(cadence(Us, Busy), [(ms(500), ms(500))]);
    assert_eq!(freqs(Us, Dial), [350.0, 440.0]);
    assert!(cadence(Us, Dial).is_empty());
    assert_eq!(freqs(Uk, Ringback), [400.0, 450.0]);
    assert_eq!(
        cadence(Uk, Ringback),
        [(ms(400), ms(200)), (ms(400), ms(2000))]
    );
    assert_eq!(freqs(Eu, Ringback), [425.0]);
    assert_eq!(cadence(Eu, Ringback), [(ms(1000), ms(4000))]);
    assert_eq!(freqs(Eu, Busy), [425.0]);
    assert_eq!(cadence(Eu, Busy), [(ms(500), ms(500))]);
    assert_eq!(
        Us.tone(Ringback)
            .components()
            .iter()
            .map(|c| c.level_dbm0)
            .collect::<Vec<_>>(),
        [-19.0, -19.0]
    );
    assert_eq!(Country::from_code("GB"), Some(Uk));
    assert_eq!(Country::from_code("us"), Some(Us));
    assert_eq!(Country::from_code("eu"), Some(Eu));
    assert_eq!(Country::from_code("xx"), None);
}

/// Frame by frame: with a cadence in whole 20 ms frames, each frame is entirely on or
/// entirely off, and the pattern is the cadence's.
#[test]
fn cadence_is_exact_to_the_frame() {
    for (spec, pattern) in [
        // UK ringback: 0.4 on, 0.2 off, 0.4 on, 2.0 off = 20, 10, 20, 100 frames.
        (
            Country::Uk.tone(CallProgress::Ringback),
            vec![(true, 20), (false, 10), (true, 20), (false, 100)],
        ),
        // US ringback: 2 s on, 4 s off.
        (
            Country::Us.tone(CallProgress::Ringback),
            vec![(true, 100), (false, 200)],
        ),
        // EU busy: 0.5 / 0.5.
        (
            Country::Eu.tone(CallProgress::Busy),
            vec![(true, 25), (false, 25)],
        ),
    ] {
        let p = spec.prompt(ToneLength::Periods(3)).unwrap();
        let expected: Vec<bool> = pattern
            .iter()
            .flat_map(|&(on, frames)| std::iter::repeat_n(on, frames))
            .collect();
        assert_eq!(p.len(), 3 * expected.len());
        for (i, frame) in p.frames().iter().enumerate() {
            let on = expected[i % expected.len()];
            let power = mean_power(frame);
            if on {
                // Even the first and last frames of a burst, with their 2 ms ramps (two
                // components beat, so a 20 ms frame's power swings around their sum).
                let full = spec
                    .components()
                    .iter()
                    .map(|c| dbm0_power(c.level_dbm0))
                    .sum::<f64>();
                assert!(power > 0.5 * full, "frame {i}: {power} of {full}");
            } else {
                assert_eq!(power, 0.0, "frame {i} should be silent");
            }
        }
    }
}

/// The waveform is one continuous sine per component: every sample of the steady parts
/// equals `A·sin(2π·f·n/8000)` for the sample's index `n` in the whole rendering (to the
/// rounding step), across frame boundaries and period joins alike; and no step between
/// neighbouring samples exceeds the steepest slope of the sum of the components.
#[test]
fn phase_is_continuous_across_frames() {
    let ramp = n(RAMP);
    for spec in [
        Country::Us.tone(CallProgress::Dial),
        Country::Uk.tone(CallProgress::Ringback),
        Country::Us.tone(CallProgress::Busy),
        ToneSpec::continuous(&[Component::new(697.0, -10.0), Component::new(1633.0, -8.0)])
            .unwrap(),
        ToneSpec::beep(),
    ] {
        let length = match spec.period() {
            Some(_) => ToneLength::Periods(2),
            None => ToneLength::Duration(ms(1000)),
        };
        let p = spec.prompt(length).unwrap();
        let x = flatten(&p);
        let render = spec.render(8000, length).unwrap();
        assert_eq!(
            x[..render.len()],
            render[..],
            "frames are the rendering, cut up"
        );
        let intervals = on_intervals(&spec, render.len());
        for &(a, b) in &intervals {
            for (i, &sample) in x.iter().enumerate().take(b - ramp).skip(a + ramp) {
                let ideal: f64 = spec
                    .components()
                    .iter()
                    .map(|c| c.amplitude() * (2.0 * PI * c.freq_hz * i as f64 / RATE).sin())
                    .sum();
                assert!(
                    (f64::from(sample) - ideal).abs() <= 0.5 + 1e-6,
                    "{spec:?}: sample {i} is {sample} not {ideal:.1}"
                );
            }
        }
        let max_slope: f64 = spec
            .components()
            .iter()
            .map(|c| c.amplitude() * 2.0 * PI * c.freq_hz / RATE)
            .sum();
        for (i, w) in x.windows(2).enumerate() {
            let step = (f64::from(w[1]) - f64::from(w[0])).abs();
            assert!(step <= max_slope + 1.0, "{spec:?}: step {step} at {i}");
        }
        // Explicitly at every frame boundary.
        for k in 1..p.len() {
            let i = k * FRAME_SAMPLES;
            let step = (f64::from(x[i]) - f64::from(x[i - 1])).abs();
            assert!(step <= max_slope + 1.0, "frame boundary {k}: step {step}");
        }
    }
}

#[test]
fn length_and_loop_count_are_exact() {
    let busy = Country::Us.tone(CallProgress::Busy); // 1 s period
    for loops in [0, 1, 3, 10] {
        let p = busy.prompt(ToneLength::Periods(loops)).unwrap();
        assert_eq!(p.duration(), Duration::from_secs(u64::from(loops)));
    }
    assert_eq!(
        busy.render(8000, ToneLength::Duration(ms(1500))).unwrap(),
        busy.render(8000, ToneLength::Periods(2)).unwrap()[..12_000]
    );
    // A duration that is not whole frames: the samples are exact, the last frame padded.
    let x = busy.render(8000, ToneLength::Duration(ms(1234))).unwrap();
    assert_eq!(x.len(), 9872);
    let p = busy.prompt(ToneLength::Duration(ms(1234))).unwrap();
    assert_eq!(p.len(), 62);
    assert!(p.frames()[61][9872 - 61 * 160..].iter().all(|&s| s == 0));
    // Other rates: the same tone, more samples.
    let wide = busy.render(48_000, ToneLength::Periods(1)).unwrap();
    assert_eq!(wide.len(), 48_000);
    let dial = Country::Eu.tone(CallProgress::Dial);
    assert_eq!(
        dial.render(16_000, ToneLength::Duration(ms(100)))
            .unwrap()
            .len(),
        1600
    );
    assert_eq!(
        dial.prompt(ToneLength::Periods(1)),
        Err(ToneError::NoPeriod)
    );
}

#[test]
fn beep_is_200_ms_of_1_khz() {
    let spec = ToneSpec::beep();
    let p = spec.prompt(ToneLength::Periods(1)).unwrap();
    assert_eq!(p.duration(), ms(200));
    let x = flatten(&p);
    let steady = &x[n(RAMP)..x.len() - n(RAMP)];
    let db = 10.0 * (goertzel_power(steady, 1000.0) / dbm0_power(-13.0)).log10();
    assert!(db.abs() < 0.1, "{db}");
    // Starts and ends at silence (the ramps), without a click.
    assert!(x[0].abs() < 100 && x[x.len() - 1].abs() < 100);
    // A recording notice: a beep every 15 s.
    let notice = ToneSpec::new(spec.components(), &[(ms(200), ms(14_800))]).unwrap();
    assert_eq!(
        notice.prompt(ToneLength::Periods(2)).unwrap().duration(),
        ms(30_000)
    );
}

#[test]
fn dtmf_digits_are_heard_by_the_inband_detector() {
    let tones = DtmfTones::default();
    let digits = "1234567890*#ABCD";
    let p = tones.prompt(digits).unwrap();
    assert_eq!(p.duration(), ms(150) * digits.len() as u32);
    let mut detector = InbandDtmf::new();
    for frame in p.frames() {
        detector.process(frame);
    }
    // A little silence so the last key counts as released.
    for _ in 0..5 {
        detector.process(&[0; FRAME_SAMPLES]);
    }
    detector.finish();
    let mut heard = String::new();
    while let Some(d) = detector.poll_digit() {
        assert!(
            (85..=115).contains(&d.duration_ms),
            "{}: held {} ms",
            d.digit,
            d.duration_ms
        );
        heard.push(d.digit);
    }
    assert_eq!(heard, digits);

    // Each digit: its two tones, at their levels, 100 ms on, 50 ms off.
    let x = tones.render("5", 8000).unwrap();
    assert_eq!(x.len(), 1200);
    assert!(x[800..].iter().all(|&s| s == 0));
    let steady = &x[n(RAMP)..800 - n(RAMP)];
    for (freq, level) in [(770.0, -10.0), (1336.0, -8.0)] {
        let db = 10.0 * (goertzel_power(steady, freq) / dbm0_power(level)).log10();
        assert!(db.abs() < 0.15, "{freq} Hz: {db:.3} dB");
    }
    // Lower case A-D are the same keys.
    assert_eq!(tones.render("a", 8000), tones.render("A", 8000));
}

#[test]
fn bad_specifications_are_refused() {
    let ok = Component::new(425.0, -13.0);
    assert_eq!(ToneSpec::new(&[], &[]), Err(ToneError::ComponentCount(0)));
    assert_eq!(
        ToneSpec::new(&[ok; 5], &[]),
        Err(ToneError::ComponentCount(5))
    );
    for freq in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            ToneSpec::new(&[Component::new(freq, -13.0)], &[]),
            Err(ToneError::Frequency(_))
        ));
    }
    // Above half the rate: refused when rendered at that rate, fine at a higher one.
    let high = ToneSpec::continuous(&[Component::new(5000.0, -13.0)]).unwrap();
    assert_eq!(
        high.render(8000, ToneLength::Duration(ms(20))),
        Err(ToneError::Frequency(5000.0))
    );
    assert!(high.render(16_000, ToneLength::Duration(ms(20))).is_ok());
    // Clipping: one component at +3.14 dBm0 is full scale; two at 0 dBm0 together exceed it.
    assert!(matches!(
        ToneSpec::new(&[Component::new(1000.0, 3.2)], &[]),
        Err(ToneError::Level(_))
    ));
    assert!(matches!(
        ToneSpec::new(
            &[Component::new(1000.0, 0.0), Component::new(1200.0, 0.0)],
            &[]
        ),
        Err(ToneError::Level(_))
    ));
    assert!(ToneSpec::new(&[Component::new(1000.0, 3.0)], &[]).is_ok());
    assert!(matches!(
        ToneSpec::new(&[Component::new(1000.0, f64::NAN)], &[]),
        Err(ToneError::Level(_))
    ));
    assert_eq!(
        ToneSpec::new(&[ok], &[(ms(0), ms(100))]),
        Err(ToneError::Cadence)
    );
    let spec = ToneSpec::new(&[ok], &[(Duration::from_micros(10), ms(100))]).unwrap();
    assert_eq!(
        spec.render(8000, ToneLength::Periods(1)),
        Err(ToneError::Cadence)
    );
    let ringback = Country::Eu.tone(CallProgress::Ringback); // 5 s period
    assert_eq!(
        ringback.prompt(ToneLength::Periods(121)),
        Err(ToneError::TooLong)
    );
    assert!(ringback.prompt(ToneLength::Periods(120)).is_ok());
    assert_eq!(
        ringback.prompt(ToneLength::Duration(Duration::from_secs(601))),
        Err(ToneError::TooLong)
    );
    assert_eq!(
        ringback.prompt(ToneLength::Periods(u32::MAX)),
        Err(ToneError::TooLong)
    );
    let long = ToneSpec::new(&[ok], &[(Duration::MAX, Duration::MAX)]).unwrap();
    assert_eq!(
        long.render(8000, ToneLength::Periods(1)),
        Err(ToneError::TooLong)
    );
    assert_eq!(
        ringback.render(999, ToneLength::Periods(1)),
        Err(ToneError::Rate(999))
    );
    let tones = DtmfTones::default();
    assert_eq!(tones.prompt("12x"), Err(ToneError::Digit('X')));
    assert!(tones.prompt("").unwrap().is_empty());
}

#[test]
fn tones_and_prompts_make_a_playlist() {
    let beep = ToneSpec::beep().prompt(ToneLength::Periods(1)).unwrap();
    let pause = Prompt::silence(ms(300)).unwrap();
    let ring = Country::Uk
        .tone(CallProgress::Ringback)
        .prompt(ToneLength::Periods(2))
        .unwrap();
    let list = Prompt::concat(&[beep.clone(), pause, ring.clone()]);
    assert_eq!(list.duration(), ms(200 + 300 + 6000));
    let frames: &[Frame] = list.frames();
    assert_eq!(frames[..10], beep.frames()[..]);
    assert!(frames[10..25].iter().flatten().all(|&s| s == 0));
    assert_eq!(frames[25..], ring.frames()[..]);
}
