//! Property tests: random valid definitions driven by random inputs in random order never
//! panic, never reach an illegal state, never lose a running step, and always end once every
//! result is delivered.

mod common;

use common::Sim;
use engine::{Input, Rejection};
use model::{InstanceStatus, JobOutcome, StepError, StepStatus};
use proptest::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

/// Draws small numbers from a fixed list of random words.
struct Src<'a> {
    words: &'a [u32],
    at: usize,
}

impl Src<'_> {
    fn next(&mut self, bound: u32) -> u32 {
        let w = self
            .words
            .get(self.at % self.words.len().max(1))
            .copied()
            .unwrap_or(0);
        self.at += 1;
        w.rotate_left(self.at as u32 % 32) % bound.max(1)
    }
    fn flip(&mut self) -> bool {
        self.next(2) == 1
    }
}

fn build_definition(r: &mut Src) -> Value {
    let n = 1 + r.next(6) as usize;
    let id = |i: usize| format!("s{i}");
    let mut steps = Vec::new();
    for i in 0..n {
        let kind = r.next(9);
        let action = |r: &mut Src| match r.next(3) {
            0 => json!({"action": "noop"}),
            1 => json!({"action": "work_queue", "item": "{{ instance.id }}"}),
            _ => {
                json!({"action": "http_request", "url": "https://example.test/{{ variables.v0 | default('x') }}"})
            }
        };
        let mut step = match kind {
            0 | 1 => json!({"type": "action", "config": action(r)}),
            2 => {
                json!({"type": "action", "config": {"action": "set_variable", "name": "v0", "value": r.next(3)}})
            }
            3 => {
                let operator = ["equals", "less_than", "exists", "not_in"][r.next(4) as usize];
                let value = if operator == "not_in" {
                    json!([1])
                } else {
                    json!(1)
                };
                json!({"type": "condition", "config": {"field": "v0", "operator": operator, "value": value}})
            }
            4 => json!({"type": "wait", "config": {"wait_type": "duration", "duration": "5s"}}),
            5 => {
                let mut config = json!({"wait_type": "event", "event": format!("e{}", r.next(2))});
                if r.flip() {
                    config["timeout"] = json!("1m");
                }
                json!({"type": "wait", "config": config})
            }
            6 | 7 => {
                let branches: Vec<Value> = (0..1 + r.next(3)).map(|_| action(r)).collect();
                let mut config = json!({"parallel_steps": branches, "failure_mode": if r.flip() { "fail_fast" } else { "wait_all" }});
                if r.flip() {
                    config["max_concurrency"] = json!(1 + r.next(2));
                }
                json!({"type": "parallel", "config": config})
            }
            _ => json!({"type": "subflow", "config": {"subflow_id": "child"}}),
        };
        step["id"] = json!(id(i));
        let next: Vec<String> = (0..r.next(3))
            .map(|_| id(r.next(n as u32) as usize))
            .collect();
        step["next_steps"] = json!(next);
        if r.next(4) == 0 {
            step["on_error"] = json!(id(r.next(n as u32) as usize));
        }
        if r.flip() {
            let backoff = ["fixed", "linear", "exponential"][r.next(3) as usize];
            step["retry"] = json!({"max_attempts": 1 + r.next(3), "initial_interval_seconds": 1, "jitter": r.flip(), "backoff": backoff});
        }
        if r.next(3) == 0 {
            step["timeout_seconds"] = json!(10);
        }
        steps.push(step);
    }
    let mut def = json!({"steps": steps});
    if r.next(4) == 0 {
        def["timeout_seconds"] = json!(600);
    }
    def
}

fn non_terminal(status: StepStatus) -> bool {
    !status.is_terminal()
}

/// What must hold after every decision, seen from outside the engine.
fn check_invariants(sim: &Sim) {
    let status = sim.status();
    if status.is_terminal() {
        assert!(sim.jobs.is_empty(), "{status} instance with job rows");
        assert!(sim.timers.is_empty(), "{status} instance with timers");
        assert!(sim.children.is_empty(), "{status} instance with children");
        assert!(
            sim.rows.values().all(|r| r.status.is_terminal()),
            "{status} instance with an unfinished execution: {:?}",
            sim.steps()
        );
        return;
    }
    for row in sim.rows.values() {
        if matches!(row.status, StepStatus::Queued | StepStatus::Running)
            && row.step_type != "parallel"
        {
            assert!(
                sim.jobs.iter().any(|j| j.execution_id == row.id),
                "lost the job of {}",
                row.step_id
            );
        }
        if row.status == StepStatus::Waiting && row.step_type == "subflow" {
            assert!(
                sim.children.iter().any(|(e, _)| *e == row.id),
                "lost the child of {}",
                row.step_id
            );
        }
    }
    for job in &sim.jobs {
        let owner = sim.rows.values().any(|r| {
            matches!(r.status, StepStatus::Queued | StepStatus::Running)
                && (r.id == job.execution_id
                    || (job.branch.is_some()
                        && r.step_type == "parallel"
                        && r.step_id == job.step_id))
        });
        assert!(owner, "job row of {} without a live execution", job.step_id);
    }
    let pending = sim.rows.values().any(|r| r.status == StepStatus::Pending);
    if status == InstanceStatus::Running && pending {
        assert!(
            !sim.timers.is_empty(),
            "a pending execution of a running instance with no timer"
        );
    }
    let slot = status == InstanceStatus::Running
        && sim
            .rows
            .values()
            .any(|r| matches!(r.status, StepStatus::Queued | StepStatus::Running));
    assert_eq!(sim.state.holds_slot(), slot);
    if status == InstanceStatus::Running {
        assert!(
            sim.rows.values().any(|r| non_terminal(r.status)),
            "a running instance with nothing running, waiting or due must have completed"
        );
    }
}

fn lifecycle_allowed(input: &Input, status: InstanceStatus) -> bool {
    match input {
        Input::Start => status == InstanceStatus::Pending,
        Input::Pause => status == InstanceStatus::Running,
        Input::Resume => status == InstanceStatus::Paused,
        Input::Cancel => !status.is_terminal(),
        Input::Event { .. } => !status.is_terminal(),
        _ => true,
    }
}

fn feed(sim: &mut Sim, input: Input) {
    let before = sim.status();
    match sim.input(input.clone()) {
        Ok(_) => assert!(
            lifecycle_allowed(&input, before),
            "{input:?} accepted while {before}"
        ),
        Err(Rejection::InvalidTransition { status, .. }) | Err(Rejection::Finished { status }) => {
            assert_eq!(status, before);
            assert!(
                !lifecycle_allowed(&input, before),
                "{input:?} refused while {before}"
            );
        }
    }
    check_invariants(sim);
}

fn outcome(choice: u32) -> JobOutcome {
    match choice % 4 {
        0 => JobOutcome::Failed(StepError::new("network", "unreachable", true)),
        1 => JobOutcome::Failed(StepError::new("http_4xx", "bad request", false)),
        _ => JobOutcome::Completed(json!({"ok": choice})),
    }
}

fn drive(words: &[u32], script: &[u32]) {
    let mut src = Src { words, at: 0 };
    let def = build_definition(&mut src);
    let mut sim = Sim::new(def.clone(), json!({"v0": 1}));
    sim.settings.max_executions = 150;
    sim.settings.step_retry_limit = 2;
    let mut finished: Vec<Input> = Vec::new();
    for &c in script {
        let pick = |len: usize| (c as usize / 16) % len.max(1);
        match c % 16 {
            0 => feed(&mut sim, Input::Start),
            1 => feed(&mut sim, Input::Pause),
            2 => feed(&mut sim, Input::Resume),
            3 if c % 7 == 0 => feed(&mut sim, Input::Cancel),
            4..=7 if !sim.jobs.is_empty() => {
                let job = sim.jobs[pick(sim.jobs.len())].clone();
                let input = Input::JobFinished {
                    started_at: None,
                    execution_id: job.execution_id,
                    attempt: job.attempt,
                    branch: job.branch,
                    outcome: outcome(c / 16),
                };
                feed(&mut sim, input.clone());
                finished.push(input);
            }
            8 if !sim.jobs.is_empty() => {
                let job = sim.jobs[pick(sim.jobs.len())].clone();
                feed(
                    &mut sim,
                    Input::JobStarted {
                        execution_id: job.execution_id,
                        attempt: job.attempt,
                        branch: job.branch,
                    },
                );
            }
            9 | 10 if !sim.timers.is_empty() => {
                let (&id, &due) = sim.timers.iter().nth(pick(sim.timers.len())).unwrap();
                sim.now = sim.now.max(due);
                sim.timers.remove(&id);
                feed(&mut sim, Input::Timer { timer_id: id });
            }
            11 => feed(
                &mut sim,
                Input::Event {
                    name: format!("e{}", c / 16 % 2),
                    data: json!(c),
                },
            ),
            12 if !sim.children.is_empty() => {
                let (exec, child) = sim.children.remove(pick(sim.children.len()));
                feed(
                    &mut sim,
                    Input::ChildFinished {
                        execution_id: exec,
                        child_instance_id: child,
                        outcome: outcome(c / 16),
                    },
                );
            }
            13 if !finished.is_empty() => {
                // A duplicate delivery changes nothing.
                let again = finished[pick(finished.len())].clone();
                assert_eq!(sim.input(again), Ok(false));
            }
            14 => {
                let stale = Input::JobFinished {
                    started_at: None,
                    execution_id: Uuid::from_u128(u128::from(c)),
                    attempt: 1,
                    branch: None,
                    outcome: outcome(c),
                };
                assert_eq!(sim.input(stale), Ok(false));
                assert_eq!(
                    sim.input(Input::Timer {
                        timer_id: Uuid::from_u128(u128::from(c) + 1)
                    }),
                    Ok(false)
                );
            }
            _ => {}
        }
    }
    // Deliver everything until the instance ends.
    if sim.status() == InstanceStatus::Pending {
        feed(&mut sim, Input::Start);
    }
    if sim.status() == InstanceStatus::Paused {
        feed(&mut sim, Input::Resume);
    }
    for _ in 0..20_000 {
        if sim.status().is_terminal() {
            return;
        }
        if let Some(job) = sim.jobs.first().cloned() {
            feed(
                &mut sim,
                Input::JobFinished {
                    started_at: None,
                    execution_id: job.execution_id,
                    attempt: job.attempt,
                    branch: job.branch,
                    outcome: JobOutcome::Completed(json!({})),
                },
            );
        } else if let Some((exec, child)) = sim.children.first().copied() {
            sim.children.remove(0);
            feed(
                &mut sim,
                Input::ChildFinished {
                    execution_id: exec,
                    child_instance_id: child,
                    outcome: JobOutcome::Completed(json!({})),
                },
            );
        } else if let Some(event) = sim
            .rows
            .values()
            .find(|r| {
                r.status == StepStatus::Waiting
                    && r.input.as_ref().is_some_and(|i| i.get("event").is_some())
            })
            .map(|r| {
                r.input.as_ref().unwrap()["event"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
        {
            feed(
                &mut sim,
                Input::Event {
                    name: event,
                    data: json!(null),
                },
            );
        } else if sim.timers.is_empty() {
            panic!(
                "instance is {} with nothing left to deliver: {:?}\n{def}",
                sim.status(),
                sim.steps()
            );
        } else {
            sim.fire_next_timer();
            check_invariants(&sim);
        }
    }
    panic!("instance did not end: {:?}", sim.steps());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn random_definitions_and_inputs_keep_the_instance_sound(
        words in prop::collection::vec(any::<u32>(), 1..80),
        script in prop::collection::vec(any::<u32>(), 0..120),
    ) {
        drive(&words, &script);
    }

    #[test]
    fn random_definitions_validate(words in prop::collection::vec(any::<u32>(), 1..80)) {
        let def = build_definition(&mut Src { words: &words, at: 0 });
        prop_assert!(engine::validate(&def).is_ok(), "{}", def);
    }
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-z_{}%# .@0-9-]{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("action"),
            Just("condition"),
            Just("parallel"),
            Just("wait"),
            Just("subflow"),
            Just("steps"),
            Just("id"),
            Just("type"),
            Just("config"),
            Just("next_steps"),
            Just("{{ variables.x }}"),
            Just("{% if %}"),
            Just("equals"),
            Just("matches"),
            Just("5m"),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("steps".to_owned()),
                    Just("id".to_owned()),
                    Just("type".to_owned()),
                    Just("config".to_owned()),
                    Just("next_steps".to_owned()),
                    Just("action".to_owned()),
                    Just("conditions".to_owned()),
                    Just("field".to_owned()),
                    Just("operator".to_owned()),
                    Just("value".to_owned()),
                    Just("retry".to_owned()),
                    Just("on_error".to_owned()),
                    Just("start_at".to_owned()),
                    Just("wait_type".to_owned()),
                    Just("parallel_steps".to_owned()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, .. ProptestConfig::default() })]

    #[test]
    fn validate_never_panics_on_arbitrary_json(json in arbitrary_json()) {
        if let Err(errors) = engine::validate(&json) {
            prop_assert!(!errors.is_empty());
            for e in errors {
                prop_assert!(e.path.is_empty() || e.path.starts_with('/'));
            }
        }
    }
}
