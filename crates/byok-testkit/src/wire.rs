//! Small formats the providers put on the wire.

use std::time::Duration;

/// A Go duration string as OpenAI writes it: `12ms`, `1.5s`, `6m0s`, `1h2m3s`.
pub(crate) fn go_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        return format!("{}ms", d.as_millis());
    }
    let total = d.as_secs_f64();
    let h = (total / 3600.0).floor();
    let m = ((total - h * 3600.0) / 60.0).floor();
    let s = total - h * 3600.0 - m * 60.0;
    let s = (s * 1000.0).round() / 1000.0;
    match (h as u64, m as u64) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m{s}s"),
        (h, m) => format!("{h}h{m}m{s}s"),
    }
}

/// A wait in whole seconds as `retry-after` carries it: rounded up, at least 1
/// (a `retry-after: 0` tells a client to retry at once).
pub(crate) fn whole_seconds(d: Duration) -> u64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

/// `now + d` as RFC 3339 (Anthropic's reset headers).
pub(crate) fn rfc3339_in(d: Duration) -> String {
    let now = jiff::Timestamp::now();
    let span = jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::ZERO);
    now.checked_add(span).unwrap_or(now).to_string()
}

/// How OpenAI echoes a wrong key: its first 3 characters (or the known
/// prefix), stars, its last 4. Never the key.
pub(crate) fn openai_mask(key: &str) -> String {
    let head = ["sk-proj-", "sk-svcacct-", "sk-admin-", "sk-None-"]
        .into_iter()
        .find(|p| key.starts_with(p))
        .map_or(3.min(key.len()), str::len);
    let tail = key.len().saturating_sub(4).max(head);
    if !key.is_char_boundary(head) || !key.is_char_boundary(tail) {
        return "****".to_owned();
    }
    format!(
        "{}{}{}",
        &key[..head],
        "*".repeat(key.len().saturating_sub(head + 4).min(40)),
        &key[tail..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_like_openai() {
        assert_eq!(go_duration(Duration::from_millis(12)), "12ms");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(360)), "6m0s");
        assert_eq!(go_duration(Duration::from_secs(3723)), "1h2m3s");
    }

    #[test]
    fn retry_after_in_whole_seconds_at_least_one() {
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_millis(10)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds(Duration::from_secs(45)), 45);
    }

    #[test]
    fn openai_mask_hides_the_middle() {
        let key = byok_keys::fake::key(byok_keys::Provider::OpenAi, byok_keys::KeyKind::Project, 1);
        let m = openai_mask(&key);
        assert!(m.starts_with("sk-proj-*"));
        assert!(m.ends_with(&key[key.len() - 4..]));
        assert!(!m.contains(&key[8..20]));
        assert_eq!(openai_mask("ab"), "ab");
    }
}
