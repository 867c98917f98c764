//! Prompts: audio files decoded once into 20 ms frames of 8 kHz linear PCM, ready to play.
//!
//! ## Formats
//! WAV (integer PCM of 8 to 32 bits, 32/64-bit float, A-law, µ-law), MP3, Ogg Vorbis and
//! FLAC, decoded with symphonia. The format is recognised from the bytes; a file
//! extension (from the path in [`Prompt::open`], or the hint given to [`Prompt::decode`])
//! only helps the probe. Any sample rate from 1 to 384 kHz and up to eight channels are
//! accepted: the channels are mixed to mono by averaging them, and the audio is resampled
//! **once, at load time** to the telephone rate with a band-limited (windowed-sinc)
//! filter that removes everything the telephone band cannot carry before it can fold back
//! as aliasing (naive linear interpolation would let it through; see the `resample`
//! submodule for the filter's figures). An 8 kHz file is taken sample for sample.
//! [`decode_samples`] does the same for any target rate, for when wide-band prompts come.
//!
//! ## Hostile input
//! Files are hostile input: every failure is a [`PromptError`], never a panic. The
//! third-party decoder runs behind `catch_unwind` ([`PromptError::DecoderPanicked`]). A
//! file longer than [`MAX_DURATION`] is refused — before its samples are read when the
//! header states its length, and as soon as the decoded audio passes the limit when it
//! does not — and a stream handed over as a reader is refused past
//! [`MAX_ENCODED_BYTES`]. Corrupt or truncated audio is refused as a whole rather than
//! played in part: a prompt that stops mid-word is worse than a clear error at load time.
//!
//! ## Sharing, playlists, tones
//! A [`Prompt`] is cheap to clone (its frames are shared), so one loaded prompt plays on
//! many calls at once; [`PromptCache`] loads each file once and reloads it when the file
//! changes. [`Prompt::concat`] and [`Prompt::silence`] build a playlist that plays as one
//! prompt; [`crate::tone`] renders call-progress tones, beeps and DTMF digits as prompts.
//!
//! ## Barge-in
//! Stopping a prompt when the caller presses a key or starts to speak is not the prompt's
//! business: a `Prompt` is only frames. The session playing it does it:
//! [`crate::Mode::Play`] with `barge_in: true` stops at the first
//! [`crate::MediaEvent::Dtmf`] or [`crate::MediaEvent::SpeechStart`] and reports
//! [`crate::MediaEvent::PlaybackInterrupted`] with how much was sent; the frames already
//! sent are the only part of the prompt the caller heard.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::{CLOCK_RATE, FRAME_DURATION, FRAME_SAMPLES, Frame};

mod cache;
mod decode;
mod resample;

pub use cache::PromptCache;

/// The longest prompt accepted (10 minutes, about 9.6 MB of PCM).
pub const MAX_DURATION: Duration = Duration::from_secs(600);

/// The largest encoded stream [`Prompt::decode`] and [`Prompt::from_wav`] read (256 MiB:
/// ten minutes of 48 kHz stereo float WAV is 230 MB). [`Prompt::open`] reads the file in
/// place and needs no such limit.
pub const MAX_ENCODED_BYTES: u64 = 256 * 1024 * 1024;

/// The most channels a prompt file may have (7.1 surround); they are mixed to mono.
pub const MAX_CHANNELS: usize = 8;

/// Why a prompt cannot be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PromptError {
    /// The file could not be opened or read.
    #[error("cannot read prompt file: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes are none of the formats we read.
    #[error("prompt is not a WAV, MP3, Ogg Vorbis or FLAC file")]
    UnknownFormat,
    /// The container is one we read, but its audio codec is not (ADPCM WAV, Ogg Opus, ...).
    #[error(
        "prompt's audio codec is not supported ({0}); \
         convert with: sox in.ext -r 8000 -c 1 -b 16 -e signed-integer out.wav"
    )]
    UnsupportedCodec(&'static str),
    /// The file holds no audio track.
    #[error("prompt file has no audio track")]
    NoAudioTrack,
    /// The audio data is corrupt.
    #[error("prompt file is corrupt: {0}")]
    Malformed(&'static str),
    /// The file ends in the middle of its audio.
    #[error("prompt file is truncated")]
    Truncated,
    /// The sample rate or channel count changes part-way through.
    #[error("prompt's sample rate or channel count changes mid-stream")]
    FormatChanged,
    /// The sample rate is outside 1 to 384 kHz.
    #[error("prompt sample rate {rate} Hz is outside 1000..=384000 Hz")]
    UnsupportedSampleRate {
        /// The file's rate.
        rate: u32,
    },
    /// No channels, or more than [`MAX_CHANNELS`].
    #[error("prompt must have 1 to {MAX_CHANNELS} channels, file has {channels}")]
    UnsupportedChannels {
        /// The file's channel count.
        channels: u16,
    },
    /// Longer than [`MAX_DURATION`].
    #[error("prompt is longer than {} s", MAX_DURATION.as_secs())]
    TooLong,
    /// A stream longer than [`MAX_ENCODED_BYTES`].
    #[error("prompt stream is larger than {} MiB", MAX_ENCODED_BYTES >> 20)]
    TooLarge,
    /// No audio at all.
    #[error("prompt has no audio")]
    Empty,
    /// The third-party decoder panicked on this file (a bug there, caught here).
    #[error("the audio decoder failed on this prompt file")]
    DecoderPanicked,
}

/// A loaded prompt: 20 ms frames of 8 kHz mono PCM, the last one padded with silence.
///
/// Cloning is cheap (the frames are shared, immutable), so one loaded prompt can play on
/// many calls at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    frames: Arc<[Frame]>,
}

impl Prompt {
    /// Loads an audio file from disk, in any of the formats in the module doc; the path's
    /// extension is a hint, the bytes decide.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, PromptError> {
        Self::open_with_metadata(path.as_ref()).map(|(prompt, _)| prompt)
    }

    /// [`open`](Self::open), also returning the metadata of the file as opened, taken
    /// before it was read (for [`PromptCache`]).
    fn open_with_metadata(path: &Path) -> Result<(Self, std::fs::Metadata), PromptError> {
        let file = std::fs::File::open(path)?;
        let meta = file.metadata()?;
        let extension = path.extension().and_then(|e| e.to_str());
        let samples = decode::decode_mono(Box::new(file), extension, CLOCK_RATE)?;
        Ok((Self::from_samples(&samples), meta))
    }

    /// Reads a WAV stream (or, since the bytes decide, any format in the module doc).
    pub fn from_wav<R: Read>(reader: R) -> Result<Self, PromptError> {
        Self::decode(reader, Some("wav"))
    }

    /// Decodes a stream in any of the formats in the module doc. `hint_extension` (`"mp3"`,
    /// `"wav"`, ...) helps the probe; the bytes decide. The stream is read into memory
    /// first, up to [`MAX_ENCODED_BYTES`].
    pub fn decode<R: Read>(reader: R, hint_extension: Option<&str>) -> Result<Self, PromptError> {
        decode_samples(reader, hint_extension, CLOCK_RATE).map(|s| Self::from_samples(&s))
    }

    /// Cuts 8 kHz mono samples into frames, padding the last one with silence.
    pub fn from_samples(samples: &[i16]) -> Self {
        let frames: Vec<Frame> = samples
            .chunks(FRAME_SAMPLES)
            .map(|chunk| {
                let mut frame = [0i16; FRAME_SAMPLES];
                frame[..chunk.len()].copy_from_slice(chunk);
                frame
            })
            .collect();
        Prompt {
            frames: frames.into(),
        }
    }

    /// `parts` played back to back, as one prompt: a playlist. Each part keeps its own
    /// padding, so each starts on a frame boundary, as it would when played alone.
    pub fn concat(parts: &[Prompt]) -> Self {
        let frames: Vec<Frame> = parts
            .iter()
            .flat_map(|p| p.frames.iter().copied())
            .collect();
        Prompt {
            frames: frames.into(),
        }
    }

    /// Silence for `duration`, rounded up to whole frames (a pause in a playlist).
    pub fn silence(duration: Duration) -> Result<Self, PromptError> {
        if duration > MAX_DURATION {
            return Err(PromptError::TooLong);
        }
        // At most 30 000 frames (MAX_DURATION / 20 ms), so the count fits a usize.
        let count = duration.as_nanos().div_ceil(FRAME_DURATION.as_nanos()) as usize;
        Ok(Prompt {
            frames: vec![[0i16; FRAME_SAMPLES]; count].into(),
        })
    }

    /// The frames, 20 ms each.
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// Whether `self` and `other` share the same frames in memory (not just equal ones),
    /// as clones of one loaded prompt do.
    pub fn shares_frames_with(&self, other: &Prompt) -> bool {
        Arc::ptr_eq(&self.frames, &other.frames)
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether there are no frames.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Playing time.
    pub fn duration(&self) -> Duration {
        FRAME_DURATION * u32::try_from(self.frames.len()).unwrap_or(u32::MAX)
    }
}

/// Decodes a stream (any format in the module doc) to mono linear PCM at `rate` Hz,
/// unframed: what [`Prompt::decode`] does at 8 kHz, for other rates. The stream is read
/// into memory first, up to [`MAX_ENCODED_BYTES`].
pub fn decode_samples<R: Read>(
    reader: R,
    hint_extension: Option<&str>,
    rate: u32,
) -> Result<Vec<i16>, PromptError> {
    if !(resample::MIN_RATE..=resample::MAX_RATE).contains(&rate) {
        return Err(PromptError::UnsupportedSampleRate { rate });
    }
    let mut bytes = Vec::new();
    reader.take(MAX_ENCODED_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_ENCODED_BYTES {
        return Err(PromptError::TooLarge);
    }
    decode::decode_mono(Box::new(std::io::Cursor::new(bytes)), hint_extension, rate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};
    use std::io::Cursor;

    fn wav(spec: hound::WavSpec, samples: &[i32]) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
        for &s in samples {
            match spec.sample_format {
                hound::SampleFormat::Int => w.write_sample(s).unwrap(),
                hound::SampleFormat::Float => w.write_sample(s as f32 / 32768.0).unwrap(),
            }
        }
        w.finalize().unwrap();
        out.into_inner()
    }

    fn spec(channels: u16, sample_rate: u32, bits: u16) -> hound::WavSpec {
        hound::WavSpec {
            channels,
            sample_rate,
            bits_per_sample: bits,
            sample_format: hound::SampleFormat::Int,
        }
    }

    #[test]
    fn mono_8k_is_framed_and_padded_sample_for_sample() {
        let samples: Vec<i32> = (0..400).collect();
        let p = Prompt::from_wav(Cursor::new(wav(spec(1, 8000, 16), &samples))).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p.frames()[0][0], 0);
        assert_eq!(p.frames()[1][0], 160);
        assert_eq!(p.frames()[2][79], 399);
        assert_eq!(p.frames()[2][80..], [0; 80]);
        assert_eq!(p.duration(), Duration::from_millis(60));
    }

    #[test]
    fn stereo_is_mixed_to_mono() {
        let samples = [100, 300, -32768, -32768, 32767, 32767, -6, 4];
        let p = Prompt::from_wav(Cursor::new(wav(spec(2, 8000, 16), &samples))).unwrap();
        assert_eq!(p.frames()[0][..4], [200, -32768, 32767, -1]);
    }

    #[test]
    fn sample_formats_at_8k_are_exact() {
        let samples: Vec<i32> = vec![0, 256, -256, 32512, -32768];
        // 24-bit and 32-bit integers, 32-bit float: the same values, scaled.
        let p24 = wav(
            spec(1, 8000, 24),
            &samples.iter().map(|s| s << 8).collect::<Vec<_>>(),
        );
        let p32 = wav(
            spec(1, 8000, 32),
            &samples.iter().map(|s| s << 16).collect::<Vec<_>>(),
        );
        let float = hound::WavSpec {
            sample_format: hound::SampleFormat::Float,
            ..spec(1, 8000, 32)
        };
        let pf = wav(float, &samples);
        let p8 = wav(spec(1, 8000, 8), &[0, 1, -1, 127, -128]);
        let expect: Vec<i16> = samples.iter().map(|&s| s as i16).collect();
        for bytes in [p24, p32, pf] {
            let p = Prompt::from_wav(Cursor::new(bytes)).unwrap();
            assert_eq!(p.frames()[0][..5], expect[..]);
        }
        let p = Prompt::from_wav(Cursor::new(p8)).unwrap();
        assert_eq!(p.frames()[0][..5], [0, 256, -256, 32512, -32768]);
    }

    #[test]
    fn other_rates_are_resampled() {
        let p = Prompt::from_wav(Cursor::new(wav(spec(1, 16000, 16), &[1000; 16000]))).unwrap();
        assert_eq!(p.duration(), Duration::from_secs(1));
        // DC passes at unity gain (away from the edges, where the filter sees silence).
        assert!(
            p.frames()[10..40]
                .iter()
                .flatten()
                .all(|&s| (s - 1000).abs() <= 1)
        );
    }

    #[test]
    fn wrong_formats_are_refused() {
        let e = Prompt::from_wav(Cursor::new(wav(spec(9, 8000, 16), &[1; 9]))).unwrap_err();
        assert!(matches!(
            e,
            PromptError::UnsupportedChannels { channels: 9 }
        ));
        let e = Prompt::from_wav(Cursor::new(wav(spec(1, 8000, 16), &[]))).unwrap_err();
        assert!(matches!(e, PromptError::Empty), "{e:?}");
        let e = Prompt::from_wav(Cursor::new(wav(spec(1, 500, 16), &[1, 2]))).unwrap_err();
        assert!(
            matches!(e, PromptError::UnsupportedSampleRate { rate: 500 }),
            "{e:?}"
        );
        let e = decode_samples(Cursor::new(b"whatever"), None, 999).unwrap_err();
        assert!(matches!(
            e,
            PromptError::UnsupportedSampleRate { rate: 999 }
        ));
    }

    #[test]
    fn too_long_is_refused_from_the_header() {
        // A header claiming 11 minutes at 8 kHz, without the samples.
        let mut bytes = wav(spec(1, 8000, 16), &[0; 16]);
        let claimed: u32 = 11 * 60 * 8000 * 2;
        bytes[40..44].copy_from_slice(&claimed.to_le_bytes());
        bytes[4..8].copy_from_slice(&(claimed + 36).to_le_bytes());
        let e = Prompt::from_wav(Cursor::new(bytes)).unwrap_err();
        assert!(matches!(e, PromptError::TooLong), "{e:?}");
    }

    #[test]
    fn broken_files_are_errors() {
        assert!(matches!(
            Prompt::from_wav(Cursor::new(b"")),
            Err(PromptError::Empty)
        ));
        assert!(Prompt::from_wav(Cursor::new(b"RIFF\0\0\0\0WAVEjunk")).is_err());
        let good = wav(spec(1, 8000, 16), &(0..1000).collect::<Vec<_>>());
        // Every truncation.
        for n in 0..good.len() {
            let _ = Prompt::from_wav(Cursor::new(&good[..n]));
        }
        // Header claims more data than the file holds.
        let mut long = good.clone();
        long.truncate(100);
        assert!(Prompt::from_wav(Cursor::new(long)).is_err());
        assert!(matches!(
            Prompt::open("/nonexistent/prompt.wav"),
            Err(PromptError::Io(_))
        ));
    }

    #[test]
    fn corrupted_headers_never_panic() {
        let good = wav(spec(2, 8000, 16), &(0..64).collect::<Vec<_>>());
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..5_000 {
            let mut bad = good.clone();
            for _ in 0..rng.random_range(1..4) {
                let i = rng.random_range(0..44);
                bad[i] = rng.random();
            }
            let _ = Prompt::from_wav(Cursor::new(bad));
        }
    }

    #[test]
    fn concat_and_silence_make_a_playlist() {
        let a = Prompt::from_samples(&[1; 170]); // 2 frames, padded
        let b = Prompt::from_samples(&[2; 160]);
        let pause = Prompt::silence(Duration::from_millis(50)).unwrap(); // 3 frames
        let list = Prompt::concat(&[a.clone(), pause, b]);
        assert_eq!(list.len(), 6);
        assert_eq!(list.frames()[..2], a.frames()[..]);
        assert!(list.frames()[2..5].iter().flatten().all(|&s| s == 0));
        assert_eq!(list.frames()[5], [2; 160]);
        assert!(Prompt::concat(&[]).is_empty());
        assert!(Prompt::silence(Duration::ZERO).unwrap().is_empty());
        assert_eq!(
            Prompt::silence(MAX_DURATION).unwrap().duration(),
            MAX_DURATION
        );
        assert!(matches!(
            Prompt::silence(MAX_DURATION + Duration::from_nanos(1)),
            Err(PromptError::TooLong)
        ));
    }

    #[test]
    fn clones_share_frames() {
        let a = Prompt::from_samples(&[5; 320]);
        let b = Prompt::from_samples(&[5; 320]);
        assert!(a.shares_frames_with(&a.clone()));
        assert_eq!(a, b);
        assert!(!a.shares_frames_with(&b));
    }

    #[test]
    fn shipped_welcome_prompt_loads() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/prompts/welcome.wav");
        let p = Prompt::open(path).unwrap();
        assert!(p.duration() > Duration::from_secs(1));
        assert!(p.duration() < Duration::from_secs(6));
        let peak = p.frames().iter().flatten().map(|s| s.unsigned_abs()).max();
        assert!(peak.unwrap() > 8000, "prompt is not silent");
        // The same bytes through a reader give the same frames.
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(Prompt::from_wav(Cursor::new(bytes)).unwrap(), p);
    }
}
