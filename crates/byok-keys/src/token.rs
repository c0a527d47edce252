//! byok's own API tokens (`byok serve`'s bearer tokens): their shape, found
//! ([`scan_tokens`]) and masked ([`redact`](crate::redact)) in text like provider keys.
//!
//! A token is `byok_<tag>_<id>_<secret>`: a scope tag ([`TOKEN_TAGS`]: `adm`,
//! `wsm`, `app`), a 32-hex-digit id (public: `byok serve` lists and its audit
//! trail name it) and 64 lowercase hex digits of secret. The fixed shape is what
//! secret scanners look for ([`TOKEN_PATTERN`]); `byok-serve` makes and checks
//! tokens with [`parse_token`].
//!
//! ```
//! use byok_keys::token::{parse_token, scan_tokens};
//! use byok_keys::redact;
//!
//! let token = format!("byok_app_{}_{}", "1f".repeat(16), "a0".repeat(32));
//! let log = format!("Authorization: Bearer {token}\n");
//! let found = scan_tokens(log.as_bytes());
//! assert_eq!(found.len(), 1);
//! assert_eq!((found[0].tag, found[0].id.as_str()), ("app", "1f".repeat(16).as_str()));
//! assert_eq!(&log[found[0].span.clone()], token);
//! assert_eq!(parse_token(&token).unwrap().tag, "app");
//! // Masked in logs to its tag and the end of its id:
//! assert_eq!(redact(&log), "Authorization: Bearer byok_app_…1f1f1f1f\n");
//! ```

use std::ops::Range;

use memchr::memmem;

/// A regular expression of every byok API token, for secret scanners
/// (gitleaks, GitHub custom patterns, CI greps).
pub const TOKEN_PATTERN: &str = r"byok_(adm|wsm|app)_[0-9a-f]{32}_[0-9a-f]{64}";

/// The scope tags: admin, workspace manager, app.
pub const TOKEN_TAGS: [&str; 3] = ["adm", "wsm", "app"];

/// Hex digits in a token's id.
pub const TOKEN_ID_LEN: usize = 32;
/// Hex digits in a token's secret.
pub const TOKEN_SECRET_LEN: usize = 64;
/// Length of a whole token: `byok_` + tag + `_` + id + `_` + secret.
pub const TOKEN_LEN: usize = PREFIX_LEN + TOKEN_ID_LEN + 1 + TOKEN_SECRET_LEN;

/// `byok_` + tag + `_`.
const PREFIX_LEN: usize = 5 + 3 + 1;
/// Characters after a token prefix that make a loose match worth masking.
const LOOSE_MIN_BODY: usize = 8;
/// The longest run after a prefix that redaction reads (and masks); what lets a
/// streaming redactor decide with bounded lookahead.
pub(crate) const MAX_RUN: usize = 512;
/// Bytes after the start of a prefix that a redaction decision may read.
pub(crate) const LOOKAHEAD: usize = PREFIX_LEN + MAX_RUN + 1;

/// The public parts of a token-shaped string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenShape<'a> {
    /// Its scope tag, one of [`TOKEN_TAGS`].
    pub tag: &'static str,
    /// Its id (32 lowercase hex digits).
    pub id: &'a str,
}

/// The tag and id of `token` when it has exactly the shape of [`TOKEN_PATTERN`].
pub fn parse_token(token: &str) -> Option<TokenShape<'_>> {
    let b = token.as_bytes();
    if b.len() != TOKEN_LEN || !b.starts_with(b"byok_") || b[8] != b'_' {
        return None;
    }
    let tag = TOKEN_TAGS.into_iter().find(|t| t.as_bytes() == &b[5..8])?;
    let id = &b[PREFIX_LEN..PREFIX_LEN + TOKEN_ID_LEN];
    let secret = &b[PREFIX_LEN + TOKEN_ID_LEN + 1..];
    (b[PREFIX_LEN + TOKEN_ID_LEN] == b'_' && id.iter().all(is_hex) && secret.iter().all(is_hex))
        .then(|| TokenShape {
            tag,
            id: &token[PREFIX_LEN..PREFIX_LEN + TOKEN_ID_LEN],
        })
}

/// A token found in text by [`scan_tokens`]: where, and its public parts; never
/// the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TokenFinding {
    /// Byte range of the token in the text.
    pub span: Range<usize>,
    /// Its scope tag, one of [`TOKEN_TAGS`].
    pub tag: &'static str,
    /// Its id (public).
    pub id: String,
    /// Its mask: `byok_app_…` and the last 8 digits of its id.
    pub masked: String,
}

/// Every byok API token in `text`, in order: the exact shape of
/// [`TOKEN_PATTERN`], not glued to more key characters on either side.
pub fn scan_tokens(text: &[u8]) -> Vec<TokenFinding> {
    let mut found = Vec::new();
    let mut from = 0;
    for at in memmem::find_iter(text, b"byok_") {
        if at < from {
            continue;
        }
        let end = at + TOKEN_LEN;
        let glued = |i: usize| text.get(i).is_some_and(|&b| is_run_byte(b));
        if glued(end) || (at > 0 && glued(at - 1)) {
            continue;
        }
        let Some(shape) = text
            .get(at..end)
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(parse_token)
        else {
            continue;
        };
        found.push(TokenFinding {
            span: at..end,
            tag: shape.tag,
            id: shape.id.to_owned(),
            masked: mask(shape),
        });
        from = end;
    }
    found
}

/// The mask of a token: its tag, `…` and the last 8 digits of its id (which the
/// token list shows whole). Nothing token-like follows the prefix, so masking
/// a mask changes nothing.
fn mask(shape: TokenShape<'_>) -> String {
    format!("byok_{}_…{}", shape.tag, &shape.id[TOKEN_ID_LEN - 8..])
}

fn is_hex(b: &u8) -> bool {
    matches!(b, b'0'..=b'9' | b'a'..=b'f')
}

/// Characters a token run (and what is glued to it) is made of.
fn is_run_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// The redaction of `t`'s token-like runs that start before `limit` (all of
/// them at `eof`): writes to `out` everything before the first undecided
/// position and returns that position. A run is a token prefix (`byok_app_`)
/// and at least 8 key characters after it: a whole token is masked to its
/// mask, anything else token-like (cut short, glued, upper-case hex) to
/// the prefix and `…`.
pub(crate) fn redact_runs(t: &[u8], eof: bool, out: &mut Vec<u8>) -> usize {
    let mut emitted = 0;
    for at in memmem::find_iter(t, b"byok_") {
        if at < emitted {
            continue;
        }
        if !eof && at + LOOKAHEAD > t.len() {
            out.extend_from_slice(&t[emitted..at]);
            return at;
        }
        let Some(tag) = t
            .get(at + 5..at + 8)
            .and_then(|g| TOKEN_TAGS.into_iter().find(|tag| tag.as_bytes() == g))
        else {
            continue;
        };
        if t.get(at + 8) != Some(&b'_') {
            continue;
        }
        let body = at + PREFIX_LEN;
        let run = t[body..]
            .iter()
            .take(MAX_RUN)
            .take_while(|&&b| is_run_byte(b))
            .count();
        if run < LOOSE_MIN_BODY {
            continue;
        }
        let end = body + run;
        let whole = std::str::from_utf8(&t[at..end]).ok().and_then(parse_token);
        out.extend_from_slice(&t[emitted..at]);
        match whole {
            Some(shape) => out.extend_from_slice(mask(shape).as_bytes()),
            None => {
                out.extend_from_slice(b"byok_");
                out.extend_from_slice(tag.as_bytes());
                out.extend_from_slice("_…".as_bytes());
            }
        }
        emitted = end;
    }
    // Hold back what could be the start of a prefix cut by the end of the input.
    let safe = if eof {
        t.len()
    } else {
        t.len().saturating_sub(PREFIX_LEN - 1).max(emitted)
    };
    out.extend_from_slice(&t[emitted..safe]);
    safe
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(tag: &str, id: &str, secret: &str) -> String {
        format!("byok_{tag}_{id}_{secret}")
    }

    #[test]
    fn the_shape_is_exact() {
        let t = token("wsm", &"0a".repeat(16), &"f9".repeat(32));
        let shape = parse_token(&t).unwrap();
        assert_eq!((shape.tag, shape.id), ("wsm", "0a".repeat(16).as_str()));
        for bad in [
            &t[..t.len() - 1],
            &t.replace("byok_wsm_", "byok_xyz_"),
            &t.to_uppercase(),
            &t.replacen('_', "-", 2),
            "byok_adm_",
            "",
        ] {
            assert!(parse_token(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn tokens_are_found_but_not_glued_runs() {
        let a = token("app", &"11".repeat(16), &"22".repeat(32));
        let b = token("adm", &"33".repeat(16), &"44".repeat(32));
        let text = format!("x={a} y=\"{b}\" z={a}ff w=_{b}");
        let found = scan_tokens(text.as_bytes());
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].tag, "app");
        assert_eq!(&text[found[1].span.clone()], b);
        assert_eq!(found[1].masked, "byok_adm_…33333333");
        assert!(!format!("{found:?}").contains(&"44".repeat(32)));
    }

    fn redact_all(t: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        assert_eq!(redact_runs(t, true, &mut out), t.len());
        out
    }

    #[test]
    fn near_misses_are_masked_to_the_prefix() {
        let t = token("app", &"5b".repeat(16), &"6c".repeat(32));
        let text = format!(
            "cut={} glued={t}_OLD upper={} short=byok_app_1234 none=byok_xyz_{}",
            &t[..60],
            t.to_uppercase().replace("BYOK_APP_", "byok_app_"),
            "7".repeat(40)
        );
        let out = String::from_utf8(redact_all(text.as_bytes())).unwrap();
        assert_eq!(
            out,
            format!(
                "cut=byok_app_… glued=byok_app_… upper=byok_app_… short=byok_app_1234 none=byok_xyz_{}",
                "7".repeat(40)
            )
        );
    }
}
