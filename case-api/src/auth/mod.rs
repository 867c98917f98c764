//! Authentication: who is calling, for which tenant, with which role.
//!
//! A [`Principal`] can only be made here, from a verified access token, an API key or a
//! successful login; its fields are private. [`Ctx`], the extractor every tenant endpoint
//! takes, turns it into a [`Scope`] — the tenant-scoped repository — so a handler has no way
//! to name another tenant.
//!
//! The queries in this module run before there is a principal (find a user by tenant and
//! name, a refresh token or an API key by hash); they return credentials only.

mod password;
mod role;

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

pub use password::{PasswordCost, hash as hash_password, verify as verify_password};
pub use role::{Permission, Role};

use crate::AppState;
use crate::audit::{self, AuditEntry};
use crate::db::Db;
use crate::error::{AppError, Error};
use crate::request::{ApiJson, RequestMeta};
use crate::tenant::{Scope, decode};
use crate::token::{self, ACCESS_TTL_MS, Claims, REFRESH_TTL_MS};

/// Who acts: a user of the tenant or one of its API keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    User(i64),
    /// An API key, named by its public prefix.
    ApiKey(String),
}

/// An authenticated caller. Only this module constructs one.
#[derive(Clone, Debug)]
pub struct Principal {
    tenant: String,
    actor: Actor,
    role: Role,
}

impl Principal {
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// `user:<id>` or `key:<prefix>`, as audit rows and `created_by` record it.
    pub fn actor_label(&self) -> String {
        match &self.actor {
            Actor::User(id) => format!("user:{id}"),
            Actor::ApiKey(prefix) => format!("key:{prefix}"),
        }
    }
}

/// The extractor of every authenticated endpoint: the caller's tenant scope.
pub struct Ctx {
    pub scope: Scope,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Ok(meta) = RequestMeta::from_request_parts(parts, state).await;
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or(AppError::Unauthenticated)?;
        let value = header.to_str().map_err(|_| AppError::Unauthenticated)?;
        let (scheme, credential) = value.split_once(' ').ok_or(AppError::Unauthenticated)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AppError::Unauthenticated);
        }
        let credential = credential.trim();
        let principal = if credential.starts_with(API_KEY_PREFIX) {
            api_key_principal(&state.inner.db, credential).await?
        } else {
            let claims = state
                .inner
                .jwt
                .verify(credential, state.inner.clock.now_ms())
                .map_err(|e| {
                    tracing::debug!(request_id = %meta.request_id, reason = %e, "access token refused");
                    AppError::Unauthenticated
                })?;
            Principal {
                tenant: claims.tid,
                actor: Actor::User(claims.sub),
                role: claims.role,
            }
        };
        Ok(Ctx {
            scope: Scope::new(
                state.inner.db.clone(),
                principal,
                meta,
                state.inner.clock.clone(),
            ),
        })
    }
}

const API_KEY_PREFIX: &str = "hk_";
const REFRESH_PREFIX: &str = "hr_";

async fn api_key_principal(db: &Db, key: &str) -> Result<Principal, AppError> {
    let row = sqlx::query(
        "SELECT tenant_id, prefix, role FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
    )
    .bind(token::sha256_hex(key.as_bytes()))
    .fetch_optional(&db.pool)
    .await?
    .ok_or(AppError::Unauthenticated)?;
    Ok(Principal {
        tenant: row.try_get("tenant_id")?,
        actor: Actor::ApiKey(row.try_get("prefix")?),
        role: decode("api_keys.role", row.try_get("role")?, Role::parse)?,
    })
}

/// `POST /api/auth/login` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub tenant: String,
    pub username: String,
    pub password: String,
}

/// `POST /api/auth/refresh` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// A fresh access token and its refresh token.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// HS256 JWT, valid 15 minutes.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Single-use: `POST /api/auth/refresh` replaces it.
    pub refresh_token: String,
    pub role: Role,
}

/// Exchange a tenant, username and password for tokens.
#[utoipa::path(
    post, path = "/api/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "Wrong tenant, username or password", body = crate::error::ErrorBody),
        (status = 422, description = "Malformed body", body = crate::error::ErrorBody),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    meta: RequestMeta,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<TokenResponse>, AppError> {
    let inner = &state.inner;
    let row = sqlx::query(
        "SELECT id, password_hash, role FROM users WHERE tenant_id = $1 AND username = $2",
    )
    .bind(&req.tenant)
    .bind(&req.username)
    .fetch_optional(&inner.db.pool)
    .await?;
    let Some(row) = row else {
        // Spend the same work as for a real user, so timing does not reveal who exists.
        let _ = password::verify(inner.dummy_hash.clone(), req.password).await;
        return Err(AppError::InvalidCredentials);
    };
    let stored: String = row.try_get("password_hash")?;
    if !password::verify(stored, req.password).await? {
        return Err(AppError::InvalidCredentials);
    }
    let user_id: i64 = row.try_get("id")?;
    let principal = Principal {
        tenant: req.tenant,
        actor: Actor::User(user_id),
        role: decode("users.role", row.try_get("role")?, Role::parse)?,
    };
    let scope = Scope::new(inner.db.clone(), principal, meta, inner.clock.clone());
    let mut tx = scope.begin().await?;
    let refresh = token::new_secret(REFRESH_PREFIX).map_err(AppError::Internal)?;
    let now = tx.now_ms();
    insert_refresh(tx.conn(), scope.tenant(), user_id, &refresh, now).await?;
    tx.audit("auth.login", "user", &user_id.to_string(), json!({}))
        .await?;
    tx.commit().await?;
    Ok(Json(issue(
        &state,
        scope.principal(),
        user_id,
        refresh,
        now,
    )))
}

/// Exchange a refresh token for new tokens; the old refresh token is spent.
#[utoipa::path(
    post, path = "/api/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 401, description = "Unknown, expired or already used refresh token", body = crate::error::ErrorBody),
    )
)]
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<Json<TokenResponse>, AppError> {
    let inner = &state.inner;
    let now = inner.clock.now_ms();
    let hash = token::sha256_hex(req.refresh_token.as_bytes());
    let mut tx = inner.db.pool.begin().await?;
    let spent = sqlx::query(
        "UPDATE refresh_tokens SET used_at = $2 \
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
         RETURNING tenant_id, user_id",
    )
    .bind(&hash)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(spent) = spent else {
        // A used token presented again means it leaked: end every session of that user.
        let reused = sqlx::query(
            "SELECT tenant_id, user_id FROM refresh_tokens \
             WHERE token_hash = $1 AND used_at IS NOT NULL",
        )
        .bind(&hash)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(r) = reused {
            let tenant: String = r.try_get("tenant_id")?;
            let user: i64 = r.try_get("user_id")?;
            sqlx::query(
                "UPDATE refresh_tokens SET used_at = $3 \
                 WHERE tenant_id = $1 AND user_id = $2 AND used_at IS NULL",
            )
            .bind(&tenant)
            .bind(user)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            tracing::warn!(tenant, user, "refresh token reused: sessions revoked");
        }
        return Err(AppError::InvalidCredentials);
    };
    let tenant: String = spent.try_get("tenant_id")?;
    let user_id: i64 = spent.try_get("user_id")?;
    let role = sqlx::query("SELECT role FROM users WHERE tenant_id = $1 AND id = $2")
        .bind(&tenant)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AppError::InvalidCredentials)?;
    let role = decode("users.role", role.try_get("role")?, Role::parse)?;
    let next = token::new_secret(REFRESH_PREFIX).map_err(AppError::Internal)?;
    insert_refresh(&mut tx, &tenant, user_id, &next, now).await?;
    tx.commit().await?;
    let principal = Principal {
        tenant,
        actor: Actor::User(user_id),
        role,
    };
    Ok(Json(issue(&state, &principal, user_id, next, now)))
}

async fn insert_refresh(
    conn: &mut sqlx::AnyConnection,
    tenant: &str,
    user_id: i64,
    token: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, tenant_id, user_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token::sha256_hex(token.as_bytes()))
    .bind(tenant)
    .bind(user_id)
    .bind(now)
    .bind(now + REFRESH_TTL_MS)
    .execute(conn)
    .await?;
    Ok(())
}

fn issue(
    state: &AppState,
    principal: &Principal,
    user_id: i64,
    refresh_token: String,
    now_ms: i64,
) -> TokenResponse {
    let iat = now_ms.div_euclid(1000);
    let claims = Claims {
        sub: user_id,
        tid: principal.tenant.clone(),
        role: principal.role,
        iat,
        exp: iat + ACCESS_TTL_MS / 1000,
    };
    TokenResponse {
        access_token: state.inner.jwt.sign(&claims),
        token_type: "Bearer",
        expires_in: ACCESS_TTL_MS / 1000,
        refresh_token,
        role: principal.role,
    }
}

/// `POST /api/keys` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// What the integration is, for people reading the audit trail.
    pub name: String,
    /// The key's role (default `agent`).
    #[serde(default)]
    pub role: Option<Role>,
}

/// A created API key; `key` is shown this once and stored only hashed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiKeyCreated {
    /// Public prefix naming the key in audit rows.
    pub id: String,
    pub name: String,
    pub role: Role,
    /// Send as `Authorization: Bearer hk_…`.
    pub key: String,
}

/// Create an API key for an integration (admin only).
#[utoipa::path(
    post, path = "/api/keys", tag = "auth",
    security(("bearer" = [])),
    request_body = NewApiKey,
    responses(
        (status = 201, description = "Created", body = ApiKeyCreated),
        (status = 403, description = "Not an admin", body = crate::error::ErrorBody),
        (status = 422, description = "Invalid body", body = crate::error::ErrorBody),
    )
)]
pub async fn create_api_key(
    ctx: Ctx,
    ApiJson(req): ApiJson<NewApiKey>,
) -> Result<(StatusCode, Json<ApiKeyCreated>), AppError> {
    let scope = ctx.scope;
    scope.require(Permission::ApiKeyCreate)?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(AppError::field("name", "must be 1-200 characters"));
    }
    let role = req.role.unwrap_or(Role::Agent);
    let key = token::new_secret(API_KEY_PREFIX).map_err(AppError::Internal)?;
    // "hk_" and the first 8 characters of the secret: enough to tell keys apart.
    let prefix = key[..API_KEY_PREFIX.len() + 8].to_owned();
    let mut tx = scope.begin().await?;
    let tenant = tx.tenant().to_owned();
    let created_by = tx.principal().actor_label();
    let now = tx.now_ms();
    sqlx::query(
        "INSERT INTO api_keys (key_hash, tenant_id, prefix, name, role, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(token::sha256_hex(key.as_bytes()))
    .bind(&tenant)
    .bind(&prefix)
    .bind(name)
    .bind(role.as_str())
    .bind(&created_by)
    .bind(now)
    .execute(tx.conn())
    .await?;
    tx.audit(
        "apikey.create",
        "api_key",
        &prefix,
        json!({"name": name, "role": role.as_str()}),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(ApiKeyCreated {
            id: prefix,
            name: name.to_owned(),
            role,
            key,
        }),
    ))
}

fn valid_tenant(t: &str) -> bool {
    (1..=64).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Create `username` with `role` in `tenant`, creating the tenant when missing (the
/// `hotline admin create` path, and the tests' way to seed users). Returns the user id.
pub async fn create_user(
    db: &Db,
    tenant: &str,
    username: &str,
    password: &str,
    role: Role,
    cost: PasswordCost,
    now_ms: i64,
) -> Result<i64, Error> {
    if !valid_tenant(tenant) {
        return Err(Error::TenantName);
    }
    let name_ok = (1..=128).contains(&username.chars().count())
        && !username
            .chars()
            .any(|c| c.is_control() || c.is_whitespace());
    if !name_ok {
        return Err(Error::Username);
    }
    let hash = password::hash(cost, password.to_owned()).await?;
    let mut tx = db.pool.begin().await?;
    // Take the tenant's lock first (as every writer does), creating the tenant if needed.
    let locked = sqlx::query(
        "UPDATE tenants SET next_user_id = next_user_id + 1 WHERE id = $1 \
         RETURNING next_user_id, audit_seq, audit_head",
    )
    .bind(tenant)
    .fetch_optional(&mut *tx)
    .await?;
    let (id, seq, head) = match locked {
        Some(row) => (
            row.try_get::<i64, _>("next_user_id")? - 1,
            row.try_get::<i64, _>("audit_seq")?,
            row.try_get::<String, _>("audit_head")?,
        ),
        None => {
            sqlx::query("INSERT INTO tenants (id, created_at, next_user_id) VALUES ($1, $2, 2)")
                .bind(tenant)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            (1, 0, String::new())
        }
    };
    let exists = sqlx::query("SELECT 1 AS one FROM users WHERE tenant_id = $1 AND username = $2")
        .bind(tenant)
        .bind(username)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_some() {
        return Err(Error::UserExists(username.to_owned()));
    }
    sqlx::query(
        "INSERT INTO users (tenant_id, id, username, password_hash, role, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(tenant)
    .bind(id)
    .bind(username)
    .bind(&hash)
    .bind(role.as_str())
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    let detail = json!({"username": username, "role": role.as_str()}).to_string();
    let object_id = id.to_string();
    let entry = AuditEntry {
        tenant_id: tenant,
        seq: seq + 1,
        at: now_ms,
        actor: "system:admin-create",
        action: "user.create",
        object_type: "user",
        object_id: &object_id,
        request_id: "",
        client_addr: "",
        detail: &detail,
    };
    let hash = audit::chain_hash(&head, &entry);
    audit::insert(&mut tx, &entry, &head, &hash).await?;
    sqlx::query("UPDATE tenants SET audit_seq = $2, audit_head = $3 WHERE id = $1")
        .bind(tenant)
        .bind(seq + 1)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names_are_slugs() {
        assert!(valid_tenant("acme-1_x"));
        assert!(!valid_tenant(""));
        assert!(!valid_tenant("Acme"));
        assert!(!valid_tenant("a b"));
        assert!(!valid_tenant(&"a".repeat(65)));
    }
}
