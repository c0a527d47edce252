use super::*;

fn read(reader: KeyInfoReader, body: &str) -> Option<KeyInfo> {
    KeyInfo::read(reader, body.as_bytes(), None)
}

#[test]
fn openrouter_key_with_exact_amounts() {
    let body = r#"{"data":{"label":"sk-or-v1-b3c...e45","limit":10.10,"limit_remaining":0.000000001,
        "limit_reset":"monthly","usage":10.099999999,"is_free_tier":false,"is_management_key":false,
        "is_provisioning_key":false,"expires_at":"2027-01-01T00:00:00Z","include_byok_in_limit":true}}"#;
    let k = read(KeyInfoReader::OpenRouterKey, body).unwrap();
    // Exactly as written: no float on the way.
    assert_eq!(k.limit_usd.as_deref(), Some("10.10"));
    assert_eq!(k.remaining_usd.as_deref(), Some("0.000000001"));
    assert_eq!(k.usage_usd.as_deref(), Some("10.099999999"));
    assert_eq!(k.limit_reset.as_deref(), Some("monthly"));
    assert_eq!(k.expires_at.as_deref(), Some("2027-01-01T00:00:00Z"));
    assert_eq!(k.is_free_tier, Some(false));
    assert_eq!(k.is_management_key, Some(false));
    assert_eq!(k.verdict(), None);
    let json = serde_json::to_value(&k).unwrap();
    assert_eq!(json["remaining_usd"], "0.000000001");
}

#[test]
fn openrouter_limit_used_up_or_unlimited() {
    for remaining in ["0", "0.0", "-0.25", "\"0\""] {
        let body = format!(r#"{{"data":{{"limit":5,"limit_remaining":{remaining}}}}}"#);
        let k = read(KeyInfoReader::OpenRouterKey, &body).unwrap();
        assert_eq!(
            k.verdict(),
            Some(Verdict::NoCredits(NoCreditsReason::KeyLimit)),
            "{remaining}"
        );
    }
    let k = read(
        KeyInfoReader::OpenRouterKey,
        r#"{"data":{"limit":null,"limit_remaining":null}}"#,
    )
    .unwrap();
    assert_eq!(k.verdict(), None);
    assert_eq!((k.limit_usd, k.remaining_usd), (None, None));
    let k = read(
        KeyInfoReader::OpenRouterKey,
        r#"{"data":{"is_provisioning_key":true}}"#,
    )
    .unwrap();
    assert_eq!(k.is_management_key, Some(true));
    assert_eq!(
        k.verdict(),
        Some(Verdict::Restricted(RestrictedReason::AdminKey))
    );
}

#[test]
fn xai_flags_and_acls() {
    let body = r#"{"redacted_api_key":"xai-...abcd","name":"ci","acls":["api-key:model:grok-3-mini","api-key:endpoint:chat","api-key:model:*"],
        "team_id":"t","api_key_id":"k","api_key_blocked":false,"api_key_disabled":false,"team_blocked":false}"#;
    let k = read(KeyInfoReader::XAiApiKey, body).unwrap();
    assert_eq!(
        k.models_allowed,
        Some(vec!["grok-3-mini".to_owned(), "*".to_owned()])
    );
    assert_eq!(
        (k.blocked, k.disabled, k.team_blocked),
        (Some(false), Some(false), Some(false))
    );
    assert_eq!(k.label.as_deref(), Some("ci"));
    assert_eq!(k.verdict(), None);
    for (field, want) in [
        ("api_key_blocked", InvalidReason::Blocked),
        ("api_key_disabled", InvalidReason::Blocked),
        ("team_blocked", InvalidReason::Deactivated),
    ] {
        let k = read(KeyInfoReader::XAiApiKey, &format!(r#"{{"{field}":true}}"#)).unwrap();
        assert_eq!(k.verdict(), Some(Verdict::Invalid(want)), "{field}");
    }
    let k = read(KeyInfoReader::XAiApiKey, "{}").unwrap();
    assert_eq!(k.models_allowed, None);
}

#[test]
fn deepseek_balance() {
    let body = r#"{"is_available":true,"balance_infos":[{"currency":"CNY","total_balance":"110.00","granted_balance":"10.00","topped_up_balance":"100.00"},
        {"currency":"USD","total_balance":"0.5"},{"currency":"USD","total_balance":1e3},{"currency":"$$$","total_balance":"1"}]}"#;
    let k = read(KeyInfoReader::DeepSeekBalance, body).unwrap();
    assert_eq!(k.available, Some(true));
    assert_eq!(k.balance.len(), 2, "{k:?}");
    assert_eq!(k.balance[0].total, "110.00");
    assert_eq!(k.balance[0].granted.as_deref(), Some("10.00"));
    assert_eq!(k.balance[1].topped_up, None);
    assert_eq!(k.verdict(), None);
    let k = read(
        KeyInfoReader::DeepSeekBalance,
        r#"{"is_available":false,"balance_infos":[]}"#,
    )
    .unwrap();
    assert_eq!(
        k.verdict(),
        Some(Verdict::NoCredits(NoCreditsReason::CreditBalance))
    );
}

#[test]
fn cohere_check() {
    let k = read(KeyInfoReader::CohereCheck, r#"{"valid":false}"#).unwrap();
    assert_eq!(
        k.verdict(),
        Some(Verdict::Invalid(InvalidReason::Unauthorized))
    );
    let k = read(KeyInfoReader::CohereCheck, r#"{"valid":true}"#).unwrap();
    assert_eq!((k.valid, k.verdict()), (Some(true), None));
}

#[test]
fn wrong_types_are_dropped_not_fatal() {
    let body = r#"{"data":{"label":7,"limit":"ten","limit_remaining":[1],"usage":{"a":1},"is_free_tier":"yes","expires_at":false}}"#;
    let k = read(KeyInfoReader::OpenRouterKey, body).unwrap();
    assert_eq!(k, KeyInfo::default());
    for junk in ["", "[]", "null", "<html>", "{\"data\":5}", "{\"valid\":tru"] {
        for reader in [
            KeyInfoReader::OpenRouterKey,
            KeyInfoReader::XAiApiKey,
            KeyInfoReader::DeepSeekBalance,
            KeyInfoReader::CohereCheck,
        ] {
            let k = read(reader, junk);
            assert!(
                k.is_none() || k.as_ref().unwrap().verdict().is_none(),
                "{junk}: {k:?}"
            );
        }
    }
}

#[test]
fn the_key_is_scrubbed_from_texts() {
    let raw = byok_keys::fake::key(byok_keys::Provider::OpenAi, byok_keys::KeyKind::Project, 9);
    let body = format!(r#"{{"data":{{"label":"mine {raw}"}}}}"#);
    let k = KeyInfo::read(KeyInfoReader::OpenRouterKey, body.as_bytes(), Some(&raw)).unwrap();
    let label = k.label.unwrap();
    assert!(!label.contains(&raw[10..30]), "{label}");
}

#[test]
fn decimals() {
    for ok in ["0", "12", "12.50", "-3.1", "0.000000001"] {
        assert!(is_decimal(ok), "{ok}");
    }
    for bad in [
        "",
        "-",
        "1.",
        ".5",
        "1e3",
        "NaN",
        "1_0",
        "+1",
        "１",
        &"9".repeat(41),
    ] {
        assert!(!is_decimal(bad), "{bad}");
    }
    assert!(not_positive("0.000") && not_positive("-1") && !not_positive("0.01"));
}

proptest::proptest! {
    /// Any bytes, any reader: never a panic; any amount kept is an exact decimal.
    #[test]
    fn hostile_bodies(body in proptest::collection::vec(proptest::num::u8::ANY, 0..200), r in 0usize..4) {
        let reader = [
            KeyInfoReader::OpenRouterKey,
            KeyInfoReader::XAiApiKey,
            KeyInfoReader::DeepSeekBalance,
            KeyInfoReader::CohereCheck,
        ][r];
        if let Some(k) = KeyInfo::read(reader, &body, None) {
            for d in [&k.limit_usd, &k.remaining_usd, &k.usage_usd].into_iter().flatten() {
                proptest::prop_assert!(is_decimal(d));
            }
            let _ = k.verdict();
        }
    }

    /// Numbers of any shape in the amount fields: kept exactly as written when
    /// they are plain decimals, dropped otherwise.
    #[test]
    fn amounts_are_kept_verbatim(int in 0u64..1_000_000_000, frac in "[0-9]{0,12}", neg: bool) {
        let text = format!("{}{int}{}{frac}", if neg { "-" } else { "" }, if frac.is_empty() { "" } else { "." });
        let body = format!(r#"{{"data":{{"limit_remaining":{text}}}}}"#);
        let k = KeyInfo::read(KeyInfoReader::OpenRouterKey, body.as_bytes(), None).unwrap();
        proptest::prop_assert_eq!(k.remaining_usd.as_deref(), Some(text.as_str()));
    }
}
