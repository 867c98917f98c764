//! Fuzz RTCP (`media/src/rtcp.rs`): the compound walk, the writers and the per-leg
//! `RtcpState`.
//!
//! 1. The whole input is a compound packet: `parse_compound` never panics and yields one
//!    item per packet as an independent walk of the length fields frames them (a framing
//!    error — too short, bad version, truncated, or a bad padding count, which
//!    `CompoundIter` also treats as lost framing — is the last item). Each decoded packet
//!    agrees with its header: packet type, report-block / SDES-chunk / BYE-source count.
//!    Every SR, RR, SDES CNAME and BYE that parses is written back with the crate's
//!    writers (`write_sender_report`, `write_receiver_report`, `write_sdes_cname`,
//!    `write_bye`), all into one compound packet, which must parse back, in order, to
//!    equal fields (24-bit cumulative loss reads back as it was: the writer's clamp only
//!    bites on values the reader cannot produce; SDES round-trips only the CNAME of each
//!    chunk, one chunk per packet; a BYE reason only when it is UTF-8) and write again to
//!    the same bytes.
//! 2. The input is also a script for an `RtcpState` with simulated time: RTP arrivals from
//!    two peer SSRCs (and our own), RTP we send, raw RTCP datagrams from the input, peer
//!    SRs, peer RRs/SRs echoing the LSR of one of our SRs (so the round-trip time is
//!    measured), BYE. It never panics, and: every compound packet we send parses, starts
//!    with our SR (counts equal to what we sent, NTP time of the report instant) or RR,
//!    carries at most one block, on the current peer source, with the peer SR's LSR, has
//!    our CNAME and ends with our BYE after `bye`; the next report is due 0.5..1.5
//!    intervals after the last; events never name our own SSRC; each round-trip time is
//!    no longer than the time since the SR it echoes; counters match the calls.
//!
//! Script: `[flags, ssrc×4, ntp×8, interval (100 ms units), clock]`, then ops, each an op
//! byte (low 3 bits pick it, the rest are its argument) and its own bytes; see `step`.
//!
//! Run: `cargo +nightly fuzz run rtcp -- -max_len=4096`

#![no_main]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hotline_media::rtcp::{
    self, ReportBlock, RtcpConfig, RtcpEvent, RtcpPacket, RtcpState, SDES_CNAME, SenderInfo,
};
use libfuzzer_sys::fuzz_target;
use rand::{SeedableRng, rngs::StdRng};

/// One packet's framing, walked independently of the crate.
struct Framed {
    count: u8,
    packet_type: u8,
}

/// Walks the length fields as RFC 3550 §6.4 frames a compound packet: the packets whose
/// framing is sound, and whether the walk ended on broken framing.
fn frames(mut bytes: &[u8]) -> (Vec<Framed>, bool) {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let &[b0, packet_type, hi, lo, ..] = bytes else {
            return (out, true);
        };
        let len = (usize::from(u16::from_be_bytes([hi, lo])) + 1) * 4;
        if b0 >> 6 != 2 || len > bytes.len() {
            return (out, true);
        }
        // A bad padding count ends the walk too (`CompoundIter` treats it as framing).
        let padding = usize::from(bytes[len - 1]);
        if b0 & 0x20 != 0 && (padding == 0 || padding > len - 4) {
            return (out, true);
        }
        out.push(Framed {
            count: b0 & 0x1f,
            packet_type,
        });
        bytes = &bytes[len..];
    }
    (out, false)
}

/// What a re-encodable packet must read back as.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Sr(u32, SenderInfo, Vec<ReportBlock>),
    Rr(u32, Vec<ReportBlock>),
    Cname(u32, Vec<u8>),
    Bye(Vec<u32>, Option<Vec<u8>>),
}

/// Reads a compound packet into `Expect`s; `None` when a packet is not one of ours or a
/// chunk has no CNAME.
fn read_back(bytes: &[u8]) -> Vec<Option<Expect>> {
    rtcp::parse_compound(bytes)
        .map(|p| match p.expect("own output parses") {
            RtcpPacket::SenderReport(sr) => {
                Some(Expect::Sr(sr.ssrc, sr.info, sr.reports.collect()))
            }
            RtcpPacket::ReceiverReport(rr) => Some(Expect::Rr(rr.ssrc, rr.reports.collect())),
            RtcpPacket::SourceDescription(sdes) => {
                let chunks: Vec<_> = sdes.chunks().collect();
                assert_eq!(chunks.len(), 1, "we write one chunk");
                let items: Vec<_> = chunks[0].items().collect();
                assert_eq!(items.len(), 1, "we write one item");
                assert_eq!(items[0].kind, SDES_CNAME);
                Some(Expect::Cname(chunks[0].ssrc, items[0].value.to_vec()))
            }
            RtcpPacket::Goodbye(bye) => Some(Expect::Bye(
                bye.ssrcs().collect(),
                bye.reason().map(<[u8]>::to_vec),
            )),
            _ => None,
        })
        .collect()
}

/// Appends `e` with the crate's writer.
fn write(out: &mut Vec<u8>, e: &Expect) {
    let before = out.len();
    match e {
        Expect::Sr(ssrc, info, blocks) => {
            rtcp::write_sender_report(out, *ssrc, info, blocks).expect("≤ 31 blocks");
            assert_eq!(out.len() - before, 28 + 24 * blocks.len());
        }
        Expect::Rr(ssrc, blocks) => {
            rtcp::write_receiver_report(out, *ssrc, blocks).expect("≤ 31 blocks");
            assert_eq!(out.len() - before, 8 + 24 * blocks.len());
        }
        Expect::Cname(ssrc, cname) => {
            let cname = std::str::from_utf8(cname).expect("only UTF-8 CNAMEs are kept");
            rtcp::write_sdes_cname(out, *ssrc, cname).expect("≤ 255 bytes");
        }
        Expect::Bye(ssrcs, reason) => {
            let reason = reason
                .as_deref()
                .map(|r| std::str::from_utf8(r).expect("only UTF-8 reasons are kept"));
            rtcp::write_bye(out, ssrcs, reason).expect("≤ 31 sources, ≤ 255 bytes");
        }
    }
    assert_eq!((out.len() - before) % 4, 0, "packets end on 32 bits");
    assert!(rtcp::is_rtcp(&out[before..]));
}

fn walk_and_round_trip(data: &[u8]) {
    let (framed, broken) = frames(data);
    let items: Vec<_> = rtcp::parse_compound(data).collect();
    assert_eq!(
        items.len(),
        framed.len() + usize::from(broken),
        "one item per packet"
    );
    if broken {
        assert!(matches!(
            items.last(),
            Some(Err(rtcp::RtcpError::TooShort { .. }
                | rtcp::RtcpError::BadVersion { .. }
                | rtcp::RtcpError::Truncated { .. }
                | rtcp::RtcpError::BadPadding { .. }))
        ));
    }
    let mut expected = Vec::new();
    for (item, f) in items.iter().zip(&framed) {
        let Ok(packet) = item else {
            assert!(matches!(item, Err(rtcp::RtcpError::Malformed { .. })));
            continue;
        };
        assert_eq!(packet.packet_type(), f.packet_type);
        let count = usize::from(f.count);
        match packet {
            RtcpPacket::SenderReport(sr) => {
                assert_eq!(sr.reports.len(), count);
                let blocks: Vec<_> = sr.reports.collect();
                assert_eq!(blocks.len(), count);
                for b in &blocks {
                    assert!((-0x80_0000..=0x7F_FFFF).contains(&b.cumulative_lost));
                }
                expected.push(Expect::Sr(sr.ssrc, sr.info, blocks));
            }
            RtcpPacket::ReceiverReport(rr) => {
                assert_eq!(rr.reports.len(), count);
                let blocks: Vec<_> = rr.reports.collect();
                assert_eq!(blocks.len(), count);
                expected.push(Expect::Rr(rr.ssrc, blocks));
            }
            RtcpPacket::SourceDescription(sdes) => {
                let chunks: Vec<_> = sdes.chunks().collect();
                assert_eq!(chunks.len(), count, "the parser checked every chunk");
                for chunk in chunks {
                    let items: Vec<_> = chunk.items().collect();
                    let cname = items.iter().find(|i| i.kind == SDES_CNAME).map(|i| i.value);
                    assert_eq!(chunk.cname(), cname);
                    if let Some(cname) = cname.filter(|c| std::str::from_utf8(c).is_ok()) {
                        expected.push(Expect::Cname(chunk.ssrc, cname.to_vec()));
                    }
                }
            }
            RtcpPacket::Goodbye(bye) => {
                let ssrcs: Vec<u32> = bye.ssrcs().collect();
                assert_eq!(ssrcs.len(), count);
                let reason = bye
                    .reason()
                    .filter(|r| std::str::from_utf8(r).is_ok())
                    .map(<[u8]>::to_vec);
                expected.push(Expect::Bye(ssrcs, reason));
            }
            RtcpPacket::Other(other) => {
                assert_eq!(other.count, f.count);
                assert!(!matches!(other.packet_type, 200..=203));
            }
            _ => {}
        }
    }

    let mut out = Vec::new();
    for e in &expected {
        write(&mut out, e);
    }
    let back: Vec<_> = read_back(&out).into_iter().map(Option::unwrap).collect();
    assert_eq!(back, expected, "written packets do not read back");
    let mut again = Vec::new();
    for e in &back {
        write(&mut again, e);
    }
    assert_eq!(again, out, "writing is not idempotent");
}

// ---- RtcpState ----

const PEERS: [u32; 2] = [0x5EE0_0001, 0x5EE0_0002];

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (a, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*a)
    }
    fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let (a, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        a
    }
}

struct Leg {
    state: RtcpState,
    start: Instant,
    now: Instant,
    ssrc: u32,
    cname: String,
    interval: Duration,
    /// Our SRs: the middle 32 bits of their NTP time, and when they were sent (latest).
    our_srs: BTreeMap<u32, Instant>,
    last_sr: Option<u32>,
    /// What we told the state we sent.
    sent_packets: u32,
    sent_octets: u32,
    /// The SSRC of the last RTP packet received (the source the state tracks).
    peer_source: Option<u32>,
    /// The last SR from a peer that the state took: its SSRC and LSR.
    peer_sr: Option<(u32, u32)>,
    rtcp_in: u64,
    rtcp_malformed: u64,
    reports: u64,
    said_bye: bool,
}

impl Leg {
    /// Drains the state after a call made at `self.now`; `due` says whether a report was
    /// due (so the next deadline was just drawn).
    fn drain(&mut self, report_due: bool, said_bye_now: bool) {
        let mut sent_now = 0;
        while let Some(bytes) = self.state.poll_transmit() {
            sent_now += 1;
            self.reports += 1;
            self.check_report(&bytes, said_bye_now);
        }
        assert!(sent_now <= 1, "one report per call");
        assert_eq!(sent_now == 1, report_due || said_bye_now);
        while let Some(event) = self.state.poll_event() {
            match event {
                RtcpEvent::RemoteReport(r) => {
                    assert_ne!(r.reporter, self.ssrc);
                    if let Some(rtt) = r.rtt {
                        self.check_rtt(rtt);
                    }
                }
                RtcpEvent::RemoteSender { ssrc, .. } | RtcpEvent::Goodbye { ssrc } => {
                    assert_ne!(ssrc, self.ssrc, "our own packets are not events");
                }
                _ => {}
            }
        }
        if let Some(rtt) = self.state.rtt() {
            self.check_rtt(rtt);
        }
        let stats = *self.state.stats();
        assert_eq!(stats.packets_in, self.rtcp_in);
        assert_eq!(stats.malformed_in, self.rtcp_malformed);
        assert_eq!(stats.reports_sent, self.reports);
        match self.state.poll_timeout() {
            None => assert!(self.said_bye),
            Some(next) => {
                assert!(!self.said_bye);
                if report_due {
                    assert!(within(
                        next - self.now,
                        self.interval / 2,
                        self.interval * 3 / 2
                    ));
                }
            }
        }
        if let Some(r) = self.state.reception() {
            assert_eq!(Some(r.ssrc), self.peer_source);
            assert_eq!(r.cumulative_lost, r.expected as i64 - r.received as i64);
        }
    }

    /// A round-trip time can be no longer than the time since the SR it echoes was sent.
    fn check_rtt(&self, rtt: Duration) {
        let Some(sent) = self.our_srs.values().min() else {
            panic!("a round-trip time without an SR of ours");
        };
        let elapsed = self.now - *sent;
        if elapsed < Duration::from_secs(60_000) {
            assert!(
                rtt <= elapsed + Duration::from_micros(31),
                "rtt {rtt:?} > {elapsed:?}"
            );
        }
    }

    fn check_report(&mut self, bytes: &[u8], with_bye: bool) {
        let packets: Vec<_> = rtcp::parse_compound(bytes)
            .map(|p| p.expect("our report parses"))
            .collect();
        let (first, rest) = packets.split_first().expect("a report");
        let blocks: Vec<ReportBlock> = match first {
            RtcpPacket::SenderReport(sr) => {
                assert_eq!(sr.ssrc, self.ssrc);
                assert!(self.sent_packets > 0, "an SR without sending");
                assert_eq!(sr.info.packet_count, self.sent_packets);
                assert_eq!(sr.info.octet_count, self.sent_octets);
                assert_eq!(sr.info.ntp_timestamp, self.state.ntp_at(self.now));
                let middle = rtcp::ntp_middle(sr.info.ntp_timestamp);
                self.our_srs.insert(middle, self.now);
                self.last_sr = Some(middle);
                sr.reports.collect()
            }
            RtcpPacket::ReceiverReport(rr) => {
                assert_eq!(rr.ssrc, self.ssrc);
                rr.reports.collect()
            }
            other => panic!("a report starts with {}", other.packet_type()),
        };
        assert!(blocks.len() <= 1);
        if let Some(block) = blocks.first() {
            assert_eq!(
                Some(block.ssrc),
                self.peer_source,
                "block on the current source"
            );
            match self.peer_sr {
                Some((ssrc, lsr)) if ssrc == block.ssrc => assert_eq!(block.last_sr, lsr),
                _ => assert_eq!((block.last_sr, block.delay_since_last_sr), (0, 0)),
            }
        }
        let mut rest = rest.iter();
        if self.cname.len() <= 255 {
            let Some(RtcpPacket::SourceDescription(sdes)) = rest.next() else {
                panic!("no SDES");
            };
            let chunk = sdes.chunks().next().expect("one chunk");
            assert_eq!(chunk.ssrc, self.ssrc);
            assert_eq!(chunk.cname(), Some(self.cname.as_bytes()));
        }
        if with_bye {
            let Some(RtcpPacket::Goodbye(bye)) = rest.next() else {
                panic!("no BYE");
            };
            assert_eq!(bye.ssrcs().collect::<Vec<_>>(), [self.ssrc]);
        }
        assert!(rest.next().is_none(), "nothing else");
    }

    fn handle_rtcp(&mut self, bytes: &[u8]) {
        self.rtcp_in += 1;
        let result = self.state.handle_rtcp(self.now, bytes);
        let first_error = rtcp::parse_compound(bytes).find_map(Result::err);
        assert_eq!(result.err(), first_error);
        if result.is_err() {
            self.rtcp_malformed += 1;
        }
        // The last readable peer SR is what our next report block echoes.
        for p in rtcp::parse_compound(bytes).flatten() {
            if let RtcpPacket::SenderReport(sr) = p
                && sr.ssrc != self.ssrc
            {
                self.peer_sr = Some((sr.ssrc, rtcp::ntp_middle(sr.info.ntp_timestamp)));
            }
        }
        self.drain(false, false);
    }

    fn tick(&mut self, advance: Duration) {
        self.now += advance;
        let due = self.state.poll_timeout().is_some_and(|t| t <= self.now);
        self.state.handle_timeout(self.now);
        self.drain(due, false);
    }

    /// One op; `None` at the end of the input.
    fn step(&mut self, input: &mut Input) -> Option<()> {
        let op = input.byte()?;
        let arg = op >> 3;
        match op & 7 {
            // Time passes: arg × 50 ms, or (arg ≥ 24) (arg - 23) × 5 s.
            0 => {
                let advance = if arg < 24 {
                    Duration::from_millis(50 * u64::from(arg))
                } else {
                    Duration::from_secs(5 * u64::from(arg - 23))
                };
                self.tick(advance);
            }
            // An RTP packet arrives: [seq×2, ts×4]; arg picks the SSRC and the step.
            1 => {
                let seq = input.u16()?;
                let ts = input.u32()?;
                let ssrc = match arg & 3 {
                    0 | 1 => PEERS[usize::from(arg & 1)],
                    2 => self.ssrc,
                    _ => PEERS[0] ^ u32::from(seq),
                };
                self.now += Duration::from_millis(u64::from(arg >> 2) * 5);
                self.state.handle_received_rtp(self.now, ssrc, seq, ts);
                self.peer_source = Some(ssrc);
                self.drain(false, false);
            }
            // A run of arg + 1 RTP packets in sequence from PEERS[0]: [seq×2, ts×4].
            2 => {
                let seq = input.u16()?;
                let ts = input.u32()?;
                for i in 0..=u16::from(arg) {
                    self.now += Duration::from_millis(20);
                    self.state.handle_received_rtp(
                        self.now,
                        PEERS[0],
                        seq.wrapping_add(i),
                        ts.wrapping_add(160 * u32::from(i)),
                    );
                }
                self.peer_source = Some(PEERS[0]);
                self.drain(false, false);
            }
            // We send RTP: [ts×4, len×2], arg + 1 times.
            3 => {
                let ts = input.u32()?;
                let len = input.u16()?;
                for _ in 0..=arg {
                    self.state.handle_sent_rtp(self.now, ts, usize::from(len));
                    self.sent_packets = self.sent_packets.wrapping_add(1);
                    self.sent_octets = self.sent_octets.wrapping_add(u32::from(len));
                }
                self.drain(false, false);
            }
            // A raw RTCP datagram: [len, bytes].
            4 => {
                let len = input.byte()?;
                let bytes = input
                    .bytes(usize::from(len) * 4 + usize::from(arg & 3))
                    .to_vec();
                self.handle_rtcp(&bytes);
            }
            // A peer report on us echoing one of our SRs: [dlsr×4, lost×4, jitter×4];
            // arg bit 0: SR (else RR), bit 1: PEERS[1], bit 2: an older SR, bit 3: a
            // block on another SSRC too, bit 4: a wrong LSR.
            5 => {
                let dlsr = input.u32()?;
                let lost = input.u32()? as i32;
                let jitter = input.u32()?;
                let lsr = if arg & 4 != 0 {
                    self.our_srs.keys().next().copied()
                } else {
                    self.last_sr
                }
                .unwrap_or(0)
                .wrapping_add(u32::from(arg >> 4));
                let reporter = PEERS[usize::from(arg >> 1 & 1)];
                let mut blocks = vec![ReportBlock {
                    ssrc: self.ssrc,
                    fraction_lost: jitter as u8,
                    cumulative_lost: lost,
                    extended_highest_seq: jitter.rotate_left(7),
                    jitter,
                    last_sr: lsr,
                    delay_since_last_sr: dlsr,
                }];
                if arg & 8 != 0 {
                    blocks.insert(
                        0,
                        ReportBlock {
                            ssrc: !self.ssrc,
                            ..blocks[0]
                        },
                    );
                }
                let mut out = Vec::new();
                if arg & 1 != 0 {
                    let info = SenderInfo {
                        ntp_timestamp: u64::from(dlsr) << 24 | u64::from(jitter),
                        rtp_timestamp: jitter,
                        packet_count: dlsr,
                        octet_count: lost as u32,
                    };
                    rtcp::write_sender_report(&mut out, reporter, &info, &blocks).unwrap();
                } else {
                    rtcp::write_receiver_report(&mut out, reporter, &blocks).unwrap();
                }
                rtcp::write_sdes_cname(&mut out, reporter, "peer@fuzz").unwrap();
                self.handle_rtcp(&out);
            }
            // A peer SR without blocks: [ntp×8]; arg bit 0 picks the peer, then a BYE
            // from it if bit 1.
            6 => {
                let ntp = u64::from_be_bytes(input.array()?);
                let reporter = PEERS[usize::from(arg & 1)];
                let info = SenderInfo {
                    ntp_timestamp: ntp,
                    rtp_timestamp: ntp as u32,
                    packet_count: 1,
                    octet_count: 160,
                };
                let mut out = Vec::new();
                rtcp::write_sender_report(&mut out, reporter, &info, &[]).unwrap();
                if arg & 2 != 0 {
                    rtcp::write_bye(&mut out, &[reporter, self.ssrc], Some("bye")).unwrap();
                }
                self.handle_rtcp(&out);
            }
            // BYE, with a reason of arg × 10 bytes (over 255: none).
            _ => {
                let reason = "r".repeat(usize::from(arg) * 10);
                let reason = (arg != 0).then_some(reason.as_str());
                let was_open = !self.said_bye;
                self.state.bye(self.now, reason);
                self.said_bye = true;
                self.drain(false, was_open);
            }
        }
        Some(())
    }
}

/// `d` in `lo..=hi`, give or take a microsecond of float rounding.
fn within(d: Duration, lo: Duration, hi: Duration) -> bool {
    let slack = Duration::from_micros(1);
    d + slack >= lo && d <= hi + slack
}

fn run_state(data: &[u8]) {
    let mut input = Input(data);
    let (Some(flags), Some(ssrc), Some(ntp), Some(interval), Some(clock)) = (
        input.byte(),
        input.u32(),
        input.array::<8>(),
        input.byte(),
        input.byte(),
    ) else {
        return;
    };
    let cname = match flags & 3 {
        0 => String::new(),
        1 => "hotline@fuzz".to_string(),
        2 => "c".repeat(255),
        _ => "c".repeat(256),
    };
    let interval = Duration::from_millis(100 * u64::from(interval));
    let config = RtcpConfig {
        ssrc,
        cname: cname.clone(),
        clock_rate: match clock & 3 {
            0 => 8000,
            1 => 48000,
            2 => 0,
            _ => u32::MAX,
        },
        interval,
    };
    let start = Instant::now();
    let mut rng = StdRng::seed_from_u64(u64::from(flags));
    let state = RtcpState::new(start, u64::from_be_bytes(ntp), config.clone(), &mut rng);
    assert_eq!(state.config(), &config);
    let first = state.poll_timeout().expect("a first report is scheduled");
    assert!(within(first - start, interval / 4, interval * 3 / 4));
    let mut leg = Leg {
        state,
        start,
        now: start,
        ssrc,
        cname,
        interval,
        our_srs: BTreeMap::new(),
        last_sr: None,
        sent_packets: 0,
        sent_octets: 0,
        peer_source: None,
        peer_sr: None,
        rtcp_in: 0,
        rtcp_malformed: 0,
        reports: 0,
        said_bye: false,
    };
    while leg.step(&mut input).is_some() {}
    // Let the timer run a while longer.
    for _ in 0..3 {
        leg.tick(interval * 2);
    }
    assert!(leg.now >= leg.start);
}

fuzz_target!(|data: &[u8]| {
    walk_and_round_trip(data);
    run_state(data);
});
