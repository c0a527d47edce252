//! `redact_bytes` and the streaming `Redactor` on any bytes: never panic; nothing
//! `scan_bytes` or `token::scan_tokens` could report survives; redaction is idempotent; the stream, cut
//! wherever the first byte says, gives byte for byte the whole-text output.
#![no_main]

use byok_keys::{Redactor, redact_bytes, scan_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, text)) = data.split_first() else {
        return;
    };
    let whole = redact_bytes(text);
    assert_eq!(scan_bytes(&whole).count(), 0);
    assert!(byok_keys::token::scan_tokens(&whole).is_empty());
    assert_eq!(redact_bytes(&whole), whole);
    let mut r = Redactor::with_window(4096);
    let mut out = Vec::new();
    for piece in text.chunks(usize::from(cut) + 1) {
        r.push(piece, &mut out);
    }
    r.finish(&mut out);
    assert_eq!(out, whole.as_ref());
});
