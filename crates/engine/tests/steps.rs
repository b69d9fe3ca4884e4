//! wait, parallel and subflow steps.

mod common;

use chrono::Duration;
use common::{Sim, meta, ok, t0};
use engine::{Command, Input};
use model::{InstanceStatus, JobOutcome, StepError, StepStatus};
use serde_json::json;
use uuid::Uuid;

fn failing(kind: &str, retryable: bool) -> JobOutcome {
    JobOutcome::Failed(StepError::new(kind, "boom", retryable))
}

fn wait_then_log(wait: serde_json::Value) -> serde_json::Value {
    json!({"steps": [
        {"id": "wait", "type": "wait", "config": wait, "next_steps": ["log"]},
        {"id": "log", "type": "action", "config": {"action": "log_message", "message": "got {{ steps.wait.output }}"}}
    ]})
}

#[test]
fn a_duration_wait_sets_a_timer_and_continues_when_it_fires() {
    for (config, secs) in [
        (json!({"wait_type": "duration", "duration": "90s"}), 90),
        (json!({"wait_type": "duration", "duration": "PT1M30S"}), 90),
        (json!({"wait_type": "duration", "seconds": 5}), 5),
    ] {
        let mut sim = Sim::new(wait_then_log(config), json!({}));
        sim.start();
        assert_eq!(
            sim.timers.values().copied().collect::<Vec<_>>(),
            [t0() + Duration::seconds(secs)]
        );
        assert!(sim.event_types().contains(&"step.waiting"));
        assert!(sim.jobs.is_empty());
        sim.fire_next_timer();
        assert_eq!(sim.jobs.len(), 1);
        sim.run(ok);
        assert_eq!(sim.status(), InstanceStatus::Completed);
    }
}

#[test]
fn a_wait_outputs_the_time_it_waited_for_even_when_its_timer_fires_late() {
    for (config, due) in [
        (
            json!({"wait_type": "duration", "seconds": 5}),
            t0() + Duration::seconds(5),
        ),
        (
            json!({"wait_type": "until", "until": "2026-01-02T00:00:00Z"}),
            t0() + Duration::days(1),
        ),
    ] {
        let mut sim = Sim::new(wait_then_log(config), json!({}));
        sim.start();
        let timer = *sim.timers.keys().next().unwrap();
        // The timer is delivered a little after it was due, as a sweeper does.
        sim.now = due + Duration::milliseconds(750);
        sim.timers.remove(&timer);
        sim.input(Input::Timer { timer_id: timer }).unwrap();
        let wait = sim.rows.values().find(|r| r.step_id == "wait").unwrap();
        assert_eq!(wait.status, StepStatus::Completed);
        assert_eq!(wait.output, Some(json!({ "waited_until": due })));
        assert_eq!(wait.input.as_ref().unwrap()["until"], json!(due));
    }
}

#[test]
fn an_until_wait_in_the_past_continues_at_once_and_a_future_one_waits() {
    let mut sim = Sim::new(
        wait_then_log(json!({"wait_type": "until", "until": "{{ variables.at }}"})),
        json!({"at": "2025-01-01T00:00:00Z"}),
    );
    sim.start();
    assert_eq!(sim.jobs.len(), 1);
    let mut sim = Sim::new(
        wait_then_log(json!({"wait_type": "until", "until": "2026-01-02T00:00:00Z"})),
        json!({}),
    );
    sim.start();
    assert_eq!(
        sim.timers.values().copied().collect::<Vec<_>>(),
        [t0() + Duration::days(1)]
    );
    let mut sim = Sim::new(
        wait_then_log(json!({"wait_type": "until", "until": "{{ variables.at }}"})),
        json!({"at": "soon"}),
    );
    sim.start();
    assert_eq!(sim.status(), InstanceStatus::Failed);
    assert_eq!(sim.state.error().unwrap().kind, "invalid_config");
}

#[test]
fn an_event_wait_takes_the_event_data_as_output() {
    let mut sim = Sim::new(
        wait_then_log(json!({"wait_type": "event", "event": "approval"})),
        json!({}),
    );
    sim.start();
    assert!(!sim.state.holds_slot());
    sim.input(Input::Event {
        name: "other".into(),
        data: json!(1),
    })
    .unwrap();
    assert!(sim.jobs.is_empty());
    sim.input(Input::Event {
        name: "approval".into(),
        data: json!({"ok": true}),
    })
    .unwrap();
    assert_eq!(sim.jobs[0].input["message"], json!("got {\"ok\":true}"));
    let row = sim.rows.values().find(|r| r.step_id == "wait").unwrap();
    assert_eq!(row.output, Some(json!({"ok": true})));
}

#[test]
fn early_events_are_buffered_first_in_first_out() {
    let def = json!({"steps": [
        {"id": "first", "type": "action", "config": {"action": "noop"}, "next_steps": ["w1"]},
        {"id": "w1", "type": "wait", "config": {"wait_type": "event", "event": "go"}, "next_steps": ["w2"]},
        {"id": "w2", "type": "wait", "config": {"wait_type": "event", "event": "go"}}
    ]});
    let mut sim = Sim::new(def, json!({}));
    sim.input(Input::Event {
        name: "go".into(),
        data: json!(1),
    })
    .unwrap();
    sim.start();
    sim.input(Input::Event {
        name: "go".into(),
        data: json!(2),
    })
    .unwrap();
    sim.finish_next(ok);
    assert_eq!(sim.status(), InstanceStatus::Completed);
    let outputs: Vec<_> = sim
        .row_order
        .iter()
        .map(|id| &sim.rows[id])
        .filter(|r| r.step_id.starts_with('w'))
        .map(|r| r.output.clone().unwrap())
        .collect();
    assert_eq!(outputs, [json!(1), json!(2)]);
}

#[test]
fn an_event_wait_with_a_timeout_fails_with_timeout() {
    let mut sim = Sim::new(
        wait_then_log(json!({"wait_type": "event", "event": "approval", "timeout": "1h"})),
        json!({}),
    );
    sim.start();
    assert_eq!(
        sim.timers.values().copied().collect::<Vec<_>>(),
        [t0() + Duration::hours(1)]
    );
    sim.fire_next_timer();
    assert_eq!(sim.status(), InstanceStatus::Failed);
    assert_eq!(sim.state.error().unwrap().kind, "timeout");
    // Late event: the instance is finished.
    assert!(
        sim.input(Input::Event {
            name: "approval".into(),
            data: json!(null)
        })
        .is_err()
    );
}

fn parallel(config: serde_json::Value, retry: serde_json::Value) -> serde_json::Value {
    json!({"steps": [
        {"id": "par", "type": "parallel", "config": config, "retry": retry, "next_steps": ["after"]},
        {"id": "after", "type": "action", "config": {"action": "log_message", "message": "{{ steps.par.output }}"}}
    ]})
}

fn three_branches(extra: serde_json::Value) -> serde_json::Value {
    let mut config = json!({"parallel_steps": [
        {"action": "process_data_1", "n": 1}, {"action": "process_data_2", "n": "{{ variables.two }}", "output_variable": "second"}, {"action": "noop"}
    ]});
    config
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    config
}

#[test]
fn parallel_branches_run_as_jobs_and_outputs_keep_their_order() {
    let mut sim = Sim::new(
        parallel(three_branches(json!({})), json!(null)),
        json!({"two": 2}),
    );
    sim.start();
    assert_eq!(sim.jobs.len(), 3);
    let queues: Vec<_> = sim
        .jobs
        .iter()
        .map(|j| (j.queue.clone(), j.branch))
        .collect();
    assert_eq!(
        queues,
        [
            ("acme/process_data_1".into(), Some(0)),
            ("acme/process_data_2".into(), Some(1)),
            ("default".into(), Some(2))
        ]
    );
    assert_eq!(sim.jobs[1].input["n"], json!(2));
    let step_exec = sim.rows.values().find(|r| r.step_id == "par").unwrap().id;
    assert!(
        sim.jobs.iter().all(|j| j.execution_id != step_exec),
        "each branch job has its own id"
    );
    let jobs = sim.jobs.clone();
    sim.input(Input::JobStarted {
        execution_id: jobs[2].execution_id,
        attempt: 1,
        branch: Some(2),
    })
    .unwrap();
    assert_eq!(sim.rows[&step_exec].status, StepStatus::Running);
    // Finish in reverse order; the output stays in branch order.
    for job in jobs.iter().rev() {
        let n = job.branch.unwrap();
        sim.input(Input::JobFinished {
            started_at: None,
            execution_id: job.execution_id,
            attempt: 1,
            branch: job.branch,
            outcome: JobOutcome::Completed(json!(n)),
        })
        .unwrap();
    }
    assert_eq!(sim.rows[&step_exec].output, Some(json!([0, 1, 2])));
    assert_eq!(
        sim.state.variables()["second"],
        json!(1),
        "a branch's output_variable is set"
    );
    assert_eq!(sim.jobs[0].step_id, "after");
    sim.run(ok);
    assert_eq!(sim.status(), InstanceStatus::Completed);
}

#[test]
fn fail_fast_cancels_the_other_branches() {
    let mut sim = Sim::new(
        parallel(three_branches(json!({})), json!({"max_attempts": 1})),
        json!({"two": 2}),
    );
    sim.start();
    let jobs = sim.jobs.clone();
    sim.input(Input::JobFinished {
        started_at: None,
        execution_id: jobs[1].execution_id,
        attempt: 1,
        branch: Some(1),
        outcome: failing("x", false),
    })
    .unwrap();
    assert_eq!(sim.status(), InstanceStatus::Failed);
    for j in [&jobs[0], &jobs[2]] {
        assert!(sim.commands.contains(&Command::CancelJob {
            execution_id: j.execution_id,
            attempt: 1
        }));
    }
    assert!(sim.jobs.is_empty() && sim.timers.is_empty());
    assert!(sim.state.error().unwrap().message.contains("branch 1"));
}

#[test]
fn wait_all_runs_every_branch_and_lists_every_error() {
    let mut sim = Sim::new(
        parallel(
            three_branches(json!({"failure_mode": "wait_all"})),
            json!({"max_attempts": 1}),
        ),
        json!({"two": 2}),
    );
    sim.start();
    let jobs = sim.jobs.clone();
    sim.input(Input::JobFinished {
        started_at: None,
        execution_id: jobs[0].execution_id,
        attempt: 1,
        branch: Some(0),
        outcome: failing("a", false),
    })
    .unwrap();
    assert_eq!(sim.status(), InstanceStatus::Running);
    sim.input(Input::JobFinished {
        started_at: None,
        execution_id: jobs[1].execution_id,
        attempt: 1,
        branch: Some(1),
        outcome: ok(&jobs[1]),
    })
    .unwrap();
    sim.input(Input::JobFinished {
        started_at: None,
        execution_id: jobs[2].execution_id,
        attempt: 1,
        branch: Some(2),
        outcome: failing("c", false),
    })
    .unwrap();
    assert_eq!(sim.status(), InstanceStatus::Failed);
    let error = sim.state.error().unwrap();
    assert_eq!(error.kind, "parallel_failed");
    assert!(
        error.message.contains("branch 0") && error.message.contains("branch 2"),
        "{}",
        error.message
    );
}

#[test]
fn max_concurrency_limits_branches_in_flight() {
    let mut sim = Sim::new(
        parallel(three_branches(json!({"max_concurrency": 1})), json!(null)),
        json!({"two": 2}),
    );
    sim.start();
    assert_eq!(sim.jobs.len(), 1);
    sim.finish_next(ok);
    assert_eq!(sim.jobs.len(), 1);
    assert_eq!(sim.jobs[0].branch, Some(1));
    sim.run(ok);
    assert_eq!(sim.status(), InstanceStatus::Completed);
    assert_eq!(sim.dispatched.len(), 4);
}

#[test]
fn branches_retry_on_their_own() {
    let mut sim = Sim::new(
        parallel(
            three_branches(json!({})),
            json!({"max_attempts": 2, "initial_interval_seconds": 1}),
        ),
        json!({"two": 2}),
    );
    sim.start();
    let jobs = sim.jobs.clone();
    sim.input(Input::JobFinished {
        started_at: None,
        execution_id: jobs[1].execution_id,
        attempt: 1,
        branch: Some(1),
        outcome: failing("network", true),
    })
    .unwrap();
    assert_eq!(sim.jobs.len(), 2);
    assert!(sim.event_types().contains(&"step.retrying"));
    // Branch 1's backoff timer is the earliest.
    sim.fire_next_timer();
    let retried = sim.jobs.iter().find(|j| j.branch == Some(1)).unwrap();
    assert_eq!(retried.attempt, 2);
    assert_ne!(retried.execution_id, jobs[1].execution_id);
    sim.run(ok);
    assert_eq!(sim.status(), InstanceStatus::Completed);
    assert_eq!(sim.dispatched.len(), 5);
}

fn subflow(config: serde_json::Value) -> serde_json::Value {
    json!({"steps": [
        {"id": "sub", "type": "subflow", "config": config, "next_steps": ["after"]},
        {"id": "after", "type": "action", "config": {"action": "log_message", "message": "{{ steps.sub.output.result }}"}}
    ]})
}

fn spawned(sim: &Sim) -> (Uuid, Uuid, serde_json::Value, u32, String) {
    sim.commands
        .iter()
        .find_map(|c| match c {
            Command::SpawnChild {
                execution_id,
                child_instance_id,
                variables,
                depth,
                subflow,
                ..
            } => Some((
                *execution_id,
                *child_instance_id,
                variables.clone(),
                *depth,
                subflow.clone(),
            )),
            _ => None,
        })
        .unwrap()
}

#[test]
fn a_subflow_spawns_a_child_and_takes_its_variables_as_output() {
    let mut sim = Sim::new(
        subflow(json!({"subflow_id": "data_processing", "variables": {"x": "{{ variables.x }}"}})),
        json!({"x": 5, "y": 1}),
    );
    sim.start();
    let (exec, child, vars, depth, target) = spawned(&sim);
    assert_eq!(
        (vars, depth, target.as_str()),
        (json!({"x": 5}), 1, "data_processing")
    );
    assert!(!sim.state.holds_slot(), "the child holds its own slot");
    assert_eq!(
        sim.input(Input::ChildFinished {
            execution_id: exec,
            child_instance_id: Uuid::from_u128(5),
            outcome: ok_value()
        }),
        Ok(false)
    );
    sim.input(Input::ChildFinished {
        execution_id: exec,
        child_instance_id: child,
        outcome: JobOutcome::Completed(json!({"result": "done"})),
    })
    .unwrap();
    assert_eq!(sim.jobs[0].input["message"], json!("done"));
}

fn ok_value() -> JobOutcome {
    JobOutcome::Completed(json!({}))
}

#[test]
fn without_variables_the_child_gets_a_copy_and_failures_fail_the_step() {
    let mut sim = Sim::new(subflow(json!({"subflow_id": "t"})), json!({"x": 5}));
    sim.start();
    let (exec, child, vars, _, _) = spawned(&sim);
    assert_eq!(vars, json!({"x": 5}));
    sim.input(Input::ChildFinished {
        execution_id: exec,
        child_instance_id: child,
        outcome: JobOutcome::Failed(StepError::new(
            "subflow_not_found",
            "no such template",
            false,
        )),
    })
    .unwrap();
    assert_eq!(sim.status(), InstanceStatus::Failed);
    assert_eq!(sim.state.error().unwrap().kind, "subflow_not_found");
}

#[test]
fn cancelling_the_parent_cancels_the_child() {
    let mut sim = Sim::new(subflow(json!({"subflow_id": "t"})), json!({}));
    sim.start();
    let (_, child, ..) = spawned(&sim);
    sim.input(Input::Cancel).unwrap();
    assert!(sim.commands.contains(&Command::CancelChild {
        child_instance_id: child
    }));
}

#[test]
fn subflows_deeper_than_the_limit_fail_the_step() {
    let mut m = meta();
    m.depth = 32;
    m.parent_instance_id = Some(Uuid::from_u128(7));
    m.parent_execution_id = Some(Uuid::from_u128(8));
    let mut sim = Sim::new(subflow(json!({"subflow_id": "t"})), json!({})).with_meta(m);
    sim.start();
    assert_eq!(sim.status(), InstanceStatus::Failed);
    assert_eq!(sim.state.error().unwrap().kind, "subflow_depth_exceeded");
    // A child tells its parent how it ended.
    assert!(sim.commands.iter().any(|c| matches!(c,
        Command::NotifyParent { parent_instance_id, execution_id, outcome: JobOutcome::Failed(_) }
            if *parent_instance_id == Uuid::from_u128(7) && *execution_id == Uuid::from_u128(8))));
}

#[test]
fn a_child_that_completes_notifies_its_parent_with_its_variables() {
    let mut m = meta();
    m.depth = 1;
    m.parent_instance_id = Some(Uuid::from_u128(7));
    m.parent_execution_id = Some(Uuid::from_u128(8));
    let def = json!({"steps": [{"id": "s", "type": "action", "config": {"action": "set_variable", "name": "result", "value": "done"}}]});
    let mut sim = Sim::new(def, json!({"x": 1})).with_meta(m);
    sim.start();
    assert_eq!(sim.status(), InstanceStatus::Completed);
    assert!(sim.commands.contains(&Command::NotifyParent {
        parent_instance_id: Uuid::from_u128(7),
        execution_id: Uuid::from_u128(8),
        outcome: JobOutcome::Completed(json!({"x": 1, "result": "done"})),
    }));
}
