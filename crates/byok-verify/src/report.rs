//! The result of one verification, ready for a UI (serde) and for logs.

use core::fmt;
use core::str::FromStr;
use std::time::Duration;

use byok_keys::{Fingerprint, Provider};
use serde::{Deserialize, Serialize, Serializer};

use crate::duration::{serialize_ms, serialize_opt_ms};
use crate::keyinfo::KeyInfo;
use crate::ratelimit::RateLimits;
use crate::verdict::Verdict;

/// How far a verification goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Depth {
    /// The free call (list models, or the provider's key-info probe): proves the
    /// key is accepted, not that it can pay — except where the key-info probe
    /// says so (OpenRouter key limit, DeepSeek balance). A provider without any
    /// free probe (Perplexity, Bedrock) gets its billable probe even here: one
    /// request of the fewest output tokens the API accepts.
    Auth,
    /// The free call, then the cheapest billable call (1 output token). The
    /// default, because "valid" should mean "works and has credits".
    #[default]
    Billing,
}

impl Depth {
    /// `auth` or `billing`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Depth::Auth => "auth",
            Depth::Billing => "billing",
        }
    }
}

impl fmt::Display for Depth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Depth {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auth" => Ok(Depth::Auth),
            "billing" => Ok(Depth::Billing),
            other => Err(format!("unknown depth {other:?}: expected auth or billing")),
        }
    }
}

/// Which call decided the verdict. Per provider the free probe is
/// [`KeyInfo`](Probe::KeyInfo) where its spec has one (OpenRouter, xAI,
/// DeepSeek, Cohere), else [`ListModels`](Probe::ListModels); then
/// [`Billable`](Probe::Billable) at [`Depth::Billing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Probe {
    /// The free list-models call (the spec's `models_path`): `GET /v1/models`
    /// (OpenAI, Anthropic, xAI, Mistral, Together), `GET /v1beta/models`
    /// (Gemini), `GET /openai/v1/models` (Groq), Azure's deployments list, ...
    ListModels,
    /// The 1-output-token request: `/v1/chat/completions`, `/v1/messages`,
    /// `:generateContent`, Bedrock `converse`, Cohere `/v2/chat`, Perplexity `/v1/responses`.
    Billable,
    /// The free key-info call (OpenRouter `GET /api/v1/key`, xAI `GET /v1/api-key`,
    /// DeepSeek `GET /user/balance`, Cohere `POST /v1/check-api-key`): read into
    /// [`Report::key_info`].
    KeyInfo,
}

/// What a verification found. Holds the key's mask and fingerprint, never the key.
///
/// Serialises (for UIs and `byok test --json`) as an object with `provider`,
/// `masked`, `fingerprint`, `depth`, `verdict` (code), `reason`, `message`,
/// `remediation`, `attempts`, `elapsed_ms`, `waited_ms`, `retry_after_ms`,
/// `probe`, `http_status`, `provider_code`, `provider_message`, `request_id`
/// `rate_limits` and `key_info`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// The key's provider.
    pub provider: Provider,
    /// The key's mask (`sk-proj-…Q8xA`).
    pub masked: String,
    /// The key's fingerprint.
    pub fingerprint: Fingerprint,
    /// How far the verification went.
    pub depth: Depth,
    /// The verdict.
    pub verdict: Verdict,
    /// The probe whose answer decided, `None` when no request was needed.
    pub probe: Option<Probe>,
    /// HTTP requests attempted, all probes and retries included (one cut off by
    /// the deadline before it was sent counts too).
    pub attempts: u32,
    /// Wall time of the whole verification.
    pub elapsed: Duration,
    /// Time spent waiting between retries (server hints or backoff).
    pub waited: Duration,
    /// How long the provider asked to wait (rate limited or unavailable only).
    pub retry_after: Option<Duration>,
    /// HTTP status of the deciding answer.
    pub http_status: Option<u16>,
    /// The provider's error code or type in the deciding answer.
    pub provider_code: Option<String>,
    /// The provider's error message, with anything shaped like a key masked.
    pub provider_message: Option<String>,
    /// The provider's request id of the deciding answer, for support tickets.
    pub request_id: Option<String>,
    /// Rate-limit state from the last answer's headers.
    pub rate_limits: RateLimits,
    /// What the provider's free key-info probe said (credit limit and what is
    /// left, expiry, blocked flags, model ACLs, balance), when it has one and
    /// answered; shown before anything is spent.
    pub key_info: Option<KeyInfo>,
}

impl Report {
    /// Stable code of the verdict (`valid`, `no_credits`, ...).
    pub fn code(&self) -> &'static str {
        self.verdict.code()
    }

    /// One line for a person.
    pub fn message(&self) -> &'static str {
        self.verdict.message()
    }

    /// What the person should do.
    pub fn remediation(&self) -> String {
        self.verdict.remediation(self.provider)
    }
}

#[derive(Serialize)]
struct ReportJson<'a> {
    provider: Provider,
    masked: &'a str,
    fingerprint: &'a Fingerprint,
    depth: Depth,
    verdict: &'static str,
    reason: Option<&'static str>,
    message: &'static str,
    remediation: String,
    attempts: u32,
    #[serde(serialize_with = "serialize_ms")]
    elapsed_ms: Duration,
    #[serde(serialize_with = "serialize_ms")]
    waited_ms: Duration,
    #[serde(serialize_with = "serialize_opt_ms")]
    retry_after_ms: Option<Duration>,
    probe: Option<Probe>,
    http_status: Option<u16>,
    provider_code: Option<&'a str>,
    provider_message: Option<&'a str>,
    request_id: Option<&'a str>,
    rate_limits: &'a RateLimits,
    key_info: Option<&'a KeyInfo>,
}

impl Serialize for Report {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ReportJson {
            provider: self.provider,
            masked: &self.masked,
            fingerprint: &self.fingerprint,
            depth: self.depth,
            verdict: self.verdict.code(),
            reason: self.verdict.reason(),
            message: self.verdict.message(),
            remediation: self.remediation(),
            attempts: self.attempts,
            elapsed_ms: self.elapsed,
            waited_ms: self.waited,
            retry_after_ms: self.retry_after,
            probe: self.probe,
            http_status: self.http_status,
            provider_code: self.provider_code.as_deref(),
            provider_message: self.provider_message.as_deref(),
            request_id: self.request_id.as_deref(),
            rate_limits: &self.rate_limits,
            key_info: self.key_info.as_ref(),
        }
        .serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::NoCreditsReason;

    #[test]
    fn serialises_with_the_public_field_names() {
        let report = Report {
            provider: Provider::OpenAi,
            masked: "sk-proj-…Q8xA".to_owned(),
            fingerprint: Fingerprint::of("not a key"),
            depth: Depth::Billing,
            verdict: Verdict::NoCredits(NoCreditsReason::InsufficientQuota),
            probe: Some(Probe::Billable),
            attempts: 2,
            elapsed: Duration::from_millis(1234),
            waited: Duration::ZERO,
            retry_after: None,
            http_status: Some(429),
            provider_code: Some("insufficient_quota".to_owned()),
            provider_message: None,
            request_id: Some("req_1".to_owned()),
            rate_limits: RateLimits::default(),
            key_info: None,
        };
        let j = serde_json::to_value(&report).unwrap();
        assert_eq!(j["verdict"], "no_credits");
        assert_eq!(j["reason"], "insufficient_quota");
        assert_eq!(j["attempts"], 2);
        assert_eq!(j["elapsed_ms"], 1234);
        assert_eq!(j["retry_after_ms"], serde_json::Value::Null);
        assert_eq!(j["probe"], "billable");
        assert_eq!(j["depth"], "billing");
        assert_eq!(j["provider"], "openai");
        assert!(j["remediation"].as_str().unwrap().contains("credits"));
        assert!(j["message"].as_str().unwrap().contains("no credits"));
    }

    #[test]
    fn depth_parses() {
        assert_eq!("Auth".parse::<Depth>(), Ok(Depth::Auth));
        assert_eq!(Depth::default(), Depth::Billing);
        assert!("deep".parse::<Depth>().is_err());
        assert_eq!(
            serde_json::from_str::<Depth>("\"auth\"").unwrap(),
            Depth::Auth
        );
    }
}
