//! The jitter buffer's hot path: one packet pushed and one frame popped, as a media worker
//! does for every stream each 20 ms tick (steady state: nothing allocates), and one frame
//! of G.711 Appendix I loss concealment. Run: `cargo bench --bench media_jitter`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hotline_media::jitter::{JitterBuffer, Playout, Plc};
use hotline_media::{FRAME_DURATION, FRAME_SAMPLES, Frame};

fn push_pop(c: &mut Criterion) {
    let mut group = c.benchmark_group("jitter");
    group.throughput(Throughput::Elements(1));

    #[allow(clippy::disallowed_methods)] // One arbitrary origin; the rest is simulated.
    let start = Instant::now();
    let payload = [0xD5u8; FRAME_SAMPLES];
    let mut jb = JitterBuffer::default();
    let mut i: u64 = 0;
    // Every packet arrives 30-49 ms after it was sent; the pop follows 20 ms behind.
    let mut step = |jb: &mut JitterBuffer| {
        let sent = FRAME_DURATION * (i as u32);
        let arrival = start + sent + Duration::from_millis(30 + (i * 7919) % 20);
        jb.push(
            arrival,
            i as u16,
            (i as u32).wrapping_mul(160),
            i == 0,
            &payload,
        );
        let played = matches!(
            jb.pop(start + sent + FRAME_DURATION * 4),
            Playout::Frame { .. }
        );
        i += 1;
        played
    };
    for _ in 0..500 {
        step(&mut jb); // warm up: past the initial delay
    }
    group.bench_function("push+pop one frame", |b| {
        b.iter(|| black_box(step(&mut jb)));
    });

    let mut plc = Plc::new();
    let mut frame: Frame = [0; FRAME_SAMPLES];
    for (n, s) in frame.iter_mut().enumerate() {
        *s = (8000.0 * (n as f32 * 0.3456).sin()) as i16;
    }
    for _ in 0..4 {
        let mut f = frame;
        plc.good_frame(&mut f);
    }
    group.bench_function("plc conceal one frame (first lost)", |b| {
        b.iter(|| {
            let mut f = frame;
            plc.good_frame(&mut f); // back to speech, so each conceal is a first loss
            black_box(plc.conceal())
        });
    });
    group.bench_function("plc good frame", |b| {
        b.iter(|| {
            let mut f = frame;
            plc.good_frame(black_box(&mut f));
            black_box(f)
        });
    });
    group.finish();
}

criterion_group!(benches, push_pop);
criterion_main!(benches);
