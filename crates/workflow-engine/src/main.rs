//! `workflow-engine`: with no subcommand, the whole engine in one process; otherwise one
//! service (`gateway`, `scheduler`, `worker`), `migrate`, or `token`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use workflow_engine::token::{self, TokenRequest};
use workflow_engine::{App, Mode, Settings, telemetry};

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
    /// Print a bearer token signed with JWT_SECRET.
    Token {
        #[arg(long, default_value = "developer")]
        sub: String,
        #[arg(long, default_value = model::DEFAULT_TENANT)]
        tenant: String,
        #[arg(long, default_value = "admin")]
        role: String,
        #[arg(long, default_value_t = 24)]
        ttl_hours: i64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("configuration error: {error}");
            std::process::exit(2);
        }
    };
    telemetry::init(settings.log_format);

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
        Some(Command::Token {
            sub,
            tenant,
            role,
            ttl_hours,
        }) => {
            let secret = settings
                .jwt_secret
                .context("JWT_SECRET: required to sign a token")?;
            let request = TokenRequest {
                subject: sub,
                tenant,
                role,
                ttl_hours,
            };
            println!("{}", token::mint(&secret, &request)?);
            return Ok(());
        }
    };

    let announce_token =
        settings.jwt_secret.is_none() && matches!(mode, Mode::Embedded | Mode::Gateway);
    if announce_token {
        settings.jwt_secret = Some(token::development_secret());
    }
    let app = App::build(&settings, mode).await?;
    if let (true, Some(secret), Some(port)) =
        (announce_token, &settings.jwt_secret, app.gateway_port())
    {
        let request = TokenRequest {
            subject: "developer".to_owned(),
            tenant: model::DEFAULT_TENANT.to_owned(),
            role: "admin".to_owned(),
            ttl_hours: 24,
        };
        let bearer = token::mint(secret, &request)?;
        println!(
            "\nno JWT_SECRET set (development): made one for this run. A token valid for 24 hours:\n\n  export TOKEN={bearer}\n\n  curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:{port}/api/v1/templates\n\nThe dashboard, signed in with it (the token stays in the URL fragment, never sent to a server):\n\n  http://127.0.0.1:{port}/ui/#token={bearer}\n"
        );
    }
    tracing::info!(?mode, gateway_port = ?app.gateway_port(), grpc_port = ?app.grpc_port(), "workflow engine started");
    app.run_until_stopped(shutdown_signal()).await
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
