//! The consumer loop end to end: jobs published to a real in-memory queue, a real gRPC
//! `WorkerService` peer standing in for the scheduler, and the worker between them.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bus::{JobQueue, MemoryQueue};
use chrono::Utc;
use model::Job;
use proto::v1::worker_service_server::{WorkerService, WorkerServiceServer};
use proto::v1::{
    CompleteJobRequest, CompleteJobResponse, HeartbeatRequest, HeartbeatResponse, PollJobsRequest,
    PollJobsResponse, complete_job_request,
};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tonic::{Request, Response, Status};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};
use worker::{Worker, WorkerSettings};

/// The scheduler's side of the worker protocol, as far as these tests need it: it records what
/// the worker sends.
struct Peer {
    completions: mpsc::UnboundedSender<CompleteJobRequest>,
    heartbeats: Arc<Mutex<Vec<HeartbeatRequest>>>,
    /// Answer heartbeats with `cancelled: true`.
    cancel: bool,
    /// Refuse this many CompleteJob calls with UNAVAILABLE before taking one.
    unavailable_for: AtomicUsize,
    /// Jobs to hand over in the answers to results that ask for one (eager dispatch).
    hand_over: Arc<Mutex<Vec<proto::v1::Job>>>,
}

#[tonic::async_trait]
impl WorkerService for Peer {
    async fn poll_jobs(
        &self,
        _request: Request<PollJobsRequest>,
    ) -> Result<Response<PollJobsResponse>, Status> {
        Err(Status::unimplemented("our workers read the queue directly"))
    }

    async fn heartbeat(
        &self,
        request: Request<HeartbeatRequest>,
    ) -> Result<Response<HeartbeatResponse>, Status> {
        check_credentials(&request, &request.get_ref().lease_token)?;
        self.heartbeats.lock().unwrap().push(request.into_inner());
        Ok(Response::new(HeartbeatResponse {
            cancelled: self.cancel,
        }))
    }

    async fn complete_job(
        &self,
        request: Request<CompleteJobRequest>,
    ) -> Result<Response<CompleteJobResponse>, Status> {
        check_credentials(&request, &request.get_ref().lease_token)?;
        let refuse = self
            .unavailable_for
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if refuse {
            return Err(Status::unavailable("scheduler is restarting"));
        }
        let request = request.into_inner();
        let next_jobs = if request.accept_next_from.is_empty() {
            Vec::new()
        } else {
            self.hand_over.lock().unwrap().pop().into_iter().collect()
        };
        let _ = self.completions.send(request);
        Ok(Response::new(CompleteJobResponse {
            accepted: true,
            next_jobs,
        }))
    }
}

struct Scheduler {
    url: String,
    completions: mpsc::UnboundedReceiver<CompleteJobRequest>,
    heartbeats: Arc<Mutex<Vec<HeartbeatRequest>>>,
    hand_over: Arc<Mutex<Vec<proto::v1::Job>>>,
}

async fn start_scheduler(cancel: bool, unavailable_for: usize) -> Scheduler {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (sender, completions) = mpsc::unbounded_channel();
    let heartbeats = Arc::new(Mutex::new(Vec::new()));
    let hand_over = Arc::new(Mutex::new(Vec::new()));
    let peer = Peer {
        completions: sender,
        heartbeats: heartbeats.clone(),
        cancel,
        unavailable_for: AtomicUsize::new(unavailable_for),
        hand_over: hand_over.clone(),
    };
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(WorkerServiceServer::new(peer))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    Scheduler {
        url,
        completions,
        heartbeats,
        hand_over,
    }
}

fn settings(scheduler_url: &str, concurrency: usize, claim_after: Duration) -> WorkerSettings {
    WorkerSettings {
        queues: vec!["default".to_owned()],
        concurrency,
        consumer_name: "worker-under-test".to_owned(),
        scheduler_urls: vec![scheduler_url.to_owned()],
        in_process_scheduler: None,
        smtp_url: None,
        allow_private_http: true,
        claim_after,
        token: WORKER_TOKEN.to_owned(),
        tls: None,
        max_output_bytes: 1 << 20,
        breaker: worker::BreakerSettings::default(),
    }
}

/// The worker's credential as the peer expects it; the peer checks it on every call.
const WORKER_TOKEN: &str = "worker-token-under-test";
const LEASE_TOKEN: &str = "lease-token-of-the-delivery";

fn check_credentials<T>(request: &Request<T>, lease_token: &str) -> Result<(), Status> {
    let authorization = request
        .metadata()
        .get("authorization")
        .and_then(|value| value.to_str().ok());
    if authorization != Some(&format!("Bearer {WORKER_TOKEN}")) {
        return Err(Status::unauthenticated("no worker token"));
    }
    if lease_token != LEASE_TOKEN {
        return Err(Status::permission_denied("wrong lease token"));
    }
    Ok(())
}

fn job(action: &str, input: Value, deadline_in: Duration) -> Job {
    Job {
        execution_id: model::new_id(),
        attempt: 1,
        instance_id: model::new_id(),
        tenant: model::DEFAULT_TENANT.to_owned(),
        step_id: format!("{action}_step"),
        branch: None,
        queue: "default".to_owned(),
        action: action.to_owned(),
        input,
        deadline: Utc::now() + chrono::Duration::from_std(deadline_in).unwrap(),
        traceparent: None,
        lease_token: LEASE_TOKEN.to_owned(),
        timeout_timer: None,
    }
}

/// A running worker and the means to stop it.
struct Running {
    stop: oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<Result<(), worker::WorkerError>>,
}

async fn start_worker(settings: WorkerSettings, queue: Arc<MemoryQueue>) -> Running {
    let worker = Worker::build(settings, queue).await.unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(worker.run_until_stopped(async {
        let _ = stopped.await;
    }));
    Running { stop, handle }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(20), self.handle)
            .await
            .expect("worker did not stop")
            .unwrap()
            .unwrap();
    }
}

async fn next_completion(scheduler: &mut Scheduler) -> CompleteJobRequest {
    tokio::time::timeout(Duration::from_secs(10), scheduler.completions.recv())
        .await
        .expect("no result reached the scheduler")
        .unwrap()
}

/// Jobs still in the queue for another consumer once every lease has run out.
async fn redelivered(queue: &MemoryQueue, claim_after: Duration) -> Vec<Job> {
    tokio::time::sleep(claim_after + Duration::from_millis(50)).await;
    queue
        .consume(
            "default",
            "another-worker",
            100,
            Duration::from_millis(50),
            claim_after,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|delivery| delivery.job)
        .collect()
}

async fn wait_until_taken(queue: &MemoryQueue) {
    let start = Instant::now();
    while queue.depth("default").await.unwrap() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the worker took no job"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn output(request: &CompleteJobRequest) -> Value {
    match &request.result {
        Some(complete_job_request::Result::OutputJson(text)) => serde_json::from_str(text).unwrap(),
        other => panic!("expected an output, got {other:?}"),
    }
}

fn error(request: &CompleteJobRequest) -> proto::v1::StepError {
    match &request.result {
        Some(complete_job_request::Result::Error(error)) => error.clone(),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn results_reach_the_scheduler_and_jobs_are_acknowledged() {
    let mut scheduler = start_scheduler(false, 0).await;
    let queue = Arc::new(MemoryQueue::new());
    let claim_after = Duration::from_millis(300);
    let running = start_worker(settings(&scheduler.url, 4, claim_after), queue.clone()).await;

    let jobs = vec![
        job("noop", json!({}), Duration::from_secs(30)),
        job(
            "set_variable",
            json!({"name": "total", "value": 3}),
            Duration::from_secs(30),
        ),
        job("process_data_1", json!({}), Duration::from_secs(30)),
    ];
    queue.publish(&jobs).await.unwrap();

    let mut results = Vec::new();
    for _ in &jobs {
        results.push(next_completion(&mut scheduler).await);
    }
    let find = |job: &Job| {
        results
            .iter()
            .find(|r| r.execution_id == job.execution_id.to_string())
            .unwrap_or_else(|| panic!("no result for {}", job.action))
    };
    assert_eq!(output(find(&jobs[0])), json!({}));
    assert_eq!(output(find(&jobs[1])), json!({"total": 3}));
    let unknown = error(find(&jobs[2]));
    assert_eq!(unknown.r#type, "unknown_action");
    assert!(!unknown.retryable);
    for result in &results {
        assert_eq!(result.attempt, 1);
        let started_at = result.started_at.as_deref().expect("started_at is sent");
        chrono::DateTime::parse_from_rfc3339(started_at).unwrap();
    }
    // Short jobs cost no heartbeat round trip.
    assert!(scheduler.heartbeats.lock().unwrap().is_empty());

    running.stop().await;
    assert!(redelivered(&queue, claim_after).await.is_empty());
}

#[tokio::test]
async fn a_job_handed_over_in_the_answer_runs_without_the_queue() {
    let mut scheduler = start_scheduler(false, 0).await;
    let queue = Arc::new(MemoryQueue::new());
    let claim_after = Duration::from_millis(300);
    let running = start_worker(settings(&scheduler.url, 1, claim_after), queue.clone()).await;
    let next = job(
        "set_variable",
        json!({"name": "n", "value": 2}),
        Duration::from_secs(30),
    );
    scheduler.hand_over.lock().unwrap().push(proto::v1::Job {
        execution_id: next.execution_id.to_string(),
        attempt: 1,
        instance_id: next.instance_id.to_string(),
        step_id: next.step_id.clone(),
        queue: "default".into(),
        action: next.action.clone(),
        input_json: next.input.to_string(),
        deadline: next.deadline.to_rfc3339(),
        lease_token: LEASE_TOKEN.into(),
        tenant: next.tenant.clone(),
        ..Default::default()
    });
    let first = job("noop", json!({}), Duration::from_secs(30));
    queue.publish(std::slice::from_ref(&first)).await.unwrap();

    let reported = next_completion(&mut scheduler).await;
    assert_eq!(reported.execution_id, first.execution_id.to_string());
    assert_eq!(
        reported.accept_next_from, "default",
        "the worker asks for its queue's next job"
    );
    let handed = next_completion(&mut scheduler).await;
    assert_eq!(handed.execution_id, next.execution_id.to_string());
    assert_eq!(output(&handed), json!({"n": 2}));
    running.stop().await;
    // The queue only ever held the first job, acknowledged.
    assert!(redelivered(&queue, claim_after).await.is_empty());
}

#[tokio::test]
async fn a_result_is_retried_until_the_scheduler_takes_it() {
    let mut scheduler = start_scheduler(false, 3).await;
    let queue = Arc::new(MemoryQueue::new());
    let claim_after = Duration::from_secs(2);
    let running = start_worker(settings(&scheduler.url, 2, claim_after), queue.clone()).await;
    let noop = job("noop", json!({}), Duration::from_secs(30));
    queue.publish(std::slice::from_ref(&noop)).await.unwrap();

    let result = next_completion(&mut scheduler).await;
    assert_eq!(result.execution_id, noop.execution_id.to_string());

    running.stop().await;
    assert!(redelivered(&queue, claim_after).await.is_empty());
}

#[tokio::test]
async fn a_job_whose_result_cannot_be_reported_is_not_acknowledged() {
    // A scheduler address nobody listens on.
    let down: SocketAddr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let queue = Arc::new(MemoryQueue::new());
    let claim_after = Duration::from_millis(500);
    let running = start_worker(
        settings(&format!("http://{down}"), 1, claim_after),
        queue.clone(),
    )
    .await;
    let noop = job("noop", json!({}), Duration::from_secs(30));
    queue.publish(std::slice::from_ref(&noop)).await.unwrap();
    wait_until_taken(&queue).await;

    running.stop().await;
    let again = redelivered(&queue, claim_after).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].execution_id, noop.execution_id);
}

#[tokio::test]
async fn a_long_job_heartbeats_and_stops_when_cancelled() {
    let mut scheduler = start_scheduler(true, 0).await;
    let slow = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(10)))
        .mount(&slow)
        .await;
    let queue = Arc::new(MemoryQueue::new());
    let claim_after = Duration::from_millis(900);
    let running = start_worker(settings(&scheduler.url, 2, claim_after), queue.clone()).await;
    let long = job(
        "http_request",
        json!({"url": slow.uri()}),
        Duration::from_secs(30),
    );
    queue.publish(std::slice::from_ref(&long)).await.unwrap();
    let start = Instant::now();
    while scheduler.heartbeats.lock().unwrap().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no heartbeat came"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The request takes 10 s; acknowledged well before that, the job was abandoned at the
    // cancellation. Still pending, it would be handed over here (`claim_after` zero).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let still_pending = queue
        .consume(
            "default",
            "another-worker",
            10,
            Duration::from_millis(10),
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert!(
        still_pending.is_empty(),
        "the cancelled job was not acknowledged"
    );

    running.stop().await;
    let heartbeats = scheduler.heartbeats.lock().unwrap().clone();
    assert_eq!(heartbeats.len(), 1);
    assert_eq!(heartbeats[0].execution_id, long.execution_id.to_string());
    assert_eq!(heartbeats[0].instance_id, long.instance_id.to_string());
    assert!(
        scheduler.completions.try_recv().is_err(),
        "a cancelled job was reported"
    );
}

#[tokio::test]
async fn a_job_past_its_deadline_fails_with_a_retryable_timeout() {
    let mut scheduler = start_scheduler(false, 0).await;
    let slow = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(10)))
        .mount(&slow)
        .await;
    let queue = Arc::new(MemoryQueue::new());
    let running = start_worker(
        settings(&scheduler.url, 2, Duration::from_secs(3)),
        queue.clone(),
    )
    .await;
    let long = job(
        "http_request",
        json!({"url": slow.uri()}),
        Duration::from_millis(700),
    );
    queue.publish(std::slice::from_ref(&long)).await.unwrap();

    let result = next_completion(&mut scheduler).await;
    let timeout = error(&result);
    assert_eq!(timeout.r#type, "timeout");
    assert!(timeout.retryable);
    // Running past 250 ms, it told the scheduler it was running.
    assert!(!scheduler.heartbeats.lock().unwrap().is_empty());
    running.stop().await;
}

#[tokio::test]
async fn a_stop_lets_running_jobs_finish_and_report() {
    let mut scheduler = start_scheduler(false, 0).await;
    let slow = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"done": true}))
                .set_delay(Duration::from_millis(600)),
        )
        .mount(&slow)
        .await;
    let queue = Arc::new(MemoryQueue::new());
    let claim_after = Duration::from_secs(3);
    let running = start_worker(settings(&scheduler.url, 2, claim_after), queue.clone()).await;
    let long = job(
        "http_request",
        json!({"url": slow.uri()}),
        Duration::from_secs(30),
    );
    queue.publish(std::slice::from_ref(&long)).await.unwrap();
    wait_until_taken(&queue).await;

    running.stop().await;
    let result = scheduler
        .completions
        .try_recv()
        .expect("the running job reported before the worker stopped");
    assert_eq!(output(&result)["body"], json!({"done": true}));

    // Published after the stop: nobody takes it.
    let late = job("noop", json!({}), Duration::from_secs(30));
    queue.publish(std::slice::from_ref(&late)).await.unwrap();
    assert_eq!(queue.depth("default").await.unwrap(), 1);
}

#[tokio::test]
async fn a_job_handed_back_while_running_here_is_not_run_twice() {
    let mut scheduler = start_scheduler(false, 0).await;
    let slow = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(1200)))
        .expect(1)
        .mount(&slow)
        .await;
    let queue = Arc::new(MemoryQueue::new());
    // The lease runs out three times over while the job runs, with slots free to take it again.
    let claim_after = Duration::from_millis(300);
    let running = start_worker(settings(&scheduler.url, 4, claim_after), queue.clone()).await;
    let long = job(
        "http_request",
        json!({"url": slow.uri()}),
        Duration::from_secs(30),
    );
    queue.publish(std::slice::from_ref(&long)).await.unwrap();
    wait_until_taken(&queue).await;
    // Past the lease, another job wakes the consumer, and the queue hands back the long one too.
    tokio::time::sleep(claim_after + Duration::from_millis(100)).await;
    let noop = job("noop", json!({}), Duration::from_secs(30));
    queue.publish(std::slice::from_ref(&noop)).await.unwrap();

    let mut reported = vec![
        next_completion(&mut scheduler).await.execution_id,
        next_completion(&mut scheduler).await.execution_id,
    ];
    reported.sort();
    let mut expected = vec![long.execution_id.to_string(), noop.execution_id.to_string()];
    expected.sort();
    assert_eq!(reported, expected);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        scheduler.completions.try_recv().is_err(),
        "the job ran twice"
    );
    running.stop().await;
}
