//! Retry policies: how many attempts, which failures, and how long to wait between them.

use model::StepError;

use crate::ids::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backoff {
    Fixed,
    Linear,
    Exponential,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RetryPolicy {
    /// `None`: the `STEP_RETRY_LIMIT` setting.
    pub(crate) max_attempts: Option<u32>,
    pub(crate) backoff: Backoff,
    pub(crate) initial_interval: f64,
    pub(crate) multiplier: f64,
    pub(crate) max_interval: f64,
    pub(crate) jitter: bool,
    /// Error types that may be retried; `None`: every retryable type.
    pub(crate) retry_on: Option<Vec<String>>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: None,
            backoff: Backoff::Exponential,
            initial_interval: 1.0,
            multiplier: 2.0,
            max_interval: 300.0,
            jitter: false,
            retry_on: None,
        }
    }
}

impl RetryPolicy {
    /// Whether a failure of attempt `attempt` (1-based) is followed by another attempt.
    pub(crate) fn should_retry(&self, error: &StepError, attempt: i32, default_max: u32) -> bool {
        if !error.retryable {
            return false;
        }
        if let Some(kinds) = &self.retry_on
            && !kinds.contains(&error.kind)
        {
            return false;
        }
        let max = self.max_attempts.unwrap_or(default_max).max(1);
        i64::from(attempt) < i64::from(max)
    }

    /// Seconds to wait after attempt `attempt` (1-based) failed. With jitter the delay is drawn
    /// from `[delay / 2, delay]`, so retries of many instances spread out but never wait longer
    /// than the policy says.
    pub(crate) fn delay(&self, attempt: i32, rng: &mut Rng) -> f64 {
        let n = f64::from(attempt.max(1));
        let raw = match self.backoff {
            Backoff::Fixed => self.initial_interval,
            Backoff::Linear => self.initial_interval * n,
            Backoff::Exponential => self.initial_interval * self.multiplier.powf(n - 1.0),
        };
        let capped = if raw.is_finite() {
            raw.min(self.max_interval)
        } else {
            self.max_interval
        };
        let capped = capped.max(0.0);
        if self.jitter {
            capped * (0.5 + rng.next_f64() / 2.0)
        } else {
            capped
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(backoff: Backoff) -> RetryPolicy {
        RetryPolicy {
            backoff,
            initial_interval: 2.0,
            multiplier: 3.0,
            max_interval: 50.0,
            ..Default::default()
        }
    }

    #[test]
    fn backoffs_grow_as_named_and_are_capped() {
        let mut rng = Rng::new(1);
        let fixed = policy(Backoff::Fixed);
        assert_eq!([1, 2, 3].map(|a| fixed.delay(a, &mut rng)), [2.0, 2.0, 2.0]);
        let linear = policy(Backoff::Linear);
        assert_eq!(
            [1, 2, 3].map(|a| linear.delay(a, &mut rng)),
            [2.0, 4.0, 6.0]
        );
        let exp = policy(Backoff::Exponential);
        assert_eq!(
            [1, 2, 3, 4].map(|a| exp.delay(a, &mut rng)),
            [2.0, 6.0, 18.0, 50.0]
        );
        assert_eq!(exp.delay(10_000, &mut rng), 50.0);
    }

    #[test]
    fn jitter_stays_within_half_to_full_delay() {
        let mut rng = Rng::new(9);
        let p = RetryPolicy {
            jitter: true,
            backoff: Backoff::Fixed,
            initial_interval: 10.0,
            ..Default::default()
        };
        let delays: Vec<f64> = (0..50).map(|_| p.delay(1, &mut rng)).collect();
        assert!(delays.iter().all(|d| (5.0..=10.0).contains(d)));
        assert!(delays.windows(2).any(|w| w[0] != w[1]));
    }

    #[test]
    fn only_retryable_listed_failures_within_attempts_retry() {
        let p = RetryPolicy {
            max_attempts: Some(3),
            retry_on: Some(vec!["timeout".into()]),
            ..Default::default()
        };
        let timeout = StepError::new("timeout", "slow", true);
        assert!(p.should_retry(&timeout, 1, 9));
        assert!(p.should_retry(&timeout, 2, 9));
        assert!(!p.should_retry(&timeout, 3, 9));
        assert!(!p.should_retry(&StepError::new("network", "x", true), 1, 9));
        assert!(!p.should_retry(&StepError::new("timeout", "x", false), 1, 9));
        let default = RetryPolicy::default();
        assert!(default.should_retry(&StepError::new("network", "x", true), 1, 2));
        assert!(!default.should_retry(&StepError::new("network", "x", true), 2, 2));
    }
}
