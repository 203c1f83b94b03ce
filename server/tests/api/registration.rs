use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn create_with_an_empty_body_returns_a_device_token_and_a_verifiable_jwt() {
    let app = spawn_app().await;
    let a = app
        .post_instance("/v1/Registration/Create", &json!({}))
        .await;
    let r = a.result();
    assert_eq!(a.body["Title"], "");
    assert_eq!(a.body["Errors"], json!([]));
    let device = r["DeviceToken"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(device).is_ok());
    assert_eq!(r["AccessToken"]["ExpiresIn"], 7200);
    assert_eq!(r["RefreshToken"].as_str().unwrap().len(), 44);
    let claims = app.claims(r["AccessToken"]["Token"].as_str().unwrap());
    assert_eq!(claims["sub"], device);
    assert_eq!(claims["DeviceToken"], device);
    assert_eq!(claims["InstanceId"], app.instance_id);
    assert_eq!(claims["SdkEnableTracking"], "True");
    assert_eq!(claims["SdkEnableLogging"], "False");
    assert_eq!(claims["SdkEnableRealTimeLocation"], "False");
    assert_eq!(claims["role"], "User");
    assert!(claims.get("InstanceKey").is_none() && claims.get("RefreshToken").is_none());
}

#[tokio::test]
async fn create_accepts_lower_case_paths_and_camel_case_keys() {
    let app = spawn_app().await;
    for path in [
        "/v1/registration/create",
        "/V1/REGISTRATION/CREATE",
        "/v1/Registration/create/",
    ] {
        let body =
            json!({"firstName": "Ann", "userFields": {"EnableLogging": true, "clientID": "crm-1"}});
        let r = app.post_instance(path, &body).await.result().clone();
        let claims = app.claims(r["AccessToken"]["Token"].as_str().unwrap());
        assert_eq!(claims["SdkEnableLogging"], "True", "{path}");
        assert_eq!(claims["SdkClientId"], "crm-1", "{path}");
    }
}

#[tokio::test]
async fn create_accepts_every_json_content_type_clients_send() {
    let app = spawn_app().await;
    for ct in [
        Some("application/json"),
        Some("text/json"),
        Some("application/json-patch+json"),
        None,
    ] {
        let a = app
            .post_raw("/v1/Registration/Create", "{}", ct, &app.instance_headers())
            .await;
        assert_eq!(a.status, 200, "{ct:?}: {}", a.body);
    }
}

#[tokio::test]
async fn create_without_access_token_returns_nulls() {
    let app = spawn_app().await;
    let r = app.register(json!({"CreateAccessToken": false})).await;
    assert!(r["DeviceToken"].is_string());
    assert!(r["AccessToken"].is_null() && r["RefreshToken"].is_null());
}

#[tokio::test]
async fn create_reports_one_bad_field() {
    let app = spawn_app().await;
    let a = app
        .post_instance("/v1/Registration/Create", &json!({"Email": "not-an-email"}))
        .await;
    assert_eq!(a.status, 422);
    assert_eq!(
        a.envelope()["Title"],
        "One or more validation errors occurred."
    );
    assert_eq!(a.error_keys(), ["Email"]);
}

#[tokio::test]
async fn create_reports_every_bad_field_at_once_and_creates_nothing() {
    let app = spawn_app().await;
    let body = json!({
        "CustomToken": "x", "Email": "no", "Phone": "abc", "Gender": "Robot", "Birthday": "soon",
        "Status": "Deleted", "ChildrenCount": 500, "ImageUrl": "javascript:alert(1)",
        "LastName": "y".repeat(257), "UserFields": {"ClientId": "z".repeat(300)},
    });
    let a = app.post_instance("/v1/Registration/Create", &body).await;
    assert_eq!(a.status, 422, "{}", a.body);
    let keys = a.error_keys();
    for key in [
        "CustomToken",
        "Email",
        "Phone",
        "Gender",
        "Birthday",
        "Status",
        "ChildrenCount",
        "ImageUrl",
        "LastName",
        "UserFields.ClientId",
    ] {
        assert!(
            keys.contains(&key.to_string()),
            "{key} missing from {keys:?}"
        );
    }
    assert_eq!(
        app.core.list_instances(&owner()).await.unwrap()[0].user_count,
        0
    );
}

#[tokio::test]
async fn create_reports_a_wrongly_typed_field_by_name() {
    let app = spawn_app().await;
    let a = app
        .post_instance(
            "/v1/Registration/Create",
            &json!({"userFields": {"enableTracking": "yes"}}),
        )
        .await;
    assert_eq!(a.status, 422);
    assert_eq!(a.error_keys(), ["UserFields.EnableTracking"]);
}

#[tokio::test]
async fn create_with_a_taken_custom_token_is_409() {
    let app = spawn_app().await;
    let token = uuid::Uuid::new_v4();
    let first = app
        .register(json!({"CustomToken": token.to_string()}))
        .await;
    assert_eq!(first["DeviceToken"], token.to_string());
    // Same UUID, other spelling: still the same token.
    let loud = token.simple().to_string().to_uppercase();
    let a = app
        .post_instance("/v1/Registration/Create", &json!({"CustomToken": loud}))
        .await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(a.error_keys(), ["CustomToken"]);
}

#[tokio::test]
async fn create_with_a_taken_email_is_409() {
    let app = spawn_app().await;
    app.register(json!({"Email": "ann@example.com"})).await;
    let a = app
        .post_instance(
            "/v1/Registration/Create",
            &json!({"Email": "ANN@example.com"}),
        )
        .await;
    assert_eq!(a.status, 409);
    assert_eq!(a.error_keys(), ["Email"]);
}

#[tokio::test]
async fn create_with_an_invite_code_registers_into_that_instance() {
    let app = spawn_app().await;
    let a = app
        .post_instance(
            "/v1/Registration/Create",
            &json!({"InstanceInviteCode": app.invite_code.to_lowercase()}),
        )
        .await;
    let claims = app.claims(a.result()["AccessToken"]["Token"].as_str().unwrap());
    assert_eq!(claims["InstanceId"], app.instance_id);
    let unknown = app
        .post_instance(
            "/v1/Registration/Create",
            &json!({"InstanceInviteCode": "ZZZZ2222"}),
        )
        .await;
    assert_eq!(unknown.status, 404);
    unknown.envelope();
}

#[tokio::test]
async fn create_many_registers_the_quantity_in_one_batch() {
    let app = spawn_app().await;
    let body = json!({"Quantity": 25, "CustomFields": {"EnableTracking": false, "EnableRealTimeLocation": true}});
    let a = app
        .post_instance("/v1/Registration/CreateMany", &body)
        .await;
    let r = a.result();
    let results = r["Results"].as_array().unwrap();
    assert_eq!(results.len(), 25);
    assert!(uuid::Uuid::parse_str(r["BatchId"].as_str().unwrap()).is_ok());
    let claims = app.claims(results[24]["AccessToken"]["Token"].as_str().unwrap());
    assert_eq!(claims["SdkEnableTracking"], "False");
    assert_eq!(claims["SdkEnableRealTimeLocation"], "True");
    // Every refresh token of the batch works.
    assert_eq!(app.refresh(&results[0]).await.status, 200);
}

#[tokio::test]
async fn create_many_quantity_is_checked_against_the_maximum() {
    let app = spawn_app_with(|c| c.max_batch = 40).await;
    for (quantity, status) in [(0, 422), (-3, 422), (41, 422), (40, 200)] {
        let a = app
            .post_instance(
                "/v1/Registration/CreateMany",
                &json!({"Quantity": quantity}),
            )
            .await;
        assert_eq!(a.status, status, "Quantity {quantity}: {}", a.body);
        if status == 422 {
            assert_eq!(a.error_keys(), ["Quantity"]);
            assert!(
                a.body["Errors"][0]["Message"]
                    .as_str()
                    .unwrap()
                    .contains("40"),
                "names the maximum"
            );
        }
    }
    let missing = app
        .post_instance("/v1/Registration/CreateMany", &json!({}))
        .await;
    assert_eq!(missing.status, 422);
    assert_eq!(
        app.core.list_instances(&owner()).await.unwrap()[0].user_count,
        40
    );
}

#[tokio::test]
async fn create_many_without_tokens_returns_device_tokens_only() {
    let app = spawn_app().await;
    let a = app
        .post_instance(
            "/v1/registration/createmany",
            &json!({"quantity": 3, "createAccessToken": false}),
        )
        .await;
    for item in a.result()["Results"].as_array().unwrap() {
        assert!(
            item["DeviceToken"].is_string()
                && item["AccessToken"].is_null()
                && item["RefreshToken"].is_null()
        );
    }
}

#[tokio::test]
async fn create_many_at_the_default_maximum_answers_10000_users() {
    let app = spawn_app().await;
    let a = app
        .post_instance("/v1/Registration/CreateMany", &json!({"Quantity": 10000}))
        .await;
    assert_eq!(a.result()["Results"].as_array().unwrap().len(), 10000);
    let over = app
        .post_instance("/v1/Registration/CreateMany", &json!({"Quantity": 10001}))
        .await;
    assert_eq!(over.status, 422);
    assert!(over.body["Errors"][0]["Message"]
        .as_str()
        .unwrap()
        .contains("10000"));
}

/// Makes the database refuse the 1,500th user of any batch, so a CreateMany fails midway.
async fn fail_batches_at_user_1500(app: &TestApp) {
    use sqlx::Connection;
    if app.db.backend() == "postgres" {
        let mut c = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
        sqlx::query(
            "CREATE FUNCTION fail_batch() RETURNS trigger AS $$ BEGIN
               IF NEW.batch_id IS NOT NULL AND (SELECT COUNT(*) FROM users WHERE batch_id = NEW.batch_id) >= 1499
               THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
        )
        .execute(&mut c)
        .await
        .unwrap();
        sqlx::query("CREATE TRIGGER fail_batch BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION fail_batch()")
            .execute(&mut c)
            .await
            .unwrap();
    } else {
        let mut c = sqlx::SqliteConnection::connect(&app.db.url).await.unwrap();
        sqlx::query(
            "CREATE TRIGGER fail_batch BEFORE INSERT ON users
             WHEN NEW.batch_id IS NOT NULL AND (SELECT COUNT(*) FROM users WHERE batch_id = NEW.batch_id) >= 1499
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
        )
        .execute(&mut c)
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn a_create_many_that_fails_midway_leaves_nothing_behind() {
    let app = spawn_app().await;
    fail_batches_at_user_1500(&app).await;
    let a = app
        .post_instance("/v1/Registration/CreateMany", &json!({"Quantity": 3000}))
        .await;
    assert_eq!(a.status, 500);
    let body = a.envelope().to_string();
    assert!(
        !body.contains("injected") && !body.to_lowercase().contains("sql"),
        "no internals leak: {body}"
    );
    assert_eq!(
        app.core.list_instances(&owner()).await.unwrap()[0].user_count,
        0,
        "no user of the batch remains"
    );
    // Smaller batches (under the injected limit) still work.
    assert_eq!(
        app.post_instance("/v1/Registration/CreateMany", &json!({"Quantity": 10}))
            .await
            .status,
        200
    );
}
