//! Parse + serialize of a typical INVITE with SDP (target: at least 200k messages/s on one
//! core). Run: `cargo bench --bench sip_parse`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n\
Via: SIP/2.0/TCP proxy.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101\r\n\
Max-Forwards: 69\r\n\
Record-Route: <sip:proxy.atlanta.example.com;lr>\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com;transport=udp>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n\
Supported: timer, replaces\r\n\
User-Agent: hotline-bench/0.1\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 224\r\n\
\r\n\
v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\n\
s=-\r\n\
c=IN IP4 192.0.2.101\r\n\
t=0 0\r\n\
m=audio 49172 RTP/AVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=sendrecv\r\n";

fn parse_and_write(c: &mut Criterion) {
    let mut group = c.benchmark_group("sip");
    group.throughput(Throughput::Elements(1));
    let mut out = Vec::with_capacity(2048);
    group.bench_function("parse+write INVITE", |b| {
        b.iter(|| {
            let msg =
                hotline_sip::message::parse(black_box(INVITE)).expect("bench INVITE is valid");
            out.clear();
            msg.write_to(&mut out);
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, parse_and_write);
criterion_main!(benches);
