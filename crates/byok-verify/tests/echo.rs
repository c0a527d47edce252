//! Providers and proxies that echo the key in every field of their answer
//! (`byok_testkit::echo_answers`): nothing of the key reaches a report, its JSON,
//! its `Debug`, or a log line at TRACE; every provider field is bounded and the
//! code is an identifier or nothing.

mod common;

use std::time::Duration;

use byok_keys::ApiKey;
use byok_testkit::{EchoAnswer, echo_answers, echo_forms, echo_refusal};
use byok_verify::{Depth, Report, RetryPolicy, Verdict, Verifier, VerifierConfig};
use common::{Capture, key_for};

/// Any 12 consecutive characters of the key past its public prefix, in `text`.
fn fragment_in(text: &str, key: &ApiKey) -> Option<String> {
    let secret = key.expose_secret();
    let body = &secret.as_bytes()[key.prefix().len()..];
    body.windows(12)
        .map(|w| std::str::from_utf8(w).unwrap())
        .find(|w| text.contains(w))
        .map(|w| format!("{}…", &w[..3]))
}

async fn verify(answer: &EchoAnswer, key: &ApiKey) -> (Report, String) {
    let server = answer.serve().await;
    let verifier = Verifier::new(
        VerifierConfig::default()
            .base_url(key.provider(), &server.uri())
            .request_timeout(Duration::from_secs(5))
            .retry(RetryPolicy::no_retry()),
    )
    .unwrap();
    let report = verifier.verify(key, Depth::Billing).await;
    let text = format!(
        "{report:?}\n{report:#?}\n{}\n{}\n{}\n{}\n",
        serde_json::to_string(&report).unwrap(),
        report.verdict,
        report.message(),
        report.remediation()
    );
    (report, text)
}

fn assert_bounded(report: &Report, what: &str) {
    if let Some(code) = &report.provider_code {
        assert!(code.len() <= 64, "{what}: code of {} bytes", code.len());
        assert!(
            code.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b)),
            "{what}: code {code:?}"
        );
    }
    if let Some(m) = &report.provider_message {
        assert!(m.chars().count() <= 300, "{what}: message too long");
    }
    if let Some(id) = &report.request_id {
        assert!(id.chars().count() <= 128, "{what}: request id too long");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_in_any_field_in_any_form_never_comes_out() {
    let logs = Capture::install();

    let mut keys = Vec::new();
    let mut answered = 0;
    for provider in common::MOCKED {
        let key = key_for(provider, 4242);
        let mut answers = echo_answers(provider, key.expose_secret());
        answers.extend(
            echo_forms(key.expose_secret())
                .into_iter()
                .map(|(form, k)| echo_refusal(provider, form, &k)),
        );
        for answer in &answers {
            let (report, text) = verify(answer, &key).await;
            answered += usize::from(report.http_status.is_some());
            if let Some(leak) = fragment_in(&text, &key) {
                panic!("{}: the key ({leak}) is in the report", answer.label);
            }
            assert_bounded(&report, &answer.label);
            if answer.label.contains("refusal") {
                assert!(
                    matches!(report.verdict, Verdict::Invalid(_)),
                    "{}: {report:?}",
                    answer.label
                );
            }
        }
        keys.push(key);
    }
    assert!(answered > 100, "the echoing servers answered: {answered}");
    let logs = logs.text();
    assert!(logs.contains("probe answered"), "the capture works");
    for key in &keys {
        if let Some(leak) = fragment_in(&logs, key) {
            panic!("the key ({leak}) is in the logs");
        }
    }
}
