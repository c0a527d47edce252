//! `byok redact`: stdin to stdout with keys masked, streaming in bounded memory.

use std::io::Write;
use std::process::ExitCode;

use crate::output::{self, CliError};

/// Arguments of `byok redact`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Report I/O errors as a JSON object (the redacted text itself is never JSON).
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> ExitCode {
    match stream() {
        Ok(()) => ExitCode::from(output::OK),
        Err(e) => e.report(args.json),
    }
}

/// Read stdin in 64 KiB blocks through a [`Redactor`](byok::keys::Redactor): memory
/// stays bounded however long a line is, and the output is what whole-text
/// redaction would give.
fn stream() -> Result<(), CliError> {
    use std::io::Read;
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut block = zeroize::Zeroizing::new(vec![0u8; 64 * 1024]);
    let mut redacted = zeroize::Zeroizing::new(Vec::with_capacity(80 * 1024));
    let mut redactor = byok::keys::Redactor::new();
    let io = |e: std::io::Error| CliError::new("io_error", format!("redact: {e}"));
    loop {
        let n = match input.read(&mut block) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(e)),
        };
        redacted.clear();
        if n == 0 {
            redactor.finish(&mut redacted);
        } else {
            redactor.push(&block[..n], &mut redacted);
        }
        match out.write_all(&redacted) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            r => r.map_err(io)?,
        }
        if n == 0 {
            break;
        }
    }
    match out.flush() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.map_err(io),
    }
}
