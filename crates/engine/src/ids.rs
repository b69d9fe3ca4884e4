//! Deterministic ids and randomness: everything is derived from `Context::seed`, so a decision
//! replayed with the same context makes the same ids and the same jitter.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// splitmix64: tiny, fast and good enough for ids and jitter (not for secrets).
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    state: u64,
    /// The last id's millisecond and 74 random bits, so that ids made in the same millisecond
    /// (every id of one decision) sort in the order they were made: records listed by
    /// `(created_at, id)` then come out in creation order.
    last: Option<(u64, u128)>,
}

/// The random bits of a UUID v7 (`rand_a` and `rand_b`).
const RANDOM_BITS: u32 = 74;

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            state: seed,
            last: None,
        }
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
    /// Within one millisecond the ids increase (RFC 9562 "monotonic random"): the first is
    /// random with its top bit clear, each next one adds a random step of up to 2^32.
    pub(crate) fn uuid_v7(&mut self, now: DateTime<Utc>) -> Uuid {
        let millis = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        let random = match self.last {
            Some((last_millis, last)) if last_millis == millis => {
                last + 1 + u128::from(self.next_u64() >> 32)
            }
            _ => {
                let wide = (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64());
                wide & ((1u128 << (RANDOM_BITS - 1)) - 1)
            }
        };
        // 2^73 of headroom against at most 2^32 per id: overflow would need 2^41 ids.
        let random = random & ((1u128 << RANDOM_BITS) - 1);
        self.last = Some((millis, random));
        let rand_a = u16::try_from(random >> 62).unwrap_or(0);
        let rand_b = u64::try_from(random & ((1u128 << 62) - 1)).unwrap_or(0);
        let timestamp = u128::from(millis & ((1u64 << 48) - 1));
        let value = (timestamp << 80)
            | (0x7u128 << 76)
            | (u128::from(rand_a) << 64)
            | (0b10u128 << 62)
            | u128::from(rand_b);
        Uuid::from_u128(value)
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

    #[test]
    fn ids_of_one_millisecond_increase_in_the_order_they_are_made() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00.123Z")
            .unwrap()
            .to_utc();
        for seed in 0..200 {
            let mut rng = Rng::new(seed);
            let ids: Vec<Uuid> = (0..50).map(|_| rng.uuid_v7(now)).collect();
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "seed {seed}: {ids:?}");
            for id in &ids {
                assert_eq!(id.get_version_num(), 7);
                assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
                let (secs, nanos) = id.get_timestamp().unwrap().to_unix();
                assert_eq!((secs, nanos / 1_000_000), (1_767_225_600, 123));
            }
        }
        let later = now + chrono::Duration::milliseconds(1);
        let mut rng = Rng::new(1);
        let first = rng.uuid_v7(now);
        assert!(
            rng.uuid_v7(later) > first,
            "a later millisecond sorts after"
        );
    }
}
