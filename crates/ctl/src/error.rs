//! What can go wrong in the client, and the exit code each case ends the process with.

use std::path::PathBuf;

use crate::problem::Problem;

/// The process exit codes of `workflow-engine ctl`, as `docs/cli.md` documents them.
pub mod exit {
    /// Success; with `start --wait` and `watch`: the instance completed.
    pub const OK: i32 = 0;
    /// `validate`/`apply`: a definition has errors; `start --wait`/`watch`: the instance failed.
    pub const FAILED: i32 = 1;
    /// `start --wait`/`watch`: the instance was cancelled.
    pub const CANCELLED: i32 = 2;
    /// Bad arguments, or a local file that cannot be read or is not JSON.
    pub const USAGE: i32 = 3;
    /// The API refused the request (a problem document: 400, 404, 409, 422, …).
    pub const REFUSED: i32 = 4;
    /// No token, an invalid or expired token (401), or a role that may not do this (403).
    pub const AUTH: i32 = 5;
    /// The engine cannot be reached, is unavailable (5xx), or answered something unreadable.
    pub const UNREACHABLE: i32 = 6;
}

/// An error of the client. Its `Display` is the first line a person reads; [`CtlError::hint`]
/// adds what to do about it where there is something to say.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    #[error("{0}")]
    Usage(String),
    #[error("{}: {source}", path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not valid JSON: {source}", path.display())]
    FileJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A problem document from the API.
    #[error("{0}")]
    Problem(Box<Problem>),
    #[error("cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("no answer from {url} in time")]
    Timeout { url: String },
    #[error("{url}: {reason}")]
    Transport { url: String, reason: String },
    /// An answer the client cannot read: a proxy in the way, or another server on that port.
    #[error("unexpected answer from {url}: {detail}")]
    BadAnswer { url: String, detail: String },
    #[error("no template named '{0}'")]
    NoSuchTemplate(String),
    #[error("cannot write the output: {0}")]
    Output(#[source] std::io::Error),
}

impl CtlError {
    /// The exit code this error ends the process with.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Usage(_) | Self::ReadFile { .. } | Self::FileJson { .. } => exit::USAGE,
            Self::Problem(problem) => match problem.status {
                401 | 403 => exit::AUTH,
                500.. => exit::UNREACHABLE,
                _ => exit::REFUSED,
            },
            Self::NoSuchTemplate(_) => exit::REFUSED,
            Self::Connect { .. }
            | Self::Timeout { .. }
            | Self::Transport { .. }
            | Self::BadAnswer { .. } => exit::UNREACHABLE,
            Self::Output(_) => exit::USAGE,
        }
    }

    /// What the person can do about it, if there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Connect { .. } => Some(
                "is the engine running? Start it with `workflow-engine` (or `make run`), or point \
                 --url / WORKFLOW_URL at it"
                    .to_owned(),
            ),
            Self::Timeout { .. } => {
                Some("the engine is slow or unreachable; try again, or check --url".to_owned())
            }
            Self::Problem(problem) => problem.hint.clone(),
            Self::NoSuchTemplate(_) => {
                Some("`workflow-engine ctl list templates` shows the names".to_owned())
            }
            _ => None,
        }
    }
}

impl From<Problem> for CtlError {
    fn from(problem: Problem) -> Self {
        Self::Problem(Box::new(problem))
    }
}

pub(crate) type Result<T, E = CtlError> = std::result::Result<T, E>;
