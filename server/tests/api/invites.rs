//! Invites and password resets against real parts: maildev for e-mail, a real HTTP SMS
//! gateway, the public invite page's form as a browser without JavaScript posts it.

use serde_json::{json, Value};

use crate::dashboard::{call, no_redirects};
use crate::delivery::{digits_in, login_with, password_in, Gateway, Maildev};
use crate::helpers::*;

/// The token of the invite link in an e-mail's text.
fn link_token(text: &str) -> String {
    text.split_once("/invite?t=")
        .map(|(_, rest)| rest.chars().take_while(|c| !c.is_whitespace()).collect())
        .unwrap_or_else(|| panic!("no invite link in {text:?}"))
}

/// The dashboard's public address in these tests (`TUS_PUBLIC_URL`): links point there, and
/// the dashboard's forms come from there.
const PUBLIC: &str = "https://fleet.example.com";

/// The invite page's form, posted as a browser without JavaScript does: answers the status
/// and the Location it redirects to.
async fn submit_invite(app: &TestApp, token: &str, password: &str, confirm: &str) -> (u16, String) {
    let res = no_redirects()
        .post(format!("{}/api/accept_invite", app.base))
        .header("Origin", PUBLIC)
        .header("Accept", "text/html")
        .header("Referer", format!("{}/invite?t={token}", app.base))
        .form(&[
            ("token", token),
            ("password", password),
            ("confirm", confirm),
        ])
        .send()
        .await
        .unwrap();
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (res.status().as_u16(), location)
}

async fn invite(app: &TestApp, admin: &str, body: Value) -> Answer {
    app.post("/v1/Management/users/invite", &body, &[bearer(admin)])
        .await
}

#[tokio::test]
async fn an_email_invite_link_opens_the_public_page_sets_a_password_once_and_logs_in() {
    let smtp = free_port();
    let mail = Maildev::start(smtp).await;
    let app = spawn_app_with(|c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{smtp}"));
        c.public_url = Some(PUBLIC.into());
    })
    .await;
    let admin = app.admin_token().await;
    let user = app
        .register(json!({ "Email": "invited@example.com" }))
        .await;
    let dt = user["DeviceToken"].as_str().unwrap();

    let sent = invite(
        &app,
        &admin,
        json!({ "UserDeviceToken": dt, "Deliver": "Email" }),
    )
    .await;
    assert_eq!(sent.result()["Recipients"], 1);
    let email = mail.wait_for("invited@example.com").await;
    let text = email["text"].as_str().unwrap();
    assert!(
        text.contains("https://fleet.example.com/invite?t="),
        "{text}"
    );
    let token = link_token(text);
    assert!(email["html"].as_str().unwrap().contains(&token));

    // The page opens without a session and says what the link is for.
    let page = no_redirects()
        .get(format!("{}/invite?t={token}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("i••@example.com"),
        "the page shows the masked address"
    );
    assert!(html.contains("name=\"password\""));

    // Two different passwords: back to the page with the error, nothing set.
    let (status, location) =
        submit_invite(&app, &token, "a new password 1", "another one 22").await;
    assert_eq!(status, 302);
    assert!(location.contains("/invite?t="), "{location}");
    assert!(
        location.contains("error"),
        "the error travels in the address: {location}"
    );

    let (status, location) =
        submit_invite(&app, &token, "a new password 1", "a new password 1").await;
    assert_eq!((status, location.as_str()), (302, "/invite?done=1"));
    let logged = login_with(
        &app,
        json!({ "Email": "invited@example.com" }),
        json!({ "Password": "a new password 1" }),
    )
    .await;
    assert!(logged.result()["AccessToken"]["Token"].is_string());

    // Used: the page and the form refuse it; the password stays.
    let (_, location) =
        submit_invite(&app, &token, "an attacker's pass", "an attacker's pass").await;
    assert!(location.contains("error"), "{location}");
    let html = reqwest::get(format!("{}/invite?t={token}", app.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("invite-invalid"),
        "a used link shows as invalid"
    );
    let attacker = login_with(
        &app,
        json!({ "Email": "invited@example.com" }),
        json!({ "Password": "an attacker's pass" }),
    )
    .await;
    assert_eq!(attacker.status, 401);
    let audit = app
        .core
        .store()
        .audit_entries("invite.accepted")
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    for entry in app
        .core
        .store()
        .audit_entries("users.invited")
        .await
        .unwrap()
    {
        assert!(!entry.detail.contains(&token));
    }
}

#[tokio::test]
async fn forged_links_find_nothing_and_are_counted_against_the_address() {
    let smtp = free_port();
    let _mail = Maildev::start(smtp).await;
    let app = spawn_app_with(|c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{smtp}"));
        c.public_url = Some(PUBLIC.into());
        c.login_max_failures_per_address = 3;
    })
    .await;
    let forged = "A".repeat(43);
    let status = call(
        &app,
        "invite_status",
        json!({ "token": forged }),
        &[("Origin", PUBLIC.to_string())],
    )
    .await;
    assert_eq!(status.status, 404);
    for probe in [
        forged.as_str(),
        "short",
        "../../etc/passwd",
        &"x".repeat(5000),
    ] {
        let answer = call(
            &app,
            "invite_status",
            json!({ "token": probe }),
            &[("Origin", PUBLIC.to_string())],
        )
        .await;
        assert_eq!(answer.status, 404, "{probe:.20}");
    }
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (status, location) =
            submit_invite(&app, &forged, "some password 1", "some password 1").await;
        assert_eq!(status, 302);
        statuses.push(location);
    }
    // The fourth try from this address is refused before the link is even looked up.
    assert!(statuses[2].ends_with("&error=invalid"), "{:?}", statuses[2]);
    assert!(statuses[3].ends_with("&error=limited"), "{:?}", statuses[3]);
}

#[tokio::test]
async fn a_bulk_invite_of_1000_users_queues_exactly_1000_messages_once_confirmed() {
    let (gateway, url) = Gateway::start(0).await;
    let app = spawn_app_with(|c| c.sms_url = Some(url)).await;
    let admin = app.admin_token().await;
    let credentials = tus_core::instances::InstanceCredentials {
        id: Some(app.instance_id.clone()),
        key: Some(tus_core::secret::InstanceKey::new(&app.instance_key)),
    };
    for n in 0..1000 {
        app.core
            .register(
                tus_core::Core::now(),
                &credentials,
                tus_wire::model::RegisterRequest {
                    last_name: Some("Bulkfleet".into()),
                    phone: Some(format!("+1555{n:07}")),
                    ..Default::default()
                },
                &Default::default(),
            )
            .await
            .unwrap();
    }
    // One more in the filter without a phone: counted as matched, not invited.
    app.register(json!({ "LastName": "Bulkfleet" })).await;
    let body = json!({ "Filter": { "Q": "Bulkfleet" }, "Deliver": "Sms" });
    let count = app
        .post(
            "/v1/Management/users/invite/count",
            &body,
            &[bearer(&admin)],
        )
        .await;
    assert_eq!(
        count.result(),
        &json!({ "Matched": 1001, "Recipients": 1000 })
    );

    let mut unconfirmed = body.clone();
    let missing = invite(&app, &admin, unconfirmed.clone()).await;
    assert_eq!(missing.status, 422);
    assert_eq!(missing.error_keys(), vec!["Count"]);
    unconfirmed["Count"] = json!(1001);
    let wrong = invite(&app, &admin, unconfirmed).await;
    assert_eq!(wrong.status, 409, "{}", wrong.body);
    let queued = |app: &TestApp| {
        let store = app.core.store().clone();
        async move { store.messages(&Default::default(), 2000).await.unwrap() }
    };
    assert!(queued(&app).await.is_empty(), "nothing is sent unconfirmed");

    let mut confirmed = body.clone();
    confirmed["Count"] = json!(1000);
    let done = invite(&app, &admin, confirmed).await;
    assert_eq!(
        done.result(),
        &json!({ "Matched": 1001, "Recipients": 1000 })
    );
    let messages = queued(&app).await;
    assert_eq!(messages.len(), 1000);
    let mut users: Vec<_> = messages
        .iter()
        .filter_map(|m| m.device_token.clone())
        .collect();
    users.sort();
    users.dedup();
    assert_eq!(users.len(), 1000, "one message per user");
    assert!(messages
        .iter()
        .all(|m| m.purpose == "invite" && m.kind == "sms"));
    // And they reach the gateway, each once.
    gateway.wait_for("+15550000999").await;
    for _ in 0..600 {
        if gateway.received.lock().unwrap().len() >= 1000 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mut ids: Vec<String> = gateway
        .received
        .lock()
        .unwrap()
        .iter()
        .map(|(b, _)| b["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 1000);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 1000);
    let audit = app
        .core
        .store()
        .audit_entries("users.invited")
        .await
        .unwrap();
    assert_eq!(audit.len(), 1, "one entry for the whole invite");
    assert!(
        audit[0].detail.contains("1000 invited"),
        "{}",
        audit[0].detail
    );
}

#[tokio::test]
async fn an_sms_invite_code_logs_in_and_a_reset_code_sets_a_new_password_once() {
    let (gateway, url) = Gateway::start(0).await;
    let app = spawn_app_with(|c| c.sms_url = Some(url)).await;
    let admin = app.admin_token().await;
    let user = app.register(json!({ "Phone": "+1 555 010 0042" })).await;
    let dt = user["DeviceToken"].as_str().unwrap();
    invite(
        &app,
        &admin,
        json!({ "UserDeviceToken": dt, "Deliver": "Sms" }),
    )
    .await
    .result();
    let (sms, _) = gateway.wait_for("+15550100042").await;
    assert!(sms["text"].as_str().unwrap().contains("invited"), "{sms}");
    let code = digits_in(sms["text"].as_str().unwrap(), 6);
    let phone = json!({ "Phone": "+15550100042" });
    login_with(&app, phone.clone(), json!({ "Code": code }))
        .await
        .result();

    // A reset: a code by /v1/Auth/Code, then /v1/Auth/Reset.
    gateway.received.lock().unwrap().clear();
    app.post(
        "/v1/Auth/Code",
        &json!({ "LoginFields": phone }),
        &[("InstanceId", app.instance_id.clone())],
    )
    .await
    .result_absent();
    let (sms, _) = gateway.wait_for("+15550100042").await;
    let code = digits_in(sms["text"].as_str().unwrap(), 6);
    let reset = |fields: Value, code: &str, password: &str| {
        let body = json!({ "LoginFields": fields, "Code": code, "NewPassword": password });
        let app = &app;
        async move {
            app.post(
                "/v1/Auth/Reset",
                &body,
                &[("InstanceId", app.instance_id.clone())],
            )
            .await
        }
    };
    // Malformed: every field named at once, nothing spent.
    let bad = app
        .post("/v1/Auth/Reset", &json!({ "Code": "12" }), &[])
        .await;
    assert_eq!(bad.status, 422);
    let mut keys = bad.error_keys();
    keys.sort();
    assert_eq!(
        keys,
        vec!["Code", "InstanceId", "LoginFields", "NewPassword"]
    );
    let short = reset(phone.clone(), &code, "short").await;
    assert_eq!(short.status, 422);
    assert_eq!(short.error_keys(), vec!["NewPassword"]);
    // Nobody, and a wrong code: the same answer.
    let nobody = reset(
        json!({ "Phone": "+15550100043" }),
        &code,
        "a new password 42",
    )
    .await;
    let wrong = reset(phone.clone(), "000000", "a new password 42").await;
    assert_eq!((nobody.status, wrong.status), (401, 401));
    assert_eq!(nobody.body, wrong.body);

    reset(phone.clone(), &code, "a new password 42")
        .await
        .result_absent();
    let again = reset(phone.clone(), &code, "the attacker's password").await;
    assert_eq!(again.status, 401, "a code works once");
    login_with(
        &app,
        phone.clone(),
        json!({ "Password": "a new password 42" }),
    )
    .await
    .result();
    // The session the invite code opened has ended.
    assert_eq!(app.refresh(&user).await.status, 401);
}

#[tokio::test]
async fn invites_need_an_admin_one_target_a_configured_channel_and_a_public_url() {
    let smtp = free_port();
    let app = spawn_app_with(|c| c.smtp_url = Some(format!("smtp://127.0.0.1:{smtp}"))).await;
    let admin = app.admin_token().await;
    let user = app
        .register(json!({ "Email": "x@example.com", "Password": "user password 1" }))
        .await;
    let dt = user["DeviceToken"].as_str().unwrap();
    let one = json!({ "UserDeviceToken": dt, "Deliver": "Email" });

    let anonymous = app.post("/v1/Management/users/invite", &one, &[]).await;
    assert_eq!(anonymous.status, 401);
    let as_user = invite(&app, &token_of(&user), one.clone()).await;
    assert_eq!(as_user.status, 403);
    let dashboard_as_user = call(
        &app,
        "invite_users",
        json!({ "target": { "Selected": [dt] }, "deliver": "Email", "count": null }),
        &[bearer(&token_of(&user))],
    )
    .await;
    assert_eq!(dashboard_as_user.status, 403);

    let no_url = invite(&app, &admin, one.clone()).await;
    assert_eq!(no_url.status, 422);
    assert!(
        no_url.body.to_string().contains("TUS_PUBLIC_URL"),
        "{}",
        no_url.body
    );
    let sms = invite(
        &app,
        &admin,
        json!({ "UserDeviceToken": dt, "Deliver": "Sms" }),
    )
    .await;
    assert_eq!(sms.status, 422);
    assert!(sms.body.to_string().contains("TUS_SMS_URL"));
    let two = invite(
        &app,
        &admin,
        json!({ "UserDeviceToken": dt, "BatchId": dt, "Deliver": "Email" }),
    )
    .await;
    assert_eq!(two.status, 422);
    let none = invite(&app, &admin, json!({ "Deliver": "Email" })).await;
    assert_eq!(none.status, 422);
    let unknown = invite(
        &app,
        &admin,
        json!({ "UserDeviceToken": uuid::Uuid::new_v4().to_string(), "Deliver": "Email" }),
    )
    .await;
    assert!(
        unknown.status == 404 || unknown.status == 422,
        "{}",
        unknown.body
    );
    assert!(app
        .core
        .store()
        .messages(&Default::default(), 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_registration_can_ask_for_a_generated_password_sent_in_the_same_step() {
    let smtp = free_port();
    let mail = Maildev::start(smtp).await;
    let app = spawn_app_with(|c| c.smtp_url = Some(format!("smtp://127.0.0.1:{smtp}"))).await;
    let registered = app
        .post_instance(
            "/v1/Registration/Create",
            &json!({ "Email": "fresh@example.com", "Deliver": "Email" }),
        )
        .await;
    let dt = registered.result()["DeviceToken"]
        .as_str()
        .unwrap()
        .to_string();
    let email = mail.wait_for("fresh@example.com").await;
    let text = email["text"].as_str().unwrap();
    let password = password_in(text);
    assert!(!registered.body.to_string().contains(&password));
    login_with(
        &app,
        json!({ "Email": "fresh@example.com" }),
        json!({ "Password": password }),
    )
    .await
    .result();
    let audit = app
        .core
        .store()
        .audit_entries("user.password_sent")
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].target, format!("user:{dt}"));
    assert!(
        audit[0].actor.starts_with("instance:"),
        "{}",
        audit[0].actor
    );

    // Every way to ask wrongly is a 422 naming the field, and registers nobody.
    for (body, key) in [
        (json!({ "Deliver": "Email" }), "Deliver"),
        (
            json!({ "Email": "a@example.com", "Deliver": "Sms" }),
            "Deliver",
        ),
        (
            json!({ "Email": "b@example.com", "Deliver": "Fax" }),
            "Deliver",
        ),
        (
            json!({ "Email": "c@example.com", "Deliver": "Email", "Password": "chosen password 1" }),
            "Deliver",
        ),
        (json!({ "Phone": "5550100", "Deliver": "Sms" }), "Phone"),
    ] {
        let refused = app.post_instance("/v1/Registration/Create", &body).await;
        assert_eq!(refused.status, 422, "{body}: {}", refused.body);
        assert!(
            refused.error_keys().contains(&key.to_string()),
            "{body}: {}",
            refused.body
        );
    }
    // SMS is not configured here: said before anything is written.
    let unconfigured = app
        .post_instance(
            "/v1/Registration/Create",
            &json!({ "Phone": "+15550100099", "Deliver": "Sms" }),
        )
        .await;
    assert_eq!(unconfigured.status, 422);
    assert!(unconfigured.body.to_string().contains("TUS_SMS_URL"));
    for refused in ["a@example.com", "b@example.com", "c@example.com"] {
        let found = app
            .core
            .store()
            .find_user_by_login(
                &app.instance_id,
                tus_core::store::LoginColumn::Email,
                refused,
            )
            .await
            .unwrap();
        assert!(found.is_none(), "{refused} was not registered");
    }
    assert_eq!(
        app.core
            .store()
            .messages(&Default::default(), 10)
            .await
            .unwrap()
            .len(),
        1,
        "only the first registration queued a message"
    );
}
