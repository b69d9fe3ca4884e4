//! Deterministic ids and randomness: everything is derived from `Context::seed`, so a decision
//! replayed with the same context makes the same ids and the same jitter.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// splitmix64: tiny, fast and good enough for ids and jitter (not for secrets).
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    state: u64,
}

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float in `[0, 1)`.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A UUID v7 whose time part is `now` and whose random part comes from this generator.
    pub(crate) fn uuid_v7(&mut self, now: DateTime<Utc>) -> Uuid {
        let millis = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        let a = self.next_u64().to_le_bytes();
        let b = self.next_u64().to_le_bytes();
        let mut bytes = [0u8; 10];
        bytes[..8].copy_from_slice(&a);
        bytes[8..].copy_from_slice(&b[..2]);
        uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_ids_and_different_seeds_differ() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let mut c = Rng::new(8);
        let id = a.uuid_v7(now);
        assert_eq!(id, b.uuid_v7(now));
        assert_ne!(id, c.uuid_v7(now));
        assert_eq!(id.get_version_num(), 7);
        assert_ne!(a.uuid_v7(now), id);
        let f = a.next_f64();
        assert!((0.0..1.0).contains(&f));
    }
}
