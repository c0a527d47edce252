//! # byok-testkit — mock servers of byok's fourteen providers
//!
//! Local HTTP servers (on hyper, on a runtime of the crate's own) that answer,
//! and stream, like the real providers:
//! the same paths, status codes, error bodies, request-id and rate-limit
//! headers, and wait hints. Built for byok's own tests and for yours: point
//! your app's provider base URL at [`MockProvider::uri`] and play a
//! [`Scenario`] — valid, invalid, deactivated, no credits, spend limit, rate
//! limited N times then fine, outage N times then fine, restricted by region,
//! scope or model, slow, hanging, garbage body. Every request is recorded
//! ([`MockProvider::requests`]) so tests can assert what was sent: paths, auth
//! headers, bodies, counts.
//!
//! A downstream integration test (any HTTP client; here `reqwest`):
//!
//! ```
//! use std::time::Duration;
//! use byok_testkit::{Endpoint, MockOpenAi, Scenario};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = byok_keys::fake::key(byok_keys::Provider::OpenAi, byok_keys::KeyKind::Project, 1);
//! let mock = MockOpenAi::builder()
//!     .scenario(Scenario::RateLimited { times: 1, retry_after: Duration::from_millis(20) })
//!     .start()
//!     .await;
//!
//! // Your code under test would do this, with `mock.uri()` as its OpenAI base URL.
//! let client = reqwest::Client::new();
//! let url = format!("{}/v1/models", mock.uri());
//! let first = client.get(&url).bearer_auth(&key).send().await?;
//! assert_eq!(first.status(), 429);
//! assert_eq!(first.headers()["retry-after-ms"], "20");
//! let second = client.get(&url).bearer_auth(&key).send().await?;
//! assert_eq!(second.status(), 200);
//!
//! // What did the code send?
//! let sent = mock.requests().await;
//! assert_eq!(mock.count(Endpoint::ListModels).await, 2);
//! assert_eq!(sent[0].header("authorization"), Some(format!("Bearer {key}").as_str()));
//! # Ok(())
//! # }
//! ```
//!
//! Outside tests (a demo, a quickstart), start a mock in any tokio program the
//! same way: `let mock = MockOpenAi::start().await;` and keep it alive.
//!
//! ## Answers that depend on the request
//! Input tokens are the o200k count of the request's prompt text; the reply is
//! [`REPLY_WORDS`] (12 one-token words) cut by the request's output cap, with the
//! provider's finish reason; [`UsageExtras`] adds cache and reasoning tokens. A
//! streamed answer reports the same usage as the same request unstreamed:
//!
//! ```
//! use byok_testkit::{MockAnthropic, UsageExtras};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mock = MockAnthropic::builder()
//!     .usage(UsageExtras::new().cached_tokens(4))
//!     .start()
//!     .await;
//! let body = serde_json::json!({"model": "claude-haiku-4-5", "max_tokens": 5,
//!     "messages": [{"role": "user", "content": "The quick brown fox jumps over the lazy dog"}]});
//! let answer: serde_json::Value = reqwest::Client::new()
//!     .post(format!("{}/v1/messages", mock.uri()))
//!     .header("x-api-key", "any key plays the scenario")
//!     .header("anthropic-version", "2023-06-01")
//!     .json(&body)
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! assert_eq!(answer["content"][0]["text"], "This is the mock answer");
//! assert_eq!(answer["stop_reason"], "max_tokens");
//! // 9 prompt tokens: 4 read from the cache, 5 uncached (Anthropic reports them apart).
//! assert_eq!(answer["usage"]["input_tokens"], 5);
//! assert_eq!(answer["usage"]["cache_read_input_tokens"], 4);
//! assert_eq!(answer["usage"]["output_tokens"], 5);
//! # Ok(())
//! # }
//! ```
//!
//! ## Streams that break
//! [`Scenario::StreamError`], [`Scenario::StreamCut`], [`Scenario::StreamStall`]
//! and [`Scenario::KeepAlive`] disturb a successful stream after its 200: the
//! provider's mid-stream error event, a connection dropped mid-body, a silence
//! between events, SSE keep-alive comments.
//!
//! ## What the mocks check
//! The auth header of each provider (`Authorization: Bearer`; Anthropic's
//! `x-api-key` or `Authorization: Bearer` (anthropic-python 2.x) plus
//! `anthropic-version`; `x-goog-api-key` — Gemini's `?key=` is accepted like the
//! real API does, and recorded, so tests can assert it was *not* used), and the
//! public paths (a path prefix before them is allowed): OpenAI chat completions and
//! the Responses API, Anthropic messages, Gemini under `/v1beta` and `/v1`, where
//! the key is checked before the route as Google does. Billable calls stream when
//! asked (`"stream": true`, `:streamGenerateContent`), as each provider streams,
//! usage included. They do not check a key is real: any key plays the scenario, or
//! its own with [`MockBuilder::scenario_for_key`]. Wrong-key answers echo a masked
//! key the way OpenAI does, never the key.
//!
//! ## Hostile answers
//! For leak tests, [`echo_answers`] and [`echo_refusal`] build answers that repeat
//! the key they are given in every field a client could keep or print (error codes
//! and types, messages, request ids, retry and rate-limit headers), in several
//! forms: whole, cut, its first 100 characters, one character short, glued.
//!
//! ## Leak checks
//! [`canary`] builds every form in which a secret must never come out — whole, in
//! pieces, hex, base64, UTF-16, percent- or JSON-escaped — and searches any output
//! for all of them at once. A failure names the form and its position, never the
//! secret:
//!
//! ```
//! use byok_testkit::canary::{Canary, Detector};
//!
//! let key = byok_keys::fake::key(byok_keys::Provider::Google, byok_keys::KeyKind::Standard, 3);
//! let detector = Detector::new([Canary::api_key("the user's key", &key)]);
//! let logged = format!("calling gemini with key {}", &key[..10]); // the prefix and 4 more
//! detector.assert_clean("the log", logged.as_bytes());
//! let leaked = format!("GET /v1/models?key={}", &key[6..30]);
//! let leak = detector.find(&leaked).expect("a piece of the key");
//! assert_eq!(leak.to_string(), "the user's key: characters 6..18 at byte 19 (line 1, column 20)");
//! ```
//!
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

mod anthropic;
pub mod canary;
pub mod compat;
mod content;
mod echo;
mod error;
mod gemini;
mod mock;
mod openai;
mod providers;
mod record;
mod reply;
mod scenario;
mod server;
mod wire;

pub use content::{REPLY_WORDS, UsageExtras};
pub use echo::{EchoAnswer, echo_answers, echo_forms, echo_refusal};
pub use error::TestkitError;
#[doc(hidden)]
pub use mock::fuzz_answer;
pub use mock::{CannedAnswer, MockBuilder, MockProvider};
pub use providers::{
    MockAnthropic, MockAzureOpenAi, MockBedrock, MockCohere, MockDeepSeek, MockFireworks,
    MockGemini, MockGroq, MockMistral, MockOpenAi, MockOpenRouter, MockPerplexity, MockTogether,
    MockXAi,
};
pub use record::{Endpoint, RecordedRequest};
pub use scenario::Scenario;
