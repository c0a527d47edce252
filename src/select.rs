//! Which key to use for a call: the primary, else the next usable backup, and why.
//!
//! Pure functions over [`KeyView`]s, so the rules are tested without a store:
//! [`Vault::select`](crate::Vault) and `Vault::report` are thin wrappers around them.

use std::cmp::Ordering;

use byok_keys::{Provider, VerdictCode};
use byok_store::{KeyId, KeyView, Role, Status};
use byok_verify::Verdict;
use serde::Serialize;

/// Verdict codes that take a key out of rotation until a new Test says otherwise.
///
/// `rate_limited`, `provider_unavailable`, `network_error` and `indeterminate` are
/// passing states, and `restricted` keys still serve the models they may use, so
/// none of those moves traffic to a backup.
#[deprecated(since = "0.2.0", note = "use `VerdictCode::benches_key`")]
pub const BENCHING_VERDICTS: [&str; 2] = ["invalid", "no_credits"];

/// Why a key was passed over.
///
/// Serialised as `{"code", "message", "verdict"}`, one shape for every reason
/// (`verdict` is null except for `last_verdict`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// Switched off by its owner (it can be enabled again).
    Disabled,
    /// Revoked for good.
    Revoked,
    /// Its last Test, or a call reported back, said it does not work.
    LastVerdict {
        /// `invalid` or `no_credits` ([`VerdictCode::benches_key`]).
        verdict: VerdictCode,
    },
    /// Its sealed secret failed its integrity check (tampered, damaged, moved).
    Corrupt,
    /// It is sealed under a master key this instance was not given.
    UnknownKek,
    /// It was disabled, revoked or deleted between listing and opening it.
    Changed,
    /// Its row says it serves calls, but the opened secret is an admin key.
    AdminSecret,
}

impl SkipReason {
    /// Stable snake_case code: `disabled`, `revoked`, `last_verdict`, `corrupt`,
    /// `unknown_kek`, `changed` or `admin_secret`.
    pub fn code(&self) -> &'static str {
        match self {
            SkipReason::Disabled => "disabled",
            SkipReason::Revoked => "revoked",
            SkipReason::LastVerdict { .. } => "last_verdict",
            SkipReason::Corrupt => "corrupt",
            SkipReason::UnknownKek => "unknown_kek",
            SkipReason::Changed => "changed",
            SkipReason::AdminSecret => "admin_secret",
        }
    }

    /// One line for people.
    pub fn message(&self) -> String {
        match self {
            SkipReason::Disabled => "the key is disabled".into(),
            SkipReason::Revoked => "the key is revoked".into(),
            SkipReason::LastVerdict {
                verdict: VerdictCode::NoCredits,
            } => {
                "the key's account has no credits (last test or call)".into()
            }
            SkipReason::LastVerdict { verdict } => {
                format!("the key's last test or call said {verdict}")
            }
            SkipReason::Corrupt => {
                "the key's sealed secret failed its integrity check (run `byok vault check`)"
                    .into()
            }
            SkipReason::UnknownKek => {
                "the key is sealed under a master key this instance was not given".into()
            }
            SkipReason::Changed => {
                "the key was disabled, revoked or deleted while it was being selected".into()
            }
            SkipReason::AdminSecret => {
                "the stored secret is an admin key, which never serves calls (its record was altered)"
                    .into()
            }
        }
    }
}

impl Serialize for SkipReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let verdict = match self {
            SkipReason::LastVerdict { verdict } => Some(verdict.as_str()),
            _ => None,
        };
        let mut st = s.serialize_struct("SkipReason", 3)?;
        st.serialize_field("code", self.code())?;
        st.serialize_field("message", &self.message())?;
        st.serialize_field("verdict", &verdict)?;
        st.end()
    }
}

/// A key [`choose`] passed over on its way to the one it picked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The key's id.
    pub id: KeyId,
    /// Its mask, for people.
    pub masked: String,
    /// Its label.
    pub label: String,
    /// Primary or backup.
    pub role: Role,
    /// Why it was passed over.
    pub reason: SkipReason,
}

/// Why `key` cannot serve calls now, or `None` when it can.
pub fn unusable(key: &KeyView) -> Option<SkipReason> {
    match key.status {
        Status::Disabled => return Some(SkipReason::Disabled),
        Status::Revoked => return Some(SkipReason::Revoked),
        _ => {}
    }
    key.last_verdict
        .filter(|v| v.benches_key())
        .map(|verdict| SkipReason::LastVerdict { verdict })
}

/// Why a chosen key that failed to open is passed over, or `None` when the error
/// is not about that key (the store is down, say) and must reach the caller.
pub(crate) fn skip_reason_for(e: &crate::VaultError) -> Option<SkipReason> {
    use crate::VaultError;
    use byok_store::StoreError;
    match e {
        VaultError::Store(StoreError::Corrupt { .. } | StoreError::Tampered { .. })
        | VaultError::Key(_) => Some(SkipReason::Corrupt),
        VaultError::Store(StoreError::UnknownKek { .. }) => Some(SkipReason::UnknownKek),
        VaultError::Store(StoreError::NotFound { .. }) | VaultError::Inactive { .. } => {
            Some(SkipReason::Changed)
        }
        VaultError::AdminKeyRefused { .. } => Some(SkipReason::AdminSecret),
        _ => None,
    }
}

/// Selection order: primaries before backups, then ascending `order`, then oldest first.
fn precedence(a: &KeyView, b: &KeyView) -> Ordering {
    let rank = |k: &KeyView| match k.role {
        Role::Primary => 0u8,
        _ => 1,
    };
    rank(a)
        .cmp(&rank(b))
        .then(a.order.cmp(&b.order))
        .then(a.created_at.cmp(&b.created_at))
        .then(a.id.to_string().cmp(&b.id.to_string()))
}

/// Pick the key for a call to `provider` among `keys`: the first usable one in
/// [precedence](self) order, with every key passed over before it and why.
///
/// Admin keys are never candidates (they are for usage and cost APIs only), and
/// keys of other providers are ignored. `Err` holds every candidate and its
/// reason when none is usable (an empty list when there is no key at all).
pub fn choose(
    keys: &[KeyView],
    provider: Provider,
) -> Result<(KeyView, Vec<Skipped>), Vec<Skipped>> {
    let mut candidates: Vec<&KeyView> = keys
        .iter()
        .filter(|k| k.provider == provider && !k.kind.is_admin())
        .collect();
    candidates.sort_by(|a, b| precedence(a, b));
    let mut skipped = Vec::new();
    for key in candidates {
        match unusable(key) {
            None => return Ok((key.clone(), skipped)),
            Some(reason) => skipped.push(Skipped {
                id: key.id,
                masked: key.masked.clone(),
                label: key.label.clone(),
                role: key.role,
                reason,
            }),
        }
    }
    Err(skipped)
}

/// What a real call made with a selected key returned, fed back with `Vault::report`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CallOutcome<'a> {
    /// The call succeeded: the key works (clears a benching verdict).
    Success,
    /// The provider answered with an error: classified by status and body with
    /// the same table as the Test button ([`byok_verify::classify`]).
    HttpError {
        /// HTTP status.
        status: u16,
        /// The response body.
        body: &'a [u8],
    },
    /// The caller classified the answer itself.
    Verdict(Verdict),
}

impl CallOutcome<'_> {
    /// The verdict this outcome amounts to for a key of `provider`.
    pub fn verdict(&self, provider: Provider) -> Verdict {
        match self {
            CallOutcome::Success => Verdict::Valid,
            CallOutcome::HttpError { status, body } => {
                byok_verify::classify(provider, *status, &Default::default(), body).verdict
            }
            CallOutcome::Verdict(v) => v.clone(),
        }
    }
}

/// Whether a verdict should be written onto the key's record: conclusive answers
/// about the key itself are; passing states (rate limits, outages, network
/// trouble, unknown answers) say nothing about the key and are not.
pub fn worth_recording(verdict: &Verdict) -> bool {
    verdict.is_conclusive() && !matches!(verdict, Verdict::RateLimited { .. })
}

#[cfg(test)]
mod tests {
    use super::*;
    use byok_keys::KeyKind;
    use byok_store::WorkspaceId;
    use byok_verify::{InvalidReason, NoCreditsReason};

    /// Views are `#[non_exhaustive]`: build them through their public JSON form.
    fn view(provider: Provider, kind: KeyKind, role: Role, order: u32, label: &str) -> KeyView {
        let now = byok_store::now();
        serde_json::from_value(serde_json::json!({
            "id": KeyId::new(), "workspace": WorkspaceId::new("ws").unwrap(),
            "provider": provider, "kind": kind, "label": label, "role": role, "order": order,
            "status": "active", "masked": format!("{label}…mask"), "fingerprint": "sha256:0",
            "created_at": now, "updated_at": now, "last_used_at": null,
            "last_verdict": null, "last_verdict_at": null, "default_model": null, "note": null,
            "version": 1,
        }))
        .expect("a KeyView in its documented JSON form")
    }

    fn fleet() -> Vec<KeyView> {
        vec![
            view(
                Provider::OpenAi,
                KeyKind::Project,
                Role::Backup,
                2,
                "backup-2",
            ),
            view(
                Provider::Anthropic,
                KeyKind::Api,
                Role::Primary,
                0,
                "claude",
            ),
            view(Provider::OpenAi, KeyKind::Admin, Role::Primary, 0, "admin"),
            view(
                Provider::OpenAi,
                KeyKind::Project,
                Role::Backup,
                1,
                "backup-1",
            ),
            view(
                Provider::OpenAi,
                KeyKind::Project,
                Role::Primary,
                0,
                "primary",
            ),
        ]
    }

    #[test]
    fn primary_first_when_usable() {
        let (key, skipped) = choose(&fleet(), Provider::OpenAi).unwrap();
        assert_eq!(key.label, "primary");
        assert!(skipped.is_empty());
    }

    #[test]
    fn falls_back_in_order_with_reasons() {
        let mut keys = fleet();
        keys[4].last_verdict = Some(VerdictCode::NoCredits);
        keys[3].status = Status::Disabled;
        let (key, skipped) = choose(&keys, Provider::OpenAi).unwrap();
        assert_eq!(key.label, "backup-2");
        let got: Vec<_> = skipped
            .iter()
            .map(|s| (s.label.as_str(), s.reason.code()))
            .collect();
        assert_eq!(got, [("primary", "last_verdict"), ("backup-1", "disabled")]);
        assert!(skipped[0].reason.message().contains("no credits"));
        let json = serde_json::to_value(&skipped[0].reason).unwrap();
        assert_eq!(json["code"], "last_verdict");
        assert_eq!(json["verdict"], "no_credits");
        assert!(json["message"].as_str().unwrap().contains("no credits"));
        assert!(serde_json::to_value(&skipped[1].reason).unwrap()["verdict"].is_null());
    }

    #[test]
    fn passing_verdicts_do_not_bench_a_key() {
        let mut keys = fleet();
        for v in VerdictCode::ALL.into_iter().filter(|v| !v.benches_key()) {
            keys[4].last_verdict = Some(v);
            assert_eq!(
                choose(&keys, Provider::OpenAi).unwrap().0.label,
                "primary",
                "{v}"
            );
        }
    }

    #[test]
    fn none_usable_lists_every_candidate_but_never_admin_keys() {
        let mut keys = fleet();
        keys[0].status = Status::Revoked;
        keys[3].last_verdict = Some(VerdictCode::Invalid);
        keys[4].status = Status::Disabled;
        let skipped = choose(&keys, Provider::OpenAi).unwrap_err();
        let got: Vec<_> = skipped.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(got, ["primary", "backup-1", "backup-2"]);
        assert_eq!(choose(&keys, Provider::Google).unwrap_err(), vec![]);
    }

    #[test]
    fn outcomes_classify_like_the_test_button() {
        let quota = br#"{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
        let v = CallOutcome::HttpError {
            status: 429,
            body: quota,
        }
        .verdict(Provider::OpenAi);
        assert_eq!(v, Verdict::NoCredits(NoCreditsReason::InsufficientQuota));
        assert!(worth_recording(&v));
        let slow = br#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
        let v = CallOutcome::HttpError {
            status: 429,
            body: slow,
        }
        .verdict(Provider::OpenAi);
        assert!(
            !worth_recording(&v),
            "a rate limit says nothing about the key"
        );
        assert_eq!(
            CallOutcome::Success.verdict(Provider::Google),
            Verdict::Valid
        );
        let v = CallOutcome::Verdict(Verdict::Invalid(InvalidReason::Unauthorized))
            .verdict(Provider::Anthropic);
        assert_eq!(v.code(), "invalid");
        assert!(!worth_recording(&Verdict::ProviderUnavailable));
    }
}
