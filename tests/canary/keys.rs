//! `byok::keys`: parse, parse_for, from_secret, normalize, scan, redact and every
//! error path, with every key shape.

use byok::keys::{
    ApiKey, KeyError, Provider, Redactor, SecretString, normalize, redact, redact_bytes, scan,
    scan_bytes,
};

use crate::canaries::{self as canary, assert_clean};
use crate::capture::{assert_emitted_clean, init, unwrap_panic};
use crate::{debugged, json, shown};

const PROVIDERS: [Provider; 3] = [Provider::OpenAi, Provider::Anthropic, Provider::Google];

/// Everything a caller can see of a key error.
fn error_surfaces(e: &KeyError) -> String {
    format!(
        "{}{}{}|{}|{:?}\n",
        shown(e),
        json(e),
        e.code(),
        e.hint(),
        e.position()
    )
}

/// Ways a pasted key goes wrong, each still carrying most of the canary's body.
fn broken_variants(raw: &str) -> Vec<(&'static str, String)> {
    let mid = raw.len() / 2;
    vec![
        ("truncated", raw[..raw.len() - 5].to_owned()),
        ("too long", format!("{raw}Zq9x")),
        (
            "invalid character",
            format!("{}!{}", &raw[..mid], &raw[mid + 1..]),
        ),
        ("inner space", format!("{} {}", &raw[..mid], &raw[mid..])),
        (
            "zero width",
            format!("{}\u{200B}{}", &raw[..mid], &raw[mid..]),
        ),
        (
            "bidi control",
            format!("{}\u{202E}{}", &raw[..mid], &raw[mid..]),
        ),
        ("doubled", format!("{raw}{raw}")),
        ("two keys", format!("{raw} {raw}")),
        ("prefix only swapped", format!("xx{}", &raw[2..])),
        ("placeholder tail", format!("{}...", &raw[..raw.len() - 3])),
        ("non-ascii", format!("{}é{}", &raw[..mid], &raw[mid + 1..])),
    ]
}

/// Ways a key is pasted that `normalize` cleans up.
fn pasted_variants(raw: &str) -> Vec<String> {
    vec![
        format!("  {raw}\n"),
        format!("\"{raw}\""),
        format!("'{raw}',"),
        format!("Bearer {raw}"),
        format!("Authorization: Bearer {raw}"),
        format!("x-api-key: {raw}"),
        format!("OPENAI_API_KEY={raw}"),
        format!("export ANTHROPIC_API_KEY=\"{raw}\";"),
        format!("\u{FEFF}{raw}\u{200B}"),
        format!("{raw}."),
    ]
}

#[test]
fn parsing_every_shape_shows_only_the_mask() {
    init();
    let mut out = String::new();
    for (provider, kind, raw) in canary::keys(0) {
        let key = ApiKey::parse(&raw).expect("canary parses");
        assert_eq!((key.provider(), key.kind()), (provider, kind));
        out += &shown(&key);
        out += &format!(
            "{}|{}|{}|{}|{:?}|{}|{}\n",
            key.masked(),
            key.fingerprint(),
            key.fingerprint().to_hex(),
            key.prefix(),
            key.warnings(),
            key.len(),
            key.is_admin()
        );
        out += &debugged(&key.fingerprint());
        out += &json(&key.fingerprint());
        for w in key.warnings() {
            out += &format!("{w}\n{w:?}\n{}", json(w));
        }
        out += &debugged(&key.clone());
        out += &debugged(&Some(key.clone()));
        out += &debugged(&vec![key.clone()]);

        let from_secret = ApiKey::from_secret(SecretString::from(raw.clone())).expect("parses");
        assert_eq!(from_secret, key);
        out += &shown(&from_secret);
        out += &debugged(&SecretString::from(raw.clone()));

        for other in PROVIDERS {
            match ApiKey::parse_for(other, &raw) {
                Ok(k) => {
                    assert_eq!(other, provider);
                    out += &shown(&k);
                }
                Err(e) => {
                    assert_ne!(other, provider);
                    out += &error_surfaces(&e);
                    out += &unwrap_panic(Err::<(), _>(e));
                }
            }
            if let Err(e) = key.require_provider(other) {
                out += &error_surfaces(&e);
            }
        }
        // A caller that expected a failure panics with the key's Debug.
        out += &unwrap_panic(Ok::<_, KeyError>(key));
    }
    assert_clean("keys: parse surfaces", out.as_bytes());
    assert_emitted_clean("keys: parse");
}

#[test]
fn every_error_path_keeps_the_body_out() {
    init();
    let mut out = String::new();
    let mut codes = std::collections::BTreeSet::new();
    for (provider, _, raw) in canary::keys(1) {
        for (what, broken) in broken_variants(&raw) {
            let results = [
                ApiKey::parse(&broken),
                ApiKey::parse_for(provider, &broken),
                ApiKey::from_secret(SecretString::from(broken.clone())),
                normalize(&broken).parse(),
                normalize(&broken).parse_for(provider),
            ];
            for result in results {
                match result {
                    Ok(k) => out += &shown(&k),
                    Err(e) => {
                        codes.insert(e.code());
                        out += &format!("{what}: {}", error_surfaces(&e));
                        out += &unwrap_panic(Err::<(), _>(e));
                    }
                }
            }
            let n = normalize(&broken);
            out += &debugged(&n);
            out += &json(&n.fixes());
            for f in n.fixes() {
                out += &format!("{}\n{f:?}\n", f.message());
            }
        }
    }
    // The variants reach the distinct error paths, not one generic refusal.
    for code in ["truncated", "too_long", "invalid_character", "whitespace"] {
        assert!(codes.contains(code), "{code} not reached: {codes:?}");
    }
    assert_clean("keys: error surfaces", out.as_bytes());
    assert_emitted_clean("keys: errors");
}

#[test]
fn normalize_cleans_pastes_without_echoing_them() {
    init();
    let mut out = String::new();
    for (provider, kind, raw) in canary::keys(2) {
        for pasted in pasted_variants(&raw) {
            let n = normalize(&pasted);
            out += &debugged(&n);
            out += &json(&n.fixes());
            for f in n.fixes() {
                out += &format!("{}\n{f:?}\n", f.message());
            }
            match n.parse() {
                Ok(k) => {
                    assert_eq!((k.provider(), k.kind()), (provider, kind), "{pasted:?}");
                    assert_eq!(k.expose_secret(), raw, "the secret survives normalisation");
                    out += &shown(&k);
                }
                Err(e) => out += &error_surfaces(&e),
            }
            match n.parse_for(provider) {
                Ok(k) => out += &shown(&k),
                Err(e) => out += &error_surfaces(&e),
            }
            out += &debugged(&n.into_secret());
        }
    }
    assert_clean("keys: normalize surfaces", out.as_bytes());
    assert_emitted_clean("keys: normalize");
}

#[test]
fn scan_and_redact_report_masks_and_remove_every_key() {
    init();
    let mut out = String::new();
    let keys = canary::keys(3);
    let mut text = String::from("# config dump\n");
    for (i, (_, _, raw)) in keys.iter().enumerate() {
        text += &match i % 5 {
            0 => format!("KEY_{i}={raw}\n"),
            1 => format!("{{\"api_key\": \"{raw}\"}}\n"),
            2 => format!("curl -H 'Authorization: Bearer {raw}' https://x\n"),
            3 => format!("https://example.com/v1/models?key={raw}&alt=json\n"),
            _ => format!("<td>{raw}</td> and (`{raw}`).\n"),
        };
    }
    let findings: Vec<_> = scan(&text).collect();
    assert!(
        findings.len() >= keys.len(),
        "every key is found: {findings:?}"
    );
    for f in &findings {
        out += &debugged(f);
        out += &json(f);
    }
    let byte_findings: Vec<_> = scan_bytes(text.as_bytes()).collect();
    assert_eq!(byte_findings, findings);

    let redacted = redact(&text);
    assert_clean("keys: redact output", redacted.as_bytes());
    let redacted_bytes = redact_bytes(text.as_bytes());
    assert_clean("keys: redact_bytes output", &redacted_bytes);
    // Redaction is idempotent: nothing is left for a second pass.
    assert_eq!(scan(&redacted).count(), 0, "{redacted}");
    assert_clean("keys: scan surfaces", out.as_bytes());
    assert_emitted_clean("keys: scan");
}

#[test]
fn findings_iterator_debug() {
    let (_, _, raw) = &canary::keys(3)[0];
    let text = format!("KEY={raw}\n");
    let findings = scan(&text);
    assert_clean("keys: Debug of Findings", debugged(&findings).as_bytes());
}

#[test]
fn redact_masks_near_misses_and_log_shapes_whole_and_streamed() {
    init();
    for n in 0..4 {
        let text = canary::near_miss_keys(n);
        let whole = redact(&text);
        assert_clean("keys: redact of near misses", whole.as_bytes());
        assert_eq!(redact_bytes(text.as_bytes()), whole.as_bytes());
        // One long line, streamed in small pieces through small windows.
        let line = text.replace('\n', " ").repeat(8);
        let mut r = Redactor::with_window(4096);
        let mut out = Vec::new();
        for piece in line.as_bytes().chunks(333) {
            r.push(piece, &mut out);
        }
        r.finish(&mut out);
        assert_clean("keys: streamed redact of near misses", &out);
        assert_eq!(out, redact_bytes(line.as_bytes()).as_ref());
        assert_clean("keys: Debug of Redactor", debugged(&r).as_bytes());
        // Scan stays exact: what it reports parses.
        for f in scan(&text) {
            assert!(ApiKey::parse(&text[f.span]).is_ok());
        }
    }
    assert_emitted_clean("keys: near misses");
}
