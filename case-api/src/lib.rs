//! # hotline-case-api — cases, interactions and the REST/WebSocket API
//!
//! Owns: tenants, users, roles, cases, interactions, documents and the audit trail, stored
//! with sqlx (SQLite by default, PostgreSQL in production), and the HTTP API served on the
//! engine's HTTP port. Refuses: SIP and audio; calls arrive only as events and records.
//!
//! Shape of a request: the [`request`] layer gives it an id; [`auth::Ctx`] authenticates the
//! bearer (JWT or API key) and yields a [`tenant::Scope`], the only door to tenant data; the
//! handler opens one [`tenant::Tx`] (which holds the tenant's lock), changes rows, appends
//! to the tenant's hash-chained [`audit`] trail and commits. Errors leave as [`AppError`]s.
//!
//! Time model: wall-clock time is read only through [`Clock`], which tests drive by hand.
//!
//! ```
//! use hotline_case_api::{AppState, Clock, Db, JwtKey, Role};
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let db = Db::connect("sqlite::memory:").await?;
//! db.migrate().await?;
//! let cost = hotline_case_api::PasswordCost::insecure_fast();
//! hotline_case_api::auth::create_user(&db, "acme", "root", "pw", Role::Admin, cost, 0).await?;
//! let state = AppState::new(db, JwtKey::new(vec![0x42; 32])?, Clock::system());
//! // Merge into the engine's HTTP app; serve with `ConnectInfo<SocketAddr>` for audit rows.
//! let app: axum::Router = hotline_case_api::router(state);
//! # let _ = app;
//! # Ok::<(), hotline_case_api::Error>(())
//! # }).unwrap();
//! ```

pub mod audit;
pub mod auth;
pub mod cases;
pub mod clock;
pub mod db;
pub mod error;
pub mod openapi;
pub mod request;
pub mod tenant;
pub mod token;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{any, get, post};

pub use auth::{PasswordCost, Permission, Role};
pub use clock::Clock;
pub use db::{Backend, Db};
pub use error::{AppError, Error};
pub use token::JwtKey;

/// What the handlers share: the database, the token key, the clock.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) db: Db,
    pub(crate) jwt: JwtKey,
    pub(crate) clock: Clock,
    /// A hash verified against when a login names no user, so both paths cost the same.
    pub(crate) dummy_hash: String,
}

/// A fixed Argon2id PHC string (of a random password, cost = the default) for unknown users.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
                          3gR8ZfPV3Vr0bq3wL0Yp2nYl6hU0bC7k9zq8yJ8l0aE";

impl AppState {
    pub fn new(db: Db, jwt: JwtKey, clock: Clock) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                db,
                jwt,
                clock,
                dummy_hash: DUMMY_HASH.to_owned(),
            }),
        }
    }

    /// The engine's start-up: open `DATABASE_URL` or `<data_dir>/hotline.db`, run the
    /// migrations, load or create the JWT key.
    pub async fn open(data_dir: &std::path::Path) -> Result<AppState, Error> {
        let db = Db::from_env(data_dir).await?;
        db.migrate().await?;
        let jwt = JwtKey::from_env_or_file(data_dir)?;
        Ok(AppState::new(db, jwt, Clock::system()))
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }
}

/// The case API's routes, to merge into the engine's HTTP app.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/openapi.json", get(openapi::document))
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/refresh", post(auth::refresh))
        .route("/api/keys", post(auth::create_api_key))
        .route("/api/cases", post(cases::create).get(cases::list))
        .route("/api/cases/{id}", get(cases::get).patch(cases::update))
        .route("/api/cases/{id}/resolve", post(cases::resolve))
        .route("/api/cases/{id}/reopen", post(cases::reopen))
        .route("/api/audit/verify", get(audit::verify))
        .route("/api/{*rest}", any(not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(request::BODY_LIMIT))
        .layer(axum::middleware::from_fn(request::request_id))
        .with_state(state)
}

async fn not_found() -> AppError {
    AppError::NotFound
}

async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn dummy_hash_is_a_valid_argon2id_hash() {
        let ok = crate::auth::verify_password(super::DUMMY_HASH.to_owned(), "guess".into()).await;
        assert!(matches!(ok, Ok(false)), "{ok:?}");
    }
}
