//! RTCP: compound packets on the wire, and two `RtcpState`s over a simulated network
//! (latency, jitter, loss, fixed seeds): no sockets, no clock.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use hotline_media::rtcp::{
    self, OtherPacket, ReportBlock, RtcpConfig, RtcpError, RtcpEvent, RtcpPacket, RtcpState,
    SenderInfo,
};
use rand::{Rng, SeedableRng, rngs::StdRng};

#[allow(clippy::disallowed_methods)] // One arbitrary origin; every later time is an offset.
fn t0() -> Instant {
    Instant::now()
}

const MS: Duration = Duration::from_millis(1);
/// An NTP wall-clock reading (2025-ish), as a driver would take it from `SystemTime`.
const NTP0: u64 = (3_950_000_000u64) << 32;

fn sample_block() -> ReportBlock {
    ReportBlock {
        ssrc: 0x2222,
        fraction_lost: 12,
        cumulative_lost: -3,
        extended_highest_seq: 0x0002_0010,
        jitter: 77,
        last_sr: 0x1234_5678,
        delay_since_last_sr: 3 * 65_536,
    }
}

fn sample_compound() -> Vec<u8> {
    let mut out = Vec::new();
    let info = SenderInfo {
        ntp_timestamp: 0x0102_0304_0506_0708,
        rtp_timestamp: 160_000,
        packet_count: 1000,
        octet_count: 160_000,
    };
    rtcp::write_sender_report(&mut out, 0x1111, &info, &[sample_block()]).unwrap();
    rtcp::write_sdes_cname(&mut out, 0x1111, "hotline@192.0.2.1").unwrap();
    // An APP packet (name "TEST", 4 bytes of data) and an XR, neither decoded here.
    out.extend_from_slice(&[0x81, 204, 0, 3, 0, 0, 0x11, 0x11, b'T', b'E', b'S', b'T']);
    out.extend_from_slice(&[1, 2, 3, 4]);
    out.extend_from_slice(&[0x80, 207, 0, 1, 0, 0, 0x11, 0x11]);
    rtcp::write_bye(&mut out, &[0x1111], Some("hung up")).unwrap();
    out
}

#[test]
fn compound_round_trip() {
    let bytes = sample_compound();
    assert!(rtcp::is_rtcp(&bytes));
    let packets: Vec<_> = rtcp::parse_compound(&bytes)
        .collect::<Result<_, _>>()
        .unwrap();
    let types: Vec<_> = packets.iter().map(RtcpPacket::packet_type).collect();
    assert_eq!(types, [200, 202, 204, 207, 203]);

    let RtcpPacket::SenderReport(sr) = packets[0] else {
        panic!("SR expected");
    };
    assert_eq!(sr.ssrc, 0x1111);
    assert_eq!(sr.info.ntp_timestamp, 0x0102_0304_0506_0708);
    assert_eq!(sr.info.rtp_timestamp, 160_000);
    assert_eq!((sr.info.packet_count, sr.info.octet_count), (1000, 160_000));
    assert_eq!(sr.reports.len(), 1);
    assert_eq!(sr.reports.collect::<Vec<_>>(), [sample_block()]);

    let RtcpPacket::SourceDescription(sdes) = packets[1] else {
        panic!("SDES expected");
    };
    let chunks: Vec<_> = sdes.chunks().collect();
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].ssrc, 0x1111);
    assert_eq!(chunks[0].cname(), Some(&b"hotline@192.0.2.1"[..]));

    assert_eq!(
        packets[2],
        RtcpPacket::Other(OtherPacket {
            packet_type: 204,
            count: 1,
            body: &[0, 0, 0x11, 0x11, b'T', b'E', b'S', b'T', 1, 2, 3, 4],
        })
    );

    let RtcpPacket::Goodbye(bye) = packets[4] else {
        panic!("BYE expected");
    };
    assert_eq!(bye.ssrcs().collect::<Vec<_>>(), [0x1111]);
    assert_eq!(bye.reason(), Some(&b"hung up"[..]));

    // Every packet is 32-bit aligned, as the length field requires.
    assert_eq!(bytes.len() % 4, 0);
}

#[test]
fn sdes_with_several_chunks_and_items() {
    // Two chunks: (1, CNAME "ab", NAME "x") and (2, nothing), each null-terminated and
    // padded to 32 bits.
    let mut b = vec![0x82, 202, 0, 6];
    b.extend_from_slice(&[0, 0, 0, 1, 1, 2, b'a', b'b', 2, 1, b'x', 0]);
    b.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 0]);
    b.extend_from_slice(&[0, 0, 0, 0]); // trailing padding words are tolerated
    let Some(Ok(RtcpPacket::SourceDescription(sdes))) = rtcp::parse_compound(&b).next() else {
        panic!("SDES expected");
    };
    let chunks: Vec<_> = sdes.chunks().collect();
    assert_eq!(chunks.iter().map(|c| c.ssrc).collect::<Vec<_>>(), [1, 2]);
    let items: Vec<_> = chunks[0].items().map(|i| (i.kind, i.value)).collect();
    assert_eq!(items, [(1, &b"ab"[..]), (2, &b"x"[..])]);
    assert_eq!(chunks[1].cname(), None);
}

#[test]
fn padding_is_removed() {
    // An RR with no blocks followed by 4 bytes of padding (P bit, last byte = 4).
    let b = [0xA0, 201, 0, 2, 0, 0, 0, 9, 0, 0, 0, 4];
    let Some(Ok(RtcpPacket::ReceiverReport(rr))) = rtcp::parse_compound(&b).next() else {
        panic!("RR expected");
    };
    assert_eq!((rr.ssrc, rr.reports.len()), (9, 0));
    let bad = [0xA0, 201, 0, 1, 0, 0, 0, 0];
    assert_eq!(
        rtcp::parse_compound(&bad).next(),
        Some(Err(RtcpError::BadPadding { padding: 0 }))
    );
}

#[test]
fn a_malformed_body_does_not_hide_the_rest() {
    // An RR claiming 2 blocks in a 2-word packet, then a good BYE.
    let mut b = vec![0x82, 201, 0, 1, 0, 0, 0, 9];
    rtcp::write_bye(&mut b, &[5], None).unwrap();
    let results: Vec<_> = rtcp::parse_compound(&b).collect();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0], Err(RtcpError::Malformed { packet_type: 201 }));
    assert!(matches!(results[1], Ok(RtcpPacket::Goodbye(_))));

    // A length running past the end ends the walk.
    let truncated = [0x80, 200, 0, 6, 0, 0, 0, 1];
    let results: Vec<_> = rtcp::parse_compound(&truncated).collect();
    assert_eq!(
        results,
        [Err(RtcpError::Truncated {
            packet_type: 200,
            declared: 28,
            available: 8
        })]
    );
    assert_eq!(
        rtcp::parse_compound(&[0x40, 200, 0, 0]).next(),
        Some(Err(RtcpError::BadVersion { version: 1 }))
    );
    assert_eq!(
        rtcp::parse_compound(&[0x80, 200]).next(),
        Some(Err(RtcpError::TooShort { len: 2 }))
    );
}

#[test]
fn writers_refuse_what_does_not_fit() {
    let mut out = Vec::new();
    assert_eq!(
        rtcp::write_receiver_report(&mut out, 1, &[sample_block(); 32]),
        Err(RtcpError::TooManyItems { count: 32 })
    );
    assert_eq!(
        rtcp::write_sdes_cname(&mut out, 1, &"x".repeat(256)),
        Err(RtcpError::TextTooLong { len: 256 })
    );
    assert_eq!(
        rtcp::write_bye(&mut out, &[1], Some(&"y".repeat(300))),
        Err(RtcpError::TextTooLong { len: 300 })
    );
    assert!(out.is_empty(), "a refused packet leaves nothing behind");
    rtcp::write_receiver_report(&mut out, 1, &[sample_block(); 31]).unwrap();
    assert_eq!(out.len(), 8 + 31 * 24);
}

/// Walks every decoded field, as a consumer would.
fn consume(bytes: &[u8]) -> usize {
    let mut n = 0;
    for p in rtcp::parse_compound(bytes) {
        n += match p {
            Ok(RtcpPacket::SenderReport(sr)) => sr.reports.count() + 1,
            Ok(RtcpPacket::ReceiverReport(rr)) => rr.reports.count() + 1,
            Ok(RtcpPacket::SourceDescription(s)) => {
                s.chunks().map(|c| c.items().count() + 1).sum::<usize>()
            }
            Ok(RtcpPacket::Goodbye(b)) => b.ssrcs().count() + b.reason().map_or(0, <[u8]>::len),
            Ok(_) => 1,
            Err(_) => 1,
        };
    }
    n
}

#[test]
fn hostile_bytes_never_panic() {
    let good = sample_compound();
    for n in 0..=good.len() {
        consume(&good[..n]);
    }
    let mut rng = StdRng::seed_from_u64(3550);
    for _ in 0..20_000 {
        let mut b = good.clone();
        for _ in 0..rng.random_range(1..6) {
            let i = rng.random_range(0..b.len());
            b[i] = rng.random();
        }
        consume(&b);
        let len = rng.random_range(0..64);
        let noise: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        consume(&noise);
    }
    // Hostile RTCP into the state machine, too.
    let t = t0();
    let mut state = RtcpState::new(t, NTP0, RtcpConfig::new(1, "a"), &mut rng);
    for _ in 0..2000 {
        let mut b = good.clone();
        let i = rng.random_range(0..b.len());
        b[i] = rng.random();
        let _ = state.handle_rtcp(t, &b);
    }
    while state.poll_event().is_some() {}
}

/// One direction's network: fixed latency, uniform extra jitter, random loss.
#[derive(Clone, Copy)]
struct Link {
    latency: Duration,
    jitter: Duration,
    loss: f64,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Delivery {
    Rtp { seq: u16, ts: u32 },
    Rtcp(Vec<u8>),
}

/// Two legs that each send 20 ms RTP packets to the other, and RTCP as their states ask,
/// over [`Link`]s; whichever has the earliest deadline runs next.
struct Sim {
    now: Instant,
    rng: StdRng,
    legs: [RtcpState; 2],
    links: [Link; 2],
    next_rtp: Instant,
    seq: [u16; 2],
    ts: [u32; 2],
    /// Which legs send RTP at all.
    sending: [bool; 2],
    /// (arrival, destination leg, what).
    in_flight: BinaryHeap<Reverse<(Instant, usize, Delivery)>>,
    lost_rtp: [u64; 2],
    events: [Vec<RtcpEvent>; 2],
}

const SSRC: [u32; 2] = [0xA, 0xB];

impl Sim {
    fn new(seed: u64, links: [Link; 2]) -> Sim {
        let now = t0();
        let mut rng = StdRng::seed_from_u64(seed);
        let legs = [0, 1].map(|i| {
            RtcpState::new(
                now,
                NTP0 + (i as u64) * (1000 << 32), // the two wall clocks disagree by 1000 s
                RtcpConfig::new(SSRC[i], format!("leg{i}@example.invalid")),
                &mut rng,
            )
        });
        Sim {
            now,
            rng,
            legs,
            links,
            next_rtp: now,
            seq: [65_000, 100], // leg 0 wraps its sequence numbers during the run
            ts: [1_000, 4_000_000_000],
            sending: [true, true],
            in_flight: BinaryHeap::new(),
            lost_rtp: [0, 0],
            events: [Vec::new(), Vec::new()],
        }
    }

    fn send(&mut self, from: usize, what: Delivery) {
        let link = self.links[from];
        if self.rng.random_bool(link.loss) {
            if matches!(what, Delivery::Rtp { .. }) {
                self.lost_rtp[from] += 1;
            }
            return;
        }
        let extra = link.jitter.mul_f64(self.rng.random_range(0.0..1.0));
        let at = self.now + link.latency + extra;
        self.in_flight.push(Reverse((at, 1 - from, what)));
    }

    fn drain(&mut self) {
        for i in 0..2 {
            while let Some(bytes) = self.legs[i].poll_transmit() {
                self.send(i, Delivery::Rtcp(bytes));
            }
            while let Some(e) = self.legs[i].poll_event() {
                self.events[i].push(e);
            }
        }
    }

    fn run_until(&mut self, end: Instant) {
        loop {
            let timers = self.legs.iter().filter_map(RtcpState::poll_timeout);
            let arrival = self.in_flight.peek().map(|Reverse((at, ..))| *at);
            let next = timers
                .chain(arrival)
                .chain([self.next_rtp])
                .min()
                .expect("the RTP clock always ticks");
            if next > end {
                self.now = end;
                return;
            }
            self.now = next;
            if self.next_rtp == next {
                for i in 0..2 {
                    if self.sending[i] {
                        let (seq, ts) = (self.seq[i], self.ts[i]);
                        self.legs[i].handle_sent_rtp(next, ts, 160);
                        self.send(i, Delivery::Rtp { seq, ts });
                        self.seq[i] = seq.wrapping_add(1);
                    }
                    self.ts[i] = self.ts[i].wrapping_add(160);
                }
                self.next_rtp += Duration::from_millis(20);
            }
            while let Some(Reverse((at, to, _))) = self.in_flight.peek() {
                if *at > next {
                    break;
                }
                let to = *to;
                let Some(Reverse((_, _, what))) = self.in_flight.pop() else {
                    break;
                };
                match what {
                    Delivery::Rtp { seq, ts } => {
                        self.legs[to].handle_received_rtp(next, SSRC[1 - to], seq, ts)
                    }
                    Delivery::Rtcp(bytes) => self.legs[to].handle_rtcp(next, &bytes).unwrap(),
                }
            }
            for leg in &mut self.legs {
                leg.handle_timeout(next);
            }
            self.drain();
        }
    }

    fn remote_reports(&self, leg: usize) -> Vec<rtcp::RemoteReport> {
        self.events[leg]
            .iter()
            .filter_map(|e| match e {
                RtcpEvent::RemoteReport(r) => Some(*r),
                _ => None,
            })
            .collect()
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[test]
fn two_legs_measure_rtt_loss_and_jitter() {
    let links = [
        Link {
            latency: 30 * MS,
            jitter: 20 * MS,
            loss: 0.05,
        },
        Link {
            latency: 50 * MS,
            jitter: Duration::ZERO,
            loss: 0.0,
        },
    ];
    let mut sim = Sim::new(7, links);
    let start = sim.now;
    sim.run_until(start + Duration::from_secs(120));

    // RTT = 30 + 50 ms of latency, plus up to 20 ms of jitter on one way.
    for leg in 0..2 {
        let rtt = ms(sim.legs[leg].rtt().expect("an RTT sample"));
        assert!((80.0..=101.0).contains(&rtt), "leg {leg}: rtt {rtt} ms");
    }

    // Leg 1's view of leg 0's stream: exactly the packets the network dropped (those
    // still in flight are not yet expected), and jitter of uniform 0..20 ms delays
    // (mean |D| = 20/3 ms).
    let rx = sim.legs[1].reception().unwrap();
    assert_eq!(rx.ssrc, SSRC[0]);
    let lost = i64::try_from(sim.lost_rtp[0]).unwrap();
    assert!(
        (rx.cumulative_lost - lost).abs() <= 2,
        "{} vs {lost}",
        rx.cumulative_lost
    );
    assert!(rx.extended_highest_seq > 0x1_0000, "sequence wrapped");
    let jitter = ms(rx.jitter);
    assert!((4.5..=9.0).contains(&jitter), "jitter {jitter} ms");

    // Leg 0 learns the same from leg 1's reports.
    let reports = sim.remote_reports(0);
    assert!(reports.len() >= 15, "{} reports", reports.len());
    let last = reports.last().unwrap();
    assert_eq!(last.reporter, SSRC[1]);
    // The last report is up to 7.5 s old.
    let reported = i64::from(last.cumulative_lost);
    assert!(
        reported <= lost && reported * 10 >= lost * 8,
        "{reported} of {lost}"
    );
    let mean_fraction: f32 =
        reports.iter().map(|r| r.loss_fraction()).sum::<f32>() / reports.len() as f32;
    assert!(
        (0.03..0.07).contains(&mean_fraction),
        "mean fraction lost {mean_fraction}"
    );
    assert!((4.5..=9.0).contains(&ms(last.jitter)));

    // The clean direction: nothing lost, no jitter.
    let back = sim.legs[0].reception().unwrap();
    assert_eq!(back.cumulative_lost, 0);
    assert_eq!(back.jitter, Duration::ZERO);
    assert_eq!(sim.legs[1].remote_report().unwrap().fraction_lost, 0);

    // Both legs sent SRs, and saw the other's.
    for leg in 0..2 {
        assert!(
            sim.events[leg].iter().any(
                |e| matches!(e, RtcpEvent::RemoteSender { ssrc, .. } if *ssrc == SSRC[1 - leg])
            )
        );
    }
}

#[test]
fn report_intervals_are_randomised_around_five_seconds() {
    let mut rng = StdRng::seed_from_u64(1);
    let t = t0();
    let mut state = RtcpState::new(t, NTP0, RtcpConfig::new(1, "a"), &mut rng);
    let first = state.poll_timeout().unwrap() - t;
    assert!((1250 * MS..=3750 * MS).contains(&first), "{first:?}");
    let mut at = t + first;
    let mut gaps = Vec::new();
    for _ in 0..400 {
        state.handle_timeout(at - MS); // early: nothing
        assert!(state.poll_transmit().is_none());
        state.handle_timeout(at);
        assert!(state.poll_transmit().is_some());
        let next = state.poll_timeout().unwrap();
        gaps.push(ms(next - at));
        at = next;
    }
    assert!(gaps.iter().all(|g| (2500.0..=7500.0).contains(g)));
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    assert!((4700.0..5300.0).contains(&mean), "mean {mean}");
    let spread = gaps.iter().copied().fold(f64::MIN, f64::max)
        - gaps.iter().copied().fold(f64::MAX, f64::min);
    assert!(spread > 4000.0, "spread {spread}");

    // A seed replays the schedule.
    let again = RtcpState::new(
        t,
        NTP0,
        RtcpConfig::new(1, "a"),
        &mut StdRng::seed_from_u64(1),
    );
    assert_eq!(again.poll_timeout(), Some(t + first));
}

fn first_packet_type(bytes: &[u8]) -> u8 {
    rtcp::parse_compound(bytes)
        .next()
        .unwrap()
        .unwrap()
        .packet_type()
}

#[test]
fn sr_while_sending_rr_otherwise_with_ntp_and_rtp_time() {
    let t = t0();
    let mut rng = StdRng::seed_from_u64(2);
    let mut state = RtcpState::new(t, NTP0, RtcpConfig::new(0x77, "me"), &mut rng);
    // Nothing sent: RR (no blocks: nothing received either) + SDES.
    let due = state.poll_timeout().unwrap();
    state.handle_timeout(due);
    let rr = state.poll_transmit().unwrap();
    let types: Vec<_> = rtcp::parse_compound(&rr)
        .map(|p| p.unwrap().packet_type())
        .collect();
    assert_eq!(types, [201, 202]);

    // Send 50 packets, 20 ms apart, then report 100 ms after the last.
    let base = due + Duration::from_secs(1);
    for i in 0..50u32 {
        state.handle_sent_rtp(base + i * 20 * MS, 8000 + 160 * i, 160);
    }
    let last_sent = base + 49 * 20 * MS;
    let due = state.poll_timeout().unwrap().max(last_sent + 100 * MS);
    state.handle_timeout(due);
    let sr = state.poll_transmit().unwrap();
    let Some(Ok(RtcpPacket::SenderReport(sr))) = rtcp::parse_compound(&sr).next() else {
        panic!("SR expected");
    };
    assert_eq!(sr.ssrc, 0x77);
    assert_eq!(sr.info.packet_count, 50);
    assert_eq!(sr.info.octet_count, 8000);
    // NTP: the wall clock at creation plus the monotonic time since.
    assert_eq!(sr.info.ntp_timestamp, NTP0 + rtcp::duration_to_ntp(due - t));
    // RTP: the last timestamp sent, advanced at 8 kHz to the report's instant.
    let extra = u32::try_from((due - last_sent).as_micros() * 8 / 1000).unwrap();
    let expected = 8000 + 160 * 49 + extra;
    assert!(
        sr.info.rtp_timestamp.abs_diff(expected) <= 1,
        "{}",
        sr.info.rtp_timestamp
    );

    // Still an SR one interval later (sent since the report before last), then an RR.
    let due = state.poll_timeout().unwrap();
    state.handle_timeout(due);
    assert_eq!(first_packet_type(&state.poll_transmit().unwrap()), 200);
    let due = state.poll_timeout().unwrap();
    state.handle_timeout(due);
    assert_eq!(first_packet_type(&state.poll_transmit().unwrap()), 201);
}

#[test]
fn rtt_from_lsr_and_dlsr() {
    let t = t0();
    let mut rng = StdRng::seed_from_u64(3);
    let mut state = RtcpState::new(t, NTP0, RtcpConfig::new(0x77, "me"), &mut rng);
    state.handle_sent_rtp(t, 0, 160);
    let due = state.poll_timeout().unwrap();
    state.handle_timeout(due);
    let bytes = state.poll_transmit().unwrap();
    let Some(Ok(RtcpPacket::SenderReport(sr))) = rtcp::parse_compound(&bytes).next() else {
        panic!("SR expected");
    };
    // The peer holds our SR for 1.5 s; the network takes 60 ms each way.
    let block = ReportBlock {
        ssrc: 0x77,
        last_sr: rtcp::ntp_middle(sr.info.ntp_timestamp),
        delay_since_last_sr: 98_304, // 1.5 s in 1/65536 s
        fraction_lost: 64,
        ..ReportBlock::default()
    };
    let mut rr = Vec::new();
    rtcp::write_receiver_report(&mut rr, 0x99, &[block]).unwrap();
    state.handle_rtcp(due + 1620 * MS, &rr).unwrap();
    let rtt = state.rtt().unwrap();
    assert!((ms(rtt) - 120.0).abs() < 0.1, "{rtt:?}");
    let Some(RtcpEvent::RemoteReport(report)) = state.poll_event() else {
        panic!("a report event");
    };
    assert_eq!(report.reporter, 0x99);
    assert_eq!(report.loss_fraction(), 0.25);
    assert_eq!(report.rtt, Some(rtt));

    // An LSR we never sent, or a DLSR longer than the SR has been out: no sample.
    for (lsr, dlsr) in [(0x1234_5678, 0), (block.last_sr, 10 * 65_536)] {
        let mut rr = Vec::new();
        let block = ReportBlock {
            last_sr: lsr,
            delay_since_last_sr: dlsr,
            ..block
        };
        rtcp::write_receiver_report(&mut rr, 0x99, &[block]).unwrap();
        state.handle_rtcp(due + 2 * 1000 * MS, &rr).unwrap();
        let Some(RtcpEvent::RemoteReport(report)) = state.poll_event() else {
            panic!("a report event");
        };
        assert_eq!(report.rtt, None);
    }
    assert_eq!(state.rtt(), Some(rtt), "the last good sample stays");

    // Blocks about other sources are not about us.
    let mut rr = Vec::new();
    rtcp::write_receiver_report(&mut rr, 0x99, &[ReportBlock { ssrc: 5, ..block }]).unwrap();
    state.handle_rtcp(due, &rr).unwrap();
    assert_eq!(state.poll_event(), None);
}

#[test]
fn our_rr_echoes_the_peers_sr() {
    let t = t0();
    let mut rng = StdRng::seed_from_u64(4);
    let mut state = RtcpState::new(t, NTP0, RtcpConfig::new(0x77, "me"), &mut rng);
    for i in 0..10u16 {
        state.handle_received_rtp(
            t + u32::from(i) * 20 * MS,
            0x99,
            500 + i,
            160 * u32::from(i),
        );
    }
    let mut sr = Vec::new();
    let info = SenderInfo {
        ntp_timestamp: 0xAAAA_BBBB_CCCC_DDDD,
        ..SenderInfo::default()
    };
    rtcp::write_sender_report(&mut sr, 0x99, &info, &[]).unwrap();
    let sr_at = t + 300 * MS;
    state.handle_rtcp(sr_at, &sr).unwrap();
    assert!(matches!(
        state.poll_event(),
        Some(RtcpEvent::RemoteSender { ssrc: 0x99, .. })
    ));
    let due = state.poll_timeout().unwrap();
    state.handle_timeout(due);
    let bytes = state.poll_transmit().unwrap();
    let Some(Ok(RtcpPacket::ReceiverReport(rr))) = rtcp::parse_compound(&bytes).next() else {
        panic!("RR expected");
    };
    let blocks: Vec<_> = rr.reports.collect();
    assert_eq!(blocks.len(), 1);
    let b = blocks[0];
    assert_eq!(b.ssrc, 0x99);
    assert_eq!(b.last_sr, 0xBBBB_CCCC);
    let dlsr = f64::from(b.delay_since_last_sr) / 65.536;
    assert!((dlsr - ms(due - sr_at)).abs() < 0.1);
    // The first packet is probation (RFC 3550 A.1): 9 expected, 9 received.
    assert_eq!(b.extended_highest_seq, 509);
    assert_eq!((b.cumulative_lost, b.fraction_lost), (0, 0));
    assert_eq!(b.jitter, 0);
}

#[test]
fn fraction_lost_covers_only_the_last_interval() {
    let t = t0();
    let mut rng = StdRng::seed_from_u64(5);
    let mut state = RtcpState::new(t, NTP0, RtcpConfig::new(1, "me"), &mut rng);
    let mut seq = 0u16;
    let mut at = t;
    fn report(state: &mut RtcpState, at: Instant) -> ReportBlock {
        state.handle_timeout(state.poll_timeout().unwrap().max(at));
        let bytes = state.poll_transmit().unwrap();
        let Some(Ok(RtcpPacket::ReceiverReport(rr))) = rtcp::parse_compound(&bytes).next() else {
            panic!("RR expected");
        };
        let mut reports = rr.reports;
        reports.next().unwrap()
    }
    // 100 packets, every 4th lost (25%) ...
    for i in 0..100 {
        if i % 4 != 2 {
            state.handle_received_rtp(at, 2, seq, u32::from(seq) * 160);
        }
        seq += 1;
        at += 20 * MS;
    }
    let b = report(&mut state, at);
    assert_eq!(b.fraction_lost, 64);
    assert_eq!(b.cumulative_lost, 25);
    // ... then 100 with none lost: the fraction drops to 0, the total stays.
    for _ in 0..100 {
        state.handle_received_rtp(at, 2, seq, u32::from(seq) * 160);
        seq += 1;
        at += 20 * MS;
    }
    let b = report(&mut state, at);
    assert_eq!((b.fraction_lost, b.cumulative_lost), (0, 25));
    // Duplicates count as received: the cumulative loss may go down, never the fraction
    // below zero.
    for _ in 0..40 {
        state.handle_received_rtp(at, 2, seq - 1, u32::from(seq - 1) * 160);
    }
    let b = report(&mut state, at);
    assert_eq!((b.fraction_lost, b.cumulative_lost), (0, -15));
}

#[test]
fn jitter_follows_rfc3550_a8() {
    let t = t0();
    let mut rng = StdRng::seed_from_u64(6);
    let mut state = RtcpState::new(t, NTP0, RtcpConfig::new(1, "me"), &mut rng);
    // Packets every 20 ms, delayed alternately by 0 and 10 ms: |D| = 80 units each time,
    // so J converges to 80 units = 10 ms.
    for i in 0..500u32 {
        let delay = if i % 2 == 0 { Duration::ZERO } else { 10 * MS };
        let seq = u16::try_from(i).unwrap();
        state.handle_received_rtp(t + i * 20 * MS + delay, 2, seq, 160 * i);
    }
    let j = ms(state.reception().unwrap().jitter);
    assert!((9.5..=10.0).contains(&j), "{j}");

    // A telephone-event's packets share a timestamp: they do not count as jitter.
    let mut state = RtcpState::new(t, NTP0, RtcpConfig::new(1, "me"), &mut rng);
    for i in 0..200u32 {
        let seq = u16::try_from(i).unwrap();
        let ts = if (50..60).contains(&i) {
            160 * 50
        } else {
            160 * i
        };
        state.handle_received_rtp(t + i * 20 * MS, 2, seq, ts);
    }
    assert_eq!(state.reception().unwrap().jitter, Duration::ZERO);
}

#[test]
fn a_new_peer_ssrc_restarts_the_statistics() {
    let t = t0();
    let mut rng = StdRng::seed_from_u64(8);
    let mut state = RtcpState::new(t, NTP0, RtcpConfig::new(1, "me"), &mut rng);
    for i in 0..20u16 {
        let seq = if i < 2 { i } else { i * 2 }; // two in sequence, then half lost
        state.handle_received_rtp(t, 2, seq, 0);
    }
    assert!(state.reception().unwrap().cumulative_lost > 0);
    for i in 0..20u16 {
        state.handle_received_rtp(t, 3, 9000 + i, 0);
    }
    let rx = state.reception().unwrap();
    assert_eq!((rx.ssrc, rx.cumulative_lost, rx.received), (3, 0, 19));
}

#[test]
fn bye_is_reported_and_sent_once() {
    let t = t0();
    let mut rng = StdRng::seed_from_u64(9);
    let mut state = RtcpState::new(t, NTP0, RtcpConfig::new(1, "me"), &mut rng);
    let mut bye = Vec::new();
    rtcp::write_receiver_report(&mut bye, 2, &[]).unwrap();
    rtcp::write_bye(&mut bye, &[2], Some("done")).unwrap();
    state.handle_rtcp(t, &bye).unwrap();
    assert_eq!(state.poll_event(), Some(RtcpEvent::Goodbye { ssrc: 2 }));

    state.bye(t + MS, Some("call ended"));
    let out = state.poll_transmit().unwrap();
    let types: Vec<_> = rtcp::parse_compound(&out)
        .map(|p| p.unwrap().packet_type())
        .collect();
    assert_eq!(types, [201, 202, 203]);
    assert_eq!(state.poll_timeout(), None);
    state.bye(t + 2 * MS, None);
    state.handle_timeout(t + Duration::from_secs(60));
    assert_eq!(state.poll_transmit(), None);
    assert_eq!(state.stats().reports_sent, 1);
}
