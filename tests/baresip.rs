//! End-to-end calls from a real softphone: baresip dials the engine's `echo` number, plays a
//! tone, records what comes back and sends RFC 4733 DTMF digits.
//!
//! The baresip driver (headless, `aufile` tone source, `sndfile` recordings, `ctrl_tcp`
//! control) is [`common::baresip`].

mod common;

use std::time::{Duration, Instant};

use common::baresip::{
    Baresip, RATE, Recording, TONE_AMPLITUDE, codec_log_name, goertzel_at, json_str,
};
use common::{Engine, require};

/// The tone the caller plays.
const TONE_HZ: f64 = 1000.0;
/// Frequencies that must stay far below the tone in what comes back.
const OTHER_HZ: [f64; 7] = [300.0, 500.0, 700.0, 1300.0, 1500.0, 2000.0, 3000.0];
/// Analysis block: 100 ms (800 samples at 8 kHz), so every frequency above falls on an
/// exact DFT bin.
const BLOCK_SECS: f64 = 0.1;
/// What the echo returns first is skipped (call set-up, jitter buffer filling).
const SKIP_SECS: f64 = 0.5;

/// The DTMF digits the caller sends, one `sndcode` command each.
const DIGITS: [&str; 3] = ["1", "5", "#"];

#[test]
fn baresip_echo_returns_audio_and_dtmf_is_logged() {
    require("baresip");
    let engine = Engine::start();
    let call = echo_call(&engine, "pcmu", &DIGITS);
    assert_eq!((call.sent.rate, call.heard.rate), (RATE, RATE));

    call.assert_tone_returned();

    // The engine counted every digit, once.
    let counted = engine.wait_metric("hotline_dtmf_digits_total", |v| v >= DIGITS.len() as f64);
    assert_eq!(
        counted,
        DIGITS.len() as f64,
        "hotline_dtmf_digits_total counts each digit sent once"
    );

    // The engine logged the digits in order, on the call's span.
    let deadline = Instant::now() + Duration::from_secs(10);
    let logged = loop {
        let text = engine.log_text();
        let logged = dtmf_log_lines(&text);
        if logged.len() >= DIGITS.len() || Instant::now() > deadline {
            break logged;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let digits: Vec<&str> = logged.iter().map(|(digit, _)| digit.as_str()).collect();
    let log = engine.log_text();
    assert_eq!(
        digits,
        DIGITS,
        "the engine's log (its stderr) shows the DTMF digits in the order sent; {}",
        if log.is_empty() {
            "the engine wrote nothing to stderr".to_owned()
        } else {
            format!("log:\n{log}")
        }
    );
    for (_, line) in &logged {
        assert!(
            line.contains(&format!("call_id={}", call.call_id)),
            "a dtmf event carries the call's Call-ID {}: {line}",
            call.call_id
        );
    }
}

#[test]
fn baresip_echo_over_pcma_returns_audio() {
    require("baresip");
    let engine = Engine::start();
    let call = echo_call(&engine, "pcma", &[]);
    assert_eq!((call.sent.rate, call.heard.rate), (RATE, RATE));
    call.assert_tone_returned();
    assert_eq!(engine.metric("hotline_dtmf_digits_total"), 0.0);
}

/// G.722: the engine decodes at 16 kHz, hears it at 8 kHz, and echoes it at 16 kHz.
#[test]
fn baresip_echo_over_g722_returns_audio() {
    require("baresip");
    let engine = Engine::start();
    let call = echo_call(&engine, "g722", &[]);
    assert_eq!(call.heard.rate, 16000, "baresip records G.722 at 16 kHz");
    call.assert_tone_returned();
    engine.wait_log("codec=G722", 5);
}

/// Opus: RTP at 48 kHz (960 a frame), decoded and re-encoded at 8 kHz by the engine.
#[test]
fn baresip_echo_over_opus_returns_audio() {
    require("baresip");
    let engine = Engine::start();
    let call = echo_call(&engine, "opus", &[]);
    assert_eq!(call.heard.rate, 48000, "baresip records Opus at 48 kHz");
    call.assert_tone_returned();
    engine.wait_log("codec=opus", 5);
}

/// What one finished call left behind.
struct FinishedCall {
    /// baresip's id of the call: the SIP Call-ID.
    call_id: String,
    /// What baresip encoded and sent (its transmit path, after the tone file).
    sent: Recording,
    /// What baresip received and decoded: the echo.
    heard: Recording,
    /// baresip's console output.
    phone_log: String,
}

/// One call to `echo` with only `codec` offered: about 4 s of tone, then `digits` 0.5 s
/// apart, then the caller hangs up and baresip quits.
fn echo_call(engine: &Engine, codec: &str, digits: &[&str]) -> FinishedCall {
    let mut phone = Baresip::start(codec, TONE_HZ);
    phone.dial(&format!("sip:echo@{}", engine.sip));

    let established = phone.wait_event("CALL_ESTABLISHED", Duration::from_secs(15));
    let call_id = json_str(&established.json, "id").unwrap_or_else(|| {
        panic!("CALL_ESTABLISHED without a call id: {}", established.json);
    });
    // The first RTP packet came back: the echo runs.
    phone.wait_event("CALL_RTPESTAB", Duration::from_secs(10));

    std::thread::sleep(Duration::from_secs(4));
    for digit in digits {
        let response = phone.command("sndcode", digit);
        assert!(
            response.contains(r#""ok":true"#),
            "sndcode {digit}: {response}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_millis(500));

    phone.command("hangup", "");
    phone.wait_event("CALL_CLOSED", Duration::from_secs(10));
    phone.quit();

    let phone_log = phone.log_text();
    for path in ["encoder", "decoder"] {
        let used = format!("Set audio {path}: {}", codec_log_name(codec));
        assert!(
            phone_log.contains(&used),
            "the call was offered {codec} only and must use it; baresip:\n{phone_log}"
        );
    }
    let sent = phone.recording("enc");
    let heard = phone.recording("dec");
    FinishedCall {
        call_id,
        sent,
        heard,
        phone_log,
    }
}

impl FinishedCall {
    /// The caller heard its own tone back: as long as it sent it (within the jitter
    /// buffer's losses), at the level it sent it, and at its frequency in every 100 ms.
    fn assert_tone_returned(&self) {
        let sent_secs = self.sent.secs();
        let heard_secs = self.heard.secs();
        assert!(
            sent_secs >= 3.0,
            "baresip sent only {sent_secs:.2} s of tone; baresip:\n{}",
            self.phone_log
        );
        assert!(
            heard_secs >= 0.8 * sent_secs,
            "the echo returned {heard_secs:.2} s of audio for {sent_secs:.2} s sent; baresip:\n{}",
            self.phone_log
        );

        let tone_rms = TONE_AMPLITUDE * f64::from(i16::MAX) / 2f64.sqrt();
        let rate = self.heard.rate;
        let block_len = (BLOCK_SECS * f64::from(rate)) as usize;
        let skip = (SKIP_SECS * f64::from(rate)) as usize;
        let blocks: Vec<&[f64]> = self.heard.samples[skip.min(self.heard.samples.len())..]
            .chunks_exact(block_len)
            .collect();
        assert!(!blocks.is_empty(), "nothing was heard after {SKIP_SECS} s");

        let mut bad = Vec::new();
        // The worst block's figures, for the report.
        let (mut min_level, mut max_level, mut min_share, mut min_ratio) =
            (f64::MAX, 0.0f64, f64::MAX, f64::MAX);
        for (i, block) in blocks.iter().enumerate() {
            let energy: f64 = block.iter().map(|x| x * x).sum();
            let rms = (energy / block.len() as f64).sqrt();
            // Goertzel power of a pure tone on its bin is (A·N/2)², its energy A²·N/2: the
            // share of the block's energy at the tone is 1 for a clean echo.
            let tone = goertzel_at(block, TONE_HZ, rate);
            let share = tone / (energy * block.len() as f64 / 2.0).max(f64::MIN_POSITIVE);
            let loudest_other = OTHER_HZ
                .iter()
                .map(|&hz| (hz, goertzel_at(block, hz, rate)))
                .fold((0.0, 0.0), |a, b| if b.1 > a.1 { b } else { a });
            min_level = min_level.min(rms / tone_rms);
            max_level = max_level.max(rms / tone_rms);
            min_share = min_share.min(share);
            min_ratio = min_ratio.min(tone / loudest_other.1.max(f64::MIN_POSITIVE));
            let ok = rms > 0.5 * tone_rms
                && rms < 1.5 * tone_rms
                && share > 0.9
                && tone > 1000.0 * loudest_other.1;
            if !ok {
                bad.push(format!(
                    "block at {:.1} s: rms {rms:.0} (tone {tone_rms:.0}), {:.0}% of energy at \
                     {TONE_HZ} Hz, tone/{} Hz power ratio {:.1}",
                    SKIP_SECS + i as f64 * BLOCK_SECS,
                    share * 100.0,
                    loudest_other.0,
                    tone / loudest_other.1.max(f64::MIN_POSITIVE)
                ));
            }
        }
        let sent_rms = (self.sent.samples.iter().map(|x| x * x).sum::<f64>()
            / self.sent.samples.len().max(1) as f64)
            .sqrt();
        eprintln!(
            "echo at {rate} Hz: baresip sent {:.3} of the tone's level; {} blocks back at \
             {min_level:.3}..{max_level:.3}, \
             tone share >= {:.2}%, tone over the loudest other bin >= {:.1} dB",
            sent_rms / tone_rms,
            blocks.len(),
            min_share * 100.0,
            10.0 * min_ratio.log10()
        );
        // The engine's decode and re-encode keep the level baresip sent (within 1 dB).
        let heard_rms = (blocks
            .iter()
            .flat_map(|b| b.iter())
            .map(|x| x * x)
            .sum::<f64>()
            / (blocks.len() * block_len) as f64)
            .sqrt();
        assert!(
            (0.89..1.12).contains(&(heard_rms / sent_rms)),
            "the echo came back at {heard_rms:.0} RMS for {sent_rms:.0} sent; baresip:\n{}",
            self.phone_log
        );
        assert!(
            bad.is_empty(),
            "{} of {} blocks of the echo are not the {TONE_HZ} Hz tone:\n{}\nbaresip:\n{}",
            bad.len(),
            blocks.len(),
            bad.join("\n"),
            self.phone_log
        );
    }
}

/// The `dtmf` events in the engine's log, in order: the digit and the whole line.
fn dtmf_log_lines(log: &str) -> Vec<(String, String)> {
    log.lines()
        .filter(|line| line.split_whitespace().any(|word| word == "dtmf"))
        .filter_map(|line| {
            let digit = line
                .split_whitespace()
                .find_map(|word| word.strip_prefix("digit="))?;
            Some((digit.to_owned(), line.to_owned()))
        })
        .collect()
}
