//! `estimate`: the worst-case cost of a call before it is made.
//!
//! Prompt tokens: OpenAI models are counted exactly with `bpe-openai`
//! (`o200k_base` for gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o-series, chatgpt and
//! gpt-oss; `cl100k_base` for gpt-4 and gpt-3.5). Anthropic and Gemini
//! tokenizers are not public, so their prompts are estimated conservatively:
//! the `o200k_base` count × 1.35 (Anthropic) or × 1.25 (Gemini), rounded up,
//! plus 16 tokens of framing. See `docs/COSTS.md` for the accuracy of each.
//!
//! The worst case prices the whole prompt as uncached input at the tier its
//! size lands in, and the full output cap at the higher of the output and
//! reasoning rates.

use byok_keys::Provider;
use serde::Serialize;

use crate::cost::{Cost, Label};
use crate::price::PriceBook;
use crate::{GuardError, Usd};

/// What the prompt is: its text, or a token count the caller already knows.
#[derive(Clone, Copy, Debug)]
pub enum Prompt<'a> {
    /// The prompt text (all messages concatenated).
    Text(&'a str),
    /// A known prompt token count.
    Tokens(u64),
    /// A count already made with [`count_tokens_for`] for this provider and
    /// model, kept with how it was made (a call counts its prompt once, for the
    /// reservation and the stream's fallback estimate alike).
    Counted(u64, TokenCounting),
}

/// How a prompt's tokens were counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenCounting {
    /// Exact, with OpenAI's `o200k_base`.
    O200k,
    /// Exact, with OpenAI's `cl100k_base`.
    Cl100k,
    /// The conservative estimate for providers whose tokenizer is not public.
    Conservative,
    /// Given by the caller.
    Given,
}

/// A worst-case estimate of one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Estimate {
    /// Prompt tokens (counted or given).
    pub input_tokens: u64,
    /// How they were counted.
    pub counting: TokenCounting,
    /// The output cap priced.
    pub output_tokens: u64,
    /// The worst-case cost, labelled `estimated` (or `unavailable`).
    pub cost: Cost,
}

/// Count `text`'s tokens as `model` would, exactly for OpenAI models and
/// conservatively (over, not under, for typical text) for others.
///
/// ```
/// use byok_guard::{count_tokens, TokenCounting};
/// assert_eq!(count_tokens("gpt-4o", "hello world"), (2, TokenCounting::O200k));
/// assert_eq!(count_tokens("gpt-4", "hello world"), (2, TokenCounting::Cl100k));
/// let (n, how) = count_tokens("claude-sonnet-4-5", "hello world");
/// assert!(n >= 2 && how == TokenCounting::Conservative);
/// ```
pub fn count_tokens(model: &str, text: &str) -> (u64, TokenCounting) {
    let provider = PriceBook::embedded().get(model).map(|p| p.provider);
    count_with(provider, model, text)
}

/// Count `text`'s tokens for a call to `provider`: exactly with OpenAI's
/// tokenizers for OpenAI, and for Azure OpenAI when the model is an OpenAI
/// model (a deployment name that does not say is counted conservatively), and
/// conservatively for every other provider (their tokenizers are not
/// `o200k_base`: × 1.35 + 16, Gemini × 1.25 + 16).
///
/// ```
/// use byok_guard::{count_tokens_for, TokenCounting};
/// use byok_keys::Provider;
/// assert_eq!(count_tokens_for(Provider::AzureOpenAi, "gpt-4o", "hello world"), (2, TokenCounting::O200k));
/// let (n, how) = count_tokens_for(Provider::Groq, "llama-3.1-8b-instant", "hello world");
/// assert!(n > 2 && how == TokenCounting::Conservative);
/// // OpenRouter's `openai/…` models are still counted conservatively: its router may add framing.
/// assert_eq!(count_tokens_for(Provider::OpenRouter, "openai/gpt-4o", "hi").1, TokenCounting::Conservative);
/// ```
pub fn count_tokens_for(provider: Provider, model: &str, text: &str) -> (u64, TokenCounting) {
    if provider == Provider::AzureOpenAi && !looks_openai(model) {
        // An Azure deployment named otherwise (or a non-OpenAI model it hosts):
        // its tokenizer is unknown.
        return conservative(Some(provider), text);
    }
    count_with(Some(provider), model, text)
}

/// Providers that serve OpenAI's own models with OpenAI's tokenizers (a fact
/// the provider specs do not carry).
fn uses_openai_tokenizer(provider: Provider) -> bool {
    matches!(provider, Provider::OpenAi | Provider::AzureOpenAi)
}

fn count_with(provider: Option<Provider>, model: &str, text: &str) -> (u64, TokenCounting) {
    let openai_like =
        provider.is_some_and(uses_openai_tokenizer) || (provider.is_none() && looks_openai(model));
    if openai_like {
        if uses_cl100k(model) {
            return (
                bpe_openai::cl100k_base().count(text) as u64,
                TokenCounting::Cl100k,
            );
        }
        return (
            bpe_openai::o200k_base().count(text) as u64,
            TokenCounting::O200k,
        );
    }
    conservative(provider, text)
}

/// The conservative count: `o200k_base` × 1.35 (× 1.25 for Gemini), rounded up, + 16.
fn conservative(provider: Option<Provider>, text: &str) -> (u64, TokenCounting) {
    let base = bpe_openai::o200k_base().count(text) as u64;
    // Ratios in hundredths, integer math: ceil(base × ratio / 100) + framing.
    let ratio: u64 = if provider == Some(Provider::Google) {
        125
    } else {
        135
    };
    let scaled = (u128::from(base) * u128::from(ratio)).div_ceil(100);
    (
        u64::try_from(scaled).unwrap_or(u64::MAX).saturating_add(16),
        TokenCounting::Conservative,
    )
}

fn bare(model: &str) -> &str {
    model.strip_prefix("openai/").unwrap_or(model)
}

fn looks_openai(model: &str) -> bool {
    let m = bare(model);
    m.starts_with("gpt-") || m.starts_with("chatgpt") || m.starts_with("ft:gpt") || is_o_series(m)
}

fn is_o_series(m: &str) -> bool {
    let b = m.as_bytes();
    b.len() >= 2 && b[0] == b'o' && b[1].is_ascii_digit()
}

/// gpt-4 (not 4o / 4.1 / 4.5) and gpt-3.5 use cl100k; everything newer uses o200k.
fn uses_cl100k(model: &str) -> bool {
    let m = bare(model);
    let m = m.strip_prefix("ft:").unwrap_or(m);
    if m.starts_with("gpt-3.5") || m.starts_with("gpt-35") {
        return true;
    }
    match m.strip_prefix("gpt-4") {
        Some(rest) => !(rest.starts_with('o') || rest.starts_with('.')),
        None => false,
    }
}

impl PriceBook {
    /// The worst-case cost of calling `model` with `prompt` and at most
    /// `max_output_tokens` (else the model's maximum output).
    ///
    /// ```
    /// use byok_guard::{Prompt, PriceBook};
    /// let e = PriceBook::embedded().estimate("gpt-4o", Prompt::Tokens(1000), Some(500)).unwrap();
    /// // 1000 × $2.50/1M + 500 × $10/1M
    /// assert_eq!(e.cost.usd.unwrap().to_string(), "0.0075");
    /// ```
    pub fn estimate(
        &self,
        model: &str,
        prompt: Prompt<'_>,
        max_output_tokens: Option<u64>,
    ) -> Result<Estimate, GuardError> {
        let price = self.get(model);
        let (input_tokens, counting) = match prompt {
            Prompt::Tokens(n) => (n, TokenCounting::Given),
            Prompt::Counted(n, counting) => (n, counting),
            Prompt::Text(t) => count_with(price.map(|p| p.provider), model, t),
        };
        worst_case(price, model, input_tokens, counting, max_output_tokens)
    }

    /// As [`estimate`](PriceBook::estimate), for a call to `provider`: its
    /// price ([`get_for`](PriceBook::get_for)) and its token counting
    /// ([`count_tokens_for`]).
    ///
    /// ```
    /// use byok_guard::{Prompt, PriceBook};
    /// use byok_keys::Provider;
    /// let e = PriceBook::embedded()
    ///     .estimate_for(Provider::Groq, "llama-3.1-8b-instant", Prompt::Tokens(1000), Some(500))?;
    /// // 1000 × $0.05/1M + 500 × $0.08/1M
    /// assert_eq!(e.cost.usd.unwrap().to_string(), "0.00009");
    /// # Ok::<(), byok_guard::GuardError>(())
    /// ```
    pub fn estimate_for(
        &self,
        provider: Provider,
        model: &str,
        prompt: Prompt<'_>,
        max_output_tokens: Option<u64>,
    ) -> Result<Estimate, GuardError> {
        let price = self.get_for(provider, model);
        let (input_tokens, counting) = match prompt {
            Prompt::Tokens(n) => (n, TokenCounting::Given),
            Prompt::Counted(n, counting) => (n, counting),
            Prompt::Text(t) => count_tokens_for(provider, model, t),
        };
        worst_case(price, model, input_tokens, counting, max_output_tokens)
    }
}

fn worst_case(
    price: Option<&crate::price::ModelPrice>,
    model: &str,
    input_tokens: u64,
    counting: TokenCounting,
    max_output_tokens: Option<u64>,
) -> Result<Estimate, GuardError> {
    let Some(price) = price else {
        return Ok(Estimate {
            input_tokens,
            counting,
            output_tokens: max_output_tokens.unwrap_or(0),
            cost: Cost::UNAVAILABLE,
        });
    };
    let output_tokens = max_output_tokens
        .or(price.max_output_tokens)
        .ok_or_else(|| GuardError::OutputCapUnknown {
            model: model.to_owned(),
        })?;
    let (tier, rates) = price.tier_for(input_tokens);
    let out_rate = rates.output.max(rates.reasoning);
    let usd = Usd::checked_sum([
        rates.input.checked_mul_tokens(input_tokens)?,
        out_rate.checked_mul_tokens(output_tokens)?,
    ])?;
    Ok(Estimate {
        input_tokens,
        counting,
        output_tokens,
        cost: Cost {
            usd: Some(usd),
            label: Label::Estimated,
            tier: Some(tier),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_by_model_family() {
        for (m, want) in [
            ("gpt-4o", TokenCounting::O200k),
            ("gpt-4o-mini", TokenCounting::O200k),
            ("gpt-4.1", TokenCounting::O200k),
            ("gpt-5", TokenCounting::O200k),
            ("o3-mini", TokenCounting::O200k),
            ("gpt-4", TokenCounting::Cl100k),
            ("gpt-4-turbo", TokenCounting::Cl100k),
            ("gpt-3.5-turbo", TokenCounting::Cl100k),
            ("claude-sonnet-4-5", TokenCounting::Conservative),
            ("gemini-2.5-pro", TokenCounting::Conservative),
        ] {
            assert_eq!(count_tokens(m, "Hello, world!").1, want, "{m}");
        }
    }

    #[test]
    fn conservative_counts_exceed_o200k() {
        let text = "The quick brown fox jumps over the lazy dog. ".repeat(50);
        let exact = bpe_openai::o200k_base().count(&text) as u64;
        let (claude, _) = count_tokens("claude-sonnet-4-5", &text);
        let (gemini, _) = count_tokens("gemini-2.5-pro", &text);
        assert_eq!(claude, (exact * 135).div_ceil(100) + 16);
        assert_eq!(gemini, (exact * 125).div_ceil(100) + 16);
    }

    #[test]
    fn input_lands_in_its_tier_and_output_defaults_to_model_max() {
        let book = PriceBook::embedded();
        let at = book
            .estimate("claude-sonnet-4-5", Prompt::Tokens(200_000), Some(0))
            .unwrap();
        assert_eq!(at.cost.usd.unwrap().to_string(), "0.6");
        let above = book
            .estimate("claude-sonnet-4-5", Prompt::Tokens(200_001), Some(0))
            .unwrap();
        assert_eq!(above.cost.usd.unwrap().to_string(), "1.200006");
        let max = book
            .estimate("claude-sonnet-4-5", Prompt::Tokens(0), None)
            .unwrap();
        assert_eq!(max.output_tokens, 64_000);
        assert_eq!(max.cost.usd.unwrap().to_string(), "0.96");
    }

    #[test]
    fn unknown_model_estimate_is_unavailable() {
        let e = PriceBook::embedded()
            .estimate("mystery", Prompt::Text("hi"), None)
            .unwrap();
        assert_eq!(e.cost, Cost::UNAVAILABLE);
    }

    #[test]
    fn missing_output_cap_is_an_error() {
        let mut book = PriceBook::default();
        let mut p = PriceBook::embedded().get("gpt-4o").unwrap().clone();
        p.max_output_tokens = None;
        book.insert("capless", p);
        let err = book
            .estimate("capless", Prompt::Tokens(1), None)
            .unwrap_err();
        assert_eq!(err.code(), "output_cap_unknown");
    }
}
