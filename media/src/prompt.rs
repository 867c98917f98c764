//! Prompts: WAV files cut into 20 ms frames of 8 kHz linear PCM, ready for playback.
//!
//! Accepted input: RIFF WAVE, 16-bit signed integer PCM, **8000 Hz**, mono or stereo
//! (stereo is mixed to mono by averaging the two channels, which is exact and cheap).
//!
//! Other sample rates are refused with [`PromptError::UnsupportedSampleRate`] rather than
//! resampled: a correct downsampler needs a low-pass filter, and naive linear interpolation
//! from 16, 22.05 or 44.1 kHz folds the upper band back into the telephone band as audible
//! aliasing. Prompts are prepared offline instead, with a real resampler — see
//! `config/prompts/generate.sh`, or `sox in.wav -r 8000 -c 1 -b 16 out.wav`.
//!
//! Files are hostile input: every failure is a [`PromptError`], never a panic, and a file
//! longer than [`MAX_DURATION`] is refused before its samples are read.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::{CLOCK_RATE, FRAME_SAMPLES, Frame};

/// The longest prompt accepted (10 minutes, about 9.6 MB of PCM).
pub const MAX_DURATION: Duration = Duration::from_secs(600);

/// Why a prompt cannot be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PromptError {
    /// The file could not be opened or read.
    #[error("cannot read prompt file: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not a WAV file hound can read (bad header, truncated data, ...).
    #[error("not a readable WAV file: {0}")]
    Wav(#[source] hound::Error),
    /// Samples are not 16-bit signed integers.
    #[error(
        "prompt must be 16-bit integer PCM, file has {bits}-bit {format} samples \
         (convert with: sox in.wav -r 8000 -c 1 -b 16 -e signed-integer out.wav)"
    )]
    UnsupportedSampleFormat {
        /// Bits per sample in the file.
        bits: u16,
        /// `"integer"` or `"float"`.
        format: &'static str,
    },
    /// The sample rate is not 8000 Hz.
    #[error(
        "prompt must be sampled at 8000 Hz, file is {rate} Hz \
         (convert with: sox in.wav -r 8000 -c 1 -b 16 -e signed-integer out.wav)"
    )]
    UnsupportedSampleRate {
        /// The file's rate.
        rate: u32,
    },
    /// More than two channels.
    #[error("prompt must be mono or stereo, file has {channels} channels")]
    UnsupportedChannels {
        /// The file's channel count.
        channels: u16,
    },
    /// Longer than [`MAX_DURATION`].
    #[error("prompt is longer than {} s", MAX_DURATION.as_secs())]
    TooLong,
    /// The data chunk holds no samples.
    #[error("prompt has no audio")]
    Empty,
}

impl From<hound::Error> for PromptError {
    fn from(e: hound::Error) -> Self {
        match e {
            hound::Error::IoError(io) => PromptError::Io(io),
            other => PromptError::Wav(other),
        }
    }
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
    /// Loads a WAV file from disk (see the module doc for the accepted format).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, PromptError> {
        let file = std::fs::File::open(path)?;
        Self::from_wav(std::io::BufReader::new(file))
    }

    /// Reads a WAV stream (see the module doc for the accepted format).
    pub fn from_wav<R: Read>(reader: R) -> Result<Self, PromptError> {
        let mut wav = hound::WavReader::new(reader)?;
        let spec = wav.spec();
        match (spec.sample_format, spec.bits_per_sample) {
            (hound::SampleFormat::Int, 16) => {}
            (hound::SampleFormat::Int, bits) => {
                return Err(PromptError::UnsupportedSampleFormat {
                    bits,
                    format: "integer",
                });
            }
            (hound::SampleFormat::Float, bits) => {
                return Err(PromptError::UnsupportedSampleFormat {
                    bits,
                    format: "float",
                });
            }
        }
        if spec.sample_rate != CLOCK_RATE {
            return Err(PromptError::UnsupportedSampleRate {
                rate: spec.sample_rate,
            });
        }
        let channels = spec.channels;
        if channels > 2 {
            return Err(PromptError::UnsupportedChannels { channels });
        }
        // `duration()` is per-channel frames, from the header (hound checked it is whole).
        let per_channel = u64::from(wav.duration());
        if per_channel > MAX_DURATION.as_secs() * u64::from(CLOCK_RATE) {
            return Err(PromptError::TooLong);
        }
        if per_channel == 0 {
            return Err(PromptError::Empty);
        }
        // Bounded by MAX_DURATION above, so this fits a usize on every target we build for.
        let mut mono = Vec::with_capacity(usize::try_from(per_channel).unwrap_or(0));
        let mut samples = wav.samples::<i16>();
        while let Some(first) = samples.next() {
            let first = first?;
            if channels == 2 {
                // hound checked the sample count is a multiple of the channel count, so a
                // missing right sample can only come from a truncated stream: an error.
                let second =
                    samples
                        .next()
                        .ok_or(PromptError::Wav(hound::Error::FormatError(
                            "truncated stereo frame",
                        )))??;
                // The mean of two i16 always fits an i16.
                mono.push(((i32::from(first) + i32::from(second)) / 2) as i16);
            } else {
                mono.push(first);
            }
        }
        Ok(Self::from_samples(&mono))
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

    /// The frames, 20 ms each.
    pub fn frames(&self) -> &[Frame] {
        &self.frames
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
        crate::FRAME_DURATION * u32::try_from(self.frames.len()).unwrap_or(u32::MAX)
    }
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
                hound::SampleFormat::Float => w.write_sample(s as f32).unwrap(),
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
    fn mono_8k_is_framed_and_padded() {
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
        let samples = [100, 300, -32768, -32768, 32767, 32767, -5, 4];
        let p = Prompt::from_wav(Cursor::new(wav(spec(2, 8000, 16), &samples))).unwrap();
        assert_eq!(p.frames()[0][..4], [200, -32768, 32767, 0]);
    }

    #[test]
    fn wrong_formats_are_refused() {
        let e = Prompt::from_wav(Cursor::new(wav(spec(1, 16000, 16), &[1, 2]))).unwrap_err();
        assert!(matches!(
            e,
            PromptError::UnsupportedSampleRate { rate: 16000 }
        ));
        assert!(e.to_string().contains("sox"));
        let e = Prompt::from_wav(Cursor::new(wav(spec(1, 8000, 8), &[1, 2]))).unwrap_err();
        assert!(matches!(
            e,
            PromptError::UnsupportedSampleFormat { bits: 8, .. }
        ));
        let float = hound::WavSpec {
            sample_format: hound::SampleFormat::Float,
            ..spec(1, 8000, 32)
        };
        let e = Prompt::from_wav(Cursor::new(wav(float, &[1]))).unwrap_err();
        assert!(matches!(
            e,
            PromptError::UnsupportedSampleFormat {
                format: "float",
                ..
            }
        ));
        let e = Prompt::from_wav(Cursor::new(wav(spec(3, 8000, 16), &[1, 2, 3]))).unwrap_err();
        assert!(matches!(
            e,
            PromptError::UnsupportedChannels { channels: 3 }
        ));
        let e = Prompt::from_wav(Cursor::new(wav(spec(1, 8000, 16), &[]))).unwrap_err();
        assert!(matches!(e, PromptError::Empty));
    }

    #[test]
    fn broken_files_are_errors() {
        assert!(Prompt::from_wav(Cursor::new(b"")).is_err());
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
        for _ in 0..20_000 {
            let mut bad = good.clone();
            for _ in 0..rng.random_range(1..4) {
                let i = rng.random_range(0..44);
                bad[i] = rng.random();
            }
            let _ = Prompt::from_wav(Cursor::new(bad));
        }
    }

    #[test]
    fn shipped_welcome_prompt_loads() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/prompts/welcome.wav");
        let p = Prompt::open(path).unwrap();
        assert!(p.duration() > Duration::from_secs(1));
        assert!(p.duration() < Duration::from_secs(6));
        let peak = p.frames().iter().flatten().map(|s| s.unsigned_abs()).max();
        assert!(peak.unwrap() > 8000, "prompt is not silent");
    }
}
