//! The split services as real processes: the built binary's `gateway`, `scheduler` and
//! `worker` subcommands on one fresh Postgres database and Redis prefix. For what one process's
//! globals (the metrics recorder, the signal handlers) would blur in-process.

#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::common;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// The environment every service of a test shares.
pub struct Shared {
    pub database_url: String,
    pub redis_prefix: String,
    pub grpc_port: u16,
}

impl Shared {
    pub async fn fresh() -> Shared {
        Shared {
            database_url: testkit::fresh_postgres_url().await.expect("a database"),
            redis_prefix: testkit::fresh_redis_prefix().await.expect("redis"),
            grpc_port: free_port(),
        }
    }
}

/// Each service logs to `<temp>/<redis prefix>-<name>.log`, kept for a failure's reader.
fn log_file(shared: &Shared, name: &str) -> Stdio {
    let path = std::env::temp_dir().join(format!("{}-{name}.log", shared.redis_prefix));
    std::fs::File::create(&path)
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

pub fn service(shared: &Shared, subcommand: &str, extra: &[(&str, String)]) -> Child {
    service_named(shared, subcommand, subcommand, extra)
}

pub fn service_named(
    shared: &Shared,
    subcommand: &str,
    name: &str,
    extra: &[(&str, String)],
) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_workflow-engine"));
    command
        .arg(subcommand)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOST", "127.0.0.1")
        .env("GRPC_PORT", shared.grpc_port.to_string())
        .env(
            "SCHEDULER_URL",
            format!("http://127.0.0.1:{}", shared.grpc_port),
        )
        .env("DATABASE_URL", &shared.database_url)
        .env("REDIS_URL", testkit::redis_url())
        .env("REDIS_PREFIX", &shared.redis_prefix)
        .env("ENVIRONMENT", "test")
        .env("JWT_SECRET", common::JWT_SECRET)
        .env("TRIGGER_SECRET_KEY", common::TRIGGER_SECRET_KEY)
        .env("LOG_FORMAT", "json")
        .env("HTTP_ACTION_ALLOW_PRIVATE", "true")
        .env("WORKFLOW_CHECK_INTERVAL", "1")
        .stdout(log_file(shared, name))
        .stderr(Stdio::null())
        .kill_on_drop(true);
    for (name, value) in extra {
        command.env(name, value);
    }
    command.spawn().expect("the binary starts")
}

/// Starts the scheduler and waits until its gRPC port takes connections.
pub async fn scheduler(shared: &Shared, extra: &[(&str, String)]) -> Child {
    let child = service(shared, "scheduler", extra);
    wait_until("the scheduler listening", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", shared.grpc_port))
            .await
            .is_ok()
    })
    .await;
    child
}

/// Starts a gateway and waits until it is healthy; answers it and its base URL.
pub async fn gateway(shared: &Shared) -> (Child, String) {
    let port = free_port();
    let child = service(shared, "gateway", &[("PORT", port.to_string())]);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_until("the gateway healthy", || async {
        client
            .get(format!("{base}/health"))
            .send()
            .await
            .is_ok_and(|response| response.status() == 200)
    })
    .await;
    (child, base)
}

pub async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..600 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} never happened");
}
