use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
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
async fn refresh_with_a_tampered_access_token_is_401_and_consumes_nothing() {
    let app = spawn_app().await;
    let user = app.register(json!({})).await;
    let token = user["AccessToken"]["Token"].as_str().unwrap();
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    let mut payload: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    payload["SdkEnableLogging"] = "True".into();
    parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
    let body = json!({"AccessToken": parts.join("."), "RefreshToken": user["RefreshToken"]});
    let a = app.post("/v1/Auth/RefreshToken", &body, &[]).await;
    assert_eq!(a.status, 401);
    a.envelope();
    assert_eq!(
        app.refresh(&user).await.status,
        200,
        "the genuine pair still works"
    );
}

#[tokio::test]
async fn refresh_with_another_users_access_token_is_401() {
    let app = spawn_app().await;
    let a = app.register(json!({})).await;
    let b = app.register(json!({})).await;
    let body = json!({"AccessToken": b["AccessToken"]["Token"], "RefreshToken": a["RefreshToken"]});
    assert_eq!(
        app.post("/v1/Auth/RefreshToken", &body, &[]).await.status,
        401
    );
    assert_eq!(app.refresh(&a).await.status, 200);
}

#[tokio::test]
async fn refresh_with_a_token_signed_by_another_key_is_401() {
    let app = spawn_app().await;
    let other = spawn_app().await;
    let mine = app.register(json!({})).await;
    let theirs = other.register(json!({})).await;
    let body = json!({"AccessToken": theirs["AccessToken"]["Token"], "RefreshToken": mine["RefreshToken"]});
    assert_eq!(
        app.post("/v1/Auth/RefreshToken", &body, &[]).await.status,
        401
    );
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_family() {
    let app = spawn_app_with(|c| c.refresh_reuse_grace = 0).await;
    let first = app.register(json!({})).await;
    let second = app.refresh(&first).await.result().clone();
    let third = app.refresh(&second).await.result().clone();
    let reuse = app.refresh(&first).await;
    assert_eq!(reuse.status, 401);
    assert!(reuse.envelope()["Errors"][0]["Message"]
        .as_str()
        .unwrap()
        .contains("revoked"));
    // Every descendant is dead, the newest included.
    assert_eq!(app.refresh(&third).await.status, 401);
    assert_eq!(app.refresh(&second).await.status, 401);
    assert_eq!(
        app.core
            .store()
            .audit_entries("refresh.reuse")
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_retry_within_the_grace_window_is_answered_with_a_new_pair() {
    let app = spawn_app().await;
    let first = app.register(json!({})).await;
    let second = app.refresh(&first).await.result().clone();
    let retry = app.refresh(&first).await.result().clone();
    assert_ne!(retry["RefreshToken"], second["RefreshToken"]);
    assert_eq!(app.refresh(&second).await.status, 200);
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
