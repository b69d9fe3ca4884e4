//! The worker's Prometheus series; the exporter is installed by the binary.

use std::time::Duration;

pub(crate) const STEP_EXECUTIONS: &str = "workflow_step_executions_total";
pub(crate) const STEP_DURATION: &str = "workflow_step_duration_seconds";
pub(crate) const STEP_RETRIES: &str = "workflow_step_retries_total";

/// How a job ended, as the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Completed,
    Failed,
    Timeout,
    Cancelled,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Timeout => "timeout",
            Self::Cancelled => "cancelled",
        }
    }
}

/// A job that is not its step's first attempt: the engine retried the step.
pub(crate) fn record_attempt(action: &str, attempt: i32) {
    if attempt > 1 {
        metrics::counter!(STEP_RETRIES, "action" => action.to_owned()).increment(1);
    }
}

pub(crate) fn record_step(action: &str, outcome: Outcome, duration: Duration) {
    metrics::counter!(
        STEP_EXECUTIONS,
        "action" => action.to_owned(),
        "outcome" => outcome.as_str()
    )
    .increment(1);
    metrics::histogram!(
        STEP_DURATION,
        "action" => action.to_owned(),
        "outcome" => outcome.as_str()
    )
    .record(duration.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;

    #[test]
    fn a_step_counts_and_times_by_action_and_outcome() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            record_step("noop", Outcome::Completed, Duration::from_millis(5));
            record_step("noop", Outcome::Completed, Duration::from_millis(7));
            record_step("http_request", Outcome::Timeout, Duration::from_secs(1));
        });
        let mut completed_noop = None;
        let mut noop_durations = 0;
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let key = key.key();
            let labels: Vec<(String, String)> = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            let has = |k: &str, v: &str| labels.iter().any(|(lk, lv)| lk == k && lv == v);
            match (key.name(), value) {
                (STEP_EXECUTIONS, DebugValue::Counter(n)) if has("action", "noop") => {
                    assert!(has("outcome", "completed"));
                    completed_noop = Some(n);
                }
                (STEP_DURATION, DebugValue::Histogram(values)) if has("action", "noop") => {
                    assert!(has("outcome", "completed"));
                    noop_durations = values.len();
                }
                _ => {}
            }
        }
        assert_eq!(completed_noop, Some(2));
        assert_eq!(noop_durations, 2);
    }
}
