//! Requests per tenant at the gateway: a token bucket per tenant (GCRA, from `governor`), so
//! one tenant's flood is answered 429 while every other tenant's requests go through.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::error::ApiError;

/// Keys kept before idle tenants (whose buckets are full again) are forgotten.
const RETAIN_AFTER_KEYS: usize = 10_000;

/// `TENANT_RATE_LIMIT` and `TENANT_RATE_BURST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSettings {
    /// Requests per second one tenant may make, sustained.
    pub per_second: NonZeroU32,
    /// Requests one tenant may make at once after a quiet spell.
    pub burst: NonZeroU32,
}

pub(crate) struct TenantRateLimit {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl TenantRateLimit {
    pub(crate) fn new(settings: RateSettings) -> Self {
        let quota = Quota::per_second(settings.per_second).allow_burst(settings.burst);
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one request from `tenant`'s bucket; an empty bucket answers 429 with the whole
    /// seconds until the next request would pass as `Retry-After`.
    pub(crate) fn check(&self, tenant: &str) -> Result<(), ApiError> {
        if self.limiter.len() > RETAIN_AFTER_KEYS {
            self.limiter.retain_recent();
        }
        match self.limiter.check_key(&tenant.to_owned()) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                metrics::counter!("gateway_rate_limited_total").increment(1);
                Err(ApiError::rate_limited(seconds.max(1)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(per_second: u32, burst: u32) -> TenantRateLimit {
        TenantRateLimit::new(RateSettings {
            per_second: NonZeroU32::new(per_second).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
        })
    }

    #[test]
    fn one_tenants_flood_leaves_another_tenant_alone() {
        let limit = limit(1, 5);
        for _ in 0..5 {
            limit.check("noisy").unwrap();
        }
        let refused = limit.check("noisy").unwrap_err();
        assert_eq!(refused.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.retry_after(), Some(1));
        limit.check("quiet").unwrap();
    }
}
