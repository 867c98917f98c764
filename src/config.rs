//! `hotline.yaml`: the engine's configuration file, its embedded default and its checks.
//!
//! Every file is validated before use, and each error names the file, line and column
//! (`file:line:col: message`), the same way `hotline check` prints it.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use hotline_media::AudioCodec;
use hotline_media::tone::Country;
use serde::Deserialize;
use serde_saphyr::Spanned;

/// The embedded default configuration, compiled into the binary.
pub const EMBEDDED_DEFAULT: &str = include_str!("../config/hotline.yaml");

/// Prompts shipped in the binary, by name.
pub const EMBEDDED_PROMPTS: &[(&str, &[u8])] =
    &[("welcome", include_bytes!("../config/prompts/welcome.wav"))];

/// One problem in a configuration file, with its position (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// All problems found in one file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<Diagnostic>);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    sip: RawSip,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    data_dir: Option<String>,
    #[serde(default)]
    media: RawMedia,
    #[serde(default)]
    numbers: BTreeMap<String, Spanned<RawNumber>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSip {
    listen: Option<Spanned<String>>,
    max_message_bytes: Option<Spanned<usize>>,
    max_tcp_connections: Option<Spanned<usize>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    listen: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMedia {
    address: Option<Spanned<String>>,
    rtp_ports: Option<Spanned<String>>,
    rtp_timeout_secs: Option<Spanned<usize>>,
    codecs: Option<Spanned<Vec<Spanned<String>>>>,
    ringback: Option<Spanned<String>>,
    early_media: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNumber {
    action: RawAction,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    ring_secs: Option<u64>,
    #[serde(default)]
    room: Option<String>,
    #[serde(default)]
    record: Option<Recording>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawAction {
    Echo,
    Play,
    Conference,
}

/// Whether and how a conference room is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Recording {
    /// Not recorded.
    None,
    /// One track: everything said in the room.
    Mono,
    /// Two tracks: the first participant left, the second right (caller and agent).
    Stereo,
}

/// What answers a dialled number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// RTP comes back to the caller, decoded and re-encoded.
    Echo,
    /// Play a prompt, then hang up with BYE.
    Play { prompt: String },
    /// Join a conference room (mix-minus: everyone hears everyone else). `room: None` names
    /// the room after the dialled number.
    Conference {
        room: Option<String>,
        record: Recording,
    },
}

/// A dialled number's treatment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number {
    pub route: Route,
    /// Ring this long before answering (183 with ringback as early media, or 180: see
    /// [`Config::early_media`]); 0 answers at once.
    pub ring_secs: u64,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub sip_listen: SocketAddr,
    pub max_message_bytes: usize,
    pub max_tcp_connections: usize,
    pub http_listen: SocketAddr,
    pub data_dir: PathBuf,
    pub media_address: IpAddr,
    pub rtp_ports: (u16, u16),
    pub rtp_timeout_secs: u64,
    /// The audio codecs calls may use. An answer takes the first of the caller's offer that
    /// is here, so the order only matters for offers we make.
    pub codecs: Vec<AudioCodec>,
    /// Whose ringback tone a ringing number plays as early media (`media.ringback`).
    pub ringback: Country,
    /// A ringing number sends 183 Session Progress with the SDP answer and plays
    /// [`ringback`](Self::ringback) itself (`media.early_media`, default true); false: a
    /// plain 180 Ringing and the phone's own ringback.
    pub early_media: bool,
    pub numbers: BTreeMap<String, Number>,
}

/// `media.codecs` when the file has none: G.711 first, so a phone that offers G.711 and
/// more still gets what it prefers.
pub const DEFAULT_CODECS: [AudioCodec; 4] = [
    AudioCodec::Pcmu,
    AudioCodec::Pcma,
    AudioCodec::G722,
    AudioCodec::Opus,
];

/// The names `media.codecs` takes, in [`AudioCodec::ALL`]'s order.
fn codec_name(codec: AudioCodec) -> &'static str {
    match codec {
        AudioCodec::Pcmu => "pcmu",
        AudioCodec::Pcma => "pcma",
        AudioCodec::G722 => "g722",
        AudioCodec::Opus => "opus",
    }
}

impl Config {
    /// The embedded default.
    pub fn embedded() -> Config {
        // The embedded file is checked by a unit test; it cannot fail at run time.
        Config::parse("<embedded hotline.yaml>", EMBEDDED_DEFAULT)
            .expect("the embedded hotline.yaml is valid (tested)")
    }

    /// Read and validate a file.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![Diagnostic {
                file: name.clone(),
                line: 1,
                column: 1,
                message: format!("cannot read file: {e}"),
            }])
        })?;
        Config::parse(&name, &text)
    }

    /// Parse and validate text; `file` names it in diagnostics.
    pub fn parse(file: &str, text: &str) -> Result<Config, ConfigErrors> {
        let raw: RawConfig = serde_saphyr::from_str(text).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((1, 1));
            let mut message = e.without_snippet().to_string();
            if let Some(i) = message.rfind(" at line ") {
                message.truncate(i);
            }
            ConfigErrors(vec![Diagnostic {
                file: file.to_owned(),
                line,
                column,
                message,
            }])
        })?;
        let mut v = Validator {
            file,
            errors: Vec::new(),
        };
        let default_sip: SocketAddr = ([127, 0, 0, 1], 5060).into();
        let default_http: SocketAddr = ([127, 0, 0, 1], 8080).into();
        let sip_listen = v
            .socket_addr(raw.sip.listen.as_ref(), "sip.listen")
            .unwrap_or(default_sip);
        let http_listen = v
            .socket_addr(raw.http.listen.as_ref(), "http.listen")
            .unwrap_or(default_http);
        let max_message_bytes = v.range(
            raw.sip.max_message_bytes.as_ref(),
            1500..=1_048_576,
            65535,
            "sip.max_message_bytes",
        );
        let max_tcp_connections = v.range(
            raw.sip.max_tcp_connections.as_ref(),
            1..=1_000_000,
            1024,
            "sip.max_tcp_connections",
        );
        let media_address = match &raw.media.address {
            None => IpAddr::from([127, 0, 0, 1]),
            Some(s) => match s.value.parse::<IpAddr>() {
                Ok(a) if a.is_unspecified() => {
                    v.error(
                        s,
                        "media.address must be an address peers can reach, not 0.0.0.0 or ::",
                    );
                    IpAddr::from([127, 0, 0, 1])
                }
                Ok(a) => a,
                Err(_) => {
                    v.error(
                        s,
                        format!("media.address: `{}` is not an IP address", s.value),
                    );
                    IpAddr::from([127, 0, 0, 1])
                }
            },
        };
        let rtp_ports = match &raw.media.rtp_ports {
            None => (20000, 29999),
            Some(s) => match parse_port_range(&s.value) {
                Some(r) => r,
                None => {
                    v.error(
                        s,
                        format!(
                            "media.rtp_ports: `{}` is not a range like 20000-29999 \
                             (at least 4 ports, from 1024 up)",
                            s.value
                        ),
                    );
                    (20000, 29999)
                }
            },
        };
        let rtp_timeout_secs = v.range(
            raw.media.rtp_timeout_secs.as_ref(),
            5..=3600,
            30,
            "media.rtp_timeout_secs",
        ) as u64;
        let codecs = v.codecs(raw.media.codecs.as_ref());
        let ringback = v.ringback(raw.media.ringback.as_ref());
        let mut numbers = BTreeMap::new();
        for (number, spanned) in raw.numbers {
            let at = spanned.referenced;
            let raw = spanned.value;
            if !matches!(raw.action, RawAction::Conference)
                && (raw.room.is_some() || raw.record.is_some())
            {
                v.error_at(
                    &at,
                    format!("numbers.{number}: `room` and `record` need `action: conference`"),
                );
            }
            if let Err(why) = check_number_pattern(&number) {
                v.error_at(&at, format!("numbers.{number}: {why}"));
            }
            let route = match (raw.action, raw.prompt) {
                (RawAction::Conference, None) => Route::Conference {
                    room: raw.room,
                    record: raw.record.unwrap_or(Recording::None),
                },
                (RawAction::Echo | RawAction::Conference, Some(_)) => {
                    v.error_at(
                        &at,
                        format!("numbers.{number}: `prompt` needs `action: play`"),
                    );
                    Route::Echo
                }
                (RawAction::Echo, None) => Route::Echo,
                (RawAction::Play, None) => {
                    v.error_at(
                        &at,
                        format!("numbers.{number}: `action: play` needs a `prompt`"),
                    );
                    Route::Echo
                }
                (RawAction::Play, Some(prompt)) => {
                    if !EMBEDDED_PROMPTS.iter().any(|(n, _)| *n == prompt) {
                        v.error_at(
                            &at,
                            format!(
                                "numbers.{number}: unknown prompt `{prompt}` (known: {})",
                                EMBEDDED_PROMPTS
                                    .iter()
                                    .map(|(n, _)| *n)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        );
                    }
                    Route::Play { prompt }
                }
            };
            let ring_secs = raw.ring_secs.unwrap_or(0);
            if ring_secs > 300 {
                v.error_at(
                    &at,
                    format!("numbers.{number}: ring_secs {ring_secs} is over 300"),
                );
            }
            numbers.insert(number, Number { route, ring_secs });
        }
        if !v.errors.is_empty() {
            return Err(ConfigErrors(v.errors));
        }
        Ok(Config {
            sip_listen,
            max_message_bytes,
            max_tcp_connections,
            http_listen,
            data_dir: PathBuf::from(raw.data_dir.unwrap_or_else(|| "./data".into())),
            media_address,
            rtp_ports,
            rtp_timeout_secs,
            codecs,
            ringback,
            early_media: raw.media.early_media.unwrap_or(true),
            numbers,
        })
    }
}

/// A number key is a literal (`echo`, `+441234567890`) or a prefix ending in `*` (`conf-*`).
fn check_number_pattern(key: &str) -> Result<(), &'static str> {
    let literal = key.strip_suffix('*').unwrap_or(key);
    if literal.is_empty() && !key.is_empty() {
        return Ok(()); // `*` alone: a catch-all
    }
    if key.is_empty() {
        return Err("a number cannot be empty");
    }
    if literal.contains('*') {
        return Err("`*` may only end a number, as a prefix match (`conf-*`)");
    }
    if literal
        .chars()
        .any(|c| c.is_whitespace() || c == '@' || c == ':')
    {
        return Err("a number is the user part of a SIP URI: no spaces, `@` or `:`");
    }
    Ok(())
}

impl Config {
    /// What answers `number`: an exact entry first, then the longest matching `prefix*`.
    pub fn route_for(&self, number: &str) -> Option<&Number> {
        if let Some(n) = self.numbers.get(number) {
            return Some(n);
        }
        self.numbers
            .iter()
            .filter_map(|(key, n)| {
                let prefix = key.strip_suffix('*')?;
                number.starts_with(prefix).then_some((prefix.len(), n))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, n)| n)
    }
}

fn parse_port_range(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.split_once('-')?;
    let a: u16 = a.trim().parse().ok()?;
    let b: u16 = b.trim().parse().ok()?;
    (a >= 1024 && b >= a && b - a >= 3).then_some((a, b))
}

struct Validator<'a> {
    file: &'a str,
    errors: Vec<Diagnostic>,
}

impl Validator<'_> {
    fn error_at(&mut self, at: &serde_saphyr::Location, message: impl Into<String>) {
        self.errors.push(Diagnostic {
            file: self.file.to_owned(),
            line: at.line(),
            column: at.column(),
            message: message.into(),
        });
    }

    fn error<T>(&mut self, s: &Spanned<T>, message: impl Into<String>) {
        self.error_at(&s.referenced, message);
    }

    fn socket_addr(&mut self, s: Option<&Spanned<String>>, key: &str) -> Option<SocketAddr> {
        let s = s?;
        match s.value.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.error(
                    s,
                    format!(
                        "{key}: `{}` is not an ADDRESS:PORT like 127.0.0.1:5060",
                        s.value
                    ),
                );
                None
            }
        }
    }

    /// `media.codecs`: known names (any case), each once, at least one.
    fn codecs(&mut self, s: Option<&Spanned<Vec<Spanned<String>>>>) -> Vec<AudioCodec> {
        let Some(list) = s else {
            return DEFAULT_CODECS.to_vec();
        };
        let mut codecs = Vec::new();
        for name in &list.value {
            let known = AudioCodec::ALL
                .into_iter()
                .find(|&c| codec_name(c).eq_ignore_ascii_case(name.value.trim()));
            match known {
                None => {
                    let mut names: Vec<&str> = AudioCodec::ALL.map(codec_name).to_vec();
                    names.sort_unstable();
                    self.error(
                        name,
                        format!(
                            "media.codecs: unknown codec `{}` (known: {})",
                            name.value,
                            names.join(", ")
                        ),
                    );
                }
                Some(c) if codecs.contains(&c) => self.error(
                    name,
                    format!("media.codecs: `{}` is listed twice", name.value),
                ),
                Some(c) => codecs.push(c),
            }
        }
        if list.value.is_empty() {
            self.error(list, "media.codecs: list at least one codec");
        }
        if codecs.is_empty() {
            return DEFAULT_CODECS.to_vec();
        }
        codecs
    }

    /// `media.ringback`: `us`, `uk` or `eu` (any case; `ca` and `gb` as aliases).
    fn ringback(&mut self, s: Option<&Spanned<String>>) -> Country {
        let Some(s) = s else {
            return Country::Eu;
        };
        Country::from_code(s.value.trim()).unwrap_or_else(|| {
            self.error(
                s,
                format!(
                    "media.ringback: unknown tone plan `{}` (known: eu, uk, us)",
                    s.value
                ),
            );
            Country::Eu
        })
    }

    fn range(
        &mut self,
        s: Option<&Spanned<usize>>,
        range: std::ops::RangeInclusive<usize>,
        default: usize,
        key: &str,
    ) -> usize {
        match s {
            None => default,
            Some(s) if range.contains(&s.value) => s.value,
            Some(s) => {
                self.error(
                    s,
                    format!(
                        "{key}: {} is out of range {}..={}",
                        s.value,
                        range.start(),
                        range.end()
                    ),
                );
                default
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_valid() {
        let c = Config::parse("hotline.yaml", EMBEDDED_DEFAULT).expect("valid");
        assert_eq!(c.sip_listen, "127.0.0.1:5060".parse().unwrap());
        assert_eq!(c.http_listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.numbers["echo"].route, Route::Echo);
        assert_eq!(
            c.numbers["welcome"].route,
            Route::Play {
                prompt: "welcome".into()
            }
        );
        assert_eq!(c.numbers["welcome"].ring_secs, 0);
        assert_eq!(c.codecs, DEFAULT_CODECS);
        assert_eq!(c.ringback, Country::Eu);
        assert!(c.early_media);
    }

    #[test]
    fn ringback_and_early_media() {
        let c = Config::parse("r.yaml", "media:\n  ringback: US\n  early_media: false\n")
            .expect("valid");
        assert_eq!(c.ringback, Country::Us);
        assert!(!c.early_media);
        let c = Config::parse("r.yaml", "media:\n  ringback: uk\n").expect("valid");
        assert_eq!((c.ringback, c.early_media), (Country::Uk, true));
        let e = Config::parse(
            "r.yaml",
            "media:\n  rtp_timeout_secs: 9\n  ringback: mars\n",
        )
        .unwrap_err();
        assert_eq!(
            e.0[0].to_string(),
            "r.yaml:3:13: media.ringback: unknown tone plan `mars` (known: eu, uk, us)"
        );
        let e = Config::parse("r.yaml", "media:\n  early_media: sometimes\n").unwrap_err();
        assert_eq!((e.0[0].line, e.0[0].column), (2, 16), "{:?}", e.0);
    }

    #[test]
    fn codecs_are_listed_by_name() {
        let c = Config::parse("m.yaml", "media:\n  codecs: [opus, G722, pcma]\n").expect("valid");
        assert_eq!(
            c.codecs,
            [AudioCodec::Opus, AudioCodec::G722, AudioCodec::Pcma]
        );
        // Absent: the default.
        let c = Config::parse("m.yaml", "media:\n  rtp_timeout_secs: 9\n").expect("valid");
        assert_eq!(c.codecs, DEFAULT_CODECS);
    }

    #[test]
    fn unknown_duplicate_and_missing_codecs_name_line_and_column() {
        let text = "media:\n  codecs:\n    - pcmu\n    - g729\n    - pcmu\n";
        let e = Config::parse("k.yaml", text).unwrap_err();
        let lines: Vec<String> = e.0.iter().map(ToString::to_string).collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].starts_with(
                "k.yaml:4:7: media.codecs: unknown codec `g729` (known: g722, opus, pcma, pcmu)"
            ),
            "{lines:?}"
        );
        assert!(
            lines[1].starts_with("k.yaml:5:7: media.codecs: `pcmu` is listed twice"),
            "{lines:?}"
        );
        let e = Config::parse("k.yaml", "media:\n  codecs: []\n").unwrap_err();
        assert_eq!((e.0[0].line, e.0[0].column), (2, 11), "{:?}", e.0);
        assert!(e.0[0].message.contains("at least one"), "{:?}", e.0);
        // Not a list.
        assert!(Config::parse("k.yaml", "media:\n  codecs: opus\n").is_err());
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let e = Config::parse("x.yaml", "sip:\n  lisen: 1.2.3.4:5\n").unwrap_err();
        assert_eq!(e.0.len(), 1);
        let d = &e.0[0];
        assert_eq!((d.line, d.column), (2, 3));
        assert!(d.message.contains("lisen"), "{}", d.message);
        assert!(d.to_string().starts_with("x.yaml:2:3: "));
    }

    #[test]
    fn semantic_errors_are_all_reported_with_positions() {
        let text = "sip:\n  listen: nowhere\nhttp:\n  listen: 127.0.0.1:99999\nnumbers:\n  x:\n    action: play\n    prompt: nope\n";
        let e = Config::parse("y.yaml", text).unwrap_err();
        let lines: Vec<String> = e.0.iter().map(ToString::to_string).collect();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].starts_with("y.yaml:2:11: sip.listen"), "{lines:?}");
        assert!(
            lines[1].starts_with("y.yaml:4:11: http.listen"),
            "{lines:?}"
        );
        assert!(lines[2].contains("unknown prompt `nope`"), "{lines:?}");
    }

    #[test]
    fn unknown_action_is_rejected() {
        let e = Config::parse("z.yaml", "numbers:\n  a:\n    action: dance\n").unwrap_err();
        assert!(e.0[0].message.contains("dance"), "{:?}", e.0);
    }

    #[test]
    fn play_needs_a_prompt() {
        let e = Config::parse("p.yaml", "numbers:\n  a:\n    action: play\n").unwrap_err();
        assert_eq!((e.0[0].line, e.0[0].column), (3, 5), "{:?}", e.0);
        assert!(e.0[0].message.contains("needs a `prompt`"), "{:?}", e.0);
    }

    #[test]
    fn conference_numbers_and_prefixes() {
        let text = "numbers:\n  conf-*:\n    action: conference\n    record: stereo\n  conf-9:\n    action: echo\n  lobby:\n    action: conference\n    room: main\n";
        let c = Config::parse("c.yaml", text).expect("valid");
        assert_eq!(
            c.route_for("conf-17").map(|n| &n.route),
            Some(&Route::Conference {
                room: None,
                record: Recording::Stereo
            })
        );
        assert_eq!(c.route_for("conf-9").map(|n| &n.route), Some(&Route::Echo));
        assert_eq!(
            c.route_for("lobby").map(|n| &n.route),
            Some(&Route::Conference {
                room: Some("main".into()),
                record: Recording::None
            })
        );
        assert!(c.route_for("other").is_none());
        let bad = Config::parse(
            "b.yaml",
            "numbers:\n  a*b:\n    action: echo\n  e:\n    action: echo\n    record: mono\n",
        )
        .unwrap_err();
        assert_eq!(bad.0.len(), 2, "{:?}", bad.0);
        assert!(bad.0[0].message.contains("may only end"), "{:?}", bad.0);
        assert!(
            bad.0[1].message.contains("need `action: conference`"),
            "{:?}",
            bad.0
        );
    }

    #[test]
    fn port_ranges() {
        assert_eq!(parse_port_range("20000-29999"), Some((20000, 29999)));
        assert_eq!(parse_port_range("100-200"), None);
        assert_eq!(parse_port_range("3000-3001"), None);
        assert_eq!(parse_port_range("x"), None);
    }
}
