//! Matching messages to transactions: RFC 3261 §17.1.3 (responses to client transactions) and
//! §17.2.3 (requests to server transactions), with the RFC 2543 fallback for branches that
//! lack the magic cookie.

use crate::message::{HeaderName, Method, Request, Response, Via};

/// The RFC 3261 magic cookie that starts every branch of a compliant implementation.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// Whether `branch` is an RFC 3261 branch: the magic cookie followed by at least one more
/// character. A branch that is exactly the cookie (torture test `badbranch`) is not unique
/// and falls back to RFC 2543 matching.
pub fn is_rfc3261_branch(branch: &str) -> bool {
    branch.len() > MAGIC_COOKIE.len() && branch.starts_with(MAGIC_COOKIE)
}

/// The default port of a Via transport (RFC 3261 §18.2.2, RFC 7118).
pub(crate) fn default_port(via_transport: &str) -> u16 {
    if via_transport.eq_ignore_ascii_case("TLS") || via_transport.eq_ignore_ascii_case("WSS") {
        5061
    } else {
        5060
    }
}

/// The key a client transaction is found by (§17.1.3): top Via branch and CSeq method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ClientMatch {
    pub(crate) branch: String,
    pub(crate) method: Method,
}

impl ClientMatch {
    /// The key of the transaction a response belongs to; `None` when the response has no
    /// top Via branch or no CSeq.
    pub(crate) fn of_response(resp: &Response) -> Option<ClientMatch> {
        let via = resp.headers.top_via()?;
        let branch = via.branch()?.to_owned();
        let method = resp.headers.cseq()?.method;
        Some(ClientMatch { branch, method })
    }
}

/// The key a server transaction is found by (§17.2.3).
///
/// `method` is the method of the request that *created* the transaction, so an ACK is looked
/// up with [`Method::Invite`]; a CANCEL has its own transaction (method CANCEL) and finds the
/// INVITE it cancels by the same key with [`Method::Invite`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ServerMatch {
    /// Branch with the magic cookie: branch, sent-by (host lower-cased, port defaulted), method.
    Rfc3261 {
        branch: String,
        host: String,
        port: u16,
        method: Method,
    },
    /// RFC 2543 (§17.2.3, last paragraphs): Request-URI, From tag, Call-ID, CSeq number and
    /// the whole top Via. The To tag is checked apart, because an ACK carries the To tag of
    /// the response rather than that of the INVITE.
    Rfc2543 {
        uri: String,
        from_tag: Option<String>,
        call_id: String,
        seq: u32,
        top_via: String,
        method: Method,
    },
}

impl ServerMatch {
    /// The key for `req` (whose top Via is `via`), as seen for a transaction created by
    /// `method`. Without a magic-cookie branch, fails with the header RFC 2543 matching
    /// needs and the request lacks.
    pub(crate) fn of_request(
        req: &Request,
        via: &Via,
        method: Method,
    ) -> Result<ServerMatch, HeaderName> {
        match via.branch() {
            Some(branch) if is_rfc3261_branch(branch) => Ok(ServerMatch::Rfc3261 {
                branch: branch.to_owned(),
                host: via.host.to_ascii_lowercase(),
                port: via.port.unwrap_or_else(|| default_port(&via.transport)),
                method,
            }),
            _ => Ok(ServerMatch::Rfc2543 {
                uri: req.uri.to_string(),
                from_tag: req
                    .headers
                    .from()
                    .ok_or(HeaderName::From)?
                    .tag()
                    .map(str::to_owned),
                call_id: req.headers.call_id().ok_or(HeaderName::CallId)?.to_owned(),
                seq: req.headers.cseq().ok_or(HeaderName::CSeq)?.seq,
                top_via: via.to_string(),
                method,
            }),
        }
    }

    /// The same key for a transaction created by another method (ACK → INVITE, CANCEL →
    /// the INVITE it cancels).
    pub(crate) fn with_method(&self, method: Method) -> ServerMatch {
        let mut key = self.clone();
        match &mut key {
            ServerMatch::Rfc3261 { method: m, .. } | ServerMatch::Rfc2543 { method: m, .. } => {
                *m = method;
            }
        }
        key
    }

    pub(crate) fn is_rfc2543(&self) -> bool {
        matches!(self, ServerMatch::Rfc2543 { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_alone_is_not_a_3261_branch() {
        assert!(!is_rfc3261_branch("z9hG4bK"));
        assert!(!is_rfc3261_branch("abc"));
        assert!(!is_rfc3261_branch(""));
        assert!(is_rfc3261_branch("z9hG4bK776asdhds"));
    }

    #[test]
    fn default_ports() {
        assert_eq!(default_port("UDP"), 5060);
        assert_eq!(default_port("tcp"), 5060);
        assert_eq!(default_port("TLS"), 5061);
        assert_eq!(default_port("WSS"), 5061);
    }
}
