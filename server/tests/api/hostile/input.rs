//! Hostile input: whatever a client sends gets a clear 4xx (never a 500), changes nothing,
//! and never reaches a file it should not.

use serde_json::{json, Value};

use super::raw_http;
use crate::dashboard::call;
use crate::helpers::*;

/// Where a string field goes: (method, path, who, body with the field set to the marker).
struct Target {
    method: reqwest::Method,
    path: String,
    caller: Caller,
    body: Option<Value>,
}

#[derive(Clone, Copy)]
enum Caller {
    Anonymous,
    Instance,
    User,
    Admin,
}

const MARK: &str = "@@MARK@@";

/// Every string field of every `/v1` body and query, set to the marker.
fn targets(instance: &str, app_id: &str) -> Vec<Target> {
    use reqwest::Method as M;
    let mut out = Vec::new();
    let body = |m: M, path: &str, caller, body: Value| Target {
        method: m,
        path: path.to_string(),
        caller,
        body: Some(body),
    };
    let query = |path: String, caller| Target {
        method: M::GET,
        path,
        caller,
        body: None,
    };
    let profile = [
        "FirstName",
        "LastName",
        "Nickname",
        "Phone",
        "Email",
        "Gender",
        "Birthday",
        "MaritalStatus",
        "Country",
        "District",
        "City",
        "Address",
        "ImageUrl",
        "Status",
    ];
    for field in profile
        .iter()
        .chain(&["CustomToken", "InstanceInviteCode", "Password"])
    {
        out.push(body(
            M::POST,
            "/v1/Registration/Create",
            Caller::Instance,
            json!({ *field: MARK }),
        ));
    }
    out.push(body(
        M::POST,
        "/v1/Registration/Create",
        Caller::Instance,
        json!({"UserFields": {"ClientId": MARK}}),
    ));
    for field in profile.iter().chain(&["ClientId", "NewPassword"]) {
        out.push(body(
            M::PUT,
            "/v1/Management/users",
            Caller::User,
            json!({ *field: MARK, "OldPassword": "x" }),
        ));
    }
    for key in ["Email", "Phone", "DeviceToken"] {
        out.push(body(
            M::POST,
            "/v1/Auth/Login",
            Caller::Anonymous,
            json!({"LoginFields": {key: MARK}, "Password": "pw"}),
        ));
        out.push(body(
            M::POST,
            "/v1/Auth/Login",
            Caller::Anonymous,
            json!({"LoginFields": {key: "a@b.io"}, "Password": MARK}),
        ));
    }
    out.push(body(
        M::POST,
        "/v1/Auth/Login",
        Caller::Anonymous,
        json!({"LoginFields": MARK, "Password": "pw"}),
    ));
    out.push(body(
        M::POST,
        "/v1/Auth/RefreshToken",
        Caller::Anonymous,
        json!({"AccessToken": MARK, "RefreshToken": "x"}),
    ));
    out.push(body(
        M::POST,
        "/v1/Auth/RefreshToken",
        Caller::Anonymous,
        json!({"AccessToken": "a.b.c", "RefreshToken": MARK}),
    ));
    for field in [
        "SearchTerm",
        "Country",
        "City",
        "Sort",
        "DateCreatedFrom",
        "DateCreatedTo",
    ] {
        out.push(body(
            M::POST,
            "/v1/Management/users/GetFilteredPage",
            Caller::Admin,
            json!({ field: MARK }),
        ));
    }
    out.push(body(
        M::POST,
        "/v1/Management/users/GetFilteredPage",
        Caller::Admin,
        json!({"InstanceIds": [MARK]}),
    ));
    for field in ["DeviceToken", "ToInstanceId", "ToInstanceKey"] {
        out.push(body(
            M::POST,
            "/v1/Management/users/instances/change",
            Caller::Admin,
            json!({ field: MARK }),
        ));
    }
    for field in ["Name", "Description", "Status"] {
        out.push(body(
            M::POST,
            &format!("/v1/applications/{app_id}/instances"),
            Caller::Admin,
            json!({ field: MARK }),
        ));
        out.push(body(
            M::PATCH,
            &format!("/v1/Instances/{instance}"),
            Caller::Admin,
            json!({ field: MARK }),
        ));
    }
    for field in [
        "DeviceToken",
        "Email",
        "Phone",
        "ClientId",
        "FirstName",
        "LastName",
        "FullName",
        "Country",
    ] {
        out.push(query(
            format!("/v1/Management/users/find?{field}={MARK}"),
            Caller::Admin,
        ));
    }
    for field in ["Phone", "Email", "ClientId"] {
        out.push(query(
            format!("/v1/Check/UserExists?{field}={MARK}"),
            Caller::Instance,
        ));
    }
    out.push(query(format!("/v1/Instances/{MARK}"), Caller::Admin));
    out.push(query(
        format!("/v1/applications/{app_id}/instances/{MARK}"),
        Caller::Admin,
    ));
    out.push(query(
        format!("/v1/Management/users/instances/change/{MARK}"),
        Caller::User,
    ));
    out.push(query(format!("/export/users.csv?q={MARK}"), Caller::Admin));
    out.push(query(
        format!("/export/audit.csv?target={MARK}"),
        Caller::Admin,
    ));
    out
}

/// The hostile values: NUL and other control characters (JSON-escaped), a lone surrogate,
/// a long string, and (raw, not valid UTF-8) an overlong encoding of `/`.
const PAYLOADS: [&[u8]; 4] = [
    b"a\\u0000b",
    b"\\u0001\\u001b[31m",
    b"\\ud800",
    b"\xc0\xaf..\xc0\xafetc",
];

/// In a query or a path the marker becomes its percent-encoded form.
fn in_url(payload: &[u8]) -> String {
    match payload {
        b"a\\u0000b" => "a%00b".into(),
        b"\\u0001\\u001b[31m" => "%01%1B%5B31m".into(),
        b"\\ud800" => "%ED%A0%80".into(),
        _ => "%C0%AF..%C0%AFetc".into(),
    }
}

#[tokio::test]
async fn nul_bytes_control_characters_and_overlong_utf8_in_every_string_field_get_a_4xx() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let user = app
        .register(json!({"Email": "ann@example.com", "Password": "correct horse battery"}))
        .await;
    let app_id = app.application_id(&admin).await;
    let users_before = app.user_count().await;
    let mut failures = Vec::new();
    for target in targets(&app.instance_id, &app_id) {
        for payload in PAYLOADS {
            let mut req = app.client.request(
                target.method.clone(),
                format!(
                    "{}{}",
                    app.base,
                    target.path.replace(MARK, &in_url(payload))
                ),
            );
            if let Some(body) = &target.body {
                let text = body.to_string().into_bytes();
                let at = text
                    .windows(MARK.len())
                    .position(|w| w == MARK.as_bytes())
                    .unwrap_or_else(|| panic!("no marker in {body}"));
                let mut bytes = text[..at].to_vec();
                bytes.extend_from_slice(payload);
                bytes.extend_from_slice(&text[at + MARK.len()..]);
                req = req.header("Content-Type", "application/json").body(bytes);
            }
            req = match target.caller {
                Caller::Anonymous => req,
                Caller::Instance => req
                    .header("InstanceId", &app.instance_id)
                    .header("InstanceKey", &app.instance_key),
                Caller::User => req.bearer_auth(token_of(&user)),
                Caller::Admin => req.bearer_auth(&admin),
            };
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let text = res.text().await.unwrap_or_default();
            if status >= 500 || text.contains("sqlx") || text.contains("SQL") {
                failures.push(format!(
                    "{} {} {:?}: {status} {text}",
                    target.method,
                    target.path,
                    String::from_utf8_lossy(payload)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let users_after = app.user_count().await;
    assert_eq!(users_after, users_before, "no hostile registration got in");
}

/// `template` with every string equal to the marker replaced by `with`.
fn fill(template: &Value, with: &str) -> Value {
    match template {
        Value::String(s) if s == MARK => Value::String(with.to_string()),
        Value::Array(items) => Value::Array(items.iter().map(|v| fill(v, with)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), fill(v, with)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The dashboard's functions take JSON too: the same values in their string arguments.
#[tokio::test]
async fn hostile_strings_in_server_function_arguments_get_a_4xx() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let calls = [
        ("list_users", json!({"query": {"q": MARK}})),
        ("list_users", json!({"query": {"after": MARK}})),
        (
            "audit_log",
            json!({"query": {"actor": MARK, "target": MARK, "action": MARK}}),
        ),
        ("get_user", json!({"device_token": MARK})),
        (
            "update_user",
            json!({"device_token": MARK, "changes": {"City": "x"}}),
        ),
        (
            "register_user",
            json!({"instance_id": app.instance_id, "user": {"FirstName": MARK}}),
        ),
        (
            "create_instance",
            json!({"application_id": MARK, "name": MARK, "description": ""}),
        ),
        ("bulk_count", json!({"target": {"Matching": {"q": MARK}}})),
    ];
    for (name, args) in calls {
        for payload in ["a\u{0}b", "\u{1}\u{1b}[31m"] {
            let res = call(&app, name, fill(&args, payload), &[bearer(&admin)]).await;
            assert!(
                (400..500).contains(&res.status) || res.status == 200,
                "{name} {payload:?}: {} {}",
                res.status,
                res.body
            );
            assert!(!res.body.to_string().contains("sqlx"), "{}", res.body);
        }
    }
}

#[tokio::test]
async fn json_keys_given_twice_in_any_case_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    for body in [
        r#"{"FirstName":"Ann","firstname":"Eve"}"#,
        r#"{"FirstName":"Ann","FirstName":"Eve"}"#,
        r#"{"UserFields":{"EnableTracking":true,"enableTRACKING":false}}"#,
        r#"{"UserFields":{"ClientId":"a","ClientId":"b"}}"#,
    ] {
        let res = app
            .post_raw(
                "/v1/Registration/Create",
                body,
                Some("application/json"),
                &app.instance_headers(),
            )
            .await;
        assert!(matches!(res.status, 400 | 422), "{body}: {}", res.body);
        res.envelope();
    }
    let users = app.user_count().await;
    assert_eq!(users, 0);
}

#[tokio::test]
async fn huge_and_odd_numbers_are_refused_with_a_4xx() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for (path, body) in [
        ("/v1/Registration/Create", r#"{"ChildrenCount": 1e400}"#),
        (
            "/v1/Registration/Create",
            r#"{"ChildrenCount": 99999999999999999999999999}"#,
        ),
        (
            "/v1/Registration/Create",
            r#"{"ChildrenCount": -9223372036854775809}"#,
        ),
        ("/v1/Registration/Create", r#"{"ChildrenCount": 1.5}"#),
        (
            "/v1/Registration/CreateMany",
            r#"{"Quantity": 18446744073709551616}"#,
        ),
        ("/v1/Registration/CreateMany", r#"{"Quantity": -1}"#),
        ("/v1/Registration/CreateMany", r#"{"Quantity": 1e9}"#),
    ] {
        let res = app
            .post_raw(
                path,
                body,
                Some("application/json"),
                &app.instance_headers(),
            )
            .await;
        assert!(
            (400..500).contains(&res.status),
            "{path} {body}: {}",
            res.body
        );
        res.envelope();
    }
    for body in [
        r#"{"PageSize": 1e400}"#,
        r#"{"PageNumber": 9223372036854775807, "PageSize": 500}"#,
        r#"{"PageNumber": -5}"#,
    ] {
        let res = app
            .post_raw(
                "/v1/Management/users/GetFilteredPage",
                body,
                Some("application/json"),
                &[bearer(&admin)],
            )
            .await;
        assert!(res.status < 500, "{body}: {}", res.body);
        res.envelope();
    }
    let users = app.user_count().await;
    assert_eq!(users, 0);
}

#[tokio::test]
async fn loose_values_the_contract_run_found_are_refused_and_change_nothing() {
    // Each was taken before (a flag read "null" as false, an empty BatchId matched no
    // batch, a struct was filled from an array field by field); schemathesis sent them.
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let app_id = app.application_id(&admin).await;
    for (path, key) in [
        (
            format!("/v1/Applications/{app_id}?includeInstances=null"),
            "includeInstances",
        ),
        (
            format!("/v1/applications/{app_id}/instances?includeDeactivated=maybe"),
            "includeDeactivated",
        ),
        (
            "/v1/Management/users/find?Email=a@example.com&ShowInactiveUsers=yes".to_string(),
            "ShowInactiveUsers",
        ),
    ] {
        let res = app
            .send(reqwest::Method::GET, &path, None, &[bearer(&admin)])
            .await;
        assert_eq!(
            (res.status, res.error_keys()),
            (422, vec![key.to_string()]),
            "{path}"
        );
    }
    let res = app
        .send(
            reqwest::Method::POST,
            "/v1/Management/users/invite/count",
            Some(&json!({"BatchId": "", "Deliver": "Email"})),
            &[bearer(&admin)],
        )
        .await;
    assert_eq!(
        (res.status, res.error_keys()),
        (422, vec!["BatchId".to_string()])
    );
    for body in [
        r#"{"UserFields": [false, true]}"#,
        r#"{"MobileDevice": ["a", "b"]}"#,
    ] {
        let res = app
            .post_raw(
                "/v1/Registration/Create",
                body,
                Some("application/json"),
                &app.instance_headers(),
            )
            .await;
        assert_eq!(res.status, 422, "{body}: {}", res.body);
    }
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn whole_floats_and_null_bodies_mean_what_they_say() {
    let app = spawn_app().await;
    let created = app
        .post_raw(
            "/v1/Registration/Create",
            r#"{"ChildrenCount": 3.0, "UserFields": {"EnableLogging": true}}"#,
            Some("application/json"),
            &app.instance_headers(),
        )
        .await;
    let token = created.result()["AccessToken"]["Token"]
        .as_str()
        .unwrap()
        .to_string();
    let user = app
        .send(
            reqwest::Method::GET,
            "/v1/Management/users",
            None,
            &[bearer(&token)],
        )
        .await;
    assert_eq!(user.result()["UserProfile"]["ChildrenCount"], 3);
    let null = app
        .post_raw(
            "/v1/Registration/Create",
            "null",
            Some("application/json"),
            &app.instance_headers(),
        )
        .await;
    assert_eq!(
        null.status, 200,
        "a null body is an empty one: {}",
        null.body
    );
    assert_eq!(app.user_count().await, 2);
}

#[tokio::test]
async fn static_files_cannot_be_read_outside_the_site_root() {
    let app = spawn_app().await;
    for path in [
        "/pkg/../../Cargo.toml",
        "/pkg/%2e%2e/%2e%2e/Cargo.toml",
        "/pkg/..%2f..%2fCargo.toml",
        "/pkg/%2e%2e%2f%2e%2e%2fCargo.toml",
        "/%2e%2e/%2e%2e/Cargo.toml",
        "/pkg/....//....//Cargo.toml",
        "/pkg/..\\..\\Cargo.toml",
        "/pkg/%c0%ae%c0%ae/%c0%ae%c0%ae/Cargo.toml",
        "/favicon.ico/../../Cargo.toml",
        "/pkg/../../../../../../etc/passwd",
    ] {
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        let answer = raw_http(&app, request.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 "), "{path}: {answer:?}");
        assert!(!answer.starts_with("HTTP/1.1 5"), "{path}: {answer}");
        assert!(
            !answer.contains("[workspace]") && !answer.contains("root:x:0:0"),
            "{path} leaked a file"
        );
    }
}

#[tokio::test]
async fn csv_fields_holding_a_semicolon_are_quoted() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let apps = call(&app, "list_applications", json!({}), &[bearer(&admin)]).await;
    let app_id = apps.body[0][0].as_str().unwrap();
    let made = call(
        &app,
        "create_instance",
        json!({"application_id": app_id, "name": "Depot;7", "description": ""}),
        &[bearer(&admin)],
    )
    .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let csv = app
        .client
        .get(format!(
            "{}/export/audit.csv?action=instance.created",
            app.base
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.contains("\"Depot;7\""), "{csv}");
}
