//! Dashboard batches through a real server: started by `/api/start_batch`, run in chunks in
//! the background, watched with `/api/get_batch`, credentials downloaded once from
//! `/export/batches/{id}/credentials.csv`.

use std::time::Duration;

use serde_json::{json, Value};

use crate::dashboard::{call, cookie_header, no_redirects, origin, sign_in, ADMIN_PASSWORD};
use crate::helpers::*;

fn batch_request(app: &TestApp, quantity: &str) -> Value {
    json!({ "request": {
        "instance_id": app.instance_id, "quantity": quantity, "label": "Depot 7",
        "tracking": true, "logging": false, "sdk": true, "realtime": false,
        "create_access_token": true,
    }})
}

/// Polls the batch until it is no longer running; returns its last view and every `done`
/// seen on the way.
pub(crate) async fn wait_for(app: &TestApp, admin: &str, id: &str) -> (Value, Vec<i64>) {
    let mut seen = Vec::new();
    for _ in 0..6000 {
        let v = call(
            app,
            "get_batch",
            json!({ "batch_id": id }),
            &[bearer(admin)],
        )
        .await;
        assert_eq!(v.status, 200, "{}", v.body);
        seen.push(v.body["done"].as_i64().unwrap());
        if v.body["state"] != "Running" {
            return (v.body, seen);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the batch did not finish");
}

pub(crate) async fn download(app: &TestApp, admin: &str, id: &str) -> reqwest::Response {
    no_redirects()
        .post(format!("{}/export/batches/{id}/credentials.csv", app.base))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_dashboard_batch_runs_in_chunks_and_its_credentials_download_once() {
    let app = spawn_app_with(|c| c.batch_chunk = 40).await;
    let admin = app.admin_token().await;
    let started = call(
        &app,
        "start_batch",
        batch_request(&app, "100"),
        &[bearer(&admin)],
    )
    .await;
    assert_eq!(started.status, 200, "{}", started.body);
    let id = started.body.as_str().unwrap().to_string();

    let (done, seen) = wait_for(&app, &admin, &id).await;
    assert_eq!(done["state"], "Completed", "{done}");
    assert_eq!(
        (done["done"].as_i64(), done["users_now"].as_i64()),
        (Some(100), Some(100))
    );
    // Progress only moves forward, by whole chunks.
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert!(
        seen.iter().all(|d| [0, 40, 80, 100].contains(d)),
        "{seen:?}"
    );
    // The view carries no secret.
    assert!(!done.to_string().contains("eyJ"), "{done}");

    let res = download(&app, &admin, &id).await;
    assert_eq!(res.status(), 200);
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"batch-Depot_7-"),
        "{disposition}"
    );
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "DeviceToken,AccessToken,AccessTokenExpiresAt,RefreshToken,RefreshTokenExpiresAt"
    );
    assert_eq!(lines.len(), 101);
    for line in &lines[1..] {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(
            app.claims(f[1])["sub"],
            f[0],
            "a token verifiable by any JWT library"
        );
    }
    for line in &lines[1..4] {
        let f: Vec<&str> = line.split(',').collect();
        let body = json!({ "AccessToken": f[1], "RefreshToken": f[3] });
        let refreshed = app.post("/v1/Auth/RefreshToken", &body, &[]).await;
        assert_eq!(refreshed.status, 200, "{:?}", refreshed.body);
    }

    // Once.
    let again = download(&app, &admin, &id).await;
    assert_eq!(again.status(), 409);
    let body: Value = again.json().await.unwrap();
    assert!(
        body.to_string()
            .contains("downloaded by admin:admin@localhost"),
        "{body}"
    );
    let after = call(
        &app,
        "get_batch",
        json!({ "batch_id": id }),
        &[bearer(&admin)],
    )
    .await;
    assert_eq!(
        after.body["credentials"]["Taken"]["by"],
        "admin:admin@localhost"
    );
    let audit = app
        .core
        .store()
        .audit_entries("batch.credentials_downloaded")
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert!(!format!("{audit:?}").contains("eyJ"));
}

#[tokio::test]
async fn batch_calls_refuse_bad_input_strangers_and_other_origins() {
    let app = spawn_app_with(|c| c.max_batch_run = 500).await;
    let admin = app.admin_token().await;
    let bad = call(
        &app,
        "start_batch",
        batch_request(&app, "501"),
        &[bearer(&admin)],
    )
    .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(
        bad.body.to_string().contains("from 1 to 500"),
        "{}",
        bad.body
    );
    let garbage = call(
        &app,
        "start_batch",
        json!({"request": 7}),
        &[bearer(&admin)],
    )
    .await;
    assert!((400..500).contains(&garbage.status), "{}", garbage.status);
    let anonymous = call(
        &app,
        "start_batch",
        batch_request(&app, "5"),
        &[origin(&app)],
    )
    .await;
    assert_eq!(anonymous.status, 401);
    for id in ["nope", "00000000-0000-4000-8000-000000000000"] {
        let missing = call(
            &app,
            "get_batch",
            json!({ "batch_id": id }),
            &[bearer(&admin)],
        )
        .await;
        assert_eq!(missing.status, 404, "{id}: {}", missing.body);
        assert_eq!(download(&app, &admin, id).await.status(), 404);
    }
    let list = call(&app, "list_batches", json!({}), &[bearer(&admin)]).await;
    assert_eq!(
        list.body["rows"].as_array().unwrap().len(),
        0,
        "nothing was recorded"
    );

    // A CreateMany batch is listed too; its credentials were in its response.
    let many = app
        .post_instance("/v1/Registration/CreateMany", &json!({"Quantity": 3}))
        .await;
    let batch_id = many.result()["BatchId"].as_str().unwrap().to_string();
    let view = call(
        &app,
        "get_batch",
        json!({ "batch_id": batch_id }),
        &[bearer(&admin)],
    )
    .await;
    assert_eq!(
        (view.body["state"].as_str(), view.body["done"].as_i64()),
        (Some("Completed"), Some(3))
    );
    assert_eq!(view.body["credentials"], "Api");
    assert_eq!(download(&app, &admin, &batch_id).await.status(), 409);

    // With the session cookie, the download must come from the dashboard's own origin.
    let started = call(
        &app,
        "start_batch",
        batch_request(&app, "5"),
        &[bearer(&admin)],
    )
    .await;
    let id = started.body.as_str().unwrap().to_string();
    crate::batches::wait_for(&app, &admin, &id).await;
    let (_, cookies) = sign_in(&app, ADMIN_PASSWORD, &[]).await;
    let post = |from: &'static str| {
        no_redirects()
            .post(format!("{}/export/batches/{id}/credentials.csv", app.base))
            .header("Cookie", cookie_header(&cookies))
            .header("Origin", from)
            .send()
    };
    assert_eq!(post("https://evil.example").await.unwrap().status(), 403);
    let view = call(
        &app,
        "get_batch",
        json!({ "batch_id": id }),
        &[bearer(&admin)],
    )
    .await;
    assert!(
        view.body["credentials"]["Held"].is_object(),
        "unchanged: {}",
        view.body
    );
    let own = app.base.clone();
    let ok = no_redirects()
        .post(format!("{}/export/batches/{id}/credentials.csv", app.base))
        .header("Cookie", cookie_header(&cookies))
        .header("Origin", own)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap().lines().count(), 6);
}

#[tokio::test]
async fn a_stopped_batch_keeps_its_users_and_resumes_to_the_end() {
    let app = spawn_app_with(|c| c.batch_chunk = 1).await;
    let admin = app.admin_token().await;
    let started = call(
        &app,
        "start_batch",
        batch_request(&app, "400"),
        &[bearer(&admin)],
    )
    .await;
    let id = started.body.as_str().unwrap().to_string();
    let stopped = call(
        &app,
        "stop_batch",
        json!({ "batch_id": id }),
        &[bearer(&admin)],
    )
    .await;
    assert_eq!(stopped.status, 200, "{}", stopped.body);
    assert_eq!(stopped.body["state"], "Failed");
    let (view, _) = wait_for(&app, &admin, &id).await;
    let done = view["done"].as_i64().unwrap();
    assert!(done < 400, "stopped early: {view}");
    assert_eq!(view["users_now"].as_i64(), Some(done));
    assert!(view["error"]
        .as_str()
        .unwrap()
        .contains("stopped by admin:admin@localhost"));

    let resumed = call(
        &app,
        "resume_batch",
        json!({ "batch_id": id }),
        &[bearer(&admin)],
    )
    .await;
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    let (view, _) = wait_for(&app, &admin, &id).await;
    assert_eq!(
        (view["state"].as_str(), view["users_now"].as_i64()),
        (Some("Completed"), Some(400))
    );
    let csv = download(&app, &admin, &id).await.text().await.unwrap();
    assert_eq!(csv.lines().count(), 401);
    let twice = call(
        &app,
        "resume_batch",
        json!({ "batch_id": id }),
        &[bearer(&admin)],
    )
    .await;
    assert_eq!(twice.status, 409);
}
