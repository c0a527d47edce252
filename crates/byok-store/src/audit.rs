//! Audit events: who did what to which key, and when. Never the secret.

use core::fmt;
use core::str::FromStr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::record::{KeyId, WorkspaceId, now};

/// What happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditAction {
    /// A key was added.
    Add,
    /// A key's secret was replaced (same id).
    Rotate,
    /// A key's non-secret fields changed (label, role, verdict, ...).
    Update,
    /// A key was disabled.
    Disable,
    /// A disabled key was enabled again.
    Enable,
    /// A key was revoked.
    Revoke,
    /// A key was deleted.
    Delete,
    /// A key's data key was re-wrapped under a new master key.
    Rewrap,
    /// A key's secret was handed out for use.
    Use,
}

impl AuditAction {
    /// Stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditAction::Add => "add",
            AuditAction::Rotate => "rotate",
            AuditAction::Update => "update",
            AuditAction::Disable => "disable",
            AuditAction::Enable => "enable",
            AuditAction::Revoke => "revoke",
            AuditAction::Delete => "delete",
            AuditAction::Rewrap => "rewrap",
            AuditAction::Use => "use",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuditAction {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "add" => AuditAction::Add,
            "rotate" => AuditAction::Rotate,
            "update" => AuditAction::Update,
            "disable" => AuditAction::Disable,
            "enable" => AuditAction::Enable,
            "revoke" => AuditAction::Revoke,
            "delete" => AuditAction::Delete,
            "rewrap" => AuditAction::Rewrap,
            "use" => AuditAction::Use,
            _ => return Err(StoreError::malformed(format!("unknown audit action {s:?}"))),
        })
    }
}

/// One appended audit event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditEvent {
    /// When it happened (whole microseconds).
    pub at: Timestamp,
    /// Workspace of the key.
    pub workspace: WorkspaceId,
    /// The key concerned.
    pub key_id: KeyId,
    /// What happened.
    pub action: AuditAction,
    /// Who did it, as the caller names them (user id, service name, `cli`).
    pub actor: String,
}

impl AuditEvent {
    /// An event happening now.
    pub fn now(
        workspace: WorkspaceId,
        key_id: KeyId,
        action: AuditAction,
        actor: impl Into<String>,
    ) -> Self {
        AuditEvent {
            at: now(),
            workspace,
            key_id,
            action,
            actor: actor.into(),
        }
    }
}

/// Which part of a workspace's audit trail to read with
/// [`KeyStore::audit_page`](crate::KeyStore::audit_page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditQuery {
    /// Only events after this cursor (a previous page's [`AuditPage::next`]).
    pub after: Option<u64>,
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// At most this many events (at least one is asked for even when 0).
    pub limit: usize,
}

impl AuditQuery {
    /// The first `limit` events of the trail.
    pub fn first(limit: usize) -> Self {
        AuditQuery {
            after: None,
            since: None,
            limit,
        }
    }

    /// Only events at or after `since`.
    pub fn since(mut self, since: Timestamp) -> Self {
        self.since = Some(since);
        self
    }

    /// Only events after the cursor `after`.
    pub fn after(mut self, after: u64) -> Self {
        self.after = Some(after);
        self
    }

    /// The same query asking one event more, to learn whether another page follows
    /// (see [`AuditPage::from_probe`]).
    pub(crate) fn probe(&self) -> Self {
        AuditQuery {
            limit: self.limit.max(1).saturating_add(1),
            ..*self
        }
    }

    /// The limit as a SQL bind value (1 ..= i64::MAX).
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn sql_limit(&self) -> i64 {
        i64::try_from(self.limit.max(1)).unwrap_or(i64::MAX)
    }
}

/// One page of a workspace's audit trail, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditPage {
    /// The events, each with its cursor (the store's sequence number: increasing,
    /// unique in the vault, not contiguous per workspace).
    pub events: Vec<(u64, AuditEvent)>,
    /// Where the next page starts (`AuditQuery::after`), or `None` after the last page.
    pub next: Option<u64>,
}

impl AuditPage {
    /// A page from events read with `limit + 1` asked for: the extra one only says
    /// that another page exists.
    pub(crate) fn from_probe(mut events: Vec<(u64, AuditEvent)>, limit: usize) -> Self {
        let limit = limit.max(1);
        let more = events.len() > limit;
        events.truncate(limit);
        let next = if more {
            events.last().map(|(seq, _)| *seq)
        } else {
            None
        };
        AuditPage { events, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip() {
        for a in [
            AuditAction::Add,
            AuditAction::Rotate,
            AuditAction::Update,
            AuditAction::Disable,
            AuditAction::Enable,
            AuditAction::Revoke,
            AuditAction::Delete,
            AuditAction::Rewrap,
            AuditAction::Use,
        ] {
            assert_eq!(a.as_str().parse::<AuditAction>().unwrap(), a);
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
        }
        assert_eq!(
            "reveal".parse::<AuditAction>().unwrap_err().code(),
            "malformed"
        );
    }
}
