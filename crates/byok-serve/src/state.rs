//! The state every handler shares: the vault, the ledger and its guard, the
//! rate limiter, the verified tokens' rows and the counters.

use std::sync::Arc;

use byok::Vault;
use byok::guard::{Guard, Ledger};
use byok::store::AccessStore;

use crate::error::ApiError;
use crate::limit::{Limited, Limiter, RateLimits};
use crate::metrics::Metrics;
use crate::tokens::TokenCache;

/// Shared by every request; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
    limiter: Arc<Limiter>,
    tokens: Arc<TokenCache>,
}

#[derive(Debug)]
struct Inner {
    vault: Vault,
    ledger: Arc<dyn Ledger>,
    guard: Guard,
    metrics: Metrics,
}

impl AppState {
    pub(crate) fn new(vault: Vault, ledger: Arc<dyn Ledger>) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                // The vault's own guard when it has one (the proxy's calls are
                // metered by it), so budgets set here are the ones calls meet.
                guard: vault
                    .guard()
                    .cloned()
                    .unwrap_or_else(|| Guard::new(ledger.clone())),
                vault,
                ledger,
                metrics: Metrics::default(),
            }),
            limiter: Arc::new(Limiter::new(RateLimits::default())),
            tokens: Arc::new(TokenCache::new(std::time::Duration::ZERO)),
        }
        // As `Options::default()` says, until `Server::options` says otherwise.
        .with_read_cache(crate::server::DEFAULT_READ_CACHE)
    }

    /// Reusing verified tokens' rows and the vault's key lists for `ttl`
    /// (`ZERO`: read every time), as `Options::read_cache` says.
    pub(crate) fn with_read_cache(mut self, ttl: std::time::Duration) -> AppState {
        self.tokens = Arc::new(TokenCache::new(ttl));
        let vault = self.inner.vault.with_key_list_cache(ttl);
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.vault = vault,
            None => {
                self.inner = Arc::new(Inner {
                    vault,
                    ledger: self.inner.ledger.clone(),
                    guard: self.inner.guard.clone(),
                    metrics: Metrics::default(),
                });
            }
        }
        self
    }

    /// The verified tokens' rows kept for a moment.
    pub(crate) fn tokens(&self) -> &TokenCache {
        &self.tokens
    }

    /// With these rate limits (a fresh allowance for every token).
    pub(crate) fn with_limits(mut self, limits: RateLimits) -> AppState {
        self.limiter = Arc::new(Limiter::new(limits));
        self
    }

    /// Take one request of `kind` from the caller's allowance (`rate_limited`
    /// when it is used up, counted in the metrics).
    pub(crate) fn limit(&self, caller: &crate::Caller, kind: Limited) -> Result<(), ApiError> {
        self.limiter.check(&caller.id, kind).inspect_err(|_| {
            self.metrics().count(
                "byok_rate_limited_total",
                vec![("kind", kind.as_str().to_owned())],
            );
        })
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The vault, acting as `byok-serve` (handlers use `Caller::workspace`'s copy,
    /// which names the token in the audit trail).
    pub(crate) fn vault(&self) -> &Vault {
        &self.inner.vault
    }

    pub(crate) fn ledger(&self) -> &Arc<dyn Ledger> {
        &self.inner.ledger
    }

    pub(crate) fn guard(&self) -> &Guard {
        &self.inner.guard
    }

    /// The tokens and workspaces, kept in the vault's database.
    pub(crate) fn access(&self) -> Result<&dyn AccessStore, ApiError> {
        self.inner.vault.store().access().ok_or_else(no_access)
    }
}

/// The error of a store that keeps no tokens (checked at `Server::new`).
pub(crate) fn no_access() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "incomplete_builder",
        "this vault's store keeps no API tokens: serve a SQLite or PostgreSQL vault",
    )
}
