//! API keys of back ends, and token introspection (RFC 7662), played by a hostile caller:
//! every route answers a key only within its scopes; introspection says `active` only for a
//! live token.

use serde_json::{json, Value};
use tus_core::principal::Principal;

use crate::helpers::*;

fn admin() -> Principal {
    Principal::unscoped_admin("test", "admin@localhost", tus_wire::views::Role::Owner)
}

async fn key(app: &TestApp, name: &str, scopes: &[&str]) -> String {
    api_key(app, name, scopes).await
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

#[tokio::test]
async fn a_key_limited_to_instances_sees_nothing_of_the_others() {
    let app = spawn_app().await;
    let other = app
        .core
        .create_instance(chrono::Utc::now(), None, "Other fleet", "")
        .await
        .unwrap();
    let mine = app
        .register(json!({ "LastName": "Shared", "Email": "mine@example.com" }))
        .await;
    let theirs = app
        .post(
            "/v1/Registration/Create",
            &json!({ "LastName": "Shared", "Email": "theirs@example.com" }),
            &[
                ("InstanceId", other.id.to_string()),
                ("InstanceKey", other.key.expose().to_string()),
            ],
        )
        .await
        .result()
        .clone();
    let mine_dt = mine["DeviceToken"].as_str().unwrap().to_string();
    let theirs_dt = theirs["DeviceToken"].as_str().unwrap().to_string();
    let all = [
        "users:read",
        "users:write",
        "tokens:introspect",
        "instances:read",
    ];
    let k = limited_api_key(
        &app,
        "fleet-a",
        &all,
        Some(std::slice::from_ref(&app.instance_id)),
    )
    .await;
    let as_key = |dt: &str| vec![bearer(&k), ("UserDeviceToken", dt.to_string())];

    // Reads: the other instance's user does not exist for this key.
    let get = |dt: String| {
        let headers = as_key(&dt);
        let app = &app;
        async move {
            app.send(reqwest::Method::GET, "/v1/Management/users", None, &headers)
                .await
                .status
        }
    };
    assert_eq!(get(mine_dt.clone()).await, 200);
    assert_eq!(get(theirs_dt.clone()).await, 404);
    let found = app
        .send(
            reqwest::Method::GET,
            "/v1/Management/users/find?LastName=Shared",
            None,
            &[bearer(&k)],
        )
        .await;
    let found: Vec<&str> = found
        .result()
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["DeviceToken"].as_str().unwrap())
        .collect();
    assert_eq!(found, vec![mine_dt.as_str()]);
    let page = app
        .post(
            "/v1/Management/users/GetFilteredPage",
            &json!({ "Page": 1, "PageSize": 10 }),
            &[bearer(&k)],
        )
        .await;
    assert_eq!(page.result()["TotalUsers"], 1, "{}", page.body);
    let asked_other = app
        .post(
            "/v1/Management/users/GetFilteredPage",
            &json!({ "Page": 1, "PageSize": 10, "InstanceIds": [other.id.to_string()] }),
            &[bearer(&k)],
        )
        .await;
    assert_eq!(
        asked_other.result()["TotalUsers"],
        0,
        "{}",
        asked_other.body
    );

    // Writes on the other instance's user: 404, and nothing changes.
    let put = app
        .send(
            reqwest::Method::PUT,
            "/v1/Management/users",
            Some(&json!({ "FirstName": "Hijacked" })),
            &as_key(&theirs_dt),
        )
        .await;
    assert_eq!(put.status, 404, "{}", put.body);
    let delete = app
        .send(
            reqwest::Method::DELETE,
            &format!("/v1/Management/users/{theirs_dt}"),
            None,
            &[bearer(&k)],
        )
        .await;
    assert_eq!(delete.status, 404);
    let password = app
        .post(
            "/v1/Management/users/password",
            &json!({ "Deliver": "Email" }),
            &as_key(&theirs_dt),
        )
        .await;
    assert_eq!(password.status, 404, "{}", password.body);
    let moved_out = app
        .post(
            "/v1/Management/users/instances/change",
            &json!({ "DeviceToken": mine_dt, "ToInstanceId": other.id.to_string(), "ToInstanceKey": other.key.expose() }),
            &[bearer(&k)],
        )
        .await;
    assert_eq!(moved_out.status, 422, "{}", moved_out.body);
    assert_eq!(moved_out.error_keys(), vec!["ToInstanceId"]);
    let admin_token = app.admin_token().await;
    let still = app
        .send(
            reqwest::Method::GET,
            "/v1/Management/users",
            None,
            &[bearer(&admin_token), ("UserDeviceToken", theirs_dt.clone())],
        )
        .await;
    assert_eq!(still.status, 200);
    assert_eq!(
        still.result()["UserProfile"]["FirstName"],
        Value::Null,
        "{}",
        still.body
    );
    let mine_now = app
        .send(
            reqwest::Method::GET,
            "/v1/Management/users",
            None,
            &[bearer(&admin_token), ("UserDeviceToken", mine_dt.clone())],
        )
        .await;
    assert_eq!(
        mine_now.result()["AccountInfo"]["InstanceId"],
        app.instance_id.as_str(),
        "{}",
        mine_now.body
    );

    // Introspection: only tokens of its own instances are active; an admin's never.
    assert_eq!(
        introspect(&app, Some(&k), &token_of(&mine)).await.1["active"],
        true
    );
    assert_eq!(
        introspect(&app, Some(&k), &token_of(&theirs)).await.1,
        json!({ "active": false })
    );
    assert_eq!(
        introspect(&app, Some(&k), &admin_token).await.1,
        json!({ "active": false })
    );

    // Instances: its own, without the key (and no key recorded as revealed); not the other.
    let own = app
        .send(
            reqwest::Method::GET,
            &format!("/v1/Instances/{}", app.instance_id),
            None,
            &[bearer(&k)],
        )
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.result()["Id"], app.instance_id.as_str());
    assert!(
        !own.body.to_string().contains(&app.instance_key),
        "{}",
        own.body
    );
    assert!(own.result().get("Key").is_none());
    let hidden = app
        .send(
            reqwest::Method::GET,
            &format!("/v1/Instances/{}", other.id),
            None,
            &[bearer(&k)],
        )
        .await;
    assert_eq!(hidden.status, 404);
    let app_id = own.result()["AppId"].as_str().unwrap().to_string();
    let listed = app
        .send(
            reqwest::Method::GET,
            &format!("/v1/applications/{app_id}/instances"),
            None,
            &[bearer(&k)],
        )
        .await;
    let ids: Vec<&str> = listed
        .result()
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["Id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![app.instance_id.as_str()], "{}", listed.body);
    // Changing an instance stays an admin's.
    for (method, path) in [
        (
            reqwest::Method::POST,
            format!("/v1/Instances/{}/RotateKey", app.instance_id),
        ),
        (
            reqwest::Method::PATCH,
            format!("/v1/Instances/{}?Name=Taken", app.instance_id),
        ),
        (
            reqwest::Method::DELETE,
            format!("/v1/Instances/{}", app.instance_id),
        ),
    ] {
        let answer = app.send(method, &path, None, &[bearer(&k)]).await;
        assert_eq!(answer.status, 403, "{path}: {}", answer.body);
    }
    let revealed = app
        .core
        .store()
        .audit_entries("instance.key_revealed")
        .await
        .unwrap();
    assert!(
        revealed.iter().all(|e| e.actor != "apikey:fleet-a"),
        "nothing was revealed"
    );
    // A key for every instance reads both, still without keys.
    let everywhere = key(&app, "everywhere", &["instances:read"]).await;
    let listed = app
        .send(
            reqwest::Method::GET,
            &format!("/v1/applications/{app_id}/instances"),
            None,
            &[bearer(&everywhere)],
        )
        .await;
    assert_eq!(
        listed.result().as_array().unwrap().len(),
        2,
        "{}",
        listed.body
    );
    assert!(
        !listed.body.to_string().contains("\"Key\""),
        "{}",
        listed.body
    );
}
