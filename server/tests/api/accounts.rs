use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

async fn admin_call(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Answer {
    let token = app.admin_token().await;
    app.send(method, path, body.as_ref(), &[bearer(&token)])
        .await
}

fn creds(instance: &Value) -> Vec<(&'static str, String)> {
    vec![
        ("InstanceId", instance["Id"].as_str().unwrap().to_string()),
        ("InstanceKey", instance["Key"].as_str().unwrap().to_string()),
    ]
}

#[tokio::test]
async fn instance_routes_need_an_admin_token() {
    let app = spawn_app().await;
    let path = format!("/v1/Instances/{}", app.instance_id);
    assert_eq!(app.send(Method::GET, &path, None, &[]).await.status, 401);
    let user = app.register(json!({})).await;
    let as_user = app
        .send(
            Method::GET,
            &path,
            None,
            &[bearer(user["AccessToken"]["Token"].as_str().unwrap())],
        )
        .await;
    assert_eq!(as_user.status, 403);
    let as_admin = admin_call(&app, Method::GET, &path, None).await;
    let r = as_admin.result();
    assert_eq!(r["Id"], app.instance_id);
    assert_eq!(r["Key"], app.instance_key);
    assert_eq!(r["Name"], "Common");
    assert_eq!(r["InviteCode"], app.invite_code);
    assert_eq!(r["AppName"], "Default");
}

#[tokio::test]
async fn applications_are_listed_created_and_read_with_their_instances() {
    let app = spawn_app().await;
    let common = admin_call(
        &app,
        Method::GET,
        &format!("/v1/Instances/{}", app.instance_id),
        None,
    )
    .await
    .result()
    .clone();
    let company = common["CompanyId"].as_str().unwrap();
    let list = admin_call(
        &app,
        Method::GET,
        &format!("/v1/companies/{company}/applications"),
        None,
    )
    .await;
    assert_eq!(list.result()[0]["Name"], "Default");
    let wrong = admin_call(
        &app,
        Method::GET,
        &format!("/v1/companies/{}/applications", uuid::Uuid::new_v4()),
        None,
    )
    .await;
    assert_eq!(wrong.status, 404);

    let body = json!({"name": "Fleet app", "description": "trucks", "createDefaultGroup": true});
    let created = admin_call(
        &app,
        Method::POST,
        &format!("/v1/companies/{company}/applications"),
        Some(body),
    )
    .await;
    let created = created.result().clone();
    assert_eq!(created["Name"], "Fleet app");
    assert_eq!(created["Instances"][0]["Name"], "Common");
    let read = admin_call(
        &app,
        Method::GET,
        &format!(
            "/v1/Applications/{}?includeInstances=true",
            created["Id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(read.result()["Instances"].as_array().unwrap().len(), 1);
    let missing_name = admin_call(
        &app,
        Method::POST,
        &format!("/v1/companies/{company}/applications"),
        Some(json!({})),
    )
    .await;
    assert_eq!(missing_name.error_keys(), ["Name"]);
}

#[tokio::test]
async fn a_new_instance_registers_users_and_is_found_by_its_invite_code() {
    let app = spawn_app().await;
    let common = admin_call(
        &app,
        Method::GET,
        &format!("/v1/Instances/{}", app.instance_id),
        None,
    )
    .await
    .result()
    .clone();
    let app_id = common["AppId"].as_str().unwrap().to_string();
    let created = admin_call(
        &app,
        Method::POST,
        &format!("/v1/applications/{app_id}/instances"),
        Some(json!({"name": "Vans", "description": "city"})),
    )
    .await
    .result()
    .clone();
    assert_eq!(created["Status"], "Active");
    let a = app
        .post("/v1/Registration/Create", &json!({}), &creds(&created))
        .await;
    let claims = app.claims(a.result()["AccessToken"]["Token"].as_str().unwrap());
    assert_eq!(claims["InstanceId"], created["Id"]);
    let code = created["InviteCode"].as_str().unwrap().to_lowercase();
    let by_code = admin_call(
        &app,
        Method::GET,
        &format!("/v1/applications/{app_id}/instances/{code}"),
        None,
    )
    .await;
    assert_eq!(by_code.result()["Id"], created["Id"]);
    let list = admin_call(
        &app,
        Method::GET,
        &format!("/v1/applications/{app_id}/instances"),
        None,
    )
    .await;
    assert_eq!(list.result().as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_deactivated_instance_refuses_registration_and_hides_from_the_default_list() {
    let app = spawn_app().await;
    let path = format!("/v1/Instances/{}?Name=Renamed&Status=2", app.instance_id);
    let patched = admin_call(&app, Method::PATCH, &path, None).await;
    assert_eq!(patched.result()["Status"], "Deactivated");
    assert_eq!(patched.result()["Name"], "Renamed");
    assert_eq!(
        app.post_instance("/v1/Registration/Create", &json!({}))
            .await
            .status,
        403
    );
    let app_id = patched.result()["AppId"].as_str().unwrap().to_string();
    let list = admin_call(
        &app,
        Method::GET,
        &format!("/v1/applications/{app_id}/instances"),
        None,
    )
    .await;
    assert_eq!(list.result().as_array().unwrap().len(), 0);
    let all = admin_call(
        &app,
        Method::GET,
        &format!("/v1/applications/{app_id}/instances?includeDeactivated=true"),
        None,
    )
    .await;
    assert_eq!(all.result().as_array().unwrap().len(), 1);
    let back = admin_call(
        &app,
        Method::PATCH,
        &format!("/v1/Instances/{}", app.instance_id),
        Some(json!({"Status": "Active"})),
    )
    .await;
    assert_eq!(back.result()["Status"], "Active");
    let bad = admin_call(
        &app,
        Method::PATCH,
        &format!("/v1/Instances/{}", app.instance_id),
        Some(json!({"Status": 7, "Name": ""})),
    )
    .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.error_keys(), ["Name", "Status"]);
}

#[tokio::test]
async fn after_key_rotation_the_old_key_gets_401_and_the_new_one_works() {
    let app = spawn_app().await;
    let user = app.register(json!({})).await;
    let rotated = admin_call(
        &app,
        Method::POST,
        &format!("/v1/Instances/{}/RotateKey", app.instance_id),
        None,
    )
    .await
    .result()
    .clone();
    assert_ne!(rotated["Key"], app.instance_key);
    assert_eq!(
        app.post_instance("/v1/Registration/Create", &json!({}))
            .await
            .status,
        401
    );
    assert_eq!(
        app.post("/v1/Registration/Create", &json!({}), &creds(&rotated))
            .await
            .status,
        200
    );
    let header = [("InstanceId", app.instance_id.clone())];
    let old_login =
        json!({"LoginFields": {"DeviceToken": user["DeviceToken"]}, "Password": app.instance_key});
    assert_eq!(
        app.post("/v1/Auth/Login", &old_login, &header).await.status,
        401
    );
    let new_login =
        json!({"LoginFields": {"DeviceToken": user["DeviceToken"]}, "Password": rotated["Key"]});
    assert_eq!(
        app.post("/v1/Auth/Login", &new_login, &header).await.status,
        200
    );
    assert_eq!(
        app.core
            .store()
            .audit_entries("instance.key_rotated")
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_regenerated_invite_code_replaces_the_old_one() {
    let app = spawn_app().await;
    let fresh = admin_call(
        &app,
        Method::POST,
        &format!("/v1/Instances/{}/RegenerateInviteCode", app.instance_id),
        None,
    )
    .await
    .result()
    .clone();
    assert_ne!(fresh["InviteCode"], app.invite_code);
    let old = app
        .post_instance(
            "/v1/Registration/Create",
            &json!({"InstanceInviteCode": app.invite_code}),
        )
        .await;
    assert_eq!(old.status, 404);
    let new = app
        .post_instance(
            "/v1/Registration/Create",
            &json!({"InstanceInviteCode": fresh["InviteCode"]}),
        )
        .await;
    assert_eq!(new.status, 200);
}

#[tokio::test]
async fn an_instance_with_users_cannot_be_deleted_an_empty_one_can() {
    let app = spawn_app().await;
    app.register(json!({})).await;
    let path = format!("/v1/Instances/{}", app.instance_id);
    let refused = admin_call(&app, Method::DELETE, &path, None).await;
    assert_eq!(
        refused.status, 409,
        "the instance's state refuses it: {}",
        refused.body
    );
    assert_eq!(refused.error_keys(), ["InstanceId"]);
    let common = admin_call(&app, Method::GET, &path, None)
        .await
        .result()
        .clone();
    let empty = admin_call(
        &app,
        Method::POST,
        &format!(
            "/v1/applications/{}/instances",
            common["AppId"].as_str().unwrap()
        ),
        Some(json!({"Name": "Empty"})),
    )
    .await
    .result()
    .clone();
    let empty_path = format!("/v1/Instances/{}", empty["Id"].as_str().unwrap());
    admin_call(&app, Method::DELETE, &empty_path, None)
        .await
        .result_absent();
    assert_eq!(
        admin_call(&app, Method::GET, &empty_path, None)
            .await
            .status,
        404
    );
}
