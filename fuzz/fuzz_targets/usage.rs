//! `Usage::from_json` on any UTF-8 (a provider's response body, or a usage object),
//! then `cost` for a model of each provider: never panics; every error has a code;
//! an accepted usage is priced at a non-negative amount or labelled `unavailable`;
//! and `Usage::from_provider_value` for every provider, likewise.
#![no_main]

use byok_guard::{Label, PriceBook, Usage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    match Usage::from_json(s) {
        Ok(u) => {
            let book = PriceBook::embedded();
            for model in ["gpt-4o", "claude-sonnet-4-5", "gemini-2.5-pro", "no-such-model"] {
                match book.cost(model, &u) {
                    Ok(c) => match c.usd {
                        Some(usd) => assert!(!usd.is_negative(), "{model}: {usd}"),
                        None => assert_eq!(c.label, Label::Unavailable),
                    },
                    Err(e) => assert!(!e.code().is_empty()),
                }
            }
        }
        Err(e) => assert!(!e.code().is_empty() && !e.to_string().is_empty()),
    }
    // Each provider's own reading of the same body, priced at its probe model.
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(s) {
        for p in byok_keys::Provider::ALL {
            match Usage::from_provider_value(p, &v) {
                Ok(u) => match PriceBook::embedded().cost_for(p, p.spec().probe_model, &u) {
                    Ok(c) => match c.usd {
                        Some(usd) => assert!(!usd.is_negative(), "{p:?}: {usd}"),
                        None => assert_eq!(c.label, Label::Unavailable),
                    },
                    Err(e) => assert!(!e.code().is_empty()),
                },
                Err(e) => assert!(!e.code().is_empty() && !e.to_string().is_empty()),
            }
        }
    }
});
