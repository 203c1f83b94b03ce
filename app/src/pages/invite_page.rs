use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::{Current, INPUT, LABEL, PRIMARY};
use crate::error::AppError;
use crate::server_fns::deliveries::{invite_status, AcceptInvite};

/// The public page an e-mail invite links to.
pub const INVITE_PATH: &str = "/invite";

/// Why a password was not set, as the page says it (and as a plain form post's redirect
/// carries it: `error=<code>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteProblem {
    /// The password is too short or too long.
    Weak,
    /// The two passwords differ.
    Mismatch,
    /// The link is used, expired or mistyped.
    Invalid,
    /// Too many attempts from this address.
    Limited,
    /// Anything else (the server's log has it).
    Failed,
}

impl InviteProblem {
    const ALL: [InviteProblem; 5] = [
        InviteProblem::Weak,
        InviteProblem::Mismatch,
        InviteProblem::Invalid,
        InviteProblem::Limited,
        InviteProblem::Failed,
    ];

    pub fn of(e: &AppError) -> InviteProblem {
        match e {
            AppError::Validation(fields) if fields.iter().any(|(k, _)| k == "password") => {
                InviteProblem::Weak
            }
            AppError::Validation(_) => InviteProblem::Mismatch,
            AppError::NotFound(_) => InviteProblem::Invalid,
            AppError::RateLimited(_) => InviteProblem::Limited,
            _ => InviteProblem::Failed,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            InviteProblem::Weak => "weak",
            InviteProblem::Mismatch => "mismatch",
            InviteProblem::Invalid => "invalid",
            InviteProblem::Limited => "limited",
            InviteProblem::Failed => "failed",
        }
    }

    pub fn parse(code: &str) -> Option<InviteProblem> {
        InviteProblem::ALL.into_iter().find(|p| p.code() == code)
    }

    pub fn message(self) -> &'static str {
        match self {
            InviteProblem::Weak => "Choose a password of at least 10 characters.",
            InviteProblem::Mismatch => "The two passwords differ. Type the same password twice.",
            InviteProblem::Invalid => {
                "This link no longer works: it was used, it expired, or it is mistyped."
            }
            InviteProblem::Limited => {
                "Too many attempts from here. Wait a few minutes, then try again."
            }
            InviteProblem::Failed => "Something went wrong on the server. Try again in a moment.",
        }
    }
}

/// Where an invited driver sets a password: no admin session, and a plain form posting to
/// `/api/accept_invite`, so it works without JavaScript (errors come back in the address and
/// show the same).
#[component]
pub fn InvitePage() -> impl IntoView {
    let query = use_query_map();
    let token = move || query.current_with(|q| q.get("t").unwrap_or_default());
    let done = move || query.current_with(|q| q.get("done").is_some());
    let link = Resource::new(token, |t| async move {
        if t.is_empty() {
            return Err(AppError::NotFound("no link".into()));
        }
        invite_status(t).await
    });
    let action = ServerAction::<AcceptInvite>::new();
    // From this page's last submission: in the action's value once hydrated, in the
    // address after a plain form post.
    let problem = move || match action.value().current() {
        Some(Err(e)) => Some(InviteProblem::of(&e)),
        Some(Ok(())) => None,
        None => query.current_with(|q| q.get("error").and_then(|c| InviteProblem::parse(&c))),
    };
    let message = move || problem().map(InviteProblem::message);
    let form = move |l: tus_wire::views::InviteLinkView| {
        view! {
            <p class="mt-1 text-sm text-slate-600" data-testid="invite-for">
                "You were invited to " <strong>{l.app}</strong> " (" {l.instance} ") as " {l.to}
                ". Choose a password here; then log in to the app with your e-mail address and this password."
            </p>
            <ActionForm action attr:class="mt-6 space-y-4 rounded-lg border border-slate-200 bg-white p-6 shadow-sm">
                <input type="hidden" name="token" value=token />
                <div>
                    <label class=LABEL for="password">"New password"</label>
                    <input id="password" name="password" type="password" required minlength="10" autocomplete="new-password"
                        class=INPUT aria-invalid=move || (problem() == Some(InviteProblem::Weak)).to_string() aria-describedby="password-help" />
                    <p id="password-help" class="mt-1 text-xs text-slate-500">"At least 10 characters."</p>
                </div>
                <div>
                    <label class=LABEL for="confirm">"The same again"</label>
                    <input id="confirm" name="confirm" type="password" required autocomplete="new-password"
                        class=INPUT aria-invalid=move || (problem() == Some(InviteProblem::Mismatch)).to_string() />
                </div>
                {move || message().map(|m| view! {
                    <p class="rounded-md border border-red-200 bg-red-50 p-3 text-sm text-red-800" role="alert" data-testid="invite-error">{m}</p>
                })}
                <button type="submit" class=format!("{PRIMARY} w-full justify-center") disabled=move || action.pending().current()>
                    {move || if action.pending().current() { "Saving…" } else { "Set my password" }}
                </button>
            </ActionForm>
        }
    };
    view! {
        <Title text="Set your password" />
        <div class="mx-auto mt-8 max-w-sm">
            <h1 class="text-2xl font-semibold tracking-tight">"Set your password"</h1>
            <Show
                when=move || !done()
                fallback=|| view! {
                    <p class="mt-4 rounded-md border border-emerald-200 bg-emerald-50 p-4 text-sm text-emerald-900" role="status" data-testid="invite-done">
                        "Your password is set. Log in to the app with your e-mail address and your new password. You can close this page."
                    </p>
                }
            >
                <Suspense fallback=|| view! { <p class="mt-4 text-sm text-slate-500">"Checking the link…"</p> }>
                    {move || Suspend::new(async move {
                        match link.await {
                            Ok(l) => form(l).into_any(),
                            Err(_) => view! {
                                <p class="mt-4 rounded-md border border-amber-200 bg-amber-50 p-4 text-sm text-amber-900" role="alert" data-testid="invite-invalid">
                                    "This link no longer works: it was used, it expired, or it is mistyped. Ask your fleet manager for a new invite."
                                </p>
                            }.into_any(),
                        }
                    })}
                </Suspense>
            </Show>
        </div>
    }
}
