//! XChaCha20-Poly1305, as every layer of the envelope uses it.
//!
//! The construction is the standard one (draft-irtf-cfrg-xchacha-03, and what
//! libsodium's `crypto_aead_xchacha20poly1305_ietf` does): HChaCha20 of the key
//! and the first 16 nonce bytes gives a subkey, and the IETF ChaCha20-Poly1305
//! AEAD (RFC 8439) runs under that subkey with the nonce `0000 || nonce[16..24]`.
//! Its output is byte for byte that of the `chacha20poly1305` crate's
//! `XChaCha20Poly1305`, which the tests hold it to as an oracle, so vaults
//! sealed by either open with the other.
//!
//! Why not call that crate directly: for a key-sized message (a few hundred
//! bytes) its runtime-selected AVX2 backends spend more on setup than on work,
//! about 3.6 µs per seal + open on the development machine, against 0.8 µs
//! here, where HChaCha20 comes from the `chacha20` crate (one block function, no
//! backend choice) and the AEAD from AWS-LC (`aws-lc-rs`, already in the tree as
//! rustls' crypto provider), whose assembly is tuned for short TLS records.
//! See `docs/PERFORMANCE.md`.

use aws_lc_rs::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use zeroize::{Zeroize as _, Zeroizing};

/// XChaCha20 nonce length.
pub(crate) const NONCE_LEN: usize = 24;
/// Poly1305 tag length.
pub(crate) const TAG_LEN: usize = 16;

/// The IETF AEAD keyed with the HChaCha20 subkey, and the 12-byte nonce to use with it.
fn derive(key: &[u8; 32], nonce: &[u8; NONCE_LEN]) -> Option<(LessSafeKey, Nonce)> {
    let head: &[u8; 16] = nonce[..16].try_into().ok()?;
    let mut derived = chacha20::hchacha::<chacha20::R20>(key.into(), head.into());
    let mut subkey = Zeroizing::new([0u8; 32]);
    subkey.copy_from_slice(&derived);
    derived.as_mut_slice().zeroize();
    // AWS-LC keeps its copy of the subkey in a context it cleanses when freed.
    let aead = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, subkey.as_slice()).ok()?);
    let mut short = [0u8; 12];
    short[4..].copy_from_slice(&nonce[16..]);
    Some((aead, Nonce::assume_unique_for_key(short)))
}

/// Encrypt `plain` under `key` with `nonce` and `aad`: `nonce || ciphertext || tag`.
///
/// The caller supplies a fresh random nonce for every call (192 bits, so random
/// nonces never collide in practice). `None` only if the message is longer
/// than the AEAD allows (256 GiB).
pub(crate) fn seal(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    plain: &[u8],
    aad: &[u8],
) -> Option<Vec<u8>> {
    let (aead, short) = derive(key, nonce)?;
    let mut out = Vec::with_capacity(NONCE_LEN + plain.len() + TAG_LEN);
    out.extend_from_slice(nonce);
    out.extend_from_slice(plain);
    match aead.seal_in_place_separate_tag(short, Aad::from(aad), &mut out[NONCE_LEN..]) {
        Ok(tag) => {
            out.extend_from_slice(tag.as_ref());
            Some(out)
        }
        Err(_) => {
            // Refused before encrypting: the buffer still holds the plaintext.
            out.zeroize();
            None
        }
    }
}

/// Inverse of [`seal`]: the plaintext, in a buffer zeroed on drop, or `None`
/// when `sealed` does not authenticate under `key` and `aad`.
pub(crate) fn open(key: &[u8; 32], sealed: &[u8], aad: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce: &[u8; NONCE_LEN] = nonce.try_into().ok()?;
    let (aead, short) = derive(key, nonce)?;
    let mut buf = Zeroizing::new(body.to_vec());
    let len = aead
        .open_in_place(short, Aad::from(aad), buf.as_mut_slice())
        .ok()?
        .len();
    buf.truncate(len);
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    use proptest::prelude::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// draft-irtf-cfrg-xchacha-03, appendix A.3.1.
    #[test]
    fn draft_xchacha_test_vector() {
        let plain = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let aad = unhex("50515253c0c1c2c3c4c5c6c7");
        let key: [u8; 32] =
            unhex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
                .try_into()
                .unwrap();
        let nonce: [u8; 24] = unhex("404142434445464748494a4b4c4d4e4f5051525354555657")
            .try_into()
            .unwrap();
        let ciphertext = unhex(
            "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb
             731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452
             2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9
             21f9664c97637da9768812f615c68b13b52e",
        );
        let tag = unhex("c0875924c1c7987947deafd8780acf49");

        let sealed = seal(&key, &nonce, plain, &aad).unwrap();
        assert_eq!(&sealed[..NONCE_LEN], &nonce);
        assert_eq!(&sealed[NONCE_LEN..sealed.len() - TAG_LEN], &ciphertext[..]);
        assert_eq!(&sealed[sealed.len() - TAG_LEN..], &tag[..]);
        assert_eq!(&open(&key, &sealed, &aad).unwrap()[..], &plain[..]);
    }

    #[test]
    fn too_short_or_wrong_inputs_do_not_open() {
        let key = [3u8; 32];
        let sealed = seal(&key, &[5u8; 24], b"secret", b"aad").unwrap();
        assert!(open(&key, &sealed[..NONCE_LEN + TAG_LEN - 1], b"aad").is_none());
        assert!(open(&key, &sealed, b"aaD").is_none());
        assert!(open(&[4u8; 32], &sealed, b"aad").is_none());
        // An empty message still carries a tag and still authenticates.
        let empty = seal(&key, &[6u8; 24], b"", b"").unwrap();
        assert_eq!(empty.len(), NONCE_LEN + TAG_LEN);
        assert!(open(&key, &empty, b"").unwrap().is_empty());
    }

    proptest! {
        /// Byte-identical to the `chacha20poly1305` crate, both ways, for any input.
        #[test]
        fn matches_the_rustcrypto_implementation(
            key in any::<[u8; 32]>(),
            nonce in any::<[u8; 24]>(),
            plain in proptest::collection::vec(any::<u8>(), 0..700),
            aad in proptest::collection::vec(any::<u8>(), 0..100),
        ) {
            let oracle = XChaCha20Poly1305::new((&key).into());
            let expected = oracle
                .encrypt(&XNonce::from(nonce), Payload { msg: &plain, aad: &aad })
                .unwrap();
            let ours = seal(&key, &nonce, &plain, &aad).unwrap();
            prop_assert_eq!(&ours[NONCE_LEN..], &expected[..]);
            prop_assert_eq!(&open(&key, &ours, &aad).unwrap()[..], &plain[..]);
            let back = oracle
                .decrypt(&XNonce::from(nonce), Payload { msg: &ours[NONCE_LEN..], aad: &aad })
                .unwrap();
            prop_assert_eq!(back, plain);
        }

        #[test]
        fn any_bit_flip_fails_to_open(
            plain in proptest::collection::vec(any::<u8>(), 0..200),
            pos in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let key = [9u8; 32];
            let mut sealed = seal(&key, &[1u8; 24], &plain, b"ctx").unwrap();
            let i = pos.index(sealed.len());
            sealed[i] ^= 1 << bit;
            prop_assert!(open(&key, &sealed, b"ctx").is_none());
        }
    }
}
