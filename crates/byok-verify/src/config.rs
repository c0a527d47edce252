//! What a [`Verifier`](crate::Verifier) talks to and how patiently.

use std::time::Duration;

use std::collections::BTreeMap;

use byok_keys::Provider;
use byok_keys::params::{ParamError, Params};
use byok_keys::spec::Wire;

use crate::error::VerifyError;
use crate::retry::RetryPolicy;

/// Configuration of a [`Verifier`](crate::Verifier): base URLs, probe models,
/// OpenAI organization/project headers, timeouts, retry policy, user agent.
///
/// Every provider's base URL and probe model default to its spec
/// ([`ProviderSpec::origin`](byok_keys::spec::ProviderSpec::origin),
/// [`probe_model`](byok_keys::spec::ProviderSpec::probe_model)); a configured
/// base URL (a test server, a gateway) replaces the origin, templated ones
/// (`https://{resource}.openai.azure.com`) included.
///
/// ```
/// use std::time::Duration;
/// use byok_keys::Provider;
/// use byok_verify::{RetryPolicy, VerifierConfig};
///
/// let config = VerifierConfig::default()
///     .base_url(Provider::OpenAi, "https://proxy.example.com/openai")
///     .probe_model(Provider::Anthropic, "claude-haiku-4-5")
///     .deadline(Duration::from_secs(20))
///     .retry(RetryPolicy::default().with_max_attempts(2));
/// assert_eq!(config.base_url_of(Provider::OpenAi), "https://proxy.example.com/openai");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct VerifierConfig {
    /// Configured base URLs; a provider without one uses its spec's origin.
    bases: BTreeMap<Provider, String>,
    /// Configured probe models; a provider without one uses its spec's.
    models: BTreeMap<Provider, String>,
    pub(crate) openai_organization: Option<String>,
    pub(crate) openai_project: Option<String>,
    pub(crate) request_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) deadline: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) user_agent: String,
    allow_http: bool,
    call_timeouts: CallTimeouts,
}

/// How long a call (byok's `Vault::call` and `Vault::call_stream`) waits for
/// each answer: the call path's one home for timeouts, set with
/// [`VerifierConfig::call_timeouts`]. Per request sent (a retry or a fallback
/// starts its own clock); the connect timeout
/// ([`VerifierConfig::connect_timeout`]) applies too.
///
/// The defaults are generous for LLMs: a long non-streamed answer (a reasoning
/// model) takes minutes, and a provider under load holds a stream open with
/// keep-alive comments for many minutes — bytes are activity.
///
/// ```
/// use std::time::Duration;
/// use byok_verify::{CallTimeouts, VerifierConfig};
///
/// let config = VerifierConfig::default()
///     .call_timeouts(CallTimeouts::default().idle(Duration::from_secs(20)));
/// assert_eq!(config.configured_call_timeouts().idle, Duration::from_secs(20));
/// assert_eq!(config.configured_call_timeouts().answer, Duration::from_secs(600));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallTimeouts {
    /// A stream: the longest wait from sending the request to the answer's
    /// status and headers (default 120 s). Code `headers_timeout`.
    pub headers: Duration,
    /// Not streamed: the longest wait from sending the request to the end of
    /// the whole answer, headers and body (default 600 s; a provider sends a
    /// non-streamed answer's headers only when it is ready). Code `answer_timeout`.
    pub answer: Duration,
    /// A stream: the longest silence between two reads of its body (default
    /// 60 s); any byte counts, keep-alive comments and blank lines included.
    /// Code `stream_stalled`.
    pub idle: Duration,
}

impl Default for CallTimeouts {
    fn default() -> Self {
        CallTimeouts {
            headers: Duration::from_secs(120),
            answer: Duration::from_secs(600),
            idle: Duration::from_secs(60),
        }
    }
}

impl CallTimeouts {
    /// The longest wait for a stream's status and headers.
    pub fn headers(mut self, timeout: Duration) -> Self {
        self.headers = timeout;
        self
    }

    /// The longest wait for a whole non-streamed answer.
    pub fn answer(mut self, timeout: Duration) -> Self {
        self.answer = timeout;
        self
    }

    /// The longest silence within a stream's body.
    pub fn idle(mut self, timeout: Duration) -> Self {
        self.idle = timeout;
        self
    }
}

impl Default for VerifierConfig {
    fn default() -> Self {
        VerifierConfig {
            bases: BTreeMap::new(),
            models: BTreeMap::new(),
            openai_organization: None,
            openai_project: None,
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            deadline: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            user_agent: concat!("byok/", env!("CARGO_PKG_VERSION")).to_owned(),
            allow_http: false,
            call_timeouts: CallTimeouts::default(),
        }
    }
}

impl VerifierConfig {
    /// Send `provider`'s requests to `base`: an origin (`http://127.0.0.1:8080`),
    /// optionally with a path prefix (`https://gateway.example.com/openai`). The
    /// public request paths (`/v1/models`, ...) are appended. Checked by
    /// [`Verifier::new`](crate::Verifier::new): `https`, or `http` to a loopback
    /// host (`127.0.0.0/8`, `::1`, `localhost`) only, unless
    /// [`allow_http`](VerifierConfig::allow_http) — the key travels in a header.
    pub fn base_url(mut self, provider: Provider, base: &str) -> Self {
        let base = base.trim().trim_end_matches('/').to_owned();
        self.bases.insert(provider, base);
        self
    }

    /// The model of `provider`'s billable probe (1 output token). A
    /// parameter template (`{deployment}`, Azure's default) is filled from the
    /// key's parameters.
    pub fn probe_model(mut self, provider: Provider, model: &str) -> Self {
        let model = model.trim().to_owned();
        self.models.insert(provider, model);
        self
    }

    /// Send `OpenAI-Organization: org` with OpenAI requests.
    pub fn openai_organization(mut self, org: &str) -> Self {
        self.openai_organization = Some(org.trim().to_owned());
        self
    }

    /// Send `OpenAI-Project: project` with OpenAI requests.
    pub fn openai_project(mut self, project: &str) -> Self {
        self.openai_project = Some(project.trim().to_owned());
        self
    }

    /// Longest wait for one HTTP answer of a verification probe (default 10 s;
    /// calls have [`call_timeouts`](VerifierConfig::call_timeouts)).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Longest wait for a TCP/TLS connection (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Overall deadline of one verification, all probes and retries included
    /// (default 30 s); for a call, how long its retries may keep waiting.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The retry policy (see [`RetryPolicy`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The `User-Agent` header (default `byok/<version>`).
    pub fn user_agent(mut self, agent: &str) -> Self {
        self.user_agent = agent.to_owned();
        self
    }

    /// Accept `http://` base URLs to any host (default `false`: only loopback
    /// hosts). Plain HTTP sends the key in cleartext to everyone on the path.
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// How long calls wait for their answers (see [`CallTimeouts`]).
    pub fn call_timeouts(mut self, timeouts: CallTimeouts) -> Self {
        self.call_timeouts = timeouts;
        self
    }

    /// The call timeouts configured.
    pub fn configured_call_timeouts(&self) -> CallTimeouts {
        self.call_timeouts
    }

    /// How requests are retried.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The overall deadline of one probe, or of one call with its retries.
    pub fn deadline_limit(&self) -> Duration {
        self.deadline
    }

    /// The base URL of `provider`: the configured one, else its spec's origin,
    /// which may be a template (`https://{resource}.openai.azure.com`; see
    /// [`base_url_for`](VerifierConfig::base_url_for)).
    pub fn base_url_of(&self, provider: Provider) -> &str {
        self.bases
            .get(&provider)
            .map_or(provider.spec().origin, String::as_str)
    }

    /// Whether a base URL was configured for `provider` (it then replaces the
    /// origin, templated or not).
    pub fn has_base_url(&self, provider: Provider) -> bool {
        self.bases.contains_key(&provider)
    }

    /// The base URL of `provider` for a key with `params`: the configured one,
    /// else the spec's origin with its templates filled (`https://contoso.openai.azure.com`).
    ///
    /// # Errors
    /// [`ParamError`] (`missing_param`) if the origin names a parameter `params` lacks.
    pub fn base_url_for(&self, provider: Provider, params: &Params) -> Result<String, ParamError> {
        match self.bases.get(&provider) {
            Some(base) => Ok(base.clone()),
            None => params.fill(provider.spec().origin),
        }
    }

    /// The billable-probe model of `provider`: the configured one, else its
    /// spec's (possibly a template such as Azure's `{deployment}`).
    pub fn probe_model_of(&self, provider: Provider) -> &str {
        self.models
            .get(&provider)
            .map_or(provider.spec().probe_model, String::as_str)
    }

    /// Check every base URL and model; called by `Verifier::new`.
    pub(crate) fn validate(&self) -> Result<(), VerifyError> {
        let call = &self.call_timeouts;
        for (which, d) in [
            ("request", self.request_timeout),
            ("connect", self.connect_timeout),
            ("call headers", call.headers),
            ("call answer", call.answer),
            ("call idle", call.idle),
        ] {
            if d.is_zero() {
                return Err(VerifyError::ZeroTimeout { which });
            }
        }
        for p in Provider::ALL {
            let base = self.base_url_of(p);
            // A templated spec origin is checked once filled, at request time.
            if self.has_base_url(p) || !base.contains('{') {
                check_base(p, base, self.allow_http)?;
            }
            if !model_ok(p, self.probe_model_of(p)) {
                return Err(VerifyError::InvalidModel { provider: p });
            }
        }
        Ok(())
    }
}

/// A model name that can go where `provider`'s wire puts it: identifier
/// characters, plus `/` where the model travels only in the body of an
/// OpenAI-compatible request (`openai/gpt-4o-mini`, `meta-llama/...`), or one
/// parameter template of the provider (`{deployment}`).
fn model_ok(provider: Provider, model: &str) -> bool {
    let spec = provider.spec();
    if let Some(name) = model.strip_prefix('{').and_then(|m| m.strip_suffix('}')) {
        return spec.params.iter().any(|p| p.name == name);
    }
    let slash = matches!(spec.wire, Wire::OpenAiChat | Wire::OpenAiResponses)
        && provider != Provider::OpenAi;
    !model.is_empty()
        && !model.starts_with('/')
        && model
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:@".contains(&b) || (slash && b == b'/'))
}

fn check_base(provider: Provider, base: &str, allow_http: bool) -> Result<(), VerifyError> {
    let bad = |reason: &'static str| VerifyError::InvalidBaseUrl { provider, reason };
    let url = reqwest::Url::parse(base).map_err(|_| bad("not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    let Some(host) = url.host_str() else {
        return Err(bad("there is no host"));
    };
    if url.scheme() == "http" && !allow_http && !is_loopback(host) {
        return Err(VerifyError::InsecureBaseUrl { provider });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("credentials do not belong in a URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad(
            "a query or fragment is not allowed (keys never go in URLs)",
        ));
    }
    Ok(())
}

/// `127.0.0.0/8`, `::1` (also as `::ffff:127.x.y.z`) or `localhost`, as a URL
/// writes its host (IPv6 in brackets).
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_production_origins() {
        let c = VerifierConfig::default();
        assert_eq!(
            c.base_url_of(Provider::Google),
            "https://generativelanguage.googleapis.com"
        );
        assert_eq!(c.probe_model_of(Provider::OpenAi), "gpt-4o-mini-2024-07-18");
        c.validate().unwrap();
        for p in Provider::ALL {
            assert_eq!(c.base_url_of(p), p.spec().origin, "{p}");
            assert_eq!(c.probe_model_of(p), p.spec().probe_model, "{p}");
            assert!(!c.has_base_url(p));
        }
    }

    #[test]
    fn base_urls_are_checked() {
        let ok = VerifierConfig::default().base_url(Provider::OpenAi, "http://127.0.0.1:9/prefix/");
        assert_eq!(
            ok.base_url_of(Provider::OpenAi),
            "http://127.0.0.1:9/prefix"
        );
        ok.validate().unwrap();
        for (bad, code) in [
            ("ftp://x", "the scheme must be http or https"),
            ("nonsense", "not a URL"),
            ("https://u:p@host", "credentials do not belong in a URL"),
            (
                "https://host/?key=1",
                "a query or fragment is not allowed (keys never go in URLs)",
            ),
        ] {
            let err = VerifierConfig::default()
                .base_url(Provider::Google, bad)
                .validate()
                .unwrap_err();
            assert_eq!(
                err,
                VerifyError::InvalidBaseUrl {
                    provider: Provider::Google,
                    reason: code
                }
            );
            assert_eq!(err.code(), "invalid_base_url");
        }
    }

    #[test]
    fn plain_http_only_to_loopback_unless_allowed() {
        for ok in [
            "http://127.0.0.1:9",
            "http://127.8.9.10/gw",
            "http://[::1]:9",
            "http://[::ffff:127.0.0.1]:9",
            "http://localhost:8080",
            "http://LOCALHOST",
            "https://gateway.example.com/openai",
        ] {
            let c = VerifierConfig::default().base_url(Provider::Anthropic, ok);
            assert_eq!(c.validate(), Ok(()), "{ok}");
        }
        for insecure in [
            "http://gateway.example.com",
            "http://10.0.0.1:8080",
            "http://[::2]",
            "http://localhost.example.com",
            "http://128.0.0.1",
        ] {
            let c = VerifierConfig::default().base_url(Provider::Anthropic, insecure);
            let err = c.clone().validate().unwrap_err();
            assert_eq!(
                err,
                VerifyError::InsecureBaseUrl {
                    provider: Provider::Anthropic
                },
                "{insecure}"
            );
            assert_eq!(err.code(), "insecure_base_url");
            assert!(err.to_string().contains("https"), "{err}");
            assert_eq!(c.allow_http(true).validate(), Ok(()), "{insecure}");
        }
    }

    #[test]
    fn models_are_checked() {
        let err = VerifierConfig::default()
            .probe_model(Provider::Anthropic, "a/b")
            .validate()
            .unwrap_err();
        assert_eq!(
            err,
            VerifyError::InvalidModel {
                provider: Provider::Anthropic
            }
        );
    }

    #[test]
    fn zero_timeouts_are_refused() {
        let zero = Duration::ZERO;
        let t = CallTimeouts::default;
        for (config, which) in [
            (VerifierConfig::default().request_timeout(zero), "request"),
            (VerifierConfig::default().connect_timeout(zero), "connect"),
            (
                VerifierConfig::default().call_timeouts(t().headers(zero)),
                "call headers",
            ),
            (
                VerifierConfig::default().call_timeouts(t().answer(zero)),
                "call answer",
            ),
            (
                VerifierConfig::default().call_timeouts(t().idle(zero)),
                "call idle",
            ),
        ] {
            let err = config.validate().unwrap_err();
            assert_eq!(err, VerifyError::ZeroTimeout { which });
            assert_eq!(err.code(), "zero_timeout");
            assert!(err.to_string().contains("positive duration"), "{err}");
        }
        // A zero retry deadline is allowed: it means "never wait to retry".
        VerifierConfig::default().deadline(zero).validate().unwrap();
    }

    #[test]
    fn every_provider_has_its_own_base_and_model() {
        let mut c = VerifierConfig::default();
        for (i, p) in Provider::ALL.into_iter().enumerate() {
            c = c
                .base_url(p, &format!("http://127.0.0.1:{}/", 9000 + i))
                .probe_model(p, &format!("model-{i}"));
        }
        c.validate().unwrap();
        for (i, p) in Provider::ALL.into_iter().enumerate() {
            assert_eq!(c.base_url_of(p), format!("http://127.0.0.1:{}", 9000 + i));
            assert_eq!(c.probe_model_of(p), format!("model-{i}"));
            assert!(c.has_base_url(p));
        }
    }

    #[test]
    fn templated_origins_are_filled_or_replaced() {
        let c = VerifierConfig::default();
        let azure = Params::new(
            Provider::AzureOpenAi,
            [("resource", "contoso"), ("deployment", "gpt-4o")],
        )
        .unwrap();
        assert_eq!(
            c.base_url_for(Provider::AzureOpenAi, &azure).unwrap(),
            "https://contoso.openai.azure.com"
        );
        let none = Params::none(Provider::Groq).unwrap();
        assert_eq!(
            c.base_url_for(Provider::Groq, &none).unwrap(),
            "https://api.groq.com"
        );
        let gw = c.base_url(Provider::AzureOpenAi, "http://127.0.0.1:9/azure");
        assert_eq!(
            gw.base_url_for(Provider::AzureOpenAi, &azure).unwrap(),
            "http://127.0.0.1:9/azure"
        );
    }

    #[test]
    fn model_names_follow_the_wire() {
        let ok = VerifierConfig::default()
            .probe_model(Provider::OpenRouter, "anthropic/claude-3.5-haiku")
            .probe_model(Provider::Together, "meta-llama/Llama-3.2-3B-Instruct-Turbo")
            .probe_model(Provider::Bedrock, "us.amazon.nova-micro-v1:0")
            .probe_model(Provider::AzureOpenAi, "{deployment}");
        ok.validate().unwrap();
        for (p, bad) in [
            (Provider::Bedrock, "a/b"),
            (Provider::Google, "models/x"),
            (Provider::AzureOpenAi, "{region}"),
            (Provider::OpenRouter, "/abs"),
            (Provider::Groq, ""),
        ] {
            let err = VerifierConfig::default()
                .probe_model(p, bad)
                .validate()
                .unwrap_err();
            assert_eq!(err, VerifyError::InvalidModel { provider: p }, "{bad}");
        }
    }
}
