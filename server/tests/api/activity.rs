//! The driver's life over REST: `MobileDevice` on registration, update, login and refresh;
//! activity statuses in the user view and `GetFilteredPage`; flags pending until the device's
//! next token.
use reqwest::Method;
use serde_json::{json, Value};
use tus_wire::views::UserListQuery;

use crate::helpers::*;

async fn user_as_admin(app: &TestApp, admin: &str, token: &str) -> Value {
    let a = app
        .send(
            Method::GET,
            "/v1/Management/users",
            None,
            &[bearer(admin), ("UserDeviceToken", token.to_string())],
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    a.result().clone()
}

async fn put_as_admin(app: &TestApp, admin: &str, token: &str, body: Value) -> Answer {
    app.send(
        Method::PUT,
        "/v1/Management/users",
        Some(&body),
        &[bearer(admin), ("UserDeviceToken", token.to_string())],
    )
    .await
}

fn device_token(user: &Value) -> String {
    user["DeviceToken"].as_str().unwrap().to_string()
}

async fn login(app: &TestApp, token: &str, extra: Value) -> Answer {
    let mut body = json!({
        "LoginFields": {"DeviceToken": token},
        "Password": app.instance_key,
    });
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    app.post_instance("/v1/Auth/Login", &body).await
}

async fn list(app: &TestApp, q: UserListQuery) -> Vec<String> {
    app.core
        .user_list(&owner(), &q)
        .await
        .unwrap()
        .rows
        .into_iter()
        .map(|r| r.device_token)
        .collect()
}

#[tokio::test]
async fn mobile_device_round_trips_through_every_call_that_takes_it_and_filters_the_list() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let old = app
        .register(json!({"MobileDevice": {
            "MobileUid": "uid-1", "DeviceModel": "Pixel 8", "OsType": "android",
            "OsVersion": "14", "SdkVersion": "4.1.0", "AppVersion": "2.0"
        }}))
        .await;
    // camelCase, as some clients send it, and the original's numeric OsType.
    let ios = app
        .register(json!({"mobileDevice": {"osType": 1, "sdkVersion": "5.0.2"}}))
        .await;
    let bare = app.register(json!({})).await;

    let v = user_as_admin(&app, &admin, &device_token(&old)).await;
    assert_eq!(
        v["MobileDevice"],
        json!({"MobileUid": "uid-1", "DeviceModel": "Pixel 8", "OsType": "Android",
               "OsVersion": "14", "SdkVersion": "4.1.0", "AppVersion": "2.0"})
    );
    let v = user_as_admin(&app, &admin, &device_token(&ios)).await;
    assert_eq!(v["MobileDevice"]["OsType"], "iOS");
    // Older clients send none: the field is null, nothing else changes.
    let v = user_as_admin(&app, &admin, &device_token(&bare)).await;
    assert_eq!(v["MobileDevice"], Value::Null);

    // An update changes only the fields it names; an empty string clears one.
    let a = put_as_admin(
        &app,
        &admin,
        &device_token(&old),
        json!({"MobileDevice": {"SdkVersion": "4.2.0", "MobileUid": ""}}),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let v = user_as_admin(&app, &admin, &device_token(&old)).await;
    assert_eq!(v["MobileDevice"]["SdkVersion"], "4.2.0");
    assert_eq!(v["MobileDevice"]["MobileUid"], Value::Null);
    assert_eq!(v["MobileDevice"]["DeviceModel"], "Pixel 8");

    // A login and a refresh report the phone as it is now.
    let a = login(
        &app,
        &device_token(&bare),
        json!({"MobileDevice": {"OsType": "iOS", "SdkVersion": "4.9.9"}}),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let session = a.result().clone();
    let body = json!({
        "AccessToken": session["AccessToken"]["Token"],
        "RefreshToken": session["RefreshToken"],
        "MobileDevice": {"AppVersion": "3.1"},
    });
    let a = app.post("/v1/Auth/RefreshToken", &body, &[]).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let v = user_as_admin(&app, &admin, &device_token(&bare)).await;
    assert_eq!(v["MobileDevice"]["SdkVersion"], "4.9.9");
    assert_eq!(v["MobileDevice"]["AppVersion"], "3.1");

    // "Who is still on SDK 4.x", and by OS.
    let mut on_4 = list(
        &app,
        UserListQuery {
            sdk_version: Some("4.".into()),
            ..Default::default()
        },
    )
    .await;
    on_4.sort();
    let mut expected = vec![device_token(&old), device_token(&bare)];
    expected.sort();
    assert_eq!(on_4, expected);
    let android = list(
        &app,
        UserListQuery {
            os: Some("Android".into()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(android, [device_token(&old)]);
    let both = list(
        &app,
        UserListQuery {
            os: Some("ios".into()),
            sdk_version: Some("4.".into()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(both, [device_token(&bare)]);
}

/// Playing the attacker: a device that is not an object, an OsType out of range, control
/// characters and oversize strings are 422s naming each field, and change nothing.
#[tokio::test]
async fn a_bad_mobile_device_is_refused_field_by_field_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let before = app.user_count().await;
    let a = app
        .post_instance(
            "/v1/Registration/Create",
            &json!({"MobileDevice": {"OsType": 7, "DeviceModel": "x\u{0}y", "AppVersion": "v".repeat(300)}}),
        )
        .await;
    assert_eq!(a.status, 422, "{:?}", a.body);
    let mut keys = a.error_keys();
    keys.sort();
    assert_eq!(
        keys,
        [
            "MobileDevice.AppVersion",
            "MobileDevice.DeviceModel",
            "MobileDevice.OsType"
        ]
    );
    assert_eq!(app.user_count().await, before);
    let a = app
        .post_instance("/v1/Registration/Create", &json!({"MobileDevice": "Pixel"}))
        .await;
    assert!(a.status == 400 || a.status == 422, "{:?}", a.body);
    assert_eq!(app.user_count().await, before);

    let user = app
        .register(json!({"MobileDevice": {"SdkVersion": "4.0"}}))
        .await;
    let a = put_as_admin(
        &app,
        &admin,
        &device_token(&user),
        json!({"FirstName": "Eve", "MobileDevice": {"OsType": {"$gt": ""}}}),
    )
    .await;
    assert_eq!(a.status, 422, "{:?}", a.body);
    assert_eq!(a.error_keys(), ["MobileDevice.OsType"]);
    let v = user_as_admin(&app, &admin, &device_token(&user)).await;
    assert_eq!(v["UserProfile"]["FirstName"], Value::Null);
    // A login with a bad device is refused before anything is checked or written.
    let a = login(
        &app,
        &device_token(&user),
        json!({"MobileDevice": {"SdkVersion": "s".repeat(1000)}}),
    )
    .await;
    assert_eq!(a.status, 422, "{:?}", a.body);
    let v = user_as_admin(&app, &admin, &device_token(&user)).await;
    assert_eq!(v["LastActivity"], Value::Null);
    assert_eq!(v["MobileDevice"]["SdkVersion"], "4.0");
}

#[tokio::test]
async fn activity_statuses_show_in_the_user_view_and_filter_get_filtered_page() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let no_data = app.register(json!({"LastName": "NoData"})).await;
    let active = app.register(json!({"LastName": "Active"})).await;
    let lost = app.register(json!({"LastName": "Lost"})).await;
    let off = app.register(json!({"LastName": "Off"})).await;
    for u in [&active, &lost] {
        assert_eq!(login(&app, &device_token(u), json!({})).await.status, 200);
    }
    // Twenty days without activity: past the 14-day window (the counters follow the row).
    app.sql(&format!(
        "UPDATE users SET last_activity_at = last_activity_at - 20 * 86400000 WHERE device_token = '{}'",
        device_token(&lost)
    ))
    .await;
    let a = put_as_admin(
        &app,
        &admin,
        &device_token(&off),
        json!({"Status": "Deactivated"}),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);

    for (u, status) in [
        (&no_data, "NoData"),
        (&active, "Active"),
        (&lost, "Lost"),
        (&off, "Deactivated"),
    ] {
        let v = user_as_admin(&app, &admin, &device_token(u)).await;
        assert_eq!(v["ActivityStatus"], status, "{v}");
        assert_eq!(
            v["LastActivity"].is_null(),
            status == "NoData" || status == "Deactivated"
        );
    }

    let page = |statuses: Value| {
        let app = &app;
        let admin = admin.clone();
        async move {
            app.post(
                "/v1/Management/users/GetFilteredPage",
                &json!({"ActivityStatuses": statuses, "Sort": "LastName"}),
                &[bearer(&admin)],
            )
            .await
        }
    };
    for (statuses, names) in [
        (json!(["Active"]), vec!["Active"]),
        (json!(["NoData"]), vec!["NoData"]),
        (json!(["No Data"]), vec!["NoData"]),
        (json!(["Lost"]), vec!["Lost"]),
        (json!(["Inactive"]), vec!["Off"]),
        (json!(["Deactivated", "Active"]), vec!["Active", "Off"]),
        (
            json!(["Active", "Lost", "NoData"]),
            vec!["Active", "Lost", "NoData"],
        ),
        (json!(["Error"]), vec![]),
        (json!([]), vec!["Active", "Lost", "NoData"]),
    ] {
        let a = page(statuses.clone()).await;
        assert_eq!(a.status, 200, "{statuses}: {:?}", a.body);
        let got: Vec<&str> = a.result()["Users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["UserProfile"]["LastName"].as_str().unwrap())
            .collect();
        assert_eq!(got, names, "{statuses}");
        assert_eq!(a.result()["TotalUsers"], names.len(), "{statuses}");
        assert_eq!(a.result()["TotalUsersExact"], true, "{statuses}");
    }
    let a = page(json!(["Sleeping"])).await;
    assert_eq!(a.status, 422);
    assert_eq!(a.error_keys(), ["ActivityStatuses[0]"]);
    let a = page(json!(vec!["Active"; 9])).await;
    assert_eq!(a.status, 422);

    // Sorted by last activity, most recent first: never-active users last.
    let a = app
        .post(
            "/v1/Management/users/GetFilteredPage",
            &json!({"Sort": "LastActivityDesc"}),
            &[bearer(&admin)],
        )
        .await;
    let got: Vec<&str> = a.result()["Users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["UserProfile"]["LastName"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["Active", "Lost", "NoData"]);

    // The overview's counts come from the counters and agree.
    let o = app
        .core
        .overview(tus_core::Core::now(), &owner())
        .await
        .unwrap();
    assert_eq!(o.activity, [1, 1, 1, 1]);
    assert_eq!(o.active_drivers.iter().map(|d| d.count).sum::<i64>(), 2);
}

#[tokio::test]
async fn a_flag_change_is_pending_until_the_device_refreshes() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let user = app.register(json!({})).await;
    let token = device_token(&user);
    let v = user_as_admin(&app, &admin, &token).await;
    assert_eq!(v["FlagsPending"], false);

    // The same value again is no change.
    let a = put_as_admin(
        &app,
        &admin,
        &token,
        json!({"UserFields": {"EnableTracking": true}}),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        user_as_admin(&app, &admin, &token).await["FlagsPending"],
        false
    );

    let a = put_as_admin(
        &app,
        &admin,
        &token,
        json!({"UserFields": {"EnableLogging": true}}),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        user_as_admin(&app, &admin, &token).await["FlagsPending"],
        true
    );
    let detail = app
        .core
        .user_detail(
            &owner(),
            tus_core::types::DeviceToken::parse(&token).unwrap(),
        )
        .await
        .unwrap();
    assert!(detail.user.flags_pending);
    assert!(detail.flags_changed_ms.is_some());
    assert!(detail.token_expires_ms.unwrap() > detail.as_of_ms);
    let listed = app
        .core
        .user_list(&owner(), &UserListQuery::default())
        .await
        .unwrap();
    assert!(listed.rows[0].flags_pending);

    // The device refreshes: its new token carries the flag, nothing is pending.
    let a = app.refresh(&user).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let claims = app.claims(a.result()["AccessToken"]["Token"].as_str().unwrap());
    assert_eq!(claims["SdkEnableLogging"], "True", "{claims}");
    let v = user_as_admin(&app, &admin, &token).await;
    assert_eq!(v["FlagsPending"], false);
    assert_eq!(v["ActivityStatus"], "Active");
}

#[tokio::test]
async fn debug_logging_set_for_a_while_switches_off_by_itself_and_the_next_token_says_so() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let user = app.register(json!({})).await;
    let token = device_token(&user);
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let a = put_as_admin(
        &app,
        &admin,
        &token,
        json!({"UserFields": {"EnableLogging": true}, "FlagsUntil": {"EnableLogging": soon}}),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let v = user_as_admin(&app, &admin, &token).await;
    assert_eq!(v["UserFields"][0]["EnableLogging"], true);
    assert!(v["FlagsUntil"]["EnableLogging"].is_string(), "{v}");
    let on = app.refresh(&user).await;
    let claims = app.claims(on.result()["AccessToken"]["Token"].as_str().unwrap());
    assert_eq!(claims["SdkEnableLogging"], "True");

    // The scheduler switches it off at its end.
    let mut off = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let v = user_as_admin(&app, &admin, &token).await;
        if v["UserFields"][0]["EnableLogging"] == false {
            assert_eq!(v["FlagsUntil"], json!({}));
            assert_eq!(v["FlagsPending"], true);
            off = true;
            break;
        }
    }
    assert!(off, "debug logging is still on 20 s after its end");
    let renewed = app.refresh(&on.result().clone()).await;
    assert_eq!(renewed.status, 200, "{:?}", renewed.body);
    let claims = app.claims(renewed.result()["AccessToken"]["Token"].as_str().unwrap());
    assert_eq!(claims["SdkEnableLogging"], "False");
    let audit = app
        .core
        .store()
        .latest_audit(&["user.flag_ended"], 10)
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, "scheduler");
}

/// Playing the attacker: ends for flags not set, unknown flags, times in the past and
/// things that are not times are 422s naming each, and change nothing.
#[tokio::test]
async fn bad_flag_ends_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let user = app.register(json!({})).await;
    let token = device_token(&user);
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    for (body, key) in [
        (
            json!({"FlagsUntil": {"EnableLogging": later}}),
            "FlagsUntil.EnableLogging",
        ),
        (
            json!({"UserFields": {"EnableLogging": true}, "FlagsUntil": {"IsAdmin": later}}),
            "FlagsUntil.IsAdmin",
        ),
        (
            json!({"UserFields": {"EnableLogging": true}, "FlagsUntil": {"EnableLogging": "soon"}}),
            "FlagsUntil.EnableLogging",
        ),
        (
            json!({"UserFields": {"EnableLogging": true}, "FlagsUntil": {"EnableLogging": "2001-01-01T00:00:00Z"}}),
            "FlagsUntil.EnableLogging",
        ),
        (
            json!({"UserFields": {"EnableLogging": true}, "FlagsUntil": {"EnableLogging": "9999-01-01T00:00:00Z"}}),
            "FlagsUntil.EnableLogging",
        ),
        (
            json!({"UserFields": {"EnableLogging": true}, "FlagsUntil": {("x".repeat(5000)): later}}),
            "FlagsUntil",
        ),
    ] {
        let a = put_as_admin(&app, &admin, &token, body.clone()).await;
        assert_eq!(a.status, 422, "{body}: {:?}", a.body);
        assert_eq!(a.error_keys(), [key], "{body}");
        let v = user_as_admin(&app, &admin, &token).await;
        assert_eq!(v["UserFields"][0]["EnableLogging"], false, "{body}");
        assert_eq!(v["FlagsUntil"], json!({}), "{body}");
    }
    let a = put_as_admin(
        &app,
        &admin,
        &token,
        json!({"UserFields": {"EnableLogging": true}, "FlagsUntil": ["EnableLogging"]}),
    )
    .await;
    assert!(a.status == 400 || a.status == 422, "{:?}", a.body);
}

#[tokio::test]
async fn instance_settings_over_rest_count_first_and_refuse_what_the_caller_may_not_do() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let path = format!("/v1/Instances/{}/Settings", app.instance_id);
    let a = app.send(Method::GET, &path, None, &[bearer(&admin)]).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.result()["ActiveWindowDays"], 14);
    assert_eq!(a.result()["InactivityDays"], Value::Null);

    let wanted = json!({
        "ActiveWindowDays": 30, "MaxLoggingMinutes": 60,
        "DefaultFlags": {"EnableLogging": true},
        "InactivityDays": 90, "InactivityAction": "Deactivate"
    });
    let a = app
        .send(Method::PUT, &path, Some(&wanted), &[bearer(&admin)])
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.result()["MaxLoggingMinutes"], 60);
    // A new user gets the instance's default; its debug logging has an end.
    let user = app.register(json!({})).await;
    let v = user_as_admin(&app, &admin, &device_token(&user)).await;
    assert_eq!(v["UserFields"][0]["EnableLogging"], true);
    assert!(v["FlagsUntil"]["EnableLogging"].is_string(), "{v}");

    // The dry count: nobody has been inactive for 90 days; everyone "for 1 day" from now
    // is not yet either (registered seconds ago).
    let count = app
        .send(
            Method::GET,
            &format!("{path}/InactivityCount?Days=90"),
            None,
            &[bearer(&admin)],
        )
        .await;
    assert_eq!(count.status, 200, "{:?}", count.body);
    assert_eq!(count.result(), &json!({"Days": 90, "Count": 0}));
    for bad in ["Days=0", "Days=ninety", ""] {
        let a = app
            .send(
                Method::GET,
                &format!("{path}/InactivityCount?{bad}"),
                None,
                &[bearer(&admin)],
            )
            .await;
        assert_eq!(a.status, 422, "{bad}: {:?}", a.body);
        assert_eq!(a.error_keys(), ["Days"], "{bad}");
    }

    // Playing the attacker: bad values are named and change nothing; a reader may not
    // write; another instance's settings do not exist for a key limited to this one.
    let bad = json!({"ActiveWindowDays": 0, "MaxLoggingMinutes": 99999999, "InactivityDays": 5});
    let a = app
        .send(Method::PUT, &path, Some(&bad), &[bearer(&admin)])
        .await;
    assert_eq!(a.status, 422, "{:?}", a.body);
    let mut keys = a.error_keys();
    keys.sort();
    assert_eq!(
        keys,
        ["ActiveWindowDays", "InactivityAction", "MaxLoggingMinutes"]
    );
    let a = app.send(Method::GET, &path, None, &[bearer(&admin)]).await;
    assert_eq!(a.result()["ActiveWindowDays"], 30);
    let reader = api_key(&app, "reader", &["instances:read"]).await;
    assert_eq!(
        app.send(Method::GET, &path, None, &[bearer(&reader)])
            .await
            .status,
        200
    );
    let a = app
        .send(Method::PUT, &path, Some(&wanted), &[bearer(&reader)])
        .await;
    assert_eq!(a.status, 403, "{:?}", a.body);
    let user_token = token_of(&user);
    let a = app
        .send(Method::GET, &path, None, &[bearer(&user_token)])
        .await;
    assert!(a.status == 401 || a.status == 403, "{:?}", a.body);
    let other = app
        .core
        .create_instance(tus_core::Core::now(), None, "Other", "")
        .await
        .unwrap();
    let limited = limited_api_key(
        &app,
        "limited",
        &["instances:read"],
        Some(std::slice::from_ref(&app.instance_id)),
    )
    .await;
    let a = app
        .send(
            Method::GET,
            &format!("/v1/Instances/{}/Settings", other.id),
            None,
            &[bearer(&limited)],
        )
        .await;
    assert_eq!(a.status, 404, "{:?}", a.body);
    let audit = app
        .core
        .store()
        .latest_audit(&["instance.updated"], 10)
        .await
        .unwrap();
    assert_eq!(audit.len(), 1, "only the one good change is audited");
}

#[tokio::test]
async fn an_instance_s_token_lifetimes_over_rest_and_no_way_past_the_service_s() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let path = format!("/v1/Instances/{}/Settings", app.instance_id);
    let a = app.send(Method::GET, &path, None, &[bearer(&admin)]).await;
    assert_eq!(a.result()["AccessTokenMinutes"], Value::Null);
    assert_eq!(a.result()["ServiceAccessTokenMinutes"], 120);
    assert_eq!(a.result()["ServiceRefreshTokenHours"], 168);

    // Playing the attacker: longer than the service's, zero, negative, huge, not a
    // number; each is named, and nothing changes.
    for (bad, key) in [
        (json!({"AccessTokenMinutes": 121}), "AccessTokenMinutes"),
        (json!({"AccessTokenMinutes": 0}), "AccessTokenMinutes"),
        (json!({"RefreshTokenHours": 169}), "RefreshTokenHours"),
        (json!({"RefreshTokenHours": -1}), "RefreshTokenHours"),
        (
            json!({"RefreshTokenHours": 9_223_372_036_854_775_807i64}),
            "RefreshTokenHours",
        ),
    ] {
        let a = app
            .send(Method::PUT, &path, Some(&bad), &[bearer(&admin)])
            .await;
        assert_eq!(a.status, 422, "{bad}: {:?}", a.body);
        assert_eq!(a.error_keys(), [key], "{bad}");
    }
    for bad in [
        json!({"AccessTokenMinutes": "10"}),
        json!({"AccessTokenMinutes": 1.5}),
    ] {
        let a = app
            .send(Method::PUT, &path, Some(&bad), &[bearer(&admin)])
            .await;
        assert!(a.status == 400 || a.status == 422, "{bad}: {:?}", a.body);
    }
    // The read-only service values are not settable: sending them changes nothing.
    let a = app
        .send(
            Method::PUT,
            &path,
            Some(&json!({"AccessTokenMinutes": 15, "RefreshTokenHours": 24,
                "ServiceAccessTokenMinutes": 100000, "ServiceRefreshTokenHours": 100000})),
            &[bearer(&admin)],
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.result()["ServiceAccessTokenMinutes"], 120);
    assert_eq!(a.result()["AccessTokenMinutes"], 15);

    // Registration, refresh and login now hand out 15-minute access tokens whose refresh
    // tokens expire in 24 hours.
    let user = app
        .register(json!({"UserFields": {"ClientId": "c-15"}}))
        .await;
    assert_eq!(user["AccessToken"]["ExpiresIn"], 900, "{user}");
    let claims = |c: &Value| {
        let token = c["AccessToken"]["Token"].as_str().unwrap().to_string();
        let payload = token.split('.').nth(1).unwrap().to_string();
        let bytes =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .unwrap();
        serde_json::from_slice::<Value>(&bytes).unwrap()
    };
    let c = claims(&user);
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 900);
    let refreshed = app.refresh(&user).await;
    assert_eq!(refreshed.status, 200, "{:?}", refreshed.body);
    assert_eq!(refreshed.result()["AccessToken"]["ExpiresIn"], 900);
    // The refresh token's expiry, as the token states it: 24 hours after its issue.
    let c = claims(refreshed.result());
    let day_later = chrono::DateTime::from_timestamp(c["iat"].as_i64().unwrap() + 86_400, 0)
        .unwrap()
        .format("%d.%m.%Y %-H:%M:%S")
        .to_string();
    assert_eq!(c["RefreshTokenExpiredDate"], day_later.as_str());
}

#[tokio::test]
async fn a_users_data_is_exported_and_erased_by_an_admin_only() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let user = app
        .register(json!({"Email": "erin@example.com", "UserFields": {"ClientId": "crm-77"}}))
        .await;
    let token = device_token(&user);
    let put = put_as_admin(
        &app,
        &admin,
        &token,
        json!({"UserFields": {"EnableLogging": true}}),
    )
    .await;
    assert_eq!(put.status, 200);
    let export = format!("/v1/Management/users/{token}/Export");
    let a = app
        .send(Method::GET, &export, None, &[bearer(&admin)])
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(
        a.result()["User"]["UserProfile"]["Email"],
        "erin@example.com"
    );
    assert!(!a.result()["AuditEntries"].as_array().unwrap().is_empty());
    assert!(!a
        .body
        .to_string()
        .contains(user["RefreshToken"].as_str().unwrap()));

    // Playing the attacker: the user's own token, a reading key, nonsense ids.
    let own = app
        .send(Method::GET, &export, None, &[bearer(&token_of(&user))])
        .await;
    assert!(own.status == 403 || own.status == 404, "{:?}", own.body);
    let reader = api_key(&app, "reader", &["users:read"]).await;
    assert_eq!(
        app.send(Method::GET, &export, None, &[bearer(&reader)])
            .await
            .status,
        200
    );
    let erase = format!("/v1/Management/users/{token}/Erase");
    let a = app.post(&erase, &json!({}), &[bearer(&reader)]).await;
    assert_eq!(a.status, 403, "{:?}", a.body);
    for bad in ["not-a-token", "00000000-0000-4000-8000-000000000000"] {
        let a = app
            .send(
                Method::GET,
                &format!("/v1/Management/users/{bad}/Export"),
                None,
                &[bearer(&admin)],
            )
            .await;
        assert_eq!(a.status, 404, "{bad}");
    }
    assert_eq!(app.send(Method::GET, &export, None, &[]).await.status, 401);

    let a = app.post(&erase, &json!({}), &[bearer(&admin)]).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let pseudonym = a.result().as_str().unwrap().to_string();
    assert!(pseudonym.starts_with("erased-"));
    assert_eq!(
        app.send(Method::GET, &export, None, &[bearer(&admin)])
            .await
            .status,
        404
    );
    assert!(app
        .core
        .store()
        .audit_about(&token, 10)
        .await
        .unwrap()
        .is_empty());
    let erased = app
        .core
        .store()
        .latest_audit(&["user.erased"], 5)
        .await
        .unwrap();
    assert_eq!(erased[0].target, format!("user:{pseudonym}"));
    assert_eq!(
        app.post(&erase, &json!({}), &[bearer(&admin)]).await.status,
        404
    );
}
