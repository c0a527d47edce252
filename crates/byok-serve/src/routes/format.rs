//! `POST /v1/format-check`: the paste box's checks, stateless (nothing stored,
//! nothing sent to a provider).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use byok::keys::{ExposeSecret, SecretString, normalize};

use super::Body;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::limit::Limited;
use crate::schema::{FormatWarningSchema, KeyErrorSchema};
use crate::state::AppState;

/// Pasted text to check.
#[derive(Deserialize, ToSchema)]
pub(crate) struct FormatCheck {
    /// The pasted text.
    key: String,
    /// The provider it must be a key of (else `wrong_provider`).
    provider: Option<String>,
}

/// What the checks found (the shape of `byok inspect --json`, without `line`).
#[derive(ToSchema)]
#[schema(as = FormatCheckAnswer)]
#[allow(dead_code)]
pub(crate) struct FormatAnswerSchema {
    /// Whether it is a usable key.
    ok: bool,
    /// Its provider.
    provider: Option<String>,
    /// Its kind.
    kind: Option<String>,
    /// Its mask.
    masked: Option<String>,
    /// Its fingerprint.
    fingerprint: Option<String>,
    /// Unusual but accepted shapes.
    warnings: Vec<FormatWarningSchema>,
    /// Fix codes: what was removed from the pasted text.
    fixes: Vec<String>,
    /// Why it is not usable.
    error: Option<KeyErrorSchema>,
}

#[utoipa::path(post, path = "/v1/format-check", tag = "keys", request_body = FormatCheck,
    responses((status = 200, description = "The checks' answer (a bad key is `ok: false` with its error, not an HTTP error)", body = FormatAnswerSchema),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 429, description = "This token's format checks are over its rate limit (`rate_limited`, with `retry-after`)", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn check(
    caller: Caller,
    State(state): State<AppState>,
    Body(body): Body<FormatCheck>,
) -> Result<Response, ApiError> {
    caller.manager("the management API (app tokens may only use the proxy)")?;
    state.limit(&caller, Limited::FormatCheck)?;
    let provider = match body.provider.as_deref() {
        Some(code) => Some(
            code.parse::<byok::keys::Provider>()
                .map_err(|_| ApiError::invalid("unknown provider code"))?,
        ),
        None => None,
    };
    let secret = SecretString::from(body.key);
    let normalized = normalize(secret.expose_secret());
    let parsed = match provider {
        Some(p) => normalized.parse_for(p),
        None => normalized.parse(),
    };
    let fixes: Vec<&str> = normalized.fixes().iter().map(|f| f.code()).collect();
    let answer = match parsed {
        Ok(key) => json!({
            "ok": true, "provider": key.provider(), "kind": key.kind(),
            "masked": key.masked(), "fingerprint": key.fingerprint(),
            "warnings": key.warnings(), "fixes": fixes, "error": null,
        }),
        Err(e) => json!({
            "ok": false, "provider": null, "kind": null, "masked": null, "fingerprint": null,
            "warnings": [], "fixes": fixes, "error": e,
        }),
    };
    Ok(Json(answer).into_response())
}
