//! Retries, timeouts, error routes, loops, variables and lifecycle.

mod common;

use chrono::Duration;
use common::{Sim, ok, t0};
use engine::{Command, Input, Rejection};
use model::{InstanceStatus, JobOutcome, StepError, StepStatus};
use serde_json::json;

fn failing(kind: &str, retryable: bool) -> JobOutcome {
    JobOutcome::Failed(StepError::new(kind, "boom", retryable))
}

fn one_action(extra: serde_json::Value) -> serde_json::Value {
    let mut step = json!({"id": "call", "type": "action", "config": {"action": "http_request", "url": "https://x.test"}});
    step.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    json!({"steps": [step]})
}

#[test]
fn retryable_failures_are_retried_with_exponential_backoff() {
    let def = one_action(
        json!({"retry": {"max_attempts": 3, "backoff": "exponential", "initial_interval_seconds": 2, "multiplier": 3}}),
    );
    let mut sim = Sim::new(def, json!({}));
    sim.start();
    sim.finish_next(|_| failing("http_5xx", true)).unwrap();
    assert!(sim.jobs.is_empty());
    // One pending row for attempt 2, due 2 s later.
    let pending: Vec<_> = sim
        .rows
        .values()
        .filter(|r| r.status == StepStatus::Pending)
        .collect();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].attempt, 2);
    assert!(
        sim.timers
            .values()
            .any(|due| *due == t0() + Duration::seconds(2))
    );
    assert!(sim.event_types().contains(&"step.retrying"));
    sim.now = t0() + Duration::seconds(2);
    sim.fire_next_timer();
    assert_eq!(sim.jobs.len(), 1);
    assert_eq!(sim.jobs[0].attempt, 2);
    sim.finish_next(|_| failing("http_5xx", true)).unwrap();
    assert!(
        sim.timers
            .values()
            .any(|due| *due == sim.now + Duration::seconds(6))
    );
    sim.fire_next_timer();
    sim.finish_next(ok).unwrap();
    assert_eq!(sim.status(), InstanceStatus::Completed);
    let attempts: Vec<(i32, StepStatus)> = sim
        .row_order
        .iter()
        .map(|id| (sim.rows[id].attempt, sim.rows[id].status))
        .collect();
    assert_eq!(
        attempts,
        [
            (1, StepStatus::Failed),
            (2, StepStatus::Failed),
            (3, StepStatus::Completed)
        ]
    );
}

#[test]
fn attempts_stop_at_max_attempts_and_default_to_the_setting() {
    let mut sim = Sim::new(one_action(json!({})), json!({}));
    sim.settings.step_retry_limit = 2;
    sim.start();
    sim.run(|_| failing("network", true));
    assert_eq!(sim.status(), InstanceStatus::Failed);
    assert_eq!(sim.dispatched.len(), 2);
    assert_eq!(sim.state.error().unwrap().kind, "network");
}

#[test]
fn non_retryable_and_unlisted_failures_are_not_retried() {
    let mut sim = Sim::new(one_action(json!({"retry": {"max_attempts": 5}})), json!({}));
    sim.start();
    sim.run(|_| failing("http_4xx", false));
    assert_eq!(sim.dispatched.len(), 1);
    let mut sim = Sim::new(
        one_action(json!({"retry": {"max_attempts": 5, "retry_on": ["timeout"]}})),
        json!({}),
    );
    sim.start();
    sim.run(|_| failing("network", true));
    assert_eq!(sim.dispatched.len(), 1);
    assert_eq!(sim.status(), InstanceStatus::Failed);
}

#[test]
fn a_step_past_its_timeout_is_cancelled_and_fails_with_timeout() {
    let def = one_action(
        json!({"timeout_seconds": 30, "retry": {"max_attempts": 2, "backoff": "fixed", "initial_interval_seconds": 1}}),
    );
    let mut sim = Sim::new(def, json!({}));
    sim.start();
    assert_eq!(sim.jobs[0].deadline, t0() + Duration::seconds(30));
    let first = sim.jobs[0].clone();
    sim.fire_next_timer();
    assert!(sim.commands.contains(&Command::CancelJob {
        execution_id: first.execution_id,
        attempt: 1
    }));
    let failed = &sim.rows[&first.execution_id];
    assert_eq!(failed.status, StepStatus::Failed);
    assert_eq!(failed.error.as_ref().unwrap().kind, "timeout");
    // The late result of the abandoned attempt is ignored.
    let late = sim.input(Input::JobFinished {
        started_at: None,
        execution_id: first.execution_id,
        attempt: 1,
        branch: None,
        outcome: ok(&first),
    });
    assert_eq!(late, Ok(false));
    sim.fire_next_timer();
    assert_eq!(sim.jobs[0].attempt, 2);
    sim.fire_next_timer();
    assert_eq!(sim.status(), InstanceStatus::Failed);
    assert_eq!(sim.state.error().unwrap().kind, "timeout");
}

#[test]
fn the_instance_fails_past_its_timeout_and_cancels_what_runs() {
    let mut def = one_action(json!({"timeout_seconds": 1000}));
    def["timeout_seconds"] = json!(60);
    let mut sim = Sim::new(def, json!({}));
    sim.start();
    let job = sim.jobs[0].clone();
    sim.fire_next_timer();
    assert_eq!(sim.status(), InstanceStatus::Failed);
    assert_eq!(sim.state.error().unwrap().kind, "timeout");
    assert!(sim.commands.contains(&Command::CancelJob {
        execution_id: job.execution_id,
        attempt: 1
    }));
    assert!(sim.timers.is_empty() && sim.jobs.is_empty());
}

#[test]
fn on_error_routes_the_failure_and_exposes_the_error() {
    let def = json!({"steps": [
        {"id": "call", "type": "action", "config": {"action": "http_request", "url": "https://x.test"}, "on_error": "report", "retry": {"max_attempts": 1}},
        {"id": "report", "type": "action", "config": {"action": "log_message", "message": "failed: {{steps.call.error.type}} {{steps.call.error.message}}"}}
    ]});
    let mut sim = Sim::new(def, json!({}));
    sim.start();
    sim.finish_next(|_| failing("http_5xx", true));
    assert_eq!(sim.jobs[0].input["message"], json!("failed: http_5xx boom"));
    sim.run(ok);
    assert_eq!(sim.status(), InstanceStatus::Completed);
}

#[test]
fn loops_run_until_their_condition_ends_them() {
    let def = json!({"steps": [
        {"id": "init", "type": "action", "config": {"action": "set_variable", "name": "count", "value": 0}, "next_steps": ["check"]},
        {"id": "check", "type": "condition", "config": {"field": "count", "operator": "less_than", "value": 3}, "next_steps": ["work"]},
        {"id": "work", "type": "action", "config": {"action": "noop"}, "next_steps": ["bump"]},
        {"id": "bump", "type": "action", "config": {"action": "set_variable", "name": "count", "value": "{{ variables.count + 1 }}"}, "next_steps": ["check"]}
    ]});
    let mut sim = Sim::new(def, json!({}));
    sim.start();
    sim.run(ok);
    assert_eq!(sim.status(), InstanceStatus::Completed);
    assert_eq!(sim.dispatched.len(), 3);
    assert_eq!(sim.state.output(), Some(&json!({"count": 3})));
}

#[test]
fn a_runaway_loop_fails_with_step_limit_exceeded() {
    let def = json!({"steps": [
        {"id": "a", "type": "action", "config": {"action": "set_variable", "name": "x", "value": 1}, "next_steps": ["b"]},
        {"id": "b", "type": "condition", "config": {"field": "x", "operator": "equals", "value": 1}, "next_steps": ["a"]}
    ]});
    let mut sim = Sim::new(def, json!({}));
    sim.settings.max_executions = 50;
    sim.start();
    assert_eq!(sim.status(), InstanceStatus::Failed);
    assert_eq!(sim.state.error().unwrap().kind, "step_limit_exceeded");
    assert_eq!(sim.rows.len(), 50);
}

#[test]
fn output_variable_and_set_variable_change_variables_without_jobs() {
    let def = json!({"steps": [
        {"id": "fetch", "type": "action", "config": {"action": "http_request", "url": "https://x.test", "output_variable": "user"}, "next_steps": ["set"]},
        {"id": "set", "type": "action", "config": {"action": "set_variable", "variables": {"name": "{{ variables.user.body.name }}", "n": "{{ steps.fetch.output.status }}"}}}
    ]});
    let mut sim = Sim::new(def, json!({"keep": true}));
    sim.start();
    sim.run(|_| JobOutcome::Completed(json!({"status": 200, "body": {"name": "Ann"}})));
    assert_eq!(sim.dispatched.len(), 1, "set_variable is no job");
    assert_eq!(
        sim.state.output(),
        Some(
            &json!({"keep": true, "user": {"status": 200, "body": {"name": "Ann"}}, "name": "Ann", "n": 200})
        )
    );
    let set = sim.rows.values().find(|r| r.step_id == "set").unwrap();
    assert_eq!(set.output, Some(json!({"name": "Ann", "n": 200})));
}

#[test]
fn next_steps_fan_out_and_the_instance_completes_when_all_end() {
    let def = json!({"steps": [
        {"id": "a", "type": "action", "config": {"action": "noop"}, "next_steps": ["b", "c"]},
        {"id": "b", "type": "action", "config": {"action": "noop"}},
        {"id": "c", "type": "action", "config": {"action": "custom_thing"}}
    ]});
    let mut sim = Sim::new(def, json!({}));
    sim.start();
    sim.finish_next(ok);
    assert_eq!(sim.jobs.len(), 2);
    assert_eq!(
        sim.jobs[1].queue, "acme/custom_thing",
        "a custom queue lives in its tenant"
    );
    sim.finish_next(ok);
    assert_eq!(sim.status(), InstanceStatus::Running);
    sim.finish_next(ok);
    assert_eq!(sim.status(), InstanceStatus::Completed);
}

#[test]
fn lifecycle_transitions_are_checked() {
    let mut sim = Sim::new(one_action(json!({})), json!({}));
    let refused = |sim: &mut Sim, input: Input| sim.input(input).unwrap_err();
    assert!(matches!(
        refused(&mut sim, Input::Pause),
        Rejection::InvalidTransition {
            status: InstanceStatus::Pending,
            action: "pause"
        }
    ));
    assert!(matches!(
        refused(&mut sim, Input::Resume),
        Rejection::InvalidTransition { .. }
    ));
    sim.start();
    assert!(matches!(
        refused(&mut sim, Input::Start),
        Rejection::InvalidTransition {
            status: InstanceStatus::Running,
            ..
        }
    ));
    assert!(matches!(
        refused(&mut sim, Input::Resume),
        Rejection::InvalidTransition { .. }
    ));
    sim.input(Input::Pause).unwrap();
    assert!(matches!(
        refused(&mut sim, Input::Pause),
        Rejection::InvalidTransition {
            status: InstanceStatus::Paused,
            ..
        }
    ));
    sim.input(Input::Resume).unwrap();
    sim.input(Input::Cancel).unwrap();
    for input in [Input::Start, Input::Pause, Input::Resume, Input::Cancel] {
        assert!(matches!(
            refused(&mut sim, input),
            Rejection::InvalidTransition {
                status: InstanceStatus::Cancelled,
                ..
            }
        ));
    }
    assert_eq!(
        refused(
            &mut sim,
            Input::Event {
                name: "x".into(),
                data: json!(null)
            }
        ),
        Rejection::Finished {
            status: InstanceStatus::Cancelled
        }
    );
}

#[test]
fn cancel_stops_running_work_and_ignores_late_results() {
    let mut sim = Sim::new(one_action(json!({})), json!({}));
    sim.start();
    let job = sim.jobs[0].clone();
    sim.input(Input::Cancel).unwrap();
    assert_eq!(sim.status(), InstanceStatus::Cancelled);
    assert!(sim.commands.contains(&Command::CancelJob {
        execution_id: job.execution_id,
        attempt: 1
    }));
    assert_eq!(sim.rows[&job.execution_id].status, StepStatus::Cancelled);
    assert!(sim.timers.is_empty());
    assert!(sim.event_types().contains(&"step.cancelled"));
    let late = sim.input(Input::JobFinished {
        started_at: None,
        execution_id: job.execution_id,
        attempt: 1,
        branch: None,
        outcome: ok(&job),
    });
    assert_eq!(late, Ok(false));
}

#[test]
fn cancel_is_allowed_from_pending() {
    let mut sim = Sim::new(one_action(json!({})), json!({}));
    sim.input(Input::Cancel).unwrap();
    assert_eq!(sim.status(), InstanceStatus::Cancelled);
    assert!(sim.state.completed_at().is_some());
}

#[test]
fn pause_lets_running_steps_finish_but_starts_nothing_until_resume() {
    let def = json!({"steps": [
        {"id": "a", "type": "action", "config": {"action": "noop"}, "next_steps": ["b"]},
        {"id": "b", "type": "action", "config": {"action": "noop"}}
    ]});
    let mut sim = Sim::new(def, json!({}));
    sim.start();
    assert!(sim.state.holds_slot());
    sim.input(Input::Pause).unwrap();
    assert!(!sim.state.holds_slot());
    sim.finish_next(ok);
    assert!(sim.jobs.is_empty(), "nothing new starts while paused");
    assert_eq!(sim.status(), InstanceStatus::Paused);
    assert!(sim.steps().contains(&("b".to_owned(), StepStatus::Pending)));
    sim.input(Input::Resume).unwrap();
    assert_eq!(sim.jobs.len(), 1);
    assert_eq!(sim.jobs[0].step_id, "b");
    sim.finish_next(ok);
    assert_eq!(sim.status(), InstanceStatus::Completed);
}

#[test]
fn timers_firing_while_paused_are_held_until_resume() {
    let def = json!({"steps": [
        {"id": "sleep", "type": "wait", "config": {"wait_type": "duration", "duration": "5m"}, "next_steps": ["after"]},
        {"id": "after", "type": "action", "config": {"action": "noop"}}
    ]});
    let mut sim = Sim::new(def, json!({}));
    sim.start();
    assert!(!sim.state.holds_slot(), "a wait holds no slot");
    sim.input(Input::Pause).unwrap();
    sim.fire_next_timer();
    assert!(sim.jobs.is_empty());
    assert!(
        sim.steps()
            .contains(&("sleep".to_owned(), StepStatus::Waiting))
    );
    sim.input(Input::Resume).unwrap();
    assert!(
        sim.steps()
            .contains(&("sleep".to_owned(), StepStatus::Completed))
    );
    assert_eq!(sim.jobs.len(), 1);
}

#[test]
fn job_started_marks_running_once_and_stale_inputs_are_no_ops() {
    let mut sim = Sim::new(one_action(json!({})), json!({}));
    sim.start();
    let job = sim.jobs[0].clone();
    let started = Input::JobStarted {
        execution_id: job.execution_id,
        attempt: 1,
        branch: None,
    };
    assert_eq!(sim.input(started.clone()), Ok(true));
    assert_eq!(sim.rows[&job.execution_id].status, StepStatus::Running);
    assert!(sim.rows[&job.execution_id].started_at.is_some());
    assert!(sim.event_types().contains(&"step.started"));
    assert_eq!(sim.input(started), Ok(false));
    let wrong_attempt = Input::JobFinished {
        started_at: None,
        execution_id: job.execution_id,
        attempt: 2,
        branch: None,
        outcome: ok(&job),
    };
    assert_eq!(sim.input(wrong_attempt), Ok(false));
    assert_eq!(
        sim.input(Input::Timer {
            timer_id: uuid::Uuid::from_u128(99)
        }),
        Ok(false)
    );
}

#[test]
fn decisions_are_deterministic_for_a_seed() {
    let run = || {
        let mut sim = Sim::new(one_action(json!({})), json!({}));
        sim.start();
        sim.run(ok);
        (sim.commands, sim.state)
    };
    let (a, sa) = run();
    let (b, sb) = run();
    assert_eq!(a, b);
    assert_eq!(sa, sb);
}

#[test]
fn a_finished_job_keeps_the_start_time_its_worker_reported() {
    let mut sim = Sim::new(
        json!({"steps": [{"id": "a", "type": "action", "config": {"action": "noop"}}]}),
        json!({}),
    );
    sim.start();
    sim.advance(5);
    let began = sim.now - Duration::seconds(3);
    let job = sim.jobs[0].clone();
    sim.input(Input::JobFinished {
        started_at: Some(began),
        execution_id: job.execution_id,
        attempt: job.attempt,
        branch: job.branch,
        outcome: JobOutcome::Completed(json!({})),
    })
    .unwrap();
    assert_eq!(sim.rows[&job.execution_id].started_at, Some(began));
    // A worker clock ahead of the scheduler's is not believed.
    let mut sim = Sim::new(
        json!({"steps": [{"id": "a", "type": "action", "config": {"action": "noop"}}]}),
        json!({}),
    );
    sim.start();
    let job = sim.jobs[0].clone();
    sim.input(Input::JobFinished {
        started_at: Some(sim.now + Duration::seconds(60)),
        execution_id: job.execution_id,
        attempt: job.attempt,
        branch: job.branch,
        outcome: JobOutcome::Completed(json!({})),
    })
    .unwrap();
    assert_eq!(sim.rows[&job.execution_id].started_at, Some(sim.now));
}
