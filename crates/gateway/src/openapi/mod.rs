//! The OpenAPI document: generated from the handlers' annotations, then refined with what holds
//! for every operation alike (problem answers, header schemas, links).

mod links;
mod problems;
#[cfg(test)]
mod tests;

use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use self::links::{add_links, operation_ids};
use self::problems::{add_problems, describe_responses, header_schemas};
use crate::error::{Problem, ProblemField};
use crate::mapping::{
    Accepted, CreateInstanceBody, CreateTemplateBody, InstanceDto, SendEventBody, StepErrorDto,
    StepExecutionDto, TemplateDto, UpdateTemplateBody, WarningDto, WebhookAccepted,
};
use crate::routes::trigger_configs::{CreateTriggerBody, TriggerDto, TriggerType};
use crate::routes::{
    events, health, instances, ops, templates, tickets, trigger_configs, triggers,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Chorus Workflow Engine", description = "The REST API of the gateway."),
    paths(
        templates::create, templates::list, templates::get, templates::update, templates::delete,
        instances::create, instances::list, instances::get, instances::start, instances::pause,
        instances::resume, instances::cancel, instances::steps, instances::send_event,
        trigger_configs::create, trigger_configs::list, trigger_configs::get,
        trigger_configs::delete, triggers::webhook, events::all, events::instance, tickets::create,
        health::ready, health::live, ops::metrics, ops::openapi_json,
    ),
    components(schemas(
        Problem, ProblemField, TemplateDto, WarningDto, InstanceDto, StepErrorDto,
        StepExecutionDto, CreateTemplateBody, UpdateTemplateBody, CreateInstanceBody,
        SendEventBody, Accepted, WebhookAccepted, health::Health, CreateTriggerBody, TriggerDto, TriggerType,
        tickets::TicketDto,
    )),
    modifiers(&BearerAuth),
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The OpenAPI 3.1 document of the API, generated from the handlers and their types, then
/// completed by [`refine`] with what holds for every operation alike.
pub(crate) fn document() -> Result<Value, serde_json::Error> {
    let mut document = serde_json::to_value(ApiDoc::openapi())?;
    refine(&mut document);
    Ok(document)
}

/// Adds what the handlers' annotations leave to one place: the problem answers each operation
/// can give, the `Idempotency-Key` rule, a description on every response (OpenAPI requires
/// one), and the links from a created resource to the operations that take its id (so a client,
/// or a fuzzer's stateful phase, can follow them).
fn refine(document: &mut Value) {
    let operation_ids = operation_ids(document);
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in item.iter_mut() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            add_problems(method, operation);
            header_schemas(operation);
            describe_responses(operation);
            add_links(path, method, operation, &operation_ids);
        }
    }
}

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];
