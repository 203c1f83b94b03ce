//! Protective response headers: a strict Content-Security-Policy on the dashboard's pages,
//! and HSTS on everything served over https.
//!
//! The pages load nothing from other origins and run no inline code but leptos' own
//! hydration and streaming scripts, which carry the per-response nonce leptos_axum makes.
//! So the policy allows scripts from this origin and that nonce only, WASM compilation,
//! styles from this origin only (no inline `style` attributes: see the batch progress bar),
//! and nothing may frame the pages, change their base or post forms elsewhere.

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use leptos::prelude::*;

use super::session::is_https;

/// The policy of a dashboard page whose inline scripts carry `nonce`.
pub fn page_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Sets the page's CSP header while the page renders (the nonce exists only then). Called
/// from the shell on the server.
pub fn provide_page_policy() {
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    if let Ok(value) = HeaderValue::from_str(&page_policy(&nonce)) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
}

/// One year, this host only: an operator's other subdomains are not ours to pin.
const HSTS: &str = "max-age=31536000";

/// Middleware for the whole router: HSTS on every answer served over https (directly or
/// behind a proxy that says so).
pub async fn transport_security(req: Request, next: Next) -> Response {
    let https = is_https(req.headers(), req.uri());
    let mut response = next.run(req).await;
    if https {
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    response
}
