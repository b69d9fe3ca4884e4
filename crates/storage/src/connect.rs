//! Choosing the backends from configuration.

use std::sync::Arc;

use crate::{
    EventBus, JobQueue, MemoryEventBus, MemoryQueue, PostgresStore, RedisEventBus, RedisQueue,
    SqliteStore, StorageError, Store,
};

/// The SQLite file of the embedded default, in the working directory.
pub const DEFAULT_SQLITE_URL: &str = "sqlite://workflow-engine.db";

/// `consume` calls that may block at once on one Redis queue client.
const BLOCKING_CONNECTIONS: usize = 64;

/// The store for `database_url`: `postgres://` or `postgresql://` for Postgres, `sqlite:` for
/// SQLite, none for the SQLite file `workflow-engine.db`. Connects; does not migrate.
pub async fn connect_store(
    database_url: Option<&str>,
    max_connections: u32,
) -> Result<Arc<dyn Store>, StorageError> {
    let url = database_url.unwrap_or(DEFAULT_SQLITE_URL);
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(
            PostgresStore::connect(url, max_connections).await?,
        ));
    }
    if url.starts_with("sqlite:") {
        return Ok(Arc::new(SqliteStore::connect(url, max_connections).await?));
    }
    Err(StorageError::Database(sqlx::Error::Configuration(
        "DATABASE_URL must start with postgres://, postgresql:// or sqlite:".into(),
    )))
}

/// The job queue and event bus: Redis streams under `prefix` for a `redis_url` (checked with a
/// PING), memory without one.
pub async fn connect_bus(
    redis_url: Option<&str>,
    prefix: &str,
) -> Result<(Arc<dyn JobQueue>, Arc<dyn EventBus>), StorageError> {
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
