//! [`JobQueue`] over Redis streams: one stream per queue (`<prefix>:jobs:<queue>`), read
//! through the consumer group `workers`. Acknowledged entries are deleted, so the streams stay
//! as long as the work in flight and are never trimmed (trimming would drop pending jobs).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use model::Job;
use redis::streams::{
    StreamAutoClaimReply, StreamId, StreamInfoGroupsReply, StreamRangeReply, StreamReadReply,
};

use crate::redis_conn::{RedisPools, queue_error};
use crate::{BusError, Delivery, JobQueue, QueueStats};

const GROUP: &str = "workers";

pub struct RedisQueue {
    pools: RedisPools,
    prefix: String,
    /// Streams whose group this process has made sure of.
    groups: Mutex<HashSet<String>>,
    claims: ClaimSchedule,
}

/// When this process last looked for entries other consumers abandoned, per stream. Looking
/// every `claim_after / 2` rather than before every read saves a round trip per consume, and a
/// dead consumer's job is still taken over within 1.5 × `claim_after`.
#[derive(Debug, Default)]
struct ClaimSchedule {
    last: Mutex<HashMap<String, Instant>>,
}

impl ClaimSchedule {
    /// Whether to claim now; if so, the next look is due half a `claim_after` later.
    fn due(&self, key: &str, claim_after: Duration, now: Instant) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match last.get(key) {
            Some(at) if now.saturating_duration_since(*at) < claim_after / 2 => false,
            _ => {
                last.insert(key.to_owned(), now);
                true
            }
        }
    }
}

impl RedisQueue {
    /// `blocking_connections` bounds how many `consume` calls may wait at once.
    pub fn new(url: &str, prefix: &str, blocking_connections: usize) -> Result<Self, BusError> {
        Ok(Self {
            pools: RedisPools::new(url, blocking_connections)?,
            prefix: prefix.to_owned(),
            groups: Mutex::new(HashSet::new()),
            claims: ClaimSchedule::default(),
        })
    }

    fn key(&self, queue: &str) -> String {
        format!("{}:jobs:{queue}", self.prefix)
    }

    async fn ensure_group(&self, key: &str) -> Result<(), BusError> {
        if self
            .groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(key)
        {
            return Ok(());
        }
        let mut conn = self.pools.command().await?;
        // From id 0: jobs published before any worker came up are delivered too.
        let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(key)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut *conn)
            .await;
        match created {
            Ok(()) => {}
            Err(error) if error.code() == Some("BUSYGROUP") => {}
            Err(error) => return Err(queue_error(error)),
        }
        self.groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_owned());
        Ok(())
    }

    fn forget_group(&self, key: &str) {
        self.groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// Entries other consumers held longer than `claim_after`.
    async fn autoclaim(
        &self,
        key: &str,
        consumer: &str,
        max: usize,
        claim_after: Duration,
    ) -> Result<Result<StreamAutoClaimReply, redis::RedisError>, BusError> {
        let mut conn = self.pools.command().await?;
        let reply = redis::cmd("XAUTOCLAIM")
            .arg(key)
            .arg(GROUP)
            .arg(consumer)
            .arg(u64::try_from(claim_after.as_millis()).unwrap_or(u64::MAX))
            .arg("0-0")
            .arg("COUNT")
            .arg(max)
            .query_async(&mut *conn)
            .await;
        Ok(reply)
    }

    async fn read_new(
        &self,
        key: &str,
        consumer: &str,
        max: usize,
        block: Option<Duration>,
    ) -> Result<Result<Option<StreamReadReply>, redis::RedisError>, BusError> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(GROUP)
            .arg(consumer)
            .arg("COUNT")
            .arg(max);
        let Some(block) = block else {
            cmd.arg("STREAMS").arg(key).arg(">");
            let mut conn = self.pools.command().await?;
            return Ok(cmd.query_async(&mut *conn).await);
        };
        // BLOCK 0 would mean forever.
        let millis = u64::try_from(block.as_millis()).unwrap_or(u64::MAX).max(1);
        cmd.arg("BLOCK")
            .arg(millis)
            .arg("STREAMS")
            .arg(key)
            .arg(">");
        self.pools.blocking(&cmd, block).await
    }

    async fn consume_once(
        &self,
        key: &str,
        consumer: &str,
        max: usize,
        block: Duration,
        claim_after: Duration,
    ) -> Result<Result<Vec<StreamId>, redis::RedisError>, BusError> {
        let claimed = if self.claims.due(key, claim_after, Instant::now()) {
            match self.autoclaim(key, consumer, max, claim_after).await? {
                Ok(reply) => reply.claimed,
                Err(error) => return Ok(Err(error)),
            }
        } else {
            Vec::new()
        };
        let wanted = max - claimed.len().min(max);
        if wanted == 0 {
            return Ok(Ok(claimed));
        }
        // With work in hand already, only take what is there without waiting.
        let block = claimed.is_empty().then_some(block);
        let read = match self.read_new(key, consumer, wanted, block).await? {
            Ok(reply) => reply,
            Err(error) => return Ok(Err(error)),
        };
        let mut entries = claimed;
        for stream in read.map(|reply| reply.keys).unwrap_or_default() {
            entries.extend(stream.ids);
        }
        Ok(Ok(entries))
    }
}

#[async_trait]
impl JobQueue for RedisQueue {
    async fn publish(&self, jobs: &[Job]) -> Result<(), BusError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for job in jobs {
            let payload =
                serde_json::to_string(job).map_err(|e| BusError::Corrupt(e.to_string()))?;
            pipe.cmd("XADD")
                .arg(self.key(&job.queue))
                .arg("*")
                .arg("job")
                .arg(payload)
                .ignore();
        }
        let mut conn = self.pools.command().await?;
        pipe.query_async::<()>(&mut *conn)
            .await
            .map_err(queue_error)
    }

    async fn consume(
        &self,
        queue: &str,
        consumer: &str,
        max: usize,
        block: Duration,
        claim_after: Duration,
    ) -> Result<Vec<Delivery>, BusError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let key = self.key(queue);
        self.ensure_group(&key).await?;
        let entries = match self
            .consume_once(&key, consumer, max, block, claim_after)
            .await?
        {
            Ok(entries) => entries,
            // The group vanished (Redis restarted, it keeps nothing on disk): make it again.
            Err(error) if error.code() == Some("NOGROUP") => {
                self.forget_group(&key);
                self.ensure_group(&key).await?;
                self.consume_once(&key, consumer, max, block, claim_after)
                    .await?
                    .map_err(queue_error)?
            }
            Err(error) => return Err(queue_error(error)),
        };
        let mut deliveries = Vec::with_capacity(entries.len());
        let mut poison = Vec::new();
        for entry in entries {
            let job = entry
                .get::<String>("job")
                .and_then(|payload| serde_json::from_str::<Job>(&payload).ok());
            match job {
                Some(job) => deliveries.push(Delivery { id: entry.id, job }),
                None => {
                    tracing::warn!(queue, entry = %entry.id, "unreadable job entry dropped");
                    poison.push(entry.id);
                }
            }
        }
        if !poison.is_empty() {
            self.ack(queue, &poison).await?;
        }
        Ok(deliveries)
    }

    async fn extend(
        &self,
        queue: &str,
        consumer: &str,
        delivery_ids: &[String],
    ) -> Result<(), BusError> {
        if delivery_ids.is_empty() {
            return Ok(());
        }
        // XCLAIM with no minimum idle time by the same consumer resets the entries' idle clock.
        let mut cmd = redis::cmd("XCLAIM");
        cmd.arg(self.key(queue))
            .arg(GROUP)
            .arg(consumer)
            .arg(0)
            .arg(delivery_ids)
            .arg("JUSTID");
        let mut conn = self.pools.command().await?;
        cmd.query_async::<redis::Value>(&mut *conn)
            .await
            .map(|_| ())
            .map_err(queue_error)
    }

    async fn ack(&self, queue: &str, delivery_ids: &[String]) -> Result<(), BusError> {
        if delivery_ids.is_empty() {
            return Ok(());
        }
        let key = self.key(queue);
        let mut pipe = redis::pipe();
        pipe.cmd("XACK")
            .arg(&key)
            .arg(GROUP)
            .arg(delivery_ids)
            .ignore();
        pipe.cmd("XDEL").arg(&key).arg(delivery_ids).ignore();
        let mut conn = self.pools.command().await?;
        pipe.query_async::<()>(&mut *conn)
            .await
            .map_err(queue_error)
    }

    async fn stats(&self, queue: &str) -> Result<QueueStats, BusError> {
        // Acknowledged entries are deleted, so the stream holds exactly the undelivered and the
        // pending ones; the group delivers in id order, so the undelivered ones are those after
        // its last-delivered id, and the first of them is the oldest (its id is its enqueue time).
        let key = self.key(queue);
        let mut conn = self.pools.command().await?;
        let length: u64 = redis::cmd("XLEN")
            .arg(&key)
            .query_async(&mut *conn)
            .await
            .map_err(queue_error)?;
        if length == 0 {
            return Ok(QueueStats::default());
        }
        let groups: Result<StreamInfoGroupsReply, redis::RedisError> = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(&key)
            .query_async(&mut *conn)
            .await;
        let group = match groups {
            Ok(reply) => reply.groups.into_iter().find(|group| group.name == GROUP),
            // Emptied and gone between the two reads.
            Err(error) if error.detail().is_some_and(|d| d.contains("no such key")) => {
                return Ok(QueueStats::default());
            }
            Err(error) => return Err(queue_error(error)),
        };
        let (pending, after) = match &group {
            Some(group) => (
                group.pending as u64,
                format!("({}", group.last_delivered_id),
            ),
            // No worker has read this queue yet: everything in it waits.
            None => (0, "-".to_owned()),
        };
        let depth = length.saturating_sub(pending);
        if depth == 0 {
            return Ok(QueueStats::default());
        }
        let first: StreamRangeReply = redis::cmd("XRANGE")
            .arg(&key)
            .arg(after)
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut *conn)
            .await
            .map_err(queue_error)?;
        let oldest_waiting = match first.ids.first() {
            Some(entry) => crate::stream_id::StreamId::parse(&entry.id)?.time(),
            None => None,
        };
        Ok(QueueStats {
            depth,
            oldest_waiting,
        })
    }

    async fn ping(&self) -> Result<(), BusError> {
        let mut conn = self.pools.command().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut *conn)
            .await
            .map_err(queue_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abandoned_entries_are_looked_for_every_half_claim_period_per_stream() {
        let schedule = ClaimSchedule::default();
        let claim_after = Duration::from_secs(10);
        let start = Instant::now();
        assert!(schedule.due("a", claim_after, start));
        assert!(!schedule.due("a", claim_after, start + Duration::from_secs(4)));
        assert!(schedule.due("b", claim_after, start + Duration::from_secs(4)));
        assert!(schedule.due("a", claim_after, start + Duration::from_secs(5)));
        assert!(!schedule.due("a", claim_after, start + Duration::from_secs(9)));
    }
}
