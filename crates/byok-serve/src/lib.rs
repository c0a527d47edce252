//! # byok-serve — the management REST API and the metering BYOK proxy of a byok vault
//!
//! A thin HTTP face (axum on tokio) on [`byok::Vault`] and a budget ledger, for
//! key-management UIs written in any language, and for apps in any language
//! that call providers through byok: workspaces; keys (add with the
//! paste-box checks and Test before save, list masked, show, edit, Test,
//! rotate, disable / enable / revoke, delete); a stateless format check; the
//! selection preview; budgets (set, status, alerts); the audit trail; API
//! tokens; and the proxy, `POST /proxy/{provider}/…` (the providers' own
//! routes, an app token as the official SDK's API key, every call one
//! [`byok::Vault::call`] or [`byok::Vault::call_stream`] metered by the vault's
//! guard; its errors in the provider's own shape). JSON bodies are the DTOs of `docs/DTOS.md`; errors are
//! `{"error": {"code", "message", "hint"}}` with the library's stable codes.
//! The OpenAPI 3.1 document is generated from the code ([`ApiDoc`]) and served
//! at `/openapi.json`. `byok serve` runs it; `docs/SERVER.md` describes it.
//!
//! **Tokens** ([`token`]) are scoped — admin (everything), workspace (one
//! workspace's keys, budgets and audit), app (the proxy only, for one
//! workspace) — stored only as SHA-256 hashes in the vault's database, compared
//! in constant time, revocable at once, and named by id (`token:<id>`) in the
//! audit trail. Every workspace route checks the workspace in its path;
//! another workspace's records are `not_found`.
//!
//! **Safe defaults**: loopback listen (`byok serve`), a 64 KiB body limit (4
//! MiB for the proxy), a request timeout on the management routes, security headers on every answer, CORS off unless origins
//! are given, no bodies in logs, graceful shutdown.
//!
//! **TLS**: [`Server::run_tls`] with a [`TlsConfig`] (rustls); else plain
//! HTTP, for loopback or behind a TLS-terminating proxy.
//!
//! **Operable**: per-token rate limits on add / Test / rotate and the format
//! check ([`RateLimits`], `429 rate_limited` with `retry-after`); a request id
//! on every answer (`x-byok-request-id`, the caller's `x-request-id` when it
//! is safe) and one `tracing` event per request (`answered`: status,
//! duration, token id, in a `request` span with the id and route template);
//! Prometheus counters and budget gauges at `GET /metrics` (admin).
//!
//! ```
//! use std::sync::Arc;
//! use byok::Vault;
//! use byok::store::{MasterKey, MasterKeySource, OpenMode};
//! use byok_serve::Server;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("vault.db");
//! let store = byok::store::open(path.to_str().unwrap(), OpenMode::Create).await?;
//! let vault = Vault::builder()
//!     .store(store)
//!     .master_key(MasterKeySource::Base64(MasterKey::generate()?.to_base64()))
//!     .build()
//!     .await?;
//! let ledger = byok::guard::ledger::open("memory:").await?;
//! let server = Server::new(vault, ledger)?;
//! let admin = server.bootstrap().await?.expect("a new vault has no admin token yet");
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let url = format!("http://{}/v1/workspaces", listener.local_addr()?);
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let running = tokio::spawn(server.run(listener, async { let _ = stopped.await; }));
//!
//! let answer = reqwest::Client::new()
//!     .post(&url)
//!     .bearer_auth(admin.expose_secret())
//!     .json(&serde_json::json!({ "id": "acme" }))
//!     .send()
//!     .await?;
//! assert_eq!(answer.status(), 201);
//! let _ = stop.send(());
//! running.await??;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod auth;
mod error;
pub mod limit;
mod metrics;
mod observe;
mod openapi;
mod proxy;
mod routes;
mod schema;
mod server;
mod state;
pub mod tls;
pub mod token;
mod tokens;
mod ui;

pub use auth::Caller;
pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use limit::{Quota, RateLimits};
pub use openapi::ApiDoc;
pub use server::{Options, Server};
pub use tls::TlsConfig;
pub use token::{IssuedToken, TOKEN_PATTERN, TokenScope, find_tokens};
