//! The audit trail: append-only, hash-chained per tenant.
//!
//! Row `n` stores `hash_n = SHA-256(hash_{n-1} ‖ canonical(row_n))`, where `hash_{n-1}` is
//! the previous row's hash as its 64 lowercase hex characters (empty for the first row) and
//! `canonical` is a version tag followed by every column as a big-endian u64 length and its
//! UTF-8 bytes (integers in decimal), in a fixed order. The tenant row keeps the head (last
//! sequence number and hash), so verification also notices rows cut from the end.
//!
//! There is no API to change or delete audit rows; [`verify`] is how an admin learns whether
//! someone did it in the database.

use axum::Json;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

use crate::auth::{Ctx, Permission};
use crate::error::AppError;
use crate::token::hex;

/// One audit row's content (everything but the two hashes).
#[derive(Debug)]
pub struct AuditEntry<'a> {
    pub tenant_id: &'a str,
    pub seq: i64,
    pub at: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub object_type: &'a str,
    pub object_id: &'a str,
    pub request_id: &'a str,
    pub client_addr: &'a str,
    pub detail: &'a str,
}

const TAG: &[u8] = b"hotline-audit-v1";

/// The canonical bytes of an entry.
pub fn canonical(e: &AuditEntry<'_>) -> Vec<u8> {
    let seq = e.seq.to_string();
    let at = e.at.to_string();
    let fields: [&str; 10] = [
        e.tenant_id,
        &seq,
        &at,
        e.actor,
        e.action,
        e.object_type,
        e.object_id,
        e.request_id,
        e.client_addr,
        e.detail,
    ];
    let mut out = Vec::with_capacity(TAG.len() + fields.iter().map(|f| f.len() + 8).sum::<usize>());
    out.extend_from_slice(TAG);
    for f in fields {
        out.extend_from_slice(&(f.len() as u64).to_be_bytes());
        out.extend_from_slice(f.as_bytes());
    }
    out
}

/// `SHA-256(prev_hash ‖ canonical(entry))` in lowercase hex.
pub fn chain_hash(prev_hash: &str, entry: &AuditEntry<'_>) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(canonical(entry));
    hex(&h.finalize())
}

pub(crate) async fn insert(
    conn: &mut AnyConnection,
    e: &AuditEntry<'_>,
    prev_hash: &str,
    hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit (tenant_id, seq, at, actor, action, object_type, object_id, \
         request_id, client_addr, detail, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(e.tenant_id)
    .bind(e.seq)
    .bind(e.at)
    .bind(e.actor)
    .bind(e.action)
    .bind(e.object_type)
    .bind(e.object_id)
    .bind(e.request_id)
    .bind(e.client_addr)
    .bind(e.detail)
    .bind(prev_hash)
    .bind(hash)
    .execute(conn)
    .await?;
    Ok(())
}

/// The result of walking a tenant's chain.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Verification {
    /// True when every row links to its predecessor and hashes to its stored hash.
    pub ok: bool,
    /// Rows checked.
    pub rows: i64,
    /// The first row that does not verify (absent when `ok`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broken: Option<Broken>,
}

/// Where and why the chain breaks.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Broken {
    /// Sequence number (row id within the tenant) of the first broken row.
    pub seq: i64,
    /// `hash_mismatch`, `link_mismatch`, `gap` or `truncated`.
    pub reason: &'static str,
}

const PAGE: i64 = 500;

/// Walk the caller's tenant chain from the first row to the recorded head.
#[utoipa::path(
    get, path = "/api/audit/verify", tag = "audit",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Chain checked", body = Verification),
        (status = 401, description = "Not authenticated", body = crate::error::ErrorBody),
        (status = 403, description = "Not an admin", body = crate::error::ErrorBody),
    )
)]
pub async fn verify(ctx: Ctx) -> Result<Json<Verification>, AppError> {
    let scope = ctx.scope;
    scope.require(Permission::AuditVerify)?;
    let pool = &scope.db().pool;
    let head = sqlx::query("SELECT audit_seq, audit_head FROM tenants WHERE id = $1")
        .bind(scope.tenant())
        .fetch_one(pool)
        .await?;
    let head_seq: i64 = head.try_get("audit_seq")?;
    let head_hash: String = head.try_get("audit_head")?;
    let mut prev = String::new();
    let mut last = 0i64;
    let mut broken = None;
    'walk: while last < head_seq {
        let rows = sqlx::query(
            "SELECT seq, at, actor, action, object_type, object_id, request_id, client_addr, \
             detail, prev_hash, hash FROM audit \
             WHERE tenant_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4",
        )
        .bind(scope.tenant())
        .bind(last)
        .bind(head_seq)
        .bind(PAGE)
        .fetch_all(pool)
        .await?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            let seq: i64 = row.try_get("seq")?;
            let stored_prev: String = row.try_get("prev_hash")?;
            let stored_hash: String = row.try_get("hash")?;
            let (actor, action, object_type, object_id, request_id, client_addr, detail): (
                String,
                String,
                String,
                String,
                String,
                String,
                String,
            ) = (
                row.try_get("actor")?,
                row.try_get("action")?,
                row.try_get("object_type")?,
                row.try_get("object_id")?,
                row.try_get("request_id")?,
                row.try_get("client_addr")?,
                row.try_get("detail")?,
            );
            let entry = AuditEntry {
                tenant_id: scope.tenant(),
                seq,
                at: row.try_get("at")?,
                actor: &actor,
                action: &action,
                object_type: &object_type,
                object_id: &object_id,
                request_id: &request_id,
                client_addr: &client_addr,
                detail: &detail,
            };
            let reason = if seq != last + 1 {
                // A missing row: the first row after the hole is where the chain breaks.
                Some("gap")
            } else if stored_prev != prev {
                Some("link_mismatch")
            } else if chain_hash(&prev, &entry) != stored_hash {
                Some("hash_mismatch")
            } else {
                None
            };
            if let Some(reason) = reason {
                broken = Some(Broken { seq, reason });
                break 'walk;
            }
            prev = stored_hash;
            last = seq;
        }
    }
    if broken.is_none() && (last != head_seq || prev != head_hash) {
        broken = Some(Broken {
            seq: last + 1,
            reason: "truncated",
        });
    }
    Ok(Json(Verification {
        ok: broken.is_none(),
        rows: last,
        broken,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(detail: &str) -> AuditEntry<'_> {
        AuditEntry {
            tenant_id: "t",
            seq: 1,
            at: 2,
            actor: "user:1",
            action: "case.create",
            object_type: "case",
            object_id: "1",
            request_id: "r",
            client_addr: "",
            detail,
        }
    }

    #[test]
    fn canonical_form_separates_fields_unambiguously() {
        let a = AuditEntry {
            actor: "ab",
            action: "c",
            ..entry("{}")
        };
        let b = AuditEntry {
            actor: "a",
            action: "bc",
            ..entry("{}")
        };
        assert_ne!(canonical(&a), canonical(&b));
        assert_ne!(chain_hash("", &entry("{}")), chain_hash("00", &entry("{}")));
        assert_eq!(chain_hash("", &entry("{}")).len(), 64);
    }
}
