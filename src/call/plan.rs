//! The client-agnostic core of a call: [`CallPlan`] hands out an [`Attempt`]
//! (a key chosen, the worst case reserved, the request prepared: URL, headers
//! with the auth, body), the caller sends it with any HTTP client, and
//! [`CallPlan::complete`] (or [`CallPlan::meter`] for a stream) turns the answer
//! into the next [`Step`]: done, retry the same key after a wait, or fall back
//! to the next key. The built-in sender ([`Vault::call`]) is this loop over the
//! verifier's reqwest client.

use std::time::Duration;

use byok_guard::request::{ApiFormat, RequestShape};
use byok_guard::{Admission, CallRequest, Cost, Prompt, Reservation, Usage};
use byok_verify::Classification;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::Value;

use super::{Api, Call, Called, FallbackPolicy, FellBack, KeyUsed};
use crate::Vault;
use crate::keys::Provider;
use crate::keys::params::Params;
use crate::keys::spec::ParamCheck;
use crate::select::CallOutcome;
use crate::store::{KeyId, WorkspaceId};
use crate::vault::{Lease, UseCommit, VaultError};

/// Wait for a `use` commit taken from an attempt (none: already committed).
pub(crate) async fn committed(pending: Option<UseCommit>) -> Result<(), VaultError> {
    Ok(crate::vault::committed(pending).await?)
}

/// One call's progress across its attempts (keys tried, fallbacks taken).
/// Get one from [`Vault::plan`]; drive it with [`next_attempt`](CallPlan::next_attempt).
#[derive(Debug)]
pub struct CallPlan {
    vault: Vault,
    workspace: WorkspaceId,
    call: Call,
    /// The body as it goes on the wire (usage asked for where the provider must be asked).
    wire_body: Vec<u8>,
    /// Whether byok added `stream_options.include_usage` (then hidden from the caller).
    pub(crate) injected_usage: bool,
    shape: RequestShape,
    model: String,
    /// The call named no model and the key's `deployment` parameter names it
    /// (Azure OpenAI): set per key in [`CallPlan::next_attempt`].
    model_from_key: bool,
    tried: Vec<KeyId>,
    fallbacks: Vec<FellBack>,
    attempts: u32,
    /// Requests sent with the current key (its retries are counted apart).
    key_attempts: u32,
    started: tokio::time::Instant,
    /// The prompt's tokens, counted once for the model they were counted for
    /// (the reservation and a stream's fallback estimate both need them).
    input_count: Option<(String, u64, byok_guard::TokenCounting)>,
}

/// One request to send: everything a client needs, and the hold behind it.
///
/// `Debug` shows the URL and the key's mask, never the auth headers' values.
pub struct Attempt {
    lease: Lease,
    reservation: Option<Reservation>,
    /// `POST`.
    pub method: reqwest::Method,
    /// The provider URL (base URL + the API's path; the key is never in it).
    pub url: String,
    /// Content type, the provider's auth (values marked sensitive) and version headers.
    pub headers: HeaderMap,
    /// The request body.
    pub body: Vec<u8>,
    /// Whether the answer is a stream (meter it with [`CallPlan::meter`]).
    pub stream: bool,
}

impl core::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Attempt")
            .field("url", &self.url)
            .field("key", &self.lease.view().masked)
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl Attempt {
    pub(crate) fn lease(&self) -> &Lease {
        &self.lease
    }

    /// The key this attempt uses (masked).
    pub fn key(&self) -> KeyUsed {
        KeyUsed::of(&self.lease)
    }

    /// The reservation holding the worst case, when a guard is configured.
    pub fn reservation(&self) -> Option<&Reservation> {
        self.reservation.as_ref()
    }

    /// The key's `use` commit, still under way on an attempt from
    /// [`CallPlan::next_attempt_to_send`]: the built-in senders wait for it
    /// beside the request ([`committed`]).
    pub(crate) fn take_pending_use(&mut self) -> Option<UseCommit> {
        self.lease.take_pending_use()
    }

    /// The attempt as a reqwest request (the built-in sender's).
    pub fn to_reqwest(&self, client: &reqwest::Client) -> reqwest::RequestBuilder {
        client
            .request(self.method.clone(), &self.url)
            .headers(self.headers.clone())
            .body(self.body.clone())
    }
}

/// What to do after an answer.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one Step per answer, consumed at once: boxing the common case buys nothing"
)]
pub enum Step {
    /// The call is over: the provider's answer, settled.
    Done(Called),
    /// Send the same attempt again after `wait` (a rate limit or an outage the
    /// server said to wait out, within the deadline). The hold is kept.
    Retry {
        /// The attempt, unchanged.
        attempt: Attempt,
        /// How long to wait first.
        wait: Duration,
    },
    /// The key was refused (`invalid`, `no_credits`) and benched; ask
    /// [`CallPlan::next_attempt`] for the next key. The hold was released.
    FallBack(FellBack),
}

impl Vault {
    /// Start a call without sending anything: the client-agnostic way, for
    /// apps with their own HTTP client. [`Vault::call`] is this plan driven
    /// with the built-in client.
    ///
    /// # Errors
    /// `invalid_request` when the body cannot be read as `call`'s API.
    pub fn plan(&self, workspace: &WorkspaceId, call: Call) -> Result<CallPlan, VaultError> {
        if !call.api.served_by(call.provider) {
            return Err(VaultError::InvalidRequest {
                reason: "the provider has no endpoint for this API (Call::chat needs a provider with an OpenAI-compatible chat route; Call::responses is OpenAI's and Perplexity's; the native APIs are their own provider's)",
            });
        }
        let shape = RequestShape::of(call.api.format(), &call.body);
        let model = match (&call.model, &shape.model) {
            (Some(m), _) | (None, Some(m)) => m.clone(),
            // Azure OpenAI: the deployment is the model; a key's own is the default.
            (None, None) if call.api == Api::OpenAiChat && names_deployment(call.provider) => {
                String::new()
            }
            (None, None) => {
                return Err(VaultError::InvalidRequest {
                    reason: "the request body names no model (set \"model\", or Call::model)",
                });
            }
        };
        let mut call = call;
        // The body is the plan's from here (the call keeps its settings, not a second copy).
        let mut body = std::mem::take(&mut call.body);
        let stream = call.streams();
        let mut injected_usage = false;
        let traits = call.provider.spec().stream;
        if call.api == Api::OpenAiChat
            && stream
            && traits.needs_stream_options
            && !traits.rejects_stream_options
        {
            let asked = body
                .pointer("/stream_options/include_usage")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if !asked {
                // Usage comes only when asked for; the caller gets the stream it asked for.
                if let Some(obj) = body.as_object_mut() {
                    let options = obj
                        .entry("stream_options")
                        .or_insert_with(|| Value::Object(Default::default()));
                    if let Some(options) = options.as_object_mut() {
                        options.insert("include_usage".into(), Value::Bool(true));
                        injected_usage = true;
                    }
                }
            }
        }
        if call.api.model_in_path()
            && let Some(obj) = body.as_object_mut()
        {
            obj.remove("model");
            obj.remove("stream");
        }
        Ok(CallPlan {
            vault: self.clone(),
            workspace: workspace.clone(),
            wire_body: serde_json::to_vec(&body).unwrap_or_default(),
            injected_usage,
            shape,
            model_from_key: model.is_empty(),
            model,
            call,
            tried: Vec::new(),
            fallbacks: Vec::new(),
            attempts: 0,
            key_attempts: 0,
            started: tokio::time::Instant::now(),
            input_count: None,
        })
    }
}

impl CallPlan {
    /// The model the call is for.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The provider the call goes to.
    pub fn provider(&self) -> Provider {
        self.call.provider
    }

    /// The fallbacks taken so far.
    pub fn fallbacks(&self) -> &[FellBack] {
        &self.fallbacks
    }

    /// The call's API.
    pub(crate) fn api(&self) -> Api {
        self.call.api
    }

    /// The prompt tokens counted from the request (the estimate a stream falls
    /// back on), and how: counted once per model.
    fn input_count(&mut self) -> (u64, byok_guard::TokenCounting) {
        match &self.input_count {
            Some((model, n, counting)) if *model == self.model => (*n, *counting),
            _ => {
                let (n, counting) = byok_guard::count_tokens_for(
                    self.provider(),
                    &self.model,
                    &self.shape.prompt_text,
                );
                self.input_count = Some((self.model.clone(), n, counting));
                (n, counting)
            }
        }
    }

    /// The prompt tokens counted from the request (the estimate a stream falls back on).
    pub(crate) fn input_estimate(&mut self) -> u64 {
        self.input_count().0
    }

    /// The next key's attempt: select (skipping keys this call already tried
    /// and benched ones), then reserve the worst case. Nothing is sent; the
    /// key's `use` is committed to the audit trail before the attempt (which
    /// holds the secret in its auth header) is handed out.
    ///
    /// # Errors
    /// `no_usable_key` (every candidate and why; fails closed, never another
    /// workspace's key), `budget_denied` (nothing was sent), `fallback_limit`
    /// when the policy allows no more keys.
    pub async fn next_attempt(&mut self) -> Result<Attempt, VaultError> {
        let mut attempt = self.next_attempt_to_send().await?;
        if let Err(e) = committed(attempt.take_pending_use()).await {
            // Nothing was sent: the hold goes back.
            return Err(match self.release(&attempt).await {
                Ok(()) => e,
                Err(ledger) => ledger,
            });
        }
        Ok(attempt)
    }

    /// [`next_attempt`](CallPlan::next_attempt) for byok's own senders: the
    /// `use` commit may still be under way ([`Attempt::take_pending_use`]);
    /// the sender waits for it beside the request and withholds the answer
    /// if it failed.
    pub(crate) async fn next_attempt_to_send(&mut self) -> Result<Attempt, VaultError> {
        if let FallbackPolicy::NextKey { max } = self.call.fallback
            && self.fallbacks.len() > max as usize
        {
            return Err(VaultError::FallbackLimit {
                fallbacks: self.fallbacks.clone(),
            });
        }
        if self.call.fallback == FallbackPolicy::Never && !self.fallbacks.is_empty() {
            return Err(VaultError::FallbackLimit {
                fallbacks: self.fallbacks.clone(),
            });
        }
        let provider = self.provider();
        let lease = self
            .vault
            .select_excluding(&self.workspace, provider, &self.tried)
            .await?;
        self.tried.push(lease.id());
        self.key_attempts = 0;
        if self.model_from_key {
            match lease.params().and_then(|p| p.get("deployment")) {
                Some(deployment) => deployment.clone_into(&mut self.model),
                None => {
                    return Err(VaultError::InvalidRequest {
                        reason: "the request body names no model, and the key has no deployment parameter (set \"model\", or store the key's deployment with it)",
                    });
                }
            }
        }
        // Counted before the reservation borrows the plan (once per model).
        let (tokens, counting) = self.input_count();
        let config = self.vault.verifier_config();
        let stream = self.call.streams();
        let url = attempt_url(
            self.call.api,
            provider,
            config.base_url_of(provider),
            &self.model,
            stream,
            lease.params(),
        )?;
        let reservation = match self.vault.guard() {
            None => None,
            Some(guard) => {
                let scopes = match &self.call.project {
                    Some(p) => lease.scopes_in(p),
                    None => lease.scopes(),
                };
                let request = CallRequest {
                    scopes,
                    model: &self.model,
                    prompt: Prompt::Counted(tokens, counting),
                    max_output_tokens: self.shape.max_output_tokens,
                };
                match guard
                    .reserve_for(provider, &request)
                    .await
                    .map_err(VaultError::Guard)?
                {
                    Admission::Reserved(r) => Some(r),
                    Admission::Denied(denied) => {
                        return Err(VaultError::BudgetDenied {
                            denied: Box::new(denied),
                        });
                    }
                }
            }
        };
        let mut headers =
            byok_verify::auth_headers(config, lease.key()).ok_or(VaultError::InvalidRequest {
                reason: "the key cannot be sent in a header",
            })?;
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(Attempt {
            lease,
            reservation,
            method: reqwest::Method::POST,
            url,
            headers,
            body: self.wire_body.clone(),
            stream,
        })
    }

    /// The answer to `attempt`, read whole (a non-streamed call, or a stream's
    /// refusal before its first byte): settle on success, fall back on a refused
    /// key, retry a rate limit or outage within the deadline, else the refusal.
    ///
    /// # Errors
    /// `provider_refused` with the provider's verdict and code when the answer
    /// is an error that no retry or fallback can help; ledger errors.
    pub async fn complete(
        &mut self,
        attempt: Attempt,
        status: u16,
        headers: &HeaderMap,
        body: Vec<u8>,
    ) -> Result<Step, VaultError> {
        self.complete_owned(attempt, status, headers.clone(), body)
            .await
    }

    /// [`complete`](CallPlan::complete) taking the headers it returns in the
    /// answer (the built-in senders own them: no copy).
    pub(crate) async fn complete_owned(
        &mut self,
        attempt: Attempt,
        status: u16,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<Step, VaultError> {
        self.attempts += 1;
        self.key_attempts += 1;
        if (200..300).contains(&status) {
            let provider = self.provider();
            let usage = usage_of(&body).and_then(|v| Usage::from_provider_value(provider, &v).ok());
            // The exact cost, where the answer carries one (xAI, OpenRouter, Perplexity).
            let reported = match provider.spec().reported_cost {
                Some(_) => std::str::from_utf8(&body)
                    .ok()
                    .and_then(|text| byok_guard::reported_cost_from_json(provider, text)),
                None => None,
            };
            // A success clears a bench (the report's rule).
            self.vault
                .record_outcome(&attempt.lease, CallOutcome::Success)
                .await?;
            let cost = self.settle(&attempt, usage, reported, false).await?;
            let mut called = self.called(&attempt, status, headers, usage, cost);
            called.body = body;
            return Ok(Step::Done(called));
        }
        let classified =
            byok_verify::classify_for_key(attempt.lease.key(), status, &headers, &body);
        self.after_refusal(attempt, classified).await
    }

    /// A refused answer: retry, fall back, or the error.
    async fn after_refusal(
        &mut self,
        attempt: Attempt,
        classified: Classification,
    ) -> Result<Step, VaultError> {
        let code = classified.verdict.verdict_code();
        if code.benches_key() {
            // Invalid or out of credits: never retried on this key. Bench it, give the hold back.
            self.vault
                .record_outcome(
                    &attempt.lease,
                    CallOutcome::Verdict(classified.verdict.clone()),
                )
                .await?;
            self.release(&attempt).await?;
            let fell = FellBack {
                key: attempt.key(),
                verdict: code,
                status: classified.status,
                provider_code: classified.provider_code.clone(),
            };
            self.fallbacks.push(fell.clone());
            if self.call.fallback == FallbackPolicy::Never {
                return Err(refused(self.provider(), &classified, &self.fallbacks));
            }
            return Ok(Step::FallBack(fell));
        }
        let config = self.vault.verifier_config();
        let elapsed = self.started.elapsed();
        let left = config.deadline_limit().saturating_sub(elapsed);
        let r =
            f64::from(jiff::Timestamp::now().subsec_nanosecond().unsigned_abs() % 1000) / 1000.0;
        if let Some(wait) = config.retry_policy().next_wait(
            self.key_attempts,
            classified.retryable,
            classified.retry_after,
            left,
            r,
        ) {
            return Ok(Step::Retry { attempt, wait });
        }
        self.release(&attempt).await?;
        Err(refused(self.provider(), &classified, &self.fallbacks))
    }

    /// A network failure of `attempt` (no answer): the hold released, the
    /// error to return (`network_error`, or the ledger's if releasing failed).
    pub async fn failed(&mut self, attempt: Attempt, reason: String) -> VaultError {
        self.attempts += 1;
        match self.release(&attempt).await {
            Ok(()) => VaultError::CallFailed { reason },
            Err(e) => e,
        }
    }

    /// `attempt` was sent but its answer did not come (a timeout, or the
    /// connection lost after the request went out): the provider may have
    /// billed it, so the hold is settled — exactly once — with the input
    /// counted from the request, labelled `estimated` (never released as if
    /// nothing happened). Returns `error` (or the ledger's, if settling failed).
    pub async fn unanswered(&mut self, attempt: Attempt, error: VaultError) -> VaultError {
        self.attempts += 1;
        let usage = Usage {
            input_tokens: self.input_estimate(),
            ..Usage::default()
        };
        match self.settle(&attempt, Some(usage), None, true).await {
            Ok(_) => error,
            Err(e) => e,
        }
    }

    /// Settle `attempt`'s hold with `usage` (the provider's, or an estimate):
    /// exactly once; with no usage at all the held worst case is recorded
    /// `unavailable` (the call happened: never $0).
    /// `reported`: the exact cost the provider put in its answer
    /// (`verified_by_provider`), settled instead of a price-table figure.
    /// `estimated`: the usage is byok's estimate (a broken stream), so the
    /// cost is labelled `estimated` whatever a provider sync would say.
    pub(crate) async fn settle(
        &self,
        attempt: &Attempt,
        usage: Option<Usage>,
        reported: Option<Cost>,
        estimated: bool,
    ) -> Result<Option<Cost>, VaultError> {
        let provider = self.provider();
        let mut cost = match (self.vault.guard(), usage, reported) {
            (_, _, Some(exact)) if !estimated => Some(exact),
            (Some(guard), Some(u), _) => Some(
                guard
                    .cost_of_for(provider, &self.model, &u)
                    .map_err(VaultError::Guard)?,
            ),
            (None, Some(u), _) => byok_guard::PriceBook::embedded()
                .cost_for(provider, &self.model, &u)
                .ok(),
            (_, None, _) => None,
        };
        if estimated
            && let Some(c) = cost.as_mut()
            && c.usd.is_some()
        {
            c.label = byok_guard::Label::Estimated;
        }
        if let (Some(guard), Some(r)) = (self.vault.guard(), &attempt.reservation) {
            let (amount, label) = match cost.and_then(|c| c.usd.map(|usd| (usd, c.label))) {
                Some(found) => found,
                None => (r.amount, byok_guard::Label::Unavailable),
            };
            guard
                .settle_amount(r.id, amount, label)
                .await
                .map_err(VaultError::Guard)?;
        }
        Ok(cost)
    }

    /// Give `attempt`'s hold back (nothing was billed).
    pub(crate) async fn release(&self, attempt: &Attempt) -> Result<(), VaultError> {
        if let (Some(guard), Some(r)) = (self.vault.guard(), &attempt.reservation) {
            guard.release(r.id).await.map_err(VaultError::Guard)?;
        }
        Ok(())
    }

    /// How many requests were sent so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    pub(crate) fn count_attempt(&mut self) {
        self.attempts += 1;
    }

    pub(crate) fn called(
        &self,
        attempt: &Attempt,
        status: u16,
        headers: HeaderMap,
        usage: Option<Usage>,
        cost: Option<Cost>,
    ) -> Called {
        Called {
            status,
            headers,
            body: Vec::new(),
            key: attempt.key(),
            fallbacks: self.fallbacks.clone(),
            skipped: attempt.lease.skipped().to_vec(),
            usage,
            cost,
            attempts: self.attempts,
            model: self.model.clone(),
            stream: None,
        }
    }

    /// The vault the call uses.
    pub(crate) fn vault(&self) -> &Vault {
        &self.vault
    }
}

/// The usage object of an answer's body (`usage`, Gemini's `usageMetadata`, or
/// `response.usage`), read without building the rest of the body: an answer's
/// choices and text are skipped, not parsed into a tree.
fn usage_of(body: &[u8]) -> Option<Value> {
    #[derive(serde::Deserialize)]
    struct Part {
        #[serde(rename = "usageMetadata")]
        usage_metadata: Option<Value>,
        usage: Option<Value>,
        response: Option<Nested>,
    }
    #[derive(serde::Deserialize)]
    struct Nested {
        usage: Option<Value>,
    }
    match serde_json::from_slice::<Part>(body) {
        Ok(p) => p
            .usage_metadata
            .or(p.usage)
            .or_else(|| p.response.and_then(|r| r.usage)),
        // An unusual body (`response` that is not an object, ...): read it whole.
        Err(_) => serde_json::from_slice::<Value>(body).ok(),
    }
}

/// Whether `provider`'s chat route names a deployment (Azure OpenAI), which a
/// key's `deployment` parameter can give.
fn names_deployment(provider: Provider) -> bool {
    provider
        .spec()
        .params
        .iter()
        .any(|p| p.name == "deployment")
}

/// The URL of one attempt: `base` (the verifier's base URL for `provider`:
/// configured, or the provider's origin, which may be a template such as
/// `https://{resource}.openai.azure.com`) and the API's path for `model`.
/// A template is filled from the key's `params`; a configured base URL (a test
/// server, a gateway) is used as it is. The path's own template values (Azure's
/// `api_version`) come from `params`, or their defaults.
///
/// # Errors
/// `invalid_request` when the base is a template and the key has no parameters
/// (or the model cannot go in the path); the parameter's error when a template
/// names one the key lacks.
pub(crate) fn attempt_url(
    api: Api,
    provider: Provider,
    base: &str,
    model: &str,
    stream: bool,
    params: Option<&Params>,
) -> Result<String, VaultError> {
    let base = base.trim_end_matches('/');
    let base = if base.contains('{') {
        match params {
            Some(p) => p.fill(base)?,
            None => {
                return Err(VaultError::InvalidRequest {
                    reason: "this provider's endpoint depends on the key's resource or region, and the key has none: store them with the key (NewKey::params, byok vault edit --param) or configure its base URL (VerifierConfig::base_url, byok call --base-url)",
                });
            }
        }
    } else {
        base.to_owned()
    };
    let path = api.path(provider, model, stream, params)?;
    Ok(format!("{base}{path}"))
}

/// The error for an answer nothing can help.
fn refused(provider: Provider, c: &Classification, fallbacks: &[FellBack]) -> VaultError {
    VaultError::ProviderRefused {
        provider,
        verdict: c.verdict.verdict_code(),
        status: c.status,
        provider_code: c.provider_code.clone(),
        request_id: c.request_id.clone(),
        message: c.provider_message.clone(),
        fallbacks: fallbacks.to_vec(),
    }
}

impl Api {
    /// The guard's name for this API's request bodies.
    pub(crate) fn format(self) -> ApiFormat {
        match self {
            Api::OpenAiChat => ApiFormat::OpenAiChat,
            Api::OpenAiResponses => ApiFormat::OpenAiResponses,
            Api::AnthropicMessages => ApiFormat::AnthropicMessages,
            Api::GeminiGenerate => ApiFormat::GeminiGenerate,
            Api::BedrockConverse => ApiFormat::BedrockConverse,
            // Cohere v2 chat bodies read as OpenAI chat (`messages`, `max_tokens`).
            Api::CohereChat => ApiFormat::OpenAiChat,
        }
    }

    /// The public path of a request for `model` at `provider` (which serves
    /// this API: checked by [`Vault::plan`]).
    ///
    /// # Errors
    /// `invalid_request` when `model` cannot go in the path.
    fn path(
        self,
        provider: Provider,
        model: &str,
        stream: bool,
        params: Option<&Params>,
    ) -> Result<String, VaultError> {
        let in_path = |ok: fn(&str) -> bool| -> Result<&str, VaultError> {
            if ok(model) {
                Ok(model)
            } else {
                Err(VaultError::InvalidRequest {
                    reason: "the model cannot go in the request path (letters, digits, '-', '_', '.', ':' only)",
                })
            }
        };
        Ok(match self {
            Api::OpenAiChat => {
                let spec = provider.spec();
                let chat = spec.chat_path.unwrap_or("/v1/chat/completions");
                if chat.contains('{') {
                    // Azure: the deployment is the model; the API version the
                    // key's, else its default.
                    let version = params
                        .and_then(|p| p.get("api_version"))
                        .or_else(|| {
                            spec.params
                                .iter()
                                .find(|p| p.name == "api_version")
                                .and_then(|p| p.default)
                        })
                        .unwrap_or("2024-10-21");
                    chat.replace(
                        "{deployment}",
                        in_path(|m| ParamCheck::DeploymentName.accepts(m))?,
                    )
                    .replace("{api_version}", version)
                } else {
                    chat.to_owned()
                }
            }
            Api::OpenAiResponses => "/v1/responses".into(),
            Api::AnthropicMessages => "/v1/messages".into(),
            Api::GeminiGenerate if stream => {
                format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
            }
            Api::GeminiGenerate => format!("/v1beta/models/{model}:generateContent"),
            Api::BedrockConverse => {
                // A model or inference-profile id (`amazon.nova-micro-v1:0`,
                // `us.anthropic.claude-3-5-haiku-20241022-v1:0`).
                let id = in_path(|m| {
                    (1..=256).contains(&m.len())
                        && m.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b))
                })?
                .replace(':', "%3A");
                let verb = if stream {
                    "converse-stream"
                } else {
                    "converse"
                };
                format!("/model/{id}/{verb}")
            }
            Api::CohereChat => "/v2/chat".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Api, attempt_url, usage_of};
    use crate::keys::Provider;
    use crate::keys::params::Params;
    use serde_json::json;

    #[test]
    fn templated_origins_are_filled_from_the_keys_params() {
        let azure = Params::new(
            Provider::AzureOpenAi,
            [("resource", "contoso"), ("deployment", "gpt-4o")],
        )
        .unwrap();
        let origin = Provider::AzureOpenAi.spec().origin;
        let url = |base: &str, params: Option<&Params>| {
            attempt_url(
                Api::OpenAiChat,
                Provider::AzureOpenAi,
                base,
                "gpt-4o",
                false,
                params,
            )
        };
        assert_eq!(
            url(origin, Some(&azure)).unwrap(),
            "https://contoso.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
        );
        let versioned = Params::new(
            Provider::AzureOpenAi,
            [
                ("resource", "fabrikam"),
                ("deployment", "d"),
                ("api_version", "2025-04-01-preview"),
            ],
        )
        .unwrap();
        assert_eq!(
            url(origin, Some(&versioned)).unwrap(),
            "https://fabrikam.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2025-04-01-preview"
        );
        // A configured base URL (a test server, a gateway) wins; the path still
        // takes the key's API version.
        assert_eq!(
            url("http://127.0.0.1:9/gw/", Some(&versioned)).unwrap(),
            "http://127.0.0.1:9/gw/openai/deployments/gpt-4o/chat/completions?api-version=2025-04-01-preview"
        );
        // A template and no params: refused, nothing sent.
        assert_eq!(url(origin, None).unwrap_err().code(), "invalid_request");
        assert_eq!(
            url("http://127.0.0.1:9", None).unwrap(),
            "http://127.0.0.1:9/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
        );

        let region = Params::new(Provider::Bedrock, [("region", "eu-west-3")]).unwrap();
        assert_eq!(
            attempt_url(
                Api::BedrockConverse,
                Provider::Bedrock,
                Provider::Bedrock.spec().origin,
                "amazon.nova-micro-v1:0",
                true,
                Some(&region),
            )
            .unwrap(),
            "https://bedrock-runtime.eu-west-3.amazonaws.com/model/amazon.nova-micro-v1%3A0/converse-stream"
        );
        // An origin that is no template is used as it is.
        assert_eq!(
            attempt_url(
                Api::OpenAiChat,
                Provider::OpenAi,
                "https://api.openai.com",
                "gpt-4o",
                false,
                None
            )
            .unwrap(),
            "https://api.openai.com/v1/chat/completions"
        );
    }

    #[test]
    fn usage_is_read_from_every_place_an_answer_keeps_it() {
        let u = json!({"prompt_tokens": 3});
        for body in [
            json!({"id": "x", "choices": [{"message": {"content": "hi"}}], "usage": u}),
            json!({"candidates": [], "usageMetadata": u}),
            json!({"type": "response.completed", "response": {"usage": u}}),
        ] {
            assert_eq!(
                usage_of(body.to_string().as_bytes()),
                Some(u.clone()),
                "{body}"
            );
        }
        // A `response` that is not an object does not lose the usage beside it.
        let odd = json!({"response": "text", "usage": u});
        let whole = usage_of(odd.to_string().as_bytes()).unwrap();
        assert_eq!(whole["usage"], u);
        assert_eq!(usage_of(b"not json"), None);
        assert_eq!(usage_of(br#"{"choices": []}"#), None);
    }
}
