//! # byok-verify — the Test button for LLM API keys
//!
//! Tells a user *why* a key does or does not work: wrong or revoked, fine but
//! out of credits, rate limited right now, restricted, provider down, or their
//! own network. For the fourteen providers of [`Provider::ALL`](byok_keys::Provider::ALL):
//! OpenAI, Anthropic, Google Gemini, OpenRouter, Groq, xAI, DeepSeek, Mistral,
//! Together, Fireworks, Perplexity, Azure OpenAI, Amazon Bedrock and Cohere, each
//! driven by its [`ProviderSpec`](byok_keys::spec::ProviderSpec): base URL, auth
//! header, probes, error dialect and rate-limit headers are data, not code.
//!
//! - [`Verifier::verify`] runs the probes of a [`Depth`] and returns a [`Report`]:
//!   a [`Verdict`] with its reason, stable code, message and remediation, the
//!   attempts, elapsed time, the deciding probe, the provider's request id and
//!   the parsed [`RateLimits`] and, where the provider has a free key-info probe
//!   (OpenRouter, xAI, DeepSeek, Cohere), its [`KeyInfo`]: credit limit and what
//!   is left, blocked flags, model ACLs, balance, as exact decimals, before
//!   anything is spent. `Report` serialises for UIs.
//! - [`Verifier::verify_with`]: the same with the key's
//!   [`Params`](byok_keys::params::Params) (Azure OpenAI resource, deployment and
//!   API version; Bedrock region), which fill the provider's URL templates.
//! - [`classify`] is the verdict table on its own (status + headers + body):
//!   the status code lies (OpenAI's "no credits" is a 429 like a rate limit,
//!   Anthropic's is a 400, xAI's a 403 or 429, Fireworks' a 412), so the body
//!   decides. Where the provider cannot tell two causes apart (Mistral's 401 for
//!   a wrong key or a spent plan, Azure's 401 for a wrong key or endpoint), the
//!   reason says both (`key_or_quota`, `key_or_endpoint`).
//! - [`RetryPolicy`]: exponential backoff with jitter that follows the server's
//!   hints (`retry-after-ms`, `retry-after`, rate-limit resets, Gemini
//!   `RetryInfo`, `x-should-retry`), never retries "no credits", and caps
//!   attempts, a single wait and the whole verification.
//! - [`Verifier::verify_many`]: bulk verification with bounded concurrency and
//!   a request-rate limit per provider, results streamed as they finish.
//!
//! ```
//! use byok_keys::{ApiKey, KeyKind, Provider, fake};
//! use byok_testkit::{MockOpenAi, Scenario};
//! use byok_verify::{Depth, NoCreditsReason, Verdict, Verifier, VerifierConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A mock OpenAI whose account has no credits (byok-testkit).
//! let mock = MockOpenAi::builder().scenario(Scenario::NoCredits).start().await;
//! let verifier = Verifier::new(VerifierConfig::default().base_url(Provider::OpenAi, &mock.uri()))?;
//!
//! let key = ApiKey::parse(&fake::key(Provider::OpenAi, KeyKind::Project, 1))?;
//! let report = verifier.verify(&key, Depth::Billing).await;
//! assert_eq!(report.verdict, Verdict::NoCredits(NoCreditsReason::InsufficientQuota));
//! assert_eq!(report.attempts, 2); // list models, then one billable call: never retried
//! println!("{}: {} {}", report.masked, report.message(), report.remediation());
//! # Ok(())
//! # }
//! ```
//!
//! ## Security
//! The key goes only into its auth header (`Authorization`, `x-api-key`,
//! `x-goog-api-key`, `api-key`: the spec's [`Auth`](byok_keys::spec::Auth)), marked sensitive; never into a URL (Gemini's `?key=` is not
//! used), an error, a log line, `Debug` output or a report. Provider messages
//! kept in a report have anything key-shaped masked. Redirects are not followed,
//! so the auth header never travels to another host. Tests run every path with a
//! canary key and search all output and TRACE-level logs for it.
//!
//! ## What this crate does not do
//! It does not store keys (`byok-store`) or count spending (`byok-guard`). A
//! `valid` verdict is a snapshot: credits and limits change.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

mod bulk;
mod classify;
mod config;
mod credential;
mod duration;
mod error;
mod hint;
mod keyinfo;
mod ratelimit;
mod report;
mod request;
mod retry;
mod verdict;
mod verifier;

pub use bulk::{BulkOptions, BulkResult};
/// The stable code of a verdict ([`Verdict::verdict_code`]), defined in `byok-keys` so the
/// store can keep one without depending on this crate.
pub use byok_keys::{UnknownVerdict, VerdictCode};
pub use classify::{Classification, classify, classify_for_key};
pub use config::{CallTimeouts, VerifierConfig};
pub use error::VerifyError;
pub use keyinfo::{Balance, KeyInfo};
pub use ratelimit::{RateLimit, RateLimits};
pub use report::{Depth, Probe, Report};
pub use request::auth_headers;
pub use retry::RetryPolicy;
pub use verdict::{InvalidReason, NetworkErrorKind, NoCreditsReason, RestrictedReason, Verdict};
pub use verifier::Verifier;
