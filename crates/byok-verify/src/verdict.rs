//! What a Test button says: the verdict, its reason, a message and a remediation.

use core::fmt;
use std::time::Duration;

use byok_keys::{Provider, VerdictCode};

/// The answer to "does this key work?".
///
/// Each verdict has a stable [`code`](Verdict::code) (`valid`, `invalid`,
/// `no_credits`, `rate_limited`, `restricted`, `provider_unavailable`,
/// `network_error`, `indeterminate`), an optional stable
/// [`reason`](Verdict::reason), a one-line [`message`](Verdict::message) and a
/// [`remediation`](Verdict::remediation) hint for the person who pasted the key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// The key works (and, at [`Depth::Billing`](crate::Depth::Billing), can pay for a request).
    Valid,
    /// The key is wrong, revoked, expired or belongs to a disabled account.
    Invalid(InvalidReason),
    /// The key is accepted but the account cannot pay: no credits, a spend cap, a used-up quota.
    NoCredits(NoCreditsReason),
    /// The provider asks to slow down; the key itself looks fine.
    RateLimited {
        /// How long the provider asked to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// The key works but may not do what was asked (scope, model, region, permission).
    Restricted(RestrictedReason),
    /// The provider is overloaded or failing; nothing is known about the key.
    ProviderUnavailable,
    /// The provider could not be reached; nothing is known about the key.
    NetworkError(NetworkErrorKind),
    /// An answer byok does not recognise; the report keeps the HTTP status and provider code.
    Indeterminate,
}

impl Verdict {
    /// Stable snake_case code of the verdict (not of the reason):
    /// [`Verdict::verdict_code`] as a string.
    pub const fn code(&self) -> &'static str {
        self.verdict_code().as_str()
    }

    /// The verdict's typed code, the form a store keeps and key selection reads.
    pub const fn verdict_code(&self) -> VerdictCode {
        match self {
            Verdict::Valid => VerdictCode::Valid,
            Verdict::Invalid(_) => VerdictCode::Invalid,
            Verdict::NoCredits(_) => VerdictCode::NoCredits,
            Verdict::RateLimited { .. } => VerdictCode::RateLimited,
            Verdict::Restricted(_) => VerdictCode::Restricted,
            Verdict::ProviderUnavailable => VerdictCode::ProviderUnavailable,
            Verdict::NetworkError(_) => VerdictCode::NetworkError,
            Verdict::Indeterminate => VerdictCode::Indeterminate,
        }
    }

    /// Stable snake_case reason, where the verdict has one.
    pub const fn reason(&self) -> Option<&'static str> {
        match self {
            Verdict::Invalid(r) => Some(r.code()),
            Verdict::NoCredits(r) => Some(r.code()),
            Verdict::Restricted(r) => Some(r.code()),
            Verdict::NetworkError(k) => Some(k.code()),
            _ => None,
        }
    }

    /// Whether the key works.
    pub const fn is_valid(&self) -> bool {
        matches!(self, Verdict::Valid)
    }

    /// Whether the verdict says something about the key itself (as opposed to the
    /// provider or the network being in the way).
    pub const fn is_conclusive(&self) -> bool {
        !matches!(
            self,
            Verdict::ProviderUnavailable | Verdict::NetworkError(_) | Verdict::Indeterminate
        )
    }

    /// One line for a person: what the test found.
    pub const fn message(&self) -> &'static str {
        match self {
            Verdict::Valid => "The key works.",
            Verdict::Invalid(r) => match r {
                InvalidReason::Unauthorized => {
                    "The provider rejected the key: it is wrong or has been revoked."
                }
                InvalidReason::Deactivated => {
                    "The key's account or organization has been deactivated."
                }
                InvalidReason::OrganizationMismatch => {
                    "The key does not belong to the organization sent with the request."
                }
                InvalidReason::Expired => "The key has expired.",
                InvalidReason::Suspended => "The key's project has been suspended by the provider.",
                InvalidReason::KeyOrEndpoint => {
                    "The provider refused the key: it is wrong, or it belongs to another endpoint or region."
                }
                InvalidReason::KeyOrQuota => {
                    "The provider refused the key: it is wrong, or its plan's quota is used up."
                }
                InvalidReason::Blocked => "The key has been blocked or disabled.",
            },
            Verdict::NoCredits(r) => match r {
                NoCreditsReason::InsufficientQuota => {
                    "The key works but the account has no credits left."
                }
                NoCreditsReason::SpendLimit => "The key works but a spend limit has been reached.",
                NoCreditsReason::CreditBalance => {
                    "The key works but the account's credit balance is too low."
                }
                NoCreditsReason::Billing => "The key works but the account has a billing problem.",
                NoCreditsReason::PrepayDepleted => {
                    "The key works but the prepaid balance is used up."
                }
                NoCreditsReason::QuotaExhausted => "The key works but today's quota is used up.",
                NoCreditsReason::KeyLimit => "The key works but its own credit limit is used up.",
                NoCreditsReason::TrialQuota => {
                    "The key works but the trial key's monthly quota is used up."
                }
            },
            Verdict::RateLimited { .. } => "The provider is rate limiting this key right now.",
            Verdict::Restricted(r) => match r {
                RestrictedReason::MissingScope => {
                    "The key works but lacks a permission (scope) needed for this check."
                }
                RestrictedReason::ModelAccess => {
                    "The key works but has no access to the model used for the check."
                }
                RestrictedReason::Region => {
                    "The provider does not serve the region this request came from."
                }
                RestrictedReason::Permission => "The key is not allowed to make this request.",
                RestrictedReason::ApiBlocked => "The key is not allowed to call this API.",
                RestrictedReason::ServiceDisabled => {
                    "The API is disabled for the key's Google Cloud project."
                }
                RestrictedReason::AdminKey => {
                    "This is an admin key: it is for usage and cost reports, not for model requests."
                }
                RestrictedReason::DeploymentNotFound => {
                    "The key works but the deployment stored with it does not exist."
                }
                RestrictedReason::IamPermission => {
                    "The key's identity lacks a permission this request needs (or the key was refused as malformed)."
                }
                RestrictedReason::MissingParam => {
                    "The key cannot be tested without the parameters stored with it."
                }
            },
            Verdict::ProviderUnavailable => "The provider is unavailable or overloaded right now.",
            Verdict::NetworkError(k) => match k {
                NetworkErrorKind::Dns => "The provider's host name could not be resolved.",
                NetworkErrorKind::Connect => "Could not connect to the provider.",
                NetworkErrorKind::Tls => "A secure (TLS) connection to the provider failed.",
                NetworkErrorKind::Timeout => "The provider did not answer in time.",
                NetworkErrorKind::Io => "The connection to the provider failed.",
            },
            Verdict::Indeterminate => "The provider gave an answer byok does not recognise.",
        }
    }

    /// What the person should do about it, with the provider's console where it helps.
    pub fn remediation(&self, provider: Provider) -> String {
        let spec = provider.spec();
        let (billing, keys, status) =
            (spec.console.billing, spec.console.keys, spec.console.status);
        let params = || {
            spec.params
                .iter()
                .map(|p| format!("{} ({})", p.name, p.description))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Verdict::Valid => "Nothing to do.".to_owned(),
            Verdict::Invalid(InvalidReason::OrganizationMismatch) => {
                "Check the organization ID configured next to the key, or remove it.".to_owned()
            }
            Verdict::Invalid(InvalidReason::Deactivated | InvalidReason::Suspended) => format!(
                "Contact {} support or use a key from another account.",
                provider.display_name()
            ),
            Verdict::Invalid(InvalidReason::KeyOrEndpoint) if !spec.params.is_empty() => format!(
                "Check the key, and the parameters stored with it: {}. The provider answers the same for a wrong key and for a key used at another endpoint or region; keys are at {keys}.",
                params()
            ),
            Verdict::Invalid(InvalidReason::KeyOrQuota) => format!(
                "Check the key for typos or create a new one at {keys}; if the key is right, the plan's quota may be used up: see {billing}."
            ),
            Verdict::Invalid(InvalidReason::Blocked) => format!(
                "Unblock or re-enable the key at {keys}, or create a new one."
            ),
            Verdict::Invalid(_) => format!(
                "Check for typos or extra spaces, or create a new key at {keys} and paste it again."
            ),
            Verdict::NoCredits(NoCreditsReason::SpendLimit) => {
                format!("Raise the spend limit or wait for the next period: {billing}.")
            }
            Verdict::NoCredits(NoCreditsReason::QuotaExhausted) => {
                "Wait for the daily quota to reset, or enable billing for a higher quota.".to_owned()
            }
            Verdict::NoCredits(NoCreditsReason::KeyLimit) => {
                format!("Raise the key's credit limit, or use another key: {keys}.")
            }
            Verdict::NoCredits(NoCreditsReason::TrialQuota) => format!(
                "Wait for next month's trial quota, or upgrade to a production key at {keys}."
            ),
            Verdict::NoCredits(_) => format!("Add credits or fix the payment method at {billing}."),
            Verdict::RateLimited {
                retry_after: Some(d),
            } => format!(
                "Wait about {} s and test again, or ask the provider for a higher limit.",
                d.as_millis().div_ceil(1000).max(1)
            ),
            Verdict::RateLimited { retry_after: None } => {
                "Wait a minute and test again, or ask the provider for a higher limit.".to_owned()
            }
            Verdict::Restricted(RestrictedReason::MissingScope) => {
                "Ask the project owner to grant the key the missing permission, or use an unrestricted key."
                    .to_owned()
            }
            Verdict::Restricted(RestrictedReason::ModelAccess) => {
                "Ask the project owner for access to the model, or configure another model.".to_owned()
            }
            Verdict::Restricted(RestrictedReason::Region) => {
                "Use the provider from a supported country or region.".to_owned()
            }
            Verdict::Restricted(RestrictedReason::ServiceDisabled) => {
                "Enable the Generative Language API for the key's Google Cloud project.".to_owned()
            }
            Verdict::Restricted(RestrictedReason::ApiBlocked) => {
                "Remove the API restriction on the key in the Google Cloud console, or create a new key."
                    .to_owned()
            }
            Verdict::Restricted(RestrictedReason::AdminKey) => {
                format!("Create a regular API key at {keys} for model requests.")
            }
            Verdict::Restricted(RestrictedReason::DeploymentNotFound) => format!(
                "Check the deployment name stored with the key against the resource's deployments: {}.",
                params()
            ),
            Verdict::Restricted(RestrictedReason::IamPermission) => format!(
                "Grant the key's IAM user bedrock:CallWithBearerToken and access to the model, check that the key was pasted whole, or create a new key at {keys}."
            ),
            Verdict::Restricted(RestrictedReason::MissingParam) => format!(
                "Store the key with its parameters, then test again: {}.",
                params()
            ),
            Verdict::Restricted(_) => {
                "Ask the account owner for the missing permission.".to_owned()
            }
            Verdict::ProviderUnavailable => {
                format!("Wait a few minutes and test again; see {status}.")
            }
            Verdict::NetworkError(_) => {
                "Check your internet connection, proxy and firewall, then test again.".to_owned()
            }
            Verdict::Indeterminate => {
                "Test again later; if it persists, report the HTTP status and provider code.".to_owned()
            }
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason() {
            Some(r) => write!(f, "{} ({r})", self.code()),
            None => f.write_str(self.code()),
        }
    }
}

/// Why a key is [`Verdict::Invalid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvalidReason {
    /// Wrong or revoked key (`unauthorized`).
    Unauthorized,
    /// The account or organization is deactivated or disabled (`deactivated`).
    Deactivated,
    /// OpenAI: the `OpenAI-Organization` header names another organization (`organization_mismatch`).
    OrganizationMismatch,
    /// Gemini: the key has expired (`expired`).
    Expired,
    /// Gemini: the consumer (project) is suspended (`suspended`).
    Suspended,
    /// Refused, and the provider cannot tell a wrong key from a right key used at
    /// the wrong endpoint or region (Azure OpenAI 401, Bedrock 403) (`key_or_endpoint`).
    KeyOrEndpoint,
    /// Refused, and the provider cannot tell a wrong key from a key whose plan
    /// quota is used up (Mistral 401) (`key_or_quota`).
    KeyOrQuota,
    /// The key (not its account) is blocked or disabled (xAI) (`blocked`).
    Blocked,
}

impl InvalidReason {
    /// Stable snake_case code.
    pub const fn code(self) -> &'static str {
        match self {
            InvalidReason::Unauthorized => "unauthorized",
            InvalidReason::Deactivated => "deactivated",
            InvalidReason::OrganizationMismatch => "organization_mismatch",
            InvalidReason::Expired => "expired",
            InvalidReason::Suspended => "suspended",
            InvalidReason::KeyOrEndpoint => "key_or_endpoint",
            InvalidReason::KeyOrQuota => "key_or_quota",
            InvalidReason::Blocked => "blocked",
        }
    }
}

/// Why a key is [`Verdict::NoCredits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NoCreditsReason {
    /// OpenAI `insufficient_quota` / `credit_balance_exhausted` (`insufficient_quota`).
    InsufficientQuota,
    /// A spend or usage limit set by the user or the provider's tier (`spend_limit`).
    SpendLimit,
    /// Anthropic: "credit balance is too low" (`credit_balance`).
    CreditBalance,
    /// Anthropic `billing_error` (`billing`).
    Billing,
    /// Gemini: prepaid balance used up (`prepay_depleted`).
    PrepayDepleted,
    /// A per-day quota is used up (Gemini per-day quota, Azure "retry after
    /// 86400 seconds") (`quota_exhausted`).
    QuotaExhausted,
    /// OpenRouter: the key's own credit limit is used up (`key_limit`).
    KeyLimit,
    /// Cohere: a trial key's monthly call quota is used up (`trial_quota`).
    TrialQuota,
}

impl NoCreditsReason {
    /// Stable snake_case code.
    pub const fn code(self) -> &'static str {
        match self {
            NoCreditsReason::InsufficientQuota => "insufficient_quota",
            NoCreditsReason::SpendLimit => "spend_limit",
            NoCreditsReason::CreditBalance => "credit_balance",
            NoCreditsReason::Billing => "billing",
            NoCreditsReason::PrepayDepleted => "prepay_depleted",
            NoCreditsReason::QuotaExhausted => "quota_exhausted",
            NoCreditsReason::KeyLimit => "key_limit",
            NoCreditsReason::TrialQuota => "trial_quota",
        }
    }
}

/// Why a key is [`Verdict::Restricted`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RestrictedReason {
    /// OpenAI restricted key without a needed scope (`missing_scope`).
    MissingScope,
    /// No access to the probe model (`model_access`).
    ModelAccess,
    /// Unsupported country, region or territory (`region`).
    Region,
    /// Anthropic `permission_error` (`permission`).
    Permission,
    /// Gemini `API_KEY_SERVICE_BLOCKED` (`api_blocked`).
    ApiBlocked,
    /// Gemini `SERVICE_DISABLED` (`service_disabled`).
    ServiceDisabled,
    /// An organisation admin key (or an OpenRouter management key), refused for
    /// model requests (`admin_key`).
    AdminKey,
    /// Azure OpenAI: the deployment named in the key's parameters does not exist
    /// (`deployment_not_found`).
    DeploymentNotFound,
    /// Bedrock: the key's IAM identity lacks a permission such as
    /// `bedrock:CallWithBearerToken` (AWS then also says "Invalid API Key format") (`iam_permission`).
    IamPermission,
    /// The provider needs parameters a key alone does not give (Azure resource and
    /// deployment, Bedrock region) and none were given; no request was made (`missing_param`).
    MissingParam,
}

impl RestrictedReason {
    /// Stable snake_case code.
    pub const fn code(self) -> &'static str {
        match self {
            RestrictedReason::MissingScope => "missing_scope",
            RestrictedReason::ModelAccess => "model_access",
            RestrictedReason::Region => "region",
            RestrictedReason::Permission => "permission",
            RestrictedReason::ApiBlocked => "api_blocked",
            RestrictedReason::ServiceDisabled => "service_disabled",
            RestrictedReason::AdminKey => "admin_key",
            RestrictedReason::DeploymentNotFound => "deployment_not_found",
            RestrictedReason::IamPermission => "iam_permission",
            RestrictedReason::MissingParam => "missing_param",
        }
    }
}

/// What went wrong on the way to the provider ([`Verdict::NetworkError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NetworkErrorKind {
    /// Host name resolution failed (`dns`).
    Dns,
    /// The connection was refused or could not be made (`connect`).
    Connect,
    /// The TLS handshake or certificate check failed (`tls`).
    Tls,
    /// No answer within the request timeout or the overall deadline (`timeout`).
    Timeout,
    /// The connection broke while sending or reading (`io`).
    Io,
}

impl NetworkErrorKind {
    /// Stable snake_case code.
    pub const fn code(self) -> &'static str {
        match self {
            NetworkErrorKind::Dns => "dns",
            NetworkErrorKind::Connect => "connect",
            NetworkErrorKind::Tls => "tls",
            NetworkErrorKind::Timeout => "timeout",
            NetworkErrorKind::Io => "io",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_reasons_are_stable() {
        assert_eq!(Verdict::Valid.code(), "valid");
        assert_eq!(Verdict::Valid.reason(), None);
        let v = Verdict::NoCredits(NoCreditsReason::SpendLimit);
        assert_eq!((v.code(), v.reason()), ("no_credits", Some("spend_limit")));
        assert_eq!(v.to_string(), "no_credits (spend_limit)");
        assert_eq!(
            Verdict::RateLimited { retry_after: None }.to_string(),
            "rate_limited"
        );
        assert_eq!(
            Verdict::NetworkError(NetworkErrorKind::Timeout).reason(),
            Some("timeout")
        );
    }

    #[test]
    fn remediation_names_the_provider_console() {
        let r =
            Verdict::NoCredits(NoCreditsReason::InsufficientQuota).remediation(Provider::OpenAi);
        assert!(r.contains("platform.openai.com"), "{r}");
        let r = Verdict::Invalid(InvalidReason::Unauthorized).remediation(Provider::Anthropic);
        assert!(r.contains("typos or extra spaces"), "{r}");
        let r = Verdict::RateLimited {
            retry_after: Some(Duration::from_millis(1500)),
        }
        .remediation(Provider::Google);
        assert!(r.contains("about 2 s"), "{r}");
    }

    #[test]
    fn only_key_verdicts_are_conclusive() {
        assert!(Verdict::Invalid(InvalidReason::Expired).is_conclusive());
        assert!(!Verdict::ProviderUnavailable.is_conclusive());
        assert!(!Verdict::Indeterminate.is_conclusive());
    }

    #[test]
    fn remediation_uses_each_providers_console() {
        for p in Provider::ALL {
            let c = p.spec().console;
            let r = Verdict::NoCredits(NoCreditsReason::CreditBalance).remediation(p);
            assert!(r.contains(c.billing), "{p}: {r}");
            let r = Verdict::Invalid(InvalidReason::Unauthorized).remediation(p);
            assert!(r.contains(c.keys), "{p}: {r}");
            let r = Verdict::ProviderUnavailable.remediation(p);
            assert!(r.contains(c.status), "{p}: {r}");
        }
    }

    #[test]
    fn ambiguous_reasons_say_both_possibilities() {
        let azure = Verdict::Invalid(InvalidReason::KeyOrEndpoint);
        assert_eq!(azure.reason(), Some("key_or_endpoint"));
        assert!(azure.message().contains("another endpoint or region"));
        let r = azure.remediation(Provider::AzureOpenAi);
        assert!(r.contains("resource") && r.contains("deployment"), "{r}");
        let r = azure.remediation(Provider::Bedrock);
        assert!(r.contains("region"), "{r}");
        let mistral = Verdict::Invalid(InvalidReason::KeyOrQuota);
        assert!(mistral.message().contains("quota"));
        let r = mistral.remediation(Provider::Mistral);
        assert!(
            r.contains("console.mistral.ai/api-keys") && r.contains("quota"),
            "{r}"
        );
        let r = Verdict::Restricted(RestrictedReason::MissingParam).remediation(Provider::Bedrock);
        assert!(r.contains("region (the AWS region"), "{r}");
        let r = Verdict::Restricted(RestrictedReason::IamPermission).remediation(Provider::Bedrock);
        assert!(r.contains("bedrock:CallWithBearerToken"), "{r}");
    }
}
