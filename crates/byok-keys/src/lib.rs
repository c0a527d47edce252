//! # byok-keys — LLM provider API key formats
//!
//! Recognise, check, normalise, mask, fingerprint, scan and redact the API keys of
//! the fourteen providers of [`Provider::ALL`] (OpenAI, Anthropic, Google,
//! OpenRouter, Groq, xAI, DeepSeek, Mistral, Together AI, Fireworks AI, Perplexity,
//! Azure OpenAI, Amazon Bedrock, Cohere). No I/O, no async, no network. Each
//! provider's key shapes are data in its spec ([`spec::KeyFormat`]).
//!
//! - [`ApiKey::parse`] / [`ApiKey::parse_for`]: strict parsing into a key that can
//!   only be shown masked; errors ([`KeyError`]) carry a stable code, a message, a
//!   hint and the character position. Without a provider named, the provider is
//!   recognised by the shape; keys without a prefix (Mistral, Cohere, Azure OpenAI)
//!   cannot be, and are [`KeyError::AmbiguousProvider`] (listing the candidates)
//!   until the provider is named.
//! - [`bedrock`]: Amazon Bedrock short-term keys decoded offline (region, issue
//!   time, expiry); an expired one is refused at paste time ([`ApiKey::parse_at`]
//!   takes the time).
//! - [`normalize`]: what a paste box does first (quotes, `Bearer `, `NAME=`,
//!   invisible characters), reporting each [`Fix`].
//! - [`scan`] / [`redact`]: every key in arbitrary text, at memory speed; [`Redactor`]
//!   redacts a stream in bounded memory. Prefix-less keys are found only within
//!   [`CONTEXT_WINDOW`] bytes after a context keyword (`MISTRAL_API_KEY=…`), or
//!   anywhere for providers named to [`scan_for`].
//! - [`token`]: byok's own API tokens (`byok serve`'s), found by
//!   [`token::scan_tokens`] and masked by [`redact`] and [`Redactor`] too.
//! - [`scrub`]: provider or proxy text made safe to show: the key that was sent
//!   removed in any fragment of 12 characters or more, other keys masked, then cut.
//! - [`fake`]: well-formed fake keys for tests.
//!
//! ```
//! use byok_keys::{ApiKey, KeyError, KeyKind, Provider, fake, normalize};
//!
//! let real_looking = fake::key(Provider::OpenAi, KeyKind::Project, 42);
//! let pasted = format!("  Bearer {real_looking}\n");
//! let n = normalize(&pasted);
//! let key = n.parse()?;
//! assert_eq!(key.kind(), KeyKind::Project);
//! println!("saved {} ({})", key.masked(), key.fingerprint());
//!
//! // A key split across two lines: an error with the position of the break.
//! let split = format!("{}\n{}", &real_looking[..40], &real_looking[40..]);
//! let err = ApiKey::parse(&split).unwrap_err();
//! assert_eq!((err.code(), err.position()), ("whitespace", Some(40)));
//! # Ok::<(), KeyError>(())
//! ```
//!
//! ## What this crate does not do
//! It cannot tell whether a well-formed key works: that is `byok-verify`'s job.
//! Lengths drift over the years, so a key of a new length is accepted with a
//! [`FormatWarning`] rather than rejected.
//!
//! ## Security
//! `ApiKey` has no `Serialize` and no `Display`/`Debug` of the secret; errors,
//! warnings, fixes and findings never hold key material.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

pub mod bedrock;
mod error;
pub mod fake;
mod format;
pub mod fs;
mod key;
mod normalize;
pub mod params;
mod provider;
mod redact;
mod scan;
mod scrub;
pub mod spec;
pub mod token;
mod verdict;

pub use error::{FormatWarning, KeyError};
pub use key::{ApiKey, Fingerprint};
pub use normalize::{Fix, Normalized, normalize};
pub use provider::{KeyKind, Provider, UnknownProvider};
pub use redact::{Redactor, redact, redact_bytes};
#[doc(hidden)]
pub use scan::variants as scan_variants;
pub use scan::{CONTEXT_WINDOW, Finding, Findings, scan, scan_bytes, scan_bytes_for, scan_for};
pub use scrub::{SCRUB_WINDOW, SCRUBBED, scrub};
pub use verdict::{UnknownVerdict, VerdictCode};

/// Re-exported so callers can hold keys without depending on `secrecy` themselves.
pub use secrecy::{ExposeSecret, SecretString};
