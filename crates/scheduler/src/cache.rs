//! Caches of immutable data: a template version's parsed definition never changes, and neither
//! does the template version an instance runs. They spare the hot path a read per step.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use uuid::Uuid;

/// (template id, version) → parsed definition.
#[derive(Default)]
pub(crate) struct DefinitionCache {
    definitions: RwLock<HashMap<(Uuid, i32), Arc<engine::Definition>>>,
}

impl DefinitionCache {
    pub(crate) fn get(&self, template_id: Uuid, version: i32) -> Option<Arc<engine::Definition>> {
        let definitions = self.definitions.read().unwrap_or_else(|e| e.into_inner());
        definitions.get(&(template_id, version)).cloned()
    }

    pub(crate) fn insert(
        &self,
        template_id: Uuid,
        version: i32,
        definition: Arc<engine::Definition>,
    ) {
        let mut definitions = self.definitions.write().unwrap_or_else(|e| e.into_inner());
        definitions.insert((template_id, version), definition);
    }
}
