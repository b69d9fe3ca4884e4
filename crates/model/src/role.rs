use serde::{Deserialize, Serialize};

/// What a caller may do. Parsed once, from a verified token, and checked the same way by the
/// gateway and the scheduler; a role the engine does not know is refused, never guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, in its tenant.
    Admin,
    /// Everything but administration, in its tenant (the default when a token names no role).
    Operator,
    /// Reads only.
    Viewer,
    /// A worker process: takes jobs and reports their results, and nothing else. No user
    /// route or user RPC accepts it, and no other role may take or report jobs.
    Worker,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Operator => "operator",
            Self::Viewer => "viewer",
            Self::Worker => "worker",
        }
    }

    /// Exactly the lowercase names: `VIEWER` is not a viewer, it is no role at all.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "admin" => Some(Self::Admin),
            "operator" => Some(Self::Operator),
            "viewer" => Some(Self::Viewer),
            "worker" => Some(Self::Worker),
            _ => None,
        }
    }

    /// May change templates, instances and triggers.
    pub fn may_write(self) -> bool {
        matches!(self, Self::Admin | Self::Operator)
    }

    /// May read templates, instances and triggers (a person's or a service's role).
    pub fn may_read(self) -> bool {
        !matches!(self, Self::Worker)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_names_parse() {
        for role in [Role::Admin, Role::Operator, Role::Viewer, Role::Worker] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("VIEWER"), None);
        assert_eq!(Role::parse("Admin"), None);
        assert_eq!(Role::parse(""), None);
    }

    #[test]
    fn viewers_and_workers_do_not_write_workers_do_not_read() {
        assert!(Role::Admin.may_write() && Role::Operator.may_write());
        assert!(!Role::Viewer.may_write() && !Role::Worker.may_write());
        assert!(Role::Viewer.may_read() && !Role::Worker.may_read());
    }
}
