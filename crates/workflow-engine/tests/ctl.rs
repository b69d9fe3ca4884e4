//! `workflow-engine ctl` as a user runs it: the built binary as a subprocess, against an engine
//! spawned on port 0 with a fresh SQLite database, configured by WORKFLOW_URL and
//! WORKFLOW_TOKEN only.

mod common;
mod ctl_support;

use ctl_support::{
    PATIENCE, Scratch, Setup, approval, closed_port_url, finish, misspelled_seed, run_at, seed_text,
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
async fn validate_needs_no_server_and_prints_the_api_paths() {
    let dir = Scratch::new("validate");
    let good = dir.write("onboarding.json", &seed_text());
    dir.write("bad.json", &misspelled_seed().to_string());
    let doc = dir.write(
        "doc.json",
        &json!({"name": "x", "definition": misspelled_seed()}).to_string(),
    );
    let broken = dir.write("broken.json", "{\"steps\": [");
    let nowhere = closed_port_url();
    let before = dir.files();

    let ok = run_at(
        &dir.0,
        &nowhere,
        None,
        &["validate", good.to_str().unwrap()],
    )
    .await;
    assert_eq!(ok.code, 0, "{ok:?}");
    assert!(ok.stdout.contains("onboarding.json: valid"), "{ok:?}");

    let failed = run_at(
        &dir.0,
        &nowhere,
        None,
        &["validate", "onboarding.json", "bad.json"],
    )
    .await;
    assert_eq!(failed.code, 1, "{failed:?}");
    assert!(
        failed
            .stderr
            .contains("bad.json: /steps/1/next_steps/0: unknown step 'log_sucess'"),
        "{failed:?}"
    );
    assert!(
        failed.stdout.contains("onboarding.json: valid"),
        "{failed:?}"
    );
    assert!(!failed.stdout.contains("bad.json"), "{failed:?}");

    // In a template document the path points into the file, as the API's into its body.
    let in_doc = run_at(&dir.0, &nowhere, None, &["validate", doc.to_str().unwrap()]).await;
    assert_eq!(in_doc.code, 1, "{in_doc:?}");
    assert!(
        in_doc
            .stderr
            .contains("doc.json: /definition/steps/1/next_steps/0: unknown step 'log_sucess'"),
        "{in_doc:?}"
    );

    let unreadable = run_at(
        &dir.0,
        &nowhere,
        None,
        &["validate", "broken.json", "missing.json"],
    )
    .await;
    assert_eq!(unreadable.code, 1, "{unreadable:?}");
    assert!(
        unreadable.stderr.contains("broken.json: not valid JSON"),
        "{unreadable:?}"
    );
    assert!(unreadable.stderr.contains("missing.json"), "{unreadable:?}");

    let as_json = run_at(
        &dir.0,
        &nowhere,
        None,
        &["-o", "json", "validate", "bad.json", "onboarding.json"],
    )
    .await;
    assert_eq!(as_json.code, 1, "{as_json:?}");
    let report = as_json.json();
    assert_eq!(report[0]["valid"], false);
    assert_eq!(report[0]["errors"][0]["path"], "/steps/1/next_steps/0");
    assert_eq!(report[1]["valid"], true);
    assert!(broken.exists());

    // A warning is printed and does not fail.
    let unreachable = dir.write(
        "lonely.json",
        &json!({"steps": [
            {"id": "a", "type": "action", "config": {"action": "log_message", "message": "x"}},
            {"id": "b", "type": "wait", "config": {"wait_type": "event", "event": "never"}, "next_steps": ["a"]}
        ]})
        .to_string(),
    );
    let warned = run_at(
        &dir.0,
        &nowhere,
        None,
        &["validate", unreachable.to_str().unwrap()],
    )
    .await;
    assert_eq!(warned.code, 0, "{warned:?}");
    assert!(
        warned.stderr.contains("lonely.json: /steps/1: warning:"),
        "{warned:?}"
    );

    let mut after = before.clone();
    after.push("lonely.json".into());
    after.sort();
    assert_eq!(dir.files(), after, "validate wrote files");
}

#[tokio::test]
async fn validate_says_what_the_api_says() {
    let setup = Setup::new("same-as-api").await;
    let (status, problem) = setup
        .app
        .post(
            "/api/v1/templates",
            &json!({"name": "typo", "definition": misspelled_seed()}),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    setup.dir.write("typo.json", &misspelled_seed().to_string());
    let run = setup.ctl(&["validate", "typo.json"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    let errors = problem["errors"].as_array().unwrap();
    assert!(!errors.is_empty(), "{problem}");
    for error in errors {
        let path = error["path"]
            .as_str()
            .unwrap()
            .strip_prefix("/definition")
            .unwrap();
        let line = format!("typo.json: {path}: {}", error["message"].as_str().unwrap());
        assert!(run.stderr.contains(&line), "{line} not in {run:?}");
    }
}

#[tokio::test]
async fn apply_twice_makes_one_version_and_a_change_the_next() {
    let setup = Setup::new("apply").await;
    let file = setup.dir.write("onboarding.json", &seed_text());
    let file = file.to_str().unwrap();

    let first = setup.ctl(&["apply", file]).await;
    assert_eq!(first.code, 0, "{first:?}");
    let row = first
        .stdout
        .lines()
        .find(|l| l.contains("onboarding.json"))
        .unwrap_or_default();
    assert!(
        row.contains("onboarding") && row.contains("created"),
        "{first:?}"
    );

    let second = setup.ctl(&["-o", "json", "apply", file]).await;
    assert_eq!(second.code, 0, "{second:?}");
    let applied = second.json();
    assert_eq!(applied[0]["name"], "onboarding");
    assert_eq!(applied[0]["version"], 1);
    assert_eq!(applied[0]["change"], "unchanged");
    let id = applied[0]["id"].as_str().unwrap().to_owned();
    let (_, template) = setup.app.get(&format!("/api/v1/templates/{id}")).await;
    assert_eq!(template["version"], 1, "{template}");
    assert!(first.stdout.contains(&id), "{first:?}");

    // Another definition under the same name is a new version of the same template.
    let mut changed = common::seed_example();
    changed["steps"][3]["config"]["message"] = json!("welcomed");
    setup.dir.write("onboarding.json", &changed.to_string());
    let third = setup.ctl(&["-o", "json", "apply", file]).await;
    assert_eq!(third.code, 0, "{third:?}");
    assert_eq!(third.json()[0]["id"], id.as_str());
    assert_eq!(third.json()[0]["version"], 2);
    assert_eq!(third.json()[0]["change"], "updated");

    // A file with errors: nothing is applied, whatever the other files hold.
    setup.dir.write("typo.json", &misspelled_seed().to_string());
    setup.dir.write("other.json", &approval().to_string());
    let refused = setup.ctl(&["apply", "other.json", "typo.json"]).await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("typo.json: /steps/1/next_steps/0: unknown step 'log_sucess'"),
        "{refused:?}"
    );
    let (_, page) = setup.app.get("/api/v1/templates?name=other").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 0, "{page}");

    // What only the server checks comes back as its problem document, with the field path.
    let long = "n".repeat(201);
    setup.dir.write(
        "long.json",
        &json!({"name": long, "definition": approval()}).to_string(),
    );
    let too_long = setup.ctl(&["apply", "long.json"]).await;
    assert_eq!(too_long.code, 4, "{too_long:?}");
    assert!(
        too_long.stderr.contains("Unprocessable Content (422)"),
        "{too_long:?}"
    );
    assert!(
        too_long
            .stderr
            .contains("  /name: must be at most 200 characters"),
        "{too_long:?}"
    );
}

#[tokio::test]
async fn start_wait_runs_the_seed_example_and_exits_by_the_outcome() {
    let setup = Setup::new("start").await;
    setup.dir.write("onboarding.json", &seed_text());
    assert_eq!(setup.ctl(&["apply", "onboarding.json"]).await.code, 0);

    let run = setup
        .ctl(&[
            "start",
            "onboarding",
            "--var",
            "email=someone@example.com",
            "--wait",
        ])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let output = run.json();
    assert_eq!(output["email"], "someone@example.com", "{run:?}");
    assert!(run.stderr.contains("completed"), "{run:?}");

    // By id too, with the variables from a file, and JSON for scripts.
    let (_, page) = setup.app.get("/api/v1/templates?name=onboarding").await;
    let template_id = page["items"][0]["id"].as_str().unwrap().to_owned();
    setup.dir.write("vars.json", r#"{"email": "bad"}"#);
    let by_id = setup
        .ctl(&[
            "-o",
            "json",
            "start",
            &template_id,
            "--vars",
            "vars.json",
            "--wait",
        ])
        .await;
    assert_eq!(by_id.code, 0, "{by_id:?}");
    let instance = by_id.json();
    assert_eq!(instance["status"], "completed");
    let steps = setup.app.steps(instance["id"].as_str().unwrap()).await;
    let ids: Vec<&str> = steps
        .iter()
        .map(|s| s["step_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["validate_input", "send_error"]);

    // A failing step: exit 1 and the error on stderr.
    let failing = json!({"steps": [{"id": "boom", "type": "action",
        "config": {"action": "log_message", "message": "{{ variables.missing.deeper }}"}}]});
    setup.dir.write("failing.json", &failing.to_string());
    assert_eq!(setup.ctl(&["apply", "failing.json"]).await.code, 0);
    let failed = setup.ctl(&["start", "failing", "--wait"]).await;
    assert_eq!(failed.code, 1, "{failed:?}");
    assert!(failed.stderr.contains("failed"), "{failed:?}");

    // Without --wait: the id on stdout; the same idempotency key answers the same instance.
    let once = setup
        .ctl(&[
            "start",
            "onboarding",
            "--var",
            "email=a@example.com",
            "--idempotency-key",
            "k-1",
        ])
        .await;
    assert_eq!(once.code, 0, "{once:?}");
    let again = setup
        .ctl(&[
            "start",
            "onboarding",
            "--var",
            "email=a@example.com",
            "--idempotency-key",
            "k-1",
        ])
        .await;
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(once.stdout.trim(), again.stdout.trim());
    assert!(again.stderr.contains("created earlier"), "{again:?}");

    let unknown = setup.ctl(&["start", "no-such-template"]).await;
    assert_eq!(unknown.code, 4, "{unknown:?}");
    assert!(
        unknown
            .stderr
            .contains("no template named 'no-such-template'"),
        "{unknown:?}"
    );
    let bad_var = setup
        .ctl(&["start", "onboarding", "--var", "novalue"])
        .await;
    assert_eq!(bad_var.code, 3, "{bad_var:?}");
}

#[tokio::test]
async fn start_wait_exits_2_when_the_instance_is_cancelled() {
    let setup = Setup::new("cancelled").await;
    setup.dir.write("approval.json", &approval().to_string());
    assert_eq!(setup.ctl(&["apply", "approval.json"]).await.code, 0);
    let mut child = setup.spawn(&["start", "approval", "--wait"]);
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let id = tokio::time::timeout(PATIENCE, async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            if let Some(rest) = line.split(" as instance ").nth(1) {
                return rest.split(';').next().unwrap().trim().to_owned();
            }
        }
        panic!("start never named its instance");
    })
    .await
    .expect("start never named its instance");
    setup.app.wait_status(&id, &["running"]).await;
    let cancel = setup.ctl(&["cancel", &id]).await;
    assert_eq!(cancel.code, 0, "{cancel:?}");
    assert!(cancel.stdout.contains("cancelled"), "{cancel:?}");
    let run = finish(child).await;
    assert_eq!(run.code, 2, "{run:?}");
}

#[tokio::test]
async fn watch_follows_a_waiting_instance_to_its_end() {
    let setup = Setup::new("watch").await;
    let template = setup.app.create_template("approval", approval()).await;
    let id = setup
        .app
        .start_instance(&template, json!({"order": 7}))
        .await;
    setup.app.wait_status(&id, &["running"]).await;

    let mut child = setup.spawn(&["watch", &id]);
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            let waiting = line.starts_with("approval") && line.contains("waiting");
            seen.push(line);
            if waiting {
                return;
            }
        }
        panic!("watch ended before the step waited: {seen:?}");
    })
    .await
    .unwrap_or_else(|_| panic!("watch never showed the waiting step: {seen:?}"));

    let (status, _) = setup
        .app
        .post(
            &format!("/api/v1/instances/{id}/events"),
            &json!({"event": "approved", "data": {"by": "bob"}}),
        )
        .await;
    assert_eq!(status, 202);
    let rest = tokio::time::timeout(PATIENCE, async {
        let mut rest = Vec::new();
        while let Some(line) = stdout.next_line().await.unwrap() {
            rest.push(line);
        }
        rest
    })
    .await
    .expect("watch did not end");
    let run = finish(child).await;
    assert_eq!(run.code, 0, "{seen:?} {rest:?} {run:?}");

    let line_of = |step: &str, status: &str| {
        rest.iter()
            .position(|l| l.starts_with(step) && l.contains(status))
            .unwrap_or_else(|| panic!("no {step} {status} line in {rest:?}"))
    };
    line_of("approval", "completed");
    line_of("log_done", "completed");
    let progress = rest
        .iter()
        .position(|l| l.starts_with(&format!("instance {id}: completed")))
        .unwrap_or_else(|| panic!("no final progress line in {rest:?}"));
    // The final variables, as JSON, come last.
    let variables: Value = serde_json::from_str(&rest[progress + 1..].join("\n"))
        .unwrap_or_else(|e| panic!("no final variables ({e}): {rest:?}"));
    assert_eq!(variables["order"], 7, "{rest:?}");

    // A finished instance: its state at once, the same exit code.
    let again = setup.ctl(&["watch", &id]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("log_done"), "{again:?}");
}

#[tokio::test]
async fn lists_gets_and_steps_in_both_formats() {
    let setup = Setup::new("list").await;
    setup.dir.write("onboarding.json", &seed_text());
    setup.dir.write("approval.json", &approval().to_string());
    assert_eq!(
        setup
            .ctl(&["apply", "onboarding.json", "approval.json"])
            .await
            .code,
        0
    );
    let done = setup
        .ctl(&[
            "-o",
            "json",
            "start",
            "onboarding",
            "--var",
            "email=x@example.com",
            "--wait",
        ])
        .await;
    let done_id = done.json()["id"].as_str().unwrap().to_owned();
    let waiting = setup.ctl(&["start", "approval"]).await;
    let waiting_id = waiting.stdout.trim().to_owned();
    setup.app.wait_status(&waiting_id, &["running"]).await;

    let templates = setup.ctl(&["list", "templates"]).await;
    assert_eq!(templates.code, 0, "{templates:?}");
    assert!(
        templates.stdout.lines().next().unwrap().contains("NAME"),
        "{templates:?}"
    );
    assert!(templates.stdout.contains("onboarding") && templates.stdout.contains("approval"));
    let templates = setup.ctl(&["list", "templates", "-o", "json"]).await;
    let mut names: Vec<String> = templates.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["approval", "onboarding"]);

    let running = setup
        .ctl(&["list", "instances", "--status", "running"])
        .await;
    assert_eq!(running.code, 0, "{running:?}");
    assert!(running.stdout.contains(&waiting_id), "{running:?}");
    assert!(!running.stdout.contains(&done_id), "{running:?}");
    let row = running
        .stdout
        .lines()
        .find(|l| l.contains(&waiting_id))
        .unwrap();
    assert!(row.contains("approval") && row.contains("running"), "{row}");

    let of_template = setup
        .ctl(&[
            "-o",
            "json",
            "list",
            "instances",
            "--template",
            "onboarding",
            "--limit",
            "5",
        ])
        .await;
    let items = of_template.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{of_template:?}");
    assert_eq!(items[0]["id"], done_id.as_str());

    let get = setup.ctl(&["get", &done_id]).await;
    assert_eq!(get.code, 0, "{get:?}");
    assert!(
        get.stdout.contains("completed") && get.stdout.contains("onboarding v1"),
        "{get:?}"
    );
    assert!(get.stdout.contains("x@example.com"), "{get:?}");
    let get = setup.ctl(&["get", &done_id, "-o", "json"]).await;
    assert_eq!(get.json()["status"], "completed");

    let steps = setup.ctl(&["steps", &done_id]).await;
    assert_eq!(steps.code, 0, "{steps:?}");
    for step in ["validate_input", "send_welcome", "log_success"] {
        let line = steps
            .stdout
            .lines()
            .find(|l| l.contains(step))
            .unwrap_or_default();
        assert!(line.contains("completed"), "{step}: {steps:?}");
    }
    let steps = setup.ctl(&["steps", &done_id, "-o", "json"]).await;
    assert_eq!(steps.json()["items"].as_array().unwrap().len(), 3);

    // The lifecycle, and an event that ends the wait.
    let paused = setup.ctl(&["pause", &waiting_id]).await;
    assert_eq!(paused.code, 0, "{paused:?}");
    assert!(paused.stdout.contains("paused"), "{paused:?}");
    let resumed = setup.ctl(&["-o", "json", "resume", &waiting_id]).await;
    assert_eq!(resumed.json()["status"], "running", "{resumed:?}");
    let sent = setup
        .ctl(&[
            "send-event",
            &waiting_id,
            "approved",
            "--data",
            r#"{"by": "ann"}"#,
        ])
        .await;
    assert_eq!(sent.code, 0, "{sent:?}");
    let finished = setup.app.wait_finished(&waiting_id).await;
    assert_eq!(finished["status"], "completed", "{finished}");
}
