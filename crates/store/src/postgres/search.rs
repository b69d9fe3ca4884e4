//! The instance list over Postgres: the filters of `GET /instances`, each added to the query
//! only when given, so that the planner sees exactly the predicates it can use (a generic plan
//! of `$n IS NULL OR ...` would keep the GIN index on `variables` out of reach).

use model::Instance;
use sqlx::{Postgres, QueryBuilder};

use super::PostgresStore;
use crate::batch::{micros, page_limit};
use crate::rows::instance_from_row;
use crate::{InstanceFilter, StoreError, search};

pub(super) async fn list(
    store: &PostgresStore,
    tenant: &str,
    filter: &InstanceFilter,
) -> Result<Vec<Instance>, StoreError> {
    let mut query = QueryBuilder::<Postgres>::new(
        "SELECT id, tenant, template_id, template_version, status, variables, output, error, \
         parent_instance_id, created_at, started_at, completed_at, updated_at \
         FROM workflow.instances WHERE tenant = ",
    );
    query.push_bind(tenant.to_string());
    if let Some(status) = filter.status {
        query.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(template_id) = filter.template_id {
        query.push(" AND template_id = ").push_bind(template_id);
    }
    if let Some(parent) = filter.parent_instance_id {
        query.push(" AND parent_instance_id = ").push_bind(parent);
    }
    if let Some(at) = filter.created_after {
        query.push(" AND created_at > ").push_bind(micros(at));
    }
    if let Some(at) = filter.created_before {
        query.push(" AND created_at < ").push_bind(micros(at));
    }
    if let Some(at) = filter.updated_after {
        query.push(" AND updated_at > ").push_bind(micros(at));
    }
    let containment = search::containment(&filter.variables).map_err(search::rejected)?;
    if let Some(document) = containment {
        // `@>` with a jsonb_path_ops GIN index (instances_variables_idx).
        query.push(" AND variables @> ").push_bind(document);
    }
    if let Some(cursor) = filter.page.cursor {
        query.push(" AND id < ").push_bind(cursor);
    }
    query
        .push(" ORDER BY id DESC LIMIT ")
        .push_bind(page_limit(filter.page.limit));
    let rows = query.build().fetch_all(&store.pool).await?;
    rows.iter().map(instance_from_row).collect()
}
