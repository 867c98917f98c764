//! RTCP (RFC 3550 §6): compound packets, and the per-leg report state machine.
//!
//! Three parts:
//! - **Reading**: [`parse_compound`] walks a compound packet and yields one borrowed
//!   [`RtcpPacket`] per packet, decoding fields on access; it never allocates and never
//!   panics. Sender and receiver reports (with their report blocks), source descriptions
//!   and BYE are decoded; every other type (APP, XR, the RFC 4585 feedback messages) is
//!   handed over undecoded as [`RtcpPacket::Other`], skipped by its length field. A packet
//!   whose body is malformed but whose length field is sound yields an error and the walk
//!   goes on with the next one; a broken length field or padding count ends the walk.
//! - **Writing**: `write_*` functions append one packet each to a `Vec<u8>`, so a compound
//!   packet is built by calling them in turn (report first, RFC 3550 §6.1).
//! - **State**: [`RtcpState`] keeps one leg's reception statistics (RFC 3550 A.1, A.3,
//!   A.8), builds our SR or RR every report interval, and reads the peer's reports for the
//!   round-trip time (§6.4.1) and the peer's view of our stream.
//!
//! [`is_rtcp`] tells RTCP from RTP when both share one port (rtcp-mux, RFC 5761).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |V=2|P|   RC    |      PT       |     length (32-bit words - 1) |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! report block: SSRC | fraction lost (8) cumulative lost (24, signed) |
//!               extended highest seq | jitter | LSR | DLSR
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

/// Why bytes are not RTCP we can read, or a packet cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtcpError {
    /// Fewer than the 4 header bytes are left where a packet should start.
    #[error("RTCP packet shorter than its header ({len} bytes)")]
    TooShort {
        /// Bytes left.
        len: usize,
    },
    /// The version field is not 2.
    #[error("RTCP version {version}, expected 2")]
    BadVersion {
        /// The version found.
        version: u8,
    },
    /// The length field runs past the end of the datagram.
    #[error("RTCP packet type {packet_type} declares {declared} bytes, {available} left")]
    Truncated {
        /// The packet type.
        packet_type: u8,
        /// Bytes the length field declares.
        declared: usize,
        /// Bytes left in the datagram.
        available: usize,
    },
    /// The padding count is zero or larger than the packet.
    #[error("invalid RTCP padding length {padding}")]
    BadPadding {
        /// The padding count from the packet's last byte.
        padding: u8,
    },
    /// The body does not hold what its header announces (report blocks, SDES chunks,
    /// BYE sources or reason).
    #[error("malformed RTCP packet of type {packet_type}")]
    Malformed {
        /// The packet type.
        packet_type: u8,
    },
    /// The writer was given more than 31 report blocks or sources.
    #[error("{count} items do not fit the 5-bit count field")]
    TooManyItems {
        /// How many were given.
        count: usize,
    },
    /// The writer was given an SDES item or BYE reason longer than 255 bytes.
    #[error("text of {len} bytes does not fit an 8-bit length")]
    TextTooLong {
        /// Its length.
        len: usize,
    },
}

/// RFC 5761 §4 demultiplexing: whether a datagram on a shared RTP/RTCP port is RTCP.
///
/// Looks at the first two bytes only: version 2 and a second octet in 192..=223, the
/// range RFC 5761 keeps free of RTP payload types (64..=95, with or without the marker
/// bit). That covers SR, RR, SDES, BYE and APP (200..=204) as well as the feedback and XR
/// types (205..=207), which are RTCP too.
pub fn is_rtcp(first_bytes: &[u8]) -> bool {
    matches!(first_bytes, [b0, b1, ..] if b0 >> 6 == 2 && (192..=223).contains(b1))
}

/// The sender information of an SR (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// Wall-clock time of the report, NTP format (32.32 fixed point, seconds since 1900).
    pub ntp_timestamp: u64,
    /// The same instant on the sender's RTP clock.
    pub rtp_timestamp: u32,
    /// RTP packets sent since the stream started.
    pub packet_count: u32,
    /// RTP payload octets sent since the stream started.
    pub octet_count: u32,
}

/// One reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Packets lost since the previous report, as a fraction of 256.
    pub fraction_lost: u8,
    /// Packets lost since reception began (24-bit signed on the wire: duplicates can make
    /// it negative). The writer clamps it to -0x80_0000..=0x7F_FFFF.
    pub cumulative_lost: i32,
    /// The highest sequence number received, extended by the count of wrap-arounds.
    pub extended_highest_seq: u32,
    /// Interarrival jitter, in RTP timestamp units.
    pub jitter: u32,
    /// The middle 32 bits of the NTP timestamp of the last SR received from this source
    /// (0: none yet).
    pub last_sr: u32,
    /// Delay since that SR was received, in 1/65536 s (0: none yet).
    pub delay_since_last_sr: u32,
}

impl ReportBlock {
    /// Bytes of one block on the wire.
    pub const LEN: usize = 24;

    fn read(b: &[u8; Self::LEN]) -> Self {
        let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        // Sign-extend the 24-bit count: move it to the top byte, shift back arithmetically.
        let cumulative_lost = (u32::from_be_bytes([b[5], b[6], b[7], 0]) as i32) >> 8;
        ReportBlock {
            ssrc: word(0),
            fraction_lost: b[4],
            cumulative_lost,
            extended_highest_seq: word(8),
            jitter: word(12),
            last_sr: word(16),
            delay_since_last_sr: word(20),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        let lost = self.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF);
        let [_, l0, l1, l2] = lost.to_be_bytes();
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(&[self.fraction_lost, l0, l1, l2]);
        out.extend_from_slice(&self.extended_highest_seq.to_be_bytes());
        out.extend_from_slice(&self.jitter.to_be_bytes());
        out.extend_from_slice(&self.last_sr.to_be_bytes());
        out.extend_from_slice(&self.delay_since_last_sr.to_be_bytes());
    }
}

/// The report blocks of an SR or RR, decoded one at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlocks<'a> {
    bytes: &'a [u8],
}

impl Iterator for ReportBlocks<'_> {
    type Item = ReportBlock;

    fn next(&mut self) -> Option<ReportBlock> {
        let (block, rest) = self.bytes.split_first_chunk::<{ ReportBlock::LEN }>()?;
        self.bytes = rest;
        Some(ReportBlock::read(block))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.bytes.len() / ReportBlock::LEN;
        (n, Some(n))
    }
}

impl ExactSizeIterator for ReportBlocks<'_> {}

/// A sender report (PT 200).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport<'a> {
    /// The sender.
    pub ssrc: u32,
    /// What it sent, and when.
    pub info: SenderInfo,
    /// Its reports on the sources it receives.
    pub reports: ReportBlocks<'a>,
}

/// A receiver report (PT 201).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverReport<'a> {
    /// The reporter.
    pub ssrc: u32,
    /// Its reports on the sources it receives.
    pub reports: ReportBlocks<'a>,
}

/// SDES item type of the canonical name.
pub const SDES_CNAME: u8 = 1;

/// A source description (PT 202): one chunk per source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceDescription<'a> {
    count: u8,
    body: &'a [u8],
}

impl<'a> SourceDescription<'a> {
    /// The chunks, in order (the parser checked that all of them are well formed).
    pub fn chunks(&self) -> SdesChunks<'a> {
        SdesChunks {
            left: self.count,
            body: self.body,
            at: 0,
        }
    }
}

/// The chunks of a [`SourceDescription`].
#[derive(Debug, Clone)]
pub struct SdesChunks<'a> {
    left: u8,
    body: &'a [u8],
    at: usize,
}

impl<'a> Iterator for SdesChunks<'a> {
    type Item = SdesChunk<'a>;

    fn next(&mut self) -> Option<SdesChunk<'a>> {
        if self.left == 0 {
            return None;
        }
        let (chunk, next) = sdes_chunk(self.body, self.at)?;
        self.left -= 1;
        self.at = next;
        Some(chunk)
    }
}

/// Reads the chunk at `at` (4-byte aligned within `body`): the chunk and where the next
/// one starts, or `None` when it is malformed.
fn sdes_chunk(body: &[u8], at: usize) -> Option<(SdesChunk<'_>, usize)> {
    let &[a, b, c, d] = body.get(at..at.checked_add(4)?)? else {
        return None;
    };
    let items_start = at + 4;
    let mut i = items_start;
    loop {
        match body.get(i) {
            // Lenient: a chunk that ends with the packet needs no terminator.
            None => break,
            Some(0) => break,
            Some(_) => {
                let len = usize::from(*body.get(i + 1)?);
                let end = i + 2 + len;
                if end > body.len() {
                    return None;
                }
                i = end;
            }
        }
    }
    let items = &body[items_start..i];
    // Skip the null terminator and the padding up to the next 32-bit boundary.
    let next = ((i + 1).div_ceil(4) * 4).min(body.len());
    let ssrc = u32::from_be_bytes([a, b, c, d]);
    Some((SdesChunk { ssrc, items }, next))
}

/// One source's items in a [`SourceDescription`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesChunk<'a> {
    /// The source described.
    pub ssrc: u32,
    items: &'a [u8],
}

impl<'a> SdesChunk<'a> {
    /// The items, in order.
    pub fn items(&self) -> SdesItems<'a> {
        SdesItems { bytes: self.items }
    }

    /// The CNAME item's text, if present.
    pub fn cname(&self) -> Option<&'a [u8]> {
        self.items()
            .find(|item| item.kind == SDES_CNAME)
            .map(|item| item.value)
    }
}

/// The items of an [`SdesChunk`].
#[derive(Debug, Clone)]
pub struct SdesItems<'a> {
    bytes: &'a [u8],
}

/// One SDES item: its type (1 CNAME, 2 NAME, ... RFC 3550 §6.5) and text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesItem<'a> {
    /// The item type.
    pub kind: u8,
    /// Its text, as sent (UTF-8 by the RFC, not checked here).
    pub value: &'a [u8],
}

impl<'a> Iterator for SdesItems<'a> {
    type Item = SdesItem<'a>;

    fn next(&mut self) -> Option<SdesItem<'a>> {
        let [kind, len, rest @ ..] = self.bytes else {
            return None;
        };
        // `sdes_chunk` checked every item's length, so this split cannot fail; stop
        // rather than panic if it somehow did.
        let (value, rest) = rest.split_at_checked(usize::from(*len))?;
        self.bytes = rest;
        Some(SdesItem { kind: *kind, value })
    }
}

/// A BYE (PT 203): the sources leaving, and an optional reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Goodbye<'a> {
    ssrcs: &'a [u8],
    reason: Option<&'a [u8]>,
}

impl<'a> Goodbye<'a> {
    /// The sources leaving.
    pub fn ssrcs(&self) -> impl Iterator<Item = u32> + 'a {
        self.ssrcs
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// Why, if the sender said.
    pub fn reason(&self) -> Option<&'a [u8]> {
        self.reason
    }
}

/// A packet of a type not decoded here (APP, XR, RTPFB, PSFB, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtherPacket<'a> {
    /// The packet type.
    pub packet_type: u8,
    /// The 5-bit count / subtype field.
    pub count: u8,
    /// The body after the 4-byte header, without padding.
    pub body: &'a [u8],
}

/// One packet of a compound RTCP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtcpPacket<'a> {
    /// SR, PT 200.
    SenderReport(SenderReport<'a>),
    /// RR, PT 201.
    ReceiverReport(ReceiverReport<'a>),
    /// SDES, PT 202.
    SourceDescription(SourceDescription<'a>),
    /// BYE, PT 203.
    Goodbye(Goodbye<'a>),
    /// Any other type, skipped by its length.
    Other(OtherPacket<'a>),
}

impl RtcpPacket<'_> {
    /// Packet type of a sender report.
    pub const SR: u8 = 200;
    /// Packet type of a receiver report.
    pub const RR: u8 = 201;
    /// Packet type of a source description.
    pub const SDES: u8 = 202;
    /// Packet type of a BYE.
    pub const BYE: u8 = 203;
    /// Packet type of an application-defined packet.
    pub const APP: u8 = 204;

    /// The packet type.
    pub fn packet_type(&self) -> u8 {
        match self {
            RtcpPacket::SenderReport(_) => Self::SR,
            RtcpPacket::ReceiverReport(_) => Self::RR,
            RtcpPacket::SourceDescription(_) => Self::SDES,
            RtcpPacket::Goodbye(_) => Self::BYE,
            RtcpPacket::Other(o) => o.packet_type,
        }
    }
}

/// Walks the packets of a compound RTCP packet (see the module doc).
pub fn parse_compound(bytes: &[u8]) -> CompoundIter<'_> {
    CompoundIter { rest: bytes }
}

/// The iterator [`parse_compound`] returns.
#[derive(Debug, Clone)]
pub struct CompoundIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for CompoundIter<'a> {
    type Item = Result<RtcpPacket<'a>, RtcpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let bytes = self.rest;
        let result = frame(bytes);
        match result {
            Ok((packet_len, header, body)) => {
                self.rest = &bytes[packet_len..];
                Some(decode(header, body))
            }
            Err(e) => {
                // The framing is lost: nothing after this point can be trusted.
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// The first byte and packet type of a packet.
#[derive(Debug, Clone, Copy)]
struct Header {
    count: u8,
    packet_type: u8,
}

/// Splits off the packet at the start of `bytes`: its total length, header and body
/// (padding removed).
fn frame(bytes: &[u8]) -> Result<(usize, Header, &[u8]), RtcpError> {
    let &[b0, packet_type, hi, lo, ..] = bytes else {
        return Err(RtcpError::TooShort { len: bytes.len() });
    };
    let version = b0 >> 6;
    if version != 2 {
        return Err(RtcpError::BadVersion { version });
    }
    let declared = (usize::from(u16::from_be_bytes([hi, lo])) + 1) * 4;
    if declared > bytes.len() {
        return Err(RtcpError::Truncated {
            packet_type,
            declared,
            available: bytes.len(),
        });
    }
    let mut body = &bytes[4..declared];
    if b0 & 0x20 != 0 {
        // `declared >= 4`, and the body may be all padding; the count covers itself.
        let padding = bytes[declared - 1];
        if padding == 0 || usize::from(padding) > body.len() {
            return Err(RtcpError::BadPadding { padding });
        }
        body = &body[..body.len() - usize::from(padding)];
    }
    let header = Header {
        count: b0 & 0x1f,
        packet_type,
    };
    Ok((declared, header, body))
}

fn word(bytes: &[u8], at: usize) -> Option<u32> {
    let &[a, b, c, d] = bytes.get(at..at.checked_add(4)?)? else {
        return None;
    };
    Some(u32::from_be_bytes([a, b, c, d]))
}

fn decode<'a>(header: Header, body: &'a [u8]) -> Result<RtcpPacket<'a>, RtcpError> {
    let malformed = RtcpError::Malformed {
        packet_type: header.packet_type,
    };
    let count = usize::from(header.count);
    match header.packet_type {
        RtcpPacket::SR => {
            const INFO: usize = 24;
            let end = INFO + count * ReportBlock::LEN;
            let (Some(ssrc), Some(reports)) = (word(body, 0), body.get(INFO..end)) else {
                return Err(malformed);
            };
            // Both words exist: `body.get(INFO..end)` succeeded and INFO covers them.
            let w = |at| word(body, at).unwrap_or(0);
            let info = SenderInfo {
                ntp_timestamp: (u64::from(w(4)) << 32) | u64::from(w(8)),
                rtp_timestamp: w(12),
                packet_count: w(16),
                octet_count: w(20),
            };
            // Anything after the blocks is a profile-specific extension, ignored.
            Ok(RtcpPacket::SenderReport(SenderReport {
                ssrc,
                info,
                reports: ReportBlocks { bytes: reports },
            }))
        }
        RtcpPacket::RR => {
            let end = 4 + count * ReportBlock::LEN;
            let (Some(ssrc), Some(reports)) = (word(body, 0), body.get(4..end)) else {
                return Err(malformed);
            };
            Ok(RtcpPacket::ReceiverReport(ReceiverReport {
                ssrc,
                reports: ReportBlocks { bytes: reports },
            }))
        }
        RtcpPacket::SDES => {
            let mut at = 0;
            for _ in 0..count {
                let (_, next) = sdes_chunk(body, at).ok_or(malformed)?;
                at = next;
            }
            Ok(RtcpPacket::SourceDescription(SourceDescription {
                count: header.count,
                body,
            }))
        }
        RtcpPacket::BYE => {
            let ssrcs = body.get(..count * 4).ok_or(malformed)?;
            let reason = match body.get(count * 4..) {
                Some([len, text @ ..]) => Some(text.get(..usize::from(*len)).ok_or(malformed)?),
                _ => None,
            };
            Ok(RtcpPacket::Goodbye(Goodbye { ssrcs, reason }))
        }
        packet_type => Ok(RtcpPacket::Other(OtherPacket {
            packet_type,
            count: header.count,
            body,
        })),
    }
}

/// Appends a packet header; the length is patched by [`finish`].
fn start(out: &mut Vec<u8>, count: usize, packet_type: u8) -> Result<usize, RtcpError> {
    let count = u8::try_from(count)
        .ok()
        .filter(|c| *c <= 31)
        .ok_or(RtcpError::TooManyItems { count })?;
    let at = out.len();
    out.extend_from_slice(&[0x80 | count, packet_type, 0, 0]);
    Ok(at)
}

/// Pads the packet started at `at` to 32 bits and writes its length field.
fn finish(out: &mut Vec<u8>, at: usize) {
    while !(out.len() - at).is_multiple_of(4) {
        out.push(0);
    }
    // Every packet we write is far below 256 KiB (at most 31 items of 256 bytes), so the
    // word count fits 16 bits.
    let words = u16::try_from((out.len() - at) / 4 - 1).unwrap_or(u16::MAX);
    out[at + 2..at + 4].copy_from_slice(&words.to_be_bytes());
}

/// Appends a sender report.
pub fn write_sender_report(
    out: &mut Vec<u8>,
    ssrc: u32,
    info: &SenderInfo,
    reports: &[ReportBlock],
) -> Result<(), RtcpError> {
    let at = start(out, reports.len(), RtcpPacket::SR)?;
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(&info.ntp_timestamp.to_be_bytes());
    out.extend_from_slice(&info.rtp_timestamp.to_be_bytes());
    out.extend_from_slice(&info.packet_count.to_be_bytes());
    out.extend_from_slice(&info.octet_count.to_be_bytes());
    reports.iter().for_each(|r| r.write(out));
    finish(out, at);
    Ok(())
}

/// Appends a receiver report.
pub fn write_receiver_report(
    out: &mut Vec<u8>,
    ssrc: u32,
    reports: &[ReportBlock],
) -> Result<(), RtcpError> {
    let at = start(out, reports.len(), RtcpPacket::RR)?;
    out.extend_from_slice(&ssrc.to_be_bytes());
    reports.iter().for_each(|r| r.write(out));
    finish(out, at);
    Ok(())
}

/// Appends a source description with one chunk holding the CNAME.
pub fn write_sdes_cname(out: &mut Vec<u8>, ssrc: u32, cname: &str) -> Result<(), RtcpError> {
    let len = u8::try_from(cname.len()).map_err(|_| RtcpError::TextTooLong { len: cname.len() })?;
    let at = start(out, 1, RtcpPacket::SDES)?;
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(&[SDES_CNAME, len]);
    out.extend_from_slice(cname.as_bytes());
    out.push(0); // end of the item list; `finish` pads to 32 bits
    finish(out, at);
    Ok(())
}

/// Appends a BYE for `ssrcs`, with an optional reason.
pub fn write_bye(out: &mut Vec<u8>, ssrcs: &[u32], reason: Option<&str>) -> Result<(), RtcpError> {
    let reason_len = reason
        .map(|r| u8::try_from(r.len()).map_err(|_| RtcpError::TextTooLong { len: r.len() }))
        .transpose()?;
    let at = start(out, ssrcs.len(), RtcpPacket::BYE)?;
    ssrcs
        .iter()
        .for_each(|s| out.extend_from_slice(&s.to_be_bytes()));
    if let (Some(reason), Some(len)) = (reason, reason_len) {
        out.push(len);
        out.extend_from_slice(reason.as_bytes());
    }
    finish(out, at);
    Ok(())
}

/// Seconds between the NTP epoch (1900) and the Unix epoch (1970).
pub const NTP_UNIX_OFFSET_SECS: u64 = 2_208_988_800;

/// A duration as NTP 32.32 fixed point.
pub fn duration_to_ntp(d: Duration) -> u64 {
    (d.as_secs() << 32) + ((u64::from(d.subsec_nanos()) << 32) / 1_000_000_000)
}

/// The middle 32 bits of an NTP timestamp, as LSR carries it.
pub fn ntp_middle(ntp: u64) -> u32 {
    // Bits 16..48: the cast keeps exactly those.
    (ntp >> 16) as u32
}

/// A span in the 1/65536 s units of LSR and DLSR.
fn units_to_duration(units: u32) -> Duration {
    Duration::from_nanos(u64::from(units) * 1_000_000_000 / 65_536)
}

fn duration_to_units(d: Duration) -> u32 {
    u32::try_from(duration_to_ntp(d) >> 16).unwrap_or(u32::MAX)
}

/// RFC 3550 A.1 constants.
const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;
const MIN_SEQUENTIAL: u32 = 2;

/// How many of our own SRs are remembered to check the LSR a peer echoes.
const RECENT_SRS: usize = 4;

/// Cap on undrained outgoing compound packets.
const MAX_QUEUED: usize = 8;

/// What [`RtcpState`] needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcpConfig {
    /// Our RTP stream's SSRC (the RTP session's).
    pub ssrc: u32,
    /// Our CNAME, sent in every report (at most 255 bytes; longer ones are not sent).
    pub cname: String,
    /// The RTP clock rate of both streams.
    pub clock_rate: u32,
    /// The mean report interval (RFC 3550 §6.2: 5 s), randomised by ±50% each time.
    pub interval: Duration,
}

impl RtcpConfig {
    /// The default report interval.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

    /// A configuration at 8 kHz with the default interval.
    pub fn new(ssrc: u32, cname: impl Into<String>) -> Self {
        RtcpConfig {
            ssrc,
            cname: cname.into(),
            clock_rate: crate::CLOCK_RATE,
            interval: Self::DEFAULT_INTERVAL,
        }
    }
}

/// The peer's view of our stream, from a report block it sent about our SSRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteReport {
    /// The peer's SSRC.
    pub reporter: u32,
    /// Our packets it lost since its previous report, as a fraction of 256.
    pub fraction_lost: u8,
    /// Our packets it lost in all.
    pub cumulative_lost: i32,
    /// The highest sequence number of ours it received, extended.
    pub extended_highest_seq: u32,
    /// The interarrival jitter it measured on our stream.
    pub jitter: Duration,
    /// The round-trip time this report yields (RFC 3550 §6.4.1), if it echoed an SR of
    /// ours.
    pub rtt: Option<Duration>,
}

impl RemoteReport {
    /// [`fraction_lost`](Self::fraction_lost) as a number in `0.0..1.0`.
    pub fn loss_fraction(&self) -> f32 {
        f32::from(self.fraction_lost) / 256.0
    }
}

/// Our reception statistics of the peer's stream (RFC 3550 A.3, A.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceptionStats {
    /// The peer's SSRC.
    pub ssrc: u32,
    /// The highest sequence number received, extended.
    pub extended_highest_seq: u32,
    /// Packets expected since the stream became valid.
    pub expected: u64,
    /// Packets received (duplicates included, as the RFC counts them).
    pub received: u64,
    /// `expected - received`.
    pub cumulative_lost: i64,
    /// Interarrival jitter.
    pub jitter: Duration,
    /// The fraction lost we put in our last report, of 256.
    pub last_fraction_lost: u8,
}

/// What [`RtcpState`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtcpEvent {
    /// The peer reported on our stream.
    RemoteReport(RemoteReport),
    /// The peer sent a sender report.
    RemoteSender {
        /// The peer's SSRC.
        ssrc: u32,
        /// Its counts and clocks.
        info: SenderInfo,
    },
    /// A source left (BYE).
    Goodbye {
        /// The source.
        ssrc: u32,
    },
}

/// Counters, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtcpStats {
    /// Compound packets queued for sending.
    pub reports_sent: u64,
    /// Compound packets handed to [`RtcpState::handle_rtcp`].
    pub packets_in: u64,
    /// Of those, ones that held a packet we could not read.
    pub malformed_in: u64,
}

/// Reception state of the peer's stream (RFC 3550 A.1).
#[derive(Debug, Clone)]
struct Source {
    ssrc: u32,
    max_seq: u16,
    /// Wrap-arounds, shifted left by 16.
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    probation: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    /// Last transit time (arrival - timestamp, RTP units) and its timestamp.
    transit: Option<(u32, u32)>,
    /// Jitter × 16 (A.8).
    jitter: u32,
    last_fraction: u8,
}

impl Source {
    fn new(ssrc: u32, seq: u16) -> Self {
        let mut s = Source {
            ssrc,
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: 0,
            probation: MIN_SEQUENTIAL,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            transit: None,
            jitter: 0,
            last_fraction: 0,
        };
        s.init_seq(seq);
        s.max_seq = seq.wrapping_sub(1);
        s
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = (1 << 16) + 1; // never equals a 16-bit seq + 1 masked
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    /// RFC 3550 A.1 `update_seq`: whether the packet counts.
    fn update_seq(&mut self, seq: u16) -> bool {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    return true;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return false;
        }
        if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(1 << 16);
            }
            self.max_seq = seq;
        } else if udelta <= u16::MAX - MAX_MISORDER {
            // A very large jump: the sender restarted, or this is garbage. Two sequential
            // packets decide.
            if u32::from(seq) == self.bad_seq {
                self.init_seq(seq);
            } else {
                self.bad_seq = u32::from(seq.wrapping_add(1));
                return false;
            }
        }
        // else: a duplicate or a reordered packet; counted, max_seq unchanged.
        self.received = self.received.wrapping_add(1);
        true
    }

    fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    fn expected(&self) -> u32 {
        self.extended_max()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }

    /// RFC 3550 A.8, on the scaled integer form.
    fn update_jitter(&mut self, arrival: u32, timestamp: u32) {
        let transit = arrival.wrapping_sub(timestamp);
        match self.transit {
            // Packets sharing a timestamp (a telephone-event's updates) are not new
            // samples of the network's delay.
            Some((_, ts)) if ts == timestamp => return,
            Some((last, _)) => {
                let d = (transit.wrapping_sub(last) as i32).unsigned_abs();
                let j = i64::from(self.jitter) + i64::from(d) - ((i64::from(self.jitter) + 8) >> 4);
                self.jitter = u32::try_from(j.max(0)).unwrap_or(u32::MAX);
            }
            None => {}
        }
        self.transit = Some((transit, timestamp));
    }

    fn is_valid(&self) -> bool {
        self.probation == 0
    }

    /// Builds the report block and starts the next interval.
    fn report(&mut self, last_sr: u32, delay_since_last_sr: u32) -> ReportBlock {
        let expected = self.expected();
        let lost = i64::from(expected) - i64::from(self.received);
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            u8::try_from((lost_interval << 8) / i64::from(expected_interval)).unwrap_or(255)
        };
        self.last_fraction = fraction;
        ReportBlock {
            ssrc: self.ssrc,
            fraction_lost: fraction,
            cumulative_lost: i32::try_from(lost.clamp(-0x80_0000, 0x7F_FFFF)).unwrap_or(0),
            extended_highest_seq: self.extended_max(),
            jitter: self.jitter >> 4,
            last_sr,
            delay_since_last_sr,
        }
    }
}

/// One leg's RTCP: reception statistics, our reports, and the peer's (sans-IO).
///
/// Inputs: every RTP packet received ([`handle_received_rtp`](Self::handle_received_rtp))
/// and sent ([`handle_sent_rtp`](Self::handle_sent_rtp)), every RTCP datagram received
/// ([`handle_rtcp`](Self::handle_rtcp)), and the passage of time
/// ([`handle_timeout`](Self::handle_timeout)), each with the driver's `now`.
///
/// Wall-clock time enters once: [`new`](Self::new) takes the NTP timestamp of its `now`,
/// and every later NTP timestamp is that plus the monotonic time since, so a wall-clock
/// step cannot distort the round-trip time. Arrival times in RTP units (for jitter) are
/// likewise counted from creation at [`RtcpConfig::clock_rate`].
///
/// Reports: the first one `interval / 2` after creation, then one per `interval`, each
/// delay multiplied by a factor drawn uniformly from 0.5..1.5 (RFC 3550 §6.2 and A.7,
/// simplified for a two-party session: no member count, no bandwidth share). A report is
/// an SR when we sent RTP since the report before last, else an RR; it carries a report
/// block on the peer's stream once that stream is valid (two packets in sequence, A.1),
/// and an SDES with our CNAME. [`bye`](Self::bye) sends a final report with a BYE and
/// stops the timer.
///
/// Draining rule: after each `handle_*` call, call [`poll_transmit`](Self::poll_transmit)
/// until `None` (send each compound packet to the peer's RTCP address, or its RTP address
/// with rtcp-mux), then [`poll_event`](Self::poll_event) until `None`, then call
/// `handle_timeout` no later than [`poll_timeout`](Self::poll_timeout). At most a few
/// undrained packets are kept; older ones are dropped.
#[derive(Debug)]
pub struct RtcpState {
    config: RtcpConfig,
    rng: StdRng,
    /// The creation instant, and our NTP time then.
    epoch: Instant,
    epoch_ntp: u64,
    next_report: Option<Instant>,
    /// When our last and previous reports went out.
    last_report_at: Option<Instant>,
    previous_report_at: Option<Instant>,
    // Our sending.
    packets_sent: u32,
    octets_sent: u32,
    last_sent: Option<(Instant, u32)>,
    /// Middle 32 bits of our recent SRs' NTP timestamps.
    recent_srs: [u32; RECENT_SRS],
    recent_next: usize,
    // The peer.
    source: Option<Source>,
    /// The peer's last SR: its SSRC, LSR value and arrival.
    peer_sr: Option<(u32, u32, Instant)>,
    remote_report: Option<RemoteReport>,
    rtt: Option<Duration>,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<RtcpEvent>,
    stats: RtcpStats,
}

impl RtcpState {
    /// A new leg at `now`, whose wall clock reads `ntp` (NTP format: see
    /// [`duration_to_ntp`] and [`NTP_UNIX_OFFSET_SECS`]). The report timer's randomness is
    /// seeded from `rng`.
    pub fn new<R: RngCore + ?Sized>(
        now: Instant,
        ntp: u64,
        config: RtcpConfig,
        rng: &mut R,
    ) -> Self {
        let mut rng = StdRng::seed_from_u64(rng.next_u64());
        let first = now + randomise(&mut rng, config.interval / 2);
        RtcpState {
            config,
            rng,
            epoch: now,
            epoch_ntp: ntp,
            next_report: Some(first),
            last_report_at: None,
            previous_report_at: None,
            packets_sent: 0,
            octets_sent: 0,
            last_sent: None,
            recent_srs: [0; RECENT_SRS],
            recent_next: 0,
            source: None,
            peer_sr: None,
            remote_report: None,
            rtt: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: RtcpStats::default(),
        }
    }

    /// Our NTP time at `t`.
    pub fn ntp_at(&self, t: Instant) -> u64 {
        match t.checked_duration_since(self.epoch) {
            Some(d) => self.epoch_ntp.wrapping_add(duration_to_ntp(d)),
            None => self
                .epoch_ntp
                .wrapping_sub(duration_to_ntp(self.epoch.duration_since(t))),
        }
    }

    /// `t` on an RTP clock that reads 0 at creation.
    fn rtp_units_at(&self, t: Instant) -> u32 {
        let d = t.saturating_duration_since(self.epoch);
        let units = d.as_nanos() * u128::from(self.config.clock_rate) / 1_000_000_000;
        // RTP time wraps at 2^32 by design.
        units as u32
    }

    /// An RTP packet from the peer arrived at `now`.
    pub fn handle_received_rtp(&mut self, now: Instant, ssrc: u32, sequence: u16, timestamp: u32) {
        let arrival = self.rtp_units_at(now);
        let source = match &mut self.source {
            Some(s) if s.ssrc == ssrc => s,
            slot => slot.insert(Source::new(ssrc, sequence)),
        };
        if source.update_seq(sequence) {
            source.update_jitter(arrival, timestamp);
        }
    }

    /// We sent an RTP packet at `now` with this timestamp and `payload_len` payload bytes.
    pub fn handle_sent_rtp(&mut self, now: Instant, timestamp: u32, payload_len: usize) {
        self.packets_sent = self.packets_sent.wrapping_add(1);
        // The octet count wraps at 2^32 by definition (RFC 3550 §6.4.1).
        self.octets_sent = self.octets_sent.wrapping_add(payload_len as u32);
        self.last_sent = Some((now, timestamp));
    }

    /// An RTCP datagram from the peer arrived at `now`. Every readable packet in it is
    /// used; the first unreadable one is returned, for the caller's logs.
    pub fn handle_rtcp(&mut self, now: Instant, bytes: &[u8]) -> Result<(), RtcpError> {
        self.stats.packets_in += 1;
        let mut first_error = None;
        for packet in parse_compound(bytes) {
            let packet = match packet {
                Ok(p) => p,
                Err(e) => {
                    first_error.get_or_insert(e);
                    continue;
                }
            };
            match packet {
                RtcpPacket::SenderReport(sr) if sr.ssrc != self.config.ssrc => {
                    self.peer_sr = Some((sr.ssrc, ntp_middle(sr.info.ntp_timestamp), now));
                    self.events.push_back(RtcpEvent::RemoteSender {
                        ssrc: sr.ssrc,
                        info: sr.info,
                    });
                    sr.reports.for_each(|b| self.handle_block(now, sr.ssrc, &b));
                }
                RtcpPacket::ReceiverReport(rr) if rr.ssrc != self.config.ssrc => {
                    rr.reports.for_each(|b| self.handle_block(now, rr.ssrc, &b));
                }
                RtcpPacket::Goodbye(bye) => {
                    for ssrc in bye.ssrcs().filter(|s| *s != self.config.ssrc) {
                        self.events.push_back(RtcpEvent::Goodbye { ssrc });
                    }
                }
                _ => {}
            }
        }
        match first_error {
            Some(e) => {
                self.stats.malformed_in += 1;
                Err(e)
            }
            None => Ok(()),
        }
    }

    fn handle_block(&mut self, now: Instant, reporter: u32, block: &ReportBlock) {
        if block.ssrc != self.config.ssrc {
            return;
        }
        let rtt = (block.last_sr != 0 && self.recent_srs.contains(&block.last_sr))
            .then(|| {
                let a = ntp_middle(self.ntp_at(now));
                let since_sr = a.wrapping_sub(block.last_sr);
                // A peer that claims to have held our SR longer than it has been out
                // (clock trouble, or a lie) yields no sample.
                since_sr
                    .checked_sub(block.delay_since_last_sr)
                    .map(units_to_duration)
            })
            .flatten();
        if rtt.is_some() {
            self.rtt = rtt;
        }
        let rate = u64::from(self.config.clock_rate.max(1));
        let report = RemoteReport {
            reporter,
            fraction_lost: block.fraction_lost,
            cumulative_lost: block.cumulative_lost,
            extended_highest_seq: block.extended_highest_seq,
            jitter: Duration::from_nanos(u64::from(block.jitter) * 1_000_000_000 / rate),
            rtt,
        };
        self.remote_report = Some(report);
        self.events.push_back(RtcpEvent::RemoteReport(report));
    }

    /// Sends a report if one is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(due) = self.next_report else {
            return;
        };
        if now < due {
            return;
        }
        let mut out = self.report(now);
        // Our SSRC and the CNAME length are checked; a CNAME over 255 bytes is left out.
        let _ = write_sdes_cname(&mut out, self.config.ssrc, &self.config.cname);
        self.queue(out);
        self.next_report = Some(now + randomise(&mut self.rng, self.config.interval));
    }

    /// Ends the leg: queues a last report with a BYE (optionally with a reason, at most
    /// 255 bytes, else left out) and stops the timer.
    pub fn bye(&mut self, now: Instant, reason: Option<&str>) {
        if self.next_report.is_none() {
            return;
        }
        let mut out = self.report(now);
        let _ = write_sdes_cname(&mut out, self.config.ssrc, &self.config.cname);
        let ssrc = [self.config.ssrc];
        if write_bye(&mut out, &ssrc, reason).is_err() {
            // Only an over-long reason fails; a BYE without it still says goodbye.
            let _ = write_bye(&mut out, &ssrc, None);
        }
        self.queue(out);
        self.next_report = None;
    }

    /// Builds our SR or RR at `now` and starts a new reporting interval.
    fn report(&mut self, now: Instant) -> Vec<u8> {
        let peer_sr = self.peer_sr;
        let block = self.source.as_mut().filter(|s| s.is_valid()).map(|s| {
            let (lsr, dlsr) = match peer_sr {
                Some((ssrc, lsr, at)) if ssrc == s.ssrc => {
                    (lsr, duration_to_units(now.saturating_duration_since(at)))
                }
                _ => (0, 0),
            };
            s.report(lsr, dlsr)
        });
        let blocks = block.as_slice();
        let sent_recently = match (self.last_sent, self.previous_report_at) {
            (Some((at, _)), Some(previous)) => at > previous,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let mut out = Vec::with_capacity(128);
        // At most one block: the writers cannot fail.
        if let (true, Some((sent_at, ts))) = (sent_recently, self.last_sent) {
            let ntp = self.ntp_at(now);
            let elapsed = self
                .rtp_units_at(now)
                .wrapping_sub(self.rtp_units_at(sent_at));
            let info = SenderInfo {
                ntp_timestamp: ntp,
                rtp_timestamp: ts.wrapping_add(elapsed),
                packet_count: self.packets_sent,
                octet_count: self.octets_sent,
            };
            let _ = write_sender_report(&mut out, self.config.ssrc, &info, blocks);
            self.recent_srs[self.recent_next] = ntp_middle(ntp);
            self.recent_next = (self.recent_next + 1) % RECENT_SRS;
        } else {
            let _ = write_receiver_report(&mut out, self.config.ssrc, blocks);
        }
        self.previous_report_at = self.last_report_at;
        self.last_report_at = Some(now);
        out
    }

    fn queue(&mut self, packet: Vec<u8>) {
        if self.transmits.len() >= MAX_QUEUED {
            self.transmits.pop_front();
        }
        self.transmits.push_back(packet);
        self.stats.reports_sent += 1;
    }

    /// The next compound packet to send.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<RtcpEvent> {
        self.events.pop_front()
    }

    /// When the next report is due (`None` after [`bye`](Self::bye)).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_report
    }

    /// The latest round-trip time measured.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// The peer's latest report on our stream.
    pub fn remote_report(&self) -> Option<&RemoteReport> {
        self.remote_report.as_ref()
    }

    /// Our statistics of the peer's stream, once it is valid.
    pub fn reception(&self) -> Option<ReceptionStats> {
        let s = self.source.as_ref().filter(|s| s.is_valid())?;
        let expected = u64::from(s.expected());
        let received = u64::from(s.received);
        let rate = u64::from(self.config.clock_rate.max(1));
        Some(ReceptionStats {
            ssrc: s.ssrc,
            extended_highest_seq: s.extended_max(),
            expected,
            received,
            cumulative_lost: i64::from(s.expected()) - i64::from(s.received),
            jitter: Duration::from_nanos(u64::from(s.jitter >> 4) * 1_000_000_000 / rate),
            last_fraction_lost: s.last_fraction,
        })
    }

    /// Counters.
    pub fn stats(&self) -> &RtcpStats {
        &self.stats
    }

    /// The configuration.
    pub fn config(&self) -> &RtcpConfig {
        &self.config
    }
}

/// `interval` times a factor drawn uniformly from 0.5..1.5.
fn randomise(rng: &mut StdRng, interval: Duration) -> Duration {
    interval.mul_f64(rng.random_range(0.5..1.5))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(ssrc: u32, lost: i32) -> ReportBlock {
        ReportBlock {
            ssrc,
            fraction_lost: 25,
            cumulative_lost: lost,
            extended_highest_seq: 0x0001_0005,
            jitter: 40,
            last_sr: 0xAABB_CCDD,
            delay_since_last_sr: 65_536,
        }
    }

    #[test]
    fn report_block_round_trip_with_signed_loss() {
        for lost in [0, 1, -1, 0x7F_FFFF, -0x80_0000] {
            let mut out = Vec::new();
            write_receiver_report(&mut out, 9, &[block(7, lost)]).unwrap();
            assert_eq!(out.len(), 8 + 24);
            let Some(Ok(RtcpPacket::ReceiverReport(rr))) = parse_compound(&out).next() else {
                panic!("not an RR");
            };
            assert_eq!(rr.reports.collect::<Vec<_>>(), [block(7, lost)]);
        }
        // Out-of-range counts are clamped to 24 bits.
        let mut out = Vec::new();
        write_receiver_report(&mut out, 9, &[block(7, i32::MAX), block(8, i32::MIN)]).unwrap();
        let Some(Ok(RtcpPacket::ReceiverReport(rr))) = parse_compound(&out).next() else {
            panic!("not an RR");
        };
        let lost: Vec<_> = rr.reports.map(|b| b.cumulative_lost).collect();
        assert_eq!(lost, [0x7F_FFFF, -0x80_0000]);
    }

    #[test]
    fn demux() {
        assert!(is_rtcp(&[0x80, 200]));
        assert!(is_rtcp(&[0x81, 201, 0, 7]));
        assert!(is_rtcp(&[0x80, 207])); // XR
        assert!(!is_rtcp(&[0x80, 0])); // PCMU
        assert!(!is_rtcp(&[0x80, 0x80 | 8])); // PCMA with the marker
        assert!(!is_rtcp(&[0x80, 101]));
        assert!(!is_rtcp(&[0x40, 200])); // version 1
        assert!(!is_rtcp(&[0x80]));
    }

    #[test]
    fn ntp_conversions() {
        assert_eq!(duration_to_ntp(Duration::from_millis(1500)), 0x1_8000_0000);
        assert_eq!(ntp_middle(0x1234_5678_9ABC_DEF0), 0x5678_9ABC);
        assert_eq!(units_to_duration(65_536), Duration::from_secs(1));
        assert_eq!(duration_to_units(Duration::from_millis(250)), 16_384);
    }
}
