use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::path;

use crate::pages::instances_page::InstancesPage;
use crate::pages::not_found_page::NotFoundPage;

/// The HTML document around the app (server side only).
pub fn shell(options: LeptosOptions) -> impl IntoView {
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
    // Effects run only in the browser: this flips once the WASM has hydrated the page,
    // which end-to-end tests wait for (a broken bundle still serves a perfect SSR page).
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));

    view! {
        <Stylesheet id="leptos" href="/pkg/tus.css" />
        <Title formatter=|page: String| format!("{page} · Telematics User Service") />
        <Router>
            <div class="flex min-h-screen flex-col" data-hydrated=move || hydrated.get().to_string()>
                <header class="border-b border-slate-200 bg-white">
                    <nav class="mx-auto flex max-w-6xl items-center gap-6 px-4 py-3" aria-label="Main">
                        <A href="/" attr:class="font-semibold tracking-tight text-slate-900">
                            "Telematics User Service"
                        </A>
                        <A href="/" attr:class="text-sm text-slate-600 hover:text-slate-900 aria-[current=page]:text-indigo-700 aria-[current=page]:font-medium">
                            "Instances"
                        </A>
                    </nav>
                </header>
                <main class="mx-auto w-full max-w-6xl flex-1 px-4 py-8">
                    <Routes fallback=NotFoundPage>
                        <Route path=path!("/") view=InstancesPage />
                    </Routes>
                </main>
            </div>
        </Router>
    }
}
