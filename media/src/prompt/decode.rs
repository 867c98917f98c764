//! The defensive layer around symphonia: probe, decode, mix down, resample, convert.
//!
//! Everything symphonia can report becomes a [`PromptError`]; limits (duration, rates,
//! channels) are checked from the header where the container states them, and again as
//! the audio is decoded, so a lying header cannot make us allocate more than
//! [`MAX_DURATION`] of audio.

use std::io::ErrorKind;
use std::panic::{AssertUnwindSafe, catch_unwind};

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::codecs::audio::well_known::CODEC_ID_MP3;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;

use super::resample::{MAX_RATE, MIN_RATE, Resampler};
use super::{MAX_CHANNELS, MAX_DURATION, PromptError};

/// Decodes `source` to mono linear PCM at `target_rate`.
///
/// symphonia is pure safe Rust, but a decoder fed hostile bytes may still hit an
/// arithmetic overflow, an out-of-bounds index or an `unwrap` the authors did not expect
/// (older releases did, on fuzzed input). Prompt files are hostile input, and a panic here
/// would take down the task that loads them, so the third-party part runs under
/// `catch_unwind`: everything it touches is created inside the closure and dropped with
/// it, so no half-updated state survives the unwind (hence `AssertUnwindSafe`). This does
/// not help under `panic = "abort"`, which the workspace does not use. The default panic
/// hook still prints the panic message to stderr, which is the trace we want.
pub(super) fn decode_mono(
    source: Box<dyn MediaSource>,
    hint_extension: Option<&str>,
    target_rate: u32,
) -> Result<Vec<i16>, PromptError> {
    match catch_unwind(AssertUnwindSafe(|| {
        decode_unguarded(source, hint_extension, target_rate)
    })) {
        Ok(result) => result,
        Err(_) => Err(PromptError::DecoderPanicked),
    }
}

fn decode_unguarded(
    source: Box<dyn MediaSource>,
    hint_extension: Option<&str>,
    target_rate: u32,
) -> Result<Vec<i16>, PromptError> {
    let stream = MediaSourceStream::new(source, Default::default());
    if stream.byte_len() == Some(0) {
        return Err(PromptError::Empty);
    }
    let mut hint = Hint::new();
    if let Some(extension) = hint_extension {
        hint.with_extension(extension);
    }
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            stream,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| match e {
            // No reader recognised the bytes, or they ended before one could.
            SymphoniaError::Unsupported(_) => PromptError::UnknownFormat,
            SymphoniaError::IoError(io) if io.kind() == ErrorKind::UnexpectedEof => {
                PromptError::UnknownFormat
            }
            other => from_symphonia(other),
        })?;

    let track = format
        .default_track(TrackType::Audio)
        .ok_or(PromptError::NoAudioTrack)?;
    let track_id = track.id;
    let stated_frames = track.num_frames;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or(PromptError::NoAudioTrack)?
        .clone();
    // What the header states; checked again on the decoded audio below.
    if let Some(rate) = params.sample_rate {
        check_rate(rate)?;
        if let Some(frames) = track.num_frames
            && frames > max_frames(rate)
        {
            return Err(PromptError::TooLong);
        }
    }
    if let Some(channels) = &params.channels {
        check_channels(channels.count())?;
    }

    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| match e {
            SymphoniaError::Unsupported(what) => PromptError::UnsupportedCodec(what),
            other => from_symphonia(other),
        })?;

    // Fixed by the first decoded buffer: (rate, channels).
    let mut layout: Option<(u32, usize)> = None;
    let mut resampler: Option<Resampler> = None;
    let mut decoded_frames: u64 = 0;
    let mut interleaved: Vec<f32> = Vec::new();
    let mut mono: Vec<f32> = Vec::new();
    let mut out: Vec<f32> = Vec::new();
    loop {
        let packet = match format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            Err(e) => return Err(from_symphonia(e)),
        };
        if packet.track_id != track_id {
            continue;
        }
        let buffer = decoder.decode(&packet).map_err(from_symphonia)?;
        if buffer.frames() == 0 {
            continue;
        }
        let rate = buffer.spec().rate();
        let channels = buffer.spec().channels().count();
        match layout {
            None => {
                check_rate(rate)?;
                check_channels(channels)?;
                layout = Some((rate, channels));
                if rate != target_rate {
                    // Both rates are in range (callers check `target_rate`), so this
                    // is `Some`; an error rather than an unwrap all the same.
                    resampler = Some(
                        Resampler::new(rate, target_rate)
                            .ok_or(PromptError::UnsupportedSampleRate { rate: target_rate })?,
                    );
                }
            }
            Some(first) if first != (rate, channels) => return Err(PromptError::FormatChanged),
            Some(_) => {}
        }
        decoded_frames += buffer.frames() as u64;
        if decoded_frames > max_frames(rate) {
            return Err(PromptError::TooLong);
        }
        buffer.copy_to_vec_interleaved::<f32>(&mut interleaved);
        mono.clear();
        mono.extend(interleaved.chunks_exact(channels).map(|frame| {
            let sum: f32 = frame
                .iter()
                // NaN or infinite float samples become silence, not poison for the filter.
                .map(|&s| if s.is_finite() { s } else { 0.0 })
                .sum();
            sum / channels as f32
        }));
        match &mut resampler {
            Some(r) => r.push(&mono, &mut out),
            None => out.extend_from_slice(&mono),
        }
    }
    if decoded_frames == 0 {
        return Err(PromptError::Empty);
    }
    // Readers stop quietly at the end of the bytes; a file that ends before the length
    // its header states was cut short. MP3 without an Info/Xing header states a length
    // estimated from its size, good to a frame or two, hence the slack there.
    if let Some(stated) = stated_frames {
        let slack = if params.codec == CODEC_ID_MP3 {
            2 * 1152
        } else {
            0
        };
        if decoded_frames + slack < stated {
            return Err(PromptError::Truncated);
        }
    }
    if let Some(r) = resampler {
        r.finish(&mut out);
    }
    Ok(out.iter().map(|&s| to_i16(s)).collect())
}

/// Full scale ±1.0 to i16, rounded, clipped.
fn to_i16(sample: f32) -> i16 {
    // The clamp keeps the value in range, so the cast is exact; NaN casts to 0.
    (sample * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16
}

fn check_rate(rate: u32) -> Result<(), PromptError> {
    if (MIN_RATE..=MAX_RATE).contains(&rate) {
        Ok(())
    } else {
        Err(PromptError::UnsupportedSampleRate { rate })
    }
}

fn check_channels(channels: usize) -> Result<(), PromptError> {
    if (1..=MAX_CHANNELS).contains(&channels) {
        Ok(())
    } else {
        Err(PromptError::UnsupportedChannels {
            channels: u16::try_from(channels).unwrap_or(u16::MAX),
        })
    }
}

/// Frames in [`MAX_DURATION`] at `rate`.
fn max_frames(rate: u32) -> u64 {
    MAX_DURATION.as_secs() * u64::from(rate)
}

fn from_symphonia(e: SymphoniaError) -> PromptError {
    match e {
        SymphoniaError::IoError(io) if io.kind() == ErrorKind::UnexpectedEof => {
            PromptError::Truncated
        }
        SymphoniaError::IoError(io) => PromptError::Io(io),
        SymphoniaError::DecodeError(what) | SymphoniaError::LimitError(what) => {
            PromptError::Malformed(what)
        }
        SymphoniaError::Unsupported(what) => PromptError::UnsupportedCodec(what),
        // A chained stream whose tracks change (Ogg), or a seek we never asked for.
        SymphoniaError::ResetRequired => PromptError::FormatChanged,
        _ => PromptError::Malformed("unreadable stream"),
    }
}
