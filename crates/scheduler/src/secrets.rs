//! Webhook secrets at rest. A webhook's signature is an HMAC keyed by its secret, so the
//! scheduler must be able to read the secret back: it is encrypted (AES-256-GCM), not hashed,
//! with the key from `TRIGGER_SECRET_KEY`. The trigger's id is the associated data, so a
//! ciphertext copied onto another trigger's row does not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use hkdf::Hkdf;
use rand::RngCore as _;
use sha2::Sha256;
use uuid::Uuid;

/// First byte of every ciphertext, so that a later scheme can tell its own from ours.
const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;
/// HKDF salt and info of the development key: fixed, so the same `JWT_SECRET` always gives the
/// same key.
const DERIVE_SALT: &[u8] = b"chorus-workflow-engine";
const DERIVE_INFO: &[u8] = b"trigger-secret-key v1";

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("must be 32 bytes, as 64 hex digits or base64")]
    BadKey,
    #[error("a stored webhook secret does not decrypt with this TRIGGER_SECRET_KEY")]
    Undecryptable,
}

/// The key that encrypts webhook secrets. Its `Debug` never shows it.
#[derive(Clone)]
pub struct TriggerKey([u8; 32]);

impl std::fmt::Debug for TriggerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TriggerKey(***)")
    }
}

impl TriggerKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// `TRIGGER_SECRET_KEY`: 32 bytes as 64 hex digits, or as base64 (standard or URL-safe,
    /// padded or not).
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let decoded = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).ok()
        } else {
            let engines = [
                &base64::engine::general_purpose::STANDARD,
                &base64::engine::general_purpose::STANDARD_NO_PAD,
                &base64::engine::general_purpose::URL_SAFE,
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            ];
            engines.iter().find_map(|engine| engine.decode(text).ok())
        };
        let bytes: [u8; 32] = decoded
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(SecretError::BadKey)?;
        Ok(Self(bytes))
    }

    /// The development key when no `TRIGGER_SECRET_KEY` is set: HKDF-SHA256 of `JWT_SECRET`.
    /// Secrets stored under it open only while `JWT_SECRET` stays the same.
    pub fn derive_from_jwt_secret(jwt_secret: &str) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(DERIVE_SALT), jwt_secret.as_bytes());
        let mut key = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's 8160-byte limit: expand cannot fail.
        let _ = hkdf.expand(DERIVE_INFO, &mut key);
        Self(key)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(self.0))
    }

    /// `FORMAT_V1 || nonce || ciphertext+tag`, with a fresh random nonce.
    pub fn seal(&self, trigger_id: Uuid, secret: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: secret,
            aad: trigger_id.as_bytes(),
        };
        // AES-GCM encryption fails only past 64 GiB of plaintext.
        let ciphertext = self
            .cipher()
            .encrypt(&Nonce::from(nonce), payload)
            .unwrap_or_default();
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(FORMAT_V1);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    pub fn open(&self, trigger_id: Uuid, sealed: &[u8]) -> Result<Vec<u8>, SecretError> {
        let Some((&FORMAT_V1, rest)) = sealed.split_first() else {
            return Err(SecretError::Undecryptable);
        };
        if rest.len() < NONCE_LEN {
            return Err(SecretError::Undecryptable);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SecretError::Undecryptable)?;
        let payload = Payload {
            msg: ciphertext,
            aad: trigger_id.as_bytes(),
        };
        self.cipher()
            .decrypt(&Nonce::from(nonce), payload)
            .map_err(|_| SecretError::Undecryptable)
    }
}

/// A new webhook secret: 32 random bytes, hex.
pub(crate) fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_trigger() {
        let key = TriggerKey::from_bytes([7; 32]);
        let trigger = Uuid::now_v7();
        let sealed = key.seal(trigger, b"s3cret-s3cret-s3cret");
        assert!(!sealed.windows(6).any(|w| w == b"s3cret"));
        assert_eq!(key.open(trigger, &sealed).unwrap(), b"s3cret-s3cret-s3cret");

        let other_key = TriggerKey::from_bytes([8; 32]);
        assert!(other_key.open(trigger, &sealed).is_err());
        assert!(key.open(Uuid::now_v7(), &sealed).is_err());
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(key.open(trigger, &tampered).is_err());
        assert!(key.open(trigger, &[]).is_err());
        assert!(key.open(trigger, &[FORMAT_V1, 1, 2]).is_err());
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let key = TriggerKey::from_bytes([7; 32]);
        let trigger = Uuid::now_v7();
        assert_ne!(key.seal(trigger, b"same"), key.seal(trigger, b"same"));
    }

    #[test]
    fn keys_parse_from_hex_or_base64() {
        let bytes = [0xabu8; 32];
        let from_hex = TriggerKey::parse(&hex::encode(bytes)).unwrap();
        assert_eq!(from_hex.0, bytes);
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        assert_eq!(TriggerKey::parse(&b64).unwrap().0, bytes);
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(TriggerKey::parse(&url).unwrap().0, bytes);

        assert!(TriggerKey::parse("too-short").is_err());
        assert!(TriggerKey::parse(&hex::encode([1u8; 16])).is_err());
        let long = base64::engine::general_purpose::STANDARD.encode([1u8; 33]);
        assert!(TriggerKey::parse(&long).is_err());
    }

    #[test]
    fn the_development_key_follows_the_jwt_secret() {
        let a = TriggerKey::derive_from_jwt_secret("jwt-secret-one-0123456789");
        let again = TriggerKey::derive_from_jwt_secret("jwt-secret-one-0123456789");
        let b = TriggerKey::derive_from_jwt_secret("jwt-secret-two-0123456789");
        assert_eq!(a.0, again.0);
        assert_ne!(a.0, b.0);
        assert_ne!(
            &a.0[..],
            "jwt-secret-one-0123456789"
                .as_bytes()
                .get(..32)
                .unwrap_or(&[])
        );
    }

    #[test]
    fn debug_output_hides_the_key() {
        let key = TriggerKey::from_bytes([0x41; 32]);
        let text = format!("{key:?}");
        assert!(!text.contains("65") && !text.contains("AAAA"), "{text}");
    }

    #[test]
    fn generated_secrets_are_long_and_distinct() {
        let a = generate_secret();
        assert!(a.len() >= 64, "{a}");
        assert_ne!(a, generate_secret());
    }
}
