//! Fuzz prompt decoding (`media/src/prompt.rs`, `prompt/decode.rs`) and recording repair
//! (`media/src/recorder/repair.rs`) on hostile files.
//!
//! - `Prompt::decode` with each hint (`wav`, `mp3`, `ogg`, `flac`, none) returns a prompt
//!   or a `PromptError`, never a panic: symphonia runs behind `catch_unwind`, so a panic
//!   inside it is `DecoderPanicked`, which is an acceptable error here (its message still
//!   prints, and the prompt module exists to contain it). A prompt is non-empty and within
//!   `MAX_DURATION` (plus its last frame's padding). (libfuzzer-sys aborts on any panic;
//!   a hook here lets panics raised in symphonia's source unwind to the crate's guard.) Memory stays bounded: run with
//!   `-malloc_limit_mb=256` (a lying header may make symphonia reserve a few MB; ten
//!   minutes of decoded audio is about 10 MB at 8 kHz).
//! - `recorder::repair` on the input written to a file returns a report or an error,
//!   never a panic; a report matches the file on disk (its length, RIFF size and data
//!   size) and a second repair changes nothing (`changed == false`, the same sizes).
//!
//! The file lives in `/dev/shm` when there is one (else the temp directory), one per
//! process, overwritten each run.
//!
//! Run: `cargo +nightly fuzz run prompt_decode -- -max_len=4096 -malloc_limit_mb=256`
//! (seed with small WAV, MP3, Ogg and FLAC files, and with WAVs the recorder wrote).

#![no_main]

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::{Once, OnceLock};

use hotline_media::prompt::{MAX_DURATION, PromptError};
use hotline_media::recorder::{self, RecorderError};
use hotline_media::{FRAME_DURATION, Prompt};
use libfuzzer_sys::fuzz_target;

const HINTS: [Option<&str>; 5] = [Some("wav"), Some("mp3"), Some("ogg"), Some("flac"), None];

fn scratch_file() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let shm = PathBuf::from("/dev/shm");
        let dir = if shm.is_dir() {
            shm
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("hotline-fuzz-repair-{}.wav", std::process::id()))
    })
}

/// libfuzzer-sys's panic hook aborts before unwinding, so the crate's `catch_unwind`
/// would never see a decoder panic. This hook lets a panic raised in symphonia's own
/// source unwind (its message is still printed); any other panic — ours, or hotline's
/// inside the guarded closure (mixing, resampling) — aborts as before.
fn let_decoder_panics_unwind() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_symphonia = info
                .location()
                .is_some_and(|l| l.file().contains("symphonia"));
            if in_symphonia {
                eprintln!("decoder panic (caught as DecoderPanicked): {info}");
            } else {
                abort(info);
            }
        }));
    });
}

fn le32(bytes: &[u8], at: u64) -> u32 {
    let at = at as usize;
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

fn check_repair(data: &[u8]) {
    let path = scratch_file();
    std::fs::write(path, data).expect("scratch file");
    let first = match recorder::repair(path) {
        Ok(report) => report,
        Err(RecorderError::BadFormat { .. }) => {
            assert_eq!(
                std::fs::read(path).unwrap(),
                data,
                "a bad file is left alone"
            );
            return;
        }
        Err(e) => panic!("repair: {e}"),
    };
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(bytes.len() as u64, first.file_len);
    assert_eq!(first.truncated_bytes, data.len() as u64 - first.file_len);
    // Only cut, and the two size fields rewritten: the RIFF size at 4 and the data size.
    let changed: Vec<usize> = (0..bytes.len())
        .filter(|&i| bytes[i] != data[i] && !(4..8).contains(&i))
        .collect();
    if let (Some(lo), Some(hi)) = (changed.first(), changed.last()) {
        assert!(hi - lo < 4 && *lo >= 12, "bytes {changed:?} rewritten");
    }
    if !first.changed {
        assert_eq!(bytes, data);
        assert_eq!(first.old_data_size, first.data_size);
    }
    assert_eq!(u64::from(le32(&bytes, 4)), first.file_len - 8, "RIFF size");
    assert!(first.channels > 0 && first.sample_rate > 0 && first.block_align > 0);
    let _ = first.duration();

    let second = recorder::repair(path).expect("a repaired file stays repairable");
    assert!(!second.changed, "{first:?} then {second:?}");
    assert_eq!(second.data_size, first.data_size);
    assert_eq!(second.old_data_size, first.data_size);
    assert_eq!(u64::from(second.old_riff_size), first.file_len - 8);
    assert_eq!(second.file_len, first.file_len);
    assert_eq!(second.truncated_bytes, 0);
    assert_eq!(
        std::fs::read(path).unwrap(),
        bytes,
        "a sound file is only read"
    );
}

fuzz_target!(|data: &[u8]| {
    let_decoder_panics_unwind();
    for hint in HINTS {
        match Prompt::decode(Cursor::new(data), hint) {
            Ok(prompt) => {
                assert!(!prompt.is_empty(), "{hint:?}");
                assert!(prompt.duration() <= MAX_DURATION + FRAME_DURATION);
                assert_eq!(prompt.frames().len(), prompt.len());
            }
            Err(PromptError::TooLarge) => panic!("{} bytes are not too large", data.len()),
            Err(_) => {}
        }
    }
    check_repair(data);
});
