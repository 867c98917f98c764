//! The live-calls API end to end: `GET /api/calls` and pausing a recorded room's recording
//! with `POST /api/calls/{id}/recording`, driven by `hotline-load` calls into a recorded
//! two-party room.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Engine;

const CONFIG: &str = "\
media:
  address: 127.0.0.1
  rtp_ports: 30000-32767
numbers:
  room-*:
    action: conference
    record: stereo
";

const PASSWORD: &str = "correct horse battery staple";
/// 100 ms analysis blocks at 8 kHz.
const BLOCK: usize = 800;

/// A plain HTTP/1.1 request; returns status and body.
fn http(
    engine: &Engine,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&engine.http, Duration::from_secs(2)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        engine.http
    );
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(head.as_bytes()).expect("send");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap();
    (status, body)
}

/// Every string value of `key` in a JSON text (no escapes in the values looked at).
fn values(json: &str, key: &str) -> Vec<String> {
    let needle = format!("\"{key}\":\"");
    json.match_indices(&needle)
        .filter_map(|(at, _)| {
            let rest = &json[at + needle.len()..];
            rest.split_once('"').map(|(v, _)| v.to_owned())
        })
        .collect()
}

fn login(engine: &Engine) -> String {
    let data = engine.dir.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["admin", "create", "--tenant", "t", "--username", "admin"])
        .arg("--password-stdin")
        .arg("--data")
        .arg(&data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hotline admin create");
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "admin create: {out:?}");
    let (status, body) = http(
        engine,
        "POST",
        "/api/auth/login",
        None,
        Some(&format!(
            r#"{{"tenant":"t","username":"admin","password":"{PASSWORD}"}}"#
        )),
    );
    assert_eq!(status, 200, "login: {body}");
    values(&body, "access_token").pop().expect("access_token")
}

fn rms(samples: &[f64]) -> f64 {
    (samples.iter().map(|s| s * s).sum::<f64>() / samples.len().max(1) as f64).sqrt()
}

#[test]
fn live_calls_are_listed_and_a_room_recording_pauses_to_silence() {
    // The harness creates the data directory when it starts the engine, so the user is
    // created (in the same SQLite database) once the engine is up.
    let engine = Engine::start_with(CONFIG);
    let token = login(&engine);

    // Without a token: 401; an unknown call: 404.
    assert_eq!(http(&engine, "GET", "/api/calls", None, None).0, 401);
    let (status, body) = http(
        &engine,
        "POST",
        "/api/calls/no-such-call/recording",
        Some(&token),
        Some(r#"{"action":"pause"}"#),
    );
    assert_eq!(status, 404, "{body}");
    let (status, body) = http(&engine, "GET", "/api/calls", Some(&token), None);
    assert_eq!((status, body.as_str()), (200, "[]"));

    let target = engine.sip.to_string();
    let load = std::thread::spawn(move || {
        Command::new(env!("CARGO_BIN_EXE_hotline-load"))
            .args(["--target", &target, "--number", "room-x", "--pairs"])
            .args(["--calls", "2", "--duration", "4"])
            .output()
            .expect("run hotline-load")
    });

    // Both calls are up in room-x-0, recorded.
    let deadline = Instant::now() + Duration::from_secs(10);
    let ids = loop {
        let (status, body) = http(&engine, "GET", "/api/calls", Some(&token), None);
        assert_eq!(status, 200, "{body}");
        if values(&body, "recording") == ["on", "on"] {
            assert_eq!(values(&body, "room"), ["room-x-0", "room-x-0"], "{body}");
            assert_eq!(values(&body, "state"), ["answered", "answered"], "{body}");
            assert_eq!(values(&body, "number"), ["room-x-0", "room-x-0"], "{body}");
            break values(&body, "id");
        }
        assert!(
            Instant::now() < deadline,
            "two recorded calls expected: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(ids.len(), 2);
    // Let the tone reach the recording first.
    std::thread::sleep(Duration::from_millis(800));

    let path = format!("/api/calls/{}/recording", ids[0]);
    let (status, body) = http(
        &engine,
        "POST",
        &path,
        Some(&token),
        Some(r#"{"action":"pause"}"#),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(values(&body, "recording"), ["paused"], "{body}");
    let paused_at = Instant::now();
    // Both calls are in the paused room; pausing again is a conflict.
    let (_, body) = http(&engine, "GET", "/api/calls", Some(&token), None);
    assert_eq!(values(&body, "recording"), ["paused", "paused"], "{body}");
    let (status, body) = http(
        &engine,
        "POST",
        &path,
        Some(&token),
        Some(r#"{"action":"pause"}"#),
    );
    assert_eq!(status, 409, "{body}");

    std::thread::sleep(Duration::from_secs(1).saturating_sub(paused_at.elapsed()));
    let (status, body) = http(
        &engine,
        "POST",
        &path,
        Some(&token),
        Some(r#"{"action":"resume"}"#),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(values(&body, "recording"), ["on"], "{body}");
    let paused_for = paused_at.elapsed();
    let (_, body) = http(&engine, "GET", "/api/calls", Some(&token), None);
    assert_eq!(values(&body, "recording"), ["on", "on"], "{body}");

    let out = load.join().unwrap();
    assert!(out.status.success(), "hotline-load: {out:?}");
    engine.wait_log("recording finished", 10);
    let (_, body) = http(&engine, "GET", "/api/calls", Some(&token), None);
    assert_eq!(body, "[]");

    // The recording: the tone on both channels, but a silent span as long as the pause.
    let dir = engine.dir.path().join("data/recordings");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("recordings directory")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let mut reader = hound::WavReader::open(&files[0]).expect("open recording");
    assert_eq!(reader.spec().channels, 2);
    let interleaved: Vec<f64> = reader
        .samples::<i16>()
        .map(|s| f64::from(s.expect("sample")))
        .collect();
    let left: Vec<f64> = interleaved.iter().step_by(2).copied().collect();
    let right: Vec<f64> = interleaved.iter().skip(1).step_by(2).copied().collect();
    // Per block: silent (both channels all but zero), loud (both carry the tone) or neither.
    let blocks: Vec<(f64, f64)> = left
        .chunks_exact(BLOCK)
        .zip(right.chunks_exact(BLOCK))
        .map(|(l, r)| (rms(l), rms(r)))
        .collect();
    let silent = |b: &(f64, f64)| b.0 < 1.0 && b.1 < 1.0;
    let loud = |b: &(f64, f64)| b.0 > 1000.0 && b.1 > 1000.0;
    let first = blocks.iter().position(loud).expect("the tone is recorded");
    let last = blocks.iter().rposition(loud).unwrap();
    // Silent runs of at least 300 ms between the first and the last tone.
    let mut runs = Vec::new();
    let mut run = 0;
    for b in &blocks[first..=last] {
        if silent(b) {
            run += 1;
        } else {
            if run >= 3 {
                runs.push(run);
            }
            run = 0;
        }
    }
    eprintln!(
        "{} blocks, tone from {first} to {last}, silent runs {runs:?}, paused for {paused_for:?}",
        blocks.len()
    );
    assert_eq!(runs.len(), 1, "one silent span expected: {blocks:?}");
    let span = Duration::from_millis(runs[0] as u64 * 100);
    // Whole 100 ms blocks inside the pause (which the worker applies on 20 ms ticks).
    assert!(
        span + Duration::from_millis(300) >= paused_for
            && span <= paused_for + Duration::from_millis(100),
        "silent span {span:?} for a pause of {paused_for:?}"
    );
    let loud_blocks = blocks[first..=last].iter().filter(|b| loud(b)).count();
    assert!(
        loud_blocks + runs[0] + 6 >= blocks[first..=last].len(),
        "the tone is expected outside the pause: {blocks:?}"
    );
}
