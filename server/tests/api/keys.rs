//! Signing keys over HTTP: a back end verifies our tokens with the published JWKS and a
//! standard JWT library (`jsonwebtoken`'s `JwkSet`), nothing of ours; rotation keeps old
//! tokens working; HS256 publishes nothing.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, DecodingKey, Validation};
use serde_json::{json, Value};
use tus_core::keys::KeyAlgorithm;

use crate::helpers::*;

/// What a verifying back end does: fetch the JWKS, pick the token's key, check it.
async fn verify_like_a_back_end(app: &TestApp, token: &str) -> Result<Value, String> {
    let res = reqwest::get(format!("{}/.well-known/jwks.json", app.base))
        .await
        .map_err(|e| e.to_string())?;
    let set: JwkSet = res.json().await.map_err(|e| e.to_string())?;
    let header = decode_header(token).map_err(|e| e.to_string())?;
    let jwk = set
        .find(header.kid.as_deref().unwrap_or_default())
        .ok_or("the token's kid is not published")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&["tus"]);
    validation.set_issuer(&["webApi"]);
    decode::<Value>(token, &key, &validation)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn es256_and_eddsa_tokens_verify_with_the_published_keys_and_survive_a_rotation() {
    for algorithm in [KeyAlgorithm::Es256, KeyAlgorithm::EdDsa] {
        let app = spawn_app_with(|c| c.jwt_algorithm = algorithm).await;
        let user = app.register(json!({})).await;
        let token = token_of(&user);
        let claims = verify_like_a_back_end(&app, &token).await.unwrap();
        assert_eq!(claims["DeviceToken"], user["DeviceToken"]);

        let res = reqwest::get(format!("{}/.well-known/jwks.json", app.base))
            .await
            .unwrap();
        let cache = res.headers()["cache-control"].to_str().unwrap().to_string();
        assert!(cache.contains("max-age=300"), "{cache}");
        let body = res.text().await.unwrap();
        assert!(
            !body.contains("\"d\""),
            "no private part is published: {body}"
        );

        // Rotated at once: new tokens name the new key, the old token still works here
        // and at the back end, and refreshes into a token of the new key.
        let old_kid = decode_header(&token).unwrap().kid.unwrap();
        let new_kid = app
            .core
            .rotate_signing_key(
                tus_core::Core::now(),
                None,
                chrono::Duration::zero(),
                "test",
                &Default::default(),
            )
            .await
            .unwrap();
        assert_ne!(old_kid, new_kid);
        verify_like_a_back_end(&app, &token).await.unwrap();
        let me = app
            .send(
                reqwest::Method::GET,
                "/v1/Management/users",
                None,
                &[bearer(&token)],
            )
            .await;
        assert_eq!(me.status, 200, "{}", me.body);
        let refreshed = app.refresh(&user).await;
        let fresh = refreshed.result()["AccessToken"]["Token"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            decode_header(&fresh).unwrap().kid.as_deref(),
            Some(new_kid.as_str())
        );
        verify_like_a_back_end(&app, &fresh).await.unwrap();
        // The Signing keys page counts each key's unexpired tokens.
        let admin = tus_core::principal::Principal::unscoped_admin(
            "t",
            "t@localhost",
            tus_wire::views::Role::Owner,
        );
        let live: Vec<(String, i64)> = app
            .core
            .signing_key_views(&admin, tus_core::Core::now())
            .await
            .unwrap()
            .into_iter()
            .map(|k| (k.kid, k.live_tokens))
            .collect();
        assert!(live.contains(&(old_kid.clone(), 1)), "{live:?}");
        assert!(live.contains(&(new_kid.clone(), 1)), "{live:?}");
        let later = tus_core::Core::now() + chrono::Duration::hours(3);
        let expired = app.core.signing_key_views(&admin, later).await.unwrap();
        assert!(expired.iter().all(|k| k.live_tokens == 0), "{expired:?}");
    }
}

#[tokio::test]
async fn hs256_publishes_no_key_and_the_discovery_document_says_what_is_supported() {
    let app = spawn_app().await;
    let jwks: Value = reqwest::get(format!("{}/.well-known/jwks.json", app.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks, json!({ "keys": [] }));
    let doc: Value = reqwest::get(format!("{}/.well-known/openid-configuration", app.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], "webApi");
    assert_eq!(
        doc["jwks_uri"],
        format!("{}/.well-known/jwks.json", app.base)
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["HS256"])
    );
}

#[tokio::test]
async fn a_token_whose_header_switches_the_algorithm_or_names_an_unknown_key_is_refused() {
    let app = spawn_app_with(|c| c.jwt_algorithm = KeyAlgorithm::Es256).await;
    let user = app.register(json!({})).await;
    let token = token_of(&user);
    let parts: Vec<&str> = token.split('.').collect();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let kid = decode_header(&token).unwrap().kid.unwrap();
    for header in [
        json!({ "alg": "HS256", "typ": "JWT", "kid": kid }),
        json!({ "alg": "ES256", "typ": "JWT", "kid": "es256-ffffffffffffffff" }),
        json!({ "alg": "none", "typ": "JWT", "kid": kid }),
    ] {
        let forged = format!(
            "{}.{}.{}",
            b64.encode(header.to_string()),
            parts[1],
            parts[2]
        );
        let answer = app
            .send(
                reqwest::Method::GET,
                "/v1/Management/users",
                None,
                &[bearer(&forged)],
            )
            .await;
        assert_eq!(answer.status, 401, "{header}");
    }
}

#[tokio::test]
async fn only_an_admin_from_the_dashboard_lists_or_rotates_the_keys() {
    use crate::dashboard::{call, origin};
    let app = spawn_app().await;
    let user = app.register(json!({})).await;
    let before = app.core.store().signing_keys().await.unwrap().len();
    for (headers, status) in [
        (vec![origin(&app)], 401),
        (vec![bearer(&token_of(&user))], 403),
    ] {
        let rotated = call(
            &app,
            "rotate_signing_key",
            json!({ "lead_minutes": 0 }),
            &headers,
        )
        .await;
        assert_eq!(rotated.status, status);
        let listed = call(&app, "signing_keys", json!({}), &headers).await;
        assert_eq!(listed.status, status);
    }
    let admin = app.admin_token().await;
    let bad = call(
        &app,
        "rotate_signing_key",
        json!({ "lead_minutes": -5 }),
        &[bearer(&admin)],
    )
    .await;
    assert_eq!(bad.status, 422);
    assert_eq!(
        app.core.store().signing_keys().await.unwrap().len(),
        before,
        "nothing rotated"
    );
    let rotated = call(
        &app,
        "rotate_signing_key",
        json!({ "lead_minutes": 0 }),
        &[bearer(&admin)],
    )
    .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let listed = call(&app, "signing_keys", json!({}), &[bearer(&admin)]).await;
    let states: Vec<&str> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    assert_eq!(states.iter().filter(|s| **s == "current").count(), 1);
    assert!(
        !listed.body.to_string().contains("sealed"),
        "{}",
        listed.body
    );
    // The admin's token, signed by the retired key, still works.
    assert_eq!(
        call(&app, "signing_keys", json!({}), &[bearer(&admin)])
            .await
            .status,
        200
    );
}
