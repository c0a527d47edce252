//! Providers and key kinds.

use core::fmt;
use core::str::FromStr;

/// The LLM provider a key belongs to.
///
/// Serialised (and printed by [`Provider::as_str`]) as its stable snake_case code:
/// `openai`, `anthropic`, `google`, `openrouter`, `groq`, `xai`, `deepseek`,
/// `mistral`, `together`, `fireworks`, `perplexity`, `azure_openai`, `bedrock`,
/// `cohere`. Everything else byok knows about a provider is data in its
/// [`ProviderSpec`](crate::spec::ProviderSpec) ([`Provider::spec`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Provider {
    /// OpenAI (`sk-…` keys).
    #[cfg_attr(feature = "serde", serde(rename = "openai"))]
    OpenAi,
    /// Anthropic (`sk-ant-…` keys).
    #[cfg_attr(feature = "serde", serde(rename = "anthropic"))]
    Anthropic,
    /// Google Gemini / AI Studio (`AIza…` and `AQ.…` keys).
    #[cfg_attr(feature = "serde", serde(rename = "google"))]
    Google,
    /// OpenRouter (`sk-or-v1-…` keys).
    #[cfg_attr(feature = "serde", serde(rename = "openrouter"))]
    OpenRouter,
    /// Groq (`gsk_…` keys).
    #[cfg_attr(feature = "serde", serde(rename = "groq"))]
    Groq,
    /// xAI (`xai-…` keys).
    #[cfg_attr(feature = "serde", serde(rename = "xai"))]
    XAi,
    /// DeepSeek (`sk-` + 32 hex keys).
    #[cfg_attr(feature = "serde", serde(rename = "deepseek"))]
    DeepSeek,
    /// Mistral (32 characters, no prefix).
    #[cfg_attr(feature = "serde", serde(rename = "mistral"))]
    Mistral,
    /// Together AI (`tgp_v1_…` keys).
    #[cfg_attr(feature = "serde", serde(rename = "together"))]
    Together,
    /// Fireworks AI (`fw_…` keys).
    #[cfg_attr(feature = "serde", serde(rename = "fireworks"))]
    Fireworks,
    /// Perplexity (`pplx-…` keys).
    #[cfg_attr(feature = "serde", serde(rename = "perplexity"))]
    Perplexity,
    /// Azure OpenAI (resource keys; needs resource, deployment and API version).
    #[cfg_attr(feature = "serde", serde(rename = "azure_openai"))]
    AzureOpenAi,
    /// Amazon Bedrock API keys (`ABSK…` long-term, `bedrock-api-key-…` short-term; region-bound).
    #[cfg_attr(feature = "serde", serde(rename = "bedrock"))]
    Bedrock,
    /// Cohere (40 characters, no prefix).
    #[cfg_attr(feature = "serde", serde(rename = "cohere"))]
    Cohere,
}

impl Provider {
    /// Every provider byok knows, in a stable order (the first three are the
    /// original ones; new providers are appended).
    pub const ALL: [Provider; 14] = [
        Provider::OpenAi,
        Provider::Anthropic,
        Provider::Google,
        Provider::OpenRouter,
        Provider::Groq,
        Provider::XAi,
        Provider::DeepSeek,
        Provider::Mistral,
        Provider::Together,
        Provider::Fireworks,
        Provider::Perplexity,
        Provider::AzureOpenAi,
        Provider::Bedrock,
        Provider::Cohere,
    ];

    /// Everything byok knows about this provider, as data.
    pub const fn spec(self) -> &'static crate::spec::ProviderSpec {
        crate::spec::of(self)
    }

    /// Stable machine name (`openai`, `azure_openai`, ...; see the type docs).
    pub const fn as_str(self) -> &'static str {
        self.spec().code
    }

    /// Name for people: `OpenAI`, `Anthropic`, `Google`, `OpenRouter`, `xAI`, ...
    pub const fn display_name(self) -> &'static str {
        self.spec().display_name
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of [`Provider::from_str`]: the name is not a provider byok knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown provider {0:?}: expected one of openai, anthropic, google, openrouter, groq, xai, \
     deepseek, mistral, together, fireworks, perplexity, azure_openai, bedrock, cohere"
)]
pub struct UnknownProvider(pub String);

impl FromStr for Provider {
    type Err = UnknownProvider;

    /// Accepts the stable codes plus common spellings (`OpenAI`, `gemini`, `claude`,
    /// `x.ai`, `azure`, `aws-bedrock`, ...: each spec's aliases), case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Provider::ALL
            .into_iter()
            .find(|p| {
                let spec = p.spec();
                spec.code == wanted || spec.aliases.contains(&wanted.as_str())
            })
            .ok_or_else(|| UnknownProvider(s.to_owned()))
    }
}

/// What kind of key this is, within its provider.
///
/// Stable names ([`KeyKind::as_str`], serde): OpenAI `legacy`, `project`,
/// `service_account`, `admin`, `unscoped` (`sk-None-`); Anthropic `api`, `admin`;
/// Google `standard` (`AIza…`), `auth` (`AQ.…`); Azure OpenAI `legacy` (32 hex) and
/// `standard`; Bedrock `long_term` (`ABSK…`) and `short_term` (`bedrock-api-key-…`);
/// every other provider's one shape is `standard`. Which kinds a provider has is
/// its spec's [`kinds`](crate::spec::ProviderSpec::kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum KeyKind {
    /// OpenAI user key from before project keys (`sk-` + 20 + marker + 20).
    Legacy,
    /// OpenAI project key (`sk-proj-`).
    Project,
    /// OpenAI service-account key (`sk-svcacct-`, or the older `sk-service-NAME-`).
    ServiceAccount,
    /// Organisation admin key (OpenAI `sk-admin-`, Anthropic `sk-ant-admin01-`):
    /// for usage and cost APIs only, never for inference.
    Admin,
    /// OpenAI `sk-None-` key: real but undocumented, not tied to a project.
    Unscoped,
    /// Anthropic API key (`sk-ant-api03-`).
    Api,
    /// The provider's ordinary API key (Google `AIza…`, Groq `gsk_…`, xAI `xai-…`, ...).
    Standard,
    /// Google AI Studio auth key (`AQ.…`), the 2026 default.
    Auth,
    /// Amazon Bedrock long-term API key (`ABSK…`), tied to an IAM user.
    LongTerm,
    /// Amazon Bedrock short-term API key (`bedrock-api-key-…`): a presigned URL that
    /// carries its region, issue time and expiry (at most 12 hours).
    ShortTerm,
}

impl KeyKind {
    /// Stable machine name (see the type docs).
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyKind::Legacy => "legacy",
            KeyKind::Project => "project",
            KeyKind::ServiceAccount => "service_account",
            KeyKind::Admin => "admin",
            KeyKind::Unscoped => "unscoped",
            KeyKind::Api => "api",
            KeyKind::Standard => "standard",
            KeyKind::Auth => "auth",
            KeyKind::LongTerm => "long_term",
            KeyKind::ShortTerm => "short_term",
        }
    }

    /// Whether this is an organisation admin key, which must not be used for inference.
    pub const fn is_admin(self) -> bool {
        matches!(self, KeyKind::Admin)
    }

    /// Whether this kind exists for `provider` (its spec's
    /// [`kinds`](crate::spec::ProviderSpec::kinds)).
    pub fn belongs_to(self, provider: Provider) -> bool {
        provider.spec().kinds.contains(&self)
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Provider::ALL {
            assert_eq!(p.as_str().parse::<Provider>().unwrap(), p);
        }
        assert_eq!("Gemini".parse::<Provider>().unwrap(), Provider::Google);
        assert_eq!("x.ai".parse::<Provider>().unwrap(), Provider::XAi);
        assert_eq!("Azure".parse::<Provider>().unwrap(), Provider::AzureOpenAi);
        assert!("mistral-ai-x".parse::<Provider>().is_err());
        assert!("".parse::<Provider>().is_err());
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_names_are_the_stable_names() {
        for p in Provider::ALL {
            assert_eq!(
                serde_json::to_string(&p).unwrap(),
                format!("\"{}\"", p.as_str())
            );
        }
        for k in [
            KeyKind::Legacy,
            KeyKind::Project,
            KeyKind::ServiceAccount,
            KeyKind::Admin,
            KeyKind::Unscoped,
            KeyKind::Api,
            KeyKind::Standard,
            KeyKind::Auth,
            KeyKind::LongTerm,
            KeyKind::ShortTerm,
        ] {
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
        }
    }

    #[test]
    fn admin_kinds_belong_to_two_providers() {
        assert!(KeyKind::Admin.belongs_to(Provider::OpenAi));
        assert!(KeyKind::Admin.belongs_to(Provider::Anthropic));
        assert!(!KeyKind::Admin.belongs_to(Provider::Google));
        assert!(!KeyKind::Project.belongs_to(Provider::Anthropic));
    }
}
