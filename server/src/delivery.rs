//! The channels the outbox sends through, and the delivery worker every replica runs.
//!
//! E-mail goes over SMTP (lettre; STARTTLS or TLS as `TUS_SMTP_URL` says), SMS through an
//! HTTP gateway: a generic JSON one (`{to, text, id}`) or Twilio's form API. Each message
//! carries the outbox id (`Message-ID`, JSON `id`, `Idempotency-Key`) so a receiver can drop
//! the one resend a crash may cause. Error texts name what failed, never a secret: URLs and
//! credentials are left out.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tus_core::outbox::{Channel, Outgoing};
use tus_core::Core;

use crate::config::Config;

/// Longest one send may take before it counts as failed.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Messages claimed per round.
const CLAIM: i64 = 16;

pub struct Channels {
    email: Option<Mailer>,
    sms: Option<SmsGateway>,
}

struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

enum SmsMode {
    Json {
        auth: Option<String>,
    },
    Twilio {
        user: String,
        password: String,
        from: String,
    },
}

struct SmsGateway {
    client: reqwest::Client,
    url: url::Url,
    mode: SmsMode,
}

impl Channels {
    /// The channels the configuration names; a malformed setting stops the start.
    pub fn from_config(config: &Config) -> Result<Channels, String> {
        let email = match &config.smtp_url {
            Some(url) => Some(Mailer {
                transport: AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| format!("TUS_SMTP_URL is not a usable SMTP URL: {e}"))?
                    .timeout(Some(SEND_TIMEOUT))
                    .build(),
                from: config
                    .mail_from
                    .parse()
                    .map_err(|e| format!("TUS_MAIL_FROM is not a mailbox: {e}"))?,
            }),
            None => None,
        };
        let sms = match &config.sms_url {
            Some(raw) => Some(SmsGateway::new(config, raw)?),
            None => None,
        };
        Ok(Channels { email, sms })
    }

    /// Whether each configured channel answers (`None`: off): the SMTP server by its
    /// greeting (and the TLS the URL asks for), the SMS gateway by a TCP connection (a
    /// request would send a message). Sends nothing.
    pub async fn check(&self) -> (Option<Result<(), String>>, Option<Result<(), String>>) {
        let email = match &self.email {
            None => None,
            Some(mailer) => Some(
                match tokio::time::timeout(SEND_TIMEOUT, mailer.transport.test_connection()).await {
                    Ok(Ok(true)) => Ok(()),
                    Ok(Ok(false)) => Err("it did not accept the connection".into()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err(format!("no answer within {}s", SEND_TIMEOUT.as_secs())),
                },
            ),
        };
        let sms = match &self.sms {
            None => None,
            Some(gateway) => {
                let url = &gateway.url;
                let host = url.host_str().unwrap_or_default().to_string();
                let port = url.port_or_known_default().unwrap_or(443);
                Some(
                    match tokio::time::timeout(
                        Duration::from_secs(10),
                        tokio::net::TcpStream::connect((host, port)),
                    )
                    .await
                    {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(_) => Err("no answer within 10s".into()),
                    },
                )
            }
        };
        (email, sms)
    }

    /// Whether any channel is configured.
    pub fn any(&self) -> bool {
        self.email.is_some() || self.sms.is_some()
    }

    /// One attempt; `Err` holds what went wrong, fit for the outbox's attempt log.
    pub async fn send(&self, m: &Outgoing) -> Result<(), String> {
        let attempt = async {
            match m.channel {
                Channel::Email => match &self.email {
                    Some(mailer) => mailer.send(m).await,
                    None => Err("e-mail is not configured (TUS_SMTP_URL)".into()),
                },
                Channel::Sms => match &self.sms {
                    Some(gateway) => gateway.send(m).await,
                    None => Err("SMS is not configured (TUS_SMS_URL)".into()),
                },
            }
        };
        tokio::time::timeout(SEND_TIMEOUT, attempt)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {}s", SEND_TIMEOUT.as_secs())))
    }
}

impl Mailer {
    async fn send(&self, m: &Outgoing) -> Result<(), String> {
        let to: Mailbox =
            m.to.parse()
                .map_err(|e| format!("the recipient is not a mailbox: {e}"))?;
        let message = lettre::Message::builder()
            .message_id(Some(format!("<{}@tus.outbox>", m.id)))
            .from(self.from.clone())
            .to(to)
            .subject(m.subject.clone())
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(m.text.clone()),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(m.html.clone()),
                    ),
            )
            .map_err(|e| format!("the message could not be built: {e}"))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}"))
    }
}

impl SmsGateway {
    fn new(config: &Config, raw: &str) -> Result<SmsGateway, String> {
        let mut url = url::Url::parse(raw).map_err(|e| format!("TUS_SMS_URL is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("TUS_SMS_URL must be an http or https URL".into());
        }
        let mode = match config.sms_mode.to_ascii_lowercase().as_str() {
            "json" => SmsMode::Json {
                auth: config.sms_auth.clone(),
            },
            "twilio" => {
                let user = url.username().to_string();
                let password = url.password().unwrap_or_default().to_string();
                if user.is_empty() || password.is_empty() {
                    return Err(
                        "TUS_SMS_URL in twilio mode must carry SID:TOKEN@ as its user".into(),
                    );
                }
                let from = config
                    .sms_from
                    .clone()
                    .ok_or("TUS_SMS_FROM is required in twilio mode")?;
                // Credentials travel in the Authorization header, never in the URL.
                let _ = url.set_username("");
                let _ = url.set_password(None);
                SmsMode::Twilio {
                    user,
                    password,
                    from,
                }
            }
            other => return Err(format!("TUS_SMS_MODE must be json or twilio, not {other}")),
        };
        let client = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("the SMS client could not start: {e}"))?;
        Ok(SmsGateway { client, url, mode })
    }

    async fn send(&self, m: &Outgoing) -> Result<(), String> {
        let request = self
            .client
            .post(self.url.clone())
            .header("Idempotency-Key", &m.id);
        let request = match &self.mode {
            SmsMode::Json { auth } => {
                let request = request.json(&serde_json::json!({
                    "to": m.to,
                    "text": m.text,
                    "id": m.id,
                }));
                match auth {
                    Some(value) => request.header("Authorization", value),
                    None => request,
                }
            }
            SmsMode::Twilio {
                user,
                password,
                from,
            } => request.basic_auth(user, Some(password)).form(&[
                ("To", m.to.as_str()),
                ("From", from.as_str()),
                ("Body", m.text.as_str()),
            ]),
        };
        let response = request
            .send()
            .await
            .map_err(|e| format!("SMS gateway: {}", e.without_url()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("SMS gateway answered {status}"))
        }
    }
}

/// The delivery worker: claims due messages, sends each, settles the attempt; when nothing
/// is due it sleeps `poll`. Runs until aborted; a send in flight when it is aborted leaves
/// its lease to run out, and the message goes again (the documented resend window).
pub async fn run_worker(
    core: Core,
    channels: Arc<Channels>,
    poll: Duration,
    mut worker: crate::workers::Worker,
) {
    while !worker.asked() {
        let claimed = match core.claim_due_messages(Core::now(), CLAIM).await {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(error = %e, "claiming outbox messages failed");
                Vec::new()
            }
        };
        if claimed.is_empty() {
            worker.pause(poll).await;
            continue;
        }
        // Once claimed, a message is sent and settled even when a stop comes meanwhile.
        let sends = claimed.into_iter().map(|m| {
            let core = core.clone();
            let channels = channels.clone();
            async move {
                let result = channels.send(&m).await;
                if let Err(error) = &result {
                    tracing::warn!(message = %m.id, attempt = m.attempt, %error, "a delivery attempt failed");
                }
                match core.settle_message(Core::now(), &m, result).await {
                    Ok(state) => tracing::info!(message = %m.id, state = state.as_str(), "delivery settled"),
                    Err(e) => tracing::warn!(message = %m.id, error = %e, "settling a delivery failed"),
                }
            }
        });
        futures_util::future::join_all(sends).await;
        worker.beat();
    }
}
