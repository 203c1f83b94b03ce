//! Reaching drivers, against real parts: a real SMTP server (maildev, installed by
//! `.ci/setup` into `end2end/node_modules`, started here on free ports, read through its HTTP
//! API) and a real HTTP server as the SMS gateway.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;

/// maildev on `smtp` (and a free web port for its API); killed when dropped.
pub(crate) struct Maildev {
    web: u16,
    child: std::process::Child,
    _dir: tempdir::Dir,
}

impl Drop for Maildev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Maildev {
    pub(crate) async fn start(smtp: u16) -> Maildev {
        let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../end2end/node_modules/.bin/maildev");
        assert!(
            bin.exists(),
            "maildev is missing at {}: run `bash .ci/setup`",
            bin.display()
        );
        let web = free_port();
        let dir = std::env::temp_dir().join(format!("tus-maildev-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let child = std::process::Command::new(bin)
            .args(["--smtp", &smtp.to_string(), "--web", &web.to_string()])
            .args(["--ip", "127.0.0.1", "--web-ip", "127.0.0.1", "--silent"])
            .arg("--mail-directory")
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("maildev starts");
        let m = Maildev {
            web,
            child,
            _dir: tempdir::Dir(dir),
        };
        for _ in 0..200 {
            let smtp_up = tokio::net::TcpStream::connect(("127.0.0.1", smtp))
                .await
                .is_ok();
            if smtp_up && m.emails().await.is_some() {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("maildev did not start on {smtp}/{web}");
    }

    pub(crate) async fn emails(&self) -> Option<Vec<Value>> {
        let res = reqwest::get(format!("http://127.0.0.1:{}/api/email", self.web))
            .await
            .ok()?;
        res.json::<Vec<Value>>().await.ok()
    }

    /// The first e-mail to `to`, waiting up to 30 s for it.
    pub(crate) async fn wait_for(&self, to: &str) -> Value {
        for _ in 0..300 {
            if let Some(found) = self
                .emails()
                .await
                .unwrap_or_default()
                .into_iter()
                .find(|e| {
                    e["to"]
                        .as_array()
                        .is_some_and(|list| list.iter().any(|r| r["address"].as_str() == Some(to)))
                })
            {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no e-mail to {to} arrived");
    }
}

/// What the gateway received: the JSON body and the Authorization header.
type Received = Arc<Mutex<Vec<(Value, Option<String>)>>>;

/// A real HTTP SMS gateway: records each JSON body; answers 503 to the first `fail_first`.
#[derive(Clone, Default)]
pub(crate) struct Gateway {
    pub(crate) received: Received,
    fail_first: Arc<Mutex<usize>>,
}

impl Gateway {
    pub(crate) async fn start(fail_first: usize) -> (Gateway, String) {
        let gateway = Gateway::default();
        *gateway.fail_first.lock().unwrap() = fail_first;
        let state = gateway.clone();
        let app = axum::Router::new().route(
            "/sms",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| {
                    let state = state.clone();
                    async move {
                        let mut fail = state.fail_first.lock().unwrap();
                        if *fail > 0 {
                            *fail -= 1;
                            return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                        }
                        let auth = headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        state.received.lock().unwrap().push((body, auth));
                        axum::http::StatusCode::ACCEPTED
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/sms", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (gateway, url)
    }

    /// The first SMS to `to`, waiting up to 30 s.
    pub(crate) async fn wait_for(&self, to: &str) -> (Value, Option<String>) {
        for _ in 0..300 {
            let found = self
                .received
                .lock()
                .unwrap()
                .iter()
                .find(|(b, _)| b["to"] == to)
                .cloned();
            if let Some(found) = found {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no SMS to {to} arrived");
    }
}

/// The password a "your new password" message carries.
pub(crate) fn password_in(text: &str) -> String {
    text.split("is: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no password in {text:?}"))
        .to_string()
}

/// The first run of `digits` consecutive digits in `text`.
pub(crate) fn digits_in(text: &str, digits: usize) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == digits)
        .unwrap_or_else(|| panic!("no {digits}-digit code in {text:?}"))
        .to_string()
}

pub(crate) async fn login_with(app: &TestApp, fields: Value, proof: Value) -> Answer {
    let mut body = json!({ "LoginFields": fields });
    body.as_object_mut()
        .unwrap()
        .extend(proof.as_object().unwrap().clone());
    app.post(
        "/v1/Auth/Login",
        &body,
        &[("InstanceId", app.instance_id.clone())],
    )
    .await
}

async fn delivery(app: &TestApp, admin: &str, id: &str) -> Value {
    app.send(
        reqwest::Method::GET,
        &format!("/v1/Deliveries/{id}"),
        None,
        &[bearer(admin)],
    )
    .await
    .result()
    .clone()
}

#[tokio::test]
async fn a_generated_password_arrives_by_email_logs_in_and_ends_the_old_sessions() {
    let smtp = free_port();
    let mail = Maildev::start(smtp).await;
    let app = spawn_app_with(|c| c.smtp_url = Some(format!("smtp://127.0.0.1:{smtp}"))).await;
    let admin = app.admin_token().await;
    let user = app
        .register(json!({ "Email": "Driver@Example.com", "Password": "first password 1" }))
        .await;
    let dt = user["DeviceToken"].as_str().unwrap();

    let sent = app
        .post(
            "/v1/Management/users/password",
            &json!({ "Deliver": "Email" }),
            &[bearer(&admin), ("UserDeviceToken", dt.to_string())],
        )
        .await;
    let message = sent.result().clone();
    assert_eq!(message["Kind"], "email");
    assert_eq!(message["To"], "d••@example.com");

    let email = mail.wait_for("driver@example.com").await;
    let text = email["text"].as_str().unwrap();
    let password = password_in(text);
    assert!(email["html"].as_str().unwrap().contains(&password));
    assert_eq!(
        email["headers"]["message-id"].as_str().unwrap(),
        format!("<{}@tus.outbox>", message["Id"].as_str().unwrap()),
        "the outbox id is the Message-ID receivers deduplicate on"
    );

    // The new password logs in; the old one and the old session no longer work.
    login_with(
        &app,
        json!({"Email": "driver@example.com"}),
        json!({"Password": password}),
    )
    .await
    .result();
    let old = login_with(
        &app,
        json!({"Email": "driver@example.com"}),
        json!({"Password": "first password 1"}),
    )
    .await;
    assert_eq!(old.status, 401);
    assert_eq!(app.refresh(&user).await.status, 401);

    // Sent: its body is gone from the outbox; nothing anyone can read holds the password.
    let id = message["Id"].as_str().unwrap();
    let shown = delivery(&app, &admin, id).await;
    assert_eq!(shown["State"], "sent");
    assert_eq!(shown["AttemptLog"][0]["Outcome"], "sent");
    let row = app.core.store().message(id).await.unwrap().unwrap();
    assert!(row.sealed.is_none(), "a sent body is deleted");
    assert!(!sent.body.to_string().contains(&password));
    assert!(!shown.to_string().contains(&password));
    let audit = app
        .core
        .store()
        .audit_entries("user.password_sent")
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert!(!audit[0].detail.contains(&password));
}

#[tokio::test]
async fn an_sms_code_arrives_at_the_gateway_logs_in_once_and_dies_after_five_wrong_tries() {
    let (gateway, url) = Gateway::start(0).await;
    let app = spawn_app_with(|c| {
        c.sms_url = Some(url);
        c.sms_auth = Some("Bearer gateway-secret".into());
    })
    .await;
    app.register(json!({ "Phone": "+1 (555) 010-0023", "Password": "phone password 1" }))
        .await;
    let ask = || async {
        app.post(
            "/v1/Auth/Code",
            &json!({ "LoginFields": { "Phone": "+15550100023" } }),
            &[("InstanceId", app.instance_id.clone())],
        )
        .await
    };
    ask().await.result_absent();
    let (sms, auth) = gateway.wait_for("+15550100023").await;
    assert_eq!(auth.as_deref(), Some("Bearer gateway-secret"));
    assert!(uuid::Uuid::parse_str(sms["id"].as_str().unwrap()).is_ok());
    let code = digits_in(sms["text"].as_str().unwrap(), 6);

    let phone = json!({ "Phone": "+15550100023" });
    let logged = login_with(&app, phone.clone(), json!({ "Code": code })).await;
    assert!(logged.result()["AccessToken"]["Token"].is_string());
    let again = login_with(&app, phone.clone(), json!({ "Code": code })).await;
    assert_eq!(again.status, 401, "a code works once");

    // A second code: five wrong tries and even the right one stops working.
    ask().await.result_absent();
    let second = loop {
        let texts: Vec<String> = gateway
            .received
            .lock()
            .unwrap()
            .iter()
            .map(|(b, _)| b["text"].as_str().unwrap().to_string())
            .collect();
        if texts.len() == 2 {
            break digits_in(&texts[1], 6);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let wrong = if second == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..5 {
        let r = login_with(&app, phone.clone(), json!({ "Code": wrong })).await;
        assert_eq!(r.status, 401);
    }
    let late = login_with(&app, phone.clone(), json!({ "Code": second })).await;
    assert_eq!(late.status, 401, "five wrong tries end the code");
}

#[tokio::test]
async fn asking_for_a_code_answers_the_same_for_nobody_and_sends_nothing() {
    let (gateway, url) = Gateway::start(0).await;
    let app = spawn_app_with(|c| c.sms_url = Some(url)).await;
    let nobody = app
        .post(
            "/v1/Auth/Code",
            &json!({ "LoginFields": { "Phone": "+15550100099" } }),
            &[("InstanceId", app.instance_id.clone())],
        )
        .await;
    app.register(json!({ "Phone": "+15550100098", "Password": "phone password 1" }))
        .await;
    let somebody = app
        .post(
            "/v1/Auth/Code",
            &json!({ "LoginFields": { "Phone": "+15550100098" } }),
            &[("InstanceId", app.instance_id.clone())],
        )
        .await;
    assert_eq!(nobody.status, somebody.status);
    assert_eq!(nobody.body, somebody.body);
    gateway.wait_for("+15550100098").await;
    let queued = app
        .core
        .store()
        .messages(&Default::default(), 10)
        .await
        .unwrap();
    assert_eq!(queued.len(), 1, "only the existing user got a message");

    // Codes per login name are limited: the sixth request in the window is refused.
    for _ in 0..4 {
        app.post(
            "/v1/Auth/Code",
            &json!({ "LoginFields": { "Phone": "+15550100098" } }),
            &[("InstanceId", app.instance_id.clone())],
        )
        .await
        .result_absent();
    }
    let flood = app
        .post(
            "/v1/Auth/Code",
            &json!({ "LoginFields": { "Phone": "+15550100098" } }),
            &[("InstanceId", app.instance_id.clone())],
        )
        .await;
    assert_eq!(flood.status, 429);
}

#[tokio::test]
async fn an_unconfigured_channel_or_a_missing_address_is_a_422_naming_it() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let user = app
        .register(json!({ "Phone": "5550100023", "Password": "phone password 1" }))
        .await;
    let dt = user["DeviceToken"].as_str().unwrap().to_string();
    let send = |deliver: &str| {
        let body = json!({ "Deliver": deliver });
        let headers = [bearer(&admin), ("UserDeviceToken", dt.clone())];
        let app = &app;
        async move {
            app.post("/v1/Management/users/password", &body, &headers)
                .await
        }
    };
    let off = send("Email").await;
    assert_eq!(off.status, 422);
    assert_eq!(off.error_keys(), vec!["Deliver"]);
    assert!(
        off.body.to_string().contains("TUS_SMTP_URL"),
        "{}",
        off.body
    );
    let unknown = send("Pigeon").await;
    assert_eq!(unknown.status, 422);
    let code = app
        .post(
            "/v1/Auth/Code",
            &json!({ "LoginFields": { "Email": "a@b.io" } }),
            &[("InstanceId", app.instance_id.clone())],
        )
        .await;
    assert_eq!(code.status, 422);
    assert_eq!(code.error_keys(), vec!["Deliver"]);

    // SMS configured, but the phone is not international: 422 naming Phone; nothing queued.
    let (_gateway, url) = Gateway::start(0).await;
    let sms_app = spawn_app_with(|c| c.sms_url = Some(url)).await;
    let admin = sms_app.admin_token().await;
    let user = sms_app
        .register(json!({ "Phone": "5550100023", "Password": "phone password 1" }))
        .await;
    let r = sms_app
        .post(
            "/v1/Management/users/password",
            &json!({ "Deliver": "Sms" }),
            &[
                bearer(&admin),
                (
                    "UserDeviceToken",
                    user["DeviceToken"].as_str().unwrap().into(),
                ),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.error_keys(), vec!["Phone"]);
    assert!(sms_app
        .core
        .store()
        .messages(&Default::default(), 10)
        .await
        .unwrap()
        .is_empty());
    // The user's password did not change either.
    login_with(
        &sms_app,
        json!({ "Phone": "5550100023" }),
        json!({ "Password": "phone password 1" }),
    )
    .await
    .result();
}

#[tokio::test]
async fn a_user_token_cannot_send_passwords_or_read_the_outbox() {
    let app = spawn_app().await;
    let user = app
        .register(json!({ "Email": "u@x.io", "Password": "user password 1" }))
        .await;
    let token = token_of(&user);
    let r = app
        .post(
            "/v1/Management/users/password",
            &json!({ "Deliver": "Email" }),
            &[bearer(&token)],
        )
        .await;
    assert_eq!(r.status, 403);
    for path in [
        "/v1/Deliveries",
        "/v1/Deliveries/00000000-0000-0000-0000-000000000000",
    ] {
        let r = app
            .send(reqwest::Method::GET, path, None, &[bearer(&token)])
            .await;
        assert_eq!(r.status, 403, "{path}");
        let r = app.get(path).await;
        assert_eq!(r.status, 401, "{path}");
    }
    // A bad filter is a 422 naming it, not a silent empty list.
    let admin = app.admin_token().await;
    let r = app
        .send(
            reqwest::Method::GET,
            "/v1/Deliveries?State=lost&Kind=fax",
            None,
            &[bearer(&admin)],
        )
        .await;
    assert_eq!(r.status, 422);
    let mut keys = r.error_keys();
    keys.sort();
    assert_eq!(keys, vec!["Kind", "State"]);
}

#[tokio::test]
async fn a_message_waits_while_smtp_is_down_and_arrives_when_it_is_back() {
    let smtp = free_port();
    let app = spawn_app_with(|c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{smtp}"));
        c.outbox_retry_base = 1;
    })
    .await;
    let admin = app.admin_token().await;
    let sent = app
        .post(
            "/v1/Deliveries/test",
            &json!({ "Deliver": "Email", "To": "ops@example.com" }),
            &[bearer(&admin)],
        )
        .await;
    let id = sent.result()["Id"].as_str().unwrap().to_string();
    // Nothing listens: the attempt fails, is recorded without secrets, and waits.
    let mut failed_once = Value::Null;
    for _ in 0..100 {
        let shown = delivery(&app, &admin, &id).await;
        if shown["AttemptLog"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            failed_once = shown;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        failed_once["AttemptLog"][0]["Outcome"], "error",
        "{failed_once}"
    );
    assert!(failed_once["LastError"].as_str().unwrap().contains("SMTP"));
    assert_ne!(failed_once["State"], "sent");

    let mail = Maildev::start(smtp).await;
    let email = mail.wait_for("ops@example.com").await;
    assert!(email["subject"].as_str().unwrap().contains("Test message"));
    for _ in 0..100 {
        if delivery(&app, &admin, &id).await["State"] == "sent" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the message arrived but is not marked sent");
}

#[tokio::test]
async fn the_dashboards_password_sending_needs_an_admin_and_the_dashboards_origin() {
    use crate::dashboard::{call, origin};
    let smtp = free_port();
    let mail = Maildev::start(smtp).await;
    let app = spawn_app_with(|c| c.smtp_url = Some(format!("smtp://127.0.0.1:{smtp}"))).await;
    let user = app
        .register(json!({ "Email": "dash@example.com", "Password": "dash password 1" }))
        .await;
    let args = json!({ "device_token": user["DeviceToken"], "deliver": "Email" });
    let anonymous = call(&app, "send_password", args.clone(), &[origin(&app)]).await;
    assert_eq!(anonymous.status, 401);
    let as_user = call(
        &app,
        "send_password",
        args.clone(),
        &[bearer(&token_of(&user))],
    )
    .await;
    assert_eq!(as_user.status, 403);
    let listed = call(
        &app,
        "user_deliveries",
        json!({ "device_token": user["DeviceToken"] }),
        &[bearer(&token_of(&user))],
    )
    .await;
    assert_eq!(listed.status, 403);
    // Nothing was sent, and the user's session still works.
    assert!(app
        .core
        .store()
        .messages(&Default::default(), 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(app.refresh(&user).await.status, 200);

    let admin = app.admin_token().await;
    let bad = call(
        &app,
        "send_password",
        json!({ "device_token": user["DeviceToken"], "deliver": "Fax" }),
        &[bearer(&admin)],
    )
    .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    let sent = call(&app, "send_password", args, &[bearer(&admin)]).await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    mail.wait_for("dash@example.com").await;
    let channels = call(&app, "delivery_channels", json!({}), &[bearer(&admin)]).await;
    assert_eq!(channels.body, json!([true, false]));
}
