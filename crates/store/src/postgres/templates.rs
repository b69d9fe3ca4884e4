//! Templates over Postgres: versions, the latest flag and soft deletes.

use async_trait::async_trait;
use chrono::Utc;
use model::Template;
use uuid::Uuid;

use super::PostgresStore;
use crate::batch::{micros, page_limit};
use crate::codec;
use crate::rows::template_from_row;
use crate::{StoreError, TemplateFilter, TemplateStore};

/// One template version as the latest; a name taken by another live template is a conflict.
async fn insert_template_row<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    template: &Template,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO workflow.templates (id, version, tenant, name, description, definition, \
         warnings, latest, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, true, $8, $9)",
    )
    .bind(template.id)
    .bind(template.version)
    .bind(&template.tenant)
    .bind(&template.name)
    .bind(&template.description)
    .bind(&template.definition)
    .bind(codec::warnings_to_json(&template.warnings))
    .bind(micros(template.created_at))
    .bind(micros(template.updated_at))
    .execute(executor)
    .await
    .map_err(|e| codec::template_conflict(e, &template.name))?;
    Ok(())
}

#[async_trait]
impl TemplateStore for PostgresStore {
    async fn insert_template(&self, template: &Template) -> Result<(), StoreError> {
        insert_template_row(&self.pool, template).await
    }

    async fn insert_template_version(&self, template: &Template) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let previous: Option<i32> = sqlx::query_scalar(
            "UPDATE workflow.templates SET latest = false \
             WHERE tenant = $1 AND id = $2 AND latest AND deleted_at IS NULL RETURNING version",
        )
        .bind(&template.tenant)
        .bind(template.id)
        .fetch_optional(&mut *tx)
        .await?;
        match previous {
            None => {
                let live: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM workflow.templates \
                     WHERE tenant = $1 AND id = $2 AND deleted_at IS NULL)",
                )
                .bind(&template.tenant)
                .bind(template.id)
                .fetch_one(&mut *tx)
                .await?;
                if live {
                    return Err(StoreError::Conflict(
                        "the template was changed concurrently".to_owned(),
                    ));
                }
                return Err(StoreError::NotFound { entity: "template" });
            }
            Some(version) if version + 1 != template.version => {
                return Err(StoreError::Conflict(format!(
                    "template is at version {version}, not {}",
                    template.version - 1
                )));
            }
            Some(_) => {}
        }
        insert_template_row(&mut *tx, template).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_template(
        &self,
        tenant: &str,
        id: Uuid,
        version: Option<i32>,
        include_deleted: bool,
    ) -> Result<Template, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM workflow.templates WHERE tenant = $1 AND id = $2 \
             AND (($3::int4 IS NULL AND latest) OR version = $3) \
             AND ($4 OR deleted_at IS NULL)",
        )
        .bind(tenant)
        .bind(id)
        .bind(version)
        .bind(include_deleted)
        .fetch_optional(&self.pool)
        .await?;
        let row = row.ok_or(StoreError::NotFound { entity: "template" })?;
        template_from_row(&row)
    }

    async fn find_template_by_name(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Template, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM workflow.templates WHERE tenant = $1 AND name = $2 \
             AND latest AND deleted_at IS NULL",
        )
        .bind(tenant)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        let row = row.ok_or(StoreError::NotFound { entity: "template" })?;
        template_from_row(&row)
    }

    async fn list_templates(
        &self,
        tenant: &str,
        filter: &TemplateFilter,
    ) -> Result<Vec<Template>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM workflow.templates WHERE tenant = $1 AND latest AND deleted_at IS NULL \
             AND ($2::text IS NULL OR name = $2) AND ($3::uuid IS NULL OR id < $3) \
             ORDER BY id DESC LIMIT $4",
        )
        .bind(tenant)
        .bind(&filter.name)
        .bind(filter.page.cursor)
        .bind(page_limit(filter.page.limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(template_from_row).collect()
    }

    async fn delete_template(&self, tenant: &str, id: Uuid) -> Result<(), StoreError> {
        let deleted = sqlx::query(
            "UPDATE workflow.templates SET deleted_at = $3 \
             WHERE tenant = $1 AND id = $2 AND deleted_at IS NULL",
        )
        .bind(tenant)
        .bind(id)
        .bind(micros(Utc::now()))
        .execute(&self.pool)
        .await?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound { entity: "template" });
        }
        Ok(())
    }
}
