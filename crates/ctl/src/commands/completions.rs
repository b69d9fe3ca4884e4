//! `completions bash|zsh|fish`: a completion script for `workflow-engine ctl …`, from the same
//! clap definitions the parser uses.

use clap::CommandFactory;
use clap_complete::Shell as Target;

use crate::cli::{Cli, Shell};
use crate::error::{CtlError, Result, exit};

pub(super) fn run(shell: Shell) -> Result<i32> {
    let target = match shell {
        Shell::Bash => Target::Bash,
        Shell::Zsh => Target::Zsh,
        Shell::Fish => Target::Fish,
    };
    crate::table::print(script(target)?)?;
    Ok(exit::OK)
}

fn script(target: Target) -> Result<String> {
    let mut script = Vec::new();
    clap_complete::generate(target, &mut command(), "workflow-engine", &mut script);
    let script = String::from_utf8(script)
        .map_err(|e| CtlError::Output(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
    Ok(match target {
        // clap_complete spells a hyphenated binary's states two ways in bash (clap-rs/clap
        // #6421): the loop sets `workflow__engine__subcmd__ctl`, the arms match
        // `workflow__subcmd__engine__subcmd__ctl`, so nothing past `ctl` would complete.
        Target::Bash => script.replace("workflow__subcmd__engine", "workflow__engine"),
        _ => script,
    })
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
            let script = script(target).unwrap();
            for word in ["ctl", "validate", "send-event", "idempotency-key"] {
                assert!(script.contains(word), "{target:?} lacks {word}");
            }
        }
    }

    #[test]
    fn bash_matches_the_states_it_sets() {
        let script = script(Target::Bash).unwrap();
        let set: Vec<&str> = script
            .lines()
            .filter_map(|l| l.trim().strip_prefix("cmd=\""))
            .filter_map(|l| l.strip_suffix('"'))
            .filter(|state| !state.is_empty())
            .collect();
        assert!(set.contains(&"workflow__engine__subcmd__ctl__subcmd__start"));
        for state in set {
            assert!(
                script.contains(&format!("        {state})")),
                "no arm for {state}"
            );
        }
    }
}
