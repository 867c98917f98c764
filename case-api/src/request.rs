//! Request plumbing: the `x-request-id` layer, the client address, and the JSON body and
//! query extractors that turn every malformed input into an [`AppError`].

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde::de::DeserializeOwned;

use crate::error::{AppError, Fields, InternalCause};
use crate::token;

/// The request id header, read when a client or proxy sends one and always echoed.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request bodies above this size answer 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// This request's id (from `x-request-id` when usable, else generated).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Who asked and from where, as the audit trail records it.
#[derive(Clone, Debug)]
pub struct RequestMeta {
    pub request_id: String,
    /// The peer address, or empty when the server was not given one (tests).
    pub client_addr: String,
}

/// A client-chosen id is kept when it is 1-128 visible ASCII characters.
fn usable(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| s.to_owned())
}

fn generate() -> String {
    let mut bytes = [0u8; 16];
    match token::fill_random(&mut bytes) {
        Ok(()) => token::hex(&bytes),
        // Without OS randomness a request id need only be unique enough to find a log line.
        Err(_) => format!("t{}", crate::clock::Clock::system().now_ms()),
    }
}

/// Middleware: assign the request id, echo it, and log an internal error's cause with it.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(usable)
        .unwrap_or_else(generate);
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut response = next.run(req).await;
    if let Some(InternalCause(cause)) = response.extensions_mut().remove::<InternalCause>() {
        tracing::error!(request_id = %id, %method, path, error = %cause, "internal error");
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID.clone(), v);
    }
    response
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let request_id = match parts.extensions.get::<RequestId>() {
            Some(id) => id.0.clone(),
            None => generate(),
        };
        let client_addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.to_string())
            .unwrap_or_default();
        Ok(RequestMeta {
            request_id,
            client_addr,
        })
    }
}

/// A JSON body: 415 without `application/json`, 413 above [`BODY_LIMIT`], 400 for broken
/// JSON, 422 (naming the field) for wrong types, missing or unknown fields.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| {
                let v = v.trim();
                v.eq_ignore_ascii_case("application/json")
                    || (v.starts_with("application/") && v.ends_with("+json"))
            })
            .unwrap_or(false);
        if !json {
            return Err(AppError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e: BytesRejection| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::PayloadTooLarge
                } else {
                    AppError::BadRequest {
                        code: "unreadable_body",
                        message: "cannot read the request body".into(),
                    }
                }
            })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Deserialize `bytes`, mapping syntax errors to 400 and data errors to 422.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let bad_json = |e: serde_json::Error| AppError::BadRequest {
        code: "invalid_json",
        message: format!("invalid JSON: {e}"),
    };
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(v) => {
            de.end().map_err(bad_json)?;
            Ok(v)
        }
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if !inner.is_data() {
                return Err(bad_json(inner));
            }
            let key = if path == "." || path.is_empty() {
                String::from("$")
            } else {
                path
            };
            let mut fields = Fields::new();
            fields.insert(key, strip_position(&inner.to_string()));
            Err(AppError::Invalid {
                message: "request body does not match the schema".into(),
                fields,
            })
        }
    }
}

/// serde_json appends " at line L column C"; the field path already says where.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// A query string: 422 naming the parameter when it does not fit `T`.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(q) => Ok(ApiQuery(q.0)),
            Err(e) => Err(AppError::Invalid {
                message: "invalid query string".into(),
                fields: [("query".to_owned(), e.body_text())].into_iter().collect(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        a: i64,
    }

    #[test]
    fn json_errors_are_classified() {
        assert!(matches!(
            parse_json::<T>(b"{\"a\":"),
            Err(AppError::BadRequest { .. })
        ));
        assert!(matches!(
            parse_json::<T>(b"{\"a\":1} x"),
            Err(AppError::BadRequest { .. })
        ));
        match parse_json::<T>(b"{\"a\":\"x\"}") {
            Err(AppError::Invalid { fields, .. }) => assert!(fields.contains_key("a")),
            other => panic!("{other:?}"),
        }
        match parse_json::<T>(b"{\"a\":1,\"b\":2}") {
            Err(AppError::Invalid { fields, .. }) => assert!(fields.contains_key("b")),
            other => panic!("{other:?}"),
        }
        assert!(parse_json::<T>(b" {\"a\":1} ").is_ok());
    }
}
