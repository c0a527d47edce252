//! How `byok vault` prints views, reports, outcomes: text lines or one JSON
//! object per line. Every text line goes through `outln!` (escaped).

use byok::select::Skipped;
use byok::store::{CheckOutcome, KeyView, RewrapReport, Role};
use byok::verify::Report;
use byok::{Added, VaultError};
use serde_json::json;

use super::report;
use crate::output::{self, outln};
use crate::test_cmd::print_report;

pub(super) fn print_view(v: &KeyView, json: bool) {
    if json {
        output::print_json(&serde_json::to_value(v).unwrap_or_default());
    } else {
        outln!(
            "{}  {}  {}/{}  {}  {}  {}{}  {}  {}",
            v.id,
            v.workspace,
            v.provider,
            v.kind,
            v.masked,
            v.label,
            v.role.as_str(),
            if v.role == Role::Backup {
                format!("#{}", v.order)
            } else {
                String::new()
            },
            v.status.as_str(),
            v.fingerprint
        );
        if !v.params.is_empty() {
            let shown: Vec<String> = v
                .params
                .iter()
                .map(|(k, val)| format!("{k}={val}"))
                .collect();
            outln!("  params: {}", shown.join(" "));
        }
    }
}

/// The saved key's view plus `verdict` (null when not tested) and, when the verdict
/// is not `valid`, `warning`.
pub(super) fn print_added(added: &Added, json: bool) {
    let verdict = added.report.as_ref().map(|r| r.verdict.code());
    let warning = added.warning();
    if json {
        let mut value = serde_json::to_value(&added.key).unwrap_or_default();
        value["verdict"] = json!(verdict);
        if let Some(w) = &warning {
            value["warning"] = json!(w);
        }
        output::print_json(&value);
    } else {
        print_view(&added.key, false);
        match &added.report {
            Some(r) => outln!("verdict: {}: {}", r.verdict, r.message()),
            None => outln!("verdict: not tested (--no-test)"),
        }
        if let Some(w) = &warning {
            outln!("warning: {w}");
        }
    }
}

/// A key refused by its Test (`e`, with report `r`): the report's fields (as
/// `byok test` prints them) and the `key_rejected` error.
pub(super) fn print_rejected(e: &VaultError, r: &Report, json: bool) {
    if json {
        let mut value = serde_json::to_value(r).unwrap_or_default();
        value["error"] = json!({
            "code": e.code(),
            "message": e.to_string(),
            "hint": r.remediation(),
        });
        output::print_json(&value);
    } else {
        print_report(r, false);
        report(e, false);
    }
}

/// `no_usable_key` (`e`): the error and every candidate passed over, in one JSON
/// object, or the error on stderr and one line per candidate on stdout.
pub(super) fn print_no_usable(e: &VaultError, skipped: &[Skipped], json: bool) {
    if json {
        output::print_json(&json!({
            "error": { "code": e.code(), "message": e.to_string(), "hint": e.hint() },
            "skipped": skipped,
        }));
    } else {
        report(e, false);
        print_skipped(skipped);
    }
}

/// The keys `select` passed over, one text line each.
pub(super) fn print_skipped(skipped: &[Skipped]) {
    for s in skipped {
        outln!(
            "skipped  {}  {}  {}  {}: {}",
            s.id,
            s.masked,
            s.label,
            s.role.as_str(),
            s.reason.message()
        );
    }
}

pub(super) fn print_check(o: &CheckOutcome, json: bool) {
    if json {
        output::print_json(&serde_json::to_value(o).unwrap_or_default());
    } else {
        match &o.error {
            None => outln!("ok    {}  {}", o.id, o.workspace),
            Some(e) => outln!("FAIL  {}  {}  {}: {}", o.id, o.workspace, e.code(), e),
        }
    }
}

pub(super) fn print_rewrap(r: &RewrapReport, json: bool) {
    if json {
        output::print_json(&serde_json::to_value(r).unwrap_or_default());
    } else {
        outln!(
            "rewrap {}: {} rewrapped, {} already done, {} failed",
            if r.complete { "complete" } else { "INCOMPLETE" },
            r.progress.rewrapped,
            r.progress.already,
            r.progress.failed
        );
        for o in &r.failures {
            print_check(o, false);
        }
    }
}
