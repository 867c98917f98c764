//! Drives `Recorder` through whole recordings, crashes, full disks and start-up repair, and
//! reads every result back with hound.

use std::cell::Cell;
use std::f64::consts::PI;
use std::fs;
use std::io::{self, Cursor, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use hotline_media::FRAME_SAMPLES;
use hotline_media::recorder::{
    Channels, HEADER_LEN, Recorder, RecorderConfig, RecorderError, repair, repair_dir,
};

mod common;
use common::allocations;

// ---- helpers ---------------------------------------------------------------------------

const RATE: u32 = 8000;
const START_MS: u64 = 1_700_000_000_000;

/// Sample `n` of a sine at `freq` Hz, amplitude 8000.
fn tone_sample(freq: f64, rate: u32, n: u64) -> i16 {
    (8000.0 * (2.0 * PI * freq * n as f64 / f64::from(rate)).sin()).round() as i16
}

/// Frame `index` (20 ms at `rate`) of a continuous tone.
fn tone_frame(freq: f64, rate: u32, index: u64) -> Vec<i16> {
    let len = (rate / 50) as u64;
    (0..len)
        .map(|i| tone_sample(freq, rate, index * len + i))
        .collect()
}

/// Signal power at `freq` (Goertzel).
fn goertzel(samples: &[i16], freq: f64, rate: u32) -> f64 {
    let k = 2.0 * (2.0 * PI * freq / f64::from(rate)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s = f64::from(x) + k * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    s1 * s1 + s2 * s2 - k * s1 * s2
}

fn assert_tone(samples: &[i16], freq: f64, other: f64, rate: u32) {
    let on = goertzel(samples, freq, rate);
    let off = goertzel(samples, other, rate);
    assert!(on > 1000.0 * off, "{freq} Hz: {on}, {other} Hz: {off}");
}

fn read_samples(bytes: &[u8]) -> (hound::WavSpec, Vec<i16>) {
    let reader = hound::WavReader::new(Cursor::new(bytes)).expect("hound opens it");
    let spec = reader.spec();
    let samples = reader
        .into_samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .expect("hound reads every sample");
    (spec, samples)
}

fn deinterleave(samples: &[i16]) -> (Vec<i16>, Vec<i16>) {
    (
        samples.iter().step_by(2).copied().collect(),
        samples.iter().skip(1).step_by(2).copied().collect(),
    )
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// The top-level chunks after "WAVE": (id, body).
fn chunks(bytes: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    let mut pos = 12;
    while pos + 8 <= bytes.len() {
        let id: [u8; 4] = bytes[pos..pos + 4].try_into().unwrap();
        let size = le32(bytes, pos + 4) as usize;
        let body = &bytes[pos + 8..(pos + 8 + size).min(bytes.len())];
        out.push((id, body));
        pos += 8 + size + (size & 1);
    }
    out
}

/// A fresh directory under the target's scratch space.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("recorder-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// A finished recording of `seconds` of 400 Hz mono, pauses as (start, end) frame indices.
fn recording(seconds: u64, pauses: &[(u64, u64)]) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    let mut rec = Recorder::new(&mut out, RecorderConfig::new(Channels::Mono, START_MS)).unwrap();
    for i in 0..seconds * 50 {
        if pauses.iter().any(|&(start, _)| start == i) {
            rec.pause();
        }
        if pauses.iter().any(|&(_, end)| end == i) {
            rec.resume();
        }
        rec.write_frame_mono(&tone_frame(400.0, RATE, i)).unwrap();
    }
    rec.finish().unwrap();
    out.into_inner()
}

// ---- format ----------------------------------------------------------------------------

#[test]
fn mono_tone_reads_back_with_a_canonical_header() {
    let bytes = recording(2, &[]);
    let (spec, samples) = read_samples(&bytes);
    assert_eq!(spec.channels, 1);
    assert_eq!(spec.sample_rate, 8000);
    assert_eq!(spec.bits_per_sample, 16);
    assert_eq!(spec.sample_format, hound::SampleFormat::Int);
    assert_eq!(samples.len(), 2 * 8000);
    let expected: Vec<i16> = (0..16000).map(|n| tone_sample(400.0, RATE, n)).collect();
    assert_eq!(samples, expected);
    assert_tone(&samples, 400.0, 1000.0, RATE);

    // The canonical 44-byte layout, sizes exact.
    assert_eq!(bytes.len() as u64, HEADER_LEN + 32000);
    assert_eq!(&bytes[0..4], b"RIFF");
    assert_eq!(le32(&bytes, 4) as usize, bytes.len() - 8);
    assert_eq!(&bytes[8..16], b"WAVEfmt ");
    assert_eq!(le32(&bytes, 16), 16);
    assert_eq!(le32(&bytes, 28), 16000, "byte rate");
    assert_eq!(u16::from_le_bytes([bytes[32], bytes[33]]), 2, "block align");
    assert_eq!(&bytes[36..40], b"data");
    assert_eq!(le32(&bytes, 40), 32000);
}

#[test]
fn stereo_keeps_caller_left_and_agent_right() {
    let mut out = Cursor::new(Vec::new());
    let config = RecorderConfig::new(Channels::Stereo, START_MS);
    let mut rec = Recorder::new(&mut out, config).unwrap();
    for i in 0..100 {
        let left = tone_frame(400.0, RATE, i);
        let right = tone_frame(1000.0, RATE, i);
        rec.write_frame_stereo(&left, &right).unwrap();
    }
    let info = rec.finish().unwrap();
    assert_eq!(info.channels, Channels::Stereo);
    assert_eq!(info.sample_rate, 8000);
    assert_eq!(info.frames, 16000);
    assert_eq!(info.duration, Duration::from_secs(2));
    assert_eq!(info.started_unix_ms, START_MS);
    assert_eq!(info.path, None);
    assert!(info.pauses.is_empty());
    assert_eq!(info.bytes, HEADER_LEN + 64000);

    let bytes = out.into_inner();
    assert_eq!(bytes.len() as u64, info.bytes);
    let (spec, samples) = read_samples(&bytes);
    assert_eq!(spec.channels, 2);
    assert_eq!(samples.len(), 2 * 16000);
    let (left, right) = deinterleave(&samples);
    assert_tone(&left, 400.0, 1000.0, RATE);
    assert_tone(&right, 1000.0, 400.0, RATE);
    assert_eq!(le32(&bytes, 28), 32000, "byte rate");
}

#[test]
fn wideband_rate_is_a_parameter() {
    let mut out = Cursor::new(Vec::new());
    let config = RecorderConfig::new(Channels::Mono, START_MS).with_sample_rate(16000);
    let mut rec = Recorder::new(&mut out, config).unwrap();
    for i in 0..50 {
        rec.write_frame_mono(&tone_frame(1000.0, 16000, i)).unwrap();
    }
    let info = rec.finish().unwrap();
    assert_eq!(info.duration, Duration::from_secs(1));
    let (spec, samples) = read_samples(out.get_ref());
    assert_eq!(spec.sample_rate, 16000);
    assert_eq!(samples.len(), 16000);
    assert_tone(&samples, 1000.0, 400.0, 16000);
}

#[test]
fn misuse_is_an_error_and_writes_nothing() {
    let mut out = Cursor::new(Vec::new());
    let mut rec = Recorder::new(&mut out, RecorderConfig::new(Channels::Stereo, 0)).unwrap();
    let frame = [1i16; FRAME_SAMPLES];
    assert!(matches!(
        rec.write_frame_mono(&frame),
        Err(RecorderError::WrongChannels {
            expected: Channels::Stereo,
            got: Channels::Mono
        })
    ));
    assert!(matches!(
        rec.write_frame_stereo(&frame, &frame[..100]),
        Err(RecorderError::FrameLengthMismatch {
            left: 160,
            right: 100
        })
    ));
    // Past the 4 GiB a WAV can describe: refused up front, nothing buffered.
    assert!(matches!(
        rec.write_silence(usize::MAX / 8),
        Err(RecorderError::TooLong)
    ));
    assert_eq!(rec.position(), 0);
    assert_eq!(rec.finish().unwrap().frames, 0);

    for rate in [0, 192_001] {
        let config = RecorderConfig::new(Channels::Mono, 0).with_sample_rate(rate);
        assert!(matches!(
            Recorder::new(Cursor::new(Vec::new()), config),
            Err(RecorderError::UnsupportedSampleRate { .. })
        ));
    }
}

#[test]
fn create_never_overwrites_a_recording() {
    let dir = scratch("no-overwrite");
    let path = dir.join("call.wav");
    fs::write(&path, b"an earlier recording").unwrap();
    let err = Recorder::create(&path, RecorderConfig::new(Channels::Mono, 0)).unwrap_err();
    assert!(
        matches!(&err, RecorderError::Io(e) if e.kind() == io::ErrorKind::AlreadyExists),
        "{err}"
    );
    assert_eq!(fs::read(&path).unwrap(), b"an earlier recording");
}

// ---- pause -----------------------------------------------------------------------------

#[test]
fn pause_writes_silence_and_leaves_markers() {
    // Paused from 1 s to 2.5 s of a 4 s call.
    let mut out = Cursor::new(Vec::new());
    let config = RecorderConfig::new(Channels::Stereo, START_MS);
    let mut rec = Recorder::new(&mut out, config).unwrap();
    for i in 0..200 {
        if i == 50 {
            assert_eq!(rec.pause(), 8000);
            assert_eq!(rec.pause(), 8000, "pausing twice is one pause");
            assert!(rec.is_paused());
        }
        if i == 125 {
            assert_eq!(rec.resume(), 20000);
        }
        let left = tone_frame(400.0, RATE, i);
        let right = tone_frame(1000.0, RATE, i);
        rec.write_frame_stereo(&left, &right).unwrap();
    }
    assert_eq!(rec.pauses(), &[(8000, 20000)]);
    let info = rec.finish().unwrap();
    assert_eq!(
        info.pauses,
        vec![(Duration::from_secs(1), Duration::from_millis(1500))]
    );
    assert_eq!(
        info.duration,
        Duration::from_secs(4),
        "the timeline keeps going"
    );

    let bytes = out.into_inner();
    assert_eq!(bytes.len() as u64, info.bytes);
    assert_eq!(
        le32(&bytes, 4) as usize,
        bytes.len() - 8,
        "RIFF counts the markers"
    );
    let (_, samples) = read_samples(&bytes);
    let (left, right) = deinterleave(&samples);
    assert_eq!(left.len(), 32000);
    for channel in [&left, &right] {
        assert!(channel[8000..20000].iter().all(|&s| s == 0));
        assert!(channel[..8000].iter().any(|&s| s != 0));
        assert!(channel[20000..].iter().any(|&s| s != 0));
    }
    // Audio after the pause is the call's audio at that time, not a shifted copy.
    assert_eq!(left[20000], tone_sample(400.0, RATE, 20000));
    assert_tone(&right[20000..], 1000.0, 400.0, RATE);

    // cue point at the pause's start, with a region as long as the pause, labelled.
    let chunks = chunks(&bytes);
    let (_, cue) = chunks
        .iter()
        .find(|(id, _)| id == b"cue ")
        .expect("cue chunk");
    assert_eq!(le32(cue, 0), 1, "one cue point");
    assert_eq!(le32(cue, 4), 1, "id");
    assert_eq!(le32(cue, 8), 8000, "position");
    assert_eq!(&cue[12..16], b"data");
    assert_eq!(le32(cue, 24), 8000, "sample offset");
    let (_, list) = chunks
        .iter()
        .find(|(id, _)| id == b"LIST")
        .expect("LIST chunk");
    assert_eq!(&list[0..4], b"adtl");
    assert_eq!(&list[4..8], b"ltxt");
    assert_eq!(le32(list, 12), 1, "ltxt id");
    assert_eq!(le32(list, 16), 12000, "region length");
    assert_eq!(&list[20..24], b"rgn ");
    assert_eq!(&list[32..36], b"labl");
    assert_eq!(le32(list, 40), 1, "labl id");
    assert_eq!(&list[44..50], b"pause\0");
}

#[test]
fn pause_bookkeeping() {
    let frame = [7i16; FRAME_SAMPLES];
    let mut rec = Recorder::new(
        Cursor::new(Vec::new()),
        RecorderConfig::new(Channels::Mono, 0),
    )
    .unwrap();
    // Empty pause: no marker.
    rec.pause();
    rec.resume();
    assert!(rec.pauses().is_empty());
    // Resume then pause again at the same instant: one pause.
    rec.pause();
    rec.write_frame_mono(&frame).unwrap();
    rec.resume();
    rec.pause();
    rec.write_frame_mono(&frame).unwrap();
    rec.resume();
    assert_eq!(rec.pauses(), &[(0, 320)]);
    // Silence written while not paused is not a pause.
    rec.write_silence(160).unwrap();
    rec.write_frame_mono(&frame).unwrap();
    // A pause still running at the end closes there.
    rec.pause();
    rec.write_frame_mono(&frame).unwrap();
    let running = rec.info();
    assert_eq!(running.pauses.len(), 2);
    let info = rec.finish().unwrap();
    assert_eq!(info.pauses, running.pauses);
    assert_eq!(
        info.pauses,
        vec![
            (Duration::ZERO, Duration::from_millis(40)),
            (Duration::from_millis(80), Duration::from_millis(20)),
        ]
    );
    assert_eq!(info.frames, 5 * 160);
}

// ---- crash safety and repair -----------------------------------------------------------

/// Records `frames` of stereo tone frames into a new file.
fn write_stereo(rec: &mut Recorder<fs::File>, from: u64, to: u64) {
    for i in from..to {
        let left = tone_frame(400.0, RATE, i);
        let right = tone_frame(1000.0, RATE, i);
        rec.write_frame_stereo(&left, &right).unwrap();
    }
}

fn expected_stereo(frames: usize) -> Vec<i16> {
    (0..frames as u64)
        .flat_map(|n| [tone_sample(400.0, RATE, n), tone_sample(1000.0, RATE, n)])
        .collect()
}

#[test]
fn killed_recorder_leaves_a_playable_file_that_repair_completes() {
    let dir = scratch("crash");
    let path = dir.join("call.wav");
    let config = RecorderConfig::new(Channels::Stereo, START_MS);
    let mut rec = Recorder::create(&path, config).unwrap();
    assert_eq!(rec.path(), Some(path.as_path()));
    write_stereo(&mut rec, 0, 150); // 3 s
    rec.flush().unwrap();
    write_stereo(&mut rec, 150, 175); // 0.5 s more: two 200 ms buffers spill, 100 ms do not
    // Hard kill: no destructor, no finish.
    std::mem::forget(rec);
    // And a write torn mid-sample by the kill.
    fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&[0x12, 0x34, 0x56])
        .unwrap();

    // Playable as it is: everything up to the last checkpoint, intact.
    let bytes = fs::read(&path).unwrap();
    let (_, samples) = read_samples(&bytes);
    let frames = samples.len() / 2;
    assert!(frames >= 150 * 160, "lost audio before the flush: {frames}");
    assert_eq!(frames, 170 * 160, "every spilled buffer is a checkpoint");
    assert_eq!(samples, expected_stereo(frames));

    let report = repair(&path).unwrap();
    assert!(report.changed);
    assert_eq!(report.truncated_bytes, 3);
    assert_eq!(report.frames(), 170 * 160);
    assert_eq!(report.duration(), Duration::from_millis(3400));
    assert_eq!(report.channels, 2);
    let bytes = fs::read(&path).unwrap();
    assert_eq!(le32(&bytes, 4) as usize, bytes.len() - 8);
    let (_, samples) = read_samples(&bytes);
    assert_eq!(samples, expected_stereo(170 * 160));
    // Repairing twice changes nothing.
    assert!(!repair(&path).unwrap().changed);
}

#[test]
fn dropped_recorder_writes_its_buffer() {
    let dir = scratch("drop");
    let path = dir.join("call.wav");
    let mut rec = Recorder::create(&path, RecorderConfig::new(Channels::Stereo, 0)).unwrap();
    write_stereo(&mut rec, 0, 37);
    drop(rec); // a panicking call task: unwinding drops it
    let (_, samples) = read_samples(&fs::read(&path).unwrap());
    assert_eq!(samples, expected_stereo(37 * 160));
    assert!(!repair(&path).unwrap().changed);
}

#[test]
fn file_backed_recording_syncs_and_reports_its_path() {
    let dir = scratch("file");
    let path = dir.join("call.wav");
    let mut rec = Recorder::create(&path, RecorderConfig::new(Channels::Stereo, START_MS)).unwrap();
    write_stereo(&mut rec, 0, 60);
    rec.sync().unwrap();
    let (_, synced) = read_samples(&fs::read(&path).unwrap());
    assert_eq!(synced, expected_stereo(60 * 160), "sync is a checkpoint");
    rec.pause();
    write_stereo(&mut rec, 60, 70);
    let info = rec.finish_synced().unwrap();
    assert_eq!(info.path.as_deref(), Some(path.as_path()));
    assert_eq!(info.bytes, fs::metadata(&path).unwrap().len());
    assert_eq!(
        info.pauses,
        vec![(Duration::from_millis(1200), Duration::from_millis(200))]
    );
    assert!(!repair(&path).unwrap().changed);
}

/// A healthy 1 s mono file, on disk.
fn healthy_file(dir: &Path, name: &str, pauses: &[(u64, u64)]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, recording(1, pauses)).unwrap();
    path
}

fn patch(path: &Path, at: u64, value: u32) {
    let mut file = fs::OpenOptions::new().write(true).open(path).unwrap();
    file.seek(SeekFrom::Start(at)).unwrap();
    file.write_all(&value.to_le_bytes()).unwrap();
}

fn expected_mono(frames: usize) -> Vec<i16> {
    (0..frames as u64)
        .map(|n| tone_sample(400.0, RATE, n))
        .collect()
}

#[test]
fn repair_fixes_stale_headers_and_partial_samples() {
    let dir = scratch("stale");

    // Sizes still zero (killed before the first checkpoint), plus half a sample.
    let zero = healthy_file(&dir, "zero.wav", &[]);
    patch(&zero, 4, 0);
    patch(&zero, 40, 0);
    fs::OpenOptions::new()
        .append(true)
        .open(&zero)
        .unwrap()
        .write_all(&[0xAB])
        .unwrap();
    let (_, before) = read_samples(&fs::read(&zero).unwrap());
    assert!(before.is_empty());
    let report = repair(&zero).unwrap();
    assert!(report.changed);
    assert_eq!((report.old_riff_size, report.old_data_size), (0, 0));
    assert_eq!(report.data_size, 16000);
    assert_eq!(report.truncated_bytes, 1);
    assert_eq!(
        read_samples(&fs::read(&zero).unwrap()).1,
        expected_mono(8000)
    );

    // Sizes larger than the file, and the last sample cut in half.
    let large = healthy_file(&dir, "large.wav", &[]);
    patch(&large, 4, 0x7FFF_0000);
    patch(&large, 40, 0x7FFE_FFDC);
    let len = fs::metadata(&large).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&large)
        .unwrap()
        .set_len(len - 1)
        .unwrap();
    let report = repair(&large).unwrap();
    assert!(report.changed);
    assert_eq!(report.data_size, 15998);
    assert_eq!(report.truncated_bytes, 1);
    let bytes = fs::read(&large).unwrap();
    assert_eq!(bytes.len(), 44 + 15998);
    assert_eq!(le32(&bytes, 4) as usize, bytes.len() - 8);
    assert_eq!(read_samples(&bytes).1, expected_mono(7999));

    // Killed while the pause markers were being written: markers cut, audio kept.
    let torn = healthy_file(&dir, "torn.wav", &[(10, 20)]);
    let len = fs::metadata(&torn).unwrap().len();
    assert!(len > 44 + 16000 + 20);
    fs::OpenOptions::new()
        .write(true)
        .open(&torn)
        .unwrap()
        .set_len(44 + 16000 + 20)
        .unwrap();
    let report = repair(&torn).unwrap();
    assert!(report.changed);
    assert_eq!(report.data_size, 16000);
    assert_eq!(report.file_len, 44 + 16000);
    let (_, samples) = read_samples(&fs::read(&torn).unwrap());
    assert_eq!(samples.len(), 8000);
}

#[test]
fn repair_of_a_healthy_file_is_a_no_op() {
    let dir = scratch("healthy");
    for (name, pauses) in [
        ("plain.wav", &[][..]),
        ("paused.wav", &[(10, 20), (30, 35)]),
    ] {
        let path = healthy_file(&dir, name, pauses);
        let before = fs::read(&path).unwrap();
        let report = repair(&path).unwrap();
        assert!(!report.changed, "{name}: {report:?}");
        assert_eq!(report.truncated_bytes, 0);
        assert_eq!(report.data_size, 16000);
        assert_eq!(fs::read(&path).unwrap(), before, "{name}");
    }
}

#[test]
fn repair_of_a_non_wav_file_is_a_clean_error() {
    let dir = scratch("non-wav");
    let text = dir.join("notes.wav");
    fs::write(&text, "caller asked for a callback after 6pm\n").unwrap();
    let empty = dir.join("empty.wav");
    fs::write(&empty, b"").unwrap();
    let mp3 = dir.join("hold-music.wav");
    fs::write(&mp3, b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x00").unwrap();
    for path in [&text, &empty, &mp3] {
        let before = fs::read(path).unwrap();
        let err = repair(path).unwrap_err();
        assert!(matches!(err, RecorderError::BadFormat { .. }), "{err}");
        assert_eq!(fs::read(path).unwrap(), before, "left untouched");
    }
    assert!(matches!(
        repair(dir.join("missing.wav")),
        Err(RecorderError::Io(_))
    ));
}

#[test]
fn repair_dir_reports_each_recording() {
    let dir = scratch("dir");
    healthy_file(&dir, "a-healthy.wav", &[]);
    let stale = healthy_file(&dir, "b-stale.WAV", &[]);
    patch(&stale, 40, 0);
    fs::write(dir.join("c-junk.wav"), b"junk").unwrap();
    fs::write(dir.join("d-notes.txt"), b"not a recording").unwrap();
    fs::create_dir(dir.join("e-sub.wav")).unwrap();

    let results = repair_dir(&dir).unwrap();
    let names: Vec<_> = results
        .iter()
        .map(|(path, _)| path.file_name().unwrap().to_str().unwrap())
        .collect();
    assert_eq!(names, ["a-healthy.wav", "b-stale.WAV", "c-junk.wav"]);
    assert!(!results[0].1.as_ref().unwrap().changed);
    assert!(results[1].1.as_ref().unwrap().changed);
    assert!(matches!(results[2].1, Err(RecorderError::BadFormat { .. })));

    assert!(matches!(
        repair_dir(dir.join("missing")),
        Err(RecorderError::Io(_))
    ));
}

// ---- full disk -------------------------------------------------------------------------

/// An in-memory file on a disk with `space` bytes left; writes beyond it fail part-way.
struct SmallDisk {
    file: Cursor<Vec<u8>>,
    space: Rc<Cell<usize>>,
}

impl Write for SmallDisk {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Overwriting already-allocated bytes (header patches) needs no space.
        let pos = self.file.position() as usize;
        let overwrite = self.file.get_ref().len().saturating_sub(pos).min(buf.len());
        let fits = overwrite + self.space.get().min(buf.len() - overwrite);
        if fits == 0 {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "no space left on device",
            ));
        }
        let grew = fits - overwrite;
        self.space.set(self.space.get() - grew);
        self.file.write(&buf[..fits])
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for SmallDisk {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

#[test]
fn full_disk_is_an_error_not_a_panic() {
    let space = Rc::new(Cell::new(10_000));
    let mut disk = SmallDisk {
        file: Cursor::new(Vec::new()),
        space: space.clone(),
    };
    let mut rec = Recorder::new(&mut disk, RecorderConfig::new(Channels::Mono, 0)).unwrap();
    let frame = [5i16; FRAME_SAMPLES];
    let mut failed = None;
    for i in 0..100 {
        if let Err(e) = rec.write_frame_mono(&frame) {
            failed = Some((i, e));
            break;
        }
    }
    let (at, err) = failed.expect("the disk fills up");
    assert!(
        matches!(&err, RecorderError::Io(e) if e.kind() == io::ErrorKind::StorageFull),
        "{err}"
    );
    assert_eq!(rec.position(), at * 160, "the failed frame is not counted");
    // Still failing, still no panic, still consistent.
    assert!(rec.write_frame_mono(&frame).is_err());
    assert!(rec.flush().is_err());
    assert_eq!(rec.info().frames, at * 160);
    assert!(rec.finish().is_err());
    // What reached the disk is a valid WAV up to the last checkpoint.
    let (_, samples) = read_samples(disk.file.get_ref());
    assert!(!samples.is_empty());
    assert!(samples.iter().all(|&s| s == 5));
}

#[test]
fn recording_resumes_cleanly_when_space_comes_back() {
    let space = Rc::new(Cell::new(7_001)); // odd: the failing write stops mid-sample
    let mut disk = SmallDisk {
        file: Cursor::new(Vec::new()),
        space: space.clone(),
    };
    let mut rec = Recorder::new(&mut disk, RecorderConfig::new(Channels::Mono, 0)).unwrap();
    let mut accepted = Vec::new();
    let mut errors = 0;
    for i in 0..150u64 {
        if i == 60 {
            space.set(usize::MAX / 2); // the operator frees space
        }
        let frame = tone_frame(400.0, RATE, i);
        match rec.write_frame_mono(&frame) {
            Ok(()) => accepted.extend_from_slice(&frame),
            Err(RecorderError::Io(_)) => errors += 1,
            Err(other) => panic!("{other}"),
        }
    }
    assert!(errors > 0);
    let info = rec.finish().unwrap();
    assert_eq!(info.frames, accepted.len() as u64);
    let (_, samples) = read_samples(disk.file.get_ref());
    // Exactly the accepted frames, in order: the partial write was overwritten.
    assert_eq!(samples, accepted);
    assert_eq!(disk.file.get_ref().len() as u64, info.bytes);
}

// ---- steady state ----------------------------------------------------------------------

#[test]
fn steady_state_makes_no_allocation_per_frame() {
    for channels in [Channels::Mono, Channels::Stereo] {
        // A fixed-size in-memory file, so the sink itself never allocates.
        let mut space = vec![0u8; 2_000_000];
        let mut rec = Recorder::new(
            Cursor::new(&mut space[..]),
            RecorderConfig::new(channels, 0),
        )
        .unwrap();
        let left = [300i16; FRAME_SAMPLES];
        let right = [-300i16; FRAME_SAMPLES];
        let write = |rec: &mut Recorder<Cursor<&mut [u8]>>| match channels {
            Channels::Mono => rec.write_frame_mono(&left),
            Channels::Stereo => rec.write_frame_stereo(&left, &right),
        };
        write(&mut rec).unwrap(); // warm-up
        let before = allocations();
        // 10 s: 50 buffer spills, header patches, flushes and a silence gap.
        for i in 0..500 {
            write(&mut rec).unwrap();
            if i % 100 == 0 {
                rec.flush().unwrap();
                rec.write_silence(FRAME_SAMPLES).unwrap();
            }
        }
        assert_eq!(allocations() - before, 0, "{channels:?}");
        // The counter does see allocations on this thread.
        let probe = std::hint::black_box(vec![0u8; 64]);
        assert!(allocations() > before);
        drop(probe);
        // Pause markers allocate per pause (a Vec push), not per frame; finish allocates
        // the marker chunks once.
        let info = rec.finish().unwrap();
        assert_eq!(info.frames, 506 * 160);
    }
}
