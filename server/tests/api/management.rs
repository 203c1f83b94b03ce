use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

async fn get_user(app: &TestApp, headers: &[(&str, String)]) -> Answer {
    app.send(Method::GET, "/v1/Management/users", None, headers)
        .await
}

async fn put_user(app: &TestApp, body: Value, headers: &[(&str, String)]) -> Answer {
    app.send(Method::PUT, "/v1/Management/users", Some(&body), headers)
        .await
}

#[tokio::test]
async fn a_user_reads_its_own_profile() {
    let app = spawn_app().await;
    let user = app.register(json!({"FirstName": "Ann", "Email": "ann@example.com", "UserFields": {"ClientId": "c-1"}})).await;
    let a = get_user(&app, &[bearer(&token_of(&user))]).await;
    let r = a.result();
    assert_eq!(r["DeviceToken"], user["DeviceToken"]);
    assert_eq!(r["Status"], "Active");
    assert_eq!(r["UserProfile"]["FirstName"], "Ann");
    assert_eq!(r["UserProfile"]["Email"], "ann@example.com");
    assert_eq!(r["UserFields"][0]["ClientId"], "c-1");
    assert_eq!(r["UserFields"][0]["EnableTracking"], true);
    assert_eq!(r["AccountInfo"]["InstanceId"], app.instance_id);
    assert_eq!(r["AccountInfo"]["InstanceName"], "Common");
    assert!(r["DateCreated"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn the_authorization_matrix_of_get_users() {
    let app = spawn_app().await;
    let me = app.register(json!({})).await;
    let other = app.register(json!({})).await;
    let admin = app.admin_token().await;
    let mine = bearer(&token_of(&me));
    let other_device = (
        "UserDeviceToken",
        other["DeviceToken"].as_str().unwrap().to_string(),
    );

    // Anonymous, garbage, and expired tokens: 401 with the Bearer challenge.
    let anonymous = get_user(&app, &[]).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.headers.get("www-authenticate").unwrap(), "Bearer");
    assert_eq!(get_user(&app, &[bearer("not.a.jwt")]).await.status, 401);
    let expired = app.expired_token(me["DeviceToken"].as_str().unwrap()).await;
    assert_eq!(get_user(&app, &[bearer(&expired)]).await.status, 401);

    // A user token: its own user only.
    assert_eq!(
        get_user(&app, std::slice::from_ref(&mine)).await.status,
        200
    );
    assert_eq!(
        get_user(&app, &[mine.clone(), other_device.clone()])
            .await
            .status,
        403
    );

    // An admin token: any user, named by the header, which it needs.
    let as_admin = get_user(&app, &[bearer(&admin), other_device.clone()]).await;
    assert_eq!(as_admin.result()["DeviceToken"], other["DeviceToken"]);
    let no_target = get_user(&app, &[bearer(&admin)]).await;
    assert_eq!(no_target.status, 422);
    assert_eq!(no_target.error_keys(), ["UserDeviceToken"]);
    let unknown = get_user(
        &app,
        &[
            bearer(&admin),
            ("UserDeviceToken", uuid::Uuid::new_v4().to_string()),
        ],
    )
    .await;
    assert_eq!(unknown.status, 404);

    // A deactivated user's token: 403. A deleted user's token: 401.
    let me_device = (
        "UserDeviceToken",
        me["DeviceToken"].as_str().unwrap().to_string(),
    );
    assert_eq!(
        put_user(
            &app,
            json!({"Status": "Deactivated"}),
            &[bearer(&admin), me_device.clone()]
        )
        .await
        .status,
        200
    );
    assert_eq!(
        get_user(&app, std::slice::from_ref(&mine)).await.status,
        403
    );
    let deleted = app
        .send(
            Method::DELETE,
            &format!(
                "/v1/Management/users/{}",
                me["DeviceToken"].as_str().unwrap()
            ),
            None,
            &[bearer(&admin)],
        )
        .await;
    assert_eq!(deleted.status, 200);
    assert!(
        deleted.envelope().get("Result").is_none(),
        "delete answers without Result"
    );
    assert_eq!(get_user(&app, &[mine]).await.status, 401);
}

#[tokio::test]
async fn a_flag_changed_by_put_shows_in_the_next_refreshed_token_and_in_the_audit_trail() {
    let app = spawn_app().await;
    let user = app.register(json!({})).await;
    let answer = put_user(&app, json!({"userFields": {"enableTracking": false, "EnableLogging": true}, "ClientID": "crm-9"}), &[bearer(&token_of(&user))]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer.envelope().get("Result").is_none(),
        "update answers without Result"
    );
    let refreshed = app.refresh(&user).await.result().clone();
    let claims = app.claims(&token_of(&refreshed));
    assert_eq!(claims["SdkEnableTracking"], "False");
    assert_eq!(claims["SdkEnableLogging"], "True");
    assert_eq!(claims["SdkClientId"], "crm-9");
    let audit = app
        .core
        .store()
        .audit_entries("user.updated")
        .await
        .unwrap();
    assert!(
        audit[0].detail.contains("EnableTracking: True → False"),
        "{}",
        audit[0].detail
    );
    assert!(
        audit[0].detail.contains("ClientId: (none) → crm-9"),
        "{}",
        audit[0].detail
    );
}

#[tokio::test]
async fn a_partial_update_changes_only_what_was_sent() {
    let app = spawn_app().await;
    let user = app
        .register(json!({"FirstName": "Ann", "LastName": "Lee", "City": "Riga"}))
        .await;
    let me = [bearer(&token_of(&user))];
    assert_eq!(
        put_user(&app, json!({"LastName": "Berg", "City": ""}), &me)
            .await
            .status,
        200
    );
    let profile = get_user(&app, &me).await.result()["UserProfile"].clone();
    assert_eq!(profile["FirstName"], "Ann");
    assert_eq!(profile["LastName"], "Berg");
    assert!(
        profile["City"].is_null(),
        "an empty string clears the field"
    );
}

#[tokio::test]
async fn put_reports_every_bad_field_and_changes_nothing() {
    let app = spawn_app().await;
    let user = app.register(json!({"FirstName": "Ann"})).await;
    let me = [bearer(&token_of(&user))];
    let a = put_user(&app, json!({"FirstName": "Bo", "Email": "nope", "Status": "Sleeping", "UserFields": {"Enabled": "yes"}}), &me).await;
    assert_eq!(a.status, 422);
    let a = put_user(
        &app,
        json!({"FirstName": "Bo", "Email": "nope", "Status": "Sleeping"}),
        &me,
    )
    .await;
    assert_eq!(a.status, 422);
    assert_eq!(a.error_keys(), ["Email", "Status"]);
    assert_eq!(
        get_user(&app, &me).await.result()["UserProfile"]["FirstName"],
        "Ann"
    );
}

#[tokio::test]
async fn a_deactivated_users_refresh_is_403_and_works_again_after_activation() {
    let app = spawn_app().await;
    let user = app.register(json!({})).await;
    let admin = app.admin_token().await;
    let target = (
        "UserDeviceToken",
        user["DeviceToken"].as_str().unwrap().to_string(),
    );
    put_user(
        &app,
        json!({"Status": "Deactivated"}),
        &[bearer(&admin), target.clone()],
    )
    .await
    .result_absent();
    assert_eq!(app.refresh(&user).await.status, 403);
    put_user(&app, json!({"Status": "Active"}), &[bearer(&admin), target])
        .await
        .result_absent();
    assert_eq!(
        app.refresh(&user).await.status,
        200,
        "the refused refresh consumed nothing"
    );
}

#[tokio::test]
async fn passwords_need_the_old_one_from_a_user_but_not_from_an_admin() {
    let app = spawn_app().await;
    let user = app
        .register(json!({"Email": "d@example.com", "Password": "first password"}))
        .await;
    let me = [bearer(&token_of(&user))];
    let missing = put_user(&app, json!({"NewPassword": "second password"}), &me).await;
    assert_eq!(
        (missing.status, missing.error_keys()),
        (422, vec!["OldPassword".to_string()])
    );
    let wrong = put_user(
        &app,
        json!({"NewPassword": "second password", "OldPassword": "wrong password"}),
        &me,
    )
    .await;
    assert_eq!(wrong.status, 422);
    let ok = put_user(
        &app,
        json!({"NewPassword": "second password", "OldPassword": "first password"}),
        &me,
    )
    .await;
    assert_eq!(ok.status, 200);
    let admin = app.admin_token().await;
    let target = (
        "UserDeviceToken",
        user["DeviceToken"].as_str().unwrap().to_string(),
    );
    assert_eq!(
        put_user(
            &app,
            json!({"NewPassword": "third password"}),
            &[bearer(&admin), target]
        )
        .await
        .status,
        200
    );
    let login = json!({"LoginFields": {"Email": "d@example.com"}, "Password": "third password"});
    assert_eq!(
        app.post(
            "/v1/Auth/Login",
            &login,
            &[("InstanceId", app.instance_id.clone())]
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn only_an_admin_deletes_and_deleting_removes_every_token() {
    let app = spawn_app().await;
    let user = app.register(json!({})).await;
    let device = user["DeviceToken"].as_str().unwrap();
    let path = format!("/v1/Management/users/{device}");
    assert_eq!(
        app.send(Method::DELETE, &path, None, &[bearer(&token_of(&user))])
            .await
            .status,
        403
    );
    let admin = app.admin_token().await;
    let upper = format!(
        "/v1/management/users/{}",
        device.to_uppercase().replace('-', "")
    );
    assert_eq!(
        app.send(Method::DELETE, &upper, None, &[bearer(&admin)])
            .await
            .status,
        200
    );
    assert_eq!(
        app.send(Method::DELETE, &path, None, &[bearer(&admin)])
            .await
            .status,
        404
    );
    assert_eq!(
        app.refresh(&user).await.status,
        401,
        "its refresh tokens are gone"
    );
    assert_eq!(
        app.core
            .store()
            .audit_entries("user.deleted")
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn status_deleted_in_put_deletes_the_user() {
    let app = spawn_app().await;
    let user = app.register(json!({})).await;
    let admin = app.admin_token().await;
    let target = (
        "UserDeviceToken",
        user["DeviceToken"].as_str().unwrap().to_string(),
    );
    assert_eq!(
        put_user(
            &app,
            json!({"Status": "Deleted"}),
            &[bearer(&admin), target.clone()]
        )
        .await
        .status,
        200
    );
    assert_eq!(get_user(&app, &[bearer(&admin), target]).await.status, 404);
}

async fn check(app: &TestApp, query: &str) -> Answer {
    let path = format!("/v1/Check/UserExists?{query}");
    app.send(Method::GET, &path, None, &app.instance_headers())
        .await
}

#[tokio::test]
async fn user_exists_checks_within_the_instance() {
    let app = spawn_app().await;
    app.register(json!({"FirstName": "Ann", "Email": "ann@example.com", "Phone": "+1 555 0100", "UserFields": {"ClientId": "c-7"}})).await;
    let found = check(&app, "email=ANN@example.com").await;
    assert_eq!(found.result()["UserExists"], true);
    assert_eq!(found.result()["FirstName"], "Ann");
    assert_eq!(
        check(&app, "Phone=%2B15550100").await.result()["UserExists"],
        true
    );
    assert_eq!(
        check(&app, "ClientId=c-7&Email=ann@example.com")
            .await
            .result()["UserExists"],
        true
    );
    assert_eq!(
        check(&app, "ClientId=c-7&Email=bob@example.com")
            .await
            .result()["UserExists"],
        false
    );
    assert_eq!(
        check(&app, "Email=bob@example.com").await.result()["UserExists"],
        false
    );
    assert_eq!(check(&app, "").await.status, 422);
    assert_eq!(check(&app, "Email=nope").await.error_keys(), ["Email"]);
    assert_eq!(
        app.send(
            Method::GET,
            "/v1/check/userexists?Email=ann@example.com",
            None,
            &[]
        )
        .await
        .status,
        401
    );
}

async fn second_instance(app: &TestApp) -> Value {
    let admin = app.admin_token().await;
    let common = app
        .send(
            Method::GET,
            &format!("/v1/Instances/{}", app.instance_id),
            None,
            &[bearer(&admin)],
        )
        .await;
    let app_id = common.result()["AppId"].as_str().unwrap().to_string();
    let body = json!({"Name": "Second"});
    app.send(
        Method::POST,
        &format!("/v1/applications/{app_id}/instances"),
        Some(&body),
        &[bearer(&admin)],
    )
    .await
    .result()
    .clone()
}

#[tokio::test]
async fn an_admin_moves_a_user_with_the_target_instances_key() {
    let app = spawn_app().await;
    let user = app.register(json!({})).await;
    let second = second_instance(&app).await;
    let admin = app.admin_token().await;
    let path = "/v1/Management/users/instances/change";
    let wrong_key = json!({"DeviceToken": user["DeviceToken"], "ToInstanceId": second["Id"], "ToInstanceKey": uuid::Uuid::new_v4().to_string()});
    let refused = app
        .send(Method::POST, path, Some(&wrong_key), &[bearer(&admin)])
        .await;
    assert_eq!(
        (refused.status, refused.error_keys()),
        (422, vec!["ToInstanceKey".to_string()])
    );
    let as_user = app
        .send(
            Method::POST,
            path,
            Some(&wrong_key),
            &[bearer(&token_of(&user))],
        )
        .await;
    assert_eq!(as_user.status, 403);
    let body = json!({"deviceToken": user["DeviceToken"], "toInstanceId": second["Id"], "Toinstancekey": second["Key"]});
    app.send(Method::POST, path, Some(&body), &[bearer(&admin)])
        .await
        .result_absent();
    let claims = app.claims(&token_of(app.refresh(&user).await.result()));
    assert_eq!(
        claims["InstanceId"], second["Id"],
        "the next token names the new instance"
    );
    assert_eq!(
        app.core
            .store()
            .audit_entries("user.moved")
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_user_joins_an_instance_by_invite_code() {
    let app = spawn_app().await;
    let user = app.register(json!({})).await;
    let second = second_instance(&app).await;
    let code = second["InviteCode"].as_str().unwrap().to_lowercase();
    let me = [bearer(&token_of(&user))];
    let joined = app
        .send(
            Method::POST,
            &format!("/v1/Management/users/instances/change/{code}"),
            None,
            &me,
        )
        .await;
    assert_eq!(joined.result()["InstanceName"], "Second");
    let unknown = app
        .send(
            Method::POST,
            "/v1/Management/users/instances/change/ZZZZ2222",
            None,
            &me,
        )
        .await;
    assert_eq!(unknown.status, 404);
    let view = app
        .send(Method::GET, "/v1/Management/users", None, &me)
        .await;
    assert_eq!(view.result()["AccountInfo"]["InstanceId"], second["Id"]);
}

#[tokio::test]
async fn find_matches_every_filter_given_and_needs_an_admin() {
    let app = spawn_app().await;
    let ann = app.register(json!({"FirstName": "Mary Ann", "LastName": "Lee", "Email": "ann@example.com", "Country": "Latvia", "UserFields": {"ClientId": "c-1"}})).await;
    app.register(json!({"FirstName": "Bob", "LastName": "Lee", "Country": "Latvia"}))
        .await;
    app.register(json!({"FirstName": "Cy", "LastName": "Lee", "Status": "Deactivated"}))
        .await;
    let admin = [bearer(&app.admin_token().await)];
    let find = |q: &'static str| {
        let app = &app;
        let admin = admin.clone();
        async move {
            app.send(
                Method::GET,
                &format!("/v1/Management/users/find?{q}"),
                None,
                &admin,
            )
            .await
        }
    };
    let names = |a: &Answer| -> Vec<String> {
        a.result()
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["UserProfile"]["FirstName"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(&find("LastName=lee").await),
        ["Bob", "Mary Ann"],
        "newest first, active only"
    );
    assert_eq!(
        names(&find("lastName=LEE&ShowInactiveUsers=true").await),
        ["Cy", "Bob", "Mary Ann"]
    );
    assert_eq!(
        names(&find("LastName=Lee&Country=latvia&FirstName=bob").await),
        ["Bob"]
    );
    assert_eq!(
        names(&find("FullName=Mary%20Ann%20Lee").await),
        ["Mary Ann"]
    );
    assert_eq!(names(&find("Email=ANN@example.com").await), ["Mary Ann"]);
    assert_eq!(
        names(&find("ClientId=c-1&LastName=Lee").await),
        ["Mary Ann"]
    );
    let by_token = find_by_token(&app, &admin, ann["DeviceToken"].as_str().unwrap()).await;
    assert_eq!(by_token.result()[0]["DeviceToken"], ann["DeviceToken"]);
    assert_eq!(
        by_token.result()[0]["AccountInfo"]["InstanceName"],
        "Common"
    );
    assert!(names(&find("FirstName=Nobody").await).is_empty());
    assert_eq!(find("").await.status, 422);
    assert_eq!(find("Email=nope").await.error_keys(), ["Email"]);
    assert_eq!(find("FullName=Cher").await.error_keys(), ["FullName"]);
    let as_user = app
        .send(
            Method::GET,
            "/v1/Management/users/find?LastName=Lee",
            None,
            &[bearer(&token_of(&ann))],
        )
        .await;
    assert_eq!(as_user.status, 403);
}

async fn find_by_token(app: &TestApp, admin: &[(&'static str, String)], token: &str) -> Answer {
    let path = format!(
        "/v1/Management/users/find?DeviceToken={}",
        token.to_uppercase()
    );
    app.send(Method::GET, &path, None, admin).await
}

#[tokio::test]
async fn get_filtered_page_pages_searches_and_refuses_bad_input() {
    let app = spawn_app().await;
    for (first, last) in [("Ann", "Lee"), ("Bob", "Lee"), ("Cy", "Moss"), ("Di", "Ng")] {
        app.register(json!({"FirstName": first, "LastName": last, "Email": format!("{}@example.com", first.to_lowercase())}))
            .await;
    }
    app.register(json!({"FirstName": "Ed", "LastName": "Lee", "Status": "Deactivated"}))
        .await;
    app.register(
        json!({"FirstName": "Fay", "Country": "Latvia", "City": "Riga", "Status": "Deactivated"}),
    )
    .await;
    let admin = [bearer(&app.admin_token().await)];
    let page = |body: Value| {
        let app = &app;
        let admin = admin.clone();
        async move {
            app.post_raw(
                "/v1/management/users/getfilteredpage",
                body.to_string(),
                Some("application/json-patch+json"),
                &admin,
            )
            .await
        }
    };
    let first_names = |a: &Answer| -> Vec<String> {
        a.result()["Users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["UserProfile"]["FirstName"].as_str().unwrap().to_string())
            .collect()
    };

    let first = page(json!({"pageNumber": 1, "PAGESIZE": 3})).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(
        first_names(&first),
        ["Di", "Cy", "Bob"],
        "newest first, active only"
    );
    let r = first.result();
    assert_eq!(r["TotalUsers"], 4);
    assert_eq!(r["TotalPages"], 2);
    assert_eq!(r["CurrentPage"], 1);
    assert_eq!(r["HasNextPage"], true);
    assert_eq!(r["HasPreviousPage"], false);
    assert_eq!(r["TotalUsersExact"], true);
    assert_eq!(r["Users"][0]["AccountInfo"]["InstanceName"], "Common");
    assert!(r["Users"][0]["UserFields"].is_array());

    let second = page(json!({"PageNumber": 2, "PageSize": 3})).await;
    assert_eq!(first_names(&second), ["Ann"]);
    assert_eq!(second.result()["HasNextPage"], false);
    assert_eq!(second.result()["HasPreviousPage"], true);

    let search =
        page(json!({"SearchTerm": "lee", "Sort": "FirstNameDesc", "ShowInactiveUsers": true}))
            .await;
    assert_eq!(first_names(&search), ["Ed", "Bob", "Ann"]);
    let in_common = page(
        json!({"InstanceIds": [app.instance_id], "Sort": "email", "DateCreatedFrom": "2020-01-01"}),
    )
    .await;
    assert_eq!(first_names(&in_common), ["Ann", "Bob", "Cy", "Di"]);
    let elsewhere = page(json!({"InstanceIds": [uuid::Uuid::new_v4()]})).await;
    assert_eq!(elsewhere.result()["TotalUsers"], 0);
    assert_eq!(
        first_names(&page(json!({})).await).len(),
        4,
        "an empty body takes the defaults"
    );

    let place = page(json!({"Country": "LATVIA", "City": "riga", "ShowInactiveUsers": true})).await;
    assert_eq!(first_names(&place), ["Fay"]);
    assert_eq!(place.result()["TotalUsers"], 1);

    let bad =
        page(json!({"PageNumber": 0, "PageSize": 501, "Sort": "Shoe", "InstanceIds": ["x"]})).await;
    assert_eq!(bad.status, 422);
    assert_eq!(
        bad.error_keys(),
        ["PageNumber", "PageSize", "Sort", "InstanceIds[0]"]
    );
    let typed = page(json!({"PageSize": "ten"})).await;
    assert_eq!(typed.status, 422);
    assert_eq!(typed.error_keys(), ["PageSize"]);
}
