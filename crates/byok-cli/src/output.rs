//! Output conventions shared by every command: exit codes, error reporting, and
//! text lines that cannot drive the terminal.

use core::fmt;
use std::io::Write;
use std::process::ExitCode;

/// `println!` through [`Inert`]: the one way text output is printed.
macro_rules! outln {
    ($($arg:tt)*) => {
        println!("{}", $crate::output::Inert(format_args!($($arg)*)))
    };
}

/// `eprintln!` through [`Inert`].
macro_rules! errln {
    ($($arg:tt)*) => {
        eprintln!("{}", $crate::output::Inert(format_args!($($arg)*)))
    };
}

pub(crate) use {errln, outln};

/// Exit code 0: success, nothing found.
pub(crate) const OK: u8 = 0;
/// Exit code 1: a negative result (invalid key, key found, verdict not valid, budget denied).
pub(crate) const NEGATIVE: u8 = 1;
/// Exit code 2: usage or I/O error.
pub(crate) const USAGE: u8 = 2;
/// Exit code 130: stopped by SIGINT or SIGTERM (the shell's 128 + SIGINT), after
/// cleaning up (a stream is settled with what was received).
pub(crate) const INTERRUPTED: u8 = 130;

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
            errln!("error[{}]: {}", self.code, self.message);
            if let Some(h) = &self.hint {
                errln!("hint: {h}");
            }
        }
        ExitCode::from(USAGE)
    }
}

/// A command line the parser refused. Its message can quote what was typed (a key
/// pasted as a flag's value), so every key in it is masked and every line escaped;
/// with `--json` anywhere before `--` it is one `invalid_arguments` JSON error line.
/// Exit 2. Help and version are printed as usual.
pub(crate) fn argument_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::from(OK);
    }
    let rendered = e.render().to_string();
    let shown = byok::keys::redact(&rendered);
    let json = std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json");
    if json {
        let mut lines = shown.lines().map(str::trim).filter(|l| !l.is_empty());
        let message = lines.next().unwrap_or("invalid arguments");
        let message = message.strip_prefix("error: ").unwrap_or(message);
        let rest: Vec<&str> = lines.collect();
        let mut err = CliError::new("invalid_arguments", message);
        if !rest.is_empty() {
            err = err.hint(rest.join(" "));
        }
        return err.report(true);
    }
    for line in shown.lines() {
        errln!("{line}");
    }
    ExitCode::from(USAGE)
}

/// Run a command's async part to completion on a current-thread runtime: the
/// one runtime every command uses.
pub(crate) fn block_on<F: std::future::Future>(fut: F) -> Result<F::Output, CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new("io_error", format!("cannot start the async runtime: {e}")))?;
    Ok(runtime.block_on(fut))
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

/// Text shown with every character that could drive a terminal escaped as
/// `\u{1b}`, `\r`, ...: C0 and C1 controls, DEL, bidi overrides and isolates,
/// line and paragraph separators. Provider messages, labels, notes, actors and
/// workspaces are anybody's text: printed raw, an escape sequence could erase a
/// line and draw a fake `valid` one.
pub(crate) struct Inert<T>(pub(crate) T);

/// Whether `c` is escaped by [`Inert`].
fn drives_the_terminal(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
        )
}

impl<T: fmt::Display> fmt::Display for Inert<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Escaping<'a, 'b>(&'a mut fmt::Formatter<'b>);
        impl fmt::Write for Escaping<'_, '_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                for c in s.chars() {
                    if drives_the_terminal(c) {
                        write!(self.0, "{}", c.escape_debug())?;
                    } else {
                        fmt::Write::write_char(self.0, c)?;
                    }
                }
                Ok(())
            }
        }
        fmt::Write::write_fmt(&mut Escaping(f), format_args!("{}", self.0))
    }
}

/// [`Inert`] for a model's answer: newlines and tabs are kept (an answer has
/// lines), every other character that could drive the terminal is escaped.
pub(crate) struct InertText<'a>(pub(crate) &'a str);

impl fmt::Display for InertText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c != '\n' && c != '\t' && drives_the_terminal(c) {
                write!(f, "{}", c.escape_debug())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Inert, InertText};

    #[test]
    fn answers_keep_their_lines() {
        assert_eq!(
            InertText("a\n\tb\u{1b}[2K\r").to_string(),
            "a\n\tb\\u{1b}[2K\\r"
        );
    }

    #[test]
    fn controls_and_bidi_overrides_are_escaped_the_rest_is_kept() {
        let shown = Inert("a\u{1b}[2K\r\nb\u{202e}c\u{85}\u{7f}\u{2028}é…").to_string();
        assert_eq!(
            shown,
            "a\\u{1b}[2K\\r\\nb\\u{202e}c\\u{85}\\u{7f}\\u{2028}é…"
        );
        assert_eq!(Inert(format_args!("{} {}", 1, "x")).to_string(), "1 x");
    }
}
