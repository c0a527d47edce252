//! What a mock received, for assertions: paths, headers, bodies, counts.

use byok_keys::Provider;

/// Which provider endpoint a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `GET /v1/models` (OpenAI, Anthropic) or `GET /v1beta/models` / `GET /v1/models` (Gemini).
    ListModels,
    /// `POST /v1/chat/completions`, `POST /v1/messages` or
    /// `POST /v1beta/models/{model}:generateContent` / `:streamGenerateContent`
    /// (also under `/v1/`), streamed or not.
    Billable,
    /// OpenAI's Responses API, `POST /v1/responses`: billable like
    /// [`Billable`](Endpoint::Billable), counted apart so tests can tell the APIs apart.
    Responses,
    /// A free key-info probe: OpenRouter `GET /api/v1/key`, xAI `GET /v1/api-key`,
    /// DeepSeek `GET /user/balance`, Cohere `POST /v1/check-api-key`.
    KeyInfo,
    /// Anything else (answered with the provider's 404).
    Other,
}

impl Endpoint {
    /// Classify `method` + `path`; a path prefix before the public path is allowed.
    ///
    /// Gemini is served under both API versions, `/v1beta/` (older SDKs, curl
    /// examples) and `/v1/` (google-genai 3.x), as the real API is.
    pub fn of(provider: Provider, method: &str, path: &str) -> Endpoint {
        if crate::compat::serves(provider) {
            return crate::compat::endpoint(provider, method, path);
        }
        let (list, billable) = match provider {
            Provider::OpenAi => (
                path.ends_with("/v1/models"),
                path.ends_with("/v1/chat/completions"),
            ),
            Provider::Anthropic => (path.ends_with("/v1/models"), path.ends_with("/v1/messages")),
            // Google (the others returned above).
            _ => (
                path.ends_with("/v1beta/models") || path.ends_with("/v1/models"),
                (path.contains("/v1beta/models/") || path.contains("/v1/models/"))
                    && (path.ends_with(":generateContent")
                        || path.ends_with(":streamGenerateContent")),
            ),
        };
        let responses = provider == Provider::OpenAi && path.ends_with("/v1/responses");
        match method {
            "GET" if list => Endpoint::ListModels,
            "POST" if billable => Endpoint::Billable,
            "POST" if responses => Endpoint::Responses,
            _ => Endpoint::Other,
        }
    }

    /// Whether a call here is billed (and so reveals "no credits", spend limits, model access).
    pub fn is_billable(self) -> bool {
        matches!(self, Endpoint::Billable | Endpoint::Responses)
    }
}

/// One request a mock received.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The URL path (`/v1/models`).
    pub path: String,
    /// The raw query string, if any (a Gemini key in `?key=` would show here).
    pub query: Option<String>,
    /// Every header, names lowercase, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
    /// The endpoint this request addressed.
    pub endpoint: Endpoint,
}

impl RecordedRequest {
    pub(crate) fn from_received(provider: Provider, r: crate::server::Received) -> RecordedRequest {
        let endpoint = Endpoint::of(provider, &r.method, &r.path);
        RecordedRequest {
            method: r.method,
            path: r.path,
            query: r.query,
            headers: r.headers,
            body: r.body,
            endpoint,
        }
    }

    /// The decoded value of query parameter `name` (`?key=` would be `query_param("key")`).
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_deref()?.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, if it is JSON.
    pub fn body_json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_with_and_without_prefix() {
        assert_eq!(
            Endpoint::of(Provider::OpenAi, "GET", "/v1/models"),
            Endpoint::ListModels
        );
        assert_eq!(
            Endpoint::of(Provider::OpenAi, "POST", "/gw/v1/chat/completions"),
            Endpoint::Billable
        );
        assert_eq!(
            Endpoint::of(Provider::OpenAi, "POST", "/v1/models"),
            Endpoint::Other
        );
        assert_eq!(
            Endpoint::of(
                Provider::Google,
                "POST",
                "/v1beta/models/gemini-2.5-flash-lite:generateContent"
            ),
            Endpoint::Billable
        );
        assert_eq!(
            Endpoint::of(Provider::Google, "GET", "/v1beta/models"),
            Endpoint::ListModels
        );
        assert_eq!(
            Endpoint::of(Provider::Anthropic, "POST", "/v1/complete"),
            Endpoint::Other
        );
    }

    #[test]
    fn gemini_v1_and_openai_responses() {
        assert_eq!(
            Endpoint::of(Provider::Google, "GET", "/v1/models"),
            Endpoint::ListModels
        );
        assert_eq!(
            Endpoint::of(
                Provider::Google,
                "POST",
                "/v1/models/gemini-2.5-flash:generateContent"
            ),
            Endpoint::Billable
        );
        assert_eq!(
            Endpoint::of(Provider::OpenAi, "POST", "/v1/responses"),
            Endpoint::Responses
        );
        assert!(Endpoint::Responses.is_billable());
        assert!(!Endpoint::ListModels.is_billable());
        assert_eq!(
            Endpoint::of(Provider::Anthropic, "POST", "/v1/responses"),
            Endpoint::Other
        );
    }
}
