//! Well-formed fake keys for tests, examples and mock providers.
//!
//! Deterministic from a seed, so tests never commit high-entropy literals that
//! secret scanners would flag. The keys have the exact shape of real ones and
//! are accepted by [`ApiKey::parse`](crate::ApiKey::parse); no provider accepts them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::bedrock::{self, base64_encode};
use crate::{KeyKind, Provider};

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const WORD: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_";
const HEX: &[u8] = b"0123456789abcdef";
const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Every (provider, kind) pair whose keys are recognised by their shape alone
/// (a prefix of their own), in a stable order: what [`ApiKey::parse`](crate::ApiKey::parse)
/// accepts with no provider named and [`scan`](crate::scan) finds with no context.
pub const SHAPES: [(Provider, KeyKind); 17] = [
    (Provider::OpenAi, KeyKind::Legacy),
    (Provider::OpenAi, KeyKind::Project),
    (Provider::OpenAi, KeyKind::ServiceAccount),
    (Provider::OpenAi, KeyKind::Admin),
    (Provider::OpenAi, KeyKind::Unscoped),
    (Provider::Anthropic, KeyKind::Api),
    (Provider::Anthropic, KeyKind::Admin),
    (Provider::Google, KeyKind::Standard),
    (Provider::Google, KeyKind::Auth),
    (Provider::OpenRouter, KeyKind::Standard),
    (Provider::Groq, KeyKind::Standard),
    (Provider::XAi, KeyKind::Standard),
    (Provider::Together, KeyKind::Standard),
    (Provider::Fireworks, KeyKind::Standard),
    (Provider::Perplexity, KeyKind::Standard),
    (Provider::Bedrock, KeyKind::LongTerm),
    (Provider::Bedrock, KeyKind::ShortTerm),
];

/// The shapes that need the provider named (or, for [`scan`](crate::scan), a
/// context keyword): DeepSeek's `sk-` + 32 hex (only "probably DeepSeek" alone),
/// and the prefix-less Mistral, Azure OpenAI (legacy and current) and Cohere keys.
pub const NAMED_SHAPES: [(Provider, KeyKind); 5] = [
    (Provider::DeepSeek, KeyKind::Standard),
    (Provider::Mistral, KeyKind::Standard),
    (Provider::AzureOpenAi, KeyKind::Legacy),
    (Provider::AzureOpenAi, KeyKind::Standard),
    (Provider::Cohere, KeyKind::Standard),
];

/// When fake Bedrock short-term keys from [`key`] were "signed", in seconds since
/// the Unix epoch: 2099-12-31T00:00:00Z, a fixed date far enough ahead that they
/// pass the paste box's expiry check. [`bedrock_short_term`] takes any date.
pub const SHORT_TERM_ISSUED_UNIX: u64 = 4_102_358_400;

/// [`SHORT_TERM_ISSUED_UNIX`] as a time.
pub fn short_term_issued() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(SHORT_TERM_ISSUED_UNIX)
}

/// A fake Bedrock short-term key for `region`, signed at `issued` and living
/// `expires` (the real generator's shape, with a session token; it decodes with
/// [`bedrock::decode_short_term`]). `expires` is not checked, so a test can
/// build an out-of-range one.
pub fn bedrock_short_term(
    seed: u64,
    region: &str,
    issued: SystemTime,
    expires: Duration,
) -> String {
    let mut rng = FakeRng::new(seed ^ 0xBED0_0C4E);
    let mut akid = String::from("ASIA");
    rng.fill(&mut akid, UPPER_DIGITS, 16);
    let date = bedrock::amz_date(issued);
    let mut session = String::new();
    rng.fill(&mut session, ALNUM, 120);
    let mut signature = String::new();
    rng.fill(&mut signature, HEX, 64);
    let url = format!(
        "bedrock.amazonaws.com/?Action=CallWithBearerToken&X-Amz-Algorithm=AWS4-HMAC-SHA256\
         &X-Amz-Credential={akid}%2F{}%2F{region}%2Fbedrock%2Faws4_request&X-Amz-Date={date}\
         &X-Amz-Expires={}&X-Amz-Security-Token={session}&X-Amz-SignedHeaders=host\
         &X-Amz-Signature={signature}&Version=1",
        &date[..8],
        expires.as_secs()
    );
    format!(
        "{}{}",
        bedrock::SHORT_TERM_PREFIX,
        base64_encode(url.as_bytes())
    )
}

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

/// A fake key of the given shape at its current documented length (Fireworks:
/// 24, the length seen; Bedrock short-term: [`bedrock_short_term`] for
/// `us-east-1`, signed at [`short_term_issued`], living 12 hours).
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
        (Provider::OpenRouter, KeyKind::Standard) => {
            out.push_str("sk-or-v1-");
            rng.fill(&mut out, HEX, 64);
        }
        (Provider::Groq, KeyKind::Standard) => {
            out.push_str("gsk_");
            rng.fill(&mut out, ALNUM, 52);
        }
        (Provider::XAi, KeyKind::Standard) => {
            out.push_str("xai-");
            rng.fill(&mut out, WORD, 80);
        }
        (Provider::DeepSeek, KeyKind::Standard) => {
            out.push_str("sk-");
            rng.fill(&mut out, HEX, 32);
        }
        (Provider::Mistral, KeyKind::Standard) => rng.fill(&mut out, ALNUM, 32),
        (Provider::Together, KeyKind::Standard) => {
            out.push_str("tgp_v1_");
            rng.fill(&mut out, B64URL, 43);
        }
        (Provider::Fireworks, KeyKind::Standard) => {
            out.push_str("fw_");
            rng.fill(&mut out, ALNUM, 24);
        }
        (Provider::Perplexity, KeyKind::Standard) => {
            out.push_str("pplx-");
            rng.fill(&mut out, ALNUM, 48);
        }
        (Provider::AzureOpenAi, KeyKind::Legacy) => rng.fill(&mut out, HEX, 32),
        (Provider::AzureOpenAi, KeyKind::Standard) => {
            rng.fill(&mut out, ALNUM, 52);
            out.push_str("JQQJ99");
            rng.fill(&mut out, ALNUM, 18);
            out.push_str("ACOG");
            rng.fill(&mut out, ALNUM, 4);
        }
        (Provider::Bedrock, KeyKind::LongTerm) => {
            // `BedrockAPIKey-<id>-at-<account>:<secret>`, base64.
            let mut inner = String::from("BedrockAPIKey-");
            rng.fill(&mut inner, ALNUM, 4);
            inner.push_str("-at-");
            rng.fill(&mut inner, b"0123456789", 12);
            inner.push(':');
            rng.fill(&mut inner, ALNUM, 64);
            out.push_str("ABSK");
            out.push_str(&base64_encode(inner.as_bytes()));
        }
        (Provider::Bedrock, KeyKind::ShortTerm) => {
            return bedrock_short_term(
                seed,
                "us-east-1",
                short_term_issued(),
                bedrock::MAX_EXPIRES,
            );
        }
        (Provider::Cohere, KeyKind::Standard) => rng.fill(&mut out, ALNUM, 40),
        (p, k) => panic!("no {k} keys exist for {p}"),
    }
    out
}

/// One fake key of every shape in [`SHAPES`] (recognised alone), with its
/// provider and kind.
pub fn all(seed: u64) -> Vec<(Provider, KeyKind, String)> {
    SHAPES
        .iter()
        .map(|&(p, k)| (p, k, key(p, k, seed)))
        .collect()
}

/// One fake key of every shape byok knows: [`SHAPES`] then [`NAMED_SHAPES`].
pub fn every(seed: u64) -> Vec<(Provider, KeyKind, String)> {
    SHAPES
        .iter()
        .chain(&NAMED_SHAPES)
        .map(|&(p, k)| (p, k, key(p, k, seed)))
        .collect()
}
