//! [`EventBus`] in memory: a bounded buffer for replay and a broadcast channel for the live feed.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use model::WorkflowEvent;
use tokio::sync::broadcast;

use crate::stream_id::{StreamId, now_millis};
use crate::subscription::{self, Replay};
use crate::{BusError, EventBus, EventStream, StoredEvent};

/// Events kept for replay, as Redis keeps about as many with `MAXLEN ~`.
const DEFAULT_CAPACITY: usize = 100_000;

#[derive(Debug)]
pub struct MemoryEventBus {
    log: Arc<Log>,
    live: broadcast::Sender<StoredEvent>,
}

#[derive(Debug)]
struct Log {
    capacity: usize,
    state: Mutex<LogState>,
}

#[derive(Debug, Default)]
struct LogState {
    last: StreamId,
    events: VecDeque<(StreamId, StoredEvent)>,
}

impl Default for MemoryEventBus {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl MemoryEventBus {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(capacity: usize) -> Self {
        let (live, _) = broadcast::channel(4096);
        Self {
            log: Arc::new(Log {
                capacity: capacity.max(1),
                state: Mutex::new(LogState::default()),
            }),
            live,
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
        let page: Vec<StoredEvent> = state
            .events
            .iter()
            .skip(start)
            .take(limit)
            .map(|(_, event)| event.clone())
            .collect();
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
            let stored = StoredEvent {
                id: id.to_string(),
                event: event.clone(),
            };
            state.events.push_back((id, stored.clone()));
            if state.events.len() > self.log.capacity {
                state.events.pop_front();
            }
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
