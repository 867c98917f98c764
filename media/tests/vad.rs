//! Voice activity detection on generated audio: silence, steady and rising noise, tone
//! bursts at known times, and espeak-ng speech when it is installed.

mod common;
use std::f32::consts::PI;
use std::time::Duration;

use hotline_media::vad::{Vad, VadConfig, VadEvent, VadState};
use rand::{Rng, SeedableRng, rngs::StdRng};

const FRAME: usize = 160;
const FRAME_MS: u64 = 20;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Audio under construction, in f32 on the i16 scale, at 8 kHz.
struct Signal {
    samples: Vec<f32>,
}

impl Signal {
    fn new(total_ms: u64) -> Self {
        Signal {
            samples: vec![0.0; total_ms as usize * 8],
        }
    }

    /// White Gaussian noise whose level moves linearly from `from_dbov` to `to_dbov`.
    fn noise(&mut self, rng: &mut StdRng, from_dbov: f32, to_dbov: f32) -> &mut Self {
        let n = self.samples.len() as f32;
        for (i, s) in self.samples.iter_mut().enumerate() {
            let dbov = from_dbov + (to_dbov - from_dbov) * i as f32 / n;
            let sigma = 32768.0 * 10f32.powf(dbov / 20.0);
            let u1: f32 = rng.random_range(f32::EPSILON..1.0);
            let u2: f32 = rng.random();
            *s += sigma * (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos();
        }
        self
    }

    /// A voiced burst (150 Hz and its next harmonics) at `dbov`, from `start` to `end` ms.
    fn burst(&mut self, start_ms: u64, end_ms: u64, dbov: f32) -> &mut Self {
        // Three equal harmonics: power 3·A²/2.
        let a = 32768.0 * (2.0 / 3.0 * 10f32.powf(dbov / 10.0)).sqrt();
        for n in start_ms as usize * 8..end_ms as usize * 8 {
            let t = n as f32 / 8000.0;
            self.samples[n] += a
                * ((2.0 * PI * 150.0 * t).sin()
                    + (2.0 * PI * 300.0 * t).sin()
                    + (2.0 * PI * 450.0 * t).sin());
        }
        self
    }

    fn pcm(&self) -> Vec<i16> {
        self.samples
            .iter()
            .map(|s| s.round().clamp(-32768.0, 32767.0) as i16)
            .collect()
    }
}

/// What a run produced: each event with the stream position at which it came out, and
/// the state after every frame.
struct Run {
    events: Vec<(Duration, VadEvent)>,
    states: Vec<VadState>,
}

fn run(pcm: &[i16], config: VadConfig) -> Run {
    let mut vad = Vad::new(config);
    let mut events = Vec::new();
    let mut states = Vec::new();
    for frame in pcm.chunks(FRAME) {
        states.push(vad.process(frame));
        while let Some(e) = vad.poll_event() {
            events.push((vad.position(), e));
        }
    }
    vad.finish();
    while let Some(e) = vad.poll_event() {
        events.push((vad.position(), e));
    }
    Run { events, states }
}

/// The speech segments (start, end) a run found.
fn segments(run: &Run) -> Vec<(Duration, Duration)> {
    let mut out = Vec::new();
    let mut start = None;
    for (_, e) in &run.events {
        match *e {
            VadEvent::SpeechStart { at } => start = Some(at),
            VadEvent::SpeechEnd { at, duration } => {
                let s = start.take().expect("an end follows a start");
                assert_eq!(at - s, duration);
                out.push((s, at));
            }
            _ => {}
        }
    }
    assert!(start.is_none(), "finish closes every segment");
    out
}

fn near(a: Duration, b: Duration, tolerance: Duration) -> bool {
    a.abs_diff(b) <= tolerance
}

#[test]
fn silence_and_steady_noise_are_not_speech() {
    let zeros = vec![0i16; 8000 * 10];
    assert!(run(&zeros, VadConfig::default()).events.is_empty());
    for (seed, dbov) in [-70.0, -50.0, -35.0, -20.0].into_iter().enumerate() {
        let mut rng = StdRng::seed_from_u64(seed as u64);
        let mut s = Signal::new(20_000);
        s.noise(&mut rng, dbov, dbov);
        let r = run(&s.pcm(), VadConfig::default());
        assert!(r.events.is_empty(), "noise at {dbov} dBov: {:?}", r.events);
    }
}

#[test]
fn bursts_are_found_at_the_right_times() {
    let mut rng = StdRng::seed_from_u64(11);
    let bursts = [(1000, 1500), (2510, 2790), (4005, 5200), (6000, 6100)];
    let mut s = Signal::new(7000);
    s.noise(&mut rng, -55.0, -55.0);
    for (i, (a, b)) in bursts.into_iter().enumerate() {
        s.burst(a, b, -35.0 + 10.0 * i as f32); // -35 .. -5 dBov
    }
    let config = VadConfig::default();
    let r = run(&s.pcm(), config);
    let found = segments(&r);
    assert_eq!(found.len(), bursts.len(), "{found:?}");
    let frame = ms(FRAME_MS);
    for ((start, end), (a, b)) in found.iter().zip(bursts) {
        // Segments start and end on frame boundaries: within one frame of the truth.
        assert!(near(*start, ms(a), frame), "{start:?} vs {a} ms");
        assert!(near(*end, ms(b), frame), "{end:?} vs {b} ms");
    }
    // Starts are reported after the onset frames; ends after the hangover.
    for (reported_at, e) in &r.events {
        match *e {
            VadEvent::SpeechStart { at } => {
                assert_eq!(*reported_at, at + frame * config.onset_frames)
            }
            VadEvent::SpeechEnd { at, .. } => {
                assert!(*reported_at >= at + config.hangover);
                assert!(*reported_at < at + config.hangover + frame);
            }
            _ => {}
        }
    }
    // The per-frame state: speech from the second active frame to the hangover's end.
    let (a, b) = bursts[2];
    let frame_of = |t: u64| (t / FRAME_MS) as usize;
    assert_eq!(r.states[frame_of(a) - 1], VadState::Silence);
    assert_eq!(r.states[frame_of(a)], VadState::Silence); // first active frame: onset
    assert!(
        r.states[frame_of(a) + 1..frame_of(b)]
            .iter()
            .all(|s| *s == VadState::Speech)
    );
    // The burst ends on a frame boundary: its last frame is `frame_of(b) - 1`, and the
    // 200 ms hangover covers the 9 frames after it; the 10th is silence.
    assert_eq!(r.states[frame_of(b) + 8], VadState::Speech);
    assert_eq!(r.states[frame_of(b) + 9], VadState::Silence);
}

#[test]
fn short_pauses_are_bridged_long_ones_split() {
    let mut rng = StdRng::seed_from_u64(12);
    let mut s = Signal::new(5000);
    s.noise(&mut rng, -60.0, -60.0);
    // 150 ms pause: within the 200 ms hangover. 400 ms pause: a new segment.
    s.burst(1000, 1400, -20.0)
        .burst(1550, 2000, -20.0)
        .burst(2400, 3000, -20.0);
    let found = segments(&run(&s.pcm(), VadConfig::default()));
    assert_eq!(found, [(ms(1000), ms(2000)), (ms(2400), ms(3000))]);

    // One frame of sound is a click, not speech.
    let mut s = Signal::new(3000);
    s.noise(&mut rng, -60.0, -60.0).burst(1000, 1020, -10.0);
    assert!(segments(&run(&s.pcm(), VadConfig::default())).is_empty());
}

#[test]
fn a_slowly_rising_noise_floor_does_not_trigger() {
    for (seed, (from, to, secs)) in [(-70.0, -30.0, 40), (-60.0, -20.0, 20), (-45.0, -65.0, 10)]
        .into_iter()
        .enumerate()
    {
        let mut rng = StdRng::seed_from_u64(20 + seed as u64);
        let total = secs * 1000 + 2000;
        let mut s = Signal::new(secs * 1000);
        s.noise(&mut rng, from, to);
        // Then the noise stays at its last level, and someone speaks 15 dB above it.
        let mut tail = Signal::new(2000);
        tail.noise(&mut rng, to, to).burst(1000, 1600, to + 15.0);
        s.samples.extend(tail.samples);
        assert_eq!(s.samples.len(), total as usize * 8);
        let found = segments(&run(&s.pcm(), VadConfig::default()));
        let start = ms(secs * 1000 + 1000);
        let end = ms(secs * 1000 + 1600);
        assert_eq!(
            found.len(),
            1,
            "{from} → {to} dBov over {secs} s: {found:?}"
        );
        assert!(near(found[0].0, start, ms(FRAME_MS)), "{found:?}");
        assert!(near(found[0].1, end, ms(FRAME_MS)), "{found:?}");
    }
}

#[test]
fn noise_that_jumps_up_is_activity_only_until_the_floor_catches_up() {
    let mut rng = StdRng::seed_from_u64(30);
    let mut s = Signal::new(3000);
    s.noise(&mut rng, -65.0, -65.0);
    let mut loud = Signal::new(10_000);
    loud.noise(&mut rng, -35.0, -35.0);
    s.samples.extend(loud.samples);
    let config = VadConfig::default();
    let found = segments(&run(&s.pcm(), config));
    assert_eq!(found.len(), 1, "{found:?}");
    let (start, end) = found[0];
    assert!(near(start, ms(3000), ms(FRAME_MS)));
    // The jump leaves the noise window after at most the window and one part of it.
    assert!(
        end <= ms(3000) + config.noise_window + ms(200 + FRAME_MS),
        "{end:?}"
    );
}

#[test]
fn lost_packets_played_as_zeros_do_not_move_the_floor() {
    let mut rng = StdRng::seed_from_u64(40);
    let mut s = Signal::new(10_000);
    s.noise(&mut rng, -40.0, -40.0);
    // Every 500 ms, a 20 ms frame of digital silence.
    for k in 1..20 {
        let at = k * 500 * 8;
        s.samples[at..at + FRAME].fill(0.0);
    }
    let mut vad = Vad::new(VadConfig::default());
    let pcm = s.pcm();
    for frame in pcm.chunks(FRAME) {
        assert_eq!(vad.process(frame), VadState::Silence);
    }
    assert!((vad.noise_floor_dbov() + 40.0).abs() < 2.0);
    assert_eq!(vad.poll_event(), None);
}

/// espeak-ng speech with pauses (needs espeak-ng and sox): two utterances 1.5 s apart are
/// found where their audio is.
#[test]
fn espeak_speech_segments() {
    let utterances: Vec<Vec<i16>> = [
        "Welcome to the hotline.",
        "Please say the reason for your call after the tone.",
    ]
    .into_iter()
    .map(|text| common::speak(text, None))
    .collect();

    // 1 s of line noise, utterance, 1.5 s, utterance, 1 s.
    let mut rng = StdRng::seed_from_u64(50);
    let mut pcm = Vec::new();
    let mut spans = Vec::new();
    let silence = |pcm: &mut Vec<i16>, ms: usize| pcm.extend(std::iter::repeat_n(0i16, ms * 8));
    silence(&mut pcm, 1000);
    for (i, u) in utterances.iter().enumerate() {
        // Where the utterance's sound really is: its first and last loud sample.
        let loud = |s: &&i16| s.unsigned_abs() > 300;
        let first = u.iter().position(|s| loud(&s)).unwrap();
        let last = u.len() - u.iter().rev().position(|s| loud(&s)).unwrap();
        spans.push((pcm.len() + first, pcm.len() + last));
        pcm.extend_from_slice(u);
        silence(&mut pcm, if i == 0 { 1500 } else { 1000 });
    }
    for s in &mut pcm {
        let noise: f32 = rng.random_range(-20.0..20.0); // about -67 dBov
        *s = s.saturating_add(noise as i16);
    }
    let found = segments(&run(&pcm, VadConfig::default()));
    assert!(!found.is_empty());
    let to_time = |samples: usize| Duration::from_micros(samples as u64 * 125);
    let (first_start, _) = spans[0];
    let (_, last_end) = spans[1];
    let tolerance = ms(2 * FRAME_MS);
    assert!(
        near(found[0].0, to_time(first_start), tolerance),
        "{found:?} vs {spans:?}"
    );
    assert!(
        near(found.last().unwrap().1, to_time(last_end), tolerance),
        "{found:?} vs {spans:?}"
    );
    // Nothing in the pause between the two utterances.
    let gap = (
        to_time(spans[0].1) + tolerance,
        to_time(spans[1].0) - tolerance,
    );
    assert!(
        found.iter().all(|(s, e)| *e <= gap.0 || *s >= gap.1),
        "{found:?} vs {spans:?}"
    );
}
