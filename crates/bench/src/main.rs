//! `bench`: measures the engine the way the product promises it and the way the reference
//! engines were measured (`../shared/peers/README.md`): S1 per-step latency, S2 steps per
//! second against pgbench's TPS in the same sitting, and the scale scenarios (a wide parallel
//! step, a mass release of waiting instances, the scheduler's memory with very many waiting),
//! plus the instance search at 1 000 000 rows. The engine is the release binary, started as
//! deployed (split services, and embedded) and driven only through its REST API; the figures go
//! to one table and to `bench-results.json` in the target directory. Run it with `make bench`.

// Outside tests a failure is an error returned, or an `expect` that says why it cannot happen
// (clippy.toml allows unwrap in tests).
#![deny(clippy::unwrap_used)]

mod client;
mod engine;
mod latency;
mod load;
mod options;
mod pgbench;
mod probes;
mod procfs;
mod report;
mod scale;
mod search;
mod stats;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use sqlx::{Connection, PgConnection};

use crate::client::Client;
use crate::engine::{Engine, Paths};
use crate::options::{Cli, EngineMode, Plan, Scenario};
use crate::report::{ModeResults, Results};
use crate::watch::Watch;

const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let plan = match cli.plan() {
        Ok(plan) => plan,
        Err(message) => {
            eprintln!("bench: {message}");
            return ExitCode::from(2);
        }
    };
    init_logging();
    // Dropping the run on an interrupt drops the engine, whose children are killed with it.
    tokio::select! {
        result = run(&cli, &plan) => match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("bench: {error:#}");
                ExitCode::FAILURE
            }
        },
        _ = tokio::signal::ctrl_c() => {
            eprintln!("bench: interrupted; the engine's processes are stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: &Cli, plan: &Plan) -> anyhow::Result<()> {
    let target = target_dir();
    let paths = Paths {
        binary: cli
            .binary
            .clone()
            .unwrap_or_else(|| target.join("release/workflow-engine")),
        logs: target.join("bench-logs"),
        scratch: target.join("bench-scratch"),
    };
    let mut databases = Vec::new();
    let measured = measure(cli, plan, &paths, &mut databases).await;
    if cli.keep_databases {
        if !databases.is_empty() {
            println!("databases kept: {}", databases.join(" "));
        }
    } else {
        for url in &databases {
            if let Err(error) = drop_database(url).await {
                eprintln!("bench: could not drop {url}: {error:#}");
            }
        }
    }
    let results = measured?;
    println!("{}", results.table());
    if let Some(search) = &results.search {
        println!("{}", search::table(search));
    }
    let output = cli
        .output
        .clone()
        .unwrap_or_else(|| target.join("bench-results.json"));
    if let Some(dir) = output.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&output, serde_json::to_string_pretty(&results)? + "\n")
        .with_context(|| format!("writing {}", output.display()))?;
    println!(
        "results written to {}; engine logs in {}",
        output.display(),
        paths.logs.display()
    );
    Ok(())
}

/// Every part of the plan; the databases it makes are added to `databases` as soon as they
/// exist, so the caller drops them whatever happens.
async fn measure(
    cli: &Cli,
    plan: &Plan,
    paths: &Paths,
    databases: &mut Vec<String>,
) -> anyhow::Result<Results> {
    let mut results = Results {
        started_at: chrono::Utc::now(),
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        load_average_start: procfs::load_average(),
        load_average_end: None,
        engine_settings: cli
            .settings
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        modes: Vec::new(),
        pgbench: None,
        floors: None,
        per_step_aim_ms: None,
        search: None,
    };
    if plan.needs_engine() {
        for mode in &plan.modes {
            let figures = measure_mode(*mode, plan, paths, &cli.settings, databases)
                .await
                .with_context(|| format!("{} mode", mode.name()))?;
            results.modes.push(figures);
        }
    }
    if plan.runs(Scenario::Pgbench) {
        let scratch = testkit::fresh_postgres_url().await?;
        databases.push(scratch.clone());
        eprintln!("bench: round-trip floors of postgres and redis");
        results.floors = Some(probes::floors(&scratch, &testkit::redis_url()).await?);
        match pgbench::find() {
            None => {
                eprintln!("bench: pgbench not found on PATH or in /usr/lib/postgresql: skipped")
            }
            Some(binary) => {
                eprintln!(
                    "bench: pgbench -s {} -c 8 -j 2 -T {}, then one client -T {} ({})",
                    pgbench::SCALE,
                    plan.pgbench_seconds,
                    plan.floor_seconds,
                    binary.display()
                );
                results.pgbench = Some(
                    pgbench::run(
                        binary,
                        &scratch,
                        plan.pgbench_seconds,
                        plan.floor_seconds,
                        &paths.scratch,
                    )
                    .await?,
                );
            }
        }
    }
    if plan.runs(Scenario::Search) {
        let (report, url) = search::run(plan.search_rows, plan.search_queries).await?;
        databases.push(url);
        results.search = Some(report);
    }
    results.load_average_end = procfs::load_average();
    results.finish();
    Ok(results)
}

async fn measure_mode(
    mode: EngineMode,
    plan: &Plan,
    paths: &Paths,
    settings: &[(String, String)],
    databases: &mut Vec<String>,
) -> anyhow::Result<ModeResults> {
    eprintln!("bench: {}: starting the engine", mode.name());
    let mut engine = Engine::start(mode, paths, settings).await?;
    databases.extend(engine.database_url.clone());
    let client = Arc::new(Client::new(&engine.base_url, &engine.token));
    let watch = Watch::open(client.clone()).await?;
    let mut figures = ModeResults::new(mode.name());
    figures.rss_at_start_kib = engine.rss_kib();
    let name = mode.name();

    if plan.runs(Scenario::S1) {
        eprintln!(
            "bench: {name}: S1, {} warm-up and {} lone runs of {} steps",
            plan.s1_warmup_runs, plan.s1_runs, plan.s1_steps
        );
        let template = client
            .create_template("bench-s1", client::chain(plan.s1_steps))
            .await?;
        let s1 = latency::S1Plan {
            steps: plan.s1_steps,
            warmup_runs: plan.s1_warmup_runs,
            runs: plan.s1_runs,
            timeout: plan.timeout,
        };
        figures.s1 = Some(latency::run(&client, &watch, &template, &s1).await?);
        engine.check_alive()?;
    }
    if plan.runs(Scenario::S2) {
        eprintln!(
            "bench: {name}: S2, {} instances of {} steps from {} clients (after a warm-up run)",
            plan.s2_instances, plan.s2_steps, plan.s2_clients
        );
        let template = client
            .create_template("bench-s2", client::chain(plan.s2_steps))
            .await?;
        let s2 = load::S2Plan {
            instances: plan.s2_instances,
            steps: plan.s2_steps,
            clients: plan.s2_clients,
            timeout: plan.timeout,
        };
        load::run(&client, &watch, &template, &s2).await?;
        let counters = match &engine.database_url {
            Some(url) => Some((url.clone(), probes::counters(url).await?)),
            None => None,
        };
        let cpu_before = engine.cpu_ms();
        let report = load::run(&client, &watch, &template, &s2).await?;
        let steps = report.instances * report.steps_per_instance;
        if let (Some(before), Some(after)) = (cpu_before, engine.cpu_ms()) {
            figures.s2_engine_cpu_ms_per_step = Some((after - before) / steps as f64);
        }
        if let Some((url, before)) = counters {
            // Backends publish their counts up to a second late.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let delta = probes::counters(&url).await?.since(before);
            figures.s2_database_per_step = Some(probes::PerStep::of(delta, steps));
        }
        figures.s2 = Some(report);
        engine.check_alive()?;
    }
    if plan.runs(Scenario::Parallel) {
        eprintln!(
            "bench: {name}: a parallel step of {} branches",
            plan.parallel_branches
        );
        let template = client
            .create_template("bench-parallel", client::parallel(plan.parallel_branches))
            .await?;
        figures.parallel = Some(
            scale::parallel(
                &client,
                &watch,
                &template,
                plan.parallel_branches,
                plan.timeout,
            )
            .await?,
        );
        engine.check_alive()?;
    }
    if plan.runs(Scenario::Release) {
        eprintln!(
            "bench: {name}: {} instances parked on an event, released at once",
            plan.release_instances
        );
        let template = client
            .create_template("bench-release", client::wait_then_noop("go"))
            .await?;
        figures.release = Some(
            scale::release(
                &client,
                &watch,
                &template,
                "go",
                plan.release_instances,
                plan.timeout,
            )
            .await?,
        );
        engine.check_alive()?;
    }
    if plan.runs(Scenario::Waiting) {
        eprintln!(
            "bench: {name}: {} instances parked on an event, the scheduler's memory",
            plan.waiting_instances
        );
        let template = client
            .create_template("bench-waiting", client::wait_then_noop("never-sent"))
            .await?;
        figures.waiting = Some(
            scale::waiting(
                &engine,
                &client,
                &template,
                plan.waiting_instances,
                plan.timeout,
            )
            .await?,
        );
        engine.check_alive()?;
    }
    figures.rss_at_end_kib = engine.rss_kib();
    drop(watch);
    engine.stop().await;
    Ok(figures)
}

/// JSON logs at `warn` unless `RUST_LOG` says otherwise (the search benchmark's storage calls
/// log through it); sqlx's slow-statement warnings only echo a `DROP DATABASE` taking its time.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,sqlx::query=error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .json()
        .flatten_event(true)
        .with_writer(std::io::stderr)
        .try_init();
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target")))
}

/// Drops a database this run made (its name is testkit's: digits, hex and `_`).
async fn drop_database(url: &str) -> anyhow::Result<()> {
    let name = url
        .rsplit('/')
        .next()
        .and_then(|last| last.split('?').next())
        .filter(|name| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .context("not a database this benchmark made")?;
    let admin = std::env::var("TEST_DATABASE_ADMIN_URL").unwrap_or_else(|_| ADMIN_URL.to_owned());
    let mut conn = PgConnection::connect(&admin).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    conn.close().await.ok();
    Ok(())
}
