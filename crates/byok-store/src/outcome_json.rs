//! The JSON shapes of [`CheckOutcome`] and [`RewrapReport`]: what `byok vault
//! check --json` and `byok vault rewrap --json` print, and what a server returns.
//!
//! `CheckOutcome`: `{"id", "workspace", "ok", "error": {"code", "message"} | null}`.
//! `RewrapReport`: `{"seen", "rewrapped", "already", "failed", "remaining",
//! "complete", "failures": [CheckOutcome…]}`. An error's message never holds a
//! secret (see [`StoreError`]).

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::{CheckOutcome, RewrapReport, StoreError};

/// `{"code", "message"}` of a store error.
struct ErrorJson<'a>(&'a StoreError);

impl Serialize for ErrorJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Error", 2)?;
        st.serialize_field("code", self.0.code())?;
        st.serialize_field("message", &self.0.to_string())?;
        st.end()
    }
}

impl Serialize for CheckOutcome {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("CheckOutcome", 4)?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("workspace", &self.workspace)?;
        st.serialize_field("ok", &self.ok())?;
        st.serialize_field("error", &self.error.as_ref().map(ErrorJson))?;
        st.end()
    }
}

impl Serialize for RewrapReport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("RewrapReport", 7)?;
        st.serialize_field("seen", &self.progress.seen)?;
        st.serialize_field("rewrapped", &self.progress.rewrapped)?;
        st.serialize_field("already", &self.progress.already)?;
        st.serialize_field("failed", &self.progress.failed)?;
        st.serialize_field("remaining", &self.remaining)?;
        st.serialize_field("complete", &self.complete)?;
        st.serialize_field("failures", &self.failures)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyId, RewrapProgress, WorkspaceId};

    fn outcome(error: Option<StoreError>) -> CheckOutcome {
        CheckOutcome {
            id: KeyId::new(),
            workspace: WorkspaceId::new("acme").unwrap(),
            error,
        }
    }

    #[test]
    fn check_outcomes_carry_ok_and_a_coded_error() {
        let fine = serde_json::to_value(outcome(None)).unwrap();
        assert_eq!(fine["ok"], true);
        assert!(fine["error"].is_null());
        assert_eq!(fine["workspace"], "acme");
        let bad = serde_json::to_value(outcome(Some(StoreError::Tampered {
            id: "x".into(),
            field: "kind".into(),
        })))
        .unwrap();
        assert_eq!(bad["ok"], false);
        assert_eq!(bad["error"]["code"], "tampered");
        assert!(bad["error"]["message"].is_string());
    }

    #[test]
    fn rewrap_reports_flatten_their_counts() {
        let report = RewrapReport {
            progress: RewrapProgress {
                seen: 3,
                rewrapped: 1,
                already: 1,
                failed: 1,
            },
            failures: vec![outcome(Some(StoreError::Tampered {
                id: "x".into(),
                field: "kind".into(),
            }))],
            remaining: 0,
            complete: false,
        };
        let v = serde_json::to_value(&report).unwrap();
        for (field, n) in [("seen", 3), ("rewrapped", 1), ("already", 1), ("failed", 1)] {
            assert_eq!(v[field], n, "{field}");
        }
        assert_eq!(v["remaining"], 0);
        assert_eq!(v["complete"], false);
        assert_eq!(v["failures"][0]["error"]["code"], "tampered");
    }
}
