//! What a successful mock answer contains, decided from the request, so that
//! tests of metering mean something.
//!
//! **The count.** Every mock counts tokens with o200k (`bpe_openai::o200k_base`),
//! for every provider: the real count for current OpenAI models, and a
//! documented, stable count for Anthropic and Gemini (whose tokenizers are not
//! public). The input tokens of a request are the count of its prompt text —
//! every text piece it carries, in request order, joined with `"\n"` — and at
//! least 1. Per provider, the prompt text is:
//! - OpenAI chat completions: each `messages[].content`, a string or the
//!   `text` of its parts of type `text`;
//! - OpenAI Responses: `instructions`, then `input` — a string, or items whose
//!   `content` is a string or parts of type `input_text`, `output_text` or `text`;
//! - Anthropic messages: `system` (a string or blocks of type `text`), then each
//!   `messages[].content` (a string or blocks of type `text`);
//! - Gemini: `systemInstruction.parts[].text` (or `system_instruction`), then
//!   `contents[].parts[].text` (`contents` may be one object).
//!
//! Anything else (images, tool calls, wrong types, garbage) carries no text;
//! empty pieces are skipped. Hostile JSON never panics.
//!
//! **The reply.** The full answer is [`REPLY_WORDS`]: twelve English words,
//! each exactly one o200k token (the first alone, every later one with its
//! leading space), so a reply of *n* words counts exactly *n* tokens. Streamed,
//! it comes one word per delta.
//!
//! **The cap.** The request's output cap (OpenAI chat `max_completion_tokens`,
//! else `max_tokens`; Responses `max_output_tokens`; Anthropic `max_tokens`;
//! Gemini `generationConfig.maxOutputTokens`) bounds everything billed as
//! output. Reasoning tokens are spent first, as OpenAI's o-series and Gemini's
//! thinking do: the reasoning billed is `min(reasoning, cap)`, the visible
//! words `min(12, cap - reasoning billed)`. A reply cut short by the cap (fewer
//! than 12 words) is *truncated*, the case for the provider's cap finish
//! reason (OpenAI `length`/`incomplete`, Anthropic `max_tokens`, Gemini
//! `MAX_TOKENS`). Without a cap the whole sentence comes, after all the
//! reasoning asked for.
//!
//! **The extras.** What the request alone cannot determine — tokens read from a
//! prompt cache, tokens written to it, reasoning tokens — a test sets per
//! scenario in [`UsageExtras`]. Cached and cache-written tokens are part of the
//! input (never more than it); reasoning tokens are part of the output.
//!
//! **Per provider usage** (field names as the providers send them):
//! - OpenAI chat: `prompt_tokens` counts the cached tokens too,
//!   `completion_tokens` the reasoning too; the details split them out.
//! - OpenAI Responses: the same, as `input_tokens`/`output_tokens` with
//!   `input_tokens_details.cached_tokens` and `output_tokens_details.reasoning_tokens`.
//! - Anthropic: `input_tokens` is only the uncached rest; cache reads and writes
//!   are separate fields; thinking is billed in `output_tokens`.
//! - Gemini: `promptTokenCount` counts the cached tokens too;
//!   `candidatesTokenCount` is the visible answer only, `thoughtsTokenCount` the
//!   reasoning (billed as output), and the total adds all three.

use byok_guard::request::{self, ApiFormat};
use byok_keys::Provider;
use serde_json::{Value, json};

use crate::record::Endpoint;

/// The mock's full answer, word by word, when no cap cuts it: twelve English
/// words, the first one o200k token alone and every later one one token with
/// its leading space, so the first *n* words joined count exactly *n* tokens.
pub const REPLY_WORDS: &[&str] = &[
    "This", "is", "the", "mock", "answer", "and", "it", "has", "exactly", "twelve", "short",
    "words",
];

/// The guard's reading of a request at a mock endpoint (`None`: not billable).
fn format(provider: Provider, endpoint: Endpoint) -> Option<ApiFormat> {
    match (provider, endpoint) {
        (Provider::OpenAi, Endpoint::Billable) => Some(ApiFormat::OpenAiChat),
        (Provider::OpenAi, Endpoint::Responses) => Some(ApiFormat::OpenAiResponses),
        (Provider::Anthropic, Endpoint::Billable) => Some(ApiFormat::AnthropicMessages),
        (Provider::Google, Endpoint::Billable) => Some(ApiFormat::GeminiGenerate),
        // The others: Perplexity's Responses API, the rest chat-shaped bodies
        // (`messages` of text parts, `max_tokens`).
        (Provider::Bedrock, Endpoint::Billable) => Some(ApiFormat::BedrockConverse),
        (p, Endpoint::Responses) if crate::compat::serves(p) => Some(ApiFormat::OpenAiResponses),
        (p, Endpoint::Billable) if crate::compat::serves(p) => Some(ApiFormat::OpenAiChat),
        _ => None,
    }
}

/// The text a request carries (`byok_guard::request::prompt_text`: the same
/// rule the call path reserves with).
pub(crate) fn prompt_text(provider: Provider, endpoint: Endpoint, body: &Value) -> String {
    format(provider, endpoint).map_or_else(String::new, |f| request::prompt_text(f, body))
}

/// The mock's token count of `text` for every provider: o200k, the real count
/// for OpenAI's current models.
pub(crate) fn count_tokens(text: &str) -> u64 {
    bpe_openai::o200k_base().count(text) as u64
}

/// Load the tokenizer now (once per process) rather than in the first request.
pub(crate) fn warm_up() {
    let _ = bpe_openai::o200k_base();
}

/// The input tokens of a request: the count of its [`prompt_text`], at least 1
/// (no provider bills an empty prompt as zero).
pub(crate) fn input_tokens(provider: Provider, endpoint: Endpoint, body: &Value) -> u64 {
    count_tokens(&prompt_text(provider, endpoint, body)).max(1)
}

/// The output cap a request sets (`byok_guard::request::max_output_tokens`).
pub(crate) fn max_output(provider: Provider, endpoint: Endpoint, body: &Value) -> Option<u64> {
    format(provider, endpoint).and_then(|f| request::max_output_tokens(f, body))
}

/// A successful answer's content: the visible text, its stream deltas and what
/// is billed as output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    /// The visible answer: the first words of [`REPLY_WORDS`], joined with spaces.
    pub(crate) text: String,
    /// `text` as stream deltas, one word each (the first without a space, later
    /// ones with their leading space); `deltas.concat() == text`.
    pub(crate) deltas: Vec<String>,
    /// Billed as output: the visible words (one token each) plus `reasoning_tokens`.
    pub(crate) output_tokens: u64,
    /// The reasoning tokens spent, capped by the request's output cap.
    pub reasoning_tokens: u64,
    /// The cap stopped the reply before its twelfth word.
    pub truncated: bool,
}

/// The reply under output cap `max_output` (`None`: no cap) after
/// `reasoning_tokens` of reasoning: reasoning is spent first out of the cap
/// (`min(reasoning, cap)` billed), then up to 12 visible words with what is left.
pub(crate) fn reply(max_output: Option<u64>, reasoning_tokens: u64) -> Reply {
    let full = REPLY_WORDS.len() as u64;
    let (reasoning, visible) = match max_output {
        None => (reasoning_tokens, full),
        Some(cap) => {
            let reasoning = reasoning_tokens.min(cap);
            (reasoning, full.min(cap - reasoning))
        }
    };
    let deltas: Vec<String> = REPLY_WORDS
        .iter()
        .take(visible as usize)
        .enumerate()
        .map(|(i, w)| {
            if i == 0 {
                (*w).to_owned()
            } else {
                format!(" {w}")
            }
        })
        .collect();
    Reply {
        text: deltas.concat(),
        deltas,
        output_tokens: visible.saturating_add(reasoning),
        reasoning_tokens: reasoning,
        truncated: visible < full,
    }
}

/// Token counts a test sets per scenario that the request alone cannot
/// determine: tokens read from the provider's prompt cache, tokens written to
/// it, and reasoning ("thinking") tokens. All zero by default.
///
/// Cache reads and writes are part of the input tokens (a mock clamps them to
/// the request's input); reasoning tokens are billed as output and spent from
/// the request's output cap before the visible answer. Build one with
/// `UsageExtras::new().cached_tokens(3).reasoning_tokens(2)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UsageExtras {
    /// Input tokens read from the prompt cache (OpenAI `cached_tokens`, Anthropic
    /// `cache_read_input_tokens`, Gemini `cachedContentTokenCount`).
    pub cached_tokens: u64,
    /// Reasoning tokens before the answer (OpenAI `reasoning_tokens`, Gemini
    /// `thoughtsTokenCount`, Anthropic thinking inside `output_tokens`).
    pub reasoning_tokens: u64,
    /// Input tokens written to the prompt cache (Anthropic
    /// `cache_creation_input_tokens`; OpenAI and Gemini do not report them).
    pub cache_write_tokens: u64,
}

impl UsageExtras {
    /// No cache hits, no cache writes, no reasoning.
    pub fn new() -> Self {
        Self::default()
    }

    /// Report `n` input tokens as read from the prompt cache.
    pub fn cached_tokens(mut self, n: u64) -> Self {
        self.cached_tokens = n;
        self
    }

    /// Spend `n` reasoning tokens before the answer.
    pub fn reasoning_tokens(mut self, n: u64) -> Self {
        self.reasoning_tokens = n;
        self
    }

    /// Report `n` input tokens as written to the prompt cache.
    pub fn cache_write_tokens(mut self, n: u64) -> Self {
        self.cache_write_tokens = n;
        self
    }
}

/// The token counts of one answer, before each provider's usage shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    /// All input tokens, cached and cache-written included.
    pub input: u64,
    /// Of `input`, read from the cache.
    pub cached: u64,
    /// Of `input`, written to the cache.
    pub cache_write: u64,
    /// All output tokens, reasoning included.
    pub output: u64,
    /// Of `output`, reasoning.
    pub reasoning: u64,
}

/// The counts of an answer to `input` tokens with `reply`: cache reads are
/// clamped to the input and cache writes to what is left of it; output and
/// reasoning come from the reply (which already spent `extras.reasoning_tokens`
/// under the cap), so `extras.reasoning_tokens` is not read here.
pub(crate) fn counts(input: u64, reply: &Reply, extras: UsageExtras) -> Counts {
    let cached = extras.cached_tokens.min(input);
    Counts {
        input,
        cached,
        cache_write: extras.cache_write_tokens.min(input - cached),
        output: reply.output_tokens,
        reasoning: reply.reasoning_tokens,
    }
}

/// Everything a successful answer to one request says: its reply and its counts.
#[derive(Debug, Clone)]
pub(crate) struct Made {
    pub(crate) reply: Reply,
    pub(crate) counts: Counts,
}

/// What a successful answer to `body` at `endpoint` contains, with `extras`.
pub(crate) fn made(
    provider: Provider,
    endpoint: Endpoint,
    body: &Value,
    extras: UsageExtras,
) -> Made {
    let input = input_tokens(provider, endpoint, body);
    let reply = reply(
        max_output(provider, endpoint, body),
        extras.reasoning_tokens,
    );
    let counts = counts(input, &reply, extras);
    Made { reply, counts }
}

/// OpenAI chat completions `usage`: prompt tokens include the cached ones,
/// completion tokens include the reasoning ones.
pub(crate) fn openai_chat_usage(c: &Counts) -> Value {
    json!({
        "prompt_tokens": c.input,
        "completion_tokens": c.output,
        "total_tokens": c.input.saturating_add(c.output),
        "prompt_tokens_details": {"cached_tokens": c.cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": c.reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0
        }
    })
}

/// OpenAI Responses `usage`: like chat, named `input_tokens`/`output_tokens`.
pub(crate) fn openai_responses_usage(c: &Counts) -> Value {
    json!({
        "input_tokens": c.input,
        "input_tokens_details": {"cached_tokens": c.cached},
        "output_tokens": c.output,
        "output_tokens_details": {"reasoning_tokens": c.reasoning},
        "total_tokens": c.input.saturating_add(c.output)
    })
}

/// Anthropic `usage`: `input_tokens` is the uncached rest, cache reads and
/// (5-minute) writes are apart, thinking is inside `output_tokens`.
pub(crate) fn anthropic_usage(c: &Counts) -> Value {
    json!({
        "input_tokens": c.input.saturating_sub(c.cached).saturating_sub(c.cache_write),
        "cache_creation_input_tokens": c.cache_write,
        "cache_read_input_tokens": c.cached,
        "cache_creation": {
            "ephemeral_5m_input_tokens": c.cache_write,
            "ephemeral_1h_input_tokens": 0
        },
        "output_tokens": c.output,
        "service_tier": "standard"
    })
}

/// Gemini `usageMetadata`: the prompt count includes the cached tokens, the
/// candidates count is the visible answer only, thoughts (billed as output)
/// and cached counts appear only when non-zero.
pub(crate) fn gemini_usage(c: &Counts) -> Value {
    let candidates = c.output.saturating_sub(c.reasoning);
    let mut usage = json!({
        "promptTokenCount": c.input,
        "candidatesTokenCount": candidates,
        "totalTokenCount": c.input.saturating_add(candidates).saturating_add(c.reasoning),
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": c.input}]
    });
    if c.reasoning > 0 {
        usage["thoughtsTokenCount"] = json!(c.reasoning);
    }
    if c.cached > 0 {
        usage["cachedContentTokenCount"] = json!(c.cached);
    }
    usage
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALL_FORMS: [(Provider, Endpoint); 4] = [
        (Provider::OpenAi, Endpoint::Billable),
        (Provider::OpenAi, Endpoint::Responses),
        (Provider::Anthropic, Endpoint::Billable),
        (Provider::Google, Endpoint::Billable),
    ];

    fn chat(body: Value) -> String {
        prompt_text(Provider::OpenAi, Endpoint::Billable, &body)
    }
    fn responses(body: Value) -> String {
        prompt_text(Provider::OpenAi, Endpoint::Responses, &body)
    }
    fn anthropic(body: Value) -> String {
        prompt_text(Provider::Anthropic, Endpoint::Billable, &body)
    }
    fn gemini(body: Value) -> String {
        prompt_text(Provider::Google, Endpoint::Billable, &body)
    }

    #[test]
    fn openai_chat_strings_and_text_parts() {
        let body = json!({"model": "gpt-4o-mini", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [
                {"type": "text", "text": "Hello"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "text", "text": "world"}
            ]},
            {"role": "assistant", "content": null, "tool_calls": []},
            {"role": "user", "content": "Bye"}
        ]});
        assert_eq!(chat(body.clone()), "Be brief.\nHello\nworld\nBye");
        assert_eq!(
            input_tokens(Provider::OpenAi, Endpoint::Billable, &body),
            count_tokens("Be brief.\nHello\nworld\nBye")
        );
    }

    #[test]
    fn openai_responses_instructions_then_input() {
        assert_eq!(
            responses(json!({"instructions": "Be brief.", "input": "Hi there"})),
            "Be brief.\nHi there"
        );
        let body = json!({"input": [
            {"role": "user", "content": "one"},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "two"},
                {"type": "input_image", "image_url": "https://x"},
                {"type": "output_text", "text": "three"},
                {"type": "text", "text": "four"}
            ]},
            {"type": "function_call_output", "call_id": "c1", "output": "not prompt text"}
        ]});
        assert_eq!(responses(body), "one\ntwo\nthree\nfour");
        // The chat shape on the Responses endpoint is not read as chat.
        assert_eq!(responses(json!({"messages": [{"content": "x"}]})), "");
    }

    #[test]
    fn anthropic_system_then_messages() {
        assert_eq!(
            anthropic(json!({"system": "Be brief.", "max_tokens": 5,
                             "messages": [{"role": "user", "content": "Hi"}]})),
            "Be brief.\nHi"
        );
        let body = json!({
            "system": [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "a"},
                    {"type": "image", "source": {"type": "base64", "data": "AAAA"}},
                    {"type": "tool_result", "tool_use_id": "t", "content": "ignored"}
                ]},
                {"role": "assistant", "content": [{"type": "text", "text": "b"}]}
            ]
        });
        assert_eq!(anthropic(body), "sys\na\nb");
    }

    #[test]
    fn gemini_system_instruction_then_contents() {
        let body = json!({
            "systemInstruction": {"parts": [{"text": "sys"}]},
            "contents": [
                {"role": "user", "parts": [{"text": "a"}, {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]},
                {"role": "model", "parts": [{"text": "b"}]}
            ]
        });
        assert_eq!(gemini(body), "sys\na\nb");
        let snake = json!({
            "system_instruction": {"parts": [{"text": "sys"}]},
            "contents": {"parts": [{"text": "only"}]}
        });
        assert_eq!(gemini(snake), "sys\nonly");
    }

    #[test]
    fn other_endpoints_and_hostile_json_carry_no_text() {
        let ok = json!({"messages": [{"content": "x"}], "contents": [{"parts": [{"text": "x"}]}]});
        assert_eq!(prompt_text(Provider::OpenAi, Endpoint::ListModels, &ok), "");
        assert_eq!(prompt_text(Provider::Google, Endpoint::Responses, &ok), "");
        assert_eq!(prompt_text(Provider::Anthropic, Endpoint::Other, &ok), "");
        let hostile = [
            json!(null),
            json!(42),
            json!("a string body"),
            json!([{"messages": "x"}]),
            json!({"messages": "not an array", "input": 7, "instructions": ["x"],
                   "system": {"text": "x"}, "contents": "x", "systemInstruction": "x"}),
            json!({"messages": [7, null, "x", {"content": 5}, {"content": [1, "x", {"type": 3, "text": "x"},
                   {"type": "text", "text": {"nested": "x"}}, {"type": "text"}]}]}),
            json!({"input": [null, 1, {"content": {"type": "input_text", "text": "x"}}],
                   "instructions": null}),
            json!({"system": [{"type": "text", "text": 9}], "messages": [{"content": [[{"type": "text", "text": "x"}]]}]}),
            json!({"systemInstruction": {"parts": "x"}, "contents": [{"parts": [{"text": 1}, "x", null]}, 3]}),
            json!({"contents": {"parts": {"text": "x"}}}),
        ];
        for body in &hostile {
            for (p, e) in ALL_FORMS {
                assert_eq!(prompt_text(p, e, body), "", "{p:?} {e:?} {body}");
                assert_eq!(input_tokens(p, e, body), 1);
                assert_eq!(max_output(p, e, body), None, "{p:?} {e:?} {body}");
            }
        }
    }

    #[test]
    fn max_output_per_provider() {
        let o = |b: Value| max_output(Provider::OpenAi, Endpoint::Billable, &b);
        assert_eq!(
            o(json!({"max_completion_tokens": 7, "max_tokens": 9})),
            Some(7)
        );
        assert_eq!(o(json!({"max_tokens": 9})), Some(9));
        assert_eq!(o(json!({"max_output_tokens": 9})), None);
        assert_eq!(o(json!({})), None);
        let r = |b: Value| max_output(Provider::OpenAi, Endpoint::Responses, &b);
        assert_eq!(r(json!({"max_output_tokens": 16})), Some(16));
        assert_eq!(r(json!({"max_tokens": 16})), None);
        let a = |b: Value| max_output(Provider::Anthropic, Endpoint::Billable, &b);
        assert_eq!(a(json!({"max_tokens": 0})), Some(0));
        let g = |b: Value| max_output(Provider::Google, Endpoint::Billable, &b);
        assert_eq!(
            g(json!({"generationConfig": {"maxOutputTokens": 5}})),
            Some(5)
        );
        assert_eq!(
            g(json!({"generation_config": {"max_output_tokens": 6}})),
            Some(6)
        );
        assert_eq!(g(json!({"maxOutputTokens": 5})), None);
        for bad in [
            json!(-1),
            json!(1.5),
            json!("5"),
            json!(null),
            json!([5]),
            json!({"n": 5}),
        ] {
            assert_eq!(o(json!({"max_completion_tokens": bad.clone()})), None);
            assert_eq!(o(json!({"max_tokens": bad.clone()})), None);
            assert_eq!(r(json!({"max_output_tokens": bad.clone()})), None);
            assert_eq!(a(json!({"max_tokens": bad.clone()})), None);
            assert_eq!(
                g(json!({"generationConfig": {"maxOutputTokens": bad}})),
                None
            );
        }
        assert_eq!(g(json!({"generationConfig": 5})), None);
        assert_eq!(
            max_output(
                Provider::Anthropic,
                Endpoint::ListModels,
                &json!({"max_tokens": 5})
            ),
            None
        );
    }

    #[test]
    fn reply_words_are_one_o200k_token_each() {
        let bpe = bpe_openai::o200k_base();
        assert_eq!(REPLY_WORDS.len(), 12);
        for (i, w) in REPLY_WORDS.iter().enumerate() {
            let piece = if i == 0 {
                (*w).to_owned()
            } else {
                format!(" {w}")
            };
            assert_eq!(bpe.count(piece.as_str()), 1, "{piece:?}");
        }
        for n in 0..=12 {
            let text = REPLY_WORDS[..n].join(" ");
            assert_eq!(bpe.count(text.as_str()), n, "{text:?}");
            assert_eq!(count_tokens(&text), n as u64);
        }
    }

    #[test]
    fn reply_under_caps() {
        let full = reply(None, 0);
        assert_eq!(full.text, REPLY_WORDS.join(" "));
        assert_eq!(full.deltas.len(), 12);
        assert_eq!(full.deltas[0], "This");
        assert_eq!(full.deltas[1], " is");
        assert_eq!(
            (full.output_tokens, full.reasoning_tokens, full.truncated),
            (12, 0, false)
        );

        let zero = reply(Some(0), 0);
        assert_eq!(zero.text, "");
        assert!(zero.deltas.is_empty());
        assert_eq!((zero.output_tokens, zero.truncated), (0, true));

        let one = reply(Some(1), 0);
        assert_eq!(one.text, "This");
        assert_eq!(one.deltas, ["This"]);
        assert_eq!((one.output_tokens, one.truncated), (1, true));

        let five = reply(Some(5), 0);
        assert_eq!(five.text, "This is the mock answer");
        assert_eq!((five.output_tokens, five.truncated), (5, true));

        let twelve = reply(Some(12), 0);
        assert_eq!(twelve, full);
        assert_eq!(reply(Some(100), 0), full);

        let thinking = reply(Some(5), 3);
        assert_eq!(thinking.text, "This is");
        assert_eq!(thinking.deltas, ["This", " is"]);
        assert_eq!(
            (
                thinking.output_tokens,
                thinking.reasoning_tokens,
                thinking.truncated
            ),
            (5, 3, true)
        );

        let all_thought = reply(Some(5), 9);
        assert_eq!(all_thought.text, "");
        assert_eq!(
            (
                all_thought.output_tokens,
                all_thought.reasoning_tokens,
                all_thought.truncated
            ),
            (5, 5, true)
        );
        let uncapped = reply(None, 3);
        assert_eq!(
            (
                uncapped.output_tokens,
                uncapped.reasoning_tokens,
                uncapped.truncated
            ),
            (15, 3, false)
        );
        assert_eq!(reply(None, u64::MAX).output_tokens, u64::MAX);
    }

    #[test]
    fn usage_extras_builder_and_clamps() {
        let extras = UsageExtras::new()
            .cached_tokens(3)
            .reasoning_tokens(2)
            .cache_write_tokens(4);
        assert_eq!(
            (
                extras.cached_tokens,
                extras.reasoning_tokens,
                extras.cache_write_tokens
            ),
            (3, 2, 4)
        );
        assert_eq!(UsageExtras::new(), UsageExtras::default());
        let r = reply(None, 0);
        let c = counts(
            5,
            &r,
            UsageExtras::new().cached_tokens(9).cache_write_tokens(9),
        );
        assert_eq!((c.input, c.cached, c.cache_write), (5, 5, 0));
        let c = counts(
            10,
            &r,
            UsageExtras::new().cached_tokens(3).cache_write_tokens(9),
        );
        assert_eq!((c.cached, c.cache_write), (3, 7));
        assert_eq!(anthropic_usage(&c)["input_tokens"], 0);
    }

    fn scenario() -> Counts {
        let extras = UsageExtras::new().cached_tokens(3).reasoning_tokens(2);
        let r = reply(None, extras.reasoning_tokens);
        let c = counts(10, &r, extras);
        assert_eq!(
            c,
            Counts {
                input: 10,
                cached: 3,
                cache_write: 0,
                output: 14,
                reasoning: 2
            }
        );
        c
    }

    #[test]
    fn usage_openai_chat() {
        assert_eq!(
            openai_chat_usage(&scenario()),
            json!({"prompt_tokens": 10, "completion_tokens": 14, "total_tokens": 24,
                   "prompt_tokens_details": {"cached_tokens": 3, "audio_tokens": 0},
                   "completion_tokens_details": {"reasoning_tokens": 2, "audio_tokens": 0,
                       "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}})
        );
    }

    #[test]
    fn usage_openai_responses() {
        assert_eq!(
            openai_responses_usage(&scenario()),
            json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 3},
                   "output_tokens": 14, "output_tokens_details": {"reasoning_tokens": 2},
                   "total_tokens": 24})
        );
    }

    #[test]
    fn usage_anthropic() {
        assert_eq!(
            anthropic_usage(&scenario()),
            json!({"input_tokens": 7, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 3,
                   "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                   "output_tokens": 14, "service_tier": "standard"})
        );
        let written = Counts {
            input: 10,
            cached: 3,
            cache_write: 4,
            output: 1,
            reasoning: 0,
        };
        let u = anthropic_usage(&written);
        assert_eq!(u["input_tokens"], 3);
        assert_eq!(u["cache_creation_input_tokens"], 4);
        assert_eq!(u["cache_creation"]["ephemeral_5m_input_tokens"], 4);
    }

    #[test]
    fn usage_gemini() {
        assert_eq!(
            gemini_usage(&scenario()),
            json!({"promptTokenCount": 10, "candidatesTokenCount": 12, "thoughtsTokenCount": 2,
                   "cachedContentTokenCount": 3, "totalTokenCount": 24,
                   "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 10}]})
        );
        let plain = Counts {
            input: 4,
            cached: 0,
            cache_write: 0,
            output: 5,
            reasoning: 0,
        };
        assert_eq!(
            gemini_usage(&plain),
            json!({"promptTokenCount": 4, "candidatesTokenCount": 5, "totalTokenCount": 9,
                   "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 4}]})
        );
    }

    /// Arbitrary JSON whose object keys are mostly the ones the extractors read,
    /// and whose strings are often the part types they match, so the garbage
    /// reaches deep into every path.
    fn json_value() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            3 => prop::sample::select(vec![
                "messages", "content", "type", "text", "input", "instructions", "system",
                "contents", "parts", "systemInstruction", "system_instruction",
                "generationConfig", "generation_config", "maxOutputTokens", "max_output_tokens",
                "max_tokens", "max_completion_tokens",
            ])
            .prop_map(str::to_owned),
            1 => ".{0,8}",
        ];
        let string = prop_oneof![
            prop::sample::select(vec!["text", "input_text", "output_text", "image_url", ""])
                .prop_map(str::to_owned),
            ".{0,20}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            string.prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 64, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key.clone(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn extraction_never_panics(body in json_value()) {
            for (p, e) in ALL_FORMS {
                let text = prompt_text(p, e, &body);
                prop_assert!(input_tokens(p, e, &body) >= 1);
                prop_assert_eq!(input_tokens(p, e, &body), count_tokens(&text).max(1));
                let _ = max_output(p, e, &body);
            }
        }

        #[test]
        fn reply_is_consistent(cap in prop::option::of(prop_oneof![0u64..40, any::<u64>()]),
                               reasoning in prop_oneof![0u64..40, any::<u64>()]) {
            let r = reply(cap, reasoning);
            prop_assert_eq!(r.deltas.concat(), r.text.clone());
            let visible = r.deltas.len() as u64;
            prop_assert!(visible <= 12);
            let billed_reasoning = cap.map_or(reasoning, |c| reasoning.min(c));
            prop_assert_eq!(r.reasoning_tokens, billed_reasoning);
            prop_assert_eq!(r.output_tokens, visible.saturating_add(billed_reasoning));
            prop_assert_eq!(count_tokens(&r.text), visible);
            prop_assert_eq!(r.truncated, visible < 12);
            if let Some(c) = cap {
                prop_assert!(r.output_tokens <= c);
                prop_assert_eq!(visible, 12.min(c - billed_reasoning));
            }
        }
    }
}
