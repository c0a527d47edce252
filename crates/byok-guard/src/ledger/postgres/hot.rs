//! The hand-written connection pool of [`PostgresLedger`](super::PostgresLedger)'s
//! hot paths (hold, settle, release, relabel).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::err;
use crate::GuardError;

/// Connections idle this long are pinged before use.
pub(super) const IDLE_PING: Duration = Duration::from_secs(5);

/// Hot-path connections unused this long are closed.
const IDLE_CLOSE: Duration = Duration::from_secs(60);

/// How long a call waits for a connection.
pub(super) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The connections of the hot paths: opened with the pool's settings, reused
/// most-recently-used first, never shared while a call runs.
///
/// sqlx's pool pings every connection it takes back (a round trip per call)
/// and hands calls round-robin to its connections; a call here costs one
/// round trip on the connection that served the previous one. A connection
/// that saw an error is closed, never reused.
pub(super) struct Hot {
    options: PgConnectOptions,
    idle: Mutex<Vec<(PgConnection, Instant)>>,
    permits: Semaphore,
}

/// One connection taken from [`Hot`] for one call.
pub(super) struct Lease<'a> {
    hot: &'a Hot,
    conn: Option<PgConnection>,
    _permit: SemaphorePermit<'a>,
}

impl Lease<'_> {
    pub(super) fn conn(&mut self) -> &mut PgConnection {
        self.conn
            .as_mut()
            .expect("a lease holds its connection until kept")
    }

    /// The call succeeded: the connection goes back for the next one.
    pub(super) fn keep(mut self) {
        if let Some(conn) = self.conn.take() {
            let mut idle = self.hot.idle();
            // Least recently used first: close those unused for a while.
            while idle
                .first()
                .is_some_and(|(_, at)| at.elapsed() >= IDLE_CLOSE)
            {
                idle.remove(0);
            }
            idle.push((conn, Instant::now()));
        }
    }
}

impl Hot {
    pub(super) fn new(options: PgConnectOptions, max: u32) -> Hot {
        Hot {
            options,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(max.max(1) as usize),
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<(PgConnection, Instant)>> {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) async fn lease(&self) -> Result<Lease<'_>, GuardError> {
        let busy = || GuardError::Ledger {
            backend: "postgres",
            message: "every connection stayed busy for 5 s".to_owned(),
        };
        let permit = tokio::time::timeout(ACQUIRE_TIMEOUT, self.permits.acquire())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        loop {
            let popped = self.idle().pop();
            let Some((mut conn, since)) = popped else {
                break;
            };
            // One that sat idle may have been cut (server restart, idle timeout).
            if since.elapsed() < IDLE_PING || sqlx::Connection::ping(&mut conn).await.is_ok() {
                return Ok(Lease {
                    hot: self,
                    conn: Some(conn),
                    _permit: permit,
                });
            }
        }
        let connect = async {
            let mut conn = self.options.connect().await?;
            // The functions rely on READ COMMITTED: each statement after the
            // budget locks sees what earlier lock holders committed. (They
            // refuse to run under another level, e.g. a database default.)
            sqlx::query("SET default_transaction_isolation = 'read committed'")
                .execute(&mut conn)
                .await?;
            Ok::<_, sqlx::Error>(conn)
        };
        let conn = tokio::time::timeout(ACQUIRE_TIMEOUT, connect)
            .await
            .map_err(|_| GuardError::Ledger {
                backend: "postgres",
                message: "connecting took more than 5 s".to_owned(),
            })?
            .map_err(err)?;
        Ok(Lease {
            hot: self,
            conn: Some(conn),
            _permit: permit,
        })
    }
}
