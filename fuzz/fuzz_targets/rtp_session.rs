//! Fuzz one call leg's RTP state machine: datagrams from two source addresses, with
//! simulated time passing, go into an `RtpSession` in echo mode (optionally after a short
//! prompt), draining it after every call as its driver does. It must never panic, and what
//! comes out must be consistent: every datagram sent is RTP with our payload type, SSRC
//! and consecutive sequence numbers, sent to the session's destination (and every RTCP
//! report readable, sent to its RTCP destination); nothing is sent
//! when our direction does not send, nothing times out when it does not receive; the
//! session latches at most once, to one of the sources.
//!
//! Input: `[flags, payload type, telephone-event payload type, count]` (flags: bit 0 the
//! codec, bit 1 telephone-event (else in-band DTMF), bits 2-3 the direction, 4-5 the
//! timeouts, 6 a greeting, 7 rtcp-mux; the telephone-event byte's low bit makes the
//! greeting one the caller can barge in on), then `count`
//! datagrams, each `[meta, len, len bytes]`; `meta` bit 0 picks the source, bit 1 skips
//! recycling the sent buffers, bits 2-7 advance the clock (in 5 ms units; 63 means 31 s).
//!
//! Run: `cargo +nightly fuzz run rtp_session -- -max_len=2048`

#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hotline_media::rtp::RtpPacket;
use hotline_media::sdp::Direction;
use hotline_media::session::{AfterPlay, TransmitKind};
use hotline_media::{AudioCodec, MediaEvent, Mode, Prompt, RtpSession, SessionConfig};
use libfuzzer_sys::fuzz_target;
use rand::{SeedableRng, rngs::StdRng};

struct Checker {
    config: SessionConfig,
    sources: [SocketAddr; 2],
    next_sequence: Option<u16>,
    latched: Option<SocketAddr>,
    played: bool,
    barge_in: bool,
    /// The greeting ended (played out or interrupted).
    ended: bool,
}

impl Checker {
    fn drain(&mut self, session: &mut RtpSession, recycle: bool) {
        while let Some(t) = session.poll_transmit() {
            if t.kind == TransmitKind::Rtcp {
                assert_eq!(Some(t.dest), session.rtcp_destination());
                assert!(hotline_media::rtcp::parse_compound(&t.bytes).all(|p| p.is_ok()));
                if recycle {
                    session.recycle(t.bytes);
                }
                continue;
            }
            assert!(
                self.config.direction.sends() && self.config.payload_type <= 127,
                "sent while we may not send"
            );
            assert_eq!(t.dest, session.destination());
            let p = RtpPacket::parse(&t.bytes).expect("we send RTP");
            assert_eq!(p.payload_type(), self.config.payload_type);
            assert_eq!(p.ssrc(), session.ssrc());
            if let Some(seq) = self.next_sequence {
                assert_eq!(p.sequence(), seq, "sequence numbers count up");
            }
            self.next_sequence = Some(p.sequence().wrapping_add(1));
            if recycle {
                session.recycle(t.bytes);
            }
        }
        let mut cause = false;
        while let Some(event) = session.poll_event() {
            match event {
                MediaEvent::RemoteLatched { addr } => {
                    assert!(self.latched.is_none(), "latched twice");
                    assert!(self.sources.contains(&addr));
                    self.latched = Some(addr);
                }
                MediaEvent::Dtmf { digit, .. } => {
                    assert!(self.config.dtmf_payload_type.is_some() || self.config.inband_dtmf);
                    assert!(hotline_media::dtmf::digit_to_event(digit).is_some());
                    cause = true;
                }
                MediaEvent::SpeechStart => cause = true,
                MediaEvent::RtpTimeout => {
                    assert!(
                        self.config.direction.receives(),
                        "timeout while not receiving"
                    );
                }
                MediaEvent::PlaybackDone => {
                    assert!(self.played && !self.ended, "one end per greeting");
                    self.ended = true;
                }
                MediaEvent::PlaybackInterrupted { .. } => {
                    assert!(self.played && self.barge_in && !self.ended);
                    assert!(cause, "interrupted right after a key press or speech");
                    self.ended = true;
                }
                _ => {}
            }
        }
        assert_eq!(
            session.destination(),
            self.latched.unwrap_or(self.config.remote)
        );
        assert_eq!(session.stats().dropped_transmit_overflow, 0);
    }
}

fuzz_target!(|data: &[u8]| {
    let [flags, payload_type, dtmf_payload_type, count, ref rest @ ..] = *data else {
        return;
    };
    let (rtp_timeout, initial_rtp_timeout) = match (flags >> 4) & 0x03 {
        0 => (
            SessionConfig::DEFAULT_RTP_TIMEOUT,
            SessionConfig::DEFAULT_INITIAL_RTP_TIMEOUT,
        ),
        1 => (Duration::from_secs(1), Duration::from_secs(2)),
        2 => (Duration::MAX, Duration::MAX),
        _ => (Duration::ZERO, Duration::ZERO),
    };
    let config = SessionConfig {
        // The flags' low bit and the telephone-event byte's second-highest pick the codec.
        codec: [
            AudioCodec::Pcmu,
            AudioCodec::Pcma,
            AudioCodec::G722,
            AudioCodec::Opus,
        ][usize::from(flags & 0x01) | usize::from((dtmf_payload_type >> 5) & 0x02)],
        payload_type,
        dtmf_payload_type: (flags & 0x02 != 0).then_some(dtmf_payload_type),
        cn_payload_type: Some(13),
        remote: "192.0.2.10:4000".parse().unwrap(),
        remote_rtcp: Some("192.0.2.10:4001".parse().unwrap()),
        rtcp_mux: flags & 0x80 != 0,
        rtcp_interval: Some(Duration::from_secs(5)),
        ntp_at_start: 0,
        inband_dtmf: flags & 0x02 == 0,
        direction: match (flags >> 2) & 0x03 {
            0 => Direction::SendRecv,
            1 => Direction::SendOnly,
            2 => Direction::RecvOnly,
            _ => Direction::Inactive,
        },
        rtp_timeout,
        initial_rtp_timeout,
    };
    let sources: [SocketAddr; 2] = [
        "198.51.100.7:40000".parse().unwrap(),
        "[2001:db8::7]:40002".parse().unwrap(),
    ];
    let start = Instant::now();
    let mut now = start;
    let mut rng = StdRng::seed_from_u64(u64::from(flags));
    let mut session = RtpSession::new(now, config, &mut rng);
    let mut checker = Checker {
        config,
        sources,
        next_sequence: None,
        latched: None,
        played: false,
        barge_in: dtmf_payload_type & 0x01 != 0,
        ended: false,
    };

    if flags & 0x40 != 0 {
        // A short greeting (3.5 frames) before the echo, as an echo-test line plays.
        checker.played = true;
        let samples: Vec<i16> = (0..560).map(|i| (i * 97 % 2000 - 1000) as i16).collect();
        session.set_mode(
            now,
            Mode::Play {
                frames: Prompt::from_samples(&samples),
                then: AfterPlay::Echo,
                barge_in: checker.barge_in,
            },
        );
    } else {
        session.set_mode(now, Mode::Echo);
    }
    checker.drain(&mut session, true);

    let mut rest = rest;
    for _ in 0..count {
        let [meta, len, ref tail @ ..] = *rest else {
            break;
        };
        let (datagram, tail) = tail.split_at(usize::from(len).min(tail.len()));
        rest = tail;

        let step = meta >> 2;
        now += if step == 63 {
            Duration::from_secs(31)
        } else {
            Duration::from_millis(5 * u64::from(step))
        };
        let recycle = meta & 0x02 == 0;
        session.handle_tick(now);
        checker.drain(&mut session, recycle);
        session.handle_packet(now, sources[usize::from(meta & 0x01)], datagram);
        checker.drain(&mut session, recycle);
        if let Some(deadline) = session.poll_timeout() {
            assert!(deadline >= start);
        }
    }
    // Let every deadline pass.
    for _ in 0..4 {
        now += Duration::from_secs(61);
        session.handle_tick(now);
        checker.drain(&mut session, true);
    }
    let stats = session.stats();
    assert!(stats.packets_in <= u64::from(count));
    assert!(
        stats.dropped_malformed + stats.dropped_wrong_payload_type + stats.dropped_wrong_source
            <= stats.packets_in
    );
});
