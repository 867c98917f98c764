//! Start-up repair of recordings whose header sizes do not match the file: see [`repair`].

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::RecorderError;

/// Chunks walked before giving up looking for `data`, or along a marker chain.
const MAX_CHUNKS: usize = 256;

/// What [`repair`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepairReport {
    /// Whether the file was changed (`false`: it was already sound, and left untouched).
    pub changed: bool,
    /// Channels, from the `fmt ` chunk.
    pub channels: u16,
    /// Samples per second per channel, from the `fmt ` chunk.
    pub sample_rate: u32,
    /// Bytes per sample frame, from the `fmt ` chunk.
    pub block_align: u16,
    /// The RIFF size the header stated before.
    pub old_riff_size: u32,
    /// The `data` size the header stated before.
    pub old_data_size: u32,
    /// The `data` size now: the audio recovered.
    pub data_size: u32,
    /// Bytes cut from the end: a partial sample frame, or torn marker chunks.
    pub truncated_bytes: u64,
    /// The file's length now.
    pub file_len: u64,
}

impl RepairReport {
    /// Sample frames of audio in the repaired file.
    pub fn frames(&self) -> u64 {
        u64::from(self.data_size) / u64::from(self.block_align)
    }

    /// Playing time of the repaired file.
    pub fn duration(&self) -> Duration {
        let nanos = u128::from(self.frames()) * 1_000_000_000 / u128::from(self.sample_rate);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// One file's outcome in [`repair_dir`].
pub type DirRepair = (PathBuf, Result<RepairReport, RecorderError>);

/// [`repair`]s every `*.wav` file directly in `dir` (not in subdirectories), in name order.
/// `Err` only when the directory cannot be listed; each file has its own outcome.
///
/// Run it before any recorder opens files there: a file being recorded looks stale.
pub fn repair_dir(dir: impl AsRef<Path>) -> Result<Vec<DirRepair>, RecorderError> {
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let is_wav = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("wav"));
        if is_wav && entry.file_type()?.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths
        .into_iter()
        .map(|path| {
            let outcome = repair(&path);
            (path, outcome)
        })
        .collect())
}

/// Makes the WAV file at `path` consistent with its length.
///
/// A recorder killed mid-call leaves a header whose sizes cover the data up to its last
/// checkpoint, followed by more audio and perhaps part of a sample frame. A file cut off
/// while its pause markers were being written ends in a torn `cue `/`LIST` chunk. This sets
/// the `data` size from the audio really on disk (whole sample frames only), drops a
/// partial frame or a torn marker chunk, and sets the RIFF size from the file's length.
///
/// How the data chunk's real end is found, given its declared size `D` and the `A` bytes
/// from its start to the end of the file:
/// - `D > A`: the header promises more than there is; the data runs to the end of the file.
/// - `D ≤ A` and the bytes after the declared data form a chain of well-formed chunks that
///   ends exactly at the end of the file (our pause markers): the file is sound; at most
///   its RIFF size is fixed.
/// - `D > 0` and those bytes start with `cue ` or `LIST` but do not chain to the end: the
///   markers were torn while being written; they are cut off, the audio is kept.
/// - otherwise (the header is stale: `D` is 0 or an old checkpoint, and audio follows): the
///   data runs to the end of the file.
///
/// Audio mistaken for a chunk would need four exact bytes (`cue `, `LIST`) or a chain of
/// printable-id chunks ending exactly at the end of the file; neither happens in practice.
/// A sound file is only read, never opened for writing (`changed: false`), so repair of a
/// sound archive is a no-op even where it is read-only. A file that is not RIFF/WAVE PCM
/// with a `fmt ` and a `data` chunk is [`RecorderError::BadFormat`], and is left as it is.
pub fn repair(path: impl AsRef<Path>) -> Result<RepairReport, RecorderError> {
    let path = path.as_ref();
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let plan = plan(&mut file, len)?;
    drop(file);
    if plan.report.changed {
        let mut file = OpenOptions::new().write(true).open(path)?;
        if plan.report.file_len < len {
            file.set_len(plan.report.file_len)?;
        }
        file.seek(SeekFrom::Start(4))?;
        file.write_all(&plan.riff_size.to_le_bytes())?;
        file.seek(SeekFrom::Start(plan.data_size_offset))?;
        file.write_all(&plan.report.data_size.to_le_bytes())?;
        file.sync_all()?;
    }
    Ok(plan.report)
}

struct Plan {
    report: RepairReport,
    riff_size: u32,
    data_size_offset: u64,
}

struct Format {
    channels: u16,
    sample_rate: u32,
    block_align: u16,
}

/// Reads the chunk layout of a `len`-byte WAV and decides what to fix.
fn plan<R: Read + Seek>(r: &mut R, len: u64) -> Result<Plan, RecorderError> {
    let bad = |reason| RecorderError::BadFormat { reason };
    let mut head = [0u8; 12];
    if len < 12 {
        return Err(bad("shorter than a RIFF header"));
    }
    r.seek(SeekFrom::Start(0))?;
    r.read_exact(&mut head)?;
    if &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Err(bad("not a RIFF/WAVE file"));
    }
    let old_riff_size = le32(&head[4..8]);

    let mut format = None;
    let mut pos = 12u64;
    let (data_start, old_data_size) = 'walk: {
        for _ in 0..MAX_CHUNKS {
            let Some((id, size)) = chunk_header(r, pos, len)? else {
                return Err(bad("no data chunk"));
            };
            let body = pos + 8;
            if &id == b"data" {
                break 'walk (body, size);
            }
            if &id == b"fmt " {
                format = Some(read_format(r, body, size, len)?);
            }
            let next = body + u64::from(size) + u64::from(size & 1);
            if next > len {
                return Err(bad("chunk before the audio runs past the end of the file"));
            }
            pos = next;
        }
        return Err(bad("no data chunk"));
    };
    let Some(format) = format else {
        return Err(bad("no fmt chunk before the audio"));
    };

    let block = u64::from(format.block_align);
    let available = len - data_start;
    let declared = u64::from(old_data_size);
    let tail = data_start + declared + (declared & 1);
    let (data_len, new_len) = if declared <= available && tail < len {
        if chain_to_end(r, tail, len)? {
            (declared, len)
        } else if declared > 0 && starts_marker(r, tail, len)? {
            let whole = declared - declared % block;
            (whole, data_start + whole)
        } else {
            let whole = available - available % block;
            (whole, data_start + whole)
        }
    } else if declared <= available && declared % block == 0 {
        // The data chunk ends the file (with its pad byte, if odd).
        (declared, len)
    } else {
        let whole = available - available % block;
        (whole, data_start + whole)
    };

    let too_big = || bad("larger than the 4 GiB a WAV file can describe");
    let data_size = u32::try_from(data_len).map_err(|_| too_big())?;
    let riff_size = u32::try_from(new_len - 8).map_err(|_| too_big())?;
    let changed = new_len != len || data_size != old_data_size || riff_size != old_riff_size;
    Ok(Plan {
        report: RepairReport {
            changed,
            channels: format.channels,
            sample_rate: format.sample_rate,
            block_align: format.block_align,
            old_riff_size,
            old_data_size,
            data_size,
            truncated_bytes: len - new_len,
            file_len: new_len,
        },
        riff_size,
        data_size_offset: data_start - 4,
    })
}

fn read_format<R: Read + Seek>(
    r: &mut R,
    body: u64,
    size: u32,
    len: u64,
) -> Result<Format, RecorderError> {
    let bad = |reason| RecorderError::BadFormat { reason };
    if size < 16 || body + 16 > len {
        return Err(bad("fmt chunk too short"));
    }
    let mut f = [0u8; 16];
    r.seek(SeekFrom::Start(body))?;
    r.read_exact(&mut f)?;
    let tag = u16::from_le_bytes([f[0], f[1]]);
    let channels = u16::from_le_bytes([f[2], f[3]]);
    let sample_rate = le32(&f[4..8]);
    let block_align = u16::from_le_bytes([f[12], f[13]]);
    // PCM, or WAVE_FORMAT_EXTENSIBLE (whose PCM sub-format is not checked further).
    if tag != 1 && tag != 0xFFFE {
        return Err(bad("not PCM audio"));
    }
    if channels == 0 || sample_rate == 0 || block_align == 0 {
        return Err(bad(
            "fmt chunk has a zero channel count, rate or block size",
        ));
    }
    Ok(Format {
        channels,
        sample_rate,
        block_align,
    })
}

/// The id and size of the chunk at `pos`, or `None` if its 8-byte header is not all there.
fn chunk_header<R: Read + Seek>(
    r: &mut R,
    pos: u64,
    len: u64,
) -> io::Result<Option<([u8; 4], u32)>> {
    if pos + 8 > len {
        return Ok(None);
    }
    let mut h = [0u8; 8];
    r.seek(SeekFrom::Start(pos))?;
    r.read_exact(&mut h)?;
    Ok(Some(([h[0], h[1], h[2], h[3]], le32(&h[4..8]))))
}

/// Whether well-formed chunks with printable ids run from `pos` exactly to `len` (the last
/// chunk's pad byte may be missing, as some writers leave it out).
fn chain_to_end<R: Read + Seek>(r: &mut R, mut pos: u64, len: u64) -> io::Result<bool> {
    for _ in 0..MAX_CHUNKS {
        if pos == len {
            return Ok(true);
        }
        let Some((id, size)) = chunk_header(r, pos, len)? else {
            return Ok(false);
        };
        if !id.iter().all(|b| (0x20..=0x7E).contains(b)) {
            return Ok(false);
        }
        let end = pos + 8 + u64::from(size);
        if end == len {
            return Ok(true);
        }
        pos = end + u64::from(size & 1);
        if pos > len {
            return Ok(false);
        }
    }
    Ok(false)
}

/// Whether the bytes at `pos` are the id of a marker chunk the recorder writes.
fn starts_marker<R: Read + Seek>(r: &mut R, pos: u64, len: u64) -> io::Result<bool> {
    if pos + 4 > len {
        return Ok(false);
    }
    let mut id = [0u8; 4];
    r.seek(SeekFrom::Start(pos))?;
    r.read_exact(&mut id)?;
    Ok(&id == b"cue " || &id == b"LIST")
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn wav(data: &[u8], riff: u32, data_size: u32) -> Vec<u8> {
        let config = crate::recorder::RecorderConfig::new(crate::recorder::Channels::Mono, 0);
        let mut v = crate::recorder::header(&config, riff, data_size).to_vec();
        v.extend_from_slice(data);
        v
    }

    fn plan_of(bytes: &[u8]) -> Result<Plan, RecorderError> {
        plan(&mut Cursor::new(bytes), bytes.len() as u64)
    }

    #[test]
    fn sound_file_is_left_alone() {
        let p = plan_of(&wav(&[1, 0, 2, 0], 40, 4)).unwrap();
        assert!(!p.report.changed);
        assert_eq!(p.report.data_size, 4);
    }

    #[test]
    fn stale_zero_header_covers_the_audio_and_drops_a_partial_sample() {
        let p = plan_of(&wav(&[1, 0, 2, 0, 3], 0, 0)).unwrap();
        assert!(p.report.changed);
        assert_eq!(p.report.data_size, 4);
        assert_eq!(p.riff_size, 40);
        assert_eq!(p.report.truncated_bytes, 1);
    }

    #[test]
    fn header_larger_than_the_file_is_cut_to_the_file() {
        let p = plan_of(&wav(&[1, 0, 2, 0], u32::MAX, u32::MAX - 36)).unwrap();
        assert_eq!(p.report.data_size, 4);
        assert_eq!(p.riff_size, 40);
    }

    #[test]
    fn torn_marker_chunk_is_cut_off() {
        let mut bytes = wav(&[1, 0, 2, 0], 100, 4);
        bytes.extend_from_slice(b"cue \x1c\x00\x00\x00\x01\x00");
        let p = plan_of(&bytes).unwrap();
        assert_eq!(p.report.data_size, 4);
        assert_eq!(p.report.file_len, 48);
    }

    /// Applies a plan to an in-memory file, as [`repair`] does to a real one.
    fn apply(bytes: &mut Vec<u8>, p: &Plan) {
        bytes.truncate(p.report.file_len as usize);
        bytes[4..8].copy_from_slice(&p.riff_size.to_le_bytes());
        let at = p.data_size_offset as usize;
        bytes[at..at + 4].copy_from_slice(&p.report.data_size.to_le_bytes());
    }

    #[test]
    fn hostile_files_never_panic_and_one_repair_is_enough() {
        use rand::{Rng, SeedableRng, rngs::StdRng};
        let mut rng = StdRng::seed_from_u64(0x5741_5645);
        let mut sound = wav(&[7; 64], 100, 64);
        sound.extend_from_slice(b"cue \x04\x00\x00\x00\x00\x00\x00\x00");
        for _ in 0..20_000 {
            let mut bytes = sound.clone();
            for _ in 0..rng.random_range(0..4) {
                let i = rng.random_range(0..bytes.len());
                bytes[i] = rng.random();
            }
            bytes.truncate(rng.random_range(0..=bytes.len()));
            for _ in 0..rng.random_range(0..3) {
                bytes.push(rng.random());
            }
            let Ok(first) = plan_of(&bytes) else { continue };
            apply(&mut bytes, &first);
            let again = plan_of(&bytes).expect("a repaired file stays repairable");
            assert!(
                !again.report.changed,
                "{:?} then {:?}",
                first.report, again.report
            );
        }
    }

    #[test]
    fn garbage_is_bad_format() {
        assert!(matches!(
            plan_of(b"ID3\x04 not a wav at all"),
            Err(RecorderError::BadFormat { .. })
        ));
        assert!(matches!(plan_of(b""), Err(RecorderError::BadFormat { .. })));
        // RIFF/WAVE but cut before the data chunk's header.
        let bytes = wav(&[], 36, 0);
        assert!(matches!(
            plan_of(&bytes[..40]),
            Err(RecorderError::BadFormat { .. })
        ));
    }
}
