//! End-to-end: the real `hotline` binary against sipp and raw SIP over UDP and TCP.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::{Engine, RawUdp, invite, sdp_offer};
use hotline_media::g711::Codec;
use hotline_media::rtp::RtpPacket;
use hotline_sip::message::{HeaderName, Method};

fn assert_sipp_ok(out: &std::process::Output, what: &str, engine: &Engine) {
    assert!(
        out.status.success(),
        "{what}: sipp failed ({:?})\nstdout:\n{}\nstderr:\n{}\nengine log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        engine.log_text()
    );
}

#[test]
fn options_is_answered_with_allow() {
    let engine = Engine::start();
    let out = engine.sipp_scenario("options.xml", "x", &["-m", "1"]);
    assert_sipp_ok(&out, "OPTIONS", &engine);
    let client = RawUdp::new(engine.sip);
    let r = client.options("allow").expect("OPTIONS answered");
    assert_eq!(r.status, 200);
    let allow = r
        .headers
        .get(&hotline_sip::message::HeaderName::Allow)
        .expect("Allow header");
    for m in ["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS"] {
        assert!(allow.contains(m), "Allow lacks {m}: {allow}");
    }
    assert_eq!(
        r.headers
            .get(&hotline_sip::message::HeaderName::Accept)
            .unwrap_or(""),
        "application/sdp"
    );
}

#[test]
fn call_to_echo_with_bye_from_caller_udp_and_tcp() {
    let engine = Engine::start();
    let out = engine.sipp(&["-sn", "uac", "-s", "echo", "-m", "1", "-d", "1000"]);
    assert_sipp_ok(&out, "UDP call", &engine);
    let out = engine.sipp(&[
        "-sn", "uac", "-s", "echo", "-m", "2", "-d", "500", "-t", "t1",
    ]);
    assert_sipp_ok(&out, "TCP calls", &engine);
    assert_eq!(engine.metric("hotline_calls_total"), 3.0);
    engine.wait_metric("hotline_calls_active", |v| v == 0.0);
    assert_eq!(
        engine.metric("hotline_sip_messages_total{direction=\"in\",method=\"BYE\",status=\"\"}"),
        3.0
    );
}

#[test]
fn welcome_plays_then_engine_hangs_up() {
    let engine = Engine::start();
    let out = engine.sipp_scenario("uac_wait_bye.xml", "welcome", &["-m", "1"]);
    assert_sipp_ok(&out, "welcome call", &engine);
    // The BYE came from the engine, after the whole prompt (4.7 s = about 235 packets).
    assert_eq!(
        engine.metric("hotline_sip_messages_total{direction=\"out\",method=\"BYE\",status=\"\"}"),
        1.0
    );
    let sent = engine.metric("hotline_rtp_packets_sent_total");
    assert!(sent >= 230.0, "prompt packets sent: {sent}");
    engine.wait_metric("hotline_calls_active", |v| v == 0.0);
}

#[test]
fn cancel_before_answer_gets_487() {
    let engine = Engine::start();
    let out = engine.sipp_scenario("uac_cancel.xml", "slow", &["-m", "1"]);
    assert_sipp_ok(&out, "CANCEL", &engine);
    assert_eq!(
        engine.metric(
            "hotline_sip_messages_total{direction=\"out\",method=\"INVITE\",status=\"487\"}"
        ),
        1.0
    );
    engine.wait_metric("hotline_calls_active", |v| v == 0.0);
    assert!(engine.log_text().contains("call ended while ringing"));
}

#[test]
fn retransmitted_invite_makes_one_call() {
    let engine = Engine::start();
    let out = engine.sipp_scenario("uac_retransmit.xml", "echo", &["-m", "1"]);
    assert_sipp_ok(&out, "retransmitted INVITE", &engine);
    assert_eq!(
        engine.metric("hotline_sip_messages_total{direction=\"in\",method=\"INVITE\",status=\"\"}"),
        2.0
    );
    assert_eq!(engine.metric("hotline_calls_total"), 1.0);
}

#[test]
fn invite_retransmitted_while_ringing_gets_the_last_provisional_again() {
    let engine = Engine::start();
    let client = RawUdp::new(engine.sip);
    let local = client.local();
    let inv = invite(&client, "slow", "rt-ring", "rt-ring", &sdp_offer(40010));
    client.send(inv.as_bytes());
    let first = client.recv_response(false).expect("100");
    assert_eq!(first.status, 100);
    // Ringing with early media: 183 with the SDP answer.
    let ringing = client.recv_response(false).expect("183");
    assert_eq!(ringing.status, 183);
    assert!(!ringing.body.is_empty());
    let tag = ringing
        .headers
        .to()
        .and_then(|t| t.tag().map(str::to_owned));
    assert!(tag.is_some(), "183 carries the dialog's To tag");
    // The same INVITE again (our 183 "was lost"): the 183 comes back, nothing new starts.
    client.send(inv.as_bytes());
    let again = client.recv_response(false).expect("resent 183");
    assert_eq!(again.status, 183);
    assert_eq!(again.body, ringing.body);
    assert_eq!(
        again.headers.to().and_then(|t| t.tag().map(str::to_owned)),
        tag
    );
    let ok = client.recv_response(true).expect("200 after ringing");
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.headers.to().and_then(|t| t.tag().map(str::to_owned)),
        tag
    );
    let to = ok
        .headers
        .get(&hotline_sip::message::HeaderName::To)
        .unwrap()
        .to_owned();
    let contact = ok
        .headers
        .contacts()
        .first()
        .expect("Contact")
        .uri
        .to_string();
    let in_dialog = |method: &str, cseq: u32, branch: &str| {
        format!(
            "{method} {contact} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK-{branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:caller@{local}>;tag=c-rt-ring\r\n\
             To: {to}\r\n\
             Call-ID: rt-ring\r\n\
             CSeq: {cseq} {method}\r\n\
             Content-Length: 0\r\n\r\n"
        )
    };
    client.send(in_dialog("ACK", 1, "rt-ack").as_bytes());
    client.send(in_dialog("BYE", 2, "rt-bye").as_bytes());
    // Late 200 retransmissions may still be in flight; the BYE's 200 has CSeq BYE.
    let bye_ok = loop {
        let r = client.recv_response(true).expect("200 for BYE");
        if r.headers
            .cseq()
            .is_some_and(|c| c.method == hotline_sip::message::Method::Bye)
        {
            break r;
        }
    };
    assert_eq!(bye_ok.status, 200);
    assert_eq!(engine.metric("hotline_calls_total"), 1.0);
    engine.wait_metric("hotline_calls_active", |v| v == 0.0);
}

/// What a test's RTP socket heard, each datagram with when it arrived.
struct RtpTap {
    /// The same socket, to send from.
    socket: UdpSocket,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<(Instant, SocketAddr, Vec<u8>)>>,
}

impl RtpTap {
    /// Listens on the offered RTP port of `127.0.0.1`.
    fn start(port: u16) -> RtpTap {
        let socket = UdpSocket::bind(("127.0.0.1", port)).expect("bind the offered RTP port");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let sender = socket.try_clone().expect("clone the RTP socket");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut heard = Vec::new();
            let mut buf = [0u8; 2048];
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok((n, from)) = socket.recv_from(&mut buf) {
                    heard.push((Instant::now(), from, buf[..n].to_vec()));
                }
            }
            heard
        });
        RtpTap {
            socket: sender,
            stop,
            thread,
        }
    }

    fn finish(self) -> Vec<(Instant, SocketAddr, Vec<u8>)> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().expect("RTP tap")
    }
}

/// Power at `freq` in 8 kHz samples (Goertzel), scaled so a sine of amplitude A gives about
/// (A/2)^2.
fn goertzel(samples: &[i16], freq: f64) -> f64 {
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * freq / 8000.0).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (samples.len() as f64).powi(2)
}

/// ACK then BYE in the dialog a 200 opened; waits for the BYE's 200.
fn ack_and_bye(client: &RawUdp, ok: &hotline_sip::message::Response, call_id: &str) {
    ack(client, ok, call_id);
    bye(client, ok, call_id);
}

fn ack(client: &RawUdp, ok: &hotline_sip::message::Response, call_id: &str) {
    client.send(in_dialog(client, ok, call_id, "ACK", 1).as_bytes());
}

fn bye(client: &RawUdp, ok: &hotline_sip::message::Response, call_id: &str) {
    client.send(in_dialog(client, ok, call_id, "BYE", 2).as_bytes());
    loop {
        let r = client.recv_response(true).expect("200 for BYE");
        if r.headers.cseq().is_some_and(|c| c.method == Method::Bye) {
            assert_eq!(r.status, 200);
            return;
        }
    }
}

/// A request in the dialog a 200 opened.
fn in_dialog(
    client: &RawUdp,
    ok: &hotline_sip::message::Response,
    call_id: &str,
    method: &str,
    cseq: u32,
) -> String {
    let local = client.local();
    let to = ok.headers.get(&HeaderName::To).unwrap().to_owned();
    let contact = ok
        .headers
        .contacts()
        .first()
        .expect("Contact")
        .uri
        .to_string();
    format!(
        "{method} {contact} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-{call_id}-{cseq};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:caller@{local}>;tag=c-{call_id}\r\n\
         To: {to}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// The RTP port in an SDP body's `m=audio` line.
fn sdp_port(body: &[u8]) -> u16 {
    String::from_utf8_lossy(body)
        .lines()
        .find_map(|l| l.strip_prefix("m=audio ")?.split(' ').next()?.parse().ok())
        .expect("m=audio port")
}

/// Decodes PCMU packets (in sequence order) into frames.
fn pcmu_frames(packets: &[&[u8]]) -> Vec<[i16; 160]> {
    let mut packets: Vec<RtpPacket<'_>> = packets
        .iter()
        .map(|b| RtpPacket::parse(b).expect("RTP"))
        .collect();
    packets.sort_by_key(|p| p.sequence());
    packets
        .iter()
        .map(|p| {
            let mut pcm = [0i16; 160];
            Codec::Pcmu.decode(p.payload(), &mut pcm);
            pcm
        })
        .collect()
}

fn mean_square(pcm: &[i16]) -> f64 {
    pcm.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / pcm.len() as f64
}

#[test]
fn a_ringing_number_plays_ringback_as_early_media_then_answers_with_the_same_sdp() {
    let engine = Engine::start();
    let client = RawUdp::new(engine.sip);
    let rtp_port = common::free_port();
    let tap = RtpTap::start(rtp_port);
    let inv = invite(&client, "slow", "early-1", "early-1", &sdp_offer(rtp_port));
    client.send(inv.as_bytes());
    assert_eq!(client.recv_response(false).expect("100").status, 100);
    let progress = client.recv_response(false).expect("183");
    let progress_at = Instant::now();
    assert_eq!(progress.status, 183, "early media, not a plain 180");
    assert_eq!(progress.headers.content_type(), Some("application/sdp"));
    let sdp = String::from_utf8(progress.body.to_vec()).expect("SDP text");
    assert!(sdp.starts_with("v=0"), "{sdp}");
    let engine_port = sdp_port(&progress.body);
    // No 180 after the 183: the next response is the 200 (`slow` rings for 2 s).
    let ok = client.recv_response(false).expect("200 after ringing");
    let answered_at = Instant::now();
    assert_eq!(ok.status, 200);
    assert!(answered_at - progress_at >= Duration::from_millis(1500));
    assert_eq!(ok.body, progress.body, "the 200 repeats the early answer");
    assert_eq!(
        ok.headers.to().and_then(|t| t.tag().map(str::to_owned)),
        progress
            .headers
            .to()
            .and_then(|t| t.tag().map(str::to_owned))
    );
    std::thread::sleep(Duration::from_millis(100));
    let heard = tap.finish();
    ack_and_bye(&client, &ok, "early-1");

    // What came before the 200: the ringback, from the port the SDP names.
    let mut early: Vec<RtpPacket<'_>> = heard
        .iter()
        .filter(|(at, _, _)| *at < answered_at)
        .map(|(_, from, bytes)| {
            assert_eq!(from.port(), engine_port);
            RtpPacket::parse(bytes).expect("RTP")
        })
        .collect();
    assert!(
        early.len() >= 75,
        "about 100 packets in 2 s of ringing, got {}\n{}",
        early.len(),
        engine.log_text()
    );
    early.sort_by_key(|p| p.sequence());
    for p in &early {
        assert_eq!(p.payload_type(), 0, "PCMU, as negotiated");
    }
    // EU ringback: 425 Hz, 1 s on (50 frames), then 4 s off.
    let on: Vec<bool> = early
        .iter()
        .map(|p| {
            let mut pcm = [0i16; 160];
            Codec::Pcmu.decode(p.payload(), &mut pcm);
            let energy = pcm.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / 160.0;
            let tone = energy > 1.0e6;
            if tone {
                // A -13 dBm0 sine (amplitude about 5100) carries its energy at 425 Hz.
                let at_425 = goertzel(&pcm, 425.0);
                assert!(at_425 > 0.35 * energy, "425 Hz: {at_425} of {energy}");
                assert!(goertzel(&pcm, 1000.0) < 0.01 * energy);
            } else {
                assert!(energy < 100.0, "off is silence: {energy}");
            }
            tone
        })
        .collect();
    let on_frames = on.iter().take_while(|&&t| t).count();
    assert!(
        (49..=51).contains(&on_frames),
        "1 s on: {on_frames} frames ({on:?})"
    );
    assert!(on[on_frames..].iter().all(|&t| !t), "then off: {on:?}");
    engine.wait_metric("hotline_calls_active", |v| v == 0.0);
}

#[test]
fn a_ringing_conference_number_joins_the_room_only_when_answered() {
    let config = format!(
        "{}  ringroom:\n    action: conference\n    ring_secs: 1\n",
        common::TEST_CONFIG
    );
    let engine = Engine::start_with(&config);
    // Two callers: each hears ringback until answered, then the room.
    let mut legs = Vec::new();
    for name in ["room-a", "room-b"] {
        let client = RawUdp::new(engine.sip);
        let rtp_port = common::free_port();
        let tap = RtpTap::start(rtp_port);
        client.send(invite(&client, "ringroom", name, name, &sdp_offer(rtp_port)).as_bytes());
        assert_eq!(client.recv_response(false).expect("100").status, 100);
        let progress = client.recv_response(false).expect("183");
        assert_eq!(progress.status, 183);
        let ok = client.recv_response(false).expect("200");
        let answered_at = Instant::now();
        assert_eq!((ok.status, &ok.body), (200, &progress.body));
        ack(&client, &ok, name);
        legs.push((name, client, tap, ok, answered_at));
    }
    // A talks (1 kHz from its RTP socket to its port on the engine); B must hear it.
    let (_, _, a_tap, a_ok, _) = &legs[0];
    let to_engine: SocketAddr = ([127, 0, 0, 1], sdp_port(&a_ok.body)).into();
    let tone: Vec<u8> = (0..160 * 50)
        .map(|n| {
            let x = 8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * f64::from(n) / 8000.0).sin();
            hotline_media::g711::linear_to_ulaw(x as i16)
        })
        .collect();
    for (i, chunk) in tone.chunks(160).enumerate() {
        let mut packet = vec![0x80, 0, 0, i as u8, 0, 0, 0, 0, 0, 0, 0, 7];
        packet[4..8].copy_from_slice(&(160 * i as u32).to_be_bytes());
        packet.extend_from_slice(chunk);
        a_tap.socket.send_to(&packet, to_engine).expect("send RTP");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let mut heard = Vec::new();
    for (name, client, tap, ok, answered_at) in legs {
        heard.push((tap.finish(), answered_at));
        bye(&client, &ok, name);
    }
    // Before its answer, A heard ringback (425 Hz), nothing of the room.
    let (a_heard, a_answered) = &heard[0];
    let before: Vec<&[u8]> = a_heard
        .iter()
        .filter(|(at, _, _)| at < a_answered)
        .map(|(_, _, b)| b.as_slice())
        .collect();
    let ringback = pcmu_frames(&before)
        .iter()
        .filter(|f| mean_square(*f) > 1.0e6 && goertzel(*f, 425.0) > 0.35 * mean_square(*f))
        .count();
    assert!(
        ringback >= 30,
        "A's ringback frames: {ringback} of {}",
        before.len()
    );
    // After its answer, B heard A's 1 kHz through the room.
    let (b_heard, b_answered) = &heard[1];
    let after: Vec<&[u8]> = b_heard
        .iter()
        .filter(|(at, _, _)| at > b_answered)
        .map(|(_, _, b)| b.as_slice())
        .collect();
    let from_a = pcmu_frames(&after)
        .iter()
        .filter(|f| mean_square(*f) > 1.0e6 && goertzel(*f, 1000.0) > 0.35 * mean_square(*f))
        .count();
    assert!(
        from_a >= 30,
        "B heard A in {from_a} of {} frames\n{}",
        after.len(),
        engine.log_text()
    );
    engine.wait_metric("hotline_calls_active", |v| v == 0.0);
}

#[test]
fn without_early_media_a_ringing_number_sends_180_and_no_rtp_until_answered() {
    let engine = Engine::start_with(&common::TEST_CONFIG.replacen(
        "media:\n",
        "media:\n  early_media: false\n",
        1,
    ));
    let client = RawUdp::new(engine.sip);
    let rtp_port = common::free_port();
    let tap = RtpTap::start(rtp_port);
    let inv = invite(&client, "slow", "late-1", "late-1", &sdp_offer(rtp_port));
    client.send(inv.as_bytes());
    assert_eq!(client.recv_response(false).expect("100").status, 100);
    let ringing = client.recv_response(false).expect("180");
    assert_eq!(ringing.status, 180);
    assert!(ringing.body.is_empty());
    let ok = client.recv_response(false).expect("200");
    let answered_at = Instant::now();
    assert_eq!(ok.status, 200);
    assert!(!ok.body.is_empty());
    let heard = tap.finish();
    ack_and_bye(&client, &ok, "late-1");
    assert!(
        heard.iter().all(|(at, _, _)| *at >= answered_at),
        "no media before the answer"
    );
}

#[test]
fn hundred_calls_at_50_cps_without_failure() {
    let engine = Engine::start();
    let out = engine.sipp(&[
        "-sn", "uac", "-s", "echo", "-r", "50", "-m", "100", "-d", "200", "-l", "100",
    ]);
    assert_sipp_ok(&out, "100 calls at 50 CPS", &engine);
    assert_eq!(engine.metric("hotline_calls_total"), 100.0);
    engine.wait_metric("hotline_calls_active", |v| v == 0.0);
}

#[test]
fn unknown_number_is_404_and_odd_requests_get_the_right_status() {
    let engine = Engine::start();
    let client = RawUdp::new(engine.sip);
    let local = client.local();

    client.send(invite(&client, "nobody", "c404", "b404", &sdp_offer(40000)).as_bytes());
    let r = client.recv_response(true).expect("answer to INVITE");
    assert_eq!(r.status, 404);
    let to = r.headers.to().expect("To");
    assert!(to.tag().is_some(), "a final response carries a To tag");

    let request = |method: &str, tag: &str, to_tag: Option<&str>| {
        let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
        format!(
            "{method} sip:echo@{target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK-{tag};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:a@{local}>;tag=f{tag}\r\n\
             To: <sip:echo@{target}>{to_tag}\r\n\
             Call-ID: {tag}@test\r\n\
             CSeq: 7 {method}\r\n\
             Content-Length: 0\r\n\r\n",
            target = engine.sip
        )
    };
    // An extension method nobody knows: 501 with Allow.
    client.send(request("FROB", "m501", None).as_bytes());
    let r = client.recv_response(true).expect("501");
    assert_eq!(r.status, 501);
    assert!(
        r.headers
            .get(&hotline_sip::message::HeaderName::Allow)
            .is_some()
    );
    // A known method the engine does not serve (yet): 405 with Allow.
    client.send(request("SUBSCRIBE", "m405", None).as_bytes());
    assert_eq!(client.recv_response(true).expect("405").status, 405);
    // BYE for a dialog that does not exist: 481.
    client.send(request("BYE", "m481", Some("nope")).as_bytes());
    assert_eq!(client.recv_response(true).expect("481").status, 481);
    // A version we do not speak: 505.
    let v7 = request("OPTIONS", "m505", None).replacen("SIP/2.0\r\n", "SIP/7.0\r\n", 1);
    client.send(v7.as_bytes());
    assert_eq!(client.recv_response(true).expect("505").status, 505);
    // An INVITE out of hops: 483.
    let mf0 = invite(&client, "echo", "c483", "b483", &sdp_offer(40002))
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    client.send(mf0.as_bytes());
    assert_eq!(client.recv_response(true).expect("483").status, 483);
    // An INVITE that already passed through the engine: 482.
    let looped = invite(&client, "echo", "c482", "b482", &sdp_offer(40004)).replacen(
        "Max-Forwards: 70\r\n",
        &format!(
            "Via: SIP/2.0/UDP {};branch=z9hG4bK-ours\r\nMax-Forwards: 70\r\n",
            engine.sip
        ),
        1,
    );
    client.send(looped.as_bytes());
    assert_eq!(client.recv_response(true).expect("482").status, 482);
    // An offer with no codec in common: 488.
    let g729 = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                m=audio 40006 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";
    client.send(invite(&client, "echo", "c488", "b488", g729).as_bytes());
    assert_eq!(client.recv_response(true).expect("488").status, 488);
    // The engine is still serving.
    assert_eq!(client.options("after").expect("OPTIONS").status, 200);
}

#[test]
fn every_torture_message_leaves_the_engine_serving() {
    let mut engine = Engine::start();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sip/tests/torture");
    let client = RawUdp::new(engine.sip);
    let mut sent = 0;
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("torture dir")
        .chain(std::fs::read_dir(dir.join("errata-variants")).expect("errata dir"))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "dat"))
        .collect();
    files.sort();
    for path in &files {
        let bytes = std::fs::read(path).expect("read torture file");
        client.send(&bytes);
        sent += 1;
    }
    assert!(sent >= 45, "torture files sent: {sent}");
    // Let the engine chew, then it must still answer, over UDP and over TCP.
    std::thread::sleep(Duration::from_millis(300));
    assert!(engine.alive(), "engine died:\n{}", engine.log_text());
    let fresh = RawUdp::new(engine.sip);
    assert_eq!(fresh.options("post-torture").expect("OPTIONS").status, 200);
    let out = engine.sipp(&["-sn", "uac", "-s", "echo", "-m", "1", "-d", "200"]);
    assert_sipp_ok(&out, "call after torture", &engine);
    assert!(engine.metric("hotline_sip_parse_errors_total{transport=\"udp\"}") >= 1.0);
}

#[test]
fn tcp_limits_bound_oversized_messages_and_connection_floods() {
    let config = format!(
        "{}sip:\n  listen: 127.0.0.1:5060\n  max_message_bytes: 4096\n  max_tcp_connections: 8\n",
        common::TEST_CONFIG
    );
    let mut engine = Engine::start_with(&config);
    // A message whose headers never end, bigger than the limit: the connection is closed.
    let mut s = TcpStream::connect(engine.sip).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut big = String::from("OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n");
    while big.len() < 8192 {
        big.push_str("X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    let _ = s.write_all(big.as_bytes());
    let mut buf = [0u8; 512];
    let closed = matches!(s.read(&mut buf), Ok(0) | Err(_));
    assert!(closed, "oversized message must close the connection");
    // A flood of idle connections: at most 8 are held, the rest are refused at once.
    let mut held = Vec::new();
    for _ in 0..40 {
        if let Ok(c) = TcpStream::connect(engine.sip) {
            held.push(c);
        }
    }
    engine.wait_metric("hotline_sip_tcp_connections_refused_total", |v| v >= 30.0);
    assert!(engine.metric("hotline_sip_tcp_connections_active") <= 8.0);
    // UDP service is unaffected.
    let client = RawUdp::new(engine.sip);
    assert_eq!(client.options("flood").expect("OPTIONS").status, 200);
    drop(held);
    engine.wait_metric("hotline_sip_tcp_connections_active", |v| v == 0.0);
    assert!(engine.alive());
    // TCP works again once the flood is gone.
    let out = engine.sipp(&[
        "-sn", "uac", "-s", "echo", "-m", "1", "-d", "200", "-t", "t1",
    ]);
    assert_sipp_ok(&out, "TCP call after flood", &engine);
}

#[test]
fn sigterm_ends_calls_in_progress_with_bye() {
    let mut engine = Engine::start();
    let sip = engine.sip;
    let scenario = common::scenarios().join("uac_wait_bye.xml");
    // A caller on `echo` who waits for the engine to hang up.
    let port = common::free_port();
    let media = common::free_port();
    let caller = std::process::Command::new("sipp")
        .args(["-sf", &scenario.to_string_lossy(), "-s", "echo", "-m", "1"])
        .args(["-p", &port.to_string(), "-mp", &media.to_string()])
        .args(["-i", "127.0.0.1", "-nostdin", "-timeout", "30s"])
        .arg(sip.to_string())
        .current_dir(engine.dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn sipp");
    engine.wait_metric("hotline_calls_active", |v| v == 1.0);
    engine.wait_log("call answered", 10);
    let status = engine.terminate();
    assert!(status.success(), "engine exit status {status:?}");
    let out = caller.wait_with_output().expect("sipp");
    assert!(
        out.status.success(),
        "the caller must get a BYE at shutdown\n{}",
        engine.log_text()
    );
    assert!(engine.log_text().contains("shutting down"));
}

#[test]
fn healthz_and_metrics() {
    let engine = Engine::start();
    let client = RawUdp::new(engine.sip);
    assert_eq!(client.options("metrics").expect("OPTIONS").status, 200);
    let (status, body) = engine.http_get("/healthz").expect("healthz");
    assert_eq!(status, 200);
    assert!(body.contains("\"ok\""), "{body}");
    let (status, body) = engine.http_get("/metrics").expect("metrics");
    assert_eq!(status, 200);
    for name in [
        "hotline_calls_active",
        "hotline_calls_total",
        "hotline_sip_parse_errors",
        "hotline_sip_messages",
    ] {
        assert!(body.contains(name), "metrics lack {name}:\n{body}");
    }
    let (status, _) = engine.http_get("/nope").expect("404 page");
    assert_eq!(status, 404);
}
