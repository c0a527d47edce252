//! Tests of `reported_cost`: each provider's figure, BYOK, hostile numbers.

use super::*;
use proptest::prelude::*;
use serde_json::json;

fn both(provider: Provider, body: &str) -> Option<Usd> {
    let from_text = reported_cost_from_json(provider, body);
    // serde_json refuses some numbers (1e400) a text reader still sees.
    if let Ok(value) = serde_json::from_str::<Value>(body) {
        assert_eq!(from_text, reported_cost(provider, &value), "{body}");
    }
    if let Some(c) = from_text {
        assert_eq!((c.label, c.tier), (Label::VerifiedByProvider, None));
    }
    from_text.and_then(|c| c.usd)
}

fn usd(s: &str) -> Option<Usd> {
    Some(s.parse().unwrap())
}

#[test]
fn xai_ticks_are_exact_hundreds_of_picodollars() {
    // PROVIDERS-MORE §4: 1 USD = 10^10 ticks.
    let body = r#"{"id":"x","usage":{"prompt_tokens":32,"completion_tokens":9,"total_tokens":135,
        "prompt_tokens_details":{"text_tokens":32,"audio_tokens":0,"image_tokens":0,"cached_tokens":6},
        "completion_tokens_details":{"reasoning_tokens":94},"num_sources_used":0,
        "cost_in_usd_ticks":62130}}"#;
    assert_eq!(both(Provider::XAi, body), usd("0.000006213"));
    assert_eq!(
        both(Provider::XAi, r#"{"cost_in_usd_ticks":10000000000}"#),
        usd("1")
    );
    assert_eq!(
        both(Provider::XAi, r#"{"usage":{"cost_in_usd_ticks":1}}"#)
            .unwrap()
            .picos(),
        100
    );
    assert_eq!(
        both(Provider::XAi, r#"{"usage":{"cost_in_usd_ticks":0}}"#),
        usd("0")
    );
}

#[test]
fn openrouter_credits_and_byok_sum() {
    let plain = r#"{"usage":{"prompt_tokens":194,"completion_tokens":2,"total_tokens":196,
        "cost":0.0000495,"is_byok":false,"cost_details":{"upstream_inference_cost":0.0000495}}}"#;
    assert_eq!(both(Provider::OpenRouter, plain), usd("0.0000495"));
    // BYOK: `cost` is OpenRouter's 5 % fee, `upstream_inference_cost` the provider's charge.
    let byok = r#"{"usage":{"prompt_tokens":194,"completion_tokens":2,"cost":0.00000095,
        "is_byok":true,"cost_details":{"upstream_inference_cost":0.000019}}}"#;
    assert_eq!(both(Provider::OpenRouter, byok), usd("0.00001995"));
    let byok_without_upstream = r#"{"usage":{"cost":0.00000095,"is_byok":true}}"#;
    assert_eq!(both(Provider::OpenRouter, byok_without_upstream), None);
    let byok_null_upstream = r#"{"usage":{"cost":0.001,"is_byok":true,"cost_details":{"upstream_inference_cost":null}}}"#;
    assert_eq!(both(Provider::OpenRouter, byok_null_upstream), None);
}

#[test]
fn perplexity_total_cost() {
    let body = r#"{"object":"response","usage":{"input_tokens":12,"output_tokens":300,
        "citation_tokens":0,"num_search_queries":1,
        "cost":{"input_tokens_cost":0.000012,"output_tokens_cost":0.0003,"request_cost":0.005,
        "total_cost":0.005312}}}"#;
    assert_eq!(both(Provider::Perplexity, body), usd("0.005312"));
    // The Responses terminal event carries it under `response.usage`.
    let event = r#"{"type":"response.completed","response":{"usage":{"input_tokens":1,
        "output_tokens":1,"cost":{"total_cost":0.006}}}}"#;
    assert_eq!(both(Provider::Perplexity, event), usd("0.006"));
}

#[test]
fn providers_without_a_reported_cost_report_none() {
    let body = r#"{"usage":{"cost":1,"cost_in_usd_ticks":1}}"#;
    for p in [
        Provider::OpenAi,
        Provider::Groq,
        Provider::DeepSeek,
        Provider::Bedrock,
    ] {
        assert_eq!(both(p, body), None, "{p:?}");
    }
}

#[test]
fn hostile_figures_report_nothing() {
    for ticks in [
        "-1",
        "1.5",
        "1e3",
        "\"100\"",
        "null",
        "true",
        "{}",
        "[]",
        "99999999999999999999999999999999999999999",
    ] {
        let body = format!(r#"{{"usage":{{"cost_in_usd_ticks":{ticks}}}}}"#);
        assert_eq!(both(Provider::XAi, &body), None, "{ticks}");
    }
    for cost in [
        "-0.01",
        "\"0.01\"",
        "null",
        "1e400",
        "1e7",
        "1000000.000001",
        "{}",
        "false",
    ] {
        let body = format!(r#"{{"usage":{{"cost":{cost}}}}}"#);
        assert_eq!(both(Provider::OpenRouter, &body), None, "{cost}");
        let body = format!(r#"{{"usage":{{"cost":{{"total_cost":{cost}}}}}}}"#);
        assert_eq!(both(Provider::Perplexity, &body), None, "{cost}");
    }
    // At the limit is believed.
    let body = r#"{"usage":{"cost":1000000}}"#;
    assert_eq!(
        both(Provider::OpenRouter, body),
        Some(Usd::from_dollars(MAX_REPORTED_USD))
    );
    for text in [
        "",
        "not json",
        "[1]",
        "3",
        r#"{"usage":3}"#,
        r#"{"usage":{"cost":}}"#,
    ] {
        assert_eq!(
            reported_cost_from_json(Provider::OpenRouter, text),
            None,
            "{text}"
        );
    }
    assert_eq!(reported_cost(Provider::XAi, &json!([1, 2])), None);
}

#[test]
fn text_reading_keeps_digits_a_float_would_lose() {
    // 17 significant digits: f64 cannot hold them, the text reader does (to the picodollar).
    let body = r#"{"usage":{"cost":0.12345678901234567}}"#;
    let c = reported_cost_from_json(Provider::OpenRouter, body).unwrap();
    assert_eq!(c.usd, usd("0.123456789012"));
}

proptest! {
    #[test]
    fn ticks_convert_exactly(n in any::<u64>()) {
        let body = json!({"usage": {"cost_in_usd_ticks": n}});
        let picos = i128::from(n) * PICOS_PER_TICK;
        let want = (picos <= Usd::from_dollars(MAX_REPORTED_USD).picos()).then(|| Usd::from_picos(picos));
        prop_assert_eq!(reported_cost(Provider::XAi, &body).and_then(|c| c.usd), want);
        prop_assert_eq!(ticks(&n.to_string()), want);
        if let Some(u) = want {
            // 10^10 ticks per dollar: the decimal text is the tick count shifted 10 places.
            let text = format!("{}.{:010}", n / 10_000_000_000, n % 10_000_000_000);
            prop_assert_eq!(u, Usd::parse(&text).unwrap());
        }
    }

    #[test]
    fn credits_text_reads_as_the_same_decimal(int in 0u64..1000, frac in 0u64..1_000_000_000_000, digits in 1usize..=12) {
        let frac = format!("{frac:012}");
        let text = format!("{int}.{}", &frac[..digits]);
        let body = format!(r#"{{"usage":{{"cost":{text}}}}}"#);
        let want = Usd::parse(&text).unwrap();
        prop_assert_eq!(reported_cost_from_json(Provider::OpenRouter, &body).and_then(|c| c.usd), Some(want));
        // Through a parsed value too, whenever f64 holds the digits (15 significant).
        if text.trim_start_matches(['0', '.']).replace('.', "").len() <= 15 {
            let v: Value = serde_json::from_str(&body).unwrap();
            prop_assert_eq!(reported_cost(Provider::OpenRouter, &v).and_then(|c| c.usd), Some(want));
        }
    }

    #[test]
    fn never_panics_on_any_text(s in "\\PC{0,120}") {
        for p in Provider::ALL {
            let _ = reported_cost_from_json(p, &s);
            let body = format!(r#"{{"usage":{{"cost":{s},"cost_in_usd_ticks":{s}}}}}"#);
            let _ = reported_cost_from_json(p, &body);
            if let Ok(v) = serde_json::from_str::<Value>(&body) {
                let _ = reported_cost(p, &v);
            }
        }
    }
}
