//! Bearer tokens for local use: the development secret, the embedded worker's credential and
//! `workflow-engine token`.

use identity::{MintRequest, TokenRules};
use model::Role;

/// Who a token speaks for.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub subject: String,
    /// A tenant; `None` is the default tenant for a user and every tenant (`*`) for a worker.
    pub tenant: Option<String>,
    pub role: Role,
    pub ttl_hours: u64,
    /// A worker token's queues; none means all of its tenant's.
    pub queues: Option<Vec<String>>,
}

/// A token signed under `rules`.
pub fn mint(rules: &TokenRules, request: &TokenRequest) -> anyhow::Result<String> {
    let tenant = request.tenant.clone().unwrap_or_else(|| {
        if request.role == Role::Worker {
            "*".to_owned()
        } else {
            model::DEFAULT_TENANT.to_owned()
        }
    });
    let token = identity::mint(
        rules,
        &MintRequest {
            subject: request.subject.clone(),
            tenant,
            role: request.role,
            lifetime_seconds: request.ttl_hours * 3600,
            queues: request.queues.clone(),
        },
    )?;
    Ok(token)
}

/// The credential of the worker inside the embedded process: a platform worker token that
/// lives as long as worker tokens may.
pub fn embedded_worker(rules: &TokenRules) -> anyhow::Result<String> {
    let request = MintRequest {
        subject: "embedded-worker".to_owned(),
        tenant: "*".to_owned(),
        role: Role::Worker,
        lifetime_seconds: rules.max_worker_lifetime.as_secs(),
        queues: None,
    };
    Ok(identity::mint(rules, &request)?)
}

/// A random secret for the development mode, never written anywhere.
pub fn development_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}
