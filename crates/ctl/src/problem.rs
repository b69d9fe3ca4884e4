//! RFC 9457 problem documents, the body of every error answer of the API, and how a person
//! reads them: the title and status, the detail, one line per field path.

use std::fmt;

use model::FieldError;
use serde::Deserialize;

/// An error answer of the API.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub status: u16,
    /// `urn:chorus:problem:<code>`, when the answer was a problem document.
    pub kind: Option<String>,
    pub title: String,
    pub detail: String,
    /// Field-level problems, each located by a JSON pointer into the request.
    pub errors: Vec<FieldError>,
    /// What to do about it, added by the client (an expired token, a missing one).
    pub hint: Option<String>,
}

#[derive(Deserialize)]
struct Document {
    #[serde(rename = "type")]
    kind: Option<String>,
    title: Option<String>,
    detail: Option<String>,
    #[serde(default)]
    errors: Vec<FieldError>,
}

impl Problem {
    /// The problem in an error answer's body; an answer that is no problem document (a proxy's
    /// page) still becomes one, from its status and the start of its text.
    pub fn from_answer(status: u16, body: &[u8]) -> Self {
        let reason = reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error")
            .to_owned();
        match serde_json::from_slice::<Document>(body) {
            Ok(doc) => Self {
                status,
                kind: doc.kind,
                title: doc.title.unwrap_or(reason),
                detail: doc.detail.unwrap_or_default(),
                errors: doc.errors,
                hint: None,
            },
            Err(_) => {
                let text = String::from_utf8_lossy(body);
                let detail: String = text.trim().chars().take(200).collect();
                Self {
                    status,
                    kind: None,
                    title: reason,
                    detail,
                    errors: Vec::new(),
                    hint: None,
                }
            }
        }
    }

    /// The problem's code (`invalid`, `not_found`), the last part of its type.
    pub fn code(&self) -> Option<&str> {
        self.kind
            .as_deref()
            .and_then(|k| k.strip_prefix("urn:chorus:problem:"))
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.title, self.status)?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        for error in &self.errors {
            write!(f, "\n  {}: {}", display_path(&error.path), error.message)?;
        }
        Ok(())
    }
}

/// A JSON pointer as printed: the empty pointer (the whole document) as `/`.
pub(crate) fn display_path(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_document_reads_with_its_paths() {
        let body =
            br#"{"type":"urn:chorus:problem:invalid","title":"Unprocessable Content","status":422,
            "detail":"the definition has 1 problem(s)",
            "errors":[{"path":"/definition/steps/0/next_steps/0","message":"unknown step 'x'"}]}"#;
        let problem = Problem::from_answer(422, body);
        assert_eq!(problem.code(), Some("invalid"));
        assert_eq!(
            problem.to_string(),
            "Unprocessable Content (422): the definition has 1 problem(s)\n  \
             /definition/steps/0/next_steps/0: unknown step 'x'"
        );
    }

    #[test]
    fn an_answer_that_is_no_problem_document_keeps_its_status_and_text() {
        let problem = Problem::from_answer(502, b"<html>bad gateway</html>");
        assert_eq!(problem.code(), None);
        assert_eq!(
            problem.to_string(),
            "Bad Gateway (502): <html>bad gateway</html>"
        );
    }
}
