//! Serve mock providers for tools outside Rust (an SDK script, a demo app).
//!
//! ```text
//! cargo run -p byok-testkit --example serve                 # every catalogue scenario
//! cargo run -p byok-testkit --example serve -- no_credits   # only scenarios with these names
//! ```
//!
//! Starts one mock per (provider, scenario) the provider supports, prints one
//! JSON line `{"openai": {"no_credits": "http://127.0.0.1:PORT", ...}, ...}` on
//! stdout (scenarios with parameters are labelled `rate_limited_1x10ms`,
//! `outage_99x503`, ...), then serves until stdin closes or the process is
//! stopped. Point an SDK's base URL at a mock and any key plays its scenario.

use std::collections::BTreeMap;
use std::time::Duration;

use byok_keys::Provider;
use byok_testkit::{MockAnthropic, MockGemini, MockOpenAi, MockProvider, Scenario};

/// The scenario's name plus its parameters, unique within the catalogue.
fn label(scenario: &Scenario) -> String {
    let ms = |d: &Duration| d.as_millis();
    match scenario {
        Scenario::RateLimited { times, retry_after } => {
            format!("{}_{times}x{}ms", scenario.name(), ms(retry_after))
        }
        Scenario::Outage { times, status } => format!("{}_{times}x{status}", scenario.name()),
        Scenario::Slow(d) => format!("{}_{}ms", scenario.name(), ms(d)),
        other => other.name().to_owned(),
    }
}

fn key_of(provider: Provider) -> &'static str {
    match provider {
        Provider::OpenAi => "openai",
        Provider::Anthropic => "anthropic",
        _ => "gemini",
    }
}

#[tokio::main]
async fn main() {
    let wanted: Vec<String> = std::env::args().skip(1).collect();
    let mut mocks: Vec<MockProvider> = Vec::new();
    let mut map: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
    for provider in Provider::ALL {
        for scenario in Scenario::catalogue() {
            let chosen = wanted.is_empty() || wanted.iter().any(|w| w == scenario.name());
            if !chosen || !scenario.supported_by(provider) {
                continue;
            }
            let builder = match provider {
                Provider::OpenAi => MockOpenAi::builder(),
                Provider::Anthropic => MockAnthropic::builder(),
                _ => MockGemini::builder(),
            };
            let mock = builder.scenario(scenario.clone()).start().await;
            map.entry(key_of(provider))
                .or_default()
                .insert(label(&scenario), mock.uri());
            mocks.push(mock);
        }
    }
    println!(
        "{}",
        serde_json::to_string(&map).expect("a map of strings serializes")
    );
    // Serve until stdin closes (the driving script exits) or the process is stopped.
    let stdin_closed = tokio::task::spawn_blocking(|| {
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new())
    });
    let _ = stdin_closed.await;
    drop(mocks);
}
