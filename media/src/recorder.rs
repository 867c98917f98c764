//! Call recording: 16-bit PCM WAV, mono or stereo, streamed to disk and crash-safe.
//!
//! A [`Recorder`] takes one frame of linear PCM per tick — one mixed track
//! ([`write_frame_mono`](Recorder::write_frame_mono)) or the caller on the left and the agent
//! on the right ([`write_frame_stereo`](Recorder::write_frame_stereo)) — and streams it into
//! a RIFF WAVE file. It is the one piece of this crate that does I/O, and it keeps that I/O
//! small: it writes to any `W: Write + Seek` (a [`File`] from [`Recorder::create`], or an
//! in-memory cursor in tests), reads no clock and spawns nothing. Time is the sample count:
//! a recording's position is the number of sample frames written, and the wall-clock start
//! is a plain value the caller passes in ([`RecorderConfig::started_unix_ms`]).
//!
//! ## Buffering
//! Frames are copied into a buffer allocated once at creation ([`RecorderConfig::buffer`],
//! 200 ms by default). When the next frame does not fit, the buffer is written out in one
//! `write_all` and the header sizes are patched (a *checkpoint*, see below). The steady
//! state therefore makes no allocation per frame, and one write plus two 4-byte header
//! patches per buffer (three seeks). [`flush`](Recorder::flush) forces a checkpoint.
//!
//! ## Pause
//! [`pause`](Recorder::pause) (an agent taking a card number) does not stop the timeline:
//! until [`resume`](Recorder::resume), every frame written is replaced by silence of the same
//! length, so the two channels and the call's clock stay aligned. Each pause is kept as a
//! span of sample frames ([`pauses`](Recorder::pauses)); at [`finish`](Recorder::finish) the
//! spans go into the file as a `cue ` chunk with a `LIST`/`adtl` region (`ltxt`) and label
//! (`labl`, "pause") per pause, which audio editors show as markers, and into the
//! [`RecordingInfo`] metadata.
//!
//! ## Crash safety
//! The 44-byte header is written first, then data; at every checkpoint the data is written
//! *before* the RIFF and `data` sizes are patched to cover it. So at any instant the file is
//! a valid WAV of everything up to the last checkpoint (a reader opening it mid-call, or
//! after the process died, plays that much), and the bytes after it are whole-or-partial
//! sample frames that [`repair`] recovers: run [`repair_dir`] over the recordings directory
//! at start-up, before any recorder opens files there. Dropping a recorder without
//! [`finish`](Recorder::finish) (a panicking call task) still writes the buffer and the
//! sizes, best effort; only a hard kill loses the buffered tail (at most
//! [`RecorderConfig::buffer`] of audio) and the pause markers, never the silencing.
//!
//! ## Why not `hound::WavWriter`
//! hound 3.5.1's `WavWriter::flush` does patch the header (the same checkpoint idea), but it
//! does not fit: its RIFF size is always header + data, so a `cue `/`LIST` chunk after the
//! data cannot be counted in it, and it has no `into_inner` to write such chunks ourselves;
//! its byte count is a `u32` that overflows (a panic in debug) at 4 GiB; after a failed or
//! partial write its count and the writer's position can disagree; and its `Drop` patches
//! the header silently. The header here is the fixed 44-byte canonical PCM layout, so it is
//! written by hand. hound still reads recordings back (tests, [`crate::prompt`]).
//!
//! ## Errors
//! Every failure is a [`RecorderError`]; none panics. A failed write (disk full) leaves the
//! recorder consistent: the frame that could not be buffered is not counted, the buffered
//! audio is kept and retried on the next call, and the next write first seeks back to the
//! end of the data known to be on disk, so a partial write is overwritten, not kept.
//!
//! ```
//! use std::io::Cursor;
//! use hotline_media::recorder::{Channels, Recorder, RecorderConfig};
//! use hotline_media::FRAME_SAMPLES;
//!
//! let mut out = Cursor::new(Vec::new());
//! let config = RecorderConfig::new(Channels::Stereo, 1_700_000_000_000);
//! let mut recorder = Recorder::new(&mut out, config)?;
//! let caller = [100i16; FRAME_SAMPLES];
//! let agent = [-100i16; FRAME_SAMPLES];
//! for tick in 0..100 {
//!     // The agent pauses for one second while the caller reads a card number.
//!     if tick == 25 {
//!         recorder.pause();
//!     }
//!     if tick == 75 {
//!         recorder.resume();
//!     }
//!     recorder.write_frame_stereo(&caller, &agent)?;
//! }
//! let info = recorder.finish()?;
//! assert_eq!(info.frames, 100 * FRAME_SAMPLES as u64);
//! assert_eq!(info.duration.as_secs(), 2);
//! assert_eq!(info.pauses.len(), 1);
//! assert_eq!(info.pauses[0].0.as_millis(), 500); // starts at 0.5 s ...
//! assert_eq!(info.pauses[0].1.as_millis(), 1000); // ... and lasts 1 s
//!
//! let wav = hound::WavReader::new(Cursor::new(out.into_inner()))?;
//! assert_eq!(wav.spec().channels, 2);
//! assert_eq!(wav.duration(), 100 * FRAME_SAMPLES as u32);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::CLOCK_RATE;

mod repair;

pub use repair::{DirRepair, RepairReport, repair, repair_dir};

/// Bytes before the audio: the canonical RIFF/WAVE header with a 16-byte `fmt ` chunk.
pub const HEADER_LEN: u64 = 44;

/// Where the RIFF size (file length − 8) lives.
const RIFF_SIZE_OFFSET: u64 = 4;
/// Where the `data` chunk size lives in our header.
const DATA_SIZE_OFFSET: u64 = 40;

/// The default buffer: audio held in memory between writes.
pub const DEFAULT_BUFFER: Duration = Duration::from_millis(200);
/// Bounds on [`RecorderConfig::buffer`] (a shorter or longer value is clamped).
pub const MIN_BUFFER: Duration = Duration::from_millis(20);
/// See [`MIN_BUFFER`].
pub const MAX_BUFFER: Duration = Duration::from_secs(2);

/// The highest sample rate accepted (the lowest is 1 Hz).
pub const MAX_SAMPLE_RATE: u32 = 192_000;

/// Room kept below the 4 GiB RIFF limit for the header and the pause markers.
const TRAILER_RESERVE: u64 = 1 << 20;

/// The label given to each pause marker in the `LIST`/`adtl` chunk.
const PAUSE_LABEL: &[u8] = b"pause\0";

/// Why recording or repairing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecorderError {
    /// The file or writer failed (disk full, permissions, ...).
    #[error("recording I/O failed: {0}")]
    Io(#[from] io::Error),
    /// [`repair`] was given something that is not a RIFF/WAVE PCM file it can fix.
    #[error("not a repairable WAV recording: {reason}")]
    BadFormat {
        /// What is wrong, in a few words.
        reason: &'static str,
    },
    /// The configured sample rate is 0 or above [`MAX_SAMPLE_RATE`].
    #[error("unsupported recording sample rate {rate} Hz (1..={MAX_SAMPLE_RATE})")]
    UnsupportedSampleRate {
        /// The rate asked for.
        rate: u32,
    },
    /// A mono frame was written to a stereo recording, or the other way round.
    #[error("a {got:?} frame was written to a {expected:?} recording")]
    WrongChannels {
        /// The recording's layout.
        expected: Channels,
        /// The layout of the write.
        got: Channels,
    },
    /// The two halves of a stereo frame differ in length; nothing was written.
    #[error("stereo frame halves differ: left {left} samples, right {right}")]
    FrameLengthMismatch {
        /// Samples on the left (caller).
        left: usize,
        /// Samples on the right (agent).
        right: usize,
    },
    /// The recording reached the 4 GiB limit of a WAV file; nothing more is accepted.
    #[error("recording reached the 4 GiB limit of a WAV file")]
    TooLong,
}

/// One mixed track, or caller and agent apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channels {
    /// One channel: the mix of both parties.
    Mono,
    /// Two channels: the caller on the left, the agent on the right.
    Stereo,
}

impl Channels {
    /// 1 or 2.
    pub const fn count(self) -> u16 {
        match self {
            Channels::Mono => 1,
            Channels::Stereo => 2,
        }
    }
}

/// How to record. Build with [`RecorderConfig::new`], then adjust fields or use the
/// `with_*` methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecorderConfig {
    /// Mono or stereo.
    pub channels: Channels,
    /// Samples per second per channel: [`CLOCK_RATE`] (8 kHz) by default, 16 kHz for
    /// wideband.
    pub sample_rate: u32,
    /// When the recording started, in milliseconds since the Unix epoch, read by the caller
    /// (this crate reads no clock); carried into [`RecordingInfo`].
    pub started_unix_ms: u64,
    /// Audio held in memory between writes, clamped to [`MIN_BUFFER`]..=[`MAX_BUFFER`].
    /// Also the most a hard kill can lose.
    pub buffer: Duration,
}

impl RecorderConfig {
    /// 8 kHz, with a [`DEFAULT_BUFFER`].
    pub fn new(channels: Channels, started_unix_ms: u64) -> Self {
        RecorderConfig {
            channels,
            sample_rate: CLOCK_RATE,
            started_unix_ms,
            buffer: DEFAULT_BUFFER,
        }
    }

    /// Sets [`sample_rate`](Self::sample_rate).
    pub fn with_sample_rate(mut self, sample_rate: u32) -> Self {
        self.sample_rate = sample_rate;
        self
    }

    /// Sets [`buffer`](Self::buffer).
    pub fn with_buffer(mut self, buffer: Duration) -> Self {
        self.buffer = buffer;
        self
    }
}

/// What a recording holds: the metadata event for the call record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordingInfo {
    /// The file, for a recorder made by [`Recorder::create`].
    pub path: Option<PathBuf>,
    /// As given in [`RecorderConfig::started_unix_ms`].
    pub started_unix_ms: u64,
    /// Mono or stereo.
    pub channels: Channels,
    /// Samples per second per channel.
    pub sample_rate: u32,
    /// Sample frames (samples per channel), paused spans included.
    pub frames: u64,
    /// `frames / sample_rate`.
    pub duration: Duration,
    /// Each pause as (start, length), offsets from the start of the recording.
    pub pauses: Vec<(Duration, Duration)>,
    /// The size of the file (header, audio and markers).
    pub bytes: u64,
}

/// Writes one call's audio as a WAV file; see the [module doc](self).
pub struct Recorder<W: Write + Seek> {
    out: W,
    path: Option<PathBuf>,
    config: RecorderConfig,
    /// Bytes per sample frame: 2 or 4.
    block_align: usize,
    /// Pending audio. Never grows past `buf_cap`, so it allocates only at creation.
    buf: Vec<u8>,
    buf_cap: usize,
    /// Data bytes known to be in `out` (written successfully).
    committed: u64,
    /// The data size the header states, as last patched successfully.
    header_data: u64,
    /// Data bytes the file may hold at most, a multiple of `block_align`.
    max_data: u64,
    /// Sample frames accepted (written or buffered).
    frames: u64,
    /// A write or seek failed part-way: `out`'s position is unknown until re-seeked.
    reseek: bool,
    paused_since: Option<u64>,
    /// Closed pauses, as (start, end) sample frames, in order, non-empty, not touching.
    pauses: Vec<(u64, u64)>,
    /// `finish` ran: nothing is left for `Drop` to do.
    finished: bool,
}

impl Recorder<File> {
    /// Creates the file at `path` (which must not exist: a recording never overwrites
    /// another) and writes its header.
    pub fn create(path: impl AsRef<Path>, config: RecorderConfig) -> Result<Self, RecorderError> {
        let path = path.as_ref();
        // Validate before touching the disk, so a bad config leaves no empty file behind.
        validate(&config)?;
        let file = OpenOptions::new().write(true).create_new(true).open(path)?;
        match Recorder::new(file, config) {
            Ok(mut recorder) => {
                recorder.path = Some(path.to_path_buf());
                Ok(recorder)
            }
            Err(e) => {
                // No header, no audio: remove the file (ours: `create_new` made it) rather
                // than leave [`repair_dir`] a stub to complain about at every start-up.
                let _ = std::fs::remove_file(path);
                Err(e)
            }
        }
    }

    /// A checkpoint ([`flush`](Recorder::flush)), then `fsync` of the file's data, so the
    /// audio so far survives a power cut and not only a process crash.
    pub fn sync(&mut self) -> Result<(), RecorderError> {
        self.flush()?;
        self.out.sync_data()?;
        Ok(())
    }

    /// [`finish`](Recorder::finish), then `fsync` of the file.
    pub fn finish_synced(mut self) -> Result<RecordingInfo, RecorderError> {
        let info = self.finish_in_place()?;
        self.out.sync_all()?;
        Ok(info)
    }
}

impl<W: Write + Seek> Recorder<W> {
    /// Starts a recording on `out`, positioned at its start, by writing the header.
    pub fn new(mut out: W, config: RecorderConfig) -> Result<Self, RecorderError> {
        validate(&config)?;
        let channels = config.channels.count();
        let block_align = usize::from(channels) * 2;
        let buffer = config.buffer.clamp(MIN_BUFFER, MAX_BUFFER);
        // At most 2 s × 192 kHz = 384 000 frames: no overflow anywhere below.
        let buf_frames =
            (buffer.as_micros() * u128::from(config.sample_rate) / 1_000_000).max(1) as usize;
        let buf_cap = buf_frames * block_align;
        let block = block_align as u64;
        let max_data = (u64::from(u32::MAX) - HEADER_LEN - TRAILER_RESERVE) / block * block;

        out.seek(SeekFrom::Start(0))?;
        out.write_all(&header(&config, 0, 0))?;
        Ok(Recorder {
            out,
            path: None,
            config,
            block_align,
            buf: Vec::with_capacity(buf_cap),
            buf_cap,
            committed: 0,
            header_data: 0,
            max_data,
            frames: 0,
            reseek: false,
            paused_since: None,
            pauses: Vec::new(),
            finished: false,
        })
    }

    /// Appends one frame of a mono recording (any length; 160 samples is 20 ms at 8 kHz).
    ///
    /// On `Err` the frame was not recorded (for a frame longer than the buffer, only its
    /// first part may have been: [`position`](Self::position) tells), and what was buffered
    /// before is kept for the next try.
    pub fn write_frame_mono(&mut self, samples: &[i16]) -> Result<(), RecorderError> {
        self.expect(Channels::Mono)?;
        let paused = self.paused_since.is_some();
        self.push(samples.len(), |buf, range| {
            for &s in &samples[range] {
                let s = if paused { 0 } else { s };
                buf.extend_from_slice(&s.to_le_bytes());
            }
        })
    }

    /// Appends one frame of a stereo recording: `left` (caller) and `right` (agent) must
    /// have the same length. Errors as for [`write_frame_mono`](Self::write_frame_mono).
    pub fn write_frame_stereo(&mut self, left: &[i16], right: &[i16]) -> Result<(), RecorderError> {
        self.expect(Channels::Stereo)?;
        if left.len() != right.len() {
            return Err(RecorderError::FrameLengthMismatch {
                left: left.len(),
                right: right.len(),
            });
        }
        let paused = self.paused_since.is_some();
        self.push(left.len(), |buf, range| {
            for (&l, &r) in left[range.clone()].iter().zip(&right[range]) {
                let (l, r) = if paused { (0, 0) } else { (l, r) };
                buf.extend_from_slice(&l.to_le_bytes());
                buf.extend_from_slice(&r.to_le_bytes());
            }
        })
    }

    /// Appends `frames` sample frames of silence on every channel: a gap in the audio
    /// (a leg on hold, lost packets) that must still take its place on the timeline.
    pub fn write_silence(&mut self, frames: usize) -> Result<(), RecorderError> {
        let block = self.block_align;
        self.push(frames, |buf, range| {
            buf.resize(buf.len() + range.len() * block, 0)
        })
    }

    /// Starts silencing from the current [`position`](Self::position), which it returns.
    /// Already paused: nothing changes. Never fails: silencing cannot wait for the disk.
    pub fn pause(&mut self) -> u64 {
        if self.paused_since.is_none() {
            // Resumed and paused again with nothing in between: one pause, not two.
            self.paused_since = match self.pauses.last() {
                Some(&(start, end)) if end == self.frames => {
                    self.pauses.pop();
                    Some(start)
                }
                _ => Some(self.frames),
            };
        }
        self.frames
    }

    /// Ends the pause at the current [`position`](Self::position), which it returns. Not
    /// paused: nothing changes. A pause in which no frame was written leaves no marker.
    pub fn resume(&mut self) -> u64 {
        self.close_pause();
        self.frames
    }

    /// Whether frames are being replaced by silence.
    pub fn is_paused(&self) -> bool {
        self.paused_since.is_some()
    }

    /// The closed pauses as (start, end) sample frames (end exclusive); a pause still
    /// running is not in the list until [`resume`](Self::resume) or `finish`.
    pub fn pauses(&self) -> &[(u64, u64)] {
        &self.pauses
    }

    /// Sample frames accepted so far: the recording's clock.
    pub fn position(&self) -> u64 {
        self.frames
    }

    /// The configuration (with the buffer as given, before clamping).
    pub fn config(&self) -> &RecorderConfig {
        &self.config
    }

    /// The file, for a recorder made by [`Recorder::create`].
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The writer. Reading it shows the file as of the last checkpoint.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Metadata so far (a running pause counts up to the current position); `bytes` is
    /// the size the file will have once the buffer is written, without markers.
    pub fn info(&self) -> RecordingInfo {
        let mut pauses = self.pauses.clone();
        if let Some(start) = self.paused_since
            && start < self.frames
        {
            pauses.push((start, self.frames));
        }
        self.make_info(&pauses, HEADER_LEN + self.frames * self.block_align as u64)
    }

    /// Checkpoint: writes the buffer, patches the header sizes and flushes the writer.
    /// Afterwards the file is a valid WAV of everything written so far.
    pub fn flush(&mut self) -> Result<(), RecorderError> {
        self.spill()?;
        if self.header_data != self.committed {
            self.patch_header(self.committed + HEADER_LEN)?;
        }
        self.out.flush()?;
        Ok(())
    }

    /// Ends the recording: ends a running pause, writes the buffer, the pause markers and
    /// the final header, flushes, and returns the metadata.
    ///
    /// On `Err` the file is still a valid WAV up to its last checkpoint (see [`repair`]).
    pub fn finish(mut self) -> Result<RecordingInfo, RecorderError> {
        self.finish_in_place()
    }

    fn finish_in_place(&mut self) -> Result<RecordingInfo, RecorderError> {
        self.close_pause();
        self.spill()?;
        let data_end = HEADER_LEN + self.committed;
        let trailer = markers(&self.pauses);
        // Markers that would push the file past 4 GiB are left out; the metadata keeps them.
        let trailer_fits = data_end + trailer.len() as u64 <= u64::from(u32::MAX);
        let mut file_len = data_end;
        if !trailer.is_empty() && trailer_fits {
            self.append(&trailer)?;
            file_len += trailer.len() as u64;
        }
        self.patch_header(file_len)?;
        self.out.flush()?;
        self.finished = true;
        Ok(self.make_info(&self.pauses, file_len))
    }

    fn make_info(&self, pauses: &[(u64, u64)], bytes: u64) -> RecordingInfo {
        let rate = self.config.sample_rate;
        RecordingInfo {
            path: self.path.clone(),
            started_unix_ms: self.config.started_unix_ms,
            channels: self.config.channels,
            sample_rate: rate,
            frames: self.frames,
            duration: frames_to_duration(self.frames, rate),
            pauses: pauses
                .iter()
                .map(|&(start, end)| {
                    (
                        frames_to_duration(start, rate),
                        frames_to_duration(end - start, rate),
                    )
                })
                .collect(),
            bytes,
        }
    }

    fn expect(&self, got: Channels) -> Result<(), RecorderError> {
        if self.config.channels == got {
            Ok(())
        } else {
            Err(RecorderError::WrongChannels {
                expected: self.config.channels,
                got,
            })
        }
    }

    fn close_pause(&mut self) {
        if let Some(start) = self.paused_since.take()
            && start < self.frames
        {
            self.pauses.push((start, self.frames));
        }
    }

    /// Accepts `frames` sample frames, which `fill` appends to the buffer a range at a
    /// time (`fill(buf, range)` must push exactly `range.len() * block_align` bytes).
    ///
    /// A run that fits the buffer is all-or-nothing: if there is no room, the buffer is
    /// written first, and if that fails nothing of the run is taken. A run longer than the
    /// buffer is taken in buffer-sized pieces.
    fn push(
        &mut self,
        frames: usize,
        mut fill: impl FnMut(&mut Vec<u8>, std::ops::Range<usize>),
    ) -> Result<(), RecorderError> {
        let block = self.block_align;
        let bytes = (frames as u64).saturating_mul(block as u64);
        let accepted = self.committed + self.buf.len() as u64;
        if accepted.saturating_add(bytes) > self.max_data {
            return Err(RecorderError::TooLong);
        }
        if self.buf.len() as u64 + bytes > self.buf_cap as u64 {
            self.spill()?;
        }
        let mut done = 0;
        while done < frames {
            let room = (self.buf_cap - self.buf.len()) / block;
            if room == 0 {
                self.spill()?;
                continue;
            }
            let n = room.min(frames - done);
            // Within capacity: `extend_from_slice`/`resize` do not reallocate.
            fill(&mut self.buf, done..done + n);
            debug_assert!(self.buf.len() <= self.buf_cap);
            done += n;
            self.frames += n as u64;
        }
        Ok(())
    }

    /// Writes the buffer after the committed data, then patches the header to cover it.
    fn spill(&mut self) -> Result<(), RecorderError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        // Moving the Vec out and back allocates nothing.
        let buf = std::mem::take(&mut self.buf);
        let written = self.append(&buf);
        self.buf = buf;
        written?;
        self.committed += self.buf.len() as u64;
        self.buf.clear();
        self.patch_header(HEADER_LEN + self.committed)?;
        Ok(())
    }

    /// Writes `bytes` at the end of the committed data (not counting them as committed).
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.reseek {
            self.out
                .seek(SeekFrom::Start(HEADER_LEN + self.committed))?;
        }
        self.reseek = true;
        self.out.write_all(bytes)?;
        self.reseek = false;
        Ok(())
    }

    /// Sets the RIFF size from `file_len` and the data size from the committed data, then
    /// returns to the end of the data.
    fn patch_header(&mut self, file_len: u64) -> io::Result<()> {
        // Both fit: `max_data` and the trailer check keep the file under 4 GiB.
        let riff = u32::try_from(file_len - 8).unwrap_or(u32::MAX);
        let data = u32::try_from(self.committed).unwrap_or(u32::MAX);
        self.reseek = true;
        self.out.seek(SeekFrom::Start(RIFF_SIZE_OFFSET))?;
        self.out.write_all(&riff.to_le_bytes())?;
        self.out.seek(SeekFrom::Start(DATA_SIZE_OFFSET))?;
        self.out.write_all(&data.to_le_bytes())?;
        self.header_data = self.committed;
        self.out
            .seek(SeekFrom::Start(HEADER_LEN + self.committed))?;
        self.reseek = false;
        Ok(())
    }
}

impl<W: Write + Seek> Drop for Recorder<W> {
    /// A recorder dropped without [`finish`](Recorder::finish) (a call task that panicked)
    /// still gets its buffer and header sizes written, best effort: errors cannot be
    /// reported from here, and [`repair`] covers what this misses.
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.flush();
        }
    }
}

impl<W: Write + Seek> fmt::Debug for Recorder<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("path", &self.path)
            .field("config", &self.config)
            .field("frames", &self.frames)
            .field("committed", &self.committed)
            .field("buffered", &self.buf.len())
            .field("paused_since", &self.paused_since)
            .field("pauses", &self.pauses)
            .finish_non_exhaustive()
    }
}

fn validate(config: &RecorderConfig) -> Result<(), RecorderError> {
    if config.sample_rate == 0 || config.sample_rate > MAX_SAMPLE_RATE {
        return Err(RecorderError::UnsupportedSampleRate {
            rate: config.sample_rate,
        });
    }
    Ok(())
}

fn frames_to_duration(frames: u64, rate: u32) -> Duration {
    let nanos = u128::from(frames) * 1_000_000_000 / u128::from(rate);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// The canonical 44-byte header: RIFF, a 16-byte PCM `fmt ` chunk, the `data` chunk header.
fn header(config: &RecorderConfig, riff_size: u32, data_size: u32) -> [u8; HEADER_LEN as usize] {
    let channels = config.channels.count();
    let block_align = channels * 2;
    // sample_rate ≤ MAX_SAMPLE_RATE, so this is at most 768 000.
    let byte_rate = config.sample_rate * u32::from(block_align);
    let mut h = [0u8; HEADER_LEN as usize];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&riff_size.to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // WAVE_FORMAT_PCM
    h[22..24].copy_from_slice(&channels.to_le_bytes());
    h[24..28].copy_from_slice(&config.sample_rate.to_le_bytes());
    h[28..32].copy_from_slice(&byte_rate.to_le_bytes());
    h[32..34].copy_from_slice(&block_align.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_size.to_le_bytes());
    h
}

/// The `cue ` and `LIST`/`adtl` chunks for the pauses (empty when there are none): one cue
/// point per pause at its start, with an `ltxt` region of its length and a `labl`.
fn markers(pauses: &[(u64, u64)]) -> Vec<u8> {
    if pauses.is_empty() {
        return Vec::new();
    }
    // Positions fit a u32: the data is under 4 GiB, so its frame count is too.
    let u32_of = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    let count = u32_of(pauses.len() as u64);
    let mut out = Vec::new();

    out.extend_from_slice(b"cue ");
    out.extend_from_slice(&u32_of(4 + 24 * pauses.len() as u64).to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    for (i, &(start, _)) in pauses.iter().enumerate() {
        let id = u32_of(i as u64 + 1);
        out.extend_from_slice(&id.to_le_bytes()); // dwName
        out.extend_from_slice(&u32_of(start).to_le_bytes()); // dwPosition
        out.extend_from_slice(b"data"); // fccChunk
        out.extend_from_slice(&0u32.to_le_bytes()); // dwChunkStart
        out.extend_from_slice(&0u32.to_le_bytes()); // dwBlockStart
        out.extend_from_slice(&u32_of(start).to_le_bytes()); // dwSampleOffset
    }

    let ltxt_len = 8 + 20;
    let labl_len = 8 + 4 + PAUSE_LABEL.len(); // even: no pad byte
    let list_size = 4 + pauses.len() * (ltxt_len + labl_len);
    out.extend_from_slice(b"LIST");
    out.extend_from_slice(&u32_of(list_size as u64).to_le_bytes());
    out.extend_from_slice(b"adtl");
    for (i, &(start, end)) in pauses.iter().enumerate() {
        let id = u32_of(i as u64 + 1);
        out.extend_from_slice(b"ltxt");
        out.extend_from_slice(&20u32.to_le_bytes());
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&u32_of(end - start).to_le_bytes()); // dwSampleLength
        out.extend_from_slice(b"rgn "); // dwPurposeID: a region
        out.extend_from_slice(&[0u8; 8]); // country, language, dialect, code page
        out.extend_from_slice(b"labl");
        out.extend_from_slice(&u32_of((4 + PAUSE_LABEL.len()) as u64).to_le_bytes());
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(PAUSE_LABEL);
    }
    out
}
