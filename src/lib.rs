//! # byok — bring your own key, for LLM APIs
//!
//! Accept your users' own OpenAI, Anthropic and Google Gemini API keys and handle
//! them the way a security reviewer expects: check the format the moment a key is
//! pasted, store it encrypted, test it against the provider, pick a backup when the
//! primary fails, and keep spending inside budgets with honest cost labels.
//!
//! This crate is a thin facade over the workspace crates:
//!
//! | module | crate | what it does |
//! |---|---|---|
//! | [`keys`] | `byok-keys` | parse, normalise, mask, fingerprint, scan and redact keys (no I/O) |
//! | [`store`] | `byok-store` | envelope-encrypted key storage |
//! | [`verify`] | `byok-verify` | the Test button: provider probes and verdicts |
//! | [`guard`] | `byok-guard` | prices, costs with labels, budgets and reservations |
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
#[doc(inline)]
pub use byok_testkit as testkit;

pub mod select;
mod vault;
pub use vault::{
    Added, KeyEdit, Lease, NewKey, Purpose, Vault, VaultBuilder, VaultError, VerifyPolicy,
};

/// The README's code blocks, compiled as doctests so the README stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
