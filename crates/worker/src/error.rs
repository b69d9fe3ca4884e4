/// Why a worker could not start or had to stop. Failures of single jobs are not errors of the
/// worker: they are reported to the scheduler as the job's result.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("invalid setting {name}: {message}")]
    Config { name: &'static str, message: String },
    #[error("invalid scheduler url {url}: {source}")]
    SchedulerUrl {
        url: String,
        source: proto::EndpointError,
    },
    #[error("http client setup failed: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error("queue unavailable: {0}")]
    Queue(#[from] bus::BusError),
    #[error("worker task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}
