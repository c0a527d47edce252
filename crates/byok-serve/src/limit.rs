//! Per-token rate limits on the routes that cost something to abuse: adding,
//! testing and rotating keys (each one contacts the provider: a stolen-key
//! checker would use them as an oracle, and a provider may rate-limit the
//! *key* for it), and the paste box's format check.
//!
//! Each token has one allowance per [`Limited`] kind, a generic cell rate
//! algorithm (GCRA, a token bucket with one timestamp per entry): `burst`
//! requests at once, then one every `60 s / per_minute`. A request over it is
//! `429 rate_limited` with `retry-after` in whole seconds, and does nothing.
//! The allowance is per server process (several instances behind one balancer
//! each give a token its own allowance).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use crate::error::ApiError;

/// How often one token may do one kind of thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    per_minute: u32,
    burst: u32,
}

impl Quota {
    /// `per_minute` requests a minute on average, up to `burst` at once
    /// (both at least 1).
    pub fn new(per_minute: u32, burst: u32) -> Quota {
        Quota {
            per_minute: per_minute.max(1),
            burst: burst.max(1),
        }
    }

    /// Requests a minute, on average.
    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Requests at once.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The time one request uses up.
    fn interval(&self) -> Duration {
        Duration::from_secs(60) / self.per_minute
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.per_minute, self.burst)
    }
}

/// The error of a rate that is not `PER_MINUTE`, `PER_MINUTE,BURST` or `off`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaError;

impl fmt::Display for QuotaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a rate is PER_MINUTE or PER_MINUTE,BURST (whole numbers from 1), or `off`")
    }
}

impl std::error::Error for QuotaError {}

/// `off`, `PER_MINUTE` (a burst of a third of it, at least 1) or `PER_MINUTE,BURST`.
impl FromStr for Limit {
    type Err = QuotaError;

    fn from_str(s: &str) -> Result<Limit, QuotaError> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(Limit(None));
        }
        let number = |t: &str| match t.trim().parse::<u32>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(QuotaError),
        };
        let quota = match s.split_once(',') {
            Some((rate, burst)) => Quota::new(number(rate)?, number(burst)?),
            None => {
                let rate = number(s)?;
                Quota::new(rate, rate / 3)
            }
        };
        Ok(Limit(Some(quota)))
    }
}

/// A quota, or none (`off`): what a command-line flag names (`30`, `30,10`, `off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub Option<Quota>);

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(q) => q.fmt(f),
            None => f.write_str("off"),
        }
    }
}

/// The kinds of request that are limited, each with its own allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Limited {
    /// Add, Test and rotate: each one sends the key to its provider.
    KeyTest,
    /// The paste box's format check (nothing leaves the server).
    FormatCheck,
}

impl Limited {
    /// Its name in the metrics.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Limited::KeyTest => "key_test",
            Limited::FormatCheck => "format_check",
        }
    }
}

/// The per-token limits of [`Options`](crate::Options).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimits {
    /// Adding, testing and rotating keys, together (default 30 a minute, 10 at once).
    pub key_tests: Option<Quota>,
    /// The format check (default 300 a minute, 100 at once: a paste box may
    /// check as the user types).
    pub format_checks: Option<Quota>,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            key_tests: Some(Quota::new(30, 10)),
            format_checks: Some(Quota::new(300, 100)),
        }
    }
}

impl RateLimits {
    /// No limits at all.
    pub fn off() -> RateLimits {
        RateLimits {
            key_tests: None,
            format_checks: None,
        }
    }

    /// With this quota for add / Test / rotate (`None`: unlimited).
    pub fn key_tests(mut self, quota: Option<Quota>) -> Self {
        self.key_tests = quota;
        self
    }

    /// With this quota for the format check (`None`: unlimited).
    pub fn format_checks(mut self, quota: Option<Quota>) -> Self {
        self.format_checks = quota;
        self
    }

    fn quota(&self, kind: Limited) -> Option<Quota> {
        match kind {
            Limited::KeyTest => self.key_tests,
            Limited::FormatCheck => self.format_checks,
        }
    }
}

/// Entries kept before the idle ones are swept out.
const SWEEP_AT: usize = 4096;

/// The allowances of every token, in memory.
#[derive(Debug)]
pub(crate) struct Limiter {
    limits: RateLimits,
    /// (token id, kind) → the theoretical arrival time of the next request.
    cells: Mutex<HashMap<(String, Limited), Instant>>,
}

impl Limiter {
    pub(crate) fn new(limits: RateLimits) -> Limiter {
        Limiter {
            limits,
            cells: Mutex::new(HashMap::new()),
        }
    }

    /// Take one request of `kind` from `token`'s allowance, or say how long
    /// to wait.
    pub(crate) fn check(&self, token: &str, kind: Limited) -> Result<(), ApiError> {
        self.check_at(token, kind, Instant::now())
    }

    fn check_at(&self, token: &str, kind: Limited, now: Instant) -> Result<(), ApiError> {
        let Some(quota) = self.limits.quota(kind) else {
            return Ok(());
        };
        let interval = quota.interval();
        let tolerance = interval * (quota.burst - 1);
        let mut cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
        if cells.len() >= SWEEP_AT {
            // An entry whose time has passed is a full allowance: forget it.
            cells.retain(|_, tat| *tat > now);
        }
        let tat = cells
            .get(&(token.to_owned(), kind))
            .copied()
            .unwrap_or(now)
            .max(now);
        let ahead = tat - now;
        if ahead > tolerance {
            let wait = ahead - tolerance;
            return Err(rate_limited(kind, quota, wait));
        }
        cells.insert((token.to_owned(), kind), tat + interval);
        Ok(())
    }
}

fn rate_limited(kind: Limited, quota: Quota, wait: Duration) -> ApiError {
    // Whole seconds, rounded up: a client that waits this long is let in.
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let what = match kind {
        Limited::KeyTest => "adding, testing and rotating keys",
        Limited::FormatCheck => "format checks",
    };
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!(
            "this token has used its allowance for {what} ({} a minute, {} at once)",
            quota.per_minute, quota.burst
        ),
    )
    .hint(format!("wait {secs} s (retry-after) and try again"))
    .retry_after(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_minute: u32, burst: u32) -> Limiter {
        Limiter::new(RateLimits::off().key_tests(Some(Quota::new(per_minute, burst))))
    }

    #[test]
    fn a_burst_then_one_per_interval() {
        let l = limiter(60, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            l.check_at("a", Limited::KeyTest, t0).unwrap();
        }
        let e = l.check_at("a", Limited::KeyTest, t0).unwrap_err();
        assert_eq!(e.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.code(), "rate_limited");
        assert_eq!(e.retry_after_secs(), Some(1));
        // A refusal takes nothing: one interval later exactly one more fits.
        let t1 = t0 + Duration::from_secs(1);
        l.check_at("a", Limited::KeyTest, t1).unwrap();
        assert!(l.check_at("a", Limited::KeyTest, t1).is_err());
        // After a long pause the whole burst is back.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            l.check_at("a", Limited::KeyTest, t2).unwrap();
        }
        assert!(l.check_at("a", Limited::KeyTest, t2).is_err());
    }

    #[test]
    fn tokens_and_kinds_have_their_own_allowance() {
        let l = Limiter::new(RateLimits {
            key_tests: Some(Quota::new(1, 1)),
            format_checks: Some(Quota::new(1, 1)),
        });
        let t = Instant::now();
        l.check_at("a", Limited::KeyTest, t).unwrap();
        assert!(l.check_at("a", Limited::KeyTest, t).is_err());
        l.check_at("b", Limited::KeyTest, t).unwrap();
        l.check_at("a", Limited::FormatCheck, t).unwrap();
        // One a minute: the wait is the rest of the minute.
        let e = l
            .check_at("a", Limited::KeyTest, t + Duration::from_millis(500))
            .unwrap_err();
        assert_eq!(e.retry_after_secs(), Some(60));
    }

    #[test]
    fn off_is_unlimited_and_idle_entries_are_swept() {
        let l = Limiter::new(RateLimits::off().key_tests(Some(Quota::new(600, 1))));
        let t = Instant::now();
        for _ in 0..1000 {
            l.check_at("a", Limited::FormatCheck, t).unwrap();
        }
        for i in 0..SWEEP_AT {
            l.check_at(&format!("t{i}"), Limited::KeyTest, t).unwrap();
        }
        let later = t + Duration::from_secs(1);
        l.check_at("fresh", Limited::KeyTest, later).unwrap();
        assert_eq!(l.cells.lock().unwrap().len(), 1);
    }

    #[test]
    fn rates_parse() {
        assert_eq!("off".parse::<Limit>().unwrap(), Limit(None));
        assert_eq!(
            "30".parse::<Limit>().unwrap(),
            Limit(Some(Quota::new(30, 10)))
        );
        assert_eq!(
            " 5,2 ".parse::<Limit>().unwrap(),
            Limit(Some(Quota::new(5, 2)))
        );
        assert_eq!("2".parse::<Limit>().unwrap(), Limit(Some(Quota::new(2, 1))));
        for bad in ["", "0", "-1", "x", "5,0", "5,", ",5", "1.5"] {
            assert!(bad.parse::<Limit>().is_err(), "{bad}");
        }
        assert_eq!(Limit(Some(Quota::new(30, 10))).to_string(), "30,10");
        assert_eq!(Limit(None).to_string(), "off");
        for l in ["off", "7,3"] {
            assert_eq!(l.parse::<Limit>().unwrap().to_string(), l);
        }
    }
}
