//! API keys of back ends, and token introspection (RFC 7662), played by a hostile caller:
//! every route answers a key only within its scopes; introspection says `active` only for a
//! live token.

use serde_json::{json, Value};
use tus_core::principal::Principal;

use crate::helpers::*;

fn admin() -> Principal {
    Principal::Admin {
        id: "test".into(),
        email: "admin@localhost".into(),
    }
}

async fn key(app: &TestApp, name: &str, scopes: &[&str]) -> String {
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    app.core
        .create_api_key(
            tus_core::Core::now(),
            &admin(),
            name,
            &scopes,
            None,
            &Default::default(),
        )
        .await
        .unwrap()
        .1
}

async fn introspect(app: &TestApp, key: Option<&str>, token: &str) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/v1/Auth/Introspect", app.base))
        .form(&[("token", token)]);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let res = req.send().await.unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn introspection_is_active_only_for_a_live_token_and_needs_the_scope() {
    let app = spawn_app().await;
    let scope_key = key(&app, "scoring", &["tokens:introspect"]).await;
    let user = app.register(json!({ "LastName": "Live" })).await;
    let token = token_of(&user);

    let (status, live) = introspect(&app, Some(&scope_key), &token).await;
    assert_eq!(status, 200);
    assert_eq!(live["active"], true);
    assert_eq!(live["sub"], user["DeviceToken"]);
    assert_eq!(live["scope"], "User");
    assert!(live["exp"].as_i64().unwrap() > live["iat"].as_i64().unwrap());
    // JSON works too, the key in any case.
    let res = reqwest::Client::new()
        .post(format!("{}/v1/Auth/Introspect", app.base))
        .bearer_auth(&scope_key)
        .json(&json!({ "Token": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["active"], true);

    // Who may ask.
    assert_eq!(introspect(&app, None, &token).await.0, 401);
    assert_eq!(introspect(&app, Some("tus_not-a-key"), &token).await.0, 401);
    let reader = key(&app, "reader", &["users:read"]).await;
    assert_eq!(introspect(&app, Some(&reader), &token).await.0, 403);
    assert_eq!(
        introspect(&app, Some(&token), &token).await.0,
        403,
        "a user token may not"
    );
    let admin_token = app.admin_token().await;
    assert_eq!(
        introspect(&app, Some(&admin_token), &token).await.1["active"],
        true
    );
    let empty = reqwest::Client::new()
        .post(format!("{}/v1/Auth/Introspect", app.base))
        .bearer_auth(&scope_key)
        .form(&[("nottoken", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 422);

    // Not live: forged, garbage, an API key, expired, revoked, deactivated, deleted.
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    let expired = app
        .core
        .tokens()
        .mint_admin(
            tus_core::Core::now() - chrono::Duration::hours(5),
            "x",
            "x@x.io",
        )
        .unwrap()
        .token;
    for dead in [
        forged.as_str(),
        "garbage",
        scope_key.as_str(),
        expired.as_str(),
    ] {
        assert_eq!(
            introspect(&app, Some(&scope_key), dead).await.1,
            json!({ "active": false }),
            "{dead:.20}"
        );
    }
    let dt = user["DeviceToken"].as_str().unwrap().to_string();
    let deactivated = app
        .send(
            reqwest::Method::PUT,
            "/v1/Management/users",
            Some(&json!({ "Status": "Deactivated" })),
            &[bearer(&admin_token), ("UserDeviceToken", dt.clone())],
        )
        .await;
    assert_eq!(deactivated.status, 200, "{}", deactivated.body);
    assert_eq!(
        introspect(&app, Some(&scope_key), &token).await.1["active"],
        false
    );
    let other = app.register(json!({})).await;
    let other_token = token_of(&other);
    assert_eq!(
        introspect(&app, Some(&scope_key), &other_token).await.1["active"],
        true
    );
    app.send(
        reqwest::Method::DELETE,
        &format!(
            "/v1/Management/users/{}",
            other["DeviceToken"].as_str().unwrap()
        ),
        None,
        &[bearer(&admin_token)],
    )
    .await;
    assert_eq!(
        introspect(&app, Some(&scope_key), &other_token).await.1["active"],
        false
    );
    let third = app.register(json!({})).await;
    let refreshed = app.refresh(&third).await;
    assert_eq!(refreshed.status, 200);
    // A refresh token reused after the grace window revokes the family: its newest access
    // token is then not active either. Revoking the family directly:
    let family_token = refreshed.result()["AccessToken"]["Token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        introspect(&app, Some(&scope_key), &family_token).await.1["active"],
        true
    );
    app.core
        .revoke_user_tokens(
            tus_core::Core::now(),
            &admin(),
            tus_core::types::DeviceToken::parse(third["DeviceToken"].as_str().unwrap()).unwrap(),
            None,
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        introspect(&app, Some(&scope_key), &family_token).await.1["active"],
        false
    );

    // A revoked key stops at once.
    let id = app
        .core
        .api_keys(tus_core::Core::now(), &admin())
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.name == "scoring")
        .unwrap()
        .id;
    app.core
        .revoke_api_key(tus_core::Core::now(), &admin(), &id, &Default::default())
        .await
        .unwrap();
    assert_eq!(introspect(&app, Some(&scope_key), &token).await.0, 401);
}

#[tokio::test]
async fn an_api_key_acts_on_management_routes_only_within_its_scopes() {
    let app = spawn_app().await;
    let user = app
        .register(json!({ "LastName": "Scoped", "Email": "s@example.com" }))
        .await;
    let dt = user["DeviceToken"].as_str().unwrap().to_string();
    let reader = key(&app, "reader", &["users:read"]).await;
    let writer = key(&app, "writer", &["users:write"]).await;
    let introspector = key(&app, "introspector", &["tokens:introspect"]).await;
    let target = ("UserDeviceToken", dt.clone());
    let get = |k: &str| {
        let headers = vec![bearer(k), target.clone()];
        let app = &app;
        async move {
            app.send(reqwest::Method::GET, "/v1/Management/users", None, &headers)
                .await
                .status
        }
    };
    let put = |k: &str| {
        let headers = vec![bearer(k), target.clone()];
        let app = &app;
        async move {
            app.send(
                reqwest::Method::PUT,
                "/v1/Management/users",
                Some(&json!({ "FirstName": "Changed" })),
                &headers,
            )
            .await
            .status
        }
    };
    let find = |k: &str| {
        let headers = vec![bearer(k)];
        let app = &app;
        async move {
            app.send(
                reqwest::Method::GET,
                "/v1/Management/users/find?LastName=Scoped",
                None,
                &headers,
            )
            .await
            .status
        }
    };
    let page = |k: &str| {
        let headers = vec![bearer(k)];
        let app = &app;
        async move {
            app.post(
                "/v1/Management/users/GetFilteredPage",
                &json!({ "Page": 1, "PageSize": 10 }),
                &headers,
            )
            .await
            .status
        }
    };
    assert_eq!(
        (get(&reader).await, find(&reader).await, page(&reader).await),
        (200, 200, 200)
    );
    assert_eq!(put(&reader).await, 403);
    assert_eq!(
        (get(&writer).await, find(&writer).await, page(&writer).await),
        (403, 403, 403)
    );
    assert_eq!(put(&writer).await, 200);
    for k in [&introspector] {
        assert_eq!(
            (get(k).await, put(k).await, find(k).await, page(k).await),
            (403, 403, 403, 403)
        );
    }
    // Admin-only routes and the dashboard's functions refuse every key.
    for k in [&reader, &writer] {
        let instances = app
            .send(
                reqwest::Method::GET,
                &format!("/v1/Instances/{}", app.instance_id),
                None,
                &[bearer(k)],
            )
            .await;
        assert_eq!(instances.status, 403, "{}", instances.body);
        let dashboard =
            crate::dashboard::call(&app, "list_users", json!({ "query": {} }), &[bearer(k)]).await;
        assert_eq!(dashboard.status, 403);
        let outbox = app
            .send(reqwest::Method::GET, "/v1/Deliveries", None, &[bearer(k)])
            .await;
        assert_eq!(outbox.status, 403);
    }
    let delete_by_reader = app
        .send(
            reqwest::Method::DELETE,
            &format!("/v1/Management/users/{dt}"),
            None,
            &[bearer(&reader)],
        )
        .await;
    assert_eq!(delete_by_reader.status, 403);
    // The writer's change is audited under its name.
    let audit = app
        .core
        .store()
        .audit_entries("user.updated")
        .await
        .unwrap();
    assert!(
        audit.iter().any(|e| e.actor == "apikey:writer"),
        "{:?}",
        audit.iter().map(|e| &e.actor).collect::<Vec<_>>()
    );
    let delete_by_writer = app
        .send(
            reqwest::Method::DELETE,
            &format!("/v1/Management/users/{dt}"),
            None,
            &[bearer(&writer)],
        )
        .await;
    assert_eq!(delete_by_writer.status, 200, "{}", delete_by_writer.body);
}
