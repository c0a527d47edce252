//! The metering BYOK proxy: the providers' own routes under `/proxy/{provider}/`,
//! authenticated with an **app** token in the provider's own auth header, so an
//! official SDK works by changing only its base URL and passing its byok token
//! as the "API key".
//!
//! Every request is one [`byok::Vault::call`] or [`byok::Vault::call_stream`]
//! for the token's workspace: the library selects the key, reserves the worst
//! case, sends with the stored key (nothing of the incoming request but its
//! JSON body goes on), retries, falls back and settles. The proxy only maps
//! routes to [`Api`]s, and answers to HTTP:
//!
//! - the provider's answer unchanged (status, body, content type, rate-limit
//!   and request-id headers; key-shaped text masked), plus `x-byok-*` headers;
//! - a stream passed on chunk by chunk; a client that goes away drops the
//!   [`byok::call::CallStream`], which settles in the background as `estimated`;
//! - byok's own refusals (budget denied, no usable key, fallback limit, a bad
//!   token) and the provider's refusals in the provider's error shape
//!   ([`shape`]).

mod shape;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Extension, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;

use byok::call::{Api, Call, FellBack, KeyUsed};
use byok::keys::Provider;

use crate::auth::Caller;
use crate::observe::RequestFacts;
use crate::state::AppState;
use crate::token::TokenScope;
use shape::{ProxyError, Shape};

/// The prefix every proxy route is under.
pub(crate) const PREFIX: &str = "/proxy";

/// The proxy's routes, with their own body limit.
pub(crate) fn router(body_limit: usize) -> Router<AppState> {
    Router::new()
        .route(&format!("{PREFIX}/{{provider}}/{{*rest}}"), post(proxy))
        .layer(DefaultBodyLimit::max(body_limit))
}

/// What a route asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Route {
    api: Api,
    provider: Provider,
    /// Gemini's model, from the path.
    model: Option<String>,
    /// Gemini's `:streamGenerateContent` (other APIs stream by their body).
    stream_path: bool,
}

impl Route {
    fn shape(&self) -> Shape {
        match self.api {
            Api::AnthropicMessages => Shape::Anthropic,
            Api::GeminiGenerate => Shape::Gemini,
            _ => Shape::OpenAi,
        }
    }
}

/// The error shape of a provider's routes, for errors found before the route is.
fn shape_of(provider: Option<Provider>) -> Shape {
    match provider {
        Some(Provider::Anthropic) => Shape::Anthropic,
        Some(Provider::Google) => Shape::Gemini,
        _ => Shape::OpenAi,
    }
}

/// The route of `POST /proxy/{provider}/{rest}` (`query`: Gemini's `alt`).
///
/// - `anthropic/v1/messages`;
/// - `google/v1beta/models/{model}:generateContent` and
///   `…:streamGenerateContent?alt=sse` (also under `v1/`);
/// - `{provider}/…/chat/completions` at every provider with an
///   OpenAI-compatible chat route, `…/responses` where the Responses API is served.
fn route(provider: Provider, rest: &str, query: Option<&str>) -> Result<Route, ProxyError> {
    let plain = |api| Route {
        api,
        provider,
        model: None,
        stream_path: false,
    };
    match provider {
        Provider::Anthropic => (rest == "v1/messages")
            .then(|| plain(Api::AnthropicMessages))
            .ok_or_else(ProxyError::no_route),
        Provider::Google => {
            let tail = rest
                .strip_prefix("v1beta/models/")
                .or_else(|| rest.strip_prefix("v1/models/"))
                .ok_or_else(ProxyError::no_route)?;
            let (model, action) = tail.rsplit_once(':').ok_or_else(ProxyError::no_route)?;
            let stream = match action {
                "generateContent" => false,
                "streamGenerateContent" => true,
                _ => return Err(ProxyError::no_route()),
            };
            if model.is_empty() || model.contains('/') {
                return Err(ProxyError::no_route());
            }
            let sse = query.unwrap_or("").split('&').any(|pair| pair == "alt=sse");
            if stream && !sse {
                return Err(ProxyError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "the byok proxy streams Gemini as server-sent events only: add ?alt=sse",
                ));
            }
            Ok(Route {
                model: Some(model.to_owned()),
                stream_path: stream,
                ..plain(Api::GeminiGenerate)
            })
        }
        _ if rest.ends_with("chat/completions") && Api::OpenAiChat.served_by(provider) => {
            Ok(plain(Api::OpenAiChat))
        }
        _ if rest.ends_with("responses") && Api::OpenAiResponses.served_by(provider) => {
            Ok(plain(Api::OpenAiResponses))
        }
        _ => Err(ProxyError::no_route()),
    }
}

/// The token an SDK sends as its "API key": `Authorization: Bearer` (OpenAI
/// and OpenAI-compatible SDKs), `x-api-key` (Anthropic), `x-goog-api-key`
/// (google-genai). Never read from the URL.
fn presented_token(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    bearer
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .or_else(|| headers.get("x-goog-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
}

/// The header naming the project a proxied call counts against (`Call::project`).
pub(crate) const PROJECT_HEADER: &str = "x-byok-project";

/// The project of [`PROJECT_HEADER`], if sent: the call then counts against
/// that project's budget too (never instead of the workspace's and key's).
fn project_of(headers: &HeaderMap) -> Result<Option<String>, ProxyError> {
    let Some(value) = headers.get(PROJECT_HEADER) else {
        return Ok(None);
    };
    let name = value.to_str().map_err(|_| {
        ProxyError::from(crate::error::ApiError::invalid(
            "the x-byok-project header is not visible ASCII text",
        ))
    })?;
    crate::routes::budgets::project_named(name)?;
    Ok(Some(name.to_owned()))
}

/// `POST /proxy/{provider}/{*rest}`.
async fn proxy(
    State(state): State<AppState>,
    Path((provider, rest)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    facts: Option<Extension<RequestFacts>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let provider = provider.parse::<Provider>().ok();
    let route = provider
        .ok_or_else(ProxyError::no_route)
        .and_then(|p| route(p, &rest, query.as_deref()));
    let shape = route.as_ref().map_or(shape_of(provider), Route::shape);
    let facts = facts.map(|Extension(f)| f).unwrap_or_default();
    // Counted under the provider of the path when it is one (else `unknown`).
    let named = provider.map_or("unknown", Provider::as_str);
    let response = match answer(&state, route, &headers, body, &facts).await {
        Ok(response) => response,
        Err(e) => {
            tracing::debug!(
                status = e.status().as_u16(),
                code = e.code(),
                "proxy refused"
            );
            state.metrics().count(
                "byok_proxy_refusals_total",
                vec![
                    ("provider", named.to_owned()),
                    ("code", e.code().to_owned()),
                ],
            );
            e.render(shape)
        }
    };
    state.metrics().count(
        "byok_proxy_calls_total",
        vec![
            ("provider", named.to_owned()),
            ("status", response.status().as_u16().to_string()),
        ],
    );
    response
}

/// The fallbacks a call took, in the metrics and the log.
fn count_fallbacks(state: &AppState, provider: Provider, key: &KeyUsed, fallbacks: &[FellBack]) {
    for f in fallbacks {
        state.metrics().count(
            "byok_fallbacks_total",
            vec![
                ("provider", provider.as_str().to_owned()),
                ("verdict", f.verdict.as_str().to_owned()),
            ],
        );
    }
    tracing::info!(
        key_id = %key.id,
        key_role = key.role.as_str(),
        fallbacks = fallbacks.len(),
        "proxied"
    );
}

async fn answer(
    state: &AppState,
    route: Result<Route, ProxyError>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    facts: &RequestFacts,
) -> Result<Response, ProxyError> {
    // Who first: an unauthenticated caller learns nothing of the routes.
    let token = presented_token(headers).ok_or_else(crate::error::ApiError::unauthorized)?;
    let caller = Caller::of_token(state, token).await?;
    facts.token(&caller.id);
    let workspace = match (caller.scope, caller.workspace.clone()) {
        (TokenScope::App, Some(ws)) => ws,
        _ => {
            return Err(ProxyError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "the byok proxy takes app tokens only (POST /v1/tokens with scope `app`)",
            ));
        }
    };
    let route = route?;
    if state.vault().guard().is_none() {
        return Err(ProxyError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "incomplete_builder",
            "this server's vault has no spend guard, so proxied calls cannot be metered",
        ));
    }
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ProxyError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the request body is larger than the proxy's limit (Options::proxy_body_limit)",
            )
        } else {
            ProxyError::new(
                e.status(),
                "invalid_body",
                "the request body cannot be read",
            )
        }
    })?;
    let json: Value = serde_json::from_slice(&body).map_err(|_| {
        ProxyError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "the request body is not valid JSON",
        )
    })?;
    let mut call = match route.api {
        Api::OpenAiChat => Call::chat(route.provider, json),
        Api::OpenAiResponses => Call::responses(route.provider, json),
        Api::GeminiGenerate => Call::gemini(route.model.as_deref().unwrap_or_default(), json),
        other => Call::new(other, json),
    };
    if route.stream_path {
        call = call.stream(true);
    }
    if let Some(project) = project_of(headers)? {
        call = call.project(&project);
    }
    let streams = route.stream_path || (route.api != Api::GeminiGenerate && body_streams(&body));
    let vault = state.vault().with_actor(caller.actor());
    // A client that goes away before the answer drops only the wait: the call
    // carries on in a task of its own and still settles (or releases) its
    // hold; a stream it was waiting for is dropped, which settles it.
    if streams {
        let stream = Detach::new(async move { vault.call_stream(&workspace, call).await })
            .await
            .map_err(|_| internal())??;
        count_fallbacks(state, route.provider, stream.key(), stream.fallbacks());
        let mut response = Response::builder().status(stream.status());
        if let Some(h) = response.headers_mut() {
            pass_headers(stream.headers(), h);
            byok_headers(stream.key(), stream.fallbacks(), h);
        }
        let body = Body::from_stream(futures::stream::unfold(stream, |mut s| async move {
            match s.next_chunk().await {
                Some(Ok(bytes)) => {
                    let bytes = byok::keys::redact_bytes(&bytes).into_owned();
                    Some((Ok::<_, std::io::Error>(Bytes::from(bytes)), s))
                }
                // The provider's stream broke or stalled: it is settled; cut ours too.
                Some(Err(e)) => Some((Err(std::io::Error::other(e.code())), s)),
                None => {
                    if let Err(e) = s.finish().await {
                        tracing::warn!(code = e.code(), "a proxied stream could not be settled");
                    }
                    None
                }
            }
        }));
        return response.body(body).map_err(|_| internal());
    }
    let called = Detach::new(async move { vault.call(&workspace, call).await })
        .await
        .map_err(|_| internal())??;
    count_fallbacks(state, route.provider, &called.key, &called.fallbacks);
    let status = StatusCode::from_u16(called.status).map_err(|_| internal())?;
    let mut out = HeaderMap::new();
    pass_headers(&called.headers, &mut out);
    byok_headers(&called.key, &called.fallbacks, &mut out);
    if let Some(cost) = &called.cost {
        if let Some(usd) = cost.usd
            && let Ok(v) = HeaderValue::from_str(&usd.to_string())
        {
            out.insert(HeaderName::from_static("x-byok-cost-usd"), v);
        }
        out.insert(
            HeaderName::from_static("x-byok-cost-label"),
            HeaderValue::from_static(cost.label.as_str()),
        );
    }
    let body = byok::keys::redact_bytes(&called.body).into_owned();
    Ok((status, out, body).into_response())
}

/// A future run in place by whoever awaits it, until it is dropped unfinished:
/// then what is left of it runs to its end in a task of its own. A panic in
/// it is its output's `Err` (as a spawned task's would be its join error),
/// so the proxy answers `internal` instead of dropping the connection.
///
/// The proxy's calls run this way so that a client going away (hyper drops
/// the handler) cannot cut a call between its hold and its settle, without
/// handing every call to another task: a spawned task and its join handle
/// are two hand-offs between threads per call, which on two cores shared with
/// the provider cost more than the rest of the proxy's own work.
struct Detach<F: std::future::Future + Send + 'static> {
    inner: Option<std::pin::Pin<Box<F>>>,
}

impl<F: std::future::Future + Send + 'static> Detach<F> {
    fn new(future: F) -> Self {
        Detach {
            inner: Some(Box::pin(future)),
        }
    }
}

/// The future of a [`Detach`] panicked.
#[derive(Debug)]
struct Panicked;

impl<F: std::future::Future + Send + 'static> std::future::Future for Detach<F> {
    type Output = Result<F::Output, Panicked>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let Some(inner) = self.inner.as_mut() else {
            // Polled after it returned its output: a caller's bug, kept pending.
            return std::task::Poll::Pending;
        };
        let polled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.as_mut().poll(cx)));
        let out = match polled {
            Ok(std::task::Poll::Pending) => return std::task::Poll::Pending,
            Ok(std::task::Poll::Ready(out)) => Ok(out),
            // The future is broken: dropped here, not handed to a task.
            Err(_) => Err(Panicked),
        };
        self.inner = None;
        std::task::Poll::Ready(out)
    }
}

impl<F: std::future::Future + Send + 'static> Drop for Detach<F> {
    fn drop(&mut self) {
        if let (Some(rest), Ok(runtime)) =
            (self.inner.take(), tokio::runtime::Handle::try_current())
        {
            drop(runtime.spawn(async move {
                rest.await;
            }));
        }
    }
}

/// Whether a JSON body asks for a stream (`"stream": true`).
fn body_streams(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Streams {
        stream: Option<bool>,
    }
    serde_json::from_slice::<Streams>(body).is_ok_and(|s| s.stream == Some(true))
}

fn internal() -> ProxyError {
    ProxyError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the answer could not be built",
    )
}

/// The provider's headers a client may see: its content type, rate limits and
/// request id. Hop-by-hop and framing headers, cookies and everything else
/// stay behind; a value with anything key-shaped in it is dropped.
fn pass_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        let n = name.as_str();
        let wanted = n == "content-type"
            || n == "retry-after"
            || n == "retry-after-ms"
            || n == "x-request-id"
            || n == "request-id"
            || n == "openai-processing-ms"
            || n.starts_with("x-ratelimit-")
            || n.starts_with("anthropic-ratelimit-");
        if !wanted {
            continue;
        }
        let clean = value.to_str().is_ok_and(|v| byok::keys::redact(v) == v);
        if clean {
            to.append(name.clone(), value.clone());
        }
    }
    if !to.contains_key(header::CONTENT_TYPE) {
        to.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
}

/// `x-byok-key-id`, `x-byok-key` (masked, `sk-proj-...Q8xA`), `x-byok-key-role` and
/// `x-byok-fallbacks` (how many keys were refused first). Not the label: it is
/// free text.
fn byok_headers(key: &KeyUsed, fallbacks: &[FellBack], to: &mut HeaderMap) {
    if let Ok(v) = HeaderValue::from_str(&key.id.to_string()) {
        to.insert(HeaderName::from_static("x-byok-key-id"), v);
    }
    // Header values are ASCII: the mask's `…` is written `...`.
    if let Ok(v) = HeaderValue::from_str(&key.masked.replace('…', "...")) {
        to.insert(HeaderName::from_static("x-byok-key"), v);
    }
    to.insert(
        HeaderName::from_static("x-byok-key-role"),
        HeaderValue::from_static(key.role.as_str()),
    );
    to.insert(
        HeaderName::from_static("x-byok-fallbacks"),
        HeaderValue::from(fallbacks.len()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_map_to_apis() {
        let r = route(Provider::OpenAi, "v1/chat/completions", None).unwrap();
        assert_eq!(r.api, Api::OpenAiChat);
        let r = route(Provider::OpenAi, "v1/responses", None).unwrap();
        assert_eq!(r.api, Api::OpenAiResponses);
        let r = route(Provider::Anthropic, "v1/messages", None).unwrap();
        assert_eq!(r.shape(), Shape::Anthropic);
        let r = route(
            Provider::Google,
            "v1beta/models/gemini-2.0-flash:streamGenerateContent",
            Some("alt=sse"),
        )
        .unwrap();
        assert_eq!(r.model.as_deref(), Some("gemini-2.0-flash"));
        assert!(r.stream_path);
        assert!(
            route(
                Provider::Google,
                "v1beta/models/m:streamGenerateContent",
                None
            )
            .is_err()
        );
        assert!(route(Provider::Google, "v1beta/models/m:countTokens", None).is_err());
        let r = route(Provider::Groq, "openai/v1/chat/completions", None).unwrap();
        assert_eq!((r.api, r.provider), (Api::OpenAiChat, Provider::Groq));
        assert!(route(Provider::Groq, "openai/v1/responses", None).is_err());
        assert!(route(Provider::Anthropic, "v1/complete", None).is_err());
        assert!(route(Provider::Bedrock, "v1/chat/completions", None).is_err());
    }

    /// Awaited to its end, a `Detach` is its future, run in place.
    #[tokio::test]
    async fn a_detach_awaited_to_its_end_gives_its_output() {
        assert_eq!(Detach::new(async { 3 }).await.unwrap(), 3);
    }

    /// A panic in a `Detach`'s future is its `Err`, not the caller's panic.
    #[tokio::test]
    async fn a_detach_whose_future_panics_gives_an_error() {
        let broken = Detach::new(async {
            if std::hint::black_box(true) {
                panic!("broken");
            }
            3
        });
        assert!(broken.await.is_err());
    }

    /// Dropped while its future waits, a `Detach` lets the rest of it run to
    /// its end in a task of its own.
    #[tokio::test]
    async fn a_dropped_detach_finishes_in_a_task_of_its_own() {
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        let (done, finished) = tokio::sync::oneshot::channel::<u32>();
        let mut d = Detach::new(async move {
            wait.await.unwrap();
            done.send(7).unwrap();
        });
        assert!(futures::poll!(&mut d).is_pending(), "it waits for `go`");
        drop(d);
        go.send(()).unwrap();
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), finished).await;
        assert_eq!(got.unwrap().unwrap(), 7);
    }

    #[test]
    fn the_token_is_read_from_each_sdks_header() {
        let mut h = HeaderMap::new();
        h.insert("x-goog-api-key", HeaderValue::from_static("g"));
        assert_eq!(presented_token(&h), Some("g"));
        h.insert("x-api-key", HeaderValue::from_static("a"));
        assert_eq!(presented_token(&h), Some("a"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer b"));
        assert_eq!(presented_token(&h), Some("b"));
    }
}
