//! [`EventBus`] over Redis: every event is appended to the stream `<prefix>:events` (bounded to
//! about 100 000 entries, for replay by `Last-Event-ID`) and published on the channel
//! `<prefix>:events:live` for other services. Subscribers in this process share one reader that
//! follows the stream with `XREAD BLOCK` and fans out through a broadcast channel.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use model::WorkflowEvent;
use redis::streams::{StreamId as Entry, StreamRangeReply, StreamReadReply};
use tokio::sync::{OnceCell, broadcast};
use tokio::task::JoinHandle;

use crate::redis_conn::{RedisPools, queue_error};
use crate::stream_id::StreamId;
use crate::subscription::{self, Replay};
use crate::{BusError, EventBus, EventStream, StoredEvent};

const MAX_LEN: u64 = 100_000;
/// How long the shared reader blocks per read; it bounds how late it notices a shutdown.
const READ_BLOCK: Duration = Duration::from_secs(5);
const READ_BATCH: usize = 500;

pub struct RedisEventBus {
    log: Arc<Log>,
    live: broadcast::Sender<StoredEvent>,
    reader: OnceCell<JoinHandle<()>>,
}

struct Log {
    pools: RedisPools,
    key: String,
    channel: String,
}

impl RedisEventBus {
    pub fn new(url: &str, prefix: &str) -> Result<Self, BusError> {
        let (live, _) = broadcast::channel(4096);
        Ok(Self {
            log: Arc::new(Log {
                // One blocking connection: the shared reader's.
                pools: RedisPools::new(url, 1)?,
                key: format!("{prefix}:events"),
                channel: format!("{prefix}:events:live"),
            }),
            live,
            reader: OnceCell::new(),
        })
    }

    async fn start_reader(&self) -> Result<(), BusError> {
        self.reader
            .get_or_try_init(|| async {
                let from = self.log.last_id().await?;
                let log = self.log.clone();
                let live = self.live.clone();
                Ok::<_, BusError>(tokio::spawn(follow(log, live, from)))
            })
            .await?;
        Ok(())
    }
}

impl Drop for RedisEventBus {
    fn drop(&mut self) {
        if let Some(reader) = self.reader.get() {
            reader.abort();
        }
    }
}

impl Log {
    async fn last_id(&self) -> Result<StreamId, BusError> {
        let mut conn = self.pools.command().await?;
        let reply: StreamRangeReply = redis::cmd("XREVRANGE")
            .arg(&self.key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut *conn)
            .await
            .map_err(queue_error)?;
        reply
            .ids
            .first()
            .map_or(Ok(StreamId::default()), |entry| StreamId::parse(&entry.id))
    }
}

fn stored(entry: &Entry) -> Option<StoredEvent> {
    let payload = entry.get::<String>("event")?;
    match serde_json::from_str(&payload) {
        Ok(event) => Some(StoredEvent {
            id: entry.id.clone(),
            event,
        }),
        Err(error) => {
            tracing::warn!(entry = %entry.id, %error, "unreadable event skipped");
            None
        }
    }
}

async fn failed(error: &BusError) {
    tracing::warn!(%error, "event stream read failed");
    // Redis is down or confused: wait before the next attempt rather than spin.
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// The shared reader: follows the stream from `from` for as long as the bus lives.
async fn follow(log: Arc<Log>, live: broadcast::Sender<StoredEvent>, mut from: StreamId) {
    loop {
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(READ_BATCH)
            .arg("BLOCK")
            .arg(READ_BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&log.key)
            .arg(from.to_string());
        let reply = match log
            .pools
            .blocking::<Option<StreamReadReply>>(&cmd, READ_BLOCK)
            .await
        {
            Ok(Ok(reply)) => reply,
            Ok(Err(error)) => {
                failed(&queue_error(error)).await;
                None
            }
            Err(error) => {
                failed(&error).await;
                None
            }
        };
        for entry in reply
            .into_iter()
            .flat_map(|reply| reply.keys)
            .flat_map(|key| key.ids)
        {
            if let Ok(id) = StreamId::parse(&entry.id) {
                from = from.max(id);
            }
            if let Some(event) = stored(&entry) {
                let _ = live.send(event);
            }
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
        let mut conn = self.pools.command().await?;
        let reply: StreamRangeReply = redis::cmd("XRANGE")
            .arg(&self.key)
            .arg(format!("({after}"))
            .arg("+")
            .arg("COUNT")
            .arg(limit)
            .query_async(&mut *conn)
            .await
            .map_err(queue_error)?;
        let full = reply.ids.len() >= limit;
        Ok((reply.ids.iter().filter_map(stored).collect(), full))
    }
}

#[async_trait]
impl EventBus for RedisEventBus {
    async fn publish(&self, events: &[WorkflowEvent]) -> Result<(), BusError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for event in events {
            let payload =
                serde_json::to_string(event).map_err(|e| BusError::Corrupt(e.to_string()))?;
            pipe.cmd("XADD")
                .arg(&self.log.key)
                .arg("MAXLEN")
                .arg("~")
                .arg(MAX_LEN)
                .arg("*")
                .arg("event")
                .arg(&payload)
                .ignore();
            pipe.cmd("PUBLISH")
                .arg(&self.log.channel)
                .arg(&payload)
                .ignore();
        }
        let mut conn = self.log.pools.command().await?;
        pipe.query_async::<()>(&mut *conn)
            .await
            .map_err(queue_error)
    }

    async fn subscribe(&self, after: Option<String>) -> Result<EventStream, BusError> {
        let after = after.as_deref().map(StreamId::parse).transpose()?;
        self.start_reader().await?;
        let live = self.live.subscribe();
        let start = match after {
            Some(after) => after,
            None => self.log.last_id().await?,
        };
        Ok(subscription::subscribe(self.log.clone(), live, start))
    }

    async fn ping(&self) -> Result<(), BusError> {
        let mut conn = self.log.pools.command().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut *conn)
            .await
            .map_err(queue_error)?;
        Ok(())
    }
}
