//! Header storage and typed header views.

use std::fmt::{self, Write as _};
use std::hash::{Hash, Hasher};

use super::Method;
use super::grammar::{self, Cursor, TopLevel};
use super::parse::{ParseError, ParseErrorKind};
use super::uri::Uri;

macro_rules! header_names {
    ($( $variant:ident => $canonical:literal $(| $alias:literal)* ;)*) => {
        /// A header name. Known names are canonicalised (compact forms expanded, case
        /// normalised); unknown names keep their original spelling and compare
        /// case-insensitively.
        #[derive(Debug, Clone)]
        #[non_exhaustive]
        pub enum HeaderName {
            $( $variant, )*
            Other(String),
        }

        impl HeaderName {
            /// The canonical spelling written on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $( HeaderName::$variant => $canonical, )*
                    HeaderName::Other(s) => s,
                }
            }

            fn from_lowercase(lower: &[u8]) -> Option<HeaderName> {
                $(
                    if lower.eq_ignore_ascii_case($canonical.as_bytes()) $(|| lower == $alias.as_bytes())* {
                        return Some(HeaderName::$variant);
                    }
                )*
                None
            }
        }
    };
}

header_names! {
    Via => "Via" | "v";
    From => "From" | "f";
    To => "To" | "t";
    CallId => "Call-ID" | "i";
    CSeq => "CSeq";
    Contact => "Contact" | "m";
    MaxForwards => "Max-Forwards";
    ContentLength => "Content-Length" | "l";
    ContentType => "Content-Type" | "c";
    ContentEncoding => "Content-Encoding" | "e";
    ContentLanguage => "Content-Language";
    ContentDisposition => "Content-Disposition";
    Route => "Route";
    RecordRoute => "Record-Route";
    Path => "Path";
    Allow => "Allow";
    Accept => "Accept";
    AcceptEncoding => "Accept-Encoding";
    AcceptLanguage => "Accept-Language";
    Supported => "Supported" | "k";
    Require => "Require";
    ProxyRequire => "Proxy-Require";
    Unsupported => "Unsupported";
    UserAgent => "User-Agent";
    Server => "Server";
    Expires => "Expires";
    MinExpires => "Min-Expires";
    Authorization => "Authorization";
    WwwAuthenticate => "WWW-Authenticate";
    ProxyAuthorization => "Proxy-Authorization";
    ProxyAuthenticate => "Proxy-Authenticate";
    AuthenticationInfo => "Authentication-Info";
    Date => "Date";
    Timestamp => "Timestamp";
    Subject => "Subject" | "s";
    Event => "Event" | "o";
    AllowEvents => "Allow-Events" | "u";
    SubscriptionState => "Subscription-State";
    ReferTo => "Refer-To" | "r";
    ReferredBy => "Referred-By" | "b";
    Replaces => "Replaces";
    SessionExpires => "Session-Expires" | "x";
    MinSE => "Min-SE";
    Reason => "Reason";
    Warning => "Warning";
    RetryAfter => "Retry-After";
    RSeq => "RSeq";
    RAck => "RAck";
    Privacy => "Privacy";
    PAssertedIdentity => "P-Asserted-Identity";
    PPreferredIdentity => "P-Preferred-Identity";
    Organization => "Organization";
    Priority => "Priority";
    CallInfo => "Call-Info";
    AlertInfo => "Alert-Info";
    ErrorInfo => "Error-Info";
    InReplyTo => "In-Reply-To";
    ReplyTo => "Reply-To";
    MimeVersion => "MIME-Version";
    Identity => "Identity" | "y";
    AcceptContact => "Accept-Contact" | "a";
    RejectContact => "Reject-Contact" | "j";
    RequestDisposition => "Request-Disposition" | "d";
}

impl HeaderName {
    /// Canonicalise a header name as read from the wire (case-insensitive, compact forms).
    pub fn from_wire(name: &str) -> HeaderName {
        let b = name.as_bytes();
        let mut buf = [0u8; 24];
        if b.len() <= buf.len() {
            let lower = &mut buf[..b.len()];
            lower.copy_from_slice(b);
            lower.make_ascii_lowercase();
            if let Some(known) = HeaderName::from_lowercase(lower) {
                return known;
            }
        }
        HeaderName::Other(name.to_owned())
    }

    fn is_other(&self) -> bool {
        matches!(self, HeaderName::Other(_))
    }
}

impl PartialEq for HeaderName {
    fn eq(&self, other: &Self) -> bool {
        if !self.is_other() && !other.is_other() {
            std::mem::discriminant(self) == std::mem::discriminant(other)
        } else {
            self.as_str().eq_ignore_ascii_case(other.as_str())
        }
    }
}
impl Eq for HeaderName {}

impl Hash for HeaderName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for b in self.as_str().bytes() {
            state.write_u8(b.to_ascii_lowercase());
        }
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One header line: the name and its value with folding (LWS) already collapsed to one SP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: HeaderName,
    pub value: String,
}

/// Ordered header list. Multi-valued headers may appear as several lines or one
/// comma-separated line; [`Headers::values`] splits both.
///
/// A message produced by [`parse`](super::parse) always holds exactly one `Content-Length`
/// equal to its body length, unless the wire carried several (which
/// [`Request::validate`](super::Request::validate) refuses).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    list: Vec<Header>,
}

impl Headers {
    pub fn new() -> Headers {
        Headers::default()
    }

    pub(super) fn with_capacity(n: usize) -> Headers {
        Headers {
            list: Vec::with_capacity(n),
        }
    }

    pub fn push(&mut self, name: HeaderName, value: impl Into<String>) {
        self.list.push(Header {
            name,
            value: value.into(),
        });
    }

    pub fn push_front(&mut self, name: HeaderName, value: impl Into<String>) {
        self.list.insert(
            0,
            Header {
                name,
                value: value.into(),
            },
        );
    }

    /// The value of the first line with this name.
    pub fn get(&self, name: &HeaderName) -> Option<&str> {
        self.list
            .iter()
            .find(|h| h.name == *name)
            .map(|h| h.value.as_str())
    }

    /// The value of every line with this name, in order.
    pub fn get_all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a str> + 'a {
        self.list
            .iter()
            .filter(move |h| h.name == *name)
            .map(|h| h.value.as_str())
    }

    /// Every value of a multi-valued header: all lines, split at commas outside quoted
    /// strings and `<>`, trimmed, empty ones skipped. Not for headers whose single value
    /// holds commas (Date, WWW-Authenticate, ...).
    pub fn values<'a>(&'a self, name: &'a HeaderName) -> Vec<&'a str> {
        self.get_all(name)
            .flat_map(TopLevel::new)
            .map(grammar::trim_ws)
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// Remove every line with this name.
    pub fn remove(&mut self, name: &HeaderName) {
        self.list.retain(|h| h.name != *name);
    }

    /// Replace every line with this name by one line, at the place of the first (or at the
    /// end when there was none).
    pub fn set(&mut self, name: HeaderName, value: impl Into<String>) {
        let value = value.into();
        match self.list.iter().position(|h| h.name == name) {
            Some(i) => {
                self.list[i].value = value;
                let mut seen = 0usize;
                self.list.retain(|h| {
                    if h.name == name {
                        seen += 1;
                        seen == 1
                    } else {
                        true
                    }
                });
            }
            None => self.push(name, value),
        }
    }

    /// Remove the first line with this name and return its value.
    pub fn remove_first(&mut self, name: &HeaderName) -> Option<String> {
        let i = self.list.iter().position(|h| h.name == *name)?;
        Some(self.list.remove(i).value)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.list.iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub(super) fn list_mut(&mut self) -> &mut Vec<Header> {
        &mut self.list
    }

    // ---- typed views: `None` (or nothing) when absent or malformed ----

    pub fn call_id(&self) -> Option<&str> {
        self.get(&HeaderName::CallId)
    }

    pub fn cseq(&self) -> Option<CSeq> {
        CSeq::parse(self.get(&HeaderName::CSeq)?).ok()
    }

    /// Every Via value, top first; malformed values are skipped.
    pub fn vias(&self) -> Vec<Via> {
        self.values(&HeaderName::Via)
            .into_iter()
            .filter_map(|v| Via::parse(v).ok())
            .collect()
    }

    pub fn top_via(&self) -> Option<Via> {
        let first = self.get(&HeaderName::Via)?;
        let top = TopLevel::new(first).next()?;
        Via::parse(top).ok()
    }

    pub fn from(&self) -> Option<NameAddr> {
        NameAddr::parse(self.get(&HeaderName::From)?).ok()
    }

    pub fn to(&self) -> Option<NameAddr> {
        NameAddr::parse(self.get(&HeaderName::To)?).ok()
    }

    /// Contact values; `*` and malformed values are skipped (see [`Headers::contact_star`]).
    pub fn contacts(&self) -> Vec<NameAddr> {
        self.name_addrs(&HeaderName::Contact)
    }

    /// Whether the Contact is the REGISTER wildcard `*`.
    pub fn contact_star(&self) -> bool {
        self.values(&HeaderName::Contact) == ["*"]
    }

    /// Max-Forwards in its range 0..=255.
    pub fn max_forwards(&self) -> Option<u32> {
        let v = grammar::parse_digits::<u32>(self.get(&HeaderName::MaxForwards)?, 3)?;
        (v <= 255).then_some(v)
    }

    pub fn content_length(&self) -> Option<usize> {
        grammar::parse_digits::<usize>(self.get(&HeaderName::ContentLength)?, 19)
    }

    pub fn content_type(&self) -> Option<&str> {
        self.get(&HeaderName::ContentType)
    }

    pub fn record_routes(&self) -> Vec<NameAddr> {
        self.name_addrs(&HeaderName::RecordRoute)
    }

    pub fn routes(&self) -> Vec<NameAddr> {
        self.name_addrs(&HeaderName::Route)
    }

    fn name_addrs(&self, name: &HeaderName) -> Vec<NameAddr> {
        self.values(name)
            .into_iter()
            .filter_map(|v| NameAddr::parse(v).ok())
            .collect()
    }

    /// Replace the first Via value. When the first Via line carries several comma-separated
    /// values only the first changes; with no Via at all, one is added at the top.
    pub fn set_top_via(&mut self, via: &Via) {
        let Some(h) = self.list.iter_mut().find(|h| h.name == HeaderName::Via) else {
            self.push_front(HeaderName::Via, via.to_string());
            return;
        };
        let mut value = via.to_string();
        if let Some(comma) = grammar::top_level_comma(&h.value) {
            value.push_str(&h.value[comma..]);
        }
        h.value = value;
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = &'a Header;
    type IntoIter = std::slice::Iter<'a, Header>;

    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

/// Generic `;name=value` parameters. Names keep their spelling and are looked up
/// case-insensitively; header parameter values are stored unquoted, URI parameter values
/// as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    list: Vec<(String, Option<String>)>,
}

impl Params {
    pub fn new() -> Params {
        Params::default()
    }

    /// `None`: absent; `Some(None)`: a flag parameter; `Some(Some(v))`: a value.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.list
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }

    /// Set a parameter, replacing its value in place when it exists.
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        let value = value.map(str::to_owned);
        match self
            .list
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value,
            None => self.list.push((name.to_owned(), value)),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.list.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.list.iter().map(|(n, v)| (n.as_str(), v.as_deref()))
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub(super) fn push_raw(&mut self, name: &str, value: Option<&str>) {
        self.list.push((name.to_owned(), value.map(str::to_owned)));
    }

    /// Parse `*( SEMI generic-param )` up to the end of the cursor (LWS allowed around `;`
    /// and `=`). `None` on any syntax error.
    fn parse_header_params(c: &mut Cursor<'_>) -> Option<Params> {
        let mut params = Params::default();
        loop {
            c.skip_ws();
            if c.at_end() {
                return Some(params);
            }
            if !c.eat(b';') {
                return None;
            }
            c.skip_ws();
            let name = c.take_while(grammar::is_token);
            if name.is_empty() {
                return None;
            }
            c.skip_ws();
            let value = if c.eat(b'=') {
                c.skip_ws();
                if c.peek() == Some(b'"') {
                    Some(c.quoted()?)
                } else {
                    let v = c.take_while(grammar::is_gen_value);
                    if v.is_empty() {
                        return None;
                    }
                    Some(v.to_owned())
                }
            } else {
                None
            };
            params.list.push((name.to_owned(), value));
        }
    }

    /// Write as header parameters, quoting values that are not token / host text.
    fn write_header_params(&self, f: &mut impl fmt::Write) -> fmt::Result {
        for (name, value) in &self.list {
            f.write_char(';')?;
            f.write_str(name)?;
            if let Some(v) = value {
                f.write_char('=')?;
                let bare = !v.is_empty()
                    && v.bytes()
                        .all(|b| grammar::is_token(b) || matches!(b, b'[' | b']' | b':'));
                if bare {
                    f.write_str(v)?;
                } else {
                    grammar::write_quoted(f, v)?;
                }
            }
        }
        Ok(())
    }
}

/// A parsed Via header value (RFC 3261 §20.42).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// `UDP`, `TCP`, `TLS`, `WS`, … (upper-cased).
    pub transport: String,
    /// Host as written (IPv6 references keep their brackets).
    pub host: String,
    pub port: Option<u16>,
    pub params: Params,
}

fn bad(name: HeaderName) -> ParseError {
    ParseError::new(ParseErrorKind::BadHeader(name))
}

impl Via {
    pub fn new(transport: &str, host: &str, port: Option<u16>, branch: &str) -> Via {
        let mut params = Params::default();
        params.set("branch", Some(branch));
        Via {
            transport: transport.to_ascii_uppercase(),
            host: host.to_owned(),
            port,
            params,
        }
    }

    /// Parse one Via value (`SIP / 2.0 / UDP host[:port] *(;param)`), LWS allowed around
    /// the separators.
    pub fn parse(s: &str) -> Result<Via, ParseError> {
        Via::parse_inner(s).ok_or_else(|| bad(HeaderName::Via))
    }

    fn parse_inner(s: &str) -> Option<Via> {
        let mut c = Cursor::new(s);
        c.skip_ws();
        if !c.take_while(grammar::is_token).eq_ignore_ascii_case("SIP") {
            return None;
        }
        c.skip_ws();
        if !c.eat(b'/') {
            return None;
        }
        c.skip_ws();
        if c.take_while(grammar::is_token) != "2.0" {
            return None;
        }
        c.skip_ws();
        if !c.eat(b'/') {
            return None;
        }
        c.skip_ws();
        let transport = c.take_while(grammar::is_token);
        if transport.is_empty() || !c.skip_ws() {
            return None;
        }
        let host = if c.peek() == Some(b'[') {
            let rest = c.rest();
            let close = rest.find(']')?;
            let inner = &rest[1..close];
            if inner.is_empty()
                || !inner
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'))
            {
                return None;
            }
            let host = &rest[..=close];
            c.advance(close + 1);
            host
        } else {
            c.take_while(grammar::is_host)
        };
        if host.is_empty() {
            return None;
        }
        c.skip_ws();
        let port = if c.eat(b':') {
            c.skip_ws();
            Some(grammar::parse_digits::<u16>(
                c.take_while(|b| b.is_ascii_digit()),
                5,
            )?)
        } else {
            None
        };
        let params = Params::parse_header_params(&mut c)?;
        Some(Via {
            transport: transport.to_ascii_uppercase(),
            host: host.to_owned(),
            port,
            params,
        })
    }

    pub fn branch(&self) -> Option<&str> {
        self.params.get("branch").flatten()
    }

    pub fn received(&self) -> Option<&str> {
        self.params.get("received").flatten()
    }

    /// `None`: no rport; `Some(None)`: rport requested (flag); `Some(Some(p))`: filled in.
    pub fn rport(&self) -> Option<Option<u16>> {
        match self.params.get("rport")? {
            None => Some(None),
            Some(v) => grammar::parse_digits::<u16>(v, 5).map(Some),
        }
    }

    /// The sent-by port, defaulted by transport (5061 for TLS, 5060 otherwise).
    pub fn sent_by_port(&self) -> u16 {
        self.port
            .unwrap_or(if self.transport.eq_ignore_ascii_case("TLS") {
                5061
            } else {
                5060
            })
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        self.params.write_header_params(f)
    }
}

/// `name-addr` / `addr-spec` with header parameters: From, To, Contact, Route, Record-Route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name, unquoted and unescaped (token forms joined by single spaces).
    pub display: Option<String>,
    pub uri: Uri,
    pub params: Params,
}

impl NameAddr {
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr {
            display: None,
            uri,
            params: Params::default(),
        }
    }

    /// Parse `[display-name] <uri> *(;param)` or `addr-spec *(;param)`. In the addr-spec form
    /// every `;` starts a header parameter, and a URI holding `?` or `,` is refused (RFC 3261
    /// §20: such URIs must be enclosed in `<>`).
    pub fn parse(s: &str) -> Result<NameAddr, ParseError> {
        NameAddr::parse_inner(grammar::trim_ws(s))
            .ok_or_else(|| ParseError::new(ParseErrorKind::BadNameAddr))
    }

    fn parse_inner(s: &str) -> Option<NameAddr> {
        let mut c = Cursor::new(s);
        let display;
        if c.peek() == Some(b'"') {
            display = Some(c.quoted()?);
            c.skip_ws();
            if c.peek() != Some(b'<') {
                return None;
            }
        } else if let Some(lt) = s.find('<') {
            let text = grammar::trim_ws(&s[..lt]);
            let mut words = Vec::new();
            for word in text.split([' ', '\t']).filter(|w| !w.is_empty()) {
                if !grammar::is_token_str(word) {
                    return None;
                }
                words.push(word);
            }
            display = (!words.is_empty()).then(|| words.join(" "));
            c = Cursor::new(&s[lt..]);
        } else {
            let end = s
                .bytes()
                .position(|b| b == b';' || grammar::is_ws(b))
                .unwrap_or(s.len());
            let spec = &s[..end];
            if spec.contains(['?', ',']) {
                return None;
            }
            let uri = Uri::parse(spec).ok()?;
            let mut c = Cursor::new(&s[end..]);
            let params = Params::parse_header_params(&mut c)?;
            return Some(NameAddr {
                display: None,
                uri,
                params,
            });
        }
        // At '<'.
        c.eat(b'<');
        let rest = c.rest();
        let gt = rest.find('>')?;
        let uri = Uri::parse(&rest[..gt]).ok()?;
        let mut c = Cursor::new(&rest[gt + 1..]);
        let params = Params::parse_header_params(&mut c)?;
        Some(NameAddr {
            display,
            uri,
            params,
        })
    }

    pub fn tag(&self) -> Option<&str> {
        self.params.get("tag").flatten()
    }

    pub fn set_tag(&mut self, tag: &str) {
        self.params.set("tag", Some(tag));
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(display) = &self.display {
            grammar::write_quoted(f, display)?;
            f.write_char(' ')?;
        }
        write!(f, "<{}>", self.uri)?;
        self.params.write_header_params(f)
    }
}

/// CSeq (RFC 3261 §20.16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// Below 2^31 (RFC 3261 §8.1.1.5).
    pub seq: u32,
    pub method: Method,
}

impl CSeq {
    pub fn parse(s: &str) -> Result<CSeq, ParseError> {
        let mut c = Cursor::new(grammar::trim_ws(s));
        let seq = grammar::parse_digits::<u32>(c.take_while(|b| b.is_ascii_digit()), 10)
            .filter(|n| *n < 1 << 31)
            .ok_or_else(|| bad(HeaderName::CSeq))?;
        if !c.skip_ws() {
            return Err(bad(HeaderName::CSeq));
        }
        let method = c.rest();
        if !grammar::is_token_str(method) {
            return Err(bad(HeaderName::CSeq));
        }
        Ok(CSeq {
            seq,
            method: Method::from_token(method),
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names() {
        assert_eq!(HeaderName::from_wire("i"), HeaderName::CallId);
        assert_eq!(HeaderName::from_wire("ViA").as_str(), "Via");
        assert_eq!(HeaderName::from_wire("x").as_str(), "Session-Expires");
        assert_eq!(HeaderName::from_wire("call-id").as_str(), "Call-ID");
        assert_eq!(HeaderName::from_wire("C%6Fntact").as_str(), "C%6Fntact");
        assert_eq!(
            HeaderName::from_wire("X-Foo"),
            HeaderName::Other("x-foo".into())
        );
        assert_ne!(HeaderName::from_wire("Contact"), HeaderName::To);
        assert_eq!(HeaderName::Other("via".into()), HeaderName::Via);
    }

    #[test]
    fn via_with_lws() {
        let v = Via::parse("SIP  /   2.0 /UDP 192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, "192.0.2.2");
        assert_eq!(v.branch(), Some("390skdjuw"));
        let v =
            Via::parse("SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8  ")
                .unwrap();
        assert_eq!(v.branch(), Some("z9hG4bK9ikj8"));
        assert_eq!(v.sent_by_port(), 5060);
        let v = Via::parse("SIP/2.0/TLS [2001:db8::1]:5071;rport;received=2001:db8::2").unwrap();
        assert_eq!(v.host, "[2001:db8::1]");
        assert_eq!(v.port, Some(5071));
        assert_eq!(v.rport(), Some(None));
        assert_eq!(v.received(), Some("2001:db8::2"));
        assert_eq!(Via::parse(&v.to_string()).unwrap(), v);
        for bad in [
            "SIP/2.0/UDP 192.0.2.15;;",
            ";",
            "",
            "SIP/7.0/UDP host",
            "SIP/2.0/UDP",
            "SIP/2.0/UDP host:99999",
        ] {
            assert!(Via::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn name_addrs() {
        let n = NameAddr::parse(r#""J Rosenberg \\\""  <sip:jdrosen@example.com> ; tag = 98asjd8"#)
            .unwrap();
        assert_eq!(n.display.as_deref(), Some(r#"J Rosenberg \""#));
        assert_eq!(n.tag(), Some("98asjd8"));
        assert_eq!(NameAddr::parse(&n.to_string()).unwrap(), n);
        let n =
            NameAddr::parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").unwrap();
        assert_eq!(n.tag(), Some("1918181833n"));
        let n = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(n.display.as_deref(), Some("caller"));
        let n = NameAddr::parse("sip:+19725552222@gw1.example.net;unknownparam").unwrap();
        assert_eq!(n.params.get("unknownparam"), Some(None));
        assert!(n.uri.params.is_empty());
        let n = NameAddr::parse("isbn:2983792873").unwrap();
        assert_eq!(n.uri.opaque.as_deref(), Some("2983792873"));
        for bad in [
            r#""Mr. J. User <sip:j.user@example.com>"#,
            "< sip:t.watson@example.org >",
            "Watson, Thomas <sip:t.watson@example.org>",
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            r#""Joe" <sip:joe@example.org>;;;;"#,
            "<sip:a@b",
        ] {
            assert!(NameAddr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cseq() {
        let c = CSeq::parse("0009 INVITE").unwrap();
        assert_eq!((c.seq, c.method), (9, Method::Invite));
        assert!(CSeq::parse("36893488147419103232 REGISTER").is_err());
        assert!(CSeq::parse("2147483648 INVITE").is_err());
        assert!(CSeq::parse("1INVITE").is_err());
        assert!(CSeq::parse("1 INVITE x").is_err());
    }

    #[test]
    fn headers_ops() {
        let mut h = Headers::new();
        h.push(
            HeaderName::Via,
            "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2",
        );
        h.push(HeaderName::Via, "SIP/2.0/UDP c");
        assert_eq!(h.values(&HeaderName::Via).len(), 3);
        assert_eq!(h.vias().len(), 3);
        h.set_top_via(&Via::new("tcp", "x", Some(5070), "z9hG4bKnew"));
        assert_eq!(
            h.get(&HeaderName::Via),
            Some("SIP/2.0/TCP x:5070;branch=z9hG4bKnew, SIP/2.0/UDP b;branch=z9hG4bK2")
        );
        h.set(HeaderName::Via, "SIP/2.0/UDP only");
        assert_eq!(h.len(), 1);
        assert_eq!(
            h.remove_first(&HeaderName::Via).as_deref(),
            Some("SIP/2.0/UDP only")
        );
        assert!(h.is_empty());
        h.push(HeaderName::MaxForwards, "300");
        assert_eq!(h.max_forwards(), None);
        h.set(HeaderName::MaxForwards, "0068");
        assert_eq!(h.max_forwards(), Some(68));
    }
}
