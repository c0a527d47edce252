//! Every row of the format table, every error code, and the near-misses the issue lists.

use byok_keys::{ApiKey, FormatWarning, KeyError, KeyKind, Provider, fake};

fn err(raw: &str) -> KeyError {
    match ApiKey::parse(raw) {
        Ok(k) => panic!("expected an error, parsed as {k:?}"),
        Err(e) => e,
    }
}

fn ok(raw: &str) -> ApiKey {
    ApiKey::parse(raw).unwrap_or_else(|e| panic!("expected a key, got {} ({e})", e.code()))
}

#[test]
fn every_shape_parses_to_its_provider_and_kind_without_warnings() {
    for seed in 0..50 {
        for (provider, kind, raw) in fake::all(seed) {
            let key = ok(&raw);
            assert_eq!((key.provider(), key.kind()), (provider, kind), "{raw:.12}");
            assert!(key.warnings().is_empty(), "{kind}: {:?}", key.warnings());
            assert_eq!(key.len(), raw.len());
        }
    }
}

#[test]
fn documented_lengths() {
    let len = |p, k| fake::key(p, k, 1).len();
    assert_eq!(len(Provider::OpenAi, KeyKind::Legacy), 51);
    assert_eq!(len(Provider::OpenAi, KeyKind::Project), 164);
    assert_eq!(len(Provider::Anthropic, KeyKind::Api), 108);
    assert_eq!(len(Provider::Anthropic, KeyKind::Admin), 110);
    assert_eq!(len(Provider::Google, KeyKind::Standard), 39);
    assert_eq!(len(Provider::Google, KeyKind::Auth), 53);
}

#[test]
fn openai_known_half_lengths_have_no_warning() {
    let cases: &[(KeyKind, &[usize])] = &[
        (KeyKind::Legacy, &[20, 42]),
        (KeyKind::Project, &[20, 58, 74]),
        (KeyKind::ServiceAccount, &[46, 58, 74]),
        (KeyKind::Admin, &[58]),
        (KeyKind::Unscoped, &[74]),
    ];
    for &(kind, halves) in cases {
        for &n in halves {
            let key = ok(&fake::key_with_half(Provider::OpenAi, kind, n, 3));
            assert_eq!(key.kind(), kind);
            assert!(key.warnings().is_empty(), "{kind} half {n}");
        }
    }
}

#[test]
fn new_openai_lengths_are_accepted_with_a_warning() {
    let raw = fake::key_with_half(Provider::OpenAi, KeyKind::Project, 90, 3);
    let key = ok(&raw);
    assert_eq!(key.kind(), KeyKind::Project);
    assert_eq!(
        key.warnings(),
        [FormatWarning::UnusualLength { length: raw.len() }]
    );
    assert_eq!(key.warnings()[0].code(), "unusual_length");
}

#[test]
fn old_service_account_shape() {
    let body = fake::key_with_half(Provider::OpenAi, KeyKind::Legacy, 20, 8);
    let raw = format!("sk-service-billing-bot-{}", &body[3..]);
    let key = ok(&raw);
    assert_eq!(key.kind(), KeyKind::ServiceAccount);
    assert!(key.masked().starts_with("sk-service-…"));
}

#[test]
fn anthropic_other_versions_warn() {
    let raw = fake::key(Provider::Anthropic, KeyKind::Api, 4).replace("api03", "api04");
    let key = ok(&raw);
    assert_eq!(key.kind(), KeyKind::Api);
    assert_eq!(key.warnings()[0].code(), "unusual_version");
}

#[test]
fn oauth_tokens_are_not_api_keys() {
    let api = fake::key(Provider::Anthropic, KeyKind::Api, 5);
    for token in ["oat01", "ort01"] {
        let e = err(&api.replace("api03", token));
        assert_eq!(e.code(), "not_an_api_key");
        assert!(e.to_string().contains("OAuth"));
    }
    assert_eq!(err("ya29.a0AfH6SMBx3kZq8vJ2pQ").code(), "not_an_api_key");
}

#[test]
fn google_near_misses_38_and_40() {
    let raw = fake::key(Provider::Google, KeyKind::Standard, 6);
    let e = err(&raw[..38]);
    assert_eq!(
        e,
        KeyError::Truncated {
            position: 38,
            missing: Some(1)
        }
    );
    let e = err(&format!("{raw}Q"));
    assert_eq!(
        e,
        KeyError::TooLong {
            position: 39,
            extra: 1
        }
    );
}

#[test]
fn wrong_marker_is_missing_marker() {
    let raw = fake::key(Provider::OpenAi, KeyKind::Project, 7).replace("T3BlbkFJ", "T4BlbkFJ");
    assert_eq!(err(&raw).code(), "missing_marker");
}

#[test]
fn anthropic_body_ending_bb_is_missing_marker() {
    let raw = fake::key(Provider::Anthropic, KeyKind::Api, 8);
    let bb = format!("{}BB", &raw[..raw.len() - 2]);
    assert_eq!(
        err(&bb),
        KeyError::MissingMarker {
            provider: Provider::Anthropic,
            marker: "AA"
        }
    );
}

#[test]
fn truncated_and_glued_openai_keys_say_how_much() {
    let raw = fake::key(Provider::OpenAi, KeyKind::Project, 9);
    let e = err(&raw[..150]);
    assert_eq!(
        e,
        KeyError::Truncated {
            position: 150,
            missing: Some(14)
        }
    );
    let e = err(&format!("{raw}abc"));
    assert_eq!(
        e,
        KeyError::TooLong {
            position: 164,
            extra: 3
        }
    );
    // Cut before the marker: too short to hold it at any known length.
    assert_eq!(err(&raw[..30]).code(), "truncated");
}

#[test]
fn anthropic_truncated_and_too_long() {
    let raw = fake::key(Provider::Anthropic, KeyKind::Api, 10);
    assert_eq!(
        err(&raw[..100]),
        KeyError::Truncated {
            position: 100,
            missing: Some(8)
        }
    );
    assert_eq!(
        err(&format!("{raw}xy")),
        KeyError::TooLong {
            position: 108,
            extra: 2
        }
    );
}

#[test]
fn placeholders() {
    for p in [
        "sk-...",
        "sk-…",
        "sk-xxxx",
        "sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "sk-proj-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "YOUR_API_KEY",
        "OPENAI_API_KEY",
        "<your-api-key>",
        "${ANTHROPIC_API_KEY}",
        "sk-your-key-here",
        "sk-ant-api03-...",
        "AIzaSyXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        "sk-1234567890abcdefghij",
        "sk-proj-****************",
    ] {
        assert_eq!(err(p).code(), "placeholder", "{p}");
    }
}

#[test]
fn whitespace_positions() {
    let raw = fake::key(Provider::OpenAi, KeyKind::Project, 11);
    let split = format!("{}\n{}", &raw[..40], &raw[40..]);
    assert_eq!(
        err(&split),
        KeyError::Whitespace {
            position: 40,
            at_edge: false
        }
    );
    assert!(err(&split).to_string().contains("position 40"));
    assert_eq!(
        err(&format!(" {raw}")),
        KeyError::Whitespace {
            position: 0,
            at_edge: true
        }
    );
    assert_eq!(
        err(&format!("{raw}\n")),
        KeyError::Whitespace {
            position: 164,
            at_edge: true
        }
    );
    assert_eq!(err("   ").code(), "empty");
    assert_eq!(err("").code(), "empty");
}

#[test]
fn invisible_and_invalid_characters() {
    let raw = fake::key(Provider::Google, KeyKind::Standard, 12);
    let zw = format!("{}\u{200B}{}", &raw[..10], &raw[10..]);
    assert_eq!(
        err(&zw),
        KeyError::InvisibleCharacter {
            position: 10,
            code_point: 0x200B
        }
    );
    let bom = format!("\u{FEFF}{raw}");
    assert_eq!(err(&bom).code(), "invisible_character");
    let dash = format!("sk–proj-{}", &raw[8..]);
    assert_eq!(
        err(&dash),
        KeyError::InvalidCharacter {
            position: 2,
            character: '–'
        }
    );
    // Positions count characters, not bytes.
    let e = err(&format!("é{raw}"));
    assert_eq!(e.position(), Some(0));
    let e = err(&format!("{}+{}", &raw[..20], &raw[20..]));
    assert_eq!(
        e,
        KeyError::InvalidCharacter {
            position: 20,
            character: '+'
        }
    );
}

#[test]
fn dots_are_only_allowed_in_google_auth_keys() {
    let raw = fake::key(Provider::Google, KeyKind::Auth, 13);
    assert_eq!(ok(&raw).kind(), KeyKind::Auth);
    let e = err(&format!("{}.{}", &raw[..20], &raw[21..]));
    assert_eq!(
        e,
        KeyError::InvalidCharacter {
            position: 20,
            character: '.'
        }
    );
}

#[test]
fn unknown_formats_name_known_services() {
    let e = err("sk-lf-4f9a8b7c-6d5e-4f3a-2b1c-0d9e8f7a6b5c");
    assert_eq!(
        e,
        KeyError::UnknownFormat {
            looks_like: Some("Langfuse")
        }
    );
    assert!(e.to_string().contains("Langfuse"));
    assert_eq!(err("hf_4f9a8b7c6d5e4f3a2b1c").code(), "unknown_format");
    assert_eq!(err("hello").code(), "unknown_format");
}

#[test]
fn prefixes_once_foreign_are_now_their_providers() {
    // OpenRouter, Groq, xAI and Perplexity keys were "not supported"; now they are ours.
    let raw = "sk-or-v1-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b";
    assert_eq!(
        err(raw),
        KeyError::TooLong {
            position: 73,
            extra: 2
        }
    );
    let or = ok(&raw[..73]);
    assert_eq!(
        (or.provider(), or.kind()),
        (Provider::OpenRouter, KeyKind::Standard)
    );
    assert_eq!(or.masked(), "sk-or-v1-…0f9a");
    assert_eq!(
        err("gsk_4f9a8b7c6d5e4f3a2b1c"),
        KeyError::Truncated {
            position: 24,
            missing: Some(32)
        }
    );
    assert_eq!(
        ApiKey::parse_for(Provider::Groq, "gsk_4f9a8b7c6d5e4f3a2b1c")
            .unwrap_err()
            .code(),
        "truncated"
    );
    assert_eq!(
        ApiKey::parse_for(
            Provider::OpenAi,
            &fake::key(Provider::XAi, KeyKind::Standard, 1)
        )
        .unwrap_err(),
        KeyError::WrongProvider {
            expected: Provider::OpenAi,
            found: Provider::XAi
        }
    );
}

#[test]
fn wrong_provider_names_the_provider_it_looks_like() {
    let raw = fake::key(Provider::Anthropic, KeyKind::Api, 14);
    let e = ApiKey::parse_for(Provider::OpenAi, &raw).unwrap_err();
    assert_eq!(
        e,
        KeyError::WrongProvider {
            expected: Provider::OpenAi,
            found: Provider::Anthropic
        }
    );
    assert_eq!(e.to_string(), "this is an Anthropic key, not an OpenAI key");
    assert!(ApiKey::parse_for(Provider::Anthropic, &raw).is_ok());
}

#[test]
fn every_code_has_a_message_and_hint_without_key_material() {
    let raw = fake::key(Provider::OpenAi, KeyKind::Project, 15);
    let bad = [
        String::new(),
        "sk-...".into(),
        format!("{} {}", &raw[..50], &raw[50..]),
        format!("{}\u{200D}", &raw),
        format!("{}<", &raw),
        raw[..120].to_string(),
        format!("{raw}zz"),
        raw.replace("T3BlbkFJ", "T3BlbkFK"),
        "hf_aaaaabbbbbccccc".into(),
        format!("sk-or-v1-{}G", &"3f2a9c1e7b4d6058".repeat(4)[..63]),
        fake::key(Provider::Anthropic, KeyKind::Api, 1).replace("api03", "oat01"),
        fake::key(Provider::Mistral, KeyKind::Standard, 15),
        format!(
            "mistral-{}",
            fake::key(Provider::Mistral, KeyKind::Standard, 15)
        ),
        fake::bedrock_short_term(
            15,
            "us-east-1",
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
            std::time::Duration::from_secs(3600),
        ),
        fake::bedrock_short_term(
            15,
            "us-east-1",
            fake::short_term_issued(),
            std::time::Duration::ZERO,
        ),
    ];
    let mut codes = std::collections::BTreeSet::new();
    for b in &bad {
        let e = err(b);
        codes.insert(e.code());
        let text = format!("{e} {} {e:?}", e.hint());
        assert!(
            !text.contains(&raw[8..24]),
            "{} leaked key material: {text}",
            e.code()
        );
        assert!(!e.hint().is_empty());
    }
    codes.insert(
        ApiKey::parse_for(Provider::Google, &raw)
            .unwrap_err()
            .code(),
    );
    let all: std::collections::BTreeSet<_> = KeyError::CODES.into_iter().collect();
    assert_eq!(codes, all, "every code is exercised");
}

#[test]
fn mask_shows_prefix_and_last_four_only() {
    for seed in 0..20 {
        for (_, _, raw) in fake::all(seed) {
            let key = ok(&raw);
            let m = key.masked();
            let (prefix, tail) = m.split_once('…').unwrap();
            assert_eq!(prefix, key.prefix());
            assert_eq!(tail, &raw[raw.len() - 4..]);
            assert!(raw.starts_with(prefix));
        }
    }
}

#[test]
fn debug_display_and_fingerprint_never_show_the_secret() {
    for (_, _, raw) in fake::all(16) {
        let key = ok(&raw);
        let body = &raw[key.prefix().len()..raw.len() - 4];
        for shown in [
            format!("{key:?}"),
            format!("{key}"),
            format!("{:?}", key.fingerprint()),
            key.fingerprint().to_string(),
        ] {
            assert!(!shown.contains(body), "{shown}");
        }
        assert!(key.fingerprint().to_string().starts_with("sha256:"));
        assert_eq!(key.fingerprint(), ok(&raw).fingerprint(), "stable");
        assert_eq!(key.fingerprint().to_hex().len(), 64);
    }
}

#[test]
fn equality_is_by_value() {
    let a = fake::key(Provider::OpenAi, KeyKind::Project, 17);
    let b = fake::key(Provider::OpenAi, KeyKind::Project, 18);
    assert_eq!(ok(&a), ok(&a));
    assert_ne!(ok(&a), ok(&b));
    assert_eq!(ok(&a).clone(), ok(&a));
}

#[test]
fn keyerror_serialises_for_uis() {
    let e = err("sk-...");
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(v["code"], "placeholder");
    assert!(v["message"].as_str().unwrap().contains("placeholder"));
    assert!(v["hint"].is_string());
    assert!(v["position"].is_null());
}
