//! Free key-info probes ([`KeyInfoReader`]): what a provider says about a key
//! beyond "accepted" — credit limit and what is left, expiry, blocked flags,
//! model ACLs, balance — read into [`KeyInfo`] before anything is spent.
//!
//! Amounts are kept as the provider wrote them, as exact decimal strings
//! (`"12.5"`, `"0"`): JSON numbers are read as their text, never through a
//! float. Every field is optional and every byte hostile: a field of the wrong
//! type, a number in exponent form or an overlong text is dropped, never a panic.

use byok_keys::scrub;
use byok_keys::spec::KeyInfoReader;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::verdict::{InvalidReason, NoCreditsReason, RestrictedReason, Verdict};

/// Longest text kept from a key-info answer (label, dates), in characters.
const TEXT_MAX_CHARS: usize = 128;
/// Longest decimal kept, in characters.
const DECIMAL_MAX_CHARS: usize = 40;
/// Most model ACLs or balance entries kept.
const LIST_MAX: usize = 64;

/// What a free key-info probe said about a key (OpenRouter `GET /api/v1/key`,
/// xAI `GET /v1/api-key`, DeepSeek `GET /user/balance`, Cohere
/// `POST /v1/check-api-key`). In [`Report::key_info`](crate::Report::key_info).
///
/// Every field is `None` (or empty) when the provider did not say. Amounts are
/// exact decimal strings in the provider's unit (OpenRouter: credits = USD).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KeyInfo {
    /// The key's label or name (OpenRouter `label`, xAI `name`), scrubbed.
    pub label: Option<String>,
    /// OpenRouter: the key's credit limit in USD; `None` is no limit.
    pub limit_usd: Option<String>,
    /// OpenRouter: what is left of the key's limit, in USD.
    pub remaining_usd: Option<String>,
    /// OpenRouter: what the key has used, in USD.
    pub usage_usd: Option<String>,
    /// OpenRouter: when the limit resets (`daily`, `weekly`, `monthly`).
    pub limit_reset: Option<String>,
    /// OpenRouter: when the key expires (RFC 3339, as sent).
    pub expires_at: Option<String>,
    /// OpenRouter: a free-tier account.
    pub is_free_tier: Option<bool>,
    /// OpenRouter: a management (provisioning) key, for managing keys, not for models.
    pub is_management_key: Option<bool>,
    /// xAI: the key is blocked.
    pub blocked: Option<bool>,
    /// xAI: the key is disabled.
    pub disabled: Option<bool>,
    /// xAI: the key's team is blocked.
    pub team_blocked: Option<bool>,
    /// xAI: the models the key's ACLs allow (`*` for all); `None` when no ACL was sent.
    pub models_allowed: Option<Vec<String>>,
    /// DeepSeek: the balance per currency.
    pub balance: Vec<Balance>,
    /// DeepSeek: whether the balance is enough for requests (`is_available`).
    pub available: Option<bool>,
    /// Cohere: the answer of `check-api-key`.
    pub valid: Option<bool>,
}

/// One currency's balance (DeepSeek `balance_infos[]`), exact decimals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Balance {
    /// `USD`, `CNY`, ...
    pub currency: String,
    /// The whole balance.
    pub total: String,
    /// Of which granted (free) credit.
    pub granted: Option<String>,
    /// Of which topped up (paid) credit.
    pub topped_up: Option<String>,
}

impl KeyInfo {
    /// Read a 2xx answer of `reader`'s probe. `None` when the body is not the
    /// expected JSON object; `known` is the key sent, scrubbed from texts.
    pub(crate) fn read(reader: KeyInfoReader, body: &[u8], known: Option<&str>) -> Option<KeyInfo> {
        match reader {
            KeyInfoReader::OpenRouterKey => openrouter(body, known),
            KeyInfoReader::XAiApiKey => xai(body, known),
            KeyInfoReader::DeepSeekBalance => deepseek(body),
            KeyInfoReader::CohereCheck => cohere(body),
            // A reader newer than this crate: nothing read, the status decides.
            _ => None,
        }
    }

    /// The verdict the answer decides, if it decides one (a 2xx only says
    /// "accepted"): a used-up key limit, a blocked key, no balance, `valid: false`.
    pub(crate) fn verdict(&self) -> Option<Verdict> {
        if self.valid == Some(false) {
            return Some(Verdict::Invalid(InvalidReason::Unauthorized));
        }
        if self.team_blocked == Some(true) {
            return Some(Verdict::Invalid(InvalidReason::Deactivated));
        }
        if self.blocked == Some(true) || self.disabled == Some(true) {
            return Some(Verdict::Invalid(InvalidReason::Blocked));
        }
        if self.is_management_key == Some(true) {
            return Some(Verdict::Restricted(RestrictedReason::AdminKey));
        }
        if self.remaining_usd.as_deref().is_some_and(not_positive) {
            return Some(Verdict::NoCredits(NoCreditsReason::KeyLimit));
        }
        if self.available == Some(false) {
            return Some(Verdict::NoCredits(NoCreditsReason::CreditBalance));
        }
        None
    }
}

type Raw<'a> = Option<&'a RawValue>;

#[derive(Deserialize)]
struct OpenRouterEnvelope<'a> {
    #[serde(borrow)]
    data: Option<OpenRouterData<'a>>,
}

#[derive(Deserialize)]
struct OpenRouterData<'a> {
    #[serde(borrow, default)]
    label: Raw<'a>,
    #[serde(borrow, default)]
    limit: Raw<'a>,
    #[serde(borrow, default)]
    limit_remaining: Raw<'a>,
    #[serde(borrow, default)]
    usage: Raw<'a>,
    #[serde(borrow, default)]
    limit_reset: Raw<'a>,
    #[serde(borrow, default)]
    expires_at: Raw<'a>,
    #[serde(borrow, default)]
    is_free_tier: Raw<'a>,
    #[serde(borrow, default)]
    is_management_key: Raw<'a>,
    #[serde(borrow, default)]
    is_provisioning_key: Raw<'a>,
}

fn openrouter(body: &[u8], known: Option<&str>) -> Option<KeyInfo> {
    let d = serde_json::from_slice::<OpenRouterEnvelope<'_>>(body)
        .ok()?
        .data?;
    let management = match (boolean(d.is_management_key), boolean(d.is_provisioning_key)) {
        (None, None) => None,
        (a, b) => Some(a == Some(true) || b == Some(true)),
    };
    Some(KeyInfo {
        label: text(d.label, known),
        limit_usd: decimal(d.limit),
        remaining_usd: decimal(d.limit_remaining),
        usage_usd: decimal(d.usage),
        limit_reset: text(d.limit_reset, known),
        expires_at: text(d.expires_at, known),
        is_free_tier: boolean(d.is_free_tier),
        is_management_key: management,
        ..KeyInfo::default()
    })
}

#[derive(Deserialize)]
struct XAiKey<'a> {
    #[serde(borrow, default)]
    name: Raw<'a>,
    #[serde(borrow, default)]
    acls: Raw<'a>,
    #[serde(borrow, default)]
    api_key_blocked: Raw<'a>,
    #[serde(borrow, default)]
    api_key_disabled: Raw<'a>,
    #[serde(borrow, default)]
    team_blocked: Raw<'a>,
}

fn xai(body: &[u8], known: Option<&str>) -> Option<KeyInfo> {
    let k = serde_json::from_slice::<XAiKey<'_>>(body).ok()?;
    let models_allowed = k.acls.and_then(|raw| {
        let acls: Vec<&RawValue> = serde_json::from_str(raw.get()).ok()?;
        let models: Vec<String> = acls
            .into_iter()
            .filter_map(|a| text(Some(a), known))
            .filter_map(|a| a.strip_prefix("api-key:model:").map(str::to_owned))
            .filter(|m| m.bytes().all(|b| b.is_ascii_graphic()))
            .take(LIST_MAX)
            .collect();
        Some(models)
    });
    Some(KeyInfo {
        label: text(k.name, known),
        blocked: boolean(k.api_key_blocked),
        disabled: boolean(k.api_key_disabled),
        team_blocked: boolean(k.team_blocked),
        models_allowed,
        ..KeyInfo::default()
    })
}

#[derive(Deserialize)]
struct DeepSeekBalance<'a> {
    #[serde(borrow, default)]
    is_available: Raw<'a>,
    #[serde(borrow, default)]
    balance_infos: Raw<'a>,
}

#[derive(Deserialize)]
struct DeepSeekEntry<'a> {
    #[serde(borrow, default)]
    currency: Raw<'a>,
    #[serde(borrow, default)]
    total_balance: Raw<'a>,
    #[serde(borrow, default)]
    granted_balance: Raw<'a>,
    #[serde(borrow, default)]
    topped_up_balance: Raw<'a>,
}

fn deepseek(body: &[u8]) -> Option<KeyInfo> {
    let b = serde_json::from_slice::<DeepSeekBalance<'_>>(body).ok()?;
    let entries: Vec<&RawValue> = b
        .balance_infos
        .and_then(|raw| serde_json::from_str(raw.get()).ok())
        .unwrap_or_default();
    let balance = entries
        .into_iter()
        .filter_map(|e| serde_json::from_str::<DeepSeekEntry<'_>>(e.get()).ok())
        .filter_map(|e| {
            let currency = text(e.currency, None).filter(|c| {
                (1..=8).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_alphanumeric())
            })?;
            Some(Balance {
                currency,
                total: decimal(e.total_balance)?,
                granted: decimal(e.granted_balance),
                topped_up: decimal(e.topped_up_balance),
            })
        })
        .take(LIST_MAX)
        .collect();
    Some(KeyInfo {
        available: boolean(b.is_available),
        balance,
        ..KeyInfo::default()
    })
}

#[derive(Deserialize)]
struct CohereCheck<'a> {
    #[serde(borrow, default)]
    valid: Raw<'a>,
}

fn cohere(body: &[u8]) -> Option<KeyInfo> {
    let c = serde_json::from_slice::<CohereCheck<'_>>(body).ok()?;
    Some(KeyInfo {
        valid: boolean(c.valid),
        ..KeyInfo::default()
    })
}

fn boolean(raw: Raw<'_>) -> Option<bool> {
    match raw?.get().trim() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// A JSON string, scrubbed of the key and anything key-shaped, cut.
fn text(raw: Raw<'_>, known: Option<&str>) -> Option<String> {
    let s: String = serde_json::from_str(raw?.get()).ok()?;
    let s = scrub(s.trim(), known, TEXT_MAX_CHARS);
    (!s.is_empty()).then_some(s)
}

/// An exact decimal from a JSON number or a string holding one: `-?D+(.D+)?`,
/// at most 40 characters. Exponents, `NaN` and the like are dropped.
fn decimal(raw: Raw<'_>) -> Option<String> {
    let raw = raw?.get().trim();
    let owned;
    let s = if raw.starts_with('"') {
        owned = serde_json::from_str::<String>(raw).ok()?;
        owned.trim()
    } else {
        raw
    };
    is_decimal(s).then(|| s.to_owned())
}

fn is_decimal(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    s.len() <= DECIMAL_MAX_CHARS
        && !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether a decimal ([`is_decimal`]) is zero or negative, exactly.
fn not_positive(d: &str) -> bool {
    let any_nonzero = d.bytes().any(|b| (b'1'..=b'9').contains(&b));
    !any_nonzero || d.starts_with('-')
}

#[cfg(test)]
mod tests;
