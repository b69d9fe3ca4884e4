//! `validate FILE…`: the engine's own validation, offline. Errors and warnings go to standard
//! error as `FILE: PATH: MESSAGE`; with `--output json`, a report per file to standard output.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::cli::Output;
use crate::error::{Result, exit};
use crate::files::{DefinitionFile, Report};
use crate::problem::display_path;
use crate::table::{print, print_json};

/// A file as checked: read and validated, or why it could not be read.
pub(super) struct Checked {
    pub path: PathBuf,
    pub outcome: std::result::Result<(DefinitionFile, Report), String>,
}

impl Checked {
    pub(super) fn is_valid(&self) -> bool {
        matches!(&self.outcome, Ok((_, report)) if report.errors.is_empty())
    }
}

/// Reads and validates each file.
pub(super) fn check(files: &[PathBuf]) -> Vec<Checked> {
    files
        .iter()
        .map(|path| Checked {
            path: path.clone(),
            outcome: DefinitionFile::read(path)
                .map(|file| {
                    let report = file.validate();
                    (file, report)
                })
                .map_err(|e| e.to_string()),
        })
        .collect()
}

/// Prints the errors and warnings of each file to standard error.
pub(super) fn report(checked: &[Checked]) {
    for file in checked {
        let name = file.path.display();
        match &file.outcome {
            Err(reason) => eprintln!("{reason}"),
            Ok((_, report)) => {
                for error in &report.errors {
                    eprintln!("{name}: {}: {}", display_path(&error.path), error.message);
                }
                for warning in &report.warnings {
                    warn(&file.path, &warning.path, &warning.message);
                }
            }
        }
    }
}

pub(super) fn warn(file: &Path, path: &str, message: &str) {
    eprintln!(
        "{}: {}: warning: {message}",
        file.display(),
        display_path(path)
    );
}

pub(super) fn run(files: &[PathBuf], output: Output) -> Result<i32> {
    let checked = check(files);
    let invalid = checked.iter().filter(|c| !c.is_valid()).count();
    match output {
        Output::Json => print_json(&Value::Array(checked.iter().map(as_json).collect()))?,
        Output::Table => {
            report(&checked);
            for file in checked.iter().filter(|c| c.is_valid()) {
                print(format!("{}: valid", file.path.display()))?;
            }
            if invalid > 0 {
                eprintln!("{invalid} of {} file(s) have errors", checked.len());
            }
        }
    }
    Ok(if invalid == 0 { exit::OK } else { exit::FAILED })
}

fn as_json(checked: &Checked) -> Value {
    let file = checked.path.display().to_string();
    match &checked.outcome {
        Err(reason) => {
            json!({"file": file, "valid": false, "errors": [{"path": "", "message": reason}], "warnings": []})
        }
        Ok((definition, report)) => json!({
            "file": file,
            "name": definition.name,
            "valid": report.errors.is_empty(),
            "errors": report.errors,
            "warnings": report.warnings,
        }),
    }
}
