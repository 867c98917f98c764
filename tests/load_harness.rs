//! The load harness's figures are checked against the engine's own counters, so the
//! numbers quoted from `hotline-load` can be trusted.

mod common;

use std::process::Command;

use common::Engine;

/// One value of the harness's JSON line.
fn field(json: &str, key: &str) -> f64 {
    let start = json
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("no {key} in {json}"))
        + key.len()
        + 3;
    json[start..]
        .split([',', '}'])
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("bad {key} in {json}"))
}

fn run_load(engine: &Engine, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_hotline-load"))
        .args(["--target", &engine.sip.to_string()])
        .args(args)
        .output()
        .expect("run hotline-load");
    assert!(
        out.status.success(),
        "hotline-load failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        engine.log_text()
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    stdout
        .lines()
        .last()
        .expect("the JSON line")
        .trim()
        .to_owned()
}

#[test]
fn echo_figures_match_the_engines_counters() {
    let engine = Engine::start();
    let json = run_load(
        &engine,
        &[
            "--number",
            "echo",
            "--calls",
            "10",
            "--duration",
            "2",
            "--rate",
            "20",
        ],
    );
    assert_eq!(field(&json, "calls_attempted"), 10.0, "{json}");
    assert_eq!(field(&json, "calls_established"), 10.0, "{json}");
    assert_eq!(field(&json, "calls_failed"), 0.0, "{json}");
    let sent = field(&json, "packets_sent");
    let received = field(&json, "packets_received");
    // 10 calls × 2 s × 50 packets/s, give or take the first and last tick.
    assert!((950.0..=1010.0).contains(&sent), "{json}");
    assert_eq!(received, sent, "an echo returns every packet: {json}");
    assert_eq!(field(&json, "loss_pct"), 0.0, "{json}");
    assert!(field(&json, "setup_p99_ms") > 0.0, "{json}");
    // The engine saw the same calls and the same packets.
    engine.wait_metric("hotline_calls_active", |v| v == 0.0);
    assert_eq!(engine.metric("hotline_calls_total"), 10.0);
    // Worker counters are published every 20 ms tick.
    engine.wait_metric("hotline_rtp_packets_received_total", |v| v == sent);
    engine.wait_metric("hotline_rtp_packets_sent_total", |v| v == received);
}

#[test]
fn pairs_meet_in_two_party_rooms() {
    let engine = Engine::start_with(&format!(
        "{}  pair-*:\n    action: conference\n",
        common::TEST_CONFIG
    ));
    let json = run_load(
        &engine,
        &[
            "--number",
            "pair",
            "--pairs",
            "--calls",
            "4",
            "--duration",
            "2",
            "--rate",
            "20",
        ],
    );
    assert_eq!(field(&json, "calls_established"), 4.0, "{json}");
    // Each leg hears the other party's stream (the mixer sends one frame per tick).
    assert!(
        field(&json, "packets_received") >= 0.9 * field(&json, "packets_sent"),
        "{json}"
    );
    engine.wait_metric("hotline_calls_active", |v| v == 0.0);
    let log = engine.log_text();
    assert!(
        log.contains("pair-0"),
        "calls 0 and 1 dialled pair-0:\n{log}"
    );
    assert!(
        log.contains("pair-1"),
        "calls 2 and 3 dialled pair-1:\n{log}"
    );
}
