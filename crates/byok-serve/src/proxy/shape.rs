//! Errors of the proxy in the provider's own shape, so the official SDK raises
//! its own error class with a clear message: OpenAI
//! `{"error": {"message", "type", "code", "param"}}`, Anthropic
//! `{"type": "error", "error": {"type", "message"}}`, Gemini
//! `{"error": {"code", "message", "status", "details"}}`. byok's stable code is
//! inside each (`code`, `type`, the `ErrorInfo` reason) and in
//! `x-byok-error-code`.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use byok::VaultError;

use crate::error::ApiError;

/// Whose error shape an answer takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// OpenAI and every OpenAI-compatible route.
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
    /// Gemini.
    Gemini,
}

/// An error the proxy answers with: byok's own refusal, or a provider's
/// refusal passed back with the provider's status.
#[derive(Debug, Clone)]
pub(crate) struct ProxyError {
    status: StatusCode,
    /// byok's stable code (`budget_denied`, `no_usable_key`, `provider_refused`, ...).
    code: &'static str,
    message: String,
    /// The provider's own code, for a refusal passed back.
    provider_code: Option<String>,
    /// Whether the SDK may retry it (`x-should-retry`).
    retry: bool,
    /// Figures for the body's `byok` object (a budget denial's).
    details: Option<Value>,
}

impl ProxyError {
    /// An error with this status, code and message, not to be retried.
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ProxyError {
            status,
            code,
            message: message.into(),
            provider_code: None,
            retry: false,
            details: None,
        }
    }

    /// No such route under the proxy.
    pub(crate) fn no_route() -> Self {
        ProxyError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the byok proxy serves no such route (docs/SERVER.md, \"The proxy\", lists them)",
        )
    }

    /// The HTTP status.
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    pub(crate) fn code(&self) -> &'static str {
        self.code
    }

    /// The answer in `shape`.
    pub(crate) fn render(self, shape: Shape) -> Response {
        let status = self.status;
        let mut body = match shape {
            Shape::OpenAi => {
                let (kind, code) = match &self.provider_code {
                    Some(p) => ("provider_refused", p.as_str()),
                    None => ("byok_error", self.code),
                };
                json!({"error": {
                    "message": self.message, "type": kind, "code": code, "param": null,
                }})
            }
            Shape::Anthropic => {
                let kind = self.provider_code.as_deref().unwrap_or(self.code);
                json!({"type": "error", "error": {"type": kind, "message": self.message}})
            }
            Shape::Gemini => {
                let reason = self.provider_code.as_deref().unwrap_or(self.code);
                json!({"error": {
                    "code": status.as_u16(),
                    "message": self.message,
                    "status": grpc_status(self.code, status),
                    "details": [{
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": reason,
                        "domain": "byok",
                        "metadata": {"byok_code": self.code},
                    }],
                }})
            }
        };
        // byok's code and figures, beside the provider's fields (SDKs keep the body).
        if let Some(error) = body.get_mut("error").and_then(Value::as_object_mut) {
            error.insert("byok_code".into(), Value::from(self.code));
            if let Some(d) = self.details {
                error.insert("byok".into(), d);
            }
        }
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            HeaderName::from_static("x-byok-error-code"),
            HeaderValue::from_static(self.code),
        );
        if !self.retry {
            headers.insert(
                HeaderName::from_static("x-should-retry"),
                HeaderValue::from_static("false"),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"byok\""),
            );
        }
        response
    }
}

/// The `google.rpc.Code` name Gemini puts in `error.status`.
fn grpc_status(code: &str, status: StatusCode) -> &'static str {
    match code {
        "budget_denied" => "RESOURCE_EXHAUSTED",
        "no_usable_key" | "fallback_limit" => "FAILED_PRECONDITION",
        _ => match status.as_u16() {
            400 | 413 => "INVALID_ARGUMENT",
            401 => "UNAUTHENTICATED",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            409 => "ABORTED",
            402 | 429 => "RESOURCE_EXHAUSTED",
            501 => "UNIMPLEMENTED",
            503 => "UNAVAILABLE",
            504 => "DEADLINE_EXCEEDED",
            _ => "INTERNAL",
        },
    }
}

/// A message and its hint in one line.
fn with_hint(message: String, hint: Option<String>) -> String {
    match hint {
        Some(h) => format!("{message} ({h})"),
        None => message,
    }
}

impl From<ApiError> for ProxyError {
    /// The server's own refusals (a token missing or of the wrong scope, a
    /// store failure), in the provider's shape.
    fn from(e: ApiError) -> Self {
        let message = e.to_string();
        ProxyError::new(e.status(), e.code(), message)
    }
}

impl From<VaultError> for ProxyError {
    fn from(e: VaultError) -> Self {
        let code = e.code();
        let hint = e.hint();
        match &e {
            VaultError::BudgetDenied { denied } => {
                let remaining = denied
                    .limit
                    .checked_sub(denied.spent)
                    .and_then(|r| r.checked_sub(denied.reserved))
                    .map_or_else(|_| "0".to_owned(), |r| r.to_string());
                let needed = denied.needed.map(|n| n.to_string());
                let message = format!("byok: {e} (${remaining} remaining)");
                let mut err =
                    ProxyError::new(StatusCode::PAYMENT_REQUIRED, code, with_hint(message, hint));
                err.details = Some(json!({
                    "budget": denied.budget.to_string(),
                    "limit_usd": denied.limit.to_string(),
                    "spent_usd": denied.spent.to_string(),
                    "held_usd": denied.reserved.to_string(),
                    "needed_usd": needed,
                    "remaining_usd": remaining,
                }));
                err
            }
            VaultError::NoUsableKey { .. } | VaultError::FallbackLimit { .. } => ProxyError::new(
                StatusCode::FORBIDDEN,
                code,
                with_hint(format!("byok: {e}"), hint),
            ),
            VaultError::ProviderRefused {
                status,
                provider_code,
                message,
                verdict,
                ..
            } => {
                let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY);
                let text = match message {
                    Some(m) => format!("{e}: {m}"),
                    None => e.to_string(),
                };
                let mut err = ProxyError::new(status, code, text);
                err.provider_code = Some(
                    provider_code
                        .clone()
                        .unwrap_or_else(|| verdict.as_str().to_owned()),
                );
                // A rate limit or outage the library could not wait out may
                // lift; everything else is the same on a retry.
                err.retry = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                err
            }
            VaultError::InvalidRequest { .. } => ProxyError::new(
                StatusCode::BAD_REQUEST,
                code,
                with_hint(e.to_string(), hint),
            ),
            VaultError::CallFailed { .. } => {
                let mut err = ProxyError::new(StatusCode::BAD_GATEWAY, code, e.to_string());
                err.retry = true;
                err
            }
            VaultError::TimedOut { .. } => {
                let mut err = ProxyError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    code,
                    with_hint(e.to_string(), hint),
                );
                err.retry = true;
                err
            }
            _ => {
                let api = ApiError::from(e);
                let mut err = ProxyError::from(api);
                err.retry = err.status == StatusCode::SERVICE_UNAVAILABLE;
                err
            }
        }
    }
}
