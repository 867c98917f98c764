//! SDP (RFC 4566) for audio calls, and the offer/answer rules of RFC 3264.
//!
//! [`SessionDescription::parse`] reads what phones, PBXs and trunks send: the session lines
//! (`v=`, `o=`, `s=`, `c=`, `t=`), media sections (`m=`, `c=`) and the attributes an audio
//! call needs (`a=rtpmap`, `a=fmtp`, `a=ptime`, the four direction attributes, `a=rtcp`).
//! It parses leniently and answers strictly:
//! - lines we do not model (`i=`, `b=`, `k=`, unknown letters, unknown `a=`) are kept, in
//!   order, so what we parse can be written back ([`std::fmt::Display`], CRLF line ends);
//! - a malformed *optional* attribute (say `a=rtpmap:x`) is kept as
//!   [`Attribute::Other`] and otherwise ignored;
//! - a malformed *required* line (`v=`, `o=`, `c=`, `t=`, `m=`) is an [`SdpError`] naming
//!   the line; nothing in here panics on input.
//!
//! [`answer`] applies RFC 3264 §6 to an offer: one answer `m=` line per offered one, the
//! first usable audio stream accepted and every other stream rejected with port 0.
//!
//! Codecs: G.711 always ([`LocalMedia::codecs`]); G.722 (`G722/8000`, static type 9) and Opus
//! (`opus/48000/2`, a dynamic type, answered with `a=fmtp:<pt> useinbandfec=1`) when listed
//! in [`LocalMedia::extra_codecs`], as [`LocalMedia::wideband`] does. Alongside the codec
//! the answer keeps telephone-event (RFC 4733) and comfort noise (`CN`, RFC 3389) when
//! offered at the codec's clock rate and enabled locally.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use crate::cn;
use crate::codec::AudioCodec;
use crate::g711::Codec;

/// Why an SDP body is unusable. Parse errors (the body is malformed, a SIP 400) are apart
/// from negotiation errors (well-formed but nothing we can accept, a SIP 488); see
/// [`SdpError::is_negotiation_failure`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// The body is not UTF-8.
    #[error("SDP is not valid UTF-8")]
    NotUtf8,
    /// A line is not of the form `<letter>=<value>`.
    #[error("SDP line {line}: expected `<type>=<value>`")]
    MalformedLine {
        /// 1-based line number.
        line: usize,
    },
    /// The first line is not `v=0`.
    #[error("SDP must start with `v=0`")]
    BadVersion,
    /// A required line is missing.
    #[error("SDP has no `{0}=` line")]
    MissingLine(char),
    /// A required line (`o=`, `c=`, `t=`, `m=`) is malformed.
    #[error("SDP line {line}: malformed `{kind}=` line")]
    BadLine {
        /// 1-based line number.
        line: usize,
        /// The line type letter.
        kind: char,
    },
    /// The offer has no audio stream at all.
    #[error("offer has no audio stream")]
    NoAudioStream,
    /// Audio is offered only over transports we do not speak (e.g. `RTP/SAVP`).
    #[error("offered audio transport {protocol} is not supported")]
    UnsupportedTransport {
        /// The first offered audio protocol.
        protocol: String,
    },
    /// No offered codec is one we support.
    #[error("no common audio codec")]
    NoCommonCodec,
    /// The accepted audio stream has neither a media-level nor a session-level `c=`.
    #[error("audio stream has no connection address")]
    MissingConnection,
}

impl SdpError {
    /// True for offers that are well formed but cannot be accepted (SIP 488 Not Acceptable
    /// Here); false for malformed bodies (SIP 400 Bad Request).
    pub fn is_negotiation_failure(&self) -> bool {
        matches!(
            self,
            SdpError::NoAudioStream
                | SdpError::UnsupportedTransport { .. }
                | SdpError::NoCommonCodec
        )
    }
}

/// Media direction (RFC 3264 §5.1), from the offerer's or answerer's own point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// `a=sendrecv` (the default).
    #[default]
    SendRecv,
    /// `a=sendonly`.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "sendrecv" => Direction::SendRecv,
            "sendonly" => Direction::SendOnly,
            "recvonly" => Direction::RecvOnly,
            "inactive" => Direction::Inactive,
            _ => return None,
        })
    }

    /// The answer to an offer with this direction (RFC 3264 §6.1): what the peer sends we
    /// receive and vice versa.
    pub fn reverse(self) -> Self {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    /// Whether this side sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether this side receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    fn without_send(self) -> Self {
        match self {
            Direction::SendRecv => Direction::RecvOnly,
            Direction::SendOnly => Direction::Inactive,
            d => d,
        }
    }
}

/// `o=` (RFC 4566 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// User name, `-` when none.
    pub username: String,
    /// Session id.
    pub session_id: u64,
    /// Session version, incremented on each new offer or answer in a dialog.
    pub session_version: u64,
    /// `IP4` or `IP6` (kept as written).
    pub address_type: String,
    /// The originator's address (may be a host name).
    pub address: String,
}

/// `c=` (RFC 4566 §5.7), unicast; a multicast TTL or count suffix is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    /// The address media is sent to. `0.0.0.0` is the legacy "hold" address.
    pub address: IpAddr,
}

/// `t=` (RFC 4566 §5.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timing {
    /// Start time (NTP seconds, 0 = unbounded).
    pub start: u64,
    /// Stop time (NTP seconds, 0 = unbounded).
    pub stop: u64,
}

/// `a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]` (RFC 4566 §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// Payload type.
    pub payload_type: u8,
    /// Encoding name, as written (compare case-insensitively).
    pub encoding: String,
    /// Clock rate in Hz.
    pub clock_rate: u32,
    /// Channel count, when given.
    pub channels: Option<u16>,
}

/// `a=rtcp:<port> [IN IP4 <addr>]` (RFC 3605).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpAttribute {
    /// RTCP port.
    pub port: u16,
    /// RTCP address, when it differs from the `c=` address.
    pub address: Option<IpAddr>,
}

/// One `a=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// `a=rtpmap`.
    RtpMap(RtpMap),
    /// `a=fmtp:<pt> <parameters>`.
    Fmtp {
        /// Payload type.
        payload_type: u8,
        /// Format parameters, as written.
        parameters: String,
    },
    /// `a=ptime:<ms>`.
    Ptime(u32),
    /// `a=sendrecv`, `a=sendonly`, `a=recvonly`, `a=inactive`.
    Direction(Direction),
    /// `a=rtcp`.
    Rtcp(RtcpAttribute),
    /// Any other attribute, or a known one we could not read.
    Other {
        /// Attribute name.
        name: String,
        /// Value after the first `:`, if any.
        value: Option<String>,
    },
}

/// A line we keep but do not model (`i=`, `b=`, `k=`, `r=`, `z=`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The type letter.
    pub kind: char,
    /// The value after `=`.
    pub value: String,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// `audio`, `video`, ...
    pub media: String,
    /// Transport port; 0 means the stream is rejected or disabled.
    pub port: u16,
    /// The `/<number of ports>` suffix, when given.
    pub port_count: Option<u16>,
    /// `RTP/AVP`, `RTP/SAVP`, ...
    pub protocol: String,
    /// Formats, as written (payload type numbers for RTP).
    pub formats: Vec<String>,
    /// Media-level `c=`.
    pub connection: Option<Connection>,
    /// `a=` lines, in order.
    pub attributes: Vec<Attribute>,
    /// Other lines, in order.
    pub other_lines: Vec<Line>,
}

impl MediaDescription {
    /// The `a=rtpmap` for a payload type.
    pub fn rtpmap(&self, payload_type: u8) -> Option<&RtpMap> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::RtpMap(m) if m.payload_type == payload_type => Some(m),
            _ => None,
        })
    }

    /// The `a=fmtp` parameters for a payload type.
    pub fn fmtp(&self, payload_type: u8) -> Option<&str> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Fmtp {
                payload_type: pt,
                parameters,
            } if *pt == payload_type => Some(parameters.as_str()),
            _ => None,
        })
    }

    /// The media-level direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        find_direction(&self.attributes)
    }

    /// `a=ptime`, if any.
    pub fn ptime(&self) -> Option<u32> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Ptime(p) => Some(*p),
            _ => None,
        })
    }

    /// `a=rtcp`, if any.
    pub fn rtcp(&self) -> Option<RtcpAttribute> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Rtcp(r) => Some(*r),
            _ => None,
        })
    }

    /// The formats that are RTP payload type numbers, in offer order.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats.iter().filter_map(|f| f.parse::<u8>().ok())
    }
}

fn find_direction(attributes: &[Attribute]) -> Option<Direction> {
    attributes.iter().find_map(|a| match a {
        Attribute::Direction(d) => Some(*d),
        _ => None,
    })
}

/// A whole SDP body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=`.
    pub origin: Origin,
    /// `s=` (`-` when absent on input).
    pub session_name: String,
    /// Session-level `c=`.
    pub connection: Option<Connection>,
    /// The first `t=` (`0 0` when absent on input).
    pub timing: Timing,
    /// Session-level `a=` lines, in order.
    pub attributes: Vec<Attribute>,
    /// Other session-level lines, in order.
    pub other_lines: Vec<Line>,
    /// `m=` sections, in order.
    pub media: Vec<MediaDescription>,
}

impl SessionDescription {
    /// Parses an SDP body (see the module doc for what is tolerated).
    pub fn parse(bytes: &[u8]) -> Result<Self, SdpError> {
        let text = std::str::from_utf8(bytes).map_err(|_| SdpError::NotUtf8)?;
        text.parse()
    }

    /// The session-level direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        find_direction(&self.attributes)
    }

    /// The effective direction of a media section: its own attribute, else the session's,
    /// else `sendrecv`.
    pub fn media_direction(&self, media: &MediaDescription) -> Direction {
        media.direction().or(self.direction()).unwrap_or_default()
    }
}

impl FromStr for SessionDescription {
    type Err = SdpError;

    fn from_str(text: &str) -> Result<Self, SdpError> {
        let mut lines = text
            .split('\n')
            .enumerate()
            .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
            .filter(|(_, l)| !l.trim().is_empty());

        match lines.next() {
            Some((_, l)) if l.trim_end() == "v=0" => {}
            _ => return Err(SdpError::BadVersion),
        }

        let mut origin = None;
        let mut session_name = None;
        let mut connection = None;
        let mut timing = None;
        let mut attributes = Vec::new();
        let mut other_lines = Vec::new();
        let mut media: Vec<MediaDescription> = Vec::new();

        for (n, raw) in lines {
            let (kind, value) = split_line(raw).ok_or(SdpError::MalformedLine { line: n })?;
            let bad = || SdpError::BadLine { line: n, kind };
            if kind == 'm' {
                media.push(parse_media_line(value).ok_or_else(bad)?);
                continue;
            }
            if let Some(m) = media.last_mut() {
                match kind {
                    'c' if m.connection.is_none() => {
                        m.connection = Some(parse_connection(value).ok_or_else(bad)?);
                    }
                    'a' => m.attributes.push(parse_attribute(value)),
                    'c' => {} // a second media-level c= (multicast layering): ignored
                    _ => m.other_lines.push(line(kind, value)),
                }
                continue;
            }
            match kind {
                'o' if origin.is_none() => origin = Some(parse_origin(value).ok_or_else(bad)?),
                's' if session_name.is_none() => session_name = Some(value.to_owned()),
                'c' if connection.is_none() => {
                    connection = Some(parse_connection(value).ok_or_else(bad)?);
                }
                't' if timing.is_none() => timing = Some(parse_timing(value).ok_or_else(bad)?),
                'a' => attributes.push(parse_attribute(value)),
                'o' | 's' | 'c' | 'v' => {} // duplicates of single lines: ignored
                _ => other_lines.push(line(kind, value)),
            }
        }

        let mut sd = SessionDescription {
            origin: origin.ok_or(SdpError::MissingLine('o'))?,
            session_name: session_name.unwrap_or_else(|| "-".to_owned()),
            connection,
            timing: timing.unwrap_or_default(),
            attributes,
            other_lines,
            media,
        };
        // Canonical order, so that writing and re-parsing gives the same value.
        sd.other_lines.sort_by_key(|l| session_line_rank(l.kind));
        for m in &mut sd.media {
            m.other_lines.sort_by_key(|l| media_line_rank(l.kind));
        }
        Ok(sd)
    }
}

fn line(kind: char, value: &str) -> Line {
    Line {
        kind,
        value: value.to_owned(),
    }
}

/// Where an unmodelled session-level line goes when written (RFC 4566 §5 order):
/// 0 before `c=`, 1 between `c=` and `t=`, 2 after `t=`, 3 before the attributes,
/// 4 after them.
fn session_line_rank(kind: char) -> u8 {
    match kind {
        'i' | 'u' | 'e' | 'p' => 0,
        'b' => 1,
        't' | 'r' | 'z' => 2,
        'k' => 3,
        _ => 4,
    }
}

/// Media level: 0 before `c=`, 1 between `c=` and the attributes, 2 after them.
fn media_line_rank(kind: char) -> u8 {
    match kind {
        'i' => 0,
        'b' | 'k' => 1,
        _ => 2,
    }
}

fn split_line(line: &str) -> Option<(char, &str)> {
    let mut chars = line.chars();
    let kind = chars.next()?;
    if !kind.is_ascii_alphabetic() || chars.next()? != '=' {
        return None;
    }
    // Both characters checked above are ASCII, so byte 2 is a char boundary.
    Some((kind, line.get(2..)?.trim_end()))
}

fn parse_origin(value: &str) -> Option<Origin> {
    let f: Vec<&str> = value.split_ascii_whitespace().collect();
    let [username, id, version, net, address_type, address] = f[..] else {
        return None;
    };
    if net != "IN" {
        return None;
    }
    Some(Origin {
        username: username.to_owned(),
        session_id: id.parse().ok()?,
        session_version: version.parse().ok()?,
        address_type: address_type.to_owned(),
        address: address.to_owned(),
    })
}

fn parse_connection(value: &str) -> Option<Connection> {
    let f: Vec<&str> = value.split_ascii_whitespace().collect();
    let [net, address_type, address] = f[..] else {
        return None;
    };
    parse_address(net, address_type, address).map(|address| Connection { address })
}

/// `IN IP4 <addr>` / `IN IP6 <addr>`, with an optional multicast `/ttl` suffix dropped.
fn parse_address(net: &str, address_type: &str, address: &str) -> Option<IpAddr> {
    let address: IpAddr = address.split('/').next()?.parse().ok()?;
    let type_matches = match address {
        IpAddr::V4(_) => address_type.eq_ignore_ascii_case("IP4"),
        IpAddr::V6(_) => address_type.eq_ignore_ascii_case("IP6"),
    };
    (net == "IN" && type_matches).then_some(address)
}

fn parse_timing(value: &str) -> Option<Timing> {
    let mut f = value.split_ascii_whitespace();
    let t = Timing {
        start: f.next()?.parse().ok()?,
        stop: f.next()?.parse().ok()?,
    };
    f.next().is_none().then_some(t)
}

fn parse_media_line(value: &str) -> Option<MediaDescription> {
    let mut f = value.split_ascii_whitespace();
    let media = f.next()?.to_owned();
    let ports = f.next()?;
    let (port, port_count) = match ports.split_once('/') {
        Some((p, n)) => (p.parse().ok()?, Some(n.parse().ok()?)),
        None => (ports.parse().ok()?, None),
    };
    let protocol = f.next()?.to_owned();
    let formats: Vec<String> = f.map(str::to_owned).collect();
    if formats.is_empty() {
        return None;
    }
    Some(MediaDescription {
        media,
        port,
        port_count,
        protocol,
        formats,
        connection: None,
        attributes: Vec::new(),
        other_lines: Vec::new(),
    })
}

fn parse_attribute(value: &str) -> Attribute {
    let (name, arg) = match value.split_once(':') {
        Some((n, v)) => (n, Some(v)),
        None => (value, None),
    };
    let known = match (name, arg) {
        ("rtpmap", Some(v)) => parse_rtpmap(v).map(Attribute::RtpMap),
        ("fmtp", Some(v)) => v.split_once(' ').and_then(|(pt, params)| {
            Some(Attribute::Fmtp {
                payload_type: parse_pt(pt)?,
                parameters: params.trim().to_owned(),
            })
        }),
        ("ptime", Some(v)) => v.trim().parse().ok().map(Attribute::Ptime),
        ("rtcp", Some(v)) => parse_rtcp(v).map(Attribute::Rtcp),
        (name, None) => Direction::from_name(name).map(Attribute::Direction),
        _ => None,
    };
    known.unwrap_or_else(|| Attribute::Other {
        name: name.to_owned(),
        value: arg.map(str::to_owned),
    })
}

fn parse_pt(s: &str) -> Option<u8> {
    s.trim().parse().ok().filter(|pt| *pt <= 127)
}

fn parse_rtpmap(v: &str) -> Option<RtpMap> {
    let (pt, rest) = v.split_once(' ')?;
    let mut parts = rest.trim().split('/');
    let encoding = parts.next()?.to_owned();
    let clock_rate = parts.next()?.parse().ok()?;
    let channels = match parts.next() {
        Some(c) => Some(c.parse().ok()?),
        None => None,
    };
    if encoding.is_empty() || parts.next().is_some() {
        return None;
    }
    Some(RtpMap {
        payload_type: parse_pt(pt)?,
        encoding,
        clock_rate,
        channels,
    })
}

fn parse_rtcp(v: &str) -> Option<RtcpAttribute> {
    let mut f = v.split_ascii_whitespace();
    let port = f.next()?.parse().ok()?;
    let address = match (f.next(), f.next(), f.next()) {
        (None, ..) => None,
        (Some(net), Some(ty), Some(addr)) => Some(parse_address(net, ty, addr)?),
        _ => return None,
    };
    Some(RtcpAttribute { port, address })
}

fn address_type(addr: IpAddr) -> &'static str {
    match addr {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IN {} {}", address_type(self.address), self.address)
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attribute::RtpMap(m) => {
                write!(
                    f,
                    "rtpmap:{} {}/{}",
                    m.payload_type, m.encoding, m.clock_rate
                )?;
                if let Some(c) = m.channels {
                    write!(f, "/{c}")?;
                }
                Ok(())
            }
            Attribute::Fmtp {
                payload_type,
                parameters,
            } => write!(f, "fmtp:{payload_type} {parameters}"),
            Attribute::Ptime(p) => write!(f, "ptime:{p}"),
            Attribute::Direction(d) => f.write_str(d.as_str()),
            Attribute::Rtcp(r) => {
                write!(f, "rtcp:{}", r.port)?;
                if let Some(a) = r.address {
                    write!(f, " {}", Connection { address: a })?;
                }
                Ok(())
            }
            Attribute::Other { name, value } => match value {
                Some(v) => write!(f, "{name}:{v}"),
                None => f.write_str(name),
            },
        }
    }
}

fn write_lines(
    f: &mut fmt::Formatter<'_>,
    lines: &[Line],
    rank: impl Fn(char) -> u8,
    r: u8,
) -> fmt::Result {
    for l in lines.iter().filter(|l| rank(l.kind) == r) {
        write!(f, "{}={}\r\n", l.kind, l.value)?;
    }
    Ok(())
}

impl fmt::Display for MediaDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m={} {}", self.media, self.port)?;
        if let Some(n) = self.port_count {
            write!(f, "/{n}")?;
        }
        write!(f, " {}", self.protocol)?;
        for fmt in &self.formats {
            write!(f, " {fmt}")?;
        }
        f.write_str("\r\n")?;
        write_lines(f, &self.other_lines, media_line_rank, 0)?;
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        write_lines(f, &self.other_lines, media_line_rank, 1)?;
        for a in &self.attributes {
            write!(f, "a={a}\r\n")?;
        }
        write_lines(f, &self.other_lines, media_line_rank, 2)
    }
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.origin;
        write!(
            f,
            "v=0\r\no={} {} {} IN {} {}\r\ns={}\r\n",
            o.username,
            o.session_id,
            o.session_version,
            o.address_type,
            o.address,
            self.session_name
        )?;
        write_lines(f, &self.other_lines, session_line_rank, 0)?;
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        write_lines(f, &self.other_lines, session_line_rank, 1)?;
        write!(f, "t={} {}\r\n", self.timing.start, self.timing.stop)?;
        write_lines(f, &self.other_lines, session_line_rank, 2)?;
        write_lines(f, &self.other_lines, session_line_rank, 3)?;
        for a in &self.attributes {
            write!(f, "a={a}\r\n")?;
        }
        write_lines(f, &self.other_lines, session_line_rank, 4)?;
        for m in &self.media {
            write!(f, "{m}")?;
        }
        Ok(())
    }
}

/// What we can offer or accept, and who we are, for [`answer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// Our RTP address, written into `o=` and `c=`.
    pub addr: IpAddr,
    /// Our RTP port.
    pub port: u16,
    /// The G.711 codecs we support. The answer follows the offerer's preference order among
    /// these and [`LocalMedia::extra_codecs`] (RFC 3264 §6.1 lets the answerer choose;
    /// following the offerer spares the phone a transcoding step).
    pub codecs: Vec<Codec>,
    /// Further codecs we support (G.722, Opus; a G.711 law here counts as if in `codecs`).
    /// Empty in [`LocalMedia::new`], so answers stay G.711 unless a caller opts in.
    pub extra_codecs: Vec<AudioCodec>,
    /// Whether we accept RFC 4733 telephone-events (DTMF).
    pub telephone_event: bool,
    /// Whether we accept RFC 3389 comfort noise (`CN`) when offered.
    pub comfort_noise: bool,
    /// `o=` session id, chosen by the caller (stable for the dialog).
    pub session_id: u64,
    /// `o=` session version, chosen by the caller (incremented per new answer).
    pub session_version: u64,
}

impl LocalMedia {
    /// PCMU and PCMA with telephone-event, at `addr:port`.
    pub fn new(addr: IpAddr, port: u16, session_id: u64, session_version: u64) -> Self {
        LocalMedia {
            addr,
            port,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            extra_codecs: Vec::new(),
            telephone_event: true,
            comfort_noise: false,
            session_id,
            session_version,
        }
    }

    /// [`LocalMedia::new`] plus Opus and G.722, and comfort noise: what a wideband-capable
    /// leg accepts. [`SessionConfig::new`](crate::session::SessionConfig::new) takes
    /// [`NegotiatedAudio::audio_codec`], so a session speaks whichever was chosen.
    pub fn wideband(addr: IpAddr, port: u16, session_id: u64, session_version: u64) -> Self {
        LocalMedia {
            extra_codecs: vec![AudioCodec::Opus, AudioCodec::G722],
            comfort_noise: true,
            ..LocalMedia::new(addr, port, session_id, session_version)
        }
    }

    /// Whether `codec` is one we accept.
    pub fn supports(&self, codec: AudioCodec) -> bool {
        self.extra_codecs.contains(&codec)
            || codec.g711().is_some_and(|law| self.codecs.contains(&law))
    }
}

/// The audio stream both sides agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NegotiatedAudio {
    /// Where to send RTP: the stream's `c=` address and `m=` port.
    pub remote: SocketAddr,
    /// Where the peer wants RTCP: `a=rtcp`, else the RTP port + 1 (None when that
    /// overflows).
    pub remote_rtcp: Option<SocketAddr>,
    /// The G.711 law, for code that predates [`NegotiatedAudio::audio_codec`]: when the
    /// codec is G.722 or Opus this is `Codec::Pcmu`, a placeholder that is *not* what the
    /// peer speaks (see [`NegotiatedAudio::g711`]).
    pub codec: Codec,
    /// The codec, whichever it is.
    pub audio_codec: AudioCodec,
    /// Its payload type (the offer's number).
    pub payload_type: u8,
    /// The telephone-event payload type (the offer's number), when both sides do DTMF. Its
    /// clock rate is the codec's ([`AudioCodec::clock_rate`]).
    pub dtmf_payload_type: Option<u8>,
    /// The comfort-noise payload type (the offer's number, usually 13), when offered at the
    /// codec's clock rate and [`LocalMedia::comfort_noise`] is on.
    pub cn_payload_type: Option<u8>,
    /// Our direction, as written in the answer.
    pub direction: Direction,
    /// The offerer's `a=ptime`, if any (we send 20 ms regardless).
    pub remote_ptime: Option<u32>,
}

impl NegotiatedAudio {
    /// The G.711 law, when the codec is one.
    pub fn g711(&self) -> Option<Codec> {
        self.audio_codec.g711()
    }
}

/// The result of [`answer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The answer to send back (write it with `to_string()`).
    pub sdp: SessionDescription,
    /// The accepted audio stream; `None` when the offer's audio was disabled (port 0), in
    /// which case the answer disables it too.
    pub audio: Option<NegotiatedAudio>,
}

/// The packetisation time we send and ask for.
pub const PTIME_MS: u32 = 20;

/// What a media section offers, when it is audio we can take.
struct Choice {
    codec: AudioCodec,
    payload_type: u8,
    dtmf_payload_type: Option<u8>,
    cn_payload_type: Option<u8>,
}

fn is_rtp_avp(protocol: &str) -> bool {
    protocol.eq_ignore_ascii_case("RTP/AVP") || protocol.eq_ignore_ascii_case("RTP/AVPF")
}

/// The payload type's encoding, clock rate and channels: its `a=rtpmap`, else the static
/// assignment of RFC 3551.
fn payload_format(m: &MediaDescription, pt: u8) -> Option<(&str, u32, Option<u16>)> {
    match m.rtpmap(pt) {
        Some(map) => Some((map.encoding.as_str(), map.clock_rate, map.channels)),
        None if pt == cn::PAYLOAD_TYPE => Some((cn::ENCODING_NAME, 8000, None)),
        None => AudioCodec::from_static_payload_type(pt)
            .map(|c| (c.encoding_name(), c.clock_rate(), None)),
    }
}

fn choose(m: &MediaDescription, local: &LocalMedia) -> Option<Choice> {
    // The first codec we support, in the offerer's order, at its own clock rate.
    let (codec, payload_type) = m.payload_types().find_map(|pt| {
        let (name, rate, channels) = payload_format(m, pt)?;
        let codec = AudioCodec::from_encoding_name(name)?;
        // RFC 7587 writes `opus/48000/2` even for mono; G.711 and G.722 are mono.
        let channels_ok = match codec {
            AudioCodec::Opus => channels.is_none_or(|c| c == 1 || c == 2),
            _ => channels.is_none_or(|c| c == 1),
        };
        (local.supports(codec) && rate == codec.clock_rate() && channels_ok).then_some((codec, pt))
    })?;
    // Telephone-event and comfort noise go with the codec's clock rate (RFC 4733 §2.1,
    // RFC 3389 §4); the first of each in the offer is taken.
    let companion = |name: &str, wanted: bool| {
        m.payload_types().filter(|_| wanted).find(|&pt| {
            payload_format(m, pt).is_some_and(|(n, rate, channels)| {
                n.eq_ignore_ascii_case(name)
                    && rate == codec.clock_rate()
                    && channels.is_none_or(|c| c == 1)
            })
        })
    };
    Some(Choice {
        codec,
        payload_type,
        dtmf_payload_type: companion("telephone-event", local.telephone_event),
        cn_payload_type: companion(cn::ENCODING_NAME, local.comfort_noise),
    })
}

fn rejected(m: &MediaDescription) -> MediaDescription {
    MediaDescription {
        media: m.media.clone(),
        port: 0,
        port_count: None,
        protocol: m.protocol.clone(),
        formats: m.formats.clone(),
        connection: None,
        attributes: Vec::new(),
        other_lines: Vec::new(),
    }
}

/// Answers an offer (RFC 3264 §6): accepts the first audio stream over RTP/AVP(F) that has
/// a codec we support, choosing the first such codec in the offerer's order and keeping
/// telephone-event with the offerer's payload type; mirrors the direction; rejects every
/// other stream with port 0. Offered audio that is disabled (port 0) gets port 0 back and
/// [`Answer::audio`] is `None`.
///
/// Errors: [`SdpError::NoAudioStream`], [`SdpError::UnsupportedTransport`] and
/// [`SdpError::NoCommonCodec`] (answer the INVITE with 488), [`SdpError::MissingConnection`]
/// (400).
pub fn answer(offer: &SessionDescription, local: &LocalMedia) -> Result<Answer, SdpError> {
    let is_audio = |m: &MediaDescription| m.media.eq_ignore_ascii_case("audio");
    let mut chosen = None;
    for (i, m) in offer.media.iter().enumerate() {
        if is_audio(m)
            && m.port != 0
            && is_rtp_avp(&m.protocol)
            && let Some(c) = choose(m, local)
        {
            chosen = Some((i, c));
            break;
        }
    }

    let Some((index, choice)) = chosen else {
        let live_audio: Vec<&MediaDescription> = offer
            .media
            .iter()
            .filter(|m| is_audio(m) && m.port != 0)
            .collect();
        if let Some(first) = live_audio.first() {
            return Err(if live_audio.iter().any(|m| is_rtp_avp(&m.protocol)) {
                SdpError::NoCommonCodec
            } else {
                SdpError::UnsupportedTransport {
                    protocol: first.protocol.clone(),
                }
            });
        }
        if !offer.media.iter().any(is_audio) {
            return Err(SdpError::NoAudioStream);
        }
        // Audio offered but disabled: disable everything back.
        return Ok(Answer {
            sdp: local_session(local, offer.media.iter().map(rejected).collect()),
            audio: None,
        });
    };

    let m = &offer.media[index];
    let connection = m
        .connection
        .or(offer.connection)
        .ok_or(SdpError::MissingConnection)?;
    let mut direction = offer.media_direction(m).reverse();
    if connection.address.is_unspecified() {
        // Legacy hold (RFC 3264 §8.4): the offerer does not want to receive.
        direction = direction.without_send();
    }
    let remote = SocketAddr::new(connection.address, m.port);
    let remote_rtcp = match m.rtcp() {
        Some(r) => Some(SocketAddr::new(
            r.address.unwrap_or(connection.address),
            r.port,
        )),
        None => m
            .port
            .checked_add(1)
            .map(|p| SocketAddr::new(connection.address, p)),
    };

    let mut formats = vec![choice.payload_type.to_string()];
    let clock_rate = choice.codec.clock_rate();
    let mut attributes = vec![Attribute::RtpMap(RtpMap {
        payload_type: choice.payload_type,
        encoding: choice.codec.encoding_name().to_owned(),
        clock_rate,
        channels: choice.codec.rtpmap_channels(),
    })];
    if choice.codec == AudioCodec::Opus {
        // RFC 7587 §6.1: we decode in-band FEC; mono and the default rates otherwise.
        attributes.push(Attribute::Fmtp {
            payload_type: choice.payload_type,
            parameters: "useinbandfec=1".to_owned(),
        });
    }
    if let Some(pt) = choice.dtmf_payload_type {
        formats.push(pt.to_string());
        attributes.push(Attribute::RtpMap(RtpMap {
            payload_type: pt,
            encoding: "telephone-event".to_owned(),
            clock_rate,
            channels: None,
        }));
        attributes.push(Attribute::Fmtp {
            payload_type: pt,
            parameters: "0-15".to_owned(),
        });
    }
    if let Some(pt) = choice.cn_payload_type {
        formats.push(pt.to_string());
        attributes.push(Attribute::RtpMap(RtpMap {
            payload_type: pt,
            encoding: cn::ENCODING_NAME.to_owned(),
            clock_rate,
            channels: None,
        }));
    }
    attributes.push(Attribute::Ptime(PTIME_MS));
    attributes.push(Attribute::Direction(direction));

    let media = offer
        .media
        .iter()
        .enumerate()
        .map(|(i, om)| {
            if i != index {
                return rejected(om);
            }
            MediaDescription {
                media: om.media.clone(),
                port: local.port,
                port_count: None,
                protocol: om.protocol.clone(),
                formats: formats.clone(),
                connection: None,
                attributes: attributes.clone(),
                other_lines: Vec::new(),
            }
        })
        .collect();

    Ok(Answer {
        sdp: local_session(local, media),
        audio: Some(NegotiatedAudio {
            remote,
            remote_rtcp,
            codec: choice.codec.g711().unwrap_or(Codec::Pcmu),
            audio_codec: choice.codec,
            payload_type: choice.payload_type,
            dtmf_payload_type: choice.dtmf_payload_type,
            cn_payload_type: choice.cn_payload_type,
            direction,
            remote_ptime: m.ptime(),
        }),
    })
}

fn local_session(local: &LocalMedia, media: Vec<MediaDescription>) -> SessionDescription {
    SessionDescription {
        origin: Origin {
            username: "hotline".to_owned(),
            session_id: local.session_id,
            session_version: local.session_version,
            address_type: address_type(local.addr).to_owned(),
            address: local.addr.to_string(),
        },
        session_name: "hotline".to_owned(),
        connection: Some(Connection {
            address: local.addr,
        }),
        timing: Timing::default(),
        attributes: Vec::new(),
        other_lines: Vec::new(),
        media,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a desk phone sends, give or take.
    const PHONE_OFFER: &str = "v=0\r\n\
o=root 1821 1821 IN IP4 192.0.2.10\r\n\
s=call\r\n\
i=a call\r\n\
c=IN IP4 192.0.2.10\r\n\
b=AS:84\r\n\
t=0 0\r\n\
a=tool:phone 1.0\r\n\
m=audio 40000 RTP/AVP 9 8 0 18 101\r\n\
b=TIAS:64000\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:18 G729/8000\r\n\
a=fmtp:18 annexb=no\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=maxptime:150\r\n\
a=rtcp:40001\r\n\
a=sendrecv\r\n\
m=video 0 RTP/AVP 96\r\n\
a=rtpmap:96 H264/90000\r\n";

    fn local() -> LocalMedia {
        LocalMedia::new("203.0.113.5".parse().unwrap(), 20000, 7, 1)
    }

    fn offer(media: &str) -> SessionDescription {
        let text = format!(
            "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n{media}"
        );
        text.parse().unwrap()
    }

    #[test]
    fn parses_a_phone_offer() {
        let sd = SessionDescription::parse(PHONE_OFFER.as_bytes()).unwrap();
        assert_eq!(sd.origin.session_id, 1821);
        assert_eq!(sd.origin.address, "192.0.2.10");
        assert_eq!(sd.session_name, "call");
        assert_eq!(
            sd.connection.unwrap().address,
            "192.0.2.10".parse::<IpAddr>().unwrap()
        );
        assert_eq!(sd.other_lines.len(), 2); // i= and b=
        assert_eq!(sd.media.len(), 2);
        let m = &sd.media[0];
        assert_eq!(
            (m.media.as_str(), m.port, m.protocol.as_str()),
            ("audio", 40000, "RTP/AVP")
        );
        assert_eq!(m.payload_types().collect::<Vec<_>>(), [9, 8, 0, 18, 101]);
        assert_eq!(m.rtpmap(101).unwrap().encoding, "telephone-event");
        assert_eq!(m.fmtp(18), Some("annexb=no"));
        assert_eq!(m.ptime(), Some(20));
        assert_eq!(m.direction(), Some(Direction::SendRecv));
        assert_eq!(
            m.rtcp(),
            Some(RtcpAttribute {
                port: 40001,
                address: None
            })
        );
        assert!(m.attributes.contains(&Attribute::Other {
            name: "maxptime".into(),
            value: Some("150".into())
        }));
        assert_eq!(sd.media[1].port, 0);
    }

    #[test]
    fn round_trips() {
        let sd: SessionDescription = PHONE_OFFER.parse().unwrap();
        let text = sd.to_string();
        assert_eq!(text.parse::<SessionDescription>().unwrap(), sd);
        // Well-ordered input comes back byte for byte.
        assert_eq!(text, PHONE_OFFER);
    }

    #[test]
    fn tolerates_lf_line_ends_blank_lines_and_unknown_lines() {
        let sd: SessionDescription =
            "v=0\no=- 1 2 IN IP6 ::1\n\nx=whatever\nc=IN IP6 2001:db8::1\nt=0 0\nm=audio 5004 RTP/AVP 0\na=rtpmap:bad\na=ptime:abc\na=rtcp:9 IN IP4 198.51.100.1\n"
                .parse()
                .unwrap();
        assert_eq!(sd.session_name, "-");
        assert_eq!(sd.other_lines[0].kind, 'x');
        let m = &sd.media[0];
        assert!(matches!(&m.attributes[0], Attribute::Other { name, .. } if name == "rtpmap"));
        assert!(matches!(&m.attributes[1], Attribute::Other { name, .. } if name == "ptime"));
        assert_eq!(
            m.rtcp().unwrap().address,
            Some("198.51.100.1".parse().unwrap())
        );
    }

    #[test]
    fn malformed_required_lines_are_errors() {
        let cases: [(&[u8], SdpError); 9] = [
            (b"", SdpError::BadVersion),
            (b"v=1\r\n", SdpError::BadVersion),
            (b"\xff", SdpError::NotUtf8),
            (b"v=0\r\ns=-\r\n", SdpError::MissingLine('o')),
            (
                b"v=0\r\no=- x 1 IN IP4 a\r\n",
                SdpError::BadLine { line: 2, kind: 'o' },
            ),
            (
                b"v=0\r\no=- 1 1 IN IP4 a\r\nc=IN IP4 host.example\r\n",
                SdpError::BadLine { line: 3, kind: 'c' },
            ),
            (
                b"v=0\r\no=- 1 1 IN IP4 a\r\nt=now\r\n",
                SdpError::BadLine { line: 3, kind: 't' },
            ),
            (
                b"v=0\r\no=- 1 1 IN IP4 a\r\nm=audio x RTP/AVP 0\r\n",
                SdpError::BadLine { line: 3, kind: 'm' },
            ),
            (
                b"v=0\r\no=- 1 1 IN IP4 a\r\nthis is not sdp\r\n",
                SdpError::MalformedLine { line: 3 },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                SessionDescription::parse(input),
                Err(want.clone()),
                "{input:?}"
            );
            assert!(!want.is_negotiation_failure());
        }
    }

    #[test]
    fn answers_a_phone_offer() {
        let sd: SessionDescription = PHONE_OFFER.parse().unwrap();
        let a = answer(&sd, &local()).unwrap();
        let audio = a.audio.unwrap();
        // G722 is first but unsupported; PCMA is the offerer's next choice.
        assert_eq!(audio.codec, Codec::Pcma);
        assert_eq!(audio.payload_type, 8);
        assert_eq!(audio.dtmf_payload_type, Some(101));
        assert_eq!(audio.remote, "192.0.2.10:40000".parse().unwrap());
        assert_eq!(audio.remote_rtcp, Some("192.0.2.10:40001".parse().unwrap()));
        assert_eq!(audio.direction, Direction::SendRecv);
        assert_eq!(audio.remote_ptime, Some(20));
        assert_eq!(
            a.sdp.to_string(),
            "v=0\r\n\
o=hotline 7 1 IN IP4 203.0.113.5\r\n\
s=hotline\r\n\
c=IN IP4 203.0.113.5\r\n\
t=0 0\r\n\
m=audio 20000 RTP/AVP 8 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n\
m=video 0 RTP/AVP 96\r\n"
        );
    }

    #[test]
    fn follows_offerer_order_and_static_types_without_rtpmap() {
        let a = answer(&offer("m=audio 4000 RTP/AVP 0 8\r\n"), &local()).unwrap();
        let audio = a.audio.unwrap();
        assert_eq!((audio.codec, audio.payload_type), (Codec::Pcmu, 0));
        assert_eq!(audio.dtmf_payload_type, None);
        assert_eq!(a.sdp.media[0].formats, ["0"]);
        // A dynamic payload type mapped to PCMU is taken with its number.
        let a = answer(
            &offer("m=audio 4000 RTP/AVP 96 97\r\na=rtpmap:96 pcmu/8000/1\r\na=rtpmap:97 telephone-event/8000\r\n"),
            &local(),
        )
        .unwrap();
        let audio = a.audio.unwrap();
        assert_eq!(
            (audio.codec, audio.payload_type, audio.dtmf_payload_type),
            (Codec::Pcmu, 96, Some(97))
        );
        // Only the codecs we list count.
        let only_pcmu = LocalMedia {
            codecs: vec![Codec::Pcmu],
            telephone_event: false,
            ..local()
        };
        let a = answer(
            &offer("m=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"),
            &only_pcmu,
        )
        .unwrap();
        let audio = a.audio.unwrap();
        assert_eq!((audio.codec, audio.dtmf_payload_type), (Codec::Pcmu, None));
    }

    #[test]
    fn mirrors_direction() {
        for (offered, answered) in [
            ("sendrecv", Direction::SendRecv),
            ("sendonly", Direction::RecvOnly),
            ("recvonly", Direction::SendOnly),
            ("inactive", Direction::Inactive),
        ] {
            let a = answer(
                &offer(&format!("m=audio 4000 RTP/AVP 0\r\na={offered}\r\n")),
                &local(),
            )
            .unwrap();
            assert_eq!(a.audio.unwrap().direction, answered);
            assert_eq!(a.sdp.media[0].direction(), Some(answered));
        }
        // Session-level direction applies to media without their own.
        let sd: SessionDescription = "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\na=sendonly\r\nm=audio 4000 RTP/AVP 0\r\n".parse().unwrap();
        assert_eq!(
            answer(&sd, &local()).unwrap().audio.unwrap().direction,
            Direction::RecvOnly
        );
        // Legacy hold: c=0.0.0.0 means "do not send to me".
        let sd: SessionDescription = "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n".parse().unwrap();
        assert_eq!(
            answer(&sd, &local()).unwrap().audio.unwrap().direction,
            Direction::RecvOnly
        );
    }

    #[test]
    fn disabled_and_rejected_streams_get_port_zero() {
        let a = answer(&offer("m=audio 0 RTP/AVP 0\r\n"), &local()).unwrap();
        assert_eq!(a.audio, None);
        assert_eq!(a.sdp.media.len(), 1);
        assert_eq!(a.sdp.media[0].port, 0);
        // Two audio streams: the first usable one is taken, the other rejected.
        let a = answer(
            &offer(
                "m=audio 4000 RTP/AVP 9\r\nm=audio 4002 RTP/AVP 0\r\nm=audio 4004 RTP/AVP 8\r\n",
            ),
            &local(),
        )
        .unwrap();
        let ports: Vec<u16> = a.sdp.media.iter().map(|m| m.port).collect();
        assert_eq!(ports, [0, 20000, 0]);
        assert_eq!(a.audio.unwrap().remote.port(), 4002);
    }

    #[test]
    fn negotiation_failures() {
        let cases = [
            ("m=audio 4000 RTP/AVP 9 18\r\n", SdpError::NoCommonCodec),
            (
                "m=audio 4000 RTP/SAVP 0\r\n",
                SdpError::UnsupportedTransport {
                    protocol: "RTP/SAVP".into(),
                },
            ),
            ("m=video 4000 RTP/AVP 96\r\n", SdpError::NoAudioStream),
            ("", SdpError::NoAudioStream),
            // PCMU at the wrong clock rate is not PCMU.
            (
                "m=audio 4000 RTP/AVP 96\r\na=rtpmap:96 PCMU/16000\r\n",
                SdpError::NoCommonCodec,
            ),
        ];
        for (media, want) in cases {
            let got = answer(&offer(media), &local()).unwrap_err();
            assert_eq!(got, want, "{media}");
            assert!(got.is_negotiation_failure());
        }
        let no_c: SessionDescription =
            "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
                .parse()
                .unwrap();
        assert_eq!(answer(&no_c, &local()), Err(SdpError::MissingConnection));
    }

    #[test]
    fn media_level_connection_wins() {
        let a = answer(
            &offer("m=audio 4000 RTP/AVP 0\r\nc=IN IP4 198.51.100.9\r\n"),
            &local(),
        )
        .unwrap();
        assert_eq!(
            a.audio.unwrap().remote,
            "198.51.100.9:4000".parse().unwrap()
        );
    }

    #[test]
    fn hostile_input_never_panics_and_round_trips() {
        use rand::{Rng, SeedableRng, rngs::StdRng};
        let mut rng = StdRng::seed_from_u64(4566);
        let base = PHONE_OFFER.as_bytes();
        let alphabet = b"v=oscmta:/ 0123456789\r\nINP4RTAVrtpmap";
        for _ in 0..20_000 {
            let mut bytes = base.to_vec();
            for _ in 0..rng.random_range(1..8) {
                let i = rng.random_range(0..bytes.len());
                match rng.random_range(0..3) {
                    0 => bytes[i] = alphabet[rng.random_range(0..alphabet.len())],
                    1 => {
                        bytes.remove(i);
                    }
                    _ => bytes.truncate(i),
                }
                if bytes.is_empty() {
                    break;
                }
            }
            if let Ok(sd) = SessionDescription::parse(&bytes) {
                let again: SessionDescription = sd.to_string().parse().expect("own output parses");
                assert_eq!(again, sd);
                let _ = answer(&sd, &local());
            }
        }
    }
}
