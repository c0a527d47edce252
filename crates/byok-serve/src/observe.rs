//! Every request's id, log line and counters.
//!
//! The id is the caller's `x-request-id` when it is a safe one (1 to 64 of
//! `A-Z a-z 0-9 . _ : -`, and nothing key- or token-shaped: a key pasted
//! into the header must not reach the log), else a new random one. It is
//! answered as `x-byok-request-id`, and as `x-request-id` unless the answer
//! carries the provider's own (the proxy passes that on: the official SDKs
//! show it as the request id to quote to the provider).
//!
//! Each request runs in a `request` span (`request_id`, `method`, `route`:
//! the route template, never the path or query) and ends with one event,
//! `answered`, with its `status`, `duration_ms` and the `token` id behind
//! it. Nothing of a header (but the id) or a body is logged.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;

use crate::state::AppState;

/// The header a request id is read from (and answered in, when free).
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The header byok's request id is always answered in.
pub(crate) const BYOK_REQUEST_ID: HeaderName = HeaderName::from_static("x-byok-request-id");

/// Longest request id taken from a caller.
const MAX_ID: usize = 64;

/// What one request's handlers tell its log line.
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestFacts(Arc<Facts>);

#[derive(Debug, Default)]
struct Facts {
    token: OnceLock<String>,
}

impl RequestFacts {
    /// The id of the token that authenticated the request.
    pub(crate) fn token(&self, id: &str) {
        let _ = self.0.token.set(id.to_owned());
    }
}

/// The caller's request id if it is safe to log and echo, else a new one.
pub(crate) fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| safe_id(v))
        .map_or_else(|| uuid::Uuid::now_v7().simple().to_string(), str::to_owned)
}

fn safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
        && byok::keys::redact(id) == id
}

/// Routes polled by machines: logged at `debug`, not `info`.
fn polled(route: &str) -> bool {
    matches!(route, "/healthz" | "/readyz" | "/metrics")
}

/// The outermost layer: id, span, log line, counters.
pub(crate) async fn observe(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = request_id(request.headers());
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(no route)".to_owned(), |p| p.as_str().to_owned());
    let facts = RequestFacts::default();
    request.extensions_mut().insert(facts.clone());
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let mut response = next.run(request).instrument(span.clone()).await;
    let took = started.elapsed();
    let status = response.status().as_u16();
    state.metrics().request(&method, &route, status, took);
    let token = facts.0.token.get().map_or("-", String::as_str);
    let duration_ms = took.as_secs_f64() * 1000.0;
    if polled(&route) {
        tracing::debug!(parent: &span, status, duration_ms, token, "answered");
    } else {
        tracing::info!(parent: &span, status, duration_ms, token, "answered");
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        let headers = response.headers_mut();
        if !headers.contains_key(REQUEST_ID) {
            headers.insert(REQUEST_ID, value.clone());
        }
        headers.insert(BYOK_REQUEST_ID, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(REQUEST_ID, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn a_safe_caller_id_is_kept_and_anything_else_replaced() {
        assert_eq!(request_id(&with("req-42.a_b:c")), "req-42.a_b:c");
        let long = "a".repeat(64);
        assert_eq!(request_id(&with(&long)), long);
        // Short enough to pass the length check: the key and token checks must catch them.
        let key = format!("gsk_{}", "a1B2".repeat(13));
        let token = "byok_app_0123abcd4567".to_owned();
        for unsafe_id in [
            "a".repeat(65).as_str(),
            "has space",
            "new\tline",
            "semi;colon",
            "quote\"",
            "ünïcode",
            key.as_str(),
            token.as_str(),
        ] {
            let Ok(v) = HeaderValue::from_str(unsafe_id) else {
                continue;
            };
            let mut h = HeaderMap::new();
            h.insert(REQUEST_ID, v);
            let got = request_id(&h);
            assert_ne!(got, unsafe_id);
            assert_eq!(got.len(), 32, "a fresh id is 32 hex digits");
            assert!(got.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        assert_ne!(request_id(&HeaderMap::new()), request_id(&HeaderMap::new()));
    }
}
