//! The seed README's "Workflow Schema Example" runs exactly as written.

mod common;

use common::{Sim, ok};
use model::{InstanceStatus, JobOutcome, StepStatus};
use serde_json::{Value, json};

fn seed_definition() -> Value {
    json!({
      "steps": [
        {
          "id": "validate_input",
          "name": "Validate Input Data",
          "type": "condition",
          "conditions": [
            { "field": "email", "operator": "contains", "value": "@" }
          ],
          "next_steps": ["send_welcome", "send_error"]
        },
        {
          "id": "send_welcome",
          "name": "Send Welcome Email",
          "type": "action",
          "config": {
            "action": "send_email",
            "to": "{{variables.email}}",
            "subject": "Welcome!",
            "body": "Welcome to our platform!"
          },
          "next_steps": ["log_success"]
        },
        {
          "id": "send_error",
          "name": "Log Invalid Email",
          "type": "action",
          "config": {
            "action": "log_message",
            "message": "Invalid email provided: {{variables.email}}",
            "level": "error"
          }
        },
        {
          "id": "log_success",
          "name": "Log Success",
          "type": "action",
          "config": {
            "action": "log_message",
            "message": "Welcome email sent successfully",
            "level": "info"
          }
        }
      ]
    })
}

#[test]
fn the_seed_example_validates_without_warnings() {
    let validated = engine::validate(&seed_definition()).unwrap();
    assert!(validated.warnings.is_empty(), "{:?}", validated.warnings);
    assert!(engine::custom_actions(&validated.definition).is_empty());
}

#[test]
fn a_valid_email_takes_the_welcome_branch() {
    let mut sim = Sim::new(seed_definition(), json!({"email": "someone@example.com"}));
    sim.start();
    let mut inputs = Vec::new();
    sim.run(|job| {
        inputs.push((job.action.clone(), job.queue.clone(), job.input.clone()));
        ok(job)
    });
    assert_eq!(sim.status(), InstanceStatus::Completed);
    assert_eq!(
        sim.completed_steps(),
        ["validate_input", "send_welcome", "log_success"]
    );
    assert_eq!(inputs[0].0, "send_email");
    assert_eq!(inputs[0].1, model::DEFAULT_QUEUE);
    assert_eq!(inputs[0].2["to"], json!("someone@example.com"));
    assert_eq!(
        inputs[1].2["message"],
        json!("Welcome email sent successfully")
    );
    assert_eq!(
        sim.state.output(),
        Some(&json!({"email": "someone@example.com"}))
    );
    let validate = sim
        .rows
        .values()
        .find(|r| r.step_id == "validate_input")
        .unwrap();
    assert_eq!(validate.output, Some(json!({"result": true})));
    assert_eq!(sim.event_types().first(), Some(&"instance.started"));
    assert_eq!(sim.event_types().last(), Some(&"instance.completed"));
    assert!(sim.jobs.is_empty() && sim.timers.is_empty());
}

#[test]
fn an_invalid_email_takes_the_error_branch() {
    let mut sim = Sim::new(seed_definition(), json!({"email": "bad"}));
    sim.start();
    let mut messages = Vec::new();
    sim.run(|job| {
        messages.push(job.input["message"].clone());
        ok(job)
    });
    assert_eq!(sim.status(), InstanceStatus::Completed);
    assert_eq!(sim.completed_steps(), ["validate_input", "send_error"]);
    assert_eq!(messages, [json!("Invalid email provided: bad")]);
}

#[test]
fn a_failing_step_fails_the_instance() {
    let mut sim = Sim::new(seed_definition(), json!({"email": "a@b.c"}));
    sim.settings.step_retry_limit = 1;
    sim.start();
    sim.finish_next(|_| JobOutcome::Failed(model::StepError::new("smtp", "refused", false)));
    assert_eq!(sim.status(), InstanceStatus::Failed);
    assert_eq!(sim.state.error().unwrap().kind, "smtp");
    assert!(
        sim.steps()
            .contains(&("send_welcome".to_owned(), StepStatus::Failed))
    );
    assert!(sim.jobs.is_empty());
}

#[test]
fn a_missing_variable_is_a_template_error_of_the_step() {
    let mut sim = Sim::new(seed_definition(), json!({}));
    sim.start();
    // `email` is missing: the condition is false, and send_error cannot render its message.
    assert_eq!(sim.status(), InstanceStatus::Failed);
    let error = sim.state.error().unwrap();
    assert_eq!(error.kind, "template_error");
    assert!(!error.retryable);
    assert!(sim.dispatched.is_empty());
}
