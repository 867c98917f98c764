//! Sessions negotiated with G.722 and Opus: the codec edge (decode to the 8 kHz core,
//! encode back), their RTP clocks (G.722's 8000, Opus's 48000), Opus FEC, comfort noise,
//! DTMF at 48 kHz, and no allocation per packet. Simulated time, no sockets.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hotline_media::codec::{Decoder, Encoder, MAX_PAYLOAD};
use hotline_media::dtmf::TelephoneEvent;
use hotline_media::rtp::{RtpHeader, RtpPacket};
use hotline_media::sdp::{self, LocalMedia, SessionDescription};
use hotline_media::session::{MediaEvent, Mode, RtpSession, SessionConfig, TransmitKind};
use hotline_media::{AudioCodec, FRAME_DURATION, FRAME_SAMPLES, Frame};
use rand::{Rng, SeedableRng, rngs::StdRng};

mod common;
use common::allocations;

// ---- helpers ----

#[allow(clippy::disallowed_methods)] // One arbitrary origin; every later time is an offset.
fn t0() -> Instant {
    Instant::now()
}

const TICK: Duration = FRAME_DURATION;
const PEER: &str = "198.51.100.7:61000";

fn peer_addr() -> SocketAddr {
    PEER.parse().unwrap()
}

/// The offer's payload type for each codec, and its `a=rtpmap` lines (telephone-event and
/// CN at the codec's clock).
fn offer_for(codec: AudioCodec) -> (u8, String) {
    let (pt, map) = match codec {
        AudioCodec::G722 => (9, "a=rtpmap:9 G722/8000\r\n"),
        AudioCodec::Opus => (
            111,
            "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1\r\n",
        ),
        AudioCodec::Pcmu => (0, ""),
        AudioCodec::Pcma => (8, ""),
    };
    let clock = codec.clock_rate();
    let cn = if clock == 8000 {
        "a=rtpmap:13 CN/8000\r\n".to_owned()
    } else {
        format!("a=rtpmap:14 CN/{clock}\r\n")
    };
    let cn_pt = if clock == 8000 { 13 } else { 14 };
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
         m=audio 40000 RTP/AVP {pt} 101 {cn_pt}\r\n{map}\
         a=rtpmap:101 telephone-event/{clock}\r\na=fmtp:101 0-16\r\n{cn}"
    );
    (pt, sdp)
}

/// A session negotiated from an offer of `codec` with telephone-event and CN, as the call
/// controller creates it with a wideband `LocalMedia`.
fn session(now: Instant, codec: AudioCodec) -> RtpSession {
    let (pt, offer) = offer_for(codec);
    let offer = SessionDescription::parse(offer.as_bytes()).unwrap();
    let local = LocalMedia::wideband("203.0.113.5".parse().unwrap(), 20000, 1, 1);
    let audio = sdp::answer(&offer, &local).unwrap().audio.unwrap();
    assert_eq!((audio.audio_codec, audio.payload_type), (codec, pt));
    assert!(audio.cn_payload_type.is_some());
    let config = SessionConfig {
        // Reports allocate; these tests look at RTP.
        rtcp_interval: None,
        ..SessionConfig::new(&audio)
    };
    RtpSession::new(now, config, &mut StdRng::seed_from_u64(722))
}

/// The far end: encodes at the codec's native rate, timestamps on its RTP clock.
struct Peer {
    codec: AudioCodec,
    pt: u8,
    encoder: Encoder,
    seq: u16,
    ts: u32,
    /// Native-rate samples produced so far (the tone's phase).
    n: usize,
}

impl Peer {
    fn new(codec: AudioCodec, pt: u8) -> Self {
        Peer {
            codec,
            pt,
            encoder: Encoder::new(codec).unwrap(),
            seq: 65_500, // wraps during the tests
            ts: u32::MAX - 100 * codec.frame_ticks(),
            n: 0,
        }
    }

    fn packet(&mut self, pt: u8, marker: bool, ts: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0; RtpHeader::LEN + payload.len()];
        RtpHeader {
            marker,
            payload_type: pt,
            sequence: self.seq,
            timestamp: ts,
            ssrc: 0x0722_0722,
        }
        .write(payload, &mut out)
        .unwrap();
        self.seq = self.seq.wrapping_add(1);
        out
    }

    /// The next 20 ms of `hz` (changing frequency keeps the phase running) at `amplitude`.
    fn tone(&mut self, hz: f64, amplitude: f64) -> Vec<u8> {
        let rate = self.codec.sample_rate();
        let pcm: Vec<i16> = (0..self.codec.frame_samples())
            .map(|k| {
                let t = (self.n + k) as f64 / f64::from(rate);
                (amplitude * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
            })
            .collect();
        self.n += pcm.len();
        self.audio(&pcm)
    }

    fn audio(&mut self, pcm: &[i16]) -> Vec<u8> {
        let mut payload = vec![0; MAX_PAYLOAD];
        let n = self.encoder.encode(pcm, &mut payload).unwrap();
        let ts = self.ts;
        self.ts = self.ts.wrapping_add(self.codec.frame_ticks());
        self.packet(self.pt, false, ts, &payload[..n])
    }
}

/// Power at `hz` over `samples` at `rate`, normalised so a sine of amplitude A gives about
/// (A/2)^2: half its mean square.
fn goertzel(samples: &[i16], hz: f64, rate: u32) -> f64 {
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * hz / f64::from(rate)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (samples.len() as f64).powi(2)
}

fn mean_square(samples: &[i16]) -> f64 {
    samples.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / samples.len().max(1) as f64
}

/// Share of `samples`' power at `hz`: 1.0 for a pure tone on the bin.
fn share(samples: &[i16], hz: f64, rate: u32) -> f64 {
    2.0 * goertzel(samples, hz, rate) / mean_square(samples).max(f64::MIN_POSITIVE)
}

fn rtp_out(s: &mut RtpSession) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| s.poll_transmit())
        .filter(|t| t.kind == TransmitKind::Rtp)
        .map(|t| t.bytes)
        .collect()
}

fn events(s: &mut RtpSession) -> Vec<MediaEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

const WIDEBAND: [AudioCodec; 2] = [AudioCodec::G722, AudioCodec::Opus];

// ---- tests ----

#[test]
fn echo_returns_a_1khz_tone_intact() {
    for codec in WIDEBAND {
        let start = t0();
        let mut s = session(start, codec);
        s.set_mode(start, Mode::Echo);
        let pt = s.config().payload_type;
        let mut peer = Peer::new(codec, pt);
        let mut echoed = Vec::new();
        for i in 0..100u32 {
            // Arrival jitter of up to 7 ms must not show in our timestamps.
            let now = start + TICK * i + Duration::from_millis(u64::from(i * 7 % 8));
            s.handle_packet(now, peer_addr(), &peer.tone(1000.0, 12000.0));
            s.handle_tick(now);
            echoed.extend(rtp_out(&mut s));
        }
        assert_eq!(echoed.len(), 100, "{codec:?}");
        let packets: Vec<RtpPacket<'_>> = echoed
            .iter()
            .map(|b| RtpPacket::parse(b).unwrap())
            .collect();
        assert!(packets[0].marker());
        for w in packets.windows(2) {
            assert_eq!(w[1].sequence(), w[0].sequence().wrapping_add(1));
            assert_eq!(
                w[1].timestamp(),
                w[0].timestamp().wrapping_add(codec.frame_ticks()),
                "{codec:?}: 20 ms on the codec's clock"
            );
            assert!(!w[1].marker());
        }
        assert!(packets.iter().all(|p| p.payload_type() == pt));

        // What the caller hears, at its codec's native rate.
        let mut dec = Decoder::new(codec).unwrap();
        let mut pcm = Vec::new();
        let mut buf = vec![0i16; 5760];
        for p in &packets {
            let n = dec.decode(p.payload(), &mut buf).unwrap();
            pcm.extend_from_slice(&buf[..n]);
        }
        let rate = codec.sample_rate();
        assert_eq!(pcm.len(), 100 * codec.frame_samples());
        // Skip the codecs' start-up (100 ms).
        let steady = &pcm[pcm.len() / 10..];
        let tone_share = share(steady, 1000.0, rate);
        let level = (mean_square(steady) / (12000.0f64.powi(2) / 2.0)).sqrt();
        let snr_db = 10.0 * (tone_share / (1.0 - tone_share).max(1e-9)).log10();
        eprintln!("{codec:?} echo: level {level:.3}, tone {snr_db:.1} dB over the rest");
        assert!(tone_share > 0.95, "{codec:?}: {tone_share}");
        assert!((0.85..1.1).contains(&level), "{codec:?}: level {level}");
        for other in [500.0, 1500.0, 3000.0] {
            assert!(
                share(steady, other, rate) < 0.001,
                "{codec:?} at {other} Hz"
            );
        }
        assert_eq!(
            events(&mut s),
            [MediaEvent::RemoteLatched { addr: peer_addr() }]
        );
    }
}

#[test]
fn a_g722_echo_stays_wideband() {
    // 6 kHz is beyond an 8 kHz core's band: it comes back only if the echo stays at 16 kHz.
    let start = t0();
    let mut s = session(start, AudioCodec::G722);
    s.set_mode(start, Mode::Echo);
    let mut peer = Peer::new(AudioCodec::G722, 9);
    let mut dec = Decoder::new(AudioCodec::G722).unwrap();
    let mut pcm = Vec::new();
    let mut buf = [0i16; 320];
    for i in 0..50u32 {
        s.handle_packet(start + TICK * i, peer_addr(), &peer.tone(6000.0, 8000.0));
        for bytes in rtp_out(&mut s) {
            let n = dec
                .decode(RtpPacket::parse(&bytes).unwrap().payload(), &mut buf)
                .unwrap();
            pcm.extend_from_slice(&buf[..n]);
        }
    }
    let steady = &pcm[1600..];
    let level = (mean_square(steady) / (8000.0f64.powi(2) / 2.0)).sqrt();
    assert!(
        share(steady, 6000.0, 16000) > 0.9,
        "{}",
        share(steady, 6000.0, 16000)
    );
    assert!(level > 0.7, "level {level}");
}

#[test]
fn mix_mode_hears_the_peers_tone_through_jitter_and_loss_and_sends_on_the_codec_clock() {
    for codec in WIDEBAND {
        let start = t0();
        let mut s = session(start, codec);
        s.set_mode(start, Mode::Mix);
        let pt = s.config().payload_type;
        let mut peer = Peer::new(codec, pt);
        let mut rng = StdRng::seed_from_u64(0x0722);
        // 40-70 ms one way, 2% loss; packets overtake each other.
        let mut flights: Vec<(Instant, Vec<u8>)> = Vec::new();
        let mut heard: Vec<Frame> = Vec::new();
        let mut sent = Vec::new();
        for tick in 0..500u32 {
            let now = start + TICK * tick;
            let packet = peer.tone(1000.0, 8000.0);
            if !rng.random_bool(0.02) {
                let delay = Duration::from_millis(40 + rng.random_range(0..30));
                flights.push((now + delay, packet));
            }
            flights.sort_by_key(|f| f.0);
            let due = flights.iter().take_while(|f| f.0 <= now).count();
            for (at, bytes) in flights.drain(..due) {
                s.handle_packet(at, peer_addr(), &bytes);
            }
            s.handle_tick(now);
            heard.push(*s.take_frame(now));
            // Our side says 600 Hz.
            let mut frame: Frame = [0; FRAME_SAMPLES];
            for (k, x) in frame.iter_mut().enumerate() {
                let t = (tick as usize * FRAME_SAMPLES + k) as f64 / 8000.0;
                *x = (8000.0 * (2.0 * std::f64::consts::PI * 600.0 * t).sin()) as i16;
            }
            s.send_frame(now, &frame);
            sent.extend(rtp_out(&mut s));
        }
        // Heard: the peer's 1 kHz, every frame once started (jitter buffer + 70 ms).
        let frames = &heard[10..];
        let low = frames
            .iter()
            .filter(|f| {
                share(&f[..], 1000.0, 8000) < 0.5
                    || mean_square(&f[..]) < 0.3 * 8000.0f64.powi(2) / 2.0
            })
            .count();
        let pcm: Vec<i16> = frames.iter().flatten().copied().collect();
        let tone_share = share(&pcm, 1000.0, 8000);
        let level = (mean_square(&pcm) / (8000.0f64.powi(2) / 2.0)).sqrt();
        let jb = s.jitter_stats();
        eprintln!(
            "{codec:?} mix: heard level {level:.3}, {:.1}% at 1 kHz, {low} weak frames, {jb:?}",
            tone_share * 100.0
        );
        assert!(tone_share > 0.9, "{codec:?}: {tone_share}");
        assert!((0.8..1.1).contains(&level), "{codec:?}: {level}");
        // A loss costs a frame or two (Opus's decoder takes a few frames to settle after
        // its concealment, as libopus alone does).
        assert!(
            low as u64 <= 3 * jb.lost,
            "{codec:?}: {low} frames are not the tone"
        );
        assert!(jb.concealed > 0 && jb.lost > 0, "{codec:?}: {jb:?}");

        // Sent: one packet a tick, 20 ms apart on the codec's clock, decodable 600 Hz.
        assert_eq!(sent.len(), 500);
        let packets: Vec<RtpPacket<'_>> =
            sent.iter().map(|b| RtpPacket::parse(b).unwrap()).collect();
        for w in packets.windows(2) {
            assert_eq!(
                w[1].timestamp(),
                w[0].timestamp().wrapping_add(codec.frame_ticks())
            );
        }
        let mut dec = Decoder::new(codec).unwrap();
        let mut out = Vec::new();
        let mut buf = vec![0i16; 5760];
        for p in &packets {
            let n = dec.decode(p.payload(), &mut buf).unwrap();
            out.extend_from_slice(&buf[..n]);
        }
        let steady = &out[out.len() / 10..];
        let sent_share = share(steady, 600.0, codec.sample_rate());
        assert!(sent_share > 0.9, "{codec:?}: {sent_share}");
    }
}

/// Frames `take_frame` played for an Opus stream of 500 Hz that turns 1500 Hz at frame 30,
/// with the packets of `lost` frames dropped; and which were concealed.
fn opus_with_losses(lost: &[u32]) -> Vec<(Frame, bool)> {
    let start = t0();
    let mut s = session(start, AudioCodec::Opus);
    s.set_mode(start, Mode::Mix);
    let mut peer = Peer::new(AudioCodec::Opus, 111);
    let mut played = Vec::new();
    for tick in 0..60u32 {
        let now = start + TICK * tick;
        let hz = if tick < 30 { 500.0 } else { 1500.0 };
        let packet = peer.tone(hz, 10000.0);
        if !lost.contains(&tick) {
            s.handle_packet(now, peer_addr(), &packet);
        }
        let before = s.jitter_stats().concealed;
        let frame = *s.take_frame(now);
        played.push((frame, s.jitter_stats().concealed > before));
    }
    played
}

#[test]
fn opus_fec_rebuilds_a_single_loss() {
    // Frame 30, the first at the new pitch, is lost. Alone, the next packet is here when
    // its turn comes and its in-band FEC rebuilds it; lost with frame 31, it can only be
    // concealed (Opus's PLC goes on with the old pitch).
    let pitch = |frames: &[(Frame, bool)]| {
        let (frame, _) = frames.iter().find(|(_, concealed)| *concealed).unwrap();
        let (new, old) = (goertzel(frame, 1500.0, 8000), goertzel(frame, 500.0, 8000));
        (new / old.max(f64::MIN_POSITIVE), mean_square(frame).sqrt())
    };
    let (fec, fec_rms) = pitch(&opus_with_losses(&[30]));
    let (plc, plc_rms) = pitch(&opus_with_losses(&[30, 31]));
    eprintln!(
        "1500/500 Hz power: FEC {fec:.2} (rms {fec_rms:.0}), PLC {plc:.3} (rms {plc_rms:.0})"
    );
    assert!(fec_rms > 2000.0, "the rebuilt frame is not silence");
    assert!(fec > 1.0, "the rebuilt frame has the new pitch: {fec}");
    assert!(fec > 20.0 * plc, "FEC {fec} against concealment {plc}");
}

#[test]
fn telephone_events_beside_opus_are_timed_at_48_khz() {
    let start = t0();
    let mut s = session(start, AudioCodec::Opus);
    let mut peer = Peer::new(AudioCodec::Opus, 111);
    // A 100 ms press of 5: durations in 48 kHz units, 960 a packet.
    let ts = 480_000;
    for (i, d) in (1..=5u16).enumerate() {
        let end = d == 5;
        let event = TelephoneEvent {
            event: 5,
            end,
            volume: 10,
            duration: d * 960,
        };
        let bytes = peer.packet(101, i == 0, ts, &event.to_bytes());
        s.handle_packet(start + TICK * i as u32, peer_addr(), &bytes);
    }
    let digits: Vec<(char, u32)> = events(&mut s)
        .into_iter()
        .filter_map(|e| match e {
            MediaEvent::Dtmf { digit, duration_ms } => Some((digit, duration_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(digits, [('5', 100)]);
}

#[test]
fn inband_dtmf_is_heard_through_both_codecs() {
    for codec in WIDEBAND {
        let start = t0();
        let config = SessionConfig {
            dtmf_payload_type: None,
            inband_dtmf: true,
            ..*session(start, codec).config()
        };
        let mut s = RtpSession::new(start, config, &mut StdRng::seed_from_u64(1));
        let mut peer = Peer::new(codec, config.payload_type);
        // "19#" at -10 dBm0 per tone: 80 ms presses after 80 ms gaps, at the native rate.
        let rate = codec.sample_rate() as usize;
        let amplitude = 32768.0 * (0.4853f64 * 0.1).sqrt();
        let mut pcm: Vec<i16> = Vec::new();
        for (row, col) in [(697.0, 1209.0), (852.0, 1477.0), (941.0, 1477.0)] {
            pcm.resize(pcm.len() + rate * 80 / 1000, 0);
            pcm.extend((0..rate * 80 / 1000).map(|n| {
                let w = 2.0 * std::f64::consts::PI * n as f64 / rate as f64;
                (amplitude * ((w * row).sin() + (w * col + 0.7).sin())) as i16
            }));
        }
        pcm.resize(pcm.len() + rate / 5, 0);
        let mut got = Vec::new();
        let mut now = start;
        for frame in pcm.chunks_exact(codec.frame_samples()) {
            now += TICK;
            s.handle_packet(now, peer_addr(), &peer.audio(frame));
            s.handle_tick(now);
            got.extend(events(&mut s));
        }
        for _ in 0..20 {
            now += TICK;
            s.handle_tick(now);
            got.extend(events(&mut s));
        }
        let digits: String = got
            .iter()
            .filter_map(|e| match e {
                MediaEvent::Dtmf { digit, .. } => Some(*digit),
                _ => None,
            })
            .collect();
        assert_eq!(digits, "19#", "{codec:?}: {got:?}");
    }
}

#[test]
fn comfort_noise_fills_the_silence_after_a_cn_packet() {
    for codec in [AudioCodec::Pcmu, AudioCodec::G722, AudioCodec::Opus] {
        let start = t0();
        let mut s = session(start, codec);
        let cn_pt = s.config().cn_payload_type.unwrap();
        let mut peer = Peer::new(codec, s.config().payload_type);
        let mut heard = Vec::new();
        for tick in 0..100u32 {
            let now = start + TICK * tick;
            match tick {
                // Talk, then a CN packet at -40 dBov, then nothing until tick 70.
                0..40 => s.handle_packet(now, peer_addr(), &peer.tone(1000.0, 8000.0)),
                40 => {
                    let ts = peer.ts;
                    let bytes = peer.packet(cn_pt, false, ts, &[40]);
                    s.handle_packet(now, peer_addr(), &bytes);
                }
                70.. => {
                    peer.ts = peer.ts.wrapping_add(30 * codec.frame_ticks());
                    s.handle_packet(now, peer_addr(), &peer.tone(1000.0, 8000.0));
                }
                _ => {}
            }
            heard.push(*s.take_frame(now));
        }
        assert_eq!(s.stats().dropped_wrong_payload_type, 0, "{codec:?}");
        assert_eq!(s.stats().dropped_malformed, 0, "{codec:?}");
        // -40 dBov: RMS 32767 / 100.
        let quiet: Vec<i16> = heard[55..68].iter().flatten().copied().collect();
        let rms = mean_square(&quiet).sqrt();
        assert!((250.0..400.0).contains(&rms), "{codec:?}: noise rms {rms}");
        // Speech again: the noise stops with it.
        let talk: Vec<i16> = heard[85..].iter().flatten().copied().collect();
        assert!(share(&talk, 1000.0, 8000) > 0.95, "{codec:?}");
    }
}

#[test]
fn the_steady_state_does_not_allocate() {
    for codec in WIDEBAND {
        for mode in [Mode::Echo, Mode::Mix] {
            let start = t0();
            let mut s = session(start, codec);
            s.set_mode(start, mode.clone());
            let mut peer = Peer::new(codec, s.config().payload_type);
            let packets: Vec<Vec<u8>> = (0..400).map(|_| peer.tone(1000.0, 8000.0)).collect();
            let mut counted = 0;
            for (tick, bytes) in packets.iter().enumerate() {
                let now = start + TICK * tick as u32;
                let before = allocations();
                // Lose one packet in ten: concealment and FEC are part of the steady state.
                if tick % 10 != 5 {
                    s.handle_packet(now, peer_addr(), bytes);
                }
                s.handle_tick(now);
                let frame = *s.take_frame(now);
                s.send_frame(now, &frame);
                while let Some(t) = s.poll_transmit() {
                    s.recycle(t.bytes);
                }
                while s.poll_event().is_some() {}
                if tick >= 100 {
                    counted += allocations() - before;
                }
            }
            assert_eq!(counted, 0, "{codec:?} {mode:?}");
        }
    }
}
