//! The routes, one file per resource, and the JSON body extractor whose
//! rejections answer in the error shape.

pub(crate) mod access;
pub(crate) mod budgets;
pub(crate) mod format;
pub(crate) mod health;
pub(crate) mod keys;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON request body; a body that cannot be read is `invalid_body` (400/415)
/// or `body_too_large` (413), in the error shape. The body is never echoed.
pub(crate) struct Body<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(e) => Err(body_error(&e)),
        }
    }
}

fn body_error(e: &JsonRejection) -> ApiError {
    let status = e.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(status, "body_too_large", "the request body is too large")
            .hint("request bodies are limited (Options::body_limit, 64 KiB by default)");
    }
    // serde's message names the field and the expected type, never the value.
    let detail = match e {
        JsonRejection::JsonDataError(d) => d.body_text(),
        JsonRejection::MissingJsonContentType(_) => {
            "the body must be JSON (Content-Type: application/json)".into()
        }
        _ => "the body is not valid JSON".into(),
    };
    ApiError::new(status, "invalid_body", scrub(&detail))
}

/// A query string, rejected in the error shape.
pub(crate) struct Query<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(e) => Err(query_error(&e)),
        }
    }
}

fn query_error(e: &QueryRejection) -> ApiError {
    ApiError::invalid(scrub(&e.body_text()))
}

/// Anything key-shaped in a parser's message, masked.
fn scrub(text: &str) -> String {
    byok::keys::redact(text).into_owned()
}

/// A key id from a path, `not_found` when it is not one (as a missing key is).
pub(crate) fn key_id(id: &str) -> Result<byok::store::KeyId, ApiError> {
    id.parse().map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no key with this id in this workspace",
        )
    })
}
