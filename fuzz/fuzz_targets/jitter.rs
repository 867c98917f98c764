//! Fuzz the adaptive jitter buffer and G.711 loss concealment (`media/src/jitter.rs`,
//! `jitter/plc.rs`): a `JitterBuffer` with limits and an RTP clock rate from the input
//! (8, 16 or 48 kHz, or 0, which it raises to 50; timestamps step by 20 ms of it) is
//! driven by a script of
//! pushes (in sequence, reordered, with timestamp gaps, jumps, markers, odd and oversized
//! payloads, SSRC changes via `push_rtp`), pops with a jittery driver clock, time jumps
//! (also backwards) and resets; every popped frame goes through a `Plc` as a driver does.
//!
//! It never panics, and the counters stay consistent with what each call returned:
//! - every push counts in `received`; the answer matches the counter it moves
//!   (`Duplicate`, `Late`, `Oversized` → `discarded`, `Restarted` → `restarts`);
//! - every pop moves exactly the counter of its answer (`Frame` → `played`, `Lost` →
//!   `concealed`, `Stretch` → `stretched`; `Empty` none of them);
//! - each packet is accounted for at most once: played + dropped + late + duplicate +
//!   discarded + buffered ≤ received; at most `SLOTS` are buffered;
//! - the target delay stays within the (normalised) `min_delay..=max_delay`;
//! - a played frame is a packet that was pushed: its payload (made from its sequence
//!   number, timestamp, marker and length) matches those fields, and within one stream
//!   frames play in sequence-number order, each at most once;
//! - the concealer is `is_concealing` exactly after a concealed frame, and silent from
//!   the fifth consecutive concealed frame (60 ms, plus its 3.75 ms output delay).
//!
//! Input: `[min, max, initial, max_conceal, capacity, law and clock rate]`, then ops (low 3 bits of the op
//! byte pick it, the high bits are its argument); see `step`.
//!
//! Run: `cargo +nightly fuzz run jitter -- -max_len=4096`

#![no_main]

use std::time::{Duration, Instant};

use hotline_media::jitter::{self, JitterBuffer, JitterConfig, JitterStats, Playout, Plc, Pushed};
use hotline_media::rtp::{RtpHeader, RtpPacket};
use hotline_media::{Codec, FRAME_SAMPLES, Frame};
use libfuzzer_sys::fuzz_target;

const SSRCS: [u32; 4] = [0x1111_1111, 0x2222_2222, 0x3333_3333, 0x4444_4444];

fn splitmix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The payload of the packet with these fields: a played frame must carry exactly this.
fn payload_of(seq: u16, ts: u32, marker: bool, len: usize, out: &mut Vec<u8>) {
    let h = splitmix(
        u64::from(seq) | u64::from(ts) << 16 | u64::from(marker) << 48 | (len as u64) << 49,
    );
    out.clear();
    out.extend((0..len).map(|i| (h >> (8 * (i % 8))) as u8 ^ i as u8));
}

struct Driver {
    jb: JitterBuffer,
    plc: Plc,
    /// Timestamp units per 20 ms frame.
    frame_ts: u32,
    law: Option<Codec>,
    start: Instant,
    /// Time since `start`.
    now: Duration,
    seq: u16,
    ts: u32,
    ssrc: usize,
    pushes: u64,
    /// The last frame played in this stream, and the pushes since.
    last_played: Option<u16>,
    pushes_since_played: u32,
    restarts: u64,
    concealed_run: u32,
    payload: Vec<u8>,
    scratch: Vec<u8>,
    /// The stats after the last call (`stats()` is not free).
    stats: JitterStats,
}

impl Driver {
    fn at(&self) -> Instant {
        self.start + self.now
    }

    fn check_stats(&self, s: &JitterStats) {
        assert_eq!(s.received, self.pushes);
        let accounted =
            s.played + s.dropped + s.late + s.duplicate + s.discarded + s.buffered as u64;
        assert!(accounted <= s.received, "a packet counted twice: {s:?}");
        assert!(s.buffered <= jitter::SLOTS);
        let config = self.jb.config();
        assert!(config.min_delay <= config.max_delay && config.max_delay <= Duration::from_secs(1));
        assert!(
            (config.min_delay..=config.max_delay).contains(&s.target_delay),
            "target {:?} outside {config:?}",
            s.target_delay
        );
    }

    fn new_stream(&mut self) {
        self.last_played = None;
    }

    fn push(&mut self, marker: bool, len: usize, rtp: bool) {
        payload_of(self.seq, self.ts, marker, len, &mut self.payload);
        let before = self.stats;
        self.pushes += 1;
        let now = self.at();
        let pushed = if rtp {
            let header = RtpHeader {
                marker,
                payload_type: 8,
                sequence: self.seq,
                timestamp: self.ts,
                ssrc: SSRCS[self.ssrc],
            };
            header.write_header_to_vec(&mut self.scratch).unwrap();
            self.scratch.extend_from_slice(&self.payload);
            let packet = RtpPacket::parse(&self.scratch).expect("our packet parses");
            self.jb.push_rtp(now, &packet)
        } else {
            self.jb.push(now, self.seq, self.ts, marker, &self.payload)
        };
        let after = self.jb.stats();
        self.check_stats(&after);
        self.stats = after;
        let moved = |f: fn(&JitterStats) -> u64| f(&after) - f(&before);
        match pushed {
            Pushed::Duplicate => assert_eq!(moved(|s| s.duplicate), 1),
            Pushed::Late => assert_eq!(moved(|s| s.late), 1),
            Pushed::Oversized => {
                assert!(len > jitter::MAX_PAYLOAD);
                assert_eq!(moved(|s| s.discarded), 1);
            }
            Pushed::Restarted => assert!(moved(|s| s.restarts) >= 1),
            Pushed::Stored | Pushed::Held => {
                assert_eq!(moved(|s| s.restarts), 0);
                assert!(moved(|s| s.discarded) <= 1);
            }
            other => panic!("new answer {other:?}"),
        }
        if !matches!(pushed, Pushed::Duplicate | Pushed::Late) {
            assert_eq!(moved(|s| s.duplicate) + moved(|s| s.late), 0, "{pushed:?}");
        }
        if len > jitter::MAX_PAYLOAD {
            assert_eq!(pushed, Pushed::Oversized);
        }
        if after.restarts != self.restarts {
            self.restarts = after.restarts;
            self.new_stream();
        }
        self.pushes_since_played = self.pushes_since_played.saturating_add(1);
    }

    fn pop(&mut self) {
        let before = self.stats;
        let now = self.at();
        let mut pcm: Frame = [0; FRAME_SAMPLES];
        let answer = match self.jb.pop(now) {
            Playout::Frame {
                payload,
                seq,
                timestamp,
                marker,
            } => {
                assert!(payload.len() <= jitter::MAX_PAYLOAD);
                payload_of(seq, timestamp, marker, payload.len(), &mut self.scratch);
                assert_eq!(
                    payload,
                    &self.scratch[..],
                    "payload of {seq} at {timestamp}"
                );
                match self.law {
                    Some(law) => {
                        law.decode(payload, &mut pcm);
                    }
                    None => {
                        for (s, b) in pcm.iter_mut().zip(payload.chunks_exact(2)) {
                            *s = i16::from_le_bytes([b[0], b[1]]);
                        }
                    }
                }
                self.plc.good_frame(&mut pcm);
                assert!(!self.plc.is_concealing());
                self.concealed_run = 0;
                if let Some(last) = self.last_played
                    && self.pushes_since_played <= 8
                {
                    assert!(
                        seq.wrapping_sub(last) as i16 > 0,
                        "{seq} played after {last}"
                    );
                }
                self.last_played = Some(seq);
                self.pushes_since_played = 0;
                0
            }
            Playout::Lost { .. } => {
                self.conceal();
                1
            }
            Playout::Stretch => {
                self.conceal();
                2
            }
            Playout::Empty => 3,
            other => panic!("new answer {other:?}"),
        };
        let after = self.jb.stats();
        self.check_stats(&after);
        self.stats = after;
        let moved = |f: fn(&JitterStats) -> u64| f(&after) - f(&before);
        let expected = match answer {
            0 => (1, 0, 0),
            1 => (0, 1, 0),
            2 => (0, 0, 1),
            _ => (0, 0, 0),
        };
        assert_eq!(
            (
                moved(|s| s.played),
                moved(|s| s.concealed),
                moved(|s| s.stretched)
            ),
            expected,
            "answer {answer}"
        );
        assert_eq!(after.received, before.received);
    }

    /// Plays concealment for a `Lost` or `Stretch`.
    fn conceal(&mut self) {
        let pcm = self.plc.conceal();
        assert!(self.plc.is_concealing());
        self.concealed_run += 1;
        if self.concealed_run >= 5 {
            assert!(pcm.iter().all(|&s| s == 0), "concealment not silent");
        }
    }

    /// One op; `None` at the end of the input.
    fn step(&mut self, input: &mut &[u8]) -> Option<()> {
        let (&op, rest) = input.split_first()?;
        *input = rest;
        let arg = op >> 3;
        match op & 7 {
            // push [a, len]: arg bits 0-1 pick how seq/ts move, bit 2 the marker, bits 3-4
            // the arrival step (0, 7, 20 or 33 ms).
            0..=2 => {
                let (&[a, len], rest) = input.split_first_chunk::<2>()?;
                *input = rest;
                match arg & 3 {
                    0 => {
                        self.seq = self.seq.wrapping_add(1);
                        self.ts = self.ts.wrapping_add(self.frame_ts);
                    }
                    // reordered or skipped: a signed step in frames
                    1 => {
                        let d = a as i8;
                        self.seq = self.seq.wrapping_add(d as u16);
                        self.ts = self
                            .ts
                            .wrapping_add(self.frame_ts.wrapping_mul(i32::from(d) as u32));
                    }
                    // in sequence, with a timestamp gap (silence) or a small slip
                    2 => {
                        self.seq = self.seq.wrapping_add(1);
                        self.ts = self.ts.wrapping_add(self.frame_ts).wrapping_add(
                            (self.frame_ts / 4).wrapping_mul(i32::from(a as i8) as u32),
                        );
                    }
                    // anywhere
                    _ => {
                        self.seq = self
                            .seq
                            .wrapping_mul(31)
                            .wrapping_add(u16::from(a) << 8 | u16::from(len));
                        self.ts = self.ts.rotate_left(u32::from(a)) ^ u32::from(a) << 24;
                    }
                }
                self.now += Duration::from_millis([0, 7, 20, 33][usize::from(arg >> 3 & 3)]);
                let len = match len {
                    255 => jitter::MAX_PAYLOAD + 1,
                    254 => jitter::MAX_PAYLOAD,
                    253 => 0,
                    l => usize::from(l),
                };
                self.push(arg & 4 != 0, len, false);
            }
            // push_rtp [len] on SSRC arg & 3, in sequence
            6 => {
                let (&len, rest) = input.split_first()?;
                *input = rest;
                self.ssrc = usize::from(arg & 3);
                self.seq = self.seq.wrapping_add(1);
                self.ts = self.ts.wrapping_add(self.frame_ts);
                self.now += Duration::from_millis(20);
                self.push(arg & 4 != 0, usize::from(len), true);
            }
            // pop after 20 ms ± up to 16 ms
            3 => {
                self.now = (self.now + Duration::from_millis(u64::from(arg) + 4))
                    .saturating_sub(Duration::from_millis(16));
                self.pop();
            }
            // pop arg + 1 times, 20 ms apart (a driver catching up)
            7 => {
                for _ in 0..=arg {
                    self.now += Duration::from_millis(20);
                    self.pop();
                }
            }
            // time jump: arg seconds, or back by 50 ms
            4 => {
                if arg == 31 {
                    self.now = self.now.saturating_sub(Duration::from_millis(50));
                } else {
                    self.now += Duration::from_secs(u64::from(arg));
                }
            }
            // reset (the concealer too when arg is odd)
            _ => {
                self.jb.reset();
                self.new_stream();
                if arg & 1 != 0 {
                    self.plc.reset();
                    self.concealed_run = 0;
                    assert!(!self.plc.is_concealing());
                }
                self.stats = self.jb.stats();
                self.check_stats(&self.stats);
            }
        }
        Some(())
    }
}

fuzz_target!(|data: &[u8]| {
    let [min, max, initial, conceal, capacity, law, ref rest @ ..] = *data else {
        return;
    };
    let ms = |b: u8, unit: u64| Duration::from_millis(u64::from(b) * unit);
    let config = JitterConfig {
        min_delay: ms(min, 2),
        max_delay: ms(max, 8),
        initial_delay: ms(initial, 4),
        max_conceal: ms(conceal, 4),
        payload_capacity: usize::from(capacity) * 8,
        clock_rate: [8000, 48000, 16000, 0][usize::from(law / 3 % 4)],
    };
    let jb = JitterBuffer::new(config);
    assert!(jb.config().clock_rate >= 50);
    let frame_ts = jb.config().clock_rate / 50;
    let mut driver = Driver {
        jb,
        frame_ts,
        plc: Plc::new(),
        law: match law % 3 {
            0 => Some(Codec::Pcma),
            1 => Some(Codec::Pcmu),
            _ => None,
        },
        start: Instant::now(),
        now: Duration::ZERO,
        seq: u16::from_le_bytes([law, min]),
        ts: u32::from_le_bytes([max, initial, conceal, capacity]),
        ssrc: 0,
        pushes: 0,
        last_played: None,
        pushes_since_played: 0,
        restarts: 0,
        concealed_run: 0,
        payload: Vec::new(),
        scratch: Vec::new(),
        stats: JitterStats::default(),
    };
    driver.stats = driver.jb.stats();
    driver.check_stats(&driver.stats);
    let mut input = rest;
    while driver.step(&mut input).is_some() {}
    // Drain: the buffer plays out and falls silent.
    for _ in 0..80 {
        driver.now += Duration::from_millis(20);
        driver.pop();
    }
});
