//! `reported_cost_from_json` and `reported_cost` on any UTF-8 (a provider's
//! response body), for every provider: never panics; a reported cost is
//! labelled `verified_by_provider`, has an amount, and is never negative.
#![no_main]

use byok_guard::{Label, reported_cost, reported_cost_from_json};
use byok_keys::Provider;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let value = serde_json::from_str::<serde_json::Value>(s).ok();
    for p in Provider::ALL {
        let from_value = value.as_ref().and_then(|v| reported_cost(p, v));
        for c in [reported_cost_from_json(p, s), from_value].into_iter().flatten() {
            assert_eq!(c.label, Label::VerifiedByProvider);
            assert!(c.usd.is_some_and(|u| !u.is_negative()), "{p:?}");
        }
    }
});
