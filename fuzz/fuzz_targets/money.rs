//! `Usd::parse` on any UTF-8 (amounts from price files, cost APIs, the CLI): never
//! panics; an accepted amount prints as a decimal that parses back to itself.
#![no_main]

use byok_guard::Usd;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(usd) = Usd::parse(s) {
        let printed = usd.to_string();
        assert_eq!(Usd::parse(&printed).ok(), Some(usd), "{s:?} printed as {printed:?}");
    }
});
