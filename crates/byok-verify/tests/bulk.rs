//! Bulk verification: every key answered once, per-key verdicts, providers mixed,
//! concurrency bounded per provider.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use byok_keys::Provider;
use byok_testkit::{Endpoint, MockAnthropic, MockOpenAi, Scenario};
use byok_verify::{BulkOptions, Depth, InvalidReason, Verdict, Verifier, VerifierConfig};
use common::{fast_retry, key_for};
use futures::StreamExt;

#[tokio::test]
async fn mixed_providers_and_verdicts_stream_back_by_index() {
    let bad = key_for(Provider::OpenAi, 3);
    let openai = MockOpenAi::builder()
        .scenario_for_key(bad.expose_secret(), Scenario::InvalidKey)
        .start()
        .await;
    let anthropic = MockAnthropic::start().await;
    let verifier = Verifier::new(
        VerifierConfig::default()
            .base_url(Provider::OpenAi, &openai.uri())
            .base_url(Provider::Anthropic, &anthropic.uri())
            .retry(fast_retry()),
    )
    .unwrap();
    let keys: Vec<_> = (0..12)
        .map(|i| {
            if i % 2 == 0 {
                key_for(Provider::OpenAi, i)
            } else {
                key_for(Provider::Anthropic, i)
            }
        })
        .collect();
    let options = BulkOptions::default()
        .depth(Depth::Auth)
        .concurrency_per_provider(3)
        .requests_per_second(Some(200.0));
    let results: BTreeMap<usize, _> = verifier
        .verify_many(keys.clone(), options)
        .map(|r| (r.index, r.report))
        .collect()
        .await;
    assert_eq!(results.len(), 12);
    for (i, key) in keys.iter().enumerate() {
        let report = &results[&i];
        assert_eq!(report.masked, key.masked(), "result {i} belongs to key {i}");
        let want = if key == &bad {
            Verdict::Invalid(InvalidReason::Unauthorized)
        } else {
            Verdict::Valid
        };
        assert_eq!(report.verdict, want, "key {i}");
    }
    assert_eq!(openai.count(Endpoint::ListModels).await, 6);
    assert_eq!(anthropic.count(Endpoint::ListModels).await, 6);
    assert_eq!(openai.count(Endpoint::Billable).await, 0);
}

#[tokio::test]
async fn concurrency_is_bounded_per_provider() {
    // Each answer takes 100 ms; with 2 in flight, the mock never sees a third
    // request before one of the first two is answered.
    let mock = MockOpenAi::builder()
        .scenario(Scenario::Slow(Duration::from_millis(100)))
        .start()
        .await;
    let verifier = Verifier::new(
        VerifierConfig::default()
            .base_url(Provider::OpenAi, &mock.uri())
            .retry(fast_retry()),
    )
    .unwrap();
    let keys: Vec<_> = (0..6).map(|i| key_for(Provider::OpenAi, i)).collect();
    let options = BulkOptions::default()
        .depth(Depth::Auth)
        .concurrency_per_provider(2)
        .requests_per_second(None);
    let mut stream = Box::pin(verifier.verify_many(keys, options));
    let mut seen = 0;
    while let Some(r) = stream.next().await {
        seen += 1;
        assert_eq!(r.report.verdict, Verdict::Valid);
        // Requests received so far can exceed finished results by at most the bound.
        let received = mock.requests().await.len();
        assert!(
            received <= seen + 2,
            "received {received} with {seen} finished"
        );
    }
    assert_eq!(seen, 6);
}

#[tokio::test]
async fn many_with_params_and_params_of_another_provider() {
    use byok_keys::params::Params;

    let openai = MockOpenAi::start().await;
    let verifier = Verifier::new(
        VerifierConfig::default()
            .base_url(Provider::OpenAi, &openai.uri())
            .retry(fast_retry()),
    )
    .unwrap();
    let own = Params::none(Provider::OpenAi).unwrap();
    let bedrock = Params::new(Provider::Bedrock, [("region", "us-east-1")]).unwrap();
    let keys = vec![
        (key_for(Provider::OpenAi, 1), own.clone()),
        (key_for(Provider::OpenAi, 2), bedrock),
        (key_for(Provider::OpenAi, 3), own),
    ];
    let results: BTreeMap<usize, _> = verifier
        .verify_many_with(keys, BulkOptions::default().depth(Depth::Auth))
        .map(|r| (r.index, r.report))
        .collect()
        .await;
    // Parameters checked for another provider are no parameters, which is
    // all OpenAI needs.
    for i in 0..3 {
        assert_eq!(results[&i].verdict, Verdict::Valid, "{i}");
        assert_eq!(results[&i].attempts, 1, "{i}");
    }
    assert_eq!(openai.count(Endpoint::ListModels).await, 3);
}
