//! Durations as providers write them, and as our JSON writes them (milliseconds).

use std::time::Duration;

use serde::Serializer;

/// Parse a Go duration string as OpenAI sends it: `1s`, `6m0s`, `12ms`, `1h2m3.5s`.
pub(crate) fn parse_go_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * scale;
    }
    seconds(total)
}

/// Parse Google's protobuf duration (`"47s"`, `"0.5s"`).
pub(crate) fn parse_proto_duration(s: &str) -> Option<Duration> {
    seconds(s.trim().strip_suffix('s')?.parse().ok()?)
}

/// A non-negative, finite number of seconds as a `Duration` rounded to the
/// nanosecond, capped at a day (no server hint is worth more).
pub(crate) fn seconds(s: f64) -> Option<Duration> {
    (s.is_finite() && s >= 0.0).then(|| {
        let nanos = (s.min(86_400.0) * 1e9).round();
        // In range: at most 86_400e9, far below u64::MAX.
        Duration::from_nanos(nanos as u64)
    })
}

/// Serialise an optional duration as whole milliseconds (or null).
pub(crate) fn serialize_opt_ms<S: Serializer>(
    d: &Option<Duration>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_u64(ms(*d)),
        None => s.serialize_none(),
    }
}

/// Serialise a duration as whole milliseconds.
pub(crate) fn serialize_ms<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(ms(*d))
}

pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn go_durations() {
        let ms = Duration::from_millis;
        assert_eq!(parse_go_duration("1s"), Some(ms(1000)));
        assert_eq!(parse_go_duration("6m0s"), Some(ms(360_000)));
        assert_eq!(parse_go_duration("12ms"), Some(ms(12)));
        assert_eq!(parse_go_duration("1h2m3.5s"), Some(ms(3_723_500)));
        assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("250us"), Some(Duration::from_micros(250)));
        for bad in ["", "s", "1x", "-1s", "1.2.3s", "ms5"] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn proto_durations() {
        assert_eq!(parse_proto_duration("47s"), Some(Duration::from_secs(47)));
        assert_eq!(
            parse_proto_duration("0.5s"),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_proto_duration("47"), None);
    }

    proptest! {
        #[test]
        fn go_duration_round_trips(h in 0u64..24, m in 0u64..60, s in 0u64..60, msec in 0u64..1000) {
            let text = format!("{h}h{m}m{s}s");
            let want = Duration::from_secs(h * 3600 + m * 60 + s);
            prop_assert_eq!(parse_go_duration(&text), Some(want));
            let text = format!("{msec}ms");
            prop_assert_eq!(parse_go_duration(&text), Some(Duration::from_millis(msec)));
        }

        #[test]
        fn go_duration_never_panics(s in "\\PC{0,16}") {
            let _ = parse_go_duration(&s);
        }
    }
}
