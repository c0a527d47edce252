//! [`ApiError`]: every failure as `{"error": {"code", "message", "hint"}}` with a
//! fitting HTTP status, from the library's stable codes.

use std::fmt;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use byok::VaultError;
use byok::guard::GuardError;
use byok::store::StoreError;

/// An error answer: a stable code, a message and a hint for people, an HTTP status.
/// Never holds a secret (the library's errors never do, and nothing else is added).
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    hint: Option<String>,
    report: Option<serde_json::Value>,
    retry_after: Option<u64>,
}

/// The JSON body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code (docs/DTOS.md, "Error codes"; plus `unauthorized`,
    /// `forbidden`, `budget_not_found`, `invalid_body`, `body_too_large`, `timeout`,
    /// `not_ready`, `rate_limited`).
    pub code: String,
    /// What happened, for people.
    pub message: String,
    /// What to do about it, when there is something to say.
    pub hint: Option<String>,
    /// With `key_rejected`: the Test report that refused the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub report: Option<serde_json::Value>,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            hint: None,
            report: None,
            retry_after: None,
        }
    }

    /// With a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// With a `retry-after` header of this many seconds.
    pub(crate) fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// The seconds of its `retry-after` header, if it has one (`rate_limited`).
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// 401: no token, or one that is unknown, revoked or mistyped (not told apart).
    pub(crate) fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid byok API token is required (none was sent, or it is unknown, revoked or mistyped)",
        )
        .hint("send `Authorization: Bearer byok_…`; `byok serve` prints the first admin token on first start")
    }

    /// 403: the token's scope does not allow this route.
    pub(crate) fn forbidden(what: &str) -> Self {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this token's scope does not allow {what}"),
        )
    }

    /// 404 for a workspace the caller cannot see (missing, or another's).
    pub(crate) fn workspace_not_found() -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such workspace (or not one this token may see)",
        )
    }

    /// 400 for a request body or parameter that cannot be read.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", message)
    }
}

/// The HTTP status of a library error code.
fn status_for(code: &str) -> StatusCode {
    match code {
        "not_found" | "vault_not_found" | "budget_not_found" | "reservation_not_found" => {
            StatusCode::NOT_FOUND
        }
        "duplicate" | "conflict" | "key_inactive" => StatusCode::CONFLICT,
        "key_rejected" | "admin_key_refused" | "no_usable_key" => StatusCode::UNPROCESSABLE_ENTITY,
        "budget_denied" => StatusCode::PAYMENT_REQUIRED,
        "backend_error" | "ledger_unavailable" | "io_error" | "kek_error" | "random_failure"
        | "network_error" => StatusCode::SERVICE_UNAVAILABLE,
        "corrupt" | "tampered" | "malformed" | "wrong_master_key" | "missing_master_key"
        | "invalid_master_key" | "unknown_kek" | "incomplete_builder" | "ledger_corrupt"
        | "http_client" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl From<VaultError> for ApiError {
    fn from(e: VaultError) -> Self {
        let code = e.code();
        let mut err = ApiError::new(status_for(code), code, e.to_string());
        err.hint = e.hint();
        if let VaultError::KeyRejected { report } = &e {
            err.report = serde_json::to_value(report.as_ref()).ok();
        }
        err
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        VaultError::from(e).into()
    }
}

impl From<GuardError> for ApiError {
    fn from(e: GuardError) -> Self {
        let code = e.code();
        ApiError::new(status_for(code), code, e.to_string())
    }
}

impl From<byok::keys::KeyError> for ApiError {
    fn from(e: byok::keys::KeyError) -> Self {
        VaultError::from(e).into()
    }
}

impl From<byok::keys::params::ParamError> for ApiError {
    fn from(e: byok::keys::params::ParamError) -> Self {
        VaultError::from(e).into()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let unauthorized = self.status == StatusCode::UNAUTHORIZED;
        let retry_after = self.retry_after;
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                hint: self.hint,
                report: self.report,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if unauthorized {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"byok\""),
            );
        }
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        response
    }
}
