//! The eleven providers of PROVIDERS-MORE.md through the guard: each one's usage
//! sample (§4) read from its own object and priced exactly against the embedded
//! table, its reported cost verified, its stream metered.
//!
//! Every expected amount is worked by hand from the embedded table's per-token
//! prices, quoted beside it (LiteLLM's `input_cost_per_token`, ...).

use std::sync::Arc;

use byok_guard::meter::{Metered, StreamFormat, StreamMeter};
use byok_guard::{
    Actual, Admission, Budget, CallRequest, Guard, Label, MemoryLedger, Period, PriceBook, Prompt,
    Scope, Usage, Usd, reported_cost, reported_cost_from_json,
};
use byok_keys::Provider;
use proptest::prelude::*;
use serde_json::{Value, json};

fn usd(s: &str) -> Usd {
    s.parse().unwrap()
}

/// Read `body` as `provider`'s usage, check the parts, price it at `provider`'s `model`.
fn priced(provider: Provider, model: &str, body: Value, parts: Usage, want: &str) {
    let usage =
        Usage::from_provider_value(provider, &body).unwrap_or_else(|e| panic!("{provider:?}: {e}"));
    assert_eq!(usage, parts, "{provider:?} {model}");
    let cost = PriceBook::embedded()
        .cost_for(provider, model, &usage)
        .unwrap();
    assert_eq!(cost.label, Label::Estimated, "{provider:?} {model}");
    assert_eq!(cost.usd, Some(usd(want)), "{provider:?} {model}");
}

#[test]
fn openrouter_cache_reads_and_writes_inside_prompt_tokens() {
    // openrouter/anthropic/claude-sonnet-4: in 3e-06, cache read 3e-07, cache write
    // 3.75e-06, out 1.5e-05 (reasoning: the output rate).
    let body = json!({"id": "gen-1", "model": "anthropic/claude-sonnet-4", "usage": {
        "prompt_tokens": 10_000, "completion_tokens": 500, "total_tokens": 10_500,
        "prompt_tokens_details": {"cached_tokens": 6000, "cache_write_tokens": 2000},
        "completion_tokens_details": {"reasoning_tokens": 100},
        "cost": 0.0228, "is_byok": false, "cost_details": {"upstream_inference_cost": 0.0228}}});
    let parts = Usage {
        input_tokens: 2000,
        cached_input_tokens: 6000,
        cache_write_5m_tokens: 2000,
        output_tokens: 400,
        reasoning_tokens: 100,
        ..Usage::default()
    };
    // 2000×3e-6 + 6000×3e-7 + 2000×3.75e-6 + 400×1.5e-5 + 100×1.5e-5
    // = 0.006 + 0.0018 + 0.0075 + 0.006 + 0.0015
    priced(
        Provider::OpenRouter,
        "anthropic/claude-sonnet-4",
        body,
        parts,
        "0.0228",
    );
}

#[test]
fn groq_cached_tokens_at_the_input_rate_when_no_cache_price() {
    // groq/llama-3.3-70b-versatile: in 5.9e-07, out 7.9e-07, no cache price (→ input).
    let body = json!({"usage": {"queue_time": 0.02, "prompt_tokens": 1200, "prompt_time": 0.1,
        "completion_tokens": 300, "completion_time": 0.3, "total_tokens": 1500, "total_time": 0.4,
        "prompt_tokens_details": {"cached_tokens": 200}}});
    let parts = Usage {
        input_tokens: 1000,
        cached_input_tokens: 200,
        output_tokens: 300,
        ..Usage::default()
    };
    // 1000×5.9e-7 + 200×5.9e-7 + 300×7.9e-7 = 0.00059 + 0.000118 + 0.000237
    priced(
        Provider::Groq,
        "llama-3.3-70b-versatile",
        body,
        parts,
        "0.000945",
    );
}

#[test]
fn xai_reasoning_outside_completion_tokens() {
    // xai/grok-3-mini: in 3e-07, cache read 7.5e-08, out 5e-07 (reasoning: output rate).
    // total_tokens = prompt + completion + reasoning: xAI bills reasoning on top.
    let body = json!({"usage": {"prompt_tokens": 32, "completion_tokens": 9, "total_tokens": 135,
        "prompt_tokens_details": {"text_tokens": 32, "audio_tokens": 0, "image_tokens": 0,
            "cached_tokens": 6},
        "completion_tokens_details": {"reasoning_tokens": 94}, "num_sources_used": 0,
        "cost_in_usd_ticks": 597_500}});
    let parts = Usage {
        input_tokens: 26,
        cached_input_tokens: 6,
        output_tokens: 9,
        reasoning_tokens: 94,
        ..Usage::default()
    };
    // 26×3e-7 + 6×7.5e-8 + 9×5e-7 + 94×5e-7 = 0.0000078 + 0.00000045 + 0.0000045 + 0.000047
    priced(
        Provider::XAi,
        "grok-3-mini",
        body.clone(),
        parts,
        "0.00005975",
    );
    // The provider's own figure: 597 500 ticks × 100 pUSD.
    let verified = reported_cost(Provider::XAi, &body).unwrap();
    assert_eq!(verified.usd, Some(usd("0.00005975")));
    assert_eq!(verified.label, Label::VerifiedByProvider);
}

#[test]
fn deepseek_hits_and_misses_sum_to_prompt_tokens() {
    // deepseek/deepseek-chat: in 2.8e-07, cache read 2.8e-08, out 4.2e-07.
    let body = json!({"usage": {"prompt_tokens": 1000, "completion_tokens": 200,
        "total_tokens": 1200, "prompt_cache_hit_tokens": 600, "prompt_cache_miss_tokens": 400}});
    let parts = Usage {
        input_tokens: 400,
        cached_input_tokens: 600,
        output_tokens: 200,
        ..Usage::default()
    };
    // 400×2.8e-7 + 600×2.8e-8 + 200×4.2e-7 = 0.000112 + 0.0000168 + 0.000084
    priced(
        Provider::DeepSeek,
        "deepseek-chat",
        body,
        parts,
        "0.0002128",
    );
    // deepseek-reasoner: reasoning inside completion_tokens, priced at the output rate.
    let body = json!({"usage": {"prompt_tokens": 10, "completion_tokens": 200,
        "total_tokens": 210, "prompt_cache_hit_tokens": 0, "prompt_cache_miss_tokens": 10,
        "completion_tokens_details": {"reasoning_tokens": 150}}});
    let parts = Usage {
        input_tokens: 10,
        output_tokens: 50,
        reasoning_tokens: 150,
        ..Usage::default()
    };
    // 10×2.8e-7 + 200×4.2e-7 = 0.0000028 + 0.000084
    priced(
        Provider::DeepSeek,
        "deepseek-reasoner",
        body,
        parts,
        "0.0000868",
    );
    // Hits and misses that do not add up are refused, not guessed.
    let bad = json!({"usage": {"prompt_tokens": 1000, "completion_tokens": 1,
        "prompt_cache_hit_tokens": 600, "prompt_cache_miss_tokens": 500}});
    let err = Usage::from_provider_value(Provider::DeepSeek, &bad).unwrap_err();
    assert_eq!(err.code(), "inconsistent_usage");
}

#[test]
fn mistral_together_fireworks_openai_shape() {
    // mistral/mistral-small-latest: in 6e-08, out 1.8e-07.
    let body = json!({"id": "x", "object": "chat.completion",
        "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}});
    let parts = Usage {
        input_tokens: 10,
        output_tokens: 20,
        ..Usage::default()
    };
    // 10×6e-8 + 20×1.8e-7 = 0.0000006 + 0.0000036
    priced(
        Provider::Mistral,
        "mistral-small-latest",
        body,
        parts,
        "0.0000042",
    );
    // together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo: in and out 8.8e-07.
    let body = json!({"usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150,
        "cached_tokens": 0}});
    let parts = Usage {
        input_tokens: 100,
        output_tokens: 50,
        ..Usage::default()
    };
    let model = "meta-llama/Llama-3.3-70B-Instruct-Turbo";
    priced(Provider::Together, model, body, parts, "0.000132"); // 150×8.8e-7
    // fireworks_ai/accounts/fireworks/models/llama-v3p1-8b-instruct: in and out 1e-07.
    let body =
        json!({"usage": {"prompt_tokens": 1000, "completion_tokens": 1000, "total_tokens": 2000}});
    let parts = Usage {
        input_tokens: 1000,
        output_tokens: 1000,
        ..Usage::default()
    };
    let model = "accounts/fireworks/models/llama-v3p1-8b-instruct";
    priced(Provider::Fireworks, model, body, parts, "0.0002"); // 2000×1e-7
}

#[test]
fn azure_prices_at_azure_not_openai() {
    // azure/gpt-4o-mini: in 1.65e-07, cache read 7.5e-08, out 6.6e-07 (OpenAI's own
    // gpt-4o-mini is 1.5e-07 / 6e-07: a different price).
    let body = json!({"choices": [{"content_filter_results": {}}],
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
        "usage": {"prompt_tokens": 2000, "completion_tokens": 100, "total_tokens": 2100,
            "prompt_tokens_details": {"cached_tokens": 1024},
            "completion_tokens_details": {"reasoning_tokens": 0}}});
    let parts = Usage {
        input_tokens: 976,
        cached_input_tokens: 1024,
        output_tokens: 100,
        ..Usage::default()
    };
    // 976×1.65e-7 + 1024×7.5e-8 + 100×6.6e-7 = 0.00016104 + 0.0000768 + 0.000066
    priced(
        Provider::AzureOpenAi,
        "gpt-4o-mini",
        body.clone(),
        parts,
        "0.00030384",
    );
    let openai = PriceBook::embedded()
        .cost(
            "gpt-4o-mini",
            &Usage::from_provider_value(Provider::OpenAi, &body).unwrap(),
        )
        .unwrap();
    assert_ne!(openai.usd, Some(usd("0.00030384")));
}

#[test]
fn perplexity_citations_and_reasoning_on_top() {
    // perplexity/sonar-deep-research: in 2e-06, out 8e-06, reasoning 3e-06; citation
    // tokens are priced as input (LiteLLM's citation_cost_per_token is also 2e-06).
    let body = json!({"object": "response", "model": "sonar-deep-research", "usage": {
        "input_tokens": 19, "output_tokens": 9853, "total_tokens": 9872,
        "citation_tokens": 128_640, "num_search_queries": 30, "reasoning_tokens": 84_506,
        "cost": {"input_tokens_cost": 0.257, "output_tokens_cost": 0.079,
            "reasoning_tokens_cost": 0.254, "search_queries_cost": 0.15, "total_cost": 0.74}}});
    let parts = Usage {
        input_tokens: 128_659,
        output_tokens: 9853,
        reasoning_tokens: 84_506,
        ..Usage::default()
    };
    // 128659×2e-6 + 9853×8e-6 + 84506×3e-6 = 0.257318 + 0.078824 + 0.253518 (no search fees)
    priced(
        Provider::Perplexity,
        "sonar-deep-research",
        body.clone(),
        parts,
        "0.58966",
    );
    // The reported total has the search fees the tokens cannot.
    assert_eq!(
        reported_cost(Provider::Perplexity, &body).unwrap().usd,
        Some(usd("0.74"))
    );
    // Chat-shaped usage (before Sonar chat completions ended) reads too.
    // perplexity/sonar: in and out 1e-06.
    let chat = json!({"usage": {"prompt_tokens": 12, "completion_tokens": 300, "total_tokens": 312,
        "search_context_size": "low"}});
    let parts = Usage {
        input_tokens: 12,
        output_tokens: 300,
        ..Usage::default()
    };
    priced(Provider::Perplexity, "sonar", chat, parts, "0.000312");
}

#[test]
fn bedrock_input_tokens_exclude_the_cache() {
    // us.anthropic.claude-3-7-sonnet-20250219-v1:0 (bedrock_converse): in 3e-06, cache
    // read 3e-07, cache write 3.75e-06, out 1.5e-05.
    let body = json!({"output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}},
        "stopReason": "end_turn", "metrics": {"latencyMs": 300},
        "usage": {"inputTokens": 100, "outputTokens": 200, "totalTokens": 2300,
            "cacheReadInputTokens": 1500, "cacheWriteInputTokens": 500}});
    let parts = Usage {
        input_tokens: 100,
        cached_input_tokens: 1500,
        cache_write_5m_tokens: 500,
        output_tokens: 200,
        ..Usage::default()
    };
    // 100×3e-6 + 1500×3e-7 + 500×3.75e-6 + 200×1.5e-5 = 0.0003 + 0.00045 + 0.001875 + 0.003
    let model = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";
    priced(Provider::Bedrock, model, body, parts, "0.005625");
    // amazon.nova-micro-v1:0: in 3.5e-08, out 1.4e-07.
    let body = json!({"usage": {"inputTokens": 1000, "outputTokens": 100, "totalTokens": 1100}});
    let parts = Usage {
        input_tokens: 1000,
        output_tokens: 100,
        ..Usage::default()
    };
    // 1000×3.5e-8 + 100×1.4e-7 = 0.000035 + 0.000014
    priced(
        Provider::Bedrock,
        "amazon.nova-micro-v1:0",
        body,
        parts,
        "0.000049",
    );
    // cacheDetails splits the writes by lifetime (1 h listed before 5 m).
    let split = json!({"usage": {"inputTokens": 1, "outputTokens": 1, "cacheWriteInputTokens": 500,
        "cacheDetails": [{"ttl": "1h", "inputTokens": 300}, {"ttl": "5m", "inputTokens": 200}]}});
    let u = Usage::from_provider_value(Provider::Bedrock, &split).unwrap();
    assert_eq!(
        (u.cache_write_5m_tokens, u.cache_write_1h_tokens),
        (200, 300)
    );
    // Details that do not add up: all the writes at the 5-minute rate, none twice.
    let odd = json!({"usage": {"inputTokens": 1, "outputTokens": 1, "cacheWriteInputTokens": 500,
        "cacheDetails": [{"ttl": "1h", "inputTokens": 900}]}});
    let u = Usage::from_provider_value(Provider::Bedrock, &odd).unwrap();
    assert_eq!((u.cache_write_5m_tokens, u.cache_write_1h_tokens), (500, 0));
}

#[test]
fn cohere_bills_billed_units_not_tokens() {
    // command-a-03-2025 (cohere_chat): in 2.5e-06, out 1e-05.
    let body = json!({"id": "c1", "finish_reason": "COMPLETE",
        "message": {"role": "assistant", "content": [{"type": "text", "text": "hi"}]},
        "usage": {"billed_units": {"input_tokens": 5, "output_tokens": 418},
            "tokens": {"input_tokens": 71, "output_tokens": 418}}});
    let parts = Usage {
        input_tokens: 5,
        output_tokens: 418,
        ..Usage::default()
    };
    // 5×2.5e-6 + 418×1e-5 = 0.0000125 + 0.00418
    priced(
        Provider::Cohere,
        "command-a-03-2025",
        body,
        parts,
        "0.0041925",
    );
    // Its Compatibility API answers in OpenAI's shape.
    let compat =
        json!({"usage": {"prompt_tokens": 5, "completion_tokens": 418, "total_tokens": 423}});
    let parts = Usage {
        input_tokens: 5,
        output_tokens: 418,
        ..Usage::default()
    };
    priced(
        Provider::Cohere,
        "command-a-03-2025",
        compat,
        parts,
        "0.0041925",
    );
    // `tokens` alone is what was processed, not billed: no usage.
    let processed = json!({"usage": {"tokens": {"input_tokens": 71, "output_tokens": 418}}});
    assert_eq!(
        Usage::from_provider_value(Provider::Cohere, &processed)
            .unwrap_err()
            .code(),
        "missing_usage"
    );
}

#[test]
fn every_provider_reads_its_own_shape_and_refuses_a_foreign_one() {
    let chat = json!({"usage": {"prompt_tokens": 3, "completion_tokens": 4}});
    let converse = json!({"usage": {"inputTokens": 3, "outputTokens": 4}});
    let cohere = json!({"usage": {"billed_units": {"input_tokens": 3, "output_tokens": 4}}});
    for p in Provider::ALL {
        let (ok, foreign) = match p {
            Provider::Bedrock => (&converse, &cohere),
            Provider::Cohere => (&cohere, &converse),
            Provider::Anthropic => (
                &json!({"usage": {"input_tokens": 3, "output_tokens": 4}}),
                &converse,
            ),
            Provider::Google => (
                &json!({"usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 4}}),
                &chat,
            ),
            _ => (&chat, &converse),
        };
        let u = Usage::from_provider_value(p, ok).unwrap_or_else(|e| panic!("{p:?}: {e}"));
        assert_eq!((u.prompt_tokens(), u.completion_tokens()), (3, 4), "{p:?}");
        assert_eq!(
            Usage::from_provider_value(p, foreign).unwrap_err().code(),
            "missing_usage",
            "{p:?}"
        );
    }
}

#[tokio::test]
async fn guard_reserves_and_settles_at_the_providers_price() {
    let guard = Guard::new(Arc::new(MemoryLedger::new()));
    let project = Scope::project("p");
    guard
        .set_budget(&Budget::new(
            project.clone(),
            Usd::from_dollars(1),
            Period::Total,
        ))
        .await
        .unwrap();
    let call = CallRequest {
        scopes: vec![project.clone()],
        model: "llama-3.1-8b-instant",
        prompt: Prompt::Tokens(1000),
        max_output_tokens: Some(500),
    };
    // By name alone this is no OpenAI, Anthropic or Gemini model: unpriced, denied.
    assert!(matches!(
        guard.reserve(&call).await.unwrap(),
        Admission::Denied(_)
    ));
    let Admission::Reserved(r) = guard.reserve_for(Provider::Groq, &call).await.unwrap() else {
        panic!("denied")
    };
    assert_eq!(r.provider, Some(Provider::Groq));
    // groq/llama-3.1-8b-instant: 1000×5e-8 + 500×8e-8
    assert_eq!(r.amount, usd("0.00009"));
    let usage = Usage {
        input_tokens: 900,
        output_tokens: 100,
        ..Usage::default()
    };
    guard.settle(&r, Actual::Usage(usage)).await.unwrap();
    // 900×5e-8 + 100×8e-8 = 0.000045 + 0.000008
    let status = guard.status(&project).await.unwrap().unwrap();
    assert_eq!(status.spent, usd("0.000053"));
    assert_eq!(
        guard
            .cost_of_for(Provider::Groq, "llama-3.1-8b-instant", &usage)
            .unwrap()
            .usd,
        Some(usd("0.000053"))
    );
    // A reported cost settles as verified_by_provider, whatever a sync would say.
    let guard = guard.with_provider_sync(true);
    let xai = CallRequest {
        model: "grok-3-mini",
        ..call
    };
    let Admission::Reserved(r) = guard.reserve_for(Provider::XAi, &xai).await.unwrap() else {
        panic!("denied")
    };
    let body = r#"{"usage":{"prompt_tokens":10,"completion_tokens":5,"cost_in_usd_ticks":123456}}"#;
    let verified = reported_cost_from_json(Provider::XAi, body).unwrap();
    guard.settle(&r, Actual::Cost(verified)).await.unwrap();
    let status = guard.status(&project).await.unwrap().unwrap();
    assert_eq!(
        status.spent_by_label.get(&Label::VerifiedByProvider),
        Some(&usd("0.0000123456"))
    );
    // The reservation's JSON names the provider only when it has one.
    let json = serde_json::to_value(&r).unwrap();
    assert!(json.get("provider").is_some());
}

// ---- streams ----

fn run(meter: StreamMeter, pieces: &[&[u8]]) -> (Metered, Vec<u8>) {
    let mut meter = meter;
    let mut out = Vec::new();
    for p in pieces {
        meter.feed(p, &mut out);
    }
    let m = meter.finish(&mut out);
    (m, out)
}

fn sse(events: &[&str]) -> String {
    events.iter().map(|e| format!("{e}\n\n")).collect()
}

const OPENROUTER_STREAM: &[&str] = &[
    ": OPENROUTER PROCESSING",
    r#"data: {"id":"gen-1","object":"chat.completion.chunk","model":"openai/gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}"#,
    ": OPENROUTER PROCESSING",
    r#"data: {"id":"gen-1","object":"chat.completion.chunk","model":"openai/gpt-4o","choices":[{"index":0,"delta":{"content":" world"},"finish_reason":null}]}"#,
    r#"data: {"id":"gen-1","object":"chat.completion.chunk","model":"openai/gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":2,"total_tokens":14,"cost":0.00005,"is_byok":false,"prompt_tokens_details":{"cached_tokens":0},"cost_details":{"upstream_inference_cost":null}}}"#,
    "data: [DONE]",
];

#[test]
fn openrouter_stream_usage_and_cost_in_the_last_chunk() {
    let text = sse(OPENROUTER_STREAM);
    let meter = StreamMeter::for_provider(
        Provider::OpenRouter,
        StreamFormat::OpenAiChat,
        "openai/gpt-4o",
        9,
    );
    let (m, out) = run(meter, &[text.as_bytes()]);
    assert_eq!(out, text.as_bytes(), "passed through unchanged");
    assert!(m.reported && m.complete && m.error.is_none());
    assert_eq!((m.usage.input_tokens, m.usage.output_tokens), (12, 2));
    assert_eq!(m.model.as_deref(), Some("openai/gpt-4o"));
    let cost = m.reported_cost.unwrap();
    assert_eq!(
        (cost.usd, cost.label),
        (Some(usd("0.00005")), Label::VerifiedByProvider)
    );
    // A meter not told its provider meters the same usage and keeps no cost.
    let (plain, _) = run(
        StreamMeter::new(StreamFormat::OpenAiChat, "openai/gpt-4o", 9),
        &[text.as_bytes()],
    );
    assert_eq!(plain.usage, m.usage);
    assert_eq!(plain.reported_cost, None);
}

#[test]
fn openrouter_mid_stream_error_under_200() {
    let text = sse(&[
        r#"data: {"id":"gen-2","object":"chat.completion.chunk","model":"openai/gpt-4o","choices":[{"index":0,"delta":{"content":"Partial answer"},"finish_reason":null}]}"#,
        r#"data: {"id":"gen-2","object":"chat.completion.chunk","model":"openai/gpt-4o","error":{"code":"server_error","message":"Provider disconnected unexpectedly"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}"#,
    ]);
    let meter = StreamMeter::for_provider(
        Provider::OpenRouter,
        StreamFormat::OpenAiChat,
        "openai/gpt-4o",
        9,
    );
    let (m, _) = run(meter, &[text.as_bytes()]);
    assert_eq!(m.error.as_deref(), Some("server_error"));
    assert!(!m.reported && m.reported_cost.is_none());
    // Settled from what was seen: the request's input, the text's tokens, never 0.
    assert_eq!(m.usage.input_tokens, 9);
    assert!(m.usage.output_tokens >= 2);
}

#[test]
fn deepseek_keep_alives_and_hit_miss_usage() {
    let text = format!(
        ": keep-alive\n\n\n{}: keep-alive\n\n{}",
        sse(&[
            r#"data: {"id":"d","object":"chat.completion.chunk","model":"deepseek-chat","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null}"#
        ]),
        sse(&[
            r#"data: {"id":"d","object":"chat.completion.chunk","model":"deepseek-chat","choices":[],"usage":{"prompt_tokens":1000,"completion_tokens":200,"total_tokens":1200,"prompt_cache_hit_tokens":600,"prompt_cache_miss_tokens":400}}"#,
            "data: [DONE]",
        ])
    );
    let meter = StreamMeter::for_provider(
        Provider::DeepSeek,
        StreamFormat::OpenAiChat,
        "deepseek-chat",
        5,
    );
    let (m, _) = run(meter, &[text.as_bytes()]);
    assert!(m.reported && m.complete);
    assert_eq!(
        m.skipped_events, 0,
        "comments and blank lines are not events"
    );
    assert_eq!(
        (
            m.usage.input_tokens,
            m.usage.cached_input_tokens,
            m.usage.output_tokens
        ),
        (400, 600, 200)
    );
    let cost = PriceBook::embedded()
        .cost_for(Provider::DeepSeek, "deepseek-chat", &m.usage)
        .unwrap();
    assert_eq!(cost.usd, Some(usd("0.0002128")));
}

#[test]
fn mistral_usage_in_the_last_chunk_unasked() {
    let text = sse(&[
        r#"data: {"id":"m","object":"chat.completion.chunk","model":"mistral-small-latest","choices":[{"index":0,"delta":{"role":"assistant","content":"Bonjour"},"finish_reason":null}]}"#,
        r#"data: {"id":"m","object":"chat.completion.chunk","model":"mistral-small-latest","choices":[{"index":0,"delta":{"content":""},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"total_tokens":30,"completion_tokens":20}}"#,
        "data: [DONE]",
    ]);
    let meter = StreamMeter::for_provider(
        Provider::Mistral,
        StreamFormat::OpenAiChat,
        "mistral-small-latest",
        5,
    );
    let (m, _) = run(meter, &[text.as_bytes()]);
    assert!(m.reported && m.complete);
    assert_eq!((m.usage.input_tokens, m.usage.output_tokens), (10, 20));
    assert_eq!(m.reported_cost, None, "Mistral reports no cost");
}

#[test]
fn xai_stream_ticks_in_the_final_usage() {
    let text = sse(&[
        r#"data: {"id":"x","object":"chat.completion.chunk","model":"grok-3-mini","choices":[{"index":0,"delta":{"content":"Hi","role":"assistant"}}]}"#,
        r#"data: {"id":"x","object":"chat.completion.chunk","model":"grok-3-mini","choices":[],"usage":{"prompt_tokens":32,"completion_tokens":9,"total_tokens":135,"prompt_tokens_details":{"cached_tokens":6},"completion_tokens_details":{"reasoning_tokens":94},"cost_in_usd_ticks":597500}}"#,
        "data: [DONE]",
    ]);
    let meter =
        StreamMeter::for_provider(Provider::XAi, StreamFormat::OpenAiChat, "grok-3-mini", 5)
            .hide_injected_usage(true);
    let (m, out) = run(meter, &[text.as_bytes()]);
    assert!(m.reported);
    assert_eq!((m.usage.output_tokens, m.usage.reasoning_tokens), (9, 94));
    assert_eq!(m.reported_cost.unwrap().usd, Some(usd("0.00005975")));
    // The usage chunk byok asked for is hidden from the caller; its cost is still kept.
    assert!(
        !String::from_utf8(out)
            .unwrap()
            .contains("cost_in_usd_ticks")
    );
}

#[test]
fn perplexity_responses_stream_reports_its_total() {
    let text = sse(&[
        r#"event: response.created
data: {"type":"response.created","response":{"model":"sonar"}}"#,
        r#"event: response.output_text.delta
data: {"type":"response.output_text.delta","delta":"The answer"}"#,
        r#"event: response.completed
data: {"type":"response.completed","response":{"model":"sonar","usage":{"input_tokens":12,"output_tokens":300,"total_tokens":312,"cost":{"request_cost":0.005,"total_cost":0.005312}}}}"#,
    ]);
    let meter = StreamMeter::for_provider(
        Provider::Perplexity,
        StreamFormat::OpenAiResponses,
        "sonar",
        5,
    );
    let (m, _) = run(meter, &[text.as_bytes()]);
    assert!(m.reported && m.complete);
    assert_eq!((m.usage.input_tokens, m.usage.output_tokens), (12, 300));
    assert_eq!(m.reported_cost.unwrap().usd, Some(usd("0.005312")));
}

const COHERE_STREAM: &[&str] = &[
    "event: message-start\ndata: {\"id\":\"c1\",\"type\":\"message-start\",\"delta\":{\"message\":{\"role\":\"assistant\",\"content\":[],\"tool_plan\":\"\",\"tool_calls\":[],\"citations\":[]}}}",
    "event: content-start\ndata: {\"type\":\"content-start\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"type\":\"text\",\"text\":\"\"}}}}",
    "event: content-delta\ndata: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"Hello\"}}}}",
    "event: content-delta\ndata: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\" there\"}}}}",
    "event: content-end\ndata: {\"type\":\"content-end\",\"index\":0}",
    "event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\",\"usage\":{\"billed_units\":{\"input_tokens\":5,\"output_tokens\":418},\"tokens\":{\"input_tokens\":71,\"output_tokens\":418}}}}",
];

#[test]
fn cohere_stream_bills_message_end_billed_units() {
    let text = sse(COHERE_STREAM);
    let meter = StreamMeter::for_provider(
        Provider::Cohere,
        StreamFormat::CohereV2,
        "command-a-03-2025",
        9,
    );
    let (m, out) = run(meter, &[text.as_bytes()]);
    assert_eq!(out, text.as_bytes());
    assert!(m.reported && m.complete && m.error.is_none());
    assert_eq!((m.usage.input_tokens, m.usage.output_tokens), (5, 418));
    assert_eq!(m.output_text_bytes, "Hello there".len() as u64);
    assert_eq!(m.skipped_events, 0);
    let cost = PriceBook::embedded()
        .cost_for(Provider::Cohere, "command-a-03-2025", &m.usage)
        .unwrap();
    assert_eq!(cost.usd, Some(usd("0.0041925")));
}

#[test]
fn cohere_stream_cut_or_errored_is_estimated() {
    let cut = sse(&COHERE_STREAM[..4]);
    let meter = StreamMeter::for_provider(
        Provider::Cohere,
        StreamFormat::CohereV2,
        "command-a-03-2025",
        9,
    );
    let (m, _) = run(meter, &[cut.as_bytes()]);
    assert!(!m.reported && !m.complete);
    assert_eq!(m.usage.input_tokens, 9);
    // Counted conservatively (Cohere's tokenizer is not public), never 0.
    assert!(m.usage.output_tokens > 2, "{}", m.usage.output_tokens);
    let errored = sse(&[
        COHERE_STREAM[2],
        "event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"ERROR\",\"error\":\"internal failure: secret-ish text\"}}",
    ]);
    let meter = StreamMeter::for_provider(
        Provider::Cohere,
        StreamFormat::CohereV2,
        "command-a-03-2025",
        9,
    );
    let (m, _) = run(meter, &[errored.as_bytes()]);
    assert_eq!(m.error.as_deref(), Some("ERROR"));
    assert!(m.complete && !m.reported);
}

proptest! {
    #[test]
    fn any_split_meters_the_same(cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12)) {
        for (provider, format, events, model) in [
            (Provider::OpenRouter, StreamFormat::OpenAiChat, OPENROUTER_STREAM, "openai/gpt-4o"),
            (Provider::Cohere, StreamFormat::CohereV2, COHERE_STREAM, "command-a-03-2025"),
        ] {
            let text = sse(events);
            let bytes = text.as_bytes();
            let whole = run(StreamMeter::for_provider(provider, format, model, 9), &[bytes]);
            let mut at: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
            at.sort_unstable();
            let mut pieces = Vec::new();
            let mut from = 0;
            for a in at {
                pieces.push(&bytes[from..a]);
                from = a;
            }
            pieces.push(&bytes[from..]);
            let split = run(StreamMeter::for_provider(provider, format, model, 9), &pieces);
            prop_assert_eq!(&whole, &split);
        }
    }

    #[test]
    fn cohere_meter_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = run(StreamMeter::for_provider(Provider::Cohere, StreamFormat::CohereV2, "command-r", 1), &[&bytes]);
    }

    #[test]
    fn provider_usage_never_panics(s in "\\PC{0,120}") {
        if let Ok(v) = serde_json::from_str::<Value>(&s) {
            for p in Provider::ALL {
                let _ = Usage::from_provider_value(p, &v);
            }
        }
    }
}

#[test]
fn groq_usage_in_x_groq_on_the_last_chunk() {
    let text = sse(&[
        r#"data: {"id":"g","object":"chat.completion.chunk","model":"llama-3.1-8b-instant","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}],"x_groq":{"id":"req_1"}}"#,
        r#"data: {"id":"g","object":"chat.completion.chunk","model":"llama-3.1-8b-instant","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"x_groq":{"id":"req_1","usage":{"queue_time":0.01,"prompt_tokens":40,"prompt_time":0.002,"completion_tokens":12,"completion_time":0.01,"total_tokens":52,"total_time":0.012}}}"#,
        "data: [DONE]",
    ]);
    let meter = StreamMeter::for_provider(
        Provider::Groq,
        StreamFormat::OpenAiChat,
        "llama-3.1-8b-instant",
        5,
    );
    let (m, out) = run(meter, &[text.as_bytes()]);
    assert_eq!(out, text.as_bytes());
    assert!(m.reported && m.complete);
    assert_eq!((m.usage.input_tokens, m.usage.output_tokens), (40, 12));
    // 40×5e-8 + 12×8e-8 = 0.000002 + 0.00000096
    let cost = PriceBook::embedded()
        .cost_for(Provider::Groq, "llama-3.1-8b-instant", &m.usage)
        .unwrap();
    assert_eq!(cost.usd, Some(usd("0.00000296")));
}
