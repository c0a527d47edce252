//! Stop signals, for the commands that must end cleanly when interrupted
//! (`byok mock serve` stops serving; `byok call --stream` stops reading and settles).

use crate::output::CliError;

/// A future that resolves on SIGINT or SIGTERM (Ctrl-C elsewhere). The handlers
/// are in place when this returns, so a signal sent right after is not missed.
#[cfg(unix)]
pub(crate) fn stop() -> Result<impl Future<Output = ()>, CliError> {
    use tokio::signal::unix::{SignalKind, signal};
    let handler = |kind: SignalKind| {
        signal(kind)
            .map_err(|e| CliError::new("io_error", format!("cannot listen for stop signals: {e}")))
    };
    let mut interrupt = handler(SignalKind::interrupt())?;
    let mut terminate = handler(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// A future that resolves on Ctrl-C.
#[cfg(not(unix))]
pub(crate) fn stop() -> Result<impl Future<Output = ()>, CliError> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
