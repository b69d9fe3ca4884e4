//! What the machine itself costs, to read the engine's figures against: a Postgres round trip,
//! a durable commit, a Redis round trip; and the engine database's counters, to count the
//! writes per step.

use std::time::Instant;

use anyhow::Context;
use serde::Serialize;
use sqlx::{Connection, PgConnection, Row};

use crate::stats::{Summary, summarize};

const SAMPLES: usize = 200;

#[derive(Debug, Serialize)]
pub struct Floors {
    /// `SELECT 1`.
    pub postgres_round_trip_ms: Summary,
    /// `BEGIN; INSERT one row; COMMIT`, with `synchronous_commit` as the server has it (the
    /// engine's commits wait for the same flush).
    pub postgres_commit_ms: Summary,
    /// `PING`.
    pub redis_round_trip_ms: Summary,
}

/// Measured in `scratch_url`, a database of the benchmark's own.
pub async fn floors(scratch_url: &str, redis_url: &str) -> anyhow::Result<Floors> {
    let mut conn = PgConnection::connect(scratch_url).await?;
    // A regular table: a temporary one writes no WAL, so its commit would not wait for the disk.
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS bench_commit_probe (id bigint)")
        .execute(&mut conn)
        .await?;
    let mut round_trips = Vec::with_capacity(SAMPLES);
    let mut commits = Vec::with_capacity(SAMPLES);
    for index in 0..SAMPLES {
        let clock = Instant::now();
        sqlx::query("SELECT 1").execute(&mut conn).await?;
        round_trips.push(elapsed_ms(clock));
        let clock = Instant::now();
        let mut tx = conn.begin().await?;
        sqlx::query("INSERT INTO bench_commit_probe (id) VALUES ($1)")
            .bind(index as i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        commits.push(elapsed_ms(clock));
    }
    conn.close().await.ok();
    let client = redis::Client::open(redis_url)?;
    let mut redis = client.get_multiplexed_async_connection().await?;
    let mut pings = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let clock = Instant::now();
        redis::cmd("PING").query_async::<String>(&mut redis).await?;
        pings.push(elapsed_ms(clock));
    }
    Ok(Floors {
        postgres_round_trip_ms: summarize(&round_trips),
        postgres_commit_ms: summarize(&commits),
        redis_round_trip_ms: summarize(&pings),
    })
}

fn elapsed_ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Cumulative counters of one database (`pg_stat_database`).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct DatabaseCounters {
    pub commits: i64,
    pub rows_inserted: i64,
    pub rows_updated: i64,
    pub rows_deleted: i64,
    pub rows_fetched: i64,
}

impl DatabaseCounters {
    pub fn since(self, earlier: DatabaseCounters) -> DatabaseCounters {
        DatabaseCounters {
            commits: self.commits - earlier.commits,
            rows_inserted: self.rows_inserted - earlier.rows_inserted,
            rows_updated: self.rows_updated - earlier.rows_updated,
            rows_deleted: self.rows_deleted - earlier.rows_deleted,
            rows_fetched: self.rows_fetched - earlier.rows_fetched,
        }
    }
}

/// The counters of the database `database_url` names. Postgres publishes a backend's counts up
/// to a second late; the caller waits before the final reading.
pub async fn counters(database_url: &str) -> anyhow::Result<DatabaseCounters> {
    let mut conn = PgConnection::connect(database_url).await?;
    // A fresh snapshot, not the one this transaction would otherwise keep.
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(&mut conn)
        .await?;
    let row = sqlx::query(
        "SELECT xact_commit, tup_inserted, tup_updated, tup_deleted, tup_fetched \
         FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&mut conn)
    .await
    .context("reading pg_stat_database")?;
    let counters = DatabaseCounters {
        commits: row.try_get("xact_commit")?,
        rows_inserted: row.try_get("tup_inserted")?,
        rows_updated: row.try_get("tup_updated")?,
        rows_deleted: row.try_get("tup_deleted")?,
        rows_fetched: row.try_get("tup_fetched")?,
    };
    conn.close().await.ok();
    Ok(counters)
}

/// The engine database's work per completed step (the benchmark's own reads are among the
/// commits).
#[derive(Debug, Serialize)]
pub struct PerStep {
    pub commits: f64,
    pub rows_inserted: f64,
    pub rows_updated: f64,
    pub rows_deleted: f64,
}

impl PerStep {
    pub fn of(counters: DatabaseCounters, steps: usize) -> PerStep {
        let steps = steps.max(1) as f64;
        PerStep {
            commits: counters.commits as f64 / steps,
            rows_inserted: counters.rows_inserted as f64 / steps,
            rows_updated: counters.rows_updated as f64 / steps,
            rows_deleted: counters.rows_deleted as f64 / steps,
        }
    }
}
