//! `apply FILE…`: every file validated offline first (one with errors: nothing is applied),
//! then each template created, or updated when its definition or description changed; an
//! unchanged one keeps its version.

use std::collections::HashSet;
use std::path::PathBuf;

use reqwest::header::HeaderMap;
use serde::Serialize;
use serde_json::json;

use super::validate;
use crate::api::{Template, parse};
use crate::cli::Output;
use crate::client::Client;
use crate::error::{CtlError, Result, exit};
use crate::files::DefinitionFile;
use crate::table::{print, print_json, render, table};

#[derive(Debug, Serialize)]
struct Applied {
    file: String,
    name: String,
    id: String,
    version: i32,
    /// `created`, `updated` or `unchanged`.
    change: &'static str,
    warnings: Vec<model::Warning>,
}

pub(super) async fn run(client: &Client, files: &[PathBuf], output: Output) -> Result<i32> {
    let checked = validate::check(files);
    let invalid = checked.iter().filter(|c| !c.is_valid()).count();
    if invalid > 0 {
        validate::report(&checked);
        eprintln!(
            "{invalid} of {} file(s) have errors: nothing applied",
            checked.len()
        );
        return Ok(exit::FAILED);
    }
    let definitions: Vec<DefinitionFile> = checked
        .into_iter()
        .filter_map(|c| c.outcome.ok().map(|(file, _)| file))
        .collect();
    let mut names = HashSet::new();
    for file in &definitions {
        if !names.insert(file.name.as_str()) {
            return Err(CtlError::Usage(format!(
                "{}: the name '{}' is another file's too",
                file.path.display(),
                file.name
            )));
        }
    }

    let mut done = Vec::new();
    let mut failure = None;
    for file in &definitions {
        match apply_one(client, file).await {
            Ok(applied) => done.push(applied),
            Err(error) => {
                failure = Some((file.path.display().to_string(), error));
                break;
            }
        }
    }
    for (file, applied) in definitions.iter().zip(&done) {
        for warning in &applied.warnings {
            validate::warn(&file.path, &warning.path, &warning.message);
        }
    }
    match output {
        Output::Json => print_json(&json!(done))?,
        Output::Table if !done.is_empty() => {
            let mut rows = table(["FILE", "NAME", "ID", "VERSION", "CHANGE"]);
            for a in &done {
                rows.add_row([
                    a.file.clone(),
                    a.name.clone(),
                    a.id.clone(),
                    a.version.to_string(),
                    a.change.to_owned(),
                ]);
            }
            print(render(&rows))?;
        }
        Output::Table => {}
    }
    match failure {
        Some((file, error)) => {
            eprintln!("{file}: not applied");
            Err(error)
        }
        None => Ok(exit::OK),
    }
}

async fn apply_one(client: &Client, file: &DefinitionFile) -> Result<Applied> {
    let existing = client.template_named(&file.name).await?;
    let (template, change) = match existing {
        None => {
            let mut body = json!({"name": file.name, "definition": file.definition});
            if let Some(description) = &file.description {
                body["description"] = json!(description);
            }
            let (_, raw) = client.post("/templates", &body, HeaderMap::new()).await?;
            (parse::<Template>(client, "/templates", &raw)?, "created")
        }
        Some(current) if unchanged(&current, file) => (current, "unchanged"),
        Some(current) => {
            let path = format!("/templates/{}", current.id);
            let mut body = json!({"definition": file.definition});
            if let Some(description) = &file.description {
                body["description"] = json!(description);
            }
            let raw = client.put(&path, Some(&body)).await?;
            (parse::<Template>(client, &path, &raw)?, "updated")
        }
    };
    let warnings = if change == "unchanged" {
        Vec::new()
    } else {
        template
            .warnings
            .iter()
            .map(|w| model::Warning {
                path: file.file_path(&w.path),
                message: w.message.clone(),
            })
            .collect()
    };
    Ok(Applied {
        file: file.path.display().to_string(),
        name: template.name,
        id: template.id,
        version: template.version,
        change,
        warnings,
    })
}

/// The stored template is what the file says: the same definition (as JSON, whatever its
/// formatting) and, when the file gives one, the same description.
fn unchanged(current: &Template, file: &DefinitionFile) -> bool {
    current.definition == file.definition
        && file
            .description
            .as_ref()
            .is_none_or(|d| current.description.as_ref() == Some(d))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn only_a_different_definition_or_description_is_a_change() {
        let definition = json!({"steps": [{"id": "a", "type": "wait", "config": {"wait_type": "event", "event": "go"}}]});
        let current: Template = serde_json::from_value(json!({"id": "t", "name": "n",
            "description": "old", "version": 3, "definition": definition,
            "updated_at": "2026-12-01T10:00:00Z", "warnings": []}))
        .unwrap();
        let same = DefinitionFile::from_json(Path::new("n.json"), definition.clone());
        assert!(unchanged(&current, &same));
        let mut other = definition.clone();
        other["steps"][0]["config"]["event"] = json!("stop");
        assert!(!unchanged(
            &current,
            &DefinitionFile::from_json(Path::new("n.json"), other)
        ));
        let described = DefinitionFile::from_json(
            Path::new("x.json"),
            json!({"name": "n", "description": "new", "definition": definition}),
        );
        assert!(!unchanged(&current, &described));
    }
}
