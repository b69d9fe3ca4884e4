//! The trigger half of `Store`, run against Postgres and SQLite alike.

use std::sync::Arc;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use model::{Instance, InstanceStatus};
use serde_json::json;
use store::{
    InstanceFilter, NewInstance, Page, SCHEDULE, ScheduleFiring, Store, StoreError, TimerRecord,
    TriggerFilter, TriggerRecord, WEBHOOK, connect_store,
};
use uuid::Uuid;

async fn postgres() -> Arc<dyn Store> {
    let url = testkit::fresh_postgres_url()
        .await
        .expect("these tests need the local postgres");
    let store = connect_store(Some(&url), 10).await.unwrap();
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

macro_rules! on_both_backends {
    ($($suite:ident),* $(,)?) => {
        mod on_postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
              async fn $suite() { super::$suite(super::postgres().await).await })*
        }
        mod on_sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
              async fn $suite() { super::$suite(super::sqlite().await).await })*
        }
    };
}

on_both_backends!(
    triggers_round_trip_and_stay_in_their_tenant,
    triggers_page_newest_first_and_filter,
    webhook_triggers_are_the_enabled_webhooks_of_a_template,
    schedules_come_due_earliest_first,
    a_tick_is_claimed_once_with_its_instance,
    racing_schedulers_start_one_instance_per_tick,
);

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn webhook(tenant: &str, template_id: Uuid) -> TriggerRecord {
    let at = now();
    TriggerRecord {
        id: model::new_id(),
        tenant: tenant.to_owned(),
        template_id,
        kind: WEBHOOK.to_owned(),
        enabled: true,
        config: json!({}),
        secret_ciphertext: Some(vec![1, 2, 3, 0, 255]),
        next_fire_at: None,
        created_at: at,
        updated_at: at,
    }
}

fn schedule(tenant: &str, template_id: Uuid, next: DateTime<Utc>) -> TriggerRecord {
    TriggerRecord {
        kind: SCHEDULE.to_owned(),
        config: json!({"cron": "* * * * * *", "timezone": "UTC"}),
        secret_ciphertext: None,
        next_fire_at: Some(next),
        ..webhook(tenant, template_id)
    }
}

fn new_instance(tenant: &str, template_id: Uuid) -> NewInstance {
    let at = now();
    let instance = Instance {
        id: model::new_id(),
        tenant: tenant.to_owned(),
        template_id,
        template_version: 1,
        status: InstanceStatus::Pending,
        variables: json!({"from": "schedule"}),
        output: None,
        error: None,
        parent_instance_id: None,
        created_at: at,
        started_at: None,
        completed_at: None,
        updated_at: at,
        traceparent: None,
    };
    let start = TimerRecord {
        id: model::new_id(),
        instance_id: instance.id,
        due_at: at,
        payload: json!({"kind": "input"}),
    };
    NewInstance {
        instance,
        state: store::StateDocument::encode(&json!({})).unwrap(),
        timers: vec![start],
    }
}

async fn instances_of(store: &Arc<dyn Store>, tenant: &str, template_id: Uuid) -> Vec<Instance> {
    let filter = InstanceFilter {
        template_id: Some(template_id),
        page: Page {
            limit: 500,
            cursor: None,
        },
        ..InstanceFilter::default()
    };
    store.list_instances(tenant, &filter).await.unwrap()
}

async fn triggers_round_trip_and_stay_in_their_tenant(store: Arc<dyn Store>) {
    let template_id = model::new_id();
    let trigger = webhook("acme", template_id);
    store.insert_trigger(&trigger).await.unwrap();

    assert_eq!(
        store.get_trigger("acme", trigger.id).await.unwrap(),
        trigger
    );
    let tick = now() + Duration::seconds(5);
    let timed = schedule("acme", template_id, tick);
    store.insert_trigger(&timed).await.unwrap();
    assert_eq!(store.get_trigger("acme", timed.id).await.unwrap(), timed);

    let other_tenant = store.get_trigger("globex", trigger.id).await;
    assert!(matches!(other_tenant, Err(StoreError::NotFound { .. })));
    let delete_elsewhere = store.delete_trigger("globex", trigger.id).await;
    assert!(matches!(delete_elsewhere, Err(StoreError::NotFound { .. })));

    store.delete_trigger("acme", trigger.id).await.unwrap();
    let gone = store.get_trigger("acme", trigger.id).await;
    assert!(matches!(gone, Err(StoreError::NotFound { .. })));
    let again = store.delete_trigger("acme", trigger.id).await;
    assert!(matches!(again, Err(StoreError::NotFound { .. })));
}

async fn triggers_page_newest_first_and_filter(store: Arc<dyn Store>) {
    let first_template = model::new_id();
    let second_template = model::new_id();
    let mut ids = Vec::new();
    for index in 0..5 {
        let template_id = if index % 2 == 0 {
            first_template
        } else {
            second_template
        };
        let trigger = webhook("acme", template_id);
        store.insert_trigger(&trigger).await.unwrap();
        ids.push(trigger.id);
    }
    store
        .insert_trigger(&webhook("globex", first_template))
        .await
        .unwrap();
    ids.reverse();

    let filter = |limit, cursor| TriggerFilter {
        page: Page { limit, cursor },
        ..TriggerFilter::default()
    };
    let first = store.list_triggers("acme", &filter(3, None)).await.unwrap();
    let first_ids: Vec<Uuid> = first.iter().map(|t| t.id).collect();
    assert_eq!(first_ids, ids[..3]);
    let rest = store
        .list_triggers("acme", &filter(3, Some(ids[2])))
        .await
        .unwrap();
    let rest_ids: Vec<Uuid> = rest.iter().map(|t| t.id).collect();
    assert_eq!(rest_ids, ids[3..]);

    let of_template = TriggerFilter {
        template_id: Some(second_template),
        ..filter(50, None)
    };
    let listed = store.list_triggers("acme", &of_template).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|t| t.template_id == second_template));

    store
        .insert_trigger(&schedule("acme", first_template, now()))
        .await
        .unwrap();
    let schedules = TriggerFilter {
        kind: Some(SCHEDULE.to_owned()),
        ..filter(50, None)
    };
    let listed = store.list_triggers("acme", &schedules).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].kind, SCHEDULE);
}

async fn webhook_triggers_are_the_enabled_webhooks_of_a_template(store: Arc<dyn Store>) {
    let template_id = model::new_id();
    let mine = webhook("acme", template_id);
    let theirs = webhook("globex", template_id);
    let disabled = TriggerRecord {
        enabled: false,
        ..webhook("acme", template_id)
    };
    let elsewhere = webhook("acme", model::new_id());
    let timed = schedule("acme", template_id, now());
    for trigger in [&mine, &theirs, &disabled, &elsewhere, &timed] {
        store.insert_trigger(trigger).await.unwrap();
    }
    let mut found: Vec<Uuid> = store
        .webhook_triggers(template_id)
        .await
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    found.sort();
    let mut expected = vec![mine.id, theirs.id];
    expected.sort();
    assert_eq!(found, expected);
}

async fn schedules_come_due_earliest_first(store: Arc<dyn Store>) {
    assert_eq!(store.next_schedule_due().await.unwrap(), None);
    let template_id = model::new_id();
    let at = now();
    let later = schedule("acme", template_id, at + Duration::seconds(60));
    let earlier = schedule("globex", template_id, at - Duration::seconds(10));
    let earliest = schedule("acme", template_id, at - Duration::seconds(20));
    let disabled = TriggerRecord {
        enabled: false,
        ..schedule("acme", template_id, at - Duration::seconds(30))
    };
    for trigger in [&later, &earlier, &earliest, &disabled] {
        store.insert_trigger(trigger).await.unwrap();
    }
    store
        .insert_trigger(&webhook("acme", template_id))
        .await
        .unwrap();

    assert_eq!(
        store.next_schedule_due().await.unwrap(),
        earliest.next_fire_at
    );
    let due: Vec<Uuid> = store
        .due_schedules(at, 10)
        .await
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(due, [earliest.id, earlier.id]);
    assert_eq!(store.due_schedules(at, 1).await.unwrap().len(), 1);

    store.delete_trigger("acme", earliest.id).await.unwrap();
    assert_eq!(
        store.next_schedule_due().await.unwrap(),
        earlier.next_fire_at
    );
}

async fn a_tick_is_claimed_once_with_its_instance(store: Arc<dyn Store>) {
    let template_id = model::new_id();
    let tick = now() - Duration::seconds(1);
    let trigger = schedule("acme", template_id, tick);
    store.insert_trigger(&trigger).await.unwrap();
    let next = tick + Duration::seconds(1);

    let firing = ScheduleFiring {
        trigger_id: trigger.id,
        seen: tick,
        next: Some(next),
        instance: Some(new_instance("acme", template_id)),
    };
    assert!(store.fire_schedule(&firing).await.unwrap());
    let stored = store.get_trigger("acme", trigger.id).await.unwrap();
    assert_eq!(stored.next_fire_at, Some(next));
    let started = instances_of(&store, "acme", template_id).await;
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].variables, json!({"from": "schedule"}));
    // The instance's start timer was written with it.
    let timers = store.due_timers(now(), 10).await.unwrap();
    assert!(timers.iter().any(|t| t.instance_id == started[0].id));

    // The same tick again (a scheduler that read it before the claim) writes nothing.
    let replay = ScheduleFiring {
        instance: Some(new_instance("acme", template_id)),
        ..firing.clone()
    };
    assert!(!store.fire_schedule(&replay).await.unwrap());
    assert_eq!(instances_of(&store, "acme", template_id).await.len(), 1);

    // A tick with no instance (template gone) only moves the schedule on; no tick left clears it.
    let skip = ScheduleFiring {
        trigger_id: trigger.id,
        seen: next,
        next: None,
        instance: None,
    };
    assert!(store.fire_schedule(&skip).await.unwrap());
    assert_eq!(instances_of(&store, "acme", template_id).await.len(), 1);
    let stored = store.get_trigger("acme", trigger.id).await.unwrap();
    assert_eq!(stored.next_fire_at, None);
    assert!(store.due_schedules(now(), 10).await.unwrap().is_empty());

    // A deleted trigger cannot be claimed.
    let deleted = schedule("acme", template_id, tick);
    store.insert_trigger(&deleted).await.unwrap();
    store.delete_trigger("acme", deleted.id).await.unwrap();
    let late = ScheduleFiring {
        trigger_id: deleted.id,
        ..firing
    };
    assert!(!store.fire_schedule(&late).await.unwrap());
}

async fn racing_schedulers_start_one_instance_per_tick(store: Arc<dyn Store>) {
    let template_id = model::new_id();
    let tick = now() - Duration::seconds(1);
    let trigger = schedule("acme", template_id, tick);
    store.insert_trigger(&trigger).await.unwrap();

    let mut racers = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let firing = ScheduleFiring {
            trigger_id: trigger.id,
            seen: tick,
            next: Some(tick + Duration::seconds(1)),
            instance: Some(new_instance("acme", template_id)),
        };
        racers.push(tokio::spawn(
            async move { store.fire_schedule(&firing).await },
        ));
    }
    let mut won = 0;
    for racer in racers {
        if racer.await.unwrap().unwrap() {
            won += 1;
        }
    }
    assert_eq!(won, 1);
    assert_eq!(instances_of(&store, "acme", template_id).await.len(), 1);
}
