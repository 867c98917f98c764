//! Fuzz RFC 4733 telephone-events: `TelephoneEvent::parse` never panics, and what parses
//! writes back (`to_bytes`) as its first four bytes with the R bit cleared, then re-parses
//! to an equal event. The rest of the input drives a `DtmfReceiver` (one 8-byte record
//! per packet: time step, RTP timestamp, payload) and a `DtmfSender` (digit, duration,
//! volume) made from the first bytes; neither may panic, and what they produce must be
//! well formed.
//!
//! Run: `cargo +nightly fuzz run dtmf -- -max_len=2048`

#![no_main]

use std::time::{Duration, Instant};

use hotline_media::dtmf::{
    DtmfError, DtmfReceiver, DtmfSender, TelephoneEvent, digit_to_event, event_to_digit,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match TelephoneEvent::parse(data) {
        Ok(e) => {
            assert!(e.volume <= 63);
            let bytes = e.to_bytes();
            assert_eq!(bytes, [data[0], data[1] & !0x40, data[2], data[3]]);
            assert_eq!(TelephoneEvent::parse(&bytes), Ok(e), "round trip");
            match e.digit() {
                Some(d) => assert_eq!(digit_to_event(d), Some(e.event)),
                None => assert!(e.event > 15),
            }
        }
        Err(err) => {
            assert!(data.len() < TelephoneEvent::LEN);
            assert_eq!(err, DtmfError::TooShort { len: data.len() });
        }
    }

    // A sender from the first bytes: digit, duration (ms), volume.
    if let [c, d0, d1, volume, ..] = *data {
        let digit = char::from(c);
        let duration_ms = u32::from(u16::from_be_bytes([d0, d1]));
        match DtmfSender::new(digit, duration_ms, volume) {
            Ok(sender) => {
                let packets: Vec<_> = sender.take(1000).collect();
                assert!(packets.len() < 1000, "a press ends");
                assert!(packets[0].marker);
                assert!(packets[1..].iter().all(|p| !p.marker));
                let ends = packets.iter().filter(|p| p.event.end).count();
                assert_eq!(ends, usize::from(DtmfSender::END_REPEATS));
                assert!(
                    packets
                        .windows(2)
                        .all(|w| w[0].event.duration <= w[1].event.duration)
                );
                for p in &packets {
                    assert_eq!(
                        event_to_digit(p.event.event),
                        Some(digit.to_ascii_uppercase())
                    );
                    assert!(p.event.volume <= 63);
                    assert_eq!(TelephoneEvent::parse(&p.event.to_bytes()), Ok(p.event));
                }
            }
            Err(e) => {
                assert_eq!(e, DtmfError::NotADigit(digit));
                assert_eq!(digit_to_event(digit), None);
            }
        }
    }

    // A receiver fed 8-byte records: [time step, timestamp low byte x3, event x4].
    let mut now = Instant::now();
    let mut rx = DtmfReceiver::new();
    for record in data.chunks_exact(8) {
        let step = record[0];
        if step & 0x80 != 0 {
            now += Duration::from_millis(u64::from(step & 0x7f) * 10);
            rx.handle_timeout(now);
        }
        let timestamp = u32::from_be_bytes([0, record[1], record[2], record[3]]);
        let event = TelephoneEvent::parse(&record[4..]).expect("4 bytes parse");
        rx.handle_event(now, timestamp, &event);
        if step & 0x01 != 0 {
            rx.reset();
        }
        while let Some(d) = rx.poll_digit() {
            assert!(digit_to_event(d.digit).is_some(), "{d:?}");
        }
        if let Some(t) = rx.poll_timeout() {
            assert!(t > now);
        }
    }
});
