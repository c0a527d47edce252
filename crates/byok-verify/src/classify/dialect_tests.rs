//! Every provider's dialect against hostile answers: any status, body and
//! headers classify without a panic; key and account verdicts are never retried.

use reqwest::header::{HeaderMap, HeaderValue};

use super::classify;
use crate::verdict::Verdict;
use byok_keys::Provider;

fn never_retried(v: &Verdict) -> bool {
    matches!(
        v,
        Verdict::NoCredits(_) | Verdict::Invalid(_) | Verdict::Restricted(_)
    )
}

proptest::proptest! {
    #[test]
    fn any_answer_of_any_provider(
        status in 100u16..600,
        body in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
        header in "[ -~]{0,40}",
        p in 0usize..14,
    ) {
        let provider = Provider::ALL[p];
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&header) {
            for name in ["x-amzn-errortype", "retry-after", "x-ratelimit-reset", "x-ratelimit-remaining-tokens-minute"] {
                h.insert(name, v.clone());
            }
        }
        let c = classify(provider, status, &h, &body);
        proptest::prop_assert_eq!(c.status, status);
        if never_retried(&c.verdict) {
            proptest::prop_assert!(!c.retryable, "{:?}", c.verdict);
        }
    }

    /// Each new dialect's own shape with any code and message.
    #[test]
    fn shaped_bodies_of_the_new_dialects(
        status in 400u16..600,
        code in "[A-Za-z_0-9]{0,20}",
        message in "\\PC{0,120}",
        limit_source in "(openrouter_key_limit|openrouter_credits|x)",
    ) {
        let bodies = [
            (Provider::OpenRouter, serde_json::json!({"error": {"code": status, "message": message, "metadata": {"limit_source": limit_source}}})),
            (Provider::XAi, serde_json::json!({"code": code, "error": message})),
            (Provider::Mistral, serde_json::json!({"object": "error", "message": message, "type": code, "code": code})),
            (Provider::Mistral, serde_json::json!({"detail": message})),
            (Provider::AzureOpenAi, serde_json::json!({"error": {"code": code, "message": message}})),
            (Provider::Bedrock, serde_json::json!({"Message": message, "__type": code})),
            (Provider::Cohere, serde_json::json!({"id": code, "message": message})),
            (Provider::Groq, serde_json::json!({"error": {"message": message, "type": code, "code": code}})),
            (Provider::Perplexity, serde_json::json!({"error": {"message": message, "type": code, "code": code}})),
        ];
        for (provider, body) in bodies {
            let c = classify(provider, status, &HeaderMap::new(), body.to_string().as_bytes());
            if never_retried(&c.verdict) {
                proptest::prop_assert!(!c.retryable, "{provider}: {:?}", c.verdict);
            }
            if let Some(m) = &c.provider_message {
                proptest::prop_assert!(m.chars().count() <= super::MESSAGE_MAX_CHARS);
            }
            // A retry wait from a message is bounded (a week at most).
            if let Some(w) = c.retry_after {
                proptest::prop_assert!(w <= std::time::Duration::from_secs(7 * 86_400));
            }
        }
    }

    #[test]
    fn delays_in_messages_never_panic(text in "\\PC{0,60}") {
        let _ = super::delay_in_message(&text, "try again in ");
        let _ = super::delay_in_message(&format!("Please retry after {text}"), "retry after ");
    }
}

#[test]
fn delays_in_messages() {
    use std::time::Duration;
    let d = |m: &str, marker: &str| super::delay_in_message(m, marker);
    assert_eq!(
        d("Please try again in 5.289s.", "try again in "),
        Some(Duration::from_millis(5289))
    );
    assert_eq!(
        d("Please try again in 7m12s. Visit", "try again in "),
        Some(Duration::from_secs(432))
    );
    assert_eq!(
        d("Please retry after 86400 seconds.", "retry after "),
        Some(Duration::from_secs(86400))
    );
    assert_eq!(
        d("Please retry after 20 seconds", "retry after "),
        Some(Duration::from_secs(20))
    );
    assert_eq!(d("retry after 20 minutes", "retry after "), None);
    assert_eq!(d("try again in a while", "try again in "), None);
    assert_eq!(d("nothing here", "try again in "), None);
}
