//! Retention: finished instances with their step executions, timers and idempotency keys,
//! and expired idempotency keys, deleted in small batches. Each batch is one short
//! transaction over rows nobody works on any more (finished long ago), and Postgres skips
//! rows another transaction holds, so purging never waits on, or holds up, a decision.

pub(crate) mod postgres;
pub(crate) mod sqlite;

/// What one batch removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Finished instances deleted (their steps, timers and idempotency keys with them).
    pub instances: u64,
    /// Idempotency keys past their expiry deleted.
    pub idempotency_keys: u64,
}
