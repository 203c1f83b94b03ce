use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;

use crate::components::*;
use crate::error::AppError;
use crate::server_fns::keys::{rotate_signing_key, signing_keys};
use tus_wire::views::SigningKeyView;

/// The keys tokens are signed with: which signs now, which is published next, which old
/// ones are still accepted; rotate behind a confirmation.
#[component]
pub fn KeysPage() -> impl IntoView {
    let changed = RwSignal::new(0u32);
    let keys = Resource::new(move || changed.current(), |_| signing_keys());
    let notice = Notice::provide();
    view! {
        <Title text="Signing keys" />
        <NoticeLine notice />
        <PageHeader title="Signing keys" subtitle="Every token names the key that signed it. Other services verify ES256 and EdDSA tokens with the public keys at /.well-known/jwks.json; HS256 tokens only with the secret, so nothing is published for them." />
        <RotateCard changed />
        <Transition fallback=|| view! { <Loading what="the keys" /> }>
            {move || Suspend::new(async move {
                match keys.await {
                    Ok(list) => view! { <KeysTable list /> }.into_any(),
                    Err(e) => view! { <div class="mt-6"><ErrorNotice error=e /></div> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// Rotate now, or after a lead time, confirmed first.
#[component]
fn RotateCard(changed: RwSignal<u32>) -> impl IntoView {
    let lead = RwSignal::new("10".to_string());
    let confirming = RwSignal::new(false);
    let error = RwSignal::new(None::<AppError>);
    let busy = RwSignal::new(false);
    let notice = Notice::get();
    let rotate = move |_| {
        let minutes = lead.get_untracked().trim().parse::<i64>().unwrap_or(-1);
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match rotate_signing_key(minutes).await {
                Ok(kid) => {
                    notice(&format!(
                        "New key {kid} is published; it signs from the time shown below."
                    ));
                    confirming.set(false);
                    changed.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    view! {
        <section class=format!("{CARD} mt-6") aria-labelledby="rotate-title" data-testid="rotate">
            <h2 id="rotate-title" class="text-base font-semibold">"Rotate"</h2>
            <p class="mt-1 text-sm text-slate-600">
                "A new key of the configured algorithm (TUS_JWT_ALGORITHM) is published at once and signs after the lead time; verifiers that cache the keys for up to 5 minutes see it first. The current key then retires: it signs nothing and stays accepted until every token it signed has expired."
            </p>
            <div class="mt-3 flex flex-wrap items-end gap-2">
                <div>
                    <label class=LABEL for="rotate-lead">"Lead time (minutes)"</label>
                    <input id="rotate-lead" class=INPUT inputmode="numeric" prop:value=move || lead.get()
                        on:input=move |ev| lead.set(event_target_value(&ev)) />
                </div>
                <button type="button" class=BUTTON on:click=move |_| confirming.set(true)>"Rotate…"</button>
            </div>
            {move || confirming.get().then(|| view! {
                <div class="mt-3 flex flex-wrap items-center gap-2 rounded-md border border-amber-300 bg-amber-50 p-2 text-sm text-amber-900" role="alertdialog" aria-label="Confirm the rotation">
                    <span data-testid="rotate-confirm">{move || format!(
                        "Make a new signing key that signs in {} minutes?", lead.get().trim()
                    )}</span>
                    <button type="button" class=PRIMARY disabled=move || busy.get() on:click=rotate>"Confirm"</button>
                    <button type="button" class=BUTTON on:click=move |_| confirming.set(false)>"Cancel"</button>
                </div>
            })}
            {move || error.get().map(|e| view! { <div class="mt-3"><ErrorNotice error=e /></div> })}
        </section>
    }
}

fn state_class(state: &str) -> &'static str {
    match state {
        "current" => "rounded-full bg-emerald-50 px-2 py-0.5 text-xs font-medium text-emerald-700 ring-1 ring-emerald-200",
        "next" => "rounded-full bg-indigo-50 px-2 py-0.5 text-xs font-medium text-indigo-700 ring-1 ring-indigo-200",
        _ => "rounded-full bg-slate-100 px-2 py-0.5 text-xs font-medium text-slate-600 ring-1 ring-slate-200",
    }
}

#[component]
fn KeysTable(list: Vec<SigningKeyView>) -> impl IntoView {
    view! {
        <DataTable caption="Signing keys" testid="keys"
            headings=vec!["Key id", "Algorithm", "State", "Created", "Signs from", "Accepted until", "Live tokens", "Published"]>
            {list.into_iter().map(|k| {
                let signs_from = k.activated_at.clone().or(k.activate_at.clone());
                view! {
                    <tr data-testid="key-row" data-state=k.state.clone()>
                        <td class="px-4 py-2 font-mono text-xs">{k.kid}</td>
                        <td class="px-4 py-2">{k.algorithm}</td>
                        <td class="px-4 py-2"><span class=state_class(&k.state)>{k.state.clone()}</span></td>
                        <td class="whitespace-nowrap px-4 py-2 text-slate-600"><Time iso=k.created_at /></td>
                        <td class="whitespace-nowrap px-4 py-2 text-slate-600">{signs_from.map(|t| view! { <Time iso=t /> })}</td>
                        <td class="whitespace-nowrap px-4 py-2 text-slate-600">{match (k.retire_after, k.accepted) {
                            (Some(t), true) => view! { <Time iso=t /> }.into_any(),
                            (Some(_), false) => view! { <span>"no longer"</span> }.into_any(),
                            (None, _) => view! { <span>"while it signs"</span> }.into_any(),
                        }}</td>
                        <td class="px-4 py-2 tabular-nums" data-testid="key-live-tokens" title="Access tokens it signed that have not expired yet">{k.live_tokens}</td>
                        <td class="px-4 py-2">{if k.published { "yes" } else { "no" }}</td>
                    </tr>
                }
            }).collect_view()}
        </DataTable>
    }
}
