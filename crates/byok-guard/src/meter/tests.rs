//! Streams shaped like byok-testkit's mocks (12 one-word deltas), cut, errored,
//! split anywhere, hidden, and arbitrary bytes.

use byok_keys::Provider;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

const WORDS: [&str; 12] = [
    "This", " is", " the", " mock", " answer", " and", " it", " has", " exactly", " twelve",
    " short", " words",
];

/// An SSE frame as the mocks write it.
fn frame(name: Option<&str>, data: &str, crlf: bool) -> String {
    let end = if crlf { "\r\n" } else { "\n" };
    let mut s = String::new();
    if let Some(n) = name {
        s.push_str(&format!("event: {n}{end}"));
    }
    s.push_str(&format!("data: {data}{end}{end}"));
    s
}

fn openai_usage() -> Value {
    json!({"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42,
           "prompt_tokens_details": {"cached_tokens": 10, "audio_tokens": 0},
           "completion_tokens_details": {"reasoning_tokens": 2, "audio_tokens": 0,
               "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}})
}

/// OpenAI chat events (without `[DONE]`): role chunk, the deltas, the finish chunk,
/// and with `include_usage` the usage chunk, every other chunk `"usage": null`.
fn chat_events(words: &[&str], include_usage: bool) -> Vec<String> {
    let chunk = |choices: Value, usage: Value| {
        let mut c = json!({"id": "chatcmpl-BYOKTESTKIT0001", "object": "chat.completion.chunk",
            "created": 1_767_225_600, "model": "gpt-4o-mini-2024-07-18", "service_tier": "default",
            "system_fingerprint": "fp_byoktest", "choices": choices});
        if include_usage {
            c["usage"] = usage;
        }
        frame(None, &c.to_string(), false)
    };
    let choice = |delta: Value, finish: Value| json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]);
    let mut events = vec![chunk(
        choice(
            json!({"role": "assistant", "content": "", "refusal": null}),
            Value::Null,
        ),
        Value::Null,
    )];
    for w in words {
        events.push(chunk(
            choice(json!({"content": w}), Value::Null),
            Value::Null,
        ));
    }
    events.push(chunk(choice(json!({}), json!("stop")), Value::Null));
    if include_usage {
        events.push(chunk(json!([]), openai_usage()));
    }
    events
}

fn chat_stream(include_usage: bool) -> String {
    let mut s = chat_events(&WORDS, include_usage).concat();
    s.push_str(&frame(None, "[DONE]", false));
    s
}

fn responses_usage() -> Value {
    json!({"input_tokens": 30, "input_tokens_details": {"cached_tokens": 10},
           "output_tokens": 12, "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 42})
}

fn responses_events(words: &[&str]) -> Vec<String> {
    let text: String = words.concat();
    let response = |status: &str, usage: Value| {
        json!({"id": "resp_1", "object": "response", "status": status, "model": "gpt-4o-mini-2024-07-18",
               "output": [], "usage": usage})
    };
    let mut steps = vec![
        (
            "response.created",
            json!({"response": response("in_progress", Value::Null)}),
        ),
        (
            "response.in_progress",
            json!({"response": response("in_progress", Value::Null)}),
        ),
        (
            "response.output_item.added",
            json!({"output_index": 0, "item": {"id": "msg_1", "type": "message", "content": []}}),
        ),
        (
            "response.content_part.added",
            json!({"item_id": "msg_1", "part": {"type": "output_text", "text": ""}}),
        ),
    ];
    for w in words {
        steps.push((
            "response.output_text.delta",
            json!({"item_id": "msg_1", "delta": w, "logprobs": []}),
        ));
    }
    steps.extend([
        (
            "response.output_text.done",
            json!({"item_id": "msg_1", "text": text}),
        ),
        (
            "response.content_part.done",
            json!({"item_id": "msg_1", "part": {"type": "output_text", "text": text}}),
        ),
        (
            "response.output_item.done",
            json!({"output_index": 0, "item": {"id": "msg_1"}}),
        ),
        (
            "response.completed",
            json!({"response": response("completed", responses_usage())}),
        ),
    ]);
    steps
        .into_iter()
        .enumerate()
        .map(|(n, (name, mut data))| {
            data["type"] = json!(name);
            data["sequence_number"] = json!(n);
            frame(Some(name), &data.to_string(), false)
        })
        .collect()
}

fn anthropic_usage() -> Value {
    json!({"input_tokens": 20, "cache_creation_input_tokens": 4, "cache_read_input_tokens": 6,
           "cache_creation": {"ephemeral_5m_input_tokens": 4, "ephemeral_1h_input_tokens": 0},
           "output_tokens": 12, "service_tier": "standard"})
}

fn anthropic_events(words: &[&str], deltas: &[u64]) -> Vec<String> {
    let named = |name: &str, mut data: Value| {
        data["type"] = json!(name);
        frame(Some(name), &data.to_string(), false)
    };
    let mut start = anthropic_usage();
    start["output_tokens"] = json!(1);
    let mut events = vec![
        named(
            "message_start",
            json!({"message": {"id": "msg_01BYOKTESTKIT", "type": "message", "role": "assistant",
            "model": "claude-haiku-4-5", "content": [], "stop_reason": null, "stop_sequence": null, "usage": start}}),
        ),
        named(
            "content_block_start",
            json!({"index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
    ];
    for (n, w) in words.iter().enumerate() {
        events.push(named(
            "content_block_delta",
            json!({"index": 0, "delta": {"type": "text_delta", "text": w}}),
        ));
        if n == 0 {
            events.push(named("ping", json!({})));
        }
    }
    events.push(named("content_block_stop", json!({"index": 0})));
    for out in deltas {
        events.push(named(
            "message_delta",
            json!({"delta": {"stop_reason": "end_turn", "stop_sequence": null},
            "usage": {"output_tokens": out}}),
        ));
    }
    events.push(named("message_stop", json!({})));
    events
}

fn gemini_usage() -> Value {
    json!({"promptTokenCount": 30, "candidatesTokenCount": 12, "totalTokenCount": 42,
           "cachedContentTokenCount": 10, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 30}]})
}

fn gemini_chunks(words: &[&str]) -> Vec<Value> {
    let last = words.len().saturating_sub(1);
    words
        .iter()
        .enumerate()
        .map(|(n, w)| {
            let mut cand =
                json!({"content": {"parts": [{"text": w}], "role": "model"}, "index": 0});
            let usage = if n == last {
                cand["finishReason"] = json!("STOP");
                gemini_usage()
            } else {
                json!({"promptTokenCount": 30, "totalTokenCount": 30})
            };
            json!({"candidates": [cand], "usageMetadata": usage, "modelVersion": "gemini-2.5-flash",
                   "responseId": "byoktestkit0001"})
        })
        .collect()
}

fn gemini_sse(chunks: &[Value]) -> Vec<String> {
    chunks
        .iter()
        .map(|c| frame(None, &c.to_string(), true))
        .collect()
}

fn gemini_array(chunks: &[Value], close: bool) -> String {
    let mut s = String::new();
    for (n, c) in chunks.iter().enumerate() {
        s.push_str(if n == 0 { "[" } else { ",\r\n" });
        s.push_str(&c.to_string());
    }
    if close {
        s.push_str(if chunks.is_empty() { "[]" } else { "]" });
    }
    s
}

fn model_of(format: StreamFormat) -> &'static str {
    match format {
        StreamFormat::OpenAiChat | StreamFormat::OpenAiResponses => "gpt-4o",
        StreamFormat::Anthropic => "claude-haiku-4-5",
        _ => "gemini-2.5-flash",
    }
}

const ESTIMATE: u64 = 99;

fn meter_with(format: StreamFormat, hide: bool, pieces: &[&[u8]]) -> (Metered, Vec<u8>) {
    let mut m = StreamMeter::new(format, model_of(format), ESTIMATE).hide_injected_usage(hide);
    let mut out = Vec::new();
    for p in pieces {
        m.feed(p, &mut out);
    }
    let done = m.finish(&mut out);
    (done, out)
}

fn meter(format: StreamFormat, bytes: &str) -> Metered {
    let (m, out) = meter_with(format, false, &[bytes.as_bytes()]);
    assert_eq!(
        out,
        bytes.as_bytes(),
        "not hiding: the bytes pass unchanged"
    );
    m
}

fn tokens(format: StreamFormat, text: &str) -> u64 {
    count_tokens(model_of(format), text).0
}

#[test]
fn every_format_complete_gives_the_reported_usage() {
    let cases = [
        (
            StreamFormat::OpenAiChat,
            chat_stream(true),
            Provider::OpenAi,
            openai_usage(),
            "gpt-4o-mini-2024-07-18",
        ),
        (
            StreamFormat::OpenAiResponses,
            responses_events(&WORDS).concat(),
            Provider::OpenAi,
            responses_usage(),
            "gpt-4o-mini-2024-07-18",
        ),
        (
            StreamFormat::Anthropic,
            anthropic_events(&WORDS, &[12]).concat(),
            Provider::Anthropic,
            anthropic_usage(),
            "claude-haiku-4-5",
        ),
        (
            StreamFormat::GeminiSse,
            gemini_sse(&gemini_chunks(&WORDS)).concat(),
            Provider::Google,
            gemini_usage(),
            "gemini-2.5-flash",
        ),
        (
            StreamFormat::GeminiJsonArray,
            gemini_array(&gemini_chunks(&WORDS), true),
            Provider::Google,
            gemini_usage(),
            "gemini-2.5-flash",
        ),
    ];
    for (format, stream, provider, usage, model) in cases {
        let m = meter(format, &stream);
        let want = Usage::from_provider_value(provider, &usage).unwrap();
        assert_eq!(
            m,
            Metered {
                usage: want,
                reported: true,
                complete: true,
                error: None,
                model: Some(model.to_owned()),
                output_text_bytes: WORDS.concat().len() as u64,
                skipped_events: 0,
                reported_cost: None,
            },
            "{format:?}"
        );
    }
}

#[test]
fn chat_without_usage_ends_complete_but_estimated() {
    let m = meter(StreamFormat::OpenAiChat, &chat_stream(false));
    assert!(m.complete && !m.reported);
    assert_eq!(m.usage.input_tokens, ESTIMATE);
    assert_eq!(
        m.usage.output_tokens,
        tokens(StreamFormat::OpenAiChat, &WORDS.concat())
    );
    assert_eq!(m.usage.output_tokens, 12);
}

/// The first `n` events of each format, and what text they carry.
fn cut_streams(n: usize) -> Vec<(StreamFormat, String)> {
    let g = gemini_chunks(&WORDS);
    vec![
        (
            StreamFormat::OpenAiChat,
            chat_events(&WORDS, true)[..n].concat(),
        ),
        (
            StreamFormat::OpenAiResponses,
            responses_events(&WORDS)[..n + 3].concat(),
        ),
        (
            StreamFormat::Anthropic,
            anthropic_events(&WORDS, &[12])[..n + 2].concat(),
        ),
        (StreamFormat::GeminiSse, gemini_sse(&g[..n]).concat()),
        (StreamFormat::GeminiJsonArray, gemini_array(&g[..n], false)),
    ]
}

#[test]
fn cut_streams_are_estimated_from_what_was_seen() {
    // 5 events of each: 4 or 5 words seen.
    for (format, stream) in cut_streams(5) {
        let m = meter(format, &stream);
        assert!(!m.complete && !m.reported, "{format:?}");
        let words = match format {
            StreamFormat::OpenAiChat | StreamFormat::OpenAiResponses | StreamFormat::Anthropic => 4,
            _ => 5,
        };
        let seen = WORDS[..words].concat();
        assert_eq!(m.output_text_bytes, seen.len() as u64, "{format:?}");
        let input = match format {
            // message_start's input and cache fields.
            StreamFormat::Anthropic => {
                let mut u =
                    Usage::from_provider_value(Provider::Anthropic, &anthropic_usage()).unwrap();
                u.output_tokens = tokens(format, &seen);
                assert_eq!(m.usage, u);
                continue;
            }
            // Gemini's running usageMetadata.
            StreamFormat::GeminiSse | StreamFormat::GeminiJsonArray => 30,
            _ => ESTIMATE,
        };
        assert_eq!(m.usage.input_tokens, input, "{format:?}");
        assert_eq!(m.usage.output_tokens, tokens(format, &seen), "{format:?}");
        assert!(m.usage.output_tokens > 0);
        assert_eq!(m.error, None);
    }
}

#[test]
fn a_cut_inside_an_event_loses_only_that_event() {
    let stream = chat_stream(true);
    let cut = &stream[..stream.len() / 2];
    let m = meter(StreamFormat::OpenAiChat, cut);
    assert!(!m.complete && !m.reported);
    assert!(m.usage.output_tokens > 0);
    assert_eq!(m.skipped_events, 1, "the half event read at the end");
}

#[test]
fn mid_stream_errors_give_the_type_and_an_estimate() {
    let g = gemini_chunks(&WORDS);
    let openai_err = json!({"error": {"message": "The server had an error. Sorry!", "type": "server_error", "param": null, "code": null}});
    let failed = json!({"type": "response.failed", "sequence_number": 9, "response": {"status": "failed", "usage": null,
        "error": {"code": "server_error", "message": "The server had an error"}}});
    let resp_err = json!({"type": "error", "code": "server_error", "message": "The server had an error", "param": null, "sequence_number": 8});
    let anth_err =
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
    let gem_err = json!({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}});
    let openrouter = json!({"id": "gen-1", "object": "chat.completion.chunk", "model": "openai/gpt-4o",
        "error": {"code": 502, "message": "Upstream error"},
        "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]});
    let cases = [
        (
            StreamFormat::OpenAiChat,
            chat_events(&WORDS, true)[..5].concat() + &frame(None, &openai_err.to_string(), false),
            "server_error",
            false,
        ),
        (
            StreamFormat::OpenAiChat,
            chat_events(&WORDS, true)[..5].concat() + &frame(None, &openrouter.to_string(), false),
            "502",
            false,
        ),
        (
            StreamFormat::OpenAiResponses,
            responses_events(&WORDS)[..8].concat()
                + &frame(Some("error"), &resp_err.to_string(), false)
                + &frame(Some("response.failed"), &failed.to_string(), false),
            "server_error",
            true,
        ),
        (
            StreamFormat::Anthropic,
            anthropic_events(&WORDS, &[12])[..7].concat()
                + &frame(Some("error"), &anth_err.to_string(), false),
            "overloaded_error",
            false,
        ),
        (
            StreamFormat::GeminiSse,
            gemini_sse(&g[..5]).concat() + &frame(None, &gem_err.to_string(), true),
            "UNAVAILABLE",
            false,
        ),
        (
            StreamFormat::GeminiJsonArray,
            format!("{},\r\n{gem_err}]", gemini_array(&g[..5], false)),
            "UNAVAILABLE",
            true,
        ),
    ];
    for (format, stream, code, complete) in cases {
        let m = meter(format, &stream);
        assert_eq!(m.error.as_deref(), Some(code), "{format:?}");
        assert!(!m.reported, "{format:?}");
        assert_eq!(m.complete, complete, "{format:?}");
        assert!(m.usage.output_tokens > 0, "{format:?}");
        assert!(!stream.contains("Sorry") || !format!("{m:?}").contains("Sorry"));
        if format == StreamFormat::Anthropic {
            assert_eq!(m.usage.input_tokens, 20);
        }
    }
}

#[test]
fn anthropic_message_delta_usage_is_cumulative() {
    let m = meter(
        StreamFormat::Anthropic,
        &anthropic_events(&WORDS, &[5, 9]).concat(),
    );
    assert!(m.reported && m.complete);
    assert_eq!(
        m.usage.output_tokens, 9,
        "the latest cumulative value, not 5 + 9"
    );
    // Cut after the first message_delta: the larger of its 5 and the text's count.
    let events = anthropic_events(&WORDS[..1], &[5, 9]);
    let m = meter(
        StreamFormat::Anthropic,
        &events[..events.len() - 2].concat(),
    );
    assert!(!m.reported);
    let counted = tokens(StreamFormat::Anthropic, WORDS[0]);
    assert_eq!(m.usage.output_tokens, counted.max(5));
    let events = anthropic_events(&[], &[5, 9]);
    let m = meter(
        StreamFormat::Anthropic,
        &events[..events.len() - 2].concat(),
    );
    assert_eq!(
        m.usage.output_tokens, 5,
        "no text: the partial usage's output"
    );
}

#[test]
fn hiding_gives_the_stream_without_the_option() {
    let with = chat_stream(true);
    let without = chat_stream(false);
    let (m, out) = meter_with(StreamFormat::OpenAiChat, true, &[with.as_bytes()]);
    assert_eq!(String::from_utf8(out).unwrap(), without);
    assert!(m.reported && m.complete);
    assert_eq!(
        m.usage,
        Usage::from_provider_value(Provider::OpenAi, &openai_usage()).unwrap()
    );
    // Byte by byte: the same.
    let bytes: Vec<&[u8]> = with.as_bytes().chunks(1).collect();
    let (m2, out) = meter_with(StreamFormat::OpenAiChat, true, &bytes);
    assert_eq!(String::from_utf8(out).unwrap(), without);
    assert_eq!(m, m2);
    // Keep-alive comments and CRLF pass through; a cut stream's held half event is flushed.
    let crlf = with
        .replace('\n', "\r\n")
        .replace("data: [DONE]", ": keep-alive\r\n\r\ndata: [DONE]");
    let (_, out) = meter_with(StreamFormat::OpenAiChat, true, &[crlf.as_bytes()]);
    let want = without
        .replace('\n', "\r\n")
        .replace("data: [DONE]", ": keep-alive\r\n\r\ndata: [DONE]");
    assert_eq!(String::from_utf8(out).unwrap(), want);
    let half = &with[..with.len() - 30];
    let (_, out) = meter_with(StreamFormat::OpenAiChat, true, &[half.as_bytes()]);
    assert!(!out.is_empty());
    // `"usage":null` first in the object.
    let first = "data: {\"usage\":null,\"choices\":[]}\n\n";
    let (_, out) = meter_with(StreamFormat::OpenAiChat, true, &[first.as_bytes()]);
    assert_eq!(out, b"data: {\"choices\":[]}\n\n");
}

#[test]
fn hiding_is_ignored_where_nothing_is_injected() {
    let s = anthropic_events(&WORDS, &[12]).concat();
    let (_, out) = meter_with(StreamFormat::Anthropic, true, &[s.as_bytes()]);
    assert_eq!(out, s.as_bytes());
}

#[test]
fn sse_framing_variants() {
    // BOM, CR-only line ends, comments, blank keep-alives, multi-line data, no space after the colon.
    let body = "\u{feff}: hello\r\r\rdata:{\"choices\":[{\"index\":0,\r  data: ignored-field-name-is-data\r\r";
    let _ = meter(StreamFormat::OpenAiChat, body);
    let multi = "\u{feff}data: {\"choices\":[{\"index\":0,\ndata: \"delta\":{\"content\":\"Hi\"}}]}\n\n: c\n\n\n\ndata:[DONE]\r\r";
    let m = meter(StreamFormat::OpenAiChat, multi);
    assert!(m.complete);
    assert_eq!(m.skipped_events, 0);
    assert_eq!(m.output_text_bytes, 2);
    let cr = multi.replace('\n', "\r");
    assert_eq!(meter(StreamFormat::OpenAiChat, &cr), m);
}

#[test]
fn long_text_is_counted_in_pieces() {
    let word = " lorem ipsum dolor sit amet, 日本語 ü 😀";
    let n = TEXT_PIECE / word.len() + 10;
    let words: Vec<&str> = std::iter::repeat_n(word, n).collect();
    let s = chat_events(&words, false).concat();
    let mut meter = StreamMeter::new(StreamFormat::OpenAiChat, "gpt-4o", 1);
    let mut out = Vec::new();
    meter.feed(s.as_bytes(), &mut out);
    assert!(meter.text.len() < TEXT_PIECE, "text is counted as it comes");
    let m = meter.finish(&mut out);
    let whole = count_tokens("gpt-4o", &words.concat()).0;
    let o = m.usage.output_tokens;
    assert!(o.abs_diff(whole) <= 4, "{o} vs {whole}");
    assert_eq!(m.output_text_bytes, (word.len() * n) as u64);
}

#[test]
fn oversized_events_are_skipped_not_buffered() {
    let big = format!(
        "data: {{\"choices\":[{{\"delta\":{{\"content\":\"{}\"}}}}]}}\n\n",
        "a".repeat(MAX_EVENT + 10)
    );
    let mut meter =
        StreamMeter::new(StreamFormat::OpenAiChat, "gpt-4o", 1).hide_injected_usage(true);
    let mut out = Vec::new();
    for piece in big.as_bytes().chunks(1 << 20) {
        meter.feed(piece, &mut out);
        assert!(meter.sse.line.len() <= MAX_EVENT && meter.sse.held.len() <= MAX_EVENT);
    }
    meter.feed(b"data: [DONE]\n\n", &mut out);
    let m = meter.finish(&mut out);
    assert_eq!(m.skipped_events, 1);
    assert!(m.complete);
    assert_eq!(out.len(), big.len() + 14, "passed on as it came");
}

#[test]
fn gemini_array_oddities() {
    let g = gemini_chunks(&WORDS[..2]);
    // A string holding brackets and escaped quotes, a scalar element, whitespace.
    let tricky = json!({"candidates": [{"content": {"parts": [{"text": "]}[{\"\\"}]}}]});
    let body = format!("\u{feff} [ {tricky} , 5 ,\n{}, {} ]  trailing", g[0], g[1]);
    let m = meter(StreamFormat::GeminiJsonArray, &body);
    assert!(m.complete && m.reported);
    assert_eq!(m.skipped_events, 1, "the scalar");
    assert_eq!(
        m.output_text_bytes,
        ("]}[{\"\\".len() + WORDS[..2].concat().len()) as u64
    );
    let m = meter(StreamFormat::GeminiJsonArray, "[]");
    assert!(m.complete && !m.reported);
    assert_eq!(m.usage.input_tokens, ESTIMATE);
}

#[test]
fn an_early_running_figure_is_not_final() {
    // Gemini: the finish chunk without usageMetadata; the earlier prompt-only figure is not final.
    let mut g = gemini_chunks(&WORDS[..3]);
    g[2].as_object_mut().unwrap().remove("usageMetadata");
    let m = meter(StreamFormat::GeminiSse, &gemini_sse(&g).concat());
    assert!(m.complete && !m.reported);
    assert_eq!(m.usage.input_tokens, 30);
    assert_eq!(
        m.usage.output_tokens,
        tokens(StreamFormat::GeminiSse, &WORDS[..3].concat())
    );
    // Anthropic: message_stop without a message_delta.
    let m = meter(
        StreamFormat::Anthropic,
        &anthropic_events(&WORDS, &[]).concat(),
    );
    assert!(m.complete && !m.reported);
    assert_eq!(
        m.usage.output_tokens,
        tokens(StreamFormat::Anthropic, &WORDS.concat())
    );
}

#[test]
fn nothing_received_is_the_estimate() {
    for format in [
        StreamFormat::OpenAiChat,
        StreamFormat::OpenAiResponses,
        StreamFormat::Anthropic,
        StreamFormat::GeminiSse,
        StreamFormat::GeminiJsonArray,
    ] {
        let m = meter(format, "");
        assert_eq!(
            m.usage,
            Usage {
                input_tokens: ESTIMATE,
                ..Usage::default()
            }
        );
        assert!(!m.complete && !m.reported && m.model.is_none());
    }
}

/// Every stream the split property runs on: complete, cut, errored, CRLF, keep-alives,
/// multi-byte text, for each format.
fn corpus() -> Vec<(StreamFormat, String)> {
    let intl = ["日本", "語の", " ü", "😀", "\u{2028}", "\"q\"\n"];
    let g = gemini_chunks(&intl);
    let mut v = vec![
        (StreamFormat::OpenAiChat, chat_stream(true)),
        (
            StreamFormat::OpenAiChat,
            chat_events(&intl, true).concat().replace('\n', "\r\n")
                + ": keep-alive\r\n\r\n\r\ndata: [DONE]\r\n\r\n",
        ),
        (
            StreamFormat::OpenAiResponses,
            responses_events(&intl).concat().replace('\n', "\r"),
        ),
        (
            StreamFormat::Anthropic,
            anthropic_events(&intl, &[3, 7]).concat(),
        ),
        (
            StreamFormat::GeminiSse,
            format!("\u{feff}{}", gemini_sse(&g).concat()),
        ),
        (
            StreamFormat::GeminiJsonArray,
            format!("\u{feff}{}", gemini_array(&g, true)),
        ),
    ];
    v.extend(cut_streams(3));
    v
}

fn split_at_points(bytes: &[u8], points: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = points.iter().map(|p| p % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut pieces = Vec::new();
    let mut last = 0;
    for c in cuts {
        pieces.push(bytes[last..c].to_vec());
        last = c;
    }
    pieces.push(bytes[last..].to_vec());
    pieces
}

#[test]
fn byte_by_byte_equals_one_chunk() {
    for (format, s) in corpus() {
        for hide in [false, true] {
            let one = meter_with(format, hide, &[s.as_bytes()]);
            let bytes: Vec<&[u8]> = s.as_bytes().chunks(1).collect();
            assert_eq!(meter_with(format, hide, &bytes), one, "{format:?}");
            assert_eq!(one.0.skipped_events, 0, "{format:?} {s}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_split_gives_the_same(which in 0usize..100, points in proptest::collection::vec(any::<usize>(), 0..40), hide: bool) {
        let corpus = corpus();
        let (format, s) = &corpus[which % corpus.len()];
        let one = meter_with(*format, hide, &[s.as_bytes()]);
        let pieces = split_at_points(s.as_bytes(), &points);
        let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        let split = meter_with(*format, hide, &refs);
        prop_assert_eq!(&split, &one);
        if !hide {
            prop_assert_eq!(&split.1, &s.as_bytes().to_vec());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(format in 0u8..5, hide: bool, bytes in proptest::collection::vec(any::<u8>(), 0..600),
                                   points in proptest::collection::vec(any::<usize>(), 0..10)) {
        run_arbitrary(format, hide, &bytes, &points)?;
    }

    #[test]
    fn sse_like_bytes_never_panic(format in 0u8..5, hide: bool,
                                  s in "(data: |event: |:|\\{|\\}|\\[|\\]|\"|,|\\\\|u|null|\"usage\"|\"choices\"|\"content\"|\"delta\"|\r|\n|\\[DONE\\]|[0-9]|é){0,80}",
                                  points in proptest::collection::vec(any::<usize>(), 0..10)) {
        run_arbitrary(format, hide, s.as_bytes(), &points)?;
    }
}

fn run_arbitrary(
    format: u8,
    hide: bool,
    bytes: &[u8],
    points: &[usize],
) -> Result<(), TestCaseError> {
    let format = [
        StreamFormat::OpenAiChat,
        StreamFormat::OpenAiResponses,
        StreamFormat::Anthropic,
        StreamFormat::GeminiSse,
        StreamFormat::GeminiJsonArray,
    ][usize::from(format)];
    let pieces = split_at_points(bytes, points);
    let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
    let split = meter_with(format, hide, &refs);
    let one = meter_with(format, hide, &[bytes]);
    prop_assert_eq!(&split, &one);
    if !hide {
        prop_assert_eq!(&split.1, &bytes.to_vec());
    }
    Ok(())
}
