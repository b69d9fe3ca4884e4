//! Lease tokens: the proof that a worker was handed a job. A job leaves the scheduler with a
//! token bound to its instance, execution, attempt and branch; `Heartbeat` and `CompleteJob`
//! are refused without it, so knowing (or guessing) the ids is not enough to report a result.
//!
//! The token is an HMAC under a key derived from `JWT_SECRET`, not a random value kept in a
//! row: every scheduler replica checks it without a lookup, it survives a restart, and the
//! sweeper's re-handoff of the same attempt carries the same token. Like Temporal's task
//! token it names one attempt; unlike a bare id nobody without the key can make one.

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use model::Job;
use sha2::Sha256;
use uuid::Uuid;

const DERIVE_SALT: &[u8] = b"chorus workflow engine";
const DERIVE_INFO: &[u8] = b"job lease token v1";

/// Which delivery a token speaks for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Delivery {
    pub instance_id: Uuid,
    pub execution_id: Uuid,
    pub attempt: i32,
    pub branch: Option<u32>,
}

impl Delivery {
    pub(crate) fn of(job: &Job) -> Self {
        Self {
            instance_id: job.instance_id,
            execution_id: job.execution_id,
            attempt: job.attempt,
            branch: job.branch,
        }
    }
}

#[derive(Clone)]
pub(crate) struct LeaseSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for LeaseSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LeaseSigner(***)")
    }
}

impl LeaseSigner {
    pub(crate) fn new(jwt_secret: &str) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(DERIVE_SALT), jwt_secret.as_bytes());
        let mut key = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's limit: expand cannot fail.
        let _ = hkdf.expand(DERIVE_INFO, &mut key);
        Self { key }
    }

    pub(crate) fn token(&self, delivery: Delivery) -> String {
        hex::encode(self.mac(delivery).finalize().into_bytes())
    }

    /// Sets the token of every job about to leave for a queue.
    pub(crate) fn stamp(&self, jobs: &mut [Job]) {
        for job in jobs {
            job.lease_token = self.token(Delivery::of(job));
        }
    }

    /// Whether `token` was made for `delivery` (compared in constant time).
    pub(crate) fn verify(&self, delivery: Delivery, token: &str) -> bool {
        let Ok(bytes) = hex::decode(token) else {
            return false;
        };
        self.mac(delivery).verify_slice(&bytes).is_ok()
    }

    fn mac(&self, delivery: Delivery) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC takes keys of any length");
        mac.update(delivery.instance_id.as_bytes());
        mac.update(delivery.execution_id.as_bytes());
        mac.update(&delivery.attempt.to_be_bytes());
        match delivery.branch {
            Some(branch) => {
                mac.update(&[1]);
                mac.update(&branch.to_be_bytes());
            }
            None => mac.update(&[0]),
        }
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery() -> Delivery {
        Delivery {
            instance_id: Uuid::now_v7(),
            execution_id: Uuid::now_v7(),
            attempt: 1,
            branch: None,
        }
    }

    #[test]
    fn a_token_fits_its_own_delivery_only() {
        let signer = LeaseSigner::new("a-secret-of-at-least-thirty-two-bytes");
        let first = delivery();
        let token = signer.token(first);
        assert!(signer.verify(first, &token));
        let next_attempt = Delivery {
            attempt: 2,
            ..first
        };
        let branch = Delivery {
            branch: Some(0),
            ..first
        };
        assert!(!signer.verify(next_attempt, &token));
        assert!(!signer.verify(branch, &token));
        assert!(!signer.verify(delivery(), &token));
        assert!(!signer.verify(first, ""));
        assert!(!signer.verify(first, "not hex"));
        let other_key = LeaseSigner::new("another-secret-of-thirty-two-bytes!!");
        assert!(!other_key.verify(first, &token));
    }
}
