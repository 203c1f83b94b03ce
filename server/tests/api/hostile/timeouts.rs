//! Slow and silent clients cannot hold connections (finding 6). The timers are set to a
//! second here; each test waits for the server to close the socket, with a generous bound.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

async fn short_timers() -> TestApp {
    spawn_app_with(|c| {
        c.header_timeout = 1;
        c.request_timeout = 2;
        c.idle_timeout = 2;
    })
    .await
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes the connection; returns what it sent and how long that
/// took. Panics if it is still open after 20 s.
async fn until_closed(stream: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the connection was still open after 20 s"),
        }
    }
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_silent_connection_is_closed() {
    let app = short_timers().await;
    let mut stream = connect(&app).await;
    let (sent, _) = until_closed(&mut stream).await;
    assert!(
        sent.is_empty() || sent.starts_with("HTTP/1.1 408"),
        "{sent}"
    );
}

#[tokio::test]
async fn a_request_head_sent_half_is_closed() {
    let app = short_timers().await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    // A byte now and then does not keep it open: the head has a deadline, not an idle timer.
    let trickle = async {
        for _ in 0..30 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if stream.write_all(b"a").await.is_err() {
                break;
            }
        }
    };
    trickle.await;
    let (sent, _) = until_closed(&mut stream).await;
    assert!(!sent.contains("200 OK"), "{sent}");
}

#[tokio::test]
async fn a_request_body_sent_half_is_refused() {
    let app = short_timers().await;
    let mut stream = connect(&app).await;
    let head = format!(
        "POST /v1/Registration/Create HTTP/1.1\r\nHost: 127.0.0.1\r\nInstanceId: {}\r\n\
         InstanceKey: {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"FirstName\"",
        app.instance_id, app.instance_key
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (sent, _) = until_closed(&mut stream).await;
    assert!(sent.is_empty() || sent.starts_with("HTTP/1.1 4"), "{sent}");
    let users = app.user_count().await;
    assert_eq!(users, 0);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_its_answer() {
    let app = short_timers().await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let (sent, _) = until_closed(&mut stream).await;
    assert!(sent.starts_with("HTTP/1.1 200"), "answered first: {sent}");
}

#[tokio::test]
async fn a_client_that_stops_reading_an_answer_is_dropped() {
    let app = short_timers().await;
    let admin = app.admin_token().await;
    // An answer far larger than the socket buffers: the export of 60,000 users.
    for _ in 0..6 {
        let many = serde_json::json!({"Quantity": 10000, "CreateAccessToken": false});
        app.post_instance("/v1/Registration/CreateMany", &many)
            .await
            .result();
    }
    let full = app
        .client
        .get(format!("{}/export/users.csv", app.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .len();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket
        .connect(app.base.trim_start_matches("http://").parse().unwrap())
        .await
        .unwrap();
    let request = format!(
        "GET /export/users.csv HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {admin}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // Read nothing for a while: the server's writes stay blocked, then it gives up.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (sent, _) = until_closed(&mut stream).await;
    assert!(
        sent.starts_with("HTTP/1.1 200"),
        "{}",
        &sent[..sent.len().min(100)]
    );
    assert!(sent.len() < full, "cut off: {} of {full} bytes", sent.len());
}
