//! Prompts from real files: WAV (8 to 48 kHz, mono and stereo, integer and float), FLAC
//! and Ogg Vorbis made by sox at test time, and MP3 from `tests/data/tone_1k.mp3` (sox
//! here cannot write MP3; `tests/data/make_mp3.py` made it with libmp3lame). Each loads as
//! 8 kHz mono of the right length whose energy sits at 1 kHz; a 6 kHz tone does not fold
//! back into the band. Broken, truncated, empty and random inputs give typed errors and
//! never panic. The cache shares frames and reloads changed files.
//!
//! sox is required (CI installs it): a test that needs it fails with a message if it is
//! missing, rather than skipping.

use std::f64::consts::PI;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use hotline_media::prompt::{Prompt, PromptCache, PromptError, decode_samples};
use rand::{Rng, SeedableRng, rngs::StdRng};

const MP3: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tone_1k.mp3");

/// A fresh folder for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("prompt-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs sox with `args`; fails the test with a clear message if sox is not installed.
fn sox(args: &[&str]) {
    let out = Command::new("sox").args(args).output().unwrap_or_else(|e| {
        panic!("these tests need sox (apt-get install sox libsox-fmt-all): cannot run it: {e}")
    });
    assert!(
        out.status.success(),
        "sox {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A file of `seconds` of a sine at `freq` Hz, half scale, made by sox. `encoding` is a
/// list of sox output options (`-b 16`, `-e floating-point`, ...).
fn sine_file(
    dir: &Path,
    name: &str,
    rate: u32,
    channels: u32,
    encoding: &[&str],
    freq: u32,
) -> PathBuf {
    let path = dir.join(name);
    let rate = rate.to_string();
    let channels = channels.to_string();
    let freq = freq.to_string();
    let mut args = vec!["-n", "-r", &rate, "-c", &channels];
    args.extend_from_slice(encoding);
    let path_str = path.to_str().unwrap();
    args.extend_from_slice(&[path_str, "synth", "1", "sine", &freq, "vol", "0.5"]);
    sox(&args);
    path
}

fn samples(p: &Prompt) -> Vec<f64> {
    p.frames().iter().flatten().map(|&s| f64::from(s)).collect()
}

/// Power at `freq` (Goertzel), as mean power of a sine of that amplitude.
fn goertzel_power(x: &[f64], freq: f64) -> f64 {
    let w = 2.0 * PI * freq / 8000.0;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    // |X|² = (N·A/2)², and a sine's mean power is A²/2.
    2.0 * power / (x.len() as f64).powi(2)
}

fn mean_power(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64
}

/// The middle 0.8 s (whole cycles of 1 kHz at 8 kHz), away from the edges.
fn middle(x: &[f64]) -> &[f64] {
    &x[800..800 + 6400]
}

/// Checks a prompt made from 1 s of half-scale 1 kHz: 8 kHz mono, 1 s ± one frame, its
/// energy at 1 kHz, at −6 dBFS within `level_tolerance_db`, other frequencies below
/// `max_other_db` relative to it.
fn check_tone(what: &str, p: &Prompt, level_tolerance_db: f64, max_other_db: f64) {
    let d = p.duration();
    assert!(
        d >= Duration::from_millis(980) && d <= Duration::from_millis(1020),
        "{what}: duration {d:?}"
    );
    let x = samples(p);
    let mid = middle(&x);
    let total = mean_power(mid);
    let at_1k = goertzel_power(mid, 1000.0);
    assert!(
        at_1k / total > 0.99,
        "{what}: only {:.4} of the energy at 1 kHz",
        at_1k / total
    );
    for other in [500.0, 2000.0, 3000.0] {
        let db = 10.0 * (goertzel_power(mid, other) / at_1k).log10();
        assert!(db < max_other_db, "{what}: {other} Hz at {db:.1} dB");
    }
    let half_scale = (16384.0f64).powi(2) / 2.0;
    let level_db = 10.0 * (total / half_scale).log10();
    assert!(
        level_db.abs() < level_tolerance_db,
        "{what}: level {level_db:.2} dB from half scale"
    );
}

#[test]
fn wav_at_every_rate_and_layout_becomes_8k_mono() {
    let dir = scratch("wav");
    let cases: &[(u32, u32, &[&str])] = &[
        (8000, 1, &["-b", "16"]),
        (8000, 2, &["-b", "16"]),
        (16000, 1, &["-b", "16"]),
        (16000, 2, &["-b", "24"]),
        (22050, 1, &["-b", "16"]),
        (44100, 1, &["-b", "16"]),
        (44100, 2, &["-b", "16"]),
        (48000, 1, &["-b", "16"]),
        (48000, 2, &["-e", "floating-point", "-b", "32"]),
        (48000, 1, &["-e", "floating-point", "-b", "64"]),
        (8000, 1, &["-e", "a-law"]),
        (8000, 1, &["-e", "u-law"]),
    ];
    for (i, &(rate, channels, encoding)) in cases.iter().enumerate() {
        let path = sine_file(&dir, &format!("{i}.wav"), rate, channels, encoding, 1000);
        let what = format!("WAV {rate} Hz, {channels} ch, {encoding:?}");
        // G.711 companding leaves harmonics of a tone sampled at 8 kHz.
        let (tolerance, others) = if encoding.contains(&"a-law") || encoding.contains(&"u-law") {
            (0.3, -30.0)
        } else {
            (0.1, -40.0)
        };
        let p = Prompt::open(&path).unwrap_or_else(|e| panic!("{what}: {e}"));
        check_tone(&what, &p, tolerance, others);
        // The same bytes through a reader, with and without the hint, give the same frames.
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            Prompt::from_wav(Cursor::new(&bytes)).unwrap() == p,
            "{what}"
        );
        assert!(Prompt::decode(&bytes[..], None).unwrap() == p, "{what}");
    }
}

#[test]
fn flac_and_ogg_vorbis_decode() {
    let dir = scratch("flac-ogg");
    for (name, rate, channels, encoding, tolerance) in [
        ("a.flac", 8000, 1, &["-b", "16"][..], 0.1),
        ("b.flac", 44100, 2, &["-b", "16"][..], 0.1),
        ("c.flac", 48000, 1, &["-b", "24"][..], 0.1),
        ("a.ogg", 44100, 1, &[][..], 0.5),
        ("b.ogg", 48000, 2, &[][..], 0.5),
        ("c.ogg", 16000, 1, &[][..], 0.5),
    ] {
        let path = sine_file(&dir, name, rate, channels, encoding, 1000);
        let what = format!("{name} {rate} Hz, {channels} ch");
        let p = Prompt::open(&path).unwrap_or_else(|e| panic!("{what}: {e}"));
        check_tone(&what, &p, tolerance, -40.0);
        let bytes = std::fs::read(&path).unwrap();
        let ext = path.extension().unwrap().to_str().unwrap();
        assert!(
            Prompt::decode(&bytes[..], Some(ext)).unwrap() == p,
            "{what}"
        );
        // The bytes decide, not the hint.
        assert!(
            Prompt::decode(&bytes[..], Some("wav")).unwrap() == p,
            "{what}"
        );
    }
}

#[test]
fn mp3_decodes_gaplessly() {
    let p = Prompt::open(MP3).unwrap();
    check_tone("MP3 22.05 kHz", &p, 0.5, -40.0);
    let bytes = std::fs::read(MP3).unwrap();
    assert!(Prompt::decode(&bytes[..], Some("mp3")).unwrap() == p);
    assert!(Prompt::decode(&bytes[..], None).unwrap() == p);
    // Gapless: LAME's Info header trims the encoder delay, so the length is exact.
    let pcm = decode_samples(&bytes[..], Some("mp3"), 8000).unwrap();
    assert_eq!(pcm.len(), 8000);
}

#[test]
fn mp3_behind_an_id3v2_tag_decodes() {
    // A minimal ID3v2.3 tag (one TIT2 frame) in front of the MP3, as tagging tools write.
    let mut frame = b"TIT2".to_vec();
    let text = b"\0Welcome";
    frame.extend_from_slice(&(text.len() as u32).to_be_bytes());
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(text);
    let size = frame.len() as u32;
    let syncsafe = [
        (size >> 21 & 0x7f) as u8,
        (size >> 14 & 0x7f) as u8,
        (size >> 7 & 0x7f) as u8,
        (size & 0x7f) as u8,
    ];
    let mut bytes = b"ID3\x03\x00\x00".to_vec();
    bytes.extend_from_slice(&syncsafe);
    bytes.extend_from_slice(&frame);
    bytes.extend_from_slice(&std::fs::read(MP3).unwrap());
    let p = Prompt::decode(&bytes[..], Some("mp3")).unwrap();
    check_tone("tagged MP3", &p, 0.5, -40.0);
}

/// A 6 kHz tone at 48 kHz would alias to 2 kHz at 8 kHz; the resampler's low-pass must
/// take it out (> 40 dB below a 1 kHz tone of the same level; the filter gives ~80).
#[test]
fn no_aliasing_from_above_the_band() {
    let dir = scratch("alias");
    for (rate, freq) in [(48000, 6000), (48000, 4500), (44100, 6000), (16000, 7000)] {
        let reference =
            Prompt::open(sine_file(&dir, "ref.wav", rate, 1, &["-b", "16"], 1000)).unwrap();
        let high = Prompt::open(sine_file(&dir, "high.wav", rate, 1, &["-b", "16"], freq)).unwrap();
        let reference = mean_power(middle(&samples(&reference)));
        let x = samples(&high);
        let leaked = mean_power(middle(&x));
        let db = 10.0 * (leaked / reference).log10();
        assert!(db < -40.0, "{freq} Hz at {rate} Hz: {db:.1} dB");
        let alias = f64::from(8000 - freq % 8000).min(f64::from(freq % 8000));
        let at_alias = 10.0 * (goertzel_power(middle(&x), alias) / reference).log10();
        assert!(
            at_alias < -40.0,
            "{freq} Hz at {rate} Hz: alias at {alias} Hz {at_alias:.1} dB"
        );
    }
}

fn is_typed_refusal(e: &PromptError) -> bool {
    matches!(
        e,
        PromptError::UnknownFormat
            | PromptError::UnsupportedCodec(_)
            | PromptError::NoAudioTrack
            | PromptError::Malformed(_)
            | PromptError::Truncated
            | PromptError::FormatChanged
            | PromptError::UnsupportedSampleRate { .. }
            | PromptError::UnsupportedChannels { .. }
            | PromptError::TooLong
            | PromptError::Empty
            | PromptError::DecoderPanicked
    )
}

/// The test files, each 1 s of 1 kHz, by extension.
fn good_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for (name, encoding) in [
        ("t.wav", &["-b", "16"][..]),
        ("t.flac", &["-b", "16"][..]),
        ("t.ogg", &[][..]),
    ] {
        let path = sine_file(dir, name, 16000, 1, encoding, 1000);
        let ext = name.rsplit('.').next().unwrap().to_string();
        files.push((ext, std::fs::read(path).unwrap()));
    }
    files.push(("mp3".to_string(), std::fs::read(MP3).unwrap()));
    files
}

#[test]
fn empty_and_non_audio_input_is_refused() {
    let dir = scratch("non-audio");
    let empty = dir.join("empty.wav");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(Prompt::open(&empty), Err(PromptError::Empty)));
    for hint in [None, Some("wav"), Some("mp3"), Some("ogg"), Some("flac")] {
        assert!(matches!(
            Prompt::decode(&b""[..], hint),
            Err(PromptError::Empty)
        ));
        for junk in [
            &b"hello, this is not audio at all\n"[..],
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
            b"RIFF\x04\0\0\0WAVE",
            b"fLaC",
            b"OggS",
            b"ID3\x04\0\0\0\0\0\0",
            &[0u8; 4096],
            &[0xffu8; 4096],
        ] {
            let e = Prompt::decode(junk, hint).unwrap_err();
            assert!(is_typed_refusal(&e), "{hint:?} {junk:?}: {e:?}");
            assert!(!matches!(e, PromptError::DecoderPanicked), "{e:?}");
        }
    }
    // A WAV of ADPCM, a codec we do not read (sox writes IMA ADPCM).
    let adpcm = sine_file(&dir, "adpcm.wav", 8000, 1, &["-e", "ima-adpcm"], 1000);
    let e = Prompt::open(adpcm).unwrap_err();
    assert!(matches!(e, PromptError::UnsupportedCodec(_)), "{e:?}");
    assert!(e.to_string().contains("sox"), "{e}");
}

#[test]
fn truncated_files_are_refused() {
    let dir = scratch("truncated");
    for (ext, bytes) in good_files(&dir) {
        for cut in [bytes.len() / 4, bytes.len() / 2, bytes.len() * 3 / 4] {
            let Err(e) = Prompt::decode(&bytes[..cut], Some(&ext)) else {
                panic!("{ext} cut at {cut} of {} decodes", bytes.len());
            };
            assert!(is_typed_refusal(&e), "{ext} cut at {cut}: {e:?}");
            assert!(!matches!(e, PromptError::DecoderPanicked), "{ext}: {e:?}");
        }
        // Every cut in the header region, where the probe and the track set-up run.
        for cut in 0..bytes.len().min(600) {
            let _ = Prompt::decode(&bytes[..cut], Some(&ext));
        }
    }
}

#[test]
fn a_header_claiming_more_than_ten_minutes_is_refused() {
    // 11 minutes of 8 kHz in the header; 1 s of samples behind it.
    let dir = scratch("too-long");
    let path = sine_file(&dir, "t.wav", 8000, 1, &["-b", "16"], 1000);
    let mut bytes = std::fs::read(path).unwrap();
    let claimed: u32 = 11 * 60 * 8000 * 2;
    let data = bytes.windows(4).position(|w| w == b"data").unwrap();
    bytes[data + 4..data + 8].copy_from_slice(&claimed.to_le_bytes());
    let riff = claimed + data as u32;
    bytes[4..8].copy_from_slice(&riff.to_le_bytes());
    let e = Prompt::decode(&bytes[..], Some("wav")).unwrap_err();
    assert!(matches!(e, PromptError::TooLong), "{e:?}");
}

/// Seeded random bytes, and valid files with random bytes overwritten, through
/// [`Prompt::decode`] with every hint: errors are fine, panics are not (a panic inside
/// symphonia would come back as `DecoderPanicked`, counted and reported).
#[test]
fn random_and_mutated_bytes_never_panic() {
    let dir = scratch("fuzz");
    let files = good_files(&dir);
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let hints = [None, Some("wav"), Some("mp3"), Some("ogg"), Some("flac")];
    let mut panicked = 0;
    let mut count = |r: Result<Prompt, PromptError>| {
        if matches!(r, Err(PromptError::DecoderPanicked)) {
            panicked += 1;
        }
    };
    for _ in 0..500 {
        let len = rng.random_range(0..2048);
        let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let hint = hints[rng.random_range(0..hints.len())];
        count(Prompt::decode(&bytes[..], hint));
    }
    for (ext, good) in &files {
        for _ in 0..100 {
            let mut bad = good.clone();
            // Mostly the first kilobyte (headers, first packets), sometimes anywhere.
            let span = if rng.random_bool(0.7) {
                good.len().min(1024)
            } else {
                good.len()
            };
            for _ in 0..rng.random_range(1..8) {
                let i = rng.random_range(0..span);
                bad[i] = rng.random();
            }
            count(Prompt::decode(&bad[..], Some(ext)));
        }
    }
    assert_eq!(
        panicked, 0,
        "symphonia panicked (caught) on {panicked} inputs"
    );
}

#[test]
fn cache_shares_frames_and_reloads_changed_files() {
    let dir = scratch("cache");
    let path = sine_file(&dir, "p.wav", 8000, 1, &["-b", "16"], 1000);
    let original = std::fs::read(&path).unwrap();
    let mut cache = PromptCache::new();
    let first = cache.get(&path).unwrap();
    let second = cache.get(&path).unwrap();
    assert!(
        first.shares_frames_with(&second),
        "second get decodes again"
    );
    assert_eq!(cache.len(), 1);

    // Rewritten in place with different content (and length).
    sine_file(&dir, "p.wav", 8000, 1, &["-b", "16"], 500);
    let third = cache.get(&path).unwrap();
    assert!(!third.shares_frames_with(&first));
    assert!(third != first);
    assert!(third.shares_frames_with(&cache.get(&path).unwrap()));

    // Same size, same bytes even, but a new modification time: reloaded.
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000))
        .unwrap();
    drop(file);
    let fourth = cache.get(&path).unwrap();
    assert!(!fourth.shares_frames_with(&third));
    assert!(fourth == third);

    // Replaced by renaming another file over it.
    let other = sine_file(&dir, "other.wav", 16000, 1, &["-b", "16"], 1000);
    std::fs::rename(&other, &path).unwrap();
    let fifth = cache.get(&path).unwrap();
    assert!(!fifth.shares_frames_with(&fourth));

    // A broken replacement is an error, not the stale prompt; fixing it is picked up.
    std::fs::write(&path, b"not audio").unwrap();
    assert!(matches!(cache.get(&path), Err(PromptError::UnknownFormat)));
    assert!(cache.is_empty());
    std::fs::write(&path, &original).unwrap();
    assert!(cache.get(&path).unwrap() == first);

    // Gone: an I/O error, and forgotten.
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(cache.get(&path), Err(PromptError::Io(_))));
    assert!(cache.is_empty());

    // Several files; invalidate and clear.
    let a = sine_file(&dir, "a.flac", 44100, 1, &["-b", "16"], 1000);
    let b = sine_file(&dir, "b.ogg", 48000, 2, &[], 1000);
    let pa = cache.get(&a).unwrap();
    cache.get(&b).unwrap();
    assert_eq!(cache.len(), 2);
    assert!(cache.invalidate(&a));
    assert!(!cache.invalidate(&a));
    assert!(!cache.get(&a).unwrap().shares_frames_with(&pa));
    cache.clear();
    assert!(cache.is_empty());
}

#[test]
fn a_playlist_plays_prompts_and_pauses_back_to_back() {
    let greeting = Prompt::open(MP3).unwrap();
    let pause = Prompt::silence(Duration::from_millis(500)).unwrap();
    let list = Prompt::concat(&[greeting.clone(), pause, greeting.clone()]);
    assert_eq!(list.len(), 2 * greeting.len() + 25);
    assert!(list.frames()[..greeting.len()] == greeting.frames()[..]);
    assert!(list.frames()[greeting.len() + 25..] == greeting.frames()[..]);
    assert!(
        list.frames()[greeting.len()..greeting.len() + 25]
            .iter()
            .flatten()
            .all(|&s| s == 0)
    );
}
