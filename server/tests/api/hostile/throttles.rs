//! Password guessing and what the throttles let through or give away. Findings 5, 7, 8, 11
//! and 12 (the race of finding 3 runs in its own process: `hostile_load.rs`).

use serde_json::{json, Value};

use crate::helpers::*;

const PASSWORD: &str = "correct horse battery";

fn admin_login(password: &str) -> Value {
    json!({"LoginFields": {"Email": "admin@localhost"}, "Password": password})
}

/// `TUS_TRUST_FORWARDED_FOR` is on in these tests: the last entry names the client.
fn from(address: &str) -> [(&'static str, String); 1] {
    [("X-Forwarded-For", address.to_string())]
}

async fn admin_login_from(app: &TestApp, password: &str, address: &str) -> Answer {
    app.post("/v1/Auth/Login", &admin_login(password), &from(address))
        .await
}

#[tokio::test]
async fn failed_logins_from_one_address_do_not_keep_the_right_password_out_from_another() {
    let app = spawn_app_with(|c| c.trust_forwarded_for = true).await;
    for _ in 0..10 {
        let wrong = admin_login_from(&app, "wrong password", "198.51.100.7").await;
        assert_eq!(wrong.status, 401);
    }
    // The guessing address is out, even with the right password...
    let guesser = admin_login_from(&app, "test admin password", "198.51.100.7").await;
    assert_eq!(guesser.status, 429);
    // ...the admin elsewhere is not.
    let admin = admin_login_from(&app, "test admin password", "203.0.113.20").await;
    assert_eq!(admin.status, 200, "{}", admin.body);
}

#[tokio::test]
async fn a_name_guessed_from_many_addresses_locks_and_unlock_ends_it() {
    let app = spawn_app_with(|c| {
        c.trust_forwarded_for = true;
        c.login_max_failures_per_name = 3;
        c.login_lockout = 6;
    })
    .await;
    for address in ["198.51.100.1", "198.51.100.2"] {
        for _ in 0..3 {
            assert_eq!(
                admin_login_from(&app, "wrong password", address)
                    .await
                    .status,
                401
            );
        }
    }
    // Six failures from two addresses: the name is locked, for everybody.
    assert_eq!(
        admin_login_from(&app, "wrong password", "198.51.100.3")
            .await
            .status,
        429
    );
    let locked = admin_login_from(&app, "test admin password", "203.0.113.20").await;
    assert_eq!(locked.status, 429);
    let retry: i64 = locked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (850..=900).contains(&retry),
        "locked for the 15-minute window: {retry}"
    );

    let unlock = std::process::Command::new(env!("CARGO_BIN_EXE_tus"))
        .args(["admin", "unlock", "Admin@Localhost"])
        .env("TUS_DATABASE_URL", &app.db.url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        unlock.status.success(),
        "{}",
        String::from_utf8_lossy(&unlock.stderr)
    );
    let after = admin_login_from(&app, "test admin password", "203.0.113.20").await;
    assert_eq!(after.status, 200, "{}", after.body);
    let unlocked = app
        .core
        .store()
        .audit_entries("login.unlocked")
        .await
        .unwrap();
    assert_eq!(unlocked.len(), 1);
    assert_eq!(unlocked[0].target, "email:admin@localhost");
}

#[tokio::test]
async fn a_flood_of_throttled_logins_writes_a_handful_of_audit_rows() {
    let app = spawn_app_with(|c| c.login_max_failures_per_name = 2).await;
    let mut refused = 0;
    for _ in 0..300 {
        if app
            .post("/v1/Auth/Login", &admin_login("wrong password"), &[])
            .await
            .status
            == 429
        {
            refused += 1;
        }
    }
    assert_eq!(refused, 298);
    let store = app.core.store();
    let rows = store.audit_entries("login.rate_limited").await.unwrap();
    // The 1st, 10th and 100th refusal of the window: the count is in the last one.
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(
        rows.iter()
            .any(|r| r.detail.contains("100 attempts refused")),
        "{rows:?}"
    );
    assert_eq!(store.audit_entries("login.failed").await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_phone_number_written_differently_counts_as_the_same_login() {
    let app = spawn_app_with(|c| c.login_max_failures_per_name = 3).await;
    app.register(json!({"Phone": "+15550100000", "Password": PASSWORD}))
        .await;
    let login = |phone: &str, password: &str| json!({"LoginFields": {"Phone": phone}, "Password": password});
    let headers = [("InstanceId", app.instance_id.clone())];
    for phone in ["+1 (555) 010-0000", "+1 555 010 0000", "+1-555-010.0000"] {
        let wrong = app
            .post("/v1/Auth/Login", &login(phone, "wrong password"), &headers)
            .await;
        assert_eq!(wrong.status, 401, "{phone}");
    }
    let right = app
        .post("/v1/Auth/Login", &login("+15550100000", PASSWORD), &headers)
        .await;
    assert_eq!(
        right.status, 429,
        "three failures for one number, however written"
    );
}

#[tokio::test]
async fn a_deactivated_account_answers_the_same_whether_the_password_is_right() {
    let app = spawn_app().await;
    let user = app
        .register(json!({"Email": "ann@example.com", "Password": PASSWORD}))
        .await;
    let admin = app.admin_token().await;
    let target = (
        "UserDeviceToken",
        user["DeviceToken"].as_str().unwrap().to_string(),
    );
    app.send(
        reqwest::Method::PUT,
        "/v1/Management/users",
        Some(&json!({"Status": "Deactivated"})),
        &[bearer(&admin), target],
    )
    .await
    .result_absent();
    let headers = [("InstanceId", app.instance_id.clone())];
    let attempt =
        |password: &str| json!({"LoginFields": {"Email": "ann@example.com"}, "Password": password});
    let right = app
        .post("/v1/Auth/Login", &attempt(PASSWORD), &headers)
        .await;
    let wrong = app
        .post("/v1/Auth/Login", &attempt("not the password"), &headers)
        .await;
    assert_eq!(right.status, 403);
    assert_eq!(
        wrong.status, right.status,
        "{} vs {}",
        wrong.body, right.body
    );
    assert_eq!(wrong.body, right.body);
}

#[tokio::test]
async fn guessing_the_old_password_through_the_user_update_is_throttled() {
    let app = spawn_app().await;
    let user = app
        .register(json!({"Email": "bob@example.com", "Password": PASSWORD}))
        .await;
    let me = [bearer(&token_of(&user))];
    let guess = |old: &str| json!({"OldPassword": old, "NewPassword": "a brand new password"});
    for n in 0..10 {
        let wrong = app
            .send(
                reqwest::Method::PUT,
                "/v1/Management/users",
                Some(&guess(&format!("guess {n}"))),
                &me,
            )
            .await;
        assert_eq!(wrong.status, 422, "{}", wrong.body);
        assert_eq!(wrong.error_keys(), ["OldPassword"]);
    }
    let throttled = app
        .send(
            reqwest::Method::PUT,
            "/v1/Management/users",
            Some(&guess(PASSWORD)),
            &me,
        )
        .await;
    assert_eq!(throttled.status, 429, "{}", throttled.body);
    assert!(throttled.headers.contains_key("retry-after"));
    // The password did not change.
    let login = json!({"LoginFields": {"Email": "bob@example.com"}, "Password": PASSWORD});
    let headers = [("InstanceId", app.instance_id.clone())];
    assert_eq!(
        app.post("/v1/Auth/Login", &login, &headers).await.status,
        200
    );
}
