//! The header's menu for the signed-in admin: the pages their role and scope allow, who they
//! are, and signing out.
//!
//! The server renders the links as HTML and the browser keeps them: a page loaded whole
//! hydrates the menu as it came, with nothing fetched or decoded (issue 19: deciding the
//! links in the browser put a resource, a `Transition` and the admin's decoding into the shell
//! every page loads, 34 KB of the sign-in page's WASM). Only a menu built in the browser (after
//! signing in, the router moves on without loading a page) fetches its HTML, from
//! `/api/session_menu`. The browser marks the current page's link as the router moves.

use leptos::prelude::*;
use leptos_router::hooks::use_location;

use crate::error::AppError;
#[cfg(feature = "ssr")]
use tus_wire::views::{Action, SessionView};

#[cfg(feature = "ssr")]
const NAV_LINK: &str = "rounded-md px-2 py-1 text-sm text-slate-600 hover:bg-slate-100 hover:text-slate-900 aria-[current=page]:bg-indigo-50 aria-[current=page]:font-medium aria-[current=page]:text-indigo-700";

/// The dashboard's pages, and what the signed-in admin must be allowed to open each.
#[cfg(feature = "ssr")]
const NAV: [(&str, &str, Action); 12] = [
    ("/overview", "Overview", Action::ReadUsers),
    ("/", "Users", Action::ReadUsers),
    ("/register", "Register a user", Action::WriteUsers),
    ("/batches", "Batches", Action::ReadUsers),
    ("/import", "Import", Action::WriteUsers),
    ("/instances", "Instances", Action::ReadInstances),
    ("/deliveries", "Deliveries", Action::Deliveries),
    ("/keys", "Signing keys", Action::ManageSigningKeys),
    ("/api-keys", "API keys", Action::ManageApiKeys),
    ("/webhooks", "Webhooks", Action::ManageWebhooks),
    ("/audit", "Audit log", Action::ReadAudit),
    ("/admins", "Admins", Action::ManageAdmins),
];

/// The attribute of the link asking the admin to set up TOTP before anything else.
const ENROL: &str = "data-enrol";

/// Whether the menu's link to `href` is the page at `path`: the page itself or one below it
/// (a batch is under Batches, a user under Users).
pub fn is_current(href: &str, path: &str) -> bool {
    match href {
        "/" => path == "/" || path.starts_with("/users/"),
        _ => path
            .strip_prefix(href)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
    }
}

/// The menu's links for `admin` at `path`, as HTML (text and attributes escaped).
#[cfg(feature = "ssr")]
pub fn menu_html(admin: &SessionView, path: &str) -> String {
    let current = |href: &str| is_current(href, path).then_some("page");
    let links = NAV
        .into_iter()
        .filter(|(_, _, action)| admin.may(*action))
        .map(|(href, label, _)| {
            view! { <a href=href class=NAV_LINK aria-current=current(href)>{label}</a> }
        })
        .collect_view();
    let enrol = admin.totp_required.then(|| {
        view! {
            <a href="/account" class="rounded-md bg-amber-100 px-2 py-1 text-sm font-medium text-amber-900" data-enrol="" data-testid="enrol-totp">
                "Set up TOTP to continue"
            </a>
        }
    });
    view! {
        {links}
        {enrol}
        <span class="flex-1"></span>
        <a href="/account" class=NAV_LINK aria-current=current("/account")>
            <span data-testid="signed-in-as">{admin.email.clone()}</span>
            <span class="ml-1 rounded bg-slate-100 px-1 text-xs text-slate-600" data-testid="signed-in-role">{admin.role.as_str()}</span>
        </a>
    }
    .to_html()
}

/// The signed-in admin's menu, as HTML for the page at `path`: for a menu the browser builds.
///
/// `POST /api/session_menu`: `{path}`: the caller's menu.
///
/// ```sh
/// api session_menu '{"path":"/"}'
/// ```
#[server(prefix = "/api", endpoint = "session_menu", input = leptos::server_fn::codec::Json)]
pub async fn session_menu(path: String) -> Result<String, AppError> {
    use crate::server_fns::guard::{admin, fail};
    let a = admin()?;
    let view = a.core.session_view(a.principal()).map_err(fail)?;
    Ok(menu_html(&view, &path))
}

/// The menu of the admin this page is rendered for, on the server: none without one (the
/// pages that show the menu send a caller without a session to the sign-in page first).
#[cfg(feature = "ssr")]
fn rendered_menu(path: &str) -> String {
    use crate::ssr::session::Session;
    let Ok((core, parts)) = crate::server_fns::guard::request() else {
        return String::new();
    };
    parts
        .extensions
        .get::<Session>()
        .and_then(|s| s.admin().cloned())
        .and_then(|caller| core.session_view(&caller.principal).ok())
        .map(|admin| menu_html(&admin, path))
        .unwrap_or_default()
}

/// Fetches the menu's HTML for the page at `path` into `html`.
fn fetch_menu(html: RwSignal<String>, path: String) {
    leptos::task::spawn_local(async move {
        if let Ok(menu) = session_menu(path).await {
            html.set(menu);
        }
    });
}

#[component]
pub fn SessionMenu() -> impl IntoView {
    let location = use_location();
    // The links' HTML. On the server, rendered here; in the browser it stays empty while the
    // menu hydrates (the element keeps the server's HTML), and is fetched for a menu built
    // in the browser.
    let html = RwSignal::new(String::new());
    #[cfg(feature = "ssr")]
    html.set(rendered_menu(&location.pathname.get_untracked()));
    #[cfg(not(feature = "ssr"))]
    if !Owner::current_shared_context().is_some_and(|c| c.during_hydration()) {
        fetch_menu(html, location.pathname.get_untracked());
    }
    let links = NodeRef::<leptos::html::Div>::new();
    // The current page's link, as the router moves (the HTML has it for the page it was for).
    // A menu asking the admin to set up TOTP first is fetched again whenever the URL moves
    // (another page, or the account page's `?totp=on` once TOTP is on): once they have set
    // it up, it offers their pages.
    Effect::new(move |shown: Option<String>| {
        let path = location.pathname.get();
        let url = format!("{path}{}", location.search.get());
        html.track();
        let Some(links) = links.get() else {
            return url;
        };
        let anchors = links.get_elements_by_tag_name("a");
        let mut enrol = false;
        for a in (0..anchors.length()).filter_map(|i| anchors.item(i)) {
            enrol |= a.has_attribute(ENROL);
            let here = a
                .get_attribute("href")
                .is_some_and(|h| is_current(&h, &path));
            let _ = if here {
                a.set_attribute("aria-current", "page")
            } else {
                a.remove_attribute("aria-current")
            };
        }
        if enrol && shown.is_some_and(|u| u != url) {
            fetch_menu(html, path);
        }
        url
    });
    let sign_out = ServerAction::<crate::server_fns::session::SignOut>::new();
    view! {
        <div class="contents" node_ref=links inner_html=move || html.get()></div>
        <ActionForm action=sign_out>
            <button type="submit" class="rounded-md px-2 py-1 text-sm text-slate-600 hover:bg-slate-100 hover:text-slate-900 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500">
                "Sign out"
            </button>
        </ActionForm>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_current_on_its_page_and_the_pages_below_it() {
        assert!(is_current("/", "/"));
        assert!(is_current("/", "/users/abc"));
        assert!(!is_current("/", "/batches"));
        assert!(is_current("/batches", "/batches"));
        assert!(is_current("/batches", "/batches/42"));
        assert!(!is_current("/batches", "/batchesx"));
        assert!(!is_current("/keys", "/api-keys"));
        assert!(is_current("/api-keys", "/api-keys"));
    }

    #[cfg(feature = "ssr")]
    fn admin(email: &str, role: tus_wire::views::Role, totp_required: bool) -> SessionView {
        SessionView {
            id: "a1".into(),
            email: email.into(),
            role,
            scoped: false,
            totp: false,
            totp_required,
        }
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn the_menu_holds_what_the_role_may_open_with_the_page_marked_and_text_escaped() {
        use tus_wire::views::Role;
        let owner = menu_html(&admin("owner@x", Role::Owner, false), "/batches/7");
        assert!(owner.contains(r#"href="/admins""#), "{owner}");
        assert_eq!(
            owner.matches(r#"aria-current="page""#).count(),
            1,
            "{owner}"
        );
        assert!(
            owner.contains(r#"<a href="/batches" aria-current="page" class="#),
            "{owner}"
        );
        let viewer = menu_html(&admin("viewer@x", Role::Viewer, false), "/");
        assert!(!viewer.contains(r#"href="/admins""#), "{viewer}");
        assert!(!viewer.contains(r#"href="/register""#), "{viewer}");
        assert!(viewer.contains(">Viewer<"), "{viewer}");
        // An admin who must enrol first sees only that, and who they are.
        let enrolling = menu_html(&admin("new@x", Role::Owner, true), "/account");
        assert!(!enrolling.contains(r#"href="/""#), "{enrolling}");
        assert!(enrolling.contains("enrol-totp"), "{enrolling}");
        // What an admin's e-mail holds is text, never markup.
        let hostile = menu_html(
            &admin(r#"<img src=x onerror=alert(1)>"@x"#, Role::Owner, false),
            "/\"><script>",
        );
        assert!(!hostile.contains("<img"), "{hostile}");
        assert!(!hostile.contains("<script"), "{hostile}");
        assert!(
            hostile.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{hostile}"
        );
    }
}
