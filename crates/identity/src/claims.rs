use model::Role;
use serde::{Deserialize, Serialize};

/// The claims of a token. `exp` and `sub` are required; `tenant` defaults to
/// [`model::DEFAULT_TENANT`] and `role` to operator.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// A worker token's queues (their names as the definitions spell them); none means any of
    /// its tenant's queues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queues: Option<Vec<String>>,
}

/// Whose rows a caller reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantScope {
    /// One tenant's: every user token, and the worker token of a tenant's own worker pool.
    One(String),
    /// Every tenant's: only a worker token with `tenant: "*"`, the platform's own workers that
    /// run the built-in actions of every tenant from the shared `default` queue.
    All,
}

/// A verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
    pub tenant: TenantScope,
    pub role: Role,
    pub queues: Option<Vec<String>>,
}

impl Identity {
    /// The one tenant of a user's token (a user token never has [`TenantScope::All`]).
    pub fn tenant(&self) -> Option<&str> {
        match &self.tenant {
            TenantScope::One(tenant) => Some(tenant),
            TenantScope::All => None,
        }
    }

    /// The physical queue a worker with this identity may consume for `queue` (a name as a
    /// definition spells it, or `default`), or `None` when it may not.
    pub fn worker_queue(&self, queue: &str) -> Option<String> {
        if self.role != Role::Worker {
            return None;
        }
        if let Some(allowed) = &self.queues
            && !allowed.iter().any(|name| name == queue)
        {
            return None;
        }
        match &self.tenant {
            // The platform's workers name queues as they are kept: `default`, or a tenant's
            // queue in full (`acme/resize_image`).
            TenantScope::All => Some(queue.to_owned()),
            // The shared queue holds every tenant's jobs; a tenant's worker never reads it,
            // nor names another tenant's queue.
            TenantScope::One(_) if queue == model::DEFAULT_QUEUE || queue.contains('/') => None,
            TenantScope::One(tenant) => Some(model::job_queue(tenant, queue)),
        }
    }
}

impl Identity {
    /// Whether a worker with this identity may be handed jobs of the queue kept as `kept`
    /// (`default`, or `tenant/action`): the same reach as [`Identity::worker_queue`].
    pub fn may_consume(&self, kept: &str) -> bool {
        if self.role != Role::Worker {
            return false;
        }
        let logical = match (&self.tenant, kept.split_once('/')) {
            (TenantScope::All, _) => return self.allows(kept),
            (TenantScope::One(tenant), Some((owner, action))) if owner == tenant => action,
            (TenantScope::One(_), _) => return false,
        };
        self.allows(logical)
    }

    fn allows(&self, queue: &str) -> bool {
        self.queues
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|name| name == queue))
    }
}

/// What `workflow-engine token` and the development mode ask for.
#[derive(Debug, Clone)]
pub struct MintRequest {
    pub subject: String,
    /// A tenant, or `*` for a platform worker.
    pub tenant: String,
    pub role: Role,
    pub lifetime_seconds: u64,
    pub queues: Option<Vec<String>>,
}
