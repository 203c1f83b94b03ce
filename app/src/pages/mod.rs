pub mod account_page;
pub mod admins_page;
pub mod api_keys_page;
pub mod audit_page;
pub mod batches_page;
pub mod deliveries_page;
pub mod imports_page;
pub mod instance_settings_page;
pub mod instances_page;
pub mod invite_page;
pub mod join_page;
pub mod keys_page;
pub mod not_found_page;
pub mod overview_page;
pub mod profile_fields;
pub mod register_page;
pub mod sign_in_page;
pub mod user_page;
pub mod users_page;
pub mod webhooks_page;

#[cfg(all(test, feature = "ssr"))]
pub(crate) mod disposed {
    //! Server renders of views whose owner leptos disposed first, as its Suspense may do
    //! while the server still writes them (see `components::Current`).
    use leptos::prelude::*;
    use leptos_router::components::Router;
    use leptos_router::location::RequestUrl;

    /// The HTML of `build()`'s view, written after the owner it was built under (inside a
    /// router at `/`) was cleaned up. Panics as the server's worker would.
    pub fn render_after_disposal<V: IntoView + 'static>(
        build: impl FnOnce() -> V + Send + Sync + 'static,
    ) -> String {
        // Already initialised by an earlier test in this process: fine.
        let _ = any_spawner::Executor::init_tokio();
        let root = Owner::new();
        root.set();
        let owner = root.child();
        let view = owner.with(|| {
            provide_context(RequestUrl::new("/"));
            view! { <Router>{build()}</Router> }
        });
        owner.cleanup();
        view.to_html()
    }
}
