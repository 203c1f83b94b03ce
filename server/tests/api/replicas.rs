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

pub(crate) struct Replica {
    pub(crate) base: String,
    pub(crate) child: Child,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn tus(db: &str) -> Command {
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

pub(crate) async fn ready(replicas: &[&Replica]) {
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

/// Runs `command` (a `tus` command) to its end: it must succeed, or the test fails with its
/// stderr. Its output, stdout for the caller to read.
pub(crate) fn succeeds(command: &mut Command) -> std::process::Output {
    let out = command.output().expect("cli runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `tus instance create --json` against the database: InstanceId and InstanceKey.
pub(crate) fn create_instance(db: &str) -> (String, String) {
    let out = succeeds(tus(db).args(["instance", "create", "--name", "Fleet", "--json"]));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    (
        v["InstanceId"].as_str().unwrap().to_string(),
        v["InstanceKey"].as_str().unwrap().to_string(),
    )
}

pub(crate) async fn post(
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

/// Sends `req` with an admin's access token: its status and JSON body.
pub(crate) async fn as_admin(req: reqwest::RequestBuilder, token: &str) -> (u16, Value) {
    let res = req.bearer_auth(token).send().await.expect("sent");
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

/// The first admin's access token, from a replica.
pub(crate) async fn admin_token(base: &str) -> String {
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

/// The claims of an answer's access token, unverified (the test only reads them).
fn claims_of(answer: &Value) -> Value {
    use base64::Engine;
    let token = answer["Result"]["AccessToken"]["Token"].as_str().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// A replica authenticates registrations from the instance as it last read it (issue 19),
/// so the attacker here holds a key that another replica has just rotated, then the new key
/// of an instance another replica has just deactivated: each is refused at once, by the
/// replica that had the old instance in memory, and stores nothing. A CompanyId set by the
/// CLI in a process of its own is in the very next token.
#[tokio::test]
async fn a_key_rotated_or_an_instance_deactivated_on_another_replica_is_refused_at_once() {
    let db = ScratchDatabase::from_env().await.unwrap();
    let instance = create_instance(&db.url);
    let nodes = replicas(&db).await;
    let a = &nodes[0].base;
    let b = &nodes[nodes.len() - 1].base;
    let (status, first) = post(a, "/v1/Registration/Create", &json!({}), Some(&instance)).await;
    assert_eq!(status, 200, "{first}");

    let company = uuid::Uuid::new_v4().to_string();
    succeeds(tus(&db.url).args(["company", "--set-id", &company]));
    let (status, second) = post(a, "/v1/Registration/Create", &json!({}), Some(&instance)).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(claims_of(&second)["CompanyId"], company.as_str());

    let admin = admin_token(b).await;
    let client = reqwest::Client::new();
    let path = format!("{b}/v1/Instances/{}", instance.0);
    let (status, rotated) = as_admin(client.post(format!("{path}/RotateKey")), &admin).await;
    assert_eq!(status, 200, "{rotated}");
    let new_key = rotated["Result"]["Key"]
        .as_str()
        .expect("the new key")
        .to_string();
    let users = || on_db(&db, "SELECT COUNT(*) FROM users");
    let before = users().await;
    let (status, refused) = post(a, "/v1/Registration/Create", &json!({}), Some(&instance)).await;
    assert_eq!(status, 401, "the rotated key: {refused}");
    assert_eq!(users().await, before);
    let renewed = (instance.0.clone(), new_key);
    let (status, third) = post(a, "/v1/Registration/Create", &json!({}), Some(&renewed)).await;
    assert_eq!(status, 200, "the new key: {third}");

    let (status, patched) = as_admin(client.patch(format!("{path}?Status=2")), &admin).await;
    assert_eq!(status, 200, "{patched}");
    let before = users().await;
    let (status, refused) = post(a, "/v1/Registration/Create", &json!({}), Some(&renewed)).await;
    assert_eq!(status, 403, "the deactivated instance: {refused}");
    assert_eq!(users().await, before);
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

/// Polls an import on `base` until `done` says so; answers its view.
async fn import_until(base: &str, token: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (_, v) = as_admin(
            client.get(format!("{base}/v1/Management/imports/{id}")),
            token,
        )
        .await;
        if done(&v["Result"]) {
            return v["Result"].clone();
        }
        assert!(Instant::now() < deadline, "the import never got there: {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The server's peak resident memory, in MiB (Linux).
fn peak_mib(child: &Child) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap()
        >> 10
}

#[tokio::test]
async fn an_import_killed_with_kill_9_resumes_and_imports_each_row_exactly_once_in_bounded_memory()
{
    let db = ScratchDatabase::from_env().await.unwrap();
    // The deployment and the instance keep the identity they had elsewhere, from the
    // command line.
    let company = uuid::Uuid::new_v4().to_string();
    let out = succeeds(tus(&db.url).args(["company", "--set-id", &company]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("CompanyId: {company}")
    );
    let (id, key) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    let out = succeeds(tus(&db.url).args([
        "instance", "create", "--name", "Moved", "--id", &id, "--key", &key, "--json",
    ]));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            created["InstanceId"].as_str(),
            created["InstanceKey"].as_str()
        ),
        (Some(id.as_str()), Some(key.as_str()))
    );

    // 100,000 rows of about 300 bytes (30 MB): the server never holds the file.
    let rows = 100_000;
    let address = "Long Street ".repeat(20);
    let mut file = String::from("DeviceToken,FirstName,Address\n");
    for n in 0..rows {
        file.push_str(&format!(
            "{},Driver {n},\"{address}{n}\"\n",
            uuid::Uuid::new_v4()
        ));
    }
    let mut first = start(&db.url);
    ready(&[&first]).await;
    let admin = admin_token(&first.base).await;
    let before = peak_mib(&first.child);
    let answer: Value = reqwest::Client::new()
        .post(format!(
            "{}/v1/Management/imports?instance={id}&fileName=fleet.csv",
            first.base
        ))
        .bearer_auth(&admin)
        .body(file)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let import = answer["Result"]["Id"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
        .to_string();
    assert_eq!(answer["Result"]["Rows"], rows);
    // Killed mid-run: some chunks written, not all.
    let seen = import_until(&first.base, &admin, &import, |v| {
        v["Done"].as_i64().unwrap() >= 2000
    })
    .await;
    assert!(seen["Done"].as_i64().unwrap() < rows, "{seen}");
    let peak = peak_mib(&first.child);
    eprintln!("server peak resident memory: {before} MiB before the upload, {peak} MiB while importing a 30 MB file");
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    assert!(
        peak - before < 60,
        "the server grew from {before} to {peak} MiB for a 30 MB file"
    );

    // Another process finds it running but silent; a minute later it shows interrupted
    // (aged here rather than waited for) and resumes where the last commit left it.
    let second = start(&db.url);
    ready(&[&second]).await;
    let admin = admin_token(&second.base).await;
    age_import(&db, &import).await;
    let v = import_until(&second.base, &admin, &import, |v| {
        v["State"] == "Interrupted"
    })
    .await;
    let at_kill = v["Done"].as_i64().unwrap();
    assert!(at_kill >= 2000 && at_kill < rows, "{v}");
    let resumed = reqwest::Client::new()
        .post(format!(
            "{}/v1/Management/imports/{import}/resume",
            second.base
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), 200);
    let v = import_until(&second.base, &admin, &import, |v| v["State"] == "Completed").await;
    assert_eq!(
        (&v["Created"], &v["Failed"], &v["Done"]),
        (&json!(rows), &json!(0), &json!(rows)),
        "{v}"
    );
    let report = reqwest::Client::new()
        .get(format!(
            "{}/v1/Management/imports/{import}/report",
            second.base
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let numbers: std::collections::BTreeSet<&str> = report
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(
        report.lines().count() - 1,
        rows as usize,
        "one report line per row"
    );
    assert_eq!(numbers.len(), rows as usize, "each row once");
    assert_eq!(users_in_batch(&db, &import).await, rows);
    // A driver logs in with its DeviceToken and the kept InstanceKey.
    let token = report
        .lines()
        .nth(77)
        .unwrap()
        .split(',')
        .nth(1)
        .unwrap()
        .to_string();
    let (status, login) = post(
        &second.base,
        "/v1/Auth/Login",
        &json!({"LoginFields": {"DeviceToken": token}, "Password": key}),
        Some(&(id.clone(), String::new())),
    )
    .await;
    assert_eq!(status, 200, "{login}");
    let claims = claims_of(&login);
    assert_eq!(
        (claims["InstanceId"].as_str(), claims["CompanyId"].as_str()),
        (Some(id.as_str()), Some(company.as_str()))
    );
}

async fn on_db(db: &ScratchDatabase, sql: &str) -> i64 {
    if db.backend() == "postgres" {
        let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&mut c)
            .await
            .unwrap()
    } else {
        let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&mut c)
            .await
            .unwrap()
    }
}

/// Makes a running import look silent for two minutes, as after its server died.
async fn age_import(db: &ScratchDatabase, id: &str) {
    on_db(
        db,
        &format!(
            "UPDATE batches SET updated_at = updated_at - 120000 WHERE id = '{id}' RETURNING CAST(1 AS BIGINT)"
        ),
    )
    .await;
}

async fn users_in_batch(db: &ScratchDatabase, id: &str) -> i64 {
    on_db(
        db,
        &format!("SELECT COUNT(*) FROM users WHERE batch_id = '{id}'"),
    )
    .await
}

#[tokio::test]
async fn tus_import_checks_then_imports_a_file_and_writes_its_report() {
    let db = ScratchDatabase::from_env().await.unwrap();
    let (instance, key) = create_instance(&db.url);
    let dir = std::env::temp_dir().join(format!("tus-import-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fleet.ndjson");
    let tokens: Vec<String> = (0..1500)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let mut text: String = tokens
        .iter()
        .enumerate()
        .map(|(n, t)| format!("{{\"DeviceToken\":\"{t}\",\"FirstName\":\"D{n}\",\"UserFields\":{{\"EnableLogging\":true}}}}\n"))
        .collect();
    text.push_str("{\"DeviceToken\":\"nope\"}\n");
    std::fs::write(&path, text).unwrap();
    let run = |extra: &[&str]| {
        let out = succeeds(
            tus(&db.url)
                .arg("import")
                .arg(&path)
                .args(["--instance", &instance])
                .args(extra),
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let said = run(&["--dry-run"]);
    assert!(said.contains("dry run: 1501 rows into Fleet: 1500 would be created, 0 would be updated, 0 would be skipped, 1 errors"), "{said}");
    assert!(said.contains("nothing was written"), "{said}");
    let said = run(&[]);
    assert!(
        said.contains("1501 rows into Fleet: 1500 created"),
        "{said}"
    );
    let report = std::fs::read_to_string(dir.join("fleet.ndjson.report.csv")).unwrap();
    assert_eq!(
        report.lines().next(),
        Some("Row,DeviceToken,Result,Field,Reason")
    );
    assert_eq!(
        report.lines().filter(|l| l.contains(",created,")).count(),
        1500
    );
    assert!(
        report.contains("1501,,error,DeviceToken,DeviceToken must be a UUID"),
        "{report}"
    );
    let said = run(&["--on-existing", "fail"]);
    assert!(
        said.contains("0 created, 0 updated, 0 skipped, 1501 errors"),
        "{said}"
    );
    // Its drivers log in with the instance's key.
    let server = start(&db.url);
    ready(&[&server]).await;
    let (status, login) = post(
        &server.base,
        "/v1/Auth/Login",
        &json!({"LoginFields": {"DeviceToken": tokens[9]}, "Password": key}),
        Some(&(instance.clone(), String::new())),
    )
    .await;
    assert_eq!(status, 200, "{login}");
    // A bad file is one clear error and a failing exit.
    std::fs::write(&path, b"\x89PNG\r\n\x1a\n\0\0").unwrap();
    let out = tus(&db.url)
        .arg("import")
        .arg(&path)
        .args(["--instance", &instance])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("binary data"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A registration or refresh sent to `base`: its status and body, or `None` when no answer
/// came back (the process was killed before or while it answered).
async fn attempt(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    body: &Value,
    instance: &(String, String),
) -> Option<(u16, Value)> {
    let res = client
        .post(format!("{base}{path}"))
        .header("InstanceId", &instance.0)
        .header("InstanceKey", &instance.1)
        .json(body)
        .send()
        .await
        .ok()?;
    let status = res.status().as_u16();
    Some((status, res.json().await.ok()?))
}

/// Issue 19's durability check for group commit: 16 clients register and refresh as fast as
/// they can, then every process is killed with SIGKILL. After a restart every answered
/// registration and refresh is there: each driver's latest acknowledged pair refreshes. Only
/// a request that got no answer may have gone either way, and its driver is left out.
#[tokio::test]
async fn kill_9_under_load_loses_no_acknowledged_registration_or_refresh() {
    let db = ScratchDatabase::from_env().await.unwrap();
    let instance = create_instance(&db.url);
    let mut nodes = replicas(&db).await;
    let client = reqwest::Client::new();
    let workers: Vec<_> = (0..16)
        .map(|w| {
            let base = nodes[w % nodes.len()].base.clone();
            let (client, instance) = (client.clone(), instance.clone());
            tokio::spawn(async move {
                let mut known: Vec<Value> = Vec::new();
                for step in 0usize.. {
                    if known.is_empty() || step % 3 == 0 {
                        let path = "/v1/Registration/Create";
                        match attempt(&client, &base, path, &json!({}), &instance).await {
                            Some((200, v)) => known.push(v["Result"].clone()),
                            Some((status, v)) => panic!("registration: {status} {v}"),
                            None => break,
                        }
                    } else {
                        let i = step % known.len();
                        let body = refresh_body(&known[i]);
                        let path = "/v1/Auth/RefreshToken";
                        match attempt(&client, &base, path, &body, &instance).await {
                            Some((200, v)) => known[i] = v["Result"].clone(),
                            Some((status, v)) => panic!("refresh: {status} {v}"),
                            None => {
                                known.remove(i);
                                break;
                            }
                        }
                    }
                }
                known
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for node in &mut nodes {
        node.child.kill().unwrap();
        node.child.wait().unwrap();
    }
    let mut acknowledged = Vec::new();
    for worker in join_all(workers).await {
        acknowledged.extend(worker.unwrap());
    }
    assert!(
        acknowledged.len() >= 32,
        "the load ran: {} drivers",
        acknowledged.len()
    );

    let nodes = replicas(&db).await;
    for (i, pair) in acknowledged.iter().enumerate() {
        let base = &nodes[i % nodes.len()].base;
        let (status, answer) = post(base, "/v1/Auth/RefreshToken", &refresh_body(pair), None).await;
        assert_eq!(status, 200, "an acknowledged pair was lost: {answer}");
    }
}

/// `TUS_LOG_FORMAT=json`: every line on standard error is one JSON object, and the lines of
/// a request carry its id, even one made to break out of its string.
#[tokio::test]
async fn json_logs_are_one_object_per_line_with_the_request_id() {
    let db = ScratchDatabase::create("sqlite").await.unwrap();
    let port = free_port();
    let mut child = tus(&db.url)
        .arg("serve")
        .env("TUS_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tus starts");
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines_tx.send(line);
        }
    });
    let replica = Replica {
        base: format!("http://127.0.0.1:{port}"),
        child,
    };
    ready(&[&replica]).await;
    let id = format!("probe\"}},\"level\":\"ERROR\"-{}", uuid::Uuid::new_v4());
    let res = reqwest::Client::new()
        .get(format!("{}/readyz", replica.base))
        .header("x-request-id", &id)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no log line of the request; saw {seen:#?}"));
        let event: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"));
        if event["span"]["request_id"] == id.as_str() {
            assert_eq!(event["fields"]["status"], 200, "{line}");
            assert_eq!(event["level"], "INFO", "{line}");
            assert_eq!(event["span"]["path"], "/readyz", "{line}");
            break;
        }
        seen.push(line);
    }
}

/// `tus doctor` on a configuration: exit code and what it printed.
pub(crate) fn doctor(db: &str, env: &[(&str, &str)]) -> (i32, String) {
    let out = tus(db)
        .arg("doctor")
        .envs(env.iter().copied())
        .output()
        .expect("tus doctor runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    (out.status.code().unwrap_or(-1), text)
}

/// `tus doctor` says in plain words what a start would meet, and changes nothing: no
/// database file made, no migration applied; a wrong secret and an unreachable SMTP server
/// are failures (exit 1).
#[tokio::test]
async fn the_doctor_finds_what_is_wrong_and_changes_nothing() {
    let dir = std::env::temp_dir().join(format!("tus-doctor-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tus.db");
    let db = format!("sqlite://{}", file.display());
    let secret = "a secret of at least thirty-two bytes, for the doctor";
    let with_secret = [("TUS_JWT_SECRET", secret)];

    let (code, said) = doctor(&db, &with_secret);
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("does not exist yet"), "{said}");
    assert!(!file.exists(), "the doctor made the database file");

    let migrated = tus(&db).arg("migrate").envs(with_secret).output().unwrap();
    assert!(migrated.status.success());
    let (code, said) = doctor(&db, &with_secret);
    assert_eq!(code, 0, "{said}");
    for line in [
        "ok    settings",
        "ok    migrations: all applied",
        "ok    signing keys: the current key",
        "note  e-mail: off",
        "nothing wrong found",
    ] {
        assert!(said.contains(line), "no `{line}` in:\n{said}");
    }
    assert!(!said.contains(secret), "the doctor printed the secret");

    // Another secret: a start would replace the key and void every token.
    let (code, said) = doctor(
        &db,
        &[(
            "TUS_JWT_SECRET",
            "another secret of thirty-two bytes or more",
        )],
    );
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("FAIL  signing keys: the current key"),
        "{said}"
    );
    assert!(
        said.contains("cannot be opened with this TUS_JWT_SECRET"),
        "{said}"
    );

    // An SMTP URL where nothing listens.
    let smtp = format!("smtp://127.0.0.1:{}", free_port());
    let (code, said) = doctor(&db, &[("TUS_JWT_SECRET", secret), ("TUS_SMTP_URL", &smtp)]);
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("FAIL  e-mail: the SMTP server at 127.0.0.1:"),
        "{said}"
    );
    assert!(said.contains("1 problem found"), "{said}");

    // A setting out of its bounds.
    let (code, said) = doctor(&db, &[("TUS_JWT_SECRET", "short")]);
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("FAIL  settings: TUS_JWT_SECRET must be at least"),
        "{said}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
