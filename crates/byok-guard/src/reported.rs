//! `reported_cost`: the exact cost a provider reports for one call, labelled
//! `verified_by_provider`.
//!
//! Where a provider's response says what the call cost is in its spec
//! ([`reported_cost`](byok_keys::spec::ProviderSpec::reported_cost)):
//!
//! - xAI `usage.cost_in_usd_ticks`: a whole number of ticks, 10¹⁰ per USD, so
//!   one tick is exactly 100 picodollars. The billed amount after caching
//!   discounts, tools included; streamed responses carry it too.
//! - OpenRouter `usage.cost`: credits (= USD). For a BYOK call (`usage.is_byok`
//!   true) `cost` is only OpenRouter's fee, and the provider's own charge, paid
//!   on the user's provider account, is `usage.cost_details.upstream_inference_cost`:
//!   the recorded cost is **their sum**, since the user pays both. A BYOK usage
//!   without a readable upstream cost reports nothing (the fee alone would
//!   under-count).
//! - Perplexity `usage.cost.total_cost`: USD, request and search fees included
//!   (which no token count has).
//!
//! Amounts are read from the number's decimal text, never through `f64`
//! arithmetic: [`reported_cost_from_json`] reads the body's own text;
//! [`reported_cost`] reads a parsed value's number as serde_json renders it
//! (the original text for integers, the shortest text that round-trips for
//! others, which is the original text for up to 15 significant digits). A
//! fraction finer than one picodollar (a float's noise) is rounded to the
//! nearest picodollar ([`Usd::parse_rounded`]).
//!
//! Hostile input reports nothing (`None`: settle with the usage, `estimated`),
//! never panics: a missing field, a string, a negative, fractional ticks, a
//! number too large for any call (more than [`MAX_REPORTED_USD`] dollars).

use std::collections::BTreeMap;

use byok_keys::Provider;
use byok_keys::spec::ReportedCost;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::{Cost, Label, Usd};

/// Picodollars per xAI tick: 10¹² / 10¹⁰.
pub const PICOS_PER_TICK: i128 = 100;

/// The largest cost one call may report, in dollars; a larger figure is not
/// believed (the call is settled from its usage instead).
pub const MAX_REPORTED_USD: i64 = 1_000_000;

/// The cost `provider` reported in a response body (or its usage object),
/// labelled [`Label::VerifiedByProvider`]; `None` when the provider reports no
/// cost or this body has none readable ([module docs](self)).
///
/// ```
/// use byok_guard::{reported_cost, Label};
/// use byok_keys::Provider;
/// let body = serde_json::json!({"usage": {"prompt_tokens": 10, "completion_tokens": 5,
///     "cost_in_usd_ticks": 158_500}});
/// let cost = reported_cost(Provider::XAi, &body).unwrap();
/// assert_eq!(cost.usd.unwrap().to_string(), "0.00001585");
/// assert_eq!(cost.label, Label::VerifiedByProvider);
/// assert!(reported_cost(Provider::Groq, &body).is_none(), "Groq reports no cost");
/// ```
pub fn reported_cost(provider: Provider, body_or_usage: &Value) -> Option<Cost> {
    let how = provider.spec().reported_cost?;
    let usage = usage_of(body_or_usage, how)?;
    let number = |path: &[&str]| -> Option<String> {
        let mut v = usage;
        for key in path {
            v = v.get(key)?;
        }
        match v {
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let flag = usage.get("is_byok") == Some(&Value::Bool(true));
    verified(how, flag, number)
}

/// As [`reported_cost`], from the body's JSON text: the numbers' own decimal
/// text is read, so every digit the provider wrote counts.
///
/// ```
/// use byok_guard::reported_cost_from_json;
/// use byok_keys::Provider;
/// let body = r#"{"usage":{"prompt_tokens":1,"completion_tokens":1,"cost":0.000000123456789012,
///   "is_byok":false}}"#;
/// let cost = reported_cost_from_json(Provider::OpenRouter, body).unwrap();
/// assert_eq!(cost.usd.unwrap().picos(), 123_457); // 0.000000123456789012 USD, to the picodollar
/// ```
pub fn reported_cost_from_json(provider: Provider, body_or_usage: &str) -> Option<Cost> {
    let how = provider.spec().reported_cost?;
    let top: Members<'_> = serde_json::from_str(body_or_usage).ok()?;
    let usage = raw_usage_of(top, how)?;
    let flag = usage
        .get("is_byok")
        .is_some_and(|v| v.get().trim() == "true");
    let number = |path: &[&str]| -> Option<String> {
        let (last, parents) = path.split_last()?;
        let mut members = usage.clone();
        for key in parents {
            members = serde_json::from_str(members.get(*key)?.get()).ok()?;
        }
        let text = members.get(*last)?.get().trim();
        // Only JSON numbers: a string, bool, null, object or array is not an amount.
        (text.starts_with('-') || text.starts_with(|c: char| c.is_ascii_digit()))
            .then(|| text.to_owned())
    };
    verified(how, flag, number)
}

type Members<'a> = BTreeMap<String, &'a RawValue>;

/// The usage object with the cost in it: the body's `usage` (or
/// `response.usage`, Responses' terminal event), or the value itself.
fn usage_of(v: &Value, how: ReportedCost) -> Option<&Value> {
    let member = cost_member(how)?;
    let has = |u: &Value| u.get(member).is_some();
    [
        v.get("usage"),
        v.get("response").and_then(|r| r.get("usage")),
        Some(v),
    ]
    .into_iter()
    .flatten()
    .find(|u| u.is_object() && has(u))
}

fn raw_usage_of<'a>(top: Members<'a>, how: ReportedCost) -> Option<Members<'a>> {
    let member = cost_member(how)?;
    let obj = |raw: Option<&&'a RawValue>| -> Option<Members<'a>> {
        serde_json::from_str(raw?.get()).ok()
    };
    if let Some(u) = obj(top.get("usage")).filter(|u| u.contains_key(member)) {
        return Some(u);
    }
    if let Some(u) = obj(top.get("response"))
        .and_then(|r| obj(r.get("usage")))
        .filter(|u| u.contains_key(member))
    {
        return Some(u);
    }
    top.contains_key(member).then_some(top)
}

/// The usage member that holds the cost.
fn cost_member(how: ReportedCost) -> Option<&'static str> {
    match how {
        ReportedCost::XAiTicks => Some("cost_in_usd_ticks"),
        ReportedCost::OpenRouterCredits | ReportedCost::PerplexityUsd => Some("cost"),
        // A shape added to the spec later is not read until taught here.
        _ => None,
    }
}

/// The verified cost, from a reader of a number's text at a path in the usage.
fn verified(
    how: ReportedCost,
    is_byok: bool,
    number: impl Fn(&[&str]) -> Option<String>,
) -> Option<Cost> {
    let usd = match how {
        ReportedCost::XAiTicks => ticks(&number(&["cost_in_usd_ticks"])?)?,
        ReportedCost::OpenRouterCredits => {
            let fee = dollars(&number(&["cost"])?)?;
            if is_byok {
                let upstream = dollars(&number(&["cost_details", "upstream_inference_cost"])?)?;
                believable(fee.checked_add(upstream).ok()?)?
            } else {
                fee
            }
        }
        ReportedCost::PerplexityUsd => dollars(&number(&["cost", "total_cost"])?)?,
        _ => return None,
    };
    Some(Cost {
        usd: Some(usd),
        label: Label::VerifiedByProvider,
        tier: None,
    })
}

/// xAI ticks (a whole number, at least 0) to dollars, exactly.
pub(crate) fn ticks(text: &str) -> Option<Usd> {
    let text = text.trim();
    if text.is_empty() || text.len() > 40 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i128 = text.parse().ok()?;
    believable(Usd::from_picos(n.checked_mul(PICOS_PER_TICK)?))
}

/// A reported dollar amount's text, to the nearest picodollar.
fn dollars(text: &str) -> Option<Usd> {
    believable(Usd::parse_rounded(text.trim()).ok()?)
}

fn believable(usd: Usd) -> Option<Usd> {
    (!usd.is_negative() && usd <= Usd::from_dollars(MAX_REPORTED_USD)).then_some(usd)
}

#[cfg(test)]
mod tests;
