//! # byok-keys — LLM provider API key formats
//!
//! Recognise, check, normalise, mask, fingerprint, scan and redact OpenAI,
//! Anthropic and Google API keys. No I/O, no async, no network.
//!
//! - [`ApiKey::parse`] / [`ApiKey::parse_for`]: strict parsing into a key that can
//!   only be shown masked; errors ([`KeyError`]) carry a stable code, a message, a
//!   hint and the character position.
//! - [`normalize`]: what a paste box does first (quotes, `Bearer `, `NAME=`,
//!   invisible characters), reporting each [`Fix`].
//! - [`scan`] / [`redact`]: every key in arbitrary text, at memory speed; [`Redactor`]
//!   redacts a stream in bounded memory.
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
mod verdict;

pub use error::{FormatWarning, KeyError};
pub use key::{ApiKey, Fingerprint};
pub use normalize::{Fix, Normalized, normalize};
pub use provider::{KeyKind, Provider, UnknownProvider};
pub use redact::{Redactor, redact, redact_bytes};
pub use scan::{Finding, Findings, scan, scan_bytes};
pub use scrub::{SCRUB_WINDOW, SCRUBBED, scrub};
pub use verdict::{UnknownVerdict, VerdictCode};

/// Re-exported so callers can hold keys without depending on `secrecy` themselves.
pub use secrecy::{ExposeSecret, SecretString};
