//! Fuzz the RTP packet view: `RtpPacket::parse` never panics; on a packet that parses, the
//! accessors stay in bounds and agree with the layout (CSRCs, extension, padding), and its
//! header fields written back with `RtpHeader` (and the same payload) parse to the same
//! fields. A packet with no padding, CSRC or extension comes back byte for byte.
//!
//! Run: `cargo +nightly fuzz run rtp -- -max_len=2048`

#![no_main]

use hotline_media::rtp::{RtpHeader, RtpPacket};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = RtpPacket::parse(data) else {
        return;
    };
    assert_eq!(p.as_bytes(), data);
    assert_eq!(data[0] >> 6, 2, "version 2");

    // Layout: fixed header, CSRCs, extension, payload, padding, in that order.
    let csrc_count = usize::from(data[0] & 0x0f);
    let csrcs: Vec<u32> = p.csrcs().collect();
    assert_eq!(csrcs.len(), csrc_count);
    let mut header_len = RtpPacket::FIXED_HEADER_LEN + 4 * csrc_count;
    assert_eq!(p.extension().is_some(), data[0] & 0x10 != 0);
    if let Some((id, ext)) = p.extension() {
        assert_eq!(ext.len() % 4, 0);
        assert_eq!(
            u16::from_be_bytes([data[header_len], data[header_len + 1]]),
            id
        );
        header_len += 4 + ext.len();
    }
    let padding = if p.has_padding() {
        usize::from(data[data.len() - 1])
    } else {
        0
    };
    assert_eq!(header_len + p.payload().len() + padding, data.len());
    assert_eq!(
        p.payload(),
        &data[header_len..data.len() - padding],
        "payload"
    );

    // Write the header fields back and read them again.
    let header = RtpHeader {
        marker: p.marker(),
        payload_type: p.payload_type(),
        sequence: p.sequence(),
        timestamp: p.timestamp(),
        ssrc: p.ssrc(),
    };
    let mut out = vec![0u8; RtpHeader::LEN + p.payload().len()];
    let n = header
        .write(p.payload(), &mut out)
        .expect("a parsed header writes");
    assert_eq!(n, out.len());
    let q = RtpPacket::parse(&out).expect("a written packet parses");
    assert_eq!(q.marker(), p.marker());
    assert_eq!(q.payload_type(), p.payload_type());
    assert_eq!(q.sequence(), p.sequence());
    assert_eq!(q.timestamp(), p.timestamp());
    assert_eq!(q.ssrc(), p.ssrc());
    assert_eq!(q.payload(), p.payload());
    assert!(!q.has_padding());
    assert_eq!(q.csrcs().count(), 0);
    assert_eq!(q.extension(), None);

    let mut vec_out = vec![0xAA; 3];
    header
        .write_header_to_vec(&mut vec_out)
        .expect("a parsed header writes");
    assert_eq!(vec_out, header.to_bytes().expect("a parsed header writes"));
    assert_eq!(&out[..RtpHeader::LEN], &vec_out[..]);

    if data[0] & 0x3f == 0 {
        // Nothing but the fixed header and the payload: the writer reproduces the input.
        assert_eq!(out, data, "plain packet round trip");
    }
});
