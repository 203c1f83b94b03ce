//! Webhooks against a real HTTP receiver on loopback: events arrive signed the Standard
//! Webhooks way (verified here with HMAC-SHA256 from the `hmac` crate, nothing of ours), in
//! order per user, again after failures until acknowledged; a hostile caller cannot aim
//! them at link-local or loopback addresses, nor read a secret after its one showing.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::helpers::*;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) id: String,
    timestamp: String,
    signature: String,
    pub(crate) traceparent: Option<String>,
    body: String,
}

impl Received {
    pub(crate) fn event(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// A real HTTP receiver: records every request and answers the statuses queued (then 200).
#[derive(Clone, Default)]
pub(crate) struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    answers: Arc<Mutex<VecDeque<u16>>>,
}

impl Receiver {
    pub(crate) async fn start() -> (Receiver, String) {
        Receiver::start_on(0).await
    }

    /// On `port` (0: a free one); answers its URL.
    pub(crate) async fn start_on(port: u16) -> (Receiver, String) {
        let r = Receiver::default();
        let state = r.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let state = state.clone();
                async move {
                    let h = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string()
                    };
                    state.got.lock().unwrap().push(Received {
                        id: h("webhook-id"),
                        timestamp: h("webhook-timestamp"),
                        signature: h("webhook-signature"),
                        traceparent: headers
                            .get("traceparent")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string),
                        body,
                    });
                    let status = state.answers.lock().unwrap().pop_front().unwrap_or(200);
                    axum::http::StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, url)
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (up to 30 s) until `done` holds for what arrived.
    pub(crate) async fn wait_for(
        &self,
        what: &str,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        self.wait_within(what, Duration::from_secs(30), done).await
    }

    /// Waits (up to `limit`) until `done` holds for what arrived.
    pub(crate) async fn wait_within(
        &self,
        what: &str,
        limit: Duration,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            let got = self.received();
            if done(&got) {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{what}: got {:#?}", self.received());
    }
}

/// The Standard Webhooks check, as a receiver does it: any `v1,` signature of
/// `id.timestamp.body` under the secret.
fn verifies(r: &Received, secret: &str) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", r.id, r.timestamp, r.body).as_bytes());
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    r.signature.split(' ').any(|s| s == expected)
}

/// Every delivered event has the fields `/openapi.json` documents for its type, and no other.
async fn as_documented(app: &TestApp, got: &[Received]) {
    let doc: Value = reqwest::get(format!("{}/openapi.json", app.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for r in got {
        let event = r.event();
        let kind = event["type"].as_str().unwrap();
        let schema =
            &doc["webhooks"][kind]["post"]["requestBody"]["content"]["application/json"]["schema"];
        let mut documented: Vec<&str> = schema["properties"]["data"]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{kind} is not documented"))
            .keys()
            .map(String::as_str)
            .collect();
        let mut sent: Vec<&str> = event["data"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        documented.sort();
        sent.sort();
        assert_eq!(sent, documented, "{kind}");
        assert_eq!(schema["properties"]["type"]["const"], kind);
    }
}

/// A webhook's delivery log, read by `admin`.
async fn delivery_log(app: &TestApp, admin: &str, id: &str) -> Answer {
    app.send(
        reqwest::Method::GET,
        &format!("/v1/Webhooks/{id}/Deliveries"),
        None,
        &[bearer(admin)],
    )
    .await
}

/// The newest delivery of webhook `id` once it has settled: the receiver has its request a
/// moment before the server records the answer, so a read right after it may see `sending`.
async fn settled_delivery(app: &TestApp, admin: &str, id: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let log = delivery_log(app, admin, id).await;
        let newest = log.result()[0].clone();
        let state = newest["State"].as_str().unwrap_or_default();
        if !matches!(state, "queued" | "sending") || std::time::Instant::now() > deadline {
            return newest;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn create(app: &TestApp, admin: &str, body: Value) -> Answer {
    app.post("/v1/Webhooks", &body, &[bearer(admin)]).await
}

pub(crate) fn events_of<'a>(
    got: &'a [Received],
    kind: &str,
    device_token: &str,
) -> Vec<&'a Received> {
    got.iter()
        .filter(|r| {
            let e = r.event();
            e["type"] == kind && e["data"]["DeviceToken"] == device_token
        })
        .collect()
}

#[tokio::test]
async fn changes_arrive_signed_with_before_and_after_and_the_secret_is_shown_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (receiver, url) = Receiver::start().await;
    let created = create(
        &app,
        &admin,
        json!({ "Url": url, "AllowPrivate": true, "Description": "CRM" }),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let secret = created.result()["Secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    let id = created.result()["Webhook"]["Id"]
        .as_str()
        .unwrap()
        .to_string();

    let user = app.register(json!({ "LastName": "Hooked" })).await;
    let dt = user["DeviceToken"].as_str().unwrap().to_string();
    let changed = app
        .send(
            reqwest::Method::PUT,
            "/v1/Management/users",
            Some(&json!({ "UserFields": { "EnableLogging": true }, "FirstName": "Hanna" })),
            &[bearer(&admin), ("UserDeviceToken", dt.clone())],
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let deactivated = app
        .send(
            reqwest::Method::PUT,
            "/v1/Management/users",
            Some(&json!({ "Status": "Deactivated" })),
            &[bearer(&admin), ("UserDeviceToken", dt.clone())],
        )
        .await;
    assert_eq!(deactivated.status, 200);

    let got = receiver
        .wait_for("four events", |g| {
            events_of(g, "user.deactivated", &dt).len() == 1
        })
        .await;
    for r in &got {
        assert!(verifies(r, &secret), "{r:?}");
        assert_eq!(r.event()["id"], r.id, "webhook-id is the event's id");
    }
    let kinds: Vec<String> = got
        .iter()
        .filter(|r| r.event()["data"]["DeviceToken"] == dt.as_str())
        .map(|r| r.event()["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        vec![
            "user.created",
            "user.updated",
            "user.flags_changed",
            "user.deactivated"
        ],
        "in the order of the changes"
    );
    as_documented(&app, &got).await;
    let flags = events_of(&got, "user.flags_changed", &dt)[0].event();
    assert_eq!(
        flags["data"]["Changes"],
        json!({ "EnableLogging": { "Before": false, "After": true } })
    );
    let updated = events_of(&got, "user.updated", &dt)[0].event();
    assert_eq!(
        updated["data"]["Changes"]["FirstName"],
        json!({ "Before": null, "After": "Hanna" })
    );
    assert!(!updated.to_string().contains("Password"));
    let created_event = events_of(&got, "user.created", &dt)[0].event();
    let body = created_event.to_string();
    assert!(
        !body.contains("AccessToken") && !body.contains("RefreshToken"),
        "{body}"
    );

    // Shown once: never in a list, a read, or the delivery log.
    for path in [
        "/v1/Webhooks".to_string(),
        format!("/v1/Webhooks/{id}"),
        format!("/v1/Webhooks/{id}/Deliveries"),
    ] {
        let read = app
            .send(reqwest::Method::GET, &path, None, &[bearer(&admin)])
            .await;
        assert_eq!(read.status, 200, "{path}");
        assert!(!read.body.to_string().contains(&secret[6..]), "{path}");
    }
    let first = &settled_delivery(&app, &admin, &id).await;
    assert_eq!(first["State"], "sent");
    assert_eq!(first["LastStatus"], 200);
}

#[tokio::test]
async fn a_failing_receiver_gets_the_event_again_until_it_acknowledges_and_a_4xx_is_final() {
    let app = spawn_app_with(|c| c.outbox_retry_base = 1).await;
    let admin = app.admin_token().await;
    let (receiver, url) = Receiver::start().await;
    receiver.answers.lock().unwrap().extend([500, 503, 500]);
    let created = create(
        &app,
        &admin,
        json!({ "Url": url, "AllowPrivate": true, "EventTypes": ["webhook.test", "user.deleted"] }),
    )
    .await;
    assert_eq!(created.status, 422, "webhook.test is not subscribed to");
    let created = create(
        &app,
        &admin,
        json!({ "Url": url, "AllowPrivate": true, "EventTypes": ["user.deleted"] }),
    )
    .await;
    let id = created.result()["Webhook"]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let tested = app
        .post(
            &format!("/v1/Webhooks/{id}/Test"),
            &json!({}),
            &[bearer(&admin)],
        )
        .await;
    assert_eq!(tested.status, 200, "{}", tested.body);
    let got = receiver.wait_for("four attempts", |g| g.len() >= 4).await;
    let ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "one event, four attempts: {ids:?}"
    );
    let d = &settled_delivery(&app, &admin, &id).await;
    assert_eq!(
        (d["State"].as_str(), d["Attempts"].as_i64()),
        (Some("sent"), Some(4)),
        "{d}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 4, "acknowledged: not sent again");

    // A 400 is final: one attempt, then failed; the next event still goes.
    receiver.answers.lock().unwrap().push_back(400);
    let user = app.register(json!({})).await;
    let dt = user["DeviceToken"].as_str().unwrap().to_string();
    app.send(
        reqwest::Method::DELETE,
        &format!("/v1/Management/users/{dt}"),
        None,
        &[bearer(&admin)],
    )
    .await;
    receiver.wait_for("the deletion", |g| g.len() >= 5).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(receiver.received().len(), 5, "a 400 is not retried");
    let log = delivery_log(&app, &admin, &id).await;
    let d = &log.result()[0];
    assert_eq!(d["State"], "failed", "{d}");
    assert_eq!(d["LastStatus"], 400);
    // Resent by hand, it arrives again.
    let resent = app
        .post(
            &format!(
                "/v1/Webhooks/{id}/Deliveries/{}/Resend",
                d["Id"].as_str().unwrap()
            ),
            &json!({}),
            &[bearer(&admin)],
        )
        .await;
    assert_eq!(resent.status, 200, "{}", resent.body);
    let got = receiver.wait_for("the resend", |g| g.len() >= 6).await;
    assert_eq!(got[5].event()["type"], "user.deleted");
}

#[tokio::test]
async fn one_users_events_arrive_in_order_under_a_burst_and_a_disabled_webhook_gets_none() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (receiver, url) = Receiver::start().await;
    let (quiet, quiet_url) = Receiver::start().await;
    create(
        &app,
        &admin,
        json!({ "Url": url, "AllowPrivate": true, "EventTypes": ["user.flags_changed"] }),
    )
    .await;
    let off = create(
        &app,
        &admin,
        json!({ "Url": quiet_url, "AllowPrivate": true }),
    )
    .await;
    let off_id = off.result()["Webhook"]["Id"].as_str().unwrap().to_string();
    let disabled = app
        .send(
            reqwest::Method::PATCH,
            &format!("/v1/Webhooks/{off_id}"),
            Some(&json!({ "Enabled": false })),
            &[bearer(&admin)],
        )
        .await;
    assert_eq!(disabled.result()["Enabled"], false, "{}", disabled.body);

    let user = app.register(json!({})).await;
    let dt = user["DeviceToken"].as_str().unwrap().to_string();
    let burst = 20;
    for i in 0..burst {
        let answer = app
            .send(
                reqwest::Method::PUT,
                "/v1/Management/users",
                Some(&json!({ "UserFields": { "EnableLogging": i % 2 == 0 } })),
                &[bearer(&admin), ("UserDeviceToken", dt.clone())],
            )
            .await;
        assert_eq!(answer.status, 200);
    }
    let got = receiver.wait_for("the burst", |g| g.len() >= burst).await;
    let afters: Vec<bool> = got
        .iter()
        .map(|r| {
            r.event()["data"]["Changes"]["EnableLogging"]["After"]
                .as_bool()
                .unwrap()
        })
        .collect();
    let expected: Vec<bool> = (0..burst).map(|i| i % 2 == 0).collect();
    assert_eq!(afters, expected, "in the order of the changes");
    assert!(
        quiet.received().is_empty(),
        "a disabled webhook gets nothing"
    );
}

#[tokio::test]
async fn during_a_secret_rotation_both_secrets_sign() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (receiver, url) = Receiver::start().await;
    let created = create(&app, &admin, json!({ "Url": url, "AllowPrivate": true })).await;
    let old = created.result()["Secret"].as_str().unwrap().to_string();
    let id = created.result()["Webhook"]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let rotated = app
        .post(
            &format!("/v1/Webhooks/{id}/RotateSecret"),
            &json!({ "OverlapSeconds": 3600 }),
            &[bearer(&admin)],
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let new = rotated.result()["Secret"].as_str().unwrap().to_string();
    assert_ne!(old, new);
    app.post(
        &format!("/v1/Webhooks/{id}/Test"),
        &json!({}),
        &[bearer(&admin)],
    )
    .await;
    let got = receiver.wait_for("the test event", |g| !g.is_empty()).await;
    as_documented(&app, &got).await;
    assert_eq!(got[0].signature.split(' ').count(), 2);
    assert!(verifies(&got[0], &old) && verifies(&got[0], &new));
    // Without an overlap only the new one signs.
    let again = app
        .post(
            &format!("/v1/Webhooks/{id}/RotateSecret"),
            &json!({ "OverlapSeconds": 0 }),
            &[bearer(&admin)],
        )
        .await;
    let newest = again.result()["Secret"].as_str().unwrap().to_string();
    app.post(
        &format!("/v1/Webhooks/{id}/Test"),
        &json!({}),
        &[bearer(&admin)],
    )
    .await;
    let got = receiver.wait_for("the second test", |g| g.len() >= 2).await;
    assert!(verifies(&got[1], &newest));
    assert!(!verifies(&got[1], &new));
}

#[tokio::test]
async fn a_hostile_caller_cannot_aim_webhooks_inside_nor_manage_them_without_the_scope() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for (url, private) in [
        ("http://169.254.169.254/latest/meta-data", true),
        ("http://[fe80::1]/x", true),
        ("http://127.0.0.1:9/x", false),
        ("https://10.0.0.1/x", false),
        ("file:///etc/passwd", true),
        ("https://user:pw@example.com/x", false),
    ] {
        let answer = create(&app, &admin, json!({ "Url": url, "AllowPrivate": private })).await;
        assert_eq!(answer.status, 422, "{url}: {}", answer.body);
        assert_eq!(answer.error_keys(), vec!["Url"], "{url}");
    }
    assert_eq!(
        app.send(
            reqwest::Method::GET,
            "/v1/Webhooks",
            None,
            &[bearer(&admin)]
        )
        .await
        .result()
        .as_array()
        .unwrap()
        .len(),
        0,
        "nothing was created"
    );
    // A name that resolves to loopback is refused when sent, not only when written.
    let sneaky = create(&app, &admin, json!({ "Url": "https://localhost:9/x" })).await;
    assert_eq!(sneaky.status, 200, "{}", sneaky.body);
    let id = sneaky.result()["Webhook"]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(
        &format!("/v1/Webhooks/{id}/Test"),
        &json!({}),
        &[bearer(&admin)],
    )
    .await;
    let mut error = Value::Null;
    for _ in 0..100 {
        let log = delivery_log(&app, &admin, &id).await;
        error = log.result()[0]["LastError"].clone();
        if !error.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        error.as_str().unwrap_or_default().contains("loopback"),
        "{error}"
    );

    // Who may manage webhooks: an admin or a key with webhooks:write; never a user.
    let user = app.register(json!({})).await;
    let reader = api_key(&app, "reader", &["users:read"]).await;
    for token in [token_of(&user), reader] {
        let answer = create(&app, &token, json!({ "Url": "https://example.com/x" })).await;
        assert_eq!(answer.status, 403, "{}", answer.body);
        let list = app
            .send(
                reqwest::Method::GET,
                "/v1/Webhooks",
                None,
                &[bearer(&token)],
            )
            .await;
        assert_eq!(list.status, 403);
    }
    let writer = api_key(&app, "crm", &["webhooks:write"]).await;
    let by_key = create(&app, &writer, json!({ "Url": "https://example.com/x" })).await;
    assert_eq!(by_key.status, 200, "{}", by_key.body);
    assert_eq!(by_key.result()["Webhook"]["CreatedBy"], "apikey:crm");
}

#[tokio::test]
async fn a_webhook_failing_too_long_is_disabled_audited_and_sent_nothing_more() {
    let app = spawn_app_with(|c| {
        c.outbox_retry_base = 1;
        c.webhook_disable_after = 1;
    })
    .await;
    let admin = app.admin_token().await;
    let (receiver, url) = Receiver::start().await;
    receiver.answers.lock().unwrap().extend([500; 50]);
    let created = create(&app, &admin, json!({ "Url": url, "AllowPrivate": true })).await;
    let id = created.result()["Webhook"]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(
        &format!("/v1/Webhooks/{id}/Test"),
        &json!({}),
        &[bearer(&admin)],
    )
    .await;
    let mut hook = Value::Null;
    for _ in 0..150 {
        hook = app
            .send(
                reqwest::Method::GET,
                &format!("/v1/Webhooks/{id}"),
                None,
                &[bearer(&admin)],
            )
            .await
            .result()
            .clone();
        if hook["Enabled"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(hook["Enabled"], false, "{hook}");
    assert!(
        hook["DisabledReason"]
            .as_str()
            .unwrap()
            .starts_with("disabled automatically"),
        "{hook}"
    );
    let audit = app
        .core
        .store()
        .audit_entries("webhook.disabled")
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].target, format!("webhook:{id}"));
    // Disabled: new events are not sent to it.
    let tries = receiver.received().len();
    app.register(json!({})).await;
    // Past the next retry of the test event too: it is not sent again either.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        receiver.received().len(),
        tries,
        "nothing more after the disable"
    );
    let log = delivery_log(&app, &admin, &id).await;
    assert_eq!(log.result().as_array().unwrap().len(), 1, "{}", log.body);
    assert_eq!(log.result()[0]["State"], "failed", "{}", log.body);
}

#[tokio::test]
async fn bulk_actions_send_one_event_per_changed_user() {
    use tus_wire::views::{BulkAction, BulkTarget, Flag};
    let app = spawn_app().await;
    let admin_token = app.admin_token().await;
    let (receiver, url) = Receiver::start().await;
    create(&app, &admin_token, json!({ "Url": url, "AllowPrivate": true, "EventTypes": ["user.flags_changed", "user.deactivated", "user.moved", "user.deleted"] })).await;
    let users: Vec<String> = futures::future::join_all((0..3).map(|_| app.register(json!({}))))
        .await
        .iter()
        .map(|u| u["DeviceToken"].as_str().unwrap().to_string())
        .collect();
    let admin = tus_core::principal::Principal::unscoped_admin(
        "t",
        "bulk@localhost",
        tus_wire::views::Role::Owner,
    );
    let other = app
        .core
        .create_instance(chrono::Utc::now(), None, "Elsewhere", "")
        .await
        .unwrap();
    let now = tus_core::Core::now;
    let meta = Default::default();
    let all = BulkTarget::Selected(users.clone());
    let two = BulkTarget::Selected(users[..2].to_vec());
    // Logging on for all three (changes three); again (changes none: no event).
    for _ in 0..2 {
        let flag = BulkAction::SetFlag {
            minutes: None,
            flag: Flag::Logging,
            value: true,
        };
        app.core
            .bulk_apply(now(), &admin, &all, &flag, &meta)
            .await
            .unwrap();
    }
    app.core
        .bulk_apply(now(), &admin, &two, &BulkAction::SetActive(false), &meta)
        .await
        .unwrap();
    let to = BulkAction::Move(other.id.to_string());
    app.core
        .bulk_apply(now(), &admin, &two, &to, &meta)
        .await
        .unwrap();
    app.core
        .bulk_apply(now(), &admin, &all, &BulkAction::Delete, &meta)
        .await
        .unwrap();
    let got = receiver
        .wait_for("3 + 2 + 2 + 3 events", |g| g.len() >= 10)
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got_now = receiver.received();
    assert_eq!(
        got_now.len(),
        10,
        "one event per changed user, none for no change"
    );
    as_documented(&app, &got).await;
    for dt in &users {
        assert_eq!(events_of(&got, "user.flags_changed", dt).len(), 1);
        assert_eq!(events_of(&got, "user.deleted", dt).len(), 1);
    }
    let flags = events_of(&got, "user.flags_changed", &users[0])[0].event();
    assert_eq!(
        flags["data"]["Changes"],
        json!({ "EnableLogging": { "Before": false, "After": true } })
    );
    assert_eq!(flags["data"]["Actor"], "admin:bulk@localhost");
    let off = events_of(&got, "user.deactivated", &users[1])[0].event();
    assert_eq!(
        off["data"]["Changes"]["Status"],
        json!({ "Before": "Active", "After": "Deactivated" })
    );
    let moved = events_of(&got, "user.moved", &users[0])[0].event();
    assert_eq!(moved["data"]["InstanceId"], other.id.to_string());
    assert_eq!(moved["data"]["FromInstanceId"], app.instance_id.as_str());
    // Each user's events in the order of the actions.
    let kinds: Vec<String> = got
        .iter()
        .filter(|r| r.event()["data"]["DeviceToken"] == users[0].as_str())
        .map(|r| r.event()["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        vec![
            "user.flags_changed",
            "user.deactivated",
            "user.moved",
            "user.deleted"
        ]
    );
}

#[tokio::test]
async fn sessions_ended_by_a_new_password_are_an_event_too() {
    let port = free_port();
    let app = spawn_app_with(|c| c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"))).await;
    let admin = app.admin_token().await;
    let (receiver, url) = Receiver::start().await;
    create(
        &app,
        &admin,
        json!({ "Url": url, "AllowPrivate": true, "EventTypes": ["user.sessions_revoked"] }),
    )
    .await;
    let user = app.register(json!({ "Email": "pw@example.com" })).await;
    let dt = user["DeviceToken"].as_str().unwrap().to_string();
    let sent = app
        .post(
            "/v1/Management/users/password",
            &json!({ "Deliver": "Email" }),
            &[bearer(&admin), ("UserDeviceToken", dt.clone())],
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let got = receiver
        .wait_for("the revocation", |g| {
            events_of(g, "user.sessions_revoked", &dt).len() == 1
        })
        .await;
    let event = events_of(&got, "user.sessions_revoked", &dt)[0].event();
    assert_eq!(
        event["data"]["Detail"],
        "1 sessions ended: new password sent"
    );
    assert!(!event.to_string().contains("pw@example.com"));
    as_documented(&app, &got).await;
}

#[tokio::test]
async fn a_webhook_scoped_to_an_application_hears_its_events_and_the_others_still_flow() {
    // Found by the contract run (.ci/contract): reading each instance's application asked
    // for a column that does not exist, so one application-scoped webhook stopped every
    // event of every webhook.
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (scoped, scoped_url) = Receiver::start().await;
    let (everything, everything_url) = Receiver::start().await;
    let application = app.application_id(&admin).await;
    for (url, extra) in [
        (&scoped_url, json!({ "Applications": [application] })),
        (&everything_url, json!({})),
    ] {
        let mut body = json!({ "Url": url, "AllowPrivate": true, "EventTypes": ["user.created"] });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let created = create(&app, &admin, body).await;
        assert_eq!(created.status, 200, "{}", created.body);
    }
    app.register(json!({})).await;
    scoped
        .wait_for("the application's event", |g| g.len() == 1)
        .await;
    everything.wait_for("the event", |g| g.len() == 1).await;
}

#[tokio::test]
async fn a_replay_sends_the_subscribed_events_of_a_range_again() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (receiver, url) = Receiver::start().await;
    let created = create(
        &app,
        &admin,
        json!({ "Url": url, "AllowPrivate": true, "EventTypes": ["user.created"] }),
    )
    .await;
    let id = created.result()["Webhook"]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let from = chrono::Utc::now() - chrono::Duration::seconds(1);
    for _ in 0..3 {
        app.register(json!({})).await;
    }
    let first = receiver.wait_for("three events", |g| g.len() >= 3).await;
    let to = chrono::Utc::now() + chrono::Duration::seconds(1);
    let replay = |body: Value| {
        let app = &app;
        let admin = admin.clone();
        let id = id.clone();
        async move {
            app.post(
                &format!("/v1/Webhooks/{id}/Replay"),
                &body,
                &[bearer(&admin)],
            )
            .await
        }
    };
    // A range that ends before it starts holds no event: nothing is replayed (the API
    // document cannot say "To after From", so it is no error). Missing bounds are named.
    let reversed = replay(json!({ "From": to.to_rfc3339(), "To": from.to_rfc3339() })).await;
    assert_eq!(reversed.result(), &json!(0));
    let missing = replay(json!({})).await;
    assert_eq!(missing.error_keys(), vec!["From", "To"]);
    let answer = replay(json!({ "From": from.to_rfc3339(), "To": to.to_rfc3339() })).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.result(),
        3,
        "only the subscribed events of the range"
    );
    let got = receiver.wait_for("the replay", |g| g.len() >= 6).await;
    let mut again: Vec<&str> = got[3..].iter().map(|r| r.id.as_str()).collect();
    let mut before: Vec<&str> = first.iter().map(|r| r.id.as_str()).collect();
    again.sort();
    before.sort();
    assert_eq!(again, before, "the same events, with their ids");
}

#[tokio::test]
async fn a_key_limited_to_instances_hooks_only_its_instances_and_sees_no_other_webhook() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let other = app
        .core
        .create_instance(chrono::Utc::now(), None, "Other fleet", "")
        .await
        .unwrap();
    let everything = create(
        &app,
        &admin,
        json!({ "Url": "https://crm.example.com/all" }),
    )
    .await;
    let global = everything.result()["Webhook"]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let key = limited_api_key(
        &app,
        "fleet-a",
        &["webhooks:write"],
        Some(std::slice::from_ref(&app.instance_id)),
    )
    .await;
    // Absent instances: its own, not every one.
    let own = create(
        &app,
        &key,
        json!({ "Url": "https://fleet-a.example.com/in" }),
    )
    .await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(
        own.result()["Webhook"]["Instances"],
        json!([app.instance_id])
    );
    for body in [
        json!({ "Url": "https://x.example.com/", "Instances": [other.id.to_string()] }),
        json!({ "Url": "https://x.example.com/", "Applications": [other.application_id.to_string()] }),
        json!({ "Url": "https://x.example.com/", "Instances": [] }),
        json!({ "Url": format!("https://x.example.com/{}", "a".repeat(3000)) }),
    ] {
        let refused = create(&app, &key, body.clone()).await;
        assert_eq!(refused.status, 422, "{body}: {}", refused.body);
    }
    // The webhook for every instance does not exist for this key.
    let listed = app
        .send(reqwest::Method::GET, "/v1/Webhooks", None, &[bearer(&key)])
        .await;
    let ids: Vec<&str> = listed
        .result()
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["Id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![own.result()["Webhook"]["Id"].as_str().unwrap()]);
    for (method, path) in [
        (reqwest::Method::GET, format!("/v1/Webhooks/{global}")),
        (reqwest::Method::DELETE, format!("/v1/Webhooks/{global}")),
        (reqwest::Method::POST, format!("/v1/Webhooks/{global}/Test")),
        (
            reqwest::Method::GET,
            format!("/v1/Webhooks/{global}/Deliveries"),
        ),
    ] {
        let answer = app.send(method, &path, None, &[bearer(&key)]).await;
        assert_eq!(answer.status, 404, "{path}: {}", answer.body);
    }
    let patched = app
        .send(
            reqwest::Method::PATCH,
            &format!("/v1/Webhooks/{global}"),
            Some(&json!({ "Url": "https://attacker.example.com/" })),
            &[bearer(&key)],
        )
        .await;
    assert_eq!(patched.status, 404);
    let still = app
        .send(
            reqwest::Method::GET,
            &format!("/v1/Webhooks/{global}"),
            None,
            &[bearer(&admin)],
        )
        .await;
    assert_eq!(still.result()["Url"], "https://crm.example.com/all");
}

/// A shutdown while a delivery is in flight waits for the receiver's answer and settles the
/// delivery: it is `sent`, not left leased to be sent again by the next replica.
#[tokio::test]
async fn a_shutdown_waits_for_the_deliveries_in_flight_and_settles_them() {
    let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel::<()>();
    let slow = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let arrived = arrived_tx.clone();
            async move {
                let _ = arrived.send(());
                tokio::time::sleep(Duration::from_secs(2)).await;
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, slow).await });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (app, running) = spawn_app_until(|c| c.outbox_poll = 1, async move {
        let _ = stopped.await;
    })
    .await;
    let admin = app.admin_token().await;
    create(&app, &admin, json!({ "Url": url, "AllowPrivate": true }))
        .await
        .result();
    app.register(json!({})).await;
    tokio::time::timeout(Duration::from_secs(30), arrived.recv())
        .await
        .expect("a delivery reached the receiver");
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    // Queued ones (claimed by nobody yet) may stay for the next replica; none stays leased.
    let unsettled = app
        .sql_text(
            "SELECT CAST(COUNT(*) AS TEXT) FROM outbox WHERE kind = 'webhook' AND state = 'sending'",
        )
        .await;
    let sent = app
        .sql_text(
            "SELECT CAST(COUNT(*) AS TEXT) FROM outbox WHERE kind = 'webhook' AND state = 'sent'",
        )
        .await;
    assert_eq!(
        (unsettled.as_str(), sent != "0"),
        ("0", true),
        "sent: {sent}"
    );
}
