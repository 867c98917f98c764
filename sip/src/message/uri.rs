//! URIs: SIP and SIPS in full (RFC 3261 §19.1), other schemes kept as opaque text.

use std::fmt::{self, Write as _};

use super::grammar::{self, is_escaped_run};
use super::headers::Params;
use super::parse::{ParseError, ParseErrorKind};

/// A URI scheme. Known schemes compare by variant; others case-insensitively.
#[derive(Debug, Clone, Eq)]
pub enum Scheme {
    Sip,
    Sips,
    Tel,
    Other(String),
}

impl Scheme {
    /// Map a scheme token (case-insensitive) to a scheme.
    pub fn from_token(s: &str) -> Scheme {
        if s.eq_ignore_ascii_case("sip") {
            Scheme::Sip
        } else if s.eq_ignore_ascii_case("sips") {
            Scheme::Sips
        } else if s.eq_ignore_ascii_case("tel") {
            Scheme::Tel
        } else {
            Scheme::Other(s.to_owned())
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Scheme::Sip => "sip",
            Scheme::Sips => "sips",
            Scheme::Tel => "tel",
            Scheme::Other(s) => s,
        }
    }
}

impl PartialEq for Scheme {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Scheme::Other(a), Scheme::Other(b)) => a.eq_ignore_ascii_case(b),
            (Scheme::Sip, Scheme::Sip)
            | (Scheme::Sips, Scheme::Sips)
            | (Scheme::Tel, Scheme::Tel) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A URI. `sip:`/`sips:` URIs are parsed into their parts, with escapes kept as written;
/// for every other scheme (`tel:` included) the text after the colon is kept in `opaque` and
/// the SIP fields stay empty. `host` keeps the brackets of an IPv6 reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    pub scheme: Scheme,
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    /// URI parameters, values as written (escapes kept).
    pub params: Params,
    /// URI headers (`?name=value&...`), as written.
    pub headers: Vec<(String, String)>,
    pub opaque: Option<String>,
}

fn bad_uri() -> ParseError {
    ParseError::new(ParseErrorKind::BadUri)
}

impl Uri {
    /// A `sip:` URI.
    pub fn sip(user: Option<&str>, host: &str, port: Option<u16>) -> Uri {
        Uri {
            scheme: Scheme::Sip,
            user: user.map(str::to_owned),
            password: None,
            host: host.to_owned(),
            port,
            params: Params::default(),
            headers: Vec::new(),
            opaque: None,
        }
    }

    /// Parse a URI; no surrounding white space or `<>` is accepted.
    pub fn parse(s: &str) -> Result<Uri, ParseError> {
        let colon = s.find(':').ok_or_else(bad_uri)?;
        let (scheme_str, rest) = (&s[..colon], &s[colon + 1..]);
        let sb = scheme_str.as_bytes();
        if sb.is_empty()
            || !sb[0].is_ascii_alphabetic()
            || !sb
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            return Err(bad_uri());
        }
        let scheme = Scheme::from_token(scheme_str);
        match scheme {
            Scheme::Sip | Scheme::Sips => parse_sip(scheme, rest),
            _ => {
                let ok = !rest.is_empty()
                    && rest
                        .bytes()
                        .all(|b| (0x21..=0x7e).contains(&b) && !matches!(b, b'<' | b'>' | b'"'));
                if !ok {
                    return Err(bad_uri());
                }
                Ok(Uri {
                    scheme,
                    user: None,
                    password: None,
                    host: String::new(),
                    port: None,
                    params: Params::default(),
                    headers: Vec::new(),
                    opaque: Some(rest.to_owned()),
                })
            }
        }
    }

    /// The user part with `%HH` escapes decoded (escaped NULs are kept, not truncated).
    pub fn user_unescaped(&self) -> Option<String> {
        self.user.as_deref().map(grammar::unescape)
    }

    /// The value of a URI parameter (`Some(None)` for a flag such as `lr`).
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params.get(name)
    }
}

fn parse_sip(scheme: Scheme, rest: &str) -> Result<Uri, ParseError> {
    // '@' cannot appear unescaped after the userinfo, so the first one ends it.
    let (userinfo, hostpart) = match rest.find('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let (user, password) = match userinfo {
        None => (None, None),
        Some(ui) => {
            let (u, p) = match ui.find(':') {
                Some(c) => (&ui[..c], Some(&ui[c + 1..])),
                None => (ui, None),
            };
            if u.is_empty() || !is_escaped_run(u, grammar::is_user) {
                return Err(bad_uri());
            }
            if let Some(p) = p
                && !is_escaped_run(p, grammar::is_password)
            {
                return Err(bad_uri());
            }
            (Some(u.to_owned()), p.map(str::to_owned))
        }
    };

    let hb = hostpart.as_bytes();
    let host_end = if hb.first() == Some(&b'[') {
        let close = hostpart.find(']').ok_or_else(bad_uri)?;
        let inner = &hb[1..close];
        if inner.is_empty()
            || !inner
                .iter()
                .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'))
        {
            return Err(bad_uri());
        }
        close + 1
    } else {
        let end = hb
            .iter()
            .position(|b| matches!(b, b':' | b';' | b'?'))
            .unwrap_or(hb.len());
        if end == 0 || !hb[..end].iter().all(|b| grammar::is_host(*b)) {
            return Err(bad_uri());
        }
        end
    };
    let host = &hostpart[..host_end];
    let mut tail = &hostpart[host_end..];

    let mut port = None;
    if let Some(p) = tail.strip_prefix(':') {
        let end = p
            .bytes()
            .position(|b| matches!(b, b';' | b'?'))
            .unwrap_or(p.len());
        port = Some(grammar::parse_digits::<u16>(&p[..end], 5).ok_or_else(bad_uri)?);
        tail = &p[end..];
    }

    let mut params = Params::default();
    while let Some(p) = tail.strip_prefix(';') {
        let end = p
            .bytes()
            .position(|b| matches!(b, b';' | b'?'))
            .unwrap_or(p.len());
        let param = &p[..end];
        let (name, value) = match param.find('=') {
            Some(eq) => (&param[..eq], Some(&param[eq + 1..])),
            None => (param, None),
        };
        if name.is_empty() || !is_escaped_run(name, grammar::is_param) {
            return Err(bad_uri());
        }
        if let Some(v) = value
            && (v.is_empty() || !is_escaped_run(v, grammar::is_param))
        {
            return Err(bad_uri());
        }
        params.push_raw(name, value);
        tail = &p[end..];
    }

    let mut headers = Vec::new();
    if let Some(h) = tail.strip_prefix('?') {
        if !h.is_empty() {
            for pair in h.split('&') {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                if name.is_empty()
                    || !is_escaped_run(name, grammar::is_hnv)
                    || !is_escaped_run(value, grammar::is_hnv)
                {
                    return Err(bad_uri());
                }
                headers.push((name.to_owned(), value.to_owned()));
            }
        }
    } else if !tail.is_empty() {
        return Err(bad_uri());
    }

    Ok(Uri {
        scheme,
        user,
        password,
        host: host.to_owned(),
        port,
        params,
        headers,
        opaque: None,
    })
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.scheme.as_str())?;
        f.write_char(':')?;
        if let Some(opaque) = &self.opaque {
            return f.write_str(opaque);
        }
        if let Some(user) = &self.user {
            f.write_str(user)?;
            if let Some(password) = &self.password {
                f.write_char(':')?;
                f.write_str(password)?;
            }
            f.write_char('@')?;
        }
        f.write_str(&self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        for (name, value) in self.params.iter() {
            f.write_char(';')?;
            f.write_str(name)?;
            if let Some(v) = value {
                f.write_char('=')?;
                f.write_str(v)?;
            }
        }
        for (i, (name, value)) in self.headers.iter().enumerate() {
            f.write_char(if i == 0 { '?' } else { '&' })?;
            f.write_str(name)?;
            f.write_char('=')?;
            f.write_str(value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(s: &str) -> Uri {
        let u = Uri::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(u.to_string(), s);
        assert_eq!(Uri::parse(&u.to_string()).unwrap(), u);
        u
    }

    #[test]
    fn sip_uris() {
        let u = rt("sip:alice:secret@[2001:db8::1]:5061;transport=tls;lr?subject=x&h=");
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.password.as_deref(), Some("secret"));
        assert_eq!(u.host, "[2001:db8::1]");
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.param("transport"), Some(Some("tls")));
        assert_eq!(u.param("LR"), Some(None));
        assert_eq!(u.headers.len(), 2);
        let u = rt(
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
        );
        assert_eq!(u.host, "example.com");
        let u = rt("sip:user;par=u%40example.net@example.com");
        assert_eq!(
            u.user_unescaped().as_deref(),
            Some("user;par=u@example.net")
        );
        let u = rt("sip:null-%00-null@example.com");
        assert_eq!(u.user_unescaped().as_deref(), Some("null-\0-null"));
    }

    #[test]
    fn other_schemes_are_opaque() {
        let u = rt("nobodyKnowsThisScheme:totallyopaquecontent");
        assert_eq!(u.scheme, Scheme::Other("nobodyknowsthisscheme".into()));
        assert_eq!(u.opaque.as_deref(), Some("totallyopaquecontent"));
        let u = rt("tel:+1-201-555-0123;phone-context=example.com");
        assert_eq!(u.scheme, Scheme::Tel);
    }

    #[test]
    fn bad_uris() {
        for s in [
            "<sip:user@example.com>",
            "sip:user@example.com; lr",
            "sip: user@example.com",
            "sip:",
            "sip:@host",
            "sip:host:99999",
            "sip:host;=x",
            "sip:u%4@host",
            "1sip:x",
            "sip:host x",
        ] {
            assert!(Uri::parse(s).is_err(), "{s}");
        }
    }
}
