//! Importing a fleet: instances with their own InstanceId and InstanceKey, users from a
//! file with their DeviceTokens, dry run, report, policies for existing users, the
//! round trip through our export, and what a hostile upload gets.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{api_key, bearer, limited_api_key, spawn_app, spawn_app_with, TestApp};

/// Uploads `file` to `/v1/Management/imports?{query}` with `token`.
pub async fn upload(
    app: &TestApp,
    token: &str,
    query: &str,
    file: Vec<u8>,
) -> crate::helpers::Answer {
    app.post_raw(
        &format!("/v1/Management/imports?{query}"),
        file,
        Some("text/csv"),
        &[bearer(token)],
    )
    .await
}

/// Polls an import until it is no longer running.
pub async fn finished(app: &TestApp, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v = app
            .send(
                reqwest::Method::GET,
                &format!("/v1/Management/imports/{id}"),
                None,
                &[bearer(token)],
            )
            .await
            .result()
            .clone();
        if v["State"] != "Running" {
            return v;
        }
        assert!(Instant::now() < deadline, "the import never ended: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn report(app: &TestApp, token: &str, id: &str) -> Vec<String> {
    let res = app
        .client
        .get(format!("{}/v1/Management/imports/{id}/report", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = res.text().await.unwrap();
    text.lines().skip(1).map(str::to_string).collect()
}

/// A new instance `name` in the default application keeping `id` and `key`.
async fn instance_with(app: &TestApp, admin: &str, name: &str, id: &str, key: &str) -> Value {
    let app_id = app.application_id(admin).await;
    app.post(
        &format!("/v1/applications/{app_id}/instances"),
        &json!({"Name": name, "Id": id, "Key": key}),
        &[bearer(admin)],
    )
    .await
    .result()
    .clone()
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// 1,000 rows, 37 of them wrong in the ways a real export goes wrong; answers the file,
/// the rows that are errors (row numbers) and the DeviceTokens of the good rows.
fn thousand_rows() -> (String, BTreeSet<i64>, Vec<String>) {
    let mut text =
        String::from("DeviceToken,FirstName,LastName,Email,Phone,ClientId,EnableTracking,EnableLogging,DateCreated,Status\n");
    let (mut bad, mut good) = (BTreeSet::new(), Vec::new());
    for n in 0..1000i64 {
        let row = n + 2;
        let token = uuid();
        let line = match n % 27 {
            // 37 errors: n = 5, 32, ..., 977.
            5 => {
                bad.insert(row);
                match (n / 27) % 9 {
                    0 => "not-a-uuid,A,B,,,,,,,\n".to_string(),
                    1 => format!("{token},A,B,not-an-email,,,,,,\n"),
                    2 => format!("{token},A,B,,12,,,,,\n"),
                    3 => format!("{token},A,B,,,,maybe,,,\n"),
                    4 => format!("{token},A,B,,,,,,yesterday-ish,\n"),
                    5 => format!("{token},A,B,,,,,,2999-01-01T00:00:00Z,\n"),
                    6 => format!("{},A,B,,,,,,,\n", good[0]),
                    7 => format!("{token},A,B,driver0@fleet.example,,,,,,\n"),
                    _ => format!("{token},A,B,,,,,,,,,\n"),
                }
            }
            _ => {
                good.push(token.clone());
                format!(
                    "{token},\"Driver, {n}\",O'Neil,driver{n}@fleet.example,+4915{n:07},crm-{n},{},{},2021-03-04T05:06:07Z,{}\n",
                    n % 2 == 0,
                    n % 5 == 0,
                    if n % 10 == 3 { "Deactivated" } else { "Active" }
                )
            }
        };
        text.push_str(&line);
    }
    (text, bad, good)
}

#[tokio::test]
async fn a_fleet_moves_in_dry_run_then_import_then_skip_and_update() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, key) = (uuid(), uuid());
    let instance = instance_with(&app, &admin, "Moved in", &id, &key).await;
    assert_eq!(
        (instance["Id"].as_str(), instance["Key"].as_str()),
        (Some(id.as_str()), Some(key.as_str()))
    );
    // The id and key stay theirs: a second instance with either is refused.
    let again = app
        .post(
            &format!(
                "/v1/applications/{}/instances",
                instance["AppId"].as_str().unwrap()
            ),
            &json!({"Name": "Twin", "Id": id}),
            &[bearer(&admin)],
        )
        .await;
    assert_eq!(
        (again.status, again.error_keys()),
        (409, vec!["Id".to_string()])
    );
    let again = app
        .post(
            &format!(
                "/v1/applications/{}/instances",
                instance["AppId"].as_str().unwrap()
            ),
            &json!({"Name": "Twin", "Key": key.to_uppercase()}),
            &[bearer(&admin)],
        )
        .await;
    assert_eq!(
        (again.status, again.error_keys()),
        (409, vec!["Key".to_string()])
    );

    // An application keeps its id too.
    let app_id = uuid();
    let company = instance["CompanyId"].as_str().unwrap().to_string();
    let path = format!("/v1/companies/{company}/applications");
    let made = app
        .post(
            &path,
            &json!({"Name": "Moved app", "Id": app_id}),
            &[bearer(&admin)],
        )
        .await;
    assert_eq!(made.result()["Id"], json!(app_id));
    let twice = app
        .post(
            &path,
            &json!({"Name": "Twin app", "Id": app_id.to_uppercase()}),
            &[bearer(&admin)],
        )
        .await;
    assert_eq!(
        (twice.status, twice.error_keys()),
        (409, vec!["Id".to_string()])
    );
    let bad = app
        .post(
            &path,
            &json!({"Name": "Bad", "Id": "app-1"}),
            &[bearer(&admin)],
        )
        .await;
    assert_eq!(
        (bad.status, bad.error_keys()),
        (422, vec!["Id".to_string()])
    );

    let (file, bad, good) = thousand_rows();
    let users_before = app.user_count().await;
    let dry = upload(
        &app,
        &admin,
        &format!("instance={id}&dryRun=true&fileName=fleet.csv"),
        file.clone().into_bytes(),
    )
    .await;
    let dry_id = dry.result()["Id"].as_str().unwrap().to_string();

    assert_eq!(dry.result()["Rows"], 1000);
    let v = finished(&app, &admin, &dry_id).await;
    assert_eq!(
        (&v["State"], &v["Created"], &v["Failed"], &v["DryRun"]),
        (&json!("Completed"), &json!(963), &json!(37), &json!(true)),
        "{v}"
    );
    let lines = report(&app, &admin, &dry_id).await;
    assert_eq!(lines.len(), 1000);
    let errors: BTreeSet<i64> = lines
        .iter()
        .filter(|l| l.contains(",error,"))
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(errors, bad, "exactly the deliberate errors");
    assert_eq!(
        app.user_count().await,
        users_before,
        "a dry run writes no user"
    );

    // For real, the same file: 963 users, each logging in with the imported InstanceKey.
    let run = app
        .post(
            &format!("/v1/Management/imports/{dry_id}/run"),
            &json!({}),
            &[bearer(&admin)],
        )
        .await;
    assert_eq!(run.result()["DryRun"], false);
    let v = finished(&app, &admin, &dry_id).await;
    assert_eq!(
        (&v["Created"], &v["Failed"]),
        (&json!(963), &json!(37)),
        "{v}"
    );
    for token in [&good[0], &good[500], &good[962]] {
        let login = app
            .post(
                "/v1/Auth/Login",
                &json!({"LoginFields": {"DeviceToken": token}, "Password": key}),
                &[("InstanceId", id.clone())],
            )
            .await;
        let deactivated = file
            .lines()
            .any(|l| l.starts_with(token.as_str()) && l.ends_with("Deactivated"));
        if deactivated {
            assert_eq!(login.status, 403);
            continue;
        }
        let credentials = login.result().clone();
        assert_eq!(credentials["DeviceToken"], json!(token));
        let claims = app.claims(credentials["AccessToken"]["Token"].as_str().unwrap());
        assert_eq!(claims["InstanceId"], json!(id));
        assert_eq!(app.refresh(&credentials).await.status, 200);
    }

    // Again with skip: nothing changes.
    let skip = upload(
        &app,
        &admin,
        &format!("instance={id}"),
        file.clone().into_bytes(),
    )
    .await;
    let v = finished(&app, &admin, skip.result()["Id"].as_str().unwrap()).await;
    assert_eq!(
        (&v["Created"], &v["Skipped"], &v["Failed"]),
        (&json!(0), &json!(963), &json!(37)),
        "{v}"
    );

    // With update: only the ten rows whose FirstName changed are written, each audited.
    let mut changed = 0;
    let edited: String = file
        .lines()
        .map(|l| {
            if changed < 10 && l.contains("\"Driver, ") && l.contains(&good[100 + changed * 7]) {
                changed += 1;
                format!("{}\n", l.replace("\"Driver, ", "\"Renamed, "))
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert_eq!(changed, 10);
    let audited_before = app
        .core
        .store()
        .audit_entries("user.updated")
        .await
        .unwrap()
        .len();
    let update = upload(
        &app,
        &admin,
        &format!("instance={id}&onExisting=update"),
        edited.into_bytes(),
    )
    .await;
    let v = finished(&app, &admin, update.result()["Id"].as_str().unwrap()).await;
    assert_eq!(
        (&v["Updated"], &v["Skipped"], &v["Created"]),
        (&json!(10), &json!(953), &json!(0)),
        "{v}"
    );
    let audited = app
        .core
        .store()
        .audit_entries("user.updated")
        .await
        .unwrap();
    assert_eq!(audited.len() - audited_before, 10);
    let user = app
        .core
        .store()
        .find_user(&good[100])
        .await
        .unwrap()
        .unwrap();
    assert!(user.first_name.unwrap().starts_with("Renamed, "));
}

/// Reads `/export/users.csv?status=all` as an admin.
async fn export(app: &TestApp, admin: &str) -> Vec<String> {
    let text = app
        .client
        .get(format!(
            "{}/export/users.csv?status=all&sort=Email",
            app.base
        ))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines().map(str::to_string).collect()
}

#[tokio::test]
async fn export_then_import_into_a_fresh_database_gives_the_same_rows() {
    let source = spawn_app().await;
    let admin = source.admin_token().await;
    for n in 0..25 {
        source
            .register(json!({
                "FirstName": format!("=Ann \"{n}\""), "LastName": "Smith, Jr.", "Email": format!("ann{n}@x.io"),
                "Phone": format!("+4917{n:06}"), "Status": if n == 3 { "Deactivated" } else { "Active" },
                "UserFields": {"ClientId": format!("-crm{n}"), "EnableLogging": n % 2 == 0, "EnableRealTimeLocation": true}
            }))
            .await;
    }
    let first = export(&source, &admin).await;
    assert_eq!(first.len(), 26);

    let target = spawn_app().await;
    let target_admin = target.admin_token().await;
    instance_with(
        &target,
        &target_admin,
        "Common",
        &source.instance_id,
        &source.instance_key,
    )
    .await;
    let v = upload(
        &target,
        &target_admin,
        "",
        format!("{}\n", first.join("\n")).into_bytes(),
    )
    .await;
    let v = finished(&target, &target_admin, v.result()["Id"].as_str().unwrap()).await;
    assert_eq!(
        (&v["Created"], &v["Failed"], &v["InstanceId"]),
        (&json!(25), &json!(0), &json!(source.instance_id)),
        "{v}"
    );
    assert!(v["Notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().unwrap().contains("LastTokenActivity")));
    let second = export(&target, &target_admin).await;
    // Every column but LastTokenActivity (activity starts with the first token here).
    let without_activity = |rows: &[String]| -> Vec<String> {
        rows.iter()
            .map(|r| r.rsplit_once(',').unwrap().0.to_string())
            .collect()
    };
    assert_eq!(without_activity(&second), without_activity(&first));
}

#[tokio::test]
async fn hostile_uploads_get_a_clear_refusal_and_change_nothing() {
    let app = spawn_app_with(|c| c.import_max_bytes = 64 * 1024).await;
    let admin = app.admin_token().await;
    let good = format!("DeviceToken\n{}\n", uuid()).into_bytes();
    let here = format!("instance={}", app.instance_id);

    // Who may: an admin or a users:write key; not anonymous, not a user, not users:read.
    assert_eq!(
        app.post_raw(
            &format!("/v1/Management/imports?{here}"),
            good.clone(),
            Some("text/csv"),
            &[]
        )
        .await
        .status,
        401
    );
    let user = app.register(json!({})).await;
    let user_token = user["AccessToken"]["Token"].as_str().unwrap().to_string();
    assert_eq!(
        upload(&app, &user_token, &here, good.clone()).await.status,
        403
    );
    let reader = api_key(&app, "reader", &["users:read"]).await;
    assert_eq!(upload(&app, &reader, &here, good.clone()).await.status, 403);
    let writer = api_key(&app, "crm", &["users:write"]).await;
    let ok = upload(&app, &writer, &here, good.clone()).await;
    let ok_id = ok.result()["Id"].as_str().unwrap().to_string();
    assert_eq!(finished(&app, &writer, &ok_id).await["Created"], 1);

    // A key limited to another instance sees neither this instance nor its imports.
    let other = app
        .core
        .create_instance(tus_core::Core::now(), None, "Other", "")
        .await
        .unwrap();
    let scoped = limited_api_key(
        &app,
        "scoped",
        &["users:write"],
        Some(&[other.id.to_string()]),
    )
    .await;
    let refused = upload(&app, &scoped, &here, good.clone()).await;
    assert_eq!(
        (refused.status, refused.error_keys()),
        (422, vec!["instance".to_string()])
    );
    let hidden = app
        .send(
            reqwest::Method::GET,
            &format!("/v1/Management/imports/{ok_id}"),
            None,
            &[bearer(&scoped)],
        )
        .await;
    assert_eq!(hidden.status, 404);
    let hidden = app
        .send(
            reqwest::Method::GET,
            &format!("/v1/Management/imports/{ok_id}/report"),
            None,
            &[bearer(&scoped)],
        )
        .await;
    assert_eq!(hidden.status, 404);

    let users = app.user_count().await;
    // Whole-file errors: one clear 422 under "file", nothing staged or written.
    for (file, says) in [
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0".to_vec(), "binary"),
        (b"Name,Mail\nAnn,a@x.io\n".to_vec(), "header"),
        (b"".to_vec(), "empty"),
        (b"\xff\xfeD\0e\0v\0".to_vec(), "UTF-16"),
        (b"DeviceToken\n".to_vec(), "no rows"),
    ] {
        let a = upload(&app, &admin, &here, file).await;
        assert_eq!(
            (a.status, a.error_keys()),
            (422, vec!["file".to_string()]),
            "{}",
            a.body
        );
        let message = a.body["Errors"][0]["Message"].as_str().unwrap();
        assert!(message.contains(says), "{message} should say {says}");
    }
    // Bad parameters, each named.
    for (query, key) in [
        ("instance=not-a-uuid", "instance"),
        (&format!("instance={}", uuid())[..], "instance"),
        (&format!("{here}&onExisting=overwrite")[..], "onExisting"),
        (&format!("{here}&dryRun=perhaps")[..], "dryRun"),
    ] {
        let a = upload(&app, &admin, query, good.clone()).await;
        assert_eq!(
            (a.status, a.error_keys()),
            (422, vec![key.to_string()]),
            "{query}: {}",
            a.body
        );
    }
    // Over the size: 413 from the Content-Length at once...
    let big = [
        b"DeviceToken\n".to_vec(),
        format!("{}\n", uuid()).repeat(3000).into_bytes(),
    ]
    .concat();
    let a = upload(&app, &admin, &here, big.clone()).await;
    assert_eq!(
        (a.status, a.error_keys()),
        (413, vec!["file".to_string()]),
        "{}",
        a.body
    );
    // ...and from the stream when a chunked body says nothing of its length.
    let status = chunked_upload(&app, &admin, &here, &big).await;
    assert_eq!(status, 413);
    // Unknown and malformed import ids are 404s.
    for id in [uuid(), "../../etc".to_string(), "x".repeat(300)] {
        let a = app
            .send(
                reqwest::Method::GET,
                &format!("/v1/Management/imports/{id}"),
                None,
                &[bearer(&admin)],
            )
            .await;
        assert_eq!(a.status, 404, "{id}");
    }
    assert_eq!(app.user_count().await, users);
    let count = staged_rows(&app).await;
    assert_eq!(count, 0, "refused uploads leave no staged rows");
}

/// How many staged import rows the database holds.
async fn staged_rows(app: &TestApp) -> i64 {
    use sqlx::Connection;
    let sql = "SELECT COUNT(*) FROM import_rows";
    if app.db.url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::SqliteConnection::connect(&app.db.url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
    }
}

/// POSTs `body` with `Transfer-Encoding: chunked` (no length) over a plain socket, in
/// pieces of `piece` bytes `pause` apart; answers the HTTP status and body.
async fn chunked_upload_paced(
    app: &TestApp,
    token: &str,
    query: &str,
    body: &[u8],
    piece: usize,
    pause: Duration,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = app.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST /v1/Management/imports?{query} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    for piece in body.chunks(piece) {
        let chunk = [
            format!("{:x}\r\n", piece.len()).into_bytes(),
            piece.to_vec(),
            b"\r\n".to_vec(),
        ]
        .concat();
        if s.write_all(&chunk).await.is_err() {
            break; // the server answered and closed early
        }
        tokio::time::sleep(pause).await;
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

async fn chunked_upload(app: &TestApp, token: &str, query: &str, body: &[u8]) -> u16 {
    chunked_upload_paced(app, token, query, body, 4096, Duration::ZERO)
        .await
        .0
}

#[tokio::test]
async fn a_writers_slow_upload_may_take_longer_than_a_request_while_it_keeps_moving() {
    let app = spawn_app_with(|c| c.request_timeout = 2).await;
    let admin = app.admin_token().await;
    let here = format!("instance={}", app.instance_id);
    let file: String = std::iter::once("DeviceToken\n".to_string())
        .chain((0..40).map(|_| format!("{}\n", uuid())))
        .collect();
    // 40 pieces 150 ms apart: 6 s in all, three times the request timeout, never 2 s idle.
    let (status, text) = chunked_upload_paced(
        &app,
        &admin,
        &here,
        file.as_bytes(),
        37,
        Duration::from_millis(150),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    // A pause longer than the timeout still ends it.
    let (status, text) = chunked_upload_paced(
        &app,
        &admin,
        &here,
        file.as_bytes(),
        800,
        Duration::from_millis(2600),
    )
    .await;
    assert_eq!(status, 422, "{text}");
    assert!(text.contains("file"), "{text}");
    // Other routes keep the whole-request deadline: a JSON body trickled over 3 s is cut.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = app.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let body = "{\"FirstName\": \"Slow\"}";
    let head = format!(
        "POST /v1/Registration/Create HTTP/1.1\r\nHost: {host}\r\nInstanceId: {}\r\nInstanceKey: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        app.instance_id,
        app.instance_key,
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    for b in body.as_bytes().chunks(2) {
        if s.write_all(b).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(!text.starts_with("HTTP/1.1 200"), "{text}");
}
