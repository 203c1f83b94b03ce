use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::hooks::use_navigate;
use leptos_router::NavigateOptions;

use crate::components::*;
use crate::error::AppError;
use crate::pages::admins_page::SessionList;
use crate::server_fns::admins::{
    begin_totp, change_password, confirm_totp, my_sessions, recovery_codes_left,
};
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
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                me.await.ok().map(|me| view! { <TotpCard on=me.totp required=me.totp_required /> })
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

/// TOTP: set it up (QR code and secret, confirmed with a code; recovery codes shown once),
/// or see that it is on and how many recovery codes are left.
#[component]
fn TotpCard(on: bool, required: bool) -> impl IntoView {
    let enabled = RwSignal::new(on);
    let setup = RwSignal::new(None::<tus_wire::views::TotpSetupView>);
    let code = RwSignal::new(String::new());
    let codes = RwSignal::new(None::<Vec<String>>);
    let error = RwSignal::new(None::<AppError>);
    let left = Resource::new(
        move || enabled.get(),
        |on| async move {
            if on {
                recovery_codes_left().await.ok()
            } else {
                None
            }
        },
    );
    let start = move |_| {
        error.set(None);
        spawn_local(async move {
            match begin_totp().await {
                Ok(s) => setup.set(Some(s)),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let navigate = StoredValue::new_local(use_navigate());
    let confirm = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        let c = code.get_untracked();
        spawn_local(async move {
            match confirm_totp(c).await {
                Ok(list) => {
                    codes.set(Some(list));
                    setup.set(None);
                    enabled.set(true);
                    // The URL says so, and the header's menu, which follows the URL, stops
                    // asking for TOTP; the page stays as it is, recovery codes shown.
                    navigate.with_value(|go| {
                        go(
                            "/account?totp=on",
                            NavigateOptions {
                                replace: true,
                                scroll: false,
                                ..Default::default()
                            },
                        )
                    });
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <section class=format!("{CARD} mt-6") aria-labelledby="totp-title" data-testid="totp-card">
            <h2 id="totp-title" class="text-base font-semibold">"Two-step sign-in (TOTP)"</h2>
            // Until it is on: turning it on here ends the demand at once, without a reload.
            {move || (required && !enabled.get()).then(|| view! {
                <p class="mt-2 rounded-md border border-amber-200 bg-amber-50 p-3 text-sm text-amber-900" role="alert" data-testid="totp-required">
                    "Your role must sign in with a code: set it up here before anything else."
                </p>
            })}
            <Show when=move || enabled.get() fallback=move || view! {
                <p class="mt-1 text-sm text-slate-600">"After your password, sign-in will ask for a six-digit code from an authenticator app (any app that reads a TOTP QR code)."</p>
                <Show when=move || setup.get().is_none()>
                    <button type="button" class=format!("{PRIMARY} mt-3") on:click=start>"Set up TOTP"</button>
                </Show>
                {move || setup.get().map(|s| view! {
                    <div class="mt-3 flex flex-wrap items-start gap-6">
                        <img src=s.qr alt="QR code of your TOTP secret" width="200" height="200" data-testid="totp-qr" />
                        <div class="text-sm">
                            <p>"Scan the code with your app, or type this secret:"</p>
                            <p class="mt-1 font-mono text-base tracking-wider" data-testid="totp-secret">{s.secret}</p>
                            <form class="mt-4 flex items-end gap-2" on:submit=confirm>
                                <div>
                                    <label class=LABEL for="totp-code">"The code your app shows"</label>
                                    <input id="totp-code" class=INPUT inputmode="numeric" autocomplete="one-time-code" required
                                        prop:value=move || code.get() on:input=move |ev| code.set(event_target_value(&ev)) />
                                </div>
                                <button type="submit" class=PRIMARY>"Turn on"</button>
                            </form>
                        </div>
                    </div>
                })}
            }>
                <p class="mt-1 text-sm text-slate-600" data-testid="totp-on">
                    "On. " {move || left.get().flatten().map(|n| format!("{n} recovery codes left."))}
                    " Lost your phone? An Owner can reset it."
                </p>
            </Show>
            {move || codes.get().map(|list| view! {
                <div class="mt-3 rounded-md border border-amber-200 bg-amber-50 p-3 text-sm" role="status">
                    <p class="font-medium">"Your recovery codes: each signs in once in place of a code. Save them now: they are not shown again."</p>
                    <ul class="mt-2 grid w-fit grid-cols-2 gap-x-8 gap-y-1 font-mono" data-testid="recovery-codes">
                        {list.into_iter().map(|c| view! { <li>{c}</li> }).collect_view()}
                    </ul>
                </div>
            })}
            {move || error.get().map(|e| view! { <div class="mt-3"><ErrorNotice error=e /></div> })}
        </section>
    }
}
