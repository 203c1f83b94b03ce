//! `/openapi.json` is a valid OpenAPI 3.1 document that lists exactly the `/v1` routes the
//! server has, each of which answers; `/docs` renders it.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;

/// Every `(METHOD, path)` the routers register under `/v1`, read from their source, lower
/// case with parameters as `{}`: the ground truth the document is checked against.
fn registered_routes() -> BTreeSet<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/api");
    let mut routes = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        // `.route("/v1/...", get(a).put(b))`: the path literal, then the methods up to the
        // statement's closing parenthesis.
        for chunk in source.split(".route(").skip(1) {
            let Some(path) = chunk
                .trim_start()
                .strip_prefix('"')
                .and_then(|r| r.split('"').next())
            else {
                continue;
            };
            if !path.starts_with("/v1/") {
                continue;
            }
            let mut depth = 1;
            let end = chunk
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(chunk.len(), |(i, _)| i);
            let call = &chunk[..end];
            for method in ["get", "post", "put", "patch", "delete"] {
                if call.contains(&format!("{method}(")) {
                    routes.insert((method.to_uppercase(), normalise(path)));
                }
            }
        }
    }
    routes
}

/// Lower case, every `{param}` as `{}`.
fn normalise(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.to_lowercase().chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            c if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

/// Every `$ref` in the document.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(list) => list.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_openapi_document_is_valid_3_1_and_lists_every_v1_route() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let text = res.text().await.unwrap();

    // A real OpenAPI 3.1 parser reads it, and accepts its version.
    let spec = oas3::from_json(&text).expect("oas3 parses the document");
    let version = spec
        .validate_version()
        .expect("a supported OpenAPI version");
    assert_eq!((version.major, version.minor), (3, 1));
    // Every event type is in `webhooks`, and the parser reads it as an operation.
    assert_eq!(spec.webhooks.len(), tus_core::events::EventType::ALL.len());
    for kind in tus_core::events::EventType::ALL {
        let item = spec
            .webhooks
            .get(kind.as_str())
            .unwrap_or_else(|| panic!("{}", kind.as_str()));
        assert!(item.post.is_some(), "{}", kind.as_str());
    }

    // Exactly the routes the server registers.
    let documented: BTreeSet<(String, String)> = spec
        .operations()
        .map(|(path, method, _)| (method.as_str().to_string(), normalise(&path)))
        .collect();
    let registered = registered_routes();
    assert!(
        registered.len() >= 24,
        "found only {} routes in the source: {registered:?}",
        registered.len()
    );
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&registered).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from /openapi.json: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "documented but not routed: {unserved:?}"
    );

    // Every operation has an answer, a summary, and the envelope's error answer; every
    // reference resolves.
    for (path, method, op) in spec.operations() {
        let responses = op.responses.as_ref().expect("responses");
        assert!(responses.contains_key("200"), "{method} {path}");
        assert!(responses.contains_key("4XX"), "{method} {path}");
        assert!(op.summary.is_some(), "{method} {path} has no summary");
        for r in responses.values() {
            let r = r.resolve(&spec).expect("a response resolves");
            for media in r.content.values() {
                if let Some(schema) = &media.schema {
                    schema
                        .resolve(&spec)
                        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
                }
            }
        }
    }
    let raw: Value = serde_json::from_str(&text).unwrap();
    let mut all = Vec::new();
    refs(&raw, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(
            raw["components"]["schemas"].get(name).is_some(),
            "dangling $ref {r}"
        );
    }

    // And each documented route is served: not the no-such-route 404, not a 405.
    for (path, method, _) in spec.operations() {
        let concrete = path
            .split('/')
            .map(|s| {
                if s.starts_with('{') {
                    "00000000-0000-0000-0000-000000000000"
                } else {
                    s
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let method = Method::from_bytes(method.as_str().as_bytes()).unwrap();
        let answer = app.send(method.clone(), &concrete, None, &[]).await;
        let no_route = answer.status == 404 && answer.body.to_string().contains("no such route");
        assert!(
            !no_route && answer.status != 405,
            "{method} {concrete}: {} {}",
            answer.status,
            answer.body
        );
    }
}

#[tokio::test]
async fn the_docs_page_renders_every_operation_without_fetching_anything() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/docs", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = res.text().await.unwrap();
    for path in [
        "/v1/Registration/Create",
        "/v1/Management/users/GetFilteredPage",
        "/v1/Instances/{instanceId}/RotateKey",
    ] {
        assert!(html.contains(path), "{path} missing from /docs");
    }
    assert!(html.contains("id=\"schema-UserPageRequest\""));
    assert!(
        html.contains("id=\"event-user-flags_changed\""),
        "webhook events are listed"
    );
    // Offline: no script, stylesheet or font from anywhere.
    for needle in ["<script", "<link", "http://", "https://", "@import"] {
        assert!(!html.contains(needle), "/docs contains {needle}");
    }
}
