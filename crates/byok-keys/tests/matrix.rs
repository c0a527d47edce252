//! Keys in the shapes logs really hold them, generated: every provider and kind ×
//! what happened to the key (whole, cut short, glued to more, an invisible character
//! or a JSON escape inside) × what surrounds it (ANSI colours, URL encoding, JSON
//! escapes, …). `redact` must leave no 12-character window of any key's body, even
//! once invisible characters and escapes are decoded; `scan` reports exactly the
//! strings that parse as keys where the context is unambiguous, and nothing else.

use byok_keys::{ApiKey, KeyKind, Redactor, fake, redact, redact_bytes, scan};

/// Invisible characters `normalize` removes (so `inspect` accepts the key with one inside).
const INVISIBLE: [char; 8] = [
    '\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}', '\u{202E}', '\u{2066}', '\u{00AD}',
];

/// What happened to the key: (name, text, whether it is still the key as a whole string).
fn variants(key: &str, every_position: bool) -> Vec<(String, String)> {
    let mut out = vec![("whole".to_owned(), key.to_owned())];
    for cut in 1..=3 {
        out.push((format!("cut {cut}"), key[..key.len() - cut].to_owned()));
    }
    for glue in ["_OLD", "x", "-2", "_backup_2024", "Q9"] {
        out.push((format!("glued {glue}"), format!("{key}{glue}")));
    }
    out.push(("doubled".into(), format!("{key}{key}")));
    // Positions inside the key: all of them, or a spread including the anchors.
    let positions: Vec<usize> = if every_position {
        (1..key.len()).collect()
    } else {
        let n = key.len();
        vec![
            1,
            2,
            3,
            5,
            9,
            14,
            n / 3,
            n / 2 - 1,
            n / 2,
            n / 2 + 3,
            n - 5,
            n - 1,
        ]
    };
    for &p in &positions {
        for (n, c) in INVISIBLE.into_iter().enumerate() {
            // Every position for two of them, a spread for the others.
            if every_position && n > 1 && p % 7 != n % 7 {
                continue;
            }
            // The rarer invisibles are tested where they do not split an anchor
            // (docs/KEYS.md: only the commonest are looked for inside one).
            if c == '\u{00AD}' && splits_anchor(key, p) {
                continue;
            }
            out.push((
                format!("U+{:04X} at {p}", c as u32),
                format!("{}{c}{}", &key[..p], &key[p..]),
            ));
        }
        out.push((
            format!("\\u200b at {p}"),
            format!("{}\\u200b{}", &key[..p], &key[p..]),
        ));
        let b = key.as_bytes()[p];
        out.push((
            format!("char {p} as \\u{b:04x}"),
            format!("{}\\u{b:04x}{}", &key[..p], &key[p + 1..]),
        ));
        out.push((
            format!("char {p} as \\u{b:04X}"),
            format!("{}\\u{b:04X}{}", &key[..p], &key[p + 1..]),
        ));
    }
    out
}

/// Whether inserting at `p` splits one of the scanner's literal anchors.
fn splits_anchor(key: &str, p: usize) -> bool {
    [
        "T3BlbkFJ",
        "-ant-",
        "AIza",
        "AQ.",
        "-or-v1-",
        "gsk_",
        "xai-",
        "tgp_v1_",
        "fw_",
        "plx-",
        "ABSK",
        "bedrock-api-key-",
    ]
    .iter()
    .any(|a| key.match_indices(a).any(|(i, _)| i < p && p < i + a.len()))
}

/// How the key is surrounded: (name, template with `{}`, whether `scan` must find a
/// whole key there: `Some(true)` yes, `Some(false)` never, `None` not asserted).
const CONTEXTS: [(&str, &str, Option<bool>); 18] = [
    ("plain", "auth failed for {} (retrying)", Some(true)),
    (
        "json",
        "{\"level\":\"error\",\"api_key\":\"{}\"}",
        Some(true),
    ),
    ("ansi", "\x1b[32m{}\x1b[0m", Some(true)),
    (
        "ansi params",
        "\x1b[1;31mERROR\x1b[0m key=\x1b[38;5;208m{}\x1b[0m",
        Some(true),
    ),
    ("ansi no params", "\x1b[m{}", Some(true)),
    ("ansi written out", "\\x1b[32m{}\\x1b[0m", Some(true)),
    (
        "ansi as json escape",
        "\"\\u001b[33m{}\\u001b[0m\"",
        Some(true),
    ),
    ("ansi octal", "\\033[0;32m{}\\033[0m", Some(true)),
    ("url =", "GET /v1?token%3D{}%26alt%3Djson", Some(true)),
    ("url quotes", "data=%22{}%22", Some(true)),
    ("url bearer", "Authorization: Bearer%20{}", Some(true)),
    ("url double-encoded", "q=Bearer%2520{}", None),
    (
        "json \\u0022",
        "{\\u0022key\\u0022:\\u0022{}\\u0022}",
        Some(true),
    ),
    ("json in json", "\"{\\\"key\\\":\\\"{}\\\"}\"", Some(true)),
    ("json newline", "\"line one\\n{}\\tnext\"", Some(true)),
    ("env", "OPENAI_API_KEY={}\n", Some(true)),
    ("glued before", "KEY_{} end", Some(false)),
    ("glued before letter", "x{}", Some(false)),
];

/// The secret part of a key: everything after its public prefix.
fn body(key: &str) -> &str {
    let k = ApiKey::parse(key).expect("fake keys parse");
    &key[k.prefix().len()..]
}

/// `text` with invisible characters removed and `\uXXXX` escapes decoded: what a
/// reader of the log could recover.
fn decoded(text: &str) -> String {
    let no_invisible: String = text
        .chars()
        .filter(|c| !INVISIBLE.contains(c) && !('\u{2060}'..='\u{206F}').contains(c))
        .collect();
    let mut out = String::new();
    let mut rest = no_invisible.as_str();
    while let Some(i) = rest.find("\\u") {
        out.push_str(&rest[..i]);
        let hex = rest.get(i + 2..i + 6).unwrap_or("");
        match u32::from_str_radix(hex, 16).ok().and_then(char::from_u32) {
            Some(c) if hex.len() == 4 => {
                if !INVISIBLE.contains(&c) {
                    out.push(c);
                }
                rest = &rest[i + 6..];
            }
            _ => {
                out.push_str("\\u");
                rest = &rest[i + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The first 12-character window of `body` found in `text`.
fn leaked_window<'a>(text: &str, body: &'a str) -> Option<&'a str> {
    (0..=body.len().saturating_sub(12))
        .map(|i| &body[i..i + 12])
        .find(|w| text.contains(w))
}

/// The output of a [`Redactor`] fed `text` in pieces of `size` bytes.
fn streamed(text: &[u8], size: usize) -> Vec<u8> {
    let mut r = Redactor::with_window(4096);
    let mut out = Vec::new();
    for piece in text.chunks(size) {
        r.push(piece, &mut out);
    }
    r.finish(&mut out);
    out
}

#[test]
fn redact_masks_every_key_in_every_log_shape_and_scan_stays_exact() {
    let mut cases = 0;
    let mut leaks = Vec::new();
    let mut scan_errors = Vec::new();
    let mut all_lines = String::new();
    for seed in 0..4u64 {
        for (provider, kind, key) in fake::all(0xA7_0000 + seed) {
            let secret = body(&key);
            for (what, variant) in variants(&key, seed == 0) {
                let is_key = ApiKey::parse(&variant).is_ok();
                let positional = what.contains(" at ") || what.contains("char ");
                for (n, &(context, template, scan_expect)) in CONTEXTS.iter().enumerate() {
                    // Characters inside the key: a third of the contexts, in turn.
                    if positional && seed == 0 && (n + what.len()) % 3 != 0 {
                        continue;
                    }
                    let line = template.replacen("{}", &variant, 1);
                    cases += 1;
                    let red = redact(&line);
                    let shown = decoded(&red);
                    if let Some(w) = leaked_window(&red, secret).or(leaked_window(&shown, secret)) {
                        leaks.push(format!(
                            "{provider} {kind} / {what} / {context}: {:?} left",
                            red.replace(w, "<LEAK>")
                        ));
                    }
                    let found: Vec<_> = scan(&line).map(|f| line[f.span].to_owned()).collect();
                    // Exact: what is reported parses; a whole key in plain context is
                    // reported as itself; a near miss is never reported (only `AQ.`
                    // keys have so many lengths that a cut or glued one still parses).
                    let near_miss = !is_key && !what.contains(" at ") && !what.contains("char ");
                    let ok = found.iter().all(|f| ApiKey::parse(f).is_ok())
                        && match scan_expect {
                            Some(true) if is_key => found == [variant.clone()],
                            Some(false) => found.is_empty(),
                            _ => !near_miss || found.is_empty() || kind == KeyKind::Auth,
                        };
                    if !ok {
                        scan_errors.push(format!(
                            "{provider} {kind} / {what} / {context}: scan found {} string(s)",
                            found.len(),
                        ));
                    }
                    if seed == 1 {
                        all_lines.push_str(&line);
                        all_lines.push('\n');
                    }
                }
            }
        }
    }
    assert!(cases > 30_000, "{cases} cases");
    assert!(
        leaks.is_empty(),
        "{} of {cases} cases leak, e.g.:\n{}",
        leaks.len(),
        leaks[..leaks.len().min(20)].join("\n")
    );
    assert!(
        scan_errors.is_empty(),
        "{} of {cases} cases, e.g.:\n{}",
        scan_errors.len(),
        scan_errors[..scan_errors.len().min(20)].join("\n")
    );
    // Redacted output has nothing left to find or mask, and streaming changes nothing.
    let red = redact(&all_lines);
    assert_eq!(scan(&red).count(), 0);
    assert_eq!(redact(&red), red);
    for size in [1, 13, 4095, 70_000] {
        assert_eq!(
            streamed(all_lines.as_bytes(), size),
            red.as_bytes(),
            "pieces of {size}"
        );
    }
}

#[test]
fn redact_leaves_ordinary_text_alone() {
    let text = "task-runner disk-usage risk-score ask-me mask-sk- FAQ.html AQ.short \
        AIza sk- sk-ant- -ant- T3BlbkFJ \\u0041 \u{200B} %3D \x1b[32mgreen\x1b[0m \
        see FAQ.getAllQuestions and AIzaSy in the docs, sk-proj-… is a mask";
    assert!(matches!(redact(text), std::borrow::Cow::Borrowed(_)));
    assert_eq!(redact_bytes(text.as_bytes()), text.as_bytes());
}

#[test]
fn near_misses_are_masked_but_never_reported() {
    for (_, _, key) in fake::all(0xA7_1000) {
        for near in [
            key[..key.len() - 1].to_owned(),
            key[..key.len() - 2].to_owned(),
            key[..key.len() - 3].to_owned(),
            format!("{key}_OLD"),
            format!("{key}xyz"),
        ] {
            let line = format!("key={near} next");
            if ApiKey::parse(&near).is_err() {
                assert_eq!(scan(&line).count(), 0, "{}", line.replace(&near, "<NEAR>"));
            }
            let red = redact(&line);
            assert!(red.starts_with("key=") && red.ends_with(" next"));
            assert_eq!(leaked_window(&red, body(&key)), None, "{red}");
        }
    }
}
