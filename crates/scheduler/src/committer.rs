//! Group commit: inputs arriving together are decided and written in one transaction, so that
//! many instances moving at once cost one round trip and one fsync. Worker results go through
//! [`Committer`] (several loops, no admission check: an instance with a job in flight already
//! holds its slot); everything that may take a concurrency slot (starts, API inputs, timers)
//! through [`AdmittingCommitter`] (one loop, since admission reads the slot count and must see
//! every earlier batch committed).

use std::sync::{Arc, Weak};

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

/// The single loop that decides checked inputs, each batch under the admission lock with one
/// read of the slot holders. Holds the core weakly: the core owns this committer.
pub struct AdmittingCommitter {
    sender: mpsc::Sender<(Request, Reply)>,
}

impl AdmittingCommitter {
    pub fn start(core: Weak<Core>) -> Self {
        let (sender, receiver) = mpsc::channel::<(Request, Reply)>(MAX_BATCH);
        tokio::spawn(admit_loop(core, receiver));
        Self { sender }
    }

    /// Decides `requests`, in their order, together with whatever else is waiting.
    pub async fn submit_all(&self, requests: Vec<Request>) -> Vec<Result<Applied, SchedulerError>> {
        let mut answers = Vec::with_capacity(requests.len());
        for request in requests {
            let (reply, answer) = oneshot::channel();
            if self.sender.send((request, reply)).await.is_err() {
                drop(answer);
                answers.push(None);
                continue;
            }
            answers.push(Some(answer));
        }
        let mut results = Vec::with_capacity(answers.len());
        for answer in answers {
            let result = match answer {
                Some(answer) => answer.await.unwrap_or_else(|_| Err(shutting_down())),
                None => Err(shutting_down()),
            };
            results.push(result);
        }
        results
    }
}

async fn admit_loop(core: Weak<Core>, mut receiver: mpsc::Receiver<(Request, Reply)>) {
    let mut batch = Vec::new();
    while let Some(first) = receiver.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let (requests, replies): (Vec<Request>, Vec<Reply>) = batch.drain(..).unzip();
        let Some(core) = core.upgrade() else {
            return;
        };
        metrics::histogram!("workflow_admission_batch_size").record(requests.len() as f64);
        let results = core.apply_with(requests, Admission::Checked).await;
        drop(core);
        for (reply, result) in replies.into_iter().zip(results) {
            let _ = reply.send(result);
        }
    }
}

fn shutting_down() -> SchedulerError {
    SchedulerError::Storage(store::StoreError::Rejected {
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
