//! One 20 ms frame through each codec and the 8 → 48 kHz resampler, as a media worker does
//! for every transcoded stream each tick (steady state: nothing allocates). Run:
//! `cargo bench --bench media_codec`.

use std::f64::consts::PI;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hotline_media::codec::{AudioCodec, Decoder, Encoder, MAX_PAYLOAD};
use hotline_media::resample::Resampler;

/// 20 ms of a few speech-band tones at `rate`.
fn frame(rate: u32) -> Vec<i16> {
    (0..rate / 50)
        .map(|n| {
            let t = f64::from(n) / f64::from(rate);
            let s: f64 = [300.0, 1130.0, 2390.0]
                .iter()
                .map(|f| 5000.0 * (2.0 * PI * f * t).sin())
                .sum();
            s as i16
        })
        .collect()
}

fn codecs(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(1));
    for codec in AudioCodec::ALL {
        let pcm = frame(codec.sample_rate());
        let mut enc = Encoder::new(codec).unwrap();
        let mut dec = Decoder::new(codec).unwrap();
        let mut payload = [0u8; MAX_PAYLOAD];
        let mut out = vec![0i16; dec.max_samples(MAX_PAYLOAD)];
        let name = codec.encoding_name();
        group.bench_function(format!("{name} encode 20 ms"), |b| {
            b.iter(|| black_box(enc.encode(black_box(&pcm), &mut payload).unwrap()));
        });
        let n = enc.encode(&pcm, &mut payload).unwrap();
        let packet = payload[..n].to_vec();
        group.bench_function(format!("{name} decode 20 ms"), |b| {
            b.iter(|| black_box(dec.decode(black_box(&packet), &mut out).unwrap()));
        });
        if codec == AudioCodec::Pcmu {
            group.bench_function("PCMU encode+decode 20 ms", |b| {
                b.iter(|| {
                    let n = enc.encode(black_box(&pcm), &mut payload).unwrap();
                    black_box(dec.decode(&payload[..n], &mut out).unwrap())
                });
            });
        }
    }
    // Opus decoding straight to the core's 8 kHz, instead of 48 kHz plus a resampler.
    let mut dec = Decoder::with_sample_rate(AudioCodec::Opus, 8000).unwrap();
    let mut enc = Encoder::new(AudioCodec::Opus).unwrap();
    let mut payload = [0u8; MAX_PAYLOAD];
    let n = enc.encode(&frame(48000), &mut payload).unwrap();
    let mut out = vec![0i16; dec.max_samples(n)];
    group.bench_function("opus decode 20 ms at 8 kHz", |b| {
        b.iter(|| black_box(dec.decode(black_box(&payload[..n]), &mut out).unwrap()));
    });
    let mut enc8 = Encoder::with_sample_rate(AudioCodec::Opus, 8000).unwrap();
    let pcm8 = frame(8000);
    group.bench_function("opus encode 20 ms from 8 kHz", |b| {
        b.iter(|| black_box(enc8.encode(black_box(&pcm8), &mut payload).unwrap()));
    });
    let pcm48 = frame(48000);
    enc.set_complexity(5).unwrap();
    group.bench_function("opus encode 20 ms complexity 5", |b| {
        b.iter(|| black_box(enc.encode(black_box(&pcm48), &mut payload).unwrap()));
    });
    group.finish();
}

fn resampler(c: &mut Criterion) {
    let mut group = c.benchmark_group("resample");
    group.throughput(Throughput::Elements(1));
    for (from, to) in [(8000, 48000), (48000, 8000), (8000, 16000)] {
        let pcm = frame(from);
        let mut r = Resampler::new(from, to).unwrap();
        let mut out = Vec::with_capacity(to as usize / 50);
        group.bench_function(format!("{from} -> {to} 20 ms"), |b| {
            b.iter(|| {
                out.clear();
                r.process(black_box(&pcm), &mut out);
                black_box(out.len())
            });
        });
    }
    group.finish();
}

criterion_group!(benches, codecs, resampler);
criterion_main!(benches);
