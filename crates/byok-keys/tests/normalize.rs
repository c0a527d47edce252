//! Paste-box normalisation: each fix reported, positions mapped back, never joins a split key.

use byok_keys::{Fix, KeyError, KeyKind, Provider, fake, normalize};

#[test]
fn fixes_what_pasting_does() {
    let raw = fake::key(Provider::OpenAi, KeyKind::Project, 1);
    let cases: Vec<(String, Vec<Fix>)> = vec![
        (format!("{raw}\n"), vec![Fix::TrimmedWhitespace]),
        (
            format!("  \"{raw}\"  "),
            vec![Fix::TrimmedWhitespace, Fix::StrippedQuotes],
        ),
        (format!("'{raw}'"), vec![Fix::StrippedQuotes]),
        (format!("“{raw}”"), vec![Fix::StrippedQuotes]),
        (format!("Bearer {raw}"), vec![Fix::StrippedBearer]),
        (
            format!("Authorization: Bearer {raw}"),
            vec![Fix::StrippedBearer],
        ),
        (
            format!("authorization: bearer {raw}"),
            vec![Fix::StrippedBearer],
        ),
        (
            format!("OPENAI_API_KEY={raw}"),
            vec![Fix::StrippedAssignment],
        ),
        (
            format!("export OPENAI_API_KEY=\"{raw}\";"),
            vec![
                Fix::StrippedTrailingPunctuation,
                Fix::StrippedAssignment,
                Fix::StrippedQuotes,
            ],
        ),
        (
            format!("openai_api_key: {raw}"),
            vec![Fix::StrippedAssignment],
        ),
        (format!("x-api-key: {raw}"), vec![Fix::StrippedHeader]),
        (
            format!("\"{raw}\","),
            vec![Fix::StrippedTrailingPunctuation, Fix::StrippedQuotes],
        ),
        (
            format!("\u{FEFF}{raw}\u{200B}"),
            vec![Fix::RemovedInvisible { count: 2 }],
        ),
        (
            format!("{}\u{200B}{}", &raw[..30], &raw[30..]),
            vec![Fix::RemovedInvisible { count: 1 }],
        ),
    ];
    for (pasted, fixes) in cases {
        let n = normalize(&pasted);
        assert_eq!(
            n.fixes(),
            fixes,
            "{:?}",
            pasted.escape_debug().to_string().get(..30)
        );
        let key = n.parse().expect("parses after normalising");
        assert_eq!(key.expose_secret(), raw);
    }
}

#[test]
fn clean_input_has_no_fixes() {
    for (_, _, raw) in fake::all(2) {
        assert!(normalize(&raw).fixes().is_empty());
    }
}

#[test]
fn never_joins_a_split_key_and_maps_the_position_back() {
    let raw = fake::key(Provider::Anthropic, KeyKind::Api, 3);
    let pasted = format!("  \"{} {}\"\n", &raw[..50], &raw[50..]);
    let e = normalize(&pasted).parse().unwrap_err();
    // 2 spaces + quote precede the key: position 53 in what the user pasted.
    assert_eq!(
        e,
        KeyError::Whitespace {
            position: 53,
            at_edge: false
        }
    );
}

#[test]
fn truncation_position_points_after_the_last_pasted_character() {
    let raw = fake::key(Provider::Google, KeyKind::Standard, 4);
    let e = normalize(&format!("Bearer {}", &raw[..30]))
        .parse()
        .unwrap_err();
    assert_eq!(
        e,
        KeyError::Truncated {
            position: 37,
            missing: Some(9)
        }
    );
}

#[test]
fn parse_for_checks_the_provider() {
    let raw = fake::key(Provider::Google, KeyKind::Auth, 5);
    let n = normalize(&raw);
    assert_eq!(n.parse_for(Provider::Google).unwrap().kind(), KeyKind::Auth);
    assert_eq!(
        n.parse_for(Provider::OpenAi).unwrap_err().code(),
        "wrong_provider"
    );
}

#[test]
fn debug_shows_fixes_only() {
    let raw = fake::key(Provider::OpenAi, KeyKind::Admin, 6);
    let shown = format!("{:?}", normalize(&format!("'{raw}'")));
    assert!(!shown.contains(&raw[9..30]));
    assert!(shown.contains("StrippedQuotes"));
}

#[test]
fn deeply_nested_wrapping_terminates_quickly() {
    let pasted = "\"".repeat(100_000);
    let n = normalize(&pasted);
    assert_eq!(n.parse().unwrap_err().code(), "empty");
}
