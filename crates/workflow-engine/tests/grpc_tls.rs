//! TLS on the scheduler's gRPC port, with client certificates (mTLS): the split services run a
//! workflow over `https://` with a private CA, and a caller without a certificate, or without
//! TLS at all, is not served.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use proto::v1;
use proto::v1::workflow_service_client::WorkflowServiceClient;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use workflow_engine::{App, Mode, Settings};

struct Pki {
    directory: PathBuf,
}

impl Pki {
    /// A CA, a server certificate for `localhost` and a client certificate, as PEM files.
    fn new() -> Pki {
        let directory = std::env::temp_dir().join(format!("chorus-tls-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&directory).unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        std::fs::write(directory.join("ca.pem"), ca.pem()).unwrap();
        for (name, names) in [
            ("server", vec!["localhost".to_owned()]),
            ("client", vec!["worker".to_owned()]),
        ] {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(names)
                .unwrap()
                .signed_by(&key, &ca)
                .unwrap();
            std::fs::write(directory.join(format!("{name}.pem")), cert.pem()).unwrap();
            std::fs::write(directory.join(format!("{name}.key")), key.serialize_pem()).unwrap();
        }
        Pki { directory }
    }

    fn path(&self, name: &str) -> String {
        self.directory.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

fn run(app: App) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = app
            .run_until_stopped(async move {
                let _ = stopped.await;
            })
            .await;
    });
    stop
}

fn client_tls(pki: &Pki, with_certificate: bool) -> proto::ClientTls {
    proto::ClientTls {
        ca: Some(Path::new(&pki.path("ca.pem")).to_path_buf()),
        identity: with_certificate
            .then(|| (pki.path("client.pem").into(), pki.path("client.key").into())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn split_services_run_over_mutual_tls() {
    let pki = Pki::new();
    let mut vars: HashMap<String, String> = HashMap::new();
    for (name, value) in [
        ("HOST", "127.0.0.1".to_owned()),
        ("PORT", "0".to_owned()),
        ("GRPC_PORT", "0".to_owned()),
        ("ENVIRONMENT", "test".to_owned()),
        ("JWT_SECRET", common::JWT_SECRET.to_owned()),
        ("TRIGGER_SECRET_KEY", common::TRIGGER_SECRET_KEY.to_owned()),
        ("DATABASE_URL", testkit::fresh_postgres_url().await.unwrap()),
        ("REDIS_URL", testkit::redis_url()),
        ("REDIS_PREFIX", testkit::unique_prefix()),
        ("GRPC_TLS_CERT", pki.path("server.pem")),
        ("GRPC_TLS_KEY", pki.path("server.key")),
        ("GRPC_TLS_CLIENT_CA", pki.path("ca.pem")),
    ] {
        vars.insert(name.to_owned(), value);
    }
    let scheduler = App::build(&Settings::from_vars(&vars).unwrap(), Mode::Scheduler)
        .await
        .unwrap();
    let grpc_port = scheduler.grpc_port().unwrap();
    let mut stops = vec![run(scheduler)];

    // Gateways and workers: https with the private CA and their own client certificate.
    vars.insert(
        "SCHEDULER_URL".into(),
        format!("https://localhost:{grpc_port}"),
    );
    vars.insert("GRPC_TLS_CA".into(), pki.path("ca.pem"));
    vars.insert("GRPC_TLS_CERT".into(), pki.path("client.pem"));
    vars.insert("GRPC_TLS_KEY".into(), pki.path("client.key"));
    vars.insert("WORKER_TOKEN".into(), common::worker_token(None, None));
    let settings = Settings::from_vars(&vars).unwrap();
    stops.push(run(App::build(&settings, Mode::Worker).await.unwrap()));
    let gateway = App::build(&settings, Mode::Gateway).await.unwrap();
    let base = format!("http://127.0.0.1:{}", gateway.gateway_port().unwrap());
    stops.push(run(gateway));

    let token = common::token_for("tester", "default", "admin");
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let template: Value = post(
        "/api/v1/templates",
        json!({"name": "tls", "definition": {"steps": [{"id": "a", "type": "action", "config": {"action": "noop"}}]}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let instance: Value = post(
        "/api/v1/instances",
        json!({"template_id": template["id"], "start": true}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let id = instance["id"]
        .as_str()
        .expect("an instance over TLS")
        .to_owned();
    let mut status = Value::Null;
    for _ in 0..300 {
        let body: Value = http
            .get(format!("{base}/api/v1/instances/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        status = body["status"].clone();
        if status == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, "completed", "the worker reported over mTLS");

    // A stock client with the CA and a client certificate is served; without the
    // certificate, or in plaintext, it is not.
    let url = format!("https://localhost:{grpc_port}");
    let list = || {
        let mut request = tonic::Request::new(v1::ListTemplatesRequest::default());
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        request
    };
    let channel = proto::endpoint(&url, Some(&client_tls(&pki, true)))
        .unwrap()
        .connect()
        .await
        .unwrap();
    assert!(
        WorkflowServiceClient::new(channel)
            .list_templates(list())
            .await
            .is_ok()
    );
    let anonymous = proto::endpoint(&url, Some(&client_tls(&pki, false)))
        .unwrap()
        .connect()
        .await;
    if let Ok(channel) = anonymous {
        assert!(
            WorkflowServiceClient::new(channel)
                .list_templates(list())
                .await
                .is_err()
        );
    }
    let plaintext = proto::endpoint(&format!("http://127.0.0.1:{grpc_port}"), None)
        .unwrap()
        .connect()
        .await;
    if let Ok(channel) = plaintext {
        assert!(
            WorkflowServiceClient::new(channel)
                .list_templates(list())
                .await
                .is_err()
        );
    }
    for stop in stops {
        let _ = stop.send(());
    }
}
