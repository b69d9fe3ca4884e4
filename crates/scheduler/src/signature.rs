//! Webhook signatures: `X-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">`
//! keyed by the trigger's secret, with `X-Signature-Timestamp: <unix seconds>` no more than
//! five minutes away from the scheduler's clock, either way, so a captured call cannot be
//! replayed later.

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// How far a signature's timestamp may be from now, in seconds.
pub(crate) const TOLERANCE_SECONDS: i64 = 300;
const PREFIX: &str = "sha256=";

/// Why a webhook call is refused (all answer 401; the reason is for the message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("X-Signature-Timestamp must be unix seconds")]
    BadTimestamp,
    #[error("X-Signature-Timestamp is more than 5 minutes away from now")]
    Stale,
    #[error("X-Signature must be sha256=<hex>")]
    BadSignature,
    #[error("the signature matches no webhook trigger of this template")]
    Mismatch,
}

/// A signature header and timestamp whose shape and age were checked; it still has to match
/// a secret.
#[derive(Debug)]
pub(crate) struct Signed<'a> {
    timestamp: &'a str,
    digest: Vec<u8>,
}

impl<'a> Signed<'a> {
    pub(crate) fn parse(
        signature: &str,
        timestamp: &'a str,
        now: DateTime<Utc>,
    ) -> Result<Self, Refusal> {
        let timestamp = timestamp.trim();
        let seconds: i64 = timestamp.parse().map_err(|_| Refusal::BadTimestamp)?;
        if now.timestamp().abs_diff(seconds) > TOLERANCE_SECONDS.unsigned_abs() {
            return Err(Refusal::Stale);
        }
        let hex_digest = signature
            .trim()
            .strip_prefix(PREFIX)
            .ok_or(Refusal::BadSignature)?;
        let digest = hex::decode(hex_digest).map_err(|_| Refusal::BadSignature)?;
        Ok(Self { timestamp, digest })
    }

    /// Whether `secret` made this signature over `body` (compared in constant time).
    pub(crate) fn made_with(&self, secret: &[u8], body: &[u8]) -> bool {
        mac(secret, self.timestamp, body)
            .verify_slice(&self.digest)
            .is_ok()
    }
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("hmac accepts every key length"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-Signature` value for a call: what a client computes.
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let digest = mac(secret, timestamp, body).finalize().into_bytes();
    format!("{PREFIX}{}", hex::encode(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_0123456789abcdef";

    #[test]
    fn a_signature_matches_its_secret_and_body_only() {
        let now = Utc::now();
        let timestamp = now.timestamp().to_string();
        let body = br#"{"order": 42}"#;
        let header = sign(SECRET, &timestamp, body);
        let signed = Signed::parse(&header, &timestamp, now).unwrap();
        assert!(signed.made_with(SECRET, body));
        assert!(!signed.made_with(b"whsec_another-secret-here", body));
        assert!(!signed.made_with(SECRET, br#"{"order": 43}"#));

        // The timestamp is signed too: the same digest under another timestamp fails.
        let other = (now.timestamp() - 1).to_string();
        let moved = Signed::parse(&header, &other, now).unwrap();
        assert!(!moved.made_with(SECRET, body));
    }

    #[test]
    fn the_known_vector_matches() {
        // printf '1700000000.{}' | openssl dgst -sha256 -hmac key
        assert_eq!(
            sign(b"key", "1700000000", b"{}"),
            "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
    }

    #[test]
    fn stale_timestamps_are_refused_either_way() {
        let now = Utc::now();
        let header = sign(SECRET, "0", b"{}");
        for offset in [-(TOLERANCE_SECONDS + 1), TOLERANCE_SECONDS + 1, 10_000] {
            let timestamp = (now.timestamp() + offset).to_string();
            assert_eq!(
                Signed::parse(&header, &timestamp, now).err(),
                Some(Refusal::Stale),
                "{offset}"
            );
        }
        for offset in [-TOLERANCE_SECONDS, TOLERANCE_SECONDS, 0] {
            let timestamp = (now.timestamp() + offset).to_string();
            assert!(Signed::parse(&header, &timestamp, now).is_ok(), "{offset}");
        }
    }

    #[test]
    fn malformed_headers_are_refused() {
        let now = Utc::now();
        let timestamp = now.timestamp().to_string();
        assert_eq!(
            Signed::parse("sha256=zz", &timestamp, now).err(),
            Some(Refusal::BadSignature)
        );
        assert_eq!(
            Signed::parse("md5=00", &timestamp, now).err(),
            Some(Refusal::BadSignature)
        );
        assert_eq!(
            Signed::parse("sha256=00", "yesterday", now).err(),
            Some(Refusal::BadTimestamp)
        );
    }
}
