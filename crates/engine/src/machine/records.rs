//! Records and events: step execution rows and the events watchers see.

use model::{EventType, StepError, StepExecution, WorkflowEvent};
use serde_json::{Value, json};

use super::Machine;
use crate::api::Command;
use crate::state::Exec;

impl Machine<'_> {
    pub(super) fn save(
        &mut self,
        exec: &Exec,
        output: Option<Value>,
        error: Option<StepError>,
        finished: bool,
    ) {
        let step = self.step_def(&exec.step);
        self.cmds.push(Command::SaveExecution(StepExecution {
            id: exec.id,
            instance_id: self.st.meta.id,
            step_id: exec.step.clone(),
            name: step.and_then(|s| s.name.clone()),
            step_type: step.map_or("action", |s| s.type_name).to_owned(),
            status: exec.status,
            attempt: exec.attempt,
            input: exec.input.clone(),
            output,
            error,
            created_at: exec.created_at,
            started_at: exec.started_at,
            completed_at: finished.then_some(self.now),
        }));
    }

    pub(super) fn emit_instance(&mut self, event_type: EventType, data: Value) {
        self.cmds.push(Command::Emit(WorkflowEvent {
            event_type,
            tenant: self.st.meta.tenant.clone(),
            instance_id: self.st.meta.id,
            step_id: None,
            status: self.st.status.as_str().to_owned(),
            at: self.now,
            data,
        }));
    }

    pub(super) fn emit_step(&mut self, event_type: EventType, exec: &Exec, extra: Value) {
        let mut data = json!({ "execution_id": exec.id, "attempt": exec.attempt });
        if let (Value::Object(d), Value::Object(e)) = (&mut data, extra) {
            d.extend(e);
        }
        self.cmds.push(Command::Emit(WorkflowEvent {
            event_type,
            tenant: self.st.meta.tenant.clone(),
            instance_id: self.st.meta.id,
            step_id: Some(exec.step.clone()),
            status: exec.status.as_str().to_owned(),
            at: self.now,
            data,
        }));
    }
}
