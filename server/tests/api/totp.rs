//! TOTP for admins over the real server: enrol, sign in with a code (REST and the
//! dashboard's sign-in), no replay, recovery codes once, the Owner's reset and policy, and
//! guessing throttled like passwords.

use serde_json::{json, Value};
use tus_core::secret::Password;
use tus_wire::views::Role;

use crate::dashboard::{call, origin};
use crate::helpers::*;

const PASSWORD: &str = "second factor password";

fn login_body(email: &str, totp: Option<&str>) -> Value {
    let mut body = json!({"LoginFields": {"Email": email}, "Password": PASSWORD});
    if let Some(code) = totp {
        body["TotpCode"] = json!(code);
    }
    body
}

/// The code an authenticator app shows now for this base32 secret.
fn code_now(secret: &str, offset_steps: i64) -> String {
    let bytes = data_encoding::BASE32_NOPAD
        .decode(secret.as_bytes())
        .unwrap();
    let step = tus_core::totp::step_of(chrono::Utc::now()) + offset_steps;
    tus_core::totp::code_at(&bytes, step)
}

/// A new admin with `role`, enrolled in TOTP: (their token, secret, recovery codes).
async fn enrolled(app: &TestApp, email: &str, role: Role) -> (String, String, Vec<String>) {
    app.core
        .create_admin(chrono::Utc::now(), email, &Password::new(PASSWORD), role)
        .await
        .unwrap();
    let token = token_of(
        &app.post("/v1/Auth/Login", &login_body(email, None), &[])
            .await
            .result()
            .clone(),
    );
    let setup = call(app, "begin_totp", json!({}), &[bearer(&token), origin(app)]).await;
    assert_eq!(setup.status, 200, "{}", setup.body);
    assert!(setup.body["qr"]
        .as_str()
        .unwrap()
        .starts_with("data:image/svg+xml;base64,"));
    assert!(setup.body["uri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/"));
    let secret = setup.body["secret"].as_str().unwrap().to_string();
    let wrong = call(
        app,
        "confirm_totp",
        json!({"code": "000000"}),
        &[bearer(&token), origin(app)],
    )
    .await;
    assert!(
        wrong.status == 422 || code_now(&secret, 0) == "000000",
        "{}",
        wrong.body
    );
    let confirmed = call(
        app,
        "confirm_totp",
        json!({"code": code_now(&secret, 0)}),
        &[bearer(&token), origin(app)],
    )
    .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    let codes: Vec<String> = serde_json::from_value(confirmed.body.clone()).unwrap();
    assert_eq!(codes.len(), 10);
    (token, secret, codes)
}

#[tokio::test]
async fn an_enrolled_admin_signs_in_with_a_fresh_code_once_or_a_recovery_code_once() {
    let app = spawn_app().await;
    let email = "two@team.example";
    let (_, secret, codes) = enrolled(&app, email, Role::Admin).await;

    // Password alone: a clear 401 naming the field.
    let bare = app
        .post("/v1/Auth/Login", &login_body(email, None), &[])
        .await;
    assert_eq!(bare.status, 401);
    assert_eq!(bare.error_keys(), vec!["TotpCode"]);
    // A wrong password with a right code says nothing about the code.
    let mut wrong_password = login_body(email, Some(&code_now(&secret, 1)));
    wrong_password["Password"] = json!("not the password");
    let answer = app.post("/v1/Auth/Login", &wrong_password, &[]).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.error_keys(), vec![""]);

    // The next step's code (the app's clock a little ahead) works once; replayed, it fails.
    let code = code_now(&secret, 1);
    let ok = app
        .post("/v1/Auth/Login", &login_body(email, Some(&code)), &[])
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let replay = app
        .post("/v1/Auth/Login", &login_body(email, Some(&code)), &[])
        .await;
    assert_eq!(replay.status, 401, "a code is accepted once");
    // An older step's code is refused once a later one was used.
    let older = app
        .post(
            "/v1/Auth/Login",
            &login_body(email, Some(&code_now(&secret, 0))),
            &[],
        )
        .await;
    assert_eq!(older.status, 401);

    // A recovery code, typed loosely, works once.
    let typed = codes[3].to_uppercase().replace('-', " ");
    assert_eq!(
        app.post("/v1/Auth/Login", &login_body(email, Some(&typed)), &[])
            .await
            .status,
        200
    );
    assert_eq!(
        app.post("/v1/Auth/Login", &login_body(email, Some(&codes[3])), &[])
            .await
            .status,
        401
    );
    let used = app
        .core
        .store()
        .audit_entries("admin.recovery_code_used")
        .await
        .unwrap();
    assert_eq!(used.len(), 1);

    // The dashboard's sign-in asks for the code after the password.
    let sign_in = |code: Option<String>| {
        let mut form = vec![
            ("email", email.to_string()),
            ("password", PASSWORD.to_string()),
        ];
        if let Some(c) = code {
            form.push(("code", c));
        }
        let app = &app;
        async move {
            crate::dashboard::no_redirects()
                .post(format!("{}/api/sign_in", app.base))
                .header("Origin", app.base.clone())
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };
    let first = sign_in(None).await;
    assert_eq!(first.status(), 401);
    assert_eq!(
        first.json::<Value>().await.unwrap(),
        json!({"TotpNeeded": false})
    );
    let bad = sign_in(Some("123".into())).await;
    assert_eq!(
        bad.json::<Value>().await.unwrap(),
        json!({"TotpNeeded": true})
    );
    let good = sign_in(Some(codes[0].clone())).await;
    assert!(
        good.status().is_redirection() || good.status() == 200,
        "{}",
        good.status()
    );
    assert!(good.headers().get_all("set-cookie").iter().count() >= 2);
}

#[tokio::test]
async fn guessing_codes_is_throttled_like_passwords() {
    let app = spawn_app().await;
    let email = "guessed@team.example";
    enrolled(&app, email, Role::Viewer).await;
    let mut statuses = Vec::new();
    for n in 0..30 {
        let guess = format!("{:06}", 111_111 * (n % 9));
        let status = app
            .post("/v1/Auth/Login", &login_body(email, Some(&guess)), &[])
            .await
            .status;
        statuses.push(status);
        if status == 429 {
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn an_owner_resets_totp_and_a_required_role_can_only_enrol_until_it_has() {
    let app = spawn_app().await;
    let owner = app.admin_token().await;
    let email = "lost-phone@team.example";
    let (_, _, _) = enrolled(&app, email, Role::Operator).await;
    let list = call(&app, "admins", json!({}), &[bearer(&owner), origin(&app)]).await;
    let row = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["email"] == email)
        .unwrap()
        .clone();
    assert_eq!(row["totp"], true);
    let id = row["id"].as_str().unwrap();
    // Only an Owner resets.
    let (viewer, _, _) = enrolled(&app, "viewer@team.example", Role::Viewer).await;
    let refused = call(
        &app,
        "reset_totp",
        json!({"id": id}),
        &[bearer(&viewer), origin(&app)],
    )
    .await;
    assert_eq!(refused.status, 403);
    let reset = call(
        &app,
        "reset_totp",
        json!({"id": id}),
        &[bearer(&owner), origin(&app)],
    )
    .await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    assert_eq!(
        app.core
            .store()
            .audit_entries("admin.totp_reset")
            .await
            .unwrap()
            .len(),
        1
    );
    let token = token_of(
        &app.post("/v1/Auth/Login", &login_body(email, None), &[])
            .await
            .result()
            .clone(),
    );

    // Now TOTP is required of Operators: this one may only set it up.
    let policy = call(
        &app,
        "set_totp_policy",
        json!({"roles": ["Operator"]}),
        &[bearer(&owner), origin(&app)],
    )
    .await;
    assert_eq!(policy.status, 200, "{}", policy.body);
    let me = call(
        &app,
        "current_admin",
        json!({}),
        &[bearer(&token), origin(&app)],
    )
    .await;
    assert_eq!(me.body["totp_required"], true);
    let list_users = call(
        &app,
        "list_users",
        json!({"query": {}}),
        &[bearer(&token), origin(&app)],
    )
    .await;
    assert_eq!(list_users.status, 403, "{}", list_users.body);
    let setup = call(
        &app,
        "begin_totp",
        json!({}),
        &[bearer(&token), origin(&app)],
    )
    .await;
    let secret = setup.body["secret"].as_str().unwrap().to_string();
    let on = call(
        &app,
        "confirm_totp",
        json!({"code": code_now(&secret, 0)}),
        &[bearer(&token), origin(&app)],
    )
    .await;
    assert_eq!(on.status, 200, "{}", on.body);
    let list_users = call(
        &app,
        "list_users",
        json!({"query": {}}),
        &[bearer(&token), origin(&app)],
    )
    .await;
    assert_eq!(list_users.status, 200, "{}", list_users.body);
    // The policy itself is the Owner's.
    let not_owner = call(
        &app,
        "set_totp_policy",
        json!({"roles": []}),
        &[bearer(&token), origin(&app)],
    )
    .await;
    assert_eq!(not_owner.status, 403);
    let bad = call(
        &app,
        "set_totp_policy",
        json!({"roles": ["Wizard"]}),
        &[bearer(&owner), origin(&app)],
    )
    .await;
    assert_eq!(bad.status, 422);
}
