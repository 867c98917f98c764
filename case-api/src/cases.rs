//! Cases, first slice: create, read, partial update, list with cursor pagination, resolve and
//! reopen. Every change and every read runs in one tenant transaction with its audit row.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::auth::{Ctx, Permission};
use crate::clock::rfc3339;
use crate::error::{AppError, Fields};
use crate::request::{ApiJson, ApiQuery};
use crate::tenant::{Tx, decode};

const TITLE_MAX: usize = 200;
const DESCRIPTION_MAX: usize = 20_000;
const LIMIT_DEFAULT: i64 = 50;
const LIMIT_MAX: i64 = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

impl Priority {
    fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    fn parse(s: &str) -> Option<Priority> {
        [
            Priority::Low,
            Priority::Normal,
            Priority::High,
            Priority::Urgent,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Open,
    Resolved,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Resolved => "resolved",
        }
    }

    fn parse(s: &str) -> Option<Status> {
        [Status::Open, Status::Resolved]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// A case as the API returns it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Case {
    /// Case number, unique within the tenant.
    pub id: i64,
    pub title: String,
    pub description: String,
    pub priority: Priority,
    pub status: Status,
    /// User id of the assignee.
    pub assignee: Option<i64>,
    /// `user:<id>` or `key:<prefix>`.
    pub created_by: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
    pub resolved_at: Option<String>,
}

/// `POST /api/cases` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCase {
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// Default `normal`.
    #[serde(default)]
    pub priority: Option<Priority>,
    /// User id; needs the assign permission (supervisor, admin).
    #[serde(default)]
    pub assignee: Option<i64>,
}

/// `PATCH /api/cases/{id}` body: only the fields present change; `"assignee": null`
/// unassigns.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CasePatch {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub priority: Option<Priority>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub assignee: Option<Option<i64>>,
}

/// A field that is present (possibly `null`) becomes `Some(..)`; an absent one stays `None`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

/// `GET /api/cases` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only cases with this status.
    pub status: Option<Status>,
    /// Only cases assigned to this user id.
    pub assignee: Option<i64>,
    /// Page size, 1-200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of cases, ordered by id.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CasePage {
    pub items: Vec<Case>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

const COLUMNS: &str = "id, title, description, priority, status, assignee_id, created_by, \
                       created_at, updated_at, resolved_at";

fn from_row(row: &AnyRow) -> Result<Case, AppError> {
    Ok(Case {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        priority: decode("cases.priority", row.try_get("priority")?, Priority::parse)?,
        status: decode("cases.status", row.try_get("status")?, Status::parse)?,
        assignee: row.try_get("assignee_id")?,
        created_by: row.try_get("created_by")?,
        created_at: rfc3339(row.try_get("created_at")?),
        updated_at: rfc3339(row.try_get("updated_at")?),
        resolved_at: row.try_get::<Option<i64>, _>("resolved_at")?.map(rfc3339),
    })
}

/// A path id that is not a number names no case: 404, like any unknown id.
fn case_id(raw: &str) -> Result<i64, AppError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(AppError::NotFound)
}

fn check_text(fields: &mut Fields, name: &str, value: &str, min: usize, max: usize) {
    let n = value.chars().count();
    if n < min || n > max || (min > 0 && value.trim().is_empty()) {
        fields.insert(
            name.to_owned(),
            format!(
                "must be {min}-{max} characters{}",
                if min > 0 { ", not blank" } else { "" }
            ),
        );
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        fields.insert(
            name.to_owned(),
            "must not contain control characters".into(),
        );
    }
}

fn invalid(fields: Fields) -> Result<(), AppError> {
    if fields.is_empty() {
        Ok(())
    } else {
        Err(AppError::Invalid {
            message: "invalid case".into(),
            fields,
        })
    }
}

async fn check_assignee(tx: &mut Tx<'_>, assignee: i64) -> Result<(), AppError> {
    let tenant = tx.tenant().to_owned();
    let found = sqlx::query("SELECT 1 AS one FROM users WHERE tenant_id = $1 AND id = $2")
        .bind(tenant)
        .bind(assignee)
        .fetch_optional(tx.conn())
        .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(AppError::field("assignee", "no such user")),
    }
}

async fn load(tx: &mut Tx<'_>, id: i64) -> Result<Case, AppError> {
    let tenant = tx.tenant().to_owned();
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM cases WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?
    .ok_or(AppError::NotFound)?;
    from_row(&row)
}

/// Open a case.
#[utoipa::path(
    post, path = "/api/cases", tag = "cases",
    security(("bearer" = [])),
    request_body = NewCase,
    responses(
        (status = 201, description = "Created", body = Case),
        (status = 400, description = "Invalid JSON", body = crate::error::ErrorBody),
        (status = 403, description = "Not permitted", body = crate::error::ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = crate::error::ErrorBody),
        (status = 422, description = "Invalid fields", body = crate::error::ErrorBody),
    )
)]
pub async fn create(
    ctx: Ctx,
    ApiJson(new): ApiJson<NewCase>,
) -> Result<(StatusCode, Json<Case>), AppError> {
    let scope = ctx.scope;
    scope.require(Permission::CaseCreate)?;
    if new.assignee.is_some() {
        scope.require(Permission::CaseAssign)?;
    }
    let mut fields = Fields::new();
    check_text(&mut fields, "title", &new.title, 1, TITLE_MAX);
    check_text(
        &mut fields,
        "description",
        &new.description,
        0,
        DESCRIPTION_MAX,
    );
    invalid(fields)?;
    let priority = new.priority.unwrap_or(Priority::Normal);
    let mut tx = scope.begin().await?;
    if let Some(a) = new.assignee {
        check_assignee(&mut tx, a).await?;
    }
    let id = tx.allocate_case_id();
    let now = tx.now_ms();
    let tenant = tx.tenant().to_owned();
    let created_by = tx.principal().actor_label();
    sqlx::query(
        "INSERT INTO cases (tenant_id, id, title, description, priority, status, assignee_id, \
         created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
    )
    .bind(&tenant)
    .bind(id)
    .bind(&new.title)
    .bind(&new.description)
    .bind(priority.as_str())
    .bind(Status::Open.as_str())
    .bind(new.assignee)
    .bind(&created_by)
    .bind(now)
    .execute(tx.conn())
    .await?;
    tx.audit(
        "case.create",
        "case",
        &id.to_string(),
        json!({
            "title": new.title,
            "priority": priority.as_str(),
            "assignee": new.assignee,
        }),
    )
    .await?;
    let case = load(&mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(case)))
}

/// Read a case (the read is audited).
#[utoipa::path(
    get, path = "/api/cases/{id}", tag = "cases",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Case id")),
    responses(
        (status = 200, description = "The case", body = Case),
        (status = 404, description = "No such case in your tenant", body = crate::error::ErrorBody),
    )
)]
pub async fn get(ctx: Ctx, Path(id): Path<String>) -> Result<Json<Case>, AppError> {
    let scope = ctx.scope;
    scope.require(Permission::CaseRead)?;
    let id = case_id(&id)?;
    let mut tx = scope.begin().await?;
    let case = load(&mut tx, id).await?;
    tx.audit("case.read", "case", &id.to_string(), json!({}))
        .await?;
    tx.commit().await?;
    Ok(Json(case))
}

/// Change some fields of a case.
#[utoipa::path(
    patch, path = "/api/cases/{id}", tag = "cases",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Case id")),
    request_body = CasePatch,
    responses(
        (status = 200, description = "The updated case", body = Case),
        (status = 403, description = "Not permitted (assignee change needs supervisor)", body = crate::error::ErrorBody),
        (status = 404, description = "No such case in your tenant", body = crate::error::ErrorBody),
        (status = 422, description = "Invalid fields", body = crate::error::ErrorBody),
    )
)]
pub async fn update(
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<CasePatch>,
) -> Result<Json<Case>, AppError> {
    let scope = ctx.scope;
    scope.require(Permission::CaseUpdate)?;
    if patch.assignee.is_some() {
        scope.require(Permission::CaseAssign)?;
    }
    let id = case_id(&id)?;
    let mut fields = Fields::new();
    if let Some(t) = &patch.title {
        check_text(&mut fields, "title", t, 1, TITLE_MAX);
    }
    if let Some(d) = &patch.description {
        check_text(&mut fields, "description", d, 0, DESCRIPTION_MAX);
    }
    invalid(fields)?;
    let mut tx = scope.begin().await?;
    let before = load(&mut tx, id).await?;
    if let Some(Some(a)) = patch.assignee {
        check_assignee(&mut tx, a).await?;
    }
    let title = patch.title.unwrap_or(before.title.clone());
    let description = patch.description.unwrap_or(before.description.clone());
    let priority = patch.priority.unwrap_or(before.priority);
    let assignee = patch.assignee.unwrap_or(before.assignee);
    let mut changed = Map::new();
    if title != before.title {
        changed.insert("title".into(), json!(title));
    }
    if description != before.description {
        changed.insert("description".into(), json!(description));
    }
    if priority != before.priority {
        changed.insert("priority".into(), json!(priority.as_str()));
    }
    if assignee != before.assignee {
        changed.insert("assignee".into(), json!(assignee));
    }
    if changed.is_empty() {
        tx.audit("case.read", "case", &id.to_string(), json!({}))
            .await?;
        tx.commit().await?;
        return Ok(Json(before));
    }
    let tenant = tx.tenant().to_owned();
    let now = tx.now_ms();
    sqlx::query(
        "UPDATE cases SET title = $3, description = $4, priority = $5, assignee_id = $6, \
         updated_at = $7 WHERE tenant_id = $1 AND id = $2",
    )
    .bind(&tenant)
    .bind(id)
    .bind(&title)
    .bind(&description)
    .bind(priority.as_str())
    .bind(assignee)
    .bind(now)
    .execute(tx.conn())
    .await?;
    tx.audit(
        "case.update",
        "case",
        &id.to_string(),
        Value::Object(changed),
    )
    .await?;
    let case = load(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(case))
}

/// Mark an open case resolved.
#[utoipa::path(
    post, path = "/api/cases/{id}/resolve", tag = "cases",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Case id")),
    responses(
        (status = 200, description = "Resolved", body = Case),
        (status = 404, description = "No such case in your tenant", body = crate::error::ErrorBody),
        (status = 409, description = "Already resolved", body = crate::error::ErrorBody),
    )
)]
pub async fn resolve(ctx: Ctx, Path(id): Path<String>) -> Result<Json<Case>, AppError> {
    transition(
        ctx,
        &id,
        Permission::CaseResolve,
        Status::Open,
        Status::Resolved,
    )
    .await
}

/// Reopen a resolved case.
#[utoipa::path(
    post, path = "/api/cases/{id}/reopen", tag = "cases",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Case id")),
    responses(
        (status = 200, description = "Reopened", body = Case),
        (status = 403, description = "Not permitted (supervisor or admin)", body = crate::error::ErrorBody),
        (status = 404, description = "No such case in your tenant", body = crate::error::ErrorBody),
        (status = 409, description = "Not resolved", body = crate::error::ErrorBody),
    )
)]
pub async fn reopen(ctx: Ctx, Path(id): Path<String>) -> Result<Json<Case>, AppError> {
    transition(
        ctx,
        &id,
        Permission::CaseReopen,
        Status::Resolved,
        Status::Open,
    )
    .await
}

async fn transition(
    ctx: Ctx,
    raw_id: &str,
    permission: Permission,
    from: Status,
    to: Status,
) -> Result<Json<Case>, AppError> {
    let scope = ctx.scope;
    scope.require(permission)?;
    let id = case_id(raw_id)?;
    let mut tx = scope.begin().await?;
    let before = load(&mut tx, id).await?;
    if before.status != from {
        return Err(AppError::Conflict(match to {
            Status::Resolved => "case is already resolved",
            Status::Open => "case is not resolved",
        }));
    }
    let now = tx.now_ms();
    let tenant = tx.tenant().to_owned();
    sqlx::query(
        "UPDATE cases SET status = $3, resolved_at = $4, updated_at = $5 \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(&tenant)
    .bind(id)
    .bind(to.as_str())
    .bind((to == Status::Resolved).then_some(now))
    .bind(now)
    .execute(tx.conn())
    .await?;
    let action = match to {
        Status::Resolved => "case.resolve",
        Status::Open => "case.reopen",
    };
    tx.audit(action, "case", &id.to_string(), json!({})).await?;
    let case = load(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(case))
}

fn encode_cursor(id: i64) -> String {
    B64.encode(format!("case:{id}"))
}

fn decode_cursor(cursor: &str) -> Option<i64> {
    let bytes = B64.decode(cursor).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    text.strip_prefix("case:")?.parse().ok()
}

/// List cases by id, a page at a time (each listed case counts as read in the audit trail).
#[utoipa::path(
    get, path = "/api/cases", tag = "cases",
    security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page of cases", body = CasePage),
        (status = 422, description = "Invalid query", body = crate::error::ErrorBody),
    )
)]
pub async fn list(ctx: Ctx, ApiQuery(q): ApiQuery<ListQuery>) -> Result<Json<CasePage>, AppError> {
    let scope = ctx.scope;
    scope.require(Permission::CaseRead)?;
    let limit = q.limit.unwrap_or(LIMIT_DEFAULT);
    if !(1..=LIMIT_MAX).contains(&limit) {
        return Err(AppError::field("limit", format!("must be 1-{LIMIT_MAX}")));
    }
    let after = match &q.cursor {
        None => 0,
        Some(c) => decode_cursor(c).ok_or_else(|| AppError::field("cursor", "not a cursor"))?,
    };
    let mut sql = format!("SELECT {COLUMNS} FROM cases WHERE tenant_id = $1 AND id > $2");
    let mut n = 2;
    if q.status.is_some() {
        n += 1;
        sql.push_str(&format!(" AND status = ${n}"));
    }
    if q.assignee.is_some() {
        n += 1;
        sql.push_str(&format!(" AND assignee_id = ${n}"));
    }
    sql.push_str(&format!(" ORDER BY id LIMIT ${}", n + 1));
    let mut tx = scope.begin().await?;
    let tenant = tx.tenant().to_owned();
    let mut query = sqlx::query(&sql).bind(tenant).bind(after);
    if let Some(s) = q.status {
        query = query.bind(s.as_str());
    }
    if let Some(a) = q.assignee {
        query = query.bind(a);
    }
    let rows = query.bind(limit + 1).fetch_all(tx.conn()).await?;
    let mut items = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|c| encode_cursor(c.id))
    } else {
        None
    };
    let ids: Vec<i64> = items.iter().map(|c| c.id).collect();
    tx.audit("case.list", "case", "", json!({ "ids": ids }))
        .await?;
    tx.commit().await?;
    Ok(Json(CasePage { items, next_cursor }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("!!"), None);
        assert_eq!(decode_cursor(&B64.encode("user:1")), None);
    }

    #[test]
    fn non_numeric_ids_are_not_found() {
        assert!(matches!(case_id("abc"), Err(AppError::NotFound)));
        assert!(matches!(case_id("0"), Err(AppError::NotFound)));
        assert_eq!(case_id("7").unwrap(), 7);
    }
}
