//! `workflow-engine`: with no subcommand, the whole engine in one process; otherwise one
//! service (`gateway`, `scheduler`, `worker`), `migrate`, `token`, or `ctl` (the terminal
//! client, which reads none of the engine's configuration).

// Outside tests a failure is an error returned, or an `expect` that says why it cannot happen
// (clippy.toml allows unwrap in tests); and `pub` means exported from the crate, so what a
// newcomer sees as public is the crate's API.
#![deny(clippy::unwrap_used)]
#![warn(unreachable_pub)]

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use workflow_engine::config::Secret;
use workflow_engine::token::{self, TokenRequest};
use workflow_engine::{App, Mode, Settings, telemetry};

/// mimalloc instead of the C library's allocator (see docs/architecture.md, "Hot path").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "workflow-engine",
    version,
    about = "The Chorus Workflow Engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the REST API and webhooks (talks gRPC to the scheduler).
    Gateway,
    /// Serve the gRPC core: state, decisions, timers.
    Scheduler,
    /// Run jobs from the queues in WORKER_QUEUES.
    Worker,
    /// Apply the database migrations and exit.
    Migrate,
    /// Print a bearer token signed with JWT_SECRET (and JWT_ISSUER, JWT_AUDIENCE when set).
    ///
    /// `token --role worker` is a platform worker's WORKER_TOKEN (every tenant's `default`
    /// queue); `token --role worker --tenant acme --queues resize_image` is a credential for
    /// acme's own worker pool, limited to its `resize_image` queue.
    Token {
        #[arg(long, default_value = "developer")]
        sub: String,
        /// The tenant; default `default`, or `*` (every tenant) for a worker.
        #[arg(long)]
        tenant: Option<String>,
        /// admin, operator, viewer or worker.
        #[arg(long, default_value = "admin", value_parser = parse_role)]
        role: model::Role,
        /// Hours until it expires; at most JWT_MAX_LIFETIME (WORKER_TOKEN_MAX_LIFETIME for a
        /// worker), which the verifying services enforce.
        #[arg(long, default_value_t = 24)]
        ttl_hours: u64,
        /// A worker token's queues, comma-separated (default: all of its tenant's).
        #[arg(long, value_delimiter = ',')]
        queues: Option<Vec<String>>,
    },
    /// The terminal client: validate, apply, start and watch workflows (`ctl --help`).
    #[command(disable_help_flag = true)]
    Ctl {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

#[tokio::main]
async fn main() {
    // `--help` lists the variables too: the configuration is the environment, not flags.
    let command = Cli::command().after_long_help(workflow_engine::config::variables_help());
    let cli = Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|error| error.exit());
    if let Some(Command::Ctl { args }) = cli.command {
        std::process::exit(ctl::main(args).await);
    }
    // One line naming what went wrong, never a backtrace, whatever RUST_BACKTRACE says: the
    // message is for the operator who set the variable.
    if let Err(error) = run(cli).await {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("configuration error: {error}");
            std::process::exit(2);
        }
    };
    let service = match &cli.command {
        None => "embedded",
        Some(Command::Gateway) => "gateway",
        Some(Command::Scheduler) => "scheduler",
        Some(Command::Worker) => "worker",
        Some(_) => "tool",
    };
    let _telemetry = telemetry::init(&settings, service)?;

    let mode = match cli.command {
        None => Mode::Embedded,
        Some(Command::Gateway) => Mode::Gateway,
        Some(Command::Scheduler) => Mode::Scheduler,
        Some(Command::Worker) => Mode::Worker,
        Some(Command::Migrate) => {
            let store = workflow_engine::app::connect_store(&settings).await?;
            store.migrate().await.context("migrate")?;
            tracing::info!("migrations applied");
            return Ok(());
        }
        Some(Command::Ctl { .. }) => unreachable!("ctl runs before the settings are read"),
        Some(Command::Token {
            sub,
            tenant,
            role,
            ttl_hours,
            queues,
        }) => {
            let rules = settings
                .token_rules()
                .context("JWT_SECRET: required to sign a token")?;
            let request = TokenRequest {
                subject: sub,
                tenant,
                role,
                ttl_hours,
                queues,
            };
            println!("{}", token::mint(&rules, &request)?);
            return Ok(());
        }
    };

    let announce_token =
        settings.jwt_secret.is_none() && matches!(mode, Mode::Embedded | Mode::Gateway);
    if announce_token {
        settings.jwt_secret = Some(Secret::new(token::development_secret()));
    }
    let app = App::build(&settings, mode).await?;
    if let (true, Some(port)) = (announce_token, app.gateway_port()) {
        let request = TokenRequest {
            subject: "developer".to_owned(),
            tenant: None,
            role: model::Role::Admin,
            ttl_hours: 24,
            queues: None,
        };
        let bearer = token::mint(&settings.token_rules()?, &request)?;
        println!(
            "\nno JWT_SECRET set (development): made one for this run. A token valid for 24 hours:\n\n  export TOKEN={bearer}\n\n  curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:{port}/api/v1/templates\n\nThe dashboard, signed in with it (the token stays in the URL fragment, never sent to a server):\n\n  http://127.0.0.1:{port}/ui/#token={bearer}\n"
        );
    }
    tracing::info!(?mode, gateway_port = ?app.gateway_port(), grpc_port = ?app.grpc_port(), "workflow engine started");
    app.run_until_stopped(shutdown_signal()).await
}

fn parse_role(text: &str) -> Result<model::Role, String> {
    model::Role::parse(text)
        .ok_or_else(|| format!("'{text}' is not admin, operator, viewer or worker"))
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutting down");
}
