//! [`JobQueue`] in memory, for the embedded single-process mode: the semantics of a Redis stream
//! read through one consumer group.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use model::Job;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::stream_id::{StreamId, now_millis};
use crate::{BusError, Delivery, JobQueue, QueueStats};

#[derive(Debug, Default)]
pub struct MemoryQueue {
    queues: Mutex<HashMap<String, QueueState>>,
}

#[derive(Debug, Default)]
struct QueueState {
    last: StreamId,
    /// Not delivered yet, oldest first; each id holds its enqueue time, as a Redis stream's.
    ready: VecDeque<(StreamId, Job)>,
    /// Delivered and not acknowledged.
    pending: BTreeMap<StreamId, Pending>,
    notify: Arc<Notify>,
}

#[derive(Debug)]
struct Pending {
    job: Job,
    delivered_at: Instant,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    fn notifier(&self, queue: &str) -> Arc<Notify> {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        queues.entry(queue.to_owned()).or_default().notify.clone()
    }

    fn take(&self, queue: &str, max: usize, claim_after: Duration) -> Vec<Delivery> {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let state = queues.entry(queue.to_owned()).or_default();
        let now = Instant::now();
        let mut out = Vec::new();
        for (id, pending) in state.pending.iter_mut() {
            if out.len() >= max {
                break;
            }
            if now.duration_since(pending.delivered_at) >= claim_after {
                pending.delivered_at = now;
                out.push(Delivery {
                    id: id.to_string(),
                    job: pending.job.clone(),
                });
            }
        }
        while out.len() < max {
            let Some((id, job)) = state.ready.pop_front() else {
                break;
            };
            out.push(Delivery {
                id: id.to_string(),
                job: job.clone(),
            });
            state.pending.insert(
                id,
                Pending {
                    job,
                    delivered_at: now,
                },
            );
        }
        out
    }
}

#[async_trait]
impl JobQueue for MemoryQueue {
    async fn publish(&self, jobs: &[Job]) -> Result<(), BusError> {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let millis = now_millis();
        for job in jobs {
            let state = queues.entry(job.queue.clone()).or_default();
            let id = StreamId::next(state.last, millis);
            state.last = id;
            state.ready.push_back((id, job.clone()));
            state.notify.notify_waiters();
        }
        Ok(())
    }

    async fn consume(
        &self,
        queue: &str,
        _consumer: &str,
        max: usize,
        block: Duration,
        claim_after: Duration,
    ) -> Result<Vec<Delivery>, BusError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let notify = self.notifier(queue);
        let deadline = Instant::now() + block;
        loop {
            // Registered before looking, so that a publish in between still wakes us.
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let taken = self.take(queue, max, claim_after);
            if !taken.is_empty() {
                return Ok(taken);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(Vec::new());
            }
        }
    }

    async fn extend(
        &self,
        queue: &str,
        _consumer: &str,
        delivery_ids: &[String],
    ) -> Result<(), BusError> {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let Some(state) = queues.get_mut(queue) else {
            return Ok(());
        };
        let now = Instant::now();
        for id in delivery_ids {
            if let Some(pending) = state.pending.get_mut(&StreamId::parse(id)?) {
                pending.delivered_at = now;
            }
        }
        Ok(())
    }

    async fn ack(&self, queue: &str, delivery_ids: &[String]) -> Result<(), BusError> {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let Some(state) = queues.get_mut(queue) else {
            return Ok(());
        };
        for id in delivery_ids {
            let id = StreamId::parse(id)?;
            if state.pending.remove(&id).is_none() {
                state.ready.retain(|(ready, _)| *ready != id);
            }
        }
        Ok(())
    }

    async fn stats(&self, queue: &str) -> Result<QueueStats, BusError> {
        let queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        Ok(queues
            .get(queue)
            .map_or_else(QueueStats::default, |state| QueueStats {
                depth: state.ready.len() as u64,
                oldest_waiting: state.ready.front().and_then(|(id, _)| id.time()),
            }))
    }

    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }
}
