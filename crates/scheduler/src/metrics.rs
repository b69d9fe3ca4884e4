//! The scheduler's Prometheus series that need more than one line at their call site; the
//! exporter is installed by the binary.

use model::EventType;
use store::Transition;

pub(crate) const INSTANCE_DURATION: &str = "workflow_instance_duration_seconds";

/// Times an instance that this committed transition finished, from its creation (slot wait
/// included) to its end. The template label is the template's id: the name is not at hand in a
/// decision, and ids are as bounded as the tenants' templates; an instance id never is a label.
pub(crate) fn record_finished(transition: &Transition) {
    let Some(instance) = &transition.instance else {
        return;
    };
    let finished = transition.events.iter().any(|event| {
        event.instance_id == instance.id
            && matches!(
                event.event_type,
                EventType::InstanceCompleted
                    | EventType::InstanceFailed
                    | EventType::InstanceCancelled
            )
    });
    if !finished {
        return;
    }
    let ended = instance.completed_at.unwrap_or(instance.updated_at);
    let seconds = (ended - instance.created_at).to_std().unwrap_or_default();
    metrics::histogram!(
        INSTANCE_DURATION,
        "template" => instance.template_id.to_string(),
        "outcome" => instance.status.as_str()
    )
    .record(seconds.as_secs_f64());
}
