//! RFC 4475 torture messages (sip/tests/torture/, exact bytes, described in INDEX.tsv):
//! every file gets exactly the outcome the RFC asks of a UAS, every message that parses
//! round-trips through `write_to`, and a few thousand seeded mutations of them never panic
//! the codec and keep the round-trip invariant (the stable-toolchain twin of
//! `fuzz/fuzz_targets/sip_message.rs`).

use std::path::{Path, PathBuf};

use hotline_sip::message::{
    Capabilities, Frame, HeaderName, Message, Method, Scheme, frame, parse,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/torture")
}

struct Entry {
    file: String,
    expected: String,
}

fn index() -> Vec<Entry> {
    let text = std::fs::read_to_string(dir().join("INDEX.tsv")).expect("INDEX.tsv");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert!(cols.len() >= 3, "bad INDEX line {l:?}");
            Entry {
                file: cols[0].to_owned(),
                expected: cols[2].to_owned(),
            }
        })
        .collect()
}

fn read(file: &str) -> Vec<u8> {
    std::fs::read(dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The endpoint under test: defaults, plus multipart/mixed so that mpart01's MESSAGE is
/// accepted (a UA that does not take multipart would rightly answer it 415).
fn caps() -> Capabilities {
    let mut caps = Capabilities::default();
    caps.accepted_types.push("multipart/mixed".to_owned());
    caps
}

/// What a UAS must do with each file.
#[derive(Debug)]
enum Outcome {
    /// Parses and validates.
    Valid,
    /// A request refused with one of these statuses, by `parse` (with a ready response) or
    /// by `validate`.
    Invalid(&'static [u16]),
    /// A response that must be discarded.
    Drop,
    /// Parses, and `validate` refuses it with this status.
    SyntaxReject(u16),
}

fn outcome(file: &str) -> Outcome {
    use Outcome::*;
    match file {
        "badinv01.dat"
        | "clerr.dat"
        | "ncl.dat"
        | "scalar02.dat"
        | "quotbal.dat"
        | "ltgtruri.dat"
        | "lwsruri.dat"
        | "lwsstart.dat"
        | "trws.dat"
        | "escruri.dat"
        | "baddate.dat"
        | "regbadct.dat"
        | "badaspec.dat"
        | "baddn.dat"
        | "mismatch01.dat"
        | "test.dat"
        | "errata-variants/baddn.crlf-terminated.dat" => Invalid(&[400]),
        "badvers.dat" => Invalid(&[505]),
        "mismatch02.dat" => Invalid(&[400, 501]),
        "scalarlg.dat" | "bigcode.dat" => Drop,
        "insuf.dat" | "multi01.dat" | "mcl01.dat" => SyntaxReject(400),
        "unkscm.dat" | "novelsc.dat" => SyntaxReject(416),
        "bext01.dat" => SyntaxReject(420),
        "invut.dat" => SyntaxReject(415),
        "sdp01.dat" => SyntaxReject(406),
        _ => Valid,
    }
}

/// parse(write(m)) == m. `write_to` emits one Content-Length matching the body; a message
/// read with several Content-Length lines (which `validate` refuses) comes back with one.
fn assert_round_trip(m: &Message, what: &str) {
    let wire = m.to_bytes();
    let again = parse(&wire).unwrap_or_else(|e| {
        panic!(
            "{what}: re-parse failed: {e}\n{}",
            String::from_utf8_lossy(&wire)
        )
    });
    let mut expected = m.clone();
    let body_len = match &expected {
        Message::Request(r) => r.body.len(),
        Message::Response(r) => r.body.len(),
    };
    if expected
        .headers()
        .get_all(&HeaderName::ContentLength)
        .count()
        > 1
    {
        expected
            .headers_mut()
            .set(HeaderName::ContentLength, body_len.to_string());
    }
    assert_eq!(again, expected, "{what}: round trip changed the message");
    assert_eq!(again.to_bytes(), wire, "{what}: writing is not idempotent");
}

fn check_file(file: &str, bytes: &[u8]) {
    let caps = caps();
    let parsed = parse(bytes);
    // Shown with --nocapture: which layer decided.
    match &parsed {
        Err(e) => eprintln!("{file:45} parse error {:?}: {e}", e.status),
        Ok(Message::Request(r)) => match r.validate(&caps) {
            Ok(()) => eprintln!("{file:45} ok"),
            Err(rej) => eprintln!("{file:45} validate {} {}", rej.status, rej.reason),
        },
        Ok(Message::Response(r)) => eprintln!("{file:45} ok (response {})", r.status),
    }
    if let Ok(m) = &parsed {
        assert_round_trip(m, file);
    }
    match outcome(file) {
        Outcome::Valid => {
            let m = parsed.unwrap_or_else(|e| panic!("{file}: valid but parse failed: {e:?}"));
            if let Message::Request(r) = &m {
                r.validate(&caps)
                    .unwrap_or_else(|rej| panic!("{file}: valid but refused: {rej:?}"));
            }
        }
        Outcome::Invalid(statuses) => match parsed {
            Err(e) => {
                assert!(e.is_request(), "{file}: {e:?}");
                let status = e
                    .status
                    .unwrap_or_else(|| panic!("{file}: no status: {e:?}"));
                assert!(statuses.contains(&status), "{file}: answered {status}, {e}");
                match e.response() {
                    Some(resp) => {
                        assert_eq!(resp.status, status);
                        let req_h = e.recovered.as_ref().expect("recovered headers");
                        assert_eq!(resp.headers.call_id(), req_h.call_id(), "{file}");
                        assert_eq!(
                            resp.headers.get_all(&HeaderName::Via).count(),
                            req_h.get_all(&HeaderName::Via).count()
                        );
                        // Echoed headers are copied as they came, malformed or not.
                        let wire = resp.to_bytes();
                        assert!(wire.starts_with(format!("SIP/2.0 {status} ").as_bytes()));
                    }
                    // Nowhere to send it: test.dat has no Via.
                    None => assert_eq!(file, "test.dat", "{file}: no response formed"),
                }
            }
            Ok(Message::Request(r)) => {
                let rej = r
                    .validate(&caps)
                    .expect_err(&format!("{file}: invalid request accepted"));
                assert!(statuses.contains(&rej.status), "{file}: refused {rej:?}");
            }
            Ok(Message::Response(_)) => panic!("{file}: expected a request"),
        },
        Outcome::Drop => {
            let e = parsed.expect_err(&format!("{file}: response should be discarded"));
            assert!(!e.is_request());
            assert_eq!(e.status, None);
            assert!(e.response().is_none());
        }
        Outcome::SyntaxReject(status) => {
            let m = parsed.unwrap_or_else(|e| panic!("{file}: parse failed: {e:?}"));
            let Message::Request(r) = m else {
                panic!("{file}: expected a request")
            };
            let rej = r.validate(&caps).expect_err(file);
            assert_eq!(rej.status, status, "{file}: {rej:?}");
            match file {
                "bext01.dat" => {
                    let (name, tags) = &rej.headers[0];
                    assert_eq!(*name, HeaderName::Unsupported);
                    assert_eq!(tags, "nothingSupportsThis, nothingSupportsThisEither");
                }
                "invut.dat" => {
                    assert!(rej.headers.iter().any(|(n, v)| *n == HeaderName::Accept
                        && v.contains("application/sdp")));
                }
                _ => {}
            }
        }
    }
}

#[test]
fn every_torture_file_gets_its_outcome() {
    let entries = index();
    let mut counts = [0usize; 4];
    for e in &entries {
        let bytes = read(&e.file);
        let o = outcome(&e.file);
        let category = match o {
            Outcome::Valid => "valid",
            Outcome::Invalid(_) | Outcome::Drop => "invalid",
            Outcome::SyntaxReject(_) => "valid-syntax-reject",
        };
        assert_eq!(category, e.expected, "{}: INDEX category disagrees", e.file);
        counts[match o {
            Outcome::Valid => 0,
            Outcome::Invalid(_) => 1,
            Outcome::Drop => 2,
            Outcome::SyntaxReject(_) => 3,
        }] += 1;
        check_file(&e.file, &bytes);
    }
    // Every file on disk is described.
    for sub in ["", "errata-variants"] {
        for f in std::fs::read_dir(dir().join(sub)).expect("torture dir") {
            let name = f
                .expect("dir entry")
                .file_name()
                .into_string()
                .expect("utf-8 name");
            if name.ends_with(".dat") {
                let rel = if sub.is_empty() {
                    name
                } else {
                    format!("{sub}/{name}")
                };
                assert!(
                    entries.iter().any(|e| e.file == rel),
                    "{rel} not in INDEX.tsv"
                );
            }
        }
    }
    eprintln!(
        "torture: {} files: {} valid, {} invalid requests, {} dropped responses, {} valid-syntax-reject",
        entries.len(),
        counts[0],
        counts[1],
        counts[2],
        counts[3]
    );
    assert!(entries.len() >= 50);
}

fn request(file: &str) -> hotline_sip::message::Request {
    match parse(&read(file)) {
        Ok(Message::Request(r)) => r,
        other => panic!("{file}: {other:?}"),
    }
}

fn response(file: &str) -> hotline_sip::message::Response {
    match parse(&read(file)) {
        Ok(Message::Response(r)) => r,
        other => panic!("{file}: {other:?}"),
    }
}

#[test]
fn tortuous_values_are_read_right() {
    let r = request("wsinv.dat");
    assert_eq!(
        r.headers
            .to()
            .and_then(|t| t.tag().map(str::to_owned))
            .as_deref(),
        Some("1918181833n")
    );
    let from = r.headers.from().expect("From");
    assert_eq!(from.display.as_deref(), Some(r#"J Rosenberg \""#));
    assert_eq!(from.tag(), Some("98asjd8"));
    assert_eq!(r.headers.max_forwards(), Some(68));
    let cseq = r.headers.cseq().expect("CSeq");
    assert_eq!((cseq.seq, cseq.method), (9, Method::Invite));
    let vias = r.headers.vias();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[1].branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(vias[2].host, "192.168.255.111");
    let contact = &r.headers.contacts()[0];
    assert_eq!(contact.display.as_deref(), Some(r#"Quoted string """#));
    assert_eq!(contact.params.get("q"), Some(Some("0.33")));
    assert_eq!(r.headers.get(&HeaderName::Subject), Some(""));
    assert_eq!(
        r.headers.get(&HeaderName::Other("NewFangledHeader".into())),
        Some("newfangled value continued newfangled value")
    );
    assert_eq!(r.body.len(), 150);

    let r = request("intmeth.dat");
    assert_eq!(
        r.method,
        Method::Extension("!interesting-Method0123456789_*+`.%indeed'~".into())
    );
    let to = r.headers.to().expect("To");
    assert_eq!(to.display.as_deref(), Some("BEL:\x07 NUL:\0 DEL:\x7f"));
    let from = r.headers.from().expect("From");
    assert_eq!(
        from.display.as_deref(),
        Some("token1~` token2'+_ token3*%!.-")
    );
    assert_eq!(
        from.params.get("fromParam''~+*_!.-%"),
        Some(Some("работающий"))
    );

    let r = request("esc01.dat");
    assert_eq!(
        r.uri.user_unescaped().as_deref(),
        Some("sips:user@example.com")
    );
    let r = request("escnull.dat");
    assert_eq!(
        r.headers
            .to()
            .and_then(|t| t.uri.user_unescaped())
            .as_deref(),
        Some("null-\0-null")
    );
    let users: Vec<_> = r
        .headers
        .contacts()
        .iter()
        .filter_map(|c| c.uri.user_unescaped())
        .collect();
    assert_eq!(users, ["\0", "\0\0"]);

    let r = request("esc02.dat");
    assert_eq!(r.method, Method::Extension("RE%47IST%45R".into()));
    assert_eq!(r.headers.contacts().len(), 2);

    let r = request("dblreq.dat");
    assert_eq!(r.method, Method::Register);
    assert!(r.body.is_empty());

    let r = request("semiuri.dat");
    assert_eq!(r.uri.user.as_deref(), Some("user;par=u%40example.net"));
    assert!(r.uri.params.is_empty());
    assert_eq!(r.headers.values(&HeaderName::Accept).len(), 6);

    let r = request("transports.dat");
    let transports: Vec<_> = r.headers.vias().into_iter().map(|v| v.transport).collect();
    assert_eq!(transports, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);

    let r = request("longreq.dat");
    assert_eq!(r.headers.vias().len(), 34);
    assert_eq!(r.headers.to().and_then(|t| t.uri.port), Some(6000));

    let r = request("mpart01.dat");
    assert_eq!(r.body.len(), 553);
    assert!(r.body.contains(&0));

    let r = request("inv2543.dat");
    assert_eq!(
        r.headers
            .top_via()
            .and_then(|v| v.branch().map(str::to_owned)),
        None
    );
    assert_eq!(r.body.len(), 105);
    assert_eq!(r.headers.content_length(), Some(105));

    let r = request("badbranch.dat");
    assert_eq!(
        r.headers
            .top_via()
            .and_then(|v| v.branch().map(str::to_owned))
            .as_deref(),
        Some("z9hG4bK")
    );

    let r = request("unksm2.dat");
    assert_eq!(
        r.headers.to().map(|t| t.uri.scheme),
        Some(Scheme::Other("isbn".into()))
    );
    assert_eq!(
        r.headers.contacts()[0].uri.opaque.as_deref(),
        Some("John_Smith")
    );

    let r = request("cparam01.dat");
    let c = &r.headers.contacts()[0];
    assert_eq!(c.params.get("unknownparam"), Some(None));
    assert!(c.uri.params.is_empty());
    let r = request("cparam02.dat");
    let c = &r.headers.contacts()[0];
    assert_eq!(c.uri.params.get("unknownparam"), Some(None));
    assert!(c.params.is_empty());

    let r = request("regescrt.dat");
    assert_eq!(r.headers.contacts()[0].uri.headers[0].0, "Route");

    let r = request("zeromf.dat");
    assert_eq!(r.headers.max_forwards(), Some(0));
    let r = request("lwsdisp.dat");
    assert_eq!(
        r.headers.from().and_then(|f| f.display).as_deref(),
        Some("caller")
    );

    let resp = response("noreason.dat");
    assert_eq!((resp.status, resp.reason.as_str()), (100, ""));
    let resp = response("unreason.dat");
    assert!(resp.reason.starts_with("= 2**3 * 5**2 \u{043d}\u{043e}"));
    let resp = response("bcast.dat");
    assert_eq!(resp.headers.vias()[1].host, "255.255.255.255");
}

// ---- seeded mutations: the fuzz target's invariants on stable ----

/// The fuzz target's body: never panic; a message that parses round-trips; validation and
/// framing accept whatever they are given.
fn exercise(bytes: &[u8]) {
    if let Ok(m) = parse(bytes) {
        assert_round_trip(&m, "mutant");
        if let Message::Request(r) = &m {
            let _ = r.validate(&Capabilities::default());
        }
        for v in m.headers().vias() {
            let again = hotline_sip::message::Via::parse(&v.to_string()).expect("Via display");
            assert_eq!(again, v);
        }
        for n in m
            .headers()
            .contacts()
            .into_iter()
            .chain(m.headers().from())
            .chain(m.headers().to())
        {
            let again =
                hotline_sip::message::NameAddr::parse(&n.to_string()).expect("name-addr display");
            assert_eq!(again, n);
        }
    } else if let Err(e) = parse(bytes)
        && let Some(resp) = e.response()
    {
        // Echoed headers are copied as they came (possibly malformed); writing never fails.
        assert!(resp.to_bytes().starts_with(b"SIP/2.0 "));
    }
    match frame(bytes, 8192) {
        Frame::Complete(n) => {
            assert!(n <= bytes.len());
            let _ = parse(&bytes[..n]);
        }
        Frame::KeepAlive(n) => assert!(n > 0 && n <= bytes.len()),
        Frame::Incomplete | Frame::Invalid(_) => {}
    }
}

const SPICE: &[&[u8]] = &[
    b"\r\n",
    b"\r\n ",
    b" ",
    b"\t",
    b";",
    b",",
    b"\"",
    b"<",
    b">",
    b":",
    b"@",
    b"%",
    b"%0",
    b"\\",
    b"=",
    b"?",
    b"\r",
    b"\n",
    b"\0",
    b"\xff",
    b"\xd0",
    b"SIP/2.0",
    b"Content-Length: 99999999999999999999\r\n",
    b"l: 3\r\n",
    b"Via: SIP/2.0/UDP x\r\n",
    b"\r\n\r\n",
];

fn mutate(rng: &mut StdRng, input: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let len = b.len();
        let at = rng.random_range(0..=len);
        match rng.random_range(0..7) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                b[i] = rng.random();
            }
            1 if len > 0 => {
                let end = (at + rng.random_range(1..16)).min(len);
                b.drain(at.min(end)..end);
            }
            2 => {
                let s = SPICE[rng.random_range(0..SPICE.len())];
                b.splice(at..at, s.iter().copied());
            }
            3 if len > 0 => {
                let start = rng.random_range(0..len);
                let end = (start + rng.random_range(1..64)).min(len);
                let chunk = b[start..end].to_vec();
                b.splice(at..at, chunk);
            }
            4 => b.truncate(at),
            5 if len > 0 => {
                let i = rng.random_range(0..len);
                const PUNCT: &[u8] = b" ;,:\"<>\r\n\t%@";
                b[i] = PUNCT[rng.random_range(0..PUNCT.len())];
            }
            _ => {
                // Swap two lines.
                let lines: Vec<&[u8]> = b.split_inclusive(|c| *c == b'\n').collect();
                if lines.len() > 2 {
                    let (i, j) = (
                        rng.random_range(1..lines.len()),
                        rng.random_range(1..lines.len()),
                    );
                    let mut l: Vec<Vec<u8>> = lines.iter().map(|x| x.to_vec()).collect();
                    l.swap(i, j);
                    b = l.concat();
                }
            }
        }
    }
    b
}

#[test]
fn seeded_mutations_keep_the_invariants() {
    let mut seeds: Vec<Vec<u8>> = index().iter().map(|e| read(&e.file)).collect();
    seeds.push(Vec::new());
    let mut rng = StdRng::seed_from_u64(0x5eed_4475);
    let mut parsed = 0usize;
    let total = 6000;
    for i in 0..total {
        let seed = &seeds[i % seeds.len()];
        let mutant = mutate(&mut rng, seed);
        exercise(&mutant);
        parsed += usize::from(parse(&mutant).is_ok());
    }
    for seed in &seeds {
        exercise(seed);
    }
    eprintln!("mutants: {parsed} of {total} parsed");
    // The mutations must leave a fair share parseable, or the round trip is not exercised.
    assert!(
        parsed > total / 10,
        "only {parsed} of {total} mutants parsed"
    );
}
