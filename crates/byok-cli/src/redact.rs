//! `byok redact`: stdin to stdout with keys masked, streaming line by line.

use std::io::{BufRead, Write};
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

/// Keys never span lines, so each line is redacted on its own: constant memory.
fn stream() -> Result<(), CliError> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut line = zeroize::Zeroizing::new(Vec::with_capacity(8192));
    let io = |e: std::io::Error| CliError::new("io_error", format!("redact: {e}"));
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line).map_err(io)? == 0 {
            break;
        }
        match out.write_all(&byok::keys::redact_bytes(&line)) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            r => r.map_err(io)?,
        }
    }
    match out.flush() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.map_err(io),
    }
}
