//! The captures can fail: logs and panics really are recorded. (The detector's own
//! tests — every form is found, clean text passes, the report hides the secret —
//! are `byok_testkit::canary`'s unit tests.)

use crate::capture::{init, logs, panic_message, panics};

#[test]
fn logs_and_panics_are_captured() {
    init();
    tracing::trace!(marker = "canary-selftest-trace", "a trace event");
    assert!(
        String::from_utf8_lossy(&logs()).contains("canary-selftest-trace"),
        "TRACE events reach the buffer"
    );
    let message = panic_message(|| panic!("canary-selftest-panic"));
    assert_eq!(message, "canary-selftest-panic");
    assert!(String::from_utf8_lossy(&panics()).contains("canary-selftest-panic"));
}
