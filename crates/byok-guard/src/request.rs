//! What a request body says about its own cost: the model, the prompt text, the
//! output cap and whether it streams, for each API byok calls. One home for
//! these rules: the call path reserves with them and byok-testkit's mocks count
//! with them.
//!
//! The prompt text is every text piece the request carries, in request order,
//! joined with `"\n"`: OpenAI chat `messages[].content` (a string or parts of
//! type `text`); OpenAI Responses `instructions`, then `input` (a string, or
//! items whose `content` is a string or parts of type `input_text`,
//! `output_text` or `text`); Anthropic `system` then `messages[].content` (a
//! string or blocks of type `text`); Gemini `systemInstruction.parts[].text`
//! (or `system_instruction`), then `contents[].parts[].text` (`contents` may be
//! one object); Bedrock Converse `system[].text`, then `messages[].content[].text`
//! (blocks are untyped: a `text` member is text). Cohere v2 chat bodies read as
//! OpenAI chat (`messages[].content`, `max_tokens`). Anything else (images, tool calls, wrong types) carries no
//! text; hostile JSON never panics.
//!
//! ```
//! use byok_guard::request::{ApiFormat, RequestShape};
//! let body = serde_json::json!({"model": "gpt-4o", "max_completion_tokens": 50, "stream": true,
//!     "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]});
//! let shape = RequestShape::of(ApiFormat::OpenAiChat, &body);
//! assert_eq!(shape.model.as_deref(), Some("gpt-4o"));
//! assert_eq!(shape.prompt_text, "Be brief.\nHi");
//! assert_eq!((shape.max_output_tokens, shape.stream), (Some(50), true));
//! ```

use serde_json::Value;

/// Which API a request body is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApiFormat {
    /// OpenAI Chat Completions (`POST /v1/chat/completions`).
    OpenAiChat,
    /// OpenAI Responses (`POST /v1/responses`).
    OpenAiResponses,
    /// Anthropic Messages (`POST /v1/messages`).
    AnthropicMessages,
    /// Gemini `generateContent` / `streamGenerateContent` (the model is in the path).
    GeminiGenerate,
    /// Amazon Bedrock Converse (`POST /model/{id}/converse`; the model is in the path).
    BedrockConverse,
}

/// What a request body says about its own cost.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestShape {
    /// The `model` member, if any (Gemini names it in the path instead).
    pub model: Option<String>,
    /// The prompt text ([module docs](self)).
    pub prompt_text: String,
    /// The output cap ([`max_output_tokens`]).
    pub max_output_tokens: Option<u64>,
    /// `"stream": true` (Gemini streams by path, so never here).
    pub stream: bool,
}

impl RequestShape {
    /// Read `body` as a request of `format`.
    pub fn of(format: ApiFormat, body: &Value) -> RequestShape {
        RequestShape {
            model: body.get("model").and_then(Value::as_str).map(str::to_owned),
            prompt_text: prompt_text(format, body),
            max_output_tokens: max_output_tokens(format, body),
            // Gemini and Bedrock stream by path, never by a body member.
            stream: !matches!(
                format,
                ApiFormat::GeminiGenerate | ApiFormat::BedrockConverse
            ) && body.get("stream") == Some(&Value::Bool(true)),
        }
    }
}

/// The prompt text of `body` ([module docs](self)).
pub fn prompt_text(format: ApiFormat, body: &Value) -> String {
    let mut pieces: Vec<&str> = Vec::new();
    match format {
        ApiFormat::OpenAiChat => {
            for message in array(body.get("messages")) {
                content(message.get("content"), &["text"], &mut pieces);
            }
        }
        ApiFormat::OpenAiResponses => {
            push_str(body.get("instructions"), &mut pieces);
            let input = body.get("input");
            if input.is_some_and(Value::is_string) {
                push_str(input, &mut pieces);
            } else {
                for item in array(input) {
                    content(
                        item.get("content"),
                        &["input_text", "output_text", "text"],
                        &mut pieces,
                    );
                }
            }
        }
        ApiFormat::AnthropicMessages => {
            content(body.get("system"), &["text"], &mut pieces);
            for message in array(body.get("messages")) {
                content(message.get("content"), &["text"], &mut pieces);
            }
        }
        ApiFormat::BedrockConverse => {
            for block in array(body.get("system")) {
                push_str(block.get("text"), &mut pieces);
            }
            for message in array(body.get("messages")) {
                for block in array(message.get("content")) {
                    push_str(block.get("text"), &mut pieces);
                }
            }
        }
        ApiFormat::GeminiGenerate => {
            let system = body
                .get("systemInstruction")
                .or_else(|| body.get("system_instruction"));
            if let Some(system) = system {
                parts(system, &mut pieces);
            }
            match body.get("contents") {
                Some(one @ Value::Object(_)) => parts(one, &mut pieces),
                contents => array(contents).for_each(|c| parts(c, &mut pieces)),
            }
        }
    }
    pieces.join("\n")
}

/// The output cap a request sets, if any: OpenAI chat `max_completion_tokens`
/// (else the older `max_tokens`), Responses `max_output_tokens`, Anthropic
/// `max_tokens`, Gemini `generationConfig.maxOutputTokens` (the snake_case
/// spellings too, as Google's JSON parser takes them). Anything but a
/// non-negative integer is no cap.
pub fn max_output_tokens(format: ApiFormat, body: &Value) -> Option<u64> {
    let int = |v: Option<&Value>| v.and_then(Value::as_u64);
    match format {
        ApiFormat::OpenAiChat => {
            int(body.get("max_completion_tokens")).or_else(|| int(body.get("max_tokens")))
        }
        ApiFormat::OpenAiResponses => int(body.get("max_output_tokens")),
        ApiFormat::AnthropicMessages => int(body.get("max_tokens")),
        ApiFormat::BedrockConverse => int(body.pointer("/inferenceConfig/maxTokens")),
        ApiFormat::GeminiGenerate => {
            let config = body
                .get("generationConfig")
                .or_else(|| body.get("generation_config"))?;
            int(config.get("maxOutputTokens")).or_else(|| int(config.get("max_output_tokens")))
        }
    }
}

/// The elements of `v` if it is an array, else none.
fn array(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_array).into_iter().flatten()
}

/// Push `v` if it is a non-empty string.
fn push_str<'a>(v: Option<&'a Value>, pieces: &mut Vec<&'a str>) {
    if let Some(s) = v.and_then(Value::as_str).filter(|s| !s.is_empty()) {
        pieces.push(s);
    }
}

/// A `content` that is a string, or an array of parts: the `text` of those
/// whose `type` is one of `types`.
fn content<'a>(v: Option<&'a Value>, types: &[&str], pieces: &mut Vec<&'a str>) {
    if v.is_some_and(Value::is_string) {
        push_str(v, pieces);
        return;
    }
    for part in array(v) {
        let typed = part
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| types.contains(&t));
        if typed {
            push_str(part.get("text"), pieces);
        }
    }
}

/// A Gemini `Content`: the `text` of each of its `parts`.
fn parts<'a>(content: &'a Value, pieces: &mut Vec<&'a str>) {
    for part in array(content.get("parts")) {
        push_str(part.get("text"), pieces);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bedrock_converse_blocks_are_untyped_text() {
        let body = json!({
            "system": [{"text": "Be brief."}, {"cachePoint": {"type": "default"}}],
            "messages": [
                {"role": "user", "content": [{"text": "Hi"}, {"image": {"format": "png"}}]},
                {"role": "assistant", "content": [{"text": "Hello"}]},
                {"role": "user", "content": "not blocks"}
            ],
            "inferenceConfig": {"maxTokens": 64},
            "stream": true
        });
        let shape = RequestShape::of(ApiFormat::BedrockConverse, &body);
        assert_eq!(shape.prompt_text, "Be brief.\nHi\nHello");
        assert_eq!(shape.max_output_tokens, Some(64));
        // Bedrock streams by path (`converse-stream`), never by a body member.
        assert!(!shape.stream);
        let negative = json!({"inferenceConfig": {"maxTokens": -1}});
        assert_eq!(
            max_output_tokens(ApiFormat::BedrockConverse, &negative),
            None
        );
    }
}
