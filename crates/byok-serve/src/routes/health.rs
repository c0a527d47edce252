//! `/healthz` (the process answers) and `/readyz` (the store and the ledger do).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// A health answer.
#[derive(Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok`.
    status: &'static str,
}

#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process is serving", body = Health)))]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "The vault's database and the ledger answer", body = Health),
        (status = 503, description = "One of them does not (`not_ready`)", body = ErrorBody)))]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let not_ready = |what: &str| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            format!("{what} does not answer"),
        )
        .into_response()
    };
    match state.access() {
        Ok(access) if access.ping().await.is_ok() => {}
        _ => return not_ready("the vault's database"),
    }
    let probe = byok::guard::Scope::workspace("byok-readyz");
    if state.ledger().budget(&probe).await.is_err() {
        return not_ready("the ledger");
    }
    Json(Health { status: "ok" }).into_response()
}
