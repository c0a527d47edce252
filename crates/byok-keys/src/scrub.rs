//! [`scrub`]: text from a provider (or a proxy in front of it) made safe to show.
//!
//! A provider's error answer is hostile input: it may quote the key that was sent,
//! whole, cut, glued to other characters, or one character short, in any field.
//! [`redact`](crate::redact) masks what looks like a key; `scrub` also removes every
//! fragment of the one key the caller knows was sent, and only then cuts the text
//! to size (cutting first could split a key where neither check sees it any more).

use std::collections::HashSet;

use crate::key::ApiKey;
use crate::redact::redact;

/// Shortest run of the known key's characters that is removed. Twelve random
/// key characters are about 70 bits: enough to matter, too many to occur by chance.
pub const SCRUB_WINDOW: usize = 12;

/// What replaces a run of characters that holds a fragment of the known key.
pub const SCRUBBED: &str = "[redacted]";

/// Make provider text safe to show, store or log.
///
/// In this order:
/// 1. anything shaped like a key is masked by [`redact`](crate::redact) (the
///    known key too, when it is whole: its mask says which key was meant);
/// 2. every run of key characters (`A-Z a-z 0-9 _ -`, with invisible format
///    characters such as U+200B inside it ignored) that still shares at least
///    [`SCRUB_WINDOW`] consecutive characters with `known` (the key that was sent;
///    its public prefix alone does not count) is replaced by [`SCRUBBED`];
/// 3. the result is cut to at most `max_chars` characters, a cut marked by a
///    trailing `…` (counted in `max_chars`).
///
/// With `known = None` only steps 1 and 3 apply.
///
/// ```
/// let key = byok_keys::fake::key(byok_keys::Provider::OpenAi, byok_keys::KeyKind::Project, 7);
/// // One character short: `redact` (step 1) already masks it as a near miss.
/// let echoed = format!("bad key {}", &key[..key.len() - 1]);
/// assert_eq!(byok_keys::scrub(&echoed, Some(&key), 300), "bad key sk-proj-…");
/// // A piece from the middle, with no prefix to recognise: step 2 removes it.
/// let echoed = format!("bad key …{}…", &key[20..60]);
/// assert_eq!(byok_keys::scrub(&echoed, Some(&key), 300), "bad key …[redacted]…");
/// ```
pub fn scrub(text: &str, known: Option<&str>, max_chars: usize) -> String {
    let redacted = redact(text);
    match known {
        Some(secret) if secret.len() >= SCRUB_WINDOW => {
            cut(&remove_fragments(&redacted, secret), max_chars)
        }
        _ => cut(&redacted, max_chars),
    }
}

/// Step 2 of [`scrub`].
fn remove_fragments(text: &str, secret: &str) -> String {
    // The public prefix (`sk-ant-api03-` is 13 characters) is no secret: a window
    // that lies wholly inside it does not count.
    let public = ApiKey::parse(secret).map_or(0, |k| k.prefix().len());
    let bytes = secret.as_bytes();
    let windows: HashSet<&[u8]> = (0..=bytes.len() - SCRUB_WINDOW)
        .filter(|&start| start + SCRUB_WINDOW > public)
        .map(|start| &bytes[start..start + SCRUB_WINDOW])
        .collect();
    let mut out = String::with_capacity(text.len());
    // The run as written, and its key characters alone (what is matched).
    let mut run = String::new();
    let mut skeleton = Vec::new();
    let flush = |run: &mut String, skeleton: &mut Vec<u8>, out: &mut String| {
        if skeleton.windows(SCRUB_WINDOW).any(|w| windows.contains(w)) {
            out.push_str(SCRUBBED);
        } else {
            out.push_str(run);
        }
        run.clear();
        skeleton.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            run.push(c);
            skeleton.push(c as u8);
        } else if is_invisible(c) && !run.is_empty() {
            run.push(c);
        } else {
            flush(&mut run, &mut skeleton, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut skeleton, &mut out);
    out
}

/// Characters that render as nothing and may be slipped inside a key.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
    )
}

/// At most `max_chars` characters of `text`, a cut marked by `…`.
fn cut(text: &str, max_chars: usize) -> String {
    if max_chars == 0 {
        return String::new();
    }
    match text.char_indices().nth(max_chars) {
        None => text.to_owned(),
        Some(_) => {
            let keep = max_chars.saturating_sub(1);
            let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
            format!("{}…", &text[..end])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyKind, Provider, fake};

    fn keys() -> Vec<String> {
        Provider::ALL
            .into_iter()
            .map(|p| {
                let kind = match p {
                    Provider::OpenAi => KeyKind::Project,
                    Provider::Anthropic => KeyKind::Api,
                    _ => p.spec().kinds[0],
                };
                fake::key(p, kind, 42)
            })
            .collect()
    }

    #[test]
    fn removes_glued_and_cut_keys_before_cutting() {
        let secret = "sk-admin-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghij";
        let glued = format!("bad credential key_{secret}");
        assert_eq!(
            scrub(&glued, Some(secret), 300),
            "bad credential [redacted]"
        );
        let fragment = format!("rejected {} (truncated)", &secret[5..30]);
        assert!(!scrub(&fragment, Some(secret), 300).contains(&secret[5..30]));
        let padded = format!("{} {secret} was rejected", "x".repeat(260));
        let shown = scrub(&padded, Some(secret), 300);
        assert!(!shown.contains("ABCDEFGHIJKL"), "{shown}");
        assert_eq!(
            scrub("no key here at all", Some(secret), 300),
            "no key here at all"
        );
    }

    #[test]
    fn every_form_of_the_known_key_goes() {
        for key in keys() {
            let body = &key[key.len() / 2 - SCRUB_WINDOW / 2..][..SCRUB_WINDOW];
            let forms = [
                key.clone(),
                key[..key.len() - 1].to_owned(),
                key[..100.min(key.len())].to_owned(),
                key[1..].to_owned(),
                format!("{key}_OLD"),
                format!("x{key}y"),
                body.to_owned(),
                // Invisible characters slipped in every 8 characters.
                key.as_bytes()
                    .chunks(8)
                    .map(|c| std::str::from_utf8(c).unwrap())
                    .collect::<Vec<_>>()
                    .join("\u{200B}"),
            ];
            for form in forms {
                // The form straddling the cut, and far from it.
                for pad in [0, 250, 290, 299] {
                    let text = format!("{}{form} was refused", "·".repeat(pad));
                    let shown = scrub(&text, Some(&key), 300);
                    assert!(shown.chars().count() <= 300);
                    let plain: String = shown.chars().filter(|c| !is_invisible(*c)).collect();
                    for w in key.as_bytes().windows(SCRUB_WINDOW).skip(13) {
                        let w = std::str::from_utf8(w).unwrap();
                        assert!(!plain.contains(w), "{w} in {shown}");
                    }
                }
            }
        }
    }

    #[test]
    fn other_keys_are_masked_and_text_is_kept() {
        let [a, b, ..] = &keys()[..] else {
            unreachable!()
        };
        let shown = scrub(&format!("keys {a} and {b}"), Some(a), 300);
        assert!(!shown.contains(&b[10..30]), "{shown}");
        assert!(shown.starts_with("keys sk-proj-…"), "{shown}");
        assert!(!shown.contains(&a[10..30]), "{shown}");
        assert_eq!(scrub("Incorrect API key", None, 300), "Incorrect API key");
        // The public prefix alone is not the key.
        let anthropic = &keys()[1];
        assert_eq!(
            scrub("use an sk-ant-api03-style key", Some(anthropic), 300),
            "use an sk-ant-api03-style key"
        );
    }

    #[test]
    fn cuts_on_characters_with_a_mark() {
        assert_eq!(scrub("abcdef", None, 4), "abc…");
        assert_eq!(scrub("abcd", None, 4), "abcd");
        assert_eq!(scrub("ééééé", None, 3), "éé…");
        assert_eq!(scrub("abc", None, 0), "");
        assert_eq!(scrub("", Some("short"), 10), "");
    }
}
