use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn device_login_works_with_both_login_fields_shapes_and_any_key_case() {
    let app = spawn_app().await;
    let user = app.register(json!({})).await;
    let device = user["DeviceToken"].as_str().unwrap().to_string();
    let header = [("InstanceId", app.instance_id.clone())];
    let shapes = [
        json!({"LoginFields": {"DeviceToken": device}, "Password": app.instance_key}),
        json!({"loginFields": {"deviceToken": device}, "password": app.instance_key}),
        json!({"LoginFields": format!("{{\"Devicetoken\":\"{device}\"}}"), "Password": app.instance_key}),
        json!({"LoginFields": format!("{{\"DEVICETOKEN\":\"{device}\"}}"), "Password": app.instance_key}),
    ];
    for body in shapes {
        let a = app.post("/v1/Auth/Login", &body, &header).await;
        let r = a.result();
        assert_eq!(r["DeviceToken"], device.as_str(), "{body}");
        assert_eq!(
            app.claims(r["AccessToken"]["Token"].as_str().unwrap())["sub"],
            device.as_str()
        );
        assert_eq!(r["RefreshToken"].as_str().unwrap().len(), 44);
    }
}

#[tokio::test]
async fn device_login_with_a_wrong_key_or_unknown_token_is_401_with_one_message() {
    let app = spawn_app().await;
    let user = app.register(json!({})).await;
    let header = [("InstanceId", app.instance_id.clone())];
    let wrong_key = json!({"LoginFields": {"DeviceToken": user["DeviceToken"]}, "Password": uuid::Uuid::new_v4().to_string()});
    let unknown = json!({"LoginFields": {"DeviceToken": uuid::Uuid::new_v4().to_string()}, "Password": app.instance_key});
    for body in [wrong_key, unknown] {
        let a = app.post("/v1/Auth/Login", &body, &header).await;
        assert_eq!(a.status, 401);
        assert_eq!(a.envelope()["Errors"][0]["Message"], "invalid credentials");
    }
}

#[tokio::test]
async fn device_login_without_the_instance_header_is_401() {
    let app = spawn_app().await;
    let user = app.register(json!({})).await;
    let body =
        json!({"LoginFields": {"DeviceToken": user["DeviceToken"]}, "Password": app.instance_key});
    assert_eq!(app.post("/v1/Auth/Login", &body, &[]).await.status, 401);
}

#[tokio::test]
async fn login_with_bad_login_fields_is_422() {
    let app = spawn_app().await;
    for fields in [
        json!({}),
        json!("not json"),
        json!(7),
        json!({"Email": "a@b.c", "Phone": "+123456"}),
    ] {
        let a = app
            .post(
                "/v1/Auth/Login",
                &json!({"LoginFields": fields, "Password": "x"}),
                &[],
            )
            .await;
        assert_eq!(a.status, 422, "{fields}");
        assert_eq!(a.error_keys(), ["LoginFields"]);
    }
    let a = app.post("/v1/Auth/Login", &json!({}), &[]).await;
    assert_eq!(a.error_keys(), ["LoginFields", "Password"]);
    let long = "x".repeat(257);
    let a = app
        .post(
            "/v1/Auth/Login",
            &json!({"LoginFields": {"Email": long}, "Password": long}),
            &[],
        )
        .await;
    assert_eq!(a.status, 422);
    assert_eq!(a.error_keys(), ["LoginFields", "Password"]);
}

#[tokio::test]
async fn a_user_logs_in_with_email_and_password() {
    let app = spawn_app().await;
    let user = app
        .register(json!({"Email": "driver@example.com", "Password": "driver password"}))
        .await;
    let header = [("InstanceId", app.instance_id.clone())];
    let ok = app
        .post(
            "/v1/Auth/Login",
            &json!({"LoginFields": {"Email": "Driver@Example.com"}, "Password": "driver password"}),
            &header,
        )
        .await;
    assert_eq!(ok.result()["DeviceToken"], user["DeviceToken"]);
    let wrong = app
        .post(
            "/v1/Auth/Login",
            &json!({"LoginFields": {"email": "driver@example.com"}, "Password": "nope nope"}),
            &header,
        )
        .await;
    assert_eq!(wrong.status, 401);
}

#[tokio::test]
async fn an_admin_logs_in_with_email_and_password_and_gets_an_admin_token() {
    let app = spawn_app().await;
    let body = json!({"LoginFields": "{\"email\":\"admin@localhost\"}", "Password": "test admin password"});
    let a = app.post("/v1/Auth/Login", &body, &[]).await;
    let r = a.result().clone();
    assert!(r["DeviceToken"].is_null());
    let claims = app.claims(r["AccessToken"]["Token"].as_str().unwrap());
    assert_eq!(claims["role"], "Admin");
    assert_eq!(claims["AdminEmail"], "admin@localhost");
    assert_eq!(claims["IsAdmin"], "True");
    // Admin sessions rotate like user sessions.
    assert_eq!(app.refresh(&r).await.status, 200);
    let wrong = app
        .post(
            "/v1/Auth/Login",
            &json!({"LoginFields": {"Email": "admin@localhost"}, "Password": "wrong password"}),
            &[],
        )
        .await;
    assert_eq!(wrong.status, 401);
}

fn admin_login(password: &str) -> serde_json::Value {
    json!({"LoginFields": {"Email": "admin@localhost"}, "Password": password})
}

#[tokio::test]
async fn the_login_rate_limit_is_reached_and_resets_after_its_window() {
    let app = spawn_app_with(|c| {
        c.login_max_failures_per_name = 3;
        c.login_window = 2;
    })
    .await;
    for _ in 0..3 {
        assert_eq!(
            app.post("/v1/Auth/Login", &admin_login("wrong password"), &[])
                .await
                .status,
            401
        );
    }
    // Blocked now, even with the right password.
    let blocked = app
        .post("/v1/Auth/Login", &admin_login("test admin password"), &[])
        .await;
    assert_eq!(blocked.status, 429);
    blocked.envelope();
    let retry: i64 = blocked
        .headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    assert_eq!(
        app.core
            .store()
            .audit_entries("login.rate_limited")
            .await
            .unwrap()
            .len(),
        1
    );
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(
        app.post("/v1/Auth/Login", &admin_login("test admin password"), &[])
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_successful_login_forgets_the_names_earlier_failures() {
    let app = spawn_app_with(|c| c.login_max_failures_per_name = 3).await;
    for round in 0..3 {
        for _ in 0..2 {
            assert_eq!(
                app.post("/v1/Auth/Login", &admin_login("wrong password"), &[])
                    .await
                    .status,
                401,
                "round {round}"
            );
        }
        assert_eq!(
            app.post("/v1/Auth/Login", &admin_login("test admin password"), &[])
                .await
                .status,
            200
        );
    }
}

#[tokio::test]
async fn the_per_address_limit_spans_login_names() {
    let app = spawn_app_with(|c| c.login_max_failures_per_address = 4).await;
    for i in 0..4 {
        let body = json!({"LoginFields": {"Email": format!("nobody{i}@example.com")}, "Password": "whatever pw"});
        assert_eq!(app.post("/v1/Auth/Login", &body, &[]).await.status, 401);
    }
    assert_eq!(
        app.post("/v1/Auth/Login", &admin_login("test admin password"), &[])
            .await
            .status,
        429
    );
}

async fn login_from(app: &TestApp, addr: &str) -> u16 {
    let headers = [("X-Forwarded-For", format!("203.0.113.9, {addr}"))];
    let email = format!("x{}@example.com", uuid::Uuid::new_v4().simple());
    let body = json!({"LoginFields": {"Email": email}, "Password": "whatever pw"});
    app.post("/v1/Auth/Login", &body, &headers).await.status
}

#[tokio::test]
async fn forwarded_addresses_count_only_when_trusted() {
    let trusting = spawn_app_with(|c| {
        c.login_max_failures_per_address = 2;
        c.trust_forwarded_for = true;
    })
    .await;
    assert_eq!(login_from(&trusting, "10.0.0.1").await, 401);
    assert_eq!(login_from(&trusting, "10.0.0.1").await, 401);
    assert_eq!(login_from(&trusting, "10.0.0.1").await, 429);
    assert_eq!(
        login_from(&trusting, "10.0.0.2").await,
        401,
        "another client is not blocked"
    );

    let distrusting = spawn_app_with(|c| c.login_max_failures_per_address = 2).await;
    assert_eq!(login_from(&distrusting, "10.0.0.1").await, 401);
    assert_eq!(login_from(&distrusting, "10.0.0.2").await, 401);
    assert_eq!(
        login_from(&distrusting, "10.0.0.3").await,
        429,
        "the forged header is ignored: one peer"
    );
}
