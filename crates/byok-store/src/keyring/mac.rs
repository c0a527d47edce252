//! The record MAC: HMAC-SHA-256 over a record's fields in an unambiguous,
//! length-prefixed encoding, under a key derived from the vault's lookup key.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::record::KeyRecord;

/// Domain separation of the record-MAC key from the lookup key it is derived from.
const KEY_LABEL: &[u8] = b"byok/v1/record-mac";
/// Domain separation of one record's MAC input.
const RECORD_LABEL: &[u8] = b"byok/v1/record";

/// Marks the start of the optional parameters in a record's MAC input.
const PARAMS_LABEL: &[u8] = b"byok/v1/record-params";

type HmacSha256 = Hmac<Sha256>;

/// `HMAC(lookup_key, "byok/v1/record-mac")`: the record-MAC key, never the lookup key itself.
pub(super) fn derive_key(lookup_key: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(lookup_key).expect("HMAC accepts 32-byte keys");
    mac.update(KEY_LABEL);
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// Length-prefixed fields into an HMAC: no two field lists encode alike.
struct Fields(HmacSha256);

impl Fields {
    fn field(&mut self, bytes: &[u8]) {
        self.0.update(&(bytes.len() as u64).to_be_bytes());
        self.0.update(bytes);
    }

    /// A presence byte, then (when present) the value.
    fn optional(&mut self, value: Option<&[u8]>) {
        match value {
            None => self.field(&[0]),
            Some(v) => {
                self.field(&[1]);
                self.field(v);
            }
        }
    }
}

/// Every field but the MAC itself and `last_used_at` (which `mark_used` sets
/// without a new version), with `version` as given: the version the row has
/// once written (an update stores `record.version + 1`).
fn input(key: &[u8; 32], r: &KeyRecord, version: u64) -> HmacSha256 {
    let mut f =
        Fields(<HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC accepts 32-byte keys"));
    f.field(RECORD_LABEL);
    f.field(r.id.as_uuid().as_bytes());
    f.field(r.workspace.as_str().as_bytes());
    f.field(r.provider.as_str().as_bytes());
    f.field(r.kind.as_str().as_bytes());
    f.field(r.label.as_bytes());
    f.field(r.role.as_str().as_bytes());
    f.field(&r.order.to_be_bytes());
    f.field(r.status.as_str().as_bytes());
    f.field(r.masked.as_bytes());
    f.field(r.fingerprint.as_bytes());
    f.field(&r.lookup_hash.0);
    // Timestamps as stored: whole microseconds.
    f.field(&r.created_at.as_microsecond().to_be_bytes());
    f.field(&r.updated_at.as_microsecond().to_be_bytes());
    f.optional(r.last_verdict.map(|v| v.as_str().as_bytes()));
    let verdict_at = r.last_verdict_at.map(|t| t.as_microsecond().to_be_bytes());
    f.optional(verdict_at.as_ref().map(|b| b.as_slice()));
    f.optional(r.default_model.as_deref().map(str::as_bytes));
    f.optional(r.note.as_deref().map(str::as_bytes));
    f.field(&version.to_be_bytes());
    f.field(r.kek_id.as_bytes());
    f.field(r.sealed.as_bytes());
    // Parameters only when there are some, so a record without any (every record
    // written before parameters existed) keeps the MAC it was given.
    if let Some(params) = r.params.as_ref().filter(|p| !p.is_empty()) {
        f.field(PARAMS_LABEL);
        f.field(&(params.iter().count() as u64).to_be_bytes());
        for (name, value) in params.iter() {
            f.field(name.as_bytes());
            f.field(value.as_bytes());
        }
    }
    f.0
}

/// The MAC `r` carries once stored at `version`.
pub(super) fn compute(key: &[u8; 32], r: &KeyRecord, version: u64) -> Vec<u8> {
    input(key, r, version).finalize().into_bytes().to_vec()
}

/// Whether `tag` is the MAC of `r` at its own version (constant time).
pub(super) fn matches(key: &[u8; 32], r: &KeyRecord, tag: &[u8]) -> bool {
    input(key, r, r.version).verify_slice(tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{KeyId, LookupHash, Role, Status, WorkspaceId};
    use crate::sealed::SealedSecret;
    use byok_keys::params::Params;
    use byok_keys::{KeyKind, Provider, VerdictCode};
    use jiff::Timestamp;

    /// A record with every field fixed, as a vault written before params held it.
    pub(super) fn fixed_record() -> KeyRecord {
        let at = Timestamp::from_microsecond(1_780_000_000_000_000).unwrap();
        KeyRecord {
            id: KeyId::from_uuid(uuid::Uuid::from_u128(
                0x0190_f5c2_0000_7000_8000_0000_0000_0001,
            )),
            workspace: WorkspaceId::new("acme").unwrap(),
            provider: Provider::OpenAi,
            kind: KeyKind::Project,
            label: "production".into(),
            role: Role::Primary,
            order: 0,
            status: Status::Active,
            masked: "sk-proj-…Q8xA".into(),
            fingerprint: "sha256:1a2b".into(),
            lookup_hash: LookupHash([7; 32]),
            created_at: at,
            updated_at: at,
            last_used_at: None,
            last_verdict: Some(VerdictCode::Valid),
            last_verdict_at: Some(at),
            default_model: Some("gpt-4o-mini".into()),
            note: None,
            version: 3,
            kek_id: "kek-1".into(),
            sealed: SealedSecret::from_bytes(vec![1, 2, 3, 4]),
            params: None,
            mac: None,
        }
    }

    fn hex(tag: &[u8]) -> String {
        tag.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The MAC of a record without parameters is the one byok gave it before
    /// parameters existed (this tag was computed by that version), so old
    /// vaults keep verifying; empty parameters count as none.
    #[test]
    fn records_without_params_keep_their_mac() {
        let key = derive_key(&[9; 32]);
        let before = "c7047ac509d521aa8eeb4ff10ad6ce674e3528fa31e405f8438f037ba5b372f2";
        let mut r = fixed_record();
        assert_eq!(hex(&compute(&key, &r, 3)), before);
        r.params = Some(Params::none(Provider::OpenAi).unwrap());
        assert_eq!(hex(&compute(&key, &r, 3)), before);
        assert!(matches(&key, &r, &compute(&key, &fixed_record(), 3)));
    }

    /// Parameters are covered: adding, changing or removing one changes the MAC.
    #[test]
    fn params_are_covered() {
        let key = derive_key(&[9; 32]);
        let mut r = fixed_record();
        r.provider = Provider::Bedrock;
        let bare = compute(&key, &r, 3);
        let with = |pairs: &[(&str, &str)]| {
            let mut r = r.clone();
            r.params = Some(Params::new(r.provider, pairs.iter().copied()).unwrap());
            r
        };
        let east = with(&[("region", "us-east-1")]);
        let tag = compute(&key, &east, 3);
        assert_ne!(tag, bare);
        assert!(matches(&key, &east, &tag));
        assert!(!matches(&key, &with(&[("region", "us-east-2")]), &tag));
        assert!(!matches(&key, &r, &tag));
    }
}
