//! One behavioural suite for the job queue and the event bus, run against Redis and memory.

use std::sync::Arc;
use std::time::Duration;

use bus::{
    EventBus, EventStream, JobQueue, MemoryEventBus, MemoryQueue, QueueStats, StoredEvent,
    connect_bus,
};
use chrono::Utc;
use futures::StreamExt;
use model::{EventType, Job, WorkflowEvent};
use serde_json::json;
use uuid::Uuid;

const CLAIM_AFTER: Duration = Duration::from_millis(300);

async fn redis() -> (Arc<dyn JobQueue>, Arc<dyn EventBus>) {
    let url = testkit::redis_url();
    let prefix = testkit::fresh_redis_prefix()
        .await
        .expect("these tests need redis");
    connect_bus(Some(&url), &prefix)
        .await
        .unwrap_or_else(|error| panic!("these tests need redis at {url}: {error}"))
}

async fn memory() -> (Arc<dyn JobQueue>, Arc<dyn EventBus>) {
    (
        Arc::new(MemoryQueue::new()),
        Arc::new(MemoryEventBus::new()),
    )
}

macro_rules! on_both_backends {
    ($($suite:ident),* $(,)?) => {
        mod on_redis {
            $(#[tokio::test] async fn $suite() { let (q, b) = super::redis().await; super::$suite(q, b).await })*
        }
        mod on_memory {
            $(#[tokio::test] async fn $suite() { let (q, b) = super::memory().await; super::$suite(q, b).await })*
        }
    };
}

on_both_backends!(
    jobs_go_to_one_consumer_until_acknowledged,
    unacknowledged_jobs_go_to_another_consumer_after_a_while,
    consume_waits_for_a_publish,
    events_replay_after_an_id_then_follow_live,
    subscribers_from_now_see_only_new_events,
    bad_event_ids_are_refused,
    both_report_healthy,
    extended_jobs_stay_with_their_consumer,
    the_oldest_waiting_job_dates_the_backlog,
);

fn job(queue: &str, step: &str) -> Job {
    Job {
        execution_id: model::new_id(),
        attempt: 1,
        instance_id: model::new_id(),
        tenant: "t1".to_owned(),
        step_id: step.to_owned(),
        branch: None,
        queue: queue.to_owned(),
        action: "http".to_owned(),
        input: json!({"n": step}),
        deadline: Utc::now(),
        traceparent: Some("00-abc-def-01".to_owned()),
        lease_token: "lease".to_owned(),
        timeout_timer: None,
    }
}

fn event(n: u32) -> WorkflowEvent {
    WorkflowEvent {
        event_type: EventType::StepCompleted,
        tenant: "t1".to_owned(),
        instance_id: Uuid::nil(),
        step_id: Some(format!("s{n}")),
        status: "completed".to_owned(),
        at: Utc::now(),
        data: json!({"n": n}),
    }
}

async fn next(stream: &mut EventStream) -> StoredEvent {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("no event within 5 s")
        .expect("stream ended")
        .expect("stream failed")
}

async fn jobs_go_to_one_consumer_until_acknowledged(
    queue: Arc<dyn JobQueue>,
    _: Arc<dyn EventBus>,
) {
    let jobs = vec![job("default", "a"), job("default", "b"), job("other", "c")];
    queue.publish(&jobs).await.unwrap();
    assert_eq!(queue.depth("default").await.unwrap(), 2);
    assert_eq!(queue.depth("other").await.unwrap(), 1);
    assert_eq!(queue.depth("unknown").await.unwrap(), 0);

    let first = queue
        .consume(
            "default",
            "w1",
            10,
            Duration::from_millis(100),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(
        first.iter().map(|d| d.job.clone()).collect::<Vec<_>>(),
        jobs[..2].to_vec()
    );
    assert_eq!(queue.depth("default").await.unwrap(), 0);
    let nothing = queue
        .consume(
            "default",
            "w2",
            10,
            Duration::from_millis(100),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert!(nothing.is_empty());

    let ids: Vec<String> = first.iter().map(|d| d.id.clone()).collect();
    queue.ack("default", &ids).await.unwrap();
    // Acknowledged jobs are not handed out again, however long one waits.
    let after_ack = queue
        .consume(
            "default",
            "w2",
            10,
            Duration::from_millis(100),
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert!(after_ack.is_empty());
    let other = queue
        .consume(
            "other",
            "w1",
            1,
            Duration::from_millis(100),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(other[0].job, jobs[2]);
}

async fn unacknowledged_jobs_go_to_another_consumer_after_a_while(
    queue: Arc<dyn JobQueue>,
    _: Arc<dyn EventBus>,
) {
    let published = job("default", "a");
    queue
        .publish(std::slice::from_ref(&published))
        .await
        .unwrap();
    let taken = queue
        .consume(
            "default",
            "dies",
            1,
            Duration::from_millis(100),
            CLAIM_AFTER,
        )
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    let too_soon = queue
        .consume(
            "default",
            "rescuer",
            1,
            Duration::from_millis(50),
            CLAIM_AFTER,
        )
        .await
        .unwrap();
    assert!(too_soon.is_empty());
    tokio::time::sleep(CLAIM_AFTER + Duration::from_millis(100)).await;
    let rescued = queue
        .consume(
            "default",
            "rescuer",
            1,
            Duration::from_millis(100),
            CLAIM_AFTER,
        )
        .await
        .unwrap();
    assert_eq!(rescued.len(), 1);
    assert_eq!(rescued[0].job, published);
    assert_eq!(rescued[0].id, taken[0].id);
    queue
        .ack("default", &[rescued[0].id.clone()])
        .await
        .unwrap();
    tokio::time::sleep(CLAIM_AFTER + Duration::from_millis(100)).await;
    let gone = queue
        .consume(
            "default",
            "third",
            1,
            Duration::from_millis(50),
            CLAIM_AFTER,
        )
        .await
        .unwrap();
    assert!(gone.is_empty());
}

async fn consume_waits_for_a_publish(queue: Arc<dyn JobQueue>, _: Arc<dyn EventBus>) {
    let waiting = {
        let queue = queue.clone();
        tokio::spawn(async move {
            queue
                .consume(
                    "default",
                    "w1",
                    1,
                    Duration::from_secs(5),
                    Duration::from_secs(60),
                )
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let published = job("default", "late");
    queue
        .publish(std::slice::from_ref(&published))
        .await
        .unwrap();
    let delivered = waiting.await.unwrap().unwrap();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].job, published);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "woke only at the timeout"
    );
}

async fn events_replay_after_an_id_then_follow_live(_: Arc<dyn JobQueue>, bus: Arc<dyn EventBus>) {
    bus.publish(&[event(1), event(2), event(3)]).await.unwrap();
    let mut all = bus.subscribe(Some("0-0".to_owned())).await.unwrap();
    let first = next(&mut all).await;
    assert_eq!(first.event, event_like(&first, 1));
    let second = next(&mut all).await;
    let third = next(&mut all).await;
    assert_eq!(third.event.data, json!({"n": 3}));

    // Resuming after the first (Last-Event-ID) gives the rest, then the live ones.
    let mut resumed = bus.subscribe(Some(first.id.clone())).await.unwrap();
    assert_eq!(next(&mut resumed).await.id, second.id);
    assert_eq!(next(&mut resumed).await.id, third.id);
    bus.publish(&[event(4)]).await.unwrap();
    let live = next(&mut resumed).await;
    assert_eq!(live.event.data, json!({"n": 4}));
    assert_eq!(next(&mut all).await.id, live.id);
}

fn event_like(stored: &StoredEvent, n: u32) -> WorkflowEvent {
    WorkflowEvent {
        at: stored.event.at,
        ..event(n)
    }
}

async fn subscribers_from_now_see_only_new_events(_: Arc<dyn JobQueue>, bus: Arc<dyn EventBus>) {
    bus.publish(&[event(1)]).await.unwrap();
    let mut stream = bus.subscribe(None).await.unwrap();
    bus.publish(&[event(2)]).await.unwrap();
    assert_eq!(next(&mut stream).await.event.data, json!({"n": 2}));
    let many: Vec<WorkflowEvent> = (3..1203).map(event).collect();
    bus.publish(&many).await.unwrap();
    for n in 3..1203 {
        assert_eq!(next(&mut stream).await.event.data, json!({"n": n}));
    }
}

async fn bad_event_ids_are_refused(_: Arc<dyn JobQueue>, bus: Arc<dyn EventBus>) {
    let refused = bus
        .subscribe(Some("yesterday".to_owned()))
        .await
        .err()
        .unwrap();
    assert_eq!(refused.code(), model::ErrorCode::BadRequest);
}

async fn both_report_healthy(queue: Arc<dyn JobQueue>, bus: Arc<dyn EventBus>) {
    queue.ping().await.unwrap();
    bus.ping().await.unwrap();
}

/// Redis keeps nothing on disk here: after a restart the stream and its group are gone, and
/// consumers must carry on.
#[tokio::test]
async fn redis_queue_survives_losing_its_stream() {
    let url = testkit::redis_url();
    let prefix = testkit::fresh_redis_prefix()
        .await
        .expect("these tests need redis");
    let (queue, _) = connect_bus(Some(&url), &prefix).await.unwrap();
    queue.publish(&[job("default", "a")]).await.unwrap();
    let first = queue
        .consume("default", "w1", 1, Duration::from_millis(100), CLAIM_AFTER)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);

    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("DEL")
        .arg(format!("{prefix}:jobs:default"))
        .query_async::<()>(&mut conn)
        .await
        .unwrap();

    let published = job("default", "b");
    queue
        .publish(std::slice::from_ref(&published))
        .await
        .unwrap();
    let again = queue
        .consume("default", "w1", 1, Duration::from_millis(100), CLAIM_AFTER)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].job, published);
}

async fn extended_jobs_stay_with_their_consumer(queue: Arc<dyn JobQueue>, _: Arc<dyn EventBus>) {
    queue.publish(&[job("default", "long")]).await.unwrap();
    let taken = queue
        .consume(
            "default",
            "busy",
            1,
            Duration::from_millis(100),
            CLAIM_AFTER,
        )
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    let ids = [taken[0].id.clone()];
    // Renewed more often than the claim time: nobody else takes it.
    for _ in 0..3 {
        tokio::time::sleep(CLAIM_AFTER / 2).await;
        queue.extend("default", "busy", &ids).await.unwrap();
    }
    let other = queue
        .consume(
            "default",
            "other",
            1,
            Duration::from_millis(20),
            CLAIM_AFTER,
        )
        .await
        .unwrap();
    assert!(other.is_empty(), "a renewed job stays with its consumer");
    // Without renewal it goes to another consumer again.
    tokio::time::sleep(CLAIM_AFTER + Duration::from_millis(100)).await;
    let rescued = queue
        .consume(
            "default",
            "other",
            1,
            Duration::from_millis(100),
            CLAIM_AFTER,
        )
        .await
        .unwrap();
    assert_eq!(rescued.len(), 1);
    assert_eq!(rescued[0].id, taken[0].id);
}

async fn the_oldest_waiting_job_dates_the_backlog(queue: Arc<dyn JobQueue>, _: Arc<dyn EventBus>) {
    assert_eq!(queue.stats("default").await.unwrap(), QueueStats::default());
    // The queue's clock (Redis's) is this machine's; the slack covers its millisecond ids.
    let slack = chrono::Duration::seconds(1);
    let before = Utc::now();
    queue.publish(&[job("default", "first")]).await.unwrap();
    // Apart by more than an id's millisecond, so the two enqueue times differ.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let between = Utc::now();
    queue.publish(&[job("default", "second")]).await.unwrap();
    queue.publish(&[job("other", "elsewhere")]).await.unwrap();

    let both = queue.stats("default").await.unwrap();
    assert_eq!(both.depth, 2);
    let first_at = both.oldest_waiting.expect("an oldest job");
    assert!(
        first_at >= before - slack && first_at <= between + slack,
        "{first_at} outside {before}..{between}"
    );

    let taken = queue
        .consume(
            "default",
            "w1",
            1,
            Duration::from_millis(100),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(taken[0].job.step_id, "first");
    // Delivered, even before its acknowledgement, a job no longer waits.
    let one = queue.stats("default").await.unwrap();
    assert_eq!(one.depth, 1);
    let second_at = one.oldest_waiting.expect("the second job waits");
    assert!(second_at > first_at, "{second_at} not after {first_at}");

    queue
        .consume(
            "default",
            "w1",
            1,
            Duration::from_millis(100),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(queue.stats("default").await.unwrap(), QueueStats::default());
    let other = queue.stats("other").await.unwrap();
    assert_eq!(other.depth, 1);
    assert!(other.oldest_waiting.is_some_and(|at| at >= second_at));
}
