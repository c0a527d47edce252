//! Everything the code can emit besides return values: TRACE-level tracing of every
//! crate (and of sqlx, reqwest, hyper below them) into one buffer, and every panic
//! message into another.
//!
//! Both are global for the test binary, so a test that checks them also checks what
//! the tests running beside it emitted: a leak cannot hide in another thread.

use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, Once};

use tracing_subscriber::fmt::format::FmtSpan;

use crate::canaries::assert_clean;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static LOGS: std::sync::LazyLock<Buffer> = std::sync::LazyLock::new(Buffer::default);
static PANICS: std::sync::LazyLock<Buffer> = std::sync::LazyLock::new(Buffer::default);
static INIT: Once = Once::new();

/// Install the TRACE subscriber and the panic recorder (once per binary).
pub(crate) fn init() {
    INIT.call_once(|| {
        let sink = LOGS.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            // Span fields (what `#[instrument]` records) on open and close too.
            .with_span_events(FmtSpan::FULL)
            .with_writer(move || sink.clone())
            .init();
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let mut sink = PANICS.clone();
            let _ = writeln!(sink, "{info}");
            previous(info);
        }));
    });
}

/// Everything logged so far, by every test of this binary.
pub(crate) fn logs() -> Vec<u8> {
    LOGS.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Every panic message so far (hook output: location and message).
pub(crate) fn panics() -> Vec<u8> {
    PANICS.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Run `f`, which must panic, and return its panic message; the hook's record is
/// checked by [`assert_emitted_clean`].
#[track_caller]
pub(crate) fn panic_message(f: impl FnOnce()) -> String {
    let payload = panic::catch_unwind(AssertUnwindSafe(f)).expect_err("the closure panics");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

/// What a caller's `expect()` / `expect_err()` on `result` prints when it panics:
/// the `Debug` of the error (or of the value, when an error was expected).
#[track_caller]
pub(crate) fn unwrap_panic<T: std::fmt::Debug, E: std::fmt::Debug>(result: Result<T, E>) -> String {
    if result.is_ok() {
        panic_message(move || {
            let _value = expect_failure(result);
        })
    } else {
        panic_message(move || {
            let _value = expect_success(result);
        })
    }
}

fn expect_success<T, E: std::fmt::Debug>(result: Result<T, E>) -> T {
    result.expect("the caller expected success")
}

fn expect_failure<T: std::fmt::Debug, E>(result: Result<T, E>) -> E {
    result.expect_err("the caller expected an error")
}

/// The logs and panic records of the whole binary hold no canary.
#[track_caller]
pub(crate) fn assert_emitted_clean(label: &str) {
    assert_clean(&format!("{label}: tracing at TRACE"), logs());
    assert_clean(&format!("{label}: panic messages"), panics());
}
