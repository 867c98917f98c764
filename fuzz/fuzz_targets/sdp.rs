//! Fuzz SDP parsing and answering: `SessionDescription::parse` never panics; whatever
//! parses is written back (`to_string`) and re-parsed to an equal value, which is the
//! round trip `media/src/sdp.rs` promises (its `round_trips` and
//! `hostile_input_never_panics_and_round_trips` tests). Byte-for-byte output is promised
//! only for well-ordered input, so it is not checked here. Every parsed offer is then
//! answered (`sdp::answer`), which must not panic and must keep one `m=` line per offered
//! one; an answer we would send must itself parse back to the same value.
//!
//! Run: `cargo +nightly fuzz run sdp -- -max_len=2048`
//! (seed with SDP bodies, e.g. the body of `../sip/tests/torture/sdp01.dat`).

#![no_main]

use hotline_media::Codec;
use hotline_media::sdp::{self, LocalMedia, SessionDescription};
use libfuzzer_sys::fuzz_target;

fn locals() -> [LocalMedia; 2] {
    let v4 = LocalMedia::new([203, 0, 113, 5].into(), 20000, 7, 1);
    let v6 = LocalMedia {
        codecs: vec![Codec::Pcma],
        telephone_event: false,
        ..LocalMedia::new("2001:db8::5".parse().unwrap(), 30000, u64::MAX, u64::MAX)
    };
    [v4, v6]
}

fuzz_target!(|data: &[u8]| {
    let Ok(offer) = SessionDescription::parse(data) else {
        return;
    };
    let text = offer.to_string();
    let again = SessionDescription::parse(text.as_bytes()).expect("own output parses");
    assert_eq!(again, offer, "round trip changed the description");
    assert_eq!(again.to_string(), text, "writing is not idempotent");

    for local in locals() {
        let Ok(answer) = sdp::answer(&offer, &local) else {
            continue;
        };
        assert_eq!(
            answer.sdp.media.len(),
            offer.media.len(),
            "one answer m= line per offered one"
        );
        let accepted = answer.sdp.media.iter().filter(|m| m.port != 0).count();
        match &answer.audio {
            Some(audio) => {
                assert_eq!(accepted, 1, "exactly the accepted stream has a port");
                assert!(local.codecs.contains(&audio.codec));
                assert!(audio.dtmf_payload_type.is_none() || local.telephone_event);
            }
            None => assert_eq!(accepted, 0, "disabled audio: everything rejected"),
        }
        let body = answer.sdp.to_string();
        let reparsed = SessionDescription::parse(body.as_bytes()).expect("our answer parses");
        assert_eq!(reparsed, answer.sdp, "our answer does not round-trip");
    }
});
