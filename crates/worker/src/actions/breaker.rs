//! Circuit breakers per external target (an `http_request` host, the SMTP server): after
//! `failures` consecutive failures the breaker opens and jobs for that target fail at once
//! with a retryable `circuit_open` error instead of each waiting for its own timeout; after
//! `cooldown` one probe goes through (half-open), and its outcome closes or reopens it.
//!
//! A small state machine rather than a crate: what it needs (keyed by target, failures
//! classified by the step error, a clock the tests control) is forty lines, and the crates
//! on offer wrap calls in their own future and error types that the action results would have
//! to be mapped through.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use model::StepError;

use super::ActionResult;

/// `CIRCUIT_BREAKER_FAILURES` and `CIRCUIT_BREAKER_COOLDOWN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    pub failures: u32,
    pub cooldown: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            failures: 5,
            cooldown: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One probe is out; everything else fails fast until it reports.
    HalfOpen,
}

pub(crate) struct Breakers {
    settings: BreakerSettings,
    targets: Mutex<HashMap<String, State>>,
}

/// Failures that say the target is unwell; any other answer (a 404, a refused recipient)
/// proves it is up.
fn is_failure(result: &ActionResult) -> bool {
    matches!(result, Err(e) if matches!(e.kind.as_str(), "network" | "timeout" | "http_5xx" | "smtp"))
}

impl Breakers {
    pub(crate) fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            targets: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `call` for `target` unless its breaker is open.
    pub(crate) async fn call(
        &self,
        target: &str,
        call: impl Future<Output = ActionResult>,
    ) -> ActionResult {
        self.admit(target, Instant::now())?;
        let result = call.await;
        self.record(target, !is_failure(&result), Instant::now());
        result
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, State>> {
        self.targets.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn admit(&self, target: &str, now: Instant) -> Result<(), StepError> {
        let mut targets = self.lock();
        let state = targets
            .entry(target.to_owned())
            .or_insert(State::Closed { failures: 0 });
        match *state {
            State::Closed { .. } => Ok(()),
            State::Open { until } if now >= until => {
                *state = State::HalfOpen;
                Ok(())
            }
            State::Open { .. } | State::HalfOpen => Err(StepError::new(
                "circuit_open",
                format!("{target} failed repeatedly; not calling it until it recovers"),
                true,
            )),
        }
    }

    fn record(&self, target: &str, success: bool, now: Instant) {
        let mut targets = self.lock();
        let state = targets
            .entry(target.to_owned())
            .or_insert(State::Closed { failures: 0 });
        let next = match (*state, success) {
            (_, true) => State::Closed { failures: 0 },
            (State::Closed { failures }, false) if failures + 1 < self.settings.failures => {
                State::Closed {
                    failures: failures + 1,
                }
            }
            (_, false) => State::Open {
                until: now + self.settings.cooldown,
            },
        };
        let open = !matches!(next, State::Closed { .. });
        if open != !matches!(*state, State::Closed { .. }) {
            tracing::warn!(target, open, "circuit breaker changed");
        }
        metrics::gauge!("worker_circuit_open", "target" => target.to_owned()).set(if open {
            1.0
        } else {
            0.0
        });
        *state = next;
        // Closed, healthy targets need no entry: keeps the map as small as the trouble.
        if next == (State::Closed { failures: 0 }) {
            targets.remove(target);
        }
    }

    #[cfg(test)]
    fn state(&self, target: &str) -> Option<State> {
        self.lock().get(target).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breakers() -> Breakers {
        Breakers::new(BreakerSettings {
            failures: 3,
            cooldown: Duration::from_secs(30),
        })
    }

    #[test]
    fn opens_after_consecutive_failures_then_probes_once_and_closes() {
        let b = breakers();
        let t0 = Instant::now();
        for _ in 0..2 {
            b.admit("h", t0).unwrap();
            b.record("h", false, t0);
        }
        assert_eq!(b.state("h"), Some(State::Closed { failures: 2 }));
        b.admit("h", t0).unwrap();
        b.record("h", false, t0);
        assert!(matches!(b.state("h"), Some(State::Open { .. })));
        let refused = b.admit("h", t0 + Duration::from_secs(29)).unwrap_err();
        assert_eq!(refused.kind, "circuit_open");
        assert!(refused.retryable);
        // Other targets are not affected.
        b.admit("other", t0).unwrap();
        // After the cool-down one probe passes; a second caller still fails fast.
        let later = t0 + Duration::from_secs(30);
        b.admit("h", later).unwrap();
        assert_eq!(b.state("h"), Some(State::HalfOpen));
        assert!(b.admit("h", later).is_err());
        b.record("h", true, later);
        assert_eq!(b.state("h"), None, "closed and forgotten");
        b.admit("h", later).unwrap();
    }

    #[test]
    fn a_failed_probe_opens_it_again_and_a_success_resets_the_count() {
        let b = breakers();
        let t0 = Instant::now();
        b.record("h", false, t0);
        b.record("h", false, t0);
        b.record("h", true, t0);
        b.record("h", false, t0);
        assert_eq!(b.state("h"), Some(State::Closed { failures: 1 }));
        b.record("h", false, t0);
        b.record("h", false, t0);
        let later = t0 + Duration::from_secs(31);
        b.admit("h", later).unwrap();
        b.record("h", false, later);
        assert!(b.admit("h", later + Duration::from_secs(1)).is_err());
    }

    #[tokio::test]
    async fn call_classifies_results() {
        let b = Breakers::new(BreakerSettings {
            failures: 1,
            cooldown: Duration::from_secs(3600),
        });
        let not_found = b
            .call("h", async { Err(StepError::new("http_4xx", "404", false)) })
            .await;
        assert_eq!(not_found.unwrap_err().kind, "http_4xx");
        assert_eq!(b.state("h"), None, "a 404 proves the target is up");
        let down = b
            .call("h", async {
                Err(StepError::new("network", "refused", true))
            })
            .await;
        assert_eq!(down.unwrap_err().kind, "network");
        let fast = b.call("h", async { Ok(serde_json::json!({})) }).await;
        assert_eq!(fast.unwrap_err().kind, "circuit_open");
    }
}
