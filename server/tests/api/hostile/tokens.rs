//! The classic token attacks, against the bearer check and the refresh route: none of them
//! authenticates, and none consumes the genuine tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::b64;
use crate::helpers::*;

fn segments(token: &str) -> (Value, Value) {
    let part = |i: usize| -> Value {
        let text = token.split('.').nth(i).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).unwrap()).unwrap()
    };
    (part(0), part(1))
}

/// The claims signed again with `alg` and the server's own secret, under `kid`.
fn resigned(app: &TestApp, claims: &Value, alg: Algorithm, kid: Option<&str>) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(app.jwt_secret.as_bytes()),
    )
    .unwrap()
}

async fn me(app: &TestApp, token: &str) -> u16 {
    app.send(
        reqwest::Method::GET,
        "/v1/Management/users",
        None,
        &[bearer(token)],
    )
    .await
    .status
}

#[tokio::test]
async fn forged_and_altered_access_tokens_are_refused() {
    let app = spawn_app().await;
    let user = app.register(json!({})).await;
    let genuine = token_of(&user);
    let (header, claims) = segments(&genuine);
    let kid = header["kid"].as_str().unwrap().to_string();
    // The control: the same claims, signed the same way, pass. Each forgery below changes
    // one thing only.
    assert_eq!(
        me(&app, &resigned(&app, &claims, Algorithm::HS256, Some(&kid))).await,
        200
    );

    let mut forgeries: Vec<(&str, String)> = Vec::new();
    let body = genuine.split('.').nth(1).unwrap();
    forgeries.push((
        "alg none",
        format!(
            "{}.{body}.",
            b64(&json!({"alg": "none", "typ": "JWT", "kid": kid}))
        ),
    ));
    forgeries.push((
        "alg None",
        format!("{}.{body}.", b64(&json!({"alg": "None", "kid": kid}))),
    ));
    forgeries.push((
        "HS512 with our key",
        resigned(&app, &claims, Algorithm::HS512, Some(&kid)),
    ));
    forgeries.push((
        "HS384 with our key",
        resigned(&app, &claims, Algorithm::HS384, Some(&kid)),
    ));
    let signature = genuine.rsplit('.').next().unwrap();
    forgeries.push((
        "RS256 header, HMAC signature",
        format!(
            "{}.{body}.{signature}",
            b64(&json!({"alg": "RS256", "kid": kid}))
        ),
    ));
    forgeries.push(("no kid", resigned(&app, &claims, Algorithm::HS256, None)));
    forgeries.push((
        "another kid",
        resigned(
            &app,
            &claims,
            Algorithm::HS256,
            Some("hs256-0000000000000000"),
        ),
    ));
    forgeries.push((
        "path in kid",
        resigned(
            &app,
            &claims,
            Algorithm::HS256,
            Some("../../../../dev/null"),
        ),
    ));
    let mut tampered = claims.clone();
    tampered["role"] = "Admin".into();
    forgeries.push((
        "role changed, old signature",
        format!(
            "{}.{}.{signature}",
            genuine.split('.').next().unwrap(),
            b64(&tampered)
        ),
    ));
    for (what, change) in [
        ("iss", json!({"iss": "someone-else"})),
        ("aud", json!({"aud": "another-api"})),
        (
            "exp",
            json!({"exp": 1_000_000_000, "nbf": 999_999_000, "iat": 999_999_000}),
        ),
        ("nbf", json!({"nbf": 4_000_000_000i64})),
        ("sub", json!({"sub": uuid::Uuid::new_v4().to_string()})),
        ("jti", json!({"jti": uuid::Uuid::new_v4().to_string()})),
        ("role", json!({"role": "Admin", "IsAdmin": "True"})),
    ] {
        let mut changed = claims.clone();
        for (k, v) in change.as_object().unwrap() {
            changed[k] = v.clone();
        }
        let token = resigned(&app, &changed, Algorithm::HS256, Some(&kid));
        forgeries.push((what, token));
    }
    for (what, token) in &forgeries {
        assert_eq!(me(&app, token).await, 401, "{what}");
        let renewal = json!({"AccessToken": token, "RefreshToken": user["RefreshToken"]});
        let refreshed = app.post("/v1/Auth/RefreshToken", &renewal, &[]).await;
        if *what != "exp" {
            assert_eq!(
                refreshed.status, 401,
                "refresh with {what}: {}",
                refreshed.body
            );
        }
    }
    assert_eq!(me(&app, &genuine).await, 200);
}

#[tokio::test]
async fn an_expired_access_token_is_refused_but_still_names_its_session_for_a_refresh() {
    let app = spawn_app().await;
    let user = app.register(json!({})).await;
    let old = app
        .session_from_hours_ago(user["DeviceToken"].as_str().unwrap())
        .await;
    assert_eq!(me(&app, &token_of(&old)).await, 401);
    let renewed = app.refresh(&old).await;
    assert_eq!(me(&app, &token_of(renewed.result())).await, 200);
}

#[tokio::test]
async fn refresh_with_a_tampered_access_token_is_401_and_consumes_nothing() {
    let app = spawn_app().await;
    let user = app.register(json!({})).await;
    let token = user["AccessToken"]["Token"].as_str().unwrap();
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    let mut payload: Value =
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
    // Every descendant is dead, the newest included, and its access token with it.
    assert_eq!(app.refresh(&third).await.status, 401);
    assert_eq!(app.refresh(&second).await.status, 401);
    assert_eq!(me(&app, &token_of(&third)).await, 401);
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
