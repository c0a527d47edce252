//! The call: one straight line from "which key" to "what it cost".
//!
//! [`Vault::call`] takes the JSON body the app would have sent (chat
//! completions, the Responses API, Anthropic messages, Gemini
//! `generateContent`) and does the rest: selects the key (primary, then
//! backups), reserves the worst case before sending (a denied budget sends
//! nothing), sends with the provider's auth and the configured base URL,
//! retries rate limits and outages the server says to wait out (within the
//! deadline), falls back to the next key on `invalid` or `no_credits` (benching
//! the refused key, never retrying quota on it), fails closed
//! (`no_usable_key`), and settles exactly once with the provider's usage —
//! or releases the hold when nothing was billed.
//!
//! [`Vault::call_stream`] does the same for a stream and meters it as it
//! passes ([`CallStream`]). Apps with their own HTTP client drive the same
//! steps with [`Vault::plan`] ([`CallPlan`]): the built-in sender is that loop.
//!
//! ```
//! # async fn demo(vault: byok::Vault, ws: byok::store::WorkspaceId) -> Result<(), byok::VaultError> {
//! use byok::call::Call;
//! let body = serde_json::json!({"model": "gpt-4o-mini", "max_completion_tokens": 64,
//!     "messages": [{"role": "user", "content": "Say hi"}]});
//! let called = vault.call(&ws, Call::openai_chat(body)).await?;
//! println!("{} via {}: {:?}", called.status, called.key.masked, called.cost);
//! # Ok(()) }
//! ```

mod plan;
mod stream;

pub use plan::{Attempt, CallPlan, Step};
pub use stream::{CallStream, Metering, StreamEnd};

use byok_guard::{Cost, Usage};
use reqwest::header::HeaderMap;
use serde::Serialize;
use serde_json::Value;

use crate::Vault;
use crate::keys::{Provider, VerdictCode};
use crate::select::Skipped;
use crate::store::{KeyId, Role as KeyRole, WorkspaceId};
use crate::vault::{Lease, VaultError};

/// Which provider API a call's body is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Api {
    /// OpenAI Chat Completions.
    OpenAiChat,
    /// OpenAI Responses.
    OpenAiResponses,
    /// Anthropic Messages.
    AnthropicMessages,
    /// Gemini `generateContent` (streamed: `streamGenerateContent?alt=sse`).
    GeminiGenerate,
    /// Amazon Bedrock Converse (`POST /model/{id}/converse`; streamed:
    /// `converse-stream`, AWS's binary event stream).
    BedrockConverse,
    /// Cohere v2 chat (`POST /v2/chat`).
    CohereChat,
}

impl Api {
    /// The provider whose API it is (a call made with [`Call::chat`] or
    /// [`Call::responses`] may send it to another provider that speaks it).
    pub fn provider(self) -> Provider {
        match self {
            Api::OpenAiChat | Api::OpenAiResponses => Provider::OpenAi,
            Api::AnthropicMessages => Provider::Anthropic,
            Api::GeminiGenerate => Provider::Google,
            Api::BedrockConverse => Provider::Bedrock,
            Api::CohereChat => Provider::Cohere,
        }
    }

    /// Whether `provider` serves this API: OpenAI chat completions at every
    /// provider with an OpenAI-compatible chat route (its spec's `chat_path`),
    /// the Responses API at OpenAI and Perplexity, the native APIs at their own.
    pub fn served_by(self, provider: Provider) -> bool {
        let spec = provider.spec();
        match self {
            Api::OpenAiChat => spec.chat_path.is_some(),
            Api::OpenAiResponses => {
                provider == Provider::OpenAi
                    || spec.wire == crate::keys::spec::Wire::OpenAiResponses
            }
            other => other.provider() == provider,
        }
    }

    /// Whether the model goes in the path, not the body (Gemini, Bedrock).
    pub(crate) fn model_in_path(self) -> bool {
        matches!(self, Api::GeminiGenerate | Api::BedrockConverse)
    }
}

/// What to do when a key is refused (`invalid`, `no_credits`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "policy")]
#[non_exhaustive]
pub enum FallbackPolicy {
    /// Stop with the refusal.
    Never,
    /// Try the next usable key, up to `max` fallbacks.
    NextKey {
        /// The most keys to fall back to after the first.
        max: u32,
    },
}

impl Default for FallbackPolicy {
    fn default() -> Self {
        FallbackPolicy::NextKey { max: 2 }
    }
}

/// One call to make: the body the app would have sent, and how.
#[derive(Clone, Debug)]
#[must_use]
pub struct Call {
    pub(crate) api: Api,
    pub(crate) provider: Provider,
    pub(crate) body: Value,
    pub(crate) model: Option<String>,
    pub(crate) stream: bool,
    pub(crate) project: Option<String>,
    pub(crate) fallback: FallbackPolicy,
}

impl Call {
    /// A call of `api` with `body` (streams when the body says `"stream": true`).
    pub fn new(api: Api, body: Value) -> Call {
        let stream = body.get("stream") == Some(&Value::Bool(true));
        Call {
            api,
            provider: api.provider(),
            body,
            model: None,
            stream,
            project: None,
            fallback: FallbackPolicy::default(),
        }
    }

    /// `POST /v1/chat/completions` with `body`.
    pub fn openai_chat(body: Value) -> Call {
        Call::new(Api::OpenAiChat, body)
    }

    /// `POST /v1/responses` with `body`.
    pub fn openai_responses(body: Value) -> Call {
        Call::new(Api::OpenAiResponses, body)
    }

    /// `POST /v1/messages` with `body`.
    pub fn anthropic(body: Value) -> Call {
        Call::new(Api::AnthropicMessages, body)
    }

    /// Gemini `generateContent` for `model` with `body` (`.stream(true)` for
    /// `streamGenerateContent`, as server-sent events).
    pub fn gemini(model: &str, body: Value) -> Call {
        Call::new(Api::GeminiGenerate, body).model(model)
    }

    /// OpenAI-style chat completions with `body` at `provider`: OpenAI, or any
    /// provider with an OpenAI-compatible chat route (OpenRouter, Groq, xAI,
    /// DeepSeek, Mistral, Together, Fireworks, Azure OpenAI — its deployment is
    /// the model —, Cohere's Compatibility API). A provider without one is
    /// `invalid_request` when the call is planned.
    pub fn chat(provider: Provider, body: Value) -> Call {
        Call {
            provider,
            ..Call::new(Api::OpenAiChat, body)
        }
    }

    /// The Responses API with `body` at `provider` (OpenAI, Perplexity).
    pub fn responses(provider: Provider, body: Value) -> Call {
        Call {
            provider,
            ..Call::new(Api::OpenAiResponses, body)
        }
    }

    /// Amazon Bedrock Converse for `model` (a model or inference-profile id)
    /// with `body` (`messages`, `system`, `inferenceConfig`); `.stream(true)`
    /// for `converse-stream`.
    pub fn bedrock(model: &str, body: Value) -> Call {
        Call::new(Api::BedrockConverse, body).model(model)
    }

    /// Cohere v2 chat (`POST /v2/chat`) with `body`.
    pub fn cohere(body: Value) -> Call {
        Call::new(Api::CohereChat, body)
    }

    /// The model, when the body does not name it (Gemini and Bedrock put it in the path).
    pub fn model(mut self, model: &str) -> Call {
        self.model = Some(model.to_owned());
        self
    }

    /// Stream the answer (`"stream": true` in the body, except Gemini and
    /// Bedrock, which stream by path; a body that did not mention `stream` is
    /// left without it when not streaming).
    pub fn stream(mut self, stream: bool) -> Call {
        self.stream = stream;
        if !self.api.model_in_path()
            && let Some(obj) = self.body.as_object_mut()
            && (stream || obj.contains_key("stream"))
        {
            obj.insert("stream".into(), Value::Bool(stream));
        }
        self
    }

    /// Count the call against `project`'s budget too (besides the key's and the workspace's).
    pub fn project(mut self, project: &str) -> Call {
        self.project = Some(project.to_owned());
        self
    }

    /// What to do when a key is refused (default: the next key, at most 2 fallbacks).
    pub fn fallback(mut self, policy: FallbackPolicy) -> Call {
        self.fallback = policy;
        self
    }

    pub(crate) fn streams(&self) -> bool {
        self.stream
    }
}

/// The key a call used, masked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct KeyUsed {
    /// Its id.
    pub id: KeyId,
    /// Its mask (`sk-proj-…Q8xA`).
    pub masked: String,
    /// Its label.
    pub label: String,
    /// Primary or backup.
    pub role: KeyRole,
}

impl KeyUsed {
    pub(crate) fn of(lease: &Lease) -> KeyUsed {
        let v = lease.view();
        KeyUsed {
            id: v.id,
            masked: v.masked.clone(),
            label: v.label.clone(),
            role: v.role,
        }
    }
}

/// A key the call fell back from, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FellBack {
    /// The refused key.
    pub key: KeyUsed,
    /// What the refusal amounts to (`invalid`, `no_credits`).
    pub verdict: VerdictCode,
    /// The HTTP status.
    pub status: u16,
    /// The provider's own code (`insufficient_quota`, `invalid_api_key`, ...).
    pub provider_code: Option<String>,
}

/// A finished call: the provider's answer, the key used, the fallbacks taken,
/// the usage and its labelled cost.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Called {
    /// The provider's HTTP status.
    pub status: u16,
    /// The provider's response headers.
    pub headers: HeaderMap,
    /// The provider's response body (empty for a stream: its bytes went to the caller).
    pub body: Vec<u8>,
    /// The key that answered.
    pub key: KeyUsed,
    /// Keys refused along the way, in order.
    pub fallbacks: Vec<FellBack>,
    /// Keys `select` passed over before trying any (disabled, benched, ...).
    pub skipped: Vec<Skipped>,
    /// The provider's usage (or, for a broken stream, the estimate of what was seen).
    pub usage: Option<Usage>,
    /// What it cost, labelled (`estimated`, `pending_provider_sync`, `unavailable`).
    pub cost: Option<Cost>,
    /// Requests sent, retries and fallbacks included.
    pub attempts: u32,
    /// The model.
    pub model: String,
    /// How the stream ended (streamed calls only).
    pub stream: Option<StreamEnd>,
}

impl Called {
    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

impl Vault {
    /// Make `call` with the workspace's keys (see the [module docs](crate::call)).
    ///
    /// Needs a verifier ([`VaultBuilder::verifier`](crate::VaultBuilder::verifier)):
    /// its configuration (base URLs, retry policy, deadline) and HTTP client
    /// are the call's. A guard, when configured, holds and settles the cost.
    ///
    /// # Errors
    /// `no_usable_key`, `budget_denied`, `provider_refused` (the verdict, status
    /// and provider code; fallbacks listed), `network_error`, `invalid_request`.
    pub async fn call(&self, workspace: &WorkspaceId, call: Call) -> Result<Called, VaultError> {
        let mut plan = self.plan(workspace, call.stream(false))?;
        let client = self.http_client()?;
        let limit = self.call_timeouts()?.answer;
        let mut attempt = plan.next_attempt_to_send().await?;
        loop {
            // The whole answer, headers and body, within the answer timeout,
            // while the key's use is committed.
            let request = attempt.to_reqwest(&client);
            let (answer, used) = tokio::join!(
                tokio::time::timeout(limit, async {
                    let mut response = request.send().await?;
                    let status = response.status().as_u16();
                    let headers = std::mem::take(response.headers_mut());
                    let body = response.bytes().await?;
                    Ok::<_, reqwest::Error>((status, headers, body))
                }),
                plan::committed(attempt.take_pending_use()),
            );
            if let Err(e) = used {
                // An unrecorded use withholds the answer; what was sent is settled.
                return Err(plan.unanswered(attempt, e).await);
            }
            let step = match answer {
                Ok(Ok((status, headers, body))) => {
                    plan.complete_owned(attempt, status, headers, body.into())
                        .await?
                }
                Ok(Err(e)) => return Err(lost(&mut plan, attempt, &e).await),
                Err(_) => {
                    let error = Timeout::Answer.error(limit);
                    return Err(plan.unanswered(attempt, error).await);
                }
            };
            attempt = match step {
                Step::Done(called) => return Ok(called),
                Step::Retry { attempt, wait } => {
                    tokio::time::sleep(wait).await;
                    attempt
                }
                Step::FallBack(_) => plan.next_attempt_to_send().await?,
            };
        }
    }

    /// The call timeouts (the verifier's configuration).
    pub(crate) fn call_timeouts(&self) -> Result<crate::verify::CallTimeouts, VaultError> {
        self.verifier()
            .map(|v| v.config().configured_call_timeouts())
            .ok_or(VaultError::Incomplete {
                missing: "a verifier (VaultBuilder::verifier) to make calls",
            })
    }

    /// The verifier's HTTP client (the call path shares its pool).
    pub(crate) fn http_client(&self) -> Result<reqwest::Client, VaultError> {
        self.verifier()
            .map(|v| v.client().clone())
            .ok_or(VaultError::Incomplete {
                missing: "a verifier (VaultBuilder::verifier) to make calls",
            })
    }
}

/// Which of the call's timeouts ran out ([`CallTimeouts`](crate::verify::CallTimeouts),
/// set with [`VerifierConfig::call_timeouts`](crate::verify::VerifierConfig::call_timeouts)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Timeout {
    /// A stream's status and headers did not come in time (`headers_timeout`).
    Headers,
    /// A non-streamed answer did not end in time (`answer_timeout`).
    Answer,
    /// A stream went silent, not a byte, for longer than the idle timeout (`stream_stalled`).
    Stalled,
}

impl Timeout {
    /// Its stable code: `headers_timeout`, `answer_timeout`, `stream_stalled`.
    pub fn code(self) -> &'static str {
        match self {
            Timeout::Headers => "headers_timeout",
            Timeout::Answer => "answer_timeout",
            Timeout::Stalled => "stream_stalled",
        }
    }

    /// One line for a person.
    pub fn message(self, after: std::time::Duration) -> String {
        let secs = after.as_secs_f64();
        match self {
            Timeout::Headers => {
                format!("the provider did not start its answer within {secs} s")
            }
            Timeout::Answer => format!("the provider's answer did not end within {secs} s"),
            Timeout::Stalled => format!("the stream sent nothing for {secs} s"),
        }
    }

    /// The call's error for this timeout, after `after`.
    pub(crate) fn error(self, after: std::time::Duration) -> VaultError {
        VaultError::TimedOut {
            timeout: self,
            after,
        }
    }

    /// What to do about it.
    pub(crate) fn hint(self) -> &'static str {
        match self {
            Timeout::Headers => {
                "the provider may be overloaded; retry later, or allow longer (CallTimeouts::headers, byok call --headers-timeout); the cost is estimated from the request"
            }
            Timeout::Answer => {
                "a long answer may need longer (CallTimeouts::answer, byok call --answer-timeout), or stream it; the cost is estimated from the request"
            }
            Timeout::Stalled => {
                "the answer is cut short; allow longer silences with CallTimeouts::idle (byok call --idle-timeout); the cost is estimated from what was received"
            }
        }
    }
}

/// `attempt` got no answer: when the request never left (no connection), the
/// hold is released; once it was sent the provider may have billed it, and the
/// hold is settled with the input estimate (`estimated`), as a cut stream is.
pub(crate) async fn lost(plan: &mut CallPlan, attempt: Attempt, e: &reqwest::Error) -> VaultError {
    let reason = network_reason(e);
    if e.is_connect() {
        plan.failed(attempt, reason).await
    } else {
        plan.unanswered(attempt, VaultError::CallFailed { reason })
            .await
    }
}

/// Why a request got no answer, without the URL (which is ours) or anything of the key.
pub(crate) fn network_reason(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the answer broke off"
    } else {
        "the request failed"
    };
    kind.to_owned()
}
