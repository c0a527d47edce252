//! The control API beside the mocks: switch scenarios, read what was sent (keys
//! masked), reset. Served by a wiremock server whose one responder routes by path.

use std::sync::{Mutex, PoisonError};

use byok::keys::{ApiKey, Provider, SCRUBBED, redact, scrub};
use byok::testkit::{Endpoint, MockProvider, RecordedRequest, Scenario, UsageExtras};
use serde_json::{Map, Value, json};
use wiremock::{Request, Respond, ResponseTemplate};

use super::scenario::{self, Wanted};
use crate::output::CliError;

/// One running mock and what the control API knows about it.
pub(crate) struct Served {
    pub(crate) mock: MockProvider,
    /// The scenario it started with, which `reset` restores.
    start: Scenario,
    current: Mutex<Scenario>,
}

impl Served {
    pub(crate) fn new(mock: MockProvider, start: Scenario) -> Served {
        Served {
            mock,
            current: Mutex::new(start.clone()),
            start,
        }
    }

    pub(crate) fn provider(&self) -> Provider {
        self.mock.provider()
    }

    fn current(&self) -> Scenario {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Play `scenario` with `usage` from now on, its count restarted.
    fn play(&self, scenario: Scenario, usage: UsageExtras) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        self.mock.set_scenario(scenario.clone());
        self.mock.set_usage(usage);
        *current = scenario;
    }

    /// The requests since the last reset.
    fn requests(&self) -> Vec<RecordedRequest> {
        self.mock.requests_now()
    }

    /// Forget the requests so far and go back to the starting scenario.
    fn reset(&self) {
        self.mock.clear_requests();
        self.play(self.start.clone(), UsageExtras::default());
    }

    /// `{"provider", "base_url", "scenario", "counts"}`.
    fn to_json(&self) -> Value {
        let requests = self.requests();
        let count = |e: Endpoint| requests.iter().filter(|r| r.endpoint == e).count();
        json!({
            "provider": self.provider().as_str(),
            "base_url": self.mock.uri(),
            "scenario": scenario::to_json(&self.current()),
            "usage": scenario::usage_json(self.mock.usage()),
            "counts": {
                "total": requests.len(),
                "list_models": count(Endpoint::ListModels),
                "billable": count(Endpoint::Billable),
                "responses": count(Endpoint::Responses),
                "other": count(Endpoint::Other),
            },
        })
    }
}

/// The control API's one responder.
pub(crate) struct Control(pub(crate) std::sync::Arc<Vec<Served>>);

/// An answer: a status and a JSON body.
type Answer = (u16, Value);

impl Respond for Control {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let (status, body) = self
            .route(request)
            .unwrap_or_else(|e| (http_status(e.code), error_json(&e)));
        ResponseTemplate::new(status).set_body_json(body)
    }
}

/// `{"error": {"code", "message", "hint"}}`, as the CLI's JSON errors.
fn error_json(e: &CliError) -> Value {
    json!({ "error": { "code": e.code, "message": e.message, "hint": e.hint } })
}

fn http_status(code: &str) -> u16 {
    match code {
        "not_found" | "unknown_provider" | "provider_not_served" => 404,
        "method_not_allowed" => 405,
        "unsupported_scenario" => 422,
        _ => 400,
    }
}

const ROUTES: &str = "GET /providers, GET /providers/{p}, PUT /providers/{p}/scenario, \
    GET /providers/{p}/requests, POST /providers/{p}/reset, PUT /scenario, GET /scenarios, \
    POST /reset";

impl Control {
    fn route(&self, request: &Request) -> Result<Answer, CliError> {
        let method = request.method.as_str();
        let parts: Vec<&str> = request
            .url
            .path()
            .split('/')
            .filter(|p| !p.is_empty())
            .collect();
        match (method, parts.as_slice()) {
            ("GET", [] | ["providers"]) => Ok((200, self.all())),
            ("GET", ["scenarios"]) => Ok((200, scenario::catalogue_json())),
            ("PUT", ["scenario"]) => {
                let (wanted, usage) = self.scenario_of(request)?;
                let providers: Vec<Provider> = self.0.iter().map(Served::provider).collect();
                scenario::check(&wanted, &providers)?;
                for served in self.0.iter() {
                    served.play(wanted.clone(), usage);
                }
                Ok((200, self.all()))
            }
            ("POST", ["reset"]) => {
                for served in self.0.iter() {
                    served.reset();
                }
                Ok((200, self.all()))
            }
            ("GET", ["providers", p]) => Ok((200, self.served(p)?.to_json())),
            ("PUT", ["providers", p, "scenario"]) => {
                let served = self.served(p)?;
                let (wanted, usage) = self.scenario_of(request)?;
                scenario::check(&wanted, &[served.provider()])?;
                served.play(wanted, usage);
                Ok((200, served.to_json()))
            }
            ("GET", ["providers", p, "requests"]) => {
                let served = self.served(p)?;
                let requests: Vec<Value> = served.requests().iter().map(masked).collect();
                Ok((
                    200,
                    json!({ "provider": served.provider().as_str(), "requests": requests }),
                ))
            }
            ("POST", ["providers", p, "reset"]) => {
                let served = self.served(p)?;
                served.reset();
                Ok((200, served.to_json()))
            }
            (
                _,
                []
                | ["providers" | "scenarios" | "scenario" | "reset"]
                | ["providers", _]
                | ["providers", _, "scenario" | "requests" | "reset"],
            ) => Err(CliError::new(
                "method_not_allowed",
                format!("{method} is not served at {}", request.url.path()),
            )
            .hint(ROUTES)),
            _ => Err(CliError::new(
                "not_found",
                format!("no control route {}", request.url.path()),
            )
            .hint(ROUTES)),
        }
    }

    fn all(&self) -> Value {
        let providers: Vec<Value> = self.0.iter().map(Served::to_json).collect();
        json!({ "providers": providers })
    }

    fn served(&self, name: &str) -> Result<&Served, CliError> {
        let provider = super::parse_provider(name)?;
        self.0
            .iter()
            .find(|s| s.provider() == provider)
            .ok_or_else(|| {
                let served: Vec<&str> = self.0.iter().map(|s| s.provider().as_str()).collect();
                CliError::new(
                    "provider_not_served",
                    format!("no {} mock is running", provider.display_name()),
                )
                .hint(format!(
                    "served: {}; start it with `byok mock serve --provider {provider}`",
                    served.join(", ")
                ))
            })
    }

    fn scenario_of(&self, request: &Request) -> Result<(Scenario, UsageExtras), CliError> {
        let wanted: Wanted = serde_json::from_slice(&request.body).map_err(|e| {
            CliError::new("invalid_json", format!("the body is not a scenario: {e}")).hint(
                r#"send {"name": "rate_limited", "times": 2, "retry_after_ms": 100}; GET /scenarios lists names and parameters"#,
            )
        })?;
        Ok((scenario::build(&wanted)?, wanted.usage()))
    }
}

/// A recorded request as JSON with every key masked: the credential headers and
/// `?key=` show the key's mask, and every other header, the query and the body are
/// scrubbed of anything shaped like a key and of every piece of the keys sent.
pub(crate) fn masked(request: &RecordedRequest) -> Value {
    let keys = credentials(request);
    let clean = |text: &str| {
        let mut text = redact(text).into_owned();
        for key in &keys {
            text = scrub(&text, Some(key), usize::MAX);
            if text.contains(key.as_str()) {
                text = text.replace(key.as_str(), SCRUBBED);
            }
        }
        text
    };
    let mut headers = Map::new();
    for (name, value) in &request.headers {
        let shown = match name.as_str() {
            "authorization" => match bearer(value) {
                Some(token) => format!("Bearer {}", mask(token)),
                None => mask(value),
            },
            "x-api-key" | "x-goog-api-key" => mask(value),
            _ => clean(value),
        };
        match headers.get_mut(name) {
            Some(Value::String(earlier)) => {
                earlier.push_str(", ");
                earlier.push_str(&shown);
            }
            _ => {
                headers.insert(name.clone(), Value::String(shown));
            }
        }
    }
    let query = request.query.as_deref().map(|q| {
        let pairs: Vec<String> = q
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some(("key", value)) => format!("key={}", mask(value)),
                _ => clean(pair),
            })
            .collect();
        pairs.join("&")
    });
    let body = clean(&String::from_utf8_lossy(&request.body));
    let body_json = serde_json::from_str::<Value>(&body).ok();
    json!({
        "method": request.method,
        "path": clean(&request.path),
        "query": query,
        "endpoint": endpoint_name(request.endpoint),
        "headers": headers,
        "body": body,
        "json": body_json,
    })
}

/// The token of `Bearer TOKEN`, any case.
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Every key the request presented: auth headers and `?key=`.
fn credentials(request: &RecordedRequest) -> Vec<String> {
    let mut keys = Vec::new();
    for (name, value) in &request.headers {
        match name.as_str() {
            "authorization" => keys.push(bearer(value).unwrap_or(value).to_owned()),
            "x-api-key" | "x-goog-api-key" => keys.push(value.trim().to_owned()),
            _ => {}
        }
    }
    if let Some(q) = &request.query {
        for pair in q.split('&') {
            if let Some(("key", value)) = pair.split_once('=') {
                keys.push(value.to_owned());
            }
        }
    }
    keys.retain(|k| !k.is_empty());
    keys
}

/// A key's mask (`sk-proj-…Q8xA`) when it parses as one, else [`SCRUBBED`].
fn mask(key: &str) -> String {
    ApiKey::parse(key.trim()).map_or_else(|_| SCRUBBED.to_owned(), |k| k.masked())
}

fn endpoint_name(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::ListModels => "list_models",
        Endpoint::Billable => "billable",
        Endpoint::Responses => "responses",
        _ => "other",
    }
}
