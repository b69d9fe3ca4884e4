//! Group commit for worker results: results arriving together are decided and written in one
//! transaction, so that many instances moving at once cost one round trip and one fsync.

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

use crate::SchedulerError;
use crate::core::{Admission, Applied, Core, Request};

/// Most results one transaction takes.
const MAX_BATCH: usize = 512;
/// Transactions in flight at once; row locks keep instances consistent across them.
const COMMITTERS: usize = 4;

type Reply = oneshot::Sender<Result<Applied, SchedulerError>>;

#[derive(Clone)]
pub struct Committer {
    sender: mpsc::Sender<(Request, Reply)>,
}

impl Committer {
    pub fn start(core: Arc<Core>) -> Self {
        let (sender, receiver) = mpsc::channel::<(Request, Reply)>(MAX_BATCH * COMMITTERS);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..COMMITTERS {
            tokio::spawn(commit_loop(core.clone(), receiver.clone()));
        }
        Self { sender }
    }

    pub async fn submit(&self, request: Request) -> Result<Applied, SchedulerError> {
        let (reply, answer) = oneshot::channel();
        if self.sender.send((request, reply)).await.is_err() {
            return Err(shutting_down());
        }
        answer.await.unwrap_or_else(|_| Err(shutting_down()))
    }
}

fn shutting_down() -> SchedulerError {
    SchedulerError::Storage(storage::StorageError::Rejected {
        code: model::ErrorCode::Unavailable,
        message: "scheduler is shutting down".to_owned(),
    })
}

async fn commit_loop(core: Arc<Core>, receiver: Arc<Mutex<mpsc::Receiver<(Request, Reply)>>>) {
    loop {
        let mut batch = Vec::new();
        {
            let mut receiver = receiver.lock().await;
            let Some(first) = receiver.recv().await else {
                return;
            };
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(item) => batch.push(item),
                    Err(_) => break,
                }
            }
        }
        let (requests, replies): (Vec<Request>, Vec<Reply>) = batch.into_iter().unzip();
        metrics::histogram!("workflow_commit_batch_size").record(requests.len() as f64);
        let started = std::time::Instant::now();
        let results = core.apply_with(requests, Admission::Unchecked).await;
        metrics::histogram!("workflow_decision_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        for (reply, result) in replies.into_iter().zip(results) {
            let _ = reply.send(result);
        }
    }
}
