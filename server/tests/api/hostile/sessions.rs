//! Sessions (token families): what an attacker holding old, revoked or foreign tokens can
//! renew. Findings 1, 9, 10 and 15.

use serde_json::{json, Value};

use crate::dashboard::call;
use crate::helpers::*;

fn pair(access: &str, refresh: &Value) -> Value {
    json!({"AccessToken": access, "RefreshToken": refresh})
}

/// The admin's id is the `sub` of any admin token, so whoever once held one knows it.
fn admin_id(app: &TestApp, admin_token: &str) -> String {
    app.claims(admin_token)["sub"].as_str().unwrap().to_string()
}

async fn signed_out_admin_token(app: &TestApp) -> String {
    let admin = app.admin_token().await;
    let out = call(app, "sign_out", json!({}), &[bearer(&admin)]).await;
    assert_eq!(out.status, 200, "{}", out.body);
    let after = call(app, "current_admin", json!({}), &[bearer(&admin)]).await;
    assert_eq!(after.status, 401, "signed out means signed out");
    admin
}

#[tokio::test]
async fn registering_a_custom_token_equal_to_an_admin_id_is_refused() {
    let app = spawn_app().await;
    let admin = signed_out_admin_token(&app).await;
    let taken = app
        .post_instance(
            "/v1/Registration/Create",
            &json!({"CustomToken": admin_id(&app, &admin)}),
        )
        .await;
    assert_eq!(taken.status, 409, "{}", taken.body);
    assert_eq!(taken.error_keys(), ["CustomToken"]);
}

/// The review's attack, with the colliding user planted behind the application's back (the
/// registration no longer lets one in): the refresh token of a *user* session whose subject
/// equals the admin's id, presented with the signed-out admin's access token.
#[tokio::test]
async fn a_signed_out_admin_token_with_a_users_refresh_token_named_after_the_admin_gets_no_session()
{
    let app = spawn_app().await;
    let admin = signed_out_admin_token(&app).await;
    let id = admin_id(&app, &admin);
    let user = app.register(json!({})).await;
    let device = user["DeviceToken"].as_str().unwrap();
    for table in [
        "users SET device_token",
        "token_families SET subject",
        "refresh_tokens SET subject",
        "access_tokens SET subject",
    ] {
        let column = table.rsplit(' ').next().unwrap();
        app.sql(&format!(
            "UPDATE {table} = '{id}' WHERE {column} = '{device}'"
        ))
        .await;
    }
    let stolen = app
        .post(
            "/v1/Auth/RefreshToken",
            &pair(&admin, &user["RefreshToken"]),
            &[],
        )
        .await;
    assert_eq!(stolen.status, 401, "{}", stolen.body);
    let keys = app
        .send(
            reqwest::Method::GET,
            &format!("/v1/Instances/{}", app.instance_id),
            None,
            &[bearer(&admin)],
        )
        .await;
    assert_eq!(keys.status, 401, "the old admin token reads no InstanceKey");
}

#[tokio::test]
async fn a_refresh_token_renews_only_the_session_it_belongs_to() {
    let app = spawn_app().await;
    let user = app.register(json!({})).await;
    let device = user["DeviceToken"].as_str().unwrap();
    let other_session = app.session_from_hours_ago(device).await;
    // Same user, another session's access token: refused, and nothing consumed.
    let mixed = pair(&token_of(&other_session), &user["RefreshToken"]);
    let refused = app.post("/v1/Auth/RefreshToken", &mixed, &[]).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(app.refresh(&user).await.status, 200);
    assert_eq!(app.refresh(&other_session).await.status, 200);
}

#[tokio::test]
async fn a_revoked_session_renews_nothing() {
    let app = spawn_app().await;
    let ended = app.admin_session_from(0).await;
    let other = app.admin_session_from(0).await;
    let out = call(&app, "sign_out", json!({}), &[bearer(&token_of(&ended))]).await;
    assert_eq!(out.status, 200, "{}", out.body);
    let revoked = app.refresh(&ended).await;
    assert_eq!(revoked.status, 401, "{}", revoked.body);
    assert_eq!(
        app.refresh(&other).await.status,
        200,
        "other sessions live on"
    );
}

#[tokio::test]
async fn a_user_token_never_passes_for_an_admin_session() {
    let app = spawn_app().await;
    let user = app.register(json!({})).await;
    let as_admin = call(
        &app,
        "list_users",
        json!({"query": {}}),
        &[bearer(&token_of(&user))],
    )
    .await;
    assert_eq!(as_admin.status, 403);
    let renewed = app.refresh(&user).await;
    assert_eq!(app.claims(&token_of(renewed.result()))["role"], "User");
}

#[tokio::test]
async fn a_deleted_users_token_stays_dead_when_its_device_token_returns() {
    let app = spawn_app().await;
    let device = uuid::Uuid::new_v4().to_string();
    let first = app.register(json!({"CustomToken": device})).await;
    let admin = app.admin_token().await;
    let deleted = app
        .send(
            reqwest::Method::DELETE,
            &format!("/v1/Management/users/{device}"),
            None,
            &[bearer(&admin)],
        )
        .await;
    deleted.result_absent();
    let again = app.register(json!({"CustomToken": device})).await;
    assert_eq!(again["DeviceToken"], device.as_str());

    let revived = app
        .send(
            reqwest::Method::GET,
            "/v1/Management/users",
            None,
            &[bearer(&token_of(&first))],
        )
        .await;
    assert_eq!(revived.status, 401, "{}", revived.body);
    assert_eq!(app.refresh(&first).await.status, 401);
    let current = app
        .send(
            reqwest::Method::GET,
            "/v1/Management/users",
            None,
            &[bearer(&token_of(&again))],
        )
        .await;
    assert_eq!(current.status, 200);
}

/// Within the grace window, a used token replayed again and again must not leave a live
/// branch per replay: only the newest successor works, and an older one presented again
/// (somebody else holds it) ends the session.
#[tokio::test]
async fn replaying_a_used_refresh_token_within_grace_never_forks_the_session() {
    let app = spawn_app().await;
    let first = app.register(json!({})).await;
    let mut successors = Vec::new();
    for _ in 0..4 {
        successors.push(app.refresh(&first).await.result().clone());
    }
    let newest = app.refresh(&successors[3]).await.result().clone();
    let store = app.core.store();
    assert!(store
        .audit_entries("refresh.reuse")
        .await
        .unwrap()
        .is_empty());
    for older in &successors[..3] {
        assert_eq!(app.refresh(older).await.status, 401);
    }
    assert_eq!(store.audit_entries("refresh.reuse").await.unwrap().len(), 1);
    assert_eq!(app.refresh(&newest).await.status, 401, "the session ended");
}

#[tokio::test]
async fn a_grace_retry_after_the_successor_was_used_is_reuse() {
    let app = spawn_app().await;
    let first = app.register(json!({})).await;
    let second = app.refresh(&first).await.result().clone();
    let third = app.refresh(&second).await.result().clone();
    // `second` was used: whoever replays `first` now is not the client that moved on.
    assert_eq!(app.refresh(&first).await.status, 401);
    assert_eq!(
        app.refresh(&third).await.status,
        401,
        "the session is revoked"
    );
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
async fn an_admin_session_ends_at_its_longest_lifetime_however_often_refreshed() {
    let app = spawn_app_with(|c| c.admin_session_max = 4 * 3600).await;
    // Signed in five hours ago and (in principle) refreshed since: past its 4 h.
    let old = app.admin_session_from(5).await;
    let refused = app.refresh(&old).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(refused.envelope()["Errors"][0]["Message"]
        .as_str()
        .unwrap()
        .contains("sign in again"));
    // A session three hours old still renews, and its new token works until the end.
    let recent = app.admin_session_from(3).await;
    let renewed = app.refresh(&recent).await.result().clone();
    let me = call(
        &app,
        "current_admin",
        json!({}),
        &[bearer(&token_of(&renewed))],
    )
    .await;
    assert_eq!(me.status, 200);
    // Users' sessions have no such end by default.
    let user = app.register(json!({})).await;
    let device = user["DeviceToken"].as_str().unwrap();
    assert_eq!(
        app.refresh(&app.session_from_hours_ago(device).await)
            .await
            .status,
        200
    );
}
