//! The subscriber side shared by both event buses: replay from a position in the stream, then
//! follow the live feed, catching up again from the stream if the feed outran the subscriber.

use std::collections::VecDeque;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream;
use tokio::sync::broadcast;

use crate::stream_id::StreamId;
use crate::{BusError, EventStream, StoredEvent};

/// Events are replayed in pages of this many.
pub(crate) const REPLAY_PAGE: usize = 500;

/// Where past events are read from.
#[async_trait]
pub(crate) trait Replay: Send + Sync {
    /// Up to `limit` events strictly after `after`, oldest first, and whether there may be
    /// more (the page was full; unreadable entries are skipped, so it may hold fewer).
    async fn after(
        &self,
        after: StreamId,
        limit: usize,
    ) -> Result<(Vec<StoredEvent>, bool), BusError>;
}

struct Subscriber {
    source: Arc<dyn Replay>,
    live: broadcast::Receiver<StoredEvent>,
    last: StreamId,
    buffered: VecDeque<StoredEvent>,
    catching_up: bool,
    failed: bool,
}

/// `live` must have been subscribed before `start` was taken, so that nothing falls between
/// the replay and the feed.
pub(crate) fn subscribe(
    source: Arc<dyn Replay>,
    live: broadcast::Receiver<StoredEvent>,
    start: StreamId,
) -> EventStream {
    let subscriber = Subscriber {
        source,
        live,
        last: start,
        buffered: VecDeque::new(),
        catching_up: true,
        failed: false,
    };
    Box::pin(stream::unfold(subscriber, |mut sub| async move {
        if sub.failed {
            return None;
        }
        loop {
            if let Some(event) = sub.buffered.pop_front() {
                let Ok(id) = StreamId::parse(&event.id) else {
                    continue;
                };
                if id <= sub.last {
                    continue;
                }
                sub.last = id;
                return Some((Ok(event), sub));
            }
            if sub.catching_up {
                match sub.source.after(sub.last, REPLAY_PAGE).await {
                    Ok((page, more)) => {
                        sub.catching_up = more;
                        sub.buffered.extend(page);
                    }
                    Err(error) => {
                        sub.failed = true;
                        return Some((Err(error), sub));
                    }
                }
                continue;
            }
            match sub.live.recv().await {
                Ok(event) => sub.buffered.push_back(event),
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    tracing::debug!(skipped, "event subscriber lagged, replaying");
                    sub.catching_up = true;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }))
}
