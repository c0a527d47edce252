//! Tests of `Usage`: each provider's usage object, totals, bounds.

use super::*;
use proptest::prelude::*;
use serde_json::json;

#[test]
fn openai_chat_splits_cached_and_reasoning() {
    let u = Usage::from_value(
        &json!({"usage": {"prompt_tokens": 1000, "completion_tokens": 500,
        "prompt_tokens_details": {"cached_tokens": 800, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 200}}}),
    )
    .unwrap();
    assert_eq!(
        u,
        Usage {
            input_tokens: 200,
            cached_input_tokens: 800,
            output_tokens: 300,
            reasoning_tokens: 200,
            ..Usage::default()
        }
    );
    assert_eq!(u.prompt_tokens(), 1000);
}

#[test]
fn openai_responses_body() {
    let body = json!({"object": "response", "usage": {"input_tokens": 50, "output_tokens": 40,
        "input_tokens_details": {"cached_tokens": 10}, "output_tokens_details": {"reasoning_tokens": 30},
        "total_tokens": 90}});
    let u = Usage::from_provider_value(Provider::OpenAi, &body).unwrap();
    assert_eq!(
        (
            u.input_tokens,
            u.cached_input_tokens,
            u.output_tokens,
            u.reasoning_tokens
        ),
        (40, 10, 10, 30)
    );
}

#[test]
fn anthropic_input_excludes_cache_and_splits_ttls() {
    let body = json!({"type": "message", "usage": {"input_tokens": 10, "output_tokens": 20,
        "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 300,
        "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200}}});
    let u = Usage::from_provider_value(Provider::Anthropic, &body).unwrap();
    assert_eq!(
        u,
        Usage {
            input_tokens: 10,
            cached_input_tokens: 1000,
            cache_write_5m_tokens: 100,
            cache_write_1h_tokens: 200,
            output_tokens: 20,
            reasoning_tokens: 0
        }
    );
    assert_eq!(u.prompt_tokens(), 1310);
    let no_breakdown = Usage::from_value(&json!({"input_tokens": 1, "output_tokens": 1,
        "cache_creation_input_tokens": 7}))
    .unwrap();
    assert_eq!(no_breakdown.cache_write_5m_tokens, 7);
    let bad = Usage::from_value(&json!({"input_tokens": 1, "output_tokens": 1,
        "cache_creation_input_tokens": 7, "cache_creation": {"ephemeral_5m_input_tokens": 1}}));
    assert_eq!(bad.unwrap_err().code(), "inconsistent_usage");
}

#[test]
fn gemini_thoughts_are_output_and_cache_is_inside_prompt() {
    let body = json!({"candidates": [], "usageMetadata": {"promptTokenCount": 1000,
        "cachedContentTokenCount": 600, "candidatesTokenCount": 50, "thoughtsTokenCount": 70,
        "toolUsePromptTokenCount": 5, "totalTokenCount": 1125}});
    let u = Usage::from_provider_value(Provider::Google, &body).unwrap();
    assert_eq!(
        u,
        Usage {
            input_tokens: 405,
            cached_input_tokens: 600,
            output_tokens: 50,
            reasoning_tokens: 70,
            ..Usage::default()
        }
    );
}

#[test]
fn bad_counts_are_coded_errors() {
    let neg = Usage::from_value(&json!({"prompt_tokens": -1, "completion_tokens": 1}));
    assert_eq!(
        neg.unwrap_err(),
        GuardError::NegativeTokens {
            field: "prompt_tokens".into()
        }
    );
    let frac = Usage::from_value(&json!({"prompt_tokens": 1.5, "completion_tokens": 1}));
    assert_eq!(frac.unwrap_err().code(), "non_integer_token_count");
    let text = Usage::from_value(&json!({"prompt_tokens": "12", "completion_tokens": 1}));
    assert_eq!(text.unwrap_err().code(), "non_integer_token_count");
    // 2^64 and more once said "not a whole number".
    for big in ["18446744073709551616", "1e30", "99999999999999999999999"] {
        let body = format!(r#"{{"prompt_tokens": {big}, "completion_tokens": 1}}"#);
        let e = Usage::from_json(&body).unwrap_err();
        assert_eq!(e.code(), "token_count_too_large", "{big}");
        assert!(e.to_string().contains("too large"), "{e}");
    }
    let most = r#"{"prompt_tokens": 18446744073709551615, "completion_tokens": 0}"#;
    assert_eq!(Usage::from_json(most).unwrap().input_tokens, u64::MAX);
    let more_cached = Usage::from_value(&json!({"prompt_tokens": 1, "completion_tokens": 1,
        "prompt_tokens_details": {"cached_tokens": 2}}));
    assert_eq!(more_cached.unwrap_err().code(), "inconsistent_usage");
    let more_reasoning = Usage::from_value(&json!({"prompt_tokens": 1, "completion_tokens": 1,
        "completion_tokens_details": {"reasoning_tokens": 2}}));
    assert_eq!(more_reasoning.unwrap_err().code(), "inconsistent_usage");
    assert_eq!(
        Usage::from_json("not json").unwrap_err().code(),
        "missing_usage"
    );
    assert_eq!(
        Usage::from_json(r#"{"id":"x"}"#).unwrap_err().code(),
        "missing_usage"
    );
    assert_eq!(
        Usage::from_json(r#"{"usage":3}"#).unwrap_err().code(),
        "missing_usage"
    );
    let wrong = Usage::from_provider_value(Provider::Google, &json!({"prompt_tokens": 1}));
    assert_eq!(wrong.unwrap_err().code(), "missing_usage");
}

proptest! {
    #[test]
    fn openai_chat_parts_add_up(prompt in 0u64..u64::MAX / 2, cached_frac in 0u64..=100,
                                 completion in 0u64..u64::MAX / 2, reasoning_frac in 0u64..=100) {
        let cached = (u128::from(prompt) * u128::from(cached_frac) / 100) as u64;
        let reasoning = (u128::from(completion) * u128::from(reasoning_frac) / 100) as u64;
        let u = Usage::from_value(&json!({"prompt_tokens": prompt, "completion_tokens": completion,
            "prompt_tokens_details": {"cached_tokens": cached},
            "completion_tokens_details": {"reasoning_tokens": reasoning}})).unwrap();
        prop_assert_eq!(u.prompt_tokens(), prompt);
        prop_assert_eq!(u.completion_tokens(), completion);
    }

    #[test]
    fn parser_never_panics(s in "\\PC{0,80}") {
        let _ = Usage::from_json(&s);
    }
}
