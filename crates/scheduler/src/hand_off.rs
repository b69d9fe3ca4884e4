//! After commit, jobs go to their queues and events to watchers, off the path that answers the
//! caller: a committed decision answers as soon as it is durable, and one task publishes what
//! the commit loops committed, in the order they committed it, merging whatever has piled up
//! into one queue write and one event write. Nothing is lost if this process dies first: job
//! rows are in the database with a lease and the sweeper hands them out again; events are a
//! live view (the instance and its step executions are the record).
//!
//! Order holds per instance: an instance's next decision needs its previous one's answer (a
//! worker reports the job it was handed; an API call answers after commit), and that answer
//! is sent only after the batch is on this channel, so the one task sees the batches of an
//! instance in decision order.

use std::sync::Arc;

use bus::{EventBus, JobQueue};
use model::{Job, WorkflowEvent};
use tokio::sync::{mpsc, oneshot};

/// Batches waiting to be published before the commit loops wait for room: room for a burst,
/// and back-pressure when Redis is slower than the database.
const PENDING_BATCHES: usize = 1024;
/// Most jobs (or events) one write carries.
const MAX_PUBLISH: usize = 2048;

enum Message {
    Publish {
        jobs: Vec<Job>,
        events: Vec<WorkflowEvent>,
    },
    /// Answered once everything sent before it is published.
    Flush(oneshot::Sender<()>),
}

/// The sending side; the task ends when the last one is dropped, after publishing the rest.
pub(crate) struct HandOff {
    sender: mpsc::Sender<Message>,
}

impl HandOff {
    pub(crate) fn start(queue: Arc<dyn JobQueue>, events: Arc<dyn EventBus>) -> Self {
        let (sender, receiver) = mpsc::channel(PENDING_BATCHES);
        tokio::spawn(publish_loop(queue, events, receiver));
        Self { sender }
    }

    /// Queues jobs (already stamped with their lease tokens) and events for publishing.
    pub(crate) async fn send(&self, jobs: Vec<Job>, events: Vec<WorkflowEvent>) {
        if jobs.is_empty() && events.is_empty() {
            return;
        }
        // Closed only when the task is gone, at shutdown: the sweeper recovers the jobs.
        let _ = self.sender.send(Message::Publish { jobs, events }).await;
    }

    /// Waits until everything sent so far is published (at shutdown, so that the last
    /// decisions' jobs reach their queue before the process exits).
    pub(crate) async fn flush(&self) {
        let (done, published) = oneshot::channel();
        if self.sender.send(Message::Flush(done)).await.is_ok() {
            let _ = published.await;
        }
    }
}

async fn publish_loop(
    queue: Arc<dyn JobQueue>,
    bus: Arc<dyn EventBus>,
    mut receiver: mpsc::Receiver<Message>,
) {
    while let Some(first) = receiver.recv().await {
        let mut jobs = Vec::new();
        let mut events = Vec::new();
        let mut flushed = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Publish {
                    jobs: more_jobs,
                    events: more_events,
                } => {
                    jobs.extend(more_jobs);
                    events.extend(more_events);
                }
                Message::Flush(done) => flushed.push(done),
            }
            if jobs.len() < MAX_PUBLISH && events.len() < MAX_PUBLISH {
                next = receiver.try_recv().ok();
            }
        }
        publish(queue.as_ref(), bus.as_ref(), &jobs, &events).await;
        for done in flushed {
            let _ = done.send(());
        }
    }
}

/// A failure loses nothing durable: the job rows are in the database and the sweeper hands
/// them out again when their lease runs out.
async fn publish(queue: &dyn JobQueue, bus: &dyn EventBus, jobs: &[Job], events: &[WorkflowEvent]) {
    if !jobs.is_empty()
        && let Err(error) = queue.publish(jobs).await
    {
        tracing::warn!(error = %error, jobs = jobs.len(), "job hand-off failed; the sweeper will retry");
    }
    if !events.is_empty()
        && let Err(error) = bus.publish(events).await
    {
        tracing::warn!(error = %error, events = events.len(), "event publish failed");
    }
}

#[cfg(test)]
mod tests {
    use bus::{MemoryEventBus, MemoryQueue};
    use futures::StreamExt;
    use model::EventType;
    use uuid::Uuid;

    use super::*;

    fn event(instance_id: Uuid, status: &str) -> WorkflowEvent {
        WorkflowEvent {
            event_type: EventType::StepStarted,
            tenant: "default".to_owned(),
            instance_id,
            step_id: None,
            status: status.to_owned(),
            at: chrono::Utc::now(),
            data: serde_json::json!({}),
        }
    }

    #[tokio::test]
    async fn batches_are_published_in_the_order_they_were_sent() {
        let bus = Arc::new(MemoryEventBus::new());
        let mut watched = bus.subscribe(None).await.expect("subscribes");
        let hand_off = HandOff::start(Arc::new(MemoryQueue::new()), bus.clone());
        let instance = Uuid::now_v7();
        for status in ["first", "second", "third"] {
            hand_off
                .send(Vec::new(), vec![event(instance, status)])
                .await;
        }
        hand_off.flush().await;

        let mut seen = Vec::new();
        for _ in 0..3 {
            let stored = tokio::time::timeout(std::time::Duration::from_secs(5), watched.next())
                .await
                .expect("published by the time flush returned")
                .expect("stream open")
                .expect("an event");
            seen.push(stored.event.status);
        }
        assert_eq!(seen, ["first", "second", "third"]);
    }
}
