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
