//! The Test button: why a key does or does not work, against mock providers.
//!
//! `cargo run --example test_button` — starts byok-testkit's mock OpenAI,
//! Anthropic and Gemini servers in-process (no network), then tests one key per
//! situation. With `OPENAI_API_KEY`, `ANTHROPIC_API_KEY` or `GEMINI_API_KEY` set,
//! it tests that real key against the real provider as well.

use std::time::Duration;

use byok::keys::{ApiKey, KeyKind, Provider, fake, normalize};
use byok::verify::{Depth, Report, Verifier, VerifierConfig};
use byok_testkit::{MockAnthropic, MockGemini, MockOpenAi, Scenario};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cases = [
        (
            Provider::OpenAi,
            KeyKind::Project,
            Scenario::Valid,
            "a working key",
        ),
        (
            Provider::OpenAi,
            KeyKind::Project,
            Scenario::InvalidKey,
            "a revoked key",
        ),
        (
            Provider::OpenAi,
            KeyKind::Project,
            Scenario::NoCredits,
            "no credits (a 429 that must not be retried)",
        ),
        (
            Provider::OpenAi,
            KeyKind::Project,
            Scenario::MissingScope,
            "a restricted key that cannot list models (it still works)",
        ),
        (
            Provider::OpenAi,
            KeyKind::Project,
            Scenario::RateLimited {
                times: 1,
                retry_after: Duration::from_millis(200),
            },
            "rate limited once, then fine",
        ),
        (
            Provider::Anthropic,
            KeyKind::Api,
            Scenario::NoCredits,
            "credit balance too low (a 400)",
        ),
        (
            Provider::Anthropic,
            KeyKind::Api,
            Scenario::Outage {
                times: 5,
                status: 529,
            },
            "overloaded",
        ),
        (
            Provider::Google,
            KeyKind::Auth,
            Scenario::DailyQuota,
            "daily quota used up",
        ),
        (
            Provider::Google,
            KeyKind::Standard,
            Scenario::ExpiredKey,
            "an expired key",
        ),
    ];

    // One mock per provider; each key gets its own scenario.
    let mut openai = MockOpenAi::builder();
    let mut anthropic = MockAnthropic::builder();
    let mut gemini = MockGemini::builder();
    let mut keys = Vec::new();
    for (seed, (provider, kind, scenario, what)) in cases.into_iter().enumerate() {
        let raw = fake::key(provider, kind, seed as u64);
        match provider {
            Provider::OpenAi => openai = openai.scenario_for_key(&raw, scenario),
            Provider::Anthropic => anthropic = anthropic.scenario_for_key(&raw, scenario),
            _ => gemini = gemini.scenario_for_key(&raw, scenario),
        }
        keys.push((ApiKey::parse(&raw)?, what));
    }
    let (openai, anthropic, gemini) = (
        openai.start().await,
        anthropic.start().await,
        gemini.start().await,
    );
    let verifier = Verifier::new(
        VerifierConfig::default()
            .base_url(Provider::OpenAi, &openai.uri())
            .base_url(Provider::Anthropic, &anthropic.uri())
            .base_url(Provider::Google, &gemini.uri()),
    )?;

    println!(
        "Testing {} keys against local mock providers:\n",
        keys.len()
    );
    for (key, what) in &keys {
        let report = verifier.verify(key, Depth::Billing).await;
        print_report(what, &report);
    }

    for (var, provider) in [
        ("OPENAI_API_KEY", Provider::OpenAi),
        ("ANTHROPIC_API_KEY", Provider::Anthropic),
        ("GEMINI_API_KEY", Provider::Google),
    ] {
        let Ok(raw) = std::env::var(var) else {
            continue;
        };
        let real = Verifier::new(VerifierConfig::default())?;
        match normalize(&raw).parse_for(provider) {
            Ok(key) => print_report(
                &format!("your {var}"),
                &real.verify(&key, Depth::Billing).await,
            ),
            Err(e) => println!("your {var}: not a {provider} key [{}] {e}", e.code()),
        }
    }
    Ok(())
}

fn print_report(what: &str, r: &Report) {
    println!("{what}: {} {}", r.provider.display_name(), r.masked);
    println!(
        "  verdict   {} ({} attempt(s), {} ms)",
        r.code(),
        r.attempts,
        r.elapsed.as_millis()
    );
    println!("  message   {}", r.message());
    if !r.verdict.is_valid() {
        println!("  what to do {}", r.remediation());
    }
    println!();
}
