//! `meter`: the usage of a streamed call, metered from the provider's bytes as
//! they pass through to the caller.
//!
//! A [`StreamMeter`] reads OpenAI chat (and the OpenAI-compatible providers'),
//! Responses, Anthropic, Gemini and Cohere v2 streams and Bedrock's binary
//! `ConverseStream` incrementally (any split of the bytes), passes them on unchanged
//! (or, for OpenAI chat, without the usage chunk byok asked for on the
//! caller's behalf), and at the end says what to settle: the provider's usage
//! when the stream reported one, else an estimate from what was seen — input
//! from the stream (Anthropic `message_start`, Gemini's running
//! `usageMetadata`) or the request, output counted from the text received.
//!
//! ```
//! use byok_guard::meter::{StreamFormat, StreamMeter};
//! let mut meter = StreamMeter::new(StreamFormat::OpenAiChat, "gpt-4o", 10);
//! let mut out = Vec::new();
//! meter.feed(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}]}\n\n", &mut out);
//! // The connection broke here: no usage, no [DONE].
//! let m = meter.finish(&mut out);
//! assert!(!m.reported && !m.complete);
//! assert_eq!((m.usage.input_tokens, m.usage.output_tokens), (10, 1));
//! ```
//!
//! Pure and synchronous: no I/O, never fails, never panics. Memory is bounded:
//! output text is counted in pieces of [`TEXT_PIECE`] bytes, and an event
//! larger than [`MAX_EVENT`] is skipped rather than buffered.

use byok_keys::Provider;
use byok_keys::spec::Wire;
use serde_json::{Map, Value};

use crate::estimate::{TokenCounting, count_tokens, count_tokens_for};
use crate::usage::{Usage, UsageFormat};
use crate::{Cost, reported_cost, reported_cost_from_json};

mod array;
mod aws;
mod json;
mod sse;
#[cfg(test)]
mod tests;

/// The largest event (SSE event or JSON array element) read; larger ones are skipped.
pub const MAX_EVENT: usize = 16 << 20;

/// Output text is counted once this many bytes of it have accumulated (and the rest
/// at the end, only when the provider reported no usage).
///
/// Counting (`bpe-openai`, tens of MiB/s) is the costliest part of metering, and only
/// an unreported stream needs it: 1 MiB is about 250k tokens, more than any model's
/// output cap, so a stream that ends with the provider's usage is never counted, and
/// a stream's text never holds more than this (plus one event's) in memory.
pub const TEXT_PIECE: usize = 1 << 20;

/// Which stream the bytes are.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamFormat {
    /// OpenAI Chat Completions (and OpenAI-compatible providers): `data:` chunks, `[DONE]`.
    OpenAiChat,
    /// OpenAI Responses API: named events ending in `response.completed` / `.incomplete` / `.failed`.
    OpenAiResponses,
    /// Anthropic Messages: `message_start` … `message_stop`.
    Anthropic,
    /// Gemini `streamGenerateContent?alt=sse`: `data:` chunks.
    GeminiSse,
    /// Gemini `streamGenerateContent` without `alt=sse`: one JSON array, streamed.
    GeminiJsonArray,
    /// Cohere v2 chat (`POST /v2/chat`, `"stream": true`): SSE events `message-start`,
    /// `content-delta`, `tool-call-delta`, …, and `message-end`, whose
    /// `delta.usage.billed_units` is the usage billed.
    CohereV2,
    /// Bedrock `ConverseStream`: the binary AWS event stream
    /// (`application/vnd.amazon.eventstream`) of `messageStart`,
    /// `contentBlockDelta`, …, `messageStop`, then `metadata` with the usage
    /// (`inputTokens` excludes the cache); exceptions as `:message-type: exception`
    /// frames (their `:exception-type` is [`Metered::error`]).
    BedrockEventStream,
}

impl StreamFormat {
    /// The stream a provider's native dialect answers with (`spec().wire`):
    /// OpenAI chat for the OpenAI-compatible providers, Responses for
    /// Perplexity, Cohere v2's events, Bedrock's event stream, Gemini's SSE (byok
    /// asks `alt=sse`). `None` for a dialect this meter does not read yet.
    ///
    /// ```
    /// use byok_guard::meter::StreamFormat;
    /// use byok_keys::Provider;
    /// assert_eq!(StreamFormat::for_wire(Provider::Groq.spec().wire), Some(StreamFormat::OpenAiChat));
    /// assert_eq!(StreamFormat::for_wire(Provider::Cohere.spec().wire), Some(StreamFormat::CohereV2));
    /// assert_eq!(StreamFormat::for_wire(Provider::Bedrock.spec().wire), Some(StreamFormat::BedrockEventStream));
    /// ```
    pub fn for_wire(wire: Wire) -> Option<StreamFormat> {
        Some(match wire {
            Wire::OpenAiChat => StreamFormat::OpenAiChat,
            Wire::OpenAiResponses => StreamFormat::OpenAiResponses,
            Wire::AnthropicMessages => StreamFormat::Anthropic,
            Wire::GeminiGenerate => StreamFormat::GeminiSse,
            Wire::CohereChat => StreamFormat::CohereV2,
            Wire::BedrockConverse => StreamFormat::BedrockEventStream,
            _ => return None,
        })
    }
}

/// One AWS event-stream frame with string headers and `payload`, as Bedrock's
/// `ConverseStream` sends them (for tests and mocks); the payload must be under 4 GiB.
///
/// ```
/// use byok_guard::meter::{event_stream_frame, StreamFormat, StreamMeter};
/// let mut bytes = event_stream_frame(
///     &[(":message-type", "event"), (":event-type", "contentBlockDelta")],
///     br#"{"contentBlockIndex":0,"delta":{"text":"Hello"}}"#,
/// );
/// bytes.extend(event_stream_frame(
///     &[(":message-type", "event"), (":event-type", "metadata")],
///     br#"{"usage":{"inputTokens":7,"outputTokens":1,"totalTokens":8},"metrics":{"latencyMs":90}}"#,
/// ));
/// let mut meter = StreamMeter::new(StreamFormat::BedrockEventStream, "amazon.nova-micro-v1:0", 5);
/// let mut out = Vec::new();
/// meter.feed(&bytes, &mut out);
/// let m = meter.finish(&mut out);
/// assert!(m.reported && out == bytes);
/// assert_eq!((m.usage.input_tokens, m.usage.output_tokens), (7, 1));
/// ```
pub fn event_stream_frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    aws::frame(headers, payload)
}

/// What a metered stream comes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metered {
    /// The usage to settle: the provider's when it reported one (`reported`), else an estimate:
    /// input from what the stream said (Anthropic `message_start`, Gemini running `usageMetadata`,
    /// any partial usage seen) or else `input_estimate`; output = tokens counted from the text
    /// received (`count_tokens(model, text)`, in pieces), never below a partial usage's output,
    /// never 0 when any text arrived.
    pub usage: Usage,
    /// The provider reported final usage (terminal event / OpenAI usage chunk / Gemini last
    /// chunk with `finishReason`).
    pub reported: bool,
    /// The terminal event arrived (OpenAI `[DONE]` or usage chunk; Responses
    /// `response.completed`/`.incomplete`/`.failed`; Anthropic `message_stop`; Gemini a chunk
    /// with `finishReason`, or the JSON array's `]`).
    pub complete: bool,
    /// A mid-stream error the provider sent (OpenAI chat `{"error":{..}}` data; Responses
    /// `error` event or `response.failed`; Anthropic `event: error`; Gemini `{"error":{..}}`
    /// chunk; a chat chunk with `finish_reason: "error"` (OpenRouter)): its type/code as the
    /// provider wrote it (e.g. `"overloaded_error"`, `"server_error"`, `"UNAVAILABLE"`), never
    /// its message text.
    pub error: Option<String>,
    /// The model the stream says answered, if it says (the first it names).
    pub model: Option<String>,
    /// Bytes of output text received (UTF-8 of the deltas: text, refusals, tool-call
    /// arguments and reasoning text — what the output estimate counts).
    pub output_text_bytes: u64,
    /// Events that could not be read (bad JSON, unknown shape, too large).
    pub skipped_events: u64,
    /// The exact cost the provider reported with its final usage (xAI
    /// `cost_in_usd_ticks`, OpenRouter `usage.cost`, Perplexity
    /// `usage.cost.total_cost`: [`reported_cost`]), labelled
    /// `verified_by_provider`; only for a meter told its provider
    /// ([`StreamMeter::for_provider`]) and a stream that `reported`.
    pub reported_cost: Option<Cost>,
}

/// What happens to an event's bytes when the injected usage is hidden.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    /// Passed on as they came.
    Pass,
    /// Passed on without the `"usage":null` member.
    StripUsageNull,
    /// Not passed on (the injected usage chunk).
    Drop,
}

/// Meters one provider stream as it passes through.
///
/// Feed it the body's bytes as they arrive ([`feed`](StreamMeter::feed)), hand the
/// caller what it appends, and call [`finish`](StreamMeter::finish) once at the end,
/// whether the stream completed, broke or was dropped.
#[derive(Debug)]
pub struct StreamMeter {
    format: StreamFormat,
    /// The provider, when told: its token counting and reported cost.
    provider: Option<Provider>,
    /// The cost reported with the latest usage.
    cost: Option<Cost>,
    /// The request's model, for counting output text.
    model: String,
    input_estimate: u64,
    hide: bool,
    sse: sse::SseState,
    array: array::ArrayState,
    aws: aws::AwsState,
    /// Output text not yet counted (< TEXT_PIECE, plus at most one event's text).
    text: String,
    /// Tokens of the text already counted.
    counted: u64,
    text_bytes: u64,
    /// The latest usage the stream gave (final once `reported`).
    latest: Option<Usage>,
    /// Anthropic's usage members so far: `message_start`'s, overlaid by each `message_delta`'s.
    anthropic: Option<Map<String, Value>>,
    /// A `message_delta` usage has come.
    anthropic_final: bool,
    complete: bool,
    reported: bool,
    error: Option<String>,
    answered: Option<String>,
    skipped: u64,
}

impl StreamMeter {
    /// `model`: the request's model (for counting output text); `input_estimate`: the
    /// prompt tokens counted from the request (used only when the stream never reports input).
    pub fn new(format: StreamFormat, model: &str, input_estimate: u64) -> StreamMeter {
        StreamMeter {
            format,
            provider: None,
            cost: None,
            model: model.to_owned(),
            input_estimate,
            hide: false,
            sse: sse::SseState::default(),
            array: array::ArrayState::default(),
            aws: aws::AwsState::default(),
            text: String::new(),
            counted: 0,
            text_bytes: 0,
            latest: None,
            anthropic: None,
            anthropic_final: false,
            complete: false,
            reported: false,
            error: None,
            answered: None,
            skipped: 0,
        }
    }

    /// As [`new`](StreamMeter::new), for a stream from `provider`: output text is
    /// counted as that provider's tokens ([`count_tokens_for`]), and the cost the
    /// provider reports with its final usage is kept ([`Metered::reported_cost`]).
    ///
    /// ```
    /// use byok_guard::meter::{StreamFormat, StreamMeter};
    /// use byok_keys::Provider;
    /// let mut meter = StreamMeter::for_provider(Provider::XAi, StreamFormat::OpenAiChat, "grok-3-mini", 10);
    /// let mut out = Vec::new();
    /// meter.feed(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n", &mut out);
    /// meter.feed(b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":1,\"cost_in_usd_ticks\":35000}}\n\n", &mut out);
    /// meter.feed(b"data: [DONE]\n\n", &mut out);
    /// let m = meter.finish(&mut out);
    /// assert!(m.reported);
    /// assert_eq!(m.reported_cost.unwrap().usd.unwrap().to_string(), "0.0000035");
    /// ```
    pub fn for_provider(
        provider: Provider,
        format: StreamFormat,
        model: &str,
        input_estimate: u64,
    ) -> StreamMeter {
        let mut meter = StreamMeter::new(format, model, input_estimate);
        meter.provider = Some(provider);
        meter
    }

    /// Hide what byok added to the request: OpenAI chat `stream_options.include_usage` when
    /// the caller did not ask for it. Then [`feed`](StreamMeter::feed) passes on the stream
    /// exactly as the provider would have sent it without the option: the final usage chunk
    /// (`"choices":[]` with usage) is dropped and the `"usage":null` member of every other
    /// chunk removed (textually: `,"usage":null` / `"usage":null,`), the rest byte-for-byte.
    /// Other formats have nothing injected: `hide` is ignored for them.
    pub fn hide_injected_usage(mut self, hide: bool) -> StreamMeter {
        self.hide = hide && self.format == StreamFormat::OpenAiChat;
        self
    }

    /// Feed the next bytes (any split: inside a UTF-8 character, inside `\r\n`, mid-event);
    /// append to `out` the bytes to hand the caller (the same bytes unless hiding; when hiding,
    /// complete events are emitted, a partial one is held until complete). Never fails, never
    /// panics; malformed events are skipped (counted in [`Metered::skipped_events`]).
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if !self.hide {
            out.extend_from_slice(chunk);
        }
        match self.format {
            StreamFormat::GeminiJsonArray => self.feed_array(chunk),
            StreamFormat::BedrockEventStream => self.feed_aws(chunk),
            _ => self.feed_sse(chunk, out),
        }
    }

    /// Whether the provider's terminal event arrived (usage is final).
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The end: the stream ended (cleanly or not), or the caller dropped it. Flushes held
    /// bytes into `out`. An event not yet closed by its blank line is read as if it were.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Metered {
        match self.format {
            StreamFormat::GeminiJsonArray => self.finish_array(),
            StreamFormat::BedrockEventStream => self.finish_aws(),
            _ => self.finish_sse(out),
        }
        let usage = match self.latest {
            Some(u) if self.reported => u,
            partial => {
                let mut counted = self.counted;
                if !self.text.is_empty() {
                    counted = counted.saturating_add(self.count(&self.text).0.max(1));
                }
                let mut u = partial.unwrap_or(Usage {
                    input_tokens: self.input_estimate,
                    ..Usage::default()
                });
                u.output_tokens = u.output_tokens.max(counted);
                u
            }
        };
        Metered {
            usage,
            reported: self.reported,
            complete: self.complete,
            error: self.error,
            model: self.answered,
            output_text_bytes: self.text_bytes,
            skipped_events: self.skipped,
            reported_cost: self.cost.filter(|_| self.reported),
        }
    }

    /// Tokens of output text, as the provider (when told) or the model counts them.
    fn count(&self, text: &str) -> (u64, TokenCounting) {
        match self.provider {
            Some(p) => count_tokens_for(p, &self.model, text),
            None => count_tokens(&self.model, text),
        }
    }

    // ---- what the events say ----

    /// One SSE event's data (`name`: its `event:` field, empty when none).
    fn on_event(&mut self, name: &[u8], data: &[u8]) -> Fate {
        match self.format {
            StreamFormat::OpenAiChat => self.on_chat(data),
            StreamFormat::OpenAiResponses => {
                self.with_json(data, |m, v| m.on_responses(name, v));
                Fate::Pass
            }
            StreamFormat::Anthropic => {
                self.with_json(data, |m, v| m.on_anthropic(name, v));
                Fate::Pass
            }
            StreamFormat::GeminiSse | StreamFormat::GeminiJsonArray => {
                self.with_json(data, |m, v| m.on_gemini(v));
                Fate::Pass
            }
            StreamFormat::CohereV2 => {
                self.with_json(data, |m, v| m.on_cohere(name, v));
                Fate::Pass
            }
            // Binary frames, never SSE events (read in `aws`).
            StreamFormat::BedrockEventStream => Fate::Pass,
        }
    }

    /// Parse `data` as a JSON object and hand it to `f`; anything else is skipped.
    fn with_json(&mut self, data: &[u8], f: impl FnOnce(&mut Self, &Value)) {
        match serde_json::from_slice::<Value>(data) {
            Ok(v) if v.is_object() => {
                f(self, &v);
                self.count_if_full();
            }
            _ => self.skipped += 1,
        }
    }

    fn on_chat(&mut self, data: &[u8]) -> Fate {
        if trim(data) == b"[DONE]" {
            self.complete = true;
            self.reported |= self.latest.is_some();
            return Fate::Pass;
        }
        let mark = self.text.len();
        let Some(chunk) = json::chat_chunk(data, self.answered.is_none(), &mut self.text) else {
            self.text.truncate(mark);
            self.skipped += 1;
            return Fate::Pass;
        };
        self.text_bytes += (self.text.len() - mark) as u64;
        if let Some(m) = chunk.model {
            self.set_model(m);
        }
        if let Some(raw) = chunk.error {
            let code = serde_json::from_slice::<Value>(raw)
                .ok()
                .and_then(|e| error_code(&e));
            self.error = Some(code.unwrap_or_else(|| "error".to_owned()));
        } else if chunk.finish_error && self.error.is_none() {
            self.error = Some("error".to_owned());
        }
        let mut fate = if chunk.usage_null {
            Fate::StripUsageNull
        } else {
            Fate::Pass
        };
        if let Some(raw) = chunk.usage.or(chunk.x_groq_usage) {
            let usage = serde_json::from_slice::<Value>(raw)
                .ok()
                .and_then(|v| Usage::from_format(UsageFormat::OpenAiChat, &v).ok());
            match usage {
                Some(u) => {
                    self.latest = Some(u);
                    // The usage chunk (`"choices": []`), or a last chunk that carries
                    // both (OpenRouter, Mistral): final. Usage on every chunk is a running figure.
                    if chunk.choices == Some(0) || chunk.finished {
                        self.complete = true;
                        self.reported = true;
                        // The usage's own text: every digit of a reported cost counts.
                        self.cost = self
                            .provider
                            .zip(std::str::from_utf8(raw).ok())
                            .and_then(|(p, text)| reported_cost_from_json(p, text));
                    }
                    if chunk.choices == Some(0) {
                        fate = Fate::Drop;
                    }
                }
                None => self.skipped += 1,
            }
        }
        self.count_if_full();
        fate
    }

    fn on_responses(&mut self, name: &[u8], v: &Value) {
        let ty = event_type(name, v);
        match ty {
            "response.output_text.delta"
            | "response.refusal.delta"
            | "response.function_call_arguments.delta"
            | "response.custom_tool_call_input.delta"
            | "response.reasoning_text.delta"
            | "response.reasoning_summary_text.delta" => {
                if let Some(t) = v.get("delta").and_then(Value::as_str) {
                    self.push_text(t);
                }
            }
            "response.created" | "response.in_progress" => self.model_at(v, "/response/model"),
            "response.completed" | "response.incomplete" | "response.failed" => {
                self.model_at(v, "/response/model");
                self.complete = true;
                if let Some(usage) = v.pointer("/response/usage").filter(|u| u.is_object()) {
                    match Usage::from_format(UsageFormat::OpenAiResponses, usage) {
                        Ok(u) => {
                            self.latest = Some(u);
                            self.reported = true;
                            self.cost = self.provider.and_then(|p| reported_cost(p, usage));
                        }
                        Err(_) => self.skipped += 1,
                    }
                }
                if ty == "response.failed" && self.error.is_none() {
                    let code = v.pointer("/response/error").and_then(error_code);
                    self.error = Some(code.unwrap_or_else(|| "failed".to_owned()));
                }
            }
            "error" => self.error = Some(error_code(v).unwrap_or_else(|| "error".to_owned())),
            _ => {}
        }
    }

    fn on_anthropic(&mut self, name: &[u8], v: &Value) {
        match event_type(name, v) {
            "message_start" => {
                self.model_at(v, "/message/model");
                if let Some(u) = v.pointer("/message/usage").and_then(Value::as_object) {
                    self.anthropic = Some(u.clone());
                    self.anthropic_usage();
                }
            }
            "message_delta" => {
                if let Some(u) = v.get("usage").and_then(Value::as_object) {
                    // Cumulative figures: each replaces the one before, never adds to it.
                    let merged = self.anthropic.get_or_insert_with(Map::new);
                    for (k, val) in u {
                        merged.insert(k.clone(), val.clone());
                    }
                    self.anthropic_final = true;
                    self.anthropic_usage();
                }
            }
            "content_block_start" => {
                if let Some(t) = v.pointer("/content_block/text").and_then(Value::as_str) {
                    self.push_text(t);
                }
            }
            "content_block_delta" => {
                if let Some(d) = v.get("delta") {
                    for key in ["text", "partial_json", "thinking"] {
                        if let Some(t) = d.get(key).and_then(Value::as_str) {
                            self.push_text(t);
                        }
                    }
                }
            }
            "message_stop" => {
                self.complete = true;
                // Final once a `message_delta` gave the output (`message_start`'s is a placeholder).
                self.reported = self.latest.is_some() && self.anthropic_final;
            }
            "error" => self.error = Some(error_code(v).unwrap_or_else(|| "error".to_owned())),
            _ => {}
        }
    }

    fn on_cohere(&mut self, name: &[u8], v: &Value) {
        let text_at = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_owned);
        match event_type(name, v) {
            "content-delta" => {
                // Text, or a reasoning model's thinking.
                for p in [
                    "/delta/message/content/text",
                    "/delta/message/content/thinking",
                ] {
                    if let Some(t) = text_at(v, p) {
                        self.push_text(&t);
                    }
                }
            }
            "tool-plan-delta" => {
                if let Some(t) = text_at(v, "/delta/message/tool_plan") {
                    self.push_text(&t);
                }
            }
            "tool-call-start" | "tool-call-delta" => {
                if let Some(t) = text_at(v, "/delta/message/tool_calls/function/arguments") {
                    self.push_text(&t);
                }
            }
            "message-end" => {
                self.complete = true;
                // The reason as written (`ERROR`, `TIMEOUT`); `delta.error` is message
                // text, never kept.
                let reason = v.pointer("/delta/finish_reason").and_then(Value::as_str);
                if let Some(r) = reason.filter(|r| {
                    r.eq_ignore_ascii_case("error") || r.eq_ignore_ascii_case("timeout")
                }) {
                    self.error = Some(r.to_owned());
                } else if v.pointer("/delta/error").is_some_and(|e| !e.is_null()) {
                    self.error = Some("error".to_owned());
                }
                if let Some(u) = v.pointer("/delta/usage").filter(|u| u.is_object()) {
                    match Usage::from_format(UsageFormat::CohereV2, u) {
                        Ok(u) => {
                            self.latest = Some(u);
                            self.reported = true;
                        }
                        Err(_) => self.skipped += 1,
                    }
                }
            }
            _ => {}
        }
    }

    fn anthropic_usage(&mut self) {
        if let Some(m) = &self.anthropic {
            // Read in place: `from_format` takes a `Value`, so wrap the members once.
            let obj = Value::Object(m.clone());
            match Usage::from_format(UsageFormat::Anthropic, &obj) {
                Ok(u) => self.latest = Some(u),
                Err(_) => self.skipped += 1,
            }
        }
    }

    fn on_gemini(&mut self, v: &Value) {
        if let Some(e) = v.get("error").filter(|e| e.is_object()) {
            self.error = Some(error_code(e).unwrap_or_else(|| "error".to_owned()));
            return;
        }
        let mut finished = false;
        if let Some(cands) = v.get("candidates").and_then(Value::as_array) {
            for c in cands {
                if let Some(parts) = c.pointer("/content/parts").and_then(Value::as_array) {
                    for p in parts {
                        if let Some(t) = p.get("text").and_then(Value::as_str) {
                            self.push_text(t);
                        }
                        if let Some(call) = p.get("functionCall") {
                            self.push_text(&call.to_string());
                        }
                    }
                }
                finished |= c.get("finishReason").is_some_and(Value::is_string);
            }
        }
        let mut has_usage = false;
        if let Some(u) = v.get("usageMetadata").filter(|u| u.is_object()) {
            // Running totals: the last one stands.
            match Usage::from_format(UsageFormat::Gemini, u) {
                Ok(u) => {
                    self.latest = Some(u);
                    has_usage = true;
                }
                Err(_) => self.skipped += 1,
            }
        }
        self.model_at(v, "/modelVersion");
        if finished {
            self.complete = true;
        }
        // Final: the usage on the chunk with the finish reason (or after it), never an
        // earlier running figure.
        if self.complete && has_usage {
            self.reported = true;
        }
    }

    // ---- helpers ----

    fn push_text(&mut self, t: &str) {
        self.text.push_str(t);
        self.text_bytes += t.len() as u64;
    }

    /// Count the text once a piece has accumulated (after a whole event, so the
    /// pieces depend only on the events, never on how the bytes were split).
    fn count_if_full(&mut self) {
        if self.text.len() >= TEXT_PIECE {
            let n = self.count(&self.text).0.max(1);
            self.counted = self.counted.saturating_add(n);
            self.text.clear();
        }
    }

    fn model_at(&mut self, v: &Value, pointer: &str) {
        if let Some(m) = v.pointer(pointer).and_then(Value::as_str) {
            self.set_model(m);
        }
    }

    fn set_model(&mut self, m: &str) {
        if !m.is_empty() && self.answered.is_none() {
            self.answered = Some(m.to_owned());
        }
    }
}

/// An event's type: its `event:` name, else its data's `type`.
fn event_type<'v>(name: &'v [u8], v: &'v Value) -> &'v str {
    match std::str::from_utf8(name) {
        Ok(n) if !n.is_empty() => n,
        _ => v.get("type").and_then(Value::as_str).unwrap_or(""),
    }
}

/// The type or code of an error object (or of the `error` inside it), never its message:
/// `type` (unless it is just `"error"`), else a string `code`, else `status`, else a numeric `code`.
fn error_code(v: &Value) -> Option<String> {
    let pick = |e: &Value| -> Option<String> {
        let s = |k: &str| e.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        s("type")
            .filter(|t| *t != "error")
            .or_else(|| s("code"))
            .or_else(|| s("status"))
            .map(str::to_owned)
            .or_else(|| e.get("code").and_then(Value::as_i64).map(|n| n.to_string()))
    };
    v.get("error")
        .filter(|e| e.is_object())
        .and_then(pick)
        .or_else(|| pick(v))
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}
