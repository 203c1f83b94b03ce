//! `spawn_app`: the real application (built by the same `Application::build` as `main`)
//! on port 0 with a fresh database, and an HTTP client for it. The backend is SQLite, or
//! PostgreSQL when `TUS_TEST_DATABASE` holds a postgres:// URL: `.ci/test` runs this whole
//! suite once per backend.

use leptos::config::LeptosOptions;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use serde_json::Value;
use server::config::Config;
use server::startup::Application;
use tus_core::store::scratch::ScratchDatabase;

/// A free local port (bound, then released for the server that takes it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `Authorization` header of a bearer token.
pub fn bearer(token: &str) -> (&'static str, String) {
    ("Authorization", format!("Bearer {token}"))
}

/// The access token of a registration or login answer.
pub fn token_of(credentials: &Value) -> String {
    credentials["AccessToken"]["Token"]
        .as_str()
        .unwrap()
        .to_string()
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub instance_id: String,
    pub instance_key: String,
    pub invite_code: String,
    pub jwt_secret: String,
    pub core: tus_core::Core,
    pub db: ScratchDatabase,
    /// `http://` + the metrics listener's address, when `metrics_addr` was set.
    pub metrics: Option<String>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_until(configure, std::future::pending()).await.0
}

/// `spawn_app_with`, serving until `shutdown` completes; the handle ends when
/// `run_until` has shut down.
pub async fn spawn_app_until(
    configure: impl FnOnce(&mut Config),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> (TestApp, tokio::task::JoinHandle<std::io::Result<()>>) {
    let db = ScratchDatabase::from_env()
        .await
        .expect("a scratch database");
    let jwt_secret = format!("test-secret-{}", uuid::Uuid::new_v4());
    let mut config = Config::defaults();
    config.database_url = db.url.clone();
    config.jwt_secret = Some(jwt_secret.clone());
    config.admin_password = Some("test admin password".into());
    configure(&mut config);
    let options = LeptosOptions::builder()
        .output_name("tus")
        .site_root("target/site")
        .site_addr(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .build();
    let app = Application::build(&config, options)
        .await
        .expect("the app builds");
    let created = app
        .bootstrap
        .instance
        .as_ref()
        .expect("first start creates an instance")
        .instance
        .clone();
    let base = format!("http://{}", app.address());
    let metrics = app.metrics_address().map(|a| format!("http://{a}"));
    let core = app.core().clone();
    let running = tokio::spawn(app.run_until(shutdown));
    let app = TestApp {
        base,
        client: reqwest::Client::new(),
        instance_id: created.id.to_string(),
        instance_key: created.key.expose().to_string(),
        invite_code: created.invite_code.clone(),
        jwt_secret,
        core,
        db,
        metrics,
    };
    (app, running)
}

/// A response: HTTP status, headers and the JSON body (Null when not JSON).
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// Asserts the envelope's shape and that `Status` equals the HTTP status.
    pub fn envelope(&self) -> &Value {
        assert_eq!(
            self.body["Status"], self.status,
            "envelope Status must equal HTTP status: {}",
            self.body
        );
        assert!(self.body["Title"].is_string(), "Title: {}", self.body);
        assert!(self.body["Errors"].is_array(), "Errors: {}", self.body);
        &self.body
    }

    pub fn result(&self) -> &Value {
        assert_eq!(self.status, 200, "expected success, got {}", self.body);
        &self.envelope()["Result"]
    }

    /// Asserts a success without `Result` (update, delete).
    pub fn result_absent(&self) {
        assert_eq!(self.status, 200, "expected success, got {}", self.body);
        assert!(
            self.envelope().get("Result").is_none(),
            "no Result expected: {}",
            self.body
        );
    }

    pub fn error_keys(&self) -> Vec<String> {
        self.envelope()["Errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["Key"].as_str().unwrap().to_string())
            .collect()
    }
}

impl TestApp {
    pub fn instance_headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("InstanceId", self.instance_id.clone()),
            ("InstanceKey", self.instance_key.clone()),
        ]
    }

    /// POST raw bytes with the given content type (None: no header) and extra headers.
    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        content_type: Option<&str>,
        headers: &[(&str, String)],
    ) -> Answer {
        let mut req = self.client.post(format!("{}{path}", self.base)).body(body);
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        }
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        answer(req.send().await.expect("request sent")).await
    }

    pub async fn post(&self, path: &str, body: &Value, headers: &[(&str, String)]) -> Answer {
        self.post_raw(path, body.to_string(), Some("application/json"), headers)
            .await
    }

    /// POST with this instance's credentials.
    pub async fn post_instance(&self, path: &str, body: &Value) -> Answer {
        self.post(path, body, &self.instance_headers()).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        answer(
            self.client
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .expect("request sent"),
        )
        .await
    }

    /// Any method, optional JSON body, extra headers.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, String)],
    ) -> Answer {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(b.to_string());
        }
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        answer(req.send().await.expect("request sent")).await
    }

    /// A session of this user opened by a DeviceToken login five hours ago: its access
    /// token has expired, its refresh token (valid for days) has not.
    pub async fn session_from_hours_ago(&self, device_token: &str) -> Value {
        let store = self.core.store();
        let row = store
            .find_user(device_token)
            .await
            .unwrap()
            .expect("the user exists");
        let instance = store
            .find_instance(&row.instance_id)
            .await
            .unwrap()
            .unwrap();
        let login = tus_wire::model::LoginRequest {
            mobile_device: None,
            login_fields: Some(serde_json::json!({ "DeviceToken": device_token })),
            password: Some(instance.instance_key.clone()),
            code: None,
            totp_code: None,
        };
        let long_ago = chrono::Utc::now() - chrono::Duration::hours(5);
        let c = self
            .core
            .login(
                long_ago,
                Some(&row.instance_id),
                login.try_into().unwrap(),
                &Default::default(),
            )
            .await
            .unwrap();
        serde_json::json!({
            "AccessToken": {"Token": c.access_token.unwrap().token},
            "RefreshToken": c.refresh_token.unwrap().expose(),
        })
    }

    /// An access token of this user that expired hours ago (correctly signed otherwise).
    pub async fn expired_token(&self, device_token: &str) -> String {
        token_of(&self.session_from_hours_ago(device_token).await)
    }

    /// The first admin's session opened `hours_ago` (its access token expired, its refresh
    /// token not) and in use since: its last request a minute ago.
    pub async fn admin_session_from(&self, hours_ago: i64) -> Value {
        let then = chrono::Utc::now() - chrono::Duration::hours(hours_ago);
        let c = self
            .core
            .admin_sign_in(
                then,
                "admin@localhost",
                "test admin password",
                None,
                &Default::default(),
            )
            .await
            .unwrap();
        let token = c.access_token.unwrap().token;
        // Expired: read its payload without verifying.
        let payload = token.split('.').nth(1).unwrap();
        let payload: Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .unwrap(),
        )
        .unwrap();
        let jti = payload["jti"].as_str().unwrap().to_string();
        let minute_ago = (chrono::Utc::now() - chrono::Duration::minutes(1)).timestamp_millis();
        self.sql(&format!(
            "UPDATE token_families SET last_seen_at = {minute_ago}
             WHERE id = (SELECT family_id FROM access_tokens WHERE jti = '{jti}')"
        ))
        .await;
        serde_json::json!({
            "AccessToken": {"Token": token},
            "RefreshToken": c.refresh_token.unwrap().expose(),
        })
    }

    /// Runs one SQL statement on the test's database, behind the application's back (to
    /// set up states an attacker could reach only by luck, or to age rows).
    pub async fn sql(&self, statement: &str) {
        use sqlx::Connection;
        if self.db.url.starts_with("postgres") {
            let mut c = sqlx::PgConnection::connect(&self.db.url).await.unwrap();
            sqlx::query(statement).execute(&mut c).await.unwrap();
        } else {
            let mut c = sqlx::SqliteConnection::connect(&self.db.url).await.unwrap();
            sqlx::query(statement).execute(&mut c).await.unwrap();
        }
    }

    /// The text column of the one row `query` answers, read behind the application's back
    /// (also after it has shut down).
    pub async fn sql_text(&self, query: &str) -> String {
        use sqlx::Connection;
        if self.db.url.starts_with("postgres") {
            let mut c = sqlx::PgConnection::connect(&self.db.url).await.unwrap();
            sqlx::query_scalar(query).fetch_one(&mut c).await.unwrap()
        } else {
            let mut c = sqlx::SqliteConnection::connect(&self.db.url).await.unwrap();
            sqlx::query_scalar(query).fetch_one(&mut c).await.unwrap()
        }
    }

    /// How many active users there are (at most 1,000 counted).
    pub async fn user_count(&self) -> i64 {
        self.core
            .store()
            .count_users(&Default::default(), 1000)
            .await
            .unwrap()
    }

    /// The id of the first start's application (the one its instance is in).
    pub async fn application_id(&self, admin: &str) -> String {
        self.send(
            reqwest::Method::GET,
            &format!("/v1/Instances/{}", self.instance_id),
            None,
            &[bearer(admin)],
        )
        .await
        .result()["AppId"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// An admin access token, by logging in as the first admin.
    pub async fn admin_token(&self) -> String {
        let body = serde_json::json!({"LoginFields": {"Email": "admin@localhost"}, "Password": "test admin password"});
        self.post("/v1/Auth/Login", &body, &[]).await.result()["AccessToken"]["Token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn register(&self, body: Value) -> Value {
        self.post_instance("/v1/Registration/Create", &body)
            .await
            .result()
            .clone()
    }

    pub async fn refresh(&self, credentials: &Value) -> Answer {
        let body = serde_json::json!({
            "AccessToken": credentials["AccessToken"]["Token"],
            "RefreshToken": credentials["RefreshToken"],
        });
        self.post("/v1/Auth/RefreshToken", &body, &[]).await
    }

    /// Verifies a token with the configured secret using the jsonwebtoken library, as any
    /// client would, and returns its claims.
    pub fn claims(&self, token: &str) -> Value {
        use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
        let mut v = Validation::new(Algorithm::HS256);
        v.set_issuer(&["webApi"]);
        v.set_audience(&["tus"]);
        decode::<Value>(
            token,
            &DecodingKey::from_secret(self.jwt_secret.as_bytes()),
            &v,
        )
        .expect("the token verifies with the configured secret")
        .claims
    }
}

async fn answer(res: reqwest::Response) -> Answer {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.unwrap_or_default();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

/// A new API key for every instance with `scopes`, made as an admin would.
pub async fn api_key(app: &TestApp, name: &str, scopes: &[&str]) -> String {
    limited_api_key(app, name, scopes, None).await
}

/// A new API key with `scopes`, for `instances` (`None`: every instance).
pub async fn limited_api_key(
    app: &TestApp,
    name: &str,
    scopes: &[&str],
    instances: Option<&[String]>,
) -> String {
    app.core
        .create_api_key(
            tus_core::Core::now(),
            &tus_core::principal::Principal::unscoped_admin(
                "test",
                "admin@localhost",
                tus_wire::views::Role::Owner,
            ),
            &tus_wire::views::NewApiKey {
                name: name.into(),
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                instances: instances.map(<[String]>::to_vec),
                expires_in_days: None,
            },
            &Default::default(),
        )
        .await
        .unwrap()
        .1
}

/// An Owner of everything, for calling the core directly.
pub fn owner() -> tus_core::principal::Principal {
    tus_core::principal::Principal::unscoped_admin(
        "test",
        "admin@localhost",
        tus_wire::views::Role::Owner,
    )
}
