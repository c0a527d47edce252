//! Each new provider's verdict table against a wiremock server answering with
//! the real bodies (docs/PROVIDERS.md, "Verdicts of the new providers"): the
//! verdict, the deciding probe, the key info and the exact requests per path.
//! (byok-testkit's mocks of these providers, and their fake keys, come later:
//! the key here is a raw secret of the provider.)

use std::time::Duration;

use byok_keys::Provider;
use byok_keys::params::Params;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::credential::Credential;
use crate::report::{Depth, Probe, Report};
use crate::verdict::{InvalidReason as I, NoCreditsReason as N, RestrictedReason as R, Verdict};
use crate::{RetryPolicy, Verifier, VerifierConfig};

const SECRET: &str = "t3st-s3cret-0123456789abcdefghijklmnop";

fn json(status: u16, body: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.as_bytes().to_vec(), "application/json")
}

/// One canned answer: method, path, response, how many times (then the next mock of the same path).
struct Answer {
    method: &'static str,
    path: &'static str,
    response: ResponseTemplate,
    times: Option<u64>,
}

fn on(method: &'static str, path: &'static str, response: ResponseTemplate) -> Answer {
    Answer {
        method,
        path,
        response,
        times: None,
    }
}

impl Answer {
    fn times(mut self, n: u64) -> Answer {
        self.times = Some(n);
        self
    }
}

/// Start a server with `answers`, verify a raw key of `provider` against it.
async fn run(
    provider: Provider,
    params: Option<Params>,
    depth: Depth,
    answers: Vec<Answer>,
) -> (Report, MockServer) {
    let server = MockServer::start().await;
    for a in answers {
        let mut m = Mock::given(method(a.method))
            .and(path(a.path))
            .respond_with(a.response);
        if let Some(n) = a.times {
            m = m.up_to_n_times(n).with_priority(1);
        }
        m.mount(&server).await;
    }
    let config = VerifierConfig::default()
        .base_url(provider, &server.uri())
        .request_timeout(Duration::from_secs(5))
        .retry(
            RetryPolicy::default()
                .with_backoff(Duration::from_millis(5), Duration::from_millis(20))
                .with_jitter(0.0),
        );
    let verifier = Verifier::new(config).unwrap();
    let key = Credential::raw(provider, SECRET);
    let report = verifier
        .verify_paced(&key, params.as_ref(), depth, None)
        .await;
    (report, server)
}

/// Requests the server received, per path, in order.
async fn paths(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect()
}

fn assert_no_secret(report: &Report) {
    let shown = format!("{report:?} {}", serde_json::to_string(report).unwrap());
    assert!(!shown.contains(&SECRET[8..24]), "{shown}");
}

#[tokio::test]
async fn openrouter_key_limit_decides_without_spending() {
    let key_info = r#"{"data":{"label":"ci","limit":5,"limit_remaining":0,"limit_reset":"monthly","usage":5.0001,"is_free_tier":false,"is_management_key":false,"expires_at":null}}"#;
    let (report, server) = run(
        Provider::OpenRouter,
        None,
        Depth::Billing,
        vec![on("GET", "/api/v1/key", json(200, key_info))],
    )
    .await;
    assert_eq!(report.verdict, Verdict::NoCredits(N::KeyLimit));
    assert_eq!(report.probe, Some(Probe::KeyInfo));
    assert_eq!(paths(&server).await, ["/api/v1/key"]);
    assert_eq!(report.attempts, 1);
    let info = report.key_info.clone().unwrap();
    assert_eq!(
        (info.limit_usd.as_deref(), info.remaining_usd.as_deref()),
        (Some("5"), Some("0"))
    );
    assert_eq!(info.usage_usd.as_deref(), Some("5.0001"));
    let j = serde_json::to_value(&report).unwrap();
    assert_eq!(j["key_info"]["remaining_usd"], "0");
    assert_eq!(j["probe"], "key_info");
    assert_no_secret(&report);
}

#[tokio::test]
async fn openrouter_402s_are_not_retried() {
    let ok = r#"{"data":{"limit":null,"limit_remaining":null,"usage":0}}"#;
    for (body, want) in [
        (
            r#"{"error":{"code":402,"message":"Insufficient credits","metadata":{"limit_source":"openrouter_credits"}}}"#,
            Verdict::NoCredits(N::CreditBalance),
        ),
        (
            r#"{"error":{"code":402,"message":"You requested up to 1 tokens, but can only afford 0"}}"#,
            Verdict::NoCredits(N::CreditBalance),
        ),
    ] {
        let (report, server) = run(
            Provider::OpenRouter,
            None,
            Depth::Billing,
            vec![
                on("GET", "/api/v1/key", json(200, ok)),
                on("POST", "/api/v1/chat/completions", json(402, body)),
            ],
        )
        .await;
        assert_eq!(report.verdict, want);
        assert_eq!(report.probe, Some(Probe::Billable));
        assert_eq!(
            paths(&server).await,
            ["/api/v1/key", "/api/v1/chat/completions"]
        );
        // The key info of the free probe stays in the report.
        assert_eq!(report.key_info.as_ref().unwrap().limit_usd, None);
        let sent = &server.received_requests().await.unwrap()[1];
        let b: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
        assert_eq!(b["max_tokens"], 1);
        assert_eq!(
            sent.headers["authorization"].to_str().unwrap(),
            format!("Bearer {SECRET}")
        );
    }
}

#[tokio::test]
async fn groq_rate_limit_retried_per_the_message() {
    let limited = r#"{"error":{"message":"Rate limit reached for model `llama-3.1-8b-instant` on requests per minute (RPM): Limit 30, Used 30, Requested 1. Please try again in 0.05s.","type":"requests","code":"rate_limit_exceeded"}}"#;
    let (report, server) = run(
        Provider::Groq,
        None,
        Depth::Billing,
        vec![
            on(
                "GET",
                "/openai/v1/models",
                json(200, r#"{"object":"list","data":[]}"#),
            ),
            on("POST", "/openai/v1/chat/completions", json(429, limited)).times(2),
            on(
                "POST",
                "/openai/v1/chat/completions",
                json(200, r#"{"id":"c","choices":[]}"#),
            ),
        ],
    )
    .await;
    assert_eq!(report.verdict, Verdict::Valid);
    assert_eq!(report.attempts, 4);
    assert_eq!(report.waited, Duration::from_millis(100));
    assert_eq!(paths(&server).await.len(), 4);

    let (report, server) = run(
        Provider::Groq,
        None,
        Depth::Billing,
        vec![on(
            "GET",
            "/openai/v1/models",
            json(400, r#"{"error":{"message":"Organization has been restricted.","type":"invalid_request_error","code":"organization_restricted"}}"#),
        )],
    )
    .await;
    assert_eq!(report.verdict, Verdict::Invalid(I::Deactivated));
    assert_eq!(paths(&server).await.len(), 1);
}

#[tokio::test]
async fn xai_key_info_then_no_credits_never_retried() {
    let info = r#"{"redacted_api_key":"xai-...wxyz","name":"dev","acls":["api-key:model:grok-3-mini","api-key:endpoint:chat"],"api_key_blocked":false,"api_key_disabled":false,"team_blocked":false}"#;
    let spent = r#"{"code":"Some resource has been exhausted","error":"Your team t1 has either used all available credits or reached its monthly spending limit. To continue making API requests, please purchase more credits or raise your spending limit."}"#;
    let (report, server) = run(
        Provider::XAi,
        None,
        Depth::Billing,
        vec![
            on("GET", "/v1/api-key", json(200, info)),
            on("POST", "/v1/chat/completions", json(429, spent)),
        ],
    )
    .await;
    assert_eq!(report.verdict, Verdict::NoCredits(N::CreditBalance));
    assert_eq!(
        paths(&server).await,
        ["/v1/api-key", "/v1/chat/completions"]
    );
    assert_eq!(report.attempts, 2);
    assert!(
        report
            .provider_message
            .as_deref()
            .unwrap()
            .contains("used all available credits")
    );
    let info = report.key_info.unwrap();
    assert_eq!(info.models_allowed, Some(vec!["grok-3-mini".to_owned()]));
    assert_eq!(info.blocked, Some(false));

    let (report, server) = run(
        Provider::XAi,
        None,
        Depth::Billing,
        vec![on(
            "GET",
            "/v1/api-key",
            json(
                200,
                r#"{"api_key_blocked":true,"api_key_disabled":false,"team_blocked":false}"#,
            ),
        )],
    )
    .await;
    assert_eq!(report.verdict, Verdict::Invalid(I::Blocked));
    assert_eq!(paths(&server).await.len(), 1);
}

#[tokio::test]
async fn deepseek_balance_says_no_credits_for_free() {
    let balance = r#"{"is_available":false,"balance_infos":[{"currency":"USD","total_balance":"0.00","granted_balance":"0.00","topped_up_balance":"0.00"}]}"#;
    let (report, server) = run(
        Provider::DeepSeek,
        None,
        Depth::Billing,
        vec![on("GET", "/user/balance", json(200, balance))],
    )
    .await;
    assert_eq!(report.verdict, Verdict::NoCredits(N::CreditBalance));
    assert_eq!(paths(&server).await, ["/user/balance"]);
    let info = report.key_info.unwrap();
    assert_eq!(
        (
            info.balance[0].currency.as_str(),
            info.balance[0].total.as_str()
        ),
        ("USD", "0.00")
    );

    let ok =
        r#"{"is_available":true,"balance_infos":[{"currency":"CNY","total_balance":"110.00"}]}"#;
    let (report, server) = run(
        Provider::DeepSeek,
        None,
        Depth::Billing,
        vec![
            on("GET", "/user/balance", json(200, ok)),
            on("POST", "/chat/completions", json(402, r#"{"error":{"message":"Insufficient Balance","type":"unknown_error","param":null,"code":"invalid_request_error"}}"#)),
        ],
    )
    .await;
    assert_eq!(report.verdict, Verdict::NoCredits(N::CreditBalance));
    assert_eq!(paths(&server).await.len(), 2);
    assert_eq!(report.key_info.unwrap().balance[0].total, "110.00");
}

#[tokio::test]
async fn mistral_401_is_ambiguous_and_capacity_is_retried() {
    let (report, server) = run(
        Provider::Mistral,
        None,
        Depth::Billing,
        vec![on(
            "GET",
            "/v1/models",
            json(401, r#"{"message":"Unauthorized","request_id":"abc"}"#),
        )],
    )
    .await;
    assert_eq!(report.verdict, Verdict::Invalid(I::KeyOrQuota));
    assert_eq!(report.request_id.as_deref(), Some("abc"));
    assert!(report.remediation().contains("quota"));
    assert_eq!(paths(&server).await.len(), 1);

    let capacity = r#"{"object":"error","message":"Service tier capacity exceeded for this model.","type":"service_tier_capacity_exceeded","param":null,"code":"3505"}"#;
    let (report, server) = run(
        Provider::Mistral,
        None,
        Depth::Billing,
        vec![
            on(
                "GET",
                "/v1/models",
                json(200, r#"{"object":"list","data":[]}"#),
            ),
            on("POST", "/v1/chat/completions", json(429, capacity)),
        ],
    )
    .await;
    assert_eq!(report.verdict, Verdict::ProviderUnavailable);
    // Three attempts: the policy's cap.
    assert_eq!(paths(&server).await.len(), 1 + 3);
}

#[tokio::test]
async fn together_402_is_no_credits() {
    let (report, server) = run(
        Provider::Together,
        None,
        Depth::Billing,
        vec![
            on("GET", "/v1/models", json(200, r#"[{"id":"meta-llama/Llama-3.2-3B-Instruct-Turbo","object":"model"}]"#)),
            on("POST", "/v1/chat/completions", json(402, r#"{"id":"x","error":{"message":"Credit limit exceeded","type":"credit_limit","code":null}}"#)),
        ],
    )
    .await;
    // Together's model list is a top-level JSON array: valid, then the 402.
    assert_eq!(report.verdict, Verdict::NoCredits(N::CreditBalance));
    assert_eq!(paths(&server).await.len(), 2);

    let (report, server) = run(
        Provider::Together,
        None,
        Depth::Billing,
        vec![
            on("GET", "/v1/models", json(200, r#"{"object":"list","data":[]}"#)),
            on("POST", "/v1/chat/completions", json(402, r#"{"id":"x","error":{"message":"Credit limit exceeded","type":"credit_limit","code":null}}"#)),
        ],
    )
    .await;
    assert_eq!(report.verdict, Verdict::NoCredits(N::CreditBalance));
    assert_eq!(paths(&server).await.len(), 2);
}

#[tokio::test]
async fn fireworks_list_500_falls_through_to_the_billable_probe() {
    let broken = json(
        500,
        r#"{"error":{"object":"error","type":"internal_server_error","message":"Error listing deployed models"}}"#,
    );
    let (report, server) = run(
        Provider::Fireworks,
        None,
        Depth::Billing,
        vec![
            on("GET", "/inference/v1/models", broken.clone()),
            on(
                "POST",
                "/inference/v1/chat/completions",
                json(200, r#"{"id":"c","choices":[]}"#),
            ),
        ],
    )
    .await;
    assert_eq!(report.verdict, Verdict::Valid);
    // The broken list is asked once, not retried.
    assert_eq!(
        paths(&server).await,
        ["/inference/v1/models", "/inference/v1/chat/completions"]
    );

    let (report, server) = run(
        Provider::Fireworks,
        None,
        Depth::Auth,
        vec![on("GET", "/inference/v1/models", broken)],
    )
    .await;
    assert_eq!(report.verdict, Verdict::Indeterminate, "never invalid");
    assert_eq!(paths(&server).await.len(), 1);

    let suspended = r#"{"error":{"object":"error","type":"error","code":"PRECONDITION_FAILED","message":"Account acme is suspended, possibly due to reaching the monthly spending limit or failure to pay past invoices."},"request_id":"r1"}"#;
    let (report, server) = run(
        Provider::Fireworks,
        None,
        Depth::Billing,
        vec![
            on("GET", "/inference/v1/models", json(200, r#"{"data":[]}"#)),
            on(
                "POST",
                "/inference/v1/chat/completions",
                json(412, suspended),
            ),
        ],
    )
    .await;
    assert_eq!(report.verdict, Verdict::NoCredits(N::Billing));
    assert_eq!(report.request_id.as_deref(), None);
    assert_eq!(paths(&server).await.len(), 2);
}

#[tokio::test]
async fn perplexity_has_no_free_probe_and_a_html_401() {
    let html = ResponseTemplate::new(401).set_body_raw(
        b"<html><head><title>401 Authorization Required</title></head><body><center>openresty</center></body></html>".to_vec(),
        "text/html",
    );
    for depth in [Depth::Auth, Depth::Billing] {
        let (report, server) = run(
            Provider::Perplexity,
            None,
            depth,
            vec![on("POST", "/v1/responses", html.clone())],
        )
        .await;
        assert_eq!(report.verdict, Verdict::Invalid(I::Unauthorized), "{depth}");
        assert_eq!(report.probe, Some(Probe::Billable));
        assert_eq!(paths(&server).await, ["/v1/responses"]);
        let sent = &server.received_requests().await.unwrap()[0];
        let b: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
        assert_eq!(b["max_output_tokens"], 16);
    }
}

fn azure_params() -> Params {
    Params::new(
        Provider::AzureOpenAi,
        [("resource", "contoso"), ("deployment", "gpt-4o-mini")],
    )
    .unwrap()
}

#[tokio::test]
async fn azure_without_params_sends_nothing() {
    let (report, server) = run(Provider::AzureOpenAi, None, Depth::Billing, vec![]).await;
    assert_eq!(report.verdict, Verdict::Restricted(R::MissingParam));
    assert_eq!(report.verdict.reason(), Some("missing_param"));
    assert_eq!((report.attempts, report.probe), (0, None));
    assert!(report.remediation().contains("resource"));
    assert!(paths(&server).await.is_empty());
    // Parameters of another provider are no parameters.
    let wrong = Params::new(Provider::Bedrock, [("region", "us-east-1")]).unwrap();
    let (report, server) = run(Provider::AzureOpenAi, Some(wrong), Depth::Billing, vec![]).await;
    assert_eq!(report.verdict, Verdict::Restricted(R::MissingParam));
    assert!(paths(&server).await.is_empty());
}

#[tokio::test]
async fn azure_rows_with_params() {
    let chat = "/openai/deployments/gpt-4o-mini/chat/completions";
    let daily = r#"{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 86400 seconds."}}"#;
    let (report, server) = run(
        Provider::AzureOpenAi,
        Some(azure_params()),
        Depth::Billing,
        vec![
            on(
                "GET",
                "/openai/deployments",
                json(200, r#"{"data":[],"object":"list"}"#),
            ),
            on("POST", chat, json(429, daily)),
        ],
    )
    .await;
    assert_eq!(report.verdict, Verdict::NoCredits(N::QuotaExhausted));
    assert_eq!(report.retry_after, None);
    assert_eq!(paths(&server).await, ["/openai/deployments", chat]);
    let sent = server.received_requests().await.unwrap();
    assert_eq!(sent[1].url.query(), Some("api-version=2024-10-21"));
    assert_eq!(sent[1].headers["api-key"].to_str().unwrap(), SECRET);
    assert!(sent[1].headers.get("authorization").is_none());

    // The deployments list retired (404): the billable probe decides.
    let (report, server) = run(
        Provider::AzureOpenAi,
        Some(azure_params()),
        Depth::Billing,
        vec![
            on("GET", "/openai/deployments", json(404, r#"{"error":{"code":"404","message":"Resource not found"}}"#)),
            on("POST", chat, json(404, r#"{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}}"#)),
        ],
    )
    .await;
    assert_eq!(report.verdict, Verdict::Restricted(R::DeploymentNotFound));
    assert_eq!(paths(&server).await.len(), 2);

    let (report, server) = run(
        Provider::AzureOpenAi,
        Some(azure_params()),
        Depth::Billing,
        vec![on("GET", "/openai/deployments", json(401, r#"{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint."}}"#))],
    )
    .await;
    assert_eq!(report.verdict, Verdict::Invalid(I::KeyOrEndpoint));
    assert!(
        report.remediation().contains("resource"),
        "{}",
        report.remediation()
    );
    assert_eq!(paths(&server).await.len(), 1);
}

#[tokio::test]
async fn bedrock_converse_rows() {
    let region = || Params::new(Provider::Bedrock, [("region", "us-east-1")]).unwrap();
    let converse = "/model/amazon.nova-micro-v1:0/converse";
    let auth_failed = json(
        403,
        r#"{"Message":"Authentication failed: Please make sure your API Key is valid."}"#,
    )
    .insert_header(
        "x-amzn-ErrorType",
        "UnrecognizedClientException:http://internal.amazon.com/coral/com.amazon.coral.service/",
    );
    let (report, server) = run(
        Provider::Bedrock,
        Some(region()),
        Depth::Auth,
        vec![on("POST", converse, auth_failed)],
    )
    .await;
    assert_eq!(report.verdict, Verdict::Invalid(I::KeyOrEndpoint));
    assert!(report.remediation().contains("region"));
    assert_eq!(paths(&server).await, [converse]);
    let sent = &server.received_requests().await.unwrap()[0];
    let b: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(b["inferenceConfig"]["maxTokens"], 1);

    let throttled = json(
        429,
        r#"{"message":"Too many requests, please wait before trying again."}"#,
    )
    .insert_header(
        "x-amzn-ErrorType",
        "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
    )
    .insert_header("retry-after", "0");
    let (report, server) = run(
        Provider::Bedrock,
        Some(region()),
        Depth::Billing,
        vec![
            on("POST", converse, throttled).times(1),
            on("POST", converse, json(200, r#"{"output":{"message":{"role":"assistant","content":[{"text":"p"}]}},"stopReason":"max_tokens","usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2}}"#)),
        ],
    )
    .await;
    assert_eq!(report.verdict, Verdict::Valid);
    assert_eq!(paths(&server).await.len(), 2);

    let denied = json(
        403,
        r#"{"Message":"Invalid API Key format: Must start with pre-defined prefix"}"#,
    )
    .insert_header(
        "x-amzn-ErrorType",
        "AccessDeniedException:http://internal.amazon.com/coral/com.amazon.bedrock/",
    );
    let (report, server) = run(
        Provider::Bedrock,
        Some(region()),
        Depth::Billing,
        vec![on("POST", converse, denied)],
    )
    .await;
    assert_eq!(report.verdict, Verdict::Restricted(R::IamPermission));
    assert_eq!(
        report.provider_code.as_deref(),
        Some("AccessDeniedException")
    );
    assert_eq!(paths(&server).await.len(), 1);
}

#[tokio::test]
async fn cohere_check_and_trial_quota() {
    let (report, server) = run(
        Provider::Cohere,
        None,
        Depth::Billing,
        vec![on(
            "POST",
            "/v1/check-api-key",
            json(200, r#"{"valid":false}"#),
        )],
    )
    .await;
    assert_eq!(report.verdict, Verdict::Invalid(I::Unauthorized));
    assert_eq!(report.key_info.unwrap().valid, Some(false));
    assert_eq!(paths(&server).await.len(), 1);

    let trial = r#"{"id":"t","message":"You are using a Trial key, which is limited to 1000 API calls / month. You can continue to use the Trial key for free or upgrade to a Production key."}"#;
    let (report, server) = run(
        Provider::Cohere,
        None,
        Depth::Billing,
        vec![
            on("POST", "/v1/check-api-key", json(200, r#"{"valid":true}"#)),
            on("POST", "/v2/chat", json(429, trial)),
        ],
    )
    .await;
    assert_eq!(report.verdict, Verdict::NoCredits(N::TrialQuota));
    assert_eq!(paths(&server).await, ["/v1/check-api-key", "/v2/chat"]);
    let sent = &server.received_requests().await.unwrap()[1];
    assert_eq!(
        sent.headers["authorization"].to_str().unwrap(),
        format!("Bearer {SECRET}")
    );
}

#[tokio::test]
async fn the_key_never_leaves_in_a_url_or_a_report() {
    // Every provider, a server that echoes nothing but 401s: the key only in its header.
    for provider in Provider::ALL {
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(json(401, &format!(r#"{{"error":{{"message":"bad key {SECRET}"}},"message":"bad key {SECRET}","Message":"bad key {SECRET}"}}"#)))
            .mount(&server)
            .await;
        let params = match provider {
            Provider::AzureOpenAi => Some(azure_params()),
            Provider::Bedrock => Some(Params::new(provider, [("region", "us-east-1")]).unwrap()),
            _ => None,
        };
        let config = VerifierConfig::default()
            .base_url(provider, &server.uri())
            .retry(RetryPolicy::no_retry());
        let verifier = Verifier::new(config).unwrap();
        let key = Credential::raw(provider, SECRET);
        let report = verifier
            .verify_paced(&key, params.as_ref(), Depth::Billing, None)
            .await;
        assert_no_secret(&report);
        // The first three read their own error envelopes strictly (a bare
        // 401 body is a proxy's); every new provider's 401 is Invalid.
        let strict = matches!(
            provider,
            Provider::OpenAi | Provider::Anthropic | Provider::Google
        );
        assert_eq!(
            matches!(report.verdict, Verdict::Invalid(_)),
            !strict,
            "{provider}: {report:?}"
        );
        for r in server.received_requests().await.unwrap() {
            assert!(!r.url.as_str().contains(SECRET), "{provider}");
            assert!(
                !String::from_utf8_lossy(&r.body).contains(SECRET),
                "{provider}"
            );
            assert!(
                r.headers
                    .values()
                    .any(|v| v.to_str().unwrap_or("").contains(SECRET)),
                "{provider}"
            );
        }
    }
}

#[tokio::test]
async fn openrouter_rate_limit_waits_for_its_reset_and_odd_key_info_is_harmless() {
    // A second ahead: far enough that the key-info request before it cannot
    // use it up on a loaded machine (then there would be nothing to wait for).
    let reset = jiff::Timestamp::now().as_millisecond() + 1000;
    let limited = json(
        429,
        r#"{"error":{"code":429,"message":"Rate limit exceeded: free-models-per-min"}}"#,
    )
    .insert_header("X-RateLimit-Limit", "20")
    .insert_header("X-RateLimit-Remaining", "0")
    .insert_header("X-RateLimit-Reset", reset.to_string().as_str());
    let (report, server) = run(
        Provider::OpenRouter,
        None,
        Depth::Billing,
        vec![
            // A key-info object of the wrong shape: no info, and no verdict from it.
            on(
                "GET",
                "/api/v1/key",
                json(200, r#"{"data":"surprise","limit_remaining":0}"#),
            ),
            on("POST", "/api/v1/chat/completions", limited).times(1),
            on(
                "POST",
                "/api/v1/chat/completions",
                json(200, r#"{"id":"gen-1","choices":[]}"#),
            ),
        ],
    )
    .await;
    assert_eq!(report.verdict, Verdict::Valid);
    assert_eq!(report.key_info, None);
    assert_eq!(
        paths(&server).await,
        [
            "/api/v1/key",
            "/api/v1/chat/completions",
            "/api/v1/chat/completions"
        ]
    );
    assert!(report.waited > Duration::ZERO && report.waited <= Duration::from_millis(1000));
}
