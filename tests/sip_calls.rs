//! End-to-end: the real `hotline` binary against sipp and raw SIP over UDP and TCP.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Engine, RawUdp, invite, sdp_offer};

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
    let ringing = client.recv_response(false).expect("180");
    assert_eq!(ringing.status, 180);
    let tag = ringing
        .headers
        .to()
        .and_then(|t| t.tag().map(str::to_owned));
    assert!(tag.is_some(), "180 carries the dialog's To tag");
    // The same INVITE again (our 180 "was lost"): the 180 comes back, nothing new starts.
    client.send(inv.as_bytes());
    let again = client.recv_response(false).expect("resent 180");
    assert_eq!(again.status, 180);
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
