//! `WorkflowService`: templates and instances.

use std::sync::Arc;

use chrono::Utc;
use engine::Input;
use proto::v1;
use proto::v1::workflow_service_server::WorkflowService;
use store::{InstanceFilter, Page, StoreError, TemplateFilter};
use tonic::{Request, Response, Status};

use super::caller::{Caller, next_cursor, optional_id, page_limit};
use super::search;
use super::templates::{check_definition, check_name, new_template};
use crate::SchedulerError;
use crate::convert;
use crate::core::{self, Core};
use crate::create_instance::{self, CreateInstance};

pub(crate) struct WorkflowApi {
    core: Arc<Core>,
}

impl WorkflowApi {
    pub(crate) fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    async fn lifecycle(
        &self,
        request: Request<v1::InstanceRef>,
        input: Input,
    ) -> Result<Response<v1::Instance>, Status> {
        let caller = Caller::of(&request)?;
        caller.may_write()?;
        let id = convert::id(&request.get_ref().id, "/id")?;
        let applied = self
            .core
            .apply(vec![core::Request::api(id, input, &caller.tenant)])
            .await
            .pop()
            .unwrap_or(Err(SchedulerError::NotFound("instance")))?;
        Ok(Response::new(convert::instance(&applied.instance)))
    }
}

fn not_found(error: StoreError, what: &'static str) -> SchedulerError {
    match error {
        StoreError::NotFound { .. } => SchedulerError::NotFound(what),
        other => other.into(),
    }
}

#[tonic::async_trait]
impl WorkflowService for WorkflowApi {
    async fn create_template(
        &self,
        request: Request<v1::CreateTemplateRequest>,
    ) -> Result<Response<v1::Template>, Status> {
        let caller = Caller::of(&request)?;
        caller.may_write()?;
        let body = request.into_inner();
        check_name(&body.name)?;
        let definition = convert::document(
            &body.definition_json,
            "/definition",
            serde_json::Value::Null,
        )?;
        let (_, warnings) = check_definition(&self.core.store, &caller.tenant, &definition).await?;
        let template = new_template(
            &caller.tenant,
            body.name,
            body.description,
            definition,
            warnings,
        );
        self.core
            .store
            .insert_template(&template)
            .await
            .map_err(SchedulerError::from)?;
        Ok(Response::new(convert::template(&template)))
    }

    async fn get_template(
        &self,
        request: Request<v1::GetTemplateRequest>,
    ) -> Result<Response<v1::Template>, Status> {
        let caller = Caller::of(&request)?;
        let body = request.into_inner();
        let id = convert::id(&body.id, "/id")?;
        let template = self
            .core
            .store
            .get_template(&caller.tenant, id, body.version, false)
            .await
            .map_err(|e| not_found(e, "template"))?;
        Ok(Response::new(convert::template(&template)))
    }

    async fn list_templates(
        &self,
        request: Request<v1::ListTemplatesRequest>,
    ) -> Result<Response<v1::ListTemplatesResponse>, Status> {
        let caller = Caller::of(&request)?;
        let body = request.into_inner();
        let limit = page_limit(body.limit);
        let cursor = body
            .cursor
            .as_deref()
            .map(|c| convert::id(c, "/cursor"))
            .transpose()?;
        let filter = TemplateFilter {
            name: body.name.filter(|name| !name.is_empty()),
            page: Page { limit, cursor },
        };
        let templates = self
            .core
            .store
            .list_templates(&caller.tenant, &filter)
            .await
            .map_err(SchedulerError::from)?;
        let next_cursor = next_cursor(templates.len(), limit, templates.last().map(|item| item.id));
        Ok(Response::new(v1::ListTemplatesResponse {
            items: templates.iter().map(convert::template).collect(),
            next_cursor,
        }))
    }

    async fn update_template(
        &self,
        request: Request<v1::UpdateTemplateRequest>,
    ) -> Result<Response<v1::Template>, Status> {
        let caller = Caller::of(&request)?;
        caller.may_write()?;
        let body = request.into_inner();
        let id = convert::id(&body.id, "/id")?;
        let current = self
            .core
            .store
            .get_template(&caller.tenant, id, None, false)
            .await
            .map_err(|e| not_found(e, "template"))?;
        let mut next = current.clone();
        if let Some(name) = body.name {
            check_name(&name)?;
            next.name = name;
        }
        if body.description.is_some() {
            next.description = body.description;
        }
        if let Some(text) = body.definition_json {
            next.definition = convert::document(&text, "/definition", serde_json::Value::Null)?;
        }
        let (_, warnings) =
            check_definition(&self.core.store, &caller.tenant, &next.definition).await?;
        next.warnings = warnings;
        next.version = current.version + 1;
        next.updated_at = Utc::now();
        self.core
            .store
            .insert_template_version(&next)
            .await
            .map_err(SchedulerError::from)?;
        Ok(Response::new(convert::template(&next)))
    }

    async fn delete_template(
        &self,
        request: Request<v1::DeleteTemplateRequest>,
    ) -> Result<Response<()>, Status> {
        let caller = Caller::of(&request)?;
        caller.may_write()?;
        let id = convert::id(&request.get_ref().id, "/id")?;
        self.core
            .store
            .delete_template(&caller.tenant, id)
            .await
            .map_err(|e| not_found(e, "template"))?;
        Ok(Response::new(()))
    }

    async fn create_instance(
        &self,
        request: Request<v1::CreateInstanceRequest>,
    ) -> Result<Response<v1::CreateInstanceResponse>, Status> {
        let caller = Caller::of(&request)?;
        caller.may_write()?;
        let body = request.into_inner();
        let template_id = convert::id(&body.template_id, "/template_id")?;
        let variables =
            convert::document(&body.variables_json, "/variables", serde_json::json!({}))?;
        let idempotency = body
            .idempotency_key
            .filter(|key| !key.is_empty())
            .map(|key| (key, body.idempotency_fingerprint.unwrap_or_default()));
        let (instance, created) = create_instance::create_instance(
            &self.core,
            CreateInstance {
                tenant: caller.tenant,
                template_id,
                version: body.version,
                variables,
                start: body.start,
                idempotency,
                origin: serde_json::Value::Null,
            },
        )
        .await?;
        Ok(Response::new(v1::CreateInstanceResponse {
            instance: Some(convert::instance(&instance)),
            created,
        }))
    }

    async fn get_instance(
        &self,
        request: Request<v1::InstanceRef>,
    ) -> Result<Response<v1::Instance>, Status> {
        let caller = Caller::of(&request)?;
        let id = convert::id(&request.get_ref().id, "/id")?;
        let instance = self
            .core
            .store
            .get_instance(&caller.tenant, id)
            .await
            .map_err(|e| not_found(e, "instance"))?;
        Ok(Response::new(convert::instance(&instance)))
    }

    async fn list_instances(
        &self,
        request: Request<v1::ListInstancesRequest>,
    ) -> Result<Response<v1::ListInstancesResponse>, Status> {
        let caller = Caller::of(&request)?;
        let body = request.into_inner();
        let limit = page_limit(body.limit);
        let status = body
            .status
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<model::InstanceStatus>()
                    .map_err(|e| SchedulerError::invalid("/status", e.to_string()))
            })
            .transpose()?;
        let filter = InstanceFilter {
            status,
            template_id: optional_id(body.template_id, "/template_id")?,
            parent_instance_id: optional_id(body.parent_instance_id, "/parent_instance_id")?,
            created_after: search::time(body.created_after, "/created_after")?,
            created_before: search::time(body.created_before, "/created_before")?,
            updated_after: search::time(body.updated_after, "/updated_after")?,
            variables: search::variables(body.variables)?,
            page: Page {
                limit,
                cursor: optional_id(body.cursor, "/cursor")?,
            },
        };
        let instances = self
            .core
            .store
            .list_instances(&caller.tenant, &filter)
            .await
            .map_err(SchedulerError::from)?;
        let next_cursor = next_cursor(instances.len(), limit, instances.last().map(|item| item.id));
        Ok(Response::new(v1::ListInstancesResponse {
            items: instances.iter().map(convert::instance).collect(),
            next_cursor,
        }))
    }

    async fn start_instance(
        &self,
        request: Request<v1::InstanceRef>,
    ) -> Result<Response<v1::Instance>, Status> {
        self.lifecycle(request, Input::Start).await
    }

    async fn pause_instance(
        &self,
        request: Request<v1::InstanceRef>,
    ) -> Result<Response<v1::Instance>, Status> {
        self.lifecycle(request, Input::Pause).await
    }

    async fn resume_instance(
        &self,
        request: Request<v1::InstanceRef>,
    ) -> Result<Response<v1::Instance>, Status> {
        self.lifecycle(request, Input::Resume).await
    }

    async fn cancel_instance(
        &self,
        request: Request<v1::InstanceRef>,
    ) -> Result<Response<v1::Instance>, Status> {
        self.lifecycle(request, Input::Cancel).await
    }

    async fn list_steps(
        &self,
        request: Request<v1::InstanceRef>,
    ) -> Result<Response<v1::ListStepsResponse>, Status> {
        let caller = Caller::of(&request)?;
        let id = convert::id(&request.get_ref().id, "/id")?;
        self.core
            .store
            .get_instance(&caller.tenant, id)
            .await
            .map_err(|e| not_found(e, "instance"))?;
        let executions = self
            .core
            .store
            .list_executions(id)
            .await
            .map_err(SchedulerError::from)?;
        Ok(Response::new(v1::ListStepsResponse {
            items: executions.iter().map(convert::execution).collect(),
        }))
    }

    async fn send_event(
        &self,
        request: Request<v1::SendEventRequest>,
    ) -> Result<Response<v1::SendEventResponse>, Status> {
        let caller = Caller::of(&request)?;
        caller.may_write()?;
        let body = request.into_inner();
        let id = convert::id(&body.instance_id, "/instance_id")?;
        if body.event.trim().is_empty() {
            return Err(SchedulerError::invalid("/event", "must not be empty").into());
        }
        let data = convert::document(&body.data_json, "/data", serde_json::Value::Null)?;
        let input = Input::Event {
            name: body.event,
            data,
        };
        self.core
            .apply(vec![core::Request::api(id, input, &caller.tenant)])
            .await
            .pop()
            .unwrap_or(Err(SchedulerError::NotFound("instance")))?;
        Ok(Response::new(v1::SendEventResponse { accepted: true }))
    }
}
