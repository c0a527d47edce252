//! Scenarios by their stable names (`Scenario::name`), with the parameters some take.

use std::time::Duration;

use byok::keys::Provider;
use byok::testkit::Scenario;
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
    let refuse = |param: &str| {
        Err(CliError::new(
            "invalid_parameter",
            format!("{} takes no parameter {param:?}", base.name()),
        )
        .hint(parameters_hint()))
    };
    let mut scenario = base.clone();
    match &mut scenario {
        Scenario::RateLimited { times, retry_after } => {
            if wanted.status.is_some() {
                return refuse("status");
            }
            if wanted.ms.is_some() {
                return refuse("ms");
            }
            *times = wanted.times.unwrap_or(*times);
            if let Some(ms) = wanted.retry_after_ms {
                *retry_after = Duration::from_millis(ms);
            }
        }
        Scenario::Outage { times, status } => {
            if wanted.retry_after_ms.is_some() {
                return refuse("retry_after_ms");
            }
            if wanted.ms.is_some() {
                return refuse("ms");
            }
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
        Scenario::Slow(delay) => {
            for (param, given) in [
                ("times", wanted.times.is_some()),
                ("retry_after_ms", wanted.retry_after_ms.is_some()),
                ("status", wanted.status.is_some()),
            ] {
                if given {
                    return refuse(param);
                }
            }
            if let Some(ms) = wanted.ms {
                *delay = Duration::from_millis(ms);
            }
        }
        _ => {
            for (param, given) in [
                ("times", wanted.times.is_some()),
                ("retry_after_ms", wanted.retry_after_ms.is_some()),
                ("status", wanted.status.is_some()),
                ("ms", wanted.ms.is_some()),
            ] {
                if given {
                    return refuse(param);
                }
            }
        }
    }
    Ok(scenario)
}

fn parameters_hint() -> &'static str {
    "parameters: rate_limited {times, retry_after_ms}, outage {times, status}, slow {ms}; \
     every other scenario takes none"
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
