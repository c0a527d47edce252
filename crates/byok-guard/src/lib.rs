//! `byok-guard`: spend guardrails for LLM calls made with users' own keys.
//!
//! - [`Usd`]: exact money (integer picodollars), never `f64`.
//! - [`PriceBook`]: per-token prices from LiteLLM-format JSON, embedded or loaded at run time,
//!   per provider ([`PriceBook::get_for`]): the same model name at two providers is two prices.
//! - [`Usage`]: token counts normalised from each provider's usage object (OpenAI chat and
//!   Responses and the compatible providers, Anthropic, Gemini, Bedrock Converse, Cohere v2).
//! - [`Cost`]: an amount with an honest [`Label`]; an unknown model has no amount, never $0.
//! - [`reported_cost`]: the exact cost a provider reports per call (xAI ticks,
//!   OpenRouter credits, Perplexity's total), labelled `verified_by_provider`.
//! - [`estimate`](PriceBook::estimate): the worst-case cost of a call before it is made.
//! - [`Budget`], [`Guard`]: reserve before a call, settle after it, across every
//!   applicable budget atomically; holds expire after a TTL so none leaks.
//! - [`Ledger`] (with a `# Contract`) and `conformance` (feature `conformance`): where holds and spend live —
//!   [`MemoryLedger`], and behind features `SqliteLedger` (`sqlite`, default),
//!   `PostgresLedger` (`postgres`), `RedisLedger` (`redis`); [`ledger::open`] takes
//!   `memory:`, `sqlite:PATH`, `postgres://…`, `redis://…`.
//! - [`meter`]: usage metered from a provider's stream as it passes through (cut, errored or complete).
//! - [`sync`]: the providers' own cost reports (admin keys) and drift from our estimates.
//!
//! Pricing rules, label meanings, estimate accuracy per provider and budget
//! semantics are in `docs/COSTS.md`.
//!
//! ```
//! use byok_guard::{PriceBook, Usage, Label};
//! let body = r#"{"usage":{"input_tokens":1000,"output_tokens":200,"cache_read_input_tokens":5000}}"#;
//! let usage = Usage::from_json(body)?;
//! let cost = PriceBook::embedded().cost("claude-sonnet-4-5", &usage)?;
//! assert_eq!(cost.usd.unwrap().to_string(), "0.0075"); // 0.003 + 0.003 + 0.0015
//! assert_eq!(cost.label, Label::Estimated);
//! # Ok::<(), byok_guard::GuardError>(())
//! ```
//!
//! Every type of the [`Ledger`] trait's signatures is in [`ledger`] (with
//! `async_trait` and `Timestamp`), so a backend of your own imports
//! `byok_guard::ledger::*` and runs `byok_guard::conformance` (feature `conformance`)
//! in its tests.
//!
//! What it does not do: it does not make provider calls for inference, and a
//! budget is a guardrail on this application's spending, not the provider's
//! own spend cap — users still pay the provider directly.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod budget;
#[cfg(any(test, feature = "conformance"))]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;
mod cost;
mod error;
mod estimate;
mod guard;
pub mod ledger;
pub mod meter;
mod money;
pub mod price;
mod reported;
pub mod request;
pub mod sync;
mod usage;

pub use budget::{Budget, Period, Scope, Window};
pub use cost::{Cost, Label, cost};
pub use error::GuardError;
pub use estimate::{Estimate, Prompt, TokenCounting, count_tokens, count_tokens_for};
pub use guard::{Actual, Admission, CallRequest, Guard, Reservation, UnpricedPolicy};
pub use ledger::memory::MemoryLedger;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use ledger::postgres::PostgresLedger;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use ledger::redis::RedisLedger;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use ledger::sqlite::SqliteLedger;
pub use ledger::{
    Alert, BudgetStatus, DailySpend, DaySpend, Denied, DenyReason, HistoryRequest, HoldOutcome,
    HoldRequest, Ledger, MAX_HISTORY_BUCKETS, MIN_HOLD_TTL, OverLimit, RelabelRequest, Relabeled,
    ReleaseOutcome, ReservationId, SettleOutcome, SpendBucket,
};
pub use money::{PICOS_PER_USD, Usd};
pub use price::PriceBook;
pub use reported::{MAX_REPORTED_USD, PICOS_PER_TICK, reported_cost, reported_cost_from_json};
pub use usage::{Usage, UsageFormat};
