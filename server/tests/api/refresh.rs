use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn refresh_rotates_the_pair_on_both_paths() {
    let app = spawn_app().await;
    let first = app.register(json!({})).await;
    let second = app.refresh(&first).await.result().clone();
    assert_eq!(second["DeviceToken"], first["DeviceToken"]);
    assert_ne!(second["RefreshToken"], first["RefreshToken"]);
    app.claims(second["AccessToken"]["Token"].as_str().unwrap());
    let body = json!({"accessToken": second["AccessToken"]["Token"], "refreshToken": second["RefreshToken"]});
    let third = app.post("/v1/refreshtoken", &body, &[]).await;
    assert_ne!(third.result()["RefreshToken"], second["RefreshToken"]);
}

#[tokio::test]
async fn refresh_needs_both_tokens() {
    let app = spawn_app().await;
    let a = app.post("/v1/Auth/RefreshToken", &json!({}), &[]).await;
    assert_eq!(a.status, 422);
    assert_eq!(a.error_keys(), ["AccessToken", "RefreshToken"]);
}

#[tokio::test]
async fn a_retry_within_the_grace_window_is_answered_with_a_new_pair() {
    let app = spawn_app().await;
    let first = app.register(json!({})).await;
    let second = app.refresh(&first).await.result().clone();
    let retry = app.refresh(&first).await.result().clone();
    assert_ne!(retry["RefreshToken"], second["RefreshToken"]);
    // The retry's pair replaces the one the client never received.
    assert_eq!(app.refresh(&retry).await.status, 200);
}

#[tokio::test]
async fn a_garbage_refresh_token_is_401() {
    let app = spawn_app().await;
    let user = app.register(json!({})).await;
    let body = json!({"AccessToken": user["AccessToken"]["Token"], "RefreshToken": "AAAA"});
    assert_eq!(
        app.post("/v1/Auth/RefreshToken", &body, &[]).await.status,
        401
    );
}

/// Regression: a refresh once held its transaction's connection while asking the pool for
/// another to read the user; with every connection held that way, refreshes waited on each
/// other until the acquire timeout and failed with 500 (seen on PostgreSQL).
#[tokio::test]
async fn concurrent_refreshes_of_different_sessions_do_not_starve_a_small_pool() {
    let app = spawn_app_with(|c| {
        c.db_max_connections = 2;
        c.db_acquire_timeout = 2;
    })
    .await;
    let batch = app
        .post_instance("/v1/Registration/CreateMany", &json!({"Quantity": 12}))
        .await;
    let pairs = batch.result()["Results"].as_array().unwrap().clone();
    let answers = futures::future::join_all(pairs.iter().map(|p| app.refresh(p))).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
}
