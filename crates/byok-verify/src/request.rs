//! What goes on the wire for each provider and probe: method, public path,
//! auth headers (marked sensitive), body, all read from the provider's
//! [`ProviderSpec`](byok_keys::spec::ProviderSpec). The key goes in a header,
//! never a URL.

use byok_keys::params::Params;
use byok_keys::spec::{Auth, ProviderSpec, Wire};
use byok_keys::{ApiKey, Provider};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Request, Url};
use serde_json::json;

use crate::config::VerifierConfig;
use crate::credential::Credential;
use crate::error::VerifyError;
use crate::report::Probe;

/// OpenAI's Responses API refuses `max_output_tokens` below 16; Perplexity's
/// mirrors it. The probe stays the cheapest the API accepts.
const RESPONSES_MIN_OUTPUT: u32 = 16;

/// One probe's request line and body.
#[derive(Debug, Clone)]
struct Route {
    provider: Provider,
    probe: Probe,
    method: Method,
    url: Url,
    body: Option<Vec<u8>>,
}

/// Every (provider, probe) request of the providers that need no parameters,
/// resolved once when a verifier is built so a verification does no URL
/// parsing or JSON encoding. Providers with parameters (Azure, Bedrock) have
/// their templates filled per key, at request time.
#[derive(Debug, Clone)]
pub(crate) struct Routes(Vec<Route>);

impl Routes {
    pub(crate) fn new(config: &VerifierConfig) -> Result<Routes, VerifyError> {
        let mut routes = Vec::with_capacity(3 * Provider::ALL.len());
        for provider in Provider::ALL {
            let Ok(params) = Params::none(provider) else {
                continue;
            };
            for probe in [Probe::KeyInfo, Probe::ListModels, Probe::Billable] {
                let Some(line) = line(config, provider, probe, &params) else {
                    continue;
                };
                let (method, url, body) = line.map_err(|()| VerifyError::InvalidBaseUrl {
                    provider,
                    reason: "it cannot be joined with the request path",
                })?;
                routes.push(Route {
                    provider,
                    probe,
                    method,
                    url,
                    body,
                });
            }
        }
        Ok(Routes(routes))
    }

    /// The request of `probe` for `key` with `params` (checked for the key's
    /// provider). `None` if the provider has no such probe, or the key cannot
    /// go in a header (impossible for a parsed key, whose characters are all
    /// printable ASCII).
    pub(crate) fn build(
        &self,
        config: &VerifierConfig,
        key: &Credential<'_>,
        params: &Params,
        probe: Probe,
    ) -> Option<Request> {
        let provider = key.provider;
        let (method, url, body) = if provider.spec().params.is_empty() {
            let route = self
                .0
                .iter()
                .find(|r| r.provider == provider && r.probe == probe)?;
            (route.method.clone(), route.url.clone(), route.body.clone())
        } else {
            line(config, provider, probe, params)?.ok()?
        };
        let mut request = Request::new(method, url);
        let headers = request.headers_mut();
        add_auth(headers, config, key.provider, key.expose_secret())?;
        if let Some(body) = body {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            *request.body_mut() = Some(body.into());
        }
        Some(request)
    }
}

/// The probes `provider` has, in the order a verification runs them: its free
/// probe (key info where the provider has one, else list models), then the
/// billable one. See [`Depth`](crate::Depth) for which run.
pub(crate) fn free_probe(spec: &ProviderSpec) -> Option<Probe> {
    if spec.key_info.is_some() {
        Some(Probe::KeyInfo)
    } else if spec.models_path.is_some() {
        Some(Probe::ListModels)
    } else {
        None
    }
}

/// Whether `provider`'s free list-models probe is known to fail for working
/// keys: Fireworks' `/inference/v1/models` answers 500 "Error listing deployed
/// models" for some accounts, and Azure's deployments list (`2023-03-15-preview`)
/// may be retired. There, an inconclusive list answer falls through to the
/// billable probe. (A fact `ProviderSpec` does not carry yet.)
pub(crate) fn list_unreliable(provider: Provider) -> bool {
    matches!(provider, Provider::Fireworks | Provider::AzureOpenAi)
}

type Line = (Method, Url, Option<Vec<u8>>);

/// Method, URL and JSON body of `probe` at `provider`: `None` if the provider
/// has no such probe, `Some(Err)` if the URL cannot be built.
fn line(
    config: &VerifierConfig,
    provider: Provider,
    probe: Probe,
    params: &Params,
) -> Option<Result<Line, ()>> {
    let spec = provider.spec();
    let (method, path, body) = match probe {
        Probe::KeyInfo => {
            let info = spec.key_info?;
            let method = Method::from_bytes(info.method.as_bytes()).ok()?;
            (method, info.path.to_owned(), None)
        }
        Probe::ListModels => (Method::GET, spec.models_path?.to_owned(), None),
        Probe::Billable => {
            let Ok(model) = params.fill(config.probe_model_of(provider)) else {
                return Some(Err(()));
            };
            let (path, body) = billable(spec, &model)?;
            (Method::POST, path, Some(body.to_string().into_bytes()))
        }
    };
    let built = (|| {
        let base = config.base_url_for(provider, params).map_err(|_| ())?;
        let path = params.fill(&path).map_err(|_| ())?;
        let url = Url::parse(&format!("{base}{path}")).map_err(|_| ())?;
        Ok((method, url, body))
    })();
    Some(built)
}

/// The billable probe of `spec`'s wire: path and body, one output token (or
/// the least the API accepts).
fn billable(spec: &ProviderSpec, model: &str) -> Option<(String, serde_json::Value)> {
    let ping = json!([{"role": "user", "content": "ping"}]);
    Some(match spec.wire {
        // OpenAI's newer models refuse `max_tokens`; the compatible providers
        // (OpenRouter included: a tiny max_tokens keeps "can only afford" away)
        // all read it.
        Wire::OpenAiChat if spec.provider == Provider::OpenAi => (
            spec.chat_path?.to_owned(),
            json!({"model": model, "messages": ping, "max_completion_tokens": 1}),
        ),
        Wire::OpenAiChat => (
            spec.chat_path?.to_owned(),
            json!({"model": model, "messages": ping, "max_tokens": 1}),
        ),
        Wire::OpenAiResponses => (
            "/v1/responses".to_owned(),
            json!({"model": model, "input": "ping", "max_output_tokens": RESPONSES_MIN_OUTPUT}),
        ),
        Wire::AnthropicMessages => (
            "/v1/messages".to_owned(),
            json!({"model": model, "max_tokens": 1, "messages": ping}),
        ),
        Wire::GeminiGenerate => (
            format!("/v1beta/models/{model}:generateContent"),
            json!({
                "contents": [{"role": "user", "parts": [{"text": "ping"}]}],
                "generationConfig": {"maxOutputTokens": 1}
            }),
        ),
        Wire::BedrockConverse => (
            format!("/model/{model}/converse"),
            json!({
                "messages": [{"role": "user", "content": [{"text": "ping"}]}],
                "inferenceConfig": {"maxTokens": 1}
            }),
        ),
        Wire::CohereChat => (
            "/v2/chat".to_owned(),
            json!({"model": model, "messages": ping, "max_tokens": 1}),
        ),
        // A wire newer than this crate: no billable probe.
        _ => return None,
    })
}

/// The headers that authenticate a request with `key` at its provider, from
/// its spec: `Authorization: Bearer` or the spec's own header (`x-api-key`,
/// `api-key`, `x-goog-api-key`), plus the spec's fixed headers
/// (`anthropic-version`) and, for OpenAI only, `OpenAI-Organization` /
/// `OpenAI-Project` when configured. The key's values are marked sensitive
/// (shown as `Sensitive` by `Debug`, never HPACK-indexed); the key never goes
/// in a URL. `None` if the key cannot go in a header (impossible for a parsed key).
///
/// The one home of each provider's auth: the Test button and the call path
/// both use it. Parameters (Azure, Bedrock) shape URLs, never auth headers.
pub fn auth_headers(config: &VerifierConfig, key: &ApiKey) -> Option<HeaderMap> {
    let mut headers = HeaderMap::new();
    // The provider and the secret only: the call path builds these per request,
    // and a mask or fingerprint would be work for nothing.
    add_auth(&mut headers, config, key.provider(), key.expose_secret())?;
    Some(headers)
}

fn add_auth(
    headers: &mut HeaderMap,
    config: &VerifierConfig,
    provider: Provider,
    secret_text: &str,
) -> Option<()> {
    let secret = |value: String| {
        let mut v = HeaderValue::from_str(&value).ok()?;
        // Sensitive values print as "Sensitive" in Debug and are never HPACK-indexed.
        v.set_sensitive(true);
        Some(v)
    };
    let spec = provider.spec();
    match spec.auth {
        Auth::Bearer => {
            headers.insert(
                reqwest::header::AUTHORIZATION,
                secret(format!("Bearer {secret_text}"))?,
            );
        }
        Auth::Header(name) => {
            headers.insert(
                HeaderName::from_bytes(name.as_bytes()).ok()?,
                secret(secret_text.to_owned())?,
            );
        }
        // An auth scheme newer than this crate: the request cannot be authenticated.
        _ => return None,
    }
    for (name, value) in spec.fixed_headers {
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).ok()?,
            HeaderValue::from_str(value).ok()?,
        );
    }
    if provider == Provider::OpenAi {
        if let Some(org) = &config.openai_organization {
            headers.insert(
                HeaderName::from_static("openai-organization"),
                HeaderValue::from_str(org).ok()?,
            );
        }
        if let Some(project) = &config.openai_project {
            headers.insert(
                HeaderName::from_static("openai-project"),
                HeaderValue::from_str(project).ok()?,
            );
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use byok_keys::{KeyKind, fake};

    /// Anthropic API version header value.
    const ANTHROPIC_VERSION: &str = "2023-06-01";

    fn none(key: &ApiKey) -> Params {
        Params::none(key.provider()).unwrap()
    }

    fn cred(key: &ApiKey) -> Credential<'_> {
        Credential::of(key)
    }

    #[test]
    fn gemini_key_only_in_its_header() {
        let raw = fake::key(Provider::Google, KeyKind::Standard, 11);
        let key = ApiKey::parse(&raw).unwrap();
        let config = VerifierConfig::default().base_url(Provider::Google, "http://127.0.0.1:1/gw");
        for probe in [Probe::ListModels, Probe::Billable] {
            let r = Routes::new(&config)
                .unwrap()
                .build(&config, &cred(&key), &none(&key), probe)
                .unwrap();
            assert!(!r.url().as_str().contains(&raw));
            assert_eq!(r.url().query(), None);
            assert_eq!(r.headers()["x-goog-api-key"].to_str().unwrap(), raw);
            assert!(r.headers()["x-goog-api-key"].is_sensitive());
            assert!(!format!("{r:?}").contains(&raw));
            assert!(r.url().path().starts_with("/gw/v1beta/models"));
        }
    }

    #[test]
    fn openai_headers_and_body() {
        let raw = fake::key(Provider::OpenAi, KeyKind::Project, 11);
        let key = ApiKey::parse(&raw).unwrap();
        let config = VerifierConfig::default()
            .openai_organization("org-1")
            .openai_project("proj_1");
        let r = Routes::new(&config)
            .unwrap()
            .build(&config, &cred(&key), &none(&key), Probe::Billable)
            .unwrap();
        assert_eq!(
            r.url().as_str(),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            r.headers()["authorization"].to_str().unwrap(),
            format!("Bearer {raw}")
        );
        assert_eq!(r.headers()["openai-organization"], "org-1");
        assert_eq!(r.headers()["openai-project"], "proj_1");
        let body: serde_json::Value =
            serde_json::from_slice(r.body().unwrap().as_bytes().unwrap()).unwrap();
        assert_eq!(body["model"], "gpt-4o-mini-2024-07-18");
        assert_eq!(body["max_completion_tokens"], 1);
    }

    #[test]
    fn anthropic_version_header() {
        let raw = fake::key(Provider::Anthropic, KeyKind::Api, 11);
        let key = ApiKey::parse(&raw).unwrap();
        let config = VerifierConfig::default();
        let r = Routes::new(&config)
            .unwrap()
            .build(&config, &cred(&key), &none(&key), Probe::ListModels)
            .unwrap();
        assert_eq!(r.headers()["anthropic-version"], ANTHROPIC_VERSION);
        assert_eq!(r.headers()["x-api-key"].to_str().unwrap(), raw);
        assert_eq!(r.method(), Method::GET);
    }

    fn params_for(provider: Provider) -> Params {
        match provider {
            Provider::AzureOpenAi => Params::new(
                provider,
                [("resource", "contoso"), ("deployment", "gpt-4o-mini")],
            )
            .unwrap(),
            Provider::Bedrock => Params::new(provider, [("region", "eu-west-3")]).unwrap(),
            other => Params::none(other).unwrap(),
        }
    }

    /// (provider, probe) → (method, production URL) for all fourteen providers.
    const EXPECTED: &[(Provider, Probe, &str, &str)] = &[
        (
            Provider::OpenAi,
            Probe::ListModels,
            "GET",
            "https://api.openai.com/v1/models",
        ),
        (
            Provider::OpenAi,
            Probe::Billable,
            "POST",
            "https://api.openai.com/v1/chat/completions",
        ),
        (
            Provider::Anthropic,
            Probe::Billable,
            "POST",
            "https://api.anthropic.com/v1/messages",
        ),
        (
            Provider::Google,
            Probe::Billable,
            "POST",
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash-lite:generateContent",
        ),
        (
            Provider::OpenRouter,
            Probe::KeyInfo,
            "GET",
            "https://openrouter.ai/api/v1/key",
        ),
        (
            Provider::OpenRouter,
            Probe::Billable,
            "POST",
            "https://openrouter.ai/api/v1/chat/completions",
        ),
        (
            Provider::Groq,
            Probe::ListModels,
            "GET",
            "https://api.groq.com/openai/v1/models",
        ),
        (
            Provider::Groq,
            Probe::Billable,
            "POST",
            "https://api.groq.com/openai/v1/chat/completions",
        ),
        (
            Provider::XAi,
            Probe::KeyInfo,
            "GET",
            "https://api.x.ai/v1/api-key",
        ),
        (
            Provider::XAi,
            Probe::Billable,
            "POST",
            "https://api.x.ai/v1/chat/completions",
        ),
        (
            Provider::DeepSeek,
            Probe::KeyInfo,
            "GET",
            "https://api.deepseek.com/user/balance",
        ),
        (
            Provider::DeepSeek,
            Probe::Billable,
            "POST",
            "https://api.deepseek.com/chat/completions",
        ),
        (
            Provider::Mistral,
            Probe::ListModels,
            "GET",
            "https://api.mistral.ai/v1/models",
        ),
        (
            Provider::Mistral,
            Probe::Billable,
            "POST",
            "https://api.mistral.ai/v1/chat/completions",
        ),
        (
            Provider::Together,
            Probe::ListModels,
            "GET",
            "https://api.together.xyz/v1/models",
        ),
        (
            Provider::Together,
            Probe::Billable,
            "POST",
            "https://api.together.xyz/v1/chat/completions",
        ),
        (
            Provider::Fireworks,
            Probe::ListModels,
            "GET",
            "https://api.fireworks.ai/inference/v1/models",
        ),
        (
            Provider::Fireworks,
            Probe::Billable,
            "POST",
            "https://api.fireworks.ai/inference/v1/chat/completions",
        ),
        (
            Provider::Perplexity,
            Probe::Billable,
            "POST",
            "https://api.perplexity.ai/v1/responses",
        ),
        (
            Provider::AzureOpenAi,
            Probe::ListModels,
            "GET",
            "https://contoso.openai.azure.com/openai/deployments?api-version=2023-03-15-preview",
        ),
        (
            Provider::AzureOpenAi,
            Probe::Billable,
            "POST",
            "https://contoso.openai.azure.com/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21",
        ),
        (
            Provider::Bedrock,
            Probe::Billable,
            "POST",
            "https://bedrock-runtime.eu-west-3.amazonaws.com/model/amazon.nova-micro-v1:0/converse",
        ),
        (
            Provider::Cohere,
            Probe::KeyInfo,
            "POST",
            "https://api.cohere.com/v1/check-api-key",
        ),
        (
            Provider::Cohere,
            Probe::Billable,
            "POST",
            "https://api.cohere.com/v2/chat",
        ),
    ];

    #[test]
    fn every_provider_routes_from_its_spec() {
        let config = VerifierConfig::default();
        let routes = Routes::new(&config).unwrap();
        let secret = "k3y-s3cret-value-0123456789abcdef";
        for &(provider, probe, method, url) in EXPECTED {
            let key = Credential::raw(provider, secret);
            let r = routes
                .build(&config, &key, &params_for(provider), probe)
                .unwrap_or_else(|| panic!("{provider} {probe:?}"));
            assert_eq!(r.method().as_str(), method, "{provider} {probe:?}");
            assert_eq!(r.url().as_str(), url, "{provider} {probe:?}");
            assert!(!r.url().as_str().contains(secret), "{provider}");
            assert!(!format!("{r:?}").contains(secret), "{provider}");
            let (name, value) = match provider.spec().auth {
                Auth::Bearer => ("authorization", format!("Bearer {secret}")),
                Auth::Header(name) => (name, secret.to_owned()),
                _ => unreachable!("every spec's auth is known here"),
            };
            assert_eq!(r.headers()[name].to_str().unwrap(), value, "{provider}");
            assert!(r.headers()[name].is_sensitive(), "{provider}");
            for (fixed, v) in provider.spec().fixed_headers {
                assert_eq!(r.headers()[*fixed], *v, "{provider}");
            }
            // OpenAI's organization header is OpenAI's only.
            assert!(r.headers().get("openai-organization").is_none());
        }
        // Every provider has a billable probe and its free probe, if any, routes.
        for provider in Provider::ALL {
            let key = Credential::raw(provider, secret);
            let params = params_for(provider);
            assert!(
                routes
                    .build(&config, &key, &params, Probe::Billable)
                    .is_some(),
                "{provider}"
            );
            if let Some(free) = free_probe(provider.spec()) {
                assert!(
                    routes.build(&config, &key, &params, free).is_some(),
                    "{provider}"
                );
            }
        }
    }

    #[test]
    fn billable_bodies_follow_the_wire() {
        let config = VerifierConfig::default();
        let routes = Routes::new(&config).unwrap();
        let body = |provider: Provider| {
            let key = Credential::raw(provider, "k3y-s3cret-value-0123456789abcdef");
            let r = routes
                .build(&config, &key, &params_for(provider), Probe::Billable)
                .unwrap();
            assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
            serde_json::from_slice::<serde_json::Value>(r.body().unwrap().as_bytes().unwrap())
                .unwrap()
        };
        for p in [
            Provider::OpenRouter,
            Provider::Groq,
            Provider::XAi,
            Provider::DeepSeek,
            Provider::Mistral,
            Provider::Together,
            Provider::Fireworks,
        ] {
            let b = body(p);
            assert_eq!(b["max_tokens"], 1, "{p}");
            assert_eq!(b["model"], p.spec().probe_model, "{p}");
            assert_eq!(b["messages"][0]["content"], "ping");
        }
        assert_eq!(body(Provider::AzureOpenAi)["model"], "gpt-4o-mini");
        let b = body(Provider::Perplexity);
        assert_eq!(
            (b["model"].as_str(), b["max_output_tokens"].as_u64()),
            (Some("sonar"), Some(16))
        );
        let b = body(Provider::Bedrock);
        assert_eq!(b["inferenceConfig"]["maxTokens"], 1);
        assert_eq!(b["messages"][0]["content"][0]["text"], "ping");
        let b = body(Provider::Cohere);
        assert_eq!(
            (b["model"].as_str(), b["max_tokens"].as_u64()),
            (Some("command-r7b-12-2024"), Some(1))
        );
    }

    #[test]
    fn a_configured_base_replaces_a_templated_origin() {
        let config =
            VerifierConfig::default().base_url(Provider::Bedrock, "http://127.0.0.1:9/aws");
        let routes = Routes::new(&config).unwrap();
        let key = Credential::raw(Provider::Bedrock, "ABSKsecretsecretsecret");
        let r = routes
            .build(
                &config,
                &key,
                &params_for(Provider::Bedrock),
                Probe::Billable,
            )
            .unwrap();
        assert_eq!(
            r.url().as_str(),
            "http://127.0.0.1:9/aws/model/amazon.nova-micro-v1:0/converse"
        );
        // Params of another provider never fill a template.
        let wrong = Params::none(Provider::Groq).unwrap();
        let plain = VerifierConfig::default();
        let routes = Routes::new(&plain).unwrap();
        assert!(
            routes
                .build(&plain, &key, &wrong, Probe::Billable)
                .is_none()
        );
    }

    #[test]
    fn auth_headers_for_every_provider() {
        let config = VerifierConfig::default().openai_organization("org-1");
        for provider in [Provider::OpenAi, Provider::Anthropic, Provider::Google] {
            let kind = match provider {
                Provider::OpenAi => KeyKind::Project,
                Provider::Anthropic => KeyKind::Api,
                _ => KeyKind::Standard,
            };
            let key = ApiKey::parse(&fake::key(provider, kind, 3)).unwrap();
            let h = auth_headers(&config, &key).unwrap();
            assert_eq!(
                h.contains_key("openai-organization"),
                provider == Provider::OpenAi
            );
        }
        for provider in Provider::ALL {
            let mut h = HeaderMap::new();
            add_auth(&mut h, &config, provider, "secret-0123456789").unwrap();
            assert_eq!(
                h.contains_key("openai-organization"),
                provider == Provider::OpenAi,
                "{provider}"
            );
            assert!(h.values().any(|v| v.is_sensitive()), "{provider}");
            let api_key = h.get("api-key").is_some();
            assert_eq!(api_key, provider == Provider::AzureOpenAi, "{provider}");
        }
    }
}
