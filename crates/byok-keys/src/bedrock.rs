//! Amazon Bedrock short-term API keys, decoded offline.
//!
//! A short-term key is `bedrock-api-key-` + base64 of a SigV4 presigned URL
//! (without `https://`) plus `&Version=1`:
//!
//! ```text
//! bedrock.amazonaws.com/?Action=CallWithBearerToken&X-Amz-Algorithm=AWS4-HMAC-SHA256
//!   &X-Amz-Credential=<AKID>%2F<yyyymmdd>%2F<region>%2Fbedrock%2Faws4_request
//!   &X-Amz-Date=<yyyymmddThhmmssZ>&X-Amz-Expires=<seconds>[&X-Amz-Security-Token=…]
//!   &X-Amz-SignedHeaders=host&X-Amz-Signature=<64 hex>&Version=1
//! ```
//!
//! So its region, issue time and expiry (at most 12 hours) can be read without
//! asking AWS. The signature (and a session token, when present) are secrets:
//! [`ShortTermToken`] keeps neither.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use byok_keys::{KeyKind, Provider, bedrock, fake};
//!
//! let raw = fake::key(Provider::Bedrock, KeyKind::ShortTerm, 1);
//! let token = bedrock::decode_short_term(&raw)?;
//! assert_eq!(token.region(), "us-east-1");
//! assert_eq!(token.expires_at(), token.issued_at() + Duration::from_secs(43_200));
//! // Refused once it has expired, with its expiry date in the message.
//! let later = token.expires_at() + Duration::from_secs(1);
//! let err = bedrock::check_short_term(&raw, later).unwrap_err();
//! assert_eq!(err.code(), "key_expired");
//! assert!(err.to_string().contains(&bedrock::rfc3339(token.expires_at())));
//! # let _ = UNIX_EPOCH;
//! # Ok::<(), byok_keys::KeyError>(())
//! ```

use core::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::KeyError;
use crate::spec::ParamCheck;

/// The prefix of every short-term key.
pub const SHORT_TERM_PREFIX: &str = "bedrock-api-key-";
/// The longest life AWS gives a short-term key: 12 hours.
pub const MAX_EXPIRES: Duration = Duration::from_secs(43_200);
/// What a long-term key's body decodes to the start of.
pub(crate) const LONG_TERM_DECODED_PREFIX: &[u8] = b"BedrockAPIKey-";

/// What a short-term key says about itself. Holds no secret: the access key id is
/// an identifier (still masked in `Debug`), the signature is not kept.
#[derive(Clone, PartialEq, Eq)]
pub struct ShortTermToken {
    region: String,
    issued_at: SystemTime,
    expires_in: Duration,
    access_key_id: String,
    session: bool,
}

impl ShortTermToken {
    /// The AWS region the key is bound to (`us-east-1`).
    pub fn region(&self) -> &str {
        &self.region
    }

    /// When it was signed (`X-Amz-Date`).
    pub fn issued_at(&self) -> SystemTime {
        self.issued_at
    }

    /// How long it lives (`X-Amz-Expires`, at most [`MAX_EXPIRES`]).
    pub fn expires_in(&self) -> Duration {
        self.expires_in
    }

    /// When it stops working.
    pub fn expires_at(&self) -> SystemTime {
        self.issued_at + self.expires_in
    }

    /// Whether it has expired at `now`.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        now >= self.expires_at()
    }

    /// The access key id that signed it (`ASIA…` for temporary credentials). An
    /// identifier, not a secret; shown masked in `Debug` anyway.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// Whether it was signed with temporary credentials (carries a session token).
    pub fn has_session_token(&self) -> bool {
        self.session
    }
}

impl fmt::Debug for ShortTermToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = &self.access_key_id;
        let masked = format!("{}…{}", &id[..4], &id[id.len() - 4..]);
        f.debug_struct("ShortTermToken")
            .field("region", &self.region)
            .field("issued_at", &rfc3339(self.issued_at))
            .field("expires_at", &rfc3339(self.expires_at()))
            .field("access_key_id", &masked)
            .field("session", &self.session)
            .finish()
    }
}

/// Decode a short-term key (`bedrock-api-key-…`) without checking its expiry.
///
/// Errors are [`KeyError::MalformedToken`] (or [`KeyError::MissingMarker`] when the
/// prefix is missing); never a panic, whatever the input.
pub fn decode_short_term(token: &str) -> Result<ShortTermToken, KeyError> {
    let Some(body) = token.strip_prefix(SHORT_TERM_PREFIX) else {
        return Err(KeyError::MissingMarker {
            provider: crate::Provider::Bedrock,
            marker: SHORT_TERM_PREFIX,
        });
    };
    let bad = |reason| Err(KeyError::MalformedToken { reason });
    let Some(decoded) = base64_decode(body.as_bytes()) else {
        return bad("the part after bedrock-api-key- is not base64");
    };
    let decoded = zeroize::Zeroizing::new(decoded);
    let Ok(url) = core::str::from_utf8(&decoded) else {
        return bad("it does not decode to a presigned URL");
    };
    let Some((host, query)) = url.split_once("/?") else {
        return bad("it does not decode to a presigned URL");
    };
    if !(host == "bedrock.amazonaws.com" || host.ends_with(".amazonaws.com")) {
        return bad("the presigned URL is not for bedrock.amazonaws.com");
    }
    let (mut action, mut algorithm, mut credential, mut date, mut expires) =
        (None, None, None, None, None);
    let (mut signature, mut version, mut session) = (false, false, false);
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "Action" => action = Some(value),
            "X-Amz-Algorithm" => algorithm = Some(value),
            "X-Amz-Credential" => credential = Some(value),
            "X-Amz-Date" => date = Some(value),
            "X-Amz-Expires" => expires = Some(value),
            "X-Amz-Signature" => {
                signature = value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())
            }
            "X-Amz-Security-Token" => session = !value.is_empty(),
            "Version" => version = value == "1",
            _ => {}
        }
    }
    if action != Some("CallWithBearerToken") {
        return bad("the presigned URL is not a CallWithBearerToken request");
    }
    if algorithm != Some("AWS4-HMAC-SHA256") {
        return bad("the presigned URL is not signed with AWS4-HMAC-SHA256");
    }
    if !signature {
        return bad("the presigned URL has no 64-hex-digit signature");
    }
    if !version {
        return bad("the token does not end with Version=1");
    }
    let Some(date) = date.and_then(parse_amz_date) else {
        return bad("X-Amz-Date is missing or not a yyyymmddThhmmssZ time");
    };
    let Some(seconds) = expires.and_then(|e| {
        (!e.is_empty() && e.len() <= 6 && e.bytes().all(|b| b.is_ascii_digit()))
            .then(|| e.parse::<u64>().ok())
            .flatten()
    }) else {
        return bad("X-Amz-Expires is missing or not a number of seconds");
    };
    if seconds == 0 || seconds > MAX_EXPIRES.as_secs() {
        return bad("X-Amz-Expires is outside 1 to 43200 seconds");
    }
    // AKID/yyyymmdd/region/bedrock/aws4_request, with `/` written %2F.
    let Some(credential) = credential else {
        return bad("X-Amz-Credential is missing");
    };
    let credential = credential.replace("%2F", "/").replace("%2f", "/");
    let parts: Vec<&str> = credential.split('/').collect();
    let [akid, day, region, service, terminator] = parts[..] else {
        return bad("X-Amz-Credential is not AKID/date/region/bedrock/aws4_request");
    };
    if service != "bedrock" || terminator != "aws4_request" {
        return bad("X-Amz-Credential is not AKID/date/region/bedrock/aws4_request");
    }
    if !(16..=128).contains(&akid.len())
        || !akid
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return bad("the access key id in X-Amz-Credential is malformed");
    }
    if !ParamCheck::AwsRegion.accepts(region) {
        return bad("the region in X-Amz-Credential is not an AWS region");
    }
    if date.1 != day {
        return bad("the date in X-Amz-Credential differs from X-Amz-Date");
    }
    Ok(ShortTermToken {
        region: region.to_owned(),
        issued_at: date.0,
        expires_in: Duration::from_secs(seconds),
        access_key_id: akid.to_owned(),
        session,
    })
}

/// [`decode_short_term`], and refuse it with [`KeyError::KeyExpired`] (its expiry
/// date in the message) if it has expired at `now`.
pub fn check_short_term(token: &str, now: SystemTime) -> Result<ShortTermToken, KeyError> {
    let t = decode_short_term(token)?;
    if t.is_expired_at(now) {
        return Err(KeyError::KeyExpired {
            expired_at: t.expires_at(),
        });
    }
    Ok(t)
}

/// [`check_short_term`] at the system clock's time.
pub fn check_short_term_now(token: &str) -> Result<ShortTermToken, KeyError> {
    check_short_term(token, SystemTime::now())
}

/// `X-Amz-Date` (`20261202T153000Z`) as a time, with its `yyyymmdd` part.
fn parse_amz_date(s: &str) -> Option<(SystemTime, &str)> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let digits = |r: core::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (y, mo, d) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (h, mi, se) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 59
    {
        return None;
    }
    let days = days_from_civil(y as i64, mo, d);
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + se);
    let secs = u64::try_from(secs).ok()?;
    Some((UNIX_EPOCH + Duration::from_secs(secs), &s[..8]))
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A time as RFC 3339 in UTC, to the second: `2026-12-02T15:30:00Z`. Times
/// before 1970 are shown as 1970-01-01T00:00:00Z.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// `X-Amz-Date` form of a time: `20261202T153000Z`.
pub(crate) fn amz_date(t: SystemTime) -> String {
    let r = rfc3339(t);
    let digits: String = r.chars().filter(|c| c.is_ascii_digit()).collect();
    format!("{}T{}Z", &digits[..8], &digits[8..14])
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with `=` padding.
pub(crate) fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk.len();
        let v = u32::from(chunk[0]) << 16
            | u32::from(*chunk.get(1).unwrap_or(&0)) << 8
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= n {
                out.push(B64[(v >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64, padding optional (at most two `=`, only at the end); `None`
/// on anything else.
pub(crate) fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let pad = text.iter().rev().take_while(|&&b| b == b'=').count();
    if pad > 2 {
        return None;
    }
    let text = &text[..text.len() - pad];
    if text.len() % 4 == 1 || (pad > 0 && (text.len() + pad) % 4 != 0) {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in text {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        for days in [-1, 0, 1, 59, 365, 10_957, 20_454, 47_482, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_796_137_200)),
            "2026-12-01T15:00:00Z"
        );
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(amz_date(t), "20000229T000000Z");
        assert_eq!(parse_amz_date("20000229T000000Z").map(|p| p.0), Some(t));
        assert_eq!(parse_amz_date("20010229T000000Z"), None);
        assert_eq!(parse_amz_date("20261301T000000Z"), None);
        assert_eq!(parse_amz_date("2026120T1000000Z"), None);
    }

    proptest::proptest! {
        #[test]
        fn base64_round_trips(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let text = base64_encode(&data);
            proptest::prop_assert_eq!(base64_decode(text.as_bytes()), Some(data.clone()));
            // Unpadded too.
            proptest::prop_assert_eq!(base64_decode(text.trim_end_matches('=').as_bytes()), Some(data));
        }

        #[test]
        fn base64_decode_never_panics(text in proptest::collection::vec(proptest::num::u8::ANY, 0..100)) {
            let _ = base64_decode(&text);
        }
    }
}
