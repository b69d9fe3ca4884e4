//! The test's counterpart of the scheduler: a small in-memory `WorkflowService` that keeps
//! templates and instances per tenant, enough to exercise the gateway's mapping.

use std::collections::HashMap;
use std::sync::Mutex;

use proto::v1;
use proto::v1::workflow_service_server::WorkflowService;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The metadata of one call, as the scheduler received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub tenant: Option<String>,
    pub role: Option<String>,
    pub request_id: Option<String>,
}

#[derive(Default)]
struct Data {
    templates: Vec<(String, v1::Template)>,
    instances: Vec<(String, v1::Instance)>,
    idempotency: HashMap<(String, String), (String, String)>,
    created_fingerprints: Vec<Option<String>>,
}

#[derive(Default)]
pub struct Peer {
    data: Mutex<Data>,
    seen: Mutex<Vec<Seen>>,
}

const NOW: &str = "2026-11-26T12:00:00Z";

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl Peer {
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn fingerprints(&self) -> Vec<Option<String>> {
        self.data.lock().unwrap().created_fingerprints.clone()
    }

    /// The tenant of the forwarded token, verified as the real scheduler verifies it.
    fn tenant<T>(&self, request: &Request<T>) -> String {
        let get = |k: &str| {
            request
                .metadata()
                .get(k)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let authorization = get("authorization");
        let identity = identity::bearer(authorization.as_deref())
            .ok()
            .and_then(|token| crate::helpers::verifier().verify(token).ok());
        let seen = Seen {
            tenant: identity
                .as_ref()
                .and_then(|identity| identity.tenant().map(str::to_owned)),
            role: identity.map(|identity| identity.role.as_str().to_owned()),
            request_id: get("x-request-id"),
        };
        self.seen.lock().unwrap().push(seen.clone());
        seen.tenant.unwrap_or_else(|| "default".into())
    }

    fn template(data: &Data, tenant: &str, id: &str) -> Result<v1::Template, Status> {
        data.templates
            .iter()
            .find(|(t, tpl)| t == tenant && tpl.id == id)
            .map(|(_, tpl)| tpl.clone())
            .ok_or_else(|| Status::not_found("template not found"))
    }

    fn with_instance(
        &self,
        tenant: &str,
        id: &str,
        f: impl FnOnce(&mut v1::Instance) -> Result<(), Status>,
    ) -> Result<v1::Instance, Status> {
        let mut data = self.data.lock().unwrap();
        let (_, instance) = data
            .instances
            .iter_mut()
            .find(|(t, i)| t == tenant && i.id == id)
            .ok_or_else(|| Status::not_found("instance not found"))?;
        f(instance)?;
        Ok(instance.clone())
    }
}

/// Checks the one rule the test needs: every step has an `id`.
fn validate(definition_json: &str) -> Result<(), Status> {
    let definition: serde_json::Value = serde_json::from_str(definition_json)
        .map_err(|_| Status::invalid_argument("definition is not json"))?;
    let steps = definition["steps"].as_array().cloned().unwrap_or_default();
    for (i, step) in steps.iter().enumerate() {
        if step.get("id").is_none() {
            return Err(Status::with_error_details(
                Code::InvalidArgument,
                "invalid definition",
                ErrorDetails::with_bad_request_violation(
                    format!("/definition/steps/{i}/id"),
                    "a step needs an id",
                ),
            ));
        }
    }
    Ok(())
}

fn transition(instance: &mut v1::Instance, from: &str, to: &str) -> Result<(), Status> {
    if instance.status != from {
        return Err(Status::failed_precondition(format!(
            "cannot go from {} to {to}",
            instance.status
        )));
    }
    instance.status = to.to_string();
    Ok(())
}

#[tonic::async_trait]
impl WorkflowService for Peer {
    async fn create_template(
        &self,
        request: Request<v1::CreateTemplateRequest>,
    ) -> Result<Response<v1::Template>, Status> {
        let tenant = self.tenant(&request);
        let r = request.into_inner();
        validate(&r.definition_json)?;
        let mut data = self.data.lock().unwrap();
        if data
            .templates
            .iter()
            .any(|(t, tpl)| *t == tenant && tpl.name == r.name)
        {
            return Err(Status::already_exists("a template with this name exists"));
        }
        let template = v1::Template {
            id: new_id(),
            name: r.name,
            description: r.description,
            version: 1,
            definition_json: r.definition_json,
            created_at: NOW.into(),
            updated_at: NOW.into(),
            warnings: vec![v1::Warning {
                path: "/definition".into(),
                message: "no description".into(),
            }],
        };
        data.templates.push((tenant, template.clone()));
        Ok(Response::new(template))
    }

    async fn get_template(
        &self,
        request: Request<v1::GetTemplateRequest>,
    ) -> Result<Response<v1::Template>, Status> {
        let tenant = self.tenant(&request);
        let data = self.data.lock().unwrap();
        Self::template(&data, &tenant, &request.get_ref().id).map(Response::new)
    }

    async fn list_templates(
        &self,
        request: Request<v1::ListTemplatesRequest>,
    ) -> Result<Response<v1::ListTemplatesResponse>, Status> {
        let tenant = self.tenant(&request);
        let r = request.into_inner();
        let data = self.data.lock().unwrap();
        let all: Vec<_> = data
            .templates
            .iter()
            .rev()
            .filter(|(t, tpl)| *t == tenant && r.name.as_ref().is_none_or(|n| *n == tpl.name))
            .map(|(_, tpl)| tpl.clone())
            .collect();
        // Like the scheduler: the cursor is the id of the last item of the previous page.
        let offset = match r.cursor.as_deref() {
            None => 0,
            Some(id) => all
                .iter()
                .position(|t| t.id == id)
                .map_or(all.len(), |i| i + 1),
        };
        let end = (offset + r.limit as usize).min(all.len());
        Ok(Response::new(v1::ListTemplatesResponse {
            items: all[offset.min(end)..end].to_vec(),
            next_cursor: (end < all.len()).then(|| all[end - 1].id.clone()),
        }))
    }

    async fn update_template(
        &self,
        request: Request<v1::UpdateTemplateRequest>,
    ) -> Result<Response<v1::Template>, Status> {
        let tenant = self.tenant(&request);
        let r = request.into_inner();
        let mut data = self.data.lock().unwrap();
        let (_, tpl) = data
            .templates
            .iter_mut()
            .find(|(t, tpl)| *t == tenant && tpl.id == r.id)
            .ok_or_else(|| Status::not_found("template not found"))?;
        if let Some(name) = r.name {
            tpl.name = name;
        }
        if let Some(definition) = r.definition_json {
            validate(&definition)?;
            tpl.definition_json = definition;
        }
        tpl.version += 1;
        Ok(Response::new(tpl.clone()))
    }

    async fn delete_template(
        &self,
        request: Request<v1::DeleteTemplateRequest>,
    ) -> Result<Response<()>, Status> {
        let tenant = self.tenant(&request);
        let mut data = self.data.lock().unwrap();
        let before = data.templates.len();
        let id = request.get_ref().id.clone();
        data.templates
            .retain(|(t, tpl)| !(*t == tenant && tpl.id == id));
        if data.templates.len() == before {
            return Err(Status::not_found("template not found"));
        }
        Ok(Response::new(()))
    }

    async fn create_instance(
        &self,
        request: Request<v1::CreateInstanceRequest>,
    ) -> Result<Response<v1::CreateInstanceResponse>, Status> {
        let tenant = self.tenant(&request);
        let r = request.into_inner();
        let mut data = self.data.lock().unwrap();
        data.created_fingerprints
            .push(r.idempotency_fingerprint.clone());
        let template = Self::template(&data, &tenant, &r.template_id)?;
        let earlier = r
            .idempotency_key
            .as_ref()
            .and_then(|key| data.idempotency.get(&(tenant.clone(), key.clone())));
        if let Some((fingerprint, id)) = earlier {
            if Some(fingerprint) != r.idempotency_fingerprint.as_ref() {
                return Err(Status::failed_precondition("idempotency key reused"));
            }
            let instance = data
                .instances
                .iter()
                .find(|(_, i)| i.id == *id)
                .map(|(_, i)| i.clone());
            return Ok(Response::new(v1::CreateInstanceResponse {
                instance,
                created: false,
            }));
        }
        let instance = v1::Instance {
            id: new_id(),
            template_id: template.id,
            template_version: r.version.unwrap_or(template.version),
            status: if r.start { "running" } else { "pending" }.into(),
            variables_json: r.variables_json,
            output_json: None,
            error: None,
            parent_instance_id: None,
            created_at: NOW.into(),
            started_at: r.start.then(|| NOW.to_string()),
            completed_at: None,
            updated_at: NOW.into(),
            trace_id: None,
        };
        if let (Some(key), Some(fingerprint)) = (r.idempotency_key, r.idempotency_fingerprint) {
            data.idempotency
                .insert((tenant.clone(), key), (fingerprint, instance.id.clone()));
        }
        data.instances.push((tenant, instance.clone()));
        Ok(Response::new(v1::CreateInstanceResponse {
            instance: Some(instance),
            created: true,
        }))
    }

    async fn get_instance(
        &self,
        request: Request<v1::InstanceRef>,
    ) -> Result<Response<v1::Instance>, Status> {
        let tenant = self.tenant(&request);
        self.with_instance(&tenant, &request.get_ref().id, |_| Ok(()))
            .map(Response::new)
    }

    async fn list_instances(
        &self,
        request: Request<v1::ListInstancesRequest>,
    ) -> Result<Response<v1::ListInstancesResponse>, Status> {
        let tenant = self.tenant(&request);
        let r = request.into_inner();
        let data = self.data.lock().unwrap();
        let items = data
            .instances
            .iter()
            .rev()
            .filter(|(t, i)| {
                *t == tenant
                    && r.status.as_ref().is_none_or(|s| *s == i.status)
                    && r.template_id.as_ref().is_none_or(|s| *s == i.template_id)
            })
            .take(r.limit as usize)
            .map(|(_, i)| i.clone())
            .collect();
        Ok(Response::new(v1::ListInstancesResponse {
            items,
            next_cursor: None,
        }))
    }

    async fn start_instance(
        &self,
        request: Request<v1::InstanceRef>,
    ) -> Result<Response<v1::Instance>, Status> {
        let tenant = self.tenant(&request);
        self.with_instance(&tenant, &request.get_ref().id, |i| {
            transition(i, "pending", "running")
        })
        .map(Response::new)
    }

    async fn pause_instance(
        &self,
        request: Request<v1::InstanceRef>,
    ) -> Result<Response<v1::Instance>, Status> {
        let tenant = self.tenant(&request);
        self.with_instance(&tenant, &request.get_ref().id, |i| {
            transition(i, "running", "paused")
        })
        .map(Response::new)
    }

    async fn resume_instance(
        &self,
        request: Request<v1::InstanceRef>,
    ) -> Result<Response<v1::Instance>, Status> {
        let tenant = self.tenant(&request);
        self.with_instance(&tenant, &request.get_ref().id, |i| {
            transition(i, "paused", "running")
        })
        .map(Response::new)
    }

    async fn cancel_instance(
        &self,
        request: Request<v1::InstanceRef>,
    ) -> Result<Response<v1::Instance>, Status> {
        let tenant = self.tenant(&request);
        self.with_instance(&tenant, &request.get_ref().id, |i| {
            if matches!(i.status.as_str(), "completed" | "failed" | "cancelled") {
                return Err(Status::failed_precondition("instance already finished"));
            }
            i.status = "cancelled".into();
            i.error = Some(v1::StepError {
                r#type: "cancelled".into(),
                message: "cancelled by a caller".into(),
                retryable: false,
            });
            Ok(())
        })
        .map(Response::new)
    }

    async fn list_steps(
        &self,
        request: Request<v1::InstanceRef>,
    ) -> Result<Response<v1::ListStepsResponse>, Status> {
        let tenant = self.tenant(&request);
        let instance = self.with_instance(&tenant, &request.get_ref().id, |_| Ok(()))?;
        Ok(Response::new(v1::ListStepsResponse {
            items: vec![v1::StepExecution {
                id: new_id(),
                step_id: "fetch".into(),
                name: Some("Fetch".into()),
                r#type: "action".into(),
                status: "completed".into(),
                attempt: 1,
                input_json: Some(
                    r#"{"url":"https://example.com","n":12345678901234567890}"#.into(),
                ),
                output_json: Some(instance.variables_json),
                error: None,
                created_at: NOW.into(),
                started_at: Some(NOW.into()),
                completed_at: Some(NOW.into()),
            }],
        }))
    }

    async fn send_event(
        &self,
        request: Request<v1::SendEventRequest>,
    ) -> Result<Response<v1::SendEventResponse>, Status> {
        let tenant = self.tenant(&request);
        self.with_instance(&tenant, &request.get_ref().instance_id, |_| Ok(()))?;
        Ok(Response::new(v1::SendEventResponse { accepted: true }))
    }
}
