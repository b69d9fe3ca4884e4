//! What a durable timer carries. Timers are the engine's own (a wait, a retry backoff, a step
//! deadline) and also the outbox for work between instances: starting a child, cancelling it,
//! telling a parent its child ended. Written in the transaction of the decision that made them,
//! they survive any crash between that decision and the work it asks for. `core::fire_timers`
//! carries them out.

use engine::Input;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Outbox {
    /// Feed this input to the timer's instance.
    Input { input: Input },
    /// Resolve a subflow's template and create its child instance (the timer's instance is the
    /// parent).
    SpawnChild {
        tenant: String,
        execution_id: Uuid,
        child_instance_id: Uuid,
        subflow: String,
        version: Option<i32>,
        variables: serde_json::Value,
        depth: u32,
    },
}

impl Outbox {
    /// The timer's payload. Never `null`: a payload that does not decode would be a timer that
    /// fires into nothing, so an outbox that could not encode must not be written at all.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        // Infallible: every variant is a struct variant (as is every `Input`, so the internal
        // tags have a map to go in) and every map key is a string; the test below encodes each.
        serde_json::to_value(self).expect("an outbox entry encodes as JSON")
    }
}

#[cfg(test)]
mod tests {
    use model::JobOutcome;

    use super::*;

    #[test]
    fn every_outbox_entry_encodes_and_decodes() {
        let id = Uuid::from_u128(7);
        let inputs = [
            Input::Start,
            Input::Pause,
            Input::Resume,
            Input::Cancel,
            Input::JobStarted {
                execution_id: id,
                attempt: 1,
                branch: Some(2),
            },
            Input::JobFinished {
                execution_id: id,
                attempt: 1,
                branch: None,
                outcome: JobOutcome::Completed(serde_json::json!({"k": [1, "v"]})),
                started_at: None,
            },
            Input::Timer { timer_id: id },
            Input::Event {
                name: "approved".to_owned(),
                data: serde_json::json!({"by": "me"}),
            },
            Input::ChildFinished {
                execution_id: id,
                child_instance_id: id,
                outcome: JobOutcome::Completed(serde_json::Value::Null),
            },
        ];
        let mut entries: Vec<Outbox> = inputs
            .into_iter()
            .map(|input| Outbox::Input { input })
            .collect();
        entries.push(Outbox::SpawnChild {
            tenant: "acme".to_owned(),
            execution_id: id,
            child_instance_id: id,
            subflow: "child".to_owned(),
            version: Some(3),
            variables: serde_json::json!({"a": 1}),
            depth: 1,
        });
        for entry in entries {
            let json = entry.to_json();
            assert!(json.is_object(), "{json}");
            let back: Outbox = serde_json::from_value(json.clone()).unwrap();
            assert_eq!(back.to_json(), json);
        }
    }
}
