//! `PriceBook::from_litellm_json` on any UTF-8 (a price file a user points us at):
//! never panics; an accepted book prices a call exactly or says `unavailable`,
//! never a negative amount; errors have a code.
#![no_main]

use byok_guard::{PriceBook, Usage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    match PriceBook::from_litellm_json(s) {
        Ok(book) => {
            let usage = Usage {
                input_tokens: 300_000,
                cached_input_tokens: 1_000,
                output_tokens: 2_000,
                reasoning_tokens: 500,
                ..Usage::default()
            };
            for model in book.models().into_iter().take(50) {
                if let Ok(c) = book.cost(model, &usage) {
                    if let Some(usd) = c.usd {
                        assert!(!usd.is_negative(), "{model}: {usd}");
                    }
                }
            }
        }
        Err(e) => assert!(!e.code().is_empty()),
    }
});
