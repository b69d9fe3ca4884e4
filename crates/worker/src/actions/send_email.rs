use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Mailboxes};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use model::StepError;
use model::actions::{Recipients, SendEmailConfig};
use serde_json::{Value, json};
use tracing::Instrument;

use super::{ActionResult, invalid_config, parse_config};
use crate::WorkerError;

const DEFAULT_FROM: &str = "workflow-engine@localhost";

/// The `send_email` action. Without an SMTP server configured (the embedded default) it writes
/// the message to the log and the step output, marked as not sent, so that workflows still run.
pub(crate) struct SendEmail {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
}

impl SendEmail {
    pub(crate) fn new(smtp_url: Option<&str>) -> Result<Self, WorkerError> {
        let Some(url) = smtp_url else {
            return Ok(Self { transport: None });
        };
        // The url may hold a password: the error names the variable, not the value.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|err| WorkerError::Config {
                name: "SMTP_URL",
                message: err.to_string(),
            })?
            .build();
        Ok(Self {
            transport: Some(transport),
        })
    }

    pub(crate) async fn run(&self, input: &Value) -> ActionResult {
        let config: SendEmailConfig = parse_config("send_email", input)?;
        let message = build_message(&config)?;
        let Some(transport) = &self.transport else {
            tracing::info!(
                to = ?json!(config.to),
                subject = %config.subject,
                body = %config.body,
                "email not sent: no SMTP_URL configured"
            );
            return Ok(json!({
                "sent": false,
                "reason": "no SMTP_URL configured",
                "message": config,
            }));
        };
        let message_id = message
            .headers()
            .get_raw("Message-ID")
            .unwrap_or_default()
            .to_owned();
        let accepted: Vec<String> = message
            .envelope()
            .to()
            .iter()
            .map(ToString::to_string)
            .collect();
        let span = tracing::info_span!(
            target: proto::trace::SPAN_TARGET,
            "smtp_send",
            otel.kind = "client",
            recipients = accepted.len(),
        );
        transport
            .send(message)
            .instrument(span)
            .await
            .map_err(smtp_error)?;
        Ok(json!({"message_id": message_id, "accepted": accepted, "sent": true}))
    }
}

fn build_message(config: &SendEmailConfig) -> Result<Message, StepError> {
    let from: Mailbox = config
        .from
        .as_deref()
        .unwrap_or(DEFAULT_FROM)
        .parse()
        .map_err(|err| invalid_config(format!("send_email: invalid from address: {err}")))?;
    let mut builder = Message::builder()
        .from(from)
        .subject(config.subject.clone())
        .message_id(None);
    for mailbox in mailboxes("to", &config.to)? {
        builder = builder.to(mailbox);
    }
    if let Some(cc) = &config.cc {
        for mailbox in mailboxes("cc", cc)? {
            builder = builder.cc(mailbox);
        }
    }
    if let Some(bcc) = &config.bcc {
        for mailbox in mailboxes("bcc", bcc)? {
            builder = builder.bcc(mailbox);
        }
    }
    let content_type = if config.html.0 {
        ContentType::TEXT_HTML
    } else {
        ContentType::TEXT_PLAIN
    };
    builder
        .header(content_type)
        .body(config.body.clone())
        .map_err(|err| invalid_config(format!("send_email: {err}")))
}

/// A string may list several addresses (`"a@x.org, B <b@y.org>"`), as a mail header does.
fn mailboxes(field: &str, recipients: &Recipients) -> Result<Vec<Mailbox>, StepError> {
    let mut parsed = Vec::new();
    for item in recipients.entries() {
        let list: Mailboxes = item.parse().map_err(|err| {
            invalid_config(format!(
                "send_email: invalid {field} address {item:?}: {err}"
            ))
        })?;
        parsed.extend(list);
    }
    if field == "to" && parsed.is_empty() {
        return Err(invalid_config("send_email: `to` names no recipient"));
    }
    Ok(parsed)
}

/// A permanent refusal (5xx: unknown recipient, rejected sender) will be refused again; anything
/// else (connection, TLS, 4xx greylisting) may pass on a later try.
fn smtp_error(err: lettre::transport::smtp::Error) -> StepError {
    if err.is_permanent() {
        return StepError::new(
            "smtp_rejected",
            format!("smtp server refused: {err}"),
            false,
        );
    }
    StepError::new("smtp", format!("smtp delivery failed: {err}"), true)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::json;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    use super::*;

    /// What the test server received in one session.
    #[derive(Default, Debug, Clone)]
    struct Received {
        recipients: Vec<String>,
        data: String,
    }

    /// Just enough SMTP to take one message at a time; recipients containing `reject` get 550.
    async fn smtp_server() -> (String, Arc<Mutex<Vec<Received>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://{}", listener.local_addr().unwrap());
        let inbox = Arc::new(Mutex::new(Vec::new()));
        let shared = inbox.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let inbox = shared.clone();
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read).lines();
                    write.write_all(b"220 test ESMTP\r\n").await.unwrap();
                    let mut current = Received::default();
                    let mut in_data = false;
                    while let Ok(Some(line)) = lines.next_line().await {
                        if in_data {
                            if line == "." {
                                in_data = false;
                                inbox.lock().unwrap().push(std::mem::take(&mut current));
                                write.write_all(b"250 queued\r\n").await.unwrap();
                            } else {
                                current.data.push_str(&line);
                                current.data.push('\n');
                            }
                            continue;
                        }
                        let upper = line.to_ascii_uppercase();
                        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO")
                        {
                            b"250 test\r\n"
                        } else if upper.starts_with("RCPT") && upper.contains("REJECT") {
                            b"550 no such user\r\n"
                        } else if upper.starts_with("RCPT") {
                            current.recipients.push(line[8..].to_owned());
                            b"250 ok\r\n"
                        } else if upper.starts_with("DATA") {
                            in_data = true;
                            b"354 go ahead\r\n"
                        } else if upper.starts_with("QUIT") {
                            write.write_all(b"221 bye\r\n").await.unwrap();
                            return;
                        } else {
                            b"250 ok\r\n"
                        };
                        write.write_all(reply).await.unwrap();
                    }
                });
            }
        });
        (url, inbox)
    }

    #[tokio::test]
    async fn the_mail_reaches_the_smtp_server() {
        let (url, inbox) = smtp_server().await;
        let email = SendEmail::new(Some(&url)).unwrap();
        let output = email
            .run(&json!({
                "to": ["ada@example.com"],
                "cc": "grace@example.com",
                "subject": "Welcome, Ada",
                "body": "Your account is ready.",
            }))
            .await
            .unwrap();
        assert_eq!(output["sent"], true);
        let accepted = output["accepted"].as_array().unwrap();
        assert!(accepted.contains(&json!("ada@example.com")), "{output}");
        assert!(accepted.contains(&json!("grace@example.com")), "{output}");
        let message_id = output["message_id"].as_str().unwrap();
        assert!(message_id.starts_with('<'), "{message_id}");

        let inbox = inbox.lock().unwrap().clone();
        assert_eq!(inbox.len(), 1);
        let mail = &inbox[0];
        assert!(
            mail.recipients
                .iter()
                .any(|r| r.contains("ada@example.com"))
        );
        assert!(mail.data.contains("Subject: Welcome, Ada"), "{}", mail.data);
        assert!(mail.data.contains("To: ada@example.com"), "{}", mail.data);
        assert!(
            mail.data.contains("From: workflow-engine@localhost"),
            "{}",
            mail.data
        );
        assert!(
            mail.data.contains("Your account is ready."),
            "{}",
            mail.data
        );
        assert!(mail.data.contains(message_id), "{}", mail.data);
    }

    #[tokio::test]
    async fn html_mail_is_sent_as_html() {
        let (url, inbox) = smtp_server().await;
        SendEmail::new(Some(&url))
            .unwrap()
            .run(&json!({"to": "a@example.com", "subject": "s", "body": "<b>hi</b>", "html": true}))
            .await
            .unwrap();
        let data = inbox.lock().unwrap()[0].data.clone();
        assert!(data.contains("Content-Type: text/html"), "{data}");
    }

    #[tokio::test]
    async fn a_rejected_recipient_is_not_retryable() {
        let (url, _inbox) = smtp_server().await;
        let err = SendEmail::new(Some(&url))
            .unwrap()
            .run(&json!({"to": "reject@example.com", "subject": "s", "body": "b"}))
            .await
            .unwrap_err();
        assert_eq!(
            (err.kind.as_str(), err.retryable),
            ("smtp_rejected", false),
            "{}",
            err.message
        );
    }

    #[tokio::test]
    async fn an_unreachable_server_is_retryable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = SendEmail::new(Some(&format!("smtp://{addr}")))
            .unwrap()
            .run(&json!({"to": "a@example.com", "subject": "s", "body": "b"}))
            .await
            .unwrap_err();
        assert_eq!(
            (err.kind.as_str(), err.retryable),
            ("smtp", true),
            "{}",
            err.message
        );
    }

    #[tokio::test]
    async fn without_smtp_the_message_is_returned_marked_not_sent() {
        let output = SendEmail::new(None)
            .unwrap()
            .run(&json!({"to": "a@example.com", "subject": "Hello", "body": "text"}))
            .await
            .unwrap();
        assert_eq!(output["sent"], false);
        assert_eq!(output["reason"], "no SMTP_URL configured");
        assert_eq!(output["message"]["subject"], "Hello");
        assert_eq!(output["message"]["to"], "a@example.com");
    }

    #[tokio::test]
    async fn a_bad_address_is_invalid_config() {
        let err = SendEmail::new(None)
            .unwrap()
            .run(&json!({"to": "not an address", "subject": "s", "body": "b"}))
            .await
            .unwrap_err();
        assert_eq!(
            (err.kind.as_str(), err.retryable),
            ("invalid_config", false)
        );
    }

    #[test]
    fn a_bad_smtp_url_names_the_variable() {
        let Err(err) = SendEmail::new(Some("gopher://mail")) else {
            panic!("accepted a gopher url");
        };
        assert!(err.to_string().contains("SMTP_URL"), "{err}");
    }
}
