//! `Usage`: token counts normalised from each provider's usage object.
//!
//! The parts are disjoint, so each token is priced exactly once: no cached
//! token is also counted as uncached input, no reasoning token also as output.
//!
//! Which fields each provider's object has, and whether a part is inside or
//! outside another, is read per [`UsageFormat`]; [`Usage::from_provider_value`]
//! picks the format from the provider's spec
//! ([`usage`](byok_keys::spec::ProviderSpec::usage)):
//!
//! - OpenAI chat and the compatible providers (Groq, Together, Fireworks,
//!   Mistral, Azure, OpenRouter, xAI, DeepSeek): `prompt_tokens` includes
//!   `prompt_tokens_details.cached_tokens` and OpenRouter's
//!   `prompt_tokens_details.cache_write_tokens` (priced as a 5-minute write);
//!   DeepSeek's `prompt_cache_hit_tokens` + `prompt_cache_miss_tokens` sum to
//!   `prompt_tokens` (the hits are the cached part). `completion_tokens`
//!   includes `completion_tokens_details.reasoning_tokens`, except where
//!   `total_tokens` says the reasoning came on top (xAI:
//!   `total = prompt + completion + reasoning`).
//! - Responses (OpenAI, Perplexity): `input_tokens` includes
//!   `input_tokens_details.cached_tokens`, `output_tokens` includes
//!   `output_tokens_details.reasoning_tokens`. Perplexity's extras, in either
//!   shape: `citation_tokens` (outside the prompt, priced as input) and a
//!   top-level `reasoning_tokens` (outside the output, at the reasoning rate).
//!   Its per-request and search fees are not tokens: only its reported cost
//!   ([`reported_cost`](crate::reported_cost)) has them.
//! - Bedrock Converse (camelCase): `inputTokens` EXCLUDES
//!   `cacheReadInputTokens` and `cacheWriteInputTokens`; `cacheDetails[]`
//!   (`{ttl: "5m"|"1h", inputTokens}`) splits the writes by lifetime when it
//!   adds up to them (else they are 5-minute writes).
//! - Cohere v2: billed on `billed_units.{input_tokens, output_tokens}`, never
//!   on `tokens` (what was processed).

use byok_keys::Provider;
use byok_keys::spec::UsageDialect;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::GuardError;

/// Disjoint token counts of one call.
///
/// ```
/// use byok_guard::Usage;
/// let body = r#"{"id":"chatcmpl-1","usage":{"prompt_tokens":1200,"completion_tokens":300,
///   "prompt_tokens_details":{"cached_tokens":1000},
///   "completion_tokens_details":{"reasoning_tokens":100}}}"#;
/// let u = Usage::from_json(body).unwrap();
/// assert_eq!((u.input_tokens, u.cached_input_tokens), (200, 1000));
/// assert_eq!((u.output_tokens, u.reasoning_tokens), (200, 100));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    /// Prompt tokens neither read from nor written to a cache (Perplexity's
    /// citation tokens included).
    pub input_tokens: u64,
    /// Prompt tokens read from the cache.
    pub cached_input_tokens: u64,
    /// Prompt tokens written to a 5-minute cache (Anthropic; Bedrock; OpenRouter's
    /// `cache_write_tokens`, whose lifetime it does not say, at the 5-minute rate).
    pub cache_write_5m_tokens: u64,
    /// Prompt tokens written to a 1-hour cache (Anthropic, Bedrock).
    pub cache_write_1h_tokens: u64,
    /// Visible output tokens (reasoning excluded).
    pub output_tokens: u64,
    /// Reasoning / thinking tokens (billed as output, possibly at their own rate:
    /// Perplexity's deep research has one).
    pub reasoning_tokens: u64,
}

/// Which usage shape a JSON object has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UsageFormat {
    /// OpenAI Chat Completions `usage` (`prompt_tokens`, `completion_tokens`).
    OpenAiChat,
    /// OpenAI Responses `usage` (`input_tokens`, `output_tokens`, `*_details`).
    OpenAiResponses,
    /// Anthropic Messages `usage` (`input_tokens` excludes the cache).
    Anthropic,
    /// Gemini `usageMetadata`.
    Gemini,
    /// Bedrock Converse `usage` (`inputTokens` excludes cache reads and writes).
    Converse,
    /// Cohere v2 `usage` (billed on `billed_units`).
    CohereV2,
}

impl Usage {
    /// All prompt tokens: the count long-context tiers compare against.
    pub fn prompt_tokens(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.cached_input_tokens)
            .saturating_add(self.cache_write_5m_tokens)
            .saturating_add(self.cache_write_1h_tokens)
    }

    /// All output tokens, reasoning included.
    pub fn completion_tokens(&self) -> u64 {
        self.output_tokens.saturating_add(self.reasoning_tokens)
    }

    /// Parse a usage object or a whole response body, detecting its format.
    /// A body's `usage` or `usageMetadata` member is used when present.
    pub fn from_json(text: &str) -> Result<Usage, GuardError> {
        Usage::from_value(&parse(text)?)
    }

    /// As [`Usage::from_provider_value`], from JSON text (`missing_usage` when it
    /// is not JSON).
    pub fn from_provider_json(provider: Provider, text: &str) -> Result<Usage, GuardError> {
        Usage::from_provider_value(provider, &parse(text)?)
    }

    /// As [`Usage::from_json`], from a parsed value.
    pub fn from_value(value: &Value) -> Result<Usage, GuardError> {
        let obj = usage_object(value)?;
        let format = detect(obj).ok_or_else(|| GuardError::MissingUsage {
            reason: "no known token fields (prompt_tokens, input_tokens, promptTokenCount)".into(),
        })?;
        Usage::from_format(format, obj)
    }

    /// Parse a usage object (or body) known to come from `provider`, in the
    /// shape its spec names ([module docs](self)). A provider's
    /// OpenAI-compatible endpoint answering in OpenAI's chat shape (Cohere's
    /// Compatibility API, Bedrock's) is read as such.
    ///
    /// ```
    /// use byok_guard::Usage;
    /// use byok_keys::Provider;
    /// let converse = serde_json::json!({"output": {}, "usage": {"inputTokens": 10,
    ///     "outputTokens": 5, "cacheReadInputTokens": 100, "cacheWriteInputTokens": 20}});
    /// let u = Usage::from_provider_value(Provider::Bedrock, &converse).unwrap();
    /// assert_eq!((u.input_tokens, u.cached_input_tokens, u.cache_write_5m_tokens), (10, 100, 20));
    /// assert_eq!(u.prompt_tokens(), 130);
    /// ```
    pub fn from_provider_value(provider: Provider, value: &Value) -> Result<Usage, GuardError> {
        use UsageDialect as D;
        use UsageFormat as F;
        let obj = usage_object(value)?;
        let has_input = obj.get("input_tokens").is_some();
        let format = match (provider.spec().usage, detect(obj)) {
            (D::OpenAiChat, Some(f @ (F::OpenAiChat | F::OpenAiResponses))) => Some(f),
            // Responses usage without details reads like Anthropic's: name it right.
            (D::OpenAiResponses, Some(F::OpenAiResponses | F::Anthropic)) if has_input => {
                Some(F::OpenAiResponses)
            }
            (D::OpenAiResponses, Some(F::OpenAiChat)) => Some(F::OpenAiChat),
            (D::Anthropic, Some(_)) if has_input => Some(F::Anthropic),
            (D::Gemini, Some(F::Gemini)) => Some(F::Gemini),
            (D::Converse, Some(F::Converse)) => Some(F::Converse),
            (D::CohereV2, Some(F::CohereV2)) => Some(F::CohereV2),
            (D::Converse | D::CohereV2, Some(F::OpenAiChat)) => Some(F::OpenAiChat),
            _ => None,
        };
        let format = format.ok_or_else(|| GuardError::MissingUsage {
            reason: format!("no {} usage fields", provider.as_str()),
        })?;
        Usage::from_format(format, obj)
    }

    /// Parse a usage object of a known format.
    pub fn from_format(format: UsageFormat, obj: &Value) -> Result<Usage, GuardError> {
        match format {
            UsageFormat::OpenAiChat => {
                let prompt = count(obj, &["prompt_tokens"])?;
                let cached = match obj
                    .get("prompt_tokens_details")
                    .and_then(|d| d.get("cached_tokens"))
                {
                    Some(_) => count(obj, &["prompt_tokens_details", "cached_tokens"])?,
                    None => deepseek_hits(obj, prompt)?,
                };
                openai(
                    obj,
                    OpenAiParts {
                        prompt,
                        completion: count(obj, &["completion_tokens"])?,
                        cached,
                        cache_write: count(obj, &["prompt_tokens_details", "cache_write_tokens"])?,
                        reasoning: count(obj, &["completion_tokens_details", "reasoning_tokens"])?,
                        fields: ("prompt_tokens", "completion_tokens"),
                    },
                )
            }
            UsageFormat::OpenAiResponses => openai(
                obj,
                OpenAiParts {
                    prompt: count(obj, &["input_tokens"])?,
                    completion: count(obj, &["output_tokens"])?,
                    cached: count(obj, &["input_tokens_details", "cached_tokens"])?,
                    cache_write: 0,
                    reasoning: count(obj, &["output_tokens_details", "reasoning_tokens"])?,
                    fields: ("input_tokens", "output_tokens"),
                },
            ),
            UsageFormat::Converse => {
                let write = count(obj, &["cacheWriteInputTokens"])?;
                let (w5, w1) = converse_write_split(obj, write);
                Ok(Usage {
                    // Excludes cache reads and writes, unlike OpenAI's prompt_tokens.
                    input_tokens: count(obj, &["inputTokens"])?,
                    cached_input_tokens: count(obj, &["cacheReadInputTokens"])?,
                    cache_write_5m_tokens: w5,
                    cache_write_1h_tokens: w1,
                    output_tokens: count(obj, &["outputTokens"])?,
                    reasoning_tokens: 0,
                })
            }
            UsageFormat::CohereV2 => {
                if !obj.get("billed_units").is_some_and(Value::is_object) {
                    return Err(GuardError::MissingUsage {
                        reason: "no billed_units in the Cohere usage".into(),
                    });
                }
                Ok(Usage {
                    input_tokens: count(obj, &["billed_units", "input_tokens"])?,
                    output_tokens: count(obj, &["billed_units", "output_tokens"])?,
                    ..Usage::default()
                })
            }
            UsageFormat::Anthropic => {
                let input = count(obj, &["input_tokens"])?;
                let output = count(obj, &["output_tokens"])?;
                let read = count(obj, &["cache_read_input_tokens"])?;
                let write = count(obj, &["cache_creation_input_tokens"])?;
                let w5 = count(obj, &["cache_creation", "ephemeral_5m_input_tokens"])?;
                let w1 = count(obj, &["cache_creation", "ephemeral_1h_input_tokens"])?;
                let (w5, w1) = if obj.get("cache_creation").is_some_and(Value::is_object) {
                    if w5.checked_add(w1) != Some(write) && write != 0 {
                        return Err(inconsistent(format!(
                            "cache_creation_input_tokens is {write} but the 5m and 1h parts sum to {}",
                            u128::from(w5) + u128::from(w1)
                        )));
                    }
                    (w5, w1)
                } else {
                    // No breakdown: Anthropic's default cache lifetime is 5 minutes.
                    (write, 0)
                };
                Ok(Usage {
                    input_tokens: input,
                    cached_input_tokens: read,
                    cache_write_5m_tokens: w5,
                    cache_write_1h_tokens: w1,
                    output_tokens: output,
                    reasoning_tokens: 0,
                })
            }
            UsageFormat::Gemini => {
                let prompt = count(obj, &["promptTokenCount"])?;
                let cached = count(obj, &["cachedContentTokenCount"])?;
                let tool = count(obj, &["toolUsePromptTokenCount"])?;
                let candidates = count(obj, &["candidatesTokenCount"])?;
                let thoughts = count(obj, &["thoughtsTokenCount"])?;
                if cached > prompt {
                    return Err(inconsistent(format!(
                        "cachedContentTokenCount ({cached}) exceeds promptTokenCount ({prompt})"
                    )));
                }
                Ok(Usage {
                    // Tool-use prompt tokens are billed as input.
                    input_tokens: (prompt - cached)
                        .checked_add(tool)
                        .ok_or(GuardError::Overflow)?,
                    cached_input_tokens: cached,
                    output_tokens: candidates,
                    reasoning_tokens: thoughts,
                    ..Usage::default()
                })
            }
        }
    }
}

/// An OpenAI-shaped usage's counts, before they are made disjoint.
struct OpenAiParts {
    /// All prompt tokens (cached and cache writes included).
    prompt: u64,
    /// All output tokens (reasoning included, unless `total_tokens` says otherwise).
    completion: u64,
    cached: u64,
    cache_write: u64,
    /// `*_details.reasoning_tokens`.
    reasoning: u64,
    /// The prompt and completion fields' names, for errors.
    fields: (&'static str, &'static str),
}

fn openai(obj: &Value, p: OpenAiParts) -> Result<Usage, GuardError> {
    let (prompt_field, completion_field) = p.fields;
    let in_prompt = u128::from(p.cached) + u128::from(p.cache_write);
    if in_prompt > u128::from(p.prompt) {
        return Err(inconsistent(format!(
            "cached_tokens and cache_write_tokens ({in_prompt}) exceed {prompt_field} ({}), which includes them",
            p.prompt
        )));
    }
    // Perplexity's extras: citation tokens come on top of the prompt (priced as
    // input), a top-level `reasoning_tokens` on top of the output.
    let citation = count(obj, &["citation_tokens"])?;
    let extra_reasoning = if p.reasoning == 0 {
        count(obj, &["reasoning_tokens"])?
    } else {
        0
    };
    // xAI counts reasoning outside completion_tokens: its total_tokens says so.
    let total = obj
        .get("total_tokens")
        .and_then(Value::as_u64)
        .map(u128::from);
    let outside = p.reasoning > 0
        && total == Some(u128::from(p.prompt) + u128::from(p.completion) + u128::from(p.reasoning));
    let (output, reasoning) = if outside {
        (p.completion, p.reasoning)
    } else if p.reasoning > p.completion {
        return Err(inconsistent(format!(
            "reasoning_tokens ({}) exceeds {completion_field} ({}), which includes them",
            p.reasoning, p.completion
        )));
    } else {
        (p.completion - p.reasoning, p.reasoning)
    };
    let input = (p.prompt - p.cached - p.cache_write)
        .checked_add(citation)
        .ok_or(GuardError::Overflow)?;
    Ok(Usage {
        input_tokens: input,
        cached_input_tokens: p.cached,
        cache_write_5m_tokens: p.cache_write,
        cache_write_1h_tokens: 0,
        output_tokens: output,
        reasoning_tokens: reasoning
            .checked_add(extra_reasoning)
            .ok_or(GuardError::Overflow)?,
    })
}

/// `text` as JSON, or `missing_usage` naming where it stops being JSON (never
/// quoting it).
fn parse(text: &str) -> Result<Value, GuardError> {
    serde_json::from_str(text).map_err(|e| GuardError::MissingUsage {
        reason: format!("the input is not JSON ({})", crate::error::json_problem(&e)),
    })
}

/// DeepSeek's cached part: `prompt_cache_hit_tokens`, which with
/// `prompt_cache_miss_tokens` must sum to `prompt_tokens` (0 when absent).
fn deepseek_hits(obj: &Value, prompt: u64) -> Result<u64, GuardError> {
    let hit = count(obj, &["prompt_cache_hit_tokens"])?;
    if obj.get("prompt_cache_miss_tokens").is_some() {
        let miss = count(obj, &["prompt_cache_miss_tokens"])?;
        if u128::from(hit) + u128::from(miss) != u128::from(prompt) {
            return Err(inconsistent(format!(
                "prompt_cache_hit_tokens ({hit}) + prompt_cache_miss_tokens ({miss}) is not prompt_tokens ({prompt})"
            )));
        }
    }
    Ok(hit)
}

/// Bedrock's cache writes as (5-minute, 1-hour): split by `cacheDetails[]` when
/// its entries add up to `write`, else all 5-minute (the default lifetime).
fn converse_write_split(obj: &Value, write: u64) -> (u64, u64) {
    let Some(details) = obj.get("cacheDetails").and_then(Value::as_array) else {
        return (write, 0);
    };
    let (mut w5, mut w1) = (0u128, 0u128);
    for d in details {
        let n = d.get("inputTokens").and_then(Value::as_u64);
        match (d.get("ttl").and_then(Value::as_str), n) {
            (Some("1h"), Some(n)) => w1 += u128::from(n),
            (Some("5m"), Some(n)) => w5 += u128::from(n),
            _ => return (write, 0),
        }
    }
    if w5 + w1 == u128::from(write) {
        // Both fit in u64: they sum to a u64.
        (w5 as u64, w1 as u64)
    } else {
        (write, 0)
    }
}

fn inconsistent(reason: String) -> GuardError {
    GuardError::InconsistentUsage { reason }
}

/// The usage object inside a body, or the value itself.
fn usage_object(value: &Value) -> Result<&Value, GuardError> {
    let obj = value
        .get("usageMetadata")
        .or_else(|| value.get("usage"))
        .or_else(|| value.get("response").and_then(|r| r.get("usage")))
        .unwrap_or(value);
    if !obj.is_object() {
        return Err(GuardError::MissingUsage {
            reason: "the usage is not a JSON object".into(),
        });
    }
    Ok(obj)
}

fn detect(obj: &Value) -> Option<UsageFormat> {
    if obj.get("promptTokenCount").is_some() || obj.get("candidatesTokenCount").is_some() {
        Some(UsageFormat::Gemini)
    } else if obj.get("billed_units").is_some() {
        Some(UsageFormat::CohereV2)
    } else if obj.get("inputTokens").is_some() || obj.get("outputTokens").is_some() {
        Some(UsageFormat::Converse)
    } else if obj.get("prompt_tokens").is_some() {
        Some(UsageFormat::OpenAiChat)
    } else if obj.get("input_tokens_details").is_some()
        || obj.get("output_tokens_details").is_some()
    {
        Some(UsageFormat::OpenAiResponses)
    } else if obj.get("cache_creation_input_tokens").is_some()
        || obj.get("cache_read_input_tokens").is_some()
    {
        Some(UsageFormat::Anthropic)
    } else if obj.get("input_tokens").is_some() {
        // Ambiguous between Anthropic and Responses without details; both count
        // input the same way when nothing is cached.
        Some(UsageFormat::Anthropic)
    } else {
        None
    }
}

/// A token count at `path`: absent or null is 0; anything but a whole number >= 0 is an error.
fn count(obj: &Value, path: &[&str]) -> Result<u64, GuardError> {
    let mut v = obj;
    for key in path {
        match v.get(key) {
            Some(next) => v = next,
            None => return Ok(0),
        }
    }
    // The field's name only for an error: a well-formed count allocates nothing.
    let field = || path.join(".");
    match v {
        Value::Null => Ok(0),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Ok(u)
            } else if n.as_i64().is_some_and(|i| i < 0) || n.as_f64().is_some_and(|f| f < 0.0) {
                Err(GuardError::NegativeTokens { field: field() })
            } else if n
                .as_f64()
                .is_some_and(|f| f.fract() == 0.0 && f >= 18_446_744_073_709_551_616.0)
            {
                // serde_json reads an integer past u64 as a float: whole, just too large.
                Err(GuardError::TooManyTokens { field: field() })
            } else {
                Err(GuardError::NonIntegerTokens { field: field() })
            }
        }
        _ => Err(GuardError::NonIntegerTokens { field: field() }),
    }
}

#[cfg(test)]
mod tests;
