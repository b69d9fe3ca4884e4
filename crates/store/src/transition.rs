//! The transition loop, once for both databases: decide on cached copies and write under
//! version guards; when a guard fails (or nothing is cached) read the rows under the dialect's
//! lock and decide again; retry the batch once on a serialization failure or a busy database.
//! Each dialect brings only its lock strategy and its bulk write ([`Dialect`]).

use async_trait::async_trait;
use uuid::Uuid;

use crate::batch::{self, Outcomes, WriteSet};
use crate::instance_cache::{InstanceCache, Versioned};
use crate::{StoreError, TransitionRequest};

#[async_trait]
pub(crate) trait Dialect: Sync {
    /// A transaction that holds the batch's instances until it commits or is dropped.
    type Locked: Send;

    /// Writes a batch decided on cached copies, every instance guarded by the version it was
    /// decided on: `false` when one has moved, and then nothing is written.
    async fn apply_unlocked(&self, writes: &WriteSet) -> Result<bool, StoreError>;

    /// Begins the transaction that holds the instances `ids` (in that order) and reads them.
    async fn lock(&self, ids: &[Uuid]) -> Result<(Self::Locked, Vec<Versioned>), StoreError>;

    /// Writes the batch inside the transaction: `false` when a version guard failed.
    async fn apply_locked(
        &self,
        locked: &mut Self::Locked,
        writes: &WriteSet,
    ) -> Result<bool, StoreError>;

    async fn commit(&self, locked: Self::Locked) -> Result<(), StoreError>;
}

/// `InstanceStore::transition` for a dialect.
pub(crate) async fn transition<D: Dialect>(
    dialect: &D,
    cache: &InstanceCache,
    mut requests: Vec<TransitionRequest<'_>>,
) -> Result<Outcomes, StoreError> {
    if requests.is_empty() {
        return Ok(Vec::new());
    }
    match try_transition(dialect, cache, &mut requests).await {
        Err(error) if batch::is_retryable(&error) => {
            tracing::warn!(%error, "transition batch retried");
            try_transition(dialect, cache, &mut requests).await
        }
        outcome => outcome,
    }
}

async fn try_transition<D: Dialect>(
    dialect: &D,
    cache: &InstanceCache,
    requests: &mut [TransitionRequest<'_>],
) -> Result<Outcomes, StoreError> {
    let ids = batch::lock_order(requests);
    if let Some(cached) = cache.take_all(&ids) {
        let (outcomes, mut writes) = batch::decide_all(requests, cached);
        if writes.guard_every_instance(&outcomes) && dialect.apply_unlocked(&writes).await? {
            cache.keep(writes.into_committed());
            return Ok(outcomes);
        }
        tracing::debug!(
            instances = ids.len(),
            "decision on cached instances runs again on locked rows"
        );
    }
    let (mut locked, rows) = dialect.lock(&ids).await?;
    let (outcomes, writes) = batch::decide_all(requests, rows);
    if !dialect.apply_locked(&mut locked, &writes).await? {
        // The rows are held: their versions cannot have moved.
        return Err(StoreError::Conflict(
            "instance changed while locked".to_owned(),
        ));
    }
    dialect.commit(locked).await?;
    cache.keep(writes.into_committed());
    Ok(outcomes)
}
