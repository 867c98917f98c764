//! Drives `JitterBuffer` and `Plc` with simulated time and a simulated network (seeded):
//! no sockets, no clock.

use std::time::{Duration, Instant};

use hotline_media::jitter::{JitterBuffer, JitterConfig, JitterStats, Playout, Plc, Pushed};
use hotline_media::rtp::{RtpHeader, RtpPacket};
use hotline_media::{FRAME_DURATION, FRAME_SAMPLES, Frame};
use rand::{Rng, SeedableRng, rngs::StdRng};

mod common;
use common::allocations;

// ---- the simulated network ----

#[allow(clippy::disallowed_methods)] // One arbitrary origin; every later time is an offset.
fn t0() -> Instant {
    Instant::now()
}

const MS: Duration = Duration::from_millis(1);

/// One packet on the wire.
#[derive(Debug, Clone, Copy)]
struct Packet {
    arrival: Duration,
    seq: u16,
    ts: u32,
    marker: bool,
}

/// What one pop returned, without the borrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    Frame(u16),
    Lost(u16),
    Stretch,
    Empty,
}

/// A sender at 20 ms a packet from `seq0`/`ts0`; `period` is the real time between
/// packets (20 ms, or off by the sender's clock drift).
fn sender(count: usize, seq0: u16, ts0: u32, period: Duration) -> Vec<Packet> {
    sender_at(count, seq0, ts0, period, FRAME_SAMPLES as u32)
}

/// As `sender`, with `step` timestamp units a packet (960 for Opus's 48 kHz clock).
fn sender_at(count: usize, seq0: u16, ts0: u32, period: Duration, step: u32) -> Vec<Packet> {
    (0..count)
        .map(|i| Packet {
            arrival: period * i as u32,
            seq: seq0.wrapping_add(i as u16),
            ts: ts0.wrapping_add(step * i as u32),
            marker: i == 0,
        })
        .collect()
}

/// Adds one-way delay: `base` plus uniform jitter in `0..=jitter`. With `fifo` the network
/// keeps order (a packet never overtakes the one before it).
fn delay(packets: &mut [Packet], rng: &mut StdRng, base: Duration, jitter: Duration, fifo: bool) {
    let mut last = Duration::ZERO;
    for p in packets.iter_mut() {
        let j = Duration::from_micros(rng.random_range(0..=jitter.as_micros() as u64));
        p.arrival += base + j;
        if fifo {
            p.arrival = p.arrival.max(last);
            last = p.arrival;
        }
    }
}

fn payload_for(seq: u16) -> [u8; FRAME_SAMPLES] {
    let mut p = [0xD5; FRAME_SAMPLES];
    p[..2].copy_from_slice(&seq.to_be_bytes());
    p
}

/// Runs the buffer: packets pushed at their arrival, a pop every 20 ms from `phase`
/// until `ticks` pops; `watch` sees the stats after every pop.
fn simulate(
    jb: &mut JitterBuffer,
    packets: &[Packet],
    ticks: usize,
    phase: Duration,
    watch: impl FnMut(usize, &JitterStats),
) -> Vec<Out> {
    simulate_ticks(
        jb,
        packets,
        ticks,
        |tick| phase + FRAME_DURATION * tick as u32,
        watch,
    )
}

/// As `simulate`, with each tick's time from `tick_at`.
fn simulate_ticks(
    jb: &mut JitterBuffer,
    packets: &[Packet],
    ticks: usize,
    mut tick_at: impl FnMut(usize) -> Duration,
    mut watch: impl FnMut(usize, &JitterStats),
) -> Vec<Out> {
    let start = t0();
    let mut order: Vec<Packet> = packets.to_vec();
    order.sort_by_key(|p| p.arrival);
    let mut next = 0;
    let mut out = Vec::with_capacity(ticks);
    for tick in 0..ticks {
        let now = tick_at(tick);
        while next < order.len() && order[next].arrival <= now {
            let p = order[next];
            jb.push(
                start + p.arrival,
                p.seq,
                p.ts,
                p.marker,
                &payload_for(p.seq),
            );
            next += 1;
        }
        let o = match jb.pop(start + now) {
            Playout::Frame { payload, seq, .. } => {
                assert_eq!(payload, &payload_for(seq)[..], "payload of {seq}");
                Out::Frame(seq)
            }
            Playout::Lost { seq, .. } => Out::Lost(seq),
            Playout::Stretch => Out::Stretch,
            Playout::Empty => Out::Empty,
            _ => unreachable!("no other playout in this version"),
        };
        out.push(o);
        watch(tick, &jb.stats());
    }
    // The stream's end looks like an underrun (concealed up to max_conceal): cut it off.
    let end = out
        .iter()
        .rposition(|o| matches!(o, Out::Frame(_)))
        .map_or(0, |i| i + 1);
    out.truncate(end);
    out
}

fn concealed(out: &[Out]) -> usize {
    out.iter().filter(|o| matches!(o, Out::Lost(_))).count()
}

fn played(out: &[Out]) -> Vec<u16> {
    out.iter()
        .filter_map(|o| match o {
            Out::Frame(s) => Some(*s),
            _ => None,
        })
        .collect()
}

fn lost(out: &[Out]) -> Vec<u16> {
    out.iter()
        .filter_map(|o| match o {
            Out::Lost(s) => Some(*s),
            _ => None,
        })
        .collect()
}

fn consecutive(from: u16, n: usize) -> Vec<u16> {
    (0..n).map(|i| from.wrapping_add(i as u16)).collect()
}

// ---- the buffer ----

#[test]
fn jittery_stream_plays_every_packet_in_order_and_the_delay_covers_the_jitter() {
    let mut rng = StdRng::seed_from_u64(1);
    let n = 3000; // one minute
    let mut packets = sender(n, 1000, 5000, FRAME_DURATION);
    delay(&mut packets, &mut rng, 30 * MS, 60 * MS, true);
    let mut jb = JitterBuffer::default();
    let mut max_delay = Duration::ZERO;
    let out = simulate(&mut jb, &packets, n + 20, 7 * MS, |tick, s| {
        if tick > 100 {
            max_delay = max_delay.max(s.delay);
        }
    });
    let s = jb.stats();
    assert_eq!(played(&out), consecutive(1000, n), "{s:?}");
    assert_eq!(
        (s.lost, s.late, s.dropped, concealed(&out)),
        (0, 0, 0, 0),
        "{s:?}"
    );
    assert!(
        s.target_delay >= 50 * MS,
        "target covers ~60 ms of jitter: {s:?}"
    );
    assert!(
        max_delay <= 200 * MS + FRAME_DURATION,
        "bounded: {max_delay:?}"
    );
    assert!(
        s.jitter > 5 * MS && s.jitter < 40 * MS,
        "RFC 3550 jitter: {s:?}"
    );

    // The same with a sloppy driver whose ticks come up to 3 ms early or late.
    let mut tick_rng = StdRng::seed_from_u64(11);
    let mut jb = JitterBuffer::default();
    let out = simulate_ticks(
        &mut jb,
        &packets,
        n + 20,
        |tick| {
            FRAME_DURATION * (tick as u32 + 1)
                + Duration::from_micros(tick_rng.random_range(0..6000))
                - 3 * MS
        },
        |_, _| {},
    );
    let s = jb.stats();
    assert_eq!(played(&out).len() + s.dropped as usize, n, "{s:?}");
    assert_eq!((s.lost, s.late, concealed(&out)), (0, 0, 0), "{s:?}");
    assert!(s.stretched + s.dropped <= 4, "no see-saw: {s:?}");
}

#[test]
fn the_delay_grows_fast_on_a_jitter_spike_and_shrinks_slowly_after() {
    // 20 s quiet, 20 s of 0-120 ms jitter, 20 s quiet again.
    let mut rng = StdRng::seed_from_u64(8);
    let n = 3000;
    let mut packets = sender(n, 0, 0, FRAME_DURATION);
    let mut last = Duration::ZERO;
    for (i, p) in packets.iter_mut().enumerate() {
        let jitter = if (1000..2000).contains(&i) {
            120_000
        } else {
            3_000
        };
        p.arrival += 30 * MS + Duration::from_micros(rng.random_range(0..=jitter));
        p.arrival = p.arrival.max(last);
        last = p.arrival;
    }
    let mut jb = JitterBuffer::default();
    let mut target_at = Vec::new();
    let mut late_at = Vec::new();
    let out = simulate(&mut jb, &packets, n + 20, 9 * MS, |tick, s| {
        target_at.push(s.target_delay);
        late_at.push(s.late);
        let _ = tick;
    });
    let s = jb.stats();
    assert!(target_at[990] <= 30 * MS, "quiet: {:?}", target_at[990]);
    assert!(
        target_at[1100] >= 100 * MS,
        "two seconds into the spike: {:?}",
        target_at[1100]
    );
    let late_in_spike = late_at[2000] - late_at[1000];
    assert!(late_in_spike <= 30, "grows fast: {late_in_spike} late");
    assert_eq!(late_at[1200], late_at[2000], "none late once grown: {s:?}");
    eprintln!(
        "target {:?} {:?} {:?} {:?}, {late_in_spike} late",
        target_at[1010], target_at[1050], target_at[2150], target_at[2300]
    );
    assert!(
        target_at[2150] >= 100 * MS,
        "remembers the spike for a few seconds"
    );
    assert!(
        s.target_delay <= 30 * MS && s.delay <= 60 * MS,
        "shrunk again: {s:?}"
    );
    assert_eq!(
        played(&out).len() + s.dropped as usize + s.late as usize,
        n,
        "{s:?}"
    );
}

#[test]
fn a_quiet_network_keeps_the_delay_low() {
    let mut rng = StdRng::seed_from_u64(2);
    let n = 1500;
    let mut packets = sender(n, 0, 0, FRAME_DURATION);
    delay(&mut packets, &mut rng, 40 * MS, 2 * MS, true);
    let mut jb = JitterBuffer::default();
    let out = simulate(&mut jb, &packets, n + 20, 3 * MS, |_, _| {});
    let s = jb.stats();
    assert_eq!(played(&out).len() + s.dropped as usize, n, "{s:?}");
    assert_eq!(s.target_delay, 20 * MS, "min delay once warmed up: {s:?}");
    assert!(s.delay <= 50 * MS, "shrunk from the initial 60 ms: {s:?}");
    assert!(
        s.dropped <= 3,
        "shrinking drops single frames, rarely: {s:?}"
    );
}

#[test]
fn reordered_packets_play_in_order() {
    let mut rng = StdRng::seed_from_u64(3);
    let n = 2000;
    let mut packets = sender(n, 60000, 0, FRAME_DURATION);
    delay(&mut packets, &mut rng, 20 * MS, 5 * MS, true);
    let mut swaps = 0;
    let mut i = 0;
    while i + 1 < n {
        if rng.random_bool(0.2) {
            let (a, b) = (packets[i].arrival, packets[i + 1].arrival);
            packets[i].arrival = b;
            packets[i + 1].arrival = a + MS / 10; // strictly after
            swaps += 1;
            i += 1;
        }
        i += 1;
    }
    let mut jb = JitterBuffer::default();
    let out = simulate(&mut jb, &packets, n + 20, 11 * MS, |_, _| {});
    let s = jb.stats();
    assert_eq!(played(&out).len() + s.dropped as usize, n);
    let p = played(&out);
    assert!(
        p.windows(2).all(|w| w[1].wrapping_sub(w[0]) as i16 > 0),
        "in order"
    );
    assert_eq!((s.lost, s.late, concealed(&out)), (0, 0, 0), "{s:?}");
    assert_eq!(s.reordered, swaps, "{s:?}");
}

#[test]
fn the_packet_after_a_loss_can_be_peeked_for_fec() {
    let mut packets = sender(40, 65_530, 0, FRAME_DURATION);
    packets.retain(|p| p.seq != 2);
    let start = t0();
    let mut jb = JitterBuffer::default();
    let mut peeked = Vec::new();
    for tick in 0..60u32 {
        let now = FRAME_DURATION * tick;
        for p in packets.iter().filter(|p| p.arrival + 40 * MS == now) {
            jb.push(start + now, p.seq, p.ts, p.marker, &payload_for(p.seq));
        }
        let lost = match jb.pop(start + now) {
            Playout::Lost { seq, .. } => Some(seq),
            _ => None,
        };
        if let Some(seq) = lost {
            assert_eq!(jb.peek(seq), None, "the lost packet is not here");
            let next = jb.peek(seq.wrapping_add(1)).map(<[u8]>::to_vec);
            peeked.push((seq, next));
        }
    }
    // The hole, with its successor here; then the stream's end (an underrun, five
    // frames of max_conceal) with nothing after it.
    assert_eq!(peeked[0], (2, Some(payload_for(3).to_vec())));
    assert_eq!(peeked.len(), 6, "{peeked:?}");
    assert!(peeked[1..].iter().all(|(_, next)| next.is_none()));
    // Played packets are gone.
    assert_eq!(jb.peek(3), None);
}

#[test]
fn a_loss_burst_is_reported_exactly_and_the_stream_resumes() {
    for jitter in [Duration::ZERO, 10 * MS] {
        let mut rng = StdRng::seed_from_u64(4);
        let n = 1000;
        let mut packets = sender(n, 100, 0, FRAME_DURATION);
        delay(&mut packets, &mut rng, 40 * MS, jitter, true);
        let burst_a = consecutive(400, 5);
        let burst_b = consecutive(700, 3);
        packets.retain(|p| !burst_a.contains(&p.seq) && !burst_b.contains(&p.seq));
        let mut jb = JitterBuffer::default();
        let out = simulate(&mut jb, &packets, n + 20, 5 * MS, |_, _| {});
        let s = jb.stats();
        let mut expected = burst_a.clone();
        expected.extend(&burst_b);
        assert_eq!(lost(&out), expected, "jitter {jitter:?}: {s:?}");
        assert_eq!((s.lost, concealed(&out)), (8, 8), "{s:?}");
        assert_eq!(played(&out).len() + s.dropped as usize, n - 8, "{s:?}");
        assert_eq!(*played(&out).last().unwrap(), 1099);
    }
}

#[test]
fn a_48_khz_clock_plays_exactly_as_8_khz() {
    // One scenario on both clocks: jitter, a loss burst, a second of silence, and a
    // timestamp wrap. Opus's 960 units a frame must play frame for frame as G.711's 160.
    let run = |clock_rate: u32| {
        let step = clock_rate / 50;
        let mut rng = StdRng::seed_from_u64(48);
        let n = 600;
        let mut packets = sender_at(n, 65_300, u32::MAX - step * 100 + 1, FRAME_DURATION, step);
        for p in packets.iter_mut().skip(300) {
            // Talkspurt 2 starts a second later on the sender's clock.
            p.arrival += Duration::from_secs(1);
            p.ts = p.ts.wrapping_add(clock_rate);
        }
        packets[300].marker = true;
        delay(&mut packets, &mut rng, 30 * MS, 40 * MS, true);
        packets.retain(|p| !consecutive(65_400, 3).contains(&p.seq));
        let mut jb = JitterBuffer::new(JitterConfig {
            clock_rate,
            ..JitterConfig::default()
        });
        let out = simulate(&mut jb, &packets, n + 80, 3 * MS, |_, _| {});
        (out, jb.stats())
    };
    let (narrow, ns) = run(8000);
    let (wide, ws) = run(48000);
    // The burst, then the end of talkspurt 1 concealed as an underrun (max_conceal).
    assert_eq!(lost(&narrow)[..3], consecutive(65_400, 3), "{ns:?}");
    assert_eq!(ns.lost, 3, "{ns:?}");
    assert_eq!(
        played(&narrow).len() + ns.dropped as usize,
        600 - 3,
        "{ns:?}"
    );
    assert_eq!(wide, narrow, "48 kHz: {ws:?}\n8 kHz: {ns:?}");
    assert_eq!(
        (ws.lost, ws.late, ws.dropped, ws.stretched),
        (ns.lost, ns.late, ns.dropped, ns.stretched)
    );
    assert!(ws.delay.abs_diff(ns.delay) <= MS, "{ws:?} {ns:?}");
    // RFC 3550 jitter in timestamp units follows the clock.
    assert!(ws.jitter.abs_diff(ns.jitter) <= MS, "{ws:?} {ns:?}");
    let per_ms = f64::from(ws.jitter_rtp) / ws.jitter.as_secs_f64() / 1000.0;
    assert!((47.0..=49.0).contains(&per_ms), "{ws:?}");
}

#[test]
fn clock_drift_neither_grows_nor_starves_the_buffer() {
    // The sender's clock runs 0.5% fast, then 0.5% slow: ten simulated minutes each.
    for (drift, name) in [(0.995, "fast"), (1.005, "slow")] {
        let mut rng = StdRng::seed_from_u64(5);
        let n = 30_000;
        let period = FRAME_DURATION.mul_f64(drift);
        let mut packets = sender(n, 7, 77, period);
        delay(&mut packets, &mut rng, 25 * MS, 20 * MS, true);
        let ticks = (period * n as u32).as_micros() / 20_000;
        let mut jb = JitterBuffer::default();
        let (mut most_buffered, mut least_delay, mut most_delay) =
            (0, Duration::MAX, Duration::ZERO);
        let out = simulate(&mut jb, &packets, ticks as usize, 13 * MS, |tick, s| {
            if tick > 100 {
                most_buffered = most_buffered.max(s.buffered);
                least_delay = least_delay.min(s.delay);
                most_delay = most_delay.max(s.delay);
            }
        });
        let s = jb.stats();
        eprintln!("{name}: {s:?} buffered<={most_buffered} delay {least_delay:?}..{most_delay:?}");
        assert!(
            most_buffered <= 10,
            "{name}: fill bounded ({most_buffered})"
        );
        assert!(
            least_delay >= 20 * MS - 4 * MS && most_delay <= 200 * MS,
            "{name}"
        );
        assert!(s.underruns <= 10, "{name}: few underruns: {s:?}");
        // 0.5% of 30,000 frames must be dropped or inserted: about 150.
        let adjustments = if drift < 1.0 { s.dropped } else { s.stretched };
        assert!((100..=250).contains(&adjustments), "{name}: {s:?}");
        assert!(played(&out).len() >= n - 300, "{name}");
    }
}

#[test]
fn sequence_numbers_and_timestamps_wrap() {
    let mut jb = JitterBuffer::new(JitterConfig {
        initial_delay: 20 * MS,
        ..JitterConfig::default()
    });
    let packets = sender(300, 65_400, u32::MAX - 160 * 50 + 1, FRAME_DURATION);
    let start = t0();
    let mut frames = Vec::new();
    let mut ticks = 0;
    for p in &packets {
        jb.push(
            start + p.arrival,
            p.seq,
            p.ts,
            p.marker,
            &payload_for(p.seq),
        );
        if let Playout::Frame { seq, timestamp, .. } = jb.pop(start + p.arrival) {
            frames.push((seq, timestamp));
        }
        ticks += 1;
    }
    let s = jb.stats();
    assert_eq!(
        (s.lost, s.late, s.restarts, s.discarded),
        (0, 0, 0, 0),
        "{s:?}"
    );
    assert!(frames.len() >= ticks - 5);
    for w in frames.windows(2) {
        assert_eq!(w[1].0, w[0].0.wrapping_add(1));
        assert_eq!(w[1].1, w[0].1.wrapping_add(160));
    }
    assert!(frames.iter().any(|&(seq, _)| seq == 0) && frames.iter().any(|&(_, ts)| ts < 1000));
}

#[test]
fn duplicates_and_late_packets_are_dropped_and_counted() {
    let start = t0();
    let at = |ms: u64| start + Duration::from_millis(ms);
    let mut jb = JitterBuffer::default();
    let p = payload_for(0);
    assert_eq!(jb.push(at(0), 10, 0, true, &p), Pushed::Stored);
    assert_eq!(jb.push(at(1), 10, 0, true, &p), Pushed::Duplicate);
    // 11 goes missing for a while; 12 and 13 arrive.
    assert_eq!(jb.push(at(40), 12, 320, false, &p), Pushed::Stored);
    assert_eq!(jb.push(at(60), 13, 480, false, &p), Pushed::Stored);
    let mut outs = Vec::new();
    for ms in [60, 80, 100, 120] {
        outs.push(match jb.pop(at(ms)) {
            Playout::Frame { seq, .. } => Out::Frame(seq),
            Playout::Lost { seq, .. } => Out::Lost(seq),
            Playout::Stretch => Out::Stretch,
            _ => Out::Empty,
        });
    }
    assert_eq!(
        outs,
        [
            Out::Frame(10),
            Out::Lost(11),
            Out::Frame(12),
            Out::Frame(13)
        ]
    );
    assert_eq!(jb.stats().lost, 1);
    // Too late: 11 has had its turn, and 10 has played.
    assert_eq!(jb.push(at(125), 11, 160, false, &p), Pushed::Late);
    assert_eq!(jb.push(at(126), 10, 0, false, &p), Pushed::Duplicate);
    let s = jb.stats();
    assert_eq!(
        (s.late, s.duplicate, s.lost, s.concealed),
        (1, 2, 0, 1),
        "{s:?}"
    );
}

#[test]
fn silence_between_talkspurts_is_not_loss() {
    let mut jb = JitterBuffer::new(JitterConfig {
        initial_delay: 20 * MS,
        ..JitterConfig::default()
    });
    // Talkspurt 1: 0..50; one second of silence (timestamps go on, sequence numbers do
    // not); talkspurt 2 opens with the marker bit.
    let mut packets = sender(50, 500, 0, FRAME_DURATION);
    let mut second = sender(50, 550, 160 * 100, FRAME_DURATION);
    for p in &mut second {
        p.arrival += 100 * FRAME_DURATION;
    }
    packets.extend(second);
    for p in &mut packets {
        p.arrival += 30 * MS;
    }
    let out = simulate(&mut jb, &packets, 220, 2 * MS, |_, _| {});
    let s = jb.stats();
    assert_eq!(played(&out), consecutive(500, 100), "{s:?}");
    assert_eq!(s.lost, 0, "{s:?}");
    // The end of talkspurt 1 looks like an underrun until max_conceal (100 ms) passes.
    assert_eq!(concealed(&out), 5, "{s:?}");
    let first_of_second = out.iter().position(|&o| o == Out::Frame(550)).unwrap();
    assert!(
        out[first_of_second - 10..first_of_second]
            .iter()
            .all(|&o| o == Out::Empty)
    );
}

#[test]
fn a_sender_that_stops_its_clock_in_silence_is_resynced_by_the_marker() {
    // Talkspurt 2 comes two seconds later, but its timestamps carry on as if there had
    // been no pause (against RFC 3550, and common): its marker bit rebases the timing.
    let mut packets = sender(100, 0, 0, FRAME_DURATION);
    for p in &mut packets[50..] {
        p.arrival += Duration::from_secs(2);
    }
    packets[50].marker = true;
    for p in &mut packets {
        p.arrival += 30 * MS;
    }
    let mut jb = JitterBuffer::default();
    let out = simulate(&mut jb, &packets, 220, 4 * MS, |_, _| {});
    let s = jb.stats();
    assert_eq!(played(&out).len() + s.dropped as usize, 100, "{s:?}");
    assert!(s.dropped <= 2 && s.lost == 0 && s.late == 0, "{s:?}");
    assert!(s.delay <= 80 * MS, "{s:?}");
}

#[test]
fn a_long_dropout_flushes_and_counts_what_it_skipped() {
    let mut packets = sender(400, 0, 0, FRAME_DURATION);
    packets.retain(|p| !(100..300).contains(&p.seq)); // four seconds gone
    for p in &mut packets {
        p.arrival += 30 * MS;
    }
    let mut jb = JitterBuffer::default();
    let out = simulate(&mut jb, &packets, 420, 4 * MS, |_, _| {});
    let s = jb.stats();
    assert_eq!(s.lost, 200, "{s:?}");
    assert_eq!(*played(&out).last().unwrap(), 399);
    assert!(
        concealed(&out) <= 5,
        "a dropout is concealed for max_conceal, then silent"
    );
}

#[test]
fn a_new_stream_restarts_the_buffer_and_a_stray_packet_does_not() {
    let start = t0();
    let at = |ms: u64| start + Duration::from_millis(ms);
    let p = payload_for(1);
    let mut jb = JitterBuffer::default();
    for i in 0..20u16 {
        jb.push(
            at(20 * u64::from(i)),
            1000 + i,
            160 * u32::from(i),
            i == 0,
            &p,
        );
        jb.pop(at(20 * u64::from(i)));
    }
    // A stray packet from far away is held, then discarded when the stream goes on.
    assert_eq!(jb.push(at(400), 40_000, 9_999_999, false, &p), Pushed::Held);
    assert_eq!(jb.push(at(401), 1020, 3200, false, &p), Pushed::Stored);
    assert_eq!(jb.stats().discarded, 1);
    assert_eq!(jb.stats().restarts, 0);
    // A real new stream (a re-INVITE to another source without an SSRC at hand): two
    // packets that follow each other confirm it.
    assert_eq!(jb.push(at(420), 30_000, 1_000_000, true, &p), Pushed::Held);
    assert_eq!(
        jb.push(at(440), 30_001, 1_000_160, false, &p),
        Pushed::Restarted
    );
    let mut first = None;
    for i in 0..10 {
        if let Playout::Frame { seq, timestamp, .. } = jb.pop(at(440 + 20 * i)) {
            first.get_or_insert((seq, timestamp));
        }
    }
    assert_eq!(first, Some((30_000, 1_000_000)));
    // Timestamps running backwards while the sequence goes on: a new timeline too.
    assert_eq!(jb.push(at(700), 30_002, 5, false, &p), Pushed::Held);
    assert_eq!(jb.push(at(720), 30_003, 165, false, &p), Pushed::Restarted);
    assert_eq!(jb.stats().restarts, 2);
}

#[test]
fn an_ssrc_change_restarts_at_once() {
    let start = t0();
    let mut jb = JitterBuffer::default();
    let packet = |seq: u16, ts: u32, ssrc: u32| {
        let header = RtpHeader {
            marker: false,
            payload_type: 8,
            sequence: seq,
            timestamp: ts,
            ssrc,
        };
        let mut bytes = header.to_bytes().unwrap().to_vec();
        bytes.extend_from_slice(&[0xD5; 160]);
        bytes
    };
    let a = packet(1, 100, 0xAAAA);
    assert_eq!(
        jb.push_rtp(start, &RtpPacket::parse(&a).unwrap()),
        Pushed::Stored
    );
    let b = packet(2, 260, 0xAAAA);
    assert_eq!(
        jb.push_rtp(start + 20 * MS, &RtpPacket::parse(&b).unwrap()),
        Pushed::Stored
    );
    let c = packet(9000, 7, 0xBBBB);
    assert_eq!(
        jb.push_rtp(start + 40 * MS, &RtpPacket::parse(&c).unwrap()),
        Pushed::Restarted
    );
    assert_eq!(jb.stats().buffered, 1);
    assert_eq!(jb.stats().restarts, 1);
}

#[test]
fn the_steady_state_does_not_allocate() {
    let mut rng = StdRng::seed_from_u64(6);
    let mut packets = sender(3000, 0, 0, FRAME_DURATION);
    delay(&mut packets, &mut rng, 20 * MS, 40 * MS, false);
    packets.sort_by_key(|p| p.arrival);
    let payloads: Vec<[u8; FRAME_SAMPLES]> = (0..=u16::MAX).map(payload_for).collect();
    let mut jb = JitterBuffer::default();
    let mut plc = Plc::new();
    let start = t0();
    let mut next = 0;
    let mut run = |jb: &mut JitterBuffer, plc: &mut Plc, from: usize, to: usize| {
        for tick in from..to {
            let now = FRAME_DURATION * tick as u32;
            while next < packets.len() && packets[next].arrival <= now {
                let p = packets[next];
                jb.push(
                    start + p.arrival,
                    p.seq,
                    p.ts,
                    p.marker,
                    &payloads[usize::from(p.seq)],
                );
                next += 1;
            }
            let mut pcm: Frame = [0; FRAME_SAMPLES];
            match jb.pop(start + now) {
                Playout::Frame { payload, .. } => {
                    pcm[0] = i16::from(payload[0]);
                    plc.good_frame(&mut pcm);
                }
                Playout::Lost { .. } | Playout::Stretch => pcm = plc.conceal(),
                _ => {}
            }
            std::hint::black_box(&pcm);
        }
    };
    run(&mut jb, &mut plc, 0, 100);
    let before = allocations();
    run(&mut jb, &mut plc, 100, 3000);
    let _ = jb.stats();
    assert_eq!(allocations() - before, 0, "allocations in the steady state");
}

#[test]
fn random_pushes_and_pops_never_panic() {
    let mut rng = StdRng::seed_from_u64(7);
    let start = t0();
    let mut jb = JitterBuffer::new(JitterConfig {
        payload_capacity: 8,
        ..JitterConfig::default()
    });
    let buf = vec![0x55u8; 2000];
    let mut now = Duration::ZERO;
    let (mut seq, mut ts) = (0u16, 0u32);
    for _ in 0..100_000 {
        // Mostly a plausible stream, with every kind of nonsense mixed in.
        match rng.random_range(0..10) {
            0 => seq = rng.random(),
            1 => ts = rng.random(),
            2 => seq = seq.wrapping_sub(rng.random_range(0..200)),
            _ => {
                seq = seq.wrapping_add(1);
                ts = ts.wrapping_add(160);
            }
        }
        let len = rng.random_range(0..2000);
        match rng.random_range(0..20) {
            0 => now = now.saturating_sub(Duration::from_millis(rng.random_range(0..100))),
            1 => now += Duration::from_secs(rng.random_range(0..100)),
            _ => now += Duration::from_millis(rng.random_range(0..40)),
        }
        jb.push(start + now, seq, ts, rng.random_bool(0.05), &buf[..len]);
        for _ in 0..rng.random_range(0..3) {
            if let Playout::Frame { payload, .. } = jb.pop(start + now) {
                assert!(payload.len() <= 1500);
            }
        }
        if rng.random_ratio(1, 5000) {
            jb.reset();
        }
    }
    let s = jb.stats();
    assert!(s.buffered <= hotline_media::jitter::SLOTS);
    assert!(s.delay <= Duration::from_secs(3600));
}

// ---- concealment ----

fn sine(hz: f64, amplitude: f64, from: usize, n: usize) -> Vec<i16> {
    (from..from + n)
        .map(|i| (amplitude * (2.0 * std::f64::consts::PI * hz * i as f64 / 8000.0).sin()) as i16)
        .collect()
}

fn frame_of(samples: &[i16]) -> Frame {
    samples.try_into().unwrap()
}

fn correlation(a: &[i16], b: &[i16]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum();
    let ea: f64 = a.iter().map(|&x| f64::from(x).powi(2)).sum();
    let eb: f64 = b.iter().map(|&x| f64::from(x).powi(2)).sum();
    dot / (ea * eb).sqrt().max(1e-9)
}

fn energy(a: &[i16]) -> f64 {
    a.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / a.len() as f64
}

/// Plays a sine through the concealer with frames `lost` replaced by concealment (or by
/// silence); returns the output stream, re-aligned by the concealer's delay.
fn play_sine(lost: &[usize], frames: usize, silence_instead: bool) -> (Vec<i16>, Vec<i16>) {
    let truth = sine(440.0, 8000.0, 0, frames * FRAME_SAMPLES);
    let mut plc = Plc::new();
    let mut out = Vec::new();
    for f in 0..frames {
        let mut frame = frame_of(&truth[f * FRAME_SAMPLES..(f + 1) * FRAME_SAMPLES]);
        if lost.contains(&f) {
            frame = if silence_instead {
                [0; FRAME_SAMPLES]
            } else {
                plc.conceal()
            };
        } else {
            plc.good_frame(&mut frame);
        }
        out.extend_from_slice(&frame);
    }
    if silence_instead {
        return (out, truth);
    }
    // Output sample i is input sample i - DELAY.
    let mut aligned = truth.clone();
    aligned.rotate_right(Plc::DELAY);
    aligned[..Plc::DELAY].fill(0);
    (out, aligned)
}

#[test]
fn a_concealed_frame_follows_the_tone() {
    let (out, truth) = play_sine(&[10], 20, false);
    let at = 10 * FRAME_SAMPLES..11 * FRAME_SAMPLES;
    let corr = correlation(&out[at.clone()], &truth[at.clone()]);
    let ratio = energy(&out[at.clone()]) / energy(&truth[at.clone()]);
    assert!(corr > 0.8, "correlation {corr}");
    assert!((0.6..1.2).contains(&ratio), "energy ratio {ratio}");
    // ... and back into real audio without a click: the frame after the loss, too.
    let after = 11 * FRAME_SAMPLES..12 * FRAME_SAMPLES;
    assert!(correlation(&out[after.clone()], &truth[after.clone()]) > 0.9);
    let step = out[9 * FRAME_SAMPLES..13 * FRAME_SAMPLES]
        .windows(2)
        .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
        .max()
        .unwrap();
    // A 440 Hz tone of amplitude 8000 moves at most 2764 per sample.
    assert!(step < 3500, "largest step {step}");

    // Silence in its place is far worse.
    let (silent, truth_s) = play_sine(&[10], 20, true);
    let err = |o: &[i16], t: &[i16]| -> f64 {
        o.iter()
            .zip(t)
            .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
            .sum::<f64>()
            / t.iter().map(|&b| f64::from(b).powi(2)).sum::<f64>()
    };
    let plc_err = err(&out[at.clone()], &truth[at.clone()]);
    let silence_err = err(&silent[at.clone()], &truth_s[at]);
    assert!(
        plc_err < 0.5 * silence_err,
        "PLC {plc_err} vs silence {silence_err}"
    );
}

#[test]
fn a_long_loss_fades_to_silence() {
    let (out, truth) = play_sine(&[10, 11, 12, 13, 14], 20, false);
    let frame = |i: usize| &out[i * FRAME_SAMPLES..(i + 1) * FRAME_SAMPLES];
    // Conceal starts at full level, fades 20% per 10 ms after the first 10 ms ...
    assert!(energy(frame(10)) > 0.5 * energy(&truth[..FRAME_SAMPLES]));
    assert!(energy(frame(11)) < energy(frame(10)));
    // ... and is silent from 60 ms on (output runs DELAY samples behind).
    let silent_from = 10 * FRAME_SAMPLES + 480 + Plc::DELAY;
    assert!(out[silent_from..15 * FRAME_SAMPLES].iter().all(|&x| x == 0));
    // Real audio comes back.
    let back = 16 * FRAME_SAMPLES..17 * FRAME_SAMPLES;
    assert!(correlation(&out[back.clone()], &truth[back]) > 0.99);
}

#[test]
fn concealing_silence_stays_silent() {
    let mut plc = Plc::new();
    for _ in 0..5 {
        let mut f = [0; FRAME_SAMPLES];
        plc.good_frame(&mut f);
        assert!(f.iter().all(|&x| x == 0));
    }
    assert!(plc.conceal().iter().all(|&x| x == 0));
    assert!(plc.is_concealing());
}
