//! The instance list over SQLite: the filters of `GET /instances`, variables through SQLite's
//! JSON functions (`json_type` tells a string from a number, so `"42"` never equals `42`, as in
//! Postgres's containment).

use model::Instance;
use serde_json::Value;
use sqlx::{QueryBuilder, Sqlite};

use super::SqliteStore;
use crate::batch::page_limit;
use crate::codec::time_text;
use crate::rows::instance_from_row;
use crate::{InstanceFilter, StoreError, search};

pub(super) async fn list(
    store: &SqliteStore,
    tenant: &str,
    filter: &InstanceFilter,
) -> Result<Vec<Instance>, StoreError> {
    model::check_variable_filters(&filter.variables).map_err(search::rejected)?;
    let mut query = QueryBuilder::<Sqlite>::new("SELECT * FROM instances WHERE tenant = ");
    query.push_bind(tenant.to_string());
    if let Some(status) = filter.status {
        query.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(template_id) = filter.template_id {
        query
            .push(" AND template_id = ")
            .push_bind(template_id.to_string());
    }
    if let Some(parent) = filter.parent_instance_id {
        query
            .push(" AND parent_instance_id = ")
            .push_bind(parent.to_string());
    }
    // Times are stored as fixed-width RFC 3339 text, so text order is time order.
    if let Some(at) = filter.created_after {
        query.push(" AND created_at > ").push_bind(time_text(at));
    }
    if let Some(at) = filter.created_before {
        query.push(" AND created_at < ").push_bind(time_text(at));
    }
    if let Some(at) = filter.updated_after {
        query.push(" AND updated_at > ").push_bind(time_text(at));
    }
    for variable in &filter.variables {
        let path = search::sqlite_path(variable);
        query
            .push(" AND json_type(variables, ")
            .push_bind(path.clone());
        match variable.value() {
            Value::String(text) => {
                query.push(") = 'text' AND json_extract(variables, ");
                query.push_bind(path).push(") = ").push_bind(text.clone());
            }
            Value::Number(number) => {
                // Numbers by value, 1 equals 1.0, as jsonb compares them.
                query.push(") IN ('integer', 'real') AND json_extract(variables, ");
                query.push_bind(path).push(") = ");
                match number.as_i64() {
                    Some(n) => query.push_bind(n),
                    None => query.push_bind(number.as_f64().unwrap_or(f64::NAN)),
                };
            }
            Value::Bool(true) => {
                query.push(") = 'true'");
            }
            Value::Bool(false) => {
                query.push(") = 'false'");
            }
            Value::Null => {
                query.push(") = 'null'");
            }
            Value::Array(_) | Value::Object(_) => {
                return Err(StoreError::Rejected {
                    code: model::ErrorCode::Invalid,
                    message: format!("variables.{}: not a scalar", variable.dotted()),
                });
            }
        }
    }
    if let Some(cursor) = filter.page.cursor {
        query.push(" AND id < ").push_bind(cursor.to_string());
    }
    query
        .push(" ORDER BY id DESC LIMIT ")
        .push_bind(page_limit(filter.page.limit));
    let rows = query.build().fetch_all(&store.reader).await?;
    rows.iter().map(instance_from_row).collect()
}
