//! Every row of the verdict table, for each provider, through the testkit:
//! verdict, reason, deciding probe and the exact requests per endpoint.

mod common;

use std::time::Duration;

use byok_keys::Provider;
use byok_testkit::{CannedAnswer, Endpoint, Scenario};
use byok_verify::{
    Depth, InvalidReason as I, NoCreditsReason as N, Probe, RestrictedReason as R, Verdict,
};
use common::{key_for, start, verifier_for};

const MS: fn(u64) -> Duration = Duration::from_millis;

/// (scenario, depth, verdict, deciding probe, list-models requests, billable requests)
type Row = (Scenario, Depth, Verdict, Probe, usize, usize);

async fn check_rows(provider: Provider, rows: Vec<Row>) {
    for (i, (scenario, depth, want, probe, models, billable)) in rows.into_iter().enumerate() {
        let label = format!("{provider} {scenario:?} {depth}");
        let mock = start(provider, scenario).await;
        let report = verifier_for(&mock)
            .verify(&key_for(provider, i as u64), depth)
            .await;
        assert_eq!(report.verdict, want, "{label}: {report:?}");
        assert_eq!(report.probe, Some(probe), "{label}");
        assert_eq!(
            mock.count(Endpoint::ListModels).await,
            models,
            "{label}: list-models requests"
        );
        assert_eq!(
            mock.count(Endpoint::Billable).await,
            billable,
            "{label}: billable requests"
        );
        assert_eq!(
            report.attempts as usize,
            models + billable,
            "{label}: attempts"
        );
        assert!(report.http_status.is_some(), "{label}");
    }
}

#[tokio::test]
async fn openai_rows() {
    use Depth::{Auth, Billing};
    use Probe::{Billable, ListModels};
    let rows: Vec<Row> = vec![
        (Scenario::Valid, Billing, Verdict::Valid, Billable, 1, 1),
        (Scenario::Valid, Auth, Verdict::Valid, ListModels, 1, 0),
        (
            Scenario::InvalidKey,
            Billing,
            Verdict::Invalid(I::Unauthorized),
            ListModels,
            1,
            0,
        ),
        (
            Scenario::Deactivated,
            Billing,
            Verdict::Invalid(I::Deactivated),
            ListModels,
            1,
            0,
        ),
        // Without an `OpenAI-Organization` header there is nothing to mismatch: the
        // key works (see `openai_organization_mismatch_needs_the_header`).
        (
            Scenario::OrganizationMismatch,
            Billing,
            Verdict::Valid,
            Billable,
            1,
            1,
        ),
        // A restricted key without "Models: read": the billable probe still runs and wins.
        (
            Scenario::MissingScope,
            Billing,
            Verdict::Valid,
            Billable,
            1,
            1,
        ),
        (
            Scenario::MissingScope,
            Auth,
            Verdict::Restricted(R::MissingScope),
            ListModels,
            1,
            0,
        ),
        (
            Scenario::ModelAccess,
            Billing,
            Verdict::Restricted(R::ModelAccess),
            Billable,
            1,
            1,
        ),
        (
            Scenario::ModelAccess,
            Auth,
            Verdict::Valid,
            ListModels,
            1,
            0,
        ),
        (
            Scenario::Region,
            Billing,
            Verdict::Restricted(R::Region),
            ListModels,
            1,
            0,
        ),
        // No credits is a 429 sent exactly once: never retried.
        (
            Scenario::NoCredits,
            Billing,
            Verdict::NoCredits(N::InsufficientQuota),
            Billable,
            1,
            1,
        ),
        (Scenario::NoCredits, Auth, Verdict::Valid, ListModels, 1, 0),
        (
            Scenario::SpendLimit,
            Billing,
            Verdict::NoCredits(N::SpendLimit),
            Billable,
            1,
            1,
        ),
        (
            Scenario::RateLimited {
                times: 2,
                retry_after: MS(20),
            },
            Billing,
            Verdict::Valid,
            Billable,
            3,
            1,
        ),
        (
            Scenario::RateLimited {
                times: 9,
                retry_after: MS(20),
            },
            Billing,
            Verdict::RateLimited {
                retry_after: Some(MS(20)),
            },
            ListModels,
            3,
            0,
        ),
        (
            Scenario::Outage {
                times: 1,
                status: 503,
            },
            Billing,
            Verdict::Valid,
            Billable,
            2,
            1,
        ),
        (
            Scenario::Outage {
                times: 9,
                status: 500,
            },
            Billing,
            Verdict::ProviderUnavailable,
            ListModels,
            3,
            0,
        ),
        (
            Scenario::Outage {
                times: 9,
                status: 502,
            },
            Auth,
            Verdict::ProviderUnavailable,
            ListModels,
            3,
            0,
        ),
        (
            Scenario::Garbage,
            Billing,
            Verdict::Indeterminate,
            ListModels,
            1,
            0,
        ),
    ];
    check_rows(Provider::OpenAi, rows).await;
}

#[tokio::test]
async fn anthropic_rows() {
    use Depth::{Auth, Billing};
    use Probe::{Billable, ListModels};
    let rows: Vec<Row> = vec![
        (Scenario::Valid, Billing, Verdict::Valid, Billable, 1, 1),
        (
            Scenario::InvalidKey,
            Billing,
            Verdict::Invalid(I::Unauthorized),
            ListModels,
            1,
            0,
        ),
        (
            Scenario::Deactivated,
            Billing,
            Verdict::Invalid(I::Deactivated),
            ListModels,
            1,
            0,
        ),
        (
            Scenario::NoCredits,
            Billing,
            Verdict::NoCredits(N::CreditBalance),
            Billable,
            1,
            1,
        ),
        (Scenario::NoCredits, Auth, Verdict::Valid, ListModels, 1, 0),
        (
            Scenario::SpendLimit,
            Billing,
            Verdict::NoCredits(N::SpendLimit),
            Billable,
            1,
            1,
        ),
        // The tier spend cap is a 429 rate_limit_error that must not be retried.
        (
            Scenario::TierSpendCap,
            Billing,
            Verdict::NoCredits(N::SpendLimit),
            Billable,
            1,
            1,
        ),
        (
            Scenario::Billing,
            Billing,
            Verdict::NoCredits(N::Billing),
            Billable,
            1,
            1,
        ),
        (
            Scenario::PermissionDenied,
            Billing,
            Verdict::Restricted(R::Permission),
            ListModels,
            1,
            0,
        ),
        // On hold: the "organization has been disabled" 400, with a detail code.
        (
            Scenario::OrganizationOnHold,
            Billing,
            Verdict::Invalid(I::Deactivated),
            ListModels,
            1,
            0,
        ),
        // Anthropic's edge block: 403 `forbidden` without the envelope.
        (
            Scenario::Region,
            Billing,
            Verdict::Restricted(R::Region),
            ListModels,
            1,
            0,
        ),
        (
            Scenario::ModelAccess,
            Billing,
            Verdict::Restricted(R::ModelAccess),
            Billable,
            1,
            1,
        ),
        (
            Scenario::Outage {
                times: 1,
                status: 529,
            },
            Billing,
            Verdict::Valid,
            Billable,
            2,
            1,
        ),
        (
            Scenario::Outage {
                times: 9,
                status: 529,
            },
            Billing,
            Verdict::ProviderUnavailable,
            ListModels,
            3,
            0,
        ),
        (
            Scenario::Outage {
                times: 9,
                status: 500,
            },
            Auth,
            Verdict::ProviderUnavailable,
            ListModels,
            3,
            0,
        ),
        (
            Scenario::Garbage,
            Auth,
            Verdict::Indeterminate,
            ListModels,
            1,
            0,
        ),
    ];
    check_rows(Provider::Anthropic, rows).await;
}

#[tokio::test]
async fn anthropic_rate_limit_follows_retry_after_seconds() {
    let mock = start(
        Provider::Anthropic,
        Scenario::RateLimited {
            times: 1,
            retry_after: Duration::from_secs(1),
        },
    )
    .await;
    let report = verifier_for(&mock)
        .verify(&key_for(Provider::Anthropic, 1), Depth::Billing)
        .await;
    assert_eq!(report.verdict, Verdict::Valid);
    assert_eq!(
        (
            mock.count(Endpoint::ListModels).await,
            mock.count(Endpoint::Billable).await
        ),
        (2, 1)
    );
    // The wait is the server's `retry-after: 1`, not the 5 ms test backoff.
    assert_eq!(report.waited, Duration::from_secs(1));
}

#[tokio::test]
async fn gemini_rows() {
    use Depth::{Auth, Billing};
    use Probe::{Billable, ListModels};
    let rows: Vec<Row> = vec![
        (Scenario::Valid, Billing, Verdict::Valid, Billable, 1, 1),
        (
            Scenario::InvalidKey,
            Billing,
            Verdict::Invalid(I::Unauthorized),
            ListModels,
            1,
            0,
        ),
        (
            Scenario::ExpiredKey,
            Billing,
            Verdict::Invalid(I::Expired),
            ListModels,
            1,
            0,
        ),
        (
            Scenario::Suspended,
            Billing,
            Verdict::Invalid(I::Suspended),
            ListModels,
            1,
            0,
        ),
        (
            Scenario::ApiBlocked,
            Billing,
            Verdict::Restricted(R::ApiBlocked),
            ListModels,
            1,
            0,
        ),
        (
            Scenario::ServiceDisabled,
            Billing,
            Verdict::Restricted(R::ServiceDisabled),
            ListModels,
            1,
            0,
        ),
        (
            Scenario::Region,
            Billing,
            Verdict::Restricted(R::Region),
            ListModels,
            1,
            0,
        ),
        (
            Scenario::NoCredits,
            Billing,
            Verdict::NoCredits(N::PrepayDepleted),
            Billable,
            1,
            1,
        ),
        // A per-day quota carries a RetryInfo too, but waiting will not help: sent once.
        (
            Scenario::DailyQuota,
            Billing,
            Verdict::NoCredits(N::QuotaExhausted),
            Billable,
            1,
            1,
        ),
        (Scenario::DailyQuota, Auth, Verdict::Valid, ListModels, 1, 0),
        (
            Scenario::RateLimited {
                times: 2,
                retry_after: MS(30),
            },
            Billing,
            Verdict::Valid,
            Billable,
            3,
            1,
        ),
        (
            Scenario::Outage {
                times: 1,
                status: 504,
            },
            Billing,
            Verdict::Valid,
            Billable,
            2,
            1,
        ),
        (
            Scenario::Outage {
                times: 9,
                status: 503,
            },
            Auth,
            Verdict::ProviderUnavailable,
            ListModels,
            3,
            0,
        ),
        (
            Scenario::Garbage,
            Billing,
            Verdict::Indeterminate,
            ListModels,
            1,
            0,
        ),
    ];
    check_rows(Provider::Google, rows).await;
}

#[tokio::test]
async fn unknown_answers_keep_status_and_provider_code() {
    let mock = start(Provider::OpenAi, Scenario::Valid).await;
    mock.answer_with(CannedAnswer::json(
        400,
        &serde_json::json!({
            "error": {"message": "Something new", "type": "invalid_request_error", "param": null, "code": "brand_new_code"}
        }),
    ));
    let report = verifier_for(&mock)
        .verify(&key_for(Provider::OpenAi, 1), Depth::Billing)
        .await;
    assert_eq!(report.verdict, Verdict::Indeterminate);
    assert_eq!(report.http_status, Some(400));
    assert_eq!(report.provider_code.as_deref(), Some("brand_new_code"));
    assert_eq!(report.provider_message.as_deref(), Some("Something new"));
    assert_eq!(report.attempts, 1);
}

#[tokio::test]
async fn report_carries_request_id_and_rate_limits() {
    let mock = start(Provider::OpenAi, Scenario::Valid).await;
    let report = verifier_for(&mock)
        .verify(&key_for(Provider::OpenAi, 1), Depth::Billing)
        .await;
    assert!(
        report
            .request_id
            .as_deref()
            .is_some_and(|id| id.starts_with("req_byok"))
    );
    let requests = report.rate_limits.requests.expect("x-ratelimit-* parsed");
    assert_eq!((requests.limit, requests.remaining), (Some(500), Some(499)));
    assert_eq!(requests.reset_after, Some(MS(120)));

    let mock = start(Provider::Anthropic, Scenario::Valid).await;
    let report = verifier_for(&mock)
        .verify(&key_for(Provider::Anthropic, 1), Depth::Auth)
        .await;
    assert!(
        report
            .request_id
            .as_deref()
            .is_some_and(|id| id.starts_with("req_011C"))
    );
    assert_eq!(
        report.rate_limits.requests.and_then(|r| r.remaining),
        Some(49)
    );
}

#[tokio::test]
async fn admin_keys_are_refused_without_a_request() {
    let mock = start(Provider::OpenAi, Scenario::Valid).await;
    let raw = byok_keys::fake::key(Provider::OpenAi, byok_keys::KeyKind::Admin, 1);
    let key = byok_keys::ApiKey::parse(&raw).unwrap();
    let report = verifier_for(&mock).verify(&key, Depth::Billing).await;
    assert_eq!(report.verdict, Verdict::Restricted(R::AdminKey));
    assert_eq!(report.attempts, 0);
    assert!(mock.requests().await.is_empty());
}

#[tokio::test]
async fn openai_organization_and_project_headers_are_sent() {
    let mock = start(Provider::OpenAi, Scenario::Valid).await;
    let config = common::config_for(&mock)
        .openai_organization("org-byok")
        .openai_project("proj_byok");
    let verifier = byok_verify::Verifier::new(config).unwrap();
    let key = key_for(Provider::OpenAi, 1);
    verifier.verify(&key, Depth::Billing).await;
    let sent = mock.requests().await;
    assert_eq!(sent.len(), 2);
    for r in &sent {
        assert_eq!(r.header("openai-organization"), Some("org-byok"));
        assert_eq!(r.header("openai-project"), Some("proj_byok"));
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {}", key.expose_secret()).as_str())
        );
    }
    let body = sent[1].body_json().unwrap();
    assert_eq!(body["model"], "gpt-4o-mini-2024-07-18");
    assert_eq!(body["max_completion_tokens"], 1);
}

#[tokio::test]
async fn openai_organization_mismatch_needs_the_header() {
    let mock = start(Provider::OpenAi, Scenario::OrganizationMismatch).await;
    let config = common::config_for(&mock).openai_organization("org-elsewhere");
    let verifier = byok_verify::Verifier::new(config).unwrap();
    let report = verifier
        .verify(&key_for(Provider::OpenAi, 1), Depth::Billing)
        .await;
    assert_eq!(report.verdict, Verdict::Invalid(I::OrganizationMismatch));
    assert_eq!(report.probe, Some(Probe::ListModels));
    assert_eq!(report.attempts, 1);
    assert_eq!(mock.count(Endpoint::Billable).await, 0);
}

#[tokio::test]
async fn path_prefix_is_kept() {
    let mock = start(Provider::Anthropic, Scenario::Valid).await;
    let config = common::config_for(&mock).base_url(
        Provider::Anthropic,
        &format!("{}/gateway/anthropic/", mock.uri()),
    );
    let verifier = byok_verify::Verifier::new(config).unwrap();
    let report = verifier
        .verify(&key_for(Provider::Anthropic, 1), Depth::Billing)
        .await;
    assert_eq!(report.verdict, Verdict::Valid);
    let paths: Vec<_> = mock.requests().await.into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            "/gateway/anthropic/v1/models",
            "/gateway/anthropic/v1/messages"
        ]
    );
}

#[tokio::test]
async fn user_agent_is_configurable() {
    let mock = start(Provider::Google, Scenario::Valid).await;
    let key = key_for(Provider::Google, 1);
    verifier_for(&mock).verify(&key, Depth::Auth).await;
    let custom =
        byok_verify::Verifier::new(common::config_for(&mock).user_agent("acme-app/2.1 (byok)"))
            .unwrap();
    custom.verify(&key, Depth::Auth).await;
    let agents: Vec<_> = mock
        .requests()
        .await
        .iter()
        .map(|r| r.header("user-agent").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        agents,
        [
            concat!("byok/", env!("CARGO_PKG_VERSION")),
            "acme-app/2.1 (byok)"
        ]
    );
}

#[tokio::test]
async fn a_long_model_list_is_still_valid() {
    let mock = start(Provider::Google, Scenario::Valid).await;
    let models: Vec<_> = (0..5000)
        .map(|i| serde_json::json!({"name": format!("models/gemini-{i}"), "description": "x".repeat(60)}))
        .collect();
    let body = serde_json::json!({ "models": models });
    assert!(
        body.to_string().len() > 256 * 1024,
        "longer than the read limit"
    );
    mock.answer_with(CannedAnswer::json(200, &body));
    let report = verifier_for(&mock)
        .verify(&key_for(Provider::Google, 1), Depth::Auth)
        .await;
    assert_eq!(report.verdict, Verdict::Valid);
}
