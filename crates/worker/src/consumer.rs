//! One loop per queue: wait for a free slot, take as many jobs as there are free slots, run
//! each on its own task.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::execute::{self, JobContext};

/// How long one `consume` call blocks; also how long a stop may wait for it.
const BLOCK: Duration = Duration::from_secs(5);
const QUEUE_ERROR_PAUSE: Duration = Duration::from_secs(1);

pub(crate) struct QueueLoop {
    pub context: Arc<JobContext>,
    pub queue: String,
    pub consumer: String,
    pub slots: Arc<Semaphore>,
    /// How long running jobs may take to finish once a stop is asked.
    pub grace: Duration,
}

impl QueueLoop {
    pub(crate) async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut running = JoinSet::new();
        loop {
            if *stop.borrow() {
                break;
            }
            // Wait for one free slot, then ask for as many jobs as there are free slots. The
            // slot is given back at once: holding it across a blocking read would starve the
            // other queues' loops.
            let free = tokio::select! {
                permit = self.slots.clone().acquire_owned() => {
                    let Ok(permit) = permit else { break };
                    let free = self.slots.available_permits() + 1;
                    drop(permit);
                    free
                }
                _ = stop.changed() => break,
            };
            // Not cancelled by a stop: a read abandoned midway could leave jobs delivered to this
            // consumer that nobody runs until their lease runs out.
            let deliveries = match self
                .context
                .queue
                .consume(
                    &self.queue,
                    &self.consumer,
                    free,
                    BLOCK,
                    self.context.claim_after,
                )
                .await
            {
                Ok(deliveries) => deliveries,
                Err(error) => {
                    tracing::warn!(queue = %self.queue, error = %error, "reading the queue failed");
                    tokio::select! {
                        () = tokio::time::sleep(QUEUE_ERROR_PAUSE) => {}
                        _ = stop.changed() => {}
                    }
                    continue;
                }
            };
            for delivery in deliveries {
                if !self.context.start(&delivery.id) {
                    tracing::debug!(delivery_id = %delivery.id, "job handed back while still running here");
                    continue;
                }
                let Ok(permit) = self.slots.clone().acquire_owned().await else {
                    break;
                };
                let context = self.context.clone();
                let queue = self.queue.clone();
                running.spawn(execute::handle(context, queue, delivery, permit));
            }
            while let Some(finished) = running.try_join_next() {
                log_panic(finished);
            }
        }
        self.drain(running).await;
    }

    async fn drain(&self, mut running: JoinSet<()>) {
        if running.is_empty() {
            return;
        }
        tracing::info!(queue = %self.queue, jobs = running.len(), "waiting for running jobs");
        let all_done = async {
            while let Some(finished) = running.join_next().await {
                log_panic(finished);
            }
        };
        if tokio::time::timeout(self.grace, all_done).await.is_ok() {
            return;
        }
        // Not acknowledged, so another worker takes these jobs once their lease runs out.
        tracing::warn!(queue = %self.queue, jobs = running.len(), "abandoning jobs still running at shutdown");
        running.shutdown().await;
    }
}

fn log_panic(finished: Result<(), tokio::task::JoinError>) {
    if let Err(error) = finished
        && error.is_panic()
    {
        tracing::error!(error = %error, "a job task panicked");
    }
}
