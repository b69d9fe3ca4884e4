use std::future::Future;
use std::sync::Arc;

use bus::JobQueue;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::actions::Actions;
use crate::consumer::QueueLoop;
use crate::execute::JobContext;
use crate::scheduler::SchedulerClient;
use crate::{WorkerError, WorkerSettings};

/// A running worker: one consumer loop per queue sharing `concurrency` slots.
pub struct Worker {
    settings: WorkerSettings,
    context: Arc<JobContext>,
}

impl Worker {
    /// Checks the settings, opens the scheduler channel (lazily) and builds the executors.
    pub async fn build(
        settings: WorkerSettings,
        queue: Arc<dyn JobQueue>,
    ) -> Result<Self, WorkerError> {
        if settings.queues.is_empty() {
            return Err(WorkerError::Config {
                name: "WORKER_QUEUES",
                message: "names no queue".to_owned(),
            });
        }
        if settings.concurrency == 0 {
            return Err(WorkerError::Config {
                name: "WORKER_CONCURRENCY",
                message: "must be a positive integer".to_owned(),
            });
        }
        queue.ping().await?;
        let context = JobContext {
            actions: Actions::build(&settings)?,
            scheduler: SchedulerClient::connect(&settings)?,
            queue,
            claim_after: settings.claim_after,
            consumer: settings.consumer_name.clone(),
            reporting: Arc::new(tokio::sync::Semaphore::new(
                settings.concurrency.saturating_mul(8),
            )),
            in_flight: Default::default(),
            slots: Arc::new(Semaphore::new(settings.concurrency)),
            stopping: Default::default(),
        };
        Ok(Self {
            settings,
            context: Arc::new(context),
        })
    }

    /// Serves the queues until `shutdown` completes, then takes no new job and lets the running
    /// ones finish and report. Jobs still running after the lease (`claim_after`), past which
    /// another worker would take them anyway, are abandoned unacknowledged.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), WorkerError> {
        let (stop, stopped) = watch::channel(false);
        let slots = self.context.slots.clone();
        let mut loops = JoinSet::new();
        for queue in &self.settings.queues {
            let queue_loop = QueueLoop {
                context: self.context.clone(),
                queue: queue.clone(),
                consumer: self.settings.consumer_name.clone(),
                slots: slots.clone(),
                grace: self.settings.claim_after,
            };
            loops.spawn(queue_loop.run(stopped.clone()));
        }
        tracing::info!(
            queues = ?self.settings.queues,
            concurrency = self.settings.concurrency,
            consumer = %self.settings.consumer_name,
            "worker started"
        );
        let mut failure = None;
        tokio::select! {
            () = shutdown => tracing::info!("worker stopping"),
            Some(ended) = loops.join_next() => {
                // A loop only ends on a stop, so this one panicked.
                failure = ended.err();
            }
        }
        self.context
            .stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = stop.send(true);
        while let Some(ended) = loops.join_next().await {
            if let Err(error) = ended {
                failure.get_or_insert(error);
            }
        }
        tracing::info!("worker stopped");
        match failure {
            Some(error) => Err(WorkerError::Task(error)),
            None => Ok(()),
        }
    }
}
