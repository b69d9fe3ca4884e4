//! The engine under measurement, as it is deployed: the release binary's own subcommands as
//! separate processes (`migrate`, then `scheduler`, `worker`, `gateway`) over a fresh Postgres
//! database and a Redis key prefix of their own, or the embedded process (no subcommand) over a
//! SQLite file in a directory of its own. Credentials come the documented way
//! (`docs/security.md`): `JWT_SECRET` for the gateway and scheduler only, a worker token minted
//! by `workflow-engine token --role worker`. Every child is killed when the [`Engine`] is
//! dropped, so an error or an interrupt leaves no process behind.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

use crate::options::EngineMode;
use crate::procfs;

/// The secret the run's tokens are signed with (any 32 bytes that are not a known placeholder).
const JWT_SECRET: &str = "benchmark-secret-7f3a9c1e5b2d4f6a8c0e";
/// A throwaway key for webhook secrets at rest (the benchmark makes none).
const TRIGGER_SECRET_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the engine's files go: its binary, the children's logs, the embedded SQLite file.
#[derive(Debug, Clone)]
pub struct Paths {
    pub binary: PathBuf,
    pub logs: PathBuf,
    pub scratch: PathBuf,
}

struct Service {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

pub struct Engine {
    pub mode: EngineMode,
    pub base_url: String,
    /// An admin token minted by the binary, for the benchmark's REST calls.
    pub token: String,
    /// The split services' Postgres database.
    pub database_url: Option<String>,
    services: Vec<Service>,
    sqlite_dir: Option<PathBuf>,
}

impl Engine {
    /// Starts the engine and waits until the gateway answers `/health` with 200.
    /// `overrides` go to every process's environment.
    pub async fn start(
        mode: EngineMode,
        paths: &Paths,
        overrides: &[(String, String)],
    ) -> anyhow::Result<Engine> {
        if !paths.binary.is_file() {
            bail!(
                "no engine binary at {}: build it with `cargo build --release --bin workflow-engine` \
                 (make bench does) or pass --binary",
                paths.binary.display()
            );
        }
        std::fs::create_dir_all(&paths.logs)
            .with_context(|| format!("creating {}", paths.logs.display()))?;
        let admin = mint(&paths.binary, &["--role", "admin", "--sub", "bench"]).await?;
        let mut engine = match mode {
            EngineMode::Split => start_split(paths, overrides).await?,
            EngineMode::Embedded => start_embedded(paths, overrides).await?,
        };
        engine.token = admin;
        engine.wait_healthy().await?;
        Ok(engine)
    }

    /// The process that holds the scheduler's state: the `scheduler` service, or the embedded
    /// process.
    pub fn scheduler_pid(&self) -> Option<u32> {
        let name = match self.mode {
            EngineMode::Split => "scheduler",
            EngineMode::Embedded => "engine",
        };
        self.services
            .iter()
            .find(|service| service.name == name)
            .and_then(|service| service.child.id())
    }

    /// CPU time of every engine process together, in ms.
    pub fn cpu_ms(&self) -> Option<f64> {
        self.services
            .iter()
            .map(|service| service.child.id().and_then(procfs::cpu_ms))
            .sum()
    }

    /// Resident memory of each engine process, in KiB.
    pub fn rss_kib(&self) -> BTreeMap<String, u64> {
        self.services
            .iter()
            .filter_map(|service| {
                let kib = service.child.id().and_then(procfs::rss_kib)?;
                Some((service.name.to_owned(), kib))
            })
            .collect()
    }

    /// Fails, naming its log, when a process has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        for service in &mut self.services {
            if let Some(status) = service.child.try_wait()? {
                bail!(
                    "the {} process exited ({status}); see {}",
                    service.name,
                    service.log.display()
                );
            }
        }
        Ok(())
    }

    async fn wait_healthy(&mut self) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let url = format!("{}/health", self.base_url);
        loop {
            self.check_alive()?;
            if let Ok(response) = http.get(&url).send().await
                && response.status() == 200
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the engine never answered 200 at {url}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills every process and waits for them; removes the SQLite directory.
    pub async fn stop(mut self) {
        for service in &mut self.services {
            let _ = service.child.kill().await;
        }
        if let Some(dir) = self.sqlite_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // On an error path `stop` never ran: `kill_on_drop` kills the children; the directory
        // goes here.
        if let Some(dir) = self.sqlite_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

async fn start_split(paths: &Paths, overrides: &[(String, String)]) -> anyhow::Result<Engine> {
    let database_url = testkit::fresh_postgres_url().await?;
    let redis = [
        ("REDIS_URL".to_owned(), testkit::redis_url()),
        (
            "REDIS_PREFIX".to_owned(),
            testkit::fresh_redis_prefix().await?,
        ),
    ];
    let grpc_port = free_port()?;
    let http_port = free_port()?;
    let scheduler_url = format!("http://127.0.0.1:{grpc_port}");
    let worker_token = mint(
        &paths.binary,
        &["--role", "worker", "--sub", "bench-worker"],
    )
    .await?;

    let migrate = Command::new(&paths.binary)
        .arg("migrate")
        .env_clear()
        .envs(base_env())
        .env("DATABASE_URL", &database_url)
        .output()
        .await
        .context("running workflow-engine migrate")?;
    if !migrate.status.success() {
        bail!(
            "workflow-engine migrate failed: {}",
            String::from_utf8_lossy(&migrate.stderr).trim()
        );
    }

    let mut engine = Engine {
        mode: EngineMode::Split,
        base_url: format!("http://127.0.0.1:{http_port}"),
        token: String::new(),
        database_url: Some(database_url.clone()),
        services: Vec::new(),
        sqlite_dir: None,
    };
    let mut scheduler_env = vec![
        ("JWT_SECRET".to_owned(), JWT_SECRET.to_owned()),
        (
            "TRIGGER_SECRET_KEY".to_owned(),
            TRIGGER_SECRET_KEY.to_owned(),
        ),
        ("DATABASE_URL".to_owned(), database_url),
        ("HOST".to_owned(), "127.0.0.1".to_owned()),
        ("GRPC_PORT".to_owned(), grpc_port.to_string()),
    ];
    scheduler_env.extend(redis.iter().cloned());
    engine.services.push(spawn(
        paths,
        "scheduler",
        "split",
        &scheduler_env,
        overrides,
    )?);
    wait_for_port(&mut engine, grpc_port).await?;

    let mut worker_env = vec![
        ("WORKER_TOKEN".to_owned(), worker_token),
        ("SCHEDULER_URL".to_owned(), scheduler_url.clone()),
    ];
    worker_env.extend(redis.iter().cloned());
    engine
        .services
        .push(spawn(paths, "worker", "split", &worker_env, overrides)?);

    let mut gateway_env = vec![
        ("JWT_SECRET".to_owned(), JWT_SECRET.to_owned()),
        ("SCHEDULER_URL".to_owned(), scheduler_url),
        ("HOST".to_owned(), "127.0.0.1".to_owned()),
        ("PORT".to_owned(), http_port.to_string()),
        // One tenant makes all of the benchmark's load: the per-tenant limit protects tenants
        // from each other and would only meter the benchmark (`--set` may put it back).
        ("TENANT_RATE_LIMIT".to_owned(), "0".to_owned()),
    ];
    gateway_env.extend(redis.iter().cloned());
    engine
        .services
        .push(spawn(paths, "gateway", "split", &gateway_env, overrides)?);
    Ok(engine)
}

async fn start_embedded(paths: &Paths, overrides: &[(String, String)]) -> anyhow::Result<Engine> {
    let dir = paths
        .scratch
        .join(format!("embedded-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let http_port = free_port()?;
    let env = vec![
        ("JWT_SECRET".to_owned(), JWT_SECRET.to_owned()),
        (
            "TRIGGER_SECRET_KEY".to_owned(),
            TRIGGER_SECRET_KEY.to_owned(),
        ),
        (
            "DATABASE_URL".to_owned(),
            format!("sqlite://{}?mode=rwc", dir.join("engine.db").display()),
        ),
        ("HOST".to_owned(), "127.0.0.1".to_owned()),
        ("PORT".to_owned(), http_port.to_string()),
        // The embedded gRPC API: any free port, nobody else dials it.
        ("GRPC_PORT".to_owned(), "0".to_owned()),
        ("TENANT_RATE_LIMIT".to_owned(), "0".to_owned()),
    ];
    let mut engine = Engine {
        mode: EngineMode::Embedded,
        base_url: format!("http://127.0.0.1:{http_port}"),
        token: String::new(),
        database_url: None,
        services: Vec::new(),
        sqlite_dir: Some(dir),
    };
    engine
        .services
        .push(spawn(paths, "engine", "embedded", &env, overrides)?);
    Ok(engine)
}

/// Production settings: JSON logs at `warn` (unless `RUST_LOG` says otherwise), so the engine's
/// per-step `info` lines are not part of what is measured.
fn base_env() -> Vec<(String, String)> {
    vec![
        ("ENVIRONMENT".to_owned(), "production".to_owned()),
        ("LOG_FORMAT".to_owned(), "json".to_owned()),
        (
            "RUST_LOG".to_owned(),
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned()),
        ),
    ]
}

fn spawn(
    paths: &Paths,
    name: &'static str,
    mode: &str,
    env: &[(String, String)],
    overrides: &[(String, String)],
) -> anyhow::Result<Service> {
    let log = paths.logs.join(format!("{mode}-{name}.log"));
    let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let mut command = Command::new(&paths.binary);
    if name != "engine" {
        command.arg(name);
    }
    command
        .env_clear()
        .envs(base_env())
        .envs(env.iter().cloned())
        .envs(overrides.iter().cloned())
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .kill_on_drop(true);
    let child = command
        .spawn()
        .with_context(|| format!("starting {} {name}", paths.binary.display()))?;
    Ok(Service { name, child, log })
}

/// A token from `workflow-engine token`, as an operator mints one.
async fn mint(binary: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(binary)
        .arg("token")
        .args(args)
        .env_clear()
        .envs(base_env())
        .env("JWT_SECRET", JWT_SECRET)
        .output()
        .await
        .context("running workflow-engine token")?;
    let token = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() || token.is_empty() {
        bail!(
            "workflow-engine token {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(token)
}

/// A port nobody listens on now. Another process could take it before the engine binds it;
/// the engine then exits naming the port, and the run fails rather than measuring the wrong
/// thing.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

async fn wait_for_port(engine: &mut Engine, port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        engine.check_alive()?;
        if tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("nothing listens on port {port} after {STARTUP_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
