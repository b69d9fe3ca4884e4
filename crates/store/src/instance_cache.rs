//! Running instances as this process last wrote them, with the row version they were written
//! at. A transition whose instances are all here decides on these copies and writes with one
//! statement guarded by the versions (`WHERE version = $v`), with no read and no lock: one
//! round trip per decision instead of four. The guard, not the cache, keeps instances
//! consistent: a copy is stale only when another scheduler replica (or a concurrent batch of
//! this one) wrote the row, the guarded write then changes nothing, and the transition runs
//! again on locked rows.

use std::collections::HashMap;
use std::sync::Mutex;

use uuid::Uuid;

use model::Instance;

use crate::batch::{Committed, WriteSet};
use crate::{LoadedInstance, StoreError};

/// Most instances kept. A step's decision on an instance beyond it reads the row as before.
const CAPACITY: usize = 20_000;

/// An instance row with the version it has in the database.
#[derive(Debug, Clone)]
pub(crate) struct Versioned {
    pub loaded: LoadedInstance,
    pub version: i64,
}

#[derive(Debug, Default)]
pub(crate) struct InstanceCache {
    entries: Mutex<HashMap<Uuid, Versioned>>,
}

impl InstanceCache {
    /// Takes the copies of all these instances out, or none when one is missing. A copy taken
    /// out is not there for a concurrent batch, which therefore reads the row locked and waits
    /// for this one to commit.
    pub(crate) fn take_all(&self, ids: &[Uuid]) -> Option<Vec<Versioned>> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if !ids.iter().all(|id| entries.contains_key(id)) {
            return None;
        }
        Some(ids.iter().filter_map(|id| entries.remove(id)).collect())
    }

    /// Keeps the instance a committed insert created and returns it: its start is usually
    /// the next decision, which then needs no read.
    pub(crate) fn keep_created(&self, writes: WriteSet) -> Result<Instance, StoreError> {
        let instance = writes
            .created_instances()
            .next()
            .map(|write| write.loaded.instance.clone())
            .ok_or(StoreError::NotFound { entity: "instance" })?;
        self.keep(writes.into_committed());
        Ok(instance)
    }

    /// Keeps instances as just committed. A finished one is dropped, since nothing decides on
    /// it again, and so is an idle one, which waits for something that may never come.
    pub(crate) fn keep(&self, written: impl IntoIterator<Item = Committed>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        for Committed {
            copy: versioned,
            idle,
        } in written
        {
            let id = versioned.loaded.instance.id;
            if idle || versioned.loaded.instance.status.is_terminal() {
                entries.remove(&id);
                continue;
            }
            match entries.get(&id) {
                // A later batch already put a newer copy back.
                Some(current) if current.version >= versioned.version => {}
                Some(_) => {
                    entries.insert(id, versioned);
                }
                None if entries.len() < CAPACITY => {
                    entries.insert(id, versioned);
                }
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use model::{Instance, InstanceStatus};

    use super::*;
    use crate::StateDocument;

    fn committed(id: Uuid, version: i64, idle: bool) -> Committed {
        let now = Utc::now();
        let instance = Instance {
            id,
            tenant: "default".to_owned(),
            template_id: Uuid::nil(),
            template_version: 1,
            status: InstanceStatus::Running,
            variables: serde_json::json!({}),
            output: None,
            error: None,
            parent_instance_id: None,
            created_at: now,
            started_at: Some(now),
            completed_at: None,
            updated_at: now,
            traceparent: None,
        };
        let state = StateDocument::encode(&serde_json::json!({})).expect("encodes");
        Committed {
            copy: Versioned {
                loaded: LoadedInstance { instance, state },
                version,
            },
            idle,
        }
    }

    #[test]
    fn an_instance_with_a_step_in_flight_is_kept() {
        let cache = InstanceCache::default();
        let id = Uuid::now_v7();
        cache.keep([committed(id, 1, false)]);
        let taken = cache.take_all(&[id]).expect("kept");
        assert_eq!(taken[0].version, 1);
    }

    #[test]
    fn an_idle_instance_is_not_kept_and_its_older_copy_goes() {
        let cache = InstanceCache::default();
        let waiting = Uuid::now_v7();
        cache.keep([committed(waiting, 0, true)]);
        assert!(cache.take_all(&[waiting]).is_none());

        let parked = Uuid::now_v7();
        cache.keep([committed(parked, 1, false)]);
        cache.keep([committed(parked, 2, true)]);
        assert!(cache.take_all(&[parked]).is_none());
    }
}
