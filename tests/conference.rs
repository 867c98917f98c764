//! End-to-end conference rooms with real softphones: baresip callers dial an `action:
//! conference` number, each playing its own tone, and the tests check who hears whom
//! (mix-minus) in what each phone decoded, and what the room's recording holds.
//!
//! Times: every baresip event is stamped when it arrived ([`Event`]). A phone's `*-dec.wav`
//! starts at the first RTP packet it received (its `CALL_RTPESTAB`) and runs at the sender's
//! 20 ms pace; the room's recording starts at the Unix time in its name. A window of wall-clock
//! time is mapped into either file from that origin, and [`MARGIN`] is kept clear at both ends
//! for set-up, jitter buffers and the hang-up.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::baresip::{
    Baresip, Event, RATE, TONE_AMPLITUDE, db, goertzel, goertzel_amplitude, unix_ms_now,
};
use common::{Engine, require};

const CONFIG: &str = "\
media:
  address: 127.0.0.1
  rtp_ports: 30000-32767
numbers:
  conference:
    action: conference
  room-*:
    action: conference
    record: stereo
";

/// Analysis block: 100 ms, so every frequency below falls on an exact DFT bin.
const BLOCK: usize = 800;
/// Kept clear at both ends of a window.
const MARGIN: f64 = 0.5;
/// Frequencies where no tone nor any mixing product of two tones falls (the tones are all
/// multiples of 200 Hz, and so is every intermodulation product of two of them): what is
/// heard there is the background (G.711 quantisation noise, glitches).
const BACKGROUND_HZ: [f64; 6] = [300.0, 700.0, 1300.0, 1700.0, 2700.0, 3300.0];
/// Time allowed for call set-up and tear-down events.
const EVENT_TIMEOUT: Duration = Duration::from_secs(15);

/// The three participants' tones.
const TONES: [f64; 3] = [400.0, 1000.0, 2200.0];
/// How long all three are connected before the first hangs up.
const CONFERENCE_SECS: f64 = 4.0;
/// Each tone heard has at least this share of the power at the frequencies examined.
const MIN_SHARE: f64 = 0.10;
/// Each tone heard is at least this far above the loudest background frequency.
const MIN_ABOVE_BACKGROUND_DB: f64 = 30.0;
/// A participant's own tone is at least this far below the quietest tone it hears.
const MIN_OWN_BELOW_DB: f64 = 30.0;
/// Each tone heard has at least this share of the amplitude it was sent with (-12 dB): the
/// room passes voices at unity gain.
const MIN_LEVEL: f64 = 0.25;

/// The two parties of the recorded room: the first to join (left) and the second (right).
const LEFT_HZ: f64 = 400.0;
const RIGHT_HZ: f64 = 1000.0;
/// How long the first is alone in the room before the second dials.
const ALONE_SECS: f64 = 1.0;
/// How long both are connected before they hang up.
const ROOM_SECS: f64 = 3.0;
/// In each channel, its party's tone is at least this far above the other party's.
const MIN_CHANNEL_SEPARATION_DB: f64 = 20.0;
/// In each channel, its party's tone carries at least this share of the channel's energy.
const MIN_CHANNEL_SHARE: f64 = 0.8;
/// The recording lasts as long as the room, within this.
const DURATION_TOLERANCE_SECS: f64 = 1.0;

#[test]
fn three_parties_each_hear_the_others_not_themselves() {
    require("baresip");
    let engine = Engine::start_with(CONFIG);
    let uri = format!("sip:conference@{}", engine.sip);

    let mut phones: Vec<Baresip> = TONES.iter().map(|&hz| Baresip::start("pcmu", hz)).collect();
    for phone in &mut phones {
        phone.dial(&uri);
    }
    let established: Vec<Event> = phones
        .iter_mut()
        .map(|phone| phone.wait_event("CALL_ESTABLISHED", EVENT_TIMEOUT))
        .collect();
    // Each phone hears the room: its first RTP packet arrived (the origin of its recording).
    let first_rtp: Vec<Event> = phones
        .iter_mut()
        .map(|phone| phone.wait_event("CALL_RTPESTAB", EVENT_TIMEOUT))
        .collect();
    let all_in = established.iter().map(|e| e.at).max().expect("three calls");

    sleep_until(all_in + Duration::from_secs_f64(CONFERENCE_SECS));
    let first_hangup = Instant::now();
    for phone in &mut phones {
        phone.command("hangup", "");
    }
    for (i, phone) in phones.iter_mut().enumerate() {
        let closed = phone.wait_event("CALL_CLOSED", EVENT_TIMEOUT);
        assert_still_up(
            &closed,
            first_hangup,
            &established[i],
            &format!("phone {i}"),
            &engine,
        );
        phone.quit();
    }

    let mut report = Vec::new();
    let mut bad = Vec::new();
    for (i, phone) in phones.iter().enumerate() {
        let own = TONES[i];
        let others: Vec<f64> = TONES.iter().copied().filter(|&hz| hz != own).collect();
        let heard = phone.recording("dec");
        let origin = first_rtp[i].at;
        let from = secs_between(origin, all_in) + MARGIN;
        let to = secs_between(origin, first_hangup) - MARGIN;
        let blocks = window_blocks(&heard.samples, from, to, || {
            format!(
                "phone {i} ({own} Hz) heard {:.2} s from its first RTP packet; the three were \
                 connected from {from:.2} s to {to:.2} s (margins included)\nbaresip:\n{}",
                heard.secs(),
                phone.log_text()
            )
        });

        // The mean level of every tone in what this phone heard, for the report.
        let levels: Vec<String> = TONES
            .iter()
            .map(|&hz| {
                let mean =
                    blocks.iter().map(|b| goertzel(b, hz)).sum::<f64>() / blocks.len() as f64;
                let level =
                    goertzel_amplitude(mean, BLOCK) / (TONE_AMPLITUDE * f64::from(i16::MAX));
                format!("{hz} Hz {:.1} dB", 20.0 * level.log10())
            })
            .collect();
        let mut min_share = f64::INFINITY;
        let mut min_above_background = f64::INFINITY;
        let mut min_own_below = f64::INFINITY;
        let mut min_level = f64::INFINITY;
        for (b, block) in blocks.iter().enumerate() {
            let at = from + (b * BLOCK) as f64 / f64::from(RATE);
            let own_power = goertzel(block, own);
            let other_powers: Vec<f64> = others.iter().map(|&hz| goertzel(block, hz)).collect();
            let background = BACKGROUND_HZ
                .iter()
                .map(|&hz| (hz, goertzel(block, hz)))
                .fold((0.0, 0.0), |a, b| if b.1 > a.1 { b } else { a });
            let examined: f64 = own_power
                + other_powers.iter().sum::<f64>()
                + BACKGROUND_HZ
                    .iter()
                    .map(|&hz| goertzel(block, hz))
                    .sum::<f64>();
            for (&hz, &power) in others.iter().zip(&other_powers) {
                let share = power / examined;
                let above = db(power, background.1);
                let level =
                    goertzel_amplitude(power, block.len()) / (TONE_AMPLITUDE * f64::from(i16::MAX));
                min_share = min_share.min(share);
                min_above_background = min_above_background.min(above);
                min_level = min_level.min(level);
                // Written so that a NaN (nothing heard at all) fails.
                let ok =
                    share >= MIN_SHARE && above >= MIN_ABOVE_BACKGROUND_DB && level >= MIN_LEVEL;
                if !ok {
                    bad.push(format!(
                        "phone {i} ({own} Hz), block at {at:.1} s: {hz} Hz has {:.1}% of the \
                         power examined, {above:.1} dB above the background ({} Hz), level \
                         {level:.2} of sent",
                        share * 100.0,
                        background.0
                    ));
                }
            }
            let quietest_other = other_powers.iter().copied().fold(f64::INFINITY, f64::min);
            let below = db(quietest_other, own_power);
            min_own_below = min_own_below.min(below);
            let ok = below >= MIN_OWN_BELOW_DB;
            if !ok {
                bad.push(format!(
                    "phone {i} ({own} Hz), block at {at:.1} s: its own tone is only {below:.1} \
                     dB below the quietest other tone"
                ));
            }
        }
        report.push(format!(
            "phone {i} ({own} Hz): {} blocks from {from:.2} s to {to:.2} s of {:.2} s heard; \
             others: min share {:.1}%, min {min_above_background:.1} dB above background, min \
             level {min_level:.2} of sent; own tone min {min_own_below:.1} dB below the others; \
             mean levels (re. sent): {}",
            blocks.len(),
            heard.secs(),
            min_share * 100.0,
            levels.join(", "),
        ));
    }
    eprintln!("{}", report.join("\n"));
    assert!(
        bad.is_empty(),
        "{} failed checks:\n{}\nsummary:\n{}\nengine:\n{}",
        bad.len(),
        bad.join("\n"),
        report.join("\n"),
        engine.log_text()
    );

    engine.wait_metric("hotline_calls_active", |v| v == 0.0);
    assert_eq!(
        engine.metric("hotline_calls_total"),
        3.0,
        "three calls to the conference"
    );
}

#[test]
fn two_party_room_is_recorded_in_stereo_with_each_party_on_its_channel() {
    require("baresip");
    let engine = Engine::start_with(CONFIG);
    let room = "room-rec1";
    let uri = format!("sip:{room}@{}", engine.sip);

    let mut first = Baresip::start("pcmu", LEFT_HZ);
    let mut second = Baresip::start("pcmu", RIGHT_HZ);
    first.dial(&uri);
    let first_in = first.wait_event("CALL_ESTABLISHED", EVENT_TIMEOUT);
    // The first is alone in the room for a while: the recording starts with it.
    sleep_until(first_in.at + Duration::from_secs_f64(ALONE_SECS));
    second.dial(&uri);
    let second_in = second.wait_event("CALL_ESTABLISHED", EVENT_TIMEOUT);
    // Both hear the room.
    first.wait_event("CALL_RTPESTAB", EVENT_TIMEOUT);
    second.wait_event("CALL_RTPESTAB", EVENT_TIMEOUT);

    sleep_until(second_in.at + Duration::from_secs_f64(ROOM_SECS));
    let (hangup_at, hangup_ms) = (Instant::now(), unix_ms_now());
    first.command("hangup", "");
    second.command("hangup", "");
    let first_out = first.wait_event("CALL_CLOSED", EVENT_TIMEOUT);
    let second_out = second.wait_event("CALL_CLOSED", EVENT_TIMEOUT);
    assert_still_up(&first_out, hangup_at, &first_in, "the first", &engine);
    assert_still_up(&second_out, hangup_at, &second_in, "the second", &engine);
    first.quit();
    second.quit();
    engine.wait_log("recording finished", 10);

    // One file, named after the room and the Unix time (ms) it starts at.
    let dir = engine.dir.path().join("data/recordings");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}\n{}", dir.display(), engine.log_text()))
        .map(|entry| entry.expect("recordings entry").path())
        .collect();
    assert_eq!(
        files.len(),
        1,
        "one recording expected in {}: {files:?}\n{}",
        dir.display(),
        engine.log_text()
    );
    let path = &files[0];
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let start_ms: u64 = name
        .strip_prefix(&format!("{room}-"))
        .and_then(|rest| rest.strip_suffix(".wav"))
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("recording {name:?} is not named {room}-<unix_ms>.wav"));

    let mut reader =
        hound::WavReader::open(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let spec = reader.spec();
    assert_eq!(
        (
            spec.channels,
            spec.sample_rate,
            spec.bits_per_sample,
            spec.sample_format
        ),
        (2, RATE, 16, hound::SampleFormat::Int),
        "{name}: a stereo 8 kHz 16-bit recording expected"
    );
    let interleaved: Vec<f64> = reader
        .samples::<i16>()
        .map(|s| f64::from(s.expect("sample")))
        .collect();
    let left: Vec<f64> = interleaved.iter().step_by(2).copied().collect();
    let right: Vec<f64> = interleaved.iter().skip(1).step_by(2).copied().collect();
    let secs = left.len() as f64 / f64::from(RATE);

    // The room lasts from the first join to the last hang-up.
    let last_out_ms = first_out.unix_ms.max(second_out.unix_ms);
    let room_secs = (last_out_ms as f64 - first_in.unix_ms as f64) / 1000.0;
    let offset_secs = (start_ms as f64 - first_in.unix_ms as f64) / 1000.0;
    eprintln!(
        "{name}: {secs:.2} s; the room lasted {room_secs:.2} s; the file's start is \
         {offset_secs:+.3} s from the first join"
    );
    assert!(
        (secs - room_secs).abs() <= DURATION_TOLERANCE_SECS,
        "{name} lasts {secs:.2} s, the room {room_secs:.2} s (first join to last hang-up)"
    );

    // While both were connected: the first on the left, the second on the right.
    let from = (second_in.unix_ms as f64 - start_ms as f64) / 1000.0 + MARGIN;
    let to = (hangup_ms as f64 - start_ms as f64) / 1000.0 - MARGIN;
    let describe = || {
        format!(
            "{name} lasts {secs:.2} s; both parties were connected from {from:.2} s to {to:.2} \
             s of it (margins included)\n{}",
            engine.log_text()
        )
    };
    let left_blocks = window_blocks(&left, from, to, describe);
    let right_blocks = window_blocks(&right, from, to, describe);

    let mut bad = Vec::new();
    let mut report = Vec::new();
    for (channel, blocks, own, other) in [
        ("left", &left_blocks, LEFT_HZ, RIGHT_HZ),
        ("right", &right_blocks, RIGHT_HZ, LEFT_HZ),
    ] {
        let mut min_separation = f64::INFINITY;
        let mut min_share = f64::INFINITY;
        for (b, block) in blocks.iter().enumerate() {
            let at = from + (b * BLOCK) as f64 / f64::from(RATE);
            let energy: f64 = block.iter().map(|x| x * x).sum();
            let own_power = goertzel(block, own);
            let share = own_power / (energy * block.len() as f64 / 2.0);
            let separation = db(own_power, goertzel(block, other));
            min_separation = min_separation.min(separation);
            min_share = min_share.min(share);
            let ok = share >= MIN_CHANNEL_SHARE && separation >= MIN_CHANNEL_SEPARATION_DB;
            if !ok {
                bad.push(format!(
                    "{channel}, block at {at:.1} s: {:.1}% of the energy at {own} Hz, \
                     {separation:.1} dB above {other} Hz",
                    share * 100.0
                ));
            }
        }
        report.push(format!(
            "{channel}: {} blocks; {own} Hz min {:.1}% of the energy, min {min_separation:.1} \
             dB above {other} Hz",
            blocks.len(),
            min_share * 100.0
        ));
    }
    eprintln!("{}", report.join("\n"));
    assert!(
        bad.is_empty(),
        "{name}: {} blocks are not each party on its channel:\n{}\nsummary:\n{}\nengine:\n{}",
        bad.len(),
        bad.join("\n"),
        report.join("\n"),
        engine.log_text()
    );
}

/// Fails when the call closed (`closed`, its `CALL_CLOSED`) before the test hung up.
fn assert_still_up(
    closed: &Event,
    hangup: Instant,
    established: &Event,
    who: &str,
    engine: &Engine,
) {
    assert!(
        closed.at >= hangup,
        "{who}'s call closed {:.2} s after it was established, {:.2} s before the test hung \
         up: {}\nengine:\n{}",
        secs_between(established.at, closed.at),
        secs_between(closed.at, hangup),
        closed.json,
        engine.log_text()
    );
}

/// Sleep until `deadline` (at once if it has passed).
fn sleep_until(deadline: Instant) {
    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
}

/// Seconds from `origin` to `at`, negative when `at` is earlier.
fn secs_between(origin: Instant, at: Instant) -> f64 {
    match at.checked_duration_since(origin) {
        Some(d) => d.as_secs_f64(),
        None => -origin.duration_since(at).as_secs_f64(),
    }
}

/// The whole [`BLOCK`]s of `samples` between `from` and `to` seconds; fails (with
/// `describe()`) unless the window lies in the samples and holds at least one second.
fn window_blocks(
    samples: &[f64],
    from: f64,
    to: f64,
    describe: impl Fn() -> String,
) -> Vec<&[f64]> {
    let rate = f64::from(RATE);
    let len = samples.len() as f64 / rate;
    assert!(
        from >= 0.0 && to <= len && to - from >= 1.0,
        "the window {from:.2}-{to:.2} s is not a second or more within {len:.2} s: {}",
        describe()
    );
    let start = (from * rate) as usize;
    let end = (to * rate) as usize;
    samples[start..end].chunks_exact(BLOCK).collect()
}
