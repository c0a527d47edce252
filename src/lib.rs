//! # byok — bring your own key, for LLM APIs
//!
//! Accept your users' own OpenAI, Anthropic and Google Gemini API keys and handle
//! them the way a security reviewer expects: check the format the moment a key is
//! pasted, store it encrypted, test it against the provider, pick a backup when the
//! primary fails, and keep spending inside budgets with honest cost labels.
//!
//! This crate is a thin facade over the workspace crates, plus the glue an
//! application embeds: [`Vault`] (store + master key + verifier + guard) and
//! [`select`] (which key serves a call).
//!
//! | module | crate | what it does |
//! |---|---|---|
//! | [`keys`] | `byok-keys` | parse, normalise, mask, fingerprint, scan and redact keys (no I/O) |
//! | [`store`] | `byok-store` | envelope-encrypted key storage: memory, SQLite, PostgreSQL |
//! | [`verify`] | `byok-verify` | the Test button: provider probes and verdicts |
//! | [`guard`] | `byok-guard` | prices, costs with labels, budgets and reservations |
//! | [`select`] | this crate | primary, then backups, with the reason each key was skipped |
//! | [`call`] | this crate | the call: select, reserve, send, fall back, meter streams, settle |
//! | `testkit` (feature) | `byok-testkit` | mock providers for tests |
//!
//! ## The whole flow
//!
//! Paste → check → Test → save encrypted → call ([`Vault::call`]: select the
//! key, reserve the worst case, send, fall back on a refused key, settle the
//! cost). Here against byok-testkit's mock OpenAI, so it runs anywhere:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use byok::call::Call;
//! use byok::guard::{Budget, Guard, MemoryLedger, Period, Scope, Usd};
//! use byok::keys::{KeyKind, Provider, SecretString, fake};
//! use byok::store::{MasterKey, MasterKeySource, MemoryStore, WorkspaceId};
//! use byok::verify::{Verifier, VerifierConfig};
//! use byok::{NewKey, Vault};
//!
//! let openai = byok_testkit::MockOpenAi::start().await; // a real HTTP server on 127.0.0.1
//! let vault = Vault::builder()
//!     .store(Arc::new(MemoryStore::new())) // SqliteStore / PostgresStore in production
//!     .master_key(MasterKeySource::Base64(MasterKey::generate()?.to_base64()))
//!     .verifier(Verifier::new(VerifierConfig::default().base_url(Provider::OpenAi, &openai.uri()))?)
//!     .guard(Guard::new(Arc::new(MemoryLedger::new())))
//!     .build()
//!     .await?;
//! let ws = WorkspaceId::new("acme")?;
//!
//! // The paste box: normalised, checked, tested (an invalid key is refused), sealed, audited.
//! let pasted = format!("Bearer {}\n", fake::key(Provider::OpenAi, KeyKind::Project, 1));
//! let key = vault.add(NewKey::new(ws.clone(), SecretString::from(pasted), "production")).await?;
//! assert_eq!(key.last_verdict, Some(byok::keys::VerdictCode::Valid));
//!
//! // A call, under a $5 budget: the body the app would have sent, and byok does the rest.
//! let budget = Scope::workspace("acme");
//! vault.guard().unwrap().set_budget(&Budget::new(budget.clone(), Usd::from_dollars(5), Period::Month)).await?;
//! let body = serde_json::json!({"model": "gpt-4o-mini", "max_completion_tokens": 50,
//!     "messages": [{"role": "user", "content": "Hi"}]});
//! let called = vault.call(&ws, Call::openai_chat(body)).await?;
//! assert_eq!((called.status, called.key.label.as_str()), (200, "production"));
//! let cost = called.cost.unwrap(); // labelled: "Estimated" (no provider sync configured)
//! let status = vault.guard().unwrap().status(&budget).await?.unwrap();
//! assert_eq!(Some(status.spent), cost.usd); // settled exactly once, nothing left held
//! # Ok(())
//! # }
//! ```
//!
//! Streams: [`Vault::call_stream`] hands over the provider's bytes as they
//! arrive and settles on the last one (or, cut short, with what was seen,
//! labelled `estimated`). Apps with their own HTTP client use [`Vault::plan`]:
//! the same steps, any client. The low-level pieces ([`Vault::select`],
//! [`guard::Guard::reserve`], [`Vault::record_outcome`], `settle`) stay public.
//!
//! ## Just the key formats
//!
//! ```
//! use byok::keys::{Provider, normalize};
//!
//! // What a paste box receives: quotes, a Bearer prefix, a trailing newline.
//! let raw = byok::keys::fake::key(Provider::OpenAi, byok::keys::KeyKind::Project, 7);
//! let pasted = format!("\"Bearer {raw}\"\n");
//! let cleaned = normalize(&pasted);
//! let key = cleaned.parse().expect("a well-formed project key");
//! assert_eq!(key.provider(), Provider::OpenAi);
//! assert!(key.masked().starts_with("sk-proj-…"));
//! assert!(!format!("{key:?}").contains(key.expose_secret()));
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

#[doc(inline)]
pub use byok_keys as keys;

#[doc(inline)]
pub use byok_store as store;

#[doc(inline)]
pub use byok_verify as verify;

#[doc(inline)]
pub use byok_guard as guard;

#[cfg(feature = "testkit")]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
#[doc(inline)]
pub use byok_testkit as testkit;

pub mod call;
pub mod select;
mod vault;
pub use vault::{
    Added, KeyEdit, Lease, NewKey, Purpose, Vault, VaultBuilder, VaultError, VerifyPolicy,
};

/// The README's code blocks, compiled as doctests so the README stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
