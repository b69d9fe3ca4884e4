//! One job from delivery to acknowledgement: run the action under its deadline, heartbeat it if
//! it runs long, report the result, and only then acknowledge.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bus::{Delivery, JobQueue};
use chrono::Utc;
use model::{Job, StepError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use crate::actions::{ActionResult, Actions};
use crate::metrics::{Outcome, record_attempt, record_step};
use crate::scheduler::{Report, Reported, SchedulerClient};

/// Jobs that finish sooner send no heartbeat: `started_at` in the result is enough, and most
/// steps save a round trip.
const FIRST_HEARTBEAT: Duration = Duration::from_millis(250);
const ACK_TRIES: u32 = 3;

/// What every job task shares.
pub(crate) struct JobContext {
    pub actions: Actions,
    pub scheduler: SchedulerClient,
    pub queue: Arc<dyn JobQueue>,
    pub claim_after: Duration,
    /// This worker's consumer name in the queue's group.
    pub consumer: String,
    /// Results on their way to the scheduler. A job gives its run slot back once its action is
    /// done, so a slow commit never idles the worker; this bounds the results held meanwhile.
    pub reporting: Arc<tokio::sync::Semaphore>,
    /// Deliveries running here. The queue hands a job whose lease ran out to any consumer,
    /// this one included (a heartbeat that failed to renew it); a job this worker is still
    /// running is not started a second time beside itself.
    pub in_flight: Mutex<HashSet<String>>,
    /// Jobs running at once, over all queues (`WORKER_CONCURRENCY`).
    pub slots: Arc<Semaphore>,
    /// Set once a stop is asked: no job is taken in an answer any more.
    pub stopping: AtomicBool,
}

/// Delivery ids of jobs handed over in the scheduler's answer: no queue entry to acknowledge.
const EAGER_PREFIX: &str = "eager:";

impl JobContext {
    /// Claims the delivery for this worker; false when it is already running here.
    pub(crate) fn start(&self, delivery_id: &str) -> bool {
        self.lock_in_flight().insert(delivery_id.to_owned())
    }

    fn finish(&self, delivery_id: &str) {
        self.lock_in_flight().remove(delivery_id);
    }

    fn lock_in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs the delivery, then each next job the scheduler hands over in its answer (eager
/// dispatch), one after another on this task, each in a run slot of its own.
pub(crate) async fn handle(
    context: Arc<JobContext>,
    queue_name: String,
    delivery: Delivery,
    slot: OwnedSemaphorePermit,
) {
    let mut next = Some((delivery, slot));
    while let Some((delivery, slot)) = next.take() {
        let Some(job) = handle_one(&context, &queue_name, delivery, slot).await else {
            return;
        };
        // The slot given back at the end of the action may be taken by now; the job's lease
        // holds it for this worker while it waits for another.
        let Ok(slot) = context.slots.clone().acquire_owned().await else {
            return;
        };
        let delivery = Delivery {
            id: format!("{EAGER_PREFIX}{}:{}", job.execution_id, job.attempt),
            job,
        };
        if !context.start(&delivery.id) {
            return;
        }
        next = Some((delivery, slot));
    }
}

/// One job: run, report, acknowledge. Answers the next job the scheduler handed over.
async fn handle_one(
    context: &Arc<JobContext>,
    queue_name: &str,
    delivery: Delivery,
    slot: OwnedSemaphorePermit,
) -> Option<Job> {
    let job = &delivery.job;
    let span = tracing::info_span!(
        "job",
        instance_id = %job.instance_id,
        execution_id = %job.execution_id,
        step_id = %job.step_id,
        attempt = job.attempt,
        branch = job.branch,
        action = %job.action,
        queue = %queue_name,
        otel.kind = "consumer",
        outcome = tracing::field::Empty,
    );
    // The decision that made the job is this span's parent: one trace per instance.
    proto::trace::follow(&span, job.traceparent.as_deref());
    async {
        let started_at = Utc::now();
        let clock = Instant::now();
        let finished = run(context, queue_name, &delivery).await;
        let reporting = context.reporting.clone().acquire_owned().await;
        drop(slot);
        let outcome = match &finished {
            None => Outcome::Cancelled,
            Some(Ok(_)) => Outcome::Completed,
            Some(Err(error)) if error.kind == "timeout" => Outcome::Timeout,
            Some(Err(_)) => Outcome::Failed,
        };
        record_step(&job.action, outcome, clock.elapsed());
        record_attempt(&job.action, job.attempt);
        tracing::Span::current().record("outcome", outcome.as_str());
        let mut handed_over = None;
        match finished {
            None => tracing::info!("cancelled by the scheduler; not reporting"),
            Some(result) => {
                if let Err(error) = &result {
                    tracing::info!(error_type = %error.kind, retryable = error.retryable, error = %error.message, "step failed");
                }
                let accept_next_from =
                    (!context.stopping.load(Ordering::Relaxed)).then(|| job.queue.clone());
                let report = Report {
                    result,
                    started_at,
                    accept_next_from,
                };
                match context.scheduler.report(job, report).await {
                    Reported::Accepted(next) => handed_over = next.map(|job| *job),
                    Reported::Ignored => {
                        tracing::debug!("result ignored: the attempt is no longer current");
                    }
                    Reported::Refused => {}
                }
            }
        }
        if !delivery.id.starts_with(EAGER_PREFIX) {
            ack(context, queue_name, &delivery.id).await;
        }
        context.finish(&delivery.id);
        drop(reporting);
        handed_over
    }
    .instrument(span)
    .await
}

/// Runs the action; `None` when the scheduler cancelled it (nothing to report).
async fn run(context: &JobContext, queue_name: &str, delivery: &Delivery) -> Option<ActionResult> {
    let job = &delivery.job;
    let remaining = (job.deadline - Utc::now())
        .to_std()
        .unwrap_or(Duration::ZERO);
    let interval = (context.claim_after / 3).max(Duration::from_millis(50));
    tokio::select! {
        biased;
        () = tokio::time::sleep(remaining) => Some(Err(StepError::new(
            "timeout",
            format!("step ran past its deadline {}", job.deadline.to_rfc3339()),
            true,
        ))),
        result = context.actions.run(job) => Some(result),
        () = heartbeats(context, queue_name, delivery, interval) => None,
    }
}

/// Heartbeats until the scheduler says the attempt is over; never returns otherwise.
/// Each heartbeat also renews the queue's lease, so no other worker takes the job over.
async fn heartbeats(
    context: &JobContext,
    queue_name: &str,
    delivery: &Delivery,
    interval: Duration,
) {
    tokio::time::sleep(FIRST_HEARTBEAT).await;
    let ids = [delivery.id.clone()];
    loop {
        match context.scheduler.heartbeat(&delivery.job).await {
            Ok(true) => return,
            Ok(false) => {
                if let Err(error) = context
                    .queue
                    .extend(queue_name, &context.consumer, &ids)
                    .await
                {
                    tracing::warn!(error = %error, "renewing the queue lease failed");
                }
            }
            // The lease is only extended, not needed, for the result to count: keep working.
            Err(status) => {
                tracing::warn!(code = ?status.code(), error = %status.message(), "heartbeat failed")
            }
        }
        tokio::time::sleep(interval).await;
    }
}

/// A failed ack means the job comes back after the lease; the scheduler ignores a second result
/// for the same attempt, so a few tries are enough.
async fn ack(context: &JobContext, queue_name: &str, delivery_id: &str) {
    let ids = [delivery_id.to_owned()];
    for attempt in 1..=ACK_TRIES {
        match context.queue.ack(queue_name, &ids).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(attempt, error = %error, "acknowledging the job failed");
                if attempt < ACK_TRIES {
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
            }
        }
    }
}
