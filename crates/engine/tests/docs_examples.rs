//! Every example definition of the user documentation validates, without warnings, and the
//! documentation names every example, so the docs cannot rot.
#![allow(
    clippy::disallowed_methods,
    reason = "the engine does no I/O, but this test reads the documentation's files"
)]

use std::path::PathBuf;

fn docs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

#[test]
fn every_example_definition_validates() {
    let guide = std::fs::read_to_string(docs().join("workflow-language.md")).unwrap();
    let mut count = 0;
    for entry in std::fs::read_dir(docs().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let validated = engine::validate(&json).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert!(
            validated.warnings.is_empty(),
            "{name}: {:?}",
            validated.warnings
        );
        assert!(
            guide.contains(&format!("examples/{name}")),
            "docs/workflow-language.md does not show {name}"
        );
        count += 1;
    }
    assert!(count >= 6, "only {count} examples");
}

#[test]
fn json_blocks_in_the_guide_that_are_whole_definitions_validate() {
    let guide = std::fs::read_to_string(docs().join("workflow-language.md")).unwrap();
    let mut checked = 0;
    for block in guide.split("```json").skip(1) {
        let body = block.split("```").next().unwrap();
        let Ok(json) = serde_json::from_str::<serde_json::Value>(body) else {
            continue;
        };
        if json.get("steps").is_some() {
            if let Err(e) = engine::validate(&json) {
                panic!("a definition in the guide is invalid: {e:?}\n{body}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 1);
}

mod common;

use common::Sim;
use engine::Input;
use model::{InstanceStatus, JobOutcome};
use serde_json::json;

fn example(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(docs().join("examples").join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_approval_example_runs_both_ways() {
    let mut sim = Sim::new(
        example("approval.json"),
        json!({"approver": "boss@example.com", "order_id": 7, "amount": 500}),
    );
    sim.start();
    sim.finish_next(common::ok);
    sim.input(Input::Event {
        name: "approval_received".into(),
        data: json!({"approved": false}),
    })
    .unwrap();
    assert_eq!(sim.status(), InstanceStatus::Completed);
    assert_eq!(sim.state.output().unwrap()["status"], json!("rejected"));
    assert_eq!(sim.state.output().unwrap()["reason"], json!("none given"));

    let mut sim = Sim::new(
        example("approval.json"),
        json!({"approver": "boss@example.com", "order_id": 7, "amount": 500}),
    );
    sim.start();
    sim.finish_next(common::ok);
    sim.fire_next_timer();
    assert_eq!(sim.state.output().unwrap()["status"], json!("expired"));
}

#[test]
fn the_polling_example_polls_until_done() {
    let mut sim = Sim::new(example("polling-loop.json"), json!({"job_id": "j1"}));
    sim.start();
    let mut polls = 0;
    sim.run(|job| {
        if job.action == "http_request" {
            polls += 1;
            let state = if polls < 3 { "running" } else { "finished" };
            return JobOutcome::Completed(json!({"status": 200, "body": {"state": state}}));
        }
        common::ok(job)
    });
    assert_eq!(sim.status(), InstanceStatus::Completed);
    assert_eq!(sim.state.output().unwrap()["tries"], json!(2));
}
