//! Streams, metered while they pass: [`Metering`] (any HTTP client feeds it the
//! provider's bytes) and [`CallStream`] (the built-in sender on top of it).
//!
//! Every byte goes to the caller as it arrives; usage is read from the stream
//! as it passes (`byok_guard::meter`). The call settles exactly once: on the
//! end of the stream with the provider's usage, or — after a mid-stream error,
//! a cut connection, or the caller dropping the stream — with what was seen
//! (input from the request or the stream's first event, output counted from
//! the text received), labelled `estimated`, never $0.

use byok_guard::Usage;
use byok_guard::meter::{Metered, StreamFormat, StreamMeter};
use reqwest::header::HeaderMap;
use serde::Serialize;

use super::plan::{Attempt, CallPlan, Step};
use super::{Api, Call, Called, FellBack, KeyUsed, Timeout, lost, network_reason};
use crate::Vault;
use crate::select::CallOutcome;
use crate::store::WorkspaceId;
use crate::vault::VaultError;

/// How a metered stream ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StreamEnd {
    /// The provider's terminal event arrived.
    pub complete: bool,
    /// The usage is the provider's (else estimated from what was seen).
    pub reported: bool,
    /// The provider's mid-stream error type or code, if it sent one.
    pub error: Option<String>,
    /// Bytes of visible output text received.
    pub output_text_bytes: u64,
    /// Why the stream was stopped before it ended by itself: `stream_stalled`
    /// (silent past the idle timeout), `network_error` (the connection broke),
    /// `abandoned` (the caller finished or dropped it before the end); `None`
    /// when the body ended on its own.
    pub stopped: Option<&'static str>,
}

/// The meter of one streamed answer, for any HTTP client: feed it the body's
/// bytes as they arrive, pass on what it gives back, and [`finish`](Metering::finish)
/// when the body ends, breaks or is abandoned.
#[derive(Debug)]
pub struct Metering {
    plan: CallPlan,
    attempt: Attempt,
    status: u16,
    headers: HeaderMap,
    meter: StreamMeter,
    stopped: Option<&'static str>,
}

impl Metering {
    /// Feed the next bytes; appends to `out` the bytes for the caller (the
    /// same bytes, except what byok added to the request is hidden).
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        self.meter.feed(chunk, out);
    }

    /// Record why the stream is being stopped before its end (a stable code,
    /// e.g. `stream_stalled`, `abandoned`), for [`StreamEnd::stopped`].
    pub fn stopped(&mut self, code: &'static str) {
        self.stopped.get_or_insert(code);
    }

    /// Settle (exactly once) with the provider's usage, or the estimate of what
    /// was seen; appends to `out` any bytes still held back.
    ///
    /// # Errors
    /// Ledger and store errors.
    pub async fn finish(self, out: &mut Vec<u8>) -> Result<Called, VaultError> {
        let Metering {
            plan,
            attempt,
            status,
            headers,
            meter,
            stopped,
        } = self;
        let metered: Metered = meter.finish(out);
        plan.vault()
            .record_outcome(attempt.lease(), CallOutcome::Success)
            .await?;
        let usage: Usage = metered.usage;
        // A stream that ended with the provider's exact cost settles with it.
        let reported = metered.reported_cost.filter(|_| metered.reported);
        let cost = plan
            .settle(&attempt, Some(usage), reported, !metered.reported)
            .await?;
        let mut called = plan.called(&attempt, status, headers, Some(usage), cost);
        called.stream = Some(StreamEnd {
            complete: metered.complete,
            reported: metered.reported,
            error: metered
                .error
                .and_then(|code| clean_code(&code, attempt.lease().key())),
            output_text_bytes: metered.output_text_bytes,
            stopped,
        });
        Ok(called)
    }
}

/// A provider's error code as byok shows it: at most 64 characters of
/// `A-Z a-z 0-9 _ . : -` and nothing of a key (a hostile provider may put the
/// key it was sent, or any key, in the field), else `None`.
fn clean_code(code: &str, key: &crate::keys::ApiKey) -> Option<String> {
    let shaped = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    let untouched = crate::keys::scrub(code, Some(key.expose_secret()), usize::MAX) == code;
    (shaped && untouched).then(|| code.to_owned())
}

impl CallPlan {
    /// Meter the streamed answer to `attempt` whose status is a success
    /// (a refusal is read whole with [`CallPlan::complete`]).
    pub fn meter(mut self, attempt: Attempt, status: u16, headers: HeaderMap) -> Metering {
        self.count_attempt();
        let format = match self.api() {
            Api::OpenAiChat => StreamFormat::OpenAiChat,
            Api::OpenAiResponses => StreamFormat::OpenAiResponses,
            Api::AnthropicMessages => StreamFormat::Anthropic,
            Api::GeminiGenerate => StreamFormat::GeminiSse,
            Api::BedrockConverse => StreamFormat::BedrockEventStream,
            Api::CohereChat => StreamFormat::CohereV2,
        };
        let input = self.input_estimate();
        let meter = StreamMeter::for_provider(self.provider(), format, self.model(), input)
            .hide_injected_usage(self.injected_usage);
        Metering {
            plan: self,
            attempt,
            status,
            headers,
            meter,
            stopped: None,
        }
    }
}

/// A streamed call in progress: read it with [`next_chunk`](CallStream::next_chunk),
/// end it with [`finish`](CallStream::finish). Dropped unfinished, it settles
/// in the background with what was seen.
#[derive(Debug)]
pub struct CallStream {
    metering: Option<Metering>,
    response: Option<reqwest::Response>,
    status: u16,
    headers: HeaderMap,
    key: KeyUsed,
    fallbacks: Vec<FellBack>,
    done: Option<Result<Called, VaultError>>,
    runtime: Option<tokio::runtime::Handle>,
    /// The longest silence between two reads.
    idle: std::time::Duration,
}

impl CallStream {
    /// The provider's status (a success: refusals are errors of
    /// [`Vault::call_stream`], with fallbacks taken first).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The provider's response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The key that is answering (known before the first byte, unlike the
    /// summary of [`finish`](CallStream::finish)).
    pub fn key(&self) -> &KeyUsed {
        &self.key
    }

    /// The keys refused before this one answered, in order.
    pub fn fallbacks(&self) -> &[FellBack] {
        &self.fallbacks
    }

    /// The next bytes of the stream as they arrive; `None` at the end (the
    /// call is then settled: [`finish`](CallStream::finish) returns the summary).
    pub async fn next_chunk(&mut self) -> Option<Result<Vec<u8>, VaultError>> {
        loop {
            let response = self.response.as_mut()?;
            let metering = self.metering.as_mut()?;
            let mut out = Vec::new();
            let Ok(read) = tokio::time::timeout(self.idle, response.chunk()).await else {
                // Not a byte for `idle`: stop reading, settle with what was seen.
                self.response = None;
                metering.stopped(Timeout::Stalled.code());
                let result = self.settle(&mut out).await;
                let failed = result.as_ref().err().cloned();
                self.done = Some(result);
                return Some(Err(failed.unwrap_or(Timeout::Stalled.error(self.idle))));
            };
            match read {
                Ok(Some(bytes)) => {
                    metering.feed(&bytes, &mut out);
                    if out.is_empty() {
                        continue;
                    }
                    return Some(Ok(out));
                }
                Ok(None) => {
                    self.response = None;
                    let result = self.settle(&mut out).await;
                    let failed = result.as_ref().err().cloned();
                    self.done = Some(result);
                    if let Some(e) = failed {
                        return Some(Err(e));
                    }
                    return (!out.is_empty()).then_some(Ok(out));
                }
                Err(e) => {
                    // The connection broke mid-stream: settle with what was seen.
                    self.response = None;
                    metering.stopped("network_error");
                    let result = self.settle(&mut out).await;
                    self.done = Some(result);
                    return Some(Err(VaultError::CallFailed {
                        reason: format!("{} mid-stream", network_reason(&e)),
                    }));
                }
            }
        }
    }

    async fn settle(&mut self, out: &mut Vec<u8>) -> Result<Called, VaultError> {
        match self.metering.take() {
            Some(m) => m.finish(out).await,
            None => Err(VaultError::InvalidRequest {
                reason: "the stream was already settled",
            }),
        }
    }

    /// End the call: settles with what was seen if the stream did not end by
    /// itself (the caller stopped reading), and returns the summary: key,
    /// fallbacks, usage, labelled cost.
    ///
    /// # Errors
    /// Ledger and store errors.
    pub async fn finish(mut self) -> Result<Called, VaultError> {
        if let Some(done) = self.done.take() {
            return done;
        }
        self.response = None;
        if let Some(m) = self.metering.as_mut() {
            m.stopped("abandoned");
        }
        let mut out = Vec::new();
        self.settle(&mut out).await
    }
}

impl Drop for CallStream {
    fn drop(&mut self) {
        if let (Some(mut metering), Some(runtime)) = (self.metering.take(), self.runtime.take()) {
            // Dropped mid-stream: settle in the background, exactly once.
            metering.stopped("abandoned");
            runtime.spawn(async move {
                let mut out = Vec::new();
                if let Err(e) = metering.finish(&mut out).await {
                    tracing::warn!(code = e.code(), "a dropped stream could not be settled");
                }
            });
        }
    }
}

impl Vault {
    /// Make `call` as a stream: the same key choice, reservation, retries and
    /// fallbacks as [`Vault::call`] (all before the first byte reaches the
    /// caller), then the provider's bytes as they arrive, metered.
    ///
    /// # Errors
    /// As [`Vault::call`], for everything before the stream starts.
    pub async fn call_stream(
        &self,
        workspace: &WorkspaceId,
        call: Call,
    ) -> Result<CallStream, VaultError> {
        let mut plan = self.plan(workspace, call.stream(true))?;
        let client = self.http_client()?;
        let timeouts = self.call_timeouts()?;
        let mut attempt = plan.next_attempt_to_send().await?;
        loop {
            // The status and headers, while the key's use is committed.
            let request = attempt.to_reqwest(&client);
            let (sent, used) = tokio::join!(
                tokio::time::timeout(timeouts.headers, request.send()),
                super::plan::committed(attempt.take_pending_use()),
            );
            if let Err(e) = used {
                // An unrecorded use withholds the stream; what was sent is settled.
                return Err(plan.unanswered(attempt, e).await);
            }
            let response = match sent {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => return Err(lost(&mut plan, attempt, &e).await),
                Err(_) => {
                    let error = Timeout::Headers.error(timeouts.headers);
                    return Err(plan.unanswered(attempt, error).await);
                }
            };
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            if (200..300).contains(&status) {
                let key = attempt.key();
                let fallbacks = plan.fallbacks().to_vec();
                let metering = plan.meter(attempt, status, headers.clone());
                return Ok(CallStream {
                    metering: Some(metering),
                    response: Some(response),
                    status,
                    headers,
                    key,
                    fallbacks,
                    done: None,
                    runtime: tokio::runtime::Handle::try_current().ok(),
                    idle: timeouts.idle,
                });
            }
            // A refusal before the first byte: read whole, as a call's answer.
            let body = match tokio::time::timeout(timeouts.answer, response.bytes()).await {
                Ok(Ok(b)) => b.to_vec(),
                Ok(Err(e)) => return Err(lost(&mut plan, attempt, &e).await),
                Err(_) => {
                    let error = Timeout::Answer.error(timeouts.answer);
                    return Err(plan.unanswered(attempt, error).await);
                }
            };
            attempt = match plan.complete_owned(attempt, status, headers, body).await? {
                Step::Done(_) => {
                    return Err(VaultError::InvalidRequest {
                        reason: "a refusal cannot complete a stream",
                    });
                }
                Step::Retry { attempt, wait } => {
                    tokio::time::sleep(wait).await;
                    attempt
                }
                Step::FallBack(_) => plan.next_attempt_to_send().await?,
            };
        }
    }
}
