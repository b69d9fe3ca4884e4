//! `workflow-engine ctl` when things go wrong, and what it needs: the lines and exit codes of
//! refused connections, tokens, problem documents and bad arguments; no engine settings read,
//! no file written; help and completions.

mod common;
mod ctl_support;

use ctl_support::{Scratch, Setup, approval, closed_port_url, command, finish, run_at};
use serde_json::json;

#[tokio::test]
async fn errors_say_what_happened_and_exit_by_kind() {
    let setup = Setup::new("errors").await;
    let dir = &setup.dir.0;
    let base = &setup.app.base;

    let refused = run_at(
        dir,
        &closed_port_url(),
        Some(&setup.app.token),
        &["list", "templates"],
    )
    .await;
    assert_eq!(refused.code, 6, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("cannot connect to http://127.0.0.1:"),
        "{refused:?}"
    );
    assert!(refused.stderr.contains("connection refused"), "{refused:?}");
    assert!(
        refused.stderr.contains("is the engine running?"),
        "{refused:?}"
    );

    let two_hours_ago = chrono::Utc::now().timestamp() - 2 * 3600;
    let expired = common::sign(&serde_json::json!({
        "sub": "tester", "tenant": "default", "role": "admin",
        "iat": two_hours_ago - 3600, "exp": two_hours_ago,
    }));
    let run = run_at(dir, base, Some(&expired), &["list", "templates"]).await;
    assert_eq!(run.code, 5, "{run:?}");
    assert!(run.stderr.contains("Unauthorized (401)"), "{run:?}");
    assert!(run.stderr.contains("the token expired at"), "{run:?}");

    let run = run_at(dir, base, None, &["list", "instances"]).await;
    assert_eq!(run.code, 5, "{run:?}");
    assert!(run.stderr.contains("no token given"), "{run:?}");

    let run = run_at(dir, base, Some("not-a-token"), &["list", "instances"]).await;
    assert_eq!(run.code, 5, "{run:?}");
    assert!(
        run.stderr.contains("the engine refused the token"),
        "{run:?}"
    );

    let template = setup.app.create_template("approval", approval()).await;
    let id = setup.app.start_instance(&template, json!({})).await;
    setup.app.wait_status(&id, &["running"]).await;
    let viewer = common::token_for("watcher", "default", "viewer");
    let run = run_at(dir, base, Some(&viewer), &["cancel", &id]).await;
    assert_eq!(run.code, 5, "{run:?}");
    assert!(run.stderr.contains("Forbidden (403)"), "{run:?}");
    assert!(run.stderr.contains("'viewer'"), "{run:?}");
    let run = run_at(dir, base, Some(&viewer), &["get", &id]).await;
    assert_eq!(run.code, 0, "a viewer reads: {run:?}");

    let unknown = uuid::Uuid::now_v7().to_string();
    let run = setup.ctl(&["get", &unknown]).await;
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stderr.contains("Not Found (404)"), "{run:?}");

    assert_eq!(setup.ctl(&["cancel", &id]).await.code, 0);
    let run = setup.ctl(&["cancel", &id]).await;
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stderr.contains("Conflict (409)"), "{run:?}");

    let run = setup.ctl(&["send-event", &id, " "]).await;
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stderr.contains("  /event: "), "{run:?}");

    for args in [
        &["get", "abc"][..],
        &["list", "instances", "--limit", "0"],
        &["list", "instances", "--status", "sleeping"],
        &["frobnicate"],
        &["send-event", &id, "x", "--data", "{nope"],
        &["start", "approval", "--vars", "missing.json"],
    ] {
        let run = setup.ctl(args).await;
        assert_eq!(run.code, 3, "{args:?}: {run:?}");
        assert!(!run.stderr.is_empty(), "{args:?}: {run:?}");
    }
    let bad_url = run_at(dir, "ftp://example", None, &["list", "templates"]).await;
    assert_eq!(bad_url.code, 3, "{bad_url:?}");
    assert!(setup.dir.files().is_empty(), "{:?}", setup.dir.files());
}

#[tokio::test]
async fn ctl_reads_no_engine_configuration_and_helps() {
    let dir = Scratch::new("config");
    // Settings that would stop the engine itself (production without JWT_SECRET, an
    // unreachable database) do not concern the client.
    let mut command = command(&dir.0, &closed_port_url(), None, &["--help"]);
    command
        .env("ENVIRONMENT", "production")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("PORT", "not-a-port");
    let help = finish(command.spawn().unwrap()).await;
    assert_eq!(help.code, 0, "{help:?}");
    assert!(help.stdout.contains("Examples:"), "{help:?}");
    for sub in [
        "validate",
        "apply",
        "start",
        "watch",
        "send-event",
        "completions",
    ] {
        assert!(help.stdout.contains(sub), "{sub} missing: {help:?}");
        let run = run_at(&dir.0, "http://127.0.0.1:1", None, &[sub, "--help"]).await;
        assert_eq!(run.code, 0, "{run:?}");
        assert!(
            run.stdout.contains(&format!("workflow-engine ctl {sub}")),
            "{sub} has no example: {run:?}"
        );
    }
    for shell in ["bash", "zsh", "fish"] {
        let run = run_at(&dir.0, "http://127.0.0.1:1", None, &["completions", shell]).await;
        assert_eq!(run.code, 0, "{run:?}");
        assert!(run.stdout.contains("workflow-engine"), "{shell}: {run:?}");
        assert!(run.stdout.contains("send-event"), "{shell}: {run:?}");
    }
    let bare = run_at(&dir.0, "http://127.0.0.1:1", None, &[]).await;
    assert_eq!(bare.code, 3, "{bare:?}");
    assert!(bare.stderr.contains("Usage"), "{bare:?}");
    assert!(dir.files().is_empty(), "{:?}", dir.files());
}
