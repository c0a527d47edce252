//! The scanner finds keys in every context the issue lists and never reports near-misses.

use std::borrow::Cow;

use byok_keys::{KeyKind, Provider, fake, redact, scan};

fn spans(text: &str) -> Vec<(usize, usize)> {
    scan(text).map(|f| (f.span.start, f.span.end)).collect()
}

fn found_once(text: &str, key: &str) {
    let at = text.find(key).expect("planted");
    assert_eq!(
        spans(text),
        vec![(at, at + key.len())],
        "in {:?}",
        text.replace(key, "<KEY>")
    );
}

#[test]
fn finds_keys_in_every_context() {
    for (_, _, k) in fake::all(1) {
        let contexts = [
            k.clone(),
            format!("{{\"api_key\":\"{k}\"}}"),
            format!("\"{{\\\"key\\\":\\\"{k}\\\"}}\""),
            format!("OPENAI_API_KEY={k}\nOTHER=1"),
            format!("export KEY='{k}'"),
            format!("let key = \"{k}\";"),
            format!("https://generativelanguage.googleapis.com/v1beta/models?key={k}&alt=json"),
            format!("<td>{k}</td>"),
            format!("[link]({k})"),
            format!("`{k}`."),
            format!("the key is {k}."),
            format!("Authorization: Bearer {k}\r\n"),
            format!("\"log line\\n{k}\""),
            format!("\"tab\\t{k}\""),
            format!("key:{k},next"),
            format!("(\u{00e9}\u{4e2d}) {k} (\u{00e9})"),
        ];
        for text in &contexts {
            found_once(text, &k);
        }
    }
}

#[test]
fn finding_carries_provider_kind_and_mask() {
    for (p, kind, k) in fake::all(2) {
        let f: Vec<_> = scan(&format!("x {k} y")).collect();
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].provider, f[0].kind), (p, kind));
        assert!(f[0].masked.ends_with(&k[k.len() - 4..]));
        assert!(!format!("{:?}", f[0]).contains(&k[k.len() - 20..k.len() - 4]));
    }
}

#[test]
fn many_keys_in_order() {
    let keys: Vec<String> = fake::all(3).into_iter().map(|(_, _, k)| k).collect();
    let text = keys.join("\n");
    let found: Vec<_> = scan(&text).collect();
    assert_eq!(found.len(), keys.len());
    for (f, k) in found.iter().zip(&keys) {
        assert_eq!(&text[f.span.clone()], k);
    }
}

#[test]
fn near_misses_are_never_reported() {
    let google = fake::key(Provider::Google, KeyKind::Standard, 4);
    let project = fake::key(Provider::OpenAi, KeyKind::Project, 4);
    let anthropic = fake::key(Provider::Anthropic, KeyKind::Api, 4);
    let misses = [
        format!("key={}&x", &google[..38]),
        format!("key={google}Q&x"),
        project.replace("T3BlbkFJ", "T4BlbkFJ"),
        format!("{}BB", &anthropic[..anthropic.len() - 2]),
        format!("x{project}"),
        format!("{project}x"),
        format!("-{project}"),
        format!("{project}-"),
        format!("_{google}"),
        "sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx".into(),
        "task-runner disk-usage risk-score ask-me mask-sk-".into(),
        "AIza".into(),
        "sk-".into(),
        "FAQ.html AQ.short".into(),
        format!("sk-ant-oat01-{}", &anthropic[13..]),
    ];
    for m in &misses {
        assert_eq!(spans(m), vec![], "reported a near-miss");
    }
}

#[test]
fn a_rejected_auth_prefix_does_not_hide_the_key_after_it() {
    // Found by the scan fuzz target: the run after a rejected `AQ.` is the start of the next key.
    let k = fake::key(Provider::Google, KeyKind::Auth, 12);
    for text in [
        format!("x AQ.{k} y"),
        format!("AQ.AQ.{k}."),
        format!("\"AQ.AQ.AQ.{k}\""),
    ] {
        found_once(&text, &k);
        assert_eq!(
            spans(&redact(&text)),
            vec![],
            "nothing left after redaction"
        );
    }
}

#[test]
fn anchors_inside_a_found_key_are_not_reported_again() {
    // Found by the scan fuzz target: an auth key whose body is itself a 39-character
    // `AIza…` was reported twice, once whole and once from the `AIza` after the dot.
    let inner = fake::key(Provider::Google, KeyKind::Standard, 13);
    let auth = format!("AQ.{inner}");
    let text = format!("\\n{auth} and \"{auth}\"");
    let found: Vec<_> = scan(&text).collect();
    assert_eq!(found.len(), 2);
    assert!(
        found
            .iter()
            .all(|f| f.kind == KeyKind::Auth && text[f.span.clone()] == auth)
    );
}

#[test]
fn a_rejected_candidate_does_not_hide_a_later_key() {
    let k = fake::key(Provider::OpenAi, KeyKind::Legacy, 5);
    let text = format!("sk-short sk-proj-nope {k}");
    found_once(&text, &k);
}

#[test]
fn redact_masks_every_key_and_borrows_when_clean() {
    let keys: Vec<String> = fake::all(6).into_iter().map(|(_, _, k)| k).collect();
    let text = format!("a {} b\n{}\n", keys.join(" , "), "tail");
    let red = redact(&text);
    for k in &keys {
        assert!(!red.contains(k.as_str()));
        assert!(!red.contains(&k[k.len() - 12..k.len() - 4]));
    }
    assert_eq!(spans(&red), vec![]);
    assert!(red.ends_with("\ntail\n"));
    assert!(matches!(
        redact("no keys, just task-list"),
        Cow::Borrowed(_)
    ));
}

#[test]
fn scan_bytes_works_on_non_utf8() {
    let k = fake::key(Provider::Anthropic, KeyKind::Admin, 7);
    let mut bytes = vec![0xff, 0xfe, b' '];
    bytes.extend_from_slice(k.as_bytes());
    bytes.extend_from_slice(&[0xc3, 0x28]);
    let f: Vec<_> = byok_keys::scan_bytes(&bytes).collect();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].span, 3..3 + k.len());
    let red = byok_keys::redact_bytes(&bytes);
    assert!(!red.windows(20).any(|w| w == &k.as_bytes()[20..40]));
}
