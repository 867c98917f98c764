//! Errors: [`Error`] for storage and start-up, [`AppError`] for the HTTP answer.
//!
//! An [`AppError`] becomes `{"error":{"code","message","fields"}}` with its 4xx status. An
//! internal error answers a bare 500 whose body says nothing of the cause; the cause travels
//! in the response's extensions to the request-id layer ([`crate::request`]), which logs it
//! with the request id and strips it.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Storage, configuration and crypto failures. Never shown to API clients.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("password hashing: {0}")]
    Password(argon2::password_hash::Error),
    #[error("operating system random source: {0}")]
    Random(rand::rand_core::OsError),
    #[error("JWT secret file {path}: {source}")]
    SecretFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("JWT secret is too short (need at least 32 bytes)")]
    SecretTooShort,
    #[error("blocking task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("stored value {column} is not valid: {value:?}")]
    Corrupt { column: &'static str, value: String },
    #[error("tenant name must be 1-64 characters of a-z, 0-9, '-' or '_'")]
    TenantName,
    #[error("username must be 1-128 visible characters")]
    Username,
    #[error("user {0} already exists")]
    UserExists(String),
}

/// Field name → what is wrong with it.
pub type Fields = BTreeMap<String, String>;

/// An API failure; each variant has one status code and one stable `code` string.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("authentication required")]
    Unauthenticated,
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("permission denied")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(&'static str),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("{message}")]
    Invalid { message: String, fields: Fields },
    #[error("internal error")]
    Internal(#[from] Error),
}

impl AppError {
    /// A 422 naming one field.
    pub fn field(name: &str, problem: impl Into<String>) -> AppError {
        let mut fields = Fields::new();
        fields.insert(name.to_owned(), problem.into());
        AppError::Invalid {
            message: "invalid request".into(),
            fields,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest { code, .. } => code,
            AppError::Unauthenticated => "unauthenticated",
            AppError::InvalidCredentials => "invalid_credentials",
            AppError::Forbidden => "forbidden",
            AppError::NotFound => "not_found",
            AppError::MethodNotAllowed => "method_not_allowed",
            AppError::Conflict(_) => "conflict",
            AppError::PayloadTooLarge => "payload_too_large",
            AppError::UnsupportedMediaType => "unsupported_media_type",
            AppError::Invalid { .. } => "invalid",
            AppError::Internal(_) => "internal",
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> AppError {
        AppError::Internal(Error::Db(e))
    }
}

impl From<&AppError> for StatusCode {
    fn from(e: &AppError) -> StatusCode {
        match e {
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Unauthenticated | AppError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            AppError::Forbidden => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The wire shape of every error.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid`, `not_found`.
    pub code: String,
    /// Human-readable summary.
    pub message: String,
    /// Per-field problems (JSON path → message); empty when none.
    pub fields: Fields,
}

/// An internal error's cause, carried to the request-id layer for logging.
#[derive(Clone)]
pub(crate) struct InternalCause(pub std::sync::Arc<Error>);

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = StatusCode::from(&self);
        let code = self.code();
        let (message, fields, cause) = match self {
            AppError::Invalid { message, fields } => (message, fields, None),
            AppError::Internal(e) => ("internal error".to_owned(), Fields::new(), Some(e)),
            other => (other.to_string(), Fields::new(), None),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message,
                fields,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(cause) = cause {
            response
                .extensions_mut()
                .insert(InternalCause(std::sync::Arc::new(cause)));
        }
        response
    }
}
