use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::hooks::use_location;
use leptos_router::path;
use leptos_router::{Lazy, LazyRoute, SsrMode};

use crate::pages::account_page::AccountPage;
use crate::pages::admins_page::AdminsPage;
use crate::pages::api_keys_page::ApiKeysPage;
use crate::pages::audit_page::AuditPage;
use crate::pages::batches_page::{BatchPage, BatchesPage};
use crate::pages::deliveries_page::DeliveriesPage;
use crate::pages::imports_page::{ImportPage, ImportsPage};
use crate::pages::instance_settings_page::InstanceSettingsPage;
use crate::pages::instances_page::InstancesPage;
use crate::pages::invite_page::{InvitePage, INVITE_PATH};
use crate::pages::join_page::{JoinPage, JOIN_PATH};
use crate::pages::keys_page::KeysPage;
use crate::pages::not_found_page::NotFoundPage;
use crate::pages::overview_page::OverviewPage;
use crate::pages::register_page::RegisterPage;
use crate::pages::sign_in_page::SignInPage;
use crate::pages::user_page::UserPage;
use crate::pages::users_page::UsersPage;
use crate::pages::webhooks_page::{WebhookPage, WebhooksPage};
use crate::session_menu::SessionMenu;

/// The dashboard's pages in four groups of WASM chunks beside the shell (`cargo leptos build
/// --split`): a browser fetches the shell and the chunks of the page it opens, another group's
/// when the admin navigates there, or after hydration where a group names the one its pages
/// link to most (`then`). On a first load the route's `preload` fetches the
/// chunks before hydration; leptos also names them in preload links when the page's view has
/// run before the head is written (not always: on PostgreSQL the data often comes later).
///
/// One chunk per group, not per page: wasm-split puts the code any set of split points shares in a chunk of its own, so 21
/// split points made 500 files, and 229 fetches and instantiations for the users page took
/// longer to hydrate (2.4 s at 4x CPU) than the whole bundle had.
macro_rules! lazy_pages {
    ($group:ident, $preload:ident: $which:ident { $($route:ident => $page:ident),* $(,)? }
     $(then $next:ident)?) => {
        // One variant per page, named after its component.
        #[allow(clippy::enum_variant_names)]
        #[derive(Clone, Copy)]
        enum $which {
            $($page),*
        }

        /// The group's split point: everything only its pages use is in its chunk.
        #[lazy]
        fn $group(page: $which) -> AnyView {
            $(
                #[cfg(target_arch = "wasm32")]
                prefetch_after_hydration($next);
            )?
            match page {
                $($which::$page => view! { <$page /> }.into_any()),*
            }
        }

        $(
            struct $route;

            impl LazyRoute for $route {
                fn data() -> Self {
                    Self
                }

                async fn view(_this: Self) -> AnyView {
                    page_hydrated();
                    $group($which::$page).await
                }

                // The chunk is loaded before the route's view is built: hydration needs the
                // view at once (`#[lazy]` names the loader `__preload_` and the function).
                async fn preload() {
                    #[cfg(target_arch = "wasm32")]
                    $preload().await;
                }
            }
        )*
    };
}

/// Set by the page's own view, so `data-hydrated` flips once the page has hydrated (its
/// chunk loaded), not when only the shell around it has: tests wait for it before they click.
#[derive(Clone, Copy)]
struct PageHydrated(WriteSignal<bool>);

/// Fetches another group's chunks once the page has hydrated and the browser is idle, so
/// that the first click into that group does not wait for them, and the page's own hydration
/// never does either. A chunk asked for twice is loaded once.
#[cfg(target_arch = "wasm32")]
fn prefetch_after_hydration<F>(load: impl Fn() -> F + Copy + 'static)
where
    F: std::future::Future<Output = ()> + 'static,
{
    Effect::new(move |_| request_idle_callback(move || leptos::task::spawn_local(load())));
}

fn page_hydrated() {
    if let Some(PageHydrated(set)) = use_context() {
        // Effects run only in the browser, after the view they are created with is in place.
        Effect::new(move |_| set.set(true));
    }
}

// The users page, the first page an admin sees: a chunk of its own, so that it is interactive
// before the code of the pages it links to has come; that comes next, once it has hydrated.
lazy_pages! {
    users_pages, __preload_users_pages: UsersPages {
        UsersPageRoute => UsersPage,
    } then __preload_fleet_pages
}

// What an admin opens from there day to day: one user, registering, the overview, batches.
lazy_pages! {
    fleet_pages, __preload_fleet_pages: FleetPages {
        UserPageRoute => UserPage,
        RegisterPageRoute => RegisterPage,
        OverviewPageRoute => OverviewPage,
        BatchesPageRoute => BatchesPage,
        BatchPageRoute => BatchPage,
    } then __preload_users_pages
}

// Setting the service up and looking after it.
lazy_pages! {
    service_pages, __preload_service_pages: ServicePages {
        InstancesPageRoute => InstancesPage,
        InstanceSettingsPageRoute => InstanceSettingsPage,
        ImportsPageRoute => ImportsPage,
        ImportPageRoute => ImportPage,
        AuditPageRoute => AuditPage,
        DeliveriesPageRoute => DeliveriesPage,
        AdminsPageRoute => AdminsPage,
        AccountPageRoute => AccountPage,
        KeysPageRoute => KeysPage,
        ApiKeysPageRoute => ApiKeysPage,
        WebhooksPageRoute => WebhooksPage,
        WebhookPageRoute => WebhookPage,
    }
}

// The pages an e-mailed link opens (an admin's invitation or password reset, a driver's
// invitation): a chunk of their own, so the sign-in page's shell does not carry their
// resources, forms and wire types.
lazy_pages! {
    link_pages, __preload_link_pages: LinkPages {
        InviteRoute => InvitePage,
        JoinRoute => JoinPage,
    }
}

/// The sign-in page and the fallback are small and in the shell: a signed-out browser needs
/// nothing else. They say they have hydrated as the lazy pages do.
macro_rules! public_pages {
    ($($route:ident => $page:ident),* $(,)?) => {$(
        #[component]
        fn $route() -> impl IntoView {
            page_hydrated();
            view! { <$page /> }
        }
    )*};
}

public_pages! {
    SignInRoute => SignInPage,
    NoSuchPage => NotFoundPage,
}

/// The HTML document around the app (server side only).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::ssr::headers::provide_page_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" href="/favicon.ico" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body class="min-h-screen bg-slate-50 text-slate-900 antialiased">
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Flips once the WASM has hydrated the page (`page_hydrated`), which end-to-end tests
    // wait for (a broken bundle still serves a perfect SSR page).
    let (hydrated, set_hydrated) = signal(false);
    provide_context(PageHydrated(set_hydrated));
    // True while the router loads the next page (its chunk and data): `main` says it is busy.
    let (routing, set_routing) = signal(false);

    view! {
        <Stylesheet id="leptos" href="/pkg/tus.css" />
        <Title formatter=|page: String| format!("{page} · Telematics User Service") />
        <Router set_is_routing=set_routing>
            <div class="flex min-h-screen flex-col" data-hydrated=move || hydrated.get().to_string()>
                <a href="#main" class="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:rounded focus:bg-white focus:px-3 focus:py-2 focus:shadow">
                    "Skip to content"
                </a>
                <Header />
                <main id="main" aria-busy=move || routing.get().to_string() class="mx-auto w-full max-w-7xl flex-1 px-4 py-6 sm:py-8">
                    // Each page is rendered whole on the server, its data loaded first: out-of-order
                    // streaming let a Transition re-run (and dispose) a page's views while their
                    // HTML was still being written, which panicked now and then under load.
                    <Routes fallback=NoSuchPage>
                        <Route path=path!("/") view={Lazy::<UsersPageRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/sign-in") view=SignInRoute ssr=SsrMode::Async />
                        <Route path=path!("/users/:device_token") view={Lazy::<UserPageRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/register") view={Lazy::<RegisterPageRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/instances") view={Lazy::<InstancesPageRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/instances/:instance_id/settings") view={Lazy::<InstanceSettingsPageRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/batches") view={Lazy::<BatchesPageRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/batches/:batch_id") view={Lazy::<BatchPageRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/import") view={Lazy::<ImportsPageRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/import/:import_id") view={Lazy::<ImportPageRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/audit") view={Lazy::<AuditPageRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/overview") view={Lazy::<OverviewPageRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/deliveries") view={Lazy::<DeliveriesPageRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/invite") view={Lazy::<InviteRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/join") view={Lazy::<JoinRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/admins") view={Lazy::<AdminsPageRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/account") view={Lazy::<AccountPageRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/keys") view={Lazy::<KeysPageRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/api-keys") view={Lazy::<ApiKeysPageRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/webhooks") view={Lazy::<WebhooksPageRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/webhooks/:webhook_id") view={Lazy::<WebhookPageRoute>::new()} ssr=SsrMode::Async />
                    </Routes>
                </main>
            </div>
        </Router>
    }
}

/// Navigation, and who is signed in (nothing of it on the sign-in page): only the pages the
/// signed-in admin's role and scope allow (the server refuses the others anyway).
#[component]
fn Header() -> impl IntoView {
    let location = use_location();
    // The sign-in page and the public link pages show no admin navigation.
    let signed_in_page = move || {
        let path = location.pathname.get();
        path != "/sign-in" && path != INVITE_PATH && path != JOIN_PATH
    };
    view! {
        <header class="border-b border-slate-200 bg-white">
            <nav class="mx-auto flex max-w-7xl flex-wrap items-center gap-x-1 gap-y-2 px-4 py-3" aria-label="Main">
                <A href="/" attr:class="mr-2 font-semibold tracking-tight text-slate-900">
                    "Telematics User Service"
                </A>
                <Show when=signed_in_page>
                    <SessionMenu />
                </Show>
            </nav>
        </header>
    }
}
