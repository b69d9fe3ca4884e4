use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{Problem, ProblemField};
use crate::mapping::{
    Accepted, CreateInstanceBody, CreateTemplateBody, InstanceDto, SendEventBody, StepErrorDto,
    StepExecutionDto, TemplateDto, UpdateTemplateBody, WarningDto, WebhookAccepted,
};
use crate::routes::{events, health, instances, ops, templates, triggers};

#[derive(OpenApi)]
#[openapi(
    info(title = "Chorus Workflow Engine", description = "The REST API of the gateway."),
    paths(
        templates::create, templates::list, templates::get, templates::update, templates::delete,
        instances::create, instances::list, instances::get, instances::start, instances::pause,
        instances::resume, instances::cancel, instances::steps, instances::send_event,
        triggers::webhook, events::all, events::instance,
        health::ready, health::live, ops::metrics, ops::openapi_json,
    ),
    components(schemas(
        Problem, ProblemField, TemplateDto, WarningDto, InstanceDto, StepErrorDto,
        StepExecutionDto, CreateTemplateBody, UpdateTemplateBody, CreateInstanceBody,
        SendEventBody, Accepted, WebhookAccepted, health::Health,
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

/// The OpenAPI 3.1 document of the API, generated from the handlers and their types.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
