//! The canaries and [`assert_clean`]: every form in which a secret must never appear.
//!
//! Shared by the facade's canary suite and the CLI's (`#[path]`-included there), so
//! both binaries search for exactly the same forms.
//!
//! A canary is a secret this binary knows in advance: every key shape from
//! `byok::keys::fake` for a few fixed seeds, plus master keys and a passphrase derived
//! from a fixed seed. [`assert_clean`] searches a byte buffer for every form of every
//! canary at once (one Aho-Corasick automaton) and names the form it found.
//!
//! Forms of an API key (its *body* is the key without the public prefix and without
//! the last 4 characters the mask shows):
//! the whole key; the body; every 16-character window of the body; the base64 of the
//! body (standard and URL-safe alphabets, each of the 3 byte alignments the body can
//! have inside a larger encoded buffer); the hex of the body (lower and upper case);
//! the percent-encoding of every byte of the body (upper and lower case).
//! Opaque secrets (master keys, passphrases) have no public part: their body is the
//! whole string.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use byok::keys::{ApiKey, KeyKind, Provider, fake};

/// Seeds of the API-key canaries: `fake::all(seed)` for each gives one key of every shape.
pub(crate) const SEEDS: [u64; 8] = [
    0xCA_0001, 0xCA_0002, 0xCA_0003, 0xCA_0004, 0xCA_0005, 0xCA_0006, 0xCA_0007, 0xCA_0008,
];

/// Length of the body windows searched for.
pub(crate) const WINDOW: usize = 16;

/// The canary API key of `provider`/`kind` number `n` (0-based, `n < SEEDS.len()`).
pub(crate) fn canary_key(provider: Provider, kind: KeyKind, n: usize) -> String {
    fake::key(provider, kind, SEEDS[n])
}

/// Every canary API key of seed number `n`, one per shape.
pub(crate) fn canary_keys(n: usize) -> Vec<(Provider, KeyKind, String)> {
    fake::all(SEEDS[n])
}

/// Canary master key number `n` (0..3): the base64 of 32 bytes derived from a fixed seed.
pub(crate) fn canary_master_key(n: u64) -> String {
    STANDARD_NO_PAD.encode(seeded_bytes(0x3A57_E500 + n, 32)) + "="
}

/// The canary vault passphrase.
pub(crate) fn canary_passphrase() -> String {
    format!(
        "correct horse {}",
        URL_SAFE_NO_PAD.encode(seeded_bytes(0x9A55, 24))
    )
}

fn seeded_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut rng = fake::FakeRng::new(seed);
    (0..n).map(|_| rng.next_u64().to_le_bytes()[3]).collect()
}

/// Every form of one secret that must never be emitted.
fn forms_of(label: &str, body: &str, whole: Option<&str>) -> Vec<(String, Vec<u8>)> {
    let mut forms = Vec::new();
    if let Some(whole) = whole {
        forms.push((format!("{label}: the whole key"), whole.as_bytes().to_vec()));
    }
    forms.push((format!("{label}: the body"), body.as_bytes().to_vec()));
    let b = body.as_bytes();
    for start in 0..=b.len().saturating_sub(WINDOW) {
        forms.push((
            format!("{label}: body window {start}..{}", start + WINDOW),
            b[start..start + WINDOW].to_vec(),
        ));
    }
    for align in 0..3 {
        // Inside a larger buffer, the body's bytes start at some offset mod 3; the
        // encoding of the 3-byte groups that lie wholly inside the body is the same
        // whatever surrounds it. Group boundaries fall at `align` in the body.
        let end = align + (b.len() - align) / 3 * 3;
        let groups = &b[align..end];
        forms.push((
            format!("{label}: base64 of the body (alignment {align})"),
            STANDARD_NO_PAD.encode(groups).into_bytes(),
        ));
        forms.push((
            format!("{label}: URL-safe base64 of the body (alignment {align})"),
            URL_SAFE_NO_PAD.encode(groups).into_bytes(),
        ));
    }
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    forms.push((
        format!("{label}: hex of the body"),
        hex.clone().into_bytes(),
    ));
    forms.push((
        format!("{label}: upper-case hex of the body"),
        hex.to_uppercase().into_bytes(),
    ));
    let pct: String = b.iter().map(|x| format!("%{x:02X}")).collect();
    forms.push((
        format!("{label}: percent-encoded body"),
        pct.clone().into_bytes(),
    ));
    forms.push((
        format!("{label}: lower-case percent-encoded body"),
        pct.to_lowercase().into_bytes(),
    ));
    // Identical patterns (the URL-safe and standard alphabets agree on most bodies)
    // would only make the report ambiguous.
    forms.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    forms.dedup_by(|a, b| a.1 == b.1);
    forms
}

/// The forms of an API key: its body is what the mask hides.
pub(crate) fn key_forms(label: &str, raw: &str) -> Vec<(String, Vec<u8>)> {
    let key = ApiKey::parse(raw).expect("canary keys are well formed");
    let prefix = key.prefix().len();
    forms_of(label, &raw[prefix..raw.len() - 4], Some(raw))
}

/// The forms of a secret with no public part.
pub(crate) fn opaque_forms(label: &str, secret: &str) -> Vec<(String, Vec<u8>)> {
    let mut forms = forms_of(label, secret, None);
    // Master keys are base64 of raw bytes: the raw bytes themselves are a form too.
    if let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(secret) {
        forms.push((format!("{label}: the decoded bytes"), raw));
    }
    forms
}

/// The automaton over every form of every canary of this binary.
struct Detector {
    automaton: AhoCorasick,
    names: Vec<String>,
}

static DETECTOR: LazyLock<Detector> = LazyLock::new(|| {
    let mut forms = Vec::new();
    for n in 0..SEEDS.len() {
        for (provider, kind, raw) in canary_keys(n) {
            forms.extend(key_forms(&format!("{provider} {kind} key #{n}"), &raw));
        }
    }
    for n in 0..3 {
        forms.extend(opaque_forms(
            &format!("master key #{n}"),
            &canary_master_key(n),
        ));
    }
    forms.extend(opaque_forms("passphrase", &canary_passphrase()));
    let (names, patterns): (Vec<_>, Vec<_>) = forms.into_iter().unzip();
    Detector {
        // Longest first at a position, so a whole key is reported as the whole key.
        automaton: AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(patterns)
            .expect("the canary patterns build"),
        names,
    }
});

/// The first canary form found in `bytes`, with its byte offset.
pub(crate) fn find_leak(bytes: &[u8]) -> Option<(String, usize)> {
    let found = DETECTOR.automaton.find(bytes)?;
    Some((DETECTOR.names[found.pattern()].clone(), found.start()))
}

/// Panic, naming the canary form and where it is, if any canary form occurs in `bytes`.
/// The panic message shows 40 characters of context with the secret part cut out.
#[track_caller]
pub(crate) fn assert_clean(label: &str, bytes: &[u8]) {
    if let Some((form, at)) = find_leak(bytes) {
        let before = String::from_utf8_lossy(&bytes[at.saturating_sub(40)..at]).into_owned();
        panic!("LEAK in {label}: {form} at byte {at} (after {before:?})");
    }
}

/// Near misses and log shapes of every canary: cut short by 1 to 3 characters, glued
/// to more key characters, an invisible character or a JSON escape inside, glued
/// after an ANSI colour, a URL or a JSON escape. None is a key `scan` may report;
/// all must leave `byok redact` masked.
pub(crate) fn near_miss_keys(n: usize) -> String {
    let mut out = String::new();
    for (_, _, raw) in canary_keys(n) {
        let mid = raw.len() / 2;
        for cut in 1..=3 {
            out += &format!("{}\n", &raw[..raw.len() - cut]);
        }
        out += &format!("{raw}xyz\n");
        out += &format!("key={raw}_OLD&x=1\n");
        out += &format!("{}\u{200B}{}\n", &raw[..mid], &raw[mid..]);
        out += &format!("{}\u{FEFF}{}\n", &raw[..5], &raw[5..]);
        out += &format!(
            "{{\"k\":\"{}\\u00{:02x}{}\"}}\n",
            &raw[..mid],
            raw.as_bytes()[mid],
            &raw[mid + 1..]
        );
        out += &format!("\x1b[1;32m{raw}\x1b[0m\n");
        out += &format!("GET /v1?token%3D{raw}%26alt=json Authorization: Bearer%20{raw}\n");
        out += &format!("{{\\u0022key\\u0022:\\u0022{raw}\\u0022}}\n");
        out += &format!("\"Bearer {raw}\"\n");
    }
    out
}
