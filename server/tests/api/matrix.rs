//! The authorization matrix of every management route: each caller against each route,
//! through the real server, with the status API.md gives. Every cell acts on a fresh target
//! user, and a refused call must leave it as it was.

use reqwest::Method;
use serde_json::{json, Value};
use tus_core::instances::Instance;

use crate::helpers::*;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Caller {
    Anonymous,
    /// The target's own token, expired.
    Expired,
    /// The token of a user deleted since.
    DeletedUser,
    /// The token of a user deactivated since.
    DeactivatedUser,
    /// The target's own token.
    OwnUser,
    /// Another user's token, naming the target in `UserDeviceToken`.
    OtherUser,
    /// An admin token, naming the target in `UserDeviceToken`.
    Admin,
}

const CALLERS: [Caller; 7] = [
    Caller::Anonymous,
    Caller::Expired,
    Caller::DeletedUser,
    Caller::DeactivatedUser,
    Caller::OwnUser,
    Caller::OtherUser,
    Caller::Admin,
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Route {
    GetUser,
    PutUser,
    DeleteUser,
    Find,
    FilteredPage,
    ChangeInstance,
    JoinByInvite,
}

const ROUTES: [Route; 7] = [
    Route::GetUser,
    Route::PutUser,
    Route::DeleteUser,
    Route::Find,
    Route::FilteredPage,
    Route::ChangeInstance,
    Route::JoinByInvite,
];

/// API.md: no or a bad token 401 (a deleted user's token names no one: 401), a deactivated
/// user 403; users act on themselves only; admins on anyone, except that joining by invite
/// code moves the caller, which an admin is not.
fn expected(route: Route, caller: Caller) -> u16 {
    use Caller::*;
    use Route::*;
    match (caller, route) {
        (Anonymous | Expired | DeletedUser, _) => 401,
        (DeactivatedUser, _) => 403,
        (OwnUser, GetUser | PutUser | JoinByInvite) => 200,
        (OwnUser | OtherUser, _) => 403,
        (Admin, JoinByInvite) => 403,
        (Admin, _) => 200,
    }
}

fn device(credentials: &Value) -> String {
    credentials["DeviceToken"].as_str().unwrap().to_string()
}

struct Fixture {
    admin: String,
    second: Instance,
}

impl Fixture {
    /// The headers a caller sends about `target` (its credentials from registration).
    async fn headers(
        &self,
        app: &TestApp,
        caller: Caller,
        target: &Value,
    ) -> Vec<(&'static str, String)> {
        let names_target = ("UserDeviceToken", device(target));
        match caller {
            Caller::Anonymous => vec![],
            Caller::Expired => vec![bearer(&app.expired_token(&device(target)).await)],
            Caller::DeletedUser | Caller::DeactivatedUser => {
                let gone = app.register(json!({})).await;
                let (method, path, body) = if caller == Caller::DeletedUser {
                    (
                        Method::DELETE,
                        format!("/v1/Management/users/{}", device(&gone)),
                        None,
                    )
                } else {
                    (
                        Method::PUT,
                        "/v1/Management/users".to_string(),
                        Some(json!({"Status": "Deactivated"})),
                    )
                };
                let done = app
                    .send(
                        method,
                        &path,
                        body.as_ref(),
                        &[bearer(&self.admin), ("UserDeviceToken", device(&gone))],
                    )
                    .await;
                assert_eq!(done.status, 200, "{}", done.body);
                vec![bearer(&token_of(&gone)), names_target]
            }
            Caller::OwnUser => vec![bearer(&token_of(target))],
            Caller::OtherUser => {
                let other = app.register(json!({})).await;
                vec![bearer(&token_of(&other)), names_target]
            }
            Caller::Admin => vec![bearer(&self.admin), names_target],
        }
    }

    async fn call(
        &self,
        app: &TestApp,
        route: Route,
        target: &Value,
        headers: &[(&'static str, String)],
    ) -> Answer {
        let token = device(target);
        let (method, path, body) = match route {
            Route::GetUser => (Method::GET, "/v1/Management/users".to_string(), None),
            Route::PutUser => (
                Method::PUT,
                "/v1/Management/users".to_string(),
                Some(json!({"City": "Riga"})),
            ),
            Route::DeleteUser => (
                Method::DELETE,
                format!("/v1/Management/users/{token}"),
                None,
            ),
            Route::Find => (
                Method::GET,
                format!("/v1/Management/users/find?DeviceToken={token}"),
                None,
            ),
            Route::FilteredPage => (
                Method::POST,
                "/v1/Management/users/GetFilteredPage".to_string(),
                Some(json!({"PageSize": 5})),
            ),
            Route::ChangeInstance => (
                Method::POST,
                "/v1/Management/users/instances/change".to_string(),
                Some(
                    json!({"DeviceToken": token, "ToInstanceId": self.second.id.to_string(), "ToInstanceKey": self.second.key.expose()}),
                ),
            ),
            Route::JoinByInvite => (
                Method::POST,
                format!(
                    "/v1/Management/users/instances/change/{}",
                    self.second.invite_code
                ),
                None,
            ),
        };
        app.send(method, &path, body.as_ref(), headers).await
    }
}

#[tokio::test]
async fn every_management_route_answers_every_caller_as_api_md_says() {
    let app = spawn_app().await;
    let fixture = Fixture {
        admin: app.admin_token().await,
        second: app
            .core
            .create_instance(chrono::Utc::now(), None, "Second", "")
            .await
            .unwrap(),
    };
    let mut wrong = Vec::new();
    for route in ROUTES {
        for caller in CALLERS {
            let target = app.register(json!({"City": "Paris"})).await;
            let headers = fixture.headers(&app, caller, &target).await;
            let answer = fixture.call(&app, route, &target, &headers).await;
            let want = expected(route, caller);
            if answer.status != want {
                wrong.push(format!(
                    "{route:?} as {caller:?}: {} (wanted {want}) {}",
                    answer.status, answer.body
                ));
                continue;
            }
            // The envelope says the same as the status line.
            assert_eq!(answer.envelope()["Status"], want, "{route:?} as {caller:?}");
            // A refused call changed nothing.
            let row = app.core.store().find_user(&device(&target)).await.unwrap();
            if want != 200 {
                let row =
                    row.unwrap_or_else(|| panic!("{route:?} as {caller:?} deleted the target"));
                assert_eq!(
                    row.city.as_deref(),
                    Some("Paris"),
                    "{route:?} as {caller:?}"
                );
                assert_eq!(row.instance_id, app.instance_id, "{route:?} as {caller:?}");
            }
        }
    }
    assert!(wrong.is_empty(), "cells that differ:\n{}", wrong.join("\n"));
}
