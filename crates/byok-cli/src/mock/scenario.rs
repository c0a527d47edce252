//! Scenarios by their stable names (`Scenario::name`), with the parameters some take.

use std::time::Duration;

use byok::keys::Provider;
use byok::testkit::{Scenario, UsageExtras};
use serde_json::{Value, json};

use crate::output::CliError;

/// The parameters a scenario may take, as the control API and `--scenario` name them.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Wanted {
    /// The scenario's stable name (`rate_limited`).
    pub(crate) name: String,
    /// `rate_limited`, `outage`: how many requests are refused.
    pub(crate) times: Option<u32>,
    /// `rate_limited`: the wait hint, in milliseconds.
    pub(crate) retry_after_ms: Option<u64>,
    /// `outage`: the HTTP status of the failures.
    pub(crate) status: Option<u16>,
    /// `slow`: the delay before each answer, in milliseconds.
    pub(crate) ms: Option<u64>,
    /// `stream_error`, `stream_cut`, `stream_stall`: events sent before the trouble.
    pub(crate) after: Option<u32>,
    /// `stream_stall`: how long the stream goes silent, in milliseconds.
    pub(crate) stall_ms: Option<u64>,
    /// Any scenario: input tokens reported as read from the prompt cache.
    pub(crate) cached_tokens: Option<u64>,
    /// Any scenario: reasoning tokens reported (spent first out of the output cap).
    pub(crate) reasoning_tokens: Option<u64>,
    /// Any scenario: input tokens reported as written to the prompt cache (Anthropic).
    pub(crate) cache_write_tokens: Option<u64>,
}

impl Wanted {
    /// The token counts every successful answer reports besides the request's own.
    pub(crate) fn usage(&self) -> UsageExtras {
        UsageExtras::new()
            .cached_tokens(self.cached_tokens.unwrap_or(0))
            .reasoning_tokens(self.reasoning_tokens.unwrap_or(0))
            .cache_write_tokens(self.cache_write_tokens.unwrap_or(0))
    }

    /// The scenario parameters given, by name.
    fn given(&self) -> [(&'static str, bool); 6] {
        [
            ("times", self.times.is_some()),
            ("retry_after_ms", self.retry_after_ms.is_some()),
            ("status", self.status.is_some()),
            ("ms", self.ms.is_some()),
            ("after", self.after.is_some()),
            ("stall_ms", self.stall_ms.is_some()),
        ]
    }
}

/// The usage extras as the control API shows them.
pub(crate) fn usage_json(usage: UsageExtras) -> Value {
    json!({
        "cached_tokens": usage.cached_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
    })
}

/// Every stable name, in catalogue order, each once.
pub(crate) fn names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for s in Scenario::catalogue() {
        if !names.contains(&s.name()) {
            names.push(s.name());
        }
    }
    names
}

/// The parameters `scenario` takes.
fn parameters(scenario: &Scenario) -> &'static [&'static str] {
    match scenario {
        Scenario::RateLimited { .. } => &["times", "retry_after_ms"],
        Scenario::Outage { .. } => &["times", "status"],
        Scenario::Slow(_) => &["ms"],
        Scenario::StreamError { .. } | Scenario::StreamCut { .. } => &["after"],
        Scenario::StreamStall { .. } => &["after", "stall_ms"],
        _ => &[],
    }
}

/// The scenario `wanted` names, its defaults (the catalogue's first scenario of that
/// name) overridden by the parameters given.
pub(crate) fn build(wanted: &Wanted) -> Result<Scenario, CliError> {
    let Some(base) = Scenario::catalogue()
        .into_iter()
        .find(|s| s.name() == wanted.name)
    else {
        return Err(CliError::new(
            "unknown_scenario",
            format!("no scenario is named {:?}", wanted.name),
        )
        .hint(format!("scenario names: {}", names().join(", "))));
    };
    let takes = parameters(&base);
    if let Some((param, _)) = wanted
        .given()
        .into_iter()
        .find(|(p, given)| *given && !takes.contains(p))
    {
        return Err(CliError::new(
            "invalid_parameter",
            format!("{} takes no parameter {param:?}", base.name()),
        )
        .hint(parameters_hint()));
    }
    let ms = Duration::from_millis;
    let mut scenario = base;
    match &mut scenario {
        Scenario::RateLimited { times, retry_after } => {
            *times = wanted.times.unwrap_or(*times);
            *retry_after = wanted.retry_after_ms.map_or(*retry_after, ms);
        }
        Scenario::Outage { times, status } => {
            *times = wanted.times.unwrap_or(*times);
            *status = wanted.status.unwrap_or(*status);
            if !matches!(*status, 500 | 502 | 503 | 504 | 529) {
                return Err(CliError::new(
                    "invalid_parameter",
                    format!("outage status {status} is not one the providers send"),
                )
                .hint("outage status: 500, 502, 503, 504, or 529 (anthropic only)"));
            }
        }
        Scenario::Slow(delay) => *delay = wanted.ms.map_or(*delay, ms),
        Scenario::StreamError { after } | Scenario::StreamCut { after } => {
            *after = wanted.after.unwrap_or(*after);
        }
        Scenario::StreamStall { after, stall } => {
            *after = wanted.after.unwrap_or(*after);
            *stall = wanted.stall_ms.map_or(*stall, ms);
        }
        _ => {}
    }
    Ok(scenario)
}

fn parameters_hint() -> &'static str {
    "parameters: rate_limited {times, retry_after_ms}, outage {times, status}, slow {ms}, \
     stream_error {after}, stream_cut {after}, stream_stall {after, stall_ms}; every other \
     scenario takes none; any scenario takes cached_tokens, reasoning_tokens, cache_write_tokens"
}

/// Refuse a scenario one of `providers` has no answer for, naming those that have.
pub(crate) fn check(scenario: &Scenario, providers: &[Provider]) -> Result<(), CliError> {
    let Some(missing) = providers.iter().find(|p| !scenario.supported_by(**p)) else {
        return Ok(());
    };
    let players: Vec<&str> = Provider::ALL
        .iter()
        .filter(|p| scenario.supported_by(**p))
        .map(|p| p.as_str())
        .collect();
    Err(CliError::new(
        "unsupported_scenario",
        format!(
            "{} has no {} answer",
            describe(scenario),
            missing.display_name()
        ),
    )
    .hint(format!(
        "{} is played by: {} (GET /scenarios lists who plays what)",
        scenario.name(),
        players.join(", ")
    )))
}

/// `outage (times 1, status 529)`, for messages.
fn describe(scenario: &Scenario) -> String {
    let Value::Object(fields) = to_json(scenario) else {
        return scenario.name().to_owned();
    };
    let params: Vec<String> = fields
        .iter()
        .filter(|(k, _)| *k != "name")
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    if params.is_empty() {
        scenario.name().to_owned()
    } else {
        format!("{} ({})", scenario.name(), params.join(", "))
    }
}

/// The scenario as the control API shows it: `{"name": ..., parameters...}`.
pub(crate) fn to_json(scenario: &Scenario) -> Value {
    let ms = |d: &Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    match scenario {
        Scenario::RateLimited { times, retry_after } => json!({
            "name": scenario.name(), "times": times, "retry_after_ms": ms(retry_after),
        }),
        Scenario::Outage { times, status } => json!({
            "name": scenario.name(), "times": times, "status": status,
        }),
        Scenario::Slow(delay) => json!({ "name": scenario.name(), "ms": ms(delay) }),
        Scenario::StreamError { after } | Scenario::StreamCut { after } => {
            json!({ "name": scenario.name(), "after": after })
        }
        Scenario::StreamStall { after, stall } => json!({
            "name": scenario.name(), "after": after, "stall_ms": ms(stall),
        }),
        other => json!({ "name": other.name() }),
    }
}

/// `GET /scenarios`: every name, its default parameters, and who plays it.
pub(crate) fn catalogue_json() -> Value {
    let scenarios: Vec<Value> = names()
        .into_iter()
        .map(|name| {
            let scenario = build(&Wanted {
                name: name.to_owned(),
                ..Wanted::default()
            })
            .expect("every catalogue name builds");
            let mut entry = to_json(&scenario);
            let providers: Vec<&str> = Provider::ALL
                .iter()
                .filter(|p| scenario.supported_by(**p))
                .map(|p| p.as_str())
                .collect();
            entry["providers"] = json!(providers);
            entry
        })
        .collect();
    json!({ "scenarios": scenarios })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(name: &str) -> Wanted {
        Wanted {
            name: name.to_owned(),
            ..Wanted::default()
        }
    }

    #[test]
    fn names_build_with_defaults_and_parameters_override_them() {
        assert_eq!(build(&wanted("no_credits")).unwrap(), Scenario::NoCredits);
        let limited = build(&Wanted {
            times: Some(3),
            retry_after_ms: Some(250),
            ..wanted("rate_limited")
        })
        .unwrap();
        assert_eq!(
            limited,
            Scenario::RateLimited {
                times: 3,
                retry_after: Duration::from_millis(250)
            }
        );
        assert_eq!(
            to_json(&limited),
            json!({"name": "rate_limited", "times": 3, "retry_after_ms": 250})
        );
        assert_eq!(
            build(&Wanted {
                ms: Some(5),
                ..wanted("slow")
            })
            .unwrap(),
            Scenario::Slow(Duration::from_millis(5))
        );
    }

    #[test]
    fn unknown_names_and_misplaced_parameters_are_refused() {
        let e = build(&wanted("nope")).unwrap_err();
        assert_eq!(e.code, "unknown_scenario");
        assert!(e.hint.unwrap().contains("organization_on_hold"));
        let e = build(&Wanted {
            times: Some(1),
            ..wanted("valid")
        })
        .unwrap_err();
        assert_eq!(e.code, "invalid_parameter");
        let e = build(&Wanted {
            status: Some(418),
            ..wanted("outage")
        })
        .unwrap_err();
        assert_eq!(e.code, "invalid_parameter");
        let e = build(&Wanted {
            stall_ms: Some(5),
            ..wanted("stream_cut")
        })
        .unwrap_err();
        assert_eq!(e.message, "stream_cut takes no parameter \"stall_ms\"");
    }

    #[test]
    fn stream_scenarios_take_their_parameters() {
        let stall = build(&Wanted {
            after: Some(4),
            stall_ms: Some(1500),
            ..wanted("stream_stall")
        })
        .unwrap();
        assert_eq!(
            stall,
            Scenario::StreamStall {
                after: 4,
                stall: Duration::from_millis(1500)
            }
        );
        assert_eq!(
            to_json(&stall),
            json!({"name": "stream_stall", "after": 4, "stall_ms": 1500})
        );
        assert_eq!(
            build(&wanted("stream_error")).unwrap(),
            Scenario::StreamError { after: 1 }
        );
        // Usage extras go with any scenario, and are not scenario parameters.
        let with_usage = Wanted {
            cached_tokens: Some(3),
            ..wanted("valid")
        };
        assert_eq!(build(&with_usage).unwrap(), Scenario::Valid);
        assert_eq!(with_usage.usage(), UsageExtras::new().cached_tokens(3));
    }

    #[test]
    fn a_scenario_a_provider_lacks_is_refused_naming_who_plays_it() {
        let e = check(&Scenario::TierSpendCap, &Provider::ALL).unwrap_err();
        assert_eq!(e.code, "unsupported_scenario");
        assert_eq!(e.message, "tier_spend_cap has no OpenAI answer");
        assert!(e.hint.unwrap().contains("played by: anthropic"));
        let overloaded = Scenario::Outage {
            times: 1,
            status: 529,
        };
        let e = check(&overloaded, &[Provider::Google]).unwrap_err();
        assert_eq!(
            e.message,
            "outage (status 529, times 1) has no Google answer"
        );
        check(&Scenario::TierSpendCap, &[Provider::Anthropic]).unwrap();
    }
}
