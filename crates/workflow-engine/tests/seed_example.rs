//! The seed README's complete "Workflow Schema Example", run as written through the whole
//! path: REST → gateway → gRPC → scheduler → database and queue → worker → result → next step.

mod common;

use common::smtp::SmtpServer;
use common::{Backend, Options, TestApp};
use serde_json::json;

fn step_ids(steps: &[serde_json::Value]) -> Vec<String> {
    steps
        .iter()
        .map(|s| s["step_id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn valid_email_takes_the_welcome_path(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn_with(
        backend,
        Options {
            smtp_url: Some(smtp.url()),
            ..Options::default()
        },
    )
    .await;
    let template_id = app
        .create_template("onboarding", common::seed_example())
        .await;

    let instance_id = app
        .start_instance(&template_id, json!({"email": "someone@example.com"}))
        .await;
    let instance = app.wait_finished(&instance_id).await;

    assert_eq!(instance["status"], "completed", "{instance}");
    assert_eq!(instance["output"]["email"], "someone@example.com");
    let steps = app.steps(&instance_id).await;
    assert_eq!(
        step_ids(&steps),
        ["validate_input", "send_welcome", "log_success"],
        "{steps:?}"
    );
    assert!(
        steps.iter().all(|s| s["status"] == "completed"),
        "{steps:?}"
    );
    assert_eq!(steps[0]["output"]["result"], true);
    assert_eq!(steps[1]["input"]["to"], "someone@example.com");

    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(
        mails[0].recipients[0].contains("someone@example.com"),
        "{mails:?}"
    );
    assert!(
        mails[0].data.contains("Subject: Welcome!"),
        "{}",
        mails[0].data
    );
    assert!(
        mails[0].data.contains("Welcome to our platform!"),
        "{}",
        mails[0].data
    );
}
on_both_backends!(valid_email_takes_the_welcome_path);

async fn invalid_email_takes_the_error_path(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let app = TestApp::spawn_with(
        backend,
        Options {
            smtp_url: Some(smtp.url()),
            ..Options::default()
        },
    )
    .await;
    let template_id = app
        .create_template("onboarding", common::seed_example())
        .await;

    let instance_id = app
        .start_instance(&template_id, json!({"email": "bad"}))
        .await;
    let instance = app.wait_finished(&instance_id).await;

    assert_eq!(instance["status"], "completed", "{instance}");
    let steps = app.steps(&instance_id).await;
    assert_eq!(
        step_ids(&steps),
        ["validate_input", "send_error"],
        "{steps:?}"
    );
    assert_eq!(steps[0]["output"]["result"], false);
    assert_eq!(
        steps[1]["input"]["message"], "Invalid email provided: bad",
        "{steps:?}"
    );
    assert_eq!(steps[1]["output"]["logged"], true);
    assert!(smtp.mails().is_empty(), "no mail on the error path");
}
on_both_backends!(invalid_email_takes_the_error_path);

async fn many_instances_run_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let template_id = app
        .create_template("onboarding", common::seed_example())
        .await;
    let mut ids = Vec::new();
    for n in 0..20 {
        let email = if n % 2 == 0 {
            format!("user{n}@example.com")
        } else {
            format!("user{n}")
        };
        ids.push(
            app.start_instance(&template_id, json!({"email": email}))
                .await,
        );
    }
    for (n, id) in ids.iter().enumerate() {
        let instance = app.wait_finished(id).await;
        assert_eq!(instance["status"], "completed", "{instance}");
        let expected = if n % 2 == 0 { 3 } else { 2 };
        assert_eq!(app.steps(id).await.len(), expected);
    }
}
on_both_backends!(many_instances_run_at_once);
