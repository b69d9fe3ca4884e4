//! Choosing the queue and bus backend from configuration.

use std::sync::Arc;

use crate::{BusError, EventBus, JobQueue, MemoryEventBus, MemoryQueue, RedisEventBus, RedisQueue};

/// `consume` calls that may block at once on one Redis queue client.
const BLOCKING_CONNECTIONS: usize = 64;

/// The job queue and event bus: Redis streams under `prefix` for a `redis_url` (checked with a
/// PING), memory without one.
pub async fn connect_bus(
    redis_url: Option<&str>,
    prefix: &str,
) -> Result<(Arc<dyn JobQueue>, Arc<dyn EventBus>), BusError> {
    let Some(url) = redis_url else {
        return Ok((
            Arc::new(MemoryQueue::new()),
            Arc::new(MemoryEventBus::new()),
        ));
    };
    let queue = RedisQueue::new(url, prefix, BLOCKING_CONNECTIONS)?;
    queue.ping().await?;
    let bus = RedisEventBus::new(url, prefix)?;
    Ok((Arc::new(queue), Arc::new(bus)))
}
