//! A mock provider: one local HTTP server (see `server.rs`) whose handler plays
//! a scenario and records every request.

use core::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use byok_keys::{Fingerprint, Provider};

use crate::content::{self, UsageExtras};
use crate::error::TestkitError;
use crate::record::{Endpoint, RecordedRequest};
use crate::reply::{Reply, Trouble};
use crate::scenario::Scenario;
use crate::server::{self, Plan, Received, Server};
use crate::{anthropic, compat, gemini, openai};

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
    usage: UsageExtras,
}

impl MockBuilder {
    /// A mock of `provider` (any provider; `MockGroq::builder()` and friends are this).
    pub fn new(provider: Provider) -> MockBuilder {
        MockBuilder {
            provider,
            scenario: Scenario::Valid,
            per_key: Vec::new(),
            usage: UsageExtras::default(),
        }
    }

    /// Token counts the request alone cannot determine (cache reads and writes,
    /// reasoning), reported by every successful answer. Default: none.
    pub fn usage(mut self, usage: UsageExtras) -> Self {
        self.usage = usage;
        self
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

    /// Start the server on a free port of 127.0.0.1. Works in tests and in any
    /// program, with or without a tokio runtime of its own (the mocks run on
    /// one of the crate's).
    ///
    /// # Panics
    /// If no local port can be bound (the machine is out of ports or descriptors).
    pub async fn start(self) -> MockProvider {
        self.start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
            .unwrap_or_else(|e| panic!("cannot start a mock provider on 127.0.0.1: {e}"))
    }

    /// Start the server on `addr` (a fixed port, for programs configured ahead
    /// of time; port 0 picks a free one).
    ///
    /// # Errors
    /// The bind error: the port is taken, or not ours to use.
    pub fn start_on(self, addr: SocketAddr) -> io::Result<MockProvider> {
        // The tokenizer loads on first use, which takes a while in a debug build:
        // here, not inside the first request a client times.
        content::warm_up();
        let state = Arc::new(self.into_state());
        let listener = std::net::TcpListener::bind(addr)?;
        let handler = {
            let state = state.clone();
            Arc::new(move |received: Received| handle(&state, received))
        };
        let server = server::serve(listener, handler)?;
        Ok(MockProvider { server, state })
    }
}

impl MockBuilder {
    /// What the server's handler plays: the scenarios, counts and records.
    fn into_state(self) -> State {
        State {
            provider: self.provider,
            default: Slot::new(self.scenario),
            per_key: self
                .per_key
                .into_iter()
                .map(|(fp, s)| (fp, Slot::new(s)))
                .collect(),
            sequence: AtomicU64::new(0),
            requests: Mutex::new(Vec::new()),
            canned: Mutex::new(None),
            usage: Mutex::new(self.usage),
        }
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

/// A fixed answer a mock gives to every request instead of its scenario's, for
/// answers no scenario plays (a code the provider has not sent before, a huge
/// body). Set with [`MockProvider::answer_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CannedAnswer {
    /// HTTP status.
    pub status: u16,
    /// Response headers, in order.
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: Vec<u8>,
}

impl CannedAnswer {
    /// `status` with `body` as JSON (`content-type: application/json`).
    pub fn json(status: u16, body: &serde_json::Value) -> CannedAnswer {
        CannedAnswer {
            status,
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: body.to_string().into_bytes(),
        }
    }

    /// `status` with raw `body` bytes and no headers.
    pub fn raw(status: u16, body: impl Into<Vec<u8>>) -> CannedAnswer {
        CannedAnswer {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Add a header (after those already set).
    pub fn header(mut self, name: &str, value: &str) -> CannedAnswer {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    fn plan(&self) -> Plan {
        Plan {
            status: self.status,
            headers: self.headers.clone(),
            delay: Duration::ZERO,
            body: server::PlanBody::Whole(self.body.clone()),
        }
    }
}

impl From<&crate::EchoAnswer> for CannedAnswer {
    fn from(echo: &crate::EchoAnswer) -> CannedAnswer {
        let mut canned = CannedAnswer::raw(echo.status, echo.body.clone().into_bytes());
        canned.headers.clone_from(&echo.headers);
        canned
            .headers
            .push(("content-type".to_owned(), "application/json".to_owned()));
        canned
    }
}

/// A running mock provider. Dropping it stops its server: the port closes and
/// open connections (a [`Scenario::Hang`] included) are dropped.
pub struct MockProvider {
    server: Server,
    state: Arc<State>,
}

impl fmt::Debug for MockProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockProvider")
            .field("provider", &self.state.provider)
            .field("uri", &self.uri())
            .finish_non_exhaustive()
    }
}

impl MockProvider {
    /// The base URL (`http://127.0.0.1:PORT`) to configure as the provider's origin.
    pub fn uri(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The address the mock listens on.
    pub fn address(&self) -> SocketAddr {
        self.server.addr()
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

    /// Like [`set_scenario`](MockProvider::set_scenario), without panicking.
    ///
    /// # Errors
    /// [`TestkitError::UnsupportedScenario`] if the provider has no such answer.
    pub fn try_set_scenario(&self, scenario: Scenario) -> Result<(), TestkitError> {
        check(self.state.provider, &scenario)?;
        self.state.default.replace(scenario);
        Ok(())
    }

    /// The default scenario now playing.
    pub fn scenario(&self) -> Scenario {
        self.state.default.peek()
    }

    /// Report `usage` (cache reads and writes, reasoning) in every successful
    /// answer from now on.
    pub fn set_usage(&self, usage: UsageExtras) {
        *lock(&self.state.usage) = usage;
    }

    /// The extra token counts now reported.
    pub fn usage(&self) -> UsageExtras {
        *lock(&self.state.usage)
    }

    /// Answer every request with `answer` (recorded as usual) until
    /// [`clear_answer`](MockProvider::clear_answer), whatever the scenario.
    pub fn answer_with(&self, answer: CannedAnswer) {
        *lock(&self.state.canned) = Some(answer);
    }

    /// Go back to playing the scenario.
    pub fn clear_answer(&self) {
        *lock(&self.state.canned) = None;
    }

    /// Every request received so far (since the last
    /// [`clear_requests`](MockProvider::clear_requests)), in arrival order.
    pub async fn requests(&self) -> Vec<RecordedRequest> {
        self.requests_now()
    }

    /// [`requests`](MockProvider::requests), for code that is not async.
    pub fn requests_now(&self) -> Vec<RecordedRequest> {
        lock(&self.state.requests).clone()
    }

    /// Forget the requests received so far.
    pub fn clear_requests(&self) {
        lock(&self.state.requests).clear();
    }

    /// How many requests reached `endpoint`.
    pub async fn count(&self, endpoint: Endpoint) -> usize {
        lock(&self.state.requests)
            .iter()
            .filter(|r| r.endpoint == endpoint)
            .count()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug)]
struct State {
    provider: Provider,
    default: Slot,
    per_key: Vec<(Fingerprint, Slot)>,
    sequence: AtomicU64,
    requests: Mutex<Vec<RecordedRequest>>,
    canned: Mutex<Option<CannedAnswer>>,
    usage: Mutex<UsageExtras>,
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
        *lock(&self.scenario) = scenario;
        self.served.store(0, Ordering::SeqCst);
    }

    /// The scenario, without counting a request.
    fn peek(&self) -> Scenario {
        lock(&self.scenario).clone()
    }

    /// The scenario and how many requests it answered before this one.
    fn take(&self) -> (Scenario, u32) {
        let scenario = lock(&self.scenario).clone();
        (scenario, self.served.fetch_add(1, Ordering::SeqCst))
    }
}

/// For the fuzz target `mock_request` (fuzz/): answer one request given as raw
/// parts with a mock of `provider` playing `scenario`, without a server, and
/// return the status and the body's length. Not part of the API.
#[doc(hidden)]
pub fn fuzz_answer(
    provider: Provider,
    scenario: Scenario,
    method: &str,
    target: &str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
) -> (u16, usize) {
    let state = MockBuilder {
        provider,
        scenario,
        per_key: Vec::new(),
        usage: UsageExtras::new().cached_tokens(3).reasoning_tokens(2),
    }
    .into_state();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (target.to_owned(), None),
    };
    let plan = handle(
        &state,
        Received {
            method: method.to_owned(),
            path,
            query,
            headers,
            body,
        },
    );
    let length = match plan.body {
        server::PlanBody::Whole(b) => b.len(),
        server::PlanBody::Steps(steps) => steps
            .iter()
            .map(|s| match s {
                server::Step::Send(b) => b.len(),
                _ => 0,
            })
            .sum(),
    };
    (plan.status, length)
}

/// One request: record it, answer it.
fn handle(state: &State, received: Received) -> Plan {
    let request = RecordedRequest::from_received(state.provider, received);
    let n = state.sequence.fetch_add(1, Ordering::Relaxed);
    let canned = lock(&state.canned).clone();
    let plan = match canned {
        Some(canned) => canned.plan(),
        None => match answer(state, &request, n) {
            Answer::Api(reply) => with_common_headers(state.provider, reply, n).into_plan(),
            Answer::Edge(reply) => reply.into_plan(),
        },
    };
    lock(&state.requests).push(request);
    plan
}

/// Who answers: the provider's API (with its request id and version headers),
/// or the network edge in front of it (a region block), which sends neither.
enum Answer {
    Api(Reply),
    Edge(Reply),
}

fn request_id(provider: Provider, n: u64) -> String {
    match provider {
        Provider::Anthropic => format!("req_011CBYOK{n:012}"),
        _ => format!("req_byok{n:024x}"),
    }
}

/// Headers every answer of the provider carries: request id, API version, organization.
fn with_common_headers(provider: Provider, response: Reply, n: u64) -> Reply {
    if compat::serves(provider) {
        // Added in `answer`, which has the request id.
        return response;
    }
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

fn answer(state: &State, request: &RecordedRequest, n: u64) -> Answer {
    let provider = state.provider;
    let rid = request_id(provider, n);
    if compat::serves(provider) {
        return Answer::Api(compat::with_common_headers(
            provider,
            answer_compat(state, request),
            &rid,
        ));
    }
    let path = request.path.as_str();
    let method = request.method.as_str();
    let key = match provider {
        Provider::OpenAi => openai::key(request),
        Provider::Anthropic => anthropic::key(request),
        _ => gemini::key(request),
    };
    let Some(key) = key else {
        return Answer::Api(match provider {
            Provider::OpenAi => openai::missing_auth(),
            Provider::Anthropic => anthropic::missing_auth(&rid),
            _ => gemini::missing_auth(),
        });
    };
    if provider == Provider::Anthropic && request.header("anthropic-version").is_none() {
        return Answer::Api(anthropic::missing_version(&rid));
    }
    let fp = Fingerprint::of(&key);
    let slot = state
        .per_key
        .iter()
        .find(|(k, _)| *k == fp)
        .map_or(&state.default, |(_, s)| s);
    let endpoint = request.endpoint;
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
    let alt_sse = request.query_param("alt").as_deref() == Some("sse");
    let made = content::made(provider, endpoint, &body, *lock(&state.usage));
    let success = || match provider {
        Provider::OpenAi if streamed => openai::streamed(endpoint, &model, &body, &made),
        Provider::Anthropic if streamed => anthropic::streamed(&model, &made),
        Provider::Google if streamed => gemini::streamed(&model, alt_sse, &made),
        Provider::OpenAi => openai::success(endpoint, &model, &body, &made),
        Provider::Anthropic => anthropic::success(endpoint, &model, &made),
        _ => gemini::success(endpoint, &model, &made),
    };
    let count = |after: u32| usize::try_from(after).unwrap_or(usize::MAX);
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
        Scenario::Garbage => Reply::new(200).set_body_raw(
            "<!DOCTYPE html><html><head><title>Sign in to the network</title></head><body>Accept the terms to continue.</body></html>",
            "text/html",
        ),
        Scenario::StreamError { after } => {
            let after = count(after);
            let last = match provider {
                Provider::OpenAi => openai::stream_error(endpoint, &model, &body, &made, after),
                Provider::Anthropic => anthropic::stream_error(),
                _ => gemini::stream_error(alt_sse, after == 0),
            };
            success().with_trouble(Trouble::Error { after, last })
        }
        Scenario::StreamCut { after } => success().with_trouble(Trouble::Cut {
            after: count(after),
        }),
        Scenario::StreamStall { after, stall } => success().with_trouble(Trouble::Stall {
            after: count(after),
            pause: stall,
        }),
        Scenario::KeepAlive => success().with_trouble(Trouble::KeepAlive),
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
                    openai::names_organization(request),
                ),
                Provider::Anthropic => anthropic::situation(&other, endpoint, &model, &rid),
                _ => gemini::situation(&other, endpoint),
            };
            specific.unwrap_or_else(success)
        }
    })
}

/// [`answer`] for the providers of [`compat`]: the same scenario rules, their own bodies.
fn answer_compat(state: &State, request: &RecordedRequest) -> Reply {
    let provider = state.provider;
    let path = request.path.as_str();
    let Some(key) = compat::key(provider, request) else {
        return compat::missing_auth(provider);
    };
    let fp = Fingerprint::of(&key);
    let slot = state
        .per_key
        .iter()
        .find(|(k, _)| *k == fp)
        .map_or(&state.default, |(_, s)| s);
    let endpoint = request.endpoint;
    if endpoint == Endpoint::Other {
        return compat::not_found(provider, request.method.as_str(), path);
    }
    let (scenario, served) = slot.take();
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
    let model = compat::model(provider, path, &body);
    let streamed = endpoint.is_billable() && compat::is_streamed(path, &body);
    let made = content::made(provider, endpoint, &body, *lock(&state.usage));
    let success = |scenario: &Scenario| {
        if streamed {
            compat::streamed(provider, endpoint, path, &model, &body, &made)
        } else {
            compat::success(provider, endpoint, path, &model, scenario, &key, &made)
        }
    };
    let count = |after: u32| usize::try_from(after).unwrap_or(usize::MAX);
    match scenario {
        Scenario::Valid => success(&scenario),
        Scenario::RateLimited { times, retry_after } if served < times => {
            compat::rate_limited(provider, retry_after)
        }
        Scenario::Outage { times, status } if served < times => compat::outage(provider, status),
        Scenario::RateLimited { .. } | Scenario::Outage { .. } => success(&Scenario::Valid),
        Scenario::Slow(delay) => success(&Scenario::Valid).set_delay(delay),
        Scenario::Hang => success(&Scenario::Valid).set_delay(HANG),
        Scenario::Garbage => Reply::new(200).set_body_raw(
            "<!DOCTYPE html><html><head><title>Sign in to the network</title></head><body>Accept the terms to continue.</body></html>",
            "text/html",
        ),
        Scenario::StreamError { after } => {
            let last = compat::stream_error(provider, endpoint, path);
            success(&Scenario::Valid).with_trouble(Trouble::Error {
                after: count(after),
                last,
            })
        }
        Scenario::StreamCut { after } => success(&Scenario::Valid).with_trouble(Trouble::Cut {
            after: count(after),
        }),
        Scenario::StreamStall { after, stall } => {
            success(&Scenario::Valid).with_trouble(Trouble::Stall {
                after: count(after),
                pause: stall,
            })
        }
        Scenario::KeepAlive => success(&Scenario::Valid).with_trouble(Trouble::KeepAlive),
        other => compat::situation(provider, &other, endpoint, &key, &model)
            .unwrap_or_else(|| success(&other)),
    }
}
