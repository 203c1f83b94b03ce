//! The rules every route keeps: instance credentials, content types, body limits, the
//! envelope on 404/405, and the operations endpoints.

use serde_json::json;

use crate::helpers::*;

const POSTS: [&str; 5] = [
    "/v1/Registration/Create",
    "/v1/Registration/CreateMany",
    "/v1/Auth/Login",
    "/v1/Auth/RefreshToken",
    "/v1/RefreshToken",
];

#[tokio::test]
async fn registration_without_instance_headers_is_401() {
    let app = spawn_app().await;
    for path in ["/v1/Registration/Create", "/v1/Registration/CreateMany"] {
        let only_id = [("InstanceId", app.instance_id.clone())];
        for headers in [&[][..], &only_id[..]] {
            let a = app.post(path, &json!({"Quantity": 1}), headers).await;
            assert_eq!(a.status, 401, "{path}: {}", a.body);
            a.envelope();
        }
    }
}

#[tokio::test]
async fn registration_with_wrong_instance_credentials_is_401() {
    let app = spawn_app().await;
    let wrong_key = [
        ("InstanceId", app.instance_id.clone()),
        ("InstanceKey", uuid::Uuid::new_v4().to_string()),
    ];
    let unknown_id = [
        ("InstanceId", uuid::Uuid::new_v4().to_string()),
        ("InstanceKey", app.instance_key.clone()),
    ];
    let garbage = [
        ("InstanceId", "nope".to_string()),
        ("InstanceKey", "nope".to_string()),
    ];
    for path in ["/v1/Registration/Create", "/v1/Registration/CreateMany"] {
        for headers in [&wrong_key[..], &unknown_id[..], &garbage[..]] {
            let a = app.post(path, &json!({"Quantity": 1}), headers).await;
            assert_eq!(a.status, 401, "{path}: {}", a.body);
            // One message for every case: no probing which instance ids exist.
            assert_eq!(
                a.envelope()["Errors"][0]["Message"],
                "invalid instance credentials"
            );
        }
    }
}

#[tokio::test]
async fn instance_key_matches_without_dashes_and_in_upper_case() {
    let app = spawn_app().await;
    let headers = [
        (
            "InstanceId",
            app.instance_id.replace('-', "").to_uppercase(),
        ),
        (
            "InstanceKey",
            app.instance_key.replace('-', "").to_uppercase(),
        ),
    ];
    assert_eq!(
        app.post("/v1/Registration/Create", &json!({}), &headers)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn malformed_json_is_400_on_every_post_route() {
    let app = spawn_app().await;
    for path in POSTS {
        let a = app
            .post_raw(
                path,
                "{\"Quantity\": ",
                Some("application/json"),
                &app.instance_headers(),
            )
            .await;
        assert_eq!(a.status, 400, "{path}: {}", a.body);
        assert!(a.envelope()["Errors"][0]["Message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"));
    }
}

#[tokio::test]
async fn a_wrong_content_type_is_415_on_every_post_route() {
    let app = spawn_app().await;
    for path in POSTS {
        let a = app
            .post_raw(
                path,
                "Quantity=1",
                Some("application/x-www-form-urlencoded"),
                &app.instance_headers(),
            )
            .await;
        assert_eq!(a.status, 415, "{path}: {}", a.body);
        a.envelope();
    }
}

#[tokio::test]
async fn an_oversized_body_is_413_on_every_post_route() {
    let app = spawn_app().await;
    let big = format!("{{\"FirstName\": \"{}\"}}", "x".repeat(1024 * 1024 + 10));
    for path in POSTS {
        let a = app
            .post_raw(
                path,
                big.clone(),
                Some("application/json"),
                &app.instance_headers(),
            )
            .await;
        assert_eq!(a.status, 413, "{path}: {}", a.body);
        a.envelope();
    }
    assert_eq!(
        app.core.list_instances(&owner()).await.unwrap()[0].user_count,
        0
    );
}

#[tokio::test]
async fn a_non_object_body_is_400() {
    let app = spawn_app().await;
    let a = app
        .post_raw(
            "/v1/Registration/Create",
            "[1,2]",
            Some("application/json"),
            &app.instance_headers(),
        )
        .await;
    assert_eq!(a.status, 400);
    a.envelope();
}

#[tokio::test]
async fn unknown_v1_routes_and_wrong_methods_answer_in_the_envelope() {
    let app = spawn_app().await;
    let missing = app.get("/v1/Nothing/Here").await;
    assert_eq!(missing.status, 404);
    assert!(missing.envelope()["Result"].is_null());
    let wrong_method = app.get("/v1/Registration/Create").await;
    assert_eq!(wrong_method.status, 405);
    wrong_method.envelope();
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let a = app
        .post_instance("/v1/Registration/Create", &json!({}))
        .await;
    assert!(a.headers.get("x-request-id").is_some());
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    let h = app.get("/healthz").await;
    assert_eq!((h.status, h.body["status"].as_str()), (200, Some("ok")));
    let r = app.get("/readyz").await;
    assert_eq!(
        (r.status, r.body["database"].as_str()),
        (200, Some(app.db.backend()))
    );
    assert_eq!(r.body["checks"]["database"]["status"], "up");
    // No e-mail or SMS channel configured: no outbox worker runs.
    assert_eq!(r.body["checks"]["outbox"]["status"], "off");
    let running = |r: &Answer, name: &str| r.body["checks"][name]["status"] == "running";
    let mut r = r;
    for _ in 0..100 {
        if running(&r, "scheduler") && running(&r, "webhooks") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        r = app.get("/readyz").await;
    }
    assert_eq!(r.body["status"], "ready", "{}", r.body);
    for name in ["scheduler", "webhooks"] {
        assert!(running(&r, name), "{}", r.body);
        assert!(
            r.body["checks"][name]["last_round_seconds_ago"]
                .as_i64()
                .unwrap()
                <= 10
        );
    }

    // With e-mail configured the outbox worker runs and reports its rounds.
    let mailing = spawn_app_with(|c| c.smtp_url = Some("smtp://127.0.0.1:1".into())).await;
    let mut r = mailing.get("/readyz").await;
    for _ in 0..100 {
        if running(&r, "outbox") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        r = mailing.get("/readyz").await;
    }
    assert!(running(&r, "outbox"), "{}", r.body);
}

#[tokio::test]
async fn the_dashboard_page_is_served_with_the_instance() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let res = app
        .client
        .get(format!("{}/instances", app.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Common"),
        "the instance list is rendered on the server"
    );
    assert!(
        !html.contains(&app.instance_key),
        "no instance key on the page"
    );
}

#[tokio::test]
async fn the_list_instances_server_function_answers_json() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let res = app
        .client
        .post(format!("{}/api/list_instances", app.base))
        .bearer_auth(&admin)
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let list: serde_json::Value = res.json().await.unwrap();
    assert_eq!(list[0]["name"], "Common");
    assert!(!list.to_string().contains(&app.instance_key));
}
