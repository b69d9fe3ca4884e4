//! Templates over SQLite: versions, the latest flag and soft deletes.

use async_trait::async_trait;
use chrono::Utc;
use model::Template;
use sqlx::SqliteConnection;
use uuid::Uuid;

use super::SqliteStore;
use crate::batch::{micros, page_limit};
use crate::codec::{self, json_text, time_text};
use crate::rows::template_from_row;
use crate::{StoreError, TemplateFilter, TemplateStore};

/// One template version as the latest; a name taken by another live template is a conflict.
async fn insert_template_row(
    conn: &mut SqliteConnection,
    template: &Template,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO templates (id, version, tenant, name, description, definition, warnings, \
         latest, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9)",
    )
    .bind(template.id.to_string())
    .bind(template.version)
    .bind(&template.tenant)
    .bind(&template.name)
    .bind(&template.description)
    .bind(json_text(&template.definition))
    .bind(json_text(&codec::warnings_to_json(&template.warnings)))
    .bind(time_text(micros(template.created_at)))
    .bind(time_text(micros(template.updated_at)))
    .execute(&mut *conn)
    .await
    .map_err(|e| codec::template_conflict(e, &template.name))?;
    Ok(())
}

#[async_trait]
impl TemplateStore for SqliteStore {
    async fn insert_template(&self, template: &Template) -> Result<(), StoreError> {
        let mut conn = self.writer.acquire().await?;
        insert_template_row(&mut conn, template).await
    }

    async fn insert_template_version(&self, template: &Template) -> Result<(), StoreError> {
        let mut tx = self.begin_immediate().await?;
        let previous: Option<i32> = sqlx::query_scalar(
            "UPDATE templates SET latest = 0 \
             WHERE tenant = ?1 AND id = ?2 AND latest = 1 AND deleted_at IS NULL \
             RETURNING version",
        )
        .bind(&template.tenant)
        .bind(template.id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        match previous {
            None => return Err(StoreError::NotFound { entity: "template" }),
            Some(version) if version + 1 != template.version => {
                return Err(StoreError::Conflict(format!(
                    "template is at version {version}, not {}",
                    template.version - 1
                )));
            }
            Some(_) => {}
        }
        insert_template_row(&mut tx, template).await?;
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
            "SELECT * FROM templates WHERE tenant = ?1 AND id = ?2 \
             AND ((?3 IS NULL AND latest = 1) OR version = ?3) \
             AND (?4 OR deleted_at IS NULL)",
        )
        .bind(tenant)
        .bind(id.to_string())
        .bind(version)
        .bind(include_deleted)
        .fetch_optional(&self.reader)
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
            "SELECT * FROM templates WHERE tenant = ?1 AND name = ?2 \
             AND latest = 1 AND deleted_at IS NULL",
        )
        .bind(tenant)
        .bind(name)
        .fetch_optional(&self.reader)
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
            "SELECT * FROM templates WHERE tenant = ?1 AND latest = 1 AND deleted_at IS NULL \
             AND (?2 IS NULL OR name = ?2) AND (?3 IS NULL OR id < ?3) \
             ORDER BY id DESC LIMIT ?4",
        )
        .bind(tenant)
        .bind(&filter.name)
        .bind(filter.page.cursor.map(|id| id.to_string()))
        .bind(page_limit(filter.page.limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(template_from_row).collect()
    }

    async fn delete_template(&self, tenant: &str, id: Uuid) -> Result<(), StoreError> {
        let deleted = sqlx::query(
            "UPDATE templates SET deleted_at = ?3 \
             WHERE tenant = ?1 AND id = ?2 AND deleted_at IS NULL",
        )
        .bind(tenant)
        .bind(id.to_string())
        .bind(time_text(micros(Utc::now())))
        .execute(&self.writer)
        .await?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound { entity: "template" });
        }
        Ok(())
    }
}
