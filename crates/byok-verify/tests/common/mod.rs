//! Shared helpers of the integration tests (included with `mod common;`).
#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use byok_keys::{ApiKey, KeyKind, Provider, fake};
use byok_testkit::{MockProvider, Scenario};
use byok_verify::{RetryPolicy, Verifier, VerifierConfig};

/// Retries fast enough for tests; waits requested by a server are still honoured as sent.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy::default()
        .with_backoff(Duration::from_millis(5), Duration::from_millis(20))
        .with_jitter(0.0)
}

/// A config pointing `mock`'s provider at it, with fast retries.
pub fn config_for(mock: &MockProvider) -> VerifierConfig {
    VerifierConfig::default()
        .base_url(mock.provider(), &mock.uri())
        .retry(fast_retry())
        .request_timeout(Duration::from_secs(5))
}

/// A verifier built from [`config_for`].
pub fn verifier_for(mock: &MockProvider) -> Verifier {
    Verifier::new(config_for(mock)).expect("valid config")
}

/// The providers byok-testkit mocks today (its mocks of the eleven new
/// providers come later; `src/verifier/tests.rs` answers for those with wiremock).
pub const MOCKED: [Provider; 3] = [Provider::OpenAi, Provider::Anthropic, Provider::Google];

/// A well-formed fake key of `provider`'s usual kind.
pub fn key_for(provider: Provider, seed: u64) -> ApiKey {
    let kind = match provider {
        Provider::OpenAi => KeyKind::Project,
        Provider::Anthropic => KeyKind::Api,
        _ => KeyKind::Standard,
    };
    ApiKey::parse(&fake::key(provider, kind, seed)).expect("fake keys parse")
}

/// Start `provider`'s mock playing `scenario`.
pub async fn start(provider: Provider, scenario: Scenario) -> MockProvider {
    let builder = match provider {
        Provider::OpenAi => byok_testkit::MockOpenAi::builder(),
        Provider::Anthropic => byok_testkit::MockAnthropic::builder(),
        _ => byok_testkit::MockGemini::builder(),
    };
    builder.scenario(scenario).start().await
}

/// Everything logged, at every level, by every crate of this test binary.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    /// Install a TRACE subscriber writing here (once per test binary).
    pub fn install() -> Capture {
        let logs = Capture::default();
        let sink = logs.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .try_init()
            .expect("first subscriber in this test binary");
        logs
    }

    /// What was logged so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}
