//! Key uses, committed in groups.
//!
//! Every key handed out for a call sets its `last_used_at` and appends a `use`
//! event, and the secret is handed to an app only once that is committed;
//! when byok sends the call itself ([`Vault::call`](crate::Vault::call),
//! [`Vault::call_stream`](crate::Vault::call_stream), the proxy) the commit
//! runs beside the request to the provider and the answer is withheld if it
//! failed, so the commit's time is not added to the call's. One
//! durable commit per call, though, is on the embedded SQLite vault
//! (`synchronous = FULL`) an fsync of milliseconds, with every call in the
//! process queued behind the one before. So the uses of calls made at the
//! same time share one commit: a call queues its use, one writer task commits
//! whatever has gathered in one transaction
//! ([`KeyStore::mark_used_many`]), and each call waits for the commit that
//! holds its own use. A store may make that commit without waiting for the
//! disk (the SQL stores do: see `mark_used_many`), since a use is a record of
//! a call, not data: it survives the process being killed, and a power loss
//! or a database crash can lose only the last moments' uses.

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::store::{KeyStore, StoreError, UseMark};

/// One use waiting for its commit, and where to say how it went.
type Waiting = (UseMark, oneshot::Sender<Result<(), StoreError>>);

/// The uses of one vault waiting for a commit.
#[derive(Debug, Default)]
pub(crate) struct UseLog {
    state: Mutex<Queue>,
}

#[derive(Debug, Default)]
struct Queue {
    marks: Vec<Waiting>,
    /// Whether the writer task is at work (it drains until the queue is empty).
    writing: bool,
}

/// Largest batch in one transaction.
const MAX_BATCH: usize = 512;

impl UseLog {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue one use and start the writer when none is at work; the commit
    /// goes on while the caller does something else (the call's request to
    /// the provider), and [`UseCommit::committed`] waits for it.
    pub(crate) fn queue_use(
        self: &Arc<Self>,
        store: &Arc<dyn KeyStore>,
        mark: UseMark,
    ) -> UseCommit {
        let (done, wait) = oneshot::channel();
        let start = {
            let mut q = self.queue();
            q.marks.push((mark, done));
            !std::mem::replace(&mut q.writing, true)
        };
        if start {
            let log = self.clone();
            let store = store.clone();
            tokio::spawn(async move { log.drain(&store).await });
        }
        UseCommit { wait }
    }

    /// Commit batches until the queue is empty (the one writer at work).
    async fn drain(&self, store: &Arc<dyn KeyStore>) {
        loop {
            let batch: Vec<Waiting> = {
                let mut q = self.queue();
                if q.marks.is_empty() {
                    q.writing = false;
                    return;
                }
                let n = q.marks.len().min(MAX_BATCH);
                q.marks.drain(..n).collect()
            };
            let (marks, waiting): (Vec<UseMark>, Vec<_>) = batch.into_iter().unzip();
            let result = store.mark_used_many(&marks).await;
            for done in waiting {
                // A caller that went away (its call dropped) needs no answer.
                let _ = done.send(result.clone());
            }
        }
    }
}

/// A queued use whose commit is under way. Dropping it does not stop the
/// commit (the use is recorded all the same); it only stops waiting for it.
#[derive(Debug)]
pub(crate) struct UseCommit {
    wait: oneshot::Receiver<Result<(), StoreError>>,
}

impl UseCommit {
    /// Wait until the commit holding this use is made, or has failed.
    pub(crate) async fn committed(self) -> Result<(), StoreError> {
        self.wait.await.unwrap_or_else(|_| {
            Err(StoreError::Backend {
                detail: "the use of the key could not be recorded (the writer stopped)".into(),
            })
        })
    }
}

/// Wait for a commit taken out of a lease or an attempt (`None`: already committed).
pub(crate) async fn committed(pending: Option<UseCommit>) -> Result<(), StoreError> {
    match pending {
        Some(pending) => pending.committed().await,
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AuditAction, AuditEvent, KeyId, MemoryStore, WorkspaceId};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_uses_are_each_committed_before_their_caller_goes_on() {
        let store: Arc<dyn KeyStore> = Arc::new(MemoryStore::new());
        let log = Arc::new(UseLog::default());
        let ws = WorkspaceId::new("w").unwrap();
        let mut calls = Vec::new();
        for _ in 0..500 {
            let (log, store, ws) = (log.clone(), store.clone(), ws.clone());
            calls.push(tokio::spawn(async move {
                // A key that does not exist: its mark is skipped, and still answered.
                let id = KeyId::new();
                let event = AuditEvent::now(ws.clone(), id, AuditAction::Use, "t");
                let mark = UseMark {
                    workspace: ws,
                    id,
                    event,
                };
                log.queue_use(&store, mark).committed().await
            }));
        }
        for c in calls {
            c.await.unwrap().unwrap();
        }
        let q = log.queue();
        assert!(
            q.marks.is_empty() && !q.writing,
            "the writer stopped with the queue empty"
        );
    }
}
