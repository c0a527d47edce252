//! What a mock provider does: one situation per row of the verdict table,
//! plus the transport troubles tests need (rate limits, outages, slowness).

use std::time::Duration;

use byok_keys::Provider;

/// How a mock answers authenticated requests.
///
/// Key problems (`InvalidKey`, `Deactivated`, ...) answer every endpoint.
/// Account problems that only a billable call reveals (`NoCredits`,
/// `SpendLimit`, `ModelAccess`, ...) let the free list-models call succeed,
/// as the real providers do. `MissingScope` is the reverse: list-models fails,
/// the billable call works.
///
/// | scenario | OpenAI | Anthropic | Gemini |
/// |---|---|---|---|
/// | `Valid` | 200 | 200 | 200 |
/// | `InvalidKey` | 401 `invalid_api_key` | 401 `authentication_error` | 400 `API_KEY_INVALID` |
/// | `Deactivated` | 401 `account_deactivated` | 400 "organization has been disabled" | — |
/// | `OrganizationOnHold` | — | 400 "organization has been disabled", `error.details.error_code: organization_on_hold` | — |
/// | `OrganizationMismatch` | 401 `mismatched_organization` if `OpenAI-Organization` was sent, else as `Valid` | — | — |
/// | `ExpiredKey` | — | — | 400 `API_KEY_INVALID` "API key expired" |
/// | `Suspended` | — | — | 403 `CONSUMER_SUSPENDED` |
/// | `MissingScope` | models: 401 "Missing scopes" | — | — |
/// | `ModelAccess` | billable: 404 `model_not_found` | billable: 404 `not_found_error` | — |
/// | `Region` | 403 `unsupported_country_region_territory` | 403 `{"error":{"type":"forbidden",..}}` (no envelope, no request id) | 400 `FAILED_PRECONDITION` |
/// | `PermissionDenied` | — | 403 `permission_error` | — |
/// | `ApiBlocked` | — | — | 403 `API_KEY_SERVICE_BLOCKED` |
/// | `ServiceDisabled` | — | — | 403 `SERVICE_DISABLED` |
/// | `NoCredits` | billable: 429 `insufficient_quota` | billable: 400 "credit balance is too low" | billable: 429 `RESOURCE_EXHAUSTED` "prepayment credits are depleted", no details |
/// | `SpendLimit` | billable: 429 `organization_spend_limit_exceeded` | billable: 400 "specified API usage limits" | — |
/// | `TierSpendCap` | — | billable: 429 `enforced_spend_limit_reached` | — |
/// | `Billing` | — | billable: 402 `billing_error` | — |
/// | `DailyQuota` | — | — | billable: 429 `PerDay` quota |
/// | `RateLimited` | 429 `rate_limit_exceeded` + `retry-after-ms`, `retry-after` (whole seconds, ≥ 1), `x-ratelimit-*` | 429 `rate_limit_error` + `retry-after`, `x-should-retry: true`, `anthropic-ratelimit-*` | 429 `PerMinute` + `RetryInfo` |
/// | `Outage` | 5xx `server_error` | 5xx `api_error`, 529 `overloaded_error` | 5xx `INTERNAL`/`UNAVAILABLE`/`DEADLINE_EXCEEDED` |
/// | `StreamError` | chat: `data: {"error":{..server_error}}`, no `[DONE]`; Responses: `error` event, `response.failed` | `event: error` `overloaded_error` | `data: {"error":{"code":503,..UNAVAILABLE}}` |
/// | `StreamCut` | connection dropped mid-body | same | same |
/// | `StreamStall` | a pause between two events | same | same |
/// | `KeepAlive` | `: keep-alive` comments and blank lines between events; blank lines before a JSON body | same | — |
///
/// "—": the provider has no such answer; [`MockBuilder::scenario`](crate::MockBuilder::scenario) panics.
/// "billable" rows answer OpenAI's chat completions and Responses API alike.
/// A successful billable call streams when asked (`"stream": true`, Gemini's
/// `:streamGenerateContent`, with `?alt=sse` or as a JSON array) the way the
/// provider does, usage included; a refusal is the ordinary JSON answer, as it
/// is before a real stream's first byte.
///
/// The four stream scenarios (`StreamError`, `StreamCut`, `StreamStall`,
/// `KeepAlive`) disturb a *successful* answer on the wire: the request is
/// answered 200 and the trouble comes after the headers, where a client's retry
/// policy no longer helps. `after` counts the stream's events (OpenAI chunks,
/// Anthropic events including `ping`, Gemini chunks) sent before the trouble.
/// Answers that are not streamed are not disturbed, except by `KeepAlive`.
///
/// Key problems are judged before the route, as the providers do: an invalid
/// Gemini key on a path the mock does not serve still gets `API_KEY_INVALID`,
/// not a 404.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scenario {
    /// Every request succeeds with a realistic body.
    Valid,
    /// The key is wrong or revoked.
    InvalidKey,
    /// The account (OpenAI) or organization (Anthropic) is deactivated.
    Deactivated,
    /// OpenAI: the `OpenAI-Organization` header does not match the key.
    ///
    /// Only a request that sends `OpenAI-Organization` gets the 401: without the
    /// header OpenAI uses the key's own (default) organization, so there is
    /// nothing to mismatch and the request is answered as [`Scenario::Valid`].
    OrganizationMismatch,
    /// Anthropic: the organization is on hold (disabled pending an appeal); the
    /// 400 carries `error.details.error_code: "organization_on_hold"`.
    OrganizationOnHold,
    /// Gemini: the key has expired.
    ExpiredKey,
    /// Gemini: the consumer project is suspended.
    Suspended,
    /// OpenAI restricted key without "Models: read": list-models fails, requests work.
    MissingScope,
    /// The project or key has no access to the billable probe's model.
    ModelAccess,
    /// The caller's country or region is not supported.
    Region,
    /// Anthropic: the key may not use this resource.
    PermissionDenied,
    /// Gemini: the key is restricted away from the Generative Language API.
    ApiBlocked,
    /// Gemini: the API is disabled in the key's project.
    ServiceDisabled,
    /// The account has no credits (billable calls fail).
    NoCredits,
    /// A user-set spend or usage limit is reached (billable calls fail).
    SpendLimit,
    /// Anthropic: the usage tier's spend cap is reached (a 429 that is not a rate limit).
    TierSpendCap,
    /// Anthropic: a billing problem (402).
    Billing,
    /// Gemini: a per-day quota is used up (a 429 that will not lift today).
    DailyQuota,
    /// The first `times` requests are rate limited with the provider's wait
    /// hint set to `retry_after`; later requests succeed.
    RateLimited {
        /// How many requests are refused.
        times: u32,
        /// The wait the provider asks for.
        retry_after: Duration,
    },
    /// The first `times` requests fail with `status` (500, 502, 503, 504, or
    /// Anthropic's 529) and the provider's body for it; later requests succeed.
    Outage {
        /// How many requests fail.
        times: u32,
        /// The HTTP status of the failures.
        status: u16,
    },
    /// Every request succeeds, after the given delay.
    Slow(Duration),
    /// Every request hangs (an hour) before answering.
    Hang,
    /// Every request gets `200 OK` with an HTML page: a captive portal or a misconfigured proxy.
    Garbage,
    /// A stream fails after `after` events with the provider's mid-stream
    /// error (Anthropic `overloaded_error`, an OpenAI `error` chunk, a Gemini
    /// error chunk) under the 200 it already sent; input tokens were reported
    /// by then where the provider reports them early (Anthropic `message_start`).
    StreamError {
        /// Events sent before the error.
        after: u32,
    },
    /// A stream's connection is dropped after `after` events: no terminal
    /// event, no usage, an incomplete chunked body.
    StreamCut {
        /// Events sent before the cut.
        after: u32,
    },
    /// A stream goes silent for `stall` after `after` events, then finishes
    /// normally (for per-read timeouts).
    StreamStall {
        /// Events sent before the pause.
        after: u32,
        /// How long nothing is sent.
        stall: Duration,
    },
    /// The connection is held open with keep-alives, as DeepSeek and OpenRouter
    /// do under load: SSE comments (`: keep-alive`) and blank lines before and
    /// between a stream's events, and blank lines before a JSON body, three of
    /// them 100 ms apart before the answer's first event. The answer itself
    /// is [`Scenario::Valid`]'s.
    KeepAlive,
}

impl Scenario {
    /// The longest wait hint any [`catalogue`](Scenario::catalogue) scenario sends (see there why).
    pub const CATALOGUE_MAX_WAIT: Duration = Duration::from_secs(60);

    /// One of every behaviour the mocks can play, with small parameters, for
    /// suites that must cover them all (leak tests, UI snapshots, retry policies).
    /// Keep the ones a provider has with [`supported_by`](Scenario::supported_by).
    ///
    /// Outages and rate limits appear twice: once short (one refusal, then the
    /// provider recovers) and once long enough to outlast any retry policy.
    ///
    /// Every wait hint in the catalogue is at most [`CATALOGUE_MAX_WAIT`](Scenario::CATALOGUE_MAX_WAIT) (60 s):
    /// the official SDKs (anthropic-python, openai-python) sleep for whatever a
    /// server asks within their cap, so an hour-long hint would keep a suite
    /// that runs the catalogue through an SDK asleep for hours. The long rate
    /// limit asks for 45 s: within every SDK's cap, and longer than byok-verify's
    /// default 30 s deadline, so a verifier reports the rate limit at once
    /// instead of waiting. Tests that need an hour-long hint build that scenario
    /// themselves.
    pub fn catalogue() -> Vec<Scenario> {
        use Scenario as S;
        let outlast = 99;
        vec![
            S::Valid,
            S::InvalidKey,
            S::Deactivated,
            S::OrganizationMismatch,
            S::OrganizationOnHold,
            S::ExpiredKey,
            S::Suspended,
            S::MissingScope,
            S::ModelAccess,
            S::Region,
            S::PermissionDenied,
            S::ApiBlocked,
            S::ServiceDisabled,
            S::NoCredits,
            S::SpendLimit,
            S::TierSpendCap,
            S::Billing,
            S::DailyQuota,
            S::RateLimited {
                times: 1,
                retry_after: Duration::from_millis(10),
            },
            S::RateLimited {
                times: outlast,
                retry_after: Duration::from_secs(45),
            },
            S::Outage {
                times: 1,
                status: 500,
            },
            S::Outage {
                times: outlast,
                status: 503,
            },
            S::Outage {
                times: outlast,
                status: 529,
            },
            S::Slow(Duration::from_millis(20)),
            S::Hang,
            S::Garbage,
            S::StreamError { after: 1 },
            S::StreamCut { after: 1 },
            S::StreamStall {
                after: 1,
                stall: Duration::from_millis(300),
            },
            S::KeepAlive,
        ]
    }

    /// A stable snake_case name (`invalid_key`, `organization_on_hold`,
    /// `rate_limited`, ...), for logs, snapshots and programs that pick a
    /// scenario by name. Parameters are not part of the name.
    pub const fn name(&self) -> &'static str {
        match self {
            Scenario::Valid => "valid",
            Scenario::InvalidKey => "invalid_key",
            Scenario::Deactivated => "deactivated",
            Scenario::OrganizationMismatch => "organization_mismatch",
            Scenario::OrganizationOnHold => "organization_on_hold",
            Scenario::ExpiredKey => "expired_key",
            Scenario::Suspended => "suspended",
            Scenario::MissingScope => "missing_scope",
            Scenario::ModelAccess => "model_access",
            Scenario::Region => "region",
            Scenario::PermissionDenied => "permission_denied",
            Scenario::ApiBlocked => "api_blocked",
            Scenario::ServiceDisabled => "service_disabled",
            Scenario::NoCredits => "no_credits",
            Scenario::SpendLimit => "spend_limit",
            Scenario::TierSpendCap => "tier_spend_cap",
            Scenario::Billing => "billing",
            Scenario::DailyQuota => "daily_quota",
            Scenario::RateLimited { .. } => "rate_limited",
            Scenario::Outage { .. } => "outage",
            Scenario::Slow(_) => "slow",
            Scenario::Hang => "hang",
            Scenario::Garbage => "garbage",
            Scenario::StreamError { .. } => "stream_error",
            Scenario::StreamCut { .. } => "stream_cut",
            Scenario::StreamStall { .. } => "stream_stall",
            Scenario::KeepAlive => "keep_alive",
        }
    }

    /// Whether `provider` has an answer for this scenario (see the table).
    pub fn supported_by(&self, provider: Provider) -> bool {
        use Scenario as S;
        if crate::compat::serves(provider) {
            return crate::compat::supports(provider, self);
        }
        match self {
            S::Valid
            | S::InvalidKey
            | S::Region
            | S::NoCredits
            | S::RateLimited { .. }
            | S::Slow(_)
            | S::Hang
            | S::Garbage
            | S::StreamError { .. }
            | S::StreamCut { .. }
            | S::StreamStall { .. } => true,
            // Google's stream parsers (google-genai) take an SSE comment for a
            // JSON chunk, and Google sends none.
            S::KeepAlive => provider != Provider::Google,
            S::Outage { status, .. } => match status {
                500 | 502 | 503 | 504 => true,
                529 => provider == Provider::Anthropic,
                _ => false,
            },
            S::Deactivated | S::SpendLimit | S::ModelAccess => {
                matches!(provider, Provider::OpenAi | Provider::Anthropic)
            }
            S::OrganizationMismatch | S::MissingScope => provider == Provider::OpenAi,
            S::PermissionDenied | S::TierSpendCap | S::Billing | S::OrganizationOnHold => {
                provider == Provider::Anthropic
            }
            S::ExpiredKey | S::Suspended | S::ApiBlocked | S::ServiceDisabled | S::DailyQuota => {
                provider == Provider::Google
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_has_every_scenario() {
        // No wildcard arm: a new scenario does not compile here until it is counted,
        // which is the reminder to add it to the catalogue.
        let slot = |s: &Scenario| match s {
            Scenario::Valid => 0,
            Scenario::InvalidKey => 1,
            Scenario::Deactivated => 2,
            Scenario::OrganizationMismatch => 3,
            Scenario::ExpiredKey => 4,
            Scenario::Suspended => 5,
            Scenario::MissingScope => 6,
            Scenario::ModelAccess => 7,
            Scenario::Region => 8,
            Scenario::PermissionDenied => 9,
            Scenario::ApiBlocked => 10,
            Scenario::ServiceDisabled => 11,
            Scenario::NoCredits => 12,
            Scenario::SpendLimit => 13,
            Scenario::TierSpendCap => 14,
            Scenario::Billing => 15,
            Scenario::DailyQuota => 16,
            Scenario::RateLimited { .. } => 17,
            Scenario::Outage { .. } => 18,
            Scenario::Slow(_) => 19,
            Scenario::Hang => 20,
            Scenario::Garbage => 21,
            Scenario::OrganizationOnHold => 22,
            Scenario::StreamError { .. } => 23,
            Scenario::StreamCut { .. } => 24,
            Scenario::StreamStall { .. } => 25,
            Scenario::KeepAlive => 26,
        };
        let mut seen = [false; 27];
        for s in Scenario::catalogue() {
            seen[slot(&s)] = true;
        }
        assert!(
            seen.iter().all(|&x| x),
            "missing from the catalogue: {seen:?}"
        );
        for p in Provider::ALL {
            assert!(
                Scenario::catalogue()
                    .iter()
                    .filter(|s| s.supported_by(p))
                    .count()
                    >= 10,
                "{p}"
            );
        }
    }

    #[test]
    fn catalogue_waits_stay_within_what_sdks_sleep() {
        for s in Scenario::catalogue() {
            let wait = match s {
                Scenario::RateLimited { retry_after, .. } => retry_after,
                _ => Duration::ZERO,
            };
            assert!(wait <= Scenario::CATALOGUE_MAX_WAIT, "{s:?}");
        }
    }

    #[test]
    fn names_are_stable_snake_case_and_distinct() {
        let names: Vec<_> = Scenario::catalogue().iter().map(Scenario::name).collect();
        for n in &names {
            assert!(n.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{n}");
        }
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        // rate_limited and outage appear more than once, with other parameters.
        assert_eq!(unique.len(), 27);
        assert_eq!(Scenario::OrganizationOnHold.name(), "organization_on_hold");
        assert!(Scenario::OrganizationOnHold.supported_by(Provider::Anthropic));
        assert!(!Scenario::OrganizationOnHold.supported_by(Provider::OpenAi));
    }

    #[test]
    fn support_matches_the_table() {
        assert!(Scenario::TierSpendCap.supported_by(Provider::Anthropic));
        assert!(!Scenario::TierSpendCap.supported_by(Provider::OpenAi));
        assert!(Scenario::DailyQuota.supported_by(Provider::Google));
        assert!(!Scenario::MissingScope.supported_by(Provider::Google));
        let overloaded = Scenario::Outage {
            times: 1,
            status: 529,
        };
        assert!(overloaded.supported_by(Provider::Anthropic));
        assert!(!overloaded.supported_by(Provider::OpenAi));
        assert!(
            !Scenario::Outage {
                times: 1,
                status: 404
            }
            .supported_by(Provider::Google)
        );
    }
}
