//! A mock provider: one wiremock server whose single responder plays a scenario.

use core::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use byok_keys::{Fingerprint, Provider};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::error::TestkitError;
use crate::record::{Endpoint, RecordedRequest};
use crate::scenario::Scenario;
use crate::{anthropic, gemini, openai};

/// How long [`Scenario::Hang`] holds a request: longer than any test waits.
const HANG: Duration = Duration::from_secs(3600);

/// Configures a mock provider before it starts. Get one from
/// [`MockOpenAi::builder`](crate::MockOpenAi::builder),
/// [`MockAnthropic::builder`](crate::MockAnthropic::builder) or
/// [`MockGemini::builder`](crate::MockGemini::builder).
#[derive(Debug)]
#[must_use = "a builder does nothing until `.start().await`"]
pub struct MockBuilder {
    provider: Provider,
    scenario: Scenario,
    per_key: Vec<(Fingerprint, Scenario)>,
}

impl MockBuilder {
    pub(crate) fn new(provider: Provider) -> MockBuilder {
        MockBuilder {
            provider,
            scenario: Scenario::Valid,
            per_key: Vec::new(),
        }
    }

    /// The scenario for every key without its own (default [`Scenario::Valid`]).
    ///
    /// # Panics
    /// If the provider has no such answer (see the table on [`Scenario`]);
    /// [`try_scenario`](MockBuilder::try_scenario) returns the error instead.
    pub fn scenario(self, scenario: Scenario) -> Self {
        self.try_scenario(scenario)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`scenario`](MockBuilder::scenario), without panicking.
    ///
    /// # Errors
    /// [`TestkitError::UnsupportedScenario`] if the provider has no such answer.
    pub fn try_scenario(mut self, scenario: Scenario) -> Result<Self, TestkitError> {
        check(self.provider, &scenario)?;
        self.scenario = scenario;
        Ok(self)
    }

    /// A scenario for one key only (matched by its fingerprint; the mock keeps no key).
    ///
    /// # Panics
    /// If the provider has no such answer (see the table on [`Scenario`]).
    pub fn scenario_for_key(mut self, key: &str, scenario: Scenario) -> Self {
        check(self.provider, &scenario).unwrap_or_else(|e| panic!("{e}"));
        self.per_key.push((Fingerprint::of(key), scenario));
        self
    }

    /// Start the server on a free local port. Works in tests and in any
    /// program running a tokio runtime.
    pub async fn start(self) -> MockProvider {
        let state = Arc::new(State {
            provider: self.provider,
            default: Slot::new(self.scenario),
            per_key: self
                .per_key
                .into_iter()
                .map(|(fp, s)| (fp, Slot::new(s)))
                .collect(),
            sequence: AtomicU64::new(0),
        });
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(Responder(state.clone()))
            .mount(&server)
            .await;
        MockProvider { server, state }
    }
}

fn check(provider: Provider, scenario: &Scenario) -> Result<(), TestkitError> {
    if scenario.supported_by(provider) {
        Ok(())
    } else {
        Err(TestkitError::UnsupportedScenario {
            scenario: scenario.clone(),
            provider,
        })
    }
}

/// A running mock provider. Dropping it releases the server (wiremock reuses
/// it for a later mock after clearing it).
///
/// Dropping many (about 64 or more) from inside a tokio worker thread has been
/// seen to hang in wiremock's drop; a test that starts a whole catalogue's worth
/// drops them on a plain thread (`std::thread::spawn(move || drop(mocks))`), as
/// `tests/sdk.rs` does.
pub struct MockProvider {
    server: MockServer,
    state: Arc<State>,
}

impl fmt::Debug for MockProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockProvider")
            .field("provider", &self.state.provider)
            .field("uri", &self.server.uri())
            .finish_non_exhaustive()
    }
}

impl MockProvider {
    /// The base URL (`http://127.0.0.1:PORT`) to configure as the provider's origin.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Which provider this mock plays.
    pub fn provider(&self) -> Provider {
        self.state.provider
    }

    /// Replace the default scenario and restart its count (for "the key worked,
    /// then the account ran dry" tests).
    ///
    /// # Panics
    /// If the provider has no such answer.
    pub fn set_scenario(&self, scenario: Scenario) {
        check(self.state.provider, &scenario).unwrap_or_else(|e| panic!("{e}"));
        self.state.default.replace(scenario);
    }

    /// Every request received so far, in arrival order.
    pub async fn requests(&self) -> Vec<RecordedRequest> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| RecordedRequest::from_wiremock(self.state.provider, r))
            .collect()
    }

    /// How many requests reached `endpoint`.
    pub async fn count(&self, endpoint: Endpoint) -> usize {
        self.requests()
            .await
            .iter()
            .filter(|r| r.endpoint == endpoint)
            .count()
    }

    /// The underlying wiremock server, to mount extra mocks with a higher priority.
    pub fn server(&self) -> &MockServer {
        &self.server
    }
}

#[derive(Debug)]
struct State {
    provider: Provider,
    default: Slot,
    per_key: Vec<(Fingerprint, Slot)>,
    sequence: AtomicU64,
}

/// A scenario and how many requests it has answered (for "N times, then fine").
#[derive(Debug)]
struct Slot {
    scenario: Mutex<Scenario>,
    served: AtomicU32,
}

impl Slot {
    fn new(scenario: Scenario) -> Slot {
        Slot {
            scenario: Mutex::new(scenario),
            served: AtomicU32::new(0),
        }
    }

    fn replace(&self, scenario: Scenario) {
        *self.scenario.lock().unwrap_or_else(PoisonError::into_inner) = scenario;
        self.served.store(0, Ordering::SeqCst);
    }

    /// The scenario, without counting a request.
    fn peek(&self) -> Scenario {
        self.scenario
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The scenario and how many requests it answered before this one.
    fn take(&self) -> (Scenario, u32) {
        let scenario = self
            .scenario
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        (scenario, self.served.fetch_add(1, Ordering::SeqCst))
    }
}

struct Responder(Arc<State>);

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let state = &self.0;
        let n = state.sequence.fetch_add(1, Ordering::Relaxed);
        match answer(state, request, n) {
            Answer::Api(response) => with_common_headers(state.provider, response, n),
            Answer::Edge(response) => response,
        }
    }
}

/// Who answers: the provider's API (with its request id and version headers),
/// or the network edge in front of it (a region block), which sends neither.
enum Answer {
    Api(ResponseTemplate),
    Edge(ResponseTemplate),
}

fn request_id(provider: Provider, n: u64) -> String {
    match provider {
        Provider::Anthropic => format!("req_011CBYOK{n:012}"),
        _ => format!("req_byok{n:024x}"),
    }
}

/// Headers every answer of the provider carries: request id, API version, organization.
fn with_common_headers(provider: Provider, response: ResponseTemplate, n: u64) -> ResponseTemplate {
    match provider {
        Provider::OpenAi => response
            .insert_header("x-request-id", request_id(provider, n))
            .insert_header("openai-version", "2020-10-01")
            .insert_header("openai-organization", "org-byoktestkit")
            .insert_header("openai-processing-ms", "42"),
        Provider::Anthropic => response
            .insert_header("request-id", request_id(provider, n))
            .insert_header(
                "anthropic-organization-id",
                "00000000-0000-4000-8000-000000000000",
            ),
        // Gemini sends no request id header.
        _ => response.insert_header("server", "scaffolding on HTTPServer2"),
    }
}

fn answer(state: &State, request: &Request, n: u64) -> Answer {
    let provider = state.provider;
    let rid = request_id(provider, n);
    let path = request.url.path();
    let method = request.method.as_str();
    let key = match provider {
        Provider::OpenAi => openai::key(&request.headers),
        Provider::Anthropic => anthropic::key(&request.headers),
        _ => gemini::key(&request.headers, &request.url),
    };
    let Some(key) = key else {
        return Answer::Api(match provider {
            Provider::OpenAi => openai::missing_auth(),
            Provider::Anthropic => anthropic::missing_auth(&rid),
            _ => gemini::missing_auth(),
        });
    };
    if provider == Provider::Anthropic && request.headers.get("anthropic-version").is_none() {
        return Answer::Api(anthropic::missing_version(&rid));
    }
    let fp = Fingerprint::of(&key);
    let slot = state
        .per_key
        .iter()
        .find(|(k, _)| *k == fp)
        .map_or(&state.default, |(_, s)| s);
    let endpoint = Endpoint::of(provider, method, path);
    if endpoint == Endpoint::Other {
        // Google judges the key before the route: a bad key on a path the mock
        // does not serve still gets the key's answer. (Not counted as a request
        // of the scenario: "N times, then fine" counts served endpoints only.)
        if provider == Provider::Google
            && let Some(refusal) = gemini::situation(&slot.peek(), endpoint)
        {
            return Answer::Api(refusal);
        }
        return Answer::Api(match provider {
            Provider::OpenAi => openai::not_found(method, path),
            Provider::Anthropic => anthropic::not_found(&rid),
            _ => gemini::not_found(path),
        });
    }
    let (scenario, served) = slot.take();
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
    let model = match provider {
        Provider::OpenAi => openai::model(&body),
        Provider::Anthropic => anthropic::model(&body),
        _ => gemini::model(path),
    };
    let streamed = endpoint.is_billable()
        && match provider {
            Provider::Google => path.ends_with(":streamGenerateContent"),
            _ => body.get("stream") == Some(&serde_json::Value::Bool(true)),
        };
    let alt_sse = request
        .url
        .query_pairs()
        .any(|(k, v)| k == "alt" && v == "sse");
    let success = || match provider {
        Provider::OpenAi if streamed => openai::streamed(endpoint, &model, &body),
        Provider::Anthropic if streamed => anthropic::streamed(&model),
        Provider::Google if streamed => gemini::streamed(&model, alt_sse),
        Provider::OpenAi => openai::success(endpoint, &model, &body),
        Provider::Anthropic => anthropic::success(endpoint, &model),
        _ => gemini::success(endpoint, &model),
    };
    Answer::Api(match scenario {
        Scenario::Valid => success(),
        Scenario::RateLimited { times, retry_after } if served < times => match provider {
            Provider::OpenAi => openai::rate_limited(retry_after),
            Provider::Anthropic => anthropic::rate_limited(retry_after, &rid),
            _ => gemini::rate_limited(retry_after),
        },
        Scenario::Outage { times, status } if served < times => match provider {
            Provider::OpenAi => openai::outage(status),
            Provider::Anthropic => anthropic::outage(status, &rid),
            _ => gemini::outage(status),
        },
        Scenario::RateLimited { .. } | Scenario::Outage { .. } => success(),
        Scenario::Slow(delay) => success().set_delay(delay),
        Scenario::Hang => success().set_delay(HANG),
        Scenario::Garbage => ResponseTemplate::new(200).set_body_raw(
            "<!DOCTYPE html><html><head><title>Sign in to the network</title></head><body>Accept the terms to continue.</body></html>",
            "text/html",
        ),
        Scenario::Region if provider == Provider::Anthropic => {
            return Answer::Edge(anthropic::region_blocked());
        }
        other => {
            let specific = match provider {
                Provider::OpenAi => openai::situation(
                    &other,
                    endpoint,
                    &key,
                    &model,
                    openai::names_organization(&request.headers),
                ),
                Provider::Anthropic => anthropic::situation(&other, endpoint, &model, &rid),
                _ => gemini::situation(&other, endpoint),
            };
            specific.unwrap_or_else(success)
        }
    })
}
