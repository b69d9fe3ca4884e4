//! [`Store`] over SQLite, for the embedded single-process mode. Writes go through one
//! connection (`BEGIN IMMEDIATE`), reads through a pool beside it (WAL lets them run while a
//! write is in progress). Here the pools, migrations, and this dialect's lock and bulk write for
//! the transition loop; each aggregate's statements are in the file named after it below.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};
use uuid::Uuid;

use crate::batch::WriteSet;
use crate::instance_cache::{InstanceCache, Versioned};
use crate::transition::Dialect;
use crate::{Store, StoreError};

use crate::rows::versioned_from_row;

mod checkpoint;
mod instances;
mod jobs;
mod search;
mod templates;
mod timers;
mod triggers;
mod write_set;

use write_set::{apply_writes, commit_writes};

#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    cache: std::sync::Arc<InstanceCache>,
    /// `None` for an in-memory database, which has no WAL.
    _checkpointer: Option<std::sync::Arc<checkpoint::Checkpointer>>,
}

/// Creates a missing database file readable by its owner only: it holds every instance's
/// variables. SQLite gives its `-wal` and `-shm` files the same mode.
fn create_private(path: &std::path::Path) -> Result<(), StoreError> {
    let name = path.to_string_lossy();
    if name.is_empty() || name == ":memory:" || name.starts_with("file:") || path.exists() {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(StoreError::Database(sqlx::Error::Io(error))),
    }
}

impl SqliteStore {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        create_private(options.get_filename())?;
        // A connection in this process cannot go stale as a network one can: no ping (one more
        // wake-up of the connection's thread) before each use.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(
                options
                    .clone()
                    .pragma("wal_autocheckpoint", checkpoint::WRITER_FALLBACK_PAGES),
            )
            .await?;
        let in_memory = options
            .get_filename()
            .to_string_lossy()
            .starts_with("file:sqlx-in-memory");
        // An in-memory database has no WAL: its readers would wait on the writer anyway.
        let reader = if in_memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(max_connections.max(1))
                .test_before_acquire(false)
                .connect_with(options)
                .await?
        };
        let checkpointer = (!in_memory)
            .then(|| std::sync::Arc::new(checkpoint::Checkpointer::start(reader.clone())));
        Ok(Self {
            writer,
            reader,
            cache: Default::default(),
            _checkpointer: checkpointer,
        })
    }

    async fn begin_immediate(&self) -> Result<sqlx::Transaction<'static, Sqlite>, StoreError> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }
}

#[async_trait]
impl Dialect for SqliteStore {
    type Locked = sqlx::Transaction<'static, Sqlite>;

    async fn apply_unlocked(&self, writes: &WriteSet) -> Result<bool, StoreError> {
        // `BEGIN IMMEDIATE` and `COMMIT` go in the same command as the writes.
        commit_writes(self.writer.acquire().await?, writes).await
    }

    /// `BEGIN IMMEDIATE` holds the whole database, so reading the rows is enough.
    async fn lock(&self, ids: &[Uuid]) -> Result<(Self::Locked, Vec<Versioned>), StoreError> {
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        let ids = serde_json::Value::from(ids).to_string();
        let mut tx = self.begin_immediate().await?;
        let rows = sqlx::query(
            "SELECT * FROM instances WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id",
        )
        .bind(ids)
        .fetch_all(&mut *tx)
        .await?;
        let locked = rows
            .iter()
            .map(versioned_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((tx, locked))
    }

    async fn apply_locked(
        &self,
        locked: &mut Self::Locked,
        writes: &WriteSet,
    ) -> Result<bool, StoreError> {
        apply_writes(locked, writes).await
    }

    async fn commit(&self, locked: Self::Locked) -> Result<(), StoreError> {
        Ok(locked.commit().await?)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        // The writer pool has one connection, so concurrent calls in this process queue here.
        sqlx::migrate!("../../migrations/sqlite")
            .run(&self.writer)
            .await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn purge(
        &self,
        finished_before: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<crate::Purged, StoreError> {
        crate::retention::sqlite::purge(&self.writer, finished_before, now, limit).await
    }
}
