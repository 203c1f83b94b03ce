use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;

use crate::components::*;
use crate::error::AppError;
use crate::pages::admins_page::SessionList;
use crate::server_fns::admins::{change_password, my_sessions};
use crate::server_fns::session::current_admin;

/// The signed-in admin's own account: role and scope, password, open sessions.
#[component]
pub fn AccountPage() -> impl IntoView {
    let changed = RwSignal::new(0u32);
    let me = Resource::new(|| (), |_| current_admin());
    let sessions = Resource::new(move || changed.current(), |_| my_sessions());
    let notice = Notice::provide();
    view! {
        <Title text="Your account" />
        <NoticeLine notice />
        <PageHeader title="Your account" subtitle="Your role, your password and where you are signed in." />
        <Transition fallback=|| view! { <Loading what="your account" /> }>
            {move || Suspend::new(async move {
                me.await.ok().map(|me| view! {
                    <section class=format!("{CARD} mt-6")>
                        <p class="text-sm"><strong>{me.email.clone()}</strong></p>
                        <p class="mt-1 text-sm text-slate-600" data-testid="my-role">
                            {me.role.as_str()} {if me.scoped { " of some applications or instances" } else { " of everything" }}
                            ": " {me.role.label()}
                        </p>
                    </section>
                })
            })}
        </Transition>
        <PasswordCard />
        <section class=format!("{CARD} mt-6") aria-labelledby="sessions-title">
            <h2 id="sessions-title" class="text-base font-semibold">"Where you are signed in"</h2>
            <Transition fallback=|| view! { <Loading what="your sessions" /> }>
                {move || Suspend::new(async move {
                    let mine = me.await.ok().map(|m| m.id).unwrap_or_default();
                    match sessions.await {
                        Ok(list) => view! { <SessionList sessions=list owner=mine changed /> }.into_any(),
                        Err(e) => view! { <ErrorNotice error=e /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn PasswordCard() -> impl IntoView {
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let error = RwSignal::new(None::<AppError>);
    let notice = Notice::get();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        let (c, n) = (current.get_untracked(), new.get_untracked());
        spawn_local(async move {
            match change_password(c, n).await {
                Ok(()) => {
                    current.set(String::new());
                    new.set(String::new());
                    notice("Password changed. Your other sessions have ended.");
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <section class=format!("{CARD} mt-6") aria-labelledby="password-title">
            <h2 id="password-title" class="text-base font-semibold">"Change your password"</h2>
            <form class="mt-3 grid gap-3 sm:grid-cols-3" on:submit=submit>
                <div>
                    <label class=LABEL for="current-password">"Current password"</label>
                    <input id="current-password" type="password" class=INPUT required autocomplete="current-password"
                        prop:value=move || current.get() on:input=move |ev| current.set(event_target_value(&ev)) />
                </div>
                <div>
                    <label class=LABEL for="new-password">"New password"</label>
                    <input id="new-password" type="password" class=INPUT required minlength="8" autocomplete="new-password"
                        prop:value=move || new.get() on:input=move |ev| new.set(event_target_value(&ev)) />
                </div>
                <div class="flex items-end"><button type="submit" class=PRIMARY>"Change password"</button></div>
            </form>
            {move || error.get().map(|e| view! { <div class="mt-3"><ErrorNotice error=e /></div> })}
        </section>
    }
}
