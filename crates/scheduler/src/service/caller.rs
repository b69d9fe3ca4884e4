//! Who is calling: tenant and role from request metadata (set by the gateway from the JWT).

use crate::SchedulerError;

pub struct Caller {
    pub tenant: String,
    pub role: String,
}

impl Caller {
    pub fn of<T>(request: &tonic::Request<T>) -> Self {
        let header = |name: &str| {
            request
                .metadata()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
        };
        Self {
            tenant: header(proto::TENANT_HEADER)
                .unwrap_or_else(|| model::DEFAULT_TENANT.to_owned()),
            role: header(proto::ROLE_HEADER).unwrap_or_else(|| "operator".to_owned()),
        }
    }

    /// Viewers may only read.
    pub fn may_write(&self) -> Result<(), SchedulerError> {
        if self.role == "viewer" {
            return Err(SchedulerError::PermissionDenied(self.role.clone()));
        }
        Ok(())
    }
}

/// `limit` as the API defines it: default 50, at most 500.
pub fn page_limit(limit: u32) -> u32 {
    match limit {
        0 => 50,
        limit => limit.min(500),
    }
}

/// The cursor of the next page: the last id of a full page, none after a short one.
pub fn next_cursor(count: usize, limit: u32, last: Option<uuid::Uuid>) -> Option<String> {
    if count as u32 != limit {
        return None;
    }
    last.map(|id| id.to_string())
}

/// An optional id from a request; an empty one means none.
pub fn optional_id(
    text: Option<String>,
    field: &str,
) -> Result<Option<uuid::Uuid>, SchedulerError> {
    text.filter(|text| !text.is_empty())
        .map(|text| crate::convert::id(&text, field))
        .transpose()
}
