//! Providers and key kinds.

use core::fmt;
use core::str::FromStr;

/// The LLM provider a key belongs to.
///
/// Serialised (and printed by [`Provider::as_str`]) as `openai`, `anthropic`, `google`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum Provider {
    /// OpenAI (`sk-…` keys).
    #[cfg_attr(feature = "serde", serde(rename = "openai"))]
    OpenAi,
    /// Anthropic (`sk-ant-…` keys).
    Anthropic,
    /// Google Gemini / AI Studio (`AIza…` and `AQ.…` keys).
    Google,
}

impl Provider {
    /// Every provider byok knows, in a stable order.
    pub const ALL: [Provider; 3] = [Provider::OpenAi, Provider::Anthropic, Provider::Google];

    /// Stable machine name: `openai`, `anthropic` or `google`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Google => "google",
        }
    }

    /// Name for people: `OpenAI`, `Anthropic`, `Google`.
    pub const fn display_name(self) -> &'static str {
        match self {
            Provider::OpenAi => "OpenAI",
            Provider::Anthropic => "Anthropic",
            Provider::Google => "Google",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of [`Provider::from_str`]: the name is not a provider byok knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider {0:?}: expected one of openai, anthropic, google")]
pub struct UnknownProvider(pub String);

impl FromStr for Provider {
    type Err = UnknownProvider;

    /// Accepts the stable names plus common spellings (`OpenAI`, `gemini`, `claude`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "openai" | "open-ai" | "open_ai" => Ok(Provider::OpenAi),
            "anthropic" | "claude" => Ok(Provider::Anthropic),
            "google" | "gemini" | "googleai" | "google-ai" | "aistudio" => Ok(Provider::Google),
            _ => Err(UnknownProvider(s.to_owned())),
        }
    }
}

/// What kind of key this is, within its provider.
///
/// Stable names ([`KeyKind::as_str`], serde): OpenAI `legacy`, `project`,
/// `service_account`, `admin`, `unscoped` (`sk-None-`); Anthropic `api`, `admin`;
/// Google `standard` (`AIza…`), `auth` (`AQ.…`).
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
    /// Google API key (`AIza…`, 39 characters).
    Standard,
    /// Google AI Studio auth key (`AQ.…`), the 2026 default.
    Auth,
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
        }
    }

    /// Whether this is an organisation admin key, which must not be used for inference.
    pub const fn is_admin(self) -> bool {
        matches!(self, KeyKind::Admin)
    }

    /// Whether this kind exists for `provider`.
    pub const fn belongs_to(self, provider: Provider) -> bool {
        matches!(
            (provider, self),
            (
                Provider::OpenAi,
                KeyKind::Legacy
                    | KeyKind::Project
                    | KeyKind::ServiceAccount
                    | KeyKind::Admin
                    | KeyKind::Unscoped
            ) | (Provider::Anthropic, KeyKind::Api | KeyKind::Admin)
                | (Provider::Google, KeyKind::Standard | KeyKind::Auth)
        )
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
        assert!("mistral".parse::<Provider>().is_err());
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
