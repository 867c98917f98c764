//! RTP packets (RFC 3550 §5.1): a zero-copy view for reading and a header writer.
//!
//! [`RtpPacket::parse`] checks a datagram and returns a view over the caller's bytes; it
//! never allocates and never panics, whatever the input. Header extensions (§5.3.1) are
//! skipped over (their bytes stay reachable through [`RtpPacket::extension`]); padding
//! (§5.1, `P` bit) is removed from the payload.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |V=2|P|X|  CC   |M|     PT      |       sequence number         |
//! |                           timestamp                           |
//! |           synchronization source (SSRC) identifier            |
//! |            contributing source (CSRC) identifiers (CC)        |
//! ```

/// Why a datagram is not an RTP packet we can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtpError {
    /// Shorter than the 12-byte fixed header.
    #[error("RTP packet shorter than the fixed header ({len} bytes)")]
    TooShort {
        /// Datagram length.
        len: usize,
    },
    /// The version field is not 2.
    #[error("RTP version {version}, expected 2")]
    BadVersion {
        /// The version found.
        version: u8,
    },
    /// The CSRC list runs past the end of the datagram.
    #[error("CSRC list truncated")]
    TruncatedCsrc,
    /// The header extension runs past the end of the datagram.
    #[error("header extension truncated")]
    TruncatedExtension,
    /// The padding count is zero or larger than what follows the header.
    #[error("invalid padding length {padding}")]
    BadPadding {
        /// The padding count from the last byte.
        padding: u8,
    },
    /// The output buffer cannot hold the packet being written.
    #[error("output buffer too small: need {need} bytes, have {have}")]
    BufferTooSmall {
        /// Bytes required.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// A payload type above 127 was given to the writer.
    #[error("payload type {0} does not fit in 7 bits")]
    BadPayloadType(u8),
}

/// A checked, borrowed RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    bytes: &'a [u8],
    /// Offset of the header extension (its 4-byte header), if the X bit is set.
    extension_at: Option<usize>,
    payload_start: usize,
    payload_end: usize,
}

impl<'a> RtpPacket<'a> {
    /// Length of the fixed header.
    pub const FIXED_HEADER_LEN: usize = 12;

    /// Checks `bytes` as an RTP packet and returns a view over it.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, RtpError> {
        let len = bytes.len();
        let [b0, _, _, _, _, _, _, _, _, _, _, _, ..] = *bytes else {
            return Err(RtpError::TooShort { len });
        };
        let version = b0 >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion { version });
        }
        let has_padding = b0 & 0x20 != 0;
        let has_extension = b0 & 0x10 != 0;
        let csrc_count = usize::from(b0 & 0x0f);

        let mut at = Self::FIXED_HEADER_LEN + 4 * csrc_count;
        if at > len {
            return Err(RtpError::TruncatedCsrc);
        }
        let mut extension_at = None;
        if has_extension {
            let Some(&[_, _, hi, lo]) = bytes.get(at..at + 4) else {
                return Err(RtpError::TruncatedExtension);
            };
            let words = usize::from(u16::from_be_bytes([hi, lo]));
            let end = at + 4 + 4 * words;
            if end > len {
                return Err(RtpError::TruncatedExtension);
            }
            extension_at = Some(at);
            at = end;
        }
        let mut payload_end = len;
        if has_padding {
            // `len >= 12`, so there is a last byte.
            let padding = bytes[len - 1];
            if padding == 0 || usize::from(padding) > len - at {
                return Err(RtpError::BadPadding { padding });
            }
            payload_end = len - usize::from(padding);
        }
        Ok(RtpPacket {
            bytes,
            extension_at,
            payload_start: at,
            payload_end,
        })
    }

    fn byte(&self, i: usize) -> u8 {
        // Only called with i < 12, and `parse` checked len >= 12.
        self.bytes[i]
    }

    fn u32_at(&self, i: usize) -> u32 {
        u32::from_be_bytes([
            self.byte(i),
            self.byte(i + 1),
            self.byte(i + 2),
            self.byte(i + 3),
        ])
    }

    /// The whole datagram.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The marker bit (for audio: first packet of a talkspurt; for RFC 4733: event start).
    pub fn marker(&self) -> bool {
        self.byte(1) & 0x80 != 0
    }

    /// The 7-bit payload type.
    pub fn payload_type(&self) -> u8 {
        self.byte(1) & 0x7f
    }

    /// The sequence number.
    pub fn sequence(&self) -> u16 {
        u16::from_be_bytes([self.byte(2), self.byte(3)])
    }

    /// The RTP timestamp.
    pub fn timestamp(&self) -> u32 {
        self.u32_at(4)
    }

    /// The synchronisation source.
    pub fn ssrc(&self) -> u32 {
        self.u32_at(8)
    }

    /// Whether the padding bit was set (the padding is already cut from the payload).
    pub fn has_padding(&self) -> bool {
        self.byte(0) & 0x20 != 0
    }

    /// The contributing sources, in order.
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + 'a {
        let count = usize::from(self.byte(0) & 0x0f);
        // `parse` checked that 12 + 4 * count bytes exist.
        self.bytes[Self::FIXED_HEADER_LEN..Self::FIXED_HEADER_LEN + 4 * count]
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// The header extension as `(profile-defined id, data)`, if present.
    pub fn extension(&self) -> Option<(u16, &'a [u8])> {
        let at = self.extension_at?;
        // `parse` checked these bounds.
        let id = u16::from_be_bytes([self.bytes[at], self.bytes[at + 1]]);
        Some((id, &self.bytes[at + 4..self.payload_start]))
    }

    /// The payload, without header, extension or padding.
    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[self.payload_start..self.payload_end]
    }
}

/// The fields of an outgoing RTP header (version 2, no padding, no CSRC, no extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// Marker bit.
    pub marker: bool,
    /// Payload type, 0..=127.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
}

impl RtpHeader {
    /// Length of the header this writes.
    pub const LEN: usize = RtpPacket::FIXED_HEADER_LEN;

    /// The 12 header bytes.
    pub fn to_bytes(&self) -> Result<[u8; Self::LEN], RtpError> {
        if self.payload_type > 0x7f {
            return Err(RtpError::BadPayloadType(self.payload_type));
        }
        let mut h = [0u8; Self::LEN];
        h[0] = 0x80;
        h[1] = self.payload_type | if self.marker { 0x80 } else { 0 };
        h[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        h[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        h[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        Ok(h)
    }

    /// Writes header and payload into `out` and returns the packet length.
    pub fn write(&self, payload: &[u8], out: &mut [u8]) -> Result<usize, RtpError> {
        let need = Self::LEN + payload.len();
        if out.len() < need {
            return Err(RtpError::BufferTooSmall {
                need,
                have: out.len(),
            });
        }
        out[..Self::LEN].copy_from_slice(&self.to_bytes()?);
        out[Self::LEN..need].copy_from_slice(payload);
        Ok(need)
    }

    /// Clears `out` and writes the header into it, leaving the payload to be appended.
    /// Reuses `out`'s capacity, so a recycled buffer does not allocate.
    pub fn write_header_to_vec(&self, out: &mut Vec<u8>) -> Result<(), RtpError> {
        let header = self.to_bytes()?;
        out.clear();
        out.extend_from_slice(&header);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> RtpHeader {
        RtpHeader {
            marker: true,
            payload_type: 8,
            sequence: 0xBEEF,
            timestamp: 0x0102_0304,
            ssrc: 0xDEAD_BEEF,
        }
    }

    #[test]
    fn write_then_parse() {
        let mut buf = [0u8; 64];
        let n = header().write(b"abc", &mut buf).unwrap();
        assert_eq!(n, 15);
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        assert!(p.marker());
        assert_eq!(p.payload_type(), 8);
        assert_eq!(p.sequence(), 0xBEEF);
        assert_eq!(p.timestamp(), 0x0102_0304);
        assert_eq!(p.ssrc(), 0xDEAD_BEEF);
        assert_eq!(p.payload(), b"abc");
        assert_eq!(p.csrcs().count(), 0);
        assert_eq!(p.extension(), None);
    }

    #[test]
    fn csrc_extension_and_padding() {
        let mut b = vec![0xB2, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]; // V=2 P X CC=2
        b.extend_from_slice(&[0, 0, 0, 10, 0, 0, 0, 11]); // CSRCs
        b.extend_from_slice(&[0xBE, 0xDE, 0, 1, 1, 2, 3, 4]); // one-word extension
        b.extend_from_slice(b"payload");
        b.extend_from_slice(&[0, 0, 3]); // 3 bytes of padding
        let p = RtpPacket::parse(&b).unwrap();
        assert_eq!(p.csrcs().collect::<Vec<_>>(), [10, 11]);
        assert_eq!(p.extension(), Some((0xBEDE, &[1u8, 2, 3, 4][..])));
        assert_eq!(p.payload(), b"payload");
        assert!(p.has_padding());
    }

    #[test]
    fn rejects_bad_packets() {
        assert_eq!(RtpPacket::parse(&[]), Err(RtpError::TooShort { len: 0 }));
        assert_eq!(
            RtpPacket::parse(&[0x80; 11]),
            Err(RtpError::TooShort { len: 11 })
        );
        let mut v1 = [0u8; 12];
        v1[0] = 0x40;
        assert_eq!(
            RtpPacket::parse(&v1),
            Err(RtpError::BadVersion { version: 1 })
        );
        let mut cc = [0u8; 12];
        cc[0] = 0x81;
        assert_eq!(RtpPacket::parse(&cc), Err(RtpError::TruncatedCsrc));
        let mut ext = [0u8; 16];
        ext[0] = 0x90;
        ext[15] = 1;
        assert_eq!(RtpPacket::parse(&ext), Err(RtpError::TruncatedExtension));
        let mut pad = [0u8; 13];
        pad[0] = 0xA0;
        assert_eq!(
            RtpPacket::parse(&pad),
            Err(RtpError::BadPadding { padding: 0 })
        );
        pad[12] = 2;
        assert_eq!(
            RtpPacket::parse(&pad),
            Err(RtpError::BadPadding { padding: 2 })
        );
        pad[12] = 1;
        assert_eq!(RtpPacket::parse(&pad).unwrap().payload(), b"");
    }

    #[test]
    fn writer_checks_its_inputs() {
        let mut small = [0u8; 13];
        assert_eq!(
            header().write(b"ab", &mut small),
            Err(RtpError::BufferTooSmall { need: 14, have: 13 })
        );
        let bad = RtpHeader {
            payload_type: 128,
            ..header()
        };
        assert_eq!(bad.to_bytes(), Err(RtpError::BadPayloadType(128)));
        let mut v = vec![9; 40];
        header().write_header_to_vec(&mut v).unwrap();
        assert_eq!(v.len(), 12);
    }

    #[test]
    fn every_prefix_of_a_packet_is_handled() {
        let mut b = vec![0xB1, 0x80, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 9];
        b.extend_from_slice(&[0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 2]);
        for n in 0..=b.len() {
            let _ = RtpPacket::parse(&b[..n]).map(|p| (p.payload().len(), p.csrcs().count()));
        }
    }
}
