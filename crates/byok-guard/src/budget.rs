//! Budgets: a scope, a period, a hard limit and soft alert thresholds.

use std::fmt;
use std::sync::Arc;

use jiff::{Timestamp, ToSpan, Zoned};
use serde::{Deserialize, Serialize};

use crate::{GuardError, Usd};

/// What a budget applies to: a workspace, project, key, or any custom string.
///
/// Scopes are plain strings (`workspace:acme`, `project:p1`, `key:<id>`, or
/// your own); a request names every scope it counts against. Cloning is a
/// reference-count increment: scopes are copied into every hold on the hot path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scope(Arc<str>);

impl Scope {
    /// `workspace:<id>`.
    pub fn workspace(id: impl fmt::Display) -> Scope {
        Scope(format!("workspace:{id}").into())
    }

    /// `project:<id>`.
    pub fn project(id: impl fmt::Display) -> Scope {
        Scope(format!("project:{id}").into())
    }

    /// `key:<id>` (use a key record id or fingerprint, never the key).
    pub fn key(id: impl fmt::Display) -> Scope {
        Scope(format!("key:{id}").into())
    }

    /// Any scope string: 1 to 200 characters, no control characters.
    pub fn custom(name: impl Into<String>) -> Result<Scope, GuardError> {
        let name = name.into();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(GuardError::InvalidBudget {
                reason: "a scope is 1 to 200 characters without control characters".into(),
            });
        }
        Ok(Scope(name.into()))
    }

    /// The scope string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Scope {
    type Error = GuardError;
    fn try_from(s: String) -> Result<Scope, GuardError> {
        Scope::custom(s)
    }
}

impl From<Scope> for String {
    fn from(s: Scope) -> String {
        s.0.to_string()
    }
}

impl std::str::FromStr for Scope {
    type Err = GuardError;
    fn from_str(s: &str) -> Result<Scope, GuardError> {
        Scope::custom(s)
    }
}

/// How spend is grouped: calendar day, ISO week (from Monday), calendar
/// month — each in the budget's time zone — or all time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// From local midnight to the next.
    Day,
    /// From Monday 00:00 local time, seven calendar days.
    Week,
    /// From the 1st 00:00 local time to the next month's 1st.
    Month,
    /// Never resets.
    Total,
}

impl Period {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
            Period::Total => "total",
        }
    }
}

impl std::str::FromStr for Period {
    type Err = GuardError;
    fn from_str(s: &str) -> Result<Period, GuardError> {
        match s {
            "day" => Ok(Period::Day),
            "week" => Ok(Period::Week),
            "month" => Ok(Period::Month),
            "total" => Ok(Period::Total),
            _ => Err(GuardError::InvalidBudget {
                reason: format!("unknown period {s:?}; use day, week, month or total"),
            }),
        }
    }
}

/// The time window of one period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Window {
    /// Inclusive start (`None` for a total budget).
    pub start: Option<Timestamp>,
    /// Exclusive end (`None` for a total budget).
    pub end: Option<Timestamp>,
}

impl Window {
    /// A stable key for storing this period's spend: `total` or the start instant.
    pub fn key(&self) -> String {
        self.start
            .map_or_else(|| "total".to_owned(), |s| s.to_string())
    }

    /// Whether `now` falls inside this period (start inclusive, end exclusive).
    pub(crate) fn contains(&self, now: Timestamp) -> bool {
        self.start.is_none_or(|s| s <= now) && self.end.is_none_or(|e| now < e)
    }
}

/// A budget and the period it was last asked about: what every ledger keeps
/// per budget so that a hold does the calendar math of [`Budget::window`]
/// (the slow part of a hold) once per period, not once per call.
#[derive(Clone, Debug)]
pub(crate) struct CachedBudget {
    budget: Budget,
    /// The window last computed and its key.
    current: Option<(Window, Arc<str>)>,
}

impl CachedBudget {
    /// Nothing computed yet: the first [`period_key`](Self::period_key) computes it.
    pub(crate) fn new(budget: Budget) -> CachedBudget {
        CachedBudget {
            budget,
            current: None,
        }
    }

    /// The budget.
    pub(crate) fn budget(&self) -> &Budget {
        &self.budget
    }

    /// The key of the period containing `now` ([`Window::key`]), from the
    /// remembered window while `now` is inside it, recomputed when it left.
    pub(crate) fn period_key(&mut self, now: Timestamp) -> Result<Arc<str>, GuardError> {
        if let Some((window, key)) = &self.current {
            if window.contains(now) {
                return Ok(key.clone());
            }
        }
        let window = self.budget.window(now)?;
        let key: Arc<str> = window.key().into();
        self.current = Some((window, key.clone()));
        Ok(key)
    }
}

/// A spending limit on one scope.
///
/// ```
/// use byok_guard::{Budget, Period, Scope, Usd};
/// let b = Budget::new(Scope::project("p1"), Usd::from_dollars(50), Period::Month)
///     .time_zone("Europe/Paris")
///     .alerts([50, 80, 100]);
/// b.validate().unwrap();
/// let now: jiff::Timestamp = "2026-03-15T12:00:00Z".parse().unwrap();
/// let w = b.window(now).unwrap();
/// assert_eq!(w.start.unwrap().to_string(), "2026-02-28T23:00:00Z");
/// assert_eq!(w.end.unwrap().to_string(), "2026-03-31T22:00:00Z");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// What it applies to.
    pub scope: Scope,
    /// The hard limit per period: a request that would pass it is denied.
    pub limit: Usd,
    /// How spend is grouped.
    pub period: Period,
    /// IANA time zone for calendar periods (default `UTC`).
    #[serde(default = "utc")]
    pub time_zone: String,
    /// Soft thresholds in percent of the limit; each fires one alert per period.
    #[serde(default)]
    pub alert_percents: Vec<u32>,
}

fn utc() -> String {
    "UTC".to_owned()
}

impl Budget {
    /// A budget in UTC with no alerts.
    pub fn new(scope: Scope, limit: Usd, period: Period) -> Budget {
        Budget {
            scope,
            limit,
            period,
            time_zone: utc(),
            alert_percents: Vec::new(),
        }
    }

    /// Set the IANA time zone of calendar periods.
    pub fn time_zone(mut self, name: impl Into<String>) -> Budget {
        self.time_zone = name.into();
        self
    }

    /// Set the alert thresholds (percent of the limit).
    pub fn alerts(mut self, percents: impl IntoIterator<Item = u32>) -> Budget {
        self.alert_percents = percents.into_iter().collect();
        self.alert_percents.sort_unstable();
        self.alert_percents.dedup();
        self
    }

    /// Check the limit (>= 0), time zone and thresholds (1 to 1000 %).
    pub fn validate(&self) -> Result<(), GuardError> {
        if self.limit.is_negative() {
            return Err(GuardError::InvalidBudget {
                reason: "the limit is negative; use 0 or more".into(),
            });
        }
        if let Some(p) = self
            .alert_percents
            .iter()
            .find(|p| !(1..=1000).contains(*p))
        {
            return Err(GuardError::InvalidBudget {
                reason: format!("alert threshold {p}% is out of range; use 1 to 1000"),
            });
        }
        jiff::tz::db()
            .get(&self.time_zone)
            .map(|_| ())
            .map_err(|_| GuardError::InvalidTimeZone {
                name: self.time_zone.clone(),
            })
    }

    /// The period containing `now`.
    pub fn window(&self, now: Timestamp) -> Result<Window, GuardError> {
        let tz = jiff::tz::db()
            .get(&self.time_zone)
            .map_err(|_| GuardError::InvalidTimeZone {
                name: self.time_zone.clone(),
            })?;
        let local = now.to_zoned(tz);
        let err = |e: jiff::Error| GuardError::InvalidBudget {
            reason: format!("cannot compute the period window: {e}"),
        };
        let (start, length): (Zoned, jiff::Span) = match self.period {
            Period::Total => {
                return Ok(Window {
                    start: None,
                    end: None,
                });
            }
            Period::Day => (local.start_of_day().map_err(err)?, 1.day()),
            Period::Week => {
                let back = i64::from(local.weekday().to_monday_zero_offset());
                let monday = local
                    .checked_sub(back.days())
                    .and_then(|z| z.start_of_day())
                    .map_err(err)?;
                (monday, 1.week())
            }
            Period::Month => (
                local
                    .first_of_month()
                    .and_then(|z| z.start_of_day())
                    .map_err(err)?,
                1.month(),
            ),
        };
        // Calendar arithmetic, then midnight again: DST days are 23 or 25 hours long.
        let end = start
            .checked_add(length)
            .and_then(|z| z.start_of_day())
            .map_err(err)?;
        Ok(Window {
            start: Some(start.timestamp()),
            end: Some(end.timestamp()),
        })
    }

    /// Where the open period's records go when `self` replaces `old` at `now`:
    /// `Some((from, into))` period keys when the period or time zone changed
    /// and the period containing `now` has another key under `self`.
    ///
    /// Every ledger moves the spend, holds and fired thresholds of `from` into
    /// `into` in the same transaction as the replacement, so redefining a
    /// budget never forgets (or gives back) what its open period has spent.
    pub(crate) fn carry_from(
        &self,
        old: &Budget,
        now: Timestamp,
    ) -> Result<Option<(String, String)>, GuardError> {
        if old.period == self.period && old.time_zone == self.time_zone {
            return Ok(None);
        }
        let from = old.window(now)?.key();
        let into = self.window(now)?.key();
        Ok((from != into).then_some((from, into)))
    }

    /// Thresholds reached by `spent` that are not in `fired`, ascending.
    pub(crate) fn crossed(&self, spent: Usd, fired: &[u32]) -> Vec<u32> {
        if spent.picos() <= 0 {
            return Vec::new();
        }
        self.alert_percents
            .iter()
            .copied()
            .filter(|p| !fired.contains(p))
            .filter(|p| {
                spent.picos().saturating_mul(100)
                    >= self.limit.picos().saturating_mul(i128::from(*p))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn budget(period: Period, tz: &str) -> Budget {
        Budget::new(Scope::workspace("w"), Usd::from_dollars(10), period).time_zone(tz)
    }

    #[test]
    fn day_window_follows_the_time_zone_and_dst() {
        let b = budget(Period::Day, "America/New_York");
        // 2026-03-08 is the US spring-forward day: 23 hours long.
        let w = b.window(ts("2026-03-08T12:00:00Z")).unwrap();
        assert_eq!(w.start.unwrap(), ts("2026-03-08T05:00:00Z"));
        assert_eq!(w.end.unwrap(), ts("2026-03-09T04:00:00Z"));
    }

    #[test]
    fn week_starts_monday_local() {
        let b = budget(Period::Week, "Asia/Tokyo");
        // Sunday 2026-11-22 20:00 UTC is Monday 05:00 in Tokyo.
        let w = b.window(ts("2026-11-22T20:00:00Z")).unwrap();
        assert_eq!(w.start.unwrap(), ts("2026-11-22T15:00:00Z"));
        assert_eq!(w.end.unwrap(), ts("2026-11-29T15:00:00Z"));
    }

    #[test]
    fn month_and_total() {
        let w = budget(Period::Month, "UTC")
            .window(ts("2026-02-28T23:59:59Z"))
            .unwrap();
        assert_eq!(
            (w.start.unwrap(), w.end.unwrap()),
            (ts("2026-02-01T00:00:00Z"), ts("2026-03-01T00:00:00Z"))
        );
        let t = budget(Period::Total, "UTC")
            .window(ts("2026-02-28T23:59:59Z"))
            .unwrap();
        assert_eq!(t.key(), "total");
    }

    #[test]
    fn validation_codes() {
        assert_eq!(
            budget(Period::Day, "Mars/Olympus")
                .validate()
                .unwrap_err()
                .code(),
            "invalid_time_zone"
        );
        let neg = Budget::new(Scope::workspace("w"), Usd::from_picos(-1), Period::Day);
        assert_eq!(neg.validate().unwrap_err().code(), "invalid_budget");
        let zero_alert = budget(Period::Day, "UTC").alerts([0]);
        assert_eq!(zero_alert.validate().unwrap_err().code(), "invalid_budget");
        assert!(Scope::custom("").is_err());
        assert!(Scope::custom("a\nb").is_err());
    }

    #[test]
    fn the_cached_period_follows_now() {
        let mut c = CachedBudget::new(budget(Period::Day, "UTC"));
        let key = c.period_key(ts("2026-03-08T23:59:59Z")).unwrap();
        assert_eq!(&*key, "2026-03-08T00:00:00Z");
        // Inside the window: the same key; at its (exclusive) end: the next day's.
        assert_eq!(c.period_key(ts("2026-03-08T00:00:00Z")).unwrap(), key);
        assert_eq!(
            &*c.period_key(ts("2026-03-09T00:00:00Z")).unwrap(),
            "2026-03-09T00:00:00Z"
        );
        // And back: a `now` before the remembered window is recomputed too.
        assert_eq!(c.period_key(ts("2026-03-08T12:00:00Z")).unwrap(), key);
        let mut total = CachedBudget::new(budget(Period::Total, "UTC"));
        assert_eq!(
            &*total.period_key(ts("2026-03-08T12:00:00Z")).unwrap(),
            "total"
        );
    }

    #[test]
    fn thresholds_cross_once() {
        let b = budget(Period::Day, "UTC").alerts([80, 50, 100]);
        assert_eq!(b.alert_percents, vec![50, 80, 100]);
        assert_eq!(b.crossed(Usd::from_dollars(5), &[]), vec![50]);
        assert_eq!(b.crossed(Usd::from_dollars(9), &[50]), vec![80]);
        assert!(
            b.crossed(Usd::from_picos(4_999_999_999_999), &[])
                .is_empty()
        );
        assert_eq!(b.crossed(Usd::from_dollars(11), &[]), vec![50, 80, 100]);
    }
}
