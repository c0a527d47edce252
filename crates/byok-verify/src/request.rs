//! What goes on the wire for each provider and probe: method, public path,
//! auth headers (marked sensitive), body. The key goes in a header, never a URL.

use byok_keys::{ApiKey, Provider};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Request, Url};
use serde_json::json;

use crate::config::VerifierConfig;
use crate::error::VerifyError;
use crate::report::Probe;

/// Anthropic API version header value.
const ANTHROPIC_VERSION: &str = "2023-06-01";

/// One probe's request line and body, resolved from the configuration.
#[derive(Debug, Clone)]
struct Route {
    provider: Provider,
    probe: Probe,
    method: Method,
    url: Url,
    body: Option<Vec<u8>>,
}

/// Every (provider, probe) request, resolved once when a verifier is built so
/// a verification does no URL parsing or JSON encoding.
#[derive(Debug, Clone)]
pub(crate) struct Routes(Vec<Route>);

impl Routes {
    pub(crate) fn new(config: &VerifierConfig) -> Result<Routes, VerifyError> {
        let mut routes = Vec::with_capacity(6);
        for provider in Provider::ALL {
            for probe in [Probe::ListModels, Probe::Billable] {
                let (method, path, body) = line(config, provider, probe);
                let base = config.base_url_of(provider);
                let url = Url::parse(&format!("{base}{path}")).map_err(|_| {
                    VerifyError::InvalidBaseUrl {
                        provider,
                        reason: "it cannot be joined with the request path",
                    }
                })?;
                let body = body.map(|b| b.to_string().into_bytes());
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

    /// The request of `probe` for `key`. `None` if the key cannot go in a header
    /// (impossible for a parsed key, whose characters are all printable ASCII).
    pub(crate) fn build(
        &self,
        config: &VerifierConfig,
        key: &ApiKey,
        probe: Probe,
    ) -> Option<Request> {
        let route = self
            .0
            .iter()
            .find(|r| r.provider == key.provider() && r.probe == probe)?;
        let mut request = Request::new(route.method.clone(), route.url.clone());
        let headers = request.headers_mut();
        add_auth(headers, config, key)?;
        if let Some(body) = &route.body {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            *request.body_mut() = Some(body.clone().into());
        }
        Some(request)
    }
}

/// Method, public path and JSON body of `probe` at `provider`.
fn line(
    config: &VerifierConfig,
    provider: Provider,
    probe: Probe,
) -> (Method, String, Option<serde_json::Value>) {
    let model = config.probe_model_of(provider);
    match (provider, probe) {
        (Provider::OpenAi | Provider::Anthropic, Probe::ListModels) => {
            (Method::GET, "/v1/models".to_owned(), None)
        }
        (Provider::OpenAi, Probe::Billable) => (
            Method::POST,
            "/v1/chat/completions".to_owned(),
            Some(json!({
                "model": model,
                "messages": [{"role": "user", "content": "ping"}],
                "max_completion_tokens": 1
            })),
        ),
        (Provider::Anthropic, Probe::Billable) => (
            Method::POST,
            "/v1/messages".to_owned(),
            Some(json!({
                "model": model,
                "max_tokens": 1,
                "messages": [{"role": "user", "content": "ping"}]
            })),
        ),
        (_, Probe::ListModels) => (Method::GET, "/v1beta/models".to_owned(), None),
        (_, Probe::Billable) => (
            Method::POST,
            format!("/v1beta/models/{model}:generateContent"),
            Some(json!({
                "contents": [{"role": "user", "parts": [{"text": "ping"}]}],
                "generationConfig": {"maxOutputTokens": 1}
            })),
        ),
    }
}

/// The headers that authenticate a request with `key` at its provider, as
/// configured: OpenAI `Authorization: Bearer` (plus `OpenAI-Organization` /
/// `OpenAI-Project` when set), Anthropic `x-api-key` and `anthropic-version`,
/// Gemini `x-goog-api-key`. The key's values are marked sensitive (shown as
/// `Sensitive` by `Debug`, never HPACK-indexed); the key never goes in a URL.
/// `None` if the key cannot go in a header (impossible for a parsed key).
///
/// The one home of each provider's auth: the Test button and the call path
/// both use it.
pub fn auth_headers(config: &VerifierConfig, key: &ApiKey) -> Option<HeaderMap> {
    let mut headers = HeaderMap::new();
    add_auth(&mut headers, config, key)?;
    Some(headers)
}

fn add_auth(headers: &mut HeaderMap, config: &VerifierConfig, key: &ApiKey) -> Option<()> {
    let secret = |value: String| {
        let mut v = HeaderValue::from_str(&value).ok()?;
        // Sensitive values print as "Sensitive" in Debug and are never HPACK-indexed.
        v.set_sensitive(true);
        Some(v)
    };
    match key.provider() {
        Provider::OpenAi => {
            headers.insert(
                reqwest::header::AUTHORIZATION,
                secret(format!("Bearer {}", key.expose_secret()))?,
            );
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
        Provider::Anthropic => {
            headers.insert(
                HeaderName::from_static("x-api-key"),
                secret(key.expose_secret().to_owned())?,
            );
            headers.insert(
                HeaderName::from_static("anthropic-version"),
                HeaderValue::from_static(ANTHROPIC_VERSION),
            );
        }
        _ => {
            headers.insert(
                HeaderName::from_static("x-goog-api-key"),
                secret(key.expose_secret().to_owned())?,
            );
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use byok_keys::{KeyKind, fake};

    #[test]
    fn gemini_key_only_in_its_header() {
        let raw = fake::key(Provider::Google, KeyKind::Standard, 11);
        let key = ApiKey::parse(&raw).unwrap();
        let config = VerifierConfig::default().base_url(Provider::Google, "http://127.0.0.1:1/gw");
        for probe in [Probe::ListModels, Probe::Billable] {
            let r = Routes::new(&config)
                .unwrap()
                .build(&config, &key, probe)
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
            .build(&config, &key, Probe::Billable)
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
            .build(&config, &key, Probe::ListModels)
            .unwrap();
        assert_eq!(r.headers()["anthropic-version"], ANTHROPIC_VERSION);
        assert_eq!(r.headers()["x-api-key"].to_str().unwrap(), raw);
        assert_eq!(r.method(), Method::GET);
    }
}
