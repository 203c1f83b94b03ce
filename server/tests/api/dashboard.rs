//! The dashboard's server functions as an HTTP API (`/api/...`) and its session: cookies,
//! bearer tokens, the origin check, transparent refresh, sign-out and the page guard.

use reqwest::header::{HeaderMap, SET_COOKIE};
use serde_json::{json, Value};

use crate::helpers::*;

pub(crate) const ADMIN_PASSWORD: &str = "test admin password";

/// A client that shows redirects instead of following them.
pub(crate) fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The text of a dashboard page or export, fetched with an admin's bearer token.
pub(crate) async fn text_as(app: &TestApp, path: &str, token: &str) -> String {
    let res = no_redirects()
        .get(format!("{}{path}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    res.text().await.unwrap()
}

fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

/// `name=value` pairs of the Set-Cookie headers, as a Cookie header sends them back.
pub(crate) fn cookie_header(set: &[String]) -> String {
    set.iter()
        .map(|c| c.split(';').next().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

fn cookie_value(set: &[String], name: &str) -> String {
    set.iter()
        .find_map(|c| {
            c.split(';')
                .next()
                .unwrap()
                .strip_prefix(&format!("{name}="))
        })
        .unwrap_or_else(|| panic!("no {name} cookie in {set:?}"))
        .to_string()
}

pub(crate) struct Call {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

/// POSTs a server function: JSON `args`, extra headers.
pub(crate) async fn call(
    app: &TestApp,
    name: &str,
    args: Value,
    headers: &[(&str, String)],
) -> Call {
    let mut req = no_redirects()
        .post(format!("{}/api/{name}", app.base))
        .header("Content-Type", "application/json")
        .body(args.to_string());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap_or(Value::Null);
    Call {
        status,
        headers,
        body,
    }
}

pub(crate) fn origin(app: &TestApp) -> (&'static str, String) {
    ("Origin", app.base.clone())
}

/// Signs in with the form the sign-in page posts; returns the Set-Cookie values.
pub(crate) async fn sign_in(
    app: &TestApp,
    password: &str,
    extra: &[(&str, &str)],
) -> (u16, Vec<String>) {
    let mut req = no_redirects()
        .post(format!("{}/api/sign_in", app.base))
        .header("Origin", &app.base)
        .form(&[
            ("email", "admin@localhost"),
            ("password", password),
            ("next", "/users"),
        ]);
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), set_cookies(res.headers()))
}

#[tokio::test]
async fn sign_in_sets_http_only_strict_cookies_secure_over_https() {
    let app = spawn_app().await;
    let (status, cookies) = sign_in(&app, ADMIN_PASSWORD, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    for c in &cookies {
        assert!(
            c.contains("; HttpOnly") && c.contains("; SameSite=Strict") && c.contains("; Path=/"),
            "{c}"
        );
        assert!(!c.contains("Secure"), "plain http: {c}");
    }
    // The access cookie is the admin's JWT; nothing secret in its claims.
    let claims = app.claims(&cookie_value(&cookies, "tus_access"));
    assert_eq!(claims["role"], "Admin");
    assert_eq!(claims["AdminEmail"], "admin@localhost");

    let (_, secure) = sign_in(&app, ADMIN_PASSWORD, &[("X-Forwarded-Proto", "https")]).await;
    assert!(secure.iter().all(|c| c.ends_with("; Secure")), "{secure:?}");
}

#[tokio::test]
async fn a_wrong_password_is_401_and_repeated_failures_are_throttled() {
    let app = spawn_app_with(|c| {
        c.login_max_failures_per_name = 3;
    })
    .await;
    for _ in 0..3 {
        let (status, cookies) = sign_in(&app, "wrong password", &[]).await;
        assert_eq!(status, 401);
        assert!(cookies.is_empty());
    }
    let (status, _) = sign_in(&app, "wrong password", &[]).await;
    assert_eq!(status, 429);
    // Throttled means throttled: the right password waits too.
    let (status, cookies) = sign_in(&app, ADMIN_PASSWORD, &[]).await;
    assert_eq!(status, 429);
    assert!(cookies.is_empty());
}

#[tokio::test]
async fn server_functions_need_an_admin_by_cookie_or_bearer() {
    let app = spawn_app().await;
    let none = call(&app, "list_users", json!({"query": {}}), &[origin(&app)]).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.body, json!("Unauthorized"));
    assert_eq!(none.headers["www-authenticate"], "Bearer");

    let user = app.register(json!({})).await;
    let as_user = call(
        &app,
        "list_users",
        json!({"query": {}}),
        &[bearer(&token_of(&user))],
    )
    .await;
    assert_eq!(as_user.status, 403, "{}", as_user.body);

    let admin = app.admin_token().await;
    let listed = call(&app, "list_users", json!({"query": {}}), &[bearer(&admin)]).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["rows"][0]["device_token"], user["DeviceToken"]);
    assert_eq!(listed.body["total"], 1);

    let (_, cookies) = sign_in(&app, ADMIN_PASSWORD, &[]).await;
    let by_cookie = call(
        &app,
        "list_users",
        json!({"query": {}}),
        &[("Cookie", cookie_header(&cookies)), origin(&app)],
    )
    .await;
    assert_eq!(by_cookie.status, 200, "{}", by_cookie.body);
}

#[tokio::test]
async fn calls_from_another_origin_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let user = app.register(json!({})).await;
    let dt = user["DeviceToken"].as_str().unwrap().to_string();
    let (_, cookies) = sign_in(&app, ADMIN_PASSWORD, &[]).await;
    let cookie = ("Cookie", cookie_header(&cookies));
    let args = json!({"device_token": dt, "active": false});
    for headers in [
        vec![
            cookie.clone(),
            ("Origin", "http://evil.example".to_string()),
        ],
        vec![
            cookie.clone(),
            ("Referer", "http://evil.example/page".to_string()),
        ],
        // A cookie alone, with neither header, is not trusted either.
        vec![cookie.clone()],
    ] {
        let refused = call(&app, "set_status", args.clone(), &headers).await;
        assert_eq!(refused.status, 403, "{headers:?}: {}", refused.body);
    }
    assert_eq!(
        app.refresh(&user).await.status,
        200,
        "the user is still active"
    );

    // A bearer token is not sent by browsers on their own: no Origin needed.
    let admin = app.admin_token().await;
    let done = call(&app, "set_status", args.clone(), &[bearer(&admin)]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body["user"]["Status"], "Deactivated");
}

#[tokio::test]
async fn an_expired_access_cookie_is_refreshed_on_the_next_request() {
    let app = spawn_app().await;
    // A session signed in five hours ago: its access cookie has expired.
    let old = app.admin_session_from(5).await;
    let refresh = old["RefreshToken"].as_str().unwrap().to_string();
    let jar = format!("tus_access={}; tus_refresh={refresh}", token_of(&old));
    let answer = call(
        &app,
        "current_admin",
        json!({}),
        &[("Cookie", jar.clone()), origin(&app)],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["email"], "admin@localhost");
    let renewed = set_cookies(&answer.headers);
    assert_ne!(cookie_value(&renewed, "tus_refresh"), refresh);
    app.claims(&cookie_value(&renewed, "tus_access"));

    // The old pair was rotated: presented again (after the grace window) it ends the session
    // and the cookies are cleared.
    let app2 = spawn_app_with(|c| c.refresh_reuse_grace = 0).await;
    let old = app2.admin_session_from(5).await;
    let jar = format!(
        "tus_access={}; tus_refresh={}",
        token_of(&old),
        old["RefreshToken"].as_str().unwrap()
    );
    let first = call(
        &app2,
        "current_admin",
        json!({}),
        &[("Cookie", jar.clone()), origin(&app2)],
    )
    .await;
    assert_eq!(first.status, 200);
    let again = call(
        &app2,
        "current_admin",
        json!({}),
        &[("Cookie", jar), origin(&app2)],
    )
    .await;
    assert_eq!(again.status, 401);
    assert!(set_cookies(&again.headers)
        .iter()
        .all(|c| c.contains("Max-Age=0")));
}

#[tokio::test]
async fn sign_out_revokes_the_session_tokens() {
    let app = spawn_app().await;
    let (_, cookies) = sign_in(&app, ADMIN_PASSWORD, &[]).await;
    let access = cookie_value(&cookies, "tus_access");
    let refresh = cookie_value(&cookies, "tus_refresh");
    let out = call(
        &app,
        "sign_out",
        json!({}),
        &[("Cookie", cookie_header(&cookies)), origin(&app)],
    )
    .await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(set_cookies(&out.headers)
        .iter()
        .all(|c| c.contains("Max-Age=0")));
    let after = call(&app, "current_admin", json!({}), &[bearer(&access)]).await;
    assert_eq!(after.status, 401);
    let body = json!({"AccessToken": access, "RefreshToken": refresh});
    let refused = app.post("/v1/Auth/RefreshToken", &body, &[]).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    let audit = app
        .core
        .store()
        .audit_entries("session.signed_out")
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, "admin:admin@localhost");
}

#[tokio::test]
async fn pages_without_a_session_redirect_to_sign_in_and_public_paths_do_not() {
    let app = spawn_app().await;
    let client = no_redirects();
    for (path, next) in [
        ("/", "/"),
        ("/users/x?y=1", "/users/x%3Fy%3D1"),
        ("/instances", "/instances"),
    ] {
        let res = client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "{path}");
        assert_eq!(
            res.headers()["location"],
            format!("/sign-in?next={next}").as_str(),
            "{path}"
        );
    }
    for path in ["/healthz", "/openapi.json", "/docs", "/sign-in"] {
        let res = client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    // Signed in, the sign-in page sends the admin on to `next` (a local path only).
    let (_, cookies) = sign_in(&app, ADMIN_PASSWORD, &[]).await;
    for (next, to) in [
        ("/instances", "/instances"),
        ("//evil.example", "/"),
        ("https://evil.example", "/"),
    ] {
        let res = client
            .get(format!("{}/sign-in?next={}", app.base, next))
            .header("Cookie", cookie_header(&cookies))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        assert_eq!(res.headers()["location"], to);
    }
}

#[tokio::test]
async fn the_users_list_pages_by_keyset_and_filters_flags() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for n in 0..5 {
        app.register(
            json!({"LastName": format!("Page{n}"), "UserFields": {"EnableTracking": n % 2 == 0}}),
        )
        .await;
    }
    let page = |q: Value| {
        let admin = admin.clone();
        let app = &app;
        async move {
            let c = call(app, "list_users", json!({ "query": q }), &[bearer(&admin)]).await;
            assert_eq!(c.status, 200, "{}", c.body);
            c.body
        }
    };
    let names = |p: &Value| -> Vec<String> {
        p["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["last_name"].as_str().unwrap().to_string())
            .collect()
    };
    let first = page(json!({"sort": "LastName", "size": 2})).await;
    assert_eq!(names(&first), ["Page0", "Page1"]);
    assert_eq!(first["previous"], Value::Null);
    let second = page(json!({"sort": "LastName", "size": 2, "after": first["next"]})).await;
    assert_eq!(names(&second), ["Page2", "Page3"]);
    let third = page(json!({"sort": "LastName", "size": 2, "after": second["next"]})).await;
    assert_eq!(names(&third), ["Page4"]);
    assert_eq!(third["next"], Value::Null);
    let back = page(json!({"sort": "LastName", "size": 2, "before": third["previous"]})).await;
    assert_eq!(names(&back), ["Page2", "Page3"]);
    let start = page(json!({"sort": "LastName", "size": 2, "before": back["previous"]})).await;
    assert_eq!(names(&start), ["Page0", "Page1"]);
    assert_eq!(start["previous"], Value::Null);

    let tracking = page(json!({"tracking": "on", "sort": "LastName"})).await;
    assert_eq!(names(&tracking), ["Page0", "Page2", "Page4"]);
    assert_eq!(tracking["total"], 3);

    let bad = call(
        &app,
        "list_users",
        json!({"query": {"sort": "Nope", "tracking": "maybe", "after": "x"}}),
        &[bearer(&admin)],
    )
    .await;
    assert_eq!(bad.status, 422);
    let keys: Vec<&str> = bad.body["Validation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e[0].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["tracking", "sort", "after"]);
}

#[tokio::test]
async fn unknown_functions_are_404_json_and_pages_carry_protective_headers() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let missing = call(&app, "no_such_function", json!({}), &[bearer(&admin)]).await;
    assert_eq!(missing.status, 404);
    assert!(missing.body["NotFound"]
        .as_str()
        .unwrap()
        .contains("/api/no_such_function"));
    let by_get = no_redirects()
        .get(format!("{}/api/list_users", app.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(by_get.status(), 404);

    let page = no_redirects()
        .get(format!("{}/", app.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let h = page.headers();
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert_eq!(h["cache-control"], "no-store");
}

#[tokio::test]
async fn the_audit_export_streams_every_filtered_entry_as_csv() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let user = app.register(json!({})).await;
    let dt = user["DeviceToken"].as_str().unwrap();
    // 1,203 changes: more than two export chunks of 500.
    for n in 0..1203 {
        let body = json!({"City": format!("City {n}")});
        let headers = [bearer(&admin), ("UserDeviceToken", dt.to_string())];
        let res = app
            .send(
                reqwest::Method::PUT,
                "/v1/Management/users",
                Some(&body),
                &headers,
            )
            .await;
        assert_eq!(res.status, 200);
    }
    let get = |query: &str, auth: Option<&str>| {
        let mut req = no_redirects().get(format!("{}/export/audit.csv{query}", app.base));
        if let Some(t) = auth {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let res = get(
        &format!("?action=user.updated&target=user:{dt}"),
        Some(&admin),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("audit.csv"));
    let text = res.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "Id,At,Actor,Action,Target,Detail,ClientAddress");
    assert_eq!(lines.len(), 1 + 1203);
    assert!(lines[1..].iter().all(|l| l.contains(",user.updated,")));
    // Newest first, no entry twice across the chunks.
    let ids: Vec<i64> = lines[1..]
        .iter()
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]));

    assert_eq!(get("", None).await.unwrap().status(), 401);
    let user_token = token_of(&user);
    assert_eq!(get("", Some(&user_token)).await.unwrap().status(), 403);
    assert_eq!(
        get("?from=yesterday", Some(&admin)).await.unwrap().status(),
        422
    );
    let exported = app
        .core
        .store()
        .audit_entries("audit.exported")
        .await
        .unwrap();
    assert_eq!(exported.len(), 1, "the export itself is in the trail");
    assert!(exported[0].detail.contains("action=user.updated"));
}

#[tokio::test]
async fn the_users_export_holds_exactly_the_filtered_users_in_list_order() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    // 2,500 users with tracking on (CreateMany's default), 3 with it off, one deactivated.
    for _ in 0..5 {
        let body = json!({"Quantity": 500, "CreateAccessToken": false});
        assert_eq!(
            app.post_instance("/v1/Registration/CreateMany", &body)
                .await
                .status,
            200
        );
    }
    for (n, status) in ["Active", "Active", "Deactivated"].iter().enumerate() {
        let body = json!({"LastName": format!("=cmd{n}"), "Status": status, "UserFields": {"EnableTracking": false}});
        app.register(body).await;
    }
    let get = |query: &'static str| {
        no_redirects()
            .get(format!("{}/export/users.csv{query}", app.base))
            .bearer_auth(&admin)
            .send()
    };
    let text = get("?tracking=off&status=all&sort=LastName")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("DeviceToken,FirstName,LastName,"));
    assert_eq!(lines.len(), 1 + 3, "{text}");
    // In the list's order, formula-like names defused.
    assert!(
        lines[1].contains(",'=cmd0,") && lines[3].contains(",'=cmd2,"),
        "{text}"
    );
    assert!(!text.contains("RefreshToken") && !text.contains("password"));

    let all = get("?status=all").await.unwrap().text().await.unwrap();
    assert_eq!(all.lines().count(), 1 + 2503, "three chunks of 1,000");
    let mut tokens: Vec<&str> = all
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    tokens.sort();
    tokens.dedup();
    assert_eq!(tokens.len(), 2503, "no user twice");
    let active_on = get("?tracking=on").await.unwrap().text().await.unwrap();
    assert_eq!(active_on.lines().count(), 1 + 2500);

    let refused = no_redirects()
        .get(format!("{}/export/users.csv", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(get("?tracking=maybe").await.unwrap().status(), 422);
    let audit = app
        .core
        .store()
        .audit_entries("users.exported")
        .await
        .unwrap();
    assert_eq!(audit.len(), 3);
    assert!(
        audit[0].detail.contains("tracking=off"),
        "{}",
        audit[0].detail
    );
}
