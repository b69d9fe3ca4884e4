//! Latency: one instance at a time on an otherwise idle engine, timed by the engine's own
//! timestamps, so that the benchmark's polling does not enter the figures.

use std::time::Duration;

use anyhow::bail;
use serde::Serialize;

use crate::client::{Client, StepExecution};
use crate::stats::{Summary, millis, summarize};

#[derive(Debug, Serialize)]
pub struct LatencyReport {
    pub instances: usize,
    pub steps_per_instance: usize,
    /// Instance `completed_at - started_at`.
    pub instance_ms: Summary,
    /// Instance duration / steps: the mean overhead per step of a lone instance.
    pub per_step_ms: f64,
    /// From one step's `created_at` to the next one's: the full cycle of one step.
    pub step_cycle_ms: Summary,
    /// `created_at` to `completed_at` of one execution: commit, hand-off to the queue, delivery,
    /// the action, the result's trip back, the decision. (The engine records `started_at` at
    /// the decision unless a heartbeat came, so it does not split this further.)
    pub execution_ms: Summary,
}

pub async fn measure(
    client: &Client,
    template_id: &str,
    steps: usize,
    runs: usize,
    poll: Duration,
) -> anyhow::Result<LatencyReport> {
    let mut instance_ms = Vec::new();
    let mut cycle_ms = Vec::new();
    let mut execution_ms = Vec::new();
    for _ in 0..runs {
        let started = client.start_instance(template_id).await?;
        let finished = loop {
            tokio::time::sleep(poll).await;
            let instance = client.instance(&started.id).await?;
            if instance.is_finished() {
                break instance;
            }
        };
        if finished.status != "completed" {
            bail!("instance {} ended {}", finished.id, finished.status);
        }
        if let (Some(start), Some(end)) = (finished.started_at, finished.completed_at) {
            instance_ms.push(millis(end - start));
        }
        let executions = client.steps(&finished.id).await?;
        collect_step_times(&executions, &mut cycle_ms, &mut execution_ms);
    }
    let instance_summary = summarize(&instance_ms);
    Ok(LatencyReport {
        instances: runs,
        steps_per_instance: steps,
        per_step_ms: instance_summary.mean_ms / steps.max(1) as f64,
        instance_ms: instance_summary,
        step_cycle_ms: summarize(&cycle_ms),
        execution_ms: summarize(&execution_ms),
    })
}

/// The engine's own timestamps of each step execution.
fn collect_step_times(
    executions: &[StepExecution],
    cycle: &mut Vec<f64>,
    execution: &mut Vec<f64>,
) {
    for pair in executions.windows(2) {
        cycle.push(millis(pair[1].created_at - pair[0].created_at));
    }
    for step in executions.iter().filter(|e| e.status == "completed") {
        if let Some(completed) = step.completed_at {
            execution.push(millis(completed - step.created_at));
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_700_000_000_000 + ms).unwrap()
    }

    fn execution(status: &str, created: i64, completed: i64) -> StepExecution {
        StepExecution {
            status: status.into(),
            created_at: at(created),
            completed_at: Some(at(completed)),
        }
    }

    #[test]
    fn step_times_come_from_the_recorded_timestamps() {
        let executions = [
            execution("completed", 0, 3),
            execution("completed", 3, 5),
            execution("failed", 7, 20),
        ];
        let (mut cycle, mut execution_ms) = (Vec::new(), Vec::new());
        collect_step_times(&executions, &mut cycle, &mut execution_ms);
        assert_eq!(cycle, [3.0, 4.0]);
        assert_eq!(execution_ms, [3.0, 2.0]);
    }
}
