//! The HTTP port: `/healthz`, `/metrics`, the live-calls API (`/api/calls`) and the case API
//! under `/api/` (web pages join it later).

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hotline_case_api::auth::Ctx;
use hotline_case_api::error::{ErrorBody, ErrorDetail};
use hotline_case_api::request::{ApiJson, parse_json};
use hotline_case_api::tenant::Scope;
use hotline_case_api::{AppError, Permission};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::engine::ApiRequest;
use crate::media::{RecordingAction, RecordingError, RecordingState};
use crate::metrics::Metrics;

/// How long an API handler waits for the signalling core's answer.
const CORE_TIMEOUT: Duration = Duration::from_secs(5);

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct HttpState {
    pub metrics: Metrics,
    /// The case API's state; `None` serves only `/healthz` and `/metrics`.
    pub case_api: Option<hotline_case_api::AppState>,
    /// The signalling core's request channel; the calls API needs it and the case API (for
    /// authentication).
    pub core: Option<mpsc::Sender<ApiRequest>>,
}

/// The HTTP application, testable without a socket.
pub fn app(state: HttpState) -> Router {
    let case_api = state.case_api.clone();
    let core = state.core.clone();
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(state);
    match case_api {
        Some(api) => {
            let app = match core {
                Some(core) => app.merge(calls_router(CallsState {
                    case_api: api.clone(),
                    core,
                })),
                None => app,
            };
            app.merge(hotline_case_api::router(api))
        }
        None => app,
    }
}

async fn healthz() -> impl IntoResponse {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        "{\"status\":\"ok\"}",
    )
}

async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

/// What the calls API's handlers share.
#[derive(Clone)]
struct CallsState {
    case_api: hotline_case_api::AppState,
    core: mpsc::Sender<ApiRequest>,
}

fn calls_router(state: CallsState) -> Router {
    Router::new()
        .route("/api/calls", get(list_calls))
        .route("/api/calls/{id}/recording", post(control_recording))
        .layer(axum::middleware::from_fn(
            hotline_case_api::request::request_id,
        ))
        .with_state(state)
}

/// The case API's authentication (bearer JWT or API key) for the calls API.
struct Authed(Scope);

impl FromRequestParts<CallsState> for Authed {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &CallsState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Authed(
            Ctx::from_request_parts(parts, &state.case_api).await?.scope,
        ))
    }
}

/// 503 with the case API's error shape: the signalling core did not answer.
fn unavailable() -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: "unavailable".to_owned(),
            message: "the signalling core did not answer".to_owned(),
            fields: Default::default(),
        },
    };
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

/// Send `request` to the core and wait for its answer on `answer`.
async fn ask<T>(
    core: &mpsc::Sender<ApiRequest>,
    request: ApiRequest,
    answer: oneshot::Receiver<T>,
) -> Option<T> {
    tokio::time::timeout(CORE_TIMEOUT, async {
        core.send(request).await.ok()?;
        answer.await.ok()
    })
    .await
    .ok()
    .flatten()
}

/// `GET /api/calls`: the live calls (needs `ViewCalls`).
async fn list_calls(State(state): State<CallsState>, Authed(scope): Authed) -> Response {
    if let Err(e) = scope.require(Permission::ViewCalls) {
        return e.into_response();
    }
    let (reply, answer) = oneshot::channel();
    match ask(&state.core, ApiRequest::ListCalls { reply }, answer).await {
        Some(calls) => Json(calls).into_response(),
        None => unavailable(),
    }
}

/// `POST /api/calls/{id}/recording` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordingRequest {
    action: RecordingAction,
}

#[derive(Serialize)]
struct RecordingResponse {
    id: String,
    recording: RecordingState,
}

/// `POST /api/calls/{id}/recording`: pause or resume the recording of the call's room
/// (needs `ControlRecording`); every use after the permission check is audited.
async fn control_recording(
    State(state): State<CallsState>,
    Path(id): Path<String>,
    Authed(scope): Authed,
    ApiJson(req): ApiJson<RecordingRequest>,
) -> Response {
    if let Err(e) = scope.require(Permission::ControlRecording) {
        return e.into_response();
    }
    let (reply, answer) = oneshot::channel();
    let request = ApiRequest::Recording {
        sip_call_id: id.clone(),
        action: req.action,
        reply,
    };
    let result = ask(&state.core, request, answer).await;
    let outcome = match result {
        Some(Ok(RecordingState::Paused)) => "paused",
        Some(Ok(_)) => "resumed",
        Some(Err(RecordingError::Already(_))) => "already",
        Some(Err(RecordingError::UnknownCall)) => "unknown_call",
        Some(Err(RecordingError::NotRecorded)) => "not_recorded",
        Some(Err(RecordingError::Unavailable)) | None => "unavailable",
    };
    let action = match req.action {
        RecordingAction::Pause => "call.recording.pause",
        RecordingAction::Resume => "call.recording.resume",
    };
    audit(&scope, action, &id, outcome).await;
    match result {
        Some(Ok(recording)) => Json(RecordingResponse { id, recording }).into_response(),
        Some(Err(RecordingError::Already(_))) => {
            AppError::Conflict("the recording is already in that state").into_response()
        }
        Some(Err(RecordingError::UnknownCall | RecordingError::NotRecorded)) => {
            AppError::NotFound.into_response()
        }
        Some(Err(RecordingError::Unavailable)) | None => unavailable(),
    }
}

/// Append a row to the tenant's audit chain. The change has happened whatever the audit
/// does, so a failed write is logged (with the principal), not returned.
async fn audit(scope: &Scope, action: &str, sip_call_id: &str, outcome: &str) {
    // `outcome` is one of the fixed words above: nothing to escape.
    let detail = match parse_json(format!("{{\"outcome\":\"{outcome}\"}}").as_bytes()) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "audit detail not built");
            return;
        }
    };
    let written = async {
        let mut tx = scope.begin().await?;
        tx.audit(action, "call", sip_call_id, detail).await?;
        tx.commit().await
    }
    .await;
    if let Err(e) = written {
        tracing::error!(
            tenant = scope.tenant(),
            actor = %scope.principal().actor_label(),
            action,
            outcome,
            error = %e,
            "call recording change not audited"
        );
    }
}

/// Serve until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: HttpState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer address reaches the case API's audit rows through `ConnectInfo`.
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
