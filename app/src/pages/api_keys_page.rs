use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;

use crate::components::*;
use crate::error::AppError;
use crate::server_fns::keys::{api_keys, create_api_key, revoke_api_key};
use tus_wire::views::{ApiKeyView, NewApiKey, Scope};

/// Credentials of back ends: create one (shown once), see when each was last used, revoke.
#[component]
pub fn ApiKeysPage() -> impl IntoView {
    let changed = RwSignal::new(0u32);
    let keys = Resource::new(move || changed.current(), |_| api_keys());
    let notice = Notice::provide();
    view! {
        <Title text="API keys" />
        <NoticeLine notice />
        <PageHeader title="API keys" subtitle="Credentials of back ends (trip ingest, scoring, partner portals), used as Authorization: Bearer tus_…; each acts only within its scopes, and every change it makes is audited under its name." />
        <CreateKeyCard changed />
        <Transition fallback=|| view! { <Loading what="the API keys" /> }>
            {move || Suspend::new(async move {
                match keys.await {
                    Ok(list) => view! { <ApiKeysTable list changed /> }.into_any(),
                    Err(e) => view! { <div class="mt-6"><ErrorNotice error=e /></div> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn CreateKeyCard(changed: RwSignal<u32>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let chosen = Scope::ALL.map(|s| (s, RwSignal::new(false)));
    let limited = RwSignal::new(false);
    let picked = RwSignal::new(Vec::<String>::new());
    let days = RwSignal::new("90".to_string());
    let error = RwSignal::new(None::<AppError>);
    let shown = RwSignal::new(None::<String>);
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        shown.set(None);
        let scopes: Vec<String> = chosen
            .iter()
            .filter(|(_, on)| on.get_untracked())
            .map(|(s, _)| s.as_str().to_string())
            .collect();
        let only = limited.get_untracked().then(|| picked.get_untracked());
        let days = days.get_untracked().trim().to_string();
        let expires = if days.is_empty() {
            None
        } else {
            Some(days.parse::<i64>().unwrap_or(0))
        };
        let name = name.get_untracked();
        spawn_local(async move {
            match create_api_key(NewApiKey {
                name,
                scopes,
                instances: only,
                expires_in_days: expires,
            })
            .await
            {
                Ok((_, secret)) => {
                    shown.set(Some(secret));
                    changed.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <section class=format!("{CARD} mt-6") aria-labelledby="create-key-title">
            <h2 id="create-key-title" class="text-base font-semibold">"Create an API key"</h2>
            <form class="mt-3 grid gap-3 sm:grid-cols-3" on:submit=create>
                <div>
                    <label class=LABEL for="key-name">"Name"</label>
                    <input id="key-name" class=INPUT required placeholder="scoring service"
                        prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                </div>
                <fieldset class="sm:col-span-2">
                    <legend class=LABEL>"Scopes"</legend>
                    {chosen.iter().map(|(scope, on)| {
                        let on = *on;
                        let id = format!("scope-{}", scope.as_str().replace(':', "-"));
                        view! {
                            <div class="mt-1 flex items-center gap-2 text-sm">
                                <input id=id.clone() type="checkbox" class="h-4 w-4 rounded border-slate-300 text-indigo-600" bind:checked=on />
                                <label for=id><code class="rounded bg-slate-100 px-1">{scope.as_str()}</code>" "{scope.label()}</label>
                            </div>
                        }
                    }).collect_view()}
                </fieldset>
                <div class="sm:col-span-3">
                    <InstancePicker limited picked what="it sees nothing of the others" />
                </div>
                <div>
                    <label class=LABEL for="key-days">"Expires after (days; empty: never)"</label>
                    <input id="key-days" class=INPUT inputmode="numeric" prop:value=move || days.get()
                        on:input=move |ev| days.set(event_target_value(&ev)) />
                </div>
                <div class="flex items-end"><button type="submit" class=PRIMARY>"Create key"</button></div>
            </form>
            {move || error.get().map(|e| view! { <div class="mt-3"><ErrorNotice error=e /></div> })}
            {move || shown.get().map(|secret| view! {
                <ShownOnce value=secret testid="new-api-key" message="Copy the key now: it is not shown again." />
            })}
        </section>
    }
}

#[component]
fn ApiKeysTable(list: Vec<ApiKeyView>, changed: RwSignal<u32>) -> impl IntoView {
    if list.is_empty() {
        return view! {
            <div class="mt-6 rounded-lg border border-dashed border-slate-300 bg-white p-10 text-center" data-testid="api-keys-empty">
                <p class="font-medium">"No API key yet"</p>
            </div>
        }
        .into_any();
    }
    let error = RwSignal::new(None::<AppError>);
    let notice = Notice::get();
    let revoke = move |id: String| {
        spawn_local(async move {
            match revoke_api_key(id).await {
                Ok(()) => {
                    notice("The API key is revoked: it stops working at once.");
                    changed.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        {move || error.get().map(|e| view! { <div class="mt-6"><ErrorNotice error=e /></div> })}
        <DataTable caption="API keys" testid="api-keys"
            headings=vec!["Name", "Key", "Scopes", "Instances", "Created", "Expires", "Last used", "State", ""]>
            {list.into_iter().map(|k| {
                let id = k.id.clone();
                let live = k.live;
                view! {
                    <tr data-testid="api-key-row">
                        <td class="px-4 py-2 font-medium">{k.name}</td>
                        <td class="px-4 py-2 font-mono text-xs">{format!("{}…", k.prefix)}</td>
                        <td class="px-4 py-2 text-xs">{k.scopes.join(", ")}</td>
                        <td class="px-4 py-2 font-mono text-xs">{k.instances.map_or_else(|| "every instance".to_string(), |i| i.join(", "))}</td>
                        <td class="whitespace-nowrap px-4 py-2 text-slate-600"><Time iso=k.created_at /></td>
                        <td class="whitespace-nowrap px-4 py-2 text-slate-600">{k.expires_at.map(|t| view! { <Time iso=t /> }.into_any()).unwrap_or_else(|| view! { <span>"never"</span> }.into_any())}</td>
                        <td class="whitespace-nowrap px-4 py-2 text-slate-600">{k.last_used_at.map(|t| view! { <Time iso=t /> }.into_any()).unwrap_or_else(|| view! { <span>"never"</span> }.into_any())}</td>
                        <td class="px-4 py-2" data-testid="api-key-state">{if k.revoked_at.is_some() { "revoked" } else if live { "live" } else { "expired" }}</td>
                        <td class="px-4 py-2">{live.then(|| view! {
                            <button type="button" class=BUTTON on:click=move |_| revoke(id.clone())>"Revoke"</button>
                        })}</td>
                    </tr>
                }
            }).collect_view()}
        </DataTable>
    }
    .into_any()
}
