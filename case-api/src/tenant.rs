//! The tenant-scoped repository: the only way handlers reach tenant data.
//!
//! A [`Scope`] is built from an authenticated [`Principal`] (which only [`crate::auth`] can
//! make), and every query bound through it or its [`Tx`] takes the tenant from there; no
//! handler ever sees a tenant id it could swap. Rows of another tenant are thus not "denied"
//! but simply absent: a foreign id answers 404, a list never contains them.
//!
//! Every write transaction starts by updating the tenant's row (`UPDATE tenants … RETURNING`),
//! which takes the tenant's write lock first on both databases: on PostgreSQL a row lock that
//! serializes that tenant's writers (other tenants run in parallel), on SQLite the database
//! write lock taken before any read (so a deferred transaction never has to upgrade and fail
//! with `SQLITE_BUSY`). Under that lock the transaction allocates ids and appends to the
//! tenant's audit chain; the chain head is written back at commit.

use serde_json::Value;
use sqlx::{Any, AnyConnection, Row, Transaction};

use crate::audit::{self, AuditEntry};
use crate::auth::{Permission, Principal};
use crate::clock::Clock;
use crate::db::Db;
use crate::error::AppError;
use crate::request::RequestMeta;

/// An authenticated caller's view of its own tenant.
pub struct Scope {
    db: Db,
    principal: Principal,
    meta: RequestMeta,
    clock: Clock,
}

impl Scope {
    pub(crate) fn new(db: Db, principal: Principal, meta: RequestMeta, clock: Clock) -> Scope {
        Scope {
            db,
            principal,
            meta,
            clock,
        }
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    pub fn tenant(&self) -> &str {
        self.principal.tenant()
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    /// 403 unless the caller's role grants `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), AppError> {
        if self.principal.role().allows(permission) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// Begin a write transaction holding the tenant's lock.
    pub async fn begin(&self) -> Result<Tx<'_>, AppError> {
        let mut tx = self.db.pool.begin().await?;
        let row = sqlx::query(
            "UPDATE tenants SET audit_seq = audit_seq WHERE id = $1 \
             RETURNING audit_seq, audit_head, next_case_id",
        )
        .bind(self.tenant())
        .fetch_optional(&mut *tx)
        .await?;
        // The tenant of an authenticated principal exists unless it was deleted since.
        let row = row.ok_or(AppError::Unauthenticated)?;
        Ok(Tx {
            scope: self,
            now_ms: self.clock.now_ms(),
            seq: row.try_get("audit_seq")?,
            head: row.try_get("audit_head")?,
            next_case_id: row.try_get("next_case_id")?,
            tx,
        })
    }
}

/// A write transaction inside one tenant; dropped without [`Tx::commit`] it rolls back.
pub struct Tx<'s> {
    scope: &'s Scope,
    tx: Transaction<'static, Any>,
    now_ms: i64,
    seq: i64,
    head: String,
    next_case_id: i64,
}

impl Tx<'_> {
    pub fn tenant(&self) -> &str {
        self.scope.tenant()
    }

    /// The time of this transaction (one reading of the clock for all its rows).
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    pub fn principal(&self) -> &Principal {
        self.scope.principal()
    }

    /// The connection, for the queries of this crate's modules (which bind [`Tx::tenant`]).
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// The next case id of this tenant.
    pub fn allocate_case_id(&mut self) -> i64 {
        let id = self.next_case_id;
        self.next_case_id += 1;
        id
    }

    /// Append an audit row (action on object) to the tenant's chain.
    pub async fn audit(
        &mut self,
        action: &str,
        object_type: &str,
        object_id: &str,
        detail: Value,
    ) -> Result<(), AppError> {
        let seq = self.seq + 1;
        let actor = self.scope.principal.actor_label();
        let detail = detail.to_string();
        let entry = AuditEntry {
            tenant_id: self.scope.tenant(),
            seq,
            at: self.now_ms,
            actor: &actor,
            action,
            object_type,
            object_id,
            request_id: &self.scope.meta.request_id,
            client_addr: &self.scope.meta.client_addr,
            detail: &detail,
        };
        let hash = audit::chain_hash(&self.head, &entry);
        audit::insert(&mut self.tx, &entry, &self.head, &hash).await?;
        self.seq = seq;
        self.head = hash;
        Ok(())
    }

    /// Write back the tenant's counters and chain head, then commit.
    pub async fn commit(mut self) -> Result<(), AppError> {
        sqlx::query(
            "UPDATE tenants SET audit_seq = $2, audit_head = $3, next_case_id = $4 WHERE id = $1",
        )
        .bind(self.scope.tenant())
        .bind(self.seq)
        .bind(&self.head)
        .bind(self.next_case_id)
        .execute(&mut *self.tx)
        .await?;
        self.tx.commit().await?;
        Ok(())
    }
}

/// Map a stored enum text back, or report the row as corrupt.
pub(crate) fn decode<T>(
    column: &'static str,
    value: String,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, AppError> {
    parse(&value).ok_or(AppError::Internal(crate::error::Error::Corrupt {
        column,
        value,
    }))
}
