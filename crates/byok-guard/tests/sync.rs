//! Provider cost sync against mocks shaped like the real OpenAI and Anthropic responses.

use byok_guard::sync::{CostSync, SpendRecord, reconcile};
use byok_guard::{Label, Usd};
use byok_keys::{ApiKey, KeyKind, Provider, fake};
use jiff::Timestamp;
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn admin(provider: Provider) -> (String, ApiKey) {
    let raw = fake::key(provider, KeyKind::Admin, 11);
    let key = ApiKey::parse(&raw).unwrap();
    (raw, key)
}

#[tokio::test]
async fn openai_costs_pages_and_reads_amounts_exactly() {
    let server = MockServer::start().await;
    let (raw, key) = admin(Provider::OpenAi);
    let page1 = json!({"object": "page", "data": [{"object": "bucket", "start_time": 1767225600, "end_time": 1767312000,
        "results": [{"object": "organization.costs.result", "amount": {"value": 0.1234567891, "currency": "usd"},
                     "line_item": null, "project_id": "proj_abc", "organization_id": "org-1"},
                    {"object": "organization.costs.result", "amount": {"value": 2.5e-06, "currency": "usd"},
                     "line_item": null, "project_id": "proj_def", "organization_id": "org-1"}]}],
        "has_more": true, "next_page": "page_2"});
    let page2 = json!({"object": "page", "data": [{"object": "bucket", "start_time": 1767312000, "end_time": 1767398400,
        "results": [{"object": "organization.costs.result", "amount": {"value": 3, "currency": "usd"},
                     "line_item": null, "project_id": null, "organization_id": "org-1"}]}],
        "has_more": false, "next_page": null});
    Mock::given(method("GET"))
        .and(path("/v1/organization/costs"))
        .and(header("authorization", format!("Bearer {raw}").as_str()))
        .and(query_param("bucket_width", "1d"))
        .and(query_param("page", "page_2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page2))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/organization/costs"))
        .and(query_param("start_time", "1767225600"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page1))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let sync = CostSync::new().with_base_url(Provider::OpenAi, server.uri());
    let costs = sync
        .costs(&key, ts("2026-01-01T00:00:00Z"), ts("2026-01-03T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(costs.len(), 3);
    assert_eq!(costs[0].usd.picos(), 123_456_789_100);
    assert_eq!(costs[0].group.as_deref(), Some("proj_abc"));
    assert_eq!(costs[1].usd.to_string(), "0.0000025");
    assert_eq!(costs[2].usd, Usd::from_dollars(3));
    assert_eq!(costs[2].start, ts("2026-01-02T00:00:00Z"));
}

#[tokio::test]
async fn anthropic_cost_report_converts_cents_exactly() {
    let server = MockServer::start().await;
    let (raw, key) = admin(Provider::Anthropic);
    let body = json!({"data": [{"starting_at": "2026-01-01T00:00:00Z", "ending_at": "2026-01-02T00:00:00Z",
        "results": [{"currency": "USD", "amount": "123.4567", "workspace_id": "wrkspc_1", "description": "Claude Sonnet 4.5 Usage - Input Tokens",
                     "cost_type": "tokens", "context_window": "0-200k", "model": "claude-sonnet-4-5", "service_tier": "standard", "token_type": "uncached_input_tokens"},
                    {"currency": "USD", "amount": "0.5", "workspace_id": null, "description": null,
                     "cost_type": null, "context_window": null, "model": null, "service_tier": null, "token_type": null}]}],
        "has_more": false, "next_page": null});
    Mock::given(method("GET"))
        .and(path("/v1/organizations/cost_report"))
        .and(header("x-api-key", raw.as_str()))
        .and(header("anthropic-version", "2023-06-01"))
        .and(query_param("starting_at", "2026-01-01T00:00:00Z"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(1)
        .mount(&server)
        .await;
    let sync = CostSync::new().with_base_url(Provider::Anthropic, server.uri());
    let costs = sync
        .costs(&key, ts("2026-01-01T00:00:00Z"), ts("2026-01-02T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(costs[0].usd.to_string(), "1.234567");
    assert_eq!(costs[1].usd.to_string(), "0.005");
    assert_eq!(costs[0].group.as_deref(), Some("wrkspc_1"));
}

#[tokio::test]
async fn errors_never_contain_the_admin_key() {
    let server = MockServer::start().await;
    let (raw, key) = admin(Provider::OpenAi);
    // A provider body that quotes the key back, as some auth errors do.
    let body = json!({"error": {"message": format!("Incorrect API key provided: {raw}."), "type": "invalid_request_error", "code": "invalid_api_key"}});
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(body))
        .mount(&server)
        .await;
    let sync = CostSync::new().with_base_url(Provider::OpenAi, server.uri());
    let err = sync
        .costs(&key, ts("2026-01-01T00:00:00Z"), ts("2026-01-02T00:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "provider_sync_failed");
    let shown = format!("{err} {err:?} {sync:?}");
    assert!(shown.contains("HTTP 401"), "{shown}");
    assert!(!shown.contains(&raw), "the admin key leaked: {shown}");

    // A key that is not an admin key is refused before any request.
    let user = ApiKey::parse(&fake::key(Provider::OpenAi, KeyKind::Project, 3)).unwrap();
    let err = sync
        .costs(
            &user,
            ts("2026-01-01T00:00:00Z"),
            ts("2026-01-02T00:00:00Z"),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not an admin key"));
    assert!(!err.to_string().contains(user.expose_secret()));
}

#[tokio::test]
async fn reconcile_labels_synced_spend_and_reports_drift() {
    let server = MockServer::start().await;
    let (_, key) = admin(Provider::Anthropic);
    let body = json!({"data": [{"starting_at": "2026-01-01T00:00:00Z", "ending_at": "2026-01-02T00:00:00Z",
        "results": [{"currency": "USD", "amount": "250", "workspace_id": null, "description": null}]}],
        "has_more": false, "next_page": null});
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    let sync = CostSync::new().with_base_url(Provider::Anthropic, server.uri());
    let costs = sync
        .costs(&key, ts("2026-01-01T00:00:00Z"), ts("2026-01-03T00:00:00Z"))
        .await
        .unwrap();
    let ours = [
        SpendRecord {
            at: ts("2026-01-01T10:00:00Z"),
            usd: "1.5".parse().unwrap(),
        },
        SpendRecord {
            at: ts("2026-01-01T23:59:59Z"),
            usd: "0.75".parse().unwrap(),
        },
        SpendRecord {
            at: ts("2026-01-02T08:00:00Z"),
            usd: "9".parse().unwrap(),
        },
    ];
    let r = reconcile(&ours, &costs).unwrap();
    assert_eq!(r.buckets.len(), 1);
    assert_eq!(r.buckets[0].provider_usd.to_string(), "2.5");
    assert_eq!(r.buckets[0].estimated_usd.to_string(), "2.25");
    assert_eq!(r.buckets[0].drift_usd.to_string(), "0.25");
    assert_eq!(r.synced_until, Some(ts("2026-01-02T00:00:00Z")));
    assert_eq!(r.label_at(ours[0].at), Label::VerifiedByProvider);
    assert_eq!(r.label_at(ours[2].at), Label::PendingProviderSync);
}

/// The whole write-back: settled calls in a ledger, the provider's report from a
/// mock of OpenAI's costs API, and the labels the ledger ends with — on the
/// embedded ledgers (PostgreSQL and Redis run the same `relabel` contract in
/// the conformance suite).
#[tokio::test]
async fn provider_costs_are_written_back_into_the_ledger() {
    use std::sync::Arc;

    use byok_guard::ledger::{self, HoldRequest, Ledger};
    use byok_guard::{Budget, Guard, Period, ReservationId, Scope};
    use jiff::SignedDuration;

    let server = MockServer::start().await;
    let (_, key) = admin(Provider::OpenAi);
    // Two complete days, the second split across two projects.
    let page = json!({"object": "page", "data": [
        {"object": "bucket", "start_time": 1767225600, "end_time": 1767312000,
         "results": [{"object": "organization.costs.result", "amount": {"value": 1.05, "currency": "usd"},
                      "line_item": null, "project_id": "proj_a", "organization_id": "org-1"}]},
        {"object": "bucket", "start_time": 1767312000, "end_time": 1767398400,
         "results": [{"object": "organization.costs.result", "amount": {"value": 0.5, "currency": "usd"},
                      "line_item": null, "project_id": "proj_a", "organization_id": "org-1"},
                     {"object": "organization.costs.result", "amount": {"value": 1.5, "currency": "usd"},
                      "line_item": null, "project_id": "proj_b", "organization_id": "org-1"}]}],
        "has_more": false, "next_page": null});
    Mock::given(method("GET"))
        .and(path("/v1/organization/costs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page))
        .mount(&server)
        .await;
    let costs = CostSync::new()
        .with_base_url(Provider::OpenAi, server.uri())
        .costs(&key, ts("2026-01-01T00:00:00Z"), ts("2026-01-04T00:00:00Z"))
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let urls = [
        "memory:".to_owned(),
        format!("sqlite:{}", dir.path().join("sync.db").display()),
    ];
    for url in urls {
        let ledger: Arc<dyn Ledger> = ledger::open(&url).await.unwrap();
        let org = Scope::workspace(format!("org-{}", ReservationId::new()));
        ledger
            .put_budget(&Budget::new(
                org.clone(),
                Usd::from_dollars(100),
                Period::Total,
            ))
            .await
            .unwrap();
        // (settled at, amount, label)
        let calls = [
            ("2026-01-01T09:00:00Z", "1", Label::PendingProviderSync),
            ("2026-01-02T23:59:59Z", "0.25", Label::Estimated),
            ("2026-01-02T10:00:00Z", "1.5", Label::Unavailable),
            ("2026-01-03T08:00:00Z", "0.75", Label::PendingProviderSync),
        ];
        for (at, amount, label) in calls {
            let at = ts(at);
            let id = ReservationId::new();
            ledger
                .hold(&HoldRequest {
                    id,
                    scopes: vec![org.clone()],
                    amount: amount.parse().unwrap(),
                    now: at,
                    expires_at: at + SignedDuration::from_mins(10),
                })
                .await
                .unwrap();
            ledger
                .settle(id, amount.parse().unwrap(), label, at)
                .await
                .unwrap();
        }
        let guard = Guard::new(ledger.clone());
        let synced = guard
            .apply_provider_costs_until(&org, &costs, ts("2026-01-03T12:00:00Z"))
            .await
            .unwrap();
        assert_eq!(synced.buckets.len(), 2, "{url}");
        let (d1, d2) = (&synced.buckets[0], &synced.buckets[1]);
        assert!(d1.complete && d2.complete);
        assert_eq!(d1.drift.provider_usd.to_string(), "1.05");
        assert_eq!(d1.drift.estimated_usd, Usd::from_dollars(1));
        assert_eq!(d1.drift.drift_usd.to_string(), "0.05");
        assert_eq!((d1.relabeled.calls, d1.relabeled.moved_calls), (1, 1));
        // Day two: both projects summed; the unavailable call counts but does not move.
        assert_eq!(d2.drift.provider_usd, Usd::from_dollars(2));
        assert_eq!(d2.drift.estimated_usd.to_string(), "1.75");
        assert_eq!((d2.relabeled.calls, d2.relabeled.moved_calls), (2, 1));
        assert_eq!(synced.synced_until, Some(ts("2026-01-03T00:00:00Z")));

        let st = ledger
            .status(&org, ts("2026-01-03T12:00:00Z"))
            .await
            .unwrap()
            .unwrap();
        let by = |l: Label| st.spent_by_label.get(&l).map(ToString::to_string);
        assert_eq!(by(Label::VerifiedByProvider).as_deref(), Some("1.25"));
        assert_eq!(by(Label::PendingProviderSync).as_deref(), Some("0.75"));
        assert_eq!(by(Label::Unavailable).as_deref(), Some("1.5"));
        assert_eq!(by(Label::Estimated), None);
        assert_eq!(
            st.spent.to_string(),
            "3.5",
            "relabelling never changes the total"
        );

        // Running the sync again moves nothing more.
        let again = guard
            .apply_provider_costs_until(&org, &costs, ts("2026-01-03T12:00:00Z"))
            .await
            .unwrap();
        assert!(again.buckets.iter().all(|b| b.relabeled.moved_calls == 0));
        // A bucket that has not ended is compared but not written back.
        let early = guard
            .apply_provider_costs_until(&org, &costs[..1], ts("2026-01-01T12:00:00Z"))
            .await
            .unwrap();
        assert!(!early.buckets[0].complete);
        assert_eq!(early.synced_until, None);
    }
}
