//! One mixer tick (20 ms of audio): every participant's frame in, mix, every output read.
//! Target: one room of 100 speakers under 100 µs per tick, i.e. under 5 ms of CPU per
//! second of audio (µs per tick × 50 = µs of CPU per second of audio).
//! Run: `cargo bench --bench media_mixer`.
//!
//! Measured on the 2-core dev container (x86-64 baseline, SSE2): 100 speakers ≈ 7.5 µs per
//! tick quiet, ≈ 15 µs loud (soft limiter on every output), i.e. 0.4–0.75 ms of CPU per
//! second of audio; 50 rooms of 2 ≈ 5.6 µs per tick (0.28 ms per second).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hotline_media::mixer::{Mixer, ParticipantId, Role};
use hotline_media::{FRAME_SAMPLES, Frame};

/// A mixer with `rooms` rooms of `size` speakers, each with its own noise-like frame of
/// peak `2^bits`.
fn setup(rooms: usize, size: usize, bits: u32) -> (Mixer, Vec<(ParticipantId, Frame)>) {
    let mut mixer = Mixer::with_capacity(rooms, rooms * size);
    let mut seed = 0x2545_f491_u32;
    let mut people = Vec::with_capacity(rooms * size);
    for _ in 0..rooms {
        let room = mixer.create_room();
        for _ in 0..size {
            let p = mixer
                .add_participant(room, Role::SpeakListen)
                .expect("the room was just created and is far from full");
            let frame: Frame = std::array::from_fn(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                ((seed >> (31 - bits)) as i32 - (1 << bits)) as i16
            });
            people.push((p, frame));
        }
    }
    // Past the join fade-ins, into the steady state.
    tick(&mut mixer, &people);
    (mixer, people)
}

fn tick(mixer: &mut Mixer, people: &[(ParticipantId, Frame)]) -> i32 {
    for (p, frame) in people {
        mixer.put_frame(*p, frame).expect("participant is live");
    }
    mixer.tick();
    let mut check = 0i32;
    for (p, _) in people {
        check += i32::from(mixer.frame_for(*p).expect("participant is live")[FRAME_SAMPLES / 2]);
    }
    check
}

fn mixer_tick(c: &mut Criterion) {
    let mut group = c.benchmark_group("mixer tick");
    group.throughput(Throughput::Elements(1));
    // Quiet: noise at ±128, sums stay below the limiter's knee. Loud: noise at ±2048, so a
    // 100-party sum passes the knee in nearly every frame and the soft limiter runs too.
    for (name, rooms, size, bits) in [
        ("1 room x 100 participants, quiet", 1, 100, 7),
        ("1 room x 100 participants, loud", 1, 100, 11),
        ("50 rooms x 2 participants, loud", 50, 2, 11),
    ] {
        let (mut mixer, people) = setup(rooms, size, bits);
        group.bench_function(name, |b| {
            b.iter(|| black_box(tick(&mut mixer, black_box(&people))))
        });
    }
    group.finish();
}

criterion_group!(benches, mixer_tick);
criterion_main!(benches);
