//! What goes on the wire for each provider and probe: method, public path,
//! auth headers (marked sensitive), body. The key goes in a header, never a URL.

use byok_keys::{ApiKey, Provider};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Request};
use serde_json::json;

use crate::config::VerifierConfig;
use crate::report::Probe;

/// Anthropic API version header value.
const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Build the request of `probe` for `key`. `None` if the key cannot go in a
/// header (impossible for a parsed key, whose characters are all printable ASCII).
pub(crate) fn build(config: &VerifierConfig, key: &ApiKey, probe: Probe) -> Option<Request> {
    let provider = key.provider();
    let base = config.base_url_of(provider);
    let model = config.probe_model_of(provider);
    let (method, path, body) = match (provider, probe) {
        (Provider::OpenAi, Probe::ListModels) | (Provider::Anthropic, Probe::ListModels) => {
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
    };
    // Base and model were validated by `Verifier::new`, so the URL parses.
    let url = reqwest::Url::parse(&format!("{base}{path}")).ok()?;
    let mut request = Request::new(method, url);
    let headers = request.headers_mut();
    add_auth(headers, config, key)?;
    if let Some(body) = body {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        *request.body_mut() = Some(serde_json::to_vec(&body).ok()?.into());
    }
    Some(request)
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
            let r = build(&config, &key, probe).unwrap();
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
        let r = build(&config, &key, Probe::Billable).unwrap();
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
        let r = build(&VerifierConfig::default(), &key, Probe::ListModels).unwrap();
        assert_eq!(r.headers()["anthropic-version"], ANTHROPIC_VERSION);
        assert_eq!(r.headers()["x-api-key"].to_str().unwrap(), raw);
        assert_eq!(r.method(), Method::GET);
    }
}
