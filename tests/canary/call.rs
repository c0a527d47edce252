//! `Vault::call` and `Vault::call_stream` with providers that quote the key in
//! their refusals and in a mid-stream error event: the errors, the summaries
//! (`Called`, `StreamEnd`, fallbacks), the plan and attempt `Debug`, the logs and
//! the files written never show a canary.

use byok::call::{Call, FallbackPolicy};
use byok::keys::Provider;
use byok::keys::spec::Wire;
use byok::verify::{Verifier, VerifierConfig};
use byok_testkit::{CannedAnswer, MockBuilder, MockProvider, echo_forms, echo_refusal};
use serde_json::json;

use crate::canaries::assert_clean;
use crate::capture::{assert_emitted_clean, init, unwrap_panic};
use crate::debugged;
use crate::flow::{key_of, new_key, open_at, ws};
use crate::vault::{assert_files_clean, rt};

async fn mock(provider: Provider) -> MockProvider {
    MockBuilder::new(provider).start().await
}

/// A small call in `provider`'s own API, to a model the mock answers for.
fn call_for(provider: Provider) -> Call {
    let prompt = "The quick brown fox jumps over the lazy dog";
    let model = byok_testkit::compat::priced_model(provider);
    match provider.spec().wire {
        Wire::AnthropicMessages => Call::anthropic(json!({"model": model, "max_tokens": 8,
            "messages": [{"role": "user", "content": prompt}]})),
        Wire::GeminiGenerate => {
            Call::gemini(&model, json!({"contents": [{"parts": [{"text": prompt}]}]}))
        }
        Wire::OpenAiResponses => Call::responses(
            provider,
            json!({"model": model, "input": prompt, "max_output_tokens": 8}),
        ),
        Wire::BedrockConverse => Call::bedrock(
            &model,
            json!({"messages": [{"role": "user", "content": [{"text": prompt}]}],
                   "inferenceConfig": {"maxTokens": 8}}),
        ),
        Wire::CohereChat => Call::cohere(json!({"model": model, "max_tokens": 8,
            "messages": [{"role": "user", "content": prompt}]})),
        // OpenAI Chat Completions, and any wire newer than this suite.
        _ => Call::chat(
            provider,
            json!({"model": model, "max_tokens": 8,
                   "messages": [{"role": "user", "content": prompt}]}),
        ),
    }
}

/// A stream that starts, then sends the provider's own mid-stream error whose
/// every field is `k`.
fn hostile_stream(provider: Provider, k: &str) -> CannedAnswer {
    let sse = |events: &[(Option<&str>, serde_json::Value)]| -> String {
        events
            .iter()
            .map(|(event, data)| match event {
                Some(e) => format!("event: {e}\ndata: {data}\n\n"),
                None => format!("data: {data}\n\n"),
            })
            .collect()
    };
    let body = match provider.spec().wire {
        Wire::AnthropicMessages => sse(&[
            (
                Some("message_start"),
                json!({"type": "message_start", "message": {"id": k, "model": k,
                    "usage": {"input_tokens": 9, "output_tokens": 1}}}),
            ),
            (
                Some("error"),
                json!({"type": "error", "error": {"type": k, "message": k}}),
            ),
        ]),
        Wire::GeminiGenerate => format!(
            "data: {}\r\n\r\ndata: {}\r\n\r\n",
            json!({"candidates": [{"content": {"parts": [{"text": "Hi"}]}}]}),
            json!({"error": {"code": 503, "message": k, "status": k}})
        ),
        Wire::OpenAiResponses => sse(&[
            (
                Some("response.output_text.delta"),
                json!({"type": "response.output_text.delta", "sequence_number": 1,
                    "item_id": k, "output_index": 0, "content_index": 0, "delta": "Hi"}),
            ),
            (
                Some("error"),
                json!({"type": "error", "code": k, "message": k, "param": k, "sequence_number": 2}),
            ),
        ]),
        // Cohere ends a failed stream with `message-end`, finish reason `ERROR`.
        Wire::CohereChat => sse(&[
            (
                Some("message-start"),
                json!({"id": k, "type": "message-start",
                    "delta": {"message": {"role": "assistant", "content": []}}}),
            ),
            (
                Some("content-delta"),
                json!({"type": "content-delta", "index": 0,
                    "delta": {"message": {"content": {"text": "Hi"}}}}),
            ),
            (
                Some("message-end"),
                json!({"type": "message-end", "delta": {"finish_reason": "ERROR", "error": k}}),
            ),
        ]),
        // Bedrock's binary event stream: a text delta, then an exception frame.
        Wire::BedrockConverse => {
            let frame = |headers: &[(&str, &str)], payload: serde_json::Value| {
                byok::guard::meter::event_stream_frame(headers, payload.to_string().as_bytes())
            };
            let mut body = frame(
                &[
                    (":event-type", "contentBlockDelta"),
                    (":content-type", "application/json"),
                    (":message-type", "event"),
                ],
                json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
            );
            body.extend(frame(
                &[
                    (":exception-type", "modelStreamErrorException"),
                    (":content-type", "application/json"),
                    (":message-type", "exception"),
                ],
                json!({"message": k, "Message": k, "originalMessage": k}),
            ));
            return CannedAnswer::raw(200, body)
                .header("content-type", "application/vnd.amazon.eventstream");
        }
        // After the 200, OpenRouter reports an error as a chunk with `finish_reason: "error"`.
        _ if provider == Provider::OpenRouter => sse(&[
            (
                None,
                json!({"id": k, "choices": [{"index": 0, "delta": {"content": "Hi"}}]}),
            ),
            (
                None,
                json!({"id": k, "object": "chat.completion.chunk", "provider": k,
                    "error": {"code": 502, "message": k, "metadata": {"raw": k}},
                    "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]}),
            ),
        ]),
        // OpenAI Chat Completions (and the compatible providers).
        _ => sse(&[
            (
                None,
                json!({"choices": [{"index": 0, "delta": {"content": "Hi"}}]}),
            ),
            (
                None,
                json!({"error": {"message": k, "type": k, "code": k, "param": k}}),
            ),
        ]),
    };
    CannedAnswer::raw(200, body).header("content-type", "text/event-stream")
}

#[test]
fn calls_to_providers_that_quote_the_key() {
    init();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut out = String::new();
    rt().block_on(async {
        for provider in Provider::ALL {
            let m = mock(provider).await;
            let verifier = Verifier::new(VerifierConfig::default().base_url(provider, &m.uri()))
                .expect("a verifier");
            let (vault, store) = open_at(&dir.path().join(provider.as_str()), verifier).await;
            let raw = key_of(provider, 6);
            let backup = key_of(provider, 7);
            for (n, (form, echoed)) in echo_forms(&raw).into_iter().enumerate() {
                // A workspace per form: the refusals below bench its keys.
                let space = ws(format!("calls{n}"));
                vault
                    .add(new_key(&space, &raw, "primary"))
                    .await
                    .expect("added");
                vault
                    .add(new_key(&space, &backup, "backup").backup(1))
                    .await
                    .expect("added");
                // A wrong-key refusal quoting the key everywhere: both keys refused in turn.
                m.answer_with(CannedAnswer::from(&echo_refusal(provider, form, &echoed)));
                let plan = vault.plan(&space, call_for(provider)).expect("a plan");
                out += &debugged(&plan);
                let never = call_for(provider).fallback(FallbackPolicy::Never);
                let result = vault.call(&space, never).await; // refused: ProviderRefused
                if let Err(e) = &result {
                    out += &format!("{e}\n{e:?}\n{:?}\n", e.hint());
                }
                let result = vault.call(&space, call_for(provider)).await;
                if let Err(e) = &result {
                    out += &format!("{e}\n{e:?}\n{:?}\n", e.hint());
                }
                out += &unwrap_panic(result);
                // A stream broken by an error event quoting the key (a fresh workspace).
                let space = ws(format!("streams{n}"));
                vault
                    .add(new_key(&space, &raw, "primary"))
                    .await
                    .expect("added");
                m.answer_with(hostile_stream(provider, &echoed));
                match vault.call_stream(&space, call_for(provider)).await {
                    Ok(mut s) => {
                        while let Some(chunk) = s.next_chunk().await {
                            if let Err(e) = chunk {
                                out += &format!("{e}\n{e:?}\n");
                            }
                        }
                        let called = s.finish().await;
                        out += &unwrap_panic(called);
                    }
                    Err(e) => out += &format!("{e}\n{e:?}\n"),
                }
            }
            m.clear_answer();
            store.close().await;
        }
    });
    // Else the checks below pass vacuously: refusals and broken streams were shown.
    assert!(
        out.contains("ProviderRefused") && out.contains("NoUsableKey"),
        "{}",
        out.len()
    );
    assert!(out.contains("StreamEnd") && out.contains("complete: false"));
    assert_clean("call: providers quoting the key", out.as_bytes());
    assert_files_clean("call: providers quoting the key", dir.path());
    assert_emitted_clean("call: providers quoting the key");
}
