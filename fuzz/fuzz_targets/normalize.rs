//! `normalize` on any UTF-8: never panics, is idempotent, and parsing its result
//! never reports a position outside the original input.
#![no_main]

use byok_keys::{ExposeSecret, normalize};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let n = normalize(s);
    if let Err(e) = n.parse() {
        if let Some(p) = e.position() {
            assert!(p <= s.chars().count(), "{} at {p}", e.code());
        }
    }
    let once = n.into_secret();
    let twice = normalize(once.expose_secret());
    assert!(twice.fixes().is_empty(), "not idempotent: {:?}", twice.fixes());
    assert_eq!(twice.into_secret().expose_secret(), once.expose_secret());
});
