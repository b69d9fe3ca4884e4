//! The harness of `tests/ctl.rs`: the built binary run as a subprocess in a scratch
//! directory with a clean environment, against an engine spawned on port 0.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::common::{self, Backend, TestApp};

/// Only to keep a broken test from hanging; nothing is asserted about time.
pub const PATIENCE: Duration = Duration::from_secs(120);

pub const BIN: &str = env!("CARGO_BIN_EXE_workflow-engine");

/// What one run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }
}

/// A scratch directory: the working directory of every run, so a run that wrote a database
/// or any other file would show.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "ctl-test-{name}-{}-{}",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    pub fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// The binary with a clean environment: no engine settings at all, the client's two.
pub fn command(dir: &Path, url: &str, token: Option<&str>, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("ctl")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("WORKFLOW_URL", url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(token) = token {
        command.env("WORKFLOW_TOKEN", token);
    }
    command
}

pub async fn finish(child: Child) -> Run {
    let output = tokio::time::timeout(PATIENCE, child.wait_with_output())
        .await
        .expect("ctl did not end")
        .expect("ctl did not run");
    Run {
        code: output.status.code().expect("ctl was killed"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

pub async fn run_at(dir: &Path, url: &str, token: Option<&str>, args: &[&str]) -> Run {
    finish(command(dir, url, token, args).spawn().expect("spawn ctl")).await
}

/// An engine and a scratch directory to run the client in.
pub struct Setup {
    pub app: TestApp,
    pub dir: Scratch,
}

impl Setup {
    pub async fn new(name: &str) -> Self {
        Self {
            app: TestApp::spawn(Backend::Embedded).await,
            dir: Scratch::new(name),
        }
    }

    pub async fn ctl(&self, args: &[&str]) -> Run {
        run_at(&self.dir.0, &self.app.base, Some(&self.app.token), args).await
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        command(&self.dir.0, &self.app.base, Some(&self.app.token), args)
            .spawn()
            .expect("spawn ctl")
    }
}

pub fn seed_text() -> String {
    serde_json::to_string_pretty(&common::seed_example()).unwrap()
}

/// The seed example with a typo in a step reference, as the issue shows it.
pub fn misspelled_seed() -> Value {
    let mut definition = common::seed_example();
    definition["steps"][1]["next_steps"][0] = json!("log_sucess");
    definition
}

/// Waits for an `approved` event, then logs.
pub fn approval() -> Value {
    json!({"steps": [
        {"id": "approval", "type": "wait", "config": {"wait_type": "event", "event": "approved"},
         "next_steps": ["log_done"]},
        {"id": "log_done", "type": "action", "config": {"action": "log_message", "message": "approved by {{ steps.approval.output.by }}"}}
    ]})
}

pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}
