//! Property tests: parsing, normalising, scanning and redacting hold for any input.

use byok_keys::{ApiKey, ExposeSecret, fake, normalize, redact, scan};
use proptest::prelude::*;

fn shape() -> impl Strategy<Value = (byok_keys::Provider, byok_keys::KeyKind)> {
    proptest::sample::select(fake::SHAPES.to_vec())
}

/// Text that cannot touch a planted key: no key characters at its ends.
fn noise() -> impl Strategy<Value = String> {
    "[ a-z0-9\\-_.,;:'\"(){}<>&=/\\n\u{e9}\u{4e2d}]{0,60}"
}

fn separator() -> impl Strategy<Value = char> {
    proptest::sample::select(vec![
        ' ', '\n', '"', '\'', '(', ')', '&', '.', '<', '>', ',', '=', ':', '`', '\t',
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_generated_key_parses_to_its_shape(s in shape(), seed in any::<u64>()) {
        let raw = fake::key(s.0, s.1, seed);
        let key = ApiKey::parse(&raw).unwrap();
        prop_assert_eq!((key.provider(), key.kind()), s);
        let again = ApiKey::parse(&raw).unwrap();
        prop_assert_eq!(key.masked(), again.masked());
        prop_assert_eq!(key.fingerprint(), again.fingerprint());
        prop_assert!(key.masked().chars().count() <= key.prefix().len() + 5);
    }

    #[test]
    fn new_openai_lengths_parse_with_a_warning_or_none(half in 16usize..=160, seed in any::<u64>()) {
        let raw = fake::key_with_half(byok_keys::Provider::OpenAi, byok_keys::KeyKind::Project, half, seed);
        let key = ApiKey::parse(&raw).unwrap();
        prop_assert_eq!(key.warnings().is_empty(), [20, 58, 74].contains(&half));
    }

    #[test]
    fn normalize_is_idempotent(s in any::<String>()) {
        let once = normalize(&s).into_secret();
        let twice = normalize(once.expose_secret());
        prop_assert!(twice.fixes().is_empty(), "{:?}", twice.fixes());
        let twice = twice.into_secret();
        prop_assert_eq!(twice.expose_secret(), once.expose_secret());
    }

    #[test]
    fn normalize_recovers_wrapped_keys(s in shape(), seed in any::<u64>(), wrap in 0usize..6) {
        let raw = fake::key(s.0, s.1, seed);
        let pasted = match wrap {
            0 => format!("  {raw}\n"),
            1 => format!("\"{raw}\""),
            2 => format!("Bearer {raw}"),
            3 => format!("export OPENAI_API_KEY='{raw}';"),
            4 => format!("\u{200B}{raw}\u{FEFF}"),
            _ => format!("x-goog-api-key: {raw}"),
        };
        let n = normalize(&pasted);
        prop_assert!(!n.fixes().is_empty());
        let key = n.parse().unwrap();
        prop_assert_eq!(key.expose_secret(), raw.as_str());
    }

    #[test]
    fn nothing_panics(s in any::<String>()) {
        let _ = ApiKey::parse(&s).map(|k| k.masked());
        let _ = normalize(&s).parse();
        let _ = scan(&s).count();
        let _ = redact(&s);
    }

    #[test]
    fn errors_point_inside_the_input(s in "[ -~\u{200B}\u{e9}]{0,200}") {
        if let Err(e) = ApiKey::parse(&s) {
            if let Some(p) = e.position() {
                prop_assert!(p <= s.chars().count(), "{} at {p}", e.code());
            }
        }
    }

    #[test]
    fn scan_finds_every_planted_key_at_its_span(
        parts in proptest::collection::vec((noise(), separator(), shape(), any::<u64>(), separator()), 0..8),
        tail in noise(),
    ) {
        let mut text = String::new();
        let mut planted = Vec::new();
        for (n, open, s, seed, close) in &parts {
            text.push_str(n);
            text.push(*open);
            let k = fake::key(s.0, s.1, *seed);
            planted.push((text.len(), text.len() + k.len()));
            text.push_str(&k);
            text.push(*close);
        }
        text.push_str(&tail);
        let found: Vec<_> = scan(&text).map(|f| (f.span.start, f.span.end)).collect();
        prop_assert_eq!(&found, &planted);

        let red = redact(&text);
        for &(a, b) in &planted {
            prop_assert!(!red.contains(&text[a..b]));
        }
        prop_assert_eq!(scan(&red).count(), 0);
    }
}
