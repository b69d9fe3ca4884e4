//! The command line: every command, option and example of `workflow-engine ctl`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Where the engine is when neither `--url` nor `WORKFLOW_URL` says.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8081";

const EXAMPLES: &str = "\
Examples:
  workflow-engine ctl validate docs/examples/*.json
  workflow-engine ctl apply docs/examples/seed-workflow-schema-example.json
  workflow-engine ctl start onboarding --var email=someone@example.com --wait
  workflow-engine ctl list instances --status running
  workflow-engine ctl watch 019ac1d2-...

Exit codes: 0 success (the instance completed); 1 invalid definition or failed instance;
2 cancelled instance; 3 bad arguments or unreadable file; 4 refused by the API; 5 no, invalid
or expired token, or not allowed; 6 engine unreachable or unavailable (docs/cli.md).";

/// `workflow-engine ctl`: validate, apply, start and watch workflows from a terminal, over the
/// REST API.
#[derive(Debug, Parser)]
#[command(
    name = "ctl",
    bin_name = "workflow-engine ctl",
    about = "The terminal client: validate, apply, start and watch workflows over the REST API",
    after_help = EXAMPLES,
    arg_required_else_help = true,
    disable_version_flag = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// How to reach the engine and how to print.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// The engine's REST address.
    #[arg(long, global = true, env = "WORKFLOW_URL", default_value = DEFAULT_URL)]
    pub url: String,
    /// The bearer token (`workflow-engine token`, or the one `make run` prints).
    #[arg(long, global = true, env = "WORKFLOW_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Tables for a person, or the API's JSON for scripts.
    #[arg(short, long, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check definitions offline, as the API would; no server needed.
    #[command(after_help = "\
A file is a definition ({\"steps\": [...]}) or a template ({\"name\", \"description\", \"definition\"}).
Errors print as FILE: PATH: MESSAGE, PATH a JSON pointer into the file; warnings do not fail.

Example:
  workflow-engine ctl validate templates/*.json")]
    Validate {
        /// Definition or template files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Create or update templates by name; an unchanged definition makes no new version.
    #[command(after_help = "\
The name is the file's `name` field, else the file name without `.json`. Every file is
validated first; when one has errors nothing is applied.

Example:
  workflow-engine ctl apply docs/examples/seed-workflow-schema-example.json")]
    Apply {
        /// Definition or template files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Create and start an instance of a template.
    #[command(after_help = "\
--var key=value sets a string; --var key:=json sets any JSON value (count:=3, tags:='[\"a\"]').
--var entries override those of --vars.

Example:
  workflow-engine ctl start onboarding --var email=someone@example.com --wait")]
    Start(StartArgs),
    /// Show one instance: status, variables, output, error.
    #[command(
        after_help = "Example:\n  workflow-engine ctl get 019ac1d2-7f3e-7c11-9a45-2b8e1c0d9f10"
    )]
    Get {
        /// Instance id.
        id: String,
    },
    /// List an instance's step executions, oldest first.
    #[command(
        after_help = "Example:\n  workflow-engine ctl steps 019ac1d2-7f3e-7c11-9a45-2b8e1c0d9f10"
    )]
    Steps {
        /// Instance id.
        id: String,
    },
    /// List templates or instances, newest first.
    #[command(after_help = "\
Examples:
  workflow-engine ctl list templates
  workflow-engine ctl list instances --status failed --template onboarding --limit 20 -o json")]
    List(ListArgs),
    /// Pause a running instance.
    #[command(
        after_help = "Example:\n  workflow-engine ctl pause 019ac1d2-7f3e-7c11-9a45-2b8e1c0d9f10"
    )]
    Pause {
        /// Instance id.
        id: String,
    },
    /// Resume a paused instance.
    #[command(
        after_help = "Example:\n  workflow-engine ctl resume 019ac1d2-7f3e-7c11-9a45-2b8e1c0d9f10"
    )]
    Resume {
        /// Instance id.
        id: String,
    },
    /// Cancel an instance.
    #[command(
        after_help = "Example:\n  workflow-engine ctl cancel 019ac1d2-7f3e-7c11-9a45-2b8e1c0d9f10"
    )]
    Cancel {
        /// Instance id.
        id: String,
    },
    /// Send an event to an instance (a `wait` step for it goes on).
    #[command(after_help = "\
Example:
  workflow-engine ctl send-event 019ac1d2-7f3e-7c11-9a45-2b8e1c0d9f10 approved --data '{\"by\": \"bob\"}'")]
    SendEvent {
        /// Instance id.
        id: String,
        /// The event's name.
        event: String,
        /// The event's data, JSON.
        #[arg(long, value_name = "JSON")]
        data: Option<String>,
    },
    /// Follow one instance live until it ends: a line per step, a progress line, the output.
    #[command(after_help = "\
On a terminal the step lines update in place; otherwise each change prints a line.
Exits as `start --wait` does: 0 completed, 1 failed, 2 cancelled.

Example:
  workflow-engine ctl watch 019ac1d2-7f3e-7c11-9a45-2b8e1c0d9f10")]
    Watch {
        /// Instance id.
        id: String,
    },
    /// Print a shell completion script.
    #[command(after_help = "\
Examples:
  workflow-engine ctl completions bash > ~/.local/share/bash-completion/completions/workflow-engine
  workflow-engine ctl completions zsh > \"${fpath[1]}/_workflow-engine\"
  workflow-engine ctl completions fish > ~/.config/fish/completions/workflow-engine.fish")]
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Template name or id.
    pub template: String,
    /// A variable: key=value (a string) or key:=json; repeat for more.
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,
    /// A JSON object of variables (`-` reads standard input).
    #[arg(long = "vars", value_name = "FILE")]
    pub vars_file: Option<PathBuf>,
    /// A template version; the latest when absent.
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
    pub version: Option<i32>,
    /// Follow the instance to its end; exit 0 only when it completed (1 failed, 2 cancelled).
    #[arg(long)]
    pub wait: bool,
    /// Retrying with the same key and variables answers the same instance.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(value_enum)]
    pub what: ListKind,
    /// Only instances in this status.
    #[arg(long, value_parser = instance_statuses())]
    pub status: Option<String>,
    /// Only instances of this template (name or id).
    #[arg(long, value_name = "TEMPLATE")]
    pub template: Option<String>,
    /// How many, 1 to 500 (the API's default is 50).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub limit: Option<u32>,
    /// The next page: the cursor a previous list printed.
    #[arg(long)]
    pub cursor: Option<String>,
}

fn instance_statuses() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(model::InstanceStatus::ALL.map(|s| s.as_str()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListKind {
    Templates,
    Instances,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_an_example() {
        let command = Cli::command();
        for sub in command.get_subcommands() {
            let help = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(
                help.contains("workflow-engine ctl "),
                "{} has no example",
                sub.get_name()
            );
        }
    }
}
