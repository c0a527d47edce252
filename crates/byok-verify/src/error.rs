//! The crate's one error type: a [`Verifier`](crate::Verifier) that cannot be built.
//! A verification itself never fails: every outcome is a [`Verdict`](crate::Verdict).

use byok_keys::Provider;

/// Why a [`Verifier`](crate::Verifier) could not be built. Never holds a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A configured base URL is unusable.
    #[error(
        "the base URL for {provider} is invalid: {reason}; give an http(s) origin, optionally with a path prefix"
    )]
    InvalidBaseUrl {
        /// Whose base URL.
        provider: Provider,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A configured base URL is plain `http` to a host that is not loopback: the
    /// key would travel in cleartext. Allowed with `VerifierConfig::allow_http`.
    #[error(
        "the base URL for {provider} is plain http to a host that is not this machine: the key would travel in cleartext; use https, or allow http explicitly (VerifierConfig::allow_http, `--allow-http`)"
    )]
    InsecureBaseUrl {
        /// Whose base URL.
        provider: Provider,
    },
    /// A configured probe model name cannot go in a request path.
    #[error(
        "the probe model for {provider} is not a valid model name; use the provider's model id, e.g. gpt-4o-mini-2024-07-18"
    )]
    InvalidModel {
        /// Whose model.
        provider: Provider,
    },
    /// A configured timeout is zero: every request would fail at once.
    #[error(
        "the {which} timeout is zero: every request or call would fail at once; give a positive duration (or leave it at its default)"
    )]
    ZeroTimeout {
        /// Which one: `request`, `connect`, `call headers`, `call answer`, `call idle`.
        which: &'static str,
    },
    /// The HTTP client could not be built (TLS setup).
    #[error("the HTTP client could not be built ({0}); check the TLS configuration of this system")]
    HttpClient(String),
}

impl VerifyError {
    /// Stable snake_case code.
    pub const fn code(&self) -> &'static str {
        match self {
            VerifyError::InvalidBaseUrl { .. } => "invalid_base_url",
            VerifyError::InsecureBaseUrl { .. } => "insecure_base_url",
            VerifyError::InvalidModel { .. } => "invalid_model",
            VerifyError::ZeroTimeout { .. } => "zero_timeout",
            VerifyError::HttpClient(_) => "http_client",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_to_do() {
        let e = VerifyError::InvalidModel {
            provider: Provider::OpenAi,
        };
        assert_eq!(e.code(), "invalid_model");
        assert!(e.to_string().contains("use the provider's model id"));
    }
}
