//! Throughput: `instances` instances, at most `concurrency` in flight, finished instances found
//! by listing the running ones every poll interval (one cheap list call, however many are in
//! flight) and fetching only those that left the list.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::bail;
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use crate::client::{Client, Instance};
use crate::stats::{Summary, millis, summarize};

/// Instances created at once when a run starts or slots free up.
const LAUNCH_PARALLELISM: usize = 32;

pub struct LoadPlan {
    pub steps: usize,
    pub instances: usize,
    pub concurrency: usize,
    pub poll: Duration,
    pub timeout: Duration,
}

#[derive(Debug, Serialize)]
pub struct LoadReport {
    pub instances: usize,
    pub concurrency: usize,
    pub completed: usize,
    pub failed: usize,
    pub steps: usize,
    /// From the first request to the poll that saw the last instance finish.
    pub wall_seconds: f64,
    pub wall_steps_per_second: f64,
    /// From the first `started_at` to the last `completed_at`, as the engine recorded them:
    /// free of the poll interval.
    pub engine_seconds: f64,
    pub steps_per_second: f64,
    /// Instance `completed_at - started_at` under this load.
    pub instance_ms: Summary,
    /// Instance duration / steps under this load.
    pub per_step_latency_ms: f64,
    pub client_requests: u64,
    /// CPU time of this whole process (gateway, scheduler, worker and the benchmark's client)
    /// per completed step; `None` where `/proc/self/stat` is not there.
    pub process_cpu_ms_per_step: Option<f64>,
}

pub async fn run(
    client: &Client,
    template_id: &str,
    plan: &LoadPlan,
) -> anyhow::Result<LoadReport> {
    let requests_before = client.requests.load(std::sync::atomic::Ordering::Relaxed);
    let cpu_before = process_cpu_ms();
    let began = Instant::now();
    let mut to_launch = plan.instances;
    let mut in_flight: HashSet<String> = HashSet::new();
    let mut finished: Vec<Instance> = Vec::new();
    loop {
        let launch = plan
            .concurrency
            .saturating_sub(in_flight.len())
            .min(to_launch);
        if launch > 0 {
            let started: Vec<Instance> = stream::iter(0..launch)
                .map(|_| client.start_instance(template_id))
                .buffer_unordered(LAUNCH_PARALLELISM)
                .try_collect()
                .await?;
            to_launch -= launch;
            in_flight.extend(started.into_iter().map(|instance| instance.id));
        }
        if in_flight.is_empty() && to_launch == 0 {
            break;
        }
        if began.elapsed() > plan.timeout {
            bail!(
                "{} instances still unfinished after {:?}",
                in_flight.len() + to_launch,
                plan.timeout
            );
        }
        tokio::time::sleep(plan.poll).await;
        let running: HashSet<String> = client
            .instances_in(template_id, "running")
            .await?
            .into_iter()
            .map(|instance| instance.id)
            .collect();
        let left: Vec<String> = in_flight.difference(&running).cloned().collect();
        for id in left {
            // Gone from the running list: finished, or (rarely) pending or paused.
            let instance = client.instance(&id).await?;
            if instance.is_finished() {
                in_flight.remove(&id);
                finished.push(instance);
            }
        }
    }
    let wall = began.elapsed().as_secs_f64();
    let requests = client.requests.load(std::sync::atomic::Ordering::Relaxed) - requests_before;
    let mut report = summarize_run(plan, &finished, wall, requests);
    if let (Some(before), Some(after)) = (cpu_before, process_cpu_ms()) {
        report.process_cpu_ms_per_step = Some((after - before) / report.steps.max(1) as f64);
    }
    Ok(report)
}

fn summarize_run(
    plan: &LoadPlan,
    finished: &[Instance],
    wall_seconds: f64,
    client_requests: u64,
) -> LoadReport {
    let completed: Vec<&Instance> = finished
        .iter()
        .filter(|i| i.status == "completed")
        .collect();
    let steps = completed.len() * plan.steps;
    let first_start: Option<DateTime<Utc>> = completed.iter().filter_map(|i| i.started_at).min();
    let last_end: Option<DateTime<Utc>> = completed.iter().filter_map(|i| i.completed_at).max();
    let engine_seconds = match (first_start, last_end) {
        (Some(start), Some(end)) => millis(end - start) / 1000.0,
        _ => 0.0,
    };
    let durations: Vec<f64> = completed
        .iter()
        .filter_map(|i| Some(millis(i.completed_at? - i.started_at?)))
        .collect();
    let instance_ms = summarize(&durations);
    let rate = |seconds: f64| {
        if seconds > 0.0 {
            steps as f64 / seconds
        } else {
            0.0
        }
    };
    LoadReport {
        instances: plan.instances,
        concurrency: plan.concurrency,
        completed: completed.len(),
        failed: finished.len() - completed.len(),
        steps,
        wall_seconds,
        wall_steps_per_second: rate(wall_seconds),
        engine_seconds,
        steps_per_second: rate(engine_seconds),
        per_step_latency_ms: instance_ms.mean_ms / plan.steps.max(1) as f64,
        instance_ms,
        client_requests,
        process_cpu_ms_per_step: None,
    }
}

/// User and system CPU time of this process so far, from `/proc/self/stat` (in clock ticks of
/// 10 ms, the Linux default).
fn process_cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    cpu_ms_of_stat(&stat)
}

fn cpu_ms_of_stat(stat: &str) -> Option<f64> {
    // The command name may hold spaces; the fields after its closing parenthesis do not.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(status: &str, start_ms: i64, end_ms: i64) -> Instance {
        let at = |ms| DateTime::from_timestamp_millis(1_700_000_000_000 + ms);
        Instance {
            id: format!("{start_ms}"),
            status: status.into(),
            started_at: at(start_ms),
            completed_at: at(end_ms),
        }
    }

    #[test]
    fn cpu_time_is_read_after_the_command_name() {
        let stat = "4242 (bench (x)) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0 4";
        assert_eq!(cpu_ms_of_stat(stat), Some(1750.0));
        assert_eq!(cpu_ms_of_stat("garbage"), None);
    }

    #[test]
    fn throughput_counts_completed_steps_over_the_engine_span() {
        let plan = LoadPlan {
            steps: 10,
            instances: 3,
            concurrency: 3,
            poll: Duration::from_millis(50),
            timeout: Duration::from_secs(1),
        };
        let finished = [
            instance("completed", 0, 400),
            instance("completed", 100, 500),
            instance("failed", 0, 2000),
        ];
        let report = summarize_run(&plan, &finished, 1.0, 7);
        assert_eq!((report.completed, report.failed, report.steps), (2, 1, 20));
        assert_eq!(report.engine_seconds, 0.5);
        assert_eq!(report.steps_per_second, 40.0);
        assert_eq!(report.wall_steps_per_second, 20.0);
        assert_eq!(report.per_step_latency_ms, 40.0);
    }
}
