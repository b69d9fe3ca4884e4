//! `completions bash|zsh|fish`: a completion script for `workflow-engine ctl …`, from the same
//! clap definitions the parser uses.

use clap::CommandFactory;
use clap_complete::Shell as Target;

use crate::cli::{Cli, Shell};
use crate::error::{CtlError, Result, exit};

pub fn run(shell: Shell) -> Result<i32> {
    let target = match shell {
        Shell::Bash => Target::Bash,
        Shell::Zsh => Target::Zsh,
        Shell::Fish => Target::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(target, &mut command(), "workflow-engine", &mut script);
    crate::table::print(
        String::from_utf8(script).map_err(|e| {
            CtlError::Output(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        })?,
    )?;
    Ok(exit::OK)
}

/// The binary as the shell sees it: `workflow-engine` with `ctl` under it.
fn command() -> clap::Command {
    clap::Command::new("workflow-engine")
        .subcommand(Cli::command().name("ctl").bin_name("workflow-engine ctl"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_the_commands() {
        for target in [Target::Bash, Target::Zsh, Target::Fish] {
            let mut script = Vec::new();
            clap_complete::generate(target, &mut command(), "workflow-engine", &mut script);
            let script = String::from_utf8(script).unwrap();
            for word in ["ctl", "validate", "send-event", "idempotency-key"] {
                assert!(script.contains(word), "{target:?} lacks {word}");
            }
        }
    }
}
