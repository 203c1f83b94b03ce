//! Real `tus` processes on one database: two replicas on PostgreSQL (the scale-out set-up),
//! one process on SQLite (which serves a single node). Correctness under concurrency:
//! a refresh token rotates once however many requests race for it, a CustomToken is
//! registered once, a batch is all or nothing, and replicas starting together agree.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{json, Value};
use sqlx::Connection;

use tus_core::store::scratch::ScratchDatabase;

use crate::helpers::free_port;

/// How long a claimed message or delivery is leased to its sender (the server's fixed
/// lease): what a killed sender had claimed goes again only after it.
const LEASE: Duration = Duration::from_secs(60);

struct Replica {
    base: String,
    child: Child,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tus(db: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tus"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TUS_DATABASE_URL", db)
        .env("TUS_ADMIN_PASSWORD", "replica admin password")
        .env("TUS_REFRESH_REUSE_GRACE", "0")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    cmd
}

/// Starts `tus serve` on a free port; no TUS_JWT_SECRET, so replicas must share the key
/// through the database.
fn start(db: &str) -> Replica {
    start_with(db, &[])
}

fn start_with(db: &str, env: &[(&str, String)]) -> Replica {
    let port = free_port();
    let child = tus(db)
        .arg("serve")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .spawn()
        .expect("tus starts");
    Replica {
        base: format!("http://127.0.0.1:{port}"),
        child,
    }
}

async fn ready(replicas: &[&Replica]) {
    let client = reqwest::Client::new();
    for r in replicas {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(res) = client.get(format!("{}/readyz", r.base)).send().await {
                if res.status() == 200 {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "{} never became ready", r.base);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `tus instance create --json` against the database: InstanceId and InstanceKey.
fn create_instance(db: &str) -> (String, String) {
    let out = tus(db)
        .args(["instance", "create", "--name", "Fleet", "--json"])
        .output()
        .expect("cli runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    (
        v["InstanceId"].as_str().unwrap().to_string(),
        v["InstanceKey"].as_str().unwrap().to_string(),
    )
}

async fn post(
    base: &str,
    path: &str,
    body: &Value,
    instance: Option<&(String, String)>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(body);
    if let Some((id, key)) = instance {
        req = req.header("InstanceId", id).header("InstanceKey", key);
    }
    let res = req.send().await.expect("sent");
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

/// The first admin's access token, from a replica.
async fn admin_token(base: &str) -> String {
    let (status, login) = post(
        base,
        "/v1/Auth/Login",
        &json!({"LoginFields": {"Email": "admin@localhost"}, "Password": "replica admin password"}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{login}");
    login["Result"]["AccessToken"]["Token"]
        .as_str()
        .unwrap()
        .to_string()
}

fn refresh_body(pair: &Value) -> Value {
    json!({"AccessToken": pair["AccessToken"]["Token"], "RefreshToken": pair["RefreshToken"]})
}

/// Two replicas on PostgreSQL; one process on SQLite.
async fn replicas(db: &ScratchDatabase) -> Vec<Replica> {
    let count = if db.backend() == "postgres" { 2 } else { 1 };
    let started: Vec<Replica> = (0..count).map(|_| start(&db.url)).collect();
    ready(&started.iter().collect::<Vec<_>>()).await;
    started
}

#[tokio::test]
async fn a_token_registered_on_one_replica_refreshes_on_another_and_40_racing_refreshes_rotate_once(
) {
    let db = ScratchDatabase::from_env().await.unwrap();
    let instance = create_instance(&db.url);
    let nodes = replicas(&db).await;
    let a = &nodes[0].base;
    let b = &nodes[nodes.len() - 1].base;

    let (status, registered) =
        post(a, "/v1/Registration/Create", &json!({}), Some(&instance)).await;
    assert_eq!(status, 200, "{registered}");
    let (status, rotated) = post(
        b,
        "/v1/Auth/RefreshToken",
        &refresh_body(&registered["Result"]),
        None,
    )
    .await;
    assert_eq!(status, 200, "refresh on the other replica: {rotated}");
    let pair = rotated["Result"].clone();

    let racing = (0..40).map(|i| {
        let base = if i % 2 == 0 { a } else { b };
        let body = refresh_body(&pair);
        async move { post(base, "/v1/Auth/RefreshToken", &body, None).await }
    });
    let answers = join_all(racing).await;
    let winners: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, v)| v)
        .collect();
    let losers = answers.iter().filter(|(s, _)| *s == 401).count();
    assert_eq!(
        winners.len(),
        1,
        "exactly one refresh succeeds: {:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    assert_eq!(losers, 39);
    // The others counted as reuse: the family is revoked, the winner's new pair included.
    let (status, _) = post(
        a,
        "/v1/Auth/RefreshToken",
        &refresh_body(&winners[0]["Result"]),
        None,
    )
    .await;
    assert_eq!(status, 401, "the family is revoked");
}

#[tokio::test]
async fn two_registrations_racing_for_one_custom_token_give_one_200_and_one_409() {
    let db = ScratchDatabase::from_env().await.unwrap();
    let instance = create_instance(&db.url);
    let nodes = replicas(&db).await;
    for _ in 0..5 {
        let body = json!({"CustomToken": uuid::Uuid::new_v4().to_string()});
        let (first, second) = tokio::join!(
            post(
                &nodes[0].base,
                "/v1/Registration/Create",
                &body,
                Some(&instance)
            ),
            post(
                &nodes[nodes.len() - 1].base,
                "/v1/Registration/Create",
                &body,
                Some(&instance)
            ),
        );
        let mut statuses = [first.0, second.0];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "{first:?} {second:?}");
    }
}

#[tokio::test]
async fn replicas_starting_together_on_an_empty_database_create_one_default_instance_and_one_admin()
{
    let db = ScratchDatabase::from_env().await.unwrap();
    let nodes = replicas(&db).await;
    assert!(!nodes.is_empty());
    let count = |sql: &'static str| {
        let url = db.url.clone();
        async move {
            if url.starts_with("postgres") {
                let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(&mut c)
                    .await
                    .unwrap()
            } else {
                let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(&mut c)
                    .await
                    .unwrap()
            }
        }
    };
    assert_eq!(count("SELECT COUNT(*) FROM applications").await, 1);
    assert_eq!(count("SELECT COUNT(*) FROM instances").await, 1);
    assert_eq!(count("SELECT COUNT(*) FROM admins").await, 1);
    assert_eq!(
        count("SELECT COUNT(*) FROM settings WHERE name = 'jwt_signing_key'").await,
        1
    );
}

#[tokio::test]
async fn the_cli_creates_an_admin_who_can_log_in_and_refuses_a_short_password() {
    use std::io::Write;
    let db = ScratchDatabase::from_env().await.unwrap();
    let admin = |password: &str, role: &str| {
        let mut child = tus(&db.url)
            .args([
                "admin",
                "create",
                "--email",
                "Ops@Example.com",
                "--password-stdin",
                "--role",
                role,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(password.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let short = admin("short\n", "Viewer");
    assert!(!short.status.success());
    assert!(
        String::from_utf8_lossy(&short.stderr).contains("Password"),
        "says what is wrong"
    );
    let unknown = admin("a long enough password\n", "Emperor");
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("not a role"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
    let ok = admin("a long enough password\n", "Viewer");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("(Viewer)"));

    let node = start(&db.url);
    ready(&[&node]).await;
    let login =
        json!({"LoginFields": {"Email": "ops@example.com"}, "Password": "a long enough password"});
    let (status, body) = post(&node.base, "/v1/Auth/Login", &login, None).await;
    assert_eq!(status, 200, "{body}");
    // A Viewer: reads, never writes.
    let token = body["Result"]["AccessToken"]["Token"].as_str().unwrap();
    let me = reqwest::Client::new()
        .post(format!("{}/api/current_admin", node.base))
        .bearer_auth(token)
        .header("Origin", &node.base)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(me["role"], "Viewer");
}

/// Messages queued on every replica, then every process killed with SIGKILL before SMTP is
/// up: after a restart each is delivered, and (two replicas on PostgreSQL) exactly once.
#[tokio::test]
async fn queued_messages_survive_kill_9_and_replicas_send_each_exactly_once() {
    let db = ScratchDatabase::from_env().await.expect("scratch");
    let smtp = free_port();
    let env = [
        ("TUS_SMTP_URL", format!("smtp://127.0.0.1:{smtp}")),
        ("TUS_OUTBOX_RETRY_BASE", "1".to_string()),
    ];
    let count = if db.backend() == "postgres" { 2 } else { 1 };
    let first: Vec<Replica> = (0..count).map(|_| start_with(&db.url, &env)).collect();
    ready(&first.iter().collect::<Vec<_>>()).await;
    let admin = admin_token(&first[0].base).await;
    let client = reqwest::Client::new();
    for i in 0..30 {
        let replica = &first[i % first.len()];
        let res = client
            .post(format!("{}/v1/Deliveries/test", replica.base))
            .bearer_auth(&admin)
            .json(&json!({"Deliver": "Email", "To": format!("driver{i}@example.com")}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    drop(first); // SIGKILL: nothing is sent, nothing is settled gracefully.

    let mail = crate::delivery::Maildev::start(smtp).await;
    let second: Vec<Replica> = (0..count).map(|_| start_with(&db.url, &env)).collect();
    ready(&second.iter().collect::<Vec<_>>()).await;
    let deadline = Instant::now() + LEASE + Duration::from_secs(30);
    loop {
        let n = mail.emails().await.unwrap_or_default().len();
        if n >= 30 {
            break;
        }
        assert!(Instant::now() < deadline, "only {n} of 30 arrived");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A little longer: a second send of any message would show now.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let emails = mail.emails().await.unwrap();
    let mut recipients: Vec<String> = emails
        .iter()
        .map(|e| e["to"][0]["address"].as_str().unwrap().to_string())
        .collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(
        (emails.len(), recipients.len()),
        (30, 30),
        "each message exactly once"
    );
}

/// Events queued on every replica while the receiver is down, then every process killed with
/// SIGKILL: after a restart each event arrives, and (two replicas on PostgreSQL) once.
#[tokio::test]
async fn queued_events_survive_kill_9_and_replicas_deliver_each_once() {
    let db = ScratchDatabase::from_env().await.expect("scratch");
    let port = free_port();
    let env = [("TUS_OUTBOX_RETRY_BASE", "1".to_string())];
    let count = if db.backend() == "postgres" { 2 } else { 1 };
    let first: Vec<Replica> = (0..count).map(|_| start_with(&db.url, &env)).collect();
    ready(&first.iter().collect::<Vec<_>>()).await;
    let admin = admin_token(&first[0].base).await;
    let client = reqwest::Client::new();
    let hook = client
        .post(format!("{}/v1/Webhooks", first[0].base))
        .bearer_auth(&admin)
        .json(&json!({
            "Url": format!("http://127.0.0.1:{port}/hook"),
            "AllowPrivate": true,
            "EventTypes": ["user.created"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(hook.status(), 200);
    let instance = create_instance(&db.url);
    for i in 0..30 {
        let replica = &first[i % first.len()];
        let (status, body) = post(
            &replica.base,
            "/v1/Registration/Create",
            &json!({}),
            Some(&instance),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    // Let them try (and fail: nobody listens), then kill every process.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(first);

    let (receiver, _) = crate::webhooks::Receiver::start_on(port).await;
    let second: Vec<Replica> = (0..count).map(|_| start_with(&db.url, &env)).collect();
    ready(&second.iter().collect::<Vec<_>>()).await;
    // A delivery a killed replica had claimed (mid-attempt) waits for its lease to run out
    // before it goes again: allow the whole lease, plus time to send.
    receiver
        .wait_within("30 events", LEASE + Duration::from_secs(30), |g| {
            g.len() >= 30
        })
        .await;
    // A little longer: a second delivery of any event would show now.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = receiver.received();
    let mut ids: Vec<String> = got.iter().map(|r| r.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((got.len(), ids.len()), (30, 30), "each event exactly once");
    assert!(got.iter().all(|r| r.event()["type"] == "user.created"));
}
