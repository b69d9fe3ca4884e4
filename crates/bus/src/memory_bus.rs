//! [`EventBus`] in memory: a bounded log for replay and a broadcast channel for the live feed.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use model::WorkflowEvent;
use tokio::sync::broadcast;

use crate::stream_id::{StreamId, now_millis};
use crate::subscription::{self, Replay};
use crate::{BusError, EventBus, EventStream, StoredEvent};

/// Events kept for replay at most, as Redis keeps about as many with `MAXLEN ~`.
const DEFAULT_CAPACITY: usize = 100_000;
/// Bytes of event text kept for replay at most. Redis keeps its stream in its own memory; this
/// log is in the engine's, and 100 000 parsed events took 85 MiB there (the embedded process
/// grew by about 1 KB per waiting instance). As JSON text an event is about 300 bytes, so
/// this keeps the last 10 000-15 000 events, enough to resume a watch after a reconnect.
const DEFAULT_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug)]
pub struct MemoryEventBus {
    log: Arc<Log>,
    live: broadcast::Sender<StoredEvent>,
}

#[derive(Debug)]
struct Log {
    capacity: usize,
    max_bytes: usize,
    state: Mutex<LogState>,
}

/// The events as the JSON text Redis would hold, parsed again only when replayed.
#[derive(Debug, Default)]
struct LogState {
    last: StreamId,
    events: VecDeque<(StreamId, Box<str>)>,
    bytes: usize,
}

impl Default for MemoryEventBus {
    fn default() -> Self {
        Self::with_limits(DEFAULT_CAPACITY, DEFAULT_BYTES)
    }
}

impl MemoryEventBus {
    pub fn new() -> Self {
        Self::default()
    }

    /// A bus whose replay log keeps at most `capacity` events and `max_bytes` of their text,
    /// dropping the oldest first (the newest event is always kept).
    pub fn with_limits(capacity: usize, max_bytes: usize) -> Self {
        let (live, _) = broadcast::channel(4096);
        Self {
            log: Arc::new(Log {
                capacity: capacity.max(1),
                max_bytes,
                state: Mutex::new(LogState::default()),
            }),
            live,
        }
    }
}

impl LogState {
    fn push(&mut self, id: StreamId, text: Box<str>, log: &Log) {
        self.bytes += text.len();
        self.events.push_back((id, text));
        while self.events.len() > log.capacity
            || (self.bytes > log.max_bytes && self.events.len() > 1)
        {
            let Some((_, dropped)) = self.events.pop_front() else {
                break;
            };
            self.bytes -= dropped.len();
        }
    }
}

#[async_trait]
impl Replay for Log {
    async fn after(
        &self,
        after: StreamId,
        limit: usize,
    ) -> Result<(Vec<StoredEvent>, bool), BusError> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let start = state.events.partition_point(|(id, _)| *id <= after);
        let page = state
            .events
            .iter()
            .skip(start)
            .take(limit)
            .map(|(id, text)| {
                let event = serde_json::from_str(text)
                    .map_err(|error| BusError::Corrupt(format!("event {id}: {error}")))?;
                Ok(StoredEvent {
                    id: id.to_string(),
                    event,
                })
            })
            .collect::<Result<Vec<_>, BusError>>()?;
        let more = page.len() >= limit;
        Ok((page, more))
    }
}

#[async_trait]
impl EventBus for MemoryEventBus {
    async fn publish(&self, events: &[WorkflowEvent]) -> Result<(), BusError> {
        let mut state = self.log.state.lock().unwrap_or_else(|e| e.into_inner());
        let millis = now_millis();
        for event in events {
            let id = StreamId::next(state.last, millis);
            state.last = id;
            let text = serde_json::to_string(event)
                .map_err(|error| BusError::Corrupt(format!("event: {error}")))?;
            state.push(id, text.into_boxed_str(), &self.log);
            let stored = StoredEvent {
                id: id.to_string(),
                event: event.clone(),
            };
            // Sent under the lock so that the feed's order is the log's.
            let _ = self.live.send(stored);
        }
        Ok(())
    }

    async fn subscribe(&self, after: Option<String>) -> Result<EventStream, BusError> {
        let after = after.as_deref().map(StreamId::parse).transpose()?;
        let state = self.log.state.lock().unwrap_or_else(|e| e.into_inner());
        let live = self.live.subscribe();
        let start = after.unwrap_or(state.last);
        drop(state);
        Ok(subscription::subscribe(self.log.clone(), live, start))
    }

    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use model::EventType;

    fn event(n: u32) -> WorkflowEvent {
        WorkflowEvent {
            event_type: EventType::StepCompleted,
            tenant: "t1".to_owned(),
            instance_id: uuid::Uuid::nil(),
            step_id: Some(format!("step_{n}")),
            status: "completed".to_owned(),
            at: chrono::Utc::now(),
            data: serde_json::json!({ "n": n }),
        }
    }

    fn kept(bus: &MemoryEventBus) -> (usize, usize) {
        let state = bus.log.state.lock().unwrap();
        (state.events.len(), state.bytes)
    }

    #[tokio::test]
    async fn the_replay_log_keeps_the_newest_events_within_its_byte_budget() {
        let size = serde_json::to_string(&event(100)).unwrap().len();
        let bus = MemoryEventBus::with_limits(1000, 10 * size);
        let events: Vec<WorkflowEvent> = (100..150).map(event).collect();
        bus.publish(&events).await.unwrap();
        let (count, bytes) = kept(&bus);
        assert_eq!(count, 10);
        assert!(bytes <= 10 * size);

        let mut replay = bus.subscribe(Some("0-0".to_owned())).await.unwrap();
        for n in 140..150 {
            let stored = replay.next().await.unwrap().unwrap();
            assert_eq!(stored.event.data, serde_json::json!({ "n": n }));
        }
    }

    #[tokio::test]
    async fn the_replay_log_keeps_at_most_its_count_and_always_the_newest() {
        let bus = MemoryEventBus::with_limits(3, usize::MAX);
        bus.publish(&(0..5).map(event).collect::<Vec<_>>())
            .await
            .unwrap();
        assert_eq!(kept(&bus).0, 3);

        let tiny = MemoryEventBus::with_limits(100, 1);
        tiny.publish(&[event(1), event(2)]).await.unwrap();
        assert_eq!(
            kept(&tiny).0,
            1,
            "an event larger than the budget is still kept alone"
        );
    }
}
