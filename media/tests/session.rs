//! Drives `RtpSession` with simulated time and a simulated peer: no sockets, no clock.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hotline_media::dtmf::DtmfSender;
use hotline_media::g711::Codec;
use hotline_media::rtp::{RtpHeader, RtpPacket};
use hotline_media::sdp::{self, LocalMedia, SessionDescription};
use hotline_media::session::{AfterPlay, MediaEvent, Mode, RtpSession, SessionConfig, Transmit};
use hotline_media::{FRAME_DURATION, FRAME_SAMPLES, Prompt};
use rand::{Rng, SeedableRng, rngs::StdRng};

const TICK: Duration = FRAME_DURATION;

#[allow(clippy::disallowed_methods)] // One arbitrary origin; every later time is an offset.
fn t0() -> Instant {
    Instant::now()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The SDP address of the peer, and the address its packets really come from (NAT).
const SDP_PEER: &str = "192.0.2.10:40000";
const NAT_PEER: &str = "198.51.100.7:61000";

/// A session negotiated from a phone's offer, as the call controller will create it.
fn negotiated_session(now: Instant, offered_pts: &str) -> RtpSession {
    let offer = SessionDescription::parse(
        format!(
            "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
             m=audio 40000 RTP/AVP {offered_pts}\r\na=rtpmap:101 telephone-event/8000\r\n\
             a=fmtp:101 0-16\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let local = LocalMedia::new("203.0.113.5".parse().unwrap(), 20000, 1, 1);
    let audio = sdp::answer(&offer, &local).unwrap().audio.unwrap();
    RtpSession::new(
        now,
        SessionConfig::new(&audio),
        &mut StdRng::seed_from_u64(3550),
    )
}

/// The far end: builds its own RTP stream.
struct Peer {
    codec: Codec,
    pt: u8,
    ssrc: u32,
    seq: u16,
    ts: u32,
}

impl Peer {
    fn new(codec: Codec) -> Self {
        Peer {
            codec,
            pt: codec.static_payload_type(),
            ssrc: 0x1234_5678,
            seq: 65_530, // wraps during the tests
            ts: 4_294_960_000,
        }
    }

    fn packet(&mut self, pt: u8, marker: bool, ts: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0; RtpHeader::LEN + payload.len()];
        RtpHeader {
            marker,
            payload_type: pt,
            sequence: self.seq,
            timestamp: ts,
            ssrc: self.ssrc,
        }
        .write(payload, &mut out)
        .unwrap();
        self.seq = self.seq.wrapping_add(1);
        out
    }

    fn audio(&mut self, pcm: &[i16]) -> Vec<u8> {
        let mut payload = vec![0; pcm.len()];
        self.codec.encode(pcm, &mut payload);
        let ts = self.ts;
        self.ts = self.ts.wrapping_add(pcm.len() as u32);
        self.packet(self.pt, false, ts, &payload)
    }
}

fn tone(freq: f64, samples: usize, amplitude: f64) -> Vec<i16> {
    (0..samples)
        .map(|n| (amplitude * (2.0 * std::f64::consts::PI * freq * n as f64 / 8000.0).sin()) as i16)
        .collect()
}

/// Signal power at `freq` (Goertzel), normalised so a full-scale-relative sine of
/// amplitude A over N samples gives about (A/2)^2.
fn goertzel(samples: &[i16], freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / 8000.0;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    power / (samples.len() as f64).powi(2)
}

fn mean_square(samples: &[i16]) -> f64 {
    samples.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / samples.len() as f64
}

fn drain_transmits(s: &mut RtpSession) -> Vec<Transmit> {
    std::iter::from_fn(|| s.poll_transmit()).collect()
}

fn drain_events(s: &mut RtpSession) -> Vec<MediaEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn digits(events: &[MediaEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            MediaEvent::Dtmf { digit, .. } => Some(*digit),
            _ => None,
        })
        .collect()
}

#[test]
fn echo_returns_a_1khz_tone_intact() {
    for (offered, codec) in [("0 101", Codec::Pcmu), ("8 101", Codec::Pcma)] {
        let start = t0();
        let mut s = negotiated_session(start, offered);
        s.set_mode(start, Mode::Echo);
        let mut peer = Peer::new(codec);
        let sent_pcm = tone(1000.0, 8000, 12000.0);
        let mut echoed = Vec::new();
        for (i, frame) in sent_pcm.chunks(FRAME_SAMPLES).enumerate() {
            // Arrival jitter of up to 7 ms must not show in our timestamps.
            let now = start + TICK * i as u32 + Duration::from_millis((i as u64 * 7) % 8);
            let datagram = peer.audio(frame);
            s.handle_packet(now, addr(NAT_PEER), &datagram);
            s.handle_tick(now);
            echoed.extend(drain_transmits(&mut s));
        }
        assert_eq!(echoed.len(), 50, "{codec:?}");
        let packets: Vec<RtpPacket<'_>> = echoed
            .iter()
            .map(|t| RtpPacket::parse(&t.bytes).unwrap())
            .collect();
        assert!(echoed.iter().all(|t| t.dest == addr(NAT_PEER)), "latched");
        assert!(packets[0].marker());
        assert!(packets[1..].iter().all(|p| !p.marker()));
        for w in packets.windows(2) {
            assert_eq!(w[1].sequence(), w[0].sequence().wrapping_add(1));
            assert_eq!(w[1].timestamp(), w[0].timestamp().wrapping_add(160));
        }
        assert!(packets.iter().all(|p| p.ssrc() == s.ssrc()));
        assert!(packets.iter().all(|p| p.ssrc() != peer.ssrc));
        assert!(
            packets
                .iter()
                .all(|p| p.payload_type() == codec.static_payload_type())
        );

        let mut pcm = vec![0i16; 8000];
        let mut at = 0;
        for p in &packets {
            at += codec.decode(p.payload(), &mut pcm[at..]);
        }
        assert_eq!(at, 8000);
        let at_1k = goertzel(&pcm, 1000.0);
        let total = mean_square(&pcm);
        // A sine's power at its own frequency is half its mean square; allow G.711's noise.
        assert!(at_1k > 0.45 * total, "{codec:?}: 1 kHz {at_1k} of {total}");
        assert!(goertzel(&pcm, 1500.0) < 0.001 * total);
        assert!(goertzel(&pcm, 500.0) < 0.001 * total);
        let crossings = pcm.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
        assert!(
            (1990..=2010).contains(&crossings),
            "{crossings} zero crossings"
        );
        // Same loudness as what was sent.
        let ratio = total / mean_square(&sent_pcm);
        assert!((0.95..1.05).contains(&ratio), "level ratio {ratio}");

        let stats = s.stats();
        assert_eq!((stats.packets_in, stats.packets_out), (50, 50));
        assert_eq!(stats.bytes_out, 50 * 172);
        let events = drain_events(&mut s);
        assert_eq!(
            events,
            [MediaEvent::RemoteLatched {
                addr: addr(NAT_PEER)
            }]
        );
    }
}

#[test]
fn prompt_plays_in_order_then_reports_done() {
    let start = t0();
    let mut s = negotiated_session(start, "0 101");
    // 25 frames whose first sample numbers them, so order can be checked after G.711.
    let samples: Vec<i16> = (0..25 * FRAME_SAMPLES)
        .map(|n| {
            if n % FRAME_SAMPLES == 0 {
                (n / FRAME_SAMPLES) as i16 * 1000
            } else {
                0
            }
        })
        .collect();
    let prompt = Prompt::from_samples(&samples);
    assert_eq!(prompt.len(), 25);
    s.set_mode(
        start,
        Mode::Play {
            frames: prompt,
            then: AfterPlay::Done,
        },
    );
    assert!(s.is_playing());

    let mut sent = Vec::new();
    let mut done_at = None;
    let mut now = start;
    while now < start + Duration::from_secs(2) {
        // Drive by the session's own deadline, as a driver would.
        let wake = s.poll_timeout().unwrap();
        if wake > start + Duration::from_secs(10) {
            break; // only the RTP timeout is left
        }
        now = wake.max(now);
        s.handle_tick(now);
        sent.extend(drain_transmits(&mut s));
        let events = drain_events(&mut s);
        if events.contains(&MediaEvent::PlaybackDone) {
            assert!(done_at.is_none(), "PlaybackDone once");
            done_at = Some(now);
            assert_eq!(sent.len(), 25, "done after the last frame, not before");
        }
        now += Duration::from_millis(1);
    }
    assert_eq!(sent.len(), 25);
    assert_eq!(done_at, Some(start + TICK * 24));
    assert!(!s.is_playing());
    let packets: Vec<RtpPacket<'_>> = sent
        .iter()
        .map(|t| RtpPacket::parse(&t.bytes).unwrap())
        .collect();
    assert!(
        sent.iter().all(|t| t.dest == addr(SDP_PEER)),
        "not latched: SDP address"
    );
    assert!(packets[0].marker());
    assert!(packets[1..].iter().all(|p| !p.marker()));
    for (i, w) in packets.windows(2).enumerate() {
        assert_eq!(
            w[1].sequence(),
            w[0].sequence().wrapping_add(1),
            "seq at {i}"
        );
        assert_eq!(
            w[1].timestamp(),
            w[0].timestamp().wrapping_add(160),
            "ts at {i}"
        );
    }
    for (i, p) in packets.iter().enumerate() {
        assert_eq!(p.payload().len(), 160);
        let first = Codec::Pcmu.decode_sample(p.payload()[0]);
        assert!(
            (i32::from(first) - i as i32 * 1000).abs() < 600,
            "frame {i}: {first}"
        );
    }
    // Silence afterwards: the only deadline left is the RTP timeout.
    assert_eq!(s.poll_timeout(), Some(start + Duration::from_secs(60)));
    s.handle_tick(start + Duration::from_secs(1));
    assert!(drain_transmits(&mut s).is_empty());
}

#[test]
fn shipped_prompt_plays_frame_for_frame() {
    let prompt = Prompt::open(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/prompts/welcome.wav"
    ))
    .unwrap();
    let start = t0();
    let mut s = negotiated_session(start, "8 101");
    let frames = prompt.len();
    s.set_mode(
        start,
        Mode::Play {
            frames: prompt,
            then: AfterPlay::Echo,
        },
    );
    let mut count = 0;
    let mut events = Vec::new();
    for i in 0..=frames as u32 + 5 {
        s.handle_tick(start + TICK * i);
        count += drain_transmits(&mut s).len();
        events.extend(drain_events(&mut s));
    }
    assert_eq!(count, frames);
    assert_eq!(events, [MediaEvent::PlaybackDone]);
    // AfterPlay::Echo: now echoing.
    let mut peer = Peer::new(Codec::Pcma);
    let now = start + TICK * (frames as u32 + 6);
    s.handle_packet(now, addr(SDP_PEER), &peer.audio(&[100; 160]));
    let out = drain_transmits(&mut s);
    assert_eq!(out.len(), 1);
    assert!(
        RtpPacket::parse(&out[0].bytes).unwrap().marker(),
        "new talkspurt"
    );
}

/// Packets of one key press as a phone sends them, via the RFC 4733 sender.
fn press(peer: &mut Peer, digit: char, ms: u32, ts: u32) -> Vec<Vec<u8>> {
    DtmfSender::new(digit, ms, 10)
        .unwrap()
        .map(|p| peer.packet(101, p.marker, ts, &p.event.to_bytes()))
        .collect()
}

#[test]
fn dtmf_yields_exactly_the_digits_pressed() {
    let start = t0();
    let mut s = negotiated_session(start, "0 101");
    s.set_mode(start, Mode::Echo);
    let mut peer = Peer::new(Codec::Pcmu);
    let src = addr(NAT_PEER);
    let mut now = start;
    let mut events = Vec::new();
    let mut step = |s: &mut RtpSession, now: Instant, datagram: Option<&[u8]>| {
        if let Some(d) = datagram {
            s.handle_packet(now, src, d);
        }
        s.handle_tick(now);
        let out = drain_transmits(s);
        // Telephone-events are never echoed as audio.
        assert!(
            out.iter()
                .all(|t| RtpPacket::parse(&t.bytes).unwrap().payload_type() == 0)
        );
        events.extend(drain_events(s));
    };

    // Some speech first.
    for _ in 0..5 {
        let d = peer.audio(&[500; 160]);
        step(&mut s, now, Some(&d));
        now += TICK;
    }
    // '1': 100 ms, clean, each of the three end packets delivered (plus one duplicated).
    let mut p = press(&mut peer, '1', 100, 1_000);
    p.push(p.last().unwrap().clone());
    // '5': 120 ms, the first (marker) packet lost and an update lost.
    let mut q = press(&mut peer, '5', 120, 3_000);
    q.remove(0);
    q.remove(2);
    // '#': 80 ms, an end packet reordered before an update.
    let mut r = press(&mut peer, '#', 80, 5_000);
    let n = r.len();
    r.swap(n - 4, n - 3);
    // '5' again: a second press of the same key is a second digit.
    let again = press(&mut peer, '5', 60, 7_000);
    // '9': every end packet lost; reported after the quiet timeout.
    let mut lost_end = press(&mut peer, '9', 100, 9_000);
    lost_end.truncate(lost_end.len() - 3);

    for burst in [p, q, r, again, lost_end] {
        for d in burst {
            step(&mut s, now, Some(&d));
            now += TICK;
        }
        // A gap of audio between presses.
        for _ in 0..10 {
            let d = peer.audio(&[0; 160]);
            step(&mut s, now, Some(&d));
            now += TICK;
        }
    }
    // The '9' press ended by timeout during the audio gap above, or does now.
    for _ in 0..30 {
        step(&mut s, now, None);
        now += TICK;
    }
    assert_eq!(digits(&events), "15#59");
    let durations: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            MediaEvent::Dtmf { duration_ms, .. } => Some(*duration_ms),
            _ => None,
        })
        .collect();
    assert_eq!(durations, [100, 120, 80, 60, 80]); // '9' ends at its last update (640)
    assert_eq!(s.stats().dropped_malformed, 0);
}

#[test]
fn packets_from_a_second_source_are_ignored_after_latching() {
    let start = t0();
    let mut s = negotiated_session(start, "0 101");
    s.set_mode(start, Mode::Echo);
    let mut peer = Peer::new(Codec::Pcmu);
    let mut intruder = Peer::new(Codec::Pcmu);
    intruder.ssrc = 666;

    s.handle_packet(start, addr(NAT_PEER), &peer.audio(&[100; 160]));
    s.handle_packet(
        start,
        addr("203.0.113.99:5000"),
        &intruder.audio(&[9000; 160]),
    );
    // Even the SDP address is another source once latched.
    s.handle_packet(start, addr(SDP_PEER), &intruder.audio(&[9000; 160]));
    // DTMF from the intruder is not a digit.
    for d in press(&mut intruder, '7', 100, 1) {
        s.handle_packet(start, addr("203.0.113.99:5000"), &d);
    }
    s.handle_tick(start + Duration::from_secs(1));

    let out = drain_transmits(&mut s);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].dest, addr(NAT_PEER));
    assert_eq!(
        drain_events(&mut s),
        [MediaEvent::RemoteLatched {
            addr: addr(NAT_PEER)
        }]
    );
    assert_eq!(s.stats().dropped_wrong_source, 9);
    assert_eq!(s.destination(), addr(NAT_PEER));
}

#[test]
fn unknown_payload_types_are_dropped_undecoded_and_do_not_latch() {
    let start = t0();
    let mut s = negotiated_session(start, "0 101");
    s.set_mode(start, Mode::Echo);
    let mut peer = Peer::new(Codec::Pcmu);
    // PCMA (not negotiated), G.729, comfort noise, a dynamic type: none is ours.
    for pt in [8u8, 18, 13, 96] {
        let d = peer.packet(pt, false, 0, &[0x55; 160]);
        s.handle_packet(start, addr("203.0.113.99:5000"), &d);
    }
    assert_eq!(s.stats().dropped_wrong_payload_type, 4);
    assert!(drain_transmits(&mut s).is_empty());
    assert!(drain_events(&mut s).is_empty(), "nothing latched");
    // The real peer then latches.
    s.handle_packet(start, addr(NAT_PEER), &peer.audio(&[0; 160]));
    assert_eq!(
        drain_events(&mut s),
        [MediaEvent::RemoteLatched {
            addr: addr(NAT_PEER)
        }]
    );
    assert_eq!(drain_transmits(&mut s).len(), 1);
}

#[test]
fn malformed_packets_are_dropped_without_panic() {
    let start = t0();
    let mut s = negotiated_session(start, "0 101");
    s.set_mode(start, Mode::Echo);
    let src = addr(NAT_PEER);
    let mut peer = Peer::new(Codec::Pcmu);
    let mut bad_version = peer.audio(&[0; 160]);
    bad_version[0] = 0x40;
    let mut bad_padding = peer.audio(&[0; 160]);
    bad_padding[0] |= 0x20;
    *bad_padding.last_mut().unwrap() = 200;
    let mut truncated_csrc = peer.audio(&[0; 4]);
    truncated_csrc[0] |= 0x0F;
    let short_dtmf = peer.packet(101, true, 0, &[1, 2]);
    let datagrams: [&[u8]; 7] = [
        &[],
        &[0x80],
        b"INVITE sip:x SIP/2.0\r\n\r\n",
        &bad_version,
        &bad_padding,
        &truncated_csrc,
        &short_dtmf,
    ];
    for d in datagrams {
        s.handle_packet(start, src, d);
    }
    assert_eq!(s.stats().dropped_malformed, 7);
    assert!(drain_transmits(&mut s).is_empty());
    // The short DTMF packet parsed as RTP with our pt, so it latched; nothing else did.
    assert_eq!(
        drain_events(&mut s),
        [MediaEvent::RemoteLatched { addr: src }]
    );
}

#[test]
fn random_datagrams_never_panic() {
    let start = t0();
    let mut rng = StdRng::seed_from_u64(0x004D_4544_4941);
    let sources = [addr(NAT_PEER), addr(SDP_PEER), addr("[2001:db8::1]:7000")];
    let mut s = negotiated_session(start, "0 8 101");
    let prompt = Prompt::from_samples(&[1000; 1600]);
    let mut now = start;
    for i in 0..100_000u32 {
        let len = rng.random_range(0..400);
        let mut d: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        if len > 1 && rng.random_bool(0.7) {
            // Mostly plausible RTP, so the deeper paths run too.
            d[0] = 0x80 | (d[0] & 0x3F);
            d[1] = (d[1] & 0x80) | [0, 8, 101, 13][rng.random_range(0..4)];
        }
        let src = sources[rng.random_range(0..sources.len())];
        s.handle_packet(now, src, &d);
        if i % 7 == 0 {
            now += Duration::from_millis(rng.random_range(0..50));
            s.handle_tick(now);
        }
        if i % 5000 == 0 {
            let mode = match rng.random_range(0..3) {
                0 => Mode::Echo,
                1 => Mode::Silence,
                _ => Mode::Play {
                    frames: prompt.clone(),
                    then: AfterPlay::Done,
                },
            };
            s.set_mode(now, mode);
        }
        while let Some(t) = s.poll_transmit() {
            assert!(RtpPacket::parse(&t.bytes).is_ok(), "we only send valid RTP");
            s.recycle(t.bytes);
        }
        while s.poll_event().is_some() {}
        let _ = s.poll_timeout();
    }
    let st = s.stats();
    assert_eq!(st.packets_in, 100_000);
    assert!(
        st.dropped_malformed > 0
            && st.dropped_wrong_source > 0
            && st.dropped_wrong_payload_type > 0
    );
}

#[test]
fn sender_and_session_agree_over_a_simulated_call() {
    // Two sessions wired back to back: A plays a prompt to B, which echoes it back to A.
    let start = t0();
    let mut a = negotiated_session(start, "0 101");
    let mut b = RtpSession::new(
        start,
        SessionConfig {
            remote: addr("203.0.113.5:20000"),
            ..*a.config()
        },
        &mut StdRng::seed_from_u64(9),
    );
    let a_addr = addr("203.0.113.5:20000");
    let b_addr = addr(SDP_PEER);
    let prompt = Prompt::from_samples(&tone(1000.0, 1600, 8000.0));
    a.set_mode(
        start,
        Mode::Play {
            frames: prompt,
            then: AfterPlay::Done,
        },
    );
    b.set_mode(start, Mode::Echo);
    let mut returned = 0;
    let mut now = start;
    // Always advance whichever side has the earliest deadline; 30 ms one-way latency.
    let mut in_flight: Vec<(Instant, bool, Vec<u8>)> = Vec::new();
    for _ in 0..2000 {
        let next_packet = in_flight.iter().map(|p| p.0).min();
        let next = [a.poll_timeout(), b.poll_timeout(), next_packet]
            .into_iter()
            .flatten()
            .min()
            .unwrap();
        if next > start + Duration::from_secs(1) {
            break;
        }
        now = next.max(now);
        a.handle_tick(now);
        b.handle_tick(now);
        let (due, later): (Vec<_>, Vec<_>) = in_flight.into_iter().partition(|p| p.0 <= now);
        in_flight = later;
        for (_, to_b, bytes) in due {
            if to_b {
                b.handle_packet(now, a_addr, &bytes);
            } else {
                returned += 1;
                a.handle_packet(now, b_addr, &bytes);
            }
        }
        for t in drain_transmits(&mut a) {
            in_flight.push((now + Duration::from_millis(30), true, t.bytes));
        }
        for t in drain_transmits(&mut b) {
            in_flight.push((now + Duration::from_millis(30), false, t.bytes));
        }
        drain_events(&mut a);
        drain_events(&mut b);
    }
    assert_eq!(returned, 10);
    assert_eq!(a.stats().packets_out, 10);
    assert_eq!(b.stats().packets_in, 10);
    assert_eq!(a.stats().packets_in, 10);
}
