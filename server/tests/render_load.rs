//! The dashboard's pages under concurrent renders, in a process of its own on the
//! multi-threaded runtime the server runs on. (Beside the other API tests, each on its own
//! single-threaded runtime in one process, a streamed render was seen to wait forever for a
//! wake-up about once in twenty runs; a server process has one runtime.)

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use helpers::*;
use serde_json::json;

/// Every page, rendered many times at once, is a whole document: the server once streamed
/// pages out of order and a page's views could be disposed while their HTML was still being
/// written, which panicked the render and left the browser a page that never hydrated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_renders_whole_under_concurrent_load() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let user = app.register(json!({})).await;
    let dt = user["DeviceToken"].as_str().unwrap().to_string();
    let pages = [
        "/".to_string(),
        "/?tracking=true".to_string(),
        format!("/users/{dt}"),
        "/register".to_string(),
        "/instances".to_string(),
        "/batches".to_string(),
        "/audit".to_string(),
        "/overview".to_string(),
    ];
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut renders = tokio::task::JoinSet::new();
    for round in 0..12 {
        for page in &pages {
            let req = client
                .get(format!("{}{page}", app.base))
                .bearer_auth(&admin);
            let page = format!("{page} (round {round})");
            renders.spawn(async move {
                let render = async {
                    let res = req.send().await.unwrap();
                    let status = res.status().as_u16();
                    (status, res.text().await)
                };
                let outcome =
                    tokio::time::timeout(std::time::Duration::from_secs(60), render).await;
                (page, outcome)
            });
        }
    }
    while let Some(done) = renders.join_next().await {
        let (page, outcome) = done.unwrap();
        let (status, body) = outcome.unwrap_or_else(|_| panic!("{page} never finished rendering"));
        assert_eq!(status, 200, "{page}");
        let body = body.unwrap_or_else(|e| panic!("{page}: the body broke off: {e}"));
        let tail = &body[body.len().saturating_sub(300)..];
        assert!(
            body.contains("</main>") && body.contains("</html>"),
            "{page} is cut short: …{tail}"
        );
        assert!(body.contains("hydrate"), "{page} has no hydration script");
    }
}

/// The users page, hundreds of times at once on four worker threads. Its Transition used to
/// set a "loading" signal on the server from whichever thread resolved the page while another
/// thread wrote the page's HTML reading that signal: a read that met the write panicked
/// (about one render in thirty under load), and the page answered 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_users_page_renders_whole_hundreds_of_times_at_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for n in 0..5 {
        app.register(json!({ "FirstName": format!("Rae{n}"), "LastName": "Render" }))
            .await;
    }
    let client = reqwest::Client::new();
    let mut renders = tokio::task::JoinSet::new();
    for round in 0..300 {
        let req = client
            .get(format!("{}/?q=render&sort=FirstName&n={round}", app.base))
            .bearer_auth(&admin);
        renders.spawn(async move {
            let res = tokio::time::timeout(std::time::Duration::from_secs(120), req.send())
                .await
                .unwrap_or_else(|_| panic!("render {round} never finished"))
                .unwrap();
            (
                round,
                res.status().as_u16(),
                res.text().await.unwrap_or_default(),
            )
        });
    }
    while let Some(done) = renders.join_next().await {
        let (round, status, body) = done.unwrap();
        assert_eq!(status, 200, "render {round}");
        assert!(
            body.contains("Rae4") && body.contains("</html>"),
            "render {round} is cut short"
        );
    }
}
