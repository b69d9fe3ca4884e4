//! Template operations: validation, warnings, versions.

use std::sync::Arc;

use chrono::Utc;
use model::{FieldError, Template, Warning};
use store::{Store, StoreError};

use crate::SchedulerError;

pub(super) const MAX_NAME_LENGTH: usize = 200;

/// Validates a definition for storage: errors and warnings with paths under `/definition`.
pub(super) async fn check_definition(
    store: &Arc<dyn Store>,
    tenant: &str,
    definition: &serde_json::Value,
) -> Result<(engine::Definition, Vec<Warning>), SchedulerError> {
    let validated = engine::validate(definition).map_err(|errors| SchedulerError::Invalid {
        message: format!("the definition has {} problem(s)", errors.len()),
        errors: errors
            .into_iter()
            .map(|e| FieldError::new(format!("/definition{}", e.path), e.message))
            .collect(),
    })?;
    let mut warnings: Vec<Warning> = validated
        .warnings
        .into_iter()
        .map(|w| Warning {
            path: format!("/definition{}", w.path),
            message: w.message,
        })
        .collect();
    for (path, target) in engine::subflow_targets(&validated.definition) {
        if subflow_exists(store, tenant, &target).await? {
            continue;
        }
        warnings.push(Warning {
            path: format!("/definition{path}"),
            message: format!(
                "no template '{target}' yet; the step fails if it still does not exist when it runs"
            ),
        });
    }
    for action in engine::custom_actions(&validated.definition) {
        warnings.push(Warning {
            path: "/definition/steps".to_owned(),
            message: format!("custom action '{action}': its jobs wait on queue '{action}' for a worker that serves it"),
        });
    }
    Ok((validated.definition, warnings))
}

async fn subflow_exists(
    store: &Arc<dyn Store>,
    tenant: &str,
    target: &str,
) -> Result<bool, SchedulerError> {
    let found = match uuid::Uuid::parse_str(target) {
        Ok(id) => store
            .get_template(tenant, id, None, false)
            .await
            .map(|_| ()),
        Err(_) => store
            .find_template_by_name(tenant, target)
            .await
            .map(|_| ()),
    };
    match found {
        Ok(()) => Ok(true),
        Err(StoreError::NotFound { .. }) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

pub(super) fn check_name(name: &str) -> Result<(), SchedulerError> {
    if name.trim().is_empty() {
        return Err(SchedulerError::invalid("/name", "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_LENGTH {
        return Err(SchedulerError::invalid(
            "/name",
            format!("must be at most {MAX_NAME_LENGTH} characters"),
        ));
    }
    Ok(())
}

pub(super) fn new_template(
    tenant: &str,
    name: String,
    description: Option<String>,
    definition: serde_json::Value,
    warnings: Vec<Warning>,
) -> Template {
    let now = Utc::now();
    Template {
        id: model::new_id(),
        tenant: tenant.to_owned(),
        name,
        description,
        version: 1,
        definition,
        created_at: now,
        updated_at: now,
        warnings,
    }
}
