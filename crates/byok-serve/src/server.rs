//! [`Server`]: the router, its layers (limits, timeouts, headers, CORS, request
//! ids, logs and counters), the first admin token, and serving until a
//! shutdown signal.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi as _;

use byok::Vault;
use byok::guard::Ledger;

use crate::error::ApiError;
use crate::limit::RateLimits;
use crate::openapi::ApiDoc;
use crate::routes::{access, budgets, format, health, keys};
use crate::state::{AppState, no_access};
use crate::token::{IssuedToken, TokenScope};

/// Limits and cross-origin settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// Largest request body accepted, in bytes (default 64 KiB).
    pub body_limit: usize,
    /// Largest request body the proxy (`/proxy/…`) accepts, in bytes (default 4 MiB).
    pub proxy_body_limit: usize,
    /// Longest a request may take, a Test included (default 60 s): then `408`.
    pub request_timeout: Duration,
    /// Origins allowed to call from a browser (CORS); none by default (CORS off).
    pub cors_origins: Vec<String>,
    /// Per-token rate limits on add / Test / rotate and on the format check.
    pub rate_limits: RateLimits,
    /// How long what every request reads from the vault's database is reused
    /// before it is read again: a verified token's row, and the workspace's key
    /// list a proxied call's key selection reads ([`Vault::with_key_list_cache`](byok::Vault::with_key_list_cache)).
    /// Default 1 s; `Duration::ZERO` reads both on every request. A change made
    /// through this server (revoking a token, disabling or revoking a key, a
    /// key benched after `no_credits`) takes effect at once; one made by
    /// another instance or process on the same database, within this time.
    pub read_cache: Duration,
}

/// [`Options::read_cache`]'s default.
pub(crate) const DEFAULT_READ_CACHE: Duration = Duration::from_secs(1);

impl Default for Options {
    fn default() -> Self {
        Options {
            body_limit: 64 * 1024,
            proxy_body_limit: 4 * 1024 * 1024,
            request_timeout: Duration::from_secs(60),
            cors_origins: Vec::new(),
            rate_limits: RateLimits::default(),
            read_cache: DEFAULT_READ_CACHE,
        }
    }
}

impl Options {
    /// Set the body limit.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Set the proxy's body limit.
    pub fn proxy_body_limit(mut self, bytes: usize) -> Self {
        self.proxy_body_limit = bytes;
        self
    }

    /// Set the request timeout.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Set the per-token rate limits ([`RateLimits::off`] for none).
    pub fn rate_limits(mut self, limits: RateLimits) -> Self {
        self.rate_limits = limits;
        self
    }

    /// Reuse tokens' rows and key lists this long ([`Options::read_cache`]).
    pub fn read_cache(mut self, ttl: Duration) -> Self {
        self.read_cache = ttl;
        self
    }

    /// Allow these browser origins (`https://admin.example.com`).
    pub fn cors_origins(mut self, origins: Vec<String>) -> Self {
        self.cors_origins = origins;
        self
    }
}

/// The management API over one vault and one ledger.
#[derive(Debug, Clone)]
pub struct Server {
    state: AppState,
    options: Options,
}

impl Server {
    /// A server for `vault` (whose store must keep API tokens: SQLite or
    /// PostgreSQL) and `ledger` (budgets). The vault's verifier, if any, is the
    /// Test button's and tests keys before they are saved, and sends the
    /// proxy's calls; the proxy needs the vault's guard
    /// ([`VaultBuilder::guard`](byok::VaultBuilder::guard)) on this same
    /// ledger, which meters every proxied call (without one the proxy answers
    /// `incomplete_builder`).
    ///
    /// # Errors
    /// `incomplete_builder` when the store keeps no tokens, or the vault's
    /// guard is on another ledger than `ledger`.
    pub fn new(vault: Vault, ledger: Arc<dyn Ledger>) -> Result<Server, ApiError> {
        if vault.store().access().is_none() {
            return Err(no_access());
        }
        if let Some(guard) = vault.guard()
            && !Arc::ptr_eq(guard.ledger(), &ledger)
        {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "incomplete_builder",
                "the vault's guard must be on the server's ledger (Guard::new(ledger.clone()))",
            ));
        }
        Ok(Server {
            state: AppState::new(vault, ledger),
            options: Options::default(),
        })
    }

    /// With these options.
    pub fn options(mut self, options: Options) -> Self {
        self.state = self
            .state
            .with_limits(options.rate_limits)
            .with_read_cache(options.read_cache);
        self.options = options;
        self
    }

    /// Make the first admin token when the vault has no working one: `Some`
    /// with the token to show once, `None` when one exists.
    pub async fn bootstrap(&self) -> Result<Option<IssuedToken>, ApiError> {
        let tokens = self.state.access()?.tokens().await?;
        let admin = TokenScope::Admin.as_str();
        if tokens
            .iter()
            .any(|t| t.scope == admin && t.revoked_at.is_none())
        {
            return Ok(None);
        }
        access::issue(
            &self.state,
            TokenScope::Admin,
            None,
            "first admin",
            "bootstrap",
        )
        .await
        .map(Some)
    }

    /// Make a token (what `POST /v1/tokens` does), e.g. for tests and scripts.
    pub async fn issue_token(
        &self,
        scope: TokenScope,
        workspace: Option<byok::store::WorkspaceId>,
        name: &str,
    ) -> Result<IssuedToken, ApiError> {
        access::issue(&self.state, scope, workspace, name, "server").await
    }

    /// The routes with every layer.
    pub fn router(&self) -> Router {
        let ws = "/v1/workspaces/{workspace}";
        let api = Router::new()
            .route("/healthz", get(health::healthz))
            .route("/readyz", get(health::readyz))
            .route("/openapi.json", get(openapi_json))
            .route("/metrics", get(crate::metrics::metrics))
            .route(
                "/v1/workspaces",
                get(access::list_workspaces).post(access::create_workspace),
            )
            .route(
                "/v1/tokens",
                get(access::list_tokens).post(access::create_token),
            )
            .route(
                "/v1/tokens/{id}",
                axum::routing::delete(access::revoke_token),
            )
            .route("/v1/format-check", post(format::check))
            .route(&format!("{ws}/keys"), get(keys::list).post(keys::add))
            .route(
                &format!("{ws}/keys/{{id}}"),
                get(keys::show).patch(keys::edit).delete(keys::delete),
            )
            .route(&format!("{ws}/keys/{{id}}/test"), post(keys::test))
            .route(&format!("{ws}/keys/{{id}}/rotate"), post(keys::rotate))
            .route(&format!("{ws}/keys/{{id}}/disable"), post(keys::disable))
            .route(&format!("{ws}/keys/{{id}}/enable"), post(keys::enable))
            .route(&format!("{ws}/keys/{{id}}/revoke"), post(keys::revoke))
            .route(&format!("{ws}/selection"), get(keys::selection))
            .route(&format!("{ws}/budget"), get(budgets::get).put(budgets::set))
            .route(&format!("{ws}/budget/alerts"), get(budgets::alerts))
            .route(&format!("{ws}/budget/history"), get(budgets::history))
            .route(&format!("{ws}/audit"), get(budgets::audit))
            .route(
                "/v1/projects/{project}/budget",
                get(budgets::get_project).put(budgets::set_project),
            )
            .route(
                "/v1/projects/{project}/budget/alerts",
                get(budgets::project_alerts),
            )
            .route(
                "/v1/projects/{project}/budget/history",
                get(budgets::project_history),
            )
            .merge(crate::ui::routes())
            // The management routes' limits. The proxy has its own body limit;
            // its calls are bounded by the call's own timeouts (a stream's by
            // its idle timeout), not cut at `request_timeout`.
            .layer(DefaultBodyLimit::max(self.options.body_limit))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                self.options.request_timeout,
            ))
            .merge(crate::proxy::router(self.options.proxy_body_limit))
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .with_state(self.state.clone());
        let mut app = api;
        if !self.options.cors_origins.is_empty() {
            let origins: Vec<HeaderValue> = self
                .options
                .cors_origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect();
            app = app.layer(
                CorsLayer::new()
                    .allow_origin(AllowOrigin::list(origins))
                    .allow_methods([
                        Method::GET,
                        Method::POST,
                        Method::PUT,
                        Method::PATCH,
                        Method::DELETE,
                    ])
                    .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
                    .max_age(Duration::from_secs(600)),
            );
        }
        for (name, value) in SECURITY_HEADERS {
            app = app.layer(SetResponseHeaderLayer::if_not_present(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            ));
        }
        // Outermost: the request id, the log line (method, route template,
        // status, duration, token id: no header, no body, not the raw path or
        // query, where a key pasted into a URL would be) and the counters.
        app.layer(axum::middleware::from_fn_with_state(
            self.state.clone(),
            crate::observe::observe,
        ))
    }

    /// Serve on `listener` until `shutdown` resolves, then finish the requests
    /// under way and return.
    pub async fn run(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// [`run`](Server::run) over TLS: every connection on `listener` is a TLS
    /// connection with `tls`'s certificate (HTTP/1.1; a handshake that takes
    /// longer than [`HANDSHAKE_TIMEOUT`](crate::tls::HANDSHAKE_TIMEOUT) is dropped).
    pub async fn run_tls(
        self,
        listener: tokio::net::TcpListener,
        tls: &crate::TlsConfig,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let listener = crate::tls::TlsListener::new(listener, tls)?;
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// Sent with every answer: no sniffing, no framing, no caching, no referrer,
/// and a CSP that lets a JSON answer run nothing.
const SECURITY_HEADERS: [(&str, &str); 5] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
];

async fn openapi_json() -> impl IntoResponse {
    axum::Json(ApiDoc::openapi())
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
        .hint("GET /openapi.json lists every route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take this method",
    )
    .hint("GET /openapi.json lists every route and its methods")
}
