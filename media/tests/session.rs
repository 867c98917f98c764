//! Drives `RtpSession` with simulated time and a simulated peer: no sockets, no clock.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hotline_media::dtmf::DtmfSender;
use hotline_media::g711::Codec;
use hotline_media::rtp::{RtpHeader, RtpPacket};
use hotline_media::sdp::{self, LocalMedia, SessionDescription};
use hotline_media::session::{
    AfterPlay, Interrupt, MediaEvent, Mode, RtpSession, SessionConfig, Transmit, TransmitKind,
};
use hotline_media::{AudioCodec, FRAME_DURATION, FRAME_SAMPLES, Prompt};
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

/// The RTP datagrams a session queued; its RTCP reports (which a driver sends from the
/// RTCP socket) are left out, and looked at in the RTCP tests.
fn drain_transmits(s: &mut RtpSession) -> Vec<Transmit> {
    std::iter::from_fn(|| s.poll_transmit())
        .filter(|t| t.kind == TransmitKind::Rtp)
        .collect()
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
            barge_in: false,
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
    // Silence afterwards: the only deadlines left are the RTP timeout and RTCP reports.
    let report = s.rtcp().unwrap().poll_timeout().unwrap();
    assert_eq!(
        s.poll_timeout(),
        Some(report.min(start + Duration::from_secs(60)))
    );
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
            barge_in: false,
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
                    barge_in: false,
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
            barge_in: false,
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

// ---- Conference mode, RTCP, in-band DTMF and voice activity, over a simulated network ----

/// One side of a simulated call: a session and the addresses it is reached at.
struct Leg {
    s: RtpSession,
    rtp: SocketAddr,
    /// Its RTCP socket; `None` with rtcp-mux (RTCP comes and goes on the RTP port).
    rtcp: Option<SocketAddr>,
}

/// A datagram on its way.
struct Flight {
    at: Instant,
    from: SocketAddr,
    to: SocketAddr,
    bytes: Vec<u8>,
}

/// Two legs wired back to back through a lossy, jittery network; time is simulated.
struct Net {
    rng: StdRng,
    legs: [Leg; 2],
    latency: Duration,
    jitter: Duration,
    loss: f64,
    flights: Vec<Flight>,
    /// Every event, with the instant it came out and the leg's index.
    events: Vec<(Instant, usize, MediaEvent)>,
    /// Every RTP packet each leg sent, in order.
    rtp_sent: [Vec<Vec<u8>>; 2],
    /// Every RTCP datagram each leg sent, with its destination.
    rtcp_sent: [Vec<(SocketAddr, Vec<u8>)>; 2],
}

const A_RTP: &str = "203.0.113.5:20000";
const A_RTCP: &str = "203.0.113.5:20001";
const B_RTP: &str = "192.0.2.10:40000";
const B_RTCP: &str = "192.0.2.10:40001";

/// A leg at `rtp` talking to `peer` in PCMU, with RTCP on its own port or muxed.
fn leg(start: Instant, seed: u64, rtp: &str, peer: &str, peer_rtcp: &str, mux: bool) -> Leg {
    let config = SessionConfig {
        codec: AudioCodec::Pcmu,
        payload_type: 0,
        dtmf_payload_type: Some(101),
        cn_payload_type: None,
        remote: addr(peer),
        remote_rtcp: Some(addr(peer_rtcp)),
        rtcp_mux: mux,
        rtcp_interval: Some(Duration::from_secs(5)),
        ntp_at_start: 0xE000_0000_0000_0000 + seed,
        inband_dtmf: false,
        direction: sdp::Direction::SendRecv,
        rtp_timeout: SessionConfig::DEFAULT_RTP_TIMEOUT,
        initial_rtp_timeout: SessionConfig::DEFAULT_INITIAL_RTP_TIMEOUT,
    };
    let rtp = addr(rtp);
    Leg {
        s: RtpSession::new(start, config, &mut StdRng::seed_from_u64(seed)),
        rtp,
        rtcp: (!mux).then(|| SocketAddr::new(rtp.ip(), rtp.port() + 1)),
    }
}

impl Net {
    fn new(seed: u64, a: Leg, b: Leg, latency_ms: u64, jitter_ms: u64, loss: f64) -> Net {
        Net {
            rng: StdRng::seed_from_u64(seed),
            legs: [a, b],
            latency: Duration::from_millis(latency_ms),
            jitter: Duration::from_millis(jitter_ms),
            loss,
            flights: Vec::new(),
            events: Vec::new(),
            rtp_sent: [Vec::new(), Vec::new()],
            rtcp_sent: [Vec::new(), Vec::new()],
        }
    }

    /// Runs from `start` to `end`: datagrams are delivered when due, sessions are ticked
    /// at their deadlines and every 20 ms, when `on_tick(leg, session, now, tick)` runs
    /// too (take and send frames there).
    fn run(
        &mut self,
        start: Instant,
        end: Instant,
        mut on_tick: impl FnMut(usize, &mut RtpSession, Instant, u32),
    ) {
        let mut tick = 0u32;
        let mut next_tick = start;
        let mut now = start;
        loop {
            let next = [
                Some(next_tick),
                self.flights.iter().map(|f| f.at).min(),
                self.legs[0].s.poll_timeout(),
                self.legs[1].s.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap();
            if next > end {
                break;
            }
            now = next.max(now);
            self.flights.sort_by_key(|f| f.at);
            let due = self.flights.iter().take_while(|f| f.at <= now).count();
            for f in self.flights.drain(..due).collect::<Vec<_>>() {
                let Some(i) = self
                    .legs
                    .iter()
                    .position(|l| l.rtp == f.to || l.rtcp == Some(f.to))
                else {
                    continue; // nobody listens there
                };
                if self.legs[i].rtp == f.to {
                    self.legs[i].s.handle_packet(now, f.from, &f.bytes);
                } else {
                    self.legs[i].s.handle_rtcp(now, f.from, &f.bytes);
                }
            }
            for (i, leg) in self.legs.iter_mut().enumerate() {
                if leg.s.poll_timeout().is_some_and(|t| t <= now) || now >= next_tick {
                    leg.s.handle_tick(now);
                }
                if now >= next_tick {
                    on_tick(i, &mut leg.s, now, tick);
                }
            }
            if now >= next_tick {
                next_tick += TICK;
                tick += 1;
            }
            for i in 0..2 {
                while let Some(t) = self.legs[i].s.poll_transmit() {
                    let from = match t.kind {
                        TransmitKind::Rtp => self.legs[i].rtp,
                        TransmitKind::Rtcp => self.legs[i].rtcp.unwrap_or(self.legs[i].rtp),
                    };
                    match t.kind {
                        TransmitKind::Rtp => self.rtp_sent[i].push(t.bytes.clone()),
                        TransmitKind::Rtcp => self.rtcp_sent[i].push((t.dest, t.bytes.clone())),
                    }
                    if !self.rng.random_bool(self.loss) {
                        let jitter = self.jitter.mul_f64(self.rng.random::<f64>());
                        self.flights.push(Flight {
                            at: now + self.latency + jitter,
                            from,
                            to: t.dest,
                            bytes: t.bytes.clone(),
                        });
                    }
                    self.legs[i].s.recycle(t.bytes);
                }
                while let Some(e) = self.legs[i].s.poll_event() {
                    self.events.push((now, i, e));
                }
            }
        }
    }

    fn quality(&self, leg: usize) -> Vec<(f32, f32, f32, Option<f32>)> {
        self.events
            .iter()
            .filter(|(_, i, _)| *i == leg)
            .filter_map(|(_, _, e)| match *e {
                MediaEvent::Quality {
                    mos,
                    loss_fraction,
                    jitter_ms,
                    rtt_ms,
                } => Some((mos, loss_fraction, jitter_ms, rtt_ms)),
                _ => None,
            })
            .collect()
    }
}

/// Frame `n` of a continuous sine at `freq` (an integer number of cycles per frame is
/// not needed: the phase runs on).
fn tone_frame(freq: f64, amplitude: f64, n: u32) -> hotline_media::Frame {
    let mut frame = [0i16; FRAME_SAMPLES];
    for (k, s) in frame.iter_mut().enumerate() {
        let t = (n as usize * FRAME_SAMPLES + k) as f64 / 8000.0;
        *s = (amplitude * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16;
    }
    frame
}

#[test]
fn mix_mode_plays_each_peers_tone_through_jitter_and_loss() {
    let start = t0();
    let a = leg(start, 1, A_RTP, B_RTP, B_RTCP, false);
    let b = leg(start, 2, B_RTP, A_RTP, A_RTCP, false);
    // 40-70 ms one way (packets overtake each other), 2% loss.
    let mut net = Net::new(0x004D_4958, a, b, 40, 30, 0.02);
    net.legs[0].s.set_mode(start, Mode::Mix);
    net.legs[1].s.set_mode(start, Mode::Mix);
    let freqs = [600.0, 1000.0];
    let mut heard: [Vec<hotline_media::Frame>; 2] = [Vec::new(), Vec::new()];
    let seconds = 10;
    net.run(
        start,
        start + Duration::from_secs(seconds),
        |i, s, now, tick| {
            heard[i].push(*s.take_frame(now));
            // What this leg's phone says (the mixer would add the others to it).
            s.send_frame(now, &tone_frame(freqs[i], 8000.0, tick));
        },
    );

    let ticks = seconds as usize * 50 + 1;
    for i in 0..2 {
        // One packet per tick, consecutive, the first with the marker.
        let packets: Vec<RtpPacket<'_>> = net.rtp_sent[i]
            .iter()
            .map(|b| RtpPacket::parse(b).unwrap())
            .collect();
        assert_eq!(packets.len(), ticks, "leg {i}");
        assert!(packets[0].marker());
        assert!(packets[1..].iter().all(|p| !p.marker()));
        for w in packets.windows(2) {
            assert_eq!(w[1].sequence(), w[0].sequence().wrapping_add(1));
            assert_eq!(w[1].timestamp(), w[0].timestamp().wrapping_add(160));
        }
        assert!(packets.iter().all(|p| p.ssrc() == net.legs[i].s.ssrc()));

        // Each leg hears the other's tone, without a gap once it has started (the jitter
        // buffer's initial delay and the network's 70 ms at most: 10 frames).
        let other = freqs[1 - i];
        let mine = freqs[i];
        let frames = &heard[i][10..];
        for (n, f) in frames.iter().enumerate() {
            let total = mean_square(f);
            assert!(
                total > 0.3 * 8000.0f64.powi(2) / 2.0,
                "leg {i} frame {n}: {total}"
            );
            // A sine's power at its frequency is half its mean square.
            let share = goertzel(f, other) / total;
            assert!(share > 0.4, "leg {i} frame {n}: {share}");
            assert!(goertzel(f, mine) < 0.01 * total, "no echo of our own tone");
        }
        let pcm: Vec<i16> = frames.iter().flatten().copied().collect();
        let share = goertzel(&pcm, other) / mean_square(&pcm);
        assert!(share > 0.48, "leg {i}: {share}");

        let jb = net.legs[i].s.jitter_stats();
        assert!(jb.concealed > 0, "losses were concealed: {jb:?}");
        assert!(jb.played as usize > ticks * 9 / 10, "{jb:?}");
    }
}

#[test]
fn take_frame_is_silence_before_the_stream_and_send_frame_needs_mix_mode() {
    let start = t0();
    let mut s = negotiated_session(start, "0 101");
    assert_eq!(s.take_frame(start), &[0; FRAME_SAMPLES]);
    // Not in Mix mode: send_frame sends nothing.
    s.send_frame(start, &[1000; FRAME_SAMPLES]);
    assert!(drain_transmits(&mut s).is_empty());
    // Echo mode: packets are echoed at once and still reach take_frame.
    s.set_mode(start, Mode::Echo);
    let mut peer = Peer::new(Codec::Pcmu);
    let mut played = 0;
    for i in 0..20u32 {
        let now = start + TICK * i;
        s.handle_packet(now, addr(NAT_PEER), &peer.audio(&tone(1000.0, 160, 8000.0)));
        assert_eq!(drain_transmits(&mut s).len(), 1);
        if mean_square(s.take_frame(now)) > 1e6 {
            played += 1;
        }
    }
    assert!(played >= 15, "{played}");
}

/// The quality events of a 60 s call over a network with 25 ms each way and `loss`.
fn rtcp_call(mux: bool, loss: f64) -> Net {
    let start = t0();
    let (a_rtcp, b_rtcp) = if mux {
        (A_RTP, B_RTP)
    } else {
        (A_RTCP, B_RTCP)
    };
    let a = leg(start, 11, A_RTP, B_RTP, b_rtcp, mux);
    let b = leg(start, 12, B_RTP, A_RTP, a_rtcp, mux);
    let mut net = Net::new(0x5254_4350, a, b, 25, 0, loss);
    net.legs[0].s.set_mode(start, Mode::Mix);
    net.legs[1].s.set_mode(start, Mode::Mix);
    net.run(start, start + Duration::from_secs(60), |i, s, now, tick| {
        s.take_frame(now);
        s.send_frame(now, &tone_frame(300.0 + 200.0 * i as f64, 4000.0, tick));
    });
    net
}

#[test]
fn rtcp_reports_give_rtt_loss_and_mos() {
    for mux in [false, true] {
        let lossy = rtcp_call(mux, 0.05);
        let clean = rtcp_call(mux, 0.0);
        for i in 0..2 {
            let q = lossy.quality(i);
            // At most one per 5 s interval (the first comes before any RTT is known).
            assert!((7..=12).contains(&q.len()), "mux {mux} leg {i}: {q:?}");
            for w in lossy
                .events
                .iter()
                .filter(|(_, l, e)| *l == i && matches!(e, MediaEvent::Quality { .. }))
                .collect::<Vec<_>>()
                .windows(2)
            {
                assert!(w[1].0 - w[0].0 >= Duration::from_secs(5));
            }
            let with_rtt: Vec<_> = q.iter().filter(|e| e.3.is_some()).collect();
            assert!(with_rtt.len() >= q.len() - 3, "{q:?}");
            for &&(mos, loss, jitter, rtt) in &with_rtt {
                let rtt = rtt.unwrap();
                assert!((48.0..52.0).contains(&rtt), "rtt {rtt}");
                assert!((0.0..0.12).contains(&loss), "loss {loss}");
                assert!(jitter < 1.0, "jitter {jitter}");
                assert!((3.0..4.3).contains(&mos), "mos {mos}");
            }
            let mean_loss = q.iter().map(|e| e.1).sum::<f32>() / q.len() as f32;
            assert!((0.035..0.065).contains(&mean_loss), "mean loss {mean_loss}");
            let mean_mos = q.iter().map(|e| e.0).sum::<f32>() / q.len() as f32;

            let c = clean.quality(i);
            assert!(c.iter().all(|e| e.1 == 0.0), "{c:?}");
            let clean_mos = c.iter().map(|e| e.0).sum::<f32>() / c.len() as f32;
            assert!(clean_mos > 4.3, "{clean_mos}");
            assert!(mean_mos < clean_mos - 0.3, "{mean_mos} vs {clean_mos}");

            // Reports went where the peer listens: its RTP port with mux, else port + 1.
            let expected = if mux {
                lossy.legs[1 - i].rtp
            } else {
                lossy.legs[1 - i].rtcp.unwrap()
            };
            let sent = &clean.rtcp_sent[i];
            assert!((9..=16).contains(&sent.len()), "{}", sent.len());
            assert!(sent.iter().all(|(dest, _)| *dest == expected));
            let stats = clean.legs[i].s.stats();
            assert_eq!(stats.rtcp_packets_in, clean.rtcp_sent[1 - i].len() as u64);
            assert_eq!(stats.rtcp_packets_out, sent.len() as u64);
            assert_eq!(stats.dropped_wrong_source, 0);
            // RTCP is neither audio nor a malformed RTP packet.
            assert_eq!(stats.dropped_malformed, 0);
            assert_eq!(stats.dropped_wrong_payload_type, 0);
        }
    }
}

#[test]
fn rtcp_from_a_stranger_is_ignored_and_the_peer_is_read_on_any_port() {
    use hotline_media::rtcp::{ReportBlock, write_receiver_report};
    let start = t0();
    let mut s = negotiated_session(start, "0 101");
    s.set_mode(start, Mode::Echo);
    let report_on_us = |s: &RtpSession| {
        let mut out = Vec::new();
        let block = ReportBlock {
            ssrc: s.ssrc(),
            fraction_lost: 26,
            ..ReportBlock::default()
        };
        write_receiver_report(&mut out, 0xABCD, &[block]).unwrap();
        out
    };
    let rr = report_on_us(&s);
    // Before latching: only the SDP's RTCP (or RTP) address is the peer.
    s.handle_rtcp(start, addr("198.51.100.7:61001"), &rr);
    assert_eq!(s.stats().dropped_wrong_source, 1);
    assert!(s.rtcp().unwrap().remote_report().is_none());
    s.handle_rtcp(start, addr("192.0.2.10:40001"), &rr);
    assert_eq!(s.stats().rtcp_packets_in, 1);
    assert_eq!(s.rtcp().unwrap().remote_report().unwrap().fraction_lost, 26);

    // Latched behind NAT: the peer's IP on any port; RTCP to the RTP port + 1 until the
    // peer's own RTCP shows where it comes from.
    let mut peer = Peer::new(Codec::Pcmu);
    s.handle_packet(start, addr(NAT_PEER), &peer.audio(&[0; 160]));
    assert_eq!(s.rtcp_destination(), Some(addr("198.51.100.7:61001")));
    s.handle_rtcp(start, addr("203.0.113.99:61001"), &rr);
    s.handle_packet(start, addr("203.0.113.99:61000"), &rr); // muxed, from a stranger
    assert_eq!(s.stats().dropped_wrong_source, 3);
    s.handle_rtcp(start, addr("198.51.100.7:3478"), &rr);
    assert_eq!(s.stats().rtcp_packets_in, 2);
    // Symmetric RTCP: reports go where the peer's come from.
    assert_eq!(s.rtcp_destination(), Some(addr("198.51.100.7:3478")));
    // Muxed RTCP from the latched address is read, never taken for audio.
    s.handle_packet(start, addr(NAT_PEER), &rr);
    assert_eq!(s.stats().rtcp_packets_in, 3);
    assert_eq!(s.stats().dropped_malformed, 0);
    assert_eq!(
        drain_transmits(&mut s).len(),
        1,
        "only the audio packet echoed"
    );
}

/// Peak amplitude of a sine at `dbm0` (a full-scale sine is +3.14 dBm0).
fn dbm0_amplitude(dbm0: f64) -> f64 {
    32768.0 * (0.4853 * 10f64.powf(dbm0 / 10.0)).sqrt()
}

/// Key presses as tones in the audio: each `press_ms` long at -10 dBm0 per tone, with
/// `gap_ms` of silence before each.
fn dtmf_audio(keys: &str, press_ms: usize, gap_ms: usize) -> Vec<i16> {
    let rows = [697.0, 770.0, 852.0, 941.0];
    let cols = [1209.0, 1336.0, 1477.0, 1633.0];
    let pad = ["123A", "456B", "789C", "*0#D"];
    let a = dbm0_amplitude(-10.0);
    let mut pcm = Vec::new();
    for key in keys.chars() {
        let r = pad.iter().position(|row| row.contains(key)).unwrap();
        let c = pad[r].find(key).unwrap();
        pcm.resize(pcm.len() + gap_ms * 8, 0);
        pcm.extend((0..press_ms * 8).map(|n| {
            let t = n as f64 / 8000.0;
            let w = 2.0 * std::f64::consts::PI * t;
            (a * ((w * rows[r]).sin() + (w * cols[c] + 0.7).sin())) as i16
        }));
    }
    pcm
}

/// Feeds `pcm` as 20 ms PCMU packets, one per tick, then ticks on for `tail` without
/// packets; returns the events with their instants.
fn feed(
    s: &mut RtpSession,
    start: Instant,
    pcm: &[i16],
    tail: Duration,
) -> Vec<(Duration, MediaEvent)> {
    let mut peer = Peer::new(Codec::Pcmu);
    let mut events = Vec::new();
    let mut now = start;
    for frame in pcm.chunks(FRAME_SAMPLES) {
        // A packet leaves when its 20 ms have been captured.
        now += TICK;
        s.handle_packet(now, addr(NAT_PEER), &peer.audio(frame));
        s.take_frame(now);
        s.handle_tick(now);
        drain_transmits(s);
        events.extend(drain_events(s).into_iter().map(|e| (now - start, e)));
    }
    let end = now + tail;
    while now < end {
        now += TICK;
        s.handle_tick(now);
        events.extend(drain_events(s).into_iter().map(|e| (now - start, e)));
    }
    events
}

fn inband_session(start: Instant, inband: bool) -> RtpSession {
    let config = SessionConfig {
        dtmf_payload_type: None, // no telephone-event: why in-band detection is on
        inband_dtmf: inband,
        ..*negotiated_session(start, "0").config()
    };
    RtpSession::new(start, config, &mut StdRng::seed_from_u64(4733))
}

#[test]
fn inband_dtmf_is_detected_in_every_mode_when_asked_for() {
    let pcm = dtmf_audio("123#", 80, 80);
    for mode in [Mode::Silence, Mode::Echo, Mode::Mix] {
        let start = t0();
        let mut s = inband_session(start, true);
        s.set_mode(start, mode.clone());
        // The audio stops right after '#': the press is closed by the silence of the
        // line, not by more packets.
        let events: Vec<MediaEvent> = feed(&mut s, start, &pcm, Duration::from_millis(300))
            .into_iter()
            .map(|(_, e)| e)
            .collect();
        assert_eq!(digits(&events), "123#", "{mode:?}");
        for e in &events {
            if let MediaEvent::Dtmf { duration_ms, .. } = e {
                assert!((70..=90).contains(duration_ms), "{e:?}");
            }
        }
    }
    // Off: tones are only audio.
    let start = t0();
    let mut s = inband_session(start, false);
    s.set_mode(start, Mode::Echo);
    let events: Vec<MediaEvent> = feed(&mut s, start, &pcm, Duration::from_millis(300))
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    assert_eq!(digits(&events), "");
}

#[test]
fn inband_detection_stops_once_the_peer_sends_telephone_events() {
    let start = t0();
    let config = SessionConfig {
        inband_dtmf: true,
        ..*negotiated_session(start, "0 101").config()
    };
    let mut s = RtpSession::new(start, config, &mut StdRng::seed_from_u64(1));
    let mut peer = Peer::new(Codec::Pcmu);
    // A phone that sends '5' both ways: as events, and as tones in its audio.
    for d in press(&mut peer, '5', 100, 0) {
        s.handle_packet(start, addr(NAT_PEER), &d);
    }
    let mut now = start;
    for frame in dtmf_audio("5", 100, 40).chunks(FRAME_SAMPLES) {
        now += TICK;
        s.handle_packet(now, addr(NAT_PEER), &peer.audio(frame));
    }
    s.handle_tick(now + Duration::from_secs(1));
    assert_eq!(digits(&drain_events(&mut s)), "5");
}

/// Background noise at about -60 dBov with voiced bursts (150 Hz and two harmonics, about
/// -20 dBov) at the given spans, in ms.
fn speech_audio(total_ms: usize, bursts: &[(usize, usize)]) -> Vec<i16> {
    let mut rng = StdRng::seed_from_u64(0x0056_4144);
    (0..total_ms * 8)
        .map(|n| {
            let noise = rng.random_range(-57.0..57.0); // uniform: -60 dBov
            let ms = n / 8;
            let voiced = bursts.iter().any(|&(a, b)| (a..b).contains(&ms));
            let t = n as f64 / 8000.0;
            let w = 2.0 * std::f64::consts::PI * 150.0 * t;
            let v = if voiced {
                2000.0 * (w.sin() + (2.0 * w).sin() + (3.0 * w).sin())
            } else {
                0.0
            };
            (noise + v) as i16
        })
        .collect()
}

fn speech_events(events: &[(Duration, MediaEvent)]) -> Vec<(u64, MediaEvent)> {
    events
        .iter()
        .filter(|(_, e)| matches!(e, MediaEvent::SpeechStart | MediaEvent::SpeechEnd { .. }))
        .map(|(t, e)| (t.as_millis() as u64, *e))
        .collect()
}

#[test]
fn speech_bursts_give_speech_events_at_the_right_times() {
    let start = t0();
    let mut s = negotiated_session(start, "0 101");
    s.set_mode(start, Mode::Echo);
    let pcm = speech_audio(4000, &[(1000, 1600), (2500, 2800)]);
    let events = speech_events(&feed(&mut s, start, &pcm, Duration::ZERO));
    // Speech is confirmed after two active frames (the packet of 1020-1040 ms arrives at
    // 1040), and ends after 200 ms without one.
    assert_eq!(
        events,
        [
            (1040, MediaEvent::SpeechStart),
            (1800, MediaEvent::SpeechEnd { duration_ms: 600 }),
            (2540, MediaEvent::SpeechStart),
            (3000, MediaEvent::SpeechEnd { duration_ms: 300 }),
        ]
    );
}

#[test]
fn speech_ends_when_the_audio_stops() {
    // A sender with silence suppression stops sending after the talkspurt.
    let start = t0();
    let mut s = negotiated_session(start, "0 101");
    let pcm = speech_audio(1600, &[(1000, 1600)]);
    let events = speech_events(&feed(&mut s, start, &pcm, Duration::from_secs(1)));
    // The last packet arrives at 1600 ms; 120 ms later the talkspurt is closed.
    assert_eq!(
        events,
        [
            (1040, MediaEvent::SpeechStart),
            (1720, MediaEvent::SpeechEnd { duration_ms: 600 }),
        ]
    );
}

#[test]
fn random_datagrams_in_mix_mode_with_rtcp_never_panic() {
    let start = t0();
    let mut rng = StdRng::seed_from_u64(0x0052_5443);
    let sources = [addr(NAT_PEER), addr(SDP_PEER), addr("192.0.2.10:40001")];
    let config = SessionConfig {
        inband_dtmf: true,
        rtcp_interval: Some(Duration::from_millis(300)),
        ..*negotiated_session(start, "0 101").config()
    };
    let mut s = RtpSession::new(start, config, &mut StdRng::seed_from_u64(5));
    s.set_mode(start, Mode::Mix);
    let mut now = start;
    let mut tick = 0;
    let mut last_seq: Option<u16> = None;
    for i in 0..50_000u32 {
        let len = rng.random_range(0..300);
        let mut d: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        if len > 1 && rng.random_bool(0.5) {
            d[0] = 0x80 | (d[0] & 0x3F);
            d[1] = [0, 101, 200, 201, 202, 203][rng.random_range(0..6)];
        }
        let src = sources[rng.random_range(0..sources.len())];
        if rng.random_bool(0.3) {
            s.handle_rtcp(now, src, &d);
        } else {
            s.handle_packet(now, src, &d);
        }
        if i % 5 == 0 {
            now += Duration::from_millis(rng.random_range(0..30));
            s.handle_tick(now);
            s.take_frame(now);
            s.send_frame(now, &tone_frame(440.0, 1000.0, tick));
            tick += 1;
        }
        if i % 10_000 == 0 {
            s.bye(now);
        }
        while let Some(t) = s.poll_transmit() {
            match t.kind {
                TransmitKind::Rtp => {
                    let p = RtpPacket::parse(&t.bytes).unwrap();
                    assert_eq!(p.ssrc(), s.ssrc());
                    if let Some(seq) = last_seq {
                        assert_eq!(p.sequence(), seq.wrapping_add(1));
                    }
                    last_seq = Some(p.sequence());
                }
                TransmitKind::Rtcp => {
                    assert!(hotline_media::rtcp::parse_compound(&t.bytes).all(|p| p.is_ok()));
                    assert_eq!(Some(t.dest), s.rtcp_destination());
                }
            }
            s.recycle(t.bytes);
        }
        while let Some(e) = s.poll_event() {
            if let MediaEvent::Quality {
                mos,
                loss_fraction,
                jitter_ms,
                ..
            } = e
            {
                assert!((1.0..=4.5).contains(&mos));
                assert!((0.0..=1.0).contains(&loss_fraction));
                assert!(jitter_ms >= 0.0);
            }
        }
        let _ = s.poll_timeout();
    }
    assert_eq!(s.stats().packets_out, u64::from(tick));
    assert!(s.stats().rtcp_packets_in > 0 && s.stats().rtcp_packets_out > 0);
}

/// Things with their time in ms since the start.
type Timed<T> = Vec<(u64, T)>;

/// Runs `s` tick by tick for `ticks` ticks of 20 ms from `start`: at tick `i` (at
/// `start + (i + 1)·20 ms`, when a phone's packet for the 20 ms before has been captured) the
/// datagrams `peer_sends(i)` arrive, then the session is ticked. Returns the events and the
/// RTP packets we sent, each with its time in ms since `start`.
fn drive(
    s: &mut RtpSession,
    start: Instant,
    ticks: usize,
    mut peer_sends: impl FnMut(usize) -> Vec<Vec<u8>>,
) -> (Timed<MediaEvent>, Timed<Vec<u8>>) {
    let mut events = Vec::new();
    let mut sent = Vec::new();
    for i in 0..ticks {
        let now = start + TICK * (i as u32 + 1);
        let ms = (now - start).as_millis() as u64;
        for d in peer_sends(i) {
            s.handle_packet(now, addr(NAT_PEER), &d);
        }
        s.handle_tick(now);
        sent.extend(drain_transmits(s).into_iter().map(|t| (ms, t.bytes)));
        events.extend(drain_events(s).into_iter().map(|e| (ms, e)));
    }
    (events, sent)
}

/// A 3 s prompt (150 frames of 1 kHz).
fn long_prompt() -> Prompt {
    Prompt::from_samples(&tone(1000.0, 24_000, 8000.0))
}

fn play(prompt: Prompt, then: AfterPlay, barge_in: bool) -> Mode {
    Mode::Play {
        frames: prompt,
        then,
        barge_in,
    }
}

/// The events that say how a prompt ended, with their times.
fn endings(events: &[(u64, MediaEvent)]) -> Vec<(u64, MediaEvent)> {
    events
        .iter()
        .filter(|(_, e)| {
            matches!(
                e,
                MediaEvent::PlaybackDone | MediaEvent::PlaybackInterrupted { .. }
            )
        })
        .copied()
        .collect()
}

#[test]
fn a_telephone_event_key_press_barges_in_and_then_echo_follows() {
    let start = t0();
    let mut s = negotiated_session(start, "0 101");
    s.set_mode(start, play(long_prompt(), AfterPlay::Echo, true));
    let mut peer = Peer::new(Codec::Pcmu);
    // '5' pressed 500 ms in, for 100 ms; then plain audio, which is echoed.
    let mut keys = press(&mut peer, '5', 100, 4_000).into_iter();
    let (events, sent) = drive(&mut s, start, 75, |i| match i {
        0..25 => vec![peer.audio(&[0; 160])],
        _ => match keys.next() {
            Some(k) => vec![k],
            None => vec![peer.audio(&[300; 160])],
        },
    });
    // The digit is reported with the press's end packet, and the prompt stops there.
    let pos = events
        .iter()
        .position(|(_, e)| matches!(e, MediaEvent::Dtmf { digit: '5', .. }))
        .expect("the digit is still reported");
    let (at, next) = events[pos + 1];
    assert_eq!(at, events[pos].0, "interrupted in the same call");
    let MediaEvent::PlaybackInterrupted {
        by: Interrupt::Dtmf('5'),
        played_ms,
    } = next
    else {
        panic!("{next:?} after the digit: {events:?}");
    };
    assert_eq!(endings(&events).len(), 1, "no PlaybackDone: {events:?}");
    // Everything sent until then was the prompt: frame by frame, `played_ms` of it.
    let prompt_packets = sent.iter().filter(|(t, _)| *t < at).count();
    assert_eq!(played_ms, prompt_packets as u32 * 20);
    assert_eq!(played_ms, at as u32, "one frame per 20 ms since the start");
    // Then, as `then` says, the caller's audio comes back (not the 1 kHz prompt).
    let after: Vec<&Vec<u8>> = sent
        .iter()
        .filter(|(t, _)| *t > at)
        .map(|(_, b)| b)
        .collect();
    assert!(!after.is_empty());
    for bytes in after {
        let p = RtpPacket::parse(bytes).unwrap();
        let mut pcm = [0i16; 160];
        Codec::Pcmu.decode(p.payload(), &mut pcm);
        assert!(pcm.iter().all(|&x| (x - 300).abs() < 20), "an echo of 300s");
    }
}

#[test]
fn an_inband_key_press_barges_in() {
    let start = t0();
    let mut s = inband_session(start, true);
    s.set_mode(start, play(long_prompt(), AfterPlay::Done, true));
    let pcm = dtmf_audio("7", 100, 600);
    let mut peer = Peer::new(Codec::Pcmu);
    let frames: Vec<&[i16]> = pcm.chunks(FRAME_SAMPLES).collect();
    let (events, sent) = drive(&mut s, start, 100, |i| {
        let frame = frames.get(i).copied().unwrap_or(&[0; 160]);
        vec![peer.audio(frame)]
    });
    let ends = endings(&events);
    let [(at, MediaEvent::PlaybackInterrupted { by, played_ms })] = ends[..] else {
        panic!("{events:?}");
    };
    assert_eq!(by, Interrupt::Dtmf('7'));
    // The key went down at 600 ms and up at 700; the detector reports it once the key has
    // been gone for two blocks.
    assert!((700..=760).contains(&at), "interrupted at {at} ms");
    assert_eq!(
        played_ms as usize,
        sent.iter().filter(|(t, _)| *t <= at).count() * 20
    );
    assert!(
        sent.iter().all(|(t, _)| *t <= at),
        "nothing after: Done is silence"
    );
    assert_eq!(
        digits(&events.iter().map(|(_, e)| *e).collect::<Vec<_>>()),
        "7"
    );
}

#[test]
fn speech_barges_in_as_soon_as_it_is_heard() {
    let start = t0();
    let mut s = negotiated_session(start, "0 101");
    s.set_mode(start, play(long_prompt(), AfterPlay::Done, true));
    let pcm = speech_audio(2000, &[(1000, 1600)]);
    let mut peer = Peer::new(Codec::Pcmu);
    let frames: Vec<&[i16]> = pcm.chunks(FRAME_SAMPLES).collect();
    let (events, sent) = drive(&mut s, start, 150, |i| {
        frames
            .get(i)
            .map(|f| vec![peer.audio(f)])
            .unwrap_or_default()
    });
    // Speech is confirmed when the packet of 1020-1040 ms arrives, at 1040 ms; by then the
    // frames due up to 1020 ms had gone out: 52 of them.
    let pos = events
        .iter()
        .position(|(_, e)| *e == MediaEvent::SpeechStart)
        .expect("speech heard");
    assert_eq!(events[pos].0, 1040);
    assert_eq!(
        events[pos + 1],
        (
            1040,
            MediaEvent::PlaybackInterrupted {
                by: Interrupt::Speech,
                played_ms: 1040
            }
        )
    );
    assert_eq!(endings(&events).len(), 1);
    assert_eq!(sent.len(), 52, "not one frame more");
    // The end of the talkspurt is still reported, and changes nothing.
    assert!(
        events
            .iter()
            .any(|(_, e)| matches!(e, MediaEvent::SpeechEnd { .. }))
    );
}

#[test]
fn without_barge_in_the_prompt_plays_out_through_keys_and_speech() {
    let start = t0();
    let mut s = negotiated_session(start, "0 101");
    let prompt = long_prompt();
    let frames_in_prompt = prompt.len();
    s.set_mode(start, play(prompt, AfterPlay::Done, false));
    let speech = speech_audio(1000, &[(200, 800)]);
    let speech: Vec<&[i16]> = speech.chunks(FRAME_SAMPLES).collect();
    let mut peer = Peer::new(Codec::Pcmu);
    let mut keys = press(&mut peer, '9', 100, 90_000).into_iter();
    let (events, sent) = drive(&mut s, start, 200, |i| match i {
        0..50 => vec![peer.audio(speech[i])],
        _ => keys.next().into_iter().collect(),
    });
    let all: Vec<MediaEvent> = events.iter().map(|(_, e)| *e).collect();
    assert!(all.contains(&MediaEvent::SpeechStart));
    assert_eq!(digits(&all), "9");
    // The last of the 150 frames is due at 2980 ms.
    assert_eq!(
        endings(&events),
        [(2980, MediaEvent::PlaybackDone)],
        "played to the end"
    );
    assert_eq!(sent.len(), frames_in_prompt);
}

#[test]
fn a_repeating_prompt_goes_round_seamlessly_until_the_mode_changes() {
    let start = t0();
    let mut s = negotiated_session(start, "0 101");
    let samples: Vec<i16> = (0..480).map(|n| (n as i16 - 240) * 50).collect();
    s.set_mode(
        start,
        play(Prompt::from_samples(&samples), AfterPlay::Repeat, false),
    );
    let (events, sent) = drive(&mut s, start, 9, |_| Vec::new());
    // Frames due at 0..=180 ms: ten, three rounds and one frame more.
    assert_eq!(sent.len(), 10);
    assert!(
        endings(&events).is_empty(),
        "a repeating prompt never ends by itself"
    );
    let packets: Vec<RtpPacket<'_>> = sent
        .iter()
        .map(|(_, b)| RtpPacket::parse(b).unwrap())
        .collect();
    for (i, p) in packets.iter().enumerate() {
        assert_eq!(p.marker(), i == 0, "one talkspurt");
        assert_eq!(
            p.payload(),
            packets[i % 3].payload(),
            "frame {} again",
            i % 3
        );
        if i > 0 {
            assert_eq!(p.timestamp(), packets[i - 1].timestamp().wrapping_add(160));
        }
    }
    s.set_mode(start + TICK * 10, Mode::Silence);
    s.handle_tick(start + TICK * 20);
    assert!(drain_transmits(&mut s).is_empty());
    assert!(drain_events(&mut s).is_empty());
}
