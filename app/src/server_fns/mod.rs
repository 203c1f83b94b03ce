//! Server functions: each checks its caller, calls the core, and maps the error. Paths are
//! explicit (`/api/<name>`), so they are the same on every machine and form an HTTP API:
//! JSON bodies (sign-in and sign-out also take forms), an admin's `Authorization: Bearer`
//! token or the session cookie, and a 4xx status with the error as JSON.
pub mod admins;
pub mod audit;
pub mod batches;
pub mod deliveries;
pub mod imports;
pub mod instances;
pub mod keys;
pub mod overview;
pub mod session;
pub mod users;
pub mod webhooks;

#[cfg(feature = "ssr")]
pub(crate) mod guard {
    use leptos::prelude::*;

    use crate::error::AppError;
    use crate::ssr::session::{request_meta, Caller, Session};
    use crate::ssr::AppState;
    use tus_core::{Core, RequestMeta};

    /// The error, with its status set on the response.
    pub fn fail(e: impl Into<AppError>) -> AppError {
        let e = e.into();
        if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
            res.set_status(e.status());
            match &e {
                AppError::Unauthorized => res.insert_header(
                    http::header::WWW_AUTHENTICATE,
                    http::HeaderValue::from_static("Bearer"),
                ),
                AppError::RateLimited(seconds) | AppError::Busy(seconds) => {
                    if let Ok(v) = http::HeaderValue::from_str(&seconds.to_string()) {
                        res.insert_header(http::header::RETRY_AFTER, v);
                    }
                }
                _ => {}
            }
        }
        e
    }

    /// What a server function needs to act for the signed-in admin.
    pub struct Admin {
        pub core: Core,
        pub caller: Caller,
        pub meta: RequestMeta,
    }

    impl Admin {
        pub fn principal(&self) -> &tus_core::principal::Principal {
            &self.caller.principal
        }

        /// The signed-in admin's id.
        pub fn caller_admin_id(&self) -> Result<String, AppError> {
            self.principal()
                .admin()
                .map(|a| a.id.clone())
                .ok_or_else(|| fail(AppError::Forbidden("not an admin".into())))
        }

        /// The user a call names (422 when the DeviceToken does not parse).
        pub fn target(&self, device_token: &str) -> Result<tus_core::types::DeviceToken, AppError> {
            self.core
                .target_user(self.principal(), Some(device_token))
                .map_err(fail)
        }
    }

    /// The answer of a public link page's form (`/invite`, `/join`): a browser's plain form
    /// post is redirected to `{path}?done=1`, or back to `{path}?t=<token>&error=<code>`;
    /// other callers get the error as JSON with its status.
    pub fn link_form_answer<T>(
        parts: &http::request::Parts,
        result: Result<T, tus_core::CoreError>,
        path: &str,
        token: &str,
    ) -> Result<(), AppError> {
        use crate::components::encode_component;
        use crate::pages::invite_page::InviteProblem;
        let plain_form = parts
            .headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"));
        match result {
            Ok(_) => {
                leptos_axum::redirect(&format!("{path}?done=1"));
                Ok(())
            }
            Err(e) if plain_form => {
                let problem = InviteProblem::of(&AppError::from(e));
                leptos_axum::redirect(&format!(
                    "{path}?t={}&error={}",
                    encode_component(token),
                    problem.code()
                ));
                Ok(())
            }
            Err(e) => Err(fail(e)),
        }
    }

    pub fn request() -> Result<(Core, http::request::Parts), AppError> {
        let state =
            use_context::<AppState>().ok_or_else(|| fail(AppError::Internal("state".into())))?;
        let parts = use_context::<http::request::Parts>()
            .ok_or_else(|| fail(AppError::Internal("request".into())))?;
        Ok((state.core, parts))
    }

    /// The caller, who must be an admin: 401 without a valid session or token, 403 for a
    /// user's token.
    pub fn admin() -> Result<Admin, AppError> {
        let (core, parts) = request()?;
        let session = parts
            .extensions
            .get::<Session>()
            .cloned()
            .unwrap_or(Session(Err(AppError::Unauthorized)));
        let caller = session.0.map_err(fail)?;
        if !caller.principal.is_admin() {
            return Err(fail(AppError::Forbidden(
                "the dashboard's functions need an admin".into(),
            )));
        }
        Ok(Admin {
            meta: request_meta(&parts.headers, &parts.extensions),
            core,
            caller,
        })
    }
}
