//! Answers that depend on the request (token counts, caps, usage extras) and
//! the stream scenarios on the wire (a mid-stream error, a cut, a stall,
//! keep-alives), read with a plain HTTP client chunk by chunk.

use std::time::{Duration, Instant};

use byok_keys::{KeyKind, Provider, fake};
use byok_testkit::{
    CannedAnswer, MockAnthropic, MockGemini, MockOpenAi, MockProvider, REPLY_WORDS, Scenario,
    UsageExtras,
};
use serde_json::{Value, json};

/// A prompt whose o200k count is known: 9 tokens ("The quick brown fox jumps
/// over the lazy dog" is 9 o200k tokens).
const FOX: &str = "The quick brown fox jumps over the lazy dog";
const FOX_TOKENS: u64 = 9;

/// The request each provider's SDK would send for `prompt`, capped at `cap`
/// output tokens, streamed or not: (path, headers, body).
fn request(
    provider: Provider,
    api: &str,
    prompt: &str,
    cap: Option<u64>,
    stream: bool,
) -> (String, Vec<(String, String)>, Value) {
    let key = match provider {
        Provider::OpenAi => fake::key(provider, KeyKind::Project, 1),
        Provider::Anthropic => fake::key(provider, KeyKind::Api, 1),
        _ => fake::key(provider, KeyKind::Standard, 1),
    };
    match (provider, api) {
        (Provider::OpenAi, "responses") => {
            let mut body = json!({"model": "gpt-4o-mini", "input": prompt, "stream": stream});
            if let Some(cap) = cap {
                body["max_output_tokens"] = json!(cap);
            }
            (
                "/v1/responses".into(),
                vec![("authorization".into(), format!("Bearer {key}"))],
                body,
            )
        }
        (Provider::OpenAi, _) => {
            let mut body = json!({"model": "gpt-4o-mini", "stream": stream,
                "messages": [{"role": "system", "content": "Be brief."},
                             {"role": "user", "content": [{"type": "text", "text": prompt}]}]});
            if stream {
                body["stream_options"] = json!({"include_usage": true});
            }
            if let Some(cap) = cap {
                body["max_completion_tokens"] = json!(cap);
            }
            (
                "/v1/chat/completions".into(),
                vec![("authorization".into(), format!("Bearer {key}"))],
                body,
            )
        }
        (Provider::Anthropic, _) => {
            let body = json!({"model": "claude-haiku-4-5", "max_tokens": cap.unwrap_or(1024),
                "system": "Be brief.", "stream": stream,
                "messages": [{"role": "user", "content": prompt}]});
            (
                "/v1/messages".into(),
                vec![
                    ("x-api-key".into(), key),
                    ("anthropic-version".into(), "2023-06-01".into()),
                ],
                body,
            )
        }
        _ => {
            let mut body = json!({"systemInstruction": {"parts": [{"text": "Be brief."}]},
                "contents": [{"role": "user", "parts": [{"text": prompt}]}]});
            if let Some(cap) = cap {
                body["generationConfig"] = json!({"maxOutputTokens": cap});
            }
            let verb = if stream {
                "streamGenerateContent?alt=sse"
            } else {
                "generateContent"
            };
            (
                format!("/v1/models/gemini-2.5-flash:{verb}"),
                vec![("x-goog-api-key".into(), key)],
                body,
            )
        }
    }
}

async fn start(provider: Provider, scenario: Scenario, usage: UsageExtras) -> MockProvider {
    let builder = match provider {
        Provider::OpenAi => MockOpenAi::builder(),
        Provider::Anthropic => MockAnthropic::builder(),
        _ => MockGemini::builder(),
    };
    builder.scenario(scenario).usage(usage).start().await
}

/// What came back: status, the body's chunks as the client read them, and
/// whether reading ended in an error (a cut).
struct Read {
    status: u16,
    chunks: Vec<(Duration, Vec<u8>)>,
    broken: bool,
}

impl Read {
    fn text(&self) -> String {
        let all: Vec<u8> = self.chunks.iter().flat_map(|(_, c)| c.clone()).collect();
        String::from_utf8(all).unwrap().replace("\r\n", "\n")
    }

    /// The `data:` payloads of an SSE body, with their event names.
    fn events(&self) -> Vec<(Option<String>, String)> {
        self.text()
            .split("\n\n")
            .filter(|block| block.lines().any(|l| l.starts_with("data:")))
            .map(|block| {
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(|v| v.trim().to_owned())
                };
                (field("event:"), field("data:").unwrap_or_default())
            })
            .collect()
    }

    fn json_events(&self) -> Vec<Value> {
        self.events()
            .iter()
            .filter(|(_, d)| d != "[DONE]")
            .map(|(_, d)| serde_json::from_str(d).unwrap())
            .collect()
    }
}

async fn send(
    mock: &MockProvider,
    (path, headers, body): (String, Vec<(String, String)>, Value),
) -> Read {
    let client = reqwest::Client::new();
    let mut req = client.post(format!("{}{path}", mock.uri())).json(&body);
    for (k, v) in &headers {
        req = req.header(k, v);
    }
    let started = Instant::now();
    let mut response = req.send().await.expect("the mock answers");
    let status = response.status().as_u16();
    let mut chunks = Vec::new();
    let mut broken = false;
    loop {
        match response.chunk().await {
            Ok(Some(c)) => chunks.push((started.elapsed(), c.to_vec())),
            Ok(None) => break,
            Err(_) => {
                broken = true;
                break;
            }
        }
    }
    Read {
        status,
        chunks,
        broken,
    }
}

/// (input, output, cached, reasoning, text, finish) of a non-streamed answer.
fn usage_of(provider: Provider, api: &str, v: &Value) -> (u64, u64, u64, u64, String, String) {
    let n = |p: &str| v.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    let s = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    match (provider, api) {
        (Provider::OpenAi, "responses") => (
            n("/usage/input_tokens"),
            n("/usage/output_tokens"),
            n("/usage/input_tokens_details/cached_tokens"),
            n("/usage/output_tokens_details/reasoning_tokens"),
            s("/output/0/content/0/text"),
            s("/status"),
        ),
        (Provider::OpenAi, _) => (
            n("/usage/prompt_tokens"),
            n("/usage/completion_tokens"),
            n("/usage/prompt_tokens_details/cached_tokens"),
            n("/usage/completion_tokens_details/reasoning_tokens"),
            s("/choices/0/message/content"),
            s("/choices/0/finish_reason"),
        ),
        (Provider::Anthropic, _) => (
            n("/usage/input_tokens")
                + n("/usage/cache_read_input_tokens")
                + n("/usage/cache_creation_input_tokens"),
            n("/usage/output_tokens"),
            n("/usage/cache_read_input_tokens"),
            0,
            s("/content/0/text"),
            s("/stop_reason"),
        ),
        _ => (
            n("/usageMetadata/promptTokenCount"),
            n("/usageMetadata/candidatesTokenCount") + n("/usageMetadata/thoughtsTokenCount"),
            n("/usageMetadata/cachedContentTokenCount"),
            n("/usageMetadata/thoughtsTokenCount"),
            s("/candidates/0/content/parts/0/text"),
            s("/candidates/0/finishReason"),
        ),
    }
}

/// The same numbers read off a stream the way a metering client must: the
/// last usage seen (cumulative, never summed), the text of the deltas.
fn streamed_usage(
    provider: Provider,
    api: &str,
    events: &[Value],
) -> (u64, u64, u64, u64, String, String) {
    match (provider, api) {
        (Provider::OpenAi, "responses") => {
            let done = events.last().unwrap();
            let (i, o, c, r, _, status) = usage_of(provider, api, &done["response"]);
            let text = events
                .iter()
                .filter(|e| e["type"] == "response.output_text.delta")
                .map(|e| e["delta"].as_str().unwrap())
                .collect();
            (i, o, c, r, text, status)
        }
        (Provider::OpenAi, _) => {
            let usage = events.last().unwrap();
            let (i, o, c, r, _, _) = usage_of(provider, api, usage);
            let text = events
                .iter()
                .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
                .collect();
            let finish = events
                .iter()
                .find_map(|e| e["choices"][0]["finish_reason"].as_str())
                .unwrap()
                .to_owned();
            (i, o, c, r, text, finish)
        }
        (Provider::Anthropic, _) => {
            let start = &events[0]["message"];
            let delta = events
                .iter()
                .rfind(|e| e["type"] == "message_delta")
                .unwrap();
            let mut merged = start.clone();
            merged["usage"]["output_tokens"] = delta["usage"]["output_tokens"].clone();
            let (i, o, c, r, _, _) = usage_of(provider, api, &merged);
            let text = events
                .iter()
                .filter(|e| e["type"] == "content_block_delta")
                .map(|e| e["delta"]["text"].as_str().unwrap())
                .collect();
            (
                i,
                o,
                c,
                r,
                text,
                delta["delta"]["stop_reason"].as_str().unwrap().to_owned(),
            )
        }
        _ => {
            let last = events.last().unwrap();
            let (i, o, c, r, _, finish) = usage_of(provider, api, last);
            let text = events
                .iter()
                .filter_map(|e| {
                    e.pointer("/candidates/0/content/parts/0/text")
                        .and_then(Value::as_str)
                })
                .collect();
            (i, o, c, r, text, finish)
        }
    }
}

const APIS: [(Provider, &str); 4] = [
    (Provider::OpenAi, "chat"),
    (Provider::OpenAi, "responses"),
    (Provider::Anthropic, "messages"),
    (Provider::Google, "generate"),
];

#[tokio::test]
async fn input_tokens_are_the_o200k_count_of_the_prompt_and_caps_cut_the_reply() {
    for (provider, api) in APIS {
        let mock = start(provider, Scenario::Valid, UsageExtras::new()).await;
        // Prompt text: "Be brief." (where the API has a system prompt) + "\n" + the fox.
        let system = if api == "responses" {
            ""
        } else {
            "Be brief.\n"
        };
        let expected_input = o200k(&format!("{system}{FOX}"));
        assert!(
            expected_input > FOX_TOKENS || system.is_empty(),
            "{expected_input}"
        );
        let read = send(&mock, request(provider, api, FOX, None, false)).await;
        assert_eq!(read.status, 200, "{provider} {api}: {}", read.text());
        let v: Value = serde_json::from_str(&read.text()).unwrap();
        let (input, output, cached, reasoning, text, finish) = usage_of(provider, api, &v);
        assert_eq!(input, expected_input, "{provider} {api}");
        // Anthropic always has a cap (max_tokens is required; 1024 here): no cut.
        assert_eq!((output, cached, reasoning), (12, 0, 0), "{provider} {api}");
        assert_eq!(text, REPLY_WORDS.join(" "), "{provider} {api}");
        let uncapped = ["stop", "completed", "end_turn", "STOP"];
        assert!(
            uncapped.contains(&finish.as_str()),
            "{provider} {api}: {finish}"
        );

        // A cap of 5: five words, the provider's cap finish reason.
        let read = send(&mock, request(provider, api, FOX, Some(5), false)).await;
        let v: Value = serde_json::from_str(&read.text()).unwrap();
        let (_, output, _, _, text, finish) = usage_of(provider, api, &v);
        assert_eq!(output, 5, "{provider} {api}");
        assert_eq!(text, REPLY_WORDS[..5].join(" "));
        let capped = ["length", "incomplete", "max_tokens", "MAX_TOKENS"];
        assert!(
            capped.contains(&finish.as_str()),
            "{provider} {api}: {finish}"
        );
        if api == "responses" {
            assert_eq!(v["incomplete_details"]["reason"], "max_output_tokens");
        }
    }
}

/// The count the mocks document: o200k, anchored on a sentence whose count is known.
fn o200k(text: &str) -> u64 {
    let bpe = bpe_openai::o200k_base();
    assert_eq!(bpe.count(FOX) as u64, FOX_TOKENS);
    bpe.count(text) as u64
}

#[tokio::test]
async fn streamed_usage_equals_unstreamed_usage_with_extras() {
    let extras = UsageExtras::new()
        .cached_tokens(4)
        .reasoning_tokens(3)
        .cache_write_tokens(2);
    for (provider, api) in APIS {
        let mock = start(provider, Scenario::Valid, extras).await;
        for cap in [None, Some(7), Some(2)] {
            let plain = send(&mock, request(provider, api, FOX, cap, false)).await;
            let v: Value = serde_json::from_str(&plain.text()).unwrap();
            let plain = usage_of(provider, api, &v);
            let streamed = send(&mock, request(provider, api, FOX, cap, true)).await;
            assert_eq!(streamed.status, 200);
            assert!(!streamed.broken);
            let streamed = streamed_usage(provider, api, &streamed.json_events());
            let what = format!("{provider} {api} cap {cap:?}");
            // Same numbers, same text; the finish words differ between the two
            // forms only for the Responses API's (`incomplete` status) and chat.
            assert_eq!(plain.0, streamed.0, "{what}: input");
            assert_eq!(plain.1, streamed.1, "{what}: output");
            assert_eq!(plain.2, streamed.2, "{what}: cached");
            assert_eq!(plain.3, streamed.3, "{what}: reasoning");
            assert_eq!(plain.4, streamed.4, "{what}: text");
            assert_eq!(plain.5, streamed.5, "{what}: finish");
            // Reasoning is spent first out of the cap (Anthropic has no reasoning field:
            // its thinking is in output_tokens).
            let (output, visible) = match cap {
                None => (15, 12),
                Some(7) => (7, 4),
                _ => (2, 0),
            };
            assert_eq!(plain.1, output, "{what}");
            assert_eq!(plain.4, REPLY_WORDS[..visible].join(" "), "{what}");
            assert_eq!(plain.2, 4, "{what}: cached tokens as set");
            if provider != Provider::Anthropic {
                assert_eq!(plain.3, output - visible as u64, "{what}");
            }
        }
    }
}

#[tokio::test]
async fn anthropic_input_tokens_are_the_uncached_rest() {
    let extras = UsageExtras::new().cached_tokens(4).cache_write_tokens(2);
    let mock = start(Provider::Anthropic, Scenario::Valid, extras).await;
    let read = send(
        &mock,
        request(Provider::Anthropic, "messages", FOX, None, false),
    )
    .await;
    let v: Value = serde_json::from_str(&read.text()).unwrap();
    let input = o200k(&format!("Be brief.\n{FOX}"));
    assert_eq!(v["usage"]["input_tokens"], input - 4 - 2);
    assert_eq!(v["usage"]["cache_read_input_tokens"], 4);
    assert_eq!(v["usage"]["cache_creation_input_tokens"], 2);
    assert_eq!(v["usage"]["cache_creation"]["ephemeral_5m_input_tokens"], 2);
    // More cache than input is clamped to the input.
    mock.set_usage(UsageExtras::new().cached_tokens(1000));
    let read = send(
        &mock,
        request(Provider::Anthropic, "messages", FOX, None, false),
    )
    .await;
    let v: Value = serde_json::from_str(&read.text()).unwrap();
    assert_eq!(
        (
            v["usage"]["input_tokens"].as_u64(),
            v["usage"]["cache_read_input_tokens"].as_u64()
        ),
        (Some(0), Some(input))
    );
    assert_eq!(mock.usage(), UsageExtras::new().cached_tokens(1000));
}

#[tokio::test]
async fn a_stream_error_comes_after_the_events_under_the_200() {
    for (provider, api) in APIS {
        let mock = start(
            provider,
            Scenario::StreamError { after: 2 },
            UsageExtras::new(),
        )
        .await;
        let read = send(&mock, request(provider, api, FOX, None, true)).await;
        assert_eq!(read.status, 200, "{provider} {api}");
        assert!(!read.broken, "an error event ends the stream cleanly");
        let events = read.events();
        let what = format!("{provider} {api}: {events:?}");
        match (provider, api) {
            (Provider::OpenAi, "responses") => {
                assert_eq!(events.len(), 4, "{what}");
                assert_eq!(events[2].0.as_deref(), Some("error"), "{what}");
                let error: Value = serde_json::from_str(&events[2].1).unwrap();
                assert_eq!(
                    (error["code"].as_str(), error["sequence_number"].as_u64()),
                    (Some("server_error"), Some(2))
                );
                assert_eq!(events[3].0.as_deref(), Some("response.failed"), "{what}");
                let failed: Value = serde_json::from_str(&events[3].1).unwrap();
                assert_eq!(failed["response"]["status"], "failed");
                assert_eq!(failed["sequence_number"], 3);
            }
            (Provider::OpenAi, _) => {
                assert_eq!(events.len(), 3, "{what}");
                let error: Value = serde_json::from_str(&events[2].1).unwrap();
                assert_eq!(error["error"]["type"], "server_error", "{what}");
                assert!(events.iter().all(|(_, d)| d != "[DONE]"), "{what}");
            }
            (Provider::Anthropic, _) => {
                assert_eq!(events.len(), 3, "{what}");
                assert_eq!(events[0].0.as_deref(), Some("message_start"));
                assert_eq!(events[2].0.as_deref(), Some("error"));
                let error: Value = serde_json::from_str(&events[2].1).unwrap();
                assert_eq!(error["error"]["type"], "overloaded_error");
            }
            _ => {
                assert_eq!(events.len(), 3, "{what}");
                let error: Value = serde_json::from_str(&events[2].1).unwrap();
                assert_eq!(
                    (
                        error["error"]["code"].as_u64(),
                        error["error"]["status"].as_str()
                    ),
                    (Some(503), Some("UNAVAILABLE"))
                );
            }
        }
        // Not streamed, the same request succeeds.
        let plain = send(&mock, request(provider, api, FOX, None, false)).await;
        assert_eq!(plain.status, 200);
        assert!(serde_json::from_str::<Value>(&plain.text()).is_ok());
    }
    // Gemini's JSON-array form: the error is the array's last element.
    let mock = start(
        Provider::Google,
        Scenario::StreamError { after: 1 },
        UsageExtras::new(),
    )
    .await;
    let (path, headers, body) = request(Provider::Google, "generate", FOX, None, true);
    let path = path.replace("?alt=sse", "");
    let read = send(&mock, (path, headers, body)).await;
    let array: Value = serde_json::from_str(&read.text()).unwrap();
    let array = array.as_array().unwrap();
    assert_eq!(array.len(), 2);
    assert_eq!(array[1]["error"]["status"], "UNAVAILABLE");
}

#[tokio::test]
async fn a_cut_stream_breaks_the_connection_after_the_events() {
    for (provider, api) in APIS {
        let mock = start(
            provider,
            Scenario::StreamCut { after: 3 },
            UsageExtras::new(),
        )
        .await;
        let read = send(&mock, request(provider, api, FOX, None, true)).await;
        assert_eq!(read.status, 200);
        assert!(read.broken, "{provider} {api}: the body ends in an error");
        assert_eq!(read.events().len(), 3, "{provider} {api}: {}", read.text());
        // The next request is served as usual: the server survives its own cut.
        let plain = send(&mock, request(provider, api, FOX, None, false)).await;
        assert!(!plain.broken && plain.status == 200);
    }
}

#[tokio::test]
async fn a_stalled_stream_pauses_between_events_then_finishes() {
    let stall = Duration::from_millis(400);
    for (provider, api) in APIS {
        let mock = start(
            provider,
            Scenario::StreamStall { after: 1, stall },
            UsageExtras::new(),
        )
        .await;
        let read = send(&mock, request(provider, api, FOX, None, true)).await;
        assert!(!read.broken);
        let gaps: Vec<Duration> = read.chunks.windows(2).map(|w| w[1].0 - w[0].0).collect();
        let longest = gaps.iter().max().copied().unwrap_or_default();
        assert!(
            longest >= stall - Duration::from_millis(20),
            "{provider} {api}: gaps {gaps:?}"
        );
        // The whole answer still arrives, usage and all.
        let (_, output, ..) = streamed_usage(provider, api, &read.json_events());
        assert_eq!(output, 12, "{provider} {api}");
    }
}

#[tokio::test]
async fn keep_alives_are_comments_and_blank_lines_the_answer_unchanged() {
    for (provider, api) in APIS.into_iter().filter(|(p, _)| *p != Provider::Google) {
        let mock = start(provider, Scenario::KeepAlive, UsageExtras::new()).await;
        let read = send(&mock, request(provider, api, FOX, None, true)).await;
        let text = read.text();
        assert!(
            text.starts_with(": keep-alive\n\n\n: keep-alive\n\n"),
            "{text}"
        );
        assert!(text.matches(": keep-alive").count() >= 3);
        let (_, output, ..) = streamed_usage(provider, api, &read.json_events());
        assert_eq!(output, 12, "{provider} {api}");
        // A JSON answer comes after blank lines, and parses.
        let plain = send(&mock, request(provider, api, FOX, None, false)).await;
        let text = plain.text();
        assert!(text.starts_with("\n\n\n{"), "{text}");
        assert!(plain.chunks.len() > 1, "sent in pieces");
        assert!(serde_json::from_str::<Value>(&text).is_ok());
    }
    assert!(!Scenario::KeepAlive.supported_by(Provider::Google));
}

#[test]
fn a_mock_serves_code_without_a_runtime_and_on_a_fixed_port() {
    // Find a free port, then ask for it by number.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mock = MockOpenAi::builder()
        .start_on(addr)
        .expect("the port is free");
    assert_eq!(mock.uri(), format!("http://127.0.0.1:{port}"));
    assert_eq!(mock.address(), addr);
    // The same port again is taken.
    assert!(MockOpenAi::builder().start_on(addr).is_err());
    // A plain blocking client on a thread with no runtime is answered.
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    use std::io::{Read as _, Write as _};
    write!(
        stream,
        "GET /v1/models HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert_eq!(mock.requests_now().len(), 1);
    mock.clear_requests();
    assert!(mock.requests_now().is_empty());
    drop(mock);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "a dropped mock closes its port"
    );
}

#[tokio::test]
async fn a_canned_answer_replaces_the_scenario_until_cleared() {
    let mock = MockGemini::start().await;
    mock.answer_with(
        CannedAnswer::json(418, &json!({"error": {"code": 418, "status": "TEAPOT"}}))
            .header("x-extra", "1"),
    );
    let read = send(
        &mock,
        request(Provider::Google, "generate", FOX, None, false),
    )
    .await;
    assert_eq!(read.status, 418);
    assert!(read.text().contains("TEAPOT"));
    mock.clear_answer();
    let read = send(
        &mock,
        request(Provider::Google, "generate", FOX, None, false),
    )
    .await;
    assert_eq!(read.status, 200);
    assert_eq!(
        mock.requests().await.len(),
        2,
        "canned answers are recorded too"
    );
}
