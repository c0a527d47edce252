//! [`Params`]: what a key alone does not say about where it works.
//!
//! Azure OpenAI keys belong to a resource and are used with a deployment and an
//! API version; Amazon Bedrock keys are bound to a region. A stored key record
//! carries these next to the key, checked against its provider's
//! [`ParamSpec`](crate::spec::ParamSpec)s, and the verifier and the call path
//! fill the spec's URL templates (`https://{resource}.openai.azure.com`) from
//! them. Parameters are not secret: `Debug` and `Display` show them.
//!
//! ```
//! use byok_keys::Provider;
//! use byok_keys::params::Params;
//!
//! let p = Params::new(Provider::AzureOpenAi, [("resource", "contoso"), ("deployment", "gpt-4o-mini")])?;
//! assert_eq!(p.get("resource"), Some("contoso"));
//! // The API version has a default.
//! assert_eq!(p.get("api_version"), Some("2024-10-21"));
//! assert_eq!(p.fill("https://{resource}.openai.azure.com")?, "https://contoso.openai.azure.com");
//!
//! // A region that is not one: a stable code, and a hint with an example.
//! let err = Params::new(Provider::Bedrock, [("region", "Frankfurt")]).unwrap_err();
//! assert_eq!(err.code(), "invalid_param");
//! assert!(err.hint().contains("us-east-1"));
//! # Ok::<(), byok_keys::params::ParamError>(())
//! ```

use core::fmt;
use std::collections::BTreeMap;

use crate::Provider;
use crate::spec::{ParamCheck, ParamSpec};

/// The checked parameters of a key, for its provider.
///
/// Holds exactly the values given (defaults are not stored, so a record keeps
/// following the provider's default); [`get`](Params::get) falls back to the
/// default. Every value passed its [`ParamCheck`]; every required parameter is
/// present; no unknown name is kept.
///
/// Serialises as a JSON object of strings (`{"resource":"contoso",...}`). To read
/// one back, deserialise [`UncheckedParams`] and [`check`](UncheckedParams::check)
/// it against the key's provider: there is no way to a `Params` around the checks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Params {
    provider: Provider,
    values: BTreeMap<&'static str, String>,
}

impl Params {
    /// Check name/value pairs against `provider`'s parameters.
    ///
    /// # Errors
    /// [`ParamError`]: a required parameter is missing (`missing_param`), a value
    /// is not acceptable (`invalid_param`), a name is not one of the provider's
    /// (`unknown_param`), or a name is given twice (`duplicate_param`).
    pub fn new<I, K, V>(provider: Provider, pairs: I) -> Result<Params, ParamError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let specs = provider.spec().params;
        let mut values = BTreeMap::new();
        for (name, value) in pairs {
            let name = name.as_ref().trim();
            let Some(spec) = specs.iter().find(|s| s.name == name) else {
                return Err(ParamError::Unknown {
                    provider,
                    name: printable(name),
                });
            };
            let value = value.as_ref().trim();
            if value.is_empty() {
                // An empty field in a form is the same as no field.
                continue;
            }
            if !spec.check.accepts(value) {
                return Err(ParamError::Invalid {
                    provider,
                    name: spec.name,
                    example: example(spec.check),
                });
            }
            if values.insert(spec.name, value.to_owned()).is_some() {
                return Err(ParamError::Duplicate {
                    provider,
                    name: spec.name,
                });
            }
        }
        if let Some(missing) = specs
            .iter()
            .find(|s| s.default.is_none() && !values.contains_key(s.name))
        {
            return Err(ParamError::Missing {
                provider,
                name: missing.name,
                example: example(missing.check),
            });
        }
        Ok(Params { provider, values })
    }

    /// The parameters of a provider that needs none (every provider but Azure
    /// OpenAI and Bedrock).
    ///
    /// # Errors
    /// `missing_param` if `provider` needs parameters.
    pub fn none(provider: Provider) -> Result<Params, ParamError> {
        Params::new(provider, core::iter::empty::<(&str, &str)>())
    }

    /// Whether `provider` needs parameters a key alone does not give.
    pub fn required_by(provider: Provider) -> bool {
        provider.spec().params.iter().any(|p| p.default.is_none())
    }

    /// The provider these parameters were checked for.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The value of `name`, or its default; `None` if the provider has no such parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        match self.values.get(name) {
            Some(v) => Some(v),
            None => self.spec_of(name)?.default,
        }
    }

    /// The values given (not the defaults), by name.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        self.values.iter().map(|(k, v)| (*k, v.as_str()))
    }

    /// Whether no value was given.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `template` with every `{name}` replaced by [`get`](Params::get)`(name)`.
    /// Values passed their checks, none has a `/`, `?`, `#`, `{` or space, so a
    /// filled template is a URL of the expected shape.
    ///
    /// # Errors
    /// `missing_param` (or `unknown_param` for a name the provider does not
    /// have) if a template names a parameter without a value.
    pub fn fill(&self, template: &str) -> Result<String, ParamError> {
        let mut out = String::with_capacity(template.len() + 32);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let Some(len) = rest[open..].find('}') else {
                break;
            };
            let name = &rest[open + 1..open + len];
            out.push_str(&rest[..open]);
            match self.get(name) {
                Some(v) => out.push_str(v),
                None => {
                    return Err(match self.spec_of(name) {
                        Some(spec) => ParamError::Missing {
                            provider: self.provider,
                            name: spec.name,
                            example: example(spec.check),
                        },
                        None => ParamError::Unknown {
                            provider: self.provider,
                            name: printable(name),
                        },
                    });
                }
            }
            rest = &rest[open + len + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn spec_of(&self, name: &str) -> Option<&'static ParamSpec> {
        self.provider.spec().params.iter().find(|s| s.name == name)
    }
}

impl fmt::Display for Params {
    /// `resource=contoso, deployment=gpt-4o-mini` (defaults not shown).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Params {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.values.len()))?;
        for (k, v) in &self.values {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Parameters as stored, not yet checked: a JSON object of strings. Turn them
/// into [`Params`] with [`check`](UncheckedParams::check).
///
/// ```
/// use byok_keys::Provider;
/// use byok_keys::params::UncheckedParams;
///
/// let stored: UncheckedParams = serde_json::from_str(r#"{"region":"eu-central-1"}"#).unwrap();
/// let params = stored.check(Provider::Bedrock).unwrap();
/// assert_eq!(params.get("region"), Some("eu-central-1"));
/// assert_eq!(serde_json::to_string(&params).unwrap(), r#"{"region":"eu-central-1"}"#);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct UncheckedParams(pub BTreeMap<String, String>);

impl UncheckedParams {
    /// Check them against `provider`'s parameters ([`Params::new`]).
    ///
    /// # Errors
    /// As [`Params::new`].
    pub fn check(&self, provider: Provider) -> Result<Params, ParamError> {
        Params::new(provider, &self.0)
    }
}

impl From<&Params> for UncheckedParams {
    fn from(p: &Params) -> Self {
        UncheckedParams(
            p.iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }
}

/// Why parameters were refused. Never holds a refused value: a value pasted into
/// the wrong field may be the key itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// A required parameter has no value (`missing_param`).
    #[error("{provider} keys need the parameter `{name}` (for example {example}); store it with the key")]
    Missing {
        /// The provider.
        provider: Provider,
        /// The parameter.
        name: &'static str,
        /// A valid example value.
        example: &'static str,
    },
    /// A value is not acceptable (`invalid_param`).
    #[error("the parameter `{name}` of a {provider} key is not valid (for example {example})")]
    Invalid {
        /// The provider.
        provider: Provider,
        /// The parameter.
        name: &'static str,
        /// A valid example value.
        example: &'static str,
    },
    /// A name that is not one of the provider's parameters (`unknown_param`).
    #[error("{provider} keys have no parameter {name:?}")]
    Unknown {
        /// The provider.
        provider: Provider,
        /// The name given, cut to 64 printable ASCII characters.
        name: String,
    },
    /// A parameter given twice (`duplicate_param`).
    #[error("the parameter `{name}` of a {provider} key is given twice")]
    Duplicate {
        /// The provider.
        provider: Provider,
        /// The parameter.
        name: &'static str,
    },
}

impl ParamError {
    /// Stable snake_case code.
    pub const fn code(&self) -> &'static str {
        match self {
            ParamError::Missing { .. } => "missing_param",
            ParamError::Invalid { .. } => "invalid_param",
            ParamError::Unknown { .. } => "unknown_param",
            ParamError::Duplicate { .. } => "duplicate_param",
        }
    }

    /// What to do, naming the parameter, what it is and an example.
    pub fn hint(&self) -> String {
        let describe = |provider: Provider, name: &str| {
            provider
                .spec()
                .params
                .iter()
                .find(|p| p.name == name)
                .map_or("", |p| p.description)
        };
        match self {
            ParamError::Missing {
                provider,
                name,
                example,
            }
            | ParamError::Invalid {
                provider,
                name,
                example,
            } => format!(
                "Give `{name}`, {}, for example `{name}={example}`.",
                describe(*provider, name)
            ),
            ParamError::Unknown { provider, .. } => {
                let names: Vec<&str> = provider.spec().params.iter().map(|p| p.name).collect();
                if names.is_empty() {
                    format!("{provider} keys take no parameters: remove it.")
                } else {
                    format!(
                        "{provider} keys take only these parameters: {}.",
                        names.join(", ")
                    )
                }
            }
            ParamError::Duplicate { name, .. } => format!("Give `{name}` once."),
        }
    }
}

/// A valid example value for `check`, for hints.
pub const fn example(check: ParamCheck) -> &'static str {
    match check {
        ParamCheck::DnsLabel => "my-resource",
        ParamCheck::DeploymentName => "gpt-4o-mini",
        ParamCheck::ApiVersion => "2024-10-21",
        ParamCheck::AwsRegion => "us-east-1",
    }
}

/// An unknown name as an error keeps it: printable ASCII, at most 64 characters.
fn printable(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn azure(pairs: &[(&str, &str)]) -> Result<Params, ParamError> {
        Params::new(Provider::AzureOpenAi, pairs.iter().copied())
    }

    #[test]
    fn azure_needs_resource_and_deployment_and_defaults_the_version() {
        let p = azure(&[("resource", "contoso"), ("deployment", "gpt-4o")]).unwrap();
        assert_eq!(p.get("api_version"), Some("2024-10-21"));
        assert_eq!(p.iter().count(), 2);
        let p = azure(&[
            ("resource", "contoso"),
            ("deployment", "gpt-4o"),
            ("api_version", "2025-04-01-preview"),
        ])
        .unwrap();
        assert_eq!(p.get("api_version"), Some("2025-04-01-preview"));
        assert_eq!(
            p.to_string(),
            "api_version=2025-04-01-preview, deployment=gpt-4o, resource=contoso"
        );
        let err = azure(&[("resource", "contoso")]).unwrap_err();
        assert_eq!(err.code(), "missing_param");
        assert!(err.to_string().contains("deployment"), "{err}");
        assert!(err.hint().contains("deployment=gpt-4o-mini"), "{}", err.hint());
        // An empty form field is a missing value.
        let err = azure(&[("resource", "contoso"), ("deployment", " ")]).unwrap_err();
        assert_eq!(err.code(), "missing_param");
    }

    #[test]
    fn invalid_values_are_refused_without_echoing_them() {
        let secret_looking = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789";
        let err = azure(&[("resource", secret_looking), ("deployment", "d")]).unwrap_err();
        assert_eq!(err.code(), "invalid_param");
        let shown = format!("{err} {err:?} {}", err.hint());
        assert!(!shown.contains("abcdefghijkl"), "{shown}");
        assert!(shown.contains("resource") && shown.contains("my-resource"), "{shown}");
        let err = Params::new(Provider::Bedrock, [("region", "us-east-1/evil")]).unwrap_err();
        assert_eq!(
            err,
            ParamError::Invalid {
                provider: Provider::Bedrock,
                name: "region",
                example: "us-east-1"
            }
        );
    }

    #[test]
    fn unknown_and_duplicate_names() {
        let err = Params::new(Provider::OpenAi, [("region", "us-east-1")]).unwrap_err();
        assert_eq!(err.code(), "unknown_param");
        assert!(err.hint().contains("no parameters"), "{}", err.hint());
        let err = Params::new(Provider::Bedrock, [("zone\u{7}", "x")]).unwrap_err();
        assert_eq!(
            err,
            ParamError::Unknown {
                provider: Provider::Bedrock,
                name: "zone".into()
            }
        );
        assert!(err.hint().contains("region"));
        let err = Params::new(
            Provider::Bedrock,
            [("region", "us-east-1"), ("region", "us-west-2")],
        )
        .unwrap_err();
        assert_eq!(err.code(), "duplicate_param");
    }

    #[test]
    fn none_and_required_by() {
        for provider in Provider::ALL {
            let needs = matches!(provider, Provider::AzureOpenAi | Provider::Bedrock);
            assert_eq!(Params::required_by(provider), needs, "{provider}");
            assert_eq!(Params::none(provider).is_err(), needs, "{provider}");
        }
        assert!(Params::none(Provider::Groq).unwrap().is_empty());
    }

    #[test]
    fn fill_every_spec_template() {
        let p = azure(&[("resource", "contoso"), ("deployment", "gpt-4o")]).unwrap();
        let spec = Provider::AzureOpenAi.spec();
        assert_eq!(p.fill(spec.origin).unwrap(), "https://contoso.openai.azure.com");
        assert_eq!(
            p.fill(spec.chat_path.unwrap()).unwrap(),
            "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
        );
        let b = Params::new(Provider::Bedrock, [("region", "eu-west-3")]).unwrap();
        assert_eq!(
            b.fill(Provider::Bedrock.spec().origin).unwrap(),
            "https://bedrock-runtime.eu-west-3.amazonaws.com"
        );
        assert_eq!(
            b.fill("/{nope}").unwrap_err().code(),
            "unknown_param"
        );
        // No template: unchanged; an unclosed brace is text.
        assert_eq!(b.fill("/a{b").unwrap(), "/a{b");
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_round_trip_goes_through_the_checks() {
        let p = azure(&[("resource", "contoso"), ("deployment", "gpt-4o")]).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#"{"deployment":"gpt-4o","resource":"contoso"}"#);
        let back: UncheckedParams = serde_json::from_str(&json).unwrap();
        assert_eq!(back.check(Provider::AzureOpenAi).unwrap(), p);
        assert_eq!(UncheckedParams::from(&p), back);
        let bad: UncheckedParams = serde_json::from_str(r#"{"resource":"Bad Name"}"#).unwrap();
        assert_eq!(
            bad.check(Provider::AzureOpenAi).unwrap_err().code(),
            "invalid_param"
        );
        assert!(serde_json::from_str::<UncheckedParams>(r#"{"resource":1}"#).is_err());
    }

    proptest::proptest! {
        /// Any pairs: never a panic, and whatever is accepted passes its check and
        /// fills templates without braces left.
        #[test]
        fn any_pairs(name in "[a-z_]{0,12}", value in "\\PC{0,40}", p in 0usize..14) {
            let provider = Provider::ALL[p];
            if let Ok(params) = Params::new(provider, [(name.as_str(), value.as_str())]) {
                for (k, v) in params.iter() {
                    let spec = provider.spec().params.iter().find(|s| s.name == k).unwrap();
                    proptest::prop_assert!(spec.check.accepts(v));
                }
                let filled = params.fill(provider.spec().origin).unwrap();
                proptest::prop_assert!(!filled.contains('{'));
            }
        }
    }
}
