//! The fixed canaries byok's own suites (the facade's `tests/canary` and the CLI's
//! `tests/canary.rs`) feed every operation, and one [`Detector`] over all of them.
//!
//! Every key shape from [`byok_keys::fake`] for each of [`SEEDS`], [`MASTER_KEYS`]
//! master keys and one passphrase derived from fixed seeds. They are the same in
//! every test binary, so all of them search for exactly the same forms. Use them in
//! your own tests when your code handles byok's key shapes:
//!
//! ```
//! use byok_testkit::canary::standard;
//! use byok_keys::{KeyKind, Provider};
//!
//! let key = standard::key(Provider::Anthropic, KeyKind::Api, 0);
//! let error = format!("error: key {key} refused");
//! let shown = byok_keys::redact(&error);
//! standard::assert_clean("the redacted error", shown.as_bytes());
//! assert!(standard::find_leak(key.as_bytes()).is_some());
//! ```

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use byok_keys::{KeyKind, Provider, fake};

use super::{Canary, Detector, Leak};

/// Seeds of the API-key canaries: `fake::all(seed)` for each gives one key of every shape.
pub const SEEDS: [u64; 8] = [
    0xCA_0001, 0xCA_0002, 0xCA_0003, 0xCA_0004, 0xCA_0005, 0xCA_0006, 0xCA_0007, 0xCA_0008,
];

/// How many canary master keys there are ([`master_key`] `0..MASTER_KEYS`).
pub const MASTER_KEYS: u64 = 3;

/// The canary API key of `provider`/`kind` number `n` (0-based, `n < SEEDS.len()`).
///
/// # Panics
/// If `n` is out of range or `kind` does not exist for `provider`.
pub fn key(provider: Provider, kind: KeyKind, n: usize) -> String {
    fake::key(provider, kind, SEEDS[n])
}

/// Every canary API key of seed number `n`, one per shape.
///
/// # Panics
/// If `n` is out of range.
pub fn keys(n: usize) -> Vec<(Provider, KeyKind, String)> {
    fake::all(SEEDS[n])
}

/// Canary master key number `n` (`0..MASTER_KEYS`): the base64 of 32 bytes derived
/// from a fixed seed. Other `n` give master keys the detector does not know.
pub fn master_key(n: u64) -> String {
    STANDARD_NO_PAD.encode(seeded_bytes(0x3A57_E500 + n, 32)) + "="
}

/// The canary vault passphrase.
pub fn passphrase() -> String {
    format!(
        "correct horse {}",
        URL_SAFE_NO_PAD.encode(seeded_bytes(0x9A55, 24))
    )
}

fn seeded_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut rng = fake::FakeRng::new(seed);
    (0..n).map(|_| rng.next_u64().to_le_bytes()[3]).collect()
}

/// Every canary: each key of each seed (named `"<provider> <kind> key #<n>"`), each
/// master key (`"master key #<n>"`) and the passphrase (`"passphrase"`).
pub fn canaries() -> Vec<Canary> {
    let mut all = Vec::new();
    for n in 0..SEEDS.len() {
        for (provider, kind, raw) in keys(n) {
            all.push(Canary::api_key(format!("{provider} {kind} key #{n}"), &raw));
        }
    }
    for n in 0..MASTER_KEYS {
        all.push(Canary::secret(format!("master key #{n}"), &master_key(n)));
    }
    all.push(Canary::secret("passphrase", &passphrase()));
    all
}

static DETECTOR: LazyLock<Detector> = LazyLock::new(|| Detector::new(canaries()));

/// The detector over every form of every [`canaries`] (built once per process).
pub fn detector() -> &'static Detector {
    &DETECTOR
}

/// The first canary form in `haystack`, if any.
pub fn find_leak(haystack: impl AsRef<[u8]>) -> Option<Leak> {
    DETECTOR.find(haystack)
}

/// Panic, naming `label`, the canary form and where it is, if any canary form occurs
/// in `haystack`. The message never holds the secret.
#[track_caller]
pub fn assert_clean(label: &str, haystack: impl AsRef<[u8]>) {
    DETECTOR.assert_clean(label, haystack);
}

/// Near misses and log shapes of every canary key of seed `n`: cut short by 1 to 3
/// characters, glued to more key characters, an invisible character or a JSON escape
/// inside, glued after an ANSI colour, a URL or a JSON escape. None is a key a
/// scanner should report as valid; every one must come out of a redactor masked.
pub fn near_miss_keys(n: usize) -> String {
    let mut out = String::new();
    for (_, _, raw) in keys(n) {
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
