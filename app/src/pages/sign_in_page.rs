use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::{Current, INPUT, LABEL, PRIMARY};
use crate::error::AppError;
use crate::server_fns::session::SignIn;

/// The admins' sign-in. A plain form posting to `/api/sign_in`, so it works before (and
/// without) the WASM; after hydration it submits in place and shows errors inline.
#[component]
pub fn SignInPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    // Shown once the server said this admin signs in with a TOTP code too.
    let needs_code = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(Err(AppError::TotpNeeded(_))) = action.value().get() {
            needs_code.set(true);
        }
    });
    let query = use_query_map();
    let next = move || query.current_with(|q| q.get("next").unwrap_or_else(|| "/".into()));
    let message = move || {
        match action.value().current() {
        Some(Err(AppError::RateLimited(s))) => Some(format!(
            "Too many failed attempts. Wait {s} seconds, then try again."
        )),
        Some(Err(AppError::BadCredentials)) => {
            Some("The e-mail or the password is wrong. Check both and try again.".to_string())
        }
        Some(Err(AppError::Validation(_))) => {
            Some("Enter your e-mail and your password.".to_string())
        }
        // The first answer for an admin with TOTP: the code field appears, no error yet.
        Some(Err(AppError::TotpNeeded(false))) => None,
        Some(Err(AppError::TotpNeeded(true))) => Some(
            "The code is wrong or was used already. Type the six digits your app shows now, or a recovery code."
                .to_string(),
        ),
        Some(Err(e)) => Some(e.to_string()),
        _ => None,
    }
    };
    view! {
        <Title text="Sign in" />
        <div class="mx-auto mt-8 max-w-sm">
            <h1 class="text-2xl font-semibold tracking-tight">"Sign in"</h1>
            <p class="mt-1 text-sm text-slate-600">"Administrators of this Telematics User Service."</p>
            <ActionForm action attr:class="mt-6 space-y-4 rounded-lg border border-slate-200 bg-white p-6 shadow-sm">
                <input type="hidden" name="next" value=next />
                <div>
                    <label class=LABEL for="email">"E-mail"</label>
                    <input id="email" name="email" type="email" required autocomplete="username" class=INPUT />
                </div>
                <div>
                    <label class=LABEL for="password">"Password"</label>
                    <input id="password" name="password" type="password" required autocomplete="current-password" class=INPUT />
                </div>
                <Show when=move || needs_code.get()>
                    <div>
                        <label class=LABEL for="code">"Code from your authenticator app"</label>
                        <input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required autofocus class=INPUT
                            aria-describedby="code-help" />
                        <p id="code-help" class="mt-1 text-xs text-slate-500">"Six digits, or one of your recovery codes."</p>
                    </div>
                </Show>
                {move || message().map(|m| view! {
                    <p class="rounded-md border border-red-200 bg-red-50 p-3 text-sm text-red-800" role="alert" data-testid="sign-in-error">{m}</p>
                })}
                <button type="submit" class=format!("{PRIMARY} w-full justify-center") disabled=move || action.pending().current()>
                    {move || if action.pending().current() { "Signing in…" } else { "Sign in" }}
                </button>
            </ActionForm>
            <p class="mt-4 text-xs text-slate-500">
                "The first administrator's password was printed when the service first started. Create more with "
                <code class="rounded bg-slate-100 px-1">"tus admin create"</code>"."
            </p>
        </div>
    }
}
