//! `Usage`: token counts normalised from each provider's usage object.
//!
//! The parts are disjoint, so each token is priced exactly once: no cached
//! token is also counted as uncached input, no reasoning token also as output.

use byok_keys::Provider;
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
    /// Prompt tokens neither read from nor written to a cache.
    pub input_tokens: u64,
    /// Prompt tokens read from the cache.
    pub cached_input_tokens: u64,
    /// Prompt tokens written to a 5-minute cache (Anthropic).
    pub cache_write_5m_tokens: u64,
    /// Prompt tokens written to a 1-hour cache (Anthropic).
    pub cache_write_1h_tokens: u64,
    /// Visible output tokens (reasoning excluded).
    pub output_tokens: u64,
    /// Reasoning / thinking tokens (billed as output, possibly at their own rate).
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
        let value: Value = serde_json::from_str(text).map_err(|e| GuardError::MissingUsage {
            reason: format!("the input is not JSON ({})", crate::error::json_problem(&e)),
        })?;
        Usage::from_value(&value)
    }

    /// As [`Usage::from_json`], from a parsed value.
    pub fn from_value(value: &Value) -> Result<Usage, GuardError> {
        let obj = usage_object(value)?;
        let format = detect(obj).ok_or_else(|| GuardError::MissingUsage {
            reason: "no known token fields (prompt_tokens, input_tokens, promptTokenCount)".into(),
        })?;
        Usage::from_format(format, obj)
    }

    /// Parse a usage object (or body) known to come from `provider`.
    pub fn from_provider_value(provider: Provider, value: &Value) -> Result<Usage, GuardError> {
        let obj = usage_object(value)?;
        let format = match (provider, detect(obj)) {
            (
                Provider::OpenAi,
                Some(f @ (UsageFormat::OpenAiChat | UsageFormat::OpenAiResponses)),
            ) => f,
            (Provider::Anthropic, Some(_)) if obj.get("input_tokens").is_some() => {
                UsageFormat::Anthropic
            }
            (Provider::Google, Some(UsageFormat::Gemini)) => UsageFormat::Gemini,
            _ => {
                return Err(GuardError::MissingUsage {
                    reason: format!("no {} usage fields", provider.as_str()),
                });
            }
        };
        Usage::from_format(format, obj)
    }

    /// Parse a usage object of a known format.
    pub fn from_format(format: UsageFormat, obj: &Value) -> Result<Usage, GuardError> {
        match format {
            UsageFormat::OpenAiChat => {
                let prompt = count(obj, &["prompt_tokens"])?;
                let completion = count(obj, &["completion_tokens"])?;
                let cached = count(obj, &["prompt_tokens_details", "cached_tokens"])?;
                let reasoning = count(obj, &["completion_tokens_details", "reasoning_tokens"])?;
                openai(
                    prompt,
                    completion,
                    cached,
                    reasoning,
                    "prompt_tokens",
                    "completion_tokens",
                )
            }
            UsageFormat::OpenAiResponses => {
                let input = count(obj, &["input_tokens"])?;
                let output = count(obj, &["output_tokens"])?;
                let cached = count(obj, &["input_tokens_details", "cached_tokens"])?;
                let reasoning = count(obj, &["output_tokens_details", "reasoning_tokens"])?;
                openai(
                    input,
                    output,
                    cached,
                    reasoning,
                    "input_tokens",
                    "output_tokens",
                )
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

fn openai(
    prompt: u64,
    completion: u64,
    cached: u64,
    reasoning: u64,
    prompt_field: &str,
    completion_field: &str,
) -> Result<Usage, GuardError> {
    if cached > prompt {
        return Err(inconsistent(format!(
            "cached_tokens ({cached}) exceeds {prompt_field} ({prompt}), which includes them"
        )));
    }
    if reasoning > completion {
        return Err(inconsistent(format!(
            "reasoning_tokens ({reasoning}) exceeds {completion_field} ({completion}), which includes them"
        )));
    }
    Ok(Usage {
        input_tokens: prompt - cached,
        cached_input_tokens: cached,
        output_tokens: completion - reasoning,
        reasoning_tokens: reasoning,
        ..Usage::default()
    })
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
    let field = path.join(".");
    match v {
        Value::Null => Ok(0),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Ok(u)
            } else if n.as_i64().is_some_and(|i| i < 0) || n.as_f64().is_some_and(|f| f < 0.0) {
                Err(GuardError::NegativeTokens { field })
            } else if n
                .as_f64()
                .is_some_and(|f| f.fract() == 0.0 && f >= 18_446_744_073_709_551_616.0)
            {
                // serde_json reads an integer past u64 as a float: whole, just too large.
                Err(GuardError::TooManyTokens { field })
            } else {
                Err(GuardError::NonIntegerTokens { field })
            }
        }
        _ => Err(GuardError::NonIntegerTokens { field }),
    }
}

#[cfg(test)]
mod tests;
