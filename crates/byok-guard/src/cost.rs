//! `Cost`: an amount with a label that says how sure it is.

use serde::{Deserialize, Serialize};

use byok_keys::Provider;

use crate::price::{ModelPrice, PriceBook, Rates, TierName};
use crate::{GuardError, Usage, Usd};

/// How sure a cost figure is. Shown to users next to every amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Label {
    /// Computed by us from the provider's usage and our price book ("Estimated").
    Estimated,
    /// Reported by the provider's own cost API ("Verified by provider").
    VerifiedByProvider,
    /// Our estimate, waiting for the provider's cost report to cover it ("Pending provider sync").
    PendingProviderSync,
    /// No price known: there is no amount ("Cost unavailable"), never $0.
    Unavailable,
}

impl Label {
    /// Every label.
    pub const ALL: [Label; 4] = [
        Label::Estimated,
        Label::VerifiedByProvider,
        Label::PendingProviderSync,
        Label::Unavailable,
    ];

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Estimated => "estimated",
            Label::VerifiedByProvider => "verified_by_provider",
            Label::PendingProviderSync => "pending_provider_sync",
            Label::Unavailable => "unavailable",
        }
    }

    /// The words a UI shows.
    pub fn human(self) -> &'static str {
        match self {
            Label::Estimated => "Estimated",
            Label::VerifiedByProvider => "Verified by provider",
            Label::PendingProviderSync => "Pending provider sync",
            Label::Unavailable => "Cost unavailable",
        }
    }
}

impl std::str::FromStr for Label {
    type Err = GuardError;
    fn from_str(s: &str) -> Result<Label, GuardError> {
        Label::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| GuardError::InvalidBudget {
                reason: format!("unknown cost label {s:?}; use estimated, verified_by_provider, pending_provider_sync or unavailable"),
            })
    }
}

/// The cost of one call. `usd` is `None` exactly when `label` is `Unavailable`.
///
/// Serialises as `{"usd": "0.0025" | null, "label": "estimated", "label_text":
/// "Estimated", "tier": "base" | null}`: `label_text` is what a UI shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cost {
    /// The amount, absent when unavailable.
    pub usd: Option<Usd>,
    /// How sure the amount is.
    pub label: Label,
    /// The price tier used, absent when unavailable.
    pub tier: Option<TierName>,
}

impl Serialize for Cost {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Cost", 4)?;
        st.serialize_field("usd", &self.usd)?;
        st.serialize_field("label", &self.label)?;
        st.serialize_field("label_text", self.label.human())?;
        st.serialize_field("tier", &self.tier)?;
        st.end()
    }
}

impl Cost {
    /// A cost we cannot know: no amount.
    pub const UNAVAILABLE: Cost = Cost {
        usd: None,
        label: Label::Unavailable,
        tier: None,
    };
}

impl PriceBook {
    /// The cost of a call to `model` with `usage`, labelled `estimated`, or
    /// `unavailable` (no amount) when the model has no price.
    ///
    /// ```
    /// use byok_guard::{Label, PriceBook, Usage};
    /// let usage = Usage { input_tokens: 1_000_000, output_tokens: 1_000_000, ..Usage::default() };
    /// let cost = PriceBook::embedded().cost("gpt-4o", &usage).unwrap();
    /// assert_eq!(cost.usd.unwrap().to_string(), "12.5");
    /// assert_eq!(cost.label, Label::Estimated);
    /// let unknown = PriceBook::embedded().cost("my-finetune", &usage).unwrap();
    /// assert_eq!((unknown.usd, unknown.label), (None, Label::Unavailable));
    /// ```
    pub fn cost(&self, model: &str, usage: &Usage) -> Result<Cost, GuardError> {
        priced(self.get(model), usage)
    }

    /// As [`cost`](PriceBook::cost), with `model` as `provider` bills it
    /// ([`get_for`](PriceBook::get_for)): never another provider's price.
    ///
    /// ```
    /// use byok_guard::{Label, PriceBook, Usage};
    /// use byok_keys::Provider;
    /// let usage = Usage { input_tokens: 1_000_000, output_tokens: 1_000_000, ..Usage::default() };
    /// // Groq's llama-3.1-8b-instant: $0.05 in, $0.08 out per 1M.
    /// let cost = PriceBook::embedded().cost_for(Provider::Groq, "llama-3.1-8b-instant", &usage)?;
    /// assert_eq!(cost.usd.unwrap().to_string(), "0.13");
    /// let elsewhere = PriceBook::embedded().cost_for(Provider::Mistral, "llama-3.1-8b-instant", &usage)?;
    /// assert_eq!(elsewhere.label, Label::Unavailable);
    /// # Ok::<(), byok_guard::GuardError>(())
    /// ```
    pub fn cost_for(
        &self,
        provider: Provider,
        model: &str,
        usage: &Usage,
    ) -> Result<Cost, GuardError> {
        priced(self.get_for(provider, model), usage)
    }
}

fn priced(price: Option<&ModelPrice>, usage: &Usage) -> Result<Cost, GuardError> {
    let Some(price) = price else {
        return Ok(Cost::UNAVAILABLE);
    };
    let (tier, rates) = price.tier_for(usage.prompt_tokens());
    Ok(Cost {
        usd: Some(price_usage(rates, usage)?),
        label: Label::Estimated,
        tier: Some(tier),
    })
}

/// Σ tokens × rate over the disjoint parts of `usage`.
pub(crate) fn price_usage(rates: &Rates, usage: &Usage) -> Result<Usd, GuardError> {
    Usd::checked_sum([
        rates.input.checked_mul_tokens(usage.input_tokens)?,
        rates
            .cache_read
            .checked_mul_tokens(usage.cached_input_tokens)?,
        rates
            .cache_write_5m
            .checked_mul_tokens(usage.cache_write_5m_tokens)?,
        rates
            .cache_write_1h
            .checked_mul_tokens(usage.cache_write_1h_tokens)?,
        rates.output.checked_mul_tokens(usage.output_tokens)?,
        rates.reasoning.checked_mul_tokens(usage.reasoning_tokens)?,
    ])
}

/// `cost` with the embedded price book.
pub fn cost(model: &str, usage: &Usage) -> Result<Cost, GuardError> {
    PriceBook::embedded().cost(model, usage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn usd(s: &str) -> Option<Usd> {
        Some(s.parse().unwrap())
    }

    fn cost_of(model: &str, body: serde_json::Value) -> Cost {
        cost(model, &Usage::from_value(&body).unwrap()).unwrap()
    }

    #[test]
    fn openai_cached_tokens_are_priced_once_at_the_cache_rate() {
        // gpt-4o: $2.50 in, $1.25 cached, $10 out per 1M.
        let c = cost_of(
            "gpt-4o",
            json!({"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000,
            "prompt_tokens_details": {"cached_tokens": 400_000}}),
        );
        // 600k × 2.5 + 400k × 1.25 + 1M × 10 = 1.5 + 0.5 + 10
        assert_eq!(c.usd, usd("12"));
        assert_eq!(c.tier, Some(TierName::BASE));
    }

    #[test]
    fn reasoning_tokens_use_the_output_rate_when_no_own_rate() {
        let r = PriceBook::embedded().get("o3").unwrap().base;
        assert_eq!(r.reasoning, r.output);
        let c = cost_of(
            "o3",
            json!({"input_tokens": 0, "output_tokens": 1000,
            "output_tokens_details": {"reasoning_tokens": 900}}),
        );
        assert_eq!(c.usd, Some(r.output.checked_mul_tokens(1000).unwrap()));
    }

    #[test]
    fn anthropic_cache_reads_and_5m_and_1h_writes() {
        // claude-sonnet-4-5: in 3, out 15, read 0.30, write 5m 3.75, write 1h 6 ($/1M).
        let c = cost_of(
            "claude-sonnet-4-5",
            json!({"input_tokens": 1000, "output_tokens": 1000,
            "cache_read_input_tokens": 10_000, "cache_creation_input_tokens": 3000,
            "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000}}),
        );
        // 0.003 + 0.015 + 0.003 + 0.00375 + 0.012
        assert_eq!(c.usd, usd("0.03675"));
    }

    #[test]
    fn anthropic_long_context_tier_exactly_at_and_one_above() {
        let at = cost_of(
            "claude-sonnet-4-5",
            json!({"input_tokens": 150_000, "output_tokens": 1000,
            "cache_read_input_tokens": 50_000}),
        );
        assert_eq!(at.tier, Some(TierName::BASE));
        // 150k × 3 + 50k × 0.3 + 1k × 15 = 0.45 + 0.015 + 0.015
        assert_eq!(at.usd, usd("0.48"));
        let above = cost_of(
            "claude-sonnet-4-5",
            json!({"input_tokens": 150_001, "output_tokens": 1000,
            "cache_read_input_tokens": 50_000}),
        );
        assert_eq!(above.tier.unwrap().to_string(), "above_200k_tokens");
        // every rate switches: 150001 × 6 + 50k × 0.6 + 1k × 22.5
        assert_eq!(above.usd, usd("0.952506"));
    }

    #[test]
    fn gemini_tier_and_thoughts_as_output() {
        // gemini-2.5-pro: in 1.25 / out 10, above 200k: in 2.5 / out 15, cache read .125 / .25.
        let at = cost_of(
            "gemini-2.5-pro",
            json!({"usageMetadata": {"promptTokenCount": 200_000,
            "candidatesTokenCount": 100, "thoughtsTokenCount": 900}}),
        );
        assert_eq!(at.usd, usd("0.26"));
        let above = cost_of(
            "gemini-2.5-pro",
            json!({"usageMetadata": {"promptTokenCount": 200_001,
            "cachedContentTokenCount": 1, "candidatesTokenCount": 100, "thoughtsTokenCount": 900}}),
        );
        // 200000 × 2.5 + 1 × 0.25 + 1000 × 15
        assert_eq!(above.usd, usd("0.51500025"));
    }

    #[test]
    fn unknown_model_is_unavailable_never_zero() {
        let c = cost(
            "ft:gpt-4o:acme::abc",
            &Usage {
                input_tokens: 5,
                ..Usage::default()
            },
        )
        .unwrap();
        assert_eq!(c, Cost::UNAVAILABLE);
        assert_eq!(
            serde_json::to_value(c).unwrap(),
            json!({"usd": null, "label": "unavailable", "label_text": "Cost unavailable", "tier": null})
        );
    }

    #[test]
    fn cost_serialises_with_decimal_string() {
        let c = cost(
            "gpt-4o",
            &Usage {
                output_tokens: 1,
                ..Usage::default()
            },
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(c).unwrap(),
            json!({"usd": "0.00001", "label": "estimated", "label_text": "Estimated", "tier": "base"})
        );
    }
}
