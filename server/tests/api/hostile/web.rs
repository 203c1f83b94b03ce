//! The dashboard as a web target: redirects, cross-site requests, forged cookies, protective
//! headers, body limits, and who reads InstanceKeys. Findings 4, 14 and 16.

use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::json;

use super::raw_http;
use crate::dashboard::{call, cookie_header, no_redirects, origin, sign_in, ADMIN_PASSWORD};
use crate::helpers::*;

/// Signs in through the form with `next`; returns the status and the `Location` header.
async fn sign_in_to(app: &TestApp, next: &str) -> (u16, Option<String>) {
    let res = no_redirects()
        .post(format!("{}/api/sign_in", app.base))
        .header("Origin", &app.base)
        .form(&[
            ("email", "admin@localhost"),
            ("password", ADMIN_PASSWORD),
            ("next", next),
        ])
        .send()
        .await
        .unwrap();
    let location = res
        .headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_string());
    (res.status().as_u16(), location)
}

#[tokio::test]
async fn a_sign_in_next_that_browsers_read_as_another_site_goes_home() {
    let app = spawn_app().await;
    for next in [
        "/\t/evil.example/phish",
        "/\n/evil.example",
        "/\\evil.example",
        "\t//evil.example",
        "//evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "/a\r\nSet-Cookie: x=1",
    ] {
        let (status, location) = sign_in_to(&app, next).await;
        assert!(status < 500, "{next:?}: {status}");
        let location = location.unwrap_or_default();
        assert!(
            location.starts_with('/') && !location.starts_with("//") && !location.contains("evil"),
            "{next:?} went to {location:?}"
        );
        assert!(!location.contains(['\t', '\r', '\n', '\\']), "{location:?}");
    }
    assert_eq!(
        sign_in_to(&app, "/instances?x=1").await.1.as_deref(),
        Some("/instances?x=1")
    );

    // The page's own redirect of a signed-in admin, with the tab percent-encoded.
    let (_, cookies) = sign_in(&app, ADMIN_PASSWORD, &[]).await;
    let res = no_redirects()
        .get(format!(
            "{}/sign-in?next=%2F%09%2Fevil.example%2Fphish",
            app.base
        ))
        .header("Cookie", cookie_header(&cookies))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[LOCATION], "/");
}

#[tokio::test]
async fn a_cookie_post_from_another_port_or_scheme_of_the_same_host_is_refused() {
    let app = spawn_app().await;
    let user = app.register(json!({})).await;
    let args = json!({"device_token": user["DeviceToken"], "active": false});
    let (_, cookies) = sign_in(&app, ADMIN_PASSWORD, &[]).await;
    let cookie = ("Cookie", cookie_header(&cookies));
    let port = app.base.rsplit(':').next().unwrap().to_string();
    for headers in [
        // What a proxy sending `Host: $host` passes on: no port at all.
        vec![
            cookie.clone(),
            ("Host", "127.0.0.1".into()),
            ("Origin", "http://127.0.0.1:8666".into()),
        ],
        vec![
            cookie.clone(),
            ("Origin", format!("https://127.0.0.1:{port}")),
        ],
        vec![
            cookie.clone(),
            ("Origin", format!("http://127.0.0.1:{port}.evil.example")),
        ],
        vec![
            cookie.clone(),
            ("Referer", format!("https://127.0.0.1:{port}/instances")),
        ],
    ] {
        let refused = call(&app, "set_status", args.clone(), &headers).await;
        assert_eq!(refused.status, 403, "{headers:?}: {}", refused.body);
    }
    assert_eq!(app.refresh(&user).await.status, 200, "nothing changed");
    let same = call(&app, "set_status", args, &[cookie, origin(&app)]).await;
    assert_eq!(same.status, 200, "{}", same.body);
}

#[tokio::test]
async fn behind_a_proxy_only_the_configured_public_origin_may_post() {
    let app = spawn_app_with(|c| c.public_url = Some("https://tus.example.com".into())).await;
    let user = app.register(json!({})).await;
    let args = json!({"device_token": user["DeviceToken"], "active": false});
    let (_, cookies) = sign_in_to_public(&app).await;
    let cookie = ("Cookie", cookie_header(&cookies));
    let direct = call(
        &app,
        "set_status",
        args.clone(),
        &[cookie.clone(), origin(&app)],
    )
    .await;
    assert_eq!(direct.status, 403, "{}", direct.body);
    let proxied = call(
        &app,
        "set_status",
        args,
        &[
            cookie,
            ("Origin", "https://tus.example.com".into()),
            ("X-Forwarded-Proto", "https".into()),
        ],
    )
    .await;
    assert_eq!(proxied.status, 200, "{}", proxied.body);
}

async fn sign_in_to_public(app: &TestApp) -> (u16, Vec<String>) {
    let res = no_redirects()
        .post(format!("{}/api/sign_in", app.base))
        .header("Origin", "https://tus.example.com")
        .form(&[
            ("email", "admin@localhost"),
            ("password", ADMIN_PASSWORD),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    let cookies = res
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    (res.status().as_u16(), cookies)
}

/// Session cookies nobody issued: unsigned, signed with another key, or another server's.
#[tokio::test]
async fn forged_session_cookies_open_no_session() {
    let app = spawn_app().await;
    let other = spawn_app().await;
    let genuine = app.admin_token().await;
    let foreign = other.admin_token().await;
    let mut parts: Vec<&str> = genuine.split('.').collect();
    let unsigned_header = super::b64(&json!({"alg": "none", "typ": "JWT"}));
    parts[0] = &unsigned_header;
    let unsigned = format!("{}.{}.", parts[0], parts[1]);
    for forged in [unsigned.as_str(), foreign.as_str(), "garbage", "a.b.c"] {
        let jar = ("Cookie", format!("tus_access={forged}; tus_refresh=AAAA"));
        let page = no_redirects()
            .get(format!("{}/instances", app.base))
            .header(jar.0, &jar.1)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 303, "{forged}");
        for name in ["current_admin", "session_menu"] {
            let args = json!({"path": "/"});
            let called = call(&app, name, args, &[jar.clone(), origin(&app)]).await;
            assert_eq!(called.status, 401, "{forged} {name}: {}", called.body);
        }
    }
}

/// The REST API takes only its own credentials. A signed-in admin's dashboard cookies,
/// genuine and fresh, open the dashboard but nothing under `/v1/`, and a REST answer never
/// sets or refreshes a cookie. Paths that only look like the API's (`/v1` alone, `/v1x/…`)
/// are the dashboard's: without a session they go to the sign-in page.
#[tokio::test]
async fn dashboard_cookies_open_nothing_in_the_rest_api() {
    let app = spawn_app().await;
    let (status, set) = sign_in(&app, ADMIN_PASSWORD, &[]).await;
    assert_eq!(status, 200);
    let jar = cookie_header(&set);
    let page = no_redirects()
        .get(format!("{}/instances", app.base))
        .header("Cookie", &jar)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "the cookies are an admin's session");

    let user = app.register(json!({})).await;
    let rest = no_redirects()
        .get(format!(
            "{}/v1/management/users?DeviceToken={}",
            app.base,
            user["DeviceToken"].as_str().unwrap()
        ))
        .header("Cookie", &jar)
        .header("Origin", &app.base)
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 401);
    assert!(rest.headers().get(SET_COOKIE).is_none());

    for path in ["/v1", "/v1x/management/users"] {
        let res = no_redirects()
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "{path}");
        let location = res.headers()[LOCATION].to_str().unwrap().to_string();
        assert!(location.starts_with("/sign-in?next="), "{path}: {location}");
    }
}

#[tokio::test]
async fn pages_carry_a_strict_content_security_policy_and_https_brings_hsts() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let page = no_redirects()
        .get(format!("{}/", app.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        !page.headers().contains_key("strict-transport-security"),
        "plain http"
    );
    let html = page.text().await.unwrap();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_else(|| panic!("no nonce in {csp}"));
    for directive in [
        "default-src 'self'",
        "style-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    // Every inline script of the page carries this response's nonce.
    let scripts = html.matches("<script").count();
    assert!(scripts > 0);
    assert_eq!(
        html.matches(&format!("nonce=\"{nonce}\"")).count(),
        scripts,
        "{html}"
    );
    assert!(!html.contains(" style=\""), "no inline style attributes");

    let https = no_redirects()
        .get(format!("{}/healthz", app.base))
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(
        https.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let docs = no_redirects()
        .get(format!("{}/docs", app.base))
        .send()
        .await
        .unwrap();
    assert!(docs.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("default-src 'none'"));
}

/// BREACH: a response that carries a secret next to something the client sent must not
/// be compressed, or whoever sees its size can guess the secret byte by byte. Asked for
/// brotli and gzip, the registration (tokens), the sign-in page and a dashboard page (CSRF
/// values, nonces) and an error envelope all go out as they are; only the front end's
/// static WASM, JavaScript and CSS are compressed (checked in Chromium by end2end).
#[tokio::test]
async fn nothing_that_carries_a_secret_is_compressed_even_when_asked() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let asks = |req: reqwest::RequestBuilder| req.header("Accept-Encoding", "br, gzip, deflate");
    let answers = [
        asks(
            app.client
                .post(format!("{}/v1/Registration/Create", app.base)),
        )
        .header("InstanceId", &app.instance_id)
        .header("InstanceKey", &app.instance_key)
        .json(&json!({"UserFields": {"FirstName": "guess-me"}})),
        asks(app.client.post(format!("{}/v1/Auth/Login", app.base))).json(&json!({})),
        asks(no_redirects().get(format!("{}/sign-in", app.base))),
        asks(no_redirects().get(format!("{}/users?q=guess", app.base))).bearer_auth(&admin),
    ];
    for req in answers {
        let res = req.send().await.unwrap();
        let url = res.url().to_string();
        assert!(
            !res.headers().contains_key("content-encoding"),
            "{url} was compressed: {:?}",
            res.headers()
        );
        assert!(res.bytes().await.unwrap().len() > 50, "{url} answered");
    }
}

#[tokio::test]
async fn server_functions_refuse_bodies_over_1_mib() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let huge = json!({"query": {"q": "x".repeat(2 * 1024 * 1024)}});
    let declared = call(&app, "list_users", huge, &[bearer(&admin)]).await;
    assert_eq!(declared.status, 413, "{}", declared.body);
    // Chunked, so no Content-Length announces it: refused once it passes 1 MiB.
    let chunk = "x".repeat(64 * 1024);
    let mut request = format!(
        "POST /api/list_users HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {admin}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    for _ in 0..17 {
        request.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    request.push_str("0\r\n\r\n");
    let answer = raw_http(&app, request.as_bytes()).await;
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "{}",
        &answer[..answer.len().min(200)]
    );
}

#[tokio::test]
async fn reading_instance_keys_over_rest_is_recorded_per_key_shown() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let get = |path: String| {
        let admin = admin.clone();
        let app = &app;
        async move {
            app.send(reqwest::Method::GET, &path, None, &[bearer(&admin)])
                .await
        }
    };
    let one = get(format!("/v1/Instances/{}", app.instance_id)).await;
    assert_eq!(one.result()["Key"], app.instance_key.as_str());
    let app_id = one.result()["AppId"].as_str().unwrap().to_string();
    get(format!("/v1/applications/{app_id}/instances"))
        .await
        .result();
    get(format!("/v1/Applications/{app_id}?includeInstances=true"))
        .await
        .result();
    get(format!("/v1/Applications/{app_id}")).await.result();
    let shown = app
        .core
        .store()
        .audit_entries("instance.key_revealed")
        .await
        .unwrap();
    assert_eq!(shown.len(), 3, "one per key in an answer: {shown:?}");
    assert!(shown.iter().all(|e| e.actor == "admin:admin@localhost"
        && e.target == format!("instance:{}", app.instance_id)));
}
