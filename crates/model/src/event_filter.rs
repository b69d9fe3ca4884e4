//! Which events a subscriber wants: one filter for the gateway's SSE routes and the scheduler's
//! gRPC `EventService`, so both streams admit the same events for the same request.

use std::collections::HashSet;

use uuid::Uuid;

use crate::{EventType, WorkflowEvent};

/// A subscriber's filter. The tenant is always the caller's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter {
    pub tenant: String,
    /// Only this instance's events.
    pub instance_id: Option<Uuid>,
    /// Only events of these types; `None` for every type.
    pub types: Option<HashSet<EventType>>,
}

impl EventFilter {
    pub fn admits(&self, event: &WorkflowEvent) -> bool {
        event.tenant == self.tenant
            && self.instance_id.is_none_or(|id| event.instance_id == id)
            && self
                .types
                .as_ref()
                .is_none_or(|types| types.contains(&event.event_type))
    }
}

/// A name that is no event type; `index` is its place among the names given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event type '{name}'")]
pub struct UnknownEventType {
    pub index: usize,
    pub name: String,
}

/// The event types named by their wire names (`step.completed`), as a filter's `types`.
pub fn parse_event_types<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<HashSet<EventType>, UnknownEventType> {
    names
        .into_iter()
        .enumerate()
        .map(|(index, name)| {
            serde_json::from_value(serde_json::Value::String(name.to_owned())).map_err(|_| {
                UnknownEventType {
                    index,
                    name: name.to_owned(),
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn event(tenant: &str, instance_id: Uuid, event_type: EventType) -> WorkflowEvent {
        WorkflowEvent {
            event_type,
            tenant: tenant.to_owned(),
            instance_id,
            step_id: None,
            status: "running".to_owned(),
            at: Utc::now(),
            data: serde_json::Value::Null,
        }
    }

    #[test]
    fn admits_only_the_tenant_instance_and_types_asked_for() {
        let id = Uuid::nil();
        let other = Uuid::from_u128(1);
        let filter = EventFilter {
            tenant: "acme".to_owned(),
            instance_id: Some(id),
            types: Some(HashSet::from([EventType::StepCompleted])),
        };
        assert!(filter.admits(&event("acme", id, EventType::StepCompleted)));
        assert!(!filter.admits(&event("other", id, EventType::StepCompleted)));
        assert!(!filter.admits(&event("acme", other, EventType::StepCompleted)));
        assert!(!filter.admits(&event("acme", id, EventType::StepFailed)));
        let everything = EventFilter {
            tenant: "acme".to_owned(),
            instance_id: None,
            types: None,
        };
        assert!(everything.admits(&event("acme", other, EventType::StepFailed)));
    }

    #[test]
    fn parses_wire_names_and_names_the_unknown_one() {
        assert_eq!(
            parse_event_types(["step.completed", "instance.failed"]),
            Ok(HashSet::from([
                EventType::StepCompleted,
                EventType::InstanceFailed
            ]))
        );
        assert_eq!(
            parse_event_types(["step.completed", "step.done"]),
            Err(UnknownEventType {
                index: 1,
                name: "step.done".to_owned()
            })
        );
        assert_eq!(
            parse_event_types(["step.done"]).unwrap_err().to_string(),
            "unknown event type 'step.done'"
        );
    }
}
