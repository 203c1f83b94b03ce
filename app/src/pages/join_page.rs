use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::{Current, INPUT, LABEL, PRIMARY};
use crate::error::AppError;
use crate::pages::invite_page::InviteProblem;
use crate::server_fns::admins::{admin_link_status, AcceptAdminLink};

/// The public page an admin's invite (or password reset) e-mail links to.
pub const JOIN_PATH: &str = "/join";

/// Where an invited admin sets a password, or one sent a reset sets a new one: no session,
/// and a plain form posting to `/api/accept_admin_link`, so it works without JavaScript.
#[component]
pub fn JoinPage() -> impl IntoView {
    let query = use_query_map();
    let token = move || query.current_with(|q| q.get("t").unwrap_or_default());
    let done = move || query.current_with(|q| q.get("done").is_some());
    let link = Resource::new(token, |t| async move {
        if t.is_empty() {
            return Err(AppError::NotFound("no link".into()));
        }
        admin_link_status(t).await
    });
    let action = ServerAction::<AcceptAdminLink>::new();
    let problem = move || match action.value().current() {
        Some(Err(e)) => Some(InviteProblem::of(&e)),
        Some(Ok(())) => None,
        None => query.current_with(|q| q.get("error").and_then(|c| InviteProblem::parse(&c))),
    };
    let form = move |l: tus_wire::views::AdminLinkView| {
        let what = if l.invite {
            "You were invited to the dashboard as "
        } else {
            "A new password was asked for "
        };
        view! {
            <p class="mt-1 text-sm text-slate-600" data-testid="join-for">
                {what} <strong>{l.to}</strong> ". Choose a password; then sign in with your e-mail address."
            </p>
            <ActionForm action attr:class="mt-6 space-y-4 rounded-lg border border-slate-200 bg-white p-6 shadow-sm">
                <input type="hidden" name="token" value=token />
                <div>
                    <label class=LABEL for="password">"New password"</label>
                    <input id="password" name="password" type="password" required minlength="8" autocomplete="new-password"
                        class=INPUT aria-invalid=move || (problem() == Some(InviteProblem::Weak)).to_string() />
                </div>
                <div>
                    <label class=LABEL for="confirm">"The same again"</label>
                    <input id="confirm" name="confirm" type="password" required autocomplete="new-password"
                        class=INPUT aria-invalid=move || (problem() == Some(InviteProblem::Mismatch)).to_string() />
                </div>
                {move || problem().map(|p| view! {
                    <p class="rounded-md border border-red-200 bg-red-50 p-3 text-sm text-red-800" role="alert" data-testid="join-error">{p.message()}</p>
                })}
                <button type="submit" class=format!("{PRIMARY} w-full justify-center") disabled=move || action.pending().current()>
                    {move || if action.pending().current() { "Saving…" } else { "Set my password" }}
                </button>
            </ActionForm>
        }
    };
    view! {
        <Title text="Set your dashboard password" />
        <div class="mx-auto mt-8 max-w-sm">
            <h1 class="text-2xl font-semibold tracking-tight">"Set your dashboard password"</h1>
            <Show
                when=move || !done() && !matches!(action.value().current(), Some(Ok(())))
                fallback=|| view! {
                    <p class="mt-4 rounded-md border border-emerald-200 bg-emerald-50 p-4 text-sm text-emerald-900" role="status" data-testid="join-done">
                        "Your password is set. " <a class="font-medium underline" href="/sign-in">"Sign in"</a> " with your e-mail address and your new password."
                    </p>
                }
            >
                <Suspense fallback=|| view! { <p class="mt-4 text-sm text-slate-500">"Checking the link…"</p> }>
                    {move || Suspend::new(async move {
                        match link.await {
                            Ok(l) => form(l).into_any(),
                            Err(_) => view! {
                                <p class="mt-4 rounded-md border border-amber-200 bg-amber-50 p-4 text-sm text-amber-900" role="alert" data-testid="join-invalid">
                                    "This link no longer works: it was used, it expired, or it is mistyped. Ask an Owner for a new one."
                                </p>
                            }.into_any(),
                        }
                    })}
                </Suspense>
            </Show>
        </div>
    }
}
