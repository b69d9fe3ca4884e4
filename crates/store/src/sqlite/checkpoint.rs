//! WAL checkpoints off the commit path. SQLite's default checkpoints on the writer's commit
//! once the WAL holds 1000 pages: that commit then copies the pages into the database file and
//! fsyncs it (`synchronous=NORMAL` syncs only there), about 10 ms on this machine's disk, once
//! every ~125 steps of a lone chain, and it was the embedded mode's whole p99 of a step (13.8 ms
//! against 0.67 ms without it). Here a task checkpoints from a reader connection instead
//! (`PASSIVE`: it waits for no reader or writer, and commits go on appending to the WAL
//! meanwhile); the writer's own checkpoint stays as a fallback at a far larger WAL, for when
//! this task cannot keep up.

use std::time::Duration;

use sqlx::SqlitePool;

/// How often the task checkpoints: a lone chain fills about 1000 pages in this time at most.
const INTERVAL: Duration = Duration::from_millis(250);
/// The writer's own checkpoint, in WAL pages (4 KiB each): reached only when the task falls
/// behind.
pub(super) const WRITER_FALLBACK_PAGES: &str = "20000";

/// Stops the task when the last clone of the store is dropped.
#[derive(Debug)]
pub(super) struct Checkpointer(tokio::task::AbortHandle);

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Checkpointer {
    pub(super) fn start(reader: SqlitePool) -> Self {
        Self(tokio::spawn(checkpoint_loop(reader)).abort_handle())
    }
}

async fn checkpoint_loop(reader: SqlitePool) {
    let mut ticks = tokio::time::interval(INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A failure that lasts (a full or read-only disk) is logged once, not four times a second.
    let mut failing = false;
    loop {
        ticks.tick().await;
        if reader.is_closed() {
            return;
        }
        match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&reader)
            .await
        {
            Ok(_) if failing => {
                failing = false;
                tracing::info!("wal checkpoints work again");
            }
            Ok(_) => {}
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(%error, "wal checkpoint failed; the writer checkpoints later instead");
            }
            Err(error) => tracing::debug!(%error, "wal checkpoint failed again"),
        }
    }
}
