//! Fuzz prompt loading: `Prompt::from_wav` takes hostile bytes and returns a prompt or a
//! `PromptError`, never a panic. A loaded prompt is non-empty and within `MAX_DURATION`
//! (plus the padding of its last frame).
//!
//! Allocation: a header may announce up to `MAX_DURATION` of samples that the file does
//! not hold; `from_wav` reserves for them up front (about 9.6 MB, by design). Run with a
//! malloc limit well above that and far below the default to catch anything larger:
//! `cargo +nightly fuzz run prompt_wav -- -max_len=2048 -malloc_limit_mb=64`
//! (seed with small WAV files, e.g. `../config/prompts/welcome.wav`).

#![no_main]

use std::io::Cursor;

use hotline_media::prompt::MAX_DURATION;
use hotline_media::{FRAME_DURATION, Prompt};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(prompt) = Prompt::from_wav(Cursor::new(data)) {
        assert!(!prompt.is_empty());
        assert!(prompt.duration() <= MAX_DURATION + FRAME_DURATION);
        assert_eq!(prompt.frames().len(), prompt.len());
    }
});
