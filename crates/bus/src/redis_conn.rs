//! Redis connections: a pool for short commands and a pool for blocking reads, so that a
//! consumer waiting on `XREADGROUP BLOCK` never holds a connection others need.

use std::time::Duration;

use deadpool_redis::{Connection, Manager, Pool, Runtime};
use redis::AsyncConnectionConfig;

use crate::BusError;

/// Slack given to a blocking command's reply beyond its own `BLOCK` time.
const BLOCK_SLACK: Duration = Duration::from_secs(5);

pub(crate) fn queue_error(error: impl std::fmt::Display) -> BusError {
    BusError::Queue(error.to_string())
}

#[derive(Clone)]
pub(crate) struct RedisPools {
    pub(crate) commands: Pool,
    blocking: Pool,
}

impl RedisPools {
    pub(crate) fn new(url: &str, blocking_connections: usize) -> Result<Self, BusError> {
        let commands = deadpool_redis::Config::from_url(url)
            .create_pool(Some(Runtime::Tokio1))
            .map_err(queue_error)?;
        // No reply timeout on these: every command sent on them carries its own BLOCK, and
        // `blocking` below bounds the wait.
        let manager =
            Manager::new_with_config(url, AsyncConnectionConfig::new().set_response_timeout(None))
                .map_err(queue_error)?;
        let blocking = Pool::builder(manager)
            .max_size(blocking_connections.max(1))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(queue_error)?;
        Ok(Self { commands, blocking })
    }

    pub(crate) async fn command(&self) -> Result<Connection, BusError> {
        self.commands.get().await.map_err(queue_error)
    }

    /// Runs one blocking command (its BLOCK time `block`) on a connection of its own. A
    /// connection whose command did not finish (timed out, or the caller gave up) is dropped
    /// rather than returned to the pool, since the server may still be blocking on it. The
    /// inner result is the server's answer, for callers that recover from some errors.
    pub(crate) async fn blocking<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
        block: Duration,
    ) -> Result<Result<T, redis::RedisError>, BusError> {
        let conn = self.blocking.get().await.map_err(queue_error)?;
        let mut guard = BlockingGuard {
            conn: Some(conn),
            finished: false,
        };
        let Some(conn) = guard.conn.as_mut() else {
            return Err(queue_error("blocking connection missing"));
        };
        let reply = tokio::time::timeout(block + BLOCK_SLACK, cmd.query_async::<T>(conn)).await;
        match reply {
            Ok(Ok(value)) => {
                guard.finished = true;
                Ok(Ok(value))
            }
            // A server error reply leaves the connection usable; a broken one does not.
            Ok(Err(error)) if error.code().is_some() => {
                guard.finished = true;
                Ok(Err(error))
            }
            Ok(Err(error)) => Err(queue_error(error)),
            Err(_) => Err(queue_error("redis did not answer a blocking read in time")),
        }
    }
}

struct BlockingGuard {
    conn: Option<Connection>,
    finished: bool,
}

impl Drop for BlockingGuard {
    fn drop(&mut self) {
        if !self.finished
            && let Some(conn) = self.conn.take()
        {
            drop(Connection::take(conn));
        }
    }
}
