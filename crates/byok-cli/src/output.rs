//! Output conventions shared by every command: exit codes and error reporting.

use std::io::Write;
use std::process::ExitCode;

/// Exit code 0: success, nothing found.
pub(crate) const OK: u8 = 0;
/// Exit code 1: a negative result (invalid key, key found, verdict not valid, budget denied).
pub(crate) const NEGATIVE: u8 = 1;
/// Exit code 2: usage or I/O error.
pub(crate) const USAGE: u8 = 2;

/// An error that ends a command with exit code 2: a stable code, a message, a hint.
/// Never built from a secret.
#[derive(Debug)]
pub(crate) struct CliError {
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
}

impl CliError {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Report on stdout as one JSON line (`{"error":{code,message,hint}}`) in JSON
    /// mode, else on stderr as `error[code]: message`; exit 2.
    pub(crate) fn report(&self, json: bool) -> ExitCode {
        if json {
            print_json(&serde_json::json!({
                "error": { "code": self.code, "message": self.message, "hint": self.hint }
            }));
        } else {
            eprintln!("error[{}]: {}", self.code, self.message);
            if let Some(h) = &self.hint {
                eprintln!("hint: {h}");
            }
        }
        ExitCode::from(USAGE)
    }
}

/// One JSON object on one line of stdout. A closed pipe is not an error worth a panic.
pub(crate) fn print_json(value: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, value);
    let _ = out.write_all(b"\n");
}

/// Read all of stdin into a buffer that is zeroed when dropped (it may hold keys).
pub(crate) fn read_stdin() -> Result<zeroize::Zeroizing<Vec<u8>>, CliError> {
    use std::io::Read;
    let mut buf = zeroize::Zeroizing::new(Vec::new());
    std::io::stdin()
        .lock()
        .read_to_end(&mut buf)
        .map_err(|e| CliError::new("io_error", format!("cannot read stdin: {e}")))?;
    Ok(buf)
}
