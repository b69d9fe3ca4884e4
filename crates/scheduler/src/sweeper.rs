//! The sweeper: fires due timers and hands out again the jobs whose lease ran out (a worker died,
//! or the queue forgot them). It sleeps until the next timer is due or `WORKFLOW_CHECK_INTERVAL`
//! has passed, whichever comes first, and is woken early when a sooner timer is written.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use engine::Input;

use crate::core::{Admission, Core, Request};

const TIMER_BATCH: u32 = 200;
const JOB_BATCH: u32 = 500;

pub(crate) async fn run(core: Arc<Core>, mut shutdown: watch::Receiver<bool>) {
    let mut known_queues = BTreeSet::from([model::DEFAULT_QUEUE.to_owned()]);
    let mut sampled_at: Option<std::time::Instant> = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        sweep(&core).await;
        // The gauges count whole tables: once per check interval, however often due timers
        // wake the sweeper.
        if sampled_at.is_none_or(|at| at.elapsed() >= core.settings.check_interval) {
            sample_queue_depths(&core, &mut known_queues).await;
            sample_instances_by_status(&core).await;
            sampled_at = Some(std::time::Instant::now());
        }
        let now = Utc::now();
        let interval = chrono::Duration::from_std(core.settings.check_interval)
            .unwrap_or(chrono::Duration::seconds(10));
        let mut wake = now + interval;
        match core.store.next_timer_due().await {
            Ok(Some(due)) if due < wake => wake = due,
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %error, "cannot read next timer"),
        }
        *core
            .sweeper_next_wake
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(wake);
        let pause = (wake - now).to_std().unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = core.sweeper_wake.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn sweep(core: &Arc<Core>) {
    loop {
        let now = Utc::now();
        let due = match core.store.due_timers(now, TIMER_BATCH).await {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(error = %error, "cannot read due timers");
                break;
            }
        };
        let full = due.len() as u32 == TIMER_BATCH;
        if due.is_empty() {
            break;
        }
        core.clone().fire_timers(due).await;
        if !full {
            break;
        }
    }

    // Slots freed without a decision noticing (a crash between commit and release).
    match core.store.slot_holders().await {
        Ok(holders) => {
            let cap = u64::from(core.settings.max_concurrent_workflows);
            let free = cap.saturating_sub(holders.total()).min(u64::from(u32::MAX)) as u32;
            if free > 0 {
                core.clone().release_slots(free).await;
            }
        }
        Err(error) => tracing::warn!(error = %error, "cannot count slot holders"),
    }

    let now = Utc::now();
    let lease = chrono::Duration::from_std(core.settings.job_lease)
        .unwrap_or(chrono::Duration::seconds(30));
    match core
        .store
        .claim_expired_jobs(now, now + lease, JOB_BATCH)
        .await
    {
        Ok(jobs) if !jobs.is_empty() => {
            tracing::info!(jobs = jobs.len(), "handing out jobs whose lease ran out");
            metrics::counter!("workflow_sweeper_rehandoffs_total").increment(jobs.len() as u64);
            core.hand_off(jobs, Vec::new()).await;
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(error = %error, "cannot claim expired jobs"),
    }
    fire_job_timeouts(core).await;
}

/// Sets `workflow_queue_depth{queue}` and `workflow_queue_oldest_job_age_seconds{queue}` for
/// `default`, every queue with a job in flight, and every queue seen before (so that a queue
/// that empties reads 0, not its last figures). Queue names are action names, as bounded as the
/// workers' custom actions.
async fn sample_queue_depths(core: &Arc<Core>, known_queues: &mut BTreeSet<String>) {
    match core.store.job_queues().await {
        Ok(queues) => known_queues.extend(queues),
        Err(error) => tracing::warn!(error = %error, "cannot list the queues in use"),
    }
    for queue in known_queues.iter() {
        match core.queue.stats(queue).await {
            Ok(stats) => {
                metrics::gauge!("workflow_queue_depth", "queue" => queue.clone())
                    .set(stats.depth as f64);
                metrics::gauge!("workflow_queue_oldest_job_age_seconds", "queue" => queue.clone())
                    .set(oldest_age_seconds(&stats, Utc::now()));
            }
            Err(error) => tracing::warn!(error = %error, queue, "cannot read the queue depth"),
        }
    }
}

/// Seconds since the oldest waiting job was enqueued; 0 when none waits, and never negative
/// (Redis stamps the enqueue time with its own clock, which may run ahead of this one).
fn oldest_age_seconds(stats: &bus::QueueStats, now: DateTime<Utc>) -> f64 {
    stats.oldest_waiting.map_or(0.0, |at| {
        (now - at).num_milliseconds().max(0) as f64 / 1000.0
    })
}

/// Sets `workflow_instances{status}` for every status, zero for those without an instance, so a
/// status that empties does not keep its last count.
async fn sample_instances_by_status(core: &Arc<Core>) {
    let counts = match core.store.instances_by_status().await {
        Ok(counts) => counts,
        Err(error) => {
            tracing::warn!(error = %error, "cannot count instances by status");
            return;
        }
    };
    for status in model::InstanceStatus::ALL {
        let count = counts
            .iter()
            .find(|(counted, _)| *counted == status)
            .map_or(0, |(_, count)| *count);
        metrics::gauge!("workflow_instances", "status" => status.as_str()).set(count as f64);
    }
}

/// Fires the timeout timers that ride on job rows (`Job::timeout_timer`), as `fire_timers` does
/// for timer rows. A claim that no decision answers comes back after a check interval.
async fn fire_job_timeouts(core: &Arc<Core>) {
    let now = Utc::now();
    let retry = chrono::Duration::from_std(core.settings.check_interval)
        .unwrap_or(chrono::Duration::seconds(10));
    let jobs = match core
        .store
        .claim_expired_deadlines(now, now + retry, JOB_BATCH)
        .await
    {
        Ok(jobs) => jobs,
        Err(error) => {
            tracing::warn!(error = %error, "cannot claim expired job deadlines");
            return;
        }
    };
    let requests: Vec<Request> = jobs
        .into_iter()
        .filter_map(|job| {
            let timer_id = job.timeout_timer?;
            Some(Request::internal(
                job.instance_id,
                Input::Timer { timer_id },
            ))
        })
        .collect();
    if requests.is_empty() {
        return;
    }
    // The instances hold their slots already (their jobs are in flight).
    for result in core.apply_with(requests, Admission::Unchecked).await {
        if let Err(error) = result {
            tracing::warn!(error = %error, "job timeout not recorded; it fires again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bus::QueueStats;

    #[test]
    fn the_oldest_job_age_is_zero_without_a_waiting_job_and_never_negative() {
        let now = Utc::now();
        let waiting = |at| QueueStats {
            depth: 1,
            oldest_waiting: Some(at),
        };
        assert_eq!(oldest_age_seconds(&QueueStats::default(), now), 0.0);
        assert_eq!(
            oldest_age_seconds(&waiting(now - chrono::Duration::milliseconds(2500)), now),
            2.5
        );
        assert_eq!(
            oldest_age_seconds(&waiting(now + chrono::Duration::seconds(1)), now),
            0.0
        );
    }
}
