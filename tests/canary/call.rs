//! `Vault::call` and `Vault::call_stream` with providers that quote the key in
//! their refusals and in a mid-stream error event: the errors, the summaries
//! (`Called`, `StreamEnd`, fallbacks), the plan and attempt `Debug`, the logs and
//! the files written never show a canary.

use byok::call::{Call, FallbackPolicy};
use byok::keys::Provider;
use byok::verify::{Verifier, VerifierConfig};
use byok_testkit::{
    CannedAnswer, MockAnthropic, MockGemini, MockOpenAi, MockProvider, echo_forms, echo_refusal,
};
use serde_json::json;

use crate::capture::{assert_emitted_clean, init, unwrap_panic};
use crate::debugged;
use crate::flow::{key_of, new_key, open_at, ws};
use crate::vault::{assert_files_clean, rt};
use byok_testkit::canary::standard::assert_clean;

async fn mock(provider: Provider) -> MockProvider {
    match provider {
        Provider::OpenAi => MockOpenAi::start().await,
        Provider::Anthropic => MockAnthropic::start().await,
        _ => MockGemini::start().await,
    }
}

fn call_for(provider: Provider) -> Call {
    let prompt = "The quick brown fox jumps over the lazy dog";
    match provider {
        Provider::OpenAi => {
            Call::openai_chat(json!({"model": "gpt-4o-mini", "max_completion_tokens": 8,
            "messages": [{"role": "user", "content": prompt}]}))
        }
        Provider::Anthropic => {
            Call::anthropic(json!({"model": "claude-haiku-4-5", "max_tokens": 8,
            "messages": [{"role": "user", "content": prompt}]}))
        }
        _ => Call::gemini(
            "gemini-2.5-flash",
            json!({"contents": [{"parts": [{"text": prompt}]}]}),
        ),
    }
}

/// A stream that starts, then sends an error event whose every field is `k`.
fn hostile_stream(provider: Provider, k: &str) -> CannedAnswer {
    let body = match provider {
        Provider::OpenAi => format!(
            "data: {}\n\ndata: {}\n\n",
            json!({"choices": [{"index": 0, "delta": {"content": "Hi"}}]}),
            json!({"error": {"message": k, "type": k, "code": k, "param": k}})
        ),
        Provider::Anthropic => format!(
            "event: message_start\ndata: {}\n\nevent: error\ndata: {}\n\n",
            json!({"type": "message_start", "message": {"id": k, "model": k,
                "usage": {"input_tokens": 9, "output_tokens": 1}}}),
            json!({"type": "error", "error": {"type": k, "message": k}})
        ),
        _ => format!(
            "data: {}\r\n\r\ndata: {}\r\n\r\n",
            json!({"candidates": [{"content": {"parts": [{"text": "Hi"}]}}]}),
            json!({"error": {"code": 503, "message": k, "status": k}})
        ),
    };
    CannedAnswer::raw(200, body).header("content-type", "text/event-stream")
}

#[test]
fn calls_to_providers_that_quote_the_key() {
    init();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut out = String::new();
    rt().block_on(async {
        for provider in crate::FLOW_PROVIDERS {
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
