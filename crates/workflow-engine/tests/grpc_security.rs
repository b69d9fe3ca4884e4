//! The scheduler's gRPC port as an outsider meets it, with the stock tonic client: no call
//! without a credential whatever other metadata says, tenants apart below the gateway, only
//! workers take and report jobs, and only with the delivery's own lease token.

mod common;

use std::time::Duration;

use common::{Backend, Options, TestApp};
use proto::v1;
use proto::v1::trigger_service_client::TriggerServiceClient;
use proto::v1::worker_service_client::WorkerServiceClient;
use proto::v1::workflow_service_client::WorkflowServiceClient;
use serde_json::{Value, json};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

async fn channel(app: &TestApp) -> Channel {
    Channel::from_shared(format!("http://127.0.0.1:{}", app.grpc_port))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// A request with `token` as its credential (none when `None`) and the metadata that used to
/// speak for the caller, which must now be ignored.
fn request<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    let metadata = request.metadata_mut();
    metadata.insert("x-tenant", "acme".parse().unwrap());
    metadata.insert("x-role", "admin".parse().unwrap());
    if let Some(token) = token {
        metadata.insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    request
}

/// `Ok` for an answer, the status code of a refusal.
fn code<T>(result: Result<tonic::Response<T>, Status>) -> Code {
    match result {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// Every method of the three services, called with `token`: the codes they answered.
async fn every_method(app: &TestApp, token: Option<&str>) -> Vec<(&'static str, Code)> {
    let channel = channel(app).await;
    let mut workflow = WorkflowServiceClient::new(channel.clone());
    let mut worker = WorkerServiceClient::new(channel.clone());
    let mut triggers = TriggerServiceClient::new(channel);
    let id = uuid::Uuid::now_v7().to_string();
    let instance = || v1::InstanceRef { id: id.clone() };
    let mut codes = Vec::new();
    macro_rules! call {
        ($name:literal, $call:expr) => {
            codes.push(($name, code($call.await)))
        };
    }
    call!(
        "CreateTemplate",
        workflow.create_template(request(
            v1::CreateTemplateRequest {
                name: "x".into(),
                description: None,
                definition_json: "{}".into()
            },
            token
        ))
    );
    call!(
        "GetTemplate",
        workflow.get_template(request(
            v1::GetTemplateRequest {
                id: id.clone(),
                version: None
            },
            token
        ))
    );
    call!(
        "ListTemplates",
        workflow.list_templates(request(v1::ListTemplatesRequest::default(), token))
    );
    call!(
        "UpdateTemplate",
        workflow.update_template(request(
            v1::UpdateTemplateRequest {
                id: id.clone(),
                ..Default::default()
            },
            token
        ))
    );
    call!(
        "DeleteTemplate",
        workflow.delete_template(request(v1::DeleteTemplateRequest { id: id.clone() }, token))
    );
    call!(
        "CreateInstance",
        workflow.create_instance(request(
            v1::CreateInstanceRequest {
                template_id: id.clone(),
                ..Default::default()
            },
            token
        ))
    );
    call!(
        "GetInstance",
        workflow.get_instance(request(instance(), token))
    );
    call!(
        "ListInstances",
        workflow.list_instances(request(v1::ListInstancesRequest::default(), token))
    );
    call!(
        "StartInstance",
        workflow.start_instance(request(instance(), token))
    );
    call!(
        "PauseInstance",
        workflow.pause_instance(request(instance(), token))
    );
    call!(
        "ResumeInstance",
        workflow.resume_instance(request(instance(), token))
    );
    call!(
        "CancelInstance",
        workflow.cancel_instance(request(instance(), token))
    );
    call!("ListSteps", workflow.list_steps(request(instance(), token)));
    call!(
        "SendEvent",
        workflow.send_event(request(
            v1::SendEventRequest {
                instance_id: id.clone(),
                event: "e".into(),
                data_json: String::new()
            },
            token
        ))
    );
    call!(
        "PollJobs",
        worker.poll_jobs(request(
            v1::PollJobsRequest {
                queue: "default".into(),
                worker_id: "w".into(),
                max_jobs: 1,
                wait_ms: 0
            },
            token
        ))
    );
    call!(
        "Heartbeat",
        worker.heartbeat(request(
            v1::HeartbeatRequest {
                execution_id: id.clone(),
                attempt: 1,
                branch: None,
                instance_id: id.clone(),
                lease_token: String::new()
            },
            token
        ))
    );
    call!(
        "CompleteJob",
        worker.complete_job(request(
            v1::CompleteJobRequest {
                execution_id: id.clone(),
                attempt: 1,
                instance_id: id.clone(),
                result: Some(v1::complete_job_request::Result::OutputJson("{}".into())),
                ..Default::default()
            },
            token
        ))
    );
    call!(
        "CreateTrigger",
        triggers.create_trigger(request(
            v1::CreateTriggerRequest {
                template_id: id.clone(),
                ..Default::default()
            },
            token
        ))
    );
    call!(
        "GetTrigger",
        triggers.get_trigger(request(v1::TriggerRef { id: id.clone() }, token))
    );
    call!(
        "ListTriggers",
        triggers.list_triggers(request(v1::ListTriggersRequest::default(), token))
    );
    call!(
        "DeleteTrigger",
        triggers.delete_trigger(request(v1::TriggerRef { id: id.clone() }, token))
    );
    codes
}

async fn no_credential_no_call(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let forged = {
        // Signed with another key: as good as none.
        let mut token = common::token_for("intruder", "acme", "admin");
        // The last character of the signature carries four of its bits: a different one,
        // not always 'A' (which one in sixteen signatures already ends with).
        let last = token.pop();
        token.push(if last == Some('A') { 'Q' } else { 'A' });
        token
    };
    for token in [None, Some("not-a-jwt"), Some(forged.as_str())] {
        for (method, code) in every_method(&app, token).await {
            assert_eq!(code, Code::Unauthenticated, "{method} with {token:?}");
        }
    }
    // FireWebhook's credential is its signature: without a valid one it is refused too.
    let mut triggers = TriggerServiceClient::new(channel(&app).await);
    let fire = v1::FireWebhookRequest {
        template_id: uuid::Uuid::now_v7().to_string(),
        signature: "sha256=00".into(),
        timestamp: chrono::Utc::now().timestamp().to_string(),
        body: b"{}".to_vec(),
        ..Default::default()
    };
    assert_eq!(
        code(triggers.fire_webhook(request(fire, None)).await),
        Code::Unauthenticated
    );
}
on_both_backends!(no_credential_no_call);

async fn user_tokens_do_not_take_jobs_and_worker_tokens_do_not_read(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = common::token_for("someone", "acme", "admin");
    let worker = common::worker_token(Some("acme"), None);
    for (method, code) in every_method(&app, Some(&admin)).await {
        if ["PollJobs", "Heartbeat", "CompleteJob"].contains(&method) {
            assert_eq!(code, Code::PermissionDenied, "{method} with a user token");
        }
    }
    for (method, code) in every_method(&app, Some(&worker)).await {
        if !["PollJobs", "Heartbeat", "CompleteJob"].contains(&method) {
            assert_eq!(code, Code::PermissionDenied, "{method} with a worker token");
        }
    }
    // A role that is not exactly one of ours is no role at all.
    let shouting = common::token_for_unchecked("someone", "acme", "VIEWER");
    for (method, code) in every_method(&app, Some(&shouting)).await {
        assert_eq!(code, Code::Unauthenticated, "{method} as VIEWER");
    }
    // A viewer reads, never writes.
    let viewer = common::token_for("someone", "acme", "viewer");
    let mut workflow = WorkflowServiceClient::new(channel(&app).await);
    let create = v1::CreateTemplateRequest {
        name: "x".into(),
        description: None,
        definition_json:
            json!({"steps": [{"id": "a", "type": "action", "config": {"action": "noop"}}]})
                .to_string(),
    };
    assert_eq!(
        code(
            workflow
                .create_template(request(create, Some(&viewer)))
                .await
        ),
        Code::PermissionDenied
    );
    assert!(
        workflow
            .list_templates(request(v1::ListTemplatesRequest::default(), Some(&viewer)))
            .await
            .is_ok()
    );
}
on_both_backends!(user_tokens_do_not_take_jobs_and_worker_tokens_do_not_read);

/// Creates a template and an instance as `token`'s tenant, over REST.
async fn start_as(app: &TestApp, token: &str, definition: Value, variables: Value) -> String {
    let post = |path: &str, body: Value| {
        app.client
            .post(app.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let template: Value = post(
        "/api/v1/templates",
        json!({"name": "t", "definition": definition}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let instance: Value = post(
        "/api/v1/instances",
        json!({"template_id": template["id"], "variables": variables, "start": true}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    instance["id"].as_str().expect("an instance id").to_owned()
}

async fn tenants_stay_apart_over_grpc(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = common::token_for("alice", "acme", "admin");
    let globex = common::token_for("bob", "globex", "admin");
    let instance_id = start_as(
        &app,
        &acme,
        json!({"steps": [{"id": "w", "type": "wait", "config": {"wait_type": "event", "event": "go"}}]}),
        json!({"api_key": "acme-secret"}),
    )
    .await;
    let mut workflow = WorkflowServiceClient::new(channel(&app).await);
    let own = workflow
        .get_instance(request(
            v1::InstanceRef {
                id: instance_id.clone(),
            },
            Some(&acme),
        ))
        .await
        .expect("acme reads its own instance")
        .into_inner();
    assert!(own.variables_json.contains("acme-secret"));
    // Globex's token, with `x-tenant: acme` beside it: still globex.
    let instance = || v1::InstanceRef {
        id: instance_id.clone(),
    };
    assert_eq!(
        code(
            workflow
                .get_instance(request(instance(), Some(&globex)))
                .await
        ),
        Code::NotFound
    );
    assert_eq!(
        code(
            workflow
                .cancel_instance(request(instance(), Some(&globex)))
                .await
        ),
        Code::NotFound
    );
    assert_eq!(
        code(
            workflow
                .list_steps(request(instance(), Some(&globex)))
                .await
        ),
        Code::NotFound
    );
    let send = v1::SendEventRequest {
        instance_id: instance_id.clone(),
        event: "go".into(),
        data_json: String::new(),
    };
    assert_eq!(
        code(workflow.send_event(request(send, Some(&globex))).await),
        Code::NotFound
    );
    let listed = workflow
        .list_instances(request(v1::ListInstancesRequest::default(), Some(&globex)))
        .await
        .unwrap()
        .into_inner();
    assert!(
        listed.items.is_empty(),
        "globex sees none of acme's instances"
    );
    let templates = workflow
        .list_templates(request(v1::ListTemplatesRequest::default(), Some(&globex)))
        .await
        .unwrap()
        .into_inner();
    assert!(templates.items.is_empty());
    // And over REST, the default tenant's admin does not see it either.
    let (status, _) = app.get(&format!("/api/v1/instances/{instance_id}")).await;
    assert_eq!(status, 404);
}
on_both_backends!(tenants_stay_apart_over_grpc);

async fn poll(app: &TestApp, token: &str, queue: &str) -> Result<Vec<v1::Job>, Status> {
    let mut worker = WorkerServiceClient::new(channel(app).await);
    let poll = v1::PollJobsRequest {
        queue: queue.into(),
        worker_id: "external".into(),
        max_jobs: 10,
        wait_ms: 300,
    };
    Ok(worker
        .poll_jobs(request(poll, Some(token)))
        .await?
        .into_inner()
        .jobs)
}

/// Polls until a job comes (the start is carried out just after the call that asked for it).
async fn poll_one(app: &TestApp, token: &str, queue: &str) -> v1::Job {
    for _ in 0..50 {
        if let Some(job) = poll(app, token, queue).await.unwrap().into_iter().next() {
            return job;
        }
    }
    panic!("no job on {queue}");
}

async fn jobs_reach_their_own_tenants_workers_with_a_lease(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = common::token_for("alice", "acme", "admin");
    let billing = json!({"steps": [{"id": "bill", "type": "action", "config": {"action": "acme_billing", "authorization": "Bearer acme-api-key"}}]});
    let instance_id = start_as(&app, &acme, billing.clone(), json!({})).await;

    // Another tenant's worker, and another tenant's template with the same action name, never
    // reach acme's job.
    let globex = common::token_for("bob", "globex", "admin");
    let globex_instance = start_as(&app, &globex, billing, json!({})).await;
    let globex_worker = common::worker_token(Some("globex"), None);
    let taken = poll_one(&app, &globex_worker, "acme_billing").await;
    assert_eq!(
        taken.instance_id, globex_instance,
        "globex's worker takes globex's job only"
    );
    assert!(
        poll(&app, &globex_worker, "acme_billing")
            .await
            .unwrap()
            .is_empty()
    );
    // Nor the shared queue of the built-in actions, nor a queue named in full.
    for queue in ["default", "acme/acme_billing"] {
        assert_eq!(
            poll(&app, &globex_worker, queue).await.unwrap_err().code(),
            Code::PermissionDenied,
            "{queue}"
        );
    }
    // A token limited to other queues does not reach this one.
    let limited = common::worker_token(Some("acme"), Some(vec!["resize_image".into()]));
    assert_eq!(
        poll(&app, &limited, "acme_billing")
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );

    let acme_worker = common::worker_token(Some("acme"), Some(vec!["acme_billing".into()]));
    let job = poll_one(&app, &acme_worker, "acme_billing").await;
    assert_eq!(job.instance_id, instance_id);
    assert!(
        !job.lease_token.is_empty(),
        "the job carries its lease token"
    );
    assert!(job.input_json.contains("acme-api-key"));

    let complete = |lease_token: &str| v1::CompleteJobRequest {
        execution_id: job.execution_id.clone(),
        attempt: job.attempt,
        branch: job.branch,
        instance_id: job.instance_id.clone(),
        result: Some(v1::complete_job_request::Result::OutputJson(
            r#"{"charged": true}"#.into(),
        )),
        lease_token: lease_token.to_owned(),
        ..Default::default()
    };
    let mut worker = WorkerServiceClient::new(channel(&app).await);
    // Knowing the ids is not enough; nor is another delivery's token.
    for wrong in ["", "00", taken.lease_token.as_str()] {
        let refused = worker
            .complete_job(request(complete(wrong), Some(&acme_worker)))
            .await;
        assert_eq!(
            code(refused),
            Code::PermissionDenied,
            "lease token {wrong:?}"
        );
    }
    let heartbeat = v1::HeartbeatRequest {
        execution_id: job.execution_id.clone(),
        attempt: job.attempt,
        branch: job.branch,
        instance_id: job.instance_id.clone(),
        lease_token: "00".into(),
    };
    assert_eq!(
        code(
            worker
                .heartbeat(request(heartbeat, Some(&acme_worker)))
                .await
        ),
        Code::PermissionDenied
    );
    let (_, still) = app_get_as(&app, &acme, &format!("/api/v1/instances/{instance_id}")).await;
    assert_eq!(still["status"], "running", "{still}");

    let accepted = worker
        .complete_job(request(complete(&job.lease_token), Some(&acme_worker)))
        .await
        .expect("the right lease token is accepted")
        .into_inner();
    assert!(accepted.accepted);
    wait_completed(&app, &acme, &instance_id).await;
    let (_, steps) = app_get_as(
        &app,
        &acme,
        &format!("/api/v1/instances/{instance_id}/steps"),
    )
    .await;
    assert_eq!(steps["items"][0]["output"]["charged"], true, "{steps}");
}
on_both_backends!(jobs_reach_their_own_tenants_workers_with_a_lease);

/// Waits until the instance, read as `token`'s tenant, has completed.
async fn wait_completed(app: &TestApp, token: &str, instance_id: &str) {
    for _ in 0..200 {
        let (_, body) = app_get_as(app, token, &format!("/api/v1/instances/{instance_id}")).await;
        if body["status"] == "completed" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("instance {instance_id} never completed");
}

async fn app_get_as(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn token_rules_hold_on_both_ports(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            vars: vec![
                ("JWT_ISSUER", "chorus-test".to_owned()),
                ("JWT_AUDIENCE", "workflow-engine".to_owned()),
                ("JWT_MAX_LIFETIME", "3600".to_owned()),
            ],
            ..Options::default()
        },
    )
    .await;
    let now = chrono::Utc::now().timestamp() as u64;
    let claims = |changes: Value| {
        let mut claims = json!({
            "sub": "someone", "tenant": "acme", "role": "admin",
            "iat": now, "exp": now + 600, "iss": "chorus-test", "aud": "workflow-engine",
        });
        for (key, value) in changes.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(key);
            } else {
                claims[key] = value.clone();
            }
        }
        common::sign(&claims)
    };
    let good = claims(json!({}));
    let (status, _) = app_get_as(&app, &good, "/api/v1/templates").await;
    assert_eq!(status, 200);
    let mut workflow = WorkflowServiceClient::new(channel(&app).await);
    assert!(
        workflow
            .list_templates(request(v1::ListTemplatesRequest::default(), Some(&good)))
            .await
            .is_ok()
    );
    for (what, token) in [
        ("nbf in the future", claims(json!({"nbf": now + 3600}))),
        ("wrong issuer", claims(json!({"iss": "someone-else"}))),
        ("no issuer", claims(json!({"iss": null}))),
        ("wrong audience", claims(json!({"aud": "another-service"}))),
        ("over-long lifetime", claims(json!({"exp": now + 7200}))),
        (
            "over-long without iat",
            claims(json!({"iat": null, "exp": now + 7200})),
        ),
        (
            "expired",
            claims(json!({"exp": now - 3600, "iat": now - 4000})),
        ),
    ] {
        let (status, _) = app_get_as(&app, &token, "/api/v1/templates").await;
        assert_eq!(status, 401, "REST, {what}");
        let refused = workflow
            .list_templates(request(v1::ListTemplatesRequest::default(), Some(&token)))
            .await;
        assert_eq!(code(refused), Code::Unauthenticated, "gRPC, {what}");
    }
}
on_both_backends!(token_rules_hold_on_both_ports);

async fn the_next_job_comes_in_the_answer_and_survives_a_lost_worker(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            vars: vec![("JOB_LEASE_SECONDS", "1".to_owned())],
            ..Options::default()
        },
    )
    .await;
    let acme = common::token_for("alice", "acme", "admin");
    let chain = json!({"steps": [
        {"id": "one", "type": "action", "config": {"action": "acme_billing"}, "next_steps": ["two"]},
        {"id": "two", "type": "action", "config": {"action": "acme_billing"}}
    ]});
    let instance_id = start_as(&app, &acme, chain, json!({})).await;
    let worker_token = common::worker_token(Some("acme"), None);
    let first = poll_one(&app, &worker_token, "acme_billing").await;
    let mut worker = WorkerServiceClient::new(channel(&app).await);
    let complete = |job: &v1::Job, accept_next_from: &str| v1::CompleteJobRequest {
        execution_id: job.execution_id.clone(),
        attempt: job.attempt,
        branch: job.branch,
        instance_id: job.instance_id.clone(),
        result: Some(v1::complete_job_request::Result::OutputJson("{}".into())),
        lease_token: job.lease_token.clone(),
        accept_next_from: accept_next_from.to_owned(),
        ..Default::default()
    };
    let answer = worker
        .complete_job(request(
            complete(&first, "acme/acme_billing"),
            Some(&worker_token),
        ))
        .await
        .unwrap()
        .into_inner();
    let [second] = answer.next_jobs.as_slice() else {
        panic!("expected the next job in the answer: {answer:?}");
    };
    assert_eq!(second.step_id, "two");
    assert!(!second.lease_token.is_empty());
    // This worker "dies" with it: the job's row and lease bring it back through the queue.
    let again = poll_one(&app, &worker_token, "acme_billing").await;
    assert_eq!(again.execution_id, second.execution_id);
    worker
        .complete_job(request(
            complete(&again, "acme/acme_billing"),
            Some(&worker_token),
        ))
        .await
        .unwrap();
    wait_completed(&app, &acme, &instance_id).await;
}
on_both_backends!(the_next_job_comes_in_the_answer_and_survives_a_lost_worker);

async fn no_job_is_handed_over_on_a_queue_the_worker_may_not_read(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = common::token_for("alice", "acme", "admin");
    let chain = json!({"steps": [
        {"id": "one", "type": "action", "config": {"action": "acme_billing"}, "next_steps": ["two"]},
        {"id": "two", "type": "action", "config": {"action": "noop"}}
    ]});
    let instance_id = start_as(&app, &acme, chain, json!({})).await;
    let worker_token = common::worker_token(Some("acme"), None);
    let first = poll_one(&app, &worker_token, "acme_billing").await;
    let mut worker = WorkerServiceClient::new(channel(&app).await);
    // The next step is a built-in action on the shared queue: a tenant's worker asking for it
    // gets nothing, and the platform's worker runs it.
    let answer = worker
        .complete_job(request(
            v1::CompleteJobRequest {
                execution_id: first.execution_id.clone(),
                attempt: first.attempt,
                branch: first.branch,
                instance_id: first.instance_id.clone(),
                result: Some(v1::complete_job_request::Result::OutputJson("{}".into())),
                lease_token: first.lease_token.clone(),
                accept_next_from: "default".into(),
                ..Default::default()
            },
            Some(&worker_token),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(answer.next_jobs.is_empty(), "{answer:?}");
    wait_completed(&app, &acme, &instance_id).await;
}
on_both_backends!(no_job_is_handed_over_on_a_queue_the_worker_may_not_read);
