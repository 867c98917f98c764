//! Fuzz the SIP message codec: `parse` never panics; whatever parses is written back and
//! re-parsed to an equal message; `validate`, the typed views and `frame` take anything.
//!
//! Run: `cargo +nightly fuzz run sip_message -- -max_len=4096`
//! (seed with `mkdir -p corpus/sip_message && cp ../sip/tests/torture/*.dat corpus/sip_message/`).
//! `sip/tests/torture.rs` runs the same checks over seeded mutations on stable.

#![no_main]

use hotline_sip::message::{Capabilities, Frame, HeaderName, Message, NameAddr, Via, frame, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Ok(m) => {
            let wire = m.to_bytes();
            let again = parse(&wire).expect("a written message parses");
            // write_to emits one Content-Length; several on the wire collapse to one.
            let mut expected = m.clone();
            if expected
                .headers()
                .get_all(&HeaderName::ContentLength)
                .count()
                > 1
            {
                let len = match &expected {
                    Message::Request(r) => r.body.len(),
                    Message::Response(r) => r.body.len(),
                };
                expected
                    .headers_mut()
                    .set(HeaderName::ContentLength, len.to_string());
            }
            assert_eq!(again, expected, "round trip changed the message");
            assert_eq!(again.to_bytes(), wire, "writing is not idempotent");
            if let Message::Request(r) = &m {
                let _ = r.validate(&Capabilities::default());
            }
            let h = m.headers();
            for v in h.vias() {
                assert_eq!(Via::parse(&v.to_string()).expect("Via display parses"), v);
            }
            for n in h.contacts().into_iter().chain(h.from()).chain(h.to()) {
                assert_eq!(
                    NameAddr::parse(&n.to_string()).expect("name-addr display"),
                    n
                );
            }
            let _ = (h.cseq(), h.max_forwards(), h.routes(), h.record_routes());
        }
        Err(e) => {
            if let Some(resp) = e.response() {
                let _ = resp.to_bytes();
            }
        }
    }
    match frame(data, 8192) {
        Frame::Complete(n) => {
            assert!(n <= data.len());
            let _ = parse(&data[..n]);
        }
        Frame::KeepAlive(n) => assert!(n > 0 && n <= data.len()),
        Frame::Incomplete | Frame::Invalid(_) => {}
    }
});
