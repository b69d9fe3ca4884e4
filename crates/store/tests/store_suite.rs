//! One behavioural suite for `Store`, run against Postgres and SQLite alike.

use std::sync::Arc;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use model::{
    ErrorCode, Instance, InstanceStatus, Job, StepError, StepExecution, StepStatus, Template,
    Warning,
};
use serde_json::json;
use store::{
    IdempotencyKey, InstanceFilter, LoadedInstance, NewInstance, Page, SlotHolders, StateDocument,
    Store, StoreError, TemplateFilter, TimerRecord, Transition, TransitionRequest, connect_store,
};
use uuid::Uuid;

async fn postgres() -> Arc<dyn Store> {
    let url = testkit::fresh_postgres_url()
        .await
        .expect("these tests need the local postgres");
    let store = connect_store(Some(&url), 5).await.unwrap();
    store.migrate().await.unwrap();
    store
}

async fn sqlite() -> Arc<dyn Store> {
    let store = connect_store(Some(&testkit::fresh_sqlite_url()), 5)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

fn doc(value: serde_json::Value) -> StateDocument {
    StateDocument::encode(&value).unwrap()
}

fn value(state: &StateDocument) -> serde_json::Value {
    state.decode().unwrap()
}

macro_rules! on_both_backends {
    ($($suite:ident),* $(,)?) => {
        mod on_postgres {
            $(#[tokio::test] async fn $suite() { super::$suite(super::postgres().await).await })*
        }
        mod on_sqlite {
            $(#[tokio::test] async fn $suite() { super::$suite(super::sqlite().await).await })*
        }
    };
}

on_both_backends!(
    migrations_can_run_again,
    templates_keep_every_version,
    template_names_are_unique_among_live_templates_of_a_tenant,
    deleted_templates_are_found_only_on_request,
    templates_page_newest_first_per_tenant,
    idempotency_keys_answer_the_same_instance,
    instances_filter_and_page,
    transition_writes_every_part,
    transition_isolates_refused_and_missing_requests,
    transition_feeds_later_requests_what_earlier_ones_decided,
    transition_creates_children_with_their_timers,
    expired_jobs_are_claimed_once,
    job_timeouts_come_due_from_the_job_rows,
    timers_come_due_in_order,
    parked_inputs_are_released_by_tenant_room,
    concurrent_batches_lose_no_update,
    a_batch_of_steps_is_cheap,
    instances_keep_the_trace_context_they_started_with,
    instances_are_counted_by_status_over_every_tenant,
    queues_with_jobs_in_flight_are_listed,
    a_transition_dropped_part_way_writes_all_of_it_or_none,
);

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn template(tenant: &str, name: &str) -> Template {
    let at = now();
    Template {
        id: model::new_id(),
        tenant: tenant.to_owned(),
        name: name.to_owned(),
        description: Some("a template".to_owned()),
        version: 1,
        definition: json!({"steps": [{"id": "a"}]}),
        created_at: at,
        updated_at: at,
        warnings: vec![Warning {
            path: "/steps/0".to_owned(),
            message: "unreachable".to_owned(),
        }],
    }
}

fn instance(tenant: &str, template_id: Uuid) -> Instance {
    let at = now();
    Instance {
        id: model::new_id(),
        tenant: tenant.to_owned(),
        template_id,
        template_version: 1,
        status: InstanceStatus::Pending,
        variables: json!({"x": 1}),
        output: None,
        error: None,
        parent_instance_id: None,
        created_at: at,
        started_at: None,
        completed_at: None,
        updated_at: at,
        traceparent: None,
    }
}

fn new_instance(instance: Instance) -> NewInstance {
    NewInstance {
        instance,
        state: doc(json!({"cursor": 0})),
        timers: Vec::new(),
    }
}

async fn create(store: &Arc<dyn Store>, tenant: &str, template_id: Uuid) -> Instance {
    let (instance, created) = store
        .insert_instance(&new_instance(instance(tenant, template_id)), None)
        .await
        .unwrap();
    assert!(created);
    instance
}

fn execution(instance_id: Uuid, step_id: &str) -> StepExecution {
    StepExecution {
        id: model::new_id(),
        instance_id,
        step_id: step_id.to_owned(),
        name: Some(format!("step {step_id}")),
        step_type: "action".to_owned(),
        status: StepStatus::Queued,
        attempt: 1,
        input: Some(json!({"url": "http://example"})),
        output: None,
        error: None,
        created_at: now(),
        started_at: None,
        completed_at: None,
    }
}

fn job(instance: &Instance, execution: &StepExecution, deadline: DateTime<Utc>) -> Job {
    Job {
        execution_id: execution.id,
        attempt: execution.attempt,
        instance_id: instance.id,
        tenant: instance.tenant.clone(),
        step_id: execution.step_id.clone(),
        branch: None,
        queue: "default".to_owned(),
        action: "http".to_owned(),
        input: json!({"url": "http://example"}),
        deadline,
        traceparent: None,
        lease_token: String::new(),
        timeout_timer: None,
    }
}

fn timer(instance_id: Uuid, due_at: DateTime<Utc>) -> TimerRecord {
    TimerRecord {
        id: model::new_id(),
        instance_id,
        due_at,
        payload: json!({"fire": "wait"}),
    }
}

/// A request whose decision always returns `transition`.
fn request(instance_id: Uuid, transition: Transition) -> TransitionRequest<'static> {
    TransitionRequest {
        instance_id,
        decide: Box::new(move |_| Ok(Some(transition.clone()))),
    }
}

fn page(limit: u32, cursor: Option<Uuid>) -> Page {
    Page { limit, cursor }
}

async fn migrations_can_run_again(store: Arc<dyn Store>) {
    let (first, second) = tokio::join!(store.migrate(), store.migrate());
    first.unwrap();
    second.unwrap();
    store.ping().await.unwrap();
}

async fn templates_keep_every_version(store: Arc<dyn Store>) {
    let v1 = template("t1", "orders");
    store.insert_template(&v1).await.unwrap();
    let mut v2 = v1.clone();
    v2.version = 2;
    v2.definition = json!({"steps": [{"id": "b"}]});
    v2.updated_at = now();
    store.insert_template_version(&v2).await.unwrap();

    assert_eq!(
        store.get_template("t1", v1.id, None, false).await.unwrap(),
        v2
    );
    assert_eq!(
        store
            .get_template("t1", v1.id, Some(1), false)
            .await
            .unwrap(),
        v1
    );
    assert_eq!(
        store.find_template_by_name("t1", "orders").await.unwrap(),
        v2
    );
    // A stale writer bumping from version 1 again loses.
    let stale = store.insert_template_version(&v2).await.unwrap_err();
    assert_eq!(stale.code(), ErrorCode::Conflict, "{stale}");
    let listed = store
        .list_templates("t1", &TemplateFilter::default())
        .await
        .unwrap();
    assert_eq!(listed, vec![v2.clone()]);
    let mut unknown = v2.clone();
    unknown.id = model::new_id();
    let missing = store.insert_template_version(&unknown).await.unwrap_err();
    assert!(matches!(missing, StoreError::NotFound { .. }), "{missing}");
}

async fn template_names_are_unique_among_live_templates_of_a_tenant(store: Arc<dyn Store>) {
    let first = template("t1", "orders");
    store.insert_template(&first).await.unwrap();
    let duplicate = store
        .insert_template(&template("t1", "orders"))
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), ErrorCode::Conflict, "{duplicate}");
    // Another tenant may use the name.
    store
        .insert_template(&template("t2", "orders"))
        .await
        .unwrap();
    // Renaming onto a taken name is a conflict too.
    let other = template("t1", "invoices");
    store.insert_template(&other).await.unwrap();
    let mut renamed = other.clone();
    renamed.version = 2;
    renamed.name = "orders".to_owned();
    let clash = store.insert_template_version(&renamed).await.unwrap_err();
    assert_eq!(clash.code(), ErrorCode::Conflict, "{clash}");
    assert_eq!(
        store
            .get_template("t1", other.id, None, false)
            .await
            .unwrap(),
        other
    );
    // Once deleted, the name is free again.
    store.delete_template("t1", first.id).await.unwrap();
    store
        .insert_template(&template("t1", "orders"))
        .await
        .unwrap();
}

async fn deleted_templates_are_found_only_on_request(store: Arc<dyn Store>) {
    let kept = template("t1", "orders");
    store.insert_template(&kept).await.unwrap();
    let wrong_tenant = store.delete_template("t2", kept.id).await.unwrap_err();
    assert!(matches!(wrong_tenant, StoreError::NotFound { .. }));
    store.delete_template("t1", kept.id).await.unwrap();

    let hidden = store
        .get_template("t1", kept.id, None, false)
        .await
        .unwrap_err();
    assert!(matches!(hidden, StoreError::NotFound { .. }));
    assert_eq!(
        store
            .get_template("t1", kept.id, Some(1), true)
            .await
            .unwrap(),
        kept
    );
    assert_eq!(
        store.get_template("t1", kept.id, None, true).await.unwrap(),
        kept
    );
    assert!(store.find_template_by_name("t1", "orders").await.is_err());
    assert!(
        store
            .list_templates("t1", &TemplateFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    let again = store.delete_template("t1", kept.id).await.unwrap_err();
    assert!(matches!(again, StoreError::NotFound { .. }));
    let mut next = kept.clone();
    next.version = 2;
    assert!(store.insert_template_version(&next).await.is_err());
}

async fn templates_page_newest_first_per_tenant(store: Arc<dyn Store>) {
    let mut made = Vec::new();
    for index in 0..5 {
        let t = template("t1", &format!("template-{index}"));
        store.insert_template(&t).await.unwrap();
        made.push(t.id);
    }
    store
        .insert_template(&template("t2", "elsewhere"))
        .await
        .unwrap();
    made.reverse();

    let first = store
        .list_templates(
            "t1",
            &TemplateFilter {
                name: None,
                page: page(2, None),
            },
        )
        .await
        .unwrap();
    let second = store
        .list_templates(
            "t1",
            &TemplateFilter {
                name: None,
                page: page(2, Some(first[1].id)),
            },
        )
        .await
        .unwrap();
    let third = store
        .list_templates(
            "t1",
            &TemplateFilter {
                name: None,
                page: page(2, Some(second[1].id)),
            },
        )
        .await
        .unwrap();
    let ids: Vec<Uuid> = first
        .iter()
        .chain(&second)
        .chain(&third)
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, made);
    let named = store
        .list_templates(
            "t1",
            &TemplateFilter {
                name: Some("template-3".to_owned()),
                page: Page::default(),
            },
        )
        .await
        .unwrap();
    assert_eq!(named.len(), 1);
    assert_eq!(named[0].name, "template-3");
    let other = store
        .get_template("t2", made[0], None, false)
        .await
        .unwrap_err();
    assert!(matches!(other, StoreError::NotFound { .. }));
}

async fn idempotency_keys_answer_the_same_instance(store: Arc<dyn Store>) {
    let template_id = model::new_id();
    let key = IdempotencyKey {
        key: "k1".to_owned(),
        fingerprint: "body-a".to_owned(),
        expires_at: now() + Duration::hours(1),
    };
    let first = new_instance(instance("t1", template_id));
    let (made, created) = store.insert_instance(&first, Some(&key)).await.unwrap();
    assert!(created);
    assert_eq!(made, first.instance);

    let replay = new_instance(instance("t1", template_id));
    let (answered, created) = store.insert_instance(&replay, Some(&key)).await.unwrap();
    assert!(!created);
    assert_eq!(answered.id, first.instance.id);

    let different = IdempotencyKey {
        fingerprint: "body-b".to_owned(),
        ..key.clone()
    };
    let conflict = store
        .insert_instance(&replay, Some(&different))
        .await
        .unwrap_err();
    assert_eq!(conflict.code(), ErrorCode::Conflict, "{conflict}");

    // Keys are per tenant.
    let other_tenant = new_instance(instance("t2", template_id));
    let (_, created) = store
        .insert_instance(&other_tenant, Some(&key))
        .await
        .unwrap();
    assert!(created);

    // An expired key is used afresh.
    let expired = IdempotencyKey {
        key: "k2".to_owned(),
        fingerprint: "body-a".to_owned(),
        expires_at: now() - Duration::seconds(1),
    };
    store
        .insert_instance(&new_instance(instance("t1", template_id)), Some(&expired))
        .await
        .unwrap();
    let (_, created) = store
        .insert_instance(&new_instance(instance("t1", template_id)), Some(&expired))
        .await
        .unwrap();
    assert!(created);
}

async fn instances_filter_and_page(store: Arc<dyn Store>) {
    let template_a = model::new_id();
    let template_b = model::new_id();
    let a1 = create(&store, "t1", template_a).await;
    let mut running = instance("t1", template_b);
    running.status = InstanceStatus::Running;
    running.parent_instance_id = Some(a1.id);
    store
        .insert_instance(&new_instance(running.clone()), None)
        .await
        .unwrap();
    let a2 = create(&store, "t1", template_a).await;
    create(&store, "t2", template_a).await;

    let all = store
        .list_instances("t1", &InstanceFilter::default())
        .await
        .unwrap();
    let ids: Vec<Uuid> = all.iter().map(|i| i.id).collect();
    assert_eq!(ids, vec![a2.id, running.id, a1.id]);

    let by_status = InstanceFilter {
        status: Some(InstanceStatus::Running),
        ..Default::default()
    };
    assert_eq!(
        store.list_instances("t1", &by_status).await.unwrap(),
        vec![running.clone()]
    );
    let by_template = InstanceFilter {
        template_id: Some(template_a),
        ..Default::default()
    };
    let ids: Vec<Uuid> = store
        .list_instances("t1", &by_template)
        .await
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, vec![a2.id, a1.id]);
    let by_parent = InstanceFilter {
        parent_instance_id: Some(a1.id),
        ..Default::default()
    };
    assert_eq!(
        store.list_instances("t1", &by_parent).await.unwrap(),
        vec![running.clone()]
    );
    let paged = InstanceFilter {
        page: page(2, Some(a2.id)),
        ..Default::default()
    };
    let ids: Vec<Uuid> = store
        .list_instances("t1", &paged)
        .await
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, vec![running.id, a1.id]);

    assert_eq!(store.get_instance("t1", a1.id).await.unwrap(), a1);
    let hidden = store.get_instance("t2", a1.id).await.unwrap_err();
    assert!(matches!(hidden, StoreError::NotFound { .. }));
}

async fn transition_writes_every_part(store: Arc<dyn Store>) {
    let made = create(&store, "t1", model::new_id()).await;
    let old_timer = timer(made.id, now() + Duration::hours(1));
    store
        .transition(vec![request(
            made.id,
            Transition {
                timers: vec![old_timer.clone()],
                ..Default::default()
            },
        )])
        .await
        .unwrap()
        .pop()
        .unwrap()
        .unwrap();

    let first = execution(made.id, "a");
    let second = execution(made.id, "b");
    let deadline = now() + Duration::minutes(5);
    let mut running = made.clone();
    running.status = InstanceStatus::Running;
    running.started_at = Some(now());
    running.updated_at = now();
    let new_timer = timer(made.id, now() + Duration::minutes(1));
    let transition = Transition {
        instance: Some(running.clone()),
        state: Some(doc(json!({"cursor": 2}))),
        executions: vec![first.clone(), second.clone()],
        jobs: vec![job(&made, &first, deadline), job(&made, &second, deadline)],
        timers: vec![new_timer.clone()],
        cleared_timers: vec![old_timer.id],
        ..Default::default()
    };
    let outcomes = store
        .transition(vec![request(made.id, transition)])
        .await
        .unwrap();
    assert!(outcomes[0].as_ref().unwrap().is_some());

    assert_eq!(store.get_instance("t1", made.id).await.unwrap(), running);
    assert_eq!(
        store.list_executions(made.id).await.unwrap(),
        vec![first.clone(), second.clone()]
    );
    let due = store
        .due_timers(now() + Duration::days(1), 10)
        .await
        .unwrap();
    assert_eq!(due, vec![new_timer.clone()]);
    let leased = store
        .claim_expired_jobs(deadline, deadline + Duration::minutes(1), 10)
        .await
        .unwrap();
    assert_eq!(leased.len(), 2);

    // The next decision sees the state and finishes the first job, updating its execution.
    let mut done = first.clone();
    done.status = StepStatus::Failed;
    done.error = Some(StepError::new("http", "boom", true));
    done.output = Some(json!({"status": 500}));
    done.completed_at = Some(now());
    let outcomes = store
        .transition(vec![TransitionRequest {
            instance_id: made.id,
            decide: Box::new(move |loaded| {
                assert_eq!(value(&loaded.state), json!({"cursor": 2}));
                assert_eq!(loaded.instance.status, InstanceStatus::Running);
                Ok(Some(Transition {
                    executions: vec![done.clone()],
                    finished_jobs: vec![done.id],
                    ..Default::default()
                }))
            }),
        }])
        .await
        .unwrap();
    assert!(outcomes[0].is_ok());
    let executions = store.list_executions(made.id).await.unwrap();
    assert_eq!(executions[0].status, StepStatus::Failed);
    assert_eq!(
        executions[0].error,
        Some(StepError::new("http", "boom", true))
    );
    let later = deadline + Duration::hours(1);
    let leased = store
        .claim_expired_jobs(later, later + Duration::minutes(1), 10)
        .await
        .unwrap();
    assert_eq!(
        leased.iter().map(|j| j.execution_id).collect::<Vec<_>>(),
        vec![second.id]
    );
}

async fn transition_isolates_refused_and_missing_requests(store: Arc<dyn Store>) {
    let good = create(&store, "t1", model::new_id()).await;
    let refused = create(&store, "t1", model::new_id()).await;
    let missing = model::new_id();
    let good_timer = timer(good.id, now());
    let refused_timer = timer(refused.id, now());
    let outcomes = store
        .transition(vec![
            TransitionRequest {
                instance_id: refused.id,
                decide: Box::new(|_| {
                    Err(StoreError::Rejected {
                        code: ErrorCode::Conflict,
                        message: "instance is completed".to_owned(),
                    })
                }),
            },
            request(
                missing,
                Transition {
                    timers: vec![timer(missing, now())],
                    ..Default::default()
                },
            ),
            request(
                good.id,
                Transition {
                    timers: vec![good_timer.clone()],
                    state: Some(doc(json!({"moved": true}))),
                    ..Default::default()
                },
            ),
            TransitionRequest {
                instance_id: refused.id,
                decide: Box::new(|_| Ok(None)),
            },
        ])
        .await
        .unwrap();
    assert!(matches!(
        &outcomes[0],
        Err(StoreError::Rejected {
            code: ErrorCode::Conflict,
            ..
        })
    ));
    assert!(matches!(&outcomes[1], Err(StoreError::NotFound { .. })));
    assert!(matches!(&outcomes[2], Ok(Some(_))));
    assert!(matches!(&outcomes[3], Ok(None)));
    let due = store
        .due_timers(now() + Duration::seconds(1), 10)
        .await
        .unwrap();
    assert_eq!(due, vec![good_timer]);
    drop(refused_timer);
}

async fn transition_feeds_later_requests_what_earlier_ones_decided(store: Arc<dyn Store>) {
    let made = create(&store, "t1", model::new_id()).await;
    let bump = |_: ()| -> TransitionRequest {
        TransitionRequest {
            instance_id: made.id,
            decide: Box::new(|loaded| {
                let count = value(&loaded.state)["count"].as_i64().unwrap_or(0);
                Ok(Some(Transition {
                    state: Some(doc(json!({"count": count + 1}))),
                    ..Default::default()
                }))
            }),
        }
    };
    let outcomes = store
        .transition(vec![bump(()), bump(()), bump(())])
        .await
        .unwrap();
    let counts: Vec<serde_json::Value> = outcomes
        .into_iter()
        .map(|outcome| {
            outcome
                .unwrap()
                .unwrap()
                .state
                .map(|state| value(&state))
                .unwrap()["count"]
                .clone()
        })
        .collect();
    assert_eq!(counts, vec![json!(1), json!(2), json!(3)]);
    let seen = store
        .transition(vec![TransitionRequest {
            instance_id: made.id,
            decide: Box::new(|loaded| {
                assert_eq!(value(&loaded.state), json!({"count": 3}));
                Ok(None)
            }),
        }])
        .await
        .unwrap();
    assert!(matches!(&seen[0], Ok(None)));
}

async fn transition_creates_children_with_their_timers(store: Arc<dyn Store>) {
    let parent = create(&store, "t1", model::new_id()).await;
    let mut child = instance("t1", model::new_id());
    child.parent_instance_id = Some(parent.id);
    let start = timer(child.id, now());
    let transition = Transition {
        new_instances: vec![NewInstance {
            instance: child.clone(),
            state: doc(json!({"child": true})),
            timers: vec![start.clone()],
        }],
        ..Default::default()
    };
    store
        .transition(vec![request(parent.id, transition)])
        .await
        .unwrap()[0]
        .as_ref()
        .unwrap();
    assert_eq!(store.get_instance("t1", child.id).await.unwrap(), child);
    assert_eq!(
        store
            .due_timers(now() + Duration::seconds(1), 10)
            .await
            .unwrap(),
        vec![start]
    );
    let outcome = store
        .transition(vec![TransitionRequest {
            instance_id: child.id,
            decide: Box::new(|loaded| {
                assert_eq!(value(&loaded.state), json!({"child": true}));
                Ok(None)
            }),
        }])
        .await
        .unwrap();
    assert!(outcome[0].is_ok());
}

async fn expired_jobs_are_claimed_once(store: Arc<dyn Store>) {
    let made = create(&store, "t1", model::new_id()).await;
    let base = now();
    let first = execution(made.id, "a");
    let second = execution(made.id, "b");
    let jobs = vec![
        job(&made, &first, base),
        job(&made, &second, base + Duration::hours(1)),
    ];
    store
        .transition(vec![request(
            made.id,
            Transition {
                jobs: jobs.clone(),
                ..Default::default()
            },
        )])
        .await
        .unwrap();

    let lease = base + Duration::minutes(1);
    let (one, two) = tokio::join!(
        store.claim_expired_jobs(base, lease, 10),
        store.claim_expired_jobs(base, lease, 10)
    );
    let mut claimed = one.unwrap();
    claimed.extend(two.unwrap());
    assert_eq!(claimed, vec![jobs[0].clone()]);
    assert!(
        store
            .claim_expired_jobs(base, lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Claimed again once the new lease runs out.
    assert_eq!(
        store
            .claim_expired_jobs(lease, lease + Duration::minutes(1), 10)
            .await
            .unwrap()
            .len(),
        1
    );

    let pushed = base + Duration::hours(2);
    assert!(store.extend_lease(second.id, 1, pushed).await.unwrap());
    assert!(!store.extend_lease(second.id, 2, pushed).await.unwrap());
    assert!(
        !store
            .extend_lease(model::new_id(), 1, pushed)
            .await
            .unwrap()
    );
    let after_deadline = base + Duration::hours(1) + Duration::minutes(1);
    let claimed = store
        .claim_expired_jobs(after_deadline, after_deadline, 10)
        .await
        .unwrap();
    assert!(
        claimed.iter().all(|j| j.execution_id != second.id),
        "the heartbeat kept it"
    );
    let claimed = store
        .claim_expired_jobs(pushed, pushed + Duration::minutes(1), 10)
        .await
        .unwrap();
    assert!(claimed.iter().any(|j| j.execution_id == second.id));
}

async fn timers_come_due_in_order(store: Arc<dyn Store>) {
    assert_eq!(store.next_timer_due().await.unwrap(), None);
    let made = create(&store, "t1", model::new_id()).await;
    let base = now();
    let late = timer(made.id, base + Duration::minutes(2));
    let early = timer(made.id, base + Duration::minutes(1));
    let future = timer(made.id, base + Duration::hours(1));
    store
        .transition(vec![request(
            made.id,
            Transition {
                timers: vec![late.clone(), early.clone(), future.clone()],
                ..Default::default()
            },
        )])
        .await
        .unwrap();
    assert_eq!(store.next_timer_due().await.unwrap(), Some(early.due_at));
    let due = store
        .due_timers(base + Duration::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(due, vec![early.clone(), late.clone()]);
    assert_eq!(
        store
            .due_timers(base + Duration::minutes(5), 1)
            .await
            .unwrap(),
        vec![early.clone()]
    );
    // Due timers stay until a transition clears them; a rewrite moves one.
    let mut moved = late.clone();
    moved.due_at = base + Duration::hours(2);
    store
        .transition(vec![request(
            made.id,
            Transition {
                cleared_timers: vec![early.id],
                timers: vec![moved],
                ..Default::default()
            },
        )])
        .await
        .unwrap();
    assert!(
        store
            .due_timers(base + Duration::minutes(5), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.next_timer_due().await.unwrap(), Some(future.due_at));
}

/// Tenant "a" holds two slots and parked its inputs first; "b" holds none and parked later.
async fn parked_inputs_are_released_by_tenant_room(store: Arc<dyn Store>) {
    let parked_at = now() + Duration::days(365 * 100);
    let template_id = model::new_id();
    for _ in 0..2 {
        let holder = create(&store, "a", template_id).await;
        let step = execution(holder.id, "hold");
        store
            .transition(vec![request(
                holder.id,
                Transition {
                    jobs: vec![job(&holder, &step, now() + Duration::hours(1))],
                    ..Default::default()
                },
            )])
            .await
            .unwrap();
    }
    let holders = store.slot_holders().await.unwrap();
    assert_eq!(
        holders,
        SlotHolders {
            by_tenant: [("a".to_owned(), 2)].into_iter().collect()
        }
    );
    assert_eq!(
        (holders.total(), holders.of("a"), holders.of("b")),
        (2, 2, 0)
    );

    let mut parked = Vec::new();
    for tenant in ["a", "a", "b", "b", "b"] {
        let waiting = create(&store, tenant, template_id).await;
        let input = timer(waiting.id, parked_at);
        store
            .transition(vec![request(
                waiting.id,
                Transition {
                    timers: vec![input.clone()],
                    ..Default::default()
                },
            )])
            .await
            .unwrap();
        parked.push(input);
    }
    let released_at = now();
    let ids = |timers: Vec<TimerRecord>| timers.iter().map(|t| t.id).collect::<Vec<_>>();
    // A cap of 2: "a" has no room, so "b"'s younger inputs go first, at most 2 of them.
    let first = store
        .release_parked(parked_at, released_at, 10, Some(2))
        .await
        .unwrap();
    assert_eq!(ids(first.clone()), vec![parked[2].id, parked[3].id]);
    assert!(first.iter().all(|timer| timer.due_at == released_at));
    // Released inputs are no longer parked; under a cap of 3 each tenant has one more.
    let second = store
        .release_parked(parked_at, released_at, 10, Some(3))
        .await
        .unwrap();
    assert_eq!(ids(second), vec![parked[0].id, parked[4].id]);
    // The overall limit takes the oldest first.
    let third = store
        .release_parked(parked_at, released_at, 1, Some(10))
        .await
        .unwrap();
    assert_eq!(ids(third), vec![parked[1].id]);

    // Without a tenant cap, the oldest go whatever their tenant holds.
    let mut more = Vec::new();
    for tenant in ["a", "b", "a"] {
        let waiting = create(&store, tenant, template_id).await;
        let input = timer(waiting.id, parked_at);
        store
            .transition(vec![request(
                waiting.id,
                Transition {
                    timers: vec![input.clone()],
                    ..Default::default()
                },
            )])
            .await
            .unwrap();
        more.push(input);
    }
    let uncapped = store
        .release_parked(parked_at, released_at, 2, None)
        .await
        .unwrap();
    assert_eq!(ids(uncapped.clone()), vec![more[0].id, more[1].id]);
    assert!(uncapped.iter().all(|timer| timer.due_at == released_at));
    let rest = store
        .release_parked(parked_at, released_at, 10, None)
        .await
        .unwrap();
    assert_eq!(ids(rest), vec![more[2].id]);
}

async fn concurrent_batches_lose_no_update(store: Arc<dyn Store>) {
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(create(&store, "t1", model::new_id()).await.id);
    }
    let increment = |instance_id: Uuid| TransitionRequest {
        instance_id,
        decide: Box::new(|loaded| {
            let count = value(&loaded.state)["count"].as_i64().unwrap_or(0);
            Ok(Some(Transition {
                state: Some(doc(json!({"count": count + 1}))),
                ..Default::default()
            }))
        }),
    };
    let mut tasks = Vec::new();
    for task in 0..8 {
        let store = store.clone();
        let mut order = ids.clone();
        // Batches name the instances in different orders; locking in id order keeps them from
        // deadlocking.
        order.rotate_left(task % 3);
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                let outcomes = store
                    .transition(order.iter().map(|id| increment(*id)).collect())
                    .await
                    .unwrap();
                assert!(outcomes.iter().all(Result::is_ok));
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for id in ids {
        let outcome = store
            .transition(vec![TransitionRequest {
                instance_id: id,
                decide: Box::new(|loaded| {
                    assert_eq!(value(&loaded.state)["count"], json!(40));
                    Ok(None)
                }),
            }])
            .await
            .unwrap();
        assert!(outcome[0].is_ok());
    }
}

async fn a_batch_of_steps_is_cheap(store: Arc<dyn Store>) {
    const STEPS: usize = 200;
    let mut made = Vec::new();
    for _ in 0..STEPS {
        made.push(create(&store, "t1", model::new_id()).await);
    }
    let requests = made
        .iter()
        .map(|instance| {
            let execution = execution(instance.id, "a");
            let transition = Transition {
                state: Some(doc(json!({"cursor": 1, "steps": {"a": "queued"}}))),
                jobs: vec![job(instance, &execution, now() + Duration::minutes(5))],
                executions: vec![execution],
                ..Default::default()
            };
            request(instance.id, transition)
        })
        .collect();
    let started = std::time::Instant::now();
    let outcomes = store.transition(requests).await.unwrap();
    let elapsed = started.elapsed();
    assert!(outcomes.iter().all(Result::is_ok));
    println!(
        "{STEPS} steps in one batch: {elapsed:?} ({:?} per step)",
        elapsed / STEPS as u32
    );
    // Speed is the benchmark's to judge (`make bench`), not a test's: this only reports it.
}

/// Adds one to the instance's `count` and answers the count it wrote.
async fn bump_count(store: &Arc<dyn Store>, instance_id: Uuid) -> i64 {
    let outcomes = store
        .transition(vec![TransitionRequest {
            instance_id,
            decide: Box::new(|loaded| {
                let count = value(&loaded.state)["count"].as_i64().unwrap_or(0);
                Ok(Some(Transition {
                    state: Some(doc(json!({"count": count + 1}))),
                    ..Default::default()
                }))
            }),
        }])
        .await
        .unwrap();
    let written = outcomes.into_iter().next().unwrap().unwrap().unwrap();
    value(&written.state.unwrap())["count"].as_i64().unwrap()
}

/// Two stores over one database, as two scheduler replicas. Each keeps the instances it wrote
/// in memory and decides on that copy; when the other replica has moved the row since, the
/// write must not land on the stale copy but decide again on the row.
async fn a_replica_decides_again_on_a_row_another_replica_moved(
    first: Arc<dyn Store>,
    second: Arc<dyn Store>,
) {
    let made = create(&first, "t1", model::new_id()).await;
    assert_eq!(bump_count(&first, made.id).await, 1);
    assert_eq!(bump_count(&first, made.id).await, 2);
    assert_eq!(bump_count(&second, made.id).await, 3);
    assert_eq!(bump_count(&first, made.id).await, 4);
    assert_eq!(bump_count(&second, made.id).await, 5);
    assert_eq!(bump_count(&second, made.id).await, 6);
    assert_eq!(bump_count(&first, made.id).await, 7);
}

/// One stale copy in a batch decided on cached copies: the batch's one-statement write must
/// land nothing, not the fresh instances' updates without their step rows; otherwise the
/// decision run again on the locked rows sees the update already made and writes the rows
/// never (an instance left running with no job).
async fn a_stale_copy_in_a_batch_writes_none_of_it(first: Arc<dyn Store>, second: Arc<dyn Store>) {
    let stale = create(&first, "t1", model::new_id()).await;
    let fresh = create(&first, "t1", model::new_id()).await;
    assert_eq!(bump_count(&second, stale.id).await, 1);

    let started = execution(fresh.id, "a");
    let start_once = {
        let started = started.clone();
        Box::new(move |loaded: &LoadedInstance| {
            if value(&loaded.state)["started"] == json!(true) {
                return Ok(None);
            }
            Ok(Some(Transition {
                state: Some(doc(json!({"started": true}))),
                executions: vec![started.clone()],
                ..Default::default()
            }))
        })
    };
    let bump = Box::new(|loaded: &LoadedInstance| {
        let count = value(&loaded.state)["count"].as_i64().unwrap_or(0);
        Ok(Some(Transition {
            state: Some(doc(json!({"count": count + 1}))),
            ..Default::default()
        }))
    });
    first
        .transition(vec![
            TransitionRequest {
                instance_id: stale.id,
                decide: bump,
            },
            TransitionRequest {
                instance_id: fresh.id,
                decide: start_once,
            },
        ])
        .await
        .unwrap();
    let executions = first.list_executions(fresh.id).await.unwrap();
    assert_eq!(
        executions.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![started.id],
        "the start's step row was written with its state"
    );
    assert_eq!(bump_count(&first, stale.id).await, 3);
}

/// A batch larger than one database command (SQLite writes 32 statements per command) whose
/// stale copy is in a later command: the earlier commands' writes must be rolled back with it,
/// so every instance is bumped once, on its row.
async fn a_stale_copy_late_in_a_large_batch_writes_none_of_it(
    first: Arc<dyn Store>,
    second: Arc<dyn Store>,
) {
    let mut fresh = Vec::new();
    for _ in 0..40 {
        fresh.push(create(&first, "t1", model::new_id()).await.id);
    }
    // Created last, so last in the batch's lock order (UUID v7 ids grow with time).
    let stale = create(&first, "t1", model::new_id()).await.id;
    assert_eq!(bump_count(&second, stale).await, 1);

    let bump = || -> store::Decide<'static> {
        Box::new(|loaded: &LoadedInstance| {
            let count = value(&loaded.state)["count"].as_i64().unwrap_or(0);
            Ok(Some(Transition {
                state: Some(doc(json!({"count": count + 1}))),
                ..Default::default()
            }))
        })
    };
    let requests = fresh
        .iter()
        .chain([&stale])
        .map(|&instance_id| TransitionRequest {
            instance_id,
            decide: bump(),
        })
        .collect();
    first.transition(requests).await.unwrap();

    for id in fresh {
        assert_eq!(bump_count(&second, id).await, 2, "bumped once by the batch");
    }
    assert_eq!(bump_count(&second, stale).await, 3);
}

/// A transition whose caller drops it part-way (a cancelled request, a shutdown) leaves its
/// whole batch written or none of it, and the store goes on writing: SQLite sends a large batch
/// as several commands on one connection, which must not go back to the pool inside the
/// transaction they opened. The drop lands at a different point on each round.
async fn a_transition_dropped_part_way_writes_all_of_it_or_none(store: Arc<dyn Store>) {
    let mut ids = Vec::new();
    for _ in 0..40 {
        ids.push(create(&store, "t1", model::new_id()).await.id);
    }
    let bump_all = |ids: &[Uuid]| -> Vec<TransitionRequest<'static>> {
        ids.iter()
            .map(|&instance_id| TransitionRequest {
                instance_id,
                decide: Box::new(|loaded: &LoadedInstance| {
                    let count = value(&loaded.state)["count"].as_i64().unwrap_or(0);
                    Ok(Some(Transition {
                        state: Some(doc(json!({"count": count + 1}))),
                        ..Default::default()
                    }))
                }),
            })
            .collect()
    };
    let mut count = 0;
    for polls in 1..=24 {
        let mut transition = Box::pin(store.transition(bump_all(&ids)));
        for _ in 0..polls {
            let ready = std::future::poll_fn(|cx| {
                std::task::Poll::Ready(transition.as_mut().poll(cx).is_ready())
            })
            .await;
            if ready {
                break;
            }
            tokio::task::yield_now().await;
        }
        drop(transition);

        let counts: Vec<i64> = store
            .transition(bump_all(&ids))
            .await
            .unwrap()
            .into_iter()
            .map(|outcome| value(&outcome.unwrap().unwrap().state.unwrap())["count"].as_i64())
            .map(Option::unwrap)
            .collect();
        let dropped_one_written = counts[0] == count + 2;
        assert!(
            counts.iter().all(|&each| each == counts[0]),
            "round {polls}: the dropped batch was written in part: {counts:?}"
        );
        assert!(
            counts[0] == count + 1 || dropped_one_written,
            "round {polls}: {counts:?} after {count}"
        );
        count = counts[0];
    }
}

mod on_two_replicas {
    use super::*;

    async fn two_stores_postgres() -> (Arc<dyn Store>, Arc<dyn Store>) {
        let url = testkit::fresh_postgres_url().await.unwrap();
        let first = connect_store(Some(&url), 5).await.unwrap();
        first.migrate().await.unwrap();
        let second = connect_store(Some(&url), 5).await.unwrap();
        (first, second)
    }

    async fn two_stores_sqlite() -> (Arc<dyn Store>, Arc<dyn Store>) {
        let url = testkit::fresh_sqlite_url();
        let first = connect_store(Some(&url), 5).await.unwrap();
        first.migrate().await.unwrap();
        let second = connect_store(Some(&url), 5).await.unwrap();
        (first, second)
    }

    #[tokio::test]
    async fn postgres() {
        let (first, second) = two_stores_postgres().await;
        a_replica_decides_again_on_a_row_another_replica_moved(first, second).await;
    }

    #[tokio::test]
    async fn sqlite() {
        let (first, second) = two_stores_sqlite().await;
        a_replica_decides_again_on_a_row_another_replica_moved(first, second).await;
    }

    #[tokio::test]
    async fn stale_copy_postgres() {
        let (first, second) = two_stores_postgres().await;
        a_stale_copy_in_a_batch_writes_none_of_it(first, second).await;
    }

    #[tokio::test]
    async fn stale_copy_sqlite() {
        let (first, second) = two_stores_sqlite().await;
        a_stale_copy_in_a_batch_writes_none_of_it(first, second).await;
    }

    #[tokio::test]
    async fn stale_copy_late_in_a_large_batch_postgres() {
        let (first, second) = two_stores_postgres().await;
        a_stale_copy_late_in_a_large_batch_writes_none_of_it(first, second).await;
    }

    #[tokio::test]
    async fn stale_copy_late_in_a_large_batch_sqlite() {
        let (first, second) = two_stores_sqlite().await;
        a_stale_copy_late_in_a_large_batch_writes_none_of_it(first, second).await;
    }
}

/// A job's timeout timer rides on its row: due at the job's deadline (counted in
/// `next_timer_due`), claimed once, and again after `retry_at` if nothing removed the row.
async fn job_timeouts_come_due_from_the_job_rows(store: Arc<dyn Store>) {
    let made = create(&store, "t1", model::new_id()).await;
    let base = now() + Duration::hours(1);
    let timed = execution(made.id, "a");
    let untimed = execution(made.id, "b");
    let mut with_timer = job(&made, &timed, base);
    with_timer.timeout_timer = Some(model::new_id());
    let without_timer = job(&made, &untimed, base - Duration::minutes(30));
    store
        .transition(vec![request(
            made.id,
            Transition {
                jobs: vec![with_timer.clone(), without_timer],
                ..Default::default()
            },
        )])
        .await
        .unwrap();
    assert_eq!(store.next_timer_due().await.unwrap(), Some(base));
    assert!(
        store
            .claim_expired_deadlines(base - Duration::seconds(1), base, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let retry = base + Duration::minutes(1);
    let (one, two) = tokio::join!(
        store.claim_expired_deadlines(base, retry, 10),
        store.claim_expired_deadlines(base, retry, 10)
    );
    let mut claimed = one.unwrap();
    claimed.extend(two.unwrap());
    assert_eq!(claimed, vec![with_timer.clone()]);
    assert_eq!(store.next_timer_due().await.unwrap(), Some(retry));
    assert_eq!(
        store
            .claim_expired_deadlines(retry, retry + Duration::minutes(1), 10)
            .await
            .unwrap(),
        vec![with_timer.clone()]
    );

    // Gone with its row.
    store
        .transition(vec![request(
            made.id,
            Transition {
                finished_jobs: vec![timed.id, untimed.id],
                ..Default::default()
            },
        )])
        .await
        .unwrap();
    assert_eq!(store.next_timer_due().await.unwrap(), None);
}

async fn instances_keep_the_trace_context_they_started_with(store: Arc<dyn Store>) {
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut traced = instance("t1", model::new_id());
    traced.traceparent = Some(traceparent.to_owned());
    let (made, _) = store
        .insert_instance(&new_instance(traced), None)
        .await
        .unwrap();
    assert_eq!(made.traceparent.as_deref(), Some(traceparent));
    let seen = store
        .transition(vec![TransitionRequest {
            instance_id: made.id,
            decide: Box::new(move |loaded| {
                assert_eq!(loaded.instance.traceparent.as_deref(), Some(traceparent));
                Ok(Some(Transition {
                    instance: Some(Instance {
                        status: InstanceStatus::Running,
                        ..loaded.instance.clone()
                    }),
                    state: Some(doc(json!({"cursor": 1}))),
                    ..Default::default()
                }))
            }),
        }])
        .await
        .unwrap();
    assert!(matches!(&seen[0], Ok(Some(_))));
    let read = store.get_instance("t1", made.id).await.unwrap();
    assert_eq!(read.status, InstanceStatus::Running);
    assert_eq!(read.traceparent.as_deref(), Some(traceparent));
    let untraced = create(&store, "t1", model::new_id()).await;
    let read = store.get_instance("t1", untraced.id).await.unwrap();
    assert_eq!(read.traceparent, None);
}

async fn instances_are_counted_by_status_over_every_tenant(store: Arc<dyn Store>) {
    assert!(store.instances_by_status().await.unwrap().is_empty());
    let template_id = model::new_id();
    let first = create(&store, "t1", template_id).await;
    create(&store, "t1", template_id).await;
    create(&store, "t2", model::new_id()).await;
    let mut running = first.clone();
    running.status = InstanceStatus::Running;
    running.started_at = Some(now());
    let moved = Transition {
        instance: Some(running),
        ..Default::default()
    };
    store
        .transition(vec![request(first.id, moved)])
        .await
        .unwrap()
        .pop()
        .unwrap()
        .unwrap();

    let mut counts = store.instances_by_status().await.unwrap();
    counts.sort_by_key(|(status, _)| status.as_str());
    assert_eq!(
        counts,
        vec![(InstanceStatus::Pending, 2), (InstanceStatus::Running, 1)]
    );
}

async fn queues_with_jobs_in_flight_are_listed(store: Arc<dyn Store>) {
    assert!(store.job_queues().await.unwrap().is_empty());
    let made = create(&store, "t1", model::new_id()).await;
    let deadline = now() + Duration::minutes(5);
    let jobs = ["resize", "default", "resize"]
        .into_iter()
        .enumerate()
        .map(|(position, queue)| {
            let mut job = job(
                &made,
                &execution(made.id, &format!("s{position}")),
                deadline,
            );
            job.queue = queue.to_owned();
            job
        })
        .collect();
    let dispatched = Transition {
        jobs,
        ..Default::default()
    };
    store
        .transition(vec![request(made.id, dispatched)])
        .await
        .unwrap()
        .pop()
        .unwrap()
        .unwrap();

    assert_eq!(store.job_queues().await.unwrap(), vec!["default", "resize"]);
}

/// SQLite's WAL is copied into the database file by a task of the store, not by a commit
/// (whose own checkpoint waits for a WAL far larger than this test writes): the file grows
/// while nothing but commits happen.
#[tokio::test]
async fn sqlite_checkpoints_its_wal_off_the_commit_path() {
    let url = testkit::fresh_sqlite_url();
    let store = connect_store(Some(&url), 5).await.unwrap();
    store.migrate().await.unwrap();
    let path = url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let file_size = || std::fs::metadata(&path).unwrap().len();
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let before = file_size();
    for _ in 0..300 {
        create(&store, "t1", model::new_id()).await;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while file_size() <= before {
        assert!(
            std::time::Instant::now() < deadline,
            "the database file never grew past {before} bytes"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
