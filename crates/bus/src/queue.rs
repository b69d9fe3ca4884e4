use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::Stream;
use model::{Job, WorkflowEvent};

use crate::BusError;

/// One job as delivered to a consumer; `id` acknowledges it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub job: Job,
}

/// A queue's backlog: jobs enqueued and not yet delivered to a worker (delivered ones waiting
/// for their acknowledgement do not count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    pub depth: u64,
    /// When the oldest waiting job was enqueued, by the queue's clock (Redis's, for Redis);
    /// `None` when none waits.
    pub oldest_waiting: Option<DateTime<Utc>>,
}

/// The hand-off to workers: one stream per queue, read through a consumer group so that each job
/// goes to one worker, and stays pending until acknowledged. May lose jobs (Redis keeps nothing
/// on disk here): the database's job rows are the truth, and the scheduler re-publishes those
/// whose lease ran out.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Appends jobs to their queues (one round trip for the batch).
    async fn publish(&self, jobs: &[Job]) -> Result<(), BusError>;
    /// Blocks up to `block` for at most `max` jobs from `queue`. Also takes over jobs another
    /// consumer has held longer than `claim_after` without acknowledging them.
    async fn consume(
        &self,
        queue: &str,
        consumer: &str,
        max: usize,
        block: Duration,
        claim_after: Duration,
    ) -> Result<Vec<Delivery>, BusError>;
    async fn ack(&self, queue: &str, delivery_ids: &[String]) -> Result<(), BusError>;
    /// Renews the queue's lease on deliveries this consumer is still working on (a long job's
    /// heartbeat), so that no other consumer takes them over after `claim_after`.
    async fn extend(
        &self,
        queue: &str,
        consumer: &str,
        delivery_ids: &[String],
    ) -> Result<(), BusError>;
    /// What waits in a queue, not yet delivered, for metrics and autoscaling.
    async fn stats(&self, queue: &str) -> Result<QueueStats, BusError>;
    /// Jobs waiting in a queue and not yet delivered.
    async fn depth(&self, queue: &str) -> Result<u64, BusError> {
        Ok(self.stats(queue).await?.depth)
    }
    async fn ping(&self) -> Result<(), BusError>;
}

/// An event with its position in the stream (the SSE `id`, `Last-Event-ID`).
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub id: String,
    pub event: WorkflowEvent,
}

pub type EventStream = Pin<Box<dyn Stream<Item = Result<StoredEvent, BusError>> + Send>>;

/// Events for watchers: a bounded stream for replay and a live feed.
#[async_trait]
pub trait EventBus: Send + Sync {
    async fn publish(&self, events: &[WorkflowEvent]) -> Result<(), BusError>;
    /// Every event after `after` still in the stream (or from now on, with `None`), then live
    /// ones as they come.
    async fn subscribe(&self, after: Option<String>) -> Result<EventStream, BusError>;
    async fn ping(&self) -> Result<(), BusError>;
}
