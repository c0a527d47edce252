//! `ApiKey::parse` on any UTF-8: never panics; an accepted key round-trips, its mask
//! and Debug never show the body, and an error's position lies inside the input.
#![no_main]

use byok_keys::{ApiKey, Provider};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    match ApiKey::parse(s) {
        Ok(key) => {
            assert_eq!(key.expose_secret(), s);
            let masked = key.masked();
            assert!(masked.len() <= key.prefix().len() + "…".len() + 4);
            let body = &s[key.prefix().len()..s.len() - 4];
            if body.len() >= 8 {
                assert!(!format!("{key:?}").contains(body));
            }
            for p in Provider::ALL {
                assert_eq!(ApiKey::parse_for(p, s).is_ok(), p == key.provider());
            }
        }
        Err(e) => {
            if let Some(p) = e.position() {
                assert!(p <= s.chars().count(), "{} at {p}", e.code());
            }
            assert!(!e.code().is_empty() && !e.hint().is_empty());
        }
    }
});
