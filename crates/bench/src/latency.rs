//! S1, latency: a chain of `noop` steps, one instance at a time on an otherwise idle engine,
//! after a warm-up. Per step = (start call -> completion seen by the client) / steps; the median
//! of the runs is the figure, as the peers' benchmarks compute it. The tail comes from the
//! engine's own step timestamps: each step execution's `created_at` to the next one's (the full
//! cycle of one step), over every step of every run, so it has enough samples for a p99.

use std::time::{Duration, Instant};

use anyhow::bail;
use serde::Serialize;

use crate::client::{Client, StepExecution};
use crate::stats::{Summary, median, millis, summarize};
use crate::watch::Watch;

#[derive(Debug, Serialize)]
pub struct S1Report {
    pub steps: usize,
    pub warmup_runs: usize,
    /// Each run's (start call -> completion event) / steps, client clock.
    pub runs_ms_per_step: Vec<f64>,
    pub median_ms_per_step: f64,
    /// One step's `created_at` to the next step's, engine clock, every run.
    pub step_cycle_ms: Summary,
    /// Runs whose completion the stream missed and a GET found.
    pub polled: usize,
}

pub struct S1Plan {
    pub steps: usize,
    pub warmup_runs: usize,
    pub runs: usize,
    pub timeout: Duration,
}

pub async fn run(
    client: &Client,
    watch: &Watch,
    template_id: &str,
    plan: &S1Plan,
) -> anyhow::Result<S1Report> {
    for _ in 0..plan.warmup_runs {
        one(client, watch, template_id, plan).await?;
    }
    let mut per_step = Vec::with_capacity(plan.runs);
    let mut cycles = Vec::new();
    let mut polled = 0;
    for _ in 0..plan.runs {
        let (ms, id, was_polled) = one(client, watch, template_id, plan).await?;
        per_step.push(ms / plan.steps as f64);
        polled += usize::from(was_polled);
        collect_cycles(&client.steps(&id).await?, &mut cycles);
    }
    Ok(S1Report {
        steps: plan.steps,
        warmup_runs: plan.warmup_runs,
        median_ms_per_step: median(&per_step),
        runs_ms_per_step: per_step,
        step_cycle_ms: summarize(&cycles),
        polled,
    })
}

/// One lone instance: its client-seen duration in ms, its id, whether it was found by asking.
async fn one(
    client: &Client,
    watch: &Watch,
    template_id: &str,
    plan: &S1Plan,
) -> anyhow::Result<(f64, String, bool)> {
    let began = Instant::now();
    let started = client.start_instance(template_id).await?;
    let ids = [started.id];
    let outcome = watch.wait_for(client, &ids, plan.timeout).await?;
    if outcome.failed > 0 {
        bail!("the S1 instance {} did not complete", ids[0]);
    }
    let ms = outcome.last_seen.duration_since(began).as_secs_f64() * 1000.0;
    let [id] = ids;
    Ok((ms, id, outcome.polled > 0))
}

fn collect_cycles(executions: &[StepExecution], cycles: &mut Vec<f64>) {
    for pair in executions.windows(2) {
        cycles.push(millis(pair[1].created_at - pair[0].created_at));
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_700_000_000_000 + ms).unwrap()
    }

    #[test]
    fn cycles_come_from_the_recorded_timestamps() {
        let execution = |created| StepExecution {
            created_at: at(created),
        };
        let mut cycles = Vec::new();
        collect_cycles(&[execution(0), execution(3), execution(7)], &mut cycles);
        assert_eq!(cycles, [3.0, 4.0]);
    }
}
