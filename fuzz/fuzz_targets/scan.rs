//! `scan_bytes` / `redact_bytes` on any bytes: never panic; every finding is an
//! in-order, non-overlapping span that parses as the key it claims to be; redaction
//! leaves nothing to find.
#![no_main]

use byok_keys::{ApiKey, redact_bytes, scan_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut last_end = 0;
    for f in scan_bytes(data) {
        assert!(f.span.start >= last_end && f.span.end <= data.len());
        last_end = f.span.end;
        let text = std::str::from_utf8(&data[f.span.clone()]).expect("keys are ASCII");
        let key = ApiKey::parse(text).expect("a finding parses");
        assert_eq!((key.provider(), key.kind()), (f.provider, f.kind));
        assert_eq!(key.masked(), f.masked);
    }
    let red = redact_bytes(data);
    assert_eq!(scan_bytes(&red).count(), 0);
});
