//! The eleven providers of issue #14: every key shape and its near misses in the
//! paste-box check (`ApiKey::parse` / `parse_for`) and in `scan` / `redact`, the
//! DeepSeek-vs-OpenAI rule, prefix-less keys and their context keywords, and
//! Bedrock short-term tokens decoded offline.

use std::time::{Duration, UNIX_EPOCH};

use byok_keys::spec::{Charset, Detect};
use byok_keys::{
    ApiKey, CONTEXT_WINDOW, FormatWarning, KeyError, KeyKind, Provider, Redactor, bedrock, fake,
    redact, redact_bytes, scan, scan_for,
};
use proptest::prelude::*;

fn err_for(p: Option<Provider>, raw: &str) -> KeyError {
    let r = match p {
        Some(p) => ApiKey::parse_for(p, raw),
        None => ApiKey::parse(raw),
    };
    match r {
        Ok(k) => panic!("expected an error for {p:?}, parsed as {k:?}"),
        Err(e) => e,
    }
}

#[test]
fn every_shape_parses_for_its_provider_without_warnings() {
    for seed in 0..40 {
        for (p, kind, raw) in fake::every(seed) {
            let key = ApiKey::parse_for(p, &raw)
                .unwrap_or_else(|e| panic!("{p} {kind}: {} ({e})", e.code()));
            assert_eq!((key.provider(), key.kind()), (p, kind));
            assert!(
                key.warnings().is_empty(),
                "{p} {kind}: {:?}",
                key.warnings()
            );
            // Masks show the public prefix and the last four, fingerprints are stable.
            assert_eq!(
                key.masked(),
                format!("{}…{}", key.prefix(), &raw[raw.len() - 4..])
            );
            assert_eq!(
                key.fingerprint(),
                ApiKey::parse_for(p, &raw).unwrap().fingerprint()
            );
            let shown = format!("{key:?} {key} {}", key.fingerprint());
            assert!(
                !shown.contains(&raw[key.prefix().len()..raw.len() - 4]),
                "{shown}"
            );
        }
    }
}

#[test]
fn self_identifying_shapes_parse_without_a_provider_named() {
    for seed in 0..40 {
        for (p, kind, raw) in fake::all(seed) {
            let key = ApiKey::parse(&raw).unwrap();
            assert_eq!((key.provider(), key.kind()), (p, kind), "{raw:.16}");
            assert!(key.warnings().is_empty());
        }
    }
}

#[test]
fn prefixless_keys_ask_for_the_provider_and_list_the_candidates() {
    let cases = [
        (
            Provider::Mistral,
            KeyKind::Standard,
            vec![Provider::Mistral],
        ),
        (
            Provider::AzureOpenAi,
            KeyKind::Legacy,
            vec![Provider::Mistral, Provider::AzureOpenAi],
        ),
        (
            Provider::AzureOpenAi,
            KeyKind::Standard,
            vec![Provider::AzureOpenAi],
        ),
        (Provider::Cohere, KeyKind::Standard, vec![Provider::Cohere]),
    ];
    for (p, kind, candidates) in cases {
        let raw = fake::key(p, kind, 3);
        let e = err_for(None, &raw);
        assert_eq!(
            e,
            KeyError::AmbiguousProvider {
                candidates: candidates.clone()
            }
        );
        assert_eq!(e.code(), "ambiguous_provider");
        for c in &candidates {
            assert!(e.to_string().contains(c.display_name()), "{e}");
        }
        assert!(!e.to_string().contains(&raw[4..20]));
        assert!(e.hint().contains("provider"));
        // Named, it is accepted.
        assert_eq!(ApiKey::parse_for(p, &raw).unwrap().kind(), kind);
    }
    let e = err_for(None, &fake::key(Provider::AzureOpenAi, KeyKind::Legacy, 3));
    assert_eq!(
        e.to_string(),
        "this key has no prefix, so its shape cannot tell whose it is: name the provider \
         (it could be a Mistral or Azure OpenAI key)"
    );
}

#[test]
fn deepseek_and_openai_legacy_keys_are_never_confused() {
    for seed in 0..200 {
        let ds = fake::key(Provider::DeepSeek, KeyKind::Standard, seed);
        let key = ApiKey::parse(&ds).unwrap();
        assert_eq!(key.provider(), Provider::DeepSeek);
        assert_eq!(
            key.warnings(),
            [FormatWarning::ProbableProvider {
                provider: Provider::DeepSeek
            }]
        );
        assert!(
            ApiKey::parse_for(Provider::DeepSeek, &ds)
                .unwrap()
                .warnings()
                .is_empty()
        );
        assert_eq!(
            err_for(Some(Provider::OpenAi), &ds),
            KeyError::WrongProvider {
                expected: Provider::OpenAi,
                found: Provider::DeepSeek
            }
        );
        for half in [20, 42] {
            let oa = fake::key_with_half(Provider::OpenAi, KeyKind::Legacy, half, seed);
            assert_eq!(ApiKey::parse(&oa).unwrap().provider(), Provider::OpenAi);
            assert_eq!(
                err_for(Some(Provider::DeepSeek), &oa),
                KeyError::WrongProvider {
                    expected: Provider::DeepSeek,
                    found: Provider::OpenAi
                }
            );
        }
    }
    // `sk-` + 32 characters that are not lowercase hex is no DeepSeek key.
    let mixed = format!("sk-{}", fake::key(Provider::Mistral, KeyKind::Standard, 1));
    assert_eq!(err_for(None, &mixed).code(), "missing_marker");
    let upper = fake::key(Provider::DeepSeek, KeyKind::Standard, 1).to_ascii_uppercase();
    let e = err_for(Some(Provider::DeepSeek), &upper.replacen("SK-", "sk-", 1));
    assert_eq!(e.code(), "unexpected_character");
    // The character is a key character: it is not shown.
    assert_eq!(
        e.to_string(),
        format!(
            "the character at position {} cannot occur in this key (its characters are [0-9a-f])",
            e.position().unwrap()
        )
    );
}

#[test]
fn named_provider_errors_have_positions() {
    let groq = fake::key(Provider::Groq, KeyKind::Standard, 5);
    assert_eq!(
        err_for(Some(Provider::Groq), &groq[..50]),
        KeyError::Truncated {
            position: 50,
            missing: Some(6)
        }
    );
    assert_eq!(
        err_for(Some(Provider::Groq), &format!("{groq}xy")),
        KeyError::TooLong {
            position: 56,
            extra: 2
        }
    );
    let spaced = format!("{} {}", &groq[..20], &groq[20..]);
    assert_eq!(
        err_for(Some(Provider::Groq), &spaced),
        KeyError::Whitespace {
            position: 20,
            at_edge: false
        }
    );
    let anthropic = fake::key(Provider::Anthropic, KeyKind::Api, 5);
    let e = err_for(Some(Provider::Mistral), &anthropic);
    assert_eq!(e.to_string(), "this is an Anthropic key, not a Mistral key");
    // A broken key still says whose it is by its prefix.
    assert_eq!(
        err_for(Some(Provider::Mistral), &anthropic[..60]),
        KeyError::WrongProvider {
            expected: Provider::Mistral,
            found: Provider::Anthropic
        }
    );
    let mistral = fake::key(Provider::Mistral, KeyKind::Standard, 5);
    let e = err_for(Some(Provider::Mistral), &mistral[..29]);
    assert_eq!(
        e,
        KeyError::Truncated {
            position: 29,
            missing: Some(3)
        }
    );
    assert!(e.to_string().contains("3 characters too early"), "{e}");
    assert_eq!(
        err_for(Some(Provider::Cohere), &format!("{}-x", &mistral[..30])),
        KeyError::UnexpectedCharacter {
            position: 30,
            allowed: "[A-Za-z0-9]"
        }
    );
    // An original provider named: no "name the provider" for a prefix-less string.
    assert_eq!(
        err_for(Some(Provider::OpenAi), &mistral),
        KeyError::UnknownFormat { looks_like: None }
    );
    // A prefixed provider named with no prefix given.
    assert_eq!(
        err_for(Some(Provider::Groq), &mistral),
        KeyError::MissingMarker {
            provider: Provider::Groq,
            marker: "gsk_"
        }
    );
}

#[test]
fn pasted_text_positions_point_into_what_was_pasted() {
    let legacy = fake::key(Provider::AzureOpenAi, KeyKind::Legacy, 16);
    let upper = format!("{}G{}", &legacy[..10], &legacy[11..]);
    let n = byok_keys::normalize(&format!("  api-key: \"{upper}\"\n"));
    assert_eq!(
        n.parse_for(Provider::AzureOpenAi).unwrap_err(),
        KeyError::UnexpectedCharacter {
            position: 22,
            allowed: "[0-9a-f]"
        }
    );
    // The auth header of the spec was stripped, and the key is accepted when whole.
    let n = byok_keys::normalize(&format!("api-key: {legacy}"));
    assert_eq!(n.fixes(), [byok_keys::Fix::StrippedHeader]);
    assert_eq!(
        n.parse_for(Provider::AzureOpenAi).unwrap().kind(),
        KeyKind::Legacy
    );
    assert_eq!(n.parse().unwrap_err().code(), "ambiguous_provider");
    let short = fake::key(Provider::Bedrock, KeyKind::ShortTerm, 16);
    let n = byok_keys::normalize(&format!("export AWS_BEARER_TOKEN_BEDROCK='{short}'"));
    let k = n.parse_at(None, fake::short_term_issued()).unwrap();
    assert_eq!(k.kind(), KeyKind::ShortTerm);
    let late = fake::short_term_issued() + bedrock::MAX_EXPIRES;
    assert_eq!(
        n.parse_at(Some(Provider::Bedrock), late)
            .unwrap_err()
            .code(),
        "key_expired"
    );
}

#[test]
fn invented_mistral_prefixes_are_refused_with_a_hint() {
    let raw = fake::key(Provider::Mistral, KeyKind::Standard, 6);
    for prefix in ["mistral-", "ms-"] {
        for p in [None, Some(Provider::Mistral)] {
            let e = err_for(p, &format!("{prefix}{raw}"));
            assert_eq!(
                e,
                KeyError::InventedPrefix {
                    provider: Provider::Mistral,
                    prefix
                }
            );
            assert!(e.to_string().contains("Mistral keys have no prefix"), "{e}");
            assert!(e.hint().contains("without the prefix"));
        }
    }
}

#[test]
fn lengths_with_ranges_warn_rather_than_fail() {
    let random = |prefix: &str, alphabet: &[u8], n: usize| {
        let mut s = prefix.to_owned();
        fake::FakeRng::new(n as u64).fill(&mut s, alphabet, n);
        s
    };
    let xai = |n: usize| {
        random(
            "xai-",
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
            n,
        )
    };
    for n in [70, 79, 81, 120] {
        let k = ApiKey::parse(&xai(n)).unwrap();
        assert_eq!(
            k.warnings(),
            [FormatWarning::UnusualLength { length: n + 4 }]
        );
    }
    assert!(
        ApiKey::parse(&fake::key(Provider::XAi, KeyKind::Standard, 1))
            .unwrap()
            .warnings()
            .is_empty()
    );
    assert_eq!(err_for(None, &xai(69)).code(), "truncated");
    assert_eq!(
        err_for(None, &format!("{}z", xai(120))),
        KeyError::TooLong {
            position: 124,
            extra: 1
        }
    );
    let fw = |n: usize| {
        random(
            "fw_",
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            n,
        )
    };
    assert!(ApiKey::parse(&fw(24)).unwrap().warnings().is_empty());
    for n in [20, 30, 64] {
        let k = ApiKey::parse(&fw(n)).unwrap();
        assert_eq!(
            k.warnings(),
            [FormatWarning::UnverifiedLength { length: n + 3 }]
        );
        assert_eq!(k.warnings()[0].code(), "unverified_length");
    }
    assert_eq!(err_for(None, &fw(19)).code(), "truncated");
    assert_eq!(err_for(None, &format!("{}Z", fw(64))).code(), "too_long");
}

#[test]
fn azure_current_keys_need_their_markers() {
    let raw = fake::key(Provider::AzureOpenAi, KeyKind::Standard, 7);
    assert_eq!(&raw[52..58], "JQQJ99");
    assert_eq!(&raw[76..80], "ACOG");
    let broken = format!("{}X{}", &raw[..76], &raw[77..]);
    assert_eq!(
        err_for(Some(Provider::AzureOpenAi), &broken),
        KeyError::MissingMarker {
            provider: Provider::AzureOpenAi,
            marker: "ACOG"
        }
    );
    // The legacy 32 lowercase hex: an uppercase letter is pointed at.
    let legacy = fake::key(Provider::AzureOpenAi, KeyKind::Legacy, 7);
    let upper = format!("{}G{}", &legacy[..10], &legacy[11..]);
    assert_eq!(
        err_for(Some(Provider::AzureOpenAi), &upper),
        KeyError::UnexpectedCharacter {
            position: 10,
            allowed: "[0-9a-f]"
        }
    );
}

#[test]
fn placeholders_in_new_shapes_are_refused() {
    for raw in [
        format!("sk-or-v1-{}", "0".repeat(64)),
        format!("sk-or-v1-{}", "deadbeef".repeat(8)),
        format!("sk-{}", "0123456789abcdef".repeat(2)),
        format!("gsk_{}", "x".repeat(52)),
        format!("pplx-{}", "abcdefgh".repeat(6)),
    ] {
        assert_eq!(err_for(None, &raw).code(), "placeholder", "{raw}");
    }
    assert_eq!(
        err_for(Some(Provider::Cohere), &"ab".repeat(20)).code(),
        "placeholder"
    );
}

#[test]
fn bedrock_long_term_keys_must_decode_to_their_user_name() {
    let raw = fake::key(Provider::Bedrock, KeyKind::LongTerm, 8);
    assert!(raw.starts_with("ABSK"));
    let k = ApiKey::parse(&raw).unwrap();
    assert_eq!(
        (k.provider(), k.kind(), k.prefix()),
        (Provider::Bedrock, KeyKind::LongTerm, "ABSK")
    );
    assert_eq!(k.expires_at(), None);
    // Same length, but the body decodes to something else.
    let other = format!(
        "ABSK{}",
        "QWxsIHlvdXIgYmFzZTY0IGFyZSBiZWxvbmcgdG8gdXMh".repeat(3)
    );
    assert_eq!(
        err_for(None, &other),
        KeyError::MissingMarker {
            provider: Provider::Bedrock,
            marker: "BedrockAPIKey-"
        }
    );
    assert_eq!(err_for(None, &raw[..100]).code(), "truncated");
}

#[test]
fn bedrock_short_term_keys_decode_and_expire() {
    let issued = UNIX_EPOCH + Duration::from_secs(1_796_137_200); // 2026-12-01T15:00:00Z
    let raw = fake::bedrock_short_term(9, "eu-west-3", issued, Duration::from_secs(3600));
    let t = bedrock::decode_short_term(&raw).unwrap();
    assert_eq!(t.region(), "eu-west-3");
    assert_eq!(t.issued_at(), issued);
    assert_eq!(t.expires_in(), Duration::from_secs(3600));
    assert_eq!(bedrock::rfc3339(t.expires_at()), "2026-12-01T16:00:00Z");
    assert!(t.access_key_id().starts_with("ASIA"));
    assert!(t.has_session_token());
    let debug = format!("{t:?}");
    assert!(!debug.contains(t.access_key_id()), "{debug}");
    assert!(debug.contains("2026-12-01T15:00:00Z"));

    let inside = issued + Duration::from_secs(1800);
    let key = ApiKey::parse_at(&raw, None, inside).unwrap();
    assert_eq!(
        (key.provider(), key.kind()),
        (Provider::Bedrock, KeyKind::ShortTerm)
    );
    assert_eq!(key.expires_at(), Some(t.expires_at()));
    assert_eq!(key.prefix(), "bedrock-api-key-");
    let after = issued + Duration::from_secs(3600);
    let e = ApiKey::parse_at(&raw, Some(Provider::Bedrock), after).unwrap_err();
    assert_eq!(
        e,
        KeyError::KeyExpired {
            expired_at: t.expires_at()
        }
    );
    assert_eq!(
        e.to_string(),
        "this short-term key expired at 2026-12-01T16:00:00Z"
    );
    // By the system clock, this one expired long ago.
    assert_eq!(err_for(None, &raw).code(), "key_expired");
    assert_eq!(
        bedrock::check_short_term_now(&raw).unwrap_err().code(),
        "key_expired"
    );

    // The default fake: us-east-1, a fixed date, 12 hours.
    let fake_key = fake::key(Provider::Bedrock, KeyKind::ShortTerm, 1);
    let t = bedrock::decode_short_term(&fake_key).unwrap();
    assert_eq!(t.region(), "us-east-1");
    assert_eq!(t.issued_at(), fake::short_term_issued());
    assert_eq!(t.expires_in(), bedrock::MAX_EXPIRES);

    // Longer than 12 hours, or for another action: malformed, with its own code.
    let long = fake::bedrock_short_term(9, "us-east-1", issued, Duration::from_secs(43_201));
    let e = bedrock::decode_short_term(&long).unwrap_err();
    assert_eq!(e.code(), "malformed_token");
    assert!(e.to_string().contains("43200"), "{e}");
    assert_eq!(err_for(None, &long).code(), "malformed_token");
    let bad_region = fake::bedrock_short_term(9, "moon-base", issued, Duration::from_secs(60));
    assert_eq!(
        bedrock::decode_short_term(&bad_region).unwrap_err().code(),
        "malformed_token"
    );
}

#[test]
fn spec_formats_are_consistent() {
    let mut prefixes = Vec::new();
    for (p, f) in byok_keys::spec::all_formats() {
        assert!(f.kind.belongs_to(p), "{p} {}", f.kind);
        assert!(
            f.body_len.0 <= f.usual_len.0 && f.usual_len.1 <= f.body_len.1,
            "{p}"
        );
        if let Some(a) = f.anchor {
            assert!(f.prefix.contains(a), "{p}: anchor {a}");
            assert!(!a.starts_with("sk-"), "{p}: sk- is too common to anchor on");
        }
        // Prefix-less shapes are context-only; prefixed ones detected by prefix.
        assert_eq!(f.prefix.is_empty(), f.detect == Detect::Context, "{p}");
        if !f.builtin && !f.prefix.is_empty() && !f.prefix.starts_with("sk-") {
            prefixes.push(f.prefix);
        }
        if f.detect != Detect::Prefix && !f.builtin {
            assert!(
                !p.spec().context_keywords.is_empty(),
                "{p} needs context keywords"
            );
        }
    }
    for a in &prefixes {
        for b in &prefixes {
            assert!(a == b || !a.starts_with(b), "{a} starts with {b}");
        }
    }
    for p in Provider::ALL {
        for &k in p.spec().kinds {
            assert!(
                p.spec().formats_of(k).next().is_some(),
                "{p} {k} has no format"
            );
        }
    }
    assert!(Charset::LowerHex.allows(b'f') && !Charset::LowerHex.allows(b'F'));
}

// ---- scanning ----

fn spans(text: &str) -> Vec<(usize, usize, Provider)> {
    scan(text)
        .map(|f| (f.span.start, f.span.end, f.provider))
        .collect()
}

#[test]
fn prefixless_keys_are_found_near_a_keyword() {
    for (p, kind, key) in fake::every(11) {
        if fake::SHAPES.contains(&(p, kind)) {
            continue;
        }
        let keyword = p.spec().context_keywords[0];
        let upper = keyword.to_ascii_uppercase();
        let texts = [
            format!("{upper}_API_KEY={key}\n"),
            format!("{{\"provider\":\"{keyword}\",\"api_key\":\"{key}\"}}"),
            format!("{keyword}:\n  endpoint: https://example.com\n  api_key: '{key}'\n"),
            format!("export {upper}_KEY=\"{key}\" # rotated"),
        ];
        for text in &texts {
            let at = text.find(&key).unwrap();
            assert_eq!(
                spans(text),
                [(at, at + key.len(), p)],
                "{p} {kind}: {text:?}"
            );
            let f = scan(text).next().unwrap();
            assert_eq!(f.kind, kind);
            let red = redact(text);
            assert!(!red.contains(&key), "{red}");
            assert!(red.contains(&f.masked), "{red}");
            assert_eq!(scan(&red).count(), 0);
        }
        // No keyword, or the keyword too far before: nothing.
        let bare = format!("api_key={key}\n");
        assert!(spans(&bare).is_empty(), "{p} {kind}");
        assert_eq!(redact(&bare), bare);
        let far = format!("{upper}\n{}\nkey={key}", "x ".repeat(CONTEXT_WINDOW / 2));
        assert!(spans(&far).is_empty(), "{p} {kind}");
        // Named by the caller: found anywhere.
        let found: Vec<_> = scan_for(&bare, &[p]).collect();
        assert_eq!(found.len(), 1, "{p} {kind}");
        assert_eq!((found[0].provider, found[0].kind), (p, kind));
    }
}

#[test]
fn context_keys_mix_with_anchored_keys_in_order() {
    let groq = fake::key(Provider::Groq, KeyKind::Standard, 12);
    let cohere = fake::key(Provider::Cohere, KeyKind::Standard, 12);
    let mistral = fake::key(Provider::Mistral, KeyKind::Standard, 12);
    let mistral2 = fake::key(Provider::Mistral, KeyKind::Standard, 13);
    let text = format!(
        "COHERE_API_KEY={cohere} GROQ={groq}\nMISTRAL_KEYS=[{mistral}, {mistral2}] cohere again {groq}"
    );
    let found: Vec<_> = scan(&text)
        .map(|f| (text[f.span].to_owned(), f.provider))
        .collect();
    assert_eq!(
        found,
        [
            (cohere.clone(), Provider::Cohere),
            (groq.clone(), Provider::Groq),
            (mistral.clone(), Provider::Mistral),
            (mistral2.clone(), Provider::Mistral),
            (groq.clone(), Provider::Groq),
        ]
    );
    let red = redact(&text);
    for k in [&groq, &cohere, &mistral, &mistral2] {
        assert!(!red.contains(k.as_str()), "{red}");
    }
    // Streaming gives the same, however it is cut.
    for size in [1, 7, 100] {
        let mut r = Redactor::with_window(4096);
        let mut out = Vec::new();
        for piece in text.as_bytes().chunks(size) {
            r.push(piece, &mut out);
        }
        r.finish(&mut out);
        assert_eq!(
            out,
            redact_bytes(text.as_bytes()).into_owned(),
            "pieces of {size}"
        );
    }
}

#[test]
fn keywords_inside_words_and_digests_are_not_context() {
    let cohere = fake::key(Provider::Cohere, KeyKind::Standard, 14);
    assert!(spans(&format!("an incoherent note {cohere}")).is_empty());
    // A git SHA-1 near "cohere" is a digest, not a Cohere key.
    let sha = "3f2a9c1e7b4d6058a1c3e5f7092b4d6e8f0a1c2e";
    assert!(spans(&format!("cohere-ai/cohere-python@{sha}")).is_empty());
    // An MD5 near "azure" does have the legacy Azure shape.
    let md5 = "9e107d9d372bb6826bd81d3542a419d6";
    assert_eq!(spans(&format!("AZURE_OPENAI_KEY={md5}")).len(), 1);
}

#[test]
fn new_near_misses_are_masked_but_never_reported() {
    for (p, kind, key) in fake::every(15) {
        let named = !fake::SHAPES.contains(&(p, kind));
        let ctx = if named {
            format!("{} ", p.spec().context_keywords[0])
        } else {
            String::new()
        };
        for near in [
            key[..key.len() - 1].to_owned(),
            format!("{key}x"),
            format!("{key}_OLD"),
        ] {
            if ApiKey::parse_for(p, &near).is_ok() {
                continue; // a range of lengths (xAI, Fireworks): still a key
            }
            let line = format!("{ctx}key={near} next");
            assert_eq!(
                scan(&line).count(),
                0,
                "{p} {kind}: {}",
                line.replace(&near, "<NEAR>")
            );
            if !named {
                let red = redact(&line);
                let body = &key[key.len() / 2..key.len() / 2 + 12];
                assert!(!red.contains(body), "{p} {kind}: {red}");
            }
        }
    }
}

/// A key whose random body holds another provider's anchor (`plx-` inside an
/// OpenAI project key, found by `props::scan_finds_every_planted_key_at_its_span`)
/// is still found whole: the stray anchor's rejected candidate does not skip the
/// rest of the run.
#[test]
fn an_anchor_inside_a_keys_body_does_not_hide_the_key() {
    let key = fake::key(
        Provider::OpenAi,
        KeyKind::Project,
        3_792_059_797_477_988_734,
    );
    assert_eq!(
        key.find("plx-"),
        Some(58),
        "the seed still plants the stray anchor"
    );
    for text in [
        key.clone(),
        format!(" {key} "),
        format!("OPENAI_API_KEY={key}\n"),
    ] {
        let found: Vec<_> = scan(&text).map(|f| (f.provider, f.span.len())).collect();
        assert_eq!(found, vec![(Provider::OpenAi, key.len())], "{}", text.len());
        assert!(!redact(&text).contains(&key[20..60]));
    }
}

/// A generated short-term token whose base64 holds a placeholder-like run (found
/// by `short_term_tokens_round_trip`): expired, it is `key_expired`, not
/// `placeholder`.
#[test]
fn an_expired_token_is_never_called_a_placeholder() {
    let raw = fake::bedrock_short_term(
        14_142_565_211_037_826_550,
        "us-east-1",
        UNIX_EPOCH,
        Duration::from_secs(10_000),
    );
    let t = bedrock::decode_short_term(&raw).unwrap();
    assert!(ApiKey::parse_at(&raw, None, UNIX_EPOCH).is_ok());
    for named in [None, Some(Provider::Bedrock)] {
        let e = ApiKey::parse_at(&raw, named, t.expires_at()).unwrap_err();
        assert_eq!(e.code(), "key_expired", "{named:?}: {e}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random 32- and 40-character alphanumeric or hex strings, with no keyword
    /// nearby, are never reported and never masked.
    #[test]
    fn random_prefixless_strings_are_never_reported(
        s in "[A-Za-z0-9]{32}|[A-Za-z0-9]{40}|[0-9a-f]{32}|[0-9a-f]{40}|[A-Za-z0-9]{84}",
        before in "[ a-z=:\"'\\n]{0,40}",
        after in "[ a-z=:\"'\\n]{0,40}",
    ) {
        let text = format!("{before} {s} {after}");
        let mentions = ["mistral", "cohere", "azure", "deepseek", "co_api_key"]
            .iter()
            .any(|k| text.to_ascii_lowercase().contains(k));
        prop_assume!(!mentions);
        prop_assert_eq!(scan(&text).count(), 0);
        prop_assert_eq!(redact(&text), text.as_str());
        // `sk-` + 32 hex with no keyword is not reported either.
        let ds = format!("{before} sk-{} {after}", &s[..32]);
        prop_assert_eq!(scan(&ds).count(), 0);
    }

    /// Every shape, cut by one, lengthened by one, or with one character outside
    /// its charset, is refused for its provider with the position of the problem.
    #[test]
    fn near_misses_of_every_shape(
        which in 0usize..22,
        seed in any::<u64>(),
        at in any::<proptest::sample::Index>(),
    ) {
        let (p, kind, key) = fake::every(seed).swap_remove(which);
        prop_assume!(!matches!(kind, KeyKind::ShortTerm | KeyKind::LongTerm));
        let f = p.spec().formats_of(kind).next().unwrap();
        prop_assume!(!f.builtin && f.body_len.0 == f.body_len.1);
        let pre = f.prefix.len();
        let short = &key[..key.len() - 1];
        prop_assert_eq!(
            ApiKey::parse_for(p, short).unwrap_err(),
            KeyError::Truncated { position: key.len() - 1, missing: Some(1) }
        );
        let long = format!("{key}a");
        prop_assert_eq!(
            ApiKey::parse_for(p, &long).unwrap_err(),
            KeyError::TooLong { position: key.len(), extra: 1 }
        );
        // A character outside the charset (but a key character) in the body.
        let i = pre + at.index(key.len() - pre);
        let odd = match f.charset {
            Charset::LowerHex => 'G',
            Charset::Alnum => '_',
            _ => '.',
        };
        let markers_hit = f.markers.iter().any(|&(m, t)| (m..m + t.len()).contains(&i));
        let mut bad = key.clone();
        bad.replace_range(i..i + 1, &odd.to_string());
        let e = ApiKey::parse_for(p, &bad).unwrap_err();
        if !markers_hit {
            prop_assert_eq!(e.position(), Some(i), "{} {}", e.code(), e);
        }
        // A wrong prefix.
        if !f.prefix.is_empty() {
            let wrong = format!("{}{}", f.prefix.replace(['_', '-'], "~").replace('~', "."), &key[pre..]);
            prop_assert!(ApiKey::parse(&wrong).is_err());
            prop_assert!(ApiKey::parse_for(p, &wrong).is_err());
        }
        // And scanning never reports any of them.
        for text in [short.to_owned(), long, bad] {
            let line = format!("{} key={text} .", p.spec().context_keywords.first().unwrap_or(&""));
            prop_assert_eq!(scan(&line).count(), 0, "{}", line);
        }
    }

    /// Decoding never panics, whatever follows the prefix.
    #[test]
    fn short_term_decode_never_panics(body in any::<Vec<u8>>(), b64 in "[A-Za-z0-9+/=%&]{0,600}") {
        let text = format!("bedrock-api-key-{}", String::from_utf8_lossy(&body));
        let _ = bedrock::decode_short_term(&text);
        let _ = bedrock::decode_short_term(&format!("bedrock-api-key-{b64}"));
        let _ = ApiKey::parse(&format!("bedrock-api-key-{b64}"));
        let _ = scan(&format!("x bedrock-api-key-{b64} ABSK{b64}")).count();
    }

    /// Generated tokens decode to what they were made from.
    #[test]
    fn short_term_tokens_round_trip(
        seed in any::<u64>(),
        region in proptest::sample::select(vec!["us-east-1", "eu-central-2", "ap-southeast-4", "us-gov-west-1"]),
        issued in 0u64..4_000_000_000,
        expires in 1u64..=43_200,
    ) {
        let at = UNIX_EPOCH + Duration::from_secs(issued);
        let raw = fake::bedrock_short_term(seed, region, at, Duration::from_secs(expires));
        let t = bedrock::decode_short_term(&raw).unwrap();
        prop_assert_eq!(t.region(), region);
        prop_assert_eq!(t.issued_at(), at);
        prop_assert_eq!(t.expires_in(), Duration::from_secs(expires));
        let k = ApiKey::parse_at(&raw, None, at).unwrap();
        prop_assert_eq!(k.kind(), KeyKind::ShortTerm);
        let e = ApiKey::parse_at(&raw, None, t.expires_at()).unwrap_err();
        prop_assert_eq!(e.code(), "key_expired");
        prop_assert!(e.to_string().contains(&bedrock::rfc3339(t.expires_at())));
        // The signature never shows.
        let sig_free = format!("{t:?} {e} {k:?}");
        prop_assert!(!sig_free.contains("X-Amz-Signature"));
        prop_assert!(!sig_free.contains(&raw[20..40]));
        // And the scanner finds it whole.
        let text = format!("AWS_BEARER_TOKEN_BEDROCK={raw}\n");
        let spans: Vec<_> = scan(&text).map(|f| f.span).collect();
        prop_assert_eq!(spans, vec![25..25 + raw.len()]);
        prop_assert!(!redact(&text).contains(&raw[16..]));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Context keys (and prefixed ones) across Redactor windows: streamed output is
    /// byte for byte the whole-text output, and no key survives.
    #[test]
    fn streamed_redaction_of_context_keys_equals_whole_text(
        pieces in proptest::collection::vec((0usize..22, any::<u64>(), 0usize..3000, 0usize..4), 1..16),
        cuts in proptest::collection::vec(1usize..6000, 1..20),
    ) {
        let mut text = String::new();
        let mut keys = Vec::new();
        for (which, seed, pad, style) in pieces {
            let (p, _, key) = fake::every(seed).swap_remove(which);
            text.push_str(&"lorem ipsum, ".repeat(pad / 13));
            let kw = p.spec().context_keywords.first().copied().unwrap_or("key");
            match style {
                0 => text.push_str(&format!("{}_API_KEY={key}\n", kw.to_ascii_uppercase())),
                1 => text.push_str(&format!("{{\"provider\":\"{kw}\",\"key\":\"{key}\"}}\n")),
                2 => text.push_str(&format!("{kw}:\n  note: {}\n  key: {key}\n", "x".repeat(pad % 150))),
                _ => text.push_str(&format!("{kw} {key} ")),
            }
            keys.push(key);
        }
        let whole = redact_bytes(text.as_bytes()).into_owned();
        let mut r = Redactor::with_window(4096);
        let mut out = Vec::new();
        let (mut at, mut i) = (0, 0);
        while at < text.len() {
            let n = cuts[i % cuts.len()].min(text.len() - at);
            r.push(&text.as_bytes()[at..at + n], &mut out);
            at += n;
            i += 1;
        }
        r.finish(&mut out);
        prop_assert!(out == whole, "streamed output differs");
        let red = String::from_utf8(whole).unwrap();
        for k in &keys {
            prop_assert!(!red.contains(k.as_str()), "a key survived");
        }
        prop_assert_eq!(scan(&red).count(), 0);
        // Everything planted is found, in order.
        let found: Vec<String> = scan(&text).map(|f| text[f.span].to_owned()).collect();
        prop_assert_eq!(found, keys);
    }
}
