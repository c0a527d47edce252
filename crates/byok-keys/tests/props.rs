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

/// A piece of a log: a key, a near miss, context, noise, or a run of key characters
/// long enough to cross a window.
fn log_piece() -> impl Strategy<Value = String> {
    (
        0usize..13,
        any::<u64>(),
        0usize..12_000,
        "[ -~\u{200B}\u{FEFF}\u{e9}\\n]{0,40}",
    )
        .prop_map(|(what, seed, n, noise)| {
            let (p, k) = fake::SHAPES[(seed % 9) as usize];
            let key = fake::key(p, k, seed);
            let run: String = (0..n)
                .map(|i| b"aZ0_-q9X"[(i + seed as usize) % 8] as char)
                .collect();
            match what {
                0 => key,
                1 => key[..key.len() - 1 - (seed % 3) as usize].to_owned(),
                2 => format!("{key}{run}"),
                3 => format!("{}\u{200B}{}", &key[..key.len() / 2], &key[key.len() / 2..]),
                4 => format!("\x1b[32m{key}\x1b[0m"),
                5 => format!("%22{}\\u0041{}", &key[..9], &key[10..]),
                6 => format!("{run}{key}"),
                7 => format!("sk-proj-{run}T3BlbkFJ{run}"),
                8 => run,
                // byok's own API tokens: whole, cut short, glued to a long run.
                9 => api_token(seed),
                10 => api_token(seed)[..(seed % 106) as usize].to_owned(),
                11 => format!("{}{run}", api_token(seed)),
                _ => noise,
            }
        })
}

/// A byok API token (`byok_app_<id>_<secret>`) made from `seed`.
fn api_token(seed: u64) -> String {
    let hex = |n: usize, salt: u64| -> String {
        (0..n)
            .map(|i| {
                b"0123456789abcdef"[((seed ^ salt).rotate_left(i as u32 % 64) as usize + i) % 16]
                    as char
            })
            .collect()
    };
    let tag = byok_keys::token::TOKEN_TAGS[(seed % 3) as usize];
    format!("byok_{tag}_{}_{}", hex(32, 1), hex(64, 2))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The streaming redactor gives byte for byte what whole-text redaction gives,
    /// however the stream is cut, with lines far longer than its window.
    #[test]
    fn streamed_redaction_equals_whole_text_redaction(
        pieces in proptest::collection::vec((log_piece(), "[ \\n\"=.]{0,2}"), 1..24),
        cuts in proptest::collection::vec(1usize..9000, 1..40),
    ) {
        let text: String = pieces.iter().map(|(p, sep)| format!("{p}{sep}")).collect();
        let whole = byok_keys::redact_bytes(text.as_bytes()).into_owned();
        let mut r = byok_keys::Redactor::with_window(4096);
        let mut out = Vec::new();
        let (mut at, mut i) = (0, 0);
        while at < text.len() {
            let n = cuts[i % cuts.len()].min(text.len() - at);
            r.push(&text.as_bytes()[at..at + n], &mut out);
            at += n;
            i += 1;
        }
        r.finish(&mut out);
        prop_assert!(out == whole, "streamed output differs ({} vs {} bytes)", out.len(), whole.len());
        prop_assert_eq!(scan(std::str::from_utf8(&whole).unwrap()).count(), 0);
        prop_assert!(byok_keys::token::scan_tokens(&whole).is_empty());
        prop_assert_eq!(byok_keys::redact_bytes(&whole), whole.clone());
    }
}
