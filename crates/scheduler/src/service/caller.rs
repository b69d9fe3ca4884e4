//! Who is calling: the identity the authentication layer ([`super::auth`]) verified.

use identity::Identity;
use model::Role;

use crate::SchedulerError;

/// A user's call: one tenant, one role.
pub(super) struct Caller {
    pub tenant: String,
    pub role: Role,
}

impl Caller {
    /// The verified caller of a user method. Without an identity (a service not behind the
    /// authentication layer) nobody is let in.
    pub(super) fn of<T>(request: &tonic::Request<T>) -> Result<Self, SchedulerError> {
        let identity = request
            .extensions()
            .get::<Identity>()
            .ok_or(SchedulerError::Unauthenticated)?;
        let tenant = identity.tenant().ok_or(SchedulerError::Unauthenticated)?;
        Ok(Self {
            tenant: tenant.to_owned(),
            role: identity.role,
        })
    }

    /// Viewers may only read.
    pub(super) fn may_write(&self) -> Result<(), SchedulerError> {
        if !self.role.may_write() {
            return Err(SchedulerError::PermissionDenied(self.role.to_string()));
        }
        Ok(())
    }
}
/// `limit` as the API defines it: default 50, at most 500.
pub(super) fn page_limit(limit: u32) -> u32 {
    match limit {
        0 => 50,
        limit => limit.min(500),
    }
}

/// The cursor of the next page: the last id of a full page, none after a short one.
pub(super) fn next_cursor(count: usize, limit: u32, last: Option<uuid::Uuid>) -> Option<String> {
    if count as u32 != limit {
        return None;
    }
    last.map(|id| id.to_string())
}

/// An optional id from a request; an empty one means none.
pub(super) fn optional_id(
    text: Option<String>,
    field: &str,
) -> Result<Option<uuid::Uuid>, SchedulerError> {
    text.filter(|text| !text.is_empty())
        .map(|text| crate::convert::id(&text, field))
        .transpose()
}
