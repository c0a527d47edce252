//! `GET /metrics`: the server's counters in the Prometheus text format
//! (version 0.0.4), and the budgets' figures read from the ledger at scrape
//! time.
//!
//! Counted as they happen: requests (method, route template, status) and
//! their durations; Tests by provider and verdict; proxied calls by provider
//! and status, byok's own refusals by code, fallbacks by provider and the
//! verdict that caused them; rate-limit refusals by kind. Read at scrape:
//! every workspace budget's limit, spend by label, held amount and remaining.
//! No label value is ever a secret: routes are templates (never the path),
//! providers, verdicts and codes are stable codes, and scopes are workspace
//! ids.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use byok::guard::{BudgetStatus, Scope};

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The counters' names, help lines and label names, in the order they are shown.
const COUNTERS: [(&str, &str); 6] = [
    (
        "byok_http_requests_total",
        "Requests answered, by method, route template and status.",
    ),
    (
        "byok_key_tests_total",
        "Key Tests (the Test button, and the Test before a key is saved), by provider and verdict.",
    ),
    (
        "byok_proxy_calls_total",
        "Proxied calls answered, by provider and the status the client got.",
    ),
    (
        "byok_proxy_refusals_total",
        "Proxied calls byok refused itself (budget_denied, no_usable_key, ...), by provider and code.",
    ),
    (
        "byok_fallbacks_total",
        "Keys a proxied call fell back from, by provider and the verdict of the refusal.",
    ),
    (
        "byok_rate_limited_total",
        "Requests refused by a per-token rate limit, by kind.",
    ),
];

/// Upper bounds of the duration histogram's buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0,
];

type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The counters of one server.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    counters: Mutex<BTreeMap<(&'static str, Labels), u64>>,
    durations: Mutex<BTreeMap<String, Histogram>>,
}

impl Metrics {
    /// Add one to the counter `name` (one of [`COUNTERS`]) with these labels.
    pub(crate) fn count(&self, name: &'static str, labels: Labels) {
        debug_assert!(COUNTERS.iter().any(|(n, _)| *n == name), "{name}");
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        *counters.entry((name, labels)).or_default() += 1;
    }

    /// One answered request.
    pub(crate) fn request(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.count(
            "byok_http_requests_total",
            vec![
                ("method", method.to_owned()),
                ("route", route.to_owned()),
                ("status", status.to_string()),
            ],
        );
        let secs = took.as_secs_f64();
        let mut durations = self.durations.lock().unwrap_or_else(|p| p.into_inner());
        let h = durations.entry(route.to_owned()).or_default();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// The counters and durations, in the text format.
    fn render(&self, out: &mut String) {
        let counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        for (name, help) in COUNTERS {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for ((_, labels), value) in counters.iter().filter(|((n, _), _)| *n == name) {
                let _ = writeln!(out, "{name}{} {value}", label_set(labels));
            }
        }
        drop(counters);
        let name = "byok_http_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time to answer a request (to the first byte of a stream), by route template.\n# TYPE {name} histogram"
        );
        let durations = self.durations.lock().unwrap_or_else(|p| p.into_inner());
        for (route, h) in durations.iter() {
            let route = escape(route);
            for (bound, count) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    out,
                    "{name}_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "{name}_sum{{route=\"{route}\"}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{route=\"{route}\"}} {}", h.count);
        }
    }
}

/// `{a="x",b="y"}`, or nothing without labels.
fn label_set(labels: &Labels) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// A label value as the text format wants it: `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The budget gauges of every workspace that has a budget.
fn render_budgets(statuses: &[(Scope, BudgetStatus)], out: &mut String) {
    let gauges = [
        ("byok_budget_limit_usd", "A budget's limit, in USD."),
        (
            "byok_budget_spent_usd",
            "Settled spend in the budget's current period, in USD, by cost label (verified_by_provider, estimated, pending_provider_sync, cost_unavailable).",
        ),
        (
            "byok_budget_held_usd",
            "Held by calls under way in the current period, in USD.",
        ),
        (
            "byok_budget_remaining_usd",
            "limit - spent - held in the current period, in USD (negative when settled costs passed the limit).",
        ),
    ];
    for (name, help) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (scope, status) in statuses {
            let base = vec![
                ("scope", scope.as_str().to_owned()),
                ("period", status.budget.period.as_str().to_owned()),
            ];
            let mut line = |labels: Labels, value: String| {
                let _ = writeln!(out, "{name}{} {value}", label_set(&labels));
            };
            match name {
                "byok_budget_limit_usd" => line(base, status.budget.limit.to_string()),
                "byok_budget_held_usd" => line(base, status.held.to_string()),
                "byok_budget_remaining_usd" => line(base, status.remaining.to_string()),
                _ => {
                    for (label, usd) in &status.spent_by_label {
                        let mut labels = base.clone();
                        labels.push(("label", label.as_str().to_owned()));
                        line(labels, usd.to_string());
                    }
                }
            }
        }
    }
}

#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "The Prometheus text format (0.0.4): requests, Tests by verdict, proxied calls, refusals, fallbacks, rate limits, and every workspace budget's limit, spend by label, held and remaining", content_type = "text/plain"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn metrics(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Response, ApiError> {
    caller.admin("/metrics (it shows every workspace's spend)")?;
    let mut statuses = Vec::new();
    for ws in state.access()?.workspaces().await? {
        let scope = Scope::workspace(&ws.id);
        if let Some(status) = state.guard().status(&scope).await? {
            statuses.push((scope, status));
        }
    }
    let mut out = String::new();
    state.metrics().render(&mut out);
    render_budgets(&statuses, &mut out);
    let mut response = out.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_render_in_the_text_format() {
        let m = Metrics::default();
        m.request("GET", "/v1/workspaces", 200, Duration::from_millis(3));
        m.request("GET", "/v1/workspaces", 200, Duration::from_millis(300));
        m.count(
            "byok_key_tests_total",
            vec![
                ("provider", "openai".into()),
                ("verdict", "no_credits".into()),
            ],
        );
        m.count(
            "byok_rate_limited_total",
            vec![("kind", "a\"b\\c\nd".into())],
        );
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains(
            "byok_http_requests_total{method=\"GET\",route=\"/v1/workspaces\",status=\"200\"} 2\n"
        ));
        assert!(
            out.contains("byok_key_tests_total{provider=\"openai\",verdict=\"no_credits\"} 1\n")
        );
        assert!(out.contains("byok_rate_limited_total{kind=\"a\\\"b\\\\c\\nd\"} 1\n"));
        let b = "byok_http_request_duration_seconds_bucket{route=\"/v1/workspaces\"";
        assert!(out.contains(&format!("{b},le=\"0.001\"}} 0\n")));
        assert!(out.contains(&format!("{b},le=\"0.005\"}} 1\n")));
        assert!(out.contains(&format!("{b},le=\"0.25\"}} 1\n")));
        assert!(out.contains(&format!("{b},le=\"1\"}} 2\n")));
        assert!(out.contains(&format!("{b},le=\"+Inf\"}} 2\n")));
        assert!(
            out.contains("byok_http_request_duration_seconds_count{route=\"/v1/workspaces\"} 2\n")
        );
        // Every family has its HELP and TYPE once, even with nothing counted yet.
        for (name, _) in COUNTERS {
            assert_eq!(out.matches(&format!("# TYPE {name} counter\n")).count(), 1);
        }
    }
}
