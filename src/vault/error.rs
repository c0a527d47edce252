//! [`VaultError`]: why a vault operation failed, its stable code and a hint.

use crate::keys::params::ParamError;
use crate::keys::{KeyError, Provider};
use crate::select::Skipped;
use crate::store::{Status, StoreError, VAULT_ENV};
use byok_verify::Report;

/// Why a vault operation failed. Never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The pasted text is not a usable key (the code says why: `truncated`, `wrong_provider`, ...).
    #[error("{0}")]
    Key(#[from] KeyError),
    /// The store or the encryption layer failed (`not_found`, `duplicate`, `conflict`, `corrupt`, `wrong_master_key`, ...).
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The key's parameters are missing, not valid, or not its provider's
    /// (`missing_param`, `invalid_param`, `unknown_param`, `duplicate_param`).
    #[error("{0}")]
    Param(#[from] ParamError),
    /// A parameter given contradicts the key itself (a Bedrock short-term key's
    /// region is inside the token): `invalid_param`.
    #[error("the key says `{name}` is {in_key}, which is not the value given")]
    ParamContradictsKey {
        /// The parameter.
        name: &'static str,
        /// The value the key carries (not secret: a region).
        in_key: String,
    },
    /// An admin key was offered for inference.
    #[error(
        "{masked} is an organisation admin key, which is for usage and cost reporting only; add a normal API key for inference, or add this one with the usage-sync purpose"
    )]
    AdminKeyRefused {
        /// The key's mask.
        masked: String,
    },
    /// The key is disabled or revoked, so it cannot be used or changed that way.
    #[error("key {id} is {}; enable it first (a revoked key can only be deleted)", status.as_str())]
    Inactive {
        /// The record id.
        id: String,
        /// Its status (disabled or revoked).
        status: Status,
    },
    /// The provider said the key does not work: it was not saved.
    #[error("the key was not saved: {}", report.message())]
    KeyRejected {
        /// The Test that refused it (verdict, reason, remediation).
        report: Box<Report>,
    },
    /// No key of the workspace can serve calls to this provider right now.
    #[error("no usable {} key in this workspace ({} passed over)", provider.display_name(), skipped.len())]
    NoUsableKey {
        /// The provider asked for.
        provider: Provider,
        /// Every candidate and why it was passed over (empty: there is no key at all).
        skipped: Vec<Skipped>,
    },
    /// The call's request body cannot be read as its API's.
    #[error("the request cannot be sent: {reason}")]
    InvalidRequest {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A budget denied the call's worst case: nothing was sent.
    #[error("{}", denied.message())]
    BudgetDenied {
        /// The budget, its limit, spent, held and what was needed.
        denied: Box<byok_guard::ledger::Denied>,
    },
    /// The provider refused the call and no retry or fallback could help.
    #[error("{} refused the call: {} (HTTP {status}{})", provider.display_name(), verdict.as_str(),
        provider_code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    ProviderRefused {
        /// The provider.
        provider: Provider,
        /// What the refusal amounts to (`invalid`, `no_credits`, `rate_limited`, ...).
        verdict: crate::keys::VerdictCode,
        /// The HTTP status.
        status: u16,
        /// The provider's own error code.
        provider_code: Option<String>,
        /// The provider's request id.
        request_id: Option<String>,
        /// The provider's message, scrubbed of anything of a key.
        message: Option<String>,
        /// Keys refused before this answer, in order.
        fallbacks: Vec<crate::call::FellBack>,
    },
    /// The call's fallback policy allows no more keys.
    #[error("the call fell back {} times, as many as its policy allows", fallbacks.len())]
    FallbackLimit {
        /// The keys refused, in order.
        fallbacks: Vec<crate::call::FellBack>,
    },
    /// The request got no answer (timeout, connection refused, a stream broken off).
    #[error("the call got no answer: {reason}")]
    CallFailed {
        /// What happened (never the URL or anything of the key).
        reason: String,
    },
    /// The call's answer took longer than its timeout
    /// ([`CallTimeouts`](crate::verify::CallTimeouts)). The request was sent:
    /// the call was settled with what was seen, labelled `estimated` (the
    /// input counted from the request, and a stream's output so far).
    #[error("{}", timeout.message(*after))]
    TimedOut {
        /// Which timeout ran out (`headers_timeout`, `answer_timeout`, `stream_stalled`).
        timeout: crate::call::Timeout,
        /// The timeout's length.
        after: std::time::Duration,
    },
    /// The spend guard's ledger failed.
    #[error("{0}")]
    Guard(byok_guard::GuardError),
    /// `Vault::builder()` was not given what it needs.
    #[error("the vault builder needs {missing}")]
    Incomplete {
        /// What is missing.
        missing: &'static str,
    },
}

impl VaultError {
    /// Stable snake_case code: the key or store error's own code, or
    /// `admin_key_refused`, `key_inactive`, `incomplete_builder`.
    pub fn code(&self) -> &'static str {
        match self {
            VaultError::Key(e) => e.code(),
            VaultError::Store(e) => e.code(),
            VaultError::Param(e) => e.code(),
            VaultError::ParamContradictsKey { .. } => "invalid_param",
            VaultError::AdminKeyRefused { .. } => "admin_key_refused",
            VaultError::Inactive { .. } => "key_inactive",
            VaultError::KeyRejected { .. } => "key_rejected",
            VaultError::NoUsableKey { .. } => "no_usable_key",
            VaultError::Incomplete { .. } => "incomplete_builder",
            VaultError::InvalidRequest { .. } => "invalid_request",
            VaultError::BudgetDenied { .. } => "budget_denied",
            VaultError::ProviderRefused { .. } => "provider_refused",
            VaultError::FallbackLimit { .. } => "fallback_limit",
            VaultError::CallFailed { .. } => "network_error",
            VaultError::TimedOut { timeout, .. } => timeout.code(),
            VaultError::Guard(e) => e.code(),
        }
    }

    /// What to do about it, where there is something to say: one line for a
    /// person, shown by the CLI (and a server) under the message.
    pub fn hint(&self) -> Option<String> {
        match self {
            VaultError::Key(k) => Some(k.hint().to_owned()),
            VaultError::Param(e) => Some(e.hint()),
            VaultError::ParamContradictsKey { name, in_key } => Some(format!(
                "leave `{name}` out (it is read from the key) or give `{name}={in_key}`"
            )),
            VaultError::Store(StoreError::MissingMasterKey) => Some(
                "generate one with `head -c 32 /dev/urandom | base64` and keep it in a secret manager"
                    .into(),
            ),
            VaultError::Store(StoreError::WrongMasterKey) => Some(
                "BYOK_MASTER_KEY must be the key this vault was created (or last rewrapped) with"
                    .into(),
            ),
            VaultError::KeyRejected { report } => Some(report.remediation()),
            VaultError::Store(StoreError::VaultNotFound { .. }) => Some(format!(
                "pass --vault PATH|URL or set {VAULT_ENV} to the vault you mean; `byok vault init` creates a new one"
            )),
            VaultError::Store(StoreError::InvalidVaultUrl { .. }) => Some(format!(
                "use a file path, sqlite:PATH, or postgres://USER@HOST/DB (in {VAULT_ENV} it stays off the command line)"
            )),
            VaultError::BudgetDenied { .. } => Some(
                "raise the budget, wait for its period to end, or lower the request's output cap"
                    .into(),
            ),
            VaultError::ProviderRefused { verdict, .. } => Some(format!(
                "the provider's answer amounts to `{}`; `byok vault test` re-tests the key",
                verdict.as_str()
            )),
            VaultError::FallbackLimit { .. } => Some(
                "add a working backup key, or allow more fallbacks (FallbackPolicy::NextKey { max })"
                    .into(),
            ),
            VaultError::TimedOut { timeout, .. } => Some(timeout.hint().into()),
            VaultError::NoUsableKey { .. } => Some(
                "add a key with `byok vault add`, enable a disabled one, or re-test a benched one with `byok vault test`"
                    .into(),
            ),
            _ => None,
        }
    }
}
