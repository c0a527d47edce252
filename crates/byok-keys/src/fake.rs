//! Well-formed fake keys for tests, examples and mock providers.
//!
//! Deterministic from a seed, so tests never commit high-entropy literals that
//! secret scanners would flag. The keys have the exact shape of real ones and
//! are accepted by [`ApiKey::parse`](crate::ApiKey::parse); no provider accepts them.

use crate::{KeyKind, Provider};

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Every (provider, kind) pair byok recognises, in a stable order.
pub const SHAPES: [(Provider, KeyKind); 9] = [
    (Provider::OpenAi, KeyKind::Legacy),
    (Provider::OpenAi, KeyKind::Project),
    (Provider::OpenAi, KeyKind::ServiceAccount),
    (Provider::OpenAi, KeyKind::Admin),
    (Provider::OpenAi, KeyKind::Unscoped),
    (Provider::Anthropic, KeyKind::Api),
    (Provider::Anthropic, KeyKind::Admin),
    (Provider::Google, KeyKind::Standard),
    (Provider::Google, KeyKind::Auth),
];

/// A small deterministic generator (SplitMix64); not for anything secret.
#[derive(Debug, Clone)]
pub struct FakeRng(u64);

impl FakeRng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> FakeRng {
        FakeRng(seed ^ 0x5EED_B10C_0000_0000)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `n` characters drawn from `alphabet`, appended to `out`; never a run of
    /// three equal characters, so no body looks like a placeholder by chance.
    pub fn fill(&mut self, out: &mut String, alphabet: &[u8], n: usize) {
        let mut i = 0;
        while i < n {
            let c = alphabet[(self.next_u64() % alphabet.len() as u64) as usize] as char;
            let b = out.as_bytes();
            if b.len() >= 2 && b[b.len() - 1] as char == c && b[b.len() - 2] as char == c {
                continue;
            }
            out.push(c);
            i += 1;
        }
    }
}

/// The OpenAI body: `n` + `T3BlbkFJ` + `n`.
fn marker_body(rng: &mut FakeRng, out: &mut String, alphabet: &[u8], n: usize) {
    rng.fill(out, alphabet, n);
    out.push_str("T3BlbkFJ");
    rng.fill(out, alphabet, n);
}

/// A fake key of the given shape at its current documented length.
///
/// # Panics
/// If `kind` does not exist for `provider` (see [`KeyKind::belongs_to`]).
pub fn key(provider: Provider, kind: KeyKind, seed: u64) -> String {
    let n = match (provider, kind) {
        (Provider::OpenAi, KeyKind::Legacy) => 20,
        (Provider::OpenAi, KeyKind::Project | KeyKind::Unscoped) => 74,
        (Provider::OpenAi, KeyKind::ServiceAccount | KeyKind::Admin) => 58,
        _ => 0,
    };
    key_with_half(provider, kind, n, seed)
}

/// Like [`key`], with an OpenAI body of `half` characters on each side of the
/// marker (ignored for other providers): for testing new or unusual lengths.
///
/// # Panics
/// If `kind` does not exist for `provider`.
pub fn key_with_half(provider: Provider, kind: KeyKind, half: usize, seed: u64) -> String {
    let mut rng = FakeRng::new(
        seed.wrapping_mul(31)
            .wrapping_add(kind as u64 * 7 + provider as u64),
    );
    let mut out = String::with_capacity(200);
    match (provider, kind) {
        (Provider::OpenAi, KeyKind::Legacy) => {
            out.push_str("sk-");
            marker_body(&mut rng, &mut out, ALNUM, half);
        }
        (Provider::OpenAi, KeyKind::Project) => {
            out.push_str("sk-proj-");
            marker_body(&mut rng, &mut out, B64URL, half);
        }
        (Provider::OpenAi, KeyKind::ServiceAccount) => {
            out.push_str("sk-svcacct-");
            marker_body(&mut rng, &mut out, B64URL, half);
        }
        (Provider::OpenAi, KeyKind::Admin) => {
            out.push_str("sk-admin-");
            marker_body(&mut rng, &mut out, B64URL, half);
        }
        (Provider::OpenAi, KeyKind::Unscoped) => {
            out.push_str("sk-None-");
            marker_body(&mut rng, &mut out, B64URL, half);
        }
        (Provider::Anthropic, KeyKind::Api | KeyKind::Admin) => {
            out.push_str(if kind == KeyKind::Api {
                "sk-ant-api03-"
            } else {
                "sk-ant-admin01-"
            });
            rng.fill(&mut out, B64URL, 93);
            // The body must not end in 'A' before the fixed "AA": keep the 93rd character honest.
            if out.ends_with('A') {
                out.pop();
                out.push('Q');
            }
            out.push_str("AA");
        }
        (Provider::Google, KeyKind::Standard) => {
            out.push_str("AIzaSy");
            rng.fill(&mut out, B64URL, 33);
        }
        (Provider::Google, KeyKind::Auth) => {
            out.push_str("AQ.");
            rng.fill(&mut out, B64URL, 50);
        }
        (p, k) => panic!("no {k} keys exist for {p}"),
    }
    out
}

/// One fake key of every shape, with its provider and kind.
pub fn all(seed: u64) -> Vec<(Provider, KeyKind, String)> {
    SHAPES
        .iter()
        .map(|&(p, k)| (p, k, key(p, k, seed)))
        .collect()
}
