//! Reading a backend's stored text back into ledger values, one rule for
//! every backend: what cannot be read is `corrupt_ledger`, naming the field.

use std::fmt;

use crate::budget::{Budget, Scope};
use crate::cost::Label;
use crate::{GuardError, Usd};

/// The row readers of one backend (its name goes into every error).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rows {
    backend: &'static str,
}

impl Rows {
    /// The readers of `backend` (`sqlite`, `postgres`, `redis`).
    pub(crate) const fn new(backend: &'static str) -> Rows {
        Rows { backend }
    }

    /// The stored data is not what this backend writes.
    pub(crate) fn corrupt(self, what: impl fmt::Display) -> GuardError {
        GuardError::CorruptLedger {
            backend: self.backend,
            message: what.to_string(),
        }
    }

    /// An amount stored as exact decimal text (Redis stores limbs instead).
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn amount(self, text: &str) -> Result<Usd, GuardError> {
        Usd::parse(text).map_err(|_| self.corrupt(format!("amount {text:?} is not a decimal")))
    }

    /// A scope name.
    pub(crate) fn scope(self, text: &str) -> Result<Scope, GuardError> {
        Scope::custom(text).map_err(|_| self.corrupt(format!("scope {text:?}")))
    }

    /// A cost label (`estimated`, …).
    pub(crate) fn label(self, text: &str) -> Result<Label, GuardError> {
        text.parse()
            .map_err(|_| self.corrupt(format!("label {text:?}")))
    }

    /// A time stored as milliseconds since the epoch.
    pub(crate) fn millis(self, ms: i64) -> Result<jiff::Timestamp, GuardError> {
        jiff::Timestamp::from_millisecond(ms)
            .map_err(|_| self.corrupt(format!("time {ms} ms is out of range")))
    }

    /// An alert threshold in percent.
    pub(crate) fn percent(self, text: &str) -> Result<u32, GuardError> {
        text.parse()
            .map_err(|_| self.corrupt(format!("alert percent {text:?}")))
    }

    /// A budget spec (the JSON that `put_budget` stored).
    pub(crate) fn budget(self, spec: &str) -> Result<Budget, GuardError> {
        serde_json::from_str(spec).map_err(|e| self.corrupt(format!("budget spec: {e}")))
    }

    /// A budget as `put_budget` stores it.
    pub(crate) fn spec(self, budget: &Budget) -> Result<String, GuardError> {
        serde_json::to_string(budget).map_err(|e| self.corrupt(e))
    }
}

#[cfg(test)]
mod tests {
    use super::Rows;

    #[test]
    fn unreadable_rows_are_corrupt_and_name_the_field() {
        let rows = Rows::new("sqlite");
        for (e, what) in [
            (rows.amount("1.x").unwrap_err(), "amount \"1.x\""),
            (rows.scope("").unwrap_err(), "scope \"\""),
            (rows.label("guessed").unwrap_err(), "label \"guessed\""),
            (rows.percent("-1").unwrap_err(), "alert percent \"-1\""),
            (rows.budget("{").unwrap_err(), "budget spec"),
        ] {
            assert_eq!(e.code(), "ledger_corrupt");
            assert!(e.to_string().contains(what), "{e}");
            assert!(e.to_string().contains("sqlite"), "{e}");
        }
        assert_eq!(rows.amount("0.25").unwrap(), "0.25".parse().unwrap());
        assert_eq!(rows.percent("80").unwrap(), 80);
        assert_eq!(rows.millis(i64::MAX).unwrap_err().code(), "ledger_corrupt");
        assert_eq!(rows.millis(1_000).unwrap().as_millisecond(), 1_000);
    }
}
