//! Admins as a team: the role × scope × action matrix over REST and server functions,
//! admin management (invite, role and scope, disable, password links, sessions), and the
//! idle end of a session. Each cell's expectation is written out from the issue's words,
//! not derived from the server's own table.

use reqwest::Method;
use serde_json::{json, Value};
use tus_core::principal::Principal;
use tus_core::secret::Password;
use tus_wire::model::ApplicationInput;
use tus_wire::views::{AdminGrant, Role};

use crate::dashboard::{call, no_redirects, origin, text_as};
use crate::helpers::*;

const PASSWORD: &str = "team member password";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Scope {
    Everything,
    /// Instance A only.
    InstanceA,
    /// Application of A only (B is in another application).
    ApplicationA,
}

const SCOPES: [Scope; 3] = [Scope::Everything, Scope::InstanceA, Scope::ApplicationA];
const ROLES: [Role; 4] = [Role::Owner, Role::Admin, Role::Operator, Role::Viewer];

/// What each role may do, as the issue says it (Owner, Admin, Operator, Viewer).
fn role_allows(probe: Probe, role: Role) -> bool {
    let [owner, admin, operator, viewer] = match probe {
        Probe::ReadUserRest | Probe::ReadUserFn | Probe::ReadInstance => [true; 4],
        Probe::UpdateUserRest | Probe::SetFlagFn => [true, true, true, false],
        Probe::DeleteUser | Probe::RevealKey | Probe::RotateKey | Probe::CreateInstance => {
            [true, true, false, false]
        }
        Probe::Webhooks | Probe::Deliveries => [true, true, false, false],
        Probe::Audit => [true; 4],
        Probe::ApiKeys | Probe::SigningKeys | Probe::Admins => [true, false, false, false],
    };
    match role {
        Role::Owner => owner,
        Role::Admin => admin,
        Role::Operator => operator,
        Role::Viewer => viewer,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Probe {
    ReadUserRest,
    ReadUserFn,
    UpdateUserRest,
    SetFlagFn,
    DeleteUser,
    ReadInstance,
    RevealKey,
    RotateKey,
    CreateInstance,
    Webhooks,
    Deliveries,
    Audit,
    ApiKeys,
    SigningKeys,
    Admins,
}

/// Acting on one object, in scope (A) or not (B).
const OBJECT_PROBES: [Probe; 9] = [
    Probe::ReadUserRest,
    Probe::ReadUserFn,
    Probe::UpdateUserRest,
    Probe::SetFlagFn,
    Probe::DeleteUser,
    Probe::ReadInstance,
    Probe::RevealKey,
    Probe::RotateKey,
    Probe::CreateInstance,
];

/// Spanning every instance (webhooks: a scoped admin's list holds only their own hooks).
const GLOBAL_PROBES: [Probe; 6] = [
    Probe::Webhooks,
    Probe::Deliveries,
    Probe::Audit,
    Probe::ApiKeys,
    Probe::SigningKeys,
    Probe::Admins,
];

/// Whether a probe of every instance is open to an admin limited to some.
fn open_to_scoped(probe: Probe) -> bool {
    matches!(probe, Probe::Webhooks)
}

struct Fleet {
    app: TestApp,
    /// Instance A (the first start's) and its application; instance B in another one.
    app_a: String,
    app_b: String,
    instance_b: String,
}

impl Fleet {
    async fn new() -> Fleet {
        let app = spawn_app().await;
        let owner = Principal::unscoped_admin("setup", "setup@localhost", Role::Owner);
        let first = app.core.store().first_application().await.unwrap().unwrap();
        let other = app
            .core
            .create_application_as(
                chrono::Utc::now(),
                &owner,
                &first.company_id,
                ApplicationInput {
                    name: Some("Other app".into()),
                    description: None,
                    create_default_group: Some(false),
                    ..Default::default()
                },
                &Default::default(),
            )
            .await
            .unwrap();
        let b = app
            .core
            .create_instance(chrono::Utc::now(), Some(&other.id), "Fleet B", "")
            .await
            .unwrap();
        let instance_b = b.id.to_string();
        let _ = b;
        Fleet {
            app_a: first.id,
            app_b: other.id,
            instance_b,
            app,
        }
    }

    /// A user registered in A (`true`) or B (with the instance's key as it is now: the
    /// matrix rotates them).
    async fn user(&self, in_a: bool) -> String {
        let instance = self
            .app
            .core
            .store()
            .find_instance(&self.instance(in_a))
            .await
            .unwrap()
            .unwrap();
        let headers = vec![
            ("InstanceId", instance.id.clone()),
            ("InstanceKey", instance.instance_key),
        ];
        self.app
            .post(
                "/v1/Registration/Create",
                &json!({"LastName": "Matrix"}),
                &headers,
            )
            .await
            .result()["DeviceToken"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn grant(&self, role: Role, scope: Scope) -> AdminGrant {
        AdminGrant {
            role: role.as_str().into(),
            applications: (scope == Scope::ApplicationA).then(|| vec![self.app_a.clone()]),
            instances: (scope == Scope::InstanceA).then(|| vec![self.app.instance_id.clone()]),
        }
    }

    /// A signed-in admin with this role and scope: their access token.
    async fn admin(&self, email: &str, role: Role, scope: Scope) -> String {
        let owner = Principal::unscoped_admin("setup", "setup@localhost", Role::Owner);
        let made = self
            .app
            .core
            .create_admin(chrono::Utc::now(), email, &Password::new(PASSWORD), role)
            .await
            .unwrap();
        self.app
            .core
            .set_admin_grant(
                chrono::Utc::now(),
                &owner,
                &made.id,
                &self.grant(role, scope),
                &Default::default(),
            )
            .await
            .unwrap();
        login(&self.app, email, PASSWORD).await
    }

    fn instance(&self, in_a: bool) -> String {
        if in_a {
            self.app.instance_id.clone()
        } else {
            self.instance_b.clone()
        }
    }

    /// The status of one probe by `token` on the object in A (`true`) or B.
    async fn probe(&self, token: &str, probe: Probe, in_a: bool) -> u16 {
        let app = &self.app;
        let rest = |method: Method, path: String, body: Option<Value>, dt: Option<String>| {
            let mut headers = vec![bearer(token)];
            if let Some(dt) = dt {
                headers.push(("UserDeviceToken", dt));
            }
            async move {
                app.send(method, &path, body.as_ref(), &headers)
                    .await
                    .status
            }
        };
        let function = |name: &'static str, args: Value| async move {
            call(app, name, args, &[bearer(token), origin(app)])
                .await
                .status
        };
        match probe {
            Probe::ReadUserRest => {
                let dt = self.user(in_a).await;
                rest(Method::GET, "/v1/Management/users".into(), None, Some(dt)).await
            }
            Probe::ReadUserFn => {
                let dt = self.user(in_a).await;
                function("get_user", json!({"device_token": dt})).await
            }
            Probe::UpdateUserRest => {
                let dt = self.user(in_a).await;
                let body = json!({"FirstName": "Changed"});
                rest(
                    Method::PUT,
                    "/v1/Management/users".into(),
                    Some(body),
                    Some(dt),
                )
                .await
            }
            Probe::SetFlagFn => {
                let dt = self.user(in_a).await;
                function(
                    "set_flag",
                    json!({"device_token": dt, "flag": "Logging", "value": true}),
                )
                .await
            }
            Probe::DeleteUser => {
                let dt = self.user(in_a).await;
                rest(
                    Method::DELETE,
                    format!("/v1/Management/users/{dt}"),
                    None,
                    None,
                )
                .await
            }
            Probe::ReadInstance => {
                let path = format!("/v1/instances/{}", self.instance(in_a));
                rest(Method::GET, path, None, None).await
            }
            Probe::RevealKey => {
                function(
                    "reveal_instance_key",
                    json!({"instance_id": self.instance(in_a)}),
                )
                .await
            }
            Probe::RotateKey => {
                let path = format!("/v1/instances/{}/rotatekey", self.instance(in_a));
                rest(Method::POST, path, Some(json!({})), None).await
            }
            Probe::CreateInstance => {
                let app_id = if in_a { &self.app_a } else { &self.app_b };
                let path = format!("/v1/applications/{app_id}/instances");
                rest(Method::POST, path, Some(json!({"Name": "New"})), None).await
            }
            Probe::Webhooks => rest(Method::GET, "/v1/Webhooks".into(), None, None).await,
            Probe::Deliveries => rest(Method::GET, "/v1/Deliveries".into(), None, None).await,
            Probe::Audit => function("audit_log", json!({"query": {}})).await,
            Probe::ApiKeys => function("api_keys", json!({})).await,
            Probe::SigningKeys => function("signing_keys", json!({})).await,
            Probe::Admins => function("admins", json!({})).await,
        }
    }
}

async fn login(app: &TestApp, email: &str, password: &str) -> String {
    let body = json!({"LoginFields": {"Email": email}, "Password": password});
    app.post("/v1/Auth/Login", &body, &[]).await.result()["AccessToken"]["Token"]
        .as_str()
        .unwrap()
        .to_string()
}

fn email_of(role: Role, scope: Scope) -> String {
    format!("{}-{:?}@team.example", role.as_str(), scope).to_lowercase()
}

#[tokio::test]
async fn every_role_and_scope_may_do_exactly_what_the_issue_says_over_rest_and_functions() {
    let fleet = Fleet::new().await;
    let mut cells = 0;
    let mut wrong = Vec::new();
    for role in ROLES {
        for scope in SCOPES {
            let token = fleet.admin(&email_of(role, scope), role, scope).await;
            let scoped = scope != Scope::Everything;
            for probe in OBJECT_PROBES {
                for in_a in [true, false] {
                    let expected = if !role_allows(probe, role) {
                        403
                    } else if in_a || !scoped {
                        200
                    } else if probe == Probe::CreateInstance && scope == Scope::InstanceA {
                        // Limited to instances: no new instance anywhere.
                        403
                    } else {
                        404
                    };
                    // Limited to instance A, a new instance even in A's application is refused.
                    let expected = match (probe, scope, in_a, expected) {
                        (Probe::CreateInstance, Scope::InstanceA, true, 200) => 403,
                        (_, _, _, e) => e,
                    };
                    let got = fleet.probe(&token, probe, in_a).await;
                    cells += 1;
                    if got != expected {
                        wrong.push(format!(
                            "{} of {scope:?}, {probe:?} on {}: {got}, expected {expected}",
                            role.as_str(),
                            if in_a { "A" } else { "B" }
                        ));
                    }
                }
            }
            for probe in GLOBAL_PROBES {
                let expected = if role_allows(probe, role) && (!scoped || open_to_scoped(probe)) {
                    200
                } else {
                    403
                };
                let got = fleet.probe(&token, probe, true).await;
                cells += 1;
                if got != expected {
                    wrong.push(format!(
                        "{} of {scope:?}, {probe:?}: {got}, expected {expected}",
                        role.as_str()
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {cells} cells wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(cells, 4 * 3 * (9 * 2 + 6));
}

#[tokio::test]
async fn a_scoped_admin_never_sees_another_instance_in_lists_counts_exports_or_the_overview() {
    let fleet = Fleet::new().await;
    let mut in_a = Vec::new();
    for _ in 0..3 {
        in_a.push(fleet.user(true).await);
    }
    let in_b = fleet.user(false).await;
    let app = &fleet.app;
    for scope in [Scope::InstanceA, Scope::ApplicationA] {
        let token = fleet
            .admin(&email_of(Role::Viewer, scope), Role::Viewer, scope)
            .await;
        let list = call(
            app,
            "list_users",
            json!({"query": {"status": "all"}}),
            &[bearer(&token), origin(app)],
        )
        .await;
        assert_eq!(list.status, 200, "{}", list.body);
        let rows: Vec<&str> = list.body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["device_token"].as_str().unwrap())
            .collect();
        assert_eq!(rows.len(), 3, "{scope:?}: {}", list.body);
        assert!(in_a.iter().all(|dt| rows.contains(&dt.as_str())));
        assert_eq!(list.body["total"], 3);

        // Asking for B's instance by name finds nothing.
        let theirs = call(
            app,
            "list_users",
            json!({"query": {"status": "all", "instance": fleet.instance_b}}),
            &[bearer(&token), origin(app)],
        )
        .await;
        assert_eq!(theirs.body["rows"].as_array().map(Vec::len), Some(0));

        let found = app
            .send(
                Method::GET,
                "/v1/Management/users/find?LastName=Matrix",
                None,
                &[bearer(&token)],
            )
            .await;
        let found = found.result().as_array().unwrap().clone();
        assert_eq!(found.len(), 3, "{scope:?}");
        assert!(found.iter().all(|u| u["DeviceToken"] != in_b.as_str()));

        let overview = call(app, "overview", json!({}), &[bearer(&token), origin(app)]).await;
        assert_eq!(overview.status, 200, "{}", overview.body);
        assert_eq!(overview.body["users"], 3);
        assert_eq!(overview.body["scoped"], true);
        assert!(overview.body["security_events"]
            .as_array()
            .unwrap()
            .is_empty());

        let csv = text_as(app, "/export/users.csv?status=all", &token).await;
        assert_eq!(csv.lines().count(), 1 + 3, "{csv}");
        assert!(!csv.contains(&in_b));

        let instances = app
            .send(
                Method::GET,
                &format!("/v1/applications/{}/instances", fleet.app_b),
                None,
                &[bearer(&token)],
            )
            .await;
        assert_eq!(instances.status, 404, "{scope:?}: {}", instances.body);
        let choices = call(
            app,
            "instance_choices",
            json!({}),
            &[bearer(&token), origin(app)],
        )
        .await;
        let ids: Vec<&str> = choices
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec![app.instance_id.as_str()]);
    }
    // Bulk actions over "everything matching" reach only the scoped admin's users.
    let operator = fleet
        .admin("bulk@team.example", Role::Operator, Scope::InstanceA)
        .await;
    let count = call(
        app,
        "bulk_count",
        json!({"target": {"Matching": {"status": "all"}}}),
        &[bearer(&operator), origin(app)],
    )
    .await;
    assert_eq!(count.body, 3, "{}", count.body);
    let applied = call(
        app,
        "bulk_apply",
        json!({"target": {"Matching": {"status": "all"}}, "action": {"SetFlag": {"flag": "Logging", "value": true}}}),
        &[bearer(&operator), origin(app)],
    )
    .await;
    assert_eq!(applied.body[0], 3, "{}", applied.body);
    let theirs = app.core.store().find_user(&in_b).await.unwrap().unwrap();
    assert!(!theirs.enable_logging, "B's driver is untouched");

    // A scoped Admin's webhook hears only their instances, and they see no one else's.
    let owner = app.admin_token().await;
    let everything = app
        .post(
            "/v1/Webhooks",
            &json!({"Url": "https://crm.example.com/all"}),
            &[bearer(&owner)],
        )
        .await;
    assert_eq!(everything.status, 200, "{}", everything.body);
    let lead = fleet
        .admin("hooks@team.example", Role::Admin, Scope::ApplicationA)
        .await;
    let own = app
        .post(
            "/v1/Webhooks",
            &json!({"Url": "https://fleet-a.example.com/in"}),
            &[bearer(&lead)],
        )
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(
        own.result()["Webhook"]["Instances"],
        json!([app.instance_id])
    );
    let listed = app
        .send(Method::GET, "/v1/Webhooks", None, &[bearer(&lead)])
        .await;
    assert_eq!(
        listed.result().as_array().unwrap().len(),
        1,
        "{}",
        listed.body
    );
    let wide = app
        .post(
            "/v1/Webhooks",
            &json!({"Url": "https://x.example.com/", "Instances": [fleet.instance_b]}),
            &[bearer(&lead)],
        )
        .await;
    assert!(wide.status == 404 || wide.status == 422, "{}", wide.body);

    // An Owner of everything sees all four.
    let owner = app.admin_token().await;
    let overview = call(app, "overview", json!({}), &[bearer(&owner), origin(app)]).await;
    assert_eq!(overview.body["users"], 4);
    assert_eq!(overview.body["scoped"], false);
}

const PUBLIC: &str = "https://fleet.example.com";

fn join_token(text: &str) -> String {
    text.split_once("/join?t=")
        .map(|(_, rest)| rest.chars().take_while(|c| !c.is_whitespace()).collect())
        .unwrap_or_else(|| panic!("no join link in {text:?}"))
}

/// The `/join` page's form as a browser without JavaScript posts it: (status, Location).
async fn submit_join(app: &TestApp, token: &str, password: &str) -> (u16, String) {
    let res = no_redirects()
        .post(format!("{}/api/accept_admin_link", app.base))
        .header("Origin", PUBLIC)
        .header("Accept", "text/html")
        .form(&[
            ("token", token),
            ("password", password),
            ("confirm", password),
        ])
        .send()
        .await
        .unwrap();
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (res.status().as_u16(), location)
}

async fn owner_call(app: &TestApp, owner: &str, name: &str, args: Value) -> crate::dashboard::Call {
    call(app, name, args, &[bearer(owner), origin(app)]).await
}

fn admin_id(list: &Value, email: &str) -> String {
    list.as_array()
        .unwrap()
        .iter()
        .find(|a| a["email"] == email)
        .unwrap_or_else(|| panic!("{email} not in {list}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn an_invited_admin_sets_a_password_by_the_emailed_link_once_then_signs_in_with_their_role() {
    let smtp = free_port();
    let mail = crate::delivery::Maildev::start(smtp).await;
    let app = spawn_app_with(|c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{smtp}"));
        c.public_url = Some(PUBLIC.into());
    })
    .await;
    let owner = app.admin_token().await;
    // The dashboard is served at TUS_PUBLIC_URL: its calls come from there.
    let from_public = ("Origin", PUBLIC.to_string());
    let invited = call(
        &app,
        "invite_admin",
        json!({"email": "ops@team.example", "grant": {"role": "Operator", "applications": null, "instances": [app.instance_id]}}),
        &[bearer(&owner), from_public.clone()],
    )
    .await;
    assert_eq!(invited.status, 200, "{}", invited.body);
    assert_eq!(invited.body["state"], "invited");
    assert_eq!(invited.body["role"], "Operator");

    // Before the link is used nothing signs in as them, not even an empty password.
    for guess in ["", "x"] {
        let body = json!({"LoginFields": {"Email": "ops@team.example"}, "Password": guess});
        assert!(app.post("/v1/Auth/Login", &body, &[]).await.status >= 400);
    }
    let email = mail.wait_for("ops@team.example").await;
    let text = email["text"].as_str().unwrap();
    assert!(text.contains("https://fleet.example.com/join?t="), "{text}");
    let token = join_token(text);
    let page = no_redirects()
        .get(format!("{}/join?t={token}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("o••@team.example"));

    let (status, location) = submit_join(&app, &token, "operator password 1").await;
    assert_eq!((status, location.as_str()), (302, "/join?done=1"));
    // Once only.
    let (_, again) = submit_join(&app, &token, "someone else's pass").await;
    assert!(again.contains("error=invalid"), "{again}");

    let ops = login(&app, "ops@team.example", "operator password 1").await;
    let me = call(
        &app,
        "current_admin",
        json!({}),
        &[bearer(&ops), from_public.clone()],
    )
    .await;
    assert_eq!(me.body["role"], "Operator");
    assert_eq!(me.body["scoped"], true);
    // The header's menu offers what an Operator may open, fetched or rendered into a page.
    let menu = call(
        &app,
        "session_menu",
        json!({"path": "/"}),
        &[bearer(&ops), from_public.clone()],
    )
    .await;
    assert_eq!(menu.status, 200, "{}", menu.body);
    let html = menu.body.as_str().unwrap();
    assert!(html.contains(">ops@team.example<"), "{html}");
    assert!(html.contains(">Operator<"), "{html}");
    assert!(
        html.contains(r#"<a href="/" aria-current="page""#),
        "{html}"
    );
    assert!(html.contains(r#"href="/register""#), "{html}");
    assert!(!html.contains(r#"href="/admins""#), "{html}");
    let page = text_as(&app, "/batches", &ops).await;
    assert!(
        page.contains(r#"<a href="/batches" aria-current="page""#),
        "{page}"
    );
    assert!(page.contains(">ops@team.example<"), "{page}");
    assert!(!page.contains(r#"href="/admins""#), "{page}");
    let list = call(
        &app,
        "admins",
        json!({}),
        &[bearer(&owner), from_public.clone()],
    )
    .await;
    let row = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["email"] == "ops@team.example")
        .unwrap()
        .clone();
    assert_eq!(row["state"], "active");
    assert!(row["last_sign_in_at"].is_string());
    assert_eq!(row["sessions"].as_array().unwrap().len(), 1);
    for action in ["admin.invited", "admin.password_set"] {
        assert_eq!(
            app.core.store().audit_entries(action).await.unwrap().len(),
            1,
            "{action}"
        );
    }
}

#[tokio::test]
async fn disabling_ends_every_session_at_once_and_a_role_change_applies_to_open_sessions() {
    let fleet = Fleet::new().await;
    let app = &fleet.app;
    let owner = app.admin_token().await;
    let admin = fleet
        .admin("lead@team.example", Role::Admin, Scope::Everything)
        .await;
    let second = login(app, "lead@team.example", PASSWORD).await;
    let reveal = |token: String| async move {
        call(
            app,
            "reveal_instance_key",
            json!({"instance_id": app.instance_id}),
            &[bearer(&token), origin(app)],
        )
        .await
        .status
    };
    assert_eq!(reveal(admin.clone()).await, 200);
    let list = owner_call(app, &owner, "admins", json!({})).await;
    let id = admin_id(&list.body, "lead@team.example");

    // Demoted: the same open session loses the key at once.
    let changed = owner_call(
        app,
        &owner,
        "set_admin_grant",
        json!({"id": id, "grant": {"role": "Viewer", "applications": null, "instances": null}}),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(reveal(admin.clone()).await, 403);

    // Disabled: both sessions end, and the password no longer signs in.
    let disabled = owner_call(
        app,
        &owner,
        "set_admin_enabled",
        json!({"id": id, "enabled": false}),
    )
    .await;
    assert_eq!(disabled.body["state"], "disabled");
    for token in [&admin, &second] {
        let me = call(
            app,
            "current_admin",
            json!({}),
            &[bearer(token), origin(app)],
        )
        .await;
        assert_eq!(me.status, 401, "{}", me.body);
    }
    let body = json!({"LoginFields": {"Email": "lead@team.example"}, "Password": PASSWORD});
    assert_eq!(app.post("/v1/Auth/Login", &body, &[]).await.status, 403);
    let wrong = json!({"LoginFields": {"Email": "lead@team.example"}, "Password": "not it at all"});
    assert_eq!(
        app.post("/v1/Auth/Login", &wrong, &[]).await.status,
        401,
        "a wrong password says nothing more"
    );

    owner_call(
        app,
        &owner,
        "set_admin_enabled",
        json!({"id": id, "enabled": true}),
    )
    .await;
    login(app, "lead@team.example", PASSWORD).await;
    // The setup gave the role once, the Owner changed it once.
    for (action, n) in [
        ("admin.role_changed", 2),
        ("admin.disabled", 1),
        ("admin.enabled", 1),
    ] {
        let entries = app.core.store().audit_entries(action).await.unwrap();
        assert_eq!(entries.len(), n, "{action}");
    }
}

#[tokio::test]
async fn the_last_owner_stays_and_only_an_owner_of_everything_manages_admins() {
    let fleet = Fleet::new().await;
    let app = &fleet.app;
    let owner = app.admin_token().await;
    let list = owner_call(app, &owner, "admins", json!({})).await;
    let me = admin_id(&list.body, "admin@localhost");
    for (name, args) in [
        ("set_admin_enabled", json!({"id": me, "enabled": false})),
        (
            "set_admin_grant",
            json!({"id": me, "grant": {"role": "Admin", "applications": null, "instances": null}}),
        ),
        (
            "set_admin_grant",
            json!({"id": me, "grant": {"role": "Owner", "applications": null, "instances": [app.instance_id]}}),
        ),
    ] {
        let refused = owner_call(app, &owner, name, args).await;
        assert_eq!(refused.status, 409, "{name}: {}", refused.body);
    }
    // With a second Owner, the first may step down.
    fleet
        .admin("second@team.example", Role::Owner, Scope::Everything)
        .await;
    let stepped = owner_call(
        app,
        &owner,
        "set_admin_grant",
        json!({"id": me, "grant": {"role": "Admin", "applications": null, "instances": null}}),
    )
    .await;
    assert_eq!(stepped.status, 200, "{}", stepped.body);

    // An Admin cannot make themselves an Owner, nor invite one; a scoped Owner manages no one.
    let admin = fleet
        .admin("climber@team.example", Role::Admin, Scope::Everything)
        .await;
    let scoped_owner = fleet
        .admin("scoped@team.example", Role::Owner, Scope::InstanceA)
        .await;
    for token in [&admin, &scoped_owner] {
        let list = call(app, "admins", json!({}), &[bearer(token), origin(app)]).await;
        assert_eq!(list.status, 403);
        let raise = call(
            app,
            "set_admin_grant",
            json!({"id": me, "grant": {"role": "Owner", "applications": null, "instances": null}}),
            &[bearer(token), origin(app)],
        )
        .await;
        assert_eq!(raise.status, 403);
        let invite = call(app, "invite_admin", json!({"email": "x@team.example", "grant": {"role": "Owner", "applications": null, "instances": null}}), &[bearer(token), origin(app)]).await;
        assert_eq!(invite.status, 403);
    }
    // Bad grants are 422s that change nothing.
    let second = owner_call(
        app,
        &login(app, "second@team.example", PASSWORD).await,
        "admins",
        json!({}),
    )
    .await;
    assert_eq!(second.status, 200);
    let owner2 = login(app, "second@team.example", PASSWORD).await;
    for grant in [
        json!({"role": "Emperor", "applications": null, "instances": null}),
        json!({"role": "Admin", "applications": [], "instances": null}),
        json!({"role": "Admin", "applications": null, "instances": ["00000000-0000-0000-0000-000000000000"]}),
        json!({"role": "Admin", "applications": [fleet.app_a], "instances": [app.instance_id]}),
    ] {
        let bad = owner_call(
            app,
            &owner2,
            "set_admin_grant",
            json!({"id": me, "grant": grant}),
        )
        .await;
        assert_eq!(bad.status, 422, "{grant}: {}", bad.body);
    }
}

#[tokio::test]
async fn an_admin_changes_their_own_password_and_ends_their_own_sessions() {
    let fleet = Fleet::new().await;
    let app = &fleet.app;
    let here = fleet
        .admin("self@team.example", Role::Viewer, Scope::InstanceA)
        .await;
    let elsewhere = login(app, "self@team.example", PASSWORD).await;
    let sessions = call(app, "my_sessions", json!({}), &[bearer(&here), origin(app)]).await;
    let list = sessions.body.as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{}", sessions.body);
    assert_eq!(list.iter().filter(|s| s["current"] == true).count(), 1);

    let wrong = call(
        app,
        "change_password",
        json!({"current": "not my password", "new": "a new password 2"}),
        &[bearer(&here), origin(app)],
    )
    .await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    let changed = call(
        app,
        "change_password",
        json!({"current": PASSWORD, "new": "a new password 2"}),
        &[bearer(&here), origin(app)],
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    // This session goes on; the other ended.
    assert_eq!(
        call(
            app,
            "current_admin",
            json!({}),
            &[bearer(&here), origin(app)]
        )
        .await
        .status,
        200
    );
    assert_eq!(
        call(
            app,
            "current_admin",
            json!({}),
            &[bearer(&elsewhere), origin(app)]
        )
        .await
        .status,
        401
    );
    login(app, "self@team.example", "a new password 2").await;

    // Ending one of one's own sessions; another admin's is out of reach (403).
    let mine = call(app, "my_sessions", json!({}), &[bearer(&here), origin(app)]).await;
    let me = call(
        app,
        "current_admin",
        json!({}),
        &[bearer(&here), origin(app)],
    )
    .await
    .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = mine
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ended = call(
        app,
        "end_admin_session",
        json!({"id": me, "session": other}),
        &[bearer(&here), origin(app)],
    )
    .await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    let owner = app.admin_token().await;
    let owner_id = call(
        app,
        "current_admin",
        json!({}),
        &[bearer(&owner), origin(app)],
    )
    .await
    .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let theirs = call(
        app,
        "end_admin_session",
        json!({"id": owner_id, "session": "anything"}),
        &[bearer(&here), origin(app)],
    )
    .await;
    assert_eq!(theirs.status, 403);
    assert_eq!(
        call(
            app,
            "current_admin",
            json!({}),
            &[bearer(&owner), origin(app)]
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn an_admin_session_idle_past_the_timeout_ends_and_cannot_be_refreshed() {
    let app = spawn_app_with(|c| c.admin_idle_timeout = 120).await;
    let body =
        json!({"LoginFields": {"Email": "admin@localhost"}, "Password": "test admin password"});
    let credentials = app
        .post("/v1/Auth/Login", &body, &[])
        .await
        .result()
        .clone();
    let token = token_of(&credentials);
    assert_eq!(
        call(
            &app,
            "current_admin",
            json!({}),
            &[bearer(&token), origin(&app)]
        )
        .await
        .status,
        200
    );
    // Three minutes without a request.
    let then = (chrono::Utc::now() - chrono::Duration::minutes(3)).timestamp_millis();
    app.sql(&format!("UPDATE token_families SET created_at = {then}, last_seen_at = {then} WHERE subject_kind = 'admin'")).await;
    let idle = call(
        &app,
        "current_admin",
        json!({}),
        &[bearer(&token), origin(&app)],
    )
    .await;
    assert_eq!(idle.status, 401, "{}", idle.body);
    let refreshed = app.refresh(&credentials).await;
    assert_eq!(refreshed.status, 401);
    assert!(
        refreshed.body.to_string().contains("without use"),
        "{}",
        refreshed.body
    );
    // A user's session has no idle end.
    let user = app.register(json!({})).await;
    app.sql(&format!(
        "UPDATE token_families SET last_seen_at = {then} WHERE subject_kind = 'user'"
    ))
    .await;
    assert_eq!(app.refresh(&user).await.status, 200);
}
