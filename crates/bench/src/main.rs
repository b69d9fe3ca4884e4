//! `bench`: measures the engine the way the product promises it, per-step overhead with every
//! step durable in Postgres and steps per second against pgbench's TPS on the same server. It
//! runs the distributed engine (gateway, scheduler, worker over Postgres and Redis) in this
//! process, drives it through the REST API like any client, and writes the figures to
//! `bench-results.json` in the target directory. Run it with `make bench`.

mod client;
mod engine;
mod latency;
mod load;
mod pgbench;
mod probes;
mod report;
mod search;
mod stats;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use sqlx::{Connection, PgConnection};

use crate::client::Client;
use crate::engine::Engine;
use crate::report::{Config, Results};

#[derive(Parser)]
#[command(
    name = "bench",
    about = "Measures the engine's per-step overhead and throughput"
)]
struct Cli {
    /// `noop` action steps in the chain each instance runs.
    #[arg(long, default_value_t = 20)]
    steps: usize,
    /// Instances in the throughput run.
    #[arg(long, default_value_t = 200)]
    instances: usize,
    /// Instances in flight at once in the throughput run (default: all of them).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Instances run one at a time, alone, for the latency figures.
    #[arg(long, default_value_t = 10)]
    latency_runs: usize,
    /// How often the benchmark asks which instances have finished.
    #[arg(long, default_value_t = 50)]
    poll_ms: u64,
    /// Give up on the throughput run after this long.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
    /// Engine settings, as the environment would give them (`--set WORKER_CONCURRENCY=32`).
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = setting)]
    settings: Vec<(String, String)>,
    /// Length of the pgbench run.
    #[arg(long, default_value_t = 10)]
    pgbench_seconds: u32,
    /// Skip the pgbench comparison.
    #[arg(long)]
    no_pgbench: bool,
    /// Where the results go (default: `bench-results.json` in the target directory).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Keep the engine's and the scratch database (their names are printed).
    #[arg(long)]
    keep_databases: bool,
    /// Instances in the search benchmark's database (`GET /instances` filters on Postgres).
    #[arg(long, default_value_t = 1_000_000)]
    search_rows: u64,
    /// Queries per filter shape in the search benchmark.
    #[arg(long, default_value_t = 200)]
    search_queries: usize,
    /// Skip the search benchmark.
    #[arg(long)]
    no_search: bool,
    /// Run only the search benchmark.
    #[arg(long)]
    search_only: bool,
}

fn setting(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}' is not NAME=VALUE"))?;
    Ok((name.trim().to_owned(), value.to_owned()))
}

const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging();
    if cli.steps == 0 || cli.instances == 0 {
        bail!("--steps and --instances must be at least 1");
    }
    let concurrency = cli
        .concurrency
        .unwrap_or(cli.instances)
        .clamp(1, cli.instances);
    let poll = Duration::from_millis(cli.poll_ms.max(1));
    if cli.search_only {
        return search_benchmark(cli.search_rows, cli.search_queries, cli.keep_databases).await;
    }

    eprintln!("bench: starting the engine (scheduler, worker, gateway over postgres and redis)");
    let engine = Engine::start(&cli.settings).await?;
    let client = Client::new(&engine.base_url, engine::JWT_SECRET)?;
    client.wait_healthy().await?;
    let template_id = client
        .create_chain_template(&format!("bench-chain-{}", cli.steps), cli.steps)
        .await?;

    // Warms the definition cache, the connection pools and the consumer group.
    latency::measure(&client, &template_id, cli.steps, 2, poll).await?;
    eprintln!(
        "bench: latency, {} instances of {} steps one at a time",
        cli.latency_runs, cli.steps
    );
    let latency =
        latency::measure(&client, &template_id, cli.steps, cli.latency_runs, poll).await?;

    eprintln!(
        "bench: throughput, {} instances of {} steps, {concurrency} in flight",
        cli.instances, cli.steps
    );
    let before = probes::counters(&engine.database_url).await?;
    let plan = load::LoadPlan {
        steps: cli.steps,
        instances: cli.instances,
        concurrency,
        poll,
        timeout: Duration::from_secs(cli.timeout_secs),
    };
    let load = load::run(&client, &template_id, &plan).await?;
    // Backends publish their counts up to a second late.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let database = probes::counters(&engine.database_url).await?.since(before);
    let engine_database = engine.database_url.clone();
    engine.stop();

    let scratch = testkit::fresh_postgres_url().await?;
    eprintln!("bench: round-trip floors of postgres and redis");
    let floors = probes::floors(&scratch, &testkit::redis_url()).await?;
    let pgbench = if cli.no_pgbench {
        None
    } else {
        match pgbench::find() {
            None => {
                eprintln!(
                    "bench: pgbench not found on PATH or in /usr/lib/postgresql: no comparison"
                );
                None
            }
            Some(binary) => {
                eprintln!(
                    "bench: pgbench -c 8 -j 2 -T {} ({})",
                    cli.pgbench_seconds,
                    binary.display()
                );
                Some(pgbench::run(binary, &scratch, cli.pgbench_seconds).await?)
            }
        }
    };

    let results = Results::new(
        Config {
            steps: cli.steps,
            instances: cli.instances,
            concurrency,
            latency_runs: cli.latency_runs,
            poll_ms: cli.poll_ms,
            engine_settings: cli
                .settings
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
        },
        latency,
        load,
        database,
        floors,
        pgbench,
    );
    println!("{}", results.table());
    let output = cli.output.unwrap_or_else(default_output);
    if let Some(dir) = output.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&output, serde_json::to_string_pretty(&results)? + "\n")
        .with_context(|| format!("writing {}", output.display()))?;
    println!("results written to {}", output.display());

    if !cli.no_search {
        search_benchmark(cli.search_rows, cli.search_queries, cli.keep_databases).await?;
    }
    if cli.keep_databases {
        println!("databases kept: {engine_database} {scratch}");
    } else {
        for url in [&engine_database, &scratch] {
            if let Err(error) = drop_database(url).await {
                eprintln!("bench: could not drop {url}: {error:#}");
            }
        }
    }
    Ok(())
}

/// The instance search at size (`search.rs`): its own database, its own results file.
async fn search_benchmark(rows: u64, queries: usize, keep: bool) -> anyhow::Result<()> {
    let (report, url) = search::run(rows, queries.max(1)).await?;
    println!("{}", search::table(&report));
    let output = default_output().with_file_name("bench-search-results.json");
    if let Some(dir) = output.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&output, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("writing {}", output.display()))?;
    println!("search results written to {}", output.display());
    if keep {
        println!("search database kept: {url}");
    } else if let Err(error) = drop_database(&url).await {
        eprintln!("bench: could not drop {url}: {error:#}");
    }
    Ok(())
}

/// JSON logs at `warn` unless `RUST_LOG` says otherwise: the engine's per-step `info` lines
/// would otherwise be part of what is measured.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .json()
        .flatten_event(true)
        .with_writer(std::io::stderr)
        .try_init();
}

fn default_output() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target")));
    target.join("bench-results.json")
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
