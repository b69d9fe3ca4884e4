//! Definition files: a bare definition (`{"steps": [...]}`) or a template document
//! (`{"name", "description", "definition"}`, the body of `POST /templates`), validated offline
//! with the engine crate, so a pipeline needs no server to check its templates.

use std::path::{Path, PathBuf};

use model::{FieldError, Warning};
use serde_json::Value;

use crate::error::{CtlError, Result};

/// One file, read and parsed.
#[derive(Debug, Clone)]
pub(crate) struct DefinitionFile {
    pub path: PathBuf,
    /// The template's name: the document's `name`, else the file name without its extension.
    pub name: String,
    pub description: Option<String>,
    pub definition: Value,
    /// Where the definition sits in the file: `""` for a bare definition, `/definition` in a
    /// template document. Every path printed is a JSON pointer into the file.
    pub prefix: &'static str,
}

/// What the engine says about a definition, with paths into the file.
#[derive(Debug, Clone, Default)]
pub(crate) struct Report {
    pub errors: Vec<FieldError>,
    pub warnings: Vec<Warning>,
}

impl DefinitionFile {
    pub(crate) fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read(path).map_err(|source| CtlError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        let json: Value = serde_json::from_slice(&text).map_err(|source| CtlError::FileJson {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self::from_json(path, json))
    }

    pub(crate) fn from_json(path: &Path, json: Value) -> Self {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
        let is_template = json.get("definition").is_some() && json.get("steps").is_none();
        if is_template {
            let name = text(&json, "name").unwrap_or(stem);
            let description = text(&json, "description");
            let definition = json.get("definition").cloned().unwrap_or(Value::Null);
            Self {
                path: path.to_owned(),
                name,
                description,
                definition,
                prefix: "/definition",
            }
        } else {
            Self {
                path: path.to_owned(),
                name: text(&json, "name").unwrap_or(stem),
                description: text(&json, "description"),
                definition: json,
                prefix: "",
            }
        }
    }

    /// Validates the definition as the API does (`engine::validate`), paths into the file.
    pub(crate) fn validate(&self) -> Report {
        let prefixed = |path: &str| format!("{}{path}", self.prefix);
        match engine::validate(&self.definition) {
            Ok(validated) => {
                let mut warnings: Vec<Warning> = validated
                    .warnings
                    .into_iter()
                    .map(|w| Warning {
                        path: prefixed(&w.path),
                        message: w.message,
                    })
                    .collect();
                // The API warns of these too; subflow targets it checks against the database,
                // which an offline check cannot.
                for action in engine::custom_actions(&validated.definition) {
                    warnings.push(Warning {
                        path: prefixed("/steps"),
                        message: format!(
                            "custom action '{action}': its jobs wait on queue '{action}' for a \
                             worker that serves it"
                        ),
                    });
                }
                Report {
                    errors: Vec::new(),
                    warnings,
                }
            }
            Err(errors) => Report {
                errors: errors
                    .into_iter()
                    .map(|e| FieldError::new(prefixed(&e.path), e.message))
                    .collect(),
                warnings: Vec::new(),
            },
        }
    }

    /// A path from the API (`/definition/...`) as a pointer into this file.
    pub(crate) fn file_path(&self, api_path: &str) -> String {
        match api_path.strip_prefix("/definition") {
            Some(rest) if self.prefix.is_empty() => rest.to_owned(),
            _ => api_path.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn broken_steps() -> Value {
        json!({"steps": [{"id": "a", "type": "action", "config": {"action": "log_message", "message": "x"},
            "next_steps": ["log_sucess"]}]})
    }

    #[test]
    fn a_bare_definition_is_named_after_its_file_and_located_from_its_root() {
        let file = DefinitionFile::from_json(Path::new("dir/welcome.json"), broken_steps());
        assert_eq!(file.name, "welcome");
        let report = file.validate();
        assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
        assert_eq!(report.errors[0].path, "/steps/0/next_steps/0");
        assert!(report.errors[0].message.contains("log_sucess"));
        assert_eq!(
            file.file_path("/definition/steps/0/next_steps/0"),
            "/steps/0/next_steps/0"
        );
    }

    #[test]
    fn a_template_document_keeps_its_name_and_api_paths() {
        let doc = json!({"name": "onboarding", "description": "d", "definition": broken_steps()});
        let file = DefinitionFile::from_json(Path::new("x.json"), doc);
        assert_eq!(file.name, "onboarding");
        assert_eq!(file.description.as_deref(), Some("d"));
        let report = file.validate();
        assert_eq!(report.errors[0].path, "/definition/steps/0/next_steps/0");
        assert_eq!(file.file_path("/definition/steps/0"), "/definition/steps/0");
    }

    #[test]
    fn a_valid_definition_warns_without_failing() {
        let def = json!({"steps": [
            {"id": "a", "type": "action", "config": {"action": "log_message", "message": "x"}},
            {"id": "b", "type": "action", "config": {"action": "log_message", "message": "y"}}
        ]});
        let report = DefinitionFile::from_json(Path::new("w.json"), def).validate();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
        assert_eq!(report.warnings[0].path, "/steps/1");
    }
}
